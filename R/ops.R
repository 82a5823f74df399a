# Stateless ops: validate and coerce in R, compute in C++.

nl_check_param_vector <- function(p, expected_shape, arg, call = rlang::caller_env()) {
  if (is.null(p)) return(NULL)
  n <- prod(expected_shape)
  got <- if (is.null(dim(p))) length(p) else dim(p)
  ok <- (is.numeric(p) || is.logical(p)) && length(p) == n &&
    (is.null(dim(p)) || identical(as.integer(dim(p)[dim(p) != 1L]),
                                  as.integer(expected_shape[expected_shape != 1L])))
  if (!ok) {
    nl_abort(c("{.arg {arg}} must have shape {nl_format_shape(expected_shape)} ({n} value{?s}).",
               x = "You supplied {nl_describe(p)}."), "shape", call = call)
  }
  as.double(p)
}

#' Mean and variance over axes
#'
#' Computes the mean and the population variance (divided by N, as Keras does)
#' of `x` over `axes`, with a stable two-pass algorithm in double precision.
#'
#' @param x A numeric array, vector or data frame.
#' @param axes The axes to reduce over: 1-based, negative values count from the
#'   end.
#' @param keepdims If `TRUE`, the reduced axes are kept with size 1.
#' @param synchronized Accepted for compatibility with keras3; must be `FALSE`.
#' @returns A list with `mean` and `variance`: arrays with the kept axes (or
#'   plain numbers when every axis is reduced).
#' @export
#' @family ops
#' @examples
#' x <- rbind(c(1, 2, 3), c(4, 6, 8))
#' op_moments(x, axes = 1)   # per column
#' op_moments(x, axes = -1)  # per row
op_moments <- function(x, axes, keepdims = FALSE, synchronized = FALSE) {
  info <- nl_as_input(x)
  xx <- info$x
  d <- dim(xx)
  axes <- nl_resolve_axes(nl_check_axis_arg(axes, "axes"), length(d), arg = "axes")
  keepdims <- nl_check_flag(keepdims, "keepdims")
  res <- nl_kernel_moments(xx, nl_runs(d, axes))
  kept <- setdiff(seq_along(d), axes)
  shape <- if (keepdims) replace(d, axes, 1L) else d[kept]
  fix <- function(v) {
    if (length(shape) == 0) return(v)
    if (length(shape) == 1) return(v)
    dim(v) <- shape
    v
  }
  list(mean = fix(res$mean), variance = fix(res$var))
}

#' Layer normalization op
#'
#' Normalizes `x` over `axis`: one mean and variance for every position of the
#' other axes, `y = (x - mean) / sqrt(variance + epsilon) * gamma + beta`.
#' This is the computation of [layer_layer_normalization()] without state.
#'
#' @param x A numeric array, vector or data frame.
#' @param gamma,beta Optional scale and offset spanning the `axis` axes: a
#'   vector or array with as many values as the product of those axes' sizes.
#' @param axis The axis or axes to normalize over (1-based; negative values
#'   count from the end).
#' @param epsilon Small number added to the variance; `NULL` means `1e-7`.
#' @param ... Must be empty. `rms_scaling = TRUE` is accepted but deprecated.
#' @returns The normalized values, in the container of `x`.
#' @export
#' @family ops
#' @examples
#' op_layer_normalization(rbind(c(1, 2, 3), c(4, 5, 6)), epsilon = 1e-3)
op_layer_normalization <- function(x, gamma = NULL, beta = NULL, axis = -1L,
                                   epsilon = NULL, ...) {
  dots <- list(...)
  nl_check_dots(dots, "rms_scaling")
  rms <- isTRUE(dots$rms_scaling)
  info <- nl_as_input(x)
  xx <- info$x
  d <- dim(xx)
  axes <- nl_resolve_axes(nl_check_axis_arg(axis, "axis"), length(d))
  epsilon <- if (is.null(epsilon)) 1e-7 else nl_check_number(epsilon, "epsilon", min = 0)
  gamma <- nl_check_param_vector(gamma, d[axes], "gamma")
  beta <- nl_check_param_vector(beta, d[axes], "beta")
  y <- nl_layer_norm_compute(xx, axes, gamma, beta, epsilon, rms, keep_stats = FALSE)$y
  nl_restore_output(y, info)
}

# Shared by the op and the layer: returns list(y, mean, rstd, runs).
# `out` as in nl_kernel_apply() (x itself for an input the caller owns).
nl_layer_norm_compute <- function(x, axes, gamma, beta, epsilon, rms = FALSE,
                                  keep_stats = TRUE, out = NULL) {
  runs <- nl_runs(dim(x), axes)
  if (rms) {
    mom <- nl_kernel_moments(x, runs)
    rstd <- 1 / sqrt(mom$var + epsilon)
    y <- nl_kernel_apply(x, runs, center = NULL, scale = rstd, gamma = gamma, beta = NULL,
                         param_on = "reduced", out = out)
    return(list(y = y, mean = mom$mean, rstd = rstd, runs = runs))
  }
  res <- nl_kernel_layer_norm(x, runs, gamma, beta, epsilon, keep_stats = keep_stats,
                              out = out)
  res$runs <- runs
  res
}
