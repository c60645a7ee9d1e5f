// Internals of SecretBytes' allocator, exposed for tests and diagnostics only.
#ifndef SEALPOOL_CRYPTO_SECURE_MEMORY_INTERNAL_H_
#define SEALPOOL_CRYPTO_SECURE_MEMORY_INTERNAL_H_

#include <cstddef>

namespace sealpool::crypto::internal {

// Buffers of at most this many bytes share arenas of kSecretArenaSize bytes. Arenas are never
// unmapped, so a released slot stays readable (and reads as zeros: it is wiped on release and
// the free list is kept outside the arenas). Larger buffers are unmapped on release.
inline constexpr size_t kSecretSlotSize = 64;
inline constexpr size_t kSecretArenaSize = size_t{64} * 1024;

struct SecretPoolStats {
  size_t arenas = 0;           // arenas mapped so far
  size_t unlocked_arenas = 0;  // of which mlock failed
  size_t slots_in_use = 0;
};

SecretPoolStats GetSecretPoolStats();

// Forgets that a failed mlock was reported, so that a test (in a child process) sees the report.
void ResetMlockReportForTest();

}  // namespace sealpool::crypto::internal

#endif  // SEALPOOL_CRYPTO_SECURE_MEMORY_INTERNAL_H_
