# The shared argument validators (R/checks.R).

test_that("nl_check_batch_size() accepts positive whole numbers and NULL", {
  expect_identical(nl_check_batch_size(NULL), 32)
  expect_identical(nl_check_batch_size(NULL, default = NULL), NULL)
  expect_identical(nl_check_batch_size(7L), 7)
  expect_identical(nl_check_batch_size(1e12), 1e12)
  expect_identical(nl_check_batch_size(1), 1)
})

test_that("nl_check_batch_size() refuses everything else with a classed error naming the argument", {
  bad <- list(2.5, 0, -3, "a", NA, NA_integer_, NaN, Inf, c(1, 2), numeric(0), TRUE,
              list(4), factor("a"), 1i)
  for (b in bad) {
    err <- tryCatch(nl_check_batch_size(b), error = identity)
    expect_s3_class(err, "normlayers_error_value")
    expect_match(conditionMessage(err), "batch_size")
    expect_match(conditionMessage(err), "positive whole number")
  }
  err <- tryCatch(nl_check_batch_size("a", arg = "steps"), error = identity)
  expect_match(conditionMessage(err), "steps")
})

test_that("nl_check_count() checks whole numbers against a minimum", {
  expect_identical(nl_check_count(0, "epochs"), 0)
  expect_null(nl_check_count(NULL, "steps", null_ok = TRUE))
  expect_error(nl_check_count(-1, "epochs"), class = "normlayers_error_value")
  expect_error(nl_check_count(1.5, "epochs"), class = "normlayers_error_value")
  expect_error(nl_check_count(0, "steps", min = 1), class = "normlayers_error_value")
  expect_error(nl_check_count(NULL, "steps"), class = "normlayers_error_value")
})
