# The HDF5 weights layout: Keras group names and dimension order.

test_that("group names are snake_case class names with _1, _2 per repeat", {
  m <- keras_model_sequential(input_shape = 3) |>
    layer_dense(4, name = "first") |>
    layer_batch_normalization(name = "bn_a") |>
    layer_dense(4, name = "second") |>
    layer_layer_normalization() |>
    layer_batch_normalization(name = "bn_b") |>
    layer_dense(1, name = "output")
  kids <- nl_keras_children(m)
  expect_equal(kids$groups, c("dense", "batch_normalization", "dense_1", "layer_normalization",
                              "batch_normalization_1", "dense_2"))
  inp <- keras_input(shape = 3)
  f <- keras_model(inp, inp |> layer_dense(2) |> layer_dropout(0.1) |> layer_dropout(0.2))
  expect_equal(nl_keras_children(f)$groups, c("input_layer", "dense", "dropout", "dropout_1"))
})

test_that("weights are written row-major in Keras shapes and read back", {
  set.seed(8)
  m <- keras_model_sequential(input_shape = 3) |>
    layer_dense(4) |>
    layer_normalization(axis = NULL)
  set_weights(m, list(matrix(1:12 / 7, 3, 4), (1:4) / 3, 2.5, 0.7))
  path <- withr::local_tempfile(fileext = ".weights.h5")
  save_model_weights(m, path, dtype = "float64")
  f <- hdf5r::H5File$new(path, mode = "r")
  k <- f[["layers/dense/vars/0"]]
  # hdf5r reports dimensions reversed: the file holds Keras's (3, 4)
  expect_equal(k$dims, c(4L, 3L))
  expect_equal(t(k$read()), matrix(1:12 / 7, 3, 4))
  expect_equal(f[["layers/normalization/vars/0"]]$dims, integer())
  expect_equal(f[["layers/normalization/vars/2"]]$get_type()$to_text(), "H5T_STD_I64LE")
  expect_equal(hdf5r::h5attr(f[["layers/dense/vars"]], "name"), m$layers[[1]]$name)
  f$close_all()
  tree <- nl_h5_read_file(path, "test")
  v <- tree$layers$dense$vars[["0"]]
  expect_equal(attr(v, "keras_shape"), c(3L, 4L))
  expect_equal(as.double(v), as.double(matrix(1:12 / 7, 3, 4)))
  m2 <- keras_model_sequential(input_shape = 3) |>
    layer_dense(4) |>
    layer_normalization(axis = NULL)
  load_model_weights(m2, path)
  expect_identical(get_weights(m2), get_weights(m))
})

test_that("load_model_weights(skip_mismatch = TRUE) skips layers that do not fit", {
  m <- keras_model_sequential(input_shape = 3) |> layer_dense(4) |> layer_dense(2)
  path <- withr::local_tempfile(fileext = ".weights.h5")
  save_model_weights(m, path)
  other <- keras_model_sequential(input_shape = 3) |> layer_dense(4) |> layer_dense(5)
  w_last <- get_weights(other)[3:4]
  expect_warning(load_model_weights(other, path, skip_mismatch = TRUE),
                 class = "normlayers_warning_weights")
  expect_equal(get_weights(other)[[1]], get_weights(m)[[1]], tolerance = 1e-6)
  expect_identical(get_weights(other)[3:4], w_last)
})

test_that("functional layers are grouped in Keras's order: by depth, then by walk from the outputs", {
  # two branches of different depth joined by a model with two outputs
  inp <- keras_input(shape = 3, name = "x")
  a1 <- layer_dense(units = 2, name = "a1")
  a2 <- layer_dense(units = 2, name = "a2")
  b1 <- layer_dense(units = 5, name = "b1")
  out_a <- inp |> a1() |> a2()
  out_b <- inp |> b1()
  model <- keras_model(inp, list(out_b, out_a))
  ord <- vapply(nl_keras_functional_order(model), function(l) l$name, "")
  # depths from the outputs: b1 0, a2 0, a1 1; deepest first, then walk order (b1 before a2)
  expect_equal(ord, c("a1", "b1", "a2"))
  expect_equal(nl_keras_children(model)$groups, c("input_layer", "dense", "dense_1", "dense_2"))
  path <- withr::local_tempfile(fileext = ".weights.h5")
  save_model_weights(model, path)
  lay <- ref_h5_layout(path)
  expect_equal(lay$shape[lay$path == "layers/dense_1/vars/0"], "3x5")
  expect_equal(lay$shape[lay$path == "layers/dense_2/vars/0"], "2x2")
})
