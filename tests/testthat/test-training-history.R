# The history returned by fit() (R/training-history.R).

test_that("the history prints, converts to a data frame and plots", {
  set.seed(9)
  x <- matrix(rnorm(40), 20, 2)
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  compile(model, optimizer = optimizer_sgd(0.05), loss = "mse", metrics = "mae")
  h <- fit(model, x, x[, 1], epochs = 3, validation_split = 0.2, verbose = 0)
  expect_output(print(h), "Final epoch \\(plot to see history\\):")
  expect_output(print(h), "val_loss: ")
  df <- as.data.frame(h)
  expect_named(df, c("epoch", "value", "metric", "data"))
  expect_equal(nrow(df), 12)
  expect_equal(levels(df$data), c("training", "validation"))
  expect_equal(df$value[df$metric == "loss" & df$data == "validation"], h$metrics$val_loss)
  pdf(NULL)
  on.exit(dev.off())
  expect_invisible(plot(h))
})
