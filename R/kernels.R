# Internal wrappers around the C++ kernels (src/glue-kernels.cpp).
#
# An array is described by "runs": consecutive axes with the same status
# (kept or reduced) merged into one run whose size is the product of their
# sizes. Kept-indexed vectors (statistics) are column-major over the kept axes,
# reduced-indexed vectors column-major over the reduced axes. The wrappers do
# no validation: callers pass double arrays and well-formed arguments.

# Collapse `dim` and a set of reduced axes (1-based) into runs.
# Size-1 axes carry no information and are dropped; the result has
# `sizes` (double) and `reduced` (logical), alternating statuses.
nl_runs <- function(dim, reduced_axes) {
  dim <- as.double(dim)
  red <- seq_along(dim) %in% reduced_axes
  keep <- dim != 1
  dim <- dim[keep]
  red <- red[keep]
  n <- length(dim)
  if (n == 0L) {
    return(list(sizes = double(), reduced = logical()))
  }
  # a plain loop: the rank is small and this runs on every kernel call
  sizes <- dim[1L]
  status <- red[1L]
  k <- 1L
  for (i in seq_len(n)[-1L]) {
    if (red[i] == status[k]) {
      sizes[k] <- sizes[k] * dim[i]
    } else {
      k <- k + 1L
      sizes[k] <- dim[i]
      status[k] <- red[i]
    }
  }
  list(sizes = sizes, reduced = status)
}

# Threads for a kernel call on `x`: inputs below the kernels' parallel
# threshold run on one thread anyway, so they skip the option and environment
# lookups.
nl_kernel_threads <- function(x) {
  min_n <- .nl_thread_cache$min_parallel
  if (is.null(min_n)) min_n <- .nl_thread_cache$min_parallel <- cpp_min_parallel_elements()
  if (length(x) < min_n) 1L else nl_threads()
}

# TRUE forces the general (odometer) path; used by the tests.
nl_kernel_force_general <- function() {
  isTRUE(getOption("normlayers.kernel_force_general", FALSE))
}

nl_kernel_moments <- function(x, runs, na_rm = FALSE) {
  cpp_moments(x, runs$sizes, runs$reduced, isTRUE(na_rm), nl_kernel_threads(x),
              nl_kernel_force_general())
}

nl_kernel_apply <- function(x, runs, center, scale, gamma = NULL, beta = NULL,
                            param_on = c("reduced", "kept")) {
  param_on <- match.arg(param_on)
  cpp_apply(x, runs$sizes, runs$reduced, center, scale, gamma, beta,
            param_on == "kept", nl_kernel_threads(x), nl_kernel_force_general())
}

# keep_stats = FALSE (inference) returns only `y`: the per-position mean and
# rstd are needed by the backward pass alone.
nl_kernel_layer_norm <- function(x, runs, gamma, beta, epsilon, keep_stats = TRUE) {
  cpp_layer_norm(x, runs$sizes, runs$reduced, gamma, beta, epsilon,
                 nl_kernel_threads(x), nl_kernel_force_general(), isTRUE(keep_stats))
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
