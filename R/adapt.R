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

# ---- adapt() -----------------------------------------------------------------

#' @rdname adapt
#' @param na.rm For [layer_normalization()]: if `TRUE`, missing values (`NA`
#'   and `NaN`) are left out, feature by feature; if `FALSE` (the default),
#'   data with missing values is refused.
#' @export
adapt.nl_normalization <- function(object, data, ..., batch_size = NULL, steps = NULL,
                                   na.rm = FALSE) {
  data <- if (missing(data)) NULL else data
  call <- sys.call()
  call[[1]] <- as.name("adapt")
  nl_with_call(call, nl_norm_adapt(object, data, ...,
    batch_size = batch_size, steps = steps, na.rm = na.rm))
  invisible(object)
}

nl_norm_adapt <- function(object, data, ..., batch_size, steps, na.rm) {
  st <- nl_state(object)
  nl_check_dots(list(...))
  if (nl_norm_is_fixed(st)) {
    nl_abort(c("Cannot adapt layer {.val {st$name}}: it was created with fixed {.arg mean} and {.arg variance}.",
               i = "Create the layer without {.arg mean} and {.arg variance} to learn them with {.fn adapt}."),
             "state")
  }
  if (is.null(data)) {
    nl_abort(c("{.arg data} is missing or {.code NULL}.",
               i = "Pass an array, a data frame, a list of batches or a function that returns batches."),
             "data")
  }
  batch_size <- nl_check_batch_size(batch_size, default = NULL)
  steps <- nl_check_count(steps, "steps", min = 1, null_ok = TRUE)
  na_rm <- nl_check_flag(na.rm, "na.rm")
  src <- nl_adapt_source(data, batch_size)
  res <- nl_norm_adapt_stream(object, src, steps, na_rm)
  # Everything is computed: now build (if needed) and assign.
  nl_with_rollback(list(object), {
    if (!isTRUE(st$built)) nl_layer_prepare(object, res$shape)
    nl_weight_set(st, "mean", nl_shape_value(res$mean, st$kept_shape))
    nl_weight_set(st, "variance", nl_shape_value(res$variance, st$kept_shape))
  })
  if (res$rank == 1L && !is.null(st$config$axis)) {
    nl_warn(c("{.fn adapt} received 1-D data, so the kept axis is the batch axis.",
              i = if (res$batches == 1L) "Layer {.val {st$name}} learned one mean and variance per position (each variance is 0)."
                  else "Layer {.val {st$name}} learned one mean and variance per position across the {res$batches} batches.",
              i = "For a batch of scalars use {.code layer_normalization(axis = NULL)}."),
            "axis")
  }
  invisible(object)
}

# Runs over the batches and merges their statistics per kept position. Each
# batch's moments come from the two-pass kernel on the data shifted by the
# first batch's means; batches are merged with the stable pairwise update of
# Chan, Golub and LeVeque (nl_merge_moments() in R/kernels.R). A single batch is exactly
# the one-shot two-pass result.
# Nothing is assigned here: the caller assigns once everything succeeded.
nl_norm_adapt_stream <- function(object, src, steps, na_rm) {
  st <- nl_state(object)
  axis <- st$config$axis
  ref <- NULL      # list(rank, axes, kept, built) once the first batch is seen
  acc <- nl_adapt_accumulator(na_rm)
  n_missing <- 0; n_batches <- 0L; n_values <- 0; first_shape <- NULL
  total <- src$total
  if (!is.null(steps)) total <- if (is.na(total)) steps else min(total, steps)
  pb <- NULL
  if (interactive() && (is.na(total) || total > 20)) {
    pb <- cli::cli_progress_bar("Adapting", total = total)
  }
  repeat {
    if (!is.null(steps) && n_batches >= steps) break
    x <- src$next_batch()
    if (is.null(x)) break
    n_batches <- n_batches + 1L
    d <- dim(x)
    if (is.null(ref)) {
      first_shape <- d
      ref <- nl_adapt_reference(st, axis, d)
    }
    if (1L %in% ref$axes && isTRUE(src$split())) nl_adapt_refuse_split(st, src, ref)
    if (!is.null(axis)) nl_adapt_check_batch(st, ref, d, n_batches)
    if (!na_rm && anyNA(x)) n_missing <- n_missing + sum(is.na(x))
    n_values <- n_values + length(x)
    if (n_missing == 0 && length(x) > 0) {
      acc$add(x, nl_runs(d, setdiff(seq_along(d), ref$axes)), n_batches)
    }
    if (!is.null(pb)) cli::cli_progress_update(id = pb)
  }
  if (!is.null(pb)) cli::cli_progress_done(id = pb)
  nl_adapt_check_stream(st, n_batches, n_values, n_missing, first_shape)
  res <- acc$result()
  nl_adapt_check_counts(st, res$count)
  K <- max(1, prod(ref$kept))
  list(mean = rep_len(res$mean, K), variance = rep_len(res$var, K), shape = first_shape,
       rank = length(first_shape), batches = n_batches)
}

# The kept axes and their sizes: the built layer's, or from the first batch.
nl_adapt_reference <- function(st, axis, d) {
  if (isTRUE(st$built)) {
    return(list(rank = st$build_rank, axes = st$kept_axes, kept = st$kept_shape,
                built = nl_format_shape(st$input_shape)))
  }
  axes <- if (is.null(axis)) integer() else nl_resolve_axes(axis, length(d))
  list(rank = length(d), axes = axes, kept = as.integer(d[axes]), built = NULL)
}

# Streamed moments per kept position. The first batch alone is the one-shot
# two-pass result; it is kept (a reference, no copy) until a second batch
# arrives. From then on the partials are shifted: the first batch's means
# become the shift and every batch, the first included, is taken relative to
# it (x - shift is exact for data near the shift), so the merge never
# subtracts two large, rounded means.
nl_adapt_accumulator <- function(na_rm) {
  first <- NULL    # list(x, runs, moments)
  acc <- NULL      # merged moments of the shifted data: list(mean, var, count)
  shift <- NULL    # per kept position: the first batch's means
  add <- function(x, runs, batch) {
    if (is.null(first)) {
      b <- nl_adapt_moments(x, runs, na_rm)
      nl_adapt_check_finite(b, x, batch)
      first <<- list(x = x, runs = runs, moments = b)
      return(invisible())
    }
    if (is.null(shift)) {
      shift <<- first$moments$mean
      shift[first$moments$count == 0 | !is.finite(shift)] <<- 0
      acc <<- nl_adapt_moments(first$x, first$runs, na_rm, shift)
      first$x <<- NULL
    }
    b <- nl_adapt_moments(x, runs, na_rm, shift)
    nl_adapt_check_finite(b, x, batch)
    acc <<- nl_merge_moments(acc, b)
    invisible()
  }
  result <- function() {
    if (is.null(shift)) return(first$moments)
    res <- acc
    res$mean <- shift + acc$mean
    res
  }
  list(add = add, result = result)
}

# After the stream: no values at all, or missing values without `na.rm`.
nl_adapt_check_stream <- function(st, n_batches, n_values, n_missing, first_shape) {
  if (n_batches == 0 || n_values == 0) {
    received <- if (n_batches == 0) "No batch was received."
                else if (n_batches == 1) "The batch received has no values (shape {nl_format_shape(first_shape)})."
                else "None of the {n_batches} batches received has any values."
    nl_abort(c("{.arg data} is empty.",
               x = received,
               i = "Pass at least one value to {.fn adapt}."),
             "data")
  }
  if (n_missing > 0) {
    nl_abort(c("{.arg data} contains {n_missing} missing value{?s} ({.code NA} or {.code NaN}).",
               i = "Use {.code na.rm = TRUE} to leave them out, feature by feature.",
               i = "The statistics of layer {.val {st$name}} were not changed."),
             "missing")
  }
}

nl_adapt_check_counts <- function(st, n) {
  if (any(n == 0)) {
    k <- sum(n == 0)
    nl_abort(c("{k} kept position{?s} of layer {.val {st$name}} ha{?s/ve} only missing values.",
               x = "No mean or variance can be computed without values.",
               i = "The statistics of layer {.val {st$name}} were not changed."),
             "missing")
  }
}

# Moments per kept position of one batch, of `x - shift` when a shift is given
# (computed by the kernel without forming `x - shift`).
nl_adapt_moments <- function(x, runs, na_rm, shift = NULL) {
  mo <- if (is.null(shift)) nl_kernel_moments(x, runs, na_rm = na_rm)
        else nl_kernel_moments_shifted(x, runs, shift = shift, na_rm = na_rm)
  list(mean = as.double(mo$mean), var = as.double(mo$var), count = as.double(mo$count))
}

# Infinite values cannot be normalized: refuse them (na.rm only leaves out
# NA and NaN). Non-finite moments without an infinite value are an overflow.
nl_adapt_check_finite <- function(b, x, i) {
  bad <- b$count > 0 & (!is.finite(b$mean) | !is.finite(b$var))
  if (!any(bad)) return(invisible(TRUE))
  where <- if (i == 1L) "{.arg data}" else "Batch {i} of {.arg data}"
  n_inf <- sum(is.infinite(x))
  if (n_inf > 0) {
    nl_abort(c(paste(where, "contains {n_inf} infinite value{?s} ({.code Inf} or {.code -Inf})."),
               x = "No mean or variance can be computed from infinite values.",
               i = "Remove or replace them before {.fn adapt}; {.code na.rm = TRUE} leaves out only {.code NA} and {.code NaN}."),
             "value")
  }
  nl_abort(c(paste(where, "has values too large to compute a variance in double precision."),
             x = "The largest absolute value is {format(max(abs(x), na.rm = TRUE))}.",
             i = "Rescale the data before {.fn adapt}."),
           "value")
}

# With the batch axis kept, every row has its own statistics: splitting an
# array into batches of rows would learn statistics per position within a
# batch instead. Keras refuses a kept batch axis of unknown size; refuse the
# split here (a list of equal-sized batches is merged per position, as Keras
# merges an iterable of batches).
nl_adapt_refuse_split <- function(st, src, ref) {
  axis <- st$config$axis
  axis <- if (length(axis) == 1) format(axis) else paste0("c(", paste(axis, collapse = ", "), ")")
  nl_abort(c("{.arg batch_size} cannot split {.arg data} when layer {.val {st$name}} keeps the batch axis.",
             x = "You supplied {.code batch_size = {src$batch_size}} for a batch of {src$split_rows()} rows, and {.code axis = {axis}} keeps axis 1 (the batch axis), so each row has its own mean and variance.",
             i = if (ref$rank == 1L) "For 1-D data (a batch of scalars) use {.code layer_normalization(axis = NULL)}."
                 else "Call {.fn adapt} without {.arg batch_size}, or keep only non-batch axes."),
           "value")
}

nl_adapt_check_batch <- function(st, ref, d, i) {
  where <- if (i == 1L) "{.arg data}" else "Batch {i} of {.arg data}"
  if (length(d) != ref$rank || any(d[ref$axes] != ref$kept)) {
    expected <- rep(NA_integer_, ref$rank)
    expected[ref$axes] <- ref$kept
    nl_abort(c(paste(where, "is incompatible with the kept axes of layer {.val {st$name}}."),
               x = "Expected shape {nl_format_shape(expected)} (kept axes {.val {ref$axes}}), got {nl_format_shape(d)}.",
               i = if (is.null(ref$built)) "Every batch must have the rank and the kept sizes of the first batch."
                   else "The layer was built for shape {ref$built}; create a new layer for data of another shape."),
             "shape")
  }
  invisible(TRUE)
}
