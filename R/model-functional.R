# Functional models: a graph of layer calls traced from symbolic inputs to
# outputs. A layer used at two places shares its weights.

#' Create a functional model
#'
#' Traces the layers between symbolic `inputs` (from [keras_input()]) and
#' `outputs` into a model. A layer instance used twice appears once and shares
#' its weights.
#'
#' @param inputs A symbolic input, or a list of them.
#' @param outputs A symbolic tensor computed from `inputs`, or a list of them.
#' @param name Optional name of the model.
#' @param ... Must be empty; accepted for compatibility.
#' @returns A functional model (class `nl_functional`), callable on R arrays.
#' @export
#' @family models
#' @examples
#' inputs <- keras_input(shape = 4)
#' norm <- layer_layer_normalization()
#' outputs <- inputs |> norm() |> norm()
#' model <- keras_model(inputs, outputs)
#' model
#' model(matrix(rnorm(8), 2))
keras_model <- function(inputs = NULL, outputs = NULL, name = NULL, ...) {
  nl_with_call(rlang::current_call(), nl_keras_model(inputs, outputs, name, ...))
}

nl_keras_model <- function(inputs = NULL, outputs = NULL, name = NULL, ...) {
  nl_check_dots(list(...))
  as_tensor_list <- function(x, arg) {
    if (inherits(x, "nl_symbolic_tensor")) return(list(x))
    if (is.list(x) && length(x) > 0 && all(vapply(x, inherits, TRUE, "nl_symbolic_tensor"))) return(unname(x))
    nl_abort(c("{.arg {arg}} must be a symbolic tensor or a list of them.",
               x = "You supplied {nl_describe(x)}.",
               i = "Create inputs with {.fn keras_input} and outputs by calling layers on them."),
             "type", call = rlang::caller_env(2))
  }
  ins <- as_tensor_list(inputs, "inputs")
  outs <- as_tensor_list(outputs, "outputs")
  in_ids <- vapply(ins, `[[`, 1L, "id")
  nodes <- list()
  seen <- integer()
  visit <- function(t) {
    if (t$id %in% seen) return(invisible())
    if (t$id %in% in_ids) {
      seen <<- c(seen, t$id)
      return(invisible())
    }
    if (is.null(t$layer)) {
      nl_abort(c("{.arg outputs} are not connected to {.arg inputs}.",
                 x = "Symbolic input {.val {t$name}} is not among {.arg inputs}.",
                 i = "Pass every input the outputs depend on."), "type",
               call = rlang::caller_env(3))
    }
    for (p in t$inputs) visit(p)
    seen <<- c(seen, t$id)
    nodes[[length(nodes) + 1]] <<- list(layer = t$layer,
                                        in_ids = vapply(t$inputs, `[[`, 1L, "id"),
                                        out_id = t$id, shape = t$shape)
  }
  for (o in outs) visit(o)
  layers <- list()
  envs <- list()
  for (nd in nodes) {
    if (!any(vapply(envs, identical, TRUE, nl_state(nd$layer)))) {
      layers[[length(layers) + 1]] <- nd$layer
      envs[[length(envs) + 1]] <- nl_state(nd$layer)
    }
  }
  nms <- vapply(layers, function(l) l$name, "")
  if (anyDuplicated(nms)) {
    nl_abort(c("Layer names must be unique within a model.",
               x = "Name{?s} {.val {unique(nms[duplicated(nms)])}} {?is/are} used by more than one layer."),
             "name")
  }
  model <- nl_new_layer("functional", config = list(), class_name = "Functional", name = name %||% NULL,
                        classes = "nl_model")
  st <- nl_state(model)
  st$inputs <- ins
  st$outputs <- outs
  st$nodes <- nodes
  st$layers <- layers
  st$built <- TRUE
  st$input_shape <- ins[[1]]$shape
  st$input_spec <- list(rank = length(ins[[1]]$shape),
                        axes = stats::setNames(ins[[1]]$shape[-1], seq_along(ins[[1]]$shape)[-1])[!is.na(ins[[1]]$shape[-1])])
  model
}

#' @export
nl_layer_output_shape.nl_functional <- function(layer, input_shape) {
  st <- nl_state(layer)
  if (length(st$outputs) == 1) st$outputs[[1]]$shape else lapply(st$outputs, `[[`, "shape")
}

nl_model_symbolic_shape <- function(model, shapes, call = rlang::caller_env()) {
  if (inherits(model, "nl_sequential")) {
    st <- nl_state(model)
    if (!st$built) nl_layer_prepare(model, shapes[[1]], call = call)
    return(nl_layer_output_shape(model, shapes[[1]]))
  }
  st <- nl_state(model)
  if (length(shapes) != length(st$inputs)) {
    nl_abort("Model {.val {st$name}} takes {length(st$inputs)} input{?s}, not {length(shapes)}.",
             "shape", call = call)
  }
  nl_layer_output_shape(model, shapes[[1]])
}

#' @export
nl_layer_forward.nl_functional <- function(layer, x, training) {
  st <- nl_state(layer)
  if (!is.list(x)) x <- list(x)
  if (length(x) != length(st$inputs)) {
    nl_abort("Model {.val {st$name}} takes {length(st$inputs)} input{?s}, not {length(x)}.", "shape")
  }
  vals <- list()
  for (i in seq_along(st$inputs)) vals[[as.character(st$inputs[[i]]$id)]] <- x[[i]]
  caches <- vector("list", length(st$nodes))
  for (k in seq_along(st$nodes)) {
    nd <- st$nodes[[k]]
    args <- vals[as.character(nd$in_ids)]
    xin <- if (length(args) == 1) args[[1]] else args
    res <- nl_layer_run(nd$layer, xin, training)
    caches[[k]] <- res$cache
    vals[[as.character(nd$out_id)]] <- res$output
  }
  outs <- vals[as.character(vapply(st$outputs, `[[`, 1L, "id"))]
  list(output = if (length(outs) == 1) outs[[1]] else unname(outs), cache = caches)
}

#' @export
nl_layer_backward.nl_functional <- function(layer, cache, dy) {
  st <- nl_state(layer)
  out_ids <- as.character(vapply(st$outputs, `[[`, 1L, "id"))
  if (length(out_ids) == 1) dy <- list(dy)
  grad_of <- stats::setNames(dy, out_ids)
  grads <- list()
  for (k in rev(seq_along(st$nodes))) {
    nd <- st$nodes[[k]]
    g <- grad_of[[as.character(nd$out_id)]]
    if (is.null(g)) next
    res <- nl_layer_backward(nd$layer, cache[[k]], g)
    lg <- nl_prefix_grads(nd$layer, res$grads)
    for (nm in names(lg)) grads[[nm]] <- if (is.null(grads[[nm]])) lg[[nm]] else grads[[nm]] + lg[[nm]]
    dxs <- if (length(nd$in_ids) == 1) list(res$dx) else res$dx
    for (i in seq_along(nd$in_ids)) {
      key <- as.character(nd$in_ids[i])
      grad_of[[key]] <- if (is.null(grad_of[[key]])) dxs[[i]] else grad_of[[key]] + dxs[[i]]
    }
  }
  in_ids <- as.character(vapply(st$inputs, `[[`, 1L, "id"))
  dx <- grad_of[in_ids]
  list(dx = if (length(dx) == 1) dx[[1]] else dx, grads = grads)
}

# get_config() of a functional model, laid out as Keras does: `layers` in graph
# order (inputs first), each with its own config and `inbound_nodes`, one per
# call of the layer, listing the tensors that call consumed; `input_layers` and
# `output_layers` name the model's inputs and outputs. A tensor is referenced
# as list(layer name, node index, tensor index), indices 1-based.
nl_functional_config <- function(model) {
  st <- nl_state(model)
  ref_of <- list()
  entries <- list()
  for (t in st$inputs) {
    ref_of[[as.character(t$id)]] <- list(t$name, 1L, 1L)
    entries[[t$name]] <- list(class_name = "InputLayer", name = t$name,
                              config = list(batch_shape = t$shape, name = t$name),
                              inbound_nodes = list())
  }
  for (nd in st$nodes) {
    nm <- nd$layer$name
    if (is.null(entries[[nm]])) {
      entries[[nm]] <- list(class_name = nl_state(nd$layer)$class_name, name = nm,
                            config = get_config(nd$layer), inbound_nodes = list())
    }
    refs <- unname(lapply(as.character(nd$in_ids), function(id) ref_of[[id]]))
    k <- length(entries[[nm]]$inbound_nodes) + 1L
    entries[[nm]]$inbound_nodes[[k]] <- refs
    ref_of[[as.character(nd$out_id)]] <- list(nm, k, 1L)
  }
  tensor_refs <- function(ts) unname(lapply(ts, function(t) ref_of[[as.character(t$id)]]))
  list(name = st$name, trainable = st$trainable, layers = unname(entries),
       input_layers = tensor_refs(st$inputs), output_layers = tensor_refs(st$outputs))
}

# from_config() for a functional model: recreate the inputs and the layers,
# then replay every call on symbolic tensors. A call can only run once the
# tensors it consumes exist (a shared layer's later call may use layers listed
# after it), so calls run in passes until none is left.
nl_functional_from_config <- function(config, call = rlang::caller_env()) {
  bad <- function(what) {
    nl_abort(c("{.arg config} is not a valid functional model config.",
               x = what, i = "Use a list returned by {.fn get_config} on a functional model."),
             "config", call = call)
  }
  if (!is.list(config$layers) || !is.list(config$input_layers) || !is.list(config$output_layers)) {
    bad("It lacks {.field layers}, {.field input_layers} or {.field output_layers}.")
  }
  key <- function(ref) {
    if (!is.list(ref) || length(ref) < 2) bad("A tensor reference is not list(layer name, node index, tensor index).")
    paste0(ref[[1]], "#", ref[[2]])
  }
  tensors <- list()
  calls <- list()
  for (lc in config$layers) {
    if (identical(lc$class_name, "InputLayer")) {
      tensors[[key(list(lc$name, 1L))]] <- keras_input(batch_shape = lc$config$batch_shape,
                                                       name = lc$name)
      next
    }
    layer <- from_config(lc$config)
    for (j in seq_along(lc$inbound_nodes)) {
      calls[[length(calls) + 1]] <- list(layer = layer, out = key(list(lc$name, j)),
                                         ins = vapply(lc$inbound_nodes[[j]], key, ""))
    }
  }
  while (length(calls) > 0) {
    ready <- vapply(calls, function(cl) all(cl$ins %in% names(tensors)), TRUE)
    if (!any(ready)) bad("Some layer calls consume tensors that no layer or input produces.")
    for (cl in calls[ready]) {
      args <- unname(tensors[cl$ins])
      tensors[[cl$out]] <- cl$layer(if (length(args) == 1) args[[1]] else args)
    }
    calls <- calls[!ready]
  }
  pick <- function(refs) {
    ks <- vapply(refs, key, "")
    if (!all(ks %in% names(tensors))) bad("An input or output names a tensor that is never produced.")
    unname(tensors[ks])
  }
  model <- keras_model(pick(config$input_layers), pick(config$output_layers), name = config$name)
  if (identical(config$trainable, FALSE)) model$trainable <- FALSE
  model
}
