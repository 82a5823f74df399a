# Central finite differences and relative errors, shared by every gradient check.

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

relative_error <- function(a, b) {
  a <- as.double(a)
  b <- as.double(b)
  scale <- max(abs(a), abs(b))
  if (scale == 0) return(0)
  max(abs(a - b)) / scale
}
