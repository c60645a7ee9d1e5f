#include "storage/s3/s3_commit_log.h"

#include <fcntl.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace sealpool::storage::s3 {

namespace {

using base::Cat;

constexpr char kCommitMagic[8] = {'S', 'P', 'C', 'O', 'M', 'M', 'I', 'T'};
constexpr char kBackupMagic[8] = {'S', 'P', 'C', 'A', 'T', 'B', 'A', 'K'};
constexpr std::string_view kCommitExt = ".spk";
constexpr std::string_view kBackupExt = ".spb";

std::string Hex(const Id128& id) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

std::string Seq16(uint64_t seq) { return absl::StrFormat("%016x", seq); }

void PutLe(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>(static_cast<uint8_t>(v >> (8 * i))));
}

uint64_t GetLe(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes; i-- > 0;) v = (v << 8) | static_cast<uint8_t>(in[at + static_cast<size_t>(i)]);
  return v;
}

void PutHeader(std::string* out, const char (&magic)[8], uint16_t version, const Id128& pool_id,
               uint64_t seq) {
  out->append(magic, 8);
  PutLe(out, version, 2);
  PutLe(out, 0, 2);
  out->append(reinterpret_cast<const char*>(pool_id.data()), pool_id.size());
  PutLe(out, seq, 8);
}

void PutChecksum(std::string* out) {
  PutLe(out, XXH3_64bits(out->data(), out->size()), 8);
}

// Checks magic, version, checksum, pool id and sequence number of an object (what = "commit
// record <key>" / "catalog backup <key>"); returns the bytes between header and checksum.
absl::StatusOr<std::string_view> CheckObject(std::string_view object, const char (&magic)[8],
                                             uint16_t newest, size_t header_size,
                                             const Id128& pool_id, uint64_t seq,
                                             std::string_view what) {
  if (object.size() < header_size + 8) {
    return absl::DataLossError(Cat(what, ": truncated (", object.size(), " bytes, a header and ",
                                   "checksum take ", header_size + 8, ")"));
  }
  if (std::memcmp(object.data(), magic, 8) != 0) {
    return absl::DataLossError(Cat(what, ": bad magic (not a sealpool object of this kind)"));
  }
  const auto version = static_cast<uint16_t>(GetLe(object, 8, 2));
  if (version == 0) return absl::DataLossError(Cat(what, ": format version 0"));
  if (version > newest) {
    return absl::FailedPreconditionError(Cat(what, ": format version ", version,
                                             " written by a newer sealpool (this one reads ",
                                             newest, ")"));
  }
  const uint64_t stored = GetLe(object, object.size() - 8, 8);
  const uint64_t computed = XXH3_64bits(object.data(), object.size() - 8);
  if (stored != computed) {
    return absl::DataLossError(Cat(what, ": checksum mismatch (damaged or truncated; stored ",
                                   absl::StrFormat("%016x", stored), ", computed ",
                                   absl::StrFormat("%016x", computed), ")"));
  }
  Id128 found{};
  std::memcpy(found.data(), object.data() + 12, found.size());
  if (found != pool_id) {
    return absl::DataLossError(Cat(what, ": belongs to pool ", Hex(found), ", not ", Hex(pool_id)));
  }
  const uint64_t found_seq = GetLe(object, 28, 8);
  if (found_seq != seq) {
    return absl::DataLossError(Cat(what, ": holds sequence number ", found_seq, ", not ", seq));
  }
  return object.substr(header_size, object.size() - header_size - 8);
}

bool ValidFileName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
  });
}

absl::Status WriteFileSynced(const std::string& path, std::string_view bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(Cat("cannot create ", path, ": ", std::strerror(errno)));
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int e = errno;
      ::close(fd);
      return absl::InternalError(Cat("cannot write ", path, ": ", std::strerror(e)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    const int e = errno;
    ::close(fd);
    return absl::InternalError(Cat("cannot fsync ", path, ": ", std::strerror(e)));
  }
  ::close(fd);
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(Cat("cannot open ", path, ": ", std::strerror(errno)));
  std::string out;
  char buffer[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      return absl::InternalError(Cat("cannot read ", path, ": ", std::strerror(e)));
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace

std::string CommitRecordPrefix(std::string_view prefix, const Id128& pool_id) {
  return Cat(PoolFolder(prefix, pool_id), "commits/");
}
std::string CommitRecordKey(std::string_view prefix, const Id128& pool_id, uint64_t seq) {
  return Cat(CommitRecordPrefix(prefix, pool_id), Seq16(seq), kCommitExt);
}
std::string CatalogBackupPrefix(std::string_view prefix, const Id128& pool_id) {
  return Cat(PoolFolder(prefix, pool_id), "catalog-backups/");
}
std::string CatalogBackupKey(std::string_view prefix, const Id128& pool_id, uint64_t seq) {
  return Cat(CatalogBackupPrefix(prefix, pool_id), Seq16(seq), kBackupExt);
}

std::string EncodeCommitRecord(const Id128& pool_id, uint64_t seq, std::string_view batch) {
  std::string out;
  out.reserve(kCommitRecordHeaderSize + batch.size() + 8);
  PutHeader(&out, kCommitMagic, kCommitRecordVersion, pool_id, seq);
  PutLe(&out, batch.size(), 8);
  out.append(batch);
  PutChecksum(&out);
  return out;
}

absl::StatusOr<std::string> DecodeCommitRecord(std::string_view object, const Id128& pool_id,
                                               uint64_t seq) {
  const std::string what = Cat("commit record ", seq);
  SEALPOOL_ASSIGN_OR_RETURN(std::string_view body,
                            CheckObject(object, kCommitMagic, kCommitRecordVersion,
                                        kCommitRecordHeaderSize, pool_id, seq, what));
  const uint64_t length = GetLe(object, 36, 8);
  if (length != body.size()) {
    return absl::DataLossError(Cat(what, ": says ", length, " batch bytes, holds ", body.size()));
  }
  return std::string(body);
}

absl::StatusOr<std::string> EncodeCatalogBackup(const Id128& pool_id, uint64_t seq,
                                                const BackupFiles& files) {
  std::string out;
  PutHeader(&out, kBackupMagic, kCatalogBackupVersion, pool_id, seq);
  PutLe(&out, files.size(), 4);
  PutLe(&out, 0, 4);
  for (const auto& [name, bytes] : files) {
    if (!ValidFileName(name)) {
      return absl::InvalidArgumentError(
          Cat("catalog backup: file name \"", absl::CHexEscape(name), "\" not allowed"));
    }
    PutLe(&out, name.size(), 2);
    out.append(name);
    PutLe(&out, bytes.size(), 8);
    out.append(bytes);
  }
  PutChecksum(&out);
  return out;
}

absl::StatusOr<BackupFiles> DecodeCatalogBackup(std::string_view object, const Id128& pool_id,
                                                uint64_t seq) {
  const std::string what = Cat("catalog backup ", seq);
  SEALPOOL_ASSIGN_OR_RETURN(std::string_view body,
                            CheckObject(object, kBackupMagic, kCatalogBackupVersion,
                                        kCatalogBackupHeaderSize, pool_id, seq, what));
  const uint64_t count = GetLe(object, 36, 4);
  BackupFiles files;
  size_t at = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (body.size() - at < 2) return absl::DataLossError(Cat(what, ": file ", i, " truncated"));
    const size_t name_size = GetLe(body, at, 2);
    at += 2;
    if (body.size() - at < name_size + 8) {
      return absl::DataLossError(Cat(what, ": file ", i, " truncated"));
    }
    std::string name(body.substr(at, name_size));
    at += name_size;
    if (!ValidFileName(name)) {
      return absl::DataLossError(Cat(what, ": file ", i, " has a name that is not allowed"));
    }
    const uint64_t size = GetLe(body, at, 8);
    at += 8;
    if (body.size() - at < size) return absl::DataLossError(Cat(what, ": file ", name, " truncated"));
    for (const auto& f : files) {
      if (f.first == name) return absl::DataLossError(Cat(what, ": file ", name, " twice"));
    }
    files.emplace_back(std::move(name), std::string(body.substr(at, size)));
    at += size;
  }
  if (at != body.size()) {
    return absl::DataLossError(Cat(what, ": ", body.size() - at, " bytes after its files"));
  }
  return files;
}

// ---- S3CatalogLog ------------------------------------------------------------------------------

absl::Status S3CatalogLog::PutCommitRecord(uint64_t seq, std::string_view batch) {
  SEALPOOL_RETURN_IF_ERROR(CheckLease());
  const std::string object = EncodeCommitRecord(pool_id_, seq, batch);
  return client_->Put(CommitRecordKey(prefix_, pool_id_, seq),
                      {reinterpret_cast<const uint8_t*>(object.data()), object.size()});
}

absl::StatusOr<std::vector<uint64_t>> S3CatalogLog::ListNumbers(const std::string& folder,
                                                                std::string_view extension) {
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects, client_->List(folder));
  std::vector<uint64_t> numbers;
  for (const ObjectInfo& o : objects) {
    std::string_view name = o.key;
    name.remove_prefix(folder.size());  // the client refuses keys outside the prefix
    if (name.size() != 16 + extension.size() || !absl::EndsWith(base::AbslView(name), base::AbslView(extension))) continue;
    uint64_t n = 0;
    if (!absl::SimpleHexAtoi(base::AbslView(name.substr(0, 16)), &n)) continue;
    if (Seq16(n) != name.substr(0, 16)) continue;  // upper case or a sign: not ours
    numbers.push_back(n);
  }
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

absl::StatusOr<std::vector<uint64_t>> S3CatalogLog::ListCommitRecords() {
  return ListNumbers(CommitRecordPrefix(prefix_, pool_id_), kCommitExt);
}

absl::StatusOr<std::string> S3CatalogLog::GetCommitRecord(uint64_t seq) {
  const std::string key = CommitRecordKey(prefix_, pool_id_, seq);
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint8_t> object,
                            client_->GetObject(key, kMaxCommitRecordBytes));
  absl::StatusOr<std::string> batch = DecodeCommitRecord(
      {reinterpret_cast<const char*>(object.data()), object.size()}, pool_id_, seq);
  if (!batch.ok()) {
    return absl::Status(batch.status().code(), Cat(batch.status().message(), " (object ", key, ")"));
  }
  return batch;
}

absl::Status S3CatalogLog::DeleteCommitRecord(uint64_t seq) {
  SEALPOOL_RETURN_IF_ERROR(CheckLease());
  return client_->Delete(CommitRecordKey(prefix_, pool_id_, seq));
}

absl::Status S3CatalogLog::PutCatalogBackup(uint64_t seq, const std::string& checkpoint_dir) {
  BackupFiles files;
  std::error_code ec;
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(checkpoint_dir, ec)) {
    if (!entry.is_regular_file()) {
      return absl::FailedPreconditionError(
          Cat("catalog backup: ", entry.path().string(), " is not a regular file"));
    }
    paths.push_back(entry.path());
  }
  if (ec) return absl::InternalError(Cat("catalog backup: cannot list ", checkpoint_dir, ": ", ec.message()));
  std::sort(paths.begin(), paths.end());
  for (const auto& path : paths) {
    SEALPOOL_ASSIGN_OR_RETURN(std::string bytes, ReadWholeFile(path.string()));
    files.emplace_back(path.filename().string(), std::move(bytes));
  }
  SEALPOOL_ASSIGN_OR_RETURN(std::string object, EncodeCatalogBackup(pool_id_, seq, files));
  files.clear();
  SEALPOOL_RETURN_IF_ERROR(CheckLease());
  return client_->Put(CatalogBackupKey(prefix_, pool_id_, seq),
                      {reinterpret_cast<const uint8_t*>(object.data()), object.size()});
}

absl::StatusOr<std::vector<uint64_t>> S3CatalogLog::ListCatalogBackups() {
  return ListNumbers(CatalogBackupPrefix(prefix_, pool_id_), kBackupExt);
}

absl::Status S3CatalogLog::RestoreCatalogBackup(uint64_t seq, const std::string& dir) {
  const std::string key = CatalogBackupKey(prefix_, pool_id_, seq);
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint8_t> object,
                            client_->GetObject(key, kMaxCatalogBackupBytes));
  absl::StatusOr<BackupFiles> files = DecodeCatalogBackup(
      {reinterpret_cast<const char*>(object.data()), object.size()}, pool_id_, seq);
  if (!files.ok()) {
    return absl::Status(files.status().code(), Cat(files.status().message(), " (object ", key, ")"));
  }
  object.clear();
  object.shrink_to_fit();
  std::error_code ec;
  if (!std::filesystem::create_directory(dir, ec) || ec) {
    return absl::FailedPreconditionError(
        Cat("catalog backup: cannot create ", dir, " (it must not exist)", ec ? ": " : "",
            ec ? ec.message() : ""));
  }
  for (const auto& [name, bytes] : *files) {
    SEALPOOL_RETURN_IF_ERROR(WriteFileSynced(Cat(dir, "/", name), bytes));
  }
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    const bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (!synced) return absl::InternalError(Cat("cannot fsync ", dir));
  }
  return absl::OkStatus();
}

absl::Status S3CatalogLog::DeleteCatalogBackup(uint64_t seq) {
  SEALPOOL_RETURN_IF_ERROR(CheckLease());
  return client_->Delete(CatalogBackupKey(prefix_, pool_id_, seq));
}

}  // namespace sealpool::storage::s3
