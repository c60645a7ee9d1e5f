// Writing an image: chunk + fingerprint, dedup against the key group, seal new segments, commit
// in batches. The concurrency argument is in storage/README.md ("Ingest"); in short:
//
//  - A fingerprint is looked up under its stripe's lock. A hit pins the segment (so the delete
//    queue cannot erase it) until the batch that adds this reference is written. A miss makes
//    the writer the owner of an in-flight entry that every other writer meeting the same
//    fingerprint shares, so a new segment arriving on two streams is stored once.
//  - Batches are written one at a time (commit_mu). A batch commits every in-flight segment its
//    extents reference that no batch has committed yet (its own or another writer's), after a
//    container sync, together with the recipe entries and their reference counts: a segment
//    is never in the catalog without a reference from the same atomic batch.
//  - The image becomes visible in its last batch (synced). Until then a held delete job for
//    the image exists; if the writer never commits (abort, crash) the delete queue processes it
//    and gives back every reference its recipe entries took.
#include <algorithm>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "crypto/client_digest_key.h"
#include "crypto/fingerprint.h"
#include "crypto/secure_memory.h"
#include "storage/chunking/chunk_stream.h"
#include "storage/pool/pool.h"
#include "storage/pool/pool_internal.h"
#include "storage/store/segment_codec.h"

namespace sealpool::storage {
namespace {

using State = InflightSegment::State;

bool NotSealing(InflightSegment* e) { return e->state != State::kSealing; }

absl::Status ValidateRequest(const ImageRequest& r) {
  SEALPOOL_RETURN_IF_ERROR(ValidateName("LSU name", r.lsu));
  SEALPOOL_RETURN_IF_ERROR(ValidateName("image name", r.name));
  SEALPOOL_RETURN_IF_ERROR(ValidateOwner(r.owner));
  if (r.labels.size() > kMaxLabels) {
    return absl::InvalidArgumentError(
        absl::StrCat(r.labels.size(), " labels; at most ", kMaxLabels, " are allowed"));
  }
  for (const auto& [k, v] : r.labels) {
    if (k.empty() || k.size() > kMaxLabelLength || v.size() > kMaxLabelLength) {
      return absl::InvalidArgumentError(absl::StrCat(
          "label \"", absl::CHexEscape(k.substr(0, 64)), "\": keys must have 1..",
          kMaxLabelLength, " bytes and values at most ", kMaxLabelLength));
    }
  }
  return absl::OkStatus();
}

// Client-side writes (ClientDedupWriter): what the writer keeps beside the server-side path.
struct ClientSide {
  // One offered segment waiting for its turn in the recipe.
  struct Offered {
    ClientDigest digest{};
    uint32_t length = 0;
    bool have = false;          // answered "have": pinned, id and fingerprint known
    crypto::SegmentId id;
    crypto::Fingerprint fingerprint;
  };
  ClientSide(crypto::Fingerprinter d, crypto::Fingerprinter f, uint64_t base)
      : digester(std::move(d)), fingerprinter(std::move(f)), base_image_id(base) {}
  crypto::Fingerprinter digester;       // under the owner's client digest key
  crypto::Fingerprinter fingerprinter;  // under the group's fingerprint key
  const uint64_t base_image_id;         // 0: no base image (nothing is "have")
  std::deque<Offered> queue;            // offered, not yet in the recipe, in order
  uint32_t wanted = 0;                  // entries of `queue` still to be sent
  bool short_seen = false;              // a segment below min_size was offered (the last)
};

class ImageWriterImpl final : public ImageWriter, public ClientDedupWriter {
 public:
  ImageWriterImpl(Pool::Impl* pool, ImageRequest request, uint32_t group_no, Id128 group_id,
                  uint64_t image_id, uint64_t job_seq, SegmentStream stream,
                  crypto::ImageDigestStream recipe, crypto::ImageDigestStream content,
                  std::unique_ptr<KeyDictionary::DekBatcher> batcher)
      : p_(pool),
        batcher_(std::move(batcher)),
        request_(std::move(request)),
        group_no_(group_no),
        group_id_(group_id),
        image_id_(image_id),
        job_seq_(job_seq),
        stream_(std::move(stream)),
        recipe_digest_(std::move(recipe)),
        content_digest_(std::move(content)),
        max_seals_in_flight_(std::max(2, 2 * pool->seal_workers->threads())) {}

  void SetClientSide(std::unique_ptr<ClientSide> cs, const ChunkerParams& chunker) {
    cs_ = std::move(cs);
    chunker_ = chunker;
  }

  ~ImageWriterImpl() override { Abort(); }

  absl::Status Write(std::span<const uint8_t> data) override {
    SEALPOOL_RETURN_IF_ERROR(CheckUsable());
    if (cs_ != nullptr) return absl::FailedPreconditionError("Write on a client-side image write");
    absl::Status s =
        stream_.Update(data, [this](const StreamSegment& seg) { return OnSegment(seg); });
    if (!s.ok()) return Fail(s);
    return absl::OkStatus();
  }

  absl::StatusOr<ImageInfo> Commit() override {
    SEALPOOL_RETURN_IF_ERROR(CheckUsable());
    absl::Status s = absl::OkStatus();
    if (cs_ == nullptr) {
      s = stream_.Finish([this](const StreamSegment& seg) { return OnSegment(seg); });
    } else if (cs_->wanted > 0) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("the commit came while ", cs_->wanted,
                       " segment(s) the last digest batch asked for were not sent; nothing "
                       "was stored")));
    }
    if (s.ok()) s = recipe_digest_.UpdateU64(extent_count_);
    if (s.ok()) s = recipe_digest_.UpdateU64(stats_.logical_bytes);
    if (!s.ok()) return Fail(s);
    absl::StatusOr<crypto::ImageDigestValue> recipe = recipe_digest_.Final();
    if (!recipe.ok()) return Fail(recipe.status());
    absl::StatusOr<crypto::ImageDigestValue> content = content_digest_.Final();
    if (!content.ok()) return Fail(content.status());

    ImageRecord record;
    record.image_id = image_id_;
    record.lsu = request_.lsu;
    record.name = request_.name;
    record.group_no = group_no_;
    record.size = stats_.logical_bytes;
    record.extent_count = extent_count_;
    record.created_unix_micros = ToMicros(p_->options.clock());
    record.retain_until_unix_micros = ToMicros(request_.retain_until);
    record.owner = request_.owner;
    record.labels = request_.labels;
    record.recipe_digest = *recipe;
    record.content_digest = *content;
    absl::StatusOr<crypto::ImageDigestValue> identity = p_->IdentityDigest(record);
    if (!identity.ok()) return Fail(identity.status());
    record.identity_digest = *identity;
    s = WriteBatch(&record);
    if (!s.ok()) return Fail(s);
    batcher_->Close();  // the DEK batch closes at each commit: its key is wiped
    done_ = true;
    Finish();
    return p_->ToInfo(record);
  }

  void Abort() override {
    if (done_) return;
    done_ = true;
    WaitForSeals(0).IgnoreError();  // the jobs refer to this writer
    batcher_->Close();
    ReleaseExtents();
    ReleaseOffered();
    // Own segments that nobody committed or holds: dead bytes in their container.
    Finish();
  }

  const WriteStats& stats() const override {
    absl::MutexLock lock(&seal_mu_);
    stats_.new_segments = sealed_.new_segments;
    stats_.new_plain_bytes = sealed_.new_plain_bytes;
    stats_.new_stored_bytes = sealed_.new_stored_bytes;
    return stats_;
  }

  // ---- ClientDedupWriter ----

  const ChunkerParams& chunker() const override { return chunker_; }
  uint32_t segments_wanted() const override { return cs_ == nullptr ? 0 : cs_->wanted; }

  absl::StatusOr<std::vector<uint32_t>> Offer(std::span<const OfferedSegment> segments) override {
    SEALPOOL_RETURN_IF_ERROR(CheckUsable());
    if (cs_ == nullptr) return absl::FailedPreconditionError("Offer on a server-side image write");
    if (cs_->wanted > 0) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "a digest batch came while ", cs_->wanted,
          " segment(s) the previous one asked for were not sent; nothing was stored")));
    }
    if (segments.empty() || segments.size() > kMaxOfferSegments) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("a digest batch of ", segments.size(), " segments; it must hold 1..",
                       kMaxOfferSegments, "; nothing was stored")));
    }
    // Every cut is checked before anything is pinned.
    bool short_seen = cs_->short_seen;
    for (size_t i = 0; i < segments.size(); ++i) {
      const uint32_t len = segments[i].length;
      if (short_seen) {
        return Fail(absl::InvalidArgumentError(absl::StrCat(
            "digest batch entry ", i, ": a segment follows one shorter than the key group's "
            "min_size (", chunker_.min_size, " bytes), which only the image's last segment may "
            "be; nothing was stored")));
      }
      if (len == 0 || len > chunker_.max_size) {
        return Fail(absl::InvalidArgumentError(absl::StrCat(
            "digest batch entry ", i, ": a segment of ", len, " bytes; the key group cuts 1..",
            chunker_.max_size, " bytes; nothing was stored")));
      }
      if (len < chunker_.min_size) short_seen = true;
    }
    cs_->short_seen = short_seen;
    std::vector<uint32_t> need;
    for (size_t i = 0; i < segments.size(); ++i) {
      ClientSide::Offered o;
      o.digest = segments[i].digest;
      o.length = segments[i].length;
      absl::Status s = LookUpHave(&o);
      if (!s.ok()) return Fail(s);
      if (!o.have) {
        need.push_back(static_cast<uint32_t>(i));
        ++cs_->wanted;
      }
      cs_->queue.push_back(o);
    }
    if (absl::Status s = DrainHaves(); !s.ok()) return Fail(s);
    return need;
  }

  absl::Status WriteSegment(std::span<const uint8_t> data) override {
    SEALPOOL_RETURN_IF_ERROR(CheckUsable());
    if (cs_ == nullptr) {
      return absl::FailedPreconditionError("WriteSegment on a server-side image write");
    }
    if (cs_->wanted == 0 || cs_->queue.empty()) {
      return Fail(absl::InvalidArgumentError(
          "a segment arrived that no digest batch asked for; nothing was stored"));
    }
    const ClientSide::Offered o = cs_->queue.front();  // not "have": DrainHaves emitted those
    const uint64_t offset = stats_.logical_bytes;
    if (data.size() != o.length) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat("the segment at offset ", offset, " has ", data.size(),
                       " bytes; its digest batch said ", o.length, "; nothing was stored")));
    }
    absl::StatusOr<crypto::Fingerprint> digest = cs_->digester.Compute(data);
    if (!digest.ok()) return Fail(digest.status());
    if (!std::equal(digest->bytes().begin(), digest->bytes().end(), o.digest.begin())) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "the segment at offset ", offset, " (", data.size(),
          " bytes) does not match the client digest sent for it; nothing was stored")));
    }
    absl::StatusOr<crypto::Fingerprint> fp = cs_->fingerprinter.Compute(data);
    if (!fp.ok()) return Fail(fp.status());
    cs_->queue.pop_front();
    --cs_->wanted;
    absl::Status s = OnSegment(StreamSegment{offset, data, *fp}, &o.digest);
    if (s.ok()) s = DrainHaves();
    if (!s.ok()) return Fail(s);
    return absl::OkStatus();
  }

 private:
  struct Extent {
    uint64_t offset;
    uint32_t length;
    crypto::SegmentId id;
    crypto::Fingerprint fingerprint;
    std::shared_ptr<InflightSegment> inflight;  // null: the catalog had it (index hit)
    std::optional<ClientDigest> client_digest{};  // client-side writes
  };

  // "Have" for `o` if the base image's recipe holds its digest with the same length and the
  // segment still exists; then pins it (under its stripe's lock, where the delete queue checks
  // pins before erasing), so it stays until this write's batch references it.
  absl::Status LookUpHave(ClientSide::Offered* o) {
    if (cs_->base_image_id == 0) return absl::OkStatus();
    SEALPOOL_ASSIGN_OR_RETURN(
        std::optional<std::string> value,
        p_->catalog->Get(Cf::kClientDigests, ClientDigestIndexKey(cs_->base_image_id, o->digest)));
    if (!value.has_value()) return absl::OkStatus();
    SEALPOOL_ASSIGN_OR_RETURN(ClientDigestEntry entry, DecodeClientDigestEntry(*value));
    if (entry.length != o->length) return absl::OkStatus();
    const std::string seg_key = SegmentKey(group_no_, entry.segment_id);
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> rec, p_->catalog->Get(Cf::kSegments, seg_key));
    if (!rec.has_value()) return absl::OkStatus();  // erased: the client sends it
    SEALPOOL_ASSIGN_OR_RETURN(SegmentRecord record, DecodeSegmentRecord(*rec));
    Stripe& st = p_->StripeOf(record.fingerprint);
    absl::MutexLock lock(&st.mu);
    // Again under the lock: a reclaim that erased it meanwhile did so under this lock.
    SEALPOOL_ASSIGN_OR_RETURN(rec, p_->catalog->Get(Cf::kSegments, seg_key));
    if (!rec.has_value()) return absl::OkStatus();
    ++st.pins[{group_no_, entry.segment_id.value()}];
    o->have = true;
    o->id = entry.segment_id;
    o->fingerprint = record.fingerprint;
    return absl::OkStatus();
  }

  // Moves the "have" segments at the head of the queue into the recipe.
  absl::Status DrainHaves() {
    while (!cs_->queue.empty() && cs_->queue.front().have) {
      ClientSide::Offered o = cs_->queue.front();
      cs_->queue.pop_front();
      Extent ext{stats_.logical_bytes, o.length, o.id, o.fingerprint, nullptr, o.digest};
      stats_.bytes_not_sent += o.length;
      ++stats_.duplicate_segments;
      SEALPOOL_RETURN_IF_ERROR(AppendExtent(std::move(ext)));
    }
    return absl::OkStatus();
  }

  // Drops the pins of "have" segments offered but not yet in the recipe.
  void ReleaseOffered() {
    if (cs_ == nullptr) return;
    for (const ClientSide::Offered& o : cs_->queue) {
      if (!o.have) continue;
      Stripe& st = p_->StripeOf(o.fingerprint);
      absl::MutexLock lock(&st.mu);
      auto pin = st.pins.find({group_no_, o.id.value()});
      if (pin != st.pins.end() && --pin->second == 0) st.pins.erase(pin);
    }
    cs_->queue.clear();
    cs_->wanted = 0;
  }

  absl::Status CheckUsable() const {
    if (!error_.ok()) return error_;  // a failed write keeps answering its error
    if (done_) return absl::FailedPreconditionError("the image write has ended");
    return absl::OkStatus();
  }

  absl::Status Fail(absl::Status error) {
    error_ = base::Annotate(error, ImageLabel(request_.key()));
    Abort();
    return error_;
  }

  // Forgets the writer's name reservation and lets the delete queue have its held job.
  void Finish() {
    absl::MutexLock lock(&p_->meta_mu);
    p_->names_in_progress.erase({request_.lsu, request_.owner, request_.name});
    p_->active_images.erase(image_id_);
  }

  // Drops pins and holds of extents not yet in a written batch.
  void ReleaseExtents() {
    for (Extent& e : pending_) Release(e);
    pending_.clear();
  }

  void Release(Extent& e) {
    Stripe& st = p_->StripeOf(e.fingerprint);
    absl::MutexLock lock(&st.mu);
    auto pin = st.pins.find({group_no_, e.id.value()});
    if (pin != st.pins.end() && --pin->second == 0) st.pins.erase(pin);
    if (e.inflight != nullptr) {
      InflightSegment& in = *e.inflight;
      if (--in.holders == 0 && in.state == State::kAppended) {
        auto it = st.inflight.find({group_no_, e.fingerprint});
        if (it != st.inflight.end() && it->second == e.inflight) st.inflight.erase(it);
        p_->ForgetPendingRecord(in.where.container_id, in.seal_epoch);
      }
      e.inflight.reset();
    }
  }

  absl::Status OnSegment(const StreamSegment& seg, const ClientDigest* client_digest = nullptr) {
    // Bounds the seals in flight (memory) and surfaces a failed one before going on.
    SEALPOOL_RETURN_IF_ERROR(WaitForSeals(max_seals_in_flight_ - 1));
    Extent ext{seg.offset, static_cast<uint32_t>(seg.data.size()), crypto::SegmentId(),
               seg.fingerprint, nullptr};
    if (client_digest != nullptr) ext.client_digest = *client_digest;
    Stripe& st = p_->StripeOf(seg.fingerprint);
    const auto key = std::make_pair(group_no_, seg.fingerprint);
    std::shared_ptr<InflightSegment> mine;
    {
      absl::MutexLock lock(&st.mu);
      while (true) {
        auto it = st.inflight.find(key);
        if (it != st.inflight.end()) {
          std::shared_ptr<InflightSegment> e = it->second;
          st.mu.Await(absl::Condition(&NotSealing, e.get()));
          if (e->state == State::kFailed) continue;  // its owner gave up: look again
          if (e->state == State::kCommitted) {
            ext.id = e->id;  // in the catalog now; no hold needed, the pin suffices
          } else {
            ++e->holders;
            ext.id = e->id;
            ext.inflight = e;
          }
          ++stats_.duplicate_segments;
          break;
        }
        absl::StatusOr<std::optional<std::string>> hit =
            p_->catalog->Get(Cf::kFingerprints, FingerprintIndexKey(group_no_, seg.fingerprint));
        if (!hit.ok()) return hit.status();
        if (hit->has_value()) {
          SEALPOOL_ASSIGN_OR_RETURN(uint64_t id, DecodeU64(**hit, "fingerprint index entry"));
          ext.id = crypto::SegmentId(id);
          ++stats_.duplicate_segments;
          break;
        }
        SEALPOOL_ASSIGN_OR_RETURN(uint64_t id, p_->segment_ids->Next());
        mine = std::make_shared<InflightSegment>();
        mine->group_no = group_no_;
        mine->id = crypto::SegmentId(id);
        mine->fingerprint = seg.fingerprint;
        mine->holders = 1;
        st.inflight[key] = mine;
        ext.id = mine->id;
        ext.inflight = mine;
        break;
      }
      ++st.pins[{group_no_, ext.id.value()}];
    }
    if (mine != nullptr) {
      // Sealed on a worker while this thread chunks on. The extent holds the entry; its pin is
      // released with the extent (Release), also if sealing fails.
      auto plaintext = std::make_shared<std::vector<uint8_t>>(seg.data.begin(), seg.data.end());
      {
        absl::MutexLock lock(&seal_mu_);
        ++seals_in_flight_;
      }
      p_->seal_workers->Submit([this, plaintext, mine, fp = seg.fingerprint] {
        absl::Status s = SealAndAppend(*plaintext, fp, *mine);
        crypto::Wipe(*plaintext);
        if (!s.ok()) {
          Stripe& stripe = p_->StripeOf(fp);
          absl::MutexLock lock(&stripe.mu);
          mine->state = State::kFailed;
          mine->error = s;
          auto it = stripe.inflight.find({group_no_, fp});
          if (it != stripe.inflight.end() && it->second == mine) stripe.inflight.erase(it);
        }
        absl::MutexLock lock(&seal_mu_);
        if (!s.ok() && seal_error_.ok()) seal_error_ = s;
        --seals_in_flight_;
      });
    }
    return AppendExtent(std::move(ext));
  }

  // Adds a pinned extent to the recipe (and its digests), writing a batch when one is full.
  absl::Status AppendExtent(Extent ext) {
    ++stats_.segments;
    stats_.logical_bytes += ext.length;
    ++extent_count_;
    SEALPOOL_RETURN_IF_ERROR(recipe_digest_.UpdateU64(ext.offset));
    SEALPOOL_RETURN_IF_ERROR(recipe_digest_.UpdateU64(ext.id.value()));
    SEALPOOL_RETURN_IF_ERROR(recipe_digest_.UpdateU64(ext.length));
    SEALPOOL_RETURN_IF_ERROR(content_digest_.UpdateU64(ext.length));
    SEALPOOL_RETURN_IF_ERROR(content_digest_.Update(ext.fingerprint.bytes()));
    pending_.push_back(std::move(ext));
    if (pending_.size() >= p_->options.commit_every_extents) {
      SEALPOOL_RETURN_IF_ERROR(WriteBatch(nullptr));
    }
    return absl::OkStatus();
  }

  // Waits until at most `limit` seals of this writer are running; the first sealing error.
  absl::Status WaitForSeals(int limit) {
    absl::MutexLock lock(&seal_mu_);
    struct Arg {
      ImageWriterImpl* w;
      int limit;
    } arg{this, limit};
    seal_mu_.Await(absl::Condition(
        +[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS { return a->w->seals_in_flight_ <= a->limit; },
        &arg));
    return seal_error_;
  }

  absl::Status SealAndAppend(std::span<const uint8_t> data, const crypto::Fingerprint& fingerprint,
                             InflightSegment& in) {
    // Counted from before the DEK is wrapped: a re-wrap drops an old KEK only when no record
    // wrapped under it can still be on its way (Impl::NoUncommittedRecords).
    const uint64_t epoch = p_->NoteSealStart();
    absl::StatusOr<EncodedSegment> encoded =
        EncodeSegment(group_id_, in.id, fingerprint, data, p_->options.codec);
    absl::StatusOr<KeyDictionary::WrappedDekResult> wrapped =
        encoded.ok() ? batcher_->Wrap(encoded->dek) : encoded.status();
    if (!wrapped.ok()) {
      p_->NoteSealAbandoned(epoch);
      return wrapped.status();
    }
    p_->NoteAppendStart();
    absl::StatusOr<StoredLocation> where =
        p_->containers->Append(group_id_, encoded->AsSealedSegment());
    p_->NoteAppendDone(where, epoch);
    if (!where.ok()) return where.status();
    SegmentRecord record;
    record.container_id = where->container_id;
    record.offset = where->location.offset;
    record.record_length = static_cast<uint32_t>(where->location.length);
    record.plaintext_length = encoded->plaintext_length;
    record.stored_length = static_cast<uint32_t>(encoded->stored.size());
    record.compression = encoded->compression;
    record.kek_id = wrapped->kek_id;
    record.wrapped_dek = wrapped->wrapped;
    record.batch_id = wrapped->batch_id;
    record.fingerprint = fingerprint;
    {
      absl::MutexLock lock(&seal_mu_);
      ++sealed_.new_segments;
      sealed_.new_plain_bytes += data.size();
      sealed_.new_stored_bytes += where->location.length;
    }
    Stripe& st = p_->StripeOf(fingerprint);
    absl::MutexLock lock(&st.mu);
    in.record = record;
    in.where = *where;
    in.seal_epoch = epoch;
    in.state = State::kAppended;
    return absl::OkStatus();
  }

  // Writes the pending extents (and, with `image`, the image record: the commit).
  absl::Status WriteBatch(const ImageRecord* image) {
    // Every segment this writer seals must be in its container before the batch claims it.
    SEALPOOL_RETURN_IF_ERROR(WaitForSeals(0));
    absl::MutexLock commit(&p_->commit_mu);
    // Claim every referenced segment that no batch has committed yet.
    std::vector<std::shared_ptr<InflightSegment>> claimed;
    std::vector<StoredLocation> locations;
    for (Extent& e : pending_) {
      if (e.inflight == nullptr) continue;
      Stripe& st = p_->StripeOf(e.fingerprint);
      absl::MutexLock lock(&st.mu);
      if (e.inflight->state == State::kAppended) {
        e.inflight->state = State::kClaimed;
        claimed.push_back(e.inflight);
        locations.push_back(e.inflight->where);
      }
    }
    absl::Status s = absl::OkStatus();
    if (!locations.empty()) s = p_->containers->Sync(locations);
    Catalog::Batch batch;
    std::vector<uint64_t> newly_recorded;
    if (s.ok()) {
      for (const auto& in : claimed) {
        const SegmentRecord& r = in->record;
        batch.Put(Cf::kSegments, SegmentKey(group_no_, in->id), EncodeSegmentRecord(r));
        batch.Put(Cf::kFingerprints, FingerprintIndexKey(group_no_, in->fingerprint),
                  EncodeU64(in->id.value()));
        if (p_->recorded_containers.insert(r.container_id).second) {
          newly_recorded.push_back(r.container_id);
          ContainerRecord c;
          c.group_no = group_no_;
          c.state = ContainerRecord::State::kActive;
          c.created_unix_micros = ToMicros(p_->options.clock());
          batch.Put(Cf::kContainers, ContainerKey(r.container_id), EncodeContainer(c));
        }
        const auto len = static_cast<int64_t>(r.record_length);
        batch.Add(ContainerCounterKey(r.container_id, ContainerField::kWrittenBytes), len);
        batch.Add(ContainerCounterKey(r.container_id, ContainerField::kLiveBytes), len);
        batch.Add(ContainerCounterKey(r.container_id, ContainerField::kLiveRecords), 1);
        batch.Add(KekDekCountKey(group_no_, r.kek_id), 1);
        batch.Add(PoolCounterKey("segments"), 1);
        batch.Add(PoolCounterKey("stored_bytes"), len);
      }
      for (const Extent& e : pending_) {
        batch.Put(Cf::kRecipes, RecipeKey(image_id_, e.offset),
                  EncodeRecipeExtent({e.id, e.length}));
        batch.Add(RefcountKey(group_no_, e.id), 1);
        if (e.client_digest.has_value()) {
          batch.Put(Cf::kClientDigests, ClientDigestIndexKey(image_id_, *e.client_digest),
                    EncodeClientDigestEntry({e.id, e.length}));
        }
      }
      if (image != nullptr) {
        batch.Put(Cf::kImages, ImageRecordKey(image_id_), EncodeImage(*image));
        batch.Put(Cf::kImages, ImageNameKey(image->lsu, image->owner, image->name),
                  EncodeU64(image_id_));
        batch.Delete(Cf::kDeleteQueue, DeleteQueueKey(job_seq_));
        batch.Add(PoolCounterKey(kDeleteJobsCounter), -1);
        batch.Add(PoolCounterKey("images"), 1);
        batch.Add(PoolCounterKey("logical_bytes"), static_cast<int64_t>(image->size));
        batch.Add(OwnerBytesKey(image->lsu, image->owner), static_cast<int64_t>(image->size));
      }
      s = p_->catalog->Write(batch, /*sync=*/image != nullptr);
    }
    // Settle the claims either way.
    for (const auto& in : claimed) {
      Stripe& st = p_->StripeOf(in->fingerprint);
      absl::MutexLock lock(&st.mu);
      if (s.ok()) {
        in->state = State::kCommitted;
        auto it = st.inflight.find({group_no_, in->fingerprint});
        if (it != st.inflight.end() && it->second == in) st.inflight.erase(it);
      } else {
        in->state = State::kAppended;  // another batch may try again
      }
    }
    if (s.ok()) {
      for (const auto& in : claimed) {
        p_->ForgetPendingRecord(in->where.container_id, in->seal_epoch);
        p_->NoteLiveChange(in->record.container_id, in->record.record_length, 1);
      }
      ReleaseExtents();
    } else {
      for (uint64_t id : newly_recorded) p_->recorded_containers.erase(id);
    }
    return s;
  }

  Pool::Impl* const p_;
  // This writer's DEK batches (kek_mode "public"; plain WrapDek for a symmetric group).
  const std::unique_ptr<KeyDictionary::DekBatcher> batcher_;
  const ImageRequest request_;
  const uint32_t group_no_;
  const Id128 group_id_;
  const uint64_t image_id_;
  const uint64_t job_seq_;
  SegmentStream stream_;
  crypto::ImageDigestStream recipe_digest_;
  crypto::ImageDigestStream content_digest_;
  std::vector<Extent> pending_;  // extents not yet in a written batch
  uint64_t extent_count_ = 0;
  mutable WriteStats stats_;  // the writer thread's figures; stats() adds the seals'
  bool done_ = false;
  // Sealing on the pool's workers.
  const int max_seals_in_flight_;
  mutable absl::Mutex seal_mu_;
  int seals_in_flight_ ABSL_GUARDED_BY(seal_mu_) = 0;
  absl::Status seal_error_ ABSL_GUARDED_BY(seal_mu_);
  WriteStats sealed_ ABSL_GUARDED_BY(seal_mu_);
  absl::Status error_;
  // Client-side writes only.
  std::unique_ptr<ClientSide> cs_;
  ChunkerParams chunker_;
};

}  // namespace

namespace {

absl::StatusOr<std::unique_ptr<ImageWriterImpl>> BeginImageImpl(Pool::Impl& p,
                                                                 const ImageRequest& request) {
  SEALPOOL_RETURN_IF_ERROR(ValidateRequest(request));
  SEALPOOL_ASSIGN_OR_RETURN(LsuRecord lsu, p.FindLsu(request.lsu));
  SEALPOOL_ASSIGN_OR_RETURN(GroupState group, p.FindGroup(lsu.group_no));
  const ImageKey key = request.key();
  if (request.retain_until != absl::InfinitePast()) {
    const absl::Time now = p.options.clock();
    const absl::Time limit =
        now + absl::Microseconds(static_cast<int64_t>(lsu.max_retention_micros));
    if (request.retain_until > limit) {
      const absl::TimeZone utc = absl::UTCTimeZone();
      return absl::InvalidArgumentError(absl::StrCat(
          ImageLabel(key), ": retention until ", absl::FormatTime(request.retain_until, utc),
          " is past the longest LSU ", absl::CHexEscape(request.lsu), " allows (",
          absl::FormatTime(limit, utc), ")"));
    }
  }
  // Keys (may call the KMS once per group): fingerprint key and digest keys.
  SEALPOOL_ASSIGN_OR_RETURN(crypto::FingerprintKey fpk, p.keys->FingerprintKey(lsu.group_no));
  SEALPOOL_ASSIGN_OR_RETURN(SegmentStream stream, SegmentStream::Create(group.chunker, fpk));
  SEALPOOL_ASSIGN_OR_RETURN(ImageDigesters digesters, p.Digesters(lsu.group_no));
  SEALPOOL_ASSIGN_OR_RETURN(crypto::ImageDigestStream recipe, digesters.recipe->Begin());
  SEALPOOL_ASSIGN_OR_RETURN(crypto::ImageDigestStream content, digesters.content->Begin());
  SEALPOOL_ASSIGN_OR_RETURN(std::unique_ptr<KeyDictionary::DekBatcher> batcher,
                            p.keys->NewDekBatcher(lsu.group_no));
  // Reserve the name, then check the catalog (ReassignOwner does the same): a name checked free
  // stays free until the reservation goes.
  {
    absl::MutexLock lock(&p.meta_mu);
    if (!p.names_in_progress.insert({request.lsu, request.owner, request.name}).second) {
      return absl::AlreadyExistsError(
          absl::StrCat(ImageLabel(key), " is being written by another stream"));
    }
  }
  auto unreserve = [&p, &request] {
    absl::MutexLock lock(&p.meta_mu);
    p.names_in_progress.erase({request.lsu, request.owner, request.name});
  };
  {
    absl::StatusOr<std::optional<ImageRecord>> existing = p.LookupImage(key);
    absl::Status s = existing.status();
    if (s.ok() && existing->has_value()) {
      s = absl::AlreadyExistsError(absl::StrCat(ImageLabel(key), " exists already"));
    }
    if (!s.ok()) {
      unreserve();
      return s;
    }
  }
  absl::StatusOr<uint64_t> image_id = p.image_ids->Next();
  absl::StatusOr<uint64_t> seq = image_id.ok() ? p.delete_seq->Next() : image_id.status();
  if (!seq.ok()) {
    unreserve();
    return seq.status();
  }
  absl::Status s = recipe.UpdateU64(*image_id);
  // The held job: if this write never commits, the delete queue gives back its references.
  if (s.ok()) {
    {
      absl::MutexLock lock(&p.meta_mu);
      p.active_images.insert(*image_id);
    }
    DeleteJob job;
    job.kind = DeleteJob::Kind::kImageReferences;
    job.group_no = lsu.group_no;
    job.image_id = *image_id;
    Catalog::Batch batch;
    batch.Put(Cf::kDeleteQueue, DeleteQueueKey(*seq), EncodeDeleteJob(job));
    batch.Add(PoolCounterKey(kDeleteJobsCounter), 1);
    s = p.catalog->Write(batch, /*sync=*/false);
    if (!s.ok()) {
      absl::MutexLock lock(&p.meta_mu);
      p.active_images.erase(*image_id);
    }
  }
  if (!s.ok()) {
    unreserve();
    return s;
  }
  return std::make_unique<ImageWriterImpl>(&p, request, lsu.group_no, group.record.group_id,
                                           *image_id, *seq, std::move(stream), std::move(recipe),
                                           std::move(content), std::move(batcher));
}

}  // namespace

absl::StatusOr<std::unique_ptr<ImageWriter>> Pool::BeginImage(const ImageRequest& request) {
  SEALPOOL_ASSIGN_OR_RETURN(std::unique_ptr<ImageWriterImpl> w, BeginImageImpl(*impl_, request));
  return std::unique_ptr<ImageWriter>(std::move(w));
}

absl::StatusOr<crypto::ClientDigestKey> Pool::ClientDigestKey(std::string_view lsu_name,
                                                              std::string_view owner,
                                                              uint32_t epoch) const {
  SEALPOOL_RETURN_IF_ERROR(ValidateOwner(owner));
  Impl& p = *impl_;
  SEALPOOL_ASSIGN_OR_RETURN(LsuRecord lsu, p.FindLsu(lsu_name));
  SEALPOOL_ASSIGN_OR_RETURN(GroupState group, p.FindGroup(lsu.group_no));
  SEALPOOL_ASSIGN_OR_RETURN(crypto::FingerprintKey fpk, p.keys->FingerprintKey(lsu.group_no));
  return crypto::DeriveClientDigestKey(fpk, group.record.group_id, owner, epoch);
}

absl::StatusOr<std::unique_ptr<ClientDedupWriter>> Pool::BeginClientDedupImage(
    const ImageRequest& request, const ClientDedupOptions& options) {
  Impl& p = *impl_;
  if (options.base_name.size() > kMaxNameLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("base image name: longer than ", kMaxNameLength, " bytes"));
  }
  SEALPOOL_ASSIGN_OR_RETURN(std::unique_ptr<ImageWriterImpl> w, BeginImageImpl(p, request));
  SEALPOOL_ASSIGN_OR_RETURN(LsuRecord lsu, p.FindLsu(request.lsu));
  SEALPOOL_ASSIGN_OR_RETURN(GroupState group, p.FindGroup(lsu.group_no));
  SEALPOOL_ASSIGN_OR_RETURN(crypto::FingerprintKey fpk, p.keys->FingerprintKey(lsu.group_no));
  SEALPOOL_ASSIGN_OR_RETURN(
      crypto::ClientDigestKey ck,
      crypto::DeriveClientDigestKey(fpk, group.record.group_id, request.owner, options.epoch));
  SEALPOOL_ASSIGN_OR_RETURN(crypto::Fingerprinter digester, crypto::Fingerprinter::Create(ck));
  SEALPOOL_ASSIGN_OR_RETURN(crypto::Fingerprinter fingerprinter,
                            crypto::Fingerprinter::Create(fpk));
  // The base image: only the owner's own, looked up under the owner's name, so another
  // owner's image is exactly as absent as a missing one. A bad name is simply no base.
  uint64_t base = 0;
  if (!options.base_name.empty() && ValidateName("image name", options.base_name).ok()) {
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<ImageRecord> record,
                              p.LookupImage({request.lsu, request.owner, options.base_name}));
    if (record.has_value() && record->owner == request.owner &&
        record->group_no == lsu.group_no) {
      base = record->image_id;
    }
  }
  w->SetClientSide(std::make_unique<ClientSide>(std::move(digester), std::move(fingerprinter), base),
                   group.chunker);
  return std::unique_ptr<ClientDedupWriter>(std::move(w));
}

absl::StatusOr<ImageInfo> Pool::WriteImage(
    const ImageRequest& request, absl::FunctionRef<absl::StatusOr<size_t>(std::span<uint8_t>)> read,
    WriteStats* stats) {
  SEALPOOL_ASSIGN_OR_RETURN(std::unique_ptr<ImageWriter> writer, BeginImage(request));
  std::vector<uint8_t> buffer(size_t{1} << 20);
  while (true) {
    SEALPOOL_ASSIGN_OR_RETURN(size_t n, read(buffer));
    if (n == 0) break;
    if (n > buffer.size()) return absl::InternalError("WriteImage: the reader overran its buffer");
    SEALPOOL_RETURN_IF_ERROR(writer->Write({buffer.data(), n}));
  }
  absl::StatusOr<ImageInfo> info = writer->Commit();
  if (stats != nullptr) *stats = writer->stats();
  return info;
}

}  // namespace sealpool::storage
