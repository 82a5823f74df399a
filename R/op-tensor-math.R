# Element-wise ops and broadcasting binary ops (keras3 names; see R/op-tensor.R).

# ---- element-wise -----------------------------------------------------------------

#' Element-wise math
#'
#' Functions applied to every element of an array; the result has the shape
#' of `x`. `op_relu()`, `op_sigmoid()` and `op_tanh()` are the activations.
#'
#' @param x A numeric array, vector or number.
#' @param decimals For `op_round()`: number of decimals.
#' @returns An R array (or a number) of the shape of `x`.
#' @export
#' @family ops
#' @examples
#' x <- rbind(c(-1, 4), c(9, -16))
#' op_abs(x)
#' op_sqrt(op_abs(x))
#' op_square(x)
#' op_relu(x)
op_abs <- function(x) nl_op_unary(x, abs)

#' @rdname op_abs
#' @export
op_absolute <- op_abs

#' @rdname op_abs
#' @export
op_sqrt <- function(x) nl_op_unary(x, sqrt)

#' @rdname op_abs
#' @export
op_rsqrt <- function(x) nl_op_unary(x, function(v) 1 / sqrt(v))

#' @rdname op_abs
#' @export
op_square <- function(x) nl_op_unary(x, function(v) v * v)

#' @rdname op_abs
#' @export
op_exp <- function(x) nl_op_unary(x, exp)

#' @rdname op_abs
#' @export
op_log <- function(x) nl_op_unary(x, log)

#' @rdname op_abs
#' @export
op_log1p <- function(x) nl_op_unary(x, log1p)

#' @rdname op_abs
#' @export
op_negative <- function(x) nl_op_unary(x, function(v) -v)

#' @rdname op_abs
#' @export
op_sign <- function(x) nl_op_unary(x, sign)

#' @rdname op_abs
#' @export
op_floor <- function(x) nl_op_unary(x, floor)

#' @rdname op_abs
#' @export
op_ceil <- function(x) nl_op_unary(x, ceiling)

#' @rdname op_abs
#' @export
op_round <- function(x, decimals = 0L) {
  decimals <- as.integer(nl_check_count(decimals, "decimals", min = -Inf,
                                        hint = "A negative number rounds to tens, hundreds, ..."))
  # numpy rounds half to even, as R's round() does
  nl_op_unary(x, function(v) round(v, decimals))
}

#' @rdname op_abs
#' @export
op_relu <- function(x) nl_op_unary(x, function(v) pmax(v, 0))

#' @rdname op_abs
#' @export
op_sigmoid <- function(x) nl_op_unary(x, stats::plogis)

#' @rdname op_abs
#' @export
op_tanh <- function(x) nl_op_unary(x, tanh)

#' Element-wise arithmetic with broadcasting
#'
#' Add, subtract, multiply, divide, raise to a power, or take the larger or
#' smaller of two arrays element by element. Shapes broadcast as in Keras
#' (NumPy): aligned on the last axis, a size of 1 stretches. So a vector of
#' length `p` combines with each row of an `n x p` matrix (unlike R's own
#' recycling, which runs down the columns).
#'
#' @param x1,x2 Numeric arrays, vectors or numbers.
#' @param x,x_min,x_max For `op_clip()`: the array and the bounds.
#' @returns An R array of the broadcast shape.
#' @export
#' @family ops
#' @examples
#' x <- rbind(c(1, 2, 3), c(4, 5, 6))
#' op_add(x, c(10, 20, 30))      # added to each row
#' op_multiply(x, 2)
#' op_subtract(x, op_mean(x, axis = 1, keepdims = TRUE))
#' op_maximum(x, 3)
#' op_clip(x, 2, 5)
op_add <- function(x1, x2) nl_op_binary(x1, x2, `+`)

#' @rdname op_add
#' @export
op_subtract <- function(x1, x2) nl_op_binary(x1, x2, `-`)

#' @rdname op_add
#' @export
op_multiply <- function(x1, x2) nl_op_binary(x1, x2, `*`)

#' @rdname op_add
#' @export
op_divide <- function(x1, x2) nl_op_binary(x1, x2, `/`)

#' @rdname op_add
#' @export
op_power <- function(x1, x2) nl_op_binary(x1, x2, `^`)

#' @rdname op_add
#' @export
op_maximum <- function(x1, x2) nl_op_binary(x1, x2, pmax)

#' @rdname op_add
#' @export
op_minimum <- function(x1, x2) nl_op_binary(x1, x2, pmin)

#' @rdname op_add
#' @export
op_clip <- function(x, x_min, x_max) {
  lo <- nl_check_number(x_min, "x_min")
  hi <- nl_check_number(x_max, "x_max")
  nl_op_unary(x, function(v) pmin(pmax(v, lo), hi))
}
