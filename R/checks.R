# Argument validators: one per kind of argument (flags, numbers, counts,
# seeds, strings and names, choices, dtypes, shapes, axes, `...`).
#
# Every validator
# - takes the value first, then `arg`, the argument's name as the user knows it
#   (by default the caller's expression, `rlang::caller_arg()`), and last
#   `call`, the call its error reports (by default the caller's frame, i.e. the
#   exported function that validates its argument; an exported entry point that
#   wraps its work in nl_with_call() makes deeper errors report it as well);
# - refuses a bad value, before any work is done, with a classed
#   `normlayers_error_<kind>` (and `normlayers_error`) whose message names the
#   argument, says what it must be and describes what was received
#   (`nl_describe()`);
# - returns the value in its canonical form (a double, an integer, ...), or
#   NULL where `null_ok = TRUE` allows NULL.
# Validators of one domain (activations, renorm_clipping, groups, input
# specs, sample weights, ...) stay in their domain's file and use these.

# The "what it must be" phrase of a message, with "or NULL" when NULL is
# accepted. `what` may use cli markup: it is pasted into the message.
nl_must_be <- function(what, null_ok = FALSE) {
  paste0("{.arg {arg}} must be ", what, if (null_ok) " or {.code NULL}", ".")
}

# ---- flags ------------------------------------------------------------------

# TRUE or FALSE; `null_ok` also accepts NULL (returned as NULL), `na_ok` also
# accepts NA (a logical NA).
nl_check_flag <- function(x, arg = rlang::caller_arg(x), null_ok = FALSE, na_ok = FALSE,
                          call = rlang::caller_env()) {
  if (is.null(x) && null_ok) return(NULL)
  if (!is.logical(x) || length(x) != 1 || (is.na(x) && !na_ok)) {
    what <- if (na_ok) "{.code NA}, {.code TRUE} or {.code FALSE}"
            else if (null_ok) "{.code TRUE}, {.code FALSE} or {.code NULL}"
            else "{.code TRUE} or {.code FALSE}"
    nl_abort(c(nl_must_be(what),
               x = "You supplied {nl_describe(x)}."), "value", call = call)
  }
  x
}

# ---- numbers ----------------------------------------------------------------

# A finite number between `min` and `max` (inclusive). Returns a double.
# `what` replaces the generated "a finite number ..." phrase.
nl_check_number <- function(x, arg = rlang::caller_arg(x), min = -Inf, max = Inf,
                            null_ok = FALSE, what = NULL, call = rlang::caller_env()) {
  if (is.null(x) && null_ok) return(NULL)
  ok <- is.numeric(x) && !is.factor(x) && length(x) == 1 && !is.na(x) && is.finite(x) &&
    x >= min && x <= max
  if (!ok) {
    if (is.null(what)) {
      what <- if (is.finite(min) && is.finite(max)) sprintf("a number between %s and %s", min, max)
              else if (is.finite(min)) sprintf("a finite number of at least %s", min)
              else if (is.finite(max)) sprintf("a finite number of at most %s", max)
              else "a finite number"
    }
    nl_abort(c(nl_must_be(what, null_ok),
               x = "You supplied {nl_describe(x)}."), "value", call = call)
  }
  as.double(x)
}

# ---- counts -----------------------------------------------------------------

# A whole number of at least `min`: a count (epochs, steps, units, patience:
# `min = 0` or `1`) or, with `min = -Inf`, any whole number (an offset such as
# op_eye()'s `k`). Returns a double (callers that store an integer convert);
# `hint` adds an "i" line to the error.
nl_check_count <- function(x, arg = rlang::caller_arg(x), min = 0, null_ok = FALSE,
                           hint = NULL, call = rlang::caller_env()) {
  if (is.null(x) && null_ok) return(NULL)
  ok <- is.numeric(x) && !is.factor(x) && length(x) == 1 && !is.na(x) && is.finite(x) &&
    x >= min && x == trunc(x)
  if (!ok) {
    what <- if (min == 1) "a positive whole number"
            else if (min == 0) "a non-negative whole number"
            else if (!is.finite(min)) "a whole number"
            else sprintf("a whole number of at least %s", min)
    nl_abort(c(nl_must_be(what, null_ok),
               x = "You supplied {nl_describe(x)}.",
               i = hint), "value", call = call)
  }
  as.double(x)
}

# A batch size, the one count with a default: NULL means `default` (which may
# itself be NULL, as in adapt() or predict()); otherwise a positive whole
# number. Values larger than the data are fine (one batch holds everything),
# so the result is a double, not an integer: callers take `min(batch_size, n)`.
nl_check_batch_size <- function(batch_size, default = 32, arg = "batch_size",
                                call = rlang::caller_env()) {
  if (is.null(batch_size)) return(default)
  nl_check_count(batch_size, arg = arg, min = 1, null_ok = TRUE, call = call,
                 hint = "Use e.g. {.code {arg} = 32}; a value above the number of samples means one batch.")
}

# ---- seeds ------------------------------------------------------------------

# NULL (no seed) or a whole number that fits an R integer. Returns an integer.
nl_check_seed <- function(seed, arg = rlang::caller_arg(seed), call = rlang::caller_env()) {
  if (is.null(seed)) return(NULL)
  ok <- is.numeric(seed) && !is.factor(seed) && length(seed) == 1 && !is.na(seed) &&
    is.finite(seed) && seed == round(seed) && abs(seed) <= .Machine$integer.max
  if (!ok) {
    nl_abort(c(nl_must_be("{.code NULL} or a whole number"),
               x = "You supplied {nl_describe(seed)}."), "value", call = call)
  }
  as.integer(seed)
}

# ---- strings, names and choices ---------------------------------------------

# One non-missing string, non-empty unless `empty_ok`. `what` replaces "a
# single non-empty string", `hint` adds an "i" line, `kind` is the error kind.
nl_check_string <- function(x, arg = rlang::caller_arg(x), null_ok = FALSE, empty_ok = FALSE,
                            what = NULL, hint = NULL, kind = "value",
                            call = rlang::caller_env()) {
  if (is.null(x) && null_ok) return(NULL)
  if (!rlang::is_string(x) || is.na(x) || (!empty_ok && !nzchar(x))) {
    what <- what %||% if (empty_ok) "a single string" else "a single non-empty string"
    nl_abort(c(nl_must_be(what, null_ok),
               x = "You supplied {nl_describe(x)}.",
               i = hint), kind, call = call)
  }
  x
}

# A layer or model name: a non-empty string, or NULL for the next automatic
# name with `prefix` ("dense", "dense_1", ...; see R/naming.R).
nl_check_name <- function(name, prefix, arg = "name", call = rlang::caller_env()) {
  if (is.null(name)) return(nl_unique_name(prefix))
  nl_check_string(name, arg, null_ok = TRUE, kind = "name", call = call)
}

# One of the strings `choices` (case-sensitive).
nl_check_choice <- function(x, choices, arg = rlang::caller_arg(x),
                            call = rlang::caller_env()) {
  if (!rlang::is_string(x) || !x %in% choices) {
    nl_abort(c(nl_must_be("one of {.or {.val {choices}}}"),
               x = "You supplied {nl_describe(x)}."), "value", call = call)
  }
  x
}

# A layer's dtype: normlayers computes in double, so float types are accepted
# (and all mean double precision); other types are refused (kind `dtype`).
nl_check_layer_dtype <- function(dtype, arg = rlang::caller_arg(dtype),
                                 call = rlang::caller_env()) {
  ok <- is.character(dtype) && length(dtype) == 1 && !is.na(dtype)
  if (ok && dtype %in% c(nl_float_dtypes, "mixed_float16", "mixed_bfloat16")) return(dtype)
  nl_abort(c(nl_must_be("a floating-point type such as {.val float32} or {.val float64}"),
             x = "You supplied {nl_describe(dtype)}.",
             i = "normlayers layers compute in double precision; integer, boolean and string layers are not supported."),
           "dtype", call = call)
}

# ---- shapes -----------------------------------------------------------------

# A shape as a vector of sizes (a list with NULL for unknown sizes is accepted
# too): whole numbers of at least `min` (1, or 0 where empty arrays are fine),
# `NA` for an unknown size when `na_ok`, at least one size unless `empty_ok`.
# Returns an integer vector. `kind` is the error kind.
nl_check_shape <- function(shape, arg = rlang::caller_arg(shape), null_ok = FALSE, min = 1,
                           na_ok = TRUE, empty_ok = FALSE, kind = "shape",
                           call = rlang::caller_env()) {
  if (is.null(shape) && null_ok) return(NULL)
  s <- shape
  if (is.list(s) && !is.data.frame(s)) {
    s <- vapply(s, function(v) {
      if (is.null(v)) NA_real_ else if (is.numeric(v) && length(v) == 1) as.double(v) else Inf
    }, 1)
  }
  ok <- (is.numeric(s) || (is.logical(s) && all(is.na(s)))) && !is.factor(s) &&
    (length(s) > 0 || empty_ok) && (na_ok || !anyNA(s))
  if (ok) {
    known <- s[!is.na(s)]
    ok <- all(is.finite(known) & known >= min & known == trunc(known))
  }
  if (!ok) {
    what <- sprintf("a vector of %s whole numbers%s",
                    if (min == 1) "positive" else if (min == 0) "non-negative" else paste("at least", min),
                    if (na_ok) " (or {.code NA})" else "")
    if (null_ok) what <- paste("{.code NULL} or", what)
    nl_abort(c(nl_must_be(what),
               x = "You supplied {nl_describe(shape)}."), kind, call = call)
  }
  as.integer(s)
}

# ---- axes -------------------------------------------------------------------

# The form of an axis argument before any shape is known (keras3's rule: a
# positive axis is 1-based, a negative one counts from the end, 0 is an
# error; a vector names several axes unless `single`). Returns an integer
# vector; R/utils-axis.R resolves it against a rank.
nl_check_axis_arg <- function(axis, arg = rlang::caller_arg(axis), null_ok = FALSE,
                              single = FALSE, call = rlang::caller_env()) {
  if (is.null(axis)) {
    if (null_ok) return(NULL)
    nl_abort(c("{.arg {arg}} must be a whole number, not {.code NULL}.",
               i = "Use {.code -1} for the last axis."), "axis", call = call)
  }
  if (!is.numeric(axis) || is.factor(axis) || length(axis) == 0 || anyNA(axis) ||
      any(!is.finite(axis)) || any(axis != trunc(axis))) {
    nl_abort(c(nl_must_be(if (single) "a whole number" else "whole numbers"),
               x = "You supplied {nl_describe(axis)}.",
               i = "Axes are 1-based; use {.code -1} for the last axis."),
             "axis", call = call)
  }
  if (single && length(axis) != 1) {
    nl_abort(c("{.arg {arg}} must be a single axis.",
               x = "You supplied {length(axis)} axes: {.val {axis}}."),
             "axis", call = call)
  }
  if (any(axis == 0)) {
    nl_abort(c("{.arg {arg}} is 1-based and cannot be 0.",
               i = "Use {.code 1} for the first (batch) axis or {.code -1} for the last axis."),
             "axis", call = call)
  }
  as.integer(axis)
}

# ---- dots -------------------------------------------------------------------

# Named `...` arguments that a function does not know are refused (kind
# `argument`); `known` are the names it accepts through `...`.
#
# Layer constructors call `nl_check_dots(dots, <own extra args>, layer = TRUE)`:
# then keras3's common base-layer arguments (`nl_base_layer_args`: input_shape,
# batch_input_shape, batch_size, input_dim, dtype, input_dtype, name, trainable,
# weights, autocast) are accepted and validated (nl_check_base_args(), R/layer.R),
# and handed to the nl_new_layer() call of the same constructor (through its
# frame, `call`), which applies name/trainable; nl_compose() then builds the
# layer for `input_shape` and sets `weights`. So a constructor needs nothing
# else to support them.
nl_check_dots <- function(dots, known = character(), layer = FALSE,
                          call = rlang::caller_env()) {
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
