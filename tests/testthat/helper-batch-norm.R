# Slow pure-R references for batch normalization tests (apply/aperm, no kernels).

# Moves the channel axis `a` (positive) last and flattens the rest:
# returns a matrix with one column per channel, and the permutation used.
bn_ref_matrix <- function(x, a) {
  d <- dim(x)
  perm <- c(setdiff(seq_along(d), a), a)
  xp <- aperm(x, perm)
  list(m = matrix(xp, ncol = d[a]), perm = perm, dp = dim(xp))
}

bn_ref_unmatrix <- function(m, ref) {
  aperm(array(m, ref$dp), order(ref$perm))
}

# Per-channel population mean and variance over every axis but `a`.
bn_ref_moments <- function(x, a) {
  m <- bn_ref_matrix(x, a)$m
  mu <- apply(m, 2, mean)
  v <- apply(m, 2, function(col) mean((col - mean(col))^2))
  list(mean = mu, var = v)
}

# (x - mean) / sqrt(var + eps) * gamma + beta along channel axis `a`.
bn_ref_apply <- function(x, a, mean, var, gamma = NULL, beta = NULL, eps = 1e-3) {
  ref <- bn_ref_matrix(x, a)
  C <- ncol(ref$m)
  if (is.null(gamma)) gamma <- rep(1, C)
  if (is.null(beta)) beta <- rep(0, C)
  out <- ref$m
  for (j in seq_len(C)) {
    out[, j] <- (ref$m[, j] - mean[j]) / sqrt(var[j] + eps) * gamma[j] + beta[j]
  }
  y <- bn_ref_unmatrix(out, ref)
  dim(y) <- dim(x)
  y
}

bn_ref_train <- function(x, a, gamma = NULL, beta = NULL, eps = 1e-3) {
  mo <- bn_ref_moments(x, a)
  bn_ref_apply(x, a, mo$mean, mo$var, gamma, beta, eps)
}

bn_x43 <- function() rbind(c(1, 2, 3), c(4, 6, 8), c(7, 10, 13), c(10, 18, 20))

# FALSE under the dev stubs of dev/stubs.R (whose initializers serialize as
# lower-case names and do not round-trip); TRUE with the real families.
bn_real_families <- function() {
  !identical(nl_serialize(nl_get_initializer("ones", "x"))$class_name, "ones")
}
