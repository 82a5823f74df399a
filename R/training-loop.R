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
    infer = lapply(units, nl_s3_method, generic = "nl_layer_infer"),
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
                              weighted_metrics = list(), call = rlang::caller_env()) {
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
      # a wrapper (SpectralNormalization) runs its wrapped layer and keys the
      # wrapped layer's gradients "<layer>/<weight>"
      for (l in nl_all_layers(u)) unit_of[[l$name]] <- i
    }
  }
  for (j in seq_along(train)) {
    lname <- substr(train[[j]]$key, 1, nchar(train[[j]]$key) - nchar(train[[j]]$name) - 1)
    ui <- unit_of[[lname]]
    train[[j]]$unit <- ui
    own <- !inherits(units[[ui]], "nl_model") && identical(units[[ui]]$name, lname)
    train[[j]]$gname <- if (own) train[[j]]$name else train[[j]]$key
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
    loss_spec = comp$loss,
    optimizer = comp$optimizer,
    metrics = metrics,
    weighted_metrics = weighted_metrics
  )
}

# Sum of the regularization penalties of every weight (in slot order).
nl_plan_penalty <- function(plan) {
  total <- 0
  for (s in plan$regs) {
    total <- total + nl_regularizer_penalty(s$regularizer, nl_weight_get(s$st, s$name))
  }
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
  lapply(states, function(st) list(weights = nl_weights_all(st), rng_state = st$rng_state))
}

nl_step_restore <- function(states, snap) {
  for (i in seq_along(states)) {
    st <- states[[i]]
    nl_weights_replace(st, snap[[i]]$weights)
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
nl_train_step <- function(plan, xb, yb, swb = NULL) {
  opt <- plan$optimizer
  osnap <- nl_optimizer_snapshot(opt)
  lsnap <- nl_step_snapshot(plan$leaf_states)
  ok <- FALSE
  on.exit(if (!ok) {
    nl_step_restore(plan$leaf_states, lsnap)
    nl_optimizer_restore(opt, osnap)
  }, add = TRUE)
  fw <- nl_plan_forward(plan, xb, TRUE)
  lo <- if (is.null(swb)) plan$loss(yb, fw$output) else
    nl_loss_weighted(plan$loss_spec, yb, fw$output, swb)
  loss <- lo$value + nl_plan_penalty(plan) + fw$activity
  # The first layer's input needs no gradient.
  if (is.list(fw$cache[[1]])) fw$cache[[1]]$skip_dx <- TRUE
  ugrads <- nl_plan_backward(plan, fw$cache, lo$grad)
  train <- plan$train
  n_tr <- length(train)
  weights <- nl_weight_get_slots(train)
  grads <- vector("list", n_tr)
  has_grad <- rep(TRUE, n_tr)
  for (i in seq_len(n_tr)) {
    s <- train[[i]]
    g <- ugrads[[s$unit]][[s$gname]]
    if (is.null(g)) {
      has_grad[i] <- FALSE
      next
    }
    g <- nl_weight_form(g, s)
    if (!is.null(s$regularizer)) g <- g + nl_regularizer_gradient(s$regularizer, weights[[i]])
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
    new[[i]] <- nl_weight_form(w, s)
  }
  nl_weight_set_slots(train, new)
  res <- list(loss = loss, metrics = nl_plan_batch_metrics(plan, yb, fw$output, swb))
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
# (x, y) (sample weights `sw` for those rows, or NULL), batch by batch, with
# the callbacks' on_test_* hooks. The penalty does not change during the loop.
nl_test_loop <- function(plan, x, y, from, count, batch_size, sw = NULL, cbs = list()) {
  bs <- min(batch_size, count)
  penalty <- nl_plan_penalty(plan)
  acc <- nl_logs_accumulator(plan)
  nl_callbacks_run(cbs, "on_test_begin")
  # The batch hooks run only on the callbacks that have them (often none).
  cbs_bb <- nl_callbacks_having(cbs, "on_test_batch_begin")
  cbs_be <- nl_callbacks_having(cbs, "on_test_batch_end")
  s <- 0
  batch <- 0L
  while (s < count) {
    m <- min(bs, count - s)
    if (length(cbs_bb)) nl_callbacks_run(cbs_bb, "on_test_batch_begin", batch)
    xb <- nl_batch_range(x, from + s, m)
    yb <- nl_slice_range(y, from + s, m)
    swb <- if (is.null(sw)) NULL else sw[seq.int(s + 1, length.out = m)]
    fw <- nl_plan_forward(plan, xb, FALSE)
    lo <- if (is.null(swb)) plan$loss(yb, fw$output) else
      nl_loss_weighted(plan$loss_spec, yb, fw$output, swb)
    acc$add(lo$value + penalty + fw$activity, m, nl_plan_batch_metrics(plan, yb, fw$output, swb))
    s <- s + m
    if (length(cbs_be)) nl_callbacks_run(cbs_be, "on_test_batch_end", batch, acc$logs())
    batch <- batch + 1L
  }
  logs <- acc$logs()
  nl_callbacks_run(cbs, "on_test_end", logs = logs)
  logs
}

nl_history <- function(hcb, verbose, epochs, steps) {
  structure(list(params = list(verbose = verbose, epochs = epochs, steps = steps),
                 metrics = hcb$metrics, epoch = hcb$epoch),
            class = "keras_training_history")
}

# Batches of one epoch. Without steps_per_epoch every epoch is a new pass over
# the data (reshuffled); with it, as Keras's EpochIterator, epochs take that
# many batches from the current pass and a new pass starts once one is used up
# (an epoch that reaches the end of a pass stops there, with a warning).
nl_epoch_batches <- function(it, n, bs, shuffle, steps_per_epoch) {
  n_batches <- as.integer(ceiling(n / bs))
  if (is.null(steps_per_epoch) || it$pos >= n_batches) {
    it$order <- if (shuffle) sample.int(n) else NULL
    it$pos <- 0L
  }
  want <- if (is.null(steps_per_epoch)) n_batches else steps_per_epoch
  take <- min(want, n_batches - it$pos)
  first <- it$pos
  it$pos <- it$pos + take
  if (!is.null(steps_per_epoch) && take < want) {
    nl_warn(c("Your input ran out of data; the epoch stopped after {take} step{?s} instead of {want}.",
              i = "{.arg steps_per_epoch} = {want} is more than the {n_batches} batch{?es} left in the pass over the data."),
            "data")
  }
  first + seq_len(take)
}

# data: list(x, y, n, sw) with the training rows 1..n; val: NULL or list(x, y,
# from, count, sw) (rows of the same or of other arrays). opts: batch_size,
# epochs, initial_epoch (0-based), shuffle, steps_per_epoch, validation_steps,
# validation_batch_size, validation_freq, callbacks, verbose.
nl_fit_loop <- function(plan, data, val, opts) {
  n <- data$n
  bs <- min(opts$batch_size, n)
  n_batches <- as.integer(ceiling(n / bs))
  steps <- if (is.null(opts$steps_per_epoch)) n_batches else as.integer(opts$steps_per_epoch)
  epochs <- opts$epochs
  model <- plan$model
  hcb <- nl_callback_history()
  progress <- if (opts$verbose > 0L) nl_callback_progbar(opts$verbose) else NULL
  params <- list(verbose = opts$verbose, epochs = epochs, steps = steps)
  cbs <- nl_callback_list(opts$callbacks, model, params, hcb, progress)
  val_bs <- opts$validation_batch_size %||% opts$batch_size
  it <- new.env(parent = emptyenv())
  it$pos <- n_batches
  # The batch hooks run only on the callbacks that have them (often none).
  cbs_bb <- nl_callbacks_having(cbs, "on_train_batch_begin")
  cbs_be <- nl_callbacks_having(cbs, "on_train_batch_end")
  nl_set_stop_training(model, FALSE)
  mst <- nl_state(model)
  nl_callbacks_run(cbs, "on_train_begin")
  train_logs <- NULL
  epoch <- opts$initial_epoch
  k <- 0L
  n_steps <- steps
  # One handler for the whole loop: it reads the epoch and step reached (the
  # step is NA for the validation run and the epoch's callbacks).
  tryCatch(
    for (epoch in seq.int(opts$initial_epoch, length.out = max(0L, epochs - opts$initial_epoch))) {
      k <- NA_integer_
      nl_callbacks_run(cbs, "on_epoch_begin", epoch)
      acc <- nl_logs_accumulator(plan)
      batches <- nl_epoch_batches(it, n, bs, opts$shuffle, opts$steps_per_epoch)
      n_steps <- length(batches)
      for (k in seq_along(batches)) {
        step <- k - 1L
        if (length(cbs_bb)) nl_callbacks_run(cbs_bb, "on_train_batch_begin", step)
        s <- (batches[[k]] - 1) * bs
        m <- min(bs, n - s)
        if (is.null(it$order)) {
          xb <- nl_batch_range(data$x, s + 1, m)
          yb <- nl_slice_range(data$y, s + 1, m)
          swb <- if (is.null(data$sw)) NULL else data$sw[seq.int(s + 1, length.out = m)]
        } else {
          idx <- it$order[seq.int(s + 1, length.out = m)]
          xb <- nl_batch_rows(data$x, idx)
          yb <- nl_slice_rows(data$y, idx)
          swb <- if (is.null(data$sw)) NULL else data$sw[idx]
        }
        r <- nl_train_step(plan, xb, yb, swb)
        acc$add(r$loss, m, r$metrics)
        if (!is.null(opts$done)) opts$done$steps <- opts$done$steps + 1L
        if (length(cbs_be)) nl_callbacks_run(cbs_be, "on_train_batch_end", step, acc$logs())
        if (isTRUE(mst$stop_training)) break
      }
      k <- NA_integer_
      logs <- acc$logs()
      if (!is.null(val) && nl_should_validate(epoch, opts$validation_freq)) {
        vcount <- val$count
        if (!is.null(opts$validation_steps)) vcount <- min(vcount, opts$validation_steps * val_bs)
        vl <- nl_test_loop(plan, val$x, val$y, val$from, vcount, val_bs,
                           sw = if (is.null(val$sw)) NULL else val$sw[seq_len(vcount)], cbs = cbs)
        names(vl) <- paste0("val_", names(vl))
        logs <- c(logs, vl)
      }
      logs <- nl_callbacks_run(cbs, "on_epoch_end", epoch, logs)
      train_logs <- logs
      if (isTRUE(mst$stop_training)) break
    },
    error = function(e) {
      nl_progress_close(progress)
      nl_fit_failed(e, as.integer(epoch) + 1L, epochs, k, n_steps,
                    nl_history(hcb, opts$verbose, epochs, steps))
    }
  )
  nl_callbacks_run(cbs, "on_train_end", logs = train_logs)
  nl_history(hcb, opts$verbose, epochs, steps)
}

# Keras's Trainer._should_eval: validation_freq is a period, or the 1-based
# epochs to validate after.
nl_should_validate <- function(epoch, freq) {
  if (length(freq) == 1) (epoch + 1) %% freq == 0 else (epoch + 1) %in% freq
}

# Running loss (weighted by batch size, as Keras's loss tracker) and metric
# sums of an epoch or an evaluation; logs() gives the values so far.
nl_logs_accumulator <- function(plan) {
  names_m <- c(vapply(plan$metrics, `[[`, "", "name"),
               vapply(plan$weighted_metrics, `[[`, "", "name"))
  acc <- new.env(parent = emptyenv())
  acc$loss <- 0
  acc$seen <- 0
  acc$msum <- lapply(names_m, function(m) c(sum = 0, n = 0))
  acc$add <- function(loss, m, metrics) {
    acc$loss <- acc$loss + loss * m
    acc$seen <- acc$seen + m
    for (j in seq_along(acc$msum)) acc$msum[[j]] <- acc$msum[[j]] + metrics[[j]]
  }
  acc$logs <- function() {
    out <- list(loss = if (acc$seen > 0) acc$loss / acc$seen else 0)
    for (j in seq_along(names_m)) {
      ms <- acc$msum[[j]]
      out[[names_m[j]]] <- if (ms[["n"]] > 0) ms[["sum"]] / ms[["n"]] else 0
    }
    out
  }
  acc
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
