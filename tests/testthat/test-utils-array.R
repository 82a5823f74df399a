# R containers as tensors: nl_as_input(), nl_restore_output(), op_array().

test_that("nl_as_input() coerces vectors, arrays and data frames to double arrays", {
  v <- nl_as_input(c(a = 1L, b = 2L))
  expect_identical(v$x, array(c(1, 2), 2))
  expect_identical(v$kind, "vector")
  expect_identical(v$names, c("a", "b"))
  m <- nl_as_input(matrix(1:6, 2, dimnames = list(NULL, c("p", "q", "r"))))
  expect_true(is.double(m$x))
  expect_identical(m$kind, "array")
  l <- nl_as_input(matrix(c(TRUE, FALSE), 1))
  expect_identical(l$x, matrix(c(1, 0), 1))
  df <- nl_as_input(data.frame(a = 1:2, b = c(0.5, 1)))
  expect_identical(df$x, matrix(c(1, 2, 0.5, 1), 2))
  expect_identical(df$kind, "data.frame")
  # a double array is used as it is
  x <- matrix(c(1, 2), 1)
  expect_identical(nl_as_input(x)$x, x)
})

test_that("nl_as_input() refuses other types, naming the argument and what was received", {
  f <- function(input) nl_as_input(input)
  cases <- list(letters, factor("a"), list(1, 2), matrix(1i, 2, 2), as.raw(1:3),
                Sys.Date(), data.frame(a = 1, b = "x"))
  for (bad in cases) {
    err <- expect_error(f(bad), class = "normlayers_error_type")
    expect_match(conditionMessage(err), "input")
  }
  err <- expect_error(f(matrix(1i, 2, 2)), class = "normlayers_error_type")
  expect_match(conditionMessage(err), "complex array of shape \\(2, 2\\)")
  err <- expect_error(f(data.frame(a = 1, b = "x")), class = "normlayers_error_type")
  expect_match(conditionMessage(err), '"b"')
})

test_that("nl_restore_output() gives results back in the input's container", {
  info <- nl_as_input(c(a = 1, b = 2))
  expect_identical(nl_restore_output(array(c(3, 4), 2), info), c(a = 3, b = 4))
  info <- nl_as_input(data.frame(a = 1:2, b = 3:4))
  out <- nl_restore_output(matrix(c(5, 6, 7, 8), 2), info)
  expect_identical(out, data.frame(a = c(5, 6), b = c(7, 8)))
  # another shape stays an array
  expect_identical(nl_restore_output(matrix(1, 2, 3), info), matrix(1, 2, 3))
  info <- nl_as_input(matrix(1, 2, 2, dimnames = list(c("r", "s"), NULL)))
  expect_identical(dimnames(nl_restore_output(matrix(2, 2, 2), info)), list(c("r", "s"), NULL))
})

test_that("op_array() keeps values and follows dtype", {
  expect_identical(op_array(c(1, 2), dtype = "float32"), c(1, 2))
  expect_identical(op_array(c(1.7, 2), dtype = "int32"), c(1L, 2L))
  expect_identical(op_array(c(TRUE, FALSE)), c(1, 0))
  expect_identical(op_array(c(1, 0), dtype = "bool"), c(TRUE, FALSE))
  expect_error(op_array("a"), class = "normlayers_error_type")
  expect_error(op_array(1, dtype = "nope"), class = "normlayers_error_value")
  expect_error(op_array(1, dtype = NA), class = "normlayers_error_value")
})

test_that("nl_as_input() copies a data frame's columns as unlist() would, NA included", {
  df <- data.frame(d = c(1.5, NA, -2), i = c(3L, NA, 4L), l = c(TRUE, NA, FALSE))
  info <- nl_as_input(df)
  expect_identical(info$x, matrix(as.double(unlist(df, use.names = FALSE)), 3, 3))
  expect_true(info$owned)
  expect_identical(info$nrow, 3L)
  expect_identical(nl_as_input(df[0, ])$x, matrix(numeric(), 0, 3))
  expect_identical(nl_as_input(df[, 0])$x, matrix(numeric(), 3, 0))
  # a matrix column: each of its columns is a feature, as in as.matrix()
  odd <- data.frame(a = 1:2)
  odd$m <- matrix(1:4, 2)
  expect_identical(nl_as_input(odd)$x, matrix(c(1, 2, 1, 2, 3, 4), 2, 3))
  # only arrays that were converted are new
  expect_false(nl_as_input(matrix(1, 2, 2))$owned)
  expect_true(nl_as_input(matrix(1L, 2, 2))$owned)
})

test_that("a data frame comes back with its names, row names and plain double columns", {
  df <- data.frame(a = 1:3, b = c(0.5, 1, 2), row.names = c("x", "y", "z"))
  info <- nl_as_input(df)
  out <- nl_restore_output(info$x * 2, info)
  expect_identical(out, data.frame(a = c(2, 4, 6), b = c(1, 2, 4), row.names = c("x", "y", "z")))
  # automatic row names stay automatic (and compact)
  df2 <- data.frame(p = rnorm(5), q = rnorm(5))
  out2 <- nl_restore_output(nl_as_input(df2)$x, nl_as_input(df2))
  expect_identical(out2, df2)
  expect_identical(.row_names_info(out2), -5L)
  # a subset keeps its row names
  df3 <- df2[c(4, 2), ]
  expect_identical(row.names(nl_restore_output(nl_as_input(df3)$x, nl_as_input(df3))), c("4", "2"))
})

test_that("layer calls on a data frame give the call on its matrix, as a data frame", {
  set.seed(71)
  x <- matrix(rnorm(40), 10, 4)
  df <- as.data.frame(x)
  df$V2 <- as.integer(round(df$V2 * 10))
  xm <- as.matrix(df)
  dimnames(xm) <- NULL
  as_df <- function(m) {
    out <- as.data.frame(m)
    names(out) <- names(df)
    out
  }
  norm <- layer_normalization(invert = FALSE)
  adapt(norm, x)
  bn <- layer_batch_normalization()
  invisible(bn(x, training = TRUE))
  ln <- layer_layer_normalization()
  relu <- layer_activation(activation = "relu")
  soft <- layer_activation(activation = "softmax")
  elu <- layer_activation(activation = "elu")
  drop <- layer_dropout(rate = 0.5)
  seq <- keras_model_sequential(input_shape = 4) |> layer_dropout(0.5) |>
    layer_batch_normalization() |> layer_dense(units = 4) |> layer_activation("tanh")
  for (layer in list(norm, bn, ln, relu, soft, elu, drop, seq)) {
    df0 <- df
    expect_identical(layer(df), as_df(layer(xm)))
    expect_identical(df, df0)
  }
  # training calls and other shapes are unchanged
  expect_identical(bn(df, training = TRUE), as_df(bn(xm, training = TRUE)))
  expect_true(is.matrix(layer_dense(units = 2)(df)))
})

test_that("a layer call does not change its input, whatever its container", {
  set.seed(72)
  bn <- layer_batch_normalization()
  invisible(bn(matrix(rnorm(20), 5, 4), training = TRUE))
  xi <- matrix(1:20, 5, 4)
  xi0 <- xi
  y <- bn(xi)
  expect_identical(xi, xi0)
  expect_identical(y, bn(matrix(as.double(1:20), 5, 4)))
  x <- matrix(rnorm(20), 5, 4)
  x0 <- x + 0
  seq <- keras_model_sequential(input_shape = 4) |> layer_dropout(0.5) |>
    layer_activation("linear") |> layer_batch_normalization() |> layer_activation("relu")
  for (layer in list(bn, layer_activation(activation = "relu"), layer_normalization(mean = 1, variance = 2),
                     layer_layer_normalization(), seq)) {
    invisible(layer(x))
    expect_identical(x, x0)
  }
  # the layers after the first write over their input, the first does not
  want <- pmax(seq$layers[[3]](x), 0)
  expect_identical(seq(x), want)
  expect_identical(x, x0)
})

test_that("a data-frame layer call allocates at most 1.2x its input and output", {
  skip_without_memory_profiling()
  set.seed(73)
  x <- matrix(rnorm(2e5 * 8), 2e5, 8)
  df <- as.data.frame(x)
  df$V3 <- as.integer(round(df$V3 * 100))
  io_bytes <- 2 * 8 * length(x)
  norm <- layer_normalization()
  adapt(norm, x[1:100, ])
  bn <- layer_batch_normalization()
  ln <- layer_layer_normalization()
  for (layer in list(norm, bn, ln, layer_dense(units = 8), layer_dense(units = 8, activation = "relu"))) {
    invisible(layer(df[1:2, ]))
    mem <- as.numeric(sum(bench::bench_memory(layer(df))$mem_alloc))
    expect_lt(mem, 1.2 * io_bytes)
  }
  # Dense reads the columns in blocks: it allocates about its output alone
  dense <- layer_dense(units = 8, activation = "relu")
  invisible(dense(df[1:2, ]))
  mem <- as.numeric(sum(bench::bench_memory(dense(df))$mem_alloc))
  expect_lt(mem, 0.6 * io_bytes)
})
