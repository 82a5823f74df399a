# reticulate's array_reshape(), which keras3 re-exports: row-major ("C") by
# default, so that a flattened row is one sample in NumPy/Keras order.

test_that("array_reshape() fills in row-major order by default", {
  x <- matrix(1:6, nrow = 2, byrow = TRUE)
  expect_identical(array_reshape(x, c(3, 2)), matrix(1:6, nrow = 3, byrow = TRUE))
  expect_identical(array_reshape(x, c(3, 2), order = "F"), `dim<-`(x, c(3L, 2L)))
  expect_identical(as.vector(array_reshape(x, -1)), 1:6)
  expect_identical(dim(array_reshape(x, c(-1, 3))), c(2L, 3L))
  expect_identical(array_reshape(1:6, shape(2, 3)), matrix(1:6, 2, byrow = TRUE))
})

test_that("flattening images keeps one sample per row (getting-started vignette)", {
  imgs <- array(0, c(3, 2, 2))
  for (i in 1:3) imgs[i, , ] <- matrix(c(1, 2, 3, 4) + 10 * i, 2, byrow = TRUE)
  flat <- array_reshape(imgs, c(nrow(imgs), 4))
  expect_identical(flat[2, ], c(21, 22, 23, 24))
  back <- array_reshape(flat, c(3, 2, 2))
  expect_identical(back, imgs)
})

test_that("array_reshape() keeps the type and refuses bad input", {
  expect_type(array_reshape(c("a", "b"), c(1, 2)), "character")
  expect_error(array_reshape(1:6, c(4, 2)), class = "normlayers_error_shape")
  expect_error(array_reshape(list(1, 2), 2), class = "normlayers_error_type")
  expect_error(array_reshape(1:6, c(2, 3), order = "X"), class = "normlayers_error_value")
})
