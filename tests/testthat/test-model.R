# Row slicing and batched prediction (R/model.R).

test_that("nl_slice_rows() and nl_slice_range() match R indexing for any rank", {
  set.seed(61)
  for (d in list(10L, c(10L, 3L), c(10L, 2L, 3L), c(10L, 1L, 2L, 2L))) {
    x <- array(rnorm(prod(d)), d)
    for (idx in list(c(3L, 1L, 10L, 3L), 4:7, 5L, integer(0), c(2, 9))) {
      want <- if (length(d) == 1) array(x[idx], length(idx)) else
        do.call(`[`, c(list(x, idx), rep(list(TRUE), length(d) - 1), list(drop = FALSE)))
      expect_identical(nl_slice_rows(x, idx), want)
    }
    expect_identical(nl_slice_range(x, 4, 3), nl_slice_rows(x, 4:6))
    expect_identical(nl_slice_range(x, 1, 0), nl_slice_rows(x, integer(0)))
  }
  v <- rnorm(6)
  expect_identical(nl_slice_rows(v, c(2, 5)), v[c(2, 5)])
  expect_identical(nl_slice_range(v, 2, 3), v[2:4])
  xi <- matrix(1:12, 4)
  expect_identical(nl_slice_rows(xi, c(4L, 1L)), matrix(as.double(xi[c(4, 1), ]), 2))
  xl <- array(c(TRUE, FALSE), c(4, 1, 2))
  expect_identical(nl_slice_rows(xl, 2:3), array(as.double(xl[2:3, , , drop = FALSE]), c(2, 1, 2)))
  expect_error(nl_slice_rows(matrix(0, 3, 2), 4L))
  expect_error(nl_slice_rows(matrix(0, 3, 2), 0L))
})

test_that("slicing a batch from a large input allocates the batch's size", {
  skip_without_memory_profiling()
  x <- matrix(rnorm(2e5 * 8), 2e5, 8)
  idx <- c(5L, 199999L, 77L, 1000L)
  batch_bytes <- 8 * length(idx) * 8
  expect_lt(as.numeric(sum(bench::bench_memory(nl_slice_rows(x, idx))$mem_alloc)),
            batch_bytes + 1024)
  expect_lt(as.numeric(sum(bench::bench_memory(nl_slice_range(x, 1000, 32))$mem_alloc)),
            8 * 32 * 8 + 1024)
  a <- array(rnorm(1e5 * 6), c(1e5, 2, 3))
  expect_lt(as.numeric(sum(bench::bench_memory(nl_slice_rows(a, idx %% 1e5L + 1L))$mem_alloc)),
            8 * length(idx) * 6 + 1024)
})

test_that("predict() on a large input allocates about its output", {
  skip_without_memory_profiling()
  set.seed(62)
  x <- matrix(rnorm(5e4 * 8), 5e4, 8)
  model <- keras_model_sequential(input_shape = 8) |> layer_batch_normalization()
  invisible(predict(model, x[1:2, ]))
  out_bytes <- 8 * length(x)
  expect_lt(as.numeric(sum(bench::bench_memory(predict(model, x))$mem_alloc)), 1.2 * out_bytes)
  # In batches: the result and one batch (every full batch is gathered into
  # the same buffer and normalized in place).
  mem <- as.numeric(sum(bench::bench_memory(predict(model, x, batch_size = 5e3))$mem_alloc))
  expect_lt(mem, 1.2 * out_bytes)
  expect_identical(predict(model, x, batch_size = 5e3), predict(model, x))
  # so for a model of several such layers (a last batch of another size too)
  m2 <- keras_model_sequential(input_shape = 8) |> layer_dropout(0.5) |>
    layer_layer_normalization() |> layer_activation("relu") |> layer_batch_normalization()
  invisible(predict(m2, x[1:2, ]))
  mem <- as.numeric(sum(bench::bench_memory(predict(m2, x, batch_size = 3e3))$mem_alloc))
  expect_lt(mem, 1.2 * out_bytes)
  expect_identical(predict(m2, x, batch_size = 3e3), predict(m2, x))
  # in one batch the layers after the first write over their input
  m3 <- keras_model_sequential(input_shape = 8) |> layer_dense(units = 8) |>
    layer_batch_normalization() |> layer_activation("relu")
  invisible(predict(m3, x[1:2, ]))
  expect_lt(as.numeric(sum(bench::bench_memory(predict(m3, x))$mem_alloc)), 1.2 * out_bytes)
})

test_that("predict() in batches gives the one-batch result and leaves its input alone", {
  set.seed(63)
  x <- matrix(rnorm(103 * 6), 103, 6)
  x0 <- x + 0
  norm <- layer_normalization()
  adapt(norm, x)
  models <- list(
    keras_model_sequential(input_shape = 6) |> layer_batch_normalization(),
    keras_model_sequential(input_shape = 6) |> layer_dropout(0.3) |> layer_activation("linear") |>
      layer_batch_normalization() |> layer_dense(units = 4, activation = "relu") |>
      layer_activation("softmax"),
    suppressWarnings(norm(keras_model_sequential(input_shape = 6)) |>
      layer_layer_normalization(rms_scaling = TRUE)) |>
      layer_activation("elu") |> layer_dense(units = 1)
  )
  inp <- keras_input(shape = 6)
  models[[4]] <- keras_model(inp, inp |> layer_batch_normalization() |> layer_dense(units = 2))
  # (Dense's matrix product may round differently for another number of rows)
  for (model in models) {
    want <- predict(model, x)
    for (bs in c(1, 10, 50, 102, 103)) {
      expect_equal(predict(model, x, batch_size = bs), want, tolerance = 1e-13)
      expect_identical(x, x0)
    }
    expect_equal(predict(model, x, batch_size = 10, steps = 3), want[1:30, , drop = FALSE],
                 tolerance = 1e-13)
    xi <- matrix(as.integer(round(x * 10)), 103, 6)
    expect_identical(predict(model, xi, batch_size = 7), predict(model, xi * 1, batch_size = 7))
    expect_identical(predict(model, as.data.frame(x), batch_size = 7), predict(model, x, batch_size = 7))
    # one batch of an input predict() converted itself
    expect_identical(predict(model, as.data.frame(x)), want)
    xi0 <- xi
    expect_identical(predict(model, xi), predict(model, xi * 1))
    expect_identical(xi, xi0)
  }
  # without a Dense layer, batches change nothing at all
  expect_identical(predict(models[[1]], x, batch_size = 10), predict(models[[1]], x))
})

test_that("outputs a callback keeps from predict() batches stay intact", {
  set.seed(64)
  x <- matrix(rnorm(50 * 3), 50, 3)
  model <- keras_model_sequential(input_shape = 3) |> layer_batch_normalization()
  kept <- list()
  cb <- callback_lambda(on_predict_batch_end = function(batch, logs) {
    kept[[length(kept) + 1]] <<- logs$outputs
  })
  out <- predict(model, x, batch_size = 10, callbacks = list(cb))
  expect_length(kept, 5)
  expect_identical(do.call(rbind, kept), out)
  expect_identical(out, predict(model, x))
})

test_that("predict() gives arrays with dim for every input container", {
  model <- keras_model_sequential(input_shape = 2) |> layer_dense(1)
  x <- matrix(rnorm(10), 5, 2)
  expect_identical(dim(predict(model, x)), c(5L, 1L))
  expect_identical(dim(predict(model, as.data.frame(x), batch_size = 2)), c(5L, 1L))
  expect_identical(dim(predict(model, x, batch_size = 2)), c(5L, 1L))
  m2 <- keras_model_sequential(input_shape = 2) |> layer_layer_normalization()
  expect_true(is.matrix(predict(m2, as.data.frame(x))))
  expect_error(predict(model), class = "normlayers_error_missing")
})
