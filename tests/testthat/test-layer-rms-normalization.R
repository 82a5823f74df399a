# Oracle ----

test_that("RMS normalization matches the oracle over random shapes and axes", {
  set.seed(201)
  for (i in 1:30) {
    rank <- sample(1:5, 1)
    shape <- sample(1:4, rank, replace = TRUE)
    axes <- family_random_axes(rank)
    given <- ifelse(runif(length(axes)) < 0.5, axes, axes - rank - 1L)
    x <- rand_array(shape, mean = 1, sd = 2)
    layer <- layer_rms_normalization(axis = given, epsilon = 1e-6)
    layer(x)
    randomize_weights(layer)
    y <- layer(x)
    expected <- ref_rms_norm(x, axes, layer$scale, 1e-6)$y
    expect_equal(as.vector(y), as.vector(expected), tolerance = 1e-10)
    expect_equal(dim(y), dim(x))
    if (length(axes) > 1) expect_equal(dim(layer$scale), shape[axes])
    else expect_length(layer$scale, shape[axes])
  }
})

# Golden numbers (spec 14.2) ----

test_that("spec 14.2 worked numbers are reproduced", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  y <- layer_rms_normalization(x)
  expect_equal(y[1, ], c(0.46291, 0.92582, 1.38873), tolerance = 1e-5)
  expect_equal(y[2, ], c(0.789542, 0.9869275, 1.184313), tolerance = 1e-6)
  # Keras's unit test: 0:9, mean square 28.5
  k <- layer_rms_normalization(matrix(0:9, 1))
  expect_equal(k[1, 1:2], c(0, 0.18731716), tolerance = 1e-7)
  expect_equal(as.vector(k), (0:9) / sqrt(28.5 + 1e-6), tolerance = 1e-12)
  # epsilon is added to the mean of squares, inside the square root
  expect_equal(as.vector(layer_rms_normalization(matrix(0, 1, 3))), c(0, 0, 0))
  expect_equal(as.vector(layer_rms_normalization(matrix(1e-4, 1, 2), epsilon = 1e-8)),
               rep(1e-4 / sqrt(1e-8 + 1e-8), 2), tolerance = 1e-12)
})

test_that("RMS normalization differs from layer normalization with rms_scaling", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  suppressWarnings(ln <- layer_layer_normalization(x, rms_scaling = TRUE))
  expect_false(isTRUE(all.equal(layer_rms_normalization(x), ln)))
})

# Contract ----

test_that("RMS normalization satisfies the layer contract", {
  set.seed(202)
  expect_layer_contract(function() layer_rms_normalization(), rand_array(c(6, 4)),
                        "RMSNormalization")
  expect_layer_contract(function() layer_rms_normalization(axis = c(2, 3)),
                        rand_array(c(3, 2, 5)), "RMSNormalization")
})

test_that("the composition modes work", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  expect_s3_class(layer_rms_normalization(), "nl_rms_normalization")
  expect_s3_class(layer_rms_normalization(NULL), "nl_layer")
  model <- keras_model_sequential(input_shape = 3)
  expect_invisible(res <- layer_rms_normalization(model))
  expect_identical(res, model)
  expect_equal(model$layers[[1]]$scale, c(1, 1, 1))
  inp <- keras_input(shape = c(4, 3))
  out <- inp |> layer_rms_normalization(axis = c(2, 3))
  expect_s3_class(out, "nl_symbolic_tensor")
  expect_equal(out$shape, c(NA, 4L, 3L))
  expect_error(keras_input(shape = 3) |> layer_rms_normalization(axis = 3),
               class = "normlayers_error_axis")
  v <- layer_rms_normalization(c(a = 3, b = 4))
  expect_named(v, c("a", "b"))
  expect_equal(unname(v), c(3, 4) / sqrt(12.5 + 1e-6))
  df <- layer_rms_normalization(data.frame(p = c(1, 4), q = c(2, 5), r = c(3, 6)))
  expect_s3_class(df, "data.frame")
  expect_equal(df$p, c(0.46291, 0.789542), tolerance = 1e-5)
  expect_equal(layer_rms_normalization(matrix(1:6, 2, byrow = TRUE)), layer_rms_normalization(x))
  expect_equal(x %>% layer_rms_normalization(), x |> layer_rms_normalization())
})

# Training ----

test_that("the backward pass matches finite differences", {
  set.seed(203)
  for (axes in list(-1L, c(2L, 3L), 2L, 1L)) {
    l <- layer_rms_normalization(axis = axes)
    x <- rand_array(c(3, 4, 2))
    l(x)
    randomize_weights(l)
    expect_layer_gradients(l, x)
  }
})

test_that("RMS normalization trains in fit() with checked gradients", {
  set.seed(204)
  model <- keras_model_sequential(input_shape = 4) |>
    layer_dense(5, activation = "tanh") |>
    layer_rms_normalization() |>
    layer_dense(2)
  randomize_weights(model)
  x <- random_array(c(10, 4))
  y <- random_array(c(10, 2))
  family_expect_model_gradients(model, x, y)
  compile(model, optimizer = optimizer_sgd(learning_rate = 0.05), loss = "mse")
  rms <- model$layers[[2]]
  s0 <- rms$scale
  h <- fit(model, x, y, epochs = 20, batch_size = 10, verbose = 0)
  expect_lt(h$metrics$loss[20], h$metrics$loss[1])
  expect_false(identical(rms$scale, s0))
})

# Config, weights, persistence ----

test_that("get_config() has Keras's keys and from_config() rebuilds the layer", {
  l <- layer_rms_normalization(axis = -1, epsilon = 1e-5, name = "rms_cfg")
  cfg <- get_config(l)
  expect_identical(attr(cfg, "__class__"), "RMSNormalization")
  expect_named(cfg, c("name", "trainable", "dtype", "axis", "epsilon"))
  expect_identical(cfg$axis, -1L)
  x <- rand_array(c(2, 3, 4))
  l(x)
  expect_identical(get_config(l)$axis, -1L)
  l3 <- layer_rms_normalization(axis = c(3, -2))
  l3(x)
  expect_identical(get_config(l3)$axis, c(-2L, 3L))
  expect_equal(dim(l3$scale), c(3L, 4L))
  l2 <- from_config(get_config(l))
  expect_s3_class(l2, "nl_rms_normalization")
  expect_equal(l2$epsilon, 1e-5)
  set_weights(l, list(c(1, 2, 3, 4)))
  l2(x)
  set_weights(l2, get_weights(l))
  expect_equal(l2(x), l(x))
})

test_that("summary() rows and saveRDS() round trip", {
  model <- keras_model_sequential(input_shape = c(2, 5)) |>
    layer_rms_normalization(name = "rms_sum")
  out <- capture.output(summary(model))
  expect_true(any(grepl("rms_sum (RMSNormalization)", out, fixed = TRUE)))
  expect_true(any(grepl("Total params: 5", out, fixed = TRUE)))
  path <- tempfile(fileext = ".rds")
  on.exit(unlink(path))
  saveRDS(model, path)
  m2 <- readRDS(path)
  x <- rand_array(c(3, 2, 5))
  expect_identical(m2(x), model(x))
})

# Bad input ----

test_that("bad arguments and inputs are classed errors and change nothing", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  expect_error(layer_rms_normalization(axis = 0), class = "normlayers_error_axis")
  expect_error(layer_rms_normalization(axis = "a"), class = "normlayers_error_axis")
  expect_error(layer_rms_normalization(x, axis = 3), class = "normlayers_error_axis")
  expect_error(layer_rms_normalization(x, axis = c(2, -1)), class = "normlayers_error_axis")
  expect_error(layer_rms_normalization(epsilon = -1), class = "normlayers_error_value")
  expect_error(layer_rms_normalization(epsilon = "a"), class = "normlayers_error_value")
  expect_error(layer_rms_normalization(center = TRUE), class = "normlayers_error_argument")
  expect_error(layer_rms_normalization(list(1)), class = "normlayers_error_type")
  expect_snapshot(error = TRUE, layer_rms_normalization(x, axis = 3))
  l <- layer_rms_normalization(axis = 3)
  expect_error(l(x), class = "normlayers_error_axis")
  expect_false(l$built)
  l2 <- layer_rms_normalization()
  l2(x)
  w <- get_weights(l2)
  expect_error(l2(matrix(1, 2, 4)), class = "normlayers_error_shape")
  expect_error(set_weights(l2, list(1:4)), class = "normlayers_error_weights")
  expect_identical(get_weights(l2), w)
})

test_that("formals match keras3 and trainable/name go through ...", {
  expect_identical(names(formals(layer_rms_normalization)), c("object", "axis", "epsilon", "..."))
  expect_identical(formals(layer_rms_normalization)$epsilon, 1e-06)
  l <- layer_rms_normalization(trainable = FALSE, name = "my_rms")
  l(matrix(1:6, 2))
  expect_identical(l$name, "my_rms")
  expect_length(get_weights(l, trainable = TRUE), 0)
  expect_match(layer_rms_normalization()$name, "^rms_normalization")
})
