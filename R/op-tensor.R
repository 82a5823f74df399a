# Tensor ops on R arrays, with keras3's names, arguments and 1-based axes. A
# tensor is an R array (dim() is its shape, the batch is dim 1); a 0-d tensor
# is a plain number. Results are R arrays.

# ---- helpers -------------------------------------------------------------------

# An op input as a double (or integer/logical) array with a dim attribute;
# vectors become 1-d arrays, single numbers stay 0-d (no dim).
nl_op_array <- function(x, arg = rlang::caller_arg(x), keep_type = FALSE,
                        call = rlang::caller_env()) {
  if (inherits(x, "nl_symbolic_tensor")) {
    nl_abort(c("{.arg {arg}} is a symbolic tensor; {.fn {nl_op_name(call)}} computes on arrays.",
               i = "Inside a model, use layers (e.g. {.fn layer_add}) or arithmetic ({.code x + y}) on symbolic tensors."),
             "type", call = call)
  }
  if (is.data.frame(x)) return(nl_as_input(x, arg = arg, call = call)$x)
  if (!(is.numeric(x) || is.logical(x)) || is.factor(x)) {
    nl_abort(c("{.arg {arg}} must be a numeric array, vector or number.",
               x = "You supplied {nl_describe(x)}."), "type", call = call)
  }
  attrs <- attributes(x)
  d <- dim(x)
  if (!keep_type || is.logical(x)) storage.mode(x) <- "double"
  attributes(x) <- NULL
  if (!is.null(d)) dim(x) <- d else if (length(x) != 1) dim(x) <- length(x)
  x
}

nl_op_name <- function(call) {
  fn <- tryCatch(rlang::frame_call(call)[[1]], error = function(e) NULL)
  if (is.name(fn)) as.character(fn) else "op"
}

nl_op_dims <- function(x) if (is.null(dim(x))) integer() else as.integer(dim(x))

# Gives `v` the shape `d` (rank 0: a plain number).
nl_op_result <- function(v, d) {
  if (length(d) == 0) {
    dim(v) <- NULL
    return(v)
  }
  dim(v) <- d
  v
}

# dtype string -> R storage mode ("double", "integer", "logical").
nl_dtype_mode <- function(dtype, arg = "dtype", call = rlang::caller_env()) {
  if (is.null(dtype)) return(NULL)
  nl_check_string(dtype, arg, empty_ok = TRUE, what = "a single string such as {.val float32}",
                  kind = "dtype", call = call)
  if (dtype %in% nl_float_dtypes) return("double")
  if (dtype %in% c("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                   "uint64", "integer")) return("integer")
  if (dtype %in% c("bool", "logical")) return("logical")
  nl_abort(c("{.arg {arg}} must be a known data type.", x = "You supplied {.val {dtype}}.",
             i = "Use {.val float32}, {.val float64}, {.val int32} or {.val bool}."),
           "dtype", call = call)
}

nl_float_dtypes <- c("float16", "bfloat16", "float32", "float64", "double")

nl_op_cast_mode <- function(x, mode) {
  if (is.null(mode)) return(x)
  if (mode == "integer" && is.double(x)) x <- trunc(x)
  storage.mode(x) <- mode
  x
}

# The axes an op reduces over: NULL means all of them.
nl_op_axes <- function(axis, rank, arg = "axis", call = rlang::caller_env()) {
  if (is.null(axis)) return(seq_len(rank))
  axis <- nl_check_axis_arg(axis, arg, call = call)
  if (rank == 0) {
    nl_abort(c("{.arg {arg}} cannot be used on a 0-d tensor (a single number).",
               i = "Use {.code {arg} = NULL}."), "axis", call = call)
  }
  nl_resolve_axes(axis, rank, arg = arg, call = call)
}

# Broadcast shape of two shapes (numpy rules: align on the last axis).
nl_broadcast_shape <- function(a, b, call = rlang::caller_env()) {
  n <- max(length(a), length(b))
  a2 <- c(rep(1L, n - length(a)), a)
  b2 <- c(rep(1L, n - length(b)), b)
  bad <- !is.na(a2) & !is.na(b2) & a2 != b2 & a2 != 1L & b2 != 1L
  if (any(bad)) {
    nl_abort(c("Inputs have incompatible shapes.",
               x = "Received shapes {nl_format_shape(a)} and {nl_format_shape(b)}.",
               i = "Sizes must match, or be 1, on each axis counted from the last."),
             "shape", call = call)
  }
  # Keras: an unknown size gives an unknown size; otherwise a 1 stretches
  out <- ifelse(is.na(a2) | is.na(b2), NA_integer_, pmax(a2, b2))
  i <- which(!is.na(a2) & !is.na(b2) & a2 == 1L)
  out[i] <- b2[i]
  i <- which(!is.na(a2) & !is.na(b2) & b2 == 1L)
  out[i] <- a2[i]
  as.integer(out)
}

# Expands an array to shape `d` (a broadcastable target), in column-major order.
nl_broadcast_to <- function(x, d) {
  dx <- nl_op_dims(x)
  n <- length(d)
  dx <- c(rep(1L, n - length(dx)), dx)
  if (identical(dx, as.integer(d))) return(nl_op_result(as.vector(x), d))
  if (length(x) == 1) return(nl_op_result(rep(as.vector(x), prod(d)), d))
  stride <- cumprod(c(1, dx))[seq_len(n)]
  idx <- 0
  for (k in seq_len(n)) {
    ck <- if (dx[k] == 1L) rep(0, d[k]) else (seq_len(d[k]) - 1) * stride[k]
    idx <- as.vector(outer(idx, ck, "+"))
  }
  nl_op_result(as.vector(x)[idx + 1], d)
}

# Sums a gradient of shape dim(g) down to `d` (undoing a broadcast).
nl_unbroadcast <- function(g, d) {
  dg <- nl_op_dims(g)
  if (identical(dg, as.integer(d))) return(g)
  n <- length(dg)
  d2 <- c(rep(1L, n - length(d)), d)
  axes <- which(d2 == 1L & dg != 1L)
  if (length(axes)) {
    kept <- setdiff(seq_len(n), axes)
    m <- if (length(kept)) aperm(g, c(kept, axes)) else g
    dim(m) <- c(prod(dg[kept]), prod(dg[axes]))
    g <- rowSums(m)
  }
  nl_op_result(as.vector(g), d)
}

nl_op_binary <- function(x1, x2, f, call = rlang::caller_env()) {
  a <- nl_op_array(x1, "x1", call = call)
  b <- nl_op_array(x2, "x2", call = call)
  d <- nl_broadcast_shape(nl_op_dims(a), nl_op_dims(b), call = call)
  if (length(a) == 1 || length(b) == 1 || identical(nl_op_dims(a), nl_op_dims(b))) {
    v <- f(as.vector(a), as.vector(b))
  } else {
    v <- f(as.vector(nl_broadcast_to(a, d)), as.vector(nl_broadcast_to(b, d)))
  }
  nl_op_result(v, d)
}

nl_op_unary <- function(x, f, call = rlang::caller_env()) {
  a <- nl_op_array(x, "x", call = call)
  nl_op_result(f(as.vector(a)), nl_op_dims(a))
}

# Reduction over axes: `how` is "sum", "mean", "var", "std", "max", "min", "prod".
nl_op_reduce <- function(x, axis, keepdims, how, call = rlang::caller_env()) {
  a <- nl_op_array(x, "x", call = call)
  keepdims <- nl_check_flag(keepdims, "keepdims", call = call)
  d <- nl_op_dims(a)
  r <- length(d)
  axes <- nl_op_axes(axis, r, call = call)
  out_d <- if (keepdims) replace(d, axes, 1L) else d[setdiff(seq_len(r), axes)]
  if (r == 0) return(switch(how, var = 0, std = 0, as.vector(a)))
  if (how %in% c("mean", "var", "std")) {
    mom <- nl_kernel_moments(a, nl_runs(d, axes))
    v <- switch(how, mean = mom$mean, var = mom$var, std = sqrt(mom$var))
    return(nl_op_result(v, out_d))
  }
  kept <- setdiff(seq_len(r), axes)
  m <- if (length(kept) && !identical(c(kept, axes), seq_len(r))) aperm(a, c(kept, axes)) else a
  dim(m) <- c(prod(d[kept]), prod(d[axes]))
  v <- switch(how,
    sum = rowSums(m),
    prod = apply(m, 1, prod),
    max = if (nrow(m) == 1) max(m) else apply(m, 1, max),
    min = if (nrow(m) == 1) min(m) else apply(m, 1, min)
  )
  nl_op_result(v, out_d)
}

# ---- creation -----------------------------------------------------------------

#' Create tensors
#'
#' `op_ones()`, `op_zeros()` and `op_full()` create arrays of a given shape;
#' `op_ones_like()`, `op_zeros_like()` and `op_full_like()` take the shape of
#' another array; `op_eye()` creates an identity matrix; `op_arange()` creates
#' evenly spaced values in the interval `[start, end]` (keras3 includes `end`
#' by default, like R's `seq()`; with a single argument it starts at 1).
#'
#' Arrays are doubles unless `dtype` names an integer (`"int32"`, ...) or
#' boolean type. normlayers computes in double precision, so `"float32"` and
#' `"float64"` both give doubles.
#'
#' @param shape The shape: a [shape()] or a vector of whole numbers.
#' @param dtype `NULL` or a data type string: `"float32"`, `"float64"`,
#'   `"int32"`, `"bool"`, ...
#' @param fill_value The value to fill with.
#' @param x An array whose shape is used.
#' @param N,M Number of rows and columns (`M = NULL` means `N`).
#' @param k Index of the diagonal: 0 is the main one, positive values above
#'   it, negative below.
#' @param start,end,step The interval `[start, end]` and the spacing. With
#'   only `start`, the values are `1, 2, ..., start`.
#' @param include_end If `FALSE`, `end` is left out.
#' @returns An R array (a number for a 0-d shape).
#' @export
#' @family ops
#' @examples
#' op_ones(c(2, 3))
#' op_zeros(shape(2, 2), dtype = "int32")
#' op_full(3, 7)
#' op_eye(3)
#' op_arange(3)
#' op_arange(3L, 7L, 2L)
#' op_arange(0, 1, 0.25, include_end = FALSE)
op_ones <- function(shape, dtype = NULL) {
  d <- nl_known_dims(shape, "shape")
  nl_op_cast_mode(nl_op_result(rep(1, prod(d)), d), nl_dtype_mode(dtype))
}

#' @rdname op_ones
#' @export
op_zeros <- function(shape, dtype = NULL) {
  d <- nl_known_dims(shape, "shape")
  nl_op_cast_mode(nl_op_result(rep(0, prod(d)), d), nl_dtype_mode(dtype))
}

#' @rdname op_ones
#' @export
op_full <- function(shape, fill_value, dtype = NULL) {
  d <- nl_known_dims(shape, "shape")
  mode <- nl_dtype_mode(dtype)
  v <- nl_op_array(fill_value, "fill_value", keep_type = TRUE)
  dv <- nl_op_dims(v)
  fits <- length(dv) <= length(d) &&
    all(dv == 1L | dv == d[length(d) - length(dv) + seq_along(dv)])
  if (!fits) {
    nl_abort(c("{.arg fill_value} must broadcast to {.arg shape}.",
               x = "{.arg fill_value} has shape {nl_format_shape(nl_op_dims(v))}, {.arg shape} is {nl_format_shape(d)}."),
             "shape")
  }
  nl_op_cast_mode(nl_broadcast_to(v, d), mode)
}

#' @rdname op_ones
#' @export
op_ones_like <- function(x, dtype = NULL) {
  # errors of the inner op report this call
  nl_with_call(rlang::current_call(), {
    a <- nl_op_array(x, "x")
    op_ones(nl_op_dims(a), dtype = dtype)
  })
}

#' @rdname op_ones
#' @export
op_zeros_like <- function(x, dtype = NULL) {
  # errors of the inner op report this call
  nl_with_call(rlang::current_call(), {
    a <- nl_op_array(x, "x")
    op_zeros(nl_op_dims(a), dtype = dtype)
  })
}

#' @rdname op_ones
#' @export
op_full_like <- function(x, fill_value, dtype = NULL) {
  # errors of the inner op report this call
  nl_with_call(rlang::current_call(), {
    a <- nl_op_array(x, "x")
    op_full(nl_op_dims(a), fill_value, dtype = dtype)
  })
}

#' @rdname op_ones
#' @export
op_eye <- function(N, M = NULL, k = 0L, dtype = NULL) {
  N <- as.integer(nl_check_count(N, "N"))
  M <- if (is.null(M)) N else as.integer(nl_check_count(M, "M"))
  k <- nl_check_count(k, "k", min = -Inf)
  out <- matrix(0, N, M)
  i <- seq_len(N)
  j <- i + k
  ok <- j >= 1 & j <= M
  out[cbind(i[ok], j[ok])] <- 1
  nl_op_cast_mode(out, nl_dtype_mode(dtype))
}

#' @rdname op_ones
#' @export
op_arange <- function(start, end, step = 1L, dtype = NULL, include_end = TRUE) {
  if (missing(end)) {
    end <- start
    start <- if (is.integer(end)) 1L else 1
  }
  mode <- nl_dtype_mode(dtype)
  nl_check_number(start, "start")
  nl_check_number(end, "end")
  nl_check_number(step, "step")
  if (step == 0) nl_abort(c("{.arg step} cannot be 0.", i = "Use a positive or negative spacing."), "value")
  include_end <- nl_check_flag(include_end, "include_end")
  # number of values in [start, end] (or [start, end)), guarding round-off
  span <- (end - start) / step
  n <- if (span < 0) 0 else floor(span + 1e-10) + 1
  if (!include_end && n > 0 && abs(start + (n - 1) * step - end) <= 1e-10 * max(1, abs(end))) n <- n - 1
  v <- start + (seq_len(n) - 1) * step
  if (is.null(mode)) {
    if (is.integer(start) && is.integer(end) && is.integer(step)) storage.mode(v) <- "integer"
  } else {
    v <- nl_op_cast_mode(v, mode)
  }
  nl_op_result(v, length(v))
}

#' Convert to a tensor, or change its type
#'
#' In normlayers a tensor is an R array, so `op_convert_to_tensor()` returns
#' its input as an array (a vector becomes a 1-d array, a data frame a
#' matrix) and `op_cast()` changes its storage type. Casting a double to an
#' integer type truncates toward zero, as Keras does.
#'
#' @param x A numeric or logical vector, array or data frame.
#' @param dtype `NULL` (keep the type; logicals become doubles in
#'   `op_convert_to_tensor()`) or a data type string such as `"float32"` or
#'   `"int32"`.
#' @param sparse,ragged Accepted for compatibility with keras3: only `NULL` or
#'   `FALSE` (normlayers has no sparse or ragged tensors).
#' @returns An R array or number.
#' @export
#' @family ops
#' @examples
#' op_convert_to_tensor(c(1, 2, 3))
#' op_convert_to_tensor(c(1.7, 2.2), dtype = "int32")
#' op_cast(c(-1.5, 2.5), "int32")
op_convert_to_tensor <- function(x, dtype = NULL, sparse = NULL, ragged = NULL) {
  for (a in list(list(sparse, "sparse"), list(ragged, "ragged"))) {
    if (!is.null(a[[1]]) && !identical(a[[1]], FALSE)) {
      nl_abort(c("{.arg {a[[2]]}} tensors are not supported by normlayers.",
                 x = "You supplied {.arg {a[[2]]}} = {nl_describe(a[[1]])}.",
                 i = "Use {.code {a[[2]]} = NULL} (dense R arrays)."), "unsupported")
    }
  }
  mode <- nl_dtype_mode(dtype)
  a <- nl_op_array(x, "x", keep_type = TRUE)
  if (is.logical(x) && is.null(mode)) mode <- "double"
  nl_op_cast_mode(a, mode)
}

#' @rdname op_convert_to_tensor
#' @export
op_cast <- function(x, dtype) {
  if (missing(dtype)) nl_abort(c("{.arg dtype} is missing.", i = "Give a type such as {.val float32}."), "missing")
  mode <- nl_dtype_mode(dtype)
  nl_op_cast_mode(nl_op_array(x, "x", keep_type = TRUE), mode)
}

#' @rdname op_convert_to_tensor
#' @export
op_convert_to_array <- function(x) {
  nl_op_array(x, "x", keep_type = TRUE)
}

# ---- reductions -----------------------------------------------------------------

#' Reductions over axes
#'
#' Sum, mean, variance, standard deviation, maximum, minimum and product over
#' `axis` (all axes when `NULL`). Axes are 1-based, negative values count from
#' the end (`-1` is the last axis), as everywhere in keras3. The variance and
#' standard deviation are the population ones (divided by N), as in Keras.
#'
#' @param x A numeric array, vector or data frame.
#' @param axis `NULL` (reduce everything) or the axis or axes to reduce.
#' @param keepdims If `TRUE`, the reduced axes are kept with size 1.
#' @param initial For `op_max()`/`op_min()`: `NULL` or a number the result is
#'   compared with.
#' @returns An R array, or a number when every axis is reduced (and
#'   `keepdims = FALSE`).
#' @export
#' @family ops
#' @examples
#' x <- rbind(c(1, 2, 3), c(4, 6, 8))
#' op_sum(x)
#' op_mean(x, axis = 1)   # per column
#' op_mean(x, axis = -1)  # per row
#' op_var(x, axis = 2, keepdims = TRUE)
#' op_std(c(2, 4, 4, 4, 5, 5, 7, 9))
#' op_max(x, axis = 1)
op_sum <- function(x, axis = NULL, keepdims = FALSE) nl_op_reduce(x, axis, keepdims, "sum")

#' @rdname op_sum
#' @export
op_mean <- function(x, axis = NULL, keepdims = FALSE) nl_op_reduce(x, axis, keepdims, "mean")

#' @rdname op_sum
#' @export
op_var <- function(x, axis = NULL, keepdims = FALSE) nl_op_reduce(x, axis, keepdims, "var")

#' @rdname op_sum
#' @export
op_std <- function(x, axis = NULL, keepdims = FALSE) nl_op_reduce(x, axis, keepdims, "std")

#' @rdname op_sum
#' @export
op_prod <- function(x, axis = NULL, keepdims = FALSE, dtype = NULL) {
  nl_op_cast_mode(nl_op_reduce(x, axis, keepdims, "prod"), nl_dtype_mode(dtype))
}

#' @rdname op_sum
#' @param dtype For `op_prod()`: `NULL` or the data type of the result.
#' @export
op_max <- function(x, axis = NULL, keepdims = FALSE, initial = NULL) {
  out <- nl_op_reduce(x, axis, keepdims, "max")
  if (!is.null(initial)) out <- nl_op_keep_dim(pmax(out, nl_check_number(initial, "initial")), out)
  out
}

#' @rdname op_sum
#' @export
op_min <- function(x, axis = NULL, keepdims = FALSE, initial = NULL) {
  out <- nl_op_reduce(x, axis, keepdims, "min")
  if (!is.null(initial)) out <- nl_op_keep_dim(pmin(out, nl_check_number(initial, "initial")), out)
  out
}

nl_op_keep_dim <- function(v, like) nl_op_result(as.vector(v), nl_op_dims(like))

#' Index of the maximum or minimum
#'
#' 1-based indices (keras3's default, `zero_indexed = FALSE`) of the largest
#' or smallest value along `axis` (of the flattened array, in row-major order
#' as Keras flattens, when `axis = NULL`). Ties give the first index.
#'
#' @inheritParams op_sum
#' @param zero_indexed If `TRUE`, indices start at 0 as in Python.
#' @returns An integer array or number.
#' @export
#' @family ops
#' @examples
#' x <- rbind(c(1, 9, 3), c(8, 2, 7))
#' op_argmax(x, axis = -1)
#' op_argmin(x, axis = 1)
op_argmax <- function(x, axis = NULL, keepdims = FALSE, zero_indexed = FALSE) {
  nl_op_arg_extreme(x, axis, keepdims, zero_indexed, which.max)
}

#' @rdname op_argmax
#' @export
op_argmin <- function(x, axis = NULL, keepdims = FALSE, zero_indexed = FALSE) {
  nl_op_arg_extreme(x, axis, keepdims, zero_indexed, which.min)
}

nl_op_arg_extreme <- function(x, axis, keepdims, zero_indexed, f, call = rlang::caller_env()) {
  a <- nl_op_array(x, "x", call = call)
  keepdims <- nl_check_flag(keepdims, "keepdims", call = call)
  zero_indexed <- nl_check_flag(zero_indexed, "zero_indexed", call = call)
  d <- nl_op_dims(a)
  off <- if (zero_indexed) 1L else 0L
  if (is.null(axis)) {
    v <- if (length(d) > 1) as.vector(aperm(a, rev(seq_along(d)))) else as.vector(a)
    i <- as.integer(f(v)) - off
    return(if (keepdims) nl_op_result(i, rep(1L, length(d))) else i)
  }
  ax <- nl_op_axes(axis, length(d), call = call)
  if (length(ax) != 1) nl_abort("{.arg axis} must be a single axis.", "axis", call = call)
  kept <- setdiff(seq_along(d), ax)
  m <- aperm(a, c(kept, ax))
  dim(m) <- c(prod(d[kept]), d[ax])
  i <- as.integer(apply(m, 1, f)) - off
  nl_op_result(i, if (keepdims) replace(d, ax, 1L) else d[kept])
}

# ---- element-wise -----------------------------------------------------------------

#' Element-wise math
#'
#' Functions applied to every element of an array; the result has the shape
#' of `x`. `op_relu()`, `op_sigmoid()` and `op_tanh()` are the activations.
#'
#' @param x A numeric array, vector or number.
#' @param decimals For `op_round()`: number of decimals.
#' @returns An R array (or a number) of the shape of `x`.
#' @export
#' @family ops
#' @examples
#' x <- rbind(c(-1, 4), c(9, -16))
#' op_abs(x)
#' op_sqrt(op_abs(x))
#' op_square(x)
#' op_relu(x)
op_abs <- function(x) nl_op_unary(x, abs)

#' @rdname op_abs
#' @export
op_absolute <- op_abs

#' @rdname op_abs
#' @export
op_sqrt <- function(x) nl_op_unary(x, sqrt)

#' @rdname op_abs
#' @export
op_rsqrt <- function(x) nl_op_unary(x, function(v) 1 / sqrt(v))

#' @rdname op_abs
#' @export
op_square <- function(x) nl_op_unary(x, function(v) v * v)

#' @rdname op_abs
#' @export
op_exp <- function(x) nl_op_unary(x, exp)

#' @rdname op_abs
#' @export
op_log <- function(x) nl_op_unary(x, log)

#' @rdname op_abs
#' @export
op_log1p <- function(x) nl_op_unary(x, log1p)

#' @rdname op_abs
#' @export
op_negative <- function(x) nl_op_unary(x, function(v) -v)

#' @rdname op_abs
#' @export
op_sign <- function(x) nl_op_unary(x, sign)

#' @rdname op_abs
#' @export
op_floor <- function(x) nl_op_unary(x, floor)

#' @rdname op_abs
#' @export
op_ceil <- function(x) nl_op_unary(x, ceiling)

#' @rdname op_abs
#' @export
op_round <- function(x, decimals = 0L) {
  decimals <- as.integer(nl_check_count(decimals, "decimals", min = -Inf,
                                        hint = "A negative number rounds to tens, hundreds, ..."))
  # numpy rounds half to even, as R's round() does
  nl_op_unary(x, function(v) round(v, decimals))
}

#' @rdname op_abs
#' @export
op_relu <- function(x) nl_op_unary(x, function(v) pmax(v, 0))

#' @rdname op_abs
#' @export
op_sigmoid <- function(x) nl_op_unary(x, stats::plogis)

#' @rdname op_abs
#' @export
op_tanh <- function(x) nl_op_unary(x, tanh)

#' Element-wise arithmetic with broadcasting
#'
#' Add, subtract, multiply, divide, raise to a power, or take the larger or
#' smaller of two arrays element by element. Shapes broadcast as in Keras
#' (NumPy): aligned on the last axis, a size of 1 stretches. So a vector of
#' length `p` combines with each row of an `n x p` matrix (unlike R's own
#' recycling, which runs down the columns).
#'
#' @param x1,x2 Numeric arrays, vectors or numbers.
#' @param x,x_min,x_max For `op_clip()`: the array and the bounds.
#' @returns An R array of the broadcast shape.
#' @export
#' @family ops
#' @examples
#' x <- rbind(c(1, 2, 3), c(4, 5, 6))
#' op_add(x, c(10, 20, 30))      # added to each row
#' op_multiply(x, 2)
#' op_subtract(x, op_mean(x, axis = 1, keepdims = TRUE))
#' op_maximum(x, 3)
#' op_clip(x, 2, 5)
op_add <- function(x1, x2) nl_op_binary(x1, x2, `+`)

#' @rdname op_add
#' @export
op_subtract <- function(x1, x2) nl_op_binary(x1, x2, `-`)

#' @rdname op_add
#' @export
op_multiply <- function(x1, x2) nl_op_binary(x1, x2, `*`)

#' @rdname op_add
#' @export
op_divide <- function(x1, x2) nl_op_binary(x1, x2, `/`)

#' @rdname op_add
#' @export
op_power <- function(x1, x2) nl_op_binary(x1, x2, `^`)

#' @rdname op_add
#' @export
op_maximum <- function(x1, x2) nl_op_binary(x1, x2, pmax)

#' @rdname op_add
#' @export
op_minimum <- function(x1, x2) nl_op_binary(x1, x2, pmin)

#' @rdname op_add
#' @export
op_clip <- function(x, x_min, x_max) {
  lo <- nl_check_number(x_min, "x_min")
  hi <- nl_check_number(x_max, "x_max")
  nl_op_unary(x, function(v) pmin(pmax(v, lo), hi))
}

# ---- shapes --------------------------------------------------------------------

#' Reshape, transpose and combine arrays
#'
#' * `op_reshape()` gives `x` a new shape, reading and writing the values in
#'   row-major (C) order as Keras does; one size may be `-1`/`NA` to be
#'   inferred. (R's `dim<-` is column-major; see [array_reshape()].)
#' * `op_expand_dims()` inserts axes of size 1 at `axis`; `op_squeeze()`
#'   removes axes of size 1 (all of them when `axis = NULL`).
#' * `op_transpose()` permutes the axes (`axes = NULL` reverses them).
#' * `op_concatenate()` joins arrays along an existing axis; `op_stack()`
#'   stacks arrays of the same shape along a new axis.
#'
#' Axes are 1-based; negative values count from the end.
#'
#' @param x An array (for `op_stack()`, a list of arrays).
#' @param newshape The new shape: a [shape()] or a vector of whole numbers.
#' @param axis The axis or axes.
#' @param axes A permutation of the axes.
#' @param xs A list of arrays.
#' @returns An R array.
#' @export
#' @family ops
#' @examples
#' x <- op_arange(6)
#' op_reshape(x, shape(2, -1))   # rows 1 2 3 and 4 5 6, as in Keras
#' op_expand_dims(c(1, 2), 1)    # shape (1, 2)
#' op_squeeze(op_ones(c(1, 3, 1)))
#' op_transpose(op_ones(c(2, 3, 4)), c(3, 1, 2)) |> dim()
#' op_concatenate(list(op_ones(c(1, 2)), op_zeros(c(2, 2))), axis = 1)
#' op_stack(list(c(1, 2), c(3, 4)), axis = 1)
op_reshape <- function(x, newshape) {
  a <- nl_op_array(x, "x", keep_type = TRUE)
  d <- nl_resolve_newshape(nl_as_dims(newshape, "newshape"), length(a), nl_op_dims(a))
  nl_reshape_rowmajor(a, d)
}

nl_resolve_newshape <- function(d, n, from, arg = "newshape", call = rlang::caller_env()) {
  unknown <- is.na(d)
  if (sum(unknown) > 1) {
    nl_abort(c("{.arg {arg}} can have at most one unknown size ({.code -1} or {.code NA}).",
               x = "You supplied {format(shape(d))}."), "shape", call = call)
  }
  if (any(unknown)) {
    rest <- prod(d[!unknown])
    if (rest == 0 || n %% rest != 0) {
      nl_abort(c("Cannot reshape an array of {n} value{?s} into {format(shape(d))}.",
                 i = "The known sizes in {.arg {arg}} must divide {n}."), "shape", call = call)
    }
    d[unknown] <- as.integer(n / rest)
  }
  if (prod(d) != n) {
    nl_abort(c("Cannot reshape an array of shape {nl_format_shape(from)} ({n} value{?s}) into {format(shape(d))}.",
               i = "The new shape ({.arg {arg}}) must hold the same number of values."), "shape", call = call)
  }
  as.integer(d)
}

# Row-major reshape of an array to dims `d`.
nl_reshape_rowmajor <- function(a, d) {
  from <- nl_op_dims(a)
  v <- if (length(from) > 1) as.vector(aperm(a, rev(seq_along(from)))) else as.vector(a)
  if (length(d) <= 1) return(nl_op_result(v, d))
  out <- v
  dim(out) <- rev(d)
  aperm(out, rev(seq_along(d)))
}

#' @rdname op_reshape
#' @export
op_expand_dims <- function(x, axis) {
  a <- nl_op_array(x, "x", keep_type = TRUE)
  d <- nl_op_dims(a)
  axis <- nl_check_axis_arg(axis, "axis")
  n <- length(d) + length(axis)
  pos <- nl_resolve_axes(axis, n, arg = "axis")
  out_d <- integer(n)
  out_d[pos] <- 1L
  out_d[-pos] <- d
  nl_op_result(as.vector(a), out_d)
}

#' @rdname op_reshape
#' @export
op_squeeze <- function(x, axis = NULL) {
  a <- nl_op_array(x, "x", keep_type = TRUE)
  d <- nl_op_dims(a)
  if (is.null(axis)) {
    drop <- which(d == 1L)
  } else {
    drop <- nl_op_axes(axis, length(d))
    if (any(d[drop] != 1L)) {
      nl_abort(c("Cannot squeeze an axis whose size is not 1.",
                 x = "Axis {.val {drop[d[drop] != 1L]}} of an array of shape {nl_format_shape(d)} has size {d[drop][d[drop] != 1L]}."),
               "axis")
    }
  }
  nl_op_result(as.vector(a), if (length(drop)) d[-drop] else d)
}

#' @rdname op_reshape
#' @export
op_transpose <- function(x, axes = NULL) {
  a <- nl_op_array(x, "x", keep_type = TRUE)
  d <- nl_op_dims(a)
  r <- length(d)
  if (r < 2) return(a)
  if (is.null(axes)) {
    perm <- rev(seq_len(r))
  } else {
    perm <- nl_resolve_axes(nl_check_axis_arg(axes, "axes"), r, arg = "axes", sort = FALSE)
    if (length(perm) != r) {
      nl_abort(c("{.arg axes} must be a permutation of all {r} axes.",
                 x = "You supplied {length(perm)} ax{?is/es}: {.val {axes}}."), "axis")
    }
  }
  aperm(a, perm)
}

#' @rdname op_reshape
#' @export
op_concatenate <- function(xs, axis = 1L) {
  arrs <- nl_op_list(xs, "xs")
  r <- length(nl_op_dims(arrs[[1]]))
  if (r == 0) nl_abort("Cannot concatenate 0-d tensors (single numbers); use {.fn op_stack}.", "shape")
  ax <- nl_op_axes(nl_check_axis_arg(axis, "axis", single = TRUE), r)
  ds <- lapply(arrs, nl_op_dims)
  ok <- vapply(ds, function(d) length(d) == r && identical(d[-ax], ds[[1]][-ax]), TRUE)
  if (!all(ok)) {
    nl_abort(c("Arrays to concatenate must have the same shape except along {.arg axis}.",
               x = "Shapes: {paste(vapply(ds, nl_format_shape, ''), collapse = ', ')}; {.arg axis} = {ax}."),
             "shape")
  }
  perm <- c(setdiff(seq_len(r), ax), ax)
  v <- unlist(lapply(arrs, function(a) if (r > 1) as.vector(aperm(a, perm)) else as.vector(a)))
  out_d <- ds[[1]]
  out_d[ax] <- sum(vapply(ds, `[`, 1L, ax))
  out <- nl_op_result(v, out_d[perm])
  if (r > 1) out <- aperm(out, order(perm))
  out
}

#' @rdname op_reshape
#' @export
op_stack <- function(x, axis = 1L) {
  arrs <- nl_op_list(x, "x")
  d <- nl_op_dims(arrs[[1]])
  ok <- vapply(arrs, function(a) identical(nl_op_dims(a), d), TRUE)
  if (!all(ok)) {
    nl_abort(c("Arrays to stack must all have the same shape.",
               x = "Shapes: {paste(vapply(arrs, function(a) nl_format_shape(nl_op_dims(a)), ''), collapse = ', ')}."),
             "shape")
  }
  r <- length(d)
  pos <- nl_resolve_axes(nl_check_axis_arg(axis, "axis", single = TRUE), r + 1L)
  out <- nl_op_result(unlist(lapply(arrs, as.vector)), c(d, length(arrs)))
  perm <- append(seq_len(r), r + 1L, after = pos - 1L)
  if (r > 0) out <- aperm(out, perm)
  out
}

nl_op_list <- function(xs, arg, call = rlang::caller_env()) {
  if (!is.list(xs) || is.data.frame(xs) || length(xs) == 0) {
    nl_abort(c("{.arg {arg}} must be a non-empty list of arrays.",
               x = "You supplied {nl_describe(xs)}."), "type", call = call)
  }
  lapply(unname(xs), function(a) nl_op_array(a, arg, keep_type = TRUE, call = call))
}

#' Matrix product
#'
#' `op_matmul()` multiplies matrices as Keras (NumPy) does: two matrices give
#' `x1 %*% x2`; a vector on either side is treated as a row (left) or column
#' (right) and that axis is dropped from the result; arrays of rank > 2 are
#' stacks of matrices over their leading axes (one side may be a single
#' matrix, used for every element of the stack).
#'
#' @param x1,x2 Numeric vectors, matrices or arrays.
#' @returns An R array (a number for two vectors).
#' @export
#' @family ops
#' @examples
#' a <- rbind(c(1, 2), c(3, 4))
#' op_matmul(a, a)
#' op_matmul(c(1, 1), a)
#' op_matmul(op_ones(c(5, 2, 3)), op_ones(c(3, 4))) |> dim()
op_matmul <- function(x1, x2) {
  a <- nl_op_array(x1, "x1")
  b <- nl_op_array(x2, "x2")
  da <- nl_op_dims(a)
  db <- nl_op_dims(b)
  if (length(da) == 0 || length(db) == 0) {
    nl_abort(c("{.fn op_matmul} needs arrays of rank 1 or more.",
               i = "Use {.fn op_multiply} to multiply by a number."), "shape")
  }
  va <- length(da) == 1
  vb <- length(db) == 1
  if (va) da <- c(1L, da)
  if (vb) db <- c(db, 1L)
  ra <- length(da)
  rb <- length(db)
  k1 <- da[ra]
  k2 <- db[rb - 1]
  if (k1 != k2) {
    nl_abort(c("Incompatible shapes for {.fn op_matmul}.",
               x = "{.arg x1} has shape {nl_format_shape(nl_op_dims(a))} and {.arg x2} has shape {nl_format_shape(nl_op_dims(b))}: inner sizes {k1} and {k2} differ."),
             "shape")
  }
  m <- da[ra - 1]
  n <- db[rb]
  ba <- da[seq_len(ra - 2)]
  bb <- db[seq_len(rb - 2)]
  if (length(ba) == 0 && length(bb) == 0) {
    out <- matrix(as.vector(a), m, k1) %*% matrix(as.vector(b), k2, n)
    out_d <- c(m, n)
  } else {
    if (length(ba) && length(bb) && !identical(ba, bb)) {
      nl_abort(c("Incompatible batch shapes for {.fn op_matmul}.",
                 x = "{.arg x1} has leading axes {nl_format_shape(ba)} and {.arg x2} has {nl_format_shape(bb)}.",
                 i = "Give both the same leading axes, or one plain matrix."), "shape")
    }
    batch <- if (length(ba)) ba else bb
    nb <- prod(batch)
    slices <- function(x, bd, rows, cols) {
      if (length(bd) == 0) {
        mm <- matrix(as.vector(x), rows, cols)
        return(function(i) mm)
      }
      y <- aperm(nl_op_result(as.vector(x), c(bd, rows, cols)),
                 c(length(bd) + 1:2, seq_along(bd)))
      dim(y) <- c(rows, cols, prod(bd))
      function(i) y[, , i]
    }
    ga <- slices(a, ba, m, k1)
    gb <- slices(b, bb, k2, n)
    res <- vapply(seq_len(nb), function(i) as.vector(ga(i) %*% gb(i)), numeric(m * n))
    dim(res) <- c(m, n, batch)
    out <- aperm(res, c(2 + seq_along(batch), 1, 2))
    out_d <- c(batch, m, n)
  }
  keep <- rep(TRUE, length(out_d))
  if (va) keep[length(out_d) - 1] <- FALSE
  if (vb) keep[length(out_d)] <- FALSE
  nl_op_result(as.vector(out), out_d[keep])
}

# ---- more ops used around layers ---------------------------------------------------

# Applies `f` to the rows of a matrix whose columns run along axis `ax`; `f`
# returns a matrix of the same size. The result has the shape of `a`.
nl_op_along <- function(a, ax, f) {
  d <- nl_op_dims(a)
  r <- length(d)
  perm <- c(setdiff(seq_len(r), ax), ax)
  m <- if (r > 1) aperm(a, perm) else a
  dim(m) <- c(prod(d[-ax]), d[ax])
  res <- f(m)
  dim(res) <- d[perm]
  if (r > 1) res <- aperm(res, order(perm))
  res
}

nl_row_max <- function(m) if (ncol(m) == 1) m[, 1] else do.call(pmax, lapply(seq_len(ncol(m)), function(j) m[, j]))

#' Softmax, one-hot encoding and cumulative sums
#'
#' * `op_softmax()` / `op_log_softmax()`: `exp(x) / sum(exp(x))` (and its log)
#'   along `axis` (default the last), computed stably.
#' * `op_one_hot()`: one-hot encodes class indices, 1-based by default as in
#'   keras3 (`zero_indexed = TRUE` for 0-based); a factor uses its level
#'   codes. Indices out of range give rows of zeros, as in Keras. The new axis
#'   is placed at `axis` (default last).
#' * `op_cumsum()` / `op_cumprod()`: cumulative sum/product along `axis` (of
#'   the array flattened in row-major order when `axis = NULL`).
#'
#' @param x A numeric array (for `op_one_hot()`, whole numbers or a factor).
#' @param axis The axis (1-based; negative values count from the end).
#' @param num_classes Number of classes (for a factor, `NULL` means its number
#'   of levels).
#' @param dtype `NULL` or a data type string for the result.
#' @param sparse Only `FALSE` is supported.
#' @param zero_indexed If `TRUE`, class indices start at 0.
#' @returns An R array.
#' @export
#' @family ops
#' @examples
#' op_softmax(rbind(c(1, 2, 3), c(1, 1, 1)))
#' op_one_hot(c(1, 3, 2), num_classes = 3)
#' op_one_hot(factor(c("b", "a")))
#' op_cumsum(rbind(c(1, 2), c(3, 4)), axis = 1)
op_softmax <- function(x, axis = -1L) {
  a <- nl_op_array(x, "x")
  ax <- nl_op_axes(nl_check_axis_arg(axis, "axis", single = TRUE), length(nl_op_dims(a)))
  nl_op_along(a, ax, function(m) {
    e <- exp(m - nl_row_max(m))
    e / rowSums(e)
  })
}

#' @rdname op_softmax
#' @export
op_log_softmax <- function(x, axis = -1L) {
  a <- nl_op_array(x, "x")
  ax <- nl_op_axes(nl_check_axis_arg(axis, "axis", single = TRUE), length(nl_op_dims(a)))
  nl_op_along(a, ax, function(m) {
    s <- m - nl_row_max(m)
    s - log(rowSums(exp(s)))
  })
}

#' @rdname op_softmax
#' @export
op_one_hot <- function(x, num_classes, axis = -1L, dtype = NULL, sparse = FALSE,
                       zero_indexed = FALSE) {
  if (!identical(sparse, FALSE)) {
    nl_abort(c("Sparse one-hot tensors are not supported by normlayers.",
               i = "Use {.code sparse = FALSE}."), "unsupported")
  }
  zero_indexed <- nl_check_flag(zero_indexed, "zero_indexed")
  if (is.factor(x)) {
    if (missing(num_classes) || is.null(num_classes)) num_classes <- nlevels(x)
    d <- dim(x)
    x <- as.integer(x) - if (zero_indexed) 1L else 0L
    dim(x) <- d
  }
  if (missing(num_classes)) {
    nl_abort(c("{.arg num_classes} is missing.", i = "Give the number of classes."), "missing")
  }
  k <- as.integer(nl_check_count(num_classes, "num_classes"))
  a <- nl_op_array(x, "x")
  if (any(!is.na(a) & a != trunc(a))) {
    nl_abort(c("{.arg x} must hold whole numbers (class indices).",
               x = "You supplied non-integer values."), "value")
  }
  d <- nl_op_dims(a)
  idx <- as.vector(a) + if (zero_indexed) 1 else 0
  out <- matrix(0, length(idx), k)
  ok <- which(!is.na(idx) & idx >= 1 & idx <= k)
  out[cbind(ok, idx[ok])] <- 1
  res <- nl_op_result(as.vector(out), c(d, k))
  pos <- nl_resolve_axes(nl_check_axis_arg(axis, "axis", single = TRUE), length(d) + 1L)
  if (pos != length(d) + 1L) res <- aperm(res, append(seq_along(d), length(d) + 1L, after = pos - 1L))
  nl_op_cast_mode(res, nl_dtype_mode(dtype))
}

#' @rdname op_softmax
#' @export
op_cumsum <- function(x, axis = NULL, dtype = NULL) nl_op_cumulative(x, axis, dtype, cumsum)

#' @rdname op_softmax
#' @export
op_cumprod <- function(x, axis = NULL, dtype = NULL) nl_op_cumulative(x, axis, dtype, cumprod)

nl_op_cumulative <- function(x, axis, dtype, f, call = rlang::caller_env()) {
  a <- nl_op_array(x, "x", call = call)
  mode <- nl_dtype_mode(dtype, call = call)
  d <- nl_op_dims(a)
  if (is.null(axis)) {
    v <- if (length(d) > 1) as.vector(aperm(a, rev(seq_along(d)))) else as.vector(a)
    return(nl_op_cast_mode(nl_op_result(f(v), length(v)), mode))
  }
  ax <- nl_op_axes(nl_check_axis_arg(axis, "axis", single = TRUE), length(d), call = call)
  out <- nl_op_along(a, ax, function(m) {
    if (ncol(m) == 1) return(m)
    t(apply(m, 1, f))
  })
  nl_op_cast_mode(out, mode)
}

#' Comparisons, logical ops and selection
#'
#' Element-wise comparisons and logical operations with NumPy broadcasting
#' (aligned on the last axis); results are logical arrays. `op_where()` picks
#' from `x1` where `condition` is true and from `x2` elsewhere. `op_any()` and
#' `op_all()` reduce over `axis` (non-zero values count as `TRUE`).
#'
#' @param x1,x2 Numeric or logical arrays, vectors or numbers.
#' @param x A numeric or logical array.
#' @param condition A logical (or numeric) array.
#' @inheritParams op_sum
#' @returns A logical array (or number), or for `op_where()` a numeric array.
#' @export
#' @family ops
#' @examples
#' x <- rbind(c(1, 5), c(3, 2))
#' op_greater(x, 2)
#' op_equal(x, c(1, 2))
#' op_where(x > 2, x, 0)
#' op_any(x > 4, axis = 1)
op_equal <- function(x1, x2) nl_op_binary(x1, x2, `==`)

#' @rdname op_equal
#' @export
op_not_equal <- function(x1, x2) nl_op_binary(x1, x2, `!=`)

#' @rdname op_equal
#' @export
op_greater <- function(x1, x2) nl_op_binary(x1, x2, `>`)

#' @rdname op_equal
#' @export
op_greater_equal <- function(x1, x2) nl_op_binary(x1, x2, `>=`)

#' @rdname op_equal
#' @export
op_less <- function(x1, x2) nl_op_binary(x1, x2, `<`)

#' @rdname op_equal
#' @export
op_less_equal <- function(x1, x2) nl_op_binary(x1, x2, `<=`)

#' @rdname op_equal
#' @export
op_logical_and <- function(x1, x2) nl_op_binary(x1, x2, function(a, b) a != 0 & b != 0)

#' @rdname op_equal
#' @export
op_logical_or <- function(x1, x2) nl_op_binary(x1, x2, function(a, b) a != 0 | b != 0)

#' @rdname op_equal
#' @export
op_logical_not <- function(x) nl_op_unary(x, function(v) v == 0)

#' @rdname op_equal
#' @export
op_where <- function(condition, x1 = NULL, x2 = NULL) {
  if (is.null(x1) || is.null(x2)) {
    nl_abort(c("{.fn op_where} needs both {.arg x1} and {.arg x2} in normlayers.",
               i = "Use {.code which(condition, arr.ind = TRUE)} for the indices of true values."),
             "unsupported")
  }
  cnd <- nl_op_array(condition, "condition")
  a <- nl_op_array(x1, "x1")
  b <- nl_op_array(x2, "x2")
  d <- Reduce(nl_broadcast_shape, list(nl_op_dims(cnd), nl_op_dims(a), nl_op_dims(b)))
  v <- ifelse(as.vector(nl_broadcast_to(cnd, d)) != 0, as.vector(nl_broadcast_to(a, d)),
              as.vector(nl_broadcast_to(b, d)))
  nl_op_result(v, d)
}

#' @rdname op_equal
#' @export
op_any <- function(x, axis = NULL, keepdims = FALSE) {
  nl_op_reduce(nl_op_unary(x, function(v) v != 0), axis, keepdims, "max") > 0
}

#' @rdname op_equal
#' @export
op_all <- function(x, axis = NULL, keepdims = FALSE) {
  nl_op_reduce(nl_op_unary(x, function(v) v != 0), axis, keepdims, "min") > 0
}

#' Size and rank of a tensor
#'
#' `op_size()` is the number of elements, `op_ndim()` the number of axes (0
#' for a single number, 1 for a vector).
#'
#' @param x An R array, vector or number.
#' @returns A whole number.
#' @export
#' @family ops
#' @examples
#' op_size(op_ones(c(2, 3)))
#' op_ndim(op_ones(c(2, 3)))
op_size <- function(x) length(nl_op_array(x, "x"))

#' @rdname op_size
#' @export
op_ndim <- function(x) length(nl_op_dims(nl_op_array(x, "x")))

#' Evenly spaced numbers over an interval
#'
#' `num` values from `start` to `stop` (included when `endpoint = TRUE`), as
#' NumPy's `linspace`.
#'
#' @param start,stop Numbers.
#' @param num Number of values.
#' @param endpoint Whether `stop` is the last value.
#' @param retstep If `TRUE`, return `list(values, step)`.
#' @param dtype `NULL` or a data type string.
#' @param axis Only `1` is supported for scalar `start`/`stop`.
#' @returns A 1-d array (or a list with `retstep = TRUE`).
#' @export
#' @family ops
#' @examples
#' op_linspace(0, 1, num = 5)
#' op_linspace(0, 1, num = 4, endpoint = FALSE)
op_linspace <- function(start, stop, num = 50L, endpoint = TRUE, retstep = FALSE,
                        dtype = NULL, axis = 1L) {
  start <- nl_check_number(start, "start")
  stop <- nl_check_number(stop, "stop")
  num <- as.integer(nl_check_count(num, "num"))
  endpoint <- nl_check_flag(endpoint, "endpoint")
  retstep <- nl_check_flag(retstep, "retstep")
  div <- if (endpoint) num - 1 else num
  step <- if (div > 0) (stop - start) / div else NaN
  v <- if (num == 0) numeric() else start + (seq_len(num) - 1) * (if (div > 0) step else 0)
  if (endpoint && num > 1) v[num] <- stop
  v <- nl_op_cast_mode(nl_op_result(v, length(v)), nl_dtype_mode(dtype))
  if (retstep) list(v, step) else v
}
