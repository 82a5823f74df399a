test_that("NULL serializes to NULL and back", {
  expect_null(nl_serialize(NULL))
  expect_null(nl_deserialize(NULL))
})

test_that("serialized objects have the Keras layout", {
  s <- nl_serialize(initializer_random_normal(stddev = 0.1, seed = 3))
  expect_identical(names(s),
                   c("module", "class_name", "config", "registered_name"))
  expect_identical(s$module, "keras.initializers")
  expect_identical(s$class_name, "RandomNormal")
  expect_identical(s$config, list(mean = 0, stddev = 0.1, seed = 3L))
  expect_null(s$registered_name)

  expect_identical(nl_serialize(regularizer_l2(0.5))$module,
                   "keras.regularizers")
  expect_identical(nl_serialize(regularizer_l2(0.5))$config, list(l2 = 0.5))
  expect_identical(nl_serialize(constraint_nonneg())$module,
                   "keras.constraints")
  expect_identical(nl_serialize(initializer_zeros())$config, list())
})

test_that("constraint axes are 0-based in the serialized config", {
  s <- nl_serialize(constraint_maxnorm(3, axis = 1L))
  expect_identical(s$config, list(max_value = 3, axis = 0L))
  s2 <- nl_serialize(constraint_unitnorm(axis = c(1, 2, -1)))
  expect_identical(s2$config$axis, c(0L, 1L, -1L))
  expect_identical(nl_deserialize(s2), constraint_unitnorm(axis = c(1, 2, -1)))
  keras_cfg <- list(module = "keras.constraints", class_name = "MinMaxNorm",
                    config = list(min_value = 0.5, max_value = 2, rate = 1,
                                  axis = 2L),
                    registered_name = NULL)
  expect_identical(nl_deserialize(keras_cfg)$config$axis, 3L)
})

test_that("every built-in object round-trips", {
  objects <- list(
    initializer_constant(2), initializer_identity(3), initializer_ones(),
    initializer_zeros(), initializer_glorot_normal(1),
    initializer_glorot_uniform(), initializer_he_normal(2),
    initializer_he_uniform(), initializer_lecun_normal(),
    initializer_lecun_uniform(4), initializer_orthogonal(2, seed = 5),
    initializer_random_normal(1, 2, seed = 6),
    initializer_random_uniform(-1, 1), initializer_truncated_normal(0, 3),
    initializer_variance_scaling(2, "fan_avg", "uniform", seed = 7),
    regularizer_l1(0.2), regularizer_l2(0.3), regularizer_l1_l2(0.1, 0.4),
    regularizer_orthogonal(0.5, "columns"),
    constraint_maxnorm(4, axis = 2), constraint_minmaxnorm(0.1, 3, 0.5, -1),
    constraint_nonneg(), constraint_unitnorm(c(1, 3))
  )
  for (obj in objects) {
    expect_identical(nl_deserialize(nl_serialize(obj)), obj,
                     label = obj$class_name)
  }
})

test_that("R-function objects keep their function", {
  f <- function(w) sum(w^2)
  s <- nl_serialize(nl_get_regularizer(f))
  expect_identical(s$class_name, "RFunction")
  expect_identical(s$config$fn, f)
  back <- nl_deserialize(s)
  expect_s3_class(back, "nl_regularizer")
  expect_equal(nl_regularizer_penalty(back, c(1, 2)), 5)

  g <- function(shape) rep(7, prod(shape))
  init <- nl_deserialize(nl_serialize(nl_get_initializer(g)))
  expect_identical(nl_initialize(init, 2), c(7, 7))
  con <- nl_deserialize(nl_serialize(nl_get_constraint(abs)))
  expect_identical(nl_constraint_apply(con, c(-1, 2)), c(1, 2))
})

test_that("Keras configs with null input/output axes are accepted", {
  cfg <- list(module = "keras.initializers", class_name = "GlorotUniform",
              config = list(seed = NULL, input_axes = NULL, output_axes = NULL),
              registered_name = NULL)
  expect_identical(nl_deserialize(cfg), initializer_glorot_uniform())
  cfg$config$input_axes <- list(0L)
  expect_error(nl_deserialize(cfg), class = "normlayers_error_config")
  # Keras' Identity config is empty: gain takes its default.
  id <- list(module = "keras.initializers", class_name = "Identity",
             config = list())
  expect_identical(nl_deserialize(id), initializer_identity())
})

test_that("bad serialized input gives config errors", {
  expect_error(nl_deserialize(list(module = "keras.layers", class_name = "Dense")),
               class = "normlayers_error_config")
  expect_error(nl_deserialize(list(module = "keras.initializers",
                                   class_name = "Nope", config = list())),
               class = "normlayers_error_config")
  expect_error(nl_deserialize(list(module = "keras.regularizers",
                                   class_name = "L1", config = list(l3 = 1))),
               class = "normlayers_error_config")
  expect_error(nl_deserialize(list(module = "keras.constraints",
                                   class_name = "RFunction", config = list())),
               class = "normlayers_error_config")
  expect_error(nl_deserialize("zeros"), class = "normlayers_error_config")
  expect_error(nl_serialize(list(a = 1)), class = "normlayers_error_config")
  # invalid values are caught by the constructors
  expect_error(nl_deserialize(list(module = "keras.regularizers",
                                   class_name = "L2", config = list(l2 = -1))),
               class = "normlayers_error_value")
})

test_that("the resolvers accept serialized objects of their own family", {
  s <- nl_serialize(initializer_he_uniform(seed = 2))
  expect_identical(nl_get_initializer(s), initializer_he_uniform(seed = 2))
  r <- nl_serialize(regularizer_l1_l2(0.1, 0.2))
  expect_identical(nl_get_regularizer(r), regularizer_l1_l2(0.1, 0.2))
  k <- nl_serialize(constraint_maxnorm(3, axis = 2))
  expect_identical(nl_get_constraint(k), constraint_maxnorm(3, axis = 2))
  # ... but not those of another family
  expect_error(nl_get_constraint(r), class = "normlayers_error_constraint")
})
