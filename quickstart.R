# normlayers quickstart: classify iris species with a small network built from
# an adapted Normalization layer, Dense, BatchNormalization and Dense layers.
# Run with: Rscript quickstart.R   (after installing the package)
library(normlayers)
set.seed(42)

x <- as.matrix(iris[, 1:4])
y <- as.integer(iris$Species) - 1L          # sparse labels 0, 1, 2
train <- sample(nrow(x), 120)
test <- setdiff(seq_len(nrow(x)), train)

# 1. A preprocessing layer learns each feature's mean and variance.
norm <- layer_normalization(name = "features")
norm %>% adapt(x[train, ])
cat("Adapted means:    ", format(norm$mean, digits = 4), "\n")
cat("Adapted variances:", format(norm$variance, digits = 4), "\n\n")

# 2. The model: normalize, dense, batch-normalize, relu, softmax output.
model <- keras_model_sequential(input_shape = 4, name = "iris_classifier") |>
  norm() |>
  layer_dense(16, name = "hidden") |>
  layer_batch_normalization(name = "batch_norm") |>
  layer_activation("relu", name = "relu") |>
  layer_dense(3, activation = "softmax", name = "species")
summary(model)

# 3. Train with progress, keeping 20% of the training rows for validation.
compile(model, optimizer = optimizer_adam(learning_rate = 0.01),
        loss = "sparse_categorical_crossentropy", metrics = "accuracy")
history <- fit(model, x[train, ], y[train], epochs = 40, batch_size = 16,
               validation_split = 0.2, verbose = 2)
print(history)
png("quickstart-history.png", width = 800, height = 600)
plot(history)
invisible(dev.off())
cat("\nTraining history plotted to quickstart-history.png\n")

# 4. Moving statistics learned by batch normalization during fit().
bn <- model$layers[[3]]
cat("BatchNormalization moving mean (first 4):", format(bn$moving_mean[1:4], digits = 3), "\n\n")

# 5. Evaluate on held-out rows and predict.
scores <- evaluate(model, x[test, ], y[test])
cat(sprintf("Test loss %.4f, test accuracy %.3f\n", scores$loss, scores$accuracy))
probs <- predict(model, x[test[1:6], ])
pred <- levels(iris$Species)[max.col(probs)]
print(data.frame(truth = iris$Species[test[1:6]], predicted = pred,
                 p_max = round(apply(probs, 1, max), 3)))
