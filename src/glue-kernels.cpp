// Rcpp glue for the normalization kernels. Internal: the R wrappers in
// R/kernels.R pass already-validated double arrays; the checks here only
// protect memory safety.
#include <Rcpp.h>
#include "normlayers_kernels.h"
#if defined(__linux__)
#include <sys/mman.h>
#endif
#include <cstdint>
#include <cstdlib>

using normlayers::idx_t;

namespace {

normlayers::Plan plan_from(const Rcpp::NumericVector& x,
                           const Rcpp::NumericVector& sizes,
                           const Rcpp::LogicalVector& reduced,
                           bool force_general) {
  if (sizes.size() != reduced.size()) {
    Rcpp::stop("`sizes` and `reduced` must have the same length.");
  }
  std::vector<idx_t> s(sizes.size());
  std::vector<char> r(sizes.size());
  for (R_xlen_t t = 0; t < sizes.size(); ++t) {
    const double v = sizes[t];
    if (!(v >= 0) || v != std::floor(v)) Rcpp::stop("Run sizes must be non-negative whole numbers.");
    if (reduced[t] == NA_LOGICAL) Rcpp::stop("`reduced` must not contain NA.");
    s[t] = static_cast<idx_t>(v);
    r[t] = reduced[t] ? 1 : 0;
  }
  normlayers::Plan p;
  try {
    p = normlayers::make_plan(s, r, force_general);
  } catch (std::exception& e) {
    Rcpp::stop(e.what());
  }
  if (p.n != static_cast<idx_t>(x.size())) {
    Rcpp::stop("The runs describe %.0f elements but `x` has %.0f.",
               static_cast<double>(p.n), static_cast<double>(x.size()));
  }
  return p;
}

const double* opt_ptr(const Rcpp::Nullable<Rcpp::NumericVector>& v,
                      idx_t expected, const char* what,
                      Rcpp::NumericVector& keep) {
  if (v.isNull()) return nullptr;
  keep = Rcpp::NumericVector(v.get());
  if (static_cast<idx_t>(keep.size()) != expected) {
    Rcpp::stop("`%s` must have length %.0f, not %.0f.", what,
               static_cast<double>(expected), static_cast<double>(keep.size()));
  }
  return keep.begin();
}

void check_len(const Rcpp::NumericVector& v, idx_t expected, const char* what) {
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
// process can be several times slower and timings become erratic.
bool huge_pages_enabled() {
  const char* v = std::getenv("NORMLAYERS_HUGE_PAGES");
  return v && v[0] == '1';
}

void advise_huge_pages(double* p, std::size_t n) {
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

Rcpp::NumericVector like(const Rcpp::NumericVector& x) {
  Rcpp::NumericVector y(Rcpp::no_init(x.size()));
  advise_huge_pages(y.begin(), static_cast<std::size_t>(y.size()));
  SEXP d = Rf_getAttrib(x, R_DimSymbol);
  if (!Rf_isNull(d)) Rf_setAttrib(y, R_DimSymbol, d);
  return y;
}

}  // namespace

// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_moments(Rcpp::NumericVector x, Rcpp::NumericVector sizes,
                       Rcpp::LogicalVector reduced, bool na_rm, int threads,
                       bool force_general = false) {
  normlayers::Plan p = plan_from(x, sizes, reduced, force_general);
  Rcpp::NumericVector mean(Rcpp::no_init(p.K)), var(Rcpp::no_init(p.K)),
      count(Rcpp::no_init(p.K));
  normlayers::moments(p, x.begin(), na_rm, mean.begin(), var.begin(),
                      count.begin(), threads);
  return Rcpp::List::create(Rcpp::Named("mean") = mean, Rcpp::Named("var") = var,
                            Rcpp::Named("count") = count);
}

// [[Rcpp::export(rng = false)]]
Rcpp::NumericVector cpp_apply(Rcpp::NumericVector x, Rcpp::NumericVector sizes,
                              Rcpp::LogicalVector reduced,
                              Rcpp::Nullable<Rcpp::NumericVector> center,
                              Rcpp::NumericVector scale,
                              Rcpp::Nullable<Rcpp::NumericVector> gamma,
                              Rcpp::Nullable<Rcpp::NumericVector> beta,
                              bool param_kept, int threads,
                              bool force_general = false) {
  normlayers::Plan p = plan_from(x, sizes, reduced, force_general);
  const idx_t P = param_kept ? p.K : p.R;
  Rcpp::NumericVector kc, kg, kb;
  const double* c = opt_ptr(center, p.K, "center", kc);
  check_len(scale, p.K, "scale");
  const double* g = opt_ptr(gamma, P, "gamma", kg);
  const double* b = opt_ptr(beta, P, "beta", kb);
  Rcpp::NumericVector y = like(x);
  normlayers::apply(p, x.begin(), c, scale.begin(), g, b, param_kept, y.begin(),
                    threads);
  return y;
}

// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_layer_norm(Rcpp::NumericVector x, Rcpp::NumericVector sizes,
                          Rcpp::LogicalVector reduced,
                          Rcpp::Nullable<Rcpp::NumericVector> gamma,
                          Rcpp::Nullable<Rcpp::NumericVector> beta,
                          double epsilon, int threads,
                          bool force_general = false, bool keep_stats = true) {
  normlayers::Plan p = plan_from(x, sizes, reduced, force_general);
  Rcpp::NumericVector kg, kb;
  const double* g = opt_ptr(gamma, p.R, "gamma", kg);
  const double* b = opt_ptr(beta, p.R, "beta", kb);
  Rcpp::NumericVector y = like(x);
  // Without keep_stats (inference, the stateless op) the per-position
  // statistics are not written, except the mean PATH_COLS needs internally.
  const bool need_mean = keep_stats || p.kind == normlayers::PATH_COLS;
  Rcpp::NumericVector mean(Rcpp::no_init(need_mean ? p.K : 0));
  Rcpp::NumericVector rstd(Rcpp::no_init(keep_stats ? p.K : 0));
  normlayers::layer_norm(p, x.begin(), g, b, epsilon, y.begin(),
                         need_mean ? mean.begin() : nullptr,
                         keep_stats ? rstd.begin() : nullptr, threads);
  if (!keep_stats) return Rcpp::List::create(Rcpp::Named("y") = y);
  return Rcpp::List::create(Rcpp::Named("y") = y, Rcpp::Named("mean") = mean,
                            Rcpp::Named("rstd") = rstd);
}

// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_batch_norm_train(Rcpp::NumericVector x, Rcpp::NumericVector sizes,
                                Rcpp::LogicalVector reduced,
                                Rcpp::Nullable<Rcpp::NumericVector> gamma,
                                Rcpp::Nullable<Rcpp::NumericVector> beta,
                                double epsilon, int threads,
                                bool force_general = false) {
  normlayers::Plan p = plan_from(x, sizes, reduced, force_general);
  Rcpp::NumericVector kg, kb;
  const double* g = opt_ptr(gamma, p.K, "gamma", kg);
  const double* b = opt_ptr(beta, p.K, "beta", kb);
  Rcpp::NumericVector y = like(x);
  Rcpp::NumericVector mean(Rcpp::no_init(p.K)), var(Rcpp::no_init(p.K));
  normlayers::batch_norm_train(p, x.begin(), g, b, epsilon, y.begin(),
                               mean.begin(), var.begin(), threads);
  return Rcpp::List::create(Rcpp::Named("y") = y, Rcpp::Named("mean") = mean,
                            Rcpp::Named("var") = var);
}

// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_norm_backward(Rcpp::NumericVector x, Rcpp::NumericVector dy,
                             Rcpp::NumericVector sizes,
                             Rcpp::LogicalVector reduced,
                             Rcpp::NumericVector mean, Rcpp::NumericVector rstd,
                             Rcpp::Nullable<Rcpp::NumericVector> gamma,
                             bool param_kept, bool batch_stats, int threads,
                             bool force_general = false) {
  normlayers::Plan p = plan_from(x, sizes, reduced, force_general);
  check_len(dy, p.n, "dy");
  check_len(mean, p.K, "mean");
  check_len(rstd, p.K, "rstd");
  const idx_t P = param_kept ? p.K : p.R;
  Rcpp::NumericVector kg;
  const double* g = opt_ptr(gamma, P, "gamma", kg);
  Rcpp::NumericVector dx = like(x);
  Rcpp::NumericVector dgamma(Rcpp::no_init(P)), dbeta(Rcpp::no_init(P));
  normlayers::BackArgs A = {x.begin(), dy.begin(), mean.begin(), rstd.begin(),
                            g, param_kept, batch_stats, dx.begin(),
                            dgamma.begin(), dbeta.begin()};
  normlayers::norm_backward(p, A, threads);
  return Rcpp::List::create(Rcpp::Named("dx") = dx, Rcpp::Named("dgamma") = dgamma,
                            Rcpp::Named("dbeta") = dbeta);
}

// Number of processors OpenMP reports (0 when built without OpenMP).
// [[Rcpp::export(rng = false)]]
int cpp_omp_procs() {
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  return 0;
#endif
}

// Inputs with fewer elements run on one thread whatever the thread count.
// [[Rcpp::export(rng = false)]]
double cpp_min_parallel_elements() {
  return static_cast<double>(normlayers::MIN_PARALLEL_ELEMENTS);
}
