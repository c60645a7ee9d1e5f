#include "crypto/keys.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "crypto/random.h"

namespace sealpool::crypto::internal {

absl::StatusOr<SecretBytes> GenerateKeyBytes(size_t size) {
  absl::StatusOr<SecretBytes> secret = SecretBytes::Allocate(size);
  if (!secret.ok()) return secret.status();
  if (absl::Status s = PrivateRandomBytes(secret->mutable_span()); !s.ok()) return s;
  return secret;
}

absl::StatusOr<SecretBytes> CopyKeyBytes(std::span<const uint8_t> bytes, size_t size,
                                         const char* kind) {
  if (bytes.size() != size) {
    return absl::InvalidArgumentError(
        absl::StrCat("a ", kind, " is ", size, " bytes, got ", bytes.size(),
                     bytes.empty() ? " (empty or moved-from key)" : ""));
  }
  absl::StatusOr<SecretBytes> secret = SecretBytes::Allocate(size);
  if (!secret.ok()) return secret.status();
  std::copy(bytes.begin(), bytes.end(), secret->mutable_span().begin());
  return secret;
}

}  // namespace sealpool::crypto::internal
