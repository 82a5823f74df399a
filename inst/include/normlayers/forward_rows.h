// normlayers/forward_rows.h: statistics and output on PATH_ROWS
// ([kept a, reduced b, kept c]), in blocks of rows.
#ifndef NORMLAYERS_FORWARD_ROWS_H
#define NORMLAYERS_FORWARD_ROWS_H

#include "policies.h"
#include <algorithm>

namespace normlayers {

// Arguments of a forward kernel. Optional inputs are nullptr (gamma = 1,
// beta = 0); optional outputs are nullptr (not written). The mean is always
// written when given; PATH_COLS needs it.
struct FwdArgs {
  const double* x;
  double eps;
  const double* gamma;
  const double* beta;
  double* y;
  double* mean;
  double* var;    // the spread: variance, mean of squares or sum of squares
  double* rstd;   // the scale
  double* count;
  // Moments only (no y): the mean is written relative to shift[k] (nullptr:
  // 0) or, when shift_out is given instead, relative to the first-pass mean,
  // which is written to shift_out. Either way (mean - shift) keeps the digits
  // a rounded absolute mean would lose (for merging partial moments).
  const double* shift;
  double* shift_out;
};

// The shift of kept position k whose first-pass mean is m1.
inline double shift_of(const FwdArgs& A, idx_t k, double m1) {
  const double s = A.shift ? A.shift[k] : (A.shift_out ? m1 : 0.0);
  if (A.shift_out) A.shift_out[k] = s;
  return s;
}

// Per-row statistics of a block: count C, spread V, and the mean as a base
// M plus a correction Rm (the first-pass mean and the mean deviation from it;
// both 0 when uncentered). The output uses the pair; rows_block_mean()
// writes their sum.
struct RowStats {
  double* C;
  double* M;
  double* V;
  double* Rm;
};

// Centered statistics of a cached block, two passes (S is scratch).
template <class Mask>
inline void rows_block_centered(const double* x0, idx_t stride, idx_t rows, idx_t cols,
                                double* S, const RowStats& st, const double* next,
                                idx_t next_rows) {
  double *C = st.C, *M = st.M, *V = st.V;
  NL_SIMD
  for (idx_t ii = 0; ii < rows; ++ii) {
    S[ii] = 0;
    C[ii] = Mask::skips ? 0.0 : static_cast<double>(cols);
  }
  if (!Mask::skips) {
    sweep_sum(x0, stride, rows, 0, cols, S);
  } else {
    for (idx_t j = 0; j < cols; ++j) {
      const double* col = x0 + stride * j;
      NL_SIMD
      for (idx_t ii = 0; ii < rows; ++ii) {
        const bool ok = Mask::keep(col[ii]);
        S[ii] += ok ? col[ii] : 0.0;
        C[ii] += ok ? 1.0 : 0.0;
      }
    }
  }
  NL_SIMD
  for (idx_t ii = 0; ii < rows; ++ii) {
    M[ii] = S[ii] / C[ii];
    S[ii] = 0;  // sum of deviations
    V[ii] = 0;  // sum of squared deviations
  }
  if (!Mask::skips) {
    sweep_dev(x0, stride, rows, 0, cols, M, S, V, next, next_rows);
  } else {
    for (idx_t j = 0; j < cols; ++j) {
      const double* col = x0 + stride * j;
      NL_SIMD
      for (idx_t ii = 0; ii < rows; ++ii) {
        const double e = Mask::keep(col[ii]) ? col[ii] - M[ii] : 0.0;
        S[ii] += e;
        V[ii] += e * e;
      }
    }
  }
  NL_SIMD
  for (idx_t ii = 0; ii < rows; ++ii) {
    st.Rm[ii] = S[ii] / C[ii];
    V[ii] = finish_var(C[ii], S[ii], V[ii]);
  }
}

// Centered statistics of a streamed block (no mask): the columns are taken
// in panels of P that stay in cache; each panel's two-pass moments are merged
// into the running ones panel by panel in column order, relative to the first
// panel's first-pass mean (M). W holds 3 scratch arrays.
inline void rows_block_panels(const double* x0, idx_t stride, idx_t rows, idx_t cols,
                              idx_t P, double* const* W, const RowStats& st) {
  double *S = W[0], *D = W[1], *Q = W[2];
  double *M = st.M, *V = st.V, *Rm = st.Rm;
  double n = 0;
  for (idx_t j0 = 0; j0 < cols; j0 += P) {
    const idx_t j1 = (cols - j0 < P) ? cols : j0 + P;
    const double np = static_cast<double>(j1 - j0);
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) S[ii] = 0;
    sweep_sum(x0, stride, rows, j0, j1, S);
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) {
      S[ii] = S[ii] / np;  // panel first-pass mean
      D[ii] = 0;
      Q[ii] = 0;
      if (j0 == 0) M[ii] = S[ii];
    }
    sweep_dev(x0, stride, rows, j0, j1, S, D, Q);
    for (idx_t ii = 0; ii < rows; ++ii) {
      Moments m = {n, j0 == 0 ? 0.0 : Rm[ii], j0 == 0 ? 0.0 : V[ii]};
      merge_moments(m, np, relative_mean(S[ii], np, D[ii], M[ii]),
                    corrected_m2(np, D[ii], Q[ii]));
      Rm[ii] = m.mean;
      V[ii] = m.m2;
    }
    n += np;
  }
  NL_SIMD
  for (idx_t ii = 0; ii < rows; ++ii) {
    st.C[ii] = n;
    V[ii] = V[ii] / n;
  }
}

// Uncentered statistics of a block: one pass of sums of squares.
template <class Stats>
inline void rows_block_uncentered(const double* x0, idx_t stride, idx_t rows, idx_t cols,
                                  const RowStats& st, const double* next, idx_t next_rows) {
  NL_SIMD
  for (idx_t ii = 0; ii < rows; ++ii) {
    st.C[ii] = static_cast<double>(cols);
    st.M[ii] = 0;
    st.Rm[ii] = 0;
    st.V[ii] = 0;
  }
  sweep_sq(x0, stride, rows, 0, cols, st.V, next, next_rows);
  for (idx_t ii = 0; ii < rows; ++ii) st.V[ii] = Stats::spread(st.V[ii], st.C[ii]);
}

// Output of a block with per-column parameters:
//   y = ((x - cen[ii]) - cor[ii]) * (sc[ii] * gamma[q]) + beta[q],
//   q = param.col(j, l)
// The center is a pair: a base (the first-pass mean; x - base is exact for
// data near it) and a small correction, so that the output does not inherit
// the rounding of a mean far from zero. Two columns per sweep share the loads
// of the per-row values.
template <class Param>
inline void rows_block_out_cols(const double* x0, double* y0, idx_t stride, idx_t rows,
                                idx_t cols, idx_t l, const double* cen, const double* cor,
                                const double* sc, const FwdArgs& A, const Param& par,
                                const double* next = nullptr, idx_t next_rows = 0) {
  idx_t j = 0;
  for (; j + 2 <= cols; j += 2) {
    const double* xa = x0 + stride * j;
    const double* xb = xa + stride;
    double* ya = y0 + stride * j;
    double* yb = ya + stride;
    if (next) {
      prefetch_rows(next + stride * j, next_rows);
      prefetch_rows(next + stride * (j + 1), next_rows);
    }
    const idx_t qa = par.col(j, l), qb = par.col(j + 1, l);
    const double ga = A.gamma ? A.gamma[qa] : 1.0, gb = A.gamma ? A.gamma[qb] : 1.0;
    const double ba = A.beta ? A.beta[qa] : 0.0, bb = A.beta ? A.beta[qb] : 0.0;
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) {
      const double c = cen[ii], e = cor[ii], r = sc[ii];
      ya[ii] = ((xa[ii] - c) - e) * (r * ga) + ba;
      yb[ii] = ((xb[ii] - c) - e) * (r * gb) + bb;
    }
  }
  for (; j < cols; ++j) {
    const double* xc = x0 + stride * j;
    if (next) prefetch_rows(next + stride * j, next_rows);
    double* yc = y0 + stride * j;
    const idx_t q = par.col(j, l);
    const double gj = A.gamma ? A.gamma[q] : 1.0;
    const double bj = A.beta ? A.beta[q] : 0.0;
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) {
      yc[ii] = ((xc[ii] - cen[ii]) - cor[ii]) * (sc[ii] * gj) + bj;
    }
  }
}

// Output of a block of uncentered statistics (RMS, unit normalization) with
// per-column parameters: y = x * (sc[ii] * gamma[q]) + beta[q], q =
// param.col(j, l) (gamma 1 and beta 0 when not given). The same values as
// rows_block_out_cols() with a zero center (x - 0 is x, and adding beta = 0
// still turns -0 into 0), without loading the center. Two columns per sweep.
template <class Param>
inline void rows_block_scale_cols(const double* x0, double* y0, idx_t stride, idx_t rows,
                                  idx_t cols, idx_t l, const double* sc, const FwdArgs& A,
                                  const Param& par) {
  idx_t j = 0;
  for (; j + 2 <= cols; j += 2) {
    const double* xa = x0 + stride * j;
    const double* xb = xa + stride;
    double* ya = y0 + stride * j;
    double* yb = ya + stride;
    const idx_t qa = par.col(j, l), qb = par.col(j + 1, l);
    const double ga = A.gamma ? A.gamma[qa] : 1.0, gb = A.gamma ? A.gamma[qb] : 1.0;
    const double ba = A.beta ? A.beta[qa] : 0.0, bb = A.beta ? A.beta[qb] : 0.0;
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) {
      const double r = sc[ii];
      ya[ii] = xa[ii] * (r * ga) + ba;
      yb[ii] = xb[ii] * (r * gb) + bb;
    }
  }
  for (; j < cols; ++j) {
    const double* xc = x0 + stride * j;
    double* yc = y0 + stride * j;
    const idx_t q = par.col(j, l);
    const double gj = A.gamma ? A.gamma[q] : 1.0;
    const double bj = A.beta ? A.beta[q] : 0.0;
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) yc[ii] = xc[ii] * (sc[ii] * gj) + bj;
  }
}

// Output of a block with per-row multiplier and shift:
//   y = ((x - cen[ii]) - cor[ii]) * mult[ii] + shift[ii]   (cen nullptr: 0)
inline void rows_block_out_rows(const double* x0, double* y0, idx_t stride, idx_t rows,
                                idx_t cols, const double* cen, const double* cor,
                                const double* mult, const double* shift,
                                const double* next = nullptr, idx_t next_rows = 0) {
  for (idx_t j = 0; j < cols; ++j) {
    const double* xc = x0 + stride * j;
    if (next) prefetch_rows(next + stride * j, next_rows);
    double* yc = y0 + stride * j;
    if (cen) {
      NL_SIMD
      for (idx_t ii = 0; ii < rows; ++ii) {
        yc[ii] = ((xc[ii] - cen[ii]) - cor[ii]) * mult[ii] + shift[ii];
      }
    } else {
      NL_SIMD
      for (idx_t ii = 0; ii < rows; ++ii) yc[ii] = xc[ii] * mult[ii] + shift[ii];
    }
  }
}

// Statistics of one block, by policy.
template <class Stats, class Mask>
inline void rows_block_stats(const double* x0, idx_t stride, idx_t rows, idx_t cols,
                             bool panels, idx_t P, double* const* W, const RowStats& st,
                             const double* next, idx_t next_rows) {
  if (!Stats::centered) {
    rows_block_uncentered<Stats>(x0, stride, rows, cols, st, next, next_rows);
  } else if (panels) {
    rows_block_panels(x0, stride, rows, cols, P, W, st);
  } else {
    rows_block_centered<Mask>(x0, stride, rows, cols, W[0], st, next, next_rows);
  }
}

// The corrected mean of each row (relative to its shift) into A.mean.
inline void rows_block_mean(const FwdArgs& A, const RowBlock& blk, const RowStats& st) {
  double* out = A.mean + blk.k0;
  if (A.shift || A.shift_out) {
    for (idx_t ii = 0; ii < blk.rows; ++ii) {
      out[ii] = (st.M[ii] - shift_of(A, blk.k0 + ii, st.M[ii])) + st.Rm[ii];
    }
    return;
  }
  NL_SIMD
  for (idx_t ii = 0; ii < blk.rows; ++ii) out[ii] = st.M[ii] + st.Rm[ii];
}

// Writes the statistics of a block and its output; W[0] receives the scale.
template <class Stats, class Param>
inline void rows_block_finish(const FwdArgs& A, const Param& par, const Plan& p,
                              const RowBlock& blk, double* const* W, const RowStats& st) {
  const idx_t rows = blk.rows, k0 = blk.k0;
  double* S = W[0];
  if (A.mean) rows_block_mean(A, blk, st);
  if (A.var) std::copy(st.V, st.V + rows, A.var + k0);
  if (A.count) std::copy(st.C, st.C + rows, A.count + k0);
  Stats::inv(st.V, A.eps, S, rows);
  if (A.rstd) std::copy(S, S + rows, A.rstd + k0);
  if (!A.y) return;
  if (!Param::on_kept && !Stats::centered) {
    rows_block_scale_cols(A.x + blk.off, A.y + blk.off, p.a, rows, p.b, blk.l, S, A, par);
    return;
  }
  if (!Param::on_kept) {
    rows_block_out_cols(A.x + blk.off, A.y + blk.off, p.a, rows, p.b, blk.l, st.M, st.Rm, S,
                        A, par);
    return;
  }
  NL_SIMD
  for (idx_t ii = 0; ii < rows; ++ii) {
    st.C[ii] = S[ii] * (A.gamma ? A.gamma[k0 + ii] : 1.0);
    st.V[ii] = A.beta ? A.beta[k0 + ii] : 0.0;
  }
  rows_block_out_rows(A.x + blk.off, A.y + blk.off, p.a, rows, p.b, st.M, st.Rm, st.C,
                      st.V);
}

template <class Stats, class Param, class Mask>
inline void forward_rows(const Plan& p, const FwdArgs& A, const Param& par, int nthr) {
  const RowBlocks blocks(p, 1);
  // streamed blocks are too large to prefetch, and without a mask their
  // centered statistics are taken panel by panel
  const bool streamed = rows_streamed(p);
  const bool panels = streamed && !Mask::skips && Stats::centered;
  const idx_t P = rows_panel(blocks.B);
  ThreadScratch scratch(nthr, 7, blocks.B);
  parallel_for(nthr, blocks.items, [&](idx_t it) {
    double* W[3] = {scratch.get(4), scratch.get(5), scratch.get(6)};
    const RowStats st = {scratch.get(0), scratch.get(1), scratch.get(2), scratch.get(3)};
    const RowBlock blk = blocks.at(p, it);
    RowBlock nxt = {0, 0, 0, 0};
    if (it + 1 < blocks.items && !streamed) nxt = blocks.at(p, it + 1);
    rows_block_stats<Stats, Mask>(A.x + blk.off, p.a, blk.rows, p.b, panels, P, W, st,
                                  nxt.rows ? A.x + nxt.off : nullptr, nxt.rows);
    rows_block_finish<Stats>(A, par, p, blk, W, st);
  });
}

}  // namespace normlayers

#endif
