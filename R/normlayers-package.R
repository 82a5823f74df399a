#' normlayers: Keras normalization layers for R, natively
#'
#' Layer normalization, batch normalization and the preprocessing
#' normalization layer with the names, arguments and numbers of 'keras3',
#' computed by C++ kernels on R's own column-major arrays.
#'
#' @keywords internal
#' @useDynLib normlayers, .registration = TRUE
#' @importFrom Rcpp sourceCpp
#' @importFrom magrittr %>%
#' @importFrom rlang %||%
#' @importFrom utils .DollarNames
"_PACKAGE"

#' Pipe operator
#'
#' See \code{magrittr::\link[magrittr:pipe]{\%>\%}} for details.
#'
#' @name %>%
#' @rdname pipe
#' @keywords internal
#' @export
#' @usage lhs \%>\% rhs
#' @param lhs A value or the magrittr placeholder.
#' @param rhs A function call using the magrittr semantics.
#' @return The result of calling `rhs(lhs)`.
NULL

# `.self` is bound in each layer's closure environment (see nl_new_layer()).
utils::globalVariables(".self")
