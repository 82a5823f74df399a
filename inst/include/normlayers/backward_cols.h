// normlayers/backward_cols.h: the backward pass on PATH_COLS with kept
// parameters (BatchNormalization on [reduced, kept] layouts).
#ifndef NORMLAYERS_BACKWARD_COLS_H
#define NORMLAYERS_BACKWARD_COLS_H

#include "backward_rows.h"

namespace normlayers {

// Partial sums of dy * xhat and dy over chunk `it` of column j.
inline void back_chunk_sums(const Plan& p, const BackArgs& A, idx_t j, idx_t r0, idx_t r1,
                            double& sg, double& sb) {
  const double m = A.mean[j], rs = A.rstd[j];
  sg = 0;
  sb = 0;
  for_each_piece(p, j, r0, r1, [&](idx_t off, idx_t len, idx_t) {
    const double* xp = A.x + off;
    const double* dp = A.dy + off;
    double g0 = 0, g1 = 0, b0 = 0, b1 = 0;
    idx_t i = 0;
    for (; i + 2 <= len; i += 2) {
      const double d0 = dp[i], d1 = dp[i + 1];
      g0 += d0 * ((xp[i] - m) * rs);
      g1 += d1 * ((xp[i + 1] - m) * rs);
      b0 += d0;
      b1 += d1;
    }
    for (; i < len; ++i) {
      g0 += dp[i] * ((xp[i] - m) * rs);
      b0 += dp[i];
    }
    sg += g0 + g1;
    sb += b0 + b1;
  });
}

// dx over chunk `it` of column j, given the column's coefficients.
template <class BS>
inline void back_chunk_dx(const Plan& p, const BackArgs& A, idx_t j, idx_t r0, idx_t r1,
                          double a1, double a2) {
  const double m = A.mean[j], rs = A.rstd[j];
  const double gam = A.gamma ? A.gamma[j] : 1.0;
  for_each_piece(p, j, r0, r1, [&](idx_t off, idx_t len, idx_t) {
    const double* xp = A.x + off;
    const double* dp = A.dy + off;
    double* op = A.dx + off;
    if (BS::project) {
      NL_SIMD
      for (idx_t i = 0; i < len; ++i) {
        const double xh = (xp[i] - m) * rs;
        op[i] = rs * (dp[i] * gam - a1 - xh * a2);
      }
    } else {
      NL_SIMD
      for (idx_t i = 0; i < len; ++i) op[i] = dp[i] * gam * rs;
    }
  });
}

template <class BS>
inline void backward_cols(const Plan& p, const BackArgs& A, int nthr) {
  const idx_t K = p.b, R = p.R;
  const idx_t nq = (R + COLS_CHUNK - 1) / COLS_CHUNK;
  const idx_t items = K * nq;
  std::vector<double> pdg(items), pdb(items), mg(K), mgx(K);
  auto chunk_sums = [&](idx_t it) {
    const idx_t j = it / nq;
    idx_t r0, r1;
    chunk_bounds(it, j, nq, R, r0, r1);
    back_chunk_sums(p, A, j, r0, r1, pdg[it], pdb[it]);
  };
  auto column_finish = [&](idx_t j) {
    double dg = 0, db = 0;
    for (idx_t q = 0; q < nq; ++q) {
      dg += pdg[j * nq + q];
      db += pdb[j * nq + q];
    }
    if (A.dgamma) A.dgamma[j] = dg;
    if (A.dbeta) A.dbeta[j] = db;
    const double gam = A.gamma ? A.gamma[j] : 1.0;
    mg[j] = gam * db / static_cast<double>(R);
    mgx[j] = gam * dg / static_cast<double>(R);
  };
  auto chunk_out = [&](idx_t it) {
    const idx_t j = it / nq;
    idx_t r0, r1;
    chunk_bounds(it, j, nq, R, r0, r1);
    back_chunk_dx<BS>(p, A, j, r0, r1, mg[j], mgx[j]);
  };
  cols_schedule(K, nq, BS::project && cols_fused(p, nthr, 2), true, nthr, chunk_sums,
                column_finish, chunk_out);
}

}  // namespace normlayers

#endif
