# The one finite-difference toolkit of the test suite: central differences,
# relative errors, and the layer gradient check built on them. Every gradient
# test uses these (no local finite-difference loops).

# Central differences of a scalar function `f` at `x` (any shape; the result
# has the shape of `x`).
numeric_gradient <- function(f, x, h = 1e-5) {
  g <- x
  for (i in seq_along(x)) {
    xp <- x
    xm <- x
    xp[i] <- x[i] + h
    xm[i] <- x[i] - h
    g[i] <- (f(xp) - f(xm)) / (2 * h)
  }
  g
}

# max |a - b| relative to the larger of the two (0 when both are 0).
relative_error <- function(a, b) {
  a <- as.double(a)
  b <- as.double(b)
  scale <- max(abs(a), abs(b))
  if (scale == 0) return(0)
  max(abs(a - b)) / scale
}

# max |a - b| relative to the reference `b`.
rel_err <- function(a, b) {
  max(abs(as.vector(a) - as.vector(b))) / max(1e-300, max(abs(as.vector(b))))
}

# A random normal array of a given shape.
random_array <- function(shape, mean = 0, sd = 1) {
  array(stats::rnorm(prod(shape), mean, sd), shape)
}
rand_array <- random_array

# Checks a layer's backward pass (dx and the gradient of every trainable
# weight) against finite differences of sum(output * r). The layer's state
# (weights, moving statistics) is restored after every evaluation, so layers
# that update state in training (BatchNormalization) are checked at one point.
expect_layer_gradients <- function(layer, x, tol = 1e-6, training = TRUE, h = 1e-5) {
  st <- nl_state(layer)
  nl_layer_prepare(layer, dim(x))
  saved <- st$weights
  out <- nl_layer_forward(layer, x, training)
  st$weights <- saved
  r <- random_array(dim(out$output))
  back <- nl_layer_backward(layer, out$cache, r)
  loss_at <- function(what) {
    function(v) {
      on.exit(st$weights <- saved)
      xx <- x
      if (what == ".x") xx[] <- v else st$weights[[what]][] <- v
      sum(nl_layer_forward(layer, xx, training)$output * r)
    }
  }
  expect_identical(dim(back$dx), dim(x))
  expect_lt(relative_error(back$dx, numeric_gradient(loss_at(".x"), x, h)), tol)
  for (nm in names(back$grads)) {
    w0 <- saved[[nm]]
    expect_equal(length(back$grads[[nm]]), length(w0))
    expect_lt(relative_error(back$grads[[nm]], numeric_gradient(loss_at(nm), w0, h)), tol)
  }
  invisible(back)
}
