# Benchmark of the RMS, unit and group normalization kernels against the issue 12
# targets, in one process and one run:
#   forward  <= 1.0x the `x + 0.5` yardstick (R's own addition, one thread, its
#               output allocation included),
#   backward <= 2.5x the yardstick,
#   both     >= 5x faster than the best base-R formulation.
# Shapes: a 1e6 x 64 matrix and a 256 x 32 x 32 x 16 array, normalized over the
# last axis (GroupNormalization: 8 groups over the last, channels, axis).
# normlayers runs with 2 threads and with 1 thread, and with 2 threads with its
# pool of recycled memory off (fresh output memory, as base R's); base R and
# the yardstick are single-threaded.
#
#   Rscript bench/bench-family.R                # full run (~4 GB of RAM)
#   Rscript bench/bench-family.R --quick        # small shapes, a smoke test
#   Rscript bench/bench-family.R --rounds=9     # rounds per shape (default 7)
#
# Method: rounds. In every round each operation runs the yardstick, normlayers
# with 2 and with 1 thread, and every base-R candidate once each, in a random
# order drawn anew each round, each call right after a full gc(). Times are medians over the rounds; the ratios are
# medians over the rounds of the per-round ratios (normlayers / the yardstick
# run of the same operation and round; base R / normlayers of the same round),
# so that a machine whose speed drifts during the run (other jobs) affects both
# sides of a ratio alike. The best base-R formulation of an operation is the
# candidate with the lowest median; all candidates are listed.
#
# Prints the tables and writes them into bench/results.md between the markers
# "<!-- bench-family:start -->" and "<!-- bench-family:end -->" (appended the
# first time; the rest of the file is left alone).

# Same allocation regime as bench/bench.R: re-launch once with glibc's mmap
# threshold fixed, so that every large allocation (the yardstick's, base R's
# and the kernels') is fresh memory and costs the same in every round.
source("bench/common.R")
bench_relaunch_fixed_mmap()

suppressPackageStartupMessages({
  library(normlayers)
  library(bench)
})

args <- commandArgs(trailingOnly = TRUE)
quick <- "--quick" %in% args
rounds_arg <- sub("^--rounds=", "", grep("^--rounds=", args, value = TRUE))
rounds <- if (length(rounds_arg)) as.integer(rounds_arg[1]) else if (quick) 3L else 7L
out_file <- if (quick) file.path(tempdir(), "results.md") else "bench/results.md"
eps <- 1e-3
groups <- 8L
thread_counts <- unique(c(min(2L, nl_threads()), 1L))
ns <- asNamespace("normlayers")
for (f in c("nl_kernel_rms_norm", "nl_kernel_rms_backward", "nl_kernel_unit_norm",
            "nl_kernel_unit_backward", "nl_kernel_group_norm", "nl_kernel_group_backward")) {
  assign(f, get(f, ns))
}

load_avg <- function() {
  tryCatch(paste(strsplit(readLines("/proc/loadavg", n = 1), " ")[[1]][1:3], collapse = " "),
           error = function(e) NA_character_)
}

# Seconds of one call, right after a full gc().
time_call <- function(fn) {
  invisible(gc(verbose = FALSE))
  t0 <- bench::hires_time()
  res <- fn()
  t1 <- bench::hires_time()
  rm(res)
  as.numeric(t1 - t0)
}

# fn() with the kernels on `n` threads.
with_threads <- function(n, fn) {
  force(fn)
  function() {
    old <- nl_set_threads(n)
    on.exit(nl_set_threads(old))
    fn()
  }
}

# fn() with environment variable `var` set to `value` for the call.
with_env <- function(var, value, fn) {
  force(fn)
  function() {
    old <- Sys.getenv(var, unset = NA)
    do.call(Sys.setenv, stats::setNames(list(value), var))
    on.exit(if (is.na(old)) Sys.unsetenv(var) else do.call(Sys.setenv, stats::setNames(list(old), var)))
    fn()
  }
}

# fn() with the output prefault switched off.
without_prefault <- function(fn) with_env("NORMLAYERS_PREFAULT", "0", fn)

# fn() with the pool of recycled memory off (see ?nl_memory_pool): every large
# output is fresh memory, as R's own are.
without_pool <- function(fn) with_env("NORMLAYERS_POOL", "0", fn)

# fn() with transparent huge pages asked for on large outputs (opt-in; see
# ?nl_threads).
with_huge_pages <- function(fn) with_env("NORMLAYERS_HUGE_PAGES", "1", fn)

# ---- base-R formulations ---------------------------------------------------------
# x is the data as a (positions x channels) matrix (dim<- on an array with
# channels last copies nothing); s the per-channel scale.

unit_candidates <- list(
  "x / sqrt(rowSums(x^2))  [no epsilon floor]" = function(x) x / sqrt(rowSums(x^2)),
  "x * (1 / sqrt(pmax(rowSums(x * x), eps^2)))" = function(x) x * (1 / sqrt(pmax(rowSums(x * x), 1e-24))),
  "x / sqrt(pmax(rowSums(x * x), eps^2))" = function(x) x / sqrt(pmax(rowSums(x * x), 1e-24)),
  "sweep(x, 1, sqrt(pmax(rowSums(x * x), eps^2)), \"/\")" = function(x) {
    sweep(x, 1, sqrt(pmax(rowSums(x * x), 1e-24)), "/", check.margin = FALSE)
  }
)
unit_backward_candidates <- list(
  "xh <- x * inv; inv * (dy - xh * rowSums(dy * xh))" = function(x, dy) {
    inv <- 1 / sqrt(pmax(rowSums(x * x), 1e-24))
    xh <- x * inv
    inv * (dy - xh * rowSums(dy * xh))
  },
  "(dy - x * (inv^2 * rowSums(dy * x))) * inv" = function(x, dy) {
    inv <- 1 / sqrt(pmax(rowSums(x * x), 1e-24))
    (dy - x * (inv * inv * rowSums(dy * x))) * inv
  }
)
rms_candidates <- list(
  "x * rstd * rep(s, each = nrow(x))" = function(x, s) {
    x * (1 / sqrt(rowMeans(x * x) + eps)) * rep(s, each = nrow(x))
  },
  "x * outer(rstd, s)" = function(x, s) x * outer(1 / sqrt(rowMeans(x * x) + eps), s)
)
rms_backward_candidates <- list(
  "rstd * (g - xh * rowMeans(g * xh)), g = dy * rep(s, each = n)" = function(x, dy, s) {
    rstd <- 1 / sqrt(rowMeans(x * x) + eps)
    xh <- x * rstd
    g <- dy * rep(s, each = nrow(x))
    list(rstd * (g - xh * rowMeans(g * xh)), colSums(dy * xh))
  }
)

# GroupNormalization with channels last: group g is the contiguous block
# [, , g] of an (N, positions * channels per group, G) view.
group_view <- function(x, groups) {
  N <- dim(x)[1]
  dim(x) <- c(N, length(x) / (N * groups), groups)
  x
}
group_candidates <- list(
  "loop over groups: rowMeans of v[, , g], centred, scaled" = function(x, gamma, beta) {
    v <- group_view(x, groups)
    per <- length(x) / (dim(v)[1] * length(gamma))  # positions per channel and sample
    cg <- length(gamma) / groups
    for (g in seq_len(groups)) {
      xs <- v[, , g]
      xc <- xs - rowMeans(xs)
      ch <- (g - 1) * cg + seq_len(cg)
      v[, , g] <- xc * (1 / sqrt(rowMeans(xc * xc) + eps)) *
        rep(rep(gamma[ch], each = per), each = nrow(xs)) +
        rep(rep(beta[ch], each = per), each = nrow(xs))
    }
    dim(v) <- dim(x)
    v
  }
)
group_backward_candidates <- list(
  "loop over groups: centred, projected, dgamma/dbeta by colSums" = function(x, dy, gamma) {
    v <- group_view(x, groups)
    dv <- group_view(dy, groups)
    per <- length(x) / (dim(v)[1] * length(gamma))
    cg <- length(gamma) / groups
    dgamma <- dbeta <- numeric(length(gamma))
    for (g in seq_len(groups)) {
      xs <- v[, , g]
      ds <- dv[, , g]
      ch <- (g - 1) * cg + seq_len(cg)
      xc <- xs - rowMeans(xs)
      rstd <- 1 / sqrt(rowMeans(xc * xc) + eps)
      xh <- xc * rstd
      gg <- ds * rep(rep(gamma[ch], each = per), each = nrow(xs))
      v[, , g] <- rstd * (gg - rowMeans(gg) - xh * rowMeans(gg * xh))
      dgamma[ch] <- colSums(matrix(colSums(ds * xh), per))
      dbeta[ch] <- colSums(matrix(colSums(ds), per))
    }
    dim(v) <- dim(x)
    list(v, dgamma, dbeta)
  }
)

# ---- one shape -----------------------------------------------------------------

# The operations of a shape: name, kind (forward / backward), the normlayers
# call, the base-R candidates (closures over the data).
family_ops <- function(x) {
  d <- dim(x)
  ax <- length(d)
  C <- d[ax]
  xm <- x
  dim(xm) <- c(length(x) / C, C)
  dy <- x * 0.5 + 1
  dym <- dy
  dim(dym) <- dim(xm)
  s <- rnorm(C)
  b <- rnorm(C)
  fr <- nl_kernel_rms_norm(x, ax, s, eps)
  fu <- nl_kernel_unit_norm(x, ax, 1e-12)
  fg <- nl_kernel_group_norm(x, ax, groups, s, b, eps)
  bind <- function(cands, ...) {
    a <- list(...)
    lapply(cands, function(f) function() do.call(f, a))
  }
  list(
    list(op = "rms_norm forward", kind = "forward",
         nl = function() nl_kernel_rms_norm(x, ax, s, eps),
         nl_nopf = without_prefault(function() nl_kernel_rms_norm(x, ax, s, eps)),
         base = bind(rms_candidates, xm, s)),
    list(op = "rms_norm backward", kind = "backward",
         nl = function() nl_kernel_rms_backward(x, dy, ax, fr$rstd, s),
         base = bind(rms_backward_candidates, xm, dym, s)),
    list(op = "unit_norm forward", kind = "forward",
         nl = function() nl_kernel_unit_norm(x, ax, 1e-12),
         nl_nopf = without_prefault(function() nl_kernel_unit_norm(x, ax, 1e-12)),
         base = bind(unit_candidates, xm)),
    list(op = "unit_norm backward", kind = "backward",
         nl = function() nl_kernel_unit_backward(x, dy, ax, fu$inv),
         base = bind(unit_backward_candidates, xm, dym)),
    list(op = sprintf("group_norm forward (%d groups)", groups), kind = "forward",
         nl = function() nl_kernel_group_norm(x, ax, groups, s, b, eps),
         base = bind(group_candidates, x, s, b)),
    list(op = sprintf("group_norm backward (%d groups)", groups), kind = "backward",
         nl = function() nl_kernel_group_backward(x, dy, ax, groups, fg$mean, fg$rstd, s),
         base = bind(group_backward_candidates, x, dy, s))
  )
}

run_shape <- function(label, x) {
  ops <- family_ops(x)
  yard <- function() x + 0.5
  # every timed function of an operation: the yardstick, normlayers per thread
  # count, normlayers with the pool off (fresh output memory, 2 threads; for
  # forward kernels also without the prefault and with huge pages), the
  # base-R candidates
  slots <- lapply(ops, function(o) {
    f <- list(yard = yard)
    for (n in thread_counts) f[[paste0("nl_", n)]] <- with_threads(n, o$nl)
    f[["nl_nopool"]] <- with_threads(thread_counts[1], without_pool(o$nl))
    if (!is.null(o$nl_nopf)) {
      f[["nl_nopf"]] <- with_threads(thread_counts[1], without_pool(o$nl_nopf))
      f[["nl_huge"]] <- with_threads(thread_counts[1], without_pool(with_huge_pages(o$nl)))
    }
    for (nm in names(o$base)) f[[paste0("base:", nm)]] <- o$base[[nm]]
    f
  })
  for (f in unlist(slots)) invisible(f())  # warm-up
  times <- lapply(slots, function(f) matrix(NA_real_, rounds, length(f), dimnames = list(NULL, names(f))))
  loads <- character()
  for (r in seq_len(rounds)) {
    for (i in seq_along(ops)) {
      # A new random order in every round: a call's time depends on what ran
      # just before it (memory just freed, pages to assemble), so no variant
      # keeps the same neighbour in every round.
      for (nm in sample(names(slots[[i]]))) times[[i]][r, nm] <- time_call(slots[[i]][[nm]])
    }
    loads <- c(loads, load_avg())
    cat(sprintf("  %s: round %d of %d done (load %s)\n", label, r, rounds, loads[length(loads)]))
  }
  rows <- list()
  cands <- list()
  for (i in seq_along(ops)) {
    tm <- times[[i]]
    med <- apply(tm, 2, stats::median)
    bcols <- grep("^base:", colnames(tm), value = TRUE)
    best <- bcols[which.min(med[bcols])]
    for (nm in bcols) {
      cands[[length(cands) + 1]] <- data.frame(
        shape = label, op = ops[[i]]$op, formulation = sub("^base:", "", nm),
        median_s = med[[nm]], vs_best = med[[nm]] / med[[best]], stringsAsFactors = FALSE)
    }
    nl_cols <- grep("^nl_", colnames(tm), value = TRUE)
    for (nm in nl_cols) {
      rows[[length(rows) + 1]] <- data.frame(
        shape = label, op = ops[[i]]$op, kind = ops[[i]]$kind,
        threads = if (nm %in% c("nl_nopool", "nl_nopf", "nl_huge")) thread_counts[1] else as.integer(sub("^nl_", "", nm)),
        variant = switch(nm, nl_nopool = "nopool", nl_nopf = "nopf", nl_huge = "huge", "default"),
        nl_s = med[[nm]], yard_s = med[["yard"]],
        ratio = stats::median(tm[, nm] / tm[, "yard"]),
        base = sub("^base:", "", best), base_s = med[[best]],
        speedup = stats::median(tm[, best] / tm[, nm]),
        stringsAsFactors = FALSE)
    }
  }
  list(rows = do.call(rbind, rows), cands = do.call(rbind, cands), loads = loads)
}

# ---- main ----------------------------------------------------------------------

machine <- c(
  sprintf("- date: %s", format(Sys.time(), "%Y-%m-%d %H:%M %Z")),
  sprintf("- R: %s; normlayers %s; threads compared: %s", R.version.string,
          as.character(packageVersion("normlayers")), paste(thread_counts, collapse = " and ")),
  sprintf("- cpu: %s", tryCatch({
    l <- grep("^model name", readLines("/proc/cpuinfo"), value = TRUE)
    paste0(trimws(sub(".*:", "", l[1])), " (", length(l), " logical cores)")
  }, error = function(e) "unknown")),
  sprintf("- rounds per shape: %d; glibc mmap threshold fixed at 1 MiB (every large allocation is fresh memory)", rounds),
  sprintf("- NORMLAYERS_POOL=%s, NORMLAYERS_HUGE_PAGES=%s, NORMLAYERS_PREFAULT=%s",
          Sys.getenv("NORMLAYERS_POOL", "(unset)"), Sys.getenv("NORMLAYERS_HUGE_PAGES", "(unset)"),
          Sys.getenv("NORMLAYERS_PREFAULT", "(unset)"))
)
cat(machine, sep = "\n")
load_start <- load_avg()
set.seed(42)
shapes <- if (quick) {
  list(`1e5 x 64` = c(1e5, 64), `64x32x32x16` = c(64, 32, 32, 16))
} else {
  list(`1e6 x 64` = c(1e6, 64), `256x32x32x16` = c(256, 32, 32, 16))
}
res <- list()
for (nm in names(shapes)) {
  x <- array(rnorm(prod(shapes[[nm]]), 3, 2), shapes[[nm]])
  res[[nm]] <- run_shape(nm, x)
  rm(x)
  invisible(gc(verbose = FALSE))
}
load_end <- load_avg()
tab <- do.call(rbind, lapply(res, `[[`, "rows"))
cands <- do.call(rbind, lapply(res, `[[`, "cands"))
loads <- unlist(lapply(res, `[[`, "loads"))
tab$target <- ifelse(tab$kind == "forward", 1.0, 2.5)
tab$meets <- ifelse(tab$ratio <= tab$target & tab$speedup >= 5, "yes",
                    ifelse(tab$ratio <= tab$target, "ratio only",
                           ifelse(tab$speedup >= 5, "speedup only", "no")))
main <- tab[tab$variant == "default", ]
nopool <- tab[tab$variant == "nopool", ]
pf <- tab[tab$variant == "nopf", ]
huge <- tab[tab$variant == "huge", ]

fmt_ms <- function(s) sprintf("%.1f ms", s * 1000)
yard_lines <- vapply(names(shapes), function(nm) {
  sprintf("- %s: yardstick `x + 0.5` median %s", nm, fmt_ms(stats::median(main$yard_s[main$shape == nm])))
}, character(1))
load_line <- sprintf(paste("- load average (1, 5, 15 min) at the start %s, at the end %s; after each round %s",
                           "(a 1-minute load above the %d cores means other jobs shared the machine)"),
                     load_start, load_end, paste(vapply(strsplit(loads, " "), `[`, "", 1), collapse = ", "),
                     length(grep("^processor", tryCatch(readLines("/proc/cpuinfo"), error = function(e) ""))))

md_main <- c(
  "| shape | operation | threads | normlayers | ratio to yardstick (target) | best base R | base R | x faster than base R (target 5) | meets both |",
  "|---|---|---|---|---|---|---|---|---|",
  sprintf("| %s | %s | %d | %s | %.2f (%s) | `%s` | %s | %.1f | %s |", main$shape, main$op, main$threads,
          fmt_ms(main$nl_s), main$ratio, ifelse(main$kind == "forward", "1.0", "2.5"), main$base,
          fmt_ms(main$base_s), main$speedup, main$meets))
# Fresh output memory: the pool off, per operation (2 threads), and for the
# forward kernels also without the prefault and with huge pages.
md_pf <- c(
  paste("| shape | operation | default (pool on) | pool off | pool off, prefault off | pool off, huge pages |",
        "ratio to yardstick: default / pool off / prefault off / huge pages |",
        "x faster than base R: default / pool off / prefault off / huge pages |"),
  "|---|---|---|---|---|---|---|---|",
  vapply(seq_len(nrow(nopool)), function(i) {
    sel <- function(t) t[t$shape == nopool$shape[i] & t$op == nopool$op[i] & t$threads == nopool$threads[i], ]
    on <- sel(main)
    nf <- sel(pf)
    hp <- sel(huge)
    cell <- function(t, f) if (nrow(t)) f(t) else "-"
    sprintf("| %s | %s | %s | %s | %s | %s | %.2f / %.2f / %s / %s | %.1f / %.1f / %s / %s |",
            nopool$shape[i], nopool$op[i], fmt_ms(on$nl_s), fmt_ms(nopool$nl_s[i]),
            cell(nf, function(t) fmt_ms(t$nl_s)), cell(hp, function(t) fmt_ms(t$nl_s)),
            on$ratio, nopool$ratio[i], cell(nf, function(t) sprintf("%.2f", t$ratio)),
            cell(hp, function(t) sprintf("%.2f", t$ratio)), on$speedup, nopool$speedup[i],
            cell(nf, function(t) sprintf("%.1f", t$speedup)), cell(hp, function(t) sprintf("%.1f", t$speedup)))
  }, character(1)))
md_cands <- c(
  "| shape | operation | base-R formulation | median | / best |", "|---|---|---|---|---|",
  sprintf("| %s | %s | `%s` | %s | %.2f |", cands$shape, cands$op, cands$formulation,
          fmt_ms(cands$median_s), cands$vs_best))

cat("\n")
cat(md_main, sep = "\n")
cat("\n")
cat(md_pf, sep = "\n")
cat("\n")
cat(md_cands, sep = "\n")
cat("\n", yard_lines, load_line, sep = "\n")

section <- c(
  "<!-- bench-family:start -->",
  "## RMS, unit and group normalization kernels (issue 12 targets)",
  "",
  paste("Produced by `Rscript bench/bench-family.R` (one process, one run): per shape, rounds",
        "in which the yardstick `x + 0.5`, normlayers with 2 and with 1 thread, and every",
        "base-R candidate run once each, in a new random order each round, every call right",
        "after a full `gc()`. Times are",
        "medians over the rounds; ratios are medians of the per-round ratios. Targets: forward",
        "<= 1.0x the yardstick, backward <= 2.5x, and >= 5x faster than the best base-R",
        "formulation. Normalization over the last axis; GroupNormalization with 8 groups."),
  "",
  machine, load_line, yard_lines, "",
  md_main, "",
  paste("The same kernels (2 threads) with fresh output memory, as R's own outputs are:",
        "with the pool of recycled memory off (`NORMLAYERS_POOL=0`; by default a large output",
        "reuses the memory of an output the garbage collector freed, see `?nl_memory_pool`),",
        "and for the forward kernels also with the output prefault switched off (by default",
        "a large fresh output is faulted in with one `madvise(MADV_POPULATE_WRITE)` call per",
        "thread instead of page by page) and with transparent huge pages asked for (opt-in),",
        "same rounds:"), "",
  md_pf, "",
  "Base-R candidates (the fastest of each operation is the \"best base R\" above):", "",
  md_cands,
  "<!-- bench-family:end -->"
)
old <- if (file.exists(out_file)) readLines(out_file) else character()
a <- grep("<!-- bench-family:start -->", old, fixed = TRUE)
b <- grep("<!-- bench-family:end -->", old, fixed = TRUE)
new <- if (length(a) == 1 && length(b) == 1 && b > a) {
  c(old[seq_len(a - 1)], section, old[-seq_len(b)])
} else {
  c(old, if (length(old)) "", section)
}
writeLines(new, out_file)
cat("\nWrote the family section of", out_file, "\n")
