W <- matrix(c(3, 4, 0, 0.5), 2) # Keras [[3, 0], [4, 0.5]]

test_that("constructors store class names and 1-based configs", {
  expect_identical(constraint_maxnorm()$config,
                   list(max_value = 2, axis = 1L))
  expect_identical(
    constraint_minmaxnorm()$config,
    list(min_value = 0, max_value = 1, rate = 1, axis = 1L)
  )
  expect_identical(constraint_unitnorm(axis = -1)$config, list(axis = -1L))
  expect_identical(constraint_nonneg()$config, list())
  expect_identical(
    vapply(list(constraint_maxnorm(), constraint_minmaxnorm(),
                constraint_unitnorm(), constraint_nonneg()),
           function(x) x$class_name, ""),
    c("MaxNorm", "MinMaxNorm", "UnitNorm", "NonNeg")
  )
  expect_s3_class(constraint_nonneg(), "nl_constraint")
  expect_output(print(constraint_maxnorm(3, axis = 1:3)),
                "<constraint MaxNorm max_value=3 axis=c(1, 2, 3)>",
                fixed = TRUE)
})

test_that("arguments are validated", {
  expect_error(constraint_maxnorm(axis = 0), class = "normlayers_error_axis")
  expect_error(constraint_unitnorm(axis = c(1, 0)),
               class = "normlayers_error_axis")
  expect_error(constraint_minmaxnorm(axis = 1.5),
               class = "normlayers_error_axis")
  expect_error(constraint_unitnorm(axis = "1"), class = "normlayers_error_axis")
  expect_error(constraint_maxnorm(-1), class = "normlayers_error_value")
  expect_error(constraint_maxnorm(NA), class = "normlayers_error_value")
  expect_error(constraint_minmaxnorm(min_value = 2, max_value = 1),
               class = "normlayers_error_value")
  expect_error(constraint_minmaxnorm(rate = 1.5),
               class = "normlayers_error_value")
})

test_that("norm constraints reproduce spec 14.7", {
  expect_equal(nl_constraint_apply(constraint_maxnorm(2), W),
               matrix(c(1.2, 1.6, 0, 0.4999999), 2), tolerance = 1e-7)
  expect_equal(nl_constraint_apply(constraint_unitnorm(), W),
               matrix(c(0.6, 0.8, 0, 0.9999998), 2), tolerance = 1e-7)
  expect_equal(nl_constraint_apply(constraint_minmaxnorm(0, 1, 1), W),
               matrix(c(0.6, 0.8, 0, 0.4999999), 2), tolerance = 1e-7)
  mm <- nl_constraint_apply(constraint_minmaxnorm(1, 2, rate = 0.5), W)
  expect_equal(mm[, 1] / W[, 1], c(0.7, 0.7), tolerance = 1e-7)
  expect_equal(mm[2, 2] / W[2, 2], 1.5, tolerance = 1e-6)
  rows <- nl_constraint_apply(constraint_maxnorm(2, axis = 2), W)
  expect_equal(rows / W, matrix(c(0.6666666, 0.4961389, NaN, 0.4961389), 2),
               tolerance = 1e-6)
  expect_identical(
    nl_constraint_apply(constraint_nonneg(), matrix(c(1, 3, -2, -0.5), 2)),
    matrix(c(1, 3, 0, 0), 2)
  )
})

test_that("the 1e-7 shrink is exact, not approximate", {
  # norm 0.5 inside the limit: factor 0.5 / (0.5 + 1e-7)
  out <- nl_constraint_apply(constraint_maxnorm(2), W)
  expect_identical(out[2, 2], 0.5 * 0.5 / (0.5 + 1e-7))
  expect_lt(out[2, 2], 0.5)
})

test_that("negative axes, several axes and all axes", {
  expect_identical(nl_constraint_apply(constraint_unitnorm(axis = -1), W),
                   nl_constraint_apply(constraint_unitnorm(axis = 2), W))
  set.seed(1)
  k <- array(rnorm(3 * 3 * 2 * 4), c(3, 3, 2, 4)) # conv kernel (h, w, in, out)
  out <- nl_constraint_apply(constraint_unitnorm(axis = 1:3), k)
  expect_identical(dim(out), dim(k))
  norms <- apply(out, 4, function(s) sqrt(sum(s^2)))
  expect_equal(norms, rep(1, 4), tolerance = 1e-6)
  expect_equal(out[, , , 2], k[, , , 2] / (sqrt(sum(k[, , , 2]^2)) + 1e-7))
  # Axes 2 and 4 reduced: one norm per (i, k) position.
  out2 <- nl_constraint_apply(constraint_unitnorm(axis = c(2, -1)), k)
  expect_equal(out2[2, , 1, ], k[2, , 1, ] / (sqrt(sum(k[2, , 1, ]^2)) + 1e-7))
  # All axes: one global norm.
  all <- nl_constraint_apply(constraint_maxnorm(1, axis = 1:2), W)
  expect_equal(all, W / (sqrt(sum(W^2)) + 1e-7))
})

test_that("a vector is a 1-D weight", {
  v <- c(3, 4)
  out <- nl_constraint_apply(constraint_unitnorm(), v)
  expect_null(dim(out))
  expect_equal(out, c(0.6, 0.8), tolerance = 1e-7)
  expect_equal(nl_constraint_apply(constraint_maxnorm(1, axis = -1), v),
               c(0.6, 0.8), tolerance = 1e-7)
  expect_error(nl_constraint_apply(constraint_unitnorm(axis = 2), v),
               class = "normlayers_error_axis")
  expect_error(nl_constraint_apply(constraint_unitnorm(axis = 3), W),
               class = "normlayers_error_axis")
  expect_error(nl_constraint_apply(constraint_unitnorm(axis = -3), W),
               class = "normlayers_error_axis")
  expect_identical(nl_constraint_apply(constraint_nonneg(), c(-1, 0, 2)),
                   c(0, 0, 2))
})

test_that("every string name resolves", {
  names <- list(
    MaxNorm = c("max_norm", "MaxNorm"),
    MinMaxNorm = c("min_max_norm", "MinMaxNorm"),
    UnitNorm = c("unit_norm", "UnitNorm"),
    NonNeg = c("non_neg", "NonNeg")
  )
  for (cls in names(names)) {
    for (s in names[[cls]]) {
      expect_identical(nl_get_constraint(s)$class_name, cls, label = s)
    }
  }
  expect_identical(nl_get_constraint("max_norm"), constraint_maxnorm())
  # Legacy tf.keras names are not Keras 3 names.
  for (s in c("maxnorm", "nonneg", "unitnorm", "NONNEG")) {
    expect_error(nl_get_constraint(s), class = "normlayers_error_constraint")
  }
})

test_that("NULL, objects, bare constructors and bad input", {
  expect_null(nl_get_constraint(NULL))
  con <- constraint_maxnorm(5)
  expect_identical(nl_get_constraint(con), con)
  expect_identical(nl_get_constraint(constraint_nonneg), constraint_nonneg())
  expect_identical(nl_get_constraint(constraint_minmaxnorm),
                   constraint_minmaxnorm())
  expect_error(nl_get_constraint(2), class = "normlayers_error_constraint")
  expect_error(nl_get_constraint(regularizer_l1()),
               class = "normlayers_error_constraint")
  h <- function(beta_constraint) nl_get_constraint(beta_constraint)
  expect_error(h("max"), "beta_constraint")
})

test_that("R functions are wrapped and their results checked", {
  con <- nl_get_constraint(function(w) pmin(w, 1))
  expect_identical(con$class_name, "RFunction")
  expect_identical(nl_constraint_apply(con, W), matrix(c(1, 1, 0, 0.5), 2))
  expect_identical(nl_constraint_apply(con, c(2, -3)), c(1, -3))
  bad <- nl_get_constraint(function(w) w[1])
  expect_error(nl_constraint_apply(bad, W),
               class = "normlayers_error_constraint")
  expect_error(nl_constraint_apply(nl_get_constraint(function(w) "x"), 1),
               class = "normlayers_error_constraint")
})

test_that("a NULL constraint leaves the weight unchanged", {
  expect_identical(nl_constraint_apply(NULL, W), W)
})

test_that("functions without arguments are rejected", {
  expect_error(nl_get_constraint(function() 1), class = "normlayers_error_constraint")
})
