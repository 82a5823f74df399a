# Tensor ops that create arrays (keras3 names and arguments; see R/op-tensor.R).

# ---- creation -----------------------------------------------------------------

#' Create tensors
#'
#' `op_ones()`, `op_zeros()` and `op_full()` create arrays of a given shape;
#' `op_ones_like()`, `op_zeros_like()` and `op_full_like()` take the shape of
#' another array; `op_eye()` creates an identity matrix; `op_arange()` creates
#' evenly spaced values in the interval `[start, end]` (keras3 includes `end`
#' by default, like R's `seq()`; with a single argument it starts at 1).
#'
#' Arrays are doubles unless `dtype` names an integer (`"int32"`, ...) or
#' boolean type. normlayers computes in double precision, so `"float32"` and
#' `"float64"` both give doubles.
#'
#' @param shape The shape: a [shape()] or a vector of whole numbers.
#' @param dtype `NULL` or a data type string: `"float32"`, `"float64"`,
#'   `"int32"`, `"bool"`, ...
#' @param fill_value The value to fill with.
#' @param x An array whose shape is used.
#' @param N,M Number of rows and columns (`M = NULL` means `N`).
#' @param k Index of the diagonal: 0 is the main one, positive values above
#'   it, negative below.
#' @param start,end,step The interval `[start, end]` and the spacing. With
#'   only `start`, the values are `1, 2, ..., start`.
#' @param include_end If `FALSE`, `end` is left out.
#' @returns An R array (a number for a 0-d shape).
#' @export
#' @family ops
#' @examples
#' op_ones(c(2, 3))
#' op_zeros(shape(2, 2), dtype = "int32")
#' op_full(3, 7)
#' op_eye(3)
#' op_arange(3)
#' op_arange(3L, 7L, 2L)
#' op_arange(0, 1, 0.25, include_end = FALSE)
op_ones <- function(shape, dtype = NULL) {
  d <- nl_known_dims(shape, "shape")
  nl_op_cast_mode(nl_op_result(rep(1, prod(d)), d), nl_dtype_mode(dtype))
}

#' @rdname op_ones
#' @export
op_zeros <- function(shape, dtype = NULL) {
  d <- nl_known_dims(shape, "shape")
  nl_op_cast_mode(nl_op_result(rep(0, prod(d)), d), nl_dtype_mode(dtype))
}

#' @rdname op_ones
#' @export
op_full <- function(shape, fill_value, dtype = NULL) {
  d <- nl_known_dims(shape, "shape")
  mode <- nl_dtype_mode(dtype)
  v <- nl_op_array(fill_value, "fill_value", keep_type = TRUE)
  dv <- nl_op_dims(v)
  fits <- length(dv) <= length(d) &&
    all(dv == 1L | dv == d[length(d) - length(dv) + seq_along(dv)])
  if (!fits) {
    nl_abort(c("{.arg fill_value} must broadcast to {.arg shape}.",
               x = "{.arg fill_value} has shape {nl_format_shape(nl_op_dims(v))}, {.arg shape} is {nl_format_shape(d)}."),
             "shape")
  }
  nl_op_cast_mode(nl_broadcast_to(v, d), mode)
}

#' @rdname op_ones
#' @export
op_ones_like <- function(x, dtype = NULL) {
  # errors of the inner op report this call
  nl_with_call(rlang::current_call(), {
    a <- nl_op_array(x, "x")
    op_ones(nl_op_dims(a), dtype = dtype)
  })
}

#' @rdname op_ones
#' @export
op_zeros_like <- function(x, dtype = NULL) {
  # errors of the inner op report this call
  nl_with_call(rlang::current_call(), {
    a <- nl_op_array(x, "x")
    op_zeros(nl_op_dims(a), dtype = dtype)
  })
}

#' @rdname op_ones
#' @export
op_full_like <- function(x, fill_value, dtype = NULL) {
  # errors of the inner op report this call
  nl_with_call(rlang::current_call(), {
    a <- nl_op_array(x, "x")
    op_full(nl_op_dims(a), fill_value, dtype = dtype)
  })
}

#' @rdname op_ones
#' @export
op_eye <- function(N, M = NULL, k = 0L, dtype = NULL) {
  N <- as.integer(nl_check_count(N, "N"))
  M <- if (is.null(M)) N else as.integer(nl_check_count(M, "M"))
  k <- nl_check_count(k, "k", min = -Inf)
  out <- matrix(0, N, M)
  i <- seq_len(N)
  j <- i + k
  ok <- j >= 1 & j <= M
  out[cbind(i[ok], j[ok])] <- 1
  nl_op_cast_mode(out, nl_dtype_mode(dtype))
}

#' @rdname op_ones
#' @export
op_arange <- function(start, end, step = 1L, dtype = NULL, include_end = TRUE) {
  if (missing(end)) {
    end <- start
    start <- if (is.integer(end)) 1L else 1
  }
  mode <- nl_dtype_mode(dtype)
  nl_check_number(start, "start")
  nl_check_number(end, "end")
  nl_check_number(step, "step")
  if (step == 0) nl_abort(c("{.arg step} cannot be 0.", i = "Use a positive or negative spacing."), "value")
  include_end <- nl_check_flag(include_end, "include_end")
  # number of values in [start, end] (or [start, end)), guarding round-off
  span <- (end - start) / step
  n <- if (span < 0) 0 else floor(span + 1e-10) + 1
  if (!include_end && n > 0 && abs(start + (n - 1) * step - end) <= 1e-10 * max(1, abs(end))) n <- n - 1
  v <- start + (seq_len(n) - 1) * step
  if (is.null(mode)) {
    if (is.integer(start) && is.integer(end) && is.integer(step)) storage.mode(v) <- "integer"
  } else {
    v <- nl_op_cast_mode(v, mode)
  }
  nl_op_result(v, length(v))
}

#' Convert to a tensor, or change its type
#'
#' In normlayers a tensor is an R array, so `op_convert_to_tensor()` returns
#' its input as an array (a vector becomes a 1-d array, a data frame a
#' matrix) and `op_cast()` changes its storage type. Casting a double to an
#' integer type truncates toward zero, as Keras does.
#'
#' @param x A numeric or logical vector, array or data frame.
#' @param dtype `NULL` (keep the type; logicals become doubles in
#'   `op_convert_to_tensor()`) or a data type string such as `"float32"` or
#'   `"int32"`.
#' @param sparse,ragged Accepted for compatibility with keras3: only `NULL` or
#'   `FALSE` (normlayers has no sparse or ragged tensors).
#' @returns An R array or number.
#' @export
#' @family ops
#' @examples
#' op_convert_to_tensor(c(1, 2, 3))
#' op_convert_to_tensor(c(1.7, 2.2), dtype = "int32")
#' op_cast(c(-1.5, 2.5), "int32")
op_convert_to_tensor <- function(x, dtype = NULL, sparse = NULL, ragged = NULL) {
  for (a in list(list(sparse, "sparse"), list(ragged, "ragged"))) {
    if (!is.null(a[[1]]) && !identical(a[[1]], FALSE)) {
      nl_abort(c("{.arg {a[[2]]}} tensors are not supported by normlayers.",
                 x = "You supplied {.arg {a[[2]]}} = {nl_describe(a[[1]])}.",
                 i = "Use {.code {a[[2]]} = NULL} (dense R arrays)."), "unsupported")
    }
  }
  mode <- nl_dtype_mode(dtype)
  a <- nl_op_array(x, "x", keep_type = TRUE)
  if (is.logical(x) && is.null(mode)) mode <- "double"
  nl_op_cast_mode(a, mode)
}

#' @rdname op_convert_to_tensor
#' @export
op_cast <- function(x, dtype) {
  if (missing(dtype)) nl_abort(c("{.arg dtype} is missing.", i = "Give a type such as {.val float32}."), "missing")
  mode <- nl_dtype_mode(dtype)
  nl_op_cast_mode(nl_op_array(x, "x", keep_type = TRUE), mode)
}

#' @rdname op_convert_to_tensor
#' @export
op_convert_to_array <- function(x) {
  nl_op_array(x, "x", keep_type = TRUE)
}
