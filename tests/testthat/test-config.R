test_that("get_config() uses Keras keys and from_config() rebuilds the layer", {
  l <- layer_layer_normalization(axis = c(2, 3), epsilon = 1e-5, center = FALSE,
                                 gamma_regularizer = regularizer_l2(0.1), name = "cfg_ln")
  cfg <- get_config(l)
  expect_identical(attr(cfg, "__class__"), "LayerNormalization")
  expect_true(all(c("name", "trainable", "dtype", "axis", "epsilon", "center", "scale",
                    "beta_initializer", "gamma_initializer", "beta_regularizer",
                    "gamma_regularizer", "beta_constraint", "gamma_constraint") %in% names(cfg)))
  expect_identical(cfg$gamma_initializer$class_name, "Ones")
  expect_identical(cfg$gamma_regularizer$class_name, "L2")
  expect_equal(cfg$axis, c(2L, 3L))
  l2 <- from_config(cfg)
  expect_s3_class(l2, "nl_layer_normalization")
  expect_false(l2$built)
  expect_identical(get_config(l2), cfg)
  x <- array(rnorm(24), c(2, 3, 4))
  expect_equal(l2(x), l(x))
})

test_that("sequential models round trip through their config", {
  model <- keras_model_sequential(input_shape = 3, name = "m") |>
    layer_layer_normalization(name = "x1")
  cfg <- get_config(model)
  expect_identical(attr(cfg, "__class__"), "Sequential")
  m2 <- from_config(cfg)
  expect_identical(m2$layers[[1]]$name, "x1")
  expect_true(m2$layers[[1]]$built)
  expect_error(from_config(list(a = 1)), class = "normlayers_error_config")
  bad <- cfg
  attr(bad, "__class__") <- "Nope"
  expect_error(from_config(bad), class = "normlayers_error_config")
})
