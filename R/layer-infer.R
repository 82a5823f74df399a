# Inference calls, which can reuse memory. When an input array was made by
# normlayers itself (a data frame's columns copied into a matrix, a batch
# gathered by predict(), the output of the previous layer of a model) nobody
# else can see it, so a layer whose output has the input's shape can write
# its output over the input instead of allocating a new array. The layers
# that can do so have a method below; the others run their forward pass.
#
# Ownership: every layer's inference output is either a new array or its
# input itself (Dropout, a linear Activation), so an output that is not the
# input belongs to the caller, and one that is the input belongs to the
# caller when the input did (nl_owned_after()).

# The inference output of a built `layer` on `x`; `owned = TRUE`: x belongs to
# the caller, who will not read it again, and may be overwritten and returned.
nl_layer_infer <- function(layer, x, owned) UseMethod("nl_layer_infer")

#' @export
nl_layer_infer.default <- function(layer, x, owned) {
  nl_layer_forward(layer, x, FALSE)$output
}

#' @export
nl_layer_infer.nl_batch_normalization <- function(layer, x, owned) {
  nl_bn_forward(layer, x, FALSE, overwrite = owned)$output
}

#' @export
nl_layer_infer.nl_normalization <- function(layer, x, owned) {
  nl_layer_forward.nl_normalization(layer, x, FALSE, overwrite = owned)$output
}

#' @export
nl_layer_infer.nl_layer_normalization <- function(layer, x, owned) {
  if (!owned) return(nl_layer_forward(layer, x, FALSE)$output)
  st <- nl_state(layer)
  nl_layer_norm_compute(x, st$reduced_axes, st$weights$gamma, st$weights$beta,
                        st$config$epsilon, st$config$rms_scaling, keep_stats = FALSE,
                        out = x)$y
}

#' @export
nl_layer_infer.nl_activation <- function(layer, x, owned) {
  if (owned && is.double(x)) {
    code <- nl_activation_code(nl_state(layer)$config$activation)
    if (!is.na(code)) return(nl_activation_inplace_cpp(x, code))
  }
  nl_layer_forward(layer, x, FALSE)$output
}

# A sequential model called eagerly: its layers one after the other, each
# checked for its input as nl_layer_forward.nl_sequential() does.
#' @export
nl_layer_infer.nl_sequential <- function(layer, x, owned) {
  for (l in nl_state(layer)$layers) {
    y <- nl_layer_run_infer(l, x, owned)
    owned <- nl_owned_after(owned, y, x)
    x <- y
  }
  x
}

# Whether a layer's output `y` on input `x` belongs to the caller, given
# whether x did.
nl_owned_after <- function(owned, y, x) {
  owned || !nl_same_object_cpp(y, x)
}

# Builds or checks a layer for `x` (an array), then its inference output.
nl_layer_run_infer <- function(layer, x, owned, call = rlang::caller_env()) {
  nl_layer_prepare(layer, dim(x), call = call)
  nl_layer_infer(layer, x, owned)
}

# The output of a forward plan (nl_forward_plan()) in inference on `x`;
# `owned`: x belongs to the caller. With activity regularizers every layer
# runs its usual forward pass (they record penalties there).
nl_plan_infer <- function(plan, x, owned) {
  if (is.list(x) || plan$has_activity) return(nl_plan_forward(plan, x, FALSE)$output)
  units <- plan$units
  infer <- plan$infer
  for (i in seq_along(units)) {
    y <- infer[[i]](units[[i]], x, owned)
    owned <- nl_owned_after(owned, y, x)
    x <- y
  }
  x
}
