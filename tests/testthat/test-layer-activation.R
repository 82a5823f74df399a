test_that("activations compute the Keras formulas", {
  x <- rbind(c(-1, 0, 2), c(3, -4, 5))
  expect_equal(layer_activation(x, "relu"), pmax(x, 0))
  expect_equal(layer_activation(x, "sigmoid"), 1 / (1 + exp(-x)))
  expect_equal(layer_activation(x, "tanh"), tanh(x))
  expect_equal(layer_activation(x, "linear"), x)
  expect_equal(layer_activation(x, NULL), x)
  sm <- layer_activation(x, "softmax")
  expect_equal(sm, exp(x) / rowSums(exp(x)))
  expect_equal(rowSums(sm), c(1, 1))
})

test_that("softmax works over the last axis of higher-rank inputs and is stable", {
  a <- array(rnorm(24), c(2, 3, 4))
  y <- layer_activation(a, "softmax")
  expect_equal(apply(y, c(1, 2), sum), matrix(1, 2, 3))
  expect_equal(y[2, 3, ], exp(a[2, 3, ]) / sum(exp(a[2, 3, ])))
  big <- matrix(c(1000, 1001, 1002), 1)
  expect_false(anyNA(layer_activation(big, "softmax")))
})

test_that("activation backward passes match finite differences", {
  set.seed(42)
  for (act in c("relu", "sigmoid", "tanh", "softmax", "linear")) {
    for (d in list(c(3, 4), c(2, 3, 5), c(4, 1, 2, 3))) {
      layer <- layer_activation(activation = act)
      expect_layer_gradients(layer, random_array(d))
    }
  }
})

test_that("the Activation layer has a config and prints", {
  layer <- layer_activation(activation = "tanh", name = "act")
  expect_equal(get_config(layer)$activation, "tanh")
  expect_equal(layer$name, "act")
  expect_s3_class(from_config(get_config(layer)), "nl_activation")
  expect_output(print(layer), "Activation")
})

test_that("bad activations error with a class", {
  expect_error(layer_activation(activation = "swishy"), class = "normlayers_error_value")
  expect_error(layer_activation(activation = 3), class = "normlayers_error_value")
  expect_error(layer_activation(), class = "normlayers_error_missing")
  expect_error(layer_activation(activation = "relu", units = 3), class = "normlayers_error")
})

test_that("the other activations Keras writes by name follow Keras 3's formulas", {
  x <- rbind(c(-7, -2.5, -0.3, 0.4), c(1.2, 3.5, 6.5, -1))
  sp <- log(1 + exp(x))
  sig <- 1 / (1 + exp(-x))
  expected <- list(
    elu = ifelse(x > 0, x, exp(x) - 1),
    selu = 1.0507009873554805 * ifelse(x > 0, x, 1.6732632423543772 * (exp(x) - 1)),
    gelu = 0.5 * x * (1 + (2 * pnorm((x / sqrt(2)) * sqrt(2)) - 1)),  # erf(u) = 2 pnorm(u sqrt(2)) - 1
    silu = x * sig, swish = x * sig,
    leaky_relu = ifelse(x > 0, x, 0.2 * x),
    softplus = sp, softsign = x / (1 + abs(x)), exponential = exp(x),
    hard_sigmoid = pmin(pmax(x / 6 + 0.5, 0), 1),
    hard_silu = x * pmin(pmax(x / 6 + 0.5, 0), 1), hard_swish = x * pmin(pmax(x / 6 + 0.5, 0), 1),
    relu6 = pmin(pmax(x, 0), 6), mish = x * tanh(sp), log_sigmoid = log(sig),
    log_softmax = log(exp(x) / rowSums(exp(x))), hard_tanh = pmin(pmax(x, -1), 1),
    tanh_shrink = x - tanh(x)
  )
  for (act in names(expected)) {
    expect_equal(layer_activation(x, act), expected[[act]], tolerance = 1e-12, label = act)
  }
  # stable for large inputs
  big <- matrix(c(-800, 800), 1)
  for (act in c("softplus", "mish", "log_sigmoid", "log_softmax", "silu")) {
    expect_false(anyNA(layer_activation(big, act)), label = act)
  }
})

test_that("the backward passes of the added activations match finite differences", {
  set.seed(43)
  for (act in c("elu", "selu", "gelu", "silu", "leaky_relu", "softplus", "softsign", "exponential",
                "hard_sigmoid", "hard_silu", "relu6", "mish", "log_sigmoid", "log_softmax",
                "hard_tanh", "tanh_shrink")) {
    layer <- layer_activation(activation = act)
    expect_layer_gradients(layer, random_array(c(3, 4)))
  }
})

test_that("the C++ activations match the R formulas and keep dim", {
  set.seed(41)
  for (d in list(c(5, 3), c(2, 3, 4), 7)) {
    x <- if (length(d) == 1) as.array(rnorm(d)) else random_array(d)
    x[1] <- 0
    dy <- x
    dy[] <- rnorm(length(x))
    for (act in c("relu", "sigmoid", "tanh", "softmax")) {
      if (act == "softmax" && length(d) == 1) next
      y <- nl_activation_forward(act, x)
      expect_identical(dim(y), dim(x))
      expect_equal(y, nl_activations[[act]]$forward(x), tolerance = 1e-15)
      expect_equal(nl_activation_backward(act, x, y, dy),
                   nl_activations[[act]]$backward(x, y, dy), tolerance = 1e-15)
    }
  }
  expect_identical(nl_activation_forward("relu", c(-1, NaN, 2)), c(0, NaN, 2))
})

test_that("an activation call allocates about its output", {
  skip_without_memory_profiling()
  x <- matrix(rnorm(1e5), 1e4, 10)
  for (act in c("relu", "sigmoid", "tanh", "softmax")) {
    layer <- layer_activation(activation = act)
    mem <- sum(bench::bench_memory(layer(x))$mem_alloc)
    expect_lt(as.numeric(mem), 1.2 * 8 * length(x))
  }
})
