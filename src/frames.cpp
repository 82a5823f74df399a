// Data frames as tensors (R/utils-array.R): a data frame's columns are copied
// into one double matrix with a single allocation of its size, and a result
// matrix becomes a data frame's columns with a single allocation of its size.
#include "glue.h"
#include <cstring>
#include <vector>
#include "frames.h"

// The columns of a data frame (a list of numeric or logical vectors of
// length `nrow`) as an nrow x ncol double matrix; integer and logical values
// are converted on the fly (NA stays NA). NULL when a column is of another
// type or length (the caller then takes the general route).
// [[Rcpp::export(rng = false)]]
SEXP nl_columns_to_matrix_cpp(SEXP cols, double nrow, int threads = 1) {
  if (TYPEOF(cols) != VECSXP) Rcpp::stop("`cols` must be a list.");
  const R_xlen_t p = XLENGTH(cols);
  const R_xlen_t n = static_cast<R_xlen_t>(nrow);
  if (nrow < 0 || n > INT_MAX || p > INT_MAX) Rcpp::stop("Too many rows or columns for a matrix.");
  for (R_xlen_t j = 0; j < p; ++j) {
    if (!normlayers_frames::plain_column(VECTOR_ELT(cols, j), n)) return R_NilValue;
  }
  SEXP out = PROTECT(Rf_allocMatrix(REALSXP, static_cast<int>(n), static_cast<int>(p)));
  double* dst = REAL(out);
  normlayers_glue::ready_output(dst, n * p, threads);
  for (R_xlen_t j = 0; j < p; ++j) {
    normlayers_frames::read_column(VECTOR_ELT(cols, j), 0, n, dst + j * n);
  }
  UNPROTECT(1);
  return out;
}

// The columns of a double matrix `y` as a data frame with `names` and
// `row_names` (the value of attr(df, "row.names"), compact or not).
// [[Rcpp::export(rng = false)]]
SEXP nl_matrix_to_frame_cpp(SEXP y, SEXP names, SEXP row_names, int threads = 1) {
  if (TYPEOF(y) != REALSXP) Rcpp::stop("`y` must be a double matrix.");
  SEXP d = Rf_getAttrib(y, R_DimSymbol);
  if (Rf_isNull(d) || XLENGTH(d) != 2) Rcpp::stop("`y` must be a double matrix.");
  const R_xlen_t n = INTEGER(d)[0], p = INTEGER(d)[1];
  if (XLENGTH(names) != p) Rcpp::stop("`names` must have one name per column.");
  std::vector<double*> cols(static_cast<std::size_t>(p));
  SEXP out = PROTECT(normlayers_frames::new_frame(p, n, names, row_names, cols.data()));
  normlayers_glue::ready_columns(cols.data(), p, n, threads);
  const double* src = REAL(y);
  for (R_xlen_t j = 0; j < p; ++j) {
    if (n > 0) std::memcpy(cols[j], src + j * n, sizeof(double) * n);
  }
  UNPROTECT(1);
  return out;
}
