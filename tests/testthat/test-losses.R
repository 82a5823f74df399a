test_that("losses follow Keras's formulas and reduction", {
  y <- rbind(c(0, 1), c(1, 0), c(1, 1))
  p <- rbind(c(0.2, 0.7), c(0.6, 0.1), c(0.9, 0.8))
  expect_equal(nl_get_loss("mse")$fn(y, p)$value, mean(rowMeans((p - y)^2)))
  expect_equal(nl_get_loss("mean_absolute_error")$fn(y, p)$value, mean(rowMeans(abs(p - y))))
  bce <- -(y * log(p) + (1 - y) * log(1 - p))
  expect_equal(nl_get_loss("binary_crossentropy")$fn(y, p)$value, mean(rowMeans(bce)))
  q <- p / rowSums(p)
  expect_equal(nl_get_loss("categorical_crossentropy")$fn(y, p)$value,
               mean(-rowSums(y * log(q))))
  probs <- rbind(c(0.7, 0.2, 0.1), c(0.1, 0.1, 0.8))
  expect_equal(nl_get_loss("sparse_categorical_crossentropy")$fn(c(0, 2), probs)$value,
               mean(-log(c(0.7, 0.8))))
})

test_that("crossentropies clip probabilities at 1e-7", {
  bce <- nl_get_loss("binary_crossentropy")$fn(matrix(1, 1, 1), matrix(0, 1, 1))
  expect_equal(bce$value, -log(1e-7))
  expect_equal(as.vector(bce$grad), 0)
  cce <- nl_get_loss("categorical_crossentropy")$fn(matrix(c(1, 0), 1), matrix(c(0, 1), 1))
  expect_equal(cce$value, -log(1e-7))
})

test_that("loss gradients match finite differences", {
  set.seed(5)
  for (d in list(c(5, 1), c(4, 3), c(2, 3, 4))) {
    y <- random_array(d)
    p <- random_array(d)
    for (nm in c("mse", "mae")) {
      l <- nl_get_loss(nm)
      expect_lt(relative_error(l$fn(y, p)$grad, numeric_gradient(function(pp) l$fn(y, pp)$value, p)), 1e-6)
    }
    yb <- array(rbinom(prod(d), 1, 0.5), d)
    pb <- array(runif(prod(d), 0.05, 0.95), d)
    l <- nl_get_loss("binary_crossentropy")
    expect_lt(relative_error(l$fn(yb, pb)$grad, numeric_gradient(function(pp) l$fn(yb, pp)$value, pb)), 1e-6)
    yc <- array(runif(prod(d)), d)
    pc <- array(runif(prod(d), 0.1, 1), d)
    l <- nl_get_loss("categorical_crossentropy")
    expect_lt(relative_error(l$fn(yc, pc)$grad, numeric_gradient(function(pp) l$fn(yc, pp)$value, pc)), 1e-6)
    labels <- sample(0:(d[length(d)] - 1), prod(d[-length(d)]), replace = TRUE)
    l <- nl_get_loss("sparse_categorical_crossentropy")
    expect_lt(relative_error(l$fn(labels, pc)$grad,
                             numeric_gradient(function(pp) l$fn(labels, pp)$value, pc)), 1e-6)
  }
})

test_that("y is checked against the output shape", {
  mse <- nl_get_loss("mse")
  expect_equal(dim(nl_loss_prepare_y(mse, array(1:4, 4), c(NA, 1L))), c(4L, 1L))
  expect_error(nl_loss_prepare_y(mse, matrix(1, 4, 2), c(NA, 3L)), class = "normlayers_error_shape")
  sp <- nl_get_loss("sparse_categorical_crossentropy")
  expect_equal(nl_loss_prepare_y(sp, matrix(c(0, 2), 2, 1), c(NA, 3L)), c(0, 2))
  expect_error(nl_loss_prepare_y(sp, array(c(0, 3), 2), c(NA, 3L)), class = "normlayers_error_value")
  expect_error(nl_loss_prepare_y(sp, matrix(0, 2, 3), c(NA, 3L)), class = "normlayers_error_shape")
})

test_that("unknown losses error with a class", {
  expect_error(nl_get_loss("hinge"), class = "normlayers_error_loss")
  expect_error(nl_get_loss(NULL), class = "normlayers_error_loss")
  expect_error(nl_get_loss(2), class = "normlayers_error_loss")
  expect_equal(nl_get_loss("MSE")$key, "mean_squared_error")
})
