// Ownership of a pool's folder in a bucket (docs/s3.md "Fencing"). S3 has no locks, and
// conditional creation is not offered by every S3 service for every request, so ownership is a
// sequence of generation objects, each written once by one process:
//
//   <prefix>sealpool-<pool>/lease/<generation as 20 digits>-<nonce as 16 hex>
//
// holding a small text record (LeaseRecord: pool id, generation, host, machine id, boot id,
// pid, process start time, time, takeover flag). The highest generation listed is the owner.
// A clean close adds "<claim key>.released" beside it.
//
//   SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<S3Lease> lease,
//                             S3Lease::Acquire(client, "backups/", pool_id, {}));
//   SEALPOOL_RETURN_IF_ERROR(lease->Check());  // before every upload, delete and sweep
//
// Acquire: lists lease/; if the highest generation h is held (not released, and its holder is
// not a dead process of this machine: same machine id and boot id, pid gone or started at
// another time), it refuses (FailedPrecondition naming host, pid, generation and time) unless
// options.takeover. Then it writes its claim at h+1 and lists again: any other claim at h+1 or
// above means a concurrent opener, and it withdraws (deletes its claim) and refuses. With
// read-after-write consistent PUT and LIST (radosgw, S3 since 2020) two openers cannot both
// see only their own claim (the later LIST of the two sees both), so at most one wins.
//
// Check: one LIST of lease/; fenced (FailedPrecondition "fenced: generation N taken over by
// ...", sticky) if a claim above ours exists or ours is gone. The store calls it before each
// container upload, each Remove and each sweep.
//
// One process holds one lease per (endpoint, bucket, folder): a second Acquire in the same
// process returns the same lease (stores of several key groups may share a folder). The lease
// keeps the client of the first Acquire: that client must outlive every holder of the lease.
//
// Thread safety: thread-safe.
#ifndef SEALPOOL_STORAGE_S3_S3_LEASE_H_
#define SEALPOOL_STORAGE_S3_S3_LEASE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/s3/s3_client.h"
#include "storage/store/container_format.h"

namespace sealpool::storage::s3 {

// A generation object's body (text, at most kMaxLeaseRecordBytes).
struct LeaseRecord {
  Id128 pool_id{};
  uint64_t generation = 0;
  std::string host;        // hostname, 1..253 of [A-Za-z0-9._-]
  std::string machine_id;  // /etc/machine-id (0..64 hex), empty if unknown
  std::string boot_id;     // /proc/sys/kernel/random/boot_id (0..64 of [0-9a-f-])
  uint64_t pid = 0;
  uint64_t start_ticks = 0;  // the process's start time (/proc/<pid>/stat field 22)
  uint64_t unix_micros = 0;  // when the claim was written (the writer's clock)
  bool takeover = false;

  friend bool operator==(const LeaseRecord&, const LeaseRecord&) = default;
};

inline constexpr size_t kMaxLeaseRecordBytes = 1024;

std::string EncodeLeaseRecord(const LeaseRecord& record);
// InvalidArgument naming the first problem: empty, over kMaxLeaseRecordBytes, a missing,
// repeated, unknown or out-of-order field, a value out of range or with characters outside its
// set, a missing final newline.
[[nodiscard]] absl::StatusOr<LeaseRecord> DecodeLeaseRecord(std::string_view text);

// "<prefix>sealpool-<pool as 32 hex>/": the pool's folder in the bucket.
std::string PoolFolder(std::string_view prefix, const Id128& pool_id);
// "host H pid P (generation G, since T[, by takeover])" for messages.
std::string DescribeHolder(const LeaseRecord& record);

struct S3LeaseOptions {
  // Take over a folder held by another live process or host (disaster recovery only: the old
  // holder is fenced from its next upload, delete or sweep).
  bool takeover = false;
  // After a takeover, wait this long before Acquire returns, so that a request the old holder
  // began before it was fenced has ended (its client's deadline) before the new holder writes.
  absl::Duration takeover_quiet = absl::Seconds(60);
  // This process as the record describes it; unset: read from the system. Tests set it to
  // play another host.
  std::optional<LeaseRecord> self;
};

class S3Lease {
 public:
  [[nodiscard]] static absl::StatusOr<std::shared_ptr<S3Lease>> Acquire(S3Client* client,
                                                                        std::string_view prefix,
                                                                        const Id128& pool_id,
                                                                        S3LeaseOptions options);
  // Writes the ".released" marker unless fenced (best effort).
  ~S3Lease();
  S3Lease(const S3Lease&) = delete;
  S3Lease& operator=(const S3Lease&) = delete;

  // OK while no newer claim exists (one LIST); FailedPrecondition "fenced: ..." from the first
  // time one is seen (sticky); the client's error if the LIST fails.
  [[nodiscard]] absl::Status Check();
  // The last Check's fencing, without a request.
  bool fenced() const;
  const LeaseRecord& record() const { return record_; }
  const std::string& claim_key() const { return claim_key_; }
  const std::string& folder() const { return folder_; }

  // This process as a LeaseRecord (host, machine and boot id, pid, start time).
  static LeaseRecord Self();

 private:
  S3Lease(S3Client* client, std::string folder, LeaseRecord record, std::string claim_key);

  S3Client* const client_;
  const std::string folder_;
  const LeaseRecord record_;
  const std::string claim_key_;
  mutable absl::Mutex mu_;
  absl::Status fenced_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sealpool::storage::s3

#endif  // SEALPOOL_STORAGE_S3_S3_LEASE_H_
