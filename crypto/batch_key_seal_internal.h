// Raw pieces of crypto/batch_key_seal.h for the known-answer tests only: X25519 on raw bytes
// (RFC 7748 vectors), the HKDF info encoding, and sealing with a caller-chosen ephemeral
// private key (a pinned vector of the whole construction). Production code uses
// SealBatchKey/OpenBatchKey.
#ifndef SEALPOOL_CRYPTO_BATCH_KEY_SEAL_INTERNAL_H_
#define SEALPOOL_CRYPTO_BATCH_KEY_SEAL_INTERNAL_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/batch_key_seal.h"

namespace sealpool::crypto::internal {

// The HKDF label of version 1 (followed by a 0x00 separator in the info).
inline constexpr std::string_view kBatchKeyLabel = "sealpool batch key v1";

// out = X25519(scalar, u) (RFC 7748 §5; OpenSSL clamps the scalar and masks u's top bit).
// InvalidArgument for sizes other than 32; FailedPrecondition if the result is all zero
// (u is a low-order point); `out` is wiped on every error.
[[nodiscard]] absl::Status X25519(std::span<const uint8_t> scalar, std::span<const uint8_t> u,
                                  std::span<uint8_t> out);

// The HKDF info of `binding` (layout in batch_key_seal.h). InvalidArgument for a pool id longer
// than kMaxBindingPoolIdSize.
[[nodiscard]] absl::StatusOr<std::vector<uint8_t>> BatchBindingInfo(const BatchBinding& binding);

// SealBatchKey with the ephemeral private key given (32 bytes) instead of drawn.
[[nodiscard]] absl::StatusOr<SealedBatchKey> SealBatchKeyWithEphemeral(
    std::span<const uint8_t> ephemeral_private, const KekPublicKey& kek_public,
    const BatchKey& batch_key, const BatchBinding& binding);

}  // namespace sealpool::crypto::internal

#endif  // SEALPOOL_CRYPTO_BATCH_KEY_SEAL_INTERNAL_H_
