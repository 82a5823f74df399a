# Session-unique automatic names, as Keras makes them: the first layer of a kind
# gets the bare name, later ones `_1`, `_2`, ...

.nl_name_counters <- new.env(parent = emptyenv())

nl_unique_name <- function(prefix) {
  n <- .nl_name_counters[[prefix]]
  if (is.null(n)) n <- 0L
  assign(prefix, n + 1L, envir = .nl_name_counters)
  if (n == 0L) prefix else paste0(prefix, "_", n)
}

# Converts a Keras class name to its snake_case prefix.
nl_snake_case <- function(x) {
  x <- gsub("([a-z0-9])([A-Z])", "\\1_\\2", x)
  x <- gsub("([A-Z]+)([A-Z][a-z])", "\\1_\\2", x)
  tolower(x)
}
