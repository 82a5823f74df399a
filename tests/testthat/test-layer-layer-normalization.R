# Slow, obviously correct LayerNormalization: statistics over `axes` for every
# position of the other axes.
ln_oracle <- function(x, axes, gamma = NULL, beta = NULL, epsilon = 1e-3) {
  d <- dim(x)
  kept <- setdiff(seq_along(d), axes)
  perm <- c(kept, axes)
  m <- aperm(x, perm)
  dim(m) <- c(prod(d[kept]), prod(d[axes]))
  mu <- apply(m, 1, mean)
  v <- apply(m, 1, function(r) mean((r - mean(r))^2))
  y <- (m - mu) / sqrt(v + epsilon)
  if (!is.null(gamma)) y <- sweep(y, 2, as.vector(gamma), "*")
  if (!is.null(beta)) y <- sweep(y, 2, as.vector(beta), "+")
  y <- array(y, c(d[kept], d[axes]))
  aperm(y, order(perm))
}

# Oracle ----

test_that("layer normalization matches the oracle over random shapes and axes", {
  set.seed(1)
  for (i in 1:40) {
    rank <- sample(1:5, 1)
    shape <- sample(1:5, rank, replace = TRUE)
    naxes <- sample(seq_len(rank), 1)
    axes <- sort(sample(seq_len(rank), naxes))
    x <- rand_array(shape, mean = 3, sd = 2)
    given <- ifelse(runif(length(axes)) < 0.5, axes, axes - rank - 1L)
    layer <- layer_layer_normalization(axis = given, epsilon = 1e-3,
                                       gamma_initializer = "random_normal",
                                       beta_initializer = "random_uniform")
    y <- layer(x)
    expected <- ln_oracle(x, axes, layer$gamma, layer$beta)
    expect_equal(as.vector(y), as.vector(expected), tolerance = 1e-10)
    expect_equal(dim(y), dim(x))
  }
})

test_that("center = FALSE and scale = FALSE drop beta and gamma", {
  x <- rand_array(c(4, 5))
  l1 <- layer_layer_normalization(center = FALSE)
  l2 <- layer_layer_normalization(scale = FALSE)
  l3 <- layer_layer_normalization(center = FALSE, scale = FALSE)
  expect_equal(l1(x), ln_oracle(x, 2), tolerance = 1e-12)
  expect_equal(names(l1$weights), paste0(l1$name, "/gamma"))
  expect_null(l1$beta)
  expect_null(l2$gamma)
  expect_equal(l3(x), ln_oracle(x, 2), tolerance = 1e-12)
  expect_length(get_weights(l3), 0)
})

# Golden numbers (spec 14.1) ----

test_that("spec 14.1 worked numbers are reproduced", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  expect_equal(layer_layer_normalization(x),
               rbind(c(-1.223827, 0, 1.223827), c(-1.223827, 0, 1.223827)),
               tolerance = 1e-6)
  layer <- layer_layer_normalization()
  layer(x)
  set_weights(layer, list(c(1, 2, 3), c(0.5, 0, -0.5)))
  expect_equal(layer(x)[1, ], c(-0.7238273, 0, 3.171482), tolerance = 1e-6)
  expect_equal(layer(x)[2, ], c(-0.7238273, 0, 3.171482), tolerance = 1e-6)
  expect_equal(layer_layer_normalization(x, epsilon = 1e-5)[1, ],
               c(-1.224736, 0, 1.224736), tolerance = 1e-6)
  # the Keras unit-test value: 0:4 with gamma = beta = 1
  k <- layer_layer_normalization(gamma_initializer = "ones", beta_initializer = "ones")
  expect_equal(as.vector(k(matrix(0:4, 1))),
               c(-0.4138601, 0.2930699, 1, 1.70693, 2.41386), tolerance = 1e-6)
  # axis = c(2, 3) on a 1 x 2 x 2 array
  a <- array(0, c(1, 2, 2))
  a[1, 1, ] <- c(1, 2)
  a[1, 2, ] <- c(3, 4)
  out <- layer_layer_normalization(a, axis = c(2, 3))
  expect_equal(c(out[1, 1, 1], out[1, 1, 2], out[1, 2, 1], out[1, 2, 2]),
               c(-1.341104, -0.4470348, 0.4470348, 1.341104), tolerance = 1e-6)
  # a constant row gives beta
  expect_equal(as.vector(layer_layer_normalization(matrix(7, 1, 3))), c(0, 0, 0))
})

test_that("the ill-conditioned row is computed exactly (two-pass statistics)", {
  y <- layer_layer_normalization(matrix(c(10000, 10001, 10002), 1))
  expect_equal(as.vector(y), c(-1.223827, 0, 1.223827), tolerance = 1e-6)
  y2 <- layer_layer_normalization(matrix(c(1e9, 1e9 + 1, 1e9 + 2), 1))
  expect_equal(as.vector(y2), c(-1.223827, 0, 1.223827), tolerance = 1e-6)
})

test_that("deprecated rms_scaling warns and scales by the variance", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  expect_warning(l <- layer_layer_normalization(rms_scaling = TRUE),
                 class = "normlayers_warning_deprecated")
  y <- l(x)
  expect_equal(y, rbind(c(1.223827, 2.447655, 3.671482), c(4.895309, 6.119137, 7.342964)),
               tolerance = 1e-6)
  expect_null(l$beta)
})

test_that("gamma and beta span the normalized axes", {
  x <- rand_array(c(5, 2, 3, 4))
  l <- layer_layer_normalization(axis = c(2, 3, 4))
  l(x)
  expect_equal(dim(l$gamma), c(2L, 3L, 4L))
  l2 <- layer_layer_normalization(axis = c(-1, 2))
  l2(x)
  expect_equal(dim(l2$beta), c(2L, 4L))
  expect_equal(get_config(l2)$axis, c(2L, 4L))
})

# Contract ----

test_that("layer normalization satisfies the layer contract", {
  set.seed(2)
  expect_layer_contract(function() layer_layer_normalization(), rand_array(c(6, 4)),
                        "LayerNormalization")
  expect_layer_contract(function() layer_layer_normalization(axis = c(2, 3)),
                        rand_array(c(3, 2, 5)), "LayerNormalization")
})

test_that("the four composition modes work", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  # missing / NULL object: a layer
  expect_s3_class(layer_layer_normalization(), "nl_layer")
  expect_s3_class(layer_layer_normalization(NULL), "nl_layer")
  # a sequential model: appended in place, returned invisibly
  model <- keras_model_sequential(input_shape = 3)
  expect_invisible(res <- layer_layer_normalization(model))
  expect_identical(res, model)
  expect_length(model$layers, 1)
  model |> layer_layer_normalization(center = FALSE)
  expect_length(model$layers, 2)
  # a symbolic tensor: a symbolic output with the shape inferred
  inp <- keras_input(shape = c(3))
  out <- layer_layer_normalization(inp)
  expect_s3_class(out, "nl_symbolic_tensor")
  expect_equal(out$shape, c(NA, 3L))
  # an array, vector or data frame: the output in the same container
  expect_true(is.matrix(layer_layer_normalization(x)))
  v <- layer_layer_normalization(c(a = 1, b = 2, c = 3))
  expect_null(dim(v))
  expect_named(v, c("a", "b", "c"))
  df <- layer_layer_normalization(data.frame(p = c(1, 4), q = c(2, 5), r = c(3, 6)))
  expect_s3_class(df, "data.frame")
  expect_named(df, c("p", "q", "r"))
  expect_equal(df$p, c(-1.223827, -1.223827), tolerance = 1e-6)
  # dimnames survive
  xn <- x
  dimnames(xn) <- list(c("r1", "r2"), c("a", "b", "c"))
  expect_identical(dimnames(layer_layer_normalization(xn)), dimnames(xn))
  # integer and logical input is computed as double
  expect_equal(layer_layer_normalization(matrix(1:6, 2, byrow = TRUE)), layer_layer_normalization(x))
  # pipes
  expect_equal(x %>% layer_layer_normalization(), x |> layer_layer_normalization())
})

# Bad input ----

test_that("bad axes are classed errors", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  expect_error(layer_layer_normalization(axis = 0), class = "normlayers_error_axis")
  expect_error(layer_layer_normalization(axis = 1.5), class = "normlayers_error_axis")
  expect_error(layer_layer_normalization(axis = "a"), class = "normlayers_error_axis")
  expect_error(layer_layer_normalization(x, axis = 3), class = "normlayers_error_axis")
  expect_error(layer_layer_normalization(x, axis = -3), class = "normlayers_error_axis")
  expect_error(layer_layer_normalization(x, axis = c(2, -1)), class = "normlayers_error_axis")
  # a bad axis on a symbolic tensor fails right there
  expect_error(keras_input(shape = 3) |> layer_layer_normalization(axis = 4),
               class = "normlayers_error_axis")
  expect_snapshot(error = TRUE, layer_layer_normalization(x, axis = 0))
  expect_snapshot(error = TRUE, layer_layer_normalization(x, axis = c(2, -1)))
})

test_that("a failed call changes nothing", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  l <- layer_layer_normalization(axis = 3)
  expect_error(l(x), class = "normlayers_error_axis")
  expect_false(l$built)
  expect_length(l$weights, 0)
  l2 <- layer_layer_normalization()
  l2(x)
  w <- get_weights(l2)
  expect_error(l2(matrix(1, 2, 4)), class = "normlayers_error_shape")
  expect_error(l2(array(1, c(2, 3, 1))), class = "normlayers_error_shape")
  expect_identical(get_weights(l2), w)
  expect_error(set_weights(l2, list(1:3, 1:4)), class = "normlayers_error_weights")
  expect_error(set_weights(l2, list(1:3)), class = "normlayers_error_weights")
  expect_identical(get_weights(l2), w)
})

test_that("non-numeric input and bad arguments are classed errors", {
  expect_error(layer_layer_normalization("a"), class = "normlayers_error_type")
  expect_error(layer_layer_normalization(list(1, 2)), class = "normlayers_error_type")
  expect_error(layer_layer_normalization(data.frame(a = "x")), class = "normlayers_error_type")
  expect_error(layer_layer_normalization(epsilon = -1), class = "normlayers_error_value")
  expect_error(layer_layer_normalization(center = NA), class = "normlayers_error_value")
  expect_error(layer_layer_normalization(gamma_initializer = "nope"),
               class = "normlayers_error_initializer")
  expect_error(layer_layer_normalization(gamma_regularizer = "nope"),
               class = "normlayers_error_regularizer")
  expect_error(layer_layer_normalization(beta_constraint = "nope"),
               class = "normlayers_error_constraint")
  expect_error(layer_layer_normalization(foo = 1), class = "normlayers_error_argument")
})

test_that("initializers, regularizers and constraints take strings, objects and functions", {
  x <- rand_array(c(4, 3))
  l <- layer_layer_normalization(gamma_initializer = initializer_constant(2),
                                 beta_initializer = function(shape, dtype = NULL) seq_len(prod(shape)),
                                 gamma_regularizer = "l2",
                                 beta_regularizer = function(w) sum(abs(w)),
                                 gamma_constraint = constraint_nonneg())
  l(x)
  expect_equal(l$gamma, c(2, 2, 2))
  expect_equal(l$beta, c(1, 2, 3))
  losses <- l$losses
  expect_equal(unname(unlist(losses)), c(0.01 * 12, 6))
})

test_that("trainable and name are honoured", {
  l <- layer_layer_normalization(trainable = FALSE, name = "my_norm")
  l(matrix(1:6, 2))
  expect_identical(l$name, "my_norm")
  expect_false(l$trainable)
  expect_length(get_weights(l, trainable = TRUE), 0)
  expect_length(get_weights(l, trainable = FALSE), 2)
  l$trainable <- TRUE
  expect_length(get_weights(l, trainable = TRUE), 2)
  expect_error(l$trainable <- "yes", class = "normlayers_error_value")
  expect_error(l$gamma <- 1, class = "normlayers_error_state")
})

test_that("automatic names are unique within the session", {
  a <- layer_layer_normalization()
  b <- layer_layer_normalization()
  expect_match(a$name, "^layer_normalization")
  expect_false(identical(a$name, b$name))
})

test_that("the backward pass matches finite differences", {
  set.seed(3)
  for (axes in list(2L, c(2L, 3L), 3L, 1L)) {
    x <- rand_array(c(3, 4, 2))
    l <- layer_layer_normalization(axis = axes, gamma_initializer = "random_normal",
                                   beta_initializer = "random_normal")
    res <- nl_layer_run(l, x, training = TRUE)
    w <- rand_array(dim(x))
    back <- nl_layer_backward(l, res$cache, w)
    f <- function(xx) sum(l(xx) * w)
    num <- numeric_gradient(f, x, h = 1e-5)
    expect_lt(max(abs(num - back$dx)) / max(abs(num)), 1e-6)
    g0 <- l$gamma
    f_g <- function(g) {
      on.exit(set_weights(l, list(g0, l$beta)))
      set_weights(l, list(g, l$beta))
      f(x)
    }
    num_g <- numeric_gradient(f_g, g0, h = 1e-5)
    expect_lt(max(abs(num_g - as.vector(back$grads$gamma))) / max(abs(num_g)), 1e-6)
    expect_equal(as.vector(back$grads$beta),
                 as.vector(apply(w, axes, sum)), tolerance = 1e-10)
  }
})
