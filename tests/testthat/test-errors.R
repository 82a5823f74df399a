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

# ---- every export reports the user's call --------------------------------------

# One bad call per exported function (a bad argument each). Exports that take
# no argument or are not the package's own functions are listed in
# `no_bad_call`. Rows tagged with an owner are fixed on another branch and run
# only when NORMLAYERS_PENDING_ROWS is set.
export_call_fixtures <- function() {
  e <- new.env(parent = globalenv())
  e$x <- matrix(c(1, 2, 3, 4, 5, 7), 2)
  e$m <- keras_model_sequential(input_shape = 3) |> layer_dense(2)
  e$mc <- keras_model_sequential(input_shape = 3) |> layer_dense(2)
  compile(e$mc, optimizer = "sgd", loss = "mse")
  e
}

export_bad_calls <- list(
  adapt = list(quote(adapt(layer_normalization(), "a"))),
  callback_csv_logger = list(quote(callback_csv_logger(filename = 1))),
  callback_early_stopping = list(quote(callback_early_stopping(patience = -1))),
  callback_lambda = list(quote(callback_lambda(on_epoch_end = 1))),
  callback_learning_rate_scheduler = list(quote(callback_learning_rate_scheduler(schedule = 1))),
  callback_model_checkpoint = list(quote(callback_model_checkpoint(filepath = 1))),
  callback_reduce_lr_on_plateau = list(quote(callback_reduce_lr_on_plateau(factor = 2))),
  compile = list(quote(compile(m, optimizer = "nope", loss = "mse"))),
  constraint_maxnorm = list(quote(constraint_maxnorm(max_value = -1))),
  constraint_minmaxnorm = list(quote(constraint_minmaxnorm(rate = 2))),
  constraint_unitnorm = list(quote(constraint_unitnorm(axis = "a"))),
  count_params = list(quote(count_params(1))),
  evaluate = list(quote(evaluate(m, x, x))),
  fit = list(quote(fit(mc, x, x, epochs = -1, verbose = 0))),
  from_config = list(quote(from_config(list(a = 1)))),
  get_config = list(quote(get_config(1))),
  get_weights = list(quote(get_weights(1))),
  initializer_constant = list(quote(initializer_constant(value = "a"))),
  initializer_glorot_normal = list(quote(initializer_glorot_normal(seed = "a"))),
  initializer_glorot_uniform = list(quote(initializer_glorot_uniform(seed = "a"))),
  initializer_he_normal = list(quote(initializer_he_normal(seed = "a"))),
  initializer_he_uniform = list(quote(initializer_he_uniform(seed = "a"))),
  initializer_identity = list(quote(initializer_identity(gain = "a"))),
  initializer_lecun_normal = list(quote(initializer_lecun_normal(seed = "a"))),
  initializer_lecun_uniform = list(quote(initializer_lecun_uniform(seed = "a"))),
  initializer_orthogonal = list(quote(initializer_orthogonal(gain = "a"))),
  initializer_random_normal = list(quote(initializer_random_normal(stddev = -1))),
  initializer_random_uniform = list(quote(initializer_random_uniform(seed = "a"))),
  initializer_truncated_normal = list(quote(initializer_truncated_normal(stddev = -1))),
  initializer_variance_scaling = list(quote(initializer_variance_scaling(mode = "nope"))),
  keras_input = list(quote(keras_input(shape = "a"))),
  keras_model = list(quote(keras_model(1, 2))),
  keras_model_sequential = list(quote(keras_model_sequential(name = 1))),
  layer_activation = list(quote(layer_activation(activation = "nope"))),
  layer_batch_normalization = list(quote(layer_batch_normalization(momentum = "a"))),
  layer_dense = list(quote(layer_dense(units = -1))),
  layer_dropout = list(quote(layer_dropout(rate = 2))),
  layer_input = list(quote(layer_input(shape = "a"))),
  layer_layer_normalization = list(quote(layer_layer_normalization(epsilon = -1))),
  layer_normalization = list(quote(layer_normalization(invert = NA))),
  layer_group_normalization = list(quote(layer_group_normalization(groups = 0))),
  layer_rms_normalization = list(quote(layer_rms_normalization(epsilon = -1))),
  layer_spectral_normalization = list(quote(layer_spectral_normalization(layer = 1))),
  layer_unit_normalization = list(quote(layer_unit_normalization(axis = "a"))),
  op_normalize = list(quote(op_normalize("a"))),
  op_rms_normalization = list(quote(op_rms_normalization("a"))),
  load_model = list(quote(load_model(1))),
  nl_memory_pool = list(quote(nl_memory_pool(release = NA))),
  nl_set_threads = list(quote(nl_set_threads("a"))),
  op_array = list(quote(op_array("a"))),
  op_batch_normalization = list(quote(op_batch_normalization("a", 0, 1, axis = -1))),
  op_layer_normalization = list(quote(op_layer_normalization("a"))),
  op_moments = list(quote(op_moments("a", axes = 1))),
  optimizer_adam = list(quote(optimizer_adam(learning_rate = -1))),
  optimizer_rmsprop = list(quote(optimizer_rmsprop(rho = "a"))),
  optimizer_sgd = list(quote(optimizer_sgd(momentum = -1))),
  regularizer_l1 = list(quote(regularizer_l1(l1 = -1))),
  regularizer_l1_l2 = list(quote(regularizer_l1_l2(l1 = "a"))),
  regularizer_l2 = list(quote(regularizer_l2(l2 = NA))),
  regularizer_orthogonal = list(quote(regularizer_orthogonal(mode = "nope"))),
  save_model = list(quote(save_model(1, tempfile()))),
  save_model_weights = list(quote(save_model_weights(m, tempfile(fileext = ".h5")))),
  load_model_weights = list(quote(load_model_weights(m, tempfile(fileext = ".weights.h5")))),
  set_weights = list(quote(set_weights(m, 1))),
  # ---- reshaping, merging layers, shapes -------------------------------------
  array_reshape = list(quote(array_reshape(1:6, c(4, 2)))),
  layer_add = list(quote(layer_add(x, "a"))),
  layer_average = list(quote(layer_average(x, op_ones(c(3, 3))))),
  layer_concatenate = list(quote(layer_concatenate(x, x, axis = "a"))),
  layer_maximum = list(quote(layer_maximum(x, name = 1))),
  layer_minimum = list(quote(layer_minimum(x, op_ones(c(2, 4))))),
  layer_multiply = list(quote(layer_multiply(list(x, 1i)))),
  layer_subtract = list(quote(layer_subtract(x, x, x))),
  shape = list(quote(shape("a"))),
  op_shape = list(quote(op_shape("a"))),
  # ---- tensor ops (R/op-tensor.R) --------------------------------------------
  op_abs = list(quote(op_abs("a"))),
  op_absolute = list(quote(op_absolute(list(1)))),
  op_add = list(quote(op_add(x, op_ones(c(3, 3))))),
  op_all = list(quote(op_all(x, axis = 3))),
  op_any = list(quote(op_any(x, axis = "a"))),
  op_arange = list(quote(op_arange(0, 1, 0))),
  op_argmax = list(quote(op_argmax(x, axis = 5))),
  op_argmin = list(quote(op_argmin(x, zero_indexed = NA))),
  op_cast = list(quote(op_cast(x, "nope"))),
  op_ceil = list(quote(op_ceil("a"))),
  op_clip = list(quote(op_clip(x, "a", 1))),
  op_concatenate = list(quote(op_concatenate(list(x, op_ones(c(3, 4))), axis = 1))),
  op_convert_to_array = list(quote(op_convert_to_array(list(1)))),
  op_convert_to_tensor = list(quote(op_convert_to_tensor(x, sparse = TRUE))),
  op_cumprod = list(quote(op_cumprod(x, axis = 3))),
  op_cumsum = list(quote(op_cumsum(x, dtype = 1))),
  op_divide = list(quote(op_divide(x, "a"))),
  op_equal = list(quote(op_equal(x, op_ones(c(2, 2))))),
  op_exp = list(quote(op_exp(1i))),
  op_expand_dims = list(quote(op_expand_dims(x, axis = 5))),
  op_eye = list(quote(op_eye(-1))),
  op_floor = list(quote(op_floor(NULL))),
  op_full = list(quote(op_full(c(2, 2), c(1, 2, 3)))),
  op_full_like = list(quote(op_full_like(x, "a"))),
  op_greater = list(quote(op_greater(x, "a"))),
  op_greater_equal = list(quote(op_greater_equal(x, list()))),
  op_less = list(quote(op_less(x, op_ones(c(4, 4))))),
  op_less_equal = list(quote(op_less_equal("a", 1))),
  op_linspace = list(quote(op_linspace(0, 1, num = -1))),
  op_log = list(quote(op_log(factor("a")))),
  op_log1p = list(quote(op_log1p("a"))),
  op_log_softmax = list(quote(op_log_softmax(x, axis = 3))),
  op_logical_and = list(quote(op_logical_and(x, "a"))),
  op_logical_not = list(quote(op_logical_not("a"))),
  op_logical_or = list(quote(op_logical_or(x, op_ones(c(5, 5))))),
  op_matmul = list(quote(op_matmul(x, x))),
  op_max = list(quote(op_max(x, keepdims = "a"))),
  op_maximum = list(quote(op_maximum(x, "a"))),
  op_mean = list(quote(op_mean(x, axis = 3))),
  op_min = list(quote(op_min(x, initial = "a"))),
  op_minimum = list(quote(op_minimum(x, op_ones(c(3, 3))))),
  op_multiply = list(quote(op_multiply("a", x))),
  op_ndim = list(quote(op_ndim("a"))),
  op_negative = list(quote(op_negative("a"))),
  op_not_equal = list(quote(op_not_equal(x, mean))),
  op_one_hot = list(quote(op_one_hot(c(1.5, 2), num_classes = 3))),
  op_ones = list(quote(op_ones(shape = "a"))),
  op_ones_like = list(quote(op_ones_like("a"))),
  op_power = list(quote(op_power(x, "a"))),
  op_prod = list(quote(op_prod(x, dtype = "nope"))),
  op_relu = list(quote(op_relu("a"))),
  op_reshape = list(quote(op_reshape(x, c(4, 2)))),
  op_round = list(quote(op_round(x, decimals = "a"))),
  op_rsqrt = list(quote(op_rsqrt("a"))),
  op_sigmoid = list(quote(op_sigmoid("a"))),
  op_sign = list(quote(op_sign("a"))),
  op_size = list(quote(op_size("a"))),
  op_softmax = list(quote(op_softmax(x, axis = 3))),
  op_sqrt = list(quote(op_sqrt("a"))),
  op_square = list(quote(op_square("a"))),
  op_squeeze = list(quote(op_squeeze(x, axis = 1))),
  op_stack = list(quote(op_stack(list(x, op_ones(c(3, 2)))))),
  op_std = list(quote(op_std(x, axis = 3))),
  op_subtract = list(quote(op_subtract(x, op_ones(c(3, 3))))),
  op_sum = list(quote(op_sum(x, axis = 3))),
  op_tanh = list(quote(op_tanh("a"))),
  op_transpose = list(quote(op_transpose(x, axes = 1))),
  op_var = list(quote(op_var(x, keepdims = NA))),
  op_where = list(quote(op_where(x > 2, x))),
  op_zeros = list(quote(op_zeros(c(2, -3)))),
  op_zeros_like = list(quote(op_zeros_like(list())))
)

# No bad argument is possible (no arguments), or not the package's function
# (`%>%` from magrittr and `%<-%` from zeallot are re-exports).
no_bad_call <- c("%>%", "%<-%", "callback_terminate_on_nan", "constraint_nonneg",
                 "initializer_ones", "initializer_zeros", "nl_threads")

test_that("every export has a bad call or is listed as exempt", {
  known <- c(names(export_bad_calls), no_bad_call)
  exports <- getNamespaceExports("normlayers")
  expect_true(all(known %in% exports))
  missing <- setdiff(exports, known)
  # an export without a row fails here (it is not skipped): add its bad call
  expect(length(missing) == 0,
         paste("add a bad call to export_bad_calls (or to no_bad_call) for:",
               paste(sort(missing), collapse = ", ")))
})

for (nm in names(export_bad_calls)) {
  local({
    nm <- nm
    row <- export_bad_calls[[nm]]
    test_that(paste0("errors of ", nm, "() are classed and report the user's call"), {
      if (!is.null(row$owner) && !nzchar(Sys.getenv("NORMLAYERS_PENDING_ROWS"))) {
        skip(paste0("pending: fixed on branch ", row$owner,
                    " (set NORMLAYERS_PENDING_ROWS to run)"))
      }
      e <- export_call_fixtures()
      call <- row[[1]]
      err <- tryCatch(suppressWarnings(eval(call, e)), error = function(err) err)
      expect_s3_class(err, "normlayers_error")
      expect_identical(deparse(err$call[[1]]), nm)
      expect_identical(err$call, call)
    })
  })
}
