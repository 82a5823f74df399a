// normlayers/policies.h: what varies between normalization layers, as types.
//
// A kernel is one of the path templates (rows / cols / general) instantiated
// with three policies, resolved at compile time:
//   Stats  what a statistic is: Centered (mean and variance; BatchNorm,
//          LayerNorm, GroupNorm, moments), MeanSquare (mean of squares; RMS
//          normalization), SumSquare (sum of squares with a floor; unit
//          normalization). Backward: BackBatch, BackFixed, BackRms, BackUnit.
//   Param  where gamma / beta (and their gradients) are indexed: on the
//          reduced positions (LayerNorm, RMS scale), on the kept positions
//          (BatchNorm), or on a channel inside a group (GroupNorm).
//   Mask   which values count: NoMask, or SkipNaN (moments with na_rm).
// To add a kernel policy, write a struct with the members its kind has here
// and instantiate the path templates with it in normlayers.h.
#ifndef NORMLAYERS_POLICIES_H
#define NORMLAYERS_POLICIES_H

#include "accumulate.h"
#include <cmath>

namespace normlayers {

// ---- Mask ---------------------------------------------------------------------

struct NoMask {
  static const bool skips = false;
  static bool keep(double) { return true; }
};

struct SkipNaN {
  static const bool skips = true;
  static bool keep(double v) { return !std::isnan(v); }
};

// ---- Stats (forward) ------------------------------------------------------------
// centered: two passes (mean, then deviations) or one (sum of squares).
// spread(m2, n): the statistic the scale is computed from (the variance, the
// mean of squares, or the sum of squares).
// inv(spread, eps, out, n): the per-position scale.

struct Centered {
  static const bool centered = true;
  static double spread(double m2, double n) { return m2 / n; }
  static void inv(const double* v, double eps, double* out, idx_t n) {
    inv_sqrt_eps(v, eps, out, n);
  }
};

struct MeanSquare {
  static const bool centered = false;
  static double spread(double ss, double n) { return ss / n; }
  static void inv(const double* v, double eps, double* out, idx_t n) {
    inv_sqrt_eps(v, eps, out, n);
  }
};

struct SumSquare {
  static const bool centered = false;
  static double spread(double ss, double) { return ss; }
  static void inv(const double* v, double eps, double* out, idx_t n) {
    inv_sqrt_floor(v, eps * eps, out, n);
  }
};

// ---- Stats (backward) -------------------------------------------------------------
// With xhat = (x - mean) * s (mean 0 when !centered) and g = dy * gamma:
//   project:  dx = s * (g - a1 - xhat * a2), a1 = f * sum(g) when sub_mean,
//             a2 = f * sum(g * xhat), f = 1 / count when by_count, else 1
//   otherwise dx = g * s (statistics are constants)
// floor_check: the scale came from a floor (sum(xhat^2) < 1), so it is a
// constant for that position.

template <bool C, bool SubMean, bool Project, bool ByCount, bool Floor>
struct BackStats {
  static const bool centered = C;
  static const bool sub_mean = SubMean;
  static const bool project = Project;
  static const bool by_count = ByCount;
  static const bool floor_check = Floor;
};

typedef BackStats<true, true, true, true, false> BackBatch;     // batch statistics
typedef BackStats<true, false, false, true, false> BackFixed;   // given statistics
typedef BackStats<false, false, true, true, false> BackRms;     // RMS normalization
typedef BackStats<false, false, true, false, true> BackUnit;    // unit normalization

// Below this sum of squared normalized values a unit-norm scale is the floor.
const double UNIT_FLOOR_CHECK = 1.0 - 1e-8;

// ---- Param ---------------------------------------------------------------------
// on_kept: one value per kept position. Otherwise index(k, r) gives the
// parameter of element (k, r), and col(j, l) the parameter of column j of
// slab l on PATH_ROWS ([kept a, reduced b, kept c]).

struct ParamReduced {
  static const bool on_kept = false;
  idx_t index(idx_t, idx_t r) const { return r; }
  idx_t col(idx_t j, idx_t) const { return j; }
  bool fits_rows(const Plan&) const { return true; }
  bool fits_cols() const { return true; }
};

struct ParamKept {
  static const bool on_kept = true;
  idx_t index(idx_t k, idx_t) const { return k; }
  idx_t col(idx_t, idx_t) const { return 0; }
  bool fits_rows(const Plan&) const { return true; }
  bool fits_cols() const { return true; }
};

// GroupNorm: the array is seen as [batch N (kept), inner (reduced),
// channel-in-group Cg (reduced), group G (kept), outer (reduced)]; the
// parameter of an element is its channel cg + Cg * g.
struct ParamChannel {
  static const bool on_kept = false;
  idx_t inner, cg, batch;
  idx_t index(idx_t k, idx_t r) const { return (r / inner) % cg + cg * (k / batch); }
  idx_t col(idx_t j, idx_t l) const { return j / inner + cg * l; }
  bool fits_rows(const Plan& p) const { return p.a == batch && p.b == inner * cg; }
  bool fits_cols() const { return false; }
};

}  // namespace normlayers

#endif
