// Data frames in C++: reading a data frame's columns (numeric, integer or
// logical vectors) as doubles by region, so that a column stored by ALTREP (a
// compact sequence, a column read lazily from a file) is never expanded in
// memory, and making a new data frame of double columns.
#ifndef NORMLAYERS_FRAMES_H
#define NORMLAYERS_FRAMES_H

#include <Rinternals.h>
#include "pool.h"

namespace normlayers_frames {

// Whether `c` can be read by read_column(): a double, integer or logical
// vector of length n.
inline bool plain_column(SEXP c, R_xlen_t n) {
  const int t = TYPEOF(c);
  return (t == REALSXP || t == INTSXP || t == LGLSXP) && XLENGTH(c) == n;
}

// Values i0, ..., i0 + len - 1 of column `c` into out[0, len); integer and
// logical NA become NA_real_.
inline void read_column(SEXP c, R_xlen_t i0, R_xlen_t len, double* out) {
  if (len <= 0) return;
  if (TYPEOF(c) == REALSXP) {
    REAL_GET_REGION(c, i0, len, out);
    return;
  }
  const R_xlen_t chunk = 512;
  int buf[chunk];
  for (R_xlen_t s = 0; s < len; s += chunk) {
    const R_xlen_t m = len - s < chunk ? len - s : chunk;
    // INTEGER_GET_REGION also reads logical vectors (both are stored as int)
    // but refuses them under R's type checks, so each has its own call.
    if (TYPEOF(c) == INTSXP) INTEGER_GET_REGION(c, i0 + s, m, buf);
    else LOGICAL_GET_REGION(c, i0 + s, m, buf);
    for (R_xlen_t i = 0; i < m; ++i) out[s + i] = buf[i] == NA_INTEGER ? NA_REAL : buf[i];
  }
}

// A new data frame of p double columns of n values (uninitialized), with
// `names` and `row_names` (the value of attr(df, "row.names")); the columns'
// data pointers go to cols[0, p). The caller protects the result.
inline SEXP new_frame(R_xlen_t p, R_xlen_t n, SEXP names, SEXP row_names, double** cols) {
  SEXP out = PROTECT(Rf_allocVector(VECSXP, p));
  for (R_xlen_t j = 0; j < p; ++j) {
    SEXP c = normlayers_pool::alloc_real(n);
    SET_VECTOR_ELT(out, j, c);
    cols[j] = REAL(c);
  }
  Rf_setAttrib(out, R_NamesSymbol, names);
  Rf_setAttrib(out, R_ClassSymbol, Rf_mkString("data.frame"));
  Rf_setAttrib(out, R_RowNamesSymbol, row_names);
  UNPROTECT(1);
  return out;
}

}  // namespace normlayers_frames

#endif
