#' Fit the state of a preprocessing layer to data
#'
#' `adapt()` computes the state of a preprocessing layer from data before
#' training: for [layer_normalization()], the mean and variance of each kept
#' position. Each call replaces the state learned before. If anything goes
#' wrong (a bad batch, missing values, a shape that does not fit the layer)
#' the layer is left exactly as it was.
#'
#' The data can be streamed: with `batch_size` a large array is read in chunks
#' of `batch_size` rows, and a list of batches or a function that returns the
#' next batch can be given instead of one array. Each batch's statistics are
#' taken relative to the first batch's means (a shift that keeps them well
#' conditioned) and merged with the pairwise update of Chan, Golub and
#' LeVeque, so streamed and one-shot statistics agree to rounding, also on
#' data far from 0. In an interactive session a progress bar is shown for
#' long streams.
#'
#' When the layer keeps the batch axis (for example `axis = 1`, or the default
#' `axis = -1` on 1-D data), each row has its own statistics: `batch_size`
#' cannot split such data (an error), and a list of batches is merged
#' position by position, as Keras merges an iterable of batches (every batch
#' must then have the same number of rows).
#'
#' Missing values (`NA`, `NaN`) are refused unless `na.rm = TRUE`; infinite
#' values are always refused.
#'
#' @param object A preprocessing layer, such as one made by
#'   [layer_normalization()].
#' @param data The data, one of:
#'   * a numeric array or vector (the first axis is the batch axis);
#'   * a data frame of numeric columns (used as a numeric matrix);
#'   * a list of batches, each an array, vector or data frame (an element
#'     that is itself a list, such as `list(x, y)`, contributes its first
#'     element);
#'   * a function of no arguments that returns the next batch, and `NULL`
#'     when there are no more (use `steps` to stop an endless one).
#' @param ... Arguments for the method, such as `na.rm`.
#' @param batch_size Optional positive whole number: split each array into
#'   batches of at most `batch_size` rows (along the first axis). Not
#'   possible when the layer keeps the batch axis.
#' @param steps Optional positive whole number: use at most `steps` batches.
#' @returns `object`, invisibly, so that `layer %>% adapt(data)` works.
#' @export
#' @family preprocessing
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
#' # Use the layer to de-normalize inputs (after adapting the layer).
#' layer <- layer_normalization(axis=-1, invert=TRUE)
#' layer %>% adapt(adapt_data)
#' layer(op_array(c(1., 2., 3.), dtype='float32'))
#'
#' # Streaming: chunks of a large array, or a list of batches
#' big <- matrix(rnorm(3000, mean = 5), ncol = 3)
#' layer <- layer_normalization()
#' layer %>% adapt(big, batch_size = 100)
#' layer$mean
#' layer %>% adapt(list(big[1:400, ], big[401:1000, ]))
#' layer$mean
#'
#' # Missing values are refused unless na.rm = TRUE
#' x <- rbind(c(1, NA), c(3, 4), c(5, 6))
#' layer <- layer_normalization()
#' try(layer %>% adapt(x))
#' layer %>% adapt(x, na.rm = TRUE)
#' layer$mean
adapt <- function(object, data, ..., batch_size = NULL, steps = NULL) {
  UseMethod("adapt")
}

#' @export
adapt.default <- function(object, data, ..., batch_size = NULL, steps = NULL) {
  nl_abort(c("{.arg object} must be a preprocessing layer that can be adapted.",
             x = "You supplied {nl_describe(object)}.",
             i = "Use a layer such as {.fn layer_normalization}."),
           "type")
}

nl_adapt_check_count <- function(x, arg, call = rlang::caller_env()) {
  if (is.null(x)) return(NULL)
  if (!is.numeric(x) || length(x) != 1 || is.na(x) || !is.finite(x) ||
      x < 1 || x != trunc(x)) {
    nl_abort(c("{.arg {arg}} must be a positive whole number or {.code NULL}.",
               x = "You supplied {nl_describe(x)}."), "value", call = call)
  }
  as.double(x)
}

# A batch as a double array with a dim attribute. `i` is the batch number
# (NULL when the data is a single array).
nl_adapt_as_array <- function(b, i = NULL, call = rlang::caller_env()) {
  what <- if (is.null(i)) "{.arg data}" else "Batch {i} of {.arg data}"
  if (is.data.frame(b)) {
    ok <- vapply(b, function(col) (is.numeric(col) || is.logical(col)) && !is.factor(col),
                 logical(1))
    if (!all(ok)) {
      bad <- names(b)[!ok]
      nl_abort(c(paste(what, "must be a data frame of numeric columns."),
                 x = "Column{?s} {.val {bad}} {?is/are} not numeric."),
               "data", call = call)
    }
    m <- as.double(unlist(b, use.names = FALSE))
    dim(m) <- c(nrow(b), ncol(b))
    return(m)
  }
  if (!(is.numeric(b) || is.logical(b)) || is.factor(b)) {
    nl_abort(c(paste(what, "must be a numeric array, vector or data frame."),
               x = "You supplied {nl_describe(b)}."),
             "data", call = call)
  }
  d <- dim(b)
  # A double array is used as it is (no copy of the data).
  if (is.double(b) && !is.null(d)) return(b)
  if (is.null(d)) d <- length(b)
  b <- as.double(b)
  dim(b) <- d
  b
}

# A source of batches: list(next_batch = function() <double array or NULL>,
# total = number of batches if known, else NA).
nl_adapt_source <- function(data, batch_size = NULL, call = rlang::caller_env()) {
  force(call)
  if (nl_is_layer(data) || inherits(data, "nl_symbolic_tensor")) {
    nl_abort(c("{.arg data} must hold values.",
               x = "You supplied {nl_describe(data)}.",
               i = "Pass an array, a data frame, a list of batches or a function that returns batches."),
             "data", call = call)
  }
  if (is.function(data)) {
    k <- 0L
    outer <- function() {
      b <- data()
      if (is.null(b)) return(NULL)
      k <<- k + 1L
      nl_adapt_as_array(b, k, call = call)
    }
    total <- NA_real_
  } else if (is.list(data) && !is.data.frame(data)) {
    k <- 0L
    outer <- function() {
      if (k >= length(data)) return(NULL)
      k <<- k + 1L
      b <- data[[k]]
      if (is.list(b) && !is.data.frame(b)) {
        b <- if (length(b)) b[[1]] else NULL
      }
      if (is.null(b)) {
        nl_abort(c("Batch {k} of {.arg data} is {.code NULL}.",
                   i = "Every element of a list of batches must be an array, vector or data frame."),
                 "data", call = call)
      }
      nl_adapt_as_array(b, k, call = call)
    }
    total <- if (is.null(batch_size)) length(data) else NA_real_
  } else {
    x <- nl_adapt_as_array(data, call = call)
    done <- FALSE
    outer <- function() {
      if (done) return(NULL)
      done <<- TRUE
      x
    }
    total <- if (is.null(batch_size)) 1 else max(1, ceiling(dim(x)[1] / batch_size))
  }
  if (is.null(batch_size)) {
    return(list(next_batch = outer, total = total, split = function() FALSE))
  }
  cur <- NULL
  pos <- 0
  # `split_rows`: the row count of the first batch that had to be split.
  split_rows <- NULL
  chunked <- function() {
    repeat {
      if (!is.null(cur) && pos < dim(cur)[1]) {
        idx <- seq.int(pos + 1, min(pos + batch_size, dim(cur)[1]))
        pos <<- max(idx)
        return(nl_slice_rows(cur, idx))
      }
      nxt <- outer()
      if (is.null(nxt)) return(NULL)
      if (dim(nxt)[1] == 0) return(nxt)
      if (is.null(split_rows) && dim(nxt)[1] > batch_size) split_rows <<- dim(nxt)[1]
      cur <<- nxt
      pos <<- 0
    }
  }
  src <- list(next_batch = chunked, total = total, batch_size = batch_size,
              split = function() !is.null(split_rows))
  src$split_rows <- function() split_rows
  src
}
