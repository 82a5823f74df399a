# Keras 3 weights files (`model.weights.h5` inside a `.keras` archive, and
# `.weights.h5` files): HDF5 groups `layers/<group>/vars/0, 1, ...`, where a
# layer's group is its class name in snake_case with `_1`, `_2`, ... per
# repeated class (not the layer's name); nested models hold their own
# `layers` group. HDF5 stores arrays row-major, so hdf5r sees the dimensions
# reversed: values are put back in Keras (= normlayers) order here.

# ---- reading -----------------------------------------------------------------

# A dataset -> an R double array in Keras order, with attribute "keras_shape".
nl_h5_read_dataset <- function(ds) {
  dims <- ds$dims
  type_class <- tryCatch(as.character(ds$get_type()$get_class()), error = function(e) "?")
  if (!type_class %in% c("H5T_FLOAT", "H5T_INTEGER")) {
    return(structure(list(), class = "nl_h5_unreadable", type = type_class))
  }
  v <- ds$read(drop = FALSE)
  v <- as.double(v)
  shape <- rev(as.integer(dims))
  if (length(dims) >= 2) {
    v <- aperm(array(v, dims), rev(seq_along(dims)))
  }
  attr(v, "keras_shape") <- shape
  attr(v, "h5_type") <- type_class
  v
}

# A group -> a named list (groups become lists of class nl_h5_group).
nl_h5_read_tree <- function(g, skip = character()) {
  out <- list()
  for (nm in setdiff(names(g), skip)) {
    obj <- g[[nm]]
    out[[nm]] <- if (inherits(obj, "H5Group")) {
      structure(nl_h5_read_tree(obj), class = "nl_h5_group")
    } else {
      nl_h5_read_dataset(obj)
    }
    obj$close()
  }
  out
}

# Opens an HDF5 file and reads its tree; classed errors for non-HDF5 files.
nl_h5_open <- function(path, what, call = rlang::caller_env()) {
  if (!isTRUE(hdf5r::is.h5file(path))) {
    nl_abort(c("{what} is not an HDF5 file.",
               x = "{.file {path}} does not start with an HDF5 signature.",
               i = "normlayers reads {.file .keras} archives, {.file .weights.h5} files and legacy {.file .h5} models."),
             "file", call = call)
  }
  tryCatch(hdf5r::H5File$new(path, mode = "r"),
           error = function(e) {
             nl_abort(c("{what} could not be opened as HDF5.", x = "{.file {path}} is damaged or truncated."),
                      "file", parent = e, call = call)
           })
}

nl_h5_read_file <- function(path, what, skip = character(), call = rlang::caller_env()) {
  f <- nl_h5_open(path, what, call = call)
  on.exit(try(f$close_all(), silent = TRUE), add = TRUE)
  tryCatch(structure(nl_h5_read_tree(f, skip), class = "nl_h5_group"),
           error = function(e) {
             nl_abort(c("{what} could not be read.", x = "{.file {path}} is damaged or truncated."),
                      "file", parent = e, call = call)
           })
}

# ---- the layout --------------------------------------------------------------

# Keras's group names for the layers directly inside a model: class name in
# snake_case, `_1`, `_2`, ... for repeats. A functional model's inputs come
# first (as InputLayer, without variables); a sequential model's input has no group.
nl_keras_children <- function(model) {
  st <- nl_state(model)
  layers <- st$layers
  if (inherits(model, "nl_functional")) layers <- nl_keras_functional_order(model)
  classes <- vapply(layers, function(l) nl_state(l)$class_name, "")
  if (inherits(model, "nl_functional")) {
    layers <- c(rep(list(NULL), length(st$inputs)), layers)
    classes <- c(rep("InputLayer", length(st$inputs)), classes)
  }
  snake <- nl_snake_case(classes)
  groups <- character(length(snake))
  seen <- list()
  for (i in seq_along(snake)) {
    n <- seen[[snake[i]]]
    groups[i] <- if (is.null(n)) snake[i] else paste0(snake[i], "_", n + 1L)
    seen[[snake[i]]] <- if (is.null(n)) 0L else n + 1L
  }
  list(layers = layers, groups = groups)
}

# The layers of a functional model in Keras's order (keras.src.ops.function's
# map_graph): by depth from the outputs, deepest first; ties by the order in
# which a walk from the outputs (inputs of a call in order) first meets them.
nl_keras_functional_order <- function(model) {
  st <- nl_state(model)
  nodes <- st$nodes
  if (length(nodes) == 0) return(list())
  envs <- lapply(st$layers, nl_state)
  layer_of <- vapply(nodes, function(nd) {
    which(vapply(envs, identical, TRUE, nl_state(nd$layer)))[1]
  }, 1L)
  producer <- stats::setNames(seq_along(nodes), vapply(nodes, function(nd) as.character(nd$out_id), ""))
  first_seen <- rep(NA_integer_, length(st$layers))
  seen_count <- 0L
  finished <- logical(length(nodes))
  post <- integer()
  visit <- function(tid) {
    k <- producer[tid]
    if (is.na(k) || finished[k]) return(invisible())
    if (is.na(first_seen[layer_of[k]])) {
      seen_count <<- seen_count + 1L
      first_seen[layer_of[k]] <<- seen_count
    }
    for (p in nodes[[k]]$in_ids) visit(as.character(p))
    finished[k] <<- TRUE
    post <<- c(post, k)
  }
  for (o in st$outputs) visit(as.character(o$id))
  node_depth <- rep(0, length(nodes))
  layer_depth <- rep(0, length(st$layers))
  for (k in rev(post)) {
    d <- max(node_depth[k], layer_depth[layer_of[k]])
    layer_depth[layer_of[k]] <- d
    node_depth[k] <- d
    for (p in nodes[[k]]$in_ids) {
      pk <- producer[as.character(p)]
      if (!is.na(pk)) node_depth[pk] <- max(d + 1, node_depth[pk])
    }
  }
  ord <- order(-layer_depth, first_seen)
  st$layers[ord]
}

# The variables of one (non-model) layer in Keras's order: our weights
# (trainable first), and Normalization's `count`.
nl_keras_var_names <- function(layer) {
  st <- nl_state(layer)
  nms <- nl_weight_order(st)
  if (inherits(layer, "nl_normalization") && !nl_norm_is_fixed(st)) nms <- c(nms, "count")
  nms
}

nl_keras_var_shape <- function(st, nm) {
  if (identical(nm, "count")) return(integer())
  as.integer(st$weight_info[[nm]]$shape)
}

# Matches a model's layers with a weights tree. Returns a list of slots
# (st, name, value) after checking every count and shape; changes nothing.
nl_keras_collect_weights <- function(model, tree, path = "", skip_mismatch = FALSE,
                                     call = rlang::caller_env()) {
  kids <- nl_keras_children(model)
  lay <- tree[["layers"]]
  slots <- list()
  for (i in seq_along(kids$groups)) {
    layer <- kids$layers[[i]]
    gpath <- paste0(path, "layers/", kids$groups[i])
    grp <- if (is.null(lay)) NULL else lay[[kids$groups[i]]]
    if (is.null(layer)) next
    if (inherits(layer, "nl_model")) {
      slots <- c(slots, nl_keras_collect_weights(layer, grp %||% list(), paste0(gpath, "/"),
                                                 skip_mismatch, call = call))
      next
    }
    st <- nl_state(layer)
    expected <- nl_keras_var_names(layer)
    vars <- if (is.null(grp)) NULL else grp[["vars"]]
    found <- names(vars) %||% character()
    if (length(found) != length(expected) || !all(found %in% as.character(seq_along(expected) - 1L))) {
      if (skip_mismatch) {
        nl_warn("Skipped layer {.val {st$name}}: group {.field {gpath}/vars} holds {length(found)} variable{?s}, the layer has {length(expected)}.",
                "weights")
        next
      }
      nl_abort(c("The weights file does not fit layer {.val {st$name}} ({.cls {st$class_name}}).",
                 x = "Group {.field {gpath}/vars} holds {length(found)} variable{?s}; the layer has {length(expected)} ({.field {expected}}).",
                 i = "The weights must come from a model with the same layers in the same order."),
               "weights", call = call)
    }
    layer_slots <- list()
    for (j in seq_along(expected)) {
      v <- vars[[as.character(j - 1L)]]
      nm <- expected[j]
      want <- nl_keras_var_shape(st, nm)
      got <- attr(v, "keras_shape")
      if (inherits(v, "nl_h5_unreadable") || !identical(as.integer(got), want)) {
        if (skip_mismatch) {
          nl_warn("Skipped layer {.val {st$name}}: {.field {nm}} has shape {nl_format_shape(got)} in the file, {nl_format_shape(want)} in the layer.",
                  "weights")
          layer_slots <- NULL
          break
        }
        nl_abort(c("Weight {.field {nm}} of layer {.val {st$name}} has the wrong shape in the file.",
                   x = "{.field {gpath}/vars/{j - 1}} has shape {nl_format_shape(got)}; the layer's config gives {nl_format_shape(want)}.",
                   i = "The config and the weights of the file disagree."),
                 "weights", call = call)
      }
      layer_slots[[length(layer_slots) + 1]] <- list(st = st, name = nm, value = as.double(v))
    }
    slots <- c(slots, layer_slots)
  }
  slots
}

# Writes collected slots into their layers (after every check passed).
nl_keras_assign_weights <- function(slots) {
  for (s in slots) {
    if (identical(s$name, "count")) {
      s$st$keras_count <- s$value
    } else {
      nl_weight_set(s$st, s$name, nl_shape_value(s$value, s$st$weight_info[[s$name]]$shape))
    }
  }
  invisible(NULL)
}

# ---- writing -----------------------------------------------------------------

nl_h5_group <- function(parent, name, label = NULL) {
  g <- parent$create_group(name)
  if (!is.null(label)) hdf5r::h5attr(g, "name") <- label
  g
}

# Writes one value (Keras shape `shape`) as dataset `name` of group `g`.
nl_h5_write_value <- function(g, name, value, shape, dtype) {
  h5type <- switch(dtype, float32 = hdf5r::h5types$H5T_IEEE_F32LE,
                   float64 = hdf5r::h5types$H5T_IEEE_F64LE,
                   int64 = hdf5r::h5types$H5T_STD_I64LE)
  value <- as.double(value)
  if (length(shape) == 0) {
    ds <- g$create_dataset(name, robj = value, dtype = h5type,
                           space = hdf5r::H5S$new(type = "scalar"), chunk_dims = NULL,
                           gzip_level = 0)
  } else {
    robj <- if (length(shape) == 1) value else aperm(array(value, shape), rev(seq_along(shape)))
    ds <- g$create_dataset(name, robj = robj, dtype = h5type, chunk_dims = NULL, gzip_level = 0)
  }
  ds$close()
  invisible(NULL)
}

nl_keras_write_layers <- function(model, parent, dtype) {
  kids <- nl_keras_children(model)
  st_model <- nl_state(model)
  for (i in seq_along(kids$groups)) {
    layer <- kids$layers[[i]]
    g <- nl_h5_group(parent, kids$groups[i])
    if (is.null(layer)) {
      v <- nl_h5_group(g, "vars", st_model$inputs[[i]]$name)
      v$close()
      g$close()
      next
    }
    st <- nl_state(layer)
    v <- nl_h5_group(g, "vars", st$name)
    if (inherits(layer, "nl_model")) {
      sub <- nl_h5_group(g, "layers")
      nl_keras_write_layers(layer, sub, dtype)
      sub$close()
    } else {
      nms <- nl_keras_var_names(layer)
      for (j in seq_along(nms)) {
        nm <- nms[j]
        if (identical(nm, "count")) {
          nl_h5_write_value(v, as.character(j - 1L), st$keras_count %||% 0, integer(), "int64")
        } else {
          nl_h5_write_value(v, as.character(j - 1L), nl_weight_get(st, nm),
                            nl_keras_var_shape(st, nm), dtype)
        }
      }
    }
    v$close()
    g$close()
  }
  invisible(NULL)
}

# Writes the weights of `model` to a new HDF5 file at `path`.
nl_keras_write_weights_file <- function(model, path, dtype = "float32") {
  f <- hdf5r::H5File$new(path, mode = "w")
  on.exit(try(f$close_all(), silent = TRUE), add = TRUE)
  lg <- nl_h5_group(f, "layers")
  nl_keras_write_layers(model, lg, dtype)
  lg$close()
  v <- nl_h5_group(f, "vars", nl_state(model)$name)
  v$close()
  comp <- nl_state(model)$compiled
  if (!is.null(comp)) {
    # what an unbuilt Keras optimizer holds: its iteration count and learning
    # rate (the slots are not written; their layout varies across Keras versions)
    og <- nl_h5_group(f, "optimizer")
    ov <- nl_h5_group(og, "vars", comp$optimizer$name)
    nl_h5_write_value(ov, "0", comp$optimizer$state$iterations %||% 0, integer(), "int64")
    nl_h5_write_value(ov, "1", comp$optimizer$config$learning_rate, integer(), dtype)
    ov$close()
    og$close()
  }
  invisible(path)
}
