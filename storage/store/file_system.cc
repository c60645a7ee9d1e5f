#include "storage/store/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace sealpool::storage {

absl::Status ErrnoToStatus(std::string_view operation, std::string_view path, int error_number) {
  std::string message = absl::StrCat(base::AbslView(operation), " ", base::AbslView(path),
                                     ": ", std::strerror(error_number));
  switch (error_number) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(message);
    case EEXIST:
      return absl::AlreadyExistsError(message);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

namespace {

// Closes `fd` once; EINTR on close is not retried (Linux has already released the descriptor).
int CloseFd(int fd) { return ::close(fd); }

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) (void)CloseFd(fd_);  // Errors ignored on purpose: Close() reports them.
  }

  absl::Status Append(std::span<const uint8_t> data) override {
    if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat("append ", path_, ": closed"));
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n =
          ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(size_ + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        size_ += done;  // What was written is in the file.
        return ErrnoToStatus("write", path_, errno);
      }
      done += static_cast<size_t>(n);
    }
    size_ += done;
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (fd_ < 0) return absl::FailedPreconditionError(absl::StrCat("sync ", path_, ": closed"));
    while (::fdatasync(fd_) != 0) {
      if (errno != EINTR) return ErrnoToStatus("fdatasync", path_, errno);
    }
    return absl::OkStatus();
  }

  absl::Status Truncate(uint64_t size) override {
    if (fd_ < 0) {
      return absl::FailedPreconditionError(absl::StrCat("truncate ", path_, ": closed"));
    }
    if (size > size_) {
      return absl::InvalidArgumentError(
          absl::StrCat("truncate ", path_, " to ", size, ": larger than its size ", size_));
    }
    while (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      if (errno != EINTR) return ErrnoToStatus("ftruncate", path_, errno);
    }
    size_ = size;
    return absl::OkStatus();
  }

  absl::Status Close() override {
    if (fd_ < 0) return absl::OkStatus();
    int fd = std::exchange(fd_, -1);
    if (CloseFd(fd) != 0 && errno != EINTR) return ErrnoToStatus("close", path_, errno);
    return absl::OkStatus();
  }

  uint64_t Size() const override { return size_; }
  const std::string& path() const override { return path_; }

 private:
  const std::string path_;
  int fd_;
  uint64_t size_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixRandomAccessFile() override { (void)CloseFd(fd_); }  // Nothing to report on a reader.

  absl::StatusOr<size_t> Read(uint64_t offset, std::span<uint8_t> out) const override {
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n =
          ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoToStatus(absl::StrCat("read at ", offset + done, " of"), path_, errno);
      }
      if (n == 0) break;  // End of file.
      done += static_cast<size_t>(n);
    }
    return done;
  }

  absl::StatusOr<uint64_t> Size() const override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return ErrnoToStatus("fstat", path_, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  const std::string& path() const override { return path_; }

 private:
  const std::string path_;
  const int fd_;
};

class PosixFileLock final : public FileLock {
 public:
  PosixFileLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixFileLock() override { (void)CloseFd(fd_); }  // Closing releases the flock.
  const std::string& path() const override { return path_; }

 private:
  const std::string path_;
  const int fd_;
};

// open(2) with EINTR retried.
int OpenRetrying(const std::string& path, int flags, mode_t mode = 0) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

constexpr mode_t kFileMode = 0640;
constexpr mode_t kDirMode = 0750;

}  // namespace

absl::StatusOr<std::unique_ptr<WritableFile>> PosixFileSystem::NewWritableFile(
    const std::string& path, OpenMode mode) {
  int flags = O_WRONLY;
  switch (mode) {
    case OpenMode::kCreateExclusive:
      flags |= O_CREAT | O_EXCL;
      break;
    case OpenMode::kOpenExisting:
      break;
    case OpenMode::kCreateOrTruncate:
      flags |= O_CREAT | O_TRUNC;
      break;
  }
  int fd = OpenRetrying(path, flags, kFileMode);
  if (fd < 0) return ErrnoToStatus("open for writing", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    absl::Status status = ErrnoToStatus("fstat", path, errno);
    (void)CloseFd(fd);  // The fstat error is the one to report.
    return status;
  }
  return std::make_unique<PosixWritableFile>(path, fd, static_cast<uint64_t>(st.st_size));
}

absl::StatusOr<std::unique_ptr<RandomAccessFile>> PosixFileSystem::NewRandomAccessFile(
    const std::string& path) {
  int fd = OpenRetrying(path, O_RDONLY);
  if (fd < 0) return ErrnoToStatus("open for reading", path, errno);
  return std::make_unique<PosixRandomAccessFile>(path, fd);
}

absl::Status PosixFileSystem::RenameFile(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoToStatus(absl::StrCat("rename to ", to, " from"), from, errno);
  }
  return absl::OkStatus();
}

absl::Status PosixFileSystem::RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return ErrnoToStatus("remove", path, errno);
  return absl::OkStatus();
}

absl::StatusOr<bool> PosixFileSystem::FileExists(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) return true;
  if (errno == ENOENT || errno == ENOTDIR) return false;
  return ErrnoToStatus("stat", path, errno);
}

absl::StatusOr<uint64_t> PosixFileSystem::GetFileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoToStatus("stat", path, errno);
  return static_cast<uint64_t>(st.st_size);
}

absl::StatusOr<std::vector<std::string>> PosixFileSystem::ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoToStatus("list directory", dir, errno);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* entry = ::readdir(d)) {
    std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  int error = errno;
  ::closedir(d);
  if (error != 0) return ErrnoToStatus("list directory", dir, error);
  std::sort(names.begin(), names.end());
  return names;
}

absl::Status PosixFileSystem::CreateDir(const std::string& dir) {
  if (::mkdir(dir.c_str(), kDirMode) == 0) return absl::OkStatus();
  int error = errno;
  struct stat st;
  if (error == EEXIST && ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    return absl::OkStatus();
  }
  return ErrnoToStatus("create directory", dir, error);
}

absl::Status PosixFileSystem::SyncDir(const std::string& dir) {
  int fd = OpenRetrying(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return ErrnoToStatus("open directory", dir, errno);
  absl::Status status;
  while (::fsync(fd) != 0) {
    if (errno != EINTR) {
      status = ErrnoToStatus("fsync directory", dir, errno);
      break;
    }
  }
  (void)CloseFd(fd);  // A read-only descriptor: nothing to report.
  return status;
}

absl::StatusOr<std::unique_ptr<FileLock>> PosixFileSystem::LockFile(const std::string& path) {
  int fd = OpenRetrying(path, O_RDWR | O_CREAT, kFileMode);
  if (fd < 0) return ErrnoToStatus("open lock file", path, errno);
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    int error = errno;
    (void)CloseFd(fd);  // The lock error is the one to report.
    if (error == EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("lock ", path, ": already locked (is another process using it?)"));
    }
    return ErrnoToStatus("lock", path, error);
  }
  return std::make_unique<PosixFileLock>(path, fd);
}

FileSystem* DefaultFileSystem() {
  static FileSystem* const fs = new PosixFileSystem();
  return fs;
}

}  // namespace sealpool::storage
