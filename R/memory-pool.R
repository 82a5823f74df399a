#' Recycled memory for large outputs
#'
#' On Linux, the large outputs of the kernels (4 MiB or more: layer and op
#' outputs, gradients, gathered batches) come from a small pool of recycled
#' memory. When R's garbage collector frees such an output, its memory is
#' kept, already faulted in, and the next output of about the same size
#' reuses it instead of asking the operating system for fresh pages. Fresh
#' memory is faulted in page by page when it is first written, which on many
#' machines (virtual machines above all) costs more than the normalization
#' itself: a loop that normalizes a large array again and again then runs
#' several times faster. Memory is reused only once R has collected the
#' earlier output, which it does from time to time (or on `gc()`), so in a
#' tight loop some calls still get fresh memory. The outputs are ordinary R
#' vectors in every other
#' respect, and the values are the same with or without the pool.
#'
#' The pool holds at most an eighth of the machine's memory (at most 4 GiB)
#' of free memory and at most 16 free blocks. A free block idle for more than
#' 10 seconds is returned to the system the next time another output is
#' freed; `nl_memory_pool(release = TRUE)` returns all of them at once.
#' Setting the environment variable `NORMLAYERS_POOL=0` turns the pool off:
#' new outputs are then allocated by R, and outputs of the pool are returned
#' to the system when they are freed. Elsewhere than Linux there is no pool.
#'
#' @param release `TRUE` to return the pool's free memory to the system
#'   first. Memory still in use by R objects is not affected.
#' @return A list: `enabled` (whether new large outputs come from the pool),
#'   `reused` and `mapped` (how many outputs were served from recycled memory
#'   and from new memory so far), `free_blocks` and `free_bytes` (the free
#'   memory the pool holds now), and `limit_bytes` (the most it holds).
#' @seealso [nl_threads()] for the other settings of the kernels.
#' @examples
#' nl_memory_pool()
#' x <- matrix(rnorm(6e5), ncol = 6)   # 4.8 MB
#' y <- layer_rms_normalization(x)
#' rm(y); invisible(gc())
#' nl_memory_pool()$free_bytes          # the output's memory, kept
#' nl_memory_pool(release = TRUE)$free_bytes
#' @export
nl_memory_pool <- function(release = FALSE) {
  nl_check_flag(release)
  if (release) nl_pool_release_cpp()
  nl_pool_stats_cpp()
}
