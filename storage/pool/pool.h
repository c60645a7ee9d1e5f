// The deduplicating pool: images in, images out, every segment sealed under its own key. This
// is the storage engine as a library; sealpoold puts it behind gRPC. Which operations may run
// together and what keeps each pair safe: storage/README.md. Formats: docs/format.md.
//
//   InProcessRootKeyProvider kms;  ...            // or the sealkmsd client adapter (daemon/)
//   SEALPOOL_ASSIGN_OR_RETURN(auto pool, Pool::Create(dir, &kms, PoolOptions{}));
//   SEALPOOL_RETURN_IF_ERROR(pool->CreateKeyGroup("kg1"));
//   SEALPOOL_RETURN_IF_ERROR(pool->CreateLsu("lsu1", "kg1"));
//   SEALPOOL_ASSIGN_OR_RETURN(auto writer, pool->BeginImage({.lsu = "lsu1", .name = "img"}));
//   SEALPOOL_RETURN_IF_ERROR(writer->Write(bytes));      // any number of times
//   SEALPOOL_ASSIGN_OR_RETURN(ImageInfo info, writer->Commit());   // durable and visible now
//   SEALPOOL_RETURN_IF_ERROR(pool->ReadImage("lsu1", "img", 0, info.size, sink));
//
// Durability: Commit returns only after every container byte of the image is fsynced and the
// catalog batch that makes the image visible is written with sync. An image is visible (list,
// stat, read) only after its Commit; a crash before leaves nothing visible and the delete queue
// gives back what the unfinished write referenced.
//
// Errors, by status code: NotFound (unknown LSU, key group or image), AlreadyExists (an image
// name taken or being written, a key group or LSU that exists), InvalidArgument (bad names,
// labels, ranges), FailedPrecondition (deleting under retention or a client delete on an LSU
// that forbids it, a second open of the pool directory, a pool of a newer format), DataLoss
// (corruption found: names the image, the segment and the container), Unavailable /
// DeadlineExceeded (the KMS, for keys not yet unwrapped). Bad input changes nothing stored.
//
// Thread safety: Pool is thread-safe; any number of ImageWriters (one thread each) and readers
// run at once, with the maintenance jobs (delete queue, compaction, re-wrap, index rebuild)
// serialized among themselves but concurrent with ingest and reads.
#ifndef SEALPOOL_STORAGE_POOL_POOL_H_
#define SEALPOOL_STORAGE_POOL_POOL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/catalog/catalog.h"
#include "storage/catalog/catalog_records.h"
#include "storage/chunking/chunker_format.h"
#include "storage/store/container_store.h"
#include "storage/store/file_system.h"
#include "storage/keydict/key_dictionary.h"
#include "storage/keydict/root_key_provider.h"
#include "storage/store/segment_codec.h"

namespace sealpool::storage {

struct PoolOptions {
  ContainerStoreOptions containers;
  CatalogOptions catalog;
  KeyDictionaryOptions keys;
  SegmentCodecOptions codec;
  // Chunker parameters of new key groups (fixed per group at creation).
  ChunkerParams chunker;
  // nullptr: the POSIX file system. Tests pass a FaultInjectionFileSystem.
  FileSystem* fs = nullptr;
  // A writer commits its new segments and recipe entries every this many extents (bounds the
  // memory of one stream and the work a crash loses).
  size_t commit_every_extents = 1024;
  // Delete queue: recipe extents (or segments) handled per batch.
  size_t delete_batch = 4096;
  // Threads that compress, seal and append new segments for every writer (the writer's own
  // thread chunks and fingerprints meanwhile). 0: one per core.
  int seal_threads = 0;
  // Compaction picks containers whose live bytes are below this share of their size.
  double compaction_live_threshold = 0.5;
  std::function<absl::Time()> clock = absl::Now;
};

struct ImageRequest {
  std::string lsu;
  std::string name;
  std::string owner;  // client identity (TLS CN); "" for admins and tests
  std::map<std::string, std::string> labels;
  absl::Time retain_until = absl::InfinitePast();  // nobody deletes it before
};

struct ImageInfo {
  uint64_t image_id = 0;
  std::string lsu;
  std::string name;
  std::string owner;
  std::string key_group;
  uint64_t size = 0;
  uint64_t extents = 0;
  absl::Time created;
  absl::Time retain_until;
  std::map<std::string, std::string> labels;
};

// What one image write did.
struct WriteStats {
  uint64_t logical_bytes = 0;
  uint64_t segments = 0;
  uint64_t new_segments = 0;     // stored by this write
  uint64_t new_plain_bytes = 0;  // plaintext bytes of the new segments
  uint64_t new_stored_bytes = 0; // their bytes in containers (compressed, sealed, headers)
  uint64_t duplicate_segments = 0;
};

class Pool;

// One image being written. Not thread-safe: one thread per writer. Destroying it without Commit
// aborts the write (nothing becomes visible; the delete queue reclaims what it stored).
class ImageWriter {
 public:
  virtual ~ImageWriter() = default;
  // Feeds the next bytes of the image.
  [[nodiscard]] virtual absl::Status Write(std::span<const uint8_t> data) = 0;
  // Ends the stream, makes everything durable and the image visible.
  [[nodiscard]] virtual absl::StatusOr<ImageInfo> Commit() = 0;
  // Gives up the write (also what the destructor does).
  virtual void Abort() = 0;
  virtual const WriteStats& stats() const = 0;
};

// Receives restored bytes in order; a non-OK status stops the read and is returned as is.
using ReadSink = absl::FunctionRef<absl::Status(std::span<const uint8_t> data)>;

struct DeleteQueueReport {
  uint64_t jobs_done = 0;
  uint64_t references_dropped = 0;
  uint64_t segments_erased = 0;   // wrapped DEK erased: the segment is unreadable from now on
  uint64_t segments_kept_busy = 0;  // unreferenced but in use by a running write; retried later
  uint64_t jobs_left = 0;
};

struct CompactionReport {
  uint64_t containers_compacted = 0;
  uint64_t records_moved = 0;
  uint64_t bytes_moved = 0;
  uint64_t bytes_reclaimed = 0;  // container bytes deleted
};

struct RewrapReport {
  uint32_t target_kek_id = 0;
  uint64_t deks_rewrapped = 0;
  uint64_t deks_already_under_target = 0;
  uint32_t keks_dropped = 0;
};

struct VerifyReport {
  uint64_t images_checked = 0;
  uint64_t segments_checked = 0;
  uint64_t bytes_checked = 0;
  // One line per problem: "image lsu/name: segment N in container C at offset O: ..." ; empty
  // when everything verified.
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

struct ScrubReport {
  uint64_t containers_scanned = 0;
  uint64_t records_checked = 0;
  uint64_t bytes_scanned = 0;
  std::vector<std::string> problems;  // each names the container, offset, segment and images
  // Damaged regions no live segment points into (a torn tail of an append a crash interrupted,
  // a dead copy left by compaction): no data is lost; compaction reclaims them.
  std::vector<std::string> dead_regions;
  bool ok() const { return problems.empty(); }
};

struct RebuildReport {
  uint64_t containers_scanned = 0;
  uint64_t entries_written = 0;
  uint64_t records_skipped = 0;  // dead copies (moved or erased segments)
};

// What `crcontrol --dsstat` prints.
struct PoolStats {
  uint64_t images = 0;
  uint64_t logical_bytes = 0;      // sum of image sizes
  uint64_t segments = 0;           // live segment records
  uint64_t stored_bytes = 0;       // their record bytes in containers
  uint64_t containers = 0;
  uint64_t space_allocated = 0;    // container file bytes
  uint64_t space_used = 0;         // live record bytes
  uint64_t space_reclaimable = 0;  // allocated - used
  uint64_t containers_to_compact = 0;  // live share under the compaction threshold
  uint64_t records_to_compact = 0;     // live records in them (what compaction would move)
  uint64_t pending_delete_jobs = 0;
  CatalogMemory catalog_memory;
  double dedup_ratio() const {
    return stored_bytes == 0 ? 0.0 : static_cast<double>(logical_bytes) /
                                         static_cast<double>(stored_bytes);
  }
};

struct KeyGroupInfo {
  std::string name;
  uint32_t group_no = 0;
  std::string kms_backend;
  ChunkerParams chunker;
  std::vector<KekInfo> keks;
};

struct LsuInfo {
  std::string name;
  std::string key_group;
  bool allow_client_delete = true;
};

class Pool {
 public:
  // A new pool in `dir` (created; must be empty or absent): catalog, containers, pool id.
  static absl::StatusOr<std::unique_ptr<Pool>> Create(const std::string& dir,
                                                      RootKeyProvider* root_keys,
                                                      PoolOptions options = {});
  // An existing pool. Finishes what a crash interrupted: unfinished writes are queued for
  // reclaim, retired containers removed, id allocators moved past every id found in containers.
  // Needs no KMS call (keys are unwrapped on first use).
  static absl::StatusOr<std::unique_ptr<Pool>> Open(const std::string& dir,
                                                    RootKeyProvider* root_keys,
                                                    PoolOptions options = {});
  ~Pool();

  // ---- key groups and LSUs ----
  // A key group's name follows the key service's rule (1..64 of [A-Za-z0-9._:-]); a refused
  // name is InvalidArgument and takes no group number. A KMS failure after the number is taken
  // burns it (its keys may exist in the KMS): numbers are never reused.
  absl::Status CreateKeyGroup(std::string_view name, std::string_view kms_backend = "builtin");
  absl::Status CreateLsu(std::string_view name, std::string_view key_group,
                         bool allow_client_delete = true);
  absl::StatusOr<std::vector<KeyGroupInfo>> ListKeyGroups() const;
  // What the key service wraps for `key_group` ("fpk" and every "kek-<n>", with the root key
  // of each): the list sealpoold reconciles with sealkmsd at start and after a re-wrap, which
  // is what lets an old root key be deprecated. NotFound for an unknown group.
  absl::StatusOr<std::vector<WrappedKeyRef>> ListWrappedKeys(std::string_view key_group) const;
  absl::StatusOr<std::vector<LsuInfo>> ListLsus() const;

  // ---- images ----
  absl::StatusOr<std::unique_ptr<ImageWriter>> BeginImage(const ImageRequest& request);
  // Convenience: reads `read` to the end into a new image.
  absl::StatusOr<ImageInfo> WriteImage(const ImageRequest& request,
                                       absl::FunctionRef<absl::StatusOr<size_t>(std::span<uint8_t>)> read,
                                       WriteStats* stats = nullptr);
  // Streams bytes [offset, offset + length) of the image to `sink`, every segment authenticated
  // before a byte of it is passed on; the recipe digest is checked before the first byte, and a
  // read of the whole image checks the content digest too. InvalidArgument for a range past the
  // end (length 0 at offset == size is fine and reads nothing).
  absl::Status ReadImage(std::string_view lsu, std::string_view name, uint64_t offset,
                         uint64_t length, ReadSink sink) const;
  absl::StatusOr<ImageInfo> StatImage(std::string_view lsu, std::string_view name) const;
  absl::StatusOr<std::vector<ImageInfo>> ListImages(std::string_view lsu) const;
  // Removes the image from the catalog now and queues its references. `by_admin` false: a
  // client delete, refused on an LSU that forbids client deletes. Refused under retention.
  absl::Status DeleteImage(std::string_view lsu, std::string_view name, bool by_admin = true);
  // Reads every segment of the image (or of all images if `name` is empty), authenticates it
  // and checks both digests.
  absl::StatusOr<VerifyReport> Verify(std::string_view lsu = {}, std::string_view name = {}) const;

  // ---- maintenance ----
  // Runs the delete queue until it is empty or `max_jobs` jobs are done.
  absl::StatusOr<DeleteQueueReport> ProcessDeleteQueue(uint64_t max_jobs = UINT64_MAX);
  // Compacts every container under the threshold (options or `live_threshold` if set).
  absl::StatusOr<CompactionReport> Compact(std::optional<double> live_threshold = std::nullopt);
  // Starts a new active KEK in the group; no segment is touched. Returns its id.
  absl::StatusOr<uint32_t> RotateKek(std::string_view key_group);
  // Re-wraps every live DEK of the group under its active KEK, resumably (a crash or a KMS
  // failure part-way: run it again), then drops the KEKs no DEK uses any more. With `drop_keks`
  // false the old KEKs are kept.
  absl::StatusOr<RewrapReport> RewrapDeks(std::string_view key_group, bool drop_keks = true);
  // After a root-key rotation in the KMS: re-wraps the group's KEKs and fingerprint key under
  // the active root key. Returns how many records were re-wrapped.
  absl::StatusOr<uint32_t> RewrapGroupKeys(std::string_view key_group);
  // Checksums every container (no key needed) and reports damaged records with the images
  // that reference them.
  absl::StatusOr<ScrubReport> Scrub() const;
  // Rebuilds the fingerprint index from the containers (scanning every record) and the
  // segment records.
  absl::StatusOr<RebuildReport> RebuildFingerprintIndex();
  // A consistent backup of the catalog while the pool runs (RocksDB BackupEngine, incremental).
  absl::StatusOr<uint32_t> BackupCatalog(const std::string& backup_dir);
  // Restores the newest catalog backup of `backup_dir` into the (closed) pool in `pool_dir`.
  static absl::Status RestoreCatalog(const std::string& backup_dir, const std::string& pool_dir);

  absl::StatusOr<PoolStats> Stats() const;
  const std::string& dir() const;
  // The pool's id (random, 16 bytes), as hex.
  std::string pool_id_hex() const;

  struct Impl;

 private:
  explicit Pool(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_POOL_POOL_H_
