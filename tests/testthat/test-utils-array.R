# R containers as tensors: nl_as_input(), nl_restore_output(), op_array().

test_that("nl_as_input() coerces vectors, arrays and data frames to double arrays", {
  v <- nl_as_input(c(a = 1L, b = 2L))
  expect_identical(v$x, array(c(1, 2), 2))
  expect_identical(v$kind, "vector")
  expect_identical(v$names, c("a", "b"))
  m <- nl_as_input(matrix(1:6, 2, dimnames = list(NULL, c("p", "q", "r"))))
  expect_true(is.double(m$x))
  expect_identical(m$kind, "array")
  l <- nl_as_input(matrix(c(TRUE, FALSE), 1))
  expect_identical(l$x, matrix(c(1, 0), 1))
  df <- nl_as_input(data.frame(a = 1:2, b = c(0.5, 1)))
  expect_identical(df$x, matrix(c(1, 2, 0.5, 1), 2))
  expect_identical(df$kind, "data.frame")
  # a double array is used as it is
  x <- matrix(c(1, 2), 1)
  expect_identical(nl_as_input(x)$x, x)
})

test_that("nl_as_input() refuses other types, naming the argument and what was received", {
  f <- function(input) nl_as_input(input)
  cases <- list(letters, factor("a"), list(1, 2), matrix(1i, 2, 2), as.raw(1:3),
                Sys.Date(), data.frame(a = 1, b = "x"))
  for (bad in cases) {
    err <- expect_error(f(bad), class = "normlayers_error_type")
    expect_match(conditionMessage(err), "input")
  }
  err <- expect_error(f(matrix(1i, 2, 2)), class = "normlayers_error_type")
  expect_match(conditionMessage(err), "complex array of shape \\(2, 2\\)")
  err <- expect_error(f(data.frame(a = 1, b = "x")), class = "normlayers_error_type")
  expect_match(conditionMessage(err), '"b"')
})

test_that("nl_restore_output() gives results back in the input's container", {
  info <- nl_as_input(c(a = 1, b = 2))
  expect_identical(nl_restore_output(array(c(3, 4), 2), info), c(a = 3, b = 4))
  info <- nl_as_input(data.frame(a = 1:2, b = 3:4))
  out <- nl_restore_output(matrix(c(5, 6, 7, 8), 2), info)
  expect_identical(out, data.frame(a = c(5, 6), b = c(7, 8)))
  # another shape stays an array
  expect_identical(nl_restore_output(matrix(1, 2, 3), info), matrix(1, 2, 3))
  info <- nl_as_input(matrix(1, 2, 2, dimnames = list(c("r", "s"), NULL)))
  expect_identical(dimnames(nl_restore_output(matrix(2, 2, 2), info)), list(c("r", "s"), NULL))
})

test_that("op_array() keeps values and follows dtype", {
  expect_identical(op_array(c(1, 2), dtype = "float32"), c(1, 2))
  expect_identical(op_array(c(1.7, 2), dtype = "int32"), c(1L, 2L))
  expect_identical(op_array(c(TRUE, FALSE)), c(1, 0))
  expect_identical(op_array(c(1, 0), dtype = "bool"), c(TRUE, FALSE))
  expect_error(op_array("a"), class = "normlayers_error_type")
  expect_error(op_array(1, dtype = "nope"), class = "normlayers_error_value")
  expect_error(op_array(1, dtype = NA), class = "normlayers_error_value")
})
