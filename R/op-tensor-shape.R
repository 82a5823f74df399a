# Ops that reshape, permute, join or multiply arrays (keras3 names; see R/op-tensor.R).

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
