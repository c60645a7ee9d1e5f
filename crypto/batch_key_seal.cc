// Sealed batch keys over OpenSSL 3 EVP: X25519 (EVP_PKEY derive), HKDF-SHA-256 (EVP_KDF, the
// same function as image digests) and RFC 5649 (EVP AES-256-WRAP-PAD, the DEK wrap).
#include "crypto/batch_key_seal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "crypto/batch_key_seal_internal.h"
#include "crypto/image_digest_internal.h"
#include "crypto/key_wrap_internal.h"
#include "crypto/openssl_util_internal.h"
#include "crypto/random.h"
#include "crypto/secure_memory.h"

namespace sealpool::crypto {
namespace {

using internal::OpenSslError;
using internal::PkeyCtxPtr;
using internal::PkeyPtr;

absl::StatusOr<PkeyPtr> PrivateKeyFromBytes(std::span<const uint8_t> scalar) {
  if (scalar.size() != kX25519KeySize) {
    return absl::InvalidArgumentError(absl::StrCat("X25519: a private key is ", kX25519KeySize,
                                                   " bytes, got ", scalar.size(),
                                                   scalar.empty() ? " (moved-from key?)" : ""));
  }
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, scalar.data(),
                                            scalar.size()));
  if (pkey == nullptr) return OpenSslError("X25519 private key");
  return pkey;
}

absl::StatusOr<KekPublicKey> PublicOf(EVP_PKEY* pkey) {
  KekPublicKey out;
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(pkey, out.data(), &len) != 1 || len != out.size()) {
    return OpenSslError("X25519 public key");
  }
  return out;
}

// Z = X25519(private, peer) into `out`. FailedPrecondition when Z is all zero (OpenSSL's X25519
// refuses that itself; the explicit check below stays in case a provider does not).
absl::Status Derive(EVP_PKEY* own, std::span<const uint8_t> peer, std::span<uint8_t> out) {
  if (peer.size() != kX25519KeySize || out.size() != kX25519KeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("X25519: keys and the shared secret are ", kX25519KeySize, " bytes"));
  }
  PkeyPtr peer_key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.data(), peer.size()));
  if (peer_key == nullptr) return OpenSslError("X25519 peer key");
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new(own, nullptr));
  if (ctx == nullptr) return OpenSslError("EVP_PKEY_CTX_new");
  if (EVP_PKEY_derive_init(ctx.get()) != 1) return OpenSslError("X25519 derive setup");
  // No validation of the peer here: X25519 accepts every 32-byte string (RFC 7748 §5).
  if (EVP_PKEY_derive_set_peer_ex(ctx.get(), peer_key.get(), 0) != 1) {
    return OpenSslError("X25519 peer");
  }
  size_t len = out.size();
  if (EVP_PKEY_derive(ctx.get(), out.data(), &len) != 1) {
    // X25519 itself cannot fail; OpenSSL fails the derivation exactly when the result is all
    // zero (a low-order peer point).
    internal::ClearOpenSslErrors();
    Wipe(out);
    return absl::FailedPreconditionError("X25519: all-zero shared secret (low-order point)");
  }
  static constexpr uint8_t kZero[kX25519KeySize] = {};
  if (len != out.size() || CRYPTO_memcmp(out.data(), kZero, out.size()) == 0) {
    Wipe(out);
    return absl::FailedPreconditionError("X25519: all-zero shared secret (low-order point)");
  }
  return absl::OkStatus();
}

void PutBe(std::vector<uint8_t>& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// W = HKDF-SHA-256(salt = E || K, IKM = Z, info = BatchBindingInfo(binding), L = 32).
absl::StatusOr<SecretBytes> WrappingKey(std::span<const uint8_t> z,
                                        std::span<const uint8_t> ephemeral_public,
                                        std::span<const uint8_t> kek_public,
                                        const BatchBinding& binding) {
  absl::StatusOr<std::vector<uint8_t>> info = internal::BatchBindingInfo(binding);
  if (!info.ok()) return info.status();
  std::array<uint8_t, 2 * kX25519KeySize> salt;
  std::copy(ephemeral_public.begin(), ephemeral_public.end(), salt.begin());
  std::copy(kek_public.begin(), kek_public.end(), salt.begin() + kX25519KeySize);
  absl::StatusOr<SecretBytes> w = SecretBytes::Allocate(32);
  if (!w.ok()) return w.status();
  if (absl::Status s = internal::HkdfSha256(z, salt, *info, w->mutable_span()); !s.ok()) return s;
  return w;
}

}  // namespace

namespace internal {

absl::Status X25519(std::span<const uint8_t> scalar, std::span<const uint8_t> u,
                    std::span<uint8_t> out) {
  absl::StatusOr<PkeyPtr> own = PrivateKeyFromBytes(scalar);
  if (!own.ok()) {
    Wipe(out);
    return own.status();
  }
  return Derive(own->get(), u, out);
}

absl::StatusOr<std::vector<uint8_t>> BatchBindingInfo(const BatchBinding& binding) {
  if (binding.pool_id.size() > kMaxBindingPoolIdSize) {
    return absl::InvalidArgumentError(absl::StrCat("sealed batch key: pool id of ",
                                                   binding.pool_id.size(),
                                                   " bytes is longer than ",
                                                   kMaxBindingPoolIdSize));
  }
  std::vector<uint8_t> info;
  info.reserve(kBatchKeyLabel.size() + 1 + 2 + binding.pool_id.size() + 4 + 4 + 8);
  for (char c : kBatchKeyLabel) info.push_back(static_cast<uint8_t>(c));
  info.push_back(0);
  PutBe(info, binding.pool_id.size(), 2);
  for (char c : binding.pool_id) info.push_back(static_cast<uint8_t>(c));
  PutBe(info, binding.group_no, 4);
  PutBe(info, binding.kek_id, 4);
  PutBe(info, binding.batch_id, 8);
  return info;
}

absl::StatusOr<SealedBatchKey> SealBatchKeyWithEphemeral(std::span<const uint8_t> ephemeral_private,
                                                        const KekPublicKey& kek_public,
                                                        const BatchKey& batch_key,
                                                        const BatchBinding& binding) {
  if (batch_key.RevealSecret().size() != BatchKey::kSize) {
    return absl::InvalidArgumentError("SealBatchKey: the batch key is empty (moved-from key?)");
  }
  absl::StatusOr<PkeyPtr> ephemeral = PrivateKeyFromBytes(ephemeral_private);
  if (!ephemeral.ok()) return ephemeral.status();
  absl::StatusOr<KekPublicKey> ephemeral_public = PublicOf(ephemeral->get());
  if (!ephemeral_public.ok()) return ephemeral_public.status();
  absl::StatusOr<SecretBytes> z = SecretBytes::Allocate(kX25519KeySize);
  if (!z.ok()) return z.status();
  if (absl::Status s = Derive(ephemeral->get(), kek_public, z->mutable_span()); !s.ok()) {
    if (s.code() == absl::StatusCode::kFailedPrecondition) {
      return absl::InvalidArgumentError(
          "SealBatchKey: the KEK public key is a low-order point (all-zero shared secret)");
    }
    return s;
  }
  ephemeral->reset();  // the ephemeral private key is not needed any more
  absl::StatusOr<SecretBytes> w = WrappingKey(z->span(), *ephemeral_public, kek_public, binding);
  if (!w.ok()) return w.status();
  absl::StatusOr<std::vector<uint8_t>> wrapped = WrapPadRaw(w->span(), batch_key.RevealSecret());
  if (!wrapped.ok()) return wrapped.status();
  if (wrapped->size() != kWrappedDekSize) {
    return absl::InternalError(absl::StrCat("SealBatchKey: wrap gave ", wrapped->size(), " bytes"));
  }
  SealedBatchKey out;
  out[0] = kSealedBatchKeyVersion;
  for (size_t i = 0; i < kX25519KeySize; ++i) out[1 + i] = (*ephemeral_public)[i];
  for (size_t i = 0; i < kWrappedDekSize; ++i) out[1 + kX25519KeySize + i] = (*wrapped)[i];
  return out;
}

}  // namespace internal

absl::StatusOr<KekPair> GenerateKekPair() {
  absl::StatusOr<KekPrivateKey> private_key = KekPrivateKey::Generate();
  if (!private_key.ok()) return private_key.status();
  absl::StatusOr<KekPublicKey> public_key = DeriveKekPublicKey(*private_key);
  if (!public_key.ok()) return public_key.status();
  return KekPair{*std::move(private_key), *public_key};
}

absl::StatusOr<KekPublicKey> DeriveKekPublicKey(const KekPrivateKey& private_key) {
  absl::StatusOr<PkeyPtr> pkey = PrivateKeyFromBytes(private_key.RevealSecret());
  if (!pkey.ok()) return pkey.status();
  return PublicOf(pkey->get());
}

absl::StatusOr<KekPublicKey> KekPublicKeyFromBytes(std::span<const uint8_t> bytes) {
  if (bytes.size() != kX25519KeySize) {
    return absl::InvalidArgumentError(absl::StrCat("a KEK public key is ", kX25519KeySize,
                                                   " bytes, got ", bytes.size()));
  }
  KekPublicKey out;
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

absl::StatusOr<std::string> KekPublicKeySha256Hex(const KekPublicKey& public_key) {
  std::array<uint8_t, 32> digest{};
  unsigned int len = 0;
  if (EVP_Digest(public_key.data(), public_key.size(), digest.data(), &len, EVP_sha256(),
                 nullptr) != 1 ||
      len != digest.size()) {
    return OpenSslError("SHA-256 of a KEK public key");
  }
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (uint8_t b : digest) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

absl::StatusOr<SealedBatchKey> SealBatchKey(const KekPublicKey& kek_public,
                                            const BatchKey& batch_key,
                                            const BatchBinding& binding) {
  absl::StatusOr<SecretBytes> ephemeral = SecretBytes::Allocate(kX25519KeySize);
  if (!ephemeral.ok()) return ephemeral.status();
  if (absl::Status s = PrivateRandomBytes(ephemeral->mutable_span()); !s.ok()) return s;
  return internal::SealBatchKeyWithEphemeral(ephemeral->span(), kek_public, batch_key, binding);
}

absl::StatusOr<BatchKey> OpenBatchKey(const KekPrivateKey& kek_private,
                                      std::span<const uint8_t> sealed,
                                      const BatchBinding& binding) {
  if (sealed.size() != kSealedBatchKeySize) {
    return absl::InvalidArgumentError(absl::StrCat("OpenBatchKey: a sealed batch key is ",
                                                   kSealedBatchKeySize, " bytes, got ",
                                                   sealed.size()));
  }
  if (sealed[0] != kSealedBatchKeyVersion) {
    return absl::DataLossError(absl::StrCat("OpenBatchKey: unknown sealed batch key version ",
                                            sealed[0], " (this build reads version ",
                                            kSealedBatchKeyVersion, ")"));
  }
  const std::span<const uint8_t> ephemeral_public = sealed.subspan(1, kX25519KeySize);
  const std::span<const uint8_t> wrapped = sealed.subspan(1 + kX25519KeySize);
  absl::StatusOr<PkeyPtr> own = PrivateKeyFromBytes(kek_private.RevealSecret());
  if (!own.ok()) return own.status();
  absl::StatusOr<KekPublicKey> kek_public = PublicOf(own->get());
  if (!kek_public.ok()) return kek_public.status();
  absl::StatusOr<SecretBytes> z = SecretBytes::Allocate(kX25519KeySize);
  if (!z.ok()) return z.status();
  if (absl::Status s = Derive(own->get(), ephemeral_public, z->mutable_span()); !s.ok()) {
    if (s.code() == absl::StatusCode::kFailedPrecondition) {
      return absl::DataLossError(
          "OpenBatchKey: the sealed key's ephemeral public key is a low-order point (all-zero "
          "shared secret): corrupt or forged");
    }
    return s;
  }
  own->reset();
  absl::StatusOr<SecretBytes> w = WrappingKey(z->span(), ephemeral_public, *kek_public, binding);
  if (!w.ok()) return w.status();
  absl::StatusOr<SecretBytes> buffer = SecretBytes::Allocate(kWrappedDekSize);
  if (!buffer.ok()) return buffer.status();
  absl::StatusOr<size_t> n = internal::UnwrapPadRaw(w->span(), wrapped, buffer->mutable_span());
  if (!n.ok()) {
    if (n.status().code() == absl::StatusCode::kDataLoss) {
      return absl::DataLossError(
          "OpenBatchKey: the sealed batch key does not open (corrupt, tampered with, bound to "
          "another pool, group, KEK or batch, or sealed to another KEK pair)");
    }
    return n.status();
  }
  if (*n != BatchKey::kSize) {
    return absl::DataLossError(absl::StrCat("OpenBatchKey: the sealed key is ", *n,
                                            " bytes long, a batch key is ", BatchKey::kSize));
  }
  return BatchKey::FromBytes(buffer->span().first(BatchKey::kSize));
}

}  // namespace sealpool::crypto
