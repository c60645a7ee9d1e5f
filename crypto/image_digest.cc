#include "crypto/image_digest.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "absl/strings/str_cat.h"
#include "crypto/image_digest_internal.h"
#include "crypto/openssl_util_internal.h"
#include "crypto/secure_memory.h"

namespace sealpool::crypto {
namespace {

using internal::OpenSslError;

// The HKDF salt of the digest-key derivation. Changing it changes every image digest.
constexpr std::string_view kDigestSalt = "sealpool image digest v1";

EVP_KDF* Hkdf() {
  // Fetched once, kept for the life of the process (never freed on purpose).
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  return kdf;
}

EVP_MAC* Hmac() {
  // Fetched once, kept for the life of the process (never freed on purpose).
  static EVP_MAC* const mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  return mac;
}

// OSSL_PARAM octet strings need a non-null pointer even for zero bytes.
void* OctetData(std::span<const uint8_t> bytes) {
  static uint8_t empty = 0;
  // OpenSSL copies the bytes and never writes through this pointer.
  return bytes.empty() ? &empty : const_cast<uint8_t*>(bytes.data());
}

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

namespace internal {

absl::Status HkdfSha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                        std::span<const uint8_t> info, std::span<uint8_t> out) {
  if (out.empty() || out.size() > kMaxHkdfSha256Output) {
    return absl::InvalidArgumentError(absl::StrCat("HKDF-SHA-256: output length must be in [1, ",
                                                   kMaxHkdfSha256Output, "], got ", out.size()));
  }
  EVP_KDF* kdf = Hkdf();
  if (kdf == nullptr) return OpenSslError("EVP_KDF_fetch(HKDF)");
  KdfCtxPtr ctx(EVP_KDF_CTX_new(kdf));
  if (ctx == nullptr) return OpenSslError("EVP_KDF_CTX_new");
  char digest[] = "SHA256";
  // Mode left at its default, EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND.
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, OctetData(ikm), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, OctetData(salt), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, OctetData(info), info.size()),
      OSSL_PARAM_construct_end()};
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    Wipe(out);
    return OpenSslError("HKDF-SHA-256");
  }
  return absl::OkStatus();
}

}  // namespace internal

namespace image_digest_detail {
void MacCtxFree::operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
}  // namespace image_digest_detail

absl::StatusOr<ImageDigester> ImageDigester::Create(const FingerprintKey& key,
                                                    std::string_view purpose) {
  std::span<const uint8_t> fpk = key.RevealSecret();
  if (fpk.size() != FingerprintKey::kSize) {
    return absl::InvalidArgumentError("ImageDigester: the fingerprint key is empty (moved-from?)");
  }
  if (purpose.empty() || purpose.size() > kMaxPurposeSize) {
    return absl::InvalidArgumentError(absl::StrCat("ImageDigester: purpose must be 1 to ",
                                                   kMaxPurposeSize, " bytes, got ",
                                                   purpose.size()));
  }
  absl::StatusOr<SecretBytes> digest_key = SecretBytes::Allocate(32);
  if (!digest_key.ok()) return digest_key.status();
  if (absl::Status s = internal::HkdfSha256(fpk, AsBytes(kDigestSalt), AsBytes(purpose),
                                            digest_key->mutable_span());
      !s.ok()) {
    return s;
  }
  EVP_MAC* mac = Hmac();
  if (mac == nullptr) return OpenSslError("EVP_MAC_fetch(HMAC)");
  image_digest_detail::MacCtx ctx(EVP_MAC_CTX_new(mac));
  if (ctx == nullptr) return OpenSslError("EVP_MAC_CTX_new");
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx.get(), digest_key->span().data(), digest_key->size(), params) != 1) {
    return OpenSslError("HMAC-SHA-256 key setup");
  }
  return ImageDigester(std::move(ctx));  // digest_key is wiped on return
}

absl::StatusOr<ImageDigestStream> ImageDigester::Begin() const {
  if (keyed_ == nullptr) {
    return absl::FailedPreconditionError("ImageDigester::Begin on a moved-from ImageDigester");
  }
  // A private copy of the keyed state per stream: concurrent Begin calls share nothing.
  image_digest_detail::MacCtx ctx(EVP_MAC_CTX_dup(keyed_.get()));
  if (ctx == nullptr) return OpenSslError("HMAC-SHA-256 context copy");
  return ImageDigestStream(std::move(ctx));
}

absl::Status ImageDigestStream::CheckOpen() const {
  switch (state_) {
    case State::kOpen:
      return absl::OkStatus();
    case State::kFinalized:
      return absl::FailedPreconditionError("ImageDigestStream: Final was already called");
    case State::kFailed:
      return absl::FailedPreconditionError("ImageDigestStream: an earlier call failed");
    case State::kMovedFrom:
      break;
  }
  return absl::FailedPreconditionError("ImageDigestStream: moved-from stream");
}

absl::Status ImageDigestStream::Update(std::span<const uint8_t> data) {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  if (data.empty()) return absl::OkStatus();
  if (EVP_MAC_update(ctx_.get(), data.data(), data.size()) != 1) {
    state_ = State::kFailed;
    ctx_.reset();
    return OpenSslError("HMAC-SHA-256 update");
  }
  return absl::OkStatus();
}

absl::Status ImageDigestStream::UpdateU64(uint64_t v) {
  std::array<uint8_t, 8> le;
  for (size_t i = 0; i < le.size(); ++i) le[i] = static_cast<uint8_t>(v >> (8 * i));
  return Update(le);
}

absl::StatusOr<ImageDigestValue> ImageDigestStream::Final() {
  if (absl::Status s = CheckOpen(); !s.ok()) return s;
  ImageDigestValue out;
  size_t outl = 0;
  const int ok = EVP_MAC_final(ctx_.get(), out.data(), &outl, out.size());
  ctx_.reset();  // frees and cleanses the MAC state now rather than at destruction
  if (ok != 1) {
    state_ = State::kFailed;
    return OpenSslError("HMAC-SHA-256 final");
  }
  state_ = State::kFinalized;
  if (outl != out.size()) return absl::InternalError("HMAC-SHA-256 returned a short MAC");
  return out;
}

bool DigestEquals(const ImageDigestValue& a, const ImageDigestValue& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace sealpool::crypto
