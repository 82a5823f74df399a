# The layer object. A layer is a function `function(object, ..., training = NULL)`
# whose closure environment holds its mutable state (weights, config, build
# status). Per-type behaviour is S3 on the layer's first class.

nl_new_layer <- function(type, config, name = NULL, trainable = TRUE,
                         classes = character(), call = rlang::caller_env(),
                         class_name = nl_spec_of_type(type)$class_name) {
  # keras3's base-layer arguments validated by nl_check_dots(layer = TRUE) in
  # the same constructor frame (see there)
  base <- if (is.environment(call)) get0(".nl_base_args", envir = call, inherits = FALSE)
  if (!is.null(base)) {
    rm(".nl_base_args", envir = call)
    if (is.null(name)) name <- base$name
    if (!is.null(base$trainable)) trainable <- base$trainable
  }
  name <- nl_check_name(name, type, call = call)
  trainable <- nl_check_flag(trainable, "trainable", call = call)
  st <- new.env(parent = asNamespace("normlayers"))
  st$type <- type
  st$class_name <- class_name
  st$name <- name
  st$trainable <- trainable
  st$built <- FALSE
  st$config <- config
  nl_weights_replace(st, list())
  st$weight_info <- list()
  st$input_shape <- NULL
  st$input_spec <- NULL
  st$base_build_shape <- base$build_shape
  st$pending_weights <- base$weights
  f <- function(object, ..., training = NULL) {
    nl_layer_invoke(.self, object, ..., training = training)
  }
  environment(f) <- st
  class(f) <- c(paste0("nl_", type), classes, "nl_layer", "function")
  st$.self <- f
  f
}

nl_state <- function(layer) environment(unclass(layer))

nl_is_layer <- function(x) inherits(x, "nl_layer")

# Layers that take a list of inputs (merge layers); models are handled apart.
nl_is_multi_input <- function(layer) {
  !inherits(layer, "nl_model") && isTRUE(nl_state(layer)$multi_input)
}

# keras3's common base-layer arguments, accepted through `...` by every layer
# constructor (nl_check_dots(layer = TRUE), R/checks.R).
nl_base_layer_args <- c("input_shape", "batch_input_shape", "batch_size", "input_dim",
                        "dtype", "input_dtype", "name", "trainable", "weights", "autocast")

# Validates keras3's base-layer arguments; returns list(name, trainable, dtype,
# build_shape = full input shape with the batch axis or NULL, weights).
nl_check_base_args <- function(args, call = rlang::caller_env()) {
  out <- list(name = args$name)
  if (!is.null(args$trainable)) out$trainable <- nl_check_flag(args$trainable, "trainable", call = call)
  if (!is.null(args$autocast)) nl_check_flag(args$autocast, "autocast", call = call)
  for (a in c("dtype", "input_dtype")) {
    if (!is.null(args[[a]])) out$dtype <- nl_check_layer_dtype(args[[a]], a, call = call)
  }
  bs <- NA_integer_
  if (!is.null(args$batch_size)) {
    bs <- as.integer(nl_check_count(args$batch_size, "batch_size", min = 1, call = call))
  }
  given <- intersect(c("input_shape", "input_dim", "batch_input_shape"), names(args))
  if (length(given) > 1) {
    nl_abort(c("Give only one of {.arg input_shape}, {.arg input_dim} and {.arg batch_input_shape}.",
               x = "You supplied {.arg {given}}."), "argument", call = call)
  }
  if (length(given) == 1) {
    d <- nl_as_dims(args[[given]], given, call = call)
    if (given == "input_dim" && length(d) != 1) {
      nl_abort(c("{.arg input_dim} must be a single whole number.",
                 x = "You supplied {nl_describe(args$input_dim)}."), "shape", call = call)
    }
    if (length(d) == 0 || any(!is.na(d) & d < 1)) {
      nl_abort(c("{.arg {given}} must be a shape of positive sizes.",
                 x = "You supplied {format(shape(d))}."), "shape", call = call)
    }
    out$build_shape <- if (given == "batch_input_shape") d else c(bs, d)
  }
  if (!is.null(args$weights)) {
    w <- args$weights
    if (!is.list(w) || is.data.frame(w) ||
        !all(vapply(w, function(v) is.numeric(v) || is.logical(v), TRUE))) {
      nl_abort(c("{.arg weights} must be a list of numeric arrays, as returned by {.fn get_weights}.",
                 x = "You supplied {nl_describe(w)}."), "weights", call = call)
    }
    out$weights <- w
  }
  out
}

# Applied by nl_compose() once a constructor has finished configuring the
# layer: builds it for a base-layer `input_shape` (marking it so that a
# sequential model takes that shape as its input) and sets `weights`.
nl_apply_base_args <- function(layer, call = rlang::caller_env()) {
  st <- nl_state(layer)
  shape <- st$base_build_shape
  if (is.null(shape) && is.null(st$pending_weights)) return(invisible(layer))
  st$base_build_shape <- NULL
  if (!is.null(shape)) {
    if (!st$built) {
      nl_warn(c("Do not pass an {.arg input_shape} argument to a layer.",
                i = "Prefer {.code keras_model_sequential(input_shape = )} or {.fn keras_input} for the first layer.",
                i = "The layer is built for that input shape now."), "deprecated")
      nl_with_rollback(list(layer), nl_layer_prepare(layer, shape, call = call))
    }
    st$declared_input <- TRUE
  } else if (st$built) {
    nl_with_rollback(list(layer), nl_apply_pending_weights(layer))
  }
  invisible(layer)
}

# ---- S3 hooks with defaults --------------------------------------------------

nl_layer_build <- function(layer, input_shape) UseMethod("nl_layer_build")
#' @export
nl_layer_build.default <- function(layer, input_shape) invisible(layer)

nl_layer_forward <- function(layer, x, training) UseMethod("nl_layer_forward")

# Forward pass with a mask (eager calls on arrays only). Layers that do not use
# a mask ignore it, as Keras layers that support masking pass it through.
nl_layer_forward_masked <- function(layer, x, training, mask) {
  UseMethod("nl_layer_forward_masked")
}
#' @export
nl_layer_forward_masked.default <- function(layer, x, training, mask) {
  nl_layer_forward(layer, x, training)
}

nl_layer_backward <- function(layer, cache, dy) UseMethod("nl_layer_backward")
#' @export
nl_layer_backward.default <- function(layer, cache, dy) {
  nl_abort("Layer {.val {layer$name}} has no backward pass.", "state")
}

nl_layer_output_shape <- function(layer, input_shape) UseMethod("nl_layer_output_shape")
#' @export
nl_layer_output_shape.default <- function(layer, input_shape) input_shape

# All layers whose state a call can touch (the layer itself, or a model's layers).
nl_all_layers <- function(layer) {
  if (inherits(layer, "nl_model")) return(c(list(layer), nl_model_flat_layers(layer)))
  out <- list(layer)
  for (s in nl_layer_sublayers(layer)) out <- c(out, nl_all_layers(s))
  out
}

# Layers owned by a layer (a wrapper's wrapped layer); their weights follow the
# layer's own, as Keras lists a layer's weights before its sublayers'.
nl_layer_sublayers <- function(layer) UseMethod("nl_layer_sublayers")
#' @export
nl_layer_sublayers.default <- function(layer) list()

# ---- printing ----------------------------------------------------------------

#' @export
format.nl_layer <- function(x, ...) {
  st <- nl_state(x)
  head <- sprintf("<%s name=%s, built=%s>", st$class_name, st$name, if (st$built) "TRUE" else "FALSE")
  args <- nl_layer_print_args(x)
  lines <- head
  if (length(args)) {
    vals <- vapply(args, nl_format_value, character(1))
    lines <- c(lines, paste0("  ", paste0(names(args), ": ", vals, collapse = ", ")))
  }
  if (st$built) {
    ws <- vapply(nl_weight_order(st), function(nm) {
      sprintf("%s %s", nm, nl_format_shape(st$weight_info[[nm]]$shape))
    }, character(1))
    if (length(ws)) lines <- c(lines, paste0("  weights: ", paste(ws, collapse = ", ")))
  }
  lines
}

#' @export
print.nl_layer <- function(x, ...) {
  cat(format(x, ...), sep = "\n")
  invisible(x)
}

nl_format_value <- function(v) {
  if (is.null(v)) return("NULL")
  if (inherits(v, c("nl_initializer", "nl_regularizer", "nl_constraint"))) {
    return(nl_family_label(v))
  }
  if (is.function(v)) return("<function>")
  if (is.list(v)) return(paste0("list(", paste(names(v), vapply(v, nl_format_value, ""), sep = "=", collapse = ", "), ")"))
  if (is.character(v)) return(paste0('"', v, '"', collapse = ", "))
  if (length(v) > 1) return(paste0("c(", paste(format(v), collapse = ", "), ")"))
  format(v)
}

nl_family_label <- function(v) {
  cfg <- nl_serialize(v)
  cfg$class_name
}
