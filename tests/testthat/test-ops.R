test_that("op_moments() gives population statistics over axes", {
  x <- rbind(c(1, 2, 3), c(4, 6, 8))
  m <- op_moments(x, axes = 1)
  expect_equal(m$mean, c(2.5, 4, 5.5))
  expect_equal(m$variance, c(2.25, 4, 6.25))
  m2 <- op_moments(x, axes = -1, keepdims = TRUE)
  expect_equal(dim(m2$mean), c(2L, 1L))
  expect_equal(as.vector(m2$variance), c(2 / 3, 8 / 3))
  a <- array(rnorm(60), c(3, 4, 5))
  m3 <- op_moments(a, axes = c(1, 3))
  expect_equal(m3$mean, apply(a, 2, mean))
  expect_equal(m3$variance, apply(a, 2, function(v) mean((v - mean(v))^2)))
  expect_equal(op_moments(1:4, axes = 1)$variance, 1.25)
  expect_error(op_moments(x, axes = 0), class = "normlayers_error_axis")
  expect_error(op_moments(x, axes = 3), class = "normlayers_error_axis")
})

test_that("op_layer_normalization() matches the layer", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  expect_equal(op_layer_normalization(x, epsilon = 1e-3), layer_layer_normalization(x))
  y <- op_layer_normalization(x, gamma = c(1, 2, 3), beta = c(0.5, 0, -0.5), epsilon = 1e-3)
  expect_equal(y[1, ], c(-0.7238273, 0, 3.171482), tolerance = 1e-6)
  expect_equal(op_layer_normalization(x)[1, 3], 1 / sqrt(2 / 3 + 1e-7), tolerance = 1e-12)
  expect_error(op_layer_normalization(x, gamma = 1:2), class = "normlayers_error_shape")
  expect_error(op_layer_normalization(x, axis = 0), class = "normlayers_error_axis")
  expect_error(op_layer_normalization("x"), class = "normlayers_error_type")
})

test_that("op_array() converts types like keras3", {
  expect_identical(op_array(c(1, 2, 3), dtype = "float32"), c(1, 2, 3))
  expect_identical(op_array(c(1, 2), dtype = "int32"), c(1L, 2L))
  expect_identical(op_array(c(TRUE, FALSE)), c(1, 0))
  expect_error(op_array("a"), class = "normlayers_error_type")
  expect_error(op_array(1, dtype = "complex128"), class = "normlayers_error_value")
})

test_that("inference without kept statistics gives the same output on every path", {
  set.seed(11)
  cases <- list(list(c(7, 5), 2L), list(c(7, 5), 1L), list(c(4, 3, 5), 2L),
                list(c(3, 4, 2, 5), c(2L, 4L)), list(c(3, 1, 4), 3L), list(c(6, 2, 3), c(1L, 3L)))
  for (general in c(FALSE, TRUE)) {
    withr::local_options(normlayers.kernel_force_general = general)
    for (cs in cases) {
      x <- array(rnorm(prod(cs[[1]]), 2, 3), cs[[1]])
      runs <- nl_runs(dim(x), cs[[2]])
      full <- nl_kernel_layer_norm(x, runs, NULL, NULL, 1e-3, keep_stats = TRUE)
      lean <- nl_kernel_layer_norm(x, runs, NULL, NULL, 1e-3, keep_stats = FALSE)
      expect_identical(lean$y, full$y)
      expect_null(lean$mean)
      expect_identical(op_layer_normalization(x, axis = cs[[2]], epsilon = 1e-3), full$y)
    }
  }
})
