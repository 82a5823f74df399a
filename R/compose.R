# The `object` argument of every layer_*() constructor: missing/NULL gives the
# layer; a Sequential model gets it appended (model returned invisibly); a
# symbolic tensor gives a symbolic output; an R array, vector or data frame
# gives the output in the same container.

nl_compose <- function(object, layer, call = rlang::caller_env()) {
  nl_with_call(call, nl_apply_base_args(layer, call = call))
  if (is.null(object)) return(layer)
  nl_with_call(call, nl_compose_impl(object, layer, call))
}

nl_compose_impl <- function(object, layer, call) {
  if (inherits(object, "nl_sequential")) {
    nl_sequential_add(object, layer, call = call)
    return(invisible(object))
  }
  nl_layer_invoke(layer, object, call = call)
}
