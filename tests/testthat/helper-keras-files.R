# Helpers for the Keras file tests: where the real files are, and an
# independent reference forward pass computed from the HDF5 weights with plain
# R (hdf5r + jsonlite + %*%), without normlayers' own readers.

keras_files_dir <- function() {
  env <- Sys.getenv("NORMLAYERS_KERAS_FILES", "")
  cands <- c(if (nzchar(env)) env)
  root <- tryCatch(normalizePath(testthat::test_path("..", ".."), mustWork = TRUE),
                   error = function(e) NULL)
  if (!is.null(root)) cands <- c(cands, file.path(root, "..", "shared", "keras-files"))
  for (d in cands) if (dir.exists(d) && length(list.files(d, pattern = "\\.keras$", recursive = TRUE))) {
    return(normalizePath(d))
  }
  NULL
}

local_keras_files <- function() {
  d <- keras_files_dir()
  if (is.null(d)) testthat::skip("Real Keras files not found (set NORMLAYERS_KERAS_FILES)")
  d
}

# Unzips a .keras file into a temporary directory (removed with the frame).
ref_unzip <- function(path, env = parent.frame()) {
  dir <- withr::local_tempdir(.local_envir = env)
  utils::unzip(path, exdir = dir)
  dir
}

# Every dataset of an HDF5 file: path -> R array in Keras order.
ref_h5_datasets <- function(path) {
  f <- hdf5r::H5File$new(path, mode = "r")
  on.exit(f$close_all())
  ls <- f$ls(recursive = TRUE)
  out <- list()
  for (i in seq_len(nrow(ls))) {
    if (ls$obj_type[i] != "H5I_DATASET") next
    ds <- f[[ls$name[i]]]
    v <- ds$read(drop = FALSE)
    d <- ds$dims
    v <- if (length(d) >= 2) aperm(array(as.double(v), d), rev(seq_along(d))) else as.double(v)
    out[[ls$name[i]]] <- v
    ds$close()
  }
  out
}

# Layout of an HDF5 file: data frame of path, kind (group/dataset), Keras shape, type.
ref_h5_layout <- function(path, skip = "^(optimizer|metrics)") {
  f <- hdf5r::H5File$new(path, mode = "r")
  on.exit(f$close_all())
  ls <- f$ls(recursive = TRUE)
  keep <- !grepl(skip, ls$name)
  shape <- vapply(seq_len(nrow(ls)), function(i) {
    if (ls$obj_type[i] != "H5I_DATASET") return("")
    ds <- f[[ls$name[i]]]
    on.exit(ds$close())
    paste(rev(ds$dims), collapse = "x")
  }, "")
  data.frame(path = ls$name, kind = as.character(ls$obj_type), shape = shape,
             stringsAsFactors = FALSE)[keep, ]
}

ref_act <- function(name, z) {
  switch(name,
    linear = z,
    relu = pmax(z, 0),
    sigmoid = 1 / (1 + exp(-z)),
    tanh = tanh(z),
    elu = ifelse(z > 0, z, exp(z) - 1),
    selu = 1.0507009873554805 * ifelse(z > 0, z, 1.6732632423543772 * (exp(z) - 1)),
    softmax = {
      e <- exp(z - apply(z, 1, max))
      e / rowSums(e)
    },
    stop("no reference for activation ", name)
  )
}

# Reference forward pass of a Sequential or Functional chain of the real
# files' layers, from config.json and model.weights.h5 of an unzipped archive.
ref_forward <- function(dir, x) {
  cfg <- jsonlite::fromJSON(file.path(dir, "config.json"), simplifyVector = FALSE)
  w <- ref_h5_datasets(file.path(dir, "model.weights.h5"))
  layers <- cfg$config$layers
  counters <- list()
  for (lc in layers) {
    cls <- lc$class_name
    if (cls == "InputLayer") {
      if (cfg$class_name == "Functional") counters[["input_layer"]] <- 0L
      next
    }
    base <- gsub("([a-z])([A-Z])", "\\1_\\2", cls)
    base <- tolower(base)
    n <- counters[[base]]
    group <- if (is.null(n)) base else paste0(base, "_", n + 1L)
    counters[[base]] <- if (is.null(n)) 0L else n + 1L
    v <- function(i) w[[paste0("layers/", group, "/vars/", i)]]
    c0 <- lc$config
    x <- switch(cls,
      Dense = {
        z <- x %*% v(0)
        if (isTRUE(c0$use_bias)) z <- sweep(z, 2, v(1), "+")
        ref_act(c0$activation, z)
      },
      BatchNormalization = {
        k <- 0
        gamma <- if (isTRUE(c0$scale)) { k <- k + 1; v(k - 1) } else 1
        beta <- if (isTRUE(c0$center)) { k <- k + 1; v(k - 1) } else 0
        mm <- v(k)
        mv <- v(k + 1)
        s <- gamma / sqrt(mv + c0$epsilon)
        y <- sweep(sweep(x, 2, mm, "-"), 2, s, "*")
        y + matrix(rep_len(beta, ncol(x)), nrow(x), ncol(x), byrow = TRUE)
      },
      Normalization = {
        m <- v(0)
        s <- pmax(sqrt(v(1)), 1e-7)
        if (length(m) == 1) (x - m) / s else sweep(sweep(x, 2, m, "-"), 2, s, "/")
      },
      Dropout = x,
      Activation = ref_act(c0$activation, x),
      stop("no reference for layer class ", cls)
    )
  }
  x
}

# Inputs at the scale a real model expects (see each source.txt).
ref_inputs <- function(dir_src, dir_unz, n = 16, seed = 1) {
  src <- paste(readLines(file.path(dir_src, "source.txt")), collapse = "\n")
  cfg <- jsonlite::fromJSON(file.path(dir_unz, "config.json"), simplifyVector = FALSE)
  il <- cfg$config$layers[[1]]$config
  p <- (il$batch_shape %||% il$batch_input_shape)[[2]]
  withr::with_seed(seed, {
    if (grepl("min-max scaled to \\[0,1\\]", src) && !grepl("then standardized again", src)) {
      matrix(stats::runif(n * p), n, p)
    } else if (grepl("Normalization", src) && grepl("adapted|Normalization\\(axis=None\\)", src)) {
      w <- ref_h5_datasets(file.path(dir_unz, "model.weights.h5"))
      m <- w[["layers/normalization/vars/0"]]
      s <- sqrt(w[["layers/normalization/vars/1"]])
      if (grepl("min-max scaled to \\[0,1\\]", src)) {
        matrix(stats::runif(n * p), n, p)
      } else {
        z <- matrix(stats::rnorm(n * p), n, p)
        sweep(sweep(z, 2, rep_len(s, p), "*"), 2, rep_len(m, p), "+")
      }
    } else {
      matrix(stats::rnorm(n * p), n, p)
    }
  })
}

max_rel_err <- function(a, b) {
  a <- as.double(a)
  b <- as.double(b)
  max(abs(a - b) / pmax(abs(b), 1e-300))
}

# Rewrites a member of a .keras archive (e.g. to corrupt its config) into a new file.
rewrite_archive <- function(path, fun_config = identity, env = parent.frame()) {
  dir <- withr::local_tempdir(.local_envir = env)
  utils::unzip(path, exdir = dir)
  cfg <- jsonlite::fromJSON(file.path(dir, "config.json"), simplifyVector = FALSE)
  cfg <- fun_config(cfg)
  writeLines(jsonlite::toJSON(cfg, auto_unbox = TRUE, null = "null", digits = NA),
             file.path(dir, "config.json"))
  out <- withr::local_tempfile(fileext = ".keras", .local_envir = env)
  zip::zip(out, c("metadata.json", "config.json", "model.weights.h5"), root = dir)
  out
}

# Random weights for every weight of a model (variances kept positive).
randomize_keras_weights <- function(m, sd = 0.5) {
  nms <- names(m$weights)
  set_weights(m, Map(function(w, nm) {
    w[] <- stats::rnorm(length(w), sd = sd)
    if (grepl("variance$", nm)) w[] <- abs(w) + 0.5
    w
  }, get_weights(m), nms))
  m
}
