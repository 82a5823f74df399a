# Regularizers: penalties on weights that are added to the training loss.
# Each is an `nl_regularizer`; `nl_regularizer_penalty()` computes the
# penalty and `nl_regularizer_gradient()` its gradient with respect to the
# weight.

#' L1 and L2 weight regularizers
#'
#' `regularizer_l1()` adds `l1 * sum(abs(w))` to the loss,
#' `regularizer_l2()` adds `l2 * sum(w^2)`, and `regularizer_l1_l2()` adds
#' both. As strings, `"l1"`, `"l2"` and `"l1_l2"` use factors of 0.01, while
#' `"l1l2"` (the Keras name) uses factors of 0.
#'
#' @param l1 L1 regularization factor (a non-negative number). `NULL` means
#'   the default.
#' @param l2 L2 regularization factor (a non-negative number). `NULL` means
#'   the default.
#' @returns A regularizer object (class `nl_regularizer`) to pass to a
#'   `*_regularizer` argument of a layer.
#' @section Your own regularizer function:
#' Any `*_regularizer` argument also takes an R function of the weight that
#' returns its penalty (a single number). Training needs the penalty's
#' gradient:
#' * When the penalty is written with `sum()` or `mean()` of element-wise
#'   expressions of the weight (`+`, `-`, `*`, `/`, `^`, `exp()`, `log()`,
#'   `sqrt()`, `abs()`, `sin()`, `cos()`, `tanh()`, `log1p()`, `expm1()`),
#'   possibly combined with numbers, `+`, `-`, `*`, `/`, `^` and `sqrt()`, as in
#'   `function(w) 0.01 * sum(w^2)` or `function(w) 0.1 * sqrt(sum(w^2))`,
#'   normlayers derives the gradient from the function's body once, and each
#'   step evaluates it at about the cost of the penalty. The gradient of
#'   `abs()` is `sign()` (0 at 0), as for [regularizer_l1()].
#' * Otherwise give it as the function's `"gradient"` attribute: a function of
#'   the weight returning an array of the weight's shape (it is used in
#'   preference to a derived one).
#' * Without either, the gradient is found by central finite differences (two
#'   evaluations of the function per value) only for weights of at most 64
#'   values; for larger weights [fit()] refuses the regularizer before its
#'   first step rather than run a step that costs thousands of evaluations.
#'
#' The built-in regularizers have analytic gradients.
#' @family regularizers
#' @export
#' @examples
#' regularizer_l1(0.001)
#'
#' # A regularizer function: its gradient is derived from its body
#' smooth_l1 <- function(w) 0.01 * sum(sqrt(w^2 + 1e-3))
#' dense <- layer_dense(units = 200, kernel_regularizer = smooth_l1)
#'
#' # One normlayers cannot differentiate (max()), with its gradient attached
#' max_abs <- function(w) 0.01 * max(abs(w))
#' attr(max_abs, "gradient") <- function(w) 0.01 * sign(w) * (abs(w) == max(abs(w)))
#' dense2 <- layer_dense(units = 200, kernel_regularizer = max_abs)
#' regularizer_l2()
#' regularizer_l1_l2(l1 = 0.01, l2 = 0.01)
regularizer_l1 <- function(l1 = 0.01) {
  l1 <- nl_check_factor(l1, default = 0.01)
  nl_family_object("regularizer", "L1", list(l1 = l1))
}

#' @rdname regularizer_l1
#' @export
regularizer_l2 <- function(l2 = 0.01) {
  l2 <- nl_check_factor(l2, default = 0.01)
  nl_family_object("regularizer", "L2", list(l2 = l2))
}

#' @rdname regularizer_l1
#' @export
regularizer_l1_l2 <- function(l1 = 0, l2 = 0) {
  l1 <- nl_check_factor(l1, default = 0)
  l2 <- nl_check_factor(l2, default = 0)
  nl_family_object("regularizer", "L1L2", list(l1 = l1, l2 = l2))
}

#' Regularizer that encourages orthogonal rows or columns
#'
#' For a 2-D weight, the rows (or columns) are scaled to unit length and the
#' penalty is `factor` times the mean absolute dot product between distinct
#' rows (or columns), halved:
#' `factor * 0.5 * sum(abs(offdiag(P))) / (k * (k - 1) / 2)` with
#' `P = U %*% t(U)` for `k` unit rows `U` (`mode = "rows"`). A weight with
#' a single row (column) has penalty 0.
#'
#' @param factor Regularization factor (a non-negative number).
#' @param mode `"rows"` or `"columns"`.
#' @inherit regularizer_l1 return
#' @family regularizers
#' @export
#' @examples
#' regularizer_orthogonal(factor = 0.1, mode = "columns")
regularizer_orthogonal <- function(factor = 0.01, mode = "rows") {
  factor <- nl_check_factor(factor)
  mode <- nl_check_choice(mode, c("rows", "columns"))
  nl_family_object("regularizer", "OrthogonalRegularizer",
                   list(factor = factor, mode = mode))
}

# `NULL` means `default`, as in Keras.
nl_check_factor <- function(x, arg = rlang::caller_arg(x), default = NULL,
                            call = rlang::caller_env()) {
  if (is.null(x) && !is.null(default)) {
    return(default)
  }
  nl_check_number(x, arg = arg, min = 0, call = call,
                  what = "a finite, non-negative number")
}

nl_regularizer_registry <- function() {
  list(
    L1 = nl_registry_entry(regularizer_l1, c("l1", "L1")),
    L2 = nl_registry_entry(regularizer_l2, c("l2", "L2")),
    L1L2 = nl_registry_entry(
      regularizer_l1_l2, c("l1l2", "L1L2"),
      special = list(l1_l2 = list(l1 = 0.01, l2 = 0.01))
    ),
    OrthogonalRegularizer = nl_registry_entry(
      regularizer_orthogonal,
      c("orthogonal_regularizer", "OrthogonalRegularizer")
    )
  )
}

# ---- Resolving and applying ---------------------------------------------

nl_get_regularizer <- function(x, arg = rlang::caller_arg(x),
                               call = rlang::caller_env()) {
  nl_resolve(x, "regularizer", arg, call, null_ok = TRUE)
}

# A NULL regularizer has penalty 0 and gradient 0.
nl_regularizer_penalty <- function(reg, w, call = rlang::caller_env()) {
  if (is.null(reg)) {
    return(0)
  }
  cfg <- reg$config
  switch(reg$class_name,
    L1 = nl_l1l2_penalty(cfg$l1, 0, w),
    L2 = nl_l1l2_penalty(0, cfg$l2, w),
    L1L2 = nl_l1l2_penalty(cfg$l1, cfg$l2, w),
    OrthogonalRegularizer = nl_orthogonal_penalty(cfg, w, call)$penalty,
    RFunction = nl_function_penalty(cfg$fn, w, call)
  )
}

nl_regularizer_gradient <- function(reg, w, call = rlang::caller_env()) {
  cfg <- reg$config
  grad <- if (is.null(reg)) 0 else switch(reg$class_name,
    L1 = nl_l1l2_gradient(cfg$l1, 0, w),
    L2 = nl_l1l2_gradient(0, cfg$l2, w),
    L1L2 = nl_l1l2_gradient(cfg$l1, cfg$l2, w),
    OrthogonalRegularizer = nl_orthogonal_penalty(cfg, w, call)$gradient,
    RFunction = nl_function_gradient(cfg$fn, w, call)
  )
  out <- w
  out[] <- as.double(grad)
  out
}

# The largest weight whose gradient may be found by finite differences when a
# regularizer function does not supply its gradient (2 evaluations per value).
nl_fd_max_values <- 64

# The gradient of a regularizer function: its "gradient" attribute (a function
# of the weight returning an array like it) when it has one, else the gradient
# derived from its body (R/regularizer-derive.R); otherwise central finite
# differences, only for weights of at most nl_fd_max_values values.
nl_function_gradient <- function(fn, w, call) {
  gfn <- attr(fn, "gradient", exact = TRUE) %||% nl_derived_gradient(fn)
  if (!is.null(gfn)) {
    g <- gfn(w)
    if (!is.numeric(g) || length(g) != length(w) || anyNA(g)) {
      nl_abort(c("The gradient of a regularizer function must be a numeric array like the weight.",
                 x = "For a weight of {length(w)} value{?s} it returned {nl_describe(g)}."),
               kind = "regularizer", call = call)
    }
    return(g)
  }
  nl_check_function_gradient(fn, length(w), call = call)
  nl_numeric_gradient(function(v) nl_function_penalty(fn, v, call), w)
}

# Refuses a regularizer function without a gradient on a weight too large for
# finite differences (which cost two penalty evaluations per value).
nl_check_function_gradient <- function(fn, n, what = "a weight", call = rlang::caller_env()) {
  if (!is.null(attr(fn, "gradient", exact = TRUE)) || n <= nl_fd_max_values ||
      !is.null(nl_derived_gradient(fn))) {
    return(invisible(TRUE))
  }
  nl_abort(c("A regularizer function on {what} of {n} values needs its gradient.",
             x = "Finite differences would evaluate the function {2 * n} times per training step.",
             i = "Attach the gradient: {.code attr(f, \"gradient\") <- function(w) <array like w>}, e.g. {.code 2 * 0.01 * w} for {.code function(w) 0.01 * sum(w^2)}.",
             i = "Built-in regularizers such as {.fn regularizer_l2} have analytic gradients."),
           kind = "regularizer", call = call)
}

# Terms with a zero factor are skipped (as in Keras), so they add nothing
# even for infinite weights. The L1 gradient uses sign(w), 0 at 0.
nl_l1l2_penalty <- function(l1, l2, w) {
  (if (l1 > 0) l1 * sum(abs(w)) else 0) + (if (l2 > 0) l2 * sum(w^2) else 0)
}

nl_l1l2_gradient <- function(l1, l2, w) {
  (if (l1 > 0) l1 * sign(w) else 0) + (if (l2 > 0) 2 * l2 * w else 0)
}

nl_function_penalty <- function(fn, w, call) {
  value <- fn(w)
  if (!is.numeric(value) || length(value) != 1 || is.na(value)) {
    nl_abort(
      c("A regularizer function must return a single number.",
        x = "It returned {nl_describe(value)}."),
      kind = "regularizer", call = call
    )
  }
  as.double(value)
}

# Central finite differences with step 1e-6 * max(1, |w|).
nl_numeric_gradient <- function(f, w) {
  grad <- numeric(length(w))
  for (i in seq_along(w)) {
    h <- 1e-6 * max(1, abs(w[[i]]))
    up <- w
    down <- w
    up[[i]] <- w[[i]] + h
    down[[i]] <- w[[i]] - h
    grad[[i]] <- (f(up) - f(down)) / (2 * h)
  }
  grad
}

# Penalty and analytic gradient of the orthogonal regularizer.
nl_orthogonal_penalty <- function(cfg, w, call) {
  if (length(dim(w)) != 2) {
    nl_abort(
      c("The orthogonal regularizer needs a 2-D weight.",
        x = "The weight is {nl_describe(w)}."),
      kind = "regularizer", call = call
    )
  }
  m <- if (cfg$mode == "rows") w else t(w)
  m <- matrix(as.double(m), nrow(m), ncol(m))
  k <- nrow(m)
  if (k < 2) {
    return(list(penalty = 0, gradient = array(0, dim(w))))
  }
  # Rows scaled to unit length: u = m / max(|m_i|, 1e-7).
  norms <- sqrt(rowSums(m^2))
  d <- pmax(norms, 1e-7)
  u <- m / d
  p <- tcrossprod(u)
  diag(p) <- 0
  coef <- cfg$factor * 0.5 / (k * (k - 1) / 2)
  penalty <- coef * sum(abs(p))
  # d penalty / d u = 2 * G %*% u, with G = coef * sign(P) (zero diagonal).
  gu <- 2 * coef * sign(p) %*% u
  # Through the normalization: rows with norm above the floor lose the
  # radial component.
  radial <- rowSums(gu * u) * (norms > 1e-7)
  gm <- (gu - radial * u) / d
  gradient <- if (cfg$mode == "rows") gm else t(gm)
  list(penalty = penalty, gradient = gradient)
}
