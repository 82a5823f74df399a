nl_spec_unit_normalization <- list(
  type = "unit_normalization", class_name = "UnitNormalization",
  constructor = "layer_unit_normalization",
  config_keys = "axis", print_keys = "axis"
)

#' Unit normalization layer
#'
#' Normalizes a batch of inputs so that each input in the batch has an L2 norm
#' equal to 1 (across the axes specified in `axis`): the norm is taken jointly
#' over all the `axis` axes, one for every position of the other axes, and
#' `y = x / max(norm, 1e-12)`, so an all-zero input gives zeros (Keras 3's
#' epsilon handling).
#'
#' @inheritParams layer_layer_normalization
#' @param axis Integer or integer vector: the axis or axes to normalize across.
#'   Positive values are 1-based, negative values count from the end; `-1`
#'   (the default) is the last axis.
#' @param ... Named base-layer arguments: `name`, `trainable` and `dtype`
#'   (accepted and ignored: normlayers computes in double).
#' @returns A layer, a model, a symbolic tensor or an array, depending on
#'   `object` (see [layer_layer_normalization()]).
#' @section Weights:
#' None.
#' @export
#' @family normalization layers
#' @examples
#' x <- rbind(c(1, 2, 3), c(4, 5, 6))
#' y <- layer_unit_normalization(x)
#' y
#' rowSums(y^2)
#'
#' # one norm over the last two axes of each sample
#' a <- array(rnorm(24), c(2, 3, 4))
#' b <- a |> layer_unit_normalization(axis = c(2, 3))
#' apply(b^2, 1, sum)
layer_unit_normalization <- function(object, axis = -1L, ...) {
  object <- if (missing(object)) NULL else object
  dots <- list(...)
  nl_check_dots(dots, c("name", "trainable", "dtype"), layer = TRUE)
  config <- list(axis = nl_check_axis_arg(axis))
  layer <- nl_new_layer("unit_normalization", config,
                        name = dots$name, trainable = dots$trainable %||% TRUE)
  nl_compose(object, layer)
}

# Keras's UnitNormalization floors the norm at 1e-12.
nl_unit_epsilon <- 1e-12

#' @export
nl_layer_output_shape.nl_unit_normalization <- function(layer, input_shape) {
  nl_resolve_axes(nl_state(layer)$config$axis, length(input_shape))
  input_shape
}

#' @export
nl_layer_build.nl_unit_normalization <- function(layer, input_shape) {
  st <- nl_state(layer)
  # no weights: any input whose rank has the axes is accepted later on
  st$input_spec <- NULL
  invisible(layer)
}

#' @export
nl_layer_forward.nl_unit_normalization <- function(layer, x, training) {
  st <- nl_state(layer)
  axes <- nl_resolve_axes(st$config$axis, length(dim(x)))
  res <- nl_kernel_unit_norm(x, axes, nl_unit_epsilon)
  list(output = res$y, cache = list(x = x, axes = axes, inv = res$inv))
}

#' @export
nl_layer_backward.nl_unit_normalization <- function(layer, cache, dy) {
  g <- nl_kernel_unit_backward(cache$x, dy, cache$axes, cache$inv)
  list(dx = g$dx, grads = list())
}
