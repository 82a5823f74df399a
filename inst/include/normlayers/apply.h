// normlayers/apply.h: y = (x - center[k]) * (scale[k] * gamma[q]) + beta[q]
// with given per-position center (nullptr: 0) and scale, on every path.
#ifndef NORMLAYERS_APPLY_H
#define NORMLAYERS_APPLY_H

#include "forward_cols.h"
#include "forward_general.h"

namespace normlayers {

struct ApplyArgs {
  const double* x;
  const double* center;
  const double* scale;
  const double* gamma;
  const double* beta;
  double* y;
};

template <class Param>
inline void apply_rows(const Plan& p, const ApplyArgs& A, const Param& par, int nthr) {
  const RowBlocks blocks(p, 1);
  const bool prefetch = !rows_streamed(p);
  ThreadScratch scratch(nthr, 3, blocks.B);
  const FwdArgs F = {A.x, 0.0, A.gamma, A.beta, A.y, nullptr, nullptr, nullptr, nullptr};
  parallel_for(nthr, blocks.items, [&](idx_t it) {
    double* mult = scratch.get(0);
    double* shift = scratch.get(1);
    double* zero = scratch.get(2);
    const RowBlock blk = blocks.at(p, it);
    RowBlock nxt = {0, 0, 0, 0};
    if (it + 1 < blocks.items && prefetch) nxt = blocks.at(p, it + 1);
    const double* nx = nxt.rows ? A.x + nxt.off : nullptr;
    const idx_t k0 = blk.k0, rows = blk.rows;
    const double* cen = A.center ? A.center + k0 : nullptr;
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) zero[ii] = 0;
    if (!Param::on_kept) {
      rows_block_out_cols(A.x + blk.off, A.y + blk.off, p.a, rows, p.b, blk.l,
                          cen ? cen : zero, zero, A.scale + k0, F, par, nx, nxt.rows);
      return;
    }
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) {
      mult[ii] = A.scale[k0 + ii] * (A.gamma ? A.gamma[k0 + ii] : 1.0);
      shift[ii] = A.beta ? A.beta[k0 + ii] : 0.0;
    }
    rows_block_out_rows(A.x + blk.off, A.y + blk.off, p.a, rows, p.b, cen, zero, mult, shift,
                        nx, nxt.rows);
  });
}

template <class Param>
inline void apply_cols(const Plan& p, const ApplyArgs& A, int nthr) {
  const idx_t K = p.b, R = p.R;
  const idx_t nq = (R + COLS_CHUNK - 1) / COLS_CHUNK;
  const FwdArgs F = {A.x, 0.0, A.gamma, A.beta, A.y, nullptr, nullptr, nullptr, nullptr};
  parallel_for(nthr, K * nq, [&](idx_t it) {
    const idx_t j = it / nq;
    idx_t r0, r1;
    chunk_bounds(it, j, nq, R, r0, r1);
    cols_chunk_out<Param>(p, F, j, r0, r1, A.center ? A.center[j] : 0.0, 0.0, A.scale[j]);
  });
}

template <class Param>
inline void apply_general(const Plan& p, const ApplyArgs& A, const Param& par, int nthr) {
  const idx_t ng = general_groups(p);
  parallel_for(nthr, ng, [&](idx_t g) {
    const idx_t j1 = group_begin(p.ST, ng, g + 1);
    for (idx_t j = group_begin(p.ST, ng, g); j < j1; ++j) {
      for_each_item_line(p, j, [&](idx_t off, idx_t kb, idx_t rb) {
        const double* xp = A.x + off;
        double* yp = A.y + off;
        for (idx_t i = 0; i < p.len0; ++i) {
          const idx_t k = p.Kin * j + (p.red0 ? kb : kb + i);
          const idx_t q = par.index(k, p.red0 ? rb + i : rb);
          yp[i] = (xp[i] - (A.center ? A.center[k] : 0.0)) *
                      (A.scale[k] * (A.gamma ? A.gamma[q] : 1.0)) +
                  (A.beta ? A.beta[q] : 0.0);
        }
      });
    }
  });
}

}  // namespace normlayers

#endif
