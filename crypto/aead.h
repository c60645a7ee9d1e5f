// AES-256-GCM authenticated encryption under a Dek, RootKey or StoreKey.
//
//   GcmNonce nonce;
//   GcmTag tag;
//   SEALPOOL_RETURN_IF_ERROR(Seal(dek, aad, plaintext, ciphertext, &nonce, &tag));
//   ...store nonce, ciphertext and tag...
//   SEALPOOL_RETURN_IF_ERROR(Open(dek, nonce, aad, ciphertext, tag, plaintext));
//
// Nonces: Seal draws a fresh random 96-bit nonce for every call from OpenSSL's public DRBG
// (fetched in batches per thread, discarded after fork); callers cannot choose one. Random nonces
// are safe for up to 2^32 Seal calls under one key (NIST SP 800-38D §8.3); sealpool seals once per
// DEK, and the key service keeps root and store keys far below that bound (docs/crypto.md,
// "Nonces").
//
// Associated data `aad` is authenticated, not encrypted: Open fails unless it is given the
// same bytes. Callers bind there whatever the ciphertext must not be moved away from (format
// version, key group, segment id, ...; see docs/crypto.md).
//
// Buffers: ciphertext has exactly the plaintext's length; the nonce and the 16-byte tag are
// returned apart. Input and output may be the same buffer (in-place); partial overlap is
// refused. All spans need to live only for the call.
//
// Errors:
//   InvalidArgument  output size differs from input size, a null nonce/tag pointer, partly
//                    overlapping buffers, a moved-from key, plaintext over 2^36 - 32 bytes.
//   DataLoss         (Open) the tag does not authenticate ciphertext, nonce, associated data
//                    under this key: corruption, tampering, or the wrong key.
//   Internal         OpenSSL failed (message carries OpenSSL's error string).
// Open zero-fills plaintext_out on every error, so unauthenticated plaintext is never left
// behind (with in-place use that also erases the ciphertext). Seal writes nothing when it
// returns InvalidArgument; after an Internal error its outputs hold nothing useful (in place,
// the plaintext may be partly encrypted).
//
// Thread safety: Seal and Open may run on any number of threads at once (each thread reuses
// its own cipher context). Speed: within a few percent of raw OpenSSL EVP on 64 KiB buffers
// (test/bench/crypto_bench.cc).
#ifndef SEALPOOL_CRYPTO_AEAD_H_
#define SEALPOOL_CRYPTO_AEAD_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "crypto/keys.h"

namespace sealpool::crypto {

inline constexpr size_t kGcmNonceSize = 12;
inline constexpr size_t kGcmTagSize = 16;
// GCM's limit for one message (NIST SP 800-38D): 2^39 - 256 bits.
inline constexpr uint64_t kGcmMaxPlaintextSize = (uint64_t{1} << 36) - 32;

using GcmNonce = std::array<uint8_t, kGcmNonceSize>;
using GcmTag = std::array<uint8_t, kGcmTagSize>;

namespace internal {
// Implementation of Seal/Open over the key bytes; use Seal/Open.
[[nodiscard]] absl::Status SealWithKeyBytes(std::span<const uint8_t> key,
                                            std::span<const uint8_t> aad,
                                            std::span<const uint8_t> plaintext,
                                            std::span<uint8_t> ciphertext_out, GcmNonce* nonce_out,
                                            GcmTag* tag_out);
[[nodiscard]] absl::Status OpenWithKeyBytes(std::span<const uint8_t> key, const GcmNonce& nonce,
                                            std::span<const uint8_t> aad,
                                            std::span<const uint8_t> ciphertext, const GcmTag& tag,
                                            std::span<uint8_t> plaintext_out);
}  // namespace internal

// Encrypts `plaintext` into `ciphertext_out` (same size) under a fresh random nonce and
// authenticates it together with `aad`; returns the nonce and the tag.
template <AeadKeyTag Tag>
[[nodiscard]] absl::Status Seal(const Key<Tag>& key, std::span<const uint8_t> aad,
                                std::span<const uint8_t> plaintext,
                                std::span<uint8_t> ciphertext_out, GcmNonce* nonce_out,
                                GcmTag* tag_out) {
  return internal::SealWithKeyBytes(key.RevealSecret(), aad, plaintext, ciphertext_out, nonce_out,
                                    tag_out);
}

// Authenticates and decrypts `ciphertext` into `plaintext_out` (same size). DataLoss, with
// plaintext_out zero-filled, unless key, nonce, aad, ciphertext and tag all match.
template <AeadKeyTag Tag>
[[nodiscard]] absl::Status Open(const Key<Tag>& key, const GcmNonce& nonce,
                                std::span<const uint8_t> aad, std::span<const uint8_t> ciphertext,
                                const GcmTag& tag, std::span<uint8_t> plaintext_out) {
  return internal::OpenWithKeyBytes(key.RevealSecret(), nonce, aad, ciphertext, tag, plaintext_out);
}

}  // namespace sealpool::crypto

#endif  // SEALPOOL_CRYPTO_AEAD_H_
