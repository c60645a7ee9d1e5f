// The pool's container store when key groups keep their containers in different places: one
// ContainerStore per key group with an S3 target (docs/s3.md), and one store (local files) for
// every other group. It implements ContainerStore itself, so the pool, compaction, scrub, verify,
// re-wrap and the delete queue stay unchanged above it.
//
// Routing: Append goes to the store of its key group; every other call goes to the store that
// holds the container, known from the stores' List() at construction and from each Append
// since. A container no store knows is sent to the local store (NotFound there, as before).
// Container ids come from the pool's one allocator, so they are unique across stores; an id
// found in two stores is refused at construction (DataLoss naming both).
//
// Thread safety: thread-safe (the stores are; the routing table has its own lock). Stores are
// added (AddGroupStore) while the pool runs, by CreateKeyGroup.
#ifndef SEALPOOL_STORAGE_POOL_GROUPED_CONTAINER_STORE_H_
#define SEALPOOL_STORAGE_POOL_GROUPED_CONTAINER_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "storage/store/container_store.h"

namespace sealpool::storage {

class GroupedContainerStore final : public ContainerStore {
 public:
  explicit GroupedContainerStore(std::unique_ptr<ContainerStore> local);

  // Makes `store` the store of key group `key_group_id` (number `group_no`, named `name` in
  // messages). DataLoss if one of its containers is known to another store already;
  // AlreadyExists for a group that has a store.
  [[nodiscard]] absl::Status AddGroupStore(const Id128& key_group_id, uint32_t group_no,
                                           std::string name,
                                           std::unique_ptr<ContainerStore> store);
  // Whether the container is held by a group store (an S3 target), not the local store.
  bool InGroupStore(uint64_t container_id) const;
  // The key group name of the group store holding the container; "" for the local store.
  std::string GroupOf(uint64_t container_id) const;
  // The local store (for checks at open).
  ContainerStore& local() { return *local_; }

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
  // The pool's catalog log (docs/s3.md "Disaster recovery", "Which folder holds the catalog"):
  // the pool-wide store's (PoolOptions::container_store over S3) if it has one, else the log of
  // the store of the lowest-numbered key group that has one (the first S3 group created; group
  // numbers are never reused, so the choice never changes), else nullptr.
  CatalogLog* catalog_log() override;
  // Every store's sweep (the local files' store: skipped, it has none), reports added up.
  // Unimplemented only when no store has a sweep.
  [[nodiscard]] absl::StatusOr<OrphanSweepReport> SweepOrphans(
      const OrphanSweepOptions& options,
      const std::function<absl::StatusOr<bool>(uint64_t container_id)>& referenced) override;

 private:
  struct GroupStore {
    uint32_t group_no = 0;
    std::string name;
    std::unique_ptr<ContainerStore> store;
  };
  ContainerStore* StoreOf(uint64_t container_id) const ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<ContainerStore*> AllStores() const ABSL_LOCKS_EXCLUDED(mu_);

  const std::unique_ptr<ContainerStore> local_;
  mutable absl::Mutex mu_;
  std::map<Id128, GroupStore> groups_ ABSL_GUARDED_BY(mu_);
  // Containers held by group stores (others are the local store's).
  absl::flat_hash_map<uint64_t, const GroupStore*> owner_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_POOL_GROUPED_CONTAINER_STORE_H_
