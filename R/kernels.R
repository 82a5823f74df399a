# Internal wrappers around the C++ kernel library (inst/include/normlayers/,
# glued in src/glue-kernels.cpp).
#
# A layout is an array's dimensions and its reduced axes (nl_runs()).
# Kept-indexed vectors (statistics) are column-major over the kept axes,
# reduced-indexed vectors column-major over the reduced axes. The wrappers do
# no validation: callers pass double arrays and well-formed arguments.

# The layout of a kernel call, packed for C++: the array's dimensions
# (`sizes`, double) and one flag per axis (`reduced`). The C++ side collapses
# them into runs (the only place that does); nl_kernel_path() shows the result.
nl_runs <- function(dim, reduced_axes) {
  list(sizes = as.double(dim), reduced = seq_along(dim) %in% reduced_axes)
}

# Threads for a kernel call on `x`: inputs below the kernels' parallel
# threshold run on one thread anyway, so they skip the option and environment
# lookups.
nl_kernel_threads <- function(x) nl_size_threads(length(x))

# Threads for a kernel call, or for readying a new output, of `n` values.
nl_size_threads <- function(n) {
  min_n <- .nl_thread_cache$min_parallel
  if (is.null(min_n)) min_n <- .nl_thread_cache$min_parallel <- cpp_min_parallel_elements()
  if (n < min_n) 1L else nl_threads()
}

# TRUE forces the general (odometer) path; used by the tests.
nl_kernel_force_general <- function() {
  isTRUE(getOption("normlayers.kernel_force_general", FALSE))
}

nl_kernel_moments <- function(x, runs, na_rm = FALSE) {
  cpp_moments(x, runs$sizes, runs$reduced, isTRUE(na_rm), nl_kernel_threads(x),
              nl_kernel_force_general())
}

# Moments whose `mean` is relative to `shift` (a kept-indexed vector; NULL:
# each position's first-pass mean). Returns list(mean, var, count, shift):
# the mean of `x - shift` keeps the digits that rounding an absolute mean far
# from zero would lose, so partial moments merge exactly (nl_merge_moments()).
nl_kernel_moments_shifted <- function(x, runs, shift = NULL, na_rm = FALSE) {
  cpp_moments_shifted(x, runs$sizes, runs$reduced, shift, isTRUE(na_rm),
                      nl_kernel_threads(x), nl_kernel_force_general())
}

# Merges two sets of population moments `a` and `b`, each
# list(mean, var, count) of equal-length vectors, as if their data had been
# pooled (Chan, Golub and LeVeque's pairwise update). Either may carry a
# `shift` (its mean is then relative to it, see nl_kernel_moments_shifted());
# the result is relative to `a`'s shift (to `b`'s where `a` has no values)
# and carries it. Streamed statistics stay exact on data far from zero when
# every batch is taken relative to the same shift:
#   acc <- nl_kernel_moments_shifted(x1, runs)
#   acc <- nl_merge_moments(acc, nl_kernel_moments_shifted(x2, runs, acc$shift))
#   mean <- acc$shift + acc$mean; var <- acc$var
# Positions without values (count 0) take the other side's moments.
nl_merge_moments <- function(a, b) {
  na <- as.double(a$count)
  nb <- as.double(b$count)
  sa <- if (is.null(a$shift)) 0 else as.double(a$shift)
  sb <- if (is.null(b$shift)) 0 else as.double(b$shift)
  sa <- rep_len(sa, length(na))
  sb <- rep_len(sb, length(nb))
  n <- na + nb
  delta <- (sb - sa) + (b$mean - a$mean)
  w <- ifelse(n > 0, nb / n, 0)
  mean <- a$mean + delta * w
  m2 <- a$var * na + b$var * nb + delta^2 * na * w
  var <- m2 / n
  only_b <- na == 0
  only_a <- nb == 0 & !only_b
  mean[only_b] <- b$mean[only_b]
  var[only_b] <- b$var[only_b]
  mean[only_a] <- a$mean[only_a]
  var[only_a] <- a$var[only_a]
  out <- list(mean = mean, var = var, count = n)
  if (!is.null(a$shift) || !is.null(b$shift)) {
    out$shift <- ifelse(only_b, sb, sa)
  }
  out
}

# `out`: NULL (a new result) or a double array of x's length that the result
# is written into and that is returned, `x` itself included (an input the
# caller owns, see nl_layer_infer()).
nl_kernel_apply <- function(x, runs, center, scale, gamma = NULL, beta = NULL,
                            param_on = c("reduced", "kept"), out = NULL) {
  param_on <- match.arg(param_on)
  cpp_apply(x, runs$sizes, runs$reduced, center, scale, gamma, beta,
            param_on == "kept", nl_kernel_threads(x), nl_kernel_force_general(), out)
}

# keep_stats = FALSE (inference) returns only `y`: the per-position mean and
# rstd are needed by the backward pass alone.
# `out` as in nl_kernel_apply().
nl_kernel_layer_norm <- function(x, runs, gamma, beta, epsilon, keep_stats = TRUE, out = NULL) {
  cpp_layer_norm(x, runs$sizes, runs$reduced, gamma, beta, epsilon,
                 nl_kernel_threads(x), nl_kernel_force_general(), isTRUE(keep_stats), out)
}

nl_kernel_batch_norm_train <- function(x, runs, gamma, beta, epsilon) {
  cpp_batch_norm_train(x, runs$sizes, runs$reduced, gamma, beta, epsilon,
                       nl_kernel_threads(x), nl_kernel_force_general())
}

nl_kernel_norm_backward <- function(x, dy, runs, mean, rstd, gamma,
                                    param_on = c("reduced", "kept"),
                                    batch_stats = TRUE) {
  param_on <- match.arg(param_on)
  cpp_norm_backward(x, dy, runs$sizes, runs$reduced, mean, rstd, gamma,
                    param_on == "kept", isTRUE(batch_stats), nl_kernel_threads(x),
                    nl_kernel_force_general())
}

# The path the kernels take on an array of dimensions `dim` reduced over
# `axes`: list(kind = "rows" / "cols" / "general", streamed, sizes, reduced),
# the last two being the collapsed runs. For tests and debugging.
nl_kernel_path <- function(dim, axes, force_general = nl_kernel_force_general()) {
  runs <- nl_runs(dim, axes)
  cpp_plan_info(runs$sizes, runs$reduced, isTRUE(force_general))
}

# ---- RMS, unit and group normalization ---------------------------------------
# `x` is a double array (or vector), `axes` the reduced axes (sorted, 1-based);
# statistics are ordered column-major over the kept axes.

nl_kernel_dim <- function(x) {
  d <- dim(x)
  if (is.null(d)) length(x) else d
}

# rstd = 1 / sqrt(mean(x^2 over axes) + epsilon); y = x * rstd * scale, with
# `scale` reduced-indexed or NULL (= 1).
nl_kernel_rms_norm <- function(x, axes, scale, epsilon) {
  runs <- nl_runs(nl_kernel_dim(x), axes)
  cpp_rms_norm(x, runs$sizes, runs$reduced, scale, epsilon, nl_kernel_threads(x),
               nl_kernel_force_general())
}

# list(dx, dscale); dscale is NULL when `scale` is NULL.
nl_kernel_rms_backward <- function(x, dy, axes, rstd, scale) {
  runs <- nl_runs(nl_kernel_dim(x), axes)
  cpp_rms_backward(x, dy, runs$sizes, runs$reduced, rstd, scale, nl_kernel_threads(x),
                   nl_kernel_force_general())
}

# inv = 1 / sqrt(max(sum(x^2 over axes), epsilon^2)); y = x * inv (Keras >= 3.6
# `normalize`, order 2).
nl_kernel_unit_norm <- function(x, axes, epsilon) {
  runs <- nl_runs(nl_kernel_dim(x), axes)
  cpp_unit_norm(x, runs$sizes, runs$reduced, epsilon, nl_kernel_threads(x),
                nl_kernel_force_general())
}

# list(dx). Where the floor epsilon^2 was taken, inv is a constant (dx = dy * inv).
nl_kernel_unit_backward <- function(x, dy, axes, inv) {
  runs <- nl_runs(nl_kernel_dim(x), axes)
  cpp_unit_backward(x, dy, runs$sizes, runs$reduced, inv, nl_kernel_threads(x),
                    nl_kernel_force_general())
}

# GroupNormalization over channel axis `axis` (1-based, not the batch axis 1)
# split into `groups` contiguous groups: one mean / rstd per (sample, group),
# length N * groups, sample fastest; y = (x - mean) * rstd * gamma[c] + beta[c]
# with gamma / beta of length C or NULL.
nl_kernel_group_norm <- function(x, axis, groups, gamma, beta, epsilon) {
  cpp_group_norm(x, as.double(nl_kernel_dim(x)), as.integer(axis), as.integer(groups),
                 gamma, beta, epsilon, nl_kernel_threads(x), nl_kernel_force_general())
}

# list(dx, dgamma, dbeta): gradients of a GroupNormalization with batch
# statistics; dgamma / dbeta have length C.
nl_kernel_group_backward <- function(x, dy, axis, groups, mean, rstd, gamma) {
  cpp_group_backward(x, dy, as.double(nl_kernel_dim(x)), as.integer(axis),
                     as.integer(groups), mean, rstd, gamma, nl_kernel_threads(x),
                     nl_kernel_force_general())
}

# The path the group kernels take: "rows" or "general" (tests).
nl_kernel_group_path <- function(dim, axis, groups, force_general = nl_kernel_force_general()) {
  cpp_group_path(as.double(dim), as.integer(axis), as.integer(groups), isTRUE(force_general))
}
