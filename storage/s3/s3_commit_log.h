// The S3 store's catalog log (storage/store/catalog_log.h): commit records and catalog backups
// as objects beside the pool's containers (docs/s3.md "Disaster recovery"; byte layouts in
// docs/format.md "S3 commit records and catalog backups (issue 16)").
//
//   <prefix>sealpool-<pool id, 32 hex>/commits/<seq, 16 hex>.spk          one per catalog batch
//   <prefix>sealpool-<pool id, 32 hex>/catalog-backups/<seq, 16 hex>.spb  a whole catalog
//
// Both start with a header naming format version, pool id and sequence number, and end with
// an XXH3-64 checksum of everything before it; a reader checks all of it against the object's
// name (DataLoss naming the object otherwise). Written once by one PUT (multipart above the
// client's threshold): an object is in the bucket whole or not at all.
//
// Fencing: with a lease (set_lease, by S3ContainerStore::Open), every write (a commit record, a
// backup, a delete) checks it first (one LIST of lease/), as container uploads do: a fenced
// process writes no commit record (FailedPrecondition "fenced: ..."). Reads are not checked.
//
// Thread safety: thread-safe (the client is); set_lease before the log is used.
#ifndef SEALPOOL_STORAGE_S3_S3_COMMIT_LOG_H_
#define SEALPOOL_STORAGE_S3_S3_COMMIT_LOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/s3/s3_client.h"
#include "storage/s3/s3_lease.h"
#include "storage/store/catalog_log.h"
#include "storage/store/container_format.h"

namespace sealpool::storage::s3 {

inline constexpr uint16_t kCommitRecordVersion = 1;
inline constexpr uint16_t kCatalogBackupVersion = 1;
inline constexpr size_t kCommitRecordHeaderSize = 44;
inline constexpr size_t kCatalogBackupHeaderSize = 44;
// Reading bounds: a record or backup object larger than these is refused (Unavailable from the
// client), never read into memory.
inline constexpr uint64_t kMaxCommitRecordBytes = 1ull << 30;
inline constexpr uint64_t kMaxCatalogBackupBytes = 16ull << 30;

// "<prefix>sealpool-<hex>/commits/" and ".../catalog-backups/".
std::string CommitRecordPrefix(std::string_view prefix, const Id128& pool_id);
std::string CommitRecordKey(std::string_view prefix, const Id128& pool_id, uint64_t seq);
std::string CatalogBackupPrefix(std::string_view prefix, const Id128& pool_id);
std::string CatalogBackupKey(std::string_view prefix, const Id128& pool_id, uint64_t seq);

// The object's bytes, and back (checked against pool id and sequence number: DataLoss, or
// FailedPrecondition for a newer format version).
std::string EncodeCommitRecord(const Id128& pool_id, uint64_t seq, std::string_view batch);
absl::StatusOr<std::string> DecodeCommitRecord(std::string_view object, const Id128& pool_id,
                                               uint64_t seq);
// A catalog backup: (file name, bytes) pairs; names are 1..255 of [A-Za-z0-9._-].
using BackupFiles = std::vector<std::pair<std::string, std::string>>;
absl::StatusOr<std::string> EncodeCatalogBackup(const Id128& pool_id, uint64_t seq,
                                                const BackupFiles& files);
absl::StatusOr<BackupFiles> DecodeCatalogBackup(std::string_view object, const Id128& pool_id,
                                                uint64_t seq);

class S3CatalogLog final : public CatalogLog {
 public:
  // `client` must outlive the log; `prefix` is "" or ends with '/'.
  S3CatalogLog(S3Client* client, std::string prefix, Id128 pool_id)
      : client_(client), prefix_(std::move(prefix)), pool_id_(pool_id) {}

  // The folder's lease, checked before every write (nullptr: no fencing). Before first use.
  void set_lease(std::shared_ptr<S3Lease> lease) { lease_ = std::move(lease); }

  [[nodiscard]] absl::Status PutCommitRecord(uint64_t seq, std::string_view batch) override;
  [[nodiscard]] absl::StatusOr<std::vector<uint64_t>> ListCommitRecords() override;
  [[nodiscard]] absl::StatusOr<std::string> GetCommitRecord(uint64_t seq) override;
  [[nodiscard]] absl::Status DeleteCommitRecord(uint64_t seq) override;
  [[nodiscard]] absl::Status PutCatalogBackup(uint64_t seq,
                                              const std::string& checkpoint_dir) override;
  [[nodiscard]] absl::StatusOr<std::vector<uint64_t>> ListCatalogBackups() override;
  [[nodiscard]] absl::Status RestoreCatalogBackup(uint64_t seq, const std::string& dir) override;
  [[nodiscard]] absl::Status DeleteCatalogBackup(uint64_t seq) override;

 private:
  absl::StatusOr<std::vector<uint64_t>> ListNumbers(const std::string& folder,
                                                    std::string_view extension);
  absl::Status CheckLease() { return lease_ == nullptr ? absl::OkStatus() : lease_->Check(); }

  S3Client* const client_;
  const std::string prefix_;
  const Id128 pool_id_;
  std::shared_ptr<S3Lease> lease_;
};

}  // namespace sealpool::storage::s3

#endif  // SEALPOOL_STORAGE_S3_S3_COMMIT_LOG_H_
