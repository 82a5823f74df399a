# Worked numbers: keras-numerics.md section 14.3.

test_that("a training step matches the worked example (spec 14.3)", {
  x <- bn_x43()
  bn <- layer_batch_normalization()
  y <- bn(x, training = TRUE)
  expected <- rbind(c(-1.341581, -1.183199, -1.272876),
                    c(-0.4471937, -0.5070853, -0.4773283),
                    c(0.4471937, 0.1690284, 0.3182189),
                    c(1.341581, 1.521256, 1.431985))
  expect_equal(y, expected, tolerance = 1e-6)
  expect_equal(bn$moving_mean, c(0.055, 0.09, 0.11), tolerance = 1e-12)
  expect_equal(bn$moving_variance, c(1.1025, 1.34, 1.385), tolerance = 1e-12)
  expect_length(bn$moving_mean, 3)
  expect_null(dim(bn$moving_variance))
})

test_that("inference after one step uses the moving statistics (spec 14.3)", {
  x <- bn_x43()
  bn <- layer_batch_normalization()
  bn(x, training = TRUE)
  expected <- rbind(c(0.8995921, 1.649373, 2.454801),
                    c(3.75544, 5.103558, 6.701861),
                    c(6.611288, 8.557744, 10.94892),
                    c(9.467136, 15.46611, 16.8948))
  y <- bn(x)
  expect_equal(y, expected, tolerance = 1e-6)
  expect_equal(bn(x, training = FALSE), y)
  # inference changes nothing
  expect_equal(bn$moving_mean, c(0.055, 0.09, 0.11), tolerance = 1e-12)
  expect_equal(bn$moving_variance, c(1.1025, 1.34, 1.385), tolerance = 1e-12)
})

test_that("moving statistics after two identical steps (spec 14.3)", {
  x <- bn_x43()
  bn <- layer_batch_normalization()
  bn(x, training = TRUE)
  bn(x, training = TRUE)
  expect_equal(bn$moving_mean, c(0.10945, 0.1791, 0.2189), tolerance = 1e-12)
  expect_equal(bn$moving_variance, c(1.203975, 1.6766, 1.76615), tolerance = 1e-12)
  # closed form after k steps
  bn(x, training = TRUE)
  k <- 3
  mu <- c(5.5, 9, 11)
  s2 <- c(11.25, 35, 39.5)
  expect_equal(bn$moving_mean, mu * (1 - 0.99^k), tolerance = 1e-12)
  expect_equal(bn$moving_variance, 0.99^k + s2 * (1 - 0.99^k), tolerance = 1e-12)
})

test_that("a fresh layer in inference divides by sqrt(1 + epsilon)", {
  x <- bn_x43()
  expect_equal(layer_batch_normalization(x), x / sqrt(1.001), tolerance = 1e-14)
  expect_equal(layer_batch_normalization(x, epsilon = 0.1), x / sqrt(1.1), tolerance = 1e-14)
  bn <- layer_batch_normalization()
  expect_equal(bn(x), 0.99950037 * x, tolerance = 1e-8)
  expect_equal(bn$moving_mean, c(0, 0, 0))
  expect_equal(bn$moving_variance, c(1, 1, 1))
})

test_that("trainable = FALSE with training = TRUE is inference without updates", {
  x <- bn_x43()
  # Keras test: momentum 0.8, epsilon 1e-7, moving stats at init
  bn <- layer_batch_normalization(momentum = 0.8, epsilon = 1e-7, trainable = FALSE)
  y <- bn(x, training = TRUE)
  expect_equal(y, x / sqrt(1 + 1e-7), tolerance = 1e-14)
  expect_equal(bn$moving_mean, c(0, 0, 0))
  expect_equal(bn$moving_variance, c(1, 1, 1))

  # after one training step, freezing gives the inference output (spec 14.3)
  bn2 <- layer_batch_normalization()
  bn2(x, training = TRUE)
  mm <- bn2$moving_mean
  mv <- bn2$moving_variance
  bn2$trainable <- FALSE
  y2 <- bn2(x, training = TRUE)
  expect_equal(y2[1, ], c(0.8995921, 1.649373, 2.454801), tolerance = 1e-6)
  expect_equal(y2, bn2(x))
  expect_identical(bn2$moving_mean, mm)
  expect_identical(bn2$moving_variance, mv)
  bn2$trainable <- TRUE
  bn2(x, training = TRUE)
  expect_false(identical(bn2$moving_mean, mm))
})

test_that("renorm first step matches the worked example (spec 14.3)", {
  x <- bn_x43()
  bn <- layer_batch_normalization(renorm = TRUE)
  y <- bn(x, training = TRUE)
  # r = sqrt(var + eps), d = mean: the output reproduces x
  expect_equal(y, x, tolerance = 1e-12)
  expect_equal(bn$renorm_mean, c(0.055, 0.09, 0.11), tolerance = 1e-12)
  expect_equal(bn$moving_mean, c(0.055, 0.09, 0.11), tolerance = 1e-12)
  expect_equal(bn$renorm_stddev, c(1.023543, 1.049162, 1.05285), tolerance = 1e-6)
  expect_equal(bn$moving_stddev, c(1.023543, 1.049162, 1.05285), tolerance = 1e-6)
  expect_equal(bn$moving_variance, c(1.046639, 1.09974, 1.107493), tolerance = 1e-6)
  # exact forms
  sb <- sqrt(c(11.25, 35, 39.5) + 1e-3)
  expect_equal(bn$moving_stddev, 0.99 + 0.01 * sb, tolerance = 1e-14)
  expect_equal(bn$moving_variance, (0.99 + 0.01 * sb)^2 - 1e-3, tolerance = 1e-14)
  # inference is plain batch normalization with the moving statistics
  expect_equal(bn(x), bn_ref_apply(x, 2, bn$moving_mean, bn$moving_variance), tolerance = 1e-12)
})

test_that("renorm clipping gives the worked column (spec 14.3)", {
  x <- bn_x43()
  bn <- layer_batch_normalization(renorm = TRUE, renorm_clipping = list(rmax = 3, dmax = 5))
  y <- bn(x, training = TRUE)
  expect_equal(y[, 1], c(0.9752565, 3.658419, 6.341581, 9.024743), tolerance = 1e-6)
  # column 2: r = 3 and d = 5 both clipped
  xh <- (x[, 2] - 9) / sqrt(35 + 1e-3)
  expect_equal(y[, 2], xh * 3 + 5, tolerance = 1e-12)
  # a named numeric vector works too; rmin clips from below
  bn2 <- layer_batch_normalization(renorm = TRUE, renorm_clipping = c(rmin = 4))
  y2 <- bn2(x, training = TRUE)
  xh1 <- (x[, 1] - 5.5) / sqrt(11.25 + 1e-3)
  expect_equal(y2[, 1], xh1 * 4 + 5.5, tolerance = 1e-12)
  expect_equal(y2[, 3], x[, 3], tolerance = 1e-12)
})

test_that("renorm second step uses the updated renorm statistics", {
  x <- bn_x43()
  bn <- layer_batch_normalization(renorm = TRUE, renorm_momentum = 0.5)
  bn(x, training = TRUE)
  rm <- bn$renorm_mean
  rs <- bn$renorm_stddev
  expect_equal(rm, 0.5 * c(5.5, 9, 11), tolerance = 1e-14)
  x2 <- x * 2 + 1
  y <- bn(x2, training = TRUE)
  mo <- bn_ref_moments(x2, 2)
  sb <- sqrt(mo$var + 1e-3)
  r <- sb / pmax(rs, sqrt(1e-3))
  d <- (mo$mean - rm) / pmax(rs, sqrt(1e-3))
  xh <- sweep(sweep(x2, 2, mo$mean), 2, sb, "/")
  expect_equal(y, sweep(sweep(xh, 2, r, "*"), 2, d, "+"), tolerance = 1e-12)
})

test_that("renorm floors the renorm standard deviation at sqrt(epsilon)", {
  x <- bn_x43()
  bn <- layer_batch_normalization(renorm = TRUE, epsilon = 0.01)
  bn(x)
  st <- nl_state(bn)
  st$weights$renorm_stddev <- c(0.001, 0.5, 2)
  st$weights$renorm_mean <- c(1, 2, 3)
  y <- bn(x, training = TRUE)
  mo <- bn_ref_moments(x, 2)
  sb <- sqrt(mo$var + 0.01)
  s_hat <- c(0.1, 0.5, 2)
  r <- sb / s_hat
  d <- (mo$mean - c(1, 2, 3)) / s_hat
  xh <- sweep(sweep(x, 2, mo$mean), 2, sb, "/")
  expect_equal(y, sweep(sweep(xh, 2, r, "*"), 2, d, "+"), tolerance = 1e-12)
})

test_that("output matches a slow reference over random shapes and channel axes", {
  set.seed(42)
  for (rank in 2:5) {
    for (a in seq_len(rank)) {
      for (neg in c(FALSE, TRUE)) {
        d <- sample(1:4, rank, replace = TRUE)
        d[1] <- sample(2:4, 1)
        d[a] <- sample(2:4, 1)
        x <- array(rnorm(prod(d), mean = 3, sd = 2), d)
        C <- d[a]
        ax <- if (neg) a - rank - 1L else a
        mom <- runif(1)
        eps <- runif(1, 1e-4, 1e-2)
        bn <- layer_batch_normalization(axis = ax, momentum = mom, epsilon = eps)
        expect_equal(bn(x), bn_ref_apply(x, a, rep(0, C), rep(1, C), eps = eps),
                     tolerance = 1e-10)
        g <- rnorm(C)
        b <- rnorm(C)
        mm0 <- rnorm(C)
        mv0 <- runif(C, 0.5, 2)
        set_weights(bn, list(g, b, mm0, mv0))
        y <- bn(x, training = TRUE)
        mo <- bn_ref_moments(x, a)
        expect_equal(y, bn_ref_train(x, a, g, b, eps), tolerance = 1e-10,
                     label = sprintf("training, dim (%s), axis %d", toString(d), ax))
        expect_equal(bn$moving_mean, mm0 * mom + mo$mean * (1 - mom), tolerance = 1e-10)
        expect_equal(bn$moving_variance, mv0 * mom + mo$var * (1 - mom), tolerance = 1e-10)
        expect_equal(bn(x), bn_ref_apply(x, a, bn$moving_mean, bn$moving_variance, g, b, eps),
                     tolerance = 1e-10,
                     label = sprintf("inference, dim (%s), axis %d", toString(d), ax))
        expect_identical(dim(y), dim(x))
      }
    }
  }
})

test_that("center = FALSE and scale = FALSE drop beta and gamma", {
  x <- bn_x43()
  bn <- layer_batch_normalization(center = FALSE, scale = FALSE)
  y <- bn(x, training = TRUE)
  expect_equal(y[, 1], c(-1.341581, -0.4471937, 0.4471937, 1.341581), tolerance = 1e-6)
  expect_null(bn$gamma)
  expect_null(bn$beta)
  expect_equal(count_params(bn), 6L)
  expect_length(get_weights(bn, trainable = TRUE), 0)
  bn2 <- layer_batch_normalization(scale = FALSE)
  bn2(x)
  expect_equal(names(bn2$weights), paste0(bn2$name, "/", c("beta", "moving_mean", "moving_variance")))
})

test_that("weights are in Keras order and count 4 C", {
  bn <- layer_batch_normalization()
  expect_false(bn$built)
  expect_length(bn$weights, 0)
  x <- array(rnorm(2 * 3 * 5), c(2, 3, 5))
  bn(x)
  expect_true(bn$built)
  expect_equal(names(bn$weights),
               paste0(bn$name, "/", c("gamma", "beta", "moving_mean", "moving_variance")))
  expect_equal(names(bn$trainable_weights), paste0(bn$name, "/", c("gamma", "beta")))
  expect_equal(names(bn$non_trainable_weights),
               paste0(bn$name, "/", c("moving_mean", "moving_variance")))
  expect_equal(count_params(bn), 4L * 5L)
  expect_equal(lengths(get_weights(bn)), rep(5L, 4))
  rn <- layer_batch_normalization(renorm = TRUE, axis = 2)
  rn(x)
  expect_equal(names(rn$weights),
               paste0(rn$name, "/", c("gamma", "beta", "moving_mean", "moving_variance",
                                      "moving_stddev", "renorm_mean", "renorm_stddev")))
  expect_equal(count_params(rn), 7L * 3L)
})

test_that("renorm weights initialize from the moving initializers (square roots)", {
  x <- bn_x43()
  rn <- layer_batch_normalization(renorm = TRUE)
  rn(x)
  expect_equal(rn$moving_stddev, c(1, 1, 1))
  expect_equal(rn$renorm_stddev, c(1, 1, 1))
  expect_equal(rn$renorm_mean, c(0, 0, 0))
})

test_that("automatic names and the Keras class", {
  bn <- layer_batch_normalization()
  expect_match(bn$name, "^batch_normalization(_[0-9]+)?$")
  bn2 <- layer_batch_normalization()
  expect_false(identical(bn$name, bn2$name))
  expect_equal(bn$class_name, "BatchNormalization")
  expect_s3_class(bn, "nl_batch_normalization")
  expect_s3_class(bn, "nl_layer")
  expect_equal(layer_batch_normalization(name = "bn")$name, "bn")
})

test_that("training = TRUE reaches the layer inside a sequential model", {
  x <- bn_x43()
  model <- keras_model_sequential(input_shape = 3) |> layer_batch_normalization()
  bn <- model$layers[[1]]
  expect_true(bn$built)
  y0 <- model(x)
  expect_equal(y0, x / sqrt(1.001), tolerance = 1e-14)
  expect_equal(bn$moving_mean, c(0, 0, 0))
  y <- model(x, training = TRUE)
  expect_equal(y[4, ], c(1.341581, 1.521256, 1.431985), tolerance = 1e-6)
  expect_equal(bn$moving_mean, c(0.055, 0.09, 0.11), tolerance = 1e-12)
  model(x)
  predict(model, x)
  expect_equal(bn$moving_mean, c(0.055, 0.09, 0.11), tolerance = 1e-12)
})

test_that("training = TRUE reaches the layer inside a functional model", {
  x <- bn_x43()
  inputs <- keras_input(shape = 3)
  bn <- layer_batch_normalization()
  outputs <- inputs |> bn()
  expect_equal(outputs$shape, c(NA_integer_, 3L))
  model <- keras_model(inputs, outputs)
  model(x)
  expect_equal(bn$moving_variance, c(1, 1, 1))
  model(x, training = TRUE)
  expect_equal(bn$moving_variance, c(1.1025, 1.34, 1.385), tolerance = 1e-12)
  model(x, training = FALSE)
  expect_equal(bn$moving_variance, c(1.1025, 1.34, 1.385), tolerance = 1e-12)
})

test_that("summary() of a model shows non-trainable parameters", {
  model <- keras_model_sequential(input_shape = 5) |> layer_batch_normalization()
  expect_equal(count_params(model), 20L)
  out <- capture.output(summary(model))
  expect_true(any(grepl("BatchNormalization", out)))
  expect_true(any(grepl("Total params: 20 ", out, fixed = TRUE)))
  expect_true(any(grepl("Trainable params: 10 ", out, fixed = TRUE)))
  expect_true(any(grepl("Non-trainable params: 10 ", out, fixed = TRUE)))
})

test_that("composition: symbolic input with an unknown channel size is an error", {
  inputs <- keras_input(shape = c(4, NA))
  bn <- layer_batch_normalization()
  expect_error(inputs |> bn(), class = "normlayers_error_shape")
  expect_false(bn$built)
  # channels known on axis 2
  out <- inputs |> layer_batch_normalization(axis = 2)
  expect_equal(out$shape, c(NA_integer_, 4L, NA_integer_))
})

test_that("invalid constructor arguments are classed errors", {
  expect_error(layer_batch_normalization(momentum = -0.1), class = "normlayers_error_value")
  expect_error(layer_batch_normalization(momentum = 1.5), class = "normlayers_error_value")
  expect_error(layer_batch_normalization(momentum = NA), class = "normlayers_error_value")
  expect_error(layer_batch_normalization(epsilon = -1e-3), class = "normlayers_error_value")
  expect_error(layer_batch_normalization(axis = 0), class = "normlayers_error_axis")
  expect_error(layer_batch_normalization(axis = c(2, 3)), class = "normlayers_error_axis")
  expect_error(layer_batch_normalization(axis = 1.5), class = "normlayers_error_axis")
  expect_error(layer_batch_normalization(axis = "a"), class = "normlayers_error_axis")
  expect_error(layer_batch_normalization(center = NA), class = "normlayers_error_value")
  expect_error(layer_batch_normalization(scale = "yes"), class = "normlayers_error_value")
  expect_error(layer_batch_normalization(trainable = 1), class = "normlayers_error_value")
  expect_error(layer_batch_normalization(synchronized = TRUE), class = "normlayers_error_value")
  expect_error(layer_batch_normalization(renorm = NA), class = "normlayers_error_value")
  expect_error(layer_batch_normalization(renorm = TRUE, renorm_clipping = list(rmaxx = 3)),
               class = "normlayers_error_value")
  expect_error(layer_batch_normalization(renorm = TRUE, renorm_clipping = list(rmax = 1, rmin = 2)),
               class = "normlayers_error_value")
  expect_error(layer_batch_normalization(renorm = TRUE, renorm_clipping = list(dmax = -1)),
               class = "normlayers_error_value")
  expect_error(layer_batch_normalization(renorm = TRUE, renorm_clipping = list(3)),
               class = "normlayers_error_value")
  expect_error(layer_batch_normalization(renorm = TRUE, renorm_clipping = "rmax"),
               class = "normlayers_error_value")
  expect_error(layer_batch_normalization(renorm_momentum = 2), class = "normlayers_error_value")
  expect_error(layer_batch_normalization(foo = 1), class = "normlayers_error_argument")
  expect_error(layer_batch_normalization(name = ""), class = "normlayers_error_name")
  # the errors report the user's call
  err <- tryCatch(layer_batch_normalization(epsilon = -1), error = identity)
  expect_match(conditionMessage(err), "epsilon")
  expect_s3_class(err, "normlayers_error")
  # these are accepted
  expect_s3_class(layer_batch_normalization(momentum = 0, epsilon = 0), "nl_layer")
  expect_s3_class(layer_batch_normalization(momentum = 1, dtype = "float32"), "nl_layer")
  expect_s3_class(layer_batch_normalization(synchronized = FALSE), "nl_layer")
})

test_that("an out-of-range axis is a classed error that leaves the layer unbuilt", {
  bn <- layer_batch_normalization(axis = 3)
  x <- bn_x43()
  expect_error(bn(x), class = "normlayers_error_axis")
  expect_error(bn(x, training = TRUE), class = "normlayers_error_axis")
  expect_false(bn$built)
  expect_length(bn$weights, 0)
  expect_error(layer_batch_normalization(x, axis = -3), class = "normlayers_error_axis")
  # the same layer works on a rank-3 input afterwards
  a <- array(rnorm(24), c(2, 3, 4))
  expect_equal(dim(bn(a)), c(2L, 3L, 4L))
  expect_equal(length(bn$moving_mean), 4L)
})

test_that("a channel mismatch on a built layer changes nothing", {
  x <- bn_x43()
  bn <- layer_batch_normalization()
  bn(x, training = TRUE)
  before <- get_weights(bn)
  expect_error(bn(cbind(x, 1), training = TRUE), class = "normlayers_error_shape")
  expect_error(bn(array(1, c(4, 3, 2)), training = TRUE), class = "normlayers_error_shape")
  expect_identical(get_weights(bn), before)
  # another batch size is fine
  bn(x[1:2, ], training = TRUE)
  expect_false(identical(get_weights(bn), before))
})

test_that("set_weights() with wrong shapes is a classed error that changes nothing", {
  x <- bn_x43()
  bn <- layer_batch_normalization()
  bn(x, training = TRUE)
  before <- get_weights(bn)
  expect_error(set_weights(bn, list(1:3, 1:3, 1:3)), class = "normlayers_error_weights")
  expect_error(set_weights(bn, list(1:3, 1:3, 1:3, 1:4)), class = "normlayers_error_weights")
  expect_error(set_weights(bn, list(1:3, 1:3, 1:3, matrix(1, 3, 2))),
               class = "normlayers_error_weights")
  expect_error(set_weights(bn, list(1:3, 1:3, 1:3, letters[1:3])),
               class = "normlayers_error_weights")
  expect_identical(get_weights(bn), before)
})

test_that("get/set weights round trip and moving statistics are read back", {
  x <- bn_x43()
  bn <- layer_batch_normalization()
  bn(x)
  w <- list(c(1, 2, 3), c(0.5, 0, -0.5), c(5.5, 9, 11), c(11.25, 35, 39.5))
  set_weights(bn, w)
  expect_equal(get_weights(bn), w)
  expect_equal(bn$gamma, c(1, 2, 3))
  expect_equal(bn$beta, c(0.5, 0, -0.5))
  expect_equal(bn$moving_mean, c(5.5, 9, 11))
  expect_equal(bn$moving_variance, c(11.25, 35, 39.5))
  # inference with the batch's statistics equals the training output
  y_inf <- bn(x)
  y_tr <- bn_ref_train(x, 2, c(1, 2, 3), c(0.5, 0, -0.5))
  expect_equal(y_inf, y_tr, tolerance = 1e-12)
  expect_equal(get_weights(bn, trainable = FALSE), w[3:4])
  bn2 <- layer_batch_normalization()
  bn2(x)
  set_weights(bn2, get_weights(bn))
  expect_identical(bn2(x), bn(x))
})

test_that("a one-row input works in inference and in training", {
  bn <- layer_batch_normalization()
  x1 <- matrix(c(1, 2, 3), 1)
  expect_equal(bn(x1), x1 / sqrt(1.001), tolerance = 1e-14)
  set_weights(bn, list(c(1, 1, 1), c(0.1, 0.2, 0.3), c(0, 0, 0), c(1, 1, 1)))
  y <- bn(x1, training = TRUE)
  # zero batch variance: the output is beta
  expect_equal(y, matrix(c(0.1, 0.2, 0.3), 1), tolerance = 1e-14)
  expect_equal(bn$moving_mean, c(0.01, 0.02, 0.03), tolerance = 1e-14)
  expect_equal(bn$moving_variance, c(0.99, 0.99, 0.99), tolerance = 1e-14)
})

test_that("containers are kept: data frames and dimnames", {
  x <- bn_x43()
  df <- as.data.frame(x)
  names(df) <- c("a", "b", "c")
  y <- layer_batch_normalization(df)
  expect_s3_class(y, "data.frame")
  expect_named(y, c("a", "b", "c"))
  expect_equal(unname(as.matrix(y)), x / sqrt(1.001), tolerance = 1e-14)
  dimnames(x) <- list(NULL, c("a", "b", "c"))
  expect_identical(dimnames(layer_batch_normalization(x)), dimnames(x))
  xi <- matrix(1:6, 2)
  expect_equal(layer_batch_normalization(xi), xi / sqrt(1.001), tolerance = 1e-14)
})

test_that("saveRDS()/readRDS() round trip gives identical output", {
  x <- bn_x43()
  bn <- layer_batch_normalization(momentum = 0.9)
  bn(x, training = TRUE)
  path <- tempfile(fileext = ".rds")
  on.exit(unlink(path))
  saveRDS(bn, path)
  bn2 <- readRDS(path)
  expect_identical(bn2(x), bn(x))
  expect_identical(get_weights(bn2), get_weights(bn))
  expect_equal(bn2$momentum, 0.9)
  # the copy is independent
  bn2(x * 3, training = TRUE)
  expect_false(identical(bn2$moving_mean, bn$moving_mean))
  expect_identical(bn2(x, training = TRUE), bn(x, training = TRUE))
})

test_that("get_config() has the Keras keys and from_config() rebuilds the layer", {
  bn <- layer_batch_normalization(axis = 2, momentum = 0.9, epsilon = 1e-5, center = FALSE,
                                  renorm = TRUE, renorm_clipping = list(rmax = 3),
                                  renorm_momentum = 0.5, name = "bn_cfg")
  cfg <- get_config(bn)
  expect_equal(attr(cfg, "__class__"), "BatchNormalization")
  expect_equal(names(cfg),
               c("name", "trainable", "dtype", "axis", "momentum", "epsilon", "center",
                 "scale", "beta_initializer", "gamma_initializer", "moving_mean_initializer",
                 "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
                 "beta_constraint", "gamma_constraint", "synchronized", "renorm",
                 "renorm_clipping", "renorm_momentum"))
  expect_equal(cfg$axis, 2L)
  expect_equal(cfg$momentum, 0.9)
  expect_equal(cfg$epsilon, 1e-5)
  expect_false(cfg$center)
  expect_false(cfg$synchronized)
  expect_true(cfg$renorm)
  expect_equal(cfg$renorm_clipping, list(rmax = 3))
  expect_equal(cfg$renorm_momentum, 0.5)
  expect_null(cfg$beta_regularizer)
  expect_null(cfg$gamma_constraint)
  expect_equal(tolower(cfg$gamma_initializer$class_name), "ones")
  expect_equal(tolower(cfg$moving_variance_initializer$class_name), "ones")
  expect_equal(tolower(cfg$moving_mean_initializer$class_name), "zeros")
  cfg$name <- "bn_cfg2"
  bn2 <- from_config(cfg)
  expect_s3_class(bn2, "nl_batch_normalization")
  cfg2 <- get_config(bn2)
  expect_equal(cfg2$name, "bn_cfg2")
  plain <- c("trainable", "axis", "momentum", "epsilon", "center", "scale", "synchronized",
             "renorm", "renorm_clipping", "renorm_momentum", "beta_regularizer")
  expect_equal(cfg2[plain], cfg[plain])
  if (bn_real_families()) {
    expect_equal(cfg$gamma_initializer$class_name, "Ones")
    expect_equal(cfg2[-1], cfg[-1])
  }
  x <- array(rnorm(24), c(2, 3, 4))
  expect_equal(bn2(x, training = TRUE), bn(x, training = TRUE))
  # renorm = TRUE without clipping stores an empty list, renorm = FALSE stores NULL
  expect_equal(get_config(layer_batch_normalization(renorm = TRUE))$renorm_clipping, list())
  expect_null(get_config(layer_batch_normalization())$renorm_clipping)
})

test_that("print shows the key arguments and weights", {
  bn <- layer_batch_normalization(momentum = 0.9, name = "bn_print")
  expect_output(print(bn), "<BatchNormalization name=bn_print, built=FALSE>", fixed = TRUE)
  expect_output(print(bn), "axis: -1, momentum: 0.9, epsilon: 0.001, center: TRUE, scale: TRUE",
                fixed = TRUE)
  bn(bn_x43())
  expect_output(print(bn), "gamma (3,), beta (3,), moving_mean (3,), moving_variance (3,)",
                fixed = TRUE)
})

# ---- backward ---------------------------------------------------------------

# sum(y * w) as a function of one of (x, gamma, beta), the layer's weights
# restored after each evaluation.
bn_loss_fn <- function(layer, x, w, training, what) {
  st <- nl_state(layer)
  function(v) {
    saved <- st$weights
    on.exit(st$weights <- saved)
    xx <- x
    if (what == "x") xx[] <- v else st$weights[[what]] <- v
    sum(nl_layer_forward(layer, xx, training)$output * w)
  }
}

bn_check_grads <- function(layer, x, training, tol = 1e-6) {
  st <- nl_state(layer)
  nl_layer_prepare(layer, dim(x))
  saved <- st$weights
  fwd <- nl_layer_forward(layer, x, training)
  st$weights <- saved
  set.seed(7)
  w <- array(rnorm(length(x)), dim(x))
  bwd <- nl_layer_backward(layer, fwd$cache, w)
  expect_identical(dim(bwd$dx), dim(x))
  num_dx <- numeric_gradient(bn_loss_fn(layer, x, w, training, "x"), as.vector(x))
  expect_equal(as.vector(bwd$dx), num_dx, tolerance = tol)
  for (nm in c("gamma", "beta")) {
    if (is.null(st$weights[[nm]])) {
      expect_null(bwd$grads[[nm]])
      next
    }
    num <- numeric_gradient(bn_loss_fn(layer, x, w, training, nm), st$weights[[nm]])
    expect_equal(bwd$grads[[nm]], num, tolerance = tol, label = nm)
  }
  invisible(bwd)
}

test_that("backward in training mode matches finite differences", {
  set.seed(1)
  x <- array(rnorm(5 * 3 * 2, 1, 2), c(5, 3, 2))
  bn <- layer_batch_normalization(axis = 2)
  nl_layer_prepare(bn, dim(x))
  set_weights(bn, list(c(1.5, -0.5, 2), c(0.1, 0.2, 0.3), c(1, 2, 3), c(2, 3, 4)))
  bwd <- bn_check_grads(bn, x, TRUE)
  expect_named(bwd$grads, c("gamma", "beta"))
  # the training-mode dx sums to zero per channel (mean is subtracted)
  expect_equal(apply(bwd$dx, 2, sum), c(0, 0, 0), tolerance = 1e-10)
  bn2 <- layer_batch_normalization(center = FALSE)
  bn_check_grads(bn2, x, TRUE)
})

test_that("backward in inference mode matches finite differences", {
  set.seed(2)
  x <- matrix(rnorm(12), 4)
  bn <- layer_batch_normalization()
  nl_layer_prepare(bn, dim(x))
  set_weights(bn, list(c(1.5, -0.5, 2), c(0.1, 0.2, 0.3), c(1, 2, 3), c(2, 3, 4)))
  bwd <- bn_check_grads(bn, x, FALSE)
  # inference: dx = w * gamma / sqrt(moving_variance + eps)
  set.seed(7)
  w <- matrix(rnorm(12), 4)  # the weights bn_check_grads() used
  expect_equal(bwd$dx, sweep(w, 2, c(1.5, -0.5, 2) / sqrt(c(2, 3, 4) + 1e-3), "*"),
               tolerance = 1e-12)
  # a frozen layer called with training = TRUE is in inference mode
  bn$trainable <- FALSE
  bwd2 <- bn_check_grads(bn, x, TRUE)
  expect_equal(bwd2$dx, bwd$dx, tolerance = 1e-14)
  bn3 <- layer_batch_normalization(scale = FALSE, axis = 1)
  bn_check_grads(bn3, x, FALSE)
})

test_that("backward with renorm treats r and d as constants", {
  set.seed(3)
  x <- matrix(rnorm(15, 2, 3), 5)
  for (clip in list(NULL, list(rmax = 1.5, rmin = 0.8, dmax = 0.3))) {
    bn <- layer_batch_normalization(renorm = TRUE, renorm_clipping = clip)
    nl_layer_prepare(bn, dim(x))
    st <- nl_state(bn)
    st$weights$gamma <- c(1.5, -0.5, 2)
    st$weights$beta <- c(0.1, 0.2, 0.3)
    st$weights$renorm_mean <- c(1, 2, 3)
    st$weights$renorm_stddev <- c(2, 3, 4)
    saved <- st$weights
    fwd <- nl_layer_forward(bn, x, TRUE)
    st$weights <- saved
    w <- matrix(rnorm(15), 5)
    bwd <- nl_layer_backward(bn, fwd$cache, w)
    # gamma and beta do not enter r or d: finite differences are exact
    for (nm in c("gamma", "beta")) {
      num <- numeric_gradient(bn_loss_fn(bn, x, w, TRUE, nm), saved[[nm]])
      expect_equal(bwd$grads[[nm]], num, tolerance = 1e-6, label = nm)
    }
    # dx: with r and d frozen, y is batch norm with gamma' = r gamma, beta' = d gamma + beta
    r <- fwd$cache$r
    d <- fwd$cache$d
    f <- function(v) {
      xx <- matrix(v, 5)
      sum(bn_ref_train(xx, 2, r * saved$gamma, d * saved$gamma + saved$beta) * w)
    }
    expect_equal(as.vector(bwd$dx), numeric_gradient(f, as.vector(x)), tolerance = 1e-6)
    if (!is.null(clip)) {
      expect_true(all(r >= 0.8 & r <= 1.5))
      expect_true(all(abs(d) <= 0.3))
      expect_true(any(r %in% c(0.8, 1.5)) || any(abs(d) == 0.3))
    }
  }
})

test_that("masked batch statistics follow Keras (spec 14.3)", {
  # 10 sequences x 4 steps x 2 features; steps 3 and 4 masked out
  x <- array(99, c(10, 4, 2))
  x[, 1, ] <- rep(c(1, 5), each = 10)
  x[, 2, ] <- rep(c(2, 5), each = 10)
  m <- matrix(c(TRUE, TRUE, FALSE, FALSE), 10, 4, byrow = TRUE)
  bn <- layer_batch_normalization(momentum = 0)
  y <- bn(x, training = TRUE, mask = m)
  expect_equal(bn$moving_mean, c(1.5, 5), tolerance = 1e-7)
  expect_equal(bn$moving_variance, c(0.25, 0), tolerance = 1e-7)
  # every position, masked ones too, is normalized with the masked statistics
  mu <- 30 / (20 + 1e-7)
  v <- (10 * (1 - mu)^2 + 10 * (2 - mu)^2) / (20 + 1e-7)
  expect_equal(y[, , 1], (x[, , 1] - mu) / sqrt(v + 1e-3), tolerance = 1e-12)
  # a 0/1 numeric mask is the same as a logical one
  bn2 <- layer_batch_normalization(momentum = 0)
  expect_identical(bn2(x, training = TRUE, mask = m * 1), y)
})

test_that("masked moments match a weighted reference on random data and axes", {
  set.seed(5)
  for (axis in c(-1L, 2L)) {
    x <- array(rnorm(5 * 3 * 4, 2, 3), c(5, 3, 4))
    m <- array(runif(5 * 3) > 0.4, c(5, 3))
    bn <- layer_batch_normalization(axis = axis, momentum = 0, epsilon = 1e-3)
    y <- bn(x, training = TRUE, mask = m)
    ax <- if (axis < 0) 3L else axis
    W <- array(rep(as.double(m), times = 4), dim(x))
    n <- apply(W, ax, sum)
    mu <- apply(W * x, ax, sum) / (n + 1e-7)
    dev <- sweep(x, ax, mu)
    v <- apply(W * dev^2, ax, sum) / (n + 1e-7)
    expect_equal(bn$moving_mean, mu, tolerance = 1e-12)
    expect_equal(bn$moving_variance, v, tolerance = 1e-12)
    expect_equal(y, sweep(dev, ax, sqrt(v + 1e-3), "/"), tolerance = 1e-12)
  }
  # an all-ones mask gives the unmasked statistics up to the 1e-7 in the count
  x <- matrix(rnorm(40), 10)
  a <- layer_batch_normalization(momentum = 0)
  b <- layer_batch_normalization(momentum = 0)
  expect_equal(a(x, training = TRUE, mask = rep(TRUE, 10)), b(x, training = TRUE),
               tolerance = 1e-7)
  expect_equal(a$moving_variance, b$moving_variance, tolerance = 1e-7)
})

test_that("masks are validated and leave the layer unchanged on error", {
  x <- array(rnorm(24), c(2, 3, 4))
  bn <- layer_batch_normalization()
  bn(x)
  before <- get_weights(bn)
  expect_error(bn(x, training = TRUE, mask = matrix(TRUE, 2, 4)), class = "normlayers_error_shape")
  expect_snapshot(bn(x, training = TRUE, mask = matrix(TRUE, 3, 3)), error = TRUE)
  expect_error(bn(x, training = TRUE, mask = matrix(NA, 2, 3)), class = "normlayers_error_type")
  expect_error(bn(x, training = TRUE, mask = matrix("a", 2, 3)), class = "normlayers_error_type")
  expect_identical(get_weights(bn), before)
  # inference ignores the mask
  expect_identical(bn(x, mask = matrix(c(TRUE, FALSE), 2, 3)), bn(x))
  # masks only in direct calls on arrays
  inp <- keras_input(shape = c(3, 4))
  expect_error(bn(inp, mask = matrix(TRUE, 2, 3)), class = "normlayers_error_argument")
  model <- keras_model_sequential(input_shape = c(3, 4)) |> layer_batch_normalization()
  expect_error(model(x, mask = matrix(TRUE, 2, 3)), class = "normlayers_error_argument")
  expect_error(bn(x, masks = 1), class = "normlayers_error_argument")
  # other layers accept and ignore a mask, as in Keras
  ln <- layer_layer_normalization()
  expect_identical(ln(x, mask = matrix(TRUE, 2, 3)), ln(x))
  # no gradients through masked statistics
  fw <- nl_bn_forward(bn, x, TRUE, mask = matrix(TRUE, 2, 3))
  expect_error(nl_layer_backward(bn, fw$cache, x), class = "normlayers_error_state")
})

test_that("a training call allocates about its output (dim<- does not copy it)", {
  skip_without_memory_profiling()
  x <- matrix(rnorm(5e4 * 8), 5e4, 8)
  bn <- layer_batch_normalization()
  bn(x[1:4, ], training = TRUE)
  mem <- as.numeric(sum(bench::bench_memory(bn(x, training = TRUE))$mem_alloc))
  expect_lt(mem, 1.2 * 8 * length(x))
})

test_that("training on a 0-row batch gives 0 rows and keeps the moving statistics", {
  bn <- layer_batch_normalization()
  bn(matrix(c(1, 2, 3, 4, 5, 6), 2), training = TRUE)
  before <- get_weights(bn)
  y <- bn(matrix(numeric(0), 0, 3), training = TRUE)
  expect_identical(dim(y), c(0L, 3L))
  expect_identical(get_weights(bn), before)
  expect_false(anyNA(bn$moving_mean))
  # an unbuilt layer builds and keeps its initial moving statistics
  fresh <- layer_batch_normalization()
  y <- fresh(array(numeric(0), c(0, 2, 3)), training = TRUE)
  expect_identical(dim(y), c(0L, 2L, 3L))
  expect_identical(fresh$moving_mean, c(0, 0, 0))
  expect_identical(fresh$moving_variance, c(1, 1, 1))
  # renorm and a mask too
  rn <- layer_batch_normalization(renorm = TRUE)
  rn(matrix(1:6, 2), training = TRUE)
  w0 <- get_weights(rn)
  rn(matrix(numeric(0), 0, 3), training = TRUE)
  expect_identical(get_weights(rn), w0)
  bn(matrix(numeric(0), 0, 3), training = TRUE, mask = logical(0))
  expect_identical(get_weights(bn), before)
  # the backward pass of an empty batch has zero gradients
  out <- nl_layer_forward(bn, matrix(numeric(0), 0, 3), TRUE)
  g <- nl_layer_backward(bn, out$cache, matrix(numeric(0), 0, 3))
  expect_identical(dim(g$dx), c(0L, 3L))
  expect_equal(g$grads$gamma, c(0, 0, 0))
  expect_equal(g$grads$beta, c(0, 0, 0))
})
