# Dev-only pure-R stand-ins for kernels and families, for testing the framework early.
nl_runs <- function(d, reduced_axes) list(d = d, red = seq_along(d) %in% reduced_axes)
.perm <- function(x, runs) { d <- runs$d; kept <- which(!runs$red); red <- which(runs$red)
  m <- aperm(array(x, d), c(kept, red)); dim(m) <- c(prod(d[kept]), prod(d[red])); m }
.unperm <- function(m, runs) { d <- runs$d; kept <- which(!runs$red); red <- which(runs$red)
  a <- array(m, c(d[kept], d[red])); aperm(a, order(c(kept, red))) }
nl_kernel_moments <- function(x, runs, na_rm = FALSE) { m <- .perm(x, runs); mu <- rowMeans(m, na.rm = na_rm)
  list(mean = mu, var = rowMeans((m - mu)^2, na.rm = na_rm), count = rowSums(!is.na(m))) }
nl_kernel_apply <- function(x, runs, center, scale, gamma = NULL, beta = NULL, param_on = "reduced") {
  m <- .perm(x, runs); if (!is.null(center)) m <- m - center; m <- m * scale
  if (param_on == "reduced") { if (!is.null(gamma)) m <- sweep(m, 2, gamma, "*"); if (!is.null(beta)) m <- sweep(m, 2, beta, "+") }
  else { if (!is.null(gamma)) m <- m * gamma; if (!is.null(beta)) m <- m + beta }
  y <- .unperm(m, runs); dim(y) <- dim(x); y }
nl_kernel_layer_norm <- function(x, runs, gamma, beta, epsilon) { mo <- nl_kernel_moments(x, runs); rstd <- 1/sqrt(mo$var + epsilon)
  list(y = nl_kernel_apply(x, runs, mo$mean, rstd, gamma, beta, "reduced"), mean = mo$mean, rstd = rstd) }
nl_kernel_batch_norm_train <- function(x, runs, gamma, beta, epsilon) { mo <- nl_kernel_moments(x, runs)
  list(y = nl_kernel_apply(x, runs, mo$mean, 1/sqrt(mo$var + epsilon), gamma, beta, "kept"), mean = mo$mean, var = mo$var) }
nl_kernel_norm_backward <- function(x, dy, runs, mean, rstd, gamma, param_on, batch_stats) {
  X <- .perm(x, runs); G0 <- .perm(dy, runs); xh <- (X - mean) * rstd
  G <- if (is.null(gamma)) G0 else if (param_on == "reduced") sweep(G0, 2, gamma, "*") else G0 * gamma
  dx <- if (batch_stats) rstd * (G - rowMeans(G) - xh * rowMeans(G * xh)) else G * rstd
  if (param_on == "reduced") { dg <- colSums(G0 * xh); db <- colSums(G0) } else { dg <- rowSums(G0 * xh); db <- rowSums(G0) }
  dx <- .unperm(dx, runs); dim(dx) <- dim(x); list(dx = dx, dgamma = dg, dbeta = db) }
