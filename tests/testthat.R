library(testthat)
library(normlayers)

test_check("normlayers")
