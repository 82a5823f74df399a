tol <- 1e-10

kernel_cases <- function() {
  set.seed(20240601)
  cases <- list(
    list(d = 7, red = 1), list(d = 7, red = integer()),
    list(d = c(6, 5), red = 2), list(d = c(6, 5), red = 1),
    list(d = c(6, 5), red = c(1, 2)), list(d = c(6, 5), red = integer()),
    list(d = c(3, 4, 5, 2), red = c(2, 4)), list(d = c(3, 4, 5, 2), red = c(1, 3)),
    list(d = c(3, 4, 5, 2), red = 1:4), list(d = c(3, 4, 5, 2), red = c(1, 2, 4)),
    list(d = c(2, 3, 4), red = 2), list(d = c(2, 3, 4), red = c(1, 3)),
    list(d = c(3, 1, 4, 1, 2), red = c(2, 3)), list(d = c(1, 1, 1), red = 2),
    list(d = c(2, 3, 2, 3, 2), red = c(1, 3, 5)), list(d = c(2, 3, 2, 3, 2), red = c(2, 4))
  )
  # a single reduced axis at every position of a rank-5 array
  for (a in 1:5) cases[[length(cases) + 1]] <- list(d = c(3, 2, 4, 2, 3), red = a)
  for (i in 1:40) cases[[length(cases) + 1]] <- random_case(sample(1:5, 1))
  cases
}

test_that("the C++ plan collapses axes into alternating runs", {
  runs <- function(d, red) nl_kernel_path(d, red, force_general = FALSE)[c("sizes", "reduced")]
  expect_equal(runs(c(4, 5), 2), list(sizes = c(4, 5), reduced = c(FALSE, TRUE)))
  expect_equal(runs(c(2, 3, 4, 5), c(2, 3)),
               list(sizes = c(2, 12, 5), reduced = c(FALSE, TRUE, FALSE)))
  expect_equal(runs(c(2, 3, 4, 5), c(1, 2, 3, 4)), list(sizes = 120, reduced = TRUE))
  expect_equal(runs(c(2, 1, 4), 3), list(sizes = c(2, 4), reduced = c(FALSE, TRUE)))
  expect_equal(runs(c(2, 1, 4), 2), list(sizes = 8, reduced = FALSE))
  expect_equal(runs(c(1, 1), 1), list(sizes = double(), reduced = logical()))
  expect_equal(nl_runs(c(3L, 4L), 1), list(sizes = c(3, 4), reduced = c(TRUE, FALSE)))
  expect_identical(nl_kernel_path(c(30000, 10), 2, FALSE)$kind, "rows")
  expect_identical(nl_kernel_path(c(30000, 10), 1, FALSE)$kind, "cols")
  expect_identical(nl_kernel_path(c(10, 12, 25, 100), c(2, 4), FALSE)$kind, "general")
  expect_identical(nl_kernel_path(c(30000, 10), 2, TRUE)$kind, "general")
  expect_true(nl_kernel_path(c(130, 4097), 2, FALSE)$streamed)
  expect_false(nl_kernel_path(c(70001, 7), 2, FALSE)$streamed)
})

test_that("moments match the reference on many layouts", {
  for (cs in kernel_cases()) {
    x <- array(rnorm(prod(cs$d), 3, 2), dim = cs$d)
    runs <- nl_runs(cs$d, cs$red)
    ref <- ref_moments(x, cs$red)
    with_paths(function(force) {
      got <- nl_kernel_moments(x, runs)
      expect_equal(got, ref, tolerance = tol, info = paste(deparse(cs), force))
    })
  }
})

test_that("apply matches the reference on many layouts", {
  for (cs in kernel_cases()) {
    x <- array(rnorm(prod(cs$d)), dim = cs$d)
    runs <- nl_runs(cs$d, cs$red)
    K <- prod(cs$d[-cs$red]); R <- prod(cs$d[cs$red])
    if (length(cs$red) == 0) K <- prod(cs$d)
    center <- rnorm(K); scale <- runif(K, 0.5, 2)
    with_paths(function(force) {
      for (param_on in c("reduced", "kept")) {
        P <- if (param_on == "kept") K else R
        gamma <- rnorm(P); beta <- rnorm(P)
        info <- paste(deparse(cs), force, param_on)
        expect_equal(nl_kernel_apply(x, runs, center, scale, gamma, beta, param_on),
                     ref_apply(x, cs$red, center, scale, gamma, beta, param_on),
                     tolerance = tol, info = info)
        expect_equal(nl_kernel_apply(x, runs, NULL, scale, NULL, NULL, param_on),
                     ref_apply(x, cs$red, NULL, scale, NULL, NULL, param_on),
                     tolerance = tol, info = info)
        expect_equal(nl_kernel_apply(x, runs, center, scale, gamma, NULL, param_on),
                     ref_apply(x, cs$red, center, scale, gamma, NULL, param_on),
                     tolerance = tol, info = info)
      }
    })
  }
})

test_that("layer_norm and batch_norm_train match the reference", {
  for (cs in kernel_cases()) {
    x <- array(rnorm(prod(cs$d), -1, 3), dim = cs$d)
    runs <- nl_runs(cs$d, cs$red)
    K <- prod(cs$d[-cs$red]); R <- prod(cs$d[cs$red])
    if (length(cs$red) == 0) K <- prod(cs$d)
    gR <- rnorm(R); bR <- rnorm(R); gK <- rnorm(K); bK <- rnorm(K)
    with_paths(function(force) {
      info <- paste(deparse(cs), force)
      ln <- nl_kernel_layer_norm(x, runs, gR, bR, 1e-3)
      expect_equal(ln, ref_layer_norm(x, cs$red, gR, bR, 1e-3), tolerance = tol, info = info)
      expect_identical(dim(ln$y), dim(x))
      expect_equal(nl_kernel_layer_norm(x, runs, NULL, NULL, 1e-5),
                   ref_layer_norm(x, cs$red, NULL, NULL, 1e-5), tolerance = tol, info = info)
      bn <- nl_kernel_batch_norm_train(x, runs, gK, bK, 1e-3)
      expect_equal(bn, ref_batch_norm_train(x, cs$red, gK, bK, 1e-3), tolerance = tol, info = info)
      expect_equal(nl_kernel_batch_norm_train(x, runs, NULL, bK, 1e-3),
                   ref_batch_norm_train(x, cs$red, NULL, bK, 1e-3), tolerance = tol, info = info)
    })
  }
})

test_that("backward matches the reference on many layouts", {
  for (cs in kernel_cases()) {
    x <- array(rnorm(prod(cs$d)), dim = cs$d)
    dy <- array(rnorm(prod(cs$d)), dim = cs$d)
    runs <- nl_runs(cs$d, cs$red)
    m <- ref_moments(x, cs$red)
    rstd <- 1 / sqrt(m$var + 1e-3)
    K <- length(m$mean); R <- prod(cs$d[cs$red])
    with_paths(function(force) {
      for (param_on in c("reduced", "kept")) for (batch in c(TRUE, FALSE)) {
        P <- if (param_on == "kept") K else R
        gamma <- rnorm(P)
        info <- paste(deparse(cs), force, param_on, batch)
        expect_equal(
          nl_kernel_norm_backward(x, dy, runs, m$mean, rstd, gamma, param_on, batch),
          ref_backward(x, dy, cs$red, m$mean, rstd, gamma, param_on, batch),
          tolerance = tol, info = info)
        expect_equal(
          nl_kernel_norm_backward(x, dy, runs, m$mean, rstd, NULL, param_on, batch),
          ref_backward(x, dy, cs$red, m$mean, rstd, NULL, param_on, batch),
          tolerance = tol, info = info)
      }
    })
  }
})

test_that("row-blocked kernels match the reference across blocks and groups", {
  # [kept, reduced] and [kept, reduced, kept] layouts large enough for several
  # row blocks (PATH_ROWS), column counts that leave remainders after the
  # 4- and 2-column sweeps, and more blocks than the 64 backward groups.
  set.seed(7)
  layouts <- list(
    list(d = c(70001, 7), red = 2),
    list(d = c(9, 70001, 5), red = 2),
    list(d = c(2000, 3, 100), red = 2),
    list(d = c(130, 4097), red = 2),
    list(d = c(3000, 700), red = 2)
  )
  for (cs in layouts) {
    x <- array(rnorm(prod(cs$d), 2, 3), dim = cs$d)
    dy <- array(rnorm(prod(cs$d)), dim = cs$d)
    runs <- nl_runs(cs$d, cs$red)
    R <- prod(cs$d[cs$red]); K <- length(x) / R
    gR <- rnorm(R); bR <- rnorm(R); gK <- rnorm(K)
    info <- deparse(cs)
    ln <- nl_kernel_layer_norm(x, runs, gR, bR, 1e-3)
    expect_equal(ln, ref_layer_norm(x, cs$red, gR, bR, 1e-3), tolerance = tol, info = info)
    expect_equal(nl_kernel_apply(x, runs, ln$mean, ln$rstd, gR, bR, "reduced"), ln$y,
                 tolerance = tol, info = info)
    expect_equal(nl_kernel_moments(x, runs)$var,
                 ref_moments(x, cs$red)$var, tolerance = tol, info = info)
    xna <- x
    xna[sample(length(x), 50)] <- NA
    expect_equal(nl_kernel_moments(xna, runs, na_rm = TRUE)[c("mean", "var", "count")],
                 ref_moments(xna, cs$red, na_rm = TRUE)[c("mean", "var", "count")],
                 tolerance = tol, info = info)
    for (param_on in c("reduced", "kept")) {
      gamma <- if (param_on == "kept") gK else gR
      expect_equal(
        nl_kernel_norm_backward(x, dy, runs, ln$mean, ln$rstd, gamma, param_on, TRUE),
        ref_backward(x, dy, cs$red, ln$mean, ln$rstd, gamma, param_on, TRUE),
        tolerance = tol, info = paste(info, param_on))
    }
  }
})

test_that("backward agrees with finite differences of sum(y * w)", {
  set.seed(7)
  fd_cases <- list(
    list(d = c(5, 4), red = 2), list(d = c(5, 4), red = 1),
    list(d = c(3, 4, 2), red = 2), list(d = c(3, 4, 2), red = c(1, 3)),
    list(d = c(2, 3, 2, 3), red = c(2, 4)), list(d = c(2, 3, 2, 3), red = c(1, 3)),
    list(d = 6, red = 1)
  )
  for (cs in fd_cases) {
    x <- array(rnorm(prod(cs$d)), dim = cs$d)
    w <- array(rnorm(prod(cs$d)), dim = cs$d)
    runs <- nl_runs(cs$d, cs$red)
    K <- prod(cs$d[-cs$red]); R <- prod(cs$d[cs$red])
    eps <- 1e-3
    with_paths(function(force) {
      info <- paste(deparse(cs), force)
      # LayerNorm: parameters on the reduced positions, batch statistics
      g <- rnorm(R); b <- rnorm(R)
      loss <- function(xv, gv = g, bv = b) {
        sum(nl_kernel_layer_norm(array(xv, cs$d), runs, gv, bv, eps)$y * w)
      }
      fw <- nl_kernel_layer_norm(x, runs, g, b, eps)
      bw <- nl_kernel_norm_backward(x, w, runs, fw$mean, fw$rstd, g, "reduced", TRUE)
      expect_lt(rel_err(bw$dx, numeric_gradient(loss, as.vector(x))), 1e-6, label = info)
      expect_lt(rel_err(bw$dgamma, numeric_gradient(function(v) loss(x, v, b), g)), 1e-6, label = info)
      expect_lt(rel_err(bw$dbeta, numeric_gradient(function(v) loss(x, g, v), b)), 1e-6, label = info)
      # BatchNorm training: parameters on the kept positions, batch statistics
      gk <- rnorm(K); bk <- rnorm(K)
      lossb <- function(xv, gv = gk, bv = bk) {
        sum(nl_kernel_batch_norm_train(array(xv, cs$d), runs, gv, bv, eps)$y * w)
      }
      fb <- nl_kernel_batch_norm_train(x, runs, gk, bk, eps)
      rs <- 1 / sqrt(fb$var + eps)
      bb <- nl_kernel_norm_backward(x, w, runs, fb$mean, rs, gk, "kept", TRUE)
      expect_lt(rel_err(bb$dx, numeric_gradient(lossb, as.vector(x))), 1e-6, label = info)
      expect_lt(rel_err(bb$dgamma, numeric_gradient(function(v) lossb(x, v, bk), gk)), 1e-6, label = info)
      expect_lt(rel_err(bb$dbeta, numeric_gradient(function(v) lossb(x, gk, v), bk)), 1e-6, label = info)
      # BatchNorm inference: fixed statistics
      mu <- rnorm(K); sc <- runif(K, 0.5, 2)
      lossi <- function(xv, gv = gk) {
        sum(nl_kernel_apply(array(xv, cs$d), runs, mu, sc, gv, bk, "kept") * w)
      }
      bi <- nl_kernel_norm_backward(x, w, runs, mu, sc, gk, "kept", FALSE)
      expect_lt(rel_err(bi$dx, numeric_gradient(lossi, as.vector(x))), 1e-6, label = info)
      expect_lt(rel_err(bi$dgamma, numeric_gradient(function(v) lossi(x, v), gk)), 1e-6, label = info)
    })
  }
})

test_that("na_rm excludes missing values per kept position", {
  x <- matrix(c(1, NA, 3, 4, NaN, 6, NA, NA, NA, 2, 5, 8), 3)
  runs <- nl_runs(dim(x), 2)  # statistics per row
  with_paths(function(force) {
    got <- nl_kernel_moments(x, runs, na_rm = TRUE)
    expect_equal(got, ref_moments(x, 2, na_rm = TRUE), tolerance = tol)
    expect_equal(got$count, c(3, 1, 3))
    plain <- nl_kernel_moments(x, runs)
    expect_true(all(is.na(plain$mean)))
    expect_true(all(is.na(plain$var)))
    expect_equal(plain$count, c(4, 4, 4))
    byc <- nl_kernel_moments(x, nl_runs(dim(x), 1), na_rm = TRUE)
    expect_equal(byc$count, c(2, 2, 0, 3))
    expect_equal(byc$mean[c(1, 2, 4)], c(2, 5, 5))
    expect_true(is.nan(byc$mean[3]) && is.nan(byc$var[3]))
    expect_equal(byc$var[c(1, 2, 4)], c(1, 1, 6))
  })
  set.seed(3)
  for (cs in kernel_cases()[1:30]) {
    x <- array(rnorm(prod(cs$d)), dim = cs$d)
    x[sample(length(x), length(x) %/% 4)] <- NA
    runs <- nl_runs(cs$d, cs$red)
    with_paths(function(force) {
      expect_equal(nl_kernel_moments(x, runs, na_rm = TRUE),
                   ref_moments(x, cs$red, na_rm = TRUE), tolerance = tol,
                   info = paste(deparse(cs), force))
    })
  }
})

test_that("a long column with missing values uses several chunks correctly", {
  set.seed(11)
  x <- matrix(rnorm(3 * 10000, 50), ncol = 3)
  x[sample(length(x), 2000)] <- NA
  x[1:5000, 2] <- NA
  runs <- nl_runs(dim(x), 1)
  expect_equal(nl_kernel_moments(x, runs, na_rm = TRUE),
               ref_moments(x, 1, na_rm = TRUE), tolerance = tol)
  x[, 3] <- NA
  got <- nl_kernel_moments(x, runs, na_rm = TRUE)
  expect_equal(got$count[3], 0)
  expect_true(is.nan(got$mean[3]))
})

test_that("variance is two-pass on ill-conditioned data", {
  x <- rbind(c(10000, 10001, 10002), c(10000, 10001, 10002) + 1e8,
             c(1, 2, 3) + 1e9)
  with_paths(function(force) {
    m <- nl_kernel_moments(x, nl_runs(dim(x), 2))
    expect_equal(m$var, rep(2 / 3, 3), tolerance = 1e-12)
    ln <- nl_kernel_layer_norm(x, nl_runs(dim(x), 2), NULL, NULL, 0)
    expect_equal(ln$y, rbind(c(-1, 0, 1), c(-1, 0, 1), c(-1, 0, 1)) * sqrt(1.5),
                 tolerance = 1e-12)
    mt <- nl_kernel_moments(t(x), nl_runs(dim(t(x)), 1))
    expect_equal(mt$var, rep(2 / 3, 3), tolerance = 1e-12)
  })
  # a long column with a huge offset
  set.seed(5)
  v <- matrix(1e8 + rnorm(20000), ncol = 1)
  ref <- ref_moments(v, 1)
  expect_equal(nl_kernel_moments(v, nl_runs(dim(v), 1))$var, ref$var, tolerance = 1e-9)
})

test_that("constant rows and empty inputs are handled", {
  x <- matrix(5, 3, 4)
  ln <- nl_kernel_layer_norm(x, nl_runs(dim(x), 2), NULL, rep(2, 4), 1e-3)
  expect_equal(ln$y, matrix(2, 3, 4))
  expect_equal(ln$rstd, rep(1 / sqrt(1e-3), 3))
  e <- matrix(numeric(), 0, 3)
  m <- nl_kernel_moments(e, nl_runs(dim(e), 1))
  expect_true(all(is.nan(m$mean)))
  expect_equal(m$count, c(0, 0, 0))
  y <- nl_kernel_apply(e, nl_runs(dim(e), 1), NULL, c(1, 1, 1))
  expect_identical(dim(y), c(0L, 3L))
  b <- nl_kernel_norm_backward(e, e, nl_runs(dim(e), 1), m$mean, m$mean, NULL, "kept", TRUE)
  expect_equal(b$dgamma, c(0, 0, 0))
  m2 <- nl_kernel_moments(matrix(numeric(), 3, 0), nl_runs(c(3, 0), 2))
  expect_equal(m2$count, c(0, 0, 0))
})

test_that("kernels never modify their inputs", {
  set.seed(2)
  x <- matrix(rnorm(20), 4)
  dy <- matrix(rnorm(20), 4)
  x0 <- x + 0; dy0 <- dy + 0
  runs <- nl_runs(dim(x), 2)
  ln <- nl_kernel_layer_norm(x, runs, NULL, NULL, 1e-3)
  nl_kernel_batch_norm_train(x, runs, NULL, NULL, 1e-3)
  nl_kernel_apply(x, runs, ln$mean, ln$rstd)
  nl_kernel_norm_backward(x, dy, runs, ln$mean, ln$rstd, NULL, "reduced", TRUE)
  expect_identical(x, x0)
  expect_identical(dy, dy0)
})

test_that("results are identical for 1 and 2 threads", {
  skip_on_cran()
  set.seed(99)
  n <- 3e5
  layouts <- list(
    list(d = c(30000, 10), red = 2),        # [kept, reduced]
    list(d = c(30000, 10), red = 1),        # [reduced, kept]
    list(d = c(100, 30, 100), red = 2),     # [kept, reduced, kept]
    list(d = c(100, 30, 100), red = c(1, 3)), # [reduced, kept, reduced]
    list(d = c(10, 12, 25, 100), red = c(2, 4)), # general
    list(d = c(10, 12, 25, 100), red = c(1, 3)), # general
    list(d = c(n), red = 1),                # everything reduced
    list(d = c(3, 100000), red = 2),        # few rows, long reduced run
    list(d = c(2000, 3, 100), red = 2),     # more row blocks than backward groups
    list(d = c(70001, 7), red = 2),         # several row blocks, sweep remainders
    list(d = c(130, 4097), red = 2)         # wide: streamed blocks, column panels
  )
  for (cs in layouts) {
    x <- array(rnorm(prod(cs$d), 1, 2), dim = cs$d)
    dy <- array(rnorm(prod(cs$d)), dim = cs$d)
    xna <- x
    xna[sample(length(x), 1000)] <- NA
    runs <- nl_runs(cs$d, cs$red)
    R <- prod(cs$d[cs$red]); K <- length(x) / R
    gR <- rnorm(R); bR <- rnorm(R); gK <- rnorm(K); bK <- rnorm(K)
    run_all <- function() {
      ln <- nl_kernel_layer_norm(x, runs, gR, bR, 1e-3)
      list(
        nl_kernel_moments(x, runs),
        nl_kernel_moments(xna, runs, na_rm = TRUE),
        nl_kernel_apply(x, runs, ln$mean, ln$rstd, gR, bR, "reduced"),
        nl_kernel_apply(x, runs, ln$mean, ln$rstd, gK, bK, "kept"),
        ln,
        nl_kernel_batch_norm_train(x, runs, gK, bK, 1e-3),
        nl_kernel_norm_backward(x, dy, runs, ln$mean, ln$rstd, gR, "reduced", TRUE),
        nl_kernel_norm_backward(x, dy, runs, ln$mean, ln$rstd, gK, "kept", TRUE),
        nl_kernel_norm_backward(x, dy, runs, ln$mean, ln$rstd, gK, "kept", FALSE)
      )
    }
    withr::local_options(normlayers.threads = 1)
    one <- run_all()
    withr::local_options(normlayers.threads = 2)
    two <- run_all()
    withr::local_options(normlayers.threads = 3)
    three <- run_all()
    expect_identical(one, two, label = deparse(cs))
    expect_identical(one, three, label = deparse(cs))
    withr::local_options(normlayers.kernel_force_general = TRUE)
    gen <- run_all()
    expect_equal(gen, one, tolerance = 1e-10, label = deparse(cs))
  }
})
