// Root-key state rules and the byte formats of wrapped keys and key store headers.
#include <catch2/catch.hpp>
#include <set>
#include <utility>

#include "kms/key_store_format.h"
#include "kms/root_key_state.h"
#include "kms/wrapped_key_format.h"
#include "test/test_util.h"

namespace sealpool::kms {
namespace {

using S = RootKeyState;
constexpr S kAll[] = {S::kPrelive,    S::kActive,     S::kInactive,
                      S::kDeprecated, S::kTerminated, S::kCompromised};

TEST_CASE("exactly the documented moves are allowed", "[kms][state]") {
  const std::set<std::pair<S, S>> allowed = {
      {S::kPrelive, S::kActive},         {S::kActive, S::kInactive},
      {S::kInactive, S::kActive},        {S::kInactive, S::kDeprecated},
      {S::kDeprecated, S::kTerminated},  {S::kPrelive, S::kCompromised},
      {S::kActive, S::kCompromised},     {S::kInactive, S::kCompromised},
      {S::kDeprecated, S::kCompromised}, {S::kCompromised, S::kTerminated}};
  for (S from : kAll) {
    for (S to : kAll) {
      INFO(RootKeyStateName(from) << " -> " << RootKeyStateName(to));
      absl::Status s = CheckTransition(from, to);
      if (allowed.contains({from, to})) {
        CHECK(s.ok());
      } else {
        CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
      }
    }
  }
}

TEST_CASE("what each state may do", "[kms][state]") {
  for (S s : kAll) {
    INFO(RootKeyStateName(s));
    CHECK(CheckCanWrap(s).ok() == (s == S::kActive));
    CHECK(CheckCanUnwrap(s, false).ok() == (s == S::kActive || s == S::kInactive));
    CHECK(CheckCanUnwrap(s, true).ok() ==
          (s == S::kActive || s == S::kInactive || s == S::kCompromised));
    CHECK(CheckCanDelete(s).ok() == (s == S::kPrelive || s == S::kTerminated));
    CHECK(ParseRootKeyState(RootKeyStateName(s)) == s);
  }
  CHECK_FALSE(ParseRootKeyState("retired").has_value());
  CHECK(RequiresNoUsage(S::kDeprecated));
  CHECK(RequiresNoUsage(S::kTerminated));
  CHECK_FALSE(RequiresNoUsage(S::kCompromised));
}

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

TEST_CASE("key store header layout is pinned", "[kms][format]") {
  KeyStoreHeader h;
  h.scrypt = {1u << 15, 8, 1};
  h.payload_size = 0x0102;
  auto bytes = h.Encode();
  static_assert(kKeyStoreHeaderSize == 144);
  std::string hex = test::ToHex(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 72));
  CHECK(hex.substr(0, 64) ==
        "53504b53544f5245"                           // "SPKSTORE"
        "01000000"                                   // version 1
        "01000000"                                   // scrypt, 3 zero bytes
        "0080000000000000"                           // N = 2^15
        "08000000"                                   // r
        "01000000");                                 // p
  CHECK(hex.substr(128, 16) == "0201000000000000");  // payload length, zero
  std::vector<uint8_t> file(bytes.begin(), bytes.end());
  file.resize(file.size() + 0x0102);
  auto decoded = KeyStoreHeader::Decode(file);
  REQUIRE(decoded.ok());
  CHECK(decoded->scrypt.n == (1u << 15));
  CHECK(decoded->payload_size == 0x0102);
}

}  // namespace
}  // namespace sealpool::kms
