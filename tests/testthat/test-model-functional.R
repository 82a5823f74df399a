test_that("keras_model() traces a graph from inputs to outputs", {
  inputs <- keras_input(shape = 4, name = "features")
  norm <- layer_layer_normalization(name = "shared")
  outputs <- inputs |> norm() |> layer_layer_normalization(name = "second", center = FALSE)
  model <- keras_model(inputs, outputs, name = "fun")
  expect_s3_class(model, "nl_functional")
  expect_identical(model$name, "fun")
  expect_length(model$layers, 2)
  x <- matrix(rnorm(12), 3)
  expect_equal(model(x), layer_layer_normalization(norm(x), center = FALSE), tolerance = 1e-12)
  out <- capture.output(summary(model))
  expect_true(any(grepl("features (InputLayer)", out, fixed = TRUE)))
  expect_true(any(grepl("shared (LayerNormalization)", out, fixed = TRUE)))
})

test_that("a layer used twice appears once and shares its weights", {
  inputs <- keras_input(shape = 3)
  norm <- layer_layer_normalization()
  outputs <- inputs |> norm() |> norm()
  model <- keras_model(inputs, outputs)
  expect_length(model$layers, 1)
  expect_equal(count_params(model), 6L)
  set_weights(norm, list(c(2, 2, 2), c(1, 1, 1)))
  x <- matrix(rnorm(6), 2)
  expect_equal(model(x), norm(norm(x)))
})

test_that("symbolic tensors carry inferred shapes and bad calls fail at once", {
  inp <- keras_input(shape = c(2, 5))
  expect_equal(inp$shape, c(NA, 2L, 5L))
  expect_output(print(inp), "shape=(None, 2, 5)", fixed = TRUE)
  out <- inp |> layer_layer_normalization(axis = c(2, 3))
  expect_equal(dim(out), c(NA, 2L, 5L))
  expect_error(inp |> layer_layer_normalization(axis = 4), class = "normlayers_error_axis")
  expect_error(inp |> layer_layer_normalization(axis = 1), class = "normlayers_error_shape")
  expect_error(keras_input(shape = -1), class = "normlayers_error_shape")
  expect_error(keras_input(), class = "normlayers_error_shape")
  expect_identical(layer_input, keras_input)
})

test_that("keras_model() validates its arguments", {
  a <- keras_input(shape = 3)
  b <- keras_input(shape = 3)
  out <- b |> layer_layer_normalization()
  expect_error(keras_model(a, out), class = "normlayers_error_type")
  expect_error(keras_model(matrix(1), out), class = "normlayers_error_type")
  inp <- keras_input(shape = 3)
  o <- inp |> layer_layer_normalization(name = "same") |> layer_layer_normalization(name = "same")
  expect_error(keras_model(inp, o), class = "normlayers_error_name")
})

test_that("the functional backward pass accumulates shared-layer gradients", {
  set.seed(5)
  inputs <- keras_input(shape = 3)
  norm <- layer_layer_normalization(gamma_initializer = "random_normal")
  model <- keras_model(inputs, inputs |> norm() |> norm())
  x <- rand_array(c(4, 3))
  w <- rand_array(c(4, 3))
  res <- nl_layer_forward(model, x, TRUE)
  back <- nl_layer_backward(model, res$cache, w)
  key <- paste0(norm$name, "/gamma")
  g0 <- norm$gamma
  h <- 1e-6
  num <- vapply(1:3, function(i) {
    gp <- g0; gp[i] <- gp[i] + h
    gm <- g0; gm[i] <- gm[i] - h
    set_weights(norm, list(gp, norm$beta)); fp <- sum(model(x) * w)
    set_weights(norm, list(gm, norm$beta)); fm <- sum(model(x) * w)
    set_weights(norm, list(g0, norm$beta))
    (fp - fm) / (2 * h)
  }, 1)
  expect_lt(max(abs(num - back$grads[[key]])) / max(abs(num)), 1e-6)
})
