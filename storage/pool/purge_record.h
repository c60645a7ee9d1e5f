// The purge record: how far a purge of one key group got, so that a crash or a failed step is
// resumed (storage/pool/purge.h). Catalog family `default` (Cf::kMeta), key "purge/" + the
// group number (u32 big-endian); present only while a purge of that group is unfinished.
// Prose and rationale: docs/format.md "Purge record".
//
//   +---------+------+-------------+-------------+----------------+
//   | version | next | new_kek_id  | started     | deks_rewrapped |
//   | u8 = 1  | u8   | u32 LE      | u64 LE (us) | u64 LE         |
//   +---------+------+-------------+-------------+----------------+
//   then three strings, each u16 LE length + bytes: old_root_key_id, new_root_key_id,
//   store_key_id; then u16 LE count + that many u32 LE dropped KEK ids; then u16 LE count +
//   that many strings (destroyed root key ids). Nothing may follow.
#ifndef SEALPOOL_STORAGE_POOL_PURGE_RECORD_H_
#define SEALPOOL_STORAGE_POOL_PURGE_RECORD_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "storage/pool/purge.h"

namespace sealpool::storage {

inline constexpr uint8_t kPurgeRecordVersion = 1;

struct PurgeRecord {
  PurgeStep next = PurgeStep::kDrainDeleteQueue;  // the step to run (or resume) next
  uint32_t new_kek_id = 0;                        // set by rotate-kek
  uint64_t started_unix_micros = 0;
  uint64_t deks_rewrapped = 0;
  std::string old_root_key_id;  // the active root key new-root-key replaces (set before the call)
  std::string new_root_key_id;
  std::string store_key_id;  // the store's key id after destroy-root-keys (empty: no such store)
  std::vector<uint32_t> keks_dropped;
  std::vector<std::string> root_keys_destroyed;
  friend bool operator==(const PurgeRecord&, const PurgeRecord&) = default;
};

std::string PurgeRecordKey(uint32_t group_no);
// InvalidArgument if a string is longer than 65535 bytes or a list longer than 65535 items.
absl::StatusOr<std::string> EncodePurgeRecord(const PurgeRecord& record);
// DataLoss for a truncated or trailing record or an unknown step; FailedPrecondition for
// another version (a record written by another release: finish or abandon it with that one).
absl::StatusOr<PurgeRecord> DecodePurgeRecord(std::string_view value);

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_POOL_PURGE_RECORD_H_
