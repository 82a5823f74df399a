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
