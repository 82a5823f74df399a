// Large outputs from a small pool of recycled memory (src/pool.cpp).
//
// A new large R vector is fresh memory from the operating system: every 4 KiB
// page is faulted in (and zeroed) when it is first written. On the virtual
// machines the package is measured on, that costs far more than the
// arithmetic: writing 512 MB of fresh memory took about 2 s, writing it again
// 0.025 s. glibc's malloc() returns blocks of more than 32 MB to the system
// when R frees them, so a loop that normalizes a large array again and again
// pays the faults on every call.
//
// Large outputs of the kernels are therefore allocated through R's custom
// allocator interface (allocVector3()) from a pool: when R's garbage collector
// frees such a vector its memory is kept, already faulted in, and the next
// output of about the same size reuses it. The pool holds at most
// pool_limit() bytes of free memory, returns a block to the system once it has
// been idle for some seconds and another output is freed, and is emptied by
// nl_pool_release_cpp() (nl_memory_pool(release = TRUE)). The vectors are
// ordinary R vectors in every other respect (R counts and profiles their
// allocation as usual).
//
// NORMLAYERS_POOL=0 (read at each allocation) turns it off: every output is
// then allocated by R as before. It is compiled only on Linux.
#ifndef NORMLAYERS_POOL_H
#define NORMLAYERS_POOL_H

#include <Rinternals.h>
#include <cstddef>

namespace normlayers_pool {

// Outputs of at least this many bytes come from the pool.
const std::size_t POOL_MIN_BYTES = std::size_t(4) << 20;

// A new double vector of n values (uninitialized): from the pool when it is
// large and the pool is on, else from R. Not protected.
SEXP alloc_real(R_xlen_t n);

// True when p lies in an output that alloc_real() has just handed out from
// recycled memory (already faulted in, so there is nothing to prefault); the
// record is dropped by the call.
bool recycled(const void* p);

}  // namespace normlayers_pool

#endif
