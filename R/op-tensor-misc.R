# Softmax, one-hot, cumulative, comparison and logical ops, sizes (keras3 names;
# see R/op-tensor.R).

# ---- more ops used around layers ---------------------------------------------------

# Applies `f` to the rows of a matrix whose columns run along axis `ax`; `f`
# returns a matrix of the same size. The result has the shape of `a`.
nl_op_along <- function(a, ax, f) {
  d <- nl_op_dims(a)
  r <- length(d)
  perm <- c(setdiff(seq_len(r), ax), ax)
  m <- if (r > 1) aperm(a, perm) else a
  dim(m) <- c(prod(d[-ax]), d[ax])
  res <- f(m)
  dim(res) <- d[perm]
  if (r > 1) res <- aperm(res, order(perm))
  res
}

nl_row_max <- function(m) if (ncol(m) == 1) m[, 1] else do.call(pmax, lapply(seq_len(ncol(m)), function(j) m[, j]))

#' Softmax, one-hot encoding and cumulative sums
#'
#' * `op_softmax()` / `op_log_softmax()`: `exp(x) / sum(exp(x))` (and its log)
#'   along `axis` (default the last), computed stably.
#' * `op_one_hot()`: one-hot encodes class indices, 1-based by default as in
#'   keras3 (`zero_indexed = TRUE` for 0-based); a factor uses its level
#'   codes. Indices out of range give rows of zeros, as in Keras. The new axis
#'   is placed at `axis` (default last).
#' * `op_cumsum()` / `op_cumprod()`: cumulative sum/product along `axis` (of
#'   the array flattened in row-major order when `axis = NULL`).
#'
#' @param x A numeric array (for `op_one_hot()`, whole numbers or a factor).
#' @param axis The axis (1-based; negative values count from the end).
#' @param num_classes Number of classes (for a factor, `NULL` means its number
#'   of levels).
#' @param dtype `NULL` or a data type string for the result.
#' @param sparse Only `FALSE` is supported.
#' @param zero_indexed If `TRUE`, class indices start at 0.
#' @returns An R array.
#' @export
#' @family ops
#' @examples
#' op_softmax(rbind(c(1, 2, 3), c(1, 1, 1)))
#' op_one_hot(c(1, 3, 2), num_classes = 3)
#' op_one_hot(factor(c("b", "a")))
#' op_cumsum(rbind(c(1, 2), c(3, 4)), axis = 1)
op_softmax <- function(x, axis = -1L) {
  a <- nl_op_array(x, "x")
  ax <- nl_op_axes(nl_check_axis_arg(axis, "axis", single = TRUE), length(nl_op_dims(a)))
  nl_op_along(a, ax, function(m) {
    e <- exp(m - nl_row_max(m))
    e / rowSums(e)
  })
}

#' @rdname op_softmax
#' @export
op_log_softmax <- function(x, axis = -1L) {
  a <- nl_op_array(x, "x")
  ax <- nl_op_axes(nl_check_axis_arg(axis, "axis", single = TRUE), length(nl_op_dims(a)))
  nl_op_along(a, ax, function(m) {
    s <- m - nl_row_max(m)
    s - log(rowSums(exp(s)))
  })
}

#' @rdname op_softmax
#' @export
op_one_hot <- function(x, num_classes, axis = -1L, dtype = NULL, sparse = FALSE,
                       zero_indexed = FALSE) {
  if (!identical(sparse, FALSE)) {
    nl_abort(c("Sparse one-hot tensors are not supported by normlayers.",
               i = "Use {.code sparse = FALSE}."), "unsupported")
  }
  zero_indexed <- nl_check_flag(zero_indexed, "zero_indexed")
  if (is.factor(x)) {
    if (missing(num_classes) || is.null(num_classes)) num_classes <- nlevels(x)
    d <- dim(x)
    x <- as.integer(x) - if (zero_indexed) 1L else 0L
    dim(x) <- d
  }
  if (missing(num_classes)) {
    nl_abort(c("{.arg num_classes} is missing.", i = "Give the number of classes."), "missing")
  }
  k <- as.integer(nl_check_count(num_classes, "num_classes"))
  a <- nl_op_array(x, "x")
  if (any(!is.na(a) & a != trunc(a))) {
    nl_abort(c("{.arg x} must hold whole numbers (class indices).",
               x = "You supplied non-integer values."), "value")
  }
  d <- nl_op_dims(a)
  idx <- as.vector(a) + if (zero_indexed) 1 else 0
  out <- matrix(0, length(idx), k)
  ok <- which(!is.na(idx) & idx >= 1 & idx <= k)
  out[cbind(ok, idx[ok])] <- 1
  res <- nl_op_result(as.vector(out), c(d, k))
  pos <- nl_resolve_axes(nl_check_axis_arg(axis, "axis", single = TRUE), length(d) + 1L)
  if (pos != length(d) + 1L) res <- aperm(res, append(seq_along(d), length(d) + 1L, after = pos - 1L))
  nl_op_cast_mode(res, nl_dtype_mode(dtype))
}

#' @rdname op_softmax
#' @export
op_cumsum <- function(x, axis = NULL, dtype = NULL) nl_op_cumulative(x, axis, dtype, cumsum)

#' @rdname op_softmax
#' @export
op_cumprod <- function(x, axis = NULL, dtype = NULL) nl_op_cumulative(x, axis, dtype, cumprod)

nl_op_cumulative <- function(x, axis, dtype, f, call = rlang::caller_env()) {
  a <- nl_op_array(x, "x", call = call)
  mode <- nl_dtype_mode(dtype, call = call)
  d <- nl_op_dims(a)
  if (is.null(axis)) {
    v <- if (length(d) > 1) as.vector(aperm(a, rev(seq_along(d)))) else as.vector(a)
    return(nl_op_cast_mode(nl_op_result(f(v), length(v)), mode))
  }
  ax <- nl_op_axes(nl_check_axis_arg(axis, "axis", single = TRUE), length(d), call = call)
  out <- nl_op_along(a, ax, function(m) {
    if (ncol(m) == 1) return(m)
    t(apply(m, 1, f))
  })
  nl_op_cast_mode(out, mode)
}

#' Comparisons, logical ops and selection
#'
#' Element-wise comparisons and logical operations with NumPy broadcasting
#' (aligned on the last axis); results are logical arrays. `op_where()` picks
#' from `x1` where `condition` is true and from `x2` elsewhere. `op_any()` and
#' `op_all()` reduce over `axis` (non-zero values count as `TRUE`).
#'
#' @param x1,x2 Numeric or logical arrays, vectors or numbers.
#' @param x A numeric or logical array.
#' @param condition A logical (or numeric) array.
#' @inheritParams op_sum
#' @returns A logical array (or number), or for `op_where()` a numeric array.
#' @export
#' @family ops
#' @examples
#' x <- rbind(c(1, 5), c(3, 2))
#' op_greater(x, 2)
#' op_equal(x, c(1, 2))
#' op_where(x > 2, x, 0)
#' op_any(x > 4, axis = 1)
op_equal <- function(x1, x2) nl_op_binary(x1, x2, `==`)

#' @rdname op_equal
#' @export
op_not_equal <- function(x1, x2) nl_op_binary(x1, x2, `!=`)

#' @rdname op_equal
#' @export
op_greater <- function(x1, x2) nl_op_binary(x1, x2, `>`)

#' @rdname op_equal
#' @export
op_greater_equal <- function(x1, x2) nl_op_binary(x1, x2, `>=`)

#' @rdname op_equal
#' @export
op_less <- function(x1, x2) nl_op_binary(x1, x2, `<`)

#' @rdname op_equal
#' @export
op_less_equal <- function(x1, x2) nl_op_binary(x1, x2, `<=`)

#' @rdname op_equal
#' @export
op_logical_and <- function(x1, x2) nl_op_binary(x1, x2, function(a, b) a != 0 & b != 0)

#' @rdname op_equal
#' @export
op_logical_or <- function(x1, x2) nl_op_binary(x1, x2, function(a, b) a != 0 | b != 0)

#' @rdname op_equal
#' @export
op_logical_not <- function(x) nl_op_unary(x, function(v) v == 0)

#' @rdname op_equal
#' @export
op_where <- function(condition, x1 = NULL, x2 = NULL) {
  if (is.null(x1) || is.null(x2)) {
    nl_abort(c("{.fn op_where} needs both {.arg x1} and {.arg x2} in normlayers.",
               i = "Use {.code which(condition, arr.ind = TRUE)} for the indices of true values."),
             "unsupported")
  }
  cnd <- nl_op_array(condition, "condition")
  a <- nl_op_array(x1, "x1")
  b <- nl_op_array(x2, "x2")
  d <- Reduce(nl_broadcast_shape, list(nl_op_dims(cnd), nl_op_dims(a), nl_op_dims(b)))
  v <- ifelse(as.vector(nl_broadcast_to(cnd, d)) != 0, as.vector(nl_broadcast_to(a, d)),
              as.vector(nl_broadcast_to(b, d)))
  nl_op_result(v, d)
}

#' @rdname op_equal
#' @export
op_any <- function(x, axis = NULL, keepdims = FALSE) {
  nl_op_reduce(nl_op_unary(x, function(v) v != 0), axis, keepdims, "max") > 0
}

#' @rdname op_equal
#' @export
op_all <- function(x, axis = NULL, keepdims = FALSE) {
  nl_op_reduce(nl_op_unary(x, function(v) v != 0), axis, keepdims, "min") > 0
}

#' Size and rank of a tensor
#'
#' `op_size()` is the number of elements, `op_ndim()` the number of axes (0
#' for a single number, 1 for a vector).
#'
#' @param x An R array, vector or number.
#' @returns A whole number.
#' @export
#' @family ops
#' @examples
#' op_size(op_ones(c(2, 3)))
#' op_ndim(op_ones(c(2, 3)))
op_size <- function(x) length(nl_op_array(x, "x"))

#' @rdname op_size
#' @export
op_ndim <- function(x) length(nl_op_dims(nl_op_array(x, "x")))

#' Evenly spaced numbers over an interval
#'
#' `num` values from `start` to `stop` (included when `endpoint = TRUE`), as
#' NumPy's `linspace`.
#'
#' @param start,stop Numbers.
#' @param num Number of values.
#' @param endpoint Whether `stop` is the last value.
#' @param retstep If `TRUE`, return `list(values, step)`.
#' @param dtype `NULL` or a data type string.
#' @param axis Only `1` is supported for scalar `start`/`stop`.
#' @returns A 1-d array (or a list with `retstep = TRUE`).
#' @export
#' @family ops
#' @examples
#' op_linspace(0, 1, num = 5)
#' op_linspace(0, 1, num = 4, endpoint = FALSE)
op_linspace <- function(start, stop, num = 50L, endpoint = TRUE, retstep = FALSE,
                        dtype = NULL, axis = 1L) {
  start <- nl_check_number(start, "start")
  stop <- nl_check_number(stop, "stop")
  num <- as.integer(nl_check_count(num, "num"))
  endpoint <- nl_check_flag(endpoint, "endpoint")
  retstep <- nl_check_flag(retstep, "retstep")
  div <- if (endpoint) num - 1 else num
  step <- if (div > 0) (stop - start) / div else NaN
  v <- if (num == 0) numeric() else start + (seq_len(num) - 1) * (if (div > 0) step else 0)
  if (endpoint && num > 1) v[num] <- stop
  v <- nl_op_cast_mode(nl_op_result(v, length(v)), nl_dtype_mode(dtype))
  if (retstep) list(v, step) else v
}
