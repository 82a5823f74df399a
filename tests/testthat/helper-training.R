# Helpers for the training tests (random arrays, finite differences and the
# layer gradient check are in helper-gradients.R).

# Sets every weight of a layer or model to random normal values.
randomize_weights <- function(object, sd = 0.5) {
  set_weights(object, lapply(get_weights(object), function(w) {
    w[] <- rnorm(length(w), sd = sd)
    w
  }))
}

has_families <- function() {
  exists("nl_regularizer_penalty", mode = "function") &&
    exists("nl_constraint_apply", mode = "function") &&
    exists("regularizer_l2", mode = "function")
}
