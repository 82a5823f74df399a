// normlayers/normlayers.h: the kernel library's entry points (R-free,
// header-only). Every kernel takes a Plan (layout.h), raw pointers and a
// requested thread count, and dispatches a path template (rows, cols or
// general) instantiated with its policies (policies.h).
//
//   layout.h           Plan: the run collapse and the path of a layout
//   schedule.h         threads, parallel_for, scratch, blocks and chunks
//   accumulate.h       fixed-order sums, two-pass moments, the moments merge
//   policies.h         Stats / Param / Mask policies
//   forward_rows.h     statistics + output, PATH_ROWS
//   forward_cols.h     statistics + output, PATH_COLS
//   forward_general.h  statistics + output, PATH_GENERAL
//   apply.h            output from given statistics, every path
//   backward_rows.h    backward, PATH_ROWS
//   backward_cols.h    backward, PATH_COLS (kept parameters)
//   backward_general.h backward, PATH_GENERAL
#ifndef NORMLAYERS_NORMLAYERS_H
#define NORMLAYERS_NORMLAYERS_H

#include "apply.h"
#include "backward_cols.h"
#include "backward_general.h"

namespace normlayers {

// Statistics of an empty reduction: NaN mean and spread (0 and the floor for
// uncentered ones), count 0.
template <class Stats>
inline void forward_empty(const Plan& p, const FwdArgs& A) {
  const double m = Stats::centered ? nan_value() : 0.0;
  const double v = Stats::spread(m, 0.0);
  double s;
  Stats::inv(&v, A.eps, &s, 1);
  for (idx_t k = 0; k < p.K; ++k) {
    if (A.mean) A.mean[k] = m;
    if (A.var) A.var[k] = v;
    if (A.rstd) A.rstd[k] = s;
    if (A.count) A.count[k] = 0;
    if (A.shift_out) A.shift_out[k] = A.shift ? A.shift[k] : 0.0;
  }
}

// The path a kernel with parameter policy `par` runs on.
template <class Param>
inline PathKind path_of(const Plan& p, const Param& par) {
  if (p.kind == PATH_ROWS && par.fits_rows(p)) return PATH_ROWS;
  if (p.kind == PATH_COLS && par.fits_cols()) return PATH_COLS;
  return PATH_GENERAL;
}

template <class Stats, class Param, class Mask>
inline void forward(const Plan& p, const FwdArgs& A, const Param& par, int threads) {
  if (p.n == 0) {
    forward_empty<Stats>(p, A);
    return;
  }
  const int nthr = effective_threads(p.n, threads);
  switch (path_of(p, par)) {
    case PATH_ROWS: forward_rows<Stats, Param, Mask>(p, A, par, nthr); break;
    case PATH_COLS: forward_cols<Stats, Param, Mask>(p, A, nthr); break;
    default:
      if (p.kind == PATH_GENERAL) forward_general<Stats, Param, Mask>(p, A, par, nthr);
      else forward_general<Stats, Param, Mask>(general_plan(p), A, par, nthr);
  }
}

template <class Param>
inline void apply_with(const Plan& p, const ApplyArgs& A, const Param& par, int threads) {
  if (p.n == 0) return;
  const int nthr = effective_threads(p.n, threads);
  switch (path_of(p, par)) {
    case PATH_ROWS: apply_rows(p, A, par, nthr); break;
    case PATH_COLS: apply_cols<Param>(p, A, nthr); break;
    default:
      if (p.kind == PATH_GENERAL) apply_general(p, A, par, nthr);
      else apply_general(general_plan(p), A, par, nthr);
  }
}

template <class BS, class Param>
inline void backward(const Plan& p, const BackArgs& A, const Param& par, int threads) {
  if (p.n == 0) {
    for (idx_t q = 0; q < A.nparam; ++q) {
      if (A.dgamma) A.dgamma[q] = 0;
      if (A.dbeta) A.dbeta[q] = 0;
    }
    return;
  }
  const int nthr = effective_threads(p.n, threads);
  const PathKind path = path_of(p, par);
  if (path == PATH_ROWS) {
    backward_rows<BS>(p, A, par, nthr);
  } else if (path == PATH_COLS && Param::on_kept && BS::centered) {
    backward_cols<BS>(p, A, nthr);
  } else if (p.kind == PATH_GENERAL) {
    backward_general<BS>(p, A, par, nthr);
  } else {
    backward_general<BS>(general_plan(p), A, par, nthr);
  }
}

// ---- the kernels -------------------------------------------------------------

// Population moments, the mean written relative to a shift (see FwdArgs): shift[k] when
// given, otherwise the first-pass mean, written to shift_out.
inline void moments_shifted(const Plan& p, const double* x, bool na_rm, const double* shift,
                            double* mean, double* var, double* count, double* shift_out,
                            int threads) {
  const FwdArgs A = {x, 0.0, nullptr, nullptr, nullptr, mean, var, nullptr, count,
                     shift, shift_out};
  if (na_rm) forward<Centered, ParamKept, SkipNaN>(p, A, ParamKept(), threads);
  else forward<Centered, ParamKept, NoMask>(p, A, ParamKept(), threads);
}

// Population moments per kept position (NaN skipped with na_rm).
inline void moments(const Plan& p, const double* x, bool na_rm, double* mean, double* var,
                    double* count, int threads) {
  moments_shifted(p, x, na_rm, nullptr, mean, var, count, nullptr, threads);
}

// y = (x - center[k]) * (scale[k] * gamma[q]) + beta[q], q kept or reduced.
inline void apply(const Plan& p, const ApplyArgs& A, bool param_kept, int threads) {
  if (param_kept) apply_with(p, A, ParamKept(), threads);
  else apply_with(p, A, ParamReduced(), threads);
}

// LayerNormalization forward: gamma / beta reduced-indexed.
inline void layer_norm(const Plan& p, const FwdArgs& A, int threads) {
  forward<Centered, ParamReduced, NoMask>(p, A, ParamReduced(), threads);
}

// BatchNormalization training forward: gamma / beta kept-indexed.
inline void batch_norm_train(const Plan& p, const FwdArgs& A, int threads) {
  forward<Centered, ParamKept, NoMask>(p, A, ParamKept(), threads);
}

// Backward of LayerNorm / BatchNorm: batch or given statistics.
inline void norm_backward(const Plan& p, const BackArgs& A, bool param_kept, bool batch,
                          int threads) {
  if (param_kept && batch) backward<BackBatch>(p, A, ParamKept(), threads);
  else if (param_kept) backward<BackFixed>(p, A, ParamKept(), threads);
  else if (batch) backward<BackBatch>(p, A, ParamReduced(), threads);
  else backward<BackFixed>(p, A, ParamReduced(), threads);
}

// RMS normalization: s = 1 / sqrt(mean(x^2) + eps), y = x * s * scale[r].
inline void rms_norm(const Plan& p, const FwdArgs& A, int threads) {
  forward<MeanSquare, ParamReduced, NoMask>(p, A, ParamReduced(), threads);
}

inline void rms_backward(const Plan& p, const BackArgs& A, int threads) {
  backward<BackRms>(p, A, ParamReduced(), threads);
}

// Unit normalization: s = 1 / sqrt(max(sum(x^2), eps^2)), y = x * s.
inline void unit_norm(const Plan& p, const FwdArgs& A, int threads) {
  forward<SumSquare, ParamReduced, NoMask>(p, A, ParamReduced(), threads);
}

inline void unit_backward(const Plan& p, const BackArgs& A, int threads) {
  backward<BackUnit>(p, A, ParamReduced(), threads);
}

// GroupNormalization (plan over [N, inner, Cg, G, outer] with the inner,
// Cg and outer axes reduced): per-channel gamma / beta.
inline void group_norm(const Plan& p, const ParamChannel& par, const FwdArgs& A,
                       int threads) {
  forward<Centered, ParamChannel, NoMask>(p, A, par, threads);
}

inline void group_backward(const Plan& p, const ParamChannel& par, const BackArgs& A,
                           int threads) {
  backward<BackBatch>(p, A, par, threads);
}

}  // namespace normlayers

#endif
