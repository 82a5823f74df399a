# Merge layers against Keras's semantics (keras/src/layers/merging/*.py): Add
# sums, Subtract takes exactly 2, Multiply multiplies, Average averages,
# Maximum/Minimum take the element-wise extreme, Concatenate joins on `axis`
# (keras3 default -1); lower-rank inputs get size-1 axes after the batch axis.

x1 <- rbind(c(1, 2, 3), c(4, 5, 6))
x2 <- rbind(c(10, 20, 30), c(40, 50, 60))

test_that("merge layers compute as Keras on arrays", {
  expect_identical(layer_add(x1, x2), x1 + x2)
  expect_identical(layer_add(list(x1, x2, x1)), 2 * x1 + x2)
  expect_identical(layer_subtract(x2, x1), x2 - x1)
  expect_identical(layer_multiply(x1, x2), x1 * x2)
  expect_identical(layer_average(x1, x2), (x1 + x2) / 2)
  expect_identical(layer_maximum(x1, 7 - x1), pmax(x1, 7 - x1))
  expect_identical(layer_minimum(x1, 7 - x1), pmin(x1, 7 - x1))
  expect_identical(layer_concatenate(x1, x2), cbind(x1, x2))
  expect_identical(layer_concatenate(x1, x2, axis = 1), rbind(x1, x2))
  out <- layer_add(as.data.frame(x1), x2)   # the container of the first input
  expect_s3_class(out, "data.frame")
  expect_identical(unname(as.matrix(out)), x1 + x2)
})

test_that("keras3's examples: layer_add(op_ones(c(1, 2, 3)), op_ones(c(1, 2, 3)))", {
  out <- layer_add(op_ones(c(1, 2, 3)), op_ones(c(1, 2, 3)))
  expect_identical(out, array(2, c(1, 2, 3)))
  inp1 <- keras_input(shape = 16)
  inp2 <- keras_input(shape = 32)
  a <- inp1 |> layer_dense(8, activation = "relu")
  b <- inp2 |> layer_dense(8, activation = "relu")
  added <- layer_add(a, b)
  expect_identical(added$shape, c(NA, 8L))
  model <- keras_model(inputs = c(inp1, inp2), outputs = added |> layer_dense(4))
  out <- model(list(matrix(1, 2, 16), matrix(1, 2, 32)))
  expect_identical(dim(out), c(2L, 4L))
})

test_that("a merge layer without inputs is returned and called later", {
  add <- layer_add(name = "my_add")
  expect_s3_class(add, "nl_add")
  expect_identical(add$name, "my_add")
  expect_identical(add(list(x1, x2)), x1 + x2)
  cat <- layer_concatenate(axis = 1)
  expect_identical(cat(list(x1, x2)), rbind(x1, x2))
})

test_that("shapes broadcast and lower ranks are expanded after the batch axis", {
  b <- matrix(c(100, 200), 2, 1)
  expect_identical(layer_add(x1, b), x1 + c(100, 200))
  a3 <- array(1:12, c(2, 2, 3))
  out <- layer_add(a3, x1)   # x1 (2, 3) -> (2, 1, 3)
  expect_identical(dim(out), c(2L, 2L, 3L))
  expect_equal(out[2, 2, ], a3[2, 2, ] + x1[2, ])
  s <- layer_multiply(keras_input(shape = c(4, 3)), keras_input(shape = 3))
  expect_identical(s$shape, c(NA, 4L, 3L))
  s <- layer_concatenate(keras_input(shape = c(4, 3)), keras_input(shape = c(4, 5)))
  expect_identical(s$shape, c(NA, 4L, 8L))
})

test_that("incompatible inputs are classed errors and change nothing", {
  expect_error(layer_add(x1, matrix(1, 2, 2)), class = "normlayers_error_shape")
  expect_error(layer_add(x1, matrix(1, 3, 3)), class = "normlayers_error_shape")
  expect_error(layer_subtract(list(x1, x1, x1)), class = "normlayers_error_shape")
  expect_error(layer_concatenate(x1, matrix(1, 3, 3)), class = "normlayers_error_shape")
  expect_error(layer_concatenate(x1, x2, axis = 0), class = "normlayers_error_axis")
  expect_error(layer_add(keras_input(shape = 3), keras_input(shape = 4)), class = "normlayers_error_shape")
  expect_error(layer_add(x1, x2, bogus = 1), class = "normlayers_error_argument")
  add <- layer_add()
  expect_error(add(list(x1, matrix(1, 2, 2))), class = "normlayers_error_shape")
  expect_false(add$built)
})

test_that("merge layers' backward passes match finite differences", {
  set.seed(11)
  a <- random_array(c(3, 4))
  b <- random_array(c(3, 4))
  c1 <- random_array(c(3, 1))
  cases <- list(
    list(layer_add(), list(a, b, c1)),
    list(layer_subtract(), list(a, c1)),
    list(layer_multiply(), list(a, b, c1)),
    list(layer_average(), list(a, b)),
    list(layer_maximum(), list(a, b)),
    list(layer_minimum(), list(a, b)),
    list(layer_concatenate(), list(a, c1)),
    list(layer_concatenate(axis = 1), list(a, b)),
    list(nl_layer_divide(), list(a, b + 5)),
    list(layer_add(), list(random_array(c(3, 2, 4)), a))
  )
  for (cs in cases) {
    layer <- cs[[1]]
    xs <- cs[[2]]
    out <- nl_layer_run(layer, xs, training = TRUE)
    r <- random_array(dim(out$output))
    back <- nl_layer_backward(layer, out$cache, r)
    expect_length(back$dx, length(xs))
    for (i in seq_along(xs)) {
      f <- function(v) {
        ys <- xs
        ys[[i]] <- v
        sum(nl_layer_forward(layer, ys, TRUE)$output * r)
      }
      expect_identical(dim(back$dx[[i]]), dim(xs[[i]]))
      expect_lt(relative_error(back$dx[[i]], numeric_gradient(f, xs[[i]])), 1e-6,
                label = paste(class(layer)[1], "input", i))
    }
  }
})

test_that("a residual MLP block with LayerNormalization trains with fit()", {
  set.seed(42)
  n <- 64
  x <- matrix(rnorm(n * 8), n, 8)
  y <- matrix(rowSums(x[, 1:4]) + 0.1 * rnorm(n), n, 1)
  inputs <- keras_input(shape = 8)
  h <- inputs |> layer_dense(16, activation = "relu") |> layer_dense(8)
  h <- layer_add(h, inputs) |> layer_layer_normalization()
  h2 <- h |> layer_dense(8, activation = "relu")
  outputs <- (h2 + h) |> layer_layer_normalization() |> layer_dense(1)
  model <- keras_model(inputs, outputs)
  compile(model, optimizer = "adam", loss = "mse")
  hist <- fit(model, x, y, epochs = 30, batch_size = 16, verbose = 0)
  loss <- hist$metrics$loss
  expect_lt(loss[length(loss)], 0.5 * loss[1])
  expect_identical(dim(predict(model, x, verbose = 0)), c(64L, 1L))
  # the whole model's gradients (through both merges) against finite differences
  xs <- x[1:5, ]
  out <- nl_layer_run(model, xs, training = TRUE)
  r <- random_array(dim(out$output))
  back <- nl_layer_backward(model, out$cache, r)
  f <- function(v) sum(nl_layer_forward(model, v, TRUE)$output * r)
  expect_lt(relative_error(back$dx, numeric_gradient(f, xs)), 1e-6)
  w <- get_weights(model)
  k <- 1   # the first dense kernel
  first <- nl_state(model)$layers[[1]]
  expect_s3_class(first, "nl_dense")
  g <- back$grads[[paste0(first$name, "/kernel")]]
  expect_identical(dim(g), dim(w[[k]]))
  fw <- function(v) {
    ww <- w
    ww[[k]] <- v
    set_weights(model, ww)
    on.exit(set_weights(model, w))
    sum(nl_layer_forward(model, xs, TRUE)$output * r)
  }
  expect_lt(relative_error(g, numeric_gradient(fw, w[[k]])), 1e-6)
})

test_that("merge layers round-trip through get_config()/from_config()", {
  inp <- keras_input(shape = 3, name = "mi")
  h <- inp |> layer_dense(3, name = "md")
  out <- layer_concatenate(h, inp, axis = -1, name = "mcat") |> layer_dense(1, name = "mo")
  model <- keras_model(inp, out)
  cfg <- get_config(model)
  cat_cfg <- Filter(function(l) l$name == "mcat", cfg$layers)[[1]]
  expect_identical(cat_cfg$class_name, "Concatenate")
  expect_length(cat_cfg$inbound_nodes[[1]], 2)
  m2 <- from_config(cfg)
  set_weights(m2, get_weights(model))
  xx <- matrix(rnorm(6), 2)
  expect_equal(m2(xx), model(xx))
  l <- from_config(get_config(layer_add(name = "plain_add")))
  expect_s3_class(l, "nl_add")
})
