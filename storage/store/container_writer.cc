#include "storage/store/container_writer.h"

#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace sealpool::storage {

ContainerWriter::ContainerWriter(std::string path, std::unique_ptr<WritableFile> file,
                                 ContainerHeader header, ContainerWriterOptions options,
                                 uint64_t record_count)
    : path_(std::move(path)),
      file_(std::move(file)),
      header_(header),
      options_(options),
      size_(file_->Size()),
      synced_size_(file_->Size()),
      record_count_(record_count) {}

absl::StatusOr<std::unique_ptr<ContainerWriter>> ContainerWriter::Create(
    FileSystem* fs, const std::string& path, const ContainerHeader& header,
    ContainerWriterOptions options) {
  absl::StatusOr<std::unique_ptr<WritableFile>> opened =
      fs->NewWritableFile(path, OpenMode::kCreateExclusive);
  if (!opened.ok()) return opened.status();
  std::unique_ptr<WritableFile> file = *std::move(opened);
  std::vector<uint8_t> bytes;
  header.EncodeTo(&bytes);
  absl::Status status = file->Append(bytes);
  if (status.ok()) status = file->Sync();
  if (status.ok()) status = fs->SyncDir(DirName(path));
  if (!status.ok()) {
    file.reset();
    // Best effort: a header that is not durable acknowledges nothing; a leftover file is
    // refused by Reopen as DataLoss or recovered as an empty container.
    (void)fs->RemoveFile(path);
    return base::Annotate(status, absl::StrCat("create container ", header.container_id));
  }
  return std::unique_ptr<ContainerWriter>(
      new ContainerWriter(path, std::move(file), header, options, /*record_count=*/0));
}

absl::StatusOr<std::unique_ptr<ContainerWriter>> ContainerWriter::Reopen(
    FileSystem* fs, const std::string& path, ContainerWriterOptions options,
    RecoveryReport* report) {
  absl::StatusOr<std::unique_ptr<ContainerReader>> opened = ContainerReader::Open(fs, path);
  if (!opened.ok()) return opened.status();
  std::unique_ptr<ContainerReader> reader = *std::move(opened);
  absl::StatusOr<ContainerScanner> scanner = ContainerScanner::Create(reader.get());
  if (!scanner.ok()) return scanner.status();

  RecoveryReport found;
  found.valid_end = kContainerHeaderSize;
  std::optional<ScanItem> first_bad;
  for (;;) {
    absl::StatusOr<std::optional<ScanItem>> next = scanner->Next();
    if (!next.ok()) return next.status();
    std::optional<ScanItem>& item = *next;
    if (!item) break;
    if (item->kind == ScanItem::Kind::kCorruption) {
      if (!first_bad) first_bad = std::move(item);
      continue;
    }
    if (first_bad) {
      return absl::DataLossError(absl::StrCat(
          reader->Describe(), ": damaged before its tail (", first_bad->error.message(),
          "; a valid record follows at offset ", item->location.offset,
          "); not a torn append, so nothing was cut: scrub the pool"));
    }
    ++found.valid_records;
    found.valid_end = item->location.end();
  }
  if (first_bad && found.valid_end < options.acknowledged_end) {
    return absl::DataLossError(absl::StrCat(
        reader->Describe(), ": acknowledged data up to offset ", options.acknowledged_end,
        " is damaged (", first_bad->error.message(), "); nothing was cut: scrub the pool"));
  }
  const ContainerHeader header = reader->header();
  reader.reset();

  absl::StatusOr<std::unique_ptr<WritableFile>> writable =
      fs->NewWritableFile(path, OpenMode::kOpenExisting);
  if (!writable.ok()) return writable.status();
  std::unique_ptr<WritableFile> file = *std::move(writable);
  if (first_bad) {
    found.truncated_bytes = file->Size() - found.valid_end;
    found.cut_reason = first_bad->error;
    if (absl::Status status = file->Truncate(found.valid_end); !status.ok()) {
      return base::Annotate(status, "recover container: cut the torn tail");
    }
  }
  // Even with nothing cut: after a process crash the records found may sit in the page cache
  // only; they count as synced from here on, so make them durable now.
  if (absl::Status status = file->Sync(); !status.ok()) {
    return base::Annotate(status, "recover container");
  }
  if (report != nullptr) *report = found;
  return std::unique_ptr<ContainerWriter>(
      new ContainerWriter(path, std::move(file), header, options, found.valid_records));
}

bool ContainerWriter::HasRoomFor(uint64_t stored_length) const {
  if (record_count_ == 0) return true;
  return size_ + kRecordHeaderSize + stored_length <= options_.target_size;
}

absl::Status ContainerWriter::CheckUsable(std::string_view operation) const {
  if (closed_) {
    return absl::FailedPreconditionError(absl::StrCat(base::AbslView(operation), " container ",
                                                      header_.container_id, " (", path_,
                                                      "): closed"));
  }
  if (!status_.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        base::AbslView(operation), " container ", header_.container_id, " (", path_,
        "): the writer failed earlier and must be reopened: ", status_.message()));
  }
  return absl::OkStatus();
}

absl::Status ContainerWriter::Fail(absl::Status error) {
  status_ = error;
  return base::Annotate(error, absl::StrCat("container ", header_.container_id));
}

absl::StatusOr<RecordLocation> ContainerWriter::Append(const SealedSegment& segment) {
  if (absl::Status status = CheckUsable("append to"); !status.ok()) return status;
  if (segment.stored.size() > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat("segment ", segment.segment_id.value(),
                                                   ": stored ", segment.stored.size(),
                                                   " bytes is too many"));
  }
  RecordHeader header;
  header.type = RecordType::kSealedSegment;
  header.compression = segment.compression;
  header.segment_id = segment.segment_id;
  header.plaintext_length = segment.plaintext_length;
  header.stored_length = static_cast<uint32_t>(segment.stored.size());
  header.fingerprint = segment.fingerprint;
  header.nonce = segment.nonce;
  header.tag = segment.tag;
  header.payload_checksum = PayloadChecksum(segment.stored);
  if (absl::Status status = header.Validate(); !status.ok()) {
    return base::Annotate(status, absl::StrCat("segment ", segment.segment_id.value()));
  }
  if (!HasRoomFor(segment.stored.size())) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", header_.container_id, " is full (", size_, " bytes, target ",
                     options_.target_size, "): open the next container for segment ",
                     segment.segment_id.value()));
  }

  buffer_.clear();
  header.EncodeTo(&buffer_);
  buffer_.insert(buffer_.end(), segment.stored.begin(), segment.stored.end());
  const RecordLocation location{size_, buffer_.size()};
  if (absl::Status status = file_->Append(buffer_); !status.ok()) {
    size_ = file_->Size();
    return Fail(
        base::Annotate(status, absl::StrCat("append segment ", segment.segment_id.value())));
  }
  size_ = file_->Size();
  ++record_count_;
  return location;
}

absl::Status ContainerWriter::Sync() {
  if (absl::Status status = CheckUsable("sync"); !status.ok()) return status;
  if (absl::Status status = file_->Sync(); !status.ok()) return Fail(status);
  synced_size_ = size_;
  return absl::OkStatus();
}

absl::Status ContainerWriter::Close() {
  if (closed_) return CheckUsable("close");
  absl::Status status = status_.ok() ? Sync() : absl::OkStatus();
  closed_ = true;
  status.Update(file_->Close());
  return status;
}

}  // namespace sealpool::storage
