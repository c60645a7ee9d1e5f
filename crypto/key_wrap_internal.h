// Raw RFC 5649 wrap and unwrap with key bytes and any plaintext length: for known-answer
// tests only. Production code uses WrapDek/UnwrapDek (crypto/key_wrap.h).
//
// Errors as in key_wrap.h; InvalidArgument for a KEK that is not 32 bytes, an empty plaintext,
// wrapped input that is not a multiple of 8 bytes of at least 16, or an output buffer smaller
// than the wrapped input.
#ifndef SEALPOOL_CRYPTO_KEY_WRAP_INTERNAL_H_
#define SEALPOOL_CRYPTO_KEY_WRAP_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"

namespace sealpool::crypto::internal {

// Size of the wrapping of `plaintext_size` bytes: 8 + plaintext rounded up to 8.
constexpr size_t WrappedSize(size_t plaintext_size) { return 8 + (plaintext_size + 7) / 8 * 8; }

[[nodiscard]] absl::StatusOr<std::vector<uint8_t>> WrapPadRaw(std::span<const uint8_t> kek,
                                                              std::span<const uint8_t> plaintext);

// Unwraps into out[0, n) and returns n. `out` must hold at least wrapped.size() bytes (OpenSSL
// may use them as scratch); it is zero-filled on every error.
[[nodiscard]] absl::StatusOr<size_t> UnwrapPadRaw(std::span<const uint8_t> kek,
                                                  std::span<const uint8_t> wrapped,
                                                  std::span<uint8_t> out);

}  // namespace sealpool::crypto::internal

#endif  // SEALPOOL_CRYPTO_KEY_WRAP_INTERNAL_H_
