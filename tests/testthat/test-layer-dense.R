test_that("dense computes x %*% kernel + bias with kernel on the last axis", {
  set.seed(1)
  layer <- layer_dense(units = 3)
  x <- matrix(rnorm(8), 2, 4)
  layer(x)
  randomize_weights(layer)
  y <- layer(x)
  expect_equal(dim(layer$kernel), c(4L, 3L))
  expect_length(layer$bias, 3)
  expect_equal(y, x %*% layer$kernel + rep(layer$bias, each = 2))
  expect_equal(count_params(layer), 15L)
  expect_equal(sub(".*/", "", names(layer$weights)), c("kernel", "bias"))
})

test_that("dense on a rank-3 input applies on the last axis", {
  set.seed(2)
  layer <- layer_dense(units = 2, activation = "tanh", use_bias = FALSE)
  a <- random_array(c(3, 4, 5))
  layer(a)
  randomize_weights(layer)
  y <- layer(a)
  expect_equal(dim(y), c(3L, 4L, 2L))
  expect_equal(y[2, 3, ], tanh(drop(a[2, 3, ] %*% layer$kernel)))
  expect_null(layer$bias)
})

test_that("dense backward passes match finite differences", {
  set.seed(3)
  for (act in c("linear", "relu", "sigmoid", "tanh", "softmax")) {
    for (d in list(c(4, 3), c(2, 3, 4), c(2, 2, 1, 3))) {
      for (use_bias in c(TRUE, FALSE)) {
        layer <- layer_dense(units = sample(1:4, 1), activation = act, use_bias = use_bias)
        x <- random_array(d)
        layer(x)
        randomize_weights(layer)
        expect_layer_gradients(layer, x)
      }
    }
  }
})

test_that("dense infers shapes and builds inside models", {
  model <- keras_model_sequential(input_shape = c(5, 3)) |> layer_dense(4)
  expect_equal(model$layers[[1]]$output_shape, c(NA, 5L, 4L))
  inputs <- keras_input(shape = 3)
  out <- inputs |> layer_dense(2)
  expect_equal(out$shape, c(NA, 2L))
})

test_that("input_shape through ... warns like Keras and builds the layer", {
  expect_warning(layer <- layer_dense(units = 2, input_shape = 3),
                 class = "normlayers_warning")
  expect_true(layer$built)
  expect_equal(dim(layer$kernel), c(3L, 2L))
})

test_that("dense config round-trips", {
  layer <- layer_dense(units = 3, activation = "relu", use_bias = FALSE, name = "d3")
  cfg <- get_config(layer)
  expect_equal(cfg$units, 3L)
  expect_equal(cfg$activation, "relu")
  expect_false(cfg$use_bias)
  expect_equal(attr(cfg, "__class__"), "Dense")
  cfg$name <- "d3_copy"
  layer2 <- from_config(cfg)
  expect_s3_class(layer2, "nl_dense")
  expect_equal(layer2$units, 3L)
})

test_that("bad dense arguments and inputs error with a class and change nothing", {
  expect_error(layer_dense(units = 0), class = "normlayers_error_value")
  expect_error(layer_dense(units = 2.5), class = "normlayers_error_value")
  expect_error(layer_dense(), class = "normlayers_error_missing")
  expect_error(layer_dense(units = 2, activation = "nope"), class = "normlayers_error_value")
  expect_error(layer_dense(units = 2, foo = 1), class = "normlayers_error")
  layer <- layer_dense(units = 2)
  expect_error(layer(c(1, 2, 3)), class = "normlayers_error_shape")
  expect_false(layer$built)
  layer(matrix(1, 2, 3))
  w <- get_weights(layer)
  expect_error(layer(matrix(1, 2, 4)), class = "normlayers_error_shape")
  expect_identical(get_weights(layer), w)
})

# Pure-R oracle of Dense (the code before the C++ kernel).
dense_oracle <- function(x, kernel, bias, act, dy) {
  d <- dim(x)
  r <- length(d)
  xm <- matrix(x, prod(d[-r]), d[r])
  z <- xm %*% kernel
  if (!is.null(bias)) z <- z + rep(bias, each = nrow(z))
  y <- nl_activations[[act]]$forward(z)
  dz <- nl_activations[[act]]$backward(z, y, matrix(dy, nrow(z)))
  list(y = array(y, c(d[-r], ncol(kernel))),
       dx = array(tcrossprod(dz, kernel), d),
       kernel = crossprod(xm, dz), bias = colSums(dz))
}

test_that("the C++ Dense kernel matches the R oracle to the last bits", {
  set.seed(31)
  for (act in c("linear", "relu", "sigmoid", "tanh", "softmax")) {
    for (d in list(c(7, 3), c(2, 3, 4), c(1, 5), c(3, 1, 2, 6))) {
      for (use_bias in c(TRUE, FALSE)) {
        layer <- layer_dense(units = sample(1:5, 1), activation = act, use_bias = use_bias)
        x <- random_array(d)
        layer(x)
        randomize_weights(layer)
        fw <- nl_layer_forward(layer, x, TRUE)
        dy <- random_array(dim(fw$output))
        bw <- nl_layer_backward(layer, fw$cache, dy)
        ref <- dense_oracle(x, layer$kernel, layer$bias, act, dy)
        expect_equal(fw$output, ref$y, tolerance = 1e-14)
        expect_equal(bw$dx, ref$dx, tolerance = 1e-14)
        expect_equal(bw$grads$kernel, ref$kernel, tolerance = 1e-14)
        if (use_bias) expect_equal(bw$grads$bias, ref$bias, tolerance = 1e-14)
        else expect_null(bw$grads$bias)
      }
    }
  }
})

test_that("a Dense call allocates about its output", {
  skip_without_memory_profiling()
  set.seed(32)
  x <- matrix(rnorm(2e4 * 16), 2e4, 16)
  for (act in c("linear", "relu", "sigmoid", "softmax")) {
    layer <- layer_dense(units = 16, activation = act)
    layer(x[1:2, ])
    out_bytes <- 8 * length(x)
    mem <- sum(bench::bench_memory(layer(x))$mem_alloc)
    expect_lt(as.numeric(mem), 1.2 * out_bytes)
    mem_fw <- sum(bench::bench_memory(nl_layer_forward(layer, x, TRUE))$mem_alloc)
    expect_lt(as.numeric(mem_fw), 1.2 * out_bytes)
  }
})

test_that("the first layer of a step computes no input gradient", {
  set.seed(33)
  layer <- layer_dense(units = 2)
  x <- matrix(rnorm(6), 3, 2)
  layer(x)
  fw <- nl_layer_forward(layer, x, TRUE)
  fw$cache$skip_dx <- TRUE
  bw <- nl_layer_backward(layer, fw$cache, matrix(1, 3, 2))
  expect_null(bw$dx)
  expect_equal(dim(bw$grads$kernel), c(2L, 2L))
})

test_that("activity_regularizer adds its penalty on the output to the loss, with its gradient", {
  set.seed(34)
  x <- matrix(rnorm(40), 10, 4)
  y <- rnorm(10)
  make <- function(areg) {
    set.seed(35)
    m <- keras_model_sequential(input_shape = 4) |>
      layer_dense(3, activation = "tanh", activity_regularizer = areg) |>
      layer_dense(1)
    compile(m, optimizer = optimizer_sgd(0.1), loss = "mse")
    m
  }
  m0 <- make(NULL)
  m1 <- make(regularizer_l2(0.05))
  w0 <- get_weights(m1)
  h <- tanh(x %*% w0[[1]] + rep(w0[[2]], each = 10))
  pred <- h %*% w0[[3]] + w0[[4]]
  expect_equal(evaluate(m1, x, y, batch_size = 10)$loss,
               mean((pred - y)^2) + 0.05 * sum(h^2), tolerance = 1e-12)
  expect_equal(evaluate(m0, x, y, batch_size = 10)$loss, mean((pred - y)^2), tolerance = 1e-12)
  # One full-batch SGD step against the analytic gradient.
  fit(m1, x, y, batch_size = 10, epochs = 1, shuffle = FALSE, verbose = 0)
  dp <- 2 * (pred - y) / 10
  dh <- dp %*% t(w0[[3]]) + 2 * 0.05 * h
  dz <- dh * (1 - h^2)
  expect_equal(get_weights(m1)[[1]], w0[[1]] - 0.1 * crossprod(x, dz), tolerance = 1e-12)
  expect_equal(get_weights(m1)[[3]], w0[[3]] - 0.1 * crossprod(h, dp), tolerance = 1e-12)
  # Direct calls are unaffected; the config round-trips.
  expect_equal(m1$layers[[1]](x), tanh(x %*% get_weights(m1)[[1]] + rep(get_weights(m1)[[2]], each = 10)))
  cfg <- get_config(m1$layers[[1]])
  expect_identical(cfg$activity_regularizer$class_name, "L2")
  cfg$name <- "copy"
  expect_s3_class(from_config(cfg)$activity_regularizer, "nl_regularizer")
  expect_error(layer_dense(units = 2, activity_regularizer = "nope"), class = "normlayers_error")
})
