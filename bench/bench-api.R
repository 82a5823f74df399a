# End-to-end benchmark of the public API (issue 10): how fit(), evaluate(),
# predict(), adapt(), layer calls, get_weights()/set_weights() and
# save_model()/load_model() scale with the data, what they allocate relative
# to their output, and fit()'s steps per second against a hand-written base-R
# loop doing the same maths. One process, one run.
#
#   Rscript bench/bench-api.R            # full run: 1e3 ... 1e6 rows (~4 GB of RAM, some minutes)
#   Rscript bench/bench-api.R --quick    # 1e3 ... 1e5 rows, a smoke test
#
# Prints the tables and writes them into bench/results.md between the markers
# "<!-- bench-api:start -->" and "<!-- bench-api:end -->" (appended the first
# time; the kernel section written by bench/bench.R is left alone).

# Same allocation regime as bench/bench.R: re-launch once with glibc's mmap
# threshold fixed, so that every large allocation costs the same.
source("bench/common.R")
bench_relaunch_fixed_mmap()

suppressPackageStartupMessages({
  library(normlayers)
  library(bench)
})

args <- commandArgs(trailingOnly = TRUE)
quick <- "--quick" %in% args
out_file <- if (quick) file.path(tempdir(), "results.md") else "bench/results.md"
sizes <- if (quick) c(1e3, 1e4, 1e5) else c(1e3, 1e4, 1e5, 1e6)
n_feat <- 64
set.seed(42)

# ---- helpers ------------------------------------------------------------------

# Minor page faults of this process so far (Linux; NA elsewhere): a new
# output on fresh pages is faulted in one 4 KB page at a time.
minor_faults <- function() {
  s <- tryCatch(readLines("/proc/self/stat", warn = FALSE), error = function(e) NA_character_)
  if (is.na(s[1])) return(NA_real_)
  as.numeric(strsplit(sub(".*\\) ", "", s[1]), " ")[[1]][8])
}

# Median seconds of `reps` calls, each right after a full gc(), and the
# median number of minor page faults per call (attribute "faults").
time_median <- function(fn, reps) {
  invisible(fn())  # warm-up
  tf <- vapply(seq_len(reps), function(i) {
    invisible(gc(verbose = FALSE))
    f0 <- minor_faults()
    t0 <- bench::hires_time()
    fn()
    t1 <- bench::hires_time()
    c(as.numeric(t1 - t0), minor_faults() - f0)
  }, numeric(2))
  structure(stats::median(tf[1, ]), faults = stats::median(tf[2, ]))
}
# More repetitions where calls are short (their medians are noisier).
reps_for <- function(n) if (n <= 1e3) 25L else if (n <= 1e4) 11L else if (n <= 1e5) 5L else 3L
mem_of <- function(fn) {
  invisible(gc(verbose = FALSE))
  as.numeric(sum(bench::bench_memory(fn())$mem_alloc))
}
fmt_s <- function(s) if (s < 1e-3) sprintf("%.0f us", s * 1e6) else if (s < 1) sprintf("%.1f ms", s * 1e3) else sprintf("%.2f s", s)
fmt_ns <- function(s) sprintf("%.0f", s * 1e9)
fmt_faults <- function(per_row) ifelse(is.na(per_row), "NA", sprintf("%.0f", per_row * 1000))

model_mlp <- function() {
  m <- keras_model_sequential(input_shape = n_feat) |>
    layer_dense(64) |>
    layer_batch_normalization() |>
    layer_activation("relu") |>
    layer_dense(1)
  compile(m, optimizer = "adam", loss = "mse")
  m
}

x_all <- matrix(rnorm(max(sizes) * n_feat), max(sizes), n_feat)
w_true <- rnorm(n_feat)
y_all <- as.vector(x_all %*% w_true) + rnorm(max(sizes))

# ---- 1. scaling: per-row cost and exponent --------------------------------------

# Each operation: a function of n returning a zero-argument function to time.
# The yardstick (one allocation of n x 64 and one pass over it) is timed in
# the same run: the memory system alone makes a per-row cost grow with n
# (the data leave the caches, fresh pages are faulted in), so an operation's
# exponent is to be read against the yardstick's.
ops <- list(
  "yardstick x + 0.5" = function(n) {
    x <- x_all[seq_len(n), , drop = FALSE]
    function() x + 0.5
  },
  "fit(), 1 epoch, batch 32" = function(n) {
    x <- x_all[seq_len(n), , drop = FALSE]; y <- y_all[seq_len(n)]; m <- model_mlp()
    function() fit(m, x, y, batch_size = 32, epochs = 1, verbose = 0)
  },
  "fit(), validation_split = 0.2" = function(n) {
    x <- x_all[seq_len(n), , drop = FALSE]; y <- y_all[seq_len(n)]; m <- model_mlp()
    function() fit(m, x, y, batch_size = 256, epochs = 1, verbose = 0, validation_split = 0.2)
  },
  "evaluate(), batch 32" = function(n) {
    x <- x_all[seq_len(n), , drop = FALSE]; y <- y_all[seq_len(n)]; m <- model_mlp()
    function() evaluate(m, x, y, batch_size = 32)
  },
  "predict(), batch 32" = function(n) {
    x <- x_all[seq_len(n), , drop = FALSE]; m <- model_mlp()
    function() predict(m, x, batch_size = 32)
  },
  "predict(), one batch" = function(n) {
    x <- x_all[seq_len(n), , drop = FALSE]; m <- model_mlp()
    function() predict(m, x)
  },
  "adapt(), batch 256" = function(n) {
    x <- x_all[seq_len(n), , drop = FALSE]
    function() adapt(layer_normalization(), x, batch_size = 256)
  },
  "adapt(), data frame" = function(n) {
    x <- as.data.frame(x_all[seq_len(n), , drop = FALSE])
    function() adapt(layer_normalization(), x)
  },
  "Dense(64, relu) call" = function(n) {
    x <- x_all[seq_len(n), , drop = FALSE]; d <- layer_dense(units = 64, activation = "relu")
    function() d(x)
  },
  "BatchNormalization training call" = function(n) {
    x <- x_all[seq_len(n), , drop = FALSE]; b <- layer_batch_normalization()
    function() b(x, training = TRUE)
  },
  "Dropout(0.5) training call" = function(n) {
    x <- x_all[seq_len(n), , drop = FALSE]; d <- layer_dropout(rate = 0.5)
    function() d(x, training = TRUE)
  },
  # Weights: "rows" is the number of weight values (a Dense kernel of n / 8 x 8).
  "get_weights() (n weight values)" = function(n) {
    m <- keras_model_sequential(input_shape = n / 8) |> layer_dense(8)
    function() get_weights(m)
  },
  "set_weights() (n weight values)" = function(n) {
    m <- keras_model_sequential(input_shape = n / 8) |> layer_dense(8)
    w <- lapply(get_weights(m), function(v) v + 0)
    function() set_weights(m, w)
  },
  "save_model() + load_model() (n weight values)" = function(n) {
    m <- keras_model_sequential(input_shape = n / 8) |> layer_dense(8)
    f <- tempfile(fileext = ".rds")
    function() {
      save_model(m, f, overwrite = TRUE)
      load_model(f)
    }
  }
)

cat(sprintf("Scaling (%s)\n", paste(format(sizes, scientific = TRUE), collapse = ", ")))
yard_expo <- NULL  # the yardstick's exponents (it runs first)
scaling <- lapply(names(ops), function(nm) {
  tf <- vapply(sizes, function(n) {
    fn <- ops[[nm]](n)
    s <- time_median(fn, reps_for(n))
    rm(fn)
    invisible(gc(verbose = FALSE))
    c(s, attr(s, "faults"))
  }, numeric(2))
  secs <- tf[1, ]
  faults <- tf[2, ]
  expo <- unname(stats::coef(stats::lm(log(secs) ~ log(sizes)))[2])
  # The exponent between the two largest sizes: fixed costs no longer count.
  expo_top <- log(secs[length(secs)] / secs[length(secs) - 1]) /
    log(sizes[length(sizes)] / sizes[length(sizes) - 1])
  yard <- if (!is.null(yard_expo)) sprintf(" [yardstick %.2f / %.2f]", yard_expo[1], yard_expo[2]) else ""
  cat(sprintf("  %-48s %s | ns/row %s | faults/1000 rows %s | exponent %.2f (top two sizes %.2f)%s\n", nm,
              paste(vapply(secs, fmt_s, ""), collapse = " "),
              paste(vapply(secs / sizes, fmt_ns, ""), collapse = " "),
              paste(fmt_faults(faults / sizes), collapse = " "), expo, expo_top, yard))
  if (nm == "yardstick x + 0.5") yard_expo <<- c(expo, expo_top)
  list(name = nm, secs = secs, faults = faults, expo = expo, expo_top = expo_top)
})

# ---- 2. allocations relative to the output --------------------------------------

n_mem <- if (quick) 1e5 else 1e6
x <- x_all[seq_len(n_mem), , drop = FALSE]
out_bytes <- 8 * n_mem * n_feat
df <- as.data.frame(x)
norm <- layer_normalization(); adapt(norm, x[1:1000, ])
dense <- layer_dense(units = 64, activation = "relu"); invisible(dense(x[1:2, ]))
relu <- layer_activation(activation = "relu")
drop <- layer_dropout(rate = 0.5)
bn <- layer_batch_normalization(); invisible(bn(x[1:2, ], training = TRUE))
bn_model <- keras_model_sequential(input_shape = n_feat) |> layer_batch_normalization()
idx <- sample.int(n_mem, 32)
slice <- get("nl_slice_rows", asNamespace("normlayers"))
mem_rows <- list(
  list("yardstick x + 0.5", mem_of(function() x + 0.5) / out_bytes, "output"),
  list("Dense(64, relu) call", mem_of(function() dense(x)) / out_bytes, "output"),
  list("ReLU call", mem_of(function() relu(x)) / out_bytes, "output"),
  list("Dropout(0.5) training call", mem_of(function() drop(x, training = TRUE)) / out_bytes, "output"),
  list("BatchNormalization training call", mem_of(function() bn(x, training = TRUE)) / out_bytes, "output"),
  list("BatchNormalization inference call", mem_of(function() bn(x)) / out_bytes, "output"),
  list("Normalization call on a data frame", mem_of(function() norm(df)) / (2 * out_bytes), "input + output"),
  list("Dense(64, relu) call on a data frame", mem_of(function() dense(df)) / (2 * out_bytes), "input + output"),
  list("predict(), one batch (BatchNormalization model)", mem_of(function() predict(bn_model, x)) / out_bytes, "output"),
  list("predict(), batch 10000 (BatchNormalization model)", mem_of(function() predict(bn_model, x, batch_size = 1e4)) / out_bytes, "output"),
  list(sprintf("32-row batch gathered from %g rows", n_mem), mem_of(function() slice(x, idx)) / (8 * 32 * n_feat), "batch")
)
cat(sprintf("\nAllocated bytes per call relative to the output (%g x %d)\n", n_mem, n_feat))
for (r in mem_rows) cat(sprintf("  %-52s %.2f x %s\n", r[[1]], r[[2]], r[[3]]))

# ---- 3. BatchNormalization training call against the yardstick ------------------

bn_iters <- if (quick) 5L else 9L
tt <- matrix(NA_real_, bn_iters, 2, dimnames = list(NULL, c("yard", "bn")))
invisible(x + 0.5); invisible(bn(x, training = TRUE))
for (i in seq_len(bn_iters)) {
  invisible(gc(verbose = FALSE)); t0 <- bench::hires_time(); r <- x + 0.5
  tt[i, "yard"] <- as.numeric(bench::hires_time() - t0); rm(r)
  invisible(gc(verbose = FALSE)); t0 <- bench::hires_time(); r <- bn(x, training = TRUE)
  tt[i, "bn"] <- as.numeric(bench::hires_time() - t0); rm(r)
}
bn_med <- stats::median(tt[, "bn"])
yard_med <- stats::median(tt[, "yard"])
bn_ratio <- bn_med / yard_med
cat(sprintf("\nBatchNormalization training call on %g x %d: %s, yardstick %s, ratio %.2f\n",
            n_mem, n_feat, fmt_s(stats::median(tt[, "bn"])), fmt_s(stats::median(tt[, "yard"])), bn_ratio))
rm(x, df); invisible(gc(verbose = FALSE))

# ---- 4. fit() against a hand-written base-R loop --------------------------------

# The same model and maths in plain R: Dense with %*%, batch-norm statistics
# with colMeans, ReLU, Dense, mse, Adam; shuffled mini-batches.
hand_init <- function(f = n_feat, u = 64) {
  l1 <- sqrt(6 / (f + u)); l2 <- sqrt(6 / (u + 1))
  p <- list(W1 = matrix(runif(f * u, -l1, l1), f, u), b1 = numeric(u), gamma = rep(1, u),
            beta = numeric(u), W2 = matrix(runif(u, -l2, l2), u, 1), b2 = 0)
  list(p = p, m = lapply(p, function(w) w * 0), v = lapply(p, function(w) w * 0),
       mm = numeric(u), mv = rep(1, u), t = 0)
}
hand_epoch <- function(s, x, y, bs, lr = 0.001, b1 = 0.9, b2 = 0.999, eps = 1e-7,
                       bn_eps = 1e-3, mom = 0.99) {
  n <- nrow(x)
  order <- sample.int(n)
  for (st in seq(1, n, by = bs)) {
    idx <- order[st:min(n, st + bs - 1)]
    m <- length(idx)
    xb <- x[idx, , drop = FALSE]
    yb <- y[idx]
    p <- s$p
    z1 <- xb %*% p$W1 + rep(p$b1, each = m)
    mu <- colMeans(z1)
    zc <- z1 - rep(mu, each = m)
    var <- colMeans(zc^2)
    rstd <- 1 / sqrt(var + bn_eps)
    xhat <- zc * rep(rstd, each = m)
    h <- xhat * rep(p$gamma, each = m) + rep(p$beta, each = m)
    s$mm <- s$mm * mom + mu * (1 - mom)
    s$mv <- s$mv * mom + var * (1 - mom)
    a <- h
    a[a < 0] <- 0
    pr <- a %*% p$W2 + p$b2
    d <- pr - yb
    dp <- 2 * d / m
    g <- list()
    g$W2 <- crossprod(a, dp)
    g$b2 <- sum(dp)
    dh <- tcrossprod(dp, p$W2) * (h > 0)
    g$gamma <- colSums(dh * xhat)
    g$beta <- colSums(dh)
    dxhat <- dh * rep(p$gamma, each = m)
    dz1 <- (dxhat - rep(colMeans(dxhat), each = m) -
              xhat * rep(colMeans(dxhat * xhat), each = m)) * rep(rstd, each = m)
    g$W1 <- crossprod(xb, dz1)
    g$b1 <- colSums(dz1)
    s$t <- s$t + 1
    alpha <- lr * sqrt(1 - b2^s$t) / (1 - b1^s$t)
    for (k in names(p)) {
      s$m[[k]] <- s$m[[k]] + (g[[k]] - s$m[[k]]) * (1 - b1)
      s$v[[k]] <- s$v[[k]] + (g[[k]]^2 - s$v[[k]]) * (1 - b2)
      p[[k]] <- p[[k]] - s$m[[k]] * alpha / (sqrt(s$v[[k]]) + eps)
    }
    s$p <- p
  }
  s
}

fit_rounds <- if (quick) 5L else 15L
fit_rows <- list()
for (bs in c(32, 256)) {
  n <- bs * if (bs == 32) 200 else 100
  x <- x_all[seq_len(n), , drop = FALSE]
  y <- y_all[seq_len(n)]
  m <- model_mlp()
  s <- hand_init()
  fit(m, x, y, batch_size = bs, epochs = 1, verbose = 0)
  s <- hand_epoch(s, x, y, bs)
  # Interleaved rounds: each round times one fit() epoch and one hand-written epoch.
  tt <- matrix(NA_real_, fit_rounds, 2)
  for (i in seq_len(fit_rounds)) {
    invisible(gc(verbose = FALSE))
    tt[i, 1] <- system.time(fit(m, x, y, batch_size = bs, epochs = 1, verbose = 0))[["elapsed"]]
    invisible(gc(verbose = FALSE))
    tt[i, 2] <- system.time(s <- hand_epoch(s, x, y, bs))[["elapsed"]]
  }
  steps <- n / bs
  fit_rows[[length(fit_rows) + 1]] <- list(
    bs = bs, fit = steps / stats::median(tt[, 1]), hand = steps / stats::median(tt[, 2]),
    ratio = stats::median(tt[, 1] / tt[, 2]))
  cat(sprintf("\nfit() batch %d: %.0f steps/s, hand-written loop %.0f steps/s, fit time / loop time %.2f (median of %d paired rounds)\n",
              bs, fit_rows[[length(fit_rows)]]$fit, fit_rows[[length(fit_rows)]]$hand,
              fit_rows[[length(fit_rows)]]$ratio, fit_rounds))
}

# ---- report ---------------------------------------------------------------------

load <- tryCatch(readLines("/proc/loadavg", n = 1), error = function(e) NA_character_)
cpu <- tryCatch({
  l <- grep("^model name", readLines("/proc/cpuinfo"), value = TRUE)
  sprintf("%s (%d logical cores)", sub(".*: ", "", l[1]), length(l))
}, error = function(e) NA_character_)
md <- c(
  "<!-- bench-api:start -->",
  "## End to end (public API)",
  "",
  "Produced by `Rscript bench/bench-api.R` (one process, one run): medians, every timed call",
  "right after a full `gc()`; memory from `bench::bench_memory()`.",
  "",
  sprintf("- date: %s UTC; R: %s; normlayers %s, threads: %d", format(Sys.time(), tz = "UTC", "%Y-%m-%d %H:%M"),
          R.version.string, as.character(utils::packageVersion("normlayers")), nl_threads()),
  sprintf("- cpu: %s; load average when the run ended: %s", cpu, load),
  "- a load average above the number of cores means other jobs shared the machine: absolute",
  "  times are then inflated, while ratios (taken from interleaved rounds) hold better",
  "",
  "### Scaling with the number of rows (64 features)",
  "",
  sprintf("| operation | %s | ns per row at %s | page faults per 1000 rows | exponent (fit over all sizes) | exponent (two largest sizes) |",
          paste(sprintf("%g rows", sizes), collapse = " | "), paste(sprintf("%g", sizes), collapse = " / ")),
  paste0("|---|", strrep("---|", length(sizes)), "---|---|---|---|"),
  vapply(scaling, function(r) sprintf("| %s | %s | %s | %s | %.2f | %.2f |", r$name,
                                      paste(vapply(r$secs, fmt_s, ""), collapse = " | "),
                                      paste(vapply(r$secs / sizes, fmt_ns, ""), collapse = " / "),
                                      paste(fmt_faults(r$faults / sizes), collapse = " / "),
                                      r$expo, r$expo_top), ""),
  "",
  sprintf(paste("The yardstick `x + 0.5` (one allocation and one pass over n x 64, nothing else) has",
                "exponents %.2f (all sizes) and %.2f (two largest sizes) in this run: what it has above 1",
                "comes from the memory system, and the other exponents are to be read against it. A new",
                "output is faulted in one 4 KB page at a time (125 faults per 1000 rows of 64 doubles)",
                "unless the allocator hands out memory the process has already touched, which depends on",
                "what ran before (the faults column). Where faults are slow (a shared virtual machine) a",
                "call that faults costs several times more per row than one that does not, so a step",
                "from 0 to 125 faults between two sizes alone raises the exponent over all sizes:",
                "compare the per-row costs of sizes with the same fault count."), yard_expo[1], yard_expo[2]),
  "",
  "For the weight operations, \"rows\" is the number of weight values.",
  "",
  sprintf("### Allocated bytes per call (%g x %d)", n_mem, n_feat),
  "",
  "| call | allocated / reference | reference |",
  "|---|---|---|",
  vapply(mem_rows, function(r) sprintf("| %s | %.2f | %s |", r[[1]], r[[2]], r[[3]]), ""),
  "",
  sprintf("BatchNormalization training call on %g x %d: %s against %s for the yardstick `x + 0.5`: ratio %.2f (medians of %d interleaved rounds).",
          n_mem, n_feat, fmt_s(bn_med), fmt_s(yard_med), bn_ratio, bn_iters),
  "",
  "### fit() against a hand-written base-R loop",
  "",
  "Dense(64) -> BatchNormalization -> ReLU -> Dense(1) on 64 features, Adam, mse; the loop does the",
  "same maths with `%*%`, `colMeans()` and Adam in R. Medians of paired rounds (one epoch each).",
  "",
  "| batch size | fit() steps/s | hand-written steps/s | fit time / loop time |",
  "|---|---|---|---|",
  vapply(fit_rows, function(r) sprintf("| %d | %.0f | %.0f | %.2f |", as.integer(r$bs), r$fit, r$hand, r$ratio), ""),
  "<!-- bench-api:end -->"
)
old <- if (file.exists(out_file)) readLines(out_file) else character()
a <- grep("<!-- bench-api:start -->", old, fixed = TRUE)
b <- grep("<!-- bench-api:end -->", old, fixed = TRUE)
new <- if (length(a) && length(b)) c(old[seq_len(a[1] - 1)], md, old[-seq_len(b[1])]) else c(old, "", md)
writeLines(new, out_file)
cat(sprintf("\nWrote %s\n", out_file))
