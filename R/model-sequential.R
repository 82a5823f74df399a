# Sequential models: an ordered stack of layers, itself a callable layer.

#' Create a sequential model
#'
#' A sequential model is a stack of layers, each taking the output of the one
#' before. Layers are appended in place by piping the model into `layer_*()`
#' functions (or with `model$add(layer)`). The model is a function: `model(x)`
#' runs it on an R array.
#'
#' The signature is keras3's. The `input_*` arguments describe the model's
#' input (keras3 makes an input layer from them): giving `input_shape` (or
#' `input_batch_shape`) builds each layer as soon as it is added. Without
#' them, a first layer created with `input_shape =` gives the model its input
#' shape, as in keras3; otherwise the model is built when it first sees data.
#'
#' @param input_shape Optional shape of one sample, without the batch
#'   dimension: a vector of whole numbers (`NA` for an unknown size) or a
#'   [shape()].
#' @param name Optional name of the model.
#' @param ... Must be empty; accepted for compatibility.
#' @param input_dtype `NULL` or a floating-point type (`"float32"`,
#'   `"float64"`); normlayers computes in double precision. Other types are
#'   refused.
#' @param input_batch_size Optional fixed batch size.
#' @param input_batch_shape Optional full input shape, batch dimension first,
#'   used instead of `input_shape` and `input_batch_size`.
#' @param input_name Optional name of the model's input.
#' @param input_sparse,input_ragged,input_tensor,input_optional Accepted for
#'   compatibility with keras3 with their defaults only (`NULL`/`FALSE`):
#'   normlayers has no sparse, ragged, optional or pre-existing input tensors,
#'   and other values are refused with an error of class
#'   `normlayers_error_unsupported`.
#' @param trainable Whether the model's weights are trainable.
#' @param layers A list of layers to add.
#' @returns A sequential model (class `nl_sequential`).
#' @export
#' @family models
#' @examples
#' model <- keras_model_sequential(input_shape = 3) |>
#'   layer_layer_normalization() |>
#'   layer_layer_normalization(center = FALSE)
#' model
#' model(matrix(1:6, 2))
#'
#' # keras3's input_* arguments, and $add()
#' model <- keras_model_sequential(input_batch_shape = shape(NA, 4), name = "mlp")
#' model$add(layer_dense(units = 2))
#' model
keras_model_sequential <- function(input_shape = NULL, name = NULL, ...,
                                   input_dtype = NULL, input_batch_size = NULL,
                                   input_sparse = NULL, input_ragged = NULL,
                                   input_batch_shape = NULL, input_name = NULL,
                                   input_tensor = NULL, input_optional = FALSE,
                                   trainable = TRUE, layers = list()) {
  nl_check_dots(list(...))
  if (nl_is_layer(input_shape) ||
      (is.list(input_shape) && !inherits(input_shape, "keras_shape") &&
       any(vapply(input_shape, nl_is_layer, TRUE)))) {
    nl_abort(c("{.arg layers} must be passed as a named argument.",
               x = "The first argument, {.arg input_shape}, received a layer.",
               i = "Use {.code keras_model_sequential(layers = list(...))}."), "type")
  }
  unsupported <- list(input_sparse = !is.null(input_sparse) && !identical(input_sparse, FALSE),
                      input_ragged = !is.null(input_ragged) && !identical(input_ragged, FALSE),
                      input_tensor = !is.null(input_tensor),
                      input_optional = !identical(input_optional, FALSE))
  bad <- names(unsupported)[unlist(unsupported)]
  if (length(bad)) {
    nl_abort(c("{.arg {bad}} {?is/are} not supported by normlayers.",
               x = "normlayers models take dense R arrays: no sparse, ragged, optional or pre-existing input tensors.",
               i = "Leave {.arg {bad}} at {?its/their} default{?s} ({.code NULL}/{.code FALSE})."),
             "unsupported")
  }
  if (!is.null(input_dtype)) nl_check_layer_dtype(input_dtype, "input_dtype")
  if (!is.null(input_name)) nl_check_name(input_name, "input_layer")
  shape <- NULL
  if (!is.null(input_batch_shape)) {
    if (!is.null(input_shape) || !is.null(input_batch_size)) {
      nl_abort(c("Give either {.arg input_batch_shape} or {.arg input_shape} (with {.arg input_batch_size}), not both.",
                 i = "{.arg input_batch_shape} includes the batch dimension."), "argument")
    }
    shape <- nl_check_shape(input_batch_shape, "input_batch_shape")
    if (length(shape) < 2) {
      nl_abort(c("{.arg input_batch_shape} must include the batch dimension and at least one more.",
                 x = "You supplied {format(shape(shape))}.",
                 i = "Use e.g. {.code shape(NA, 4)}."), "shape")
    }
  } else if (!is.null(input_shape)) {
    shape <- c(if (is.null(input_batch_size)) NA_integer_
               else nl_check_shape(input_batch_size, "input_batch_size"),
               nl_check_shape(input_shape, "input_shape"))
  } else if (!is.null(input_batch_size)) {
    nl_check_shape(input_batch_size, "input_batch_size")
  }
  model <- nl_new_layer("sequential", config = list(), class_name = "Sequential", name = name,
                        trainable = trainable, classes = "nl_model")
  st <- nl_state(model)
  st$layers <- list()
  st$declared_shape <- shape
  st$input_name <- input_name
  if (!is.null(shape)) {
    st$built <- TRUE
    st$input_shape <- shape
  }
  if (nl_is_layer(layers)) layers <- list(layers)
  for (l in layers) nl_sequential_add(model, l)
  model
}

nl_sequential_add <- function(model, layer, call = rlang::caller_env()) {
  if (!nl_is_layer(layer)) {
    nl_abort(c("Only layers can be added to a sequential model.",
               x = "You supplied {nl_describe(layer)}."), "type", call = call)
  }
  st <- nl_state(model)
  if (identical(nl_state(layer), st)) {
    nl_abort("A model cannot be added to itself.", "type", call = call)
  }
  names_in <- vapply(nl_model_flat_layers(model), function(l) l$name, "")
  new_names <- vapply(nl_all_layers(layer), function(l) l$name, "")
  if (inherits(layer, "nl_model")) new_names <- new_names[-1]
  clash <- intersect(new_names, names_in)
  if (length(clash) || layer$name %in% names_in) {
    clash <- unique(c(clash, intersect(layer$name, names_in)))
    nl_abort(c("Layer names must be unique within a model.",
               x = "Model {.val {st$name}} already has a layer named {.val {clash}}.",
               i = "Give the new layer another {.arg name}, or create a new layer instead of reusing one."),
             "name", call = call)
  }
  # keras3: a first layer created with `input_shape =` gives the model its input
  if (is.null(st$input_shape) && length(st$layers) == 0 &&
      isTRUE(nl_state(layer)$declared_input)) {
    st$layers <- list(layer)
    st$input_shape <- nl_state(layer)$input_shape
    st$declared_shape <- st$input_shape
    st$built <- TRUE
    return(invisible(model))
  }
  if (!is.null(st$input_shape)) {
    shape <- nl_sequential_output_shape(model)
    nl_with_rollback(nl_all_layers(layer), {
      if (!nl_state(layer)$built) nl_layer_prepare(layer, shape, call = call)
      else nl_check_input_spec(layer, shape, call = call)
    })
  }
  st$layers <- c(st$layers, list(layer))
  invisible(model)
}

nl_sequential_output_shape <- function(model, shape = nl_state(model)$input_shape) {
  for (l in nl_state(model)$layers) shape <- nl_layer_output_shape(l, shape)
  shape
}

#' @export
nl_layer_output_shape.nl_sequential <- function(layer, input_shape) {
  for (l in nl_state(layer)$layers) input_shape <- nl_layer_output_shape(l, input_shape)
  input_shape
}

#' @export
nl_layer_build.nl_sequential <- function(layer, input_shape) {
  shape <- input_shape
  for (l in nl_state(layer)$layers) {
    nl_layer_prepare(l, shape)
    shape <- nl_layer_output_shape(l, shape)
  }
  invisible(layer)
}

#' @export
nl_layer_forward.nl_sequential <- function(layer, x, training) {
  caches <- vector("list", length(nl_state(layer)$layers))
  for (i in seq_along(caches)) {
    l <- nl_state(layer)$layers[[i]]
    res <- nl_layer_run(l, x, training)
    caches[[i]] <- res$cache
    x <- res$output
  }
  list(output = x, cache = caches)
}

#' @export
nl_layer_backward.nl_sequential <- function(layer, cache, dy) {
  layers <- nl_state(layer)$layers
  grads <- list()
  for (i in rev(seq_along(layers))) {
    res <- nl_layer_backward(layers[[i]], cache[[i]], dy)
    grads <- c(nl_prefix_grads(layers[[i]], res$grads), grads)
    dy <- res$dx
  }
  list(dx = dy, grads = grads)
}

# Gradients of a layer keyed "<layer name>/<weight name>"; a model's (and a
# wrapper's) are already keyed.
nl_prefix_grads <- function(layer, grads) {
  if (length(grads) == 0 || inherits(layer, c("nl_model", "nl_wrapper"))) return(grads)
  names(grads) <- paste0(layer$name, "/", names(grads))
  grads
}
