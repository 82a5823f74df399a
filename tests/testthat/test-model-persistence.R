test_that("save_model() and load_model() round-trip a trained, compiled model", {
  set.seed(1)
  x <- matrix(rnorm(30), 10, 3)
  model <- keras_model_sequential(input_shape = 3) |>
    layer_dense(2) |>
    layer_layer_normalization()
  randomize_weights(model)
  compile(model, optimizer = "adam", loss = "mse")
  fit(model, x, matrix(rnorm(20), 10, 2), epochs = 1, verbose = 0)
  path <- withr::local_tempfile(fileext = ".keras")
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
