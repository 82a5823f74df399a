# Expected values follow Keras 3's callbacks (keras/src/callbacks/*.py) and the
# fit loop of keras/src/trainers/trainer.py; epochs and batches passed to hooks
# are 0-based as Keras passes them.

cb_data <- function(n = 20, seed = 1) {
  set.seed(seed)
  x <- matrix(rnorm(n * 2), n, 2)
  list(x = x, y = x %*% c(1, -2) + 0.3)
}

cb_model <- function(lr = 0.1, seed = 2, metrics = NULL) {
  set.seed(seed)
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  compile(model, optimizer = optimizer_sgd(learning_rate = lr), loss = "mse", metrics = metrics)
  model
}

# A model whose loss cannot change (its only layer is frozen).
frozen_model <- function(lr = 0.1) {
  model <- cb_model(lr)
  model(matrix(0, 1, 2))
  model$trainable <- FALSE
  model
}

test_that("callbacks are checked", {
  d <- cb_data()
  model <- cb_model()
  expect_error(fit(model, d$x, d$y, callbacks = list(callback_lambda(), "x"), verbose = 0),
               class = "normlayers_error_type")
  expect_error(fit(model, d$x, d$y, callbacks = function() 1, verbose = 0),
               class = "normlayers_error_type")
  expect_error(callback_early_stopping(mode = "up"), class = "normlayers_error_value")
  expect_error(callback_early_stopping(patience = -1), class = "normlayers_error_value")
  expect_error(callback_reduce_lr_on_plateau(factor = 1), class = "normlayers_error_value")
  expect_error(callback_reduce_lr_on_plateau(foo = 1), class = "normlayers_error")
  expect_error(callback_learning_rate_scheduler(2), class = "normlayers_error_type")
  expect_error(callback_lambda(on_epoch_end = 1), class = "normlayers_error_type")
  expect_error(callback_lambda(on_nothing = identity), class = "normlayers_error")
  expect_error(callback_csv_logger(), class = "normlayers_error_value")
  expect_error(callback_model_checkpoint("m.h5"), class = "normlayers_error_value")
  expect_error(callback_model_checkpoint("m.keras", save_weights_only = TRUE),
               class = "normlayers_error_value")
  expect_error(callback_model_checkpoint("m.keras", save_freq = 0), class = "normlayers_error_value")
  # a single callback is accepted, as in keras3
  expect_s3_class(fit(model, d$x, d$y, callbacks = callback_lambda(), verbose = 0),
                  "keras_training_history")
  expect_output(print(callback_terminate_on_nan()), "TerminateOnNaN")
})

test_that("callback_lambda hooks run in Keras's order with 0-based indices", {
  d <- cb_data(10)
  model <- cb_model()
  seen <- character()
  rec <- function(name) force(name)
  hooks <- c("on_train_begin", "on_train_end", "on_test_begin", "on_test_end",
             "on_predict_begin", "on_predict_end")
  idx_hooks <- c("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end",
                 "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin",
                 "on_predict_batch_end")
  fns <- c(
    lapply(stats::setNames(nm = hooks), function(h) function(logs) seen <<- c(seen, h)),
    lapply(stats::setNames(nm = idx_hooks), function(h) {
      function(i, logs) seen <<- c(seen, paste(h, i))
    })
  )
  cb <- do.call(callback_lambda, fns)
  fit(model, d$x[1:8, ], d$y[1:8], epochs = 2, batch_size = 4, verbose = 0, shuffle = FALSE,
      validation_data = list(d$x[9:10, ], d$y[9:10]), callbacks = list(cb))
  epoch <- function(e) c(
    paste("on_epoch_begin", e),
    "on_train_batch_begin 0", "on_train_batch_end 0",
    "on_train_batch_begin 1", "on_train_batch_end 1",
    "on_test_begin", "on_test_batch_begin 0", "on_test_batch_end 0", "on_test_end",
    paste("on_epoch_end", e))
  expect_identical(seen, c("on_train_begin", epoch(0), epoch(1), "on_train_end"))

  seen <- character()
  evaluate(model, d$x, d$y, batch_size = 6, callbacks = list(cb), verbose = 0)
  expect_identical(seen, c("on_test_begin", "on_test_batch_begin 0", "on_test_batch_end 0",
                           "on_test_batch_begin 1", "on_test_batch_end 1", "on_test_end"))
  seen <- character()
  predict(model, d$x, batch_size = 6, callbacks = list(cb), verbose = 0)
  expect_identical(seen, c("on_predict_begin", "on_predict_batch_begin 0",
                           "on_predict_batch_end 0", "on_predict_batch_begin 1",
                           "on_predict_batch_end 1", "on_predict_end"))
})

test_that("hooks receive Keras's logs", {
  d <- cb_data(10)
  model <- cb_model(metrics = "mae")
  batch_logs <- list()
  epoch_logs <- list()
  end_logs <- NULL
  cb <- callback_lambda(
    on_train_batch_end = function(b, logs) batch_logs[[length(batch_logs) + 1]] <<- logs,
    on_epoch_end = function(e, logs) epoch_logs[[length(epoch_logs) + 1]] <<- logs,
    on_train_end = function(logs) end_logs <<- logs
  )
  w0 <- get_weights(model)
  h <- fit(model, d$x, d$y, epochs = 2, batch_size = 5, shuffle = FALSE, verbose = 0,
           validation_split = 0.2, callbacks = list(cb))
  expect_length(batch_logs, 2 * 2)  # 8 training rows, batches of 5
  expect_named(batch_logs[[1]], c("loss", "mae"))
  expect_named(epoch_logs[[1]], c("loss", "mae", "val_loss", "val_mae"))
  # batch logs are the running means of the epoch: the last one is the epoch's
  expect_equal(batch_logs[[2]]$loss, epoch_logs[[1]]$loss)
  expect_equal(batch_logs[[4]]$mae, epoch_logs[[2]]$mae)
  # the first batch's logged loss is the loss of the first step (before its update)
  set_weights(model, w0)
  p <- predict(model, d$x[1:5, ], verbose = 0)
  expect_equal(batch_logs[[1]]$loss, mean((p - d$y[1:5])^2))
  expect_identical(end_logs, epoch_logs[[2]])
  expect_equal(h$metrics$val_loss[2], epoch_logs[[2]]$val_loss)
})

test_that("model$stop_training stops after the current batch and epoch", {
  d <- cb_data(20)
  model <- cb_model()
  expect_false(model$stop_training)
  batches <- 0
  cb <- callback_lambda(on_train_batch_end = function(b, logs) {
    batches <<- batches + 1
    if (b == 1) model$stop_training <- TRUE
  })
  h <- fit(model, d$x, d$y, epochs = 5, batch_size = 4, verbose = 0, callbacks = list(cb))
  expect_equal(batches, 2)
  expect_length(h$metrics$loss, 1)
  expect_true(model$stop_training)
  # a new fit() starts with stop_training reset, as Keras does
  h <- fit(model, d$x, d$y, epochs = 2, batch_size = 20, verbose = 0)
  expect_length(h$metrics$loss, 2)
  expect_false(model$stop_training)
  expect_error(model$stop_training <- NA, class = "normlayers_error_value")
})

test_that("early stopping stops at the right epoch and restores the best weights", {
  d <- cb_data(40)
  model <- cb_model()
  # lr 0.1 for epochs 0-2 (val_loss falls), then 5 (training diverges)
  sched <- callback_learning_rate_scheduler(function(epoch, lr) if (epoch < 3) 0.1 else 5)
  snap <- list()
  rec <- callback_lambda(on_epoch_end = function(e, logs) snap[[e + 1]] <<- get_weights(model))
  es <- callback_early_stopping(patience = 2, restore_best_weights = TRUE)
  h <- fit(model, d$x[1:30, ], d$y[1:30], epochs = 20, batch_size = 30, verbose = 0,
           validation_data = list(d$x[31:40, ], d$y[31:40]), callbacks = list(sched, rec, es))
  vl <- h$metrics$val_loss
  expect_true(all(diff(vl[1:3]) < 0) && all(vl[4:5] > vl[3]))
  # best epoch index 2; epochs 3 and 4 do not improve: wait reaches patience 2
  expect_identical(h$epoch, 1:5)
  expect_equal(es$stopped_epoch, 4L)
  expect_equal(es$best_epoch, 2L)
  expect_identical(get_weights(model), snap[[3]])
  expect_false(identical(snap[[5]], snap[[3]]))

  # without restore_best_weights the last weights stay
  model2 <- cb_model()
  snap <- list()
  rec2 <- callback_lambda(on_epoch_end = function(e, logs) snap[[e + 1]] <<- get_weights(model2))
  h2 <- fit(model2, d$x[1:30, ], d$y[1:30], epochs = 20, batch_size = 30, verbose = 0,
            validation_data = list(d$x[31:40, ], d$y[31:40]),
            callbacks = list(sched, rec2, callback_early_stopping(patience = 2)))
  expect_length(h2$metrics$loss, 5)
  expect_identical(get_weights(model2), snap[[5]])
})

test_that("early stopping follows Keras with min_delta, baseline, start_from_epoch and mode", {
  d <- cb_data(20)
  run <- function(es, epochs = 10) {
    model <- frozen_model()
    length(fit(model, d$x, d$y, epochs = epochs, batch_size = 20, verbose = 0,
               callbacks = list(es))$metrics$loss)
  }
  # a constant loss never improves after the first epoch
  expect_equal(run(callback_early_stopping(monitor = "loss")), 2)
  expect_equal(run(callback_early_stopping(monitor = "loss", patience = 2)), 3)
  # a baseline that is never beaten does not reset the counter
  expect_equal(run(callback_early_stopping(monitor = "loss", patience = 2, baseline = -1)), 2)
  # warm-up epochs are not monitored
  expect_equal(run(callback_early_stopping(monitor = "loss", start_from_epoch = 2)), 4)
  # "max" mode on a constant quantity: same counts
  expect_equal(run(callback_early_stopping(monitor = "loss", mode = "max", patience = 1)), 2)

  # improvements smaller than min_delta do not count: SGD with a tiny rate
  model <- cb_model(lr = 1e-6)
  h <- fit(model, d$x, d$y, epochs = 10, batch_size = 20, verbose = 0,
           callbacks = list(callback_early_stopping(monitor = "loss", min_delta = 0.5)))
  expect_length(h$metrics$loss, 2)
  model <- cb_model(lr = 1e-6)
  h <- fit(model, d$x, d$y, epochs = 4, batch_size = 20, verbose = 0,
           callbacks = list(callback_early_stopping(monitor = "loss")))
  expect_length(h$metrics$loss, 4)

  # "auto" maximizes accuracies, minimizes the rest
  expect_true(nl_monitor_lower_is_better("val_loss", "auto"))
  expect_false(nl_monitor_lower_is_better("val_accuracy", "auto"))
  expect_false(nl_monitor_lower_is_better("val_loss", "max"))
})

test_that("early stopping warns when the monitored quantity is missing", {
  d <- cb_data(20)
  model <- cb_model()
  n_warn <- 0
  h <- withCallingHandlers(
    fit(model, d$x, d$y, epochs = 2, verbose = 0,
        callbacks = list(callback_early_stopping(monitor = "val_loss"))),
    normlayers_warning_callback = function(w) {
      n_warn <<- n_warn + 1
      invokeRestart("muffleWarning")
    })
  expect_equal(n_warn, 2)  # once per epoch, as Keras
  expect_length(h$metrics$loss, 2)
})

test_that("early stopping with verbose = 1 prints Keras's messages", {
  d <- cb_data(20)
  model <- frozen_model()
  expect_output(
    fit(model, d$x, d$y, epochs = 5, verbose = 0,
        callbacks = list(callback_early_stopping("loss", verbose = 1,
                                                 restore_best_weights = TRUE))),
    "Epoch 2: early stopping\nRestoring model weights from the end of the best epoch: 1.")
})

test_that("ReduceLROnPlateau reduces the learning rate at the right epochs", {
  d <- cb_data(20)
  run <- function(cb, epochs) {
    model <- frozen_model(lr = 0.1)
    h <- fit(model, d$x, d$y, epochs = epochs, batch_size = 20, verbose = 0, callbacks = list(cb))
    list(lr = h$metrics$learning_rate, final = model$optimizer$learning_rate)
  }
  # constant loss: epoch 0 sets the best, epochs 1 and 2 wait, the end of
  # epoch 2 reduces; the logged rate is the one the epoch trained with
  r <- run(callback_reduce_lr_on_plateau("loss", factor = 0.5, patience = 2, min_delta = 0), 6)
  expect_equal(r$lr, c(0.1, 0.1, 0.1, 0.05, 0.05, 0.025))
  expect_equal(r$final, 0.025)
  # cooldown 2: the two epochs after a reduction do not count
  r <- run(callback_reduce_lr_on_plateau("loss", factor = 0.5, patience = 2, min_delta = 0,
                                         cooldown = 2), 7)
  expect_equal(r$lr, c(0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025))
  # min_lr bounds the rate, and a rate at min_lr is not reduced again
  r <- run(callback_reduce_lr_on_plateau("loss", factor = 0.1, patience = 1, min_lr = 0.05), 5)
  expect_equal(r$lr, c(0.1, 0.1, 0.05, 0.05, 0.05))
  expect_output(
    run(callback_reduce_lr_on_plateau("loss", factor = 0.5, patience = 1, verbose = 1), 3),
    "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.05.")
})

test_that("the reduced learning rate is the one the optimizer uses", {
  d <- cb_data(20)
  model <- cb_model(lr = 0.1)
  w <- list()
  fit(model, d$x, d$y, epochs = 3, batch_size = 20, shuffle = FALSE, verbose = 0,
      callbacks = list(callback_learning_rate_scheduler(function(epoch, lr) c(0.1, 0, 0.1)[epoch + 1]),
                       callback_lambda(on_epoch_end = function(e, l) w[[e + 1]] <<- get_weights(model))))
  expect_identical(w[[2]], w[[1]])          # lr 0: no change
  expect_false(identical(w[[3]], w[[2]]))
})

test_that("the learning-rate scheduler follows keras3's documented example", {
  # keras3's example: keep the rate for 10 epochs, then multiply by exp(-0.1)
  scheduler <- function(epoch, lr) if (epoch < 10) lr else lr * exp(-0.1)
  model <- keras_model_sequential(input_shape = 20) |> layer_dense(units = 10)
  compile(model, optimizer = optimizer_sgd(), loss = "mse")
  expect_equal(round(model$optimizer$learning_rate, 5), 0.01)
  set.seed(3)
  h <- fit(model, x = array(runif(100), c(5, 20)), y = array(0, c(5, 10)), epochs = 15,
           callbacks = list(callback_learning_rate_scheduler(schedule = scheduler)), verbose = 0)
  expect_equal(round(model$optimizer$learning_rate, 5), 0.00607)
  expect_equal(h$metrics$learning_rate, 0.01 * exp(-0.1 * pmax(0, 0:14 - 9)))
  # a one-argument schedule gets the epoch only
  model <- cb_model()
  fit(model, matrix(1, 4, 2), rep(1, 4), epochs = 3, verbose = 0,
      callbacks = list(callback_learning_rate_scheduler(function(epoch) 0.5 / (epoch + 1))))
  expect_equal(model$optimizer$learning_rate, 0.5 / 3)
  bad <- callback_learning_rate_scheduler(function(epoch, lr) "fast")
  expect_error(fit(model, matrix(1, 4, 2), rep(1, 4), verbose = 0, callbacks = list(bad)),
               class = "normlayers_error_value")
  expect_output(fit(model, matrix(1, 4, 2), rep(1, 4), verbose = 0,
                    callbacks = list(callback_learning_rate_scheduler(function(e, lr) 0.25, verbose = 1))),
                "Epoch 1: LearningRateScheduler setting learning rate to 0.25.")
})

test_that("terminate_on_nan stops on an infinite or NaN loss", {
  model <- cb_model(lr = 0.1)
  n_batches <- 0
  count <- callback_lambda(on_train_batch_end = function(b, logs) n_batches <<- n_batches + 1)
  x <- matrix(1e200, 8, 2)
  expect_output(
    h <- fit(model, x, rep(0, 8), epochs = 3, batch_size = 2, verbose = 0,
             callbacks = list(count, callback_terminate_on_nan())),
    "Batch 0: Invalid loss, terminating training")
  expect_equal(n_batches, 1)
  expect_length(h$metrics$loss, 1)
  expect_false(is.finite(h$metrics$loss))
})

test_that("the CSV logger writes Keras's format", {
  d <- cb_data(10)
  path <- withr::local_tempfile(fileext = ".csv")
  model <- cb_model(metrics = "mae")
  h <- fit(model, d$x, d$y, epochs = 3, batch_size = 5, verbose = 0,
           callbacks = list(callback_csv_logger(path)))
  raw <- readBin(path, "raw", file.size(path))
  lines <- strsplit(rawToChar(raw), "\r\n", fixed = TRUE)[[1]]
  # sorted keys, val_ columns added because the first epoch had none
  expect_identical(lines[1], "epoch,loss,mae,val_loss,val_mae")
  expect_length(lines, 4)
  expect_identical(lines[2], paste0("0,", nl_py_str(h$metrics$loss[1]), ",",
                                    nl_py_str(h$metrics$mae[1]), ",NA,NA"))
  back <- utils::read.csv(path)
  expect_identical(back$epoch, 0:2)
  expect_identical(back$loss, h$metrics$loss)   # shortest round-trip values
  expect_identical(back$mae, h$metrics$mae)

  # append: no second header; a separator; validation columns as logged
  fit(model, d$x, d$y, epochs = 1, verbose = 0, validation_split = 0.2,
      callbacks = list(callback_csv_logger(path, append = TRUE)))
  lines <- readLines(path)
  expect_length(lines, 5)
  expect_identical(sum(startsWith(lines, "epoch")), 1L)
  path2 <- withr::local_tempfile(fileext = ".csv")
  fit(model, d$x, d$y, epochs = 1, verbose = 0, validation_split = 0.2,
      callbacks = list(callback_csv_logger(path2, separator = ";")))
  expect_identical(readLines(path2)[1], "epoch;loss;mae;val_loss;val_mae")
})

test_that("Python's float formatting is reproduced", {
  expect_identical(nl_py_str(0.1), "0.1")
  expect_identical(nl_py_str(1), "1.0")
  expect_identical(nl_py_str(1e-5), "1e-05")
  expect_identical(nl_py_str(0.0001), "0.0001")
  expect_identical(nl_py_str(1/3), "0.3333333333333333")
  expect_identical(nl_py_str(2/3), "0.6666666666666666")
  expect_identical(nl_py_str(1e16), "1e+16")
  expect_identical(nl_py_str(NaN), "nan")
  expect_identical(nl_py_str(-Inf), "-inf")
  expect_identical(nl_py_str(5L), "5")
})

test_that("model checkpoints are written as Keras names them", {
  d <- cb_data(10)
  dir <- withr::local_tempdir()
  model <- cb_model()
  fit(model, d$x, d$y, epochs = 3, verbose = 0,
      callbacks = list(callback_model_checkpoint(file.path(dir, "sub", "m-{epoch:02d}.keras"),
                                                 monitor = "loss")))
  expect_setequal(list.files(file.path(dir, "sub")), sprintf("m-%02d.keras", 1:3))
  # the last checkpoint is the trained model (.keras files hold float32 weights)
  m3 <- load_model(file.path(dir, "sub", "m-03.keras"))
  expect_equal(predict(m3, d$x, verbose = 0), predict(model, d$x, verbose = 0),
               tolerance = 1e-6)

  # save_best_only: a constant loss is saved only at the first epoch
  frozen <- frozen_model()
  path <- file.path(dir, "best-{epoch}.keras")
  expect_output(
    fit(frozen, d$x, d$y, epochs = 3, verbose = 0,
        callbacks = list(callback_model_checkpoint(path, monitor = "loss", save_best_only = TRUE,
                                                   verbose = 1))),
    "Epoch 2: loss did not improve from")
  expect_true(file.exists(file.path(dir, "best-1.keras")))
  expect_false(file.exists(file.path(dir, "best-2.keras")))
  # initial_value_threshold below every loss: nothing is saved
  fit(frozen, d$x, d$y, epochs = 2, verbose = 0,
      callbacks = list(callback_model_checkpoint(file.path(dir, "thr-{epoch}.keras"), monitor = "loss",
                                                 save_best_only = TRUE,
                                                 initial_value_threshold = -1)))
  expect_false(any(startsWith(list.files(dir), "thr-")))
  # logged values format with Python specs; unknown fields are an error
  expect_identical(nl_format_filepath("m-{epoch:03d}-{val_loss:.2f}.keras", 4, NULL,
                                     list(val_loss = 0.12345)), "m-005-0.12.keras")
  expect_error(fit(model, d$x, d$y, verbose = 0,
                   callbacks = list(callback_model_checkpoint(file.path(dir, "{nope}.keras")))),
               class = "normlayers_error_value")
  # every save_freq batches: batch numbers are 1-based in the name
  fit(model, d$x, d$y, epochs = 1, batch_size = 2, verbose = 0,
      callbacks = list(callback_model_checkpoint(file.path(dir, "b-{epoch}-{batch}.keras"),
                                                 monitor = "loss", save_freq = 2)))
  expect_setequal(grep("^b-", list.files(dir), value = TRUE),
                  c("b-1-2.keras", "b-1-4.keras"))
})

test_that("a failing callback stops fit() with a classed error and keeps the steps done", {
  d <- cb_data(20)
  model <- cb_model()
  w0 <- get_weights(model)
  boom <- callback_lambda(on_epoch_end = function(e, logs) if (e == 1) stop("boom"))
  err <- expect_error(fit(model, d$x, d$y, epochs = 5, batch_size = 10, verbose = 0,
                          callbacks = list(boom)),
                      class = "normlayers_error_fit")
  expect_match(conditionMessage(err$parent), "boom")
  expect_equal(err$epoch, 2L)
  expect_length(err$history$metrics$loss, 1)
  expect_false(identical(get_weights(model), w0))
  expect_equal(nl_state(model)$compiled$optimizer$iterations, 4L)
  # a failure before any step leaves the model as it was
  model2 <- cb_model()
  w2 <- get_weights(model2)
  early <- callback_lambda(on_epoch_begin = function(e, logs) stop("too early"))
  expect_error(fit(model2, d$x, d$y, epochs = 2, verbose = 0, callbacks = list(early)),
               class = "normlayers_error_fit")
  expect_identical(get_weights(model2), w2)
})

test_that("checkpoints of the weights only use save_model_weights()", {
  skip_if_not(exists("save_model_weights", envir = asNamespace("normlayers"), inherits = FALSE),
              "save_model_weights() is not in this build")
  d <- cb_data(10)
  dir <- withr::local_tempdir()
  model <- cb_model()
  fit(model, d$x, d$y, epochs = 2, verbose = 0,
      callbacks = list(callback_model_checkpoint(file.path(dir, "w-{epoch}.weights.h5"),
                                                 monitor = "loss", save_weights_only = TRUE)))
  expect_setequal(list.files(dir), c("w-1.weights.h5", "w-2.weights.h5"))
})

test_that("callback constructors have keras3's formals and defaults", {
  f <- function(fn) formals(fn)
  expect_identical(f(callback_early_stopping),
                   as.pairlist(alist(monitor = "val_loss", min_delta = 0L, patience = 0L,
                                     verbose = 0L, mode = "auto", baseline = NULL,
                                     restore_best_weights = FALSE, start_from_epoch = 0L)))
  expect_identical(f(callback_reduce_lr_on_plateau),
                   as.pairlist(alist(monitor = "val_loss", factor = 0.1, patience = 10L,
                                     verbose = 0L, mode = "auto", min_delta = 1e-04,
                                     cooldown = 0L, min_lr = 0L, ... = )))
  expect_identical(f(callback_model_checkpoint),
                   as.pairlist(alist(filepath = , monitor = "val_loss", verbose = 0L,
                                     save_best_only = FALSE, save_weights_only = FALSE,
                                     mode = "auto", save_freq = "epoch",
                                     initial_value_threshold = NULL)))
  expect_identical(f(callback_learning_rate_scheduler),
                   as.pairlist(alist(schedule = , verbose = 0L)))
  expect_identical(f(callback_csv_logger),
                   as.pairlist(alist(filename = , separator = ",", append = FALSE)))
  expect_null(f(callback_terminate_on_nan))
  expect_identical(names(f(callback_lambda)),
                   c("on_epoch_begin", "on_epoch_end", "on_train_begin", "on_train_end",
                     "on_train_batch_begin", "on_train_batch_end", "..."))
})
