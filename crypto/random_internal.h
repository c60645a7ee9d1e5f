// Cheap random bytes for public values drawn many times a second (GCM nonces): served from a
// small per-thread buffer that is refilled from RandomBytes (RAND_bytes) and discarded in a
// child process after fork(), so parent and child never hand out the same bytes. Each byte
// is handed out once and then zeroed in the buffer. Never use for key material (use
// PrivateRandomBytes). Internal to crypto/.
#ifndef SEALPOOL_CRYPTO_RANDOM_INTERNAL_H_
#define SEALPOOL_CRYPTO_RANDOM_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"

namespace sealpool::crypto::internal {

inline constexpr size_t kRandomBufferSize = 1024;

// Fills `out` (at most kRandomBufferSize bytes) from the calling thread's buffer. Internal if
// the DRBG fails, InvalidArgument if `out` is larger than the buffer.
[[nodiscard]] absl::Status BufferedRandomBytes(std::span<uint8_t> out);

}  // namespace sealpool::crypto::internal

#endif  // SEALPOOL_CRYPTO_RANDOM_INTERNAL_H_
