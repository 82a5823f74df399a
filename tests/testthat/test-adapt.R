# adapt(): the generic and the normalization layer's method.

adapted <- function(data, ..., axis = -1L) {
  layer <- layer_normalization(axis = axis)
  adapt(layer, data, ...)
  # the statistics in the shape of the kept axes, as the weights hold them
  w <- get_weights(layer)
  list(mean = w[[1]], variance = w[[2]])
}

pop_var <- function(x) mean((x - mean(x))^2)

test_that("adapt() returns the layer invisibly so that it pipes", {
  layer <- layer_normalization()
  expect_invisible(out <- adapt(layer, matrix(1:6, 2)))
  expect_identical(out, layer)
  out2 <- layer %>% adapt(matrix(c(1, 3, 5, 7, 9, 11), 2))
  expect_identical(out2, layer)
  expect_equal(layer$mean, matrix(c(2, 6, 10), 1))
})

test_that("adapt() accepts vectors, arrays, data frames, lists and functions", {
  x <- rbind(c(0, 7, 4), c(2, 9, 6), c(0, 7, 4), c(2, 9, 6))
  ref <- list(mean = c(1, 8, 5), variance = c(1, 1, 1))
  expect_equal(adapted(x), ref)
  expect_equal(adapted(as.data.frame(x)), ref)
  expect_equal(adapted(list(x[1:2, ], x[3:4, ])), ref)
  expect_equal(adapted(list(x[1, , drop = FALSE], as.data.frame(x[2:4, ]))), ref)
  # elements given as (x, y) pairs use x
  expect_equal(adapted(list(list(x[1:3, ], 1:3), list(x[4, , drop = FALSE], 4))), ref)
  i <- 0
  gen <- function() {
    i <<- i + 1
    if (i > 4) NULL else x[i, , drop = FALSE]
  }
  expect_equal(adapted(gen), ref)
  expect_equal(adapted(c(1, 2, 3, 4, 5), axis = NULL), list(mean = 3, variance = 2))
  expect_equal(adapted(1:5, axis = NULL), list(mean = 3, variance = 2))
  expect_equal(adapted(c(TRUE, FALSE, TRUE, TRUE), axis = NULL),
               list(mean = 0.75, variance = 0.1875))
  a <- array(as.double(1:24), c(2, 3, 4))
  r <- adapted(a, axis = c(2, 3))
  expect_equal(r$mean, apply(a, c(2, 3), mean))
  expect_equal(r$variance, matrix(0.25, 3, 4))
})

test_that("streamed statistics equal one-shot statistics", {
  set.seed(11)
  x <- array(rnorm(1003 * 4 * 3, mean = 1e4, sd = 3), c(1003, 4, 3))
  one <- adapted(x, axis = c(2, 3))
  for (bs in c(1, 7, 100, 1003, 5000)) {
    st <- adapted(x, batch_size = bs, axis = c(2, 3))
    expect_equal(st$mean, one$mean, tolerance = 1e-12, info = paste("batch_size", bs))
    expect_equal(st$variance, one$variance, tolerance = 1e-12, info = paste("batch_size", bs))
  }
  ex_var <- apply(x, c(2, 3), pop_var)
  expect_equal(one$variance, ex_var, tolerance = 1e-12)
  # list of unequal batches and a generator, axis = NULL
  v <- rnorm(5000, 50, 2)
  cuts <- split(v, rep(1:7, length.out = 5000))
  g <- adapted(cuts, axis = NULL)
  expect_equal(g$mean, mean(v), tolerance = 1e-12)
  expect_equal(g$variance, pop_var(v), tolerance = 1e-12)
  k <- 0
  gen <- function() {
    k <<- k + 1
    if (k > length(cuts)) NULL else cuts[[k]]
  }
  expect_equal(adapted(gen, axis = NULL, batch_size = 333), g, tolerance = 1e-12)
})

test_that("steps limits the number of batches", {
  x <- matrix(as.double(1:60), 20, 3)
  s <- adapted(x, batch_size = 5, steps = 2)
  expect_equal(s$mean, colMeans(x[1:10, ]))
  # an endless generator stops after `steps` batches
  calls <- 0
  gen <- function() {
    calls <<- calls + 1
    matrix(calls, 1, 2)
  }
  e <- adapted(gen, steps = 4)
  expect_equal(e$mean, c(2.5, 2.5))
  expect_equal(e$variance, c(1.25, 1.25))
  expect_equal(calls, 4)
  expect_equal(adapted(list(1:2, 3:5, 100), axis = NULL, steps = 2)$mean, 3)
})

test_that("each adapt() replaces the statistics", {
  layer <- layer_normalization()
  adapt(layer, rbind(c(1, 2), c(3, 4)))
  adapt(layer, rbind(c(10, 20), c(30, 40)))
  expect_equal(layer$mean, matrix(c(20, 30), 1))
  expect_equal(layer$variance, matrix(c(100, 100), 1))
})

test_that("adapting an unbuilt layer builds it with a free batch axis", {
  layer <- layer_normalization()
  adapt(layer, matrix(1:12, 4))
  expect_true(layer$built)
  expect_identical(layer$input_shape, c(NA, 3L))
  expect_equal(dim(layer(matrix(1:30, 10))), c(10L, 3L))
  # a built layer can be adapted with any batch size
  adapt(layer, matrix(1:3, 1))
  expect_equal(layer$variance, matrix(0, 1, 3))
  # axis = NULL: any shape
  g <- layer_normalization(axis = NULL)
  g(matrix(1:4, 2))
  adapt(g, array(1:8, c(2, 2, 2)))
  expect_equal(g$mean, matrix(4.5, 1, 1))
})

test_that("missing values are refused, with a count, and nothing changes", {
  layer <- layer_normalization()
  adapt(layer, rbind(c(1, 2), c(3, 4)))
  before <- get_weights(layer)
  x <- rbind(c(1, NA), c(NaN, 4), c(5, NA))
  expect_error(adapt(layer, x), class = "normlayers_error_missing")
  expect_error(adapt(layer, x), "3 missing values")
  expect_equal(get_weights(layer), before)
  # counted across batches, even after a good one
  expect_error(adapt(layer, list(rbind(c(1, 2)), rbind(c(NA, 1)), rbind(c(NA, NA)))),
               "3 missing values")
  expect_equal(get_weights(layer), before)
  fresh <- layer_normalization()
  expect_error(adapt(fresh, c(1, NA)), class = "normlayers_error_missing")
  expect_false(fresh$built)
})

test_that("na.rm = TRUE leaves missing values out per feature", {
  set.seed(3)
  x <- matrix(rnorm(300, 10), 100, 3)
  x[sample(300, 40)] <- NA
  s <- adapted(x, na.rm = TRUE)
  expect_equal(s$mean, colMeans(x, na.rm = TRUE), tolerance = 1e-13)
  expect_equal(s$variance, apply(x, 2, function(z) pop_var(z[!is.na(z)])), tolerance = 1e-12)
  streamed <- adapted(x, na.rm = TRUE, batch_size = 9)
  expect_equal(streamed, s, tolerance = 1e-12)
  # a batch where one feature is entirely missing
  expect_equal(adapted(list(rbind(c(1, NA)), rbind(c(3, 4), c(5, 6))), na.rm = TRUE),
               list(mean = c(3, 5), variance = c(8 / 3, 1)))
  # a feature with no values at all is an error
  layer <- layer_normalization()
  expect_error(adapt(layer, rbind(c(1, NA), c(2, NA)), na.rm = TRUE),
               class = "normlayers_error_missing")
  expect_false(layer$built)
  expect_error(adapt(layer, matrix(1:4, 2), na.rm = NA), class = "normlayers_error_value")
})

test_that("a layer with fixed mean and variance cannot be adapted", {
  layer <- layer_normalization(mean = 5, variance = 4)
  expect_error(adapt(layer, matrix(1:4)), class = "normlayers_error_state")
  expect_false(layer$built)
  expect_equal(layer(rbind(1, 9)), rbind(-2, 2))
})

test_that("empty data is an error and changes nothing", {
  layer <- layer_normalization()
  adapt(layer, rbind(c(1, 2), c(3, 4)))
  before <- get_weights(layer)
  expect_error(adapt(layer, matrix(numeric(), 0, 2)), class = "normlayers_error_data")
  expect_error(adapt(layer, list()), class = "normlayers_error_data")
  expect_error(adapt(layer, function() NULL), class = "normlayers_error_data")
  expect_error(adapt(layer), class = "normlayers_error_data")
  expect_error(adapt(layer, NULL), class = "normlayers_error_data")
  expect_equal(get_weights(layer), before)
  g <- layer_normalization(axis = NULL)
  expect_error(adapt(g, numeric()), class = "normlayers_error_data")
  expect_false(g$built)
})

test_that("batches whose kept sizes disagree are errors and change nothing", {
  layer <- layer_normalization()
  expect_error(adapt(layer, list(matrix(1:6, 2), matrix(1:8, 2))),
               class = "normlayers_error_shape")
  expect_false(layer$built)
  expect_error(adapt(layer, list(matrix(1:6, 2), array(1:6, c(1, 2, 3)))),
               class = "normlayers_error_shape")
  expect_false(layer$built)
  adapt(layer, matrix(1:6, 2))
  before <- get_weights(layer)
  expect_error(adapt(layer, matrix(1:8, 2)), class = "normlayers_error_shape")
  expect_error(adapt(layer, 1:3), class = "normlayers_error_shape")
  expect_equal(get_weights(layer), before)
  expect_error(adapt(layer_normalization(axis = 3), matrix(1:4, 2)),
               class = "normlayers_error_axis")
})

test_that("bad data, bad object and bad arguments are classed errors", {
  layer <- layer_normalization()
  adapt(layer, matrix(1:4, 2))
  before <- get_weights(layer)
  expect_error(adapt(layer, letters), class = "normlayers_error_data")
  expect_error(adapt(layer, factor(c("a", "b"))), class = "normlayers_error_data")
  expect_error(adapt(layer, data.frame(a = 1:2, b = c("x", "y"))),
               class = "normlayers_error_data")
  expect_error(adapt(layer, list(matrix(1:4, 2), "x")), "Batch 2")
  expect_error(adapt(layer, list(matrix(1:4, 2), NULL)), class = "normlayers_error_data")
  expect_error(adapt(layer, layer), class = "normlayers_error_data")
  expect_error(adapt(layer, function() "a"), class = "normlayers_error_data")
  expect_error(adapt(layer, function() stop("boom")), "boom")
  expect_error(adapt(layer, matrix(1:4, 2), batch_size = 0), class = "normlayers_error_value")
  expect_error(adapt(layer, matrix(1:4, 2), batch_size = 1.5), class = "normlayers_error_value")
  expect_error(adapt(layer, matrix(1:4, 2), steps = "a"), class = "normlayers_error_value")
  expect_error(adapt(layer, matrix(1:4, 2), foo = 1), class = "normlayers_error")
  expect_equal(get_weights(layer), before)
  expect_error(adapt(layer_layer_normalization(), matrix(1:4, 2)),
               class = "normlayers_error_type")
  expect_error(adapt(matrix(1:4, 2), matrix(1:4, 2)), class = "normlayers_error_type")
})

test_that("1-D data with the default axis warns and suggests axis = NULL", {
  layer <- layer_normalization()
  expect_warning(adapt(layer, c(1, 2, 3)), "axis = NULL", class = "normlayers_warning_axis")
  expect_no_warning(adapt(layer_normalization(axis = NULL), c(1, 2, 3)))
  expect_no_warning(adapt(layer_normalization(), matrix(1:3, 3)))
})

test_that("errors report the user's call", {
  layer <- layer_normalization()
  err <- expect_error(adapt(layer, c(1, NA)), class = "normlayers_error_missing")
  expect_match(format(err$call), "^adapt\\(")
})

test_that("a long stream is quiet when not interactive", {
  layer <- layer_normalization()
  expect_silent(adapt(layer, matrix(rnorm(200), 100, 2), batch_size = 2))
  expect_equal(dim(layer$mean), c(1L, 2L))
})

# ---- issue 15: bad input and streaming when the batch axis is kept -----------

test_that("splitting data when the batch axis is kept is refused and changes nothing", {
  l <- layer_normalization(axis = 1)
  err <- expect_error(adapt(l, matrix(1:12, 4, 3), batch_size = 2),
                      class = "normlayers_error_value")
  expect_match(conditionMessage(err), "batch_size")
  expect_match(conditionMessage(err), "batch axis")
  expect_false(l$built)
  # one shot (or a batch_size that does not split) learns one statistic per row
  adapt(l, matrix(1:12, 4, 3))
  expect_equal(l$mean, matrix(c(5, 6, 7, 8), ncol = 1))
  expect_equal(l$variance, matrix(32 / 3, 4, 1))
  before <- get_weights(l)
  expect_error(adapt(l, matrix(1:12, 4, 3), batch_size = 3), class = "normlayers_error_value")
  expect_identical(get_weights(l), before)
  l2 <- layer_normalization(axis = 1)
  adapt(l2, matrix(1:12, 4, 3), batch_size = 4)
  expect_equal(get_weights(l2), before)
  # 1-D data: the default axis keeps the batch axis; batch_size = 5 is refused
  v <- layer_normalization()
  err <- expect_error(adapt(v, as.double(1:10), batch_size = 5),
                      class = "normlayers_error_value")
  expect_match(conditionMessage(err), "axis = NULL")
  expect_false(v$built)
  g <- layer_normalization(axis = NULL)
  adapt(g, as.double(1:10), batch_size = 5)
  expect_equal(as.vector(g$mean), 5.5)
  expect_equal(as.vector(g$variance), 8.25)
})

test_that("a list of equal batches with the batch axis kept merges per position (as Keras)", {
  l <- layer_normalization(axis = 1)
  expect_no_error(adapt(l, list(matrix(1:6, 2), matrix(7:12, 2))))
  # position 1 holds rows 1 of both batches: 1, 3, 5, 7, 9, 11
  expect_equal(get_weights(l), list(c(6, 7), c(pop_var(c(1, 3, 5, 7, 9, 11)),
                                               pop_var(c(2, 4, 6, 8, 10, 12)))))
  # the 1-D warning no longer claims a zero variance across several batches
  v <- layer_normalization()
  w <- expect_warning(adapt(v, list(c(1, 2), c(3, 6))), class = "normlayers_warning_axis")
  expect_no_match(conditionMessage(w), "is 0")
  expect_equal(get_weights(v), list(c(2, 4), c(1, 4)))
})

test_that("infinite values are refused, even with na.rm = TRUE, and nothing changes", {
  layer <- layer_normalization()
  adapt(layer, rbind(c(1, 2), c(3, 4)))
  before <- get_weights(layer)
  for (bad in list(rbind(c(1, Inf), c(3, 4)), rbind(c(-Inf, 2), c(3, 4)),
                   rbind(c(Inf, 2), c(-Inf, 4)))) {
    err <- expect_error(adapt(layer, bad), class = "normlayers_error_value")
    expect_match(conditionMessage(err), "infinite")
    expect_match(conditionMessage(err), "data")
    expect_error(adapt(layer, bad, na.rm = TRUE), class = "normlayers_error_value")
  }
  err <- expect_error(adapt(layer, list(rbind(c(1, 2)), rbind(c(1, Inf)))),
                      class = "normlayers_error_value")
  expect_match(conditionMessage(err), "Batch 2")
  expect_error(adapt(layer, rbind(c(1, NA), c(Inf, 4)), na.rm = TRUE),
               class = "normlayers_error_value")
  expect_identical(get_weights(layer), before)
  fresh <- layer_normalization(axis = NULL)
  expect_error(adapt(fresh, c(1, Inf)), class = "normlayers_error_value")
  expect_false(fresh$built)
  # values whose variance overflows double precision
  expect_error(adapt(layer_normalization(axis = NULL), c(-1e308, 1e308, 1e308)),
               class = "normlayers_error_value")
  # NaN is a missing value: refused unless na.rm = TRUE
  expect_error(adapt(layer, rbind(c(NaN, 2), c(3, 4))), class = "normlayers_error_missing")
})

test_that("the empty-data message is grammatical", {
  layer <- layer_normalization()
  err <- expect_error(adapt(layer, matrix(numeric(), 0, 2)), class = "normlayers_error_data")
  expect_match(conditionMessage(err), "The batch received has no values")
  expect_no_match(conditionMessage(err), "batch received contain")
  err <- expect_error(adapt(layer, list(matrix(numeric(), 0, 2), matrix(numeric(), 0, 2))),
                      class = "normlayers_error_data")
  expect_match(conditionMessage(err), "None of the 2 batches received has any values")
})

test_that("streamed merges match one-shot statistics on offset data (1e8 + N(0, 1))", {
  set.seed(15)
  x <- matrix(1e8 + rnorm(6000), 2000, 3)
  # exact oracle: x - 1e8 is exact, and the shifted data is well conditioned
  ex_mean <- colMeans(x - 1e8) + 1e8
  ex_var <- apply(x - 1e8, 2, pop_var)
  one <- adapted(x)
  expect_lt(max(abs(one$variance / ex_var - 1)), 1e-13)
  for (threads in c(1, 2)) {
    withr::local_options(normlayers.threads = threads)
    for (bs in c(7, 64, 999)) {
      info <- paste("batch_size", bs, "threads", threads)
      s <- adapted(x, batch_size = bs)
      expect_equal(s$mean, ex_mean, tolerance = 1e-15, info = info)
      expect_lt(max(abs(s$variance / ex_var - 1)), 1e-13)
      expect_lt(max(abs(s$variance / one$variance - 1)), 1e-13)
    }
    # a list of unequal batches, axis = NULL
    v <- as.vector(x)
    l <- adapted(split(v, rep(1:5, length.out = length(v))), axis = NULL)
    expect_lt(abs(l$variance / pop_var(v - 1e8) - 1), 1e-13)
  }
})

test_that("streamed adapt() merges with Chan's exact pairwise merge (nl_merge_moments())", {
  a <- c(1, 2, 4)
  b <- c(10, 11)
  mo <- function(v) list(mean = mean(v), var = pop_var(v), count = as.double(length(v)))
  m <- nl_merge_moments(mo(a), mo(b))
  expect_equal(m, mo(c(a, b)), tolerance = 1e-15)
  # positions with no values on one side take the other side
  none <- list(mean = NaN, var = NaN, count = 0)
  expect_identical(nl_merge_moments(mo(a), none), mo(a))
  expect_identical(nl_merge_moments(none, mo(b)), mo(b))
  # vectors of positions merge independently
  v <- nl_merge_moments(list(mean = c(1, 5), var = c(0, 1), count = c(1, 2)),
                        list(mean = c(3, 5), var = c(0, 1), count = c(1, 0)))
  expect_equal(v, list(mean = c(2, 5), var = c(1, 1), count = c(2, 2)))
})
