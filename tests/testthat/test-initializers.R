# ---- Constructors and objects --------------------------------------------

test_that("constructors store the Keras class name and config", {
  init <- initializer_glorot_uniform(seed = 3)
  expect_s3_class(init, "nl_initializer")
  expect_identical(init$class_name, "GlorotUniform")
  expect_identical(init$config, list(seed = 3L))

  expect_identical(initializer_zeros()$class_name, "Zeros")
  expect_identical(initializer_ones()$config, list())
  expect_identical(initializer_constant(2)$config, list(value = 2))
  expect_identical(initializer_identity(3)$config, list(gain = 3))
  expect_identical(
    initializer_random_normal()$config,
    list(mean = 0, stddev = 0.05, seed = NULL)
  )
  expect_identical(
    initializer_random_uniform()$config,
    list(minval = -0.05, maxval = 0.05, seed = NULL)
  )
  expect_identical(initializer_truncated_normal()$class_name, "TruncatedNormal")
  expect_identical(
    initializer_variance_scaling()$config,
    list(scale = 1, mode = "fan_in", distribution = "truncated_normal",
         seed = NULL)
  )
  expect_identical(initializer_orthogonal()$config, list(gain = 1, seed = NULL))
  classes <- vapply(
    list(initializer_glorot_normal(), initializer_he_normal(),
         initializer_he_uniform(), initializer_lecun_normal(),
         initializer_lecun_uniform()),
    function(i) i$class_name, ""
  )
  expect_identical(
    classes,
    c("GlorotNormal", "HeNormal", "HeUniform", "LecunNormal", "LecunUniform")
  )
})

test_that("print() shows the class and config", {
  expect_output(print(initializer_glorot_uniform()),
                "<initializer GlorotUniform seed=NULL>", fixed = TRUE)
  expect_output(print(initializer_random_normal(stddev = 0.1, seed = 2)),
                "<initializer RandomNormal mean=0 stddev=0.1 seed=2>",
                fixed = TRUE)
  expect_output(print(initializer_zeros()), "<initializer Zeros>", fixed = TRUE)
  expect_output(print(initializer_constant(1:100)),
                "<initializer Constant value=<100 values>>", fixed = TRUE)
  expect_output(print(nl_get_initializer(function(shape) 0)),
                "<initializer RFunction>", fixed = TRUE)
})

test_that("variance_scaling validates and normalizes its arguments", {
  expect_identical(
    initializer_variance_scaling(distribution = "Normal")$config$distribution,
    "truncated_normal"
  )
  expect_identical(
    initializer_variance_scaling(distribution = "UNIFORM")$config$distribution,
    "uniform"
  )
  expect_error(initializer_variance_scaling(scale = 0),
               class = "normlayers_error_value")
  expect_error(initializer_variance_scaling(scale = -1),
               class = "normlayers_error_value")
  expect_error(initializer_variance_scaling(mode = "fan_sum"),
               class = "normlayers_error_value")
  expect_error(initializer_variance_scaling(distribution = "cauchy"),
               class = "normlayers_error_value")
})

test_that("other constructors validate their arguments", {
  expect_error(initializer_random_normal(stddev = -1),
               class = "normlayers_error_value")
  expect_error(initializer_random_uniform(minval = 1, maxval = 0),
               class = "normlayers_error_value")
  expect_error(initializer_glorot_uniform(seed = 1.5),
               class = "normlayers_error_value")
  expect_error(initializer_he_normal(seed = "a"),
               class = "normlayers_error_value")
  expect_error(initializer_constant("a"), class = "normlayers_error_value")
  expect_error(initializer_identity(NA), class = "normlayers_error_value")
  expect_error(initializer_orthogonal(gain = c(1, 2)),
               class = "normlayers_error_value")
  expect_identical(initializer_orthogonal(seed = 7)$config$seed, 7L)
})

# ---- Deterministic values -------------------------------------------------

test_that("constant initializers give their values with the right shape", {
  z <- nl_initialize(initializer_zeros(), c(2, 3))
  expect_identical(z, array(0, c(2, 3)))
  o <- nl_initialize(initializer_ones(), 4)
  expect_identical(o, rep(1, 4))
  expect_null(dim(o))
  expect_identical(nl_initialize(initializer_constant(2.5), c(2, 2, 2)),
                   array(2.5, c(2, 2, 2)))
  expect_identical(nl_initialize(initializer_constant(1:6), c(2, 3)),
                   array(as.double(1:6), c(2, 3)))
  expect_error(nl_initialize(initializer_constant(1:4), c(2, 3)),
               class = "normlayers_error_initializer")
  expect_identical(nl_initialize(initializer_ones(), integer(0)), 1)
})

test_that("identity gives gain * eye and needs 2-D", {
  expect_identical(nl_initialize(initializer_identity(), c(2, 3)),
                   matrix(c(1, 0, 0, 1, 0, 0), 2, 3))
  expect_identical(nl_initialize(initializer_identity(gain = 3), c(3, 2)),
                   matrix(c(3, 0, 0, 0, 3, 0), 3, 2))
  expect_error(nl_initialize(initializer_identity(), 3),
               class = "normlayers_error_initializer")
  expect_error(nl_initialize(initializer_identity(), c(2, 2, 2)),
               class = "normlayers_error_initializer")
})

test_that("bad shapes are rejected", {
  expect_error(nl_initialize(initializer_zeros(), c(2, -1)),
               class = "normlayers_error_shape")
  expect_error(nl_initialize(initializer_zeros(), c(2, 1.5)),
               class = "normlayers_error_shape")
  expect_error(nl_initialize(initializer_zeros(), "a"),
               class = "normlayers_error_shape")
})

# ---- Variance scaling: fans and spreads (spec 14.9) -----------------------

test_that("fans follow Keras for every rank", {
  expect_identical(nl_fans(numeric(0)), c(1, 1))
  expect_identical(nl_fans(7), c(7, 7))
  expect_identical(nl_fans(c(3, 4)), c(3, 4))
  expect_identical(nl_fans(c(3, 3, 16, 32)), c(144, 288))
  expect_identical(nl_fans(c(5, 2, 6)), c(10, 30))
})

test_that("preset scales match spec 14.9", {
  spread <- function(init, shape) {
    unname(nl_variance_scaling_spread(nl_vs_config(init), shape))
  }
  expect_equal(spread(initializer_glorot_uniform(), c(3, 4)), 0.9258201,
               tolerance = 1e-7)
  expect_equal(spread(initializer_glorot_normal(), c(3, 4)), 0.6076704,
               tolerance = 1e-7)
  expect_equal(spread(initializer_he_uniform(), c(3, 4)), 1.4142136,
               tolerance = 1e-7)
  expect_equal(spread(initializer_he_normal(), c(3, 4)), 0.9282319,
               tolerance = 1e-7)
  expect_equal(spread(initializer_lecun_uniform(), c(3, 4)), 1,
               tolerance = 1e-7)
  expect_equal(spread(initializer_lecun_normal(), c(3, 4)), 0.6563591,
               tolerance = 1e-7)
  expect_equal(spread(initializer_glorot_uniform(), c(3, 3, 16, 32)),
               0.1178511, tolerance = 1e-6)
  vs <- initializer_variance_scaling(2, "fan_out", "untruncated_normal")
  expect_equal(spread(vs, c(3, 8)), sqrt(2 / 8))
  # max(1, fan): tiny fans do not blow the scale up
  vs1 <- initializer_variance_scaling(1, "fan_in", "uniform")
  expect_equal(spread(vs1, c(0, 5)), sqrt(3))
})

# ---- Random draws: distributions -----------------------------------------

test_that("glorot_uniform draws fill [-limit, limit] uniformly", {
  x <- nl_initialize(initializer_glorot_uniform(seed = 42), c(300, 400))
  expect_identical(dim(x), c(300L, 400L))
  limit <- sqrt(6 / 700)
  expect_lte(max(x), limit)
  expect_gte(min(x), -limit)
  expect_gt(max(x), 0.99 * limit)
  expect_equal(sd(as.vector(x)), limit / sqrt(3), tolerance = 0.02)
  expect_lt(abs(mean(x)), 0.01 * limit)
})

test_that("he_uniform and lecun_uniform use fan_in limits", {
  x <- nl_initialize(initializer_he_uniform(seed = 1), c(200, 500))
  limit <- sqrt(6 / 200)
  expect_lte(max(abs(x)), limit)
  expect_equal(sd(as.vector(x)), limit / sqrt(3), tolerance = 0.02)
  y <- nl_initialize(initializer_lecun_uniform(seed = 1), c(3, 3, 20, 50))
  limit <- sqrt(3 / 180)
  expect_lte(max(abs(y)), limit)
  expect_gt(max(abs(y)), 0.99 * limit)
  expect_equal(sd(as.vector(y)), limit / sqrt(3), tolerance = 0.02)
})

test_that("truncated-normal presets have the target variance and no tails", {
  check <- function(init, shape, target_sd) {
    x <- as.vector(nl_initialize(init, shape))
    stddev <- target_sd / 0.87962566103423978
    expect_lte(max(abs(x)), 2 * stddev)
    expect_gt(max(abs(x)), 1.9 * stddev)
    expect_equal(sd(x), target_sd, tolerance = 0.02)
    expect_lt(abs(mean(x)), 0.02 * target_sd)
  }
  check(initializer_glorot_normal(seed = 1), c(300, 400), sqrt(2 / 700))
  check(initializer_he_normal(seed = 2), c(300, 400), sqrt(2 / 300))
  check(initializer_lecun_normal(seed = 3), c(3, 3, 10, 4000), sqrt(1 / 90))
  check(initializer_variance_scaling(3, "fan_out", seed = 4), c(100, 1000),
        sqrt(3 / 1000))
})

test_that("untruncated normal variance scaling has tails", {
  x <- nl_initialize(
    initializer_variance_scaling(1, "fan_avg", "untruncated_normal", seed = 5),
    c(400, 400)
  )
  target <- sqrt(1 / 400)
  expect_equal(sd(as.vector(x)), target, tolerance = 0.02)
  expect_gt(max(abs(x)), 3 * target)
})

test_that("random_normal, random_uniform and truncated_normal", {
  x <- nl_initialize(initializer_random_normal(2, 0.5, seed = 1), 1e5)
  expect_equal(mean(x), 2, tolerance = 0.005)
  expect_equal(sd(x), 0.5, tolerance = 0.02)
  expect_gt(max(abs(x - 2)), 3 * 0.5)

  u <- nl_initialize(initializer_random_uniform(1, 3, seed = 1), 1e5)
  expect_gte(min(u), 1)
  expect_lt(max(u), 3)
  expect_equal(mean(u), 2, tolerance = 0.005)
  expect_equal(sd(u), 2 / sqrt(12), tolerance = 0.02)

  t <- nl_initialize(initializer_truncated_normal(-1, 0.2, seed = 1), 1e5)
  expect_lte(max(abs(t + 1)), 0.4)
  expect_gt(max(abs(t + 1)), 0.39)
  # sd of a normal truncated at +/- 2 sd is 0.8796 sd
  expect_equal(sd(t), 0.2 * 0.87962566103423978, tolerance = 0.02)
  expect_equal(mean(t), -1, tolerance = 0.005)
})

test_that("orthogonal gives orthonormal columns or rows, times gain", {
  tall <- nl_initialize(initializer_orthogonal(seed = 1), c(2, 3, 4))
  expect_identical(dim(tall), c(2L, 3L, 4L))
  m <- matrix(tall, ncol = 4)
  expect_equal(crossprod(m), diag(4), tolerance = 1e-12)

  wide <- nl_initialize(initializer_orthogonal(gain = 2, seed = 1), c(3, 5))
  expect_equal(tcrossprod(wide), 4 * diag(3), tolerance = 1e-12)

  sq <- nl_initialize(initializer_orthogonal(seed = 9), c(4, 4))
  expect_equal(crossprod(sq), diag(4), tolerance = 1e-12)
  expect_equal(tcrossprod(sq), diag(4), tolerance = 1e-12)

  expect_error(nl_initialize(initializer_orthogonal(), 5),
               class = "normlayers_error_initializer")
})

# ---- Seeds ----------------------------------------------------------------

test_that("seed = NULL draws from the stream and set.seed() reproduces it", {
  init <- initializer_he_normal()
  set.seed(123)
  a <- nl_initialize(init, c(5, 6))
  b <- nl_initialize(init, c(5, 6))
  set.seed(123)
  a2 <- nl_initialize(init, c(5, 6))
  expect_identical(a, a2)
  expect_false(isTRUE(all.equal(a, b)))
  set.seed(123)
  u <- nl_initialize(initializer_random_uniform(), 10)
  set.seed(123)
  expect_identical(u, runif(10, -0.05, 0.05))
})

test_that("a seed gives the same values and leaves .Random.seed untouched", {
  inits <- list(
    initializer_random_normal(seed = 5), initializer_random_uniform(seed = 5),
    initializer_truncated_normal(seed = 5), initializer_glorot_uniform(seed = 5),
    initializer_he_normal(seed = 5), initializer_orthogonal(seed = 5),
    initializer_variance_scaling(seed = 5)
  )
  set.seed(99)
  before <- .Random.seed
  for (init in inits) {
    a <- nl_initialize(init, c(6, 7))
    b <- nl_initialize(init, c(6, 7))
    expect_identical(a, b)
    expect_identical(.Random.seed, before)
  }
  c6 <- nl_initialize(initializer_glorot_uniform(seed = 6), c(6, 7))
  c5 <- nl_initialize(initializer_glorot_uniform(seed = 5), c(6, 7))
  expect_false(isTRUE(all.equal(c5, c6)))
})

test_that("a seed works when .Random.seed does not exist yet", {
  skip_if_not_installed("withr")
  withr::local_preserve_seed()
  if (exists(".Random.seed", envir = globalenv(), inherits = FALSE)) {
    rm(".Random.seed", envir = globalenv())
  }
  a <- nl_initialize(initializer_random_normal(seed = 1), 3)
  expect_false(exists(".Random.seed", envir = globalenv(), inherits = FALSE))
  expect_identical(a, nl_initialize(initializer_random_normal(seed = 1), 3))
})

# ---- Resolving arguments --------------------------------------------------

test_that("every Keras string name resolves to its class", {
  names <- list(
    Zeros = c("zeros", "Zeros", "zero"),
    Ones = c("ones", "Ones", "one"),
    Constant = c("constant", "Constant"),
    RandomNormal = c("random_normal", "RandomNormal", "normal"),
    RandomUniform = c("random_uniform", "RandomUniform", "uniform"),
    TruncatedNormal = c("truncated_normal", "TruncatedNormal"),
    VarianceScaling = c("variance_scaling", "VarianceScaling"),
    GlorotUniform = c("glorot_uniform", "GlorotUniform"),
    GlorotNormal = c("glorot_normal", "GlorotNormal"),
    HeNormal = c("he_normal", "HeNormal"),
    HeUniform = c("he_uniform", "HeUniform"),
    LecunNormal = c("lecun_normal", "LecunNormal"),
    LecunUniform = c("lecun_uniform", "LecunUniform"),
    Orthogonal = c("orthogonal", "Orthogonal", "OrthogonalInitializer"),
    Identity = c("identity", "Identity", "IdentityInitializer")
  )
  for (cls in names(names)) {
    for (s in names[[cls]]) {
      init <- nl_get_initializer(s)
      expect_s3_class(init, "nl_initializer")
      expect_identical(init$class_name, cls, label = s)
    }
  }
  expect_identical(nl_get_initializer("random_normal")$config$stddev, 0.05)
  expect_identical(nl_get_initializer("constant")$config$value, 0)
})

test_that("unknown or wrongly-cased names give classed errors", {
  expect_error(nl_get_initializer("ZEROS"),
               class = "normlayers_error_initializer")
  expect_error(nl_get_initializer("glorot"),
               class = "normlayers_error_initializer")
  expect_error(nl_get_initializer(""), class = "normlayers_error_initializer")
  expect_error(nl_get_initializer(c("zeros", "ones")),
               class = "normlayers_error_initializer")
  expect_error(nl_get_initializer(NULL),
               class = "normlayers_error_initializer")
  expect_error(nl_get_initializer(1), class = "normlayers_error_initializer")
  f <- function(kernel_initializer) nl_get_initializer(kernel_initializer)
  expect_error(f("nope"), "kernel_initializer")
  expect_snapshot(f("nope"), error = TRUE)
  expect_snapshot(f("Glorot_uniform"), error = TRUE)
})

test_that("objects pass through and bare constructors are called", {
  init <- initializer_random_normal(stddev = 3)
  expect_identical(nl_get_initializer(init), init)
  expect_identical(nl_get_initializer(initializer_zeros), initializer_zeros())
  expect_identical(nl_get_initializer(initializer_glorot_uniform),
                   initializer_glorot_uniform())
  expect_identical(nl_get_initializer(initializer_variance_scaling),
                   initializer_variance_scaling())
})

test_that("R functions are wrapped and checked", {
  f <- function(shape) seq_len(prod(shape)) / 10
  init <- nl_get_initializer(f)
  expect_s3_class(init, "nl_initializer")
  expect_identical(init$class_name, "RFunction")
  expect_identical(nl_initialize(init, c(2, 3)), array((1:6) / 10, c(2, 3)))
  expect_identical(nl_initialize(init, 3), (1:3) / 10)

  seen <- NULL
  g <- function(shape, dtype = NULL) {
    seen <<- dtype
    rep(1, prod(shape))
  }
  nl_initialize(nl_get_initializer(g), c(2, 2))
  expect_identical(seen, "float64")
  h <- function(shape, ...) {
    seen <<- list(...)$dtype
    rep(0, prod(shape))
  }
  seen <- NULL
  nl_initialize(nl_get_initializer(h), 4)
  expect_identical(seen, "float64")

  expect_error(nl_initialize(nl_get_initializer(function(shape) 1:3), c(2, 2)),
               class = "normlayers_error_initializer")
  expect_error(
    nl_initialize(nl_get_initializer(function(shape) rep("a", 4)), c(2, 2)),
    class = "normlayers_error_initializer"
  )
  expect_error(nl_get_initializer(function() 1),
               class = "normlayers_error_initializer")
})
