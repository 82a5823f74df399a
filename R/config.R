# Layer configuration: get_config() / from_config() with Keras's config keys.
# Values are in R form (1-based axes); initializers, regularizers and
# constraints are serialized as Keras-style lists.

#' Layer and model configuration
#'
#' `get_config()` returns the arguments a layer was created with, under Keras's
#' config keys (`name`, `trainable`, `dtype`, then the layer's own arguments;
#' axes stay 1-based as in R). Initializers, regularizers and constraints are
#' serialized as lists with `module`, `class_name`, `config` and
#' `registered_name`. `from_config()` creates a new, unbuilt layer (or
#' model) from such a list; weights are not part of the config.
#'
#' A sequential model's config lists its layers' configs. A functional model's
#' config follows Keras's layout: `layers` (inputs first, as `"InputLayer"`
#' entries), each with `class_name`, `name`, `config` and `inbound_nodes` (one
#' per call of the layer, listing the tensors it consumed), plus
#' `input_layers` and `output_layers`. Tensors are referenced as
#' `list(layer name, node index, tensor index)` with 1-based indices.
#' `from_config()` rebuilds the same graph, shared layers included.
#'
#' @param object A layer, a sequential model or a functional model.
#' @param config A list returned by `get_config()`.
#' @param custom_objects Unused; accepted for compatibility with keras3.
#' @returns `get_config()`: a named list with attribute `"__class__"` (the
#'   Keras class name). `from_config()`: a new layer or model.
#' @export
#' @family weights
#' @examples
#' norm <- layer_layer_normalization(axis = c(2, 3), epsilon = 1e-5)
#' cfg <- get_config(norm)
#' str(cfg[c("axis", "epsilon")])
#' norm2 <- from_config(cfg)
#' norm2
#'
#' # a functional model
#' inputs <- keras_input(shape = 4)
#' outputs <- inputs |> layer_dense(3) |> layer_layer_normalization()
#' model <- keras_model(inputs, outputs)
#' model2 <- from_config(get_config(model))
#' model2
get_config <- function(object) {
  nl_check_layer_arg(object)
  st <- nl_state(object)
  cfg <- if (inherits(object, "nl_functional")) {
    nl_functional_config(object)
  } else if (inherits(object, "nl_sequential")) {
    list(name = st$name, trainable = st$trainable,
         input_shape = if (is.null(st$declared_shape)) NULL else st$declared_shape[-1],
         layers = lapply(st$layers, get_config))
  } else {
    c(list(name = st$name, trainable = st$trainable, dtype = "float64"),
      lapply(nl_layer_config(object), function(v) {
        if (inherits(v, c("nl_initializer", "nl_regularizer", "nl_constraint"))) nl_serialize(v) else v
      }))
  }
  attr(cfg, "__class__") <- st$class_name
  cfg
}

#' @rdname get_config
#' @export
from_config <- function(config, custom_objects = NULL) {
  nl_with_call(rlang::current_call(), nl_from_config(config, custom_objects))
}

nl_from_config <- function(config, custom_objects = NULL) {
  cls <- if (is.list(config)) attr(config, "__class__") %||% config$class_name
  if (!is.list(config) || is.null(cls)) {
    nl_abort(c("{.arg config} must be a list returned by {.fn get_config}.",
               x = "You supplied {nl_describe(config)} without a {.val __class__} attribute."),
             "config")
  }
  if (identical(cls, "Functional")) return(nl_functional_from_config(config))
  if (identical(cls, "Sequential")) {
    model <- keras_model_sequential(input_shape = config$input_shape, name = config$name,
                                    trainable = config$trainable %||% TRUE)
    for (lc in config$layers) nl_sequential_add(model, from_config(lc))
    return(model)
  }
  registry <- nl_layer_registry()
  ctor <- registry[cls]
  if (is.na(ctor) || !exists(ctor, envir = asNamespace("normlayers"), inherits = FALSE)) {
    nl_abort(c("Unknown layer class {.val {cls}}.",
               i = "Known classes: {.val {names(registry)}}."), "config")
  }
  args <- config
  attr(args, "__class__") <- NULL
  args$dtype <- NULL
  args <- lapply(args, function(v) {
    if (is.list(v) && !is.null(v$class_name) && rlang::is_string(v$module) &&
        v$module %in% nl_family_modules) nl_deserialize(v) else v
  })
  do.call(get(ctor, envir = asNamespace("normlayers")), c(list(NULL), args))
}
