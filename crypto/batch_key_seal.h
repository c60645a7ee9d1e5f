// KEK pairs and sealed batch keys (key groups with kek_mode "public"; docs/crypto.md "Sealed
// batch keys"). A key group's KEK is an X25519 key pair: writers hold only the public half and
// seal each short-lived batch key to it; only the private half (kept wrapped by the root key in
// the key service) opens a sealed batch key again.
//
//   SEALPOOL_ASSIGN_OR_RETURN(KekPair pair, GenerateKekPair());
//   BatchBinding binding{.pool_id = "pool-1", .group_no = 1, .kek_id = 3, .batch_id = 17};
//   SEALPOOL_ASSIGN_OR_RETURN(BatchKey batch, BatchKey::Generate());
//   SEALPOOL_ASSIGN_OR_RETURN(SealedBatchKey sealed,
//                             SealBatchKey(pair.public_key, batch, binding));
//   ...
//   SEALPOOL_ASSIGN_OR_RETURN(BatchKey again, OpenBatchKey(pair.private_key, sealed, binding));
//
// The construction (version 1), built from OpenSSL 3 EVP primitives (OpenSSL 3.0 has no HPKE):
//
//   (e, E)   = a fresh X25519 key pair per sealing (e from RAND_priv_bytes)
//   Z        = X25519(e, K)            K = the KEK public key; refused if all zero
//   W        = HKDF-SHA-256(salt = E || K, IKM = Z,
//                           info = "sealpool batch key v1" || 0x00 || u16be(len(pool id)) ||
//                                  pool id || u32be(group) || u32be(KEK id) || u64be(batch id),
//                           L = 32)
//   sealed   = 0x01 (version) || E (32 bytes) || RFC 5649 wrap of the batch key under W (40)
//
// Opening recomputes Z = X25519(k, E) with the private half k and its public key K = k·9, then W,
// and unwraps. RFC 5649 has no associated data, so the binding to (pool, group, KEK, batch) lives
// in the HKDF info: a sealed key moved to another batch, KEK, group or pool does not open.
//
// Errors:
//   InvalidArgument  a moved-from key; a sealed input that is not kSealedBatchKeySize bytes; a
//                    pool id longer than kMaxBindingPoolIdSize; SealBatchKey: a KEK public key
//                    that is a low-order point (the shared secret would be all zero);
//                    KekPublicKeyFromBytes: not 32 bytes.
//   DataLoss         OpenBatchKey: an unknown version byte; an ephemeral key that is a low-order
//                    point; the wrap's integrity check fails (corrupt, tampered with, another
//                    binding, or not sealed to this key pair's public half).
//   Internal         OpenSSL failed.
//
// Key material (the ephemeral private key, Z, W, the batch key, the KEK private key) lives in
// SecretBytes or in OpenSSL's EVP_PKEY (cleansed when freed) and never outlives a call.
//
// Thread safety: every function may run on any threads at once.
#ifndef SEALPOOL_CRYPTO_BATCH_KEY_SEAL_H_
#define SEALPOOL_CRYPTO_BATCH_KEY_SEAL_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "crypto/key_wrap.h"
#include "crypto/keys.h"

namespace sealpool::crypto {

inline constexpr size_t kX25519KeySize = 32;
static_assert(KekPrivateKey::kSize == kX25519KeySize);

// The public half of a KEK pair: an X25519 u-coordinate (RFC 7748 encoding). Not secret.
using KekPublicKey = std::array<uint8_t, kX25519KeySize>;

struct KekPair {
  KekPrivateKey private_key;
  KekPublicKey public_key;
};

// A fresh KEK pair (private scalar from RAND_priv_bytes).
[[nodiscard]] absl::StatusOr<KekPair> GenerateKekPair();
// The public half of `private_key` (X25519(k, 9)): the pair check of key creation.
[[nodiscard]] absl::StatusOr<KekPublicKey> DeriveKekPublicKey(const KekPrivateKey& private_key);
// InvalidArgument unless `bytes` is exactly 32 bytes. Does not judge the point (SealBatchKey
// refuses a low-order one).
[[nodiscard]] absl::StatusOr<KekPublicKey> KekPublicKeyFromBytes(std::span<const uint8_t> bytes);

// SHA-256 of the public half as 64 lower-case hex digits: what sealkmsd's usage registry pins
// (docs/kms.md "Public-key pins"). Internal if OpenSSL fails.
[[nodiscard]] absl::StatusOr<std::string> KekPublicKeySha256Hex(const KekPublicKey& public_key);

// What a sealed batch key is bound to (the HKDF info). Pool ids are at most 64 characters
// (docs/kms.md); the bound keeps the info far below OpenSSL 3.0's 1024-byte HKDF info limit.
inline constexpr size_t kMaxBindingPoolIdSize = 255;
struct BatchBinding {
  std::string_view pool_id;
  uint32_t group_no = 0;
  uint32_t kek_id = 0;
  uint64_t batch_id = 0;
};

inline constexpr uint8_t kSealedBatchKeyVersion = 1;
inline constexpr size_t kSealedBatchKeySize = 1 + kX25519KeySize + kWrappedDekSize;  // 73
using SealedBatchKey = std::array<uint8_t, kSealedBatchKeySize>;

// Seals `batch_key` to `kek_public` for `binding` (a fresh ephemeral key pair per call).
[[nodiscard]] absl::StatusOr<SealedBatchKey> SealBatchKey(const KekPublicKey& kek_public,
                                                         const BatchKey& batch_key,
                                                         const BatchBinding& binding);
// Opens a sealed batch key with the KEK pair's private half; `binding` must be the one it was
// sealed for.
[[nodiscard]] absl::StatusOr<BatchKey> OpenBatchKey(const KekPrivateKey& kek_private,
                                                   std::span<const uint8_t> sealed,
                                                   const BatchBinding& binding);

}  // namespace sealpool::crypto

#endif  // SEALPOOL_CRYPTO_BATCH_KEY_SEAL_H_
