// RFC 5649 over OpenSSL 3 EVP ("AES-256-WRAP-PAD", fetched once). Wrapping is rare (once per
// segment) and tiny, so each call uses a fresh context: nothing key-dependent outlives it.
#include "crypto/key_wrap.h"

#include <openssl/evp.h>

#include <algorithm>
#include <climits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "crypto/key_wrap_internal.h"
#include "crypto/openssl_util_internal.h"
#include "crypto/secure_memory.h"

namespace sealpool::crypto {
namespace {

using internal::OpenSslError;

constexpr size_t kKekSize = 32;
// RFC 5649 limits the plaintext to 2^32 bytes; we also keep lengths within OpenSSL's int.
constexpr size_t kMaxPlaintext = size_t{INT_MAX} - 16;

const EVP_CIPHER* Aes256WrapPad() {
  // Fetched once, kept for the life of the process (never freed on purpose).
  static const EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-WRAP-PAD", nullptr);
  return cipher;
}

absl::Status CheckKek(std::span<const uint8_t> kek) {
  if (kek.size() != kKekSize) {
    return absl::InvalidArgumentError(absl::StrCat("AES-256 key wrap: KEK must be ", kKekSize,
                                                   " bytes, got ", kek.size(),
                                                   kek.empty() ? " (moved-from key?)" : ""));
  }
  return absl::OkStatus();
}

absl::StatusOr<internal::CipherCtxPtr> NewWrapContext(std::span<const uint8_t> kek, int enc) {
  const EVP_CIPHER* cipher = Aes256WrapPad();
  if (cipher == nullptr) return OpenSslError("EVP_CIPHER_fetch(AES-256-WRAP-PAD)");
  internal::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) return OpenSslError("EVP_CIPHER_CTX_new");
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  if (EVP_CipherInit_ex2(ctx.get(), cipher, kek.data(), nullptr, enc, nullptr) != 1) {
    return OpenSslError("AES-256 key wrap setup");
  }
  return ctx;
}

}  // namespace

namespace internal {

absl::StatusOr<std::vector<uint8_t>> WrapPadRaw(std::span<const uint8_t> kek,
                                                std::span<const uint8_t> plaintext) {
  if (absl::Status s = CheckKek(kek); !s.ok()) return s;
  if (plaintext.empty() || plaintext.size() > kMaxPlaintext) {
    return absl::InvalidArgumentError(absl::StrCat("AES-256 key wrap: plaintext must be 1..",
                                                   kMaxPlaintext, " bytes, got ",
                                                   plaintext.size()));
  }
  absl::StatusOr<CipherCtxPtr> ctx = NewWrapContext(kek, 1);
  if (!ctx.ok()) return ctx.status();
  std::vector<uint8_t> out(WrappedSize(plaintext.size()));
  int outl = 0;
  if (EVP_CipherUpdate(ctx->get(), out.data(), &outl, plaintext.data(),
                       static_cast<int>(plaintext.size())) != 1) {
    return OpenSslError("AES-256 key wrap");
  }
  if (static_cast<size_t>(outl) != out.size()) {
    return absl::InternalError(
        absl::StrCat("AES-256 key wrap produced ", outl, " bytes, expected ", out.size()));
  }
  return out;
}

absl::StatusOr<size_t> UnwrapPadRaw(std::span<const uint8_t> kek, std::span<const uint8_t> wrapped,
                                    std::span<uint8_t> out) {
  absl::Status status = CheckKek(kek);
  if (status.ok() &&
      (wrapped.size() < 16 || wrapped.size() % 8 != 0 || wrapped.size() > kMaxPlaintext)) {
    status = absl::InvalidArgumentError(absl::StrCat(
        "AES-256 key unwrap: wrapped key must be a multiple of 8 bytes and at least 16, got ",
        wrapped.size()));
  }
  if (status.ok() && out.size() < wrapped.size()) {
    status = absl::InvalidArgumentError(
        absl::StrCat("AES-256 key unwrap: output buffer of ", out.size(),
                     " bytes is smaller than the wrapped key (", wrapped.size(), ")"));
  }
  if (!status.ok()) {
    Wipe(out);
    return status;
  }
  absl::StatusOr<CipherCtxPtr> ctx = NewWrapContext(kek, 0);
  if (!ctx.ok()) {
    Wipe(out);
    return ctx.status();
  }
  int outl = 0;
  if (EVP_CipherUpdate(ctx->get(), out.data(), &outl, wrapped.data(),
                       static_cast<int>(wrapped.size())) != 1 ||
      outl <= 0) {
    // OpenSSL reports an integrity failure and nothing else here.
    ClearOpenSslErrors();
    Wipe(out);
    return absl::DataLossError(
        "AES-256 key unwrap failed: integrity check of the wrapped key did not pass (corrupt, "
        "tampered with, or wrapped under another KEK)");
  }
  return static_cast<size_t>(outl);
}

}  // namespace internal

namespace {

absl::StatusOr<WrappedDek> WrapDekWith(std::span<const uint8_t> kek, const Dek& dek) {
  std::span<const uint8_t> dek_bytes = dek.RevealSecret();
  if (dek_bytes.size() != Dek::kSize) {
    return absl::InvalidArgumentError("WrapDek: the DEK is empty (moved-from key?)");
  }
  absl::StatusOr<std::vector<uint8_t>> wrapped =
      internal::WrapPadRaw(kek, dek_bytes);
  if (!wrapped.ok()) return wrapped.status();
  if (wrapped->size() != kWrappedDekSize) {
    return absl::InternalError(absl::StrCat("WrapDek produced ", wrapped->size(), " bytes"));
  }
  WrappedDek out;
  std::copy(wrapped->begin(), wrapped->end(), out.begin());
  return out;
}

absl::StatusOr<Dek> UnwrapDekWith(std::span<const uint8_t> kek,
                                  std::span<const uint8_t> wrapped) {
  if (wrapped.size() != kWrappedDekSize) {
    return absl::InvalidArgumentError(absl::StrCat("UnwrapDek: a wrapped DEK is ", kWrappedDekSize,
                                                   " bytes, got ", wrapped.size()));
  }
  absl::StatusOr<SecretBytes> buffer = SecretBytes::Allocate(kWrappedDekSize);
  if (!buffer.ok()) return buffer.status();
  absl::StatusOr<size_t> n =
      internal::UnwrapPadRaw(kek, wrapped, buffer->mutable_span());
  if (!n.ok()) return n.status();
  if (*n != Dek::kSize) {
    return absl::DataLossError(
        absl::StrCat("UnwrapDek: the wrapped key is ", *n, " bytes long, a DEK is ", Dek::kSize));
  }
  return Dek::FromBytes(buffer->span().first(Dek::kSize));
}

}  // namespace

absl::StatusOr<WrappedDek> WrapDek(const Kek& kek, const Dek& dek) {
  return WrapDekWith(kek.RevealSecret(), dek);
}
absl::StatusOr<Dek> UnwrapDek(const Kek& kek, std::span<const uint8_t> wrapped) {
  return UnwrapDekWith(kek.RevealSecret(), wrapped);
}
absl::StatusOr<WrappedDek> WrapDek(const BatchKey& batch_key, const Dek& dek) {
  return WrapDekWith(batch_key.RevealSecret(), dek);
}
absl::StatusOr<Dek> UnwrapDek(const BatchKey& batch_key, std::span<const uint8_t> wrapped) {
  return UnwrapDekWith(batch_key.RevealSecret(), wrapped);
}

}  // namespace sealpool::crypto
