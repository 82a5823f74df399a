# Symbolic tensors: placeholders with a shape (batch size NA) that record which
# layer produced them, so that keras_model() can trace a graph.

.nl_tensor_counter <- new.env(parent = emptyenv())

nl_new_symbolic <- function(shape, layer = NULL, inputs = list(), name = NULL) {
  id <- (if (is.null(.nl_tensor_counter$n)) 0L else .nl_tensor_counter$n) + 1L
  .nl_tensor_counter$n <- id
  if (is.null(name)) name <- nl_unique_name("keras_tensor")
  structure(list(shape = as.integer(shape), name = name, id = id, layer = layer,
                 inputs = inputs),
            class = "nl_symbolic_tensor")
}

#' Create a symbolic input
#'
#' `keras_input()` (alias `layer_input()`) creates a symbolic tensor that stands
#' for a batch of inputs of a given shape. Calling layers on it gives symbolic
#' outputs, and [keras_model()] turns inputs and outputs into a model.
#'
#' @param shape The shape of one sample, without the batch dimension: a vector
#'   of positive whole numbers (`NA` for an unknown size).
#' @param batch_size Optional fixed batch size.
#' @param dtype Accepted for compatibility; normlayers computes in double.
#' @param sparse,ragged,tensor,optional Accepted for compatibility with keras3
#'   (only the defaults are supported).
#' @param batch_shape A full shape including the batch dimension, used instead
#'   of `shape` and `batch_size`.
#' @param name Optional name of the input.
#' @returns A symbolic tensor (class `nl_symbolic_tensor`).
#' @export
#' @family models
#' @examples
#' inputs <- keras_input(shape = 3)
#' inputs
#' outputs <- inputs |> layer_layer_normalization()
#' outputs
keras_input <- function(shape = NULL, batch_size = NULL, dtype = NULL, sparse = NULL,
                        ragged = NULL, batch_shape = NULL, name = NULL, tensor = NULL,
                        optional = FALSE) {
  if (!is.null(batch_shape)) {
    full <- nl_check_shape(batch_shape, "batch_shape")
  } else {
    if (is.null(shape)) {
      nl_abort(c("{.arg shape} must be given.",
                 i = "Give the shape of one sample, e.g. {.code shape = 3}."), "shape")
    }
    shape <- nl_check_shape(shape, "shape")
    bs <- if (is.null(batch_size)) NA_integer_ else nl_check_shape(batch_size, "batch_size")
    full <- c(bs, shape)
  }
  unsupported <- c(sparse = !is.null(sparse) && !identical(sparse, FALSE),
                   ragged = !is.null(ragged) && !identical(ragged, FALSE),
                   tensor = !is.null(tensor), optional = !identical(optional, FALSE))
  if (any(unsupported)) {
    bad <- names(unsupported)[unsupported]
    nl_abort(c("{.arg {bad}} {?is/are} not supported by normlayers.",
               x = "normlayers inputs are dense R arrays: no sparse, ragged, optional or tensor-backed inputs.",
               i = "Leave {.arg {bad}} at {?its/their} default{?s} ({.code NULL}/{.code FALSE})."),
             "unsupported")
  }
  if (!is.null(dtype)) nl_check_layer_dtype(dtype, "dtype")
  nl_new_symbolic(full, name = name %||% nl_unique_name("input_layer"))
}

#' @rdname keras_input
#' @export
layer_input <- keras_input

#' @export
print.nl_symbolic_tensor <- function(x, ...) {
  cat(sprintf("<KerasTensor shape=%s, dtype=float64, name=%s>\n",
              nl_format_shape(x$shape), x$name))
  invisible(x)
}

#' @export
dim.nl_symbolic_tensor <- function(x) x$shape

# A layer called on a symbolic tensor: infer the output shape, build the layer
# if it is not built yet, and record the node.
nl_symbolic_call <- function(layer, object, call = rlang::caller_env()) {
  inputs <- if (inherits(object, "nl_symbolic_tensor")) list(object) else unname(object)
  multi <- nl_is_multi_input(layer)
  if (!inherits(layer, "nl_model") && !multi && length(inputs) != 1) {
    nl_abort("Layer {.val {layer$name}} takes one input, not {length(inputs)}.", "shape", call = call)
  }
  shapes <- lapply(inputs, `[[`, "shape")
  out_shape <- nl_with_rollback(nl_all_layers(layer), {
    st <- nl_state(layer)
    if (inherits(layer, "nl_model")) {
      nl_model_symbolic_shape(layer, shapes, call = call)
    } else if (multi) {
      if (!st$built) nl_layer_prepare(layer, shapes, call = call)
      nl_layer_output_shape(layer, shapes)
    } else {
      if (!st$built) {
        nl_layer_prepare(layer, shapes[[1]], call = call)
      } else {
        nl_check_input_spec(layer, shapes[[1]], call = call)
      }
      nl_layer_output_shape(layer, shapes[[1]])
    }
  })
  nl_new_symbolic(out_shape, layer = layer, inputs = inputs)
}

#' @export
c.nl_symbolic_tensor <- function(...) {
  # keras3 code writes keras_model(inputs = c(input1, input2), ...): a list of
  # tensors, not their fields spliced together
  list(...)
}

#' Arithmetic on symbolic tensors
#'
#' `+`, `-`, `*` and `/` between two symbolic tensors, or between a symbolic
#' tensor and a number (or an array that broadcasts against it), add a layer
#' to the model being traced, as in keras3: `x + y` is [layer_add()],
#' `x - y` [layer_subtract()], `x * y` [layer_multiply()], and `x / y`,
#' `x + 1`, `2 * x`, `-x`, ... an element-wise layer. Shapes broadcast as in
#' Keras (aligned on the last axis). The layers have backward passes, so
#' residual connections such as `outputs <- h + inputs` train with [fit()].
#'
#' @param e1,e2 Symbolic tensors, numbers or numeric arrays.
#' @returns A symbolic tensor.
#' @name symbolic-arithmetic
#' @family merging layers
#' @examples
#' inputs <- keras_input(shape = 4)
#' h <- inputs |> layer_dense(4) |> layer_layer_normalization()
#' outputs <- (h + inputs) * 0.5
#' model <- keras_model(inputs, outputs)
#' model(matrix(1:8, 2))
NULL

#' @rdname symbolic-arithmetic
#' @export
Ops.nl_symbolic_tensor <- function(e1, e2) {
  op <- .Generic
  call <- sys.call()
  nl_with_call(call, {
    if (!op %in% c("+", "-", "*", "/")) {
      nl_abort(c("{.code {op}} is not supported on symbolic tensors.",
                 i = "Symbolic tensors support {.code +}, {.code -}, {.code *} and {.code /}."),
               "unsupported", call = call)
    }
    if (missing(e2)) {
      if (op == "+") return(e1)
      if (op == "-") return(nl_scalar_op_tensor(e1, "*", -1, "right", call))
      nl_abort("Unary {.code {op}} is not defined.", "unsupported", call = call)
    }
    s1 <- inherits(e1, "nl_symbolic_tensor")
    s2 <- inherits(e2, "nl_symbolic_tensor")
    if (s1 && s2) {
      layer <- switch(op, "+" = layer_add(), "-" = layer_subtract(), "*" = layer_multiply(),
                      "/" = nl_layer_divide())
      return(layer(list(e1, e2)))
    }
    if (s1) nl_scalar_op_tensor(e1, op, e2, "right", call) else nl_scalar_op_tensor(e2, op, e1, "left", call)
  })
}
