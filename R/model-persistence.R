# Saving and loading whole models: Keras's `.keras` archives (readable by
# Python Keras 3), legacy tf.keras `.h5` files (read only), and R's own RDS
# format (which also keeps the optimizer state).

#' Save and load a model
#'
#' `save_model()` writes a model to a file whose format follows the extension:
#' * `.keras`: a Keras archive (a zip of `metadata.json`, `config.json` and
#'   `model.weights.h5`) that Python Keras 3 can load with
#'   `keras.saving.load_model()`. Configs are written in Keras's serialized
#'   form (0-based axes) and weights under Keras's HDF5 group names, as
#'   `float32` by default; `dtype = "float64"` keeps every bit for R-to-R use.
#'   The compile settings (loss, metrics, optimizer and its settings) are
#'   saved, and the optimizer's iteration count and learning rate where
#'   Keras keeps them, but not its slots (momenta): a loaded model starts
#'   with a fresh optimizer.
#' * `.rds`: R's own serialization, which keeps everything, optimizer state
#'   included, but only normlayers can read it.
#'
#' `load_model()` recognises the format from the file's contents: a `.keras`
#' archive written by Python Keras (3.x, or 2.13+ in the same format) or by
#' `save_model()`, a legacy whole-model `.h5` file written by tf.keras 2.x
#' (`model.save("model.h5")`), or an `.rds` file from `save_model()`.
#' When a Keras file has a compile config whose loss and optimizer normlayers
#' knows, the model comes back compiled (metrics normlayers lacks are dropped
#' with a warning); otherwise it comes back uncompiled with a warning.
#'
#' @section Supported Keras files:
#' Sequential and Functional models (nested models included) made of these
#' layer classes: `InputLayer`, `Dense`, `BatchNormalization`,
#' `LayerNormalization`, `Normalization`, `Dropout` and `Activation`, and the
#' normalization family (`GroupNormalization`, `RMSNormalization`,
#' `UnitNormalization`) and the merge layers (`Add`, `Concatenate`, ...);
#' not the `SpectralNormalization` wrapper nor arithmetic on symbolic
#' tensors, which only `.rds` keeps. Every activation normlayers has is
#' supported (see [layer_activation()]). Both the
#' Keras 3 configs (`batch_shape`, dtype policies, `build_config`) and the
#' Keras 2.x ones (`batch_input_shape`, dtype strings, list-valued axes) are
#' read. Losses: mean squared / absolute error and the three
#' crossentropies; optimizers: SGD, Adam and RMSprop with a constant
#' learning rate. Tried on files written by Keras 2.15 and 3.3 to 3.15.
#' Anything else (another layer class, an unknown activation, weights whose
#' shapes disagree with the config, a damaged file) is an error of class
#' `normlayers_error` that says what was found and what is supported.
#'
#' @param model For `save_model()`, the model to save. For `load_model()`, a
#'   file path or a raw vector (returned by `save_model(model, NULL)`, or the
#'   bytes of a `.keras` file).
#' @param filepath The file to write (ending in `.keras` or `.rds`), or
#'   `NULL` to return the model serialized by R as a raw vector.
#' @param overwrite Whether an existing file may be replaced. If `FALSE` and
#'   the file exists, `save_model()` errors (it never asks).
#' @param ... Accepted for compatibility with keras3 (`zipped`) and ignored.
#' @param dtype For `.keras` files: `"float32"` (the default, as Keras
#'   writes) or `"float64"` for the weights.
#' @param custom_objects Unused; accepted for compatibility.
#' @param compile If `FALSE`, the loaded model is not compiled.
#' @param safe_mode Unused; accepted for compatibility.
#' @returns `save_model()`: `model` invisibly, or a raw vector when
#'   `filepath = NULL`. `load_model()`: the model.
#' @seealso [save_model_weights()] for the weights alone.
#' @export
#' @family models
#' @examples
#' model <- keras_model_sequential(input_shape = 3) |>
#'   layer_dense(2, activation = "relu") |>
#'   layer_batch_normalization() |>
#'   layer_dense(1)
#' compile(model, optimizer = "adam", loss = "mse")
#' path <- tempfile(fileext = ".keras")
#' save_model(model, path)
#' model2 <- load_model(path)
#' x <- matrix(1:6, 2)
#' all.equal(predict(model, x), predict(model2, x), tolerance = 1e-6)
#'
#' # bit for bit
#' save_model(model, path, overwrite = TRUE, dtype = "float64")
#' identical(predict(model, x), predict(load_model(path), x))
#' unlink(path)
save_model <- function(model, filepath = NULL, overwrite = FALSE, ..., dtype = "float32") {
  nl_with_call(rlang::current_call(), {
    nl_check_layer_arg(model)
    overwrite <- nl_check_flag(overwrite, "overwrite")
    dtype <- nl_check_choice(dtype, c("float32", "float64"), "dtype")
    if (is.null(filepath)) return(serialize(model, NULL))
    format <- nl_check_save_path(filepath, overwrite, c(keras = "\\.keras$", rds = "\\.rds$"),
                                 "{.file .keras} (a Keras archive) or {.file .rds} (R's own format)")
    if (format == "keras") nl_keras_write_archive(model, filepath, dtype) else nl_save_rds(model, filepath)
    invisible(model)
  })
}

nl_save_rds <- function(model, filepath, call = rlang::caller_env()) {
  tmp <- tempfile("normlayers-", fileext = ".rds")
  on.exit(unlink(tmp, force = TRUE), add = TRUE)
  saveRDS(model, tmp)
  nl_move_into_place(tmp, filepath, call = call)
}

# Checks a path to write: a string, a known extension, an existing directory,
# and no existing file unless `overwrite`. Returns the format's name.
nl_check_save_path <- function(filepath, overwrite, formats, supported,
                               call = rlang::caller_env()) {
  nl_check_string(filepath, "filepath", what = "a single file path", call = call)
  hit <- names(formats)[vapply(formats, grepl, TRUE, x = tolower(filepath))]
  if (length(hit) == 0) {
    nl_abort(c("{.arg filepath} must end in {supported}.",
               x = "You supplied {.file {filepath}}."), "value", call = call)
  }
  dir <- dirname(filepath)
  if (!dir.exists(dir)) {
    nl_abort(c("Cannot write {.arg filepath}: its directory does not exist.",
               x = "You supplied {.file {filepath}}; there is no directory {.file {dir}}.",
               i = "Create it first, e.g. with {.code dir.create()}."), "file", call = call)
  }
  if (file.exists(filepath) && !overwrite) {
    nl_abort(c("File {.file {filepath}} already exists.",
               i = "Use {.code overwrite = TRUE} to replace it."), "value", call = call)
  }
  hit[1]
}

#' @rdname save_model
#' @export
load_model <- function(model, custom_objects = NULL, compile = TRUE, safe_mode = TRUE) {
  nl_with_call(rlang::current_call(), {
    compile <- nl_check_flag(compile, "compile")
    obj <- if (is.raw(model)) nl_load_raw(model, compile) else nl_load_file(model, compile)
    if (!compile && inherits(obj, "nl_model")) {
      st <- nl_state(obj)
      st$compiled <- NULL
    }
    obj
  })
}

nl_load_raw <- function(bytes, compile, call = rlang::caller_env()) {
  if (nl_is_zip_head(bytes[seq_len(min(8L, length(bytes)))])) {
    tmp <- tempfile("normlayers-", fileext = ".keras")
    on.exit(unlink(tmp, force = TRUE), add = TRUE)
    writeBin(bytes, tmp)
    return(nl_keras_load_archive(tmp, compile, call = call))
  }
  obj <- tryCatch(unserialize(bytes), error = function(e) e)
  if (inherits(obj, "error") || !nl_is_layer(obj)) {
    nl_abort(c("{.arg model} does not hold a saved model.",
               x = if (inherits(obj, "error")) "The raw vector could not be unserialized." else "It holds {nl_describe(obj)}.",
               i = "Give the raw vector returned by {.code save_model(model, NULL)} or the bytes of a {.file .keras} file."),
             "type", parent = if (inherits(obj, "error")) obj else NULL, call = call)
  }
  obj
}

nl_load_file <- function(path, compile, call = rlang::caller_env()) {
  nl_check_string(path, "model", empty_ok = TRUE, what = "a file path or a raw vector",
                  call = call)
  if (!file.exists(path) || dir.exists(path)) {
    nl_abort(c("{.arg model} names a file that does not exist.",
               x = "There is no file {.file {path}}.",
               i = "Check the path."), "value", call = call)
  }
  size <- file.size(path)
  if (is.na(size) || size == 0) {
    nl_abort(c("{.arg model} is an empty file (0 bytes).",
               x = "You supplied {.file {path}}.",
               i = "It may have been cut off while it was written; save the model again."),
             "file", call = call)
  }
  head <- nl_file_head(path)
  if (nl_is_zip_head(head)) return(nl_keras_load_archive(path, compile, call = call))
  # HDF5 files may start with a user block: ask HDF5 when the first bytes do not say
  if (nl_is_h5_head(head) || isTRUE(tryCatch(hdf5r::is.h5file(path), error = function(e) FALSE))) {
    return(nl_legacy_load(path, compile, call = call))
  }
  obj <- tryCatch(readRDS(path), error = function(e) e)
  if (inherits(obj, "error") || !nl_is_layer(obj)) {
    nl_abort(c("{.arg model} does not hold a model normlayers can read.",
               x = "You supplied {.file {path}}.",
               x = if (inherits(obj, "error")) "It is not a zip archive, not an HDF5 file, and not a readable R data file."
                   else "It is an R data file holding {nl_describe(obj)}.",
               i = "Supported: {.file .keras} archives, legacy Keras {.file .h5} models and {.file .rds} files from {.fn save_model}."),
             "type", parent = if (inherits(obj, "error")) obj else NULL, call = call)
  }
  obj
}

#' Save and load the weights of a model
#'
#' `save_model_weights()` writes the weights of a model to a `.weights.h5`
#' file laid out as Keras 3 writes it (`layers/<group>/vars/<i>`, groups
#' named after the layer classes), so that Python Keras can read it with
#' `model.load_weights()`, and `load_model_weights()` reads such a file (or
#' the weights inside a `.keras` archive) into a model with the same layers.
#' Nothing is changed unless every weight fits.
#'
#' @param model A built model.
#' @param filepath A file ending in `.weights.h5` (for
#'   `load_model_weights()` also a `.keras` archive).
#' @param overwrite Whether an existing file may be replaced.
#' @param max_shard_size Unsupported (must be `NULL`); accepted for
#'   compatibility with keras3.
#' @param dtype `"float32"` (the default) or `"float64"`.
#' @param skip_mismatch If `TRUE`, layers whose weights do not fit are
#'   skipped with a warning instead of an error.
#' @param ... Unused.
#' @returns `model`, invisibly.
#' @export
#' @family models
#' @examples
#' model <- keras_model_sequential(input_shape = 3) |>
#'   layer_dense(2) |>
#'   layer_layer_normalization()
#' path <- tempfile(fileext = ".weights.h5")
#' save_model_weights(model, path, dtype = "float64")
#' model2 <- keras_model_sequential(input_shape = 3) |>
#'   layer_dense(2) |>
#'   layer_layer_normalization()
#' load_model_weights(model2, path)
#' identical(get_weights(model), get_weights(model2))
#' unlink(path)
save_model_weights <- function(model, filepath, overwrite = FALSE, max_shard_size = NULL,
                               dtype = "float32") {
  nl_with_call(rlang::current_call(), {
    nl_check_layer_arg(model)
    overwrite <- nl_check_flag(overwrite, "overwrite")
    dtype <- nl_check_choice(dtype, c("float32", "float64"), "dtype")
    if (!is.null(max_shard_size)) {
      nl_abort(c("{.arg max_shard_size} is not supported.",
                 i = "normlayers writes one {.file .weights.h5} file; leave it {.code NULL}."),
               "value")
    }
    nl_check_save_path(filepath, overwrite, c(weights = "\\.weights\\.h5$"), "{.file .weights.h5}")
    nl_keras_check_writable(model)
    nl_save_weights_h5(model, filepath, dtype)
    invisible(model)
  })
}

nl_save_weights_h5 <- function(model, filepath, dtype, call = rlang::caller_env()) {
  tmp <- tempfile("normlayers-", fileext = ".weights.h5")
  on.exit(unlink(tmp, force = TRUE), add = TRUE)
  nl_keras_write_weights_file(model, tmp, dtype)
  nl_move_into_place(tmp, filepath, call = call)
}

#' @rdname save_model_weights
#' @export
load_model_weights <- function(model, filepath, skip_mismatch = FALSE, ...) {
  nl_with_call(rlang::current_call(), {
    nl_check_layer_arg(model)
    skip_mismatch <- nl_check_flag(skip_mismatch, "skip_mismatch")
    if (!inherits(model, "nl_model")) {
      nl_abort(c("{.arg model} must be a model.", x = "You supplied a single layer."), "type")
    }
    path <- nl_load_file_check(filepath)
    head <- nl_file_head(path)
    tree <- if (nl_is_zip_head(head)) {
      nl_keras_read_archive(path)$weights
    } else {
      nl_h5_read_file(path, "The weights file", skip = c("optimizer", "metrics"))
    }
    slots <- nl_keras_collect_weights(model, tree, skip_mismatch = skip_mismatch)
    nl_keras_assign_weights(slots)
    invisible(model)
  })
}

nl_load_file_check <- function(path, call = rlang::caller_env()) {
  nl_check_string(path, "filepath", empty_ok = TRUE, what = "a file path", call = call)
  if (!file.exists(path) || dir.exists(path)) {
    nl_abort(c("{.arg filepath} names a file that does not exist.",
               x = "There is no file {.file {path}}.", i = "Check the path."), "value", call = call)
  }
  if (isTRUE(file.size(path) == 0)) {
    nl_abort(c("{.arg filepath} is an empty file (0 bytes).", x = "You supplied {.file {path}}."),
             "file", call = call)
  }
  path
}
