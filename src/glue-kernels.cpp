// Rcpp glue for the kernel library in inst/include/normlayers/. Internal: the
// R wrappers in R/kernels.R pass already-validated double arrays, the array's
// dimensions and one reduced flag per axis; the checks here only protect
// memory safety. The layout is planned (axes collapsed into runs) in C++.
#include "glue.h"

using normlayers::idx_t;
using namespace normlayers_glue;

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

// `out` (optional): a double array of x's length to write the result into
// instead of a new one, which may be `x` itself (the kernel is element-wise,
// every value is read before it is written); it is returned.
// [[Rcpp::export(rng = false)]]
Rcpp::NumericVector cpp_apply(Rcpp::NumericVector x, Rcpp::NumericVector dim,
                              Rcpp::LogicalVector reduced, Rcpp::Nullable<Rcpp::NumericVector> center,
                              Rcpp::NumericVector scale, Rcpp::Nullable<Rcpp::NumericVector> gamma, Rcpp::Nullable<Rcpp::NumericVector> beta,
                              bool param_kept, int threads, bool force_general = false,
                              SEXP out = R_NilValue) {
  const normlayers::Plan p = plan_from(x.size(), dim, reduced, force_general);
  const idx_t P = param_kept ? p.K : p.R;
  Rcpp::NumericVector kc, kg, kb;
  check_len(scale, p.K, "scale");
  if (!Rf_isNull(out) && (TYPEOF(out) != REALSXP || XLENGTH(out) != x.size())) {
    Rcpp::stop("`out` must be a double array of the length of `x`.");
  }
  Rcpp::NumericVector y = Rf_isNull(out) ? like(x, threads) : Rcpp::NumericVector(out);
  const normlayers::ApplyArgs A = {x.begin(), opt_ptr(center, p.K, "center", kc),
                                   scale.begin(), opt_ptr(gamma, P, "gamma", kg),
                                   opt_ptr(beta, P, "beta", kb), y.begin()};
  normlayers::apply(p, A, param_kept, threads);
  return y;
}

// `out` as in cpp_apply(): every position's values are read (for its
// statistics) before its outputs are written, so it may be `x`.
// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_layer_norm(Rcpp::NumericVector x, Rcpp::NumericVector dim,
                          Rcpp::LogicalVector reduced, Rcpp::Nullable<Rcpp::NumericVector> gamma, Rcpp::Nullable<Rcpp::NumericVector> beta,
                          double epsilon, int threads, bool force_general = false,
                          bool keep_stats = true, SEXP out = R_NilValue) {
  const normlayers::Plan p = plan_from(x.size(), dim, reduced, force_general);
  Rcpp::NumericVector kg, kb;
  if (!Rf_isNull(out) && (TYPEOF(out) != REALSXP || XLENGTH(out) != x.size())) {
    Rcpp::stop("`out` must be a double array of the length of `x`.");
  }
  Rcpp::NumericVector y = Rf_isNull(out) ? like(x, threads) : Rcpp::NumericVector(out);
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
  Rcpp::NumericVector y = like(x, threads);
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
  Rcpp::NumericVector dx = like(x, threads), dgamma = vec(P), dbeta = vec(P);
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
