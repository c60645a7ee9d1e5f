// ImageDigester: HKDF-SHA-256 by RFC 5869, then HMAC-SHA-256 under the derived key;
// incremental equals one-shot; purposes and keys separate; independent of the fingerprint
// oracle HMAC-SHA-256(fingerprint key, .); misuse refused.
#include "crypto/image_digest.h"

#include <openssl/evp.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "crypto/fingerprint.h"
#include "crypto/image_digest_internal.h"
#include "crypto/keys.h"
#include "test/crypto/vector_file.h"
#include "test/test_util.h"

namespace sealpool::crypto {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes Text(std::string_view s) { return {s.begin(), s.end()}; }
Bytes Concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// --- Only a FingerprintKey keys an ImageDigester. ---

template <typename K>
concept CanCreate = requires(const K& key) {
  ImageDigester::Create(key, "recipe");
};

static_assert(CanCreate<FingerprintKey>);
static_assert(!CanCreate<Dek> && !CanCreate<Kek> && !CanCreate<RootKey> && !CanCreate<StoreKey>);
static_assert(!CanCreate<Bytes>);
static_assert(!std::is_copy_constructible_v<ImageDigester>);
static_assert(!std::is_copy_constructible_v<ImageDigestStream>);
static_assert(std::is_nothrow_move_constructible_v<ImageDigester>);
static_assert(std::is_nothrow_move_constructible_v<ImageDigestStream>);

// --- Independent references from OpenSSL's one-shot HMAC (not EVP_KDF). ---

Bytes OneShotHmac(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  Bytes out(32);
  size_t outl = 0;
  static const uint8_t kEmpty = 0;
  REQUIRE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr,
                    key.empty() ? &kEmpty : key.data(), key.size(),
                    data.empty() ? &kEmpty : data.data(), data.size(), out.data(), out.size(),
                    &outl) != nullptr);
  REQUIRE(outl == 32);
  return out;
}

// RFC 5869 §2.2: PRK = HMAC-Hash(salt, IKM) (an empty salt is HashLen zeros).
Bytes ReferencePrk(const Bytes& ikm, const Bytes& salt) {
  return OneShotHmac(salt.empty() ? Bytes(32, 0) : salt, ikm);
}

// RFC 5869 §2.3: T(i) = HMAC-Hash(PRK, T(i-1) | info | i); OKM = first L bytes of T(1)|T(2)|...
Bytes ReferenceHkdf(const Bytes& ikm, const Bytes& salt, const Bytes& info, size_t length) {
  const Bytes prk = ReferencePrk(ikm, salt);
  Bytes okm;
  Bytes t;
  for (uint8_t i = 1; okm.size() < length; ++i) {
    Bytes msg = Concat(Concat(t, info), Bytes{i});
    t = OneShotHmac(prk, msg);
    okm.insert(okm.end(), t.begin(), t.end());
  }
  okm.resize(length);
  return okm;
}

// --- Known answers (RFC 5869, HKDF-SHA-256). ---

// The vector files put blank lines inside a vector, so the reader splits it into records;
// every record without COUNT belongs to the vector before it.
std::vector<test::VectorRecord> MergeHkdfRecords(const std::vector<test::VectorRecord>& records) {
  std::vector<test::VectorRecord> vectors;
  for (const test::VectorRecord& r : records) {
    if (r.Has("COUNT") || vectors.empty()) {
      vectors.push_back(r);
    } else {
      vectors.back().fields.insert(r.fields.begin(), r.fields.end());
    }
  }
  return vectors;
}

int RunHkdfVectors(const std::vector<test::VectorRecord>& records) {
  int count = 0;
  for (const test::VectorRecord& r : MergeHkdfRecords(records)) {
    INFO("vector at line " << r.line);
    REQUIRE(r.Text("Hash") == "SHA-256");
    const Bytes ikm = r.Hex("IKM");
    const Bytes salt = r.Hex("salt");
    const Bytes info = r.Hex("info");
    Bytes okm(std::stoul(r.Text("L")));
    REQUIRE(internal::HkdfSha256(ikm, salt, info, okm).ok());
    CHECK(test::ToHex(okm) == r.Text("OKM"));
    // The test's own reference agrees with the RFC too (it checks the composition below).
    CHECK(test::ToHex(ReferencePrk(ikm, salt)) == r.Text("PRK"));
    CHECK(ReferenceHkdf(ikm, salt, info, okm.size()) == okm);
    ++count;
  }
  return count;
}

TEST_CASE("the pinned RFC 5869 HKDF-SHA-256 vectors give their output keys",
          "[crypto][image_digest][kat]") {
  REQUIRE(RunHkdfVectors(test::ReadVectorFile(test::PinnedVectorFile("hkdf_sha256_rfc5869.txt"))) ==
          2);
}

TEST_CASE("every RFC 5869 HKDF-SHA-256 vector of the system file gives its output key",
          "[crypto][image_digest][kat][full]") {
  auto file = test::SystemVectorFileOrSkip("KDF/rfc-5869-HKDF-SHA256.txt");
  REQUIRE(RunHkdfVectors(test::ReadVectorFile(file)) >= 3);
}

TEST_CASE("raw HKDF refuses output lengths outside 1..255*32", "[crypto][image_digest]") {
  const Bytes ikm = test::PseudoRandomBytes(32, 1);
  Bytes none;
  CHECK(internal::HkdfSha256(ikm, {}, {}, none).code() == absl::StatusCode::kInvalidArgument);
  Bytes too_long(internal::kMaxHkdfSha256Output + 1, 0xaa);
  CHECK(internal::HkdfSha256(ikm, {}, {}, too_long).code() ==
        absl::StatusCode::kInvalidArgument);
  Bytes longest(internal::kMaxHkdfSha256Output);
  REQUIRE(internal::HkdfSha256(ikm, Text("salt"), Text("info"), longest).ok());
  CHECK(longest == ReferenceHkdf(ikm, Text("salt"), Text("info"), longest.size()));
}

// --- The production API. ---

FingerprintKey KeyFromSeed(uint64_t seed) {
  auto key = FingerprintKey::FromBytes(test::PseudoRandomBytes(32, seed));
  REQUIRE(key.ok());
  return *std::move(key);
}

ImageDigester MustCreate(const FingerprintKey& key, std::string_view purpose) {
  auto digester = ImageDigester::Create(key, purpose);
  REQUIRE(digester.ok());
  return *std::move(digester);
}

ImageDigestStream MustBegin(const ImageDigester& digester) {
  auto stream = digester.Begin();
  REQUIRE(stream.ok());
  return *std::move(stream);
}

ImageDigestValue MustFinal(ImageDigestStream& stream) {
  auto digest = stream.Final();
  REQUIRE(digest.ok());
  return *digest;
}

ImageDigestValue OneShot(const ImageDigester& digester, const Bytes& data) {
  ImageDigestStream stream = MustBegin(digester);
  REQUIRE(stream.Update(data).ok());
  return MustFinal(stream);
}

Bytes BytesOf(const ImageDigestValue& d) { return {d.begin(), d.end()}; }

const Bytes kSalt = Text("sealpool image digest v1");

TEST_CASE("an image digest is HMAC-SHA-256 under HKDF-SHA-256(salt, fingerprint key, purpose)",
          "[crypto][image_digest]") {
  const FingerprintKey key = KeyFromSeed(1);
  for (std::string_view purpose : {"recipe", "content"}) {
    INFO("purpose " << purpose);
    const ImageDigester digester = MustCreate(key, purpose);
    const Bytes fpk(key.RevealSecret().begin(), key.RevealSecret().end());
    const Bytes digest_key = ReferenceHkdf(fpk, kSalt, Text(purpose), 32);
    for (size_t n : {size_t{0}, size_t{1}, size_t{64}, size_t{65}, size_t{100'003}}) {
      const Bytes data = test::PseudoRandomBytes(n, n + 11);
      CHECK(BytesOf(OneShot(digester, data)) == OneShotHmac(digest_key, data));
    }
  }
}

TEST_CASE("an incremental digest equals the one-shot digest for any split",
          "[crypto][image_digest]") {
  const ImageDigester digester = MustCreate(KeyFromSeed(2), "content");
  std::mt19937_64 rng(12345);
  for (size_t n : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{1000}, size_t{200'000}}) {
    const Bytes data = test::PseudoRandomBytes(n, n);
    const ImageDigestValue expected = OneShot(digester, data);
    for (int trial = 0; trial < 20; ++trial) {
      INFO("n " << n << " trial " << trial);
      ImageDigestStream stream = MustBegin(digester);
      size_t pos = 0;
      while (pos < n || trial % 4 == 0) {
        // Chunks of 0..(up to 2 blocks or a tenth of the input) bytes, empty ones included.
        const size_t max_chunk = std::max<size_t>(128, n / 10);
        const size_t len = std::min<size_t>(n - pos, rng() % (max_chunk + 1));
        REQUIRE(stream.Update(std::span<const uint8_t>(data).subspan(pos, len)).ok());
        pos += len;
        if (pos == n) break;
      }
      CHECK(MustFinal(stream) == expected);
    }
  }
}

TEST_CASE("UpdateU64 appends eight little-endian bytes", "[crypto][image_digest]") {
  const ImageDigester digester = MustCreate(KeyFromSeed(3), "recipe");
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{0x0102030405060708},
                     ~uint64_t{0}}) {
    ImageDigestStream stream = MustBegin(digester);
    REQUIRE(stream.Update(Text("head")).ok());
    REQUIRE(stream.UpdateU64(v).ok());
    Bytes le(8);
    for (size_t i = 0; i < 8; ++i) le[i] = static_cast<uint8_t>(v >> (8 * i));
    CHECK(MustFinal(stream) == OneShot(digester, Concat(Text("head"), le)));
  }
  ImageDigestStream stream = MustBegin(digester);
  REQUIRE(stream.UpdateU64(0x0102030405060708).ok());
  CHECK(MustFinal(stream) == OneShot(digester, Bytes{8, 7, 6, 5, 4, 3, 2, 1}));
}

TEST_CASE("the same key and purpose give the same digest, others give others",
          "[crypto][image_digest]") {
  const FingerprintKey key = KeyFromSeed(4);
  const Bytes data = test::PseudoRandomBytes(5000, 5);
  const ImageDigestValue recipe = OneShot(MustCreate(key, "recipe"), data);
  CHECK(OneShot(MustCreate(key, "recipe"), data) == recipe);
  CHECK(OneShot(MustCreate(key, "content"), data) != recipe);
  CHECK(OneShot(MustCreate(key, "recipe2"), data) != recipe);
  CHECK(OneShot(MustCreate(key, "recip"), data) != recipe);
  CHECK(OneShot(MustCreate(KeyFromSeed(6), "recipe"), data) != recipe);
  CHECK(OneShot(MustCreate(key, "recipe"), test::PseudoRandomBytes(5000, 6)) != recipe);
}

TEST_CASE("a digest and its key are not values of the fingerprint oracle",
          "[crypto][image_digest]") {
  // Fingerprints are HMAC-SHA-256(fpk, chosen bytes). Neither a digest nor the digest key may
  // be such a value for the inputs the construction involves.
  const FingerprintKey key = KeyFromSeed(7);
  const Fingerprinter fingerprinter = [&] {
    auto f = Fingerprinter::Create(key);
    REQUIRE(f.ok());
    return *std::move(f);
  }();
  auto oracle = [&](const Bytes& msg) {
    auto fp = fingerprinter.Compute(msg);
    REQUIRE(fp.ok());
    return Bytes(fp->bytes().begin(), fp->bytes().end());
  };
  const Bytes purpose = Text("content");
  const ImageDigester digester = MustCreate(key, "content");
  for (size_t n : {size_t{0}, size_t{32}, size_t{4096}}) {
    const Bytes data = test::PseudoRandomBytes(n, 100 + n);
    const Bytes digest = BytesOf(OneShot(digester, data));
    CHECK(digest != oracle(data));
    CHECK(digest != OneShotHmac(key.RevealSecret(), data));
  }
  // The digest key (checked through the reference above) against oracle values an attacker
  // could ask for: HMAC(fpk, info), HMAC(fpk, info | 1), HMAC(fpk, salt), HMAC(fpk, salt|info).
  const Bytes fpk(key.RevealSecret().begin(), key.RevealSecret().end());
  const Bytes digest_key = ReferenceHkdf(fpk, kSalt, purpose, 32);
  CHECK(digest_key != oracle(purpose));
  CHECK(digest_key != oracle(Concat(purpose, Bytes{1})));
  CHECK(digest_key != oracle(kSalt));
  CHECK(digest_key != oracle(Concat(kSalt, purpose)));
  // Extract keys HMAC with the salt: the fingerprint key is the message there.
  CHECK(ReferencePrk(fpk, kSalt) == OneShotHmac(kSalt, fpk));
}

TEST_CASE("a digester outlives the key it was created from", "[crypto][image_digest]") {
  const Bytes data = test::PseudoRandomBytes(100, 8);
  Bytes expected;
  std::optional<ImageDigester> digester;
  {
    const FingerprintKey key = KeyFromSeed(9);
    const Bytes fpk(key.RevealSecret().begin(), key.RevealSecret().end());
    expected = OneShotHmac(ReferenceHkdf(fpk, kSalt, Text("recipe"), 32), data);
    digester.emplace(MustCreate(key, "recipe"));
  }
  CHECK(BytesOf(OneShot(*digester, data)) == expected);
}

TEST_CASE("streams of one digester on several threads give the single-threaded results",
          "[crypto][image_digest]") {
  const ImageDigester digester = MustCreate(KeyFromSeed(10), "content");
  std::vector<Bytes> inputs;
  std::vector<ImageDigestValue> expected;
  for (uint64_t i = 0; i < 32; ++i) {
    inputs.push_back(test::PseudoRandomBytes(100 + 997 * i, i));
    expected.push_back(OneShot(digester, inputs.back()));
  }
  constexpr size_t kThreads = 4;
  std::vector<int> errors(kThreads, 0);
  std::vector<int> done(kThreads, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round) {
        for (size_t i = 0; i < inputs.size(); ++i) {
          const size_t k = (i * (2 * t + 1) + t) % inputs.size();
          auto stream = digester.Begin();
          if (!stream.ok()) {
            ++errors[t];
            continue;
          }
          const std::span<const uint8_t> in(inputs[k]);
          const size_t half = in.size() / (t + 2);
          if (!stream->Update(in.first(half)).ok() || !stream->Update(in.subspan(half)).ok()) {
            ++errors[t];
            continue;
          }
          auto digest = stream->Final();
          if (!digest.ok() || *digest != expected[k]) ++errors[t];
          ++done[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(errors == std::vector<int>(kThreads, 0));
  CHECK(done == std::vector<int>(kThreads, static_cast<int>(3 * inputs.size())));
}

TEST_CASE("Final twice, or a call after Final, is a failed precondition",
          "[crypto][image_digest]") {
  const ImageDigester digester = MustCreate(KeyFromSeed(11), "recipe");
  ImageDigestStream stream = MustBegin(digester);
  REQUIRE(stream.Update(Text("abc")).ok());
  const ImageDigestValue first = MustFinal(stream);
  CHECK(first == OneShot(digester, Text("abc")));
  CHECK(stream.Final().status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(stream.Update(Text("d")).code() == absl::StatusCode::kFailedPrecondition);
  CHECK(stream.UpdateU64(1).code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("moved-from digesters and streams refuse to work, the targets still do",
          "[crypto][image_digest]") {
  ImageDigester digester = MustCreate(KeyFromSeed(12), "recipe");
  ImageDigester taken = std::move(digester);
  CHECK(digester.Begin().status().code() ==  // NOLINT(bugprone-use-after-move)
        absl::StatusCode::kFailedPrecondition);
  ImageDigestStream stream = MustBegin(taken);
  REQUIRE(stream.Update(Text("ab")).ok());
  ImageDigestStream moved = std::move(stream);
  CHECK(stream.Update(Text("c")).code() ==  // NOLINT(bugprone-use-after-move)
        absl::StatusCode::kFailedPrecondition);
  CHECK(stream.Final().status().code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(moved.Update(Text("c")).ok());
  CHECK(MustFinal(moved) == OneShot(taken, Text("abc")));
}

TEST_CASE("a moved-from key or a bad purpose is an invalid argument", "[crypto][image_digest]") {
  FingerprintKey key = KeyFromSeed(13);
  CHECK(ImageDigester::Create(key, "").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ImageDigester::Create(key, std::string(65, 'p')).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(ImageDigester::Create(key, std::string(64, 'p')).ok());
  CHECK(ImageDigester::Create(key, "x").ok());
  FingerprintKey taken = std::move(key);
  CHECK(ImageDigester::Create(key, "recipe").status().code() ==  // NOLINT(bugprone-use-after-move)
        absl::StatusCode::kInvalidArgument);
  CHECK(ImageDigester::Create(taken, "recipe").ok());
}

TEST_CASE("DigestEquals compares every byte", "[crypto][image_digest]") {
  ImageDigestValue a;
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i * 7 + 1);
  const ImageDigestValue b = a;
  CHECK(DigestEquals(a, b));
  for (size_t i = 0; i < a.size(); ++i) {
    ImageDigestValue c = a;
    c[i] ^= 0x80;
    CHECK_FALSE(DigestEquals(a, c));
  }
}

}  // namespace
}  // namespace sealpool::crypto
