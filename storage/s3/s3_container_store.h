// The S3 container store: the ContainerStore interface (storage/store/container_store.h) over
// write-once objects in a bucket (docs/s3.md "Object layout", "Consistency").
//
//   SEALPOOL_ASSIGN_OR_RETURN(auto store, S3ContainerStore::Open(client, "backups/", pool_id,
//                                                                {}, allocate_id));
//   SEALPOOL_ASSIGN_OR_RETURN(StoredLocation where, store->Append(key_group_id, segment));
//   SEALPOOL_RETURN_IF_ERROR(store->Sync({&where, 1}));  // the object is in the bucket now
//
// Objects: container N of pool P is the object <prefix>sealpool-<P as 32 hex>/containers/<N as 16
// hex>.spc, holding exactly the bytes of a container file (format v1, docs/format.md): its
// 72-byte header carries the pool id, the key group id and the container id, so two pools never
// confuse each other's objects in one bucket even if names were copied. Objects are written
// once (PUT, multipart above the client's threshold) and never modified; compaction writes new
// ones and Remove deletes old ones.
//
// Writers: each key group has at most one open container, built in memory by Append. It is
// sealed and uploaded when the next record would pass options.containers.target_size, and by
// every Sync (so each commit makes one object per key group it touched; compaction merges small
// ones). A container is durable when the store accepted its PUT; Sync(locations) is OK only if
// every location's object was accepted. A failed upload abandons that container: its records
// are lost (Sync(locations) reports it to every caller whose locations it held, however late),
// the group's next Append starts a new container, and the object, if a partial one exists, is
// never listed as the pool's (a PUT is atomic in S3). With stream_part_bytes, a growing
// container's full parts are sent as a multipart upload while it grows; its seal sends the tail
// and completes the upload, and only then does the object exist.
//
// Reads: ranged GETs through a bounded block cache shared by all containers (read_cache_bytes,
// blocks of cache_block_bytes; a block missed by several threads at once is fetched once; the
// next read_ahead_blocks blocks of an object are fetched ahead on the store's threads), then the
// same checks as a local container (ContainerReader):
// DataLoss naming container and offset for a damaged or truncated object, and DataLoss for an
// object of the pool that vanished from the bucket. Records of a container not yet uploaded are
// not readable (FailedPrecondition); the pool references records only after Sync.
//
// Sizes: Open lists the pool's objects once (one LIST request per 1000 objects, never a HEAD
// per object); OpenWithSizes (the pool's store of one key group) takes them from the catalog
// and sends no request. Either keeps every container's size in memory, updated on upload and
// Remove; List, FileSize and IsOpenForAppend cost no request. A read finding an object shorter
// than its known size is DataLoss (truncated behind the store's back).
//
// Fencing and orphans (s3_lease.h, s3_orphans.h): Open takes the pool folder's lease (a second
// pool process is refused, FailedPrecondition naming the holder); each upload first checks the
// lease and writes an intent object; Remove and SweepOrphans check the lease first. A fenced
// store fails those with FailedPrecondition "fenced: ..." before touching the bucket.
//
// Thread safety: thread-safe. Appends and the upload of one group serialise on the group's lock
// (an Append waits for its group's upload); groups proceed in parallel.
#ifndef SEALPOOL_STORAGE_S3_S3_CONTAINER_STORE_H_
#define SEALPOOL_STORAGE_S3_S3_CONTAINER_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "storage/s3/s3_client.h"
#include "storage/s3/s3_commit_log.h"
#include "storage/s3/s3_lease.h"
#include "storage/store/container_store.h"

namespace sealpool::storage::s3 {

struct S3ContainerStoreOptions {
  ContainerStoreOptions containers;         // target_size; max_open_readers bounds the readers
  uint64_t read_cache_bytes = 64ull << 20;  // bound of the block cache (>= one block)
  uint64_t cache_block_bytes = 1ull << 20;  // one ranged GET reads one block (>= 4 KiB)
  // Read-ahead: reading block i of an object queues blocks i+1..i+read_ahead_blocks (0..64) for
  // the store's read_ahead_threads (1..64), which GET them into the cache in the background.
  // read_cache_bytes must hold 1 + read_ahead_blocks blocks.
  int read_ahead_blocks = 2;
  int read_ahead_threads = 2;
  // Fencing (s3_lease.h, docs/s3.md "Fencing"): Open takes the pool folder's lease; every
  // upload, Remove and sweep checks it first. Off only for tests against a fake server.
  bool fencing = true;
  S3LeaseOptions lease;
  // An intent object before each container PUT (s3_orphans.h), for SweepOrphans.
  bool intents = true;
  // Streamed upload: 0 (off), or >= 5 MiB (S3's smallest part); 8 MiB by default. When a
  // group's open container holds this many bytes not yet sent, they go out as the next part of
  // a multipart upload on a thread of their own while Append goes on (one part on its way per
  // group); its seal then sends only the tail as the last part and completes the upload (the
  // object appears whole then, as with one PUT). A container that never fills a part is one PUT
  // as before. Costs requests (initiate + parts + complete instead of one PUT); hides most of
  // the upload time of a commit behind the writing of the batch. An abandoned upload (a crash,
  // a failed part) is no object, but keeps its parts' bytes in the bucket until aborted
  // (docs/s3.md).
  uint64_t stream_part_bytes = 8ull << 20;
};

// The object key of container `id` of `pool_id` under `prefix`.
std::string ContainerObjectKey(std::string_view prefix, const Id128& pool_id, uint64_t id);
// The folder (key prefix) of the pool's containers: "<prefix>sealpool-<hex>/containers/".
std::string ContainerObjectPrefix(std::string_view prefix, const Id128& pool_id);

class S3ContainerStore final : public ContainerStore {
 public:
  // `client` must outlive the store; its bucket must exist. `prefix` is "" or ends with '/'
  // (InvalidArgument otherwise). Lists the pool's objects; the client's error if that fails.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<S3ContainerStore>> Open(
      S3Client* client, std::string prefix, Id128 pool_id, S3ContainerStoreOptions options,
      std::function<absl::StatusOr<uint64_t>()> allocate_id);
  // The store of one key group of a pool whose catalog records its containers' sizes (docs/s3.md
  // "Per key group"): no LIST, no HEAD; `sizes` are every container of the group the catalog
  // references (one missing from the bucket is DataLoss when read). The store owns `client`.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<S3ContainerStore>> OpenWithSizes(
      std::unique_ptr<S3Client> client, std::string prefix, Id128 pool_id,
      S3ContainerStoreOptions options, std::function<absl::StatusOr<uint64_t>()> allocate_id,
      const std::map<uint64_t, uint64_t>& sizes);
  // Drops open containers without uploading them: their records were never acknowledged.
  ~S3ContainerStore() override;

  [[nodiscard]] absl::StatusOr<StoredLocation> Append(const Id128& key_group_id,
                                                      const SealedSegment& segment) override;
  [[nodiscard]] absl::Status Sync() override;
  [[nodiscard]] absl::Status Sync(std::span<const StoredLocation> locations) override;
  [[nodiscard]] absl::StatusOr<RecordHeader> Read(
      const StoredLocation& where, std::vector<uint8_t>* stored,
      std::optional<crypto::SegmentId> expected) const override;
  [[nodiscard]] absl::Status SealOpenContainers() override;
  [[nodiscard]] absl::StatusOr<std::vector<uint64_t>> List() const override;
  bool IsOpenForAppend(uint64_t container_id) const override;
  [[nodiscard]] absl::Status Remove(uint64_t container_id) override;
  [[nodiscard]] absl::StatusOr<uint64_t> FileSize(uint64_t container_id) const override;
  [[nodiscard]] absl::StatusOr<std::unique_ptr<ContainerReader>> OpenReader(
      uint64_t container_id) const override;

  std::string KeyOf(uint64_t container_id) const;
  // Commit records and catalog backups beside the containers (s3_commit_log.h).
  CatalogLog* catalog_log() override { return &catalog_log_; }
  // The folder's lease (nullptr without fencing).
  const std::shared_ptr<S3Lease>& lease() const { return lease_; }

  // The sweep (s3_orphans.cc, docs/s3.md "Orphans and the sweep").
  [[nodiscard]] absl::StatusOr<OrphanSweepReport> SweepOrphans(
      const OrphanSweepOptions& options,
      const std::function<absl::StatusOr<bool>(uint64_t container_id)>& referenced) override;

  // The block cache (shared by every reader of this store).
  class BlockCache;

 private:
  // One part of a streamed container on its way, on a thread of its own.
  struct PartUpload {
    std::thread thread;
    std::atomic<bool> done{false};
    std::vector<uint8_t> data;    // a copy: the container's buffer grows meanwhile
    std::string upload_id;        // empty: the thread initiates the upload first
    absl::StatusOr<std::string> etag;
  };
  struct OpenContainer {
    uint64_t id = 0;
    std::vector<uint8_t> bytes;  // header + records
    uint64_t records = 0;
    // Streamed (options.stream_part_bytes > 0): the multipart upload its full parts went to.
    std::string upload_id;
    std::vector<std::string> etags;  // of the parts sent, in order
    uint64_t streamed = 0;           // bytes in those parts
    absl::Status stream_error;       // a part failed: the container will be lost at its seal
    std::unique_ptr<PartUpload> part;
  };
  struct Group {
    explicit Group(const Id128& id) : key_group_id(id) {}
    const Id128 key_group_id;
    absl::Mutex mu;
    std::optional<OpenContainer> open ABSL_GUARDED_BY(mu);
  };

  S3ContainerStore(S3Client* client, std::string prefix, Id128 pool_id,
                   S3ContainerStoreOptions options,
                   std::function<absl::StatusOr<uint64_t>()> allocate_id);

  static absl::StatusOr<std::unique_ptr<S3ContainerStore>> OpenImpl(
      S3Client* client, std::string prefix, Id128 pool_id, S3ContainerStoreOptions options,
      std::function<absl::StatusOr<uint64_t>()> allocate_id,
      const std::map<uint64_t, uint64_t>* known_sizes);
  std::shared_ptr<Group> GetGroup(const Id128& key_group_id) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::shared_ptr<Group>> Groups() const ABSL_LOCKS_EXCLUDED(mu_);
  // Uploads the group's open container and closes it (durable or lost).
  absl::Status Seal(Group& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(group.mu)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The lease check and the intent before container `id`'s upload (s3_orphans.cc).
  absl::Status BeforeUpload(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  // Drops a deleted object's size, reader and cached blocks.
  void ForgetObject(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status CheckDurable(const StoredLocation& where) const ABSL_LOCKS_EXCLUDED(mu_);
  // Streaming: takes the result of the part on its way (waiting for it with `wait`), and
  // starts the next full part when there is one and none is on its way.
  void CollectPart(OpenContainer& c, bool wait);
  void MaybeStreamPart(OpenContainer& c);
  // Uploads `c` whole (one PUT) or finishes its streamed multipart upload.
  absl::Status Upload(OpenContainer& c);
  absl::StatusOr<std::shared_ptr<const ContainerReader>> CachedReader(uint64_t id) const;
  absl::StatusOr<std::unique_ptr<ContainerReader>> NewReader(uint64_t id, uint64_t size) const;

  std::unique_ptr<S3Client> owned_client_;  // OpenWithSizes only; client_ points at it
  S3Client* const client_;
  const std::string prefix_;
  const Id128 pool_id_;
  const S3ContainerStoreOptions options_;
  std::shared_ptr<BlockCache> cache_;
  S3CatalogLog catalog_log_;
  std::shared_ptr<S3Lease> lease_;
  uint64_t generation_ = 0;  // the lease's (0 without fencing), written into intents

  absl::Mutex allocate_mu_;
  const std::function<absl::StatusOr<uint64_t>()> allocate_id_ ABSL_GUARDED_BY(allocate_mu_);

  mutable absl::Mutex mu_;
  std::map<Id128, std::shared_ptr<Group>> groups_ ABSL_GUARDED_BY(mu_);
  std::set<uint64_t> open_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, uint64_t> sizes_ ABSL_GUARDED_BY(mu_);  // objects in the bucket
  std::map<uint64_t, absl::Status> losses_ ABSL_GUARDED_BY(mu_);

  using LruList = std::list<std::pair<uint64_t, std::shared_ptr<const ContainerReader>>>;
  mutable absl::Mutex readers_mu_;
  mutable LruList lru_ ABSL_GUARDED_BY(readers_mu_);
  mutable absl::flat_hash_map<uint64_t, LruList::iterator> reader_index_
      ABSL_GUARDED_BY(readers_mu_);
};

}  // namespace sealpool::storage::s3

#endif  // SEALPOOL_STORAGE_S3_S3_CONTAINER_STORE_H_
