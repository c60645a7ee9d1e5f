// Fingerprint, SegmentId, Checksum: distinct value types that never convert.
#include "crypto/types.h"

#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <type_traits>
#include <unordered_set>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "test/test_util.h"

namespace sealpool::crypto {
namespace {

template <typename A, typename B>
concept EqualityComparableWith = requires(const A& a, const B& b) {
  a == b;
};
template <typename A, typename B>
concept OrderedWith = requires(const A& a, const B& b) {
  a < b;
};

template <typename From, typename To>
constexpr bool kConverts = std::is_convertible_v<From, To> || std::is_constructible_v<To, From>;

// No implicit conversion from raw values ...
static_assert(!std::is_convertible_v<uint64_t, SegmentId>);
static_assert(!std::is_convertible_v<uint64_t, Checksum>);
static_assert(!std::is_convertible_v<int, SegmentId>);
static_assert(!kConverts<std::array<uint8_t, 32>, Fingerprint>);  // only FromArray
// ... nor to raw values ...
static_assert(!kConverts<SegmentId, uint64_t>);
static_assert(!kConverts<Checksum, uint64_t>);
static_assert(!kConverts<Fingerprint, std::array<uint8_t, 32>>);
static_assert(!kConverts<SegmentId, bool> && !kConverts<Checksum, bool>);
// ... nor into each other.
static_assert(!kConverts<SegmentId, Checksum> && !kConverts<Checksum, SegmentId>);
static_assert(!kConverts<Checksum, Fingerprint> && !kConverts<Fingerprint, Checksum>);
static_assert(!kConverts<SegmentId, Fingerprint> && !kConverts<Fingerprint, SegmentId>);
// Comparisons only within a type; checksums have no order.
static_assert(EqualityComparableWith<SegmentId, SegmentId>);
static_assert(!EqualityComparableWith<SegmentId, uint64_t>);
static_assert(!EqualityComparableWith<Checksum, uint64_t>);
static_assert(!EqualityComparableWith<SegmentId, Checksum>);
static_assert(!EqualityComparableWith<Fingerprint, SegmentId>);
static_assert(OrderedWith<SegmentId, SegmentId> && OrderedWith<Fingerprint, Fingerprint>);
static_assert(!OrderedWith<Checksum, Checksum>);
static_assert(!OrderedWith<SegmentId, uint64_t>);
static_assert(std::is_trivially_copyable_v<SegmentId> && std::is_trivially_copyable_v<Checksum>);

Fingerprint FingerprintFromSeed(uint64_t seed) {
  auto fp = Fingerprint::FromBytes(test::PseudoRandomBytes(32, seed));
  REQUIRE(fp.ok());
  return *fp;
}

TEST_CASE("a fingerprint is built only from exactly 32 bytes", "[crypto][types]") {
  for (size_t n : {size_t{0}, size_t{31}, size_t{33}}) {
    CHECK(Fingerprint::FromBytes(test::PseudoRandomBytes(n, 1)).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
  auto bytes = test::PseudoRandomBytes(32, 1);
  auto fp = Fingerprint::FromBytes(bytes);
  REQUIRE(fp.ok());
  CHECK(std::vector<uint8_t>(fp->bytes().begin(), fp->bytes().end()) == bytes);
  std::array<uint8_t, 32> array;
  std::copy(bytes.begin(), bytes.end(), array.begin());
  CHECK(Fingerprint::FromArray(array) == *fp);
}

TEST_CASE("a fingerprint prints as 64 lower-case hex digits", "[crypto][types]") {
  std::array<uint8_t, 32> array{};
  array[0] = 0xab;
  array[31] = 0x0f;
  const std::string hex = Fingerprint::FromArray(array).ToHex();
  CHECK(hex == "ab" + std::string(60, '0') + "0f");
  auto bytes = test::PseudoRandomBytes(32, 9);
  CHECK(FingerprintFromSeed(9).ToHex() == test::ToHex(bytes));
}

TEST_CASE("fingerprints compare bytewise and order lexicographically", "[crypto][types]") {
  std::array<uint8_t, 32> low{}, high{};
  high[0] = 1;
  low[31] = 0xff;
  const Fingerprint a = Fingerprint::FromArray(low);
  const Fingerprint b = Fingerprint::FromArray(high);
  CHECK(a < b);
  CHECK(a != b);
  CHECK(a == Fingerprint::FromArray(low));
  CHECK(Fingerprint() == Fingerprint::FromArray({}));
}

TEST_CASE("fingerprints, segment ids and checksums work as hash keys", "[crypto][types]") {
  absl::flat_hash_set<Fingerprint> fps;
  std::unordered_set<Fingerprint> std_fps;
  absl::flat_hash_set<SegmentId> ids;
  std::unordered_set<SegmentId> std_ids;
  absl::flat_hash_set<Checksum> sums;
  std::unordered_set<Checksum> std_sums;
  for (uint64_t i = 0; i < 100; ++i) {
    fps.insert(FingerprintFromSeed(i % 50));
    std_fps.insert(FingerprintFromSeed(i % 50));
    ids.insert(SegmentId(i % 40));
    std_ids.insert(SegmentId(i % 40));
    sums.insert(Checksum(i % 30));
    std_sums.insert(Checksum(i % 30));
  }
  CHECK(fps.size() == 50);
  CHECK(std_fps.size() == 50);
  CHECK(ids.size() == 40);
  CHECK(std_ids.size() == 40);
  CHECK(sums.size() == 30);
  CHECK(std_sums.size() == 30);
  CHECK(fps.contains(FingerprintFromSeed(7)));
  CHECK(!fps.contains(FingerprintFromSeed(77)));
  CHECK(absl::Hash<Fingerprint>{}(FingerprintFromSeed(1)) !=
        absl::Hash<Fingerprint>{}(FingerprintFromSeed(2)));
}

TEST_CASE("segment ids and checksums keep their value and compare by it", "[crypto][types]") {
  constexpr SegmentId id(0xfedcba9876543210ULL);
  static_assert(id.value() == 0xfedcba9876543210ULL);
  CHECK(SegmentId(1) < SegmentId(2));
  CHECK(SegmentId(2) == SegmentId(2));
  CHECK(SegmentId().value() == 0);
  CHECK(Checksum(5) == Checksum(5));
  CHECK(Checksum(5) != Checksum(6));
  CHECK(Checksum(UINT64_MAX).value() == UINT64_MAX);
}

}  // namespace
}  // namespace sealpool::crypto
