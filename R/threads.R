#' Number of threads used by the kernels
#'
#' The C++ kernels of normlayers can split large inputs over several
#' threads with OpenMP. Inputs with fewer than about 100,000 elements always
#' run on one thread. Results are bit-identical for any number of threads.
#'
#' The count is taken from, in order: the option `normlayers.threads` (set by
#' `nl_set_threads()`), the environment variable `NORMLAYERS_THREADS`, and
#' otherwise the number of processors OpenMP reports. It is always capped by
#' what the machine can run: the number of processors and the environment
#' variable `OMP_THREAD_LIMIT` when that is set. It is 1 when the package was
#' built without OpenMP. Option and environment values that are not positive
#' whole numbers are ignored.
#'
#' On Linux, setting the environment variable `NORMLAYERS_HUGE_PAGES=1`
#' (before the kernels run) makes them ask for transparent huge pages on
#' large outputs. In a long-running process that repeatedly normalizes large
#' arrays this can halve the cost of new output memory; on virtual machines
#' the first calls can be slower, so it is off by default.
#'
#' Large outputs reuse the memory of earlier outputs that R has freed; see
#' [nl_memory_pool()].
#'
#' @param n A positive whole number of threads (at most 65536; larger counts
#'   are capped at the number of processors when the kernels run), or `NULL`
#'   to go back to the default.
#' @return `nl_threads()` returns the number of threads the kernels will use.
#'   `nl_set_threads()` returns the previous value of the option
#'   `normlayers.threads` (possibly `NULL`), invisibly.
#' @examples
#' nl_threads()
#' old <- nl_set_threads(1)
#' nl_threads()
#' nl_set_threads(old)
#' @export
nl_threads <- function() {
  procs <- .nl_thread_cache$procs
  if (is.null(procs)) procs <- .nl_thread_cache$procs <- cpp_omp_procs()
  if (procs < 1L) return(1L)
  cap <- .nl_thread_cache$max_threads
  if (is.null(cap)) cap <- .nl_thread_cache$max_threads <- cpp_max_threads()
  n <- nl_threads_value(getOption("normlayers.threads"))
  if (is.na(n)) n <- nl_threads_value(Sys.getenv("NORMLAYERS_THREADS", ""))
  if (is.na(n)) n <- procs
  limit <- nl_threads_value(Sys.getenv("OMP_THREAD_LIMIT", ""))
  if (!is.na(limit)) n <- min(n, limit)
  as.integer(max(1L, min(n, cap)))
}

#' @rdname nl_threads
#' @export
nl_set_threads <- function(n = NULL) {
  if (!is.null(n)) {
    nl_check_count(n, min = 1, null_ok = TRUE)
    if (n > nl_max_thread_request) {
      nl_abort(
        c("{.arg n} must be at most {nl_max_thread_request}.",
          x = "You supplied {format(n, scientific = FALSE, big.mark = ',')} threads.",
          i = "This machine runs at most {nl_max_threads()} thread{?s} at once; larger counts are capped at that."),
        "value"
      )
    }
    n <- as.integer(n)
  }
  old <- options(normlayers.threads = n)
  invisible(old$normlayers.threads)
}

# A positive whole number from an option or environment variable, else NA.
nl_threads_value <- function(x) {
  if (is.null(x) || length(x) != 1L || identical(x, "")) return(NA_integer_)
  if (is.numeric(x) && !is.na(x) && x >= 1 && x == round(x)) {
    return(as.integer(min(x, .Machine$integer.max)))
  }
  v <- suppressWarnings(as.numeric(x))
  if (is.na(v) || !is.finite(v) || v < 1 || v != round(v)) return(NA_integer_)
  as.integer(min(v, .Machine$integer.max))
}

# Counts above this are refused by nl_set_threads() as certainly mistaken.
nl_max_thread_request <- 65536L

# Threads the machine can run (processors, OMP_THREAD_LIMIT at start-up).
nl_max_threads <- function() {
  cap <- .nl_thread_cache$max_threads
  if (is.null(cap)) cap <- .nl_thread_cache$max_threads <- cpp_max_threads()
  cap
}

# The number of OpenMP processors does not change within a session.
.nl_thread_cache <- new.env(parent = emptyenv())
