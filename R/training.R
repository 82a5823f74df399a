# Training: compile(), fit() and evaluate() for models, with keras3's
# signatures. fit() runs mini-batch gradient descent with the models' own
# backward passes.

#' @importFrom generics compile
#' @export
generics::compile

#' @importFrom generics fit
#' @export
generics::fit

#' Configure a model for training
#'
#' Sets the optimizer, loss and metrics that [fit()] and [evaluate()] use. The
#' model is modified in place (a later `compile()` replaces the configuration
#' and starts a fresh optimizer unless you pass the same optimizer object).
#'
#' @param object A sequential or functional model.
#' @param optimizer An optimizer name (`"rmsprop"`, the default, `"adam"` or
#'   `"sgd"`) or an optimizer object from [optimizer_sgd()],
#'   [optimizer_adam()] or [optimizer_rmsprop()].
#' @param loss The loss, by name, with Keras's formulas and its default
#'   reduction (`"sum_over_batch_size"`: the mean over samples):
#'   * `"mse"` / `"mean_squared_error"`, `"mae"` / `"mean_absolute_error"`:
#'     mean over the last axis, then over samples;
#'   * `"binary_crossentropy"`: `-(y log p + (1 - y) log(1 - p))`, averaged;
#'   * `"categorical_crossentropy"`: `-sum(y log p)` over the last axis
#'     (one-hot `y`), averaged over samples;
#'   * `"sparse_categorical_crossentropy"`: the same with `y` holding 0-based
#'     class indices (one per sample).
#'
#'   Crossentropies take probabilities (`from_logits = FALSE`): `p` is clipped
#'   to `[1e-7, 1 - 1e-7]`, and for the categorical ones each row of `p` is
#'   first rescaled to sum to 1, as in Keras.
#' @param metrics Optional character vector of metrics to report: `"mae"`,
#'   `"mse"`, `"accuracy"` (or `"acc"`), `"binary_accuracy"`,
#'   `"categorical_accuracy"`, `"sparse_categorical_accuracy"`. As in Keras,
#'   `"accuracy"` becomes binary accuracy (threshold 0.5) when the output's
#'   last axis has size 1, sparse categorical accuracy with the sparse loss, and
#'   categorical accuracy (argmax match) otherwise. Metrics are named in the
#'   history as given.
#' @param ... Accepted for compatibility with keras3: `loss_weights`,
#'   `weighted_metrics`, `run_eagerly`, `steps_per_execution`, `jit_compile`
#'   and `auto_scale_loss` are ignored.
#' @returns `object`, invisibly.
#' @export
#' @family training
#' @examples
#' model <- keras_model_sequential(input_shape = 3) |>
#'   layer_dense(8, activation = "relu") |>
#'   layer_dense(1)
#' compile(model, optimizer = "adam", loss = "mse", metrics = "mae")
#' model$compiled
#' @method compile nl_layer
compile.nl_layer <- function(object, optimizer = "rmsprop", loss = NULL, metrics = NULL, ...) {
  nl_with_call(rlang::current_call(), {
    nl_check_model_arg(object)
    nl_check_dots(list(...), c("loss_weights", "weighted_metrics", "run_eagerly",
                               "steps_per_execution", "jit_compile", "auto_scale_loss"))
    opt <- nl_get_optimizer(optimizer)
    loss <- nl_get_loss(loss)
    metrics <- nl_get_metrics(metrics)
    st <- nl_state(object)
    st$compiled <- list(optimizer = opt, loss = loss, metrics = metrics)
    invisible(object)
  })
}

nl_check_model_arg <- function(object, call = rlang::caller_env()) {
  if (!inherits(object, "nl_model")) {
    nl_abort(c("{.arg object} must be a model.",
               x = "You supplied {nl_describe(object)}.",
               i = "Put the layer in a model with {.fn keras_model_sequential} or {.fn keras_model}."),
             "type", call = call)
  }
}

nl_check_compiled <- function(object, what, call = rlang::caller_env()) {
  comp <- nl_state(object)$compiled
  if (is.null(comp)) {
    nl_abort(c("The model must be compiled before {.fn {what}}.",
               i = "Call {.code compile(model, optimizer = , loss = )} first."),
             "not_compiled", call = call)
  }
  comp
}

# ---- data --------------------------------------------------------------------

# x: an array/data frame, or a list of them for a model with several inputs.
nl_training_x <- function(x, arg = "x", call = rlang::caller_env()) {
  if (is.null(x)) {
    nl_abort(c("{.arg {arg}} must be given.", i = "Give the input data as an array or data frame."),
             "missing", call = call)
  }
  if (is.list(x) && !is.data.frame(x)) {
    xs <- lapply(x, function(xi) nl_as_input(xi, arg = arg, call = call)$x)
    n <- vapply(xs, function(xi) dim(xi)[1], 1L)
    if (length(unique(n)) > 1) {
      nl_abort(c("All inputs in {.arg {arg}} must have the same number of samples.",
                 x = "They have {n} rows."), "data", call = call)
    }
    return(xs)
  }
  nl_as_input(x, arg = arg, call = call)$x
}

nl_n_rows <- function(x) if (is.list(x)) dim(x[[1]])[1] else dim(x)[1]

nl_check_same_rows <- function(x, y, xarg = "x", yarg = "y", call = rlang::caller_env()) {
  nx <- nl_n_rows(x)
  ny <- dim(y)[1]
  if (nx != ny) {
    nl_abort(c("{.arg {xarg}} and {.arg {yarg}} must have the same number of samples.",
               x = "{.arg {xarg}} has {nx} sample{?s} and {.arg {yarg}} has {ny}.",
               i = "Samples are the first dimension (rows)."), "data", call = call)
  }
}

# The model's output shape for inputs like x, without running or building it
# (layers check their inputs again when the first step runs, inside a rollback).
nl_training_output_shape <- function(model, x, call = rlang::caller_env()) {
  shape <- if (is.list(x)) dim(x[[1]]) else dim(x)
  if (inherits(model, "nl_functional")) nl_check_input_spec(model, shape, call = call)
  out <- nl_layer_output_shape(model, shape)
  if (is.list(out)) {
    nl_abort(c("Models with several outputs cannot be trained yet.",
               i = "Use a model with a single output."), "value", call = call)
  }
  out
}

# Validates and prepares (x, y) for a compiled model: returns x, y (in the
# loss's form) and the resolved metrics.
nl_prepare_xy <- function(model, comp, x, y, xarg = "x", yarg = "y", call = rlang::caller_env()) {
  x <- nl_training_x(x, arg = xarg, call = call)
  if (is.null(y)) {
    nl_abort(c("{.arg {yarg}} must be given.", i = "Give the targets, one row per sample."),
             "missing", call = call)
  }
  y <- nl_as_input(y, arg = yarg, call = call)$x
  nl_check_same_rows(x, y, xarg, yarg, call = call)
  n <- nl_n_rows(x)
  if (n == 0) {
    nl_abort(c("{.arg {xarg}} must have at least one sample.",
               x = "You supplied {nl_describe(if (is.list(x)) x[[1]] else x)}.",
               i = "Give one row per sample."), "data", call = call)
  }
  out_shape <- nl_training_output_shape(model, x, call = call)
  y <- nl_loss_prepare_y(comp$loss, y, out_shape, arg = yarg, call = call)
  if (!nl_all_finite_cpp(y)) {
    bad <- sum(!is.finite(y))
    nl_abort(c("{.arg {yarg}} must not contain missing or infinite values.",
               x = "{.arg {yarg}} has {bad} value{?s} that {?is/are} {.code NA}, {.code NaN} or infinite.",
               i = "Remove or impute those samples before training."), "data", call = call)
  }
  metrics <- nl_resolve_metrics(comp$metrics, comp$loss, out_shape, call = call)
  list(x = x, y = y, metrics = metrics, n = n)
}

# Builds (first use) or checks the model for inputs shaped like x; a failure
# changes nothing.
nl_prepare_model <- function(model, x, call = rlang::caller_env()) {
  shape <- if (is.list(x)) dim(x[[1]]) else dim(x)
  nl_with_rollback(nl_all_layers(model), {
    nl_layer_prepare(model, shape, call = call)
    # The training loop runs a sequential model's layers without checking
    # them again, so each is checked here, once.
    if (inherits(model, "nl_sequential")) {
      for (l in nl_exec_units(model)) {
        nl_layer_prepare(l, shape, call = call)
        shape <- nl_layer_output_shape(l, shape)
      }
    }
  })
  invisible(model)
}

# validation_data's inputs must have the training inputs' shape (apart from
# the number of samples).
nl_check_validation_shape <- function(x, vx, call = rlang::caller_env()) {
  xs <- if (is.list(x)) x else list(x)
  vs <- if (is.list(vx)) vx else list(vx)
  ok <- length(xs) == length(vs) &&
    all(mapply(function(a, b) identical(as.integer(dim(a)[-1]), as.integer(dim(b)[-1])), xs, vs))
  if (!ok) {
    expected <- nl_format_shape(c(NA, dim(xs[[1]])[-1]))
    got <- nl_format_shape(dim(vs[[1]]))
    nl_abort(c("{.arg validation_data} does not match the training data.",
               x = "{.arg validation_data[[1]]} has shape {got}; the training inputs have shape {expected}.",
               i = "Give validation inputs with the same shape as {.arg x} (any number of samples)."),
             "shape", call = call)
  }
}

nl_resolve_verbose <- function(verbose) {
  if (identical(verbose, "auto")) {
    if (!interactive() || identical(Sys.getenv("TESTTHAT"), "true")) return(0L)
    return(1L)
  }
  if (!is.numeric(verbose) && !is.logical(verbose) || length(verbose) != 1 || is.na(verbose)) {
    nl_abort(c("{.arg verbose} must be {.val auto}, 0, 1 or 2.",
               x = "You supplied {nl_describe(verbose)}."), "value")
  }
  as.integer(verbose)
}

# ---- fit ---------------------------------------------------------------------

#' Train a model
#'
#' Trains a compiled model with mini-batch gradient descent for a number of
#' epochs. Each step runs the layers in training mode (`training = TRUE`:
#' dropout is active, batch normalization uses and updates its batch
#' statistics), computes the loss plus the regularization penalties of all
#' weights, back-propagates, updates every trainable weight of every trainable
#' layer with the optimizer, then applies the weights' constraints. Weights of
#' non-trainable layers are left untouched.
#'
#' If a step fails, the model and the optimizer are left as they were before
#' that step; invalid arguments or data (e.g. `x` and `y` with different
#' numbers of samples, or `y` not matching the model's output) are refused
#' before anything changes.
#'
#' @param object A compiled model (see [compile()]).
#' @param x Input data: an array, vector or data frame with one sample per row
#'   (first dimension), or a list of them for a model with several inputs.
#' @param y Targets: an array of the model's output shape (a vector is fine
#'   for an output of shape `c(batch, 1)`), or 0-based class indices for the
#'   loss `"sparse_categorical_crossentropy"`.
#' @param ... Must be empty, except `view_metrics` (accepted and ignored).
#' @param batch_size Number of samples per gradient update; `NULL` means 32.
#' @param epochs Number of passes over the data. The default is 10, as in the
#'   normlayers design (keras3's default is 1).
#' @param verbose `0` silent, `1` a progress bar per epoch and a summary line,
#'   `2` only the summary line per epoch. `"auto"` means 1, except 0 when R is
#'   not interactive or under testthat.
#' @param validation_split Fraction (in `[0, 1)`) of the data held out for
#'   validation: the *last* samples, taken before shuffling, as in Keras.
#' @param validation_data `list(x_val, y_val)` to evaluate on at the end of
#'   each epoch; overrides `validation_split`.
#' @param shuffle Whether to shuffle the training samples before each epoch
#'   (with R's random number generator, so `set.seed()` reproduces a run).
#' @returns A `keras_training_history` object, invisibly: a list with `params`
#'   (`verbose`, `epochs`, `steps`) and `metrics` (per-epoch `loss`, the
#'   metrics, and `val_loss`, `val_<metric>` with validation data). It has
#'   `print()`, `plot()` and `as.data.frame()` methods.
#' @export
#' @family training
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(200), 100, 2)
#' y <- x %*% c(2, -1) + 0.5
#' model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
#' compile(model, optimizer = optimizer_sgd(learning_rate = 0.1), loss = "mse",
#'         metrics = "mae")
#' history <- fit(model, x, y, epochs = 5, batch_size = 16, verbose = 0,
#'                validation_split = 0.2)
#' history
#' as.data.frame(history)
#' plot(history)
#' @method fit nl_layer
fit.nl_layer <- function(object, x = NULL, y = NULL, ..., batch_size = NULL, epochs = 10,
                         verbose = getOption("keras.verbose", "auto"),
                         validation_split = 0, validation_data = NULL, shuffle = TRUE) {
  nl_with_call(rlang::current_call(), {
    nl_check_model_arg(object)
    nl_check_dots(list(...), "view_metrics")
    comp <- nl_check_compiled(object, "fit")
    batch_size <- nl_check_batch_size(batch_size)
    epochs <- nl_check_count(epochs, "epochs", min = 0)
    verbose <- nl_resolve_verbose(verbose)
    validation_split <- nl_check_number(validation_split, "validation_split", min = 0, max = 1)
    if (validation_split >= 1) {
      nl_abort(c("{.arg validation_split} must be less than 1.",
                 x = "You supplied {validation_split}."), "value")
    }
    shuffle <- nl_check_flag(shuffle, "shuffle")
    data <- nl_prepare_xy(object, comp, x, y)
    val <- NULL
    if (!is.null(validation_data)) {
      if (!is.list(validation_data) || is.data.frame(validation_data) ||
          length(validation_data) < 2) {
        nl_abort(c("{.arg validation_data} must be {.code list(x_val, y_val)}.",
                   x = "You supplied {nl_describe(validation_data)}."), "value")
      }
      v <- nl_prepare_xy(object, comp, validation_data[[1]], validation_data[[2]],
                         xarg = "validation_data[[1]]", yarg = "validation_data[[2]]")
      nl_check_validation_shape(data$x, v$x)
      val <- list(x = v$x, y = v$y, from = 1, count = v$n)
    } else if (validation_split > 0) {
      # The last rows validate; both parts are read in place, not copied.
      n <- data$n
      split_at <- floor(n * (1 - validation_split))
      if (split_at < 1 || split_at >= n) {
        nl_abort(c("{.arg validation_split} leaves no samples for training or for validation.",
                   x = "{n} sample{?s} with {.arg validation_split} = {validation_split}."), "value")
      }
      val <- list(x = data$x, y = data$y, from = split_at + 1, count = n - split_at)
      data$n <- split_at
    }
    nl_fit_run(object, comp, data, val, batch_size, as.integer(epochs), verbose, shuffle)
  })
}

# Builds or checks the model, then trains. If no step completes (a failure in
# the first step, or epochs = 0), the model is left as it was, unbuilt included.
nl_fit_run <- function(model, comp, data, val, batch_size, epochs, verbose, shuffle) {
  layers <- nl_all_layers(model)
  before <- nl_snapshot(layers)
  nl_prepare_model(model, data$x)
  plan <- nl_training_plan(model, comp, data$metrics)
  keep <- FALSE
  on.exit(if (!keep) nl_restore_snapshot(before), add = TRUE)
  history <- withCallingHandlers(
    nl_fit_loop(plan, data, val, batch_size, epochs, verbose, shuffle),
    normlayers_error_fit = function(e) {
      keep <<- !(identical(e$epoch, 1L) && identical(e$step, 1L))
    }
  )
  keep <- epochs > 0
  invisible(history)
}

# ---- evaluate ----------------------------------------------------------------

#' Evaluate a model
#'
#' Computes the loss (including regularization penalties, as Keras does) and
#' the compiled metrics of a model on data, in inference mode
#' (`training = FALSE`), batch by batch.
#'
#' @param object A compiled model.
#' @param x,y Input data and targets, as for [fit()].
#' @param ... Further arguments passed to methods; for models it must be empty.
#' @param batch_size Number of samples per batch; `NULL` means 32.
#' @param verbose `0` silent, `1` or `2` print one line with the results;
#'   `"auto"` is 0 when not interactive or under testthat.
#' @returns A named list: `loss`, then one element per metric.
#' @export
#' @family training
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(40), 20, 2)
#' y <- x %*% c(1, 1)
#' model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
#' compile(model, loss = "mse", metrics = "mae")
#' evaluate(model, x, y)
evaluate <- function(object, ...) UseMethod("evaluate")

#' @rdname evaluate
#' @export
evaluate.nl_layer <- function(object, x = NULL, y = NULL, ..., batch_size = NULL,
                              verbose = "auto") {
  nl_with_call(rlang::current_call(), {
    nl_check_model_arg(object)
    nl_check_dots(list(...))
    comp <- nl_check_compiled(object, "evaluate")
    batch_size <- nl_check_batch_size(batch_size)
    verbose <- nl_resolve_verbose(verbose)
    data <- nl_prepare_xy(object, comp, x, y)
    nl_prepare_model(object, data$x)
    plan <- nl_training_plan(object, comp, data$metrics)
    res <- nl_with_rollback(plan$layers,
                            nl_test_loop(plan, data$x, data$y, 1, data$n, batch_size))
    if (verbose >= 1L) cli::cat_line(nl_format_logs(res))
    res
  })
}

# ---- history -----------------------------------------------------------------

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
  df <- data.frame(
    epoch = rep(seq_len(epochs), length(m)),
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
