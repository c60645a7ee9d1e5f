#include "storage/s3/s3_container_store.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <thread>
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

// The blocks of every container this store read, in one LRU bounded by capacity bytes. A block
// is fetched once however many threads miss it at the same time (the pool reads several
// segments ahead on its workers, which tend to miss the same block together): the first
// fetches, the others wait for its result. Read-ahead: Prefetch hands blocks to the cache's
// own threads, which fetch them into the cache while the reader decodes what it has.
class S3ContainerStore::BlockCache {
 public:
  using Block = std::shared_ptr<const std::vector<uint8_t>>;
  using Fetch = std::function<absl::StatusOr<Block>()>;

  BlockCache(uint64_t capacity, uint64_t block, int threads)
      : capacity_(capacity), block_(block) {
    for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~BlockCache() { Shutdown(); }
  uint64_t block() const { return block_; }

  // Stops the read-ahead threads; queued prefetches are dropped (nobody waits for a queued
  // one: a reader that needs it fetches it itself).
  void Shutdown() {
    std::vector<std::thread> workers;
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
      for (auto& [key, fetch] : queue_) {
        Finish(key, absl::CancelledError("the S3 store closed"));
      }
      queue_.clear();
      workers.swap(workers_);
    }
    for (std::thread& t : workers) t.join();
  }

  // The block from the cache, or fetched by `fetch` (once, however many threads ask).
  absl::StatusOr<Block> Get(uint64_t id, uint64_t index, const Fetch& fetch) {
    const Key key{id, index};
    std::shared_ptr<Flight> flight;
    {
      absl::MutexLock lock(&mu_);
      if (Block hit = FindLocked(key)) return hit;
      auto it = flights_.find(key);
      if (it != flights_.end() && !it->second->queued) {
        flight = it->second;
        mu_.Await(absl::Condition(&flight->done));
        return flight->result;
      }
      if (it != flights_.end()) {
        // Queued for read-ahead, not started: this thread fetches it now instead.
        flight = it->second;
        flight->queued = false;
        std::erase_if(queue_, [&key](const auto& q) { return q.first == key; });
      } else {
        flight = std::make_shared<Flight>();
        flights_[key] = flight;
      }
    }
    absl::StatusOr<Block> got = fetch();
    absl::MutexLock lock(&mu_);
    Finish(key, got);
    return got;
  }

  // Fetches the block on a read-ahead thread unless it is cached, being fetched or queued.
  void Prefetch(uint64_t id, uint64_t index, Fetch fetch) {
    const Key key{id, index};
    absl::MutexLock lock(&mu_);
    if (stop_ || workers_.empty() || index_.contains(key) || flights_.contains(key)) return;
    auto flight = std::make_shared<Flight>();
    flight->queued = true;
    flights_[key] = flight;
    queue_.emplace_back(key, std::move(fetch));
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
    forgotten_.insert(id);  // a fetch of it in flight does not insert its block
  }

 private:
  using Key = std::pair<uint64_t, uint64_t>;
  using Lru = std::list<std::pair<Key, Block>>;
  struct Flight {
    bool queued = false;
    bool done = false;
    absl::StatusOr<Block> result;
  };

  Block FindLocked(const Key& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  void Finish(const Key& key, const absl::StatusOr<Block>& got)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = flights_.find(key);
    if (it != flights_.end()) {
      it->second->result = got;
      it->second->done = true;
      flights_.erase(it);
    }
    if (!got.ok() || index_.contains(key) || forgotten_.contains(key.first)) return;
    bytes_ += (*got)->size();
    lru_.emplace_front(key, *got);
    index_[key] = lru_.begin();
    while (bytes_ > capacity_ && lru_.size() > 1) {
      bytes_ -= lru_.back().second->size();
      index_.erase(lru_.back().first);
      lru_.pop_back();
    }
  }
  void Work() {
    while (true) {
      Key key;
      Fetch fetch;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(
            +[](BlockCache* c) ABSL_NO_THREAD_SAFETY_ANALYSIS {
              return c->stop_ || !c->queue_.empty();
            },
            this));
        if (stop_) return;
        key = queue_.front().first;
        fetch = std::move(queue_.front().second);
        queue_.pop_front();
        auto it = flights_.find(key);
        if (it == flights_.end()) continue;
        it->second->queued = false;
      }
      absl::StatusOr<Block> got = fetch();
      absl::MutexLock lock(&mu_);
      Finish(key, got);
    }
  }

  const uint64_t capacity_;
  const uint64_t block_;
  absl::Mutex mu_;
  Lru lru_ ABSL_GUARDED_BY(mu_);
  std::map<Key, Lru::iterator> index_ ABSL_GUARDED_BY(mu_);
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<Key, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<Key, Fetch>> queue_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> forgotten_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

namespace {

// A container object read by ranged GETs of whole cache blocks, with read-ahead of the next
// `read_ahead` blocks of the object.
class ObjectFile final : public RandomAccessFile {
 public:
  ObjectFile(S3Client* client, std::string key, uint64_t id, uint64_t size,
             std::shared_ptr<S3ContainerStore::BlockCache> cache, int read_ahead)
      : client_(client),
        key_(std::move(key)),
        id_(id),
        size_(size),
        cache_(std::move(cache)),
        read_ahead_(read_ahead),
        path_(Cat("s3://", client->target().bucket, "/", key_)) {}

  absl::StatusOr<size_t> Read(uint64_t offset, std::span<uint8_t> out) const override {
    if (offset >= size_) return size_t{0};
    const uint64_t want = std::min<uint64_t>(out.size(), size_ - offset);
    const uint64_t bs = cache_->block();
    const uint64_t blocks = (size_ + bs - 1) / bs;
    uint64_t done = 0;
    while (done < want) {
      const uint64_t pos = offset + done;
      const uint64_t index = pos / bs;
      for (uint64_t i = index + 1; i <= index + static_cast<uint64_t>(read_ahead_) && i < blocks;
           ++i) {
        cache_->Prefetch(id_, i, FetchOf(i));
      }
      SEALPOOL_ASSIGN_OR_RETURN(S3ContainerStore::BlockCache::Block block,
                                cache_->Get(id_, index, FetchOf(index)));
      const uint64_t in_block = pos - index * bs;
      // A block shorter than the size the catalog recorded: the object was truncated behind
      // the pool's back (objects are written once; the recorded size is the uploaded one).
      if (in_block >= block->size() || block->size() < std::min(bs, size_ - index * bs)) {
        cache_->Forget(id_);
        return absl::DataLossError(Cat("container ", id_, " (", path_, "): the object is shorter ",
                                       "than its recorded ", size_, " bytes (",
                                       index * bs + block->size(), " found): truncated"));
      }
      const uint64_t n = std::min<uint64_t>(want - done, block->size() - in_block);
      std::memcpy(out.data() + done, block->data() + in_block, n);
      done += n;
    }
    return static_cast<size_t>(done);
  }
  absl::StatusOr<uint64_t> Size() const override { return size_; }
  const std::string& path() const override { return path_; }

 private:
  // Fetches block `index` (captures copies: it may run on a read-ahead thread after this file
  // is gone; the client outlives the store, whose destructor stops those threads).
  S3ContainerStore::BlockCache::Fetch FetchOf(uint64_t index) const {
    return [client = client_, key = key_, id = id_, size = size_, path = path_,
            bs = cache_->block(),
            index]() -> absl::StatusOr<S3ContainerStore::BlockCache::Block> {
      const uint64_t begin = index * bs;
      absl::StatusOr<std::vector<uint8_t>> got =
          client->Get(key, begin, std::min(bs, size - begin));
      if (absl::IsNotFound(got.status()) || absl::IsOutOfRange(got.status())) {
        return absl::DataLossError(Cat("container ", id, " (", path, "): the object is gone ",
                                       "or shorter than its ", size, " bytes: ",
                                       got.status().message()));
      }
      if (!got.ok()) return got.status();
      return std::make_shared<const std::vector<uint8_t>>(std::move(*got));
    };
  }

  S3Client* const client_;
  const std::string key_;
  const uint64_t id_;
  const uint64_t size_;
  const std::shared_ptr<S3ContainerStore::BlockCache> cache_;
  const int read_ahead_;
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
      cache_(std::make_shared<BlockCache>(options.read_cache_bytes, options.cache_block_bytes,
                                          options.read_ahead_blocks > 0
                                              ? options.read_ahead_threads
                                              : 0)),
      catalog_log_(client, prefix_, pool_id),
      allocate_id_(std::move(allocate_id)) {}

S3ContainerStore::~S3ContainerStore() {
  cache_->Shutdown();
  // Open containers are dropped (never acknowledged); a streamed one's upload is aborted so
  // its parts do not stay in the bucket.
  for (const std::shared_ptr<Group>& g : Groups()) {
    absl::MutexLock lock(&g->mu);
    if (!g->open) continue;
    CollectPart(*g->open, /*wait=*/true);
    if (!g->open->upload_id.empty()) {
      client_->AbortMultipart(KeyOf(g->open->id), g->open->upload_id);
    }
  }
}

absl::StatusOr<std::unique_ptr<S3ContainerStore>> S3ContainerStore::Open(
    S3Client* client, std::string prefix, Id128 pool_id, S3ContainerStoreOptions options,
    std::function<absl::StatusOr<uint64_t>()> allocate_id) {
  return OpenImpl(client, std::move(prefix), pool_id, options, std::move(allocate_id), nullptr);
}

absl::StatusOr<std::unique_ptr<S3ContainerStore>> S3ContainerStore::OpenWithSizes(
    std::unique_ptr<S3Client> client, std::string prefix, Id128 pool_id,
    S3ContainerStoreOptions options, std::function<absl::StatusOr<uint64_t>()> allocate_id,
    const std::map<uint64_t, uint64_t>& sizes) {
  if (client == nullptr) return absl::InvalidArgumentError("S3 container store: no client");
  SEALPOOL_ASSIGN_OR_RETURN(
      std::unique_ptr<S3ContainerStore> store,
      OpenImpl(client.get(), std::move(prefix), pool_id, options, std::move(allocate_id), &sizes));
  store->owned_client_ = std::move(client);
  return store;
}

absl::StatusOr<std::unique_ptr<S3ContainerStore>> S3ContainerStore::OpenImpl(
    S3Client* client, std::string prefix, Id128 pool_id, S3ContainerStoreOptions options,
    std::function<absl::StatusOr<uint64_t>()> allocate_id,
    const std::map<uint64_t, uint64_t>* known_sizes) {
  if (!prefix.empty() && prefix.back() != '/') {
    return absl::InvalidArgumentError(
        Cat("S3 prefix '", Sanitize(prefix, 120), "' must be empty or end with '/'"));
  }
  if (!prefix.empty()) SEALPOOL_RETURN_IF_ERROR(ValidateKey(prefix + "x"));
  if (!allocate_id) return absl::InvalidArgumentError("S3 container store: no id allocator");
  if (options.stream_part_bytes != 0 && options.stream_part_bytes < (5ull << 20)) {
    return absl::InvalidArgumentError(
        "S3 container store: stream_part_bytes must be 0 or at least 5 MiB (S3's smallest part)");
  }
  if (options.containers.max_open_readers < 1 || options.cache_block_bytes < 4096 ||
      options.read_cache_bytes < options.cache_block_bytes || options.read_ahead_blocks < 0 ||
      options.read_ahead_blocks > 64 || options.read_ahead_threads < 1 ||
      options.read_ahead_threads > 64 ||
      options.read_cache_bytes <
          options.cache_block_bytes * (1 + static_cast<uint64_t>(options.read_ahead_blocks))) {
    return absl::InvalidArgumentError(
        "S3 container store: max_open_readers >= 1, cache_block_bytes >= 4096, "
        "read_ahead_blocks in 0..64, read_ahead_threads in 1..64 and read_cache_bytes >= "
        "cache_block_bytes * (1 + read_ahead_blocks)");
  }
  auto store = std::unique_ptr<S3ContainerStore>(
      new S3ContainerStore(client, std::move(prefix), pool_id, options, std::move(allocate_id)));
  if (options.fencing) {
    SEALPOOL_ASSIGN_OR_RETURN(store->lease_,
                              S3Lease::Acquire(client, store->prefix_, pool_id, options.lease));
    store->generation_ = store->lease_->record().generation;
    store->catalog_log_.set_lease(store->lease_);
  }
  if (known_sizes != nullptr) {
    absl::MutexLock lock(&store->mu_);
    store->sizes_ = *known_sizes;
    return store;
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

void S3ContainerStore::CollectPart(OpenContainer& c, bool wait) {
  if (!c.part || (!wait && !c.part->done.load(std::memory_order_acquire))) return;
  c.part->thread.join();
  if (c.upload_id.empty()) c.upload_id = c.part->upload_id;
  if (c.part->etag.ok()) {
    c.etags.push_back(*c.part->etag);
    c.streamed += options_.stream_part_bytes;
  } else if (c.stream_error.ok()) {
    c.stream_error = c.part->etag.status();
  }
  c.part.reset();
}

void S3ContainerStore::MaybeStreamPart(OpenContainer& c) {
  if (options_.stream_part_bytes == 0) return;
  CollectPart(c, /*wait=*/false);
  if (c.part || !c.stream_error.ok() ||
      c.bytes.size() - c.streamed < options_.stream_part_bytes) {
    return;
  }
  auto part = std::make_unique<PartUpload>();
  const auto begin = c.bytes.begin() + static_cast<std::ptrdiff_t>(c.streamed);
  part->data.assign(begin, begin + static_cast<std::ptrdiff_t>(options_.stream_part_bytes));
  part->upload_id = c.upload_id;
  PartUpload* p = part.get();
  const int number = static_cast<int>(c.etags.size()) + 1;
  p->thread = std::thread([client = client_, p, key = KeyOf(c.id), number] {
    if (p->upload_id.empty()) {
      absl::StatusOr<std::string> id = client->InitiateMultipart(key);
      if (id.ok()) {
        p->upload_id = *id;
      } else {
        p->etag = id.status();
      }
    }
    if (!p->upload_id.empty()) p->etag = client->UploadPart(key, p->upload_id, number, p->data);
    p->data = {};
    p->done.store(true, std::memory_order_release);
  });
  c.part = std::move(part);
}

absl::Status S3ContainerStore::Upload(OpenContainer& c) {
  CollectPart(c, /*wait=*/true);
  const std::string key = KeyOf(c.id);
  if (c.upload_id.empty() && c.stream_error.ok()) return client_->Put(key, c.bytes);
  absl::Status s = c.stream_error;
  if (s.ok() && c.bytes.size() > c.streamed) {
    absl::StatusOr<std::string> etag =
        client_->UploadPart(key, c.upload_id, static_cast<int>(c.etags.size()) + 1,
                            std::span<const uint8_t>(c.bytes).subspan(c.streamed));
    if (etag.ok()) {
      c.etags.push_back(*etag);
    } else {
      s = etag.status();
    }
  }
  if (s.ok()) s = client_->CompleteMultipart(key, c.upload_id, c.etags, c.bytes.size());
  if (!s.ok() && !c.upload_id.empty()) client_->AbortMultipart(key, c.upload_id);
  return s;
}

absl::Status S3ContainerStore::Seal(Group& group) {
  if (!group.open) return absl::OkStatus();
  OpenContainer c = std::move(*group.open);
  group.open.reset();
  // The lease check and the intent come before the object can appear (CompleteMultipart or
  // the PUT); parts already streamed are not an object (docs/s3.md "Orphans and the sweep").
  absl::Status put = BeforeUpload(c.id);
  if (put.ok()) {
    put = Upload(c);
  } else {
    CollectPart(c, /*wait=*/true);
    if (!c.upload_id.empty()) client_->AbortMultipart(KeyOf(c.id), c.upload_id);
  }
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
  MaybeStreamPart(c);
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
  auto file = std::make_unique<ObjectFile>(client_, KeyOf(id), id, size, cache_,
                                           options_.read_ahead_blocks);
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
