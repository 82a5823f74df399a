w <- matrix(c(1, 3, -2, -0.5), 2) # Keras [[1, -2], [3, -0.5]]


test_that("constructors store class names, configs and defaults", {
  expect_identical(regularizer_l1()$config, list(l1 = 0.01))
  expect_identical(regularizer_l2()$config, list(l2 = 0.01))
  expect_identical(regularizer_l1_l2()$config, list(l1 = 0, l2 = 0))
  expect_identical(regularizer_orthogonal()$config,
                   list(factor = 0.01, mode = "rows"))
  expect_identical(
    vapply(list(regularizer_l1(), regularizer_l2(), regularizer_l1_l2(),
                regularizer_orthogonal()), function(r) r$class_name, ""),
    c("L1", "L2", "L1L2", "OrthogonalRegularizer")
  )
  expect_s3_class(regularizer_l2(), "nl_regularizer")
  expect_output(print(regularizer_l1_l2(0.1, 0.2)),
                "<regularizer L1L2 l1=0.1 l2=0.2>", fixed = TRUE)
})

test_that("factors must be finite non-negative numbers", {
  for (bad in list(-0.1, Inf, NaN, NA, "0.1", c(0.1, 0.2), TRUE)) {
    expect_error(regularizer_l1(bad), class = "normlayers_error_value")
    expect_error(regularizer_l2(bad), class = "normlayers_error_value")
    expect_error(regularizer_l1_l2(l2 = bad), class = "normlayers_error_value")
    expect_error(regularizer_orthogonal(bad), class = "normlayers_error_value")
  }
  expect_error(regularizer_orthogonal(mode = "diagonal"),
               class = "normlayers_error_value")
  expect_error(regularizer_orthogonal(NULL), class = "normlayers_error_value")
  expect_identical(regularizer_l1(0L)$config$l1, 0)
  # NULL means the default, as in Keras
  expect_identical(regularizer_l1(NULL)$config$l1, 0.01)
  expect_identical(regularizer_l2(NULL)$config$l2, 0.01)
  expect_identical(regularizer_l1_l2(NULL, NULL)$config, list(l1 = 0, l2 = 0))
})

test_that("penalties match spec 14.7", {
  expect_equal(nl_regularizer_penalty(regularizer_l1(0.01), w), 0.065)
  expect_equal(nl_regularizer_penalty(regularizer_l2(0.01), w), 0.1425)
  expect_equal(nl_regularizer_penalty(regularizer_l1_l2(0.01, 0.01), w),
               0.2075)
  expect_identical(nl_regularizer_penalty(regularizer_l1_l2(), w), 0)
  # zero factors are skipped, as in Keras
  expect_identical(nl_regularizer_penalty(regularizer_l1_l2(l2 = 0.1), c(Inf, 1)),
                   Inf)
  expect_identical(nl_regularizer_penalty(regularizer_l1_l2(), c(Inf, 1)), 0)
  expect_identical(nl_regularizer_gradient(regularizer_l1_l2(), c(Inf, 1)),
                   c(0, 0))
})

test_that("every string name resolves, with the right factors", {
  get_cfg <- function(s) {
    r <- nl_get_regularizer(s)
    c(list(class_name = r$class_name), r$config)
  }
  expect_identical(get_cfg("l1"), list(class_name = "L1", l1 = 0.01))
  expect_identical(get_cfg("L1"), list(class_name = "L1", l1 = 0.01))
  expect_identical(get_cfg("l2"), list(class_name = "L2", l2 = 0.01))
  expect_identical(get_cfg("L2"), list(class_name = "L2", l2 = 0.01))
  expect_identical(get_cfg("l1l2"), list(class_name = "L1L2", l1 = 0, l2 = 0))
  expect_identical(get_cfg("L1L2"), list(class_name = "L1L2", l1 = 0, l2 = 0))
  expect_identical(get_cfg("l1_l2"),
                   list(class_name = "L1L2", l1 = 0.01, l2 = 0.01))
  for (s in c("orthogonal_regularizer", "OrthogonalRegularizer")) {
    expect_identical(get_cfg(s), list(class_name = "OrthogonalRegularizer",
                                      factor = 0.01, mode = "rows"))
  }
  expect_equal(nl_regularizer_penalty(nl_get_regularizer("l1_l2"), w), 0.2075)
})

test_that("NULL, objects, bare constructors and bad input", {
  expect_null(nl_get_regularizer(NULL))
  r <- regularizer_l2(0.5)
  expect_identical(nl_get_regularizer(r), r)
  expect_identical(nl_get_regularizer(regularizer_l2), regularizer_l2())
  expect_identical(nl_get_regularizer(regularizer_l1_l2), regularizer_l1_l2())
  expect_error(nl_get_regularizer("l3"), class = "normlayers_error_regularizer")
  expect_error(nl_get_regularizer("L1_L2"),
               class = "normlayers_error_regularizer")
  expect_error(nl_get_regularizer("orthogonal"),
               class = "normlayers_error_regularizer")
  expect_error(nl_get_regularizer(0.01), class = "normlayers_error_regularizer")
  expect_error(nl_get_regularizer(initializer_zeros()),
               class = "normlayers_error_regularizer")
  g <- function(gamma_regularizer) nl_get_regularizer(gamma_regularizer)
  expect_error(g("l3"), "gamma_regularizer")
})

test_that("analytic gradients of l1, l2 and l1_l2", {
  x <- array(c(-1.5, 0, 2, 0.25, -3, 1), c(3, 2))
  expect_identical(nl_regularizer_gradient(regularizer_l1(0.1), x),
                   0.1 * array(c(-1, 0, 1, 1, -1, 1), c(3, 2)))
  expect_identical(nl_regularizer_gradient(regularizer_l2(0.1), x), 0.2 * x)
  expect_equal(nl_regularizer_gradient(regularizer_l1_l2(0.1, 0.3), x),
               0.1 * sign(x) + 0.6 * x)
  v <- c(-1, 2)
  gv <- nl_regularizer_gradient(regularizer_l2(), v)
  expect_null(dim(gv))
  expect_equal(gv, c(-0.02, 0.04))
})

test_that("l1 and l2 gradients agree with finite differences", {
  set.seed(1)
  x <- array(rnorm(24), c(2, 3, 4))
  for (reg in list(regularizer_l1(0.3), regularizer_l2(0.7),
                   regularizer_l1_l2(0.2, 0.4))) {
    expect_equal(
      nl_regularizer_gradient(reg, x),
      numeric_gradient(function(v) nl_regularizer_penalty(reg, v), x),
      tolerance = 1e-6
    )
  }
})

test_that("orthogonal penalty follows the Keras formula", {
  # Orthogonal rows: zero penalty.
  expect_equal(nl_regularizer_penalty(regularizer_orthogonal(), diag(c(2, 3))),
               0)
  # Two rows at 45 degrees: |cos| = 1/sqrt(2), one pair.
  m <- matrix(c(1, 1, 0, 1), 2) # rows (1, 0) and (1, 1)
  expect_equal(nl_regularizer_penalty(regularizer_orthogonal(0.1), m),
               0.1 * 0.5 * 2 * (1 / sqrt(2)) / 1)
  # Columns mode uses the columns: columns (1, 1) and (0, 1).
  expect_equal(
    nl_regularizer_penalty(regularizer_orthogonal(0.1, "columns"), m),
    0.1 * 0.5 * 2 * (1 / sqrt(2))
  )
  # Direct formula on a random 4 x 3 weight (rows mode, k = 4).
  set.seed(2)
  x <- matrix(rnorm(12), 4, 3)
  u <- x / sqrt(rowSums(x^2))
  p <- abs(u %*% t(u))
  expected <- 0.2 * 0.5 * (sum(p) - sum(diag(p))) / 6
  expect_equal(nl_regularizer_penalty(regularizer_orthogonal(0.2), x),
               expected)
  expect_identical(
    nl_regularizer_penalty(regularizer_orthogonal(), matrix(1:3, 1)), 0
  )
  expect_error(nl_regularizer_penalty(regularizer_orthogonal(), 1:3),
               class = "normlayers_error_regularizer")
  expect_error(nl_regularizer_penalty(regularizer_orthogonal(),
                                      array(1, c(2, 2, 2))),
               class = "normlayers_error_regularizer")
})

test_that("orthogonal gradient agrees with finite differences", {
  set.seed(3)
  for (mode in c("rows", "columns")) {
    reg <- regularizer_orthogonal(0.3, mode)
    x <- matrix(rnorm(15), 5, 3)
    expect_equal(
      nl_regularizer_gradient(reg, x),
      numeric_gradient(function(v) nl_regularizer_penalty(reg, v), x),
      tolerance = 1e-6
    )
  }
})

test_that("R functions are wrapped; gradients by finite differences", {
  f <- function(v) sum(v^4) + prod(v[1:2])
  reg <- nl_get_regularizer(f)
  expect_s3_class(reg, "nl_regularizer")
  expect_identical(reg$class_name, "RFunction")
  x <- matrix(c(0.5, -1, 2, 1.5), 2)
  expect_equal(nl_regularizer_penalty(reg, x), f(x))
  analytic <- 4 * x^3 + c(x[2], x[1], 0, 0)
  g <- nl_regularizer_gradient(reg, x)
  expect_identical(dim(g), dim(x))
  expect_equal(g, analytic, tolerance = 1e-6)

  expect_error(nl_regularizer_penalty(nl_get_regularizer(function(v) v), x),
               class = "normlayers_error_regularizer")
  expect_error(
    nl_regularizer_penalty(nl_get_regularizer(function(v) "big"), x),
    class = "normlayers_error_regularizer"
  )
})

test_that("a NULL regularizer has zero penalty and gradient", {
  expect_identical(nl_regularizer_penalty(NULL, w), 0)
  expect_identical(nl_regularizer_gradient(NULL, w), array(0, dim(w)))
})

test_that("functions without arguments are rejected", {
  expect_error(nl_get_regularizer(function() 1), class = "normlayers_error_regularizer")
})

test_that("a regularizer function can supply its gradient as an attribute", {
  f <- function(w) 0.5 * sum(w^2)
  attr(f, "gradient") <- function(w) 0.5 * 2 * w
  reg <- nl_get_regularizer(f)
  x <- matrix(rnorm(200 * 3), 200, 3)
  expect_identical(nl_regularizer_gradient(reg, x), x)
  bad <- f
  attr(bad, "gradient") <- function(w) "no"
  expect_error(nl_regularizer_gradient(nl_get_regularizer(bad), x),
               class = "normlayers_error_regularizer")
})

test_that("without a gradient, large weights are refused instead of costly finite differences", {
  # sum(abs(w)^3) written so that its gradient cannot be derived from its body
  f <- function(w) sum(vapply(w, function(v) abs(v)^3, 0))
  reg <- nl_get_regularizer(f)
  small <- rnorm(64)
  expect_equal(nl_regularizer_gradient(reg, small), 3 * small^2 * sign(small), tolerance = 1e-6)
  expect_error(nl_regularizer_gradient(reg, rnorm(65)), class = "normlayers_error_regularizer")
  # fit() refuses before its first step; the penalty alone still works.
  set.seed(72)
  model <- keras_model_sequential(input_shape = 20) |> layer_dense(10, kernel_regularizer = f)
  compile(model, optimizer = "sgd", loss = "mse")
  w <- get_weights(model)
  x <- matrix(rnorm(100), 5, 20)
  y <- matrix(rnorm(50), 5, 10)
  err <- tryCatch(fit(model, x, y, verbose = 0), error = identity)
  expect_s3_class(err, "normlayers_error_regularizer")
  expect_match(conditionMessage(err), "gradient")
  expect_identical(get_weights(model), w)
  expect_identical(nl_state(model)$compiled$optimizer$iterations, 0L)
  expect_equal(evaluate(model, x, y)$loss,
               mean((x %*% w[[1]] + rep(w[[2]], each = 5) - y)^2) + f(w[[1]]), tolerance = 1e-12)
  # With the gradient, the same model trains.
  attr(f, "gradient") <- function(w) 3 * w^2 * sign(w)
  model2 <- keras_model_sequential(input_shape = 20) |> layer_dense(10, kernel_regularizer = f)
  compile(model2, optimizer = optimizer_sgd(0.01), loss = "mse")
  set_weights(model2, w)
  fit(model2, x, y, batch_size = 5, epochs = 1, verbose = 0)
  g <- crossprod(x, 2 * (x %*% w[[1]] + rep(w[[2]], each = 5) - y) / 50) + 3 * w[[1]]^2 * sign(w[[1]])
  expect_equal(get_weights(model2)[[1]], w[[1]] - 0.01 * g, tolerance = 1e-12)
})
