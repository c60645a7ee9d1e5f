// Sealed batch keys (X25519 + HKDF-SHA-256 + RFC 5649): RFC 7748 and RFC 5869 known answers for
// the primitives, a pinned vector of the whole construction computed independently (Python's
// pyca/cryptography), and every way a sealed key must fail to open: the wrong private key, a
// tampered ephemeral key or wrap, each binding field swapped, low-order points, bad sizes.
#include "crypto/batch_key_seal.h"

#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "crypto/batch_key_seal_internal.h"
#include "crypto/image_digest_internal.h"
#include "crypto/key_wrap.h"
#include "crypto/keys.h"
#include "test/crypto/vector_file.h"
#include "test/test_util.h"

namespace sealpool::crypto {
namespace {

using Bytes = std::vector<uint8_t>;

template <size_t N>
std::string Hex(const std::array<uint8_t, N>& a) {
  return test::ToHex(Bytes(a.begin(), a.end()));
}
std::string Hex(std::span<const uint8_t> s) { return test::ToHex(Bytes(s.begin(), s.end())); }

KekPublicKey PublicFromHex(std::string_view hex) {
  auto k = KekPublicKeyFromBytes(test::FromHex(hex));
  REQUIRE(k.ok());
  return *k;
}

// --- Types: only a BatchKey is sealed; only a KekPrivateKey opens. ---

template <typename K>
concept CanSeal = requires(const KekPublicKey& pub, const K& key, const BatchBinding& b) {
  SealBatchKey(pub, key, b);
};
template <typename K>
concept CanOpen = requires(const K& key, std::span<const uint8_t> s, const BatchBinding& b) {
  OpenBatchKey(key, s, b);
};
static_assert(CanSeal<BatchKey> && !CanSeal<Kek> && !CanSeal<Dek> && !CanSeal<KekPrivateKey>);
static_assert(CanOpen<KekPrivateKey> && !CanOpen<Kek> && !CanOpen<RootKey> && !CanOpen<BatchKey>);
static_assert(WrappingKeyTag<BatchKeyTag> && !AeadKeyTag<BatchKeyTag> && !MacKeyTag<BatchKeyTag>);
static_assert(!WrappingKeyTag<KekPrivateKeyTag> && !AeadKeyTag<KekPrivateKeyTag> &&
              !WrappableKeyTag<KekPrivateKeyTag> && !MacKeyTag<KekPrivateKeyTag>);
static_assert(kSealedBatchKeySize == 73);

// --- RFC 7748 X25519 known answers. ---

int RunX25519Vectors(const std::vector<test::VectorRecord>& records) {
  int count = 0;
  for (const test::VectorRecord& r : records) {
    INFO("vector at line " << r.line);
    Bytes out(32, 0xa5);
    REQUIRE(internal::X25519(r.Hex("INPUT_SCALAR"), r.Hex("INPUT_U"), out).ok());
    CHECK(test::ToHex(out) == r.Text("OUTPUT_U"));
    ++count;
  }
  return count;
}

TEST_CASE("the pinned RFC 7748 §5.2 X25519 vectors give their outputs", "[batch_key_seal]") {
  REQUIRE(RunX25519Vectors(test::ReadVectorFile(test::PinnedVectorFile("x25519_rfc7748.txt"))) ==
          3);
}

TEST_CASE("every RFC 7748 X25519 vector of the system file gives its output",
          "[batch_key_seal]") {
  auto file = test::SystemVectorFileOrSkip("asymmetric/X25519/rfc7748.txt");
  CHECK(RunX25519Vectors(test::ReadVectorFile(file)) >= 3);
}

TEST_CASE("RFC 7748 §5.2: X25519 iterated 1000 times", "[batch_key_seal]") {
  Bytes k = test::FromHex("0900000000000000000000000000000000000000000000000000000000000000");
  Bytes u = k;
  for (int i = 0; i < 1000; ++i) {
    Bytes out(32);
    REQUIRE(internal::X25519(k, u, out).ok());
    u = k;
    k = out;
    if (i == 0) {
      CHECK(test::ToHex(k) == "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
    }
  }
  CHECK(test::ToHex(k) == "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
}

constexpr std::string_view kAlicePrivate =
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
constexpr std::string_view kAlicePublic =
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
constexpr std::string_view kBobPrivate =
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
constexpr std::string_view kBobPublic =
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
constexpr std::string_view kBobPublicSha256 =
    "f35e5616160a30bf3c6e79fa73c576d40205e8fc3ba4e1c6dcf93e6b98e857b4";
constexpr std::string_view kSharedSecret =
    "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

TEST_CASE("RFC 7748 §6.1: both sides' public keys and the shared secret", "[batch_key_seal]") {
  auto alice = KekPrivateKey::FromBytes(test::FromHex(kAlicePrivate));
  auto bob = KekPrivateKey::FromBytes(test::FromHex(kBobPrivate));
  REQUIRE(alice.ok());
  REQUIRE(bob.ok());
  auto alice_pub = DeriveKekPublicKey(*alice);
  auto bob_pub = DeriveKekPublicKey(*bob);
  REQUIRE(alice_pub.ok());
  REQUIRE(bob_pub.ok());
  CHECK(Hex(*alice_pub) == kAlicePublic);
  CHECK(Hex(*bob_pub) == kBobPublic);
  Bytes k1(32), k2(32);
  REQUIRE(internal::X25519(test::FromHex(kAlicePrivate), test::FromHex(kBobPublic), k1).ok());
  REQUIRE(internal::X25519(test::FromHex(kBobPrivate), test::FromHex(kAlicePublic), k2).ok());
  CHECK(test::ToHex(k1) == kSharedSecret);
  CHECK(test::ToHex(k2) == kSharedSecret);
}

// --- RFC 5869 HKDF-SHA-256 known answers for the HKDF the construction calls. ---

TEST_CASE("the RFC 5869 HKDF-SHA-256 test cases 1 and 3 through the construction's HKDF",
          "[batch_key_seal]") {
  struct Case {
    std::string_view ikm, salt, info, okm;
  };
  const Case cases[] = {
      {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
       "f0f1f2f3f4f5f6f7f8f9",
       "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
      {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
       "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
  };
  for (const Case& c : cases) {
    Bytes okm(c.okm.size() / 2);
    REQUIRE(internal::HkdfSha256(test::FromHex(c.ikm), test::FromHex(c.salt),
                                 test::FromHex(c.info), okm)
                .ok());
    CHECK(test::ToHex(okm) == c.okm);
  }
}

// --- The whole construction: a vector computed with pyca/cryptography 38 (X25519PrivateKey,
// HKDF, aes_key_wrap_with_padding), KEK private = RFC 7748 Bob, ephemeral = RFC 7748 Alice,
// batch key = 00 01 .. 1f, pool "pool-kat", group 7, KEK 3, batch 0x0102030405060708. ---

constexpr std::string_view kKatInfo =
    "7365616c706f6f6c206261746368206b6579207631000008706f6f6c2d6b617400000007000000030102030405"
    "060708";
constexpr std::string_view kKatSealed =
    "018520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6af7d4f1a371a58c944e9fd2bf"
    "dbe4a382f952b42945c7c8f53d336b1259954139cf4dfa822aaa2c43";
const BatchBinding kKatBinding{
    .pool_id = "pool-kat", .group_no = 7, .kek_id = 3, .batch_id = 0x0102030405060708};

BatchKey KatBatchKey() {
  Bytes b(32);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i);
  auto k = BatchKey::FromBytes(b);
  REQUIRE(k.ok());
  return *std::move(k);
}

TEST_CASE("the pinned whole-construction vector: info layout, sealing and opening",
          "[batch_key_seal]") {
  auto info = internal::BatchBindingInfo(kKatBinding);
  REQUIRE(info.ok());
  CHECK(test::ToHex(*info) == kKatInfo);

  auto sealed = internal::SealBatchKeyWithEphemeral(test::FromHex(kAlicePrivate),
                                                    PublicFromHex(kBobPublic), KatBatchKey(),
                                                    kKatBinding);
  REQUIRE(sealed.ok());
  CHECK(Hex(*sealed) == kKatSealed);

  auto bob = KekPrivateKey::FromBytes(test::FromHex(kBobPrivate));
  REQUIRE(bob.ok());
  auto opened = OpenBatchKey(*bob, test::FromHex(kKatSealed), kKatBinding);
  REQUIRE(opened.ok());
  CHECK(Hex(opened->RevealSecret()) == Hex(KatBatchKey().RevealSecret()));
}

// --- Round trips and failures with fresh keys. ---

struct Fixture {
  KekPair pair;
  BatchKey batch_key;
  BatchBinding binding{.pool_id = "pool-a", .group_no = 2, .kek_id = 5, .batch_id = 99};
  SealedBatchKey sealed;

  static Fixture Make() {
    auto pair = GenerateKekPair();
    REQUIRE(pair.ok());
    auto batch = BatchKey::Generate();
    REQUIRE(batch.ok());
    Fixture f{*std::move(pair), *std::move(batch), {}, {}};
    f.binding = {.pool_id = "pool-a", .group_no = 2, .kek_id = 5, .batch_id = 99};
    auto sealed = SealBatchKey(f.pair.public_key, f.batch_key, f.binding);
    REQUIRE(sealed.ok());
    f.sealed = *sealed;
    return f;
  }
};

TEST_CASE("a sealed batch key opens with the private half and gives the same key",
          "[batch_key_seal]") {
  Fixture f = Fixture::Make();
  CHECK(f.sealed[0] == kSealedBatchKeyVersion);
  auto derived = DeriveKekPublicKey(f.pair.private_key);
  REQUIRE(derived.ok());
  CHECK(*derived == f.pair.public_key);
  auto opened = OpenBatchKey(f.pair.private_key, f.sealed, f.binding);
  REQUIRE(opened.ok());
  CHECK(Hex(opened->RevealSecret()) == Hex(f.batch_key.RevealSecret()));
  CHECK(opened->locked() == f.batch_key.locked());

  // A DEK wrapped under the batch key unwraps under the opened one.
  auto dek = Dek::Generate();
  REQUIRE(dek.ok());
  auto wrapped = WrapDek(f.batch_key, *dek);
  REQUIRE(wrapped.ok());
  auto dek2 = UnwrapDek(*opened, *wrapped);
  REQUIRE(dek2.ok());
  CHECK(Hex(dek2->RevealSecret()) == Hex(dek->RevealSecret()));
}

TEST_CASE("the pinned hash of a public key is its SHA-256 in hex", "[batch_key_seal]") {
  // SHA-256 of RFC 7748's Bob public key, computed with Python's hashlib.
  auto hex = KekPublicKeySha256Hex(PublicFromHex(kBobPublic));
  REQUIRE(hex.ok());
  CHECK(*hex == kBobPublicSha256);
}

TEST_CASE("each sealing uses a fresh ephemeral key", "[batch_key_seal]") {
  Fixture f = Fixture::Make();
  auto again = SealBatchKey(f.pair.public_key, f.batch_key, f.binding);
  REQUIRE(again.ok());
  CHECK(Hex(std::span<const uint8_t>(*again).subspan(1, 32)) !=
        Hex(std::span<const uint8_t>(f.sealed).subspan(1, 32)));
  CHECK(Hex(*again) != Hex(f.sealed));
}

TEST_CASE("the wrong private key does not open a sealed batch key", "[batch_key_seal]") {
  Fixture f = Fixture::Make();
  auto other = GenerateKekPair();
  REQUIRE(other.ok());
  auto opened = OpenBatchKey(other->private_key, f.sealed, f.binding);
  CHECK(opened.status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("a tampered ephemeral key, wrap or version byte does not open", "[batch_key_seal]") {
  Fixture f = Fixture::Make();
  for (size_t i = 0; i < kSealedBatchKeySize; ++i) {
    for (uint8_t bit : {uint8_t{0x01}, uint8_t{0x80}}) {
      SealedBatchKey t = f.sealed;
      t[i] ^= bit;
      INFO("byte " << i << " bit " << int(bit));
      // Byte 32 bit 0x80 is the masked top bit of the u-coordinate (RFC 7748 §5): the same
      // point, so the same Z; the salt (E || K) still differs and the wrap does not open.
      CHECK(OpenBatchKey(f.pair.private_key, t, f.binding).status().code() ==
            absl::StatusCode::kDataLoss);
    }
  }
}

TEST_CASE("a sealed batch key opens only for its own pool, group, KEK and batch",
          "[batch_key_seal]") {
  Fixture f = Fixture::Make();
  std::vector<BatchBinding> swapped;
  BatchBinding b = f.binding;
  b.pool_id = "pool-b";
  swapped.push_back(b);
  b = f.binding;
  b.pool_id = "pool-aa";
  swapped.push_back(b);
  b = f.binding;
  b.group_no = 3;
  swapped.push_back(b);
  b = f.binding;
  b.kek_id = 6;
  swapped.push_back(b);
  b = f.binding;
  b.batch_id = 100;
  swapped.push_back(b);
  b = f.binding;
  std::swap(b.group_no, b.kek_id);  // fields are not interchangeable
  swapped.push_back(b);
  for (const BatchBinding& s : swapped) {
    INFO("pool " << s.pool_id << " group " << s.group_no << " kek " << s.kek_id << " batch "
                 << s.batch_id);
    CHECK(OpenBatchKey(f.pair.private_key, f.sealed, s).status().code() ==
          absl::StatusCode::kDataLoss);
  }
  // The info encodes lengths, so moving bytes between the pool id and the numbers changes it.
  auto i1 = internal::BatchBindingInfo({.pool_id = "ab", .group_no = 1});
  auto i2 = internal::BatchBindingInfo({.pool_id = "a", .group_no = 1});
  REQUIRE(i1.ok());
  REQUIRE(i2.ok());
  CHECK(*i1 != *i2);
}

// The u-coordinates of the points of small order on Curve25519 (and their non-canonical
// encodings p-1, p, p+1): X25519 with any scalar gives all zeros.
constexpr std::string_view kLowOrderPoints[] = {
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};

TEST_CASE("a low-order KEK public key is refused when sealing", "[batch_key_seal]") {
  auto batch = BatchKey::Generate();
  REQUIRE(batch.ok());
  for (std::string_view point : kLowOrderPoints) {
    INFO(point);
    Bytes z(32, 0xa5);
    CHECK(internal::X25519(test::FromHex(kAlicePrivate), test::FromHex(point), z).code() ==
          absl::StatusCode::kFailedPrecondition);
    CHECK(z == Bytes(32, 0));  // wiped
    auto sealed = SealBatchKey(PublicFromHex(point), *batch, {.pool_id = "p"});
    CHECK(sealed.status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("a low-order ephemeral key in a sealed batch key is refused as data loss",
          "[batch_key_seal]") {
  Fixture f = Fixture::Make();
  for (std::string_view point : kLowOrderPoints) {
    INFO(point);
    SealedBatchKey t = f.sealed;
    Bytes p = test::FromHex(point);
    for (size_t i = 0; i < 32; ++i) t[1 + i] = p[i];
    auto opened = OpenBatchKey(f.pair.private_key, t, f.binding);
    CHECK(opened.status().code() == absl::StatusCode::kDataLoss);
    CHECK(opened.status().message().find("low-order") != std::string_view::npos);
  }
}

TEST_CASE("bad sizes, versions and moved-from keys are refused", "[batch_key_seal]") {
  Fixture f = Fixture::Make();
  const Bytes full(f.sealed.begin(), f.sealed.end());
  for (size_t n : {size_t{0}, size_t{1}, size_t{72}, size_t{74}, size_t{200}}) {
    Bytes s = full;
    s.resize(n, 0);
    CHECK(OpenBatchKey(f.pair.private_key, s, f.binding).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
  for (uint8_t v : {uint8_t{0}, uint8_t{2}, uint8_t{0xff}}) {
    SealedBatchKey t = f.sealed;
    t[0] = v;
    auto opened = OpenBatchKey(f.pair.private_key, t, f.binding);
    CHECK(opened.status().code() == absl::StatusCode::kDataLoss);
    CHECK(opened.status().message().find("version") != std::string_view::npos);
  }
  KekPrivateKey moved = std::move(f.pair.private_key);
  CHECK(OpenBatchKey(f.pair.private_key, f.sealed, f.binding).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(DeriveKekPublicKey(f.pair.private_key).status().code() ==
        absl::StatusCode::kInvalidArgument);
  BatchKey moved_batch = std::move(f.batch_key);
  CHECK(SealBatchKey(f.pair.public_key, f.batch_key, f.binding).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(KekPublicKeyFromBytes(Bytes(31)).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(KekPublicKeyFromBytes(Bytes(33)).status().code() == absl::StatusCode::kInvalidArgument);
  const std::string long_pool(kMaxBindingPoolIdSize + 1, 'p');
  CHECK(SealBatchKey(f.pair.public_key, moved_batch, {.pool_id = long_pool}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(SealBatchKey(f.pair.public_key, moved_batch,
                     {.pool_id = std::string_view(long_pool).substr(1)})
            .ok());
}

}  // namespace
}  // namespace sealpool::crypto
