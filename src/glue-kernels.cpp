// Rcpp glue for the kernel library in inst/include/normlayers/. Internal: the
// R wrappers in R/kernels.R pass already-validated double arrays, the array's
// dimensions and one reduced flag per axis; the checks here only protect
// memory safety. The layout is planned (axes collapsed into runs) in C++.
#include <Rcpp.h>
#include <normlayers/normlayers.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif
#include <cmath>
#include <cstdint>
#include <cstdlib>

using normlayers::idx_t;

namespace {

// Dimensions as non-negative whole numbers.
std::vector<idx_t> dims_from(const Rcpp::NumericVector& dim) {
  std::vector<idx_t> d(dim.size());
  for (R_xlen_t t = 0; t < dim.size(); ++t) {
    const double v = dim[t];
    if (!(v >= 0) || v != std::floor(v)) Rcpp::stop("Dimensions must be non-negative whole numbers.");
    d[t] = static_cast<idx_t>(v);
  }
  return d;
}

normlayers::Plan checked_plan(const std::vector<idx_t>& d, const std::vector<char>& red,
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
normlayers::Plan plan_from(R_xlen_t len, const Rcpp::NumericVector& dim,
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

const double* opt_ptr(const Rcpp::Nullable<Rcpp::NumericVector>& v, idx_t expected, const char* what,
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

// An uninitialized output with x's length and dim.
Rcpp::NumericVector like(const Rcpp::NumericVector& x) {
  Rcpp::NumericVector y(Rcpp::no_init(x.size()));
  advise_huge_pages(y.begin(), static_cast<std::size_t>(y.size()));
  SEXP d = Rf_getAttrib(x, R_DimSymbol);
  if (!Rf_isNull(d)) Rf_setAttrib(y, R_DimSymbol, d);
  return y;
}

Rcpp::NumericVector vec(idx_t n) { return Rcpp::NumericVector(Rcpp::no_init(n)); }

double* ptr_or_null(Rcpp::NumericVector& v, bool want) { return want ? v.begin() : nullptr; }

}  // namespace

// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_moments(Rcpp::NumericVector x, Rcpp::NumericVector dim,
                       Rcpp::LogicalVector reduced, bool na_rm, int threads,
                       bool force_general = false) {
  const normlayers::Plan p = plan_from(x.size(), dim, reduced, force_general);
  Rcpp::NumericVector mean = vec(p.K), var = vec(p.K), count = vec(p.K);
  normlayers::moments(p, x.begin(), na_rm, mean.begin(), var.begin(), count.begin(),
                      threads);
  return Rcpp::List::create(Rcpp::Named("mean") = mean, Rcpp::Named("var") = var,
                            Rcpp::Named("count") = count);
}

// Moments with the mean relative to `shift` (NULL: to the first-pass mean,
// returned as `shift`).
// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_moments_shifted(Rcpp::NumericVector x, Rcpp::NumericVector dim,
                               Rcpp::LogicalVector reduced,
                               Rcpp::Nullable<Rcpp::NumericVector> shift, bool na_rm,
                               int threads, bool force_general = false) {
  const normlayers::Plan p = plan_from(x.size(), dim, reduced, force_general);
  Rcpp::NumericVector ks;
  const double* sh = opt_ptr(shift, p.K, "shift", ks);
  Rcpp::NumericVector mean = vec(p.K), var = vec(p.K), count = vec(p.K),
                      shift_out = vec(p.K);
  normlayers::moments_shifted(p, x.begin(), na_rm, sh, mean.begin(), var.begin(),
                              count.begin(), shift_out.begin(), threads);
  return Rcpp::List::create(Rcpp::Named("mean") = mean, Rcpp::Named("var") = var,
                            Rcpp::Named("count") = count, Rcpp::Named("shift") = shift_out);
}

// [[Rcpp::export(rng = false)]]
Rcpp::NumericVector cpp_apply(Rcpp::NumericVector x, Rcpp::NumericVector dim,
                              Rcpp::LogicalVector reduced, Rcpp::Nullable<Rcpp::NumericVector> center,
                              Rcpp::NumericVector scale, Rcpp::Nullable<Rcpp::NumericVector> gamma, Rcpp::Nullable<Rcpp::NumericVector> beta,
                              bool param_kept, int threads, bool force_general = false) {
  const normlayers::Plan p = plan_from(x.size(), dim, reduced, force_general);
  const idx_t P = param_kept ? p.K : p.R;
  Rcpp::NumericVector kc, kg, kb;
  check_len(scale, p.K, "scale");
  Rcpp::NumericVector y = like(x);
  const normlayers::ApplyArgs A = {x.begin(), opt_ptr(center, p.K, "center", kc),
                                   scale.begin(), opt_ptr(gamma, P, "gamma", kg),
                                   opt_ptr(beta, P, "beta", kb), y.begin()};
  normlayers::apply(p, A, param_kept, threads);
  return y;
}

// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_layer_norm(Rcpp::NumericVector x, Rcpp::NumericVector dim,
                          Rcpp::LogicalVector reduced, Rcpp::Nullable<Rcpp::NumericVector> gamma, Rcpp::Nullable<Rcpp::NumericVector> beta,
                          double epsilon, int threads, bool force_general = false,
                          bool keep_stats = true) {
  const normlayers::Plan p = plan_from(x.size(), dim, reduced, force_general);
  Rcpp::NumericVector kg, kb;
  Rcpp::NumericVector y = like(x);
  // Without keep_stats (inference, the stateless op) the per-position
  // statistics are not written.
  Rcpp::NumericVector mean = vec(keep_stats ? p.K : 0), rstd = vec(keep_stats ? p.K : 0);
  const normlayers::FwdArgs A = {x.begin(), epsilon, opt_ptr(gamma, p.R, "gamma", kg),
                                 opt_ptr(beta, p.R, "beta", kb), y.begin(),
                                 ptr_or_null(mean, keep_stats), nullptr,
                                 ptr_or_null(rstd, keep_stats), nullptr};
  normlayers::layer_norm(p, A, threads);
  if (!keep_stats) return Rcpp::List::create(Rcpp::Named("y") = y);
  return Rcpp::List::create(Rcpp::Named("y") = y, Rcpp::Named("mean") = mean,
                            Rcpp::Named("rstd") = rstd);
}

// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_batch_norm_train(Rcpp::NumericVector x, Rcpp::NumericVector dim,
                                Rcpp::LogicalVector reduced, Rcpp::Nullable<Rcpp::NumericVector> gamma, Rcpp::Nullable<Rcpp::NumericVector> beta,
                                double epsilon, int threads, bool force_general = false) {
  const normlayers::Plan p = plan_from(x.size(), dim, reduced, force_general);
  Rcpp::NumericVector kg, kb;
  Rcpp::NumericVector y = like(x);
  Rcpp::NumericVector mean = vec(p.K), var = vec(p.K);
  const normlayers::FwdArgs A = {x.begin(), epsilon, opt_ptr(gamma, p.K, "gamma", kg),
                                 opt_ptr(beta, p.K, "beta", kb), y.begin(), mean.begin(),
                                 var.begin(), nullptr, nullptr};
  normlayers::batch_norm_train(p, A, threads);
  return Rcpp::List::create(Rcpp::Named("y") = y, Rcpp::Named("mean") = mean,
                            Rcpp::Named("var") = var);
}

// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_norm_backward(Rcpp::NumericVector x, Rcpp::NumericVector dy,
                             Rcpp::NumericVector dim, Rcpp::LogicalVector reduced,
                             Rcpp::NumericVector mean, Rcpp::NumericVector rstd,
                             Rcpp::Nullable<Rcpp::NumericVector> gamma, bool param_kept, bool batch_stats, int threads,
                             bool force_general = false) {
  const normlayers::Plan p = plan_from(x.size(), dim, reduced, force_general);
  check_len(dy, p.n, "dy");
  check_len(mean, p.K, "mean");
  check_len(rstd, p.K, "rstd");
  const idx_t P = param_kept ? p.K : p.R;
  Rcpp::NumericVector kg;
  Rcpp::NumericVector dx = like(x), dgamma = vec(P), dbeta = vec(P);
  const normlayers::BackArgs A = {x.begin(), dy.begin(), mean.begin(), rstd.begin(),
                                  opt_ptr(gamma, P, "gamma", kg), dx.begin(),
                                  dgamma.begin(), dbeta.begin(), P};
  normlayers::norm_backward(p, A, param_kept, batch_stats, threads);
  return Rcpp::List::create(Rcpp::Named("dx") = dx, Rcpp::Named("dgamma") = dgamma,
                            Rcpp::Named("dbeta") = dbeta);
}

// The path a kernel runs on (debugging and tests): kind ("rows", "cols",
// "general"), whether PATH_ROWS blocks are streamed, and the collapsed runs.
// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_plan_info(Rcpp::NumericVector dim, Rcpp::LogicalVector reduced,
                         bool force_general = false) {
  const std::vector<idx_t> d = dims_from(dim);
  idx_t n = 1;
  for (std::size_t t = 0; t < d.size(); ++t) n *= d[t];
  const normlayers::Plan p = plan_from(static_cast<R_xlen_t>(n), dim, reduced, force_general);
  const char* kinds[] = {"rows", "cols", "general"};
  Rcpp::NumericVector sizes(p.size.size());
  Rcpp::LogicalVector runs_reduced(p.size.size());
  for (std::size_t t = 0; t < p.size.size(); ++t) {
    sizes[t] = static_cast<double>(p.size[t]);
    runs_reduced[t] = p.red[t] != 0;
  }
  return Rcpp::List::create(
      Rcpp::Named("kind") = kinds[p.kind],
      Rcpp::Named("streamed") = p.kind == normlayers::PATH_ROWS && normlayers::rows_streamed(p),
      Rcpp::Named("sizes") = sizes, Rcpp::Named("reduced") = runs_reduced);
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

// Threads the kernels can use at most (1 without OpenMP).
// [[Rcpp::export(rng = false)]]
int cpp_max_threads() {
  return normlayers::max_threads();
}

// Inputs with fewer elements run on one thread whatever the thread count.
// [[Rcpp::export(rng = false)]]
double cpp_min_parallel_elements() {
  return static_cast<double>(normlayers::MIN_PARALLEL_ELEMENTS);
}
