# The summary table of a model (R/model-summary.R).

test_that("summary() shows layers, shapes and parameter totals", {
  model <- keras_model_sequential(input_shape = c(5)) |>
    layer_layer_normalization(name = "ln_a") |>
    layer_layer_normalization(name = "ln_b", trainable = FALSE)
  out <- capture.output(txt <- summary(model))
  expect_identical(out, txt)
  expect_true(any(grepl("Layer (type)", out, fixed = TRUE)))
  expect_true(any(grepl("ln_a (LayerNormalization)", out, fixed = TRUE)))
  expect_true(any(grepl("(None, 5)", out, fixed = TRUE)))
  expect_true(any(grepl("Total params: 20", out, fixed = TRUE)))
  expect_true(any(grepl("Trainable params: 10", out, fixed = TRUE)))
  expect_true(any(grepl("Non-trainable params: 10", out, fixed = TRUE)))
  expect_true(any(grepl("Trainable", out[3], fixed = TRUE)))
})
