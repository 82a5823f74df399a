nl_spec_batch_normalization <- list(
  type = "batch_normalization", class_name = "BatchNormalization",
  constructor = "layer_batch_normalization",
  config_keys = c("axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
                  "gamma_initializer", "moving_mean_initializer",
                  "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
                  "beta_constraint", "gamma_constraint", "synchronized", "renorm",
                  "renorm_clipping", "renorm_momentum"),
  print_keys = c("axis", "momentum", "epsilon", "center", "scale"),
  # Keras 3 has no renormalization: its keys go to a file only when it is on
  keras = list(write = function(own, cfg) {
    if (!isTRUE(cfg$renorm)) own[c("renorm", "renorm_clipping", "renorm_momentum")] <- NULL
    own
  })
)

#' Batch normalization layer (Ioffe and Szegedy, 2015)
#'
#' Normalizes its inputs so that, for each channel, the output has a mean
#' close to 0 and a standard deviation close to 1. The statistics are computed
#' over every axis except the channel axis `axis` (the batch axis included),
#' one mean and variance per channel, and
#' `y = gamma * (x - mean) / sqrt(variance + epsilon) + beta`.
#'
#' Batch normalization works differently in training and in inference; see
#' the "Call arguments" section. The moving statistics `moving_mean` and
#' `moving_variance` are non-trainable weights: they are counted by
#' [count_params()], returned by [get_weights()] after the trainable weights,
#' and read back with `layer$moving_mean` and `layer$moving_variance`.
#'
#' @inheritParams layer_layer_normalization
#' @param axis A single whole number: the channel axis that is kept (one
#'   statistic per position along it), typically the features axis. Positive
#'   values are 1-based, negative values count from the end; `-1` (the
#'   default) is the last axis. After a channels-first convolution use
#'   `axis = 2`.
#' @param momentum Momentum of the moving averages, between 0 and 1: the weight
#'   of the old value in
#'   `moving <- moving * momentum + batch * (1 - momentum)`. (PyTorch uses the
#'   opposite convention: its `momentum = 0.1` is `momentum = 0.9` here.)
#' @param epsilon Small non-negative number added to the variance to avoid
#'   dividing by zero.
#' @param center If `TRUE`, add the offset `beta`. If `FALSE`, `beta` is not
#'   created.
#' @param scale If `TRUE`, multiply by `gamma`. If `FALSE`, `gamma` is not
#'   created; when the next layer is linear the scaling can be done by that
#'   layer.
#' @param moving_mean_initializer,moving_variance_initializer Initializers of
#'   the moving mean (`"zeros"`) and the moving variance (`"ones"`).
#' @param ... Named arguments of Keras's `BatchNormalization`:
#'   * `renorm`: `TRUE` for batch renormalization (Ioffe, 2017), which adds the
#'     non-trainable weights `moving_stddev`, `renorm_mean` and `renorm_stddev`;
#'   * `renorm_clipping`: a named list (or named vector) with some of `rmax`,
#'     `rmin` and `dmax`, the clipping bounds of the renormalization
#'     corrections `r` and `d`;
#'   * `renorm_momentum`: momentum of the renormalization statistics
#'     (default `0.99`);
#'   * `synchronized`: only `FALSE` is supported (there is a single device);
#'   * `dtype`: accepted for compatibility and ignored (normlayers computes in
#'     double precision).
#' @returns A layer, a model, a symbolic tensor or an array, depending on
#'   `object` (see above).
#' @section Call arguments:
#' A layer is called as `layer(x)` or `layer(x, training = TRUE)`; a model
#' passes its `training` argument on to the layers inside it, and [fit()]
#' calls it with `training = TRUE`.
#' * **Training** (`training = TRUE` and the layer is trainable): the output
#'   is normalized with the mean and the population variance of the current
#'   batch, and the moving statistics are updated:
#'   `moving_mean <- moving_mean * momentum + mean(batch) * (1 - momentum)`,
#'   likewise `moving_variance` with the batch variance.
#' * **Inference** (`training = FALSE` or `NULL`, the default, as in
#'   [predict()]; and also `training = TRUE` on a layer with
#'   `trainable = FALSE`): the output is normalized with the moving statistics
#'   and nothing is updated. A freshly created layer therefore returns
#'   `x / sqrt(1 + epsilon)`.
#'
#' `layer(x, training = TRUE, mask = m)` takes the batch statistics over the
#' masked-in positions only, as Keras 3 does: `m` has the shape of `x` without
#' its last axis (logical or 0/1), is broadcast along that axis, and with
#' `n = sum(m)` over the reduced axes the statistics are
#' `sum(m * x) / (n + 1e-7)` and `sum(m * (x - mean)^2) / (n + 1e-7)`. All
#' positions are then normalized with them. In inference the mask changes
#' nothing. Masks are taken in direct calls of the layer on an array (not by
#' models or symbolic tensors); other layers accept and ignore `mask`.
#' @export
#' @family normalization layers
#' @examples
#' x <- rbind(c(1, 2, 3), c(4, 6, 8), c(7, 10, 13), c(10, 18, 20))
#'
#' bn <- layer_batch_normalization()
#' bn(x)                    # inference: x / sqrt(1.001)
#' bn(x, training = TRUE)   # batch statistics; moving statistics updated
#' bn$moving_mean
#' bn$moving_variance
#' bn(x)                    # inference with the moving statistics
#'
#' # masked batch statistics: rows 3 and 4 do not count
#' bn2 <- layer_batch_normalization(momentum = 0)
#' y <- bn2(x, training = TRUE, mask = c(TRUE, TRUE, FALSE, FALSE))
#' bn2$moving_mean          # about the mean of rows 1 and 2
#'
#' # channels-first images: one statistic per channel (axis 2)
#' img <- array(rnorm(2 * 3 * 4 * 4), c(2, 3, 4, 4))
#' y <- layer_batch_normalization(img, axis = 2)
#' dim(y)
#'
#' # in a model
#' model <- keras_model_sequential(input_shape = 3) |>
#'   layer_batch_normalization()
#' summary(model)
layer_batch_normalization <- function(object, axis = -1L, momentum = 0.99, epsilon = 0.001,
                                      center = TRUE, scale = TRUE,
                                      beta_initializer = "zeros", gamma_initializer = "ones",
                                      moving_mean_initializer = "zeros",
                                      moving_variance_initializer = "ones",
                                      beta_regularizer = NULL, gamma_regularizer = NULL,
                                      beta_constraint = NULL, gamma_constraint = NULL,
                                      trainable = TRUE, name = NULL, ...) {
  object <- if (missing(object)) NULL else object
  dots <- list(...)
  nl_check_dots(dots, c("renorm", "renorm_clipping", "renorm_momentum", "synchronized",
                        "dtype"), layer = TRUE)
  synchronized <- nl_check_flag(dots$synchronized %||% FALSE, "synchronized")
  if (synchronized) {
    nl_abort(c("{.code synchronized = TRUE} is not supported.",
               i = "normlayers runs on a single device; use {.code synchronized = FALSE}."),
             "value")
  }
  renorm <- nl_check_flag(dots$renorm %||% FALSE, "renorm")
  renorm_clipping <- nl_check_renorm_clipping(dots$renorm_clipping)
  if (renorm && is.null(renorm_clipping)) renorm_clipping <- list()
  renorm_momentum <- nl_check_number(dots$renorm_momentum %||% 0.99, "renorm_momentum",
                                     min = 0, max = 1)
  config <- list(
    axis = nl_check_axis_arg(axis, single = TRUE),
    momentum = nl_check_number(momentum, "momentum", min = 0, max = 1),
    epsilon = nl_check_number(epsilon, "epsilon", min = 0),
    center = nl_check_flag(center, "center"),
    scale = nl_check_flag(scale, "scale"),
    synchronized = synchronized,
    renorm = renorm,
    renorm_clipping = renorm_clipping,
    renorm_momentum = renorm_momentum
  )
  config <- c(config, nl_family_args(nl_spec_batch_normalization$config_keys))
  layer <- nl_new_layer("batch_normalization", config,
                        name = name, trainable = trainable)
  nl_compose(object, layer)
}

# `renorm_clipping`: NULL, or a named list/vector with keys among rmax, rmin, dmax.
# Returns a named list of doubles (or NULL).
nl_check_renorm_clipping <- function(x, call = rlang::caller_env()) {
  if (is.null(x)) return(NULL)
  if (!(is.list(x) || is.numeric(x)) || is.data.frame(x)) {
    nl_abort(c("{.arg renorm_clipping} must be a named list with some of {.field rmax}, {.field rmin} and {.field dmax}.",
               x = "You supplied {nl_describe(x)}.",
               i = "For example {.code renorm_clipping = list(rmax = 3, dmax = 5)}."),
             "value", call = call)
  }
  x <- as.list(x)
  if (length(x) == 0) return(list())
  nms <- names(x)
  if (is.null(nms) || any(is.na(nms) | nms == "")) {
    nl_abort(c("Every element of {.arg renorm_clipping} must be named.",
               i = "Use the names {.field rmax}, {.field rmin} and {.field dmax}."),
             "value", call = call)
  }
  bad <- setdiff(nms, c("rmax", "rmin", "dmax"))
  if (length(bad)) {
    nl_abort(c("{.arg renorm_clipping} has invalid key{?s} {.val {bad}}.",
               i = "Supported keys: {.val {c('rmax', 'rmin', 'dmax')}}."),
             "value", call = call)
  }
  if (anyDuplicated(nms)) {
    nl_abort(c("{.arg renorm_clipping} names {.val {nms[duplicated(nms)]}} more than once.",
               i = "Give each key once."), "value", call = call)
  }
  for (nm in nms) {
    v <- x[[nm]]
    if (!is.numeric(v) || length(v) != 1 || is.na(v)) {
      nl_abort(c("{.code renorm_clipping${nm}} must be a single number.",
                 x = "You supplied {nl_describe(v)}."), "value", call = call)
    }
    x[[nm]] <- as.double(v)
  }
  if (!is.null(x$rmax) && !is.null(x$rmin) && x$rmax < x$rmin) {
    nl_abort(c("{.code renorm_clipping$rmax} must be at least {.code renorm_clipping$rmin}.",
               x = "You supplied {.code rmax = {x$rmax}} and {.code rmin = {x$rmin}}."),
             "value", call = call)
  }
  if (!is.null(x$dmax) && x$dmax < 0) {
    nl_abort(c("{.code renorm_clipping$dmax} must be non-negative.",
               x = "You supplied {.code dmax = {x$dmax}}."), "value", call = call)
  }
  x
}

# The kept (channel) axis for an input of rank `rank`, as a positive 1-based index.
nl_bn_axis <- function(layer, rank) {
  nl_resolve_axes(nl_state(layer)$config$axis, rank)
}

#' @export
nl_layer_output_shape.nl_batch_normalization <- function(layer, input_shape) {
  nl_bn_axis(layer, length(input_shape))
  input_shape
}

#' @export
nl_layer_build.nl_batch_normalization <- function(layer, input_shape) {
  st <- nl_state(layer)
  cfg <- st$config
  axis <- nl_bn_axis(layer, length(input_shape))
  C <- input_shape[axis]
  if (is.na(C)) {
    nl_abort(c("The channel axis of layer {.val {st$name}} must have a known size.",
               x = "The input has shape {nl_format_shape(input_shape)} and {.arg axis} = {.val {cfg$axis}} has size None.",
               i = "Give the input a known size on that axis (e.g. in {.fn keras_input})."),
             "shape")
  }
  C <- as.integer(C)
  if (cfg$scale) {
    nl_add_weight(layer, "gamma", C, cfg$gamma_initializer, cfg$gamma_regularizer,
                  cfg$gamma_constraint)
  }
  if (cfg$center) {
    nl_add_weight(layer, "beta", C, cfg$beta_initializer, cfg$beta_regularizer,
                  cfg$beta_constraint)
  }
  nl_add_weight(layer, "moving_mean", C, cfg$moving_mean_initializer, trainable = FALSE)
  nl_add_weight(layer, "moving_variance", C, cfg$moving_variance_initializer,
                trainable = FALSE)
  if (cfg$renorm) {
    nl_add_weight(layer, "moving_stddev", C, cfg$moving_variance_initializer,
                  trainable = FALSE)
    nl_weight_set(st, "moving_stddev", sqrt(nl_weight_get(st, "moving_stddev")))
    nl_add_weight(layer, "renorm_mean", C, cfg$moving_mean_initializer, trainable = FALSE)
    nl_add_weight(layer, "renorm_stddev", C, cfg$moving_variance_initializer,
                  trainable = FALSE)
    nl_weight_set(st, "renorm_stddev", sqrt(nl_weight_get(st, "renorm_stddev")))
  }
  st$axis_pos <- axis
  st$input_spec <- list(rank = length(input_shape), axes = stats::setNames(C, axis))
  invisible(layer)
}

#' @export
nl_layer_forward.nl_batch_normalization <- function(layer, x, training) {
  nl_bn_forward(layer, x, training)
}

#' @export
nl_layer_forward_masked.nl_batch_normalization <- function(layer, x, training, mask) {
  nl_bn_forward(layer, x, training, mask)
}

# The forward pass; `mask` (eager calls only) selects the positions whose
# values enter the batch statistics in training. `overwrite = TRUE`: x is the
# caller's to overwrite, and inference writes its output there
# (nl_layer_infer()).
nl_bn_forward <- function(layer, x, training, mask = NULL, overwrite = FALSE) {
  st <- nl_state(layer)
  cfg <- st$config
  w <- nl_weights_all(st)
  d <- dim(x)
  axis <- st$axis_pos
  runs <- nl_runs(d, setdiff(seq_along(d), axis))
  eps <- cfg$epsilon
  if (!is.null(mask)) mask <- nl_bn_check_mask(mask, d)
  # A batch without values (0 rows) has no batch statistics: the output has
  # 0 rows and the moving statistics stay as they are (no NaN update).
  if (isTRUE(training) && isTRUE(st$trainable) && length(x) > 0) {
    mom <- if (is.null(mask)) NULL else nl_bn_masked_moments(x, runs, mask)
    if (cfg$renorm) return(nl_bn_forward_renorm(layer, x, runs, mom))
    if (is.null(mom)) {
      res <- nl_kernel_batch_norm_train(x, runs, w$gamma, w$beta, eps)
    } else {
      res <- list(y = nl_kernel_apply(x, runs, center = mom$mean, scale = 1 / sqrt(mom$var + eps),
                                      gamma = w$gamma, beta = w$beta, param_on = "kept"),
                  mean = mom$mean, var = mom$var)
    }
    y <- res$y
    res$y <- NULL  # y is then referenced once, so dim<- does not copy it
    dim(y) <- d
    m <- cfg$momentum
    # Update only after the kernel succeeded (a failed call changes nothing).
    nl_weight_set(st, "moving_mean", w$moving_mean * m + res$mean * (1 - m))
    nl_weight_set(st, "moving_variance", w$moving_variance * m + res$var * (1 - m))
    cache <- list(x = x, runs = runs, mean = res$mean, rstd = 1 / sqrt(res$var + eps),
                  gamma = w$gamma, batch_stats = TRUE, masked = !is.null(mom))
    return(list(output = y, cache = cache))
  }
  rstd <- 1 / sqrt(w$moving_variance + eps)
  y <- nl_kernel_apply(x, runs, center = w$moving_mean, scale = rstd, gamma = w$gamma,
                       beta = w$beta, param_on = "kept", out = if (overwrite) x)
  if (!overwrite) dim(y) <- d
  cache <- list(x = x, runs = runs, mean = w$moving_mean, rstd = rstd, gamma = w$gamma,
                batch_stats = FALSE)
  list(output = y, cache = cache)
}

# Batch renormalization, training step (spec 2.3). r and d use the renorm
# statistics from before this step and are constants for the gradients.
nl_bn_forward_renorm <- function(layer, x, runs, mom = NULL) {
  st <- nl_state(layer)
  cfg <- st$config
  w <- nl_weights_all(st)
  eps <- cfg$epsilon
  masked <- !is.null(mom)
  if (!masked) mom <- nl_kernel_moments(x, runs)
  s_b <- sqrt(mom$var + eps)
  s_hat <- pmax(w$renorm_stddev, sqrt(eps))
  r <- s_b / s_hat
  dd <- (mom$mean - w$renorm_mean) / s_hat
  clip <- cfg$renorm_clipping
  if (!is.null(clip$rmin)) r <- pmax(r, clip$rmin)
  if (!is.null(clip$rmax)) r <- pmin(r, clip$rmax)
  if (!is.null(clip$dmax)) dd <- pmin(pmax(dd, -clip$dmax), clip$dmax)
  g <- if (is.null(w$gamma)) 1 else w$gamma
  gamma_eff <- r * g
  beta_eff <- dd * g + (if (is.null(w$beta)) 0 else w$beta)
  rstd <- 1 / s_b
  y <- nl_kernel_apply(x, runs, center = mom$mean, scale = rstd, gamma = gamma_eff,
                       beta = beta_eff, param_on = "kept")
  dim(y) <- dim(x)
  m <- cfg$momentum
  rm <- cfg$renorm_momentum
  moving_stddev <- w$moving_stddev * m + s_b * (1 - m)
  nl_weight_set(st, "renorm_mean", w$renorm_mean * rm + mom$mean * (1 - rm))
  nl_weight_set(st, "renorm_stddev", w$renorm_stddev * rm + s_b * (1 - rm))
  nl_weight_set(st, "moving_mean", w$moving_mean * m + mom$mean * (1 - m))
  nl_weight_set(st, "moving_stddev", moving_stddev)
  nl_weight_set(st, "moving_variance", pmax(moving_stddev^2 - eps, 0))
  cache <- list(x = x, runs = runs, mean = mom$mean, rstd = rstd, gamma = gamma_eff,
                batch_stats = TRUE, r = r, d = dd, masked = masked)
  list(output = y, cache = cache)
}

# A mask has the input's shape without its last axis (spec 2.3); it is
# broadcast along that last axis.
nl_bn_check_mask <- function(mask, d, call = rlang::caller_env()) {
  if (is.data.frame(mask)) mask <- as.matrix(mask)
  md <- if (is.null(dim(mask))) length(mask) else dim(mask)
  want <- d[-length(d)]
  ok_type <- (is.logical(mask) || is.numeric(mask)) && !anyNA(mask)
  ok_shape <- length(d) >= 2 && length(md) == length(want) && all(md == want)
  if (!ok_shape) {
    nl_abort(c("The mask provided should be one dimension less than the inputs.",
               x = "Received: mask.shape={nl_format_shape(md)}, inputs.shape={nl_format_shape(d)}.",
               i = "Give a mask of shape {nl_format_shape(want)}: the input's shape without its last axis."),
             "shape", call = call)
  }
  if (!ok_type) {
    nl_abort(c("{.arg mask} must be logical or numeric without missing values.",
               x = "You supplied {nl_describe(mask)}."), "type", call = call)
  }
  as.double(mask)
}

# Masked batch moments (spec 2.3, Keras >= 3.9): with the mask w broadcast
# along the last axis and n = sum(w) over the reduced axes,
# mean = sum(w * x) / (n + 1e-7) and var = sum(w * (x - mean)^2) / (n + 1e-7).
nl_bn_masked_moments <- function(x, runs, mask) {
  d <- dim(x)
  W <- rep(mask, times = d[length(d)])
  dim(W) <- d
  R <- prod(runs$sizes[runs$reduced])
  sum_red <- function(v) nl_kernel_moments(v, runs)$mean * R
  n <- sum_red(W)
  mean <- sum_red(W * x) / (n + 1e-7)
  dev <- nl_kernel_apply(x, runs, center = mean, scale = rep(1, length(mean)),
                         param_on = "kept")
  list(mean = mean, var = sum_red(W * dev * dev) / (n + 1e-7))
}

#' @export
nl_layer_backward.nl_batch_normalization <- function(layer, cache, dy) {
  st <- nl_state(layer)
  if (isTRUE(cache$masked)) {
    nl_abort("Gradients through masked batch statistics are not supported.", "state")
  }
  g <- nl_kernel_norm_backward(cache$x, dy, cache$runs, cache$mean, cache$rstd,
                               cache$gamma, param_on = "kept",
                               batch_stats = cache$batch_stats)
  dx <- g$dx
  dim(dx) <- dim(cache$x)
  # Renorm: y = xhat * r * gamma + d * gamma + beta, so
  # dgamma = r * sum(dy * xhat) + d * sum(dy).
  dgamma <- if (is.null(cache$r)) g$dgamma else cache$r * g$dgamma + cache$d * g$dbeta
  grads <- list()
  if (!is.null(nl_weight_get(st, "gamma"))) grads$gamma <- as.double(dgamma)
  if (!is.null(nl_weight_get(st, "beta"))) grads$beta <- as.double(g$dbeta)
  list(dx = dx, grads = grads)
}
