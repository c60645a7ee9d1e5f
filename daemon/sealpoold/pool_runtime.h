// What sealpoold's services share: the pool, the key-service client, the audit log, the
// config, the pool mode, the free-space state, the reloadable access map (client CNs and
// the CRL) and the registry of running streams (admission, idle timeout, shutdown).
//
// Thread-safe. Owned by sealpoold's main; the services borrow it.
#ifndef SEALPOOL_DAEMON_SEALPOOLD_POOL_RUNTIME_H_
#define SEALPOOL_DAEMON_SEALPOOLD_POOL_RUNTIME_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "daemon/sealpoold/client_identity.h"
#include "daemon/sealpoold/kek_pair_watch.h"
#include "daemon/sealpoold/pool_audit.h"
#include "daemon/sealpoold/pool_config.h"
#include "kms/client.h"
#include "storage/pool/pool.h"

namespace grpc {
class ServerContextBase;
}  // namespace grpc

namespace sealpool::daemon {

class PoolMetrics;

// sealpoold's version, as --version and GetMode report it.
inline constexpr std::string_view kSealpooldVersion = "0.1.0";

enum class PoolMode { kReadWrite, kReadOnly, kMaintenance };
std::string_view PoolModeName(PoolMode mode);  // "read-write", "read-only", "maintenance"

// The parts of the config SIGHUP reloads: who may do what, and the revocation list.
struct AccessMap {
  std::map<std::string, ClientConfig, std::less<>> clients;  // by CN
  std::shared_ptr<const RevocationList> crl;                 // null: no CRL configured
};

enum class StreamKind { kBackup, kRestore };

// Running client streams: admission (at most max_streams), the idle timeout and shutdown both
// cancel through the stream's gRPC context.
class StreamRegistry {
 public:
  explicit StreamRegistry(uint32_t max_streams) : max_streams_(max_streams) {}

  class Slot {
   public:
    Slot(StreamRegistry* registry, uint64_t id) : registry_(registry), id_(id) {}
    Slot(Slot&& other) noexcept : registry_(other.registry_), id_(other.id_) {
      other.registry_ = nullptr;
    }
    Slot(const Slot&) = delete;
    ~Slot() {
      if (registry_ != nullptr) registry_->Release(id_);
    }
    // Marks activity (a message in or out): the idle timer restarts.
    void Touch() { registry_->Touch(id_); }

   private:
    StreamRegistry* registry_;
    uint64_t id_;
  };

  // RESOURCE_EXHAUSTED at the limit; UNAVAILABLE once Close() was called.
  absl::StatusOr<Slot> Acquire(StreamKind kind, grpc::ServerContextBase* context)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Cancels streams silent for longer than `idle`; returns how many.
  size_t CancelIdle(absl::Duration idle) ABSL_LOCKS_EXCLUDED(mu_);
  // No new stream from now on.
  void Close() ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until no stream runs or `deadline` passes; whether none runs.
  bool WaitIdle(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);
  // Cancels every running stream.
  void CancelAll() ABSL_LOCKS_EXCLUDED(mu_);
  size_t Count(StreamKind kind) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    StreamKind kind;
    grpc::ServerContextBase* context;
    absl::Time last_activity;
  };
  void Release(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  void Touch(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);

  const uint32_t max_streams_;
  mutable absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

class PoolRuntime {
 public:
  // Borrows everything; all must outlive the runtime. `kms` and `metrics` may be null in tests.
  PoolRuntime(PoolConfig config, storage::Pool* pool, kms::KmsClient* kms, PoolAuditLog* audit,
              PoolMetrics* metrics, std::shared_ptr<const AccessMap> access);

  const PoolConfig& config() const { return config_; }
  storage::Pool& pool() const { return *pool_; }
  kms::KmsClient* kms() const { return kms_; }
  PoolMetrics* metrics() const { return metrics_; }
  StreamRegistry& streams() { return streams_; }
  // Issue 17: the kek_mode "public" groups' pair checks (the constructor tracks every public
  // group of the pool; the reconciler tracks groups it creates later).
  KekPairWatch& kek_pairs() { return kek_pairs_; }
  const KekPairWatch& kek_pairs() const { return kek_pairs_; }

  // Records an audit line; a failure to write it is logged (the caller decides whether the
  // operation may stand: key operations refuse, see docs/server.md).
  absl::Status Audit(const PoolAuditEvent& event);

  std::shared_ptr<const AccessMap> access() const ABSL_LOCKS_EXCLUDED(mu_);
  void SetAccess(std::shared_ptr<const AccessMap> access) ABSL_LOCKS_EXCLUDED(mu_);

  PoolMode mode() const { return mode_.load(); }
  // Sets the mode and persists it in <pool>/sealpoold.mode (so it survives a restart).
  absl::Status SetMode(PoolMode mode);
  // Reads the persisted mode (read-write when none).
  static PoolMode LoadMode(const std::filesystem::path& pool_dir);

  // Free space of the pool's file system (statvfs), refreshed by RefreshSpace().
  void RefreshSpace();
  bool high_water() const { return high_water_.load(); }
  double used_fraction() const { return used_fraction_.load(); }
  uint64_t fs_total() const { return fs_total_.load(); }
  uint64_t fs_available() const { return fs_available_.load(); }

  // Work waiting for the KMS (a reconcile that failed, a rotation due): shown by GetMode.
  void SetDeferred(std::string key, std::string text) ABSL_LOCKS_EXCLUDED(mu_);
  void ClearDeferred(std::string_view key) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::string> Deferred() const ABSL_LOCKS_EXCLUDED(mu_);

  // Asks the reconciler to send `key_group`'s wrapped-key list to sealkmsd again (after a
  // re-wrap whose own reconcile failed); TakeReconcileRequests hands them over.
  void RequestReconcile(std::string key_group) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::string> TakeReconcileRequests() ABSL_LOCKS_EXCLUDED(mu_);

  // Whether a client may start a backup now; FAILED_PRECONDITION / UNAVAILABLE /
  // RESOURCE_EXHAUSTED naming the reason otherwise.
  absl::Status CheckIngestAllowed() const;
  absl::Status CheckRestoreAllowed() const;
  absl::Status CheckDeleteAllowed() const;

 private:
  const PoolConfig config_;
  storage::Pool* const pool_;
  kms::KmsClient* const kms_;
  PoolAuditLog* const audit_;
  PoolMetrics* const metrics_;
  StreamRegistry streams_;
  KekPairWatch kek_pairs_;
  std::atomic<PoolMode> mode_;
  std::atomic<bool> high_water_{false};
  std::atomic<double> used_fraction_{0.0};
  std::atomic<uint64_t> fs_total_{0};
  std::atomic<uint64_t> fs_available_{0};

  mutable absl::Mutex mu_;
  std::shared_ptr<const AccessMap> access_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string, std::less<>> deferred_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> reconcile_requests_ ABSL_GUARDED_BY(mu_);
};

// Builds the access map from the config, loading the CRL if one is configured.
absl::StatusOr<std::shared_ptr<const AccessMap>> BuildAccessMap(const PoolConfig& config,
                                                                std::string_view ca_pem);

}  // namespace sealpool::daemon

#endif  // SEALPOOL_DAEMON_SEALPOOLD_POOL_RUNTIME_H_
