test_that("op_batch_normalization() reproduces the worked numbers (spec 14.3)", {
  x <- bn_x43()
  # with the batch statistics: the training output of the layer
  y <- op_batch_normalization(x, mean = c(5.5, 9, 11), variance = c(11.25, 35, 39.5),
                              axis = -1)
  expect_equal(y[, 1], c(-1.341581, -0.4471937, 0.4471937, 1.341581), tolerance = 1e-6)
  expect_equal(y[4, ], c(1.341581, 1.521256, 1.431985), tolerance = 1e-6)
  # with the moving statistics after one step: the inference output
  y2 <- op_batch_normalization(x, mean = c(0.055, 0.09, 0.11),
                               variance = c(1.1025, 1.34, 1.385), axis = 2)
  expect_equal(y2[1, ], c(0.8995921, 1.649373, 2.454801), tolerance = 1e-6)
  expect_equal(y2[4, ], c(9.467136, 15.46611, 16.8948), tolerance = 1e-6)
  # default epsilon is 1e-3
  expect_equal(op_batch_normalization(x, c(0, 0, 0), c(1, 1, 1), axis = -1),
               x / sqrt(1.001), tolerance = 1e-14)
})

test_that("offset and scale are applied as (x - mean) / sqrt(var + eps) * scale + offset", {
  x <- rbind(c(1, 2, 3), c(4, 5, 6))
  y <- op_batch_normalization(x, mean = c(1, 2, 3), variance = c(4, 9, 16), axis = -1,
                              offset = c(0.5, 0, -0.5), scale = c(1, 2, 3), epsilon = 0)
  expected <- rbind(c(0.5, 0, -0.5), c(3 / 2 + 0.5, 2 * 3 / 3, 3 * 3 / 4 - 0.5))
  expect_equal(y, expected, tolerance = 1e-14)
  expect_equal(op_batch_normalization(x, c(1, 2, 3), c(4, 9, 16), -1, offset = c(1, 1, 1),
                                      epsilon = 0),
               sweep(sweep(x, 2, c(1, 2, 3)), 2, c(2, 3, 4), "/") + 1, tolerance = 1e-14)
})

test_that("op_batch_normalization() matches a slow reference on every channel axis", {
  set.seed(11)
  for (rank in 1:5) {
    for (a in seq_len(rank)) {
      d <- sample(1:4, rank, replace = TRUE)
      d[a] <- sample(2:5, 1)
      x <- array(rnorm(prod(d), 2, 3), d)
      C <- d[a]
      mu <- rnorm(C)
      v <- runif(C, 0.1, 3)
      g <- rnorm(C)
      b <- rnorm(C)
      eps <- runif(1, 0, 0.1)
      ref <- bn_ref_apply(x, a, mu, v, g, b, eps)
      for (ax in c(a, a - rank - 1L)) {
        y <- op_batch_normalization(x, mu, v, axis = ax, offset = b, scale = g, epsilon = eps)
        expect_identical(dim(y), dim(x))
        expect_equal(y, ref, tolerance = 1e-10,
                     label = sprintf("dim (%s), axis %d", toString(d), ax))
      }
    }
  }
})

test_that("op_batch_normalization() agrees with the layer in inference", {
  set.seed(5)
  x <- array(rnorm(2 * 3 * 4 * 5), c(2, 3, 4, 5))
  bn <- layer_batch_normalization(axis = 2)
  bn(x)
  w <- list(rnorm(3), rnorm(3), rnorm(3), runif(3, 0.5, 2))
  set_weights(bn, w)
  expect_equal(op_batch_normalization(x, w[[3]], w[[4]], axis = 2, offset = w[[2]],
                                      scale = w[[1]]),
               bn(x), tolerance = 1e-14)
})

test_that("containers are kept", {
  x <- bn_x43()
  df <- as.data.frame(x)
  y <- op_batch_normalization(df, c(1, 2, 3), c(1, 1, 1), axis = -1)
  expect_s3_class(y, "data.frame")
  expect_named(y, names(df))
  expect_equal(unname(as.matrix(y)), sweep(x, 2, c(1, 2, 3)) / sqrt(1.001), tolerance = 1e-14)
  dimnames(x) <- list(letters[1:4], c("u", "v", "w"))
  expect_identical(dimnames(op_batch_normalization(x, c(0, 0, 0), c(1, 1, 1), -1)), dimnames(x))
  v <- c(a = 1, b = 2, c = 3)
  yv <- op_batch_normalization(v, c(1, 1, 1), c(1, 1, 1), axis = 1, epsilon = 0)
  expect_identical(yv, c(a = 0, b = 1, c = 2))
  # integer input is computed in double; parameters may be arrays of the right size
  xi <- matrix(1:6, 2)
  expect_equal(op_batch_normalization(xi, matrix(c(1, 3, 5), 1), c(1, 1, 1), axis = 2,
                                      epsilon = 0),
               matrix(c(0, 1, 0, 1, 0, 1), 2))
})

test_that("bad arguments are classed errors", {
  x <- bn_x43()
  m <- c(0, 0, 0)
  v <- c(1, 1, 1)
  expect_error(op_batch_normalization(x, c(0, 0), v, axis = -1), class = "normlayers_error_shape")
  expect_error(op_batch_normalization(x, m, c(1, 1, 1, 1), axis = -1),
               class = "normlayers_error_shape")
  expect_error(op_batch_normalization(x, m, v, axis = -1, offset = 1),
               class = "normlayers_error_shape")
  expect_error(op_batch_normalization(x, m, v, axis = -1, scale = rep(1, 4)),
               class = "normlayers_error_shape")
  expect_error(op_batch_normalization(x, m, v, axis = 1), class = "normlayers_error_shape")
  expect_error(op_batch_normalization(x, "a", v, axis = -1), class = "normlayers_error_shape")
  expect_error(op_batch_normalization(x, NULL, v, axis = -1), class = "normlayers_error_shape")
  expect_error(op_batch_normalization(x, m, matrix(1, 3, 2), axis = -1),
               class = "normlayers_error_shape")
  expect_error(op_batch_normalization(x, m, v, axis = 0), class = "normlayers_error_axis")
  expect_error(op_batch_normalization(x, m, v, axis = 3), class = "normlayers_error_axis")
  expect_error(op_batch_normalization(x, m, v, axis = -3), class = "normlayers_error_axis")
  expect_error(op_batch_normalization(x, m, v, axis = c(1, 2)), class = "normlayers_error_axis")
  expect_error(op_batch_normalization(x, m, v), class = "normlayers_error_missing")
  expect_error(op_batch_normalization(x, axis = 2), class = "normlayers_error_missing")
  expect_error(op_batch_normalization(x, m, v, axis = -1, epsilon = -1),
               class = "normlayers_error_value")
  expect_error(op_batch_normalization(x, m, v, axis = -1, epsilon = c(1, 2)),
               class = "normlayers_error_value")
  expect_error(op_batch_normalization("x", m, v, axis = -1), class = "normlayers_error_type")
  err <- tryCatch(op_batch_normalization(x, c(0, 0), v, axis = -1), error = identity)
  expect_match(conditionMessage(err), "mean")
  expect_match(conditionMessage(err), "(3,)", fixed = TRUE)
})
