# Keras model configs (config.json of a `.keras` archive, the `model_config`
# attribute of a legacy `.h5` file) <-> normlayers models. Keras axes are
# 0-based in the files and 1-based in R; shapes have `null` for the batch.

# Layer classes in Keras files: every layer type whose spec (R/layer-spec.R)
# does not say `keras = FALSE` (wrappers and normlayers' internal layers),
# converted from and to its config keys, with the spec's `read`/`write` hooks
# for what Keras writes differently; plus the model classes handled here.
nl_keras_model_classes <- c("InputLayer", "Sequential", "Functional")

nl_keras_layer_specs <- function() {
  Filter(function(spec) !isFALSE(nl_spec_keras(spec)), nl_layer_specs())
}

nl_keras_supported_classes <- function() {
  c(nl_keras_model_classes, names(nl_keras_layer_specs()))
}

# ---- small helpers -----------------------------------------------------------

# A JSON shape (list with NULL for unknown sizes) -> integer vector with NA.
nl_keras_shape_in <- function(x) {
  if (is.null(x)) return(NULL)
  as.integer(vapply(x, function(s) if (is.null(s) || length(s) == 0) NA_real_ else as.double(s), 1))
}

# An R shape (NA unknown) -> a list for JSON (NULL -> null).
nl_keras_shape_out <- function(x) {
  lapply(as.integer(x), function(s) if (is.na(s)) NULL else s)
}

# Keras axis (number, list of numbers, empty list or NULL) -> R axes.
nl_keras_axis_in <- function(axis) {
  if (is.null(axis)) return(NULL)
  if (is.list(axis)) {
    if (length(axis) == 0) return(NULL)
    axis <- unlist(axis)
  }
  nl_axis_from_keras(as.integer(axis))
}

# R axes (1-based) -> Keras (0-based): a number for one axis, else a list.
nl_keras_axis_out <- function(axis, as_list = FALSE) {
  if (is.null(axis)) return(NULL)
  a <- nl_axis_to_keras(axis)
  if (length(a) == 1 && !as_list) a else as.list(a)
}

# Error about the contents of a model file, naming the layer concerned.
nl_keras_bad_config <- function(what, layer = NULL, ..., call = rlang::caller_env(),
                                .envir = parent.frame()) {
  where <- if (is.null(layer)) "The model file" else paste0("Layer \"", layer, "\" in the model file")
  where <- gsub("([{}])", "\\1\\1", where)
  nl_abort(c(paste(where, "has a config normlayers cannot read."), x = what, ...), "config",
           call = call, .envir = .envir)
}

# ---- activations -------------------------------------------------------------

# The major Keras version of the file being read (NULL when unknown).
.nl_keras_ctx <- new.env(parent = emptyenv())

nl_with_keras_major <- function(major, expr) {
  old <- .nl_keras_ctx$major
  .nl_keras_ctx$major <- major
  on.exit(.nl_keras_ctx$major <- old, add = TRUE)
  expr
}

nl_keras_major_of <- function(version) {
  if (!rlang::is_string(version)) return(NULL)
  v <- suppressWarnings(as.integer(sub("^([0-9]+).*$", "\\1", version)))
  if (is.na(v)) NULL else v
}

nl_keras_activation_in <- function(act, layer, call = rlang::caller_env()) {
  if (is.null(act)) return("linear")
  if (is.list(act)) {
    # Keras 3 may write list(module = "keras.activations", class_name = "function",
    # config = "relu", registered_name = "relu")
    act <- if (is.character(act$config)) act$config else act$class_name
  }
  if (identical(act, "hard_sigmoid") && isTRUE(.nl_keras_ctx$major < 3)) {
    nl_abort(c("Layer {.val {layer}} in the model file uses Keras 2's {.val hard_sigmoid}.",
               x = "Keras 2 computes {.code clip(0.2 * x + 0.5, 0, 1)}; normlayers has Keras 3's {.code relu6(x + 3) / 6}.",
               i = "Re-save the model with Keras 3, or use another activation."),
             "config", call = call)
  }
  if (!rlang::is_string(act) || !act %in% names(nl_activations)) {
    nl_abort(c("Layer {.val {layer}} in the model file uses an activation normlayers lacks.",
               x = "Found activation {.val {format(act)}}.",
               i = "Supported activations: {.val {names(nl_activations)}}."),
             "config", call = call)
  }
  act
}

# ---- layers: Keras -> R -----------------------------------------------------

# Config keys that may appear in any layer config and are read (or ignored).
nl_keras_base_keys <- c("name", "trainable", "dtype", "batch_input_shape", "batch_shape",
                        "input_shape", "input_dim", "autocast", "build_config")

# Keys a layer's config may hold: read, or ignored when at these values.
nl_keras_ignorable <- list(activity_regularizer = NULL, quantization_config = NULL,
                           lora_rank = NULL, lora_alpha = NULL, fused = NULL,
                           virtual_batch_size = NULL, adjustment = NULL,
                           sparse = FALSE, ragged = FALSE, optional = FALSE)

nl_keras_family_in <- function(x, family, key, layer, call) {
  if (is.null(x)) return(NULL)
  if (is.character(x)) return(x)
  if (is.list(x) && is.null(x$module)) x$module <- nl_family_modules[[family]]
  if (is.list(x) && identical(x$module, "keras.src.initializers")) x$module <- nl_family_modules[[family]]
  tryCatch(nl_deserialize(x),
           normlayers_error = function(e) {
             nl_abort(c("Layer {.val {layer}} in the model file has a {family} normlayers cannot read.",
                        x = "{.field {key}} is {.val {format(x$class_name)}}."),
                      "config", parent = e, call = call)
           })
}

# One layer config (the `config` of a Keras layer entry) -> a normlayers layer:
# the keys other than the base ones go to the constructor named by the layer's
# spec; initializers, regularizers and constraints are rebuilt, activations
# read by name, axes become 1-based; the spec's `read` hook does the rest.
nl_keras_layer_in <- function(class_name, cfg, call = rlang::caller_env()) {
  name <- cfg$name %||% NULL
  spec <- nl_keras_layer_specs()[[class_name]]
  if (is.null(spec)) {
    nl_abort(c("Layer {.val {name %||% '?'}} in the model file is a {.cls {class_name}}, which normlayers cannot read.",
               i = "Supported layer classes: {.val {nl_keras_supported_classes()}}."),
             "config", call = call)
  }
  hooks <- nl_spec_keras(spec)
  own <- c(spec$config_keys, hooks$keys)
  unknown <- setdiff(names(cfg), c(nl_keras_base_keys, own, names(nl_keras_ignorable)))
  if (length(unknown)) {
    nl_keras_bad_config("{.cls {class_name}} config key{?s} {.field {unknown}} {?is/are} not supported.",
                        name, i = "Supported keys: {.field {own}}.", call = call)
  }
  for (k in setdiff(intersect(names(cfg), names(nl_keras_ignorable)), "fused")) {
    if (!identical(cfg[[k]], nl_keras_ignorable[[k]])) {
      nl_keras_bad_config("{.field {k}} = {.val {format(cfg[[k]])}} is not supported.", name,
                          i = "normlayers supports only {.field {k}} = {.val {format(nl_keras_ignorable[[k]] %||% 'null')}}.",
                          call = call)
    }
  }
  args <- list()
  for (k in intersect(names(cfg), own)) args[k] <- list(nl_keras_value_in(k, cfg[[k]], name, call))
  if (is.function(hooks$read)) args <- hooks$read(args, cfg)
  args$name <- name
  args$trainable <- if (is.null(cfg$trainable)) TRUE else isTRUE(cfg$trainable)
  ctor <- get(spec$constructor, envir = asNamespace("normlayers"))
  tryCatch(suppressWarnings(do.call(ctor, c(list(NULL), args))),
           normlayers_error = function(e) {
             nl_abort(c("Layer {.val {name}} in the model file has a {.cls {class_name}} config normlayers cannot use.",
                        x = "{conditionMessage(e)}"), "config", parent = e, call = call)
           })
}

# One config value from a file, by key: initializers, regularizers and
# constraints (serialized, with or without a module) are rebuilt,
# activations read by name, axes made 1-based, lists of scalars unlisted
# (null -> NA).
nl_keras_value_in <- function(key, v, layer, call) {
  family <- regmatches(key, regexpr("(initializer|regularizer|constraint)$", key))
  if (length(family)) return(nl_keras_family_in(v, family, key, layer, call))
  if (key == "activation") return(nl_keras_activation_in(v, layer, call))
  if (key == "axis") return(nl_keras_axis_in(v))
  if (is.list(v) && is.null(names(v)) && length(v) &&
      all(vapply(v, function(e) is.null(e) || (is.atomic(e) && length(e) == 1), TRUE))) {
    return(unlist(lapply(v, function(e) if (is.null(e)) NA else e)))
  }
  v
}

# A JSON number or nested list (Keras order) -> an R number or array.
nl_keras_array_in <- function(x) {
  if (is.null(x)) return(NULL)
  if (!is.list(x)) return(as.double(x))
  dims <- integer()
  y <- x
  while (is.list(y)) {
    dims <- c(dims, length(y))
    y <- y[[1]]
  }
  v <- as.double(unlist(x))
  if (length(dims) == 1) return(v)
  # unlist() runs over the last axis fastest (row-major)
  arr <- array(v, rev(dims))
  aperm(arr, rev(seq_along(dims)))
}

# An R number or array -> nested lists in Keras order (NULL stays NULL).
nl_keras_array_out <- function(x) {
  if (is.null(x)) return(NULL)
  d <- dim(x)
  if (is.null(d) || length(d) <= 1) return(if (length(x) == 1 && is.null(d)) as.double(x) else as.list(as.double(x)))
  rec <- function(a) {
    d <- dim(a)
    if (length(d) <= 1) return(as.list(as.double(a)))
    lapply(seq_len(d[1]), function(i) {
      sub <- do.call(`[`, c(list(a, i), rep(list(TRUE), length(d) - 1L), list(drop = FALSE)))
      dim(sub) <- d[-1]
      rec(sub)
    })
  }
  rec(x)
}

# ---- models: Keras -> R -----------------------------------------------------

# A Keras layer entry (module/class_name/config/...) -> a layer or model.
nl_keras_entry_in <- function(entry, call = rlang::caller_env()) {
  if (!is.list(entry) || !rlang::is_string(entry$class_name)) {
    nl_keras_bad_config("A layer entry has no {.field class_name}.", call = call)
  }
  cls <- entry$class_name
  cfg <- entry$config
  if (cls %in% c("Sequential")) return(nl_keras_sequential_in(cfg, entry, call = call))
  if (cls %in% c("Functional", "Model")) return(nl_keras_functional_in(cfg, call = call))
  if (!is.list(cfg)) cfg <- list()
  nl_keras_layer_in(cls, cfg, call = call)
}

nl_keras_input_shape_of <- function(cfg) {
  nl_keras_shape_in(cfg$batch_shape %||% cfg$batch_input_shape)
}

nl_keras_sequential_in <- function(cfg, entry = list(), call = rlang::caller_env()) {
  # Keras 2.2 wrote the layer list as the config itself
  if (is.null(names(cfg)) && is.list(cfg)) cfg <- list(layers = cfg)
  layers <- cfg$layers
  if (!is.list(layers)) nl_keras_bad_config("A Sequential model has no {.field layers}.", call = call)
  shape <- NULL
  input_name <- NULL
  if (length(layers) && identical(layers[[1]]$class_name, "InputLayer")) {
    shape <- nl_keras_input_shape_of(layers[[1]]$config)
    input_name <- layers[[1]]$config$name
    layers <- layers[-1]
  }
  if (is.null(shape) && length(layers)) shape <- nl_keras_input_shape_of(layers[[1]]$config)
  if (is.null(shape)) shape <- nl_keras_shape_in(cfg$build_input_shape %||% entry$build_config$input_shape)
  if (is.null(shape) || length(shape) < 2) {
    nl_keras_bad_config("The Sequential model {.val {cfg$name %||% ''}} gives no input shape.",
                        i = "normlayers needs an {.cls InputLayer}, a {.field batch_shape} or a {.field build_config}.",
                        call = call)
  }
  model <- keras_model_sequential(input_shape = shape[-1],
                                  input_batch_size = if (is.na(shape[1])) NULL else shape[1],
                                  name = cfg$name %||% NULL)
  for (lc in layers) {
    layer <- nl_keras_entry_in(lc, call = call)
    tryCatch(nl_sequential_add(model, layer),
             normlayers_error = function(e) {
               nl_abort(c("Layer {.val {layer$name}} in the model file does not fit the layers before it.",
                          x = "{conditionMessage(e)}"), "config", parent = e, call = call)
             })
  }
  if (identical(cfg$trainable, FALSE)) model$trainable <- FALSE
  model
}

# Tensor references of a Keras inbound node, as c(layer, node) keys (node 0-based).
nl_keras_node_refs <- function(node) {
  refs <- list()
  walk <- function(x) {
    if (!is.list(x)) return()
    if (identical(x$class_name, "__keras_tensor__")) {
      h <- x$config$keras_history
      refs[[length(refs) + 1]] <<- c(h[[1]], h[[2]])
      return()
    }
    # Keras 2: list(layer name, node index, tensor index, kwargs)
    if (length(x) >= 3 && is.character(x[[1]]) && length(x[[1]]) == 1 && is.numeric(x[[2]]) && is.null(names(x))) {
      refs[[length(refs) + 1]] <<- c(x[[1]], x[[2]])
      return()
    }
    if (!is.null(x$args)) return(walk(x$args))
    for (el in x) walk(el)
  }
  walk(node)
  vapply(refs, function(r) paste0(r[1], "#", as.integer(r[2])), "")
}

# input_layers / output_layers: one reference or a list of them.
nl_keras_tensor_list <- function(x) {
  if (length(x) >= 2 && is.character(x[[1]])) return(list(x))
  x
}

nl_keras_functional_in <- function(cfg, call = rlang::caller_env()) {
  if (!is.list(cfg$layers) || is.null(cfg$input_layers) || is.null(cfg$output_layers)) {
    nl_keras_bad_config("A Functional model lacks {.field layers}, {.field input_layers} or {.field output_layers}.",
                        call = call)
  }
  tensors <- list()
  calls <- list()
  for (lc in cfg$layers) {
    lname <- lc$name %||% lc$config$name
    if (identical(lc$class_name, "InputLayer")) {
      shape <- nl_keras_input_shape_of(lc$config)
      if (is.null(shape)) nl_keras_bad_config("Input {.val {lname}} has no shape.", call = call)
      tensors[[paste0(lname, "#0")]] <- keras_input(batch_shape = shape, name = lname)
      next
    }
    layer <- nl_keras_entry_in(lc, call = call)
    for (j in seq_along(lc$inbound_nodes)) {
      calls[[length(calls) + 1]] <- list(layer = layer, out = paste0(lname, "#", j - 1L),
                                         ins = nl_keras_node_refs(lc$inbound_nodes[[j]]))
    }
  }
  while (length(calls)) {
    ready <- vapply(calls, function(cl) all(cl$ins %in% names(tensors)), TRUE)
    if (!any(ready)) nl_keras_bad_config("Some layer calls use tensors no layer produces.", call = call)
    for (cl in calls[ready]) {
      args <- unname(tensors[cl$ins])
      tensors[[cl$out]] <- tryCatch(cl$layer(if (length(args) == 1) args[[1]] else args),
        normlayers_error = function(e) {
          nl_abort(c("Layer {.val {cl$layer$name}} in the model file does not fit its inputs.",
                     x = "{conditionMessage(e)}"), "config", parent = e, call = call)
        })
    }
    calls <- calls[!ready]
  }
  pick <- function(refs) {
    ks <- vapply(nl_keras_tensor_list(refs), function(r) paste0(r[[1]], "#", as.integer(r[[2]])), "")
    if (!all(ks %in% names(tensors))) nl_keras_bad_config("An input or output names an unknown tensor.", call = call)
    unname(tensors[ks])
  }
  ins <- pick(cfg$input_layers)
  outs <- pick(cfg$output_layers)
  model <- keras_model(if (length(ins) == 1) ins[[1]] else ins,
                       if (length(outs) == 1) outs[[1]] else outs, name = cfg$name %||% NULL)
  if (identical(cfg$trainable, FALSE)) model$trainable <- FALSE
  model
}

# ---- compile config ----------------------------------------------------------

# compile_config (Keras 3) or training_config (legacy .h5) -> compile() arguments,
# or a character string saying why the model stays uncompiled.
nl_keras_compile_in <- function(cc) {
  if (is.null(cc)) return(NULL)
  opt <- cc$optimizer %||% cc$optimizer_config
  loss <- cc$loss
  if (is.list(loss) && !is.null(loss$class_name)) {
    lcfg <- loss$config %||% list()
    if (isTRUE(lcfg$from_logits)) return("its loss uses `from_logits = TRUE`")
    loss <- nl_snake_case(loss$class_name)
  }
  if (!rlang::is_string(loss) || is.na(nl_loss_aliases[tolower(loss)])) {
    return(sprintf("its loss (%s) is not one normlayers has", format(loss %||% "none")))
  }
  if (is.null(opt)) return("it names no optimizer")
  if (is.character(opt)) {
    if (!tolower(opt) %in% c("sgd", "adam", "rmsprop")) return(sprintf("its optimizer %s is not one normlayers has", opt))
    optimizer <- tolower(opt)
  } else {
    cls <- opt$class_name %||% ""
    ocfg <- opt$config %||% list()
    ctor <- switch(cls, SGD = optimizer_sgd, Adam = optimizer_adam, RMSprop = optimizer_rmsprop, NULL)
    if (is.null(ctor)) return(sprintf("its optimizer %s is not one normlayers has", cls))
    if (!is.numeric(ocfg$learning_rate)) return("its learning rate is a schedule")
    keep <- intersect(names(ocfg), c(names(formals(ctor)), "weight_decay", "clipnorm",
                                     "clipvalue", "global_clipnorm", "name"))
    args <- ocfg[keep]
    args <- args[!vapply(args, is.null, TRUE)]
    if (isTRUE(ocfg$use_ema)) return("its optimizer uses an EMA")
    optimizer <- tryCatch(do.call(ctor, args), normlayers_error = function(e) NULL)
    if (is.null(optimizer)) return(sprintf("its %s settings are not supported", cls))
  }
  metrics <- cc$metrics
  dropped <- character()
  if (!is.null(metrics)) {
    flat <- unlist(lapply(metrics, function(m) {
      if (is.character(m)) return(m)
      if (is.list(m) && is.character(m$config) && length(m$config) == 1) return(m$config)
      if (is.list(m) && !is.null(m$class_name)) m$class_name else "?"
    }))
    dropped <- setdiff(flat, nl_metric_names)
    metrics <- intersect(flat, nl_metric_names)
    if (length(metrics) == 0) metrics <- NULL
  }
  list(optimizer = optimizer, loss = loss, metrics = metrics, dropped = dropped)
}

# Compiles `model` from a file's compile config; warns when it cannot.
nl_keras_apply_compile <- function(model, cc, file) {
  res <- nl_keras_compile_in(cc)
  if (is.null(res)) return(invisible(model))
  if (is.character(res)) {
    nl_warn(c("The model from {.file {file}} is returned uncompiled: {res}.",
              i = "Call {.fn compile} before {.fn fit} or {.fn evaluate}."), "keras_file")
    return(invisible(model))
  }
  compile(model, optimizer = res$optimizer, loss = res$loss, metrics = res$metrics)
  if (length(res$dropped)) {
    dropped <- res$dropped
    nl_warn(c("The model from {.file {file}} is compiled without the metrics normlayers lacks.",
              x = "Dropped: {.val {dropped}}.",
              i = "Known metrics: {.val {nl_metric_names}}."), "keras_file")
  }
  invisible(model)
}

# ---- R -> Keras ---------------------------------------------------------------

nl_keras_family_out <- function(v) {
  if (is.null(v)) return(NULL)
  out <- nl_serialize(v)
  if (identical(out$class_name, "RFunction")) {
    nl_abort(c("A layer uses an R function as an initializer, regularizer or constraint.",
               i = "Keras files can hold only Keras's own; use an {.fn initializer_*}, {.fn regularizer_*} or {.fn constraint_*} object."),
             "config")
  }
  out
}

# One layer -> its Keras entry (module, class_name, config, registered_name,
# build_config): the layer's config values in Keras form (serialized
# initializers, regularizers and constraints, 0-based axes, vectors as lists),
# then the spec's `write` hook.
nl_keras_layer_out <- function(layer, dtype = "float32") {
  st <- nl_state(layer)
  if (inherits(layer, "nl_sequential")) return(nl_keras_sequential_out(layer, dtype))
  if (inherits(layer, "nl_functional")) return(nl_keras_functional_out(layer, dtype))
  cls <- st$class_name
  spec <- nl_keras_layer_specs()[[cls]]
  if (is.null(spec) || inherits(layer, "nl_wrapper")) {
    nl_abort(c("Layer {.val {st$name}} is a {.cls {cls}}, which normlayers cannot write to a Keras file.",
               i = "Supported layer classes: {.val {nl_keras_supported_classes()}}.",
               i = "Save the model as {.file .rds} to keep it."),
             "config")
  }
  cfg <- nl_layer_config(layer)
  own <- lapply(cfg, function(v) {
    if (inherits(v, c("nl_initializer", "nl_regularizer", "nl_constraint"))) return(nl_keras_family_out(v))
    if (is.numeric(v) && length(v) > 1) return(as.list(v))
    v
  })
  if ("axis" %in% names(cfg)) own["axis"] <- list(nl_keras_axis_out(cfg$axis))
  hooks <- nl_spec_keras(spec)
  if (is.function(hooks$write)) own <- hooks$write(own, cfg)
  nl_keras_entry_out(st, cls, own, dtype)
}

nl_keras_entry_out <- function(st, cls, own, dtype) {
  out <- list(module = "keras.layers", class_name = cls,
              config = c(list(name = st$name, trainable = st$trainable, dtype = dtype), own),
              registered_name = NULL)
  if (isTRUE(st$built) && !is.null(st$input_shape)) {
    shp <- st$input_shape
    out$build_config <- list(input_shape = if (is.list(shp)) lapply(shp, nl_keras_shape_out) else nl_keras_shape_out(shp))
  }
  out
}

nl_keras_input_entry <- function(name, shape, dtype) {
  list(module = "keras.layers", class_name = "InputLayer",
       config = list(batch_shape = nl_keras_shape_out(shape), dtype = dtype, sparse = FALSE,
                     name = name),
       registered_name = NULL)
}

nl_keras_sequential_out <- function(model, dtype = "float32") {
  st <- nl_state(model)
  if (is.null(st$input_shape)) {
    nl_abort(c("Model {.val {st$name}} is not built, so its input shape is unknown.",
               i = "Give {.arg input_shape} to {.fn keras_model_sequential} or call the model on data first."),
             "not_built")
  }
  layers <- c(list(nl_keras_input_entry(paste0(st$name, "_input"), st$input_shape, dtype)),
              lapply(st$layers, nl_keras_layer_out, dtype = dtype))
  list(module = "keras", class_name = "Sequential",
       config = list(name = st$name, trainable = st$trainable, dtype = dtype, layers = layers),
       registered_name = NULL,
       build_config = list(input_shape = nl_keras_shape_out(st$input_shape)))
}

nl_keras_functional_out <- function(model, dtype = "float32") {
  st <- nl_state(model)
  ref_of <- list()
  shape_of <- list()
  entries <- list()
  for (t in st$inputs) {
    ref_of[[as.character(t$id)]] <- list(t$name, 0L, 0L)
    shape_of[[as.character(t$id)]] <- t$shape
    e <- nl_keras_input_entry(t$name, t$shape, dtype)
    e$name <- t$name
    e$inbound_nodes <- list()
    entries[[t$name]] <- e
  }
  for (nd in st$nodes) {
    nm <- nd$layer$name
    if (is.null(entries[[nm]])) {
      e <- nl_keras_layer_out(nd$layer, dtype)
      e$name <- nm
      e$inbound_nodes <- list()
      entries[[nm]] <- e
    }
    args <- lapply(as.character(nd$in_ids), function(id) {
      list(class_name = "__keras_tensor__",
           config = list(shape = nl_keras_shape_out(shape_of[[id]]), dtype = dtype,
                         keras_history = ref_of[[id]]))
    })
    k <- length(entries[[nm]]$inbound_nodes)
    entries[[nm]]$inbound_nodes[[k + 1]] <- list(args = if (length(args) == 1) args else list(args),
                                                 kwargs = structure(list(), names = character()))
    ref_of[[as.character(nd$out_id)]] <- list(nm, k, 0L)
    shape_of[[as.character(nd$out_id)]] <- nd$shape
  }
  refs <- function(ts) {
    r <- unname(lapply(ts, function(t) ref_of[[as.character(t$id)]]))
    if (length(r) == 1) r[[1]] else r
  }
  list(module = "keras.src.models.functional", class_name = "Functional",
       config = list(name = st$name, trainable = st$trainable, layers = unname(entries),
                     input_layers = refs(st$inputs), output_layers = refs(st$outputs)),
       registered_name = "Functional",
       build_config = list(input_shape = NULL))
}

nl_keras_compile_out <- function(model) {
  comp <- nl_state(model)$compiled
  if (is.null(comp)) return(NULL)
  opt <- comp$optimizer
  ocfg <- c(list(name = opt$name), opt$config,
            list(use_ema = FALSE, ema_momentum = 0.99, ema_overwrite_frequency = NULL))
  list(optimizer = list(module = "keras.optimizers", class_name = opt$class_name,
                        config = ocfg, registered_name = NULL),
       loss = comp$loss$name, loss_weights = NULL,
       metrics = if (length(comp$metrics)) lapply(comp$metrics, `[[`, "name") else NULL,
       weighted_metrics = NULL, run_eagerly = FALSE, steps_per_execution = 1L,
       jit_compile = FALSE)
}
