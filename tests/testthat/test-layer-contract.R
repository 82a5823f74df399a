# The layer contract (helper-contract.R) over every layer factory. A new layer
# gets the contract by adding ONE row to this table.

layer_contract_table <- list(
  dense               = contract_case(function() layer_dense(units = 3, bias_initializer = "random_normal"), c(5, 4), "Dense"),
  dense_3d            = contract_case(function() layer_dense(units = 2, activation = "tanh"), c(4, 3, 5), "Dense"),
  activation          = contract_case(function() layer_activation(activation = "relu"), c(5, 4), "Activation"),
  dropout             = contract_case(function() layer_dropout(rate = 0.5, seed = 1), c(5, 4), "Dropout"),
  batch_normalization = contract_case(function() layer_batch_normalization(), c(6, 4), "BatchNormalization"),
  bn_channels_first   = contract_case(function() layer_batch_normalization(axis = 2, renorm = TRUE), c(4, 3, 2), "BatchNormalization"),
  layer_normalization = contract_case(function() layer_layer_normalization(), c(6, 4), "LayerNormalization"),
  ln_two_axes         = contract_case(function() layer_layer_normalization(axis = c(2, 3)), c(3, 2, 5), "LayerNormalization"),
  normalization       = contract_case(function() layer_normalization(), c(6, 4), "Normalization",
                                      prepare = function(layer, x) adapt(layer, x)),
  normalization_fixed = contract_case(function() layer_normalization(mean = 2, variance = 4, invert = TRUE), c(6, 4), "Normalization"),
  normalization_null  = contract_case(function() layer_normalization(axis = NULL), c(5, 2, 3), "Normalization",
                                      prepare = function(layer, x) adapt(layer, x)),
  group_normalization = contract_case(function() layer_group_normalization(groups = 2, gamma_initializer = "random_normal"), c(5, 3, 4), "GroupNormalization"),
  gn_instance         = contract_case(function() layer_group_normalization(groups = -1, axis = 2), c(4, 3, 2), "GroupNormalization"),
  rms_normalization   = contract_case(function() layer_rms_normalization(), c(6, 4), "RMSNormalization"),
  rms_two_axes        = contract_case(function() layer_rms_normalization(axis = c(2, 3)), c(3, 2, 5), "RMSNormalization"),
  unit_normalization  = contract_case(function() layer_unit_normalization(), c(6, 4), "UnitNormalization"),
  spectral_dense      = contract_case(function() layer_spectral_normalization(layer = layer_dense(units = 3)), c(5, 4), "SpectralNormalization", rows_independent = TRUE),
  # several inputs: `shape` is a list of shapes
  add                 = contract_case(function() layer_add(), list(c(5, 4), c(5, 4)), "Add"),
  subtract            = contract_case(function() layer_subtract(), list(c(5, 4), c(5, 4)), "Subtract"),
  multiply            = contract_case(function() layer_multiply(), list(c(5, 4), c(5, 4), c(5, 4)), "Multiply"),
  average             = contract_case(function() layer_average(), list(c(5, 3, 2), c(5, 3, 2)), "Average"),
  maximum             = contract_case(function() layer_maximum(), list(c(5, 4), c(5, 4)), "Maximum"),
  minimum             = contract_case(function() layer_minimum(), list(c(5, 4), c(5, 4)), "Minimum"),
  concatenate         = contract_case(function() layer_concatenate(axis = -1), list(c(5, 4), c(5, 2)), "Concatenate")
)

for (nm in names(layer_contract_table)) {
  local({
    case <- layer_contract_table[[nm]]
    test_that(paste("layer contract:", nm), {
      set.seed(11)
      x <- if (is.list(case$shape)) lapply(case$shape, random_array, mean = 1, sd = 2)
           else random_array(case$shape, mean = 1, sd = 2)
      expect_layer_contract(case$make_layer, x, case$class_name,
                            rows_independent = case$rows_independent,
                            prepare = case$prepare)
    })
  })
}

test_that("every layer type with a spec has a row in the contract table", {
  covered <- unique(vapply(layer_contract_table, `[[`, "", "class_name"))
  specs <- nl_layer_specs()
  # the internal layers behind arithmetic on symbolic tensors are not
  # constructed by users; test-layer-merge.R and test-symbolic-tensor.R cover them
  public <- Filter(function(spec) !startsWith(spec$constructor, "nl_"), specs)
  expect_gte(length(public), 17)
  expect_setequal(setdiff(names(public), covered), character())
  # and every exported layer_*() factory has a spec (layer_input is
  # keras_input()'s alias, not a layer)
  factories <- setdiff(grep("^layer_", getNamespaceExports("normlayers"), value = TRUE),
                       "layer_input")
  expect_setequal(factories, vapply(public, `[[`, "", "constructor"))
})
