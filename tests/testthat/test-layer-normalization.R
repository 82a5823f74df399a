# layer_normalization(): the preprocessing Normalization layer.

# Population mean and variance over every axis but `kept`, in the kept shape
# (the one oracle set: ref_moments() in helper-reference.R).
norm_oracle <- function(x, kept) {
  d <- if (is.null(dim(x))) length(x) else dim(x)
  m <- ref_moments(x, setdiff(seq_along(d), kept))
  shape <- if (length(kept) > 1) d[kept] else NULL
  list(mean = array_or_vector(m$mean, shape), variance = array_or_vector(m$var, shape))
}
array_or_vector <- function(v, shape) if (is.null(shape)) v else array(v, shape)

# Spreads kept-shaped statistics over the full shape `d`.
spread_kept <- function(s, d, kept) {
  if (length(kept) == 0) return(array(s, d))
  rest <- setdiff(seq_along(d), kept)
  aperm(array(s, c(d[kept], d[rest])), order(c(kept, rest)))
}

seed_adapt_data <- function() {
  op_array(rbind(c(0., 7., 4.),
                 c(2., 9., 6.),
                 c(0., 7., 4.),
                 c(2., 9., 6.)), dtype = 'float32')
}

# ---- seed 004 examples -----------------------------------------------------

test_that("seed 004: global mean and variance with axis = NULL", {
  adapt_data <- op_array(c(1., 2., 3., 4., 5.), dtype='float32')
  input_data <- op_array(c(1., 2., 3.), dtype='float32')
  layer <- layer_normalization(axis = NULL)
  layer %>% adapt(adapt_data)
  out <- layer(input_data)
  expect_null(dim(out))
  expect_equal(out, c(-1.4142135, -0.70710677, 0), tolerance = 1e-6)
  expect_equal(out, c(-sqrt(2), -sqrt(2) / 2, 0), tolerance = 1e-14)
  expect_identical(layer$mean, array(3, 1))
  expect_equal(layer$variance, array(2, 1), tolerance = 1e-15)
})

test_that("seed 004: a mean and variance for each index on the last axis", {
  adapt_data <- seed_adapt_data()
  input_data <- op_array(matrix(c(0., 7., 4.), nrow = 1), dtype='float32')
  layer <- layer_normalization(axis=-1)
  layer %>% adapt(adapt_data)
  out <- layer(input_data)
  expect_identical(dim(out), c(1L, 3L))
  expect_equal(out, matrix(c(-1, -1, -1), nrow = 1), tolerance = 1e-14)
  expect_equal(layer$mean, matrix(c(1, 8, 5), 1))
  expect_equal(layer$variance, matrix(c(1, 1, 1), 1))
})

test_that("seed 004: mean and variance passed directly", {
  input_data <- op_array(rbind(1, 2, 3), dtype='float32')
  layer <- layer_normalization(mean=3., variance=2.)
  out <- layer(input_data)
  expect_identical(dim(out), c(3L, 1L))
  expect_equal(out, rbind(-1.4142135, -0.70710677, 0), tolerance = 1e-6)
  expect_equal(out, rbind(-sqrt(2), -sqrt(2) / 2, 0), tolerance = 1e-14)
})

test_that("seed 004: invert = TRUE de-normalizes, a vector input gives a 1 x 3 matrix", {
  adapt_data <- seed_adapt_data()
  input_data <- op_array(c(1., 2., 3.), dtype='float32')
  layer <- layer_normalization(axis=-1, invert=TRUE)
  layer %>% adapt(adapt_data)
  out <- layer(input_data)
  expect_identical(dim(out), c(1L, 3L))
  expect_equal(out, matrix(c(2, 10, 8), nrow = 1))
})

# ---- spec 14.4 ---------------------------------------------------------------

test_that("spec 14.4: adapted statistics, normalization and its inverse", {
  x <- rbind(c(0, 7, 4), c(2, 9, 6), c(0, 7, 4), c(2, 9, 6))
  layer <- layer_normalization(axis = -1)
  adapt(layer, x)
  expect_equal(layer$mean, matrix(c(1, 8, 5), 1))
  expect_equal(layer$variance, matrix(c(1, 1, 1), 1))
  expect_equal(layer(matrix(c(0, 7, 4), 1)), matrix(-1, 1, 3))
  inv <- layer_normalization(axis = -1, invert = TRUE)
  adapt(inv, x)
  expect_equal(inv(matrix(c(1, 2, 3), 1)), matrix(c(2, 10, 8), 1))
})

test_that("spec 14.4: axis = NULL and the same output with fixed statistics", {
  layer <- layer_normalization(axis = NULL)
  adapt(layer, c(1, 2, 3, 4, 5))
  expect_equal(layer$mean, array(3, 1))
  expect_equal(layer$variance, array(2, 1))
  expected <- c(-1.414214, -0.7071068, 0)
  expect_equal(layer(c(1, 2, 3)), expected, tolerance = 1e-6)
  fixed <- layer_normalization(mean = 3, variance = 2)
  expect_equal(fixed(rbind(1, 2, 3)), matrix(expected, ncol = 1), tolerance = 1e-6)
})

test_that("spec 14.4: batched merge is exact", {
  l1 <- layer_normalization(axis = NULL)
  adapt(l1, list(c(1, 2)))
  expect_equal(l1$mean, array(1.5, 1))
  expect_equal(l1$variance, array(0.25, 1))
  adapt(l1, list(c(1, 2), c(3, 4, 5)))
  expect_equal(l1$mean, array(3, 1), tolerance = 1e-15)
  expect_equal(l1$variance, array(2, 1), tolerance = 1e-15)
  adapt(l1, list(c(10, 10, 10), 0))
  expect_equal(l1$mean, array(7.5, 1), tolerance = 1e-15)
  expect_equal(l1$variance, array(18.75, 1), tolerance = 1e-15)
})

test_that("spec 14.4: zero variance is floored at 1e-7 on the standard deviation", {
  layer <- layer_normalization()
  adapt(layer, rbind(c(1, 5), c(1, 7)))
  expect_equal(layer$mean, matrix(c(1, 6), 1))
  expect_equal(layer$variance, matrix(c(0, 1), 1))
  expect_equal(layer(matrix(c(2, 6), 1)), matrix(c(1e7, 0), 1))
  expect_identical(layer(matrix(c(1, 6), 1))[1, 1], 0)
  inv <- layer_normalization(invert = TRUE)
  adapt(inv, rbind(c(1, 5), c(1, 7)))
  expect_equal(inv(matrix(c(2, 6), 1)), matrix(c(1 + 2e-7, 12), 1), tolerance = 1e-15)
})

test_that("spec 14.4: a batch of scalars with the default axis keeps the batch axis", {
  layer <- layer_normalization()
  expect_warning(adapt(layer, c(1, 2, 3)), class = "normlayers_warning_axis")
  expect_equal(layer$mean, array(c(1, 2, 3)))
  expect_equal(layer$variance, array(c(0, 0, 0)))
  expect_equal(layer(c(2, 2, 2)), c(1e7, 0, -1e7))
  expect_error(layer(c(2, 2)), class = "normlayers_error_shape")
})

test_that("negative fixed variance gives NaN, as in Keras", {
  layer <- layer_normalization(mean = 0, variance = -1)
  expect_no_warning(y <- layer(matrix(1:3, 1)))
  expect_true(all(is.nan(y)))
})

# ---- oracle ------------------------------------------------------------------

test_that("adapted statistics and outputs match an apply() oracle over random shapes", {
  set.seed(42)
  for (trial in 1:40) {
    rank <- sample(1:4, 1)
    d <- sample(1:5, rank, replace = TRUE)
    d[1] <- d[1] + 1L
    x <- array(rnorm(prod(d), mean = runif(1, -50, 50), sd = runif(1, 0.1, 10)), d)
    n_kept <- sample(0:rank, 1)
    kept <- sort(sample(seq_len(rank), n_kept))
    # mix positive and negative spellings of the kept axes
    spelled <- ifelse(runif(length(kept)) < 0.5, kept, kept - rank - 1L)
    axis <- if (n_kept == 0) NULL else spelled
    layer <- layer_normalization(axis = axis)
    if (rank == 1 && n_kept == 1) {
      expect_warning(adapt(layer, x), class = "normlayers_warning_axis")
    } else {
      adapt(layer, x)
    }
    o <- norm_oracle(x, kept)
    info <- paste("trial", trial, "dim", paste(d, collapse = "x"), "kept", paste(kept, collapse = ","))
    w <- get_weights(layer)
    expect_equal(w[[1]], o$mean, tolerance = 1e-12, info = info)
    expect_equal(w[[2]], o$variance, tolerance = 1e-12, info = info)
    bshape <- replace(rep(1L, rank), kept, d[kept])
    expect_identical(dim(layer$mean), bshape, info = info)
    expect_identical(as.vector(layer$variance), as.vector(w[[2]]), info = info)
    y <- layer(x)
    expect_identical(dim(y), dim(x), info = info)
    mu <- spread_kept(o$mean, d, kept)
    sd <- pmax(sqrt(spread_kept(o$variance, d, kept)), 1e-7)
    expect_equal(y, (x - mu) / sd, tolerance = 1e-10, info = info)
  }
})

test_that("the matrix case agrees with colMeans()", {
  set.seed(7)
  x <- matrix(rnorm(200 * 6, mean = 1000), 200, 6)
  layer <- layer_normalization()
  adapt(layer, x)
  expect_equal(layer$mean, matrix(colMeans(x), 1), tolerance = 1e-13)
  expect_equal(layer$variance, matrix(colMeans(sweep(x, 2, colMeans(x))^2), 1), tolerance = 1e-12)
  rows <- layer_normalization(axis = 1)
  adapt(rows, x)
  expect_equal(rows$mean, matrix(rowMeans(x), ncol = 1), tolerance = 1e-13)
})

# ---- fixed mean and variance -------------------------------------------------

test_that("given statistics broadcast to the kept shape, aligned from the right", {
  set.seed(1)
  x <- array(rnorm(2 * 7 * 5 * 3), c(2, 7, 5, 3))
  m <- c(1, 2, 3, 4, 5)
  layer <- layer_normalization(axis = c(2, 3), mean = m, variance = 4)
  expect_equal(layer$mean, m)  # unbuilt: as given
  y <- layer(x)
  expect_identical(dim(layer$mean), c(1L, 7L, 5L, 1L))
  expect_equal(layer$mean, array(matrix(m, 7, 5, byrow = TRUE), c(1, 7, 5, 1)))
  expect_equal(layer$variance, array(4, c(1, 7, 5, 1)))
  expect_equal(y, (x - spread_kept(matrix(m, 7, 5, byrow = TRUE), dim(x), c(2, 3))) / 2)
  expect_identical(count_params(layer), 0L)
  expect_length(get_weights(layer), 0)
  # a leading size-1 dimension is accepted, a scalar with axis = NULL
  l2 <- layer_normalization(mean = matrix(c(1, 2, 3), 1), variance = c(1, 4, 9))
  expect_equal(l2(matrix(c(2, 4, 6), 1)), matrix(c(1, 1, 1), 1))
  l3 <- layer_normalization(axis = NULL, mean = 2, variance = 4)
  expect_equal(l3(array(2:9, c(2, 2, 2))), array((2:9 - 2) / 2, c(2, 2, 2)))
})

test_that("bad given statistics are classed errors", {
  expect_error(layer_normalization(mean = 3), class = "normlayers_error_value")
  expect_error(layer_normalization(variance = 2), class = "normlayers_error_value")
  expect_error(layer_normalization(mean = "a", variance = 1), class = "normlayers_error_value")
  expect_error(layer_normalization(mean = c(1, NA), variance = c(1, 1)),
               class = "normlayers_error_value")
  expect_error(layer_normalization(axis = NULL, mean = c(1, 2), variance = c(1, 1)),
               class = "normlayers_error_shape")
  expect_error(layer_normalization(mean = matrix(1:6, 2), variance = 1),
               class = "normlayers_error_shape")
  # cannot broadcast: detected at build, the layer stays unbuilt
  layer <- layer_normalization(mean = c(1, 2, 3, 4), variance = 1)
  expect_error(layer(matrix(1:6, 2)), class = "normlayers_error_shape")
  expect_false(layer$built)
  expect_equal(layer(matrix(1:8, 2)), matrix(1:8, 2) - rep(1:4, each = 2))
})

test_that("bad constructor arguments are classed errors", {
  expect_error(layer_normalization(axis = 0), class = "normlayers_error_axis")
  expect_error(layer_normalization(axis = "a"), class = "normlayers_error_axis")
  expect_error(layer_normalization(invert = NA), class = "normlayers_error_value")
  expect_error(layer_normalization(epsilon = 1), class = "normlayers_error")
  layer <- layer_normalization(axis = 3)
  expect_error(layer(matrix(1:6, 2)), class = "normlayers_error_axis")
  expect_false(layer$built)
})

# ---- calls on other shapes ---------------------------------------------------

test_that("inputs must match the kept sizes; lower ranks broadcast", {
  layer <- layer_normalization()
  adapt(layer, rbind(c(0, 7, 4), c(2, 9, 6)))
  expect_error(layer(matrix(1:8, 2)), class = "normlayers_error_shape")
  expect_error(layer(array(1:6, c(1, 2, 3))), class = "normlayers_error_shape")
  expect_error(layer(c(1, 2)), class = "normlayers_error_shape")
  expect_equal(layer(matrix(c(1, 8, 5), 1)), matrix(0, 1, 3))
  # kept axis 1: a vector broadcasts along the kept rows
  rows <- layer_normalization(axis = 1, mean = c(1, 2), variance = c(1, 4))
  rows(matrix(1:6, 2))
  expect_equal(rows(c(3, 4, 5)), rbind(c(3, 4, 5) - 1, (c(3, 4, 5) - 2) / 2))
  expect_error(rows(matrix(1:3, 1)), class = "normlayers_error_shape")
  g <- layer_normalization(axis = NULL)
  adapt(g, c(1, 2, 3, 4, 5))
  expect_equal(g(array(1:24, c(2, 3, 4))), array((1:24 - 3) / sqrt(2), c(2, 3, 4)))
  expect_equal(g(7), (7 - 3) / sqrt(2))
})

test_that("a data frame in gives a data frame out", {
  layer <- layer_normalization(mean = c(1, 2), variance = c(1, 4))
  df <- data.frame(a = c(1, 3), b = c(2, 6))
  out <- layer(df)
  expect_s3_class(out, "data.frame")
  expect_named(out, c("a", "b"))
  expect_equal(out$a, c(0, 2))
  expect_equal(out$b, c(0, 2))
})

# ---- layer contract ----------------------------------------------------------

test_that("the layer is built lazily, with non-trainable weights in the kept shape", {
  layer <- layer_normalization(axis = c(2, 3))
  expect_s3_class(layer, "nl_layer")
  expect_match(layer$name, "^normalization(_[0-9]+)?$")
  expect_identical(layer$class_name, "Normalization")
  expect_false(layer$built)
  expect_null(layer$mean)
  x <- array(1:24, c(2, 3, 4))
  y <- layer(x)
  expect_equal(y, x)  # unadapted: identity
  expect_true(layer$built)
  expect_identical(layer$input_shape, c(NA, 3L, 4L))
  expect_identical(dim(layer$mean), c(1L, 3L, 4L))
  expect_equal(layer$variance, array(1, c(1, 3, 4)))
  expect_length(layer$trainable_weights, 0)
  expect_named(layer$non_trainable_weights,
               paste0(layer$name, c("/mean", "/variance")))
  expect_identical(count_params(layer), 24L)
  g <- layer_normalization(axis = NULL)
  g(1:3)
  expect_identical(g$mean, array(0, 1))
  expect_identical(g$variance, array(1, 1))
})

test_that("a 1-row input works and names are unique", {
  layer <- layer_normalization(name = "norm_in")
  expect_identical(layer$name, "norm_in")
  adapt(layer, rbind(c(1, 2), c(3, 6)))
  expect_equal(layer(matrix(c(2, 4), 1)), matrix(c(0, 0), 1))
  a <- layer_normalization()
  b <- layer_normalization()
  expect_false(identical(a$name, b$name))
  expect_error(layer_normalization(name = 1), class = "normlayers_error_name")
  expect_error(layer_normalization(foo = 1), class = "normlayers_error")
})

test_that("get_weights() / set_weights() round trip", {
  layer <- layer_normalization()
  adapt(layer, rbind(c(0, 7, 4), c(2, 9, 6)))
  w <- get_weights(layer)
  expect_equal(w, list(c(1, 8, 5), c(1, 1, 1)))
  set_weights(layer, list(c(0, 0, 0), c(4, 4, 4)))
  expect_equal(layer(matrix(c(2, 4, 6), 1)), matrix(c(1, 2, 3), 1))
  expect_error(set_weights(layer, list(1, 2)), class = "normlayers_error_weights")
  expect_equal(layer$variance, matrix(4, 1, 3))
  set_weights(layer, w)
  expect_equal(get_weights(layer), w)
  g <- layer_normalization(axis = NULL)
  adapt(g, 1:5)
  set_weights(g, list(10, 25))
  expect_equal(g(c(15, 20)), c(1, 2))
})

test_that("saveRDS() round trip keeps the statistics", {
  layer <- layer_normalization(invert = FALSE)
  adapt(layer, rbind(c(0, 7, 4), c(2, 9, 6), c(0, 7, 4), c(2, 9, 6)))
  f <- tempfile(fileext = ".rds")
  on.exit(unlink(f))
  saveRDS(layer, f)
  back <- readRDS(f)
  x <- matrix(c(0, 7, 4), 1)
  expect_equal(back(x), layer(x))
  expect_equal(back$mean, matrix(c(1, 8, 5), 1))
  # the copy is independent
  adapt(back, rbind(c(1, 1, 1), c(3, 3, 3)))
  expect_equal(layer$mean, matrix(c(1, 8, 5), 1))
  fixed <- layer_normalization(mean = 3, variance = 2)
  saveRDS(fixed, f)
  expect_equal(readRDS(f)(rbind(1, 2, 3)), fixed(rbind(1, 2, 3)))
})

test_that("print() shows the class, arguments and weights", {
  layer <- layer_normalization(axis = -1, invert = TRUE, name = "printed")
  expect_output(print(layer), "<Normalization name=printed, built=FALSE>")
  expect_output(print(layer), "axis: -1, invert: TRUE")
  adapt(layer, matrix(1:6, 2))
  expect_output(print(layer), "weights: mean \\(3,\\), variance \\(3,\\)")
  g <- layer_normalization(axis = NULL, name = "printed_null")
  expect_output(print(g), "axis: NULL")
  f <- layer_normalization(mean = 3, variance = 2, name = "printed_fixed")
  expect_output(print(f), "mean: 3, variance: 2")
})

test_that("get_config() has the Keras keys and from_config() rebuilds", {
  layer <- layer_normalization(axis = NULL, invert = TRUE, name = "cfg")
  cfg <- get_config(layer)
  expect_identical(attr(cfg, "__class__"), "Normalization")
  expect_true(all(c("axis", "invert", "mean", "variance") %in% names(cfg)))
  expect_null(cfg$axis)
  expect_null(cfg$mean)
  expect_true(cfg$invert)
  fixed <- layer_normalization(mean = c(1, 2), variance = c(4, 9), name = "cfg_fixed")
  fixed(matrix(1:4, 2))
  cfg2 <- get_config(fixed)
  expect_identical(cfg2$axis, 2L)
  expect_equal(cfg2$mean, c(1, 2))  # the passed values
  expect_equal(cfg2$variance, c(4, 9))
  cfg2$name <- "cfg_fixed_copy"
  copy <- from_config(cfg2)
  expect_false(copy$built)
  expect_equal(copy(matrix(1:4, 2)), fixed(matrix(1:4, 2)))
  # adapted values are not part of the config
  ad <- layer_normalization(name = "cfg_adapt")
  adapt(ad, matrix(1:6, 2))
  expect_null(get_config(ad)$mean)
})

test_that("backward is dy times the scale and has no gradients", {
  layer <- layer_normalization()
  adapt(layer, rbind(c(0, 7, 4), c(2, 11, 6)))
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  res <- nl_layer_forward(layer, x, FALSE)
  dy <- rbind(c(1, -1, 2), c(0.5, 3, 1))
  b <- nl_layer_backward(layer, res$cache, dy)
  expect_equal(b$dx, sweep(dy, 2, 1 / sqrt(as.vector(layer$variance)), "*"))
  expect_length(b$grads, 0)
  inv <- layer_normalization(invert = TRUE)
  adapt(inv, rbind(c(0, 7, 4), c(2, 11, 6)))
  res <- nl_layer_forward(inv, x, FALSE)
  expect_equal(nl_layer_backward(inv, res$cache, dy)$dx,
               sweep(dy, 2, sqrt(as.vector(inv$variance)), "*"))
  # a broadcast vector input gets its gradient summed back
  rows <- layer_normalization(axis = 1, mean = c(0, 0), variance = c(1, 4))
  rows(matrix(1:6, 2))
  res <- nl_layer_forward(rows, array(c(1, 2, 3), 3), FALSE)
  b <- nl_layer_backward(rows, res$cache, matrix(1, 2, 3))
  expect_equal(b$dx, array(c(1.5, 1.5, 1.5), 3))
})

# ---- composition ---------------------------------------------------------------

test_that("it composes with sequential models and symbolic inputs", {
  model <- keras_model_sequential(input_shape = 3) |>
    layer_normalization(mean = c(1, 8, 5), variance = 1)
  expect_s3_class(model, "nl_sequential")
  expect_equal(model(matrix(c(0, 7, 4), 1)), matrix(-1, 1, 3))

  norm <- layer_normalization()
  adapt(norm, rbind(c(0, 7, 4), c(2, 9, 6)))
  model2 <- keras_model_sequential() %>% norm()
  expect_equal(model2(matrix(c(0, 7, 4), 1)), matrix(-1, 1, 3))

  inputs <- keras_input(shape = 3)
  outputs <- inputs |> layer_normalization(axis = -1)
  expect_s3_class(outputs, "nl_symbolic_tensor")
  expect_identical(outputs$shape, c(NA, 3L))
  fm <- keras_model(inputs, norm(inputs))
  expect_equal(fm(matrix(c(2, 9, 6), 1)), matrix(1, 1, 3))
  expect_error(norm(keras_input(shape = 4)), class = "normlayers_error_shape")
  expect_error(keras_input(shape = 3) |> layer_normalization(axis = 1),
               class = "normlayers_error_shape")
})
