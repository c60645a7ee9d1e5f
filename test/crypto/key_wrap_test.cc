// RFC 5649 key wrap: NIST KWP known answers; DEKs wrap to 40 bytes and back; any damage or
// the wrong KEK is data loss.
#include "crypto/key_wrap.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <utility>
#include <vector>

#include "crypto/key_wrap_internal.h"
#include "crypto/keys.h"
#include "test/crypto/vector_file.h"
#include "test/test_util.h"

namespace sealpool::crypto {
namespace {

using Bytes = std::vector<uint8_t>;

// --- Only a Kek wraps, only a Dek is wrapped. ---

template <typename Wrapping, typename Wrapped>
concept CanWrap = requires(const Wrapping& kek, const Wrapped& key) {
  WrapDek(kek, key);
};
template <typename Wrapping>
concept CanUnwrap = requires(const Wrapping& kek, std::span<const uint8_t> wrapped) {
  UnwrapDek(kek, wrapped);
};

static_assert(CanWrap<Kek, Dek>);
static_assert(!CanWrap<Dek, Dek> && !CanWrap<RootKey, Dek> && !CanWrap<Kek, Kek>);
static_assert(!CanWrap<Kek, RootKey> && !CanWrap<Kek, FingerprintKey> && !CanWrap<Dek, Kek>);
static_assert(CanUnwrap<Kek> && !CanUnwrap<Dek> && !CanUnwrap<RootKey>);
static_assert(
    std::is_same_v<decltype(UnwrapDek(std::declval<const Kek&>(), {})), absl::StatusOr<Dek>>);

// --- Known answers (NIST SP 800-38F KWP_AE_256 / KWP_AD_256). ---

int RunWrapVectors(const std::vector<test::VectorRecord>& records) {
  int count = 0;
  for (const test::VectorRecord& r : records) {
    INFO("vector at line " << r.line);
    const Bytes kek = r.Hex("K"), p = r.Hex("P"), c = r.Hex("C");
    auto wrapped = internal::WrapPadRaw(kek, p);
    REQUIRE(wrapped.ok());
    CHECK(test::ToHex(*wrapped) == test::ToHex(c));
    Bytes out(c.size(), 0xa5);
    auto n = internal::UnwrapPadRaw(kek, c, out);
    REQUIRE(n.ok());
    CHECK(Bytes(out.begin(), out.begin() + static_cast<ptrdiff_t>(*n)) == p);
    ++count;
  }
  return count;
}

struct UnwrapCounts {
  int pass = 0;
  int fail = 0;
};

UnwrapCounts RunUnwrapVectors(const std::vector<test::VectorRecord>& records) {
  UnwrapCounts counts;
  for (const test::VectorRecord& r : records) {
    INFO("vector at line " << r.line);
    const Bytes kek = r.Hex("K"), c = r.Hex("C");
    Bytes out(c.size(), 0xa5);
    auto n = internal::UnwrapPadRaw(kek, c, out);
    if (r.fail) {
      CHECK(n.status().code() == absl::StatusCode::kDataLoss);
      CHECK(std::all_of(out.begin(), out.end(), [](uint8_t b) { return b == 0; }));
      ++counts.fail;
    } else {
      REQUIRE(n.ok());
      CHECK(test::ToHex(Bytes(out.begin(), out.begin() + static_cast<ptrdiff_t>(*n))) ==
            r.Text("P"));
      ++counts.pass;
    }
  }
  return counts;
}

TEST_CASE("the pinned NIST KWP wrap vectors give their wrapped keys", "[crypto][key_wrap][kat]") {
  REQUIRE(RunWrapVectors(test::ReadVectorFile(test::PinnedVectorFile("kwp_ae_256.txt"))) == 5);
}

TEST_CASE("the pinned NIST KWP unwrap vectors pass or fail as published",
          "[crypto][key_wrap][kat]") {
  UnwrapCounts counts =
      RunUnwrapVectors(test::ReadVectorFile(test::PinnedVectorFile("kwp_ad_256.txt")));
  REQUIRE(counts.pass == 5);
  REQUIRE(counts.fail == 5);
}

TEST_CASE("every NIST KWP-AE vector with a 256-bit key gives its wrapped key",
          "[crypto][key_wrap][kat][full]") {
  auto file = test::SystemVectorFileOrSkip("keywrap/kwtestvectors/KWP_AE_256.txt");
  REQUIRE(RunWrapVectors(test::ReadVectorFile(file)) >= 500);
}

TEST_CASE("every NIST KWP-AD vector with a 256-bit key passes or fails as published",
          "[crypto][key_wrap][kat][full]") {
  auto file = test::SystemVectorFileOrSkip("keywrap/kwtestvectors/KWP_AD_256.txt");
  UnwrapCounts counts = RunUnwrapVectors(test::ReadVectorFile(file));
  REQUIRE(counts.pass >= 400);  // 5 lengths x 100 trials, 20 of each 100 FAIL
  REQUIRE(counts.fail >= 100);
}

// --- The production API. ---

template <typename K>
K NewKey() {
  auto key = K::Generate();
  REQUIRE(key.ok());
  return *std::move(key);
}

Bytes SecretOf(const Dek& dek) { return {dek.RevealSecret().begin(), dek.RevealSecret().end()}; }

TEST_CASE("a wrapped DEK is 40 bytes and unwraps to the same DEK", "[crypto][key_wrap]") {
  const Kek kek = NewKey<Kek>();
  const Dek dek = NewKey<Dek>();
  auto wrapped = WrapDek(kek, dek);
  REQUIRE(wrapped.ok());
  static_assert(std::tuple_size_v<WrappedDek> == 40);
  auto back = UnwrapDek(kek, *wrapped);
  REQUIRE(back.ok());
  CHECK(SecretOf(*back) == SecretOf(dek));
  // The wrapping hides the key: no 8 consecutive key bytes appear in it.
  const Bytes secret = SecretOf(dek);
  CHECK(std::search(wrapped->begin(), wrapped->end(), secret.begin(), secret.begin() + 8) ==
        wrapped->end());
}

TEST_CASE("wrapping is deterministic per KEK and differs across KEKs", "[crypto][key_wrap]") {
  const Kek kek = NewKey<Kek>();
  const Kek other = NewKey<Kek>();
  const Dek dek = NewKey<Dek>();
  auto a = WrapDek(kek, dek), b = WrapDek(kek, dek), c = WrapDek(other, dek);
  REQUIRE((a.ok() && b.ok() && c.ok()));
  CHECK(*a == *b);
  CHECK(*a != *c);
}

TEST_CASE("a DEK wrapped under another KEK is rejected as data loss", "[crypto][key_wrap]") {
  const Kek kek = NewKey<Kek>();
  const Kek other = NewKey<Kek>();
  auto wrapped = WrapDek(kek, NewKey<Dek>());
  REQUIRE(wrapped.ok());
  auto dek = UnwrapDek(other, *wrapped);
  CHECK(dek.status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("a flipped bit anywhere in a wrapped DEK is rejected as data loss",
          "[crypto][key_wrap]") {
  const Kek kek = NewKey<Kek>();
  auto wrapped = WrapDek(kek, NewKey<Dek>());
  REQUIRE(wrapped.ok());
  int rejected = 0;
  for (size_t bit = 0; bit < 8 * kWrappedDekSize; ++bit) {
    WrappedDek bad = *wrapped;
    bad[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    auto dek = UnwrapDek(kek, bad);
    CHECK(dek.status().code() == absl::StatusCode::kDataLoss);
    rejected += dek.status().code() == absl::StatusCode::kDataLoss ? 1 : 0;
  }
  CHECK(rejected == 8 * static_cast<int>(kWrappedDekSize));
}

TEST_CASE("a wrapped DEK of the wrong size is refused as an invalid argument",
          "[crypto][key_wrap]") {
  const Kek kek = NewKey<Kek>();
  auto wrapped = WrapDek(kek, NewKey<Dek>());
  REQUIRE(wrapped.ok());
  Bytes longer(wrapped->begin(), wrapped->end());
  longer.push_back(0);
  for (size_t n : {size_t{0}, size_t{32}, size_t{39}, size_t{48}}) {
    CHECK(UnwrapDek(kek, Bytes(n, 0)).status().code() == absl::StatusCode::kInvalidArgument);
  }
  CHECK(UnwrapDek(kek, longer).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a validly wrapped key that is not 32 bytes does not unwrap as a DEK",
          "[crypto][key_wrap]") {
  // 25..31 bytes pad to 32 and wrap to 40 bytes, like a DEK.
  const Kek kek = NewKey<Kek>();
  auto wrapped = internal::WrapPadRaw(kek.RevealSecret(), test::PseudoRandomBytes(31, 1));
  REQUIRE(wrapped.ok());
  REQUIRE(wrapped->size() == kWrappedDekSize);
  CHECK(UnwrapDek(kek, *wrapped).status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("a moved-from KEK or DEK is refused as an invalid argument", "[crypto][key_wrap]") {
  Kek kek = NewKey<Kek>();
  Dek dek = NewKey<Dek>();
  auto wrapped = WrapDek(kek, dek);
  REQUIRE(wrapped.ok());
  Dek taken_dek = std::move(dek);
  CHECK(WrapDek(kek, dek).status().code() ==  // NOLINT(bugprone-use-after-move)
        absl::StatusCode::kInvalidArgument);
  Kek taken_kek = std::move(kek);
  CHECK(WrapDek(kek, taken_dek).status().code() ==  // NOLINT(bugprone-use-after-move)
        absl::StatusCode::kInvalidArgument);
  CHECK(UnwrapDek(kek, *wrapped).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("the raw unwrap refuses malformed input and a short output buffer",
          "[crypto][key_wrap][kat]") {
  const Bytes kek(32, 7);
  Bytes out(64, 0xa5);
  CHECK(internal::UnwrapPadRaw(kek, Bytes(8, 0), out).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(internal::UnwrapPadRaw(kek, Bytes(20, 0), out).status().code() ==
        absl::StatusCode::kInvalidArgument);
  Bytes small(16, 0xa5);
  CHECK(internal::UnwrapPadRaw(kek, Bytes(24, 0), small).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(std::all_of(small.begin(), small.end(), [](uint8_t b) { return b == 0; }));
  CHECK(internal::WrapPadRaw(kek, {}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(internal::WrapPadRaw(Bytes(16, 1), Bytes(8, 1)).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sealpool::crypto
