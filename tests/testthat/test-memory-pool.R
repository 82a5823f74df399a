# The pool of recycled memory for large outputs (src/pool.cpp, R/memory-pool.R).

# Runs `code` with NORMLAYERS_POOL set to `value`.
with_pool_env <- function(value, code) {
  old <- Sys.getenv("NORMLAYERS_POOL", unset = NA)
  Sys.setenv(NORMLAYERS_POOL = value)
  on.exit(if (is.na(old)) Sys.unsetenv("NORMLAYERS_POOL") else Sys.setenv(NORMLAYERS_POOL = old))
  code
}

# 6e5 values (4.8 MB): above the pool's 4 MiB threshold.
pool_input <- function(seed) {
  set.seed(seed)
  matrix(rnorm(6e5, mean = seed), ncol = 6)
}

rms_reference <- function(x, eps = 1e-6) x / sqrt(rowMeans(x * x) + eps)

# GroupNormalization of a matrix over its columns in `groups` blocks (gamma 1,
# beta 0, epsilon 1e-3).
group_norm_ref <- function(x, groups, eps = 1e-3) {
  cg <- ncol(x) / groups
  for (g in seq_len(groups)) {
    j <- (g - 1) * cg + seq_len(cg)
    xs <- x[, j, drop = FALSE]
    xc <- xs - rowMeans(xs)
    x[, j] <- xc / sqrt(rowMeans(xc * xc) + eps)
  }
  x
}

test_that("nl_memory_pool() reports the pool, which is on on Linux", {
  st <- nl_memory_pool()
  expect_named(st, c("enabled", "reused", "mapped", "free_blocks", "free_bytes", "limit_bytes"))
  expect_identical(st$enabled, Sys.info()[["sysname"]] == "Linux")
  if (st$enabled) {
    expect_gt(st$limit_bytes, 0)
    expect_lte(st$limit_bytes, 4 * 2^30)
  }
})

test_that("a freed large output is reused, and the values are those of fresh memory", {
  skip_if_not(nl_memory_pool()$enabled, "no pool on this platform")
  nl_memory_pool(release = TRUE)
  x1 <- pool_input(1)
  x2 <- pool_input(2)
  y <- op_rms_normalization(x1, epsilon = 1e-6)
  expect_equal(y, rms_reference(x1), tolerance = 1e-12)
  rm(y)
  invisible(gc())
  before <- nl_memory_pool()
  expect_gte(before$free_bytes, 6e5 * 8)
  y2 <- op_rms_normalization(x2, epsilon = 1e-6)
  after <- nl_memory_pool()
  expect_identical(after$reused, before$reused + 1)
  expect_identical(after$mapped, before$mapped)
  # recycled memory held x1's output: none of it shows through
  expect_equal(y2, rms_reference(x2), tolerance = 1e-12)
  fresh <- with_pool_env("0", op_rms_normalization(x2, epsilon = 1e-6))
  expect_identical(y2, fresh)
})

test_that("a call making several large outputs reuses all of them", {
  skip_if_not(nl_memory_pool()$enabled, "no pool on this platform")
  # GroupNormalization's kernel makes the output and a mean and an inverse
  # standard deviation per (sample, group): 65536 x 8 = 4 MiB each
  set.seed(7)
  x <- matrix(rnorm(65536 * 16), 65536)
  layer <- layer_group_normalization(groups = 8)
  y1 <- layer(x)
  rm(y1)
  invisible(gc())
  before <- nl_memory_pool()
  y2 <- layer(x)
  after <- nl_memory_pool()
  expect_identical(after$reused - before$reused, 3)
  expect_identical(after$mapped, before$mapped)
  expect_equal(y2, group_norm_ref(x, 8), tolerance = 1e-10)
})

test_that("outputs of the pool behave as ordinary R vectors", {
  skip_if_not(nl_memory_pool()$enabled, "no pool on this platform")
  x <- pool_input(3)
  y <- op_rms_normalization(x)
  z <- y
  z[1] <- 0
  expect_false(identical(y[1], 0))
  expect_identical(dim(y), dim(x))
  f <- tempfile(fileext = ".rds")
  on.exit(unlink(f))
  saveRDS(y, f)
  expect_identical(readRDS(f), y)
  rm(y, z)
  invisible(gc())
  expect_gt(nl_memory_pool()$free_blocks, 0)
})

test_that("Dense and data-frame outputs come from the pool too", {
  skip_if_not(nl_memory_pool()$enabled, "no pool on this platform")
  x <- pool_input(4)
  dense <- layer_dense(units = 6, kernel_initializer = "ones")
  r0 <- nl_memory_pool()$reused
  m0 <- nl_memory_pool()$mapped
  for (i in 1:3) {
    out <- dense(x)
    expect_equal(out[, 1], rowSums(x), tolerance = 1e-12)
    rm(out)
    invisible(gc())
  }
  expect_gte(nl_memory_pool()$reused - r0, 2)
  expect_lte(nl_memory_pool()$mapped - m0, 1)
  # a data frame of two 4.8 MB columns
  df <- data.frame(a = rnorm(6e5), b = rnorm(6e5, 3))
  norm <- layer_normalization(mean = c(0, 3), variance = c(1, 1))
  r1 <- nl_memory_pool()$reused
  for (i in 1:2) {
    out <- norm(df)
    expect_equal(unname(as.matrix(as.data.frame(out))), unname(cbind(df$a, df$b - 3)), tolerance = 1e-9)
    rm(out)
    invisible(gc())
  }
  expect_gte(nl_memory_pool()$reused - r1, 2)
})

test_that("release = TRUE returns every free block", {
  skip_if_not(nl_memory_pool()$enabled, "no pool on this platform")
  y <- op_rms_normalization(pool_input(5))
  rm(y)
  invisible(gc())
  expect_gt(nl_memory_pool()$free_bytes, 0)
  st <- nl_memory_pool(release = TRUE)
  expect_identical(st$free_blocks, 0L)
  expect_identical(st$free_bytes, 0)
})

test_that("NORMLAYERS_POOL=0 turns the pool off, and its outputs are then returned when freed", {
  skip_if_not(nl_memory_pool()$enabled, "no pool on this platform")
  nl_memory_pool(release = TRUE)
  y_pool <- op_rms_normalization(pool_input(6))
  with_pool_env("0", {
    st0 <- nl_memory_pool()
    expect_false(st0$enabled)
    y <- op_rms_normalization(pool_input(6))
    expect_identical(nl_memory_pool()$mapped, st0$mapped)
    expect_identical(nl_memory_pool()$reused, st0$reused)
    expect_identical(y, y_pool)
    rm(y_pool)
    invisible(gc())
    expect_identical(nl_memory_pool()$free_bytes, 0)
  })
  expect_true(nl_memory_pool()$enabled)
})

# R frees a pool vector through a pointer to the library's pool_free(), so the
# library must stay mapped after the package is unloaded (src/pool.cpp pins it
# with RTLD_NODELETE). With g++, Eigen's STB_GNU_UNIQUE symbols also keep this
# library mapped, so today this guards against a change in either.
test_that("outputs of the pool may outlive the unloaded package", {
  skip_if_not(nl_memory_pool()$enabled, "no pool on this platform")
  skip_on_cran()
  script <- tempfile(fileext = ".R")
  on.exit(unlink(script))
  writeLines(c(
    sprintf("library(normlayers, lib.loc = %s)", deparse(dirname(find.package("normlayers")))),
    "y <- op_rms_normalization(matrix(rnorm(6e5), ncol = 6))",
    "stopifnot(nl_memory_pool()$mapped >= 1)",
    "lib <- system.file(package = 'normlayers')",
    "unloadNamespace('normlayers')",
    "library.dynam.unload('normlayers', lib)",
    "s <- sum(y)",
    "rm(y); invisible(gc())",
    "cat('survived', is.finite(s), '\\n')"
  ), script)
  out <- suppressWarnings(system2(file.path(R.home("bin"), "Rscript"), c("--vanilla", script),
                                  stdout = TRUE, stderr = TRUE))
  expect_identical(attr(out, "status"), NULL)
  expect_true(any(grepl("survived TRUE", out, fixed = TRUE)))
})

test_that("nl_memory_pool() checks `release`", {
  expect_error(nl_memory_pool(release = NA), class = "normlayers_error_value")
  expect_error(nl_memory_pool(release = "yes"), class = "normlayers_error")
})
