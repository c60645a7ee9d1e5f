// The container store: the set of containers of one pool, at the container level. The pool,
// compaction, scrub, verify, re-wrap and the delete queue use only this interface, so where the
// containers live is the implementation's business:
//   - LocalContainerStore (local_container_store.h): container files in <pool>/containers
//     through the FileSystem seam (append, fdatasync, rename);
//   - an S3 implementation (docs/s3.md; not built yet) keeps write-once objects in a bucket.
//
//   SEALPOOL_ASSIGN_OR_RETURN(StoredLocation where, store->Append(key_group_id, segment));
//   SEALPOOL_RETURN_IF_ERROR(store->Sync({&where, 1}));  // only now may the catalog point at it
//
// What every implementation promises:
//   - Containers have ids from the pool's allocator, never reused; each key group has at most
//     one container open for append, created by this store instance; a container is never
//     appended to after it is closed (sealed), and containers found at open are read-only.
//   - Durability: a record returned by Append is durable, and may be acknowledged or referenced
//     from the catalog, only after Sync(locations) covering it returned OK. Sync(locations)
//     reports a loss to every caller whose own locations are affected, however late it asks.
//   - Failures: a failed write abandons that group's open container; the group's next Append
//     starts a new one; records of the abandoned container not yet durable are lost (and never
//     referenced, since their Sync failed).
//   - Reads verify every record (ContainerReader::ReadRecord): DataLoss naming container and
//     offset for corruption, NotFound for a container that does not exist.
//   - Remove is durable on return; reads already under way may finish.
//
// Thread safety: implementations are thread-safe.
#ifndef SEALPOOL_STORAGE_STORE_CONTAINER_STORE_H_
#define SEALPOOL_STORAGE_STORE_CONTAINER_STORE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/store/catalog_log.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "storage/store/container_format.h"
#include "storage/store/container_reader.h"
#include "storage/store/container_writer.h"

namespace sealpool::storage {

struct ContainerStoreOptions {
  uint64_t target_size = 64ull << 20;  // a container is rolled over before it passes this
  size_t max_open_readers = 256;       // LRU bound of the read cache (>= 1)
};

// Where a segment's record lives in the pool.
struct StoredLocation {
  uint64_t container_id = 0;
  RecordLocation location;

  friend bool operator==(const StoredLocation&, const StoredLocation&) = default;
};

// The orphan sweep of a store whose writes can outlive their writer (S3: an object whose PUT
// the store accepted after the pool process died; docs/s3.md "Orphans and the sweep").
struct OrphanSweepOptions {
  absl::Duration grace = absl::Hours(1);  // unreferenced objects younger than this are kept
  std::function<absl::Time()> clock = absl::Now;
};
struct OrphanSweepReport {
  uint64_t intents_found = 0;       // upload intents listed
  uint64_t intents_removed = 0;     // of committed containers, and of removed orphans
  uint64_t intents_malformed = 0;   // unreadable or foreign intent objects (left alone)
  uint64_t orphans_found = 0;       // unreferenced container objects (or intents without one)
  uint64_t orphans_removed = 0;     // of those, older than the grace period: removed
  uint64_t orphans_kept_young = 0;  // of those, younger than the grace period: kept
  uint64_t objects_unreadable = 0;  // unreferenced objects whose age is unknown (left alone)
  uint64_t bytes_removed = 0;
};

class ContainerStore {
 public:
  virtual ~ContainerStore() = default;

  // Appends to the open container of `key_group_id`, rolling over to a new one when it has no
  // room. InvalidArgument for a segment outside the format's limits (nothing written).
  [[nodiscard]] virtual absl::StatusOr<StoredLocation> Append(const Id128& key_group_id,
                                                              const SealedSegment& segment) = 0;

  // Makes every record appended before this call durable. Returns the first error met, or a
  // loss recorded while the caller waited (not one recorded before: use Sync(locations)).
  [[nodiscard]] virtual absl::Status Sync() = 0;
  // Sync(), then checks that each of `locations` (returned by this store's Append) is durable.
  // OK iff all are; otherwise the error that lost the first one that is not.
  [[nodiscard]] virtual absl::Status Sync(std::span<const StoredLocation> locations) = 0;

  // Reads and verifies a record; on success `*stored` holds exactly its stored bytes. A record
  // of another segment than `expected` is DataLoss too.
  [[nodiscard]] virtual absl::StatusOr<RecordHeader> Read(
      const StoredLocation& where, std::vector<uint8_t>* stored,
      std::optional<crypto::SegmentId> expected) const = 0;

  // Closes (makes durable) every key group's open container so that the next Append of each
  // group starts a new one; compaction calls it so that it never copies into a container it
  // compacts. Returns the first error.
  [[nodiscard]] virtual absl::Status SealOpenContainers() = 0;

  // Ids of the pool's containers (any state), ascending.
  [[nodiscard]] virtual absl::StatusOr<std::vector<uint64_t>> List() const = 0;
  // Whether the id is (or is being created as) a group's container open for append.
  virtual bool IsOpenForAppend(uint64_t container_id) const = 0;

  // Deletes a container; FailedPrecondition for one open for append; NotFound if absent.
  // Durable on return.
  [[nodiscard]] virtual absl::Status Remove(uint64_t container_id) = 0;
  // The container's size in bytes (header and records).
  [[nodiscard]] virtual absl::StatusOr<uint64_t> FileSize(uint64_t container_id) const = 0;
  // A reader the caller owns (for scrub, index rebuild and compaction: ContainerScanner over
  // it).
  [[nodiscard]] virtual absl::StatusOr<std::unique_ptr<ContainerReader>> OpenReader(
      uint64_t container_id) const = 0;

  // Where the pool's catalog is made durable beside the containers (catalog_log.h): the S3
  // store's commit records and catalog backups. nullptr (the default, and the local store):
  // the catalog's own fsync is the durability, as the containers are on the same disk.
  virtual CatalogLog* catalog_log() { return nullptr; }
  // Removes objects of writes that never committed: not open here, `referenced` false, older
  // than options.grace. Unimplemented for a store that needs no sweep (local files: Pool::Open
  // removes every container without a catalog record).
  [[nodiscard]] virtual absl::StatusOr<OrphanSweepReport> SweepOrphans(
      const OrphanSweepOptions& options,
      const std::function<absl::StatusOr<bool>(uint64_t container_id)>& referenced) {
    (void)options;
    (void)referenced;
    return absl::UnimplementedError("this container store has no orphan sweep (local files)");
  }

 protected:
  ContainerStore() = default;
  ContainerStore(const ContainerStore&) = delete;
  ContainerStore& operator=(const ContainerStore&) = delete;
};

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_STORE_CONTAINER_STORE_H_
