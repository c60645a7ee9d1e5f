#include "crypto/passphrase_kdf.h"

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "absl/strings/str_cat.h"
#include "crypto/openssl_util_internal.h"
#include "crypto/passphrase_kdf_internal.h"
#include "crypto/secure_memory.h"

namespace sealpool::crypto {
namespace {

constexpr uint64_t kMinN = uint64_t{1} << 10;
constexpr uint64_t kMaxN = uint64_t{1} << 22;
constexpr uint32_t kMaxR = 32;
constexpr uint32_t kMaxP = 16;

EVP_KDF* Scrypt() {
  // Fetched once, kept for the life of the process (never freed on purpose).
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "SCRYPT", nullptr);
  return kdf;
}

// OSSL_PARAM octet strings need a non-null pointer even for zero bytes.
void* OctetData(std::span<const uint8_t> bytes) {
  static uint8_t empty = 0;
  // OpenSSL copies the bytes and never writes through this pointer.
  return bytes.empty() ? &empty : const_cast<uint8_t*>(bytes.data());
}

}  // namespace

namespace internal {

uint64_t ScryptMemoryBytes(uint64_t n, uint32_t r, uint32_t p) {
  return uint64_t{128} * r * (n + 2) + uint64_t{128} * r * p;
}

absl::Status ScryptRaw(std::span<const uint8_t> passphrase, std::span<const uint8_t> salt,
                       uint64_t n, uint32_t r, uint32_t p, std::span<uint8_t> out) {
  EVP_KDF* kdf = Scrypt();
  if (kdf == nullptr) return OpenSslError("EVP_KDF_fetch(SCRYPT)");
  KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf));
  if (ctx == nullptr) return OpenSslError("EVP_KDF_CTX_new");
  uint64_t maxmem = ScryptMemoryBytes(n, r, p);
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, OctetData(passphrase),
                                        passphrase.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, OctetData(salt), salt.size()),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r),
      OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p),
      OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_MAXMEM, &maxmem),
      OSSL_PARAM_construct_end()};
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    Wipe(out);
    return OpenSslError(absl::StrCat("scrypt (n=", n, ", r=", r, ", p=", p, ")"));
  }
  return absl::OkStatus();
}

}  // namespace internal

absl::Status ValidateScryptParams(const ScryptParams& params) {
  if (params.n < kMinN || params.n > kMaxN || (params.n & (params.n - 1)) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("scrypt n must be a power of two in [2^10, 2^22], got ", params.n));
  }
  if (params.r < 1 || params.r > kMaxR) {
    return absl::InvalidArgumentError(
        absl::StrCat("scrypt r must be in [1, ", kMaxR, "], got ", params.r));
  }
  if (params.p < 1 || params.p > kMaxP) {
    return absl::InvalidArgumentError(
        absl::StrCat("scrypt p must be in [1, ", kMaxP, "], got ", params.p));
  }
  return absl::OkStatus();
}

absl::StatusOr<StoreKey> DeriveStoreKey(std::span<const uint8_t> passphrase,
                                        std::span<const uint8_t> salt, const ScryptParams& params) {
  if (passphrase.empty()) return absl::InvalidArgumentError("scrypt: empty passphrase");
  if (salt.size() < kMinScryptSaltSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "scrypt: salt must be at least ", kMinScryptSaltSize, " bytes, got ", salt.size()));
  }
  if (absl::Status s = ValidateScryptParams(params); !s.ok()) return s;
  absl::StatusOr<SecretBytes> derived = SecretBytes::Allocate(StoreKey::kSize);
  if (!derived.ok()) return derived.status();
  if (absl::Status s = internal::ScryptRaw(passphrase, salt, params.n, params.r, params.p,
                                           derived->mutable_span());
      !s.ok()) {
    return s;
  }
  return StoreKey::FromBytes(derived->span());
}

}  // namespace sealpool::crypto
