// The segment store's root-key interface (storage/keydict/root_key_provider.h) over the key-service
// client (kms/client.h): what sealpoold hands to storage::Pool so that the pool's KEKs and
// fingerprint keys are wrapped by sealkmsd, whose root keys the pool never sees. It lives in
// daemon/ because storage/ and kms/ do not depend on each other.
//
//   auto client = kms::KmsClient::Create(options);          // mTLS identity of this pool
//   KmsRootKeyProvider keys(client->get());
//   auto pool = storage::Pool::Open(dir, &keys, pool_options);
//
// Statuses pass through as the client returns them, which are the ones the interface names:
// FailedPrecondition (no active root key; a root key that may not unwrap), NotFound (unknown
// root key), DataLoss (damaged blob, or one bound to another pool, group or key id),
// Unavailable / DeadlineExceeded (sealkmsd unreachable after the client's retries),
// InvalidArgument; and PermissionDenied for a key group this pool is not allowed.
//
// Thread-safe (KmsClient is). The client caches unwrapped secrets in locked memory, so reads
// and ingest go on with sealkmsd down once the keys they need were unwrapped.
#ifndef SEALPOOL_DAEMON_SEALPOOLD_KMS_ROOT_KEY_PROVIDER_H_
#define SEALPOOL_DAEMON_SEALPOOLD_KMS_ROOT_KEY_PROVIDER_H_

#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/secure_memory.h"
#include "kms/client.h"
#include "storage/keydict/key_dictionary.h"
#include "storage/keydict/root_key_provider.h"
#include "storage/pool/purge.h"

namespace sealpool::daemon {

// A group's wrapped keys as sealkmsd's usage entries, with each KEK pair's public key hash for
// sealkmsd to pin and check (issue 17, docs/kms.md "Public-key pins"). Every registration and
// reconcile sealpoold sends goes through this.
std::vector<kms::KekUsageEntry> KekUsageOf(std::span<const storage::WrappedKeyRef> refs);

class KmsRootKeyProvider final : public storage::RootKeyProvider,
                                 public storage::PurgeKeyService {
 public:
  // Borrows `client`, which must outlive this provider.
  explicit KmsRootKeyProvider(kms::KmsClient* client) : client_(client) {}

  // Told of every call's outcome and duration (for metrics); set before first use.
  // `op`: "wrap", "unwrap", "unwrap-for-rewrap" or "active-root-key".
  using CallObserver =
      std::function<void(std::string_view op, absl::StatusCode code, absl::Duration elapsed)>;
  void set_observer(CallObserver observer) { observer_ = std::move(observer); }

  absl::StatusOr<storage::WrappedKey> Wrap(std::string_view key_group, std::string_view key_id,
                                           std::span<const uint8_t> secret) override;
  absl::StatusOr<crypto::SecretBytes> Unwrap(std::string_view key_group, std::string_view key_id,
                                             const storage::WrappedKey& wrapped) override;
  absl::StatusOr<crypto::SecretBytes> UnwrapForRewrap(std::string_view key_group,
                                                      std::string_view key_id,
                                                      const storage::WrappedKey& wrapped) override;
  absl::StatusOr<std::string> ActiveRootKeyId(std::string_view key_group) override;

  // storage::PurgeKeyService, over the client's purge calls; ReplaceRegistrations is a
  // ReconcileUsage, ForgetCached drops the client's cache of the group.
  absl::StatusOr<storage::PurgeKeyCheck> CheckPurge(std::string_view key_group) override;
  absl::StatusOr<std::string> ActivateNewRootKey(std::string_view key_group,
                                                 std::string_view replaces) override;
  absl::Status ReplaceRegistrations(std::string_view key_group,
                                    std::span<const storage::WrappedKeyRef> keys) override;
  absl::StatusOr<std::vector<std::string>> DestroyRootKeysExcept(std::string_view key_group,
                                                                 std::string_view keep) override;
  void ForgetCached(std::string_view key_group) override;

 private:
  template <typename T>
  T Observed(std::string_view op, absl::Time start, T result) const {
    if (observer_) {
      absl::Status s = [&] {
        if constexpr (std::is_same_v<T, absl::Status>) {
          return result;
        } else {
          return result.status();
        }
      }();
      observer_(op, s.code(), absl::Now() - start);
    }
    return result;
  }

  kms::KmsClient* const client_;
  CallObserver observer_;
};

}  // namespace sealpool::daemon

#endif  // SEALPOOL_DAEMON_SEALPOOLD_KMS_ROOT_KEY_PROVIDER_H_
