# nl_abort(), nl_warn() and nl_describe().

test_that("nl_abort() raises classed errors with the given call", {
  f <- function() nl_abort(c("{.arg x} is bad.", x = "You supplied {1 + 1}."), "value")
  err <- expect_error(f(), class = "normlayers_error_value")
  expect_s3_class(err, "normlayers_error")
  expect_match(conditionMessage(err), "You supplied 2")
  expect_identical(err$call, quote(f()))
  w <- expect_warning(nl_warn("careful", "axis"), class = "normlayers_warning_axis")
  expect_s3_class(w, "normlayers_warning")
})

test_that("nl_with_call() reports the outermost call", {
  inner <- function() nl_abort("deep", "state")
  outer <- function() nl_with_call(quote(user_fn(1)), inner())
  err <- expect_error(outer(), class = "normlayers_error_state")
  expect_identical(err$call, quote(user_fn(1)))
  # the context is cleared afterwards
  err <- expect_error(inner(), class = "normlayers_error_state")
  expect_identical(err$call, quote(inner()))
})

test_that("nl_describe() names the type and shape of any value", {
  expect_identical(nl_describe(NULL), "NULL")
  expect_identical(nl_describe(2.5), "a numeric value `2.5`")
  expect_identical(nl_describe(NA), "a logical value `NA`")
  expect_identical(nl_describe(NA_real_), "a numeric value `NA`")
  expect_identical(nl_describe("a"), 'a character value `"a"`')
  expect_identical(nl_describe(c(1, 2, 3)), "a numeric vector of length 3")
  expect_identical(nl_describe(numeric()), "an empty numeric vector")
  expect_identical(nl_describe(matrix(1, 2, 3)), "a numeric array of shape (2, 3)")
  expect_identical(nl_describe(matrix(letters[1:4], 2)), "a character array of shape (2, 2)")
  expect_identical(nl_describe(1 + 2i), "a complex value `1+2i`")
  expect_identical(nl_describe(matrix(1i, 2, 2)), "a complex array of shape (2, 2)")
  expect_identical(nl_describe(as.raw(1:3)), "a raw vector of length 3")
  expect_identical(nl_describe(list(1, 2)), "a list of length 2")
  expect_identical(nl_describe(factor(c("a", "b", "c", "d"))),
                   'a factor of length 4 with levels "a", "b", "c", ...')
  expect_identical(nl_describe(as.Date("2024-01-02")), "a <Date> value `2024-01-02`")
  expect_identical(nl_describe(as.Date("2024-01-02") + 0:1), "a <Date> vector of length 2")
  expect_identical(nl_describe(data.frame(a = 1:2, b = 3:4)),
                   "a data frame with 2 rows and 2 columns")
  expect_identical(nl_describe(new.env()), "an environment")
  expect_identical(nl_describe(mean), "a function")
  expect_identical(nl_describe(layer_dense(units = 2)), "a layer")
  expect_identical(nl_describe(keras_model_sequential()), "a model")
  expect_identical(nl_describe(keras_input(shape = 3)), "a symbolic tensor of shape (None, 3)")
  for (v in list(1 + 2i, as.raw(1), factor("a"), Sys.Date(), list())) {
    expect_no_match(nl_describe(v), "an object of class <")
  }
})

test_that("complex input is described, not called an object of class <matrix>", {
  err <- expect_error(layer_dense(units = 2)(matrix(1i, 2, 2)), class = "normlayers_error")
  expect_match(conditionMessage(err), "complex array of shape \\(2, 2\\)")
  expect_no_match(conditionMessage(err), "<matrix>")
})
