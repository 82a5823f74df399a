# Axes: keras3's 1-based and negative axes.

test_that("nl_resolve_axes() resolves negative axes and refuses bad ones", {
  expect_identical(nl_resolve_axes(-1, 3L), 3L)
  expect_identical(nl_resolve_axes(c(-1, 1), 3L), c(1L, 3L))
  expect_identical(nl_resolve_axes(c(-1, 1), 3L, sort = FALSE), c(3L, 1L))
  err <- expect_error(nl_resolve_axes(4, 3), class = "normlayers_error_axis")
  expect_match(conditionMessage(err), "rank 3")
  expect_error(nl_resolve_axes(-4, 3), class = "normlayers_error_axis")
  err <- expect_error(nl_resolve_axes(c(3, -1), 3), class = "normlayers_error_axis")
  expect_match(conditionMessage(err), "twice")
})

test_that("nl_format_shape() prints shapes as Keras does", {
  expect_identical(nl_format_shape(c(NA, 3)), "(None, 3)")
  expect_identical(nl_format_shape(3), "(3,)")
  expect_identical(nl_format_shape(c(2, 3, 4)), "(2, 3, 4)")
  expect_identical(nl_format_shape(NULL), "?")
})
