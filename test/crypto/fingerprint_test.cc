// Fingerprinter: HMAC-SHA-256 by RFC 4231, equal to OpenSSL's one-shot HMAC, the same on
// every thread.
#include "crypto/fingerprint.h"

#include <openssl/evp.h>

#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "crypto/fingerprint_internal.h"
#include "crypto/keys.h"
#include "test/crypto/vector_file.h"
#include "test/test_util.h"

namespace sealpool::crypto {
namespace {

using Bytes = std::vector<uint8_t>;

// --- Only a FingerprintKey keys a Fingerprinter. ---

template <typename K>
concept CanCreate = requires(const K& key) {
  Fingerprinter::Create(key);
};

static_assert(CanCreate<FingerprintKey>);
static_assert(!CanCreate<Dek> && !CanCreate<Kek> && !CanCreate<RootKey> && !CanCreate<StoreKey>);
static_assert(!CanCreate<Bytes>);
static_assert(!std::is_copy_constructible_v<Fingerprinter>);
static_assert(std::is_nothrow_move_constructible_v<Fingerprinter>);

// --- Known answers (RFC 4231, HMAC-SHA-256). ---

int RunHmacVectors(const std::vector<test::VectorRecord>& records) {
  int count = 0;
  for (const test::VectorRecord& r : records) {
    INFO("vector at line " << r.line);
    auto fingerprinter = internal::FingerprinterFromKeyBytes(r.Hex("Key"));
    REQUIRE(fingerprinter.ok());
    auto fp = fingerprinter->Compute(r.Hex("Msg"));
    REQUIRE(fp.ok());
    CHECK(fp->ToHex() == r.Text("MD"));
    ++count;
  }
  return count;
}

TEST_CASE("the pinned RFC 4231 HMAC-SHA-256 vectors give their MACs",
          "[crypto][fingerprint][kat]") {
  REQUIRE(RunHmacVectors(test::ReadVectorFile(test::PinnedVectorFile("hmac_sha256_rfc4231.txt"))) ==
          6);
}

TEST_CASE("every RFC 4231 HMAC-SHA-256 vector of the system file gives its MAC",
          "[crypto][fingerprint][kat][full]") {
  auto file = test::SystemVectorFileOrSkip("HMAC/rfc-4231-sha256.txt");
  REQUIRE(RunHmacVectors(test::ReadVectorFile(file)) >= 6);
}

// --- The production API. ---

FingerprintKey KeyFromSeed(uint64_t seed) {
  auto key = FingerprintKey::FromBytes(test::PseudoRandomBytes(32, seed));
  REQUIRE(key.ok());
  return *std::move(key);
}

Fingerprinter MustCreate(const FingerprintKey& key) {
  auto fingerprinter = Fingerprinter::Create(key);
  REQUIRE(fingerprinter.ok());
  return *std::move(fingerprinter);
}

Fingerprint MustCompute(const Fingerprinter& fingerprinter, const Bytes& data) {
  auto fp = fingerprinter.Compute(data);
  REQUIRE(fp.ok());
  return *fp;
}

// OpenSSL's one-shot HMAC, as an independent reference.
Bytes OneShotHmac(std::span<const uint8_t> key, const Bytes& data) {
  Bytes out(32);
  size_t outl = 0;
  REQUIRE(EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                    data.data(), data.size(), out.data(), out.size(), &outl) != nullptr);
  REQUIRE(outl == 32);
  return out;
}

Bytes BytesOf(const Fingerprint& fp) { return {fp.bytes().begin(), fp.bytes().end()}; }

TEST_CASE("a fingerprint is the HMAC-SHA-256 of the data under the fingerprint key",
          "[crypto][fingerprint]") {
  const FingerprintKey key = KeyFromSeed(1);
  const Fingerprinter fingerprinter = MustCreate(key);
  for (size_t n :
       {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65}, size_t{65536}, size_t{100'003}}) {
    const Bytes data = test::PseudoRandomBytes(n, n + 7);
    CHECK(BytesOf(MustCompute(fingerprinter, data)) == OneShotHmac(key.RevealSecret(), data));
  }
}

TEST_CASE("repeated fingerprints of the same data are equal", "[crypto][fingerprint]") {
  const Fingerprinter fingerprinter = MustCreate(KeyFromSeed(2));
  const Bytes data = test::PseudoRandomBytes(5000, 3);
  const Fingerprint first = MustCompute(fingerprinter, data);
  CHECK(MustCompute(fingerprinter, test::PseudoRandomBytes(10, 4)) != first);
  CHECK(MustCompute(fingerprinter, data) == first);
}

TEST_CASE("another fingerprint key gives other fingerprints", "[crypto][fingerprint]") {
  const Bytes data = test::PseudoRandomBytes(1000, 5);
  CHECK(MustCompute(MustCreate(KeyFromSeed(3)), data) !=
        MustCompute(MustCreate(KeyFromSeed(4)), data));
}

TEST_CASE("a fingerprinter outlives the key it was created from", "[crypto][fingerprint]") {
  const Bytes data = test::PseudoRandomBytes(100, 6);
  Fingerprint expected;
  std::optional<Fingerprinter> fingerprinter;
  {
    const FingerprintKey key = KeyFromSeed(5);
    auto fp = Fingerprint::FromBytes(OneShotHmac(key.RevealSecret(), data));
    REQUIRE(fp.ok());
    expected = *fp;
    fingerprinter.emplace(MustCreate(key));
  }
  CHECK(MustCompute(*fingerprinter, data) == expected);
}

TEST_CASE("one fingerprinter used from several threads gives the single-threaded results",
          "[crypto][fingerprint]") {
  const Fingerprinter fingerprinter = MustCreate(KeyFromSeed(6));
  std::vector<Bytes> inputs;
  std::vector<Fingerprint> expected;
  for (uint64_t i = 0; i < 64; ++i) {
    inputs.push_back(test::PseudoRandomBytes(100 + 997 * i, i));
    expected.push_back(MustCompute(fingerprinter, inputs.back()));
  }
  constexpr size_t kThreads = 4;
  std::vector<std::vector<Fingerprint>> results(kThreads);
  std::vector<int> errors(kThreads, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (size_t i = 0; i < inputs.size(); ++i) {
          // Each thread walks the inputs in its own order.
          const size_t k = (i * (2 * t + 1) + t) % inputs.size();
          auto fp = fingerprinter.Compute(inputs[k]);
          if (!fp.ok() || *fp != expected[k]) ++errors[t];
          if (round == 0 && fp.ok()) results[t].push_back(*fp);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(errors == std::vector<int>(kThreads, 0));
  for (size_t t = 0; t < kThreads; ++t) CHECK(results[t].size() == inputs.size());
}

TEST_CASE("a moved-from fingerprinter refuses to compute", "[crypto][fingerprint]") {
  Fingerprinter fingerprinter = MustCreate(KeyFromSeed(7));
  Fingerprinter taken = std::move(fingerprinter);
  CHECK(fingerprinter.Compute(Bytes{1, 2, 3}).status().code() ==  // NOLINT(bugprone-use-after-move)
        absl::StatusCode::kFailedPrecondition);
  CHECK(taken.Compute(Bytes{1, 2, 3}).ok());
}

TEST_CASE("a moved-from fingerprint key is refused as an invalid argument",
          "[crypto][fingerprint]") {
  FingerprintKey key = KeyFromSeed(8);
  FingerprintKey taken = std::move(key);
  CHECK(Fingerprinter::Create(key).status().code() ==  // NOLINT(bugprone-use-after-move)
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sealpool::crypto
