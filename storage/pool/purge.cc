// Pool::Purge: the steps of storage/pool/purge.h, each persisted in the purge record before it
// starts, so that running Purge again resumes. Holds maintenance_mu throughout: the delete
// queue, compaction (which copies wrapped DEKs) and re-wraps wait for it; ingest and reads go
// on (the fence takes care of writers).
#include <algorithm>
#include <utility>

#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "storage/pool/pool.h"
#include "storage/pool/pool_internal.h"
#include "storage/pool/purge_record.h"

namespace sealpool::storage {

std::string_view PurgeStepName(PurgeStep step) {
  switch (step) {
    case PurgeStep::kDrainDeleteQueue: return "drain-delete-queue";
    case PurgeStep::kRotateKek: return "rotate-kek";
    case PurgeStep::kFenceWriters: return "fence-writers";
    case PurgeStep::kRewrapDeks: return "rewrap-deks";
    case PurgeStep::kDropKeks: return "drop-keks";
    case PurgeStep::kNewRootKey: return "new-root-key";
    case PurgeStep::kRewrapGroupKeys: return "rewrap-group-keys";
    case PurgeStep::kDestroyRootKeys: return "destroy-root-keys";
    case PurgeStep::kForgetCaches: return "forget-caches";
    case PurgeStep::kCompactCatalog: return "compact-catalog";
    case PurgeStep::kRekeyStore: return "rekey-store";
    case PurgeStep::kDone: return "done";
  }
  return "unknown";
}

namespace {

PurgeStep Next(PurgeStep s) { return static_cast<PurgeStep>(static_cast<uint8_t>(s) + 1); }

absl::Status Save(Pool::Impl& p, uint32_t group_no, const PurgeRecord& record) {
  SEALPOOL_ASSIGN_OR_RETURN(std::string value, EncodePurgeRecord(record));
  return p.PutMetaSync(PurgeRecordKey(group_no), value);
}

absl::Status RefuseSharedGroup(std::string_view key_group, const PurgeKeyCheck& check) {
  if (check.other_pools.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(base::Cat(
      "key group ", key_group, " is shared with pool(s) ", absl::StrJoin(check.other_pools, ", "),
      ", which still have keys registered under its root keys: a purge would destroy keys they "
      "need; move or purge them first (nothing was changed by this step)"));
}

class PurgeRun {
 public:
  PurgeRun(Pool::Impl& p, uint32_t group_no, std::string key_group, PurgeKeyService* kms,
           const PurgeOptions& options, PurgeRecord record, PurgeReport* report)
      : p_(p), group_no_(group_no), group_(std::move(key_group)), kms_(kms), options_(options),
        record_(std::move(record)), report_(report) {}

  // Runs the steps from record_.next to the end.
  absl::Status Run() ABSL_EXCLUSIVE_LOCKS_REQUIRED(p_.maintenance_mu) {
    for (uint8_t s = static_cast<uint8_t>(PurgeStep::kDrainDeleteQueue);
         s < static_cast<uint8_t>(PurgeStep::kDone); ++s) {
      const auto step = static_cast<PurgeStep>(s);
      if (step < record_.next) {
        report_->steps.push_back({step, absl::ZeroDuration(), "done by an earlier run", true});
        continue;
      }
      if (options_.before_step) SEALPOOL_RETURN_IF_ERROR(options_.before_step(step));
      const absl::Time start = absl::Now();
      std::string detail;
      absl::Status status = RunStep(step, &detail);
      PurgeStepReport r{step, absl::Now() - start, std::move(detail), false};
      if (options_.on_step) options_.on_step(r, status);
      if (!status.ok()) {
        return base::Annotate(
            status, base::Cat("purge of key group ", group_, " stopped at step ",
                              PurgeStepName(step),
                              " (the steps before it stay done; run the purge again to resume)"));
      }
      report_->steps.push_back(std::move(r));
      record_.next = Next(step);
      SEALPOOL_RETURN_IF_ERROR(Save(p_, group_no_, record_));
    }
    return absl::OkStatus();
  }

  const PurgeRecord& record() const { return record_; }

 private:
  absl::Status RunStep(PurgeStep step, std::string* detail)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(p_.maintenance_mu) {
    switch (step) {
      case PurgeStep::kDrainDeleteQueue: {
        SEALPOOL_ASSIGN_OR_RETURN(DeleteQueueReport d, RunDeleteQueue(p_, UINT64_MAX));
        report_->delete_jobs_done = d.jobs_done;
        report_->segments_erased = d.segments_erased;
        *detail = base::Cat(d.jobs_done, " delete job(s) run, ", d.segments_erased,
                            " segment(s) erased, ", d.jobs_left,
                            " left (held by writes in progress, whose segments stay live)");
        return absl::OkStatus();
      }
      case PurgeStep::kRotateKek: {
        SEALPOOL_ASSIGN_OR_RETURN(record_.new_kek_id, p_.keys->RotateKek(group_no_));
        *detail = base::Cat("new active KEK ", record_.new_kek_id);
        return absl::OkStatus();
      }
      case PurgeStep::kFenceWriters: {
        const uint64_t fence = p_.AdvanceSealEpoch();
        int64_t open_before = 0;
        {
          absl::MutexLock lock(&p_.pending_mu);
          for (const auto& [epoch, n] : p_.open_by_epoch) {
            if (epoch < fence) open_before += n;
          }
        }
        const int64_t left = p_.AwaitSealsBefore(fence, options_.writer_wait);
        report_->writers_waited_for = open_before;
        if (left > 0) {
          return absl::DeadlineExceededError(base::Cat(
              left, " record(s) that running writers sealed before the rotation are still on "
              "their way after ", absl::FormatDuration(options_.writer_wait),
              "; abort or finish those writes (or wait) and run the purge again"));
        }
        *detail = base::Cat("waited for ", open_before, " record(s) of running writers");
        return absl::OkStatus();
      }
      case PurgeStep::kRewrapDeks: {
        RewrapReport r;
        SEALPOOL_RETURN_IF_ERROR(
            RewrapLiveDeks(p_, group_no_, record_.new_kek_id, /*only_older=*/true, &r));
        record_.deks_rewrapped += r.deks_rewrapped;
        *detail = base::Cat(r.deks_rewrapped, " DEK(s) re-wrapped under KEK ", record_.new_kek_id,
                            ", ", r.deks_already_under_target, " already under it or newer");
        return absl::OkStatus();
      }
      case PurgeStep::kDropKeks: {
        SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint32_t> dropped,
                                  DropKeksOlderThan(p_, group_no_, group_, record_.new_kek_id));
        for (uint32_t id : dropped) record_.keks_dropped.push_back(id);
        // Persist the ids before telling the key service (a crash here: the ids stay known).
        SEALPOOL_RETURN_IF_ERROR(Save(p_, group_no_, record_));
        SEALPOOL_RETURN_IF_ERROR(ReplaceRegistrations());
        *detail = base::Cat(dropped.size(), " KEK(s) dropped (",
                            absl::StrJoin(dropped, ", "), ") and unregistered");
        return absl::OkStatus();
      }
      case PurgeStep::kNewRootKey: {
        if (record_.old_root_key_id.empty()) {
          SEALPOOL_ASSIGN_OR_RETURN(record_.old_root_key_id, p_.root_keys->ActiveRootKeyId(group_));
          if (record_.old_root_key_id.empty()) {
            return absl::FailedPreconditionError("the key group has no active root key");
          }
          // Known before the call: a resume tells "created by us" from "not yet" by it.
          SEALPOOL_RETURN_IF_ERROR(Save(p_, group_no_, record_));
        }
        SEALPOOL_ASSIGN_OR_RETURN(record_.new_root_key_id,
                                  kms_->ActivateNewRootKey(group_, record_.old_root_key_id));
        if (record_.new_root_key_id.empty() ||
            record_.new_root_key_id == record_.old_root_key_id) {
          return absl::InternalError("the key service did not activate a new root key");
        }
        *detail = base::Cat("root key ", record_.new_root_key_id, " active (was ",
                            record_.old_root_key_id, ")");
        return absl::OkStatus();
      }
      case PurgeStep::kRewrapGroupKeys: {
        SEALPOOL_ASSIGN_OR_RETURN(uint32_t n, p_.keys->RewrapGroupKeys(group_no_));
        SEALPOOL_ASSIGN_OR_RETURN(std::vector<WrappedKeyRef> refs,
                                  p_.keys->ListWrappedKeys(group_no_));
        for (const WrappedKeyRef& r : refs) {
          if (r.root_key_id != record_.new_root_key_id) {
            return absl::FailedPreconditionError(base::Cat(
                r.key_id, " is wrapped under root key ", r.root_key_id, ", not the purge's new ",
                "root key ", record_.new_root_key_id,
                " (was another root key activated meanwhile?)"));
          }
        }
        SEALPOOL_RETURN_IF_ERROR(ReplaceRegistrations());
        *detail = base::Cat(n, " key(s) re-wrapped under root key ", record_.new_root_key_id);
        return absl::OkStatus();
      }
      case PurgeStep::kDestroyRootKeys: {
        SEALPOOL_ASSIGN_OR_RETURN(PurgeKeyCheck check, kms_->CheckPurge(group_));
        SEALPOOL_RETURN_IF_ERROR(RefuseSharedGroup(group_, check));
        SEALPOOL_ASSIGN_OR_RETURN(std::vector<std::string> destroyed,
                                  kms_->DestroyRootKeysExcept(group_, record_.new_root_key_id));
        for (std::string& id : destroyed) record_.root_keys_destroyed.push_back(std::move(id));
        // The store's key as of now: the passphrase change must come after this.
        SEALPOOL_ASSIGN_OR_RETURN(PurgeKeyCheck after, kms_->CheckPurge(group_));
        record_.store_key_id = after.store_key_id;
        *detail = base::Cat(record_.root_keys_destroyed.size(), " root key(s) destroyed (",
                            absl::StrJoin(record_.root_keys_destroyed, ", "), ")");
        return absl::OkStatus();
      }
      case PurgeStep::kForgetCaches: {
        p_.keys->ForgetUnwrapped(group_no_);
        kms_->ForgetCached(group_);
        *detail = "unwrapped keys dropped from the key dictionary and the key-service client";
        return absl::OkStatus();
      }
      case PurgeStep::kCompactCatalog: {
        // Best effort: a failure is reported, not fatal (the old wrapped DEKs these files hold
        // are useless without the dropped KEKs; this only shortens their life on disk).
        absl::Status s = p_.catalog->Flush();
        for (Cf cf : {Cf::kSegments, Cf::kKeys, Cf::kMeta}) {
          if (s.ok()) s = p_.catalog->CompactFamily(cf);
        }
        report_->catalog_compacted = s.ok();
        if (!s.ok()) {
          report_->warnings.push_back(
              base::Cat("the catalog compaction failed (", s.ToString(),
                        "): old wrapped DEKs may stay in its files until RocksDB rewrites them"));
          *detail = "failed (best effort, see warnings)";
        } else {
          *detail = "memtables flushed (log files retired); segments, keys and meta rewritten";
        }
        return absl::OkStatus();
      }
      case PurgeStep::kRekeyStore: {
        if (record_.store_key_id.empty()) {
          *detail = "the key service keeps no passphrase-encrypted store for this group";
          return absl::OkStatus();
        }
        SEALPOOL_ASSIGN_OR_RETURN(PurgeKeyCheck now, kms_->CheckPurge(group_));
        if (now.store_key_id == record_.store_key_id) {
          return absl::FailedPreconditionError(
              "the root keys are destroyed, but the key service's store is still encrypted "
              "under the passphrase it had before: any backup of that store, with that "
              "passphrase, brings the destroyed keys back. Change the passphrase now "
              "(kmscmd passphrase change --new-passphrase-file FILE), destroy the key-store "
              "backups taken before this purge and every copy of the old passphrase, then run "
              "the purge again to finish");
        }
        report_->store_rekeyed = true;
        *detail = "the key store was re-keyed under a new passphrase after the destroy";
        return absl::OkStatus();
      }
      case PurgeStep::kDone:
        break;
    }
    return absl::InternalError("unknown purge step");
  }

  absl::Status ReplaceRegistrations() {
    SEALPOOL_ASSIGN_OR_RETURN(std::vector<WrappedKeyRef> refs, p_.keys->ListWrappedKeys(group_no_));
    return kms_->ReplaceRegistrations(group_, refs);
  }

  Pool::Impl& p_;
  const uint32_t group_no_;
  const std::string group_;
  PurgeKeyService* const kms_;
  const PurgeOptions& options_;
  PurgeRecord record_;
  PurgeReport* const report_;
};

}  // namespace

absl::Status Pool::ForgetUnwrappedKeys(std::string_view key_group) {
  SEALPOOL_ASSIGN_OR_RETURN(uint32_t group_no, impl_->FindGroupNo(key_group));
  impl_->keys->ForgetUnwrapped(group_no);
  return absl::OkStatus();
}

absl::StatusOr<bool> Pool::PurgeUnfinished(std::string_view key_group) const {
  SEALPOOL_ASSIGN_OR_RETURN(uint32_t group_no, impl_->FindGroupNo(key_group));
  SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> value,
                            impl_->catalog->Get(Cf::kMeta, PurgeRecordKey(group_no)));
  return value.has_value();
}

absl::StatusOr<PurgeReport> Pool::Purge(std::string_view key_group, PurgeKeyService* key_service,
                                        const PurgeOptions& options) {
  if (key_service == nullptr) return absl::InvalidArgumentError("purge: no key service");
  Impl& p = *impl_;
  SEALPOOL_ASSIGN_OR_RETURN(uint32_t group_no, p.FindGroupNo(key_group));
  const absl::Time start = absl::Now();
  absl::MutexLock maintenance(&p.maintenance_mu);
  PurgeReport report;
  report.key_group = std::string(key_group);
  PurgeRecord record;
  SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> stored,
                            p.catalog->Get(Cf::kMeta, PurgeRecordKey(group_no)));
  if (stored.has_value()) {
    SEALPOOL_ASSIGN_OR_RETURN(record, DecodePurgeRecord(*stored));
    report.resumed = true;
  } else {
    // Refuse before anything changes when another pool shares the group's keys.
    SEALPOOL_ASSIGN_OR_RETURN(PurgeKeyCheck check, key_service->CheckPurge(key_group));
    SEALPOOL_RETURN_IF_ERROR(RefuseSharedGroup(key_group, check));
    record.started_unix_micros = ToMicros(p.options.clock());
    SEALPOOL_RETURN_IF_ERROR(Save(p, group_no, record));
  }
  PurgeRun run(p, group_no, std::string(key_group), key_service, options, std::move(record),
               &report);
  SEALPOOL_RETURN_IF_ERROR(run.Run());
  const PurgeRecord& done = run.record();
  report.new_kek_id = done.new_kek_id;
  report.deks_rewrapped = done.deks_rewrapped;
  report.keks_dropped = done.keks_dropped;
  report.old_root_key_id = done.old_root_key_id;
  report.new_root_key_id = done.new_root_key_id;
  report.root_keys_destroyed = done.root_keys_destroyed;
  Catalog::Batch finished;
  finished.Delete(Cf::kMeta, PurgeRecordKey(group_no));
  SEALPOOL_RETURN_IF_ERROR(p.catalog->Write(finished));
  report.total = absl::Now() - start;
  if (!done.store_key_id.empty()) {
    report.warnings.push_back(
        "key-store backups taken before this purge, and every copy of the old passphrase, must "
        "be destroyed: either one together with the other opens the destroyed root keys");
  }
  report.warnings.push_back(
      "catalog backups and raw copies taken before this purge hold the old wrapped DEKs; they no "
      "longer decrypt, but keep them no longer than needed");
  report.warnings.push_back(
      "the fingerprint key is not rotated by a purge: a raw copy plus the live fingerprint key "
      "can confirm a guessed deleted segment (docs/security.md)");
  return report;
}

}  // namespace sealpool::storage
