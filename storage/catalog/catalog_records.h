// Keys and values of the pool catalog (storage/catalog/catalog.h), catalog format 4. Byte
// layouts, reasons and the upgrade rule: docs/format.md "Catalog (version 3)" and "Catalog
// format 4: DEK batches (issue 17)". The `keys` family (key dictionary) is
// storage/keydict/key_dictionary_format.h.
//
// Conventions: integers in keys are big-endian (so RocksDB's byte order is numeric order);
// integers in values are little-endian. Every value starts with a u8 record version. Decoders
// are strict: a short or overlong value, a bad enum, a length past its bound or a string with a
// NUL where none may be is DataLoss naming the record kind; a version newer than this binary
// reads is FailedPrecondition ("written by a newer sealpool"). On error the output is unchanged.
//
// Thread safety: plain values and pure functions.
#ifndef SEALPOOL_STORAGE_CATALOG_CATALOG_RECORDS_H_
#define SEALPOOL_STORAGE_CATALOG_CATALOG_RECORDS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/key_wrap.h"
#include "crypto/types.h"
#include "storage/store/container_format.h"

namespace sealpool::storage {

inline constexpr uint8_t kCatalogRecordVersion = 1;
// The catalog format as a whole (PoolMeta::catalog_format_version).
// Version 2: image names are per (LSU, owner); LSU records carry the longest retention;
// per-owner and delete-queue counters. No pool of version 1 was deployed: a binary of version 2
// refuses one (Pool::Open, FailedPrecondition) instead of migrating it.
inline constexpr uint16_t kCatalogFormatV1 = 1;
inline constexpr uint16_t kCatalogFormatV2 = 2;
// Version 3: image records end with an identity digest (docs/format.md "Image digests
// (version 2)"), which binds the image's LSU, name, owner, retention and labels to its recipe;
// and the "client_digests" family (client-side dedup: the owner's client digest of each recipe
// extent of an image written client-side). A version-2 pool has neither and is refused like a
// version-1 pool (nothing was deployed).
inline constexpr uint16_t kCatalogFormatV3 = 3;
// Version 4: DEK batches (issue 17, docs/format.md "Catalog format 4: DEK batches (issue 17)"):
// segment records of key groups with kek_mode "public" name the DEK batch whose batch key
// wraps their DEK (segment record version 2); the `keys` family holds batch records and a
// batch id allocator per such group (key dictionary record format 3). A version-3 pool is
// refused like the older ones (nothing was deployed).
inline constexpr uint16_t kCatalogFormatV4 = 4;
inline constexpr uint16_t kCatalogFormatNewest = kCatalogFormatV4;
// The version of the image digests (recipe, content, identity); the first field of the
// identity digest's input.
inline constexpr uint64_t kImageDigestVersion = 2;

// Bounds every decoder and every public API enforces.
inline constexpr size_t kMaxNameLength = 255;        // LSU, key group and image names
inline constexpr size_t kMaxLabels = 64;
inline constexpr size_t kMaxLabelLength = 1024;      // label key or value
inline constexpr size_t kDigestSize = 32;
using Digest = std::array<uint8_t, kDigestSize>;

// ---- Cf::kMeta ------------------------------------------------------------------------------

// Key "pool".
struct PoolMeta {
  uint16_t catalog_format_version = kCatalogFormatNewest;
  Id128 pool_id{};
  uint64_t created_unix_micros = 0;
  friend bool operator==(const PoolMeta&, const PoolMeta&) = default;
};
std::string PoolMetaKey();
std::string EncodePoolMeta(const PoolMeta& meta);
absl::StatusOr<PoolMeta> DecodePoolMeta(std::string_view value);

// Key "kg/" + u32 BE group number.
struct KeyGroupRecord {
  uint32_t group_no = 0;
  std::string name;                 // what the KMS calls the group
  Id128 group_id{};                 // random; in every container header of the group
  std::string chunker_params;       // ChunkerParams' 24-byte record (storage/chunking/chunker_format.h)
  std::string kms_backend;          // "builtin" or a KMIP server name from the config
  uint64_t created_unix_micros = 0;
  friend bool operator==(const KeyGroupRecord&, const KeyGroupRecord&) = default;
};
std::string KeyGroupKey(uint32_t group_no);
std::string KeyGroupPrefix();  // "kg/"
std::string EncodeKeyGroup(const KeyGroupRecord& record);
absl::StatusOr<KeyGroupRecord> DecodeKeyGroup(std::string_view value);

// Key "lsu/" + name.
struct LsuRecord {
  std::string name;
  uint32_t group_no = 0;
  bool allow_client_delete = true;  // false: only admins delete (a stolen client cert can't)
  uint64_t created_unix_micros = 0;
  // The longest retention an image of the LSU may ask for (BeginImage, ExtendRetention);
  // >= 1. Catalog format 2.
  uint64_t max_retention_micros = 0;
  friend bool operator==(const LsuRecord&, const LsuRecord&) = default;
};
std::string LsuKey(std::string_view name);
std::string LsuPrefix();  // "lsu/"
std::string EncodeLsu(const LsuRecord& record);
absl::StatusOr<LsuRecord> DecodeLsu(std::string_view value);

// Id allocators: key "alloc/" + what ("segment", "container", "image", "delete", "group");
// value u64 LE: a high-water mark. The pool's IdAllocator reserves ids in blocks (4096 segment,
// 16 container, 256 image, 1024 delete ids) and persists the end of each block before handing
// out its first id, so ids jump after a reopen and a crash skips ids but never reuses one;
// "group" has no block (the next group number). docs/format.md "Id allocators".
std::string AllocatorKey(std::string_view what);
std::string EncodeU64(uint64_t value);
absl::StatusOr<uint64_t> DecodeU64(std::string_view value, std::string_view what);

// ---- Cf::kFingerprints: key = u32 BE group + 32-byte fingerprint; value = u64 LE segment id --
std::string FingerprintIndexKey(uint32_t group_no, const crypto::Fingerprint& fingerprint);
std::string FingerprintIndexPrefix(uint32_t group_no);
absl::StatusOr<crypto::Fingerprint> DecodeFingerprintIndexKey(std::string_view key,
                                                             uint32_t* group_no);

// ---- Cf::kSegments: key = u32 BE group + u64 BE segment id --------------------------------
// Value version 1 (batch_id 0: the DEK is wrapped by KEK kek_id itself, symmetric groups) or
// version 2 (catalog format 4): the version-1 fields, then u64 LE batch_id >= 1 (kek_mode
// "public": the DEK is wrapped by the batch key of DEK batch batch_id, sealed to KEK pair
// kek_id). EncodeSegmentRecord writes version 2 exactly when batch_id != 0.
inline constexpr uint8_t kSegmentRecordVersionBatched = 2;
struct SegmentRecord {
  uint64_t container_id = 0;
  uint64_t offset = 0;             // of the record header in the container
  uint32_t record_length = 0;      // header + stored bytes
  uint32_t plaintext_length = 0;
  uint32_t stored_length = 0;
  Compression compression = Compression::kRaw;
  uint32_t kek_id = 0;
  crypto::WrappedDek wrapped_dek{};
  crypto::Fingerprint fingerprint;
  uint64_t batch_id = 0;           // 0: no batch (symmetric KEK); else the DEK batch
  friend bool operator==(const SegmentRecord&, const SegmentRecord&) = default;
};
std::string SegmentKey(uint32_t group_no, crypto::SegmentId id);
std::string SegmentPrefix(uint32_t group_no);
absl::StatusOr<crypto::SegmentId> DecodeSegmentKey(std::string_view key, uint32_t* group_no);
std::string EncodeSegmentRecord(const SegmentRecord& record);
absl::StatusOr<SegmentRecord> DecodeSegmentRecord(std::string_view value);

// ---- Cf::kImages ---------------------------------------------------------------------------
// Key 'I' + u64 BE image id -> ImageRecord.
// Key 'N' + LSU name + '\0' + owner + '\0' + image name -> u64 LE id (catalog format 2): names
// are unique per (LSU, owner). Neither the LSU name, the owner nor the image name holds a NUL,
// so the key is unambiguous, and one LSU's (or one owner's) names form one key range.
// An image record exists only for a committed image (whole recipe durable).
struct ImageRecord {
  uint64_t image_id = 0;
  std::string lsu;
  std::string name;
  uint32_t group_no = 0;
  uint64_t size = 0;               // logical bytes
  uint64_t extent_count = 0;       // recipe entries
  uint64_t created_unix_micros = 0;
  uint64_t retain_until_unix_micros = 0;  // 0: no retention
  std::string owner;               // the client identity that wrote it ("" for admins/tests)
  std::map<std::string, std::string> labels;
  Digest recipe_digest{};          // keyed digest of the recipe (docs/format.md "Digests")
  Digest content_digest{};         // keyed digest of the whole content
  // Keyed digest of every field above (EncodeImageIdentity), catalog format 3: a changed
  // LSU, name, owner, retention or label no longer checks. Recomputed by the operations that
  // change the identity legitimately (ExtendRetention, ReassignOwner) after checking it.
  Digest identity_digest{};
  friend bool operator==(const ImageRecord&, const ImageRecord&) = default;
};
std::string ImageRecordKey(uint64_t image_id);
std::string ImagePrefix();  // "I"
std::string ImageNameKey(std::string_view lsu, std::string_view owner, std::string_view name);
std::string ImageNamePrefix(std::string_view lsu);  // 'N' + lsu + '\0'
// 'N' + lsu + '\0' + owner + '\0': the names of one owner in one LSU.
std::string ImageOwnerPrefix(std::string_view lsu, std::string_view owner);
std::string EncodeImage(const ImageRecord& record);
absl::StatusOr<ImageRecord> DecodeImage(std::string_view value);
// The bytes the identity digest is computed over (docs/format.md "Image digests (version 2)"):
// u64 kImageDigestVersion, image id, then str LSU, str name, str owner, u64 group, size,
// extent count, created, retain until, label count, per label str key and str value (key
// order), then the recipe and the content digest (32 B each); u64 = 8 bytes little-endian,
// str = u64 length then the bytes. Every field is fixed-width or length-prefixed, so two
// different records never give the same bytes. identity_digest itself is not covered.
std::string EncodeImageIdentity(const ImageRecord& record);

// ---- Cf::kRecipes: key = u64 BE image id + u64 BE logical offset; value = extent ------------
struct RecipeExtent {
  crypto::SegmentId segment_id;
  uint32_t length = 0;  // plaintext bytes of the segment
  friend bool operator==(const RecipeExtent&, const RecipeExtent&) = default;
};
std::string RecipeKey(uint64_t image_id, uint64_t offset);
std::string RecipePrefix(uint64_t image_id);
absl::StatusOr<uint64_t> DecodeRecipeKeyOffset(std::string_view key, uint64_t image_id);
std::string EncodeRecipeExtent(const RecipeExtent& extent);
absl::StatusOr<RecipeExtent> DecodeRecipeExtent(std::string_view value);

// ---- Cf::kClientDigests (catalog format 3) -----------------------------------------------------
// Key = u64 BE image id + the 32-byte client digest (HMAC-SHA-256 under the image owner's
// client digest key, crypto/client_digest_key.h) of one of its recipe extents; value = u8
// version + u64 LE segment id + u32 LE length (13 bytes). Written only for images backed up
// client-side, in the same batches as their recipe extents; deleted with them by the delete
// queue. A digest that occurs at several offsets of an image has one entry.
struct ClientDigestEntry {
  crypto::SegmentId segment_id;
  uint32_t length = 0;  // plaintext bytes of the segment
  friend bool operator==(const ClientDigestEntry&, const ClientDigestEntry&) = default;
};
inline constexpr size_t kClientDigestSize = 32;
std::string ClientDigestIndexKey(uint64_t image_id, std::span<const uint8_t, kClientDigestSize> digest);
std::string ClientDigestPrefix(uint64_t image_id);
std::string EncodeClientDigestEntry(const ClientDigestEntry& entry);
absl::StatusOr<ClientDigestEntry> DecodeClientDigestEntry(std::string_view value);

// ---- Cf::kDeleteQueue: key = u64 BE sequence -------------------------------------------------
struct DeleteJob {
  enum class Kind : uint8_t {
    kImageReferences = 1,  // drop one reference per recipe extent of a deleted image
    kReclaimSegment = 2,   // erase a segment if it has no reference (and nobody pins it)
  };
  Kind kind = Kind::kImageReferences;
  uint32_t group_no = 0;
  uint64_t image_id = 0;     // kImageReferences
  uint64_t next_offset = 0;  // kImageReferences: recipe entries below it are done
  crypto::SegmentId segment_id;  // kReclaimSegment
  friend bool operator==(const DeleteJob&, const DeleteJob&) = default;
};
std::string DeleteQueueKey(uint64_t sequence);
absl::StatusOr<uint64_t> DecodeDeleteQueueKey(std::string_view key);
std::string EncodeDeleteJob(const DeleteJob& job);
absl::StatusOr<DeleteJob> DecodeDeleteJob(std::string_view value);

// ---- Cf::kSessions: key = u64 BE session + u32 BE group + u64 BE segment id; value empty ------
// Reserved: version 1 creates the family and never writes it (unfinished writes are held delete
// jobs instead, docs/format.md). The layout is kept for a later version.
std::string SessionSegmentKey(uint64_t session_id, uint32_t group_no, crypto::SegmentId id);
std::string SessionPrefix(uint64_t session_id);
absl::Status DecodeSessionSegmentKey(std::string_view key, uint64_t* session_id,
                                     uint32_t* group_no, crypto::SegmentId* id);

// ---- Cf::kContainers: key = u64 BE container id ----------------------------------------------
struct ContainerRecord {
  enum class State : uint8_t {
    kActive = 1,   // may be appended to / holds live records
    kRetired = 2,  // compacted: every live record copied out; the file may be deleted
  };
  uint32_t group_no = 0;
  State state = State::kActive;
  uint64_t created_unix_micros = 0;
  friend bool operator==(const ContainerRecord&, const ContainerRecord&) = default;
};
std::string ContainerKey(uint64_t container_id);
absl::StatusOr<uint64_t> DecodeContainerKey(std::string_view key);
std::string EncodeContainer(const ContainerRecord& record);
absl::StatusOr<ContainerRecord> DecodeContainer(std::string_view value);

// ---- Cf::kCounters (int64, merge-added) -------------------------------------------------------
// 'R' + u32 BE group + u64 BE segment id: references from committed recipes.
std::string RefcountKey(uint32_t group_no, crypto::SegmentId id);
// 'C' + u64 BE container id + field: container usage.
enum class ContainerField : uint8_t {
  kWrittenBytes = 'W',  // bytes of records committed into it (live or dead)
  kLiveBytes = 'L',     // bytes of records still referenced by a segment record
  kLiveRecords = 'N',
};
std::string ContainerCounterKey(uint64_t container_id, ContainerField field);
std::string ContainerCounterPrefix(uint64_t container_id);
// 'P' + name: pool totals ("logical_bytes", "images", "segments", "stored_bytes",
// "delete_jobs": jobs in the delete queue, held ones included).
std::string PoolCounterKey(std::string_view name);
// 'K' + u32 BE group + u32 BE KEK id: DEKs currently wrapped under that KEK.
std::string KekDekCountKey(uint32_t group_no, uint32_t kek_id);
// 'O' + LSU name + '\0' + owner: logical bytes of the owner's committed images in the LSU
// (catalog format 2).
std::string OwnerBytesKey(std::string_view lsu, std::string_view owner);

// Names (LSU, key group, image): 1..kMaxNameLength bytes of valid UTF-8 with no control
// character (< 0x20, 0x7f), no '/' leading, no NUL. InvalidArgument saying what is wrong.
absl::Status ValidateName(std::string_view what, std::string_view name);
// Owner identities: 0..kMaxNameLength bytes ("" is the admins' and tests' owner), no NUL (the
// name index key separates fields with NUL). InvalidArgument saying what is wrong.
absl::Status ValidateOwner(std::string_view owner);

// Big-endian helpers shared with the key dictionary.
void AppendU32BE(std::string* dst, uint32_t value);
void AppendU64BE(std::string* dst, uint64_t value);
uint32_t LoadU32BE(const char* p);
uint64_t LoadU64BE(const char* p);

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_CATALOG_CATALOG_RECORDS_H_
