// Where a pool's catalog is made durable beside its containers: the commit records and catalog
// backups of the S3 LSU (docs/s3.md "Disaster recovery", docs/format.md "S3 commit records and
// catalog backups (issue 16)"). A ContainerStore that keeps one returns it from catalog_log();
// the local store keeps none (its catalog is on the same disk as its containers).
//
// The pool hands every catalog batch to PutCommitRecord before applying it (Catalog::
// SetCommitLog), so "acknowledged" means the store accepted the batch; it uploads catalog
// backups (PutCatalogBackup) and, after one is accepted, deletes what is older than its margin.
// Recovery (Pool::RecoverFromBucket) reads the newest backup and replays the records after it.
//
// Thread safety: implementations are thread-safe.
#ifndef SEALPOOL_STORAGE_STORE_CATALOG_LOG_H_
#define SEALPOOL_STORAGE_STORE_CATALOG_LOG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sealpool::storage {

class CatalogLog {
 public:
  virtual ~CatalogLog() = default;

  // Stores batch `seq` (Catalog::EncodeBatch's bytes); OK only once the store accepted it.
  // Replaces a record of the same number (one never applied: its write failed).
  [[nodiscard]] virtual absl::Status PutCommitRecord(uint64_t seq, std::string_view batch) = 0;
  // The numbers of the records in the store, ascending.
  [[nodiscard]] virtual absl::StatusOr<std::vector<uint64_t>> ListCommitRecords() = 0;
  // The batch of record `seq`, checked (DataLoss naming the record if it is damaged,
  // truncated or of another pool or number; NotFound if it is absent).
  [[nodiscard]] virtual absl::StatusOr<std::string> GetCommitRecord(uint64_t seq) = 0;
  [[nodiscard]] virtual absl::Status DeleteCommitRecord(uint64_t seq) = 0;

  // Stores the catalog checkpoint in `checkpoint_dir` (every file in it) as the backup that
  // covers commit records up to `seq`; OK only once the store accepted it.
  [[nodiscard]] virtual absl::Status PutCatalogBackup(uint64_t seq,
                                                      const std::string& checkpoint_dir) = 0;
  // The sequence numbers of the backups in the store, ascending.
  [[nodiscard]] virtual absl::StatusOr<std::vector<uint64_t>> ListCatalogBackups() = 0;
  // Writes backup `seq`'s files into `dir` (created; must not exist), checked as a whole first
  // (DataLoss naming the backup if it is damaged; NotFound if absent).
  [[nodiscard]] virtual absl::Status RestoreCatalogBackup(uint64_t seq,
                                                          const std::string& dir) = 0;
  [[nodiscard]] virtual absl::Status DeleteCatalogBackup(uint64_t seq) = 0;

 protected:
  CatalogLog() = default;
  CatalogLog(const CatalogLog&) = delete;
  CatalogLog& operator=(const CatalogLog&) = delete;
};

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_STORE_CATALOG_LOG_H_
