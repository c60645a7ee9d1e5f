#include "tools/sealpool/tar_extractor.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include "base/strings.h"

namespace sealpool::tools::client {
namespace {

struct SourceContext {
  const ByteSource* source;
  absl::Status status;
};

la_ssize_t ReadCallback(archive*, void* opaque, const void** buffer) {
  auto* ctx = static_cast<SourceContext*>(opaque);
  absl::StatusOr<std::string_view> next = (*ctx->source)();
  if (!next.ok()) {
    ctx->status = next.status();
    return -1;
  }
  *buffer = next->data();
  return static_cast<la_ssize_t>(next->size());
}

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

std::string ErrorOf(archive* a) {
  const char* e = archive_error_string(a);
  return e != nullptr ? e : "unknown libarchive error";
}

// Restores the working directory on scope exit.
class ScopedChdir {
 public:
  ScopedChdir() : old_(open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {}
  ~ScopedChdir() {
    if (old_ >= 0) {
      if (fchdir(old_) != 0) {
        // Deliberately ignored: the process ends right after an extraction.
      }
      close(old_);
    }
  }
  ScopedChdir(const ScopedChdir&) = delete;
  ScopedChdir& operator=(const ScopedChdir&) = delete;

 private:
  int old_;
};

}  // namespace

absl::StatusOr<ExtractResult> ExtractTar(const ByteSource& source, const std::string& dir,
                                         const std::function<void(const std::string&)>& warn) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        base::Cat("cannot create the folder ", dir, ": ", ec.message()));
  }
  ScopedChdir restore_cwd;
  if (chdir(dir.c_str()) != 0) {
    return absl::FailedPreconditionError(
        base::Cat("cannot enter the folder ", dir, ": ", std::strerror(errno)));
  }

  int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_ACL |
              ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_SPARSE | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
              ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
  if (geteuid() == 0) flags |= ARCHIVE_EXTRACT_OWNER;
  ArchivePtr disk(archive_write_disk_new());
  archive_write_disk_set_options(disk.get(), flags);
  archive_write_disk_set_standard_lookup(disk.get());

  SourceContext ctx{&source, absl::OkStatus()};
  ArchivePtr reader(archive_read_new());
  archive_read_support_format_tar(reader.get());
  archive_read_support_filter_none(reader.get());
  auto read_error = [&](const std::string& what) {
    if (!ctx.status.ok()) return ctx.status;
    return absl::DataLossError(base::Cat(what, ": ", ErrorOf(reader.get())));
  };
  if (archive_read_open(reader.get(), &ctx, nullptr, ReadCallback, nullptr) != ARCHIVE_OK) {
    return read_error("the image is not a tar archive");
  }

  ExtractResult result;
  // The folder's own entry ("."): libarchive sets its times at once rather than after the
  // entries inside it, so they are applied here at the end.
  std::optional<struct stat> root;
  while (true) {
    archive_entry* entry = nullptr;
    int r = archive_read_next_header(reader.get(), &entry);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return read_error("the image is not a readable tar archive");
    std::string name =
        archive_entry_pathname(entry) != nullptr ? archive_entry_pathname(entry) : "";
    if ((name == "." || name == "./") && archive_entry_filetype(entry) == AE_IFDIR) {
      root = *archive_entry_stat(entry);
      ++result.entries;
      continue;
    }
    r = archive_write_header(disk.get(), entry);
    if (r < ARCHIVE_WARN) {
      if (r == ARCHIVE_FATAL) {
        return absl::InternalError(base::Cat("extracting \"", name, "\": ", ErrorOf(disk.get())));
      }
      warn(base::Cat("refused archive entry \"", name, "\": ", ErrorOf(disk.get())));
      ++result.refused;
      continue;  // libarchive skips the entry's data at the next header
    }
    if (archive_entry_size(entry) > 0) {
      const void* block = nullptr;
      size_t size = 0;
      la_int64_t offset = 0;
      while ((r = archive_read_data_block(reader.get(), &block, &size, &offset)) == ARCHIVE_OK) {
        if (archive_write_data_block(disk.get(), block, size, offset) < ARCHIVE_WARN) {
          return absl::InternalError(base::Cat("writing \"", name, "\": ", ErrorOf(disk.get())));
        }
      }
      if (r != ARCHIVE_EOF) return read_error(base::Cat("reading \"", name, "\""));
    }
    if (archive_write_finish_entry(disk.get()) < ARCHIVE_WARN) {
      warn(base::Cat("finishing \"", name, "\": ", ErrorOf(disk.get())));
      ++result.refused;
      continue;
    }
    ++result.entries;
  }
  if (archive_write_close(disk.get()) < ARCHIVE_WARN) {
    return absl::InternalError(
        base::Cat("finishing the extraction in ", dir, ": ", ErrorOf(disk.get())));
  }
  if (root.has_value()) {
    bool ok = chmod(".", root->st_mode & 07777) == 0;
    if (geteuid() == 0) ok = chown(".", root->st_uid, root->st_gid) == 0 && ok;
    const struct timespec times[2] = {root->st_atim, root->st_mtim};
    ok = utimensat(AT_FDCWD, ".", times, 0) == 0 && ok;
    if (!ok)
      warn(base::Cat("cannot set the mode, owner or times of ", dir, ": ", std::strerror(errno)));
  }
  return result;
}

}  // namespace sealpool::tools::client
