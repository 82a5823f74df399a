# Expected values follow Keras's (NumPy's) definitions with keras3's 1-based
# axes: axis = 1 is the first R dimension, -1 the last; var/std divide by N;
# reshape is row-major; broadcasting aligns shapes on the last axis.

m <- rbind(c(1, 2, 3), c(4, 6, 8))

test_that("creation ops give arrays of the requested shape and type", {
  expect_identical(op_ones(c(2, 3)), array(1, c(2, 3)))
  expect_identical(op_zeros(shape(2, 2)), array(0, c(2, 2)))
  expect_identical(op_zeros(c(2, 2), dtype = "int32"), array(0L, c(2, 2)))
  expect_identical(op_ones(3), array(1, 3))
  expect_identical(op_full(c(2, 2), 7), array(7, c(2, 2)))
  expect_identical(op_full(c(2, 3), c(1, 2, 3)), rbind(c(1, 2, 3), c(1, 2, 3)))
  expect_identical(op_ones_like(m), array(1, c(2, 3)))
  expect_identical(op_zeros_like(m), array(0, c(2, 3)))
  expect_identical(op_full_like(m, 2), array(2, c(2, 3)))
  expect_identical(op_eye(3), diag(3))
  expect_identical(op_eye(2, 3, k = 1), rbind(c(0, 1, 0), c(0, 0, 1)))
  expect_error(op_ones(c(2, -3)), class = "normlayers_error_shape")
  expect_error(op_ones(c(2, 3), dtype = "complex128"), class = "normlayers_error_dtype")
  expect_error(op_full(c(2, 2), c(1, 2, 3)), class = "normlayers_error_shape")
})

test_that("op_full() names fill_value and the *_like ops report their own call", {
  err <- expect_error(op_full(c(2, 2), c(1, 2, 3)), class = "normlayers_error_shape")
  expect_match(cli::ansi_strip(conditionMessage(err)), "fill_value")
  expect_identical(op_full(c(2, 3), matrix(1:2, 2, 1)), cbind(1:2, 1:2, 1:2))
  expect_identical(op_full(integer(), 4), 4)
  m <- matrix(0, 2, 3)
  err <- expect_error(op_full_like(m, "a"), class = "normlayers_error_type")
  expect_identical(err$call, quote(op_full_like(m, "a")))
  err <- expect_error(op_ones_like(m, dtype = "nope"), class = "normlayers_error_dtype")
  expect_identical(err$call, quote(op_ones_like(m, dtype = "nope")))
  err <- expect_error(op_zeros_like(m, dtype = 1), class = "normlayers_error_dtype")
  expect_identical(err$call, quote(op_zeros_like(m, dtype = 1)))
})

test_that("op_arange() follows keras3: [start, end], one argument starts at 1", {
  expect_identical(as.vector(op_arange(3L)), 1:3)
  expect_identical(as.vector(op_arange(3)), c(1, 2, 3))
  expect_identical(as.vector(op_arange(3, dtype = "int32")), 1:3)
  expect_identical(as.vector(op_arange(3L, 7L)), 3:7)
  expect_identical(as.vector(op_arange(3L, 7L, 2L)), c(3L, 5L, 7L))
  expect_equal(as.vector(op_arange(0, 1, 0.25, include_end = FALSE)), c(0, 0.25, 0.5, 0.75))
  expect_equal(as.vector(op_arange(0, 1, 0.25)), c(0, 0.25, 0.5, 0.75, 1))
  expect_equal(as.vector(op_arange(5, 1, -2)), c(5, 3, 1))
  expect_identical(length(op_arange(3, 1)), 0L)
  expect_error(op_arange(1, 5, 0), class = "normlayers_error_value")
  expect_error(op_arange("a"), class = "normlayers_error_value")
})

test_that("op_convert_to_tensor() and op_cast()", {
  expect_identical(op_convert_to_tensor(c(1, 2, 3)), array(c(1, 2, 3)))
  expect_identical(op_convert_to_tensor(c(1.7, -2.7), dtype = "int32"), array(c(1L, -2L)))
  expect_identical(op_convert_to_tensor(c(TRUE, FALSE)), array(c(1, 0)))
  expect_identical(op_convert_to_tensor(data.frame(a = 1:2, b = 3:4)), cbind(c(1, 2), c(3, 4)))
  expect_identical(op_cast(c(-1.5, 2.5), "int32"), array(c(-1L, 2L)))
  expect_identical(op_cast(1:2, "float32"), array(c(1, 2)))
  expect_identical(op_cast(c(0, 2), "bool"), array(c(FALSE, TRUE)))
  expect_error(op_convert_to_tensor(1, sparse = TRUE), class = "normlayers_error_unsupported")
  expect_error(op_convert_to_tensor("a"), class = "normlayers_error_type")
  expect_error(op_cast(1, "string"), class = "normlayers_error_dtype")
})
