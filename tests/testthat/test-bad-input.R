# Property test (issue 15): a table of bad inputs across the public API. For
# every row the call must fail with a classed `normlayers_error` whose message
# names the argument and what was received, and must leave every layer and
# model involved exactly as it was: identical() weights, configs, build state
# and optimizer state before and after.
#
# Rows tagged with an `owner` are fixed on another branch (named by `owner`)
# and fail here until that branch is merged. They run only when the
# environment variable NORMLAYERS_PENDING_ROWS is set (to anything); the
# integrator removes the gate after merging. Never gate a row on a probe of
# the fix itself: that would make it unable to fail.

# Fresh objects for every row: built layers of each kind, a compiled and
# trained sequential model, a compiled functional model, an uncompiled model.
bad_input_fixtures <- function() {
  set.seed(15)
  e <- new.env(parent = globalenv())
  e$x <- matrix(rnorm(30), 10, 3)
  e$y <- matrix(rnorm(20), 10, 2)
  e$dense <- layer_dense(units = 2)
  e$dense(e$x)
  e$bn <- layer_batch_normalization()
  e$bn(e$x, training = TRUE)
  e$ln <- layer_layer_normalization()
  e$ln(e$x)
  e$norm <- layer_normalization()
  adapt(e$norm, e$x)
  e$drop <- layer_dropout(rate = 0.5)
  e$drop(e$x)
  e$act <- layer_activation(activation = "relu")
  e$act(e$x)
  e$m <- keras_model_sequential(input_shape = 3) |>
    layer_dense(4) |>
    layer_batch_normalization() |>
    layer_dense(2)
  compile(e$m, optimizer = optimizer_adam(), loss = "mse")
  fit(e$m, e$x, e$y, epochs = 1, batch_size = 5, verbose = 0)
  inp <- keras_input(shape = 3)
  e$fm <- keras_model(inp, inp |> layer_layer_normalization() |> layer_dense(2))
  compile(e$fm, optimizer = "sgd", loss = "mse")
  e$unc <- keras_model_sequential(input_shape = 3) |> layer_dense(2)
  e$unbuilt <- layer_dense(units = 2)
  e$gn <- layer_group_normalization(groups = 3)
  e$gn(e$x)
  e$sn <- layer_spectral_normalization(layer = layer_dense(units = 2))
  e$sn(e$x)
  e
}

# Everything a failed call must leave unchanged, for every layer and model in
# the fixtures.
bad_input_snapshot <- function(e) {
  objs <- Filter(nl_is_layer, mget(ls(e), envir = e))
  lapply(objs, function(o) {
    layers <- nl_all_layers(o)
    comp <- nl_state(o)$compiled
    list(
      layers = lapply(layers, function(l) {
        st <- nl_state(l)
        list(name = st$name, built = st$built, trainable = st$trainable,
             config = st$config, weights = st$weights, input_shape = st$input_shape)
      }),
      weights = get_weights(o),
      config = tryCatch(get_config(o), error = function(err) conditionMessage(err)),
      compiled = if (is.null(comp)) NULL else list(
        loss = comp$loss, metrics = comp$metrics,
        optimizer = comp$optimizer[setdiff(names(comp$optimizer), "state")],
        iterations = comp$optimizer$state$iterations,
        slots = comp$optimizer$state$slots
      )
    )
  })
}

# One row: `call` is evaluated in fresh fixtures; `arg` must appear in the
# message (the argument named), `got` is a regular expression for what was
# received; `owner` names the branch that fixes a pending row.
bad <- function(id, call, arg, got, owner = NULL) {
  list(id = id, call = substitute(call), arg = arg, got = got, owner = owner)
}


bad_input_rows <- list(
  # ---- layer constructors ------------------------------------------------
  bad("dense units -1", layer_dense(units = -1), "units", "-1"),
  bad("dense units 2.5", layer_dense(units = 2.5), "units", "2.5"),
  bad("dense units NA", layer_dense(units = NA), "units", "NA"),
  bad("dense units 'a'", layer_dense(units = "a"), "units", "a"),
  bad("dense units 0", layer_dense(units = 0), "units", "0"),
  bad("dense activation unknown", layer_dense(units = 2, activation = "nope"), "activation", "nope"),
  bad("dense use_bias NA", layer_dense(units = 2, use_bias = NA), "use_bias", "NA"),
  bad("dense kernel_initializer unknown", layer_dense(units = 2, kernel_initializer = "nope"), "kernel_initializer", "nope"),
  bad("dense kernel_regularizer number", layer_dense(units = 2, kernel_regularizer = 5), "kernel_regularizer", "5"),
  bad("dense bias_constraint unknown", layer_dense(units = 2, bias_constraint = "nope"), "bias_constraint", "nope"),
  bad("dense name 1", layer_dense(units = 2, name = 1), "name", "1"),
  bad("activation unknown", layer_activation(activation = "nope"), "activation", "nope"),
  bad("activation number", layer_activation(activation = 3), "activation", "3"),
  bad("dropout rate 2", layer_dropout(rate = 2), "rate", "2"),
  bad("dropout rate -0.1", layer_dropout(rate = -0.1), "rate", "-0.1"),
  bad("dropout rate NA", layer_dropout(rate = NA), "rate", "NA"),
  bad("dropout rate 'a'", layer_dropout(rate = "a"), "rate", "a"),
  bad("dropout seed 'a'", layer_dropout(rate = 0.5, seed = "a"), "seed", "a"),
  bad("bn momentum 'a'", layer_batch_normalization(momentum = "a"), "momentum", "a"),
  bad("bn momentum 2", layer_batch_normalization(momentum = 2), "momentum", "2"),
  bad("bn epsilon -1", layer_batch_normalization(epsilon = -1), "epsilon", "-1"),
  bad("bn epsilon NaN", layer_batch_normalization(epsilon = NaN), "epsilon", "NaN"),
  bad("bn axis 0", layer_batch_normalization(axis = 0), "axis", "0"),
  bad("bn axis 1.5", layer_batch_normalization(axis = 1.5), "axis", "1.5"),
  bad("bn center NA", layer_batch_normalization(center = NA), "center", "NA"),
  bad("bn scale 'yes'", layer_batch_normalization(scale = "yes"), "scale", "yes"),
  bad("bn gamma_initializer unknown", layer_batch_normalization(gamma_initializer = "nope"), "gamma_initializer", "nope"),
  bad("ln epsilon -1", layer_layer_normalization(epsilon = -1), "epsilon", "-1"),
  bad("ln axis 'a'", layer_layer_normalization(axis = "a"), "axis", "a"),
  bad("ln axis Inf", layer_layer_normalization(axis = Inf), "axis", "Inf"),
  bad("ln center 2", layer_layer_normalization(center = 2), "center", "2"),
  bad("ln beta_regularizer unknown", layer_layer_normalization(beta_regularizer = "nope"), "beta_regularizer", "nope"),
  bad("norm invert NA", layer_normalization(invert = NA), "invert", "NA"),
  bad("norm axis 0", layer_normalization(axis = 0), "axis", "0"),
  bad("norm mean without variance", layer_normalization(mean = 1), "variance", "mean"),
  bad("norm mean character", layer_normalization(mean = "a", variance = 1), "mean", "character"),
  bad("norm mean NA", layer_normalization(mean = c(1, NA), variance = c(1, 1)), "mean", "missing"),
  bad("norm mean too many dims", layer_normalization(mean = matrix(1:6, 2), variance = 1), "mean", "shape \\(2, 3\\)"),
  bad("norm unknown dots", layer_normalization(foo = 1), "foo", "foo"),
  bad("gn groups 0", layer_group_normalization(groups = 0), "groups", "0"),
  bad("gn groups 'a'", layer_group_normalization(groups = "a"), "groups", "a"),
  bad("gn epsilon -1", layer_group_normalization(epsilon = -1), "epsilon", "-1"),
  bad("rms epsilon -1", layer_rms_normalization(epsilon = -1), "epsilon", "-1"),
  bad("rms axis 0", layer_rms_normalization(axis = 0), "axis", "0"),
  bad("unit axis 'a'", layer_unit_normalization(axis = "a"), "axis", "a"),
  bad("spectral layer number", layer_spectral_normalization(layer = 1), "layer", "numeric value"),
  bad("spectral power_iterations 0", layer_spectral_normalization(layer = layer_dense(units = 2), power_iterations = 0), "power_iterations", "0"),
  # ---- layer calls -----------------------------------------------------
  bad("gn call groups do not divide", layer_group_normalization(groups = 2)(matrix(1, 2, 3)), "groups", "3"),
  bad("gn call wrong width", gn(matrix(1, 2, 6)), "group_normalization", "\\(2, 6\\)"),
  bad("spectral call wrong width", sn(matrix(1, 2, 5)), "spectral_normalization|dense", "\\(2, 5\\)"),
  bad("dense call wrong width", dense(matrix(1, 2, 4)), "dense", "\\(2, 4\\)"),
  bad("dense call character", dense(matrix("a", 2, 3)), "object", "character array of shape \\(2, 3\\)"),
  bad("dense call complex", dense(matrix(1i, 2, 3)), "object", "complex array of shape \\(2, 3\\)"),
  bad("dense call factor", dense(factor(c("a", "b", "c"))), "object", "factor of length 3"),
  bad("dense call list", dense(list(1, 2, 3)), "object", "list of length 3"),
  bad("dense call training NA", dense(x, training = NA), "training", "NA"),
  bad("dense call training 'yes'", dense(x, training = "yes"), "training", "yes"),
  bad("dense call unknown argument", dense(x, foo = 1), "foo", "foo"),
  bad("dense call NULL", dense(NULL), "input", "input"),
  bad("unbuilt dense call character", unbuilt(matrix("a", 2, 3)), "object", "character"),
  bad("unbuilt dense call Date", unbuilt(Sys.Date()), "object", "<Date>"),
  bad("bn call wrong width", bn(matrix(1, 2, 4), training = TRUE), "batch_normalization", "\\(2, 4\\)"),
  bad("bn call rank 3", bn(array(1, c(2, 3, 3)), training = TRUE), "batch_normalization", "\\(2, 3, 3\\)"),
  bad("bn call bad mask", bn(x, training = TRUE, mask = c(TRUE, FALSE)), "mask", "\\(2,\\)"),
  bad("bn call NA mask", bn(x, training = TRUE, mask = rep(NA, 10)), "mask", "logical"),
  bad("ln call wrong width", ln(matrix(1, 2, 5)), "layer_normalization", "\\(2, 5\\)"),
  bad("norm call wrong width", norm(matrix(1, 2, 4)), "normalization", "\\(2, 4\\)"),
  bad("norm call rank 3", norm(array(1, c(2, 2, 3))), "normalization", "\\(2, 2, 3\\)"),
  bad("drop call training 2", drop(x, training = 2), "training", "2"),
  bad("act call character", act(letters), "object", "character vector of length 26"),
  bad("model call wrong width", m(matrix(1, 2, 4)), "dense", "\\(2, 4\\)"),
  bad("functional call wrong width", fm(matrix(1, 2, 4)), "functional|layer_normalization", "\\(2, 4\\)"),
  # ---- adapt -------------------------------------------------------------
  bad("adapt Inf", adapt(norm, rbind(c(1, Inf, 3), c(1, 2, 3))), "data", "infinite"),
  bad("adapt -Inf na.rm", adapt(norm, rbind(c(1, -Inf, 3), c(1, 2, NA)), na.rm = TRUE), "data", "infinite"),
  bad("adapt NaN", adapt(norm, rbind(c(1, NaN, 3), c(1, 2, 3))), "data", "missing value"),
  bad("adapt NA", adapt(norm, rbind(c(1, NA, 3), c(1, 2, 3))), "data", "missing value"),
  bad("adapt 0 rows", adapt(norm, matrix(numeric(0), 0, 3)), "data", "no values"),
  bad("adapt 0 columns", adapt(norm, matrix(numeric(0), 4, 0)), "data", "\\(None, 3\\)|\\(4, 0\\)"),
  bad("adapt wrong width", adapt(norm, matrix(1, 2, 4)), "data", "\\(2, 4\\)"),
  bad("adapt character", adapt(norm, letters), "data", "character vector"),
  bad("adapt complex", adapt(norm, matrix(1i, 2, 3)), "data", "complex array"),
  bad("adapt kept batch axis split", adapt(layer_normalization(axis = 1), matrix(1:12, 4, 3), batch_size = 2), "batch_size", "batch_size = 2"),
  bad("adapt 1-D split", adapt(layer_normalization(), as.double(1:10), batch_size = 5), "batch_size", "batch_size = 5"),
  bad("adapt steps 0", adapt(norm, x, steps = 0), "steps", "0"),
  bad("adapt na.rm 'yes'", adapt(norm, x, na.rm = "yes"), "na.rm", "yes"),
  bad("adapt on a dense layer", adapt(dense, x), "object", "a layer"),
  bad("adapt fixed layer", adapt(layer_normalization(mean = 1, variance = 1), x), "mean", "fixed"),
  bad("adapt batch_size 2.5", adapt(norm, x, batch_size = 2.5), "batch_size", "2.5"),
  bad("adapt batch_size 0", adapt(norm, x, batch_size = 0), "batch_size", "0"),
  bad("adapt batch_size 'a'", adapt(norm, x, batch_size = "a"), "batch_size", "a"),
  bad("adapt batch_size NA", adapt(norm, x, batch_size = NA), "batch_size", "NA"),
  # ---- weights -------------------------------------------------------------
  bad("set_weights NA", set_weights(dense, list(matrix(NA_real_, 3, 2), c(0, 0))), "dense", "NA"),
  bad("set_weights NaN", set_weights(ln, list(c(1, NaN, 1), c(0, 0, 0))), "gamma", "NaN"),
  bad("set_weights negative moving variance", set_weights(bn, list(c(1, 1, 1), c(0, 0, 0), c(0, 0, 0), c(1, -1, 1))), "moving_variance", "negative"),
  bad("set_weights negative variance", set_weights(norm, list(c(0, 0, 0), c(-1, 1, 1))), "variance", "negative"),
  bad("set_weights wrong length", set_weights(dense, list(1)), "weights", "1 element"),
  bad("set_weights wrong shape", set_weights(dense, list(matrix(0, 2, 3), c(0, 0))), "dense", "\\(2, 3\\)"),
  bad("set_weights character", set_weights(dense, list(matrix("a", 3, 2), c(0, 0))), "dense", "character array"),
  bad("set_weights not a list", set_weights(dense, 1), "weights", "numeric value"),
  bad("set_weights on a number", set_weights(1, list()), "object", "numeric value"),
  bad("set_weights model NA", set_weights(m, lapply(get_weights(m), function(w) w * NA)), "weights|Weight", "NA"),
  bad("get_weights trainable 'a'", get_weights(dense, trainable = "a"), "trainable", "a"),
  bad("get_weights on a string", get_weights("a"), "object", "character value"),
  bad("count_params unbuilt", count_params(unbuilt), "dense", "not built"),
  # ---- config ----------------------------------------------------------------
  bad("get_config on a number", get_config(1), "object", "numeric value"),
  bad("from_config number", from_config(1), "config", "numeric value"),
  bad("from_config unknown class", from_config(structure(list(name = "q"), "__class__" = "Nope")), "Nope", "Nope"),
  # ---- compile / fit / evaluate / predict ------------------------------------------
  bad("compile optimizer unknown", compile(unc, optimizer = "nope", loss = "mse"), "optimizer", "nope"),
  bad("compile optimizer number", compile(unc, optimizer = 1, loss = "mse"), "optimizer", "1"),
  bad("compile loss unknown", compile(unc, optimizer = "sgd", loss = "nope"), "loss", "nope"),
  bad("compile metrics unknown", compile(unc, optimizer = "sgd", loss = "mse", metrics = "nope"), "metrics|nope", "nope"),
  bad("compile a layer", compile(dense, optimizer = "sgd", loss = "mse"), "object", "layer"),
  bad("fit uncompiled", fit(unc, x, y, verbose = 0), "compile", "compiled"),
  bad("fit epochs -1", fit(m, x, y, epochs = -1, verbose = 0), "epochs", "-1"),
  bad("fit epochs 'a'", fit(m, x, y, epochs = "a", verbose = 0), "epochs", "a"),
  bad("fit y rows", fit(m, x, y[1:5, ], verbose = 0), "y", "5"),
  bad("fit y width", fit(m, x, matrix(0, 10, 3), verbose = 0), "y|dense", "3"),
  bad("fit x character", fit(m, matrix("a", 10, 3), y, verbose = 0), "x", "character"),
  bad("fit x NA", fit(m, replace(x, 1, NA), y, verbose = 0), "x", "NA|missing"),
  bad("fit y NA", fit(m, x, replace(y, 1, NA), verbose = 0), "y", "NA|missing"),
  bad("fit x Inf", fit(m, replace(x, 1, Inf), y, verbose = 0), "x", "Inf|infinite"),
  bad("fit validation_split 1.5", fit(m, x, y, validation_split = 1.5, verbose = 0), "validation_split", "1.5"),
  bad("fit shuffle NA", fit(m, x, y, shuffle = NA, verbose = 0), "shuffle", "NA"),
  bad("fit batch_size 2.5", fit(m, x, y, batch_size = 2.5, verbose = 0), "batch_size", "2.5"),
  bad("fit batch_size 0", fit(m, x, y, batch_size = 0, verbose = 0), "batch_size", "0"),
  bad("fit batch_size 'a'", fit(m, x, y, batch_size = "a", verbose = 0), "batch_size", "a"),
  bad("fit batch_size NA", fit(m, x, y, batch_size = NA, verbose = 0), "batch_size", "NA"),
  bad("fit batch_size -1", fit(m, x, y, batch_size = -1, verbose = 0), "batch_size", "-1"),
  bad("fit 0 rows", fit(m, x[0, , drop = FALSE], y[0, , drop = FALSE], verbose = 0), "x", "0 rows|\\(0, 3\\)"),
  bad("fit validation_data mismatch", fit(m, x, y, validation_data = list(matrix(0, 5, 3), matrix(0, 5, 3)), verbose = 0), "validation_data", "\\(5, 3\\)"),
  bad("evaluate uncompiled", evaluate(unc, x, y, verbose = 0), "compile", "compiled"),
  bad("evaluate x wrong width", evaluate(m, matrix(0, 10, 4), y, verbose = 0), "dense", "\\(10, 4\\)"),
  bad("evaluate y rows", evaluate(m, x, y[1:3, ], verbose = 0), "y", "3"),
  bad("evaluate batch_size 2.5", evaluate(m, x, y, batch_size = 2.5, verbose = 0), "batch_size", "2.5"),
  bad("evaluate batch_size 0", evaluate(m, x, y, batch_size = 0, verbose = 0), "batch_size", "0"),
  bad("evaluate batch_size NA", evaluate(m, x, y, batch_size = NA, verbose = 0), "batch_size", "NA"),
  bad("evaluate 0 rows", evaluate(m, x[0, , drop = FALSE], y[0, , drop = FALSE], verbose = 0), "x", "0 rows|\\(0, 3\\)"),
  bad("predict character", predict(m, matrix("a", 2, 3)), "x", "character array"),
  bad("predict wrong width", predict(m, matrix(0, 2, 4)), "dense", "\\(2, 4\\)"),
  bad("predict batch_size 2.5", predict(m, x, batch_size = 2.5), "batch_size", "2.5"),
  bad("predict batch_size 0", predict(m, x, batch_size = 0), "batch_size", "0"),
  bad("predict batch_size 'a'", predict(m, x, batch_size = "a"), "batch_size", "a"),
  bad("predict batch_size NA", predict(m, x, batch_size = NA), "batch_size", "NA"),
  # ---- models ----------------------------------------------------------------
  bad("keras_model numbers", keras_model(1, 2), "inputs", "numeric value"),
  bad("keras_input shape 'a'", keras_input(shape = "a"), "shape", "a"),
  bad("keras_input shape -1", keras_input(shape = -1), "shape", "-1"),
  bad("sequential name 1", keras_model_sequential(name = 1), "name", "1"),
  bad("sequential input_shape 0", keras_model_sequential(input_shape = 0), "input_shape", "0"),
  # ---- save / load -------------------------------------------------------------
  bad("save_model a number", save_model(1, tempfile()), "model", "numeric value"),
  bad("save_model overwrite NA", save_model(m, tempfile(), overwrite = NA), "overwrite", "NA"),
  bad("save_model missing dir", save_model(m, file.path(tempdir(), "normlayers-no-such-dir", "sub", "model.rds")), "filepath", "normlayers-no-such-dir"),
  bad("load_model missing file", load_model(file.path(tempdir(), "no-such-model.rds")), "model", "no-such-model"),
  bad("load_model empty file", load_model({ f <- tempfile(); file.create(f); f }), "model", "empty|0 bytes"),
  bad("load_model compile NA", load_model(save_model(m), compile = NA), "compile", "NA"),
  bad("load_model not a model file", load_model({ f <- tempfile(); writeLines("junk", f); f }), "model", "file"),
  bad("save_model dtype float16", save_model(m, tempfile(fileext = ".keras"), dtype = "float16"), "dtype", "float16"),
  bad("save_model unknown extension", save_model(m, tempfile(fileext = ".txt")), "filepath", "\\.txt"),
  bad("save_model layer to .keras", save_model(dense, tempfile(fileext = ".keras")), "model", "Dense"),
  bad("save_model_weights extension", save_model_weights(m, tempfile(fileext = ".h5")), "filepath", "\\.h5"),
  bad("save_model_weights dtype 1", save_model_weights(m, tempfile(fileext = ".weights.h5"), dtype = 1), "dtype", "1"),
  bad("load_model_weights skip_mismatch NA", load_model_weights(m, tempfile(), skip_mismatch = NA), "skip_mismatch", "NA"),
  bad("load_model_weights missing file", load_model_weights(m, file.path(tempdir(), "no-such.weights.h5")), "filepath", "no-such"),
  bad("load_model_weights layer", load_model_weights(dense, tempfile()), "model", "layer"),
  # ---- ops -------------------------------------------------------------------
  bad("op_array character", op_array("a"), "x", "character value"),
  bad("op_array dtype unknown", op_array(1, dtype = "nope"), "dtype", "nope"),
  bad("op_moments character", op_moments("a", axes = 1), "x", "character value"),
  bad("op_moments axes 5", op_moments(x, axes = 5), "axes", "5"),
  bad("op_moments keepdims NA", op_moments(x, axes = 1, keepdims = NA), "keepdims", "NA"),
  bad("op_layer_normalization character", op_layer_normalization("a"), "x", "character value"),
  bad("op_layer_normalization axis 4", op_layer_normalization(x, axis = 4), "axis", "4"),
  bad("op_batch_normalization mean length", op_batch_normalization(x, mean = c(0, 0), variance = c(1, 1, 1), axis = -1), "mean", "2"),
  bad("op_normalize character", op_normalize("a"), "x", "character value"),
  bad("op_normalize order 'a'", op_normalize(x, order = "a"), "order", "a"),
  bad("op_rms_normalization character", op_rms_normalization("a"), "x", "character value"),
  bad("op_rms_normalization axis 3", op_rms_normalization(x, axis = 3), "axis", "3"),
  bad("op_batch_normalization axis 0", op_batch_normalization(x, mean = 0, variance = 1, axis = 0), "axis", "0"),
  # ---- tensor ops, merge layers, shapes ---------------------------------------
  bad("op_sum axis 3", op_sum(x, axis = 3), "axis", "3"),
  bad("op_mean axis NA", op_mean(x, axis = NA), "axis", "NA"),
  bad("op_var keepdims NA", op_var(x, keepdims = NA), "keepdims", "NA"),
  bad("op_add character", op_add(x, "a"), "x2", "character value"),
  bad("op_clip x_min NA", op_clip(x, NA, 1), "x_min", "NA"),
  bad("op_softmax axis 0", op_softmax(x, axis = 0), "axis", "0"),
  bad("op_cumsum two axes", op_cumsum(x, axis = c(1, 2)), "axis", "1"),
  bad("op_one_hot num_classes -1", op_one_hot(c(1, 2), num_classes = -1), "num_classes", "-1"),
  bad("op_arange end Inf", op_arange(0, Inf), "end", "Inf"),
  bad("op_linspace num 2.5", op_linspace(0, 1, num = 2.5), "num", "2.5"),
  bad("op_eye N NaN", op_eye(NaN), "N", "NaN"),
  bad("op_round decimals NA", op_round(x, decimals = NA), "decimals", "NA"),
  bad("op_round decimals 'a'", op_round(x, decimals = "a"), "decimals", "character value"),
  bad("op_full fill_value shape", op_full(c(2, 2), c(1, 2, 3)), "fill_value", "3"),
  bad("op_reshape 0-length", op_reshape(numeric(0), c(2, 3)), "newshape", "0 values"),
  bad("op_concatenate empty list", op_concatenate(list()), "xs", "list of length 0"),
  bad("op_stack axis 4", op_stack(list(x, x), axis = 4), "axis", "4"),
  bad("op_matmul complex", op_matmul(x, 1i), "x2", "complex value"),
  bad("op_transpose axes 1:3", op_transpose(x, axes = 1:3), "axes", "3"),
  bad("op_expand_dims axis 'a'", op_expand_dims(x, axis = "a"), "axis", "a"),
  bad("op_shape character", op_shape("a"), "x", "character value"),
  bad("layer_concatenate axis 1.5", layer_concatenate(x, x, axis = 1.5), "axis", "1.5"),
  bad("layer_subtract 3 inputs", layer_subtract(x, x, x), "subtract", "3"),
  bad("layer_add name 1", layer_add(x, x, name = 1), "name", "1"),
  bad("shape 'a'", shape("a"), "shape", "a"),
  bad("shape -2", shape(-2), "shape", "-2"),
  bad("array_reshape 0-length", array_reshape(numeric(0), c(2, 3)), "dim", "0 values"),
  bad("array_reshape order 'Z'", array_reshape(x, c(3, 10), order = "Z"), "order", "Z"),
  # ---- initializers / regularizers / constraints / optimizers ---------------------
  bad("initializer_constant 'a'", initializer_constant(value = "a"), "value", "a"),
  bad("initializer_random_normal stddev -1", initializer_random_normal(stddev = -1), "stddev", "-1"),
  bad("initializer_random_uniform seed 'a'", initializer_random_uniform(seed = "a"), "seed", "a"),
  bad("initializer_glorot_uniform seed 1.5", initializer_glorot_uniform(seed = 1.5), "seed", "1.5"),
  bad("initializer_variance_scaling mode", initializer_variance_scaling(mode = "nope"), "mode", "nope"),
  bad("initializer_variance_scaling scale -1", initializer_variance_scaling(scale = -1), "scale", "-1"),
  bad("initializer_orthogonal gain 'a'", initializer_orthogonal(gain = "a"), "gain", "a"),
  bad("regularizer_l1 -1", regularizer_l1(l1 = -1), "l1", "-1"),
  bad("regularizer_l2 NA", regularizer_l2(l2 = NA), "l2", "NA"),
  bad("regularizer_l1_l2 'a'", regularizer_l1_l2(l1 = "a"), "l1", "a"),
  bad("regularizer_orthogonal mode", regularizer_orthogonal(mode = "nope"), "mode", "nope"),
  bad("constraint_maxnorm -1", constraint_maxnorm(max_value = -1), "max_value", "-1"),
  bad("constraint_minmaxnorm rate 2", constraint_minmaxnorm(rate = 2), "rate", "2"),
  bad("constraint_unitnorm axis 'a'", constraint_unitnorm(axis = "a"), "axis", "a"),
  bad("optimizer_adam learning_rate -1", optimizer_adam(learning_rate = -1), "learning_rate", "-1"),
  bad("optimizer_adam beta_1 2", optimizer_adam(beta_1 = 2), "beta_1", "2"),
  bad("optimizer_sgd momentum -1", optimizer_sgd(momentum = -1), "momentum", "-1"),
  bad("optimizer_sgd nesterov NA", optimizer_sgd(nesterov = NA), "nesterov", "NA"),
  bad("optimizer_rmsprop rho 'a'", optimizer_rmsprop(rho = "a"), "rho", "a"),
  bad("optimizer unknown dots", optimizer_adam(foo = 1), "foo", "foo"),
  # ---- threads -----------------------------------------------------------------
  bad("nl_set_threads 'a'", nl_set_threads("a"), "n", "a"),
  bad("nl_set_threads 0", nl_set_threads(0), "n", "0"),
  bad("nl_set_threads 1e9", nl_set_threads(1e9), "n", "1,000,000,000|1e\\+09")
)

test_that("the bad-input table has at least 100 rows with unique ids", {
  ids <- vapply(bad_input_rows, `[[`, "", "id")
  expect_gte(length(ids), 100)
  expect_false(anyDuplicated(ids) > 0)
})

for (row in bad_input_rows) {
  local({
    row <- row
    test_that(paste("bad input:", row$id), {
      if (!is.null(row$owner) && !nzchar(Sys.getenv("NORMLAYERS_PENDING_ROWS"))) {
        skip(paste0("pending: fixed on branch ", row$owner,
                    " (set NORMLAYERS_PENDING_ROWS to run)"))
      }
      withr::local_options(normlayers.threads = NULL)
      e <- suppressWarnings(bad_input_fixtures())
      before <- bad_input_snapshot(e)
      err <- tryCatch(suppressWarnings(eval(row$call, e)), error = function(err) err)
      expect_s3_class(err, "normlayers_error")
      if (inherits(err, "error")) {
        msg <- cli::ansi_strip(conditionMessage(err))
        expect_match(msg, row$arg, info = "the message names the argument")
        expect_match(msg, row$got, info = "the message says what was received")
      }
      expect_identical(bad_input_snapshot(e), before)
    })
  })
}
