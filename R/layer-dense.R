nl_spec_dense <- list(
  type = "dense", class_name = "Dense", constructor = "layer_dense",
  config_keys = c("units", "activation", "use_bias", "kernel_initializer", "bias_initializer",
                  "kernel_regularizer", "bias_regularizer", "activity_regularizer",
                  "kernel_constraint", "bias_constraint"),
  print_keys = c("units", "activation", "use_bias"),
  # activity_regularizer is always NULL here, as Keras writes it: not in files
  keras = list(write = function(own, cfg) {
    own$activity_regularizer <- NULL
    own
  })
)

#' Densely-connected layer
#'
#' `output = activation(x %*% kernel + bias)`. The kernel has shape
#' `c(in_features, units)` and acts on the last axis of the input: an input of
#' shape `c(batch, d1, ..., in_features)` gives an output of shape
#' `c(batch, d1, ..., units)`. The product, the bias and the built-in
#' activations run in one C++ pass (Eigen) that allocates only the output.
#'
#' @inheritParams layer_layer_normalization
#' @param units Positive whole number: the size of the last axis of the
#'   output.
#' @param activation `NULL` (linear) or an activation name: `"relu"`,
#'   `"sigmoid"`, `"tanh"`, `"softmax"` or `"linear"` (see
#'   [layer_activation()]).
#' @param use_bias Whether the layer adds a bias vector.
#' @param kernel_initializer,bias_initializer Initializers for the kernel
#'   (default `"glorot_uniform"`) and the bias (default `"zeros"`): a string, an
#'   `initializer_*()` object, or an R function of the shape.
#' @param kernel_regularizer,bias_regularizer Optional regularizers; their
#'   penalties are added to the loss during [fit()] and appear in `$losses`.
#' @param activity_regularizer Optional regularizer of the layer's output, as
#'   in Keras 3: during [fit()] and [evaluate()] its penalty on each batch's
#'   output (not divided by the batch size) is added to the loss, and its
#'   gradient flows back through the layer.
#' @param kernel_constraint,bias_constraint Optional constraints, applied after
#'   each optimizer update.
#' @param ... Named base-layer arguments: `dtype` (accepted and ignored) and the
#'   legacy `input_shape` (or `input_dim`). As in Keras 3, passing
#'   `input_shape` to a layer gives a warning; normlayers then builds the layer
#'   for inputs of that shape (without the batch dimension) right away, so its
#'   weights exist at once. Prefer `keras_model_sequential(input_shape = )` or
#'   [keras_input()].
#' @returns A layer, a model, a symbolic tensor or an array, depending on
#'   `object` (see [layer_layer_normalization()]).
#' @section Weights:
#' `kernel` (a matrix `c(in_features, units)`) and, with `use_bias = TRUE`,
#' `bias` (a vector of length `units`), both trainable, in that order.
#' @export
#' @family core layers
#' @examples
#' set.seed(1)
#' dense <- layer_dense(units = 2, activation = "relu")
#' x <- matrix(rnorm(6), 2, 3)
#' dense(x)
#' dim(dense$kernel)
#'
#' model <- keras_model_sequential(input_shape = 3) |>
#'   layer_dense(4, activation = "tanh") |>
#'   layer_layer_normalization() |>
#'   layer_dense(1)
#' model
layer_dense <- function(object, units, activation = NULL, use_bias = TRUE,
                        kernel_initializer = "glorot_uniform", bias_initializer = "zeros",
                        kernel_regularizer = NULL, bias_regularizer = NULL,
                        activity_regularizer = NULL,
                        kernel_constraint = NULL, bias_constraint = NULL,
                        trainable = TRUE, name = NULL, ...) {
  object <- if (missing(object)) NULL else object
  dots <- list(...)
  nl_check_dots(dots, c("dtype", "input_shape", "input_dim"), layer = TRUE)
  if (missing(units)) {
    nl_abort(c("{.arg units} is missing.",
               i = "Give the number of output features, e.g. {.code units = 8}."), "missing")
  }
  config <- list(
    units = nl_check_units(units),
    activation = nl_check_activation(activation),
    use_bias = nl_check_flag(use_bias, "use_bias")
  )
  config <- c(config, nl_family_args(nl_spec_dense$config_keys))
  input_shape <- nl_legacy_input_shape(dots)
  layer <- nl_new_layer("dense", config, name = name, trainable = trainable)
  nl_build_legacy_input_shape(layer, input_shape)
  nl_compose(object, layer)
}

nl_check_units <- function(units, call = rlang::caller_env()) {
  as.integer(nl_check_count(units, "units", min = 1, call = call))
}

# The legacy `input_shape`/`input_dim` base-layer argument: warns like Keras 3
# and returns the shape of one sample (or NULL).
nl_legacy_input_shape <- function(dots, call = rlang::caller_env()) {
  shape <- dots$input_shape %||% dots$input_dim
  if (is.null(shape)) return(NULL)
  shape <- nl_check_shape(shape, if (is.null(dots$input_shape)) "input_dim" else "input_shape",
                          call = call)
  nl_warn(c("Do not pass an {.arg input_shape} argument to a layer.",
            i = "Prefer {.code keras_model_sequential(input_shape = )} or {.fn keras_input} for the first layer.",
            i = "The layer is built for that input shape now."), "deprecated")
  shape
}

nl_build_legacy_input_shape <- function(layer, shape, call = rlang::caller_env()) {
  if (is.null(shape)) return(invisible(layer))
  nl_with_rollback(list(layer), nl_layer_prepare(layer, c(NA_integer_, shape), call = call))
  invisible(layer)
}

#' @export
nl_layer_output_shape.nl_dense <- function(layer, input_shape) {
  r <- length(input_shape)
  if (r < 2) {
    nl_abort(c("Layer {.val {layer$name}} needs an input of rank 2 or more (batch first).",
               x = "The input has shape {nl_format_shape(input_shape)}.",
               i = "Give a matrix with one row per sample."), "shape")
  }
  c(input_shape[-r], nl_state(layer)$config$units)
}

#' @export
nl_layer_build.nl_dense <- function(layer, input_shape) {
  st <- nl_state(layer)
  cfg <- st$config
  r <- length(input_shape)
  fin <- input_shape[r]
  if (is.na(fin)) {
    nl_abort(c("The last axis of the input to layer {.val {st$name}} must have a known size.",
               x = "The input has shape {nl_format_shape(input_shape)}."), "shape")
  }
  nl_add_weight(layer, "kernel", c(fin, cfg$units), cfg$kernel_initializer,
                cfg$kernel_regularizer, cfg$kernel_constraint)
  if (cfg$use_bias) {
    nl_add_weight(layer, "bias", cfg$units, cfg$bias_initializer,
                  cfg$bias_regularizer, cfg$bias_constraint)
  }
  st$input_spec <- list(rank = r, axes = stats::setNames(as.integer(fin), r))
  invisible(layer)
}

#' @export
nl_layer_forward.nl_dense <- function(layer, x, training) {
  st <- nl_state(layer)
  w <- nl_weights_all(st)
  act <- st$config$activation
  code <- nl_activation_code(act)
  if (!is.double(x)) storage.mode(x) <- "double"
  if (is.na(code)) {
    # An activation without a C++ kernel: the linear part in C++, then R.
    z <- nl_dense_forward_cpp(x, w$kernel, w$bias, 0L, nl_kernel_threads(x))
    y <- nl_activation_forward(act, z)
  } else {
    z <- NULL
    y <- nl_dense_forward_cpp(x, w$kernel, w$bias, code, nl_kernel_threads(x))
  }
  activity <- nl_activity_penalty(st$config$activity_regularizer, y)
  list(output = y, cache = list(x = x, z = z, y = y, activity = activity))
}

#' @export
nl_layer_backward.nl_dense <- function(layer, cache, dy) {
  st <- nl_state(layer)
  w <- nl_weights_all(st)
  act <- st$config$activation
  code <- nl_activation_code(act)
  if (!is.double(dy)) storage.mode(dy) <- "double"
  if (isTRUE(cache$activity)) {
    dy <- dy + nl_regularizer_gradient(st$config$activity_regularizer, cache$y)
  }
  if (is.na(code)) {
    dy <- nl_activation_backward(act, cache$z, cache$y, dy)
    code <- 0L
  }
  res <- nl_dense_backward_cpp(cache$x, cache$y, dy, w$kernel, code, !is.null(w$bias),
                               !isTRUE(cache$skip_dx), nl_kernel_threads(cache$x))
  grads <- list(kernel = res$kernel)
  if (!is.null(w$bias)) grads$bias <- res$bias
  list(dx = res$dx, grads = grads)
}
