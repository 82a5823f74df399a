nl_spec_dropout <- list(
  type = "dropout", class_name = "Dropout", constructor = "layer_dropout",
  config_keys = c("rate", "noise_shape", "seed"),
  print_keys = "rate",
  keras = list(
    read = function(args, cfg) {
      if (!is.null(cfg$noise_shape)) args$noise_shape <- nl_keras_shape_in(cfg$noise_shape)
      args
    },
    write = function(own, cfg) {
      own["noise_shape"] <- list(if (!is.null(cfg$noise_shape)) nl_keras_shape_out(cfg$noise_shape))
      own
    }
  )
)

#' Apply dropout to the input
#'
#' During training (`training = TRUE`, and always inside [fit()]) each input
#' value is set to 0 with probability `rate` and the others are scaled by
#' `1 / (1 - rate)` ("inverted dropout"), so the expected sum is unchanged.
#' In inference (a direct call, [predict()], [evaluate()]) the layer is the
#' identity.
#'
#' @inheritParams layer_layer_normalization
#' @param rate A number in `[0, 1)`: the fraction of input values to drop.
#' @param noise_shape `NULL` (an independent draw for every value) or a vector
#'   with one entry per input axis giving the shape of the binary mask, which
#'   is then shared along the axes of size 1. `NA` entries take the size of
#'   the input; e.g. `noise_shape = c(NA, 1, NA)` drops the same features at
#'   every time step of a `c(batch, timesteps, features)` input.
#' @param seed `NULL` to draw masks from R's random number generator (so
#'   `set.seed()` reproduces them), or a whole number: the layer then keeps its
#'   own random stream started from `seed`, which gives the same sequence of
#'   masks every time and leaves the global stream untouched.
#' @param ... Named base-layer arguments: `name`, `trainable`, `dtype`
#'   (accepted and ignored) and the legacy `input_shape` (see [layer_dense()]).
#' @returns A layer, a model, a symbolic tensor or an array, depending on
#'   `object` (see [layer_layer_normalization()]).
#' @export
#' @family core layers
#' @examples
#' x <- matrix(1, 2, 5)
#' drop <- layer_dropout(rate = 0.4, seed = 1)
#' drop(x)                    # inference: unchanged
#' drop(x, training = TRUE)   # training: zeros and 1 / 0.6
layer_dropout <- function(object, rate, noise_shape = NULL, seed = NULL, ...) {
  object <- if (missing(object)) NULL else object
  dots <- list(...)
  nl_check_dots(dots, c("name", "trainable", "dtype", "input_shape", "input_dim"), layer = TRUE)
  if (missing(rate)) {
    nl_abort(c("{.arg rate} is missing.", i = "Give the fraction to drop, e.g. {.code rate = 0.5}."),
             "missing")
  }
  rate <- nl_check_number(rate, "rate", min = 0, max = 1)
  if (rate >= 1) {
    nl_abort(c("{.arg rate} must be less than 1.", x = "You supplied {rate}."), "value")
  }
  noise_shape <- nl_check_shape(noise_shape, null_ok = TRUE, kind = "value")
  seed <- nl_check_seed(seed)
  config <- list(rate = rate, noise_shape = noise_shape, seed = seed)
  input_shape <- nl_legacy_input_shape(dots)
  layer <- nl_new_layer("dropout", config, name = dots$name,
                        trainable = dots$trainable %||% TRUE)
  st <- nl_state(layer)
  st$rng_state <- NULL
  nl_build_legacy_input_shape(layer, input_shape)
  nl_compose(object, layer)
}

# The mask's shape for an input shape (NA entries of noise_shape -> input size).
nl_dropout_mask_shape <- function(noise_shape, d) {
  if (is.null(noise_shape)) return(d)
  ns <- ifelse(is.na(noise_shape), d, noise_shape)
  as.integer(ns)
}

#' @export
nl_layer_output_shape.nl_dropout <- function(layer, input_shape) {
  ns <- nl_state(layer)$config$noise_shape
  if (!is.null(ns)) {
    ok <- length(ns) == length(input_shape) &&
      all(is.na(ns) | ns == 1L | is.na(input_shape) | ns == input_shape)
    if (!ok) {
      nl_abort(c("{.arg noise_shape} of layer {.val {layer$name}} does not fit the input.",
                 x = "{.arg noise_shape} is {nl_format_shape(ns)} and the input has shape {nl_format_shape(input_shape)}.",
                 i = "Give one entry per input axis, each 1, {.code NA} or the size of that axis."),
               "shape")
    }
  }
  input_shape
}

# Runs `f()` with the layer's own random stream when it has a seed (the
# global stream is left untouched), else with R's global stream.
nl_with_dropout_rng <- function(st, f) {
  seed <- st$config$seed
  if (is.null(seed)) return(f())
  had <- exists(".Random.seed", envir = globalenv(), inherits = FALSE)
  old <- if (had) get(".Random.seed", envir = globalenv(), inherits = FALSE)
  on.exit({
    if (had) assign(".Random.seed", old, envir = globalenv())
    else rm(".Random.seed", envir = globalenv())
  }, add = TRUE)
  if (is.null(st$rng_state)) set.seed(seed)
  else assign(".Random.seed", st$rng_state, envir = globalenv())
  res <- f()
  st$rng_state <- get(".Random.seed", envir = globalenv(), inherits = FALSE)
  res
}

# Uniform numbers from the layer's stream.
nl_dropout_runif <- function(st, n) nl_with_dropout_rng(st, function() stats::runif(n))

#' @export
nl_layer_forward.nl_dropout <- function(layer, x, training) {
  st <- nl_state(layer)
  rate <- st$config$rate
  if (!training || rate == 0) return(list(output = x, cache = list(scale = NULL)))
  d <- dim(x)
  if (is.null(st$config$noise_shape) && is.double(x)) {
    # One pass in C++: the output and a byte mask, the same draws as runif().
    res <- nl_with_dropout_rng(st, function() nl_dropout_forward_cpp(x, rate, nl_kernel_threads(x)))
    return(list(output = res[[1]], cache = list(mask = res[[2]], rate = rate)))
  }
  ms <- nl_dropout_mask_shape(st$config$noise_shape, d)
  keep <- (nl_dropout_runif(st, prod(ms)) >= rate) / (1 - rate)
  dim(keep) <- ms
  if (!identical(as.integer(ms), as.integer(d))) {
    idx <- lapply(seq_along(d), function(k) if (ms[k] == 1L) rep(1L, d[k]) else seq_len(d[k]))
    keep <- do.call(`[`, c(list(keep), idx, list(drop = FALSE)))
  }
  list(output = x * keep, cache = list(scale = keep))
}

#' @export
nl_layer_backward.nl_dropout <- function(layer, cache, dy) {
  if (!is.null(cache$mask)) {
    if (!is.double(dy)) storage.mode(dy) <- "double"
    dx <- nl_dropout_backward_cpp(dy, cache$mask, cache$rate, nl_kernel_threads(dy))
    return(list(dx = dx, grads = list()))
  }
  list(dx = if (is.null(cache$scale)) dy else dy * cache$scale, grads = list())
}
