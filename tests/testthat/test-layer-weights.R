# The accessors of a layer's weights (R/layer-weights.R).

test_that("nl_weight_get()/nl_weight_set() read and write one weight of a state or a layer", {
  layer <- layer_layer_normalization()
  layer(matrix(1:6, 2))
  st <- nl_state(layer)
  expect_identical(nl_weight_get(st, "gamma"), c(1, 1, 1))
  expect_identical(nl_weight_get(layer, "gamma"), c(1, 1, 1))
  expect_null(nl_weight_get(st, "kernel"))
  expect_identical(nl_weight_set(st, "gamma", c(2, 3, 4)), c(2, 3, 4))
  expect_identical(nl_weight_get(layer, "gamma"), c(2, 3, 4))
  nl_weight_set(layer, "beta", c(-1, 0, 1))
  expect_identical(get_weights(layer), list(c(2, 3, 4), c(-1, 0, 1)))
  # writing keeps the order in which the weights were added
  expect_identical(names(nl_weights_all(st)), c("gamma", "beta"))
  expect_identical(nl_weights_all(layer), list(gamma = c(2, 3, 4), beta = c(-1, 0, 1)))
})

test_that("a write leaves a list taken earlier as it was (snapshots)", {
  layer <- layer_dense(units = 2)
  layer(matrix(1, 1, 3))
  snap <- nl_weights_all(layer)
  kernel <- nl_weight_get(layer, "kernel")
  nl_weight_set(layer, "kernel", kernel * 0)
  nl_weight_set(layer, "bias", c(5, 5))
  expect_identical(snap$kernel, kernel)
  expect_identical(snap$bias, c(0, 0))
  expect_false(identical(nl_weights_all(layer), snap))
  nl_weights_replace(layer, snap)
  expect_identical(nl_weights_all(layer), snap)
  expect_identical(nl_weights_replace(nl_state(layer), snap), snap)
})

test_that("the slot accessors read and write several layers' weights in slot order", {
  model <- keras_model_sequential(input_shape = 3) |>
    layer_dense(2) |>
    layer_batch_normalization()
  slots <- nl_weight_slots(model)
  expect_identical(nl_weight_get_slots(slots), get_weights(model))
  expect_identical(nl_weight_get_slots(list()), list())
  new <- lapply(get_weights(model), function(w) w + 1)
  nl_weight_set_slots(slots, new)
  expect_identical(get_weights(model), new)
  # a subset, as the training step writes only the weights with a gradient
  nl_weight_set_slots(slots[2], list(c(7, 8)))
  expect_identical(nl_weight_get(nl_state(model$layers[[1]]), "bias"), c(7, 8))
  expect_identical(get_weights(model)[-2], new[-2])
})

test_that("no function of the package writes a layer's weights except the accessors", {
  ns <- asNamespace("normlayers")
  accessors <- c("nl_weight_set", "nl_weight_set_slots", "nl_weights_replace")
  # st$weights <-, s$st$weights[[nm]] <-, nl_state(l)$weights$gamma <-, assign("weights", ...)
  write <- paste0("((\\bst|nl_state\\([^)]*\\))\\$weights(\\$[A-Za-z_.]+|\\[\\[[^]]+\\]\\])? <-)",
                  "|(assign\\(\"weights\")")
  writers <- Filter(function(nm) {
    f <- get(nm, envir = ns)
    is.function(f) && !is.primitive(f) &&
      any(grepl(write, deparse(body(f)), perl = TRUE))
  }, ls(ns, all.names = TRUE))
  expect_setequal(writers, accessors)
})
