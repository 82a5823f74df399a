nl_spec_group_normalization <- list(
  type = "group_normalization", class_name = "GroupNormalization",
  constructor = "layer_group_normalization",
  config_keys = c("groups", "axis", "epsilon", "center", "scale", "beta_initializer",
                  "gamma_initializer", "beta_regularizer", "gamma_regularizer",
                  "beta_constraint", "gamma_constraint"),
  print_keys = c("groups", "axis", "epsilon", "center", "scale"),
  # as Keras: groups = -1 reports the channel count once built
  config = function(st, cfg) {
    if (isTRUE(st$built)) cfg$groups <- st$plan$groups
    cfg
  }
)

#' Group normalization layer (Yuxin Wu and Kaiming He, 2018)
#'
#' Group normalization divides the channels into groups and computes within
#' each group the mean and variance for normalization. Empirically, its
#' accuracy is more stable than batch normalization across a wide range of
#' small batch sizes, if the learning rate is adjusted linearly with batch
#' size.
#'
#' The channels (the positions along `axis`) are split into `groups`
#' contiguous blocks of equal size. One mean and one variance are computed per
#' (sample, group), over every other non-batch axis and the channels of the
#' group, and
#' `y = (x - mean) / sqrt(variance + epsilon) * gamma + beta`
#' with one `gamma` and `beta` per channel.
#'
#' Relation to layer normalization: if the number of groups is set to 1, this
#' is nearly identical to layer normalization over all non-batch axes (but
#' with per-channel `gamma`/`beta`). Relation to instance normalization: if
#' the number of groups equals the number of channels (`groups = -1`), this is
#' instance normalization.
#'
#' @inheritParams layer_layer_normalization
#' @param groups Number of groups: a positive whole number that divides the
#'   number of channels, or `-1` for instance normalization (one group per
#'   channel). Defaults to 32.
#' @param axis A single integer: the channel axis (1-based; negative values
#'   count from the end, `-1`, the default, is the last axis). It cannot be the
#'   batch axis.
#' @param epsilon Small number added to the variance to avoid dividing by
#'   zero.
#' @param ... Named base-layer arguments: `name`, `trainable` and `dtype`
#'   (accepted and ignored: normlayers computes in double).
#' @returns A layer, a model, a symbolic tensor or an array, depending on
#'   `object` (see [layer_layer_normalization()]).
#' @section Weights:
#' `gamma` (if `scale`) and `beta` (if `center`), both trainable vectors with
#' one value per channel, in that order.
#' @section Call arguments:
#' A layer is called as `layer(x)`; group normalization behaves the same in
#' training and inference.
#' @references Wu, Y. and He, K. (2018). Group Normalization.
#'   <https://arxiv.org/abs/1803.08494>
#' @export
#' @family normalization layers
#' @examples
#' x <- matrix(c(-1, -1, 1, 1, 2, 2, 0, -2), nrow = 1)
#' layer_group_normalization(x, groups = 2, center = FALSE, scale = FALSE)
#'
#' # images: 2 samples of 4 x 4 pixels with 8 channels, 4 groups of 2
#' a <- array(rnorm(2 * 4 * 4 * 8), c(2, 4, 4, 8))
#' gn <- layer_group_normalization(groups = 4)
#' y <- gn(a)
#' gn$gamma
#'
#' # instance normalization
#' inorm <- layer_group_normalization(groups = -1)
#' y <- inorm(a)
#' get_config(inorm)$groups
layer_group_normalization <- function(object, groups = 32L, axis = -1L, epsilon = 0.001,
                                      center = TRUE, scale = TRUE,
                                      beta_initializer = "zeros", gamma_initializer = "ones",
                                      beta_regularizer = NULL, gamma_regularizer = NULL,
                                      beta_constraint = NULL, gamma_constraint = NULL, ...) {
  object <- if (missing(object)) NULL else object
  groups <- nl_check_groups(groups)
  dots <- list(...)
  nl_check_dots(dots, c("name", "trainable", "dtype"), layer = TRUE)
  config <- list(
    groups = groups,
    axis = nl_check_axis_arg(axis, "axis", single = TRUE),
    epsilon = nl_check_number(epsilon, "epsilon", min = 0),
    center = nl_check_flag(center, "center"),
    scale = nl_check_flag(scale, "scale")
  )
  config <- c(config, nl_family_args(nl_spec_group_normalization$config_keys))
  layer <- nl_new_layer("group_normalization", config,
                        name = dots$name, trainable = dots$trainable %||% TRUE)
  nl_compose(object, layer)
}

# Keras's check on `groups` (a positive integer or -1), before anything else.
nl_check_groups <- function(groups, call = rlang::caller_env()) {
  ok <- is.numeric(groups) && length(groups) == 1 && !is.na(groups) && is.finite(groups) &&
    groups == trunc(groups) && (groups > 0 || groups == -1)
  if (!ok) {
    nl_abort(c("Received an invalid value for argument {.arg groups}, expected a positive integer (or {.code -1} for instance normalization).",
               x = "You supplied {nl_describe(groups)}."), "value", call = call)
  }
  as.integer(groups)
}

# The channel axis and the resolved number of groups for an input shape.
nl_group_plan <- function(layer, input_shape) {
  st <- nl_state(layer)
  cfg <- st$config
  rank <- length(input_shape)
  axis <- nl_resolve_axes(cfg$axis, rank)
  if (axis == 1L) {
    nl_abort(c("The channel {.arg axis} of layer {.val {st$name}} cannot be the batch axis.",
               x = "{.arg axis} = {.val {cfg$axis}} is axis 1 of an input of shape {nl_format_shape(input_shape)}.",
               i = "Use {.code axis = -1} for channels last, {.code axis = 2} for channels first."),
             "axis")
  }
  C <- input_shape[axis]
  if (is.na(C)) {
    nl_abort(c("Axis {axis} of the input to layer {.val {st$name}} should have a defined dimension.",
               x = "The layer received an input with shape {nl_format_shape(input_shape)}."),
             "shape")
  }
  groups <- if (cfg$groups == -1L) as.integer(C) else cfg$groups
  if (C < groups) {
    nl_abort(c("Number of groups ({groups}) cannot be more than the number of channels ({C}).",
               i = "Use a {.arg groups} that divides {C}, or {.code groups = -1} for one group per channel."),
             "value")
  }
  if (C %% groups != 0) {
    nl_abort(c("The number of channels ({C}) must be a multiple of the number of groups ({groups}).",
               i = "Use a {.arg groups} that divides {C}."),
             "value")
  }
  list(axis = axis, groups = groups, channels = as.integer(C))
}

#' @export
nl_layer_output_shape.nl_group_normalization <- function(layer, input_shape) {
  nl_group_plan(layer, input_shape)
  input_shape
}

#' @export
nl_layer_build.nl_group_normalization <- function(layer, input_shape) {
  st <- nl_state(layer)
  cfg <- st$config
  plan <- nl_group_plan(layer, input_shape)
  if (cfg$scale) {
    nl_add_weight(layer, "gamma", plan$channels, cfg$gamma_initializer, cfg$gamma_regularizer,
                  cfg$gamma_constraint)
  }
  if (cfg$center) {
    nl_add_weight(layer, "beta", plan$channels, cfg$beta_initializer, cfg$beta_regularizer,
                  cfg$beta_constraint)
  }
  st$plan <- plan
  st$input_spec <- list(rank = length(input_shape),
                        axes = stats::setNames(plan$channels, plan$axis))
  invisible(layer)
}

#' @export
nl_layer_forward.nl_group_normalization <- function(layer, x, training) {
  st <- nl_state(layer)
  p <- st$plan
  w <- nl_weights_all(st)
  res <- nl_kernel_group_norm(x, p$axis, p$groups, w$gamma, w$beta, st$config$epsilon)
  list(output = res$y, cache = list(x = x, mean = res$mean, rstd = res$rstd))
}

#' @export
nl_layer_backward.nl_group_normalization <- function(layer, cache, dy) {
  st <- nl_state(layer)
  p <- st$plan
  w <- nl_weights_all(st)
  g <- nl_kernel_group_backward(cache$x, dy, p$axis, p$groups, cache$mean, cache$rstd, w$gamma)
  grads <- list()
  if (!is.null(w$gamma)) grads$gamma <- as.vector(g$dgamma)
  if (!is.null(w$beta)) grads$beta <- as.vector(g$dbeta)
  list(dx = g$dx, grads = grads)
}
