// One-pass optimizer updates (R/optimizers.R). Each reads the weight, its
// gradient and its slots once and writes fresh arrays (the old slots may
// still be referenced by a rollback snapshot, so nothing is updated in
// place). The arithmetic follows the R formulas operation by operation, so
// results are the same to the last bit. A missing slot (NULL) starts at w * 0.
#include <Rcpp.h>
#include <cmath>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace {

SEXP like(SEXP w) {
  SEXP out = PROTECT(Rf_allocVector(REALSXP, XLENGTH(w)));
  SEXP d = Rf_getAttrib(w, R_DimSymbol);
  if (!Rf_isNull(d)) Rf_setAttrib(out, R_DimSymbol, Rf_duplicate(d));
  UNPROTECT(1);
  return out;
}

const double* slot_ptr(SEXP s, R_xlen_t n, const char* what) {
  if (Rf_isNull(s)) return nullptr;
  if (TYPEOF(s) != REALSXP || XLENGTH(s) != n) Rcpp::stop("Optimizer slot `%s` does not fit the weight.", what);
  return REAL(s);
}

void check(SEXP w, SEXP g) {
  if (TYPEOF(w) != REALSXP || TYPEOF(g) != REALSXP || XLENGTH(w) != XLENGTH(g)) {
    Rcpp::stop("The weight and its gradient must be double arrays of the same size.");
  }
}

// out[i] = sqrt(in[i]), two at a time with SSE2 (std::sqrt in a loop is not
// vectorized because of errno); both are correctly rounded, so identical.
void sqrt_array(const double* in, double* out, R_xlen_t n) {
  R_xlen_t i = 0;
#if defined(__SSE2__)
  for (; i + 1 < n; i += 2) _mm_storeu_pd(out + i, _mm_sqrt_pd(_mm_loadu_pd(in + i)));
#endif
  for (; i < n; ++i) out[i] = std::sqrt(in[i]);
}

SEXP named_list(std::initializer_list<std::pair<const char*, SEXP>> items) {
  const int n = static_cast<int>(items.size());
  SEXP res = PROTECT(Rf_allocVector(VECSXP, n));
  SEXP nms = PROTECT(Rf_allocVector(STRSXP, n));
  int i = 0;
  for (const auto& it : items) {
    SET_VECTOR_ELT(res, i, it.second);
    SET_STRING_ELT(nms, i, Rf_mkChar(it.first));
    ++i;
  }
  Rf_setAttrib(res, R_NamesSymbol, nms);
  UNPROTECT(2);
  return res;
}

}  // namespace

// SGD with momentum (momentum > 0): m <- m * momentum - g * lr;
// w <- w + m, or with Nesterov w <- w + (m * momentum - g * lr).
// [[Rcpp::export(rng = false)]]
SEXP nl_sgd_update_cpp(SEXP w, SEXP g, SEXP m, double lr, double momentum, bool nesterov) {
  check(w, g);
  const R_xlen_t n = XLENGTH(w);
  const double* pw = REAL(w);
  const double* pg = REAL(g);
  const double* pm = slot_ptr(m, n, "m");
  SEXP nw = PROTECT(like(w));
  SEXP nm = PROTECT(like(w));
  double* ow = REAL(nw);
  double* om = REAL(nm);
  for (R_xlen_t i = 0; i < n; ++i) {
    const double m0 = pm ? pm[i] : pw[i] * 0;
    const double m1 = m0 * momentum - pg[i] * lr;
    om[i] = m1;
    ow[i] = nesterov ? pw[i] + (m1 * momentum - pg[i] * lr) : pw[i] + m1;
  }
  SEXP res = named_list({{"w", nw}, {"m", nm}});
  UNPROTECT(2);
  return res;
}

// Adam: m <- m + (g - m) * (1 - beta_1); v <- v + (g^2 - v) * (1 - beta_2);
// with amsgrad vhat <- pmax(vhat, v) replaces v;
// w <- w - m * alpha / (sqrt(v) + epsilon).
// [[Rcpp::export(rng = false)]]
SEXP nl_adam_update_cpp(SEXP w, SEXP g, SEXP m, SEXP v, SEXP vhat, double alpha,
                        double beta_1, double beta_2, double epsilon, bool amsgrad) {
  check(w, g);
  const R_xlen_t n = XLENGTH(w);
  const double* pw = REAL(w);
  const double* pg = REAL(g);
  const double* pm = slot_ptr(m, n, "m");
  const double* pv = slot_ptr(v, n, "v");
  const double* ph = amsgrad ? slot_ptr(vhat, n, "vhat") : nullptr;
  SEXP nw = PROTECT(like(w));
  SEXP nm = PROTECT(like(w));
  SEXP nv = PROTECT(like(w));
  SEXP nh = PROTECT(amsgrad ? like(w) : R_NilValue);
  double* ow = REAL(nw);
  double* om = REAL(nm);
  double* ov = REAL(nv);
  double* oh = amsgrad ? REAL(nh) : nullptr;
  const double c1 = 1 - beta_1, c2 = 1 - beta_2;
  // Pass 1: the moments; pass 2: sqrt of the second moment (into the new
  // weight's memory); pass 3: the weight.
  for (R_xlen_t i = 0; i < n; ++i) {
    const double zero = pw[i] * 0;
    const double m0 = pm ? pm[i] : zero;
    const double v0 = pv ? pv[i] : zero;
    const double gi = pg[i];
    om[i] = m0 + (gi - m0) * c1;
    ov[i] = v0 + (gi * gi - v0) * c2;
  }
  const double* vuse = ov;
  if (amsgrad) {
    for (R_xlen_t i = 0; i < n; ++i) {
      const double h0 = ph ? ph[i] : pw[i] * 0;
      const double v1 = ov[i];
      // pmax(): NA/NaN propagate.
      oh[i] = (std::isnan(h0) || std::isnan(v1)) ? (std::isnan(h0) ? h0 : v1)
              : (h0 > v1 ? h0 : v1);
    }
    vuse = oh;
  }
  sqrt_array(vuse, ow, n);
  for (R_xlen_t i = 0; i < n; ++i) ow[i] = pw[i] - om[i] * alpha / (ow[i] + epsilon);
  SEXP res = named_list({{"w", nw}, {"m", nm}, {"v", nv}, {"vhat", nh}});
  UNPROTECT(4);
  return res;
}

// RMSprop: v <- rho * v + (1 - rho) * g^2; centered: a <- rho * a + (1 - rho) * g
// and the denominator is v - a^2 + epsilon, else v + epsilon;
// inc <- lr * g / sqrt(denominator); with momentum m <- momentum * m + inc and
// w <- w - m, else w <- w - inc.
// [[Rcpp::export(rng = false)]]
SEXP nl_rmsprop_update_cpp(SEXP w, SEXP g, SEXP v, SEXP a, SEXP m, double lr, double rho,
                           double momentum, double epsilon, bool centered) {
  check(w, g);
  const R_xlen_t n = XLENGTH(w);
  const bool use_m = momentum > 0;
  const double* pw = REAL(w);
  const double* pg = REAL(g);
  const double* pv = slot_ptr(v, n, "v");
  const double* pa = centered ? slot_ptr(a, n, "a") : nullptr;
  const double* pm = use_m ? slot_ptr(m, n, "m") : nullptr;
  SEXP nw = PROTECT(like(w));
  SEXP nv = PROTECT(like(w));
  SEXP na = PROTECT(centered ? like(w) : R_NilValue);
  SEXP nm = PROTECT(use_m ? like(w) : R_NilValue);
  double* ow = REAL(nw);
  double* ov = REAL(nv);
  double* oa = centered ? REAL(na) : nullptr;
  double* om = use_m ? REAL(nm) : nullptr;
  const double c = 1 - rho;
  for (R_xlen_t i = 0; i < n; ++i) {
    const double zero = pw[i] * 0;
    const double gi = pg[i];
    const double v1 = rho * (pv ? pv[i] : zero) + c * (gi * gi);
    ov[i] = v1;
    double denom;
    if (centered) {
      const double a1 = rho * (pa ? pa[i] : zero) + c * gi;
      oa[i] = a1;
      denom = v1 - a1 * a1 + epsilon;
    } else {
      denom = v1 + epsilon;
    }
    const double inc = lr * gi / std::sqrt(denom);
    if (use_m) {
      const double m1 = momentum * (pm ? pm[i] : zero) + inc;
      om[i] = m1;
      ow[i] = pw[i] - m1;
    } else {
      ow[i] = pw[i] - inc;
    }
  }
  SEXP res = named_list({{"w", nw}, {"v", nv}, {"a", na}, {"m", nm}});
  UNPROTECT(4);
  return res;
}

namespace {

SEXP list_get(SEXP lst, const char* name) {
  if (Rf_isNull(lst) || TYPEOF(lst) != VECSXP) return R_NilValue;
  SEXP nms = Rf_getAttrib(lst, R_NamesSymbol);
  if (Rf_isNull(nms)) return R_NilValue;
  for (R_xlen_t i = 0; i < XLENGTH(lst); ++i) {
    if (std::strcmp(CHAR(STRING_ELT(nms, i)), name) == 0) return VECTOR_ELT(lst, i);
  }
  return R_NilValue;
}

}  // namespace

// Adam on every weight at once (one call per step instead of one per
// weight): `weights`, `grads` and `slots` are parallel lists (a slot is NULL
// or list(m, v[, vhat])). Returns list(weights, slots), parallel lists.
// [[Rcpp::export(rng = false)]]
SEXP nl_adam_update_all_cpp(SEXP weights, SEXP grads, SEXP slots, double alpha, double beta_1,
                            double beta_2, double epsilon, bool amsgrad) {
  const R_xlen_t k = XLENGTH(weights);
  if (XLENGTH(grads) != k || XLENGTH(slots) != k) Rcpp::stop("Inconsistent lists.");
  SEXP nw = PROTECT(Rf_allocVector(VECSXP, k));
  SEXP ns = PROTECT(Rf_allocVector(VECSXP, k));
  for (R_xlen_t i = 0; i < k; ++i) {
    SEXP slot = VECTOR_ELT(slots, i);
    SEXP r = PROTECT(nl_adam_update_cpp(VECTOR_ELT(weights, i), VECTOR_ELT(grads, i),
                                        list_get(slot, "m"), list_get(slot, "v"),
                                        list_get(slot, "vhat"), alpha, beta_1, beta_2,
                                        epsilon, amsgrad));
    SET_VECTOR_ELT(nw, i, VECTOR_ELT(r, 0));
    SEXP s = amsgrad ? named_list({{"m", VECTOR_ELT(r, 1)}, {"v", VECTOR_ELT(r, 2)},
                                   {"vhat", VECTOR_ELT(r, 3)}})
                     : named_list({{"m", VECTOR_ELT(r, 1)}, {"v", VECTOR_ELT(r, 2)}});
    SET_VECTOR_ELT(ns, i, s);
    UNPROTECT(1);
  }
  SEXP res = named_list({{"weights", nw}, {"slots", ns}});
  UNPROTECT(2);
  return res;
}
