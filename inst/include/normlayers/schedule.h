// normlayers/schedule.h: threads, work partitions and per-thread scratch.
//
// Work is cut into items whose boundaries depend on the shape only; every
// statistic is accumulated by one item in a fixed order, so results are
// bit-identical for any thread count. parallel_for() is the only place that
// starts threads.
#ifndef NORMLAYERS_SCHEDULE_H
#define NORMLAYERS_SCHEDULE_H

#include "layout.h"
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#include <cstdint>
#endif

namespace normlayers {

// Inputs with fewer elements than this run on one thread.
const idx_t MIN_PARALLEL_ELEMENTS = 100000;

inline int thread_index() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Threads the machine can run: what OpenMP reports, and never more than its
// thread limit (OMP_THREAD_LIMIT).
inline int max_threads() {
#ifdef _OPENMP
  int n = omp_get_num_procs();
  const int lim = omp_get_thread_limit();
  if (lim > 0 && lim < n) n = lim;
  return n < 1 ? 1 : n;
#else
  return 1;
#endif
}

// Threads used for n elements when `requested` are asked for (capped by the
// machine, so that an absurd request cannot exhaust memory).
inline int effective_threads(idx_t n, int requested) {
#ifdef _OPENMP
  if (requested < 1 || n < MIN_PARALLEL_ELEMENTS) return 1;
  const int cap = max_threads();
  return requested < cap ? requested : cap;
#else
  (void) n;
  (void) requested;
  return 1;
#endif
}

// f(i) for i in [0, n), statically split over nthr threads.
template <class F>
inline void parallel_for(int nthr, idx_t n, F&& f) {
#ifdef _OPENMP
  if (nthr > 1) {
#pragma omp parallel for num_threads(nthr) schedule(static)
    for (idx_t i = 0; i < n; ++i) f(i);
    return;
  }
#endif
  (void) nthr;
  for (idx_t i = 0; i < n; ++i) f(i);
}

// Per-thread scratch: `arrays` vectors of B doubles for each of nthr threads,
// allocated once per call (B is a block of rows or the kept positions of an
// item, so this is O(rows) memory). Each array has one meaning in a kernel:
// the kernels name them through small structs.
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

// ---- output memory ---------------------------------------------------------

// Outputs smaller than this (in doubles, 2 MiB) are not prefaulted.
const idx_t PREFAULT_MIN_ELEMENTS = 262144;

#if defined(__linux__)
#ifdef MADV_POPULATE_WRITE
const int NL_MADV_POPULATE_WRITE = MADV_POPULATE_WRITE;
#else
const int NL_MADV_POPULATE_WRITE = 23;  // Linux 5.14; older headers lack the name
#endif
#endif

// A large new output is untouched memory: writing it page-faults once per
// 4 KiB page, each fault a trap into the operating system. Linux 5.14 and
// later fault in a whole range in one call (MADV_POPULATE_WRITE); here each of
// nthr threads takes one piece. On the 2-core VM the package is measured on,
// a 1e6 x 64 unit_norm forward into a prefaulted output took about half the
// time of the same kernel touching its output page by page (as the `x + 0.5`
// yardstick does); on memory that is already mapped (recycled heap) the call
// only walks the page tables (about 0.3 us per page there). Where the call is
// unsupported it fails and the pages fault as usual; the values written are
// the same either way. Outputs of fewer than `min_elements` doubles are left
// alone (a caller that prefaults many smaller pieces of one large output
// passes 0).
inline void prefault(double* p, idx_t n, int nthr, idx_t min_elements = PREFAULT_MIN_ELEMENTS) {
#if defined(__linux__)
  if (!p || n < min_elements || n <= 0) return;
  const long ps = sysconf(_SC_PAGESIZE);
  const std::uintptr_t page = ps > 0 ? static_cast<std::uintptr_t>(ps) : 4096;
  const std::uintptr_t b = (reinterpret_cast<std::uintptr_t>(p) + page - 1) / page * page;
  const std::uintptr_t e = reinterpret_cast<std::uintptr_t>(p + n) / page * page;
  if (e <= b) return;
  const idx_t pages = static_cast<idx_t>((e - b) / page);
  const idx_t parts = nthr < 1 ? 1 : (nthr < pages ? nthr : pages);
  parallel_for(static_cast<int>(parts), parts, [&](idx_t t) {
    const idx_t p0 = pages / parts * t + (t < pages % parts ? t : pages % parts);
    const idx_t p1 = p0 + pages / parts + (t < pages % parts ? 1 : 0);
    void* start = reinterpret_cast<void*>(b + static_cast<std::uintptr_t>(p0) * page);
    madvise(start, static_cast<std::size_t>(p1 - p0) * page, NL_MADV_POPULATE_WRITE);
  });
#else
  (void) p;
  (void) n;
  (void) nthr;
  (void) min_elements;
#endif
}

// ---- PATH_ROWS blocks ------------------------------------------------------

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

// One PATH_ROWS block: `rows` rows from row i0 of slab l, at memory offset
// off, kept positions k0 .. k0 + rows - 1.
struct RowBlock {
  idx_t off, k0, rows, l;
};

// The blocks of a PATH_ROWS layout: nb blocks of B rows per slab, c slabs.
struct RowBlocks {
  idx_t B, nb, items;
  RowBlocks(const Plan& p, idx_t arrays)
      : B(rows_block(p, arrays)), nb((p.a + B - 1) / B), items(nb * p.c) {}
  RowBlock at(const Plan& p, idx_t it) const {
    RowBlock blk;
    blk.l = it / nb;
    const idx_t i0 = (it - blk.l * nb) * B;
    blk.rows = (p.a - i0 < B) ? p.a - i0 : B;
    blk.off = i0 + p.a * p.b * blk.l;
    blk.k0 = i0 + p.a * blk.l;
    return blk;
  }
};

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

// ---- PATH_COLS chunks ------------------------------------------------------

// PATH_COLS: reduced positions per chunk.
const idx_t COLS_CHUNK = 4096;

// Rows [r0, r1) of chunk `it` of column j (nq chunks of COLS_CHUNK per column).
inline void chunk_bounds(idx_t it, idx_t j, idx_t nq, idx_t R, idx_t& r0, idx_t& r1) {
  r0 = (it - j * nq) * COLS_CHUNK;
  r1 = (R - r0 < COLS_CHUNK) ? R : r0 + COLS_CHUNK;
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
  if (fused) {
    parallel_for(nthr, K, [&](idx_t j) {
      for (idx_t q = 0; q < nq; ++q) first(j * nq + q);
      finish(j);
      if (second_pass) {
        for (idx_t q = 0; q < nq; ++q) second(j * nq + q);
      }
    });
    return;
  }
  parallel_for(nthr, K * nq, first);
  for (idx_t j = 0; j < K; ++j) finish(j);
  if (second_pass) parallel_for(nthr, K * nq, second);
}

// ---- PATH_GENERAL groups ---------------------------------------------------

// Number of item groups.
inline idx_t general_groups(const Plan& p) {
  return p.ST < 64 ? p.ST : 64;
}

inline idx_t group_begin(idx_t total, idx_t ngroups, idx_t g) {
  return (total / ngroups) * g + (g < total % ngroups ? g : total % ngroups);
}

}  // namespace normlayers

#endif
