# Allocation tests measure bytes with bench::bench_memory(), which needs the
# bench package and an R built with memory profiling.
skip_without_memory_profiling <- function() {
  skip_if_not_installed("bench")
  skip_if_not(capabilities("profmem"), "R was built without memory profiling")
}
