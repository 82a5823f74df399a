# Automatic layer names and name checks.

test_that("automatic names are session-unique per prefix, as Keras makes them", {
  prefix <- paste0("naming_test_", sample.int(1e6, 1))
  expect_identical(nl_unique_name(prefix), prefix)
  expect_identical(nl_unique_name(prefix), paste0(prefix, "_1"))
  expect_identical(nl_unique_name(prefix), paste0(prefix, "_2"))
  other <- paste0(prefix, "_other")
  expect_identical(nl_unique_name(other), other)
})

test_that("nl_snake_case() turns Keras class names into snake_case prefixes", {
  expect_identical(nl_snake_case("BatchNormalization"), "batch_normalization")
  expect_identical(nl_snake_case("LayerNormalization"), "layer_normalization")
  expect_identical(nl_snake_case("Dense"), "dense")
  expect_identical(nl_snake_case("RMSprop"), "rm_sprop")
  expect_identical(nl_snake_case("HTMLParser2D"), "html_parser2_d")
})
