// Raw scrypt with any output length and no policy checks on the parameters (empty passphrase
// and salt allowed, any n OpenSSL accepts): for the RFC 7914 known-answer tests only.
// Production code uses DeriveStoreKey (crypto/passphrase_kdf.h).
#ifndef SEALPOOL_CRYPTO_PASSPHRASE_KDF_INTERNAL_H_
#define SEALPOOL_CRYPTO_PASSPHRASE_KDF_INTERNAL_H_

#include <cstdint>
#include <span>

#include "absl/status/status.h"

namespace sealpool::crypto::internal {

// Memory scrypt needs for these parameters, as OpenSSL counts it: 128*r*(n+2) + 128*r*p.
uint64_t ScryptMemoryBytes(uint64_t n, uint32_t r, uint32_t p);

// Fills `out` with scrypt(passphrase, salt, n, r, p). Internal if OpenSSL refuses the
// parameters or fails.
[[nodiscard]] absl::Status ScryptRaw(std::span<const uint8_t> passphrase,
                                     std::span<const uint8_t> salt, uint64_t n, uint32_t r,
                                     uint32_t p, std::span<uint8_t> out);

}  // namespace sealpool::crypto::internal

#endif  // SEALPOOL_CRYPTO_PASSPHRASE_KDF_INTERNAL_H_
