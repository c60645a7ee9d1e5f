// The interface through which the segment store reaches root keys: it wraps and unwraps the
// key groups' KEKs and fingerprint keys, never DEKs, and never sees a root key. The daemon
// adapts the key-service client (kms::KmsClient) to it; tests and benchmarks use
// InProcessRootKeyProvider (storage/keydict/in_process_root_key_provider.h). storage/ does not depend
// on kms/.
//
// Names: `key_group` is the KMS key group (the pool key group's name); `key_id` names the
// wrapped secret inside (pool, group): "fpk" for the fingerprint key, "kek-<n>" for KEK n
// (KeyDictionary chooses them). A wrap is bound to (pool id, key_group, key_id): a blob moved to
// another pool, group or key id does not unwrap (DataLoss).
//
// Errors every implementation returns:
//   FailedPrecondition  Wrap: the group has no active root key. Unwrap: the root key may not
//                       unwrap (compromised, deprecated, terminated, prelive).
//   NotFound            the blob's root key is not known (or was destroyed).
//   DataLoss            the blob is damaged, or bound to another pool, group or key id.
//   Unavailable / DeadlineExceeded  the key service cannot be reached (after its own retries).
//   InvalidArgument     a secret of the wrong size, a bad name.
//
// Thread safety: implementations are thread-safe.
#ifndef SEALPOOL_STORAGE_KEYDICT_ROOT_KEY_PROVIDER_H_
#define SEALPOOL_STORAGE_KEYDICT_ROOT_KEY_PROVIDER_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/secure_memory.h"

namespace sealpool::storage {

// A secret wrapped by the key service. Not secret itself: it is stored in the catalog.
struct WrappedKey {
  std::string root_key_id;    // the root key that wraps it
  std::vector<uint8_t> blob;  // opaque, versioned and authenticated by the key service

  friend bool operator==(const WrappedKey&, const WrappedKey&) = default;
};

class RootKeyProvider {  // implementations are thread-safe
 public:
  virtual ~RootKeyProvider() = default;

  // Wraps a 32-byte KEK or fingerprint key under `key_group`'s active root key, bound to
  // (pool, key_group, key_id). FailedPrecondition if the group has no active root key;
  // Unavailable/DeadlineExceeded if the KMS is down.
  virtual absl::StatusOr<WrappedKey> Wrap(std::string_view key_group, std::string_view key_id,
                                          std::span<const uint8_t> secret) = 0;
  // The secret in `wrapped`. FailedPrecondition if its root key may not unwrap (e.g.
  // compromised).
  virtual absl::StatusOr<crypto::SecretBytes> Unwrap(std::string_view key_group,
                                                     std::string_view key_id,
                                                     const WrappedKey& wrapped) = 0;
  // Like Unwrap, and also allowed under a compromised root key: only to re-wrap the secret
  // under the active one at once. Callers must not keep the secret for other uses.
  virtual absl::StatusOr<crypto::SecretBytes> UnwrapForRewrap(std::string_view key_group,
                                                              std::string_view key_id,
                                                              const WrappedKey& wrapped) = 0;
  // The id of the group's active root key; empty string: the group has no active root key.
  virtual absl::StatusOr<std::string> ActiveRootKeyId(std::string_view key_group) = 0;
};

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_KEYDICT_ROOT_KEY_PROVIDER_H_
