// DeriveStoreKey: scrypt by RFC 7914, parameters validated, deterministic per salt.
#include "crypto/passphrase_kdf.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "crypto/passphrase_kdf_internal.h"
#include "test/crypto/vector_file.h"
#include "test/test_util.h"

namespace sealpool::crypto {
namespace {

using Bytes = std::vector<uint8_t>;

// RFC 7914's largest vector needs 1 GiB; the suite runs on shared machines.
constexpr uint64_t kMaxTestMemory = uint64_t{64} << 20;

Bytes Text(const std::string& s) { return {s.begin(), s.end()}; }

struct ScryptCounts {
  int ran = 0;
  int skipped = 0;
};

ScryptCounts RunScryptVectors(const std::vector<test::VectorRecord>& records) {
  ScryptCounts counts;
  for (const test::VectorRecord& r : records) {
    INFO("vector at line " << r.line);
    const uint64_t n = std::stoull(r.Text("N"));
    const auto rr = static_cast<uint32_t>(std::stoul(r.Text("r")));
    const auto p = static_cast<uint32_t>(std::stoul(r.Text("p")));
    if (internal::ScryptMemoryBytes(n, rr, p) > kMaxTestMemory) {
      ++counts.skipped;
      continue;
    }
    Bytes out(std::stoul(r.Text("LENGTH")));
    REQUIRE(
        internal::ScryptRaw(Text(r.Text("PASSWORD")), Text(r.Text("SALT")), n, rr, p, out).ok());
    CHECK(test::ToHex(out) == r.Text("DERIVED_KEY"));
    ++counts.ran;
  }
  return counts;
}

TEST_CASE("the pinned RFC 7914 scrypt vectors give their derived keys",
          "[crypto][passphrase_kdf][kat]") {
  ScryptCounts counts =
      RunScryptVectors(test::ReadVectorFile(test::PinnedVectorFile("scrypt_rfc7914.txt")));
  REQUIRE(counts.ran == 3);
  REQUIRE(counts.skipped == 1);  // n = 2^20, r = 8: 1 GiB
}

TEST_CASE("the RFC 7914 scrypt vectors of the system file give their derived keys",
          "[crypto][passphrase_kdf][kat][full]") {
  auto file = test::SystemVectorFileOrSkip("KDF/scrypt.txt");
  REQUIRE(RunScryptVectors(test::ReadVectorFile(file)).ran >= 3);
}

const ScryptParams kFast{uint64_t{1} << 10, 8, 1};
const Bytes kSalt = test::PseudoRandomBytes(16, 99);

Bytes Derive(const Bytes& passphrase, const Bytes& salt, const ScryptParams& params) {
  auto key = DeriveStoreKey(passphrase, salt, params);
  REQUIRE(key.ok());
  return {key->RevealSecret().begin(), key->RevealSecret().end()};
}

TEST_CASE("a store key is the first 32 bytes of scrypt over the passphrase and salt",
          "[crypto][passphrase_kdf]") {
  const Bytes passphrase = Text("correct horse battery staple");
  Bytes expected(32);
  REQUIRE(internal::ScryptRaw(passphrase, kSalt, kFast.n, kFast.r, kFast.p, expected).ok());
  CHECK(Derive(passphrase, kSalt, kFast) == expected);
  // scrypt's output is a PBKDF2 stream: a longer output starts with the same 32 bytes.
  Bytes longer(64);
  REQUIRE(internal::ScryptRaw(passphrase, kSalt, kFast.n, kFast.r, kFast.p, longer).ok());
  CHECK(Bytes(longer.begin(), longer.begin() + 32) == expected);
}

TEST_CASE("the same passphrase, salt and parameters always give the same store key",
          "[crypto][passphrase_kdf]") {
  const Bytes passphrase = Text("operator passphrase");
  const Bytes key = Derive(passphrase, kSalt, kFast);
  CHECK(Derive(passphrase, kSalt, kFast) == key);
  CHECK(Derive(Text("operator passphrasE"), kSalt, kFast) != key);
  CHECK(Derive(passphrase, test::PseudoRandomBytes(16, 100), kFast) != key);
  CHECK(Derive(passphrase, kSalt, ScryptParams{uint64_t{1} << 11, 8, 1}) != key);
  CHECK(Derive(passphrase, kSalt, ScryptParams{uint64_t{1} << 10, 4, 1}) != key);
  CHECK(Derive(passphrase, kSalt, ScryptParams{uint64_t{1} << 10, 8, 2}) != key);
}

TEST_CASE("an empty passphrase or a short salt is refused as an invalid argument",
          "[crypto][passphrase_kdf]") {
  CHECK(DeriveStoreKey({}, kSalt, kFast).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(DeriveStoreKey(Text("x"), Bytes(kMinScryptSaltSize - 1, 1), kFast).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(DeriveStoreKey(Text("x"), {}, kFast).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("scrypt parameters outside the accepted ranges are refused", "[crypto][passphrase_kdf]") {
  const ScryptParams bad[] = {
      {0, 8, 1},
      {uint64_t{1} << 9, 8, 1},
      {(uint64_t{1} << 10) + 1, 8, 1},
      {3 * (uint64_t{1} << 10), 8, 1},
      {uint64_t{1} << 23, 8, 1},
      {uint64_t{1} << 63, 8, 1},
      {uint64_t{1} << 10, 0, 1},
      {uint64_t{1} << 10, 33, 1},
      {uint64_t{1} << 10, 8, 0},
      {uint64_t{1} << 10, 8, 17},
  };
  for (const ScryptParams& params : bad) {
    INFO("n=" << params.n << " r=" << params.r << " p=" << params.p);
    CHECK(ValidateScryptParams(params).code() == absl::StatusCode::kInvalidArgument);
    CHECK(DeriveStoreKey(Text("x"), kSalt, params).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
  const ScryptParams good[] = {
      {uint64_t{1} << 10, 1, 1},
      {uint64_t{1} << 22, 32, 16},
      {uint64_t{1} << 15, 8, 1},
      ScryptParams{},
  };
  for (const ScryptParams& params : good) CHECK(ValidateScryptParams(params).ok());
  CHECK(Derive(Text("x"), kSalt, {uint64_t{1} << 10, 1, 1}).size() == 32);
}

TEST_CASE("the default scrypt parameters cost 32 MiB", "[crypto][passphrase_kdf]") {
  const ScryptParams params;
  CHECK(params.n == 32768);
  CHECK(params.r == 8);
  CHECK(params.p == 1);
  CHECK(internal::ScryptMemoryBytes(params.n, params.r, params.p) / (1 << 20) == 32);
}

}  // namespace
}  // namespace sealpool::crypto
