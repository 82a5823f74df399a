# What sequential and functional models share: their layers, `$` fields and
# predict(). The summary table is in R/model-summary.R.

# Every layer inside a model, nested models and wrapped layers expanded (the
# nested model itself included).
nl_model_flat_layers <- function(model) {
  out <- list()
  for (l in nl_state(model)$layers) out <- c(out, nl_all_layers(l))
  out
}

#' @export
nl_layer_dollar.nl_model <- function(layer, name) {
  st <- nl_state(layer)
  switch(name,
    layers = st$layers,
    inputs = st$inputs,
    outputs = st$outputs,
    compiled = !is.null(st$compiled),
    NULL
  )
}

#' Predict with a model
#'
#' Runs a model in inference mode (`training = FALSE`) on new data, in batches.
#' The predictions of all batches are written into one result allocated once,
#' so memory and time grow linearly with the number of samples.
#'
#' @param object A model (or a layer).
#' @param x Input data: an array, vector or data frame (a list of them for a
#'   model with several inputs).
#' @param batch_size Number of samples per batch: `NULL` (the default) runs
#'   everything in one batch; otherwise a positive whole number (a value
#'   above the number of samples also means one batch).
#' @param verbose `0` silent, `1` a progress bar and a summary line, `2` the
#'   summary line only (as keras3 prints them); `"auto"` (the default, from
#'   `getOption("keras.verbose")`) is 2 in a knitr document, 0 under testthat,
#'   1 otherwise.
#' @param steps Optional number of batches to run (a positive whole number):
#'   only the first `steps * batch_size` samples are predicted.
#' @param callbacks Callbacks whose `on_predict_*` hooks are called (batch
#'   logs hold the batch's `outputs`).
#' @param ... Must be empty.
#' @returns An R array of predictions with one row per sample, as in keras3:
#'   it keeps its dimensions (a model with one output unit gives an `N x 1`
#'   matrix), whatever the container of `x`.
#' @export
#' @family training
#' @examples
#' model <- keras_model_sequential(input_shape = 3) |>
#'   layer_layer_normalization()
#' predict(model, matrix(rnorm(6), 2))
#' predict(model, matrix(rnorm(30), 10), batch_size = 4)
predict.nl_layer <- function(object, x, ..., batch_size = NULL,
                             verbose = getOption("keras.verbose", default = "auto"),
                             steps = NULL, callbacks = NULL) {
  nl_with_call(nl_generic_call("predict"), {
    nl_check_dots(list(...))
    batch_size <- nl_check_batch_size(batch_size, default = NULL)
    steps <- nl_check_count(steps, "steps", min = 1, null_ok = TRUE)
    verbose <- nl_resolve_verbose(verbose)
    callbacks <- nl_check_callbacks(callbacks)
    if (missing(x)) {
      nl_abort(c("{.arg x} must be given.", i = "Give the input data as an array or data frame."),
               "missing")
    }
    multi <- inherits(object, "nl_model") && is.list(x) && !is.data.frame(x)
    info <- NULL
    if (multi) {
      xx <- nl_training_x(x)
    } else {
      info <- nl_as_input(x, arg = "x")
      xx <- info$x
    }
    n <- nl_n_rows(xx)
    bs <- if (is.null(batch_size)) max(n, 1) else min(batch_size, max(n, 1))
    n_use <- if (is.null(steps)) n else min(n, steps * bs)
    progress <- if (verbose > 0L) nl_callback_progbar(verbose) else NULL
    cbs <- nl_callback_list(callbacks, object, list(verbose = verbose, epochs = 1L,
                                                    steps = as.integer(ceiling(n_use / bs))),
                            progress = progress)
    # A callback's on_predict_batch_end may keep a batch's outputs: then no
    # batch buffer is reused.
    reuse <- length(nl_callbacks_having(callbacks, "on_predict_batch_end")) == 0
    out <- nl_with_rollback(nl_all_layers(object),
                            nl_predict_batches(object, xx, n, n_use, bs, cbs, reuse = reuse,
                                               owned = isTRUE(info$owned)))
    if (!is.null(info) && info$kind == "array" && !is.null(info$dimnames) &&
        identical(as.integer(dim(out)), as.integer(info$dim))) {
      dimnames(out) <- info$dimnames
    }
    out
  })
}

# Runs the batches and binds their outputs into one preallocated array.
# The model is checked (or built) once for the data's shape; the batches then
# run through the resolved forward methods without per-batch checks. The
# callbacks' on_predict_* hooks run around them.
#
# Memory: a batch gathered from `x` belongs to this function, as does every
# layer's output, so layers that can write their output over their input do
# (nl_plan_infer()); with `reuse` (no callback can keep a batch's outputs)
# every full batch is gathered into the first batch's buffer. A model of such
# layers then allocates the result and one batch, whatever the number of
# batches. `owned`: x itself was made by predict() (converted from a data
# frame or from integers), so one batch may be written over it.
nl_predict_batches <- function(object, x, n, n_use, bs, cbs = list(), reuse = FALSE,
                               owned = FALSE) {
  nl_callbacks_run(cbs, "on_predict_begin")
  first <- min(bs, n_use)
  gathered <- first != n
  xb <- if (gathered) nl_batch_range(x, 1, first) else x
  nl_prepare_model(object, x)
  plan <- nl_forward_plan(object)
  nl_callbacks_run(cbs, "on_predict_batch_begin", 0L)
  out1 <- nl_plan_infer(plan, xb, owned = gathered || owned)
  if (is.list(out1)) {
    nl_abort(c("Models with several outputs cannot be predicted in batches yet.",
               i = "Use {.code batch_size = NULL}."), "value")
  }
  nl_callbacks_run(cbs, "on_predict_batch_end", 0L, list(outputs = out1))
  if (first == n_use) {
    nl_callbacks_run(cbs, "on_predict_end")
    return(out1)
  }
  d <- dim(out1)
  res <- nl_alloc_array_cpp(c(n_use, d[-1]), nl_kernel_threads(x))
  nl_rows_into_cpp(res, out1, 0)
  rm(out1)
  reuse <- reuse && is.double(xb)
  # The batch hooks run only on the callbacks that have them (often none).
  cbs_bb <- nl_callbacks_having(cbs, "on_predict_batch_begin")
  cbs_be <- nl_callbacks_having(cbs, "on_predict_batch_end")
  s <- first
  batch <- 1L
  while (s < n_use) {
    m <- min(bs, n_use - s)
    if (length(cbs_bb)) nl_callbacks_run(cbs_bb, "on_predict_batch_begin", batch)
    if (reuse && m == first) {
      nl_gather_range_into_cpp(xb, x, s + 1)
      ob <- nl_plan_infer(plan, xb, owned = TRUE)
    } else {
      ob <- nl_plan_infer(plan, nl_batch_range(x, s + 1, m), owned = TRUE)
    }
    nl_rows_into_cpp(res, ob, s)
    if (length(cbs_be)) nl_callbacks_run(cbs_be, "on_predict_batch_end", batch, list(outputs = ob))
    s <- s + m
    batch <- batch + 1L
  }
  nl_callbacks_run(cbs, "on_predict_end")
  res
}

# Rows `idx` of an array (first dimension), keeping the other dimensions: one
# allocation of the result's size (the input is not copied).
nl_slice_rows <- function(x, idx) {
  if (is.double(x)) return(nl_gather_rows_cpp(x, idx))
  # Integer or logical data: R's indexing reads only the selected rows too.
  d <- dim(x)
  out <- if (length(d) <= 1) x[idx] else
    do.call(`[`, c(list(x, idx), rep(list(rlang::missing_arg()), length(d) - 1L), list(drop = FALSE)))
  storage.mode(out) <- "double"
  if (length(d) == 1) dim(out) <- length(idx)
  dimnames(out) <- NULL
  out
}

# Rows from, ..., from + count - 1 of an array (a vector without dim stays one).
nl_slice_range <- function(x, from, count) {
  if (!is.double(x)) return(nl_slice_rows(x, seq.int(from, length.out = count)))
  nl_gather_range_cpp(x, from, count)
}
