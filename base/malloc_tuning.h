// glibc malloc settings for processes that stream data in ~1 MiB buffers (sealpoold, sealpool).
#ifndef SEALPOOL_BASE_MALLOC_TUNING_H_
#define SEALPOOL_BASE_MALLOC_TUNING_H_

#include <malloc.h>

namespace sealpool::base {

// With glibc's defaults every 1 MiB gRPC message buffer, protobuf string and segment buffer is
// a fresh mmap (or heap memory trimmed back to the kernel when freed), so each one is
// page-faulted and zeroed again: ~100k page faults and ~35% of sealpoold's CPU for a 400 MiB
// backup (docs/perf.md, "End to end through the daemons"). Above these thresholds blocks are
// still mapped on their own; below, freed memory stays in the heap for the next buffer, so the
// resident set is the peak working set (reported per stream in docs/perf.md).
// Call first thing in main(), before any thread starts (it overrides GLIBC_TUNABLES' malloc
// thresholds).
inline void TuneMallocForStreaming() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);   // the largest value glibc's dynamic threshold reaches
  mallopt(M_TRIM_THRESHOLD, 128 << 20);  // give memory back only above this much free at top
}

}  // namespace sealpool::base

#endif  // SEALPOOL_BASE_MALLOC_TUNING_H_
