# Losses with Keras's formulas and the "sum_over_batch_size" reduction.
# A loss is a list: `name`, `sparse` (whether y holds class indices) and
# `fn(y, p)` returning `list(value =, grad =)` (grad with respect to `p`, with
# dim(p)). Crossentropies clip probabilities to [1e-7, 1 - 1e-7] like Keras
# (from_logits = FALSE); the clipped range has zero gradient outside.

nl_loss_epsilon <- 1e-7

nl_loss_aliases <- c(
  mse = "mean_squared_error", mean_squared_error = "mean_squared_error",
  mae = "mean_absolute_error", mean_absolute_error = "mean_absolute_error",
  binary_crossentropy = "binary_crossentropy",
  categorical_crossentropy = "categorical_crossentropy",
  sparse_categorical_crossentropy = "sparse_categorical_crossentropy"
)

# Resolves compile()'s `loss` argument.
nl_get_loss <- function(loss, call = rlang::caller_env()) {
  known <- names(nl_loss_aliases)
  if (is.null(loss)) {
    nl_abort(c("{.arg loss} must be given.",
               i = "Use one of {.val {known}}."), "loss", call = call)
  }
  if (!is.character(loss) || length(loss) != 1 || is.na(loss)) {
    nl_abort(c("{.arg loss} must be the name of a loss.",
               x = "You supplied {nl_describe(loss)}.",
               i = "Use one of {.val {known}}."), "loss", call = call)
  }
  key <- nl_loss_aliases[tolower(loss)]
  if (is.na(key)) {
    nl_abort(c("Unknown loss {.val {loss}}.", i = "Use one of {.val {known}}."),
             "loss", call = call)
  }
  fn <- switch(key,
    mean_squared_error = nl_loss_mse,
    mean_absolute_error = nl_loss_mae,
    binary_crossentropy = nl_loss_binary_crossentropy,
    categorical_crossentropy = nl_loss_categorical_crossentropy,
    sparse_categorical_crossentropy = nl_loss_sparse_categorical_crossentropy
  )
  structure(list(name = loss, key = unname(key),
                 sparse = identical(unname(key), "sparse_categorical_crossentropy"),
                 fn = fn),
            class = "nl_loss")
}

# ---- the formulas ------------------------------------------------------------

# mse: mean over the last axis, then over samples = the mean of all values.
nl_loss_mse <- function(y, p) {
  d <- p - y
  list(value = mean(d^2), grad = 2 * d / length(d))
}

nl_loss_mae <- function(y, p) {
  d <- p - y
  list(value = mean(abs(d)), grad = sign(d) / length(d))
}

nl_loss_binary_crossentropy <- function(y, p) {
  eps <- nl_loss_epsilon
  pc <- pmin(pmax(p, eps), 1 - eps)
  l <- -(y * log(pc) + (1 - y) * log(1 - pc))
  inside <- p >= eps & p <= 1 - eps
  g <- (-(y / pc) + (1 - y) / (1 - pc)) * inside / length(p)
  dim(g) <- dim(p)
  list(value = mean(l), grad = g)
}

# Categorical crossentropy on matrices: rows are sample positions, columns
# classes. Keras first rescales each row of p to sum to 1, then clips.
nl_cce_matrix <- function(ym, pm) {
  eps <- nl_loss_epsilon
  s <- rowSums(pm)
  q <- pm / s
  qc <- pmin(pmax(q, eps), 1 - eps)
  l <- -rowSums(ym * log(qc))
  m <- nrow(pm)
  gq <- -(ym / qc) * (q >= eps & q <= 1 - eps)
  gp <- (gq - rowSums(gq * q)) / s
  list(value = mean(l), grad = gp / m)
}

nl_loss_categorical_crossentropy <- function(y, p) {
  d <- dim(p)
  res <- nl_cce_matrix(nl_as_last_axis_matrix(y), nl_as_last_axis_matrix(p))
  dim(res$grad) <- d
  res
}

# y: class indices (0-based, as in Keras), one per row of the last-axis matrix of p.
nl_loss_sparse_categorical_crossentropy <- function(y, p) {
  d <- dim(p)
  pm <- nl_as_last_axis_matrix(p)
  ym <- nl_one_hot(y, ncol(pm))
  res <- nl_cce_matrix(ym, pm)
  dim(res$grad) <- d
  res
}

nl_one_hot <- function(labels, n_classes) {
  m <- matrix(0, length(labels), n_classes)
  m[cbind(seq_along(labels), as.integer(labels) + 1L)] <- 1
  m
}

# ---- checking y against the model's output shape -----------------------------

# Returns y in the form the loss expects: an array of the output's shape (the
# batch size taken from y), or for the sparse loss a vector of class indices,
# one per position of the output's leading axes. `out_shape` includes the batch.
nl_loss_prepare_y <- function(loss, y, out_shape, arg = "y", call = rlang::caller_env()) {
  dy <- dim(y)
  feat <- out_shape[-1]
  n <- dy[1]
  r <- length(out_shape)
  if (loss$sparse) {
    lead <- feat[-length(feat)]
    ok <- identical(as.integer(dy[-1]), as.integer(lead)) ||
      identical(as.integer(dy[-1]), as.integer(c(lead, 1L)))
    if (!ok) {
      nl_abort(c("{.arg {arg}} does not match the model's output for loss {.val {loss$name}}.",
                 x = "{.arg {arg}} has shape {nl_format_shape(dy)}; the output has shape {nl_format_shape(out_shape)}.",
                 i = "Give one class index (from 0) per sample: shape {nl_format_shape(c(NA, lead))}."),
               "shape", call = call)
    }
    v <- as.double(y)
    n_classes <- out_shape[r]
    bad <- is.na(v) | v != trunc(v) | v < 0 | v >= n_classes
    if (any(bad)) {
      nl_abort(c("{.arg {arg}} must hold class indices from 0 to {n_classes - 1}.",
                 x = "Found {.val {utils::head(unique(v[bad]), 3)}}.",
                 i = "Class indices are 0-based, as in Keras; subtract 1 from R factor codes."),
               "value", call = call)
    }
    return(v)
  }
  target <- c(n, feat)
  if (identical(as.integer(dy), as.integer(target))) return(y)
  if (feat[length(feat)] == 1L && identical(as.integer(c(dy, 1L)), as.integer(target))) {
    dim(y) <- target
    return(y)
  }
  nl_abort(c("{.arg {arg}} does not match the model's output.",
             x = "{.arg {arg}} has shape {nl_format_shape(dy)}; the output has shape {nl_format_shape(out_shape)}.",
             i = "Give {.arg {arg}} the shape of the output, with one row per sample."),
           "shape", call = call)
}
