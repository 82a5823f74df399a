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

nl_warn <- function(message, kind, ..., .envir = parent.frame()) {
  cli::cli_warn(
    message,
    class = c(paste0("normlayers_warning_", kind), "normlayers_warning"),
    ...,
    .envir = .envir
  )
}

# Short description of an R value for error messages: its type and shape.
nl_describe <- function(x) {
  if (is.null(x)) return("NULL")
  if (inherits(x, "nl_layer")) return("a layer")
  if (is.function(x)) return("a function")
  if (is.data.frame(x)) return(sprintf("a data frame with %d columns", ncol(x)))
  type <- if (is.character(x)) "character" else if (is.logical(x)) "logical"
          else if (is.numeric(x)) "numeric" else if (is.list(x)) "list"
          else NULL
  if (is.null(type)) return(sprintf("an object of class <%s>", class(x)[1]))
  d <- dim(x)
  if (!is.null(d)) {
    return(sprintf("a %s array of shape (%s)", type, paste(d, collapse = ", ")))
  }
  if (length(x) == 1 && !is.list(x)) {
    return(sprintf("a %s value `%s`", type, format(x)))
  }
  sprintf("a %s vector of length %d", type, length(x))
}
