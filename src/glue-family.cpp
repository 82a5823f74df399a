// Rcpp glue for the RMS, unit and group normalization kernels (the
// MeanSquare, SumSquare and ParamChannel policies of the kernel library).
// Internal: R/kernels.R passes validated double arrays.
#include "glue.h"

using normlayers::idx_t;
using namespace normlayers_glue;

namespace {

// GroupNormalization sees x (channel axis `axis`, 1-based, batch axis 1) as
// [N, inner, Cg, G, outer] with inner, Cg and outer reduced.
struct GroupLayout {
  normlayers::Plan plan;
  normlayers::ParamChannel par;
  idx_t C;
};

GroupLayout group_layout(R_xlen_t len, const Rcpp::NumericVector& dim, int axis, int groups,
                         bool force_general) {
  const std::vector<idx_t> d = dims_from(dim);
  const int rank = static_cast<int>(d.size());
  if (axis < 2 || axis > rank) Rcpp::stop("`axis` must be in 2..%d.", rank);
  const idx_t C = d[axis - 1];
  if (groups < 1 || C % groups != 0) Rcpp::stop("`groups` must divide the channels.");
  idx_t inner = 1, outer = 1;
  for (int t = 1; t < axis - 1; ++t) inner *= d[t];
  for (int t = axis; t < rank; ++t) outer *= d[t];
  const idx_t G = groups, Cg = C / G;
  const std::vector<idx_t> g = {d[0], inner, Cg, G, outer};
  const std::vector<char> red = {0, 1, 1, 0, 1};
  GroupLayout out;
  out.plan = checked_plan(g, red, len, force_general);
  out.par.inner = inner;
  out.par.cg = Cg;
  out.par.batch = d[0];
  out.C = C;
  return out;
}

}  // namespace

// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_rms_norm(Rcpp::NumericVector x, Rcpp::NumericVector dim,
                        Rcpp::LogicalVector reduced, Rcpp::Nullable<Rcpp::NumericVector> scale,
                        double epsilon, int threads, bool force_general = false) {
  const normlayers::Plan p = plan_from(x.size(), dim, reduced, force_general);
  Rcpp::NumericVector ks;
  Rcpp::NumericVector y = like(x, threads), rstd = vec(p.K);
  const normlayers::FwdArgs A = {x.begin(), epsilon, opt_ptr(scale, p.R, "scale", ks),
                                 nullptr, y.begin(), nullptr, nullptr, rstd.begin(),
                                 nullptr, nullptr, nullptr};
  normlayers::rms_norm(p, A, threads);
  return Rcpp::List::create(Rcpp::Named("y") = y, Rcpp::Named("rstd") = rstd);
}

// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_rms_backward(Rcpp::NumericVector x, Rcpp::NumericVector dy,
                            Rcpp::NumericVector dim, Rcpp::LogicalVector reduced,
                            Rcpp::NumericVector rstd,
                            Rcpp::Nullable<Rcpp::NumericVector> scale, int threads,
                            bool force_general = false) {
  const normlayers::Plan p = plan_from(x.size(), dim, reduced, force_general);
  check_len(dy, p.n, "dy");
  check_len(rstd, p.K, "rstd");
  Rcpp::NumericVector ks;
  const double* s = opt_ptr(scale, p.R, "scale", ks);
  Rcpp::NumericVector dx = like(x, threads), dscale = vec(p.R);
  const normlayers::BackArgs A = {x.begin(), dy.begin(), nullptr, rstd.begin(), s,
                                  dx.begin(), s ? dscale.begin() : nullptr, nullptr, p.R};
  normlayers::rms_backward(p, A, threads);
  SEXP ds = s ? static_cast<SEXP>(dscale) : R_NilValue;
  return Rcpp::List::create(Rcpp::Named("dx") = dx, Rcpp::Named("dscale") = ds);
}

// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_unit_norm(Rcpp::NumericVector x, Rcpp::NumericVector dim,
                         Rcpp::LogicalVector reduced, double epsilon, int threads,
                         bool force_general = false) {
  const normlayers::Plan p = plan_from(x.size(), dim, reduced, force_general);
  Rcpp::NumericVector y = like(x, threads), inv = vec(p.K);
  const normlayers::FwdArgs A = {x.begin(), epsilon, nullptr, nullptr, y.begin(), nullptr,
                                 nullptr, inv.begin(), nullptr, nullptr, nullptr};
  normlayers::unit_norm(p, A, threads);
  return Rcpp::List::create(Rcpp::Named("y") = y, Rcpp::Named("inv") = inv);
}

// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_unit_backward(Rcpp::NumericVector x, Rcpp::NumericVector dy,
                             Rcpp::NumericVector dim, Rcpp::LogicalVector reduced,
                             Rcpp::NumericVector inv, int threads,
                             bool force_general = false) {
  const normlayers::Plan p = plan_from(x.size(), dim, reduced, force_general);
  check_len(dy, p.n, "dy");
  check_len(inv, p.K, "inv");
  Rcpp::NumericVector dx = like(x, threads);
  const normlayers::BackArgs A = {x.begin(), dy.begin(), nullptr, inv.begin(), nullptr,
                                  dx.begin(), nullptr, nullptr, p.R};
  normlayers::unit_backward(p, A, threads);
  return Rcpp::List::create(Rcpp::Named("dx") = dx);
}

// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_group_norm(Rcpp::NumericVector x, Rcpp::NumericVector dim, int axis,
                          int groups, Rcpp::Nullable<Rcpp::NumericVector> gamma,
                          Rcpp::Nullable<Rcpp::NumericVector> beta, double epsilon,
                          int threads, bool force_general = false) {
  const GroupLayout g = group_layout(x.size(), dim, axis, groups, force_general);
  Rcpp::NumericVector kg, kb;
  Rcpp::NumericVector y = like(x, threads), mean = vec(g.plan.K), rstd = vec(g.plan.K);
  const normlayers::FwdArgs A = {x.begin(), epsilon, opt_ptr(gamma, g.C, "gamma", kg),
                                 opt_ptr(beta, g.C, "beta", kb), y.begin(), mean.begin(),
                                 nullptr, rstd.begin(), nullptr, nullptr, nullptr};
  normlayers::group_norm(g.plan, g.par, A, threads);
  return Rcpp::List::create(Rcpp::Named("y") = y, Rcpp::Named("mean") = mean,
                            Rcpp::Named("rstd") = rstd);
}

// [[Rcpp::export(rng = false)]]
Rcpp::List cpp_group_backward(Rcpp::NumericVector x, Rcpp::NumericVector dy,
                              Rcpp::NumericVector dim, int axis, int groups,
                              Rcpp::NumericVector mean, Rcpp::NumericVector rstd,
                              Rcpp::Nullable<Rcpp::NumericVector> gamma, int threads,
                              bool force_general = false) {
  const GroupLayout g = group_layout(x.size(), dim, axis, groups, force_general);
  check_len(dy, g.plan.n, "dy");
  check_len(mean, g.plan.K, "mean");
  check_len(rstd, g.plan.K, "rstd");
  Rcpp::NumericVector kg;
  Rcpp::NumericVector dx = like(x, threads), dgamma = vec(g.C), dbeta = vec(g.C);
  const normlayers::BackArgs A = {x.begin(), dy.begin(), mean.begin(), rstd.begin(),
                                  opt_ptr(gamma, g.C, "gamma", kg), dx.begin(),
                                  dgamma.begin(), dbeta.begin(), g.C};
  normlayers::group_backward(g.plan, g.par, A, threads);
  return Rcpp::List::create(Rcpp::Named("dx") = dx, Rcpp::Named("dgamma") = dgamma,
                            Rcpp::Named("dbeta") = dbeta);
}

// The path the group kernels take (tests): "rows" or "general".
// [[Rcpp::export(rng = false)]]
std::string cpp_group_path(Rcpp::NumericVector dim, int axis, int groups,
                           bool force_general = false) {
  const std::vector<idx_t> d = dims_from(dim);
  idx_t n = 1;
  for (std::size_t t = 0; t < d.size(); ++t) n *= d[t];
  const GroupLayout g = group_layout(static_cast<R_xlen_t>(n), dim, axis, groups,
                                     force_general);
  const char* kinds[] = {"rows", "cols", "general"};
  return kinds[normlayers::path_of(g.plan, g.par)];
}
