test_that("registry names match the class names their constructors build", {
  for (family in c("initializer", "regularizer", "constraint")) {
    registry <- nl_registry(family)
    for (cls in names(registry)) {
      obj <- registry[[cls]]$fun()
      expect_s3_class(obj, paste0("nl_", family))
      expect_identical(obj$class_name, cls)
    }
    strings <- names(nl_registry_strings(registry))
    expect_false(anyDuplicated(strings) > 0)
    # The first name of each class is its snake_case Keras name.
    expect_true(all(grepl("^[a-z0-9_]+$", nl_first_names(registry))))
  }
})

test_that("string names of one family are not accepted by another", {
  expect_error(nl_get_initializer("l2"), class = "normlayers_error_initializer")
  expect_error(nl_get_regularizer("zeros"),
               class = "normlayers_error_regularizer")
  expect_error(nl_get_constraint("orthogonal"),
               class = "normlayers_error_constraint")
})

test_that("print() formats every kind of config value", {
  expect_identical(nl_format_config_value(NULL), "NULL")
  expect_identical(nl_format_config_value("rows"), "\"rows\"")
  expect_identical(nl_format_config_value(c(1L, -1L)), "c(1, -1)")
  expect_identical(nl_format_config_value(1:10), "<10 values>")
  expect_identical(nl_format_config_value(sum), "<function>")
  expect_output(print(regularizer_orthogonal()),
                "<regularizer OrthogonalRegularizer factor=0.01 mode=\"rows\">",
                fixed = TRUE)
  expect_output(print(nl_get_constraint(function(w) w)),
                "<constraint RFunction>", fixed = TRUE)
})
