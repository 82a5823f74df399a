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

# Inference on a data frame `df` for layers that read its columns directly,
# without the matrix copy nl_as_input() makes: a Dense layer with a C++
# activation reads the columns in blocks of rows and writes only its output
# (a data frame when it has one column per input column, as
# nl_restore_output() gives, otherwise a matrix). NULL for every other layer
# and for data frames with matrix columns: those take the usual route, which
# also reports bad columns.
nl_layer_infer_frame <- function(layer, df, call = rlang::caller_env()) {
  if (!inherits(layer, "nl_dense")) return(NULL)
  st <- nl_state(layer)
  code <- nl_activation_code(st$config$activation)
  n <- .row_names_info(df, 2L)
  plain <- vapply(df, function(col) {
    nl_numeric_column(col) && is.null(dim(col)) && length(col) == n
  }, logical(1))
  if (is.na(code) || !all(plain)) return(NULL)
  p <- length(df)
  nl_with_rollback(list(layer), {
    nl_layer_prepare(layer, c(n, p), call = call)
    w <- nl_weights_all(st)
    nms <- if (st$config$units == p) names(df) else NULL
    nl_dense_forward_frame_cpp(df, n, w$kernel, w$bias, code, nms, .row_names_info(df, 0L),
                               nl_size_threads(n * st$config$units))
  })
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
