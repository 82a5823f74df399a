# Expected values follow Keras's (NumPy's) definitions with keras3's 1-based
# axes: axis = 1 is the first R dimension, -1 the last; var/std divide by N;
# reshape is row-major; broadcasting aligns shapes on the last axis.

test_that("op_softmax() and op_log_softmax() along an axis", {
  x <- rbind(c(1, 2, 3), c(1, 1, 1))
  s <- op_softmax(x)
  expect_equal(s[1, ], exp(1:3) / sum(exp(1:3)))
  expect_equal(s[2, ], rep(1 / 3, 3))
  expect_equal(rowSums(s), c(1, 1))
  expect_equal(colSums(op_softmax(x, axis = 1)), c(1, 1, 1))
  expect_equal(op_log_softmax(x), log(s))
  expect_equal(op_softmax(c(1000, 1000)), array(c(0.5, 0.5)))
  expect_error(op_softmax(x, axis = 3), class = "normlayers_error_axis")
})

test_that("op_one_hot() is 1-based by default, as keras3", {
  expect_identical(op_one_hot(c(1, 3, 2), num_classes = 3),
                   rbind(c(1, 0, 0), c(0, 0, 1), c(0, 1, 0)))
  expect_identical(op_one_hot(c(0, 2), 3, zero_indexed = TRUE), rbind(c(1, 0, 0), c(0, 0, 1)))
  expect_identical(op_one_hot(c(1, 5), 3), rbind(c(1, 0, 0), c(0, 0, 0)))
  expect_identical(op_one_hot(factor(c("b", "a"))), rbind(c(0, 1), c(1, 0)))
  expect_identical(op_one_hot(c(1, 2), 2, axis = 1), cbind(c(1, 0), c(0, 1)))
  expect_identical(dim(op_one_hot(matrix(1, 2, 4), 3)), c(2L, 4L, 3L))
  expect_error(op_one_hot(c(1.5), 3), class = "normlayers_error_value")
  expect_error(op_one_hot(1, 3, sparse = TRUE), class = "normlayers_error_unsupported")
  expect_error(op_one_hot(1), class = "normlayers_error_missing")
})

test_that("op_cumsum()/op_cumprod(): along an axis, or flattened row-major", {
  x <- rbind(c(1, 2), c(3, 4))
  expect_identical(op_cumsum(x, axis = 1), rbind(c(1, 2), c(4, 6)))
  expect_identical(op_cumsum(x, axis = -1), rbind(c(1, 3), c(3, 7)))
  expect_identical(op_cumsum(x), array(c(1, 3, 6, 10)))
  expect_identical(op_cumprod(x, axis = 2), rbind(c(1, 2), c(3, 12)))
})

test_that("comparisons, logical ops, op_where(), op_any() and op_all()", {
  x <- rbind(c(1, 5), c(3, 2))
  expect_identical(op_greater(x, 2), x > 2)
  expect_identical(op_equal(x, c(1, 2)), rbind(c(TRUE, FALSE), c(FALSE, TRUE)))
  expect_identical(op_less_equal(x, 3), x <= 3)
  expect_identical(op_not_equal(x, 5), x != 5)
  expect_identical(op_logical_and(x > 1, x < 5), x > 1 & x < 5)
  expect_identical(op_logical_or(c(0, 1), c(0, 0)), array(c(FALSE, TRUE)))
  expect_identical(op_logical_not(c(TRUE, FALSE)), array(c(FALSE, TRUE)))
  expect_identical(op_where(x > 2, x, 0), rbind(c(0, 5), c(3, 0)))
  expect_identical(op_where(c(TRUE, FALSE), x, -x), rbind(c(1, -5), c(3, -2)))
  expect_identical(op_any(x > 4, axis = 1), array(c(FALSE, TRUE)))
  expect_identical(op_all(x > 0), TRUE)
  expect_error(op_where(x > 2), class = "normlayers_error_unsupported")
})

test_that("op_size(), op_ndim() and op_linspace()", {
  expect_identical(op_size(op_ones(c(2, 3))), 6L)
  expect_identical(op_ndim(op_ones(c(2, 3))), 2L)
  expect_identical(op_ndim(1:3), 1L)
  expect_identical(op_ndim(2), 0L)
  expect_equal(op_linspace(0, 1, num = 5), array(c(0, 0.25, 0.5, 0.75, 1)))
  expect_equal(op_linspace(0, 1, num = 4, endpoint = FALSE), array(c(0, 0.25, 0.5, 0.75)))
  expect_equal(op_linspace(2, 3, num = 5, retstep = TRUE)[[2]], 0.25)
  expect_error(op_linspace(0, 1, num = -1), class = "normlayers_error_value")
})
