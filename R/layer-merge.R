# Merge layers: several inputs of compatible shapes, one output. Inputs of
# lower rank get size-1 axes after the batch axis (as Keras does), then shapes
# broadcast on the last axes. Forward and backward passes, no weights.

nl_spec_merge <- list(
  list(type = "add", class_name = "Add", constructor = "layer_add"),
  list(type = "subtract", class_name = "Subtract", constructor = "layer_subtract"),
  list(type = "multiply", class_name = "Multiply", constructor = "layer_multiply"),
  list(type = "average", class_name = "Average", constructor = "layer_average"),
  list(type = "maximum", class_name = "Maximum", constructor = "layer_maximum"),
  list(type = "minimum", class_name = "Minimum", constructor = "layer_minimum"),
  list(type = "concatenate", class_name = "Concatenate", constructor = "layer_concatenate",
       config_keys = "axis", print_keys = "axis"),
  # internal layers for arithmetic on symbolic tensors: no Keras class, not in files
  list(type = "divide", class_name = "Divide", constructor = "nl_layer_divide", keras = FALSE),
  list(type = "elementwise", class_name = "Elementwise", constructor = "nl_layer_elementwise",
       config_keys = c("op", "value", "side"), print_keys = c("op", "side"), keras = FALSE)
)

#' Merge layers: add, subtract, multiply, average, maximum, minimum, concatenate
#'
#' These layers combine a list of inputs into one output, as in keras3:
#' `layer_add()` sums them, `layer_subtract()` takes the difference of exactly
#' two, `layer_multiply()` multiplies them, `layer_average()` averages them,
#' `layer_maximum()`/`layer_minimum()` take the element-wise extreme, and
#' `layer_concatenate()` joins them along `axis`. They are how residual
#' connections are written in functional models (`layer_add(h, inputs)`, or
#' simply `h + inputs`), and they have backward passes, so such models train
#' with [fit()].
#'
#' Inputs are given as `inputs` (one input or a list) and/or as further
#' unnamed arguments: `layer_add(x1, x2)` and `layer_add(list(x1, x2))` are
#' the same. With no input, the layer itself is returned, to be called later
#' on a list: `add <- layer_add(); add(list(x1, x2))`. Element-wise merges
#' accept shapes that broadcast (sizes equal or 1 on each axis, counted from
#' the last); all inputs must have the same batch size.
#'
#' @param inputs Symbolic tensors (from [keras_input()] or layers) or R
#'   arrays: one, or a list of them. Missing or `NULL` returns the layer.
#' @param ... More inputs (unnamed), and named base-layer arguments such as
#'   `name`, `trainable` and `dtype`.
#' @param axis For `layer_concatenate()`: the axis to join along (1-based;
#'   `-1`, the default, is the last axis).
#' @returns A symbolic tensor or an array (when inputs are given), else the
#'   layer.
#' @export
#' @family merging layers
#' @examples
#' x1 <- op_ones(c(2, 3))
#' x2 <- op_arange(6) |> op_reshape(c(2, 3))
#' layer_add(x1, x2)
#' layer_concatenate(x1, x2)
#' layer_average(list(x1, x2))
#'
#' # a residual block
#' inputs <- keras_input(shape = 8)
#' h <- inputs |> layer_dense(8, activation = "relu") |> layer_dense(8)
#' outputs <- layer_add(h, inputs) |> layer_layer_normalization()
#' model <- keras_model(inputs, outputs)
#' model
layer_add <- function(inputs, ...) {
  nl_merge_layer("add", if (missing(inputs)) NULL else inputs, list(...))
}

#' @rdname layer_add
#' @export
layer_subtract <- function(inputs, ...) {
  nl_merge_layer("subtract", if (missing(inputs)) NULL else inputs, list(...))
}

#' @rdname layer_add
#' @export
layer_multiply <- function(inputs, ...) {
  nl_merge_layer("multiply", if (missing(inputs)) NULL else inputs, list(...))
}

#' @rdname layer_add
#' @export
layer_average <- function(inputs, ...) {
  nl_merge_layer("average", if (missing(inputs)) NULL else inputs, list(...))
}

#' @rdname layer_add
#' @export
layer_maximum <- function(inputs, ...) {
  nl_merge_layer("maximum", if (missing(inputs)) NULL else inputs, list(...))
}

#' @rdname layer_add
#' @export
layer_minimum <- function(inputs, ...) {
  nl_merge_layer("minimum", if (missing(inputs)) NULL else inputs, list(...))
}

#' @rdname layer_add
#' @export
layer_concatenate <- function(inputs, ..., axis = -1L) {
  nl_merge_layer("concatenate", if (missing(inputs)) NULL else inputs,
                 list(...), config = list(axis = nl_check_axis_arg(axis, "axis", single = TRUE)))
}

# x / y between two symbolic tensors (Keras traces ops.divide).
nl_layer_divide <- function(inputs, ...) {
  nl_merge_layer("divide", if (missing(inputs)) NULL else inputs, list(...))
}

# `x op value` (side = "right") or `value op x` (side = "left") with a constant.
nl_layer_elementwise <- function(inputs, ..., op, value, side = "right") {
  if (!op %in% c("+", "-", "*", "/") || !side %in% c("left", "right")) {
    nl_abort("Unknown element-wise operation {.val {op}} ({side}).", "config")
  }
  v <- nl_op_array(value, "value")
  nl_merge_layer("elementwise", if (missing(inputs)) NULL else inputs,
                 list(...), config = list(op = op, value = v, side = side))
}

nl_scalar_op_tensor <- function(x, op, value, side, call) {
  if (!(is.numeric(value) || is.logical(value)) || is.factor(value) || length(value) == 0) {
    nl_abort(c("Cannot combine a symbolic tensor with {nl_describe(value)}.",
               i = "Use a number, a numeric array or another symbolic tensor."), "type", call = call)
  }
  nl_layer_elementwise(op = op, value = value, side = side)(x)
}

nl_merge_layer <- function(type, inputs, dots, config = list(),
                           call = rlang::caller_env()) {
  nl_with_call(call, {
    nms <- names(dots) %||% rep("", length(dots))
    extra <- dots[nms == ""]
    nl_check_dots(dots[nms != ""], call = call, layer = TRUE)
    if (!is.null(inputs) && (!is.list(inputs) || is.data.frame(inputs) ||
                              inherits(inputs, "nl_symbolic_tensor"))) inputs <- list(inputs)
    inputs <- c(inputs, unname(extra))
    layer <- nl_new_layer(type, config, call = call)
    assign("multi_input", TRUE, envir = nl_state(layer))
    nl_compose(NULL, layer, call = call)
    if (length(inputs)) layer(inputs) else layer
  })
}

# Shapes of the inputs with lower ranks padded by size-1 axes after the batch.
nl_merge_pad_shapes <- function(shapes) {
  r <- max(lengths(shapes))
  lapply(shapes, function(s) if (length(s) < r) c(s[1], rep(1L, r - length(s)), s[-1]) else s)
}

nl_merge_shapes_arg <- function(layer, input_shape, call = rlang::caller_env()) {
  shapes <- if (is.list(input_shape)) input_shape else list(input_shape)
  type <- nl_state(layer)$type
  n <- length(shapes)
  if (n < 1 || (type %in% c("subtract", "divide") && n != 2) ||
      (type == "elementwise" && n != 1)) {
    want <- if (type == "elementwise") "1 input" else if (type %in% c("subtract", "divide")) "exactly 2 inputs" else "a list of inputs"
    nl_abort(c("Layer {.val {layer$name}} needs {want}.",
               x = "It received {n} input{?s}."), "shape", call = call)
  }
  if (any(lengths(shapes) < 1)) {
    nl_abort("Inputs to layer {.val {layer$name}} must have a batch axis.", "shape", call = call)
  }
  shapes
}

#' @export
nl_layer_output_shape.nl_add <- function(layer, input_shape) nl_merge_output_shape(layer, input_shape)
#' @export
nl_layer_output_shape.nl_subtract <- function(layer, input_shape) nl_merge_output_shape(layer, input_shape)
#' @export
nl_layer_output_shape.nl_multiply <- function(layer, input_shape) nl_merge_output_shape(layer, input_shape)
#' @export
nl_layer_output_shape.nl_average <- function(layer, input_shape) nl_merge_output_shape(layer, input_shape)
#' @export
nl_layer_output_shape.nl_maximum <- function(layer, input_shape) nl_merge_output_shape(layer, input_shape)
#' @export
nl_layer_output_shape.nl_minimum <- function(layer, input_shape) nl_merge_output_shape(layer, input_shape)
#' @export
nl_layer_output_shape.nl_divide <- function(layer, input_shape) nl_merge_output_shape(layer, input_shape)

nl_merge_output_shape <- function(layer, input_shape, call = rlang::caller_env()) {
  shapes <- nl_merge_pad_shapes(nl_merge_shapes_arg(layer, input_shape, call = call))
  batch <- unique(stats::na.omit(vapply(shapes, `[`, 1L, 1L)))
  if (length(batch) > 1) {
    nl_abort(c("Cannot merge inputs with different batch sizes.",
               x = "Input shapes: {paste(vapply(shapes, nl_format_shape, ''), collapse = ', ')}."),
             "shape", call = call)
  }
  out <- shapes[[1]][-1]
  for (s in shapes[-1]) out <- nl_merge_broadcast(out, s[-1], shapes, call)
  c(if (length(batch)) batch else NA_integer_, out)
}

nl_merge_broadcast <- function(a, b, shapes, call) {
  tryCatch(nl_broadcast_shape(a, b, call = call), normlayers_error_shape = function(e) {
    nl_abort(c("Inputs to a merge layer have incompatible shapes.",
               x = "Input shapes: {paste(vapply(shapes, nl_format_shape, ''), collapse = ', ')}.",
               i = "Sizes must match, or be 1, on each axis after the batch axis."),
             "shape", call = call)
  })
}

#' @export
nl_layer_output_shape.nl_elementwise <- function(layer, input_shape) {
  shapes <- nl_merge_shapes_arg(layer, input_shape)
  s <- shapes[[1]]
  v <- nl_state(layer)$config$value
  out <- nl_broadcast_shape(s, nl_op_dims(v))
  if (length(out) != length(s) || !identical(is.na(out[1]), is.na(s[1]))) {
    nl_abort(c("A constant of shape {nl_format_shape(nl_op_dims(v))} cannot be combined with a tensor of shape {nl_format_shape(s)}.",
               i = "Use a number, or an array that broadcasts against one sample."), "shape")
  }
  out
}

#' @export
nl_layer_output_shape.nl_concatenate <- function(layer, input_shape) {
  shapes <- nl_merge_shapes_arg(layer, input_shape)
  r <- length(shapes[[1]])
  if (any(lengths(shapes) != r) || r < 2) {
    nl_abort(c("Inputs to layer {.val {layer$name}} must have the same rank (2 or more).",
               x = "Input shapes: {paste(vapply(shapes, nl_format_shape, ''), collapse = ', ')}."),
             "shape")
  }
  ax <- nl_resolve_axes(nl_state(layer)$config$axis, r)
  rest <- do.call(rbind, lapply(shapes, function(s) s[-ax]))
  ok <- apply(rest, 2, function(col) length(unique(stats::na.omit(col))) <= 1)
  if (!all(ok)) {
    nl_abort(c("Inputs to layer {.val {layer$name}} must have the same shape except along {.arg axis} = {ax}.",
               x = "Input shapes: {paste(vapply(shapes, nl_format_shape, ''), collapse = ', ')}."),
             "shape")
  }
  out <- apply(rest, 2, function(col) { v <- stats::na.omit(col); if (length(v)) v[1] else NA_integer_ })
  sizes <- vapply(shapes, `[`, 1L, ax)
  res <- integer(r)
  res[-ax] <- as.integer(out)
  res[ax] <- if (anyNA(sizes)) NA_integer_ else sum(sizes)
  res
}

# The merge forward: x is a list of double arrays.
nl_merge_inputs <- function(layer, x) {
  if (!is.list(x)) x <- list(x)
  nl_merge_output_shape(layer, lapply(x, dim))
  r <- max(vapply(x, function(a) length(dim(a)), 1L))
  lapply(x, function(a) {
    d <- dim(a)
    if (length(d) < r) dim(a) <- c(d[1], rep(1L, r - length(d)), d[-1])
    a
  })
}

# `keep` = whether the backward pass needs the (broadcast) inputs.
nl_merge_forward <- function(layer, x, f, keep = FALSE) {
  xs <- nl_merge_inputs(layer, x)
  d <- Reduce(nl_broadcast_shape, lapply(xs, dim))
  full <- lapply(xs, function(a) if (identical(dim(a), d)) a else nl_broadcast_to(a, d))
  list(output = f(full), cache = list(dims = lapply(x, dim), pdims = lapply(xs, dim),
                                      full = if (keep) full, out_dim = d))
}

nl_merge_grad <- function(g, cache, i) {
  out <- nl_unbroadcast(g, cache$pdims[[i]])
  dim(out) <- cache$dims[[i]]
  out
}

#' @export
nl_layer_forward.nl_add <- function(layer, x, training) {
  nl_merge_forward(layer, x, function(xs) Reduce(`+`, xs))
}
#' @export
nl_layer_backward.nl_add <- function(layer, cache, dy) {
  list(dx = lapply(seq_along(cache$dims), function(i) nl_merge_grad(dy, cache, i)), grads = list())
}

#' @export
nl_layer_forward.nl_subtract <- function(layer, x, training) {
  nl_merge_forward(layer, x, function(xs) xs[[1]] - xs[[2]])
}
#' @export
nl_layer_backward.nl_subtract <- function(layer, cache, dy) {
  list(dx = list(nl_merge_grad(dy, cache, 1), nl_merge_grad(-dy, cache, 2)), grads = list())
}

#' @export
nl_layer_forward.nl_multiply <- function(layer, x, training) {
  nl_merge_forward(layer, x, function(xs) Reduce(`*`, xs), keep = TRUE)
}
#' @export
nl_layer_backward.nl_multiply <- function(layer, cache, dy) {
  n <- length(cache$dims)
  dx <- lapply(seq_len(n), function(i) {
    others <- if (n > 1) Reduce(`*`, cache$full[-i]) else 1
    nl_merge_grad(dy * others, cache, i)
  })
  list(dx = dx, grads = list())
}

#' @export
nl_layer_forward.nl_average <- function(layer, x, training) {
  nl_merge_forward(layer, x, function(xs) Reduce(`+`, xs) / length(xs))
}
#' @export
nl_layer_backward.nl_average <- function(layer, cache, dy) {
  n <- length(cache$dims)
  list(dx = lapply(seq_len(n), function(i) nl_merge_grad(dy / n, cache, i)), grads = list())
}

#' @export
nl_layer_forward.nl_maximum <- function(layer, x, training) {
  nl_merge_forward(layer, x, function(xs) Reduce(pmax, xs), keep = TRUE)
}
#' @export
nl_layer_backward.nl_maximum <- function(layer, cache, dy) nl_extreme_backward(cache, dy, `>`)

#' @export
nl_layer_forward.nl_minimum <- function(layer, x, training) {
  nl_merge_forward(layer, x, function(xs) Reduce(pmin, xs), keep = TRUE)
}
#' @export
nl_layer_backward.nl_minimum <- function(layer, cache, dy) nl_extreme_backward(cache, dy, `<`)

# The gradient goes to the first input holding the extreme value.
nl_extreme_backward <- function(cache, dy, better) {
  n <- length(cache$dims)
  winner <- rep(1L, length(dy))
  best <- as.vector(cache$full[[1]])
  for (i in seq_len(n)[-1]) {
    v <- as.vector(cache$full[[i]])
    take <- better(v, best)
    winner[take] <- i
    best[take] <- v[take]
  }
  dx <- lapply(seq_len(n), function(i) {
    g <- dy * (winner == i)
    dim(g) <- cache$out_dim
    nl_merge_grad(g, cache, i)
  })
  list(dx = dx, grads = list())
}

#' @export
nl_layer_forward.nl_divide <- function(layer, x, training) {
  nl_merge_forward(layer, x, function(xs) xs[[1]] / xs[[2]], keep = TRUE)
}
#' @export
nl_layer_backward.nl_divide <- function(layer, cache, dy) {
  a <- cache$full[[1]]
  b <- cache$full[[2]]
  list(dx = list(nl_merge_grad(dy / b, cache, 1), nl_merge_grad(-dy * a / (b * b), cache, 2)),
       grads = list())
}

#' @export
nl_layer_forward.nl_elementwise <- function(layer, x, training) {
  if (is.list(x)) x <- x[[1]]
  cfg <- nl_state(layer)$config
  d <- nl_broadcast_shape(dim(x), nl_op_dims(cfg$value))
  xf <- nl_broadcast_to(x, d)
  k <- nl_broadcast_to(cfg$value, d)
  y <- if (cfg$side == "right") switch(cfg$op, "+" = xf + k, "-" = xf - k, "*" = xf * k, "/" = xf / k)
       else switch(cfg$op, "+" = k + xf, "-" = k - xf, "*" = k * xf, "/" = k / xf)
  list(output = y, cache = list(x = xf, k = k, dim = dim(x)))
}

#' @export
nl_layer_backward.nl_elementwise <- function(layer, cache, dy) {
  cfg <- nl_state(layer)$config
  g <- switch(cfg$op,
    "+" = dy,
    "-" = if (cfg$side == "right") dy else -dy,
    "*" = dy * cache$k,
    "/" = if (cfg$side == "right") dy / cache$k else -dy * cache$k / (cache$x * cache$x)
  )
  g <- nl_unbroadcast(g, cache$dim)
  list(dx = g, grads = list())
}

#' @export
nl_layer_forward.nl_concatenate <- function(layer, x, training) {
  if (!is.list(x)) x <- list(x)
  nl_layer_output_shape(layer, lapply(x, dim))
  ax <- nl_resolve_axes(nl_state(layer)$config$axis, length(dim(x[[1]])))
  y <- op_concatenate(x, axis = ax)
  list(output = y, cache = list(sizes = vapply(x, function(a) dim(a)[ax], 1L), ax = ax,
                                dims = lapply(x, dim)))
}

#' @export
nl_layer_backward.nl_concatenate <- function(layer, cache, dy) {
  d <- dim(dy)
  r <- length(d)
  ax <- cache$ax
  perm <- c(setdiff(seq_len(r), ax), ax)
  g <- aperm(dy, perm)
  inner <- prod(d[-ax])
  ends <- cumsum(cache$sizes)
  starts <- ends - cache$sizes
  dx <- lapply(seq_along(cache$sizes), function(i) {
    v <- as.vector(g)[(starts[i] * inner + 1):(ends[i] * inner)]
    dim(v) <- c(d[-ax], cache$sizes[i])
    aperm(v, order(perm))
  })
  list(dx = dx, grads = list())
}

