// ContainerReader and ContainerScanner: verified reads, precise corruption reports, resync.
#include "storage/store/container_reader.h"

#include <catch2/catch.hpp>

#include "test/storage/store/store_test_util.h"

namespace sealpool::storage {
namespace {

using testing::ContainerFixture;
using Kind = ScanItem::Kind;
using Op = FaultInjectionFileSystem::Op;

bool Mentions(const absl::Status& status, std::string_view what) {
  return status.message().find(absl::string_view(what.data(), what.size())) !=
         absl::string_view::npos;
}

// Three synced records of 64, 300 and 1 stored bytes.
class ThreeRecords : public ContainerFixture {
 public:
  ThreeRecords() {
    Create();
    a_ = Write(11, 64);
    b_ = Write(12, 300);
    c_ = Write(13, 1);
    Sync();
    Crash();
  }
  RecordLocation a_, b_, c_;
};

TEST_CASE_METHOD(ThreeRecords, "a record reads back its stored bytes and header",
                 "[storage][container_reader]") {
  std::vector<uint8_t> stored = {1, 2, 3};
  auto header = Read(b_, &stored);
  REQUIRE(header.ok());
  CHECK(stored == segment(12).bytes);
  CHECK(header->segment_id == crypto::SegmentId(12));
  CHECK(header->compression == Compression::kRaw);
  CHECK(header->plaintext_length == 300);
  CHECK(header->stored_length == 300);
  CHECK(header->payload_checksum == PayloadChecksum(segment(12).bytes));
}

TEST_CASE_METHOD(ThreeRecords,
                 "flipping any byte of a record is data loss naming the container "
                 "and offset",
                 "[storage][container_reader]") {
  for (uint64_t i = 0; i < a_.length; ++i) {
    INFO("byte " << i);
    CorruptByte(a_.offset + i);
    std::vector<uint8_t> stored;
    auto header = Read(a_, &stored, crypto::SegmentId(11));
    CHECK(absl::IsDataLoss(header.status()));
    CHECK(Mentions(header.status(), "container 7"));
    CHECK(Mentions(header.status(), "offset " + std::to_string(a_.offset)));
    CHECK(Mentions(header.status(), "segment 11"));
    CHECK(stored.empty());
    CorruptByte(a_.offset + i);  // undo
  }
  std::vector<uint8_t> stored;
  CHECK(Read(a_, &stored).ok());
}

TEST_CASE_METHOD(ThreeRecords, "a corrupt payload is reported with the segment id from the header",
                 "[storage][container_reader]") {
  CorruptByte(b_.offset + kRecordHeaderSize + 299, 0x40);
  std::vector<uint8_t> stored;
  auto header = Read(b_, &stored);
  CHECK(absl::IsDataLoss(header.status()));
  CHECK(Mentions(header.status(), "segment 12"));
  CHECK(Mentions(header.status(), "stored bytes corrupt"));
}

TEST_CASE_METHOD(ThreeRecords, "a container cut at any offset of its last record is data loss",
                 "[storage][container_reader]") {
  for (uint64_t size = c_.offset; size < c_.end(); ++size) {
    INFO("cut at " << size);
    TruncateFile(size);
    std::vector<uint8_t> stored;
    CHECK(absl::IsDataLoss(Read(c_, &stored).status()));
    CHECK(stored.empty());
  }
}

TEST_CASE_METHOD(ThreeRecords, "a zeroed range is data loss", "[storage][container_reader]") {
  ZeroRange(b_.offset + 20, 40);
  std::vector<uint8_t> stored;
  CHECK(absl::IsDataLoss(Read(b_, &stored).status()));
  ZeroRange(c_.offset + kRecordHeaderSize, 1);  // the 1-byte payload
  CHECK(absl::IsDataLoss(Read(c_, &stored).status()));
  CHECK(Read(a_, &stored).ok());
}

TEST_CASE_METHOD(ThreeRecords, "a location no writer returns is an invalid argument",
                 "[storage][container_reader]") {
  std::vector<uint8_t> stored;
  CHECK(absl::IsInvalidArgument(Read({0, a_.length}, &stored).status()));
  CHECK(absl::IsInvalidArgument(Read({a_.offset, kRecordHeaderSize - 1}, &stored).status()));
  CHECK(absl::IsInvalidArgument(Read({a_.offset, kMaxRecordSize + 1}, &stored).status()));
  CHECK(absl::IsInvalidArgument(Read({UINT64_MAX - 10, a_.length}, &stored).status()));
}

TEST_CASE_METHOD(ThreeRecords, "a location that disagrees with the record there is data loss",
                 "[storage][container_reader]") {
  std::vector<uint8_t> stored;
  CHECK(absl::IsDataLoss(Read({a_.offset, a_.length + 1}, &stored).status()));
  CHECK(absl::IsDataLoss(Read({a_.offset + 1, a_.length}, &stored).status()));
  auto wrong_segment = Read(a_, &stored, crypto::SegmentId(99));
  CHECK(absl::IsDataLoss(wrong_segment.status()));
  CHECK(Mentions(wrong_segment.status(), "holds segment 11"));
  CHECK(absl::IsDataLoss(Read({c_.end(), 200}, &stored).status()));  // past the end
  CHECK(stored.empty());
}

TEST_CASE_METHOD(ContainerFixture, "opening a file that is not a good container fails clearly",
                 "[storage][container_reader]") {
  testing::WriteWholeFile(path_, {});
  CHECK(absl::IsDataLoss(ContainerReader::Open(&fs_, path_).status()));
  testing::WriteWholeFile(path_, std::vector<uint8_t>(200, 'x'));
  auto not_container = ContainerReader::Open(&fs_, path_);
  CHECK(absl::IsDataLoss(not_container.status()));
  CHECK(Mentions(not_container.status(), path_));

  ContainerHeader newer = Header();
  newer.format_version = 2;
  std::vector<uint8_t> bytes;
  newer.EncodeTo(&bytes);
  testing::WriteWholeFile(path_, bytes);
  CHECK(absl::IsFailedPrecondition(ContainerReader::Open(&fs_, path_).status()));
  CHECK(absl::IsNotFound(ContainerReader::Open(&fs_, dir_.File("none")).status()));
}

TEST_CASE_METHOD(ThreeRecords, "an I/O error is returned as such, not as corruption",
                 "[storage][container_reader]") {
  auto reader = ContainerReader::Open(&fs_, path_);
  REQUIRE(reader.ok());
  fs_.FailNth(Op::kRead, 1);
  std::vector<uint8_t> stored;
  CHECK(absl::IsInternal((*reader)->ReadRecord(a_, &stored).status()));
  auto scanner = ContainerScanner::Create(reader->get());
  REQUIRE(scanner.ok());
  fs_.FailNth(Op::kRead, 1);
  CHECK(absl::IsInternal(scanner->Next().status()));
}

TEST_CASE_METHOD(ThreeRecords, "the scanner reports every record in order",
                 "[storage][container_reader]") {
  std::vector<ScanItem> items = ScanAll();
  REQUIRE(items.size() == 3);
  std::vector<RecordLocation> expected = {a_, b_, c_};
  for (size_t i = 0; i < 3; ++i) {
    CHECK(items[i].kind == Kind::kRecord);
    CHECK(items[i].location == expected[i]);
    CHECK(items[i].header->segment_id == crypto::SegmentId(11 + i));
  }
}

TEST_CASE_METHOD(ContainerFixture, "the scanner finds no record in an empty container",
                 "[storage][container_reader]") {
  Create();
  Crash();
  CHECK(ScanAll().empty());
}

TEST_CASE_METHOD(ThreeRecords,
                 "the scanner reports a bad payload as exactly that record and goes "
                 "on",
                 "[storage][container_reader]") {
  CorruptByte(b_.offset + kRecordHeaderSize + 5);
  std::vector<ScanItem> items = ScanAll();
  REQUIRE(items.size() == 3);
  CHECK(items[0].kind == Kind::kRecord);
  CHECK(items[1].kind == Kind::kCorruption);
  CHECK(items[1].location == b_);
  REQUIRE(items[1].header.has_value());
  CHECK(items[1].header->segment_id == crypto::SegmentId(12));
  CHECK(absl::IsDataLoss(items[1].error));
  CHECK(Mentions(items[1].error, "segment 12"));
  CHECK(items[2].kind == Kind::kRecord);
  CHECK(items[2].location == c_);
}

TEST_CASE_METHOD(ThreeRecords, "the scanner resynchronises on the next record after a bad header",
                 "[storage][container_reader]") {
  for (uint64_t i = 0; i < kRecordHeaderSize; ++i) {
    INFO("header byte " << i);
    CorruptByte(b_.offset + i);
    std::vector<ScanItem> items = ScanAll();
    REQUIRE(items.size() == 3);
    CHECK(items[0].location == a_);
    CHECK(items[1].kind == Kind::kCorruption);
    CHECK(items[1].location == RecordLocation{b_.offset, b_.length});
    CHECK_FALSE(items[1].header.has_value());
    CHECK(Mentions(items[1].error, "offset " + std::to_string(b_.offset)));
    CHECK(items[2].kind == Kind::kRecord);
    CHECK(items[2].location == c_);
    CorruptByte(b_.offset + i);  // undo
  }
}

TEST_CASE_METHOD(ThreeRecords, "the scanner resynchronises after a zeroed range across records",
                 "[storage][container_reader]") {
  ZeroRange(a_.offset + 10, b_.offset + 30 - (a_.offset + 10));
  std::vector<ScanItem> items = ScanAll();
  REQUIRE(items.size() == 2);
  CHECK(items[0].kind == Kind::kCorruption);
  CHECK(items[0].location == RecordLocation{a_.offset, c_.offset - a_.offset});
  CHECK(items[1].location == c_);
}

TEST_CASE_METHOD(ThreeRecords, "the scanner reports a cut tail as one region to the end",
                 "[storage][container_reader]") {
  SECTION("cut inside the payload") {
    TruncateFile(c_.offset + kRecordHeaderSize);
    std::vector<ScanItem> items = ScanAll();
    REQUIRE(items.size() == 3);
    CHECK(items[2].kind == Kind::kCorruption);
    CHECK(items[2].location == RecordLocation{c_.offset, kRecordHeaderSize});
    REQUIRE(items[2].header.has_value());
    CHECK(items[2].header->segment_id == crypto::SegmentId(13));
  }
  SECTION("cut inside the header") {
    TruncateFile(c_.offset + 10);
    std::vector<ScanItem> items = ScanAll();
    REQUIRE(items.size() == 3);
    CHECK(items[2].kind == Kind::kCorruption);
    CHECK(items[2].location == RecordLocation{c_.offset, 10});
  }
}

TEST_CASE_METHOD(ThreeRecords, "a scan without payload checks does not read payloads",
                 "[storage][container_reader]") {
  CorruptByte(b_.offset + kRecordHeaderSize + 5);
  std::vector<ScanItem> items = ScanAll({.verify_payloads = false});
  REQUIRE(items.size() == 3);
  for (const ScanItem& item : items) CHECK(item.kind == Kind::kRecord);
}

TEST_CASE_METHOD(ContainerFixture, "the scanner resynchronises across its read chunks",
                 "[storage][container_reader]") {
  Create();
  RecordLocation a = Write(1, 300 << 10);
  RecordLocation b = Write(2, 300 << 10);
  RecordLocation c = Write(3, 10);
  Sync();
  Crash();
  CorruptByte(a.offset);
  std::vector<ScanItem> items = ScanAll();
  REQUIRE(items.size() == 3);
  CHECK(items[0].kind == Kind::kCorruption);
  CHECK(items[0].location == RecordLocation{a.offset, a.length});
  CHECK(items[1].location == b);
  CHECK(items[2].location == c);
}

}  // namespace
}  // namespace sealpool::storage
