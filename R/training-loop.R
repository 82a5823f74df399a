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

# The activity-regularization penalties of one forward pass: NULL outside the
# training and test loops (direct layer calls add nothing), else a running sum
# that layers with an activity regularizer add to (nl_activity_penalty()).
.nl_activity <- new.env(parent = emptyenv())

# Called by a layer's forward pass on its output; returns whether a penalty
# was recorded (then its backward pass adds the penalty's gradient).
nl_activity_penalty <- function(reg, y) {
  if (is.null(reg) || is.null(.nl_activity$total)) return(FALSE)
  .nl_activity$total <- .nl_activity$total + nl_regularizer_penalty(reg, y)
  TRUE
}

# The S3 method a generic dispatches to for `obj`, found once so that the
# loops call it directly.
nl_s3_method <- function(obj, generic) {
  for (cl in c(class(obj), "default")) {
    m <- utils::getS3method(generic, cl, optional = TRUE, envir = asNamespace("normlayers"))
    if (!is.null(m)) return(m)
  }
  function(...) get(generic, envir = asNamespace("normlayers"))(...)
}

# What a forward pass needs (predict() uses this part of the plan alone).
nl_forward_plan <- function(model) {
  units <- nl_exec_units(model)
  leaves <- nl_leaf_layers(model)
  list(
    units = units,
    forward = lapply(units, nl_s3_method, generic = "nl_layer_forward"),
    has_activity = any(vapply(leaves, function(l) {
      !is.null(nl_state(l)$config$activity_regularizer)
    }, TRUE))
  )
}

# Resolved once per fit()/evaluate() call, after the model is built.
# Regularizer functions without a gradient are refused here, before the first
# step, when their weight (or a batch of the layer's output, for an activity
# regularizer) is too large for finite differences.
nl_training_plan <- function(model, comp, metrics, batch_rows = 1, gradients = TRUE,
                              call = rlang::caller_env()) {
  units <- nl_exec_units(model)
  slots <- nl_weight_slots(model, trainable = TRUE)
  train <- lapply(slots, function(s) {
    info <- s$st$weight_info[[s$name]]
    list(st = s$st, name = s$name, key = paste0(s$layer, "/", s$name), shape = info$shape,
         dim = if (length(info$shape) > 1) as.integer(info$shape),
         regularizer = info$regularizer, constraint = info$constraint)
  })
  regs <- Filter(function(s) !is.null(s$st$weight_info[[s$name]]$regularizer),
                 nl_weight_slots(model))
  regs <- lapply(regs, function(s) {
    list(st = s$st, name = s$name, regularizer = s$st$weight_info[[s$name]]$regularizer)
  })
  for (s in if (gradients) train) {
    if (identical(s$regularizer$class_name, "RFunction")) {
      nl_check_function_gradient(s$regularizer$config$fn, prod(s$shape),
                                 what = sprintf("weight \"%s\"", s$key), call = call)
    }
  }
  for (u in if (gradients) units) {
    areg <- if (!inherits(u, "nl_model")) nl_state(u)$config$activity_regularizer
    if (identical(areg$class_name, "RFunction")) {
      out <- nl_layer_output_shape(u, nl_state(u)$input_shape)
      nl_check_function_gradient(areg$config$fn, batch_rows * prod(out[-1]),
                                 what = sprintf("the output of layer \"%s\"", u$name), call = call)
    }
  }
  leaves <- nl_leaf_layers(model)
  has_activity <- any(vapply(leaves, function(l) !is.null(nl_state(l)$config$activity_regularizer), TRUE))
  # Where each trainable weight's gradient comes from: the unit that runs its
  # layer, and the name the unit gives it (a model unit keys its gradients
  # "<layer>/<weight>").
  unit_of <- list()
  for (i in seq_along(units)) {
    u <- units[[i]]
    if (inherits(u, "nl_model")) {
      for (l in nl_leaf_layers(u)) unit_of[[l$name]] <- i
    } else {
      unit_of[[u$name]] <- i
    }
  }
  for (j in seq_along(train)) {
    lname <- substr(train[[j]]$key, 1, nchar(train[[j]]$key) - nchar(train[[j]]$name) - 1)
    ui <- unit_of[[lname]]
    train[[j]]$unit <- ui
    train[[j]]$gname <- if (inherits(units[[ui]], "nl_model")) train[[j]]$key else train[[j]]$name
  }
  list(
    model = model,
    layers = nl_all_layers(model),
    forward = lapply(units, nl_s3_method, generic = "nl_layer_forward"),
    backward = lapply(units, nl_s3_method, generic = "nl_layer_backward"),
    reverse = rev(seq_along(units)),
    leaf_states = lapply(leaves, nl_state),
    has_activity = has_activity,
    units = units,
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
  if (plan$has_activity) {
    old <- .nl_activity$total
    .nl_activity$total <- 0
    on.exit(.nl_activity$total <- old, add = TRUE)
  }
  units <- plan$units
  fwd <- plan$forward
  caches <- vector("list", length(units))
  for (i in seq_along(units)) {
    res <- fwd[[i]](units[[i]], x, training)
    caches[[i]] <- res$cache
    x <- res$output
  }
  list(output = x, cache = caches, activity = if (plan$has_activity) .nl_activity$total else 0)
}

# The gradients of each unit's weights, as the unit names them.
nl_plan_backward <- function(plan, caches, dy) {
  units <- plan$units
  bwd <- plan$backward
  grads <- vector("list", length(units))
  for (i in plan$reverse) {
    res <- bwd[[i]](units[[i]], caches[[i]], dy)
    if (length(res$grads)) grads[[i]] <- res$grads
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

# What a training step can change in a layer: its weights (moving statistics
# included) and a dropout layer's random stream. Layers are built before the
# loop, so nothing else in their state changes during a step.
nl_step_snapshot <- function(states) {
  lapply(states, function(st) list(weights = st$weights, rng_state = st$rng_state))
}

nl_step_restore <- function(states, snap) {
  for (i in seq_along(states)) {
    st <- states[[i]]
    st$weights <- snap[[i]]$weights
    if (!is.null(snap[[i]]$rng_state) || !is.null(st$rng_state)) st$rng_state <- snap[[i]]$rng_state
  }
}

# A weight or gradient in the weight's storage form (a plain vector for 1-D
# shapes, else an array), copying only when it is not in that form already.
nl_weight_form <- function(v, s) {
  if (is.double(v)) {
    if (is.null(s$dim)) {
      if (is.null(attributes(v))) return(v)
    } else if (identical(dim(v), s$dim) && is.null(dimnames(v))) {
      return(v)
    }
  }
  nl_shape_value(as.double(v), s$shape)
}

# A training step on one batch. Everything it changes (layer state, optimizer
# state) is restored if it fails.
nl_train_step <- function(plan, xb, yb) {
  opt <- plan$optimizer
  osnap <- nl_optimizer_snapshot(opt)
  lsnap <- nl_step_snapshot(plan$leaf_states)
  ok <- FALSE
  on.exit(if (!ok) {
    nl_step_restore(plan$leaf_states, lsnap)
    nl_optimizer_restore(opt, osnap)
  }, add = TRUE)
  fw <- nl_plan_forward(plan, xb, TRUE)
  lo <- plan$loss(yb, fw$output)
  loss <- lo$value + nl_plan_penalty(plan) + fw$activity
  # The first layer's input needs no gradient.
  if (is.list(fw$cache[[1]])) fw$cache[[1]]$skip_dx <- TRUE
  ugrads <- nl_plan_backward(plan, fw$cache, lo$grad)
  train <- plan$train
  n_tr <- length(train)
  weights <- grads <- vector("list", n_tr)
  has_grad <- rep(TRUE, n_tr)
  for (i in seq_len(n_tr)) {
    s <- train[[i]]
    g <- ugrads[[s$unit]][[s$gname]]
    if (is.null(g)) {
      has_grad[i] <- FALSE
      next
    }
    w <- s$st$weights[[s$name]]
    weights[[i]] <- w
    g <- nl_weight_form(g, s)
    if (!is.null(s$regularizer)) g <- g + nl_regularizer_gradient(s$regularizer, w)
    grads[[i]] <- g
  }
  names(weights) <- plan$keys
  if (!all(has_grad)) {
    train <- train[has_grad]
    weights <- weights[has_grad]
    grads <- grads[has_grad]
  }
  new <- if (length(train)) nl_optimizer_apply(opt, weights, grads) else list()
  for (i in seq_along(train)) {
    s <- train[[i]]
    w <- new[[i]]
    if (!is.null(s$constraint)) w <- nl_constraint_apply(s$constraint, w)
    s$st$weights[[s$name]] <- nl_weight_form(w, s)
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
    loss_sum <- loss_sum + (lo$value + penalty + fw$activity) * m
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
# `progress` (optional environment): its `steps` counts the completed steps.
nl_fit_loop <- function(plan, data, val, batch_size, epochs, verbose, shuffle, progress = NULL) {
  n <- data$n
  bs <- min(batch_size, n)
  steps <- as.integer(ceiling(n / bs))
  names_m <- vapply(plan$metrics, `[[`, "", "name")
  hist <- list()
  epoch <- step <- 0L
  # One handler for the whole loop: it reads the epoch and step reached.
  tryCatch(
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
        r <- nl_train_step(plan, xb, yb)
        if (!is.null(progress)) progress$steps <- progress$steps + 1L
        loss_sum <- loss_sum + r$loss * m
        for (j in seq_along(msum)) msum[[j]] <- msum[[j]] + r$metrics[[j]]
        if (verbose == 1L) cli::cli_progress_update(.envir = environment())
      }
      if (verbose == 1L) cli::cli_progress_done(.envir = environment())
      logs <- list(loss = loss_sum / n)
      for (j in seq_along(names_m)) logs[[names_m[j]]] <- unname(msum[[j]]["sum"] / msum[[j]]["n"])
      if (!is.null(val)) {
        step <- NA_integer_
        vl <- nl_test_loop(plan, val$x, val$y, val$from, val$count, batch_size)
        names(vl) <- paste0("val_", names(vl))
        logs <- c(logs, vl)
      }
      for (nm in names(logs)) hist[[nm]] <- c(hist[[nm]], logs[[nm]])
      if (verbose >= 1L) {
        cli::cat_line(sprintf("Epoch %d/%d - %d step%s - %s", epoch, epochs, steps,
                              if (steps == 1) "" else "s", nl_format_logs(logs)))
      }
    },
    error = function(e) {
      nl_fit_failed(e, epoch, epochs, step, steps, nl_history(hist, verbose, epochs, steps))
    }
  )
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
