test_that("a sequential model stacks layers and is callable", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  model <- keras_model_sequential(input_shape = 3, name = "seq")
  model |> layer_layer_normalization(name = "n1") |> layer_layer_normalization(name = "n2", center = FALSE)
  expect_s3_class(model, "nl_sequential")
  expect_identical(model$name, "seq")
  expect_length(model$layers, 2)
  expect_true(model$layers[[1]]$built)
  y <- model(x)
  expect_equal(y, layer_layer_normalization(layer_layer_normalization(x), center = FALSE),
               tolerance = 1e-12)
  expect_equal(predict(model, x), y)
  expect_equal(predict(model, rbind(x, x, x), batch_size = 2), rbind(y, y, y), tolerance = 1e-12)
  expect_equal(count_params(model), 9L)
})

test_that("a model without an input shape builds on its first call", {
  model <- keras_model_sequential() %>% layer_layer_normalization()
  expect_false(model$layers[[1]]$built)
  expect_output(print(model), "?", fixed = TRUE)
  model(matrix(1:8, 2))
  expect_true(model$layers[[1]]$built)
  expect_output(print(model), "(None, 4)", fixed = TRUE)
})

test_that("summary() shows layers, shapes and parameter totals", {
  model <- keras_model_sequential(input_shape = c(5)) |>
    layer_layer_normalization(name = "ln_a") |>
    layer_layer_normalization(name = "ln_b", trainable = FALSE)
  out <- capture.output(txt <- summary(model))
  expect_identical(out, txt)
  expect_true(any(grepl("Layer (type)", out, fixed = TRUE)))
  expect_true(any(grepl("ln_a (LayerNormalization)", out, fixed = TRUE)))
  expect_true(any(grepl("(None, 5)", out, fixed = TRUE)))
  expect_true(any(grepl("Total params: 20", out, fixed = TRUE)))
  expect_true(any(grepl("Trainable params: 10", out, fixed = TRUE)))
  expect_true(any(grepl("Non-trainable params: 10", out, fixed = TRUE)))
  expect_true(any(grepl("Trainable", out[3], fixed = TRUE)))
})

test_that("names must be unique within a model and a failed add changes nothing", {
  model <- keras_model_sequential(input_shape = 3)
  l <- layer_layer_normalization(name = "dup")
  model |> l()
  expect_error(model |> layer_layer_normalization(name = "dup"), class = "normlayers_error_name")
  expect_error(model |> l(), class = "normlayers_error_name")
  expect_length(model$layers, 1)
  # a layer that cannot be built for the model's shape is not added
  expect_error(model |> layer_layer_normalization(axis = 5), class = "normlayers_error_axis")
  expect_length(model$layers, 1)
  expect_error(nl_sequential_add(model, 1), class = "normlayers_error_type")
})

test_that("the model checks its input against the built shape", {
  model <- keras_model_sequential(input_shape = 3) |> layer_layer_normalization()
  expect_error(model(matrix(1, 2, 4)), class = "normlayers_error_shape")
  expect_error(model("a"), class = "normlayers_error_type")
})

test_that("an existing layer piped into two models shares its weights", {
  shared <- layer_layer_normalization()
  m1 <- keras_model_sequential(input_shape = 3) |> shared()
  m2 <- keras_model_sequential(input_shape = 3) |> shared()
  set_weights(m1, list(c(1, 2, 3), c(0, 0, 0)))
  expect_equal(m2$layers[[1]]$gamma, c(1, 2, 3))
})

test_that("models survive saveRDS()", {
  model <- keras_model_sequential(input_shape = 3) |> layer_layer_normalization()
  x <- matrix(rnorm(6), 2)
  set_weights(model, list(c(1, 2, 3), c(3, 2, 1)))
  path <- tempfile(fileext = ".rds")
  saveRDS(model, path)
  m2 <- readRDS(path)
  expect_identical(m2(x), model(x))
  expect_identical(get_weights(m2), get_weights(model))
})

test_that("setting trainable on a model freezes every layer inside it", {
  model <- keras_model_sequential(input_shape = 3) |>
    layer_layer_normalization() |>
    layer_layer_normalization()
  model$trainable <- FALSE
  expect_false(model$trainable)
  expect_false(any(vapply(model$layers, function(l) l$trainable, TRUE)))
  expect_length(get_weights(model, trainable = TRUE), 0)
  model$trainable <- TRUE
  expect_length(get_weights(model, trainable = TRUE), 4)
})
