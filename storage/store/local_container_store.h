// The local container store: the set of container files of one pool in a folder, through the
// FileSystem seam (format: storage/store/container_format.h; naming and rules: docs/format.md
// "Container store: file names and rules"). The interface it implements, and what every
// implementation promises: storage/store/container_store.h.
//
//   SEALPOOL_ASSIGN_OR_RETURN(auto store, LocalContainerStore::Open(fs, pool_dir + "/containers",
//                                                                   pool_id, {}, allocate_id));
//   SEALPOOL_ASSIGN_OR_RETURN(StoredLocation where, store->Append(key_group_id, segment));
//   SEALPOOL_RETURN_IF_ERROR(store->Sync({&where, 1}));  // only now may the catalog point at it
//
// Files: container N is `dir`/<N as 16 lower-case hex digits>.spc. Anything else in `dir`
// (other names, upper-case hex, temporary files) is not a container: List ignores it and nothing
// here touches it (a directory that happens to bear a container's name is listed, and fails to
// open). Ids come from `allocate_id` and are never reused; a
// file that already exists under a freshly allocated id is refused (AlreadyExists), never
// overwritten.
//
// Append-only, one writer: each key group has at most one container open for append, created by
// this store instance. Containers found in `dir` at Open (written by an earlier process) are
// read-only for good: they are never reopened for append, so Open needs no torn-tail recovery
// (an unsynced tail there was never acknowledged, and the catalog never points at it). Only one
// LocalContainerStore may use a directory at a time; the pool's lock guarantees it.
//
// Durability: Append puts a record in the page cache. It is durable, and may be acknowledged or
// referenced from the catalog, only after a Sync that began after the Append returned OK.
// A new container's header and existence are durable when Append first uses it; a container
// rolled over (or closed by SealOpenContainers) is synced as it is closed. Remove is durable on
// return (directory synced).
//
// Failures: a failed write, sync or close abandons that group's writer: the group's next Append
// starts a new container, the failed container stays (read-only) with whatever reached the disk,
// and records of it that were not synced before the failure are lost. Sync() reports such a
// loss to the callers waiting when it happens; Sync(locations) reports it to every caller whose
// own locations are affected, however late it asks, so use that form to acknowledge.
//
// Thread safety: thread-safe. Appends to one key group serialise on that group's lock; groups
// proceed in parallel. Sync is group commit: concurrent callers share one round of fsyncs (a
// caller that arrives during a round waits for it and then shares the next one). A round holds
// each group's lock only while it fsyncs that group's open container (the WritableFile seam is not
// thread-safe, so an append to the same container must wait for its fsync), never the store's
// lock. Reads use a separate, bounded LRU of open readers and never wait for appends or fsyncs.
// Lock order: a group's lock, then the store's.
#ifndef SEALPOOL_STORAGE_STORE_LOCAL_CONTAINER_STORE_H_
#define SEALPOOL_STORAGE_STORE_LOCAL_CONTAINER_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/store/container_format.h"
#include "storage/store/container_store.h"
#include "storage/store/container_reader.h"
#include "storage/store/container_writer.h"
#include "storage/store/file_system.h"

namespace sealpool::storage {

class LocalContainerStore final : public ContainerStore {
 public:
  // `dir` is <pool>/containers (created if missing, parent must exist; its creation is made
  // durable). `allocate_id` is called, one call at a time, whenever a new container is needed and
  // must return a never-used id. `fs` must outlive the store. NotFound: the parent of `dir` does
  // not exist; PermissionDenied: it cannot be created or listed; InvalidArgument: bad options.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<LocalContainerStore>> Open(
      FileSystem* fs, std::string dir, Id128 pool_id, ContainerStoreOptions options,
      std::function<absl::StatusOr<uint64_t>()> allocate_id);

  LocalContainerStore(const LocalContainerStore&) = delete;
  LocalContainerStore& operator=(const LocalContainerStore&) = delete;
  // Closes open containers without syncing: records not yet synced are not acknowledged.
  ~LocalContainerStore() override;

  // Appends to the open container of `key_group_id`, rolling over to a new one when it has no
  // room. InvalidArgument for a segment outside the format's limits (nothing written); the error
  // of allocate_id; the FileSystem's error for a failed create or write (the group's writer is
  // then abandoned, see Failures).
  [[nodiscard]] absl::StatusOr<StoredLocation> Append(const Id128& key_group_id,
                                                      const SealedSegment& segment) override;

  // Makes every record appended before this call durable (one group-commit round, see above).
  // Returns the first error met by the round, or a loss (failed write, sync or close) recorded
  // while the caller waited. A loss recorded before the caller arrived is not reported here:
  // callers that must know whether *their* records survived use Sync(locations).
  [[nodiscard]] absl::Status Sync() override;
  // Added: Sync(), then checks that each of `locations` (returned by this store's Append) is
  // durable. OK iff all are, even if the round failed elsewhere; otherwise the error that lost
  // the first one that is not, naming its container and offset.
  [[nodiscard]] absl::Status Sync(std::span<const StoredLocation> locations) override;

  // Reads and verifies a record (ContainerReader::ReadRecord); readers are cached (LRU bounded by
  // max_open_readers). NotFound if the container file does not exist; DataLoss naming container
  // and offset for corruption.
  [[nodiscard]] absl::StatusOr<RecordHeader> Read(const StoredLocation& where,
                                                  std::vector<uint8_t>* stored,
                                                  std::optional<crypto::SegmentId> expected) const override;

  // Closes every key group's open container (syncing it) so that the next Append of each group
  // starts a new one; compaction calls it so that it never copies into a container it compacts.
  // Returns the first error (that writer is abandoned as under Failures).
  [[nodiscard]] absl::Status SealOpenContainers() override;

  // Ids of the container files in `dir` (any state), ascending. Names that are not exactly 16
  // lower-case hex digits + ".spc" are ignored.
  [[nodiscard]] absl::StatusOr<std::vector<uint64_t>> List() const override;
  // Whether the id is (or is being created as) a group's container open for append.
  bool IsOpenForAppend(uint64_t container_id) const override;

  // Deletes a container file (drops its cached reader); FailedPrecondition for one open for
  // append; NotFound if absent. Durable on return (directory synced). Reads already under way
  // finish on the open descriptor.
  [[nodiscard]] absl::Status Remove(uint64_t container_id) override;
  [[nodiscard]] absl::StatusOr<uint64_t> FileSize(uint64_t container_id) const override;
  std::string PathOf(uint64_t container_id) const;
  // A reader the caller owns (for scrub and index rebuild: ContainerScanner over it).
  [[nodiscard]] absl::StatusOr<std::unique_ptr<ContainerReader>> OpenReader(
      uint64_t container_id) const override;

  const std::string& dir() const { return dir_; }
  // For tests: ids of the cached readers, most recently used first.
  std::vector<uint64_t> CachedReaderIds() const;

 private:
  // One key group's append state.
  struct Group {
    explicit Group(const Id128& id) : key_group_id(id) {}
    const Id128 key_group_id;
    absl::Mutex mu;  // the group's append lock
    std::unique_ptr<ContainerWriter> writer ABSL_GUARDED_BY(mu);
    // End of the last record Append returned from `writer` (0: none yet).
    uint64_t appended_end ABSL_GUARDED_BY(mu) = 0;
  };

  // A container abandoned with records that never became durable.
  struct Loss {
    uint64_t durable_end = 0;  // records ending at or below this offset are durable
    absl::Status error;
    uint64_t sequence = 0;     // order in which losses were recorded (1, 2, ...)
  };

  // One group-commit round.
  struct SyncRound {
    bool done = false;
    absl::Status status;
  };

  LocalContainerStore(FileSystem* fs, std::string dir, Id128 pool_id, ContainerStoreOptions options,
                 std::function<absl::StatusOr<uint64_t>()> allocate_id);

  std::shared_ptr<Group> GetGroup(const Id128& key_group_id) ABSL_LOCKS_EXCLUDED(mu_);
  // Creates the group's next container and makes it its writer.
  absl::Status StartContainer(Group& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(group.mu)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Drops the group's writer; if it held unsynced records, records the loss with `error`.
  void AbandonWriter(Group& group, absl::Status error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(group.mu) ABSL_LOCKS_EXCLUDED(mu_);
  // Closes (syncs) the group's writer and forgets it; on error, abandons it.
  absl::Status CloseWriter(Group& group) ABSL_EXCLUSIVE_LOCKS_REQUIRED(group.mu)
      ABSL_LOCKS_EXCLUDED(mu_);
  // One round: fsync every open container with unsynced appends. Returns the first error.
  absl::Status SyncAllGroups() ABSL_LOCKS_EXCLUDED(mu_);
  // Whether a location appended by this store is durable now; the loss that lost it otherwise.
  absl::Status CheckDurable(const StoredLocation& where) ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::shared_ptr<Group>> Groups() const ABSL_LOCKS_EXCLUDED(mu_);

  absl::StatusOr<std::shared_ptr<const ContainerReader>> CachedReader(uint64_t container_id) const
      ABSL_LOCKS_EXCLUDED(cache_mu_);
  // Drops the cached reader and keeps the id from being cached again.
  void ForgetReader(uint64_t container_id) ABSL_LOCKS_EXCLUDED(cache_mu_);

  FileSystem* const fs_;
  const std::string dir_;
  const Id128 pool_id_;
  const ContainerStoreOptions options_;

  // Serialises allocate_id and is held only around it.
  absl::Mutex allocate_mu_;
  const std::function<absl::StatusOr<uint64_t>()> allocate_id_ ABSL_GUARDED_BY(allocate_mu_);

  // The store's lock: group map, open set, losses. Never held during I/O.
  mutable absl::Mutex mu_;
  std::map<Id128, std::shared_ptr<Group>> groups_ ABSL_GUARDED_BY(mu_);
  // Containers open for append, or reserved by an id allocated for one being created.
  std::set<uint64_t> open_for_append_ ABSL_GUARDED_BY(mu_);
  // By container id.
  std::map<uint64_t, Loss> losses_ ABSL_GUARDED_BY(mu_);
  uint64_t loss_sequence_ ABSL_GUARDED_BY(mu_) = 0;

  // Group commit.
  absl::Mutex sync_mu_;
  absl::CondVar sync_done_;
  std::shared_ptr<SyncRound> running_round_ ABSL_GUARDED_BY(sync_mu_);
  std::shared_ptr<SyncRound> queued_round_ ABSL_GUARDED_BY(sync_mu_);

  // Read cache: most recently used at the front.
  using LruList = std::list<std::pair<uint64_t, std::shared_ptr<const ContainerReader>>>;
  mutable absl::Mutex cache_mu_;
  mutable LruList lru_ ABSL_GUARDED_BY(cache_mu_);
  mutable absl::flat_hash_map<uint64_t, LruList::iterator> cache_index_ ABSL_GUARDED_BY(cache_mu_);
  // Removed containers (ids are never reused): a read racing with Remove must not cache them.
  mutable absl::flat_hash_set<uint64_t> removed_ ABSL_GUARDED_BY(cache_mu_);
};

// "0000000000000001.spc" for container 1.
std::string ContainerFileName(uint64_t container_id);
// The id of a container file name, or nullopt if `name` is not exactly one.
std::optional<uint64_t> ParseContainerFileName(std::string_view name);

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_STORE_LOCAL_CONTAINER_STORE_H_
