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
