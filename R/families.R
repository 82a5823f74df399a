# Machinery shared by the three families (initializers, regularizers,
# constraints): the object constructor, the resolver that turns a user's
# argument (string, object, bare constructor, R function) into an object,
# argument checks and print().
#
# Each family file defines a registry function `nl_<family>_registry()`
# returning a named list (names = Keras class names) of entries made by
# `nl_registry_entry()`: the exported constructor plus the string names that
# select it, each with the arguments used for that string.

# The initializer, regularizer and constraint arguments among a layer's config
# keys (told apart by their suffix), resolved from the constructor's frame.
nl_family_args <- function(keys, env = parent.frame(), call = env) {
  keys <- grep("_(initializer|regularizer|constraint)$", keys, value = TRUE)
  out <- lapply(keys, function(k) {
    family <- sub(".*_", "", k)
    nl_resolve(get(k, envir = env, inherits = FALSE), family, k, call,
               null_ok = family != "initializer")
  })
  stats::setNames(out, keys)
}

nl_family_object <- function(family, class_name, config = list()) {
  structure(
    list(class_name = class_name, config = config),
    class = paste0("nl_", family)
  )
}

# `strings` select the class with the constructor's defaults; `special` is a
# named list of further strings, each with its own argument list.
nl_registry_entry <- function(fun, strings, special = list()) {
  args <- rep(list(list()), length(strings))
  list(fun = fun, strings = c(stats::setNames(args, strings), special))
}

nl_registry <- function(family) {
  switch(family,
    initializer = nl_initializer_registry(),
    regularizer = nl_regularizer_registry(),
    constraint = nl_constraint_registry()
  )
}

# All string names of a family, each mapped to list(class_name, args).
nl_registry_strings <- function(registry) {
  out <- list()
  for (cls in names(registry)) {
    strings <- registry[[cls]]$strings
    for (s in names(strings)) {
      out[[s]] <- list(class_name = cls, args = strings[[s]])
    }
  }
  out
}

# Resolve a user argument into a family object. Also accepts a serialized
# object of the family (see nl_serialize()).
nl_resolve <- function(x, family, arg, call, null_ok = FALSE) {
  if (is.null(x) && null_ok) {
    return(NULL)
  }
  if (inherits(x, paste0("nl_", family))) {
    return(x)
  }
  registry <- nl_registry(family)
  if (rlang::is_string(x)) {
    strings <- nl_registry_strings(registry)
    hit <- strings[[x, exact = TRUE]]
    if (is.null(hit) || identical(x, "")) {
      nl_abort_unknown_name(x, family, arg, names(strings), call,
                            first_names = nl_first_names(registry))
    }
    return(do.call(registry[[hit$class_name]]$fun, hit$args))
  }
  if (is.list(x) && rlang::is_string(x$class_name) &&
      identical(x$module, nl_family_modules[[family]])) {
    return(nl_deserialize(x, call = call))
  }
  if (is.function(x)) {
    for (entry in registry) {
      if (identical(x, entry$fun)) {
        return(x())
      }
    }
    return(nl_wrap_function(x, family, arg, call))
  }
  allowed <- if (null_ok) "`NULL`, a string, " else "a string, "
  article <- if (family == "initializer") "an" else "a"
  nl_abort(
    c(
      "{.arg {arg}} must be {allowed}{article} {family} object, or a function.",
      x = "You supplied {nl_describe(x)}.",
      i = "For example, use {.val {nl_first_names(registry)[1]}}."
    ),
    kind = family,
    call = call
  )
}

# The main (snake_case) string name of each class.
nl_first_names <- function(registry) {
  unname(vapply(registry, function(entry) names(entry$strings)[1], ""))
}

nl_abort_unknown_name <- function(x, family, arg, valid, call, first_names) {
  near <- valid[tolower(valid) == tolower(x)]
  hint <- if (length(near) > 0) {
    c(i = "Names are case-sensitive: did you mean {.val {near[1]}}?")
  } else {
    c(i = "Valid names include {.val {utils::head(first_names, 6)}}.")
  }
  nl_abort(
    c(
      "{.arg {arg}} must name a known {family}.",
      x = "Could not interpret {family} identifier {.val {x}}.",
      hint
    ),
    kind = family,
    call = call
  )
}

# Wrap a plain R function, which must take at least one argument, into a
# family object of class "RFunction".
nl_wrap_function <- function(fn, family, arg = "fn",
                             call = rlang::caller_env()) {
  if (!is.primitive(fn) && length(nl_formal_names(fn)) == 0) {
    what <- switch(family,
      initializer = "the weight's shape",
      regularizer = "the weight, returning its penalty",
      constraint = "the weight, returning the constrained weight"
    )
    nl_abort(
      c("{.arg {arg}} must be a function of {what}.",
        x = "The function you supplied takes no arguments."),
      kind = family, call = call
    )
  }
  nl_family_object(family, "RFunction", list(fn = fn))
}

# Formal argument names of a function (primitives included); NULL if unknown.
nl_formal_names <- function(fn) {
  f <- if (is.primitive(fn)) args(fn) else fn
  if (is.null(f)) NULL else names(formals(f))
}

# ---- print() --------------------------------------------------------------

nl_format_config_value <- function(v) {
  if (is.null(v)) return("NULL")
  if (is.function(v)) return("<function>")
  if (length(v) > 6) return(sprintf("<%d values>", length(v)))
  if (is.character(v)) v <- paste0("\"", v, "\"")
  v <- format(v, trim = TRUE)
  if (length(v) == 1) v else paste0("c(", paste(v, collapse = ", "), ")")
}

nl_format_family <- function(x, family) {
  cfg <- x$config
  if (identical(x$class_name, "RFunction")) cfg <- list()
  parts <- vapply(
    names(cfg),
    function(n) paste0(n, "=", nl_format_config_value(cfg[[n]])),
    ""
  )
  paste0("<", paste(c(family, x$class_name, parts), collapse = " "), ">")
}

#' @export
print.nl_initializer <- function(x, ...) {
  cat(nl_format_family(x, "initializer"), "\n", sep = "")
  invisible(x)
}

#' @export
print.nl_regularizer <- function(x, ...) {
  cat(nl_format_family(x, "regularizer"), "\n", sep = "")
  invisible(x)
}

#' @export
print.nl_constraint <- function(x, ...) {
  cat(nl_format_family(x, "constraint"), "\n", sep = "")
  invisible(x)
}
