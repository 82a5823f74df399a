# Gradients of regularizer functions derived from their body. A penalty
# written with sums or means of element-wise expressions of the weight, such as
#   function(w) 0.01 * sum(w^2)
#   function(w) 1e-3 * sum(abs(w)) + 1e-4 * mean(sqrt(w^2 + 1e-6))
#   function(w) 0.1 * sqrt(sum(w^2))
# has a gradient that is itself an R expression of the weight: it is built
# here once per function (symbolically, as stats::D() does for one variable)
# and evaluated at each training step, at about the cost of the penalty. The
# gradient of abs() is sign(), 0 at 0, as the L1 regularizer's. Functions
# outside this form get NULL (finite differences or a gradient attribute are
# then needed, see nl_function_gradient()).

# The element-wise functions understood, with their derivative as a function
# of the argument expression `u`.
nl_derivatives <- list(
  exp = function(u) call("exp", u),
  log = function(u) call("/", 1, u),
  sqrt = function(u) call("/", 0.5, call("sqrt", u)),
  abs = function(u) call("sign", u),
  sin = function(u) call("cos", u),
  cos = function(u) call("-", call("sin", u)),
  tanh = function(u) call("-", 1, call("^", call("tanh", u), 2)),
  log1p = function(u) call("/", 1, call("+", 1, u)),
  expm1 = function(u) call("exp", u)
)

# Derived gradient functions, by the address of the regularizer function
# (checked with identical(), so a reused address is never mistaken).
.nl_derived <- new.env(parent = emptyenv())

# The gradient function of regularizer function `fn`, or NULL when its body is
# not of the form above.
nl_derived_gradient <- function(fn) {
  if (!is.function(fn) || is.primitive(fn)) return(NULL)
  key <- rlang::obj_address(fn)
  hit <- .nl_derived[[key]]
  if (!is.null(hit) && identical(hit$fn, fn)) return(hit$grad)
  grad <- tryCatch(nl_derive_gradient(fn), error = function(e) NULL)
  if (length(.nl_derived) >= 100) rm(list = ls(.nl_derived, all.names = TRUE), envir = .nl_derived)
  assign(key, list(fn = fn, grad = grad), envir = .nl_derived)
  grad
}

nl_derive_gradient <- function(fn) {
  args <- formals(fn)
  if (length(args) < 1 || names(args)[1] == "...") return(NULL)
  # every other argument needs a default (the penalty is called with the weight alone)
  others <- args[-1]
  if (any(vapply(others, function(a) identical(a, quote(expr = )), logical(1)))) return(NULL)
  v <- names(args)[1]
  e <- body(fn)
  while (is.call(e) && identical(e[[1]], as.name("{")) && length(e) == 2) e <- e[[2]]
  env <- environment(fn)
  g <- nl_d(e, as.name(v), env)
  if (is.null(g)) return(NULL)
  g <- call("rep_len", call("as.double", g), call("length", as.name(v)))
  out <- eval(call("function", as.pairlist(args), g), env)
  out
}

# Whether expression `e` involves the weight `v`.
nl_involves <- function(e, v) as.character(v) %in% all.names(e)

# Whether `name` means base R's function of that name where `fn` runs.
nl_is_base <- function(name, env) {
  f <- get0(name, envir = env, mode = "function")
  !is.null(f) && identical(f, get(name, envir = baseenv()))
}

# The gradient of expression `e` with respect to the weight `v` (an
# expression of the weight, element-wise or a single value), or NULL. With
# `elem = FALSE`, `e` is a penalty (a single number): the weight appears only
# inside sum() and mean(), whose arguments are element-wise expressions
# (`elem = TRUE`, where the weight itself has gradient 1).
nl_d <- function(e, v, env, elem = FALSE) {
  if (elem && identical(e, v)) return(1)
  if (!nl_involves(e, v)) return(0)
  if (!is.call(e) || !is.name(e[[1]])) return(NULL)
  f <- as.character(e[[1]])
  if (!nl_is_base(f, env)) return(NULL)
  if (f == "length") return(0)  # the number of values does not depend on them
  a <- as.list(e)[-1]
  if (!is.null(names(a)) && any(names(a) != "")) return(NULL)
  d <- function(x) nl_d(x, v, env, elem)
  if (f == "(") return(d(a[[1]]))
  if (!is.null(nl_derivatives[[f]]) && length(a) == 1) {
    # exp(w), or a function of a penalty such as sqrt(sum(w^2))
    du <- d(a[[1]])
    return(if (!is.null(du)) nl_mul(nl_derivatives[[f]](a[[1]]), du))
  }
  if (!elem && f %in% c("sum", "mean")) {
    if (length(a) != 1) return(NULL)
    du <- nl_d(a[[1]], v, env, elem = TRUE)
    return(if (!is.null(du) && f == "mean") nl_div(du, call("length", v)) else du)
  }
  nl_d_rules(f, a, d)
}

# Sum, difference, product, quotient and constant-power rules, for penalties
# and element-wise expressions alike; `d` differentiates a part.
nl_d_rules <- function(f, a, d) {
  n <- length(a)
  if (f %in% c("+", "-") && n == 1) {
    d1 <- d(a[[1]])
    if (is.null(d1)) return(NULL)
    return(if (f == "+") d1 else nl_neg(d1))
  }
  if (n != 2 || !(f %in% c("+", "-", "*", "/", "^"))) return(NULL)
  u <- a[[1]]
  w <- a[[2]]
  du <- d(u)
  if (is.null(du)) return(NULL)
  if (f == "^") {
    # u^c for a constant c
    if (!identical(d(w), 0)) return(NULL)
    return(nl_mul(nl_mul(w, call("^", u, call("-", w, 1))), du))
  }
  dw <- d(w)
  if (is.null(dw)) return(NULL)
  switch(f,
    "+" = nl_add(du, dw),
    "-" = nl_add(du, nl_neg(dw)),
    "*" = nl_add(nl_mul(du, w), nl_mul(u, dw)),
    "/" = if (identical(dw, 0)) nl_div(du, w) else
      nl_div(nl_add(nl_mul(du, w), nl_neg(nl_mul(u, dw))), call("^", w, 2))
  )
}

# Expression builders that drop the zeros and ones of the rules.
nl_add <- function(a, b) {
  if (identical(a, 0)) return(b)
  if (identical(b, 0)) return(a)
  call("+", a, b)
}
nl_neg <- function(a) if (identical(a, 0)) 0 else call("-", a)
nl_mul <- function(a, b) {
  if (identical(a, 0) || identical(b, 0)) return(0)
  if (identical(a, 1)) return(b)
  if (identical(b, 1)) return(a)
  call("*", nl_paren(a), nl_paren(b))
}
nl_div <- function(a, b) if (identical(a, 0)) 0 else call("/", nl_paren(a), nl_paren(b))
nl_paren <- function(e) if (is.call(e)) call("(", e) else e
