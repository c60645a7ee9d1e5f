#include "storage/store/local_container_store.h"

#include <chrono>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "base/status_macros.h"
#include "storage/store/format_magic.h"

namespace sealpool::storage {

namespace {

constexpr size_t kIdHexDigits = 16;

std::string GroupName(const Id128& key_group_id) {
  return absl::StrCat(
      "key group ",
      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(key_group_id.data()),
                                               key_group_id.size())));
}

uint64_t NowUnixMicros() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

std::string ContainerFileName(uint64_t container_id) {
  return absl::StrCat(absl::Hex(container_id, absl::kZeroPad16), magic::kContainerFileSuffix);
}

std::optional<uint64_t> ParseContainerFileName(std::string_view name) {
  const std::string_view suffix = magic::kContainerFileSuffix;
  if (name.size() != kIdHexDigits + suffix.size() || name.substr(kIdHexDigits) != suffix) {
    return std::nullopt;
  }
  uint64_t id = 0;
  for (char c : name.substr(0, kIdHexDigits)) {
    uint64_t digit;
    if (c >= '0' && c <= '9') {
      digit = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<uint64_t>(c - 'a' + 10);
    } else {
      return std::nullopt;  // upper case too: ContainerFileName never writes it
    }
    id = (id << 4) | digit;
  }
  return id;
}

LocalContainerStore::LocalContainerStore(FileSystem* fs, std::string dir, Id128 pool_id,
                               ContainerStoreOptions options,
                               std::function<absl::StatusOr<uint64_t>()> allocate_id)
    : fs_(fs),
      dir_(std::move(dir)),
      pool_id_(pool_id),
      options_(options),
      allocate_id_(std::move(allocate_id)) {}

LocalContainerStore::~LocalContainerStore() = default;

absl::StatusOr<std::unique_ptr<LocalContainerStore>> LocalContainerStore::Open(
    FileSystem* fs, std::string dir, Id128 pool_id, ContainerStoreOptions options,
    std::function<absl::StatusOr<uint64_t>()> allocate_id) {
  if (options.max_open_readers == 0) {
    return absl::InvalidArgumentError("container store: max_open_readers must be at least 1");
  }
  if (options.target_size == 0) {
    return absl::InvalidArgumentError("container store: target_size must not be 0");
  }
  if (!allocate_id) {
    return absl::InvalidArgumentError("container store: no container id allocator");
  }
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  const std::string context = absl::StrCat("open container store ", dir);
  SEALPOOL_RETURN_IF_ERROR(base::Annotate(fs->CreateDir(dir), context));
  // The directory may be new: make its entry in the pool directory durable.
  SEALPOOL_RETURN_IF_ERROR(base::Annotate(fs->SyncDir(DirName(dir)), context));
  // Fail now, not at the first read, if it cannot be listed.
  SEALPOOL_RETURN_IF_ERROR(base::Annotate(fs->ListDir(dir).status(), context));
  return std::unique_ptr<LocalContainerStore>(
      new LocalContainerStore(fs, std::move(dir), pool_id, options, std::move(allocate_id)));
}

std::string LocalContainerStore::PathOf(uint64_t container_id) const {
  return absl::StrCat(dir_, "/", ContainerFileName(container_id));
}

std::shared_ptr<LocalContainerStore::Group> LocalContainerStore::GetGroup(const Id128& key_group_id) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<Group>& group = groups_[key_group_id];
  if (group == nullptr) group = std::make_shared<Group>(key_group_id);
  return group;
}

std::vector<std::shared_ptr<LocalContainerStore::Group>> LocalContainerStore::Groups() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Group>> groups;
  groups.reserve(groups_.size());
  for (const auto& [id, group] : groups_) groups.push_back(group);
  return groups;
}

absl::Status LocalContainerStore::StartContainer(Group& group) {
  uint64_t id = 0;
  {
    absl::MutexLock lock(&allocate_mu_);
    absl::StatusOr<uint64_t> allocated = allocate_id_();
    if (!allocated.ok()) {
      return base::Annotate(allocated.status(),
                            absl::StrCat("allocate a container id for ",
                                         GroupName(group.key_group_id)));
    }
    id = *allocated;
  }
  {
    absl::MutexLock lock(&mu_);
    // Reserved before the file exists, so that nobody (compaction) takes a container being
    // created for a finished one.
    if (!open_for_append_.insert(id).second) {
      return absl::InternalError(absl::StrCat("allocate_id returned container id ", id,
                                              ", which is already open for append"));
    }
  }
  ContainerHeader header;
  header.container_id = id;
  header.created_unix_micros = NowUnixMicros();
  header.pool_id = pool_id_;
  header.key_group_id = group.key_group_id;
  ContainerWriterOptions writer_options;
  writer_options.target_size = options_.target_size;
  absl::StatusOr<std::unique_ptr<ContainerWriter>> writer =
      ContainerWriter::Create(fs_, PathOf(id), header, writer_options);
  if (!writer.ok()) {
    absl::MutexLock lock(&mu_);
    open_for_append_.erase(id);
    return base::Annotate(writer.status(), absl::StrCat("new container ", id, " (", PathOf(id),
                                                        ") for ", GroupName(group.key_group_id)));
  }
  group.writer = *std::move(writer);
  group.appended_end = 0;
  return absl::OkStatus();
}

// `error` is taken by value: callers pass the writer's own status, which reset() frees.
void LocalContainerStore::AbandonWriter(Group& group, absl::Status error) {
  const uint64_t id = group.writer->header().container_id;
  const uint64_t durable_end = group.writer->synced_size();
  const bool lost = group.appended_end > durable_end;
  group.writer.reset();
  group.appended_end = 0;
  absl::MutexLock lock(&mu_);
  open_for_append_.erase(id);
  if (lost) {
    Loss& loss = losses_[id];
    loss.durable_end = durable_end;
    loss.error = std::move(error);
    loss.sequence = ++loss_sequence_;
  }
}

absl::Status LocalContainerStore::CloseWriter(Group& group) {
  const uint64_t id = group.writer->header().container_id;
  if (absl::Status status = group.writer->Close(); !status.ok()) {
    AbandonWriter(group, status);
    return base::Annotate(status, absl::StrCat("close container ", id));
  }
  group.writer.reset();
  group.appended_end = 0;
  absl::MutexLock lock(&mu_);
  open_for_append_.erase(id);
  return absl::OkStatus();
}

absl::StatusOr<StoredLocation> LocalContainerStore::Append(const Id128& key_group_id,
                                                      const SealedSegment& segment) {
  std::shared_ptr<Group> group = GetGroup(key_group_id);
  absl::MutexLock lock(&group->mu);
  if (group->writer != nullptr && !group->writer->HasRoomFor(segment.stored.size())) {
    // Roll over. A failed close is recorded as a loss (reported by Sync) and does not stop this
    // record, which goes to the new container.
    (void)CloseWriter(*group);
  }
  if (group->writer == nullptr) SEALPOOL_RETURN_IF_ERROR(StartContainer(*group));
  ContainerWriter& writer = *group->writer;
  absl::StatusOr<RecordLocation> location = writer.Append(segment);
  if (!location.ok()) {
    // InvalidArgument leaves the writer usable; a failed write does not.
    if (!writer.status().ok()) AbandonWriter(*group, writer.status());
    return location.status();
  }
  group->appended_end = location->end();
  return StoredLocation{writer.header().container_id, *location};
}

absl::Status LocalContainerStore::SyncAllGroups() {
  absl::Status first;
  for (const std::shared_ptr<Group>& group : Groups()) {
    absl::MutexLock lock(&group->mu);
    if (group->writer == nullptr || group->writer->synced_size() >= group->writer->size()) {
      continue;
    }
    if (absl::Status status = group->writer->Sync(); !status.ok()) {
      AbandonWriter(*group, status);
      first.Update(base::Annotate(status, absl::StrCat("sync ", GroupName(group->key_group_id))));
    }
  }
  return first;
}

absl::Status LocalContainerStore::Sync() {
  uint64_t losses_at_arrival = 0;
  {
    absl::MutexLock lock(&mu_);
    losses_at_arrival = loss_sequence_;
  }

  absl::Status status;
  bool shared = false;
  {
    absl::MutexLock lock(&sync_mu_);
    std::shared_ptr<SyncRound> mine;
    if (running_round_ != nullptr) {
      // The running round may have passed our group already: wait for the next one.
      if (queued_round_ == nullptr) queued_round_ = std::make_shared<SyncRound>();
      mine = queued_round_;
      while (!mine->done && running_round_ != nullptr) sync_done_.Wait(&sync_mu_);
      if (mine->done) {
        status = mine->status;
        shared = true;
      }
    } else {
      mine = queued_round_ != nullptr ? queued_round_ : std::make_shared<SyncRound>();
    }
    if (!shared) {
      // Lead `mine`: nobody else runs a round now.
      if (queued_round_ == mine) queued_round_ = nullptr;
      running_round_ = mine;
      sync_mu_.Unlock();
      status = SyncAllGroups();
      sync_mu_.Lock();
      mine->status = status;
      mine->done = true;
      running_round_ = nullptr;
      sync_done_.SignalAll();
    }
  }
  if (!status.ok()) return status;

  // A loss recorded while we waited (a failed append or rollover) may hold our records.
  absl::MutexLock lock(&mu_);
  const std::pair<const uint64_t, Loss>* first = nullptr;
  for (const auto& entry : losses_) {
    if (entry.second.sequence > losses_at_arrival &&
        (first == nullptr || entry.second.sequence < first->second.sequence)) {
      first = &entry;
    }
  }
  if (first != nullptr) {
    return base::Annotate(first->second.error,
                          absl::StrCat("container ", first->first, " lost records after offset ",
                                       first->second.durable_end));
  }
  return absl::OkStatus();
}

absl::Status LocalContainerStore::CheckDurable(const StoredLocation& where) {
  const uint64_t id = where.container_id;
  const uint64_t end = where.location.end();
  {
    absl::MutexLock lock(&mu_);
    if (auto it = losses_.find(id); it != losses_.end() && end > it->second.durable_end) {
      return base::Annotate(it->second.error,
                            absl::StrCat("container ", id, " offset ", where.location.offset,
                                         ": record lost (not synced before the container failed)"));
    }
    if (!open_for_append_.contains(id)) return absl::OkStatus();  // closed after a sync
  }
  for (const std::shared_ptr<Group>& group : Groups()) {
    absl::MutexLock lock(&group->mu);
    if (group->writer != nullptr && group->writer->header().container_id == id &&
        group->writer->synced_size() < end) {
      return absl::FailedPreconditionError(
          absl::StrCat("container ", id, " offset ", where.location.offset,
                       ": record not durable yet (appended after the sync began)"));
    }
  }
  // Closed (and synced) or abandoned without loss since the check above; recheck the loss.
  absl::MutexLock lock(&mu_);
  if (auto it = losses_.find(id); it != losses_.end() && end > it->second.durable_end) {
    return base::Annotate(it->second.error,
                          absl::StrCat("container ", id, " offset ", where.location.offset,
                                       ": record lost (not synced before the container failed)"));
  }
  return absl::OkStatus();
}

absl::Status LocalContainerStore::Sync(std::span<const StoredLocation> locations) {
  absl::Status round = Sync();
  for (const StoredLocation& where : locations) {
    SEALPOOL_RETURN_IF_ERROR(CheckDurable(where));
  }
  (void)round;  // failures elsewhere do not concern these locations
  return absl::OkStatus();
}

absl::Status LocalContainerStore::SealOpenContainers() {
  absl::Status first;
  for (const std::shared_ptr<Group>& group : Groups()) {
    absl::MutexLock lock(&group->mu);
    if (group->writer == nullptr) continue;
    first.Update(base::Annotate(CloseWriter(*group),
                                absl::StrCat("seal ", GroupName(group->key_group_id))));
  }
  return first;
}

absl::StatusOr<std::vector<uint64_t>> LocalContainerStore::List() const {
  absl::StatusOr<std::vector<std::string>> names = fs_->ListDir(dir_);
  if (!names.ok()) return base::Annotate(names.status(), "list containers");
  std::vector<uint64_t> ids;
  for (const std::string& name : *names) {
    if (std::optional<uint64_t> id = ParseContainerFileName(name)) ids.push_back(*id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

bool LocalContainerStore::IsOpenForAppend(uint64_t container_id) const {
  absl::MutexLock lock(&mu_);
  return open_for_append_.contains(container_id);
}

absl::StatusOr<std::shared_ptr<const ContainerReader>> LocalContainerStore::CachedReader(
    uint64_t container_id) const {
  {
    absl::MutexLock lock(&cache_mu_);
    if (auto it = cache_index_.find(container_id); it != cache_index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
  }
  // Opened without the lock (it reads the file header); a concurrent miss may open it too.
  absl::StatusOr<std::unique_ptr<ContainerReader>> opened =
      ContainerReader::Open(fs_, PathOf(container_id));
  if (!opened.ok()) {
    return base::Annotate(opened.status(), absl::StrCat("container ", container_id));
  }
  std::shared_ptr<const ContainerReader> reader = *std::move(opened);
  absl::MutexLock lock(&cache_mu_);
  if (removed_.contains(container_id)) return reader;  // removed meanwhile: serve, do not cache
  if (auto it = cache_index_.find(container_id); it != cache_index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  lru_.emplace_front(container_id, reader);
  cache_index_[container_id] = lru_.begin();
  while (lru_.size() > options_.max_open_readers) {
    cache_index_.erase(lru_.back().first);
    lru_.pop_back();  // closes the file once no read is using it
  }
  return reader;
}

void LocalContainerStore::ForgetReader(uint64_t container_id) {
  absl::MutexLock lock(&cache_mu_);
  removed_.insert(container_id);
  if (auto it = cache_index_.find(container_id); it != cache_index_.end()) {
    lru_.erase(it->second);
    cache_index_.erase(it);
  }
}

std::vector<uint64_t> LocalContainerStore::CachedReaderIds() const {
  absl::MutexLock lock(&cache_mu_);
  std::vector<uint64_t> ids;
  for (const auto& entry : lru_) ids.push_back(entry.first);
  return ids;
}

absl::StatusOr<RecordHeader> LocalContainerStore::Read(const StoredLocation& where,
                                                  std::vector<uint8_t>* stored,
                                                  std::optional<crypto::SegmentId> expected) const {
  absl::StatusOr<std::shared_ptr<const ContainerReader>> reader = CachedReader(where.container_id);
  if (!reader.ok()) {
    stored->clear();
    return reader.status();
  }
  return (*reader)->ReadRecord(where.location, stored, expected);
}

absl::Status LocalContainerStore::Remove(uint64_t container_id) {
  if (IsOpenForAppend(container_id)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "remove container ", container_id, ": it is open for append (seal it first)"));
  }
  // A cached reader would keep the file's space allocated until evicted; racing reads that open
  // it before the unlink are served but not cached (removed_).
  ForgetReader(container_id);
  SEALPOOL_RETURN_IF_ERROR(base::Annotate(fs_->RemoveFile(PathOf(container_id)),
                                          absl::StrCat("remove container ", container_id)));
  return base::Annotate(fs_->SyncDir(dir_),
                        absl::StrCat("remove container ", container_id, ": sync directory"));
}

absl::StatusOr<uint64_t> LocalContainerStore::FileSize(uint64_t container_id) const {
  absl::StatusOr<uint64_t> size = fs_->GetFileSize(PathOf(container_id));
  if (!size.ok()) return base::Annotate(size.status(), absl::StrCat("container ", container_id));
  return size;
}

absl::StatusOr<std::unique_ptr<ContainerReader>> LocalContainerStore::OpenReader(
    uint64_t container_id) const {
  absl::StatusOr<std::unique_ptr<ContainerReader>> reader =
      ContainerReader::Open(fs_, PathOf(container_id));
  if (!reader.ok()) {
    return base::Annotate(reader.status(), absl::StrCat("container ", container_id));
  }
  return reader;
}

}  // namespace sealpool::storage
