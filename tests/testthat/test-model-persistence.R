test_that("save_model() and load_model() round-trip a trained, compiled model (.rds)", {
  set.seed(1)
  x <- matrix(rnorm(30), 10, 3)
  model <- keras_model_sequential(input_shape = 3) |>
    layer_dense(2) |>
    layer_layer_normalization()
  randomize_weights(model)
  compile(model, optimizer = "adam", loss = "mse")
  fit(model, x, matrix(rnorm(20), 10, 2), epochs = 1, verbose = 0)
  path <- withr::local_tempfile(fileext = ".rds")
  expect_invisible(save_model(model, path))
  loaded <- load_model(path)
  expect_equal(predict(loaded, x), predict(model, x))
  expect_equal(get_weights(loaded), get_weights(model))
  expect_true(loaded$compiled)
  expect_equal(nl_state(loaded)$compiled$optimizer$iterations, 1L)
  # independent copy
  set_weights(loaded$layers[[1]], lapply(get_weights(loaded$layers[[1]]), `*`, 0))
  expect_false(identical(get_weights(loaded), get_weights(model)))
  expect_false(load_model(path, compile = FALSE)$compiled)
})

test_that("save_model() refuses to overwrite unless asked; raw vectors work", {
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  path <- withr::local_tempfile(fileext = ".rds")
  save_model(model, path)
  expect_error(save_model(model, path), class = "normlayers_error_value")
  expect_invisible(save_model(model, path, overwrite = TRUE))
  raw <- save_model(model, NULL)
  expect_type(raw, "raw")
  expect_s3_class(load_model(raw), "nl_sequential")
})

test_that("load_model() errors on bad input", {
  expect_error(load_model(tempfile()), class = "normlayers_error_value")
  path <- withr::local_tempfile(fileext = ".rds")
  saveRDS(list(1), path)
  expect_error(load_model(path), class = "normlayers_error_type")
  expect_error(load_model(3), class = "normlayers_error_value")
  expect_error(save_model(1, tempfile()), class = "normlayers_error_type")
})

test_that("the .keras format keeps weights and compile settings, not the optimizer state", {
  set.seed(2)
  x <- matrix(rnorm(30), 10, 3)
  model <- keras_model_sequential(input_shape = 3) |>
    layer_dense(2) |>
    layer_layer_normalization()
  compile(model, optimizer = optimizer_sgd(learning_rate = 0.05, momentum = 0.5), loss = "mae",
          metrics = "mse")
  fit(model, x, matrix(rnorm(20), 10, 2), epochs = 1, verbose = 0)
  path <- withr::local_tempfile(fileext = ".keras")
  save_model(model, path, dtype = "float64")
  loaded <- load_model(path)
  expect_identical(predict(loaded, x), predict(model, x))
  comp <- nl_state(loaded)$compiled
  expect_equal(comp$optimizer$class_name, "SGD")
  expect_equal(comp$optimizer$config[c("learning_rate", "momentum", "nesterov")],
               list(learning_rate = 0.05, momentum = 0.5, nesterov = FALSE))
  expect_equal(comp$loss$key, "mean_absolute_error")
  expect_equal(comp$metrics[[1]]$name, "mse")
  expect_equal(comp$optimizer$state$iterations, 0L)
  # the bytes of a .keras file load as well
  raw <- readBin(path, "raw", file.size(path))
  expect_identical(predict(load_model(raw), x), predict(model, x))
  expect_false(load_model(path, compile = FALSE)$compiled)
})

test_that("save_model() checks its arguments before writing anything", {
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  dir <- withr::local_tempdir()
  expect_error(save_model(model, file.path(dir, "m.keras"), dtype = "float16"),
               class = "normlayers_error_value")
  expect_error(save_model(model, file.path(dir, "m.h5")), "must end in",
               class = "normlayers_error_value")
  expect_error(save_model(model, NA_character_), class = "normlayers_error_value")
  err <- expect_error(save_model(model, file.path(dir, "missing", "m.rds")),
                      class = "normlayers_error_file")
  expect_match(conditionMessage(err), "missing")
  expect_length(list.files(dir), 0)
  # an unbuilt model cannot go to a Keras file
  unbuilt <- keras_model_sequential() |> layer_dense(2)
  expect_error(save_model(unbuilt, file.path(dir, "u.keras")), class = "normlayers_error_not_built")
  expect_length(list.files(dir), 0)
})

test_that("load_model() on damaged .rds and raw input keeps the cause", {
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  path <- withr::local_tempfile(fileext = ".rds")
  save_model(model, path)
  bytes <- readBin(path, "raw", file.size(path))
  writeBin(bytes[seq_len(length(bytes) %/% 2)], path)
  err <- expect_error(load_model(path), class = "normlayers_error_type")
  expect_s3_class(err$parent, "error")
  err <- expect_error(load_model(as.raw(1:10)), class = "normlayers_error_type")
  expect_s3_class(err$parent, "error")
})
