#include "crypto/fingerprint.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <array>

#include "absl/status/status.h"
#include "crypto/fingerprint_internal.h"
#include "crypto/openssl_util_internal.h"

namespace sealpool::crypto {
namespace {

using internal::OpenSslError;

EVP_MAC* Hmac() {
  // Fetched once, kept for the life of the process (never freed on purpose).
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

}  // namespace

namespace internal {

absl::StatusOr<Fingerprinter> FingerprinterFromKeyBytes(std::span<const uint8_t> key) {
  if (key.empty()) {
    return absl::InvalidArgumentError("HMAC-SHA-256: empty key (moved-from key?)");
  }
  EVP_MAC* mac = Hmac();
  if (mac == nullptr) return OpenSslError("EVP_MAC_fetch(HMAC)");
  Fingerprinter::KeyedCtx ctx(EVP_MAC_CTX_new(mac));
  if (ctx == nullptr) return OpenSslError("EVP_MAC_CTX_new");
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx.get(), key.data(), key.size(), params) != 1) {
    return OpenSslError("HMAC-SHA-256 key setup");
  }
  return Fingerprinter(std::move(ctx));
}

}  // namespace internal

void Fingerprinter::MacCtxFree::operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }

absl::StatusOr<Fingerprinter> Fingerprinter::Create(const FingerprintKey& key) {
  std::span<const uint8_t> bytes = key.RevealSecret();
  if (bytes.size() != FingerprintKey::kSize) {
    return absl::InvalidArgumentError("Fingerprinter: the fingerprint key is empty (moved-from?)");
  }
  return internal::FingerprinterFromKeyBytes(bytes);
}

absl::StatusOr<Fingerprinter> Fingerprinter::Create(const ClientDigestKey& key) {
  std::span<const uint8_t> bytes = key.RevealSecret();
  if (bytes.size() != ClientDigestKey::kSize) {
    return absl::InvalidArgumentError("Fingerprinter: the client digest key is empty (moved-from?)");
  }
  return internal::FingerprinterFromKeyBytes(bytes);
}

absl::StatusOr<Fingerprint> Fingerprinter::Compute(std::span<const uint8_t> data) const {
  if (keyed_ == nullptr) {
    return absl::FailedPreconditionError("Fingerprinter::Compute on a moved-from Fingerprinter");
  }
  // A private copy of the keyed state per call: concurrent calls never share a context.
  internal::MacCtxPtr ctx(EVP_MAC_CTX_dup(keyed_.get()));
  if (ctx == nullptr) return OpenSslError("HMAC-SHA-256 context copy");
  if (!data.empty() && EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1) {
    return OpenSslError("HMAC-SHA-256 update");
  }
  std::array<uint8_t, Fingerprint::kSize> out;
  size_t outl = 0;
  if (EVP_MAC_final(ctx.get(), out.data(), &outl, out.size()) != 1) {
    return OpenSslError("HMAC-SHA-256 final");
  }
  if (outl != out.size()) return absl::InternalError("HMAC-SHA-256 returned a short MAC");
  return Fingerprint::FromArray(out);
}

}  // namespace sealpool::crypto
