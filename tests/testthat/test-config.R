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

test_that("functional models round trip through their config, shared layers included", {
  set.seed(11)
  inputs <- keras_input(shape = 4, name = "fc_in")
  d <- layer_dense(units = 3, name = "fc_dense")
  ln <- layer_layer_normalization(name = "fc_ln")
  h <- inputs |> d()
  out1 <- h |> ln() |> layer_activation("relu", name = "fc_act")
  out2 <- h |> ln()
  model <- keras_model(inputs, list(out1, out2), name = "fc_model")
  cfg <- get_config(model)
  expect_identical(attr(cfg, "__class__"), "Functional")
  expect_identical(vapply(cfg$layers, `[[`, "", "name"), c("fc_in", "fc_dense", "fc_ln", "fc_act"))
  expect_identical(cfg$layers[[1]]$class_name, "InputLayer")
  expect_identical(cfg$layers[[1]]$config$batch_shape, c(NA_integer_, 4L))
  # the shared layer was called twice, both times on the dense output
  expect_identical(cfg$layers[[3]]$inbound_nodes,
                   list(list(list("fc_dense", 1L, 1L)), list(list("fc_dense", 1L, 1L))))
  expect_identical(cfg$input_layers, list(list("fc_in", 1L, 1L)))
  expect_identical(cfg$output_layers, list(list("fc_act", 1L, 1L), list("fc_ln", 2L, 1L)))

  m2 <- from_config(cfg)
  expect_s3_class(m2, "nl_functional")
  expect_identical(get_config(m2), cfg)
  expect_length(m2$layers, 3)
  set_weights(m2, get_weights(model))
  x <- matrix(rnorm(20), 5)
  expect_equal(m2(x), model(x))
  # new layers: changing the copy leaves the original alone
  w <- get_weights(m2)
  w[[1]] <- w[[1]] + 1
  set_weights(m2, w)
  expect_false(isTRUE(all.equal(get_weights(model)[[1]], w[[1]])))
})

test_that("from_config() replays calls whose inputs come from later layers", {
  inputs <- keras_input(shape = 3, name = "fo_in")
  ln <- layer_layer_normalization(name = "fo_ln")
  d <- layer_dense(units = 3, name = "fo_dense")
  out <- inputs |> ln() |> d() |> ln()   # fo_ln's second call needs fo_dense
  model <- keras_model(inputs, out, name = "fo")
  model$trainable <- FALSE
  cfg <- get_config(model)
  expect_identical(vapply(cfg$layers, `[[`, "", "name"), c("fo_in", "fo_ln", "fo_dense"))
  expect_identical(cfg$layers[[2]]$inbound_nodes[[2]], list(list("fo_dense", 1L, 1L)))
  m2 <- from_config(cfg)
  expect_false(m2$trainable)
  expect_identical(get_config(m2), cfg)
  set_weights(m2, get_weights(model))
  x <- matrix(rnorm(6), 2)
  expect_equal(m2(x), model(x))
})

test_that("nested models and invalid functional configs", {
  inner <- keras_model_sequential(input_shape = 2, name = "fn_inner") |>
    layer_dense(units = 2, name = "fn_d")
  inputs <- keras_input(shape = 2, name = "fn_in")
  model <- keras_model(inputs, inputs |> inner() |> layer_layer_normalization(name = "fn_ln"),
                       name = "fn_outer")
  cfg <- get_config(model)
  expect_identical(cfg$layers[[2]]$class_name, "Sequential")
  m2 <- from_config(cfg)
  expect_identical(get_config(m2), cfg)

  bad <- cfg
  bad$output_layers <- list(list("nowhere", 1L, 1L))
  expect_error(from_config(bad), class = "normlayers_error_config")
  bad <- cfg
  bad$layers[[3]]$inbound_nodes <- list(list(list("missing", 1L, 1L)))
  expect_error(from_config(bad), class = "normlayers_error_config")
  bad <- cfg
  bad$layers <- NULL
  expect_error(from_config(bad), class = "normlayers_error_config")
})
