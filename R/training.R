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
#'   history as given. They are never weighted by `sample_weight` or
#'   `class_weight` (use `weighted_metrics`).
#' @param ... Must be empty.
#' @param loss_weights Only `NULL` (the model has one output, whose loss has
#'   weight 1).
#' @param weighted_metrics Metrics, as in `metrics`, computed as means weighted
#'   by the `sample_weight` (or `class_weight`) given to [fit()] or
#'   [evaluate()], as Keras does. A weighted metric whose name is also in
#'   `metrics` is reported as `weighted_<name>`.
#' @param run_eagerly,jit_compile,auto_scale_loss Accepted for compatibility
#'   with keras3; normlayers always runs eagerly in double precision, so they
#'   have no effect.
#' @param steps_per_execution Only `1` (callbacks see every batch).
#' @details
#' A model compiled without a loss (`loss = NULL`, as keras3 allows) can still
#' be used for [adapt()] and [predict()]; [fit()] and [evaluate()] then stop
#' with an error of class `normlayers_error_loss`.
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
compile.nl_layer <- function(object, optimizer = "rmsprop", loss = NULL, metrics = NULL, ...,
                             loss_weights = NULL, weighted_metrics = NULL, run_eagerly = FALSE,
                             steps_per_execution = 1L, jit_compile = "auto",
                             auto_scale_loss = TRUE) {
  nl_with_call(nl_generic_call("compile"), {
    nl_check_model_arg(object)
    nl_check_dots(list(...))
    if (!is.null(loss_weights)) {
      nl_abort(c("{.arg loss_weights} is not supported by normlayers.",
                 x = "Models have a single output, whose loss has weight 1.",
                 i = "Remove {.arg loss_weights}, or scale the loss with {.arg sample_weight} in {.fn fit}."),
               "unsupported")
    }
    nl_check_flag(run_eagerly, "run_eagerly")
    if (!(identical(jit_compile, "auto") || rlang::is_bool(jit_compile))) {
      nl_abort(c("{.arg jit_compile} must be {.val auto}, {.code TRUE} or {.code FALSE}.",
                 x = "You supplied {nl_describe(jit_compile)}."), "value")
    }
    nl_check_flag(auto_scale_loss, "auto_scale_loss")
    if (!identical(nl_check_count(steps_per_execution, "steps_per_execution", min = 1), 1)) {
      nl_abort(c("{.arg steps_per_execution} other than 1 is not supported by normlayers.",
                 x = "You supplied {steps_per_execution}.",
                 i = "Leave it at 1: every batch is one step."), "unsupported")
    }
    opt <- nl_get_optimizer(optimizer)
    loss <- if (is.null(loss)) NULL else nl_get_loss(loss)
    metrics <- nl_get_metrics(metrics)
    wmetrics <- nl_get_metrics(weighted_metrics)
    st <- nl_state(object)
    st$compiled <- list(optimizer = opt, loss = loss, metrics = metrics,
                        weighted_metrics = wmetrics)
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
  if (is.null(comp$loss)) {
    nl_abort(c("The model was compiled without a loss, so {.fn {what}} cannot run.",
               i = "Call {.code compile(model, optimizer = , loss = )} with a loss, e.g. {.val mse}."),
             "loss", call = call)
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

# Missing or infinite inputs would turn every weight into NA/NaN at the first
# step, so training and evaluation refuse them before any work.
nl_check_finite_x <- function(x, arg = "x", call = rlang::caller_env()) {
  xs <- if (is.list(x)) x else list(x)
  for (xi in xs) {
    if (!nl_all_finite_cpp(xi)) {
      bad <- sum(!is.finite(xi))
      nl_abort(c("{.arg {arg}} must not contain missing or infinite values.",
                 x = "{.arg {arg}} has {bad} value{?s} that {?is/are} {.code NA}, {.code NaN} or infinite.",
                 i = "Remove or impute those samples before training or evaluating."),
               "data", call = call)
    }
  }
  invisible(x)
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
  nl_check_finite_x(x, xarg, call = call)
  y <- nl_as_input(y, arg = yarg, call = call)$x
  y_raw <- y
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
  wmetrics <- nl_resolve_metrics(comp$weighted_metrics %||% list(), comp$loss, out_shape,
                                 call = call)
  taken <- vapply(metrics, `[[`, "", "name")
  for (j in seq_along(wmetrics)) {
    if (wmetrics[[j]]$name %in% taken) wmetrics[[j]]$name <- paste0("weighted_", wmetrics[[j]]$name)
  }
  list(x = x, y = y, y_raw = y_raw, metrics = metrics, weighted_metrics = wmetrics, n = n)
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

# ---- fit ---------------------------------------------------------------------

#' Train a model
#'
#' Trains a compiled model with mini-batch gradient descent, with keras3's
#' arguments and defaults. Each step runs the layers in training mode
#' (`training = TRUE`: dropout is active, batch normalization uses and updates
#' its batch statistics), computes the loss (weighted by `sample_weight` or
#' `class_weight`) plus the regularization penalties of all weights,
#' back-propagates, updates every trainable weight of every trainable layer
#' with the optimizer, then applies the weights' constraints. Weights of
#' non-trainable layers are left untouched.
#'
#' Callbacks are called in Keras's order: `on_train_begin`; for each epoch
#' `on_epoch_begin`, `on_train_batch_begin` / `on_train_batch_end` around each
#' step, the validation run (`on_test_*`), `on_epoch_end`; then
#' `on_train_end`. Training stops after the current step (and epoch) when a
#' callback sets `model$stop_training <- TRUE`.
#'
#' Every argument and all the data, `validation_data` included, are checked
#' before the first step: invalid arguments or data (e.g. `x` and `y` with
#' different numbers of samples, `y` not matching the model's output, no
#' samples, missing or infinite values in `y`, validation inputs of another
#' shape) are refused with a classed error before anything changes.
#'
#' If a step fails part-way (say a constraint function errors in epoch 3), that
#' step is undone and the steps before it are kept, so a failure late in
#' training does not throw away the epochs before it. `fit()` then raises an
#' error of class `normlayers_error_fit` whose `parent` is the original error
#' and which records `epoch`, `step` (`NA` when the validation at the end of an
#' epoch failed) and `history`, the history of the completed epochs. A failure
#' in the very first step leaves the model as it was (unbuilt included).
#'
#' Batches are gathered with one allocation of the batch's size and
#' `validation_split` reads both parts in place, so an epoch costs time
#' proportional to the number of samples.
#'
#' @param object A compiled model (see [compile()]).
#' @param x Input data: an array, vector or data frame with one sample per row
#'   (first dimension), or a list of them for a model with several inputs.
#' @param y Targets: an array of the model's output shape (a vector is fine
#'   for an output of shape `c(batch, 1)`), or 0-based class indices for the
#'   loss `"sparse_categorical_crossentropy"`.
#' @param ... Must be empty.
#' @param batch_size Number of samples per gradient update; `NULL` means 32.
#' @param epochs The epoch to train until (with `initial_epoch`, the number of
#'   the last epoch, not a count), as in keras3. The default is 1.
#' @param callbacks A list of callbacks (see [callback_early_stopping()] and
#'   the other `callback_*()` functions), or a single callback.
#' @param validation_split Fraction (in `[0, 1)`) of the data held out for
#'   validation: the *last* samples (and their `sample_weight`), taken before
#'   shuffling, as in Keras.
#' @param validation_data `list(x_val, y_val)` or
#'   `list(x_val, y_val, val_sample_weight)` to evaluate on at the end of each
#'   epoch; overrides `validation_split`.
#' @param shuffle Whether to shuffle the training samples before each epoch
#'   (with R's random number generator, so `set.seed()` reproduces a run).
#' @param class_weight Optional named list mapping 0-based class indices to
#'   weights, e.g. `list("0" = 1, "1" = 5)`; the class of a sample is its
#'   target (one column) or the position of the largest value of a one-hot
#'   target. Weights the training loss (and `weighted_metrics`) like the
#'   corresponding `sample_weight`; cannot be combined with `sample_weight`.
#' @param sample_weight Optional vector of non-negative weights, one per
#'   sample. As in Keras, a batch's loss is `sum(w * loss_i) / batch_size`
#'   (the divisor is the number of samples, not the sum of the weights), and
#'   only the `weighted_metrics` of [compile()] are weighted.
#' @param initial_epoch The epoch to start at (1-based, as in keras3), to
#'   resume a previous run: epochs `initial_epoch, ..., epochs` are run and the
#'   history records those epoch numbers.
#' @param steps_per_epoch Optional number of batches per epoch. As with
#'   Keras's array inputs, later epochs continue through the current pass over
#'   the (shuffled) data, and a new pass starts when one is used up.
#' @param validation_steps Optional number of validation batches per
#'   validation run (the first ones, every time).
#' @param validation_batch_size Batch size of the validation runs; `NULL`
#'   means `batch_size`.
#' @param validation_freq Validate after every `validation_freq`-th epoch, or
#'   (a vector) after the listed epochs. Epochs without validation have `NA`
#'   as their `val_` values in the history.
#' @param verbose `0` silent, `1` a progress bar per epoch (updated every step
#'   with the running loss and metrics and an estimated time to completion)
#'   ending in a summary line, `2` only the summary line per epoch, as keras3
#'   prints them. `"auto"` (the default, from `getOption("keras.verbose")`) is
#'   2 in a knitr document, 0 under testthat, 1 otherwise.
#' @param view_metrics `"auto"` or `FALSE` (the live metrics plot of RStudio
#'   is not available: `TRUE` is an error).
#' @returns A `keras_training_history` object, invisibly: a list with `params`
#'   (`verbose`, `epochs`, `steps`), `metrics` (per-epoch `loss`, the metrics,
#'   `val_loss`, `val_<metric>` with validation data, and what callbacks log,
#'   such as `learning_rate`) and `epoch` (the epochs run, 1-based). It has
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
#'
#' # weights, callbacks and resuming
#' history <- fit(model, x, y, epochs = 8, initial_epoch = 6, verbose = 0,
#'                sample_weight = rep(c(1, 2), 50),
#'                callbacks = list(callback_early_stopping(monitor = "loss")))
#' history$epoch
#' @method fit nl_layer
fit.nl_layer <- function(object, x = NULL, y = NULL, ..., batch_size = NULL, epochs = 1L,
                         callbacks = NULL, validation_split = 0, validation_data = NULL,
                         shuffle = TRUE, class_weight = NULL, sample_weight = NULL,
                         initial_epoch = 1L, steps_per_epoch = NULL, validation_steps = NULL,
                         validation_batch_size = NULL, validation_freq = 1L,
                         verbose = getOption("keras.verbose", default = "auto"),
                         view_metrics = getOption("keras.view_metrics", default = "auto")) {
  nl_with_call(nl_generic_call("fit"), {
    nl_check_model_arg(object)
    nl_check_dots(list(...))
    comp <- nl_check_compiled(object, "fit")
    batch_size <- nl_check_batch_size(batch_size)
    epochs <- nl_check_count(epochs, "epochs", min = 0)
    verbose <- nl_resolve_verbose(verbose)
    if (!(identical(view_metrics, "auto") || isFALSE(view_metrics))) {
      nl_abort(c("{.arg view_metrics} = {.code TRUE} is not supported by normlayers.",
                 x = "There is no live metrics viewer.",
                 i = "Use {.code plot(history)} after training."), "unsupported")
    }
    callbacks <- nl_check_callbacks(callbacks)
    initial_epoch <- nl_check_count(initial_epoch, "initial_epoch", min = 0)
    initial_epoch <- max(initial_epoch - 1, 0)
    steps_per_epoch <- nl_check_count(steps_per_epoch, "steps_per_epoch", min = 1, null_ok = TRUE)
    validation_steps <- nl_check_count(validation_steps, "validation_steps", min = 1, null_ok = TRUE)
    validation_batch_size <- nl_check_batch_size(validation_batch_size, default = NULL,
                                                 arg = "validation_batch_size")
    validation_freq <- nl_check_validation_freq(validation_freq)
    validation_split <- nl_check_number(validation_split, "validation_split", min = 0, max = 1)
    if (validation_split >= 1) {
      nl_abort(c("{.arg validation_split} must be less than 1.",
                 x = "You supplied {validation_split}."), "value")
    }
    shuffle <- nl_check_flag(shuffle, "shuffle")
    if (!is.null(class_weight) && !is.null(sample_weight)) {
      nl_abort(c("{.arg class_weight} and {.arg sample_weight} cannot be used together.",
                 i = "Fold the class weights into {.arg sample_weight}."), "value")
    }
    class_weight <- nl_check_class_weight(class_weight)
    data <- nl_prepare_xy(object, comp, x, y)
    data$sw <- nl_check_sample_weight(sample_weight, data$n)
    if (!is.null(class_weight)) {
      data$sw <- nl_class_weight_to_sample_weight(class_weight, data$y_raw)
    }
    data$y_raw <- NULL
    val <- NULL
    if (!is.null(validation_data)) {
      if (!is.list(validation_data) || is.data.frame(validation_data) ||
          !length(validation_data) %in% 2:3) {
        nl_abort(c("{.arg validation_data} must be {.code list(x_val, y_val)} or {.code list(x_val, y_val, sample_weight_val)}.",
                   x = "You supplied {nl_describe(validation_data)}."), "value")
      }
      v <- nl_prepare_xy(object, comp, validation_data[[1]], validation_data[[2]],
                         xarg = "validation_data[[1]]", yarg = "validation_data[[2]]")
      nl_check_validation_shape(data$x, v$x)
      vsw <- if (length(validation_data) == 3) {
        nl_check_sample_weight(validation_data[[3]], v$n, arg = "validation_data[[3]]")
      }
      val <- list(x = v$x, y = v$y, from = 1, count = v$n, sw = vsw)
    } else if (validation_split > 0) {
      # The last rows validate; both parts are read in place, not copied.
      n <- data$n
      split_at <- floor(n * (1 - validation_split))
      if (split_at < 1 || split_at >= n) {
        nl_abort(c("{.arg validation_split} leaves no samples for training or for validation.",
                   x = "{n} sample{?s} with {.arg validation_split} = {validation_split}."), "value")
      }
      # Keras splits sample_weight with the data; class weights only weight
      # the training part.
      vsw <- if (!is.null(sample_weight)) data$sw[seq.int(split_at + 1, n)]
      val <- list(x = data$x, y = data$y, from = split_at + 1, count = n - split_at, sw = vsw)
      data$n <- split_at
      if (!is.null(data$sw)) data$sw <- data$sw[seq_len(split_at)]
    }
    opts <- list(batch_size = batch_size, epochs = as.integer(epochs),
                 initial_epoch = as.integer(initial_epoch), shuffle = shuffle,
                 steps_per_epoch = steps_per_epoch, validation_steps = validation_steps,
                 validation_batch_size = validation_batch_size,
                 validation_freq = validation_freq, callbacks = callbacks, verbose = verbose)
    nl_fit_run(object, comp, data, val, opts)
  })
}

nl_check_validation_freq <- function(freq, call = rlang::caller_env()) {
  ok <- is.numeric(freq) && length(freq) >= 1 && !anyNA(freq) && all(is.finite(freq)) &&
    all(freq >= 1) && all(freq == trunc(freq))
  if (!ok) {
    nl_abort(c("{.arg validation_freq} must be a positive whole number or a vector of epochs.",
               x = "You supplied {nl_describe(freq)}.",
               i = "Use e.g. {.code validation_freq = 2} (every second epoch) or {.code c(1, 5, 10)}."),
             "value", call = call)
  }
  as.integer(freq)
}

# Builds or checks the model, then trains. If no step completes (a failure or
# an interrupt in the first step, or no epoch to run), the model is left as it
# was, unbuilt included; otherwise the completed steps are kept.
nl_fit_run <- function(model, comp, data, val, opts) {
  layers <- nl_all_layers(model)
  before <- nl_snapshot(layers)
  opts$done <- new.env(parent = emptyenv())
  opts$done$steps <- 0L
  on.exit(if (opts$done$steps == 0L) nl_restore_snapshot(before), add = TRUE)
  nl_prepare_model(model, data$x)
  plan <- nl_training_plan(model, comp, data$metrics, batch_rows = min(opts$batch_size, data$n),
                           weighted_metrics = data$weighted_metrics)
  history <- nl_fit_loop(plan, data, val, opts)
  invisible(history)
}

# ---- evaluate ----------------------------------------------------------------

#' Evaluate a model
#'
#' Computes the loss (including regularization penalties, as Keras does) and
#' the compiled metrics of a model on data, in inference mode
#' (`training = FALSE`), batch by batch, with keras3's arguments.
#'
#' @param object A compiled model.
#' @param x,y Input data and targets, as for [fit()].
#' @param ... Further arguments passed to methods; for models only
#'   `return_dict` (default `TRUE`; `FALSE` returns the values unnamed).
#' @param batch_size Number of samples per batch; `NULL` means 32.
#' @param verbose `0` silent, `1` a progress bar and a summary line, `2` the
#'   summary line only (as keras3 prints them); `"auto"` (the default, from
#'   `getOption("keras.verbose")`) is 2 in a knitr document, 0 under testthat,
#'   1 otherwise.
#' @param sample_weight Optional weights, one per sample, for the loss and the
#'   `weighted_metrics` (as in [fit()]).
#' @param steps Optional number of batches to evaluate (the first ones).
#' @param callbacks Callbacks whose `on_test_*` hooks are called.
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
#' evaluate(model, x, y, sample_weight = rep(c(0, 1), 10))
evaluate <- function(object, ...) UseMethod("evaluate")

#' @rdname evaluate
#' @export
evaluate.nl_layer <- function(object, x = NULL, y = NULL, ..., batch_size = NULL,
                              verbose = getOption("keras.verbose", default = "auto"),
                              sample_weight = NULL, steps = NULL, callbacks = NULL) {
  nl_with_call(nl_generic_call("evaluate"), {
    nl_check_model_arg(object)
    dots <- list(...)
    nl_check_dots(dots, "return_dict")
    return_dict <- nl_check_flag(dots$return_dict %||% TRUE, "return_dict")
    comp <- nl_check_compiled(object, "evaluate")
    batch_size <- nl_check_batch_size(batch_size)
    verbose <- nl_resolve_verbose(verbose)
    steps <- nl_check_count(steps, "steps", min = 1, null_ok = TRUE)
    callbacks <- nl_check_callbacks(callbacks)
    data <- nl_prepare_xy(object, comp, x, y)
    sw <- nl_check_sample_weight(sample_weight, data$n)
    nl_prepare_model(object, data$x)
    plan <- nl_training_plan(object, comp, data$metrics, gradients = FALSE,
                             weighted_metrics = data$weighted_metrics)
    bs <- min(batch_size, data$n)
    count <- if (is.null(steps)) data$n else min(data$n, steps * bs)
    progress <- if (verbose > 0L) nl_callback_progbar(verbose) else NULL
    cbs <- nl_callback_list(callbacks, object, list(verbose = verbose, epochs = 1L,
                                                    steps = as.integer(ceiling(count / bs))),
                            progress = progress)
    res <- nl_with_rollback(plan$layers,
                            nl_test_loop(plan, data$x, data$y, 1, count, batch_size,
                                         sw = if (is.null(sw)) NULL else sw[seq_len(count)],
                                         cbs = cbs))
    if (!return_dict) {
      res <- unname(res)
      if (length(res) == 1) res <- res[[1]]
    }
    res
  })
}
