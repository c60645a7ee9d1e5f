// FaultInjectionFileSystem: the crash and failure model the store's tests rely on.
#include "storage/store/fault_injection_file_system.h"

#include <catch2/catch.hpp>

#include "test/storage/store/store_test_util.h"

namespace sealpool::storage {
namespace {

using testing::FileSizeOf;
using testing::ReadWholeFile;
using testing::TempDir;

using Op = FaultInjectionFileSystem::Op;

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

class FaultFixture {
 public:
  std::unique_ptr<WritableFile> Create(const std::string& path) {
    auto file = fs_.NewWritableFile(path, OpenMode::kCreateExclusive);
    REQUIRE(file.ok());
    return *std::move(file);
  }
  void Write(WritableFile& file, std::string_view s) { REQUIRE(file.Append(Bytes(s)).ok()); }

  TempDir dir_;
  FaultInjectionFileSystem fs_{DefaultFileSystem()};
};

TEST_CASE_METHOD(FaultFixture, "a power cut cuts files back to their last sync",
                 "[storage][fault_injection]") {
  const std::string path = dir_.File("a");
  auto file = Create(path);
  REQUIRE(fs_.SyncDir(dir_.path()).ok());
  Write(*file, "durable");
  REQUIRE(file->Sync().ok());
  Write(*file, " lost");
  CHECK(fs_.SyncedSize(path) == 7u);
  file.reset();
  CHECK(FileSizeOf(path) == 12);
  REQUIRE(fs_.DropUnsyncedData().ok());
  CHECK(ReadWholeFile(path) == Bytes("durable"));
}

TEST_CASE_METHOD(FaultFixture, "a file whose creation was never made durable disappears",
                 "[storage][fault_injection]") {
  const std::string path = dir_.File("a");
  auto file = Create(path);
  Write(*file, "synced but not its directory");
  REQUIRE(file->Sync().ok());
  file.reset();
  REQUIRE(fs_.DropUnsyncedData().ok());
  CHECK(*fs_.FileExists(path) == false);
}

TEST_CASE_METHOD(FaultFixture, "files that existed before are taken as durable",
                 "[storage][fault_injection]") {
  const std::string path = dir_.File("a");
  testing::WriteWholeFile(path, Bytes("old"));
  auto file = fs_.NewWritableFile(path, OpenMode::kOpenExisting);
  REQUIRE(file.ok());
  Write(**file, "new");
  file->reset();
  REQUIRE(fs_.DropUnsyncedData().ok());
  CHECK(ReadWholeFile(path) == Bytes("old"));
}

TEST_CASE_METHOD(FaultFixture, "the nth append fails once with an injected internal error",
                 "[storage][fault_injection]") {
  auto file = Create(dir_.File("a"));
  fs_.FailNth(Op::kAppend, 2);
  CHECK(file->Append(Bytes("1")).ok());
  absl::Status failed = file->Append(Bytes("2"));
  CHECK(absl::IsInternal(failed));
  CHECK(failed.message().find("injected") != absl::string_view::npos);
  CHECK(file->Append(Bytes("3")).ok());
  CHECK(file->Size() == 2);
  CHECK(fs_.faults_injected() == 1);
}

TEST_CASE_METHOD(FaultFixture, "a failed sync makes nothing durable",
                 "[storage][fault_injection]") {
  const std::string path = dir_.File("a");
  auto file = Create(path);
  REQUIRE(fs_.SyncDir(dir_.path()).ok());
  Write(*file, "abc");
  fs_.FailNth(Op::kSync, 1);
  CHECK(absl::IsInternal(file->Sync()));
  CHECK(fs_.SyncedSize(path) == 0u);
  file.reset();
  REQUIRE(fs_.DropUnsyncedData().ok());
  CHECK(FileSizeOf(path) == 0);
}

TEST_CASE_METHOD(FaultFixture, "a torn append writes only a prefix and fails",
                 "[storage][fault_injection]") {
  const std::string path = dir_.File("a");
  auto file = Create(path);
  fs_.TearNextAppend(3);
  CHECK(absl::IsInternal(file->Append(Bytes("abcdef"))));
  CHECK(file->Size() == 3);
  CHECK(ReadWholeFile(path) == Bytes("abc"));
  CHECK(file->Append(Bytes("!")).ok());  // one-shot
}

TEST_CASE_METHOD(FaultFixture, "a failed rename changes nothing", "[storage][fault_injection]") {
  const std::string a = dir_.File("a");
  const std::string b = dir_.File("b");
  testing::WriteWholeFile(a, Bytes("x"));
  fs_.FailNth(Op::kRename, 1);
  CHECK(absl::IsInternal(fs_.RenameFile(a, b)));
  CHECK(*fs_.FileExists(a));
  CHECK_FALSE(*fs_.FileExists(b));
  CHECK(fs_.RenameFile(a, b).ok());
  CHECK(*fs_.FileExists(b));
}

TEST_CASE_METHOD(FaultFixture, "a renamed file keeps its durability state",
                 "[storage][fault_injection]") {
  const std::string a = dir_.File("a");
  const std::string b = dir_.File("b");
  auto file = Create(a);
  REQUIRE(fs_.SyncDir(dir_.path()).ok());
  Write(*file, "keep");
  REQUIRE(file->Sync().ok());
  Write(*file, "drop");
  file.reset();
  REQUIRE(fs_.RenameFile(a, b).ok());
  CHECK(fs_.SyncedSize(b) == 4u);
  REQUIRE(fs_.DropUnsyncedData().ok());
  CHECK(ReadWholeFile(b) == Bytes("keep"));
}

TEST_CASE_METHOD(FaultFixture, "read, truncate and directory sync faults are injected too",
                 "[storage][fault_injection]") {
  const std::string path = dir_.File("a");
  auto file = Create(path);
  Write(*file, "abcdef");
  fs_.FailNth(Op::kTruncate, 1);
  CHECK(absl::IsInternal(file->Truncate(1)));
  fs_.FailNth(Op::kSyncDir, 1);
  CHECK(absl::IsInternal(fs_.SyncDir(dir_.path())));
  auto reader = fs_.NewRandomAccessFile(path);
  REQUIRE(reader.ok());
  std::vector<uint8_t> out(6);
  fs_.FailNth(Op::kRead, 1);
  CHECK(absl::IsInternal((*reader)->Read(0, out).status()));
  auto got = (*reader)->Read(0, out);
  REQUIRE(got.ok());
  CHECK(out == Bytes("abcdef"));
  fs_.FailNth(Op::kAppend, 1);
  fs_.ClearFaults();
  CHECK(file->Append(Bytes("g")).ok());
}

TEST_CASE_METHOD(FaultFixture, "a truncate below the durable size lowers it",
                 "[storage][fault_injection]") {
  const std::string path = dir_.File("a");
  auto file = Create(path);
  REQUIRE(fs_.SyncDir(dir_.path()).ok());
  Write(*file, "abcdef");
  REQUIRE(file->Sync().ok());
  REQUIRE(file->Truncate(2).ok());
  CHECK(fs_.SyncedSize(path) == 2u);
  Write(*file, "XY");
  file.reset();
  REQUIRE(fs_.DropUnsyncedData().ok());
  CHECK(ReadWholeFile(path) == Bytes("ab"));
}

}  // namespace
}  // namespace sealpool::storage
