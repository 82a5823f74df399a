# STUB - DELETE AT MERGE when the C++ versions of these kernels land.
#
# Pure-R stand-ins for the kernels of the rest of the normalization family
# (issue 12): RMS, unit (L2) and group normalization, forward and backward.
# The names and signatures are the contract the C++ kernels implement:
#   * `x` is a double array with `dim`; `axes` are the reduced axes, sorted,
#     1-based;
#   * statistic vectors are ordered column-major over the kept axes;
#   * reduced-indexed parameters (RMS `scale`) are column-major over `axes`;
#   * statistics are two-pass in double precision.
# Nothing else belongs in this file.

# Splits `x` into a matrix with one row per reduced position and one column per
# kept position (both column-major in increasing axis order).
nl_stub_split <- function(x, axes) {
  d <- dim(x)
  kept <- setdiff(seq_along(d), axes)
  perm <- c(axes, kept)
  m <- if (length(d) > 1) aperm(x, perm) else x
  dim(m) <- c(prod(d[axes]), prod(d[kept]))
  list(m = m, d = d, perm = perm)
}

nl_stub_join <- function(m, s) {
  a <- m
  dim(a) <- s$d[s$perm]
  if (length(s$d) > 1) a <- aperm(a, order(s$perm))
  dim(a) <- s$d
  a
}

# RMS normalization: rstd = 1 / sqrt(mean(x^2) + epsilon) per kept position,
# y = x * rstd * scale (scale reduced-indexed, or NULL for 1).
nl_kernel_rms_norm <- function(x, axes, scale, epsilon) {
  s <- nl_stub_split(x, axes)
  rstd <- 1 / sqrt(colMeans(s$m^2) + epsilon)
  y <- s$m * rep(rstd, each = nrow(s$m))
  if (!is.null(scale)) y <- y * scale
  list(y = nl_stub_join(y, s), rstd = rstd)
}

# Gradient of the RMS normalization. With g = dy * scale:
# dx = rstd * g - x * rstd^3 * mean(g * x); dscale = sum over kept of dy * x * rstd.
nl_kernel_rms_backward <- function(x, dy, axes, rstd, scale) {
  s <- nl_stub_split(x, axes)
  D <- nl_stub_split(dy, axes)$m
  R <- nrow(s$m)
  r <- rep(rstd, each = R)
  g <- if (is.null(scale)) D else D * scale
  dx <- r * g - s$m * r^3 * rep(colMeans(g * s$m), each = R)
  dscale <- if (is.null(scale)) NULL else rowSums(D * s$m * r)
  list(dx = nl_stub_join(dx, s), dscale = dscale)
}

# Unit (L2) normalization: inv = 1 / sqrt(max(sum(x^2), epsilon^2)), y = x * inv.
nl_kernel_unit_norm <- function(x, axes, epsilon) {
  s <- nl_stub_split(x, axes)
  inv <- 1 / sqrt(pmax(colSums(s$m^2), epsilon^2))
  list(y = nl_stub_join(s$m * rep(inv, each = nrow(s$m)), s), inv = inv)
}

# Gradient of the unit normalization. Where the floor is not active
# (sum(x^2) * inv^2 == 1 up to rounding): dx = inv * dy - x * inv^3 * sum(dy * x);
# where it is (sum(x^2) * inv^2 < 1 - 1e-12), inv is a constant: dx = inv * dy.
nl_kernel_unit_backward <- function(x, dy, axes, inv) {
  s <- nl_stub_split(x, axes)
  D <- nl_stub_split(dy, axes)$m
  R <- nrow(s$m)
  free <- colSums(s$m^2) * inv^2 >= 1 - 1e-12
  coef <- ifelse(free, inv^3 * colSums(D * s$m), 0)
  dx <- D * rep(inv, each = R) - s$m * rep(coef, each = R)
  list(dx = nl_stub_join(dx, s))
}

# Group normalization view: (N, S, C/G, G) -> a matrix with one column per
# (sample, group), sample fastest, and one row per (spatial, channel-in-group).
nl_stub_groups <- function(x, axis, groups) {
  d <- dim(x)
  other <- setdiff(seq_along(d)[-1], axis)
  perm <- c(1L, other, axis)
  a <- aperm(x, perm)
  N <- d[1]
  S <- prod(d[other])
  C <- d[axis]
  dim(a) <- c(N, S * C / groups, groups)
  a <- aperm(a, c(2L, 1L, 3L))
  dim(a) <- c(S * C / groups, N * groups)
  list(m = a, d = d, perm = perm, N = N, S = S, C = C)
}

nl_stub_ungroup <- function(m, s, groups) {
  a <- m
  dim(a) <- c(s$S * s$C / groups, s$N, groups)
  a <- aperm(a, c(2L, 1L, 3L))
  dim(a) <- s$d[s$perm]
  a <- aperm(a, order(s$perm))
  dim(a) <- s$d
  a
}

# Per-channel parameter laid out like the grouped matrix.
nl_stub_group_param <- function(p, s, groups) {
  # rows: (spatial fastest, then channel within group); columns: (sample, group)
  cg <- s$C / groups
  pm <- matrix(p, nrow = cg, ncol = groups)          # channel-in-group x group
  rows <- pm[rep(seq_len(cg), each = s$S), , drop = FALSE]
  rows[, rep(seq_len(groups), each = s$N), drop = FALSE]
}

# Group normalization: one mean and rstd per (sample, group), two-pass. The
# second pass also corrects the centering by the mean of the residuals, so the
# centred values are exact even where the mean itself cannot be stored exactly
# (1e8 + N(0, 1) data: the ulp of 1e8 is 1.5e-8).
nl_kernel_group_norm <- function(x, axis, groups, gamma, beta, epsilon) {
  s <- nl_stub_groups(x, axis, groups)
  R <- nrow(s$m)
  m0 <- colMeans(s$m)
  xc <- s$m - rep(m0, each = R)
  corr <- colMeans(xc)
  xc <- xc - rep(corr, each = R)
  mean <- m0 + corr
  rstd <- 1 / sqrt(colMeans(xc^2) + epsilon)
  y <- xc * rep(rstd, each = R)
  if (!is.null(gamma)) y <- y * nl_stub_group_param(gamma, s, groups)
  if (!is.null(beta)) y <- y + nl_stub_group_param(beta, s, groups)
  list(y = nl_stub_ungroup(y, s, groups), mean = mean, rstd = rstd)
}

nl_kernel_group_backward <- function(x, dy, axis, groups, mean, rstd, gamma) {
  s <- nl_stub_groups(x, axis, groups)
  D <- nl_stub_groups(dy, axis, groups)$m
  R <- nrow(s$m)
  r <- rep(rstd, each = R)
  xhat <- (s$m - rep(mean, each = R)) * r
  g <- if (is.null(gamma)) D else D * nl_stub_group_param(gamma, s, groups)
  dx <- r * (g - rep(colMeans(g), each = R) - xhat * rep(colMeans(g * xhat), each = R))
  per_channel <- function(m) {
    a <- m
    dim(a) <- c(s$S, s$C / groups, s$N, groups)
    as.vector(apply(a, c(2L, 4L), sum))
  }
  list(dx = nl_stub_ungroup(dx, s, groups), dgamma = per_channel(D * xhat),
       dbeta = per_channel(D))
}
