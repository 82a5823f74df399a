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

# The path the kernels take on an array of dimensions `dim` reduced over
# `axes`: list(kind = "rows" / "cols" / "general", streamed, sizes, reduced),
# the last two being the collapsed runs. For tests and debugging.
nl_kernel_path <- function(dim, axes, force_general = nl_kernel_force_general()) {
  runs <- nl_runs(dim, axes)
  cpp_plan_info(runs$sizes, runs$reduced, isTRUE(force_general))
}
