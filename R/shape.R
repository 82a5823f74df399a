# Shapes as keras3 writes them: shape(NA, 4). A `keras_shape` is a list with
# one element per axis, each a whole number or NULL (unknown size).

#' Tensor shapes
#'
#' `shape()` creates (or reads) a tensor shape the way keras3 does. Unknown
#' sizes, such as the batch dimension of a model's input, can be given as
#' `NA`, `NULL` or `-1`; they print as `NA`. Any function of normlayers that
#' takes a shape (`keras_input(shape = )`, `keras_model_sequential(input_shape = )`,
#' `layer$build()`, `op_reshape()`, `op_ones()`, ...) accepts a `shape()`.
#'
#' `shape()` also reads shapes: a symbolic tensor (from [keras_input()] or a
#' layer) or an R array (a normlayers tensor) gives its shape, so
#' `shape(x)` works like keras3's on tensors. Shapes and numbers can be
#' combined: `shape(symbolic_tensor, 4)`. A plain vector gives its elements as
#' the sizes (`shape(c(2, 3))` is `shape(2, 3)`); wrap an R vector in [I()] or
#' use [op_shape()] to get its length instead.
#'
#' A shape is a list, so `length()`, `[`, `[[` and destructuring with
#' `%<-%` work on it: `c(batch, features) %<-% shape(x)`.
#'
#' @param ... Sizes: whole numbers, `NA`/`NULL`/`-1` for an unknown size,
#'   other shapes, R arrays or symbolic tensors (their shapes are spliced in).
#' @param x A `keras_shape` object.
#' @param prefix For `format()`: `TRUE` (the default) writes `shape(...)`,
#'   `FALSE` only the parenthesized sizes; a string is used as the prefix.
#' @returns `shape()`: a list of class `keras_shape` whose elements are
#'   integers or `NULL`. `format()`: a string. `as.integer()`: an integer
#'   vector with `NA` for unknown sizes.
#' @export
#' @family ops
#' @examples
#' shape(1, 2, 3)
#' shape(NA, 4)      # unknown batch size
#' shape(NULL, 4)    # the same
#' shape(-1, 4)      # the same
#' length(shape(NA, 4))
#' as.integer(shape(NA, 4))
#'
#' # the shape of a tensor
#' inputs <- keras_input(shape = shape(4))
#' shape(inputs)
#' shape(op_ones(c(2, 3)))
#'
#' # destructuring
#' c(batch_size, features) %<-% shape(op_ones(c(2, 3)))
#' features
shape <- function(...) {
  dims <- list(...)
  out <- list()
  for (i in seq_along(dims)) {
    out <- c(out, nl_shape_elements(dims[[i]], i))
  }
  structure(out, class = "keras_shape")
}

nl_shape_elements <- function(d, i, call = rlang::caller_env()) {
  if (is.null(d)) return(list(NULL))
  if (inherits(d, "keras_shape")) return(unclass(d))
  if (inherits(d, "nl_symbolic_tensor")) {
    return(lapply(d$shape, function(s) if (is.na(s)) NULL else s))
  }
  if (inherits(d, "AsIs")) {
    d <- unclass(d)
    return(as.list(as.integer(if (is.null(dim(d))) length(d) else dim(d))))
  }
  if (is.data.frame(d) || (!is.null(dim(d)) && (is.numeric(d) || is.logical(d)))) {
    return(as.list(as.integer(dim(d))))
  }
  if (is.list(d)) {
    return(unlist(lapply(d, function(e) nl_shape_elements(e, i, call)), recursive = FALSE))
  }
  if (is.logical(d) && all(is.na(d))) return(rep(list(NULL), length(d)))
  ok <- is.numeric(d) && all(is.na(d) | (d == trunc(d) & (d >= 0 | d == -1)))
  if (!ok) {
    nl_abort(c("Each size given to {.fn shape} must be a whole number, {.code NA}, {.code NULL} or {.code -1}.",
               x = "Argument {i} is {nl_describe(d)}.",
               i = "Use e.g. {.code shape(NA, 4)} for a batch of 4 features."),
             "shape", call = call)
  }
  lapply(as.integer(d), function(s) if (is.na(s) || s == -1L) NULL else s)
}

#' @rdname shape
#' @export
format.keras_shape <- function(x, ..., prefix = TRUE) {
  s <- vapply(unclass(x), function(d) if (is.null(d)) "NA" else format(d), "")
  if (isTRUE(prefix)) prefix <- "shape"
  if (!is.character(prefix) || length(prefix) != 1) prefix <- ""
  paste0(prefix, "(", paste(s, collapse = ", "), ")")
}

#' @rdname shape
#' @export
print.keras_shape <- function(x, ...) {
  writeLines(format(x, ...))
  invisible(x)
}

#' @rdname shape
#' @export
`[.keras_shape` <- function(x, ...) {
  structure(unclass(x)[...], class = "keras_shape")
}

#' @rdname shape
#' @export
as.integer.keras_shape <- function(x, ...) {
  vapply(unclass(x), function(d) if (is.null(d)) NA_integer_ else as.integer(d), 1L)
}

#' @export
as.double.keras_shape <- function(x, ...) as.double(as.integer.keras_shape(x))

#' @rdname shape
#' @export
as.list.keras_shape <- function(x, ...) unclass(x)

#' @exportS3Method zeallot::destructure
destructure.keras_shape <- function(x) unclass(x)

#' @export
`==.keras_shape` <- function(e1, e2) {
  identical(as.integer(shape(e1)), as.integer(shape(e2)))
}

#' @export
`!=.keras_shape` <- function(e1, e2) !(`==.keras_shape`(e1, e2))

# A shape argument (numeric vector, list with NULLs, or keras_shape) as an
# integer vector with NA for unknown sizes.
nl_as_dims <- function(x, arg, call = rlang::caller_env()) {
  if (inherits(x, "keras_shape")) return(as.integer.keras_shape(x))
  if (is.list(x) && !is.data.frame(x)) {
    return(vapply(x, function(s) {
      if (is.null(s) || (length(s) == 1 && is.na(s))) NA_integer_
      else if (is.numeric(s) && length(s) == 1) as.integer(s)
      else nl_abort(c("{.arg {arg}} must be a shape.", x = "An element is {nl_describe(s)}."),
                    "shape", call = call)
    }, 1L))
  }
  if (is.logical(x) && all(is.na(x))) return(rep(NA_integer_, length(x)))
  if (!is.numeric(x)) {
    nl_abort(c("{.arg {arg}} must be a shape: {.code shape(...)} or a vector of whole numbers.",
               x = "You supplied {nl_describe(x)}."), "shape", call = call)
  }
  x[!is.na(x) & x == -1] <- NA
  if (any(!is.na(x) & (x != trunc(x) | x < 0))) {
    nl_abort(c("{.arg {arg}} must be a shape of whole numbers.",
               x = "You supplied {.val {x}}."), "shape", call = call)
  }
  as.integer(x)
}

# A fully known shape (for creating arrays): no unknown sizes.
nl_known_dims <- function(x, arg, call = rlang::caller_env()) {
  d <- nl_as_dims(x, arg, call = call)
  if (anyNA(d)) {
    nl_abort(c("{.arg {arg}} must have known sizes.",
               x = "You supplied {format(shape(d))}.",
               i = "Give every size, e.g. {.code shape(2, 3)}."), "shape", call = call)
  }
  d
}

#' Shape of a tensor
#'
#' The shape of an R array (its `dim()`, or its length for a vector), a data
#' frame (rows, columns) or a symbolic tensor, as a [shape()] object.
#'
#' @param x An R array, vector, data frame or symbolic tensor.
#' @returns A `keras_shape`.
#' @export
#' @family ops
#' @examples
#' op_shape(op_zeros(c(2, 3)))
#' op_shape(1:5)
#' op_shape(keras_input(shape = 4))
op_shape <- function(x) {
  if (inherits(x, "nl_symbolic_tensor")) return(shape(x))
  if (is.data.frame(x)) return(shape(dim(x)))
  if (!(is.numeric(x) || is.logical(x))) {
    nl_abort(c("{.arg x} must be an array, a vector, a data frame or a symbolic tensor.",
               x = "You supplied {nl_describe(x)}."), "type")
  }
  d <- dim(x)
  if (is.null(d)) d <- if (length(x) == 1) integer() else length(x)
  structure(as.list(as.integer(d)), class = "keras_shape")
}
