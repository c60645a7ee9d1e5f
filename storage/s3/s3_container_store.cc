#include "storage/s3/s3_container_store.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace sealpool::storage::s3 {
namespace {

using base::Cat;

std::string Hex(const Id128& id) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

std::optional<uint64_t> ParseObjectName(std::string_view name) {
  // <16 lower-case hex digits>.spc
  if (name.size() != 20 || !name.ends_with(".spc")) return std::nullopt;
  uint64_t v = 0;
  for (char c : name.substr(0, 16)) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

uint64_t NowMicros() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace

std::string ContainerObjectPrefix(std::string_view prefix, const Id128& pool_id) {
  return Cat(prefix, "sealpool-", Hex(pool_id), "/containers/");
}

std::string ContainerObjectKey(std::string_view prefix, const Id128& pool_id, uint64_t id) {
  char name[17];
  for (int i = 15; i >= 0; --i) {
    name[i] = "0123456789abcdef"[id & 15];
    id >>= 4;
  }
  name[16] = 0;
  return Cat(ContainerObjectPrefix(prefix, pool_id), name, ".spc");
}

// ---- the block cache and the object file -----------------------------------------------------

class S3ContainerStore::BlockCache {
 public:
  BlockCache(uint64_t capacity, uint64_t block) : capacity_(capacity), block_(block) {}
  uint64_t block() const { return block_; }

  std::shared_ptr<const std::vector<uint8_t>> Find(uint64_t id, uint64_t index) {
    absl::MutexLock lock(&mu_);
    auto it = index_.find({id, index});
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  void Insert(uint64_t id, uint64_t index, std::shared_ptr<const std::vector<uint8_t>> data) {
    absl::MutexLock lock(&mu_);
    if (index_.contains({id, index})) return;
    bytes_ += data->size();
    lru_.emplace_front(std::make_pair(id, index), std::move(data));
    index_[{id, index}] = lru_.begin();
    while (bytes_ > capacity_ && lru_.size() > 1) {
      bytes_ -= lru_.back().second->size();
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }
  void Forget(uint64_t id) {
    absl::MutexLock lock(&mu_);
    for (auto it = lru_.begin(); it != lru_.end();) {
      if (it->first.first == id) {
        bytes_ -= it->second->size();
        index_.erase(it->first);
        it = lru_.erase(it);
      } else {
        ++it;
      }
    }
  }

 private:
  using Key = std::pair<uint64_t, uint64_t>;
  using Lru = std::list<std::pair<Key, std::shared_ptr<const std::vector<uint8_t>>>>;
  const uint64_t capacity_;
  const uint64_t block_;
  absl::Mutex mu_;
  Lru lru_ ABSL_GUARDED_BY(mu_);
  std::map<Key, Lru::iterator> index_ ABSL_GUARDED_BY(mu_);
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

namespace {

// A container object read by ranged GETs of whole cache blocks.
class ObjectFile final : public RandomAccessFile {
 public:
  ObjectFile(S3Client* client, std::string key, uint64_t id, uint64_t size,
             std::shared_ptr<S3ContainerStore::BlockCache> cache)
      : client_(client),
        key_(std::move(key)),
        id_(id),
        size_(size),
        cache_(std::move(cache)),
        path_(Cat("s3://", client->target().bucket, "/", key_)) {}

  absl::StatusOr<size_t> Read(uint64_t offset, std::span<uint8_t> out) const override {
    if (offset >= size_) return size_t{0};
    const uint64_t want = std::min<uint64_t>(out.size(), size_ - offset);
    const uint64_t bs = cache_->block();
    uint64_t done = 0;
    while (done < want) {
      const uint64_t pos = offset + done;
      const uint64_t index = pos / bs;
      std::shared_ptr<const std::vector<uint8_t>> block = cache_->Find(id_, index);
      if (block == nullptr) {
        const uint64_t begin = index * bs;
        absl::StatusOr<std::vector<uint8_t>> got =
            client_->Get(key_, begin, std::min(bs, size_ - begin));
        if (absl::IsNotFound(got.status()) || absl::IsOutOfRange(got.status())) {
          return absl::DataLossError(Cat("container ", id_, " (", path_, "): the object is gone ",
                                         "or shorter than its ", size_, " bytes: ",
                                         got.status().message()));
        }
        if (!got.ok()) return got.status();
        block = std::make_shared<const std::vector<uint8_t>>(std::move(*got));
        cache_->Insert(id_, index, block);
      }
      const uint64_t in_block = pos - index * bs;
      if (in_block >= block->size()) break;  // the object is shorter than we know: truncated
      const uint64_t n = std::min<uint64_t>(want - done, block->size() - in_block);
      std::memcpy(out.data() + done, block->data() + in_block, n);
      done += n;
      if (block->size() < std::min(bs, size_ - index * bs)) break;  // short block: truncated
    }
    return static_cast<size_t>(done);
  }
  absl::StatusOr<uint64_t> Size() const override { return size_; }
  const std::string& path() const override { return path_; }

 private:
  S3Client* const client_;
  const std::string key_;
  const uint64_t id_;
  const uint64_t size_;
  const std::shared_ptr<S3ContainerStore::BlockCache> cache_;
  const std::string path_;
};

}  // namespace

// ---- the store -------------------------------------------------------------------------------

S3ContainerStore::S3ContainerStore(S3Client* client, std::string prefix, Id128 pool_id,
                                   S3ContainerStoreOptions options,
                                   std::function<absl::StatusOr<uint64_t>()> allocate_id)
    : client_(client),
      prefix_(std::move(prefix)),
      pool_id_(pool_id),
      options_(options),
      cache_(std::make_shared<BlockCache>(options.read_cache_bytes, options.cache_block_bytes)),
      allocate_id_(std::move(allocate_id)) {}

S3ContainerStore::~S3ContainerStore() = default;

absl::StatusOr<std::unique_ptr<S3ContainerStore>> S3ContainerStore::Open(
    S3Client* client, std::string prefix, Id128 pool_id, S3ContainerStoreOptions options,
    std::function<absl::StatusOr<uint64_t>()> allocate_id) {
  if (!prefix.empty() && prefix.back() != '/') {
    return absl::InvalidArgumentError(
        Cat("S3 prefix '", Sanitize(prefix, 120), "' must be empty or end with '/'"));
  }
  if (!prefix.empty()) SEALPOOL_RETURN_IF_ERROR(ValidateKey(prefix + "x"));
  if (!allocate_id) return absl::InvalidArgumentError("S3 container store: no id allocator");
  if (options.containers.max_open_readers < 1 || options.cache_block_bytes < 4096 ||
      options.read_cache_bytes < options.cache_block_bytes) {
    return absl::InvalidArgumentError(
        "S3 container store: max_open_readers >= 1, cache_block_bytes >= 4096 and "
        "read_cache_bytes >= cache_block_bytes");
  }
  auto store = std::unique_ptr<S3ContainerStore>(
      new S3ContainerStore(client, std::move(prefix), pool_id, options, std::move(allocate_id)));
  if (options.fencing) {
    SEALPOOL_ASSIGN_OR_RETURN(store->lease_,
                              S3Lease::Acquire(client, store->prefix_, pool_id, options.lease));
    store->generation_ = store->lease_->record().generation;
  }
  const std::string folder = ContainerObjectPrefix(store->prefix_, pool_id);
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects, client->List(folder));
  absl::MutexLock lock(&store->mu_);
  for (const ObjectInfo& o : objects) {
    // Other names under the folder are not containers; nothing here touches them.
    std::optional<uint64_t> id = ParseObjectName(std::string_view(o.key).substr(folder.size()));
    if (id) store->sizes_[*id] = o.size;
  }
  return store;
}

std::string S3ContainerStore::KeyOf(uint64_t container_id) const {
  return ContainerObjectKey(prefix_, pool_id_, container_id);
}

std::shared_ptr<S3ContainerStore::Group> S3ContainerStore::GetGroup(const Id128& key_group_id) {
  absl::MutexLock lock(&mu_);
  std::shared_ptr<Group>& g = groups_[key_group_id];
  if (!g) g = std::make_shared<Group>(key_group_id);
  return g;
}

std::vector<std::shared_ptr<S3ContainerStore::Group>> S3ContainerStore::Groups() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Group>> out;
  for (const auto& [id, g] : groups_) out.push_back(g);
  return out;
}

absl::Status S3ContainerStore::Seal(Group& group) {
  if (!group.open) return absl::OkStatus();
  OpenContainer c = std::move(*group.open);
  group.open.reset();
  absl::Status put = BeforeUpload(c.id);
  if (put.ok()) put = client_->Put(KeyOf(c.id), c.bytes);
  absl::MutexLock lock(&mu_);
  open_.erase(c.id);
  if (!put.ok()) {
    put = base::Annotate(put, Cat("container ", c.id, " (", c.records, " records) was not stored"));
    losses_[c.id] = put;
    return put;
  }
  sizes_[c.id] = c.bytes.size();
  return absl::OkStatus();
}

absl::StatusOr<StoredLocation> S3ContainerStore::Append(const Id128& key_group_id,
                                                        const SealedSegment& segment) {
  if (segment.stored.size() > kMaxStoredLength) {
    return absl::InvalidArgumentError(Cat("segment ", segment.segment_id.value(), ": stored ",
                                          segment.stored.size(), " bytes is too many"));
  }
  RecordHeader header;
  header.type = RecordType::kSealedSegment;
  header.compression = segment.compression;
  header.segment_id = segment.segment_id;
  header.plaintext_length = segment.plaintext_length;
  header.stored_length = static_cast<uint32_t>(segment.stored.size());
  header.fingerprint = segment.fingerprint;
  header.nonce = segment.nonce;
  header.tag = segment.tag;
  header.payload_checksum = PayloadChecksum(segment.stored);
  if (absl::Status status = header.Validate(); !status.ok()) {
    return base::Annotate(status, Cat("segment ", segment.segment_id.value()));
  }

  std::shared_ptr<Group> group = GetGroup(key_group_id);
  absl::MutexLock lock(&group->mu);
  const uint64_t record_size = header.record_size();
  if (group->open && group->open->records > 0 &&
      group->open->bytes.size() + record_size > options_.containers.target_size) {
    // Full: upload it now. A failure is recorded as that container's loss (reported to its
    // records' Sync) and this record goes to a new container.
    (void)Seal(*group);
  }
  if (!group->open) {
    uint64_t id;
    {
      absl::MutexLock alloc(&allocate_mu_);
      SEALPOOL_ASSIGN_OR_RETURN(id, allocate_id_());
    }
    {
      absl::MutexLock l(&mu_);
      if (sizes_.contains(id) || open_.contains(id) || losses_.contains(id)) {
        return absl::AlreadyExistsError(Cat("container ", id, " already exists in the bucket"));
      }
      open_.insert(id);
    }
    ContainerHeader ch;
    ch.container_id = id;
    ch.created_unix_micros = NowMicros();
    ch.pool_id = pool_id_;
    ch.key_group_id = key_group_id;
    OpenContainer c;
    c.id = id;
    ch.EncodeTo(&c.bytes);
    group->open = std::move(c);
  }
  OpenContainer& c = *group->open;
  const StoredLocation where{c.id, RecordLocation{c.bytes.size(), record_size}};
  header.EncodeTo(&c.bytes);
  c.bytes.insert(c.bytes.end(), segment.stored.begin(), segment.stored.end());
  ++c.records;
  return where;
}

absl::Status S3ContainerStore::Sync() {
  absl::Status first;
  for (const std::shared_ptr<Group>& g : Groups()) {
    absl::MutexLock lock(&g->mu);
    absl::Status s = Seal(*g);
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}

absl::Status S3ContainerStore::CheckDurable(const StoredLocation& where) const {
  absl::MutexLock lock(&mu_);
  auto loss = losses_.find(where.container_id);
  if (loss != losses_.end()) {
    return base::Annotate(loss->second, Cat("record at container ", where.container_id,
                                            " offset ", where.location.offset, " is lost"));
  }
  auto size = sizes_.find(where.container_id);
  if (size != sizes_.end() && where.location.end() <= size->second) return absl::OkStatus();
  return absl::InternalError(Cat("record at container ", where.container_id, " offset ",
                                 where.location.offset, " is not in a stored object"));
}

absl::Status S3ContainerStore::Sync(std::span<const StoredLocation> locations) {
  // Only the groups holding these locations need an upload; every group is sealed here, which
  // is what a commit of several groups needs anyway.
  (void)Sync();
  for (const StoredLocation& where : locations) {
    SEALPOOL_RETURN_IF_ERROR(CheckDurable(where));
  }
  return absl::OkStatus();
}

absl::Status S3ContainerStore::SealOpenContainers() { return Sync(); }

absl::StatusOr<std::vector<uint64_t>> S3ContainerStore::List() const {
  absl::MutexLock lock(&mu_);
  std::set<uint64_t> ids(open_.begin(), open_.end());
  for (const auto& [id, size] : sizes_) ids.insert(id);
  return std::vector<uint64_t>(ids.begin(), ids.end());
}

bool S3ContainerStore::IsOpenForAppend(uint64_t container_id) const {
  absl::MutexLock lock(&mu_);
  return open_.contains(container_id);
}

absl::StatusOr<uint64_t> S3ContainerStore::FileSize(uint64_t container_id) const {
  {
    absl::MutexLock lock(&mu_);
    auto it = sizes_.find(container_id);
    if (it != sizes_.end()) return it->second;
    if (!open_.contains(container_id)) {
      return absl::NotFoundError(Cat("container ", container_id, " is not in the bucket"));
    }
  }
  for (const std::shared_ptr<Group>& g : Groups()) {
    absl::MutexLock lock(&g->mu);
    if (g->open && g->open->id == container_id) return g->open->bytes.size();
  }
  return absl::NotFoundError(Cat("container ", container_id, " is not in the bucket"));
}

absl::Status S3ContainerStore::Remove(uint64_t container_id) {
  {
    absl::MutexLock lock(&mu_);
    if (open_.contains(container_id)) {
      return absl::FailedPreconditionError(
          Cat("container ", container_id, " is open for append"));
    }
    if (!sizes_.contains(container_id)) {
      return absl::NotFoundError(Cat("container ", container_id, " is not in the bucket"));
    }
  }
  if (lease_ != nullptr) SEALPOOL_RETURN_IF_ERROR(lease_->Check());
  SEALPOOL_RETURN_IF_ERROR(client_->Delete(KeyOf(container_id)));
  ForgetObject(container_id);
  return absl::OkStatus();
}

void S3ContainerStore::ForgetObject(uint64_t container_id) {
  {
    absl::MutexLock lock(&mu_);
    sizes_.erase(container_id);
  }
  {
    absl::MutexLock lock(&readers_mu_);
    auto it = reader_index_.find(container_id);
    if (it != reader_index_.end()) {
      lru_.erase(it->second);
      reader_index_.erase(it);
    }
  }
  cache_->Forget(container_id);
}

absl::StatusOr<std::unique_ptr<ContainerReader>> S3ContainerStore::NewReader(uint64_t id,
                                                                             uint64_t size) const {
  auto file = std::make_unique<ObjectFile>(client_, KeyOf(id), id, size, cache_);
  SEALPOOL_ASSIGN_OR_RETURN(std::unique_ptr<ContainerReader> reader,
                            ContainerReader::FromFile(std::move(file)));
  const ContainerHeader& h = reader->header();
  if (h.container_id != id || h.pool_id != pool_id_) {
    return absl::DataLossError(Cat(reader->Describe(), ": the object's header names container ",
                                   h.container_id, " of pool ", Hex(h.pool_id),
                                   ", not container ", id, " of pool ", Hex(pool_id_)));
  }
  return reader;
}

absl::StatusOr<std::unique_ptr<ContainerReader>> S3ContainerStore::OpenReader(
    uint64_t container_id) const {
  uint64_t size;
  {
    absl::MutexLock lock(&mu_);
    if (open_.contains(container_id)) {
      return absl::FailedPreconditionError(
          Cat("container ", container_id, " is open for append (not uploaded yet)"));
    }
    auto it = sizes_.find(container_id);
    if (it == sizes_.end()) {
      return absl::NotFoundError(Cat("container ", container_id, " is not in the bucket"));
    }
    size = it->second;
  }
  return NewReader(container_id, size);
}

absl::StatusOr<std::shared_ptr<const ContainerReader>> S3ContainerStore::CachedReader(
    uint64_t id) const {
  {
    absl::MutexLock lock(&readers_mu_);
    auto it = reader_index_.find(id);
    if (it != reader_index_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second);
      return it->second->second;
    }
  }
  SEALPOOL_ASSIGN_OR_RETURN(std::unique_ptr<ContainerReader> reader, OpenReader(id));
  std::shared_ptr<const ContainerReader> shared = std::move(reader);
  absl::MutexLock lock(&readers_mu_);
  if (!reader_index_.contains(id)) {
    lru_.emplace_front(id, shared);
    reader_index_[id] = lru_.begin();
    while (lru_.size() > options_.containers.max_open_readers) {
      reader_index_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }
  return shared;
}

absl::StatusOr<RecordHeader> S3ContainerStore::Read(
    const StoredLocation& where, std::vector<uint8_t>* stored,
    std::optional<crypto::SegmentId> expected) const {
  stored->clear();
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<const ContainerReader> reader,
                            CachedReader(where.container_id));
  return reader->ReadRecord(where.location, stored, expected);
}

}  // namespace sealpool::storage::s3
