# keras3: arithmetic on KerasTensors adds operations to the traced graph;
# keras_input()'s formals are (shape, batch_size, dtype, sparse, ragged,
# batch_shape, name, tensor, optional).

test_that("keras_input() has keras3's formals in keras3's order", {
  expect_identical(names(formals(keras_input)),
                   c("shape", "batch_size", "dtype", "sparse", "ragged", "batch_shape",
                     "name", "tensor", "optional"))
  inp <- keras_input(4, 8)   # positional batch_size, as keras3
  expect_identical(inp$shape, c(8L, 4L))
  expect_identical(keras_input(shape = c(3, NA))$shape, c(NA, 3L, NA))
  expect_identical(keras_input(shape = 3, dtype = "float32")$shape, c(NA, 3L))
})

test_that("keras_input() refuses what normlayers cannot honour, with classed errors", {
  expect_error(keras_input(shape = 3, sparse = TRUE), class = "normlayers_error_unsupported")
  expect_error(keras_input(shape = 3, ragged = TRUE), class = "normlayers_error_unsupported")
  expect_error(keras_input(shape = 3, optional = TRUE), class = "normlayers_error_unsupported")
  expect_error(keras_input(shape = 3, tensor = 1), class = "normlayers_error_unsupported")
  expect_error(keras_input(shape = 3, dtype = "int32"), class = "normlayers_error_dtype")
  expect_silent(keras_input(shape = 3, sparse = FALSE, ragged = FALSE))
})

test_that("c() of symbolic tensors is a list of tensors", {
  a <- keras_input(shape = 2)
  b <- keras_input(shape = 3)
  ab <- c(a, b)
  expect_length(ab, 2)
  expect_s3_class(ab[[1]], "nl_symbolic_tensor")
  expect_identical(ab[[2]]$shape, c(NA, 3L))
})

test_that("+ - * / between symbolic tensors trace merge layers", {
  inp <- keras_input(shape = 3)
  h <- inp |> layer_dense(3, use_bias = FALSE, kernel_initializer = "identity")
  expect_s3_class((h + inp)$layer, "nl_add")
  expect_s3_class((h - inp)$layer, "nl_subtract")
  expect_s3_class((h * inp)$layer, "nl_multiply")
  model <- keras_model(inp, list(h + inp, h - inp, h * inp, h / (inp + 10)))
  x <- rbind(c(1, 2, 3), c(-1, 0, 4))
  out <- model(x)
  expect_equal(out[[1]], 2 * x)
  expect_equal(out[[2]], 0 * x)
  expect_equal(out[[3]], x^2)
  expect_equal(out[[4]], x / (x + 10))
})

test_that("arithmetic with numbers and broadcastable arrays", {
  inp <- keras_input(shape = 3)
  model <- keras_model(inp, list(inp + 1, 2 * inp, inp - 1, 1 - inp, inp / 4, 4 / (inp + 10),
                                 -inp, +inp, inp * c(1, 10, 100)))
  x <- rbind(c(1, 2, 3), c(-1, 0, 4))
  out <- model(x)
  expect_equal(out[[1]], x + 1)
  expect_equal(out[[2]], 2 * x)
  expect_equal(out[[3]], x - 1)
  expect_equal(out[[4]], 1 - x)
  expect_equal(out[[5]], x / 4)
  expect_equal(out[[6]], 4 / (x + 10))
  expect_equal(out[[7]], -x)
  expect_equal(out[[8]], x)
  expect_equal(out[[9]], sweep(x, 2, c(1, 10, 100), `*`))
})

test_that("unsupported operators and operands are classed errors", {
  inp <- keras_input(shape = 3)
  expect_error(inp > 1, class = "normlayers_error_unsupported")
  expect_error(inp^2, class = "normlayers_error_unsupported")
  expect_error(inp + "a", class = "normlayers_error_type")
  expect_error(inp + c(1, 2), class = "normlayers_error_shape")
  expect_error(inp + keras_input(shape = 4), class = "normlayers_error_shape")
})

test_that("element-wise layers with constants have correct gradients", {
  set.seed(5)
  x <- random_array(c(4, 3))
  for (side in c("left", "right")) {
    for (op in c("+", "-", "*", "/")) {
      layer <- nl_layer_elementwise(op = op, value = c(2, -3, 0.5), side = side)
      xx <- if (op == "/" && side == "left") x + 5 else x
      out <- nl_layer_run(layer, xx, training = TRUE)
      r <- random_array(dim(out$output))
      back <- nl_layer_backward(layer, out$cache, r)
      f <- function(v) sum(nl_layer_forward(layer, v, TRUE)$output * r)
      expect_lt(relative_error(back$dx, numeric_gradient(f, xx)), 1e-6, label = paste(op, side))
    }
  }
  # a constant of higher rank than one sample: the gradient is summed back
  layer <- nl_layer_elementwise(op = "*", value = array(rnorm(6), c(2, 1, 3)), side = "right")
  xx <- random_array(c(2, 1, 3))
  expect_equal(dim(nl_layer_run(layer, xx)$output), c(2L, 1L, 3L))
})

test_that("a residual connection written as h + inputs trains", {
  set.seed(9)
  x <- matrix(rnorm(128), 32, 4)
  y <- x %*% c(1, -1, 0.5, 2)
  inputs <- keras_input(shape = 4)
  h <- inputs |> layer_dense(4, activation = "relu") |> layer_dense(4)
  outputs <- (h + inputs) |> layer_layer_normalization() |> layer_dense(1)
  model <- keras_model(inputs, outputs)
  compile(model, optimizer = "adam", loss = "mse")
  loss <- fit(model, x, y, epochs = 20, batch_size = 8, verbose = 0)$metrics$loss
  expect_lt(loss[20], loss[1])
})
