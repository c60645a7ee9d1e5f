// The key-store file of the key service is sealed under a StoreKey derived from an operator
// passphrase with scrypt (RFC 7914), a memory-hard KDF: guessing passphrases offline costs
// 128 * r * n bytes of memory and about 4 * n * r * p block operations per guess.
//
//   ScryptParams params;                       // n = 2^15, r = 8, p = 1: 32 MiB, ~0.1 s
//   SEALPOOL_ASSIGN_OR_RETURN(StoreKey key, DeriveStoreKey(passphrase, salt, params));
//
// The salt is random (RandomBytes, at least kMinScryptSaltSize bytes) and stored in the
// key-store file's header beside the parameters, so the key can be derived again.
//
// Errors:
//   InvalidArgument  empty passphrase; salt shorter than kMinScryptSaltSize; n not a power of
//                    two in [2^10, 2^22]; r not in [1, 32]; p not in [1, 16].
//   Internal         OpenSSL failed, including failing to allocate the scrypt memory (up to
//                    16 GiB at the largest accepted n and r: callers that read parameters from
//                    a file should bound them further if that matters to them).
//
// Thread safety: may run on any threads at once. Takes seconds at large parameters.
#ifndef SEALPOOL_CRYPTO_PASSPHRASE_KDF_H_
#define SEALPOOL_CRYPTO_PASSPHRASE_KDF_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/keys.h"

namespace sealpool::crypto {

inline constexpr size_t kMinScryptSaltSize = 16;

struct ScryptParams {
  uint64_t n = uint64_t{1} << 15;  // CPU/memory cost, a power of two
  uint32_t r = 8;                  // block size
  uint32_t p = 1;                  // parallelisation
};

// OK if `params` is within the accepted ranges above, else InvalidArgument naming the field.
[[nodiscard]] absl::Status ValidateScryptParams(const ScryptParams& params);

[[nodiscard]] absl::StatusOr<StoreKey> DeriveStoreKey(std::span<const uint8_t> passphrase,
                                                      std::span<const uint8_t> salt,
                                                      const ScryptParams& params);

}  // namespace sealpool::crypto

#endif  // SEALPOOL_CRYPTO_PASSPHRASE_KDF_H_
