// Records of the key dictionary, versions 1 to 3: what KeyDictionary (storage/keydict/key_dictionary.h)
// persists in the pool catalog's `keys` column family. Prose and reasons: docs/format.md "Key
// dictionary records (versions 1 and 2)" and "Catalog format 4: DEK batches (issue 17)".
//
// Keys (big-endian, so RocksDB's order is numeric: a group's records are one contiguous range
// starting with its 4-byte prefix, its KEKs in id order):
//
//   KEK record              u32 key group number ‖ 'K' ‖ u32 KEK id      (9 bytes)
//   fingerprint key record  u32 key group number ‖ 'F'                   (5 bytes)
//
// Values (integers little-endian; str16 = u16 length ‖ bytes):
//
//   KEK record              u8 version = 1 ‖ u8 kind = 1 ‖ u32 KEK id ‖ u8 state ‖
//                           i64 created_unix_micros ‖ u64 dek_count ‖
//                           str16 root key id ‖ str16 wrapped blob
//   fingerprint key record  u8 version = 1 ‖ u8 kind = 2 ‖ i64 created_unix_micros ‖
//                           str16 root key id ‖ str16 wrapped blob
//   batch record            u8 version = 3 ‖ u8 kind = 4 ‖ u64 batch id ‖ u32 KEK id ‖
//   (key u32 group ‖ 'B' ‖   i64 created_unix_micros ‖ 73-byte sealed batch key
//    u64 BE batch id)
//   batch id allocator      u8 version = 3 ‖ u8 kind = 5 ‖ u64 reserved_end
//   (key u32 group ‖ 'A')
//   KEK pair record         u8 version = 2 ‖ u8 kind = 3 ‖ u32 KEK id ‖ u8 state ‖
//   (kek_mode "public",     i64 created_unix_micros ‖ u64 dek_count ‖
//    same key as a KEK)     32-byte X25519 public key ‖ str16 root key id ‖
//                           str16 wrapped blob (of the 32-byte private half)
//
// Every record is written with the lowest version that has its kind: kinds 1 and 2 as version
// 1 (unchanged), kind 3 (new in version 2) as version 2. A reader takes versions up to
// kKeyRecordVersionNewest; kind 3 under version 1 is DataLoss. A group's KEK records are all of
// kind 1 (kek_mode "symmetric") or all of kind 3 (kek_mode "public"); a mix is DataLoss.
//
// States: 1 active, 2 inactive. Bounds: root key id 1..kMaxRootKeyIdLength bytes without NUL,
// blob 1..kMaxWrappedBlobLength bytes, created ≥ 0. No key material is in a record: the blob is
// the key service's authenticated wrapping, bound to (pool, group, key id).
//
// dek_count is a reservation, not an exact count: KeyDictionary persists an upper bound of the
// DEKs it will wrap under the KEK before it wraps them (every dek_count_checkpoint wraps), so a
// crash can only over-count and the rotation limit holds across restarts.
//
// Decoding is strict: a short or overlong value, a bad kind or state, a length past its bound
// or a field that contradicts the key is DataLoss naming the record kind; a version newer than
// this binary reads is FailedPrecondition ("written by a newer sealpool"). Encoding refuses
// out-of-bounds fields with InvalidArgument, so nothing undecodable is ever written.
//
// Thread safety: plain values and pure functions.
#ifndef SEALPOOL_STORAGE_KEYDICT_KEY_DICTIONARY_FORMAT_H_
#define SEALPOOL_STORAGE_KEYDICT_KEY_DICTIONARY_FORMAT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/keydict/root_key_provider.h"

namespace sealpool::storage {

// Do not edit: part of the format.
inline constexpr uint8_t kKeyRecordVersion1 = 1;
inline constexpr uint8_t kKeyRecordVersion2 = 2;  // adds the KEK pair record (kind 3)
inline constexpr uint8_t kKeyRecordVersion3 = 3;  // adds batch records (4), batch id allocator (5)
inline constexpr uint8_t kKeyRecordVersionNewest = kKeyRecordVersion3;
inline constexpr uint8_t kKeyRecordKindKek = 1;
inline constexpr uint8_t kKeyRecordKindFingerprintKey = 2;
inline constexpr uint8_t kKeyRecordKindKekPair = 3;
inline constexpr uint8_t kKeyRecordKindBatch = 4;
inline constexpr uint8_t kKeyRecordKindBatchAllocator = 5;
inline constexpr char kBatchRecordTag = 'B';
inline constexpr char kBatchAllocatorRecordTag = 'A';
inline constexpr size_t kBatchRecordKeySize = 13;
inline constexpr size_t kBatchAllocatorRecordKeySize = 5;
inline constexpr size_t kSealedBatchKeyRecordSize = 73;  // crypto::kSealedBatchKeySize
inline constexpr size_t kKekPublicKeySize = 32;
inline constexpr char kKekRecordTag = 'K';
inline constexpr char kFingerprintKeyRecordTag = 'F';
inline constexpr size_t kKeyGroupPrefixSize = 4;
inline constexpr size_t kKekRecordKeySize = 9;
inline constexpr size_t kFingerprintKeyRecordKeySize = 5;
inline constexpr size_t kMaxRootKeyIdLength = 128;
inline constexpr size_t kMaxWrappedBlobLength = 1024;

enum class KekState : uint8_t { kActive = 1, kInactive = 2 };
std::string_view KekStateName(KekState state);

enum class KeyRecordKind : uint8_t { kKek, kFingerprintKey, kBatch, kBatchAllocator };

// The 4-byte prefix of every record of `group_no`.
std::string KeyGroupRecordPrefix(uint32_t group_no);
std::string KekRecordKey(uint32_t group_no, uint32_t kek_id);
std::string FingerprintKeyRecordKey(uint32_t group_no);
// Batch records (key format 3): u32 group ‖ 'B' ‖ u64 batch id; the batch id allocator:
// u32 group ‖ 'A'. BatchRecordPrefix is u32 group ‖ 'B' (all batch records of a group).
std::string BatchRecordKey(uint32_t group_no, uint64_t batch_id);
std::string BatchRecordPrefix(uint32_t group_no);
std::string BatchAllocatorRecordKey(uint32_t group_no);

struct KeyRecordKey {
  uint32_t group_no = 0;
  KeyRecordKind kind = KeyRecordKind::kKek;
  uint32_t kek_id = 0;    // KEK records only
  uint64_t batch_id = 0;  // batch records only
};
// DataLoss for a key that is neither layout.
absl::StatusOr<KeyRecordKey> DecodeKeyRecordKey(std::string_view key);
// For messages: "KEK 7", "fingerprint key", or the key in hex when it does not decode.
std::string DescribeKeyRecordKey(std::string_view key);

struct KekRecord {
  uint32_t kek_id = 0;
  KekState state = KekState::kActive;
  int64_t created_unix_micros = 0;
  uint64_t dek_count = 0;  // reserved upper bound, see above
  WrappedKey wrapped;

  absl::StatusOr<std::string> Encode() const;
  static absl::StatusOr<KekRecord> Decode(std::string_view value);
  friend bool operator==(const KekRecord&, const KekRecord&) = default;
};

// A KEK pair (kek_mode "public"): the public half in the clear, the private half wrapped by
// the key service like a KEK (key id "kek-<n>").
struct KekPairRecord {
  uint32_t kek_id = 0;
  KekState state = KekState::kActive;
  int64_t created_unix_micros = 0;
  uint64_t dek_count = 0;  // reserved upper bound, as for a KEK
  std::array<uint8_t, kKekPublicKeySize> public_key{};
  WrappedKey wrapped;  // the private half

  absl::StatusOr<std::string> Encode() const;
  static absl::StatusOr<KekPairRecord> Decode(std::string_view value);
  friend bool operator==(const KekPairRecord&, const KekPairRecord&) = default;
};

// A DEK batch of a group with KEK pairs (kek_mode "public"): the batch key sealed to KEK pair
// `kek_id` for (pool, group, kek_id, batch_id) (crypto/batch_key_seal.h). Key format 3.
struct BatchRecord {
  uint64_t batch_id = 0;  // >= 1
  uint32_t kek_id = 0;    // >= 1
  int64_t created_unix_micros = 0;
  std::array<uint8_t, kSealedBatchKeyRecordSize> sealed{};

  absl::StatusOr<std::string> Encode() const;
  static absl::StatusOr<BatchRecord> Decode(std::string_view value);
  friend bool operator==(const BatchRecord&, const BatchRecord&) = default;
};

// The group's batch id allocator: every id below `reserved_end` may have been handed out; the
// next batch id after a restart is `reserved_end`. Key format 3.
struct BatchAllocatorRecord {
  uint64_t reserved_end = 1;  // >= 1

  absl::StatusOr<std::string> Encode() const;
  static absl::StatusOr<BatchAllocatorRecord> Decode(std::string_view value);
  friend bool operator==(const BatchAllocatorRecord&, const BatchAllocatorRecord&) = default;
};

// The kind byte of a record value (1 KEK, 2 fingerprint key, 3 KEK pair) without decoding it;
// DataLoss for a value shorter than two bytes. Decode still checks everything.
absl::StatusOr<uint8_t> PeekKeyRecordKind(std::string_view value);

struct FingerprintKeyRecord {
  int64_t created_unix_micros = 0;
  WrappedKey wrapped;

  absl::StatusOr<std::string> Encode() const;
  static absl::StatusOr<FingerprintKeyRecord> Decode(std::string_view value);
  friend bool operator==(const FingerprintKeyRecord&, const FingerprintKeyRecord&) = default;
};

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_KEYDICT_KEY_DICTIONARY_FORMAT_H_
