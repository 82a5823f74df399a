make_mlp <- function(seed = 1) {
  set.seed(seed)
  model <- keras_model_sequential(input_shape = 3) |>
    layer_dense(4, activation = "tanh") |>
    layer_layer_normalization() |>
    layer_dense(2)
  randomize_weights(model)
  model
}

test_that("the full model backward matches finite differences (dense -> LayerNorm -> dense)", {
  model <- make_mlp()
  set.seed(11)
  x <- random_array(c(5, 3))
  y <- random_array(c(5, 2))
  loss <- nl_get_loss("mse")
  fw <- nl_layer_run(model, x, training = TRUE)
  lo <- loss$fn(y, fw$output)
  bw <- nl_layer_backward(model, fw$cache, lo$grad)
  f_x <- function(xx) loss$fn(y, nl_layer_forward(model, xx, TRUE)$output)$value
  expect_lt(relative_error(bw$dx, numeric_gradient(f_x, x)), 1e-6)
  slots <- nl_weight_slots(model, trainable = TRUE)
  expect_setequal(names(bw$grads), vapply(slots, function(s) paste0(s$layer, "/", s$name), ""))
  for (s in slots) {
    w0 <- s$st$weights[[s$name]]
    f_w <- function(w) {
      s$st$weights[[s$name]] <- w
      on.exit(s$st$weights[[s$name]] <- w0)
      loss$fn(y, nl_layer_forward(model, x, TRUE)$output)$value
    }
    g <- bw$grads[[paste0(s$layer, "/", s$name)]]
    expect_lt(relative_error(g, numeric_gradient(f_w, w0)), 1e-6)
  }
})

test_that("a functional model with a shared layer has correct gradients", {
  set.seed(12)
  inputs <- keras_input(shape = 3)
  shared <- layer_dense(units = 3, activation = "tanh")
  outputs <- inputs |> shared() |> shared() |> layer_dense(1)
  model <- keras_model(inputs, outputs)
  randomize_weights(model)
  x <- random_array(c(4, 3))
  y <- random_array(c(4, 1))
  loss <- nl_get_loss("mse")
  fw <- nl_layer_run(model, x, training = TRUE)
  bw <- nl_layer_backward(model, fw$cache, loss$fn(y, fw$output)$grad)
  for (s in nl_weight_slots(model, trainable = TRUE)) {
    w0 <- s$st$weights[[s$name]]
    f_w <- function(w) {
      s$st$weights[[s$name]] <- w
      on.exit(s$st$weights[[s$name]] <- w0)
      loss$fn(y, nl_layer_forward(model, x, TRUE)$output)$value
    }
    expect_lt(relative_error(bw$grads[[paste0(s$layer, "/", s$name)]], numeric_gradient(f_w, w0)), 1e-6)
  }
})

test_that("a linear regression trains on a noiseless problem", {
  set.seed(2)
  x <- matrix(rnorm(300), 100, 3)
  y <- x %*% c(1.5, -2, 0.5) + 1
  model <- keras_model_sequential(input_shape = 3) |> layer_dense(1)
  compile(model, optimizer = optimizer_sgd(learning_rate = 0.1), loss = "mse", metrics = "mae")
  history <- fit(model, x, y, epochs = 30, batch_size = 20, verbose = 0)
  expect_s3_class(history, "keras_training_history")
  loss <- history$metrics$loss
  expect_length(loss, 30)
  expect_lt(loss[30], loss[1] * 1e-4)
  expect_equal(as.vector(model$layers[[1]]$kernel), c(1.5, -2, 0.5), tolerance = 1e-3)
  expect_equal(history$params$epochs, 30L)
  expect_equal(history$params$steps, 5L)
  expect_named(history$metrics, c("loss", "mae"))
  ev <- evaluate(model, x, y)
  expect_named(ev, c("loss", "mae"))
  expect_lt(ev$loss, 1e-4)
})

test_that("fit with Adam and RMSprop by name decreases the loss of an MLP", {
  for (opt in c("adam", "rmsprop")) {
    model <- make_mlp(3)
    set.seed(4)
    x <- matrix(rnorm(240), 80, 3)
    y <- cbind(sin(x[, 1]), x[, 2] * x[, 3])
    compile(model, optimizer = opt, loss = "mse")
    h <- fit(model, x, y, epochs = 15, batch_size = 16, verbose = 0)
    expect_lt(h$metrics$loss[15], h$metrics$loss[1])
  }
})

test_that("one SGD step equals w - lr * gradient of the batch mse", {
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1, use_bias = FALSE)
  set_weights(model, list(matrix(c(0.5, -0.5), 2, 1)))
  x <- rbind(c(1, 2), c(3, -1), c(0, 1))
  y <- c(1, 0, 2)
  compile(model, optimizer = optimizer_sgd(learning_rate = 0.1), loss = "mse")
  fit(model, x, y, epochs = 1, batch_size = 3, shuffle = FALSE, verbose = 0)
  w <- c(0.5, -0.5)
  grad <- 2 / 3 * crossprod(x, x %*% w - y)
  expect_equal(as.vector(get_weights(model)[[1]]), as.vector(w - 0.1 * grad))
})

test_that("classification trains with crossentropy losses and accuracy", {
  set.seed(5)
  x <- matrix(rnorm(400), 200, 2)
  lab <- as.integer(x[, 1] + x[, 2] > 0)
  m1 <- keras_model_sequential(input_shape = 2) |> layer_dense(1, activation = "sigmoid")
  compile(m1, optimizer = optimizer_sgd(0.5), loss = "binary_crossentropy", metrics = "accuracy")
  h1 <- fit(m1, x, lab, epochs = 10, verbose = 0)
  expect_gt(h1$metrics$accuracy[10], 0.9)
  m2 <- keras_model_sequential(input_shape = 2) |> layer_dense(2) |> layer_activation("softmax")
  compile(m2, optimizer = "adam", loss = "sparse_categorical_crossentropy", metrics = "accuracy")
  h2 <- fit(m2, x, lab, epochs = 5, verbose = 0, validation_split = 0.25)
  expect_named(h2$metrics, c("loss", "accuracy", "val_loss", "val_accuracy"))
  expect_lt(h2$metrics$loss[5], h2$metrics$loss[1])
  m3 <- keras_model_sequential(input_shape = 2) |> layer_dense(2, activation = "softmax")
  compile(m3, optimizer = optimizer_sgd(0.5), loss = "categorical_crossentropy", metrics = "acc")
  h3 <- fit(m3, x, cbind(1 - lab, lab), epochs = 10, verbose = 0,
            validation_data = list(x[1:20, ], cbind(1 - lab, lab)[1:20, ]))
  expect_gt(h3$metrics$val_acc[10], 0.85)
})

test_that("non-trainable layers keep their weights; trainable ones change", {
  model <- make_mlp(6)
  first <- model$layers[[1]]
  first$trainable <- FALSE
  before <- get_weights(first)
  last_before <- get_weights(model$layers[[3]])
  set.seed(7)
  x <- matrix(rnorm(60), 20, 3)
  compile(model, optimizer = "sgd", loss = "mse")
  fit(model, x, matrix(rnorm(40), 20, 2), epochs = 2, verbose = 0)
  expect_identical(get_weights(first), before)
  expect_false(identical(get_weights(model$layers[[3]]), last_before))
})

test_that("dropout is active in fit and inactive in predict/evaluate", {
  model <- keras_model_sequential(input_shape = 4) |>
    layer_dropout(rate = 0.5) |>
    layer_dense(1, kernel_initializer = "ones", use_bias = FALSE, trainable = FALSE)
  x <- matrix(1, 8, 4)
  expect_equal(as.vector(predict(model, x)), rep(4, 8))
  compile(model, optimizer = "sgd", loss = "mse")
  expect_equal(evaluate(model, x, rep(4, 8))$loss, 0)
  set.seed(1)
  h <- fit(model, x, rep(4, 8), epochs = 1, verbose = 0)
  expect_gt(h$metrics$loss, 0)
})

test_that("regularization penalties are added to the loss", {
  skip_if_not(has_families())
  x <- matrix(c(1, 2, 3, 4), 2)
  y <- c(1, 2)
  build <- function(reg) {
    m <- keras_model_sequential(input_shape = 2) |>
      layer_dense(1, kernel_regularizer = reg, kernel_initializer = "ones")
    compile(m, optimizer = "sgd", loss = "mse")
    m
  }
  plain <- build(NULL)
  reg <- build(regularizer_l2(0.1))
  pen <- 0.1 * sum(get_weights(reg)[[1]]^2)
  expect_equal(evaluate(reg, x, y)$loss, evaluate(plain, x, y)$loss + pen)
  h_plain <- fit(plain, x, y, epochs = 1, batch_size = 2, shuffle = FALSE, verbose = 0)
  h_reg <- fit(reg, x, y, epochs = 1, batch_size = 2, shuffle = FALSE, verbose = 0)
  expect_equal(h_reg$metrics$loss, h_plain$metrics$loss + pen)
  # the penalty's gradient shrinks the kernel: 2 * 0.1 * w more per step
  expect_equal(get_weights(reg)[[1]], get_weights(plain)[[1]] - 0.01 * 2 * 0.1 * matrix(1, 2, 1))
})

test_that("constraints are applied after each update", {
  skip_if_not(has_families())
  model <- keras_model_sequential(input_shape = 2) |>
    layer_dense(1, use_bias = FALSE, kernel_constraint = "non_neg")
  set_weights(model, list(matrix(c(0.5, 0.5), 2, 1)))
  x <- rbind(c(1, 0), c(0, 1))
  y <- c(-10, 10)
  compile(model, optimizer = optimizer_sgd(0.1), loss = "mse")
  fit(model, x, y, epochs = 1, batch_size = 2, shuffle = FALSE, verbose = 0)
  w <- c(0.5, 0.5)
  grad <- crossprod(x, x %*% w - y)
  expect_equal(as.vector(get_weights(model)[[1]]), as.vector(pmax(w - 0.1 * grad, 0)))
})

test_that("bad input errors with a class and changes nothing", {
  model <- make_mlp(8)
  x <- matrix(rnorm(30), 10, 3)
  y <- matrix(rnorm(20), 10, 2)
  w <- get_weights(model)
  expect_error(fit(model, x, y, verbose = 0), class = "normlayers_error_not_compiled")
  expect_error(evaluate(model, x, y), class = "normlayers_error_not_compiled")
  expect_error(compile(model, loss = "nope"), class = "normlayers_error_loss")
  expect_error(compile(model, optimizer = "nope", loss = "mse"), class = "normlayers_error_optimizer")
  expect_false(model$compiled)
  compile(model, optimizer = "adam", loss = "mse")
  opt <- nl_state(model)$compiled$optimizer
  expect_error(fit(model, x, y[1:9, ], verbose = 0), class = "normlayers_error_data")
  expect_error(fit(model, x, matrix(1, 10, 3), verbose = 0), class = "normlayers_error_shape")
  expect_error(fit(model, x[, 1:2], y, verbose = 0), class = "normlayers_error_shape")
  expect_error(fit(model, x, y, batch_size = 0, verbose = 0), class = "normlayers_error_value")
  expect_error(fit(model, x, y, validation_split = 1, verbose = 0), class = "normlayers_error_value")
  expect_error(fit(model, x, y, validation_data = list(x, y[1:3, ]), verbose = 0),
               class = "normlayers_error_data")
  expect_error(fit(model, x, y, callbacks = list(1), verbose = 0), class = "normlayers_error_type")
  expect_error(fit(model, x, y, unknown_arg = 1, verbose = 0), class = "normlayers_error")
  expect_error(fit(model, x, NULL, verbose = 0), class = "normlayers_error_missing")
  expect_error(fit(layer_dense(units = 1), x, y), class = "normlayers_error_type")
  expect_identical(get_weights(model), w)
  expect_equal(opt$iterations, 0L)
})

test_that("an unbuilt model is not built by a refused fit", {
  model <- keras_model_sequential() |> layer_dense(2)
  compile(model, loss = "mse")
  expect_error(fit(model, matrix(1, 4, 3), matrix(1, 4, 5), verbose = 0),
               class = "normlayers_error_shape")
  expect_false(model$layers[[1]]$built)
  fit(model, matrix(1, 4, 3), matrix(1, 4, 2), verbose = 0, epochs = 1)
  expect_true(model$layers[[1]]$built)
})

test_that("verbose fit prints one line per epoch", {
  x <- matrix(rnorm(20), 10, 2)
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  compile(model, loss = "mse")
  expect_output(fit(model, x, x[, 2], epochs = 2, verbose = 2), "Epoch 2/2")
  expect_invisible(fit(model, x, x[, 2], epochs = 1, verbose = 0))
})

test_that("a step that fails mid-way restores the weights and the optimizer", {
  model <- keras_model_sequential(input_shape = 3) |> layer_dense(3)
  suppressWarnings(model |> layer_layer_normalization(rms_scaling = TRUE))
  randomize_weights(model)
  compile(model, optimizer = "adam", loss = "mse")
  w <- get_weights(model)
  x <- matrix(rnorm(12), 4, 3)
  expect_error(fit(model, x, x, epochs = 1, verbose = 0), class = "normlayers_error_state")
  expect_identical(get_weights(model), w)
  expect_equal(nl_state(model)$compiled$optimizer$iterations, 0L)
  expect_length(nl_state(model)$compiled$optimizer$state$slots, 0)
})

# ---- keras3's training API (issue 14) -----------------------------------------

test_that("compile(), fit(), evaluate() and predict() have keras3's formals and defaults", {
  expect_identical(names(formals(compile.nl_layer)),
                   c("object", "optimizer", "loss", "metrics", "...", "loss_weights",
                     "weighted_metrics", "run_eagerly", "steps_per_execution", "jit_compile",
                     "auto_scale_loss"))
  expect_identical(formals(compile.nl_layer)$optimizer, "rmsprop")
  expect_identical(formals(compile.nl_layer)$steps_per_execution, 1L)
  expect_identical(names(formals(fit.nl_layer)),
                   c("object", "x", "y", "...", "batch_size", "epochs", "callbacks",
                     "validation_split", "validation_data", "shuffle", "class_weight",
                     "sample_weight", "initial_epoch", "steps_per_epoch", "validation_steps",
                     "validation_batch_size", "validation_freq", "verbose", "view_metrics"))
  expect_identical(formals(fit.nl_layer)$epochs, 1L)
  expect_identical(formals(fit.nl_layer)$initial_epoch, 1L)
  expect_identical(formals(fit.nl_layer)$validation_freq, 1L)
  expect_identical(names(formals(evaluate.nl_layer)),
                   c("object", "x", "y", "...", "batch_size", "verbose", "sample_weight",
                     "steps", "callbacks"))
  expect_identical(names(formals(predict.nl_layer)),
                   c("object", "x", "...", "batch_size", "verbose", "steps", "callbacks"))
})

test_that("fit() trains one epoch by default", {
  set.seed(1)
  x <- matrix(rnorm(20), 10, 2)
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  compile(model, optimizer = "sgd", loss = "mse")
  h <- fit(model, x, x[, 1], verbose = 0)
  expect_length(h$metrics$loss, 1)
  expect_identical(h$epoch, 1L)
})

test_that("a model compiled without a loss predicts and adapts, and fit() says why it cannot", {
  norm <- layer_normalization()
  model <- keras_model_sequential(input_shape = 2) |> norm() |> layer_dense(1)
  expect_invisible(compile(model))
  expect_null(nl_state(model)$compiled$loss)
  x <- matrix(c(1, 2, 3, 4, 10, 20, 30, 40), 4)
  adapt(norm, x)
  expect_equal(dim(predict(model, x, verbose = 0)), c(4L, 1L))
  expect_error(fit(model, x, 1:4, verbose = 0), "without a loss", class = "normlayers_error_loss")
  expect_error(evaluate(model, x, 1:4, verbose = 0), class = "normlayers_error_loss")
})

test_that("arguments normlayers cannot honour are accepted at their defaults only", {
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  expect_invisible(compile(model, loss = "mse", loss_weights = NULL, run_eagerly = TRUE,
                           steps_per_execution = 1, jit_compile = FALSE, auto_scale_loss = FALSE))
  expect_error(compile(model, loss = "mse", loss_weights = list(2)),
               class = "normlayers_error_unsupported")
  expect_error(compile(model, loss = "mse", steps_per_execution = 4),
               class = "normlayers_error_unsupported")
  expect_error(compile(model, loss = "mse", jit_compile = "xla"), class = "normlayers_error_value")
  expect_error(compile(model, loss = "mse", metrics = "mae", weighted_metrics = "nope"),
               class = "normlayers_error_value")
  x <- matrix(1, 4, 2)
  expect_s3_class(fit(model, x, 1:4, verbose = 0, view_metrics = FALSE), "keras_training_history")
  expect_error(fit(model, x, 1:4, verbose = 0, view_metrics = TRUE),
               class = "normlayers_error_unsupported")
  expect_error(predict(model, x, foo = 1, verbose = 0), class = "normlayers_error")
  expect_error(fit(model, x, 1:4, verbose = 0, validation_freq = 0), class = "normlayers_error_value")
  expect_error(fit(model, x, 1:4, verbose = 0, steps_per_epoch = 1.5), class = "normlayers_error_value")
  expect_error(fit(model, x, 1:4, verbose = 0, validation_batch_size = "a"),
               class = "normlayers_error_value")
  expect_error(fit(model, x, 1:4, verbose = 5), class = "normlayers_error_value")
})

test_that("initial_epoch resumes: the history holds the epochs run", {
  set.seed(1)
  x <- matrix(rnorm(40), 20, 2)
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  compile(model, optimizer = "sgd", loss = "mse")
  seen <- integer()
  cb <- callback_lambda(on_epoch_begin = function(e, logs) seen <<- c(seen, e))
  h <- fit(model, x, x[, 2], epochs = 5, initial_epoch = 3, verbose = 0, callbacks = list(cb))
  expect_identical(seen, 2:4)            # Keras's 0-based epochs 2, 3, 4
  expect_identical(h$epoch, 3:5)
  expect_length(h$metrics$loss, 3)
  expect_identical(unique(as.data.frame(h)$epoch), 3:5)
  expect_equal(h$params$epochs, 5L)
  # nothing to run: no change, empty history
  w <- get_weights(model)
  h <- fit(model, x, x[, 2], epochs = 2, initial_epoch = 3, verbose = 0)
  expect_length(h$metrics$loss, 0)
  expect_identical(get_weights(model), w)
  # resuming equals an uninterrupted run (same seed, same data order)
  make <- function() {
    set.seed(4)
    m <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
    compile(m, optimizer = optimizer_adam(0.01), loss = "mse")
    m
  }
  m1 <- make()
  m2 <- make()
  set.seed(7)
  fit(m1, x, x[, 2], epochs = 4, batch_size = 5, verbose = 0)
  set.seed(7)
  fit(m2, x, x[, 2], epochs = 2, batch_size = 5, verbose = 0)
  fit(m2, x, x[, 2], epochs = 4, initial_epoch = 3, batch_size = 5, verbose = 0)
  expect_equal(get_weights(m1), get_weights(m2))
})

test_that("validation_freq validates after the chosen epochs only", {
  set.seed(1)
  x <- matrix(rnorm(40), 20, 2)
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  compile(model, optimizer = "sgd", loss = "mse", metrics = "mae")
  runs <- 0
  cb <- callback_lambda(on_test_begin = function(logs) runs <<- runs + 1)
  h <- fit(model, x, x[, 1], epochs = 4, validation_split = 0.25, validation_freq = 2,
           verbose = 0, callbacks = list(cb))
  expect_equal(runs, 2)
  expect_true(all(is.na(h$metrics$val_loss[c(1, 3)])))
  expect_true(all(is.finite(h$metrics$val_loss[c(2, 4)])))
  expect_identical(names(h$metrics), c("loss", "mae", "val_loss", "val_mae"))
  h <- fit(model, x, x[, 1], epochs = 4, validation_split = 0.25, validation_freq = c(1, 4),
           verbose = 0)
  expect_identical(!is.na(h$metrics$val_mae), c(TRUE, FALSE, FALSE, TRUE))
  df <- as.data.frame(h)
  expect_equal(sum(is.na(df$value)), 4)
})

test_that("validation_batch_size and validation_steps set the validation batches", {
  set.seed(1)
  x <- matrix(rnorm(40), 20, 2)
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  compile(model, optimizer = optimizer_sgd(0), loss = "mse")
  sizes <- integer()
  cb <- callback_lambda(on_test_batch_end = function(b, logs) sizes <<- c(sizes, b))
  vx <- x[1:10, ]
  vy <- x[1:10, 2]
  h <- fit(model, x, x[, 2], epochs = 1, verbose = 0, validation_data = list(vx, vy),
           validation_batch_size = 3, callbacks = list(cb))
  expect_identical(sizes, 0:3)   # 10 rows in batches of 3
  expect_equal(h$metrics$val_loss, evaluate(model, vx, vy, verbose = 0)$loss)
  sizes <- integer()
  h <- fit(model, x, x[, 2], epochs = 2, verbose = 0, validation_data = list(vx, vy),
           validation_batch_size = 3, validation_steps = 2, callbacks = list(cb))
  expect_identical(sizes, c(0:1, 0:1))   # the same first 2 batches every epoch
  expect_equal(h$metrics$val_loss[1], evaluate(model, vx[1:6, ], vy[1:6], verbose = 0)$loss)
})

test_that("steps_per_epoch continues through the pass over the data, as Keras", {
  x <- matrix(as.double(1:20), 10, 2)
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  compile(model, optimizer = optimizer_sgd(0), loss = "mse")
  # record which rows each epoch trains on through the running loss of a
  # zero-learning-rate model: one batch per epoch, batches of 5
  losses <- numeric()
  cb <- callback_lambda(on_epoch_end = function(e, logs) losses <<- c(losses, logs$loss))
  y <- c(rep(0, 5), rep(10, 5))
  h <- fit(model, x, y, epochs = 3, batch_size = 5, steps_per_epoch = 1, shuffle = FALSE,
           verbose = 0, callbacks = list(cb))
  e1 <- evaluate(model, x[1:5, ], y[1:5], verbose = 0)$loss
  e2 <- evaluate(model, x[6:10, ], y[6:10], verbose = 0)$loss
  expect_equal(losses, c(e1, e2, e1))   # batches 1, 2, then a new pass
  expect_equal(h$params$steps, 1L)
  # more steps than the pass holds: the epoch stops early with a warning
  expect_warning(h <- fit(model, x, y, epochs = 1, batch_size = 5, steps_per_epoch = 3,
                          verbose = 0), class = "normlayers_warning_data")
  expect_equal(nl_state(model)$compiled$optimizer$iterations, 3 + 2)
})

test_that("evaluate() honours steps and return_dict", {
  set.seed(1)
  x <- matrix(rnorm(40), 20, 2)
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  compile(model, loss = "mse", metrics = "mae")
  expect_equal(evaluate(model, x, x[, 1], batch_size = 5, steps = 2, verbose = 0),
               evaluate(model, x[1:10, ], x[1:10, 1], verbose = 0))
  res <- evaluate(model, x, x[, 1], return_dict = FALSE, verbose = 0)
  expect_null(names(res))
  expect_length(res, 2)
  compile(model, loss = "mse")
  expect_type(evaluate(model, x, x[, 1], return_dict = FALSE, verbose = 0), "double")
  expect_error(evaluate(model, x, x[, 1], steps = 0, verbose = 0), class = "normlayers_error_value")
})

test_that("model$optimizer gives the compiled optimizer, whose rate can be set", {
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  expect_null(model$optimizer)
  compile(model, optimizer = optimizer_adam(0.01), loss = "mse")
  expect_equal(model$optimizer$learning_rate, 0.01)
  model$optimizer$learning_rate <- 0.5
  expect_equal(model$optimizer$learning_rate, 0.5)
  expect_equal(nl_optimizer_lr(nl_state(model)$compiled$optimizer), 0.5)
  expect_error(model$optimizer <- optimizer_sgd(), class = "normlayers_error_state")
})
