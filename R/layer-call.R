# A layer's call path: build-or-check for an input shape, the input spec,
# rollback of state on failure, and invoking a layer on arrays or symbolic
# tensors (the eager call).

# Builds (first call) or checks (later calls) a layer for an input shape.
nl_layer_prepare <- function(layer, shape, call = rlang::caller_env()) {
  st <- nl_state(layer)
  if (!st$built) {
    nl_layer_output_shape(layer, shape)
    nl_layer_build(layer, shape)
    unbatch <- function(s) replace(s, 1L, NA_integer_)
    st$input_shape <- if (is.list(shape)) lapply(shape, unbatch) else unbatch(shape)
    st$built <- TRUE
    nl_apply_pending_weights(layer)
  } else {
    nl_check_input_spec(layer, shape, call = call)
  }
  invisible(layer)
}

nl_check_input_spec <- function(layer, shape, call = rlang::caller_env()) {
  st <- nl_state(layer)
  spec <- st$input_spec
  if (is.null(spec)) return(invisible(TRUE))
  expected <- rep(NA_integer_, spec$rank)
  if (length(spec$axes)) expected[as.integer(names(spec$axes))] <- spec$axes
  ok <- length(shape) == spec$rank &&
    all(is.na(expected) | expected == shape[seq_along(expected)])
  if (!ok) {
    nl_abort(c("Input to layer {.val {st$name}} is incompatible with the layer.",
               x = "Expected shape {nl_format_shape(expected)}, but the input has shape {nl_format_shape(shape)}.",
               i = "The layer was built for its first input; create a new layer for inputs of another shape."),
             "shape", call = call)
  }
  invisible(TRUE)
}

# Snapshots and restores the state of layers so a failed call changes nothing.
nl_snapshot <- function(layers) {
  lapply(layers, function(l) {
    st <- nl_state(l)
    list(st = st, values = as.list(st, all.names = TRUE))
  })
}

nl_restore_snapshot <- function(snap) {
  for (s in snap) {
    cur <- ls(s$st, all.names = TRUE)
    rm(list = setdiff(cur, names(s$values)), envir = s$st)
    for (nm in names(s$values)) assign(nm, s$values[[nm]], envir = s$st)
  }
  invisible(NULL)
}

nl_with_rollback <- function(layers, expr) {
  snap <- nl_snapshot(layers)
  ok <- FALSE
  on.exit(if (!ok) nl_restore_snapshot(snap), add = TRUE)
  res <- expr
  ok <- TRUE
  res
}

# Runs a layer eagerly on a double array: builds or checks, then forward.
nl_layer_run <- function(layer, x, training = FALSE, call = rlang::caller_env(),
                         mask = NULL) {
  shape <- if (!is.list(x)) dim(x) else if (nl_is_multi_input(layer)) lapply(x, dim) else dim(x[[1]])
  nl_layer_prepare(layer, shape, call = call)
  if (!is.null(mask)) return(nl_layer_forward_masked(layer, x, isTRUE(training), mask))
  nl_layer_forward(layer, x, isTRUE(training))
}

nl_resolve_training <- function(training, call = rlang::caller_env()) {
  if (is.null(training)) return(FALSE)
  nl_check_flag(training, "training", null_ok = TRUE, call = call)
}

# What happens when a layer (or model) is called with an object.
nl_layer_invoke <- function(layer, object, ..., training = NULL,
                            call = rlang::caller_env()) {
  nl_with_call(call, nl_layer_invoke_impl(layer, object, ..., training = training, call = call))
}

nl_layer_invoke_impl <- function(layer, object, ..., training = NULL, call) {
  if (missing(object) || is.null(object)) {
    nl_abort(c("A layer must be called with an input.",
               i = "Pass an array, a data frame, a symbolic tensor or a sequential model."),
             "type", call = call)
  }
  training <- nl_resolve_training(training, call = call)
  if (inherits(object, "nl_sequential")) {
    if (...length() > 0) nl_warn("Arguments passed via {.arg ...} are ignored when adding a layer to a model.", "argument")
    nl_sequential_add(object, layer, call = call)
    return(invisible(object))
  }
  dots <- list(...)
  nl_check_dots(dots, "mask", call = call)
  mask <- dots$mask
  if (inherits(object, "nl_symbolic_tensor") ||
      (is.list(object) && !is.data.frame(object) && length(object) > 0 &&
       all(vapply(object, inherits, logical(1), "nl_symbolic_tensor")))) {
    if (!is.null(mask)) {
      nl_abort(c("{.arg mask} is supported when a layer is called on an array, not on a symbolic tensor.",
                 i = "Call the layer on the data itself, e.g. {.code layer(x, training = TRUE, mask = m)}."),
               "argument", call = call)
    }
    return(nl_symbolic_call(layer, object, call = call))
  }
  if (!is.null(mask) && inherits(layer, "nl_model")) {
    nl_abort(c("{.arg mask} is supported when calling a layer, not a model.",
               i = "Call the BatchNormalization layer itself with {.arg mask}."),
             "argument", call = call)
  }
  if (inherits(object, "nl_model") || inherits(object, "nl_layer")) {
    nl_abort(c("Cannot call a layer on a layer or a functional model.",
               i = "Only a sequential model can take a layer: use {.fn keras_model_sequential}."),
             "type", call = call)
  }
  nl_layer_call_eager(layer, object, training = training, call = call, mask = mask)
}

nl_layer_call_eager <- function(layer, object, training = FALSE, call = rlang::caller_env(),
                                mask = NULL) {
  if (!training && is.null(mask) && is.data.frame(object)) {
    # Layers that read a data frame's columns directly (nl_layer_infer_frame()).
    out <- nl_layer_infer_frame(layer, object, call = call)
    if (!is.null(out)) return(out)
  }
  if ((inherits(layer, "nl_model") || nl_is_multi_input(layer)) && is.list(object) &&
      !is.data.frame(object)) {
    infos <- lapply(object, nl_as_input, arg = "object", call = call)
    x <- lapply(infos, `[[`, "x")
    info <- infos[[1]]
  } else {
    info <- nl_as_input(object, arg = "object", call = call)
    x <- info$x
  }
  if (!training && is.null(mask) && !is.list(x)) {
    # Inference on one array: layers may write over an input that is theirs
    # (nl_layer_infer()), the array converted from a data frame included.
    out <- nl_with_rollback(nl_all_layers(layer),
                            nl_layer_run_infer(layer, x, isTRUE(info$owned), call = call))
    return(nl_restore_output(out, info))
  }
  res <- nl_with_rollback(nl_all_layers(layer),
                          nl_layer_run(layer, x, training, call = call, mask = mask))
  nl_restore_output(res$output, info)
}
