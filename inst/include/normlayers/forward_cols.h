// normlayers/forward_cols.h: statistics and output on PATH_COLS
// ([reduced a, kept b, reduced c]): each kept column is cut into chunks of
// COLS_CHUNK reduced positions whose partial moments are merged in order.
#ifndef NORMLAYERS_FORWARD_COLS_H
#define NORMLAYERS_FORWARD_COLS_H

#include "forward_rows.h"
#include <vector>

namespace normlayers {

// Partial moments of the chunks of every column (one entry per chunk).
struct ChunkParts {
  std::vector<double> n, m1, d, q;
  explicit ChunkParts(idx_t items) : n(items), m1(items), d(items), q(items) {}
};

// Two-pass partial of chunk `it` (rows [r0, r1) of column j): count, first-pass
// mean, sums of deviations and squared deviations (or, uncentered, of squares).
template <class Stats, class Mask>
inline void cols_chunk_stats(const Plan& p, const double* x, idx_t j, idx_t r0, idx_t r1,
                             ChunkParts& cp, idx_t it) {
  double s = 0, cnt = 0, sd = 0, sdd = 0;
  if (!Stats::centered) {
    for_each_piece(p, j, r0, r1, [&](idx_t off, idx_t len, idx_t) {
      seg_dev<NoMask>(x + off, len, 0.0, s, sdd);
    });
    cp.n[it] = static_cast<double>(r1 - r0);
    cp.m1[it] = cp.d[it] = 0;
    cp.q[it] = sdd;
    return;
  }
  for_each_piece(p, j, r0, r1, [&](idx_t off, idx_t len, idx_t) {
    seg_sum<Mask>(x + off, len, s, cnt);
  });
  const double m1 = s / cnt;
  if (cnt > 0) {
    for_each_piece(p, j, r0, r1, [&](idx_t off, idx_t len, idx_t) {
      seg_dev<Mask>(x + off, len, m1, sd, sdd);
    });
  }
  cp.n[it] = cnt;
  cp.m1[it] = m1;
  cp.d[it] = sd;
  cp.q[it] = sdd;
}

// Merge of the nq chunks of a column, in chunk order, relative to the first
// non-empty chunk's first-pass mean `shift`. Returns shift, the mean relative
// to it, m2 (or the sum of squares) and count.
template <class Stats>
inline void cols_merge(const ChunkParts& cp, idx_t first, idx_t nq, double& shift,
                       double& mean, double& m2, double& count) {
  if (!Stats::centered) {
    double q = 0, n = 0;
    for (idx_t t = first; t < first + nq; ++t) {
      q += cp.q[t];
      n += cp.n[t];
    }
    shift = mean = 0;
    m2 = q;
    count = n;
    return;
  }
  shift = nan_value();
  Moments acc = {0, 0, 0};
  for (idx_t t = first; t < first + nq; ++t) {
    const double n = cp.n[t];
    if (!(n > 0)) continue;
    if (acc.n == 0) shift = cp.m1[t];
    merge_moments(acc, n, relative_mean(cp.m1[t], n, cp.d[t], shift),
                  corrected_m2(n, cp.d[t], cp.q[t]));
  }
  mean = acc.n > 0 ? acc.mean : nan_value();
  m2 = acc.n > 0 ? acc.m2 : nan_value();
  count = acc.n;
}

// y = ((x - cen) - cor) * (sc * gamma) + beta for reduced range [r0, r1) of
// column j (the center as a base and a correction, see rows_block_out_cols())
template <class Param>
inline void cols_chunk_out(const Plan& p, const FwdArgs& A, idx_t j, idx_t r0, idx_t r1,
                           double cen, double cor, double sc) {
  if (Param::on_kept) {
    const double mult = sc * (A.gamma ? A.gamma[j] : 1.0);
    const double sh = A.beta ? A.beta[j] : 0.0;
    for_each_piece(p, j, r0, r1, [&](idx_t off, idx_t len, idx_t) {
      const double* xp = A.x + off;
      double* yp = A.y + off;
      NL_SIMD
      for (idx_t i = 0; i < len; ++i) yp[i] = ((xp[i] - cen) - cor) * mult + sh;
    });
    return;
  }
  for_each_piece(p, j, r0, r1, [&](idx_t off, idx_t len, idx_t r) {
    const double* xp = A.x + off;
    double* yp = A.y + off;
    const double* gp = A.gamma ? A.gamma + r : nullptr;
    const double* bp = A.beta ? A.beta + r : nullptr;
    NL_SIMD
    for (idx_t i = 0; i < len; ++i) {
      yp[i] = ((xp[i] - cen) - cor) * (sc * (gp ? gp[i] : 1.0)) + (bp ? bp[i] : 0.0);
    }
  });
}

template <class Stats, class Param, class Mask>
inline void forward_cols(const Plan& p, const FwdArgs& A, int nthr) {
  const idx_t K = p.b, R = p.R;
  const idx_t nq = (R + COLS_CHUNK - 1) / COLS_CHUNK;
  ChunkParts cp(K * nq);
  std::vector<double> rs(K), ms(K), mc(K);
  // statistics of chunk `it`, merge of column j, output of chunk `it`; the
  // arithmetic is the same whichever schedule runs them
  auto chunk_stats = [&](idx_t it) {
    const idx_t j = it / nq;
    idx_t r0, r1;
    chunk_bounds(it, j, nq, R, r0, r1);
    cols_chunk_stats<Stats, Mask>(p, A.x, j, r0, r1, cp, it);
  };
  auto column_finish = [&](idx_t j) {
    double base, rel, m2, cnt;
    cols_merge<Stats>(cp, j * nq, nq, base, rel, m2, cnt);
    const double mean = (A.shift || A.shift_out) ? (base - shift_of(A, j, base)) + rel
                                                 : base + rel;
    const double spread = Stats::spread(m2, cnt);
    ms[j] = base;
    mc[j] = rel;
    if (A.mean) A.mean[j] = mean;
    if (A.var) A.var[j] = spread;
    if (A.count) A.count[j] = cnt;
    Stats::inv(&spread, A.eps, &rs[j], 1);
    if (A.rstd) A.rstd[j] = rs[j];
  };
  auto chunk_out = [&](idx_t it) {
    const idx_t j = it / nq;
    idx_t r0, r1;
    chunk_bounds(it, j, nq, R, r0, r1);
    cols_chunk_out<Param>(p, A, j, r0, r1, ms[j], mc[j], rs[j]);
  };
  cols_schedule(K, nq, A.y && cols_fused(p, nthr), A.y != nullptr, nthr, chunk_stats,
                column_finish, chunk_out);
}

}  // namespace normlayers

#endif
