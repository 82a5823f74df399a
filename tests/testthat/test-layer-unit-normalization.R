# Oracle ----

test_that("unit normalization matches the oracle over random shapes and axes", {
  set.seed(301)
  for (i in 1:30) {
    rank <- sample(1:5, 1)
    shape <- sample(1:4, rank, replace = TRUE)
    axes <- family_random_axes(rank)
    given <- ifelse(runif(length(axes)) < 0.5, axes, axes - rank - 1L)
    x <- rand_array(shape, sd = 3)
    y <- layer_unit_normalization(x, axis = given)
    expect_equal(as.vector(y), as.vector(ref_unit_norm(x, axes, 1e-12)$y), tolerance = 1e-12)
    expect_equal(dim(y), dim(x))
    # each slice has unit norm
    norms <- family_slice_map(y, axes, function(v) rep(sum(v^2), length(v)))
    expect_equal(as.vector(norms), rep(1, length(y)), tolerance = 1e-12)
  }
})

# Golden numbers (spec 14.6) ----

test_that("spec 14.6 worked numbers are reproduced", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  expect_equal(layer_unit_normalization(x),
               rbind(c(0.2672612, 0.5345225, 0.8017837), c(0.4558423, 0.5698029, 0.6837635)),
               tolerance = 1e-7)
  # an all-zero input gives zeros, not NaN
  expect_identical(as.vector(layer_unit_normalization(matrix(0, 1, 3))), c(0, 0, 0))
  # Keras >= 3.6: the norm is floored at 1e-12, so tiny vectors still normalize
  expect_equal(as.vector(layer_unit_normalization(matrix(c(3e-13, 4e-13, 0), 1))),
               c(0.3, 0.4, 0), tolerance = 1e-12)
  # below the floor: x / 1e-12
  expect_equal(as.vector(layer_unit_normalization(matrix(c(3e-14, 4e-14), 1))),
               c(0.03, 0.04), tolerance = 1e-12)
})

# Contract ----

test_that("unit normalization satisfies the layer contract", {
  set.seed(302)
  expect_layer_contract(function() layer_unit_normalization(), rand_array(c(6, 4)),
                        "UnitNormalization")
  expect_layer_contract(function() layer_unit_normalization(axis = c(2, 3)),
                        rand_array(c(3, 2, 5)), "UnitNormalization")
})

test_that("the composition modes work", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  expect_s3_class(layer_unit_normalization(), "nl_unit_normalization")
  expect_s3_class(layer_unit_normalization(NULL), "nl_layer")
  model <- keras_model_sequential(input_shape = 3)
  expect_invisible(res <- layer_unit_normalization(model))
  expect_identical(res, model)
  inp <- keras_input(shape = c(4, 3))
  out <- inp |> layer_unit_normalization(axis = c(2, 3))
  expect_s3_class(out, "nl_symbolic_tensor")
  expect_equal(out$shape, c(NA, 4L, 3L))
  expect_error(keras_input(shape = 3) |> layer_unit_normalization(axis = -3),
               class = "normlayers_error_axis")
  v <- layer_unit_normalization(c(a = 3, b = 4))
  expect_equal(v, c(a = 0.6, b = 0.8))
  df <- layer_unit_normalization(data.frame(p = c(1, 4), q = c(2, 5), r = c(3, 6)))
  expect_s3_class(df, "data.frame")
  expect_equal(df$r, c(0.8017837, 0.6837635), tolerance = 1e-7)
  expect_equal(layer_unit_normalization(matrix(1:6, 2, byrow = TRUE)), layer_unit_normalization(x))
  expect_equal(x %>% layer_unit_normalization(), x |> layer_unit_normalization())
})

# Training ----

test_that("the backward pass matches finite differences, the zero floor included", {
  set.seed(303)
  for (axes in list(-1L, c(2L, 3L), 2L, 1L)) {
    l <- layer_unit_normalization(axis = axes)
    back <- expect_layer_gradients(l, rand_array(c(3, 4, 2)))
    expect_length(back$grads, 0)
  }
  # a row under the floor: the norm is the constant 1e-12, so dx = dy / 1e-12
  l <- layer_unit_normalization()
  x <- rbind(c(1e-14, -2e-14), c(1, 2))
  res <- nl_layer_run(l, x, training = TRUE)
  dy <- rbind(c(1, 2), c(3, 4))
  back <- nl_layer_backward(l, res$cache, dy)
  expect_equal(back$dx[1, ], dy[1, ] / 1e-12)
  f <- function(xx) sum(l(xx)[2, ] * dy[2, ])
  expect_lt(relative_error(back$dx[2, ], numeric_gradient(f, x)[2, ]), 1e-6)
})

test_that("unit normalization trains in fit() with checked gradients", {
  set.seed(304)
  model <- keras_model_sequential(input_shape = 4) |>
    layer_dense(5) |>
    layer_unit_normalization() |>
    layer_dense(2)
  randomize_weights(model)
  x <- random_array(c(10, 4))
  y <- random_array(c(10, 2))
  family_expect_model_gradients(model, x, y)
  compile(model, optimizer = optimizer_sgd(learning_rate = 0.1), loss = "mse")
  h <- fit(model, x, y, epochs = 20, batch_size = 10, verbose = 0)
  expect_lt(h$metrics$loss[20], h$metrics$loss[1])
})

# Config, weights, persistence ----

test_that("get_config() has Keras's keys and from_config() rebuilds the layer", {
  l <- layer_unit_normalization(axis = c(2, 3), name = "unit_cfg")
  cfg <- get_config(l)
  expect_identical(attr(cfg, "__class__"), "UnitNormalization")
  expect_named(cfg, c("name", "trainable", "dtype", "axis"))
  expect_identical(cfg$axis, c(2L, 3L))
  l2 <- from_config(cfg)
  expect_s3_class(l2, "nl_unit_normalization")
  expect_identical(get_config(l2), cfg)
  x <- rand_array(c(2, 3, 4))
  expect_equal(l2(x), l(x))
})

test_that("no weights; summary() rows and saveRDS() round trip", {
  l <- layer_unit_normalization()
  l(matrix(1:6, 2))
  expect_length(get_weights(l), 0)
  expect_identical(count_params(l), 0L)
  model <- keras_model_sequential(input_shape = 5) |>
    layer_unit_normalization(name = "unit_sum")
  out <- capture.output(summary(model))
  expect_true(any(grepl("unit_sum (UnitNormalization)", out, fixed = TRUE)))
  expect_true(any(grepl("Total params: 0", out, fixed = TRUE)))
  path <- tempfile(fileext = ".rds")
  on.exit(unlink(path))
  saveRDS(model, path)
  x <- rand_array(c(3, 5))
  expect_identical(readRDS(path)(x), model(x))
})

# Bad input ----

test_that("bad arguments and inputs are classed errors and change nothing", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  expect_error(layer_unit_normalization(axis = 0), class = "normlayers_error_axis")
  expect_error(layer_unit_normalization(axis = list(1)), class = "normlayers_error_axis")
  expect_error(layer_unit_normalization(axis = NULL), class = "normlayers_error_axis")
  expect_error(layer_unit_normalization(x, axis = 3), class = "normlayers_error_axis")
  expect_error(layer_unit_normalization(x, axis = c(1, -2)), class = "normlayers_error_axis")
  expect_error(layer_unit_normalization(epsilon = 1), class = "normlayers_error_argument")
  expect_error(layer_unit_normalization("a"), class = "normlayers_error_type")
  expect_snapshot(error = TRUE, layer_unit_normalization(axis = 0))
  l <- layer_unit_normalization(axis = 3)
  expect_error(l(x), class = "normlayers_error_axis")
  expect_false(l$built)
  l2 <- layer_unit_normalization(axis = 2)
  l2(x)
  expect_error(l2(c(1, 2)), class = "normlayers_error_axis")
})

test_that("formals match keras3 and name goes through ...", {
  expect_identical(names(formals(layer_unit_normalization)), c("object", "axis", "..."))
  l <- layer_unit_normalization(name = "my_unit", dtype = "float64")
  expect_identical(l$name, "my_unit")
  expect_match(layer_unit_normalization()$name, "^unit_normalization")
})
