// Key<Tag>: 256-bit keys in secret memory, distinct types, never printed or formatted.
#include "crypto/keys.h"

#include <fmt/format.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <ostream>
#include <type_traits>
#include <vector>

#include "test/test_util.h"

namespace sealpool::crypto {
namespace {

// --- Type safety, checked at compile time. ---

template <typename K>
concept Streamable = requires(std::ostream& os, const K& key) {
  os << key;
};

template <typename K>
constexpr bool KeyTypeChecks() {
  static_assert(!std::is_copy_constructible_v<K>);
  static_assert(!std::is_copy_assignable_v<K>);
  static_assert(std::is_nothrow_move_constructible_v<K>);
  static_assert(!std::is_default_constructible_v<K>);
  static_assert(!Streamable<K>);
  static_assert(!fmt::is_formattable<K>::value);
  static_assert(!std::is_convertible_v<K, std::span<const uint8_t>>);
  static_assert(K::kSize == 32);
  return true;
}

template <typename From, typename To>
constexpr bool kConverts = std::is_convertible_v<From, To> || std::is_constructible_v<To, From> ||
                           std::is_convertible_v<From&, const To&>;

static_assert(KeyTypeChecks<Dek>() && KeyTypeChecks<Kek>() && KeyTypeChecks<FingerprintKey>() &&
              KeyTypeChecks<RootKey>() && KeyTypeChecks<StoreKey>());

static_assert(!kConverts<Dek, Kek> && !kConverts<Kek, Dek>);
static_assert(!kConverts<Dek, RootKey> && !kConverts<RootKey, Dek>);
static_assert(!kConverts<RootKey, StoreKey> && !kConverts<StoreKey, RootKey>);
static_assert(!kConverts<FingerprintKey, Dek> && !kConverts<Kek, FingerprintKey>);
static_assert(!kConverts<std::vector<uint8_t>, Dek>);

// Which primitive accepts which key (KeyTraits).
static_assert(AeadKeyTag<DekTag> && AeadKeyTag<RootKeyTag> && AeadKeyTag<StoreKeyTag>);
static_assert(!AeadKeyTag<KekTag> && !AeadKeyTag<FingerprintKeyTag>);
static_assert(WrappingKeyTag<KekTag> && !WrappingKeyTag<DekTag> && !WrappingKeyTag<RootKeyTag>);
static_assert(WrappableKeyTag<DekTag> && !WrappableKeyTag<KekTag> && !WrappableKeyTag<RootKeyTag>);
static_assert(MacKeyTag<FingerprintKeyTag> && !MacKeyTag<DekTag> && !MacKeyTag<KekTag>);

// --- Behaviour. ---

std::vector<uint8_t> Bytes(std::span<const uint8_t> s) { return {s.begin(), s.end()}; }

TEMPLATE_TEST_CASE("a generated key is 32 fresh random bytes", "[crypto][keys]", Dek, Kek,
                   FingerprintKey, RootKey, StoreKey) {
  auto a = TestType::Generate();
  auto b = TestType::Generate();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(a->RevealSecret().size() == 32);
  CHECK(Bytes(a->RevealSecret()) != Bytes(b->RevealSecret()));
  CHECK(Bytes(a->RevealSecret()) != std::vector<uint8_t>(32, 0));
}

TEMPLATE_TEST_CASE("a key built from bytes holds its own copy of them", "[crypto][keys]", Dek, Kek,
                   FingerprintKey, RootKey, StoreKey) {
  std::vector<uint8_t> raw = test::PseudoRandomBytes(32, 1);
  const std::vector<uint8_t> expected = raw;
  auto key = TestType::FromBytes(raw);
  REQUIRE(key.ok());
  std::fill(raw.begin(), raw.end(), 0);
  CHECK(Bytes(key->RevealSecret()) == expected);
  CHECK(key->RevealSecret().data() != raw.data());
}

TEMPLATE_TEST_CASE("a key of the wrong size is refused as an invalid argument", "[crypto][keys]",
                   Dek, Kek, FingerprintKey, RootKey, StoreKey) {
  for (size_t n : {size_t{0}, size_t{16}, size_t{31}, size_t{33}, size_t{64}}) {
    auto key = TestType::FromBytes(test::PseudoRandomBytes(n, 2));
    CHECK(key.status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("a clone has equal bytes in separate secret memory", "[crypto][keys]") {
  auto key = Dek::Generate();
  REQUIRE(key.ok());
  auto clone = key->Clone();
  REQUIRE(clone.ok());
  CHECK(Bytes(clone->RevealSecret()) == Bytes(key->RevealSecret()));
  CHECK(clone->RevealSecret().data() != key->RevealSecret().data());
}

TEST_CASE("a moved-from key is empty and cannot be cloned", "[crypto][keys]") {
  auto key = RootKey::Generate();
  REQUIRE(key.ok());
  const std::vector<uint8_t> bytes = Bytes(key->RevealSecret());
  RootKey moved = *std::move(key);
  CHECK(Bytes(moved.RevealSecret()) == bytes);
  CHECK(key->RevealSecret().empty());  // NOLINT(bugprone-use-after-move)
  CHECK(key->Clone().status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("an error message about a key never contains key bytes", "[crypto][keys]") {
  std::vector<uint8_t> raw(31, 0x41);  // 'A' x 31: would show up as text
  auto key = Kek::FromBytes(raw);
  REQUIRE(!key.ok());
  CHECK(key.status().message().find("AAAA") == absl::string_view::npos);
  CHECK(key.status().message().find("KEK") != absl::string_view::npos);
}

}  // namespace
}  // namespace sealpool::crypto
