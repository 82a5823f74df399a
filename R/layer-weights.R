# A layer's weights: adding them at build time, their Keras order, the
# accessors over a layer (and its sublayers) and the penalties of their
# regularizers. get_weights()/set_weights()/count_params() are in R/weights.R.

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
  st$weights[[name]] <- values
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
  nms <- names(st$weights)
  tr <- vapply(st$weight_info[nms], function(i) isTRUE(i$trainable), logical(1))
  c(nms[tr], nms[!tr])
}

nl_layer_losses <- function(st) {
  out <- list()
  for (nm in names(st$weights)) {
    reg <- st$weight_info[[nm]]$regularizer
    if (!is.null(reg)) out[[nm]] <- nl_regularizer_penalty(reg, st$weights[[nm]])
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
  out <- lapply(slots, function(s) s$st$weights[[s$name]])
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
