// PosixFileSystem: the real seam, against a temporary directory.
#include "storage/store/file_system.h"

#include <catch2/catch.hpp>
#include <cerrno>

#include "test/storage/store/store_test_util.h"
#include "test/test_util.h"

namespace sealpool::storage {
namespace {

using testing::TempDir;

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

class FileSystemFixture {
 public:
  // Writes `data` to a new file and syncs it.
  void Write(const std::string& path, const std::vector<uint8_t>& data) {
    auto file = fs_.NewWritableFile(path, OpenMode::kCreateOrTruncate);
    REQUIRE(file.ok());
    REQUIRE((*file)->Append(data).ok());
    REQUIRE((*file)->Sync().ok());
    REQUIRE((*file)->Close().ok());
  }
  std::vector<uint8_t> Read(const std::string& path, uint64_t offset, size_t n) {
    auto file = fs_.NewRandomAccessFile(path);
    REQUIRE(file.ok());
    std::vector<uint8_t> out(n);
    auto got = (*file)->Read(offset, out);
    REQUIRE(got.ok());
    out.resize(*got);
    return out;
  }

  TempDir dir_;
  PosixFileSystem fs_;
};

TEST_CASE_METHOD(FileSystemFixture, "an appended file reads back what was written",
                 "[storage][file_system]") {
  const std::string path = dir_.File("a");
  auto file = fs_.NewWritableFile(path, OpenMode::kCreateExclusive);
  REQUIRE(file.ok());
  REQUIRE((*file)->Append(Bytes("hello ")).ok());
  REQUIRE((*file)->Append(Bytes("world")).ok());
  CHECK((*file)->Size() == 11);
  REQUIRE((*file)->Sync().ok());
  REQUIRE((*file)->Close().ok());

  CHECK(Read(path, 0, 11) == Bytes("hello world"));
  CHECK(Read(path, 6, 5) == Bytes("world"));
  CHECK(Read(path, 6, 100) == Bytes("world"));  // short only at the end
  CHECK(Read(path, 11, 4).empty());
  CHECK(Read(path, 1000, 4).empty());
  auto size = fs_.GetFileSize(path);
  REQUIRE(size.ok());
  CHECK(*size == 11);
}

TEST_CASE_METHOD(FileSystemFixture, "a large append is written whole", "[storage][file_system]") {
  const std::string path = dir_.File("big");
  std::vector<uint8_t> data = test::PseudoRandomBytes(6 << 20, 42);
  Write(path, data);
  CHECK(Read(path, 0, data.size()) == data);
}

TEST_CASE_METHOD(FileSystemFixture, "opening an existing file appends at its end",
                 "[storage][file_system]") {
  const std::string path = dir_.File("a");
  Write(path, Bytes("abc"));
  auto file = fs_.NewWritableFile(path, OpenMode::kOpenExisting);
  REQUIRE(file.ok());
  CHECK((*file)->Size() == 3);
  REQUIRE((*file)->Append(Bytes("def")).ok());
  REQUIRE((*file)->Close().ok());
  CHECK(Read(path, 0, 10) == Bytes("abcdef"));
}

TEST_CASE_METHOD(FileSystemFixture, "exclusive create of an existing file is AlreadyExists",
                 "[storage][file_system]") {
  const std::string path = dir_.File("a");
  Write(path, Bytes("abc"));
  auto file = fs_.NewWritableFile(path, OpenMode::kCreateExclusive);
  CHECK(absl::IsAlreadyExists(file.status()));
  CHECK(Read(path, 0, 10) == Bytes("abc"));
}

TEST_CASE_METHOD(FileSystemFixture, "opening a missing file is NotFound naming the path",
                 "[storage][file_system]") {
  const std::string path = dir_.File("missing");
  auto writable = fs_.NewWritableFile(path, OpenMode::kOpenExisting);
  CHECK(absl::IsNotFound(writable.status()));
  CHECK(writable.status().message().find(path) != absl::string_view::npos);
  CHECK(absl::IsNotFound(fs_.NewRandomAccessFile(path).status()));
  CHECK(absl::IsNotFound(fs_.GetFileSize(path).status()));
  CHECK(absl::IsNotFound(fs_.RemoveFile(path)));
}

TEST_CASE_METHOD(FileSystemFixture, "truncate cuts a file and refuses to grow it",
                 "[storage][file_system]") {
  const std::string path = dir_.File("a");
  auto file = fs_.NewWritableFile(path, OpenMode::kCreateExclusive);
  REQUIRE(file.ok());
  REQUIRE((*file)->Append(Bytes("abcdef")).ok());
  REQUIRE((*file)->Truncate(2).ok());
  CHECK((*file)->Size() == 2);
  CHECK(absl::IsInvalidArgument((*file)->Truncate(3)));
  REQUIRE((*file)->Append(Bytes("XY")).ok());
  REQUIRE((*file)->Close().ok());
  CHECK(Read(path, 0, 10) == Bytes("abXY"));
}

TEST_CASE_METHOD(FileSystemFixture, "a closed file refuses appends and syncs",
                 "[storage][file_system]") {
  auto file = fs_.NewWritableFile(dir_.File("a"), OpenMode::kCreateExclusive);
  REQUIRE(file.ok());
  REQUIRE((*file)->Close().ok());
  CHECK(absl::IsFailedPrecondition((*file)->Append(Bytes("x"))));
  CHECK(absl::IsFailedPrecondition((*file)->Sync()));
  CHECK((*file)->Close().ok());  // closing twice is harmless
}

TEST_CASE_METHOD(FileSystemFixture, "rename replaces the target and remove deletes",
                 "[storage][file_system]") {
  const std::string a = dir_.File("a");
  const std::string b = dir_.File("b");
  Write(a, Bytes("new"));
  Write(b, Bytes("old"));
  REQUIRE(fs_.RenameFile(a, b).ok());
  CHECK(*fs_.FileExists(a) == false);
  CHECK(Read(b, 0, 10) == Bytes("new"));
  REQUIRE(fs_.SyncDir(dir_.path()).ok());
  REQUIRE(fs_.RemoveFile(b).ok());
  CHECK(*fs_.FileExists(b) == false);
  CHECK(absl::IsNotFound(fs_.RenameFile(a, b)));
}

TEST_CASE_METHOD(FileSystemFixture, "a directory lists its names sorted without dot entries",
                 "[storage][file_system]") {
  const std::string sub = dir_.File("sub");
  REQUIRE(fs_.CreateDir(sub).ok());
  REQUIRE(fs_.CreateDir(sub).ok());  // already there: fine
  Write(sub + "/c", Bytes("1"));
  Write(sub + "/a", Bytes("2"));
  Write(sub + "/b", Bytes("3"));
  auto names = fs_.ListDir(sub);
  REQUIRE(names.ok());
  CHECK(*names == std::vector<std::string>{"a", "b", "c"});
  REQUIRE(fs_.SyncDir(sub).ok());
  CHECK(absl::IsNotFound(fs_.ListDir(dir_.File("nope")).status()));
  CHECK(absl::IsNotFound(fs_.SyncDir(dir_.File("nope"))));
  // A file where a directory should be.
  CHECK_FALSE(fs_.CreateDir(sub + "/a").ok());
}

TEST_CASE_METHOD(FileSystemFixture,
                 "a second lock on the same file fails until the first is "
                 "released",
                 "[storage][file_system]") {
  const std::string path = dir_.File("LOCK");
  auto first = fs_.LockFile(path);
  REQUIRE(first.ok());
  auto second = fs_.LockFile(path);
  CHECK(absl::IsFailedPrecondition(second.status()));
  CHECK(second.status().message().find(path) != absl::string_view::npos);
  first->reset();
  auto third = fs_.LockFile(path);
  CHECK(third.ok());
}

TEST_CASE("errno values map to specific status codes", "[storage][file_system]") {
  CHECK(absl::IsNotFound(ErrnoToStatus("open", "/x", ENOENT)));
  CHECK(absl::IsAlreadyExists(ErrnoToStatus("open", "/x", EEXIST)));
  CHECK(absl::IsPermissionDenied(ErrnoToStatus("open", "/x", EACCES)));
  CHECK(absl::IsPermissionDenied(ErrnoToStatus("open", "/x", EROFS)));
  CHECK(absl::IsResourceExhausted(ErrnoToStatus("write", "/x", ENOSPC)));
  absl::Status eio = ErrnoToStatus("write", "/pool/c1", EIO);
  CHECK(absl::IsInternal(eio));
  CHECK(eio.message() == "write /pool/c1: Input/output error");
}

TEST_CASE("DirName gives the directory to sync after a create", "[storage][file_system]") {
  CHECK(DirName("/pool/containers/c1") == "/pool/containers");
  CHECK(DirName("c1") == ".");
  CHECK(DirName("/c1") == "/");
}

}  // namespace
}  // namespace sealpool::storage
