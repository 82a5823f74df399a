# Slow, obviously correct reference implementations of the kernels.
# An array is permuted so that the reduced axes come first; as a matrix it
# then has one row per reduced position and one column per kept position,
# both numbered column-major in increasing axis order.

ref_split <- function(x, reduced_axes) {
  d <- dim(x)
  if (is.null(d)) d <- length(x)
  reduced_axes <- sort(unique(reduced_axes))
  kept <- setdiff(seq_along(d), reduced_axes)
  perm <- c(reduced_axes, kept)
  xa <- array(x, dim = d)
  xp <- if (length(d) > 1) aperm(xa, perm) else xa
  R <- prod(d[reduced_axes])
  K <- prod(d[kept])
  list(X = matrix(as.vector(xp), nrow = R, ncol = K), d = d, perm = perm,
       R = R, K = K)
}

ref_join <- function(X, s) {
  y <- array(as.vector(X), dim = s$d[s$perm])
  if (length(s$d) > 1) y <- aperm(y, order(s$perm))
  array(as.vector(y), dim = s$d)
}

ref_moments <- function(x, reduced_axes, na_rm = FALSE) {
  s <- ref_split(x, reduced_axes)
  mean <- var <- count <- numeric(s$K)
  for (k in seq_len(s$K)) {
    v <- s$X[, k]
    if (na_rm) v <- v[!is.na(v)]
    count[k] <- length(v)
    m <- sum(v) / length(v)
    mean[k] <- m
    var[k] <- sum((v - m)^2) / length(v)
  }
  list(mean = mean, var = var, count = count)
}

# parameter matrix (R x K) for a parameter indexed by reduced or kept position
ref_param <- function(p, s, param_on, default) {
  if (is.null(p)) return(matrix(default, s$R, s$K))
  if (param_on == "kept") matrix(p, s$R, s$K, byrow = TRUE) else matrix(p, s$R, s$K)
}

ref_apply <- function(x, reduced_axes, center, scale, gamma = NULL, beta = NULL,
                      param_on = "reduced") {
  s <- ref_split(x, reduced_axes)
  if (is.null(center)) center <- numeric(s$K)
  C <- matrix(center, s$R, s$K, byrow = TRUE)
  S <- matrix(scale, s$R, s$K, byrow = TRUE)
  G <- ref_param(gamma, s, param_on, 1)
  B <- ref_param(beta, s, param_on, 0)
  ref_join((s$X - C) * S * G + B, s)
}

ref_layer_norm <- function(x, reduced_axes, gamma, beta, epsilon) {
  m <- ref_moments(x, reduced_axes)
  rstd <- 1 / sqrt(m$var + epsilon)
  list(y = ref_apply(x, reduced_axes, m$mean, rstd, gamma, beta, "reduced"),
       mean = m$mean, rstd = rstd)
}

ref_batch_norm_train <- function(x, reduced_axes, gamma, beta, epsilon) {
  m <- ref_moments(x, reduced_axes)
  rstd <- 1 / sqrt(m$var + epsilon)
  list(y = ref_apply(x, reduced_axes, m$mean, rstd, gamma, beta, "kept"),
       mean = m$mean, var = m$var)
}

ref_backward <- function(x, dy, reduced_axes, mean, rstd, gamma, param_on,
                         batch_stats) {
  s <- ref_split(x, reduced_axes)
  D <- ref_split(dy, reduced_axes)$X
  M <- matrix(mean, s$R, s$K, byrow = TRUE)
  RS <- matrix(rstd, s$R, s$K, byrow = TRUE)
  G <- ref_param(gamma, s, param_on, 1)
  xhat <- (s$X - M) * RS
  g <- D * G
  if (batch_stats) {
    mg <- matrix(colMeans(g), s$R, s$K, byrow = TRUE)
    mgx <- matrix(colMeans(g * xhat), s$R, s$K, byrow = TRUE)
    dx <- RS * (g - mg - xhat * mgx)
  } else {
    dx <- g * RS
  }
  if (param_on == "kept") {
    dgamma <- colSums(D * xhat)
    dbeta <- colSums(D)
  } else {
    dgamma <- rowSums(D * xhat)
    dbeta <- rowSums(D)
  }
  list(dx = ref_join(dx, s), dgamma = as.vector(dgamma), dbeta = as.vector(dbeta))
}

# a random shape of the given rank (sizes 1..5) and a random reduced set
random_case <- function(rank) {
  d <- sample(1:5, rank, replace = TRUE)
  nred <- sample(0:rank, 1)
  red <- sort(sample(seq_len(rank), nred))
  list(d = d, red = red)
}

with_paths <- function(code_fn) {
  # run once with the automatic fast paths and once forcing the general path
  for (force in c(FALSE, TRUE)) {
    withr::with_options(list(normlayers.kernel_force_general = force), code_fn(force))
  }
}

# ---- RMS, unit and group normalization ----------------------------------------

ref_rms_norm <- function(x, axes, scale, epsilon) {
  s <- ref_split(x, axes)
  rstd <- 1 / sqrt(colMeans(s$X^2) + epsilon)
  S <- if (is.null(scale)) 1 else matrix(scale, s$R, s$K)
  list(y = ref_join(s$X * matrix(rstd, s$R, s$K, byrow = TRUE) * S, s), rstd = rstd)
}

ref_rms_backward <- function(x, dy, axes, rstd, scale) {
  s <- ref_split(x, axes)
  D <- ref_split(dy, axes)$X
  RS <- matrix(rstd, s$R, s$K, byrow = TRUE)
  S <- if (is.null(scale)) 1 else matrix(scale, s$R, s$K)
  xhat <- s$X * RS
  g <- D * S
  mgx <- matrix(colMeans(g * xhat), s$R, s$K, byrow = TRUE)
  list(dx = ref_join(RS * (g - xhat * mgx), s),
       dscale = if (is.null(scale)) NULL else as.vector(rowSums(D * xhat)))
}

ref_unit_norm <- function(x, axes, epsilon) {
  s <- ref_split(x, axes)
  inv <- 1 / sqrt(pmax(colSums(s$X^2), epsilon^2))
  list(y = ref_join(s$X * matrix(inv, s$R, s$K, byrow = TRUE), s), inv = inv)
}

ref_unit_backward <- function(x, dy, axes, epsilon) {
  s <- ref_split(x, axes)
  D <- ref_split(dy, axes)$X
  ss <- colSums(s$X^2)
  inv <- 1 / sqrt(pmax(ss, epsilon^2))
  IV <- matrix(inv, s$R, s$K, byrow = TRUE)
  xhat <- s$X * IV
  proj <- ifelse(ss > epsilon^2, colSums(D * xhat), 0)
  list(dx = ref_join(IV * (D - xhat * matrix(proj, s$R, s$K, byrow = TRUE)), s))
}

# GroupNormalization, one (sample, group) at a time.
ref_group_sets <- function(x, axis, groups) {
  d <- dim(x)
  C <- d[axis]
  grp <- (slice.index(x, axis) - 1) %/% (C / groups)
  list(n = slice.index(x, 1), g = grp, c = slice.index(x, axis), N = d[1], C = C)
}

ref_group_norm <- function(x, axis, groups, gamma, beta, epsilon) {
  s <- ref_group_sets(x, axis, groups)
  if (is.null(gamma)) gamma <- rep(1, s$C)
  if (is.null(beta)) beta <- rep(0, s$C)
  y <- x
  mean <- rstd <- numeric(s$N * groups)
  for (g in seq_len(groups) - 1) for (n in seq_len(s$N)) {
    sel <- s$n == n & s$g == g
    v <- x[sel]
    m <- sum(v) / length(v)
    r <- 1 / sqrt(sum((v - m)^2) / length(v) + epsilon)
    y[sel] <- (v - m) * r * gamma[s$c[sel]] + beta[s$c[sel]]
    mean[n + s$N * g] <- m
    rstd[n + s$N * g] <- r
  }
  list(y = y, mean = mean, rstd = rstd)
}

ref_group_backward <- function(x, dy, axis, groups, mean, rstd, gamma) {
  s <- ref_group_sets(x, axis, groups)
  if (is.null(gamma)) gamma <- rep(1, s$C)
  dx <- x
  dgamma <- dbeta <- numeric(s$C)
  for (g in seq_len(groups) - 1) for (n in seq_len(s$N)) {
    sel <- s$n == n & s$g == g
    k <- n + s$N * g
    xhat <- (x[sel] - mean[k]) * rstd[k]
    d <- dy[sel]
    gg <- d * gamma[s$c[sel]]
    dx[sel] <- rstd[k] * (gg - mean(gg) - xhat * mean(gg * xhat))
    dgamma <- dgamma + tabulate_sum(s$c[sel], d * xhat, s$C)
    dbeta <- dbeta + tabulate_sum(s$c[sel], d, s$C)
  }
  list(dx = dx, dgamma = dgamma, dbeta = dbeta)
}

tabulate_sum <- function(idx, v, n) {
  out <- numeric(n)
  sums <- tapply(v, idx, sum)
  out[as.integer(names(sums))] <- sums
  out
}

# a random GroupNormalization case: rank 2..5, channel axis not the batch axis
random_group_case <- function() {
  rank <- sample(2:5, 1)
  d <- sample(1:4, rank, replace = TRUE)
  axis <- if (rank == 2) 2L else sample(2:rank, 1)
  groups <- sample(1:3, 1)
  d[axis] <- groups * sample(1:3, 1)
  list(d = d, axis = axis, groups = groups)
}
