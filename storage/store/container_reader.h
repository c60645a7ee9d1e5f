// Reading container files (format: storage/store/container_format.h): one record at a known location,
// verified, and a sequential scanner over all records that needs no key (scrub, rebuilding the
// fingerprint index, crash recovery).
//
//   SEALPOOL_ASSIGN_OR_RETURN(auto reader, ContainerReader::Open(fs, path));
//   std::vector<uint8_t> stored;
//   SEALPOOL_ASSIGN_OR_RETURN(RecordHeader h, reader->ReadRecord(location, &stored));
//
// Nothing here authenticates (that is the GCM tag, checked by the caller with the DEK); what is
// checked is that the bytes are the ones written: the record header checksum and the XXH3 of the
// stored bytes. A mismatch is never returned as data.
//
// Errors: DataLoss for corruption, with the container id, the path, the offset and the segment
// id when known (from the caller or from a checksum-valid header); InvalidArgument for a location
// no writer can have returned; the FileSystem's codes for I/O errors.
//
// Thread safety: a ContainerReader is immutable after Open and thread-safe. A ContainerScanner
// is one pass; use one per thread. The reader must outlive its scanners.
#ifndef SEALPOOL_STORAGE_STORE_CONTAINER_READER_H_
#define SEALPOOL_STORAGE_STORE_CONTAINER_READER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "storage/store/container_format.h"
#include "storage/store/file_system.h"

namespace sealpool::storage {

// Where a record lives in its container: the offset of its header and its whole size (header
// plus stored bytes). What the catalog keeps for each segment.
struct RecordLocation {
  uint64_t offset = 0;
  uint64_t length = 0;

  uint64_t end() const { return offset + length; }
  friend bool operator==(const RecordLocation&, const RecordLocation&) = default;
};

class ContainerReader {
 public:
  // Opens `path` through `fs` (which must outlive the reader) and verifies its file header:
  // DataLoss for a corrupt or truncated header, FailedPrecondition for a newer format version.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ContainerReader>> Open(
      FileSystem* fs, const std::string& path);
  // The same over a file the caller opened (an S3 object read by ranged GETs, for one).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ContainerReader>> FromFile(
      std::unique_ptr<RandomAccessFile> file);

  // Reads the record at `location` and verifies it; on success `*stored` holds exactly its
  // stored bytes (replacing what it held). If `expected_segment_id` is given, a record of
  // another segment is DataLoss too. On error `*stored` is cleared.
  [[nodiscard]] absl::StatusOr<RecordHeader> ReadRecord(
      RecordLocation location, std::vector<uint8_t>* stored,
      std::optional<crypto::SegmentId> expected_segment_id = std::nullopt) const;

  const ContainerHeader& header() const { return header_; }
  const std::string& path() const { return file_->path(); }
  const RandomAccessFile& file() const { return *file_; }

  // "container <id> (<path>)", the prefix of every message about this file.
  std::string Describe() const;

 private:
  ContainerReader(std::unique_ptr<RandomAccessFile> file, ContainerHeader header)
      : file_(std::move(file)), header_(header) {}

  const std::unique_ptr<RandomAccessFile> file_;
  const ContainerHeader header_;
};

// One item of a scan: a record that passed every check, or a corrupt region.
struct ScanItem {
  enum class Kind { kRecord, kCorruption };
  Kind kind = Kind::kRecord;
  // kRecord: the record's location. kCorruption: the bad region [offset, offset + length),
  // up to the next valid record header or the end of the file.
  RecordLocation location;
  // kRecord: the decoded header. kCorruption: the header when it was valid and only the
  // payload is bad or cut short (then header->segment_id names the damaged segment).
  std::optional<RecordHeader> header;
  // kCorruption: DataLoss saying what is wrong, where.
  absl::Status error;
};

struct ScanOptions {
  // Read and checksum every payload (a scrub). Off: records are checked by header only, and a
  // bad payload goes unnoticed (rebuilding an index from trusted containers, quickly).
  bool verify_payloads = true;
};

// Walks a container from its first record to the end of the file as it is when the scanner is
// created, reporting each valid record and each corrupt region in file order. After a corrupt
// region it resynchronises on the next offset holding a checksum-valid record header. A record
// whose header is valid but whose payload is bad is reported as one region covering exactly that
// record (header->segment_id says which), and the scan goes on after it.
class ContainerScanner {
 public:
  ContainerScanner(const ContainerReader* reader, uint64_t file_size, ScanOptions options = {});

  // Creates a scanner over the whole current file.
  [[nodiscard]] static absl::StatusOr<ContainerScanner> Create(const ContainerReader* reader,
                                                               ScanOptions options = {});

  // The next item; nullopt at the end. An I/O error is returned as such (not as corruption);
  // the scan should then be abandoned.
  [[nodiscard]] absl::StatusOr<std::optional<ScanItem>> Next();

  // Offset where the next item starts.
  uint64_t position() const { return position_; }
  uint64_t file_size() const { return file_size_; }

 private:
  // The offset of the first checksum-valid record header at or after `from`, or file_size_.
  absl::StatusOr<uint64_t> FindNextHeader(uint64_t from) const;
  ScanItem Corruption(uint64_t offset, uint64_t end, std::optional<RecordHeader> header,
                      absl::string_view what) const;

  const ContainerReader* reader_;
  uint64_t file_size_;
  ScanOptions options_;
  uint64_t position_;
  std::vector<uint8_t> buffer_;
};

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_STORE_CONTAINER_READER_H_
