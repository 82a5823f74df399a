step <- function(opt, w, g) nl_optimizer_apply(opt, list(w = w), list(w = g))$w

test_that("SGD follows Keras's update rules", {
  expect_equal(step(optimizer_sgd(0.1), 1, 0.5), 0.95)
  opt <- optimizer_sgd(learning_rate = 0.1, momentum = 0.9)
  w1 <- step(opt, 1, 0.5)           # m = -0.05
  expect_equal(w1, 0.95)
  expect_equal(step(opt, w1, 0.5), 0.95 - 0.095)  # m = 0.9 * -0.05 - 0.05
  nes <- optimizer_sgd(learning_rate = 0.1, momentum = 0.9, nesterov = TRUE)
  expect_equal(step(nes, 1, 0.5), 1 + (0.9 * -0.05 - 0.05))
  expect_equal(nes$iterations, 1L)
})

test_that("Adam follows Keras's update rules", {
  opt <- optimizer_adam(learning_rate = 0.01)
  g1 <- 0.5
  g2 <- -0.2
  w1 <- step(opt, 1, g1)
  m <- 0.1 * g1
  v <- 0.001 * g1^2
  alpha <- 0.01 * sqrt(1 - 0.999) / (1 - 0.9)
  expect_equal(w1, 1 - alpha * m / (sqrt(v) + 1e-7))
  w2 <- step(opt, w1, g2)
  m <- m + (g2 - m) * 0.1
  v <- v + (g2^2 - v) * 0.001
  alpha <- 0.01 * sqrt(1 - 0.999^2) / (1 - 0.9^2)
  expect_equal(w2, w1 - alpha * m / (sqrt(v) + 1e-7))

  ams <- optimizer_adam(learning_rate = 0.01, amsgrad = TRUE)
  a1 <- step(ams, 1, 1)
  a2 <- step(ams, a1, 0)   # v shrinks, vhat keeps the maximum 0.001
  m <- 0.1 * 0.9
  alpha <- 0.01 * sqrt(1 - 0.999^2) / (1 - 0.9^2)
  expect_equal(a2, a1 - alpha * m / (sqrt(0.001) + 1e-7))
})

test_that("RMSprop follows Keras's update rules", {
  opt <- optimizer_rmsprop()
  v <- 0.1 * 0.25
  expect_equal(step(opt, 1, 0.5), 1 - 0.001 * 0.5 / sqrt(v + 1e-7))
  cen <- optimizer_rmsprop(centered = TRUE, momentum = 0.5)
  a <- 0.1 * 0.5
  inc <- 0.001 * 0.5 / sqrt(v - a^2 + 1e-7)
  w1 <- step(cen, 1, 0.5)
  expect_equal(w1, 1 - inc)
  v2 <- 0.9 * v + 0.1 * 0.25
  a2 <- 0.9 * a + 0.1 * 0.5
  inc2 <- 0.001 * 0.5 / sqrt(v2 - a2^2 + 1e-7)
  expect_equal(step(cen, w1, 0.5), w1 - (0.5 * inc + inc2))
})

test_that("gradient clipping and weight decay follow the base optimizer", {
  w <- c(1, 1)
  g <- c(3, 4)
  expect_equal(step(optimizer_sgd(1, clipnorm = 1), w, g), w - g / 5)
  expect_equal(step(optimizer_sgd(1, clipvalue = 2), w, g), w - c(2, 2))
  expect_equal(step(optimizer_sgd(0.1, weight_decay = 0.5), w, c(0, 0)), w - w * 0.5 * 0.1)
  opt <- optimizer_sgd(1, global_clipnorm = 1)
  out <- nl_optimizer_apply(opt, list(a = 0, b = 0), list(a = 3, b = 4))
  expect_equal(unlist(out), c(a = -0.6, b = -0.8))
})

test_that("optimizers resolve from strings and reject bad input", {
  expect_s3_class(nl_get_optimizer("adam"), "nl_optimizer_adam")
  expect_s3_class(nl_get_optimizer("SGD"), "nl_optimizer_sgd")
  expect_equal(nl_get_optimizer("rmsprop")$learning_rate, 0.001)
  expect_error(nl_get_optimizer("adagrad"), class = "normlayers_error_optimizer")
  expect_error(nl_get_optimizer(1), class = "normlayers_error_optimizer")
  expect_error(optimizer_sgd(-1), class = "normlayers_error_value")
  expect_error(optimizer_sgd(clipnorm = 1, clipvalue = 1), class = "normlayers_error_optimizer")
  expect_error(optimizer_adam(betas = 1), class = "normlayers_error")
  expect_output(print(optimizer_adam()), "Adam")
})

test_that("optimizer constructors have keras3's formals and defaults", {
  base <- c("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema",
            "ema_momentum", "ema_overwrite_frequency", "name", "...",
            "loss_scale_factor", "gradient_accumulation_steps")
  expect_identical(names(formals(optimizer_sgd)),
                   c("learning_rate", "momentum", "nesterov", base))
  expect_identical(names(formals(optimizer_adam)),
                   c("learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad", base))
  expect_identical(names(formals(optimizer_rmsprop)),
                   c("learning_rate", "rho", "momentum", "epsilon", "centered", base))
  expect_identical(formals(optimizer_rmsprop)$ema_overwrite_frequency, 100L)
  expect_null(formals(optimizer_adam)$ema_overwrite_frequency)
  expect_identical(c(optimizer_sgd()$name, optimizer_adam()$name, optimizer_rmsprop()$name),
                   c("SGD", "adam", "rmsprop"))
  expect_identical(optimizer_adam(name = "opt")$name, "opt")
  # the defaults of the unsupported arguments are accepted, also when given
  expect_s3_class(optimizer_rmsprop(use_ema = FALSE, ema_momentum = 0.99,
                                    ema_overwrite_frequency = 100), "nl_optimizer_rmsprop")
})

test_that("non-default EMA, loss scaling and accumulation are refused and say so", {
  expect_error(optimizer_adam(use_ema = TRUE), class = "normlayers_error_unsupported")
  expect_error(optimizer_sgd(ema_momentum = 0.9), class = "normlayers_error_unsupported")
  expect_error(optimizer_sgd(ema_overwrite_frequency = 10), class = "normlayers_error_unsupported")
  expect_error(optimizer_rmsprop(loss_scale_factor = 128), class = "normlayers_error_unsupported")
  expect_error(optimizer_adam(gradient_accumulation_steps = 4), "cannot honour",
               class = "normlayers_error_unsupported")
  expect_error(optimizer_sgd(clipnorm = -1), class = "normlayers_error_value")
  expect_error(optimizer_sgd(name = 3), class = "normlayers_error_value")
})

test_that("the learning rate can be read and set, and is shared by copies", {
  opt <- optimizer_sgd(learning_rate = 0.1)
  expect_equal(opt$learning_rate, 0.1)
  copy <- opt
  opt$learning_rate <- 0.5
  expect_equal(copy$learning_rate, 0.5)
  expect_equal(nl_optimizer_lr(copy), 0.5)
  expect_error(opt$learning_rate <- -1, class = "normlayers_error_value")
  expect_error(opt$momentum <- 0.9, class = "normlayers_error_state")
})

# The R formulas of the update steps (the code before the C++ updates).
oracle_step <- function(cfg, class, w, g, slot, lr, t) {
  z <- w * 0
  switch(class,
    SGD = {
      m <- (slot$m %||% z) * cfg$momentum - g * lr
      list(w = if (cfg$nesterov) w + (m * cfg$momentum - g * lr) else w + m, slot = list(m = m))
    },
    Adam = {
      alpha <- lr * sqrt(1 - cfg$beta_2^t) / (1 - cfg$beta_1^t)
      m <- (slot$m %||% z) + (g - (slot$m %||% z)) * (1 - cfg$beta_1)
      v <- (slot$v %||% z) + (g^2 - (slot$v %||% z)) * (1 - cfg$beta_2)
      s <- list(m = m, v = v)
      if (cfg$amsgrad) {
        s$vhat <- pmax(slot$vhat %||% z, v)
        v <- s$vhat
      }
      list(w = w - m * alpha / (sqrt(v) + cfg$epsilon), slot = s)
    },
    RMSprop = {
      v <- cfg$rho * (slot$v %||% z) + (1 - cfg$rho) * g^2
      s <- list(v = v)
      if (cfg$centered) {
        a <- cfg$rho * (slot$a %||% z) + (1 - cfg$rho) * g
        s$a <- a
        denom <- v - a^2 + cfg$epsilon
      } else {
        denom <- v + cfg$epsilon
      }
      inc <- lr * g / sqrt(denom)
      if (cfg$momentum > 0) {
        s$m <- cfg$momentum * (slot$m %||% z) + inc
        list(w = w - s$m, slot = s)
      } else {
        list(w = w - inc, slot = s)
      }
    })
}

test_that("the one-pass C++ updates equal the R formulas bit for bit", {
  set.seed(71)
  opts <- list(optimizer_sgd(0.05, momentum = 0.9), optimizer_sgd(0.05, momentum = 0.8, nesterov = TRUE),
               optimizer_adam(0.01), optimizer_adam(0.02, amsgrad = TRUE),
               optimizer_rmsprop(0.01), optimizer_rmsprop(0.01, centered = TRUE, momentum = 0.5))
  for (opt in opts) {
    w <- list(k = matrix(rnorm(12), 4, 3), b = rnorm(3))
    slots <- list()
    cfg <- opt$config
    for (t in 1:4) {
      g <- list(k = matrix(rnorm(12), 4, 3), b = rnorm(3))
      if (t == 2) g$b[1] <- 0
      new <- nl_optimizer_apply(opt, w, g)
      for (k in names(w)) {
        ref <- oracle_step(cfg, opt$class_name, w[[k]], g[[k]], slots[[k]], cfg$learning_rate, t)
        expect_identical(new[[k]], ref$w)
        expect_identical(opt$state$slots[[k]], ref$slot)
        slots[[k]] <- ref$slot
      }
      w <- new
    }
    expect_identical(opt$iterations, 4L)
  }
})
