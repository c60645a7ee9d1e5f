// Raw HKDF-SHA-256 (RFC 5869, extract-then-expand) with arbitrary IKM, salt, info and output
// length: for the RFC 5869 known-answer tests only. Production code uses
// ImageDigester::Create (crypto/image_digest.h), which fixes the salt and output length.
#ifndef SEALPOOL_CRYPTO_IMAGE_DIGEST_INTERNAL_H_
#define SEALPOOL_CRYPTO_IMAGE_DIGEST_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"

namespace sealpool::crypto::internal {

// RFC 5869's bound on L for SHA-256: 255 * HashLen.
inline constexpr size_t kMaxHkdfSha256Output = 255 * 32;

// Fills `out` with HKDF-SHA-256(salt, ikm, info, L = out.size()). Empty salt and info are
// allowed (an empty salt means HashLen zero bytes, as in RFC 5869). InvalidArgument if `out`
// is empty or longer than kMaxHkdfSha256Output; Internal if OpenSSL fails (`out` is then
// wiped).
[[nodiscard]] absl::Status HkdfSha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                                      std::span<const uint8_t> info, std::span<uint8_t> out);

}  // namespace sealpool::crypto::internal

#endif  // SEALPOOL_CRYPTO_IMAGE_DIGEST_INTERNAL_H_
