# A spectral-normalized dense layer with given weights (vector_u, kernel, bias).
sn_dense <- function(kernel, u = NULL, bias = NULL, power_iterations = 1L, ...) {
  units <- ncol(kernel)
  sn <- layer_spectral_normalization(layer = layer_dense(units = units),
                                     power_iterations = power_iterations, ...)
  sn(matrix(0, 1, nrow(kernel)))
  set_weights(sn, list(matrix(u %||% rep(1, units), 1), kernel, bias %||% rep(0, units)))
  sn
}

# Golden numbers (spec 14.8) ----

test_that("spec 14.8 worked numbers are reproduced", {
  sn <- sn_dense(diag(c(2, 1)), u = c(1, 1))
  x <- diag(2)
  # inference before any training call: the kernel as stored
  expect_equal(sn(x), diag(c(2, 1)))
  sn(x, training = TRUE)
  expect_equal(as.vector(sn$vector_u), c(0.9701425, 0.2425356), tolerance = 1e-7)
  expect_equal(sn$layer$kernel, diag(c(1.084652, 0.5423261)), tolerance = 1e-6)
  # sigma = 2 / kernel[1, 1] = 1.8439089
  expect_equal(2 / sn$layer$kernel[1, 1], 1.8439089, tolerance = 1e-7)
  # inference now uses the stored, normalized kernel
  expect_equal(sn(x), diag(c(1.084652, 0.5423261)), tolerance = 1e-6)
  # v = [0.8944272, 0.4472136] (from the oracle, which follows the same steps)
  ref <- family_spectral_oracle(diag(c(2, 1)), c(1, 1))
  expect_equal(ref$v, c(0.8944272, 0.4472136), tolerance = 1e-7)
  # sigma after 2..5 iterations from the same u
  sigmas <- c(1.988428, 1.999268, 1.999954, 1.999997)
  for (k in 2:5) {
    snk <- sn_dense(diag(c(2, 1)), u = c(1, 1), power_iterations = k)
    snk(x, training = TRUE)
    expect_equal(2 / snk$layer$kernel[1, 1], sigmas[k - 1], tolerance = 1e-6)
  }
})

# Oracle ----

test_that("the power iteration matches the oracle over random kernels", {
  set.seed(401)
  for (i in 1:20) {
    fin <- sample(1:5, 1)
    units <- sample(1:5, 1)
    iters <- sample(1:4, 1)
    W <- matrix(rnorm(fin * units), fin, units)
    u <- rnorm(units)
    b <- rnorm(units)
    sn <- sn_dense(W, u = u, bias = b, power_iterations = iters)
    x <- rand_array(c(3, fin))
    y <- sn(x, training = TRUE)
    ref <- family_spectral_oracle(W, u, iters)
    expect_equal(sn$layer$kernel, ref$kernel, tolerance = 1e-10)
    expect_equal(as.vector(sn$vector_u), ref$u, tolerance = 1e-10)
    expect_equal(y, x %*% ref$kernel + rep(b, each = 3), tolerance = 1e-10)
    # and the inference output then uses the stored kernel
    expect_equal(sn(x), y)
  }
})

test_that("many iterations converge to the largest singular value", {
  set.seed(402)
  W <- matrix(rnorm(12), 4, 3)
  sn <- sn_dense(W, u = rnorm(3), power_iterations = 200L)
  sn(matrix(1, 1, 4), training = TRUE)
  expect_equal(svd(W)$d[1] * sn$layer$kernel, W, tolerance = 1e-8)
  expect_equal(svd(sn$layer$kernel)$d[1], 1, tolerance = 1e-8)
})

test_that("an all-zero kernel is left unchanged", {
  sn <- sn_dense(matrix(0, 2, 3), u = c(1, 2, 3))
  sn(matrix(1, 2, 2), training = TRUE)
  expect_identical(sn$layer$kernel, matrix(0, 2, 3))
  expect_identical(sn$vector_u, matrix(c(1, 2, 3), 1))
})

test_that("vector_u is TruncatedNormal(0, 0.02), reproducible under set.seed()", {
  make <- function() {
    set.seed(403)
    sn <- layer_spectral_normalization(layer = layer_dense(units = 50))
    sn(matrix(1, 2, 3))
    sn$vector_u
  }
  u1 <- make()
  expect_identical(make(), u1)
  expect_equal(dim(u1), c(1L, 50L))
  expect_true(all(abs(u1) <= 0.04))
  expect_gt(sd(u1), 0.005)
  expect_lt(sd(u1), 0.03)
})

# Contract and composition ----

test_that("spectral normalization satisfies the layer contract", {
  set.seed(404)
  expect_layer_contract(function() layer_spectral_normalization(layer = layer_dense(units = 4)),
                        rand_array(c(6, 4)), "SpectralNormalization")
})

test_that("the composition modes work", {
  set.seed(405)
  expect_s3_class(layer_spectral_normalization(layer = layer_dense(units = 2)),
                  "nl_spectral_normalization")
  expect_s3_class(layer_spectral_normalization(NULL, layer_dense(units = 2)), "nl_layer")
  model <- keras_model_sequential(input_shape = 3)
  expect_invisible(res <- layer_spectral_normalization(model, layer_dense(units = 2)))
  expect_identical(res, model)
  expect_length(model$layers, 1)
  expect_equal(dim(model$layers[[1]]$layer$kernel), c(3L, 2L))
  inp <- keras_input(shape = c(5, 3))
  out <- inp |> layer_spectral_normalization(layer_dense(units = 7))
  expect_s3_class(out, "nl_symbolic_tensor")
  expect_equal(out$shape, c(NA, 5L, 7L))
  fmodel <- keras_model(inp, out)
  expect_equal(dim(fmodel(rand_array(c(2, 5, 3)))), c(2L, 5L, 7L))
  x <- matrix(rnorm(6), 2, 3)
  y <- layer_spectral_normalization(x, layer_dense(units = 2))
  expect_true(is.matrix(y))
  expect_equal(dim(y), c(2L, 2L))
  df <- layer_spectral_normalization(data.frame(a = 1:2, b = 3:4), layer_dense(units = 2))
  expect_s3_class(df, "data.frame")
  sn <- layer_spectral_normalization(layer = layer_dense(units = 2))
  expect_equal(x %>% sn(), x |> sn())
})

# Training ----

test_that("gradients flow to the wrapped layer's weights, as in Keras", {
  set.seed(406)
  model <- keras_model_sequential(input_shape = 3) |>
    layer_spectral_normalization(layer_dense(units = 4, activation = "tanh", name = "sn_inner")) |>
    layer_dense(units = 2)
  randomize_weights(model)
  x <- random_array(c(5, 3))
  y <- random_array(c(5, 2))
  # the training pass stores the normalized kernel; the gradients are those of
  # the loss with respect to that stored kernel (inference uses it as is)
  bw <- family_expect_model_gradients(model, x, y, training = FALSE)
  expect_true(all(c("sn_inner/kernel", "sn_inner/bias") %in% names(bw$grads)))
  expect_false(any(grepl("vector_u", names(bw$grads))))
})

test_that("one fit() step is an SGD step on the normalized kernel", {
  set.seed(407)
  inner <- layer_dense(units = 2, name = "sn_step_dense")
  model <- keras_model_sequential(input_shape = 3) |>
    layer_spectral_normalization(inner, power_iterations = 2)
  randomize_weights(model)
  x <- random_array(c(4, 3))
  y <- random_array(c(4, 2))
  w <- get_weights(model)
  ref <- family_spectral_oracle(w[[2]], as.vector(w[[1]]), 2)
  loss_at <- function(k) mean((x %*% k + rep(w[[3]], each = 4) - y)^2)
  g <- numeric_gradient(loss_at, ref$kernel)
  compile(model, optimizer = optimizer_sgd(learning_rate = 0.1), loss = "mse")
  fit(model, x, y, epochs = 1, batch_size = 4, verbose = 0, shuffle = FALSE)
  expect_equal(inner$kernel, ref$kernel - 0.1 * g, tolerance = 1e-8)
  expect_equal(as.vector(model$layers[[1]]$vector_u), ref$u, tolerance = 1e-10)
})

test_that("fit() keeps the spectral norm near 1 and decreases the loss", {
  set.seed(408)
  model <- keras_model_sequential(input_shape = 4) |>
    layer_spectral_normalization(layer_dense(units = 8, activation = "tanh")) |>
    layer_dense(units = 1)
  x <- random_array(c(32, 4))
  y <- matrix(sin(x[, 1]) + x[, 2], ncol = 1)
  compile(model, optimizer = optimizer_adam(learning_rate = 0.01), loss = "mse")
  h <- fit(model, x, y, epochs = 15, batch_size = 8, verbose = 0)
  expect_lt(h$metrics$loss[15], h$metrics$loss[1])
  k <- model$layers[[1]]$layer$kernel
  expect_lt(abs(svd(k)$d[1] - 1), 0.2)
})

# Weights, config, summary, persistence ----

test_that("weights are vector_u, then the wrapped layer's, in Keras order", {
  set.seed(409)
  sn <- layer_spectral_normalization(layer = layer_dense(units = 2, name = "sn_w_dense"),
                                     name = "sn_w")
  sn(matrix(1, 1, 3))
  w <- get_weights(sn)
  expect_length(w, 3)
  expect_equal(dim(w[[1]]), c(1L, 2L))
  expect_equal(dim(w[[2]]), c(3L, 2L))
  expect_length(w[[3]], 2)
  expect_named(sn$weights, c("sn_w/vector_u", "sn_w_dense/kernel", "sn_w_dense/bias"))
  expect_equal(get_weights(sn, trainable = TRUE), w[2:3])
  expect_equal(get_weights(sn, trainable = FALSE), w[1])
  expect_identical(count_params(sn), 2L + 6L + 2L)
  expect_error(set_weights(sn, w[2:3]), class = "normlayers_error_weights")
  expect_error(set_weights(sn, list(w[[1]], w[[2]], 1:3)), class = "normlayers_error_weights")
  expect_identical(get_weights(sn), w)
})

test_that("get_config() has Keras's keys and from_config() rebuilds the wrapper", {
  sn <- layer_spectral_normalization(layer = layer_dense(units = 3, name = "sn_cfg_dense",
                                                         activation = "relu"),
                                     power_iterations = 3, name = "sn_cfg")
  cfg <- get_config(sn)
  expect_identical(attr(cfg, "__class__"), "SpectralNormalization")
  expect_named(cfg, c("name", "trainable", "dtype", "layer", "power_iterations"))
  expect_identical(cfg$power_iterations, 3L)
  expect_identical(cfg$layer$class_name, "Dense")
  expect_identical(cfg$layer$module, "keras.layers")
  expect_identical(cfg$layer$config$name, "sn_cfg_dense")
  expect_identical(cfg$layer$config$units, 3L)
  sn2 <- from_config(cfg)
  expect_s3_class(sn2, "nl_spectral_normalization")
  expect_false(sn2$built)
  expect_identical(get_config(sn2), cfg)
  x <- rand_array(c(2, 4))
  sn(x)
  sn2(x)
  set_weights(sn2, get_weights(sn))
  expect_equal(sn2(x, training = TRUE), sn(x, training = TRUE))
  # a sequential model with the wrapper round trips too
  model <- keras_model_sequential(input_shape = 4, layers = list(sn2))
  m2 <- from_config(get_config(model))
  expect_identical(m2$layers[[1]]$layer$name, "sn_cfg_dense")
  expect_length(get_weights(m2), 3)
})

test_that("summary() rows count the wrapped weights; saveRDS() round trip", {
  set.seed(410)
  model <- keras_model_sequential(input_shape = 3) |>
    layer_spectral_normalization(layer_dense(units = 4), name = "sn_sum")
  out <- capture.output(summary(model))
  expect_true(any(grepl("sn_sum (SpectralNormalization)", out, fixed = TRUE)))
  expect_true(any(grepl("(None, 4)", out, fixed = TRUE)))
  expect_true(any(grepl("Total params: 20", out, fixed = TRUE)))
  expect_true(any(grepl("Non-trainable params: 4", out, fixed = TRUE)))
  path <- tempfile(fileext = ".rds")
  on.exit(unlink(path))
  saveRDS(model, path)
  m2 <- readRDS(path)
  x <- rand_array(c(2, 3))
  expect_identical(m2(x), model(x))
  # the restored wrapper still owns its restored dense layer
  m2(x, training = TRUE)
  expect_identical(get_weights(m2)[[2]], m2$layers[[1]]$layer$kernel)
  expect_false(identical(get_weights(m2), get_weights(model)))
})

# Bad input ----

test_that("bad power_iterations and layers are classed errors", {
  d <- layer_dense(units = 2)
  expect_error(layer_spectral_normalization(layer = d, power_iterations = 0),
               class = "normlayers_error_value")
  expect_error(layer_spectral_normalization(layer = d, power_iterations = -1),
               class = "normlayers_error_value")
  expect_error(layer_spectral_normalization(layer = d, power_iterations = 1.5),
               class = "normlayers_error_value")
  expect_error(layer_spectral_normalization(layer = d, power_iterations = "2"),
               class = "normlayers_error_value")
  expect_snapshot(error = TRUE, layer_spectral_normalization(layer = d, power_iterations = 0))
  expect_error(layer_spectral_normalization(), class = "normlayers_error_missing")
  expect_snapshot(error = TRUE, layer_dense(units = 2) |> layer_spectral_normalization())
  expect_error(layer_spectral_normalization(layer = 3), class = "normlayers_error_type")
  expect_error(layer_spectral_normalization(layer = keras_model_sequential()),
               class = "normlayers_error_type")
  expect_error(layer_spectral_normalization(layer = layer_layer_normalization()),
               class = "normlayers_error_type")
  ln <- layer_layer_normalization()
  ln(matrix(1:6, 2))
  expect_error(layer_spectral_normalization(layer = ln), class = "normlayers_error_type")
  expect_snapshot(error = TRUE, layer_spectral_normalization(layer = ln))
  expect_error(layer_spectral_normalization(layer = d, foo = 1),
               class = "normlayers_error_argument")
})

test_that("a failed call changes nothing", {
  sn <- sn_dense(diag(c(2, 1)), u = c(1, 1))
  w <- get_weights(sn)
  expect_error(sn(matrix(1, 2, 3), training = TRUE), class = "normlayers_error_shape")
  expect_identical(get_weights(sn), w)
  expect_error(sn(array(1, c(2, 2, 2)), training = TRUE), class = "normlayers_error_shape")
  expect_identical(get_weights(sn), w)
  # an unbuilt wrapper that fails to build stays unbuilt, and so does its layer
  sn2 <- layer_spectral_normalization(layer = layer_dense(units = 2))
  expect_error(sn2(1:3), class = "normlayers_error_shape")
  expect_false(sn2$built)
  expect_false(sn2$layer$built)
})

test_that("trainable and name go through ... and reach the wrapped layer", {
  sn <- layer_spectral_normalization(layer = layer_dense(units = 2), trainable = FALSE,
                                     name = "my_sn")
  sn(matrix(1, 1, 2))
  expect_identical(sn$name, "my_sn")
  expect_length(get_weights(sn, trainable = TRUE), 0)
  sn$trainable <- TRUE
  expect_length(get_weights(sn, trainable = TRUE), 2)
  expect_true(sn$layer$trainable)
  expect_match(layer_spectral_normalization(layer = layer_dense(units = 2))$name,
               "^spectral_normalization")
  expect_identical(names(formals(layer_spectral_normalization)),
                   c("object", "layer", "power_iterations", "..."))
})

test_that("the wrapped layer's name must be unique in a model", {
  model <- keras_model_sequential(input_shape = 2) |>
    layer_dense(units = 2, name = "sn_clash")
  expect_error(model |> layer_spectral_normalization(layer_dense(units = 2, name = "sn_clash")),
               class = "normlayers_error_name")
  expect_length(model$layers, 1)
})

test_that("the family works in a functional model: config round trip, fit(), save_model()", {
  set.seed(411)
  inp <- keras_input(shape = 3, name = "fam_in")
  out <- inp |>
    layer_spectral_normalization(layer_dense(units = 4, name = "fam_dense"), name = "fam_sn") |>
    layer_group_normalization(groups = 2, name = "fam_gn") |>
    layer_rms_normalization(name = "fam_rms") |>
    layer_unit_normalization(name = "fam_unit")
  model <- keras_model(inp, out)
  expect_length(get_weights(model), 3 + 2 + 1)
  cfg <- get_config(model)
  expect_identical(vapply(cfg$layers, `[[`, "", "class_name"),
                   c("InputLayer", "SpectralNormalization", "GroupNormalization",
                     "RMSNormalization", "UnitNormalization"))
  m2 <- from_config(cfg)
  expect_identical(get_config(m2), cfg)
  set_weights(m2, get_weights(model))
  x <- random_array(c(5, 3))
  y <- random_array(c(5, 4))
  expect_equal(m2(x), model(x))
  family_expect_model_gradients(model, x, y, training = FALSE)
  compile(model, optimizer = optimizer_sgd(learning_rate = 0.1), loss = "mse")
  h <- fit(model, x, y, epochs = 3, batch_size = 5, verbose = 0)
  expect_true(all(is.finite(h$metrics$loss)))
  path <- tempfile(fileext = ".rds")
  on.exit(unlink(path))
  save_model(model, path)
  expect_equal(load_model(path)(x), model(x))
})
