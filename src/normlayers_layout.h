// normlayers: R-free description of an array split into kept / reduced runs.
//
// An array in column-major memory order is described by "runs": maximal
// groups of consecutive axes that are either all kept or all reduced. Run 0
// is the fastest varying one. Kept positions k are numbered column-major over
// the kept runs, reduced positions r column-major over the reduced runs.
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
#include <vector>
#include <stdexcept>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace normlayers {

typedef std::ptrdiff_t idx_t;

enum PathKind { PATH_ROWS = 0, PATH_COLS = 1, PATH_GENERAL = 2 };

// Maximum number of collapsed runs (an array of rank d has at most d runs).
const int MAX_RUNS = 128;

// Inputs with fewer elements than this run on one thread.
const idx_t MIN_PARALLEL_ELEMENTS = 100000;

inline int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

inline int effective_threads(idx_t n, int requested) {
#ifdef _OPENMP
  if (requested < 1 || n < MIN_PARALLEL_ELEMENTS) return 1;
  return requested;
#else
  (void) n;
  (void) requested;
  return 1;
#endif
}

struct Plan {
  PathKind kind;
  idx_t n, K, R;          // elements, kept positions, reduced positions
  idx_t a, b, c;          // sizes for PATH_ROWS / PATH_COLS

  // PATH_GENERAL description
  std::vector<idx_t> size;  // collapsed runs (size-1 runs dropped)
  std::vector<char> red;
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

// sizes/reduced describe runs (or axes); consecutive runs with the same
// status are merged and size-1 runs are dropped.
inline Plan make_plan(const std::vector<idx_t>& sizes,
                      const std::vector<char>& reduced,
                      bool force_general = false) {
  if (sizes.size() != reduced.size()) {
    throw std::invalid_argument("sizes and reduced must have the same length");
  }
  Plan p;
  p.n = 1;
  p.K = 1;
  p.R = 1;
  for (std::size_t t = 0; t < sizes.size(); ++t) {
    if (sizes[t] < 0) throw std::invalid_argument("negative run size");
    p.n *= sizes[t];
    if (reduced[t]) p.R *= sizes[t]; else p.K *= sizes[t];
  }
  std::vector<idx_t> s;
  std::vector<char> r;
  for (std::size_t t = 0; t < sizes.size(); ++t) {
    if (sizes[t] == 1) continue;
    char rt = reduced[t] ? 1 : 0;
    if (!s.empty() && r.back() == rt) {
      s.back() *= sizes[t];
    } else {
      s.push_back(sizes[t]);
      r.push_back(rt);
    }
  }
  const int m = static_cast<int>(s.size());
  if (m > MAX_RUNS) throw std::invalid_argument("too many runs");
  p.size = s;
  p.red = r;

  if (!force_general && m <= 3) {
    if (m == 0) {
      p.kind = PATH_ROWS;
    } else if (r[0]) {
      p.kind = PATH_COLS;
    } else {
      p.kind = PATH_ROWS;
    }
    if (m >= 1) p.a = s[0];
    if (m >= 2) p.b = s[1];
    if (m >= 3) p.c = s[2];
    return p;
  }

  p.kind = PATH_GENERAL;
  if (m == 0) {
    p.T = 0;
    p.ST = 1;
    p.So = 1;
  } else if (!r[m - 1]) {
    p.T = m - 1;
    p.ST = s[m - 1];
    p.So = 1;
  } else if (m >= 2) {
    p.T = m - 2;
    p.ST = s[m - 2];
    p.So = s[m - 1];
  } else {
    // a single reduced run: a virtual kept run of size 1 outside it
    p.T = 1;
    p.ST = 1;
    p.So = 1;
  }
  p.P = 1;
  p.Kin = 1;
  p.Rin = 1;
  p.kstr.assign(MAX_RUNS + 1, 0);
  p.rstr.assign(MAX_RUNS + 1, 0);
  for (int t = 0; t < p.T; ++t) {
    p.kstr[t] = p.Kin;
    p.rstr[t] = p.Rin;
    p.P *= s[t];
    if (r[t]) p.Rin *= s[t]; else p.Kin *= s[t];
  }
  if (p.T >= 1) {
    p.len0 = s[0];
    p.red0 = r[0] != 0;
  } else {
    p.len0 = 1;
    p.red0 = true;
  }
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

// Fixed work partitions (independent of the thread count).

#ifndef NL_ROWS_TARGET
#define NL_ROWS_TARGET 262144  // elements per cached PATH_ROWS block (2 MiB of doubles)
#endif
#ifndef NL_ROWS_STREAM
#define NL_ROWS_STREAM 512  // fewer rows than this per cached block: stream instead
#endif
#ifndef NL_ROWS_MAX
#define NL_ROWS_MAX 32768
#endif
#ifndef NL_PANEL_TARGET
#define NL_PANEL_TARGET 65536  // elements per column panel of a streamed block (512 KiB)
#endif

// PATH_ROWS blocks of rows. Within a block every column is a contiguous run
// of `rows` values, and long runs are what the memory system streams fastest
// (measured on a 2-core AMD EPYC VM, 1 MiB L2 per core, 32 MiB L3):
// - "cached" blocks (up to about 2 MiB, read `arrays` at a time) stay in the
//   outer caches between the passes over them (statistics, deviations,
//   output), so the input is read from memory once. 2 MiB blocks beat
//   128 KiB blocks by 1.3-1.6x.
// - on wide matrices a cached block would have fewer than NL_ROWS_STREAM rows,
//   i.e. runs of a few hundred bytes; there "streamed" blocks of long runs
//   that are read from memory once per pass are faster (1e4 x 4096: 1.6-2x
//   without page faults), the forward statistics being computed in column
//   panels that do stay in cache (rows_panel()).
inline bool rows_streamed(const Plan& p, idx_t arrays = 1) {
  return NL_ROWS_TARGET / ((p.b > 0 ? p.b : 1) * arrays) < NL_ROWS_STREAM;
}

// Rows per block; depends on the shape only. At least 16 cached blocks (4
// streamed ones) per slab when the rows allow, so that threads share the work.
inline idx_t rows_block(const Plan& p, idx_t arrays = 1) {
  idx_t B, parts;
  if (rows_streamed(p, arrays)) {
    B = 8192;
    parts = 4;
  } else {
    B = NL_ROWS_TARGET / ((p.b > 0 ? p.b : 1) * arrays);
    parts = 16;
  }
  if (B > NL_ROWS_MAX) B = NL_ROWS_MAX;
  idx_t share = ((p.a + parts - 1) / parts + 7) / 8 * 8;
  if (share < 64) share = 64;
  if (B > share) B = share;
  B = (B / 8) * 8;
  if (B > p.a) B = p.a;
  if (B < 1) B = 1;
  return B;
}

// Columns per statistics panel of a streamed block of B rows.
inline idx_t rows_panel(idx_t B) {
  idx_t P = NL_PANEL_TARGET / (B > 0 ? B : 1);
  return P < 4 ? 4 : P;
}

// PATH_COLS: reduced positions per chunk.
const idx_t COLS_CHUNK = 4096;

// PATH_GENERAL: number of item groups.
inline idx_t general_groups(const Plan& p) {
  return p.ST < 64 ? p.ST : 64;
}

inline idx_t group_begin(idx_t total, idx_t ngroups, idx_t g) {
  return (total / ngroups) * g + (g < total % ngroups ? g : total % ngroups);
}

}  // namespace normlayers

#endif
