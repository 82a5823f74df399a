# Expected values follow Keras's (NumPy's) definitions with keras3's 1-based
# axes: axis = 1 is the first R dimension, -1 the last; var/std divide by N;
# reshape is row-major; broadcasting aligns shapes on the last axis.

test_that("errors report the user's call", {
  call_of <- function(expr) conditionCall(tryCatch(expr, error = identity))
  expect_identical(call_of(op_mean(1:3, axis = 3)), quote(op_mean(1:3, axis = 3)))
  expect_identical(call_of(op_reshape(1:6, c(4, 2))), quote(op_reshape(1:6, c(4, 2))))
  expect_identical(call_of(shape(2.5)), quote(shape(2.5)))
  expect_identical(call_of(op_concatenate(list(1:2, 1:3), axis = 2)),
                   quote(op_concatenate(list(1:2, 1:3), axis = 2)))
  expect_identical(call_of(layer_add(matrix(1, 2, 2), matrix(1, 2, 3))),
                   quote(layer_add(matrix(1, 2, 2), matrix(1, 2, 3))))
})
