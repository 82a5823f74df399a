# Benchmarks of the normlayers kernels against a memory-bandwidth yardstick
# (`x + 0.5`: one read, one write, one allocation of the same data) and the
# best base-R and matrixStats formulations, in one process and one run.
#
#   Rscript bench/bench.R            # full run (needs ~10 GB of RAM, a few minutes)
#   Rscript bench/bench.R --quick    # smaller shapes, for a smoke test
#
# Prints medians and ratios and writes bench/results.md with the machine it ran on.

suppressPackageStartupMessages({
  library(normlayers)
  library(bench)
  library(matrixStats)
})

args <- commandArgs(trailingOnly = TRUE)
quick <- "--quick" %in% args
out_file <- if (quick) file.path(tempdir(), "results.md") else "bench/results.md"
iters <- if (quick) 3L else 7L
eps <- 1e-3
ns <- asNamespace("normlayers")
nl_runs <- get("nl_runs", ns)
nl_kernel_norm_backward <- get("nl_kernel_norm_backward", ns)
nl_kernel_batch_norm_train <- get("nl_kernel_batch_norm_train", ns)
nl_kernel_layer_norm <- get("nl_kernel_layer_norm", ns)

time_median <- function(expr_fn) {
  bm <- bench::mark(expr_fn(), iterations = iters, check = FALSE, filter_gc = FALSE,
                    memory = TRUE)
  list(median = as.numeric(bm$median[[1]]), mem = as.numeric(bm$mem_alloc[[1]]))
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

# ---- one shape -----------------------------------------------------------------

run_shape <- function(label, x) {
  d <- dim(x)
  C <- d[length(d)]
  m <- rnorm(C)
  v <- runif(C, 0.5, 2)
  g <- rnorm(C)
  b <- rnorm(C)
  mat <- length(d) == 2
  yard <- time_median(function() x + 0.5)
  rows <- list()
  add <- function(op, nl, base = NULL, ms = NULL) {
    r <- list(shape = label, op = op, yard = yard$median, nl = nl$median, nl_mem = nl$mem,
              base = if (is.null(base)) NA else base$median,
              ms = if (is.null(ms)) NA else ms$median)
    rows[[length(rows) + 1]] <<- r
    cat(sprintf("%-14s %-28s nl %9s  (%5.2fx yardstick)  base %9s (%6.1fx slower)  matrixStats %9s (%6.1fx slower)  alloc %s\n",
                label, op, fmt_s(r$nl), r$nl / r$yard,
                if (is.na(r$base)) "-" else fmt_s(r$base), r$base / r$nl,
                if (is.na(r$ms)) "-" else fmt_s(r$ms), r$ms / r$nl, fmt_b(r$nl_mem)))
  }

  # LayerNormalization forward, last axis
  add("layer_norm forward (axis -1)", time_median(function() op_layer_normalization(x, axis = -1, epsilon = eps)),
      if (mat) time_median(function() base_ln_last(x)), if (mat) time_median(function() ms_ln_last(x)))

  # LayerNormalization forward, axis 2 of a rank-3 view of the same data
  x3 <- x
  dim(x3) <- if (mat) c(d[1] / 4, 4, d[2]) else c(d[1], d[2], prod(d[-(1:2)]))
  add("layer_norm forward (axis 2, rank 3)",
      time_median(function() op_layer_normalization(x3, axis = 2, epsilon = eps)))

  # LayerNormalization backward, last axis
  runs_ln <- nl_runs(d, length(d))
  fw <- nl_kernel_layer_norm(x, runs_ln, NULL, NULL, eps)
  dy <- x * 0.5 + 1
  add("layer_norm backward (axis -1)",
      time_median(function() nl_kernel_norm_backward(x, dy, runs_ln, fw$mean, fw$rstd, NULL,
                                                     param_on = "reduced", batch_stats = TRUE)),
      if (mat) time_median(function() base_ln_backward(x, dy)),
      if (mat) time_median(function() ms_ln_backward(x, dy)))
  rm(fw, dy)

  # BatchNormalization inference and training (channels last)
  add("batch_norm inference",
      time_median(function() op_batch_normalization(x, m, v, axis = -1, offset = b, scale = g, epsilon = eps)),
      if (mat) time_median(function() base_bn_infer(x, m, v, g, b)),
      if (mat) time_median(function() ms_bn_infer(x, m, v, g, b)))
  runs_bn <- nl_runs(d, seq_len(length(d) - 1))
  add("batch_norm training",
      time_median(function() nl_kernel_batch_norm_train(x, runs_bn, g, b, eps)),
      if (mat) time_median(function() base_bn_train(x)),
      if (mat) time_median(function() ms_bn_train(x)))

  # Normalization (preprocessing): apply and adapt()
  norm <- layer_normalization(mean = m, variance = v)
  s <- pmax(sqrt(v), 1e-7)
  add("normalization apply", time_median(function() norm(x)),
      if (mat) time_median(function() base_norm_apply(x, m, s)),
      if (mat) time_median(function() ms_norm_apply(x, m, s)))
  ad <- layer_normalization()
  add("normalization adapt()", time_median(function() adapt(ad, x)),
      if (mat) time_median(function() base_adapt(x)),
      if (mat) time_median(function() ms_adapt(x)))
  rows
}

# ---- thread scaling and linearity ---------------------------------------------

linearity <- function() {
  sizes <- if (quick) c(1e4, 1e5, 1e6) else c(1e4, 1e5, 1e6, 1e7, 1e8)
  out <- list()
  for (n in sizes) {
    x <- matrix(rnorm(n), ncol = 64)
    t_ln <- time_median(function() op_layer_normalization(x, epsilon = eps))$median
    t_y <- time_median(function() x + 0.5)$median
    out[[length(out) + 1]] <- data.frame(elements = n, layer_norm_s = t_ln,
                                         ns_per_element = t_ln / n * 1e9,
                                         yardstick_s = t_y, ratio = t_ln / t_y)
    rm(x)
    gc(verbose = FALSE)
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

# axis-2 cost relative to the last-axis case
first <- tab[tab$shape == names(shapes)[1], ]
axis_ratio <- first$nl[first$op == "layer_norm forward (axis 2, rank 3)"] /
  first$nl[first$op == "layer_norm forward (axis -1)"]
cat(sprintf("\nLayerNormalization on axis 2 (rank 3) costs %.2fx the last-axis case\n", axis_ratio))

threads <- NULL
if (nl_threads() > 1) {
  x <- matrix(rnorm(prod(shapes[[1]])), shapes[[1]][1])
  old <- nl_threads()
  nl_set_threads(1)
  t1 <- time_median(function() op_layer_normalization(x, epsilon = eps))$median
  nl_set_threads(old)
  tn <- time_median(function() op_layer_normalization(x, epsilon = eps))$median
  threads <- sprintf("LayerNormalization forward on %s: 1 thread %s, %d threads %s", names(shapes)[1],
                     fmt_s(t1), old, fmt_s(tn))
  cat(threads, "\n")
  rm(x)
}

lin <- linearity()
cat("\nLinearity (LayerNormalization forward, 64 columns):\n")
print(lin, row.names = FALSE, digits = 3)

md <- c("# normlayers benchmark results", "",
        "Produced by `Rscript bench/bench.R`; medians of repeated runs in one process.",
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
        sprintf("LayerNormalization on axis 2 of a rank-3 array costs %.2fx the last-axis case (%s).",
                axis_ratio, names(shapes)[1]), "",
        if (!is.null(threads)) c(threads, "") else NULL,
        "## Linearity (LayerNormalization forward, 64 columns)", "",
        "| elements | seconds | ns per element | yardstick seconds | ratio |", "|---|---|---|---|---|",
        sprintf("| %.0e | %.4f | %.2f | %.4f | %.2f |", lin$elements, lin$layer_norm_s, lin$ns_per_element,
                lin$yardstick_s, lin$ratio))
writeLines(md, out_file)
cat("\nWrote", out_file, "\n")
