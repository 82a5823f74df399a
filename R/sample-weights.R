# Sample and class weights, as Keras 3 applies them.
#
# Loss (keras/src/losses/loss.py, reduce_weighted_values): the per-sample
# losses (already averaged over the last axis) are multiplied by the weights
# and reduced with "sum_over_batch_size", i.e. summed and divided by the
# number of per-sample values - NOT by the sum of the weights. A row with
# weight 0 therefore adds nothing to the sum but still counts in the divisor.
#
# Metrics (keras/src/trainers/compile_utils.py): the `metrics` of compile()
# are never weighted; the `weighted_metrics` are weighted means,
# sum(value * weight) / sum(weight).
#
# class_weight (keras/src/trainers/data_adapters/data_adapter_utils.py,
# class_weight_to_sample_weights): the class of a sample is y itself
# (rounded) when y has one column, else the argmax of its last axis; its
# weight is class_weight[[class]], 1 for classes not listed. It applies to the
# training data only, and cannot be combined with sample_weight.

# sample_weight as given to fit()/evaluate(): NULL or one non-negative number
# per sample (a vector, or an array whose other dimensions are all 1).
nl_check_sample_weight <- function(sample_weight, n, arg = "sample_weight",
                                   call = rlang::caller_env()) {
  if (is.null(sample_weight)) return(NULL)
  d <- dim(sample_weight)
  if (is.data.frame(sample_weight) || !(is.numeric(sample_weight) || is.logical(sample_weight))) {
    nl_abort(c("{.arg {arg}} must be a numeric vector with one weight per sample.",
               x = "You supplied {nl_describe(sample_weight)}."), "type", call = call)
  }
  if (!is.null(d) && length(d) > 1 && any(d[-1] != 1)) {
    nl_abort(c("{.arg {arg}} must have one weight per sample.",
               x = "You supplied {nl_describe(sample_weight)}.",
               i = "Per-timestep weights (a matrix of samples by timesteps) are not supported by normlayers."),
             "unsupported", call = call)
  }
  w <- as.double(sample_weight)
  if (length(w) != n) {
    nl_abort(c("{.arg {arg}} must have one weight per sample.",
               x = "It has {length(w)} weight{?s} for {n} sample{?s}."), "data", call = call)
  }
  if (anyNA(w) || any(!is.finite(w)) || any(w < 0)) {
    nl_abort(c("{.arg {arg}} must hold finite, non-negative weights.",
               x = "It has {sum(is.na(w) | !is.finite(w) | w < 0)} missing, infinite or negative value{?s}."),
             "value", call = call)
  }
  w
}

# class_weight: a named list or named numeric vector mapping 0-based class
# indices ("0", "1", ...) to weights; an unnamed numeric vector gives the
# weights of classes 0, 1, ... in order. Returns a named double vector.
nl_check_class_weight <- function(class_weight, call = rlang::caller_env()) {
  if (is.null(class_weight)) return(NULL)
  if (is.list(class_weight) && !is.data.frame(class_weight) &&
      all(vapply(class_weight, function(v) is.numeric(v) && length(v) == 1, TRUE))) {
    class_weight <- unlist(class_weight)
  }
  if (!is.numeric(class_weight) || !length(class_weight)) {
    nl_abort(c("{.arg class_weight} must be a named list of weights, one per class.",
               x = "You supplied {nl_describe(class_weight)}.",
               i = "For example {.code list(\"0\" = 1, \"1\" = 5)} (0-based class indices, as in keras3)."),
             "type", call = call)
  }
  nms <- names(class_weight)
  if (is.null(nms)) nms <- as.character(seq_along(class_weight) - 1L)
  idx <- suppressWarnings(as.numeric(nms))
  if (anyNA(idx) || any(idx != trunc(idx)) || any(idx < 0) || anyDuplicated(idx)) {
    nl_abort(c("The names of {.arg class_weight} must be distinct 0-based class indices.",
               x = "You supplied the names {.val {nms}}.",
               i = "For example {.code list(\"0\" = 1, \"1\" = 5)}."), "value", call = call)
  }
  w <- as.double(class_weight)
  if (anyNA(w) || any(!is.finite(w)) || any(w < 0)) {
    nl_abort(c("{.arg class_weight} must hold finite, non-negative weights.",
               x = "You supplied {.val {w}}."), "value", call = call)
  }
  stats::setNames(w, as.character(idx))
}

# The per-sample weights that class_weight gives for targets y (as passed by
# the user, before the loss's preparation).
nl_class_weight_to_sample_weight <- function(class_weight, y, call = rlang::caller_env()) {
  d <- dim(y)
  if (length(d) > 2) {
    nl_abort(c("{.arg class_weight} is not supported for targets with 3 or more dimensions.",
               x = "{.arg y} has shape {nl_format_shape(d)}.",
               i = "Use {.arg sample_weight} instead."), "unsupported", call = call)
  }
  cls <- if (length(d) == 2 && d[2] != 1) {
    max.col(matrix(as.double(y), d[1]), ties.method = "first") - 1
  } else {
    round(as.double(y))
  }
  w <- unname(class_weight[as.character(cls)])
  w[is.na(w)] <- 1
  w
}

# Weights of every per-position value of a metric or loss: the values are rows
# of the output's last-axis matrix, batch fastest, so a sample's weight repeats
# once per position of the middle axes.
nl_position_weights <- function(sw, n_values) {
  reps <- n_values %/% length(sw)
  if (reps == 1L) sw else rep(sw, times = reps)
}

# ---- per-sample loss values ---------------------------------------------------

# The per-position losses (one per row of the output's last-axis matrix, i.e.
# averaged over the last axis), whose mean is the unweighted loss. Same
# formulas as R/losses.R.
nl_loss_values <- function(loss, y, p) {
  eps <- nl_loss_epsilon
  pm <- nl_as_last_axis_matrix(p)
  switch(loss$key,
    mean_squared_error = rowMeans((pm - nl_as_last_axis_matrix(nl_like(y, p)))^2),
    mean_absolute_error = rowMeans(abs(pm - nl_as_last_axis_matrix(nl_like(y, p)))),
    binary_crossentropy = {
      ym <- nl_as_last_axis_matrix(nl_like(y, p))
      pc <- pmin(pmax(pm, eps), 1 - eps)
      rowMeans(-(ym * log(pc) + (1 - ym) * log(1 - pc)))
    },
    categorical_crossentropy = nl_cce_values(nl_as_last_axis_matrix(nl_like(y, p)), pm),
    sparse_categorical_crossentropy = nl_cce_values(nl_one_hot(y, ncol(pm)), pm),
    nl_abort(c("Sample weights are not available for loss {.val {loss$name}}."), "unsupported")
  )
}

nl_like <- function(y, p) {
  if (is.null(dim(y)) || length(dim(y)) != length(dim(p))) dim(y) <- dim(p)
  y
}

nl_cce_values <- function(ym, pm) {
  eps <- nl_loss_epsilon
  q <- pm / rowSums(pm)
  qc <- pmin(pmax(q, eps), 1 - eps)
  -rowSums(ym * log(qc))
}

# The loss of a batch with optional per-sample weights sw: list(value, grad).
# Without weights it is the loss's own result. With weights, the value is
# sum(values * w) / length(values) and the gradient of every element of sample
# i is the unweighted gradient times w[i] (the unweighted loss is the mean of
# the same values, so its gradient already carries the 1 / length(values)).
nl_loss_weighted <- function(loss, y, p, sw = NULL) {
  lo <- loss$fn(y, p)
  if (is.null(sw)) return(lo)
  v <- nl_loss_values(loss, y, p)
  wp <- nl_position_weights(sw, length(v))
  list(value = sum(v * wp) / length(v), grad = lo$grad * sw)
}

# Sums for the batch's metrics: c(sum =, n =) per metric; weighted metrics use
# the sample weights (1 when there are none).
nl_batch_metrics_weighted <- function(metrics, y, p, sw = NULL) {
  lapply(metrics, function(m) {
    v <- m$fn(y, p)
    if (is.null(sw)) return(c(sum = sum(v), n = length(v)))
    wp <- nl_position_weights(sw, length(v))
    c(sum = sum(v * wp), n = sum(wp))
  })
}

# Metric sums of a batch for a training plan: the unweighted metrics, then
# the weighted ones.
nl_plan_batch_metrics <- function(plan, y, p, sw = NULL) {
  if (!length(plan$weighted_metrics)) return(nl_batch_metrics(plan$metrics, y, p))
  c(nl_batch_metrics(plan$metrics, y, p),
    nl_batch_metrics_weighted(plan$weighted_metrics, y, p, sw))
}
