#include "storage/store/container_reader.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace sealpool::storage {

namespace {

// How much FindNextHeader reads at a time.
constexpr size_t kResyncChunk = 256 << 10;

// Reads exactly out.size() bytes at `offset`; returns how many were there (fewer at the end).
absl::StatusOr<size_t> ReadAt(const RandomAccessFile& file, uint64_t offset,
                              std::span<uint8_t> out) {
  return file.Read(offset, out);
}

}  // namespace

absl::StatusOr<std::unique_ptr<ContainerReader>> ContainerReader::Open(FileSystem* fs,
                                                                       const std::string& path) {
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> file = fs->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  return FromFile(*std::move(file));
}

absl::StatusOr<std::unique_ptr<ContainerReader>> ContainerReader::FromFile(
    std::unique_ptr<RandomAccessFile> file) {
  std::vector<uint8_t> bytes(kMaxContainerHeaderSize);
  absl::StatusOr<size_t> n = ReadAt(*file, 0, bytes);
  if (!n.ok()) return n.status();
  bytes.resize(*n);
  ContainerHeader header;
  if (absl::Status status = header.DecodeFrom(bytes); !status.ok()) {
    return base::Annotate(status, absl::StrCat("container file ", file->path()));
  }
  return std::unique_ptr<ContainerReader>(new ContainerReader(std::move(file), header));
}

std::string ContainerReader::Describe() const {
  return absl::StrCat("container ", header_.container_id, " (", file_->path(), ")");
}

absl::StatusOr<RecordHeader> ContainerReader::ReadRecord(
    RecordLocation location, std::vector<uint8_t>* stored,
    std::optional<crypto::SegmentId> expected_segment_id) const {
  stored->clear();
  std::string where = absl::StrCat(Describe(), " offset ", location.offset);
  if (expected_segment_id) absl::StrAppend(&where, " segment ", expected_segment_id->value());
  if (location.offset < kContainerHeaderSize || location.length < kRecordHeaderSize ||
      location.length > kMaxRecordSize || location.offset > UINT64_MAX - location.length) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": no record can be ", location.length, " bytes at this offset"));
  }

  std::array<uint8_t, kRecordHeaderSize> header_bytes;
  absl::StatusOr<size_t> n = ReadAt(*file_, location.offset, header_bytes);
  if (!n.ok()) return n.status();
  if (*n < header_bytes.size()) {
    return absl::DataLossError(
        absl::StrCat(where, ": record lies past the end of the file (container truncated?)"));
  }
  RecordHeader header;
  if (absl::Status status = header.DecodeFrom(header_bytes); !status.ok()) {
    return base::Annotate(status, where);
  }
  if (!expected_segment_id) absl::StrAppend(&where, " segment ", header.segment_id.value());
  if (expected_segment_id && header.segment_id != *expected_segment_id) {
    return absl::DataLossError(
        absl::StrCat(where, ": the record there holds segment ", header.segment_id.value()));
  }
  if (header.record_size() != location.length) {
    return absl::DataLossError(absl::StrCat(where, ": the record there is ", header.record_size(),
                                            " bytes, the location says ", location.length));
  }

  stored->resize(header.stored_length);
  absl::StatusOr<size_t> got = ReadAt(*file_, location.offset + kRecordHeaderSize, *stored);
  if (!got.ok() || *got < stored->size()) {
    stored->clear();
    if (!got.ok()) return got.status();
    return absl::DataLossError(
        absl::StrCat(where, ": record payload cut short by the end of the file"));
  }
  if (crypto::Checksum sum = PayloadChecksum(*stored); sum != header.payload_checksum) {
    stored->clear();
    return absl::DataLossError(absl::StrCat(
        where, ": stored bytes corrupt (xxh3 ", absl::Hex(sum.value(), absl::kZeroPad16),
        ", expected ", absl::Hex(header.payload_checksum.value(), absl::kZeroPad16), ")"));
  }
  return header;
}

ContainerScanner::ContainerScanner(const ContainerReader* reader, uint64_t file_size,
                                   ScanOptions options)
    : reader_(reader),
      file_size_(file_size),
      options_(options),
      position_(std::min<uint64_t>(kContainerHeaderSize, file_size)) {}

absl::StatusOr<ContainerScanner> ContainerScanner::Create(const ContainerReader* reader,
                                                          ScanOptions options) {
  absl::StatusOr<uint64_t> size = reader->file().Size();
  if (!size.ok()) return size.status();
  return ContainerScanner(reader, *size, options);
}

ScanItem ContainerScanner::Corruption(uint64_t offset, uint64_t end,
                                      std::optional<RecordHeader> header,
                                      absl::string_view what) const {
  ScanItem item;
  item.kind = ScanItem::Kind::kCorruption;
  item.location = {offset, end - offset};
  std::string message =
      absl::StrCat(reader_->Describe(), " offset ", offset, ": ", end - offset, " corrupt bytes");
  if (header) absl::StrAppend(&message, " in segment ", header->segment_id.value());
  absl::StrAppend(&message, ": ", what);
  item.error = absl::DataLossError(message);
  item.header = std::move(header);
  return item;
}

absl::StatusOr<std::optional<ScanItem>> ContainerScanner::Next() {
  if (position_ >= file_size_) return std::nullopt;
  const uint64_t offset = position_;
  const RandomAccessFile& file = reader_->file();

  if (file_size_ - offset < kRecordHeaderSize) {
    position_ = file_size_;
    return Corruption(offset, file_size_, std::nullopt, "record header cut short by the end");
  }
  std::array<uint8_t, kRecordHeaderSize> header_bytes;
  absl::StatusOr<size_t> n = ReadAt(file, offset, header_bytes);
  if (!n.ok()) return n.status();
  if (*n < header_bytes.size()) {
    return absl::InternalError(
        absl::StrCat(reader_->Describe(), ": file shrank during the scan at offset ", offset));
  }
  RecordHeader header;
  if (absl::Status status = header.DecodeFrom(header_bytes); !status.ok()) {
    absl::StatusOr<uint64_t> next = FindNextHeader(offset + 1);
    if (!next.ok()) return next.status();
    position_ = *next;
    return Corruption(offset, *next, std::nullopt, status.message());
  }
  const uint64_t end = offset + header.record_size();
  if (end > file_size_) {
    position_ = file_size_;
    return Corruption(offset, file_size_, header, "record payload cut short by the end");
  }
  if (options_.verify_payloads) {
    buffer_.resize(header.stored_length);
    absl::StatusOr<size_t> got = ReadAt(file, offset + kRecordHeaderSize, buffer_);
    if (!got.ok()) return got.status();
    if (*got < buffer_.size()) {
      return absl::InternalError(
          absl::StrCat(reader_->Describe(), ": file shrank during the scan at offset ", offset));
    }
    if (PayloadChecksum(buffer_) != header.payload_checksum) {
      position_ = end;
      return Corruption(offset, end, header, "payload checksum mismatch");
    }
  }
  position_ = end;
  ScanItem item;
  item.kind = ScanItem::Kind::kRecord;
  item.location = {offset, header.record_size()};
  item.header = header;
  return item;
}

absl::StatusOr<uint64_t> ContainerScanner::FindNextHeader(uint64_t from) const {
  const RandomAccessFile& file = reader_->file();
  std::vector<uint8_t> chunk;
  uint64_t pos = from;
  while (pos < file_size_ && file_size_ - pos >= kRecordHeaderSize) {
    chunk.resize(static_cast<size_t>(std::min<uint64_t>(kResyncChunk, file_size_ - pos)));
    absl::StatusOr<size_t> got = ReadAt(file, pos, chunk);
    if (!got.ok()) return got.status();
    const size_t n = *got;
    if (n < kRecordHeaderSize) break;
    std::span<const uint8_t> bytes(chunk.data(), n);
    for (size_t i = 0; i + kRecordHeaderSize <= n; ++i) {
      std::span<const uint8_t> candidate = bytes.subspan(i, kRecordHeaderSize);
      if (!StartsWithRecordMagic(candidate)) continue;
      RecordHeader header;
      if (header.DecodeFrom(candidate).ok()) return pos + i;
    }
    // The last kRecordHeaderSize - 1 positions were not tried whole: start the next chunk there.
    pos += n - kRecordHeaderSize + 1;
  }
  return file_size_;
}

}  // namespace sealpool::storage
