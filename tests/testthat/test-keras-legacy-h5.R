# Legacy whole-model .h5 files as tf.keras 2.x writes them: the test writes
# one with hdf5r (model_config / training_config attributes, model_weights
# groups with weight_names) and compares with a plain-R forward pass.

write_legacy_h5 <- function(path, config, training, weights) {
  f <- hdf5r::H5File$new(path, mode = "w")
  on.exit(f$close_all())
  hdf5r::h5attr(f, "backend") <- "tensorflow"
  hdf5r::h5attr(f, "keras_version") <- "2.15.0"
  hdf5r::h5attr(f, "model_config") <- as.character(jsonlite::toJSON(config, auto_unbox = TRUE, null = "null", digits = NA))
  if (!is.null(training)) {
    hdf5r::h5attr(f, "training_config") <- as.character(jsonlite::toJSON(training, auto_unbox = TRUE, null = "null", digits = NA))
  }
  mw <- f$create_group("model_weights")
  hdf5r::h5attr(mw, "layer_names") <- names(weights)
  for (ln in names(weights)) {
    g <- mw$create_group(ln)
    ws <- weights[[ln]]
    if (length(ws)) hdf5r::h5attr(g, "weight_names") <- names(ws)
    for (wn in names(ws)) {
      parts <- strsplit(wn, "/")[[1]]
      h <- g
      for (p in parts[-length(parts)]) h <- if (h$exists(p)) h[[p]] else h$create_group(p)
      v <- ws[[wn]]
      if (inherits(v, "AsIs")) {
        # a scalar (shape ()), as tf.keras writes Normalization(axis = None) statistics
        h$create_dataset(parts[length(parts)], robj = as.double(v), dtype = hdf5r::h5types$H5T_IEEE_F32LE,
                         space = hdf5r::H5S$new(type = "scalar"), chunk_dims = NULL, gzip_level = 0)
        next
      }
      robj <- if (is.null(dim(v))) v else aperm(v, rev(seq_along(dim(v))))
      h$create_dataset(parts[length(parts)], robj = robj, dtype = hdf5r::h5types$H5T_IEEE_F32LE,
                       chunk_dims = NULL, gzip_level = 0)
    }
  }
  invisible(path)
}

f32 <- function(x) {
  v <- readBin(writeBin(as.double(x), raw(), size = 4), "double", size = 4, n = length(x))
  attributes(v) <- attributes(x)
  v
}

glorot <- list(class_name = "GlorotUniform", config = list(seed = NULL))
zeros <- list(class_name = "Zeros", config = structure(list(), names = character()))
ones <- list(class_name = "Ones", config = structure(list(), names = character()))

legacy_dense <- function(name, units, activation, shape = NULL) {
  cfg <- list(name = name, trainable = TRUE, dtype = "float32", units = units,
              activation = activation, use_bias = TRUE, kernel_initializer = glorot,
              bias_initializer = zeros, kernel_regularizer = NULL, bias_regularizer = NULL,
              activity_regularizer = NULL, kernel_constraint = NULL, bias_constraint = NULL)
  if (!is.null(shape)) cfg$batch_input_shape <- list(NULL, shape)
  list(class_name = "Dense", config = cfg)
}

test_that("a legacy tf.keras .h5 Sequential model loads and predicts", {
  set.seed(11)
  k1 <- matrix(rnorm(12), 3, 4)
  b1 <- rnorm(4)
  gamma <- runif(4, 0.5, 1.5)
  beta <- rnorm(4)
  mm <- rnorm(4)
  mv <- runif(4, 0.5, 2)
  k2 <- matrix(rnorm(4), 4, 1)
  b2 <- rnorm(1)
  config <- list(class_name = "Sequential", config = list(name = "sequential", layers = list(
    list(class_name = "InputLayer", config = list(batch_input_shape = list(NULL, 3), dtype = "float32",
                                                  sparse = FALSE, ragged = FALSE, name = "dense_input")),
    legacy_dense("dense", 4, "relu", shape = 3),
    list(class_name = "BatchNormalization", config = list(
      name = "batch_normalization", trainable = TRUE, dtype = "float32", axis = list(1L),
      momentum = 0.99, epsilon = 0.001, center = TRUE, scale = TRUE, beta_initializer = zeros,
      gamma_initializer = ones, moving_mean_initializer = zeros, moving_variance_initializer = ones,
      beta_regularizer = NULL, gamma_regularizer = NULL, beta_constraint = NULL,
      gamma_constraint = NULL)),
    list(class_name = "Dropout", config = list(name = "dropout", trainable = TRUE, dtype = "float32",
                                               rate = 0.5, noise_shape = NULL, seed = NULL)),
    legacy_dense("dense_1", 1, "sigmoid")
  )), keras_version = "2.15.0", backend = "tensorflow")
  training <- list(loss = "binary_crossentropy", metrics = list(list("accuracy")),
                   optimizer_config = list(class_name = "Adam", config = list(
                     name = "Adam", learning_rate = 0.002, beta_1 = 0.9, beta_2 = 0.999,
                     epsilon = 1e-07, amsgrad = FALSE)))
  # layer groups are written in alphabetical order, as h5py lists them
  weights <- list(
    batch_normalization = list(`batch_normalization/gamma:0` = gamma, `batch_normalization/beta:0` = beta,
                               `batch_normalization/moving_mean:0` = mm,
                               `batch_normalization/moving_variance:0` = mv),
    dense = list(`dense/kernel:0` = k1, `dense/bias:0` = b1),
    dense_1 = list(`dense_1/kernel:0` = k2, `dense_1/bias:0` = b2),
    dropout = list())
  path <- withr::local_tempfile(fileext = ".h5")
  write_legacy_h5(path, config, training, weights)
  model <- suppressWarnings(load_model(path), classes = "normlayers_warning_keras_file")
  expect_s3_class(model, "nl_sequential")
  expect_equal(vapply(model$layers, function(l) l$name, ""),
               c("dense", "batch_normalization", "dropout", "dense_1"))
  x <- matrix(rnorm(15), 5, 3)
  h <- pmax(x %*% f32(k1) + matrix(f32(b1), 5, 4, byrow = TRUE), 0)
  h <- (h - matrix(f32(mm), 5, 4, byrow = TRUE)) /
    sqrt(matrix(f32(mv), 5, 4, byrow = TRUE) + 0.001) * matrix(f32(gamma), 5, 4, byrow = TRUE) +
    matrix(f32(beta), 5, 4, byrow = TRUE)
  ref <- 1 / (1 + exp(-(h %*% f32(k2) + f32(b2))))
  expect_equal(predict(model, x), ref, tolerance = 1e-12)
  expect_equal(nl_state(model$layers[[2]])$config$axis, 2L)
  expect_true(model$compiled)
  expect_equal(nl_state(model)$compiled$optimizer$config$learning_rate, 0.002)
  expect_equal(nl_state(model)$compiled$loss$key, "binary_crossentropy")
})

test_that("a legacy functional model with a scalar Normalization loads", {
  set.seed(12)
  k <- matrix(rnorm(6), 3, 2)
  b <- rnorm(2)
  config <- list(class_name = "Functional", config = list(
    name = "model",
    layers = list(
      list(class_name = "InputLayer", name = "input_1",
           config = list(batch_input_shape = list(NULL, 3), dtype = "float32", sparse = FALSE,
                         ragged = FALSE, name = "input_1"),
           inbound_nodes = list()),
      list(class_name = "Normalization", name = "normalization",
           config = list(name = "normalization", trainable = TRUE, dtype = "float32", axis = list(),
                         invert = FALSE, mean = NULL, variance = NULL),
           inbound_nodes = list(list(list("input_1", 0L, 0L, structure(list(), names = character()))))),
      c(legacy_dense("dense", 2, "softmax"),
        list(name = "dense", inbound_nodes = list(list(list("normalization", 0L, 0L,
                                                             structure(list(), names = character()))))))
    ),
    input_layers = list(list("input_1", 0L, 0L)),
    output_layers = list(list("dense", 0L, 0L))))
  weights <- list(input_1 = list(),
                  normalization = list(`normalization/mean:0` = I(2.5), `normalization/variance:0` = I(4),
                                       `normalization/count:0` = I(100)),
                  dense = list(`dense/kernel:0` = k, `dense/bias:0` = b))
  path <- withr::local_tempfile(fileext = ".h5")
  write_legacy_h5(path, config, NULL, weights)
  model <- load_model(path)
  expect_s3_class(model, "nl_functional")
  expect_false(model$compiled)
  x <- matrix(rnorm(12, 2, 2), 4, 3)
  z <- ((x - 2.5) / 2) %*% f32(k) + matrix(f32(b), 4, 2, byrow = TRUE)
  ref <- exp(z) / rowSums(exp(z))
  expect_equal(predict(model, x), ref, tolerance = 1e-12)
  expect_equal(nl_state(model$layers[[1]])$keras_count, 100)
})

test_that("legacy files with missing or misshapen weights are refused", {
  config <- list(class_name = "Sequential", config = list(name = "s", layers = list(
    legacy_dense("dense", 2, "relu", shape = 3))))
  path <- withr::local_tempfile(fileext = ".h5")
  write_legacy_h5(path, config, NULL,
                  list(dense = list(`dense/kernel:0` = matrix(1, 4, 2), `dense/bias:0` = c(0, 0))))
  err <- expect_error(load_model(path), class = "normlayers_error_weights")
  expect_match(conditionMessage(err), "kernel")
  write_legacy_h5(path, config, NULL, list(dense = list(`dense/kernel:0` = matrix(1, 3, 2))))
  expect_error(load_model(path), class = "normlayers_error_weights")
  # an HDF5 file without model_config
  f <- hdf5r::H5File$new(path, mode = "w")
  f$create_group("something")
  f$close_all()
  expect_error(load_model(path), "not a Keras model", class = "normlayers_error_file")
})

test_that("Keras 3's legacy .h5 (module-style configs, weight paths without :0) loads", {
  set.seed(13)
  k <- matrix(rnorm(8), 4, 2)
  b <- rnorm(2)
  g <- runif(4, 0.5, 1.5)
  config <- list(module = "keras", class_name = "Sequential", registered_name = NULL, config = list(
    name = "sequential", trainable = TRUE, dtype = list(module = "keras", class_name = "DTypePolicy",
                                                        config = list(name = "float32"), registered_name = NULL),
    layers = list(
      list(module = "keras.layers", class_name = "InputLayer", registered_name = NULL,
           config = list(batch_shape = list(NULL, 4L), dtype = "float32", sparse = FALSE, name = "input_layer")),
      list(module = "keras.layers", class_name = "LayerNormalization", registered_name = NULL,
           config = list(name = "layer_normalization", trainable = TRUE, axis = -1L, epsilon = 0.001,
                         center = FALSE, scale = TRUE, rms_scaling = FALSE,
                         gamma_initializer = list(module = "keras.initializers", class_name = "Ones",
                                                  config = structure(list(), names = character()),
                                                  registered_name = NULL),
                         beta_initializer = list(module = "keras.initializers", class_name = "Zeros",
                                                 config = structure(list(), names = character()),
                                                 registered_name = NULL),
                         gamma_regularizer = NULL, beta_regularizer = NULL, gamma_constraint = NULL,
                         beta_constraint = NULL)),
      list(module = "keras.layers", class_name = "Dense", registered_name = NULL,
           config = list(name = "dense", trainable = TRUE, units = 2L, activation = "gelu", use_bias = TRUE,
                         kernel_initializer = list(module = "keras.initializers", class_name = "GlorotUniform",
                                                   config = list(seed = NULL), registered_name = NULL),
                         bias_initializer = list(module = "keras.initializers", class_name = "Zeros",
                                                 config = structure(list(), names = character()),
                                                 registered_name = NULL),
                         kernel_regularizer = NULL, bias_regularizer = NULL, kernel_constraint = NULL,
                         bias_constraint = NULL))
    )))
  weights <- list(layer_normalization = list(`layer_normalization/gamma` = g),
                  dense = list(`dense/kernel` = k, `dense/bias` = b))
  path <- withr::local_tempfile(fileext = ".h5")
  write_legacy_h5(path, config, NULL, weights)
  model <- load_model(path)
  x <- matrix(rnorm(12), 3, 4)
  mu <- rowMeans(x)
  v <- rowMeans((x - mu)^2)
  h <- (x - mu) / sqrt(v + 0.001) * matrix(f32(g), 3, 4, byrow = TRUE)
  z <- h %*% f32(k) + matrix(f32(b), 3, 2, byrow = TRUE)
  expect_equal(predict(model, x), z * pnorm(z), tolerance = 1e-10)
})
