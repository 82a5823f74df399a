# The layer object. A layer is a function `function(object, ..., training = NULL)`
# whose closure environment holds its mutable state (weights, config, build
# status). Per-type behaviour is S3 on the layer's first class.

nl_new_layer <- function(type, class_name, config, name = NULL, trainable = TRUE,
                         classes = character(), call = rlang::caller_env()) {
  # keras3's base-layer arguments validated by nl_check_dots(layer = TRUE) in
  # the same constructor frame (see there)
  base <- if (is.environment(call)) get0(".nl_base_args", envir = call, inherits = FALSE)
  if (!is.null(base)) {
    rm(".nl_base_args", envir = call)
    if (is.null(name)) name <- base$name
    if (!is.null(base$trainable)) trainable <- base$trainable
  }
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
  st$base_build_shape <- base$build_shape
  st$pending_weights <- base$weights
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

# Layers that take a list of inputs (merge layers); models are handled apart.
nl_is_multi_input <- function(layer) {
  !inherits(layer, "nl_model") && isTRUE(nl_state(layer)$multi_input)
}

nl_check_flag <- function(x, arg, call = rlang::caller_env()) {
  if (!is.logical(x) || length(x) != 1 || is.na(x)) {
    nl_abort(c("{.arg {arg}} must be {.code TRUE} or {.code FALSE}.",
               x = "You supplied {nl_describe(x)}."), "value", call = call)
  }
  x
}

# Named `...` arguments that a layer does not know are refused.
#
# Layer constructors call `nl_check_dots(dots, <own extra args>, layer = TRUE)`:
# then keras3's common base-layer arguments (`nl_base_layer_args`: input_shape,
# batch_input_shape, batch_size, input_dim, dtype, input_dtype, name, trainable,
# weights, autocast) are accepted and validated here, and handed to the
# nl_new_layer() call of the same constructor (through its frame), which applies
# name/trainable; nl_compose() then builds the layer for `input_shape` and sets
# `weights`. So a constructor needs nothing else to support them.
nl_check_dots <- function(dots, known = character(), call = rlang::caller_env(),
                          layer = FALSE) {
  if (layer) known <- union(known, nl_base_layer_args)
  if (length(dots) == 0) {
    if (layer && is.environment(call)) assign(".nl_base_args", list(), envir = call)
    return(invisible(dots))
  }
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
  if (layer) {
    base <- nl_check_base_args(dots[intersect(nms, nl_base_layer_args)], call = call)
    if (is.environment(call)) assign(".nl_base_args", base, envir = call)
  }
  invisible(dots)
}

nl_base_layer_args <- c("input_shape", "batch_input_shape", "batch_size", "input_dim",
                        "dtype", "input_dtype", "name", "trainable", "weights", "autocast")

# Validates keras3's base-layer arguments; returns list(name, trainable, dtype,
# build_shape = full input shape with the batch axis or NULL, weights).
nl_check_base_args <- function(args, call = rlang::caller_env()) {
  out <- list(name = args$name)
  if (!is.null(args$trainable)) out$trainable <- nl_check_flag(args$trainable, "trainable", call = call)
  if (!is.null(args$autocast)) nl_check_flag(args$autocast, "autocast", call = call)
  for (a in c("dtype", "input_dtype")) {
    if (!is.null(args[[a]])) out$dtype <- nl_check_layer_dtype(args[[a]], a, call = call)
  }
  bs <- NA_integer_
  if (!is.null(args$batch_size)) {
    b <- args$batch_size
    if (!is.numeric(b) || length(b) != 1 || is.na(b) || b < 1 || b != trunc(b)) {
      nl_abort(c("{.arg batch_size} must be a positive whole number.",
                 x = "You supplied {nl_describe(b)}."), "value", call = call)
    }
    bs <- as.integer(b)
  }
  given <- intersect(c("input_shape", "input_dim", "batch_input_shape"), names(args))
  if (length(given) > 1) {
    nl_abort(c("Give only one of {.arg input_shape}, {.arg input_dim} and {.arg batch_input_shape}.",
               x = "You supplied {.arg {given}}."), "argument", call = call)
  }
  if (length(given) == 1) {
    d <- nl_as_dims(args[[given]], given, call = call)
    if (given == "input_dim" && length(d) != 1) {
      nl_abort(c("{.arg input_dim} must be a single whole number.",
                 x = "You supplied {nl_describe(args$input_dim)}."), "shape", call = call)
    }
    if (length(d) == 0 || any(!is.na(d) & d < 1)) {
      nl_abort(c("{.arg {given}} must be a shape of positive sizes.",
                 x = "You supplied {format(shape(d))}."), "shape", call = call)
    }
    out$build_shape <- if (given == "batch_input_shape") d else c(bs, d)
  }
  if (!is.null(args$weights)) {
    w <- args$weights
    if (!is.list(w) || is.data.frame(w) ||
        !all(vapply(w, function(v) is.numeric(v) || is.logical(v), TRUE))) {
      nl_abort(c("{.arg weights} must be a list of numeric arrays, as returned by {.fn get_weights}.",
                 x = "You supplied {nl_describe(w)}."), "weights", call = call)
    }
    out$weights <- w
  }
  out
}

# A layer's dtype: normlayers computes in double, so float types are accepted
# (and all mean double precision); other types are refused.
nl_check_layer_dtype <- function(dtype, arg = "dtype", call = rlang::caller_env()) {
  ok <- is.character(dtype) && length(dtype) == 1 && !is.na(dtype)
  if (ok && dtype %in% c(nl_float_dtypes, "mixed_float16", "mixed_bfloat16")) return(dtype)
  nl_abort(c("{.arg {arg}} must be a floating-point type such as {.val float32} or {.val float64}.",
             x = "You supplied {nl_describe(dtype)}.",
             i = "normlayers layers compute in double precision; integer, boolean and string layers are not supported."),
           "dtype", call = call)
}

# Applied by nl_compose() once a constructor has finished configuring the
# layer: builds it for a base-layer `input_shape` (marking it so that a
# sequential model takes that shape as its input) and sets `weights`.
nl_apply_base_args <- function(layer, call = rlang::caller_env()) {
  st <- nl_state(layer)
  shape <- st$base_build_shape
  if (is.null(shape) && is.null(st$pending_weights)) return(invisible(layer))
  st$base_build_shape <- NULL
  if (!is.null(shape)) {
    if (!st$built) {
      nl_warn(c("Do not pass an {.arg input_shape} argument to a layer.",
                i = "Prefer {.code keras_model_sequential(input_shape = )} or {.fn keras_input} for the first layer.",
                i = "The layer is built for that input shape now."), "deprecated")
      nl_with_rollback(list(layer), nl_layer_prepare(layer, shape, call = call))
    }
    st$declared_input <- TRUE
  } else if (st$built) {
    nl_with_rollback(list(layer), nl_apply_pending_weights(layer))
  }
  invisible(layer)
}

nl_apply_pending_weights <- function(layer) {
  st <- nl_state(layer)
  w <- st$pending_weights
  if (is.null(w)) return(invisible(layer))
  st$pending_weights <- NULL
  set_weights(layer, w)
  invisible(layer)
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
  if ((inherits(layer, "nl_model") || nl_is_multi_input(layer)) && is.list(object) &&
      !is.data.frame(object)) {
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
    dtype = "float64",
    {
      if (!is.null(st$weights[[name]])) return(st$weights[[name]])
      if (name %in% names(st$config)) return(st$config[[name]])
      val <- nl_layer_dollar(x, name)
      if (is.null(val)) val <- nl_layer_method(x, name)
      val
    }
  )
}

# ---- Python-style methods ------------------------------------------------------
# `layer$get_weights()`, `model$fit(x, y)`, ... call the R function of the same
# job with the layer as first argument. The function is looked up by name when
# the method is called, so arguments added to fit() etc. work at once.
# Names map to functions here; any other exported function whose first
# argument is `object` or `model` is also reachable as a method of its name.
nl_method_names <- c(
  build = "nl_method_build", call = "nl_method_call", `__call__` = "nl_method_call",
  compute_output_shape = "nl_method_compute_output_shape", add = "nl_method_add",
  adapt = "adapt", get_weights = "get_weights", set_weights = "set_weights",
  get_config = "get_config", count_params = "count_params",
  compile = "compile", fit = "fit", evaluate = "evaluate", predict = "predict",
  summary = "summary", save = "save_model", save_weights = "save_model_weights",
  load_weights = "load_model_weights", pop = "pop_layer", get_layer = "get_layer",
  predict_on_batch = "predict_on_batch", train_on_batch = "train_on_batch",
  test_on_batch = "test_on_batch", to_json = "nl_method_to_json"
)

nl_layer_method <- function(x, name) {
  ns <- asNamespace("normlayers")
  if (name %in% c("add", "pop") && !inherits(x, "nl_sequential")) return(NULL)
  fname <- nl_method_names[name]
  if (is.na(fname)) {
    if (!name %in% getNamespaceExports(ns) || grepl("^op_|^layer_|^keras_", name)) return(NULL)
    f <- get0(name, envir = ns, mode = "function")
    if (is.null(f) || !names(formals(f))[1] %in% c("object", "model")) return(NULL)
    fname <- name
  }
  if (!exists(fname, envir = ns, mode = "function")) return(NULL)
  env <- new.env(parent = ns)
  env$self <- x
  method <- eval(bquote(function(...) {
    .call <- sys.call()
    res <- nl_with_call(.call, withVisible(.(as.name(fname))(self, ...)))
    if (res$visible) res$value else invisible(res$value)
  }))
  environment(method) <- env
  structure(method, class = c("nl_method", "function"), method = name)
}

#' @export
print.nl_method <- function(x, ...) {
  self <- environment(x)$self
  cat(sprintf("<method %s of %s>\n", attr(x, "method"), format(self)[1]))
  invisible(x)
}

nl_method_names_for <- function(x) {
  ns <- asNamespace("normlayers")
  nms <- names(nl_method_names)[vapply(nl_method_names, function(f) exists(f, envir = ns, mode = "function"), TRUE)]
  nms <- setdiff(nms, "__call__")
  if (!inherits(x, "nl_sequential")) nms <- setdiff(nms, c("add", "pop"))
  nms
}

# layer$build(shape(NA, 4)): the full input shape, batch axis included.
nl_method_build <- function(object, input_shape) {
  if (missing(input_shape)) {
    nl_abort(c("{.arg input_shape} is missing.",
               i = "Give the full input shape, batch axis first: {.code layer$build(shape(NA, 4))}."),
             "missing")
  }
  shape <- nl_method_shape_arg(object, input_shape)
  nl_with_rollback(nl_all_layers(object), {
    if (!nl_state(object)$built) nl_layer_prepare(object, shape)
    else nl_check_input_spec(object, shape)
  })
  invisible(NULL)
}

nl_method_shape_arg <- function(layer, input_shape, call = rlang::caller_env()) {
  one <- function(s) {
    d <- nl_as_dims(s, "input_shape", call = call)
    if (length(d) == 0 || any(!is.na(d) & d < 1)) {
      nl_abort(c("{.arg input_shape} must be a shape of positive sizes, batch axis first.",
                 x = "You supplied {format(shape(d))}."), "shape", call = call)
    }
    d
  }
  if (nl_is_multi_input(layer) && is.list(input_shape) && !inherits(input_shape, "keras_shape") &&
      length(input_shape) && all(vapply(input_shape, function(s) length(s) > 1 || inherits(s, "keras_shape"), TRUE))) {
    return(lapply(input_shape, one))
  }
  one(input_shape)
}

nl_method_compute_output_shape <- function(object, input_shape) {
  shape_in <- nl_method_shape_arg(object, input_shape)
  out <- nl_layer_output_shape(object, shape_in)
  if (is.list(out)) lapply(out, shape) else shape(out)
}

nl_method_call <- function(object, ...) object(...)

nl_method_add <- function(object, layer) {
  if (!inherits(object, "nl_sequential")) {
    nl_abort(c("Only a sequential model has {.code $add()}.",
               x = "{.val {nl_state(object)$name}} is a {nl_state(object)$class_name}."), "type")
  }
  nl_sequential_add(object, layer)
  invisible(object)
}

nl_method_to_json <- function(object, ...) {
  jsonlite::toJSON(nl_json_ready(get_config(object)), auto_unbox = TRUE, null = "null", ...)
}

nl_json_ready <- function(x) {
  if (is.list(x) && length(x) == 0) return(stats::setNames(list(), character()))
  if (is.list(x)) {
    cls <- attr(x, "__class__")
    out <- lapply(x, nl_json_ready)
    if (!is.null(cls)) out <- list(class_name = cls, config = out)
    return(out)
  }
  x
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
           names(st$weights), names(st$config), nl_method_names_for(x))
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
