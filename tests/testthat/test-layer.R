# keras3's common base-layer arguments accepted through `...` by every layer
# constructor (Keras 2/3 Layer kwargs: input_shape, batch_input_shape,
# batch_size, dtype, input_dtype, name, trainable, weights). The `$` methods
# are tested in test-layer-methods.R.

ctors <- list(
  layer_normalization = function(...) layer_layer_normalization(...),
  batch_normalization = function(...) layer_batch_normalization(...),
  normalization = function(...) layer_normalization(mean = c(1, 2, 3, 4), variance = c(1, 1, 4, 4), ...),
  dense = function(...) layer_dense(units = 2, ...),
  activation = function(...) layer_activation(activation = "relu", ...),
  dropout = function(...) layer_dropout(rate = 0.5, ...),
  group_normalization = function(...) layer_group_normalization(groups = 2, ...),
  rms_normalization = function(...) layer_rms_normalization(...),
  unit_normalization = function(...) layer_unit_normalization(...),
  spectral_normalization = function(...) layer_spectral_normalization(layer = layer_dense(units = 2), ...)
)

test_that("every constructor accepts input_shape and builds the layer (with Keras's warning)", {
  for (nm in names(ctors)) {
    expect_warning(l <- ctors[[nm]](input_shape = 4), class = "normlayers_warning_deprecated",
                   label = nm)
    expect_true(l$built, label = nm)
    expect_identical(l$input_shape, c(NA, 4L), label = nm)
    expect_warning(l2 <- ctors[[nm]](batch_input_shape = shape(8, 4)), class = "normlayers_warning_deprecated")
    expect_identical(l2$input_shape, c(NA, 4L), label = nm)
    expect_warning(l3 <- ctors[[nm]](input_shape = shape(4), batch_size = 16))
    expect_true(l3$built, label = nm)
  }
})

test_that("input_shape on the first layer of a sequential model builds the model", {
  for (nm in names(ctors)) {
    model <- keras_model_sequential()
    suppressWarnings(model |> ctors[[nm]](input_shape = 4))
    expect_true(model$built, label = nm)
    expect_identical(nl_state(model)$input_shape, c(NA, 4L), label = nm)
    model |> layer_dense(3)
    expect_true(model$layers[[2]]$built, label = nm)
    expect_identical(dim(model(matrix(1, 2, 4))), c(2L, 3L), label = nm)
  }
  # keras 2-style script
  model <- suppressWarnings(keras_model_sequential() |>
    layer_dense(units = 8, activation = "relu", input_shape = c(4)) |>
    layer_batch_normalization() |>
    layer_dense(units = 1))
  expect_identical(count_params(model), 5L * 8L + 4L * 8L + 9L)
  expect_output(summary(model), "(None, 8)", fixed = TRUE)
})

test_that("name, trainable and float dtypes are accepted; other dtypes are refused", {
  for (nm in names(ctors)) {
    l <- ctors[[nm]](name = paste0("base_", nm), trainable = FALSE, dtype = "float32")
    expect_identical(l$name, paste0("base_", nm))
    expect_false(l$trainable)
    expect_silent(ctors[[nm]](dtype = "float64", input_dtype = "float32"))
    expect_error(ctors[[nm]](dtype = "int32"), class = "normlayers_error_dtype", label = nm)
    expect_error(ctors[[nm]](input_dtype = "string"), class = "normlayers_error_dtype")
    expect_error(ctors[[nm]](dtype = 3), class = "normlayers_error_dtype")
    expect_error(ctors[[nm]](trainable = "yes"), class = "normlayers_error_value")
    expect_error(ctors[[nm]](input_shape = "a"), class = "normlayers_error_shape")
    expect_error(ctors[[nm]](input_shape = c(0, 3)), class = "normlayers_error_shape")
    expect_error(ctors[[nm]](batch_size = 0), class = "normlayers_error_value")
    expect_error(ctors[[nm]](weights = "w"), class = "normlayers_error_weights")
    expect_error(ctors[[nm]](not_an_arg = 1), class = "normlayers_error_argument")
  }
})

test_that("weights = sets the initial weights, when built or at the first build", {
  w <- list(matrix(1:6, 3, 2), c(10, 20))
  d <- layer_dense(units = 2, weights = w)
  expect_false(d$built)
  out <- d(matrix(1, 1, 3))
  expect_equal(as.vector(out), c(1 + 2 + 3 + 10, 4 + 5 + 6 + 20))
  expect_warning(d2 <- layer_dense(units = 2, weights = w, input_shape = 3))
  expect_equal(d2$kernel, matrix(as.double(1:6), 3, 2))
  ln <- layer_layer_normalization(weights = list(c(2, 2), c(1, 1)))
  # gamma 2, beta 1: y = (x - 1) / sqrt(1 + epsilon) * 2 + 1
  expect_equal(ln(rbind(c(0, 2))), rbind(c(-1, 1) / sqrt(1.001) * 2 + 1))
  bn <- layer_batch_normalization(weights = list(c(1, 1), c(0, 0), c(5, 5), c(4, 4)))
  expect_equal(as.vector(bn(rbind(c(5, 7)))), c(0, 2 / sqrt(4.001)))
  expect_error(suppressWarnings(layer_dense(units = 2, weights = list(1), input_shape = 3)),
               class = "normlayers_error_weights")
})
