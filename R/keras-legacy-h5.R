# Legacy whole-model `.h5` files (tf.keras 2.x, `model.save("m.h5")`): the
# root attribute `model_config` holds the model's JSON config, `training_config`
# the compile settings, and group `model_weights` one group per layer (by layer
# name, listed in attribute `layer_names`) whose attribute `weight_names` lists
# its variables ("dense/kernel:0", ...) as paths inside that group.

nl_h5_attr <- function(obj, name) {
  if (!name %in% hdf5r::h5attr_names(obj)) return(NULL)
  v <- hdf5r::h5attr(obj, name)
  if (is.raw(v)) v <- rawToChar(v)
  v
}

# Reads what a legacy file holds: list(config, training_config, weights), where
# weights is a named list (by layer group) of lists list(owner, var, value).
nl_legacy_read <- function(path, call = rlang::caller_env()) {
  f <- nl_h5_open(path, "The file", call = call)
  on.exit(try(f$close_all(), silent = TRUE), add = TRUE)
  parse <- function(txt, what) {
    if (is.null(txt)) return(NULL)
    tryCatch(jsonlite::fromJSON(paste(txt, collapse = ""), simplifyVector = FALSE),
             error = function(e) {
               nl_abort(c("The {.field {what}} attribute of {.file {path}} is not valid JSON."),
                        "file", parent = e, call = call)
             })
  }
  config <- parse(nl_h5_attr(f, "model_config"), "model_config")
  if (is.null(config) || !f$exists("model_weights")) {
    nl_abort(c("{.file {path}} is an HDF5 file but not a Keras model.",
               x = "It has no {.field model_config} attribute or no {.field model_weights} group.",
               i = "A weights-only file is read with {.fn load_model_weights}; whole models are {.file .keras} archives or legacy {.file .h5} files from {.code model.save()}."),
             "file", call = call)
  }
  training <- parse(nl_h5_attr(f, "training_config"), "training_config")
  mw <- f[["model_weights"]]
  layer_names <- as.character(nl_h5_attr(mw, "layer_names") %||% names(mw))
  weights <- list()
  res <- tryCatch({
    for (ln in layer_names) {
      if (!mw$exists(ln)) next
      g <- mw[[ln]]
      wn <- as.character(nl_h5_attr(g, "weight_names") %||% character())
      weights[[ln]] <- lapply(wn, function(w) {
        parts <- strsplit(w, "/", fixed = TRUE)[[1]]
        var <- sub(":[0-9]+$", "", parts[length(parts)])
        owner <- if (length(parts) >= 2) parts[length(parts) - 1] else ln
        ds <- g[[w]]
        on.exit(ds$close(), add = TRUE)
        list(owner = owner, var = var, value = nl_h5_read_dataset(ds))
      })
      g$close()
    }
    TRUE
  }, error = function(e) e)
  if (inherits(res, "error")) {
    nl_abort(c("The weights in {.file {path}} could not be read.",
               x = "The file is damaged or truncated."), "file", parent = res, call = call)
  }
  list(config = config, training_config = training, weights = weights,
       keras_version = as.character(nl_h5_attr(f, "keras_version") %||% NA_character_))
}

# Matches legacy weights with a model's layers (by layer name, then by
# variable name); returns slots like nl_keras_collect_weights().
nl_legacy_collect_weights <- function(model, weights, call = rlang::caller_env()) {
  slots <- list()
  fit_leaf <- function(layer, entries, group) {
    st <- nl_state(layer)
    expected <- nl_keras_var_names(layer)
    own <- Filter(function(e) identical(e$owner, st$name), entries)
    if (length(own) != length(expected)) own <- entries
    vars <- vapply(own, `[[`, "", "var")
    if (length(own) != length(expected)) {
      nl_abort(c("The weights in the file do not fit layer {.val {st$name}} ({.cls {st$class_name}}).",
                 x = "Group {.field model_weights/{group}} lists {.field {vars}}; the layer has {.field {expected}}."),
               "weights", call = call)
    }
    out <- list()
    for (j in seq_along(expected)) {
      nm <- expected[j]
      hit <- match(nm, vars)
      e <- own[[if (is.na(hit)) j else hit]]
      want <- nl_keras_var_shape(st, nm)
      got <- attr(e$value, "keras_shape")
      if (!identical(as.integer(got), want)) {
        nl_abort(c("Weight {.field {nm}} of layer {.val {st$name}} has the wrong shape in the file.",
                   x = "The file has shape {nl_format_shape(got)}; the layer's config gives {nl_format_shape(want)}."),
                 "weights", call = call)
      }
      out[[j]] <- list(st = st, name = nm, value = as.double(e$value))
    }
    out
  }
  for (layer in nl_state(model)$layers) {
    entries <- weights[[layer$name]] %||% list()
    if (inherits(layer, "nl_model")) {
      for (leaf in nl_leaf_layers(layer)) {
        mine <- Filter(function(e) identical(e$owner, leaf$name), entries)
        if (length(nl_keras_var_names(leaf)) == 0 && length(mine) == 0) next
        slots <- c(slots, fit_leaf(leaf, mine, layer$name))
      }
    } else {
      if (length(nl_keras_var_names(layer)) == 0 && length(entries) == 0) next
      slots <- c(slots, fit_leaf(layer, entries, layer$name))
    }
  }
  slots
}

nl_legacy_load <- function(path, compile, call = rlang::caller_env()) {
  lg <- nl_legacy_read(path, call = call)
  major <- nl_keras_major_of(lg$keras_version) %||% 2L
  nl_with_keras_major(major, nl_keras_model_from_parts(
    lg$config,
    function(model) nl_keras_assign_weights(nl_legacy_collect_weights(model, lg$weights, call = call)),
    lg$training_config, path, compile, call = call
  ))
}
