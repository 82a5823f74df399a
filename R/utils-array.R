# R containers as tensors: arrays, vectors and data frames in, the same container out.

# Coerces an input to a double array with a dim attribute. Returns a list with the
# array and what is needed to give the result back in the same container;
# `owned` is TRUE when the array is a new one (not the caller's object), which
# an inference call may then overwrite (nl_layer_infer()).
nl_as_input <- function(x, arg = rlang::caller_arg(x), call = rlang::caller_env()) {
  if (is.data.frame(x)) {
    ok <- vapply(x, nl_numeric_column, logical(1))
    if (!all(ok)) {
      nl_abort(c("{.arg {arg}} must be a data frame of numeric columns.",
                 x = "Column{?s} {.val {names(x)[!ok]}} {?is/are} not numeric."),
               "type", call = call)
    }
    n <- .row_names_info(x, 2L)
    # One allocation of the input's size; columns of other lengths (matrix
    # columns) take the general route.
    m <- nl_columns_to_matrix_cpp(x, n, nl_size_threads(n * length(x)))
    if (is.null(m)) {
      # matrix columns: each of their columns is a feature, as in as.matrix()
      m <- as.matrix(x)
      storage.mode(m) <- "double"
      dimnames(m) <- NULL
    }
    # The row names as stored (compact automatic ones stay compact).
    return(list(x = m, kind = "data.frame", names = names(x), nrow = n,
                row.names = .row_names_info(x, 0L), owned = TRUE))
  }
  if (!(is.numeric(x) || is.logical(x)) || is.factor(x)) {
    nl_abort(c("{.arg {arg}} must be a numeric array, vector or data frame.",
               x = "You supplied {nl_describe(x)}."),
             "type", call = call)
  }
  d <- dim(x)
  if (is.null(d)) {
    nm <- names(x)
    v <- as.double(x)
    dim(v) <- length(v)
    return(list(x = v, kind = "vector", names = nm))
  }
  owned <- !is.double(x)
  if (owned) storage.mode(x) <- "double"
  list(x = x, kind = "array", dim = d, dimnames = dimnames(x), owned = owned)
}

# Whether a data frame's column can be used as numbers (numbers or logicals).
nl_numeric_column <- function(col) is.numeric(col) || is.logical(col)

# Gives a result back in the container the input came in.
nl_restore_output <- function(y, info) {
  switch(info$kind,
    vector = {
      if (length(dim(y)) == 1) {
        dim(y) <- NULL
        if (!is.null(info$names) && length(info$names) == length(y)) names(y) <- info$names
      }
      y
    },
    data.frame = {
      if (length(dim(y)) == 2 && ncol(y) == length(info$names) && nrow(y) == info$nrow) {
        # One allocation of the output's size: the columns of y.
        if (is.double(y)) {
          return(nl_matrix_to_frame_cpp(y, info$names, info$row.names, nl_kernel_threads(y)))
        }
        out <- as.data.frame(y)
        names(out) <- info$names
        attr(out, "row.names") <- info$row.names
        out
      } else {
        y
      }
    },
    {
      if (!is.null(info$dimnames) && identical(as.integer(dim(y)), as.integer(info$dim))) {
        dimnames(y) <- info$dimnames
      }
      y
    }
  )
}

#' Create a tensor (an R array)
#'
#' In normlayers a tensor is a plain R numeric array: `dim()` is its shape and
#' the first dimension is the batch. `op_array()` exists so that keras3 code
#' such as `op_array(c(1, 2, 3), dtype = "float32")` runs unchanged.
#'
#' @param x A numeric or logical vector, matrix or array.
#' @param dtype `NULL`, `"float32"` or `"float64"` (stored as double; all
#'   arithmetic in normlayers is double precision), or an integer type such as
#'   `"int32"` (stored as integer).
#' @returns A numeric vector or array with the shape of `x`.
#' @export
#' @family ops
#' @examples
#' op_array(c(1, 2, 3), dtype = "float32")
#' op_array(rbind(c(0, 7, 4), c(2, 9, 6)))
op_array <- function(x, dtype = NULL) {
  if (!(is.numeric(x) || is.logical(x))) {
    nl_abort(c("{.arg x} must be numeric or logical.", x = "You supplied {nl_describe(x)}."),
             "type")
  }
  if (!is.null(dtype)) {
    if (!is.character(dtype) || length(dtype) != 1 || is.na(dtype)) {
      nl_abort(c("{.arg dtype} must be a single string.", x = "You supplied {nl_describe(dtype)}."),
               "value")
    }
    if (dtype %in% c("float16", "bfloat16", "float32", "float64", "double")) {
      storage.mode(x) <- "double"
    } else if (dtype %in% c("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "integer")) {
      storage.mode(x) <- "integer"
    } else if (dtype %in% c("bool", "logical")) {
      storage.mode(x) <- "logical"
    } else {
      nl_abort(c("{.arg dtype} must be a known data type.", x = "You supplied {.val {dtype}}.",
                 i = "Use {.val float32}, {.val float64} or {.val int32}."), "value")
    }
  } else if (is.logical(x)) {
    storage.mode(x) <- "double"
  }
  x
}
