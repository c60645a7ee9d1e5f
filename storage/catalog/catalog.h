// The pool catalog: one RocksDB database with a column family per kind of record. This layer
// knows column families, batches, counters, iteration and backup; what the keys and values mean
// is storage/catalog/catalog_records.h (and storage/keydict/key_dictionary_format.h for the `keys` family).
// Layout of every family: docs/format.md "Catalog (version 1)".
//
//   SEALPOOL_ASSIGN_OR_RETURN(auto catalog, Catalog::Open(dir, {.create_if_missing = true}));
//   Catalog::Batch batch;
//   batch.Put(Cf::kSegments, key, value);
//   batch.Add(counter_key, +1);            // merge: int64 add in Cf::kCounters
//   SEALPOOL_RETURN_IF_ERROR(catalog->Write(batch));   // synced: durable when it returns
//
// Fingerprint index: Cf::kFingerprints has a whole-key Bloom filter and its index and filter
// blocks live in the one bounded block cache (options.block_cache_bytes), pinned for L0, so that
// memory per stored segment stays near the filter's bits per key (goal: <= 2 bytes per segment).
//
// Errors: RocksDB's Corruption -> DataLoss, IOError -> Unavailable/Internal with the path, a
// second open of the same directory (RocksDB's LOCK) -> FailedPrecondition "already open"; a
// directory that holds something else than a catalog -> FailedPrecondition; a counter value of
// the wrong size -> DataLoss naming the key (hex).
//
// Thread safety: a Catalog is thread-safe (RocksDB's guarantees); Batch is a plain value.
#ifndef SEALPOOL_STORAGE_CATALOG_CATALOG_H_
#define SEALPOOL_STORAGE_CATALOG_CATALOG_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Env;
class Snapshot;
}  // namespace rocksdb

namespace sealpool::storage {

// The column families. Their names on disk (CfName) never change.
enum class Cf : uint8_t {
  kMeta = 0,      // "default": pool metadata, key groups, LSUs, id allocators
  kKeys,          // "keys": key dictionary (key_dictionary_format.h)
  kFingerprints,  // "fingerprints": (key group, fingerprint) -> segment id
  kSegments,      // "segments": (key group, segment id) -> segment record with wrapped DEK
  kImages,        // "images": image records and the (LSU, name) -> image id index
  kRecipes,       // "recipes": (image id, logical offset) -> extent
  kDeleteQueue,   // "delete_queue": sequence -> delete job
  kSessions,      // "sessions": reserved, always empty in version 1 (docs/format.md)
  kContainers,    // "containers": container id -> container record
  kCounters,      // "counters": int64 counters, updated by merge (refcounts, usage, totals)
  kClientDigests, // "client_digests": (image id, owner's client digest) -> extent (format 3)
};
inline constexpr size_t kCfCount = 11;
std::string_view CfName(Cf cf);

struct CatalogOptions {
  bool create_if_missing = false;
  // One LRU cache for data, index and filter blocks of every family.
  size_t block_cache_bytes = size_t{64} << 20;
  // Bloom filter bits per key of the fingerprint index (whole-key filter).
  int fingerprint_filter_bits_per_key = 10;
  // Memtable size per family (write_buffer_size).
  size_t write_buffer_bytes = size_t{16} << 20;
  // Tests: RocksDB's Env (e.g. a FaultInjectionTestEnv); nullptr: the default Env.
  rocksdb::Env* env = nullptr;
};

// Memory the catalog holds, for the memory-per-segment figure and `crcontrol --dsstat`.
struct CatalogMemory {
  uint64_t block_cache_usage = 0;    // includes index and filter blocks (cached, bounded)
  uint64_t block_cache_pinned = 0;
  uint64_t memtables = 0;            // all families
  uint64_t table_readers = 0;        // index/filter memory outside the cache (should be ~0)
  uint64_t total() const { return block_cache_usage + memtables + table_readers; }
};

class Catalog {
 public:
  // A set of updates applied atomically by Write.
  class Batch {
   public:
    void Put(Cf cf, std::string_view key, std::string_view value);
    void Delete(Cf cf, std::string_view key);
    // Adds `delta` to the int64 counter `key` of Cf::kCounters (absent counts as 0).
    void Add(std::string_view key, int64_t delta);
    size_t count() const { return ops_.size(); }
    size_t byte_size() const { return byte_size_; }  // keys and values
    bool empty() const { return ops_.empty(); }
    void Clear() { ops_.clear(); byte_size_ = 0; }
    // Appends every operation of `other`.
    void Append(const Batch& other);

   private:
    friend class Catalog;
    enum class Kind : uint8_t { kPut, kDelete, kAdd };
    struct Op {
      Cf cf;
      Kind kind;
      std::string key;
      std::string value;  // kAdd: the int64 delta, 8 bytes little-endian
    };
    std::vector<Op> ops_;
    size_t byte_size_ = 0;
  };

  // ---- The commit log (S3 LSU, docs/s3.md "Disaster recovery") ----
  // A batch's operations as bytes (docs/format.md "S3 commit records and catalog backups"),
  // and back: DataLoss for anything malformed (truncated, an unknown family or kind, a counter
  // delta that is not 8 bytes, trailing bytes).
  static std::string EncodeBatch(const Batch& batch);
  static absl::StatusOr<Batch> DecodeBatch(std::string_view bytes);
  // Receives each batch before it is applied, with its sequence number (1, 2, ...).
  using CommitLogFn = std::function<absl::Status(uint64_t seq, std::string_view batch)>;

  // Opens (or with create_if_missing creates) the catalog in `dir`, with every family.
  // FailedPrecondition: already open (here or by another process), or not a catalog.
  static absl::StatusOr<std::unique_ptr<Catalog>> Open(const std::string& dir,
                                                       const CatalogOptions& options);
  ~Catalog();  // closes; what Write returned OK for is durable
  Catalog(const Catalog&) = delete;
  Catalog& operator=(const Catalog&) = delete;

  // nullopt if absent.
  absl::StatusOr<std::optional<std::string>> Get(Cf cf, std::string_view key) const;
  // Several keys of one family at once (RocksDB MultiGet); result i belongs to keys[i].
  absl::StatusOr<std::vector<std::optional<std::string>>> MultiGet(
      Cf cf, const std::vector<std::string>& keys) const;
  // A counter of Cf::kCounters; 0 if absent.
  absl::StatusOr<int64_t> GetCounter(std::string_view key) const;

  // Applies `batch` atomically; with `sync` (the default) the WAL is fsynced before it returns.
  // `batch` is left unchanged (Clear it to reuse it).
  absl::Status Write(const Batch& batch, bool sync = true);

  // From now on every Write first hands `log` its batch (EncodeBatch) with the next commit
  // sequence number, in the order the batches are applied, and applies the batch only if `log`
  // returned OK (its status is returned otherwise and nothing is written). The sequence number
  // is written with the batch, atomically (key kCommitSeqKey of Cf::kMeta). Writes serialise
  // while a log is set. Set once, before other threads use the catalog.
  absl::Status SetCommitLog(CommitLogFn log);
  // The sequence number of the last batch applied with a log (or replayed); 0 if none.
  absl::StatusOr<uint64_t> CommitSeq() const;
  // Replays batch `seq` of a log (recovery): OK without effect if `seq` <= CommitSeq()
  // (idempotent); FailedPrecondition if `seq` > CommitSeq() + 1 (a gap); DataLoss if `batch`
  // is malformed. Not synced: Flush() after the last one.
  absl::Status ApplyCommitRecord(uint64_t seq, std::string_view batch);
  // CreateCheckpoint, taken between two logged writes; returns the CommitSeq() it holds.
  absl::StatusOr<uint64_t> CreateCheckpointAtCommit(const std::string& dir) const;
  static constexpr std::string_view kCommitSeqKey = "commit-log/seq";

  // Calls `visit` for every key starting with `prefix`, in key order, beginning after
  // `start_after` when it is not empty. `visit` returns true to go on, false to stop, or an
  // error that is returned as is. Reads a consistent snapshot.
  using Visitor = absl::FunctionRef<absl::StatusOr<bool>(std::string_view key,
                                                         std::string_view value)>;
  absl::Status Scan(Cf cf, std::string_view prefix, Visitor visit,
                    std::string_view start_after = {}) const;
  // The last key <= `key` that starts with `prefix` (recipe lookup by offset); nullopt if none.
  absl::StatusOr<std::optional<std::pair<std::string, std::string>>> SeekForPrev(
      Cf cf, std::string_view prefix, std::string_view key) const;

  // Backup while the pool runs. CreateCheckpoint: a consistent copy in `dir` (must not exist;
  // hard links where it can). Backup: an incremental RocksDB BackupEngine backup into
  // `backup_dir` (created if missing); returns the backup id; with `keep` > 0, then deletes
  // all but the newest `keep` backups there (files shared with a kept backup stay). RestoreLatest: into `db_dir`
  // (which must not be open), from `backup_dir`; FailedPrecondition if `db_dir` is open.
  absl::Status CreateCheckpoint(const std::string& dir) const;
  absl::StatusOr<uint32_t> Backup(const std::string& backup_dir, uint32_t keep = 0) const;
  static absl::Status RestoreLatest(const std::string& backup_dir, const std::string& db_dir);

  // Flushes memtables to files (tests, before a backup figure).
  absl::Status Flush();
  // Full compaction of one family (drops deleted records' older copies from the files).
  absl::Status CompactFamily(Cf cf);
  CatalogMemory Memory() const;
  // Approximate number of keys in a family (RocksDB's estimate).
  uint64_t EstimateKeys(Cf cf) const;
  const std::string& dir() const { return dir_; }

 private:
  Catalog(std::string dir, CatalogOptions options);
  // The commit sequence (read from the catalog the first time); needs impl_->commit_mu.
  absl::StatusOr<uint64_t> LoadCommitSeqLocked() const;
  std::string dir_;
  CatalogOptions options_;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_CATALOG_CATALOG_H_
