nl_spec_spectral_normalization <- list(
  type = "spectral_normalization", class_name = "SpectralNormalization",
  constructor = "layer_spectral_normalization",
  config_keys = c("layer", "power_iterations"),
  # the wrapped layer as Keras nests it
  config = function(st, cfg) {
    inner <- cfg$layer
    icfg <- get_config(inner)
    attr(icfg, "__class__") <- NULL
    cfg$layer <- list(module = "keras.layers", class_name = nl_state(inner)$class_name,
                      config = icfg, registered_name = NULL)
    cfg
  },
  print = function(st) {
    list(layer = nl_state(st$config$layer)$name, power_iterations = st$config$power_iterations)
  },
  # a wrapper: not written to Keras files
  keras = FALSE
)

#' Spectral normalization wrapper
#'
#' Performs spectral normalization on the weights of a target layer. This
#' wrapper controls the Lipschitz constant of the weights of a layer by
#' constraining their spectral norm, which can stabilize the training of GANs.
#'
#' In training (`training = TRUE`, as in [fit()]) each call runs
#' `power_iterations` steps of the power method on the kernel (reshaped to a
#' matrix with one column per output unit), starting from the persistent
#' non-trainable vector `vector_u`: `v <- u %*% t(W) / norm`,
#' `u <- v %*% W / norm` (norms floored at `1e-7`). The estimated largest
#' singular value `sigma = v %*% W %*% t(u)` then divides the kernel, and both
#' the new `vector_u` and the normalized kernel are **stored** (the wrapped
#' layer's kernel is overwritten, as in Keras) before the wrapped layer runs.
#' An all-zero kernel is left unchanged. In inference the wrapped layer runs
#' with whatever kernel is stored.
#'
#' Gradients flow to the wrapped layer's weights as in Keras: the stored
#' (normalized) kernel is the variable that the optimizer updates.
#'
#' @inheritParams layer_layer_normalization
#' @param layer A layer that has a `kernel` weight, such as [layer_dense()].
#'   It may be built or not; the wrapper builds it on the first call.
#' @param power_iterations A positive whole number: the number of power
#'   iterations per training call.
#' @param ... Named base-layer arguments: `name`, `trainable` and `dtype`
#'   (accepted and ignored: normlayers computes in double).
#' @returns A layer, a model, a symbolic tensor or an array, depending on
#'   `object` (see [layer_layer_normalization()]).
#' @section Weights:
#' `vector_u` (non-trainable, a `1 x units` matrix initialized with
#' `initializer_truncated_normal(stddev = 0.02)`, reproducible under
#' [set.seed()]) and then the wrapped layer's weights (for a dense layer
#' `kernel` and `bias`), in that order, as Keras lists a wrapper's own weights
#' before its sublayer's.
#' @references Miyato, T., Kataoka, T., Koyama, M. and Yoshida, Y. (2018).
#'   Spectral Normalization for Generative Adversarial Networks.
#'   <https://arxiv.org/abs/1802.05957>
#' @export
#' @family normalization layers
#' @examples
#' set.seed(1)
#' sn <- layer_spectral_normalization(layer = layer_dense(units = 3))
#' x <- matrix(rnorm(8), 2, 4)
#' sn(x)                   # inference: the dense layer as initialized
#' y <- sn(x, training = TRUE)
#' svd(sn$layer$kernel)$d  # largest singular value about 1 (one power iteration)
#'
#' model <- keras_model_sequential(input_shape = 4) |>
#'   layer_spectral_normalization(layer_dense(units = 2), power_iterations = 2)
#' model
layer_spectral_normalization <- function(object, layer, power_iterations = 1L, ...) {
  object <- if (missing(object)) NULL else object
  if (missing(layer)) {
    nl_abort(c("{.arg layer} is missing.",
               i = "Give the layer to wrap, e.g. {.code layer = layer_dense(units = 8)}.",
               i = if (nl_is_layer(object) && !inherits(object, "nl_model"))
                 "A layer piped in is the {.arg object} to compose with; pass the layer to wrap as {.arg layer}."),
             "missing")
  }
  inner <- nl_spectral_check_layer(layer)
  if (!is.numeric(power_iterations) || length(power_iterations) != 1 ||
      is.na(power_iterations) || !is.finite(power_iterations) ||
      power_iterations != trunc(power_iterations) || power_iterations <= 0) {
    nl_abort(c("{.arg power_iterations} should be greater than zero.",
               x = "Received: {.code power_iterations = {format(power_iterations)}}.",
               i = "Use a positive whole number, e.g. {.code power_iterations = 1}."),
             "value")
  }
  dots <- list(...)
  nl_check_dots(dots, c("name", "trainable", "dtype"), layer = TRUE)
  config <- list(layer = inner, power_iterations = as.integer(power_iterations))
  wrapper <- nl_new_layer("spectral_normalization", config,
                          name = dots$name, trainable = dots$trainable %||% TRUE,
                          classes = "nl_wrapper")
  if (!wrapper$trainable) assign("trainable", FALSE, envir = nl_state(inner))
  nl_compose(object, wrapper)
}

# The layer argument: a layer with a kernel (built or known to create one), or
# a serialized layer config (from from_config()).
nl_spectral_check_layer <- function(layer, call = rlang::caller_env()) {
  if (is.list(layer) && !nl_is_layer(layer) && rlang::is_string(layer$class_name) &&
      is.list(layer$config)) {
    cfg <- layer$config
    attr(cfg, "__class__") <- layer$class_name
    layer <- from_config(cfg)
  }
  if (!nl_is_layer(layer) || inherits(layer, "nl_model")) {
    nl_abort(c("{.arg layer} supplied to the wrapper isn't a supported layer type.",
               x = "You supplied {if (inherits(layer, 'nl_model')) 'a model' else nl_describe(layer)}.",
               i = "Wrap a layer that has a kernel, e.g. {.code layer_dense(units = 8)}."),
             "type", call = call)
  }
  has_kernel <- if (isTRUE(layer$built)) !is.null(nl_spectral_kernel(layer))
                else inherits(layer, nl_kernel_layer_classes)
  if (!has_kernel) {
    nl_abort(c("{.cls {nl_state(layer)$class_name}} object has no attribute {.field kernel} nor {.field embeddings}.",
               i = "Spectral normalization wraps a layer with a kernel, e.g. {.code layer_dense(units = 8)}."),
             "type", call = call)
  }
  layer
}

# Layer classes that create a `kernel` weight when built.
nl_kernel_layer_classes <- c("nl_dense")

# ---- coupling to the wrapped layer -----------------------------------------
# The only two places that touch the wrapped layer's weights directly: its
# kernel (or embeddings) as stored, and the assignment of a new value.

nl_spectral_kernel <- function(inner) {
  w <- nl_weights_all(inner)
  w$kernel %||% w$embeddings
}

nl_spectral_set_kernel <- function(inner, value) {
  st <- nl_state(inner)
  nm <- if (!is.null(nl_weight_get(st, "kernel"))) "kernel" else "embeddings"
  nl_weight_set(st, nm, value)
  invisible(inner)
}

# ---- the power method ------------------------------------------------------

# One normalization of `kernel` from `u` (a 1 x units matrix): returns the
# new u, the estimate sigma and the normalized kernel (same shape as kernel).
nl_spectral_normalize <- function(kernel, u, iterations) {
  d <- dim(kernel)
  units <- d[length(d)]
  w <- kernel
  dim(w) <- c(length(kernel) / units, units)
  l2n <- function(v) v / max(sqrt(sum(v^2)), 1e-7)
  v <- NULL
  for (i in seq_len(iterations)) {
    v <- l2n(tcrossprod(u, w))     # 1 x rows
    u <- l2n(v %*% w)              # 1 x units
  }
  sigma <- drop(tcrossprod(v %*% w, u))
  list(u = u, sigma = sigma, kernel = kernel / sigma)
}

# ---- layer methods -----------------------------------------------------------

#' @export
nl_layer_sublayers.nl_spectral_normalization <- function(layer) {
  list(nl_state(layer)$config$layer)
}

#' @export
nl_layer_output_shape.nl_spectral_normalization <- function(layer, input_shape) {
  nl_layer_output_shape(nl_state(layer)$config$layer, input_shape)
}

#' @export
nl_layer_build.nl_spectral_normalization <- function(layer, input_shape) {
  st <- nl_state(layer)
  inner <- st$config$layer
  nl_layer_prepare(inner, input_shape)
  kernel <- nl_spectral_kernel(inner)
  if (is.null(kernel)) {
    nl_abort(c("{.cls {nl_state(inner)$class_name}} object has no attribute {.field kernel} nor {.field embeddings}.",
               i = "Spectral normalization wraps a layer with a kernel, e.g. {.code layer_dense(units = 8)}."),
             "type")
  }
  kd <- if (is.null(dim(kernel))) length(kernel) else dim(kernel)
  nl_add_weight(layer, "vector_u", c(1L, kd[length(kd)]),
                initializer_truncated_normal(stddev = 0.02), trainable = FALSE)
  r <- length(input_shape)
  st$input_spec <- list(rank = r, axes = stats::setNames(input_shape[r], r))
  invisible(layer)
}

#' @export
nl_layer_forward.nl_spectral_normalization <- function(layer, x, training) {
  st <- nl_state(layer)
  inner <- st$config$layer
  if (training) {
    kernel <- nl_spectral_kernel(inner)
    if (any(kernel != 0)) {
      u <- nl_weight_get(st, "vector_u")
      res <- nl_spectral_normalize(kernel, u, st$config$power_iterations)
      # validate by running the wrapped layer's own checks before mutating
      nl_check_input_spec(inner, dim(x))
      nl_weight_set(st, "vector_u", nl_shape_value(as.double(res$u), st$weight_info$vector_u$shape))
      nl_spectral_set_kernel(inner, res$kernel)
    }
  }
  out <- nl_layer_run(inner, x, training)
  list(output = out$output, cache = out$cache)
}

#' @export
nl_layer_backward.nl_spectral_normalization <- function(layer, cache, dy) {
  inner <- nl_state(layer)$config$layer
  res <- nl_layer_backward(inner, cache, dy)
  list(dx = res$dx, grads = nl_prefix_grads(inner, res$grads))
}
