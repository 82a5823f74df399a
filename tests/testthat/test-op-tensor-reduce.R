# Expected values follow Keras's (NumPy's) definitions with keras3's 1-based
# axes: axis = 1 is the first R dimension, -1 the last; var/std divide by N;
# reshape is row-major; broadcasting aligns shapes on the last axis.

m <- rbind(c(1, 2, 3), c(4, 6, 8))

test_that("reductions use 1-based axes and keepdims", {
  expect_identical(op_sum(m), 24)
  expect_identical(op_mean(m), 4)
  expect_equal(op_mean(m, axis = 1), array(c(2.5, 4, 5.5)))
  expect_equal(op_mean(m, axis = -1), array(c(2, 6)))
  expect_equal(op_mean(m, axis = 2), op_mean(m, axis = -1))
  expect_equal(op_sum(m, axis = 1, keepdims = TRUE), array(c(5, 8, 11), c(1, 3)))
  expect_equal(op_sum(m, axis = c(1, 2), keepdims = TRUE), array(24, c(1, 1)))
  # population variance, as numpy.var / keras.ops.var
  expect_equal(op_var(m, axis = 2), array(c(2 / 3, 8 / 3)))
  expect_equal(op_std(c(2, 4, 4, 4, 5, 5, 7, 9)), 2)
  expect_equal(op_var(m, axis = 2, keepdims = TRUE), array(c(2 / 3, 8 / 3), c(2, 1)))
  expect_equal(op_max(m, axis = 1), array(c(4, 6, 8)))
  expect_equal(op_min(m, axis = -1), array(c(1, 4)))
  expect_identical(op_max(m), 8)
  expect_identical(op_max(m, initial = 10), 10)
  expect_equal(op_min(m, axis = 1, initial = 2), array(c(1, 2, 2)))
  expect_identical(op_prod(c(1, 2, 3, 4)), 24)
})

test_that("reductions over rank-3 arrays match a slow oracle", {
  set.seed(3)
  a <- array(rnorm(60), c(3, 4, 5))
  expect_equal(op_mean(a, axis = c(1, 3)), array(apply(a, 2, mean)))
  expect_equal(op_sum(a, axis = 2), apply(a, c(1, 3), sum))
  expect_equal(op_var(a, axis = c(2, 3)),
               array(apply(a, 1, function(v) mean((v - mean(v))^2))))
  expect_equal(op_max(a, axis = -1), apply(a, c(1, 2), max))
  expect_equal(op_std(a, axis = 1, keepdims = TRUE),
               array(apply(a, c(2, 3), function(v) sqrt(mean((v - mean(v))^2))), c(1, 4, 5)))
})

test_that("bad axes in reductions are classed errors", {
  expect_error(op_mean(m, axis = 0), class = "normlayers_error_axis")
  expect_error(op_mean(m, axis = 3), class = "normlayers_error_axis")
  expect_error(op_sum(m, axis = 1.5), class = "normlayers_error_axis")
  expect_error(op_sum(m, keepdims = NA), class = "normlayers_error_value")
  expect_error(op_sum("a"), class = "normlayers_error_type")
  expect_error(op_mean(keras_input(shape = 3)), class = "normlayers_error_type")
})

test_that("op_argmax()/op_argmin() are 1-based by default", {
  x <- rbind(c(1, 9, 3), c(8, 2, 7))
  expect_identical(op_argmax(x, axis = -1), array(c(2L, 1L)))
  expect_identical(op_argmin(x, axis = 1), array(c(1L, 2L, 1L)))
  expect_identical(op_argmax(x, axis = -1, zero_indexed = TRUE), array(c(1L, 0L)))
  # flattened in row-major order, as numpy: [1, 9, 3, 8, 2, 7]
  expect_identical(op_argmax(x), 2L)
  expect_identical(op_argmin(x), 1L)
})
