# Gradients of regularizer functions derived from their body (R/regularizer-derive.R).

fd_gradient <- function(f, w) {
  vapply(seq_along(w), function(i) {
    h <- 1e-6 * max(1, abs(w[i]))
    up <- w
    dn <- w
    up[i] <- w[i] + h
    dn[i] <- w[i] - h
    (f(up) - f(dn)) / (2 * h)
  }, numeric(1))
}

test_that("penalties of sums and means of element-wise expressions get their exact gradient", {
  set.seed(81)
  lambda <- 0.3
  fns <- list(
    function(w) 0.01 * sum(w^2),
    function(w) sum(abs(w)) * 1e-3,
    function(w) 1e-3 * sum(abs(w)) + 1e-4 * mean(w^2),
    function(w) 0.1 * sqrt(sum(w^2)),
    function(w) lambda * sum(sqrt(w^2 + 1e-3)),
    function(w) { 0.5 * mean(exp(-w) + log(1 + w^2)) },
    function(w) sum(abs(w)^3) / 7 - 2,
    function(w) sum(tanh(w) * w) + sum(sin(w) / (2 + cos(w))),
    function(w) (sum(w) / 3)^2 + sum(log1p(w^2)) - sum(expm1(-w^2)),
    function(x, k = 2) sum((x - 1)^k) / length(x),
    function(w) sum(-w) + 4,
    function(w) 3
  )
  w <- array(rnorm(24), c(2, 3, 4))
  for (f in fns) {
    g <- nl_derived_gradient(f)
    expect_true(is.function(g))
    expect_equal(g(w), fd_gradient(f, w), tolerance = 1e-6)
    # through the regularizer: an array like the weight
    got <- nl_regularizer_gradient(nl_get_regularizer(f), w)
    expect_identical(dim(got), dim(w))
    expect_equal(as.double(got), g(w))
  }
  # exact forms
  expect_identical(nl_derived_gradient(function(w) 0.01 * sum(w^2))(w), as.double(0.01 * (2 * w)))
  expect_identical(nl_derived_gradient(function(w) 2 * sum(abs(w)))(c(-1, 0, 3)), c(-2, 0, 2))
  expect_identical(nl_derived_gradient(function(w) 3)(w), rep(0, 24))
})

test_that("functions outside that form are not derived", {
  sum2 <- function(x) base::sum(x) * 2
  not_derived <- list(
    function(w) max(abs(w)),
    function(w) sum(pmax(w, 0)^2),
    function(w) sum(w^2, na.rm = TRUE),
    function(w) sum2(w^2),
    function(w) sum(w^w),
    function(w) sum(w) * sum(w^2) > 1,
    function(w, k) sum(w^k),
    function(...) sum(..1^2),
    function(w) { s <- sum(w^2); s },
    sum
  )
  for (f in not_derived) expect_null(nl_derived_gradient(f))
  # a masked sum() is not base R's
  local({
    sum <- function(x) 0
    f <- function(w) sum(w^2)
    expect_null(nl_derived_gradient(f))
  })
})

test_that("a product or quotient of penalties follows the product and quotient rules", {
  set.seed(82)
  w <- rnorm(7)
  f <- function(w) sum(w^2) * mean(abs(w))
  expect_equal(nl_derived_gradient(f)(w), fd_gradient(f, w), tolerance = 1e-6)
  f2 <- function(w) sum(w^2) / (1 + sum(abs(w)))
  expect_equal(nl_derived_gradient(f2)(w), fd_gradient(f2, w), tolerance = 1e-6)
})

test_that("derived gradients are cached per function and an attribute takes precedence", {
  f <- function(w) 0.2 * sum(w^2)
  expect_identical(nl_derived_gradient(f), nl_derived_gradient(f))
  g <- f
  attr(g, "gradient") <- function(w) array(7, dim(w))
  w <- matrix(1:6 / 2, 2, 3)
  expect_identical(nl_regularizer_gradient(nl_get_regularizer(g), w), array(7, dim(w)))
  expect_equal(nl_regularizer_gradient(nl_get_regularizer(f), w), 0.4 * w)
})

test_that("fit() trains a large layer with a derivable regularizer function as with the built-in one", {
  set.seed(83)
  x <- matrix(rnorm(40 * 30), 40, 30)
  y <- matrix(rnorm(40 * 20), 40, 20)
  run <- function(reg) {
    set.seed(84)
    model <- keras_model_sequential(input_shape = 30) |>
      layer_dense(20, kernel_regularizer = reg, bias_regularizer = reg)
    compile(model, optimizer = optimizer_adam(0.01), loss = "mse")
    h <- fit(model, x, y, batch_size = 8, epochs = 2, verbose = 0)
    list(weights = get_weights(model), loss = h$metrics$loss)
  }
  own <- run(function(w) 0.01 * sum(w^2))      # 600 kernel values: no finite differences
  builtin <- run(regularizer_l2(0.01))
  expect_equal(own$weights, builtin$weights, tolerance = 1e-12)
  expect_equal(own$loss, builtin$loss, tolerance = 1e-12)
})
