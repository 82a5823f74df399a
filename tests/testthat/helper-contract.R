# The shared layer contract: every layer must pass it.
#   make_layer: a function of no arguments returning a fresh, unbuilt layer.
#   x:          an input array (batch first) the layer accepts.
#   rows_independent: whether each row's output depends on that row only in
#               inference (true for all normalization layers at inference).
expect_layer_contract <- function(make_layer, x, class_name, rows_independent = TRUE) {
  layer <- make_layer()
  expect_s3_class(layer, "nl_layer")
  expect_false(layer$built)
  expect_output(print(layer), class_name, fixed = TRUE)
  expect_output(print(layer), "built=FALSE", fixed = TRUE)

  # lazy build on the first call, output shape = input shape
  y <- layer(x)
  expect_true(layer$built)
  expect_equal(dim(y), dim(x))
  expect_output(print(layer), "built=TRUE", fixed = TRUE)

  # a 1-row input works and (in inference) gives that row's output
  x1 <- nl_slice_rows(x, 1L)
  y1 <- layer(x1)
  expect_equal(dim(y1), c(1L, dim(x)[-1]))
  if (rows_independent) expect_equal(y1, nl_slice_rows(y, 1L), tolerance = 1e-12)

  # calling in inference does not change state
  w0 <- get_weights(layer)
  layer(x)
  expect_identical(get_weights(layer), w0)

  # weights round trip through get_weights()/set_weights()
  if (length(w0)) {
    w1 <- lapply(w0, function(w) w + 0.25)
    expect_invisible(set_weights(layer, w1))
    expect_identical(get_weights(layer), w1)
    expect_equal(count_params(layer), sum(lengths(w0)))
  }

  # saveRDS()/readRDS() round trip gives identical output and weights
  path <- tempfile(fileext = ".rds")
  on.exit(unlink(path), add = TRUE)
  saveRDS(layer, path)
  restored <- readRDS(path)
  expect_identical(restored(x), layer(x))
  expect_identical(get_weights(restored), get_weights(layer))
  expect_identical(restored$name, layer$name)
  invisible(layer)
}
