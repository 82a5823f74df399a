# Activation functions (forward and backward) and the Activation layer.
# The same table serves `layer_activation()` and the `activation =` argument
# of `layer_dense()`.

nl_spec_activation <- list(
  type = "activation", class_name = "Activation", constructor = "layer_activation",
  config_keys = "activation", print_keys = "activation"
)

# Reshapes an array to a matrix whose columns are the last axis. Column-major
# memory makes this free: row i holds position i of the leading axes.
nl_as_last_axis_matrix <- function(x) {
  d <- dim(x)
  r <- length(d)
  dim(x) <- c(prod(d[-r]), d[r])
  x
}

nl_softmax_rows <- function(m) {
  e <- exp(m - apply(m, 1, max))
  e / rowSums(e)
}

# Each entry: forward(x) -> y; backward(x, y, dy) -> dx (x is the input).
nl_activations <- list(
  linear = list(
    forward = function(x) x,
    backward = function(x, y, dy) dy
  ),
  relu = list(
    forward = function(x) { x[x < 0] <- 0; x },
    backward = function(x, y, dy) dy * (x > 0)
  ),
  sigmoid = list(
    forward = function(x) 1 / (1 + exp(-x)),
    backward = function(x, y, dy) dy * y * (1 - y)
  ),
  tanh = list(
    forward = function(x) tanh(x),
    backward = function(x, y, dy) dy * (1 - y^2)
  ),
  softmax = list(
    forward = function(x) {
      d <- dim(x)
      y <- nl_softmax_rows(nl_as_last_axis_matrix(x))
      dim(y) <- d
      y
    },
    backward = function(x, y, dy) {
      d <- dim(y)
      ym <- nl_as_last_axis_matrix(y)
      gm <- nl_as_last_axis_matrix(dy)
      dx <- ym * (gm - rowSums(gm * ym))
      dim(dx) <- d
      dx
    }
  ),
  # The other activations Keras writes by name, with Keras 3's constants.
  elu = list(
    forward = function(x) ifelse(x > 0, x, expm1(x)),
    backward = function(x, y, dy) dy * ifelse(x > 0, 1, y + 1)
  ),
  selu = list(
    forward = function(x) nl_selu_scale * ifelse(x > 0, x, nl_selu_alpha * expm1(x)),
    backward = function(x, y, dy) dy * ifelse(x > 0, nl_selu_scale, y + nl_selu_scale * nl_selu_alpha)
  ),
  gelu = list(
    forward = function(x) x * stats::pnorm(x),
    backward = function(x, y, dy) dy * (stats::pnorm(x) + x * stats::dnorm(x))
  ),
  silu = list(
    forward = function(x) x * stats::plogis(x),
    backward = function(x, y, dy) {
      s <- stats::plogis(x)
      dy * s * (1 + x * (1 - s))
    }
  ),
  leaky_relu = list(
    forward = function(x) ifelse(x > 0, x, 0.2 * x),
    backward = function(x, y, dy) dy * ifelse(x > 0, 1, 0.2)
  ),
  softplus = list(
    forward = function(x) pmax(x, 0) + log1p(exp(-abs(x))),
    backward = function(x, y, dy) dy * stats::plogis(x)
  ),
  softsign = list(
    forward = function(x) x / (1 + abs(x)),
    backward = function(x, y, dy) dy / (1 + abs(x))^2
  ),
  exponential = list(
    forward = function(x) exp(x),
    backward = function(x, y, dy) dy * y
  ),
  hard_sigmoid = list(
    forward = function(x) pmin(pmax(x + 3, 0), 6) / 6,
    backward = function(x, y, dy) dy * (x > -3 & x < 3) / 6
  ),
  hard_silu = list(
    forward = function(x) x * pmin(pmax(x + 3, 0), 6) / 6,
    backward = function(x, y, dy) dy * (pmin(pmax(x + 3, 0), 6) / 6 + x * (x > -3 & x < 3) / 6)
  ),
  relu6 = list(
    forward = function(x) pmin(pmax(x, 0), 6),
    backward = function(x, y, dy) dy * (x > 0 & x < 6)
  ),
  mish = list(
    forward = function(x) x * tanh(pmax(x, 0) + log1p(exp(-abs(x)))),
    backward = function(x, y, dy) {
      t <- tanh(pmax(x, 0) + log1p(exp(-abs(x))))
      dy * (t + x * (1 - t^2) * stats::plogis(x))
    }
  ),
  log_sigmoid = list(
    forward = function(x) -(pmax(-x, 0) + log1p(exp(-abs(x)))),
    backward = function(x, y, dy) dy * stats::plogis(-x)
  ),
  log_softmax = list(
    forward = function(x) {
      d <- dim(x)
      m <- nl_as_last_axis_matrix(x)
      mx <- apply(m, 1, max)
      y <- m - mx - log(rowSums(exp(m - mx)))
      dim(y) <- d
      y
    },
    backward = function(x, y, dy) {
      d <- dim(y)
      gm <- nl_as_last_axis_matrix(dy)
      dx <- gm - exp(nl_as_last_axis_matrix(y)) * rowSums(gm)
      dim(dx) <- d
      dx
    }
  ),
  hard_tanh = list(
    forward = function(x) pmin(pmax(x, -1), 1),
    backward = function(x, y, dy) dy * (abs(x) < 1)
  ),
  tanh_shrink = list(
    forward = function(x) x - tanh(x),
    backward = function(x, y, dy) dy * tanh(x)^2
  )
)
nl_activations$swish <- nl_activations$silu
nl_activations$hard_swish <- nl_activations$hard_silu

nl_selu_alpha <- 1.6732632423543772848170429916717
nl_selu_scale <- 1.0507009873554804934193349852946

# Resolves an `activation` argument: NULL means "linear".
nl_check_activation <- function(activation, arg = "activation", call = rlang::caller_env()) {
  if (is.null(activation)) return("linear")
  known <- names(nl_activations)
  if (!is.character(activation) || length(activation) != 1 || is.na(activation)) {
    nl_abort(c("{.arg {arg}} must be the name of an activation function.",
               x = "You supplied {nl_describe(activation)}.",
               i = "Use one of {.val {known}}."), "value", call = call)
  }
  if (!activation %in% known) {
    nl_abort(c("Unknown activation {.val {activation}}.",
               i = "Use one of {.val {known}}."), "value", call = call)
  }
  activation
}

# Activations with a C++ kernel (src/dense.cpp): one allocation of the
# output's size, derivatives from the output y. Others use the R table.
nl_activation_codes <- c(linear = 0L, relu = 1L, sigmoid = 2L, tanh = 3L, softmax = 4L)

nl_activation_code <- function(name) {
  switch(name, linear = 0L, relu = 1L, sigmoid = 2L, tanh = 3L, softmax = 4L, NA_integer_)
}

nl_activation_forward <- function(name, x) {
  if (identical(name, "linear")) return(x)
  code <- nl_activation_code(name)
  if (!is.na(code) && is.double(x)) {
    return(nl_activation_forward_cpp(x, code, nl_kernel_threads(x)))
  }
  nl_activations[[name]]$forward(x)
}

nl_activation_backward <- function(name, x, y, dy) {
  if (identical(name, "linear")) return(dy)
  code <- nl_activation_code(name)
  if (!is.na(code) && is.double(y) && is.double(dy)) {
    return(nl_activation_backward_cpp(y, dy, code, nl_kernel_threads(y)))
  }
  nl_activations[[name]]$backward(x, y, dy)
}

#' Apply an activation function to an output
#'
#' A layer without weights that applies an activation function element-wise
#' (`"softmax"` over the last axis).
#'
#' @inheritParams layer_layer_normalization
#' @param activation The activation function, by name: `"relu"`
#'   (`max(x, 0)`), `"sigmoid"` (`1 / (1 + exp(-x))`), `"tanh"`, `"softmax"`
#'   (over the last axis) or `"linear"` (the identity), or one of the other
#'   names Keras writes: `"elu"`, `"selu"`, `"gelu"` (exact, `x * pnorm(x)`),
#'   `"silu"` (alias `"swish"`), `"leaky_relu"` (slope 0.2), `"softplus"`,
#'   `"softsign"`, `"exponential"`, `"hard_sigmoid"` (Keras 3:
#'   `relu6(x + 3) / 6`), `"hard_silu"` (alias `"hard_swish"`), `"relu6"`,
#'   `"mish"`, `"log_sigmoid"`, `"log_softmax"` (over the last axis),
#'   `"hard_tanh"` and `"tanh_shrink"`. `NULL` means `"linear"`. The same names are accepted by the `activation` argument of
#'   [layer_dense()].
#' @param ... Named base-layer arguments: `name`, `trainable`, `dtype`
#'   (accepted and ignored) and the legacy `input_shape` (see [layer_dense()]).
#' @returns A layer, a model, a symbolic tensor or an array, depending on
#'   `object` (see [layer_layer_normalization()]).
#' @export
#' @family core layers
#' @examples
#' x <- rbind(c(-1, 0, 2), c(3, -4, 5))
#' layer_activation(x, "relu")
#' layer_activation(x, "softmax")
#'
#' model <- keras_model_sequential(input_shape = 3) |>
#'   layer_dense(2) |>
#'   layer_activation("sigmoid")
#' model
layer_activation <- function(object, activation, ...) {
  object <- if (missing(object)) NULL else object
  dots <- list(...)
  nl_check_dots(dots, c("name", "trainable", "dtype", "input_shape", "input_dim"), layer = TRUE)
  if (missing(activation)) {
    nl_abort(c("{.arg activation} is missing.",
               i = "Give an activation name such as {.val relu}."), "missing")
  }
  config <- list(activation = nl_check_activation(activation))
  input_shape <- nl_legacy_input_shape(dots)
  layer <- nl_new_layer("activation", config, name = dots$name,
                        trainable = dots$trainable %||% TRUE)
  nl_build_legacy_input_shape(layer, input_shape)
  nl_compose(object, layer)
}

#' @export
nl_layer_forward.nl_activation <- function(layer, x, training) {
  act <- nl_state(layer)$config$activation
  y <- nl_activation_forward(act, x)
  # The built-in derivatives need only y; x is kept for the others.
  list(output = y, cache = list(x = if (is.na(nl_activation_code(act))) x, y = y))
}

#' @export
nl_layer_backward.nl_activation <- function(layer, cache, dy) {
  act <- nl_state(layer)$config$activation
  list(dx = nl_activation_backward(act, cache$x, cache$y, dy), grads = list())
}

#' @export
nl_layer_output_shape.nl_activation <- function(layer, input_shape) {
  if (identical(nl_state(layer)$config$activation, "softmax") && length(input_shape) < 1) {
    nl_abort("Softmax needs an input with at least one axis.", "shape")
  }
  input_shape
}
