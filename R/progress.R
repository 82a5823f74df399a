# Progress output of fit(), evaluate() and predict(), as Keras's ProgbarLogger
# and Progbar print it (keras/src/callbacks/progbar_logger.py,
# keras/src/utils/progbar.py):
# * verbose = 1: a live bar per epoch (a cli progress bar, updated every step
#   with the running loss and metrics and an ETA), then the epoch's final line
#   `32/32 <bar of 20 \u2501> 1s 20ms/step - loss: 0.1234 - val_loss: ...`;
# * verbose = 2: only the final line, `32/32 - 1s - 20ms/step - loss: ...`;
# * `Epoch i/n` before each epoch when there is more than one.
# It is a callback appended last to the run's callbacks, as Keras does.

# verbose as given to fit()/evaluate()/predict(). "auto" is 2 while knitr
# renders (as keras3), 0 under testthat, 1 otherwise (Keras's "auto").
nl_resolve_verbose <- function(verbose, call = rlang::caller_env()) {
  if (identical(verbose, "auto")) {
    if (isTRUE(getOption("knitr.in.progress"))) return(2L)
    if (identical(Sys.getenv("TESTTHAT"), "true")) return(0L)
    return(1L)
  }
  ok <- (is.numeric(verbose) || is.logical(verbose)) && length(verbose) == 1 &&
    !is.na(verbose) && verbose %in% 0:2
  if (!ok) {
    nl_abort(c("{.arg verbose} must be {.val auto}, 0, 1 or 2.",
               x = "You supplied {nl_describe(verbose)}."), "value", call = call)
  }
  as.integer(verbose)
}

# Values as Keras's progress bar prints them.
nl_progress_values <- function(logs) {
  if (!length(logs)) return("")
  vals <- vapply(logs, function(v) {
    v <- as.double(v)[1]
    if (is.na(v) || abs(v) > 1e-3) sprintf("%.4f", v) else sprintf("%.4e", v)
  }, "")
  paste0(" - ", names(logs), ": ", vals, collapse = "")
}

nl_progress_time_per_step <- function(t) {
  if (t >= 1 || t == 0) sprintf(" %.0fs/step", t)
  else if (t >= 1e-3) sprintf(" %.0fms/step", t * 1e3)
  else sprintf(" %.0fus/step", t * 1e6)
}

nl_progress_eta <- function(eta) {
  if (eta > 3600) sprintf("%d:%02d:%02d", eta %/% 3600, (eta %% 3600) %/% 60, round(eta %% 60))
  else if (eta > 60) sprintf("%d:%02d", eta %/% 60, round(eta %% 60))
  else sprintf("%ds", as.integer(round(eta)))
}

nl_progress_count <- function(current, target) {
  sprintf(paste0("%", nchar(as.character(target)), "d/%d"), current, target)
}

# Keras draws the bar with "\u2501", green for the steps done and white for
# the rest. Without colours the rest is drawn thinner ("\u2500"), and with
# ASCII output the bar is "=" then ".".
nl_progress_bar_char <- function() if (cli::is_utf8_output()) "\u2501" else "="

nl_progress_bar_todo_char <- function() {
  if (!cli::is_utf8_output()) return(".")
  if (cli::num_ansi_colors() > 1) "\u2501" else "\u2500"
}

nl_progress_bar_chars <- function(current, target, width = 20L) {
  done <- if (target > 0) as.integer(width * current / target) else width
  paste0(cli::col_green(strrep(nl_progress_bar_char(), done)),
         cli::col_white(strrep(nl_progress_bar_todo_char(), width - done)))
}

# One progress display for `target` steps.
nl_progbar <- function(target, verbose) {
  # cli evaluates the bar's format in this environment
  pb <- new.env(parent = baseenv())
  pb$target <- target
  pb$verbose <- verbose
  pb$start <- Sys.time()
  pb$after_first <- NULL
  pb$line <- ""
  pb$id <- NULL
  pb
}

nl_progbar_time_per_step <- function(pb, current, now) {
  if (current <= 0) return(0)
  if (!is.null(pb$after_first) && current > 1) {
    as.double(now - pb$after_first, units = "secs") / (current - 1)
  } else {
    as.double(now - pb$start, units = "secs") / current
  }
}

nl_progbar_update <- function(pb, current, logs) {
  now <- Sys.time()
  if (current == 1 && is.null(pb$after_first)) pb$after_first <- now
  if (pb$verbose != 1L || current >= pb$target) return(invisible())
  # As Keras's Progbar, the line is redrawn at most every 0.05 seconds.
  t <- unclass(now)
  if (!is.null(pb$shown_at) && t - pb$shown_at < 0.05) return(invisible())
  pb$shown_at <- t
  tps <- nl_progbar_time_per_step(pb, current, now)
  pb$line <- paste0(nl_progress_count(current, pb$target), " ",
                    nl_progress_bar_chars(current, pb$target), " ",
                    nl_progress_eta(tps * (pb$target - current)),
                    nl_progress_time_per_step(tps), nl_progress_values(logs))
  if (is.null(pb$id)) {
    pb$id <- cli::cli_progress_bar(total = pb$target, format = "{line}", clear = TRUE,
                                   .envir = pb, .auto_close = FALSE)
  }
  cli::cli_progress_update(id = pb$id, set = current, .envir = pb)
  invisible()
}

# The final line of an epoch (or evaluation, or prediction).
nl_progbar_finish <- function(pb, current, logs) {
  if (!is.null(pb$id)) {
    cli::cli_progress_done(id = pb$id, .envir = pb)
    pb$id <- NULL
  }
  if (pb$verbose < 1L) return(invisible())
  now <- Sys.time()
  tps <- nl_progbar_time_per_step(pb, current, now)
  elapsed <- sprintf("%.0fs", as.double(now - pb$start, units = "secs"))
  line <- if (pb$verbose == 1L) {
    paste0(nl_progress_count(current, pb$target), " ",
           nl_progress_bar_chars(current, pb$target), " ", elapsed,
           nl_progress_time_per_step(tps), nl_progress_values(logs))
  } else {
    paste0(nl_progress_count(current, pb$target), " - ", elapsed, " -",
           nl_progress_time_per_step(tps), nl_progress_values(logs))
  }
  cli::cat_line(line)
  invisible()
}

# The progress callback. params: epochs, steps (per epoch); for evaluate() and
# predict() `steps` is the number of batches.
nl_callback_progbar <- function(verbose) {
  cb <- nl_new_callback("progbar", "ProgbarLogger")
  cb$verbose <- verbose
  cb$in_fit <- FALSE
  cb$seen <- 0L
  start <- function(target) {
    cb$seen <- 0L
    cb$pb <- nl_progbar(target, verbose)
  }
  cb$on_train_begin <- function(logs = NULL) cb$in_fit <- TRUE
  cb$on_epoch_begin <- function(epoch, logs = NULL) {
    start(cb$params$steps)
    if (verbose > 0 && cb$params$epochs > 1) {
      cli::cat_line(sprintf("Epoch %d/%d", epoch + 1L, cb$params$epochs))
    }
  }
  cb$on_train_batch_end <- function(batch, logs = NULL) {
    cb$seen <- batch + 1L
    nl_progbar_update(cb$pb, cb$seen, logs)
  }
  cb$on_epoch_end <- function(epoch, logs = NULL) nl_progbar_finish(cb$pb, cb$seen, logs)
  cb$on_train_end <- function(logs = NULL) cb$in_fit <- FALSE
  cb$on_test_begin <- function(logs = NULL) if (!cb$in_fit) start(cb$params$steps)
  cb$on_test_batch_end <- function(batch, logs = NULL) {
    if (cb$in_fit) return(invisible())
    cb$seen <- batch + 1L
    nl_progbar_update(cb$pb, cb$seen, logs)
  }
  cb$on_test_end <- function(logs = NULL) if (!cb$in_fit) nl_progbar_finish(cb$pb, cb$seen, logs)
  cb$on_predict_begin <- function(logs = NULL) start(cb$params$steps)
  cb$on_predict_batch_end <- function(batch, logs = NULL) {
    cb$seen <- batch + 1L
    nl_progbar_update(cb$pb, cb$seen, NULL)
  }
  cb$on_predict_end <- function(logs = NULL) nl_progbar_finish(cb$pb, cb$seen, NULL)
  cb
}

# Closes a live bar left open by a failed run.
nl_progress_close <- function(cb) {
  pb <- if (!is.null(cb)) cb$pb
  if (!is.null(pb) && !is.null(pb$id)) {
    cli::cli_progress_done(id = pb$id, .envir = pb, result = "failed")
    pb$id <- NULL
  }
  invisible()
}
