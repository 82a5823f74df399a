# op_rms_normalization() ----

test_that("op_rms_normalization() matches the oracle over random shapes and axes", {
  set.seed(501)
  for (i in 1:25) {
    rank <- sample(1:4, 1)
    shape <- sample(1:4, rank, replace = TRUE)
    axes <- family_random_axes(rank)
    x <- rand_array(shape, mean = 1)
    scale <- if (runif(1) < 0.5) NULL else array(rnorm(prod(shape[axes])), shape[axes])
    eps <- if (runif(1) < 0.5) NULL else 1e-3
    y <- op_rms_normalization(x, scale = scale, axis = axes - rank - 1L, epsilon = eps)
    expect_equal(y, ref_rms_norm(x, axes, scale, eps %||% 1e-7)$y, tolerance = 1e-10)
  }
})

test_that("op_rms_normalization() numbers, defaults and scale forms", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  # the default epsilon is 1e-7
  expect_equal(op_rms_normalization(x)[1, ], c(1, 2, 3) / sqrt(14 / 3 + 1e-7), tolerance = 1e-14)
  expect_equal(op_rms_normalization(x, epsilon = 1e-6)[2, ], c(0.789542, 0.9869275, 1.184313),
               tolerance = 1e-6)
  expect_equal(op_rms_normalization(x, scale = 10), 10 * op_rms_normalization(x))
  expect_equal(op_rms_normalization(x, scale = c(1, 2, 3)),
               sweep(op_rms_normalization(x), 2, c(1, 2, 3), "*"))
  expect_equal(op_rms_normalization(x, scale = c(2, 3), axis = 1),
               sweep(op_rms_normalization(x, axis = 1), 1, c(2, 3), "*"))
  expect_equal(op_rms_normalization(x, epsilon = 1e-6),
               layer_rms_normalization(x, epsilon = 1e-6))
  expect_named(op_rms_normalization(c(a = 1, b = 2)), c("a", "b"))
  expect_s3_class(op_rms_normalization(data.frame(a = 1:2, b = 3:4)), "data.frame")
})

test_that("op_rms_normalization() refuses bad arguments with classed errors", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  expect_error(op_rms_normalization(x, scale = c(1, 2)), class = "normlayers_error_shape")
  expect_error(op_rms_normalization(x, scale = "a"), class = "normlayers_error_shape")
  expect_error(op_rms_normalization(x, axis = 3), class = "normlayers_error_axis")
  expect_error(op_rms_normalization(x, axis = 0), class = "normlayers_error_axis")
  expect_error(op_rms_normalization(x, epsilon = -1), class = "normlayers_error_value")
  expect_error(op_rms_normalization("x"), class = "normlayers_error_type")
})

# op_normalize() ----

test_that("op_normalize() matches the oracle and the keras3 example", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  expect_equal(op_normalize(x),
               rbind(c(0.26726124, 0.53452248, 0.80178373), c(0.45584231, 0.56980288, 0.68376346)),
               tolerance = 1e-8)
  set.seed(502)
  for (i in 1:25) {
    rank <- sample(1:4, 1)
    shape <- sample(1:4, rank, replace = TRUE)
    axes <- family_random_axes(rank)
    a <- rand_array(shape)
    expect_equal(op_normalize(a, axis = axes), ref_unit_norm(a, axes, 1e-7)$y,
                 tolerance = 1e-12)
  }
})

test_that("op_normalize() floors the norm at epsilon (1e-7 by default)", {
  expect_equal(as.vector(op_normalize(matrix(c(3e-8, 4e-8), 1))), c(0.3, 0.4), tolerance = 1e-12)
  expect_equal(as.vector(op_normalize(matrix(c(3e-8, 4e-8), 1), epsilon = 1e-12)),
               c(0.6, 0.8), tolerance = 1e-12)
  expect_identical(as.vector(op_normalize(matrix(0, 2, 2))), rep(0, 4))
  a <- rand_array(c(2, 3, 4))
  expect_equal(op_normalize(a, axis = c(2, 3), epsilon = 1e-12),
               layer_unit_normalization(a, axis = c(2, 3)))
})

test_that("op_normalize() checks order like Keras", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  expect_error(op_normalize(x, order = 0), class = "normlayers_error_value")
  expect_error(op_normalize(x, order = 1.5), class = "normlayers_error_value")
  expect_error(op_normalize(x, order = "2"), class = "normlayers_error_value")
  expect_snapshot(error = TRUE, op_normalize(x, order = 0))
  expect_error(op_normalize(x, order = 1), class = "normlayers_error_value")
  expect_equal(op_normalize(x, order = 2L), op_normalize(x))
  expect_error(op_normalize(x, axis = -3), class = "normlayers_error_axis")
  expect_error(op_normalize(x, epsilon = NA), class = "normlayers_error_value")
  expect_error(op_normalize(list(1)), class = "normlayers_error_type")
})
