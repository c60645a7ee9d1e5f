#include "storage/store/fault_injection_file_system.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace sealpool::storage {

namespace {

const char* OpName(FaultInjectionFileSystem::Op op) {
  switch (op) {
    case FaultInjectionFileSystem::Op::kAppend:
      return "append";
    case FaultInjectionFileSystem::Op::kSync:
      return "sync";
    case FaultInjectionFileSystem::Op::kTruncate:
      return "truncate";
    case FaultInjectionFileSystem::Op::kRename:
      return "rename";
    case FaultInjectionFileSystem::Op::kRead:
      return "read";
    case FaultInjectionFileSystem::Op::kSyncDir:
      return "sync directory";
  }
  return "?";
}

}  // namespace

// Defined in the named namespace because FaultInjectionFileSystem befriends them.
class FaultInjectionWritableFile final : public WritableFile {
 public:
  FaultInjectionWritableFile(FaultInjectionFileSystem* fs, std::unique_ptr<WritableFile> base)
      : fs_(fs), base_(std::move(base)) {}

  absl::Status Append(std::span<const uint8_t> data) override {
    if (std::optional<uint64_t> keep = fs_->TakeTear()) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(*keep, data.size()));
      absl::Status status = base_->Append(data.first(n));
      fs_->OnAppended(path(), base_->Size());
      if (!status.ok()) return status;
      return absl::InternalError(absl::StrCat("append ", path(), ": injected torn write (", n,
                                              " of ", data.size(), " bytes written)"));
    }
    if (absl::Status status = fs_->MaybeFail(FaultInjectionFileSystem::Op::kAppend, path());
        !status.ok()) {
      return status;
    }
    absl::Status status = base_->Append(data);
    fs_->OnAppended(path(), base_->Size());
    return status;
  }

  absl::Status Sync() override {
    if (absl::Status status = fs_->MaybeFail(FaultInjectionFileSystem::Op::kSync, path());
        !status.ok()) {
      return status;
    }
    absl::Status status = base_->Sync();
    if (status.ok()) fs_->OnSynced(path(), base_->Size());
    return status;
  }

  absl::Status Truncate(uint64_t size) override {
    if (absl::Status status = fs_->MaybeFail(FaultInjectionFileSystem::Op::kTruncate, path());
        !status.ok()) {
      return status;
    }
    absl::Status status = base_->Truncate(size);
    if (status.ok()) fs_->OnTruncated(path(), size);
    return status;
  }

  absl::Status Close() override { return base_->Close(); }
  uint64_t Size() const override { return base_->Size(); }
  const std::string& path() const override { return base_->path(); }

 private:
  FaultInjectionFileSystem* const fs_;
  const std::unique_ptr<WritableFile> base_;
};

class FaultInjectionRandomAccessFile final : public RandomAccessFile {
 public:
  FaultInjectionRandomAccessFile(FaultInjectionFileSystem* fs,
                                 std::unique_ptr<RandomAccessFile> base)
      : fs_(fs), base_(std::move(base)) {}

  absl::StatusOr<size_t> Read(uint64_t offset, std::span<uint8_t> out) const override {
    if (absl::Status status = fs_->MaybeFail(FaultInjectionFileSystem::Op::kRead, path());
        !status.ok()) {
      return status;
    }
    return base_->Read(offset, out);
  }
  absl::StatusOr<uint64_t> Size() const override { return base_->Size(); }
  const std::string& path() const override { return base_->path(); }

 private:
  FaultInjectionFileSystem* const fs_;
  const std::unique_ptr<RandomAccessFile> base_;
};

void FaultInjectionFileSystem::FailNth(Op op, uint64_t n) {
  absl::MutexLock lock(&mu_);
  if (n == 0) {
    fail_countdown_.erase(op);
  } else {
    fail_countdown_[op] = n;
  }
}

void FaultInjectionFileSystem::TearNextAppend(uint64_t keep_bytes) {
  absl::MutexLock lock(&mu_);
  tear_keep_bytes_ = keep_bytes;
}

void FaultInjectionFileSystem::ClearFaults() {
  absl::MutexLock lock(&mu_);
  fail_countdown_.clear();
  tear_keep_bytes_.reset();
}

absl::Status FaultInjectionFileSystem::MaybeFail(Op op, const std::string& path) {
  absl::MutexLock lock(&mu_);
  auto it = fail_countdown_.find(op);
  if (it == fail_countdown_.end()) return absl::OkStatus();
  if (--it->second > 0) return absl::OkStatus();
  fail_countdown_.erase(it);
  ++faults_injected_;
  return absl::InternalError(absl::StrCat(OpName(op), " ", path, ": injected I/O error"));
}

std::optional<uint64_t> FaultInjectionFileSystem::TakeTear() {
  absl::MutexLock lock(&mu_);
  std::optional<uint64_t> keep = std::exchange(tear_keep_bytes_, std::nullopt);
  if (keep) ++faults_injected_;
  return keep;
}

void FaultInjectionFileSystem::OnAppended(const std::string& path, uint64_t new_size) {
  absl::MutexLock lock(&mu_);
  files_[path].size = new_size;
}

void FaultInjectionFileSystem::OnSynced(const std::string& path, uint64_t size) {
  absl::MutexLock lock(&mu_);
  FileState& state = files_[path];
  state.size = size;
  state.synced_size = size;
}

void FaultInjectionFileSystem::OnTruncated(const std::string& path, uint64_t size) {
  absl::MutexLock lock(&mu_);
  FileState& state = files_[path];
  state.size = size;
  state.synced_size = std::min(state.synced_size, size);
}

absl::Status FaultInjectionFileSystem::DropUnsyncedData() {
  absl::MutexLock lock(&mu_);
  absl::Status first_error;
  for (auto it = files_.begin(); it != files_.end();) {
    const std::string& path = it->first;
    FileState& state = it->second;
    if (!state.creation_synced) {
      absl::Status status = base_->RemoveFile(path);
      if (!status.ok() && !absl::IsNotFound(status)) first_error.Update(status);
      it = files_.erase(it);
      continue;
    }
    if (state.size > state.synced_size) {
      absl::StatusOr<std::unique_ptr<WritableFile>> file =
          base_->NewWritableFile(path, OpenMode::kOpenExisting);
      absl::Status status = file.status();
      if (status.ok()) status = (*file)->Truncate(state.synced_size);
      if (status.ok()) status = (*file)->Close();
      if (!status.ok()) first_error.Update(status);
      state.size = state.synced_size;
    }
    ++it;
  }
  return first_error;
}

std::optional<uint64_t> FaultInjectionFileSystem::SyncedSize(const std::string& path) const {
  absl::MutexLock lock(&mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return std::nullopt;
  return it->second.synced_size;
}

uint64_t FaultInjectionFileSystem::faults_injected() const {
  absl::MutexLock lock(&mu_);
  return faults_injected_;
}

absl::StatusOr<std::unique_ptr<WritableFile>> FaultInjectionFileSystem::NewWritableFile(
    const std::string& path, OpenMode mode) {
  absl::StatusOr<bool> existed = base_->FileExists(path);
  if (!existed.ok()) return existed.status();
  absl::StatusOr<std::unique_ptr<WritableFile>> file = base_->NewWritableFile(path, mode);
  if (!file.ok()) return file.status();
  {
    absl::MutexLock lock(&mu_);
    auto [it, inserted] = files_.try_emplace(path);
    FileState& state = it->second;
    if (inserted) {
      // A file we never saw: what it holds now is taken as durable.
      state.synced_size = (*file)->Size();
      state.creation_synced = *existed;
    }
    state.size = (*file)->Size();
    // Emptying a file is not durable until the next Sync; keep the old durable size.
  }
  return std::unique_ptr<WritableFile>(
      std::make_unique<FaultInjectionWritableFile>(this, *std::move(file)));
}

absl::StatusOr<std::unique_ptr<RandomAccessFile>> FaultInjectionFileSystem::NewRandomAccessFile(
    const std::string& path) {
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> file = base_->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  return std::unique_ptr<RandomAccessFile>(
      std::make_unique<FaultInjectionRandomAccessFile>(this, *std::move(file)));
}

absl::Status FaultInjectionFileSystem::RenameFile(const std::string& from, const std::string& to) {
  if (absl::Status status = MaybeFail(Op::kRename, from); !status.ok()) return status;
  absl::Status status = base_->RenameFile(from, to);
  if (!status.ok()) return status;
  absl::MutexLock lock(&mu_);
  files_.erase(to);
  if (auto node = files_.extract(from)) {
    node.key() = to;
    files_.insert(std::move(node));
  }
  return status;
}

absl::Status FaultInjectionFileSystem::RemoveFile(const std::string& path) {
  absl::Status status = base_->RemoveFile(path);
  if (status.ok()) {
    absl::MutexLock lock(&mu_);
    files_.erase(path);
  }
  return status;
}

absl::StatusOr<bool> FaultInjectionFileSystem::FileExists(const std::string& path) {
  return base_->FileExists(path);
}

absl::StatusOr<uint64_t> FaultInjectionFileSystem::GetFileSize(const std::string& path) {
  return base_->GetFileSize(path);
}

absl::StatusOr<std::vector<std::string>> FaultInjectionFileSystem::ListDir(const std::string& dir) {
  return base_->ListDir(dir);
}

absl::Status FaultInjectionFileSystem::CreateDir(const std::string& dir) {
  return base_->CreateDir(dir);
}

absl::Status FaultInjectionFileSystem::SyncDir(const std::string& dir) {
  if (absl::Status status = MaybeFail(Op::kSyncDir, dir); !status.ok()) return status;
  absl::Status status = base_->SyncDir(dir);
  if (!status.ok()) return status;
  absl::MutexLock lock(&mu_);
  for (auto& [path, state] : files_) {
    if (DirName(path) == dir) state.creation_synced = true;
  }
  return status;
}

absl::StatusOr<std::unique_ptr<FileLock>> FaultInjectionFileSystem::LockFile(
    const std::string& path) {
  return base_->LockFile(path);
}

}  // namespace sealpool::storage
