# The training loop: results identical to the code before the scaling rewrite,
# linear-size batches, and failures that are rolled back and classed.

# fixtures/make-training-reference.R recorded these from main at 1399f90 (the
# code before the rewrite); the same script runs the cases here.
reference_cases <- function() {
  env <- new.env()
  src <- readLines(test_path("fixtures", "make-training-reference.R"))
  start <- grep("^run_case <- function", src)
  end <- grep("^out <- lapply", src) - 1
  eval(parse(text = src[start:end]), envir = env)
  env
}

test_that("fit(), evaluate() and predict() reproduce the results from before the rewrite", {
  ref <- readRDS(test_path("fixtures", "training-reference.rds"))
  env <- reference_cases()
  for (nm in names(ref)) {
    got <- env$run_case(env$cases[[nm]])
    want <- ref[[nm]]
    # Last bits only: Dense's matrix products may sum in another order.
    expect_equal(got$history, want$history, tolerance = 1e-12, info = nm)
    expect_equal(got$weights, want$weights, tolerance = 1e-12, info = nm)
    expect_equal(got$evaluate, want$evaluate, tolerance = 1e-12, info = nm)
    expect_equal(unclass(got$predict), want$predict, tolerance = 1e-12, info = nm)
  }
})

make_small_model <- function(...) {
  keras_model_sequential(input_shape = 3) |> layer_dense(2, ...) |> layer_dense(1)
}

test_that("batch_size is checked by one validator in fit(), evaluate() and predict()", {
  set.seed(1)
  model <- make_small_model()
  compile(model, optimizer = "adam", loss = "mse")
  x <- matrix(rnorm(30), 10, 3)
  y <- rnorm(10)
  w <- get_weights(model)
  for (bad in list(2.5, 0, -1, "a", NA, NA_real_, c(2, 3), Inf, TRUE)) {
    expect_error(fit(model, x, y, batch_size = bad, verbose = 0), class = "normlayers_error_value")
    expect_error(evaluate(model, x, y, batch_size = bad), class = "normlayers_error_value")
    expect_error(predict(model, x, batch_size = bad), class = "normlayers_error_value")
  }
  err <- tryCatch(predict(model, x, batch_size = 2.5), error = identity)
  expect_match(conditionMessage(err), "batch_size")
  expect_match(conditionMessage(err), "2.5")
  expect_identical(get_weights(model), w)
  expect_identical(nl_state(model)$compiled$optimizer$iterations, 0L)
  expect_error(predict(model, x, steps = 0), class = "normlayers_error_value")
  expect_error(fit(model, x, y, epochs = 1.5, verbose = 0), class = "normlayers_error_value")
  expect_null(nl_check_batch_size(NULL, default = NULL))
  expect_identical(nl_check_batch_size(NULL), 32)
  expect_identical(nl_check_batch_size(5L), 5)
})

test_that("a batch_size larger than the data means one batch", {
  set.seed(2)
  model <- make_small_model()
  compile(model, optimizer = optimizer_sgd(0.1), loss = "mse")
  x <- matrix(rnorm(30), 10, 3)
  y <- rnorm(10)
  h <- fit(model, x, y, batch_size = 1e12, epochs = 1, verbose = 0, shuffle = FALSE)
  expect_identical(h$params$steps, 1L)
  expect_equal(nl_state(model)$compiled$optimizer$iterations, 1L)
  expect_equal(evaluate(model, x, y, batch_size = 1e12), evaluate(model, x, y, batch_size = 3))
  expect_equal(predict(model, x, batch_size = 1e12), predict(model, x, batch_size = 3))
})

test_that("predict() binds batches into one array, keeps dim and honours steps", {
  set.seed(3)
  model <- make_small_model()
  x <- matrix(rnorm(30), 10, 3)
  full <- predict(model, x)
  expect_identical(dim(full), c(10L, 1L))
  expect_equal(predict(model, x, batch_size = 3), full, tolerance = 1e-15)
  expect_equal(predict(model, x, batch_size = 3, steps = 2), full[1:6, , drop = FALSE],
               tolerance = 1e-15)
  expect_identical(dim(predict(model, as.data.frame(x), batch_size = 4)), c(10L, 1L))
  expect_error(predict(model, matrix(1, 4, 2), batch_size = 2), class = "normlayers_error_shape")
})

test_that("fit() and evaluate() refuse 0 samples and missing targets before any step", {
  set.seed(4)
  model <- make_small_model()
  compile(model, optimizer = "adam", loss = "mse")
  w <- get_weights(model)
  x <- matrix(rnorm(30), 10, 3)
  y <- rnorm(10)
  expect_error(fit(model, x[0, ], y[0], verbose = 0), class = "normlayers_error_data")
  expect_error(evaluate(model, x[0, ], y[0]), class = "normlayers_error_data")
  for (bad in c(NA, NaN, Inf)) {
    yb <- y
    yb[7] <- bad
    err <- tryCatch(fit(model, x, yb, verbose = 0), error = identity)
    expect_s3_class(err, "normlayers_error_data")
    expect_match(conditionMessage(err), "`y`")
    expect_error(evaluate(model, x, yb), class = "normlayers_error_data")
  }
  expect_identical(get_weights(model), w)
  expect_identical(nl_state(model)$compiled$optimizer$iterations, 0L)
})

test_that("validation_data of the wrong shape is refused before the first step", {
  set.seed(5)
  model <- make_small_model()
  compile(model, optimizer = "adam", loss = "mse")
  w <- get_weights(model)
  x <- matrix(rnorm(30), 10, 3)
  y <- rnorm(10)
  err <- tryCatch(fit(model, x, y, validation_data = list(matrix(0, 5, 4), rep(0, 5)), verbose = 0),
                  error = identity)
  expect_s3_class(err, "normlayers_error_shape")
  expect_match(conditionMessage(err), "validation_data")
  err <- tryCatch(fit(model, x, y, validation_data = list(matrix(0, 5, 3), matrix(0, 5, 2)),
                      verbose = 0), error = identity)
  expect_s3_class(err, "normlayers_error_shape")
  expect_match(conditionMessage(err), "validation_data")
  expect_error(fit(model, x, y, validation_data = list(matrix(0, 5, 3), c(0, NA, 0, 0, 0)),
                   verbose = 0), class = "normlayers_error_data")
  expect_identical(get_weights(model), w)
  expect_identical(nl_state(model)$compiled$optimizer$iterations, 0L)
})

test_that("a step that fails part-way is undone, earlier steps stay, the error is classed", {
  set.seed(6)
  calls <- 0
  con <- function(w) {
    calls <<- calls + 1
    if (calls == 7) stop("constraint exploded")  # step 7 overall: epoch 2, step 2
    w
  }
  model <- make_small_model(kernel_constraint = con)
  compile(model, optimizer = "adam", loss = "mse", metrics = "mae")
  x <- matrix(rnorm(60), 20, 3)
  y <- rnorm(20)
  # Reference: the same first 4 steps without a failure.
  set.seed(7)
  model2 <- make_small_model()
  set_weights(model2, get_weights(model))
  compile(model2, optimizer = "adam", loss = "mse", metrics = "mae")
  fit(model2, x, y, batch_size = 4, epochs = 1, shuffle = FALSE, verbose = 0)
  err <- tryCatch(fit(model, x, y, batch_size = 4, epochs = 3, shuffle = FALSE, verbose = 0),
                  error = identity)
  expect_s3_class(err, "normlayers_error_fit")
  expect_s3_class(err, "normlayers_error")
  expect_identical(err$epoch, 2L)
  expect_identical(err$step, 2L)
  expect_match(conditionMessage(err), "epoch 2/3, step 2/5")
  expect_match(conditionMessage(err$parent), "constraint exploded")
  expect_s3_class(err$history, "keras_training_history")
  expect_length(err$history$metrics$loss, 1)
  expect_length(err$history$metrics$mae, 1)
  # Epoch 1 (5 steps) and step 1 of epoch 2 are kept; step 2 was undone.
  expect_identical(nl_state(model)$compiled$optimizer$iterations, 6L)
  fit(model2, x[1:4, ], y[1:4], batch_size = 4, epochs = 1, shuffle = FALSE, verbose = 0)
  expect_equal(get_weights(model), get_weights(model2), tolerance = 1e-14)
})

test_that("a failure in the first step leaves an unbuilt model unbuilt", {
  con <- function(w) stop("no")
  model <- keras_model_sequential() |> layer_dense(2, kernel_constraint = con)
  compile(model, optimizer = "sgd", loss = "mse")
  err <- tryCatch(fit(model, matrix(1, 4, 3), matrix(1, 4, 2), verbose = 0), error = identity)
  expect_s3_class(err, "normlayers_error_fit")
  expect_identical(err$step, 1L)
  expect_false(model$layers[[1]]$built)
  expect_identical(nl_state(model)$compiled$optimizer$iterations, 0L)
})

test_that("validation_split reads both parts in place", {
  set.seed(8)
  model <- make_small_model()
  compile(model, optimizer = optimizer_sgd(0.05), loss = "mse")
  x <- matrix(rnorm(60), 20, 3)
  y <- rnorm(20)
  set.seed(9)
  h <- fit(model, x, y, validation_split = 0.25, epochs = 1, batch_size = 5, verbose = 0)
  expect_equal(h$metrics$val_loss, evaluate(model, x[16:20, ], y[16:20], batch_size = 5)$loss,
               tolerance = 1e-14)
})

test_that("a nested sequential model trains exactly like the flat one", {
  set.seed(10)
  inner <- keras_model_sequential(name = "inner") |>
    layer_dense(3, activation = "tanh", name = "d2") |>
    layer_batch_normalization(name = "bn")
  nested <- keras_model_sequential(input_shape = 4) |>
    layer_dense(5, activation = "relu", name = "d1") |>
    inner() |>
    layer_dense(1, name = "d3")
  flat <- keras_model_sequential(input_shape = 4) |>
    layer_dense(5, activation = "relu", name = "d1") |>
    layer_dense(3, activation = "tanh", name = "d2") |>
    layer_batch_normalization(name = "bn") |>
    layer_dense(1, name = "d3")
  set_weights(flat, get_weights(nested))
  compile(nested, optimizer = "adam", loss = "mse", metrics = "mae")
  compile(flat, optimizer = "adam", loss = "mse", metrics = "mae")
  x <- matrix(rnorm(80), 20, 4)
  y <- rnorm(20)
  set.seed(11)
  h1 <- fit(nested, x, y, batch_size = 6, epochs = 2, verbose = 0, validation_split = 0.25)
  set.seed(11)
  h2 <- fit(flat, x, y, batch_size = 6, epochs = 2, verbose = 0, validation_split = 0.25)
  expect_identical(h1$metrics, h2$metrics)
  expect_identical(get_weights(nested), get_weights(flat))
  expect_identical(evaluate(nested, x, y), evaluate(flat, x, y))
})

test_that("fit() takes data frames and integer arrays like matrices", {
  set.seed(12)
  x <- matrix(sample(0:5, 60, TRUE), 20, 3)
  y <- as.double(rowSums(x))
  make <- function() {
    set.seed(13)
    m <- keras_model_sequential(input_shape = 3) |> layer_dense(1)
    compile(m, optimizer = optimizer_sgd(0.01), loss = "mse")
    m
  }
  m1 <- make(); m2 <- make(); m3 <- make()
  set.seed(14); fit(m1, x, y, batch_size = 4, epochs = 1, verbose = 0)
  set.seed(14); fit(m2, as.data.frame(x), y, batch_size = 4, epochs = 1, verbose = 0)
  storage.mode(x) <- "double"
  set.seed(14); fit(m3, x, y, batch_size = 4, epochs = 1, verbose = 0)
  expect_identical(get_weights(m1), get_weights(m3))
  expect_identical(get_weights(m2), get_weights(m3))
})

test_that("an interrupt keeps the completed steps and undoes the current one", {
  set.seed(15)
  calls <- 0
  con <- function(w) {
    calls <<- calls + 1
    if (calls == 3) rlang::interrupt()
    w
  }
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1, kernel_constraint = con)
  compile(model, optimizer = optimizer_sgd(0.1), loss = "mse")
  w0 <- get_weights(model)
  x <- matrix(rnorm(20), 10, 2)
  res <- tryCatch(fit(model, x, rnorm(10), batch_size = 2, epochs = 1, shuffle = FALSE, verbose = 0),
                  interrupt = function(e) "interrupted")
  expect_identical(res, "interrupted")
  expect_identical(nl_state(model)$compiled$optimizer$iterations, 2L)
  expect_false(identical(get_weights(model), w0))
})
