// RFC 5649 key wrap (AES-256 key wrap with padding, NIST SP 800-38F KWP): a key group's Kek
// (or, in kek_mode "public", a writer's BatchKey) wraps each segment's Dek into 40 bytes that
// are stored beside the segment.
//
//   SEALPOOL_ASSIGN_OR_RETURN(WrappedDek wrapped, WrapDek(kek, dek));
//   SEALPOOL_ASSIGN_OR_RETURN(Dek dek, UnwrapDek(kek, wrapped));
//
// Key wrap is deterministic (the same KEK and DEK always give the same 40 bytes) and needs
// no nonce. Unwrapping checks RFC 5649's alternative initial value (a 32-bit constant and the
// 32-bit key length) and the padding, so a changed wrapping or the wrong KEK is accepted only
// with probability about 2^-64.
//
// Errors:
//   InvalidArgument  wrapped input not exactly kWrappedDekSize bytes; a moved-from key.
//   DataLoss         the wrapped bytes fail RFC 5649's integrity check (corruption,
//                    tampering, or not wrapped by this KEK), or unwrap to a key that is not
//                    32 bytes long.
//   Internal         OpenSSL failed.
//
// Thread safety: both functions may run on any threads at once.
#ifndef SEALPOOL_CRYPTO_KEY_WRAP_H_
#define SEALPOOL_CRYPTO_KEY_WRAP_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/statusor.h"
#include "crypto/keys.h"

namespace sealpool::crypto {

// 8 bytes of integrity check value + the 32-byte key (a multiple of 8: no padding).
inline constexpr size_t kWrappedDekSize = 40;
using WrappedDek = std::array<uint8_t, kWrappedDekSize>;

static_assert(WrappingKeyTag<KekTag> && WrappingKeyTag<BatchKeyTag> && WrappableKeyTag<DekTag>);

[[nodiscard]] absl::StatusOr<WrappedDek> WrapDek(const Kek& kek, const Dek& dek);
[[nodiscard]] absl::StatusOr<Dek> UnwrapDek(const Kek& kek, std::span<const uint8_t> wrapped);

// The same wrap under a key group's batch key (kek_mode "public": a writer's DEKs are wrapped
// under its open batch key, whose key is sealed to the KEK pair's public half;
// crypto/batch_key_seal.h). Same layout, same errors.
[[nodiscard]] absl::StatusOr<WrappedDek> WrapDek(const BatchKey& batch_key, const Dek& dek);
[[nodiscard]] absl::StatusOr<Dek> UnwrapDek(const BatchKey& batch_key,
                                            std::span<const uint8_t> wrapped);

}  // namespace sealpool::crypto

#endif  // SEALPOOL_CRYPTO_KEY_WRAP_H_
