# A layer's weights: the accessors of its state's `weights`, adding them at
# build time, their Keras order, the accessors over a layer (and its
# sublayers) and the penalties of their regularizers.
# get_weights()/set_weights()/count_params() are in R/weights.R.

# ---- the state's weights -----------------------------------------------------

# A layer's weights are its state's `weights`: a named list of doubles (a plain
# vector for a 1-D shape, else an array of the weight's shape), in the order
# they were added. They are read and written only through these accessors;
# `st` is a layer's state (nl_state(layer)) or the layer itself. A write
# replaces the list (copy-on-write: the values are shared, never changed in
# place), so a list taken earlier (a rollback or training-step snapshot) stays
# as it was. Forward passes and every training step call them: keep them
# trivial.
nl_weight_get <- function(st, name) {
  if (is.function(st)) st <- nl_state(st)
  st$weights[[name]]
}

# Stores `value` as it is: callers give it the weight's form (nl_shape_value()).
nl_weight_set <- function(st, name, value) {
  if (is.function(st)) st <- nl_state(st)
  st$weights[[name]] <- value
  invisible(value)
}

# The weights of several slots (`list(st =, name =)` each, as
# nl_weight_slots() and the training plan make them) read or written in one
# call: set_weights() and the training step, which would otherwise pay a
# function call per weight.
nl_weight_get_slots <- function(slots) {
  out <- vector("list", length(slots))
  for (i in seq_along(slots)) {
    s <- slots[[i]]
    st <- s$st
    out[[i]] <- st$weights[[s$name]]
  }
  out
}

nl_weight_set_slots <- function(slots, values) {
  for (i in seq_along(slots)) {
    s <- slots[[i]]
    st <- s$st
    st$weights[[s$name]] <- values[[i]]
  }
  invisible(NULL)
}

# All of a layer's weights, as the named list.
nl_weights_all <- function(st) {
  if (is.function(st)) st <- nl_state(st)
  st$weights
}

# Replaces all of a layer's weights: a new layer's empty list, or a snapshot
# taken with nl_weights_all() restored.
nl_weights_replace <- function(st, weights) {
  if (is.function(st)) st <- nl_state(st)
  st$weights <- weights
  invisible(weights)
}

# ---- adding weights ----------------------------------------------------------

nl_apply_pending_weights <- function(layer) {
  st <- nl_state(layer)
  w <- st$pending_weights
  if (is.null(w)) return(invisible(layer))
  st$pending_weights <- NULL
  set_weights(layer, w)
  invisible(layer)
}

nl_add_weight <- function(layer, name, shape, initializer, regularizer = NULL,
                          constraint = NULL, trainable = TRUE) {
  st <- nl_state(layer)
  values <- nl_initialize(initializer, shape)
  values <- nl_shape_value(as.double(values), shape)
  nl_weight_set(st, name, values)
  st$weight_info[[name]] <- list(trainable = trainable, regularizer = regularizer,
                                 constraint = constraint, shape = shape)
  invisible(values)
}

# A weight of a 1-D shape is a plain vector; otherwise an array.
nl_shape_value <- function(values, shape) {
  if (length(shape) <= 1) {
    dim(values) <- NULL
  } else {
    dim(values) <- shape
  }
  values
}

# Names of a layer's own weights in Keras order: trainable first.
nl_weight_order <- function(st) {
  nms <- names(nl_weights_all(st))
  tr <- vapply(st$weight_info[nms], function(i) isTRUE(i$trainable), logical(1))
  c(nms[tr], nms[!tr])
}

nl_layer_losses <- function(st) {
  out <- list()
  for (nm in names(nl_weights_all(st))) {
    reg <- st$weight_info[[nm]]$regularizer
    if (!is.null(reg)) out[[nm]] <- nl_regularizer_penalty(reg, nl_weight_get(st, nm))
  }
  out
}

# The non-model layers inside a layer or model (nested models expanded).
nl_leaf_layers <- function(layer) {
  Filter(function(l) !inherits(l, "nl_model"), nl_all_layers(layer))
}

# The weights themselves, named "<layer>/<weight>", in Keras order.
nl_layer_weights <- function(layer, trainable = NA) {
  slots <- nl_weight_slots(layer, trainable)
  out <- nl_weight_get_slots(slots)
  names(out) <- vapply(slots, function(s) paste0(s$layer, "/", s$name), "")
  out
}

nl_losses <- function(layer) {
  layers <- nl_leaf_layers(layer)
  out <- list()
  for (l in layers) {
    st <- nl_state(l)
    pen <- nl_layer_losses(st)
    if (length(pen)) out[paste0(st$name, "/", names(pen))] <- pen
  }
  out
}
