# Runs the test suite against the package installed by R CMD check and prints
# "N passed, N failed" counted from testthat's expectation results.
args <- commandArgs(trailingOnly = TRUE)
lib <- file.path(args[1])
if (dir.exists(lib)) .libPaths(c(lib, .libPaths()))
suppressPackageStartupMessages(library(testthat))
Sys.setenv(NOT_CRAN = "true")
reporter <- ListReporter$new()
res <- tryCatch(
  test_dir("tests/testthat", package = "normlayers", load_package = "installed",
           reporter = reporter, stop_on_failure = FALSE, stop_on_warning = FALSE),
  error = function(e) { message("test run aborted: ", conditionMessage(e)); NULL }
)
results <- reporter$get_results()
passed <- 0L
failed <- 0L
for (test in unclass(results)) {
  for (r in test$results) {
    if (inherits(r, "expectation_success")) passed <- passed + 1L
    else if (inherits(r, c("expectation_failure", "expectation_error"))) {
      failed <- failed + 1L
      cat(sprintf("FAILED: %s: %s\n  %s\n", test$file, test$test,
                  gsub("\n", "\n  ", conditionMessage(r))))
    }
  }
}
if (is.null(res)) failed <- failed + 1L
cat(sprintf("%d passed, %d failed\n", passed, failed))
quit(status = if (failed > 0) 1L else 0L)
