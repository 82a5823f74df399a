# Sequential models: an ordered stack of layers, itself a callable layer.

#' Create a sequential model
#'
#' A sequential model is a stack of layers, each taking the output of the one
#' before. Layers are appended in place by piping the model into `layer_*()`
#' functions. The model is a function: `model(x)` runs it on an R array.
#'
#' @param input_shape Optional shape of one sample, without the batch
#'   dimension. With it, each layer is built as soon as it is added.
#' @param name Optional name of the model.
#' @param ... Must be empty; accepted for compatibility.
#' @param input_batch_size Optional fixed batch size.
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
keras_model_sequential <- function(input_shape = NULL, name = NULL, ...,
                                   input_batch_size = NULL, trainable = TRUE,
                                   layers = list()) {
  nl_check_dots(list(...))
  shape <- NULL
  if (!is.null(input_shape)) {
    shape <- c(if (is.null(input_batch_size)) NA_integer_
               else nl_check_shape(input_batch_size, "input_batch_size"),
               nl_check_shape(input_shape, "input_shape"))
  }
  model <- nl_new_layer("sequential", "Sequential", config = list(), name = name,
                        trainable = trainable, classes = "nl_model")
  st <- nl_state(model)
  st$layers <- list()
  st$declared_shape <- shape
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
