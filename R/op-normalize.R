#' RMS normalization op
#'
#' Performs Root Mean Square (RMS) normalization on `x`, as described in
#' [Root Mean Square Layer Normalization](https://arxiv.org/abs/1910.07467) by
#' Biao Zhang et al.: `x * 1 / sqrt(mean(x^2) + epsilon) * scale`, with the mean
#' of squares taken over `axis`, one for every position of the other axes. This
#' is the computation of [layer_rms_normalization()] without state. It differs
#' from layer normalization with `rms_scaling`, which uses the variance.
#'
#' @param x A numeric array, vector or data frame.
#' @param scale Optional scaling factor: `NULL` (no scaling), a single number,
#'   or a vector or array with one value per position of the `axis` axes
#'   (as many values as the product of their sizes).
#' @param axis The axis or axes along which to normalize: 1-based, negative
#'   values count from the end (`-1`, the default, is the last axis).
#' @param epsilon A small number added to the mean of squares; `NULL` means
#'   `1e-7` (Keras's `config_epsilon()`).
#' @returns The normalized values, in the container of `x`.
#' @export
#' @family ops
#' @examples
#' x <- rbind(c(1, 2, 3), c(4, 5, 6))
#' op_rms_normalization(x, epsilon = 1e-6)
#' op_rms_normalization(x, scale = 10)
#' op_rms_normalization(x, scale = c(1, 2, 3), axis = 2)
op_rms_normalization <- function(x, scale = NULL, axis = -1L, epsilon = NULL) {
  info <- nl_as_input(x)
  xx <- info$x
  d <- dim(xx)
  axes <- nl_resolve_axes(nl_check_axis_arg(axis, "axis"), length(d))
  epsilon <- if (is.null(epsilon)) 1e-7 else nl_check_number(epsilon, "epsilon", min = 0)
  if (!is.null(scale) && (is.numeric(scale) || is.logical(scale)) && length(scale) == 1 &&
      prod(d[axes]) != 1) {
    scale <- rep(as.double(scale), prod(d[axes]))
  }
  scale <- nl_check_param_vector(scale, d[axes], "scale")
  y <- nl_kernel_rms_norm(xx, axes, scale, epsilon)$y
  nl_restore_output(y, info)
}

#' Normalize to unit norm op
#'
#' Normalizes `x` over the specified axis: `x / max(norm(x), epsilon)`, where
#' the L2 norm is taken jointly over all the `axis` axes, one for every
#' position of the other axes. This is the computation of
#' [layer_unit_normalization()] (which uses `epsilon = 1e-12`). An all-zero
#' slice gives zeros.
#'
#' @inheritParams op_rms_normalization
#' @param axis The axis or axes along which to normalize: 1-based, negative
#'   values count from the end (`-1`, the default, is the last axis).
#' @param order The exponent in the norm formulation. Must be a whole number of
#'   at least 1; only `2` (the L2 norm, the default) is implemented.
#' @param epsilon A lower bound for the norm; `NULL` means `1e-7` (Keras's
#'   `config_epsilon()`).
#' @returns The normalized values, in the container of `x`.
#' @export
#' @family ops
#' @examples
#' x <- rbind(c(1, 2, 3), c(4, 5, 6))
#' op_normalize(x)
#' rowSums(op_normalize(x)^2)
#' op_normalize(x, axis = 1)   # each column to unit norm
op_normalize <- function(x, axis = -1L, order = 2L, epsilon = NULL) {
  if (!is.numeric(order) || length(order) != 1 || is.na(order) || order < 1 ||
      order != trunc(order)) {
    nl_abort(c("Argument {.arg order} must be an int >= 1.",
               x = "You supplied {nl_describe(order)}."), "value")
  }
  if (order != 2) {
    nl_abort(c("Only {.code order = 2} (the L2 norm) is implemented.",
               x = "You supplied {.code order = {order}}."), "value")
  }
  info <- nl_as_input(x)
  xx <- info$x
  d <- dim(xx)
  axes <- nl_resolve_axes(nl_check_axis_arg(axis, "axis"), length(d))
  epsilon <- if (is.null(epsilon)) 1e-7 else nl_check_number(epsilon, "epsilon", min = 0)
  y <- nl_kernel_unit_norm(xx, axes, epsilon)$y
  nl_restore_output(y, info)
}
