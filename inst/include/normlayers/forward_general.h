// normlayers/forward_general.h: statistics and output on PATH_GENERAL, item
// by item (an item is one index of the outermost kept run; its Kin kept
// positions are visited with an odometer, see layout.h).
#ifndef NORMLAYERS_FORWARD_GENERAL_H
#define NORMLAYERS_FORWARD_GENERAL_H

#include "forward_rows.h"

namespace normlayers {

// Scratch of one item, one array per meaning, Kin values each.
struct ItemScratch {
  double* S;  // sums, then the scale
  double* C;  // counts, then (kept parameters) the multiplier
  double* M;  // mean (0 when uncentered)
  double* D;  // sum of deviations, then (kept parameters) the shift
  double* Q;  // sum of squared deviations (or of squares)
  double* E;  // correction of the mean M (mean deviation from it)
};

// Pass 1: sums (centered) or sums of squares (uncentered), and counts.
template <class Stats, class Mask>
inline void general_pass_sums(const Plan& p, const double* x, idx_t j, const ItemScratch& w) {
  double* acc = Stats::centered ? w.S : w.Q;
  for_each_item_line(p, j, [&](idx_t off, idx_t kb, idx_t) {
    const double* xp = x + off;
    for (idx_t i = 0; i < p.len0; ++i) {
      const double v = xp[i];
      if (Mask::skips && !Mask::keep(v)) continue;
      const idx_t t = p.red0 ? kb : kb + i;
      acc[t] += Stats::centered ? v : v * v;
      w.C[t] += 1.0;
    }
  });
}

// Pass 2 (centered): deviations from the first-pass mean.
template <class Mask>
inline void general_pass_devs(const Plan& p, const double* x, idx_t j, const ItemScratch& w) {
  for_each_item_line(p, j, [&](idx_t off, idx_t kb, idx_t) {
    const double* xp = x + off;
    for (idx_t i = 0; i < p.len0; ++i) {
      const double v = xp[i];
      if (Mask::skips && !Mask::keep(v)) continue;
      const idx_t t = p.red0 ? kb : kb + i;
      const double e = v - w.M[t];
      w.D[t] += e;
      w.Q[t] += e * e;
    }
  });
}

// Pass 3: y = ((x - M) - E) * (scale * gamma[q]) + beta[q].
template <class Param>
inline void general_pass_out(const Plan& p, const FwdArgs& A, const Param& par, idx_t j,
                             const ItemScratch& w) {
  for_each_item_line(p, j, [&](idx_t off, idx_t kb, idx_t rb) {
    const double* xp = A.x + off;
    double* yp = A.y + off;
    for (idx_t i = 0; i < p.len0; ++i) {
      const idx_t t = p.red0 ? kb : kb + i;
      if (Param::on_kept) {
        yp[i] = ((xp[i] - w.M[t]) - w.E[t]) * w.C[t] + w.D[t];
      } else {
        const idx_t q = par.index(p.Kin * j + t, p.red0 ? rb + i : rb);
        yp[i] = ((xp[i] - w.M[t]) - w.E[t]) * (w.S[t] * (A.gamma ? A.gamma[q] : 1.0)) +
                (A.beta ? A.beta[q] : 0.0);
      }
    }
  });
}

// Statistics of item j: fills M, and S with the scale; writes the outputs.
template <class Stats, class Mask>
inline void general_item_stats(const Plan& p, const FwdArgs& A, idx_t j,
                               const ItemScratch& w) {
  const idx_t Kin = p.Kin;
  for (idx_t t = 0; t < Kin; ++t) w.S[t] = w.C[t] = w.D[t] = w.Q[t] = w.M[t] = w.E[t] = 0;
  general_pass_sums<Stats, Mask>(p, A.x, j, w);
  if (Stats::centered) {
    for (idx_t t = 0; t < Kin; ++t) w.M[t] = w.S[t] / w.C[t];
    general_pass_devs<Mask>(p, A.x, j, w);
  }
  for (idx_t t = 0; t < Kin; ++t) {
    const idx_t k = Kin * j + t;
    const double spread = Stats::centered ? finish_var(w.C[t], w.D[t], w.Q[t])
                                          : Stats::spread(w.Q[t], w.C[t]);
    if (Stats::centered) w.E[t] = w.D[t] / w.C[t];
    if (A.mean) {
      const double m1 = w.M[t];
      A.mean[k] = (A.shift || A.shift_out) ? (m1 - shift_of(A, k, m1)) + w.E[t] : m1 + w.E[t];
    }
    if (A.var) A.var[k] = spread;
    if (A.count) A.count[k] = w.C[t];
    Stats::inv(&spread, A.eps, &w.S[t], 1);
    if (A.rstd) A.rstd[k] = w.S[t];
  }
}

template <class Stats, class Param, class Mask>
inline void forward_general(const Plan& p, const FwdArgs& A, const Param& par, int nthr) {
  const idx_t Kin = p.Kin;
  const idx_t ng = general_groups(p);
  ThreadScratch scratch(nthr, 6, Kin);
  parallel_for(nthr, ng, [&](idx_t g) {
    const ItemScratch w = {scratch.get(0), scratch.get(1), scratch.get(2), scratch.get(3),
                           scratch.get(4), scratch.get(5)};
    const idx_t j1 = group_begin(p.ST, ng, g + 1);
    for (idx_t j = group_begin(p.ST, ng, g); j < j1; ++j) {
      general_item_stats<Stats, Mask>(p, A, j, w);
      if (!A.y) continue;
      if (Param::on_kept) {
        for (idx_t t = 0; t < Kin; ++t) {
          const idx_t k = Kin * j + t;
          w.C[t] = w.S[t] * (A.gamma ? A.gamma[k] : 1.0);
          w.D[t] = A.beta ? A.beta[k] : 0.0;
        }
      }
      general_pass_out(p, A, par, j, w);
    }
  });
}

}  // namespace normlayers

#endif
