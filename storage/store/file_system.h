// The file-system seam of storage/: every byte the segment store reads or writes on a local
// disk goes through a FileSystem, so that tests can drop unsynced data or fail a write
// (FaultInjectionFileSystem) and so that another backend can come later.
//
// Deliberately small (leveldb's Env without threads and clocks). Paths are plain strings; the
// interface does not resolve or normalise them.
//
// Errors (every message names the operation, the path and, for a real error, strerror):
//   NotFound            the file or directory does not exist (ENOENT)
//   AlreadyExists       exclusive create of a file that exists (EEXIST)
//   PermissionDenied    EACCES, EPERM, EROFS
//   ResourceExhausted   the disk or a quota is full (ENOSPC, EDQUOT, EFBIG)
//   FailedPrecondition  LockFile: another holder has the lock
//   Internal            any other I/O error (EIO, ...): the disk or the kernel refused an
//                       operation; not transient, do not retry blindly. Injected faults use it too.
//
// Thread safety: a FileSystem is thread-safe. A WritableFile is not (one writer at a time); a
// RandomAccessFile is (Read is positional).
#ifndef SEALPOOL_STORAGE_STORE_FILE_SYSTEM_H_
#define SEALPOOL_STORAGE_STORE_FILE_SYSTEM_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sealpool::storage {

// A file open for appending. Bytes passed to Append are in the OS page cache when it returns
// and durable only after Sync returns OK. After any error the content past the last successful
// Sync is unknown (Linux may drop dirty pages on a failed fsync), so callers treat an error as
// final for this file object.
class WritableFile {
 public:
  virtual ~WritableFile() = default;

  // Appends `data` at the end of the file (handles short writes and EINTR).
  [[nodiscard]] virtual absl::Status Append(std::span<const uint8_t> data) = 0;
  // Makes every appended byte and the file size durable (fdatasync).
  [[nodiscard]] virtual absl::Status Sync() = 0;
  // Cuts the file to `size` bytes (must be <= Size()); durable after the next Sync.
  [[nodiscard]] virtual absl::Status Truncate(uint64_t size) = 0;
  // Closes the file without syncing; further calls fail. The destructor closes too, silently.
  [[nodiscard]] virtual absl::Status Close() = 0;
  // The file's size including unsynced appends.
  virtual uint64_t Size() const = 0;
  virtual const std::string& path() const = 0;
};

// A file open for positional reads.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;

  // Reads up to out.size() bytes at `offset` into `out` (handles short reads and EINTR);
  // returns how many were read, fewer only at end of file (0 at or past the end).
  [[nodiscard]] virtual absl::StatusOr<size_t> Read(uint64_t offset,
                                                    std::span<uint8_t> out) const = 0;
  // The file's current size (it may grow while a writer appends).
  [[nodiscard]] virtual absl::StatusOr<uint64_t> Size() const = 0;
  virtual const std::string& path() const = 0;
};

// An exclusive advisory lock (flock) on a file, held until the object is destroyed. Two locks on
// the same file conflict even inside one process.
class FileLock {
 public:
  virtual ~FileLock() = default;
  virtual const std::string& path() const = 0;
};

// How NewWritableFile opens a file.
enum class OpenMode {
  kCreateExclusive,   // create; AlreadyExists if the file exists
  kOpenExisting,      // open for appending at its end; NotFound if it does not exist
  kCreateOrTruncate,  // create, or empty an existing file
};

class FileSystem {
 public:
  virtual ~FileSystem() = default;

  // A new file needs SyncDir(parent) before its existence is durable.
  [[nodiscard]] virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path, OpenMode mode) = 0;
  [[nodiscard]] virtual absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;

  // Atomically replaces `to` with `from`; durable after SyncDir of the parent(s).
  [[nodiscard]] virtual absl::Status RenameFile(const std::string& from, const std::string& to) = 0;
  [[nodiscard]] virtual absl::Status RemoveFile(const std::string& path) = 0;
  [[nodiscard]] virtual absl::StatusOr<bool> FileExists(const std::string& path) = 0;
  [[nodiscard]] virtual absl::StatusOr<uint64_t> GetFileSize(const std::string& path) = 0;

  // Names (not paths) of the entries of `dir`, without "." and "..", sorted.
  [[nodiscard]] virtual absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& dir) = 0;
  // Creates `dir` (not its parents); OK if it already exists as a directory.
  [[nodiscard]] virtual absl::Status CreateDir(const std::string& dir) = 0;
  // Makes the directory's entries (creates, renames, removes) durable (fsync on the directory).
  [[nodiscard]] virtual absl::Status SyncDir(const std::string& dir) = 0;

  // Creates `path` if needed and takes an exclusive lock on it without waiting.
  // FailedPrecondition if someone (this process included) already holds it.
  [[nodiscard]] virtual absl::StatusOr<std::unique_ptr<FileLock>> LockFile(
      const std::string& path) = 0;
};

// The local POSIX file system (pread/pwrite/fdatasync, every descriptor O_CLOEXEC).
class PosixFileSystem final : public FileSystem {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                                OpenMode mode) override;
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override;
  absl::Status RenameFile(const std::string& from, const std::string& to) override;
  absl::Status RemoveFile(const std::string& path) override;
  absl::StatusOr<bool> FileExists(const std::string& path) override;
  absl::StatusOr<uint64_t> GetFileSize(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override;
  absl::Status CreateDir(const std::string& dir) override;
  absl::Status SyncDir(const std::string& dir) override;
  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path) override;
};

// The process-wide PosixFileSystem (never destroyed).
FileSystem* DefaultFileSystem();

// The status for a failed system call: the code from the errno mapping above and the message
// "<operation> <path>: <strerror>".
absl::Status ErrnoToStatus(std::string_view operation, std::string_view path, int error_number);

// The directory part of `path` ("." when it has none): what SyncDir needs after a create.
std::string DirName(const std::string& path);

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_STORE_FILE_SYSTEM_H_
