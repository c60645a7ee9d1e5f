// Internals of storage/pool/pool.h shared by its .cc files (pool.cc, image_writer.cc,
// image_reader.cc, delete_queue.cc, compactor.cc, rewrap.cc, pool_scan.cc). Not a public API.
//
// Locks, in the order they may be taken (never the reverse):
//   maintenance_mu   one maintenance job at a time (delete queue, compaction, re-wrap, rebuild)
//   commit_mu        one writer batch at a time: claim -> container sync -> catalog write
//   stripe[i].mu     a fingerprint stripe: index lookup + pin, reclaim check + erase,
//                    in-flight segment states
//   meta_mu          key groups, LSUs, names being written, images being written
//   pending_mu       records on their way into the catalog
//   usage_mu         the in-memory container summary Stats() reads
// What each protects and why the pairs are safe: storage/README.md.
#ifndef SEALPOOL_STORAGE_POOL_POOL_INTERNAL_H_
#define SEALPOOL_STORAGE_POOL_POOL_INTERNAL_H_

#include <array>
#include <map>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "crypto/image_digest.h"
#include "storage/catalog/catalog.h"
#include "storage/catalog/catalog_records.h"
#include "storage/store/container_store.h"
#include "storage/store/file_system.h"
#include "storage/keydict/key_dictionary.h"
#include "storage/pool/grouped_container_store.h"
#include "storage/pool/pool.h"

namespace sealpool::storage {

// Hands out ids that are never reused: reserves blocks ahead in the catalog (synced) before
// handing any of them out, so a crash skips ids but never repeats one.
class IdAllocator {
 public:
  IdAllocator(Catalog* catalog, std::string what, uint64_t block = 1024)
      : catalog_(catalog), what_(std::move(what)), block_(block) {}
  absl::Status Load() ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<uint64_t> Next() ABSL_LOCKS_EXCLUDED(mu_);
  // Makes every later id >= `floor` (after finding ids in containers the catalog did not know).
  absl::Status EnsureAtLeast(uint64_t floor) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Catalog* const catalog_;
  const std::string what_;
  const uint64_t block_;
  absl::Mutex mu_;
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t reserved_end_ ABSL_GUARDED_BY(mu_) = 1;
};

// A small fixed pool of threads running sealing jobs (image_writer.cc). Jobs never wait for a
// writer, so a writer waiting for its jobs (or for another writer's in-flight segment) always
// makes progress.
class SealWorkers {
 public:
  explicit SealWorkers(int threads);
  ~SealWorkers();  // runs what is queued, then joins
  void Submit(std::function<void()> job) ABSL_LOCKS_EXCLUDED(mu_);
  int threads() const { return static_cast<int>(threads_.size()); }

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// A new segment on its way into the pool, shared by every writer that meets its fingerprint
// before the catalog knows it. Guarded by its stripe's mutex.
struct InflightSegment {
  enum class State {
    kSealing,    // its owner compresses, seals and appends it
    kAppended,   // in a container (not yet synced); `record` is complete
    kClaimed,    // a writer's batch is committing it
    kCommitted,  // in the catalog (segment record + index entry)
    kFailed,     // sealing or appending failed: whoever needs it stores it again
  };
  uint32_t group_no = 0;
  crypto::SegmentId id;
  crypto::Fingerprint fingerprint;
  State state = State::kSealing;
  SegmentRecord record;
  StoredLocation where;
  int holders = 0;  // writers that reference it and have not committed that reference yet
  absl::Status error;  // kFailed: why
  uint64_t seal_epoch = 0;  // Impl::NoteSealStart's answer for it (a purge's writer fence)
};

struct SegmentKeyHash {
  size_t operator()(const std::pair<uint32_t, uint64_t>& k) const {
    return std::hash<uint64_t>{}(k.second * 0x9e3779b97f4a7c15ULL ^ k.first);
  }
};

// One of kStripes: the fingerprints whose first byte maps here.
struct Stripe {
  absl::Mutex mu;
  // Pins: (group, segment id) -> writers that reference the segment in an extent not yet in a
  // durable batch. A pinned segment is never reclaimed.
  absl::flat_hash_map<std::pair<uint32_t, uint64_t>, int, SegmentKeyHash> pins ABSL_GUARDED_BY(mu);
  // (group, fingerprint) -> the segment being stored.
  absl::flat_hash_map<std::pair<uint32_t, crypto::Fingerprint>, std::shared_ptr<InflightSegment>>
      inflight ABSL_GUARDED_BY(mu);
};
inline constexpr size_t kStripes = 64;

struct GroupState {
  KeyGroupRecord record;
  ChunkerParams chunker;
  // Lazily created from the fingerprint key (needs the KMS once).
  std::shared_ptr<const crypto::ImageDigester> recipe_digester;
  std::shared_ptr<const crypto::ImageDigester> content_digester;
  std::shared_ptr<const crypto::ImageDigester> identity_digester;
};

// A key group's three image digesters (docs/format.md "Image digests (version 2)").
struct ImageDigesters {
  std::shared_ptr<const crypto::ImageDigester> recipe;
  std::shared_ptr<const crypto::ImageDigester> content;
  std::shared_ptr<const crypto::ImageDigester> identity;
};

struct Pool::Impl {
  std::string dir;
  PoolOptions options;
  RootKeyProvider* root_keys = nullptr;
  std::unique_ptr<FileSystem> owned_fs;
  FileSystem* fs = nullptr;
  std::unique_ptr<FileLock> pool_lock;
  PoolMeta meta;
  std::unique_ptr<Catalog> catalog;
  // An opened pool whose catalog log is a key group's (docs/s3.md "Which folder holds the
  // catalog"): a store of that group's folder, opened before anything reads the catalog so that
  // the catalog catches up with the bucket first, and kept as the log's holder for the pool's
  // life. Declared before `containers` so that it outlives them: the folder's lease, shared by
  // the group's store, uses this store's client.
  std::unique_ptr<ContainerStore> log_store;
  std::unique_ptr<ContainerStore> containers;
  // The same store as `containers`: routes each key group to its store (local or S3).
  GroupedContainerStore* grouped = nullptr;
  std::unique_ptr<KeyDictionary> keys;
  std::unique_ptr<IdAllocator> segment_ids;
  std::unique_ptr<IdAllocator> container_ids;
  std::unique_ptr<IdAllocator> image_ids;
  std::unique_ptr<IdAllocator> delete_seq;
  std::unique_ptr<SealWorkers> seal_workers;

  // The S3 LSU's catalog log (bucket_recovery.cc; docs/s3.md "Disaster recovery"): nullptr for
  // a store that keeps none. Backups to the bucket run one at a time, on demand or from the
  // backup thread, which StopCatalogBackups ends (before the catalog closes).
  CatalogLog* catalog_log = nullptr;
  // Whether StartCatalogLog installed the log on the catalog (under maintenance_mu after open).
  bool catalog_log_installed = false;
  absl::Mutex catalog_backup_mu;
  absl::Mutex backup_timer_mu;
  bool backup_timer_stop ABSL_GUARDED_BY(backup_timer_mu) = false;
  bool backup_due ABSL_GUARDED_BY(backup_timer_mu) = false;
  uint64_t last_backup_seq ABSL_GUARDED_BY(backup_timer_mu) = 0;
  std::thread backup_timer;
  // Installs the commit log on the catalog (refusing a catalog the bucket is ahead of), takes
  // a first backup when the bucket has none, starts the backup thread. No-op without a log.
  absl::Status StartCatalogLog();
  // Without a pool-wide log: opens log_store on the folder of the lowest-numbered key group
  // with an S3 target (none: nothing).
  absl::Status OpenLogGroupStore();
  absl::StatusOr<uint64_t> BackupCatalogToBucket();
  void StartBackupTimer();  // the last step of a successful open
  void StopCatalogBackups();

  std::array<Stripe, kStripes> stripes;

  // Once a catalog backup exists, compacted (retired) containers are removed only after the
  // next backup, so that restoring the latest backup never points at a removed container.
  std::atomic<bool> keep_retired_until_backup{false};

  absl::Mutex maintenance_mu ABSL_ACQUIRED_BEFORE(commit_mu);
  absl::Mutex commit_mu ABSL_ACQUIRED_BEFORE(meta_mu);

  mutable absl::Mutex meta_mu;
  mutable std::map<uint32_t, GroupState> groups ABSL_GUARDED_BY(meta_mu);  // digesters: lazily
  std::map<std::string, uint32_t, std::less<>> group_by_name ABSL_GUARDED_BY(meta_mu);
  std::map<std::string, LsuRecord, std::less<>> lsus ABSL_GUARDED_BY(meta_mu);
  // (lsu, owner, name) of images being written, and of names a ReassignOwner is taking: a
  // second writer of the same name is refused. Reserved before the catalog is checked, so a
  // name checked free stays free until its reservation goes.
  std::set<std::tuple<std::string, std::string, std::string>> names_in_progress
      ABSL_GUARDED_BY(meta_mu);
  // Images being written: the delete queue leaves their held job alone.
  absl::flat_hash_set<uint64_t> active_images ABSL_GUARDED_BY(meta_mu);

  // Containers of which this process committed a record already (its container record exists).
  absl::flat_hash_set<uint64_t> recorded_containers ABSL_GUARDED_BY(commit_mu);

  // Records on their way into the catalog. A record is `sealing` from before its DEK is
  // wrapped until its append starts, `in_append` during ContainerStore::Append, then pending in
  // its container until a batch commits it (or its write gives it up). Compaction leaves a
  // container with pending records alone; a re-wrap drops old KEKs only when nothing is on
  // its way at all.
  absl::Mutex pending_mu ABSL_ACQUIRED_AFTER(meta_mu);
  int sealing ABSL_GUARDED_BY(pending_mu) = 0;
  int in_append ABSL_GUARDED_BY(pending_mu) = 0;
  absl::flat_hash_map<uint64_t, int> pending_records ABSL_GUARDED_BY(pending_mu);
  // The writer fence of a purge: every record counts in the seal epoch it started in, from
  // NoteSealStart until it is committed or given up. A purge rotates the KEK, then advances the
  // epoch and waits for the older epochs to empty: from then on no record wrapped under an old
  // KEK can still reach the catalog.
  uint64_t seal_epoch ABSL_GUARDED_BY(pending_mu) = 0;
  std::map<uint64_t, int64_t> open_by_epoch ABSL_GUARDED_BY(pending_mu);
  // Returns the record's seal epoch, to be passed to the calls that end it.
  uint64_t NoteSealStart() ABSL_LOCKS_EXCLUDED(pending_mu);
  void NoteAppendStart() ABSL_LOCKS_EXCLUDED(pending_mu);
  // After Append: OK -> pending in `container_id`; failed -> forgotten.
  void NoteAppendDone(const absl::StatusOr<StoredLocation>& where, uint64_t epoch)
      ABSL_LOCKS_EXCLUDED(pending_mu);
  void NoteSealAbandoned(uint64_t epoch) ABSL_LOCKS_EXCLUDED(pending_mu);
  void ForgetPendingRecord(uint64_t container_id, uint64_t epoch) ABSL_LOCKS_EXCLUDED(pending_mu);
  // Starts a new seal epoch; returns it (records of earlier epochs are "before the fence").
  uint64_t AdvanceSealEpoch() ABSL_LOCKS_EXCLUDED(pending_mu);
  // Waits up to `timeout` until no record of an epoch before `fence` is open; returns how many
  // are still open (0: the fence holds).
  int64_t AwaitSealsBefore(uint64_t fence, absl::Duration timeout) ABSL_LOCKS_EXCLUDED(pending_mu);
  // Whether every record appended to the container is committed or given up (waits for the
  // appends in progress, which are short, to land first).
  bool ContainerSettled(uint64_t container_id) ABSL_LOCKS_EXCLUDED(pending_mu);
  // Whether no record is on its way at all (does not wait).
  bool NoUncommittedRecords() ABSL_LOCKS_EXCLUDED(pending_mu);

  // Every container's file size and live bytes, in memory, so that Stats() needs no catalog read
  // or file-system call per container. Loaded at open from the files and the catalog counters
  // (what RecountStats reads), then kept up to date by the code that changes them: a file grows
  // with each successful append (NoteAppendDone), live bytes and records change after each
  // catalog batch that changes a container's counters (writer batch, reclaim, compaction), and
  // a removed container goes. Bytes a failed append left in a file are counted from the next
  // open. Taken last, after every other lock, and never held while calling out.
  struct ContainerUsage {
    uint64_t file_bytes = 0;
    int64_t live_bytes = 0;
    int64_t live_records = 0;
  };
  mutable absl::Mutex usage_mu ABSL_ACQUIRED_AFTER(pending_mu);
  absl::flat_hash_map<uint64_t, ContainerUsage> usage ABSL_GUARDED_BY(usage_mu);
  void NoteLiveChange(uint64_t container_id, int64_t bytes, int64_t records)
      ABSL_LOCKS_EXCLUDED(usage_mu);
  void NoteContainerRemoved(uint64_t container_id) ABSL_LOCKS_EXCLUDED(usage_mu);
  absl::Status LoadContainerUsage() ABSL_LOCKS_EXCLUDED(usage_mu);

  Stripe& StripeOf(const crypto::Fingerprint& fp) { return stripes[fp.bytes()[0] % kStripes]; }

  // Meta lookups (take meta_mu).
  absl::StatusOr<LsuRecord> FindLsu(std::string_view name) const;
  absl::StatusOr<GroupState> FindGroup(uint32_t group_no) const;
  absl::StatusOr<uint32_t> FindGroupNo(std::string_view name) const;
  // The group's digesters; the first call per group reads the fingerprint key (may call the
  // KMS), later ones take meta_mu only. DataLoss for a group not in the catalog.
  absl::StatusOr<ImageDigesters> Digesters(uint32_t group_no) const;

  // The committed image of that (LSU, owner, name); nullopt if there is none.
  absl::StatusOr<std::optional<ImageRecord>> LookupImage(const ImageKey& key) const;
  // LookupImage, with the LSU checked first and the identity digest checked (CheckIdentity);
  // NotFound for a missing image.
  absl::StatusOr<ImageRecord> FindImage(const ImageKey& key) const;
  // The identity digest of `image` as it is now (over EncodeImageIdentity).
  absl::StatusOr<crypto::ImageDigestValue> IdentityDigest(const ImageRecord& image) const;
  // DataLoss naming the image if its identity digest does not match its fields (a catalog
  // edit changed its LSU, name, owner, retention, labels or digests). One HMAC over a few
  // hundred bytes, no recipe read.
  absl::Status CheckIdentity(const ImageRecord& image) const;
  ImageInfo ToInfo(const ImageRecord& record) const;

  // Reads, authenticates and decompresses one segment into `plaintext`; follows a segment
  // moved by compaction. Errors name `context` (the image) and the segment.
  absl::Status ReadSegment(uint32_t group_no, const Id128& group_id, crypto::SegmentId id,
                           std::string_view context, std::vector<uint8_t>* plaintext,
                           SegmentRecord* record_out = nullptr) const;

  // The recipe digest of an image: over (image id, then every extent's offset, segment id and
  // length, then the extent count and the size).
  absl::StatusOr<crypto::ImageDigestValue> RecipeDigest(const ImageRecord& image,
                                                        const crypto::ImageDigester& d) const;

  absl::Status StartupRecovery();
  absl::Status LoadMeta();
  // Opens the store of every key group with an S3 target (sizes from the catalog's container
  // records) and refuses mixing: FailedPrecondition naming the group for a local container file
  // of a group with an S3 target, or a container of a local group recorded as an S3 object.
  absl::Status OpenGroupStores();
  // The store of one S3 group, through options.group_container_store.
  absl::StatusOr<std::unique_ptr<ContainerStore>> OpenGroupStore(
      const KeyGroupRecord& record, std::map<uint64_t, uint64_t> sizes);
  // What a new container record says of the container's size: the object's size for a
  // container of a group store (uploaded: its records were just made durable), 0 for a local one.
  absl::StatusOr<uint64_t> ContainerSizeToRecord(uint64_t container_id) const;
  absl::Status PutMetaSync(std::string_view key, std::string_view value);
};

// Delete-queue jobs in the catalog, held ones included: the pool counter kept by every batch
// that queues (+1) or finishes (-1) a job.
inline constexpr char kDeleteJobsCounter[] = "delete_jobs";

// The bodies of the maintenance jobs, for callers that hold maintenance_mu already (purge.cc).
absl::StatusOr<DeleteQueueReport> RunDeleteQueue(Pool::Impl& p, uint64_t max_jobs)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(p.maintenance_mu);
// Re-wraps every live DEK of the group that is not under `target` (with `only_older`: under a
// KEK older than `target`) under `target`, resumably (rewrap.cc).
absl::Status RewrapLiveDeks(Pool::Impl& p, uint32_t group_no, uint32_t target, bool only_older,
                            RewrapReport* report) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p.maintenance_mu);
// Drops every KEK of the group older than `target`; FailedPrecondition naming them, and
// nothing dropped, if one still wraps a live DEK. The caller fenced the writers. Returns the
// ids dropped.
// Deletes the batch records of `group_no` sealed to a KEK pair below `target` (after those
// pairs were dropped); returns how many.
absl::StatusOr<uint64_t> DropBatchRecordsBelow(Pool::Impl& p, uint32_t group_no, uint32_t target);
absl::StatusOr<std::vector<uint32_t>> DropKeksOlderThan(Pool::Impl& p, uint32_t group_no,
                                                        std::string_view key_group,
                                                        uint32_t target)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(p.maintenance_mu);

// Deletes a retired container's file, then its record and counters (compactor.cc).
absl::Status RemoveRetiredContainer(Pool::Impl& p, uint64_t container_id);

// "image lsu/name" (+ " of owner \"o\"" when there is one), for messages.
std::string ImageLabel(const ImageKey& key);
std::string ImageLabel(const ImageRecord& record);
absl::Time FromMicros(uint64_t micros);
uint64_t ToMicros(absl::Time t);

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_POOL_POOL_INTERNAL_H_
