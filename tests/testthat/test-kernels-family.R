# The kernel contract of the rest of the normalization family (RMS, unit,
# group), checked against the oracles in helper-reference.R and finite
# differences.

# Statistics per kept position, column-major over the kept axes.
kept_stat <- function(x, axes, f) {
  kept <- setdiff(seq_along(dim(x)), axes)
  if (length(kept) == 0) return(f(as.vector(x)))
  as.vector(apply(x, kept, function(v) f(as.vector(v))))
}

test_that("nl_kernel_rms_norm(): output and rstd over random shapes and axes", {
  set.seed(601)
  for (i in 1:25) {
    rank <- sample(1:4, 1)
    d <- sample(1:4, rank, replace = TRUE)
    axes <- family_random_axes(rank)
    x <- rand_array(d)
    scale <- if (runif(1) < 0.5) NULL else rnorm(prod(d[axes]))
    res <- nl_kernel_rms_norm(x, axes, scale, 1e-6)
    expect_equal(dim(res$y), d)
    expect_equal(res$y, ref_rms_norm(x, axes, scale, 1e-6)$y, tolerance = 1e-12)
    expect_equal(res$rstd, kept_stat(x, axes, function(v) 1 / sqrt(mean(v^2) + 1e-6)),
                 tolerance = 1e-12)
  }
})

test_that("nl_kernel_rms_backward(): dx and dscale match finite differences", {
  set.seed(602)
  for (case in list(list(d = c(3, 4), axes = 2L), list(d = c(2, 3, 4), axes = c(2L, 3L)),
                    list(d = c(3, 2, 2), axes = c(1L, 3L)), list(d = 5, axes = 1L))) {
    x <- rand_array(case$d)
    dy <- rand_array(case$d)
    scale <- rnorm(prod(case$d[case$axes]))
    fw <- nl_kernel_rms_norm(x, case$axes, scale, 1e-3)
    bw <- nl_kernel_rms_backward(x, dy, case$axes, fw$rstd, scale)
    f_x <- function(xx) sum(nl_kernel_rms_norm(xx, case$axes, scale, 1e-3)$y * dy)
    f_s <- function(ss) sum(nl_kernel_rms_norm(x, case$axes, ss, 1e-3)$y * dy)
    expect_lt(relative_error(bw$dx, numeric_gradient(f_x, x)), 1e-7)
    expect_lt(relative_error(bw$dscale, numeric_gradient(f_s, scale)), 1e-7)
    bw0 <- nl_kernel_rms_backward(x, dy, case$axes, fw$rstd, NULL)
    expect_null(bw0$dscale)
    f_0 <- function(xx) sum(nl_kernel_rms_norm(xx, case$axes, NULL, 1e-3)$y * dy)
    expect_lt(relative_error(bw0$dx, numeric_gradient(f_0, x)), 1e-7)
  }
})

test_that("nl_kernel_unit_norm(): output, inv and the epsilon floor", {
  set.seed(603)
  for (i in 1:25) {
    rank <- sample(1:4, 1)
    d <- sample(1:4, rank, replace = TRUE)
    axes <- family_random_axes(rank)
    x <- rand_array(d)
    res <- nl_kernel_unit_norm(x, axes, 1e-12)
    expect_equal(res$y, ref_unit_norm(x, axes, 1e-12)$y, tolerance = 1e-12)
    expect_equal(res$inv, kept_stat(x, axes, function(v) 1 / sqrt(max(sum(v^2), 1e-24))),
                 tolerance = 1e-12)
  }
  z <- nl_kernel_unit_norm(matrix(0, 2, 3), 2L, 1e-12)
  expect_identical(as.vector(z$y), rep(0, 6))
  expect_equal(z$inv, c(1e12, 1e12))
})

test_that("nl_kernel_unit_backward(): dx matches finite differences", {
  set.seed(604)
  for (case in list(list(d = c(3, 4), axes = 2L), list(d = c(2, 3, 4), axes = c(2L, 3L)),
                    list(d = c(4, 3), axes = 1L))) {
    x <- rand_array(case$d)
    dy <- rand_array(case$d)
    fw <- nl_kernel_unit_norm(x, case$axes, 1e-12)
    bw <- nl_kernel_unit_backward(x, dy, case$axes, fw$inv)
    f <- function(xx) sum(nl_kernel_unit_norm(xx, case$axes, 1e-12)$y * dy)
    expect_lt(relative_error(bw$dx, numeric_gradient(f, x)), 1e-7)
  }
  # where the floor is active the norm is a constant
  x <- rbind(c(1e-3, 2e-3), c(3, 4))
  fw <- nl_kernel_unit_norm(x, 2L, 0.1)
  bw <- nl_kernel_unit_backward(x, matrix(1, 2, 2), 2L, fw$inv)
  expect_equal(bw$dx[1, ], c(10, 10))
})

test_that("nl_kernel_group_norm(): output and per-(sample, group) statistics, sample fastest", {
  set.seed(605)
  for (i in 1:20) {
    rank <- sample(2:4, 1)
    d <- sample(1:3, rank, replace = TRUE)
    axis <- (2:rank)[sample.int(rank - 1L, 1)]
    d[axis] <- sample(c(2L, 4L, 6L), 1)
    groups <- sample(Filter(function(g) d[axis] %% g == 0, seq_len(d[axis])), 1)
    x <- rand_array(d, mean = 5)
    gamma <- if (runif(1) < 0.5) NULL else rnorm(d[axis])
    beta <- if (runif(1) < 0.5) NULL else rnorm(d[axis])
    res <- nl_kernel_group_norm(x, axis, groups, gamma, beta, 1e-3)
    expect_equal(res$y, ref_group_norm(x, axis, groups, gamma, beta, 1e-3)$y,
                 tolerance = 1e-12)
    cg <- d[axis] / groups
    N <- d[1]
    for (n in seq_len(N)) for (g in seq_len(groups)) {
      idx <- lapply(d, seq_len)
      idx[[1]] <- n
      idx[[axis]] <- ((g - 1) * cg + 1):(g * cg)
      v <- do.call(`[`, c(list(x), idx))
      k <- n + N * (g - 1)
      expect_equal(res$mean[k], mean(v), tolerance = 1e-12)
      expect_equal(res$rstd[k], 1 / sqrt(mean((v - mean(v))^2) + 1e-3), tolerance = 1e-12)
    }
    expect_length(res$mean, N * groups)
  }
})

test_that("nl_kernel_group_backward(): dx, dgamma, dbeta match finite differences", {
  set.seed(606)
  for (case in list(list(d = c(3, 4), axis = 2L, g = 2L), list(d = c(2, 3, 4), axis = 3L, g = 4L),
                    list(d = c(2, 4, 3), axis = 2L, g = 2L), list(d = c(2, 2, 2, 6), axis = 4L, g = 3L))) {
    C <- case$d[case$axis]
    x <- rand_array(case$d)
    dy <- rand_array(case$d)
    gamma <- rnorm(C)
    beta <- rnorm(C)
    fw <- nl_kernel_group_norm(x, case$axis, case$g, gamma, beta, 1e-3)
    bw <- nl_kernel_group_backward(x, dy, case$axis, case$g, fw$mean, fw$rstd, gamma)
    f <- function(xx, gg = gamma, bb = beta) {
      sum(nl_kernel_group_norm(xx, case$axis, case$g, gg, bb, 1e-3)$y * dy)
    }
    expect_lt(relative_error(bw$dx, numeric_gradient(f, x)), 1e-7)
    expect_lt(relative_error(bw$dgamma, numeric_gradient(function(gg) f(x, gg), gamma)), 1e-7)
    expect_lt(relative_error(bw$dbeta, numeric_gradient(function(bb) f(x, gamma, bb), beta)), 1e-7)
    bw0 <- nl_kernel_group_backward(x, dy, case$axis, case$g, fw$mean, fw$rstd, NULL)
    f0 <- function(xx) sum(nl_kernel_group_norm(xx, case$axis, case$g, NULL, NULL, 1e-3)$y * dy)
    expect_lt(relative_error(bw0$dx, numeric_gradient(f0, x)), 1e-7)
  }
})

test_that("nl_kernel_group_norm() centres exactly on ill-conditioned data", {
  set.seed(607)
  x <- 1e8 + rand_array(c(3, 5, 5, 4))
  res <- nl_kernel_group_norm(x, 4L, 2L, NULL, NULL, 1e-3)
  ref <- nl_kernel_group_norm(x - 1e8, 4L, 2L, NULL, NULL, 1e-3)
  expect_equal(res$y, ref$y, tolerance = 1e-9)
  expect_equal(res$rstd, ref$rstd, tolerance = 1e-9)
})

test_that("RMS and unit forward on a large rows layout: same bits for 1 and 2 threads, with and without the output prefault and huge pages", {
  set.seed(608)
  # 160000 x 8: several row blocks, parallel, and an output above the prefault
  # and huge-page sizes (10 MB)
  x <- matrix(rnorm(1280000, 2, 3), 160000, 8)
  x[1, ] <- 0
  x[2, 3] <- -0
  s <- rnorm(8)
  run <- function() {
    list(nl_kernel_rms_norm(x, 2L, s, 1e-3), nl_kernel_rms_norm(x, 2L, NULL, 1e-3),
         nl_kernel_unit_norm(x, 2L, 1e-12))
  }
  one <- withr::with_options(list(normlayers.threads = 1), run())
  two <- withr::with_options(list(normlayers.threads = 2), run())
  expect_identical(two, one)
  nopf <- withr::with_envvar(c(NORMLAYERS_PREFAULT = "0"),
                             withr::with_options(list(normlayers.threads = 2), run()))
  expect_identical(nopf, one)
  huge <- withr::with_envvar(c(NORMLAYERS_HUGE_PAGES = "1"),
                             withr::with_options(list(normlayers.threads = 2), run()))
  expect_identical(huge, one)
  general <- withr::with_options(list(normlayers.kernel_force_general = TRUE), run())
  expect_equal(general, one, tolerance = 1e-15)
  expect_equal(one[[3]]$y, ref_unit_norm(x, 2L, 1e-12)$y, tolerance = 1e-12)
  expect_equal(one[[1]]$y, ref_rms_norm(x, 2L, s, 1e-3)$y, tolerance = 1e-12)
  expect_identical(one[[3]]$y[1, ], rep(0, 8))
})
