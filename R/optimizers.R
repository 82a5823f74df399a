# Optimizers with Keras 3's update rules. An optimizer is a list with its
# class name and configuration, plus an environment `state` holding the
# iteration count and the per-weight slots (keyed "<layer>/<weight>"), so that
# its state carries over between fit() calls like a Keras optimizer's.

nl_new_optimizer <- function(class_name, config, dots, call = rlang::caller_env()) {
  nl_check_dots(dots, c("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "name",
                        "use_ema", "ema_momentum", "ema_overwrite_frequency",
                        "loss_scale_factor", "gradient_accumulation_steps"), call = call)
  opt_num <- function(nm, min = 0) {
    v <- dots[[nm]]
    if (is.null(v)) NULL else nl_check_number(v, nm, min = min, call = call)
  }
  base <- list(
    weight_decay = opt_num("weight_decay"),
    clipnorm = opt_num("clipnorm"),
    clipvalue = opt_num("clipvalue"),
    global_clipnorm = opt_num("global_clipnorm")
  )
  n_clip <- sum(!vapply(base[c("clipnorm", "clipvalue", "global_clipnorm")], is.null, TRUE))
  if (n_clip > 1) {
    nl_abort(c("Only one of {.arg clipnorm}, {.arg clipvalue} and {.arg global_clipnorm} can be set.",
               i = "Keep the one you want and remove the others."), "optimizer", call = call)
  }
  if (isTRUE(dots$use_ema) || !is.null(dots$gradient_accumulation_steps) ||
      !is.null(dots$loss_scale_factor)) {
    nl_abort(c("{.arg use_ema}, {.arg loss_scale_factor} and {.arg gradient_accumulation_steps} are not supported.",
               i = "Leave them at their defaults."), "optimizer", call = call)
  }
  state <- new.env(parent = emptyenv())
  state$iterations <- 0L
  state$slots <- list()
  structure(list(class_name = class_name,
                 name = dots$name %||% c(SGD = "SGD", Adam = "adam", RMSprop = "rmsprop")[[class_name]],
                 config = c(config, base), state = state),
            class = c(paste0("nl_optimizer_", tolower(class_name)), "nl_optimizer"))
}

nl_check_lr <- function(learning_rate, call = rlang::caller_env()) {
  nl_check_number(learning_rate, "learning_rate", min = 0, call = call)
}

#' Optimizers
#'
#' The optimizers of Keras 3 with Keras's defaults and update rules, for
#' [compile()]. Each can also be given to `compile()` by name: `"sgd"`,
#' `"adam"` or `"rmsprop"`. An optimizer keeps its state (iteration count,
#' momentum and velocity slots) between calls to [fit()].
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
#' @param ... Named base-optimizer arguments of Keras: `weight_decay` (each step
#'   first does `w <- w - w * weight_decay * lr`), `clipnorm` (clip each
#'   gradient to this L2 norm), `clipvalue` (clip each gradient value to
#'   `[-clipvalue, clipvalue]`), `global_clipnorm` (clip all gradients together
#'   to this global norm; at most one of the three) and `name`.
#' @returns An optimizer object (class `nl_optimizer`).
#' @export
#' @family training
#' @examples
#' optimizer_sgd(learning_rate = 0.1, momentum = 0.9)
#' optimizer_adam()
#' optimizer_rmsprop(clipnorm = 1)
#'
#' model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
#' compile(model, optimizer = optimizer_adam(learning_rate = 0.01), loss = "mse")
optimizer_sgd <- function(learning_rate = 0.01, momentum = 0, nesterov = FALSE, ...) {
  nl_new_optimizer("SGD", list(
    learning_rate = nl_check_lr(learning_rate),
    momentum = nl_check_number(momentum, "momentum", min = 0),
    nesterov = nl_check_flag(nesterov, "nesterov")
  ), list(...))
}

#' @rdname optimizer_sgd
#' @export
optimizer_adam <- function(learning_rate = 0.001, beta_1 = 0.9, beta_2 = 0.999,
                           epsilon = 1e-7, amsgrad = FALSE, ...) {
  nl_new_optimizer("Adam", list(
    learning_rate = nl_check_lr(learning_rate),
    beta_1 = nl_check_number(beta_1, "beta_1", min = 0, max = 1),
    beta_2 = nl_check_number(beta_2, "beta_2", min = 0, max = 1),
    epsilon = nl_check_number(epsilon, "epsilon", min = 0),
    amsgrad = nl_check_flag(amsgrad, "amsgrad")
  ), list(...))
}

#' @rdname optimizer_sgd
#' @export
optimizer_rmsprop <- function(learning_rate = 0.001, rho = 0.9, momentum = 0,
                              epsilon = 1e-7, centered = FALSE, ...) {
  nl_new_optimizer("RMSprop", list(
    learning_rate = nl_check_lr(learning_rate),
    rho = nl_check_number(rho, "rho", min = 0, max = 1),
    momentum = nl_check_number(momentum, "momentum", min = 0),
    epsilon = nl_check_number(epsilon, "epsilon", min = 0),
    centered = nl_check_flag(centered, "centered")
  ), list(...))
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
  base$config[[name]]
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
  lr <- cfg$learning_rate
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
