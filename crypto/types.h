// Strong types for the identities and check values that flow between layers. None converts
// into another or to or from a raw integer implicitly, so a checksum can never be passed where
// a segment id or a fingerprint is expected.
//
//   Fingerprint  32 bytes of HMAC-SHA-256(fingerprint key, segment bytes): the identity of a
//                segment's content within a key group (deduplication key). Two different
//                segments collide with probability about n^2 / 2^257 for n segments (birthday
//                bound): 2^-177 at n = 2^40, negligible against hardware error rates.
//   SegmentId    a 64-bit id allocated by the segment store; only equality and order mean
//                anything.
//   Checksum     a 64-bit xxHash3 (XXH3_64bits) of bytes at rest, computed by storage to catch
//                accidental corruption cheaply before the AEAD tag is checked. xxHash is never
//                an identity: it is not cryptographic, anyone can construct collisions, and a
//                matching checksum proves nothing about which segment bytes belong to; only a
//                Fingerprint (and the AEAD tag) may be relied on for that.
//
// All three are small values: copyable, thread-compatible, hashable with absl::Hash and
// std::hash. Default-constructed values are all zeros (for containers and decoders); whether
// a zero value means anything is up to the layer that allocates or computes them.
#ifndef SEALPOOL_CRYPTO_TYPES_H_
#define SEALPOOL_CRYPTO_TYPES_H_

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace sealpool::crypto {

class Fingerprint {
 public:
  static constexpr size_t kSize = 32;

  Fingerprint() = default;  // all zeros

  static Fingerprint FromArray(const std::array<uint8_t, kSize>& bytes) {
    return Fingerprint(bytes);
  }
  // InvalidArgument unless `bytes` is exactly kSize bytes.
  [[nodiscard]] static absl::StatusOr<Fingerprint> FromBytes(std::span<const uint8_t> bytes);

  const std::array<uint8_t, kSize>& bytes() const { return bytes_; }
  // 64 lower-case hex digits.
  std::string ToHex() const;

  friend bool operator==(const Fingerprint&, const Fingerprint&) = default;
  friend std::strong_ordering operator<=>(const Fingerprint&, const Fingerprint&) = default;

  template <typename H>
  friend H AbslHashValue(H h, const Fingerprint& fingerprint) {
    return H::combine(std::move(h), fingerprint.bytes_);
  }

 private:
  explicit Fingerprint(const std::array<uint8_t, kSize>& bytes) : bytes_(bytes) {}

  std::array<uint8_t, kSize> bytes_{};
};

class SegmentId {
 public:
  SegmentId() = default;  // 0
  explicit constexpr SegmentId(uint64_t value) : value_(value) {}

  constexpr uint64_t value() const { return value_; }

  friend constexpr bool operator==(SegmentId, SegmentId) = default;
  friend constexpr std::strong_ordering operator<=>(SegmentId, SegmentId) = default;

  template <typename H>
  friend H AbslHashValue(H h, SegmentId id) {
    return H::combine(std::move(h), id.value_);
  }

 private:
  uint64_t value_ = 0;
};

class Checksum {
 public:
  Checksum() = default;  // 0
  explicit constexpr Checksum(uint64_t value) : value_(value) {}

  constexpr uint64_t value() const { return value_; }

  // Equality only: checksums have no meaningful order.
  friend constexpr bool operator==(Checksum, Checksum) = default;

  template <typename H>
  friend H AbslHashValue(H h, Checksum checksum) {
    return H::combine(std::move(h), checksum.value_);
  }

 private:
  uint64_t value_ = 0;
};

}  // namespace sealpool::crypto

template <>
struct std::hash<sealpool::crypto::Fingerprint> {
  // A keyed HMAC output is uniformly distributed, so its first bytes are a good hash.
  size_t operator()(const sealpool::crypto::Fingerprint& fingerprint) const noexcept {
    size_t h;
    std::memcpy(&h, fingerprint.bytes().data(), sizeof h);
    return h;
  }
};

template <>
struct std::hash<sealpool::crypto::SegmentId> {
  size_t operator()(sealpool::crypto::SegmentId id) const noexcept {
    return std::hash<uint64_t>{}(id.value());
  }
};

template <>
struct std::hash<sealpool::crypto::Checksum> {
  size_t operator()(sealpool::crypto::Checksum checksum) const noexcept {
    return std::hash<uint64_t>{}(checksum.value());
  }
};

#endif  // SEALPOOL_CRYPTO_TYPES_H_
