// The S3 LSU's catalog in the bucket (docs/s3.md "Disaster recovery"): the commit log hook on
// the catalog, catalog backups to the bucket (on demand and from a background thread), and
// recovery of a pool from the bucket alone.
#include <algorithm>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "storage/catalog/catalog.h"
#include "storage/catalog/catalog_records.h"
#include "storage/pool/pool.h"
#include "storage/pool/pool_internal.h"

namespace sealpool::storage {

namespace {

// Backups kept in the bucket; the commit records after the older of them are kept too, so
// either can be restored and replayed if the newer one is damaged.
constexpr size_t kKeepBucketBackups = 2;
// Commit records fetched at once during a recovery.
constexpr size_t kFetchWindow = 16;

std::string HexId(const Id128& id) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

void RemoveAll(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);  // best effort: a leftover is refused at next use
}

}  // namespace

absl::Status Pool::Impl::StartCatalogLog() {
  if (options.catalog_backup_interval <= absl::ZeroDuration() ||
      options.catalog_backup_interval == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        "PoolOptions::catalog_backup_interval must be positive and finite");
  }
  catalog_log = containers->catalog_log();
  if (catalog_log == nullptr && log_store != nullptr) {
    catalog_log = log_store->catalog_log();
  }
  if (catalog_log == nullptr) return absl::OkStatus();
  SEALPOOL_ASSIGN_OR_RETURN(uint64_t local, catalog->CommitSeq());
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint64_t> records, catalog_log->ListCommitRecords());
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint64_t> backups, catalog_log->ListCatalogBackups());
  if (!records.empty() && records.back() > local) {
    // The bucket is ahead of this catalog: batches it accepted that this disk lost (a crash
    // took the unsynced tail of the catalog's WAL) or never saw (a catalog copied back from an
    // old snapshot). Its history continues this catalog's, so the missing records are applied
    // now, in order; if the next one is gone (pruned after a newer backup) it cannot be, and
    // writing on would overwrite newer records: refused.
    uint64_t at = local;
    for (uint64_t r : records) {
      if (r <= at) continue;
      if (r != at + 1) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the bucket holds commit records of pool ", HexId(meta.pool_id), " up to ",
            records.back(), " but the catalog in ", dir, " ends at ", local,
            " and record ", at + 1, " is not in the bucket: the catalog is older than the "
            "bucket (recover from the bucket: Pool::RecoverFromBucket)"));
      }
      SEALPOOL_ASSIGN_OR_RETURN(std::string batch, catalog_log->GetCommitRecord(r));
      SEALPOOL_RETURN_IF_ERROR(catalog->ApplyCommitRecord(r, batch));
      at = r;
    }
    SEALPOOL_RETURN_IF_ERROR(catalog->Flush());
    local = at;
    // The id allocators were loaded from the catalog before it caught up.
    for (IdAllocator* a : {segment_ids.get(), container_ids.get(), image_ids.get(),
                           delete_seq.get()}) {
      SEALPOOL_RETURN_IF_ERROR(a->Load());
    }
  }
  // catalog_log is read at each batch: CreateKeyGroup sets it (to the first S3 group's store's
  // log) before it installs this, under the catalog's commit lock.
  SEALPOOL_RETURN_IF_ERROR(catalog->SetCommitLog(
      [this](uint64_t seq, std::string_view batch) -> absl::Status {
        SEALPOOL_RETURN_IF_ERROR(catalog_log->PutCommitRecord(seq, batch));
        const uint64_t every = options.catalog_backup_every_records;
        absl::MutexLock lock(&backup_timer_mu);
        if (every > 0 && seq >= last_backup_seq + every) backup_due = true;
        return absl::OkStatus();
      }));
  catalog_log_installed = true;
  if (!backups.empty() && backups.back() > local) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the bucket holds a catalog backup of pool ", HexId(meta.pool_id), " at commit ",
        backups.back(), " but the catalog in ", dir, " ends at ", local,
        ": it is older than the bucket (recover from the bucket: Pool::RecoverFromBucket)"));
  }
  if (backups.empty()) {
    // A new pool (or one whose first backup failed): recovery needs a base.
    SEALPOOL_RETURN_IF_ERROR(BackupCatalogToBucket().status());
  } else {
    absl::MutexLock lock(&backup_timer_mu);
    last_backup_seq = backups.back();
  }
  return absl::OkStatus();
}

absl::Status Pool::Impl::OpenLogGroupStore() {
  if (grouped->local().catalog_log() != nullptr) return absl::OkStatus();
  std::optional<KeyGroupRecord> lowest;
  SEALPOOL_RETURN_IF_ERROR(catalog->Scan(
      Cf::kMeta, KeyGroupPrefix(),
      [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
        SEALPOOL_ASSIGN_OR_RETURN(KeyGroupRecord record, DecodeKeyGroup(value));
        if (!ContainerTarget{record.s3_endpoint, record.s3_bucket, record.s3_prefix}.is_s3()) {
          return true;
        }
        if (!lowest.has_value() || record.group_no < lowest->group_no) lowest = record;
        return true;
      }));
  if (!lowest.has_value()) return absl::OkStatus();
  // Only its catalog log is used (no container is read or written through it): no sizes.
  SEALPOOL_ASSIGN_OR_RETURN(log_store, OpenGroupStore(*lowest, {}));
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Pool::Impl::BackupCatalogToBucket() {
  if (catalog_log == nullptr) {
    return absl::FailedPreconditionError(
        "the pool's containers are not in a bucket: no catalog backup to the bucket (use "
        "BackupCatalog)");
  }
  absl::MutexLock one_at_a_time(&catalog_backup_mu);
  const std::string tmp = absl::StrCat(dir, "/catalog-backup.tmp");
  RemoveAll(tmp);  // a leftover of a crash
  absl::StatusOr<uint64_t> seq = catalog->CreateCheckpointAtCommit(tmp);
  absl::Status put = seq.ok() ? catalog_log->PutCatalogBackup(*seq, tmp) : seq.status();
  RemoveAll(tmp);
  SEALPOOL_RETURN_IF_ERROR(put);
  {
    absl::MutexLock lock(&backup_timer_mu);
    last_backup_seq = std::max(last_backup_seq, *seq);
    backup_due = false;
  }
  // Keep the newest two backups and the records after the older one.
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint64_t> backups, catalog_log->ListCatalogBackups());
  if (backups.size() >= kKeepBucketBackups) {
    const uint64_t floor = backups[backups.size() - kKeepBucketBackups];
    for (size_t i = 0; i + kKeepBucketBackups < backups.size(); ++i) {
      SEALPOOL_RETURN_IF_ERROR(catalog_log->DeleteCatalogBackup(backups[i]));
    }
    SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint64_t> records, catalog_log->ListCommitRecords());
    for (uint64_t r : records) {
      if (r > floor) break;
      SEALPOOL_RETURN_IF_ERROR(catalog_log->DeleteCommitRecord(r));
    }
  }
  return *seq;
}

void Pool::Impl::StartBackupTimer() {
  if (catalog_log == nullptr) return;
  backup_timer = std::thread([this] {
    while (true) {
      {
        absl::MutexLock lock(&backup_timer_mu);
        backup_timer_mu.AwaitWithTimeout(
            absl::Condition(
                +[](Pool::Impl* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->backup_timer_mu) {
                  return p->backup_timer_stop || p->backup_due;
                },
                this),
            options.catalog_backup_interval);
        if (backup_timer_stop) return;
      }
      absl::StatusOr<uint64_t> seq = catalog->CommitSeq();
      bool changed = false;
      {
        absl::MutexLock lock(&backup_timer_mu);
        changed = seq.ok() && *seq > last_backup_seq;
        if (!changed) backup_due = false;
      }
      // A failed backup is tried again at the next trigger; the commit records stay until one
      // is accepted, so nothing is at risk meanwhile (BackupCatalogToBucket reports errors).
      if (changed) BackupCatalogToBucket().IgnoreError();
      {
        absl::MutexLock lock(&backup_timer_mu);
        backup_due = false;
      }
    }
  });
}

void Pool::Impl::StopCatalogBackups() {
  {
    absl::MutexLock lock(&backup_timer_mu);
    backup_timer_stop = true;
  }
  if (backup_timer.joinable()) backup_timer.join();
}

absl::StatusOr<uint64_t> Pool::BackupCatalogToBucket() { return impl_->BackupCatalogToBucket(); }

namespace {

// Restores backup `seq` into `tmp` and replays the records after it. On error `tmp` may hold
// a partial catalog (the caller removes it).
absl::Status RestoreAndReplay(CatalogLog& log, const Id128& pool_id, uint64_t backup_seq,
                              const std::vector<uint64_t>& records, const std::string& tmp,
                              const CatalogOptions& catalog_options, BucketRecoveryReport* report) {
  SEALPOOL_RETURN_IF_ERROR(log.RestoreCatalogBackup(backup_seq, tmp));
  CatalogOptions o = catalog_options;
  o.create_if_missing = false;
  SEALPOOL_ASSIGN_OR_RETURN(std::unique_ptr<Catalog> catalog, Catalog::Open(tmp, o));
  SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> meta_value,
                            catalog->Get(Cf::kMeta, PoolMetaKey()));
  if (!meta_value.has_value()) {
    return absl::DataLossError(absl::StrCat("catalog backup ", backup_seq, " has no pool record"));
  }
  SEALPOOL_ASSIGN_OR_RETURN(PoolMeta meta, DecodePoolMeta(*meta_value));
  if (meta.pool_id != pool_id) {
    return absl::DataLossError(absl::StrCat("catalog backup ", backup_seq, " is of pool ",
                                            HexId(meta.pool_id), ", not ", HexId(pool_id)));
  }
  SEALPOOL_ASSIGN_OR_RETURN(uint64_t at, catalog->CommitSeq());
  if (at != backup_seq) {
    return absl::DataLossError(absl::StrCat("catalog backup ", backup_seq,
                                            " holds commit sequence ", at));
  }
  report->backup_seq = backup_seq;
  report->records_replayed = 0;
  // The records after the backup, which must follow each other without a gap.
  std::vector<uint64_t> todo;
  for (uint64_t r : records) {
    if (r <= at) continue;
    const uint64_t expected = todo.empty() ? at + 1 : todo.back() + 1;
    if (r != expected) {
      return absl::DataLossError(absl::StrCat(
          "commit record ", expected, " of pool ", HexId(pool_id),
          " is missing from the bucket (the next one there is ", r, ", the last ",
          records.back(), "): the catalog cannot be recovered past commit ", expected - 1,
          "; nothing was recovered"));
    }
    todo.push_back(r);
  }
  // Fetched kFetchWindow at a time in parallel (one GET's latency each otherwise), applied in
  // order.
  for (size_t begin = 0; begin < todo.size(); begin += kFetchWindow) {
    const size_t end = std::min(todo.size(), begin + kFetchWindow);
    std::vector<std::future<absl::StatusOr<std::string>>> fetched;
    for (size_t i = begin; i < end; ++i) {
      fetched.push_back(std::async(std::launch::async,
                                   [&log, r = todo[i]] { return log.GetCommitRecord(r); }));
    }
    for (size_t i = begin; i < end; ++i) {
      const uint64_t r = todo[i];
      absl::StatusOr<std::string> batch = fetched[i - begin].get();
      if (!batch.ok()) {
        for (size_t j = i + 1; j < end; ++j) fetched[j - begin].wait();
        return batch.status();
      }
      absl::Status applied = catalog->ApplyCommitRecord(r, *batch);
      if (!applied.ok()) {
        for (size_t j = i + 1; j < end; ++j) fetched[j - begin].wait();
        return absl::Status(applied.code(), absl::StrCat("commit record ", r, " of pool ",
                                                         HexId(pool_id), ": ",
                                                         applied.message()));
      }
      at = r;
      ++report->records_replayed;
    }
  }
  report->last_seq = at;
  return catalog->Flush();
}

}  // namespace

absl::StatusOr<BucketRecoveryReport> Pool::RecoverFromBucket(const std::string& dir,
                                                             const Id128& pool_id,
                                                             const PoolOptions& options) {
  if (!options.container_store) {
    return absl::InvalidArgumentError(
        "RecoverFromBucket: the options name no container store (the pool's bucket)");
  }
  if (dir.empty()) return absl::InvalidArgumentError("RecoverFromBucket: empty directory");
  std::error_code ec;
  if (std::filesystem::exists(dir, ec)) {
    if (!std::filesystem::is_empty(dir, ec) || ec) {
      return absl::AlreadyExistsError(absl::StrCat(
          "cannot recover a pool into ", dir, ": the directory is not empty"));
    }
  } else if (!std::filesystem::create_directories(dir, ec) || ec) {
    return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  }
  // Recovery writes no container: a store that tried to would get this.
  auto no_ids = []() -> absl::StatusOr<uint64_t> {
    return absl::FailedPreconditionError("recovery from the bucket allocates no container");
  };
  SEALPOOL_ASSIGN_OR_RETURN(std::unique_ptr<ContainerStore> store,
                            options.container_store(pool_id, no_ids));
  CatalogLog* log = store->catalog_log();
  if (log == nullptr) {
    return absl::InvalidArgumentError(
        "RecoverFromBucket: the container store keeps no catalog log (not a bucket)");
  }
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint64_t> backups, log->ListCatalogBackups());
  if (backups.empty()) {
    return absl::NotFoundError(absl::StrCat("the bucket holds no catalog backup of pool ",
                                            HexId(pool_id)));
  }
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint64_t> records, log->ListCommitRecords());
  const std::string tmp = absl::StrCat(dir, "/catalog.recovering");
  BucketRecoveryReport report;
  absl::Status last;
  for (size_t i = backups.size(); i-- > 0;) {
    RemoveAll(tmp);
    last = RestoreAndReplay(*log, pool_id, backups[i], records, tmp, options.catalog, &report);
    if (last.ok()) break;
    // A damaged backup: the older one (whose commit records are kept) may do. Anything else
    // (a damaged or missing commit record, the store unreachable) ends the recovery.
    const bool backup_damaged = absl::IsDataLoss(last) &&
                                absl::StrContains(last.message(), "catalog backup");
    if (!backup_damaged) break;
    report.backups_skipped.push_back(std::string(last.message()));
  }
  if (!last.ok()) {
    RemoveAll(tmp);
    return last;
  }
  std::filesystem::rename(tmp, absl::StrCat(dir, "/catalog"), ec);
  if (ec) {
    RemoveAll(tmp);
    return absl::InternalError(absl::StrCat("cannot rename ", tmp, ": ", ec.message()));
  }
  return report;
}

}  // namespace sealpool::storage
