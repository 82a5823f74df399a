# Expected values from keras3's R/shape.R documentation: unknown sizes given as
# NA, NULL or -1 print as NA; the object is a list of integers/NULL with class
# "keras_shape"; as.integer() gives NA for unknown sizes.

test_that("shape() builds keras_shape lists; NA, NULL and -1 are unknown", {
  s <- shape(NA, 4)
  expect_s3_class(s, "keras_shape")
  expect_type(unclass(s), "list")
  expect_null(s[[1]])
  expect_identical(s[[2]], 4L)
  expect_identical(unclass(shape(NULL, 4)), unclass(s))
  expect_identical(unclass(shape(-1, 4)), unclass(s))
  expect_identical(unclass(shape(NA_real_, 4)), unclass(s))
  expect_identical(unclass(shape(1, 2, 3)), list(1L, 2L, 3L))
  expect_identical(unclass(shape(c(2, 3))), list(2L, 3L))
  expect_identical(length(shape(3)), 1L)
  expect_identical(length(shape(NA, 4)), 2L)
  expect_identical(length(shape()), 0L)
})

test_that("shapes print and format as keras3 does", {
  expect_output(print(shape(NA, 4)), "^shape\\(NA, 4\\)$")
  expect_output(print(shape(3)), "^shape\\(3\\)$")
  expect_identical(format(shape(1, 2, 3)), "shape(1, 2, 3)")
  expect_identical(format(shape(NA, 4), prefix = FALSE), "(NA, 4)")
  expect_identical(format(shape(), prefix = TRUE), "shape()")
  expect_output(expect_invisible(print(shape(2))))
})

test_that("as.integer(), [ and as.list() on shapes", {
  s <- shape(NA, 4, 5)
  expect_identical(as.integer(s), c(NA, 4L, 5L))
  expect_s3_class(s[2:3], "keras_shape")
  expect_identical(as.integer(s[2:3]), c(4L, 5L))
  expect_identical(as.list(s), list(NULL, 4L, 5L))
  expect_true(shape(NA, 4) == shape(-1, 4))
  expect_false(shape(2, 4) == shape(3, 4))
})

test_that("shape() reads the shape of arrays and symbolic tensors and combines them", {
  expect_identical(as.integer(shape(op_ones(c(2, 3)))), c(2L, 3L))
  inp <- keras_input(shape = shape(1, 2, 3))
  expect_identical(as.integer(shape(inp)), c(NA, 1L, 2L, 3L))
  expect_identical(as.integer(shape(inp, 4)), c(NA, 1L, 2L, 3L, 4L))
  expect_identical(as.integer(shape(5, inp, 4)), c(5L, NA, 1L, 2L, 3L, 4L))
  expect_identical(as.integer(shape(I(1:5))), 5L)
  expect_identical(as.integer(op_shape(1:5)), 5L)
  expect_identical(as.integer(op_shape(data.frame(a = 1:3, b = 1:3))), c(3L, 2L))
  expect_identical(length(op_shape(2)), 0L)
  expect_s3_class(op_shape(inp), "keras_shape")
})

test_that("bad sizes are classed errors", {
  expect_error(shape(2.5), class = "normlayers_error_shape")
  expect_error(shape("a"), class = "normlayers_error_shape")
  expect_error(shape(-3), class = "normlayers_error_shape")
  expect_error(op_shape("a"), class = "normlayers_error_type")
})

test_that("%<-% is re-exported and destructures shapes", {
  c(batch, features) %<-% shape(NA, 4)
  expect_null(batch)
  expect_identical(features, 4L)
  c(n, p) %<-% shape(op_ones(c(5, 3)))
  expect_identical(c(n, p), c(5L, 3L))
  c(a, b) %<-% list(1, 2)
  expect_identical(a + b, 3)
})

# The seven shape() usages typical of keras3 snippets.
test_that("keras3 snippet: layer$build(shape(NA, 4)) builds the layer", {
  norm <- layer_layer_normalization()
  norm$build(shape(NA, 4))
  expect_true(norm$built)
  expect_identical(dim(array(norm$gamma)), 4L)
  expect_identical(norm$input_shape, c(NA, 4L))
})

test_that("keras3 snippet: keras_input(shape = shape(4))", {
  inp <- keras_input(shape = shape(4))
  expect_identical(inp$shape, c(NA, 4L))
  inp2 <- keras_input(batch_shape = shape(NA, 4))
  expect_identical(inp2$shape, c(NA, 4L))
})

test_that("keras3 snippet: op_reshape(x, shape(2, -1)) is row-major", {
  x <- op_arange(6)
  y <- op_reshape(x, shape(2, -1))
  expect_identical(dim(y), c(2L, 3L))
  expect_equal(y[1, ], c(1, 2, 3))
  expect_equal(y[2, ], c(4, 5, 6))
})

test_that("keras3 snippet: keras_model_sequential(input_shape = shape(4)) and op_ones(shape(2, 3))", {
  model <- keras_model_sequential(input_shape = shape(4)) |> layer_dense(2)
  expect_identical(nl_state(model)$input_shape, c(NA, 4L))
  expect_identical(dim(op_ones(shape(2, 3))), c(2L, 3L))
  expect_error(op_ones(shape(NA, 3)), class = "normlayers_error_shape")
})

test_that("keras3 snippet: compute_output_shape() returns a shape", {
  d <- layer_dense(units = 3)
  out <- d$compute_output_shape(shape(NA, 5))
  expect_s3_class(out, "keras_shape")
  expect_output(print(out), "shape\\(NA, 3\\)")
})
