# Layer specs: what the package needs to know about a layer type, declared
# once, in the type's own file, as
#
#   nl_spec_<type> <- list(
#     type        = "<type>",            # S3 class "nl_<type>", default name prefix
#     class_name  = "<KerasClass>",      # Keras class name (get_config, files)
#     constructor = "layer_<type>",      # the R function that rebuilds it
#     config_keys = c(...),              # get_config() keys after name/trainable/dtype
#     print_keys  = c(...),              # the arguments print() shows
#     config      = function(st, cfg),   # optional: config values that depend on state
#     print       = function(st),        # optional: print() arguments not in st$config
#     keras       = NULL                 # how Keras files hold it, see nl_spec_keras()
#   )
#
# (a list of such lists is accepted too, for a file that declares several
# types). Specs are plain lists, built with base R only, because package files
# are sourced in collation order. The registry of Keras class names,
# get_config(), print() and the Keras-file conversion all derive from them.

nl_spec_cache <- new.env(parent = emptyenv())

# Every spec, named by Keras class name.
nl_layer_specs <- function() {
  if (is.null(nl_spec_cache$by_class)) {
    ns <- asNamespace("normlayers")
    found <- mget(ls(ns, pattern = "^nl_spec_[a-z_]+$", all.names = TRUE), envir = ns)
    found <- Filter(is.list, found)
    specs <- list()
    for (s in found) {
      for (one in if (is.null(s$type)) s else list(s)) specs[[one$class_name]] <- nl_spec_complete(one)
    }
    nl_spec_cache$by_class <- specs
    nl_spec_cache$by_type <- stats::setNames(specs, vapply(specs, `[[`, "", "type"))
  }
  nl_spec_cache$by_class
}

nl_spec_complete <- function(spec) {
  required <- c("type", "class_name", "constructor")
  missing_fields <- setdiff(required, names(spec))
  if (length(missing_fields)) {
    stop("Layer spec for ", spec$class_name %||% spec$type %||% "?", " lacks ",
         paste(missing_fields, collapse = ", "), call. = FALSE)
  }
  spec$config_keys <- spec$config_keys %||% character()
  spec$print_keys <- spec$print_keys %||% character()
  spec
}

# The spec of a layer type (NULL for types without one: models).
nl_spec_of_type <- function(type) {
  nl_layer_specs()
  nl_spec_cache$by_type[[type]]
}

nl_spec_of <- function(layer) nl_spec_of_type(nl_state(layer)$type)

# Keras class name -> constructor name, for every registered layer type.
nl_layer_registry <- function() {
  specs <- nl_layer_specs()
  vapply(specs, `[[`, "", "constructor")
}

# How a type is read from and written to Keras files: NULL when its spec says
# nothing (the generic conversion of its config keys), FALSE when it is never
# written (wrappers and internal layers), or a list with optional `keys` (more
# keys accepted when reading), `read(args, cfg)` and `write(own, cfg)` hooks.
nl_spec_keras <- function(spec) spec$keras

# The config of a layer from its spec: `st$config` (adjusted by the spec's
# `config` hook) restricted to the spec's keys, in their order.
nl_layer_config <- function(layer) {
  st <- nl_state(layer)
  spec <- nl_spec_of_type(st$type)
  if (is.null(spec)) return(list())
  cfg <- st$config
  if (is.function(spec$config)) cfg <- spec$config(st, cfg)
  cfg[spec$config_keys]
}

nl_layer_print_args <- function(layer) {
  st <- nl_state(layer)
  spec <- nl_spec_of_type(st$type)
  if (is.null(spec)) return(list())
  if (is.function(spec$print)) return(spec$print(st))
  st$config[spec$print_keys]
}
