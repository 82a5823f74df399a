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

test_that("keras_model_sequential() has keras3's formals", {
  expect_identical(names(formals(keras_model_sequential)),
                   c("input_shape", "name", "...", "input_dtype", "input_batch_size",
                     "input_sparse", "input_ragged", "input_batch_shape", "input_name",
                     "input_tensor", "input_optional", "trainable", "layers"))
  f <- formals(keras_model_sequential)
  expect_false(f$input_optional)
  expect_true(f$trainable)
})

test_that("keras_model_sequential() honours input_batch_shape, input_batch_size, input_dtype, input_name", {
  m <- keras_model_sequential(input_batch_shape = shape(NA, 4)) |> layer_dense(2)
  expect_identical(nl_state(m)$input_shape, c(NA, 4L))
  expect_true(m$layers[[1]]$built)
  m2 <- keras_model_sequential(input_shape = shape(4), input_batch_size = 8, input_dtype = "float32",
                               input_name = "features", name = "seq_in")
  expect_identical(nl_state(m2)$input_shape, c(8L, 4L))
  expect_identical(m2$name, "seq_in")
  m3 <- keras_model_sequential(layers = list(layer_dense(units = 2), layer_dense(units = 1)),
                               input_shape = 3)
  expect_length(m3$layers, 2)
  expect_identical(dim(m3(matrix(1, 5, 3))), c(5L, 1L))
  expect_silent(keras_model_sequential(input_sparse = FALSE, input_ragged = NULL))
})

test_that("keras_model_sequential() refuses what it cannot honour with classed errors", {
  expect_error(keras_model_sequential(input_shape = 3, input_sparse = TRUE),
               class = "normlayers_error_unsupported")
  expect_error(keras_model_sequential(input_shape = 3, input_ragged = TRUE),
               class = "normlayers_error_unsupported")
  expect_error(keras_model_sequential(input_tensor = keras_input(shape = 3)),
               class = "normlayers_error_unsupported")
  expect_error(keras_model_sequential(input_shape = 3, input_optional = TRUE),
               class = "normlayers_error_unsupported")
  expect_error(keras_model_sequential(input_shape = 3, input_dtype = "int32"),
               class = "normlayers_error_dtype")
  expect_error(keras_model_sequential(input_shape = 3, input_batch_shape = c(NA, 3)),
               class = "normlayers_error_argument")
  expect_error(keras_model_sequential(input_batch_shape = 3), class = "normlayers_error_shape")
  expect_error(keras_model_sequential(layer_dense(units = 1)), class = "normlayers_error_type")
  expect_error(keras_model_sequential(input_shape = 3, input_name = ""), class = "normlayers_error_name")
})
