# The layer specs (R/layer-spec.R): one per layer type, and what derives from them.

test_that("every spec is complete, and types and Keras classes are unique", {
  specs <- nl_layer_specs()
  expect_gte(length(specs), 19)
  types <- vapply(specs, `[[`, "", "type")
  expect_false(anyDuplicated(types) > 0)
  expect_identical(names(specs), unname(vapply(specs, `[[`, "", "class_name")))
  ns <- asNamespace("normlayers")
  for (spec in specs) {
    expect_true(exists(spec$constructor, envir = ns, inherits = FALSE), info = spec$class_name)
    expect_type(spec$config_keys, "character")
    expect_true(all(spec$print_keys %in% spec$config_keys), info = spec$class_name)
    expect_identical(nl_spec_of_type(spec$type), spec)
  }
  expect_null(nl_spec_of_type("no_such_type"))
})

test_that("an incomplete spec is refused", {
  expect_error(nl_spec_complete(list(type = "x", class_name = "X")), "lacks constructor")
})

test_that("the registry maps Keras classes to constructors", {
  reg <- nl_layer_registry()
  expect_identical(reg[["RMSNormalization"]], "layer_rms_normalization")
  expect_identical(reg[["Concatenate"]], "layer_concatenate")
  expect_identical(unname(reg), unname(vapply(nl_layer_specs(), `[[`, "", "constructor")))
})

test_that("get_config() keys are the spec's keys, in its order, for every layer type", {
  layers <- list(layer_dense(units = 2), layer_batch_normalization(), layer_layer_normalization(),
                 layer_normalization(), layer_group_normalization(groups = 2),
                 layer_rms_normalization(), layer_unit_normalization(), layer_dropout(rate = 0.1),
                 layer_activation(activation = "relu"), layer_concatenate(), layer_add(),
                 layer_spectral_normalization(layer = layer_dense(units = 2)))
  for (l in layers) {
    spec <- nl_spec_of(l)
    cfg <- get_config(l)
    expect_identical(names(cfg), c("name", "trainable", "dtype", spec$config_keys),
                     info = spec$class_name)
    expect_identical(names(nl_layer_print_args(l)) %||% character(),
                     if (is.function(spec$print)) names(spec$print(nl_state(l))) else spec$print_keys,
                     info = spec$class_name)
  }
})

test_that("a spec's config hook sees the built state", {
  l <- layer_group_normalization(groups = -1, axis = 2)
  expect_identical(get_config(l)$groups, -1L)
  l(array(0, c(2, 3, 4)))
  expect_identical(get_config(l)$groups, 3L)
  r <- layer_rms_normalization(axis = c(3, 2))
  expect_identical(get_config(r)$axis, c(3L, 2L))
  r(array(1, c(2, 3, 4)))
  expect_identical(get_config(r)$axis, c(2L, 3L))
})

test_that("print() shows the spec's print keys", {
  expect_output(print(layer_dense(units = 7)), "units: 7", fixed = TRUE)
  expect_output(print(layer_normalization(mean = 1, variance = 2)), "variance: 2", fixed = TRUE)
  expect_output(print(layer_spectral_normalization(layer = layer_dense(units = 2, name = "inner"))),
                "layer: \"inner\"", fixed = TRUE)
})

test_that("the Keras-file classes are the specs not marked keras = FALSE", {
  kc <- nl_keras_supported_classes()
  expect_true(all(c("InputLayer", "Sequential", "Functional", "Dense", "GroupNormalization",
                    "Concatenate") %in% kc))
  expect_false(any(c("SpectralNormalization", "Divide", "Elementwise") %in% kc))
})
