// The deduplicating pool: images in, images out, every segment sealed under its own key. This
// is the storage engine as a library; sealpoold puts it behind gRPC. Which operations may run
// together and what keeps each pair safe: storage/README.md. Formats: docs/format.md.
//
//   InProcessRootKeyProvider kms;  ...            // or the sealkmsd client adapter (daemon/)
//   SEALPOOL_ASSIGN_OR_RETURN(auto pool, Pool::Create(dir, &kms, PoolOptions{}));
//   SEALPOOL_RETURN_IF_ERROR(pool->CreateKeyGroup("kg1"));
//   SEALPOOL_RETURN_IF_ERROR(pool->CreateLsu("lsu1", "kg1", LsuOptions{}));
//   SEALPOOL_ASSIGN_OR_RETURN(auto writer, pool->BeginImage({.lsu = "lsu1", .name = "img"}));
//   SEALPOOL_RETURN_IF_ERROR(writer->Write(bytes));      // any number of times
//   SEALPOOL_ASSIGN_OR_RETURN(ImageInfo info, writer->Commit());   // durable and visible now
//   SEALPOOL_RETURN_IF_ERROR(pool->ReadImage({.lsu = "lsu1", .name = "img"}, 0, info.size, sink));
//
// Names and owners: an image is named by its LSU, its owner (the client identity that wrote it;
// "" for administrators' and tests' own images) and its name, and names are unique per
// (LSU, owner), so clients sharing an LSU never collide. The pool checks the owner itself: an
// image of another owner is NotFound (never PermissionDenied, which would tell that it exists),
// and only ListImages with no owner (administrators) shows every owner's images.
//
// Durability: Commit returns only after every container byte of the image is fsynced and the
// catalog batch that makes the image visible is written with sync. An image is visible (list,
// stat, read) only after its Commit; a crash before leaves nothing visible and the delete queue
// gives back what the unfinished write referenced.
//
// Errors, by status code: NotFound (unknown LSU, key group or image, or an image of another
// owner), AlreadyExists (an image name taken or being written by the same owner, a key group or
// LSU that exists), InvalidArgument (bad names, labels, ranges, a retention past the LSU's
// longest), FailedPrecondition (deleting under retention or a client delete on an LSU that
// forbids it, shortening a retention, a second open of the pool directory, a pool of another
// catalog format, a key group's containers found both local and in its bucket: docs/s3.md
// "Per key group"), DataLoss
// (corruption found: names the image, the segment and the container), Unavailable /
// DeadlineExceeded (the KMS, for keys not yet unwrapped). Bad input changes nothing stored.
//
// Thread safety: Pool is thread-safe; any number of ImageWriters (one thread each) and readers
// run at once, with the maintenance jobs (delete queue, compaction, re-wrap, index rebuild)
// serialized among themselves (compaction one container at a time, so the others run between
// its containers) but concurrent with ingest and reads.
#ifndef SEALPOOL_STORAGE_POOL_POOL_H_
#define SEALPOOL_STORAGE_POOL_POOL_H_

#include <array>
#include <atomic>
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
#include "crypto/keys.h"
#include "storage/store/container_store.h"
#include "storage/store/file_system.h"
#include "storage/keydict/key_dictionary.h"
#include "storage/keydict/root_key_provider.h"
#include "storage/pool/purge.h"
#include "storage/store/segment_codec.h"

namespace sealpool::storage {

// Where a key group's containers live (fixed at the group's creation, kept in its catalog
// record): local container files (everything empty) or objects in an S3 bucket under a prefix
// ("" or ending in '/'). Region, addressing, CA and credentials are configuration, not identity:
// they may change; endpoint, bucket and prefix may not.
struct ContainerTarget {
  std::string s3_endpoint;
  std::string s3_bucket;
  std::string s3_prefix;
  bool is_s3() const { return !s3_bucket.empty(); }
  // "local container files" or "S3 bucket 'b' prefix 'p' at <endpoint>".
  std::string Describe() const;
  friend bool operator==(const ContainerTarget&, const ContainerTarget&) = default;
};

// What PoolOptions::group_container_store is asked to open.
struct GroupStoreRequest {
  Id128 pool_id{};
  std::string key_group;  // name
  Id128 key_group_id{};   // in every container header of the group
  ContainerTarget target;
  // Every container of the group the catalog records, with its size: the store needs no LIST
  // and no HEAD to know them (a container missing from the bucket is DataLoss when read).
  std::map<uint64_t, uint64_t> container_sizes;
  std::function<absl::StatusOr<uint64_t>()> allocate_id;
};

struct PoolOptions {
  ContainerStoreOptions containers;
  CatalogOptions catalog;
  KeyDictionaryOptions keys;
  SegmentCodecOptions codec;
  // Chunker parameters of new key groups (fixed per group at creation).
  ChunkerParams chunker;
  // nullptr: the POSIX file system. Tests pass a FaultInjectionFileSystem.
  FileSystem* fs = nullptr;
  // Where the containers of key groups without an S3 target live. Unset: files in
  // <pool>/containers (LocalContainerStore). Set (tests): called once per open with the pool id
  // and the container-id allocator, it returns the store those groups use.
  std::function<absl::StatusOr<std::unique_ptr<ContainerStore>>(
      const Id128& pool_id, std::function<absl::StatusOr<uint64_t>()> allocate_id)>
      container_store;
  // The store of a key group with an S3 target (docs/s3.md): called at open for each such group
  // and by CreateKeyGroup for a new one. Unset: such a group is refused (FailedPrecondition
  // naming it). sealpoold's comes from its config (daemon/sealpoold/pool_setup.h).
  std::function<absl::StatusOr<std::unique_ptr<ContainerStore>>(const GroupStoreRequest&)>
      group_container_store;
  // A writer commits its new segments and recipe entries every this many extents (bounds the
  // memory of one stream and the work a crash loses).
  size_t commit_every_extents = 1024;
  // S3 LSU (a store with a catalog log; docs/s3.md "Disaster recovery"): a catalog backup is
  // uploaded to the bucket in the background once this many commit records were written since
  // the last one (0: only by BackupCatalogToBucket), and at least every
  // catalog_backup_interval (positive and finite: InvalidArgument at open otherwise) while
  // something was committed.
  uint64_t catalog_backup_every_records = 20000;
  absl::Duration catalog_backup_interval = absl::Hours(1);
  // Delete queue: recipe extents (or segments) handled per batch.
  size_t delete_batch = 4096;
  // Threads that compress, seal and append new segments for every writer (the writer's own
  // thread chunks and fingerprints meanwhile). 0: one per core.
  int seal_threads = 0;
  // Compaction picks containers whose live bytes are below this share of their size.
  double compaction_live_threshold = 0.5;
  // RewrapDeks (dropping KEKs) waits this long for records that running writers sealed before
  // it started; if some are still on their way it fails (Unavailable) rather than skip a KEK.
  absl::Duration rewrap_writer_wait = absl::Seconds(30);
  std::function<absl::Time()> clock = absl::Now;
};

// Names one image: names are unique per (LSU, owner).
struct ImageKey {
  std::string lsu{};
  std::string owner{};  // client identity (TLS CN); "" for admins' and tests' own images
  std::string name{};
  friend bool operator==(const ImageKey&, const ImageKey&) = default;
};

enum class DeleteBy {
  kClient,  // refused on an LSU whose allow_client_delete is off
  kAdmin,
};

// What an LSU allows; the configuration is authoritative (UpdateLsu). An LSU's key group never
// changes.
struct LsuOptions {
  bool allow_client_delete = false;
  // The longest retention an image may ask for, from the time it asks (BeginImage,
  // ExtendRetention). Positive and finite.
  absl::Duration max_retention = absl::Hours(24 * 3650);
};

struct ImageRequest {
  std::string lsu;
  std::string name;
  std::string owner;  // client identity (TLS CN); "" for admins and tests
  std::map<std::string, std::string> labels;
  // Nobody (admins included) deletes it before; at most now + the LSU's max_retention.
  absl::Time retain_until = absl::InfinitePast();
  ImageKey key() const { return {lsu, owner, name}; }
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
  // Client-side writes: plaintext bytes of the segments the client did not send (answered
  // "have" from its base image). Says nothing about what was new to the pool.
  uint64_t bytes_not_sent = 0;
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

// ---- Client-side dedup (docs/security.md "Client-side dedup", docs/protocol.md "DedupBackup")
//
// The client cuts with the group's chunker parameters and digests every segment with its own
// client digest key (crypto/client_digest_key.h; Pool::ClientDigestKey). It offers the digests
// in batches; the writer answers which segments it must send. "Have" comes only from the
// client's base image: one of the same owner's committed images in the same LSU, whose
// recipe extents carry their client digests (catalog family client_digests). A segment
// answered "have" is pinned at once, exactly as a fingerprint-index hit of a server-side write
// is, so no delete can erase it before the write commits its reference. Everything else must
// be sent; the writer re-computes the client digest and the pool's fingerprint of every sent
// segment, refuses one whose digest does not match, and deduplicates it server-side without
// telling the client.

using ClientDigest = std::array<uint8_t, 32>;

struct ClientDedupOptions {
  // The epoch of the owner's client digest key (sealpoold's config; bumping it revokes a key).
  uint32_t epoch = 0;
  // The base image's name, one of the owner's committed images in the request's LSU; "" for
  // none. A name that is missing, of another owner or not written client-side under the same
  // epoch gives no "have" at all, indistinguishably: it is not an error.
  std::string base_name{};
};

// One segment as the client offers it.
struct OfferedSegment {
  ClientDigest digest{};  // HMAC-SHA-256(the owner's client digest key, the segment's bytes)
  uint32_t length = 0;    // its plaintext bytes
};

// The most segments one Offer may carry.
inline constexpr size_t kMaxOfferSegments = 4096;

// An image written client-side. Not thread-safe: one thread per writer. Destroying it without
// Commit aborts the write (nothing visible; pins dropped; the delete queue reclaims the rest).
// Every error ends the write (it is aborted; later calls return the same error).
class ClientDedupWriter {
 public:
  virtual ~ClientDedupWriter() = default;
  // The group's chunker parameters: the client must cut with exactly these.
  virtual const ChunkerParams& chunker() const = 0;
  // Offers the next segments of the image, in order. Returns the indexes (ascending) of those
  // the client must send next, with WriteSegment, before its next Offer or the Commit.
  // InvalidArgument: an empty batch or more than kMaxOfferSegments; a length of 0 or above the
  // group's max_size; a segment after one shorter than the group's min_size (only the image's
  // last segment may be shorter); segments of the previous Offer still unsent.
  [[nodiscard]] virtual absl::StatusOr<std::vector<uint32_t>> Offer(
      std::span<const OfferedSegment> segments) = 0;
  // The bytes of the next segment the last Offer asked for. InvalidArgument if none is
  // wanted, if its length differs from the offered one, or if its client digest does not match
  // its bytes (nothing of the image is stored then).
  [[nodiscard]] virtual absl::Status WriteSegment(std::span<const uint8_t> data) = 0;
  // Segments the last Offer asked for that have not arrived yet.
  virtual uint32_t segments_wanted() const = 0;
  // InvalidArgument while segments_wanted() > 0; otherwise as ImageWriter::Commit.
  [[nodiscard]] virtual absl::StatusOr<ImageInfo> Commit() = 0;
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
  bool cancelled = false;        // stopped by CompactOptions::cancel before the end
};

// Where a compaction run is, after each container.
struct CompactionProgress {
  uint64_t containers_total = 0;  // candidates found under the threshold when the run began
  uint64_t containers_done = 0;   // of them, handled (compacted, or skipped as busy or gone)
  uint64_t bytes_moved = 0;
  uint64_t bytes_reclaimed = 0;
};

struct CompactOptions {
  // Containers whose live bytes are below this share of their size; nullopt: the pool's
  // PoolOptions::compaction_live_threshold. Must be within [0, 1].
  std::optional<double> live_threshold{};
  // Checked between containers: once true, the run stops there (the pool is consistent after
  // every container) and reports `cancelled`. Must outlive the call.
  const std::atomic<bool>* cancel = nullptr;
  // Called on the compacting thread after each container (no pool lock held: it may call the
  // pool, but a slow callback slows the run).
  std::function<void(const CompactionProgress&)> progress{};
  // At most this many containers compacted in this run (a bounded slice; run again for more).
  uint64_t max_containers = UINT64_MAX;
};

struct RewrapReport {  // RewrapDeks never returns one with a KEK skipped: it fails instead
  uint32_t target_kek_id = 0;
  uint64_t deks_rewrapped = 0;
  uint64_t deks_already_under_target = 0;
  uint32_t keks_dropped = 0;
};

struct VerifyReport {
  uint64_t images_checked = 0;
  uint64_t segments_checked = 0;
  uint64_t bytes_checked = 0;
  // One line per problem: "image lsu/owner/name: segment N in container C at offset O: ..."; empty
  // when everything verified.
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

// Where a Verify is, after each image.
struct VerifyProgress {
  uint64_t images_total = 0;  // images found when the run began
  uint64_t images_done = 0;
  uint64_t bytes_checked = 0;
};
using VerifyProgressFn = std::function<void(const VerifyProgress&)>;

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

// Where a Scrub is, after each container file.
struct ScrubProgress {
  uint64_t containers_total = 0;  // container files found when the run began
  uint64_t containers_done = 0;   // of them, scanned (or skipped: no record, removed meanwhile)
  uint64_t bytes_scanned = 0;
};
using ScrubProgressFn = std::function<void(const ScrubProgress&)>;

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
  ContainerTarget target;
  ChunkerParams chunker;
  std::vector<KekInfo> keks;
};

struct LsuInfo {
  std::string name;
  std::string key_group;
  bool allow_client_delete = false;
  absl::Duration max_retention;
};

// What Pool::RecoverFromBucket did.
struct BucketRecoveryReport {
  uint64_t backup_seq = 0;        // the catalog backup restored (the commit sequence it covers)
  uint64_t records_replayed = 0;  // commit records applied after it
  uint64_t last_seq = 0;          // the commit sequence of the recovered catalog
  // Newer catalog backups that were damaged and skipped (each message names the object).
  std::vector<std::string> backups_skipped;
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
  // `target`: where its containers live, for good (InvalidArgument for an incomplete one;
  // FailedPrecondition for an S3 target without PoolOptions::group_container_store, or the
  // factory's error: nothing is created then).
  // kek_mode kPublic: KEK pairs and DEK batches (storage/keydict/key_dictionary.h).
  absl::Status CreateKeyGroup(std::string_view name, std::string_view kms_backend = "builtin",
                              const ContainerTarget& target = {},
                              KekMode kek_mode = KekMode::kSymmetric);
  absl::Status CreateKeyGroup(std::string_view name, std::string_view kms_backend,
                              KekMode kek_mode) {
    return CreateKeyGroup(name, kms_backend, ContainerTarget{}, kek_mode);
  }
  // InvalidArgument for a bad name or a max_retention that is not positive and finite;
  // NotFound for an unknown key group; AlreadyExists for an LSU of that name.
  absl::Status CreateLsu(std::string_view name, std::string_view key_group, LsuOptions options);
  // Replaces the LSU's options (the key group stays). Images already written keep their
  // retention, even one past a lowered max_retention. NotFound for an unknown LSU.
  absl::Status UpdateLsu(std::string_view name, LsuOptions options);
  absl::StatusOr<std::vector<KeyGroupInfo>> ListKeyGroups() const;
  // What the key service wraps for `key_group` ("fpk" and every "kek-<n>", with the root key
  // of each): the list sealpoold reconciles with sealkmsd at start and after a re-wrap, which
  // is what lets an old root key be deprecated. NotFound for an unknown group.
  absl::StatusOr<std::vector<WrappedKeyRef>> ListWrappedKeys(std::string_view key_group) const;
  absl::StatusOr<std::vector<LsuInfo>> ListLsus() const;

  // ---- images ----
  absl::StatusOr<std::unique_ptr<ImageWriter>> BeginImage(const ImageRequest& request);
  // An image written client-side (ClientDedupWriter). Errors as BeginImage; a base image that
  // does not exist or is another owner's is not an error (no "have" at all).
  absl::StatusOr<std::unique_ptr<ClientDedupWriter>> BeginClientDedupImage(
      const ImageRequest& request, const ClientDedupOptions& options);
  // The client digest key of `owner` in the key group of `lsu` under `epoch`
  // (crypto/client_digest_key.h): what sealpoold hands a client allowed client-side dedup.
  // NotFound for an unknown LSU; InvalidArgument for a bad owner; the KMS's status if the
  // group's fingerprint key is not unwrapped yet.
  absl::StatusOr<crypto::ClientDigestKey> ClientDigestKey(std::string_view lsu,
                                                          std::string_view owner,
                                                          uint32_t epoch) const;
  // Convenience: reads `read` to the end into a new image.
  absl::StatusOr<ImageInfo> WriteImage(const ImageRequest& request,
                                       absl::FunctionRef<absl::StatusOr<size_t>(std::span<uint8_t>)> read,
                                       WriteStats* stats = nullptr);
  // Streams bytes [offset, offset + length) of the image to `sink`, every segment authenticated
  // before a byte of it is passed on; the recipe digest is checked before the first byte, and a
  // read of the whole image checks the content digest too. InvalidArgument for a range past the
  // end (length 0 at offset == size is fine and reads nothing).
  // NotFound for an unknown LSU, and for an image that is not committed or of another owner;
  // InvalidArgument for an owner or name no image can have (a NUL, a bad name).
  absl::Status ReadImage(const ImageKey& image, uint64_t offset, uint64_t length,
                         ReadSink sink) const;
  absl::StatusOr<ImageInfo> StatImage(const ImageKey& image) const;
  // The committed images of the LSU, in (owner, name) order: every owner's (nullopt: for
  // administrators) or only `owner`'s. NotFound for an unknown LSU.
  absl::StatusOr<std::vector<ImageInfo>> ListImages(std::string_view lsu,
                                                    std::optional<std::string_view> owner) const;
  // Removes the image from the catalog now and queues its references. FailedPrecondition: a
  // kClient delete on an LSU that forbids client deletes, or the image is retained (for
  // administrators too). NotFound as for StatImage.
  absl::Status DeleteImage(const ImageKey& image, DeleteBy by);
  // Lengthens the image's retention to `retain_until`. FailedPrecondition if that is earlier
  // than its retention now (equal: nothing to do, OK); InvalidArgument if it is past now + the
  // LSU's max_retention. NotFound as for StatImage.
  absl::Status ExtendRetention(const ImageKey& image, absl::Time retain_until);
  // Gives the image to `new_owner` (same LSU and name), atomically with the owners' byte
  // counters. AlreadyExists if `new_owner` has (or is writing) an image of that name;
  // InvalidArgument for a bad owner; NotFound as for StatImage. Same owner: nothing to do, OK.
  absl::Status ReassignOwner(const ImageKey& image, std::string_view new_owner);
  // Logical bytes of `owner`'s committed images in the LSU (for quotas); one counter read.
  // NotFound for an unknown LSU; 0 for an owner with no image.
  absl::StatusOr<uint64_t> OwnerLogicalBytes(std::string_view lsu, std::string_view owner) const;
  // Reads every segment of every image of the LSU (of the pool if `lsu` is empty),
  // authenticates it and checks both digests. NotFound for an unknown LSU. `progress`, if set,
  // is called on this thread after each image (no pool lock held).
  absl::StatusOr<VerifyReport> Verify(std::string_view lsu = {},
                                      const VerifyProgressFn& progress = {}) const;
  // The same for one image. NotFound as for StatImage.
  absl::StatusOr<VerifyReport> VerifyImage(const ImageKey& image) const;

  // ---- maintenance ----
  // Runs the delete queue until it is empty or `max_jobs` jobs are done.
  absl::StatusOr<DeleteQueueReport> ProcessDeleteQueue(uint64_t max_jobs = UINT64_MAX);
  // Compacts the containers under the threshold, one at a time, taking the maintenance lock for
  // each container rather than for the run (so the delete queue and re-wraps interleave), up to
  // `max_containers`, until done or cancelled (CompactOptions). InvalidArgument for a threshold
  // outside [0, 1]. An error stops the run; what was compacted before it stays compacted.
  absl::StatusOr<CompactionReport> Compact(const CompactOptions& options = {});
  // Starts a new active KEK in the group; no segment is touched. Returns its id.
  absl::StatusOr<uint32_t> RotateKek(std::string_view key_group);
  // Re-wraps every live DEK of the group under its active KEK, resumably (a crash or a KMS
  // failure part-way: run it again), then drops the older KEKs. With `drop_keks` it first waits
  // (PoolOptions::rewrap_writer_wait) for records running writers sealed before it started, and
  // fails (Unavailable) if some are left; it fails (FailedPrecondition, nothing dropped) if an
  // older KEK still wraps a DEK. With `drop_keks` false the old KEKs are kept. This is not a
  // purge (no rotation, no root key touched): see Purge.
  absl::StatusOr<RewrapReport> RewrapDeks(std::string_view key_group, bool drop_keks = true);
  // Purges the key group (storage/pool/purge.h): every step, or the rest of an interrupted
  // purge. NotFound for an unknown group; FailedPrecondition when another pool shares the
  // group's root keys (naming it) or the key store still waits for its passphrase change;
  // otherwise the failing step's status, annotated with the step. Run it again to resume.
  absl::StatusOr<PurgeReport> Purge(std::string_view key_group, PurgeKeyService* key_service,
                                    const PurgeOptions& options = {});
  // Drops every unwrapped key of the group from memory (the next use unwraps again through the
  // key service, which refuses a key whose root key was compromised, terminated or destroyed).
  // NotFound for an unknown group.
  absl::Status ForgetUnwrappedKeys(std::string_view key_group);
  // Whether a purge of the group is unfinished (its record is in the catalog).
  absl::StatusOr<bool> PurgeUnfinished(std::string_view key_group) const;
  // After a root-key rotation in the KMS: re-wraps the group's KEKs and fingerprint key under
  // the active root key. Returns how many records were re-wrapped.
  absl::StatusOr<uint32_t> RewrapGroupKeys(std::string_view key_group);
  // Issue 17 (write-only ingest), for sealpoold's pin checks and GetMode: the group's KEK mode;
  // KeyDictionary::VerifyKekPair of one pair; whether the group's fingerprint key can be had
  // with no KMS (KeyDictionary::FingerprintKeyWithoutKms). NotFound for an unknown group.
  absl::StatusOr<KekMode> GroupKekMode(std::string_view key_group) const;
  absl::Status VerifyKekPair(std::string_view key_group, uint32_t kek_id);
  absl::StatusOr<bool> FingerprintKeyWithoutKms(std::string_view key_group) const;
  // Copies of the key material the key dictionary holds in memory for the group
  // (KeyDictionary::HeldKeyMaterial): what the raw-copy test of issue 17 tries on every batch.
  absl::StatusOr<std::vector<crypto::SecretBytes>> HeldKeyMaterial(std::string_view key_group) const;
  // Checksums every container (no key needed) and reports damaged records with the images
  // that reference them. `progress`, if set, is called on this thread after each container
  // file (no pool lock held).
  absl::StatusOr<ScrubReport> Scrub(const ScrubProgressFn& progress = {}) const;
  // Removes objects of container writes that never committed (S3 LSU, docs/s3.md "Orphans and
  // the sweep"): containers with no catalog record and no record on its way, older than
  // options.grace; never a referenced one. Takes the maintenance lock. Unimplemented for local
  // containers (Open removes those); FailedPrecondition "fenced: ..." after a takeover.
  absl::StatusOr<OrphanSweepReport> SweepOrphans(const OrphanSweepOptions& options = {});
  // Rebuilds the fingerprint index from the containers (scanning every record) and the
  // segment records.
  absl::StatusOr<RebuildReport> RebuildFingerprintIndex();
  // A consistent backup of the catalog while the pool runs (RocksDB BackupEngine, incremental).
  // With `keep` > 0, only the newest `keep` backups stay in `backup_dir` afterwards.
  absl::StatusOr<uint32_t> BackupCatalog(const std::string& backup_dir, uint32_t keep = 0);
  // Restores the newest catalog backup of `backup_dir` into the (closed) pool in `pool_dir`.
  static absl::Status RestoreCatalog(const std::string& backup_dir, const std::string& pool_dir);

  // ---- S3 LSU: the catalog in the bucket (docs/s3.md "Disaster recovery") ----
  // Uploads a consistent copy of the catalog to the bucket as the backup of the commit
  // sequence it holds (returned), then keeps the newest two backups and deletes the commit
  // records the older of them covers. FailedPrecondition for a pool whose store keeps no
  // catalog log (local containers: use BackupCatalog).
  absl::StatusOr<uint64_t> BackupCatalogToBucket();
  // Disaster recovery: rebuilds the catalog of pool `pool_id` in `dir` (absent or empty) from
  // the bucket alone, through options.container_store: the newest catalog backup (an older one
  // if it is damaged), then every commit record after it, in order. Then Pool::Open(dir)
  // opens the pool. Nothing is left in `dir` on failure. DataLoss naming the object for a
  // missing (a gap: "commit record N is missing"), damaged or truncated commit record, never
  // skipping one; NotFound when the bucket holds no usable backup of the pool; InvalidArgument
  // without a container_store or for one that keeps no catalog log; AlreadyExists if `dir`
  // holds anything. Needs no key: the KMS is first asked at the first read.
  static absl::StatusOr<BucketRecoveryReport> RecoverFromBucket(const std::string& dir,
                                                               const Id128& pool_id,
                                                               const PoolOptions& options);

  // The pool's figures from maintained counters and an in-memory summary of the containers:
  // a handful of catalog reads whatever the pool's size (sealpoold polls it). Exact when
  // nothing runs; while writers, deletes or compaction run it may lag them by a batch.
  absl::StatusOr<PoolStats> Stats() const;
  // The same figures counted the slow way (lists every container file and reads its counters,
  // scans the delete queue): for checks and tests. Equals Stats() when nothing runs (and no
  // container write failed since the pool was opened).
  absl::StatusOr<PoolStats> RecountStats() const;
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
