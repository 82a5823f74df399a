// normlayers/backward_general.h: the backward pass on PATH_GENERAL, item by
// item; every layout and policy combination can run here.
#ifndef NORMLAYERS_BACKWARD_GENERAL_H
#define NORMLAYERS_BACKWARD_GENERAL_H

#include "backward_rows.h"

namespace normlayers {

// Scratch of one item (Kin values each).
struct BackItem {
  double *Sg, *Sgx, *Dg, *Db, *Sxx;
};

// Pass 1 over item j: per-position Sg, Sgx, Sxx and the parameter sums (per
// kept position into Dg / Db, otherwise into the group partials PG / PB).
template <class BS, class Param>
inline void back_general_sums(const Plan& p, const BackArgs& A, const Param& par, idx_t j,
                              const BackItem& w, double* PG, double* PB) {
  for_each_item_line(p, j, [&](idx_t off, idx_t kb, idx_t rb) {
    const double* xp = A.x + off;
    const double* dp = A.dy + off;
    for (idx_t i = 0; i < p.len0; ++i) {
      const idx_t t = p.red0 ? kb : kb + i;
      const idx_t k = p.Kin * j + t;
      const idx_t q = par.index(k, p.red0 ? rb + i : rb);
      const double xh = (xp[i] - (BS::centered ? A.mean[k] : 0.0)) * A.rstd[k];
      const double d = dp[i];
      const double gg = d * (A.gamma ? A.gamma[q] : 1.0);
      w.Sg[t] += gg;
      w.Sgx[t] += gg * xh;
      if (BS::floor_check) w.Sxx[t] += xh * xh;
      if (Param::on_kept) {
        w.Dg[t] += d * xh;
        w.Db[t] += d;
      } else {
        PG[q] += d * xh;
        PB[q] += d;
      }
    }
  });
}

// Pass 2 over item j: dx.
template <class BS, class Param>
inline void back_general_dx(const Plan& p, const BackArgs& A, const Param& par, idx_t j,
                            const BackItem& w) {
  for_each_item_line(p, j, [&](idx_t off, idx_t kb, idx_t rb) {
    const double* xp = A.x + off;
    const double* dp = A.dy + off;
    double* op = A.dx + off;
    for (idx_t i = 0; i < p.len0; ++i) {
      const idx_t t = p.red0 ? kb : kb + i;
      const idx_t k = p.Kin * j + t;
      const idx_t q = par.index(k, p.red0 ? rb + i : rb);
      const double gg = dp[i] * (A.gamma ? A.gamma[q] : 1.0);
      const double rs = A.rstd[k];
      if (BS::project) {
        const double xh = (xp[i] - (BS::centered ? A.mean[k] : 0.0)) * rs;
        op[i] = rs * (gg - w.Sg[t] - xh * w.Sgx[t]);
      } else {
        op[i] = gg * rs;
      }
    }
  });
}

template <class BS, class Param>
inline void back_general_item(const Plan& p, const BackArgs& A, const Param& par, idx_t j,
                              const BackItem& w, double* PG, double* PB) {
  const idx_t Kin = p.Kin;
  const double invR = 1.0 / static_cast<double>(p.R);
  for (idx_t t = 0; t < Kin; ++t) w.Sg[t] = w.Sgx[t] = w.Dg[t] = w.Db[t] = w.Sxx[t] = 0;
  back_general_sums<BS>(p, A, par, j, w, PG, PB);
  for (idx_t t = 0; t < Kin; ++t) {
    const idx_t k = Kin * j + t;
    if (Param::on_kept) {
      if (A.dgamma) A.dgamma[k] = w.Dg[t];
      if (A.dbeta) A.dbeta[k] = w.Db[t];
    }
    back_coefficients<BS>(w.Sg[t], w.Sgx[t], w.Sxx[t], invR);
  }
  back_general_dx<BS>(p, A, par, j, w);
}

template <class BS, class Param>
inline void backward_general(const Plan& p, const BackArgs& A, const Param& par, int nthr) {
  const idx_t ng = general_groups(p);
  const idx_t P = A.nparam;
  ThreadScratch scratch(nthr, 5, p.Kin);
  std::vector<double> part;
  if (!Param::on_kept) part.assign(static_cast<std::size_t>(ng) * 2 * P, 0.0);
  parallel_for(nthr, ng, [&](idx_t g) {
    const BackItem w = {scratch.get(0), scratch.get(1), scratch.get(2), scratch.get(3),
                        scratch.get(4)};
    double* PG = Param::on_kept ? nullptr : &part[static_cast<std::size_t>(g) * 2 * P];
    double* PB = Param::on_kept ? nullptr : PG + P;
    const idx_t j1 = group_begin(p.ST, ng, g + 1);
    for (idx_t j = group_begin(p.ST, ng, g); j < j1; ++j) {
      back_general_item<BS>(p, A, par, j, w, PG, PB);
    }
  });
  if (!Param::on_kept) merge_group_partials(part, ng, P, A.dgamma, A.dbeta);
}

}  // namespace normlayers

#endif
