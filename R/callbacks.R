# Callbacks: objects whose hooks fit(), evaluate() and predict() call at fixed
# points, in Keras's order (keras/src/callbacks/callback.py). A callback is an
# environment of class `c("nl_callback_<kind>", "nl_callback")` holding its
# state, `model` and `params` (set when a run starts), and hook functions named
# like Keras's methods. Hooks that take an index get Keras's 0-based epoch or
# batch index; `logs` is a named list of numbers. Internal callbacks may return
# an updated `logs` (ReduceLROnPlateau adds `learning_rate`); what a user's
# function returns is ignored.

nl_callback_hooks <- c(
  "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
  "on_train_batch_begin", "on_train_batch_end",
  "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
  "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end"
)

nl_new_callback <- function(kind, class_name, updates_logs = FALSE) {
  cb <- new.env(parent = emptyenv())
  cb$kind <- kind
  cb$class_name <- class_name
  cb$updates_logs <- updates_logs
  cb$model <- NULL
  cb$params <- list()
  class(cb) <- c(paste0("nl_callback_", kind), "nl_callback")
  cb
}

#' @export
print.nl_callback <- function(x, ...) {
  hooks <- intersect(nl_callback_hooks, ls(x))
  cat(sprintf("<%s callback>\n", x$class_name))
  if (length(hooks)) cat("  hooks:", paste(hooks, collapse = ", "), "\n")
  invisible(x)
}

# ---- running a list of callbacks --------------------------------------------

# `callbacks` as given to fit()/evaluate()/predict(): NULL, one callback, or a
# list of them.
nl_check_callbacks <- function(callbacks, call = rlang::caller_env()) {
  if (is.null(callbacks)) return(list())
  if (inherits(callbacks, "nl_callback")) return(list(callbacks))
  ok <- is.list(callbacks) && !is.data.frame(callbacks) &&
    all(vapply(callbacks, inherits, TRUE, "nl_callback"))
  if (!ok) {
    bad <- if (is.list(callbacks)) Find(function(cb) !inherits(cb, "nl_callback"), callbacks) else callbacks
    nl_abort(c("{.arg callbacks} must be a list of callbacks.",
               x = "It contains {nl_describe(bad)}.",
               i = "Create callbacks with {.fn callback_early_stopping}, {.fn callback_lambda} and the other {.fn callback_*} functions."),
             "type", call = call)
  }
  unname(callbacks)
}

# The list a run uses: the user's callbacks, then (as Keras appends them) the
# history recorder and the progress display. Sets each callback's model and
# params.
nl_callback_list <- function(callbacks, model, params, history = NULL, progress = NULL) {
  cbs <- c(callbacks, if (!is.null(history)) list(history), if (!is.null(progress)) list(progress))
  for (cb in cbs) {
    cb$model <- model
    cb$params <- params
  }
  cbs
}

# Calls `hook` on every callback in order; returns the (possibly updated) logs.
# Hooks with an index take (index, logs), the others (logs).
nl_callbacks_run <- function(cbs, hook, index = NULL, logs = NULL) {
  for (cb in cbs) {
    fn <- cb[[hook]]
    if (is.null(fn)) next
    res <- if (is.null(index)) fn(logs) else fn(index, logs)
    if (isTRUE(cb$updates_logs) && is.list(res)) logs <- res
  }
  logs
}

nl_callbacks_having <- function(cbs, hook) Filter(function(cb) !is.null(cb[[hook]]), cbs)

# model$stop_training, kept in the model's state.
nl_stop_training <- function(model) isTRUE(nl_state(model)$stop_training)

nl_set_stop_training <- function(model, value = TRUE) {
  assign("stop_training", isTRUE(value), envir = nl_state(model))
  invisible(model)
}

# ---- shared helpers -------------------------------------------------------------

nl_check_monitor <- function(monitor, call = rlang::caller_env()) {
  nl_check_string(monitor, "monitor", what = "the name of a logged quantity",
                  hint = "For example {.val val_loss}, {.val loss} or {.val val_accuracy}.",
                  call = call)
}

nl_check_verbose_flag <- function(verbose, call = rlang::caller_env()) {
  if (is.logical(verbose) && length(verbose) == 1 && !is.na(verbose)) return(as.integer(verbose))
  as.integer(nl_check_count(verbose, "verbose", call = call))
}

nl_monitor_value <- function(logs, monitor, what) {
  v <- logs[[monitor]]
  if (is.null(v)) {
    nl_warn(c("{what} is conditioned on {.val {monitor}}, which is not available.",
              i = "Available quantities: {.val {names(logs)}}."), "callback")
  }
  v
}

nl_print_msg <- function(...) cli::cat_line(...)

# Python's str() of a float: the shortest decimal form that reads back exactly.
nl_py_str <- function(x) {
  if (is.character(x)) return(x)
  if (is.integer(x)) return(if (is.na(x)) "NA" else as.character(x))
  if (is.nan(x)) return("nan")
  if (is.na(x)) return("NA")
  if (is.infinite(x)) return(if (x > 0) "inf" else "-inf")
  for (d in 15:17) {
    s <- formatC(x, digits = d, format = "g")
    if (as.numeric(s) == x) break
  }
  s <- trimws(s)
  if (!grepl("[.en]", s)) s <- paste0(s, ".0")
  s
}

# ---- early stopping ----------------------------------------------------------

#' Stop training when a monitored quantity has stopped improving
#'
#' At the end of every epoch, the monitored quantity (from the epoch's logs:
#' `"loss"`, `"val_loss"`, a metric or `"val_<metric>"`) is compared with the
#' best value so far. An epoch improves on the best if it is better by more than
#' `min_delta`. After `patience` epochs in a row without improvement,
#' `model$stop_training` is set to `TRUE` and [fit()] stops after that epoch.
#' This follows Keras's `EarlyStopping`: the epoch counter starts at
#' `start_from_epoch`, training never stops after the first epoch, and with a
#' `baseline` the patience counter is only reset by epochs that beat both the
#' best value and the baseline.
#'
#' @param monitor The quantity to monitor.
#' @param min_delta Minimum change that counts as an improvement (its absolute
#'   value is used).
#' @param patience Number of epochs without improvement after which training
#'   stops.
#' @param verbose `0` (silent) or `1` (prints a message when it stops and when
#'   it restores weights).
#' @param mode `"auto"`, `"min"` or `"max"`. `"auto"` minimizes losses and
#'   errors and maximizes accuracies (quantities whose name contains `"acc"`).
#' @param baseline Optional value the quantity must beat: training stops if no
#'   epoch within `patience` improves on it.
#' @param restore_best_weights Whether to restore, at the end of training, the
#'   weights of the epoch with the best monitored value. If no epoch improves
#'   on `baseline`, the best epoch among those seen is restored.
#' @param start_from_epoch Number of epochs to wait before monitoring starts
#'   (warm-up).
#' @returns A callback for the `callbacks` argument of [fit()].
#' @export
#' @family callbacks
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(200), 100, 2)
#' y <- x %*% c(1, -1)
#' model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
#' compile(model, optimizer = optimizer_sgd(0.1), loss = "mse")
#' history <- fit(model, x, y, epochs = 50, verbose = 0, validation_split = 0.2,
#'                callbacks = list(callback_early_stopping(patience = 2,
#'                                                         min_delta = 1e-3)))
#' length(history$metrics$loss)  # fewer than 50 epochs
callback_early_stopping <- function(monitor = "val_loss", min_delta = 0L, patience = 0L,
                                    verbose = 0L, mode = "auto", baseline = NULL,
                                    restore_best_weights = FALSE, start_from_epoch = 0L) {
  monitor <- nl_check_monitor(monitor)
  min_delta <- abs(nl_check_number(min_delta, "min_delta"))
  patience <- as.integer(nl_check_count(patience, "patience"))
  verbose <- nl_check_verbose_flag(verbose)
  mode <- nl_check_choice(mode, c("auto", "min", "max"), "mode")
  if (!is.null(baseline)) baseline <- nl_check_number(baseline, "baseline")
  restore_best_weights <- nl_check_flag(restore_best_weights, "restore_best_weights")
  start_from_epoch <- as.integer(nl_check_count(start_from_epoch, "start_from_epoch"))

  cb <- nl_new_callback("early_stopping", "EarlyStopping")
  cb$config <- list(monitor = monitor, min_delta = min_delta, patience = patience,
                    verbose = verbose, mode = mode, baseline = baseline,
                    restore_best_weights = restore_best_weights,
                    start_from_epoch = start_from_epoch)
  lower_better <- nl_monitor_lower_is_better(monitor, mode)
  # TRUE when `current` beats `reference` by more than min_delta.
  is_improvement <- function(current, reference) {
    if (is.null(reference)) return(TRUE)
    if (lower_better) current + min_delta < reference else current - min_delta > reference
  }
  cb$on_train_begin <- function(logs = NULL) {
    cb$wait <- 0L
    cb$stopped_epoch <- 0L
    cb$best <- NULL
    cb$best_weights <- NULL
    cb$best_epoch <- 0L
  }
  cb$on_epoch_end <- function(epoch, logs = NULL) {
    current <- nl_monitor_value(logs, monitor, "Early stopping")
    if (is.null(current) || epoch < start_from_epoch) return(invisible())
    if (restore_best_weights && is.null(cb$best_weights)) {
      cb$best_weights <- get_weights(cb$model)
      cb$best_epoch <- epoch
    }
    cb$wait <- cb$wait + 1L
    if (is_improvement(current, cb$best)) {
      cb$best <- current
      cb$best_epoch <- epoch
      if (restore_best_weights) cb$best_weights <- get_weights(cb$model)
      if (is.null(baseline) || is_improvement(current, baseline)) cb$wait <- 0L
      return(invisible())
    }
    if (cb$wait >= patience && epoch > 0) {
      cb$stopped_epoch <- epoch
      nl_set_stop_training(cb$model, TRUE)
    }
    invisible()
  }
  cb$on_train_end <- function(logs = NULL) {
    if (cb$stopped_epoch > 0 && verbose > 0) {
      nl_print_msg(sprintf("Epoch %d: early stopping", cb$stopped_epoch + 1L))
    }
    if (restore_best_weights && !is.null(cb$best_weights)) {
      if (verbose > 0) {
        nl_print_msg(sprintf("Restoring model weights from the end of the best epoch: %d.",
                             cb$best_epoch + 1L))
      }
      set_weights(cb$model, cb$best_weights)
    }
  }
  cb
}

# Keras's "auto" direction: maximize accuracies, minimize everything else.
nl_monitor_lower_is_better <- function(monitor, mode) {
  if (mode == "min") return(TRUE)
  if (mode == "max") return(FALSE)
  !grepl("acc", monitor, fixed = TRUE)
}

# ---- reduce learning rate on plateau ----------------------------------------

#' Reduce the learning rate when a monitored quantity has stopped improving
#'
#' Follows Keras's `ReduceLROnPlateau`: at the end of each epoch, if the
#' monitored quantity has not improved (by more than `min_delta`) for
#' `patience` epochs, the optimizer's learning rate becomes
#' `max(lr * factor, min_lr)`; then `cooldown` epochs pass before counting
#' resumes. The current learning rate is added to the epoch's logs (and so to
#' the history) as `learning_rate`.
#'
#' @param monitor The quantity to monitor.
#' @param factor Factor by which the learning rate is multiplied, in `[0, 1)`.
#' @param patience Number of epochs without improvement before reducing.
#' @param verbose `0` (silent) or `1` (prints a message at each reduction).
#' @param mode `"auto"`, `"min"` or `"max"` (`"auto"` maximizes quantities
#'   whose name contains `"acc"` and minimizes the others).
#' @param min_delta Threshold for measuring a new optimum.
#' @param cooldown Number of epochs to wait after a reduction before resuming
#'   normal operation.
#' @param min_lr Lower bound on the learning rate.
#' @param ... Must be empty.
#' @returns A callback for the `callbacks` argument of [fit()].
#' @export
#' @family callbacks
#' @examples
#' set.seed(1)
#' x <- matrix(rnorm(100), 50, 2)
#' y <- x %*% c(1, -1)
#' model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
#' compile(model, optimizer = optimizer_sgd(0.1), loss = "mse")
#' history <- fit(model, x, y, epochs = 5, verbose = 0,
#'                callbacks = list(callback_reduce_lr_on_plateau(
#'                  monitor = "loss", factor = 0.5, patience = 1, min_delta = 10)))
#' history$metrics$learning_rate
callback_reduce_lr_on_plateau <- function(monitor = "val_loss", factor = 0.1, patience = 10L,
                                          verbose = 0L, mode = "auto", min_delta = 1e-04,
                                          cooldown = 0L, min_lr = 0L, ...) {
  nl_check_dots(list(...))
  monitor <- nl_check_monitor(monitor)
  factor <- nl_check_number(factor, "factor", min = 0)
  if (factor >= 1) {
    nl_abort(c("{.arg factor} must be less than 1.", x = "You supplied {factor}.",
               i = "The new learning rate is {.code lr * factor}; use e.g. 0.1 or 0.5."),
             "value")
  }
  patience <- as.integer(nl_check_count(patience, "patience"))
  verbose <- nl_check_verbose_flag(verbose)
  mode <- nl_check_choice(mode, c("auto", "min", "max"), "mode")
  min_delta <- nl_check_number(min_delta, "min_delta")
  cooldown <- as.integer(nl_check_count(cooldown, "cooldown"))
  min_lr <- nl_check_number(min_lr, "min_lr", min = 0)

  cb <- nl_new_callback("reduce_lr_on_plateau", "ReduceLROnPlateau", updates_logs = TRUE)
  cb$config <- list(monitor = monitor, factor = factor, patience = patience, verbose = verbose,
                    mode = mode, min_delta = min_delta, cooldown = cooldown, min_lr = min_lr)
  lower_better <- nl_monitor_lower_is_better(monitor, mode)
  better <- function(a, b) if (lower_better) a < b - min_delta else a > b + min_delta
  reset <- function() {
    cb$best <- if (lower_better) Inf else -Inf
    cb$cooldown_counter <- 0L
    cb$wait <- 0L
  }
  reset()
  cb$on_train_begin <- function(logs = NULL) {
    reset()
    logs
  }
  cb$on_epoch_end <- function(epoch, logs = NULL) {
    opt <- nl_callback_optimizer(cb)
    logs$learning_rate <- nl_optimizer_lr(opt)
    current <- nl_monitor_value(logs, monitor, "Learning rate reduction")
    if (is.null(current)) return(logs)
    if (cb$cooldown_counter > 0L) {
      cb$cooldown_counter <- cb$cooldown_counter - 1L
      cb$wait <- 0L
    }
    if (better(current, cb$best)) {
      cb$best <- current
      cb$wait <- 0L
    } else if (cb$cooldown_counter <= 0L) {
      cb$wait <- cb$wait + 1L
      if (cb$wait >= patience) {
        old <- nl_optimizer_lr(opt)
        if (old > min_lr) {
          new <- max(old * factor, min_lr)
          nl_optimizer_set_lr(opt, new)
          if (verbose > 0) {
            nl_print_msg(sprintf("Epoch %d: ReduceLROnPlateau reducing learning rate to %s.",
                                 epoch + 1L, nl_py_str(new)))
          }
          cb$cooldown_counter <- cooldown
          cb$wait <- 0L
        }
      }
    }
    logs
  }
  cb
}

nl_callback_optimizer <- function(cb) {
  comp <- nl_state(cb$model)$compiled
  if (is.null(comp$optimizer)) {
    nl_abort(c("{.cls {cb$class_name}} needs a compiled model with an optimizer.",
               i = "Call {.fn compile} before {.fn fit}."), "not_compiled")
  }
  comp$optimizer
}

# ---- learning-rate schedule -------------------------------------------------

#' Learning-rate scheduler
#'
#' At the beginning of every epoch, calls `schedule(epoch, lr)` with the epoch
#' index (counting from 0, as in Keras and keras3) and the current learning
#' rate, and sets the optimizer's learning rate to the number it returns. A
#' `schedule` with a single argument is called as `schedule(epoch)`. The
#' learning rate of each epoch is added to its logs (and to the history) as
#' `learning_rate`.
#'
#' @param schedule A function of `(epoch, lr)` (or of `epoch`) returning the
#'   new learning rate, a non-negative number.
#' @param verbose `0` (silent) or `1` (prints the new learning rate each
#'   epoch).
#' @returns A callback for the `callbacks` argument of [fit()].
#' @export
#' @family callbacks
#' @examples
#' scheduler <- function(epoch, lr) if (epoch < 2) lr else lr * exp(-0.1)
#' set.seed(1)
#' model <- keras_model_sequential(input_shape = 20) |> layer_dense(10)
#' compile(model, optimizer = optimizer_sgd(), loss = "mse")
#' history <- fit(model, x = array(runif(100), c(5, 20)), y = array(0, c(5, 10)),
#'                epochs = 5, verbose = 0,
#'                callbacks = list(callback_learning_rate_scheduler(scheduler)))
#' round(history$metrics$learning_rate, 5)
callback_learning_rate_scheduler <- function(schedule, verbose = 0L) {
  if (missing(schedule) || !is.function(schedule)) {
    nl_abort(c("{.arg schedule} must be a function of {.code (epoch, lr)}.",
               x = if (missing(schedule)) "It is missing." else "You supplied {nl_describe(schedule)}.",
               i = "For example {.code function(epoch, lr) lr * 0.9}."), "type")
  }
  verbose <- nl_check_verbose_flag(verbose)
  n_args <- length(nl_formal_names(schedule))
  one_arg <- n_args == 1 && !identical(nl_formal_names(schedule), "...")
  cb <- nl_new_callback("learning_rate_scheduler", "LearningRateScheduler", updates_logs = TRUE)
  cb$on_epoch_begin <- function(epoch, logs = NULL) {
    opt <- nl_callback_optimizer(cb)
    lr <- if (one_arg) schedule(epoch) else schedule(epoch, nl_optimizer_lr(opt))
    if (!is.numeric(lr) || length(lr) != 1 || is.na(lr) || lr < 0) {
      nl_abort(c("The output of the {.arg schedule} function must be a non-negative number.",
                 x = "At epoch {epoch} it returned {nl_describe(lr)}."), "value")
    }
    nl_optimizer_set_lr(opt, lr)
    if (verbose > 0) {
      nl_print_msg(sprintf("Epoch %d: LearningRateScheduler setting learning rate to %s.",
                           epoch + 1L, nl_py_str(as.double(lr))))
    }
    logs
  }
  cb$on_epoch_end <- function(epoch, logs = NULL) {
    logs$learning_rate <- nl_optimizer_lr(nl_callback_optimizer(cb))
    logs
  }
  cb
}

# ---- terminate on NaN -------------------------------------------------------

#' Stop training when the loss becomes NaN or infinite
#'
#' After every training batch, if the running loss of the epoch is `NaN` or
#' infinite, prints `Batch <i>: Invalid loss, terminating training` (with the
#' 0-based batch index, as Keras) and sets `model$stop_training`, so that
#' [fit()] stops after that batch.
#'
#' @returns A callback for the `callbacks` argument of [fit()].
#' @export
#' @family callbacks
#' @examples
#' model <- keras_model_sequential(input_shape = 1) |> layer_dense(1)
#' compile(model, optimizer = optimizer_sgd(1e10), loss = "mse")
#' history <- fit(model, matrix(1:64 * 1e10), 1:64, batch_size = 8, epochs = 3,
#'                verbose = 0, callbacks = list(callback_terminate_on_nan()))
#' history$metrics$loss
callback_terminate_on_nan <- function() {
  cb <- nl_new_callback("terminate_on_nan", "TerminateOnNaN")
  cb$on_train_batch_end <- function(batch, logs = NULL) {
    loss <- logs$loss
    if (!is.null(loss) && (is.nan(loss) || is.na(loss) || is.infinite(loss))) {
      nl_print_msg(sprintf("Batch %d: Invalid loss, terminating training", batch))
      nl_set_stop_training(cb$model, TRUE)
    }
    invisible()
  }
  cb
}

# ---- lambda -------------------------------------------------------------------

#' Create a simple callback from functions
#'
#' Each argument is a function called at one point of [fit()], [evaluate()] or
#' [predict()], with Keras's arguments and order:
#' `on_train_begin(logs)`, then for each epoch `on_epoch_begin(epoch, logs)`,
#' `on_train_batch_begin(batch, logs)` and `on_train_batch_end(batch, logs)`
#' around every training batch, the validation run
#' (`on_test_begin(logs)`, `on_test_batch_begin(batch, logs)`,
#' `on_test_batch_end(batch, logs)`, `on_test_end(logs)`), then
#' `on_epoch_end(epoch, logs)`; finally `on_train_end(logs)`. [evaluate()]
#' calls the `on_test_*` hooks and [predict()] the `on_predict_*` hooks.
#'
#' As in keras3 (whose functions Python calls), `epoch` and `batch` count from
#' 0. `logs` is a named list: empty at the beginning of an epoch or batch, the
#' running loss and metrics of the epoch after a training batch, the epoch's
#' results (with `val_` entries) at its end. The values the functions return
#' are ignored; set `model$stop_training <- TRUE` in a function that has the
#' model in scope to stop training.
#'
#' @param on_epoch_begin,on_epoch_end Functions of `(epoch, logs)`.
#' @param on_train_begin,on_train_end Functions of `(logs)`.
#' @param on_train_batch_begin,on_train_batch_end Functions of `(batch, logs)`.
#' @param ... Further hooks by name: `on_test_begin`, `on_test_end`,
#'   `on_test_batch_begin`, `on_test_batch_end`, `on_predict_begin`,
#'   `on_predict_end`, `on_predict_batch_begin`, `on_predict_batch_end`, and
#'   the aliases `on_batch_begin` / `on_batch_end` of the training-batch hooks.
#' @returns A callback for the `callbacks` argument of [fit()], [evaluate()]
#'   and [predict()].
#' @export
#' @family callbacks
#' @examples
#' seen <- character()
#' cb <- callback_lambda(
#'   on_epoch_end = function(epoch, logs) seen <<- c(seen, sprintf("%d: %.3f", epoch, logs$loss))
#' )
#' model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
#' compile(model, optimizer = "sgd", loss = "mse")
#' fit(model, matrix(rnorm(20), 10), rnorm(10), epochs = 2, verbose = 0,
#'     callbacks = list(cb))
#' seen
callback_lambda <- function(on_epoch_begin = NULL, on_epoch_end = NULL, on_train_begin = NULL,
                            on_train_end = NULL, on_train_batch_begin = NULL,
                            on_train_batch_end = NULL, ...) {
  fns <- list(on_epoch_begin = on_epoch_begin, on_epoch_end = on_epoch_end,
              on_train_begin = on_train_begin, on_train_end = on_train_end,
              on_train_batch_begin = on_train_batch_begin,
              on_train_batch_end = on_train_batch_end)
  dots <- list(...)
  nl_check_dots(dots, c(setdiff(nl_callback_hooks, names(fns)), "on_batch_begin", "on_batch_end"))
  for (alias in c("on_batch_begin", "on_batch_end")) {
    if (!is.null(dots[[alias]])) {
      target <- sub("on_batch", "on_train_batch", alias)
      if (is.null(fns[[target]])) fns[[target]] <- dots[[alias]]
      dots[[alias]] <- NULL
    }
  }
  fns <- c(fns, dots)
  fns <- fns[!vapply(fns, is.null, TRUE)]
  for (nm in names(fns)) {
    if (!is.function(fns[[nm]])) {
      nl_abort(c("{.arg {nm}} must be a function.", x = "You supplied {nl_describe(fns[[nm]])}."),
               "type")
    }
  }
  cb <- nl_new_callback("lambda", "LambdaCallback")
  for (nm in names(fns)) {
    local({
      fn <- fns[[nm]]
      with_index <- !nm %in% c("on_train_begin", "on_train_end", "on_test_begin",
                               "on_test_end", "on_predict_begin", "on_predict_end")
      cb[[nm]] <- if (with_index) {
        function(index, logs = NULL) { fn(index, logs); invisible() }
      } else {
        function(logs = NULL) { fn(logs); invisible() }
      }
    })
  }
  cb
}

# ---- CSV logger -------------------------------------------------------------

#' Stream epoch results to a CSV file
#'
#' Writes one row per epoch as Keras's `CSVLogger` does: a header `epoch`
#' followed by the logged quantities in sorted order (with `val_` columns added
#' even before the first validation, holding `NA` when an epoch has no
#' validation), the 0-based epoch index, and the values in Python's shortest
#' round-trip notation. Lines end in `"\r\n"` as Python's `csv` module writes
#' them.
#'
#' @param filename Path of the CSV file.
#' @param separator String separating the fields.
#' @param append Whether to append to an existing file (the header is written
#'   only if the file is empty or new) instead of overwriting it.
#' @returns A callback for the `callbacks` argument of [fit()].
#' @export
#' @family callbacks
#' @examples
#' path <- tempfile(fileext = ".csv")
#' model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
#' compile(model, optimizer = "sgd", loss = "mse", metrics = "mae")
#' fit(model, matrix(rnorm(20), 10), rnorm(10), epochs = 3, verbose = 0,
#'     callbacks = list(callback_csv_logger(path)))
#' read.csv(path)
callback_csv_logger <- function(filename, separator = ",", append = FALSE) {
  if (missing(filename)) {
    nl_abort(c("{.arg filename} must be a file path.", x = "It is missing."), "value")
  }
  nl_check_string(filename, "filename", what = "a file path")
  if (!rlang::is_string(separator) || is.na(separator) || nchar(separator) != 1) {
    nl_abort(c("{.arg separator} must be a single character.",
               x = "You supplied {nl_describe(separator)}."), "value")
  }
  append <- nl_check_flag(append, "append")
  cb <- nl_new_callback("csv_logger", "CSVLogger")
  cb$config <- list(filename = filename, separator = separator, append = append)
  cb$on_train_begin <- function(logs = NULL) {
    cb$write_header <- TRUE
    if (append && file.exists(filename)) {
      cb$write_header <- length(readLines(filename, n = 1, warn = FALSE)) == 0 ||
        !nzchar(readLines(filename, n = 1, warn = FALSE))
    }
    if (!append) close(file(filename, open = "wb"))
    cb$keys <- NULL
  }
  cb$on_epoch_end <- function(epoch, logs = NULL) {
    if (is.null(cb$keys)) {
      keys <- sort(names(logs), method = "radix")
      if (!any(startsWith(keys, "val_")) && length(keys)) keys <- c(keys, paste0("val_", keys))
      cb$keys <- keys
    }
    con <- file(filename, open = "ab")
    on.exit(close(con), add = TRUE)
    field <- function(v) nl_csv_quote(v, separator)
    if (isTRUE(cb$write_header)) {
      writeChar(paste0(paste(vapply(c("epoch", cb$keys), field, ""), collapse = separator), "\r\n"),
                con, eos = NULL)
      cb$write_header <- FALSE
    }
    vals <- vapply(cb$keys, function(k) {
      v <- logs[[k]]
      if (is.null(v)) "NA" else if (length(v) > 1)
        paste0("[", paste(vapply(v, nl_py_str, ""), collapse = ", "), "]") else nl_py_str(v)
    }, "")
    row <- c(as.character(epoch), vapply(vals, field, ""))
    writeChar(paste0(paste(row, collapse = separator), "\r\n"), con, eos = NULL)
  }
  cb
}

# Quoting as Python's csv module (excel dialect, QUOTE_MINIMAL).
nl_csv_quote <- function(s, sep) {
  if (grepl(sep, s, fixed = TRUE) || grepl("[\"\r\n]", s)) {
    paste0("\"", gsub("\"", "\"\"", s, fixed = TRUE), "\"")
  } else {
    s
  }
}

# ---- model checkpoint -------------------------------------------------------

#' Save the model or its weights during training
#'
#' Follows Keras's `ModelCheckpoint`: at the end of every epoch (or every
#' `save_freq` training batches), saves the model with [save_model()] (or only
#' its weights with `save_model_weights()` when `save_weights_only = TRUE`) to
#' `filepath`. The path may contain Python-style fields filled from the epoch
#' (counting from 1) and the logs, e.g. `"model-{epoch:02d}-{val_loss:.2f}.keras"`.
#' With `save_best_only = TRUE` it saves only when the monitored quantity is
#' better than the best so far (and than `initial_value_threshold`).
#'
#' @param filepath Path of the file to write. Must end in `.keras` (or `.rds`)
#'   to save the model, in `.weights.h5` with `save_weights_only = TRUE`.
#'   Directories are created as needed; existing files are overwritten.
#' @param monitor The quantity to monitor with `save_best_only`.
#' @param verbose `0` (silent) or `1` (prints a message for each decision).
#' @param save_best_only Whether to save only when the model is the best so
#'   far.
#' @param save_weights_only Whether to save only the weights.
#' @param mode `"auto"`, `"min"` or `"max"` for `save_best_only` (`"auto"`
#'   maximizes quantities whose name contains `"acc"` or starts with
#'   `"fmeasure"`).
#' @param save_freq `"epoch"` or a number of training batches between saves.
#' @param initial_value_threshold Optional initial "best" value of the
#'   monitored quantity.
#' @returns A callback for the `callbacks` argument of [fit()].
#' @export
#' @family callbacks
#' @examples
#' dir <- tempfile()
#' model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
#' compile(model, optimizer = "sgd", loss = "mse")
#' fit(model, matrix(rnorm(40), 20), rnorm(20), epochs = 2, verbose = 0,
#'     callbacks = list(callback_model_checkpoint(
#'       file.path(dir, "model-{epoch:02d}.keras"), monitor = "loss")))
#' list.files(dir)
callback_model_checkpoint <- function(filepath, monitor = "val_loss", verbose = 0L,
                                      save_best_only = FALSE, save_weights_only = FALSE,
                                      mode = "auto", save_freq = "epoch",
                                      initial_value_threshold = NULL) {
  if (missing(filepath)) {
    nl_abort(c("{.arg filepath} must be a file path.", x = "It is missing."), "value")
  }
  nl_check_string(filepath, "filepath", what = "a file path")
  monitor <- nl_check_monitor(monitor)
  verbose <- nl_check_verbose_flag(verbose)
  save_best_only <- nl_check_flag(save_best_only, "save_best_only")
  save_weights_only <- nl_check_flag(save_weights_only, "save_weights_only")
  mode <- nl_check_choice(mode, c("auto", "min", "max"), "mode")
  if (!identical(save_freq, "epoch")) save_freq <- as.integer(nl_check_count(save_freq, "save_freq", min = 1))
  if (!is.null(initial_value_threshold)) {
    initial_value_threshold <- nl_check_number(initial_value_threshold, "initial_value_threshold")
  }
  if (save_weights_only && !endsWith(filepath, ".weights.h5")) {
    nl_abort(c("With {.code save_weights_only = TRUE}, {.arg filepath} must end in {.file .weights.h5}.",
               x = "You supplied {.file {filepath}}."), "value")
  }
  if (!save_weights_only && !endsWith(filepath, ".keras") && !endsWith(filepath, ".rds")) {
    nl_abort(c("{.arg filepath} must end in {.file .keras} (or {.file .rds}) to save the model.",
               x = "You supplied {.file {filepath}}.",
               i = "Use {.code save_weights_only = TRUE} with a {.file .weights.h5} path to save only the weights."),
             "value")
  }
  lower_better <- if (mode == "min") TRUE else if (mode == "max") FALSE else
    !(grepl("acc", monitor, fixed = TRUE) || startsWith(monitor, "fmeasure"))

  cb <- nl_new_callback("model_checkpoint", "ModelCheckpoint")
  cb$config <- list(filepath = filepath, monitor = monitor, verbose = verbose,
                    save_best_only = save_best_only, save_weights_only = save_weights_only,
                    mode = mode, save_freq = save_freq,
                    initial_value_threshold = initial_value_threshold)
  cb$best <- initial_value_threshold %||% (if (lower_better) Inf else -Inf)
  cb$current_epoch <- 0L
  cb$last_batch_seen <- -1L
  cb$batches_since_save <- 0L
  save <- function(epoch, batch, logs) {
    path <- nl_format_filepath(filepath, epoch, batch, logs)
    dir <- dirname(path)
    if (nzchar(dir) && !dir.exists(dir)) dir.create(dir, recursive = TRUE)
    write <- function() {
      if (save_weights_only) nl_checkpoint_save_weights(cb$model, path)
      else save_model(cb$model, path, overwrite = TRUE)
    }
    if (!save_best_only) {
      if (verbose > 0) nl_print_msg(sprintf("Epoch %d: saving model to %s", epoch + 1L, path))
      return(write())
    }
    current <- logs[[monitor]]
    if (is.null(current)) {
      nl_warn(c("Can save best model only with {.val {monitor}} available, skipping."), "callback")
      return(invisible())
    }
    improved <- if (lower_better) current < cb$best else current > cb$best
    if (improved) {
      if (verbose > 0) {
        nl_print_msg(sprintf("Epoch %d: %s improved from %.5f to %.5f, saving model to %s",
                             epoch + 1L, monitor, cb$best, current, path))
      }
      cb$best <- current
      write()
    } else if (verbose > 0) {
      nl_print_msg(sprintf("Epoch %d: %s did not improve from %.5f", epoch + 1L, monitor, cb$best))
    }
    invisible()
  }
  cb$on_epoch_begin <- function(epoch, logs = NULL) cb$current_epoch <- epoch
  cb$on_train_batch_end <- function(batch, logs = NULL) {
    if (identical(save_freq, "epoch")) return(invisible())
    add <- if (batch <= cb$last_batch_seen) batch + 1L else batch - cb$last_batch_seen
    cb$batches_since_save <- cb$batches_since_save + add
    cb$last_batch_seen <- batch
    if (cb$batches_since_save >= save_freq) {
      cb$batches_since_save <- 0L
      save(cb$current_epoch, batch, logs)
    }
    invisible()
  }
  cb$on_epoch_end <- function(epoch, logs = NULL) {
    if (identical(save_freq, "epoch")) save(epoch, NULL, logs)
    invisible()
  }
  cb
}

nl_checkpoint_save_weights <- function(model, path) {
  fn <- get0("save_model_weights", envir = asNamespace("normlayers"), mode = "function",
             inherits = FALSE)
  if (is.null(fn)) {
    nl_abort(c("Saving weights to {.file .weights.h5} files is not available in this build.",
               i = "Use {.code save_weights_only = FALSE} to save the whole model."), "unsupported")
  }
  fn(model, path, overwrite = TRUE)
}

# Fills Python format fields ({name} or {name:spec}) of a checkpoint path from
# the 1-based epoch, the 1-based batch and the logs, as Keras's str.format().
nl_format_filepath <- function(filepath, epoch, batch, logs) {
  values <- c(list(epoch = epoch + 1L), logs)
  if (!is.null(batch) && is.null(logs$batch)) values$batch <- batch + 1L
  m <- gregexpr("\\{[^{}]*\\}", filepath)[[1]]
  if (m[1] == -1) return(filepath)
  fields <- regmatches(filepath, list(m))[[1]]
  out <- vapply(fields, function(f) {
    inner <- substr(f, 2, nchar(f) - 1)
    key <- sub(":.*$", "", inner)
    spec <- if (grepl(":", inner, fixed = TRUE)) sub("^[^:]*:", "", inner) else ""
    v <- values[[key]]
    if (is.null(v)) {
      nl_abort(c("Failed to format the callback filepath {.file {filepath}}.",
                 x = "{.val {key}} is not among the epoch's logs ({.val {names(values)}})."),
               "value")
    }
    if (!nzchar(spec)) return(if (is.numeric(v) && v == trunc(v) && is.integer(v)) format(v) else nl_py_str(v))
    if (grepl("d$", spec)) v <- as.integer(round(v))
    sprintf(paste0("%", spec), v)
  }, "")
  regmatches(filepath, list(m)) <- list(unname(out))
  filepath
}

# ---- history ----------------------------------------------------------------

# Records each epoch's logs (appended after the user's callbacks, as Keras's
# History) with the 1-based epoch numbers.
nl_callback_history <- function() {
  cb <- nl_new_callback("history", "History")
  cb$epoch <- integer()
  cb$metrics <- list()
  cb$on_epoch_end <- function(epoch, logs = NULL) {
    n <- length(cb$epoch)
    cb$epoch <- c(cb$epoch, epoch + 1L)
    for (nm in union(names(cb$metrics), names(logs))) {
      prev <- cb$metrics[[nm]] %||% rep(NA_real_, n)
      cb$metrics[[nm]] <- c(prev, logs[[nm]] %||% NA_real_)
    }
    invisible()
  }
  cb
}
