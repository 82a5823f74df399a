# Inference on an input the caller owns. When an input array was made by
# normlayers itself (a data frame's columns copied into a matrix, a batch
# gathered by predict()) nobody else can see it, so a layer whose output has
# the input's shape can write its output over the input instead of
# allocating a new array. The layers that can do so have a method below; the
# others run their forward pass as usual.
#
# Ownership: every layer's inference output is either a new array or its
# input itself (Dropout, a linear Activation), so an output that is not the
# input is owned by the caller, and one that is the input is owned when the
# input was (nl_owned_after()).

# The inference output of `layer` on `x`, which the caller owns and will not
# read again: x may be overwritten and returned. The layer is built.
nl_layer_infer_owned <- function(layer, x) UseMethod("nl_layer_infer_owned")

#' @export
nl_layer_infer_owned.default <- function(layer, x) {
  nl_layer_forward(layer, x, FALSE)$output
}

#' @export
nl_layer_infer_owned.nl_batch_normalization <- function(layer, x) {
  nl_bn_forward(layer, x, FALSE, overwrite = TRUE)$output
}

#' @export
nl_layer_infer_owned.nl_normalization <- function(layer, x) {
  nl_layer_forward.nl_normalization(layer, x, FALSE, overwrite = TRUE)$output
}

#' @export
nl_layer_infer_owned.nl_layer_normalization <- function(layer, x) {
  st <- nl_state(layer)
  nl_layer_norm_compute(x, st$reduced_axes, st$weights$gamma, st$weights$beta,
                        st$config$epsilon, st$config$rms_scaling, keep_stats = FALSE,
                        out = x)$y
}

#' @export
nl_layer_infer_owned.nl_activation <- function(layer, x) {
  act <- nl_state(layer)$config$activation
  code <- nl_activation_code(act)
  if (!is.na(code) && is.double(x)) return(nl_activation_inplace_cpp(x, code))
  nl_layer_forward(layer, x, FALSE)$output
}

# A sequential model called eagerly: its layers one after the other, each
# checked for its input as nl_layer_forward.nl_sequential() does.
#' @export
nl_layer_infer_owned.nl_sequential <- function(layer, x) {
  owned <- TRUE
  for (l in nl_state(layer)$layers) {
    y <- nl_layer_run(l, x, FALSE, owned = owned)$output
    owned <- nl_owned_after(owned, y, x)
    x <- y
  }
  x
}

# Whether a layer's output `y` on input `x` is owned by the caller, given
# whether x was.
nl_owned_after <- function(owned, y, x) {
  owned || !nl_same_object_cpp(y, x)
}

# The output of a forward plan (nl_forward_plan()) in inference on `x`;
# `owned`: x is the caller's to overwrite. With activity regularizers every
# layer runs its usual forward pass (they record penalties there).
nl_plan_infer <- function(plan, x, owned) {
  if (!owned || is.list(x) || plan$has_activity) return(nl_plan_forward(plan, x, FALSE)$output)
  units <- plan$units
  fwd <- plan$forward
  for (i in seq_along(units)) {
    y <- if (owned) nl_layer_infer_owned(units[[i]], x) else fwd[[i]](units[[i]], x, FALSE)$output
    owned <- nl_owned_after(owned, y, x)
    x <- y
  }
  x
}
