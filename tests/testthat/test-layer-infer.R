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
