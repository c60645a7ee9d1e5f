// AES-256-GCM over OpenSSL 3 EVP.
//
// Fast path: AES-256-GCM is fetched once per process, and each thread keeps one cipher
// context bound to it, so a Seal or Open costs a key schedule and the bulk work, never an
// allocation or an algorithm lookup. After each use the context is re-keyed with an all-zero
// key and IV and run over one byte of associated data, so it never keeps the previous key's
// schedule, hash subkey or tag mask between calls.
#include "crypto/aead.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "crypto/aead_internal.h"
#include "crypto/openssl_util_internal.h"
#include "crypto/random_internal.h"

namespace sealpool::crypto {
namespace {

using internal::OpenSslError;

constexpr size_t kKeySize = 32;
// EVP_*Update take an int length; longer inputs are fed in pieces of this size.
constexpr size_t kPiece = size_t{1} << 30;

constexpr char kAuthFailed[] =
    "AES-256-GCM authentication failed: ciphertext, tag, nonce, associated data or key do not "
    "match";

const EVP_CIPHER* Aes256Gcm() {
  // Fetched once, kept for the life of the process (never freed on purpose).
  static const EVP_CIPHER* const cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return cipher;
}

bool PartiallyOverlap(std::span<const uint8_t> in, std::span<const uint8_t> out) {
  if (in.empty() || out.empty()) return false;
  const auto a = reinterpret_cast<uintptr_t>(in.data());
  const auto b = reinterpret_cast<uintptr_t>(out.data());
  if (a == b) return false;  // exactly in place
  return a < b + out.size() && b < a + in.size();
}

absl::Status CheckArgs(std::span<const uint8_t> key, size_t iv_size, size_t tag_size,
                       std::span<const uint8_t> in, std::span<const uint8_t> out,
                       const char* in_name, const char* out_name) {
  if (key.size() != kKeySize) {
    return absl::InvalidArgumentError(absl::StrCat("AES-256-GCM key must be ", kKeySize,
                                                   " bytes, got ", key.size(),
                                                   key.empty() ? " (moved-from key?)" : ""));
  }
  if (iv_size == 0 || iv_size > internal::kGcmMaxIvSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AES-256-GCM IV must be 1..", internal::kGcmMaxIvSize, " bytes, got ", iv_size));
  }
  if (tag_size < internal::kGcmMinTagSize || tag_size > kGcmTagSize) {
    return absl::InvalidArgumentError(absl::StrCat("AES-256-GCM tag must be ",
                                                   internal::kGcmMinTagSize, "..", kGcmTagSize,
                                                   " bytes, got ", tag_size));
  }
  if (in.size() != out.size()) {
    return absl::InvalidArgumentError(absl::StrCat("AES-256-GCM ", out_name, " buffer is ",
                                                   out.size(), " bytes, ", in_name, " is ",
                                                   in.size()));
  }
  if (in.size() > kGcmMaxPlaintextSize) {
    return absl::InvalidArgumentError(absl::StrCat("AES-256-GCM ", in_name, " of ", in.size(),
                                                   " bytes exceeds GCM's limit of ",
                                                   kGcmMaxPlaintextSize));
  }
  if (PartiallyOverlap(in, out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("AES-256-GCM ", in_name, " and ", out_name, " buffers partially overlap"));
  }
  return absl::OkStatus();
}

// Feeds associated data (out == nullptr) or message bytes through the context in int-sized
// pieces.
bool Update(EVP_CIPHER_CTX* ctx, std::span<const uint8_t> in, uint8_t* out) {
  while (!in.empty()) {
    const size_t n = std::min(in.size(), kPiece);
    int outl = 0;
    if (EVP_CipherUpdate(ctx, out, &outl, in.data(), static_cast<int>(n)) != 1) return false;
    in = in.subspan(n);
    if (out != nullptr) out += n;
  }
  return true;
}

// Encrypts on a context bound to AES-256-GCM whose IV length already equals iv.size().
absl::Status Encrypt(EVP_CIPHER_CTX* ctx, std::span<const uint8_t> key, std::span<const uint8_t> iv,
                     std::span<const uint8_t> aad, std::span<const uint8_t> plaintext,
                     std::span<uint8_t> ciphertext_out, std::span<uint8_t> tag_out) {
  if (EVP_CipherInit_ex2(ctx, nullptr, key.data(), iv.data(), 1, nullptr) != 1) {
    return OpenSslError("AES-256-GCM encryption setup");
  }
  if (!Update(ctx, aad, nullptr)) return OpenSslError("AES-256-GCM associated data");
  if (!Update(ctx, plaintext, ciphertext_out.data())) return OpenSslError("AES-256-GCM encrypt");
  std::array<uint8_t, 16> unused;
  int outl = 0;
  if (EVP_CipherFinal_ex(ctx, unused.data(), &outl) != 1) {
    return OpenSslError("AES-256-GCM encryption finish");
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag_out.data(), tag_out.size()),
      OSSL_PARAM_construct_end()};
  if (EVP_CIPHER_CTX_get_params(ctx, params) != 1) return OpenSslError("AES-256-GCM get tag");
  return absl::OkStatus();
}

// Decrypts and authenticates; the caller wipes plaintext_out on error.
absl::Status Decrypt(EVP_CIPHER_CTX* ctx, std::span<const uint8_t> key, std::span<const uint8_t> iv,
                     std::span<const uint8_t> aad, std::span<const uint8_t> ciphertext,
                     std::span<const uint8_t> tag, std::span<uint8_t> plaintext_out) {
  if (EVP_CipherInit_ex2(ctx, nullptr, key.data(), iv.data(), 0, nullptr) != 1) {
    return OpenSslError("AES-256-GCM decryption setup");
  }
  std::array<uint8_t, kGcmTagSize> expected;
  std::copy(tag.begin(), tag.end(), expected.begin());
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, expected.data(), tag.size()),
      OSSL_PARAM_construct_end()};
  if (EVP_CIPHER_CTX_set_params(ctx, params) != 1) return OpenSslError("AES-256-GCM set tag");
  if (!Update(ctx, aad, nullptr)) return OpenSslError("AES-256-GCM associated data");
  if (!Update(ctx, ciphertext, plaintext_out.data())) return OpenSslError("AES-256-GCM decrypt");
  std::array<uint8_t, 16> unused;
  int outl = 0;
  if (EVP_CipherFinal_ex(ctx, unused.data(), &outl) != 1) {
    internal::ClearOpenSslErrors();
    return absl::DataLossError(kAuthFailed);
  }
  return absl::OkStatus();
}

// The calling thread's AES-256-GCM context (12-byte IV). Owned by the thread; valid until the
// thread ends or DropThreadContext().
thread_local internal::CipherCtxPtr thread_ctx;

absl::StatusOr<EVP_CIPHER_CTX*> ThreadContext() {
  if (thread_ctx != nullptr) return thread_ctx.get();
  const EVP_CIPHER* cipher = Aes256Gcm();
  if (cipher == nullptr) return OpenSslError("EVP_CIPHER_fetch(AES-256-GCM)");
  internal::CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (ctx == nullptr) return OpenSslError("EVP_CIPHER_CTX_new");
  if (EVP_CipherInit_ex2(ctx.get(), cipher, nullptr, nullptr, 1, nullptr) != 1) {
    return OpenSslError("AES-256-GCM context setup");
  }
  thread_ctx = std::move(ctx);
  return thread_ctx.get();
}

// Replaces every key-dependent value in the thread's context with values derived from the
// all-zero key; if that fails, frees the context (EVP_CIPHER_CTX_free cleanses it).
void ScrubThreadContext() {
  static constexpr std::array<uint8_t, kKeySize> kZeroKey{};
  static constexpr std::array<uint8_t, kGcmNonceSize> kZeroIv{};
  static constexpr uint8_t kOneByte = 0;
  EVP_CIPHER_CTX* ctx = thread_ctx.get();
  int outl = 0;
  if (ctx == nullptr ||
      (EVP_CipherInit_ex2(ctx, nullptr, kZeroKey.data(), kZeroIv.data(), 1, nullptr) == 1 &&
       EVP_CipherUpdate(ctx, nullptr, &outl, &kOneByte, 1) == 1)) {
    return;
  }
  internal::ClearOpenSslErrors();
  thread_ctx.reset();
}

// A context ready for `iv_size`-byte IVs: the thread's own for 12 bytes, else a fresh one
// stored in `owned`.
absl::StatusOr<EVP_CIPHER_CTX*> ContextFor(size_t iv_size, int enc, internal::CipherCtxPtr& owned) {
  if (iv_size == kGcmNonceSize) return ThreadContext();
  const EVP_CIPHER* cipher = Aes256Gcm();
  if (cipher == nullptr) return OpenSslError("EVP_CIPHER_fetch(AES-256-GCM)");
  owned.reset(EVP_CIPHER_CTX_new());
  if (owned == nullptr) return OpenSslError("EVP_CIPHER_CTX_new");
  if (EVP_CipherInit_ex2(owned.get(), cipher, nullptr, nullptr, enc, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(owned.get(), EVP_CTRL_AEAD_SET_IVLEN, static_cast<int>(iv_size),
                          nullptr) != 1) {
    return OpenSslError("AES-256-GCM context setup");
  }
  return owned.get();
}

absl::Status SealImpl(std::span<const uint8_t> key, std::span<const uint8_t> iv,
                      std::span<const uint8_t> aad, std::span<const uint8_t> plaintext,
                      std::span<uint8_t> ciphertext_out, std::span<uint8_t> tag_out) {
  if (absl::Status s = CheckArgs(key, iv.size(), tag_out.size(), plaintext, ciphertext_out,
                                 "plaintext", "ciphertext");
      !s.ok()) {
    return s;
  }
  internal::CipherCtxPtr owned;
  absl::StatusOr<EVP_CIPHER_CTX*> ctx = ContextFor(iv.size(), 1, owned);
  if (!ctx.ok()) return ctx.status();
  absl::Status status = Encrypt(*ctx, key, iv, aad, plaintext, ciphertext_out, tag_out);
  if (owned == nullptr) ScrubThreadContext();
  return status;
}

absl::Status OpenImpl(std::span<const uint8_t> key, std::span<const uint8_t> iv,
                      std::span<const uint8_t> aad, std::span<const uint8_t> ciphertext,
                      std::span<const uint8_t> tag, std::span<uint8_t> plaintext_out) {
  absl::Status status =
      CheckArgs(key, iv.size(), tag.size(), ciphertext, plaintext_out, "ciphertext", "plaintext");
  if (status.ok()) {
    internal::CipherCtxPtr owned;
    absl::StatusOr<EVP_CIPHER_CTX*> ctx = ContextFor(iv.size(), 0, owned);
    if (ctx.ok()) {
      status = Decrypt(*ctx, key, iv, aad, ciphertext, tag, plaintext_out);
      if (owned == nullptr) ScrubThreadContext();
    } else {
      status = ctx.status();
    }
  }
  // Never leave unauthenticated (or partly decrypted) plaintext behind.
  if (!status.ok()) Wipe(plaintext_out);
  return status;
}

}  // namespace

namespace internal {

absl::Status SealWithKeyBytes(std::span<const uint8_t> key, std::span<const uint8_t> aad,
                              std::span<const uint8_t> plaintext, std::span<uint8_t> ciphertext_out,
                              GcmNonce* nonce_out, GcmTag* tag_out) {
  if (nonce_out == nullptr || tag_out == nullptr) {
    return absl::InvalidArgumentError("Seal: nonce_out and tag_out must not be null");
  }
  GcmNonce nonce;
  if (absl::Status s = internal::BufferedRandomBytes(nonce); !s.ok()) return s;
  if (absl::Status s = SealImpl(key, nonce, aad, plaintext, ciphertext_out, *tag_out); !s.ok()) {
    return s;
  }
  *nonce_out = nonce;
  return absl::OkStatus();
}

absl::Status OpenWithKeyBytes(std::span<const uint8_t> key, const GcmNonce& nonce,
                              std::span<const uint8_t> aad, std::span<const uint8_t> ciphertext,
                              const GcmTag& tag, std::span<uint8_t> plaintext_out) {
  return OpenImpl(key, nonce, aad, ciphertext, tag, plaintext_out);
}

absl::Status GcmSealRaw(std::span<const uint8_t> key, std::span<const uint8_t> iv,
                        std::span<const uint8_t> aad, std::span<const uint8_t> plaintext,
                        std::span<uint8_t> ciphertext_out, std::span<uint8_t> tag_out) {
  return SealImpl(key, iv, aad, plaintext, ciphertext_out, tag_out);
}

absl::Status GcmOpenRaw(std::span<const uint8_t> key, std::span<const uint8_t> iv,
                        std::span<const uint8_t> aad, std::span<const uint8_t> ciphertext,
                        std::span<const uint8_t> tag, std::span<uint8_t> plaintext_out) {
  return OpenImpl(key, iv, aad, ciphertext, tag, plaintext_out);
}

}  // namespace internal
}  // namespace sealpool::crypto
