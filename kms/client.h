// The key-service client sealpoold uses to wrap and unwrap its KEKs and fingerprint keys with
// sealkmsd's root keys, over gRPC with mTLS. It is the implementation the daemon hands to
// storage's root-key interface.
//
// Never blocks forever: every call waits for the channel to (re)connect and retries
// UNAVAILABLE answers with exponential backoff and jitter, all within its deadline
// (`call_deadline`, default 10 s); then it fails with DEADLINE_EXCEEDED or UNAVAILABLE and a
// message naming the operation, sealkmsd's address and the connection state.
// Other statuses (PERMISSION_DENIED, FAILED_PRECONDITION, DATA_LOSS, ...) come from sealkmsd
// and are returned at once, unchanged.
//
// Unwrapped secrets are cached in locked memory (KeyCache), so a pool keeps reading and
// writing with the KEKs it already has while sealkmsd is down. Wrap also caches the secret it
// wrapped.
//
// Thread-safe. The channel reconnects by itself after sealkmsd restarts.
#ifndef SEALPOOL_KMS_CLIENT_H_
#define SEALPOOL_KMS_CLIENT_H_

#include <grpcpp/channel.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "crypto/secure_memory.h"
#include "kms/key_backend.h"
#include "kms/key_cache.h"
#include "sealpool/kms/v1/key_service.grpc.pb.h"

namespace sealpool::kms {

struct KmsClientOptions {
  std::string target;       // sealkmsd's "host:port"
  std::string server_name;  // name to check the server certificate against; empty: the host
  std::string ca_pem;       // the CA sealkmsd's certificate chains to
  std::string cert_pem;     // this storage server's client certificate (OU=storage-server)
  std::string key_pem;
  std::string pool_id;  // must equal the pool id sealkmsd maps this certificate to
  absl::Duration call_deadline = absl::Seconds(10);
  absl::Duration initial_backoff = absl::Milliseconds(50);
  absl::Duration max_backoff = absl::Seconds(2);
  // After failing this long without a success, the state turns from degraded to unreachable.
  absl::Duration unreachable_after = absl::Seconds(30);
  size_t cache_capacity = 4096;
};

enum class KmsReachability { kReachable, kDegraded, kUnreachable };
std::string_view KmsReachabilityName(KmsReachability r);

// What `crcontrol --getmode` shows about the KMS.
struct KmsClientState {
  KmsReachability reachability;
  absl::Time since;        // when the client entered this state
  std::string last_error;  // the last transport failure, empty if none yet
  size_t cached_keys;
};

struct WrappedSecret {
  std::string root_key_id;
  std::vector<uint8_t> blob;  // versioned, authenticated (wrapped_key_format.h)
};

struct ActiveRootKey {
  std::string root_key_id;  // empty: the group has no active key and wraps nothing
};

class KmsClient {
 public:
  // InvalidArgument for missing TLS material, a bad pool id or bad durations. Does not
  // connect: the first call does.
  static absl::StatusOr<std::unique_ptr<KmsClient>> Create(const KmsClientOptions& options);

  // Wraps `secret` (16..64 bytes) under the group's active root key, bound to
  // (pool id, key_group, kek_id). sealkmsd registers the KEK as wrapped under that key.
  absl::StatusOr<WrappedSecret> Wrap(std::string_view key_group, std::string_view kek_id,
                                     std::span<const uint8_t> secret);
  // The secret in `blob`, from the cache or sealkmsd.
  absl::StatusOr<crypto::SecretBytes> Unwrap(std::string_view key_group, std::string_view kek_id,
                                             std::span<const uint8_t> blob);
  // Unwraps for re-wrapping: allowed also under a compromised root key. Not cached.
  absl::StatusOr<crypto::SecretBytes> UnwrapForRewrap(std::string_view key_group,
                                                      std::string_view kek_id,
                                                      std::span<const uint8_t> blob);
  absl::StatusOr<ActiveRootKey> GetActiveRootKey(std::string_view key_group);
  absl::Status RegisterUsage(std::string_view key_group, std::span<const KekUsageEntry> usages);
  // Sends the full list of KEKs the pool holds in `key_group`; sealkmsd replaces its registry
  // with it and tells which need re-wrapping.
  absl::StatusOr<ReconcileResult> Reconcile(std::string_view key_group,
                                            std::span<const KekUsageEntry> usages);
  // The purge calls (key_service.proto "CheckPurge" ...), for storage's PurgeKeyService.
  struct PurgeCheck {
    std::vector<std::string> other_pools;
    std::string store_key_id;
  };
  absl::StatusOr<PurgeCheck> CheckPurge(std::string_view key_group);
  absl::StatusOr<std::string> ActivateNewRootKey(std::string_view key_group,
                                                 std::string_view replaces);
  absl::StatusOr<std::vector<std::string>> DestroyRootKeys(std::string_view key_group,
                                                           std::string_view keep);
  // Drops the cached secrets of `key_group`.
  void ForgetGroup(std::string_view key_group) { cache_.ForgetGroup(key_group); }

  KmsClientState State() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  explicit KmsClient(const KmsClientOptions& options);

  // Runs `attempt` (one RPC with the given context) until it succeeds, fails with a status
  // other than UNAVAILABLE, or the call deadline passes.
  absl::Status Call(std::string_view what,
                    const std::function<grpc::Status(grpc::ClientContext*)>& attempt);
  absl::StatusOr<crypto::SecretBytes> DoUnwrap(std::string_view key_group, std::string_view kek_id,
                                               std::span<const uint8_t> blob, bool for_rewrap);
  void RecordSuccess() ABSL_LOCKS_EXCLUDED(mu_);
  void RecordFailure(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);

  // Constant after construction.
  const KmsClientOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::KeyService::Stub> stub_;

  KeyCache cache_;

  mutable absl::Mutex mu_;
  KmsReachability reachability_ ABSL_GUARDED_BY(mu_) = KmsReachability::kUnreachable;
  absl::Time since_ ABSL_GUARDED_BY(mu_);
  absl::Time failing_since_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string last_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_CLIENT_H_
