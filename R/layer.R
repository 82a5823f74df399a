# The layer object. A layer is a function `function(object, ..., training = NULL)`
# whose closure environment holds its mutable state (weights, config, build
# status). Per-type behaviour is S3 on the layer's first class.

nl_new_layer <- function(type, class_name, config, name = NULL, trainable = TRUE,
                         classes = character(), call = rlang::caller_env()) {
  name <- nl_check_name(name, type, call = call)
  trainable <- nl_check_flag(trainable, "trainable", call = call)
  st <- new.env(parent = asNamespace("normlayers"))
  st$type <- type
  st$class_name <- class_name
  st$name <- name
  st$trainable <- trainable
  st$built <- FALSE
  st$config <- config
  st$weights <- list()
  st$weight_info <- list()
  st$input_shape <- NULL
  st$input_spec <- NULL
  f <- function(object, ..., training = NULL) {
    nl_layer_invoke(.self, object, ..., training = training)
  }
  environment(f) <- st
  class(f) <- c(paste0("nl_", type), classes, "nl_layer", "function")
  st$.self <- f
  f
}

nl_state <- function(layer) environment(unclass(layer))

nl_is_layer <- function(x) inherits(x, "nl_layer")

nl_check_flag <- function(x, arg, call = rlang::caller_env()) {
  if (!is.logical(x) || length(x) != 1 || is.na(x)) {
    nl_abort(c("{.arg {arg}} must be {.code TRUE} or {.code FALSE}.",
               x = "You supplied {nl_describe(x)}."), "value", call = call)
  }
  x
}

# Named `...` arguments that a layer does not know are refused.
nl_check_dots <- function(dots, known = character(), call = rlang::caller_env()) {
  if (length(dots) == 0) return(invisible(dots))
  nms <- names(dots)
  if (is.null(nms) || any(nms == "")) {
    nl_abort(c("All arguments passed through {.arg ...} must be named.",
               i = "Name the argument, e.g. {.code name = \"norm\"}."),
             "argument", call = call)
  }
  unknown <- setdiff(nms, known)
  if (length(unknown) > 0) {
    nl_abort(c("Unknown argument{?s} {.arg {unknown}}.",
               i = if (length(known)) "Arguments accepted through {.arg ...}: {.arg {known}}."
                   else "This layer takes no extra arguments through {.arg ...}."),
             "argument", call = call)
  }
  invisible(dots)
}

# ---- S3 hooks with defaults --------------------------------------------------

nl_layer_build <- function(layer, input_shape) UseMethod("nl_layer_build")
#' @export
nl_layer_build.default <- function(layer, input_shape) invisible(layer)

nl_layer_forward <- function(layer, x, training) UseMethod("nl_layer_forward")

# Forward pass with a mask (eager calls on arrays only). Layers that do not use
# a mask ignore it, as Keras layers that support masking pass it through.
nl_layer_forward_masked <- function(layer, x, training, mask) {
  UseMethod("nl_layer_forward_masked")
}
#' @export
nl_layer_forward_masked.default <- function(layer, x, training, mask) {
  nl_layer_forward(layer, x, training)
}

nl_layer_backward <- function(layer, cache, dy) UseMethod("nl_layer_backward")
#' @export
nl_layer_backward.default <- function(layer, cache, dy) {
  nl_abort("Layer {.val {layer$name}} has no backward pass.", "state")
}

nl_layer_output_shape <- function(layer, input_shape) UseMethod("nl_layer_output_shape")
#' @export
nl_layer_output_shape.default <- function(layer, input_shape) input_shape

nl_layer_config <- function(layer) UseMethod("nl_layer_config")
#' @export
nl_layer_config.default <- function(layer) list()

nl_layer_print_args <- function(layer) UseMethod("nl_layer_print_args")
#' @export
nl_layer_print_args.default <- function(layer) list()

# ---- weights -----------------------------------------------------------------

nl_add_weight <- function(layer, name, shape, initializer, regularizer = NULL,
                          constraint = NULL, trainable = TRUE) {
  st <- nl_state(layer)
  values <- nl_initialize(initializer, shape)
  values <- nl_shape_value(as.double(values), shape)
  st$weights[[name]] <- values
  st$weight_info[[name]] <- list(trainable = trainable, regularizer = regularizer,
                                 constraint = constraint, shape = shape)
  invisible(values)
}

# A weight of a 1-D shape is a plain vector; otherwise an array.
nl_shape_value <- function(values, shape) {
  if (length(shape) <= 1) {
    dim(values) <- NULL
  } else {
    dim(values) <- shape
  }
  values
}

# Names of a layer's own weights in Keras order: trainable first.
nl_weight_order <- function(st) {
  nms <- names(st$weights)
  tr <- vapply(st$weight_info[nms], function(i) isTRUE(i$trainable), logical(1))
  c(nms[tr], nms[!tr])
}

nl_layer_losses <- function(st) {
  out <- list()
  for (nm in names(st$weights)) {
    reg <- st$weight_info[[nm]]$regularizer
    if (!is.null(reg)) out[[nm]] <- nl_regularizer_penalty(reg, st$weights[[nm]])
  }
  out
}

# ---- build and call ----------------------------------------------------------

# Builds (first call) or checks (later calls) a layer for an input shape.
nl_layer_prepare <- function(layer, shape, call = rlang::caller_env()) {
  st <- nl_state(layer)
  if (!st$built) {
    nl_layer_output_shape(layer, shape)
    nl_layer_build(layer, shape)
    bshape <- shape
    bshape[1] <- NA_integer_
    st$input_shape <- bshape
    st$built <- TRUE
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
  nl_layer_prepare(layer, if (is.list(x)) dim(x[[1]]) else dim(x), call = call)
  if (!is.null(mask)) return(nl_layer_forward_masked(layer, x, isTRUE(training), mask))
  nl_layer_forward(layer, x, isTRUE(training))
}

nl_resolve_training <- function(training, call = rlang::caller_env()) {
  if (is.null(training)) return(FALSE)
  if (!is.logical(training) || length(training) != 1 || is.na(training)) {
    nl_abort(c("{.arg training} must be {.code TRUE}, {.code FALSE} or {.code NULL}.",
               x = "You supplied {nl_describe(training)}."), "value", call = call)
  }
  training
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
  if (inherits(layer, "nl_model") && is.list(object) && !is.data.frame(object)) {
    infos <- lapply(object, nl_as_input, arg = "object", call = call)
    x <- lapply(infos, `[[`, "x")
    info <- infos[[1]]
  } else {
    info <- nl_as_input(object, arg = "object", call = call)
    x <- info$x
  }
  res <- nl_with_rollback(nl_all_layers(layer),
                          nl_layer_run(layer, x, training, call = call, mask = mask))
  nl_restore_output(res$output, info)
}

# All layers whose state a call can touch (the layer itself, or a model's layers).
nl_all_layers <- function(layer) {
  if (inherits(layer, "nl_model")) return(c(list(layer), nl_model_flat_layers(layer)))
  out <- list(layer)
  for (s in nl_layer_sublayers(layer)) out <- c(out, nl_all_layers(s))
  out
}

# Layers owned by a layer (a wrapper's wrapped layer); their weights follow the
# layer's own, as Keras lists a layer's weights before its sublayers'.
nl_layer_sublayers <- function(layer) UseMethod("nl_layer_sublayers")
#' @export
nl_layer_sublayers.default <- function(layer) list()

# ---- $ access ----------------------------------------------------------------

#' @export
`$.nl_layer` <- function(x, name) {
  st <- nl_state(x)
  switch(name,
    name = st$name,
    trainable = st$trainable,
    built = st$built,
    weights = nl_layer_weights(x),
    trainable_weights = nl_layer_weights(x, TRUE),
    non_trainable_weights = nl_layer_weights(x, FALSE),
    losses = nl_losses(x),
    input_shape = st$input_shape,
    output_shape = if (is.null(st$input_shape)) NULL else nl_layer_output_shape(x, st$input_shape),
    config = st$config,
    class_name = st$class_name,
    stop_training = isTRUE(st$stop_training),
    optimizer = st$compiled$optimizer,
    {
      if (!is.null(st$weights[[name]])) return(st$weights[[name]])
      if (name %in% names(st$config)) return(st$config[[name]])
      nl_layer_dollar(x, name)
    }
  )
}

nl_layer_dollar <- function(layer, name) UseMethod("nl_layer_dollar")
#' @export
nl_layer_dollar.default <- function(layer, name) NULL

#' @export
`[[.nl_layer` <- function(x, i, ...) `$.nl_layer`(x, i)

#' @export
`$<-.nl_layer` <- function(x, name, value) {
  st <- nl_state(x)
  if (identical(name, "trainable")) {
    st$trainable <- nl_check_flag(value, "trainable")
    for (l in nl_all_layers(x)[-1]) assign("trainable", value, envir = nl_state(l))
    return(x)
  }
  if (identical(name, "stop_training")) {
    st$stop_training <- nl_check_flag(value, "stop_training")
    return(x)
  }
  # model$optimizer$learning_rate <- lr changes the optimizer in place.
  if (identical(name, "optimizer") && inherits(value, "nl_optimizer") &&
      identical(value$state, st$compiled$optimizer$state)) {
    return(x)
  }
  if (name %in% names(st$weights)) {
    nl_abort(c("Weights cannot be assigned with {.code $<-}.",
               i = "Use {.fn set_weights} to replace {.val {name}}."), "state")
  }
  nl_abort(c("Cannot set {.field {name}} on a layer.",
             i = "Only {.field trainable} can be changed after a layer is created."), "state")
}

#' @export
`[[<-.nl_layer` <- function(x, i, value) `$<-.nl_layer`(x, i, value)

#' @export
.DollarNames.nl_layer <- function(x, pattern = "") {
  st <- nl_state(x)
  nms <- c("name", "trainable", "built", "weights", "trainable_weights",
           "non_trainable_weights", "losses", "input_shape", "output_shape", "config",
           names(st$weights), names(st$config))
  grep(pattern, unique(nms), value = TRUE)
}

#' @export
names.nl_layer <- function(x) .DollarNames.nl_layer(x)

# The non-model layers inside a layer or model (nested models expanded).
nl_leaf_layers <- function(layer) {
  Filter(function(l) !inherits(l, "nl_model"), nl_all_layers(layer))
}

# The weights themselves, named "<layer>/<weight>", in Keras order.
nl_layer_weights <- function(layer, trainable = NA) {
  slots <- nl_weight_slots(layer, trainable)
  out <- lapply(slots, function(s) s$st$weights[[s$name]])
  names(out) <- vapply(slots, function(s) paste0(s$layer, "/", s$name), "")
  out
}

nl_losses <- function(layer) {
  layers <- nl_leaf_layers(layer)
  out <- list()
  for (l in layers) {
    st <- nl_state(l)
    pen <- nl_layer_losses(st)
    if (length(pen)) out[paste0(st$name, "/", names(pen))] <- pen
  }
  out
}

# ---- printing ----------------------------------------------------------------

#' @export
format.nl_layer <- function(x, ...) {
  st <- nl_state(x)
  head <- sprintf("<%s name=%s, built=%s>", st$class_name, st$name, if (st$built) "TRUE" else "FALSE")
  args <- nl_layer_print_args(x)
  lines <- head
  if (length(args)) {
    vals <- vapply(args, nl_format_value, character(1))
    lines <- c(lines, paste0("  ", paste0(names(args), ": ", vals, collapse = ", ")))
  }
  if (st$built) {
    ws <- vapply(nl_weight_order(st), function(nm) {
      sprintf("%s %s", nm, nl_format_shape(st$weight_info[[nm]]$shape))
    }, character(1))
    if (length(ws)) lines <- c(lines, paste0("  weights: ", paste(ws, collapse = ", ")))
  }
  lines
}

#' @export
print.nl_layer <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

nl_format_value <- function(v) {
  if (is.null(v)) return("NULL")
  if (inherits(v, c("nl_initializer", "nl_regularizer", "nl_constraint"))) {
    return(nl_family_label(v))
  }
  if (is.function(v)) return("<function>")
  if (is.list(v)) return(paste0("list(", paste(names(v), vapply(v, nl_format_value, ""), sep = "=", collapse = ", "), ")"))
  if (is.character(v)) return(paste0('"', v, '"', collapse = ", "))
  if (length(v) > 1) return(paste0("c(", paste(format(v), collapse = ", "), ")"))
  format(v)
}

nl_family_label <- function(v) {
  cfg <- nl_serialize(v)
  cfg$class_name
}
