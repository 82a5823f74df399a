# Initializers: objects that create starting values for weights.
# Each is an `nl_initializer` holding the Keras class name and config;
# `nl_initialize()` turns one into values for a given shape.

#' Initializer that generates a constant value
#'
#' Every value is `value`. `value` may also hold one number per element of
#' the weight (it is then reshaped to the weight's shape).
#'
#' @param value A number, or a numeric vector or array with as many elements
#'   as the weight it initializes.
#' @returns An initializer object (class `nl_initializer`) to pass to a
#'   `*_initializer` argument of a layer.
#' @family initializers
#' @export
#' @examples
#' initializer_constant(0.5)
initializer_constant <- function(value = 0) {
  if (!is.numeric(value) || length(value) == 0 || anyNA(value)) {
    nl_abort(
      c("{.arg value} must be numeric without missing values.",
        x = "You supplied {nl_describe(value)}."),
      kind = "value"
    )
  }
  nl_family_object("initializer", "Constant", list(value = value))
}

#' Initializer that generates the identity matrix
#'
#' Produces `gain` times the identity matrix; only for 2-D weights. A
#' non-square shape gets ones on its main diagonal.
#'
#' @param gain Multiplicative factor applied to the identity matrix.
#' @inherit initializer_constant return
#' @family initializers
#' @export
#' @examples
#' initializer_identity(gain = 2)
initializer_identity <- function(gain = 1) {
  gain <- nl_check_number(gain)
  nl_family_object("initializer", "Identity", list(gain = gain))
}

#' Initializer that generates ones
#'
#' @inherit initializer_constant return
#' @family initializers
#' @export
#' @examples
#' initializer_ones()
initializer_ones <- function() {
  nl_family_object("initializer", "Ones")
}

#' Initializer that generates zeros
#'
#' @inherit initializer_constant return
#' @family initializers
#' @export
#' @examples
#' initializer_zeros()
initializer_zeros <- function() {
  nl_family_object("initializer", "Zeros")
}

#' Initializer with random normal values
#'
#' Draws from a normal distribution with mean `mean` and standard deviation
#' `stddev`.
#'
#' @param mean Mean of the distribution.
#' @param stddev Standard deviation of the distribution (non-negative).
#' @param seed `NULL` or a whole number. With `NULL`, values come from R's
#'   random number stream, so [set.seed()] reproduces them. With a number,
#'   every call gives the same values and R's random number stream
#'   (`.Random.seed`) is left untouched.
#' @inherit initializer_constant return
#' @family initializers
#' @export
#' @examples
#' initializer_random_normal(stddev = 0.1, seed = 1)
initializer_random_normal <- function(mean = 0, stddev = 0.05, seed = NULL) {
  nl_normal_initializer("RandomNormal", mean, stddev, seed)
}

#' Initializer with truncated normal values
#'
#' Draws from a normal distribution with mean `mean` and standard deviation
#' `stddev`, redrawing values further than two standard deviations from the
#' mean.
#'
#' @inheritParams initializer_random_normal
#' @param stddev Standard deviation of the normal distribution before
#'   truncation (non-negative).
#' @inherit initializer_constant return
#' @family initializers
#' @export
#' @examples
#' initializer_truncated_normal(seed = 1)
initializer_truncated_normal <- function(mean = 0, stddev = 0.05,
                                         seed = NULL) {
  nl_normal_initializer("TruncatedNormal", mean, stddev, seed)
}

nl_normal_initializer <- function(class_name, mean, stddev, seed,
                                  call = rlang::caller_env()) {
  mean <- nl_check_number(mean, call = call)
  stddev <- nl_check_number(stddev, min = 0, call = call,
                            what = "a non-negative number")
  seed <- nl_check_seed(seed, call = call)
  nl_family_object("initializer", class_name,
                   list(mean = mean, stddev = stddev, seed = seed))
}

#' Initializer with random uniform values
#'
#' Draws from a uniform distribution on `[minval, maxval)`.
#'
#' @inheritParams initializer_random_normal
#' @param minval,maxval Lower and upper bounds of the range.
#' @inherit initializer_constant return
#' @family initializers
#' @export
#' @examples
#' initializer_random_uniform(-1, 1, seed = 1)
initializer_random_uniform <- function(minval = -0.05, maxval = 0.05,
                                       seed = NULL) {
  minval <- nl_check_number(minval)
  maxval <- nl_check_number(maxval, min = minval,
                            what = "a finite number not below `minval`")
  seed <- nl_check_seed(seed)
  nl_family_object("initializer", "RandomUniform",
                   list(minval = minval, maxval = maxval, seed = seed))
}

#' Initializer that adapts its scale to the shape of the weight
#'
#' With `fan_in` and `fan_out` the number of input and output units of the
#' weight, let `s = scale / max(1, n)` where `n` is `fan_in`, `fan_out` or
#' their mean (`mode`). Values are drawn from a normal distribution with
#' standard deviation `sqrt(s)` (`"untruncated_normal"`), a normal
#' distribution truncated at two standard deviations and rescaled so that
#' its standard deviation is `sqrt(s)` (`"truncated_normal"`, the default;
#' `"normal"` is an alias), or a uniform distribution on
#' `[-sqrt(3 * s), sqrt(3 * s)]` (`"uniform"`).
#'
#' For a weight of shape `c(a, b)`, `fan_in = a` and `fan_out = b`. For
#' higher ranks (convolution kernels) both are multiplied by the product of
#' all but the last two dimensions. A 1-D weight of length `n` has
#' `fan_in = fan_out = n`.
#'
#' @inheritParams initializer_random_normal
#' @param scale Scaling factor (a positive number).
#' @param mode One of `"fan_in"`, `"fan_out"`, `"fan_avg"`.
#' @param distribution One of `"truncated_normal"`, `"untruncated_normal"`,
#'   `"uniform"` (case-insensitive; `"normal"` means `"truncated_normal"`).
#' @inherit initializer_constant return
#' @family initializers
#' @export
#' @examples
#' initializer_variance_scaling(scale = 2, mode = "fan_out", seed = 1)
initializer_variance_scaling <- function(scale = 1, mode = "fan_in",
                                         distribution = "truncated_normal",
                                         seed = NULL) {
  scale <- nl_check_number(scale, min = .Machine$double.xmin,
                           what = "a positive number")
  mode <- nl_check_choice(mode, c("fan_in", "fan_out", "fan_avg"))
  if (rlang::is_string(distribution)) {
    distribution <- tolower(distribution)
    if (distribution == "normal") distribution <- "truncated_normal"
  }
  distribution <- nl_check_choice(
    distribution, c("truncated_normal", "untruncated_normal", "uniform")
  )
  seed <- nl_check_seed(seed)
  nl_family_object(
    "initializer", "VarianceScaling",
    list(scale = scale, mode = mode, distribution = distribution,
         seed = seed)
  )
}

#' Glorot (Xavier) initializers
#'
#' `initializer_glorot_uniform()` draws from `[-limit, limit]` with
#' `limit = sqrt(6 / (fan_in + fan_out))`; `initializer_glorot_normal()`
#' draws from a truncated normal distribution with standard deviation
#' `sqrt(2 / (fan_in + fan_out))`. See [initializer_variance_scaling()] for
#' how the fans are computed.
#'
#' @inheritParams initializer_random_normal
#' @inherit initializer_constant return
#' @family initializers
#' @export
#' @examples
#' initializer_glorot_uniform(seed = 1)
#' initializer_glorot_normal()
initializer_glorot_uniform <- function(seed = NULL) {
  nl_preset_initializer("GlorotUniform", seed)
}

#' @rdname initializer_glorot_uniform
#' @export
initializer_glorot_normal <- function(seed = NULL) {
  nl_preset_initializer("GlorotNormal", seed)
}

#' He initializers
#'
#' `initializer_he_uniform()` draws from `[-limit, limit]` with
#' `limit = sqrt(6 / fan_in)`; `initializer_he_normal()` draws from a
#' truncated normal distribution with standard deviation `sqrt(2 / fan_in)`.
#' See [initializer_variance_scaling()] for how the fans are computed.
#'
#' @inheritParams initializer_random_normal
#' @inherit initializer_constant return
#' @family initializers
#' @export
#' @examples
#' initializer_he_normal(seed = 1)
#' initializer_he_uniform()
initializer_he_normal <- function(seed = NULL) {
  nl_preset_initializer("HeNormal", seed)
}

#' @rdname initializer_he_normal
#' @export
initializer_he_uniform <- function(seed = NULL) {
  nl_preset_initializer("HeUniform", seed)
}

#' LeCun initializers
#'
#' `initializer_lecun_uniform()` draws from `[-limit, limit]` with
#' `limit = sqrt(3 / fan_in)`; `initializer_lecun_normal()` draws from a
#' truncated normal distribution with standard deviation `sqrt(1 / fan_in)`.
#' See [initializer_variance_scaling()] for how the fans are computed.
#'
#' @inheritParams initializer_random_normal
#' @inherit initializer_constant return
#' @family initializers
#' @export
#' @examples
#' initializer_lecun_normal(seed = 1)
#' initializer_lecun_uniform()
initializer_lecun_normal <- function(seed = NULL) {
  nl_preset_initializer("LecunNormal", seed)
}

#' @rdname initializer_lecun_normal
#' @export
initializer_lecun_uniform <- function(seed = NULL) {
  nl_preset_initializer("LecunUniform", seed)
}

# Variance-scaling parameters of the named presets.
nl_vs_presets <- list(
  GlorotUniform = list(scale = 1, mode = "fan_avg", distribution = "uniform"),
  GlorotNormal = list(scale = 1, mode = "fan_avg",
                      distribution = "truncated_normal"),
  HeUniform = list(scale = 2, mode = "fan_in", distribution = "uniform"),
  HeNormal = list(scale = 2, mode = "fan_in",
                  distribution = "truncated_normal"),
  LecunUniform = list(scale = 1, mode = "fan_in", distribution = "uniform"),
  LecunNormal = list(scale = 1, mode = "fan_in",
                     distribution = "truncated_normal")
)

# Full variance-scaling config (scale, mode, distribution, seed) of a
# VarianceScaling initializer or one of the presets.
nl_vs_config <- function(init) {
  c(nl_vs_presets[[init$class_name]], init$config)
}

nl_preset_initializer <- function(class_name, seed,
                                  call = rlang::caller_env()) {
  seed <- nl_check_seed(seed, call = call)
  nl_family_object("initializer", class_name, list(seed = seed))
}

#' Initializer that generates an orthogonal matrix
#'
#' The weight is viewed as a matrix with `shape[length(shape)]` columns and
#' the product of the other dimensions as rows. That matrix is the Q factor
#' of the QR decomposition of a matrix of standard normal values (with signs
#' fixed so that the diagonal of R is positive), times `gain`: its columns
#' are orthonormal, or its rows if there are fewer rows than columns. Needs
#' a weight with at least two dimensions.
#'
#' @inheritParams initializer_random_normal
#' @param gain Multiplicative factor applied to the orthogonal matrix.
#' @inherit initializer_constant return
#' @family initializers
#' @export
#' @examples
#' initializer_orthogonal(seed = 1)
initializer_orthogonal <- function(gain = 1, seed = NULL) {
  gain <- nl_check_number(gain)
  seed <- nl_check_seed(seed)
  nl_family_object("initializer", "Orthogonal",
                   list(gain = gain, seed = seed))
}

nl_initializer_registry <- function() {
  list(
    Zeros = nl_registry_entry(initializer_zeros, c("zeros", "Zeros", "zero")),
    Ones = nl_registry_entry(initializer_ones, c("ones", "Ones", "one")),
    Constant = nl_registry_entry(initializer_constant,
                                 c("constant", "Constant")),
    RandomNormal = nl_registry_entry(
      initializer_random_normal, c("random_normal", "RandomNormal", "normal")
    ),
    RandomUniform = nl_registry_entry(
      initializer_random_uniform,
      c("random_uniform", "RandomUniform", "uniform")
    ),
    TruncatedNormal = nl_registry_entry(
      initializer_truncated_normal, c("truncated_normal", "TruncatedNormal")
    ),
    VarianceScaling = nl_registry_entry(
      initializer_variance_scaling, c("variance_scaling", "VarianceScaling")
    ),
    GlorotUniform = nl_registry_entry(initializer_glorot_uniform,
                                      c("glorot_uniform", "GlorotUniform")),
    GlorotNormal = nl_registry_entry(initializer_glorot_normal,
                                     c("glorot_normal", "GlorotNormal")),
    HeNormal = nl_registry_entry(initializer_he_normal,
                                 c("he_normal", "HeNormal")),
    HeUniform = nl_registry_entry(initializer_he_uniform,
                                  c("he_uniform", "HeUniform")),
    LecunNormal = nl_registry_entry(initializer_lecun_normal,
                                    c("lecun_normal", "LecunNormal")),
    LecunUniform = nl_registry_entry(initializer_lecun_uniform,
                                     c("lecun_uniform", "LecunUniform")),
    Orthogonal = nl_registry_entry(
      initializer_orthogonal,
      c("orthogonal", "Orthogonal", "OrthogonalInitializer")
    ),
    Identity = nl_registry_entry(
      initializer_identity, c("identity", "Identity", "IdentityInitializer")
    )
  )
}

# ---- Resolving and applying ---------------------------------------------

nl_get_initializer <- function(x, arg = rlang::caller_arg(x),
                               call = rlang::caller_env()) {
  nl_resolve(x, "initializer", arg, call)
}

nl_initialize <- function(init, shape, call = rlang::caller_env()) {
  shape <- as.double(nl_check_shape(shape, "shape", min = 0, na_ok = FALSE, empty_ok = TRUE,
                                    call = call))
  n <- prod(shape)
  cfg <- init$config
  cls <- init$class_name
  values <- switch(cls,
    Zeros = rep(0, n),
    Ones = rep(1, n),
    Constant = nl_constant_values(cfg$value, shape, call),
    RandomNormal = nl_with_seed(
      cfg$seed, stats::rnorm(n, cfg$mean, cfg$stddev)
    ),
    RandomUniform = nl_with_seed(
      cfg$seed, stats::runif(n, cfg$minval, cfg$maxval)
    ),
    TruncatedNormal = nl_with_seed(
      cfg$seed, nl_truncated_normal(n, cfg$mean, cfg$stddev)
    ),
    Orthogonal = nl_orthogonal_values(cfg, shape, call),
    Identity = nl_identity_values(cfg$gain, shape, call),
    RFunction = nl_function_values(cfg$fn, shape, call),
    if (cls == "VarianceScaling" || cls %in% names(nl_vs_presets)) {
      nl_variance_scaling_values(nl_vs_config(init), shape)
    } else {
      nl_abort("Unknown initializer class {.val {cls}}.",
               kind = "initializer", call = call)
    }
  )
  if (length(shape) <= 1) as.vector(values) else array(values, dim = shape)
}

nl_format_dims <- function(shape) paste(shape, collapse = ", ")

# Evaluate `expr` after set.seed(seed), then restore the global RNG state
# (or its absence). With `seed = NULL` just evaluate `expr`.
nl_with_seed <- function(seed, expr) {
  if (is.null(seed)) {
    return(expr)
  }
  env <- globalenv()
  had_seed <- exists(".Random.seed", envir = env, inherits = FALSE)
  if (had_seed) {
    old <- get(".Random.seed", envir = env, inherits = FALSE)
  }
  on.exit(
    if (had_seed) {
      assign(".Random.seed", old, envir = env)
    } else if (exists(".Random.seed", envir = env, inherits = FALSE)) {
      rm(".Random.seed", envir = env)
    }
  )
  set.seed(seed)
  expr
}

# Normal draws; values outside mean +/- 2 sd are drawn again.
nl_truncated_normal <- function(n, mean, sd) {
  x <- stats::rnorm(n, mean, sd)
  repeat {
    bad <- which(abs(x - mean) > 2 * sd)
    if (length(bad) == 0) break
    x[bad] <- stats::rnorm(length(bad), mean, sd)
  }
  x
}

# fan_in and fan_out of a weight shape (R dim order equals Keras' order).
nl_fans <- function(shape) {
  r <- length(shape)
  if (r == 0) return(c(1, 1))
  if (r == 1) return(c(shape, shape))
  receptive <- if (r > 2) prod(shape[seq_len(r - 2)]) else 1
  c(shape[r - 1], shape[r]) * receptive
}

# Spread of a variance-scaling draw: the standard deviation of the normal
# distribution (before truncation) or the limit of the uniform one.
nl_variance_scaling_spread <- function(cfg, shape) {
  fans <- nl_fans(shape)
  fan <- switch(cfg$mode,
    fan_in = fans[1], fan_out = fans[2], fan_avg = mean(fans)
  )
  s <- cfg$scale / max(1, fan)
  switch(cfg$distribution,
    truncated_normal = c(stddev = sqrt(s) / 0.87962566103423978),
    untruncated_normal = c(stddev = sqrt(s)),
    uniform = c(limit = sqrt(3 * s))
  )
}

nl_variance_scaling_values <- function(cfg, shape) {
  spread <- nl_variance_scaling_spread(cfg, shape)
  n <- prod(shape)
  nl_with_seed(cfg$seed, switch(cfg$distribution,
    truncated_normal = nl_truncated_normal(n, 0, spread[[1]]),
    untruncated_normal = stats::rnorm(n, 0, spread[[1]]),
    uniform = stats::runif(n, -spread[[1]], spread[[1]])
  ))
}

nl_constant_values <- function(value, shape, call) {
  n <- prod(shape)
  if (length(value) != 1 && length(value) != n) {
    nl_abort(
      c("A constant initializer's {.arg value} must have 1 or {n} element{?s}
         for shape ({nl_format_dims(shape)}).",
        x = "It has {length(value)}."),
      kind = "initializer", call = call
    )
  }
  rep_len(as.double(value), n)
}

nl_identity_values <- function(gain, shape, call) {
  if (length(shape) != 2) {
    nl_abort(
      c("The identity initializer needs a 2-D weight.",
        x = "The weight has shape ({nl_format_dims(shape)})."),
      kind = "initializer", call = call
    )
  }
  diag(gain, shape[1], shape[2])
}

nl_orthogonal_values <- function(cfg, shape, call) {
  r <- length(shape)
  if (r < 2) {
    nl_abort(
      c("The orthogonal initializer needs a weight with at least 2 dimensions.",
        x = "The weight has shape ({nl_format_dims(shape)})."),
      kind = "initializer", call = call
    )
  }
  cols <- shape[r]
  rows <- prod(shape) / cols
  if (rows == 0 || cols == 0) return(numeric(0))
  big <- max(rows, cols)
  small <- min(rows, cols)
  a <- nl_with_seed(cfg$seed, matrix(stats::rnorm(big * small), big, small))
  dec <- qr(a)
  q <- qr.Q(dec)
  d <- sign(diag(qr.R(dec)))
  d[d == 0] <- 1
  q <- sweep(q, 2, d, `*`)
  if (rows < cols) q <- t(q)
  # Column-major storage: the (rows, cols) matrix keeps the last dimension
  # as its columns when reshaped to `shape`.
  cfg$gain * as.vector(q)
}

nl_function_values <- function(fn, shape, call) {
  formal_names <- nl_formal_names(fn)
  shape_arg <- if (length(shape) == 0) integer(0) else as.integer(shape)
  values <- if (any(c("dtype", "...") %in% formal_names)) {
    fn(shape_arg, dtype = "float64")
  } else {
    fn(shape_arg)
  }
  n <- prod(shape)
  if (!is.numeric(values) || length(values) != n) {
    nl_abort(
      c("An initializer function must return {n} number{?s} for shape
         ({nl_format_dims(shape)}).",
        x = "It returned {nl_describe(values)}."),
      kind = "initializer", call = call
    )
  }
  as.double(values)
}
