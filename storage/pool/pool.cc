// The pool: opening, creating, recovery at start, key groups, LSUs, statistics and catalog
// backup. Images: image_writer.cc and image_reader.cc; maintenance: delete_queue.cc,
// compactor.cc, rewrap.cc, pool_scan.cc.
#include "storage/pool/pool.h"

#include <algorithm>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "crypto/random.h"
#include "storage/keydict/host_fingerprint_key.h"
#include "storage/pool/pool_internal.h"
#include "storage/store/local_container_store.h"

namespace sealpool::storage {

namespace {

constexpr char kCatalogDir[] = "catalog";
constexpr char kContainerDir[] = "containers";
constexpr char kLockFile[] = "LOCK";
constexpr char kRestoredMarker[] = "RESTORED";
// Cf::kMeta: present once a catalog backup was taken (value: u64 LE time of the last one).
constexpr char kBackupTakenKey[] = "backup/last";

std::string Join(const std::string& dir, std::string_view name) {
  return absl::StrCat(dir, "/", base::AbslView(name));
}

ContainerTarget TargetOf(const KeyGroupRecord& record) {
  return {record.s3_endpoint, record.s3_bucket, record.s3_prefix};
}

bool PrintableNoSpace(std::string_view text) {
  for (char c : text) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

absl::Status ValidateTarget(std::string_view group, const ContainerTarget& target) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "S3 target of key group \"", absl::CHexEscape(base::AbslView(group)),
        "\": ", base::AbslView(why)));
  };
  if (!target.is_s3()) {
    if (!target.s3_endpoint.empty() || !target.s3_prefix.empty()) {
      return bad("an endpoint or prefix without a bucket");
    }
    return absl::OkStatus();
  }
  if (target.s3_endpoint.empty()) return bad("no endpoint");
  for (const std::string* field : {&target.s3_endpoint, &target.s3_bucket, &target.s3_prefix}) {
    if (field->size() > kMaxNameLength) return bad("a field longer than 255 bytes");
    if (!PrintableNoSpace(*field)) return bad("a field with spaces or control characters");
  }
  if (!target.s3_prefix.empty() && target.s3_prefix.back() != '/') {
    return bad("the prefix must be empty or end with '/'");
  }
  return absl::OkStatus();
}

}  // namespace

std::string ContainerTarget::Describe() const {
  if (!is_s3()) return "local container files";
  return absl::StrCat("S3 bucket '", s3_bucket, "' prefix '", s3_prefix, "' at ", s3_endpoint);
}

std::string ImageLabel(const ImageKey& key) {
  std::string label = absl::StrCat("image ", absl::CHexEscape(key.lsu), "/",
                                   absl::CHexEscape(key.name));
  if (!key.owner.empty()) absl::StrAppend(&label, " of owner \"", absl::CHexEscape(key.owner), "\"");
  return label;
}

std::string ImageLabel(const ImageRecord& record) {
  return ImageLabel(ImageKey{record.lsu, record.owner, record.name});
}

absl::Time FromMicros(uint64_t micros) {
  return absl::FromUnixMicros(static_cast<int64_t>(micros));
}

uint64_t ToMicros(absl::Time t) {
  if (t <= absl::UnixEpoch()) return 0;
  return static_cast<uint64_t>(absl::ToUnixMicros(t));
}

// ---- IdAllocator ---------------------------------------------------------------------------

absl::Status IdAllocator::Load() {
  SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> v,
                            catalog_->Get(Cf::kMeta, AllocatorKey(what_)));
  absl::MutexLock lock(&mu_);
  if (v.has_value()) {
    SEALPOOL_ASSIGN_OR_RETURN(uint64_t end, DecodeU64(*v, what_));
    next_ = reserved_end_ = std::max<uint64_t>(end, 1);
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> IdAllocator::Next() {
  absl::MutexLock lock(&mu_);
  if (next_ >= reserved_end_) {
    const uint64_t end = next_ + block_;
    Catalog::Batch batch;
    batch.Put(Cf::kMeta, AllocatorKey(what_), EncodeU64(end));
    SEALPOOL_RETURN_IF_ERROR(catalog_->Write(batch));
    reserved_end_ = end;
  }
  return next_++;
}

absl::Status IdAllocator::EnsureAtLeast(uint64_t floor) {
  absl::MutexLock lock(&mu_);
  if (next_ >= floor) return absl::OkStatus();
  next_ = floor;
  if (reserved_end_ < floor) reserved_end_ = floor;
  return absl::OkStatus();
}

// ---- SealWorkers --------------------------------------------------------------------------

SealWorkers::SealWorkers(int threads) {
  for (int i = 0; i < std::max(threads, 1); ++i) threads_.emplace_back([this] { Run(); });
}

SealWorkers::~SealWorkers() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void SealWorkers::Submit(std::function<void()> job) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(job));
}

void SealWorkers::Run() {
  while (true) {
    std::function<void()> job;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](SealWorkers* w) ABSL_NO_THREAD_SAFETY_ANALYSIS { return w->stop_ || !w->queue_.empty(); },
          this));
      if (queue_.empty()) return;  // stopping and drained
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();
  }
}

// ---- pending records ---------------------------------------------------------------------

namespace {
void CloseEpochLocked(std::map<uint64_t, int64_t>& open, uint64_t epoch) {
  auto it = open.find(epoch);
  if (it != open.end() && --it->second <= 0) open.erase(it);
}
}  // namespace

uint64_t Pool::Impl::NoteSealStart() {
  absl::MutexLock lock(&pending_mu);
  ++sealing;
  ++open_by_epoch[seal_epoch];
  return seal_epoch;
}

void Pool::Impl::NoteAppendStart() {
  absl::MutexLock lock(&pending_mu);
  --sealing;
  ++in_append;
}

void Pool::Impl::NoteAppendDone(const absl::StatusOr<StoredLocation>& where, uint64_t epoch) {
  {
    absl::MutexLock lock(&pending_mu);
    --in_append;
    if (where.ok()) {
      ++pending_records[where->container_id];
    } else {
      CloseEpochLocked(open_by_epoch, epoch);
    }
  }
  if (where.ok()) {
    absl::MutexLock lock(&usage_mu);
    ContainerUsage& u = usage[where->container_id];
    u.file_bytes = std::max(u.file_bytes, where->location.offset + where->location.length);
  }
}

void Pool::Impl::NoteLiveChange(uint64_t container_id, int64_t bytes, int64_t records) {
  absl::MutexLock lock(&usage_mu);
  ContainerUsage& u = usage[container_id];
  u.live_bytes += bytes;
  u.live_records += records;
}

void Pool::Impl::NoteContainerRemoved(uint64_t container_id) {
  absl::MutexLock lock(&usage_mu);
  usage.erase(container_id);
}

absl::Status Pool::Impl::LoadContainerUsage() {
  absl::flat_hash_map<uint64_t, ContainerUsage> loaded;
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint64_t> files, containers->List());
  for (uint64_t id : files) {
    absl::StatusOr<uint64_t> size = containers->FileSize(id);
    if (!size.ok()) continue;  // removed meanwhile
    ContainerUsage& u = loaded[id];
    u.file_bytes = *size;
    SEALPOOL_ASSIGN_OR_RETURN(u.live_bytes,
                              catalog->GetCounter(ContainerCounterKey(id, ContainerField::kLiveBytes)));
    SEALPOOL_ASSIGN_OR_RETURN(u.live_records, catalog->GetCounter(ContainerCounterKey(
                                                  id, ContainerField::kLiveRecords)));
  }
  absl::MutexLock lock(&usage_mu);
  usage = std::move(loaded);
  return absl::OkStatus();
}

void Pool::Impl::NoteSealAbandoned(uint64_t epoch) {
  absl::MutexLock lock(&pending_mu);
  --sealing;
  CloseEpochLocked(open_by_epoch, epoch);
}

void Pool::Impl::ForgetPendingRecord(uint64_t container_id, uint64_t epoch) {
  absl::MutexLock lock(&pending_mu);
  auto it = pending_records.find(container_id);
  if (it != pending_records.end() && --it->second <= 0) pending_records.erase(it);
  CloseEpochLocked(open_by_epoch, epoch);
}

uint64_t Pool::Impl::AdvanceSealEpoch() {
  absl::MutexLock lock(&pending_mu);
  return ++seal_epoch;
}

int64_t Pool::Impl::AwaitSealsBefore(uint64_t fence, absl::Duration timeout) {
  struct Arg {
    std::map<uint64_t, int64_t>* open;
    uint64_t fence;
  } arg{&open_by_epoch, fence};
  auto before_empty = +[](Arg* a) {
    return a->open->empty() || a->open->begin()->first >= a->fence;
  };
  absl::MutexLock lock(&pending_mu);
  pending_mu.AwaitWithTimeout(absl::Condition(before_empty, &arg), timeout);
  int64_t left = 0;
  for (const auto& [epoch, n] : open_by_epoch) {
    if (epoch < fence) left += n;
  }
  return left;
}

bool Pool::Impl::ContainerSettled(uint64_t container_id) {
  absl::MutexLock lock(&pending_mu);
  pending_mu.Await(absl::Condition(+[](int* n) { return *n == 0; }, &in_append));
  return !pending_records.contains(container_id);
}

bool Pool::Impl::NoUncommittedRecords() {
  absl::MutexLock lock(&pending_mu);
  return sealing == 0 && in_append == 0 && pending_records.empty();
}

// ---- Impl helpers ----------------------------------------------------------------------------

absl::Status Pool::Impl::PutMetaSync(std::string_view key, std::string_view value) {
  Catalog::Batch batch;
  batch.Put(Cf::kMeta, key, value);
  return catalog->Write(batch);
}

absl::StatusOr<LsuRecord> Pool::Impl::FindLsu(std::string_view name) const {
  absl::MutexLock lock(&meta_mu);
  auto it = lsus.find(name);
  if (it == lsus.end()) {
    return absl::NotFoundError(
        absl::StrCat("no LSU named \"", absl::CHexEscape(base::AbslView(name)), "\""));
  }
  return it->second;
}

absl::StatusOr<GroupState> Pool::Impl::FindGroup(uint32_t group_no) const {
  absl::MutexLock lock(&meta_mu);
  auto it = groups.find(group_no);
  if (it == groups.end()) {
    return absl::DataLossError(absl::StrCat("key group #", group_no,
                                            " is referenced but not in the catalog"));
  }
  return it->second;
}

absl::StatusOr<uint32_t> Pool::Impl::FindGroupNo(std::string_view name) const {
  absl::MutexLock lock(&meta_mu);
  auto it = group_by_name.find(name);
  if (it == group_by_name.end()) {
    return absl::NotFoundError(
        absl::StrCat("no key group named \"", absl::CHexEscape(base::AbslView(name)), "\""));
  }
  return it->second;
}

absl::StatusOr<ImageDigesters> Pool::Impl::Digesters(uint32_t group_no) const {
  {
    absl::MutexLock lock(&meta_mu);
    auto it = groups.find(group_no);
    if (it == groups.end()) {
      return absl::DataLossError(absl::StrCat("key group #", group_no,
                                              " is referenced but not in the catalog"));
    }
    if (it->second.recipe_digester != nullptr) {
      return ImageDigesters{it->second.recipe_digester, it->second.content_digester,
                            it->second.identity_digester};
    }
  }
  // Outside the lock: may call the KMS.
  SEALPOOL_ASSIGN_OR_RETURN(crypto::FingerprintKey fpk, keys->FingerprintKey(group_no));
  SEALPOOL_ASSIGN_OR_RETURN(crypto::ImageDigester recipe,
                            crypto::ImageDigester::Create(fpk, "recipe"));
  SEALPOOL_ASSIGN_OR_RETURN(crypto::ImageDigester content,
                            crypto::ImageDigester::Create(fpk, "content"));
  SEALPOOL_ASSIGN_OR_RETURN(crypto::ImageDigester identity,
                            crypto::ImageDigester::Create(fpk, "identity"));
  absl::MutexLock lock(&meta_mu);
  GroupState& g = groups[group_no];
  if (g.recipe_digester == nullptr) {
    g.recipe_digester = std::make_shared<const crypto::ImageDigester>(std::move(recipe));
    g.content_digester = std::make_shared<const crypto::ImageDigester>(std::move(content));
    g.identity_digester = std::make_shared<const crypto::ImageDigester>(std::move(identity));
  }
  return ImageDigesters{g.recipe_digester, g.content_digester, g.identity_digester};
}

absl::StatusOr<crypto::ImageDigestValue> Pool::Impl::IdentityDigest(
    const ImageRecord& image) const {
  SEALPOOL_ASSIGN_OR_RETURN(ImageDigesters d, Digesters(image.group_no));
  SEALPOOL_ASSIGN_OR_RETURN(crypto::ImageDigestStream stream, d.identity->Begin());
  const std::string bytes = EncodeImageIdentity(image);
  SEALPOOL_RETURN_IF_ERROR(stream.Update(
      {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}));
  return stream.Final();
}

absl::Status Pool::Impl::CheckIdentity(const ImageRecord& image) const {
  absl::StatusOr<crypto::ImageDigestValue> digest = IdentityDigest(image);
  if (!digest.ok()) {
    return base::Annotate(digest.status(), absl::StrCat(ImageLabel(image), " (#",
                                                        image.image_id, ")"));
  }
  if (!crypto::DigestEquals(*digest, image.identity_digest)) {
    return absl::DataLossError(absl::StrCat(
        ImageLabel(image), " (#", image.image_id,
        "): its LSU, name, owner, retention, labels or digests do not match its identity "
        "digest (catalog damaged or altered)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<ImageRecord>> Pool::Impl::LookupImage(const ImageKey& key) const {
  SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> id_value,
                            catalog->Get(Cf::kImages, ImageNameKey(key.lsu, key.owner, key.name)));
  if (!id_value.has_value()) return std::optional<ImageRecord>();
  SEALPOOL_ASSIGN_OR_RETURN(uint64_t image_id, DecodeU64(*id_value, "image name index"));
  SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> value,
                            catalog->Get(Cf::kImages, ImageRecordKey(image_id)));
  if (!value.has_value()) {
    return absl::DataLossError(absl::StrCat(ImageLabel(key), ": the name index points at image #",
                                            image_id, ", which is not in the catalog"));
  }
  absl::StatusOr<ImageRecord> record = DecodeImage(*value);
  if (!record.ok()) {
    return base::Annotate(record.status(), absl::StrCat(ImageLabel(key), " (#", image_id, ")"));
  }
  if (record->lsu != key.lsu || record->owner != key.owner || record->name != key.name ||
      record->image_id != image_id) {
    return absl::DataLossError(absl::StrCat(ImageLabel(key), ": image record #", image_id,
                                            " names another image"));
  }
  return std::optional<ImageRecord>(*std::move(record));
}

absl::StatusOr<ImageRecord> Pool::Impl::FindImage(const ImageKey& key) const {
  // What no image can have is refused up front (a NUL would split the name index key).
  SEALPOOL_RETURN_IF_ERROR(ValidateOwner(key.owner));
  SEALPOOL_RETURN_IF_ERROR(ValidateName("image name", key.name));
  SEALPOOL_RETURN_IF_ERROR(FindLsu(key.lsu).status());
  SEALPOOL_ASSIGN_OR_RETURN(std::optional<ImageRecord> image, LookupImage(key));
  if (!image.has_value()) return absl::NotFoundError(absl::StrCat("no ", ImageLabel(key)));
  SEALPOOL_RETURN_IF_ERROR(CheckIdentity(*image));
  return *std::move(image);
}

ImageInfo Pool::Impl::ToInfo(const ImageRecord& record) const {
  ImageInfo info;
  info.image_id = record.image_id;
  info.lsu = record.lsu;
  info.name = record.name;
  info.owner = record.owner;
  info.size = record.size;
  info.extents = record.extent_count;
  info.created = FromMicros(record.created_unix_micros);
  info.retain_until = record.retain_until_unix_micros == 0
                          ? absl::InfinitePast()
                          : FromMicros(record.retain_until_unix_micros);
  info.labels = record.labels;
  absl::MutexLock lock(&meta_mu);
  auto it = groups.find(record.group_no);
  if (it != groups.end()) info.key_group = it->second.record.name;
  return info;
}

absl::Status Pool::Impl::LoadMeta() {
  std::map<uint32_t, GroupState> loaded_groups;
  std::map<std::string, uint32_t, std::less<>> by_name;
  SEALPOOL_RETURN_IF_ERROR(catalog->Scan(
      Cf::kMeta, KeyGroupPrefix(), [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
        SEALPOOL_ASSIGN_OR_RETURN(KeyGroupRecord record, DecodeKeyGroup(value));
        const auto* bytes = reinterpret_cast<const uint8_t*>(record.chunker_params.data());
        absl::StatusOr<ChunkerParams> params =
            ChunkerParams::DecodeFrom({bytes, record.chunker_params.size()});
        if (!params.ok()) {
          return base::Annotate(params.status(),
                                absl::StrCat("chunker parameters of key group ", record.name));
        }
        GroupState state;
        state.chunker = *params;
        by_name[record.name] = record.group_no;
        const uint32_t no = record.group_no;
        state.record = std::move(record);
        loaded_groups[no] = std::move(state);
        return true;
      }));
  std::map<std::string, LsuRecord, std::less<>> loaded_lsus;
  SEALPOOL_RETURN_IF_ERROR(catalog->Scan(
      Cf::kMeta, LsuPrefix(), [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
        SEALPOOL_ASSIGN_OR_RETURN(LsuRecord record, DecodeLsu(value));
        if (!loaded_groups.contains(record.group_no)) {
          return absl::DataLossError(absl::StrCat("LSU ", record.name, " names key group #",
                                                  record.group_no, ", which does not exist"));
        }
        std::string name = record.name;
        loaded_lsus[name] = std::move(record);
        return true;
      }));
  // The key dictionary of every group (no KMS call: keys are unwrapped on first use).
  for (const auto& [no, state] : loaded_groups) {
    std::vector<std::pair<std::string, std::string>> records;
    // Not the batch records ('B', read on demand): the fingerprint key, KEKs, batch allocator,
    // and the host-sealed fingerprint key (issue 17, storage/keydict/host_fingerprint_key.h).
    for (char tag : {kFingerprintKeyRecordTag, kKekRecordTag, kBatchAllocatorRecordTag,
                     kHostSealedFpkRecordTag}) {
      std::string prefix = KeyGroupRecordPrefix(no);
      prefix.push_back(tag);
      SEALPOOL_RETURN_IF_ERROR(catalog->Scan(
          Cf::kKeys, prefix, [&](std::string_view k, std::string_view v) -> absl::StatusOr<bool> {
            records.emplace_back(std::string(k), std::string(v));
            return true;
          }));
    }
    SEALPOOL_RETURN_IF_ERROR(keys->LoadGroup(no, state.record.name, records));
  }
  absl::MutexLock lock(&meta_mu);
  groups = std::move(loaded_groups);
  group_by_name = std::move(by_name);
  lsus = std::move(loaded_lsus);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ContainerStore>> Pool::Impl::OpenGroupStore(
    const KeyGroupRecord& record, std::map<uint64_t, uint64_t> sizes) {
  if (!options.group_container_store) {
    return absl::FailedPreconditionError(absl::StrCat(
        "key group ", record.name, " keeps its containers in ", TargetOf(record).Describe(),
        ", but this pool was opened without S3 support (no S3 target configured for it)"));
  }
  GroupStoreRequest request;
  request.pool_id = meta.pool_id;
  request.key_group = record.name;
  request.key_group_id = record.group_id;
  request.target = TargetOf(record);
  request.container_sizes = std::move(sizes);
  request.allocate_id = [this]() -> absl::StatusOr<uint64_t> { return container_ids->Next(); };
  absl::StatusOr<std::unique_ptr<ContainerStore>> store = options.group_container_store(request);
  if (!store.ok()) {
    return base::Annotate(store.status(),
                          absl::StrCat("the container store of key group ", record.name));
  }
  return store;
}

absl::Status Pool::Impl::OpenGroupStores() {
  std::map<uint32_t, KeyGroupRecord> records;
  {
    absl::MutexLock lock(&meta_mu);
    for (const auto& [no, g] : groups) records[no] = g.record;
  }
  // Container records: each S3 group's sizes; a local group's container recorded with a size
  // was once an object (mixing).
  std::map<uint32_t, std::map<uint64_t, uint64_t>> sizes;
  std::map<uint64_t, uint32_t> group_of;
  SEALPOOL_RETURN_IF_ERROR(catalog->Scan(
      Cf::kContainers, "", [&](std::string_view k, std::string_view v) -> absl::StatusOr<bool> {
        SEALPOOL_ASSIGN_OR_RETURN(uint64_t id, DecodeContainerKey(k));
        SEALPOOL_ASSIGN_OR_RETURN(ContainerRecord record, DecodeContainer(v));
        auto g = records.find(record.group_no);
        if (g == records.end()) return true;  // scrub reports it
        group_of[id] = record.group_no;
        if (TargetOf(g->second).is_s3()) {
          if (record.size_bytes == 0) {
            return absl::DataLossError(absl::StrCat(
                "container ", id, " of key group ", g->second.name,
                " (containers in S3) has no recorded size: the catalog is damaged"));
          }
          sizes[record.group_no][id] = record.size_bytes;
        } else if (record.size_bytes != 0) {
          return absl::FailedPreconditionError(absl::StrCat(
              "container ", id, " of key group ", g->second.name,
              " is recorded as an S3 object, but the group keeps its containers in local "
              "files: a key group's containers are all local or all in its bucket"));
        }
        return true;
      }));
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint64_t> local_ids, grouped->local().List());
  for (uint64_t id : local_ids) {
    auto no = group_of.find(id);
    if (no == group_of.end()) continue;
    const KeyGroupRecord& record = records[no->second];
    if (TargetOf(record).is_s3()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "key group ", record.name, " keeps its containers in ", TargetOf(record).Describe(),
          ", but its container ", id, " is a local file in ", Join(dir, kContainerDir),
          ": a key group's containers are all local or all in its bucket"));
    }
  }
  for (const auto& [no, record] : records) {
    if (!TargetOf(record).is_s3()) continue;
    SEALPOOL_ASSIGN_OR_RETURN(std::unique_ptr<ContainerStore> store,
                              OpenGroupStore(record, std::move(sizes[no])));
    SEALPOOL_RETURN_IF_ERROR(
        grouped->AddGroupStore(record.group_id, no, record.name, std::move(store)));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Pool::Impl::ContainerSizeToRecord(uint64_t container_id) const {
  if (!grouped->InGroupStore(container_id)) return 0;
  if (containers->IsOpenForAppend(container_id)) {
    return absl::InternalError(absl::StrCat("container ", container_id,
                                            " is referenced before it was uploaded"));
  }
  return containers->FileSize(container_id);
}

// What a crash (or a catalog restore) left behind.
absl::Status Pool::Impl::StartupRecovery() {
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint64_t> files, containers->List());
  const std::string marker = Join(dir, kRestoredMarker);
  SEALPOOL_ASSIGN_OR_RETURN(bool restored, fs->FileExists(marker));
  uint64_t max_container = 0;
  uint64_t max_segment = 0;
  for (uint64_t id : files) {
    max_container = std::max(max_container, id);
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> value,
                              catalog->Get(Cf::kContainers, ContainerKey(id)));
    bool remove = false;
    if (!value.has_value()) {
      // No segment of it was ever committed (the record is written with the first one), or
      // the catalog was restored from a backup older than the container.
      remove = true;
    } else {
      SEALPOOL_ASSIGN_OR_RETURN(ContainerRecord record, DecodeContainer(*value));
      remove = record.state == ContainerRecord::State::kRetired &&
               !keep_retired_until_backup.load();
    }
    if (restored && !remove) {
      // Segment ids the restored catalog may not know about must never be handed out again.
      SEALPOOL_ASSIGN_OR_RETURN(auto reader, containers->OpenReader(id));
      SEALPOOL_ASSIGN_OR_RETURN(ContainerScanner scanner,
                                ContainerScanner::Create(reader.get(), {.verify_payloads = false}));
      while (true) {
        SEALPOOL_ASSIGN_OR_RETURN(std::optional<ScanItem> item, scanner.Next());
        if (!item.has_value()) break;
        if (item->header.has_value()) {
          max_segment = std::max(max_segment, item->header->segment_id.value());
        }
      }
    }
    if (remove) {
      absl::Status s = containers->Remove(id);
      if (!s.ok() && !absl::IsNotFound(s)) return s;
      Catalog::Batch batch;
      batch.Delete(Cf::kContainers, ContainerKey(id));
      for (ContainerField f : {ContainerField::kWrittenBytes, ContainerField::kLiveBytes,
                               ContainerField::kLiveRecords}) {
        batch.Delete(Cf::kCounters, ContainerCounterKey(id, f));
      }
      SEALPOOL_RETURN_IF_ERROR(catalog->Write(batch));
    }
  }
  SEALPOOL_RETURN_IF_ERROR(container_ids->EnsureAtLeast(max_container + 1));
  if (restored) {
    SEALPOOL_RETURN_IF_ERROR(segment_ids->EnsureAtLeast(max_segment + 1));
    // Reserve durably past them before the marker goes.
    SEALPOOL_RETURN_IF_ERROR(segment_ids->Next().status());
    SEALPOOL_RETURN_IF_ERROR(fs->RemoveFile(marker));
    SEALPOOL_RETURN_IF_ERROR(fs->SyncDir(dir));
  }
  return absl::OkStatus();
}

// ---- Pool -------------------------------------------------------------------------------------

Pool::Pool(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Pool::~Pool() {
  if (impl_ == nullptr) return;
  // Close containers (synced) before the catalog; the lock goes last.
  impl_->seal_workers.reset();  // idle: every writer has ended before its pool
  impl_->StopCatalogBackups();
  if (impl_->containers != nullptr) impl_->containers->SealOpenContainers().IgnoreError();
  impl_->containers.reset();
  impl_->keys.reset();
  impl_->catalog.reset();
  impl_->pool_lock.reset();
}

namespace {

absl::StatusOr<std::unique_ptr<Pool::Impl>> OpenImpl(const std::string& dir,
                                                     RootKeyProvider* root_keys,
                                                     PoolOptions options, bool create) {
  if (root_keys == nullptr) return absl::InvalidArgumentError("Pool: no root-key provider");
  if (dir.empty()) return absl::InvalidArgumentError("Pool: empty directory");
  auto impl = std::make_unique<Pool::Impl>();
  impl->dir = dir;
  impl->root_keys = root_keys;
  if (options.fs == nullptr) {
    impl->owned_fs = std::make_unique<PosixFileSystem>();
    impl->fs = impl->owned_fs.get();
  } else {
    impl->fs = options.fs;
  }
  SEALPOOL_RETURN_IF_ERROR(options.chunker.Validate());
  impl->options = std::move(options);
  FileSystem* fs = impl->fs;

  SEALPOOL_ASSIGN_OR_RETURN(bool exists, fs->FileExists(dir));
  if (create) {
    if (exists) {
      SEALPOOL_ASSIGN_OR_RETURN(std::vector<std::string> entries, fs->ListDir(dir));
      if (!entries.empty()) {
        return absl::AlreadyExistsError(
            absl::StrCat("cannot create a pool in ", dir, ": the directory is not empty"));
      }
    } else {
      SEALPOOL_RETURN_IF_ERROR(fs->CreateDir(dir));
    }
  } else if (!exists) {
    return absl::NotFoundError(absl::StrCat("no pool in ", dir, ": the directory does not exist"));
  }
  absl::StatusOr<std::unique_ptr<FileLock>> lock = fs->LockFile(Join(dir, kLockFile));
  if (!lock.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the pool in ", dir, " is already open (", lock.status().message(), ")"));
  }
  impl->pool_lock = *std::move(lock);

  const std::string catalog_dir = Join(dir, kCatalogDir);
  if (!create) {
    SEALPOOL_ASSIGN_OR_RETURN(bool has_catalog, fs->FileExists(catalog_dir));
    if (!has_catalog) {
      return absl::FailedPreconditionError(
          absl::StrCat(dir, " is not a sealpool pool (no catalog/ in it)"));
    }
  }
  CatalogOptions catalog_options = impl->options.catalog;
  catalog_options.create_if_missing = create;
  SEALPOOL_ASSIGN_OR_RETURN(impl->catalog, Catalog::Open(catalog_dir, catalog_options));
  Catalog* catalog = impl->catalog.get();

  if (create) {
    impl->meta.catalog_format_version = kCatalogFormatNewest;
    SEALPOOL_RETURN_IF_ERROR(crypto::RandomBytes(impl->meta.pool_id));
    impl->meta.created_unix_micros = ToMicros(impl->options.clock());
    SEALPOOL_RETURN_IF_ERROR(impl->PutMetaSync(PoolMetaKey(), EncodePoolMeta(impl->meta)));
  } else {
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> value,
                              catalog->Get(Cf::kMeta, PoolMetaKey()));
    if (!value.has_value()) {
      return absl::DataLossError(absl::StrCat("the catalog of ", dir, " has no pool record"));
    }
    SEALPOOL_ASSIGN_OR_RETURN(impl->meta, DecodePoolMeta(*value));
    if (impl->meta.catalog_format_version > kCatalogFormatNewest) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the pool in ", dir, " has catalog format ", impl->meta.catalog_format_version,
          "; this sealpool reads up to ", kCatalogFormatNewest, ": upgrade sealpool"));
    }
    if (impl->meta.catalog_format_version < kCatalogFormatNewest) {
      // No pool of an older format was deployed: refused rather than migrated.
      return absl::FailedPreconditionError(absl::StrCat(
          "the pool in ", dir, " has catalog format ", impl->meta.catalog_format_version,
          "; this sealpool reads only format ", kCatalogFormatNewest,
          " and does not migrate older pools: create a new pool"));
    }
  }

  impl->segment_ids = std::make_unique<IdAllocator>(catalog, "segment", 4096);
  impl->container_ids = std::make_unique<IdAllocator>(catalog, "container", 16);
  impl->image_ids = std::make_unique<IdAllocator>(catalog, "image", 256);
  impl->delete_seq = std::make_unique<IdAllocator>(catalog, "delete", 1024);
  for (IdAllocator* a : {impl->segment_ids.get(), impl->container_ids.get(),
                         impl->image_ids.get(), impl->delete_seq.get()}) {
    SEALPOOL_RETURN_IF_ERROR(a->Load());
  }

  Pool::Impl* raw = impl.get();
  auto allocate_container_id = [raw]() -> absl::StatusOr<uint64_t> {
    return raw->container_ids->Next();
  };
  std::unique_ptr<ContainerStore> local_store;
  if (impl->options.container_store) {
    SEALPOOL_ASSIGN_OR_RETURN(
        local_store, impl->options.container_store(impl->meta.pool_id, allocate_container_id));
  } else {
    SEALPOOL_ASSIGN_OR_RETURN(
        local_store,
        LocalContainerStore::Open(fs, Join(dir, kContainerDir), impl->meta.pool_id,
                                  impl->options.containers, allocate_container_id));
  }
  {
    auto grouped = std::make_unique<GroupedContainerStore>(std::move(local_store));
    impl->grouped = grouped.get();
    impl->containers = std::move(grouped);
  }
  // S3 LSU: from here on every catalog batch goes to the bucket first (bucket_recovery.cc). The
  // log is the pool-wide store's, or the lowest-numbered S3 key group's (opened now for it).
  if (!create) SEALPOOL_RETURN_IF_ERROR(impl->OpenLogGroupStore());
  SEALPOOL_RETURN_IF_ERROR(impl->StartCatalogLog());

  std::string pool_id_text(reinterpret_cast<const char*>(impl->meta.pool_id.data()),
                           impl->meta.pool_id.size());
  SEALPOOL_ASSIGN_OR_RETURN(
      impl->keys,
      KeyDictionary::Create(
          root_keys, absl::BytesToHexString(pool_id_text),
          [catalog](std::string_view key, std::string_view value) {
            Catalog::Batch batch;
            batch.Put(Cf::kKeys, key, value);
            return catalog->Write(batch);
          },
          [catalog](std::string_view key) {
            Catalog::Batch batch;
            batch.Delete(Cf::kKeys, key);
            return catalog->Write(batch);
          },
          impl->options.keys));
  impl->keys->SetRecordReader(
      [catalog](std::string_view key) { return catalog->Get(Cf::kKeys, key); });
  {
    int threads = impl->options.seal_threads;
    if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    impl->seal_workers = std::make_unique<SealWorkers>(threads);
  }
  if (!create) {
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> backups,
                              catalog->Get(Cf::kMeta, kBackupTakenKey));
    impl->keep_retired_until_backup.store(backups.has_value());
    SEALPOOL_RETURN_IF_ERROR(impl->LoadMeta());
    SEALPOOL_RETURN_IF_ERROR(impl->OpenGroupStores());
    SEALPOOL_RETURN_IF_ERROR(impl->StartupRecovery());
    SEALPOOL_RETURN_IF_ERROR(impl->LoadContainerUsage());
  }
  impl->StartBackupTimer();
  return impl;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Pool>> Pool::Create(const std::string& dir,
                                                   RootKeyProvider* root_keys,
                                                   PoolOptions options) {
  SEALPOOL_ASSIGN_OR_RETURN(auto impl, OpenImpl(dir, root_keys, std::move(options), true));
  return std::unique_ptr<Pool>(new Pool(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<Pool>> Pool::Open(const std::string& dir,
                                                 RootKeyProvider* root_keys,
                                                 PoolOptions options) {
  SEALPOOL_ASSIGN_OR_RETURN(auto impl, OpenImpl(dir, root_keys, std::move(options), false));
  return std::unique_ptr<Pool>(new Pool(std::move(impl)));
}

const std::string& Pool::dir() const { return impl_->dir; }

std::string Pool::pool_id_hex() const {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(impl_->meta.pool_id.data()),
                        impl_->meta.pool_id.size()));
}

absl::Status Pool::CreateKeyGroup(std::string_view name, std::string_view kms_backend,
                                  const ContainerTarget& target, KekMode kek_mode) {
  SEALPOOL_RETURN_IF_ERROR(ValidateName("key group name", name));
  SEALPOOL_RETURN_IF_ERROR(ValidateTarget(name, target));
  // The key service's narrower rule too, before a group number is taken.
  SEALPOOL_RETURN_IF_ERROR(KeyDictionary::ValidateGroupName(name));
  SEALPOOL_RETURN_IF_ERROR(ValidateName("KMS backend name", kms_backend));
  Impl& p = *impl_;
  absl::MutexLock maintenance(&p.maintenance_mu);  // one admin change at a time
  {
    absl::MutexLock lock(&p.meta_mu);
    if (p.group_by_name.contains(name)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "key group \"", absl::CHexEscape(base::AbslView(name)), "\" exists already"));
    }
  }
  SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> next,
                            p.catalog->Get(Cf::kMeta, AllocatorKey("group")));
  uint32_t group_no = 1;
  if (next.has_value()) {
    SEALPOOL_ASSIGN_OR_RETURN(uint64_t n, DecodeU64(*next, "group allocator"));
    if (n >= UINT32_MAX) return absl::ResourceExhaustedError("no key group number left");
    group_no = static_cast<uint32_t>(n);
  }
  // The number is burnt before the keys exist: a failure below never reuses it.
  SEALPOOL_RETURN_IF_ERROR(p.PutMetaSync(AllocatorKey("group"), EncodeU64(group_no + 1ULL)));

  KeyGroupRecord record;
  record.group_no = group_no;
  record.name = std::string(name);
  SEALPOOL_RETURN_IF_ERROR(crypto::RandomBytes(record.group_id));
  std::vector<uint8_t> params;
  p.options.chunker.EncodeTo(&params);
  record.chunker_params.assign(params.begin(), params.end());
  record.kms_backend = std::string(kms_backend);
  record.created_unix_micros = ToMicros(p.options.clock());
  record.s3_endpoint = target.s3_endpoint;
  record.s3_bucket = target.s3_bucket;
  record.s3_prefix = target.s3_prefix;
  std::unique_ptr<ContainerStore> group_store;
  if (target.is_s3()) {
    SEALPOOL_ASSIGN_OR_RETURN(group_store, p.OpenGroupStore(record, {}));
  }
  // Keys first (needs the KMS); the group becomes visible only when its record is written.
  SEALPOOL_RETURN_IF_ERROR(p.keys->CreateGroup(group_no, record.name, kek_mode));
  if (group_store != nullptr) {
    SEALPOOL_RETURN_IF_ERROR(
        p.grouped->AddGroupStore(record.group_id, group_no, record.name, std::move(group_store)));
    if (!p.catalog_log_installed && p.containers->catalog_log() != nullptr) {
      // The pool's first S3 group: its folder holds the catalog's commit records from now on,
      // and a backup is taken at once (the base of any recovery); the group's record below is
      // the first record after it. If that backup fails once the log is installed, the backup
      // thread takes one as soon as it can (due now), and this call fails.
      absl::Status started = p.StartCatalogLog();
      if (p.catalog_log_installed && !p.backup_timer.joinable()) {
        if (!started.ok()) {
          absl::MutexLock lock(&p.backup_timer_mu);
          p.backup_due = true;
        }
        p.StartBackupTimer();
      }
      SEALPOOL_RETURN_IF_ERROR(started);
    }
  }
  SEALPOOL_RETURN_IF_ERROR(p.PutMetaSync(KeyGroupKey(group_no), EncodeKeyGroup(record)));
  absl::MutexLock lock(&p.meta_mu);
  GroupState state;
  state.chunker = p.options.chunker;
  state.record = std::move(record);
  p.group_by_name[state.record.name] = group_no;
  p.groups[group_no] = std::move(state);
  return absl::OkStatus();
}

namespace {

absl::Status ValidateLsuOptions(std::string_view lsu, const LsuOptions& options) {
  if (options.max_retention <= absl::ZeroDuration() ||
      options.max_retention >= absl::Microseconds(INT64_MAX) ||
      absl::ToInt64Microseconds(options.max_retention) <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "LSU \"", absl::CHexEscape(base::AbslView(lsu)), "\": max_retention ",
        absl::FormatDuration(options.max_retention), " is not a positive, finite duration"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Pool::CreateLsu(std::string_view name, std::string_view key_group,
                             LsuOptions options) {
  SEALPOOL_RETURN_IF_ERROR(ValidateName("LSU name", name));
  SEALPOOL_RETURN_IF_ERROR(ValidateLsuOptions(name, options));
  Impl& p = *impl_;
  absl::MutexLock maintenance(&p.maintenance_mu);
  SEALPOOL_ASSIGN_OR_RETURN(uint32_t group_no, p.FindGroupNo(key_group));
  {
    absl::MutexLock lock(&p.meta_mu);
    if (p.lsus.contains(name)) {
      return absl::AlreadyExistsError(
          absl::StrCat("LSU \"", absl::CHexEscape(base::AbslView(name)), "\" exists already"));
    }
  }
  LsuRecord record;
  record.name = std::string(name);
  record.group_no = group_no;
  record.allow_client_delete = options.allow_client_delete;
  record.max_retention_micros = static_cast<uint64_t>(absl::ToInt64Microseconds(options.max_retention));
  record.created_unix_micros = ToMicros(p.options.clock());
  SEALPOOL_RETURN_IF_ERROR(p.PutMetaSync(LsuKey(name), EncodeLsu(record)));
  absl::MutexLock lock(&p.meta_mu);
  p.lsus[record.name] = record;
  return absl::OkStatus();
}

absl::Status Pool::UpdateLsu(std::string_view name, LsuOptions options) {
  SEALPOOL_RETURN_IF_ERROR(ValidateLsuOptions(name, options));
  Impl& p = *impl_;
  absl::MutexLock maintenance(&p.maintenance_mu);  // one admin change at a time
  SEALPOOL_ASSIGN_OR_RETURN(LsuRecord record, p.FindLsu(name));
  record.allow_client_delete = options.allow_client_delete;
  record.max_retention_micros = static_cast<uint64_t>(absl::ToInt64Microseconds(options.max_retention));
  SEALPOOL_RETURN_IF_ERROR(p.PutMetaSync(LsuKey(name), EncodeLsu(record)));
  absl::MutexLock lock(&p.meta_mu);
  p.lsus[record.name] = record;
  return absl::OkStatus();
}

absl::StatusOr<std::vector<KeyGroupInfo>> Pool::ListKeyGroups() const {
  std::vector<KeyGroupInfo> out;
  {
    absl::MutexLock lock(&impl_->meta_mu);
    for (const auto& [no, g] : impl_->groups) {
      KeyGroupInfo info;
      info.name = g.record.name;
      info.group_no = no;
      info.kms_backend = g.record.kms_backend;
      info.target = TargetOf(g.record);
      info.chunker = g.chunker;
      out.push_back(std::move(info));
    }
  }
  for (KeyGroupInfo& info : out) {
    SEALPOOL_ASSIGN_OR_RETURN(info.keks, impl_->keys->ListKeks(info.group_no));
  }
  return out;
}

absl::StatusOr<std::vector<WrappedKeyRef>> Pool::ListWrappedKeys(
    std::string_view key_group) const {
  SEALPOOL_ASSIGN_OR_RETURN(uint32_t group_no, impl_->FindGroupNo(key_group));
  return impl_->keys->ListWrappedKeys(group_no);
}

absl::StatusOr<std::vector<LsuInfo>> Pool::ListLsus() const {
  std::vector<LsuInfo> out;
  absl::MutexLock lock(&impl_->meta_mu);
  for (const auto& [name, lsu] : impl_->lsus) {
    LsuInfo info;
    info.name = name;
    info.allow_client_delete = lsu.allow_client_delete;
    info.max_retention = absl::Microseconds(static_cast<int64_t>(lsu.max_retention_micros));
    auto it = impl_->groups.find(lsu.group_no);
    if (it != impl_->groups.end()) info.key_group = it->second.record.name;
    out.push_back(std::move(info));
  }
  return out;
}

absl::StatusOr<PoolStats> Pool::Stats() const {
  Impl& p = *impl_;
  PoolStats s;
  auto counter = [&](std::string_view name) -> absl::StatusOr<uint64_t> {
    SEALPOOL_ASSIGN_OR_RETURN(int64_t v, p.catalog->GetCounter(PoolCounterKey(name)));
    return v < 0 ? 0 : static_cast<uint64_t>(v);
  };
  SEALPOOL_ASSIGN_OR_RETURN(s.images, counter("images"));
  SEALPOOL_ASSIGN_OR_RETURN(s.logical_bytes, counter("logical_bytes"));
  SEALPOOL_ASSIGN_OR_RETURN(s.segments, counter("segments"));
  SEALPOOL_ASSIGN_OR_RETURN(s.stored_bytes, counter("stored_bytes"));
  SEALPOOL_ASSIGN_OR_RETURN(uint64_t jobs, counter(kDeleteJobsCounter));
  {
    // Each image being written holds one job (queued by BeginImage, deleted by its Commit).
    absl::MutexLock lock(&p.meta_mu);
    s.pending_delete_jobs = jobs > p.active_images.size() ? jobs - p.active_images.size() : 0;
  }
  const double threshold = p.options.compaction_live_threshold;
  std::vector<std::pair<uint64_t, uint64_t>> under;  // (container, live records) below it
  {
    absl::MutexLock lock(&p.usage_mu);
    for (const auto& [id, u] : p.usage) {
      ++s.containers;
      s.space_allocated += u.file_bytes;
      const uint64_t used = u.live_bytes < 0 ? 0 : static_cast<uint64_t>(u.live_bytes);
      s.space_used += used;
      if (static_cast<double>(used) < threshold * static_cast<double>(u.file_bytes)) {
        under.emplace_back(id, u.live_records < 0 ? 0 : static_cast<uint64_t>(u.live_records));
      }
    }
  }
  for (const auto& [id, records] : under) {
    if (p.containers->IsOpenForAppend(id)) continue;
    ++s.containers_to_compact;
    s.records_to_compact += records;
  }
  s.space_reclaimable = s.space_allocated > s.space_used ? s.space_allocated - s.space_used : 0;
  s.catalog_memory = p.catalog->Memory();
  return s;
}

absl::StatusOr<PoolStats> Pool::RecountStats() const {
  Impl& p = *impl_;
  PoolStats s;
  // Every image record and every segment record, rather than the counters Stats() reads; live
  // bytes and records per container from the segment records too.
  absl::flat_hash_map<uint64_t, std::pair<uint64_t, uint64_t>> live_in;
  SEALPOOL_RETURN_IF_ERROR(p.catalog->Scan(
      Cf::kImages, ImagePrefix(), [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
        SEALPOOL_ASSIGN_OR_RETURN(ImageRecord image, DecodeImage(value));
        ++s.images;
        s.logical_bytes += image.size;
        return true;
      }));
  SEALPOOL_RETURN_IF_ERROR(p.catalog->Scan(
      Cf::kSegments, "", [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
        SEALPOOL_ASSIGN_OR_RETURN(SegmentRecord record, DecodeSegmentRecord(value));
        ++s.segments;
        s.stored_bytes += record.record_length;
        auto& [bytes, records] = live_in[record.container_id];
        bytes += record.record_length;
        ++records;
        return true;
      }));
  const double threshold = p.options.compaction_live_threshold;
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint64_t> files, p.containers->List());
  for (uint64_t id : files) {
    absl::StatusOr<uint64_t> size = p.containers->FileSize(id);
    if (!size.ok()) continue;  // removed meanwhile
    ++s.containers;
    s.space_allocated += *size;
    const auto [used, records] = live_in[id];
    s.space_used += used;
    if (!p.containers->IsOpenForAppend(id) &&
        static_cast<double>(used) < threshold * static_cast<double>(*size)) {
      ++s.containers_to_compact;
      s.records_to_compact += records;
    }
  }
  s.space_reclaimable = s.space_allocated > s.space_used ? s.space_allocated - s.space_used : 0;
  absl::flat_hash_set<uint64_t> writing;
  {
    absl::MutexLock lock(&p.meta_mu);
    writing = p.active_images;
  }
  SEALPOOL_RETURN_IF_ERROR(p.catalog->Scan(
      Cf::kDeleteQueue, "", [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
        // The held job of an image being written is not a pending delete.
        absl::StatusOr<DeleteJob> job = DecodeDeleteJob(value);
        if (job.ok() && job->kind == DeleteJob::Kind::kImageReferences &&
            writing.contains(job->image_id)) {
          return true;
        }
        ++s.pending_delete_jobs;
        return true;
      }));
  s.catalog_memory = p.catalog->Memory();
  return s;
}

absl::StatusOr<uint32_t> Pool::BackupCatalog(const std::string& backup_dir, uint32_t keep) {
  Impl& p = *impl_;
  // From now on compaction keeps retired containers until the next backup.
  p.keep_retired_until_backup.store(true);
  SEALPOOL_RETURN_IF_ERROR(p.PutMetaSync(kBackupTakenKey, EncodeU64(ToMicros(p.options.clock()))));
  // Containers retired before this backup: the backup no longer points at them.
  std::vector<uint64_t> retired;
  SEALPOOL_RETURN_IF_ERROR(p.catalog->Scan(
      Cf::kContainers, "", [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
        SEALPOOL_ASSIGN_OR_RETURN(uint64_t id, DecodeContainerKey(key));
        SEALPOOL_ASSIGN_OR_RETURN(ContainerRecord record, DecodeContainer(value));
        if (record.state == ContainerRecord::State::kRetired) retired.push_back(id);
        return true;
      }));
  SEALPOOL_ASSIGN_OR_RETURN(uint32_t id, p.catalog->Backup(backup_dir, keep));
  absl::MutexLock maintenance(&p.maintenance_mu);
  for (uint64_t c : retired) SEALPOOL_RETURN_IF_ERROR(RemoveRetiredContainer(p, c));
  return id;
}

absl::Status Pool::RestoreCatalog(const std::string& backup_dir, const std::string& pool_dir) {
  PosixFileSystem fs;
  // Refuse while the pool is open: take its lock for the duration.
  absl::StatusOr<std::unique_ptr<FileLock>> lock = fs.LockFile(Join(pool_dir, kLockFile));
  if (!lock.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot restore the catalog of ", pool_dir, " while the pool is open (",
        lock.status().message(), ")"));
  }
  SEALPOOL_RETURN_IF_ERROR(Catalog::RestoreLatest(backup_dir, Join(pool_dir, kCatalogDir)));
  // The next Open reconciles ids with the containers (see StartupRecovery).
  SEALPOOL_ASSIGN_OR_RETURN(auto marker, fs.NewWritableFile(Join(pool_dir, kRestoredMarker),
                                                            OpenMode::kCreateOrTruncate));
  SEALPOOL_RETURN_IF_ERROR(marker->Sync());
  SEALPOOL_RETURN_IF_ERROR(marker->Close());
  return fs.SyncDir(pool_dir);
}

}  // namespace sealpool::storage
