# Constraints: projections applied to a weight after each optimizer update.
# Each is an `nl_constraint`; `nl_constraint_apply()` projects a weight.
# `axis` is 1-based (negative values count from the end), as in keras3.

#' Norm constraints on weights
#'
#' These constraints rescale slices of a weight by their L2 norm `n`,
#' computed over the dimensions in `axis` (so for a Dense kernel of shape
#' `c(input_dim, units)`, `axis = 1` gives one norm per unit; for a
#' convolution kernel `c(h, w, in, out)` use `axis = 1:3`). With
#' `e = 1e-7`:
#' * `constraint_maxnorm()`: `w * min(n, max_value) / (e + n)`.
#' * `constraint_minmaxnorm()`:
#'   `w * (rate * clip(n, min_value, max_value) + (1 - rate) * n) / (e + n)`.
#' * `constraint_unitnorm()`: `w / (e + n)`.
#'
#' Because of `e`, weights already inside the limits shrink very slightly
#' (by a factor of about `1 - e / n`), as in Keras.
#'
#' @param max_value Maximum norm (a non-negative number).
#' @param min_value Minimum norm (a non-negative number, at most
#'   `max_value`).
#' @param rate Rate of enforcement between 0 and 1: 1 projects onto the
#'   allowed range, smaller values move the norm part of the way.
#' @param axis Integer vector of the dimensions (1-based) over which norms
#'   are computed; negative values count from the last dimension (`-1`).
#' @returns A constraint object (class `nl_constraint`) to pass to a
#'   `*_constraint` argument of a layer.
#' @family constraints
#' @export
#' @examples
#' constraint_maxnorm(3)
#' constraint_minmaxnorm(min_value = 0.5, max_value = 2, rate = 0.5)
#' constraint_unitnorm(axis = 1:3)
constraint_maxnorm <- function(max_value = 2L, axis = 1L) {
  max_value <- nl_check_number(max_value, min = 0,
                               what = "a non-negative number")
  axis <- nl_check_axis_arg(axis)
  nl_family_object("constraint", "MaxNorm",
                   list(max_value = max_value, axis = axis))
}

#' @rdname constraint_maxnorm
#' @export
constraint_minmaxnorm <- function(min_value = 0, max_value = 1, rate = 1,
                                  axis = 1L) {
  min_value <- nl_check_number(min_value, min = 0,
                               what = "a non-negative number")
  max_value <- nl_check_number(max_value, min = min_value,
                               what = "a number not below `min_value`")
  rate <- nl_check_number(rate, min = 0, max = 1,
                          what = "a number between 0 and 1")
  axis <- nl_check_axis_arg(axis)
  nl_family_object(
    "constraint", "MinMaxNorm",
    list(min_value = min_value, max_value = max_value, rate = rate,
         axis = axis)
  )
}

#' @rdname constraint_maxnorm
#' @export
constraint_unitnorm <- function(axis = 1L) {
  axis <- nl_check_axis_arg(axis)
  nl_family_object("constraint", "UnitNorm", list(axis = axis))
}

#' Non-negativity constraint
#'
#' Sets negative weights to zero.
#'
#' @inherit constraint_maxnorm return
#' @family constraints
#' @export
#' @examples
#' constraint_nonneg()
constraint_nonneg <- function() {
  nl_family_object("constraint", "NonNeg")
}

nl_constraint_registry <- function() {
  list(
    MaxNorm = nl_registry_entry(constraint_maxnorm, c("max_norm", "MaxNorm")),
    MinMaxNorm = nl_registry_entry(constraint_minmaxnorm,
                                   c("min_max_norm", "MinMaxNorm")),
    UnitNorm = nl_registry_entry(constraint_unitnorm,
                                 c("unit_norm", "UnitNorm")),
    NonNeg = nl_registry_entry(constraint_nonneg, c("non_neg", "NonNeg"))
  )
}

# ---- Resolving and applying ---------------------------------------------

nl_get_constraint <- function(x, arg = rlang::caller_arg(x),
                              call = rlang::caller_env()) {
  nl_resolve(x, "constraint", arg, call, null_ok = TRUE)
}

# A NULL constraint leaves the weight unchanged.
nl_constraint_apply <- function(con, w, call = rlang::caller_env()) {
  if (is.null(con)) {
    return(w)
  }
  cfg <- con$config
  values <- switch(con$class_name,
    NonNeg = ifelse(!is.na(w) & w < 0, 0, w),
    MaxNorm = nl_norm_rescale(w, cfg$axis, call, function(n) {
      pmin(n, cfg$max_value) / (1e-7 + n)
    }),
    MinMaxNorm = nl_norm_rescale(w, cfg$axis, call, function(n) {
      clipped <- pmin(pmax(n, cfg$min_value), cfg$max_value)
      (cfg$rate * clipped + (1 - cfg$rate) * n) / (1e-7 + n)
    }),
    UnitNorm = nl_norm_rescale(w, cfg$axis, call, function(n) 1 / (1e-7 + n)),
    RFunction = nl_function_constrain(cfg$fn, w, call)
  )
  out <- w
  out[] <- as.double(values)
  out
}

# Multiply w by scale(n), n the L2 norm over `axis` (1-based, negative from
# the end), broadcast back over the reduced dimensions.
nl_norm_rescale <- function(w, axis, call, scale) {
  d <- dim(w)
  if (is.null(d)) d <- length(w)
  rank <- length(d)
  resolved <- ifelse(axis < 0, rank + 1 + axis, axis)
  if (any(resolved < 1 | resolved > rank)) {
    nl_abort(
      c("{.arg axis} is out of range for a weight with {rank} dimension{?s}.",
        x = "{.arg axis} is {axis}.",
        i = "Use values in 1..{rank} or -{rank}..-1."),
      kind = "axis", call = call
    )
  }
  kept <- setdiff(seq_len(rank), resolved)
  x <- array(as.double(w), d)
  if (length(kept) == 0) {
    return(x * scale(sqrt(sum(x^2))))
  }
  norms <- sqrt(apply(x^2, kept, sum))
  sweep(x, kept, scale(norms), `*`, check.margin = FALSE)
}

nl_function_constrain <- function(fn, w, call) {
  values <- fn(w)
  if (!is.numeric(values) || length(values) != length(w)) {
    nl_abort(
      c("A constraint function must return a numeric array like its input.",
        x = "It returned {nl_describe(values)} for {nl_describe(w)}."),
      kind = "constraint", call = call
    )
  }
  values
}
