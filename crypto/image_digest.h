// Keyed image digests: per image, the segment store keeps a keyed digest of its recipe and of
// its whole content. The digest is HMAC-SHA-256 under a key derived from the key group's
// fingerprint key:
//
//   digest key = HKDF-SHA-256(salt = "sealpool image digest v1", IKM = fingerprint key,
//                             info = purpose, L = 32)
//   digest     = HMAC-SHA-256(digest key, data)
//
// The derivation is deliberately not HMAC-SHA-256 keyed with the fingerprint key: fingerprints
// are HMAC-SHA-256(fingerprint key, attacker-chosen bytes), so any key computed that way could
// be obtained by having a chosen segment fingerprinted. HKDF's extract step keys HMAC with the
// fixed salt; the fingerprint key is only ever its message. Different purposes ("recipe",
// "content", ...) give independent keys.
//
//   SEALPOOL_ASSIGN_OR_RETURN(ImageDigester digester, ImageDigester::Create(fpk, "content"));
//   SEALPOOL_ASSIGN_OR_RETURN(ImageDigestStream stream, digester.Begin());
//   SEALPOOL_RETURN_IF_ERROR(stream.UpdateU64(segment_count));
//   SEALPOOL_RETURN_IF_ERROR(stream.Update(bytes));
//   SEALPOOL_ASSIGN_OR_RETURN(ImageDigestValue digest, stream.Final());
//
// An ImageDigester keeps a pre-keyed HMAC context (the derived key's inner and outer hash
// states) and duplicates it per Begin; the derived key bytes live only in SecretBytes during
// Create and are wiped before it returns. It does not refer to the FingerprintKey afterwards.
//
// Errors: Create: InvalidArgument for a moved-from key or a purpose outside 1..64 bytes,
// ResourceExhausted if no secret memory is left, Internal if OpenSSL fails. Begin:
// FailedPrecondition on a moved-from ImageDigester. Stream calls: FailedPrecondition after
// Final, after a failed call, or on a moved-from stream; Internal if OpenSSL fails (the stream
// is then unusable, so a digest missing some data is never returned).
//
// Thread safety: Begin is const and may run on many threads at once on one ImageDigester.
// An ImageDigestStream belongs to one thread at a time. Both are move-only; moving or
// destroying a digester must not race with Begin.
#ifndef SEALPOOL_CRYPTO_IMAGE_DIGEST_H_
#define SEALPOOL_CRYPTO_IMAGE_DIGEST_H_

#include <openssl/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/keys.h"

namespace sealpool::crypto {

using ImageDigestValue = std::array<uint8_t, 32>;

class ImageDigestStream;

namespace image_digest_detail {
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* ctx) const;
};
using MacCtx = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;
}  // namespace image_digest_detail

class ImageDigester {
 public:
  static constexpr size_t kMaxPurposeSize = 64;

  // A digester for `purpose` (1..kMaxPurposeSize bytes, e.g. "recipe" or "content") under
  // the key group's fingerprint key.
  [[nodiscard]] static absl::StatusOr<ImageDigester> Create(const FingerprintKey& key,
                                                           std::string_view purpose);

  ImageDigester(ImageDigester&&) noexcept = default;
  ImageDigester& operator=(ImageDigester&&) noexcept = default;
  ImageDigester(const ImageDigester&) = delete;
  ImageDigester& operator=(const ImageDigester&) = delete;
  ~ImageDigester() = default;  // frees (and OpenSSL cleanses) the keyed state

  // Starts an incremental digest (duplicates the keyed context; no key schedule).
  [[nodiscard]] absl::StatusOr<ImageDigestStream> Begin() const;

 private:
  explicit ImageDigester(image_digest_detail::MacCtx keyed) : keyed_(std::move(keyed)) {}

  // Constant after construction: keyed HMAC-SHA-256 state, only ever read (duplicated).
  image_digest_detail::MacCtx keyed_;
};

class ImageDigestStream {
 public:
  // A moved-from stream is as if Final had failed: every call is FailedPrecondition.
  ImageDigestStream(ImageDigestStream&& other) noexcept
      : ctx_(std::move(other.ctx_)), state_(std::exchange(other.state_, State::kMovedFrom)) {}
  ImageDigestStream& operator=(ImageDigestStream&& other) noexcept {
    ctx_ = std::move(other.ctx_);
    state_ = std::exchange(other.state_, State::kMovedFrom);
    return *this;
  }
  ImageDigestStream(const ImageDigestStream&) = delete;
  ImageDigestStream& operator=(const ImageDigestStream&) = delete;
  ~ImageDigestStream() = default;

  // Appends `data` (may be empty).
  [[nodiscard]] absl::Status Update(std::span<const uint8_t> data);
  // Appends `v` as 8 little-endian bytes (for lengths and counts in a fixed-width encoding).
  [[nodiscard]] absl::Status UpdateU64(uint64_t v);
  // The digest of everything appended. Once: a second call is FailedPrecondition.
  [[nodiscard]] absl::StatusOr<ImageDigestValue> Final();

 private:
  friend class ImageDigester;
  enum class State { kOpen, kFinalized, kFailed, kMovedFrom };

  explicit ImageDigestStream(image_digest_detail::MacCtx ctx) : ctx_(std::move(ctx)) {}

  absl::Status CheckOpen() const;

  image_digest_detail::MacCtx ctx_;
  State state_ = State::kOpen;
};

// Constant-time comparison (CRYPTO_memcmp): the time taken does not depend on where the
// digests differ.
[[nodiscard]] bool DigestEquals(const ImageDigestValue& a, const ImageDigestValue& b);

}  // namespace sealpool::crypto

#endif  // SEALPOOL_CRYPTO_IMAGE_DIGEST_H_
