// Reading a data frame's columns (numeric, integer or logical vectors) as
// doubles by region, so that a column stored by ALTREP (a compact sequence, a
// column read lazily from a file) is never expanded in memory.
#ifndef NORMLAYERS_FRAMES_H
#define NORMLAYERS_FRAMES_H

#include <Rinternals.h>

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

}  // namespace normlayers_frames

#endif
