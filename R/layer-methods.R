# The `$` interface of a layer: fields, Python-style methods ($build(),
# $call(), $add(), $to_json(), ...), `$<-`, `[[` and tab completion.

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
      w <- nl_weight_get(st, name)
      if (!is.null(w)) return(w)
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
  if (name %in% names(nl_weights_all(st))) {
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
           names(nl_weights_all(st)), names(st$config), nl_method_names_for(x))
  grep(pattern, unique(nms), value = TRUE)
}

#' @export
names.nl_layer <- function(x) .DollarNames.nl_layer(x)
