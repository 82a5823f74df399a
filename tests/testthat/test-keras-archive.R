# .keras archives: the real files written by Python Keras, the layout of the
# files save_model() writes, and bad input.

quiet_load <- function(path, ...) {
  suppressWarnings(load_model(path, ...), classes = "normlayers_warning_keras_file")
}

test_that("every real .keras file loads and matches a reference forward pass", {
  root <- local_keras_files()
  dirs <- list.dirs(root, recursive = FALSE)
  dirs <- dirs[file.exists(file.path(dirs, "model.keras"))]
  expect_gte(length(dirs), 17)
  for (d in dirs) {
    unz <- ref_unzip(file.path(d, "model.keras"))
    x <- ref_inputs(d, unz)
    model <- quiet_load(file.path(d, "model.keras"))
    expect_s3_class(model, "nl_model")
    ref <- ref_forward(unz, x)
    pred <- predict(model, x)
    expect_equal(dim(pred), dim(ref), info = basename(d))
    expect_lt(max_rel_err(pred, ref), 1e-6, label = basename(d))
    # the reference is not trivially constant (except the one saturated model)
    if (!grepl("ILIASB1212", d)) expect_gt(stats::sd(as.double(ref)), 0, label = basename(d))
    # same weights as the file, in get_weights() order
    expect_equal(count_params(model),
                 sum(lengths(ref_h5_datasets(file.path(unz, "model.weights.h5"))[
                   grepl("^layers/.*/vars/", names(ref_h5_datasets(file.path(unz, "model.weights.h5")))) &
                     !grepl("^layers/normalization(_[0-9]+)?/vars/2$", names(ref_h5_datasets(file.path(unz, "model.weights.h5"))))])),
                 info = basename(d))
  }
})

test_that("real files summarise, evaluate and keep training with fit()", {
  root <- local_keras_files()
  for (name in c("rahulb-97__Auto-MPG-Regression", "anpaago__Diabetes-Risk-Prediction-System_Deep-learning-MLP",
                 "Umxn2__Smart-Grid-Fault-Classification", "AnjanB3012__Loan-Predictor")) {
    d <- file.path(root, name)
    unz <- ref_unzip(file.path(d, "model.keras"))
    model <- quiet_load(file.path(d, "model.keras"))
    expect_true(model$compiled, label = name)
    txt <- utils::capture.output(summary(model))
    expect_match(paste(txt, collapse = "\n"), "Total params", label = name)
    x <- ref_inputs(d, unz, n = 40)
    p <- predict(model, x)
    y <- if (name == "Umxn2__Smart-Grid-Fault-Classification") {
      matrix(as.double(max.col(p) - 1), ncol = 1)
    } else if (grepl("Diabetes", name)) {
      matrix(as.double(p > 0.5), ncol = 1)
    } else {
      p + 0.1
    }
    before <- evaluate(model, x, y, verbose = 0)
    expect_true(all(is.finite(unlist(before))), label = name)
    w0 <- get_weights(model)
    hist <- fit(model, x, y, epochs = 2, batch_size = 20, verbose = 0)
    expect_length(hist$metrics$loss, 2)
    expect_false(identical(w0, get_weights(model)), label = name)
  }
})

test_that("compile configs: known loss and optimizer compile, others warn", {
  root <- local_keras_files()
  m <- quiet_load(file.path(root, "Ruben221b__heart-disease-neural-network", "model.keras"))
  comp <- nl_state(m)$compiled
  expect_equal(comp$optimizer$class_name, "Adam")
  expect_equal(comp$optimizer$config$learning_rate, 0.00011160530266351998)
  expect_equal(comp$loss$key, "binary_crossentropy")
  expect_equal(vapply(comp$metrics, `[[`, "", "name"), "accuracy")
  # Nadam is not available: uncompiled, with a warning that says why
  expect_warning(m2 <- load_model(file.path(root, "AlexMor2910__GCP-Predictive-Maintenance", "model.keras")),
                 "Nadam", class = "normlayers_warning_keras_file")
  expect_false(m2$compiled)
  # a learning-rate schedule
  expect_warning(load_model(file.path(root, "123Cryptic__diabetes_detection", "model.keras")),
                 "schedule", class = "normlayers_warning_keras_file")
  # compile = FALSE: no warning, not compiled
  expect_no_warning(m3 <- load_model(file.path(root, "AlexMor2910__GCP-Predictive-Maintenance", "model.keras"),
                                     compile = FALSE))
  expect_false(m3$compiled)
})

test_that("Keras 2.15 configs and scalar Normalization statistics load", {
  root <- local_keras_files()
  m <- quiet_load(file.path(root, "AnjanB3012__Loan-Predictor", "model.keras"))
  norm <- m$layers[[1]]
  expect_s3_class(norm, "nl_normalization")
  expect_null(nl_state(norm)$config$axis)
  expect_length(norm$weights[[1]], 1)
  expect_equal(nl_state(norm)$keras_count, 385)
  # list-valued axis [-1] of Keras 3.3
  m2 <- quiet_load(file.path(root, "rahulb-97__Auto-MPG-Regression", "model.keras"))
  expect_equal(nl_state(m2$layers[[1]])$kept_axes, 2L)
  # layer names come from the config, not from the HDF5 groups
  m3 <- quiet_load(file.path(root, "durga-prasad-45__Near-Earth-Orbit-Hazard-Prediction-System-Using-ANN",
                              "model.keras"))
  expect_equal(vapply(m3$layers, function(l) l$name, ""),
               c("dense_1", "bn_1", "dropout_1", "dense_2", "bn_2", "dropout_2", "dense_3",
                 "dropout_3", "output"))
})

all_layers_model <- function() {
  set.seed(42)
  m <- keras_model_sequential(input_shape = 4, name = "everything") |>
    layer_normalization() |>
    layer_dense(6, activation = "elu", kernel_regularizer = regularizer_l2(0.01)) |>
    layer_batch_normalization() |>
    layer_dropout(0.2) |>
    layer_dense(5) |>
    layer_layer_normalization() |>
    layer_activation("gelu") |>
    layer_dense(3, activation = "softmax")
  adapt(m$layers[[1]], matrix(rnorm(80, 3, 2), 20, 4))
  randomize_keras_weights(m)
}

test_that("save_model() writes the layout of the real files", {
  root <- local_keras_files()
  real <- file.path(root, "123Cryptic__diabetes_detection", "model.keras")
  real_unz <- ref_unzip(real)
  # the same architecture in R
  model <- keras_model_sequential(input_shape = 4) |>
    layer_dense(128, activation = "relu") |>
    layer_batch_normalization() |>
    layer_dropout(0.3) |>
    layer_dense(64, activation = "relu") |>
    layer_batch_normalization() |>
    layer_dropout(0.3) |>
    layer_dense(1, activation = "sigmoid")
  compile(model, optimizer = "adam", loss = "binary_crossentropy", metrics = "accuracy")
  path <- withr::local_tempfile(fileext = ".keras")
  save_model(model, path)
  expect_setequal(zip::zip_list(path)$filename, c("metadata.json", "config.json", "model.weights.h5"))
  ours_unz <- ref_unzip(path)
  # HDF5: same groups, same datasets, same shapes, float32
  a <- ref_h5_layout(file.path(real_unz, "model.weights.h5"))
  b <- ref_h5_layout(file.path(ours_unz, "model.weights.h5"))
  expect_equal(b[order(b$path), ], a[order(a$path), ], ignore_attr = TRUE)
  f <- hdf5r::H5File$new(file.path(ours_unz, "model.weights.h5"), "r")
  expect_equal(f[["layers/dense/vars/0"]]$get_type()$to_text(), "H5T_IEEE_F32LE")
  # the optimizer's iteration count and learning rate, typed as Keras writes them
  expect_equal(f[["optimizer/vars/0"]]$get_type()$to_text(), "H5T_STD_I64LE")
  expect_equal(f[["optimizer/vars/1"]]$get_type()$to_text(), "H5T_IEEE_F32LE")
  expect_equal(f[["optimizer/vars/1"]]$dims, integer())
  expect_equal(f[["optimizer/vars/1"]]$read(), 0.001, tolerance = 1e-7)
  f$close_all()
  # config.json: the keys Keras writes
  rc <- jsonlite::fromJSON(file.path(real_unz, "config.json"), simplifyVector = FALSE)
  oc <- jsonlite::fromJSON(file.path(ours_unz, "config.json"), simplifyVector = FALSE)
  expect_true(all(c("module", "class_name", "config", "registered_name", "build_config",
                    "compile_config") %in% names(oc)))
  expect_equal(oc$class_name, "Sequential")
  expect_equal(vapply(oc$config$layers, `[[`, "", "class_name"),
               vapply(rc$config$layers, `[[`, "", "class_name"))
  for (i in seq_along(rc$config$layers)) {
    rl <- rc$config$layers[[i]]
    ol <- oc$config$layers[[i]]
    expect_setequal(names(ol), names(rl))
    expect_setequal(names(ol$config), setdiff(names(rl$config), "quantization_config"))
    if (!is.null(rl$build_config)) expect_equal(ol$build_config, rl$build_config)
  }
  expect_equal(oc$config$layers[[3]]$config$axis, -1L)
  expect_equal(oc$compile_config$loss, "binary_crossentropy")
  expect_equal(oc$compile_config$optimizer$class_name, "Adam")
  meta <- jsonlite::fromJSON(file.path(ours_unz, "metadata.json"))
  expect_match(meta$keras_version, "^3\\.")
})

test_that("save -> load round trips every layer type (float64 exact, float32 close)", {
  model <- all_layers_model()
  compile(model, optimizer = optimizer_adam(learning_rate = 0.01), loss = "categorical_crossentropy",
          metrics = "accuracy")
  x <- matrix(rnorm(40, 3, 2), 10, 4)
  p64 <- withr::local_tempfile(fileext = ".keras")
  save_model(model, p64, dtype = "float64")
  m64 <- load_model(p64)
  expect_identical(predict(m64, x), predict(model, x))
  expect_identical(get_weights(m64), get_weights(model))
  expect_equal(vapply(m64$layers, function(l) l$name, ""), vapply(model$layers, function(l) l$name, ""))
  expect_equal(get_config(m64), get_config(model))
  expect_true(m64$compiled)
  expect_equal(nl_state(m64)$compiled$optimizer$config$learning_rate, 0.01)
  p32 <- withr::local_tempfile(fileext = ".keras")
  save_model(model, p32)
  m32 <- load_model(p32)
  expect_lt(max_rel_err(predict(m32, x), predict(model, x)), 1e-5)
  f32 <- function(w) {
    v <- readBin(writeBin(as.double(w), raw(), size = 4), "double", size = 4, n = length(w))
    attributes(v) <- attributes(w)
    v
  }
  expect_identical(get_weights(m32), lapply(get_weights(model), f32))
})

test_that("functional and nested models round trip", {
  set.seed(3)
  inner <- keras_model_sequential(input_shape = 5, name = "inner") |>
    layer_dense(4, activation = "tanh") |>
    layer_batch_normalization()
  inputs <- keras_input(shape = 5, name = "features")
  outputs <- inputs |> layer_layer_normalization() |> inner() |> layer_dense(2, activation = "silu")
  model <- keras_model(inputs, outputs, name = "outer")
  randomize_keras_weights(model)
  x <- matrix(rnorm(30), 6, 5)
  path <- withr::local_tempfile(fileext = ".keras")
  save_model(model, path, dtype = "float64")
  loaded <- load_model(path)
  expect_s3_class(loaded, "nl_functional")
  expect_identical(predict(loaded, x), predict(model, x))
  unz <- ref_unzip(path)
  lay <- ref_h5_layout(file.path(unz, "model.weights.h5"))
  expect_true(all(c("layers/input_layer/vars", "layers/layer_normalization/vars/0",
                    "layers/sequential/layers/dense/vars/1",
                    "layers/sequential/layers/batch_normalization/vars/3",
                    "layers/dense/vars/0") %in% lay$path))
  # a sequential model inside a sequential model
  outer <- keras_model_sequential(input_shape = 5) |> layer_dense(5)
  inner2 <- keras_model_sequential(input_shape = 5, name = "inner2") |> layer_dense(3)
  outer <- outer |> inner2()
  randomize_weights(outer)
  save_model(outer, path, overwrite = TRUE, dtype = "float64")
  expect_identical(predict(load_model(path), x), predict(outer, x))
})

test_that("save_model_weights() / load_model_weights() use the Keras layout", {
  model <- all_layers_model()
  path <- withr::local_tempfile(fileext = ".weights.h5")
  save_model_weights(model, path, dtype = "float64")
  lay <- ref_h5_layout(path)
  expect_true(all(c("layers/normalization/vars/2", "layers/dense_2/vars/1",
                    "layers/layer_normalization/vars/1", "vars") %in% lay$path))
  other <- all_layers_model()
  set_weights(other, lapply(get_weights(other), function(w) w * 0 + 1))
  load_model_weights(other, path)
  expect_identical(get_weights(other), get_weights(model))
  # from a .keras archive, too
  kpath <- withr::local_tempfile(fileext = ".keras")
  save_model(model, kpath, dtype = "float64")
  set_weights(other, lapply(get_weights(other), function(w) w * 0 + 1))
  load_model_weights(other, kpath)
  expect_identical(get_weights(other), get_weights(model))
  # a model that does not fit: nothing changes
  small <- keras_model_sequential(input_shape = 4) |> layer_normalization() |> layer_dense(2)
  w0 <- get_weights(small)
  expect_error(load_model_weights(small, path), class = "normlayers_error_weights")
  expect_identical(get_weights(small), w0)
  expect_error(save_model_weights(model, withr::local_tempfile(fileext = ".h5")),
               class = "normlayers_error_value")
})

test_that("bad files give classed errors, build nothing and leave no temporary files", {
  check <- function(expr, kind, pattern) {
    err <- expect_error(expr, class = paste0("normlayers_error_", kind))
    expect_s3_class(err, "normlayers_error")
    expect_match(conditionMessage(err), pattern)
    invisible(err)
  }
  scratch <- withr::local_tempdir()
  empty <- file.path(scratch, "empty.keras")
  file.create(empty)
  junk <- file.path(scratch, "junk.keras")
  writeBin(charToRaw("this is not a model at all"), junk)
  other_zip <- file.path(scratch, "other.keras")
  writeLines("hello", file.path(scratch, "hello.txt"))
  zip::zip(other_zip, "hello.txt", root = scratch)
  model <- all_layers_model()
  good <- file.path(scratch, "good.keras")
  save_model(model, good)
  bytes <- readBin(good, "raw", file.size(good))
  trunc <- file.path(scratch, "trunc.keras")
  writeBin(bytes[seq_len(length(bytes) %/% 2)], trunc)
  wfile <- file.path(scratch, "w.weights.h5")
  save_model_weights(model, wfile)
  hb <- readBin(wfile, "raw", file.size(wfile))
  bad_h5 <- file.path(scratch, "bad.weights.h5")
  writeBin(hb[seq_len(600)], bad_h5)
  unknown <- rewrite_archive(good, function(cfg) {
    cfg$config$layers[[5]]$class_name <- "GaussianNoise"
    cfg
  })
  act <- rewrite_archive(good, function(cfg) {
    cfg$config$layers[[3]]$config$activation <- "crelu"
    cfg
  })
  shapes <- rewrite_archive(good, function(cfg) {
    cfg$config$layers[[3]]$config$units <- 7L
    cfg
  })
  w_before <- get_weights(model)
  tmp_before <- list.files(tempdir(), all.files = TRUE, no.. = TRUE)

  check(load_model(file.path(scratch, "nope.keras")), "value", "does not exist")
  check(load_model(empty), "file", "empty")
  err <- check(load_model(junk), "type", "not a zip archive, not an HDF5 file")
  expect_false(is.null(err$parent))
  check(load_model(other_zip), "file", "lacks")
  err <- check(load_model(trunc), "file", "truncated or damaged")
  expect_false(is.null(err$parent))
  check(load_model(wfile), "file", "not a Keras model")
  check(load_model_weights(model, bad_h5), "file", "HDF5|damaged")
  err <- check(load_model(unknown), "config", "GaussianNoise")
  expect_match(conditionMessage(err), "dropout")
  expect_match(conditionMessage(err), "Supported layer classes")
  err <- check(load_model(act), "config", "crelu")
  expect_match(conditionMessage(err), "Supported activations")
  err <- check(load_model(shapes), "weights", "wrong shape")
  expect_match(conditionMessage(err), "layers/dense/vars/0")
  check(save_model(model, file.path(scratch, "no", "such", "dir", "m.keras")), "file",
        "directory does not exist")
  check(save_model(model, file.path(scratch, "m.txt")), "value", "must end in")
  check(save_model(layer_dense(units = 2), file.path(scratch, "l.keras")), "type", "Only models")
  expect_identical(get_weights(model), w_before)
  # successful calls leave nothing behind either
  save_model(model, file.path(scratch, "ok.keras"))
  expect_s3_class(load_model(file.path(scratch, "ok.keras")), "nl_sequential")
  expect_s3_class(load_model(readBin(good, "raw", file.size(good))), "nl_sequential")
  save_model_weights(model, file.path(scratch, "ok.weights.h5"))
  load_model_weights(model, file.path(scratch, "ok.weights.h5"))
  save_model(model, file.path(scratch, "ok.rds"))

  tmp_after <- list.files(tempdir(), all.files = TRUE, no.. = TRUE)
  expect_setequal(setdiff(tmp_after, tmp_before), character())
  expect_false(file.exists(file.path(scratch, "m.txt")))
})

test_that("an archive without metadata.json loads, as in Keras", {
  model <- all_layers_model()
  dir <- withr::local_tempdir()
  full <- file.path(dir, "full.keras")
  save_model(model, full, dtype = "float64")
  utils::unzip(full, exdir = dir)
  bare <- file.path(dir, "bare.keras")
  zip::zip(bare, c("config.json", "model.weights.h5"), root = dir)
  x <- matrix(rnorm(8, 3, 2), 2, 4)
  expect_identical(predict(load_model(bare), x), predict(model, x))
})

test_that("a functional model is written in the layout of the real functional file", {
  root <- local_keras_files()
  real_unz <- ref_unzip(file.path(root, "anpaago__Diabetes-Risk-Prediction-System_Deep-learning-MLP",
                                  "model.keras"))
  inp <- keras_input(shape = 8)
  out <- inp |>
    layer_dense(64, activation = "relu") |>
    layer_dropout(0.3) |>
    layer_dense(32, activation = "relu") |>
    layer_dropout(0.3) |>
    layer_dense(1, activation = "sigmoid")
  model <- keras_model(inp, out)
  compile(model, optimizer = "adam", loss = "binary_crossentropy", metrics = "accuracy")
  path <- withr::local_tempfile(fileext = ".keras")
  save_model(model, path)
  ours_unz <- ref_unzip(path)
  a <- ref_h5_layout(file.path(real_unz, "model.weights.h5"))
  b <- ref_h5_layout(file.path(ours_unz, "model.weights.h5"))
  expect_equal(b[order(b$path), ], a[order(a$path), ], ignore_attr = TRUE)
  rc <- jsonlite::fromJSON(file.path(real_unz, "config.json"), simplifyVector = FALSE)
  oc <- jsonlite::fromJSON(file.path(ours_unz, "config.json"), simplifyVector = FALSE)
  expect_equal(oc[c("module", "class_name", "registered_name")], rc[c("module", "class_name", "registered_name")])
  expect_setequal(names(oc$config), names(rc$config))
  expect_equal(vapply(oc$config$layers, `[[`, "", "class_name"),
               vapply(rc$config$layers, `[[`, "", "class_name"))
  for (i in seq_along(rc$config$layers)) {
    rl <- rc$config$layers[[i]]
    ol <- oc$config$layers[[i]]
    # Keras 3.13 leaves build_config out for Dropout in a functional model (3.5
    # writes it in a sequential one); Keras reads it either way
    expect_setequal(setdiff(names(ol), "build_config"), setdiff(names(rl), "build_config"))
    if (!is.null(rl$build_config)) expect_equal(ol$build_config, rl$build_config)
    expect_setequal(names(ol$config),
                    setdiff(names(rl$config), c("quantization_config", "ragged", "optional")))
    expect_equal(length(ol$inbound_nodes), length(rl$inbound_nodes))
    if (length(rl$inbound_nodes)) {
      expect_setequal(names(ol$inbound_nodes[[1]]), names(rl$inbound_nodes[[1]]))
      expect_equal(ol$inbound_nodes[[1]]$args[[1]]$config$keras_history[2:3],
                   rl$inbound_nodes[[1]]$args[[1]]$config$keras_history[2:3])
      expect_equal(ol$inbound_nodes[[1]]$args[[1]]$config$shape,
                   rl$inbound_nodes[[1]]$args[[1]]$config$shape)
    }
  }
  expect_equal(lengths(list(oc$config$input_layers, oc$config$output_layers)), c(3L, 3L))
  expect_equal(oc$config$output_layers[2:3], rc$config$output_layers[2:3])
})
