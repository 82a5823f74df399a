// Helpers shared by the Rcpp glue files (src/glue-*.cpp): plans from R
// dimensions, optional vectors, outputs. Only memory-safety checks here.
#ifndef NORMLAYERS_GLUE_H
#define NORMLAYERS_GLUE_H

#include <Rcpp.h>
#include <normlayers/normlayers.h>
#include "pool.h"
#if defined(__linux__)
#include <sys/mman.h>
#endif
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <vector>


namespace normlayers_glue {

using normlayers::idx_t;

// Dimensions as non-negative whole numbers.
inline std::vector<idx_t> dims_from(const Rcpp::NumericVector& dim) {
  std::vector<idx_t> d(dim.size());
  for (R_xlen_t t = 0; t < dim.size(); ++t) {
    const double v = dim[t];
    if (!(v >= 0) || v != std::floor(v)) Rcpp::stop("Dimensions must be non-negative whole numbers.");
    d[t] = static_cast<idx_t>(v);
  }
  return d;
}

inline normlayers::Plan checked_plan(const std::vector<idx_t>& d, const std::vector<char>& red,
                              R_xlen_t len, bool force_general) {
  normlayers::Plan p;
  try {
    p = normlayers::make_plan(d, red, force_general);
  } catch (std::exception& e) {
    Rcpp::stop(e.what());
  }
  if (p.n != static_cast<idx_t>(len)) {
    Rcpp::stop("The dimensions describe %.0f elements but `x` has %.0f.",
               static_cast<double>(p.n), static_cast<double>(len));
  }
  return p;
}

// The plan of an array with dimensions `dim`, `reduced` flagging each axis.
inline normlayers::Plan plan_from(R_xlen_t len, const Rcpp::NumericVector& dim,
                           const Rcpp::LogicalVector& reduced, bool force_general) {
  if (dim.size() != reduced.size()) {
    Rcpp::stop("`dim` and `reduced` must have the same length.");
  }
  const std::vector<idx_t> d = dims_from(dim);
  std::vector<char> red(d.size(), 0);
  for (R_xlen_t t = 0; t < reduced.size(); ++t) {
    if (reduced[t] == NA_LOGICAL) Rcpp::stop("`reduced` must not contain NA.");
    red[t] = reduced[t] ? 1 : 0;
  }
  return checked_plan(d, red, len, force_general);
}

inline const double* opt_ptr(const Rcpp::Nullable<Rcpp::NumericVector>& v, idx_t expected, const char* what,
                      Rcpp::NumericVector& keep) {
  if (v.isNull()) return nullptr;
  keep = Rcpp::NumericVector(v.get());
  if (static_cast<idx_t>(keep.size()) != expected) {
    Rcpp::stop("`%s` must have length %.0f, not %.0f.", what,
               static_cast<double>(expected), static_cast<double>(keep.size()));
  }
  return keep.begin();
}

inline void check_len(const Rcpp::NumericVector& v, idx_t expected, const char* what) {
  if (static_cast<idx_t>(v.size()) != expected) {
    Rcpp::stop("`%s` must have length %.0f, not %.0f.", what,
               static_cast<double>(expected), static_cast<double>(v.size()));
  }
}

// A large output is fresh, untouched memory: Linux can be asked for
// transparent huge pages on it before the kernel writes, so that it is faulted
// in 2 MiB at a time instead of 4 KiB. Only the 2 MiB-aligned interior is
// advised; where the call is unsupported it simply has no effect.
// Opt-in with NORMLAYERS_HUGE_PAGES=1: in steady state it halves the cost of
// faulting in a large output, but on virtual machines the first calls of a
// process can be several times slower and timings become erratic. Measured
// again on the 2-core VM with 1e6 x 64 RMS normalization: calls repeated in
// one process took 50-70 ms instead of 450-500 ms, but a call right after a
// large allocation of 4 KiB pages had been freed took 820 ms instead of 475
// ms (the kernel assembles the huge pages first), so it stays opt-in.
inline bool huge_pages_enabled() {
  const char* v = std::getenv("NORMLAYERS_HUGE_PAGES");
  return v && v[0] == '1';
}

inline void advise_huge_pages(double* p, std::size_t n) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (!huge_pages_enabled()) return;
  const std::uintptr_t huge = std::uintptr_t(1) << 21;
  const std::size_t bytes = n * sizeof(double);
  if (bytes < 4 * huge) return;
  const std::uintptr_t b = reinterpret_cast<std::uintptr_t>(p);
  const std::uintptr_t start = (b + huge - 1) & ~(huge - 1);
  const std::uintptr_t end = (b + bytes) & ~(huge - 1);
  if (end > start) madvise(reinterpret_cast<void*>(start), end - start, MADV_HUGEPAGE);
#else
  (void) p;
  (void) n;
#endif
}

// Large outputs are faulted in before the kernel writes them
// (normlayers::prefault()), unless NORMLAYERS_PREFAULT=0.
inline bool prefault_enabled() {
  const char* v = std::getenv("NORMLAYERS_PREFAULT");
  return !(v && v[0] == '0');
}

// Readies a new, uninitialized output of n doubles that a kernel is about to
// write: huge pages when asked for, then prefaulted with up to `threads`
// threads (both only for large outputs, and neither for recycled memory from
// the pool, which is faulted in already).
inline void ready_output(double* p, idx_t n, int threads) {
  if (normlayers_pool::recycled(p)) return;
  advise_huge_pages(p, static_cast<std::size_t>(n));
  if (prefault_enabled()) normlayers::prefault(p, n, normlayers::effective_threads(n, threads));
}

// The same for the p new columns (n doubles each) of a data frame output:
// small columns make a large output too, so they are prefaulted whenever all
// of them together are large, a column per thread at a time.
inline void ready_columns(double* const* cols, idx_t p, idx_t n, int threads) {
  std::vector<char> fresh(static_cast<std::size_t>(p));
  for (idx_t j = 0; j < p; ++j) {
    fresh[j] = !normlayers_pool::recycled(cols[j]);
    if (fresh[j]) advise_huge_pages(cols[j], static_cast<std::size_t>(n));
  }
  if (!prefault_enabled() || p * n < normlayers::PREFAULT_MIN_ELEMENTS) return;
  normlayers::parallel_for(normlayers::effective_threads(p * n, threads), p, [&](idx_t j) {
    if (fresh[j]) normlayers::prefault(cols[j], n, 1, 0);
  });
}

// The same for a new output of `bytes` bytes of another type.
inline void ready_bytes(void* p, std::size_t bytes, int threads) {
  ready_output(static_cast<double*>(p), static_cast<idx_t>(bytes / sizeof(double)), threads);
}

// An uninitialized output with x's length and dim, for a kernel that asks for
// `threads` threads.
inline Rcpp::NumericVector like(const Rcpp::NumericVector& x, int threads) {
  Rcpp::NumericVector y(normlayers_pool::alloc_real(x.size()));
  ready_output(y.begin(), static_cast<idx_t>(y.size()), threads);
  SEXP d = Rf_getAttrib(x, R_DimSymbol);
  if (!Rf_isNull(d)) Rf_setAttrib(y, R_DimSymbol, d);
  return y;
}

// A new vector of n doubles (statistics, parameter gradients), readied for
// writing like an output.
inline Rcpp::NumericVector vec(idx_t n, int threads = 1) {
  Rcpp::NumericVector v(normlayers_pool::alloc_real(n));
  ready_output(v.begin(), n, threads);
  return v;
}

inline double* ptr_or_null(Rcpp::NumericVector& v, bool want) { return want ? v.begin() : nullptr; }

}  // namespace normlayers_glue

#endif
