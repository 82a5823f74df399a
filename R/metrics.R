# Metrics reported by fit() and evaluate(). A metric is a list: `name` (the
# string given to compile(), as Keras names it in the history), `key` and
# `fn(y, p)` returning one value per sample position (the loss's form of y);
# epoch values are means over all positions, weighted across batches.

nl_metric_names <- c("mae", "mean_absolute_error", "mse", "mean_squared_error",
                     "accuracy", "acc", "binary_accuracy", "categorical_accuracy",
                     "sparse_categorical_accuracy")

# Resolves compile()'s `metrics` argument to a list of metric specs (the
# choice behind "accuracy" is made later, when y and the output are known).
nl_get_metrics <- function(metrics, call = rlang::caller_env()) {
  if (is.null(metrics)) return(list())
  if (is.list(metrics) && all(vapply(metrics, function(m) is.character(m) && length(m) == 1, TRUE))) {
    metrics <- unlist(metrics, use.names = FALSE)
  }
  if (!is.character(metrics) || anyNA(metrics)) {
    nl_abort(c("{.arg metrics} must be a character vector of metric names.",
               x = "You supplied {nl_describe(metrics)}.",
               i = "Use some of {.val {nl_metric_names}}."), "value", call = call)
  }
  bad <- setdiff(metrics, nl_metric_names)
  if (length(bad)) {
    nl_abort(c("Unknown metric{?s} {.val {bad}}.",
               i = "Use some of {.val {nl_metric_names}}."), "value", call = call)
  }
  if (anyDuplicated(metrics)) metrics <- unique(metrics)
  lapply(metrics, function(m) list(name = m))
}

# Picks the function of each metric once the loss and the output are known.
# "accuracy"/"acc" follow Keras: binary accuracy when the output's last axis
# has size 1, sparse categorical accuracy when y holds class indices (the
# sparse loss), categorical accuracy otherwise.
nl_resolve_metrics <- function(metrics, loss, out_shape, call = rlang::caller_env()) {
  last <- out_shape[length(out_shape)]
  lapply(metrics, function(m) {
    key <- switch(m$name,
      mae = , mean_absolute_error = "mae",
      mse = , mean_squared_error = "mse",
      accuracy = , acc = if (!is.na(last) && last == 1L) "binary_accuracy"
                         else if (loss$sparse) "sparse_categorical_accuracy"
                         else "categorical_accuracy",
      m$name)
    sparse_ok <- key %in% c("sparse_categorical_accuracy", "binary_accuracy")
    if (loss$sparse && !sparse_ok) {
      nl_abort(c("Metric {.val {m$name}} needs targets of the output's shape, but loss {.val {loss$name}} takes class indices.",
                 i = "Use {.val accuracy} with a sparse loss."), "value", call = call)
    }
    if (!loss$sparse && key == "sparse_categorical_accuracy") {
      nl_abort(c("Metric {.val {m$name}} needs class indices as targets.",
                 i = "Use {.val accuracy} or {.val categorical_accuracy} with loss {.val {loss$name}}."),
               "value", call = call)
    }
    list(name = m$name, key = key, fn = nl_metric_fns[[key]])
  })
}

# Per-position means over the last axis (positions are rows of the last-axis matrix).
nl_last_axis_mean <- function(v) rowMeans(nl_as_last_axis_matrix(v))

nl_row_argmax <- function(m) max.col(m, ties.method = "first")

nl_metric_fns <- list(
  mae = function(y, p) nl_last_axis_mean(abs(p - y)),
  mse = function(y, p) nl_last_axis_mean((p - y)^2),
  binary_accuracy = function(y, p) {
    if (is.null(dim(y))) dim(y) <- dim(p)
    hit <- y == (p > 0.5)
    storage.mode(hit) <- "double"
    nl_last_axis_mean(hit)
  },
  categorical_accuracy = function(y, p) {
    as.double(nl_row_argmax(nl_as_last_axis_matrix(y)) ==
                nl_row_argmax(nl_as_last_axis_matrix(p)))
  },
  sparse_categorical_accuracy = function(y, p) {
    as.double(as.integer(y) + 1L == nl_row_argmax(nl_as_last_axis_matrix(p)))
  }
)
