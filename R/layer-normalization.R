nl_spec_normalization <- list(
  type = "normalization", class_name = "Normalization", constructor = "layer_normalization",
  config_keys = c("axis", "invert", "mean", "variance"),
  # the given statistics (NULL for a layer to adapt); the kept axes once built
  config = function(st, cfg) {
    if (isTRUE(st$built) && !is.null(cfg$axis)) cfg$axis <- st$kept_axes
    cfg["mean"] <- list(st$given_mean)
    cfg["variance"] <- list(st$given_variance)
    cfg
  },
  print = function(st) {
    out <- st$config[c("axis", "invert")]
    if (nl_norm_is_fixed(st)) {
      out$mean <- st$given_mean
      out$variance <- st$given_variance
    }
    out
  },
  # Keras writes the axes as a list and the statistics as nested lists
  keras = list(
    read = function(args, cfg) {
      args["mean"] <- list(nl_keras_array_in(cfg$mean))
      args["variance"] <- list(nl_keras_array_in(cfg$variance))
      args
    },
    write = function(own, cfg) {
      own["axis"] <- list(if (!is.null(cfg$axis)) nl_keras_axis_out(cfg$axis, as_list = TRUE))
      own["mean"] <- list(nl_keras_array_out(cfg$mean))
      own["variance"] <- list(nl_keras_array_out(cfg$variance))
      own
    }
  )
)

#' A preprocessing layer that normalizes continuous features
#'
#' Shifts and scales inputs into a distribution centered around 0 with
#' standard deviation 1: the layer holds a mean and a variance and computes
#' `(x - mean) / max(sqrt(variance), 1e-7)`. The mean and variance are either
#' given when the layer is created, or learned from data with [adapt()], which
#' must then be called before the layer is used (an unadapted layer has mean 0
#' and variance 1, so it returns its input unchanged).
#'
#' Not to be confused with [layer_layer_normalization()], which normalizes
#' each sample by its own statistics and has trainable weights.
#'
#' @param object What to compose the new layer with. If `object` is
#'   * missing or `NULL`, the layer is returned;
#'   * a sequential model, the layer is appended to it (in place) and the model
#'     is returned invisibly;
#'   * a symbolic tensor (from [keras_input()] or another layer), the symbolic
#'     output of the layer is returned;
#'   * an R array, vector or data frame, the layer is built from its shape and
#'     applied, and the output is returned.
#' @param axis The axis or axes that are **kept**: each index along them gets
#'   its own mean and variance, and the statistics are reduced over every other
#'   axis (the batch axis included). Positive values are 1-based, negative
#'   values count from the end (`-1`, the default, is the last axis, typically
#'   the features). `NULL` gives one scalar mean and variance for all values.
#'   On a 1-D input (a batch of scalars) the only axis is the batch axis, so
#'   the default keeps it and computes one statistic per position: use
#'   `axis = NULL` there.
#' @param mean,variance Optional fixed statistics, given together: a number or
#'   an array broadcast to the shape of the kept axes, aligned from the right
#'   (the last dimension of `mean` goes with the last kept axis). A layer with
#'   fixed statistics has no weights and cannot be adapted.
#' @param invert If `TRUE`, apply the inverse transformation,
#'   `mean + x * max(sqrt(variance), 1e-7)`, which turns normalized values
#'   back into the original scale.
#' @param ... Named base-layer arguments: `name` (a unique name is generated
#'   when missing), `trainable` (the layer has nothing to train) and `dtype`
#'   (ignored: normlayers computes in double precision).
#' @returns A layer, a model, a symbolic tensor or an array, depending on
#'   `object` (see above). Once the layer is built, the statistics read back
#'   as `layer$mean` and `layer$variance` in Keras's broadcast shape: an array
#'   of the built rank with the kept sizes on the kept axes and 1 elsewhere
#'   (for example `(1, 3)` for `axis = -1` on a matrix of 3 columns, `(1, 1)`
#'   for `axis = NULL`). [get_weights()] returns them in the shape of the kept
#'   axes (`(3,)`), as Keras's weights.
#' @section Input shapes:
#' A built layer takes inputs of the rank it was built for whose kept axes
#' have the built sizes. An input of lower rank is broadcast against the
#' statistics as in NumPy (so a vector of 3 values given to a layer adapted on
#' a matrix with 3 columns returns a 1 x 3 matrix). With `axis = NULL` any
#' input shape works.
#' @seealso [adapt()] to learn the statistics from data.
#' @export
#' @family normalization layers
#' @examples
#' # Calculate a global mean and variance by analyzing the dataset in adapt().
#' adapt_data <- op_array(c(1., 2., 3., 4., 5.), dtype='float32')
#' input_data <- op_array(c(1., 2., 3.), dtype='float32')
#' layer <- layer_normalization(axis = NULL)
#' layer %>% adapt(adapt_data)
#' layer(input_data)
#'
#' # Calculate a mean and variance for each index on the last axis.
#' adapt_data <- op_array(rbind(c(0., 7., 4.),
#'                        c(2., 9., 6.),
#'                        c(0., 7., 4.),
#'                        c(2., 9., 6.)), dtype='float32')
#' input_data <- op_array(matrix(c(0., 7., 4.), nrow = 1), dtype='float32')
#' layer <- layer_normalization(axis=-1)
#' layer %>% adapt(adapt_data)
#' layer(input_data)
#'
#' # Pass the mean and variance directly.
#' input_data <- op_array(rbind(1, 2, 3), dtype='float32')
#' layer <- layer_normalization(mean=3., variance=2.)
#' layer(input_data)
#'
#' # Use the layer to de-normalize inputs (after adapting the layer).
#' adapt_data <- op_array(rbind(c(0., 7., 4.),
#'                        c(2., 9., 6.),
#'                        c(0., 7., 4.),
#'                        c(2., 9., 6.)), dtype='float32')
#' input_data <- op_array(c(1., 2., 3.), dtype='float32')
#' layer <- layer_normalization(axis=-1, invert=TRUE)
#' layer %>% adapt(adapt_data)
#' layer(input_data)
layer_normalization <- function(object, axis = -1L, mean = NULL, variance = NULL,
                                invert = FALSE, ...) {
  object <- if (missing(object)) NULL else object
  dots <- list(...)
  nl_check_dots(dots, c("name", "trainable", "dtype"), layer = TRUE)
  axis <- nl_check_axis_arg(axis, "axis", null_ok = TRUE)
  invert <- nl_check_flag(invert, "invert")
  nl_norm_check_given(mean, variance, axis)
  config <- list(axis = axis, invert = invert)
  layer <- nl_new_layer("normalization", config,
                        name = dots$name, trainable = dots$trainable %||% TRUE)
  st <- nl_state(layer)
  st$given_mean <- if (is.null(mean)) NULL else nl_norm_as_double(mean)
  st$given_variance <- if (is.null(variance)) NULL else nl_norm_as_double(variance)
  nl_compose(object, layer)
}

# Keeps the dim attribute (so that the shape of a given array is remembered).
nl_norm_as_double <- function(x) {
  d <- dim(x)
  x <- as.double(x)
  dim(x) <- d
  x
}

# `mean` and `variance`: both or neither, numeric without missing values, and
# of a rank that fits the kept axes.
nl_norm_check_given <- function(mean, variance, axis, call = rlang::caller_env()) {
  if (is.null(mean) != is.null(variance)) {
    given <- if (is.null(mean)) "variance" else "mean"
    other <- setdiff(c("mean", "variance"), given)
    nl_abort(c("{.arg mean} and {.arg variance} must be given together.",
               x = "You supplied {.arg {given}} but not {.arg {other}}.",
               i = "Give both to fix the statistics, or neither and call {.fn adapt}."),
             "value", call = call)
  }
  if (is.null(mean)) return(invisible(TRUE))
  n_kept <- length(axis)
  for (arg in c("mean", "variance")) {
    p <- if (arg == "mean") mean else variance
    if (!is.numeric(p) || is.factor(p) || length(p) == 0) {
      nl_abort(c("{.arg {arg}} must be a number or a numeric array.",
                 x = "You supplied {nl_describe(p)}."), "value", call = call)
    }
    if (anyNA(p)) {
      nl_abort(c("{.arg {arg}} must not contain missing values.",
                 x = "{.arg {arg}} has {sum(is.na(p))} missing value{?s}."),
               "value", call = call)
    }
    shape <- nl_norm_param_shape(p)
    if (length(shape) > n_kept) {
      what <- if (is.null(axis)) "a single number when {.code axis = NULL}"
              else "of rank at most {n_kept}, the number of kept axes"
      nl_abort(c(paste0("{.arg {arg}} must be ", what, "."),
                 x = "You supplied {nl_describe(p)}.",
                 i = "Its dimensions are matched with the kept axes from the right."),
               "shape", call = call)
    }
  }
  invisible(TRUE)
}

# The shape of a given statistic: a length-1 vector is a scalar, other vectors
# are 1-D; leading size-1 dimensions carry no information.
nl_norm_param_shape <- function(p) {
  shape <- if (is.null(dim(p))) {
    if (length(p) == 1) integer() else length(p)
  } else {
    as.integer(dim(p))
  }
  while (length(shape) > 0 && shape[1] == 1L) shape <- shape[-1]
  as.integer(shape)
}

# Broadcasts a given statistic to the kept shape, aligned from the right.
nl_norm_broadcast_param <- function(p, kept_shape, arg, layer_name,
                                    call = rlang::caller_env()) {
  shape <- nl_norm_param_shape(p)
  k <- length(kept_shape)
  padded <- c(rep(1L, k - length(shape)), shape)
  if (length(shape) > k || any(padded != 1L & padded != kept_shape)) {
    nl_abort(c("{.arg {arg}} cannot be broadcast to the kept axes of layer {.val {layer_name}}.",
               x = "{.arg {arg}} has shape {nl_format_shape(shape)}, the kept axes have shape {nl_format_shape(kept_shape)}.",
               i = "Give a number, or an array whose dimensions match the kept axes from the right (size 1 is broadcast)."),
             "shape", call = call)
  }
  v <- as.double(p)
  if (k == 0) return(v)
  dim(v) <- padded
  v <- nl_broadcast_array(v, kept_shape)
  nl_shape_value(as.double(v), kept_shape)
}

# Expands the size-1 dimensions of `x` (of the same rank as `shape`) to `shape`.
nl_broadcast_array <- function(x, shape) {
  d <- dim(x)
  if (identical(as.integer(d), as.integer(shape))) return(x)
  idx <- lapply(seq_along(shape), function(i) {
    if (d[i] == 1L) rep(1L, shape[i]) else seq_len(shape[i])
  })
  do.call(`[`, c(list(x), idx, list(drop = FALSE)))
}

nl_norm_is_fixed <- function(st) !is.null(st$given_mean)

#' @export
nl_layer_output_shape.nl_normalization <- function(layer, input_shape) {
  st <- nl_state(layer)
  if (!isTRUE(st$built)) {
    if (!is.null(st$config$axis)) nl_resolve_axes(st$config$axis, length(input_shape))
    return(input_shape)
  }
  nl_norm_target(layer, input_shape)$out
}

# How a built layer meets an input of shape `shape`: the statistics have the
# broadcast shape (kept sizes on the kept axes, 1 elsewhere) of the built rank.
# Same rank: the kept sizes must match. Lower rank: NumPy broadcasting.
# Returns list(padded = input shape at the built rank, out = output shape).
nl_norm_target <- function(layer, shape, call = rlang::caller_env()) {
  st <- nl_state(layer)
  shape <- as.integer(shape)
  if (is.null(st$config$axis)) return(list(padded = shape, out = shape))
  r <- st$build_rank
  q <- length(shape)
  bshape <- rep(1L, r)
  bshape[st$kept_axes] <- as.integer(st$kept_shape)
  expected <- rep(NA_integer_, r)
  expected[st$kept_axes] <- as.integer(st$kept_shape)
  fail <- function() {
    nl_abort(c("Input to layer {.val {st$name}} is incompatible with its statistics.",
               x = "The layer keeps axes {.val {st$kept_axes}} with sizes {nl_format_shape(st$kept_shape)} (built for shape {nl_format_shape(expected)}), but the input has shape {nl_format_shape(shape)}.",
               i = "Give inputs with the kept sizes, or create (and adapt) a new layer."),
             "shape", call = call)
  }
  if (q > r) fail()
  if (q == r) {
    ks <- shape[st$kept_axes]
    if (anyNA(ks) || any(ks != st$kept_shape)) fail()
    return(list(padded = shape, out = shape))
  }
  padded <- c(rep(1L, r - q), shape)
  ok <- is.na(padded) | padded == 1L | bshape == 1L | padded == bshape
  if (!all(ok)) fail()
  out <- ifelse(!is.na(padded) & padded == 1L, bshape, padded)
  list(padded = padded, out = as.integer(out))
}

#' @export
nl_layer_build.nl_normalization <- function(layer, input_shape) {
  st <- nl_state(layer)
  axis <- st$config$axis
  axes <- if (is.null(axis)) integer() else nl_resolve_axes(axis, length(input_shape))
  kept_shape <- as.integer(input_shape[axes])
  if (anyNA(kept_shape)) {
    nl_abort(c("The axes kept by layer {.val {st$name}} must have a known size.",
               x = "The input has shape {nl_format_shape(input_shape)} and {.arg axis} = {.val {axis}}.",
               i = "Keep only axes of known size, or use {.code axis = NULL}."),
             "shape")
  }
  if (nl_norm_is_fixed(st)) {
    m <- nl_norm_broadcast_param(st$given_mean, kept_shape, "mean", st$name)
    v <- nl_norm_broadcast_param(st$given_variance, kept_shape, "variance", st$name)
    st$fixed_mean <- m
    st$fixed_variance <- v
  } else {
    nl_add_weight(layer, "mean", kept_shape, nl_get_initializer("zeros", "mean"),
                  trainable = FALSE)
    nl_add_weight(layer, "variance", kept_shape, nl_get_initializer("ones", "variance"),
                  trainable = FALSE)
  }
  st$kept_axes <- axes
  st$kept_shape <- kept_shape
  st$build_rank <- length(input_shape)
  invisible(layer)
}

# The statistics as kept-indexed double vectors.
nl_norm_stats <- function(st) {
  if (nl_norm_is_fixed(st)) {
    list(mean = as.double(st$fixed_mean), variance = as.double(st$fixed_variance))
  } else {
    w <- nl_weights_all(st)
    list(mean = as.double(w$mean), variance = as.double(w$variance))
  }
}

# `overwrite = TRUE`: x is the caller's to overwrite, and the output is
# written there (nl_layer_infer()).
#' @export
nl_layer_forward.nl_normalization <- function(layer, x, training, overwrite = FALSE) {
  st <- nl_state(layer)
  d <- dim(x)
  tg <- nl_norm_target(layer, d)
  if (!identical(as.integer(d), tg$padded)) dim(x) <- tg$padded
  x <- nl_broadcast_array(x, tg$out)
  reduced <- setdiff(seq_along(tg$out), st$kept_axes)
  runs <- nl_runs(tg$out, reduced)
  stats <- nl_norm_stats(st)
  # a negative given variance gives NaN, as in Keras (no warning)
  std <- pmax(suppressWarnings(sqrt(stats$variance)), 1e-7)
  out <- if (overwrite) x
  if (isTRUE(st$config$invert)) {
    scale <- std
    y <- nl_kernel_apply(x, runs, center = NULL, scale = std, beta = stats$mean,
                         param_on = "kept", out = out)
  } else {
    scale <- 1 / std
    y <- nl_kernel_apply(x, runs, center = stats$mean, scale = scale, param_on = "kept",
                         out = out)
  }
  list(output = y, cache = list(runs = runs, scale = scale, in_dim = d,
                                padded = tg$padded, out = tg$out))
}

#' @export
nl_layer_backward.nl_normalization <- function(layer, cache, dy) {
  dx <- nl_kernel_apply(dy, cache$runs, center = NULL, scale = cache$scale,
                        param_on = "kept")
  spread <- cache$padded == 1L & cache$out != 1L
  if (any(spread)) {
    keep <- which(!spread)
    dx <- if (length(keep)) apply(dx, keep, sum) else sum(dx)
  }
  dx <- as.double(dx)
  dim(dx) <- cache$in_dim
  list(dx = dx, grads = list())
}

# `layer$mean` and `layer$variance` as Keras shows them: after build, in the
# broadcast shape (the kept sizes on the kept axes, 1 on the others, at the
# built rank), e.g. (1, 3) for axis = -1 on a matrix of 3 columns; before
# build, the given statistics as given (NULL for a layer to adapt). The
# weights themselves (get_weights()) keep the kept shape, (3,).
#' @export
`$.nl_normalization` <- function(x, name) {
  if (identical(name, "mean") || identical(name, "variance")) {
    return(nl_norm_broadcast_stat(x, name))
  }
  NextMethod()
}

#' @export
`[[.nl_normalization` <- function(x, i, ...) `$.nl_normalization`(x, i)

nl_norm_broadcast_stat <- function(layer, name) {
  st <- nl_state(layer)
  if (!isTRUE(st$built)) {
    if (!nl_norm_is_fixed(st)) return(NULL)
    return(if (name == "mean") st$given_mean else st$given_variance)
  }
  v <- if (nl_norm_is_fixed(st)) {
    if (name == "mean") st$fixed_mean else st$fixed_variance
  } else {
    nl_weight_get(st, name)
  }
  bshape <- rep(1L, st$build_rank)
  bshape[st$kept_axes] <- as.integer(st$kept_shape)
  v <- as.double(v)
  dim(v) <- bshape
  v
}
