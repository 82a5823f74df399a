# Expected values follow Keras 3: the loss is sum(w * loss_i) / n
# (reduce_weighted_values with "sum_over_batch_size" in keras/src/losses/loss.py),
# only weighted_metrics are weighted (sum(w * v) / sum(w)), and class_weight
# becomes per-sample weights (class_weight_to_sample_weights).

sw_data <- function(n = 12, seed = 1) {
  set.seed(seed)
  x <- matrix(rnorm(n * 3), n, 3)
  list(x = x, y = x %*% c(1, -1, 0.5) + rnorm(n, sd = 0.1))
}

sw_model <- function(loss = "mse", units = 1, activation = NULL, metrics = NULL,
                     weighted_metrics = NULL, lr = 0.05) {
  set.seed(42)
  model <- keras_model_sequential(input_shape = 3) |>
    layer_dense(units, activation = activation)
  compile(model, optimizer = optimizer_sgd(lr), loss = loss, metrics = metrics,
          weighted_metrics = weighted_metrics)
  model
}

test_that("the per-sample loss values average to the loss (oracle)", {
  set.seed(5)
  p <- matrix(runif(12, 0.05, 0.95), 4, 3)
  y <- matrix(round(runif(12)), 4, 3)
  for (key in c("mse", "mae", "binary_crossentropy")) {
    loss <- nl_get_loss(key)
    expect_equal(mean(nl_loss_values(loss, y, p)), loss$fn(y, p)$value, info = key)
  }
  onehot <- diag(3)[c(1, 3, 2, 2), ]
  cce <- nl_get_loss("categorical_crossentropy")
  expect_equal(mean(nl_loss_values(cce, onehot, p)), cce$fn(onehot, p)$value)
  scce <- nl_get_loss("sparse_categorical_crossentropy")
  expect_equal(mean(nl_loss_values(scce, c(0, 2, 1, 1), p)), scce$fn(c(0, 2, 1, 1), p)$value)
  # rank-3 outputs: one value per (sample, position), batch fastest
  p3 <- array(runif(24), c(2, 4, 3))
  y3 <- array(runif(24), c(2, 4, 3))
  mse <- nl_get_loss("mse")
  v <- nl_loss_values(mse, y3, p3)
  expect_length(v, 8)
  expect_equal(v[3], mean((p3[1, 2, ] - y3[1, 2, ])^2))
})

test_that("weighted losses use Keras's sum-over-batch-size reduction and gradient", {
  set.seed(6)
  p <- matrix(rnorm(8), 4, 2)
  y <- matrix(rnorm(8), 4, 2)
  w <- c(1, 0, 2, 0.5)
  loss <- nl_get_loss("mse")
  res <- nl_loss_weighted(loss, y, p, w)
  per_sample <- rowMeans((p - y)^2)
  expect_equal(res$value, sum(w * per_sample) / 4)
  # the gradient of the weighted value, by finite differences
  num <- p
  for (i in seq_along(p)) {
    h <- 1e-6
    pp <- p; pp[i] <- pp[i] + h
    pm <- p; pm[i] <- pm[i] - h
    num[i] <- (nl_loss_weighted(loss, y, pp, w)$value - nl_loss_weighted(loss, y, pm, w)$value) / (2 * h)
  }
  expect_equal(res$grad, num, tolerance = 1e-6)
  expect_identical(nl_loss_weighted(loss, y, p, NULL), loss$fn(y, p))
})

test_that("sample_weight = 0 rows do not change the loss or the training", {
  d <- sw_data()
  w <- rep(c(1, 0), 6)
  y_bad <- d$y
  y_bad[w == 0] <- 1e3
  model <- sw_model()
  e1 <- evaluate(model, d$x, d$y, sample_weight = w, verbose = 0)
  e2 <- evaluate(model, d$x, y_bad, sample_weight = w, verbose = 0)
  expect_identical(e1, e2)
  # Keras divides by the number of samples, not by the sum of the weights
  p <- predict(model, d$x, verbose = 0)
  expect_equal(e1$loss, sum(w * (p - d$y)^2) / 12)

  m1 <- sw_model()
  m2 <- sw_model()
  h1 <- fit(m1, d$x, d$y, sample_weight = w, epochs = 3, batch_size = 4, shuffle = FALSE, verbose = 0)
  h2 <- fit(m2, d$x, y_bad, sample_weight = w, epochs = 3, batch_size = 4, shuffle = FALSE, verbose = 0)
  expect_identical(get_weights(m1), get_weights(m2))
  expect_identical(h1$metrics$loss, h2$metrics$loss)
  # with shuffling the weights follow their samples
  set.seed(9)
  h1 <- fit(m1, d$x, d$y, sample_weight = w, epochs = 2, batch_size = 5, verbose = 0)
  set.seed(9)
  h2 <- fit(m2, d$x, y_bad, sample_weight = w, epochs = 2, batch_size = 5, verbose = 0)
  expect_identical(get_weights(m1), get_weights(m2))
})

test_that("unit sample weights change nothing and weights scale the step", {
  d <- sw_data()
  m1 <- sw_model()
  m2 <- sw_model()
  fit(m1, d$x, d$y, epochs = 2, batch_size = 4, shuffle = FALSE, verbose = 0)
  fit(m2, d$x, d$y, sample_weight = rep(1, 12), epochs = 2, batch_size = 4, shuffle = FALSE,
      verbose = 0)
  expect_equal(get_weights(m1), get_weights(m2))
  # with SGD, weights of 2 are a doubled learning rate
  m3 <- sw_model(lr = 0.1)
  m4 <- sw_model(lr = 0.05)
  fit(m3, d$x, d$y, epochs = 1, batch_size = 12, verbose = 0)
  fit(m4, d$x, d$y, sample_weight = rep(2, 12), epochs = 1, batch_size = 12, verbose = 0)
  expect_equal(get_weights(m3), get_weights(m4))
})

test_that("only weighted_metrics are weighted", {
  d <- sw_data()
  w <- c(rep(3, 6), rep(0.5, 6))
  model <- sw_model(metrics = "mae", weighted_metrics = c("mae", "mse"))
  res <- evaluate(model, d$x, d$y, sample_weight = w, verbose = 0)
  expect_named(res, c("loss", "mae", "weighted_mae", "mse"))
  e <- as.vector(predict(model, d$x, verbose = 0) - d$y)
  expect_equal(res$mae, mean(abs(e)))
  expect_equal(res$weighted_mae, sum(w * abs(e)) / sum(w))
  expect_equal(res$mse, sum(w * e^2) / sum(w))
  expect_equal(res$loss, sum(w * e^2) / 12)
  # without weights the weighted metrics are the plain means
  res <- evaluate(model, d$x, d$y, verbose = 0)
  expect_equal(res$weighted_mae, res$mae)
  h <- fit(model, d$x, d$y, epochs = 1, verbose = 0, sample_weight = w)
  expect_named(h$metrics, c("loss", "mae", "weighted_mae", "mse"))
})

test_that("class_weight equals the corresponding sample_weight", {
  set.seed(3)
  x <- matrix(rnorm(40), 20, 2)
  lab <- as.numeric(x[, 1] + rnorm(20, sd = 0.5) > 0)
  cw <- list("0" = 1, "1" = 3)
  sw <- ifelse(lab == 1, 3, 1)
  make <- function() {
    set.seed(8)
    m <- keras_model_sequential(input_shape = 2) |> layer_dense(1, activation = "sigmoid")
    compile(m, optimizer = optimizer_sgd(0.5), loss = "binary_crossentropy",
            weighted_metrics = "accuracy")
    m
  }
  m1 <- make()
  m2 <- make()
  set.seed(1)
  h1 <- fit(m1, x, lab, class_weight = cw, epochs = 3, batch_size = 8, verbose = 0)
  set.seed(1)
  h2 <- fit(m2, x, lab, sample_weight = sw, epochs = 3, batch_size = 8, verbose = 0)
  expect_identical(get_weights(m1), get_weights(m2))
  expect_identical(h1$metrics, h2$metrics)

  # one-hot targets: the class is the argmax; unlisted classes weigh 1
  y3 <- diag(3)[c(1, 2, 3, 3, 2, 1), ]
  expect_equal(nl_class_weight_to_sample_weight(nl_check_class_weight(list("2" = 5, "0" = 2)), y3),
               c(2, 1, 5, 5, 1, 2))
  # sparse labels, a column of labels, an unnamed vector for classes 0, 1, ...
  expect_equal(nl_class_weight_to_sample_weight(nl_check_class_weight(c(0.5, 2)), c(0, 1, 1)),
               c(0.5, 2, 2))
  expect_equal(nl_class_weight_to_sample_weight(nl_check_class_weight(c("1" = 4)), matrix(c(1, 0, 1))),
               c(4, 1, 4))
  mc <- keras_model_sequential(input_shape = 2) |> layer_dense(3, activation = "softmax")
  compile(mc, optimizer = "sgd", loss = "sparse_categorical_crossentropy")
  set.seed(2)
  h <- fit(mc, x[1:6, ], c(0, 1, 2, 2, 1, 0), class_weight = list("2" = 5), epochs = 1,
           verbose = 0)
  expect_length(h$metrics$loss, 1)
})

test_that("validation_split splits sample_weight; class weights only weight training", {
  d <- sw_data()
  w <- seq(0.5, 6, by = 0.5)
  model <- sw_model()
  h <- fit(model, d$x, d$y, sample_weight = w, validation_split = 0.25, epochs = 1,
           batch_size = 12, verbose = 0)
  ev <- evaluate(model, d$x[10:12, ], d$y[10:12], sample_weight = w[10:12], verbose = 0)
  expect_equal(h$metrics$val_loss, ev$loss)
  # validation_data with weights as its third element
  h <- fit(model, d$x[1:8, ], d$y[1:8], epochs = 1, verbose = 0,
           validation_data = list(d$x[9:12, ], d$y[9:12], c(0, 0, 1, 1)))
  ev <- evaluate(model, d$x[9:12, ], d$y[9:12], sample_weight = c(0, 0, 1, 1), verbose = 0)
  expect_equal(h$metrics$val_loss, ev$loss)
})

test_that("bad weights are refused before anything changes", {
  d <- sw_data()
  model <- sw_model()
  w0 <- get_weights(model)
  expect_error(fit(model, d$x, d$y, sample_weight = rep(1, 5), verbose = 0),
               class = "normlayers_error_data")
  expect_error(fit(model, d$x, d$y, sample_weight = c(-1, rep(1, 11)), verbose = 0),
               class = "normlayers_error_value")
  expect_error(fit(model, d$x, d$y, sample_weight = c(NA, rep(1, 11)), verbose = 0),
               class = "normlayers_error_value")
  expect_error(fit(model, d$x, d$y, sample_weight = "a", verbose = 0),
               class = "normlayers_error_type")
  expect_error(fit(model, d$x, d$y, sample_weight = matrix(1, 12, 2), verbose = 0),
               class = "normlayers_error_unsupported")
  expect_error(fit(model, d$x, d$y, sample_weight = rep(1, 12), class_weight = list("0" = 1),
                   verbose = 0), class = "normlayers_error_value")
  expect_error(fit(model, d$x, d$y, class_weight = list(a = 1), verbose = 0),
               class = "normlayers_error_value")
  expect_error(fit(model, d$x, d$y, class_weight = "a", verbose = 0),
               class = "normlayers_error_type")
  expect_error(fit(model, d$x, d$y, verbose = 0,
                   validation_data = list(d$x[1:2, ], d$y[1:2], c(1, 1, 1))),
               class = "normlayers_error_data")
  expect_error(evaluate(model, d$x, d$y, sample_weight = rep(1, 3), verbose = 0),
               class = "normlayers_error_data")
  expect_identical(get_weights(model), w0)
  expect_equal(nl_state(model)$compiled$optimizer$iterations, 0L)
})
