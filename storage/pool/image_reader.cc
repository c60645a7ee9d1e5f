// Reading images back (whole or a byte range), stat, list, delete and verify. Every segment is
// authenticated (GCM, associated data binding segment id, fingerprint and lengths) before a
// byte of it reaches the sink; the recipe digest is checked before the first byte; a whole-image
// read also checks the content digest (which catches extents swapped inside the catalog).
#include <algorithm>
#include <deque>
#include <memory>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "crypto/fingerprint.h"
#include "storage/pool/pool.h"
#include "storage/pool/pool_internal.h"
#include "storage/store/segment_codec.h"

namespace sealpool::storage {
namespace {

std::string SegmentLabel(crypto::SegmentId id) { return absl::StrCat("segment ", id.value()); }

struct ExtentRef {
  uint64_t offset;
  RecipeExtent extent;
};

}  // namespace

absl::Status Pool::Impl::ReadSegment(uint32_t group_no, const Id128& group_id, crypto::SegmentId id,
                                     std::string_view context, std::vector<uint8_t>* plaintext,
                                     SegmentRecord* record_out) const {
  const std::string where_text = absl::StrCat(base::AbslView(context), ": ", SegmentLabel(id));
  // Two races make the record read first stale, each at most once per read: compaction moved
  // the segment (its old container is gone: NotFound from the container), or a purge re-wrapped
  // its DEK and dropped the old KEK (NotFound from the key dictionary). Both are answered by
  // reading the segment record again.
  bool moved_retry = false;
  bool kek_retry = false;
  for (;;) {
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> value,
                              catalog->Get(Cf::kSegments, SegmentKey(group_no, id)));
    if (!value.has_value()) {
      return absl::DataLossError(
          absl::StrCat(where_text, " is not in the catalog (its key was erased or lost)"));
    }
    absl::StatusOr<SegmentRecord> record = DecodeSegmentRecord(*value);
    if (!record.ok()) return base::Annotate(record.status(), where_text);
    const StoredLocation where{record->container_id,
                               {record->offset, record->record_length}};
    std::vector<uint8_t> stored;
    absl::StatusOr<RecordHeader> header = containers->Read(where, &stored, id);
    if (absl::IsNotFound(header.status()) && !moved_retry) {  // moved by compaction
      moved_retry = true;
      continue;
    }
    if (!header.ok()) {
      return base::Annotate(header.status(),
                            absl::StrCat(where_text, " in container ", record->container_id,
                                         " at offset ", record->offset));
    }
    if (header->fingerprint != record->fingerprint ||
        header->plaintext_length != record->plaintext_length ||
        header->stored_length != record->stored_length ||
        header->compression != record->compression) {
      return absl::DataLossError(absl::StrCat(where_text, " in container ", record->container_id,
                                              " at offset ", record->offset,
                                              ": the container record does not match the catalog"));
    }
    absl::StatusOr<crypto::Dek> dek = keys->UnwrapDek(group_no, record->kek_id, record->batch_id,
                                                    record->wrapped_dek);
    if (absl::IsNotFound(dek.status())) {
      if (!kek_retry) {  // re-wrapped under a newer KEK and the old one dropped meanwhile
        kek_retry = true;
        continue;
      }
      // Still under a KEK the key dictionary does not have: the catalog is damaged (a purge
      // never drops a KEK that wraps a live DEK). Never NotFound: that would read as "no such
      // image" to a caller.
      return absl::DataLossError(absl::StrCat(where_text, ": its DEK is wrapped under KEK ",
                                              record->kek_id, ", which the key group does not "
                                              "have (", dek.status().message(), ")"));
    }
    if (!dek.ok()) {
      return base::Annotate(dek.status(), absl::StrCat(where_text, ": unwrapping its DEK (KEK ",
                                                       record->kek_id, ")"));
    }
    absl::Status s = DecodeSegment(*dek, group_id, *header, stored, plaintext);
    if (!s.ok()) {
      return base::Annotate(s, absl::StrCat(where_text, " in container ", record->container_id,
                                            " at offset ", record->offset));
    }
    if (record_out != nullptr) *record_out = *record;
    return absl::OkStatus();
  }
}

absl::StatusOr<crypto::ImageDigestValue> Pool::Impl::RecipeDigest(
    const ImageRecord& image, const crypto::ImageDigester& d) const {
  const std::string label = ImageLabel(image);
  SEALPOOL_ASSIGN_OR_RETURN(crypto::ImageDigestStream stream, d.Begin());
  SEALPOOL_RETURN_IF_ERROR(stream.UpdateU64(image.image_id));
  uint64_t expected_offset = 0;
  uint64_t count = 0;
  SEALPOOL_RETURN_IF_ERROR(catalog->Scan(
      Cf::kRecipes, RecipePrefix(image.image_id),
      [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
        absl::StatusOr<uint64_t> offset = DecodeRecipeKeyOffset(key, image.image_id);
        if (!offset.ok()) return base::Annotate(offset.status(), label);
        absl::StatusOr<RecipeExtent> extent = DecodeRecipeExtent(value);
        if (!extent.ok()) {
          return base::Annotate(extent.status(),
                                absl::StrCat(label, ": recipe entry at offset ", *offset));
        }
        if (*offset != expected_offset) {
          return absl::DataLossError(absl::StrCat(label, ": recipe entry at offset ", *offset,
                                                  " where ", expected_offset, " was expected"));
        }
        SEALPOOL_RETURN_IF_ERROR(stream.UpdateU64(*offset));
        SEALPOOL_RETURN_IF_ERROR(stream.UpdateU64(extent->segment_id.value()));
        SEALPOOL_RETURN_IF_ERROR(stream.UpdateU64(extent->length));
        expected_offset += extent->length;
        ++count;
        return true;
      }));
  if (count != image.extent_count || expected_offset != image.size) {
    return absl::DataLossError(absl::StrCat(label, ": the recipe holds ", count, " extents and ",
                                            expected_offset, " bytes; the image record says ",
                                            image.extent_count, " and ", image.size));
  }
  SEALPOOL_RETURN_IF_ERROR(stream.UpdateU64(count));
  SEALPOOL_RETURN_IF_ERROR(stream.UpdateU64(expected_offset));
  return stream.Final();
}

namespace {

// How many segments a read decodes ahead of the one it hands to its sink.
constexpr size_t kReadAheadSegments = 8;

// Segments of one read, in recipe order, each read and decoded by a job on the pool's worker
// threads (Impl::ReadSegment, which is thread-safe). The destructor waits for every job it
// submitted, so a read that stops early (an error, a sink that refuses) leaves none running.
class ReadAhead {
 public:
  struct Decoded {
    bool done = false;  // guarded by ReadAhead::mu_
    absl::Status status;
    std::vector<uint8_t> plaintext;
    SegmentRecord record;
  };
  struct Pending {
    uint64_t at;
    RecipeExtent extent;
    std::unique_ptr<Decoded> decoded;
  };

  ReadAhead(const Pool::Impl& p, uint32_t group_no, const Id128& group_id, std::string label)
      : p_(p), group_no_(group_no), group_id_(group_id), label_(std::move(label)) {}
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;
  ~ReadAhead() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](int* n) { return *n == 0; }, &running_));
  }

  size_t size() const { return pending_.size(); }
  Pending& Front() { return pending_.front(); }
  void PopFront() { pending_.pop_front(); }

  void Push(uint64_t at, const RecipeExtent& extent) {
    pending_.push_back(Pending{at, extent, std::make_unique<Decoded>()});
    Decoded* d = pending_.back().decoded.get();
    {
      absl::MutexLock lock(&mu_);
      ++running_;
    }
    p_.seal_workers->Submit([this, d, at, id = extent.segment_id] {
      const std::string context = absl::StrCat(label_, " at offset ", at);
      absl::Status s = p_.ReadSegment(group_no_, group_id_, id, context, &d->plaintext, &d->record);
      absl::MutexLock lock(&mu_);
      d->status = std::move(s);
      d->done = true;
      --running_;
    });
  }

  const Decoded& Wait(const Pending& pending) {
    Decoded* d = pending.decoded.get();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&d->done));
    return *d;
  }

 private:
  const Pool::Impl& p_;
  const uint32_t group_no_;
  const Id128 group_id_;
  const std::string label_;
  std::deque<Pending> pending_;  // the reading thread's only
  absl::Mutex mu_;
  int running_ ABSL_GUARDED_BY(mu_) = 0;
};

// The read shared by ReadImage and Verify. `fingerprinter` (optional) re-fingerprints every
// segment's plaintext and compares it with the authenticated fingerprint.
absl::Status ReadImpl(const Pool::Impl& p, const ImageRecord& image, uint64_t offset,
                      uint64_t length, ReadSink sink, const crypto::Fingerprinter* fingerprinter,
                      uint64_t* segments_read) {
  const std::string label = ImageLabel(image);
  if (offset > image.size || length > image.size - offset) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": range [", offset, ", +", length,
                                                   ") is past its end (", image.size,
                                                   " bytes)"));
  }
  SEALPOOL_ASSIGN_OR_RETURN(GroupState group, p.FindGroup(image.group_no));
  SEALPOOL_ASSIGN_OR_RETURN(ImageDigesters digesters, p.Digesters(image.group_no));
  // The identity first (cheap), then the recipe it is chained to: both before the first byte.
  SEALPOOL_RETURN_IF_ERROR(p.CheckIdentity(image));
  SEALPOOL_ASSIGN_OR_RETURN(crypto::ImageDigestValue recipe,
                            p.RecipeDigest(image, *digesters.recipe));
  if (!crypto::DigestEquals(recipe, image.recipe_digest)) {
    return absl::DataLossError(
        absl::StrCat(label, ": the recipe does not match its digest (catalog damaged or altered)"));
  }
  if (length == 0) return absl::OkStatus();
  const bool whole = offset == 0 && length == image.size;
  std::optional<crypto::ImageDigestStream> content;
  if (whole) {
    SEALPOOL_ASSIGN_OR_RETURN(crypto::ImageDigestStream s, digesters.content->Begin());
    content.emplace(std::move(s));
  }
  const uint64_t end = offset + length;
  // Up to kReadAheadSegments segments are read, authenticated and decoded on the pool's worker
  // threads ahead of the one this thread checks and hands to the sink, in recipe order.
  ReadAhead ahead(p, image.group_no, group.record.group_id, label);
  auto consume = [&]() -> absl::Status {
    ReadAhead::Pending& front = ahead.Front();
    const uint64_t at = front.at;
    const RecipeExtent& extent = front.extent;
    const ReadAhead::Decoded& d = ahead.Wait(front);
    SEALPOOL_RETURN_IF_ERROR(d.status);
    const std::string context = absl::StrCat(label, " at offset ", at);
    const std::vector<uint8_t>& plaintext = d.plaintext;
    const SegmentRecord& record = d.record;
    if (plaintext.size() != extent.length) {
      return absl::DataLossError(absl::StrCat(context, ": ", SegmentLabel(extent.segment_id),
                                              " has ", plaintext.size(),
                                              " bytes; the recipe says ", extent.length));
    }
    if (fingerprinter != nullptr) {
      SEALPOOL_ASSIGN_OR_RETURN(crypto::Fingerprint fp, fingerprinter->Compute(plaintext));
      if (fp != record.fingerprint) {
        return absl::DataLossError(absl::StrCat(context, ": ", SegmentLabel(extent.segment_id),
                                                ": its plaintext does not match its fingerprint"));
      }
    }
    if (content.has_value()) {
      SEALPOOL_RETURN_IF_ERROR(content->UpdateU64(extent.length));
      SEALPOOL_RETURN_IF_ERROR(content->Update(record.fingerprint.bytes()));
    }
    if (segments_read != nullptr) ++*segments_read;
    const uint64_t from = std::max(offset, at) - at;
    const uint64_t to = std::min<uint64_t>(end, at + extent.length) - at;
    SEALPOOL_RETURN_IF_ERROR(sink(std::span<const uint8_t>(plaintext).subspan(from, to - from)));
    ahead.PopFront();
    return absl::OkStatus();
  };
  SEALPOOL_RETURN_IF_ERROR(p.catalog->Scan(
      Cf::kRecipes, RecipePrefix(image.image_id),
      [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
        SEALPOOL_ASSIGN_OR_RETURN(uint64_t at, DecodeRecipeKeyOffset(key, image.image_id));
        SEALPOOL_ASSIGN_OR_RETURN(RecipeExtent extent, DecodeRecipeExtent(value));
        if (at >= end) return false;
        if (at + extent.length <= offset) return true;
        if (ahead.size() >= kReadAheadSegments) SEALPOOL_RETURN_IF_ERROR(consume());
        ahead.Push(at, extent);
        return true;
      }));
  while (ahead.size() > 0) SEALPOOL_RETURN_IF_ERROR(consume());
  if (content.has_value()) {
    SEALPOOL_ASSIGN_OR_RETURN(crypto::ImageDigestValue got, content->Final());
    if (!crypto::DigestEquals(got, image.content_digest)) {
      return absl::DataLossError(
          absl::StrCat(label, ": the content does not match its digest"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Pool::ReadImage(const ImageKey& key, uint64_t offset, uint64_t length,
                             ReadSink sink) const {
  SEALPOOL_ASSIGN_OR_RETURN(ImageRecord image, impl_->FindImage(key));
  absl::Status s = ReadImpl(*impl_, image, offset, length, sink, nullptr, nullptr);
  if (absl::IsDataLoss(s)) {
    // Deleted (or given to another owner) while we read it? Then say so rather than report
    // damage.
    absl::StatusOr<std::optional<ImageRecord>> again = impl_->LookupImage(key);
    if (again.ok() && (!again->has_value() || (*again)->image_id != image.image_id)) {
      return absl::NotFoundError(absl::StrCat(ImageLabel(key), " was deleted during the read"));
    }
  }
  return s;
}

absl::StatusOr<ImageInfo> Pool::StatImage(const ImageKey& key) const {
  SEALPOOL_ASSIGN_OR_RETURN(ImageRecord image, impl_->FindImage(key));
  return impl_->ToInfo(image);
}

namespace {

// The committed images whose name index entries start with `prefix`, in key order. A damaged
// entry or record is DataLoss, or, with `problems`, noted there and skipped. With `problems`
// (Verify) the identity digest of each is checked too, which needs the group's fingerprint
// key; a listing (no `problems`) needs no key and shows the records as they are.
absl::StatusOr<std::vector<ImageRecord>> ImagesUnder(const Pool::Impl& p, std::string_view lsu,
                                                     const std::string& prefix,
                                                     std::vector<std::string>* problems = nullptr) {
  std::vector<std::pair<std::string, uint64_t>> ids;
  SEALPOOL_RETURN_IF_ERROR(p.catalog->Scan(
      Cf::kImages, prefix, [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
        SEALPOOL_ASSIGN_OR_RETURN(uint64_t id, DecodeU64(value, "image name index"));
        ids.emplace_back(std::string(key), id);
        return true;
      }));
  std::vector<ImageRecord> out;
  for (const auto& [key, id] : ids) {
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> value,
                              p.catalog->Get(Cf::kImages, ImageRecordKey(id)));
    if (!value.has_value()) continue;  // deleted meanwhile
    absl::StatusOr<ImageRecord> record = DecodeImage(*value);
    absl::Status s = record.status();
    if (s.ok() && ImageNameKey(record->lsu, record->owner, record->name) != key) {
      // Reassigned since the scan: then the entry it was found under is gone.
      SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> now, p.catalog->Get(Cf::kImages, key));
      if (!now.has_value() || *now != EncodeU64(id)) continue;
      s = absl::DataLossError(absl::StrCat(ImageLabel(*record), ": its name index entry names "
                                           "another image"));
    }
    if (s.ok() && problems != nullptr) s = p.CheckIdentity(*record);
    if (!s.ok()) {
      if (absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) return s;  // KMS: not damage
      s = base::Annotate(s, absl::StrCat("image #", id, " of LSU ",
                                         absl::CHexEscape(base::AbslView(lsu))));
      if (problems == nullptr) return s;
      problems->push_back(std::string(s.message()));
      continue;
    }
    out.push_back(*std::move(record));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<ImageInfo>> Pool::ListImages(
    std::string_view lsu, std::optional<std::string_view> owner) const {
  SEALPOOL_RETURN_IF_ERROR(impl_->FindLsu(lsu).status());
  if (owner.has_value()) SEALPOOL_RETURN_IF_ERROR(ValidateOwner(*owner));
  const std::string prefix =
      owner.has_value() ? ImageOwnerPrefix(lsu, *owner) : ImageNamePrefix(lsu);
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<ImageRecord> records, ImagesUnder(*impl_, lsu, prefix));
  std::vector<ImageInfo> out;
  out.reserve(records.size());
  for (const ImageRecord& record : records) {
    // The index and the record agree (else a damaged catalog could show another owner's).
    if (record.lsu != lsu || (owner.has_value() && record.owner != *owner)) continue;
    out.push_back(impl_->ToInfo(record));
  }
  return out;
}

absl::Status Pool::DeleteImage(const ImageKey& key, DeleteBy by) {
  Impl& p = *impl_;
  SEALPOOL_ASSIGN_OR_RETURN(LsuRecord lsu_record, p.FindLsu(key.lsu));
  if (by == DeleteBy::kClient && !lsu_record.allow_client_delete) {
    return absl::FailedPreconditionError(absl::StrCat(
        "LSU ", absl::CHexEscape(key.lsu),
        " does not allow clients to delete images; an administrator must"));
  }
  // commit_mu: two deletes of one image must not both queue its references.
  absl::MutexLock commit(&p.commit_mu);
  SEALPOOL_ASSIGN_OR_RETURN(ImageRecord image, p.FindImage(key));
  if (image.retain_until_unix_micros != 0 &&
      p.options.clock() < FromMicros(image.retain_until_unix_micros)) {
    return absl::FailedPreconditionError(absl::StrCat(
        ImageLabel(key), " is retained until ",
        absl::FormatTime(FromMicros(image.retain_until_unix_micros), absl::UTCTimeZone())));
  }
  SEALPOOL_ASSIGN_OR_RETURN(uint64_t seq, p.delete_seq->Next());
  DeleteJob job;
  job.kind = DeleteJob::Kind::kImageReferences;
  job.group_no = image.group_no;
  job.image_id = image.image_id;
  Catalog::Batch batch;
  batch.Delete(Cf::kImages, ImageRecordKey(image.image_id));
  batch.Delete(Cf::kImages, ImageNameKey(key.lsu, key.owner, key.name));
  batch.Put(Cf::kDeleteQueue, DeleteQueueKey(seq), EncodeDeleteJob(job));
  batch.Add(PoolCounterKey(kDeleteJobsCounter), 1);
  batch.Add(PoolCounterKey("images"), -1);
  batch.Add(PoolCounterKey("logical_bytes"), -static_cast<int64_t>(image.size));
  batch.Add(OwnerBytesKey(key.lsu, key.owner), -static_cast<int64_t>(image.size));
  return p.catalog->Write(batch);
}

absl::Status Pool::ExtendRetention(const ImageKey& key, absl::Time retain_until) {
  Impl& p = *impl_;
  SEALPOOL_ASSIGN_OR_RETURN(LsuRecord lsu, p.FindLsu(key.lsu));
  // Before commit_mu: the first call of a group may ask the KMS for the fingerprint key.
  SEALPOOL_RETURN_IF_ERROR(p.Digesters(lsu.group_no).status());
  absl::MutexLock commit(&p.commit_mu);  // against a delete or reassign of the same image
  // FindImage checks the identity digest: a tampered record is refused, never re-signed.
  SEALPOOL_ASSIGN_OR_RETURN(ImageRecord image, p.FindImage(key));
  const absl::Time now_until = image.retain_until_unix_micros == 0
                                   ? absl::InfinitePast()
                                   : FromMicros(image.retain_until_unix_micros);
  const absl::TimeZone utc = absl::UTCTimeZone();
  if (retain_until < now_until) {
    return absl::FailedPreconditionError(absl::StrCat(
        ImageLabel(key), " is retained until ", absl::FormatTime(now_until, utc),
        "; a retention may only be lengthened, not shortened to ",
        absl::FormatTime(retain_until, utc)));
  }
  const absl::Time now = p.options.clock();
  const absl::Time limit = now + absl::Microseconds(static_cast<int64_t>(lsu.max_retention_micros));
  if (retain_until > limit) {
    return absl::InvalidArgumentError(absl::StrCat(
        ImageLabel(key), ": retention until ", absl::FormatTime(retain_until, utc),
        " is past the longest LSU ", absl::CHexEscape(key.lsu), " allows (",
        absl::FormatTime(limit, utc), ")"));
  }
  const uint64_t micros = ToMicros(retain_until);
  if (micros == image.retain_until_unix_micros) return absl::OkStatus();
  image.retain_until_unix_micros = micros;
  SEALPOOL_ASSIGN_OR_RETURN(image.identity_digest, p.IdentityDigest(image));
  Catalog::Batch batch;
  batch.Put(Cf::kImages, ImageRecordKey(image.image_id), EncodeImage(image));
  return p.catalog->Write(batch);
}

absl::Status Pool::ReassignOwner(const ImageKey& key, std::string_view new_owner) {
  SEALPOOL_RETURN_IF_ERROR(ValidateOwner(new_owner));
  Impl& p = *impl_;
  SEALPOOL_ASSIGN_OR_RETURN(LsuRecord lsu, p.FindLsu(key.lsu));
  // Before commit_mu: the first call of a group may ask the KMS for the fingerprint key.
  SEALPOOL_RETURN_IF_ERROR(p.Digesters(lsu.group_no).status());
  absl::MutexLock commit(&p.commit_mu);  // against a delete, extend or reassign of it
  // FindImage checks the identity digest: a tampered record is refused, never re-signed.
  SEALPOOL_ASSIGN_OR_RETURN(ImageRecord image, p.FindImage(key));
  if (new_owner == key.owner) return absl::OkStatus();
  const ImageKey target{key.lsu, std::string(new_owner), key.name};
  // Reserve the new name like a writer does, then check the catalog: a BeginImage of that name
  // either sees the reservation or (it reserves first) makes this fail.
  {
    absl::MutexLock lock(&p.meta_mu);
    if (!p.names_in_progress.insert({target.lsu, target.owner, target.name}).second) {
      return absl::AlreadyExistsError(
          absl::StrCat(ImageLabel(target), " is being written by another stream"));
    }
  }
  absl::Status s = [&]() -> absl::Status {
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<ImageRecord> taken, p.LookupImage(target));
    if (taken.has_value()) {
      return absl::AlreadyExistsError(absl::StrCat(ImageLabel(target), " exists already"));
    }
    ImageRecord moved = image;
    moved.owner = target.owner;
    SEALPOOL_ASSIGN_OR_RETURN(moved.identity_digest, p.IdentityDigest(moved));
    const auto size = static_cast<int64_t>(image.size);
    Catalog::Batch batch;
    batch.Delete(Cf::kImages, ImageNameKey(key.lsu, key.owner, key.name));
    batch.Put(Cf::kImages, ImageNameKey(target.lsu, target.owner, target.name),
              EncodeU64(image.image_id));
    batch.Put(Cf::kImages, ImageRecordKey(image.image_id), EncodeImage(moved));
    batch.Add(OwnerBytesKey(key.lsu, key.owner), -size);
    batch.Add(OwnerBytesKey(target.lsu, target.owner), size);
    return p.catalog->Write(batch);
  }();
  absl::MutexLock lock(&p.meta_mu);
  p.names_in_progress.erase({target.lsu, target.owner, target.name});
  return s;
}

absl::StatusOr<uint64_t> Pool::OwnerLogicalBytes(std::string_view lsu,
                                                 std::string_view owner) const {
  SEALPOOL_RETURN_IF_ERROR(impl_->FindLsu(lsu).status());
  SEALPOOL_RETURN_IF_ERROR(ValidateOwner(owner));
  SEALPOOL_ASSIGN_OR_RETURN(int64_t bytes, impl_->catalog->GetCounter(OwnerBytesKey(lsu, owner)));
  if (bytes < 0) {
    return absl::DataLossError(absl::StrCat("LSU ", absl::CHexEscape(base::AbslView(lsu)),
                                            ": the byte counter of owner \"",
                                            absl::CHexEscape(base::AbslView(owner)),
                                            "\" is negative (", bytes, ")"));
  }
  return static_cast<uint64_t>(bytes);
}

namespace {

absl::StatusOr<VerifyReport> VerifyImages(const Pool::Impl& p, const std::vector<ImageRecord>& images,
                                          VerifyReport report,
                                          const VerifyProgressFn& progress = {}) {
  VerifyProgress where;
  where.images_total = images.size();
  for (const ImageRecord& image : images) {
    ++report.images_checked;
    absl::StatusOr<crypto::FingerprintKey> fpk = p.keys->FingerprintKey(image.group_no);
    if (!fpk.ok()) return fpk.status();
    SEALPOOL_ASSIGN_OR_RETURN(crypto::Fingerprinter fingerprinter, crypto::Fingerprinter::Create(*fpk));
    absl::Status s = ReadImpl(
        p, image, 0, image.size,
        [&](std::span<const uint8_t> data) {
          report.bytes_checked += data.size();
          return absl::OkStatus();
        },
        &fingerprinter, &report.segments_checked);
    if (!s.ok()) {
      if (absl::IsUnavailable(s) || absl::IsDeadlineExceeded(s)) return s;  // KMS: not damage
      report.problems.push_back(std::string(s.message()));
    }
    ++where.images_done;
    where.bytes_checked = report.bytes_checked;
    if (progress) progress(where);
  }
  return report;
}

}  // namespace

absl::StatusOr<VerifyReport> Pool::Verify(std::string_view lsu,
                                          const VerifyProgressFn& progress) const {
  Impl& p = *impl_;
  std::vector<std::string> lsus;
  if (lsu.empty()) {
    absl::MutexLock lock(&p.meta_mu);
    for (const auto& [n, _] : p.lsus) lsus.push_back(n);
  } else {
    SEALPOOL_RETURN_IF_ERROR(p.FindLsu(lsu).status());
    lsus.emplace_back(lsu);
  }
  VerifyReport report;
  std::vector<ImageRecord> images;
  for (const std::string& l : lsus) {
    absl::StatusOr<std::vector<ImageRecord>> records =
        ImagesUnder(p, l, ImageNamePrefix(l), &report.problems);
    if (!records.ok()) {
      if (!absl::IsDataLoss(records.status())) return records.status();
      report.problems.push_back(std::string(records.status().message()));
      continue;
    }
    for (ImageRecord& r : *records) images.push_back(std::move(r));
  }
  return VerifyImages(p, images, std::move(report), progress);
}

absl::StatusOr<VerifyReport> Pool::VerifyImage(const ImageKey& key) const {
  SEALPOOL_ASSIGN_OR_RETURN(ImageRecord image, impl_->FindImage(key));
  return VerifyImages(*impl_, {image}, VerifyReport{});
}

}  // namespace sealpool::storage
