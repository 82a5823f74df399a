# Reading and writing weights: get_weights(), set_weights(), count_params().

nl_check_layer_arg <- function(object, call = rlang::caller_env()) {
  if (!nl_is_layer(object)) {
    nl_abort(c("{.arg object} must be a layer or a model.",
               x = "You supplied {nl_describe(object)}."), "type", call = call)
  }
}

# (state, weight name) pairs of a layer or model in Keras order.
nl_weight_slots <- function(object, trainable = NA) {
  slots <- list()
  for (l in nl_leaf_layers(object)) {
    st <- nl_state(l)
    for (nm in nl_weight_order(st)) {
      is_tr <- isTRUE(st$weight_info[[nm]]$trainable) && isTRUE(st$trainable)
      if (is.na(trainable) || identical(is_tr, trainable)) {
        slots[[length(slots) + 1]] <- list(st = st, name = nm, layer = st$name)
      }
    }
  }
  slots
}

#' Get and set the weights of a layer or model
#'
#' `get_weights()` returns the weights as a list of R vectors and arrays, in
#' Keras order (for each layer, trainable weights first: `gamma`, `beta`, then
#' for batch normalization `moving_mean`, `moving_variance`). `set_weights()`
#' replaces them from a list of the same shapes; if any shape is wrong, any
#' value is missing (`NA`/`NaN`) or a variance (such as `moving_variance`) is
#' negative, nothing is changed. `count_params()` counts the scalars in all weights.
#'
#' @param object A layer or model.
#' @param trainable `NA` for all weights, `TRUE` for trainable weights only,
#'   `FALSE` for non-trainable weights only.
#' @param weights A list of numeric vectors/arrays, as returned by
#'   `get_weights()`.
#' @returns `get_weights()`: a list. `set_weights()`: `object`, invisibly.
#'   `count_params()`: a whole number.
#' @export
#' @family weights
#' @examples
#' norm <- layer_layer_normalization()
#' y <- norm(matrix(1:6, 2))
#' w <- get_weights(norm)
#' w
#' w[[1]] <- c(1, 2, 3)
#' set_weights(norm, w)
#' norm$gamma
#' count_params(norm)
get_weights <- function(object, trainable = NA) {
  nl_check_layer_arg(object)
  nl_check_flag(trainable, na_ok = TRUE)
  nl_weight_get_slots(nl_weight_slots(object, trainable))
}

#' @rdname get_weights
#' @export
set_weights <- function(object, weights) {
  nl_check_layer_arg(object)
  slots <- nl_weight_slots(object)
  if (!is.list(weights) || is.data.frame(weights)) {
    nl_abort(c("{.arg weights} must be a list of numeric arrays.",
               x = "You supplied {nl_describe(weights)}."), "weights")
  }
  if (length(weights) != length(slots)) {
    nl_abort(c("{.arg weights} must have {length(slots)} element{?s}, one per weight of {.val {object$name}}.",
               x = "You supplied {length(weights)} element{?s}.",
               i = "Use {.code get_weights(object)} to see the expected list."), "weights")
  }
  new <- vector("list", length(slots))
  for (i in seq_along(slots)) {
    s <- slots[[i]]
    old <- nl_weight_get(s$st, s$name)
    w <- weights[[i]]
    exp_shape <- s$st$weight_info[[s$name]]$shape
    got <- if (is.null(dim(w))) length(w) else dim(w)
    ok <- (is.numeric(w) || is.logical(w)) &&
      (identical(as.integer(got), as.integer(exp_shape)) ||
         (length(exp_shape) <= 1 && length(w) == prod(exp_shape) && length(got) <= 1))
    if (!ok) {
      nl_abort(c("Weight {i} ({.val {s$layer}}/{.val {s$name}}) must have shape {nl_format_shape(exp_shape)}.",
                 x = "You supplied {nl_describe(w)}.",
                 i = "Nothing was changed."), "weights")
    }
    if (anyNA(w)) {
      nl_abort(c("Weight {i} ({.val {s$layer}}/{.val {s$name}}) must not contain missing values.",
                 x = "You supplied {nl_describe(w)} with {sum(is.na(w))} {.code NA} or {.code NaN} value{?s}.",
                 i = "Nothing was changed."), "weights")
    }
    if (nl_is_spread_weight(s$name) && any(w < 0)) {
      nl_abort(c("Weight {i} ({.val {s$layer}}/{.val {s$name}}) must be non-negative.",
                 x = "You supplied {sum(w < 0)} negative value{?s} (the smallest is {format(min(w))}).",
                 i = "A variance or standard deviation cannot be negative. Nothing was changed."),
               "weights")
    }
    new[[i]] <- nl_shape_value(as.double(w), exp_shape)
  }
  nl_weight_set_slots(slots, new)
  invisible(object)
}

# Weights that hold a variance or a standard deviation (moving statistics,
# adapted statistics): they cannot be negative.
nl_is_spread_weight <- function(name) {
  name %in% c("variance", "moving_variance", "moving_stddev", "renorm_stddev")
}

#' @rdname get_weights
#' @export
count_params <- function(object) {
  nl_check_layer_arg(object)
  st <- nl_state(object)
  if (!inherits(object, "nl_model") && !st$built) {
    nl_abort(c("Layer {.val {st$name}} is not built yet, so it has no weights to count.",
               i = "Call it on data (or add it to a model with an input shape) first."),
             "not_built")
  }
  as.integer(sum(lengths(get_weights(object))))
}
