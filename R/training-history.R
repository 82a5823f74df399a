# The object returned by fit(): print(), as.data.frame() and plot() of a
# keras_training_history.

#' Training history
#'
#' Methods for the object returned by [fit()]: `print()` shows the metrics of
#' the final epoch, `as.data.frame()` gives one row per epoch and metric
#' (columns `epoch`, `value`, `metric` and `data`, which is `"training"` or
#' `"validation"`), and `plot()` draws one panel per metric with base
#' graphics, training and validation values against the epoch.
#'
#' @param x A `keras_training_history` object.
#' @param y Unused.
#' @param metrics Optional names of the metrics to plot (without `val_`).
#' @param row.names,optional Unused; part of the `as.data.frame()` generic.
#' @param ... Passed to [graphics::plot()] for `plot()`; unused otherwise.
#' @returns `print()` and `plot()`: `x`, invisibly. `as.data.frame()`: a data
#'   frame.
#' @name keras_training_history
#' @family training
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(60), 30, 2)
#' y <- x %*% c(1, -1)
#' model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
#' compile(model, optimizer = optimizer_sgd(0.1), loss = "mse")
#' history <- fit(model, x, y, epochs = 3, validation_split = 0.2, verbose = 0)
#' print(history)
#' head(as.data.frame(history))
#' plot(history)
NULL

#' @rdname keras_training_history
#' @export
print.keras_training_history <- function(x, ...) {
  m <- x$metrics
  cat("Final epoch (plot to see history):\n")
  if (length(m)) {
    vals <- vapply(m, function(v) formatC(v[length(v)], format = "f", digits = 4), "")
    cat(paste0(formatC(names(m), width = max(nchar(names(m)))), ": ", vals), sep = "\n")
  }
  invisible(x)
}

#' @rdname keras_training_history
#' @export
as.data.frame.keras_training_history <- function(x, row.names = NULL, optional = FALSE, ...) {
  m <- x$metrics
  nms <- names(m)
  is_val <- startsWith(nms, "val_")
  base <- ifelse(is_val, substring(nms, 5), nms)
  epochs <- max(c(0L, lengths(m)))
  levels <- unique(base)
  ep <- if (length(x$epoch) == epochs) x$epoch else seq_len(epochs)
  df <- data.frame(
    epoch = rep(ep, length(m)),
    value = unlist(lapply(m, function(v) c(v, rep(NA_real_, epochs - length(v)))), use.names = FALSE),
    metric = factor(rep(base, each = epochs), levels = levels),
    data = factor(rep(ifelse(is_val, "validation", "training"), each = epochs),
                  levels = c("training", "validation"))
  )
  df
}

#' @rdname keras_training_history
#' @export
plot.keras_training_history <- function(x, y, metrics = NULL, ...) {
  df <- as.data.frame(x)
  mets <- metrics %||% levels(df$metric)
  if (!length(mets) || !nrow(df)) return(invisible(x))
  old <- graphics::par(mfrow = c(length(mets), 1), mar = c(3, 4, 1, 1), mgp = c(2, 0.7, 0))
  on.exit(graphics::par(old), add = TRUE)
  cols <- c(training = "#1f77b4", validation = "#ff7f0e")
  for (mt in mets) {
    d <- df[df$metric == mt, , drop = FALSE]
    graphics::plot(d$epoch, d$value, type = "n", xlab = "epoch", ylab = mt, ...)
    for (set in c("training", "validation")) {
      ds <- d[d$data == set, , drop = FALSE]
      if (nrow(ds)) graphics::lines(ds$epoch, ds$value, type = "o", pch = 19, col = cols[[set]])
    }
    present <- intersect(c("training", "validation"), as.character(unique(d$data)))
    graphics::legend("topright", legend = present, col = cols[present], lty = 1, pch = 19,
                     bty = "n", cex = 0.8)
  }
  invisible(x)
}
