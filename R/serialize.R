# Keras-style serialization of initializers, regularizers and constraints:
# list(module =, class_name =, config =, registered_name = NULL).
# Constraint axes are 0-based in the serialized config (as in Keras) and
# 1-based in R objects. R-function objects keep the function in config$fn.

nl_family_modules <- c(
  initializer = "keras.initializers",
  regularizer = "keras.regularizers",
  constraint = "keras.constraints"
)

nl_serialize <- function(obj, call = rlang::caller_env()) {
  if (is.null(obj)) {
    return(NULL)
  }
  family <- sub("^nl_", "", class(obj)[1])
  if (!family %in% names(nl_family_modules)) {
    nl_abort(
      c("Can't serialize this object.",
        x = "It is {nl_describe(obj)}.",
        i = "Only initializers, regularizers and constraints are supported."),
      kind = "config", call = call
    )
  }
  config <- obj$config
  if (!is.null(config$axis)) {
    config$axis <- nl_axis_to_keras(config$axis)
  }
  list(
    module = unname(nl_family_modules[family]),
    class_name = obj$class_name,
    config = config,
    registered_name = NULL
  )
}

nl_deserialize <- function(cfg, call = rlang::caller_env()) {
  if (is.null(cfg)) {
    return(NULL)
  }
  family <- if (is.list(cfg) && rlang::is_string(cfg$module)) {
    names(nl_family_modules)[match(cfg$module, nl_family_modules)]
  } else {
    NA_character_
  }
  if (is.na(family) || !rlang::is_string(cfg$class_name)) {
    nl_abort(
      c("{.arg cfg} must be a serialized initializer, regularizer or
         constraint.",
        x = "You supplied {nl_describe(cfg)}.",
        i = "It needs a known {.field module} and a {.field class_name}."),
      kind = "config", call = call
    )
  }
  config <- cfg$config
  if (is.null(config)) config <- list()
  if (identical(cfg$class_name, "RFunction")) {
    if (!is.function(config$fn)) {
      nl_abort(
        "A serialized R-function {family} needs a function in
         {.field config$fn}.",
        kind = "config", call = call
      )
    }
    return(nl_wrap_function(config$fn, family, "config$fn", call))
  }
  entry <- nl_registry(family)[[cfg$class_name, exact = TRUE]]
  if (is.null(entry)) {
    nl_abort(
      c("Unknown {family} class {.val {cfg$class_name}}.",
        i = "Known classes: {.val {names(nl_registry(family))}}."),
      kind = "config", call = call
    )
  }
  # Keras configs may carry these keys; only their default (NULL) is supported.
  for (key in c("input_axes", "output_axes")) {
    if (key %in% names(config)) {
      if (!is.null(config[[key]])) {
        nl_abort(
          "{.field {key}} is not supported in a {cfg$class_name} config.",
          kind = "config", call = call
        )
      }
      config[[key]] <- NULL
    }
  }
  if (!is.null(config$axis)) {
    config$axis <- nl_axis_from_keras(config$axis)
  }
  unknown <- setdiff(names(config), names(formals(entry$fun)))
  if (length(unknown) > 0) {
    nl_abort(
      c("Unknown config key{?s} {.field {unknown}}.",
        i = "Allowed keys for {.val {cfg$class_name}}:
             {.field {names(formals(entry$fun))}}."),
      kind = "config", call = call
    )
  }
  do.call(entry$fun, config)
}

# Keras axes are 0-based with negative values from the end; R axes 1-based.
nl_axis_to_keras <- function(axis) {
  as.integer(ifelse(axis > 0, axis - 1L, axis))
}

nl_axis_from_keras <- function(axis) {
  as.integer(ifelse(axis >= 0, axis + 1L, axis))
}
