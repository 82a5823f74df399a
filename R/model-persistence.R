# Saving and loading whole models (architecture, weights, compile state and
# optimizer state) as R serialization (RDS) under the hood.

#' Save and load a model
#'
#' `save_model()` writes a model (or layer) with its architecture, weights,
#' training configuration and optimizer state to a file; `load_model()` reads
#' it back as a new, independent model. The file is an R serialization (RDS),
#' whatever its extension: `.keras` is accepted for keras3 compatibility, but
#' the file is not a Keras zip archive and cannot be read by Python Keras.
#'
#' @param model For `save_model()`, the model to save. For `load_model()`, a
#'   file path or a raw vector returned by `save_model(model, NULL)`.
#' @param filepath The file to write, or `NULL` to return the serialized model
#'   as a raw vector.
#' @param overwrite Whether an existing file may be replaced. If `FALSE` and
#'   the file exists, `save_model()` errors (it never asks).
#' @param ... Accepted for compatibility with keras3 (`zipped`) and ignored.
#' @param custom_objects Unused; accepted for compatibility.
#' @param compile If `FALSE`, the loaded model is not compiled (its optimizer,
#'   loss and metrics are dropped).
#' @param safe_mode Unused; accepted for compatibility.
#' @returns `save_model()`: `model` invisibly, or a raw vector when
#'   `filepath = NULL`. `load_model()`: the model.
#' @export
#' @family models
#' @examples
#' model <- keras_model_sequential(input_shape = 3) |>
#'   layer_dense(2) |>
#'   layer_layer_normalization()
#' compile(model, loss = "mse")
#' path <- tempfile(fileext = ".keras")
#' save_model(model, path)
#' model2 <- load_model(path)
#' x <- matrix(1:6, 2)
#' all.equal(predict(model, x), predict(model2, x))
save_model <- function(model, filepath = NULL, overwrite = FALSE, ...) {
  nl_check_layer_arg(model)
  overwrite <- nl_check_flag(overwrite, "overwrite")
  if (is.null(filepath)) return(serialize(model, NULL))
  if (!is.character(filepath) || length(filepath) != 1 || is.na(filepath) || !nzchar(filepath)) {
    nl_abort(c("{.arg filepath} must be a single file path or {.code NULL}.",
               x = "You supplied {nl_describe(filepath)}."), "value")
  }
  if (file.exists(filepath) && !overwrite) {
    nl_abort(c("File {.file {filepath}} already exists.",
               i = "Use {.code overwrite = TRUE} to replace it."), "value")
  }
  saveRDS(model, filepath)
  invisible(model)
}

#' @rdname save_model
#' @export
load_model <- function(model, custom_objects = NULL, compile = TRUE, safe_mode = TRUE) {
  compile <- nl_check_flag(compile, "compile")
  obj <- if (is.raw(model)) {
    tryCatch(unserialize(model), error = function(e) NULL)
  } else {
    if (!is.character(model) || length(model) != 1 || is.na(model)) {
      nl_abort(c("{.arg model} must be a file path or a raw vector.",
                 x = "You supplied {nl_describe(model)}."), "value")
    }
    if (!file.exists(model)) {
      nl_abort(c("File {.file {model}} does not exist.",
                 i = "Check the path given to {.fn save_model}."), "value")
    }
    tryCatch(readRDS(model), error = function(e) NULL)
  }
  if (!nl_is_layer(obj)) {
    nl_abort(c("{.arg model} does not hold a model saved by {.fn save_model}.",
               i = "Only files written by normlayers' {.fn save_model} can be loaded."), "type")
  }
  if (!compile && inherits(obj, "nl_model")) {
    st <- nl_state(obj)
    st$compiled <- NULL
  }
  obj
}
