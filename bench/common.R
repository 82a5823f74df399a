# Shared by the bench scripts (run from the package root, e.g.
# `Rscript bench/bench.R`).

# glibc adapts its mmap threshold to past frees, so an allocation of up to
# 32 MB is sometimes fresh memory (page faults) and sometimes recycled heap.
# Fix the threshold so that every large allocation, the yardstick's, base R's
# and the kernels' alike, costs the same: re-launch the calling script once
# with it set, and quit with the child's status.
bench_relaunch_fixed_mmap <- function() {
  if (Sys.getenv("NORMLAYERS_BENCH_CHILD") != "") return(invisible(FALSE))
  script <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)[1])
  status <- system2(file.path(R.home("bin"), "Rscript"),
                    c(shQuote(script), commandArgs(trailingOnly = TRUE)),
                    env = c("NORMLAYERS_BENCH_CHILD=1", "MALLOC_MMAP_THRESHOLD_=1048576"))
  quit(save = "no", status = status)
}
