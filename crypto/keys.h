// Key types. Every key sealpool handles is a 256-bit secret held in SecretBytes (locked,
// excluded from core dumps, wiped on release) and typed by what it is for:
//
//   Dek             one segment's data-encryption key      AEAD (Seal/Open); wrapped by a KEK
//   Kek             a key group's key-encryption key       wraps DEKs (RFC 5649)
//   FingerprintKey  a key group's fingerprint key          HMAC-SHA-256 fingerprints
//   ClientDigestKey one client's digest key (client-side   HMAC-SHA-256 client digests
//                   dedup), derived from a FingerprintKey  (crypto/client_digest_key.h)
//   RootKey         a root key of the key service          AEAD over KEKs (in the KMS)
//   StoreKey        derived from an operator passphrase    AEAD over the KMS key-store file
//   KekPrivateKey   private half of a key group's KEK pair  X25519 scalar; opens sealed batch
//                   (kek_mode "public")                     keys (crypto/batch_key_seal.h)
//   BatchKey        a writer's short-lived batch key        wraps DEKs (RFC 5649); sealed to
//                                                           the KEK pair's public half
//   HostKey         a host credential of sealpoold          AEAD over the host-sealed copy of
//                   (kek_mode "public" groups)              a fingerprint key (issue 17)
//
// Distinct key types never convert into each other, are move-only (Clone() is the explicit
// copy), cannot be streamed or formatted, and expose their bytes through exactly one greppable
// call, RevealSecret(). Which primitive accepts which key is decided by KeyTraits below and
// enforced by the concepts, so misuse does not compile:
//
//   Seal(kek, ...)              // error: Kek is not an AeadKeyTag
//   WrapDek(root_key, dek)      // error: no conversion from RootKey to Kek
//
// A moved-from key is empty (RevealSecret() is empty); every primitive refuses it with
// InvalidArgument.
//
// Thread safety: a Key is immutable after creation; const access from many threads is safe.
#ifndef SEALPOOL_CRYPTO_KEYS_H_
#define SEALPOOL_CRYPTO_KEYS_H_

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <span>
#include <utility>

#include "absl/status/statusor.h"
#include "crypto/secure_memory.h"

namespace sealpool::crypto {

struct DekTag {};
struct KekTag {};
struct FingerprintKeyTag {};
struct ClientDigestKeyTag {};
struct RootKeyTag {};
struct StoreKeyTag {};
struct KekPrivateKeyTag {};
struct BatchKeyTag {};
struct HostKeyTag {};

// What each kind of key may be used for. Only the specialisations below exist, so Key<Tag>
// of any other tag does not compile.
template <typename Tag>
struct KeyTraits;

template <>
struct KeyTraits<DekTag> {
  static constexpr const char* kName = "DEK";
  static constexpr bool kAead = true;
  static constexpr bool kWrapsKeys = false;
  static constexpr bool kWrappable = true;
  static constexpr bool kMac = false;
};
template <>
struct KeyTraits<KekTag> {
  static constexpr const char* kName = "KEK";
  static constexpr bool kAead = false;
  static constexpr bool kWrapsKeys = true;
  static constexpr bool kWrappable = false;
  static constexpr bool kMac = false;
};
template <>
struct KeyTraits<FingerprintKeyTag> {
  static constexpr const char* kName = "fingerprint key";
  static constexpr bool kAead = false;
  static constexpr bool kWrapsKeys = false;
  static constexpr bool kWrappable = false;
  static constexpr bool kMac = true;
};
template <>
struct KeyTraits<ClientDigestKeyTag> {
  static constexpr const char* kName = "client digest key";
  static constexpr bool kAead = false;
  static constexpr bool kWrapsKeys = false;
  static constexpr bool kWrappable = false;
  static constexpr bool kMac = true;
};
template <>
struct KeyTraits<RootKeyTag> {
  static constexpr const char* kName = "root key";
  static constexpr bool kAead = true;
  static constexpr bool kWrapsKeys = false;
  static constexpr bool kWrappable = false;
  static constexpr bool kMac = false;
};
template <>
struct KeyTraits<StoreKeyTag> {
  static constexpr const char* kName = "store key";
  static constexpr bool kAead = true;
  static constexpr bool kWrapsKeys = false;
  static constexpr bool kWrappable = false;
  static constexpr bool kMac = false;
};

template <>
struct KeyTraits<KekPrivateKeyTag> {
  static constexpr const char* kName = "KEK private key";
  static constexpr bool kAead = false;
  static constexpr bool kWrapsKeys = false;
  static constexpr bool kWrappable = false;
  static constexpr bool kMac = false;
};
template <>
struct KeyTraits<BatchKeyTag> {
  static constexpr const char* kName = "batch key";
  static constexpr bool kAead = false;
  static constexpr bool kWrapsKeys = true;
  static constexpr bool kWrappable = false;
  static constexpr bool kMac = false;
};

template <>
struct KeyTraits<HostKeyTag> {
  static constexpr const char* kName = "host key";
  static constexpr bool kAead = true;
  static constexpr bool kWrapsKeys = false;
  static constexpr bool kWrappable = false;
  static constexpr bool kMac = false;
};

// Keys Seal/Open (AES-256-GCM) accept: Dek, RootKey, StoreKey, HostKey.
template <typename Tag>
concept AeadKeyTag = KeyTraits<Tag>::kAead;
// Keys that wrap other keys (RFC 5649): Kek, BatchKey.
template <typename Tag>
concept WrappingKeyTag = KeyTraits<Tag>::kWrapsKeys;
// Keys that may be wrapped by a WrappingKeyTag key: Dek.
template <typename Tag>
concept WrappableKeyTag = KeyTraits<Tag>::kWrappable;
// Keys for keyed fingerprints (HMAC-SHA-256): FingerprintKey, ClientDigestKey.
template <typename Tag>
concept MacKeyTag = KeyTraits<Tag>::kMac;

namespace internal {
// Implementation of Key; use Key's members instead.
[[nodiscard]] absl::StatusOr<SecretBytes> GenerateKeyBytes(size_t size);
[[nodiscard]] absl::StatusOr<SecretBytes> CopyKeyBytes(std::span<const uint8_t> bytes, size_t size,
                                                       const char* kind);
}  // namespace internal

template <typename Tag>
class Key {
 public:
  using TagType = Tag;
  static constexpr size_t kSize = 32;

  // A fresh key from the private DRBG (RAND_priv_bytes). Internal if the DRBG fails,
  // ResourceExhausted if no secret memory is left.
  [[nodiscard]] static absl::StatusOr<Key> Generate() {
    absl::StatusOr<SecretBytes> secret = internal::GenerateKeyBytes(kSize);
    if (!secret.ok()) return secret.status();
    return Key(*std::move(secret));
  }

  // A key holding a copy of `bytes` (the caller wipes its own copy). InvalidArgument unless
  // `bytes` is exactly kSize bytes.
  [[nodiscard]] static absl::StatusOr<Key> FromBytes(std::span<const uint8_t> bytes) {
    absl::StatusOr<SecretBytes> secret =
        internal::CopyKeyBytes(bytes, kSize, KeyTraits<Tag>::kName);
    if (!secret.ok()) return secret.status();
    return Key(*std::move(secret));
  }

  Key(Key&&) noexcept = default;
  Key& operator=(Key&&) noexcept = default;  // the overwritten key is wiped
  Key(const Key&) = delete;
  Key& operator=(const Key&) = delete;
  ~Key() = default;  // wiped by SecretBytes

  // The key bytes: kSize bytes, or none for a moved-from key. The only way to the bytes;
  // every use is a line to review (grep RevealSecret). Valid while the key lives.
  std::span<const uint8_t> RevealSecret() const { return secret_.span(); }

  // An independent copy in its own secret memory. InvalidArgument for a moved-from key.
  [[nodiscard]] absl::StatusOr<Key> Clone() const { return FromBytes(secret_.span()); }

  // Whether the key's memory is page-locked (see SecretBytes::locked).
  bool locked() const { return secret_.locked(); }

  // Keys are never printed, logged or formatted.
  friend std::ostream& operator<<(std::ostream&, const Key&) = delete;

 private:
  explicit Key(SecretBytes secret) : secret_(std::move(secret)) {}

  SecretBytes secret_;
};

using Dek = Key<DekTag>;
using Kek = Key<KekTag>;
using FingerprintKey = Key<FingerprintKeyTag>;
using ClientDigestKey = Key<ClientDigestKeyTag>;
using RootKey = Key<RootKeyTag>;
using StoreKey = Key<StoreKeyTag>;
using KekPrivateKey = Key<KekPrivateKeyTag>;
using BatchKey = Key<BatchKeyTag>;
using HostKey = Key<HostKeyTag>;

}  // namespace sealpool::crypto

#endif  // SEALPOOL_CRYPTO_KEYS_H_
