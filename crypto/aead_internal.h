// Raw AES-256-GCM with caller-chosen key bytes, IV and tag length: for known-answer tests
// only. Production code uses Seal/Open (crypto/aead.h), which never let a caller pick a nonce.
//
// A 12-byte IV goes through exactly the code path of Seal/Open (the thread's reused cipher
// context); other IV lengths (any length OpenSSL accepts, 1..128 bytes) use a fresh context.
// Errors as in aead.h; additionally InvalidArgument for a key that is not 32 bytes, an IV of
// 0 or more than 128 bytes, or a tag of fewer than 4 or more than 16 bytes.
#ifndef SEALPOOL_CRYPTO_AEAD_INTERNAL_H_
#define SEALPOOL_CRYPTO_AEAD_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"

namespace sealpool::crypto::internal {

inline constexpr size_t kGcmMinTagSize = 4;
inline constexpr size_t kGcmMaxIvSize = 128;

[[nodiscard]] absl::Status GcmSealRaw(std::span<const uint8_t> key, std::span<const uint8_t> iv,
                                      std::span<const uint8_t> aad,
                                      std::span<const uint8_t> plaintext,
                                      std::span<uint8_t> ciphertext_out,
                                      std::span<uint8_t> tag_out);

// Zero-fills plaintext_out on every error, like Open.
[[nodiscard]] absl::Status GcmOpenRaw(std::span<const uint8_t> key, std::span<const uint8_t> iv,
                                      std::span<const uint8_t> aad,
                                      std::span<const uint8_t> ciphertext,
                                      std::span<const uint8_t> tag,
                                      std::span<uint8_t> plaintext_out);

}  // namespace sealpool::crypto::internal

#endif  // SEALPOOL_CRYPTO_AEAD_INTERNAL_H_
