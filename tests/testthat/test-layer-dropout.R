test_that("dropout is the identity in inference", {
  x <- matrix(rnorm(20), 4, 5)
  drop <- layer_dropout(rate = 0.5)
  expect_identical(drop(x), x)
  expect_identical(drop(x, training = FALSE), x)
})

test_that("dropout in training zeroes values and scales the rest by 1 / (1 - rate)", {
  set.seed(1)
  x <- matrix(1, 200, 50)
  y <- layer_dropout(rate = 0.3)(x, training = TRUE)
  vals <- unique(as.vector(y))
  expect_setequal(round(vals, 10), round(c(0, 1 / 0.7), 10))
  expect_equal(mean(y == 0), 0.3, tolerance = 0.02)
  expect_equal(mean(y), 1, tolerance = 0.03)
  expect_identical(layer_dropout(rate = 0)(x, training = TRUE), x)
})

test_that("set.seed reproduces masks; a layer seed keeps its own stream", {
  x <- matrix(1, 5, 6)
  d1 <- layer_dropout(rate = 0.5)
  set.seed(9); a <- d1(x, training = TRUE)
  set.seed(9); b <- d1(x, training = TRUE)
  expect_identical(a, b)

  s1 <- layer_dropout(rate = 0.5, seed = 7)
  s2 <- layer_dropout(rate = 0.5, seed = 7)
  set.seed(1); before <- runif(1)
  set.seed(1)
  m1 <- s1(x, training = TRUE)
  after <- runif(1)
  expect_identical(before, after)
  expect_identical(m1, s2(x, training = TRUE))
  expect_false(identical(s1(x, training = TRUE), m1))
})

test_that("noise_shape shares the mask along size-1 axes", {
  set.seed(3)
  x <- array(1, c(2, 4, 6))
  y <- layer_dropout(rate = 0.5, noise_shape = c(NA, 1, NA))(x, training = TRUE)
  for (t in 2:4) expect_identical(y[, t, ], y[, 1, ])
  expect_error(layer_dropout(x, rate = 0.5, noise_shape = c(NA, 3, NA)),
               class = "normlayers_error_shape")
})

test_that("dropout backward applies the same mask", {
  set.seed(4)
  layer <- layer_dropout(rate = 0.4)
  x <- random_array(c(3, 5))
  out <- nl_layer_run(layer, x, training = TRUE)
  dy <- random_array(c(3, 5))
  back <- nl_layer_backward(layer, out$cache, dy)
  expect_equal(back$dx, dy * out$output / x)
})

test_that("bad dropout arguments error with a class", {
  expect_error(layer_dropout(rate = 1), class = "normlayers_error_value")
  expect_error(layer_dropout(rate = -0.1), class = "normlayers_error_value")
  expect_error(layer_dropout(), class = "normlayers_error_missing")
  expect_error(layer_dropout(rate = 0.1, seed = 1.5), class = "normlayers_error_value")
  expect_error(layer_dropout(rate = 0.1, noise_shape = c(0, 1)), class = "normlayers_error_value")
  cfg <- get_config(layer_dropout(rate = 0.25, seed = 2))
  expect_equal(cfg$rate, 0.25)
  expect_equal(cfg$seed, 2L)
})

test_that("training dropout draws what runif() draws and allocates about its output", {
  x <- matrix(rnorm(5e4), 5e3, 10)
  drop <- layer_dropout(rate = 0.3)
  set.seed(51)
  y <- drop(x, training = TRUE)
  set.seed(51)
  keep <- (runif(length(x)) >= 0.3) / 0.7
  expect_identical(y, x * keep)
  set.seed(51)
  fw <- nl_layer_forward(drop, x, TRUE)
  dy <- x * 2
  expect_identical(nl_layer_backward(drop, fw$cache, dy)$dx, dy * keep)
  skip_without_memory_profiling()
  mem <- sum(bench::bench_memory(drop(x, training = TRUE))$mem_alloc)
  expect_lt(as.numeric(mem), 1.2 * 8 * length(x))
})

test_that("training dropout on a large input gives the same values on 1 and 2 threads", {
  x <- matrix(rnorm(3e5), 3e4, 10)
  drop <- layer_dropout(rate = 0.4)
  ys <- lapply(1:2, function(k) {
    old <- nl_set_threads(k)
    on.exit(nl_set_threads(old))
    set.seed(52)
    drop(x, training = TRUE)
  })
  set.seed(52)
  want <- x * ((runif(length(x)) >= 0.4) / 0.6)
  expect_identical(ys[[1]], want)
  expect_identical(ys[[2]], want)
})

test_that("a seeded dropout layer keeps its own stream with the C++ kernel", {
  x <- matrix(1, 4, 5)
  a <- layer_dropout(rate = 0.5, seed = 3)
  b <- layer_dropout(rate = 0.5, seed = 3)
  set.seed(1)
  before <- .Random.seed
  ya <- a(x, training = TRUE)
  expect_identical(.Random.seed, before)
  expect_identical(b(x, training = TRUE), ya)
  expect_false(identical(a(x, training = TRUE), ya))
})
