// HMAC-SHA-256 with arbitrary key bytes: for known-answer tests only (RFC 4231 uses keys of
// 4 to 131 bytes). Production code uses Fingerprinter::Create with a FingerprintKey.
#ifndef SEALPOOL_CRYPTO_FINGERPRINT_INTERNAL_H_
#define SEALPOOL_CRYPTO_FINGERPRINT_INTERNAL_H_

#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "crypto/fingerprint.h"

namespace sealpool::crypto::internal {

// InvalidArgument for an empty key; Internal if OpenSSL fails.
[[nodiscard]] absl::StatusOr<Fingerprinter> FingerprinterFromKeyBytes(std::span<const uint8_t> key);

}  // namespace sealpool::crypto::internal

#endif  // SEALPOOL_CRYPTO_FINGERPRINT_INTERNAL_H_
