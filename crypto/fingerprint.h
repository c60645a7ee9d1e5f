// Keyed segment fingerprints: HMAC-SHA-256(fingerprint key, segment bytes). Keying the hash
// means equal segments are found only within a key group, and a fingerprint says nothing
// about content to anyone without the key (no confirmation-of-file attack across groups).
//
//   SEALPOOL_ASSIGN_OR_RETURN(Fingerprinter fingerprinter, Fingerprinter::Create(key));
//   SEALPOOL_ASSIGN_OR_RETURN(Fingerprint fp, fingerprinter.Compute(segment));
//
// A Fingerprinter keeps a pre-keyed HMAC context (the key's inner and outer hash states) and
// copies it per call, so the key schedule is paid once. It does not refer to the
// FingerprintKey after Create; the key may be destroyed.
//
// Errors: Create: Internal if OpenSSL fails. Compute: FailedPrecondition on a moved-from
// Fingerprinter, Internal if OpenSSL fails.
//
// Thread safety: Compute is const and may run on many threads at once on one Fingerprinter.
// Move-only; moving or destroying it must not race with Compute.
#ifndef SEALPOOL_CRYPTO_FINGERPRINT_H_
#define SEALPOOL_CRYPTO_FINGERPRINT_H_

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include "absl/status/statusor.h"
#include "crypto/keys.h"
#include "crypto/types.h"

namespace sealpool::crypto {

class Fingerprinter;

namespace internal {
// A Fingerprinter keyed with arbitrary key bytes (HMAC-SHA-256 known-answer tests only);
// declared for tests in crypto/fingerprint_internal.h.
absl::StatusOr<Fingerprinter> FingerprinterFromKeyBytes(std::span<const uint8_t> key);
}  // namespace internal

class Fingerprinter {
 public:
  [[nodiscard]] static absl::StatusOr<Fingerprinter> Create(const FingerprintKey& key);
  // The same HMAC-SHA-256 under a client's digest key (client-side dedup): its outputs are
  // client digests, never fingerprints the pool stores as such (crypto/client_digest_key.h).
  [[nodiscard]] static absl::StatusOr<Fingerprinter> Create(const ClientDigestKey& key);

  Fingerprinter(Fingerprinter&&) noexcept = default;
  Fingerprinter& operator=(Fingerprinter&&) noexcept = default;
  Fingerprinter(const Fingerprinter&) = delete;
  Fingerprinter& operator=(const Fingerprinter&) = delete;
  ~Fingerprinter() = default;  // frees (and OpenSSL cleanses) the keyed state

  // HMAC-SHA-256 of `data` under the key. `data` may be empty.
  [[nodiscard]] absl::StatusOr<Fingerprint> Compute(std::span<const uint8_t> data) const;

 private:
  friend absl::StatusOr<Fingerprinter> internal::FingerprinterFromKeyBytes(
      std::span<const uint8_t> key);

  struct MacCtxFree {
    void operator()(EVP_MAC_CTX* ctx) const;
  };
  using KeyedCtx = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;

  explicit Fingerprinter(KeyedCtx keyed) : keyed_(std::move(keyed)) {}

  // Constant after construction: keyed HMAC-SHA-256 state, only ever read (duplicated).
  KeyedCtx keyed_;
};

static_assert(MacKeyTag<FingerprintKeyTag>);

}  // namespace sealpool::crypto

#endif  // SEALPOOL_CRYPTO_FINGERPRINT_H_
