# Benchmarks of the normlayers kernels against a memory-bandwidth yardstick
# (`x + 0.5`: one read, one write, one allocation of the same data) and the
# best base-R and matrixStats formulations, in one process and one run.
#
#   Rscript bench/bench.R            # full run (needs ~10 GB of RAM, a few minutes)
#   Rscript bench/bench.R --quick    # smaller shapes, for a smoke test
#
# Prints medians and ratios and writes bench/results.md with the machine it ran on,
# keeping the sections bench/bench-api.R and bench/bench-family.R write there.

# glibc adapts its mmap threshold to past frees, so an allocation of up to 32 MB
# is sometimes fresh memory (page faults) and sometimes recycled heap. Fix the
# threshold so that every large allocation, the yardstick's and the kernels'
# alike, costs the same: re-launch this script once with it set.
source("bench/common.R")
bench_relaunch_fixed_mmap()

suppressPackageStartupMessages({
  library(normlayers)
  library(bench)
  library(matrixStats)
})

args <- commandArgs(trailingOnly = TRUE)
quick <- "--quick" %in% args
out_file <- if (quick) file.path(tempdir(), "results.md") else "bench/results.md"
iters <- if (quick) 3L else 9L
eps <- 1e-3
ns <- asNamespace("normlayers")
nl_runs <- get("nl_runs", ns)
nl_kernel_norm_backward <- get("nl_kernel_norm_backward", ns)
nl_kernel_batch_norm_train <- get("nl_kernel_batch_norm_train", ns)
nl_kernel_layer_norm <- get("nl_kernel_layer_norm", ns)

time_median <- function(expr_fn) {
  ts <- vapply(seq_len(iters), function(i) {
    invisible(gc(verbose = FALSE))
    t0 <- bench::hires_time()
    res <- expr_fn()
    as.numeric(bench::hires_time() - t0)
  }, numeric(1))
  list(median = stats::median(ts))
}

# Times an operation beside its yardstick and competitors, round-robin: in each
# of `iters` rounds every expression runs once, right after a full gc(), so
# that none of them pays for another's garbage and all see the same machine.
# Medians over the rounds; memory allocated by normlayers from bench_memory().
time_group <- function(x, nl, base = NULL, ms = NULL) {
  fns <- list(yard = function() x + 0.5, nl = nl)
  if (!is.null(base)) fns$base <- base
  if (!is.null(ms)) fns$ms <- ms
  for (f in fns) invisible(f())            # warm-up
  times <- matrix(NA_real_, iters, length(fns), dimnames = list(NULL, names(fns)))
  for (i in seq_len(iters)) {
    for (nm in names(fns)) {
      invisible(gc(verbose = FALSE))
      t0 <- bench::hires_time()
      res <- fns[[nm]]()
      times[i, nm] <- as.numeric(bench::hires_time() - t0)
      rm(res)
    }
  }
  invisible(gc(verbose = FALSE))
  mem <- as.numeric(bench::bench_memory(nl())$mem_alloc)
  med <- apply(times, 2, stats::median)
  list(yard = med[["yard"]], nl = med[["nl"]], nl_mem = mem,
       base = if (is.null(base)) NA else med[["base"]],
       ms = if (is.null(ms)) NA else med[["ms"]])
}

fmt_s <- function(s) sprintf("%.1f ms", s * 1000)
fmt_b <- function(b) sprintf("%.1f MB", b / 2^20)

# ---- base R and matrixStats formulations (the best we know) -----------------

base_ln_last <- function(x) {
  mu <- rowMeans(x)
  xc <- x - mu
  xc / sqrt(rowMeans(xc * xc) + eps)
}
ms_ln_last <- function(x) {
  n <- ncol(x)
  mu <- rowMeans2(x)
  v <- rowVars(x, center = mu) * (n - 1) / n
  (x - mu) / sqrt(v + eps)
}
base_bn_infer <- function(x, m, v, g, b) {
  s <- g / sqrt(v + eps)
  t(t(x) * s + (b - m * s))
}
ms_bn_infer <- function(x, m, v, g, b) {
  s <- g / sqrt(v + eps)
  x <- sweep(x, 2, m, "-", check.margin = FALSE)
  sweep(x, 2, s, "*", check.margin = FALSE) + rep(b, each = nrow(x))
}
base_bn_train <- function(x) {
  mu <- colMeans(x)
  xc <- t(t(x) - mu)
  v <- colMeans(xc * xc)
  t(t(xc) / sqrt(v + eps))
}
ms_bn_train <- function(x) {
  n <- nrow(x)
  mu <- colMeans2(x)
  v <- colVars(x, center = mu) * (n - 1) / n
  t((t(x) - mu) / sqrt(v + eps))
}
base_norm_apply <- function(x, m, s) t((t(x) - m) / s)
ms_norm_apply <- function(x, m, s) sweep(sweep(x, 2, m, "-", check.margin = FALSE), 2, s, "/", check.margin = FALSE)
base_adapt <- function(x) {
  mu <- colMeans(x)
  list(mu, colMeans((t(t(x) - mu))^2))
}
ms_adapt <- function(x) {
  n <- nrow(x)
  mu <- colMeans2(x)
  list(mu, colVars(x, center = mu) * (n - 1) / n)
}
base_ln_backward <- function(x, dy) {
  n <- ncol(x)
  mu <- rowMeans(x)
  xc <- x - mu
  rstd <- 1 / sqrt(rowMeans(xc * xc) + eps)
  xh <- xc * rstd
  rstd * (dy - rowMeans(dy) - xh * rowMeans(dy * xh))
}
ms_ln_backward <- function(x, dy) {
  n <- ncol(x)
  mu <- rowMeans2(x)
  rstd <- 1 / sqrt(rowVars(x, center = mu) * (n - 1) / n + eps)
  xh <- (x - mu) * rstd
  rstd * (dy - rowMeans2(dy) - xh * rowMeans2(dy * xh))
}

# Normalization over axis 2 of a rank-3 array: base R and matrixStats have no
# reduction over a middle axis, so the axis is moved last with aperm() and back.
axis2_last <- function(x3, f) {
  d <- dim(x3)
  xp <- aperm(x3, c(1, 3, 2))
  dim(xp) <- c(d[1] * d[3], d[2])
  y <- f(xp)
  dim(y) <- c(d[1], d[3], d[2])
  aperm(y, c(1, 3, 2))
}

# ---- one shape -----------------------------------------------------------------

run_shape <- function(label, x) {
  d <- dim(x)
  C <- d[length(d)]
  m <- rnorm(C)
  v <- runif(C, 0.5, 2)
  g <- rnorm(C)
  b <- rnorm(C)
  # base R and matrixStats see an array with channels last as the matrix
  # (positions x channels) it is in memory; dim<- on it copies nothing
  xm <- x
  dim(xm) <- c(length(x) / C, C)
  as_array <- function(y) {
    if (is.list(y)) return(y)
    dim(y) <- d
    y
  }
  rows <- list()
  add <- function(op, nl, base = NULL, ms = NULL, data = x) {
    g <- time_group(data, nl, base, ms)
    r <- c(list(shape = label, op = op), g)
    rows[[length(rows) + 1]] <<- r
    cat(sprintf("%-14s %-36s nl %9s (%5.2fx yardstick %s)  base R %9s (%5.1fx)  matrixStats %9s (%5.1fx)  alloc %s\n",
                label, op, fmt_s(r$nl), r$nl / r$yard, fmt_s(r$yard),
                if (is.na(r$base)) "-" else fmt_s(r$base), r$base / r$nl,
                if (is.na(r$ms)) "-" else fmt_s(r$ms), r$ms / r$nl, fmt_b(r$nl_mem)))
  }

  # LayerNormalization forward, last axis
  add("layer_norm forward (axis -1)", function() op_layer_normalization(x, axis = -1, epsilon = eps),
      function() as_array(base_ln_last(xm)), function() as_array(ms_ln_last(xm)))

  # LayerNormalization forward, axis 2 of a rank-3 view of the same data
  x3 <- x
  dim(x3) <- if (length(d) == 2) c(d[1] / 4, 4, d[2]) else c(d[1], d[2], prod(d[-(1:2)]))
  add("layer_norm forward (axis 2, rank 3)",
      function() op_layer_normalization(x3, axis = 2, epsilon = eps),
      function() axis2_last(x3, base_ln_last), function() axis2_last(x3, ms_ln_last), data = x3)

  # LayerNormalization backward, last axis
  runs_ln <- nl_runs(d, length(d))
  fw <- nl_kernel_layer_norm(x, runs_ln, NULL, NULL, eps)
  dy <- x * 0.5 + 1
  dym <- dy
  dim(dym) <- dim(xm)
  add("layer_norm backward (axis -1)",
      function() nl_kernel_norm_backward(x, dy, runs_ln, fw$mean, fw$rstd, NULL,
                                         param_on = "reduced", batch_stats = TRUE),
      function() as_array(base_ln_backward(xm, dym)), function() as_array(ms_ln_backward(xm, dym)))
  rm(fw, dy, dym)

  # BatchNormalization inference and training (channels last)
  add("batch_norm inference",
      function() op_batch_normalization(x, m, v, axis = -1, offset = b, scale = g, epsilon = eps),
      function() as_array(base_bn_infer(xm, m, v, g, b)), function() as_array(ms_bn_infer(xm, m, v, g, b)))
  runs_bn <- nl_runs(d, seq_len(length(d) - 1))
  add("batch_norm training",
      function() nl_kernel_batch_norm_train(x, runs_bn, g, b, eps),
      function() as_array(base_bn_train(xm)), function() as_array(ms_bn_train(xm)))

  # Normalization (preprocessing): apply and adapt()
  norm <- layer_normalization(mean = m, variance = v)
  s <- pmax(sqrt(v), 1e-7)
  add("normalization apply", function() norm(x),
      function() as_array(base_norm_apply(xm, m, s)), function() as_array(ms_norm_apply(xm, m, s)))
  ad <- layer_normalization()
  add("normalization adapt()", function() adapt(ad, x),
      function() base_adapt(xm), function() ms_adapt(xm))
  rows
}

# RMS, unit and group normalization are measured by bench/bench-family.R
# (its own section of bench/results.md).

# ---- thread scaling and linearity ---------------------------------------------

# Small arrays: adaptive repetitions with bench::mark() (no gc() per call,
# which would flush the caches and swamp the timing of a tiny kernel).
linearity <- function() {
  sizes <- if (quick) c(1e4, 1e5, 1e6) else c(1e4, 1e5, 1e6, 1e7, 1e8)
  out <- list()
  for (n in sizes) {
    x <- matrix(rnorm(n), nrow = n / 100, ncol = 100)
    bm <- bench::mark(nl = op_layer_normalization(x, epsilon = eps), yard = x + 0.5,
                      check = FALSE, min_time = 1, min_iterations = 5, max_iterations = 1e4,
                      filter_gc = FALSE)
    t_ln <- as.numeric(bm$median[[1]])
    t_y <- as.numeric(bm$median[[2]])
    out[[length(out) + 1]] <- data.frame(elements = n, layer_norm_s = t_ln,
                                         ns_per_element = t_ln / n * 1e9,
                                         yardstick_s = t_y, ratio = t_ln / t_y)
    rm(x, bm)
    invisible(gc(verbose = FALSE))
  }
  do.call(rbind, out)
}

# ---- main ----------------------------------------------------------------------

machine <- c(
  sprintf("- date: %s", format(Sys.time(), "%Y-%m-%d %H:%M %Z")),
  sprintf("- R: %s", R.version.string),
  sprintf("- normlayers: %s, threads: %d", as.character(packageVersion("normlayers")), nl_threads()),
  sprintf("- cpu: %s", tryCatch({
    l <- grep("model name", readLines("/proc/cpuinfo"), value = TRUE)
    paste0(trimws(sub(".*:", "", l[1])), " (", length(l), " logical cores)")
  }, error = function(e) "unknown")),
  "- glibc mmap threshold fixed at 1 MiB (MALLOC_MMAP_THRESHOLD_) so allocations cost the same in every run",
  sprintf("- memory: %s", tryCatch(trimws(sub("MemTotal:", "", grep("MemTotal", readLines("/proc/meminfo"), value = TRUE))),
                                   error = function(e) "unknown"))
)
cat(machine, sep = "\n")
set.seed(42)
shapes <- if (quick) {
  list(`1e5 x 64` = c(1e5, 64), `1e3 x 4096` = c(1e3, 4096), `64x32x32x16` = c(64, 32, 32, 16))
} else {
  list(`1e6 x 64` = c(1e6, 64), `1e4 x 4096` = c(1e4, 4096), `256x32x32x16` = c(256, 32, 32, 16))
}
all_rows <- list()
for (nm in names(shapes)) {
  x <- array(rnorm(prod(shapes[[nm]]), 3, 2), shapes[[nm]])
  all_rows <- c(all_rows, run_shape(nm, x))
  rm(x)
  gc(verbose = FALSE)
}
tab <- do.call(rbind, lapply(all_rows, as.data.frame))
tab$ratio_to_yardstick <- tab$nl / tab$yard
tab$speedup_vs_base <- tab$base / tab$nl
tab$speedup_vs_matrixStats <- tab$ms / tab$nl

# axis-2 cost relative to the last-axis case: both in one round-robin group
# (the "base" slot of time_group() holds the axis-2 call), so that they see
# the same machine state
x <- array(rnorm(prod(shapes[[1]]), 3, 2), shapes[[1]])
x3 <- x
dim(x3) <- c(shapes[[1]][1] / 4, 4, shapes[[1]][2])
axis_cmp <- time_group(x, function() op_layer_normalization(x, axis = -1, epsilon = eps),
                       function() op_layer_normalization(x3, axis = 2, epsilon = eps))
axis_ratio <- axis_cmp$base / axis_cmp$nl
axis_line <- sprintf(paste("LayerNormalization on axis 2 of a rank-3 array (%s) costs %.2fx the",
                           "last-axis case (%s vs %s, medians of one interleaved group)."),
                     paste(dim(x3), collapse = " x "), axis_ratio, fmt_s(axis_cmp$base),
                     fmt_s(axis_cmp$nl))
cat("\n", axis_line, "\n", sep = "")
rm(x, x3)

threads <- NULL
if (nl_threads() > 1) {
  x <- matrix(rnorm(prod(shapes[[1]])), shapes[[1]][1])
  old <- nl_threads()
  t1 <- tn <- numeric()
  for (round in 1:3) {   # interleaved, so that drift hits both counts alike
    nl_set_threads(1)
    t1 <- c(t1, time_median(function() op_layer_normalization(x, epsilon = eps))$median)
    nl_set_threads(old)
    tn <- c(tn, time_median(function() op_layer_normalization(x, epsilon = eps))$median)
  }
  threads <- sprintf("LayerNormalization forward on %s: 1 thread %s, %d threads %s (medians of 3 interleaved rounds)",
                     names(shapes)[1], fmt_s(stats::median(t1)), old, fmt_s(stats::median(tn)))
  cat(threads, "\n")
  rm(x)
}

# The first calls of a fresh process, with the default (4 KiB pages) and with
# transparent huge pages for the outputs (opt-in: NORMLAYERS_HUGE_PAGES=1).
first_call <- function(huge) {
  code <- paste0("library(normlayers); x <- matrix(rnorm(", prod(shapes[[1]]), "), ", shapes[[1]][1], "); ",
                 "t <- sapply(1:3, function(i) system.time(op_layer_normalization(x, epsilon = 1e-3))[['elapsed']]); ",
                 "y <- system.time(x + 0.5)[['elapsed']]; cat(round(c(t, y) * 1000))")
  out <- system2(file.path(R.home("bin"), "Rscript"), c("-e", shQuote(code)), stdout = TRUE,
                 env = c(if (huge) "NORMLAYERS_HUGE_PAGES=1", "NORMLAYERS_BENCH_CHILD=1"))
  as.numeric(strsplit(utils::tail(out, 1), " ")[[1]])
}
fc_on <- first_call(TRUE)
fc_off <- first_call(FALSE)
first_lines <- c(
  sprintf("- default (no huge pages): calls 1-3 of a fresh process %s ms; the yardstick afterwards %s ms",
          paste(fc_off[1:3], collapse = ", "), fc_off[4]),
  sprintf("- NORMLAYERS_HUGE_PAGES=1: calls 1-3 of a fresh process %s ms; the yardstick afterwards %s ms",
          paste(fc_on[1:3], collapse = ", "), fc_on[4]))
cat("\nLayerNormalization forward on", names(shapes)[1], "in a fresh process:\n")
cat(first_lines, sep = "\n")

lin <- linearity()
cat("\nLinearity (LayerNormalization forward, 100 columns):\n")
print(lin, row.names = FALSE, digits = 3)

md <- c("# normlayers benchmark results", "",
        "Produced by `Rscript bench/bench.R`: medians over rounds in one process; in each round",
        "the yardstick, normlayers, base R and matrixStats run once each, every call right after",
        "a full `gc()`; one warm-up call each first. Memory: `bench::bench_memory()`.",
        "The yardstick is `x + 0.5` on the same data (one read, one write, one allocation).", "",
        "## Machine", "", machine, "",
        "## Kernels", "",
        "| shape | operation | normlayers | ratio to yardstick | base R | x faster than base R | matrixStats | x faster than matrixStats | normlayers mem_alloc |",
        "|---|---|---|---|---|---|---|---|---|",
        sprintf("| %s | %s | %s | %.2f | %s | %s | %s | %s | %s |", tab$shape, tab$op, fmt_s(tab$nl),
                tab$ratio_to_yardstick,
                ifelse(is.na(tab$base), "-", fmt_s(tab$base)),
                ifelse(is.na(tab$base), "-", sprintf("%.1f", tab$speedup_vs_base)),
                ifelse(is.na(tab$ms), "-", fmt_s(tab$ms)),
                ifelse(is.na(tab$ms), "-", sprintf("%.1f", tab$speedup_vs_matrixStats)),
                fmt_b(tab$nl_mem)),
        "",
        axis_line, "",
        if (!is.null(threads)) c(threads, "") else NULL,
        "## First calls in a fresh process", "",
        paste("With NORMLAYERS_HUGE_PAGES=1 the kernels ask Linux for transparent huge pages on",
              "their large outputs (madvise). In steady state that halves the cost of faulting in",
              "fresh output memory, but on this virtual machine the first calls of a process are",
              "slower and timings become erratic, so it is off by default (the tables above are",
              "without it):"), "",
        first_lines, "",
        "## Linearity (LayerNormalization forward, 100 columns)", "",
        "| elements | seconds | ns per element | yardstick seconds | ratio |", "|---|---|---|---|---|",
        sprintf("| %.1e | %.4f | %.2f | %.4f | %.2f |", lin$elements, lin$layer_norm_s, lin$ns_per_element,
                lin$yardstick_s, lin$ratio))
# The sections other scripts write (bench/bench-api.R, bench/bench-family.R)
# sit between "<!-- bench-<name>:start -->" / "<!-- bench-<name>:end -->"
# markers: keep them, in their order.
old <- if (file.exists(out_file)) readLines(out_file) else character()
starts <- grep("^<!-- bench-[a-z]+:start -->$", old)
kept <- unlist(lapply(starts, function(a) {
  end <- sub(":start -->$", ":end -->", old[a])
  b <- which(old == end & seq_along(old) > a)
  if (length(b)) c("", old[a:b[1]]) else character()
}))
writeLines(c(md, kept), out_file)
cat("\nWrote", out_file, "\n")
