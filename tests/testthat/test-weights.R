test_that("get_weights() filters by trainable and set_weights() checks shapes", {
  model <- keras_model_sequential(input_shape = 3) |>
    layer_layer_normalization(name = "a") |>
    layer_layer_normalization(name = "b", trainable = FALSE)
  expect_length(get_weights(model), 4)
  expect_length(get_weights(model, trainable = TRUE), 2)
  expect_length(get_weights(model, trainable = FALSE), 2)
  expect_error(get_weights(model, trainable = "x"), class = "normlayers_error_value")
  new <- list(c(1, 2, 3), c(4, 5, 6), c(7, 8, 9), 1:3)
  expect_invisible(set_weights(model, new))
  expect_equal(get_weights(model), lapply(new, as.double))
  before <- get_weights(model)
  expect_error(set_weights(model, list(1, 2)), class = "normlayers_error_weights")
  expect_error(set_weights(model, list(1:3, 1:3, 1:3, 1:4)), class = "normlayers_error_weights")
  expect_error(set_weights(model, list(1:3, 1:3, 1:3, letters[1:3])), class = "normlayers_error_weights")
  expect_error(set_weights(model, "x"), class = "normlayers_error_weights")
  expect_identical(get_weights(model), before)
  expect_error(get_weights(1), class = "normlayers_error_type")
})

test_that("count_params() needs a built layer", {
  l <- layer_layer_normalization()
  expect_error(count_params(l), class = "normlayers_error_not_built")
  l(matrix(1:10, 2))
  expect_identical(count_params(l), 10L)
})

test_that("array weights keep their shape", {
  l <- layer_layer_normalization(axis = c(2, 3))
  l(array(rnorm(24), c(2, 3, 4)))
  w <- get_weights(l)
  expect_equal(dim(w[[1]]), c(3L, 4L))
  w[[1]] <- w[[1]] * 2
  set_weights(l, w)
  expect_equal(l$gamma, array(2, c(3, 4)))
  expect_error(set_weights(l, list(rep(1, 12), w[[2]])), class = "normlayers_error_weights")
})

test_that("set_weights() refuses missing values and negative variances, naming the weight", {
  bn <- layer_batch_normalization()
  bn(matrix(1:6, 2), training = TRUE)
  before <- get_weights(bn)
  w <- before
  w[[1]][2] <- NA
  err <- expect_error(set_weights(bn, w), class = "normlayers_error_weights")
  expect_match(conditionMessage(err), "gamma")
  expect_match(conditionMessage(err), "missing")
  w <- before
  w[[3]][1] <- NaN
  err <- expect_error(set_weights(bn, w), class = "normlayers_error_weights")
  expect_match(conditionMessage(err), "moving_mean")
  w <- before
  w[[4]][3] <- -0.5
  err <- expect_error(set_weights(bn, w), class = "normlayers_error_weights")
  expect_match(conditionMessage(err), "moving_variance")
  expect_match(conditionMessage(err), "-0.5")
  expect_identical(get_weights(bn), before)
  # a negative gamma or moving mean is fine
  w <- before
  w[[1]][1] <- -2
  w[[3]][1] <- -3
  expect_no_error(set_weights(bn, w))
  norm <- layer_normalization()
  adapt(norm, matrix(1:6, 2))
  err <- expect_error(set_weights(norm, list(c(0, 0, 0), c(1, -1, 1))),
                      class = "normlayers_error_weights")
  expect_match(conditionMessage(err), "variance")
  expect_equal(get_weights(norm)[[2]], c(0.25, 0.25, 0.25))
  # zero variance is allowed
  expect_no_error(set_weights(norm, list(c(0, 0, 0), c(0, 1, 1))))
})
