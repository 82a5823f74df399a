// Dense layer and element-wise activation kernels (RcppEigen). Inputs are R
// double arrays viewed in place with Eigen::Map (no copies); every result is
// allocated once, with its dim set here so that R does not copy it again.
// A Dense input of shape (d1, ..., dk, f) is the column-major matrix
// (d1 * ... * dk) x f; the kernel is f x units.
//
// Activation codes (R/layer-activation.R): 0 linear, 1 relu, 2 sigmoid,
// 3 tanh, 4 softmax (over the last axis, i.e. across the columns of a row).
// The formulas follow the R reference versions operation by operation
// (softmax and column sums accumulate in long double, like rowSums() and
// colSums()), so results agree to the last bit apart from GEMM order.
#define EIGEN_DONT_PARALLELIZE
#include <RcppEigen.h>
#include <cmath>
#include <cstring>
#include <vector>
#include "frames.h"
#include "glue.h"

namespace {

typedef Eigen::Map<const Eigen::MatrixXd> CMap;
typedef Eigen::Map<Eigen::MatrixXd> MMap;

// A new double array of `len` values with dim `dim` (NULL: none), readied for
// writing with up to `threads` threads (normlayers_glue::ready_output()).
SEXP alloc_with_dim(R_xlen_t len, SEXP dim, int threads = 1) {
  SEXP out = PROTECT(normlayers_pool::alloc_real(len));
  normlayers_glue::ready_output(REAL(out), len, threads);
  if (!Rf_isNull(dim)) Rf_setAttrib(out, R_DimSymbol, Rf_duplicate(dim));
  UNPROTECT(1);
  return out;
}

void check_double(SEXP x, const char* what) {
  if (TYPEOF(x) != REALSXP) Rcpp::stop("`%s` must be a double array.", what);
}

// In place on an n x p column-major block.
void activate(int code, double* y, R_xlen_t n, R_xlen_t p) {
  const R_xlen_t len = n * p;
  switch (code) {
  case 0:
    break;
  case 1:
    for (R_xlen_t i = 0; i < len; ++i) if (y[i] < 0) y[i] = 0;
    break;
  case 2:
    for (R_xlen_t i = 0; i < len; ++i) y[i] = 1 / (1 + std::exp(-y[i]));
    break;
  case 3:
    for (R_xlen_t i = 0; i < len; ++i) y[i] = std::tanh(y[i]);
    break;
  case 4: {
    std::vector<double> mx(n, R_NegInf);
    for (R_xlen_t j = 0; j < p; ++j) {
      const double* c = y + j * n;
      for (R_xlen_t i = 0; i < n; ++i) if (c[i] > mx[i] || std::isnan(c[i])) mx[i] = c[i];
    }
    std::vector<long double> s(n, 0.0L);
    for (R_xlen_t j = 0; j < p; ++j) {
      double* c = y + j * n;
      for (R_xlen_t i = 0; i < n; ++i) {
        c[i] = std::exp(c[i] - mx[i]);
        s[i] += c[i];
      }
    }
    for (R_xlen_t j = 0; j < p; ++j) {
      double* c = y + j * n;
      for (R_xlen_t i = 0; i < n; ++i) c[i] = c[i] / static_cast<double>(s[i]);
    }
    break;
  }
  default:
    Rcpp::stop("Unknown activation code.");
  }
}

// dz = dy * activation'(given y), into `dz` (n x p).
void activate_backward(int code, const double* y, const double* dy, double* dz,
                       R_xlen_t n, R_xlen_t p) {
  const R_xlen_t len = n * p;
  switch (code) {
  case 0:
    std::memcpy(dz, dy, sizeof(double) * len);
    break;
  case 1:
    for (R_xlen_t i = 0; i < len; ++i) dz[i] = dy[i] * static_cast<double>(y[i] > 0);
    break;
  case 2:
    for (R_xlen_t i = 0; i < len; ++i) dz[i] = dy[i] * y[i] * (1 - y[i]);
    break;
  case 3:
    for (R_xlen_t i = 0; i < len; ++i) dz[i] = dy[i] * (1 - y[i] * y[i]);
    break;
  case 4: {
    std::vector<long double> s(n, 0.0L);
    for (R_xlen_t j = 0; j < p; ++j) {
      const double* g = dy + j * n;
      const double* yy = y + j * n;
      for (R_xlen_t i = 0; i < n; ++i) s[i] += g[i] * yy[i];
    }
    for (R_xlen_t j = 0; j < p; ++j) {
      const double* g = dy + j * n;
      const double* yy = y + j * n;
      double* o = dz + j * n;
      for (R_xlen_t i = 0; i < n; ++i) o[i] = yy[i] * (g[i] - static_cast<double>(s[i]));
    }
    break;
  }
  default:
    Rcpp::stop("Unknown activation code.");
  }
}

// The bias (nullptr: none) added to each column of an n x p block, then the
// activation, in place: the tail of a Dense forward pass.
void bias_activate(double* y, R_xlen_t n, R_xlen_t p, const double* b, int act) {
  if (b) {
    for (R_xlen_t j = 0; j < p; ++j) {
      double* c = y + j * n;
      const double bj = b[j];
      for (R_xlen_t i = 0; i < n; ++i) c[i] += bj;
    }
  }
  activate(act, y, n, p);
}

// Rows of the last-axis matrix of an array with `len` values and last axis p.
R_xlen_t last_axis_rows(SEXP x, R_xlen_t& p) {
  SEXP d = Rf_getAttrib(x, R_DimSymbol);
  const R_xlen_t len = XLENGTH(x);
  if (Rf_isNull(d) || XLENGTH(d) == 0) {
    p = len;
    return len > 0 ? 1 : 0;
  }
  p = INTEGER(d)[XLENGTH(d) - 1];
  return p > 0 ? len / p : 0;
}

}  // namespace

// y = activation(x %*% kernel + bias), with dim c(dim(x)[-r], units).
// [[Rcpp::export(rng = false)]]
SEXP nl_dense_forward_cpp(SEXP x, SEXP kernel, SEXP bias, int act, int threads = 1) {
  check_double(x, "x");
  check_double(kernel, "kernel");
  SEXP dx = Rf_getAttrib(x, R_DimSymbol);
  SEXP dk = Rf_getAttrib(kernel, R_DimSymbol);
  if (Rf_isNull(dx) || Rf_isNull(dk) || XLENGTH(dk) != 2) Rcpp::stop("`x` and `kernel` need dims.");
  const R_xlen_t r = XLENGTH(dx);
  const R_xlen_t fin = INTEGER(dk)[0], units = INTEGER(dk)[1];
  if (INTEGER(dx)[r - 1] != fin) Rcpp::stop("`x` has %d features, the kernel %d.",
                                            INTEGER(dx)[r - 1], static_cast<int>(fin));
  const R_xlen_t n = fin > 0 ? XLENGTH(x) / fin : 0;
  SEXP od = PROTECT(Rf_allocVector(INTSXP, r));
  std::memcpy(INTEGER(od), INTEGER(dx), sizeof(int) * r);
  INTEGER(od)[r - 1] = static_cast<int>(units);
  SEXP out = PROTECT(normlayers_pool::alloc_real(n * units));
  normlayers_glue::ready_output(REAL(out), n * units, threads);
  Rf_setAttrib(out, R_DimSymbol, od);
  CMap X(REAL(x), n, fin);
  CMap W(REAL(kernel), fin, units);
  MMap Y(REAL(out), n, units);
  if (fin == 0) Y.setZero(); else Y.noalias() = X * W;
  if (!Rf_isNull(bias)) {
    check_double(bias, "bias");
    if (XLENGTH(bias) != units) Rcpp::stop("`bias` must have length %d.", static_cast<int>(units));
  }
  bias_activate(REAL(out), n, units, Rf_isNull(bias) ? nullptr : REAL(bias), act);
  UNPROTECT(2);
  return out;
}

// Dense inference on a data frame's columns (`cols`: a list of `fin` plain
// columns of n values, see frames.h): y = activation(x %*% kernel + bias)
// without first copying the columns into a matrix. Rows are taken in blocks
// that stay in cache: each block is read from the columns, multiplied, given
// its bias and activation, and written to the output. With `names` a
// character vector (one name per unit) the output is a data frame with those
// names and `row_names`; otherwise an n x units matrix. Either way the output
// is the only allocation of its size. The values are those of
// nl_dense_forward_cpp() on the same data.
// [[Rcpp::export(rng = false)]]
SEXP nl_dense_forward_frame_cpp(SEXP cols, double nrow, SEXP kernel, SEXP bias, int act,
                                SEXP names, SEXP row_names, int threads = 1) {
  check_double(kernel, "kernel");
  if (TYPEOF(cols) != VECSXP) Rcpp::stop("`cols` must be a list.");
  SEXP dk = Rf_getAttrib(kernel, R_DimSymbol);
  if (Rf_isNull(dk) || XLENGTH(dk) != 2) Rcpp::stop("`kernel` must be a matrix.");
  const R_xlen_t fin = INTEGER(dk)[0], units = INTEGER(dk)[1];
  const R_xlen_t n = static_cast<R_xlen_t>(nrow);
  if (XLENGTH(cols) != fin) Rcpp::stop("The data frame has %d columns, the kernel %d rows.",
                                       static_cast<int>(XLENGTH(cols)), static_cast<int>(fin));
  for (R_xlen_t j = 0; j < fin; ++j) {
    if (!normlayers_frames::plain_column(VECTOR_ELT(cols, j), n)) {
      Rcpp::stop("Column %d is not a numeric vector of %d values.", static_cast<int>(j + 1),
                 static_cast<int>(n));
    }
  }
  if (!Rf_isNull(bias)) {
    check_double(bias, "bias");
    if (XLENGTH(bias) != units) Rcpp::stop("`bias` must have length %d.", static_cast<int>(units));
  }
  const bool frame = !Rf_isNull(names);
  if (frame && XLENGTH(names) != units) Rcpp::stop("`names` must have one name per unit.");
  SEXP out;
  std::vector<double*> dst(static_cast<std::size_t>(units));
  if (frame) {
    out = PROTECT(normlayers_frames::new_frame(units, n, names, row_names, dst.data()));
    normlayers_glue::ready_columns(dst.data(), units, n, threads);
  } else {
    out = PROTECT(Rf_allocMatrix(REALSXP, static_cast<int>(n), static_cast<int>(units)));
    normlayers_glue::ready_output(REAL(out), n * units, threads);
    for (R_xlen_t j = 0; j < units; ++j) dst[j] = REAL(out) + j * n;
  }
  // About 256 KB of input and output per block.
  const R_xlen_t width = fin + units > 0 ? fin + units : 1;
  R_xlen_t block = 32768 / width;
  block = block < 16 ? 16 : (block > 4096 ? 4096 : block);
  if (block > n) block = n;
  std::vector<double> xb(static_cast<std::size_t>(block * fin));
  std::vector<double> yb(static_cast<std::size_t>(block * units));
  CMap W(REAL(kernel), fin, units);
  const double* b = Rf_isNull(bias) ? nullptr : REAL(bias);
  for (R_xlen_t i0 = 0; i0 < n; i0 += block) {
    const R_xlen_t m = n - i0 < block ? n - i0 : block;
    for (R_xlen_t j = 0; j < fin; ++j) {
      normlayers_frames::read_column(VECTOR_ELT(cols, j), i0, m, xb.data() + j * m);
    }
    CMap X(xb.data(), m, fin);
    MMap Y(yb.data(), m, units);
    if (fin == 0) Y.setZero(); else Y.noalias() = X * W;
    bias_activate(yb.data(), m, units, b, act);
    for (R_xlen_t j = 0; j < units; ++j) {
      std::memcpy(dst[j] + i0, yb.data() + j * m, sizeof(double) * m);
    }
  }
  UNPROTECT(1);
  return out;
}

// Backward pass from the output y (the activation's derivative is a function
// of y for every supported activation). Returns list(dx, kernel, bias); dx is
// NULL when need_dx is FALSE, bias NULL when has_bias is FALSE.
// [[Rcpp::export(rng = false)]]
SEXP nl_dense_backward_cpp(SEXP x, SEXP y, SEXP dy, SEXP kernel, int act, bool has_bias,
                           bool need_dx, int threads = 1) {
  check_double(x, "x");
  check_double(y, "y");
  check_double(dy, "dy");
  check_double(kernel, "kernel");
  SEXP dk = Rf_getAttrib(kernel, R_DimSymbol);
  const R_xlen_t fin = INTEGER(dk)[0], units = INTEGER(dk)[1];
  const R_xlen_t n = units > 0 ? XLENGTH(y) / units : 0;
  if (XLENGTH(dy) != XLENGTH(y) || XLENGTH(x) != n * fin) Rcpp::stop("Inconsistent sizes.");
  std::vector<double> dzbuf;
  const double* dz = REAL(dy);
  if (act != 0) {
    dzbuf.resize(static_cast<size_t>(n * units));
    activate_backward(act, REAL(y), REAL(dy), dzbuf.data(), n, units);
    dz = dzbuf.data();
  }
  CMap X(REAL(x), n, fin);
  CMap DZ(dz, n, units);
  CMap W(REAL(kernel), fin, units);
  SEXP gk = PROTECT(alloc_with_dim(fin * units, dk));
  MMap GK(REAL(gk), fin, units);
  if (n == 0) GK.setZero(); else GK.noalias() = X.transpose() * DZ;
  SEXP gb = R_NilValue;
  if (has_bias) {
    gb = PROTECT(Rf_allocVector(REALSXP, units));
    double* b = REAL(gb);
    for (R_xlen_t j = 0; j < units; ++j) {
      long double s = 0.0L;
      const double* c = dz + j * n;
      for (R_xlen_t i = 0; i < n; ++i) s += c[i];
      b[j] = static_cast<double>(s);
    }
  } else {
    PROTECT(gb);
  }
  SEXP gx = R_NilValue;
  if (need_dx) {
    gx = PROTECT(alloc_with_dim(n * fin, Rf_getAttrib(x, R_DimSymbol), threads));
    MMap GX(REAL(gx), n, fin);
    if (units == 0) GX.setZero(); else GX.noalias() = DZ * W.transpose();
  } else {
    PROTECT(gx);
  }
  SEXP res = PROTECT(Rf_allocVector(VECSXP, 3));
  SET_VECTOR_ELT(res, 0, gx);
  SET_VECTOR_ELT(res, 1, gk);
  SET_VECTOR_ELT(res, 2, gb);
  SEXP nms = PROTECT(Rf_allocVector(STRSXP, 3));
  SET_STRING_ELT(nms, 0, Rf_mkChar("dx"));
  SET_STRING_ELT(nms, 1, Rf_mkChar("kernel"));
  SET_STRING_ELT(nms, 2, Rf_mkChar("bias"));
  Rf_setAttrib(res, R_NamesSymbol, nms);
  UNPROTECT(5);
  return res;
}

// An activation applied to an array (any shape; softmax over the last axis).
// [[Rcpp::export(rng = false)]]
SEXP nl_activation_forward_cpp(SEXP x, int act, int threads = 1) {
  check_double(x, "x");
  R_xlen_t p;
  const R_xlen_t n = last_axis_rows(x, p);
  const R_xlen_t len = XLENGTH(x);
  SEXP out = PROTECT(alloc_with_dim(len, Rf_getAttrib(x, R_DimSymbol), threads));
  if (act == 1) {
    const double* s = REAL(x);
    double* o = REAL(out);
    for (R_xlen_t i = 0; i < len; ++i) o[i] = s[i] < 0 ? 0 : s[i];
  } else {
    if (len) std::memcpy(REAL(out), REAL(x), sizeof(double) * len);
    if (act == 4) activate(act, REAL(out), n, p); else activate(act, REAL(out), len, 1);
  }
  UNPROTECT(1);
  return out;
}

// The same activation written over `x` itself (an array the caller owns,
// see nl_layer_infer()); returns `x`.
// [[Rcpp::export(rng = false)]]
SEXP nl_activation_inplace_cpp(SEXP x, int act) {
  check_double(x, "x");
  R_xlen_t p;
  const R_xlen_t n = last_axis_rows(x, p);
  const R_xlen_t len = XLENGTH(x);
  if (act == 4) activate(act, REAL(x), n, p); else activate(act, REAL(x), len, 1);
  return x;
}

// dx = dy * activation'(y), with the dim of dy.
// [[Rcpp::export(rng = false)]]
SEXP nl_activation_backward_cpp(SEXP y, SEXP dy, int act, int threads = 1) {
  check_double(y, "y");
  check_double(dy, "dy");
  if (XLENGTH(y) != XLENGTH(dy)) Rcpp::stop("Inconsistent sizes.");
  R_xlen_t p;
  const R_xlen_t n = last_axis_rows(y, p);
  const R_xlen_t len = XLENGTH(y);
  SEXP out = PROTECT(alloc_with_dim(len, Rf_getAttrib(dy, R_DimSymbol), threads));
  if (act == 4) activate_backward(act, REAL(y), REAL(dy), REAL(out), n, p);
  else activate_backward(act, REAL(y), REAL(dy), REAL(out), len, 1);
  UNPROTECT(1);
  return out;
}

// Inverted dropout with R's uniform stream (the numbers stats::runif(n)
// would give): y = x * (u >= rate) / (1 - rate). Returns list(y, mask) with
// the mask as raw bytes (1 = kept), an eighth of the output's size. The
// uniforms are drawn in order into the mask (one thread: R's generator is
// sequential); the output is then written from x and the mask in slices of
// equal size, one per thread (the same values for any thread count).
// [[Rcpp::export]]
SEXP nl_dropout_forward_cpp(SEXP x, double rate, int threads = 1) {
  check_double(x, "x");
  const R_xlen_t len = XLENGTH(x);
  SEXP y = PROTECT(alloc_with_dim(len, Rf_getAttrib(x, R_DimSymbol), threads));
  SEXP mask = PROTECT(Rf_allocVector(RAWSXP, len));
  normlayers_glue::ready_bytes(RAW(mask), static_cast<std::size_t>(len), threads);
  const double scale = 1 / (1 - rate);
  const double* s = REAL(x);
  double* o = REAL(y);
  Rbyte* mk = RAW(mask);
  for (R_xlen_t i = 0; i < len; ++i) {
    double u;
    do { u = unif_rand(); } while (u <= 0 || u >= 1);
    mk[i] = u >= rate ? 1 : 0;
  }
  const int nthr = normlayers::effective_threads(len, threads);
  const R_xlen_t per = (len + nthr - 1) / (nthr > 0 ? nthr : 1);
  normlayers::parallel_for(nthr, nthr, [&](normlayers::idx_t t) {
    const R_xlen_t i0 = static_cast<R_xlen_t>(t) * per;
    const R_xlen_t i1 = i0 + per < len ? i0 + per : len;
    for (R_xlen_t i = i0; i < i1; ++i) o[i] = s[i] * (mk[i] ? scale : 0.0);
  });
  SEXP res = PROTECT(Rf_allocVector(VECSXP, 2));
  SET_VECTOR_ELT(res, 0, y);
  SET_VECTOR_ELT(res, 1, mask);
  UNPROTECT(3);
  return res;
}

// dx = dy * mask / (1 - rate).
// [[Rcpp::export(rng = false)]]
SEXP nl_dropout_backward_cpp(SEXP dy, SEXP mask, double rate, int threads = 1) {
  check_double(dy, "dy");
  const R_xlen_t len = XLENGTH(dy);
  if (TYPEOF(mask) != RAWSXP || XLENGTH(mask) != len) Rcpp::stop("Inconsistent mask.");
  SEXP out = PROTECT(alloc_with_dim(len, Rf_getAttrib(dy, R_DimSymbol), threads));
  const double scale = 1 / (1 - rate);
  const double* g = REAL(dy);
  const Rbyte* mk = RAW(mask);
  double* o = REAL(out);
  for (R_xlen_t i = 0; i < len; ++i) o[i] = g[i] * (mk[i] ? scale : 0.0);
  UNPROTECT(1);
  return out;
}
