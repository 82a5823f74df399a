# Helpers for the rest of the normalization family. The oracles of RMS, unit
# and group normalization are in helper-reference.R (the one oracle set);
# here: a per-slice map, the spectral-normalization oracle, a model gradient
# check and random axes.

# All index tuples of the kept axes; for each, `f` maps the sub-array over the
# reduced axes (a plain vector in column-major order) to a vector of the same
# length, which is written back.
family_slice_map <- function(x, axes, f) {
  d <- dim(x)
  kept <- setdiff(seq_along(d), axes)
  grid <- as.matrix(expand.grid(lapply(d[kept], seq_len)))
  if (length(kept) == 0) grid <- matrix(0L, 1, 0)
  y <- x
  for (r in seq_len(nrow(grid))) {
    idx <- lapply(d, seq_len)
    idx[kept] <- as.list(grid[r, ])
    v <- as.vector(do.call(`[`, c(list(x), idx, drop = FALSE)))
    y <- do.call(`[<-`, c(list(y), idx, list(value = f(v))))
  }
  y
}

# Spectral normalization of a kernel (rows x units) from a row vector u:
# returns the new u, sigma and the normalized kernel, written with sums.
family_spectral_oracle <- function(W, u, iterations = 1) {
  rows <- nrow(W)
  units <- ncol(W)
  nrm <- function(a) a / max(sqrt(sum(a^2)), 1e-7)
  for (it in seq_len(iterations)) {
    v <- nrm(vapply(seq_len(rows), function(i) sum(u * W[i, ]), 1))
    u <- nrm(vapply(seq_len(units), function(j) sum(v * W[, j]), 1))
  }
  sigma <- sum(vapply(seq_len(units), function(j) sum(v * W[, j]) * u[j], 1))
  list(u = u, v = v, sigma = sigma, kernel = W / sigma)
}

# Checks a model's backward pass (loss "mse") against finite differences of
# the loss, for the input and every trainable weight. `training` is the mode
# of the finite-difference forward passes.
family_expect_model_gradients <- function(model, x, y, training = TRUE, tol = 1e-6) {
  loss <- nl_get_loss("mse")
  fw <- nl_layer_run(model, x, training = TRUE)
  bw <- nl_layer_backward(model, fw$cache, loss$fn(y, fw$output)$grad)
  f_x <- function(xx) loss$fn(y, nl_layer_forward(model, xx, training)$output)$value
  expect_lt(relative_error(bw$dx, numeric_gradient(f_x, x)), tol)
  slots <- nl_weight_slots(model, trainable = TRUE)
  keys <- vapply(slots, function(s) paste0(s$layer, "/", s$name), "")
  expect_setequal(names(bw$grads), keys)
  for (i in seq_along(slots)) {
    s <- slots[[i]]
    w0 <- s$st$weights[[s$name]]
    f_w <- function(w) {
      s$st$weights[[s$name]] <- w
      on.exit(s$st$weights[[s$name]] <- w0)
      loss$fn(y, nl_layer_forward(model, x, training)$output)$value
    }
    expect_lt(relative_error(bw$grads[[keys[i]]], numeric_gradient(f_w, w0)), tol)
  }
  invisible(bw)
}

# Random shape of a rank with sizes 1..4, and a random non-empty axis set.
family_random_axes <- function(rank) {
  sort(sample(seq_len(rank), sample(seq_len(rank), 1)))
}
