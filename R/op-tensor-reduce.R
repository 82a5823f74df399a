# Reductions over 1-based axes (keras3 names and arguments; see R/op-tensor.R).

# ---- reductions -----------------------------------------------------------------

#' Reductions over axes
#'
#' Sum, mean, variance, standard deviation, maximum, minimum and product over
#' `axis` (all axes when `NULL`). Axes are 1-based, negative values count from
#' the end (`-1` is the last axis), as everywhere in keras3. The variance and
#' standard deviation are the population ones (divided by N), as in Keras.
#'
#' @param x A numeric array, vector or data frame.
#' @param axis `NULL` (reduce everything) or the axis or axes to reduce.
#' @param keepdims If `TRUE`, the reduced axes are kept with size 1.
#' @param initial For `op_max()`/`op_min()`: `NULL` or a number the result is
#'   compared with.
#' @returns An R array, or a number when every axis is reduced (and
#'   `keepdims = FALSE`).
#' @export
#' @family ops
#' @examples
#' x <- rbind(c(1, 2, 3), c(4, 6, 8))
#' op_sum(x)
#' op_mean(x, axis = 1)   # per column
#' op_mean(x, axis = -1)  # per row
#' op_var(x, axis = 2, keepdims = TRUE)
#' op_std(c(2, 4, 4, 4, 5, 5, 7, 9))
#' op_max(x, axis = 1)
op_sum <- function(x, axis = NULL, keepdims = FALSE) nl_op_reduce(x, axis, keepdims, "sum")

#' @rdname op_sum
#' @export
op_mean <- function(x, axis = NULL, keepdims = FALSE) nl_op_reduce(x, axis, keepdims, "mean")

#' @rdname op_sum
#' @export
op_var <- function(x, axis = NULL, keepdims = FALSE) nl_op_reduce(x, axis, keepdims, "var")

#' @rdname op_sum
#' @export
op_std <- function(x, axis = NULL, keepdims = FALSE) nl_op_reduce(x, axis, keepdims, "std")

#' @rdname op_sum
#' @export
op_prod <- function(x, axis = NULL, keepdims = FALSE, dtype = NULL) {
  nl_op_cast_mode(nl_op_reduce(x, axis, keepdims, "prod"), nl_dtype_mode(dtype))
}

#' @rdname op_sum
#' @param dtype For `op_prod()`: `NULL` or the data type of the result.
#' @export
op_max <- function(x, axis = NULL, keepdims = FALSE, initial = NULL) {
  out <- nl_op_reduce(x, axis, keepdims, "max")
  if (!is.null(initial)) out <- nl_op_keep_dim(pmax(out, nl_check_number(initial, "initial")), out)
  out
}

#' @rdname op_sum
#' @export
op_min <- function(x, axis = NULL, keepdims = FALSE, initial = NULL) {
  out <- nl_op_reduce(x, axis, keepdims, "min")
  if (!is.null(initial)) out <- nl_op_keep_dim(pmin(out, nl_check_number(initial, "initial")), out)
  out
}

nl_op_keep_dim <- function(v, like) nl_op_result(as.vector(v), nl_op_dims(like))

#' Index of the maximum or minimum
#'
#' 1-based indices (keras3's default, `zero_indexed = FALSE`) of the largest
#' or smallest value along `axis` (of the flattened array, in row-major order
#' as Keras flattens, when `axis = NULL`). Ties give the first index.
#'
#' @inheritParams op_sum
#' @param zero_indexed If `TRUE`, indices start at 0 as in Python.
#' @returns An integer array or number.
#' @export
#' @family ops
#' @examples
#' x <- rbind(c(1, 9, 3), c(8, 2, 7))
#' op_argmax(x, axis = -1)
#' op_argmin(x, axis = 1)
op_argmax <- function(x, axis = NULL, keepdims = FALSE, zero_indexed = FALSE) {
  nl_op_arg_extreme(x, axis, keepdims, zero_indexed, which.max)
}

#' @rdname op_argmax
#' @export
op_argmin <- function(x, axis = NULL, keepdims = FALSE, zero_indexed = FALSE) {
  nl_op_arg_extreme(x, axis, keepdims, zero_indexed, which.min)
}

nl_op_arg_extreme <- function(x, axis, keepdims, zero_indexed, f, call = rlang::caller_env()) {
  a <- nl_op_array(x, "x", call = call)
  keepdims <- nl_check_flag(keepdims, "keepdims", call = call)
  zero_indexed <- nl_check_flag(zero_indexed, "zero_indexed", call = call)
  d <- nl_op_dims(a)
  off <- if (zero_indexed) 1L else 0L
  if (is.null(axis)) {
    v <- if (length(d) > 1) as.vector(aperm(a, rev(seq_along(d)))) else as.vector(a)
    i <- as.integer(f(v)) - off
    return(if (keepdims) nl_op_result(i, rep(1L, length(d))) else i)
  }
  ax <- nl_op_axes(axis, length(d), call = call)
  if (length(ax) != 1) nl_abort("{.arg axis} must be a single axis.", "axis", call = call)
  kept <- setdiff(seq_along(d), ax)
  m <- aperm(a, c(kept, ax))
  dim(m) <- c(prod(d[kept]), d[ax])
  i <- as.integer(apply(m, 1, f)) - off
  nl_op_result(i, if (keepdims) replace(d, ax, 1L) else d[kept])
}
