#' Reshape an array in row-major order
#'
#' `array_reshape()` gives an array new dimensions the way NumPy and Keras do:
#' the values are read and written in row-major ("C") order, the last axis
#' varying fastest. This differs from R's `dim<-`, which fills column-major
#' ("F") order. keras3 (through reticulate) recommends it to flatten images,
#' `array_reshape(x, c(nrow(x), 784))`, so that each row stays one sample
#' laid out as Keras expects.
#'
#' @param x An atomic vector, matrix or array (or a data frame, taken as a
#'   matrix).
#' @param dim The new dimensions: a vector of whole numbers or a [shape()];
#'   one of them may be `-1` (or `NA`) to be inferred.
#' @param order `"C"` (row-major, the default) or `"F"` (column-major, the
#'   same as `dim<-`).
#' @returns An array with dimensions `dim` and the values (and type) of `x`.
#' @export
#' @family ops
#' @examples
#' x <- matrix(1:6, nrow = 2, byrow = TRUE)
#' x
#' array_reshape(x, c(3, 2))            # 1 2 / 3 4 / 5 6, as NumPy
#' array_reshape(x, c(3, 2), order = "F")  # same as dim(x) <- c(3, 2)
#' array_reshape(x, c(-1))              # 1 2 3 4 5 6
#'
#' # flatten a stack of 2 x 2 "images", one row per sample
#' imgs <- array(1:12, c(3, 2, 2))
#' array_reshape(imgs, c(nrow(imgs), 4))
array_reshape <- function(x, dim, order = c("C", "F")) {
  if (is.data.frame(x)) x <- as.matrix(x)
  if (!is.atomic(x) || is.null(x)) {
    nl_abort(c("{.arg x} must be an atomic vector, matrix or array.",
               x = "You supplied {nl_describe(x)}."), "type")
  }
  if (is.character(order) && length(order) > 1) order <- order[1]
  order <- nl_check_choice(order, c("C", "F"))
  from <- if (is.null(base::dim(x))) length(x) else base::dim(x)
  d <- nl_resolve_newshape(nl_as_dims(dim, "dim"), length(x), from, arg = "dim")
  attributes(x) <- NULL
  if (order == "F") {
    base::dim(x) <- d
    return(x)
  }
  base::dim(x) <- from
  out <- nl_reshape_rowmajor(x, d)
  if (is.null(base::dim(out))) base::dim(out) <- d
  out
}
