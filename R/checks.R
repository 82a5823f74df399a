# Argument validators shared by the batching code: one per kind of argument.
# Each refuses bad values with a classed `normlayers_error_value` naming the
# argument and what was received, before any work is done.

# A batch size: NULL means `default` (which may itself be NULL, as in adapt()
# or predict()); otherwise a positive whole number. Values larger than the data
# are fine (one batch holds everything), so the result is a double, not an
# integer: callers take `min(batch_size, n)`.
nl_check_batch_size <- function(batch_size, default = 32, arg = "batch_size",
                                call = rlang::caller_env()) {
  if (is.null(batch_size)) return(default)
  nl_check_count(batch_size, arg = arg, min = 1, call = call,
                 hint = "Use e.g. {.code {arg} = 32}; a value above the number of samples means one batch.")
}

# A whole number of at least `min` (epochs, steps, counts). Returns a double.
nl_check_count <- function(x, arg, min = 0, null_ok = FALSE, hint = NULL,
                           call = rlang::caller_env()) {
  if (is.null(x) && null_ok) return(NULL)
  ok <- is.numeric(x) && !is.factor(x) && length(x) == 1 && !is.na(x) && is.finite(x) &&
    x >= min && x == trunc(x)
  if (!ok) {
    what <- if (min == 1) "a positive whole number" else
      if (min == 0) "a non-negative whole number" else sprintf("a whole number of at least %s", min)
    nl_abort(c("{.arg {arg}} must be {what}.",
               x = "You supplied {nl_describe(x)}.",
               i = hint), "value", call = call)
  }
  as.double(x)
}
