// ContainerWriter: appends, durability, sticky errors, rollover and crash recovery.
#include "storage/store/container_writer.h"

#include <catch2/catch.hpp>

#include "test/storage/store/store_test_util.h"

namespace sealpool::storage {
namespace {

using testing::ContainerFixture;
using testing::FileSizeOf;
using testing::MakeSegment;
using Op = FaultInjectionFileSystem::Op;

// Every record of the container, in order, as the scanner sees it; REQUIREs no corruption.
std::vector<uint64_t> SegmentIdsOf(ContainerFixture& f) {
  std::vector<uint64_t> ids;
  for (const ScanItem& item : f.ScanAll()) {
    INFO(item.error.ToString());
    REQUIRE(item.kind == ScanItem::Kind::kRecord);
    ids.push_back(item.header->segment_id.value());
  }
  return ids;
}

std::unique_ptr<ContainerWriter> Reopen(ContainerFixture& f, RecoveryReport* report,
                                        ContainerWriterOptions options = {}) {
  auto writer = ContainerWriter::Reopen(&f.fs_, f.path_, options, report);
  INFO(writer.status().ToString());
  REQUIRE(writer.ok());
  return *std::move(writer);
}

TEST_CASE_METHOD(ContainerFixture, "appended records are found at the returned locations",
                 "[storage][container_writer]") {
  Create();
  RecordLocation a = Write(1, 1000);
  RecordLocation b = Write(2, 1);
  RecordLocation c = Write(3, 70000);
  Sync();
  CHECK(a == RecordLocation{kContainerHeaderSize, kRecordHeaderSize + 1000});
  CHECK(b.offset == a.end());
  CHECK(c.offset == b.end());
  CHECK(writer_->size() == c.end());
  CHECK(writer_->synced_size() == c.end());
  CHECK(writer_->record_count() == 3);
  for (auto [id, location] : {std::pair{1, a}, {2, b}, {3, c}}) {
    std::vector<uint8_t> stored;
    auto header = Read(location, &stored, crypto::SegmentId(static_cast<uint64_t>(id)));
    REQUIRE(header.ok());
    CHECK(stored == segment(static_cast<uint64_t>(id)).bytes);
    CHECK(header->fingerprint == segment(static_cast<uint64_t>(id)).meta.fingerprint);
    CHECK(header->nonce == segment(static_cast<uint64_t>(id)).meta.nonce);
    CHECK(header->tag == segment(static_cast<uint64_t>(id)).meta.tag);
  }
}

TEST_CASE_METHOD(ContainerFixture, "creating over an existing container is AlreadyExists",
                 "[storage][container_writer]") {
  Create();
  Write(1, 10);
  Sync();
  auto again = ContainerWriter::Create(&fs_, path_, Header());
  CHECK(absl::IsAlreadyExists(again.status()));
  CHECK(SegmentIdsOf(*this) == std::vector<uint64_t>{1});
}

TEST_CASE_METHOD(ContainerFixture, "a created container survives a power cut",
                 "[storage][container_writer]") {
  Create();
  PowerCut();
  auto reader = ContainerReader::Open(&fs_, path_);
  REQUIRE(reader.ok());
  CHECK((*reader)->header() == Header());
  CHECK(SegmentIdsOf(*this).empty());
}

TEST_CASE_METHOD(ContainerFixture, "records are durable only after a sync",
                 "[storage][container_writer]") {
  Create();
  Write(1, 100);
  Write(2, 200);
  Sync();
  Write(3, 300);
  CHECK(writer_->synced_size() < writer_->size());
  PowerCut();
  RecoveryReport report;
  auto writer = Reopen(*this, &report);
  CHECK(report.valid_records == 2);
  CHECK(report.truncated_bytes == 0);
  CHECK(report.cut_reason.ok());
  CHECK(SegmentIdsOf(*this) == std::vector<uint64_t>{1, 2});
}

TEST_CASE_METHOD(ContainerFixture, "a torn append is cut off when the container is reopened",
                 "[storage][container_writer]") {
  Create();
  Write(1, 100);
  RecordLocation second = Write(2, 100);
  Sync();
  fs_.TearNextAppend(50);
  CHECK(absl::IsInternal(writer_->Append(MakeSegment(3, 100).view()).status()));
  Crash();  // the process dies; the 50 bytes stay in the file
  CHECK(FileSizeOf(path_) == second.end() + 50);

  RecoveryReport report;
  auto writer = Reopen(*this, &report);
  CHECK(report.valid_records == 2);
  CHECK(report.valid_end == second.end());
  CHECK(report.truncated_bytes == 50);
  CHECK(absl::IsDataLoss(report.cut_reason));
  CHECK(FileSizeOf(path_) == second.end());
  CHECK(fs_.SyncedSize(path_) == second.end());
  CHECK(SegmentIdsOf(*this) == std::vector<uint64_t>{1, 2});
}

TEST_CASE_METHOD(ContainerFixture, "a torn append at any byte recovers exactly the synced records",
                 "[storage][container_writer]") {
  const uint64_t record_size = kRecordHeaderSize + 40;
  for (uint64_t keep = 1; keep < record_size; ++keep) {
    INFO("torn after " << keep << " bytes");
    ContainerFixture f;
    f.Create();
    f.Write(1, 40);
    RecordLocation synced = f.Write(2, 40);
    f.Sync();
    f.fs_.TearNextAppend(keep);
    CHECK_FALSE(f.writer_->Append(MakeSegment(3, 40).view()).ok());
    f.Crash();
    RecoveryReport report;
    auto writer = Reopen(f, &report);
    CHECK(report.valid_records == 2);
    CHECK(report.truncated_bytes == keep);
    CHECK(writer->size() == synced.end());
    // The writer goes on where the synced records end.
    auto next = writer->Append(MakeSegment(4, 40).view());
    REQUIRE(next.ok());
    CHECK(next->offset == synced.end());
  }
}

TEST_CASE_METHOD(ContainerFixture, "a torn append and a power cut recover the synced records",
                 "[storage][container_writer]") {
  Create();
  Write(1, 100);
  Sync();
  Write(2, 100);
  fs_.TearNextAppend(120);
  CHECK_FALSE(writer_->Append(MakeSegment(3, 100).view()).ok());
  PowerCut();
  RecoveryReport report;
  auto writer = Reopen(*this, &report);
  CHECK(report.valid_records == 1);
  CHECK(report.truncated_bytes == 0);
  CHECK(SegmentIdsOf(*this) == std::vector<uint64_t>{1});
}

TEST_CASE_METHOD(ContainerFixture, "records written before a process crash are kept and synced",
                 "[storage][container_writer]") {
  Create();
  Write(1, 100);
  RecordLocation unsynced = Write(2, 100);
  Crash();  // no power cut: the page cache still holds record 2
  RecoveryReport report;
  auto writer = Reopen(*this, &report);
  CHECK(report.valid_records == 2);
  CHECK(writer->synced_size() == unsynced.end());
  PowerCut();
  CHECK(SegmentIdsOf(*this) == std::vector<uint64_t>{1, 2});
}

TEST_CASE_METHOD(ContainerFixture,
                 "a failed append makes the writer refuse everything until "
                 "reopened",
                 "[storage][container_writer]") {
  Create();
  RecordLocation first = Write(1, 100);
  Sync();
  fs_.FailNth(Op::kAppend, 1);
  auto failed = writer_->Append(MakeSegment(2, 100).view());
  CHECK(absl::IsInternal(failed.status()));
  CHECK(absl::IsInternal(writer_->status()));

  auto refused = writer_->Append(MakeSegment(3, 100).view());
  CHECK(absl::IsFailedPrecondition(refused.status()));
  CHECK(refused.status().message().find("injected") != absl::string_view::npos);
  CHECK(absl::IsFailedPrecondition(writer_->Sync()));
  CHECK(writer_->synced_size() == first.end());
  Crash();

  RecoveryReport report;
  auto writer = Reopen(*this, &report);
  CHECK(writer->status().ok());
  auto again = writer->Append(MakeSegment(3, 100).view());
  REQUIRE(again.ok());
  CHECK(again->offset == first.end());
  REQUIRE(writer->Sync().ok());
  Crash();
  CHECK(SegmentIdsOf(*this) == std::vector<uint64_t>{1, 3});
}

TEST_CASE_METHOD(ContainerFixture, "a failed sync acknowledges nothing and is sticky",
                 "[storage][container_writer]") {
  Create();
  RecordLocation first = Write(1, 100);
  Sync();
  Write(2, 100);
  fs_.FailNth(Op::kSync, 1);
  CHECK(absl::IsInternal(writer_->Sync()));
  CHECK(writer_->synced_size() == first.end());
  // A later sync must not pretend the lost pages are durable.
  CHECK(absl::IsFailedPrecondition(writer_->Sync()));
  CHECK(absl::IsFailedPrecondition(writer_->Append(MakeSegment(3, 10).view()).status()));
  PowerCut();
  RecoveryReport report;
  auto writer = Reopen(*this, &report);
  CHECK(SegmentIdsOf(*this) == std::vector<uint64_t>{1});
}

TEST_CASE_METHOD(ContainerFixture, "a full container refuses a record without failing",
                 "[storage][container_writer]") {
  const uint64_t record = kRecordHeaderSize + 100;
  Create({.target_size = kContainerHeaderSize + 3 * record});
  Write(1, 100);
  Write(2, 100);
  CHECK(writer_->HasRoomFor(100));
  CHECK_FALSE(writer_->HasRoomFor(101));
  Write(3, 100);
  CHECK_FALSE(writer_->HasRoomFor(0));
  const uint64_t size = writer_->size();
  auto refused = writer_->Append(MakeSegment(4, 1).view());
  CHECK(absl::IsFailedPrecondition(refused.status()));
  CHECK(refused.status().message().find("full") != absl::string_view::npos);
  CHECK(writer_->size() == size);
  CHECK(writer_->status().ok());
  Sync();
  CHECK(SegmentIdsOf(*this) == std::vector<uint64_t>{1, 2, 3});
}

TEST_CASE_METHOD(ContainerFixture, "an empty container takes one record larger than its target",
                 "[storage][container_writer]") {
  Create({.target_size = 1024});
  CHECK(writer_->HasRoomFor(4096));
  Write(1, 4096);
  CHECK_FALSE(writer_->HasRoomFor(1));
  Sync();
  CHECK(SegmentIdsOf(*this) == std::vector<uint64_t>{1});
}

TEST_CASE_METHOD(ContainerFixture, "a segment outside the format's limits writes nothing",
                 "[storage][container_writer]") {
  Create();
  for (int which = 0; which < 3; ++which) {
    testing::TestSegment s = MakeSegment(9, 100);
    if (which == 0) s.meta.plaintext_length = 99;             // raw must keep its length
    if (which == 1) s.meta.compression = Compression::kZstd;  // zstd must shrink
    if (which == 2) s.meta.compression = static_cast<Compression>(5);
    auto result = writer_->Append(s.view());
    INFO("case " << which);
    CHECK(absl::IsInvalidArgument(result.status()));
  }
  CHECK(writer_->size() == kContainerHeaderSize);
  CHECK(writer_->status().ok());
  Write(1, 10);
}

TEST_CASE_METHOD(ContainerFixture, "reopen refuses a container damaged before its tail",
                 "[storage][container_writer]") {
  Create();
  RecordLocation first = Write(1, 100);
  Write(2, 100);
  Sync();
  Crash();
  const uint64_t size = FileSizeOf(path_);
  CorruptByte(first.offset + kRecordHeaderSize + 7);
  auto writer = ContainerWriter::Reopen(&fs_, path_);
  CHECK(absl::IsDataLoss(writer.status()));
  CHECK(writer.status().message().find("nothing was cut") != absl::string_view::npos);
  CHECK(FileSizeOf(path_) == size);
}

TEST_CASE_METHOD(ContainerFixture, "reopen never cuts acknowledged records",
                 "[storage][container_writer]") {
  Create();
  Write(1, 100);
  RecordLocation last = Write(2, 100);
  Sync();
  Crash();
  CorruptByte(last.end() - 1);  // bit rot in the last, acknowledged record
  const uint64_t size = FileSizeOf(path_);
  auto writer = ContainerWriter::Reopen(&fs_, path_, {.acknowledged_end = last.end()});
  CHECK(absl::IsDataLoss(writer.status()));
  CHECK(writer.status().message().find("acknowledged") != absl::string_view::npos);
  CHECK(FileSizeOf(path_) == size);
  // Without that knowledge it looks like a torn tail and is cut.
  RecoveryReport report;
  auto unknowing = Reopen(*this, &report);
  CHECK(report.truncated_bytes == last.length);
}

TEST_CASE_METHOD(ContainerFixture, "reopen of a container with a corrupt file header is data loss",
                 "[storage][container_writer]") {
  Create();
  Crash();
  CorruptByte(30);
  CHECK(absl::IsDataLoss(ContainerWriter::Reopen(&fs_, path_).status()));
  CHECK(absl::IsNotFound(ContainerWriter::Reopen(&fs_, dir_.File("none")).status()));
}

TEST_CASE_METHOD(ContainerFixture, "a failed directory sync fails create and leaves no file",
                 "[storage][container_writer]") {
  fs_.FailNth(Op::kSyncDir, 1);
  auto writer = ContainerWriter::Create(&fs_, path_, Header());
  CHECK(absl::IsInternal(writer.status()));
  CHECK_FALSE(*fs_.FileExists(path_));
}

TEST_CASE_METHOD(ContainerFixture, "close syncs and then refuses appends",
                 "[storage][container_writer]") {
  Create();
  Write(1, 100);
  REQUIRE(writer_->Close().ok());
  CHECK(absl::IsFailedPrecondition(writer_->Append(MakeSegment(2, 1).view()).status()));
  CHECK(absl::IsFailedPrecondition(writer_->Sync()));
  PowerCut();
  CHECK(SegmentIdsOf(*this) == std::vector<uint64_t>{1});
}

}  // namespace
}  // namespace sealpool::storage
