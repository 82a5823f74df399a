// normlayers/accumulate.h: sums in a fixed order, two-pass moments and the
// one merge of partial moments (Chan, Golub and LeVeque's pairwise update).
#ifndef NORMLAYERS_ACCUMULATE_H
#define NORMLAYERS_ACCUMULATE_H

#include "schedule.h"
#include <cmath>
#include <limits>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#ifdef _OPENMP
#define NL_PRAGMA_(x) _Pragma(#x)
// element-wise loops only (no reductions): vectorizing them does not change
// any result
#define NL_SIMD NL_PRAGMA_(omp simd)
#define NL_SIMD_SUM2(a, b) NL_PRAGMA_(omp simd reduction(+ : a, b))
#define NL_SIMD_SUM4(a, b, c, d) NL_PRAGMA_(omp simd reduction(+ : a, b, c, d))
#else
#define NL_SIMD
#define NL_SIMD_SUM2(a, b)
#define NL_SIMD_SUM4(a, b, c, d)
#endif

namespace normlayers {

inline double nan_value() { return std::numeric_limits<double>::quiet_NaN(); }

// out[i] = 1 / sqrt(v[i] + eps). SSE2 sqrt and division are the correctly
// rounded IEEE operations, so the vector loop gives the same bits as the
// scalar one; it exists because a plain loop over std::sqrt is not
// vectorized (errno handling).
inline void inv_sqrt_eps(const double* v, double eps, double* out, idx_t n) {
  idx_t i = 0;
#if defined(__SSE2__)
  const __m128d e = _mm_set1_pd(eps), one = _mm_set1_pd(1.0);
  for (; i + 2 <= n; i += 2) {
    _mm_storeu_pd(out + i, _mm_div_pd(one, _mm_sqrt_pd(_mm_add_pd(_mm_loadu_pd(v + i), e))));
  }
#endif
  for (; i < n; ++i) out[i] = 1.0 / std::sqrt(v[i] + eps);
}

// out[i] = 1 / sqrt(max(v[i], floor)), NaN staying NaN; vectorized as
// inv_sqrt_eps() (maxpd(floor, v) is floor only when floor > v, so a NaN v
// passes through, as in the scalar tail).
inline void inv_sqrt_floor(const double* v, double floor, double* out, idx_t n) {
  idx_t i = 0;
#if defined(__SSE2__)
  const __m128d f = _mm_set1_pd(floor), one = _mm_set1_pd(1.0);
  for (; i + 2 <= n; i += 2) {
    _mm_storeu_pd(out + i, _mm_div_pd(one, _mm_sqrt_pd(_mm_max_pd(f, _mm_loadu_pd(v + i)))));
  }
#endif
  for (; i < n; ++i) out[i] = 1.0 / std::sqrt(floor > v[i] ? floor : v[i]);
}

// ---- two-pass moments of one partial ---------------------------------------
//
// A partial is summarized by its count n, the first-pass mean m1 (sum / n),
// and the sum d and sum of squares q of the deviations from m1. Its corrected
// mean is m1 + d / n and its sum of squared deviations from that mean
// q - d^2 / n (the first-order correction of the two-pass algorithm).

inline double corrected_m2(double n, double d, double q) {
  const double m2 = q - d * d / n;
  return m2 < 0 ? 0.0 : m2;  // NaN stays NaN
}

// population variance of a partial
inline double finish_var(double n, double d, double q) {
  return corrected_m2(n, d, q) / n;
}

// ---- the merge ---------------------------------------------------------------
//
// Running moments (n, mean, m2) absorb a partial (nb, mb, m2b):
//   delta = mb - mean, mean += delta * nb / n', m2 += m2b + delta^2 n nb / n'.
// Means are taken relative to a shift (the first partial's first-pass mean),
// so that delta is a difference of small, accurately known numbers even when
// the data sit far from zero.
struct Moments {
  double n, mean, m2;  // mean relative to the shift
};

inline void merge_moments(Moments& a, double nb, double mb, double m2b) {
  if (!(nb > 0)) return;
  const double nn = a.n + nb;
  const double d = mb - a.mean;
  a.mean += d * (nb / nn);
  a.m2 += m2b + d * d * (a.n * nb / nn);
  a.n = nn;
}

// A partial's corrected mean relative to `shift`.
inline double relative_mean(double m1, double n, double d, double shift) {
  return (m1 - shift) + d / n;
}

// ---- contiguous segments: a fixed 4-way accumulation pattern ---------------

template <class Mask>
inline void seg_sum(const double* x, idx_t n, double& s, double& c) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  if (!Mask::skips) {
    idx_t i = 0;
    for (; i + 4 <= n; i += 4) {
      a0 += x[i];
      a1 += x[i + 1];
      a2 += x[i + 2];
      a3 += x[i + 3];
    }
    for (; i < n; ++i) a0 += x[i];
    s += (a0 + a1) + (a2 + a3);
    c += static_cast<double>(n);
    return;
  }
  double cnt = 0;
  for (idx_t i = 0; i < n; ++i) {
    const double v = x[i];
    const bool ok = Mask::keep(v);
    a0 += ok ? v : 0.0;
    cnt += ok ? 1.0 : 0.0;
  }
  s += a0;
  c += cnt;
}

template <class Mask>
inline void seg_dev(const double* x, idx_t n, double m, double& sd, double& sdd) {
  if (!Mask::skips) {
    double d0 = 0, d1 = 0, q0 = 0, q1 = 0;
    idx_t i = 0;
    for (; i + 2 <= n; i += 2) {
      const double e0 = x[i] - m, e1 = x[i + 1] - m;
      d0 += e0;
      d1 += e1;
      q0 += e0 * e0;
      q1 += e1 * e1;
    }
    for (; i < n; ++i) {
      const double e = x[i] - m;
      d0 += e;
      q0 += e * e;
    }
    sd += d0 + d1;
    sdd += q0 + q1;
    return;
  }
  double d0 = 0, q0 = 0;
  for (idx_t i = 0; i < n; ++i) {
    const double v = x[i];
    const double e = Mask::keep(v) ? v - m : 0.0;
    d0 += e;
    q0 += e * e;
  }
  sd += d0;
  sdd += q0;
}

// ---- column sweeps over a block of rows --------------------------------------
//
// Element (ii, j) at x0[ii + stride * j]; four columns per pass over the row
// accumulators, (c0 + c1) + (c2 + c3): a fixed order.

// S[ii] += x(ii, j) for j in [j0, j1)
inline void sweep_sum(const double* x0, idx_t stride, idx_t rows, idx_t j0,
                      idx_t j1, double* S) {
  idx_t j = j0;
  for (; j + 4 <= j1; j += 4) {
    const double* c0 = x0 + stride * j;
    const double* c1 = c0 + stride;
    const double* c2 = c1 + stride;
    const double* c3 = c2 + stride;
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) S[ii] += (c0[ii] + c1[ii]) + (c2[ii] + c3[ii]);
  }
  for (; j < j1; ++j) {
    const double* c0 = x0 + stride * j;
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) S[ii] += c0[ii];
  }
}

// D[ii] += sum of e, Q[ii] += sum of e^2 with e = x(ii, j) - M[ii], j in
// [j0, j1); optionally prefetches the same columns of the next block.
inline void sweep_dev(const double* x0, idx_t stride, idx_t rows, idx_t j0,
                      idx_t j1, const double* M, double* D, double* Q,
                      const double* next = nullptr, idx_t next_rows = 0) {
  idx_t j = j0;
  for (; j + 4 <= j1; j += 4) {
    const double* c0 = x0 + stride * j;
    const double* c1 = c0 + stride;
    const double* c2 = c1 + stride;
    const double* c3 = c2 + stride;
    if (next) {
      for (idx_t u = 0; u < 4; ++u) prefetch_rows(next + stride * (j + u), next_rows);
    }
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) {
      const double m = M[ii];
      const double e0 = c0[ii] - m, e1 = c1[ii] - m, e2 = c2[ii] - m, e3 = c3[ii] - m;
      D[ii] += (e0 + e1) + (e2 + e3);
      Q[ii] += (e0 * e0 + e1 * e1) + (e2 * e2 + e3 * e3);
    }
  }
  for (; j < j1; ++j) {
    const double* c0 = x0 + stride * j;
    if (next) prefetch_rows(next + stride * j, next_rows);
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) {
      const double e = c0[ii] - M[ii];
      D[ii] += e;
      Q[ii] += e * e;
    }
  }
}

// Q[ii] += sum of x(ii, j)^2, j in [j0, j1) (uncentered statistics)
inline void sweep_sq(const double* x0, idx_t stride, idx_t rows, idx_t j0,
                     idx_t j1, double* Q, const double* next = nullptr,
                     idx_t next_rows = 0) {
  idx_t j = j0;
  for (; j + 4 <= j1; j += 4) {
    const double* c0 = x0 + stride * j;
    const double* c1 = c0 + stride;
    const double* c2 = c1 + stride;
    const double* c3 = c2 + stride;
    if (next) {
      for (idx_t u = 0; u < 4; ++u) prefetch_rows(next + stride * (j + u), next_rows);
    }
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) {
      Q[ii] += (c0[ii] * c0[ii] + c1[ii] * c1[ii]) + (c2[ii] * c2[ii] + c3[ii] * c3[ii]);
    }
  }
  for (; j < j1; ++j) {
    const double* c0 = x0 + stride * j;
    if (next) prefetch_rows(next + stride * j, next_rows);
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) Q[ii] += c0[ii] * c0[ii];
  }
}

}  // namespace normlayers

#endif
