// normlayers: R-free normalization kernels on column-major double arrays.
//
// Every kernel takes a Plan (see normlayers_layout.h), raw pointers and a
// requested thread count. Optional inputs are nullptr (gamma = 1, beta = 0,
// center = 0). Statistics use double accumulation and a two-pass population
// variance (sum of squared deviations from the mean, with the usual
// first-order correction). The work is split into blocks whose boundaries
// depend on the shape only; every statistic is accumulated by one thread in
// a fixed order, so results are bit-identical for any thread count.
#ifndef NORMLAYERS_KERNELS_H
#define NORMLAYERS_KERNELS_H

#include "normlayers_layout.h"
#include <cmath>
#include <limits>
#include <algorithm>
#include <vector>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#ifdef _OPENMP
#define NL_PRAGMA_(x) _Pragma(#x)
#define NL_PARALLEL_FOR NL_PRAGMA_(omp parallel for num_threads(nthr) schedule(static))
// element-wise loops only (no reductions): vectorizing them does not change
// any result
#define NL_SIMD NL_PRAGMA_(omp simd)
#define NL_SIMD_SUM2(a, b) NL_PRAGMA_(omp simd reduction(+ : a, b))
#define NL_SIMD_SUM4(a, b, c, d) NL_PRAGMA_(omp simd reduction(+ : a, b, c, d))
#else
#define NL_SIMD
#define NL_SIMD_SUM2(a, b)
#define NL_SIMD_SUM4(a, b, c, d)
#define NL_PARALLEL_FOR (void) nthr;
#endif

namespace normlayers {

inline double nan_value() { return std::numeric_limits<double>::quiet_NaN(); }

// Per-thread scratch: `arrays` vectors of B doubles for each of nthr threads,
// allocated once per call (B is a block of rows or the kept positions of an
// item, so this is O(rows) memory).
class ThreadScratch {
 public:
  ThreadScratch(int nthr, int arrays, idx_t B)
      : B_(B), arrays_(arrays),
        buf_(static_cast<std::size_t>(nthr) * arrays * static_cast<std::size_t>(B)) {}
  // array k of the calling thread
  double* get(int k) {
    return &buf_[(static_cast<std::size_t>(thread_index()) * arrays_ + k) *
                 static_cast<std::size_t>(B_)];
  }

 private:
  idx_t B_;
  int arrays_;
  std::vector<double> buf_;
};

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

// variance from a count, the sum of deviations and sum of squared deviations
inline double finish_var(double cnt, double sd, double sdd) {
  double v = (sdd - sd * sd / cnt) / cnt;
  return v < 0 ? 0.0 : v;  // NaN stays NaN
}

// ---------------------------------------------------------------------------
// contiguous helpers with a fixed 4-way accumulation pattern

template <bool NA>
inline void seg_sum(const double* x, idx_t n, double& s, double& c) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  if (!NA) {
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
  } else {
    double cnt = 0;
    for (idx_t i = 0; i < n; ++i) {
      const double v = x[i];
      const bool ok = !std::isnan(v);
      a0 += ok ? v : 0.0;
      cnt += ok ? 1.0 : 0.0;
    }
    s += a0;
    c += cnt;
  }
}

template <bool NA>
inline void seg_dev(const double* x, idx_t n, double m, double& sd, double& sdd) {
  if (!NA) {
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
  } else {
    double d0 = 0, q0 = 0;
    for (idx_t i = 0; i < n; ++i) {
      const double v = x[i];
      const double e = std::isnan(v) ? 0.0 : v - m;
      d0 += e;
      q0 += e * e;
    }
    sd += d0;
    sdd += q0;
  }
}

// ---------------------------------------------------------------------------
// Statistics + optional normalized output ("normalize").
//
// Computes per kept position: mean, var (population), count. If y != nullptr
// also writes y = (x - mean) * (rstd * gamma[p]) + beta[p] with
// rstd = 1 / sqrt(var + eps) and p the kept index (param_kept) or the
// reduced index. rstd_out / var_out / count_out may be nullptr, and so may
// mean except on PATH_COLS (which reads it back for the output).

struct NormArgs {
  const double* x;
  bool na_rm;
  double eps;
  const double* gamma;
  const double* beta;
  bool param_kept;
  double* y;
  double* mean;
  double* var;
  double* rstd;
  double* count;
};

// ---- PATH_ROWS ------------------------------------------------------------

// Ask the cache to fetch `rows` contiguous doubles at p (the column of the
// next block) while the current block is processed from cache.
inline void prefetch_rows(const double* p, idx_t rows) {
#if defined(__GNUC__)
  if (!p) return;
  for (idx_t ii = 0; ii < rows; ii += 8) __builtin_prefetch(p + ii, 0, 3);
#else
  (void) p;
  (void) rows;
#endif
}

// Offset and row count of PATH_ROWS block `it` (blocks of B rows, nb per slab)
inline void rows_item(const Plan& p, idx_t B, idx_t nb, idx_t it, idx_t& off,
                      idx_t& k0, idx_t& rows) {
  const idx_t l = it / nb;
  const idx_t i0 = (it - l * nb) * B;
  rows = (p.a - i0 < B) ? p.a - i0 : B;
  off = i0 + p.a * p.b * l;
  k0 = i0 + p.a * l;
}

// Column sweeps over a block of `rows` rows (element (ii, j) at
// x0[ii + stride * j]), four columns per pass over the row accumulators:
// (c0 + c1) + (c2 + c3), a fixed order.
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

// Row statistics of a cached block: mean M, population variance V and count
// C per row, two passes over the block (S is scratch).
template <bool NA>
inline void rows_block_stats(const double* x0, idx_t stride, idx_t rows,
                             idx_t cols, double* S, double* C, double* M,
                             double* V, const double* next, idx_t next_rows) {
  NL_SIMD
  for (idx_t ii = 0; ii < rows; ++ii) {
    S[ii] = 0;
    C[ii] = NA ? 0.0 : static_cast<double>(cols);
  }
  if (!NA) {
    sweep_sum(x0, stride, rows, 0, cols, S);
  } else {
    for (idx_t j = 0; j < cols; ++j) {
      const double* col = x0 + stride * j;
      NL_SIMD
      for (idx_t ii = 0; ii < rows; ++ii) {
        const double v = col[ii];
        const bool ok = !std::isnan(v);
        S[ii] += ok ? v : 0.0;
        C[ii] += ok ? 1.0 : 0.0;
      }
    }
  }
  NL_SIMD
  for (idx_t ii = 0; ii < rows; ++ii) {
    M[ii] = S[ii] / C[ii];
    S[ii] = 0;  // reused: sum of deviations
    V[ii] = 0;  // sum of squared deviations
  }
  if (!NA) {
    sweep_dev(x0, stride, rows, 0, cols, M, S, V, next, next_rows);
  } else {
    for (idx_t j = 0; j < cols; ++j) {
      const double* col = x0 + stride * j;
      NL_SIMD
      for (idx_t ii = 0; ii < rows; ++ii) {
        const double v = col[ii];
        const double e = std::isnan(v) ? 0.0 : v - M[ii];
        S[ii] += e;
        V[ii] += e * e;
      }
    }
  }
  NL_SIMD
  for (idx_t ii = 0; ii < rows; ++ii) V[ii] = finish_var(C[ii], S[ii], V[ii]);
}

// Row statistics of a streamed block (no missing values): the columns are
// taken in panels of P that stay in cache; each panel gets its own two-pass
// mean and sum of squared deviations, merged into the running ones panel by
// panel in column order (Chan, Golub and LeVeque's pairwise update). S, D, Q
// are scratch.
inline void rows_block_stats_panels(const double* x0, idx_t stride, idx_t rows,
                                    idx_t cols, idx_t P, double* S, double* C,
                                    double* M, double* V, double* D, double* Q) {
  NL_SIMD
  for (idx_t ii = 0; ii < rows; ++ii) {
    M[ii] = 0;
    V[ii] = 0;
  }
  double n = 0;
  for (idx_t j0 = 0; j0 < cols; j0 += P) {
    const idx_t j1 = (cols - j0 < P) ? cols : j0 + P;
    const double np = static_cast<double>(j1 - j0);
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) S[ii] = 0;
    sweep_sum(x0, stride, rows, j0, j1, S);
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) {
      S[ii] = S[ii] / np;  // panel mean
      D[ii] = 0;
      Q[ii] = 0;
    }
    sweep_dev(x0, stride, rows, j0, j1, S, D, Q);
    const double nn = n + np;
    const double w = np / nn, w2 = n * np / nn;
    NL_SIMD
    for (idx_t ii = 0; ii < rows; ++ii) {
      double m2 = Q[ii] - D[ii] * D[ii] / np;
      m2 = m2 < 0 ? 0.0 : m2;
      const double d = S[ii] - M[ii];
      M[ii] += d * w;
      V[ii] += m2 + d * d * w2;
    }
    n = nn;
  }
  NL_SIMD
  for (idx_t ii = 0; ii < rows; ++ii) {
    C[ii] = n;
    V[ii] = V[ii] / n;
  }
}

// Output of a block given per-row center and scale.
//   param reduced: y = (x - cen[ii]) * (sc[ii] * gamma[j]) + beta[j]
//   param kept:    y = (x - cen[ii]) * mult[ii] + shift[ii] (precomputed)
// Two columns per sweep share the loads of the per-row values.
inline void rows_block_out_red(const double* x0, double* y0, idx_t stride,
                               idx_t rows, idx_t cols, const double* cen,
                               const double* sc, const double* gamma,
                               const double* beta, const double* next = nullptr,
                               idx_t next_rows = 0) {
  idx_t j = 0;
  if (cen) {
    for (; j + 2 <= cols; j += 2) {
      const double* xa = x0 + stride * j;
      const double* xb = xa + stride;
      double* ya = y0 + stride * j;
      double* yb = ya + stride;
      if (next) {
        prefetch_rows(next + stride * j, next_rows);
        prefetch_rows(next + stride * (j + 1), next_rows);
      }
      const double ga = gamma ? gamma[j] : 1.0, gb = gamma ? gamma[j + 1] : 1.0;
      const double ba = beta ? beta[j] : 0.0, bb = beta ? beta[j + 1] : 0.0;
      NL_SIMD
      for (idx_t ii = 0; ii < rows; ++ii) {
        const double c = cen[ii], r = sc[ii];
        ya[ii] = (xa[ii] - c) * (r * ga) + ba;
        yb[ii] = (xb[ii] - c) * (r * gb) + bb;
      }
    }
  }
  for (; j < cols; ++j) {
    const double* xc = x0 + stride * j;
    if (next) prefetch_rows(next + stride * j, next_rows);
    double* yc = y0 + stride * j;
    const double gj = gamma ? gamma[j] : 1.0;
    const double bj = beta ? beta[j] : 0.0;
    if (cen) {
      NL_SIMD
      for (idx_t ii = 0; ii < rows; ++ii) yc[ii] = (xc[ii] - cen[ii]) * (sc[ii] * gj) + bj;
    } else {
      NL_SIMD
      for (idx_t ii = 0; ii < rows; ++ii) yc[ii] = xc[ii] * (sc[ii] * gj) + bj;
    }
  }
}

inline void rows_block_out_kept(const double* x0, double* y0, idx_t stride,
                                idx_t rows, idx_t cols, const double* cen,
                                const double* mult, const double* shift,
                                const double* next = nullptr,
                                idx_t next_rows = 0) {
  for (idx_t j = 0; j < cols; ++j) {
    const double* xc = x0 + stride * j;
    if (next) prefetch_rows(next + stride * j, next_rows);
    double* yc = y0 + stride * j;
    if (cen) {
      NL_SIMD
      for (idx_t ii = 0; ii < rows; ++ii) yc[ii] = (xc[ii] - cen[ii]) * mult[ii] + shift[ii];
    } else {
      NL_SIMD
      for (idx_t ii = 0; ii < rows; ++ii) yc[ii] = xc[ii] * mult[ii] + shift[ii];
    }
  }
}

template <bool NA>
inline void normalize_rows(const Plan& p, const NormArgs& A, int nthr) {
  const idx_t a = p.a, b = p.b, c = p.c;
  const idx_t B = rows_block(p);
  const idx_t nb = (a + B - 1) / B;
  const idx_t items = nb * c;
  // streamed blocks are too large to prefetch, and without missing values
  // their statistics are taken panel by panel
  const bool streamed = rows_streamed(p);
  const bool panels = streamed && !NA;
  const idx_t P = rows_panel(B);
  ThreadScratch scratch(nthr, panels ? 6 : 4, B);
  NL_PARALLEL_FOR
  for (idx_t it = 0; it < items; ++it) {
    double* S = scratch.get(0);
    double* C = scratch.get(1);
    double* M = scratch.get(2);
    double* V = scratch.get(3);
    idx_t off, k0, rows, noff = 0, nk0, nrows = 0;
    rows_item(p, B, nb, it, off, k0, rows);
    if (it + 1 < items && !streamed) rows_item(p, B, nb, it + 1, noff, nk0, nrows);
    if (panels) {
      rows_block_stats_panels(A.x + off, a, rows, b, P, S, C, M, V, scratch.get(4),
                              scratch.get(5));
    } else {
      rows_block_stats<NA>(A.x + off, a, rows, b, S, C, M, V,
                           nrows ? A.x + noff : nullptr, nrows);
    }
    if (A.mean) std::copy(M, M + rows, A.mean + k0);
    if (A.var) std::copy(V, V + rows, A.var + k0);
    if (A.count) std::copy(C, C + rows, A.count + k0);
    inv_sqrt_eps(V, A.eps, S, rows);  // S = rstd
    if (A.rstd) std::copy(S, S + rows, A.rstd + k0);
    if (A.y) {
      if (!A.param_kept) {
        rows_block_out_red(A.x + off, A.y + off, a, rows, b, M, S, A.gamma, A.beta);
      } else {
        NL_SIMD
        for (idx_t ii = 0; ii < rows; ++ii) {
          C[ii] = S[ii] * (A.gamma ? A.gamma[k0 + ii] : 1.0);
          V[ii] = A.beta ? A.beta[k0 + ii] : 0.0;
        }
        rows_block_out_kept(A.x + off, A.y + off, a, rows, b, M, C, V);
      }
    }
  }
}

// ---- PATH_COLS ------------------------------------------------------------

// Rows [r0, r1) of chunk `it` of column j (nq chunks of COLS_CHUNK per column).
inline void chunk_bounds(idx_t it, idx_t j, idx_t nq, idx_t R, idx_t& r0, idx_t& r1) {
  r0 = (it - j * nq) * COLS_CHUNK;
  r1 = (R - r0 < COLS_CHUNK) ? R : r0 + COLS_CHUNK;
}

// Per-chunk statistics: sum, count, and sum of squared deviations from the
// chunk mean; merged per column in chunk order.
template <bool NA>
inline void cols_chunk_stats(const Plan& p, const double* x, idx_t j, idx_t r0,
                             idx_t r1, double& s, double& cnt, double& m2) {
  s = 0;
  cnt = 0;
  for_each_piece(p, j, r0, r1, [&](idx_t off, idx_t len, idx_t) {
    seg_sum<NA>(x + off, len, s, cnt);
  });
  const double mc = s / cnt;
  double sd = 0, sdd = 0;
  if (cnt > 0) {
    for_each_piece(p, j, r0, r1, [&](idx_t off, idx_t len, idx_t) {
      seg_dev<NA>(x + off, len, mc, sd, sdd);
    });
    m2 = sdd - sd * sd / cnt;
    if (m2 < 0) m2 = 0;
  } else {
    m2 = 0;
  }
}

inline void cols_merge(const double* s, const double* cnt, const double* m2,
                       idx_t nq, double& mean, double& var, double& count) {
  double tot = 0, n = 0;
  for (idx_t q = 0; q < nq; ++q) {
    tot += s[q];
    n += cnt[q];
  }
  mean = tot / n;
  double acc = 0;
  for (idx_t q = 0; q < nq; ++q) {
    if (cnt[q] > 0) {
      const double dm = s[q] / cnt[q] - mean;
      acc += m2[q] + cnt[q] * dm * dm;
    }
  }
  var = acc / n;
  count = n;
}

// y for reduced range [r0, r1) of column j
inline void cols_chunk_out(const Plan& p, const double* x, double* y, idx_t j,
                           idx_t r0, idx_t r1, double cen, double sc,
                           const double* gamma, const double* beta,
                           bool param_kept) {
  if (param_kept) {
    const double mult = sc * (gamma ? gamma[j] : 1.0);
    const double sh = beta ? beta[j] : 0.0;
    for_each_piece(p, j, r0, r1, [&](idx_t off, idx_t len, idx_t) {
      const double* xp = x + off;
      double* yp = y + off;
      NL_SIMD
      for (idx_t i = 0; i < len; ++i) yp[i] = (xp[i] - cen) * mult + sh;
    });
  } else {
    for_each_piece(p, j, r0, r1, [&](idx_t off, idx_t len, idx_t r) {
      const double* xp = x + off;
      double* yp = y + off;
      const double* gp = gamma ? gamma + r : nullptr;
      const double* bp = beta ? beta + r : nullptr;
      NL_SIMD
      for (idx_t i = 0; i < len; ++i) {
        yp[i] = (xp[i] - cen) * (sc * (gp ? gp[i] : 1.0)) + (bp ? bp[i] : 0.0);
      }
    });
  }
}

// Column-at-a-time processing keeps a column (of `arrays` input arrays) in
// the last-level cache between its statistics and its output; it needs at
// least one column per thread.
inline bool cols_fused(const Plan& p, int nthr, idx_t arrays = 1) {
  return p.b >= nthr && p.R * static_cast<idx_t>(nthr) * arrays <= (idx_t(3) << 20);
}

// Runs the three phases of a PATH_COLS kernel over K columns of nq chunks:
// first(chunk), finish(column), then second(chunk) when `second_pass`. Fused,
// a thread takes whole columns; otherwise each phase is a loop of its own. The
// arithmetic is the same either way.
template <class F1, class FC, class F2>
inline void cols_schedule(idx_t K, idx_t nq, bool fused, bool second_pass, int nthr,
                          F1&& first, FC&& finish, F2&& second) {
  const idx_t items = K * nq;
  if (fused) {
    NL_PARALLEL_FOR
    for (idx_t j = 0; j < K; ++j) {
      for (idx_t q = 0; q < nq; ++q) first(j * nq + q);
      finish(j);
      if (second_pass) {
        for (idx_t q = 0; q < nq; ++q) second(j * nq + q);
      }
    }
    return;
  }
  NL_PARALLEL_FOR
  for (idx_t it = 0; it < items; ++it) first(it);
  for (idx_t j = 0; j < K; ++j) finish(j);
  if (second_pass) {
    NL_PARALLEL_FOR
    for (idx_t it = 0; it < items; ++it) second(it);
  }
}

template <bool NA>
inline void normalize_cols(const Plan& p, const NormArgs& A, int nthr) {
  const idx_t K = p.b, R = p.R;
  const idx_t nq = (R + COLS_CHUNK - 1) / COLS_CHUNK;
  const idx_t items = K * nq;
  std::vector<double> cs(items), cc(items), cm(items), rs(K);
  // statistics of chunk `it`, merge of column j, output of chunk `it`; the
  // arithmetic is the same whichever schedule below runs it
  auto chunk_stats = [&](idx_t it) {
    const idx_t j = it / nq;
    idx_t r0, r1;
    chunk_bounds(it, j, nq, R, r0, r1);
    cols_chunk_stats<NA>(p, A.x, j, r0, r1, cs[it], cc[it], cm[it]);
  };
  auto column_finish = [&](idx_t j) {
    double mean, var, cnt;
    cols_merge(&cs[j * nq], &cc[j * nq], &cm[j * nq], nq, mean, var, cnt);
    A.mean[j] = mean;
    if (A.var) A.var[j] = var;
    if (A.count) A.count[j] = cnt;
    rs[j] = 1.0 / std::sqrt(var + A.eps);
    if (A.rstd) A.rstd[j] = rs[j];
  };
  auto chunk_out = [&](idx_t it) {
    const idx_t j = it / nq;
    idx_t r0, r1;
    chunk_bounds(it, j, nq, R, r0, r1);
    cols_chunk_out(p, A.x, A.y, j, r0, r1, A.mean[j], rs[j], A.gamma, A.beta,
                   A.param_kept);
  };
  cols_schedule(K, nq, A.y && cols_fused(p, nthr), A.y != nullptr, nthr, chunk_stats,
                column_finish, chunk_out);
}

// ---- PATH_GENERAL ---------------------------------------------------------

template <bool NA>
inline void normalize_general(const Plan& p, const NormArgs& A, int nthr) {
  const idx_t Kin = p.Kin;
  const idx_t ng = general_groups(p);
  ThreadScratch scratch(nthr, 5, Kin);
  NL_PARALLEL_FOR
  for (idx_t g = 0; g < ng; ++g) {
    double* S = scratch.get(0);
    double* C = scratch.get(1);
    double* M = scratch.get(2);
    double* V = scratch.get(3);
    double* Q = scratch.get(4);
    const idx_t j0 = group_begin(p.ST, ng, g), j1 = group_begin(p.ST, ng, g + 1);
    for (idx_t j = j0; j < j1; ++j) {
      for (idx_t t = 0; t < Kin; ++t) {
        S[t] = 0;
        C[t] = 0;
        V[t] = 0;
        Q[t] = 0;
      }
      // pass 1: sums and counts
      for (idx_t l = 0; l < p.So; ++l) {
        const double* xb = A.x + p.P * j + p.P * p.ST * l;
        for_each_line(p, [&](idx_t off, idx_t kb, idx_t) {
          const double* xp = xb + off;
          if (p.red0) {
            double s = S[kb], cn = C[kb];
            for (idx_t i = 0; i < p.len0; ++i) {
              const double v = xp[i];
              if (NA && std::isnan(v)) continue;
              s += v;
              cn += 1.0;
            }
            S[kb] = s;
            C[kb] = cn;
          } else {
            for (idx_t i = 0; i < p.len0; ++i) {
              const double v = xp[i];
              if (NA && std::isnan(v)) continue;
              S[kb + i] += v;
              C[kb + i] += 1.0;
            }
          }
        });
      }
      for (idx_t t = 0; t < Kin; ++t) M[t] = S[t] / C[t];
      // pass 2: deviations
      for (idx_t l = 0; l < p.So; ++l) {
        const double* xb = A.x + p.P * j + p.P * p.ST * l;
        for_each_line(p, [&](idx_t off, idx_t kb, idx_t) {
          const double* xp = xb + off;
          for (idx_t i = 0; i < p.len0; ++i) {
            const double v = xp[i];
            if (NA && std::isnan(v)) continue;
            const idx_t t = p.red0 ? kb : kb + i;
            const double e = v - M[t];
            V[t] += e;
            Q[t] += e * e;
          }
        });
      }
      for (idx_t t = 0; t < Kin; ++t) {
        const idx_t k = Kin * j + t;
        const double var = finish_var(C[t], V[t], Q[t]);
        if (A.mean) A.mean[k] = M[t];
        if (A.var) A.var[k] = var;
        if (A.count) A.count[k] = C[t];
        S[t] = 1.0 / std::sqrt(var + A.eps);  // rstd
        if (A.rstd) A.rstd[k] = S[t];
      }
      if (!A.y) continue;
      // pass 3: output
      if (A.param_kept) {
        for (idx_t t = 0; t < Kin; ++t) {
          const idx_t k = Kin * j + t;
          C[t] = S[t] * (A.gamma ? A.gamma[k] : 1.0);
          V[t] = A.beta ? A.beta[k] : 0.0;
        }
      }
      for (idx_t l = 0; l < p.So; ++l) {
        const idx_t base = p.P * j + p.P * p.ST * l;
        const double* xb = A.x + base;
        double* yb = A.y + base;
        for_each_line(p, [&](idx_t off, idx_t kb, idx_t rb) {
          const double* xp = xb + off;
          double* yp = yb + off;
          for (idx_t i = 0; i < p.len0; ++i) {
            const idx_t t = p.red0 ? kb : kb + i;
            if (A.param_kept) {
              yp[i] = (xp[i] - M[t]) * C[t] + V[t];
            } else {
              const idx_t r = p.Rin * l + (p.red0 ? rb + i : rb);
              yp[i] = (xp[i] - M[t]) * (S[t] * (A.gamma ? A.gamma[r] : 1.0)) +
                      (A.beta ? A.beta[r] : 0.0);
            }
          }
        });
      }
    }
  }
}

template <bool NA>
inline void normalize_dispatch(const Plan& p, const NormArgs& A, int nthr) {
  switch (p.kind) {
    case PATH_ROWS: normalize_rows<NA>(p, A, nthr); break;
    case PATH_COLS: normalize_cols<NA>(p, A, nthr); break;
    default: normalize_general<NA>(p, A, nthr); break;
  }
}

inline void normalize(const Plan& p, const NormArgs& A, int threads) {
  if (p.n == 0) {
    for (idx_t k = 0; k < p.K; ++k) {
      if (A.mean) A.mean[k] = nan_value();
      if (A.var) A.var[k] = nan_value();
      if (A.rstd) A.rstd[k] = nan_value();
      if (A.count) A.count[k] = 0;
    }
    return;
  }
  const int nthr = effective_threads(p.n, threads);
  if (A.na_rm) normalize_dispatch<true>(p, A, nthr);
  else normalize_dispatch<false>(p, A, nthr);
}

// Population moments per kept position.
inline void moments(const Plan& p, const double* x, bool na_rm, double* mean,
                    double* var, double* count, int threads) {
  NormArgs A = {x, na_rm, 0.0, nullptr, nullptr, true, nullptr, mean, var, nullptr, count};
  normalize(p, A, threads);
}

// LayerNormalization forward: gamma/beta reduced-indexed.
inline void layer_norm(const Plan& p, const double* x, const double* gamma,
                       const double* beta, double eps, double* y, double* mean,
                       double* rstd, int threads) {
  NormArgs A = {x, false, eps, gamma, beta, false, y, mean, nullptr, rstd, nullptr};
  normalize(p, A, threads);
}

// BatchNormalization training forward: gamma/beta kept-indexed.
inline void batch_norm_train(const Plan& p, const double* x, const double* gamma,
                             const double* beta, double eps, double* y,
                             double* mean, double* var, int threads) {
  NormArgs A = {x, false, eps, gamma, beta, true, y, mean, var, nullptr, nullptr};
  normalize(p, A, threads);
}

// ---------------------------------------------------------------------------
// apply: y = (x - center[k]) * (scale[k] * gamma[p]) + beta[p]

inline void apply(const Plan& p, const double* x, const double* center,
                  const double* scale, const double* gamma, const double* beta,
                  bool param_kept, double* y, int threads) {
  if (p.n == 0) return;
  const int nthr = effective_threads(p.n, threads);
  if (p.kind == PATH_ROWS) {
    const idx_t a = p.a, b = p.b, c = p.c;
    const idx_t B = rows_block(p);
    const idx_t nb = (a + B - 1) / B;
    const idx_t items = nb * c;
    const bool prefetch = !rows_streamed(p);
    ThreadScratch scratch(nthr, 2, B);
    NL_PARALLEL_FOR
    for (idx_t it = 0; it < items; ++it) {
      double* Mu = scratch.get(0);
      double* Sh = scratch.get(1);
      idx_t off, k0, rows, noff = 0, nk0, nrows = 0;
      rows_item(p, B, nb, it, off, k0, rows);
      if (it + 1 < items && prefetch) rows_item(p, B, nb, it + 1, noff, nk0, nrows);
      const double* nx = nrows ? x + noff : nullptr;
      const double* cen = center ? center + k0 : nullptr;
      if (!param_kept) {
        rows_block_out_red(x + off, y + off, a, rows, b, cen, scale + k0, gamma, beta,
                           nx, nrows);
      } else {
        NL_SIMD
        for (idx_t ii = 0; ii < rows; ++ii) {
          Mu[ii] = scale[k0 + ii] * (gamma ? gamma[k0 + ii] : 1.0);
          Sh[ii] = beta ? beta[k0 + ii] : 0.0;
        }
        rows_block_out_kept(x + off, y + off, a, rows, b, cen, Mu, Sh, nx, nrows);
      }
    }
  } else if (p.kind == PATH_COLS) {
    const idx_t K = p.b, R = p.R;
    const idx_t nq = (R + COLS_CHUNK - 1) / COLS_CHUNK;
    const idx_t items = K * nq;
    NL_PARALLEL_FOR
    for (idx_t it = 0; it < items; ++it) {
      const idx_t j = it / nq;
      idx_t r0, r1;
      chunk_bounds(it, j, nq, R, r0, r1);
      cols_chunk_out(p, x, y, j, r0, r1, center ? center[j] : 0.0, scale[j],
                     gamma, beta, param_kept);
    }
  } else {
    const idx_t ng = general_groups(p);
    NL_PARALLEL_FOR
    for (idx_t g = 0; g < ng; ++g) {
      const idx_t j0 = group_begin(p.ST, ng, g), j1 = group_begin(p.ST, ng, g + 1);
      for (idx_t j = j0; j < j1; ++j) {
        for (idx_t l = 0; l < p.So; ++l) {
          const idx_t base = p.P * j + p.P * p.ST * l;
          for_each_line(p, [&](idx_t off, idx_t kb, idx_t rb) {
            const double* xp = x + base + off;
            double* yp = y + base + off;
            for (idx_t i = 0; i < p.len0; ++i) {
              const idx_t k = p.Kin * j + (p.red0 ? kb : kb + i);
              const idx_t r = p.Rin * l + (p.red0 ? rb + i : rb);
              const idx_t q = param_kept ? k : r;
              yp[i] = (xp[i] - (center ? center[k] : 0.0)) *
                          (scale[k] * (gamma ? gamma[q] : 1.0)) +
                      (beta ? beta[q] : 0.0);
            }
          });
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Backward pass.
//   xhat = (x - mean[k]) * rstd[k], g = dy * gamma[p]
//   batch_stats: dx = rstd * (g - mean_R(g) - xhat * mean_R(g * xhat))
//   otherwise:   dx = g * rstd
//   dgamma[p] = sum dy * xhat, dbeta[p] = sum dy (over all but p)

struct BackArgs {
  const double* x;
  const double* dy;
  const double* mean;
  const double* rstd;
  const double* gamma;
  bool param_kept;
  bool batch;
  double* dx;
  double* dgamma;
  double* dbeta;
};

// Reduced-indexed dgamma / dbeta from per-group partial sums (group g holds
// P values of dgamma, then P of dbeta), added in group order.
inline void merge_group_partials(const std::vector<double>& part, idx_t ng, idx_t P,
                                 double* dgamma, double* dbeta) {
  for (idx_t q = 0; q < P; ++q) {
    dgamma[q] = 0;
    dbeta[q] = 0;
  }
  for (idx_t g = 0; g < ng; ++g) {
    const double* pg = &part[static_cast<std::size_t>(g) * 2 * P];
    const double* pb = pg + P;
    for (idx_t q = 0; q < P; ++q) {
      dgamma[q] += pg[q];
      dbeta[q] += pb[q];
    }
  }
}

// Pass 1 of the backward pass over a block: per-row sums of g = dy * gamma
// and g * xhat (Sg, Sgx); with reduced-indexed parameters also the column
// sums of dy * xhat and dy, added to PG / PB, two columns per sweep; with
// kept-indexed ones the per-row sums Dg / Db.
inline void back_block_sums(const BackArgs& A, idx_t off, idx_t stride, idx_t rows,
                            idx_t cols, const double* M, const double* Rs,
                            const double* G, double* Sg, double* Sgx, double* Dg,
                            double* Db, double* PG, double* PB) {
  idx_t j = 0;
  if (!A.param_kept) {
    // The order of these reductions is fixed by the compiled code and the
    // (shape-determined) block, never by the thread count.
    for (; j + 2 <= cols; j += 2) {
      const double* xa = A.x + off + stride * j;
      const double* xb = xa + stride;
      const double* da = A.dy + off + stride * j;
      const double* db = da + stride;
      const double ga = A.gamma ? A.gamma[j] : 1.0, gb = A.gamma ? A.gamma[j + 1] : 1.0;
      double pga = 0, pba = 0, pgb = 0, pbb = 0;
      NL_SIMD_SUM4(pga, pba, pgb, pbb)
      for (idx_t ii = 0; ii < rows; ++ii) {
        const double m = M[ii], r = Rs[ii];
        const double ha = (xa[ii] - m) * r, hb = (xb[ii] - m) * r;
        const double dA = da[ii], dB = db[ii];
        const double gA = dA * ga, gB = dB * gb;
        Sg[ii] += gA + gB;
        Sgx[ii] += gA * ha + gB * hb;
        pga += dA * ha;
        pba += dA;
        pgb += dB * hb;
        pbb += dB;
      }
      PG[j] += pga;
      PB[j] += pba;
      PG[j + 1] += pgb;
      PB[j + 1] += pbb;
    }
  }
  for (; j < cols; ++j) {
    const double* xc = A.x + off + stride * j;
    const double* dc = A.dy + off + stride * j;
    if (!A.param_kept) {
      const double gj = A.gamma ? A.gamma[j] : 1.0;
      double pg = 0, pb = 0;
      NL_SIMD_SUM2(pg, pb)
      for (idx_t ii = 0; ii < rows; ++ii) {
        const double xh = (xc[ii] - M[ii]) * Rs[ii];
        const double d = dc[ii];
        const double g = d * gj;
        Sg[ii] += g;
        Sgx[ii] += g * xh;
        pg += d * xh;
        pb += d;
      }
      PG[j] += pg;
      PB[j] += pb;
    } else {
      NL_SIMD
      for (idx_t ii = 0; ii < rows; ++ii) {
        const double xh = (xc[ii] - M[ii]) * Rs[ii];
        const double d = dc[ii];
        const double g = d * G[ii];
        Sg[ii] += g;
        Sgx[ii] += g * xh;
        Dg[ii] += d * xh;
        Db[ii] += d;
      }
    }
  }
}

// Pass 2: dx of a block (Sg, Sgx already divided by the reduced count).
// With reduced-indexed parameters G is all ones and two columns share a sweep.
inline void back_block_dx(const BackArgs& A, idx_t off, idx_t noff, idx_t stride,
                          idx_t rows, idx_t nrows, idx_t cols, const double* M,
                          const double* Rs, const double* G, const double* Sg,
                          const double* Sgx) {
  idx_t j = 0;
  if (!A.param_kept && A.batch) {
    for (; j + 2 <= cols; j += 2) {
      const double* xa = A.x + off + stride * j;
      const double* xb = xa + stride;
      const double* da = A.dy + off + stride * j;
      const double* db = da + stride;
      double* oa = A.dx + off + stride * j;
      double* ob = oa + stride;
      if (nrows) {
        for (idx_t u = 0; u < 2; ++u) {
          prefetch_rows(A.x + noff + stride * (j + u), nrows);
          prefetch_rows(A.dy + noff + stride * (j + u), nrows);
        }
      }
      const double ga = A.gamma ? A.gamma[j] : 1.0, gb = A.gamma ? A.gamma[j + 1] : 1.0;
      NL_SIMD
      for (idx_t ii = 0; ii < rows; ++ii) {
        const double m = M[ii], r = Rs[ii], sg = Sg[ii], sgx = Sgx[ii];
        const double ha = (xa[ii] - m) * r, hb = (xb[ii] - m) * r;
        oa[ii] = r * (da[ii] * ga - sg - ha * sgx);
        ob[ii] = r * (db[ii] * gb - sg - hb * sgx);
      }
    }
  }
  for (; j < cols; ++j) {
    const double* xc = A.x + off + stride * j;
    const double* dc = A.dy + off + stride * j;
    double* oc = A.dx + off + stride * j;
    if (nrows) {
      prefetch_rows(A.x + noff + stride * j, nrows);
      prefetch_rows(A.dy + noff + stride * j, nrows);
    }
    const double gj = (!A.param_kept && A.gamma) ? A.gamma[j] : 1.0;
    if (A.batch) {
      NL_SIMD
      for (idx_t ii = 0; ii < rows; ++ii) {
        const double xh = (xc[ii] - M[ii]) * Rs[ii];
        const double g = dc[ii] * (gj * G[ii]);
        oc[ii] = Rs[ii] * (g - Sg[ii] - xh * Sgx[ii]);
      }
    } else {
      NL_SIMD
      for (idx_t ii = 0; ii < rows; ++ii) oc[ii] = dc[ii] * (gj * G[ii]) * Rs[ii];
    }
  }
}

// The blocks are split into at most 64 groups of consecutive blocks; each
// group is run by one thread in block order and keeps its own column sums
// for dgamma / dbeta, which are added in group order at the end.
inline void backward_rows(const Plan& p, const BackArgs& A, int nthr) {
  const idx_t a = p.a, b = p.b, c = p.c;
  const idx_t B = rows_block(p, 2);
  const idx_t nb = (a + B - 1) / B;
  const idx_t items = nb * c;
  const idx_t ng = items < 64 ? items : 64;
  const double invR = 1.0 / static_cast<double>(p.R);
  std::vector<double> part;
  if (!A.param_kept) part.assign(static_cast<std::size_t>(ng) * 2 * b, 0.0);
  const bool prefetch = !rows_streamed(p, 2);
  ThreadScratch scratch(nthr, 7, B);
  NL_PARALLEL_FOR
  for (idx_t g = 0; g < ng; ++g) {
    double* M = scratch.get(0);
    double* Rs = scratch.get(1);
    double* G = scratch.get(2);
    double* Sg = scratch.get(3);
    double* Sgx = scratch.get(4);
    double* Dg = scratch.get(5);
    double* Db = scratch.get(6);
    double* PG = A.param_kept ? nullptr : &part[static_cast<std::size_t>(g) * 2 * b];
    double* PB = A.param_kept ? nullptr : PG + b;
    const idx_t it1 = group_begin(items, ng, g + 1);
    for (idx_t it = group_begin(items, ng, g); it < it1; ++it) {
      idx_t off, k0, rows, noff = 0, nk0, nrows = 0;
      rows_item(p, B, nb, it, off, k0, rows);
      if (it + 1 < items && prefetch) rows_item(p, B, nb, it + 1, noff, nk0, nrows);
      NL_SIMD
      for (idx_t ii = 0; ii < rows; ++ii) {
        M[ii] = A.mean[k0 + ii];
        Rs[ii] = A.rstd[k0 + ii];
        G[ii] = (A.param_kept && A.gamma) ? A.gamma[k0 + ii] : 1.0;
        Sg[ii] = 0;
        Sgx[ii] = 0;
        Dg[ii] = 0;
        Db[ii] = 0;
      }
      back_block_sums(A, off, a, rows, b, M, Rs, G, Sg, Sgx, Dg, Db, PG, PB);
      if (A.param_kept) {
        std::copy(Dg, Dg + rows, A.dgamma + k0);
        std::copy(Db, Db + rows, A.dbeta + k0);
      }
      NL_SIMD
      for (idx_t ii = 0; ii < rows; ++ii) {
        Sg[ii] *= invR;
        Sgx[ii] *= invR;
      }
      back_block_dx(A, off, noff, a, rows, nrows, b, M, Rs, G, Sg, Sgx);
    }
  }
  if (!A.param_kept) merge_group_partials(part, ng, b, A.dgamma, A.dbeta);
}

// PATH_COLS with kept-indexed parameters
inline void backward_cols(const Plan& p, const BackArgs& A, int nthr) {
  const idx_t K = p.b, R = p.R;
  const idx_t nq = (R + COLS_CHUNK - 1) / COLS_CHUNK;
  const idx_t items = K * nq;
  std::vector<double> pdg(items), pdb(items), mg(K), mgx(K);
  auto chunk_sums = [&](idx_t it) {
    const idx_t j = it / nq;
    idx_t r0, r1;
    chunk_bounds(it, j, nq, R, r0, r1);
    const double m = A.mean[j], rs = A.rstd[j];
    double sg = 0, sb = 0;
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
    pdg[it] = sg;
    pdb[it] = sb;
  };
  auto column_finish = [&](idx_t j) {
    double dg = 0, db = 0;
    for (idx_t q = 0; q < nq; ++q) {
      dg += pdg[j * nq + q];
      db += pdb[j * nq + q];
    }
    A.dgamma[j] = dg;
    A.dbeta[j] = db;
    const double gam = A.gamma ? A.gamma[j] : 1.0;
    mg[j] = gam * db / static_cast<double>(R);
    mgx[j] = gam * dg / static_cast<double>(R);
  };
  auto chunk_out = [&](idx_t it) {
    const idx_t j = it / nq;
    idx_t r0, r1;
    chunk_bounds(it, j, nq, R, r0, r1);
    const double m = A.mean[j], rs = A.rstd[j];
    const double gam = A.gamma ? A.gamma[j] : 1.0;
    const double a1 = mg[j], a2 = mgx[j];
    const bool batch = A.batch;
    for_each_piece(p, j, r0, r1, [&](idx_t off, idx_t len, idx_t) {
      const double* xp = A.x + off;
      const double* dp = A.dy + off;
      double* op = A.dx + off;
      if (batch) {
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
  };
  cols_schedule(K, nq, A.batch && cols_fused(p, nthr, 2), true, nthr, chunk_sums,
                column_finish, chunk_out);
}

inline void backward_general(const Plan& p, const BackArgs& A, int nthr) {
  const idx_t Kin = p.Kin, R = p.R;
  const idx_t ng = general_groups(p);
  const double invR = 1.0 / static_cast<double>(R);
  ThreadScratch scratch(nthr, 4, Kin);
  std::vector<double> part;
  if (!A.param_kept) part.assign(static_cast<std::size_t>(ng) * 2 * R, 0.0);
  NL_PARALLEL_FOR
  for (idx_t g = 0; g < ng; ++g) {
    double* Sg = scratch.get(0);
    double* Sgx = scratch.get(1);
    double* Dg = scratch.get(2);
    double* Db = scratch.get(3);
    double* PG = A.param_kept ? nullptr : &part[static_cast<std::size_t>(g) * 2 * R];
    double* PB = A.param_kept ? nullptr : PG + R;
    const idx_t j0 = group_begin(p.ST, ng, g), j1 = group_begin(p.ST, ng, g + 1);
    for (idx_t j = j0; j < j1; ++j) {
      for (idx_t t = 0; t < Kin; ++t) {
        Sg[t] = 0;
        Sgx[t] = 0;
        Dg[t] = 0;
        Db[t] = 0;
      }
      for (idx_t l = 0; l < p.So; ++l) {
        const idx_t base = p.P * j + p.P * p.ST * l;
        for_each_line(p, [&](idx_t off, idx_t kb, idx_t rb) {
          const double* xp = A.x + base + off;
          const double* dp = A.dy + base + off;
          for (idx_t i = 0; i < p.len0; ++i) {
            const idx_t t = p.red0 ? kb : kb + i;
            const idx_t k = p.Kin * j + t;
            const idx_t r = p.Rin * l + (p.red0 ? rb + i : rb);
            const idx_t q = A.param_kept ? k : r;
            const double xh = (xp[i] - A.mean[k]) * A.rstd[k];
            const double d = dp[i];
            const double gg = d * (A.gamma ? A.gamma[q] : 1.0);
            Sg[t] += gg;
            Sgx[t] += gg * xh;
            if (A.param_kept) {
              Dg[t] += d * xh;
              Db[t] += d;
            } else {
              PG[r] += d * xh;
              PB[r] += d;
            }
          }
        });
      }
      for (idx_t t = 0; t < Kin; ++t) {
        const idx_t k = p.Kin * j + t;
        if (A.param_kept) {
          A.dgamma[k] = Dg[t];
          A.dbeta[k] = Db[t];
        }
        Sg[t] *= invR;
        Sgx[t] *= invR;
      }
      for (idx_t l = 0; l < p.So; ++l) {
        const idx_t base = p.P * j + p.P * p.ST * l;
        for_each_line(p, [&](idx_t off, idx_t kb, idx_t rb) {
          const double* xp = A.x + base + off;
          const double* dp = A.dy + base + off;
          double* op = A.dx + base + off;
          for (idx_t i = 0; i < p.len0; ++i) {
            const idx_t t = p.red0 ? kb : kb + i;
            const idx_t k = p.Kin * j + t;
            const idx_t r = p.Rin * l + (p.red0 ? rb + i : rb);
            const idx_t q = A.param_kept ? k : r;
            const double gg = dp[i] * (A.gamma ? A.gamma[q] : 1.0);
            const double rs = A.rstd[k];
            if (A.batch) {
              const double xh = (xp[i] - A.mean[k]) * rs;
              op[i] = rs * (gg - Sg[t] - xh * Sgx[t]);
            } else {
              op[i] = gg * rs;
            }
          }
        });
      }
    }
  }
  if (!A.param_kept) merge_group_partials(part, ng, R, A.dgamma, A.dbeta);
}

inline void norm_backward(const Plan& p, const BackArgs& A, int threads) {
  const idx_t P = A.param_kept ? p.K : p.R;
  if (p.n == 0) {
    for (idx_t q = 0; q < P; ++q) {
      A.dgamma[q] = 0;
      A.dbeta[q] = 0;
    }
    return;
  }
  const int nthr = effective_threads(p.n, threads);
  if (p.kind == PATH_ROWS) {
    backward_rows(p, A, nthr);
  } else if (p.kind == PATH_COLS && A.param_kept) {
    backward_cols(p, A, nthr);
  } else if (p.kind == PATH_GENERAL) {
    backward_general(p, A, nthr);
  } else {
    // PATH_COLS with reduced-indexed parameters: use the general path
    std::vector<char> red(p.size.size());
    for (std::size_t t = 0; t < red.size(); ++t) red[t] = p.red[t];
    Plan g = make_plan(p.size, red, true);
    backward_general(g, A, nthr);
  }
}

}  // namespace normlayers

#endif
