// Upload intents and the orphan sweep of the S3 container store (docs/s3.md "Orphans and the
// sweep").
//
// Before each container PUT the store writes an intent object
//
//   <prefix>sealpool-<pool>/intents/<container id as 16 hex>
//
// holding IntentRecord (pool id, container id, lease generation, time) as text. The intent is
// in the bucket, not in the local catalog: it survives a crash of the pool process and the
// loss of its disk, and it is written by the same client to the same store as the object it
// announces, so it is there before the object can be. A PUT the store accepts after the pool
// process died (the request was sent, the reply never read) leaves an object that the next
// Pool::Open did not list; its intent is how a sweep finds it, and an intent without an object
// is a write that never reached the store.
//
// S3ContainerStore::SweepOrphans (defined in s3_orphans.cc) lists intents/ and containers/;
// every container id found is
//   - open for append in this store, or `referenced` (the pool: a catalog container record, or
//     records of it on their way to the catalog): kept; its intent is removed (committed);
//   - otherwise an orphan: its age is the intent's time (or, without a readable intent, the
//     object header's creation time); younger than the grace period (or dated in the future):
//     kept; older: the lease is checked, the object deleted, then its intent.
// Malformed or foreign intents and objects whose header cannot be read are reported and left
// alone: the sweep deletes only what it can prove is this pool's and unreferenced.
#ifndef SEALPOOL_STORAGE_S3_S3_ORPHANS_H_
#define SEALPOOL_STORAGE_S3_S3_ORPHANS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "storage/store/container_format.h"

namespace sealpool::storage::s3 {

struct IntentRecord {
  Id128 pool_id{};
  uint64_t container_id = 0;
  uint64_t generation = 0;   // the writer's lease generation (0: no fencing)
  uint64_t unix_micros = 0;  // when the intent was written (the writer's clock)

  friend bool operator==(const IntentRecord&, const IntentRecord&) = default;
};

inline constexpr size_t kMaxIntentRecordBytes = 256;

std::string EncodeIntentRecord(const IntentRecord& record);
// InvalidArgument for anything but exactly what EncodeIntentRecord writes.
[[nodiscard]] absl::StatusOr<IntentRecord> DecodeIntentRecord(std::string_view text);

// "<prefix>sealpool-<pool>/intents/".
std::string IntentPrefix(std::string_view prefix, const Id128& pool_id);
std::string IntentKey(std::string_view prefix, const Id128& pool_id, uint64_t container_id);

}  // namespace sealpool::storage::s3

#endif  // SEALPOOL_STORAGE_S3_S3_ORPHANS_H_
