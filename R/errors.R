# One helper raises every error of the package. Errors carry the classes
# `normlayers_error_<kind>` and `normlayers_error`, and a message worded per
# the tidyverse style guide: what is wrong, what was received, how to fix it.

nl_abort <- function(message, kind, ..., call = rlang::caller_env(),
                     .envir = parent.frame()) {
  if (!is.null(.nl_ctx$call)) call <- .nl_ctx$call
  cli::cli_abort(
    message,
    class = c(paste0("normlayers_error_", kind), "normlayers_error"),
    ...,
    call = call,
    .envir = .envir
  )
}

# The user-facing call that errors are reported against: set by exported
# entry points so that deep validation reports `layer_batch_normalization()`
# rather than an internal helper.
.nl_ctx <- new.env(parent = emptyenv())

nl_with_call <- function(call, expr) {
  if (!is.null(.nl_ctx$call)) return(expr)
  .nl_ctx$call <- call
  on.exit(.nl_ctx$call <- NULL, add = TRUE)
  expr
}

# The user's call as seen from an S3 method: `fit(model, x)` rather than
# `fit.nl_layer(model, x)` (the method's own call names the method).
nl_generic_call <- function(generic) {
  call <- sys.call(sys.parent())
  if (is.call(call)) call[[1]] <- as.name(generic)
  call
}

nl_warn <- function(message, kind, ..., .envir = parent.frame()) {
  cli::cli_warn(
    message,
    class = c(paste0("normlayers_warning_", kind), "normlayers_warning"),
    ...,
    .envir = .envir
  )
}

# Short description of an R value for error messages: its type and shape, e.g.
# "a numeric array of shape (2, 3)", "a complex value `1+2i`", "a factor of
# length 3 with levels \"a\", \"b\"", "a <Date> vector of length 2".
nl_describe <- function(x) {
  if (is.null(x)) return("NULL")
  if (inherits(x, "nl_symbolic_tensor")) {
    return(sprintf("a symbolic tensor of shape %s", nl_format_shape(x$shape)))
  }
  if (inherits(x, "nl_model")) return("a model")
  if (inherits(x, "nl_layer")) return("a layer")
  if (is.function(x)) return("a function")
  if (is.environment(x)) return("an environment")
  if (is.data.frame(x)) {
    return(sprintf("a data frame with %d row%s and %d column%s", nrow(x),
                   if (nrow(x) == 1) "" else "s", ncol(x), if (ncol(x) == 1) "" else "s"))
  }
  if (is.factor(x)) {
    lv <- levels(x)
    shown <- paste0('"', utils::head(lv, 3), '"', collapse = ", ")
    if (length(lv) > 3) shown <- paste0(shown, ", ...")
    return(sprintf("a factor of length %d with levels %s", length(x), shown))
  }
  if (isS4(x)) return(sprintf("an S4 object of class <%s>", class(x)[1]))
  # Classed atomic vectors (Date, POSIXct, difftime, ...) are named by class.
  if (is.atomic(x) && !is.null(attr(x, "class")) && !inherits(x, c("matrix", "array"))) {
    if (length(x) == 1) {
      return(sprintf("a <%s> value `%s`", class(x)[1], format(x)))
    }
    return(sprintf("a <%s> vector of length %d", class(x)[1], length(x)))
  }
  type <- if (is.character(x)) "character" else if (is.logical(x)) "logical"
          else if (is.complex(x)) "complex" else if (is.raw(x)) "raw"
          else if (is.numeric(x)) "numeric" else if (is.list(x)) "list"
          else NULL
  if (is.null(type)) return(sprintf("an object of class <%s>", class(x)[1]))
  d <- dim(x)
  if (!is.null(d)) {
    return(sprintf("a %s array of shape (%s)", type, paste(d, collapse = ", ")))
  }
  if (is.list(x)) {
    return(sprintf("a list of length %d", length(x)))
  }
  if (length(x) == 1) {
    val <- if (is.nan(x)) "NaN" else if (is.na(x)) "NA" else if (is.character(x)) encodeString(x, quote = '"')
           else format(x)
    return(sprintf("a %s value `%s`", type, val))
  }
  if (length(x) == 0) return(sprintf("an empty %s vector", type))
  sprintf("a %s vector of length %d", type, length(x))
}
