# Expected values follow Keras's (NumPy's) definitions with keras3's 1-based
# axes: axis = 1 is the first R dimension, -1 the last; var/std divide by N;
# reshape is row-major; broadcasting aligns shapes on the last axis.

test_that("element-wise ops keep the shape", {
  x <- rbind(c(-1, 4), c(9, -16))
  expect_identical(op_abs(x), abs(x))
  expect_identical(op_sqrt(c(4, 9)), array(c(2, 3)))
  expect_identical(op_square(x), x^2)
  expect_equal(op_exp(0), 1)
  expect_equal(op_log(exp(2)), 2)
  expect_identical(op_negative(x), -x)
  expect_identical(op_relu(x), pmax(x, 0))
  expect_equal(op_sigmoid(0), 0.5)
  expect_equal(op_tanh(x), tanh(x))
  expect_identical(op_round(c(0.5, 1.5, 2.567), 0), array(c(0, 2, 3)))
  expect_identical(op_round(c(123.4, 2.567), -1), array(c(120, 0)))
  expect_identical(op_round(2.567, 2L), 2.57)
  for (bad in list("a", NA, 1.5, c(1, 2), Inf)) {
    err <- expect_error(op_round(x, decimals = bad), class = "normlayers_error_value")
    expect_match(cli::ansi_strip(conditionMessage(err)), "decimals")
  }
  expect_identical(op_sign(x), sign(x))
  expect_equal(op_rsqrt(4), 0.5)
  expect_error(op_abs("a"), class = "normlayers_error_type")
})

test_that("binary ops broadcast on the last axis, as NumPy", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  expect_identical(op_add(x, c(10, 20, 30)), rbind(c(11, 22, 33), c(14, 25, 36)))
  expect_identical(op_subtract(x, matrix(c(1, 4), 2, 1)), rbind(c(0, 1, 2), c(0, 1, 2)))
  expect_identical(op_multiply(x, 2), 2 * x)
  expect_identical(op_divide(x, x), array(1, c(2, 3)))
  expect_identical(op_power(x, 2), x^2)
  expect_identical(op_maximum(x, 3), pmax(x, 3))
  expect_identical(op_minimum(c(1, 5), c(3, 2)), array(c(1, 2)))
  expect_identical(op_clip(x, 2, 5), pmin(pmax(x, 2), 5))
  # (2, 1, 3) with (4, 1) -> (2, 4, 3)
  a <- array(1:6, c(2, 1, 3))
  b <- matrix(c(0, 10, 20, 30), 4, 1)
  out <- op_add(a, b)
  expect_identical(dim(out), c(2L, 4L, 3L))
  expect_equal(out[2, 3, 3], a[2, 1, 3] + b[3, 1])
  expect_error(op_add(x, c(1, 2)), class = "normlayers_error_shape")
})
