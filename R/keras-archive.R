# `.keras` archives: a zip of metadata.json, config.json and model.weights.h5,
# as Python Keras 3 (and Keras 2.13+) writes them. Everything is read into
# memory first and the temporary directory is removed before a model is built,
# so a failure leaves nothing behind.

nl_keras_members <- c("metadata.json", "config.json", "model.weights.h5")

# The first bytes of a file (raw(0) when empty or unreadable).
nl_file_head <- function(path, n = 8L) {
  con <- file(path, "rb")
  on.exit(close(con), add = TRUE)
  readBin(con, "raw", n)
}

nl_is_zip_head <- function(head) {
  length(head) >= 4 && identical(head[1:4], as.raw(c(0x50, 0x4b, 0x03, 0x04)))
}

nl_is_h5_head <- function(head) {
  length(head) >= 8 && identical(head[1:8], as.raw(c(0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a)))
}

nl_json_read <- function(path, member, file, call = rlang::caller_env()) {
  tryCatch(jsonlite::fromJSON(readLines(path, warn = FALSE, encoding = "UTF-8"),
                              simplifyVector = FALSE),
           error = function(e) {
             nl_abort(c("{.file {member}} in {.file {file}} is not valid JSON.",
                        i = "The archive may be damaged."), "file", parent = e, call = call)
           })
}

# Doubles -> verbatim JSON numbers that read back bit for bit.
nl_json_numbers <- function(x) {
  if (is.list(x)) {
    at <- attributes(x)
    out <- lapply(x, nl_json_numbers)
    attributes(out) <- at
    return(out)
  }
  if (is.double(x) && length(x) == 1 && !is.na(x) && is.finite(x)) {
    s <- sprintf("%.15g", x)
    if (as.numeric(s) != x) s <- sprintf("%.17g", x)
    return(structure(s, class = "json"))
  }
  if (is.double(x) && length(x) > 1) return(nl_json_numbers(as.list(x)))
  x
}

nl_json_write <- function(x, path) {
  txt <- jsonlite::toJSON(nl_json_numbers(x), auto_unbox = TRUE, null = "null", na = "null",
                          json_verbatim = TRUE, pretty = FALSE)
  writeLines(txt, path, useBytes = TRUE)
}

# Reads a `.keras` archive into list(metadata, config, weights).
nl_keras_read_archive <- function(path, call = rlang::caller_env()) {
  members <- tryCatch(zip::zip_list(path),
                      error = function(e) {
                        nl_abort(c("{.file {path}} is not a readable {.file .keras} archive.",
                                   x = "Its zip directory could not be read: the file is truncated or damaged.",
                                   i = "A {.file .keras} file is a zip of {.file {nl_keras_members}}."),
                                 "file", parent = e, call = call)
                      })
  # Keras itself reads only config.json and the weights; metadata.json is optional
  missing <- setdiff(nl_keras_members[-1], members$filename)
  if (length(missing)) {
    nl_abort(c("{.file {path}} is a zip file but not a {.file .keras} archive.",
               x = "It lacks {.file {missing}}; it holds {.file {utils::head(members$filename, 10)}}.",
               i = "A {.file .keras} file is a zip of {.file {nl_keras_members}}."),
             "file", call = call)
  }
  tmp <- tempfile("normlayers-keras-")
  dir.create(tmp)
  on.exit(unlink(tmp, recursive = TRUE, force = TRUE), add = TRUE)
  wanted <- intersect(nl_keras_members, members$filename)
  tryCatch(zip::unzip(path, files = wanted, exdir = tmp),
           error = function(e) {
             nl_abort(c("{.file {path}} could not be unpacked.",
                        x = "The archive is truncated or damaged."), "file", parent = e, call = call)
           })
  meta <- if ("metadata.json" %in% wanted) {
    nl_json_read(file.path(tmp, "metadata.json"), "metadata.json", path, call = call)
  }
  config <- nl_json_read(file.path(tmp, "config.json"), "config.json", path, call = call)
  weights <- nl_h5_read_file(file.path(tmp, "model.weights.h5"),
                             paste0("model.weights.h5 in ", path),
                             skip = c("optimizer", "metrics"), call = call)
  list(metadata = meta, config = config, weights = weights)
}

# A model from a read archive (or a legacy file): nothing is returned unless
# every layer and every weight was read.
nl_keras_model_from_parts <- function(config, weights_fun, compile_config, file, compile,
                                      call = rlang::caller_env()) {
  if (!is.list(config) || !config$class_name %in% c("Sequential", "Functional", "Model")) {
    cls <- if (is.list(config)) config$class_name %||% "nothing" else "nothing"
    nl_abort(c("{.file {file}} does not hold a model normlayers can read.",
               x = "Its top-level config is a {.val {cls}}.",
               i = "Supported: {.cls Sequential} and {.cls Functional} models."),
             "config", call = call)
  }
  model <- nl_keras_entry_in(config, call = call)
  weights_fun(model)
  if (compile) nl_keras_apply_compile(model, compile_config, file)
  model
}

nl_keras_load_archive <- function(path, compile, call = rlang::caller_env()) {
  arch <- nl_keras_read_archive(path, call = call)
  major <- nl_keras_major_of(arch$metadata$keras_version)
  nl_with_keras_major(major, nl_keras_model_from_parts(
    arch$config,
    function(model) nl_keras_assign_weights(nl_keras_collect_weights(model, arch$weights, call = call)),
    arch$config$compile_config, path, compile, call = call
  ))
}

# Checks that a model can be written to a Keras file.
nl_keras_check_writable <- function(model, call = rlang::caller_env()) {
  if (!inherits(model, "nl_model")) {
    nl_abort(c("Only models can be saved to a Keras file.",
               x = "{.arg model} is a single {.cls {nl_state(model)$class_name}} layer.",
               i = "Wrap it in {.fn keras_model_sequential}, or save it as {.file .rds}."),
             "type", call = call)
  }
  for (l in nl_leaf_layers(model)) {
    st <- nl_state(l)
    if (!isTRUE(st$built)) {
      nl_abort(c("Layer {.val {st$name}} is not built, so it has no weights to save.",
                 i = "Give the model an input shape or call it on data first."),
               "not_built", call = call)
    }
  }
  invisible(TRUE)
}

# Copies a finished temporary file to its destination.
nl_move_into_place <- function(src, dest, call = rlang::caller_env()) {
  ok <- suppressWarnings(file.copy(src, dest, overwrite = TRUE))
  if (!isTRUE(ok)) {
    nl_abort(c("Could not write {.file {dest}}.", i = "Check that you can write to its directory."),
             "file", call = call)
  }
  invisible(dest)
}

nl_keras_write_archive <- function(model, path, dtype = "float32", call = rlang::caller_env()) {
  nl_keras_check_writable(model, call = call)
  config <- nl_keras_layer_out(model, dtype)
  cc <- nl_keras_compile_out(model)
  if (!is.null(cc)) config$compile_config <- cc
  tmp <- tempfile("normlayers-keras-")
  dir.create(tmp)
  on.exit(unlink(tmp, recursive = TRUE, force = TRUE), add = TRUE)
  nl_json_write(list(keras_version = "3.6.0",
                     date_saved = format(Sys.time(), "%Y-%m-%d@%H:%M:%S", tz = "UTC")),
                file.path(tmp, "metadata.json"))
  nl_json_write(config, file.path(tmp, "config.json"))
  nl_keras_write_weights_file(model, file.path(tmp, "model.weights.h5"), dtype)
  zfile <- file.path(tmp, "model.keras")
  zip::zip(zfile, files = nl_keras_members, root = tmp, mode = "mirror")
  nl_move_into_place(zfile, path, call = call)
}
