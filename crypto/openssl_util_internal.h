// OpenSSL plumbing shared by the crypto layer: owning pointers for EVP objects and the one
// conversion of OpenSSL's error queue into an absl::Status. Internal to crypto/.
//
// Thread safety: every function here may be called from any thread; OpenSSL's error queue
// is per thread.
#ifndef SEALPOOL_CRYPTO_OPENSSL_UTIL_INTERNAL_H_
#define SEALPOOL_CRYPTO_OPENSSL_UTIL_INTERNAL_H_

#include <openssl/evp.h>
#include <openssl/kdf.h>

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace sealpool::crypto::internal {

struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};
struct KdfCtxDeleter {
  void operator()(EVP_KDF_CTX* ctx) const { EVP_KDF_CTX_free(ctx); }
};

struct PkeyDeleter {
  void operator()(EVP_PKEY* pkey) const { EVP_PKEY_free(pkey); }
};
struct PkeyCtxDeleter {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};

// EVP_*_free cleanses the key schedules and MAC states these contexts hold.
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter>;
using KdfCtxPtr = std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;  // frees (and cleanses) a private key
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxDeleter>;

// Returns Internal("<what> failed: <OpenSSL's queued errors>") and empties this thread's error
// queue. The message carries OpenSSL's library and reason strings only, never key bytes.
[[nodiscard]] absl::Status OpenSslError(absl::string_view what);

// Empties this thread's OpenSSL error queue (after a failure that is reported with another
// code, such as an authentication failure, so stale entries never reach a later message).
void ClearOpenSslErrors();

}  // namespace sealpool::crypto::internal

#endif  // SEALPOOL_CRYPTO_OPENSSL_UTIL_INTERNAL_H_
