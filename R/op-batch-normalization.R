#' Batch normalization op
#'
#' Normalizes `x` with given per-channel statistics:
#' `(x - mean) / sqrt(variance + epsilon) * scale + offset`, where `mean`,
#' `variance`, `offset` and `scale` have one value per position along `axis`
#' and are broadcast along the other axes. This is the computation of
#' [layer_batch_normalization()] in inference mode, without state.
#'
#' @param x A numeric array, vector or data frame.
#' @param mean,variance Numeric vectors of length `dim(x)[axis]`: the mean and
#'   the variance of each channel.
#' @param axis A single whole number: the channel axis, along which `mean`,
#'   `variance`, `offset` and `scale` vary. Positive values are 1-based,
#'   negative values count from the end (`-1` is the last axis).
#' @param offset,scale Optional numeric vectors of length `dim(x)[axis]`,
#'   added after and multiplied before the offset (`beta` and `gamma` of the
#'   layer). `NULL` means 0 and 1.
#' @param epsilon Small non-negative number added to the variance inside the
#'   square root.
#' @returns The normalized values, in the container of `x` (an array of the
#'   same shape, a vector, or a data frame).
#' @export
#' @family ops
#' @examples
#' x <- rbind(c(1, 2, 3), c(4, 6, 8))
#' op_batch_normalization(x, mean = c(2.5, 4, 5.5), variance = c(2.25, 4, 6.25),
#'                        axis = -1)
#'
#' # channels-first: one statistic per channel on axis 2
#' a <- array(1:24, c(2, 3, 4))
#' y <- op_batch_normalization(a, mean = c(0, 1, 2), variance = c(1, 1, 4),
#'                             axis = 2, scale = c(1, 2, 3), offset = 0.5 * (1:3))
#' dim(y)
op_batch_normalization <- function(x, mean, variance, axis, offset = NULL, scale = NULL,
                                   epsilon = 0.001) {
  info <- nl_as_input(x)
  xx <- info$x
  d <- dim(xx)
  if (missing(axis)) {
    nl_abort(c("{.arg axis} must be given.",
               i = "Use {.code axis = -1} for the last (channels) axis."), "missing")
  }
  axis <- nl_resolve_axes(nl_check_axis_arg(axis, "axis", single = TRUE), length(d))
  C <- d[axis]
  if (missing(mean) || missing(variance)) {
    nl_abort(c("{.arg mean} and {.arg variance} must be given.",
               i = "Pass vectors of length {C} (the size of axis {axis})."), "missing")
  }
  mean <- nl_check_param_vector(nl_bn_op_param(mean, "mean"), C, "mean")
  variance <- nl_check_param_vector(nl_bn_op_param(variance, "variance"), C, "variance")
  offset <- nl_check_param_vector(offset, C, "offset")
  scale <- nl_check_param_vector(scale, C, "scale")
  epsilon <- nl_check_number(epsilon, "epsilon", min = 0)
  runs <- nl_runs(d, setdiff(seq_along(d), axis))
  y <- nl_kernel_apply(xx, runs, center = mean, scale = 1 / sqrt(variance + epsilon),
                       gamma = scale, beta = offset, param_on = "kept")
  dim(y) <- d
  nl_restore_output(y, info)
}

# `mean` and `variance` are required: NULL is refused with a shape error.
nl_bn_op_param <- function(p, arg, call = rlang::caller_env()) {
  if (is.null(p)) {
    nl_abort(c("{.arg {arg}} must be a numeric vector, not {.code NULL}.",
               i = "Pass one value per channel."), "shape", call = call)
  }
  p
}
