#include "test/storage/store/store_test_util.h"

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "test/test_util.h"

namespace sealpool::storage::testing {

TestSegment MakeSegment(uint64_t id, size_t stored_size) {
  TestSegment s;
  s.bytes = test::PseudoRandomBytes(stored_size, id);
  s.meta.segment_id = crypto::SegmentId(id);
  std::array<uint8_t, 32> fp;
  for (size_t i = 0; i < fp.size(); ++i) fp[i] = static_cast<uint8_t>(id + i);
  s.meta.fingerprint = crypto::Fingerprint::FromArray(fp);
  s.meta.compression = Compression::kRaw;
  s.meta.plaintext_length = static_cast<uint32_t>(stored_size);
  for (size_t i = 0; i < s.meta.nonce.size(); ++i) s.meta.nonce[i] = static_cast<uint8_t>(0xA0 + i);
  for (size_t i = 0; i < s.meta.tag.size(); ++i) s.meta.tag[i] = static_cast<uint8_t>(0xB0 + i);
  return s;
}

std::vector<uint8_t> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void WriteWholeFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

uint64_t FileSizeOf(const std::string& path) { return std::filesystem::file_size(path); }

ContainerFixture::ContainerFixture() : path_(dir_.File("c7.spc")) {}

ContainerHeader ContainerFixture::Header() const {
  ContainerHeader h;
  h.container_id = kContainerId;
  h.created_unix_micros = 1700000000000000;
  h.pool_id.fill(0x11);
  h.key_group_id.fill(0x22);
  return h;
}

void ContainerFixture::Create(ContainerWriterOptions options) {
  auto writer = ContainerWriter::Create(&fs_, path_, Header(), options);
  REQUIRE(writer.ok());
  writer_ = *std::move(writer);
}

RecordLocation ContainerFixture::Write(uint64_t segment_id, size_t stored_size) {
  REQUIRE(writer_ != nullptr);
  TestSegment s = MakeSegment(segment_id, stored_size);
  auto location = writer_->Append(s.view());
  INFO(location.status().ToString());
  REQUIRE(location.ok());
  segments_[segment_id] = std::move(s);
  return *location;
}

void ContainerFixture::Sync() {
  REQUIRE(writer_ != nullptr);
  absl::Status status = writer_->Sync();
  INFO(status.ToString());
  REQUIRE(status.ok());
}

void ContainerFixture::Crash() { writer_.reset(); }

void ContainerFixture::PowerCut() {
  Crash();
  REQUIRE(fs_.DropUnsyncedData().ok());
}

void ContainerFixture::CorruptByte(uint64_t offset, uint8_t xor_mask) {
  std::vector<uint8_t> bytes = ReadWholeFile(path_);
  REQUIRE(offset < bytes.size());
  bytes[offset] ^= xor_mask;
  WriteWholeFile(path_, bytes);
}

void ContainerFixture::ZeroRange(uint64_t offset, uint64_t length) {
  std::vector<uint8_t> bytes = ReadWholeFile(path_);
  REQUIRE(offset + length <= bytes.size());
  std::fill_n(bytes.begin() + static_cast<std::ptrdiff_t>(offset), length, uint8_t{0});
  WriteWholeFile(path_, bytes);
}

void ContainerFixture::TruncateFile(uint64_t size) { std::filesystem::resize_file(path_, size); }

absl::StatusOr<RecordHeader> ContainerFixture::Read(RecordLocation location,
                                                    std::vector<uint8_t>* stored,
                                                    std::optional<crypto::SegmentId> expected) {
  auto reader = ContainerReader::Open(&fs_, path_);
  if (!reader.ok()) return reader.status();
  return (*reader)->ReadRecord(location, stored, expected);
}

std::vector<ScanItem> ContainerFixture::ScanAll(ScanOptions options) {
  auto reader = ContainerReader::Open(&fs_, path_);
  REQUIRE(reader.ok());
  auto scanner = ContainerScanner::Create(reader->get(), options);
  REQUIRE(scanner.ok());
  std::vector<ScanItem> items;
  for (;;) {
    auto item = scanner->Next();
    INFO(item.status().ToString());
    REQUIRE(item.ok());
    if (!item->has_value()) break;
    items.push_back(**item);
  }
  return items;
}

}  // namespace sealpool::storage::testing
