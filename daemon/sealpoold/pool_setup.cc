#include "daemon/sealpoold/pool_setup.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <vector>

#include "base/private_file.h"
#include "absl/strings/match.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "daemon/sealpoold/kms_root_key_provider.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "spdlog/spdlog.h"
#include "storage/s3/s3_client.h"
#include "storage/s3/s3_container_store.h"

namespace sealpool::daemon {

using base::Annotate;
using base::Cat;

storage::ContainerTarget ContainerTargetOf(const KeyGroupConfig& group) {
  if (!group.s3.has_value()) return {};
  return {group.s3->endpoint, group.s3->bucket, group.s3->prefix};
}

absl::StatusOr<std::string> S3SecretKeyPath(const std::string& group, const S3TargetConfig& s3) {
  if (!s3.secret_key_file.empty()) return s3.secret_key_file.string();
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (dir == nullptr || *dir == '\0') {
    // InvalidArgument, not FailedPrecondition: ApplyConfig defers FailedPrecondition (a KMS
    // state) to the reconciler, and a missing credential is a setup error to stop on.
    return absl::InvalidArgumentError(
        Cat("key group ", group, ": secret_key_credential = \"", s3.secret_key_credential,
            "\" but $CREDENTIALS_DIRECTORY is not set (start sealpoold under systemd with "
            "LoadCredential=",
            s3.secret_key_credential, ":<file>, or use secret_key_file)"));
  }
  return Cat(dir, "/", s3.secret_key_credential);
}

absl::StatusOr<std::unique_ptr<storage::ContainerStore>> OpenS3GroupStore(
    const PoolConfig& config, const storage::GroupStoreRequest& request, bool s3_takeover) {
  const KeyGroupConfig* group = nullptr;
  for (const KeyGroupConfig& g : config.key_groups) {
    if (g.name == request.key_group) group = &g;
  }
  if (group == nullptr || !group->s3.has_value()) {
    return absl::FailedPreconditionError(Cat(
        "key group ", request.key_group, " keeps its containers in ", request.target.Describe(),
        " (the pool's catalog says so), but the config ",
        group == nullptr ? "does not declare the group" : "gives it no [key_group.s3] target",
        ": a key group's containers are all local or all in its bucket and never move; put its "
        "S3 target (endpoint, bucket, prefix as recorded) back in the config"));
  }
  const storage::ContainerTarget configured = ContainerTargetOf(*group);
  if (configured != request.target) {
    return absl::FailedPreconditionError(
        Cat("key group ", request.key_group, " keeps its containers in ",
            request.target.Describe(), " (the pool's catalog says so), but the config says ",
            configured.Describe(),
            ": a key group's containers never move; put the recorded endpoint, bucket and "
            "prefix back in the config"));
  }
  const S3TargetConfig& s3 = *group->s3;
  SEALPOOL_ASSIGN_OR_RETURN(std::string secret_path, S3SecretKeyPath(group->name, s3));
  const std::string what = Cat("S3 secret key file of key group ", group->name);
  SEALPOOL_RETURN_IF_ERROR(base::CheckPrivateFile(what, secret_path));
  absl::StatusOr<crypto::SecretBytes> secret = storage::s3::ReadSecretKeyFile(secret_path);
  if (!secret.ok()) return Annotate(secret.status(), what);
  storage::s3::S3Target target;
  target.endpoint = s3.endpoint;
  target.bucket = s3.bucket;
  target.region = s3.region;
  target.path_style = s3.path_style;
  target.ca_file = s3.ca_file.string();
  target.access_key_id = s3.access_key_id;
  SEALPOOL_ASSIGN_OR_RETURN(
      std::unique_ptr<storage::s3::S3Client> client,
      storage::s3::S3Client::Create(std::move(target), *std::move(secret), {}));
  storage::s3::S3ContainerStoreOptions options;
  options.containers.target_size = config.container_size;
  options.lease.takeover = s3_takeover;
  SEALPOOL_ASSIGN_OR_RETURN(
      std::unique_ptr<storage::s3::S3ContainerStore> store,
      storage::s3::S3ContainerStore::OpenWithSizes(std::move(client), s3.prefix, request.pool_id,
                                                   options, request.allocate_id,
                                                   request.container_sizes));
  spdlog::info("key group {}: containers in {} ({} known)", group->name,
               request.target.Describe(), request.container_sizes.size());
  return std::unique_ptr<storage::ContainerStore>(std::move(store));
}

storage::LsuOptions LsuOptionsOf(const LsuConfig& lsu) {
  storage::LsuOptions o;
  o.allow_client_delete = lsu.client_delete;
  o.max_retention = lsu.max_retention;
  return o;
}

storage::KekMode KekModeOf(const KeyGroupConfig& group) {
  return group.kek_mode == "public" ? storage::KekMode::kPublic : storage::KekMode::kSymmetric;
}

absl::Status CheckKekModes(const std::vector<storage::KeyGroupInfo>& groups,
                           const PoolConfig& config) {
  for (const KeyGroupConfig& want : config.key_groups) {
    for (const storage::KeyGroupInfo& have : groups) {
      if (have.name != want.name || have.keks.empty()) continue;
      const std::string_view mode = have.keks.front().pair ? "public" : "symmetric";
      if (mode != want.kek_mode) {
        return absl::FailedPreconditionError(Cat(
            "key group \"", want.name, "\" has kek_mode \"", mode,
            "\" in the pool, but the config says \"", want.kek_mode,
            "\": a group's KEK mode is fixed when it is created; put kek_mode = \"", mode,
            "\" back in the config, or declare a new key group (and LSUs in it) for the other "
            "mode"));
      }
    }
  }
  return absl::OkStatus();
}

bool IsPinMismatch(const absl::Status& status) {
  return status.code() == absl::StatusCode::kFailedPrecondition &&
         absl::StrContains(status.message(), "is not the one pinned");
}

storage::PoolOptions PoolOptionsFromConfig(const PoolConfig& config,
                                           std::shared_ptr<const crypto::HostKey> host_key,
                                           bool s3_takeover) {
  storage::PoolOptions o;
  o.keys.host_key = std::move(host_key);
  o.containers.target_size = config.container_size;
  o.keys.kek_max_deks = config.kek_max_deks;
  o.keys.kek_max_age = config.kek_max_age;
  o.keys.private_key_cache_ttl = config.private_key_cache_ttl;
  o.codec.zstd_level = config.zstd_level;
  o.chunker.min_size = config.chunk_min_size;
  o.chunker.avg_size = config.chunk_avg_size;
  o.chunker.max_size = config.chunk_max_size;
  o.seal_threads = config.seal_threads;
  o.compaction_live_threshold = config.compact_live_threshold;
  o.group_container_store = [config, s3_takeover](const storage::GroupStoreRequest& request) {
    return OpenS3GroupStore(config, request, s3_takeover);
  };
  return o;
}

absl::StatusOr<std::unique_ptr<storage::Pool>> OpenOrCreatePool(
    const PoolConfig& config, storage::RootKeyProvider* root_keys,
    std::shared_ptr<const crypto::HostKey> host_key, bool s3_takeover) {
  std::error_code ec;
  const bool fresh = !std::filesystem::exists(config.pool_dir, ec) ||
                     std::filesystem::is_empty(config.pool_dir, ec);
  if (fresh) {
    spdlog::info("creating a new pool in {}", config.pool_dir.string());
    return storage::Pool::Create(config.pool_dir, root_keys,
                                 PoolOptionsFromConfig(config, host_key, s3_takeover));
  }
  return storage::Pool::Open(config.pool_dir, root_keys,
                             PoolOptionsFromConfig(config, host_key, s3_takeover));
}

absl::StatusOr<storage::BucketRecoveryReport> RecoverPoolFromBucket(const PoolConfig& config,
                                                                   const storage::Id128& pool_id,
                                                                   bool s3_takeover,
                                                                   std::string* summary) {
  std::error_code ec;
  if (std::filesystem::exists(config.pool_dir, ec) &&
      (!std::filesystem::is_empty(config.pool_dir, ec) || ec)) {
    return absl::AlreadyExistsError(
        Cat("cannot recover into ", config.pool_dir.string(),
            ": the folder is not empty (a pool is there: recovery never overwrites one; move it "
            "away first)"));
  }
  auto no_ids = []() -> absl::StatusOr<uint64_t> {
    return absl::FailedPreconditionError("recovery from the bucket allocates no container");
  };
  // Each configured S3 folder once (groups may share one); the stores stay open (holding the
  // leases) until the recovery is done.
  std::vector<std::unique_ptr<storage::ContainerStore>> probes;
  std::vector<std::string> holders;  // "key group G (target)" whose folder has backups
  std::vector<storage::ContainerTarget> seen;
  storage::ContainerStore* chosen_store = nullptr;
  for (const KeyGroupConfig& group : config.key_groups) {
    const storage::ContainerTarget target = ContainerTargetOf(group);
    if (!target.is_s3()) continue;
    if (std::find(seen.begin(), seen.end(), target) != seen.end()) continue;
    seen.push_back(target);
    storage::GroupStoreRequest request;
    request.pool_id = pool_id;
    request.key_group = group.name;
    request.target = target;
    request.allocate_id = no_ids;
    SEALPOOL_ASSIGN_OR_RETURN(std::unique_ptr<storage::ContainerStore> store,
                              OpenS3GroupStore(config, request, s3_takeover));
    storage::CatalogLog* log = store->catalog_log();
    if (log == nullptr) return absl::InternalError("an S3 group store without a catalog log");
    absl::StatusOr<std::vector<uint64_t>> backups = log->ListCatalogBackups();
    if (!backups.ok()) return Annotate(backups.status(), Cat("key group ", group.name));
    if (!backups->empty()) {
      holders.push_back(Cat("key group ", group.name, " (", target.Describe(), ")"));
      chosen_store = store.get();
    }
    probes.push_back(std::move(store));
  }
  std::string hex;
  for (uint8_t b : pool_id) hex += absl::StrFormat("%02x", b);
  if (seen.empty()) {
    return absl::InvalidArgumentError(
        "the config declares no key group with an S3 target ([key_group.s3]): there is no "
        "bucket to recover from");
  }
  if (holders.empty()) {
    return absl::NotFoundError(Cat("no configured S3 key group's folder holds a catalog "
                                   "backup of pool ", hex, " (checked ", seen.size(),
                                   " folder(s)): is the pool id right?"));
  }
  if (holders.size() > 1) {
    return absl::FailedPreconditionError(
        Cat("catalog backups of pool ", hex, " are in more than one folder: ",
            absl::StrJoin(holders, ", "), "; a pool keeps its catalog in one folder only"));
  }
  // The chosen folder's store, handed to RecoverFromBucket (which asks once).
  auto holder = std::make_shared<std::unique_ptr<storage::ContainerStore>>();
  for (auto& p : probes) {
    if (p.get() == chosen_store) *holder = std::move(p);
  }
  storage::PoolOptions options = PoolOptionsFromConfig(config, nullptr, s3_takeover);
  options.container_store =
      [holder](const storage::Id128&, std::function<absl::StatusOr<uint64_t>()>)
      -> absl::StatusOr<std::unique_ptr<storage::ContainerStore>> {
    if (*holder == nullptr) return absl::InternalError("the recovery's store was taken already");
    return std::move(*holder);
  };
  absl::StatusOr<storage::BucketRecoveryReport> report =
      storage::Pool::RecoverFromBucket(config.pool_dir.string(), pool_id, options);
  if (!report.ok()) return report.status();
  *summary = Cat("recovered pool ", hex, " into ", config.pool_dir.string(), " from ",
                 holders.front(), ": catalog backup ", report->backup_seq, ", ",
                 report->records_replayed, " commit record(s) replayed, catalog at commit ",
                 report->last_seq);
  if (!report->backups_skipped.empty()) {
    *summary += Cat(" (", report->backups_skipped.size(), " damaged newer backup(s) skipped: ",
                    absl::StrJoin(report->backups_skipped, "; "), ")");
  }
  return report;
}

absl::StatusOr<PendingSetup> ApplyConfig(storage::Pool& pool, const PoolConfig& config) {
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<storage::KeyGroupInfo> groups, pool.ListKeyGroups());
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<storage::LsuInfo> lsus, pool.ListLsus());
  // Contradictions first, so that a refused config changes nothing.
  for (const KeyGroupConfig& want : config.key_groups) {
    for (const storage::KeyGroupInfo& have : groups) {
      if (have.name == want.name && have.kms_backend != want.kms_backend) {
        return absl::FailedPreconditionError(Cat(
            "key group \"", want.name, "\" is on KMS backend \"", have.kms_backend,
            "\" in the pool, but the config says \"", want.kms_backend,
            "\": a group moves between backends in sealkmsd (docs/kms.md), and the config "
            "must keep the backend the pool was created with"));
      }
      if (have.name == want.name && have.target != ContainerTargetOf(want)) {
        return absl::FailedPreconditionError(Cat(
            "key group \"", want.name, "\" keeps its containers in ", have.target.Describe(),
            " in the pool, but the config says ", ContainerTargetOf(want).Describe(),
            ": a key group's containers are all local or all in its bucket and never move; "
            "keep the group's target as it was created, or declare a new key group"));
      }
    }
  }
  SEALPOOL_RETURN_IF_ERROR(CheckKekModes(groups, config));
  for (const LsuConfig& want : config.lsus) {
    for (const storage::LsuInfo& have : lsus) {
      if (have.name == want.name && have.key_group != want.key_group) {
        return absl::FailedPreconditionError(
            Cat("LSU \"", want.name, "\" belongs to key group \"", have.key_group,
                "\" in the pool, but the config puts it in \"", want.key_group,
                "\": an LSU never changes key group (its segments are sealed and deduplicated "
                "there); put the old key group back in the config, or declare a new LSU"));
      }
    }
  }
  // The config is authoritative for an existing LSU's options.
  for (const LsuConfig& want : config.lsus) {
    for (const storage::LsuInfo& have : lsus) {
      if (have.name != want.name) continue;
      if (have.allow_client_delete != want.client_delete ||
          have.max_retention != want.max_retention) {
        SEALPOOL_RETURN_IF_ERROR(Annotate(pool.UpdateLsu(want.name, LsuOptionsOf(want)),
                                          Cat("updating LSU ", want.name)));
        spdlog::info("LSU {}: client_delete = {}, max_retention_days = {} (from the config)",
                     want.name, want.client_delete, absl::ToInt64Hours(want.max_retention) / 24);
      }
    }
  }
  PendingSetup pending;
  for (const KeyGroupConfig& want : config.key_groups) {
    bool exists = false;
    for (const auto& g : groups) exists = exists || g.name == want.name;
    if (exists) continue;
    absl::Status s = pool.CreateKeyGroup(want.name, want.kms_backend, ContainerTargetOf(want),
                                         KekModeOf(want));
    if (s.ok()) {
      spdlog::info("created key group {} (KMS backend {}, kek_mode {}, containers in {})",
                   want.name, want.kms_backend, want.kek_mode, ContainerTargetOf(want).Describe());
    } else if (s.code() == absl::StatusCode::kUnavailable ||
               s.code() == absl::StatusCode::kDeadlineExceeded ||
               s.code() == absl::StatusCode::kFailedPrecondition) {
      spdlog::warn("key group {} not created yet, retrying in the background: {}", want.name,
                   s.ToString());
      pending.key_groups.insert(want.name);
    } else {
      return Annotate(s, Cat("creating key group ", want.name));
    }
  }
  for (const LsuConfig& want : config.lsus) {
    bool exists = false;
    for (const auto& l : lsus) exists = exists || l.name == want.name;
    if (exists) continue;
    if (pending.key_groups.contains(want.key_group)) {
      pending.lsus.insert(want.name);
      continue;
    }
    SEALPOOL_RETURN_IF_ERROR(Annotate(pool.CreateLsu(want.name, want.key_group, LsuOptionsOf(want)),
                                      Cat("creating LSU ", want.name)));
    spdlog::info("created LSU {} in key group {}", want.name, want.key_group);
  }
  return pending;
}

// ---- Reconciler ----

Reconciler::Reconciler(PoolRuntime* runtime, PendingSetup pending)
    : runtime_(runtime), pending_(std::move(pending)) {
  absl::StatusOr<std::vector<storage::KeyGroupInfo>> groups = runtime_->pool().ListKeyGroups();
  if (groups.ok()) {
    for (const auto& g : *groups) unreconciled_.insert(g.name);
  }
  for (const std::string& g : pending_.key_groups) {
    runtime_->SetDeferred(Cat("create:", g),
                          Cat("key group ", g, " waits for the KMS to be created"));
  }
  if (runtime_->kms() != nullptr) thread_ = std::thread([this] { Loop(); });
}

Reconciler::~Reconciler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Reconciler::RunOnce() {
  storage::Pool& pool = runtime_->pool();
  kms::KmsClient* kms = runtime_->kms();
  // Deferred creations.
  for (auto it = pending_.key_groups.begin(); it != pending_.key_groups.end();) {
    const KeyGroupConfig* want = nullptr;
    for (const auto& g : runtime_->config().key_groups) {
      if (g.name == *it) want = &g;
    }
    absl::Status s = want == nullptr ? absl::OkStatus()
                                     : pool.CreateKeyGroup(want->name, want->kms_backend,
                                                           ContainerTargetOf(*want), KekModeOf(*want));
    if (s.ok() || s.code() == absl::StatusCode::kAlreadyExists) {
      if (want != nullptr && KekModeOf(*want) == storage::KekMode::kPublic) {
        runtime_->kek_pairs().Track(want->name);
      }
      spdlog::info("created key group {} (deferred until the KMS answered)", *it);
      runtime_->ClearDeferred(Cat("create:", *it));
      unreconciled_.insert(*it);
      it = pending_.key_groups.erase(it);
    } else {
      runtime_->SetDeferred(Cat("create:", *it),
                            Cat("key group ", *it, " waits for the KMS: ", s.message()));
      ++it;
    }
  }
  for (auto it = pending_.lsus.begin(); it != pending_.lsus.end();) {
    const LsuConfig* want = runtime_->config().FindLsu(*it);
    if (want == nullptr || pending_.key_groups.contains(want->key_group)) {
      ++it;
      continue;
    }
    absl::Status s = pool.CreateLsu(want->name, want->key_group, LsuOptionsOf(*want));
    if (s.ok() || s.code() == absl::StatusCode::kAlreadyExists) {
      spdlog::info("created LSU {} in key group {}", want->name, want->key_group);
      it = pending_.lsus.erase(it);
    } else {
      spdlog::error("cannot create LSU {}: {}", want->name, s.ToString());
      ++it;
    }
  }
  // The usage registry of each group.
  for (std::string& g : runtime_->TakeReconcileRequests()) unreconciled_.insert(std::move(g));
  if (kms != nullptr) {
    for (auto it = unreconciled_.begin(); it != unreconciled_.end();) {
      absl::StatusOr<std::vector<storage::WrappedKeyRef>> refs = pool.ListWrappedKeys(*it);
      absl::Status s = refs.status();
      if (refs.ok()) s = kms->Reconcile(*it, KekUsageOf(*refs)).status();
      if (s.ok()) s = ConfirmKekPairs(*it);
      else if (IsPinMismatch(s)) PairCheckFailed(*it, s);
      if (s.ok()) {
        spdlog::info("key group {}: usage registry reconciled with sealkmsd", *it);
        runtime_->ClearDeferred(Cat("reconcile:", *it));
        it = unreconciled_.erase(it);
      } else {
        runtime_->SetDeferred(Cat("reconcile:", *it),
                              Cat("key group ", *it, ": reconcile with sealkmsd pending (",
                                  s.message(), ")"));
        ++it;
      }
    }
  }
  const bool all = pending_.empty() && unreconciled_.empty();
  done_.store(all);
  return all;
}

absl::Status Reconciler::ConfirmKekPairs(const std::string& group) {
  if (!runtime_->kek_pairs().Tracked(group)) return absl::OkStatus();
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<storage::KeyGroupInfo> groups,
                            runtime_->pool().ListKeyGroups());
  for (const storage::KeyGroupInfo& g : groups) {
    if (g.name != group) continue;
    for (const storage::KekInfo& k : g.keks) {
      if (!k.pair) continue;
      absl::Status s = runtime_->pool().VerifyKekPair(group, k.kek_id);
      if (s.code() == absl::StatusCode::kDataLoss) {
        PairCheckFailed(group, s);
        return s;
      }
      if (!s.ok()) return s;  // the KMS again: retried with the next pass
    }
  }
  runtime_->kek_pairs().Confirmed(group);
  spdlog::info("key group {}: KEK pairs confirmed through sealkmsd (pair check and public-key pin)",
               group);
  return absl::OkStatus();
}

void Reconciler::PairCheckFailed(const std::string& group, const absl::Status& status) {
  runtime_->kek_pairs().CheckFailed(group, std::string(status.message()));
  if (warned_.insert(Cat(group, "/pair-check")).second) {
    spdlog::error("key group {}: KEK PAIR CHECK FAILED, ingest into the group is STOPPED: {}. "
                  "Someone who can write the pool's catalog may have substituted a public key, "
                  "which would make later backups readable by them and not by you. Restore the "
                  "catalog from a trusted backup (docs/operations.md), then restart sealpoold.",
                  group, status.ToString());
  }
}

void Reconciler::PollRootKeyStates() {
  kms::KmsClient* kms = runtime_->kms();
  if (kms == nullptr) return;
  storage::Pool& pool = runtime_->pool();
  absl::StatusOr<std::vector<storage::KeyGroupInfo>> groups = pool.ListKeyGroups();
  if (!groups.ok()) return;
  for (const storage::KeyGroupInfo& g : *groups) {
    absl::StatusOr<std::vector<storage::WrappedKeyRef>> refs = pool.ListWrappedKeys(g.name);
    if (!refs.ok()) continue;
    absl::StatusOr<kms::ReconcileResult> rec = kms->Reconcile(g.name, KekUsageOf(*refs));
    std::string why;
    if (!rec.ok() && IsPinMismatch(rec.status())) {
      PairCheckFailed(g.name, rec.status());
      continue;
    }
    if (!rec.ok()) {
      // A root key sealkmsd no longer knows (destroyed) or will not register under.
      if (rec.status().code() == absl::StatusCode::kNotFound ||
          rec.status().code() == absl::StatusCode::kFailedPrecondition) {
        why = rec.status().ToString();
      }
    } else {
      for (const kms::KekUsageStatus& u : rec->usages) {
        if (u.root_key_state == kms::RootKeyState::kCompromised ||
            u.root_key_state == kms::RootKeyState::kDeprecated ||
            u.root_key_state == kms::RootKeyState::kTerminated) {
          why = Cat("root key ", u.root_key_id, " is ", kms::RootKeyStateName(u.root_key_state));
          break;
        }
      }
    }
    if (why.empty()) continue;
    runtime_->kek_pairs().RootKeyProblem(g.name, why);
    kms->ForgetGroup(g.name);
    pool.ForgetUnwrappedKeys(g.name).IgnoreError();  // the group was just listed
    if (warned_.insert(Cat(g.name, "/", why)).second) {
      spdlog::warn("key group {}: {}; every unwrapped key of the group was dropped from memory "
                   "(re-wrap or purge the group)",
                   g.name, why);
    }
  }
}

void Reconciler::Loop() {
  absl::Duration backoff = absl::Seconds(1);
  while (true) {
    bool all = RunOnce();
    // After an outage, reconcile every group again.
    kms::KmsReachability r = runtime_->kms()->State().reachability;
    const bool reachable = r == kms::KmsReachability::kReachable;
    if (reachable && !was_reachable_) {
      spdlog::info("sealkmsd reachable again: reconciling every key group");
      absl::StatusOr<std::vector<storage::KeyGroupInfo>> groups =
          runtime_->pool().ListKeyGroups();
      if (groups.ok()) {
        for (const auto& g : *groups) unreconciled_.insert(g.name);
      }
      all = RunOnce();
    }
    was_reachable_ = reachable;
    if (reachable && absl::Now() >= next_state_poll_) {
      PollRootKeyStates();
      next_state_poll_ = absl::Now() + kRootKeyStatePoll;
    }
    backoff = all ? absl::Seconds(5) : std::min(backoff * 2, absl::Seconds(30));
    std::unique_lock<std::mutex> lock(mu_);
    if (cv_.wait_for(lock, absl::ToChronoSeconds(backoff), [this] { return stop_; })) return;
  }
}

}  // namespace sealpool::daemon
