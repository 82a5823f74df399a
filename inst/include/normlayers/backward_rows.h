// normlayers/backward_rows.h: the backward pass on PATH_ROWS.
//   xhat = (x - mean[k]) * s[k] (mean 0 when uncentered), g = dy * gamma[q]
//   dx: see BackStats in policies.h
//   dgamma[q] = sum dy * xhat, dbeta[q] = sum dy (over all but q)
#ifndef NORMLAYERS_BACKWARD_ROWS_H
#define NORMLAYERS_BACKWARD_ROWS_H

#include "policies.h"
#include <algorithm>
#include <vector>

namespace normlayers {

struct BackArgs {
  const double* x;
  const double* dy;
  const double* mean;   // nullptr when uncentered
  const double* rstd;   // the scale s
  const double* gamma;
  double* dx;
  double* dgamma;       // nparam values (nullptr: not wanted)
  double* dbeta;        // nparam values (nullptr: not wanted)
  idx_t nparam;
};

// Per-position coefficients of dx = s * (g - a1 - xhat * a2), from the sums
// Sg = sum g, Sgx = sum g * xhat, Sxx = sum xhat^2 over cnt values.
template <class BS>
inline void back_coefficients(double& sg, double& sgx, double sxx, double inv_cnt) {
  const double f = BS::by_count ? inv_cnt : 1.0;
  sg = BS::sub_mean ? sg * f : 0.0;
  sgx = sgx * f;
  if (BS::floor_check && sxx < UNIT_FLOOR_CHECK) sgx = 0.0;
}

// Group partial sums of dgamma / dbeta (group g holds nparam values of
// dgamma, then nparam of dbeta), added in group order at the end.
inline void merge_group_partials(const std::vector<double>& part, idx_t ng, idx_t P,
                                 double* dgamma, double* dbeta) {
  for (idx_t q = 0; q < P; ++q) {
    if (dgamma) dgamma[q] = 0;
    if (dbeta) dbeta[q] = 0;
  }
  for (idx_t g = 0; g < ng; ++g) {
    const double* pg = &part[static_cast<std::size_t>(g) * 2 * P];
    const double* pb = pg + P;
    for (idx_t q = 0; q < P; ++q) {
      if (dgamma) dgamma[q] += pg[q];
      if (dbeta) dbeta[q] += pb[q];
    }
  }
}

// Row values of a block.
struct BackRows {
  double *M, *Rs, *G, *Sg, *Sgx, *Dg, *Db, *Sxx;
};

// Pass 1, per-column parameters: per-row Sg, Sgx (and Sxx) and the column
// sums of dy * xhat and dy, added to PG / PB; two columns per sweep.
template <class BS, class Param>
inline void back_sums_cols(const BackArgs& A, const Param& par, const RowBlock& blk,
                           idx_t stride, idx_t cols, const BackRows& w, double* PG,
                           double* PB) {
  const idx_t rows = blk.rows;
  idx_t j = 0;
  // The order of these reductions is fixed by the compiled code and the
  // (shape-determined) block, never by the thread count.
  for (; j + 2 <= cols; j += 2) {
    const double* xa = A.x + blk.off + stride * j;
    const double* xb = xa + stride;
    const double* da = A.dy + blk.off + stride * j;
    const double* db = da + stride;
    const idx_t qa = par.col(j, blk.l), qb = par.col(j + 1, blk.l);
    const double ga = A.gamma ? A.gamma[qa] : 1.0, gb = A.gamma ? A.gamma[qb] : 1.0;
    double pga = 0, pba = 0, pgb = 0, pbb = 0;
    NL_SIMD_SUM4(pga, pba, pgb, pbb)
    for (idx_t ii = 0; ii < rows; ++ii) {
      const double m = w.M[ii], r = w.Rs[ii];
      const double ha = (xa[ii] - m) * r, hb = (xb[ii] - m) * r;
      const double dA = da[ii], dB = db[ii];
      const double gA = dA * ga, gB = dB * gb;
      w.Sg[ii] += gA + gB;
      w.Sgx[ii] += gA * ha + gB * hb;
      if (BS::floor_check) w.Sxx[ii] += ha * ha + hb * hb;
      pga += dA * ha;
      pba += dA;
      pgb += dB * hb;
      pbb += dB;
    }
    PG[qa] += pga;
    PB[qa] += pba;
    PG[qb] += pgb;
    PB[qb] += pbb;
  }
  for (; j < cols; ++j) {
    const double* xc = A.x + blk.off + stride * j;
    const double* dc = A.dy + blk.off + stride * j;
    const idx_t q = par.col(j, blk.l);
    const double gj = A.gamma ? A.gamma[q] : 1.0;
    double pg = 0, pb = 0;
    NL_SIMD_SUM2(pg, pb)
    for (idx_t ii = 0; ii < rows; ++ii) {
      const double xh = (xc[ii] - w.M[ii]) * w.Rs[ii];
      const double d = dc[ii];
      const double g = d * gj;
      w.Sg[ii] += g;
      w.Sgx[ii] += g * xh;
      if (BS::floor_check) w.Sxx[ii] += xh * xh;
      pg += d * xh;
      pb += d;
    }
    PG[q] += pg;
    PB[q] += pb;
  }
}

// Pass 1, per-row (kept) parameters: per-row Sg, Sgx, Dg, Db.
inline void back_sums_rows(const BackArgs& A, const RowBlock& blk, idx_t stride, idx_t cols,
                           const BackRows& w) {
  for (idx_t j = 0; j < cols; ++j) {
    const double* xc = A.x + blk.off + stride * j;
    const double* dc = A.dy + blk.off + stride * j;
    NL_SIMD
    for (idx_t ii = 0; ii < blk.rows; ++ii) {
      const double xh = (xc[ii] - w.M[ii]) * w.Rs[ii];
      const double d = dc[ii];
      const double g = d * w.G[ii];
      w.Sg[ii] += g;
      w.Sgx[ii] += g * xh;
      w.Dg[ii] += d * xh;
      w.Db[ii] += d;
    }
  }
}

// Pass 2, projected dx of a block (Sg, Sgx already turned into a1, a2); two
// columns per sweep.
template <class Param>
inline void back_dx_project(const BackArgs& A, const Param& par, const RowBlock& blk,
                            const RowBlock& nxt, idx_t stride, idx_t cols,
                            const BackRows& w) {
  const idx_t rows = blk.rows;
  idx_t j = 0;
  for (; j + 2 <= cols; j += 2) {
    const double* xa = A.x + blk.off + stride * j;
    const double* da = A.dy + blk.off + stride * j;
    double* oa = A.dx + blk.off + stride * j;
    for (idx_t u = 0; nxt.rows && u < 2; ++u) {
      prefetch_rows(A.x + nxt.off + stride * (j + u), nxt.rows);
      prefetch_rows(A.dy + nxt.off + stride * (j + u), nxt.rows);
    }
    const double ga = Param::on_kept || !A.gamma ? 1.0 : A.gamma[par.col(j, blk.l)];
    const double gb = Param::on_kept || !A.gamma ? 1.0 : A.gamma[par.col(j + 1, blk.l)];
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) {
      const double m = w.M[ii], r = w.Rs[ii], sg = w.Sg[ii], sgx = w.Sgx[ii], G = w.G[ii];
      const double ha = (xa[ii] - m) * r, hb = (xa[ii + stride] - m) * r;
      oa[ii] = r * (da[ii] * (ga * G) - sg - ha * sgx);
      oa[ii + stride] = r * (da[ii + stride] * (gb * G) - sg - hb * sgx);
    }
  }
  for (; j < cols; ++j) {
    const double* xc = A.x + blk.off + stride * j;
    const double* dc = A.dy + blk.off + stride * j;
    double* oc = A.dx + blk.off + stride * j;
    if (nxt.rows) {
      prefetch_rows(A.x + nxt.off + stride * j, nxt.rows);
      prefetch_rows(A.dy + nxt.off + stride * j, nxt.rows);
    }
    const double gj = Param::on_kept || !A.gamma ? 1.0 : A.gamma[par.col(j, blk.l)];
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) {
      const double xh = (xc[ii] - w.M[ii]) * w.Rs[ii];
      const double g = dc[ii] * (gj * w.G[ii]);
      oc[ii] = w.Rs[ii] * (g - w.Sg[ii] - xh * w.Sgx[ii]);
    }
  }
}

// Pass 2 with constant statistics: dx = g * s.
template <class Param>
inline void back_dx_fixed(const BackArgs& A, const Param& par, const RowBlock& blk,
                          const RowBlock& nxt, idx_t stride, idx_t cols, const BackRows& w) {
  for (idx_t j = 0; j < cols; ++j) {
    const double* dc = A.dy + blk.off + stride * j;
    double* oc = A.dx + blk.off + stride * j;
    if (nxt.rows) {
      prefetch_rows(A.x + nxt.off + stride * j, nxt.rows);
      prefetch_rows(A.dy + nxt.off + stride * j, nxt.rows);
    }
    const double gj = Param::on_kept || !A.gamma ? 1.0 : A.gamma[par.col(j, blk.l)];
    NL_SIMD
    for (idx_t ii = 0; ii < blk.rows; ++ii) oc[ii] = dc[ii] * (gj * w.G[ii]) * w.Rs[ii];
  }
}

// Loads a block's row values and clears its accumulators.
template <class BS, class Param>
inline void back_rows_load(const BackArgs& A, const RowBlock& blk, const BackRows& w) {
  const idx_t k0 = blk.k0;
  NL_SIMD
  for (idx_t ii = 0; ii < blk.rows; ++ii) {
    w.M[ii] = BS::centered ? A.mean[k0 + ii] : 0.0;
    w.Rs[ii] = A.rstd[k0 + ii];
    w.G[ii] = (Param::on_kept && A.gamma) ? A.gamma[k0 + ii] : 1.0;
    w.Sg[ii] = w.Sgx[ii] = w.Dg[ii] = w.Db[ii] = w.Sxx[ii] = 0;
  }
}

// One block: sums, per-row coefficients, dx.
template <class BS, class Param>
inline void back_rows_block(const Plan& p, const BackArgs& A, const Param& par,
                            const RowBlock& blk, const RowBlock& nxt, const BackRows& w,
                            double* PG, double* PB) {
  back_rows_load<BS, Param>(A, blk, w);
  if (Param::on_kept) {
    back_sums_rows(A, blk, p.a, p.b, w);
    if (A.dgamma) std::copy(w.Dg, w.Dg + blk.rows, A.dgamma + blk.k0);
    if (A.dbeta) std::copy(w.Db, w.Db + blk.rows, A.dbeta + blk.k0);
  } else {
    back_sums_cols<BS>(A, par, blk, p.a, p.b, w, PG, PB);
  }
  if (!BS::project) {
    back_dx_fixed(A, par, blk, nxt, p.a, p.b, w);
    return;
  }
  const double invR = 1.0 / static_cast<double>(p.R);
  for (idx_t ii = 0; ii < blk.rows; ++ii) {
    back_coefficients<BS>(w.Sg[ii], w.Sgx[ii], w.Sxx[ii], invR);
  }
  back_dx_project(A, par, blk, nxt, p.a, p.b, w);
}

// The blocks are split into at most 64 groups of consecutive blocks; each
// group is run by one thread in block order and keeps its own parameter sums,
// which are added in group order at the end.
template <class BS, class Param>
inline void backward_rows(const Plan& p, const BackArgs& A, const Param& par, int nthr) {
  const RowBlocks blocks(p, 2);
  const idx_t ng = blocks.items < 64 ? blocks.items : 64;
  const idx_t P = A.nparam;
  std::vector<double> part;
  if (!Param::on_kept) part.assign(static_cast<std::size_t>(ng) * 2 * P, 0.0);
  const bool prefetch = !rows_streamed(p, 2);
  ThreadScratch scratch(nthr, 8, blocks.B);
  parallel_for(nthr, ng, [&](idx_t g) {
    const BackRows w = {scratch.get(0), scratch.get(1), scratch.get(2), scratch.get(3),
                        scratch.get(4), scratch.get(5), scratch.get(6), scratch.get(7)};
    double* PG = Param::on_kept ? nullptr : &part[static_cast<std::size_t>(g) * 2 * P];
    double* PB = Param::on_kept ? nullptr : PG + P;
    const idx_t it1 = group_begin(blocks.items, ng, g + 1);
    for (idx_t it = group_begin(blocks.items, ng, g); it < it1; ++it) {
      RowBlock nxt = {0, 0, 0, 0};
      if (it + 1 < blocks.items && prefetch) nxt = blocks.at(p, it + 1);
      back_rows_block<BS>(p, A, par, blocks.at(p, it), nxt, w, PG, PB);
    }
  });
  if (!Param::on_kept) merge_group_partials(part, ng, P, A.dgamma, A.dbeta);
}

}  // namespace normlayers

#endif
