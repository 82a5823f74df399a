test_that("dense computes x %*% kernel + bias with kernel on the last axis", {
  set.seed(1)
  layer <- layer_dense(units = 3)
  x <- matrix(rnorm(8), 2, 4)
  layer(x)
  randomize_weights(layer)
  y <- layer(x)
  expect_equal(dim(layer$kernel), c(4L, 3L))
  expect_length(layer$bias, 3)
  expect_equal(y, x %*% layer$kernel + rep(layer$bias, each = 2))
  expect_equal(count_params(layer), 15L)
  expect_equal(sub(".*/", "", names(layer$weights)), c("kernel", "bias"))
})

test_that("dense on a rank-3 input applies on the last axis", {
  set.seed(2)
  layer <- layer_dense(units = 2, activation = "tanh", use_bias = FALSE)
  a <- random_array(c(3, 4, 5))
  layer(a)
  randomize_weights(layer)
  y <- layer(a)
  expect_equal(dim(y), c(3L, 4L, 2L))
  expect_equal(y[2, 3, ], tanh(drop(a[2, 3, ] %*% layer$kernel)))
  expect_null(layer$bias)
})

test_that("dense backward passes match finite differences", {
  set.seed(3)
  for (act in c("linear", "relu", "sigmoid", "tanh", "softmax")) {
    for (d in list(c(4, 3), c(2, 3, 4), c(2, 2, 1, 3))) {
      for (use_bias in c(TRUE, FALSE)) {
        layer <- layer_dense(units = sample(1:4, 1), activation = act, use_bias = use_bias)
        x <- random_array(d)
        layer(x)
        randomize_weights(layer)
        expect_layer_gradients(layer, x)
      }
    }
  }
})

test_that("dense infers shapes and builds inside models", {
  model <- keras_model_sequential(input_shape = c(5, 3)) |> layer_dense(4)
  expect_equal(model$layers[[1]]$output_shape, c(NA, 5L, 4L))
  inputs <- keras_input(shape = 3)
  out <- inputs |> layer_dense(2)
  expect_equal(out$shape, c(NA, 2L))
})

test_that("input_shape through ... warns like Keras and builds the layer", {
  expect_warning(layer <- layer_dense(units = 2, input_shape = 3),
                 class = "normlayers_warning")
  expect_true(layer$built)
  expect_equal(dim(layer$kernel), c(3L, 2L))
})

test_that("dense config round-trips", {
  layer <- layer_dense(units = 3, activation = "relu", use_bias = FALSE, name = "d3")
  cfg <- get_config(layer)
  expect_equal(cfg$units, 3L)
  expect_equal(cfg$activation, "relu")
  expect_false(cfg$use_bias)
  expect_equal(attr(cfg, "__class__"), "Dense")
  cfg$name <- "d3_copy"
  layer2 <- from_config(cfg)
  expect_s3_class(layer2, "nl_dense")
  expect_equal(layer2$units, 3L)
})

test_that("bad dense arguments and inputs error with a class and change nothing", {
  expect_error(layer_dense(units = 0), class = "normlayers_error_value")
  expect_error(layer_dense(units = 2.5), class = "normlayers_error_value")
  expect_error(layer_dense(), class = "normlayers_error_missing")
  expect_error(layer_dense(units = 2, activation = "nope"), class = "normlayers_error_value")
  expect_error(layer_dense(units = 2, foo = 1), class = "normlayers_error")
  layer <- layer_dense(units = 2)
  expect_error(layer(c(1, 2, 3)), class = "normlayers_error_shape")
  expect_false(layer$built)
  layer(matrix(1, 2, 3))
  w <- get_weights(layer)
  expect_error(layer(matrix(1, 2, 4)), class = "normlayers_error_shape")
  expect_identical(get_weights(layer), w)
})
