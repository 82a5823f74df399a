#' Destructuring assignment
#'
#' Re-exported from \pkg{zeallot}, as keras3 does, so that keras3 code such as
#' `c(batch_size, features) %<-% shape(x)` or
#' `c(c(x_train, y_train), c(x_test, y_test)) %<-% data` runs unchanged. See
#' \code{zeallot::\link[zeallot:operator]{\%<-\%}}.
#'
#' @name %<-%
#' @rdname destructure-assign
#' @importFrom zeallot %<-%
#' @export
#' @usage x \%<-\% value
#' @param x A name, or a call to `c()` of names to assign to.
#' @param value The value to unpack.
#' @returns `%<-%` assigns in the calling environment and returns `NULL`
#'   invisibly.
#' @examples
#' c(a, b) %<-% list(1, 2)
#' a + b
#' c(n, p) %<-% shape(op_ones(c(4, 3)))
#' p
NULL
