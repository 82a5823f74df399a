# The shared argument validators (R/checks.R), one per kind of argument. Each
# bad value must give `normlayers_error` plus the kind's subclass, and a
# message that names the argument and describes the value received.

# The error of `expr`, checked for its classes and for naming `arg` and
# matching `got` (a regular expression for the received value).
expect_check_error <- function(expr, kind, arg, got = NULL) {
  err <- tryCatch(expr, error = identity)
  expect_s3_class(err, paste0("normlayers_error_", kind))
  expect_s3_class(err, "normlayers_error")
  msg <- cli::ansi_strip(conditionMessage(err))
  expect_match(msg, paste0("`", arg, "`"), fixed = TRUE)
  if (!is.null(got)) expect_match(msg, got)
  invisible(msg)
}

test_that("nl_check_flag() takes TRUE/FALSE, optionally NULL or NA", {
  expect_identical(nl_check_flag(TRUE, "f"), TRUE)
  expect_identical(nl_check_flag(FALSE, "f"), FALSE)
  expect_null(nl_check_flag(NULL, "f", null_ok = TRUE))
  expect_identical(nl_check_flag(NA, "f", na_ok = TRUE), NA)
  for (bad in list(NA, NULL, 1, "TRUE", c(TRUE, FALSE), logical(0), list(TRUE))) {
    msg <- expect_check_error(nl_check_flag(bad, "use_bias"), "value", "use_bias",
                              "You supplied")
    expect_match(msg, "`TRUE` or `FALSE`", fixed = TRUE)
  }
  expect_check_error(nl_check_flag(1, "use_bias"), "value", "use_bias", "numeric value `1`")
  msg <- expect_check_error(nl_check_flag("a", "training", null_ok = TRUE), "value",
                            "training", '"a"')
  expect_match(msg, "`TRUE`, `FALSE` or `NULL`", fixed = TRUE)
  msg <- expect_check_error(nl_check_flag(2, "trainable", na_ok = TRUE), "value",
                            "trainable", "`2`")
  expect_match(msg, "`NA`, `TRUE` or `FALSE`", fixed = TRUE)
  expect_check_error(nl_check_flag(NA_integer_, "trainable", na_ok = TRUE), "value", "trainable")
})

test_that("nl_check_number() takes one finite number within bounds, as a double", {
  expect_identical(nl_check_number(2L, "x"), 2)
  expect_identical(nl_check_number(0, "x", min = 0, max = 1), 0)
  expect_identical(nl_check_number(1, "x", min = 0, max = 1), 1)
  expect_identical(nl_check_number(-1e300, "x"), -1e300)
  expect_null(nl_check_number(NULL, "x", null_ok = TRUE))
  for (bad in list(Inf, -Inf, NA, NaN, NA_real_, "1", TRUE, c(1, 2), numeric(0), NULL,
                   factor(1), 1i, list(1))) {
    expect_check_error(nl_check_number(bad, "momentum"), "value", "momentum", "You supplied")
  }
  msg <- expect_check_error(nl_check_number(0.5, "rate", min = 1), "value", "rate", "`0.5`")
  expect_match(msg, "at least 1")
  msg <- expect_check_error(nl_check_number(2, "rate", max = 1), "value", "rate", "`2`")
  expect_match(msg, "at most 1")
  msg <- expect_check_error(nl_check_number(2, "rate", min = 0, max = 1), "value", "rate", "`2`")
  expect_match(msg, "between 0 and 1")
  msg <- expect_check_error(nl_check_number(-1, "l1", min = 0, what = "a non-negative number"),
                            "value", "l1", "`-1`")
  expect_match(msg, "must be a non-negative number.", fixed = TRUE)
  msg <- expect_check_error(nl_check_number("a", "x", null_ok = TRUE), "value", "x")
  expect_match(msg, "or `NULL`", fixed = TRUE)
})

test_that("nl_check_count() takes whole numbers of at least `min`, as doubles", {
  expect_identical(nl_check_count(0, "epochs"), 0)
  expect_identical(nl_check_count(3L, "epochs"), 3)
  expect_identical(nl_check_count(1e12, "steps", min = 1), 1e12)
  expect_identical(nl_check_count(-4, "k", min = -Inf), -4)
  expect_null(nl_check_count(NULL, "steps", null_ok = TRUE))
  for (bad in list(-1, 1.5, NA, NaN, Inf, "2", TRUE, c(1, 2), numeric(0), NULL, factor(2))) {
    msg <- expect_check_error(nl_check_count(bad, "epochs"), "value", "epochs", "You supplied")
    expect_match(msg, "non-negative whole number")
  }
  msg <- expect_check_error(nl_check_count(0, "units", min = 1), "value", "units", "`0`")
  expect_match(msg, "positive whole number")
  msg <- expect_check_error(nl_check_count(2, "n", min = 3), "value", "n", "`2`")
  expect_match(msg, "whole number of at least 3")
  msg <- expect_check_error(nl_check_count(0.5, "k", min = -Inf), "value", "k", "`0.5`")
  expect_match(msg, "must be a whole number.", fixed = TRUE)
  msg <- expect_check_error(nl_check_count(0, "steps", min = 1, null_ok = TRUE), "value", "steps")
  expect_match(msg, "positive whole number or `NULL`", fixed = TRUE)
  msg <- expect_check_error(nl_check_count(-1, "decimals", hint = "Try {.code 2}."), "value",
                            "decimals")
  expect_match(msg, "Try `2`.", fixed = TRUE)
})

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
    msg <- expect_check_error(nl_check_batch_size(b), "value", "batch_size", "You supplied")
    expect_match(msg, "positive whole number")
  }
  expect_check_error(nl_check_batch_size(2.5), "value", "batch_size", "`2.5`")
  expect_check_error(nl_check_batch_size("a", arg = "steps"), "value", "steps", '"a"')
})

test_that("nl_check_seed() takes NULL or a whole number that fits an integer", {
  expect_identical(nl_check_seed(NULL), NULL)
  expect_identical(nl_check_seed(12), 12L)
  expect_identical(nl_check_seed(-3L), -3L)
  expect_identical(nl_check_seed(.Machine$integer.max), .Machine$integer.max)
  for (bad in list(c(1, 2), NA, 1.5, Inf, 2^40, "1", TRUE, numeric(0))) {
    msg <- expect_check_error(nl_check_seed(bad, "seed"), "value", "seed", "You supplied")
    expect_match(msg, "`NULL` or a whole number", fixed = TRUE)
  }
  expect_check_error(nl_check_seed(2^40, "seed"), "value", "seed", "1.099512e\\+12")
})

test_that("nl_check_string() takes one non-missing string", {
  expect_identical(nl_check_string("a", "name"), "a")
  expect_identical(nl_check_string("", "path", empty_ok = TRUE), "")
  expect_null(nl_check_string(NULL, "name", null_ok = TRUE))
  for (bad in list("", NA_character_, NA, 1, c("a", "b"), character(0), NULL, factor("a"))) {
    msg <- expect_check_error(nl_check_string(bad, "monitor"), "value", "monitor", "You supplied")
    expect_match(msg, "single non-empty string")
  }
  expect_check_error(nl_check_string(c("a", "b"), "name"), "value", "name",
                     "character vector of length 2")
  msg <- expect_check_error(nl_check_string(1, "filepath", what = "a file path",
                                            hint = "Give a {.file .csv} file."),
                            "value", "filepath", "`1`")
  expect_match(msg, "must be a file path.", fixed = TRUE)
  expect_match(msg, ".csv", fixed = TRUE)
  expect_check_error(nl_check_string(1, "dtype", kind = "dtype"), "dtype", "dtype")
  msg <- expect_check_error(nl_check_string(1, "name", null_ok = TRUE), "value", "name")
  expect_match(msg, "or `NULL`", fixed = TRUE)
})

test_that("nl_check_name() accepts one non-empty string and generates one for NULL", {
  expect_identical(nl_check_name("norm", "dense"), "norm")
  expect_match(nl_check_name(NULL, "dense"), "^dense(_[0-9]+)?$")
  for (bad in list(1, NA_character_, "", c("a", "b"), TRUE)) {
    msg <- expect_check_error(nl_check_name(bad, "dense"), "name", "name", "You supplied")
    expect_match(msg, "`NULL`", fixed = TRUE)
  }
  expect_check_error(nl_check_name(3, "input_layer", arg = "input_name"), "name", "input_name",
                     "`3`")
})

test_that("nl_check_choice() takes one of the given strings", {
  expect_identical(nl_check_choice("a", c("a", "b")), "a")
  for (bad in list("A", NA_character_, c("a", "b"), 1, NULL, character(0))) {
    msg <- expect_check_error(nl_check_choice(bad, c("a", "b"), "mode"), "value", "mode",
                              "You supplied")
    expect_match(msg, '"a" or "b"', fixed = TRUE)
  }
  expect_check_error(nl_check_choice("A", c("a", "b"), "mode"), "value", "mode", '"A"')
})

test_that("nl_check_layer_dtype() takes floating-point types only", {
  for (ok in c("float32", "float64", "float16", "bfloat16", "mixed_float16")) {
    expect_identical(nl_check_layer_dtype(ok), ok)
  }
  for (bad in list("int32", "bool", "string", "float", NA_character_, 1, c("float32", "float64"))) {
    expect_check_error(nl_check_layer_dtype(bad, "input_dtype"), "dtype", "input_dtype",
                       "You supplied")
  }
  expect_check_error(nl_check_layer_dtype("int32", "dtype"), "dtype", "dtype", '"int32"')
})

test_that("nl_check_shape() takes sizes (NA or NULL unknown) and returns integers", {
  expect_identical(nl_check_shape(c(2, 3), "shape"), c(2L, 3L))
  expect_identical(nl_check_shape(c(NA, 3), "shape"), c(NA, 3L))
  expect_identical(nl_check_shape(NA, "shape"), NA_integer_)
  expect_identical(nl_check_shape(list(NULL, 4), "shape"), c(NA, 4L))
  expect_null(nl_check_shape(NULL, "noise_shape", null_ok = TRUE))
  expect_identical(nl_check_shape(c(0, 2), "shape", min = 0, na_ok = FALSE), c(0L, 2L))
  expect_identical(nl_check_shape(integer(0), "shape", min = 0, empty_ok = TRUE), integer(0))
  for (bad in list(0, -1, 1.5, Inf, "3", TRUE, numeric(0), NULL, list("a"), list(c(1, 2)),
                   factor(3))) {
    msg <- expect_check_error(nl_check_shape(bad, "input_shape"), "shape", "input_shape",
                              "You supplied")
    expect_match(msg, "vector of positive whole numbers (or `NA`)", fixed = TRUE)
  }
  expect_check_error(nl_check_shape(c(2, 0), "input_shape"), "shape", "input_shape",
                     "numeric vector of length 2")
  msg <- expect_check_error(nl_check_shape(c(NA, 2), "shape", min = 0, na_ok = FALSE), "shape",
                            "shape")
  expect_match(msg, "must be a vector of non-negative whole numbers.", fixed = TRUE)
  msg <- expect_check_error(nl_check_shape(0, "noise_shape", null_ok = TRUE, kind = "value"),
                            "value", "noise_shape", "`0`")
  expect_match(msg, "must be `NULL` or a vector", fixed = TRUE)
})

test_that("nl_check_axis_arg() checks the form of an axis argument", {
  expect_identical(nl_check_axis_arg(-1), -1L)
  expect_identical(nl_check_axis_arg(c(2, 3)), c(2L, 3L))
  expect_identical(nl_check_axis_arg(2, single = TRUE), 2L)
  expect_null(nl_check_axis_arg(NULL, null_ok = TRUE))
  expect_check_error(nl_check_axis_arg(NULL, "axis"), "axis", "axis", "NULL")
  for (bad in list("a", 1.5, NA, Inf, numeric(0), TRUE, factor(1))) {
    expect_check_error(nl_check_axis_arg(bad, "axis"), "axis", "axis", "You supplied")
  }
  expect_check_error(nl_check_axis_arg(1.5, "axis"), "axis", "axis", "`1.5`")
  msg <- expect_check_error(nl_check_axis_arg(c(1, 0), "axis"), "axis", "axis", "cannot be 0")
  expect_match(msg, "1-based")
  expect_check_error(nl_check_axis_arg(c(1, 2), "axis", single = TRUE), "axis", "axis",
                     "2 axes: 1 and 2")
})

test_that("nl_check_dots() refuses unnamed and unknown arguments", {
  expect_identical(nl_check_dots(list()), list())
  expect_identical(nl_check_dots(list(mask = 1), "mask"), list(mask = 1))
  msg <- expect_check_error(nl_check_dots(list(1)), "argument", "...")
  expect_match(msg, "must be named")
  msg <- expect_check_error(nl_check_dots(list(foo = 1, bar = 2), "mask"), "argument", "foo")
  expect_match(msg, "`bar`", fixed = TRUE)
  expect_match(msg, "`mask`", fixed = TRUE)
  msg <- expect_check_error(nl_check_dots(list(foo = 1)), "argument", "foo")
  expect_match(msg, "no extra arguments")
})

test_that("nl_check_dots(layer = TRUE) validates keras3's base-layer arguments for the constructor", {
  f <- function(...) {
    nl_check_dots(list(...), "epsilon", layer = TRUE)
    get0(".nl_base_args", envir = environment(), inherits = FALSE)
  }
  expect_identical(f(), list())
  base <- f(name = "n", trainable = FALSE, input_shape = 3, epsilon = 1)
  expect_identical(base$name, "n")
  expect_identical(base$trainable, FALSE)
  expect_identical(base$build_shape, c(NA, 3L))
  expect_identical(f(batch_size = 4, input_shape = 3)$build_shape, c(4L, 3L))
  expect_check_error(f(trainable = 1), "value", "trainable", "`1`")
  expect_check_error(f(dtype = "int32"), "dtype", "dtype", '"int32"')
  expect_check_error(f(batch_size = 0, input_shape = 3), "value", "batch_size", "`0`")
  expect_check_error(f(units = 3), "argument", "units")
})

test_that("validators name the caller's argument and report the caller's call", {
  f <- function(my_arg) nl_check_number(my_arg)
  err <- expect_error(f("x"), class = "normlayers_error_value")
  expect_match(conditionMessage(err), "my_arg")
  expect_identical(err$call, quote(f("x")))
  validators <- list(
    function(v) nl_check_flag(v),
    function(v) nl_check_number(v),
    function(v) nl_check_count(v),
    function(v) nl_check_seed(v),
    function(v) nl_check_string(v),
    function(v) nl_check_choice(v, "a"),
    function(v) nl_check_layer_dtype(v),
    function(v) nl_check_shape(v),
    function(v) nl_check_axis_arg(v)
  )
  for (g in validators) {
    err <- tryCatch(g(list()), error = identity)
    expect_s3_class(err, "normlayers_error")
    expect_identical(err$call, quote(g(list())))
    expect_match(cli::ansi_strip(conditionMessage(err)), "`v`", fixed = TRUE)
  }
  # An exported entry point's nl_with_call() wins over the caller's frame.
  err <- tryCatch(nl_with_call(quote(layer_dense(units = 0)), nl_check_count(0, "units", min = 1)),
                  error = identity)
  expect_identical(err$call, quote(layer_dense(units = 0)))
  # Every validator takes `call` last, and `arg` where there is a single value.
  for (fn in c("nl_check_flag", "nl_check_number", "nl_check_count", "nl_check_batch_size",
               "nl_check_seed", "nl_check_string", "nl_check_name", "nl_check_choice",
               "nl_check_layer_dtype", "nl_check_shape", "nl_check_axis_arg", "nl_check_dots")) {
    fmls <- formals(get(fn, envir = asNamespace("normlayers")))
    expect_identical(utils::tail(names(fmls), 1), "call", info = fn)
    expect_identical(fmls$call, quote(rlang::caller_env()), info = fn)
    if (fn != "nl_check_dots") expect_true("arg" %in% names(fmls), info = fn)
  }
})
