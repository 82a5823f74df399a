// The pool of recycled memory for large outputs: see src/pool.h.
//
// All of it runs on R's main thread: allocVector3() calls pool_alloc() and
// the garbage collector calls pool_free(); neither is ever called from a
// parallel region.
#include <Rcpp.h>
#include <R_ext/Rallocators.h>
#include <cstring>
#include "pool.h"
#if defined(__linux__)
#include <dlfcn.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#endif

namespace {

#if defined(__linux__)

// Our header in front of the memory R gets: the size of the mapping.
const std::size_t HEADER = 64;
// At most this many free blocks are kept.
const int MAX_FREE = 16;
// A free block idle for longer than this is returned to the system the next
// time another output is freed.
const double IDLE_SECONDS = 10.0;

struct Block {
  char* base;
  std::size_t bytes;
  double freed_at;
};

// Plain arrays, no destructors: a vector of the pool may be freed by R after
// this library's static objects would have been destroyed.
Block free_blocks[MAX_FREE];
int n_free = 0;
std::size_t free_bytes = 0;
double n_reused = 0, n_mapped = 0;

// Outputs just handed out from recycled memory, not yet readied (a ring).
const int MAX_WARM = 16;
struct Range {
  const char* begin;
  const char* end;
};
Range warm[MAX_WARM];
int warm_next = 0;

double now() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

std::size_t page_size() {
  const long ps = sysconf(_SC_PAGESIZE);
  return ps > 0 ? static_cast<std::size_t>(ps) : 4096;
}

// At most an eighth of the machine's memory, and at most 4 GiB.
std::size_t pool_limit() {
  static std::size_t limit = 0;
  if (limit == 0) {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const std::size_t ram = pages > 0 ? static_cast<std::size_t>(pages) * page_size() : 0;
    const std::size_t cap = std::size_t(4) << 30;
    limit = ram == 0 ? (std::size_t(1) << 30) : (ram / 8 < cap ? ram / 8 : cap);
  }
  return limit;
}

bool env_enabled() {
  const char* v = std::getenv("NORMLAYERS_POOL");
  return !(v && v[0] == '0');
}

// Takes free block i out of the pool.
Block take_block(int i) {
  const Block b = free_blocks[i];
  free_bytes -= b.bytes;
  for (int j = i + 1; j < n_free; ++j) free_blocks[j - 1] = free_blocks[j];
  --n_free;
  return b;
}

void unmap_block(int i) {
  const Block b = take_block(i);
  munmap(b.base, b.bytes);
}

void forget_warm(const char* p) {
  for (int i = 0; i < MAX_WARM; ++i) {
    if (warm[i].begin && p >= warm[i].begin && p < warm[i].end) warm[i].begin = warm[i].end = nullptr;
  }
}

int release_all() {
  const int n = n_free;
  while (n_free > 0) unmap_block(n_free - 1);
  return n;
}

void pool_free(R_allocator_t*, void* p);

// A vector of the pool is freed by R through a pointer to pool_free(), so
// this library must stay mapped for as long as such a vector may live, even
// after R unloads it. Marking it RTLD_NODELETE does that; where that fails
// the pool stays off.
bool pinned() {
  static int state = -1;
  if (state < 0) {
    state = 0;
    Dl_info info;
    if (dladdr(reinterpret_cast<void*>(&pool_free), &info) && info.dli_fname) {
      void* h = dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
      state = h ? 1 : 0;
    }
  }
  return state == 1;
}

void* pool_alloc(R_allocator_t*, std::size_t size) {
  const std::size_t need = size + HEADER;
  // The smallest free block that holds the request without wasting more
  // than half of itself.
  int best = -1;
  for (int i = 0; i < n_free; ++i) {
    const std::size_t b = free_blocks[i].bytes;
    if (b >= need && b / 2 <= need && (best < 0 || b < free_blocks[best].bytes)) best = i;
  }
  char* base = nullptr;
  std::size_t bytes = 0;
  if (best >= 0) {
    const Block b = take_block(best);
    base = b.base;
    bytes = b.bytes;
    ++n_reused;
    warm[warm_next].begin = base + HEADER;
    warm[warm_next].end = base + bytes;
    warm_next = (warm_next + 1) % MAX_WARM;
  } else {
    const std::size_t ps = page_size();
    bytes = (need + ps - 1) / ps * ps;
    void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED && n_free > 0) {
      release_all();
      m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    if (m == MAP_FAILED) return nullptr;  // R collects garbage and tries again, or reports
    base = static_cast<char*>(m);
    ++n_mapped;
  }
  std::memcpy(base, &bytes, sizeof bytes);
  return base + HEADER;
}

void pool_free(R_allocator_t*, void* p) {
  char* base = static_cast<char*>(p) - HEADER;
  std::size_t bytes;
  std::memcpy(&bytes, base, sizeof bytes);
  forget_warm(base + HEADER);
  const std::size_t limit = env_enabled() ? pool_limit() : 0;
  if (bytes > limit) {
    munmap(base, bytes);
    return;
  }
  // Blocks that stayed free for IDLE_SECONDS while others came and went are
  // not needed any more. (Pruned here, not when an output is allocated: one
  // call allocating several outputs would prune the blocks its own later
  // outputs are about to reuse.)
  const double t = now();
  for (int i = n_free - 1; i >= 0; --i) {
    if (t - free_blocks[i].freed_at > IDLE_SECONDS) unmap_block(i);
  }
  while (n_free > 0 && (n_free == MAX_FREE || free_bytes + bytes > limit)) unmap_block(0);  // oldest first
  free_blocks[n_free].base = base;
  free_blocks[n_free].bytes = bytes;
  free_blocks[n_free].freed_at = t;
  ++n_free;
  free_bytes += bytes;
}

R_allocator_t pool_allocator = {&pool_alloc, &pool_free, nullptr, nullptr};

#endif  // __linux__

}  // namespace

namespace normlayers_pool {

SEXP alloc_real(R_xlen_t n) {
#if defined(__linux__)
  if (n > 0 && static_cast<std::size_t>(n) >= POOL_MIN_BYTES / sizeof(double) && env_enabled() &&
      pinned()) {
    return Rf_allocVector3(REALSXP, n, &pool_allocator);
  }
#endif
  return Rf_allocVector(REALSXP, n);
}

bool recycled(const void* p) {
#if defined(__linux__)
  const char* c = static_cast<const char*>(p);
  for (int i = 0; i < MAX_WARM; ++i) {
    if (warm[i].begin && c >= warm[i].begin && c < warm[i].end) {
      warm[i].begin = warm[i].end = nullptr;
      return true;
    }
  }
#else
  (void) p;
#endif
  return false;
}

}  // namespace normlayers_pool

// The pool's counters: outputs served from recycled memory and from new
// mappings, the free blocks held and their bytes, the limit, and whether the
// pool is on.
// [[Rcpp::export]]
Rcpp::List nl_pool_stats_cpp() {
#if defined(__linux__)
  const bool on = env_enabled() && pinned();
  const double reused = n_reused, mapped = n_mapped, bytes = static_cast<double>(free_bytes),
               limit = static_cast<double>(pool_limit());
  const int blocks = n_free;
#else
  const bool on = false;
  const double reused = 0, mapped = 0, bytes = 0, limit = 0;
  const int blocks = 0;
#endif
  return Rcpp::List::create(Rcpp::Named("enabled") = on, Rcpp::Named("reused") = reused,
                            Rcpp::Named("mapped") = mapped, Rcpp::Named("free_blocks") = blocks,
                            Rcpp::Named("free_bytes") = bytes, Rcpp::Named("limit_bytes") = limit);
}

// Returns every free block of the pool to the system; the number returned.
// [[Rcpp::export]]
int nl_pool_release_cpp() {
#if defined(__linux__)
  return release_all();
#else
  return 0;
#endif
}
