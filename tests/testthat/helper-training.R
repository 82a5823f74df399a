# Helpers for the training tests (finite differences are in helper-gradients.R).

random_array <- function(d) array(rnorm(prod(d)), d)

# Checks a layer's backward pass against finite differences of sum(output * r).
expect_layer_gradients <- function(layer, x, tol = 1e-6) {
  st <- nl_state(layer)
  out <- nl_layer_run(layer, x, training = TRUE)
  r <- random_array(dim(out$output))
  back <- nl_layer_backward(layer, out$cache, r)
  f_x <- function(xx) sum(nl_layer_forward(layer, xx, TRUE)$output * r)
  expect_lt(relative_error(back$dx, numeric_gradient(f_x, x)), tol)
  for (nm in names(back$grads)) {
    w0 <- st$weights[[nm]]
    f_w <- function(w) {
      st$weights[[nm]] <- w
      on.exit(st$weights[[nm]] <- w0)
      sum(nl_layer_forward(layer, x, TRUE)$output * r)
    }
    expect_lt(relative_error(back$grads[[nm]], numeric_gradient(f_w, w0)), tol)
    expect_equal(length(back$grads[[nm]]), length(w0))
  }
  invisible(back)
}

# Sets every weight of a layer or model to random normal values.
randomize_weights <- function(object, sd = 0.5) {
  set_weights(object, lapply(get_weights(object), function(w) {
    w[] <- rnorm(length(w), sd = sd)
    w
  }))
}

has_families <- function() {
  exists("nl_regularizer_penalty", mode = "function") &&
    exists("nl_constraint_apply", mode = "function") &&
    exists("regularizer_l2", mode = "function")
}
