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

test_that("argument checks return clean values or classed errors", {
  expect_identical(nl_check_number(2L), 2)
  expect_error(nl_check_number(Inf), class = "normlayers_error_value")
  expect_error(nl_check_number(0.5, min = 1), class = "normlayers_error_value")
  expect_error(nl_check_number(2, max = 1), class = "normlayers_error_value")
  expect_identical(nl_check_seed(NULL), NULL)
  expect_identical(nl_check_seed(12), 12L)
  expect_error(nl_check_seed(c(1, 2)), class = "normlayers_error_value")
  expect_error(nl_check_seed(NA), class = "normlayers_error_value")
  expect_error(nl_check_seed(2^40), class = "normlayers_error_value")
  expect_identical(nl_check_choice("a", c("a", "b")), "a")
  expect_error(nl_check_choice("A", c("a", "b")), class = "normlayers_error_value")
  f <- function(my_arg) nl_check_number(my_arg)
  expect_error(f("x"), "my_arg")
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
