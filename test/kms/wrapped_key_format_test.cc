#include "kms/wrapped_key_format.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "test/test_util.h"

namespace sealpool::kms {
namespace {

WrappedKey SampleBlob() {
  WrappedKey k;
  k.root_key_id = "rk-01";
  for (size_t i = 0; i < k.nonce.size(); ++i) k.nonce[i] = static_cast<uint8_t>(i);
  for (size_t i = 0; i < k.tag.size(); ++i) k.tag[i] = static_cast<uint8_t>(0xa0 + i);
  k.ciphertext = std::vector<uint8_t>(32, 0xcc);
  return k;
}

TEST_CASE("wrapped key layout is pinned", "[kms][format]") {
  std::vector<uint8_t> blob = SampleBlob().Encode();
  CHECK(test::ToHex(blob) ==
        "5350574b"  // "SPWK"
        "01"
        "01"
        "05"
        "726b2d3031"                        // version, backend, id length, "rk-01"
        "000102030405060708090a0b"          // nonce
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"  // tag
        "20"                                // ciphertext length
        "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
  auto decoded = WrappedKey::Decode(blob);
  REQUIRE(decoded.ok());
  CHECK(decoded->root_key_id == "rk-01");
  CHECK(decoded->Encode() == blob);
}

TEST_CASE("malformed wrapped keys are refused", "[kms][format]") {
  std::vector<uint8_t> blob = SampleBlob().Encode();
  for (size_t n = 0; n < blob.size(); ++n) {
    std::vector<uint8_t> cut(blob.begin(), blob.begin() + static_cast<ptrdiff_t>(n));
    INFO("length " << n);
    CHECK(WrappedKey::Decode(cut).status().code() == absl::StatusCode::kInvalidArgument);
  }
  std::vector<uint8_t> longer = blob;
  longer.push_back(0);
  CHECK(WrappedKey::Decode(longer).status().code() == absl::StatusCode::kInvalidArgument);
  std::vector<uint8_t> newer = blob;
  newer[4] = 2;
  CHECK(WrappedKey::Decode(newer).status().code() == absl::StatusCode::kFailedPrecondition);
  std::vector<uint8_t> backend = blob;
  backend[5] = 9;
  CHECK(WrappedKey::Decode(backend).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(WrappedKey::Decode(std::vector<uint8_t>(4096, 0)).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("the blob of each backend is pinned, 36 bytes plus the id and the secret",
          "[kms][format]") {
  WrappedKey k = SampleBlob();
  k.root_key_id = "rk-1";
  std::vector<uint8_t> builtin = k.Encode();
  CHECK(builtin.size() == 72);
  CHECK(test::ToHex(builtin) ==
        "5350574b010104726b2d31"  // "SPWK", version 1, backend 1 (built-in), 4, "rk-1"
        "000102030405060708090a0b"
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
        "20"
        "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
  k.backend = kBackendKmip;
  k.root_key_id = "kmip-17";
  std::vector<uint8_t> kmip = k.Encode();
  CHECK(kmip.size() == 36 + 7 + 32);
  CHECK(test::ToHex(kmip).substr(0, 28) == "5350574b0102076b6d69702d3137");  // backend 2
  auto back = WrappedKey::Decode(kmip);
  REQUIRE(back.ok());
  CHECK(back->backend == kBackendKmip);
}

TEST_CASE("a magic-less blob of the in-process provider is refused, not migrated",
          "[kms][format]") {
  // 01 | 04 | "rk-1" | nonce 12 | tag 16 | 0x20 | ct 32: 67 bytes, no magic.
  std::vector<uint8_t> old = test::FromHex(
      "0104726b2d31"
      "000102030405060708090a0b"
      "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
      "20"
      "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
  REQUIRE(old.size() == 67);
  auto r = WrappedKey::Decode(old);
  CHECK(r.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(r.status().message()),
             Catch::Contains("no \"SPWK\" magic") && Catch::Contains("neither opens nor migrates"));
}

TEST_CASE("a blob of the in-process provider (backend 0x80) is refused", "[kms][format]") {
  // "SPWK" | 01 | 80 | 04 | "rk-1" | nonce 12 | tag 16 | 0x20 | ct 32: 72 bytes.
  std::vector<uint8_t> blob = test::FromHex(
      "5350574b018004726b2d31"
      "000102030405060708090a0b"
      "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
      "20"
      "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
  REQUIRE(blob.size() == 72);
  auto r = WrappedKey::Decode(blob);
  CHECK(r.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("in-process"));
}

TEST_CASE("the associated data binds pool, group, KEK id and header", "[kms][format]") {
  WrappedKey k = SampleBlob();
  auto base = WrapAssociatedData("p", "g", "k", k);
  CHECK(base != WrapAssociatedData("p2", "g", "k", k));
  CHECK(base != WrapAssociatedData("p", "g2", "k", k));
  CHECK(base != WrapAssociatedData("p", "g", "k2", k));
  // Length prefixes: moving a character between fields changes the data.
  CHECK(WrapAssociatedData("ab", "c", "k", k) != WrapAssociatedData("a", "bc", "k", k));
  WrappedKey other = k;
  other.root_key_id = "rk-02";
  CHECK(base != WrapAssociatedData("p", "g", "k", other));
}

}  // namespace
}  // namespace sealpool::kms
