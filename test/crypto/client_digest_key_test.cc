// crypto/client_digest_key.h: the derivation agrees with an independent HKDF-SHA-256 over the
// documented salt and info (OpenSSL's EVP_KDF, called here directly), and every input
// (fingerprint key, group, epoch, owner) gives a different key.
#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "crypto/client_digest_key.h"
#include "crypto/fingerprint.h"

namespace sealpool::crypto {
namespace {

std::vector<uint8_t> Hkdf(std::span<const uint8_t> ikm, const std::string& salt,
                          const std::string& info) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  REQUIRE(kdf != nullptr);
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm.data()),
                                        ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                        info.size()),
      OSSL_PARAM_construct_end()};
  std::vector<uint8_t> out(32);
  REQUIRE(EVP_KDF_derive(ctx, out.data(), out.size(), params) == 1);
  EVP_KDF_CTX_free(ctx);
  EVP_KDF_free(kdf);
  return out;
}

std::vector<uint8_t> Bytes(const ClientDigestKey& k) {
  return {k.RevealSecret().begin(), k.RevealSecret().end()};
}

TEST_CASE("client digest key: HKDF-SHA-256 over the documented salt and info",
          "[crypto][client_dedup]") {
  std::array<uint8_t, 32> raw{};
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 7 + 1);
  auto fpk = FingerprintKey::FromBytes(raw);
  REQUIRE(fpk.ok());
  std::array<uint8_t, 16> group{};
  for (size_t i = 0; i < group.size(); ++i) group[i] = static_cast<uint8_t>(0xa0 + i);
  auto k = DeriveClientDigestKey(*fpk, group, "alice", 0x01020304);
  REQUIRE(k.ok());
  CHECK(k->locked());
  std::string info(reinterpret_cast<const char*>(group.data()), group.size());
  info += std::string("\x01\x02\x03\x04", 4) + "alice";
  CHECK(Bytes(*k) == Hkdf(raw, "sealpool client digest v1", info));

  // Every input matters.
  std::array<uint8_t, 16> other_group = group;
  other_group[0] ^= 1;
  auto by_owner = DeriveClientDigestKey(*fpk, group, "bob", 0x01020304);
  auto by_epoch = DeriveClientDigestKey(*fpk, group, "alice", 0x01020305);
  auto by_group = DeriveClientDigestKey(*fpk, other_group, "alice", 0x01020304);
  raw[0] ^= 1;
  auto fpk2 = FingerprintKey::FromBytes(raw);
  REQUIRE(fpk2.ok());
  auto by_fpk = DeriveClientDigestKey(*fpk2, group, "alice", 0x01020304);
  REQUIRE((by_owner.ok() && by_epoch.ok() && by_group.ok() && by_fpk.ok()));
  for (const auto* other : {&*by_owner, &*by_epoch, &*by_group, &*by_fpk}) {
    CHECK(Bytes(*other) != Bytes(*k));
  }
  // The client key is not the fingerprint key: their HMACs of the same bytes differ.
  auto f1 = Fingerprinter::Create(*fpk);
  auto f2 = Fingerprinter::Create(*k);
  REQUIRE((f1.ok() && f2.ok()));
  const std::array<uint8_t, 3> data = {1, 2, 3};
  CHECK(f1->Compute(data)->bytes() != f2->Compute(data)->bytes());
}

TEST_CASE("client digest key: bad inputs are refused", "[crypto][client_dedup]") {
  auto fpk = FingerprintKey::Generate();
  REQUIRE(fpk.ok());
  std::array<uint8_t, 16> group{};
  auto long_owner = DeriveClientDigestKey(*fpk, group, std::string(256, 'x'), 0);
  CHECK(long_owner.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(DeriveClientDigestKey(*fpk, group, std::string(255, 'x'), 0).ok());
  FingerprintKey moved = std::move(*fpk);
  auto empty = DeriveClientDigestKey(*fpk, group, "alice", 0);  // NOLINT(bugprone-use-after-move)
  CHECK(empty.status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sealpool::crypto
