# The training and test loops behind fit() and evaluate(). Everything a step
# needs (the layers to run, the weight slots with their keys, regularizers,
# constraints and shapes, the optimizer) is resolved once per call into a
# "plan"; batches are gathered with one allocation of the batch's size
# (nl_gather_rows()); a step that fails is rolled back and reported with a
# classed error that names the epoch and the step.

# ---- the plan ----------------------------------------------------------------

# The layers a model is executed as: a sequential model (nested sequential
# models included) runs its leaf layers one after the other, skipping the
# per-layer input checks once the model has been validated for the data's
# shape; a functional model runs as one unit.
nl_exec_units <- function(model) {
  if (!inherits(model, "nl_sequential")) return(list(model))
  units <- list()
  for (l in nl_state(model)$layers) {
    if (inherits(l, "nl_sequential")) units <- c(units, nl_exec_units(l))
    else units[[length(units) + 1L]] <- l
  }
  units
}

# Resolved once per fit()/evaluate() call, after the model is built.
nl_training_plan <- function(model, comp, metrics) {
  units <- nl_exec_units(model)
  slots <- nl_weight_slots(model, trainable = TRUE)
  train <- lapply(slots, function(s) {
    info <- s$st$weight_info[[s$name]]
    list(st = s$st, name = s$name, key = paste0(s$layer, "/", s$name), shape = info$shape,
         regularizer = info$regularizer, constraint = info$constraint)
  })
  regs <- Filter(function(s) !is.null(s$st$weight_info[[s$name]]$regularizer),
                 nl_weight_slots(model))
  regs <- lapply(regs, function(s) {
    list(st = s$st, name = s$name, regularizer = s$st$weight_info[[s$name]]$regularizer)
  })
  list(
    model = model,
    layers = nl_all_layers(model),
    units = units,
    prefix = vapply(units, function(u) if (inherits(u, "nl_model")) "" else paste0(u$name, "/"), ""),
    is_model = vapply(units, inherits, TRUE, "nl_model"),
    train = train,
    keys = vapply(train, `[[`, "", "key"),
    regs = regs,
    loss = comp$loss$fn,
    optimizer = comp$optimizer,
    metrics = metrics
  )
}

# Sum of the regularization penalties of every weight (in slot order).
nl_plan_penalty <- function(plan) {
  total <- 0
  for (s in plan$regs) total <- total + nl_regularizer_penalty(s$regularizer, s$st$weights[[s$name]])
  total
}

nl_plan_forward <- function(plan, x, training) {
  units <- plan$units
  caches <- vector("list", length(units))
  for (i in seq_along(units)) {
    res <- nl_layer_forward(units[[i]], x, training)
    caches[[i]] <- res$cache
    x <- res$output
  }
  list(output = x, cache = caches)
}

# Gradients keyed "<layer>/<weight>" (a unit that is a model keys its own).
nl_plan_backward <- function(plan, caches, dy) {
  units <- plan$units
  grads <- list()
  for (i in rev(seq_along(units))) {
    res <- nl_layer_backward(units[[i]], caches[[i]], dy)
    g <- res$grads
    if (length(g)) {
      if (!plan$is_model[[i]]) names(g) <- paste0(plan$prefix[[i]], names(g))
      grads[names(g)] <- g
    }
    dy <- res$dx
  }
  grads
}

# ---- batches -----------------------------------------------------------------

# Rows of the data (an array, or a list of arrays for several inputs).
nl_batch_rows <- function(x, idx) {
  if (is.list(x)) lapply(x, nl_slice_rows, idx = idx) else nl_slice_rows(x, idx)
}

nl_batch_range <- function(x, from, count) {
  if (is.list(x)) return(lapply(x, nl_slice_range, from = from, count = count))
  nl_slice_range(x, from, count)
}

# ---- one training step -------------------------------------------------------

# A training step on one batch. Everything it changes (layer state, optimizer
# state) is restored if it fails.
nl_train_step <- function(plan, xb, yb) {
  opt <- plan$optimizer
  osnap <- nl_optimizer_snapshot(opt)
  lsnap <- nl_snapshot(plan$layers)
  ok <- FALSE
  on.exit(if (!ok) {
    nl_restore_snapshot(lsnap)
    nl_optimizer_restore(opt, osnap)
  }, add = TRUE)
  fw <- nl_plan_forward(plan, xb, TRUE)
  lo <- plan$loss(yb, fw$output)
  loss <- lo$value + nl_plan_penalty(plan)
  bgrads <- nl_plan_backward(plan, fw$cache, lo$grad)
  train <- plan$train
  has_grad <- plan$keys %in% names(bgrads)
  if (!all(has_grad)) train <- train[has_grad]
  keys <- plan$keys[has_grad]
  weights <- vector("list", length(train))
  grads <- vector("list", length(train))
  names(weights) <- names(grads) <- keys
  for (i in seq_along(train)) {
    s <- train[[i]]
    w <- s$st$weights[[s$name]]
    weights[[i]] <- w
    g <- nl_shape_value(as.double(bgrads[[keys[[i]]]]), s$shape)
    if (!is.null(s$regularizer)) g <- g + nl_regularizer_gradient(s$regularizer, w)
    grads[[i]] <- g
  }
  new <- if (length(keys)) nl_optimizer_apply(opt, weights, grads) else list()
  for (i in seq_along(train)) {
    s <- train[[i]]
    w <- new[[i]]
    if (!is.null(s$constraint)) w <- nl_constraint_apply(s$constraint, w)
    s$st$weights[[s$name]] <- nl_shape_value(as.double(w), s$shape)
  }
  res <- list(loss = loss, metrics = nl_batch_metrics(plan$metrics, yb, fw$output))
  ok <- TRUE
  res
}

nl_batch_metrics <- function(metrics, y, p) {
  lapply(metrics, function(m) {
    v <- m$fn(y, p)
    c(sum = sum(v), n = length(v))
  })
}

# ---- the loops ---------------------------------------------------------------

# Loss and metrics in inference mode over rows from, ..., from + count - 1 of
# (x, y), batch by batch. The penalty does not change during the loop.
nl_test_loop <- function(plan, x, y, from, count, batch_size) {
  bs <- min(batch_size, count)
  penalty <- nl_plan_penalty(plan)
  loss_sum <- 0
  msum <- lapply(plan$metrics, function(m) c(sum = 0, n = 0))
  s <- 0
  while (s < count) {
    m <- min(bs, count - s)
    xb <- nl_batch_range(x, from + s, m)
    yb <- nl_slice_range(y, from + s, m)
    fw <- nl_plan_forward(plan, xb, FALSE)
    lo <- plan$loss(yb, fw$output)
    loss_sum <- loss_sum + (lo$value + penalty) * m
    bm <- nl_batch_metrics(plan$metrics, yb, fw$output)
    for (j in seq_along(msum)) msum[[j]] <- msum[[j]] + bm[[j]]
    s <- s + m
  }
  out <- list(loss = loss_sum / count)
  for (j in seq_along(plan$metrics)) {
    out[[plan$metrics[[j]]$name]] <- unname(msum[[j]]["sum"] / msum[[j]]["n"])
  }
  out
}

nl_history <- function(hist, verbose, epochs, steps) {
  structure(list(params = list(verbose = verbose, epochs = epochs, steps = steps),
                 metrics = hist),
            class = "keras_training_history")
}

# data: list(x, y, n) with the training rows 1..n; val: NULL or list(x, y,
# from, count) (rows of the same or of other arrays).
nl_fit_loop <- function(plan, data, val, batch_size, epochs, verbose, shuffle) {
  n <- data$n
  bs <- min(batch_size, n)
  steps <- as.integer(ceiling(n / bs))
  names_m <- vapply(plan$metrics, `[[`, "", "name")
  hist <- list()
  for (epoch in seq_len(epochs)) {
    order <- if (shuffle) sample.int(n) else NULL
    if (verbose == 1L) {
      cli::cli_progress_bar(sprintf("Epoch %d/%d", epoch, epochs), total = steps,
                            clear = TRUE, .envir = environment())
    }
    loss_sum <- 0
    msum <- lapply(plan$metrics, function(m) c(sum = 0, n = 0))
    for (step in seq_len(steps)) {
      s <- (step - 1) * bs
      m <- min(bs, n - s)
      if (is.null(order)) {
        xb <- nl_batch_range(data$x, s + 1, m)
        yb <- nl_slice_range(data$y, s + 1, m)
      } else {
        idx <- order[seq.int(s + 1, length.out = m)]
        xb <- nl_batch_rows(data$x, idx)
        yb <- nl_slice_rows(data$y, idx)
      }
      r <- tryCatch(nl_train_step(plan, xb, yb), error = identity)
      if (inherits(r, "error")) {
        nl_fit_failed(r, epoch, epochs, step, steps, nl_history(hist, verbose, epochs, steps))
      }
      loss_sum <- loss_sum + r$loss * m
      for (j in seq_along(msum)) msum[[j]] <- msum[[j]] + r$metrics[[j]]
      if (verbose == 1L) cli::cli_progress_update(.envir = environment())
    }
    if (verbose == 1L) cli::cli_progress_done(.envir = environment())
    logs <- list(loss = loss_sum / n)
    for (j in seq_along(names_m)) logs[[names_m[j]]] <- unname(msum[[j]]["sum"] / msum[[j]]["n"])
    if (!is.null(val)) {
      vl <- tryCatch(nl_test_loop(plan, val$x, val$y, val$from, val$count, batch_size),
                     error = identity)
      if (inherits(vl, "error")) {
        nl_fit_failed(vl, epoch, epochs, NA, steps, nl_history(hist, verbose, epochs, steps))
      }
      names(vl) <- paste0("val_", names(vl))
      logs <- c(logs, vl)
    }
    for (nm in names(logs)) hist[[nm]] <- c(hist[[nm]], logs[[nm]])
    if (verbose >= 1L) {
      cli::cat_line(sprintf("Epoch %d/%d - %d step%s - %s", epoch, epochs, steps,
                            if (steps == 1) "" else "s", nl_format_logs(logs)))
    }
  }
  nl_history(hist, verbose, epochs, steps)
}

# Raises the classed error of a failed step. The error keeps the kind classes
# of a normlayers cause (a shape error in a step is still a
# `normlayers_error_shape`), has the cause as its parent, and carries the
# epoch, the step (NA for the validation at the end of the epoch) and the
# history of the completed epochs.
nl_fit_failed <- function(cause, epoch, epochs, step, steps, history,
                          call = rlang::caller_env()) {
  kinds <- grep("^normlayers_error_", class(cause), value = TRUE)
  where <- if (is.na(step)) sprintf("the validation at the end of epoch %d/%d", epoch, epochs)
           else sprintf("epoch %d/%d, step %d/%d", epoch, epochs, step, steps)
  done <- length(history$metrics$loss)
  cli::cli_abort(
    c("Training failed at {where}.",
      i = if (is.na(step)) "The weights keep the updates of epoch {epoch}."
          else "That step was undone; the earlier steps are kept.",
      i = "{.code e$history} holds the history of the {done} completed epoch{?s}; {.code e$parent} is the cause."),
    class = unique(c("normlayers_error_fit", kinds, "normlayers_error")),
    parent = cause, history = history, epoch = epoch, step = step,
    call = .nl_ctx$call %||% call
  )
}

nl_format_logs <- function(logs) {
  paste(sprintf("%s: %.4f", names(logs), unlist(logs)), collapse = " - ")
}
