# Oracle ----

test_that("group normalization matches the oracle over random shapes, axes and groups", {
  set.seed(101)
  for (i in 1:30) {
    rank <- sample(2:5, 1)
    shape <- sample(1:4, rank, replace = TRUE)
    axis <- (2:rank)[sample.int(rank - 1L, 1)]
    shape[axis] <- sample(c(2L, 4L, 6L), 1)
    C <- shape[axis]
    divisors <- Filter(function(g) C %% g == 0, seq_len(C))
    groups <- if (length(divisors) > 1 && runif(1) < 0.2) -1L else sample(divisors, 1)
    given <- if (runif(1) < 0.5) axis else axis - rank - 1L
    x <- rand_array(shape, mean = 2, sd = 3)
    layer <- layer_group_normalization(groups = groups, axis = given, epsilon = 1e-3,
                                       gamma_initializer = "random_normal",
                                       beta_initializer = "random_uniform")
    y <- layer(x)
    g <- if (groups == -1L) C else groups
    expected <- ref_group_norm(x, axis, g, layer$gamma, layer$beta, 1e-3)$y
    expect_equal(as.vector(y), as.vector(expected), tolerance = 1e-10)
    expect_equal(dim(y), dim(x))
    expect_equal(get_config(layer)$groups, g)
  }
})

test_that("center = FALSE and scale = FALSE drop beta and gamma", {
  set.seed(102)
  x <- rand_array(c(3, 5, 4))
  l1 <- layer_group_normalization(groups = 2, center = FALSE)
  l2 <- layer_group_normalization(groups = 2, scale = FALSE)
  l3 <- layer_group_normalization(groups = 2, center = FALSE, scale = FALSE)
  expect_equal(l1(x), ref_group_norm(x, 3, 2, NULL, NULL, 1e-3)$y, tolerance = 1e-12)
  expect_null(l1$beta)
  expect_equal(l1$gamma, rep(1, 4))
  expect_null(l2$gamma)
  expect_equal(l3(x), ref_group_norm(x, 3, 2, NULL, NULL, 1e-3)$y, tolerance = 1e-12)
  expect_length(get_weights(l3), 0)
  l4 <- layer_group_normalization(groups = 2)
  l4(x)
  expect_equal(get_weights(l4), list(rep(1, 4), rep(0, 4)))
})

# Golden numbers (spec 14.5) ----

test_that("spec 14.5 worked numbers are reproduced", {
  gn <- function(x, groups, ...) {
    layer_group_normalization(x, groups = groups, center = FALSE, scale = FALSE,
                              epsilon = 1e-3, ...)
  }
  x <- matrix(c(-1, -1, 1, 1, 2, 2, 0, -2), nrow = 1)
  expect_equal(as.vector(gn(x, 1)),
               c(-0.8977949, -0.8977949, 0.5386769, 0.5386769, 1.256913, 1.256913,
                 -0.179559, -1.616031), tolerance = 1e-6)
  expect_equal(as.vector(gn(x, 2)),
               c(-0.9995004, -0.9995004, 0.9995004, 0.9995004, 0.9043696, 0.9043696,
                 -0.3014565, -1.507283), tolerance = 1e-6)
  expect_equal(as.vector(gn(x, 4)), c(0, 0, 0, 0, 0, 0, 0.9995004, -0.9995004),
               tolerance = 1e-6)

  # N = 1, L = 2, C = 4
  a <- array(0, c(1, 2, 4))
  a[1, 1, ] <- c(-1, 1, 0, 2)
  a[1, 2, ] <- c(1, 3, -4, -2)
  y4 <- gn(a, 4)
  expect_equal(y4[1, 1, ], c(-0.9995004, -0.9995004, 0.999875, 0.999875), tolerance = 1e-6)
  expect_equal(y4[1, 2, ], c(0.9995004, 0.9995004, -0.999875, -0.999875), tolerance = 1e-6)
  expect_equal(gn(a, -1), y4)
  y2 <- gn(a, 2)
  expect_equal(y2[1, 1, ], c(-1.41386, 0, 0.4471689, 1.341507), tolerance = 1e-6)
  expect_equal(y2[1, 2, ], c(0, 1.41386, -1.341507, -0.4471689), tolerance = 1e-6)

  # channels first: Python arange(16) reshaped (1, 4, 2, 2) in C order, axis 2 in R
  cf <- aperm(array(0:15, c(2, 2, 4, 1)), 4:1)
  yc <- gn(cf, 2, axis = 2)
  expected <- c(-1.52738, -1.090986, -0.6545913, -0.2181971, 0.2181971, 0.6545913,
                1.090986, 1.52738)
  # values 0..7 form group 1 and 8..15 group 2, in that order of value
  expect_equal(yc[order(cf)], rep(expected, 2), tolerance = 1e-6)
})

test_that("ill-conditioned data: 1e8 + N(0, 1) gives the output of the data shifted to 0", {
  set.seed(103)
  x <- 1e8 + rand_array(c(4, 6, 6, 8))
  shifted <- x - 1e8  # exact: the same data, shifted
  l <- layer_group_normalization(groups = 4)
  expect_equal(l(x), l(shifted), tolerance = 1e-9)
  # and both agree with the oracle on the shifted data
  expect_equal(l(shifted), ref_group_norm(shifted, 4, 4, NULL, NULL, 1e-3)$y, tolerance = 1e-9)
})

# Contract ----

test_that("group normalization satisfies the layer contract", {
  set.seed(104)
  expect_layer_contract(function() layer_group_normalization(groups = 2),
                        rand_array(c(6, 4)), "GroupNormalization")
  expect_layer_contract(function() layer_group_normalization(groups = -1, axis = 2),
                        rand_array(c(3, 3, 5)), "GroupNormalization")
})

test_that("the composition modes work", {
  x <- matrix(c(-1, -1, 1, 1, 2, 2, 0, -2), nrow = 1)
  expect_s3_class(layer_group_normalization(), "nl_group_normalization")
  expect_s3_class(layer_group_normalization(NULL, groups = 2), "nl_layer")
  model <- keras_model_sequential(input_shape = c(5, 8))
  expect_invisible(res <- layer_group_normalization(model, groups = 4))
  expect_identical(res, model)
  model |> layer_group_normalization(groups = 2, name = "gn_second")
  expect_length(model$layers, 2)
  expect_equal(model$layers[[2]]$gamma, rep(1, 8))
  inp <- keras_input(shape = c(5, 8))
  out <- layer_group_normalization(inp, groups = 4)
  expect_s3_class(out, "nl_symbolic_tensor")
  expect_equal(out$shape, c(NA, 5L, 8L))
  expect_error(keras_input(shape = 6) |> layer_group_normalization(groups = 4),
               class = "normlayers_error_value")
  y <- layer_group_normalization(x, groups = 2)
  expect_true(is.matrix(y))
  df <- layer_group_normalization(as.data.frame(x), groups = 2)
  expect_s3_class(df, "data.frame")
  expect_equal(unlist(df, use.names = FALSE), as.vector(y))
  expect_equal(x %>% layer_group_normalization(groups = 2),
               x |> layer_group_normalization(groups = 2))
  # a vector is a 1-D tensor: the batch axis is its only axis, so no channels
  expect_error(layer_group_normalization(1:4, groups = 1), class = "normlayers_error_axis")
  expect_equal(layer_group_normalization(matrix(1:8, 1), groups = 2),
               layer_group_normalization(matrix(as.double(1:8), 1), groups = 2))
})

# Training ----

test_that("the backward pass matches finite differences", {
  set.seed(105)
  for (case in list(list(d = c(3, 4), axis = -1, g = 2), list(d = c(2, 3, 4), axis = 2, g = 3),
                    list(d = c(2, 2, 3, 4), axis = -1, g = -1))) {
    l <- layer_group_normalization(groups = case$g, axis = case$axis,
                                   gamma_initializer = "random_normal",
                                   beta_initializer = "random_normal")
    expect_layer_gradients(l, rand_array(case$d))
  }
})

test_that("group normalization trains in fit() with checked gradients", {
  set.seed(106)
  model <- keras_model_sequential(input_shape = 6) |>
    layer_dense(6, activation = "tanh") |>
    layer_group_normalization(groups = 3, gamma_regularizer = "l2") |>
    layer_dense(1)
  randomize_weights(model)
  x <- random_array(c(8, 6))
  y <- random_array(c(8, 1))
  family_expect_model_gradients(model, x, y)
  compile(model, optimizer = optimizer_sgd(learning_rate = 0.05), loss = "mse")
  gn <- model$layers[[2]]
  g0 <- gn$gamma
  h <- fit(model, x, y, epochs = 20, batch_size = 8, verbose = 0)
  expect_true(all(is.finite(h$metrics$loss)))
  expect_lt(h$metrics$loss[20], h$metrics$loss[1])
  expect_false(identical(gn$gamma, g0))
})

test_that("regularizers and constraints apply to gamma and beta", {
  x <- rand_array(c(4, 4))
  l <- layer_group_normalization(groups = 2, gamma_initializer = initializer_constant(2),
                                 gamma_regularizer = regularizer_l2(0.1),
                                 beta_regularizer = function(w) sum(abs(w)) + 1,
                                 beta_constraint = constraint_nonneg())
  l(x)
  expect_equal(unname(unlist(l$losses)), c(0.1 * 16, 1))
  model <- keras_model_sequential(input_shape = 4, layers = l)
  compile(model, optimizer = optimizer_sgd(learning_rate = 1), loss = "mse")
  fit(model, x, matrix(-5, 4, 4), epochs = 2, batch_size = 4, verbose = 0)
  expect_true(all(l$beta >= 0))
})

# Config, weights, persistence ----

test_that("get_config() has Keras's keys; groups = -1 reports the channels after build", {
  l <- layer_group_normalization(groups = -1, axis = 2, epsilon = 1e-5, center = FALSE,
                                 gamma_regularizer = "l2", name = "gn_cfg")
  cfg <- get_config(l)
  expect_identical(attr(cfg, "__class__"), "GroupNormalization")
  expect_named(cfg, c("name", "trainable", "dtype", "groups", "axis", "epsilon", "center",
                      "scale", "beta_initializer", "gamma_initializer", "beta_regularizer",
                      "gamma_regularizer", "beta_constraint", "gamma_constraint"))
  expect_identical(cfg$groups, -1L)
  expect_identical(cfg$gamma_regularizer$class_name, "L2")
  l(rand_array(c(2, 5, 3)))
  cfg2 <- get_config(l)
  expect_identical(cfg2$groups, 5L)
  l2 <- from_config(cfg2)
  expect_s3_class(l2, "nl_group_normalization")
  expect_false(l2$built)
  expect_identical(get_config(l2), cfg2)
  x <- rand_array(c(3, 5, 3))
  expect_equal(l2(x), l(x))
})

test_that("weights are gamma then beta; summary() and saveRDS() work", {
  set.seed(107)
  model <- keras_model_sequential(input_shape = c(3, 4)) |>
    layer_group_normalization(groups = 2, name = "gn_sum")
  w <- get_weights(model)
  expect_equal(w, list(rep(1, 4), rep(0, 4)))
  set_weights(model, list(1:4, 4:1))
  expect_equal(model$layers[[1]]$beta, c(4, 3, 2, 1))
  out <- capture.output(summary(model))
  expect_true(any(grepl("gn_sum (GroupNormalization)", out, fixed = TRUE)))
  expect_true(any(grepl("(None, 3, 4)", out, fixed = TRUE)))
  expect_true(any(grepl("Total params: 8", out, fixed = TRUE)))
  path <- tempfile(fileext = ".rds")
  on.exit(unlink(path))
  saveRDS(model, path)
  m2 <- readRDS(path)
  x <- rand_array(c(2, 3, 4))
  expect_identical(m2(x), model(x))
  expect_identical(get_weights(m2), get_weights(model))
})

# Bad input ----

test_that("bad groups are classed errors with Keras's checks", {
  expect_error(layer_group_normalization(groups = 0), class = "normlayers_error_value")
  expect_error(layer_group_normalization(groups = -2), class = "normlayers_error_value")
  expect_error(layer_group_normalization(groups = 1.5), class = "normlayers_error_value")
  expect_error(layer_group_normalization(groups = "2"), class = "normlayers_error_value")
  expect_error(layer_group_normalization(groups = NA), class = "normlayers_error_value")
  expect_error(layer_group_normalization(groups = c(1, 2)), class = "normlayers_error_value")
  expect_snapshot(error = TRUE, layer_group_normalization(groups = 0))
  x <- rand_array(c(2, 6))
  # more groups than channels
  l <- layer_group_normalization()
  expect_error(l(x), class = "normlayers_error_value")
  expect_false(l$built)
  expect_length(l$weights, 0)
  expect_snapshot(error = TRUE, layer_group_normalization(x, groups = 8))
  # groups do not divide the channels
  expect_error(layer_group_normalization(x, groups = 4), class = "normlayers_error_value")
  expect_snapshot(error = TRUE, layer_group_normalization(x, groups = 4))
})

test_that("bad axes and arguments are classed errors and change nothing", {
  x <- rand_array(c(2, 6))
  expect_error(layer_group_normalization(axis = 0), class = "normlayers_error_axis")
  expect_error(layer_group_normalization(axis = c(2, 3)), class = "normlayers_error_axis")
  expect_error(layer_group_normalization(x, groups = 2, axis = 3), class = "normlayers_error_axis")
  expect_error(layer_group_normalization(x, groups = 2, axis = 1), class = "normlayers_error_axis")
  expect_error(layer_group_normalization(x, groups = 2, axis = -2), class = "normlayers_error_axis")
  expect_error(layer_group_normalization(epsilon = -1), class = "normlayers_error_value")
  expect_error(layer_group_normalization(center = NA), class = "normlayers_error_value")
  expect_error(layer_group_normalization(gamma_initializer = "nope"),
               class = "normlayers_error_initializer")
  expect_error(layer_group_normalization(beta_regularizer = "nope"),
               class = "normlayers_error_regularizer")
  expect_error(layer_group_normalization(gamma_constraint = "nope"),
               class = "normlayers_error_constraint")
  expect_error(layer_group_normalization(foo = 1), class = "normlayers_error_argument")
  expect_error(layer_group_normalization("a"), class = "normlayers_error_type")
  l <- layer_group_normalization(groups = 3)
  l(x)
  w <- get_weights(l)
  expect_error(l(rand_array(c(2, 4))), class = "normlayers_error_shape")
  expect_error(l(rand_array(c(2, 3, 6))), class = "normlayers_error_shape")
  expect_error(set_weights(l, list(1:6, 1:5)), class = "normlayers_error_weights")
  expect_identical(get_weights(l), w)
})

test_that("trainable and name go through ...", {
  l <- layer_group_normalization(groups = 1, trainable = FALSE, name = "my_gn")
  l(matrix(1:6, 2))
  expect_identical(l$name, "my_gn")
  expect_length(get_weights(l, trainable = TRUE), 0)
  expect_length(get_weights(l, trainable = FALSE), 2)
  expect_match(layer_group_normalization()$name, "^group_normalization")
  expect_identical(names(formals(layer_group_normalization)),
                   c("object", "groups", "axis", "epsilon", "center", "scale",
                     "beta_initializer", "gamma_initializer", "beta_regularizer",
                     "gamma_regularizer", "beta_constraint", "gamma_constraint", "..."))
})
