// Client digest keys (client-side dedup, docs/security.md "Client-side dedup"): the key a
// backup client digests its segments with, so that the key group's fingerprint key never
// leaves sealpoold. One key per (key group, owner, epoch):
//
//   client digest key = HKDF-SHA-256(salt = "sealpool client digest v1",
//                                    IKM  = the group's fingerprint key,
//                                    info = group id (16 bytes) || u32 BE epoch || owner,
//                                    L = 32)
//   client digest     = HMAC-SHA-256(client digest key, segment bytes)
//
// The group id and the epoch have fixed sizes, so the owner (the rest of info) is unambiguous.
// As for image digests (crypto/image_digest.h), HKDF's extract step keys HMAC with the fixed
// salt and the fingerprint key is only ever its message: no fingerprint the pool computes can
// be, or lead to, a client digest key, and a client digest key reveals nothing of the
// fingerprint key or of another owner's (or epoch's) key. Bumping the epoch gives the owner a
// new, independent key: the revocation of a leaked one.
//
// Errors: InvalidArgument for a moved-from fingerprint key or an owner longer than 255 bytes;
// ResourceExhausted if no secret memory is left; Internal if OpenSSL fails. The derived bytes
// live only in locked secret memory (SecretBytes).
//
// Thread safety: a pure function.
#ifndef SEALPOOL_CRYPTO_CLIENT_DIGEST_KEY_H_
#define SEALPOOL_CRYPTO_CLIENT_DIGEST_KEY_H_

#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"
#include "crypto/keys.h"

namespace sealpool::crypto {

inline constexpr char kClientDigestKeySalt[] = "sealpool client digest v1";
inline constexpr size_t kClientDigestMaxOwner = 255;

[[nodiscard]] absl::StatusOr<ClientDigestKey> DeriveClientDigestKey(
    const FingerprintKey& fingerprint_key, std::span<const uint8_t, 16> group_id,
    std::string_view owner, uint32_t epoch);

}  // namespace sealpool::crypto

#endif  // SEALPOOL_CRYPTO_CLIENT_DIGEST_KEY_H_
