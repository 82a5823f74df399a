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

test_that("apply and layer_norm written over their input (out = x) equal a new result", {
  skip_on_cran()
  set.seed(98)
  layouts <- list(
    list(d = c(30000, 10), red = 2), list(d = c(30000, 10), red = 1),
    list(d = c(100, 30, 100), red = 2), list(d = c(100, 30, 100), red = c(1, 3)),
    list(d = c(10, 12, 25, 100), red = c(2, 4)), list(d = c(3e5), red = 1),
    list(d = c(3, 100000), red = 2), list(d = c(70001, 7), red = 2),
    list(d = c(130, 4097), red = 2), list(d = c(6, 5), red = 2), list(d = c(0, 4), red = 2)
  )
  for (cs in layouts) {
    x <- array(rnorm(prod(cs$d), 1, 2), dim = cs$d)
    runs <- nl_runs(cs$d, cs$red)
    R <- prod(cs$d[cs$red]); K <- length(x) / R
    gR <- rnorm(R); bR <- rnorm(R); gK <- rnorm(K); bK <- rnorm(K)
    for (force in c(FALSE, TRUE)) for (th in 1:2) {
      withr::with_options(list(normlayers.kernel_force_general = force, normlayers.threads = th), {
        info <- paste(deparse(cs), force, th)
        ln <- nl_kernel_layer_norm(x, runs, gR, bR, 1e-3, keep_stats = FALSE)
        own <- x + 0
        res <- nl_kernel_layer_norm(own, runs, gR, bR, 1e-3, keep_stats = FALSE, out = own)
        expect_true(nl_same_object_cpp(res$y, own), label = info)
        expect_identical(own, ln$y, label = info)
        for (on in c("kept", "reduced")) {
          g <- if (on == "kept") gK else gR
          b <- if (on == "kept") bK else bR
          want <- nl_kernel_apply(x, runs, seq_len(K) / K, seq_len(K), g, b, on)
          own <- x + 0
          got <- nl_kernel_apply(own, runs, seq_len(K) / K, seq_len(K), g, b, on, out = own)
          expect_true(nl_same_object_cpp(got, own), label = info)
          expect_identical(own, want, label = paste(info, on))
        }
      })
    }
  }
  x <- matrix(1, 2, 2)
  expect_error(nl_kernel_apply(x, nl_runs(dim(x), 2), NULL, c(1, 1), out = 1:4))
  expect_error(nl_kernel_apply(x, nl_runs(dim(x), 2), NULL, c(1, 1), out = numeric(3)))
  expect_error(nl_kernel_layer_norm(x, nl_runs(dim(x), 2), NULL, NULL, 1e-3, out = numeric(5)))
})

test_that("every path gives identical results for 1, 2 and 3 threads", {
  skip_on_cran()
  set.seed(99)
  n <- 3e5
  # each layout with the path the kernels must take on it (checked below, so
  # that a change of the dispatch cannot silently skip a path)
  layouts <- list(
    list(d = c(30000, 10), red = 2, path = "rows"),          # [kept, reduced]
    list(d = c(30000, 10), red = 1, path = "cols"),          # [reduced, kept]
    list(d = c(100, 30, 100), red = 2, path = "rows"),       # [kept, reduced, kept]
    list(d = c(100, 30, 100), red = c(1, 3), path = "cols"), # [reduced, kept, reduced]
    list(d = c(10, 12, 25, 100), red = c(2, 4), path = "general"),
    list(d = c(10, 12, 25, 100), red = c(1, 3), path = "general"),
    list(d = c(n), red = 1, path = "cols"),                  # everything reduced
    list(d = c(3, 100000), red = 2, path = "rows", streamed = TRUE), # few rows, long reduced run
    list(d = c(2000, 3, 100), red = 2, path = "rows"),       # more row blocks than backward groups
    list(d = c(70001, 7), red = 2, path = "rows"),           # several row blocks, sweep remainders
    list(d = c(130, 4097), red = 2, path = "rows", streamed = TRUE)  # wide: panels
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
    for (force in c(FALSE, TRUE)) {
      withr::with_options(list(normlayers.kernel_force_general = force), {
        path <- nl_kernel_path(cs$d, cs$red)
        expect_identical(path$kind, if (force) "general" else cs$path, label = deparse(cs))
        if (!force) expect_identical(path$streamed, isTRUE(cs$streamed), label = deparse(cs))
        res <- lapply(1:3, function(th) {
          withr::with_options(list(normlayers.threads = th), run_all())
        })
      })
      info <- paste(deparse(cs), force)
      expect_identical(res[[1]], res[[2]], label = info)
      expect_identical(res[[1]], res[[3]], label = info)
      if (force) expect_equal(res[[1]], fast, tolerance = 1e-10, label = info)
      fast <- res[[1]]
    }
  }
})

# ---- precision on data far from zero (1e8 + N(0, 1)) -------------------------
# The floor for any double implementation is the rounding of a mean near 1e8
# (half an ulp, 7.45e-9); outputs must stay within 4x of it, and statistics
# merged from blocks, chunks, panels or batches must agree with a one-shot
# two-pass computation (on the same data shifted exactly to 0, where rounding
# is harmless) to 1e-13 relative.

offset_cases <- function() {
  list(list(d = c(2000, 64), red = 2),        # rows, cached blocks
       list(d = c(64, 20000), red = 2),       # rows, streamed blocks, panels
       list(d = c(30000, 4), red = 1),        # cols, 8 chunks per column
       list(d = c(5000, 30), red = 1),        # cols
       list(d = c(10, 6, 20, 50), red = c(2, 4)))  # general
}

for_threads <- function(code_fn) {
  for (th in 1:2) withr::with_options(list(normlayers.threads = th), code_fn(th))
}

test_that("outputs on 1e8 + N(0, 1) data stay within 4x the double floor", {
  set.seed(15)
  floor <- 2^-27  # half an ulp of 1e8 (7.45e-9)
  for (cs in offset_cases()) {
    x <- array(1e8 + rnorm(prod(cs$d)), cs$d)
    x0 <- x - 1e8  # exact
    runs <- nl_runs(cs$d, cs$red)
    for_threads(function(th) {
      info <- paste(deparse(cs), th)
      ln <- nl_kernel_layer_norm(x, runs, NULL, NULL, 1e-3)$y
      expect_lt(max(abs(ln - ref_layer_norm(x0, cs$red, NULL, NULL, 1e-3)$y)), 4 * floor,
                label = info)
      bn <- nl_kernel_batch_norm_train(x, runs, NULL, NULL, 1e-3)$y
      expect_lt(max(abs(bn - ref_batch_norm_train(x0, cs$red, NULL, NULL, 1e-3)$y)),
                4 * floor, label = info)
    })
  }
})

test_that("blocked statistics on 1e8 + N(0, 1) data match a one-shot two-pass", {
  set.seed(16)
  for (cs in offset_cases()) {
    x <- array(1e8 + rnorm(prod(cs$d)), cs$d)
    x0 <- x - 1e8  # exact
    runs <- nl_runs(cs$d, cs$red)
    ref <- ref_moments(x0, cs$red)
    for_threads(function(th) {
      info <- paste(deparse(cs), th)
      m <- nl_kernel_moments(x, runs)
      expect_lt(max(abs(m$var - ref$var) / ref$var), 1e-13, label = info)
      expect_lt(max(abs(m$mean - 1e8 - ref$mean)), 2^-26, label = info)  # one ulp
      bn <- nl_kernel_batch_norm_train(x, runs, NULL, NULL, 1e-3)
      expect_lt(max(abs(bn$var - ref$var) / ref$var), 1e-13, label = info)
    })
  }
})

test_that("streamed moments merge exactly (3e4 rows near 1e8, batches of 1000)", {
  set.seed(17)
  x <- matrix(1e8 + rnorm(3e4 * 3), ncol = 3)
  x0 <- x - 1e8  # exact
  ref <- ref_moments(x0, 1)
  runs <- nl_runs(c(1000, 3), 1)
  for_threads(function(th) {
    acc <- nl_kernel_moments_shifted(x[1:1000, ], runs)
    for (b in 2:30) {
      rows <- (b - 1) * 1000 + 1:1000
      acc <- nl_merge_moments(acc, nl_kernel_moments_shifted(x[rows, ], runs, acc$shift))
    }
    expect_equal(acc$count, rep(3e4, 3))
    expect_lt(max(abs(acc$var - ref$var) / ref$var), 1e-13, label = th)
    expect_lt(max(abs((acc$shift - 1e8) + acc$mean - ref$mean)), 1e-13, label = th)
  })
})

test_that("nl_merge_moments() pools moments, with and without shifts", {
  set.seed(18)
  a <- matrix(rnorm(40, 3), 10)
  b <- matrix(rnorm(28, -1, 2), 7)
  runs_a <- nl_runs(dim(a), 1)
  runs_b <- nl_runs(dim(b), 1)
  pooled <- ref_moments(rbind(a, b), 1)
  got <- nl_merge_moments(nl_kernel_moments(a, runs_a), nl_kernel_moments(b, runs_b))
  expect_equal(got, pooled, tolerance = 1e-12)
  sa <- nl_kernel_moments_shifted(a, runs_a)
  sb <- nl_kernel_moments_shifted(b, runs_b, shift = c(1, 2, 3, 4))
  expect_equal(sb$shift, c(1, 2, 3, 4))
  expect_equal(sb$mean + sb$shift, ref_moments(b, 1)$mean, tolerance = 1e-12)
  s <- nl_merge_moments(sa, sb)
  expect_equal(s$shift, sa$shift)
  expect_equal(s$mean + s$shift, pooled$mean, tolerance = 1e-12)
  expect_equal(s$var, pooled$var, tolerance = 1e-12)
  # a side without values leaves the other unchanged
  empty <- list(mean = rep(NaN, 4), var = rep(NaN, 4), count = rep(0, 4))
  expect_equal(nl_merge_moments(empty, sa), sa)
  expect_equal(nl_merge_moments(sa, empty), sa)
})

# ---- RMS, unit and group normalization kernels -------------------------------

test_that("rms_norm and its backward match the reference on many layouts", {
  for (cs in kernel_cases()) {
    x <- array(rnorm(prod(cs$d), 1, 2), dim = cs$d)
    dy <- array(rnorm(prod(cs$d)), dim = cs$d)
    R <- prod(cs$d[cs$red])
    scale <- rnorm(R)
    with_paths(function(force) {
      info <- paste(deparse(cs), force)
      for (sc in list(scale, NULL)) {
        fw <- nl_kernel_rms_norm(x, cs$red, sc, 1e-6)
        ref <- ref_rms_norm(x, cs$red, sc, 1e-6)
        expect_equal(fw, ref, tolerance = tol, info = info)
        expect_identical(dim(fw$y), dim(x))
        bw <- nl_kernel_rms_backward(x, dy, cs$red, fw$rstd, sc)
        expect_equal(bw, ref_rms_backward(x, dy, cs$red, fw$rstd, sc), tolerance = tol,
                     info = info)
        if (is.null(sc)) expect_null(bw$dscale)
      }
    })
  }
})

test_that("unit_norm and its backward match the reference on many layouts", {
  for (cs in kernel_cases()) {
    x <- array(rnorm(prod(cs$d), 1, 2), dim = cs$d)
    dy <- array(rnorm(prod(cs$d)), dim = cs$d)
    with_paths(function(force) {
      info <- paste(deparse(cs), force)
      fw <- nl_kernel_unit_norm(x, cs$red, 1e-12)
      expect_equal(fw, ref_unit_norm(x, cs$red, 1e-12), tolerance = tol, info = info)
      expect_equal(nl_kernel_unit_backward(x, dy, cs$red, fw$inv),
                   ref_unit_backward(x, dy, cs$red, 1e-12), tolerance = tol, info = info)
    })
  }
})

test_that("unit_norm follows Keras >= 3.6 for tiny and zero vectors", {
  x <- rbind(c(3e-13, 4e-13, 0), c(0, 0, 0), c(3, 4, 0))
  with_paths(function(force) {
    u <- nl_kernel_unit_norm(x, 2, 1e-12)
    expect_equal(u$y, rbind(c(0.3, 0.4, 0), c(0, 0, 0), c(0.6, 0.8, 0)), tolerance = 1e-12)
    expect_equal(u$inv, c(1e12, 1e12, 0.2), tolerance = 1e-12)
    expect_false(anyNA(u$y))
    expect_true(all(is.nan(nl_kernel_unit_norm(rbind(c(1, NaN, 0)), 2, 1e-12)$y)))
    # where the floor was taken the scale is a constant: dx = dy * inv
    dy <- matrix(c(1, -2, 0.5), 3, 3, byrow = TRUE)
    b <- nl_kernel_unit_backward(x, dy, 2, u$inv)
    expect_equal(b$dx[1:2, ], dy[1:2, ] * 1e12, tolerance = 1e-12)
    expect_equal(b$dx[3, ], ref_unit_backward(x, dy, 2, 1e-12)$dx[3, ], tolerance = 1e-12)
  })
})

test_that("group_norm and its backward match the reference on random shapes", {
  set.seed(31)
  cases <- c(list(list(d = c(4, 6), axis = 2, groups = 3),
                  list(d = c(3, 5, 4), axis = 3, groups = 2),
                  list(d = c(3, 4, 5), axis = 2, groups = 2),
                  list(d = c(2, 3, 6, 2), axis = 3, groups = 3),
                  list(d = c(1, 4, 6), axis = 3, groups = 2),
                  list(d = c(5, 6), axis = 2, groups = 6),
                  list(d = c(3, 1, 1, 4), axis = 4, groups = 4)),
             replicate(40, random_group_case(), simplify = FALSE))
  for (cs in cases) {
    x <- array(rnorm(prod(cs$d), 2, 3), dim = cs$d)
    dy <- array(rnorm(prod(cs$d)), dim = cs$d)
    C <- cs$d[cs$axis]
    gamma <- rnorm(C); beta <- rnorm(C)
    with_paths(function(force) {
      info <- paste(deparse(cs), force)
      for (gb in list(list(gamma, beta), list(NULL, NULL))) {
        fw <- nl_kernel_group_norm(x, cs$axis, cs$groups, gb[[1]], gb[[2]], 1e-3)
        expect_equal(fw, ref_group_norm(x, cs$axis, cs$groups, gb[[1]], gb[[2]], 1e-3),
                     tolerance = tol, info = info)
        expect_equal(nl_kernel_group_backward(x, dy, cs$axis, cs$groups, fw$mean, fw$rstd,
                                              gb[[1]]),
                     ref_group_backward(x, dy, cs$axis, cs$groups, fw$mean, fw$rstd, gb[[1]]),
                     tolerance = tol, info = info)
      }
    })
  }
  expect_identical(nl_kernel_group_path(c(256, 32, 32, 16), 4, 8, FALSE), "rows")
  expect_identical(nl_kernel_group_path(c(256, 16, 32, 32), 2, 8, FALSE), "general")
  expect_identical(nl_kernel_group_path(c(256, 32, 32, 16), 4, 8, TRUE), "general")
})

test_that("group_norm on 1e8 + N(0, 1) data equals the same data shifted to 0", {
  set.seed(32)
  x <- array(1e8 + rnorm(64 * 8 * 8 * 16), c(64, 8, 8, 16))
  x0 <- x - 1e8  # exact
  with_paths(function(force) {
    a <- nl_kernel_group_norm(x, 4, 4, NULL, NULL, 1e-3)$y
    b <- nl_kernel_group_norm(x0, 4, 4, NULL, NULL, 1e-3)$y
    expect_lt(max(abs(a - b)), 1e-9, label = force)
  })
})

test_that("family backward kernels agree with finite differences", {
  set.seed(33)
  eps <- 1e-3
  for (cs in list(list(d = c(4, 5), red = 2), list(d = c(3, 4, 2), red = c(1, 3)),
                  list(d = c(2, 3, 2, 3), red = c(2, 4)), list(d = 6, red = 1))) {
    x <- array(rnorm(prod(cs$d)), cs$d)
    w <- array(rnorm(prod(cs$d)), cs$d)
    sc <- rnorm(prod(cs$d[cs$red]))
    with_paths(function(force) {
      info <- paste(deparse(cs), force)
      loss <- function(xv, s = sc) sum(nl_kernel_rms_norm(array(xv, cs$d), cs$red, s, eps)$y * w)
      fw <- nl_kernel_rms_norm(x, cs$red, sc, eps)
      bw <- nl_kernel_rms_backward(x, w, cs$red, fw$rstd, sc)
      expect_lt(relative_error(bw$dx, numeric_gradient(loss, as.vector(x))), 1e-6, label = info)
      expect_lt(relative_error(bw$dscale, numeric_gradient(function(v) loss(x, v), sc)), 1e-6,
                label = info)
      lossu <- function(xv) sum(nl_kernel_unit_norm(array(xv, cs$d), cs$red, 1e-12)$y * w)
      fu <- nl_kernel_unit_norm(x, cs$red, 1e-12)
      bu <- nl_kernel_unit_backward(x, w, cs$red, fu$inv)
      expect_lt(relative_error(bu$dx, numeric_gradient(lossu, as.vector(x))), 1e-6, label = info)
    })
  }
  for (cs in list(list(d = c(3, 4), axis = 2, groups = 2), list(d = c(2, 3, 4), axis = 3, groups = 2),
                  list(d = c(2, 4, 3), axis = 2, groups = 4), list(d = c(2, 2, 6, 2), axis = 3, groups = 3))) {
    x <- array(rnorm(prod(cs$d)), cs$d)
    w <- array(rnorm(prod(cs$d)), cs$d)
    C <- cs$d[cs$axis]
    g <- rnorm(C); b <- rnorm(C)
    with_paths(function(force) {
      info <- paste(deparse(cs), force)
      loss <- function(xv, gv = g, bv = b) {
        sum(nl_kernel_group_norm(array(xv, cs$d), cs$axis, cs$groups, gv, bv, eps)$y * w)
      }
      fw <- nl_kernel_group_norm(x, cs$axis, cs$groups, g, b, eps)
      bw <- nl_kernel_group_backward(x, w, cs$axis, cs$groups, fw$mean, fw$rstd, g)
      expect_lt(relative_error(bw$dx, numeric_gradient(loss, as.vector(x))), 1e-6, label = info)
      expect_lt(relative_error(bw$dgamma, numeric_gradient(function(v) loss(x, v), g)), 1e-6,
                label = info)
      expect_lt(relative_error(bw$dbeta, numeric_gradient(function(v) loss(x, g, v), b)), 1e-6,
                label = info)
    })
  }
})

test_that("family kernels give identical results for 1 and 2 threads on every path", {
  skip_on_cran()
  set.seed(34)
  layouts <- list(list(d = c(30000, 10), red = 2), list(d = c(30000, 10), red = 1),
                  list(d = c(100, 30, 100), red = 2), list(d = c(10, 12, 25, 100), red = c(2, 4)),
                  list(d = c(130, 4097), red = 2))
  for (cs in layouts) {
    x <- array(rnorm(prod(cs$d)), cs$d)
    dy <- array(rnorm(prod(cs$d)), cs$d)
    sc <- rnorm(prod(cs$d[cs$red]))
    run_all <- function() {
      r <- nl_kernel_rms_norm(x, cs$red, sc, 1e-6)
      u <- nl_kernel_unit_norm(x, cs$red, 1e-12)
      list(r, nl_kernel_rms_backward(x, dy, cs$red, r$rstd, sc),
           u, nl_kernel_unit_backward(x, dy, cs$red, u$inv))
    }
    for (force in c(FALSE, TRUE)) {
      res <- withr::with_options(list(normlayers.kernel_force_general = force), {
        lapply(1:2, function(th) withr::with_options(list(normlayers.threads = th), run_all()))
      })
      expect_identical(res[[1]], res[[2]], label = paste(deparse(cs), force))
    }
  }
  for (cs in list(list(d = c(256, 8, 8, 16), axis = 4, groups = 8),
                  list(d = c(64, 16, 12, 12), axis = 2, groups = 4))) {
    x <- array(rnorm(prod(cs$d)), cs$d)
    dy <- array(rnorm(prod(cs$d)), cs$d)
    g <- rnorm(cs$d[cs$axis]); b <- rnorm(cs$d[cs$axis])
    run_all <- function() {
      f <- nl_kernel_group_norm(x, cs$axis, cs$groups, g, b, 1e-3)
      list(f, nl_kernel_group_backward(x, dy, cs$axis, cs$groups, f$mean, f$rstd, g))
    }
    for (force in c(FALSE, TRUE)) {
      res <- withr::with_options(list(normlayers.kernel_force_general = force), {
        lapply(1:2, function(th) withr::with_options(list(normlayers.threads = th), run_all()))
      })
      expect_identical(res[[1]], res[[2]], label = paste(deparse(cs), force))
    }
  }
})

test_that("shifted moments match the reference on many layouts, with and without NA", {
  set.seed(19)
  for (cs in kernel_cases()[1:30]) {
    x <- array(rnorm(prod(cs$d), 5), dim = cs$d)
    xna <- x
    xna[sample(length(x), length(x) %/% 4)] <- NA
    runs <- nl_runs(cs$d, cs$red)
    K <- length(ref_moments(x, cs$red)$mean)
    shift <- rnorm(K, 5)
    with_paths(function(force) {
      info <- paste(deparse(cs), force)
      for (na in c(FALSE, TRUE)) {
        xx <- if (na) xna else x
        ref <- ref_moments(xx, cs$red, na_rm = na)
        own <- nl_kernel_moments_shifted(xx, runs, NULL, na_rm = na)
        ok <- ref$count > 0
        expect_equal((own$shift + own$mean)[ok], ref$mean[ok], tolerance = tol, info = info)
        expect_equal(own$var[ok], ref$var[ok], tolerance = tol, info = info)
        given <- nl_kernel_moments_shifted(xx, runs, shift, na_rm = na)
        expect_identical(given$shift, shift)
        expect_equal((given$mean + shift)[ok], ref$mean[ok], tolerance = tol, info = info)
        expect_equal(given$count, ref$count, info = info)
      }
    })
  }
})
