// The delete queue: crash-safe, idempotent, in bounded batches.
//
// kImageReferences (a deleted image, or a write that never committed): each batch drops one
// reference per recipe extent and deletes those extents (then the image's client digests), in one atomic catalog batch together
// with the job's new position, so a crash repeats nothing and loses nothing. A segment whose
// count may have reached zero gets a kReclaimSegment job in the same batch.
//
// kReclaimSegment: under the segment's stripe lock, a segment with no reference that no running
// write pins loses its record (with its wrapped DEK: from now on it can never be decrypted
// through this catalog) and its fingerprint index entry; its container bytes become dead space
// for compaction. A pinned one is left for a later run.
//
// Jobs run one at a time (maintenance_mu); writers only ever add references, so the counts
// this code reads can only be too high, never too low, when a batch is written.
#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "storage/pool/pool.h"
#include "storage/pool/pool_internal.h"

namespace sealpool::storage {
namespace {

// One batch of a kImageReferences job. Returns whether the job is finished.
absl::StatusOr<bool> DropImageReferences(Pool::Impl& p, uint64_t seq, const DeleteJob& job,
                                         DeleteQueueReport* report) {
  std::vector<std::pair<std::string, RecipeExtent>> extents;
  bool more = false;
  SEALPOOL_RETURN_IF_ERROR(p.catalog->Scan(
      Cf::kRecipes, RecipePrefix(job.image_id),
      [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
        if (extents.size() >= p.options.delete_batch) {
          more = true;
          return false;
        }
        absl::StatusOr<RecipeExtent> extent = DecodeRecipeExtent(value);
        if (!extent.ok()) {
          // A damaged entry cannot tell which reference to drop: leave the job for an
          // operator instead of guessing (nothing is erased wrongly; space stays used).
          return base::Annotate(extent.status(),
                                absl::StrCat("delete queue: recipe of image #", job.image_id));
        }
        extents.emplace_back(std::string(key), *extent);
        return true;
      }));
  // Decrements per segment in this batch, and what is left after them.
  std::map<uint64_t, int64_t> drops;
  for (const auto& [key, extent] : extents) ++drops[extent.segment_id.value()];
  Catalog::Batch batch;
  for (const auto& [key, extent] : extents) {
    batch.Delete(Cf::kRecipes, key);
    batch.Add(RefcountKey(job.group_no, extent.segment_id), -1);
  }
  for (const auto& [id, n] : drops) {
    SEALPOOL_ASSIGN_OR_RETURN(int64_t count,
                              p.catalog->GetCounter(RefcountKey(job.group_no, crypto::SegmentId(id))));
    if (count - n <= 0) {
      SEALPOOL_ASSIGN_OR_RETURN(uint64_t reclaim_seq, p.delete_seq->Next());
      DeleteJob reclaim;
      reclaim.kind = DeleteJob::Kind::kReclaimSegment;
      reclaim.group_no = job.group_no;
      reclaim.segment_id = crypto::SegmentId(id);
      batch.Put(Cf::kDeleteQueue, DeleteQueueKey(reclaim_seq), EncodeDeleteJob(reclaim));
      batch.Add(PoolCounterKey(kDeleteJobsCounter), 1);
    }
  }
  // Once the recipe is gone, the image's client digests (client-side writes) go too, in the
  // room this batch has left: a job ends only when both are.
  if (!more) {
    const size_t room = p.options.delete_batch > extents.size()
                            ? p.options.delete_batch - extents.size() : 0;
    size_t digests = 0;
    SEALPOOL_RETURN_IF_ERROR(p.catalog->Scan(
        Cf::kClientDigests, ClientDigestPrefix(job.image_id),
        [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
          if (digests >= room) {
            more = true;
            return false;
          }
          batch.Delete(Cf::kClientDigests, key);
          ++digests;
          return true;
        }));
  }
  // Extents are deleted as they are handled, so the job itself needs no cursor: the next batch
  // starts at the first extent left.
  if (!more) {
    batch.Delete(Cf::kDeleteQueue, DeleteQueueKey(seq));
    batch.Add(PoolCounterKey(kDeleteJobsCounter), -1);
  }
  SEALPOOL_RETURN_IF_ERROR(p.catalog->Write(batch));
  report->references_dropped += extents.size();
  return !more;
}

// A kReclaimSegment job. Returns whether the job is finished (false: the segment is busy).
absl::StatusOr<bool> ReclaimSegment(Pool::Impl& p, uint64_t seq, const DeleteJob& job,
                                    DeleteQueueReport* report) {
  const std::string key = SegmentKey(job.group_no, job.segment_id);
  SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> value, p.catalog->Get(Cf::kSegments, key));
  Catalog::Batch batch;
  batch.Delete(Cf::kDeleteQueue, DeleteQueueKey(seq));
  batch.Add(PoolCounterKey(kDeleteJobsCounter), -1);
  if (!value.has_value()) {
    // Erased already (a repeated job) or never committed (a write that died before it did).
    SEALPOOL_RETURN_IF_ERROR(p.catalog->Write(batch));
    return true;
  }
  absl::StatusOr<SegmentRecord> record = DecodeSegmentRecord(*value);
  if (!record.ok()) {
    return base::Annotate(record.status(), absl::StrCat("delete queue: segment ",
                                                        job.segment_id.value()));
  }
  Stripe& st = p.StripeOf(record->fingerprint);
  absl::MutexLock lock(&st.mu);
  if (st.pins.contains({job.group_no, job.segment_id.value()})) {
    ++report->segments_kept_busy;
    return false;
  }
  SEALPOOL_ASSIGN_OR_RETURN(int64_t count,
                            p.catalog->GetCounter(RefcountKey(job.group_no, job.segment_id)));
  if (count <= 0) {
    batch.Delete(Cf::kSegments, key);
    const std::string index_key = FingerprintIndexKey(job.group_no, record->fingerprint);
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> indexed,
                              p.catalog->Get(Cf::kFingerprints, index_key));
    if (indexed.has_value() && *indexed == EncodeU64(job.segment_id.value())) {
      batch.Delete(Cf::kFingerprints, index_key);
    }
    batch.Delete(Cf::kCounters, RefcountKey(job.group_no, job.segment_id));
    const auto len = static_cast<int64_t>(record->record_length);
    batch.Add(ContainerCounterKey(record->container_id, ContainerField::kLiveBytes), -len);
    batch.Add(ContainerCounterKey(record->container_id, ContainerField::kLiveRecords), -1);
    batch.Add(KekDekCountKey(job.group_no, record->kek_id), -1);
    batch.Add(PoolCounterKey("segments"), -1);
    batch.Add(PoolCounterKey("stored_bytes"), -len);
    SEALPOOL_RETURN_IF_ERROR(p.catalog->Write(batch));
    p.NoteLiveChange(record->container_id, -len, -1);
    ++report->segments_erased;
    return true;
  }
  SEALPOOL_RETURN_IF_ERROR(p.catalog->Write(batch));
  return true;
}

}  // namespace

absl::StatusOr<DeleteQueueReport> Pool::ProcessDeleteQueue(uint64_t max_jobs) {
  absl::MutexLock maintenance(&impl_->maintenance_mu);
  return RunDeleteQueue(*impl_, max_jobs);
}

absl::StatusOr<DeleteQueueReport> RunDeleteQueue(Pool::Impl& p, uint64_t max_jobs) {
  DeleteQueueReport report;
  uint64_t busy = 0;  // jobs skipped in this run (held or pinned)
  std::string after;
  while (report.jobs_done < max_jobs) {
    // The next job after the ones skipped in this run.
    std::optional<std::pair<uint64_t, DeleteJob>> next;
    SEALPOOL_RETURN_IF_ERROR(p.catalog->Scan(
        Cf::kDeleteQueue, "",
        [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
          SEALPOOL_ASSIGN_OR_RETURN(uint64_t seq, DecodeDeleteQueueKey(key));
          absl::StatusOr<DeleteJob> job = DecodeDeleteJob(value);
          if (!job.ok()) {
            return base::Annotate(job.status(), absl::StrCat("delete queue job ", seq));
          }
          next.emplace(seq, *job);
          return false;
        },
        after));
    if (!next.has_value()) break;
    const auto& [seq, job] = *next;
    after = DeleteQueueKey(seq);
    bool finished = false;
    if (job.kind == DeleteJob::Kind::kImageReferences) {
      bool held;
      {
        absl::MutexLock lock(&p.meta_mu);
        held = p.active_images.contains(job.image_id);
      }
      if (held) {
        ++busy;
        continue;
      }
      // The scan saw the job before a writer committed its image (the commit deletes the held
      // job, then the writer leaves active_images): look again now that it is not held, or the
      // queue would drop the references of a committed image.
      SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> still,
                                p.catalog->Get(Cf::kDeleteQueue, DeleteQueueKey(seq)));
      if (!still.has_value()) continue;
      // A long recipe takes several batches; stay on this job until it is done.
      do {
        SEALPOOL_ASSIGN_OR_RETURN(finished, DropImageReferences(p, seq, job, &report));
      } while (!finished);
    } else {
      SEALPOOL_ASSIGN_OR_RETURN(finished, ReclaimSegment(p, seq, job, &report));
      if (!finished) {
        ++busy;
        continue;
      }
    }
    ++report.jobs_done;
  }
  // What is left, for the report.
  SEALPOOL_RETURN_IF_ERROR(p.catalog->Scan(
      Cf::kDeleteQueue, "", [&](std::string_view, std::string_view) -> absl::StatusOr<bool> {
        ++report.jobs_left;
        return true;
      }));
  (void)busy;
  return report;
}

}  // namespace sealpool::storage
