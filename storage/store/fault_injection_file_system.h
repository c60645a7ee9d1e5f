// A FileSystem wrapper for crash and failure tests (a real class, so that tests of every later
// storage layer reuse it). It forwards to a base FileSystem and
//   - remembers, per file written through it, how many bytes are durable (the size at its last
//     successful Sync) and whether its creation is durable (a SyncDir of its directory since);
//   - DropUnsyncedData() does to the base what a power cut would: every file is cut back to its
//     durable size and every file whose creation was never made durable is removed;
//   - FailNth(op, n) makes the n-th next call of `op` fail with an injected Internal error (the
//     code PosixFileSystem gives EIO) whose message contains "injected";
//   - TearNextAppend(k) makes the next Append write only its first k bytes and then fail, as a
//     crash or a full disk in the middle of a write would.
//
// Model limits: renames and removes are applied to the base at once and are not undone by
// DropUnsyncedData; a failed Sync makes nothing durable (as Linux may drop the dirty pages).
// Files opened before this wrapper saw them are taken as durable at their size on open.
//
// Thread safety: thread-safe. Call DropUnsyncedData only when no file opened through this
// wrapper is still written (destroy the writers first: that is the crash).
#ifndef SEALPOOL_STORAGE_STORE_FAULT_INJECTION_FILE_SYSTEM_H_
#define SEALPOOL_STORAGE_STORE_FAULT_INJECTION_FILE_SYSTEM_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "storage/store/file_system.h"

namespace sealpool::storage {

class FaultInjectionFileSystem final : public FileSystem {
 public:
  enum class Op { kAppend, kSync, kTruncate, kRename, kRead, kSyncDir };

  // `base` must outlive this object.
  explicit FaultInjectionFileSystem(FileSystem* base) : base_(base) {}

  // Fails the n-th next call of `op` (n = 1: the very next one), once. Replaces an earlier
  // FailNth for the same op; n = 0 cancels it.
  void FailNth(Op op, uint64_t n);
  // The next Append writes only its first `keep_bytes` bytes (fewer if the data is shorter)
  // and fails with an injected error.
  void TearNextAppend(uint64_t keep_bytes);
  // Cancels every pending FailNth and TearNextAppend.
  void ClearFaults();

  // Cuts every tracked file back to its durable size and removes every tracked file whose
  // creation is not durable; then forgets what it removed. Returns the first error of the base.
  [[nodiscard]] absl::Status DropUnsyncedData();

  // Durable size of a tracked file (nullopt if untracked), for tests.
  std::optional<uint64_t> SyncedSize(const std::string& path) const;
  // How many faults have fired so far.
  uint64_t faults_injected() const;

  // FileSystem:
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

 private:
  friend class FaultInjectionWritableFile;
  friend class FaultInjectionRandomAccessFile;

  struct FileState {
    uint64_t size = 0;         // what the base file holds now
    uint64_t synced_size = 0;  // what survives a power cut
    bool creation_synced = true;
  };

  // Counts a call of `op`; returns the injected error if this call is the one to fail.
  absl::Status MaybeFail(Op op, const std::string& path) ABSL_LOCKS_EXCLUDED(mu_);
  // Pending torn append, consumed by this call.
  std::optional<uint64_t> TakeTear() ABSL_LOCKS_EXCLUDED(mu_);
  void OnAppended(const std::string& path, uint64_t new_size) ABSL_LOCKS_EXCLUDED(mu_);
  void OnSynced(const std::string& path, uint64_t size) ABSL_LOCKS_EXCLUDED(mu_);
  void OnTruncated(const std::string& path, uint64_t size) ABSL_LOCKS_EXCLUDED(mu_);

  FileSystem* const base_;

  mutable absl::Mutex mu_;
  std::map<std::string, FileState> files_ ABSL_GUARDED_BY(mu_);
  std::map<Op, uint64_t> fail_countdown_ ABSL_GUARDED_BY(mu_);
  std::optional<uint64_t> tear_keep_bytes_ ABSL_GUARDED_BY(mu_);
  uint64_t faults_injected_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_STORE_FAULT_INJECTION_FILE_SYSTEM_H_
