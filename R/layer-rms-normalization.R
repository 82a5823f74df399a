nl_spec_rms_normalization <- list(
  type = "rms_normalization", class_name = "RMSNormalization",
  constructor = "layer_rms_normalization",
  config_keys = c("axis", "epsilon"),
  print_keys = c("axis", "epsilon"),
  # as Keras: the axes as given, sorted once built
  config = function(st, cfg) {
    if (isTRUE(st$built)) cfg$axis <- sort(cfg$axis)
    cfg
  }
)

#' Root Mean Square (RMS) normalization layer
#'
#' This layer normalizes the input tensor based on its RMS value, as described
#' in [Root Mean Square Layer Normalization](https://arxiv.org/abs/1910.07467)
#' by Biao Zhang et al.: over the `axis` axes, one value for every position of
#' the other axes,
#' `rms_normalization(x) = x * 1 / sqrt(mean(x^2) + epsilon) * scale`,
#' with a learnable `scale` spanning the `axis` axes. Unlike layer
#' normalization there is no centering and no offset.
#'
#' @inheritParams layer_layer_normalization
#' @param axis Integer or integer vector: the axis or axes on which to perform
#'   the normalization. Positive values are 1-based, negative values count
#'   from the end; `-1` (the default) is the last axis.
#' @param epsilon A small number added to the mean of squares to avoid
#'   dividing by zero.
#' @param ... Named base-layer arguments: `name`, `trainable` and `dtype`
#'   (accepted and ignored: normlayers computes in double).
#' @returns A layer, a model, a symbolic tensor or an array, depending on
#'   `object` (see [layer_layer_normalization()]).
#' @section Weights:
#' `scale` (trainable, initialized to ones), with the sizes of the `axis` axes.
#' @section Call arguments:
#' A layer is called as `layer(x)`; RMS normalization behaves the same in
#' training and inference.
#' @export
#' @family normalization layers
#' @examples
#' x <- rbind(c(1, 2, 3), c(4, 5, 6))
#' layer_rms_normalization(x)
#'
#' rms <- layer_rms_normalization(axis = c(2, 3))
#' y <- rms(array(rnorm(24), c(2, 3, 4)))
#' dim(rms$scale)
layer_rms_normalization <- function(object, axis = -1L, epsilon = 1e-06, ...) {
  object <- if (missing(object)) NULL else object
  dots <- list(...)
  nl_check_dots(dots, c("name", "trainable", "dtype"), layer = TRUE)
  config <- list(
    axis = nl_check_axis_arg(axis),
    epsilon = nl_check_number(epsilon, "epsilon", min = 0)
  )
  layer <- nl_new_layer("rms_normalization", config,
                        name = dots$name, trainable = dots$trainable %||% TRUE)
  nl_compose(object, layer)
}

#' @export
nl_layer_output_shape.nl_rms_normalization <- function(layer, input_shape) {
  nl_resolve_axes(nl_state(layer)$config$axis, length(input_shape))
  input_shape
}

#' @export
nl_layer_build.nl_rms_normalization <- function(layer, input_shape) {
  st <- nl_state(layer)
  reduced <- nl_reduced_axes_shape(st, input_shape)
  axes <- reduced$axes
  shape <- reduced$shape
  nl_add_weight(layer, "scale", shape, nl_get_initializer("ones", "scale_initializer"))
  st$reduced_axes <- axes
  st$input_spec <- list(rank = length(input_shape), axes = stats::setNames(shape, axes))
  invisible(layer)
}

#' @export
nl_layer_forward.nl_rms_normalization <- function(layer, x, training) {
  st <- nl_state(layer)
  scale <- as.vector(nl_weight_get(st, "scale"))
  res <- nl_kernel_rms_norm(x, st$reduced_axes, scale, st$config$epsilon)
  list(output = res$y, cache = list(x = x, rstd = res$rstd))
}

#' @export
nl_layer_backward.nl_rms_normalization <- function(layer, cache, dy) {
  st <- nl_state(layer)
  scale <- as.vector(nl_weight_get(st, "scale"))
  g <- nl_kernel_rms_backward(cache$x, dy, st$reduced_axes, cache$rstd, scale)
  list(dx = g$dx, grads = list(scale = nl_shape_value(g$dscale, st$weight_info$scale$shape)))
}
