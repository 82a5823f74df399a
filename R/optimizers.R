# Optimizers with Keras 3's update rules. An optimizer is a list with its
# class name and configuration, plus an environment `state` holding the
# iteration count and the per-weight slots (keyed "<layer>/<weight>"), so that
# its state carries over between fit() calls like a Keras optimizer's.

# The base-optimizer arguments of keras3 (keras.optimizers.Optimizer):
# weight_decay and the three clipping modes are honoured; EMA, loss scaling and
# gradient accumulation are accepted at their defaults only.
nl_new_optimizer <- function(class_name, config, base, dots, call = rlang::caller_env()) {
  nl_check_dots(dots, call = call)
  opt_num <- function(nm, min = 0) {
    v <- base[[nm]]
    if (is.null(v)) NULL else nl_check_number(v, nm, min = min, call = call)
  }
  honoured <- list(
    weight_decay = opt_num("weight_decay"),
    clipnorm = opt_num("clipnorm"),
    clipvalue = opt_num("clipvalue"),
    global_clipnorm = opt_num("global_clipnorm")
  )
  n_clip <- sum(!vapply(honoured[c("clipnorm", "clipvalue", "global_clipnorm")], is.null, TRUE))
  if (n_clip > 1) {
    nl_abort(c("Only one of {.arg clipnorm}, {.arg clipvalue} and {.arg global_clipnorm} can be set.",
               i = "Keep the one you want and remove the others."), "optimizer", call = call)
  }
  nl_check_optimizer_unsupported(base, class_name, call = call)
  name <- base$name
  nl_check_string(name, "name", call = call)
  state <- new.env(parent = emptyenv())
  state$iterations <- 0L
  state$slots <- list()
  structure(list(class_name = class_name, name = name,
                 config = c(config, honoured), state = state),
            class = c(paste0("nl_optimizer_", tolower(class_name)), "nl_optimizer"))
}

# keras3 arguments that normlayers cannot honour: accepted at their defaults,
# refused otherwise (kind "unsupported").
nl_check_optimizer_unsupported <- function(base, class_name, call = rlang::caller_env()) {
  ema_freq_default <- if (class_name == "RMSprop") 100L else NULL
  bad <- character()
  if (!identical(base$use_ema, FALSE)) bad <- c(bad, "use_ema")
  if (!isTRUE(all.equal(base$ema_momentum, 0.99))) bad <- c(bad, "ema_momentum")
  freq <- base$ema_overwrite_frequency
  if (!(is.null(freq) && is.null(ema_freq_default)) &&
      !(is.numeric(freq) && length(freq) == 1 && !is.null(ema_freq_default) &&
        isTRUE(freq == ema_freq_default))) {
    bad <- c(bad, "ema_overwrite_frequency")
  }
  if (!is.null(base$loss_scale_factor)) bad <- c(bad, "loss_scale_factor")
  if (!is.null(base$gradient_accumulation_steps)) bad <- c(bad, "gradient_accumulation_steps")
  if (length(bad)) {
    nl_abort(c("{.fn optimizer_{tolower(class_name)}} cannot honour {.arg {bad}}.",
               x = "Exponential moving averages, loss scaling and gradient accumulation are not implemented in normlayers; only the defaults are accepted.",
               i = "Remove {.arg {bad}} from the call. {.arg weight_decay}, {.arg clipnorm}, {.arg clipvalue} and {.arg global_clipnorm} are supported."),
             "unsupported", call = call)
  }
  invisible(TRUE)
}

# The current learning rate of an optimizer. Callbacks (learning-rate
# schedules, ReduceLROnPlateau) change it in the optimizer's state, which the
# optimizer shares between copies of the object.
nl_optimizer_lr <- function(opt) {
  opt$state$learning_rate %||% opt$config$learning_rate
}

nl_optimizer_set_lr <- function(opt, value) {
  assign("learning_rate", as.double(value), envir = opt$state)
  invisible(opt)
}

#' Optimizers
#'
#' The optimizers of Keras 3 with keras3's arguments and defaults and Keras's
#' update rules, for [compile()]. Each can also be given to `compile()` by
#' name: `"sgd"`, `"adam"` or `"rmsprop"`. An optimizer keeps its state
#' (iteration count, momentum and velocity slots, current learning rate)
#' between calls to [fit()].
#'
#' With gradient `g`, learning rate `lr` and step `t` (counting from 1), the
#' updates of a weight `w` are:
#' * SGD: `w <- w - lr * g`; with momentum, `m <- momentum * m - lr * g` and
#'   `w <- w + m`, or with Nesterov `w <- w + momentum * m - lr * g`.
#' * Adam: `m <- m + (g - m) * (1 - beta_1)`, `v <- v + (g^2 - v) * (1 - beta_2)`,
#'   `alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)`,
#'   `w <- w - alpha * m / (sqrt(v) + epsilon)` (with `amsgrad`, `v` is replaced
#'   by its running maximum).
#' * RMSprop: `v <- rho * v + (1 - rho) * g^2`; the increment is
#'   `lr * g / sqrt(v + epsilon)` (centered: `lr * g / sqrt(v - a^2 + epsilon)`
#'   with `a <- rho * a + (1 - rho) * g`); with momentum,
#'   `m <- momentum * m + increment` and `w <- w - m`, else `w <- w - increment`.
#'
#' Before the update, as in Keras, gradients are clipped (`clipnorm`,
#' `clipvalue` or `global_clipnorm`) and then weight decay is applied
#' (`w <- w - w * weight_decay * lr`).
#'
#' The current learning rate is `opt$learning_rate`; callbacks such as
#' [callback_learning_rate_scheduler()] and [callback_reduce_lr_on_plateau()]
#' change it during [fit()].
#'
#' @param learning_rate The learning rate, a non-negative number.
#' @param momentum For SGD: accelerates descent in the relevant direction
#'   (0 is plain gradient descent). For RMSprop: plain momentum on the
#'   increments.
#' @param nesterov Whether SGD uses Nesterov momentum.
#' @param beta_1,beta_2 Adam's exponential decay rates of the first and second
#'   moment estimates.
#' @param epsilon A small constant for numerical stability.
#' @param amsgrad Whether to use the AMSGrad variant of Adam.
#' @param rho RMSprop's discounting factor for the squared gradients.
#' @param centered Whether RMSprop normalizes by the estimated variance of the
#'   gradient instead of its second moment.
#' @param weight_decay If set, each step first does
#'   `w <- w - w * weight_decay * lr` on every trained weight.
#' @param clipnorm If set, each gradient is rescaled to have an L2 norm of at
#'   most this value.
#' @param clipvalue If set, each gradient value is clipped to
#'   `[-clipvalue, clipvalue]`.
#' @param global_clipnorm If set, all gradients together are rescaled so that
#'   their global L2 norm is at most this value. At most one of `clipnorm`,
#'   `clipvalue` and `global_clipnorm` can be set.
#' @param use_ema,ema_momentum,ema_overwrite_frequency Exponential moving
#'   averages of the weights are not implemented: only the defaults
#'   (`use_ema = FALSE`) are accepted; other values are an error of class
#'   `normlayers_error_unsupported`.
#' @param name The optimizer's name.
#' @param ... Must be empty (kept for keras3's argument order).
#' @param loss_scale_factor,gradient_accumulation_steps Not implemented: only
#'   `NULL` is accepted (other values are an error of class
#'   `normlayers_error_unsupported`).
#' @returns An optimizer object (class `nl_optimizer`).
#' @export
#' @family training
#' @examples
#' optimizer_sgd(learning_rate = 0.1, momentum = 0.9)
#' optimizer_adam(weight_decay = 1e-4)
#' optimizer_rmsprop(clipnorm = 1)
#'
#' model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
#' compile(model, optimizer = optimizer_adam(learning_rate = 0.01), loss = "mse")
optimizer_sgd <- function(learning_rate = 0.01, momentum = 0, nesterov = FALSE,
                          weight_decay = NULL, clipnorm = NULL, clipvalue = NULL,
                          global_clipnorm = NULL, use_ema = FALSE, ema_momentum = 0.99,
                          ema_overwrite_frequency = NULL, name = "SGD", ...,
                          loss_scale_factor = NULL, gradient_accumulation_steps = NULL) {
  nl_new_optimizer("SGD", list(
    learning_rate = nl_check_number(learning_rate, min = 0),
    momentum = nl_check_number(momentum, "momentum", min = 0),
    nesterov = nl_check_flag(nesterov, "nesterov")
  ), nl_optimizer_base_args(), list(...))
}

#' @rdname optimizer_sgd
#' @export
optimizer_adam <- function(learning_rate = 0.001, beta_1 = 0.9, beta_2 = 0.999,
                           epsilon = 1e-7, amsgrad = FALSE, weight_decay = NULL,
                           clipnorm = NULL, clipvalue = NULL, global_clipnorm = NULL,
                           use_ema = FALSE, ema_momentum = 0.99,
                           ema_overwrite_frequency = NULL, name = "adam", ...,
                           loss_scale_factor = NULL, gradient_accumulation_steps = NULL) {
  nl_new_optimizer("Adam", list(
    learning_rate = nl_check_number(learning_rate, min = 0),
    beta_1 = nl_check_number(beta_1, "beta_1", min = 0, max = 1),
    beta_2 = nl_check_number(beta_2, "beta_2", min = 0, max = 1),
    epsilon = nl_check_number(epsilon, "epsilon", min = 0),
    amsgrad = nl_check_flag(amsgrad, "amsgrad")
  ), nl_optimizer_base_args(), list(...))
}

#' @rdname optimizer_sgd
#' @export
optimizer_rmsprop <- function(learning_rate = 0.001, rho = 0.9, momentum = 0,
                              epsilon = 1e-7, centered = FALSE, weight_decay = NULL,
                              clipnorm = NULL, clipvalue = NULL, global_clipnorm = NULL,
                              use_ema = FALSE, ema_momentum = 0.99,
                              ema_overwrite_frequency = 100L, name = "rmsprop", ...,
                              loss_scale_factor = NULL, gradient_accumulation_steps = NULL) {
  nl_new_optimizer("RMSprop", list(
    learning_rate = nl_check_number(learning_rate, min = 0),
    rho = nl_check_number(rho, "rho", min = 0, max = 1),
    momentum = nl_check_number(momentum, "momentum", min = 0),
    epsilon = nl_check_number(epsilon, "epsilon", min = 0),
    centered = nl_check_flag(centered, "centered")
  ), nl_optimizer_base_args(), list(...))
}

# The base-optimizer arguments of the calling constructor, as a list.
nl_optimizer_base_args <- function(env = parent.frame()) {
  nms <- c("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema",
           "ema_momentum", "ema_overwrite_frequency", "name", "loss_scale_factor",
           "gradient_accumulation_steps")
  out <- lapply(nms, function(nm) get(nm, envir = env, inherits = FALSE))
  names(out) <- nms
  out
}

# Resolves compile()'s `optimizer` argument.
nl_get_optimizer <- function(optimizer, call = rlang::caller_env()) {
  if (inherits(optimizer, "nl_optimizer")) return(optimizer)
  known <- c("sgd", "adam", "rmsprop")
  if (is.character(optimizer) && length(optimizer) == 1 && !is.na(optimizer)) {
    key <- tolower(optimizer)
    if (key %in% known) {
      return(switch(key, sgd = optimizer_sgd(), adam = optimizer_adam(),
                    rmsprop = optimizer_rmsprop()))
    }
    nl_abort(c("Unknown optimizer {.val {optimizer}}.",
               i = "Use one of {.val {known}} or an {.fn optimizer_*} object."),
             "optimizer", call = call)
  }
  nl_abort(c("{.arg optimizer} must be an optimizer name or an {.fn optimizer_*} object.",
             x = "You supplied {nl_describe(optimizer)}.",
             i = "Use one of {.val {known}}, or e.g. {.code optimizer_adam()}."),
           "optimizer", call = call)
}

#' @export
print.nl_optimizer <- function(x, ...) {
  cfg <- x$config
  cfg <- cfg[!vapply(cfg, is.null, TRUE)]
  vals <- vapply(cfg, function(v) format(v), "")
  cat(sprintf("<%s name=%s>\n", x$class_name, x$name))
  cat(paste0("  ", paste0(names(vals), ": ", vals, collapse = ", ")), "\n", sep = "")
  cat(sprintf("  iterations: %d\n", x$state$iterations))
  invisible(x)
}

#' @export
`$.nl_optimizer` <- function(x, name) {
  base <- unclass(x)
  if (name %in% c("class_name", "name", "config", "state")) return(base[[name]])
  if (name == "iterations") return(base$state$iterations)
  if (name == "learning_rate") return(nl_optimizer_lr(x))
  base$config[[name]]
}

#' @export
`$<-.nl_optimizer` <- function(x, name, value) {
  if (identical(name, "learning_rate")) {
    nl_optimizer_set_lr(x, nl_check_number(value, "learning_rate", min = 0))
    return(x)
  }
  nl_abort(c("Cannot set {.field {name}} on an optimizer.",
             i = "Only {.field learning_rate} can be changed; create a new optimizer for other settings."),
           "state")
}

# ---- applying gradients ------------------------------------------------------

nl_optimizer_snapshot <- function(opt) as.list(.subset2(opt, "state"), all.names = TRUE)

nl_optimizer_restore <- function(opt, snap) {
  for (nm in names(snap)) assign(nm, snap[[nm]], envir = .subset2(opt, "state"))
  invisible(NULL)
}

nl_clip_gradients <- function(cfg, grads) {
  if (!is.null(cfg$clipnorm)) {
    grads <- lapply(grads, function(g) {
      n <- sqrt(sum(g^2))
      if (n > cfg$clipnorm) g * cfg$clipnorm / n else g
    })
  } else if (!is.null(cfg$global_clipnorm)) {
    n <- sqrt(sum(vapply(grads, function(g) sum(g^2), 1)))
    if (n > cfg$global_clipnorm) grads <- lapply(grads, function(g) g * cfg$global_clipnorm / n)
  } else if (!is.null(cfg$clipvalue)) {
    v <- cfg$clipvalue
    grads <- lapply(grads, function(g) pmin(pmax(g, -v), v))
  }
  grads
}

# Applies one step: `weights` and `grads` are named lists with the same keys.
# Returns the new weights; the optimizer's state is updated.
nl_optimizer_apply <- function(opt, weights, grads) {
  cfg <- .subset2(opt, "config")
  st <- .subset2(opt, "state")
  keys <- names(weights)
  if (!is.null(names(grads)) && !identical(names(grads), keys)) grads <- grads[keys]
  grads <- nl_clip_gradients(cfg, grads)
  t <- st$iterations + 1L
  # the current rate (callbacks change it in the state): nl_optimizer_lr()
  lr <- st$learning_rate %||% cfg$learning_rate
  if (!is.null(cfg$weight_decay)) {
    weights <- lapply(weights, function(w) w - w * cfg$weight_decay * lr)
  }
  slots <- st$slots
  res <- nl_update_all(opt, weights, grads, slots[keys], lr, t)
  slots[keys] <- res$slots
  if (any(empty <- vapply(slots, is.null, TRUE))) slots <- slots[!empty]
  st$slots <- slots
  st$iterations <- t
  out <- res$weights
  names(out) <- keys
  out
}

# Updates every weight of a step: `weights`, `grads` and `slots` are parallel
# lists (a slot is NULL before the first update). Returns list(weights,
# slots). The default runs nl_update_step() per weight; Adam does all in one
# C++ call.
nl_update_all <- function(opt, weights, grads, slots, lr, t) UseMethod("nl_update_all")

#' @export
nl_update_all.default <- function(opt, weights, grads, slots, lr, t) {
  new_w <- weights
  new_s <- vector("list", length(weights))
  for (i in seq_along(weights)) {
    res <- nl_update_step(opt, weights[[i]], grads[[i]], slots[[i]], lr, t)
    new_w[[i]] <- res$w
    if (!is.null(res$slot)) new_s[[i]] <- res$slot
  }
  list(weights = new_w, slots = new_s)
}

#' @export
nl_update_all.nl_optimizer_adam <- function(opt, weights, grads, slots, lr, t) {
  cfg <- .subset2(opt, "config")
  alpha <- lr * sqrt(1 - cfg$beta_2^t) / (1 - cfg$beta_1^t)
  nl_adam_update_all_cpp(weights, grads, slots, alpha, cfg$beta_1, cfg$beta_2, cfg$epsilon,
                         cfg$amsgrad)
}

nl_update_step <- function(opt, w, g, slot, lr, t) UseMethod("nl_update_step")

# The updates run in one pass in C++ (src/optimizers.cpp) with the same
# arithmetic as the formulas documented in optimizer_sgd().
nl_as_double <- function(x) {
  if (!is.double(x)) storage.mode(x) <- "double"
  x
}

#' @export
nl_update_step.nl_optimizer_sgd <- function(opt, w, g, slot, lr, t) {
  cfg <- .subset2(opt, "config")
  w <- nl_as_double(w)
  g <- nl_as_double(g)
  if (cfg$momentum == 0) return(list(w = w - g * lr, slot = NULL))
  res <- nl_sgd_update_cpp(w, g, slot$m, lr, cfg$momentum, cfg$nesterov)
  list(w = res$w, slot = list(m = res$m))
}

#' @export
nl_update_step.nl_optimizer_adam <- function(opt, w, g, slot, lr, t) {
  cfg <- .subset2(opt, "config")
  alpha <- lr * sqrt(1 - cfg$beta_2^t) / (1 - cfg$beta_1^t)
  res <- nl_adam_update_cpp(nl_as_double(w), nl_as_double(g), slot$m, slot$v, slot$vhat,
                            alpha, cfg$beta_1, cfg$beta_2, cfg$epsilon, cfg$amsgrad)
  new_slot <- list(m = res$m, v = res$v)
  if (cfg$amsgrad) new_slot$vhat <- res$vhat
  list(w = res$w, slot = new_slot)
}

#' @export
nl_update_step.nl_optimizer_rmsprop <- function(opt, w, g, slot, lr, t) {
  cfg <- .subset2(opt, "config")
  res <- nl_rmsprop_update_cpp(nl_as_double(w), nl_as_double(g), slot$v, slot$a, slot$m, lr,
                               cfg$rho, cfg$momentum, cfg$epsilon, cfg$centered)
  new_slot <- list(v = res$v)
  if (cfg$centered) new_slot$a <- res$a
  if (cfg$momentum > 0) new_slot$m <- res$m
  list(w = res$w, slot = new_slot)
}
