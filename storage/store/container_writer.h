// Appending sealed segments to a container file (format: storage/store/container_format.h).
//
//   SEALPOOL_ASSIGN_OR_RETURN(auto writer, ContainerWriter::Create(fs, path, header));
//   if (!writer->HasRoomFor(segment.stored.size())) { ...close it, Create the next one... }
//   SEALPOOL_ASSIGN_OR_RETURN(RecordLocation where, writer->Append(segment));
//   SEALPOOL_RETURN_IF_ERROR(writer->Sync());   // only now may the catalog point at `where`
//
// Durability: Append puts a record in the page cache; it is durable, and may be acknowledged or
// referenced from the catalog, only once Sync() has returned OK after it (a location is durable
// iff location.end() <= synced_size()). Create makes the file header and the file's existence
// durable (file sync, then directory sync) before it returns.
//
// Failure: after any failed Append, Sync or Truncate the writer is failed for good (sticky): a
// partial record may be in the file, and after a failed fsync Linux may have dropped dirty pages
// while reporting the next fsync as fine. Every later Append and Sync returns FailedPrecondition
// quoting the first error. Reopen the container (which recovers it) to go on.
//
// Rollover: a container grows up to options.target_size. Append refuses a record that would pass
// it (FailedPrecondition, nothing written, the writer stays usable) unless the container holds no
// record yet, so one oversized record still fits somewhere. The caller checks HasRoomFor first and
// opens the next container itself.
//
// Recovery (Reopen): after a crash the tail of a container may hold a torn record. Reopen scans
// the whole file (header and payload checksums), and if the first bad region is followed by no
// valid record it cuts the file there, syncs, and reports what it cut. A bad region followed by a
// valid record is not a torn tail but damage inside the container: Reopen changes nothing and
// returns DataLoss. Nor does it cut below options.acknowledged_end, which the store takes from
// the catalog: a complete but damaged last record looks the same whether it was torn by a power
// cut or rotted after it was acknowledged, and only the catalog knows which.
//
// Thread safety: not thread-safe; one writer per container, guarded by the caller.
#ifndef SEALPOOL_STORAGE_STORE_CONTAINER_WRITER_H_
#define SEALPOOL_STORAGE_STORE_CONTAINER_WRITER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/store/container_format.h"
#include "storage/store/container_reader.h"
#include "storage/store/file_system.h"

namespace sealpool::storage {

struct ContainerWriterOptions {
  uint64_t target_size = uint64_t{64} << 20;  // 64 MiB
  // Reopen only: the end of the last record the catalog points at (0 if unknown). Recovery never
  // cuts below it: damage there is bit rot in acknowledged data, reported as DataLoss.
  uint64_t acknowledged_end = 0;
};

// What the data path hands over for one new segment: the sealed bytes and their metadata. The
// writer computes stored_length and the payload checksum itself.
struct SealedSegment {
  crypto::SegmentId segment_id;
  crypto::Fingerprint fingerprint;
  Compression compression = Compression::kRaw;
  uint32_t plaintext_length = 0;
  GcmNonce nonce{};
  GcmTag tag{};
  std::span<const uint8_t> stored;  // the AES-GCM ciphertext; read only during Append
};

// What Reopen found and did.
struct RecoveryReport {
  uint64_t valid_records = 0;    // records kept
  uint64_t valid_end = 0;        // the container's size after recovery
  uint64_t truncated_bytes = 0;  // cut from the tail (0: nothing cut)
  absl::Status cut_reason;       // the corruption found at valid_end (OK if nothing was cut)
};

class ContainerWriter {
 public:
  // Creates a new container file at `path` (AlreadyExists if there is one) holding `header`, and
  // makes it durable. `fs` must outlive the writer. On error a half-created file is removed
  // (best effort).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ContainerWriter>> Create(
      FileSystem* fs, const std::string& path, const ContainerHeader& header,
      ContainerWriterOptions options = {});

  // Reopens an existing container to append more after a restart or a failed writer, with the
  // recovery above; `report` (optional) says what was found. DataLoss if the file header is bad
  // or the container is damaged before its tail; FailedPrecondition for a newer format version.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ContainerWriter>> Reopen(
      FileSystem* fs, const std::string& path, ContainerWriterOptions options = {},
      RecoveryReport* report = nullptr);

  ContainerWriter(const ContainerWriter&) = delete;
  ContainerWriter& operator=(const ContainerWriter&) = delete;
  // Closes without syncing: whatever was not synced is not acknowledged.
  ~ContainerWriter() = default;

  // Whether a record of `stored_length` bytes may still be appended (see Rollover).
  bool HasRoomFor(uint64_t stored_length) const;

  // Appends one record; returns where it is. InvalidArgument for a segment that breaks the
  // format's limits (nothing written); FailedPrecondition if the container is full, closed or
  // failed; the FileSystem's error (and the writer becomes failed) if the write fails.
  [[nodiscard]] absl::StatusOr<RecordLocation> Append(const SealedSegment& segment);

  // Makes every appended record durable. On error the writer becomes failed.
  [[nodiscard]] absl::Status Sync();

  // Syncs (if not failed) and closes the file; later calls fail with FailedPrecondition.
  [[nodiscard]] absl::Status Close();

  uint64_t size() const { return size_; }
  uint64_t synced_size() const { return synced_size_; }
  uint64_t record_count() const { return record_count_; }
  const ContainerHeader& header() const { return header_; }
  const std::string& path() const { return path_; }
  // OK, or the error that failed this writer.
  const absl::Status& status() const { return status_; }

 private:
  ContainerWriter(std::string path, std::unique_ptr<WritableFile> file, ContainerHeader header,
                  ContainerWriterOptions options, uint64_t record_count);
  // Why a call is refused (closed or failed), or OK.
  absl::Status CheckUsable(std::string_view operation) const;
  // Makes `error` sticky and returns it with context.
  absl::Status Fail(absl::Status error);

  // Constant after construction.
  const std::string path_;
  const std::unique_ptr<WritableFile> file_;
  const ContainerHeader header_;
  const ContainerWriterOptions options_;

  uint64_t size_;
  uint64_t synced_size_;
  uint64_t record_count_;
  bool closed_ = false;
  absl::Status status_;
  std::vector<uint8_t> buffer_;  // header + payload of the record being appended
};

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_STORE_CONTAINER_WRITER_H_
