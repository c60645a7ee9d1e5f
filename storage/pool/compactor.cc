// Compaction: containers whose live bytes fell under a share of their size have their live
// records copied (as sealed, unchanged bytes: no key is needed) to the key group's open
// container, then the catalog points at the copies, then the old file goes.
//
// Crash safety, step by step: copies are appended and synced before any segment record points
// at them (a crash before leaves dead bytes in the new container); records are repointed in
// atomic batches (a crash between batches leaves some segments read from the old container,
// which is intact); the container is marked retired in the last batch and only then deleted
// (Open deletes a retired container whose deletion a crash interrupted).
//
// Concurrency: the maintenance lock is held for one container at a time, not for the run (the
// delete queue, re-wraps and index rebuilds run between containers; a cancel is seen there), so
// no reclaim or re-wrap changes a record while it is moved; each candidate is checked again
// under the lock. Writers never change existing records. A container still open for append, or
// holding a record not yet committed, is left alone. A reader that looked up the old location
// just before the file went finds the file gone and looks the record up again
// (Impl::ReadSegment).
#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "storage/pool/pool.h"
#include "storage/pool/pool_internal.h"

namespace sealpool::storage {
namespace {

struct Move {
  std::string key;
  SegmentRecord record;  // with the new location
  uint64_t old_container;
};

}  // namespace

absl::Status RemoveRetiredContainer(Pool::Impl& p, uint64_t id) {
  absl::Status s = p.containers->Remove(id);
  if (!s.ok() && !absl::IsNotFound(s)) return s;
  Catalog::Batch batch;
  batch.Delete(Cf::kContainers, ContainerKey(id));
  for (ContainerField f : {ContainerField::kWrittenBytes, ContainerField::kLiveBytes,
                           ContainerField::kLiveRecords}) {
    batch.Delete(Cf::kCounters, ContainerCounterKey(id, f));
  }
  p.NoteContainerRemoved(id);  // the file is gone: Stats no longer counts it
  return p.catalog->Write(batch);
}

namespace {

absl::Status CompactOne(Pool::Impl& p, uint64_t id, const ContainerRecord& container,
                        CompactionReport* report) {
  SEALPOOL_ASSIGN_OR_RETURN(GroupState group, p.FindGroup(container.group_no));
  SEALPOOL_ASSIGN_OR_RETURN(uint64_t size, p.containers->FileSize(id));
  SEALPOOL_ASSIGN_OR_RETURN(auto reader, p.containers->OpenReader(id));
  SEALPOOL_ASSIGN_OR_RETURN(ContainerScanner scanner, ContainerScanner::Create(reader.get()));
  std::vector<Move> moves;
  std::vector<StoredLocation> copies;
  std::vector<uint64_t> epochs;  // the seal epoch of each copy
  // Whatever happens, the copies stop counting as uncommitted when this returns: committed,
  // or dead bytes in their container.
  struct Forget {
    Pool::Impl& p;
    std::vector<StoredLocation>& copies;
    std::vector<uint64_t>& epochs;
    ~Forget() {
      for (size_t i = 0; i < copies.size(); ++i) {
        p.ForgetPendingRecord(copies[i].container_id, epochs[i]);
      }
    }
  } forget_on_return{p, copies, epochs};
  std::vector<uint8_t> stored;
  while (true) {
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<ScanItem> item, scanner.Next());
    if (!item.has_value()) break;
    if (!item->header.has_value()) continue;  // garbage between records: nothing live there
    const RecordHeader& h = *item->header;
    const std::string key = SegmentKey(container.group_no, h.segment_id);
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> value, p.catalog->Get(Cf::kSegments, key));
    if (!value.has_value()) continue;  // erased: dead
    SEALPOOL_ASSIGN_OR_RETURN(SegmentRecord record, DecodeSegmentRecord(*value));
    if (record.container_id != id || record.offset != item->location.offset) continue;  // a dead copy
    if (item->kind == ScanItem::Kind::kCorruption) {
      // A live record is damaged: copying it would spread the damage; keep the container.
      return base::Annotate(item->error, absl::StrCat("compaction of container ", id,
                                                      " stopped: segment ", h.segment_id.value(),
                                                      " is damaged"));
    }
    SEALPOOL_ASSIGN_OR_RETURN(RecordHeader read, reader->ReadRecord(item->location, &stored, h.segment_id));
    SealedSegment copy;
    copy.segment_id = read.segment_id;
    copy.fingerprint = read.fingerprint;
    copy.compression = read.compression;
    copy.plaintext_length = read.plaintext_length;
    copy.nonce = read.nonce;
    copy.tag = read.tag;
    copy.stored = stored;
    const uint64_t epoch = p.NoteSealStart();
    p.NoteAppendStart();
    absl::StatusOr<StoredLocation> where = p.containers->Append(group.record.group_id, copy);
    p.NoteAppendDone(where, epoch);
    if (!where.ok()) return where.status();
    record.container_id = where->container_id;
    record.offset = where->location.offset;
    record.record_length = static_cast<uint32_t>(where->location.length);
    copies.push_back(*where);
    epochs.push_back(epoch);
    moves.push_back({key, record, id});
    report->bytes_moved += where->location.length;
  }
  SEALPOOL_RETURN_IF_ERROR(p.containers->Sync(copies));
  // Repoint in batches; the last one retires the container.
  const size_t per_batch = std::max<size_t>(1, p.options.delete_batch);
  size_t i = 0;
  do {
    absl::MutexLock commit(&p.commit_mu);
    Catalog::Batch batch;
    std::vector<uint64_t> newly_recorded;
    const size_t batch_begin = i;
    const size_t end = std::min(moves.size(), i + per_batch);
    for (; i < end; ++i) {
      const Move& m = moves[i];
      batch.Put(Cf::kSegments, m.key, EncodeSegmentRecord(m.record));
      const auto len = static_cast<int64_t>(m.record.record_length);
      batch.Add(ContainerCounterKey(id, ContainerField::kLiveBytes), -len);
      batch.Add(ContainerCounterKey(id, ContainerField::kLiveRecords), -1);
      const uint64_t to = m.record.container_id;
      if (p.recorded_containers.insert(to).second) {
        newly_recorded.push_back(to);
        ContainerRecord c;
        c.group_no = container.group_no;
        c.created_unix_micros = ToMicros(p.options.clock());
        absl::StatusOr<uint64_t> to_size = p.ContainerSizeToRecord(to);
        if (!to_size.ok()) {
          for (uint64_t n : newly_recorded) p.recorded_containers.erase(n);
          return to_size.status();
        }
        c.size_bytes = *to_size;
        batch.Put(Cf::kContainers, ContainerKey(to), EncodeContainer(c));
      }
      batch.Add(ContainerCounterKey(to, ContainerField::kWrittenBytes), len);
      batch.Add(ContainerCounterKey(to, ContainerField::kLiveBytes), len);
      batch.Add(ContainerCounterKey(to, ContainerField::kLiveRecords), 1);
      ++report->records_moved;
    }
    if (i == moves.size()) {
      ContainerRecord retired = container;
      retired.state = ContainerRecord::State::kRetired;
      batch.Put(Cf::kContainers, ContainerKey(id), EncodeContainer(retired));
    }
    absl::Status s = p.catalog->Write(batch);
    if (!s.ok()) {
      for (uint64_t c : newly_recorded) p.recorded_containers.erase(c);
      return s;
    }
    for (size_t k = batch_begin; k < i; ++k) {
      const auto len = static_cast<int64_t>(moves[k].record.record_length);
      p.NoteLiveChange(id, -len, -1);
      p.NoteLiveChange(moves[k].record.container_id, len, 1);
    }
  } while (i < moves.size());
  if (!p.keep_retired_until_backup.load()) SEALPOOL_RETURN_IF_ERROR(RemoveRetiredContainer(p, id));
  ++report->containers_compacted;
  report->bytes_reclaimed += size;
  return absl::OkStatus();
}

}  // namespace

namespace {

// Whether container `id` is (still) one to compact: settled, active, under the threshold.
// Returns its record then.
absl::StatusOr<std::optional<ContainerRecord>> Candidate(Pool::Impl& p, uint64_t id,
                                                         double threshold) {
  if (p.containers->IsOpenForAppend(id)) return std::nullopt;
  SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> value,
                            p.catalog->Get(Cf::kContainers, ContainerKey(id)));
  if (!value.has_value()) return std::nullopt;  // nothing committed in it, or removed meanwhile
  SEALPOOL_ASSIGN_OR_RETURN(ContainerRecord record, DecodeContainer(*value));
  if (record.state != ContainerRecord::State::kActive) return std::nullopt;
  absl::StatusOr<uint64_t> size = p.containers->FileSize(id);
  if (absl::IsNotFound(size.status())) return std::nullopt;
  if (!size.ok()) return size.status();
  SEALPOOL_ASSIGN_OR_RETURN(int64_t live, p.catalog->GetCounter(
                                              ContainerCounterKey(id, ContainerField::kLiveBytes)));
  if (static_cast<double>(std::max<int64_t>(live, 0)) >= threshold * static_cast<double>(*size)) {
    return std::nullopt;
  }
  return record;
}

}  // namespace

absl::StatusOr<CompactionReport> Pool::Compact(const CompactOptions& options) {
  Impl& p = *impl_;
  const double threshold = options.live_threshold.value_or(p.options.compaction_live_threshold);
  if (!(threshold >= 0.0 && threshold <= 1.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("compaction threshold ", threshold, " is not within [0, 1]"));
  }
  CompactionReport report;
  // The candidates when the run begins (no lock: each is checked again under the lock).
  std::vector<uint64_t> candidates;
  std::vector<uint64_t> retired;
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint64_t> files, p.containers->List());
  for (uint64_t id : files) {
    if (p.containers->IsOpenForAppend(id)) continue;
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> value,
                              p.catalog->Get(Cf::kContainers, ContainerKey(id)));
    if (!value.has_value()) continue;  // nothing committed in it (removed at the next Open)
    SEALPOOL_ASSIGN_OR_RETURN(ContainerRecord record, DecodeContainer(*value));
    if (record.state == ContainerRecord::State::kRetired) {
      retired.push_back(id);
      continue;
    }
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<ContainerRecord> candidate,
                              Candidate(p, id, threshold));
    if (candidate.has_value()) candidates.push_back(id);
  }
  // Retired containers whose removal a crash interrupted (or that waited for a backup).
  if (!retired.empty() && !p.keep_retired_until_backup.load()) {
    absl::MutexLock maintenance(&p.maintenance_mu);
    for (uint64_t id : retired) {
      if (p.keep_retired_until_backup.load()) break;
      SEALPOOL_RETURN_IF_ERROR(RemoveRetiredContainer(p, id));
    }
  }
  CompactionProgress progress;
  progress.containers_total = candidates.size();
  for (uint64_t id : candidates) {
    if (options.cancel != nullptr && options.cancel->load()) {
      report.cancelled = true;
      break;
    }
    if (report.containers_compacted >= options.max_containers) break;
    {
      // One container at a time: the delete queue, re-wraps and index rebuilds interleave.
      absl::MutexLock maintenance(&p.maintenance_mu);
      SEALPOOL_ASSIGN_OR_RETURN(std::optional<ContainerRecord> record,
                                Candidate(p, id, threshold));
      // Gone, retired or refilled meanwhile (another run), or a write still has an
      // uncommitted record in it: skipped.
      if (record.has_value() && p.ContainerSettled(id)) {
        SEALPOOL_RETURN_IF_ERROR(CompactOne(p, id, *record, &report));
      }
    }
    ++progress.containers_done;
    progress.bytes_moved = report.bytes_moved;
    progress.bytes_reclaimed = report.bytes_reclaimed;
    if (options.progress) options.progress(progress);
  }
  return report;
}

}  // namespace sealpool::storage
