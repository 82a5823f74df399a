# The shared layer contract: every layer must pass it. tests/testthat/
# test-layer-contract.R runs it over a table of every layer factory (one row
# per factory, see contract_case()); a layer's own test file may call
# expect_layer_contract() directly for more shapes.
#   make_layer: a function of no arguments returning a fresh, unbuilt layer.
#   x:          an input array (batch first) the layer accepts, or a list of
#               arrays for a layer of several inputs (merge layers).
#   class_name: the Keras class name.
#   rows_independent: whether each row's output depends on that row only in
#               inference (true for all normalization layers at inference).
#   prepare:    optional function(layer, x) run on the built layer before the
#               checks (e.g. adapt() for Normalization).
#   empty_batch_keeps_weights: whether a training call on a 0-row batch leaves
#               the weights alone (SpectralNormalization's power iteration
#               updates its weights in training whatever the data, as Keras).
expect_layer_contract <- function(make_layer, x, class_name, rows_independent = TRUE,
                                  prepare = NULL,
                                  empty_batch_keeps_weights = class_name != "SpectralNormalization") {
  multi <- is.list(x) && !is.data.frame(x)
  in_shape <- if (multi) lapply(x, dim) else dim(x)
  slice <- function(x, i) if (multi) lapply(x, nl_slice_rows, i) else nl_slice_rows(x, i)
  batch_shape <- function(d) c(NA_integer_, d[-1])
  layer <- make_layer()
  expect_s3_class(layer, "nl_layer")
  expect_false(layer$built)
  expect_identical(layer$class_name, class_name)
  expect_output(print(layer), class_name, fixed = TRUE)
  expect_output(print(layer), "built=FALSE", fixed = TRUE)

  # output shapes: shape inference, a symbolic call and an eager call agree
  inferred <- nl_layer_output_shape(layer, in_shape)
  sym <- make_layer()(if (multi) lapply(in_shape, function(d) keras_input(shape = d[-1]))
                      else keras_input(shape = in_shape[-1]))
  expect_identical(as.integer(sym$shape), c(NA_integer_, as.integer(inferred[-1])))

  # lazy build on the first call
  y <- layer(x)
  expect_true(layer$built)
  expect_identical(dim(y), as.integer(inferred))
  expect_identical(layer$input_shape, if (multi) lapply(in_shape, batch_shape) else batch_shape(in_shape))
  expect_output(print(layer), "built=TRUE", fixed = TRUE)
  if (!is.null(prepare)) {
    prepare(layer, x)
    y <- layer(x)
  }

  # a 1-row input works and (in inference) gives that row's output
  x1 <- slice(x, 1L)
  y1 <- layer(x1)
  expect_identical(dim(y1), c(1L, dim(y)[-1]))
  if (rows_independent) expect_equal(y1, nl_slice_rows(y, 1L), tolerance = 1e-12)

  # calling in inference does not change state; training keeps the shape
  w0 <- get_weights(layer)
  layer(x)
  expect_identical(get_weights(layer), w0)
  expect_identical(dim(layer(x, training = TRUE)), dim(y))

  # a 0-row batch gives 0 rows and, even in training, changes no weight
  w_train <- get_weights(layer)
  x0 <- slice(x, integer())
  expect_identical(dim(layer(x0)), c(0L, dim(y)[-1]))
  expect_identical(dim(layer(x0, training = TRUE)), c(0L, dim(y)[-1]))
  if (empty_batch_keeps_weights) expect_identical(get_weights(layer), w_train)
  expect_false(anyNA(unlist(get_weights(layer))))

  # weights round trip through get_weights()/set_weights()
  w0 <- get_weights(layer)
  if (length(w0)) {
    w1 <- lapply(w0, function(w) w + 0.25)
    expect_invisible(set_weights(layer, w1))
    expect_identical(get_weights(layer), w1)
    expect_equal(count_params(layer), sum(lengths(w0)))
  }

  # rollback: a call that fails after the layer was built and its forward
  # pass ran (moving statistics updated) leaves the layer as it was
  real_forward <- nl_layer_forward
  failing_forward <- function(layer, x, training) {
    real_forward(layer, x, training)
    stop("injected failure after the forward pass")
  }
  w_before <- get_weights(layer)
  cfg_before <- get_config(layer)
  fresh <- make_layer()
  with_namespace_binding("nl_layer_forward", failing_forward, {
    expect_error(layer(x, training = TRUE), "injected failure")
    expect_error(fresh(x, training = TRUE), "injected failure")
  })
  expect_identical(get_weights(layer), w_before)
  expect_identical(get_config(layer), cfg_before)
  expect_false(fresh$built)
  expect_length(get_weights(fresh), 0)
  # a classed error for a bad call changes nothing either
  expect_error(layer(x, training = NA), class = "normlayers_error")
  bad <- matrix("a", 2, 2)
  expect_error(layer(if (multi) list(bad, bad) else bad), class = "normlayers_error")
  expect_identical(get_weights(layer), w_before)

  # get_config()/from_config() round trip: the same config and, with the
  # same weights, the same output
  cfg <- get_config(layer)
  copy_cfg <- cfg
  copy_cfg$name <- paste0(cfg$name, "_copy")
  copy <- from_config(copy_cfg)
  expect_identical(copy$class_name, class_name)
  expect_false(copy$built)
  copy(x)
  if (length(w_before)) set_weights(copy, get_weights(layer))
  expect_identical(copy(x), layer(x))
  cfg_copy <- get_config(copy)
  cfg_copy$name <- cfg$name
  expect_identical(cfg_copy, cfg)

  # saveRDS()/readRDS() round trip gives identical output and weights
  path <- tempfile(fileext = ".rds")
  on.exit(unlink(path), add = TRUE)
  saveRDS(layer, path)
  restored <- readRDS(path)
  expect_identical(restored(x), layer(x))
  expect_identical(get_weights(restored), get_weights(layer))
  expect_identical(restored$name, layer$name)
  expect_identical(get_config(restored), get_config(layer))
  invisible(layer)
}

# One row of the contract table: a factory, an input shape and the Keras class.
contract_case <- function(make_layer, shape, class_name, rows_independent = TRUE,
                          prepare = NULL) {
  list(make_layer = make_layer, shape = shape, class_name = class_name,
       rows_independent = rows_independent, prepare = prepare)
}

# Evaluates `code` with a function of the package's namespace replaced
# (testthat::local_mocked_bindings() needs testthat >= 3.1.7).
with_namespace_binding <- function(name, value, code) {
  ns <- asNamespace("normlayers")
  old <- get(name, envir = ns)
  locked <- bindingIsLocked(name, ns)
  if (locked) unlockBinding(name, ns)
  assign(name, value, envir = ns)
  on.exit({
    assign(name, old, envir = ns)
    if (locked) lockBinding(name, ns)
  }, add = TRUE)
  force(code)
}
