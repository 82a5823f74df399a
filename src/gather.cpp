// Row gathering for the batching code (fit/evaluate/predict/adapt): a batch
// is read from a large double array with one allocation of the batch's size,
// and predictions are written into one preallocated result. Arrays are
// column-major with the batch (rows) first, of any rank.
#include "glue.h"
#include <cstring>
#include <cmath>

namespace {

// Rows and "columns" (product of the other dimensions) of a double array; a
// vector without dim is n x 1.
void rows_cols(SEXP x, R_xlen_t& n, R_xlen_t& p) {
  SEXP d = Rf_getAttrib(x, R_DimSymbol);
  const R_xlen_t len = XLENGTH(x);
  if (Rf_isNull(d) || XLENGTH(d) == 0) {
    n = len;
    p = 1;
    return;
  }
  n = INTEGER(d)[0];
  p = n > 0 ? len / n : 0;
  if (n == 0) {
    p = 1;
    for (R_xlen_t k = 1; k < XLENGTH(d); ++k) p *= INTEGER(d)[k];
  }
}

// dim(out) = c(m, dim(x)[-1]); nothing for a vector without dim.
void set_row_dim(SEXP out, SEXP x, R_xlen_t m) {
  SEXP d = Rf_getAttrib(x, R_DimSymbol);
  if (Rf_isNull(d) || XLENGTH(d) == 0) return;
  if (m > INT_MAX) Rcpp::stop("Too many rows for an R array.");
  SEXP nd = PROTECT(Rf_allocVector(INTSXP, XLENGTH(d)));
  std::memcpy(INTEGER(nd), INTEGER(d), sizeof(int) * XLENGTH(d));
  INTEGER(nd)[0] = static_cast<int>(m);
  Rf_setAttrib(out, R_DimSymbol, nd);
  UNPROTECT(1);
}

void check_double(SEXP x, const char* what) {
  if (TYPEOF(x) != REALSXP) Rcpp::stop("`%s` must be a double array.", what);
}

}  // namespace

// Rows `idx` (1-based, integer or double) of a double array of any rank.
// [[Rcpp::export(rng = false)]]
SEXP nl_gather_rows_cpp(SEXP x, SEXP idx) {
  check_double(x, "x");
  R_xlen_t n, p;
  rows_cols(x, n, p);
  const R_xlen_t m = XLENGTH(idx);
  std::vector<R_xlen_t> ix(m);
  if (TYPEOF(idx) == INTSXP) {
    const int* pi = INTEGER(idx);
    for (R_xlen_t i = 0; i < m; ++i) ix[i] = static_cast<R_xlen_t>(pi[i]) - 1;
  } else if (TYPEOF(idx) == REALSXP) {
    const double* pd = REAL(idx);
    for (R_xlen_t i = 0; i < m; ++i) {
      if (!std::isfinite(pd[i])) Rcpp::stop("Row indices must be finite.");
      ix[i] = static_cast<R_xlen_t>(pd[i]) - 1;
    }
  } else {
    Rcpp::stop("Row indices must be numeric.");
  }
  bool contiguous = m > 0;
  for (R_xlen_t i = 0; i < m; ++i) {
    if (ix[i] < 0 || ix[i] >= n) Rcpp::stop("Row index out of range.");
    if (i > 0 && ix[i] != ix[i - 1] + 1) contiguous = false;
  }
  SEXP out = PROTECT(normlayers_pool::alloc_real(m * p));
  const double* src = REAL(x);
  double* dst = REAL(out);
  if (contiguous) {
    for (R_xlen_t j = 0; j < p; ++j) {
      std::memcpy(dst + j * m, src + j * n + ix[0], sizeof(double) * m);
    }
  } else {
    // Row by row (all columns of one source row, then the next): on inputs
    // larger than the caches this is several times faster than column by
    // column, whose 32-odd scattered reads per column defeat the hardware.
    for (R_xlen_t i = 0; i < m; ++i) {
      const double* row = src + ix[i];
      double* o = dst + i;
      for (R_xlen_t j = 0; j < p; ++j) o[j * m] = row[j * n];
    }
  }
  set_row_dim(out, x, m);
  UNPROTECT(1);
  return out;
}

// Rows from, ..., from + count - 1 (from 1-based) of a double array.
// [[Rcpp::export(rng = false)]]
SEXP nl_gather_range_cpp(SEXP x, double from, double count) {
  check_double(x, "x");
  R_xlen_t n, p;
  rows_cols(x, n, p);
  const R_xlen_t f = static_cast<R_xlen_t>(from) - 1;
  const R_xlen_t m = static_cast<R_xlen_t>(count);
  if (f < 0 || m < 0 || f + m > n) Rcpp::stop("Row range out of range.");
  SEXP out = PROTECT(normlayers_pool::alloc_real(m * p));
  const double* src = REAL(x);
  double* dst = REAL(out);
  if (m > 0) {
    for (R_xlen_t j = 0; j < p; ++j) {
      std::memcpy(dst + j * m, src + j * n + f, sizeof(double) * m);
    }
  }
  set_row_dim(out, x, m);
  UNPROTECT(1);
  return out;
}

// Rows from, ..., from + nrow(dest) - 1 (from 1-based) of `x` copied into
// `dest`, in place: predict() refills one batch buffer that it owns
// (nl_predict_batches()) instead of allocating every batch.
// [[Rcpp::export(rng = false)]]
SEXP nl_gather_range_into_cpp(SEXP dest, SEXP x, double from) {
  check_double(dest, "dest");
  check_double(x, "x");
  R_xlen_t n, p, m, q;
  rows_cols(x, n, p);
  rows_cols(dest, m, q);
  const R_xlen_t f = static_cast<R_xlen_t>(from) - 1;
  if (p != q || f < 0 || f + m > n) Rcpp::stop("Rows do not fit into the buffer.");
  const double* src = REAL(x);
  double* dst = REAL(dest);
  if (m > 0) {
    for (R_xlen_t j = 0; j < p; ++j) std::memcpy(dst + j * m, src + j * n + f, sizeof(double) * m);
  }
  return R_NilValue;
}

// TRUE when `a` and `b` are the same R object (not merely equal values).
// [[Rcpp::export(rng = false)]]
bool nl_same_object_cpp(SEXP a, SEXP b) {
  return a == b;
}

// An uninitialised double array with dim `dims` (for results filled by
// nl_rows_into_cpp).
// [[Rcpp::export(rng = false)]]
SEXP nl_alloc_array_cpp(SEXP dims, int threads = 1) {
  SEXP d = PROTECT(Rf_coerceVector(dims, INTSXP));
  R_xlen_t len = 1;
  for (R_xlen_t k = 0; k < XLENGTH(d); ++k) {
    if (INTEGER(d)[k] == NA_INTEGER || INTEGER(d)[k] < 0) Rcpp::stop("Invalid dimensions.");
    len *= INTEGER(d)[k];
  }
  SEXP out = PROTECT(normlayers_pool::alloc_real(len));
  normlayers_glue::ready_output(REAL(out), len, threads);
  if (XLENGTH(d) > 0) Rf_setAttrib(out, R_DimSymbol, d);
  UNPROTECT(2);
  return out;
}

// Copies the rows of `src` into `dest` starting at row `offset` + 1, in
// place. `dest` must be a fresh array owned by the caller (from
// nl_alloc_array_cpp) with the same trailing dimensions.
// [[Rcpp::export(rng = false)]]
SEXP nl_rows_into_cpp(SEXP dest, SEXP src, double offset) {
  check_double(dest, "dest");
  check_double(src, "src");
  R_xlen_t n, p, m, q;
  rows_cols(dest, n, p);
  rows_cols(src, m, q);
  const R_xlen_t off = static_cast<R_xlen_t>(offset);
  if (p != q || off < 0 || off + m > n) Rcpp::stop("Rows do not fit into the result.");
  const double* s = REAL(src);
  double* d = REAL(dest);
  if (m > 0) {
    for (R_xlen_t j = 0; j < p; ++j) std::memcpy(d + j * n + off, s + j * m, sizeof(double) * m);
  }
  return R_NilValue;
}

// TRUE when every value of a double vector is finite (no NA, NaN or Inf).
// [[Rcpp::export(rng = false)]]
bool nl_all_finite_cpp(SEXP x) {
  check_double(x, "x");
  const double* v = REAL(x);
  const R_xlen_t n = XLENGTH(x);
  bool ok = true;
  for (R_xlen_t i = 0; i < n; ++i) ok &= std::isfinite(v[i]);
  return ok;
}
