test_that("metrics compute Keras's values", {
  y <- rbind(c(0, 1), c(1, 0))
  p <- rbind(c(0.2, 0.7), c(0.4, 0.6))
  expect_equal(nl_metric_fns$mae(y, p), rowMeans(abs(p - y)))
  expect_equal(nl_metric_fns$categorical_accuracy(y, p), c(1, 0))
  expect_equal(nl_metric_fns$sparse_categorical_accuracy(c(1, 1), p), c(1, 1))
  expect_equal(nl_metric_fns$binary_accuracy(matrix(c(1, 0, 1), 3), matrix(c(0.6, 0.4, 0.2), 3)),
               c(1, 1, 0))
})

test_that("accuracy picks binary, sparse or categorical like Keras", {
  acc <- nl_get_metrics("accuracy")
  key <- function(loss, shape) nl_resolve_metrics(acc, nl_get_loss(loss), shape)[[1]]$key
  expect_equal(key("binary_crossentropy", c(NA, 1L)), "binary_accuracy")
  expect_equal(key("sparse_categorical_crossentropy", c(NA, 3L)), "sparse_categorical_accuracy")
  expect_equal(key("categorical_crossentropy", c(NA, 3L)), "categorical_accuracy")
  expect_equal(nl_resolve_metrics(nl_get_metrics("acc"), nl_get_loss("mse"), c(NA, 1L))[[1]]$name, "acc")
})

test_that("bad metrics error with a class", {
  expect_error(nl_get_metrics("auc"), class = "normlayers_error_value")
  expect_error(nl_get_metrics(1), class = "normlayers_error_value")
  expect_error(nl_resolve_metrics(nl_get_metrics("mae"), nl_get_loss("sparse_categorical_crossentropy"), c(NA, 3L)),
               class = "normlayers_error_value")
})
