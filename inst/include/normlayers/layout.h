// normlayers/layout.h: an array split into kept / reduced runs (R-free).
//
// The caller gives the array's dimensions and which axes are reduced. This is
// the only place where axes are collapsed into "runs": maximal groups of
// consecutive axes that are all kept or all reduced, size-1 axes dropped. Run 0
// is the fastest varying one. Kept positions k are numbered column-major over
// the kept axes, reduced positions r column-major over the reduced axes (the
// numbering does not depend on the collapse).
//
// The plan classifies the layout into one of three execution paths:
//   PATH_ROWS    [kept a, reduced b, kept c]   (c = 1 gives [kept, reduced])
//                element (i, j, l) at i + a*j + a*b*l,  k = i + a*l, r = j
//   PATH_COLS    [reduced a, kept b, reduced c] (c = 1 gives [reduced, kept])
//                element (i, j, l) at i + a*j + a*b*l,  k = j, r = i + a*l
//   PATH_GENERAL anything else: the outermost kept run T is split into
//                "items" j; each item is visited in memory order with an
//                odometer over the runs inside T, the innermost run being a
//                tight loop ("line").
#ifndef NORMLAYERS_LAYOUT_H
#define NORMLAYERS_LAYOUT_H

#include <cstddef>
#include <stdexcept>
#include <vector>

namespace normlayers {

typedef std::ptrdiff_t idx_t;

enum PathKind { PATH_ROWS = 0, PATH_COLS = 1, PATH_GENERAL = 2 };

// Maximum number of collapsed runs (an array of rank d has at most d runs).
const int MAX_RUNS = 128;

struct Plan {
  PathKind kind;
  idx_t n, K, R;          // elements, kept positions, reduced positions
  idx_t a, b, c;          // sizes for PATH_ROWS / PATH_COLS

  // collapsed runs (size-1 runs dropped), alternating status
  std::vector<idx_t> size;
  std::vector<char> red;
  // PATH_GENERAL description
  int T;                    // index of the outermost kept run ("item" run)
  idx_t ST;                 // its size (1 if virtual)
  idx_t So;                 // size of the reduced run outside T (1 if none)
  idx_t P;                  // elements inside one item slab (runs 0..T-1)
  idx_t Kin, Rin;           // kept / reduced positions inside the slab
  idx_t len0;               // length of one line (run 0, or 1)
  bool red0;                // is the line run reduced?
  std::vector<idx_t> kstr, rstr;  // kept / reduced index strides of runs

  Plan() : kind(PATH_GENERAL), n(0), K(1), R(1), a(1), b(1), c(1), T(0),
           ST(1), So(1), P(1), Kin(1), Rin(1), len0(1), red0(true) {}
};

// The collapse: dims and per-axis reduced flags -> alternating runs.
inline void collapse_runs(const std::vector<idx_t>& dim,
                          const std::vector<char>& reduced, Plan& p) {
  p.n = 1;
  p.K = 1;
  p.R = 1;
  for (std::size_t t = 0; t < dim.size(); ++t) {
    if (dim[t] < 0) throw std::invalid_argument("negative dimension");
    p.n *= dim[t];
    if (reduced[t]) p.R *= dim[t]; else p.K *= dim[t];
    if (dim[t] == 1) continue;
    const char rt = reduced[t] ? 1 : 0;
    if (!p.size.empty() && p.red.back() == rt) {
      p.size.back() *= dim[t];
    } else {
      p.size.push_back(dim[t]);
      p.red.push_back(rt);
    }
  }
  if (p.size.size() > static_cast<std::size_t>(MAX_RUNS)) {
    throw std::invalid_argument("too many runs");
  }
}

// The item run T of PATH_GENERAL and the strides of the runs inside it.
inline void plan_general(Plan& p) {
  const std::vector<idx_t>& s = p.size;
  const std::vector<char>& r = p.red;
  const int m = static_cast<int>(s.size());
  p.kind = PATH_GENERAL;
  p.T = 0;
  p.ST = 1;
  p.So = 1;
  if (m >= 1 && !r[m - 1]) {
    p.T = m - 1;
    p.ST = s[m - 1];
  } else if (m >= 2) {
    p.T = m - 2;
    p.ST = s[m - 2];
    p.So = s[m - 1];
  } else if (m == 1) {
    p.T = 1;  // a single reduced run: a virtual kept run of size 1 outside it
  }
  p.kstr.assign(MAX_RUNS + 1, 0);
  p.rstr.assign(MAX_RUNS + 1, 0);
  for (int t = 0; t < p.T; ++t) {
    p.kstr[t] = p.Kin;
    p.rstr[t] = p.Rin;
    p.P *= s[t];
    if (r[t]) p.Rin *= s[t]; else p.Kin *= s[t];
  }
  p.len0 = p.T >= 1 ? s[0] : 1;
  p.red0 = p.T >= 1 ? r[0] != 0 : true;
}

// dim: the array's dimensions; reduced: one flag per axis.
inline Plan make_plan(const std::vector<idx_t>& dim,
                      const std::vector<char>& reduced,
                      bool force_general = false) {
  if (dim.size() != reduced.size()) {
    throw std::invalid_argument("dim and reduced must have the same length");
  }
  Plan p;
  collapse_runs(dim, reduced, p);
  const int m = static_cast<int>(p.size.size());
  if (force_general || m > 3) {
    plan_general(p);
    return p;
  }
  p.kind = (m >= 1 && p.red[0]) ? PATH_COLS : PATH_ROWS;
  if (m >= 1) p.a = p.size[0];
  if (m >= 2) p.b = p.size[1];
  if (m >= 3) p.c = p.size[2];
  return p;
}

// The same layout on PATH_GENERAL (for kernels without a fast path).
inline Plan general_plan(const Plan& q) {
  Plan p = q;
  p.kstr.clear();
  p.rstr.clear();
  p.P = p.Kin = p.Rin = 1;
  plan_general(p);
  return p;
}

// Visit the lines of one item slab (runs 0..T-1) in memory order:
// f(offset within slab, kept base, reduced base). Inside a line element i
// has k = kb + i (line kept) or r = rb + i (line reduced).
template <class F>
inline void for_each_line(const Plan& p, F&& f) {
  if (p.T <= 1) {
    f(static_cast<idx_t>(0), static_cast<idx_t>(0), static_cast<idx_t>(0));
    return;
  }
  const idx_t nlines = p.P / p.len0;
  idx_t cnt[MAX_RUNS + 1];
  for (int t = 0; t <= p.T; ++t) cnt[t] = 0;
  idx_t off = 0, kb = 0, rb = 0;
  for (idx_t line = 0; line < nlines; ++line) {
    f(off, kb, rb);
    off += p.len0;
    for (int t = 1; t < p.T; ++t) {
      if (++cnt[t] < p.size[t]) {
        if (p.red[t]) rb += p.rstr[t]; else kb += p.kstr[t];
        break;
      }
      cnt[t] = 0;
      if (p.red[t]) rb -= p.rstr[t] * (p.size[t] - 1);
      else kb -= p.kstr[t] * (p.size[t] - 1);
    }
  }
}

// Visit every line of item j (all So outer reduced slices):
// f(memory offset of the line, kept index inside the item of the line start,
// reduced index of the line start).
template <class F>
inline void for_each_item_line(const Plan& p, idx_t j, F&& f) {
  for (idx_t l = 0; l < p.So; ++l) {
    const idx_t base = p.P * j + p.P * p.ST * l;
    const idx_t rbase = p.Rin * l;
    for_each_line(p, [&](idx_t off, idx_t kb, idx_t rb) { f(base + off, kb, rbase + rb); });
  }
}

// PATH_COLS: visit the contiguous pieces of reduced range [r0, r1) of column
// j: f(memory offset, length, first reduced index of the piece).
template <class F>
inline void for_each_piece(const Plan& p, idx_t j, idx_t r0, idx_t r1, F&& f) {
  idx_t r = r0;
  while (r < r1) {
    const idx_t l = r / p.a;
    const idx_t i0 = r - l * p.a;
    idx_t len = p.a - i0;
    if (r1 - r < len) len = r1 - r;
    f(i0 + p.a * j + p.a * p.b * l, len, r);
    r += len;
  }
}

}  // namespace normlayers

#endif
