nl_spec_layer_normalization <- list(
  type = "layer_normalization", class_name = "LayerNormalization",
  constructor = "layer_layer_normalization",
  config_keys = c("axis", "epsilon", "center", "scale", "rms_scaling", "beta_initializer",
                  "gamma_initializer", "beta_regularizer", "gamma_regularizer",
                  "beta_constraint", "gamma_constraint"),
  print_keys = c("axis", "epsilon", "center", "scale"),
  # as Keras: the resolved axes once built
  config = function(st, cfg) {
    if (isTRUE(st$built)) cfg$axis <- st$reduced_axes
    cfg
  }
)

#' Layer normalization layer (Ba et al., 2016)
#'
#' Normalizes the activations of the previous layer for each example in a batch
#' independently, rather than across the batch like batch normalization: the
#' mean and variance are computed over the `axis` axes, one pair for every
#' position of the other axes, and
#' `y = (x - mean) / sqrt(variance + epsilon) * gamma + beta`,
#' with `gamma` and `beta` spanning the `axis` axes.
#'
#' @param object What to compose the new layer with. If `object` is
#'   * missing or `NULL`, the layer is returned;
#'   * a sequential model, the layer is appended to it (in place) and the model
#'     is returned invisibly;
#'   * a symbolic tensor (from [keras_input()] or another layer), the symbolic
#'     output of the layer is returned;
#'   * an R array, vector or data frame, the layer is built from its shape and
#'     applied, and the output is returned in the same container.
#' @param axis Integer or integer vector: the axis or axes to normalize across,
#'   typically the features axis. Positive values are 1-based (`2` is the
#'   second dimension), negative values count from the end; `-1` (the default)
#'   is the last axis.
#' @param epsilon Small number added to the variance to avoid dividing by zero.
#' @param center If `TRUE`, add the offset `beta` to the normalized tensor.
#' @param scale If `TRUE`, multiply by `gamma`. When the next layer is linear
#'   this can be disabled since the scaling will be done by the next layer.
#' @param beta_initializer,gamma_initializer Initializers for `beta` and
#'   `gamma`: a string such as `"zeros"`, an `initializer_*()` object, or an R
#'   function of the shape.
#' @param beta_regularizer,gamma_regularizer Optional regularizers: a string such
#'   as `"l2"`, a `regularizer_*()` object, or an R function of the weight that
#'   returns a number.
#' @param beta_constraint,gamma_constraint Optional constraints applied after
#'   each optimizer update: a string, a `constraint_*()` object, or an R
#'   function of the weight that returns the projected weight.
#' @param trainable Whether the layer's weights are updated by [fit()].
#' @param name Optional name; unique names are generated when `NULL`.
#' @param ... Named base-layer arguments. `rms_scaling = TRUE` (deprecated in
#'   Keras) scales by `1 / sqrt(variance + epsilon)` without centering.
#' @returns A layer, a model, a symbolic tensor or an array, depending on
#'   `object` (see above).
#' @section Call arguments:
#' A layer is called as `layer(x)` or `layer(x, training = TRUE)`; layer
#' normalization behaves the same in training and inference.
#' @export
#' @family normalization layers
#' @examples
#' x <- rbind(c(1, 2, 3), c(4, 5, 6))
#' layer_layer_normalization(x)
#'
#' norm <- layer_layer_normalization(axis = -1)
#' norm(x)
#' norm$gamma
#'
#' # statistics over the last two axes of a rank-3 array
#' a <- array(rnorm(24), c(2, 3, 4))
#' y <- a |> layer_layer_normalization(axis = c(2, 3))
#' dim(y)
layer_layer_normalization <- function(object, axis = -1L, epsilon = 0.001, center = TRUE,
                                      scale = TRUE, beta_initializer = "zeros",
                                      gamma_initializer = "ones", beta_regularizer = NULL,
                                      gamma_regularizer = NULL, beta_constraint = NULL,
                                      gamma_constraint = NULL, trainable = TRUE, name = NULL,
                                      ...) {
  object <- if (missing(object)) NULL else object
  dots <- list(...)
  nl_check_dots(dots, c("rms_scaling", "dtype"), layer = TRUE)
  rms <- dots$rms_scaling %||% FALSE
  rms <- nl_check_flag(rms, "rms_scaling")
  if (rms) {
    nl_warn(c("{.arg rms_scaling} is deprecated (as in Keras) and uses the variance, not the mean square.",
              i = "Use {.code center = FALSE} or an RMS normalization instead."), "deprecated")
  }
  config <- list(
    axis = nl_check_axis_arg(axis),
    epsilon = nl_check_number(epsilon, "epsilon", min = 0),
    center = nl_check_flag(center, "center"),
    scale = nl_check_flag(scale, "scale"),
    rms_scaling = rms
  )
  config <- c(config, nl_family_args(nl_spec_layer_normalization$config_keys))
  layer <- nl_new_layer("layer_normalization", config,
                        name = name, trainable = trainable)
  nl_compose(object, layer)
}

#' @export
nl_layer_output_shape.nl_layer_normalization <- function(layer, input_shape) {
  nl_resolve_axes(nl_state(layer)$config$axis, length(input_shape))
  input_shape
}

#' @export
nl_layer_build.nl_layer_normalization <- function(layer, input_shape) {
  st <- nl_state(layer)
  cfg <- st$config
  reduced <- nl_reduced_axes_shape(st, input_shape)
  axes <- reduced$axes
  shape <- reduced$shape
  if (cfg$scale || cfg$rms_scaling) {
    nl_add_weight(layer, "gamma", shape, cfg$gamma_initializer, cfg$gamma_regularizer,
                  cfg$gamma_constraint)
  }
  if (cfg$center && !cfg$rms_scaling) {
    nl_add_weight(layer, "beta", shape, cfg$beta_initializer, cfg$beta_regularizer,
                  cfg$beta_constraint)
  }
  st$reduced_axes <- axes
  st$input_spec <- list(rank = length(input_shape), axes = stats::setNames(shape, axes))
  invisible(layer)
}

#' @export
nl_layer_forward.nl_layer_normalization <- function(layer, x, training) {
  st <- nl_state(layer)
  # the statistics are kept for the backward pass only when training
  w <- nl_weights_all(st)
  res <- nl_layer_norm_compute(x, st$reduced_axes, w$gamma, w$beta,
                               st$config$epsilon, st$config$rms_scaling,
                               keep_stats = training)
  list(output = res$y, cache = list(x = x, mean = res$mean, rstd = res$rstd, runs = res$runs))
}

#' @export
nl_layer_backward.nl_layer_normalization <- function(layer, cache, dy) {
  st <- nl_state(layer)
  if (st$config$rms_scaling) {
    nl_abort("The deprecated {.arg rms_scaling} mode has no backward pass.", "state")
  }
  w <- nl_weights_all(st)
  g <- nl_kernel_norm_backward(cache$x, dy, cache$runs, cache$mean, cache$rstd,
                               w$gamma, param_on = "reduced", batch_stats = TRUE)
  grads <- list()
  if (!is.null(w$gamma)) grads$gamma <- nl_shape_value(g$dgamma, st$weight_info$gamma$shape)
  if (!is.null(w$beta)) grads$beta <- nl_shape_value(g$dbeta, st$weight_info$beta$shape)
  list(dx = g$dx, grads = grads)
}
