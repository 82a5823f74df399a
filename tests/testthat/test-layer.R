# Python-style `$` methods (keras3 exposes the Keras objects' methods) and
# keras3's common base-layer arguments accepted through `...` by every layer
# constructor (Keras 2/3 Layer kwargs: input_shape, batch_input_shape,
# batch_size, dtype, input_dtype, name, trainable, weights).

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

test_that("$ methods call the R functions of the same job", {
  norm <- layer_layer_normalization()
  expect_null(norm$build(shape(NA, 4)))
  expect_true(norm$built)
  expect_identical(norm$get_weights(), get_weights(norm))
  w <- list(c(1, 2, 3, 4), c(0, 0, 0, 1))
  expect_invisible(norm$set_weights(w))
  expect_equal(norm$gamma, c(1, 2, 3, 4))
  expect_identical(norm$count_params(), 8L)
  expect_identical(norm$get_config(), get_config(norm))
  expect_length(norm$trainable_weights, 2)
  expect_length(norm$non_trainable_weights, 0)
  expect_length(norm$weights, 2)
  expect_identical(as.integer(norm$compute_output_shape(shape(NA, 4))), c(NA, 4L))
  expect_equal(norm$call(rbind(1:4)), norm(rbind(1:4)))
  expect_null(norm$not_a_method)
  expect_null(norm$add)
  expect_true(all(c("build", "get_weights", "fit") %in% names(norm)))
})

test_that("$adapt() adapts a Normalization layer (keras3's adapt() example)", {
  data <- rbind(c(0.1, 0.2, 0.3), c(0.8, 0.9, 1.0), c(1.5, 1.6, 1.7))
  layer <- layer_normalization()
  expect_invisible(layer$adapt(data))
  expect_equal(as.vector(layer$mean), colMeans(data))
  expect_equal(as.vector(layer(data)[, 1]), as.vector(scale(data[, 1]) * sqrt(3 / 2)), tolerance = 1e-4)
})

test_that("model methods: add, compile, fit, evaluate, predict, summary, save", {
  set.seed(2)
  model <- keras_model_sequential(input_shape = 3)
  expect_invisible(model$add(layer_dense(units = 4, activation = "relu")))
  model$add(layer_dense(units = 1))
  expect_length(model$layers, 2)
  model$compile(optimizer = "sgd", loss = "mse")
  x <- matrix(rnorm(30), 10)
  y <- matrix(rnorm(10), 10)
  hist <- model$fit(x, y, epochs = 2, verbose = 0)
  expect_s3_class(hist, "keras_training_history")
  expect_type(model$evaluate(x, y, verbose = 0), "list")
  expect_equal(model$predict(x, verbose = 0), predict(model, x, verbose = 0))
  expect_output(model$summary(), "Total params")
  path <- withr::local_tempfile(fileext = ".keras")
  model$save(path)
  expect_true(file.exists(path))
  expect_null(layer_dense(units = 1)$add)
  inp <- keras_input(shape = 2)
  fm <- keras_model(inp, inp |> layer_dense(1))
  expect_error(nl_method_add(fm, layer_dense(units = 1)), class = "normlayers_error_type")
})

test_that("methods look their function up by name when called and report the user's call", {
  d <- layer_dense(units = 2)
  m <- d$get_weights
  expect_s3_class(m, "nl_method")
  expect_true("get_weights" %in% all.names(body(m)))
  expect_false(any(vapply(as.list(body(m)), is.function, TRUE)))
  expect_output(print(m), "<method get_weights of <Dense")
  d$build(shape(NA, 4))
  err <- tryCatch(d$build(shape(NA, 5)), error = identity)
  expect_s3_class(err, "normlayers_error_shape")
  expect_match(paste(deparse(conditionCall(err)), collapse = ""), "d$build", fixed = TRUE)
  expect_error(d$build(), class = "normlayers_error_missing")
  expect_error(layer_dense(units = 2)$build(shape(NA, 0)), class = "normlayers_error_shape")
  # a failed build leaves the layer unbuilt
  ln <- layer_layer_normalization(axis = 3)
  expect_error(ln$build(shape(NA, 4)), class = "normlayers_error_axis")
  expect_false(ln$built)
})
