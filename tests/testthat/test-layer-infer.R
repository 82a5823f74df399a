# Inference that reuses memory (R/layer-infer.R): a layer writes over its input
# only when the caller owns it; user arrays are never written.

test_that("nl_layer_infer() gives the forward output, owned or not", {
  set.seed(41)
  x <- matrix(rnorm(60, 3, 2), 12, 5)
  layers <- list(layer_batch_normalization(), layer_layer_normalization(),
                 layer_activation(activation = "relu"), layer_dense(units = 3),
                 layer_normalization(mean = 1, variance = 4), layer_dropout(rate = 0.5))
  for (l in layers) {
    want <- l(x)
    mine <- x + 0                      # an array the caller owns
    got <- nl_layer_infer(l, mine, owned = TRUE)
    expect_identical(got, want)
    x0 <- x
    expect_identical(nl_layer_infer(l, x, owned = FALSE), want)
    expect_identical(x, x0)
  }
})

test_that("owned inputs are written over by the layers that can, and only then", {
  x <- matrix(c(-1, 2, -3, 4), 2, 2)
  mine <- x + 0
  y <- nl_layer_infer(layer_activation(activation = "relu"), mine, owned = TRUE)
  expect_true(nl_same_object_cpp(y, mine))
  theirs <- x + 0
  y2 <- nl_layer_infer(layer_activation(activation = "relu"), theirs, owned = FALSE)
  expect_false(nl_same_object_cpp(y2, theirs))
  expect_identical(theirs, x)
})

test_that("ownership passes along a chain: a new output is the caller's", {
  x <- matrix(1, 2, 2)
  y <- x + 1
  expect_true(nl_owned_after(FALSE, y, x))
  expect_false(nl_owned_after(FALSE, x, x))
  expect_true(nl_owned_after(TRUE, x, x))
})

test_that("a sequential model called eagerly never writes over the user's array", {
  set.seed(42)
  m <- keras_model_sequential(input_shape = 4) |>
    layer_batch_normalization() |> layer_activation(activation = "relu") |>
    layer_layer_normalization()
  x <- matrix(rnorm(40), 10, 4)
  x0 <- x
  y <- m(x)
  expect_identical(x, x0)
  expect_identical(y, nl_layer_forward(m, x, FALSE)$output)
  expect_identical(nl_layer_infer(m, x + 0, owned = TRUE), y)
})

test_that("a Dense layer reads a data frame's columns directly, with the matrix call's values", {
  set.seed(42)
  n <- 10007                            # several blocks of rows, the last one short
  df <- data.frame(a = rnorm(n), b = 1:n, c = rep(c(TRUE, FALSE, NA), length.out = n),
                   d = rnorm(n, 5), row.names = paste0("r", seq_len(n)))
  df$b[3] <- NA
  xm <- unname(as.matrix(df))
  storage.mode(xm) <- "double"
  for (act in c("linear", "relu", "sigmoid", "tanh", "softmax")) {
    for (use_bias in c(TRUE, FALSE)) {
      l4 <- layer_dense(units = 4, activation = act, use_bias = use_bias,
                        bias_initializer = "random_normal")
      got <- l4(df)                       # builds the layer on the data frame
      expect_true(is.data.frame(got))
      expect_identical(names(got), names(df))
      expect_identical(row.names(got), row.names(df))
      want <- l4(xm)
      expect_equal(unname(as.matrix(got)), want, tolerance = 1e-15)
      l2 <- layer_dense(units = 2, activation = act, use_bias = use_bias)
      got2 <- l2(df)
      expect_true(is.matrix(got2))
      expect_equal(got2, l2(xm), tolerance = 1e-15)
    }
  }
  # the values of the general route (the data frame copied into a matrix)
  l <- layer_dense(units = 3)
  invisible(l(xm))
  expect_equal(nl_layer_infer_frame(l, df), l(xm), tolerance = 1e-15)
  # not for other layers, activations without a C++ kernel or matrix columns
  expect_null(nl_layer_infer_frame(layer_batch_normalization(), df))
  expect_null(nl_layer_infer_frame(layer_dense(units = 2, activation = "elu"), df))
  odd <- data.frame(a = 1:2)
  odd$m <- matrix(1:4, 2)
  expect_null(nl_layer_infer_frame(layer_dense(units = 2), odd))
  # zero rows
  l0 <- layer_dense(units = 4)
  expect_identical(dim(l0(df[0, ])), c(0L, 4L))
})

test_that("a Dense call on a data frame that fails leaves the layer as it was", {
  l <- layer_dense(units = 2)
  expect_error(l(data.frame(a = 1, b = "x")), class = "normlayers_error_type")
  expect_false(nl_state(l)$built)
  invisible(l(data.frame(a = 1, b = 2)))
  k <- l$kernel
  err <- expect_error(l(data.frame(a = 1, b = 2, c = 3)), class = "normlayers_error")
  expect_identical(l$kernel, k)
})
