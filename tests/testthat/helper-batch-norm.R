# Batch-normalization helpers for the tests (the references are in helper-reference.R).

# Batch-normalization views of the one oracle set (helper-reference.R): the
# statistics reduce every axis but the channel axis `a` (positive).
bn_ref_reduced <- function(x, a) setdiff(seq_along(dim(x)), a)

# Per-channel population mean and variance over every axis but `a`.
bn_ref_moments <- function(x, a) {
  ref_moments(x, bn_ref_reduced(x, a))[c("mean", "var")]
}

# (x - mean) / sqrt(var + eps) * gamma + beta along channel axis `a`.
bn_ref_apply <- function(x, a, mean, var, gamma = NULL, beta = NULL, eps = 1e-3) {
  ref_apply(x, bn_ref_reduced(x, a), mean, 1 / sqrt(var + eps), gamma, beta, "kept")
}

bn_ref_train <- function(x, a, gamma = NULL, beta = NULL, eps = 1e-3) {
  mo <- bn_ref_moments(x, a)
  bn_ref_apply(x, a, mo$mean, mo$var, gamma, beta, eps)
}

bn_x43 <- function() rbind(c(1, 2, 3), c(4, 6, 8), c(7, 10, 13), c(10, 18, 20))

# TRUE when the initializer families serialize with Keras class names (they do
# since the pure-R dev stubs were removed; kept for the tests that check it).
bn_real_families <- function() {
  !identical(nl_serialize(nl_get_initializer("ones", "x"))$class_name, "ones")
}
