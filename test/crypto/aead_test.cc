// AES-256-GCM: NIST known answers, round trips, and every kind of tampering rejected.
#include "crypto/aead.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

#include "crypto/aead_internal.h"
#include "crypto/keys.h"
#include "test/crypto/vector_file.h"
#include "test/test_util.h"

namespace sealpool::crypto {
namespace {

using Bytes = std::vector<uint8_t>;

// --- Which keys Seal/Open accept, checked at compile time. ---

template <typename K>
concept CanSeal = requires(const K& key, std::span<const uint8_t> in, std::span<uint8_t> out,
                           GcmNonce* nonce, GcmTag* tag) {
  Seal(key, in, in, out, nonce, tag);
};
template <typename K>
concept CanOpen = requires(const K& key, const GcmNonce& nonce, std::span<const uint8_t> in,
                           const GcmTag& tag, std::span<uint8_t> out) {
  Open(key, nonce, in, in, tag, out);
};
// Callers cannot choose a nonce: Seal has no overload taking one.
template <typename K>
concept CanSealWithNonce = requires(const K& key, const GcmNonce& nonce,
                                    std::span<const uint8_t> in, std::span<uint8_t> out,
                                    GcmTag* tag) {
  Seal(key, nonce, in, in, out, tag);
};

static_assert(CanSeal<Dek> && CanSeal<RootKey> && CanSeal<StoreKey>);
static_assert(CanOpen<Dek> && CanOpen<RootKey> && CanOpen<StoreKey>);
static_assert(!CanSeal<Kek> && !CanSeal<FingerprintKey>);
static_assert(!CanOpen<Kek> && !CanOpen<FingerprintKey>);
static_assert(!CanSeal<Bytes> && !CanOpen<std::span<const uint8_t>>);
static_assert(!CanSealWithNonce<Dek>);

// --- Known answers (NIST CAVS gcmEncryptExtIV256 / gcmDecrypt256). ---

struct KatCounts {
  int encrypt = 0;
  int pass = 0;
  int fail = 0;
};

// Encrypts every record and checks ciphertext and tag; then opens it back.
void RunEncryptVectors(const std::vector<test::VectorRecord>& records, KatCounts& counts) {
  for (const test::VectorRecord& r : records) {
    INFO("vector at line " << r.line);
    const Bytes key = r.Hex("Key"), iv = r.Hex("IV"), aad = r.Hex("AAD"), pt = r.Hex("PT");
    const Bytes ct = r.Hex("CT"), tag = r.Hex("Tag");
    REQUIRE(key.size() == 32);
    Bytes out(pt.size()), out_tag(tag.size());
    REQUIRE(internal::GcmSealRaw(key, iv, aad, pt, out, out_tag).ok());
    CHECK(test::ToHex(out) == test::ToHex(ct));
    CHECK(test::ToHex(out_tag) == test::ToHex(tag));
    Bytes back(ct.size(), 0xa5);
    CHECK(internal::GcmOpenRaw(key, iv, aad, ct, tag, back).ok());
    CHECK(back == pt);
    ++counts.encrypt;
  }
}

// Decrypts every record: FAIL records must be DataLoss with the output wiped.
void RunDecryptVectors(const std::vector<test::VectorRecord>& records, KatCounts& counts) {
  for (const test::VectorRecord& r : records) {
    INFO("vector at line " << r.line);
    const Bytes key = r.Hex("Key"), iv = r.Hex("IV"), aad = r.Hex("AAD"), ct = r.Hex("CT");
    const Bytes tag = r.Hex("Tag");
    Bytes out(ct.size(), 0xa5);
    absl::Status status = internal::GcmOpenRaw(key, iv, aad, ct, tag, out);
    if (r.fail) {
      CHECK(status.code() == absl::StatusCode::kDataLoss);
      CHECK(std::all_of(out.begin(), out.end(), [](uint8_t b) { return b == 0; }));
      ++counts.fail;
    } else {
      REQUIRE(r.Has("PT"));
      CHECK(status.ok());
      CHECK(test::ToHex(out) == r.Text("PT"));
      ++counts.pass;
    }
  }
}

TEST_CASE("the pinned NIST GCM encryption vectors give their ciphertexts and tags",
          "[crypto][aead][kat]") {
  KatCounts counts;
  RunEncryptVectors(test::ReadVectorFile(test::PinnedVectorFile("gcm_encrypt_256.rsp")), counts);
  REQUIRE(counts.encrypt == 11);
}

TEST_CASE("the pinned NIST GCM decryption vectors pass or fail as published",
          "[crypto][aead][kat]") {
  KatCounts counts;
  RunDecryptVectors(test::ReadVectorFile(test::PinnedVectorFile("gcm_decrypt_256.rsp")), counts);
  REQUIRE(counts.pass == 4);
  REQUIRE(counts.fail == 4);
}

TEST_CASE("every NIST GCM encryption vector with a 256-bit key gives its ciphertext and tag",
          "[crypto][aead][kat][full]") {
  auto file = test::SystemVectorFileOrSkip("ciphers/AES/GCM/gcmEncryptExtIV256.rsp");
  KatCounts counts;
  RunEncryptVectors(test::ReadVectorFile(file), counts);
  REQUIRE(counts.encrypt >= 7875);  // 3 IV lengths x 7 tag lengths x 25 shapes x 15
}

TEST_CASE("every NIST GCM decryption vector with a 256-bit key passes or fails as published",
          "[crypto][aead][kat][full]") {
  auto file = test::SystemVectorFileOrSkip("ciphers/AES/GCM/gcmDecrypt256.rsp");
  KatCounts counts;
  RunDecryptVectors(test::ReadVectorFile(file), counts);
  REQUIRE(counts.pass + counts.fail >= 7875);
  REQUIRE(counts.fail >= 3900);
  REQUIRE(counts.pass >= 3900);
}

// --- The production API. ---

template <typename K>
K NewKey() {
  auto key = K::Generate();
  REQUIRE(key.ok());
  return *std::move(key);
}

struct Sealed {
  GcmNonce nonce{};
  Bytes ciphertext;
  GcmTag tag{};
};

template <typename K>
Sealed MustSeal(const K& key, const Bytes& aad, const Bytes& plaintext) {
  Sealed s;
  s.ciphertext.resize(plaintext.size());
  REQUIRE(Seal(key, aad, plaintext, s.ciphertext, &s.nonce, &s.tag).ok());
  return s;
}

// Opens `s`; returns the status and leaves the output in `out` (prefilled with 0xa5).
template <typename K>
absl::Status TryOpen(const K& key, const Sealed& s, const Bytes& aad, Bytes& out) {
  out.assign(s.ciphertext.size(), 0xa5);
  return Open(key, s.nonce, aad, s.ciphertext, s.tag, out);
}

bool AllZero(const Bytes& b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

const Bytes kAad = {'v', '1', '/', 'g', 'r', 'o', 'u', 'p', '7', '/', 's', 'e', 'g', '4', '2'};

TEMPLATE_TEST_CASE("sealed data opens to the original under the same key and aad", "[crypto][aead]",
                   Dek, RootKey, StoreKey) {
  const TestType key = NewKey<TestType>();
  for (size_t n : {size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{4096}, size_t{65536},
                   size_t{1 << 20} + 3}) {
    const Bytes plaintext = test::PseudoRandomBytes(n, n);
    Sealed s = MustSeal(key, kAad, plaintext);
    // A keystream byte equals the plaintext byte one time in 256: for inputs shorter than a
    // block "ciphertext differs" is chance, not a property (it failed a CI run at n = 1).
    if (n >= 16) CHECK(s.ciphertext != plaintext);
    Bytes out;
    REQUIRE(TryOpen(key, s, kAad, out).ok());
    CHECK(out == plaintext);
  }
}

TEST_CASE("sealing the same plaintext twice uses different nonces and ciphertexts",
          "[crypto][aead]") {
  const Dek key = NewKey<Dek>();
  const Bytes plaintext = test::PseudoRandomBytes(100, 1);
  Sealed a = MustSeal(key, kAad, plaintext);
  Sealed b = MustSeal(key, kAad, plaintext);
  CHECK(a.nonce != b.nonce);
  CHECK(a.ciphertext != b.ciphertext);
  CHECK(a.tag != b.tag);
}

TEST_CASE("an empty plaintext seals to an empty ciphertext whose tag still binds the aad",
          "[crypto][aead]") {
  const Dek key = NewKey<Dek>();
  Sealed s = MustSeal(key, kAad, {});
  CHECK(s.ciphertext.empty());
  Bytes out;
  CHECK(TryOpen(key, s, kAad, out).ok());
  CHECK(TryOpen(key, s, Bytes{'x'}, out).code() == absl::StatusCode::kDataLoss);
  Sealed no_aad = MustSeal(key, {}, {});
  CHECK(TryOpen(key, no_aad, {}, out).ok());
}

TEST_CASE("a flipped ciphertext bit is rejected as data loss and nothing is released",
          "[crypto][aead]") {
  const Dek key = NewKey<Dek>();
  const Bytes plaintext = test::PseudoRandomBytes(1000, 3);
  const Sealed s = MustSeal(key, kAad, plaintext);
  for (size_t bit : {size_t{0}, size_t{7}, size_t{4000}, size_t{7999}}) {
    Sealed bad = s;
    bad.ciphertext[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    Bytes out;
    absl::Status status = TryOpen(key, bad, kAad, out);
    CHECK(status.code() == absl::StatusCode::kDataLoss);
    CHECK(status.message().find("authentication failed") != absl::string_view::npos);
    CHECK(AllZero(out));
  }
}

TEST_CASE("a flipped tag bit is rejected as data loss", "[crypto][aead]") {
  const Dek key = NewKey<Dek>();
  const Sealed s = MustSeal(key, kAad, test::PseudoRandomBytes(64, 4));
  for (size_t bit = 0; bit < 8 * kGcmTagSize; bit += 9) {
    Sealed bad = s;
    bad.tag[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    Bytes out;
    CHECK(TryOpen(key, bad, kAad, out).code() == absl::StatusCode::kDataLoss);
    CHECK(AllZero(out));
  }
}

TEST_CASE("a flipped nonce bit is rejected as data loss", "[crypto][aead]") {
  const RootKey key = NewKey<RootKey>();
  const Sealed s = MustSeal(key, kAad, test::PseudoRandomBytes(64, 5));
  for (size_t bit = 0; bit < 8 * kGcmNonceSize; bit += 7) {
    Sealed bad = s;
    bad.nonce[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    Bytes out;
    CHECK(TryOpen(key, bad, kAad, out).code() == absl::StatusCode::kDataLoss);
    CHECK(AllZero(out));
  }
}

TEST_CASE("a changed associated data is rejected as data loss", "[crypto][aead]") {
  const Dek key = NewKey<Dek>();
  const Sealed s = MustSeal(key, kAad, test::PseudoRandomBytes(64, 6));
  for (size_t i = 0; i < kAad.size(); ++i) {
    Bytes aad = kAad;
    aad[i] ^= 0x01;
    Bytes out;
    CHECK(TryOpen(key, s, aad, out).code() == absl::StatusCode::kDataLoss);
    CHECK(AllZero(out));
  }
  Bytes out;
  Bytes longer = kAad;
  longer.push_back(0);
  CHECK(TryOpen(key, s, longer, out).code() == absl::StatusCode::kDataLoss);
  CHECK(TryOpen(key, s, {}, out).code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("the wrong key never yields plaintext", "[crypto][aead]") {
  const StoreKey key = NewKey<StoreKey>();
  const StoreKey other = NewKey<StoreKey>();
  const Sealed s = MustSeal(key, kAad, test::PseudoRandomBytes(300, 7));
  Bytes out;
  CHECK(TryOpen(other, s, kAad, out).code() == absl::StatusCode::kDataLoss);
  CHECK(AllZero(out));
  // Same bytes under another key type are just another key: still rejected.
  auto dek = Dek::FromBytes(other.RevealSecret());
  REQUIRE(dek.ok());
  CHECK(TryOpen(*dek, s, kAad, out).code() == absl::StatusCode::kDataLoss);
  CHECK(AllZero(out));
}

TEST_CASE("sealing and opening in place give the same result as separate buffers",
          "[crypto][aead]") {
  const Dek key = NewKey<Dek>();
  const Bytes plaintext = test::PseudoRandomBytes(5000, 8);
  Bytes buffer = plaintext;
  GcmNonce nonce;
  GcmTag tag;
  REQUIRE(Seal(key, kAad, buffer, buffer, &nonce, &tag).ok());
  CHECK(buffer != plaintext);
  REQUIRE(Open(key, nonce, kAad, buffer, tag, buffer).ok());
  CHECK(buffer == plaintext);
}

TEST_CASE("buffers of the wrong size are refused as invalid arguments", "[crypto][aead]") {
  const Dek key = NewKey<Dek>();
  const Bytes plaintext = test::PseudoRandomBytes(100, 9);
  GcmNonce nonce;
  GcmTag tag;
  Bytes shorter(99), longer(101);
  CHECK(Seal(key, kAad, plaintext, shorter, &nonce, &tag).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(Seal(key, kAad, plaintext, longer, &nonce, &tag).code() ==
        absl::StatusCode::kInvalidArgument);
  Bytes ciphertext(100);
  CHECK(Seal(key, kAad, plaintext, ciphertext, nullptr, &tag).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(Seal(key, kAad, plaintext, ciphertext, &nonce, nullptr).code() ==
        absl::StatusCode::kInvalidArgument);
  REQUIRE(Seal(key, kAad, plaintext, ciphertext, &nonce, &tag).ok());
  longer.assign(101, 0xa5);
  CHECK(Open(key, nonce, kAad, ciphertext, tag, longer).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(AllZero(longer));
}

TEST_CASE("partly overlapping input and output buffers are refused", "[crypto][aead]") {
  const Dek key = NewKey<Dek>();
  Bytes buffer = test::PseudoRandomBytes(200, 10);
  std::span<uint8_t> all(buffer);
  GcmNonce nonce;
  GcmTag tag;
  CHECK(Seal(key, kAad, all.first(100), all.subspan(50, 100), &nonce, &tag).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(Seal(key, kAad, all.subspan(50, 100), all.first(100), &nonce, &tag).code() ==
        absl::StatusCode::kInvalidArgument);
  // Adjacent, not overlapping: fine.
  CHECK(Seal(key, kAad, all.first(100), all.subspan(100, 100), &nonce, &tag).ok());
}

TEST_CASE("a moved-from key is refused as an invalid argument", "[crypto][aead]") {
  Dek key = NewKey<Dek>();
  Dek taken = std::move(key);
  const Bytes plaintext(10, 1);
  Bytes out(10);
  GcmNonce nonce;
  GcmTag tag;
  CHECK(Seal(key, kAad, plaintext, out, &nonce, &tag).code() ==  // NOLINT(bugprone-use-after-move)
        absl::StatusCode::kInvalidArgument);
  CHECK(Open(key, nonce, kAad, out, tag, out).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("the raw GCM API refuses tag and IV lengths GCM does not allow", "[crypto][aead][kat]") {
  const Bytes key(32, 1), iv(12, 2), pt(16, 3);
  Bytes ct(16);
  for (size_t tag_size : {size_t{0}, size_t{3}, size_t{17}}) {
    Bytes tag(tag_size);
    CHECK(internal::GcmSealRaw(key, iv, {}, pt, ct, tag).code() ==
          absl::StatusCode::kInvalidArgument);
    CHECK(internal::GcmOpenRaw(key, iv, {}, ct, tag, ct).code() ==
          absl::StatusCode::kInvalidArgument);
  }
  Bytes tag(16);
  CHECK(internal::GcmSealRaw(key, {}, {}, pt, ct, tag).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(internal::GcmSealRaw(key, Bytes(129, 0), {}, pt, ct, tag).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(internal::GcmSealRaw(Bytes(16, 1), iv, {}, pt, ct, tag).code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a truncated tag authenticates only its own length", "[crypto][aead][kat]") {
  // A 4-byte tag is the first 4 bytes of the 16-byte tag, and all 4 are checked.
  const Bytes key = test::PseudoRandomBytes(32, 11), iv = test::PseudoRandomBytes(12, 12);
  const Bytes pt = test::PseudoRandomBytes(40, 13);
  Bytes ct(40), full(16), short_tag(4);
  REQUIRE(internal::GcmSealRaw(key, iv, kAad, pt, ct, full).ok());
  REQUIRE(internal::GcmSealRaw(key, iv, kAad, pt, ct, short_tag).ok());
  CHECK(Bytes(full.begin(), full.begin() + 4) == short_tag);
  Bytes out(40);
  CHECK(internal::GcmOpenRaw(key, iv, kAad, ct, short_tag, out).ok());
  short_tag[3] ^= 0x80;
  CHECK(internal::GcmOpenRaw(key, iv, kAad, ct, short_tag, out).code() ==
        absl::StatusCode::kDataLoss);
}

TEST_CASE("sealing and opening on several threads at once all round-trip", "[crypto][aead]") {
  const Dek key = NewKey<Dek>();
  constexpr int kThreads = 4;
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&key, &failures, t] {
      for (int i = 0; i < 50; ++i) {
        const Bytes plaintext = test::PseudoRandomBytes(1000 + static_cast<size_t>(i),
                                                        static_cast<uint64_t>(t * 100 + i));
        Bytes ct(plaintext.size()), back(plaintext.size());
        GcmNonce nonce;
        GcmTag tag;
        if (!Seal(key, kAad, plaintext, ct, &nonce, &tag).ok() ||
            !Open(key, nonce, kAad, ct, tag, back).ok() || back != plaintext) {
          ++failures[static_cast<size_t>(t)];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(failures == std::vector<int>(kThreads, 0));
}

}  // namespace
}  // namespace sealpool::crypto
