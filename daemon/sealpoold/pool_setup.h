// Bringing a pool up to its config at start, and keeping sealkmsd's usage registry true.
//
// ApplyConfig creates the key groups and LSUs the config declares and the pool lacks, and sets
// existing LSUs' options (client_delete, max_retention) to the config's (a key
// group's creation needs the KMS: with sealkmsd down it is deferred, its LSUs with it, and
// retried by the reconciler) and refuses a config that contradicts the pool: an LSU that
// belongs to another key group, a key group on another KMS backend. Such a contradiction is
// never applied silently: FailedPrecondition names both sides and what to do.
//
// The Reconciler runs in the background (a KMS outage never holds the start): it finishes
// deferred creations and sends each key group's wrapped-key list (Pool::ListWrappedKeys) to
// sealkmsd (Reconcile) at start and again whenever sealkmsd comes back after an outage. For
// kek_mode "public" groups the list carries each pair's public key hash, which sealkmsd pins at
// first sight and checks ever after; the reconciler then re-checks each pair through the KMS
// (VerifyKekPair) and records the group as confirmed (PoolRuntime::kek_pairs). A pin mismatch
// or a pair that does not match is logged as an error and stops ingest into the group.
#ifndef SEALPOOL_DAEMON_SEALPOOLD_POOL_SETUP_H_
#define SEALPOOL_DAEMON_SEALPOOLD_POOL_SETUP_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <vector>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "absl/time/time.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "daemon/sealpoold/pool_config.h"
#include "daemon/sealpoold/pool_runtime.h"
#include "kms/client.h"
#include "storage/pool/pool.h"

namespace sealpool::daemon {

// What ApplyConfig left for later (key groups whose creation needs the KMS, and their LSUs).
struct PendingSetup {
  std::set<std::string> key_groups;
  std::set<std::string> lsus;
  bool empty() const { return key_groups.empty() && lsus.empty(); }
};

// Opens the pool in config.pool_dir, or creates it there when the folder is absent or empty.
// `host_key` (may be null): the host credential of kek_mode "public" groups (host_key.h).
// `s3_takeover` (sealpoold --takeover): S3 groups' stores take over their folders' leases
// (docs/s3.md "Fencing"; disaster recovery only).
absl::StatusOr<std::unique_ptr<storage::Pool>> OpenOrCreatePool(
    const PoolConfig& config, storage::RootKeyProvider* root_keys,
    std::shared_ptr<const crypto::HostKey> host_key = nullptr, bool s3_takeover = false);

// An LSU's options as the config sets them.
storage::LsuOptions LsuOptionsOf(const LsuConfig& lsu);

// The storage options the config sets (group_container_store: OpenS3GroupStore, taking over
// the folders' leases with `s3_takeover`; the host key for kek_mode "public" groups'
// fingerprint keys).
storage::PoolOptions PoolOptionsFromConfig(const PoolConfig& config,
                                           std::shared_ptr<const crypto::HostKey> host_key =
                                               nullptr,
                                           bool s3_takeover = false);

// Where the config puts a key group's containers (empty target: local files).
storage::ContainerTarget ContainerTargetOf(const KeyGroupConfig& group);

// The store of a key group with an S3 target: FailedPrecondition naming the group when the
// config does not give the target the catalog recorded (endpoint, bucket, prefix); the secret
// key from secret_key_file or $CREDENTIALS_DIRECTORY/<secret_key_credential>, refused
// (PermissionDenied naming the file) unless only its owner may access it.
absl::StatusOr<std::unique_ptr<storage::ContainerStore>> OpenS3GroupStore(
    const PoolConfig& config, const storage::GroupStoreRequest& request, bool s3_takeover = false);

// sealpoold --recover-from-bucket (docs/server.md "Disaster recovery from the bucket"): finds the
// configured S3 key group whose folder holds pool `pool_id`'s catalog backups (exactly one must:
// NotFound for none, FailedPrecondition naming them for several), and runs
// Pool::RecoverFromBucket into config.pool_dir (AlreadyExists if it holds anything). The leases
// taken (with `s3_takeover`: taken over) are released when it returns, so that sealpoold then
// starts without a takeover. `summary` gets one line for the operator.
absl::StatusOr<storage::BucketRecoveryReport> RecoverPoolFromBucket(const PoolConfig& config,
                                                                   const storage::Id128& pool_id,
                                                                   bool s3_takeover,
                                                                   std::string* summary);



// Issue 17: a [[key_group]]'s kek_mode as the pool's; FailedPrecondition when the config names
// another kek_mode than an existing group was created with (nothing is changed).
storage::KekMode KekModeOf(const KeyGroupConfig& group);
absl::Status CheckKekModes(const std::vector<storage::KeyGroupInfo>& groups,
                           const PoolConfig& config);
// Whether `status` is sealkmsd refusing a public key that differs from its pin.
bool IsPinMismatch(const absl::Status& status);

// FailedPrecondition for a contradiction (nothing changed: another LSU key group, KMS backend
// or kek_mode, or S3 target); otherwise creates what it can now
// and returns what must wait for the KMS.
absl::StatusOr<PendingSetup> ApplyConfig(storage::Pool& pool, const PoolConfig& config);

class Reconciler {
 public:
  Reconciler(PoolRuntime* runtime, PendingSetup pending);
  ~Reconciler();  // stops and joins
  // Runs one pass now (tests); returns whether everything is done.
  bool RunOnce();
  // Whether every key group has been reconciled since start.
  bool done() const { return done_.load(); }
  // Asks sealkmsd for the state of every root key the pool's keys are wrapped under (a
  // reconcile); for a group with a key compromised, deprecated, terminated or gone, drops every
  // unwrapped key of the group from the pool and the client cache. Run by the loop every
  // kRootKeyStatePoll (docs/kms.md "Root-key state changes reach running pools").
  void PollRootKeyStates();
  static constexpr absl::Duration kRootKeyStatePoll = absl::Seconds(60);

 private:
  void Loop();
  // Issue 17, after a successful reconcile (sealkmsd accepted the pins): VerifyKekPair of
  // every pair of a public group, then KekPairWatch::Confirmed. DataLoss (a pair that does not
  // match) stops the group's ingest; a KMS error is returned for a retry.
  absl::Status ConfirmKekPairs(const std::string& group);
  // Logs loudly (once) and stops ingest into the group.
  void PairCheckFailed(const std::string& group, const absl::Status& status);

  PoolRuntime* const runtime_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  PendingSetup pending_;
  std::set<std::string> unreconciled_;
  bool was_reachable_ = true;
  absl::Time next_state_poll_ = absl::InfinitePast();
  std::set<std::string> warned_;  // "group/root key" already logged
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace sealpool::daemon

#endif  // SEALPOOL_DAEMON_SEALPOOLD_POOL_SETUP_H_
