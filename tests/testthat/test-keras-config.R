# Keras configs <-> normlayers layers and models.

keras_round_trip <- function(model) {
  path <- withr::local_tempfile(fileext = ".keras")
  save_model(model, path, dtype = "float64")
  suppressWarnings(load_model(path), classes = "normlayers_warning_keras_file")
}

keras_config_of <- function(model) {
  path <- withr::local_tempfile(fileext = ".keras")
  save_model(model, path)
  dir <- withr::local_tempdir()
  utils::unzip(path, exdir = dir)
  jsonlite::fromJSON(file.path(dir, "config.json"), simplifyVector = FALSE)
}

test_that("axes are 0-based in Keras configs and 1-based in R", {
  expect_equal(nl_keras_axis_in(-1L), -1L)
  expect_equal(nl_keras_axis_in(3L), 4L)
  expect_equal(nl_keras_axis_in(list(1L, 2L)), c(2L, 3L))
  expect_null(nl_keras_axis_in(list()))
  expect_null(nl_keras_axis_in(NULL))
  expect_equal(nl_keras_axis_out(2L), 1L)
  expect_equal(nl_keras_axis_out(c(2L, 3L)), list(1L, 2L))
  expect_equal(nl_keras_axis_out(-1L, as_list = TRUE), list(-1L))
  m <- keras_model_sequential(input_shape = c(3, 4)) |>
    layer_batch_normalization(axis = 2) |>
    layer_layer_normalization(axis = c(2, 3))
  cfg <- keras_config_of(m)
  expect_equal(cfg$config$layers[[2]]$config$axis, 1L)
  expect_equal(cfg$config$layers[[3]]$config$axis, list(1L, 2L))
  back <- keras_round_trip(m)
  expect_equal(nl_state(back$layers[[1]])$config$axis, 2L)
  expect_equal(nl_state(back$layers[[2]])$reduced_axes, c(2L, 3L))
})

test_that("nested lists in configs convert to arrays in Keras order", {
  a <- array(1:24 + 0.5, c(2, 3, 4))
  expect_identical(nl_keras_array_in(nl_keras_array_out(a)), a)
  expect_equal(nl_keras_array_out(a)[[2]][[3]][[4]], a[2, 3, 4])
  expect_identical(nl_keras_array_in(list(1, 2, 3)), c(1, 2, 3))
  expect_identical(nl_keras_array_in(2.5), 2.5)
})

test_that("each layer type and option survives a Keras round trip", {
  set.seed(5)
  x <- matrix(rnorm(24), 6, 4)
  cases <- list(
    dense_opts = function(m) layer_dense(m, 3, activation = "selu", use_bias = FALSE,
                                         kernel_initializer = "he_normal",
                                         kernel_regularizer = regularizer_l1_l2(0.01, 0.02),
                                         kernel_constraint = constraint_maxnorm(2, axis = 1)),
    bn_opts = function(m) layer_batch_normalization(m, center = FALSE, momentum = 0.9,
                                                    epsilon = 0.01, trainable = FALSE),
    ln_opts = function(m) layer_layer_normalization(m, scale = FALSE, epsilon = 1e-5),
    norm_fixed = function(m) layer_normalization(m, mean = c(1, 2, 3, 4), variance = c(1, 4, 9, 16)),
    norm_invert = function(m) layer_normalization(m, axis = NULL, invert = TRUE),
    dropout_opts = function(m) layer_dropout(m, 0.25, noise_shape = c(NA, 1), seed = 3),
    activation = function(m) layer_activation(m, "softsign")
  )
  for (nm in names(cases)) {
    m <- keras_model_sequential(input_shape = 4) |> cases[[nm]]() |> layer_dense(2)
    ws <- get_weights(m)
    set_weights(m, lapply(ws, function(w) { w[] <- runif(length(w), 0.5, 1.5); w }))
    back <- keras_round_trip(m)
    expect_identical(predict(back, x), predict(m, x), label = nm)
    expect_equal(get_config(back$layers[[1]]), get_config(m$layers[[1]]), label = nm)
    expect_identical(get_weights(back), get_weights(m), label = nm)
  }
  # every activation
  for (act in names(nl_activations)) {
    m <- keras_model_sequential(input_shape = 4) |> layer_dense(3, activation = act)
    back <- keras_round_trip(m)
    expect_identical(predict(back, x), predict(m, x), label = act)
  }
})

test_that("functional models with shared layers and several inputs round trip", {
  set.seed(6)
  a <- keras_input(shape = 3, name = "a")
  b <- keras_input(shape = 3, name = "b")
  shared <- layer_dense(units = 3, activation = "tanh", name = "shared")
  out_a <- a |> shared() |> layer_layer_normalization(name = "ln")
  out_b <- b |> shared() |> shared()
  model <- keras_model(list(a, b), list(out_a, out_b), name = "two")
  cfg <- keras_config_of(model)
  entry <- Filter(function(l) l$name == "shared", cfg$config$layers)[[1]]
  expect_length(entry$inbound_nodes, 3)
  expect_equal(entry$inbound_nodes[[3]]$args[[1]]$config$keras_history, list("shared", 1L, 0L))
  expect_equal(cfg$config$input_layers, list(list("a", 0L, 0L), list("b", 0L, 0L)))
  back <- keras_round_trip(model)
  xa <- matrix(rnorm(6), 2)
  xb <- matrix(rnorm(6), 2)
  expect_identical(back(list(xa, xb)), model(list(xa, xb)))
  expect_equal(count_params(back), count_params(model))
})

test_that("Keras config keys normlayers cannot honour are refused by name", {
  dense_entry <- function(cfg) list(module = "keras.layers", class_name = "Dense",
                                    config = c(list(name = "d", units = 2L), cfg))
  err <- expect_error(nl_keras_entry_in(dense_entry(list(activity_regularizer = list(
    module = "keras.regularizers", class_name = "L2", config = list(l2 = 0.1))))),
    class = "normlayers_error_config")
  expect_match(conditionMessage(err), "activity_regularizer")
  err <- expect_error(nl_keras_entry_in(dense_entry(list(lora_rank = 4L))),
                      class = "normlayers_error_config")
  expect_match(conditionMessage(err), "lora_rank")
  err <- expect_error(nl_keras_entry_in(dense_entry(list(frobnicate = TRUE))),
                      class = "normlayers_error_config")
  expect_match(conditionMessage(err), "frobnicate")
  bad_units <- dense_entry(list())
  bad_units$config$units <- -1L
  err <- expect_error(nl_keras_entry_in(bad_units), class = "normlayers_error_config")
  expect_match(conditionMessage(err), "units")
  err <- expect_error(nl_keras_entry_in(list(class_name = "Conv2D", config = list(name = "conv"))),
                      class = "normlayers_error_config")
  expect_match(conditionMessage(err), "Conv2D")
  expect_match(conditionMessage(err), "conv")
  # Keras 2 keys are accepted: dtype strings, batch_input_shape, legacy BN flags
  layer <- nl_keras_entry_in(list(class_name = "BatchNormalization", config = list(
    name = "bn", dtype = "float32", axis = list(3L), fused = NULL, batch_input_shape = list(NULL, 2L, 3L, 4L))))
  expect_equal(nl_state(layer)$config$axis, 4L)
})

test_that("R-only parts cannot be written to a Keras file", {
  m <- keras_model_sequential(input_shape = 2) |>
    layer_dense(2, kernel_initializer = function(shape) array(0.5, shape))
  path <- withr::local_tempfile(fileext = ".keras")
  expect_error(save_model(m, path), class = "normlayers_error_config")
  expect_false(file.exists(path))
})

test_that("Keras 2's hard_sigmoid is refused rather than silently changed", {
  m <- keras_model_sequential(input_shape = 2) |> layer_dense(1, activation = "hard_sigmoid")
  path <- withr::local_tempfile(fileext = ".keras")
  save_model(m, path)
  expect_s3_class(load_model(path), "nl_sequential")
  k2 <- rewrite_archive(path, identity)
  dir <- withr::local_tempdir()
  utils::unzip(k2, exdir = dir)
  writeLines('{"keras_version": "2.15.0", "date_saved": "2024-01-01@00:00:00"}',
             file.path(dir, "metadata.json"))
  k2b <- withr::local_tempfile(fileext = ".keras")
  zip::zip(k2b, c("metadata.json", "config.json", "model.weights.h5"), root = dir)
  err <- expect_error(load_model(k2b), class = "normlayers_error_config")
  expect_match(conditionMessage(err), "Keras 2")
  expect_equal(nl_keras_major_of("3.15.0"), 3L)
  expect_null(nl_keras_major_of(NULL))
})

test_that("the normalization family goes through Keras files; wrappers are refused", {
  set.seed(7)
  inp <- keras_input(shape = 6, name = "fam")
  out <- inp |>
    layer_dense(6) |>
    layer_group_normalization(groups = 3, center = FALSE, gamma_regularizer = regularizer_l2(0.1)) |>
    layer_rms_normalization(epsilon = 1e-5) |>
    layer_unit_normalization()
  model <- keras_model(inp, out)
  set_weights(model, lapply(get_weights(model), function(w) { w[] <- runif(length(w), 0.5, 1.5); w }))
  path <- withr::local_tempfile(fileext = ".keras")
  save_model(model, path, dtype = "float64")
  dir <- withr::local_tempdir()
  utils::unzip(path, exdir = dir)
  lay <- ref_h5_layout(file.path(dir, "model.weights.h5"))
  expect_true(all(c("layers/group_normalization/vars/0", "layers/rms_normalization/vars/0",
                    "layers/unit_normalization/vars") %in% lay$path))
  expect_false("layers/group_normalization/vars/1" %in% lay$path)
  cfg <- jsonlite::fromJSON(file.path(dir, "config.json"), simplifyVector = FALSE)
  gn <- Filter(function(l) l$class_name == "GroupNormalization", cfg$config$layers)[[1]]
  expect_equal(gn$config$groups, 3L)
  expect_equal(gn$config$axis, -1L)
  expect_equal(gn$config$gamma_regularizer$class_name, "L2")
  back <- load_model(path)
  x <- matrix(rnorm(18), 3, 6)
  expect_identical(predict(back, x), predict(model, x))
  expect_equal(get_config(back$layers[[2]]), get_config(model$layers[[2]]))
  # SpectralNormalization wraps a layer: not written to Keras files
  sn <- keras_model_sequential(input_shape = 3) |> layer_spectral_normalization(layer_dense(units = 2))
  p2 <- withr::local_tempfile(fileext = ".keras")
  err <- expect_error(save_model(sn, p2), class = "normlayers_error_config")
  expect_match(conditionMessage(err), "SpectralNormalization")
  expect_false(file.exists(p2))
})

test_that("a functional model inside a functional model round trips", {
  set.seed(9)
  i1 <- keras_input(shape = 4, name = "inner_in")
  inner <- keras_model(i1, i1 |> layer_dense(3, activation = "relu") |> layer_layer_normalization(),
                       name = "inner_f")
  i2 <- keras_input(shape = 4, name = "outer_in")
  model <- keras_model(i2, i2 |> inner() |> layer_dense(1), name = "outer_f")
  set_weights(model, lapply(get_weights(model), function(w) { w[] <- rnorm(length(w)); w }))
  back <- keras_round_trip(model)
  x <- matrix(rnorm(12), 3, 4)
  expect_identical(predict(back, x), predict(model, x))
  expect_equal(nl_keras_children(model)$groups, c("input_layer", "functional", "dense"))
})

test_that("merge layers go through Keras files with their list inputs", {
  skip_if_not(exists("layer_add", mode = "function") && exists("layer_concatenate", mode = "function"))
  set.seed(10)
  a <- keras_input(shape = 3, name = "in_a")
  b <- keras_input(shape = 3, name = "in_b")
  s <- layer_add(list(a |> layer_dense(3), b))
  out <- layer_concatenate(list(s, b), axis = -1) |> layer_dense(2)
  model <- keras_model(list(a, b), out)
  cfg <- keras_config_of(model)
  add <- Filter(function(l) l$class_name == "Add", cfg$config$layers)[[1]]
  expect_length(add$inbound_nodes[[1]]$args[[1]], 2)
  cat_cfg <- Filter(function(l) l$class_name == "Concatenate", cfg$config$layers)[[1]]
  expect_equal(cat_cfg$config$axis, -1L)
  back <- keras_round_trip(model)
  xa <- matrix(rnorm(6), 2)
  xb <- matrix(rnorm(6), 2)
  expect_identical(back(list(xa, xb)), model(list(xa, xb)))
})
