// KEK rotation and re-wrap. Rotation only starts a new KEK (no segment touched). RewrapDeks
// re-wraps every live DEK of a group under the group's active KEK, in atomic batches that also
// record how far it got (Cf::kMeta "rewrap/<group>"), so a crash or a KMS failure part-way is
// resumed by running it again; then it drops the older KEKs, and fails rather than skip one
// that a DEK still uses. That is the
// first half of a purge (DESIGN.md "Shredding"); the second half is a root-key rotation in the
// KMS followed by RewrapGroupKeys.
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "storage/pool/pool.h"
#include "storage/pool/pool_internal.h"

namespace sealpool::storage {
namespace {

std::string RewrapCursorKey(uint32_t group_no) {
  std::string key = "rewrap/";
  AppendU32BE(&key, group_no);
  return key;
}

// Cursor value: u32 LE target KEK id, then the last segment key done.
std::string EncodeCursor(uint32_t target, std::string_view last_key) {
  std::string v = EncodeU64(target);
  v.append(last_key);
  return v;
}

}  // namespace

absl::StatusOr<uint32_t> Pool::RotateKek(std::string_view key_group) {
  SEALPOOL_ASSIGN_OR_RETURN(uint32_t group_no, impl_->FindGroupNo(key_group));
  return impl_->keys->RotateKek(group_no);
}

absl::StatusOr<uint32_t> Pool::RewrapGroupKeys(std::string_view key_group) {
  SEALPOOL_ASSIGN_OR_RETURN(uint32_t group_no, impl_->FindGroupNo(key_group));
  absl::MutexLock maintenance(&impl_->maintenance_mu);
  return impl_->keys->RewrapGroupKeys(group_no);
}

absl::StatusOr<std::vector<crypto::SecretBytes>> Pool::HeldKeyMaterial(
    std::string_view key_group) const {
  SEALPOOL_ASSIGN_OR_RETURN(uint32_t group_no, impl_->FindGroupNo(key_group));
  return impl_->keys->HeldKeyMaterial(group_no);
}

absl::StatusOr<RewrapReport> Pool::RewrapDeks(std::string_view key_group, bool drop_keks) {
  Impl& p = *impl_;
  SEALPOOL_ASSIGN_OR_RETURN(uint32_t group_no, p.FindGroupNo(key_group));
  absl::MutexLock maintenance(&p.maintenance_mu);
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<KekInfo> keks, p.keys->ListKeks(group_no));
  RewrapReport report;
  bool have_active = false;
  for (const KekInfo& k : keks) {
    if (k.state == KekState::kActive) {
      report.target_kek_id = k.kek_id;
      have_active = true;
    }
  }
  if (!have_active) {
    return absl::FailedPreconditionError(
        absl::StrCat("key group ", base::AbslView(key_group), " has no active KEK"));
  }
  const uint32_t target = report.target_kek_id;
  if (drop_keks) {
    // A record sealed under an older KEK but not yet committed would escape the scan below:
    // fence it first (records sealed from now on go under the active KEK or a newer one).
    const uint64_t fence = p.AdvanceSealEpoch();
    const int64_t left = p.AwaitSealsBefore(fence, p.options.rewrap_writer_wait);
    if (left > 0) {
      return absl::UnavailableError(base::Cat(
          "key group ", key_group, ": ", left, " record(s) of running writers, sealed before the ",
          "re-wrap started, are still on their way after ",
          absl::FormatDuration(p.options.rewrap_writer_wait),
          "; nothing was re-wrapped, run it again when ingest is quieter"));
    }
  }
  SEALPOOL_RETURN_IF_ERROR(RewrapLiveDeks(p, group_no, target, /*only_older=*/false, &report));
  if (drop_keks) {
    SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint32_t> dropped,
                              DropKeksOlderThan(p, group_no, key_group, target));
    report.keks_dropped = static_cast<uint32_t>(dropped.size());
  }
  return report;
}

absl::Status RewrapLiveDeks(Pool::Impl& p, uint32_t group_no, uint32_t target, bool only_older,
                            RewrapReport* report) {
  std::string after;
  SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> cursor,
                            p.catalog->Get(Cf::kMeta, RewrapCursorKey(group_no)));
  if (cursor.has_value() && cursor->size() >= 8) {
    SEALPOOL_ASSIGN_OR_RETURN(uint64_t was, DecodeU64(cursor->substr(0, 8), "re-wrap cursor"));
    if (was == target) after = cursor->substr(8);  // resume; another target starts over
  }
  const size_t per_batch = std::max<size_t>(1, p.options.delete_batch);
  while (true) {
    std::vector<std::pair<std::string, SegmentRecord>> todo;
    std::string last;
    bool more = false;
    SEALPOOL_RETURN_IF_ERROR(p.catalog->Scan(
        Cf::kSegments, SegmentPrefix(group_no),
        [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
          if (todo.size() >= per_batch) {
            more = true;
            return false;
          }
          absl::StatusOr<SegmentRecord> record = DecodeSegmentRecord(value);
          if (!record.ok()) return base::Annotate(record.status(), "re-wrap: segment record");
          last.assign(key);
          if (record->kek_id == target || (only_older && record->kek_id > target)) {
            ++report->deks_already_under_target;
          } else {
            todo.emplace_back(std::string(key), *record);
          }
          return true;
        },
        after));
    Catalog::Batch batch;
    // KEK pairs: every DEK goes into a NEW batch sealed to the target pair (never an old batch
    // key re-sealed, so an old copy of a deleted segment's record opens with no live key). The
    // batch closes with this catalog write; its record was written when it opened.
    SEALPOOL_ASSIGN_OR_RETURN(std::unique_ptr<KeyDictionary::DekBatcher> batcher,
                              p.keys->NewDekBatcher(group_no, target));
    for (auto& [key, record] : todo) {
      SEALPOOL_ASSIGN_OR_RETURN(
          crypto::Dek dek,
          p.keys->UnwrapDek(group_no, record.kek_id, record.batch_id, record.wrapped_dek));
      SEALPOOL_ASSIGN_OR_RETURN(KeyDictionary::WrappedDekResult wrapped, batcher->Wrap(dek));
      batch.Add(KekDekCountKey(group_no, record.kek_id), -1);
      batch.Add(KekDekCountKey(group_no, target), 1);
      record.kek_id = target;
      record.wrapped_dek = wrapped.wrapped;
      record.batch_id = wrapped.batch_id;
      batch.Put(Cf::kSegments, key, EncodeSegmentRecord(record));
    }
    if (!last.empty()) {
      batch.Put(Cf::kMeta, RewrapCursorKey(group_no), EncodeCursor(target, last));
      after = last;
    }
    if (!batch.empty()) SEALPOOL_RETURN_IF_ERROR(p.catalog->Write(batch));
    batcher->Close();
    report->deks_rewrapped += todo.size();
    if (!more) break;
  }
  Catalog::Batch done;
  done.Delete(Cf::kMeta, RewrapCursorKey(group_no));
  return p.catalog->Write(done);
}

absl::StatusOr<uint64_t> DropBatchRecordsBelow(Pool::Impl& p, uint32_t group_no,
                                               uint32_t target) {
  uint64_t dropped = 0;
  std::string after;
  while (true) {
    Catalog::Batch batch;
    size_t n = 0;
    bool more = false;
    std::string last;
    SEALPOOL_RETURN_IF_ERROR(p.catalog->Scan(
        Cf::kKeys, BatchRecordPrefix(group_no),
        [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
          if (n >= 1024) {
            more = true;
            return false;
          }
          last.assign(key);
          absl::StatusOr<BatchRecord> rec = BatchRecord::Decode(value);
          // A record that does not decode opens nothing either: it goes too.
          if (!rec.ok() || rec->kek_id < target) {
            batch.Delete(Cf::kKeys, key);
            ++n;
          }
          return true;
        },
        after));
    if (!batch.empty()) SEALPOOL_RETURN_IF_ERROR(p.catalog->Write(batch));
    dropped += n;
    if (!more) break;
    after = last;
  }
  return dropped;
}

absl::StatusOr<std::vector<uint32_t>> DropKeksOlderThan(Pool::Impl& p, uint32_t group_no,
                                                        std::string_view key_group,
                                                        uint32_t target) {
  // Under commit_mu no writer batch lands meanwhile, so the counts read are final for KEKs
  // that no new seal can use (the caller fenced the writers).
  absl::MutexLock commit(&p.commit_mu);
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<KekInfo> keks, p.keys->ListKeks(group_no));
  std::vector<std::string> busy;
  for (const KekInfo& k : keks) {
    if (k.kek_id >= target) continue;
    SEALPOOL_ASSIGN_OR_RETURN(int64_t n, p.catalog->GetCounter(KekDekCountKey(group_no, k.kek_id)));
    if (n != 0) busy.push_back(base::Cat("KEK ", k.kek_id, " (", n, " DEKs)"));
  }
  if (!busy.empty()) {
    return absl::FailedPreconditionError(base::Cat(
        "key group ", key_group, ": ", absl::StrJoin(busy, ", "),
        " still wrap live DEKs after the re-wrap; no KEK was dropped"));
  }
  std::vector<uint32_t> dropped;
  for (const KekInfo& k : keks) {
    if (k.kek_id >= target) continue;
    SEALPOOL_RETURN_IF_ERROR(p.keys->DropKek(group_no, k.kek_id));
    dropped.push_back(k.kek_id);
  }
  // KEK pairs: the DEK batches sealed to a dropped pair. No live segment names one (its DEK
  // count is 0 and the writers were fenced), so their records go too (docs/format.md "Catalog
  // format 4: DEK batches (issue 17)"). A failure leaves records nothing opens: run it again.
  if (!dropped.empty() && p.keys->GroupKekMode(group_no).value_or(KekMode::kSymmetric) ==
                              KekMode::kPublic) {
    SEALPOOL_RETURN_IF_ERROR(DropBatchRecordsBelow(p, group_no, target).status());
  }
  return dropped;
}

// ---- Issue 17: KEK pair checks for sealpoold ----

absl::StatusOr<KekMode> Pool::GroupKekMode(std::string_view key_group) const {
  SEALPOOL_ASSIGN_OR_RETURN(uint32_t group_no, impl_->FindGroupNo(key_group));
  return impl_->keys->GroupKekMode(group_no);
}

absl::Status Pool::VerifyKekPair(std::string_view key_group, uint32_t kek_id) {
  SEALPOOL_ASSIGN_OR_RETURN(uint32_t group_no, impl_->FindGroupNo(key_group));
  return impl_->keys->VerifyKekPair(group_no, kek_id);
}

absl::StatusOr<bool> Pool::FingerprintKeyWithoutKms(std::string_view key_group) const {
  SEALPOOL_ASSIGN_OR_RETURN(uint32_t group_no, impl_->FindGroupNo(key_group));
  return impl_->keys->FingerprintKeyWithoutKms(group_no);
}

}  // namespace sealpool::storage
