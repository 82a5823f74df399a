# Source the package's R files into the global env with dev stubs (no compiled code).
suppressMessages({library(rlang); library(magrittr)})
`%||%` <- rlang::`%||%`
ns <- globalenv()
for (f in list.files("R", full.names = TRUE)) if (!grepl("RcppExports", f)) sys.source(f, envir = ns)
sys.source("dev/stubs.R", envir = ns)
