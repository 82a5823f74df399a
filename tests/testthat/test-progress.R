# Expected formats follow Keras's Progbar (keras/src/utils/progbar.py) and
# ProgbarLogger, and the keras3 output shown in its vignettes, e.g.
# "782/782 - 2s - 3ms/step - loss: 0.3410 - val_loss: ...". Timings vary, so
# they are matched by pattern or masked.

pg_fit <- function(verbose, epochs = 2, ...) {
  set.seed(1)
  x <- matrix(rnorm(64), 32, 2)
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  compile(model, optimizer = optimizer_sgd(0.1), loss = "mse", metrics = "mae")
  set.seed(2)
  fit(model, x, x %*% c(1, 2), epochs = epochs, batch_size = 8, verbose = verbose, ...)
}

mask_times <- function(x) {
  x <- gsub("[0-9]+(ms|us|s)/step", "<t>/step", x)
  gsub("([=\u2501]{20}) [0-9:]+s? ", "\\1 <t> ", gsub(" - [0-9]+s - ", " - <t> - ", x))
}

test_that("verbose = 2 prints Keras's one line per epoch", {
  withr::local_options(cli.progress_show_after = Inf)
  out <- capture.output(pg_fit(2, validation_split = 0.25))
  expect_length(out, 4)
  expect_identical(out[c(1, 3)], c("Epoch 1/2", "Epoch 2/2"))
  expect_match(out[2], "^3/3 - [0-9]+s - [0-9]+(ms|us|s)/step - loss: [0-9.e+-]+ - mae: [0-9.e+-]+ - val_loss: [0-9.e+-]+ - val_mae: [0-9.e+-]+$")
  expect_snapshot(pg_fit(2), transform = mask_times)
})

test_that("verbose = 1 ends each epoch with a full bar and the results", {
  withr::local_options(cli.progress_show_after = Inf, cli.num_colors = 1)
  out <- capture.output(h <- pg_fit(1))
  expect_identical(out[1], "Epoch 1/2")
  bar <- strrep(nl_progress_bar_char(), 20)
  expect_match(out[2], paste0("^4/4 ", bar, " [0-9]+s [0-9]+(ms|us|s)/step - loss: [0-9.]+ - mae: [0-9.]+$"))
  # the printed values are the history's, rounded as Keras prints them
  expect_match(out[4], sprintf("loss: %.4f - mae: %.4f$", h$metrics$loss[2], h$metrics$mae[2]),
               fixed = FALSE)
  expect_snapshot(pg_fit(1), transform = mask_times)
})

test_that("a single epoch has no 'Epoch 1/1' line; verbose = 0 prints nothing", {
  withr::local_options(cli.progress_show_after = Inf)
  out <- capture.output(pg_fit(2, epochs = 1))
  expect_length(out, 1)
  expect_match(out, "^4/4 - ")
  expect_silent(pg_fit(0))
})

test_that("evaluate() and predict() print their progress line", {
  withr::local_options(cli.progress_show_after = Inf, cli.num_colors = 1)
  set.seed(1)
  x <- matrix(rnorm(20), 10, 2)
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  compile(model, loss = "mse", metrics = "mae")
  expect_output(evaluate(model, x, x[, 1], batch_size = 4, verbose = 2),
                "^3/3 - [0-9]+s - [0-9]+(ms|us|s)/step - loss: [0-9.e+-]+ - mae: [0-9.e+-]+$")
  expect_output(evaluate(model, x, x[, 1], batch_size = 4, verbose = 1),
                paste0("^3/3 ", strrep(nl_progress_bar_char(), 20), " [0-9]+s [0-9]+(ms|us|s)/step - loss: "))
  expect_output(predict(model, x, batch_size = 5, verbose = 1),
                paste0("^2/2 ", strrep(nl_progress_bar_char(), 20), " [0-9]+s [0-9]+(ms|us|s)/step$"))
  expect_silent(predict(model, x, verbose = 0))
})

test_that("the live bar shows the running values and an ETA", {
  withr::local_options(cli.progress_show_after = Inf, cli.num_colors = 1)
  pb <- nl_progbar(10, 1L)
  pb$start <- Sys.time() - 2        # 2 s for the first 2 steps
  nl_progbar_update(pb, 2, list(loss = 0.25, mae = 1e-4))
  on.exit(cli::cli_progress_done(id = pb$id, .envir = pb), add = TRUE)
  expect_match(pb$line, paste0("^ 2/10 ", strrep(nl_progress_bar_char(), 4), strrep(nl_progress_bar_todo_char(), 16),
                               " [0-9]+s [0-9.]+(s|ms)/step - loss: 0.2500 - mae: 1.0000e-04$"))
  expect_match(pb$line, " 8s 1s/step", fixed = TRUE)
})

test_that("values, times and ETAs are formatted as Keras formats them", {
  expect_identical(nl_progress_values(list(loss = 0.5, learning_rate = 1e-4)),
                   " - loss: 0.5000 - learning_rate: 1.0000e-04")
  expect_identical(nl_progress_values(list(loss = 1234.56789)), " - loss: 1234.5679")
  expect_identical(nl_progress_time_per_step(0.003), " 3ms/step")
  expect_identical(nl_progress_time_per_step(2.4), " 2s/step")
  expect_identical(nl_progress_time_per_step(2e-5), " 20us/step")
  expect_identical(nl_progress_eta(5), "5s")
  expect_identical(nl_progress_eta(125), "2:05")
  expect_identical(nl_progress_eta(3725), "1:02:05")
  expect_identical(nl_progress_count(7, 120), "  7/120")
})

test_that("verbose follows keras3: 'auto' and getOption('keras.verbose')", {
  withr::local_envvar(TESTTHAT = "true")
  expect_identical(nl_resolve_verbose("auto"), 0L)
  withr::local_options(knitr.in.progress = TRUE)
  expect_identical(nl_resolve_verbose("auto"), 2L)
  withr::local_options(knitr.in.progress = NULL)
  withr::local_envvar(TESTTHAT = "false")
  expect_identical(nl_resolve_verbose("auto"), 1L)
  expect_identical(nl_resolve_verbose(2), 2L)
  expect_identical(nl_resolve_verbose(TRUE), 1L)
  expect_error(nl_resolve_verbose(3), class = "normlayers_error_value")
  expect_error(nl_resolve_verbose("loud"), class = "normlayers_error_value")
  # the option is the default of fit(), evaluate() and predict()
  expect_identical(formals(fit.nl_layer)$verbose,
                   quote(getOption("keras.verbose", default = "auto")))
  withr::local_options(keras.verbose = 2, cli.progress_show_after = Inf)
  expect_output(pg_fit(verbose = getOption("keras.verbose"), epochs = 1), "^4/4 - ")
  set.seed(1)
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  compile(model, loss = "mse")
  expect_output(evaluate(model, matrix(1, 3, 2), 1:3), "^1/1 - ")
})

test_that("the live bar is drawn by cli without errors", {
  withr::local_options(cli.progress_show_after = 0, cli.dynamic = FALSE,
                       cli.progress_throttle = 0)
  msgs <- character()
  out <- withCallingHandlers(
    capture.output(pg_fit(1)),
    message = function(m) {
      msgs <<- c(msgs, conditionMessage(m))
      invokeRestart("muffleMessage")
    })
  expect_length(out, 4)
  live <- paste(msgs, collapse = "\n")
  expect_match(live, "1/4 ")
  expect_match(live, "loss: [0-9.]+ - mae: [0-9.]+")
})

test_that("a failed fit closes its live bar", {
  withr::local_options(cli.progress_show_after = 0, cli.dynamic = FALSE,
                       cli.progress_throttle = 0)
  pb <- nl_progbar(10, 1L)
  suppressMessages(nl_progbar_update(pb, 2, list(loss = 1)))
  expect_false(is.null(pb$id))
  suppressMessages(nl_progress_close(list(pb = pb)))
  expect_null(pb$id)
  expect_silent(nl_progress_close(NULL))

  set.seed(1)
  x <- matrix(rnorm(64), 32, 2)
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  compile(model, optimizer = "sgd", loss = "mse")
  boom <- callback_lambda(on_train_batch_end = function(b, logs) if (b == 1) stop("boom"))
  suppressMessages(expect_error(
    capture.output(fit(model, x, x[, 1], batch_size = 8, verbose = 1, callbacks = list(boom))),
    class = "normlayers_error_fit"))
  out <- suppressMessages(capture.output(fit(model, x, x[, 1], batch_size = 8, verbose = 1)))
  expect_match(out[length(out)], "^4/4 ")
})
