#include "tools/sealpool/tar_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "base/strings.h"

namespace sealpool::tools::client {
namespace {

struct SinkContext {
  const ByteSink* sink;
  absl::Status status;
};

la_ssize_t WriteCallback(archive*, void* opaque, const void* buffer, size_t length) {
  auto* ctx = static_cast<SinkContext*>(opaque);
  ctx->status = (*ctx->sink)(std::string_view(static_cast<const char*>(buffer), length));
  if (!ctx->status.ok()) return -1;
  return static_cast<la_ssize_t>(length);
}

struct ArchiveDeleter {
  void operator()(archive* a) const { archive_free(a); }
};
using ArchivePtr = std::unique_ptr<archive, ArchiveDeleter>;

std::string ErrorOf(archive* a) {
  const char* e = archive_error_string(a);
  return e != nullptr ? e : "unknown libarchive error";
}

// Copies a regular file's bytes into the writer. Where the entry has a sparse map, only the
// data regions are read; the holes are given as zeros, which the pax writer drops again.
absl::Status CopyFile(int fd, archive_entry* entry, archive* writer, const std::string& path) {
  static const std::vector<char> kZeros(256 * 1024, 0);
  std::vector<char> buf(1 << 20);
  const la_int64_t size = archive_entry_size(entry);
  std::vector<std::pair<la_int64_t, la_int64_t>> regions;
  if (archive_entry_sparse_reset(entry) > 0) {
    la_int64_t off = 0, len = 0;
    while (archive_entry_sparse_next(entry, &off, &len) == ARCHIVE_OK)
      regions.emplace_back(off, len);
  } else {
    regions.emplace_back(0, size);
  }
  la_int64_t progress = 0;
  auto write = [&](const char* data, size_t n) -> absl::Status {
    if (archive_write_data(writer, data, n) < 0) {
      return absl::InternalError(base::Cat("writing ", path, ": ", ErrorOf(writer)));
    }
    progress += static_cast<la_int64_t>(n);
    return absl::OkStatus();
  };
  regions.emplace_back(size, 0);  // the tail hole, if any
  for (const auto& [offset, length] : regions) {
    while (progress < offset) {
      size_t n = static_cast<size_t>(
          std::min<la_int64_t>(offset - progress, static_cast<la_int64_t>(kZeros.size())));
      if (absl::Status s = write(kZeros.data(), n); !s.ok()) return s;
    }
    const la_int64_t end = std::min(offset + length, size);
    while (progress < end) {
      size_t want = static_cast<size_t>(
          std::min<la_int64_t>(end - progress, static_cast<la_int64_t>(buf.size())));
      ssize_t n = pread(fd, buf.data(), want, progress);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        return absl::FailedPreconditionError(
            base::Cat("cannot read ", path, ": ", std::strerror(errno)));
      }
      if (n == 0) {
        return absl::FailedPreconditionError(
            base::Cat("cannot read ", path, ": it shrank while being backed up"));
      }
      if (absl::Status s = write(buf.data(), static_cast<size_t>(n)); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

// Writes the tree depth-first, each folder's entries in byte order of their names: the order
// GNU tar itself writes, which its extraction relies on to restore folder mtimes.
class TreeWriter {
 public:
  TreeWriter(archive* disk, archive* writer, archive_entry_linkresolver* resolver,
             const SinkContext* ctx, const Warn* warn)
      : disk_(disk), writer_(writer), resolver_(resolver), ctx_(ctx), warn_(warn) {}

  // `path` on disk, `name` in the archive.
  absl::Status Walk(const std::string& path, const std::string& name, bool is_root) {
    struct stat st {};
    if ((is_root ? stat(path.c_str(), &st) : lstat(path.c_str(), &st)) != 0) {
      return absl::FailedPreconditionError(
          base::Cat("cannot read ", path, ": ", std::strerror(errno)));
    }
    if (S_ISSOCK(st.st_mode)) {
      (*warn_)(base::Cat("skipped ", path, ": a socket (tar cannot store it)"));
      return absl::OkStatus();
    }
    int fd = -1;
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
      fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | (is_root ? 0 : O_NOFOLLOW));
      if (fd < 0) {
        return absl::FailedPreconditionError(
            base::Cat("cannot read ", path, ": ", std::strerror(errno)));
      }
    }
    absl::Status status = Store(path, name, fd, st);
    if (status.ok() && S_ISDIR(st.st_mode)) status = Children(path, name, fd);
    if (fd >= 0) close(fd);
    return status;
  }

 private:
  absl::Status WriterError(const std::string& what) const {
    if (!ctx_->status.ok()) return ctx_->status;
    return absl::InternalError(base::Cat(what, ": ", ErrorOf(writer_)));
  }

  absl::Status Store(const std::string& path, const std::string& name, int fd,
                     const struct stat& st) {
    archive_entry* entry = archive_entry_new();
    archive_entry_copy_sourcepath(entry, path.c_str());
    archive_entry_copy_pathname(entry, name.c_str());
    if (archive_read_disk_entry_from_file(disk_, entry, fd, &st) < ARCHIVE_WARN) {
      std::string why = ErrorOf(disk_);
      archive_entry_free(entry);
      return absl::FailedPreconditionError(base::Cat("cannot read ", path, ": ", why));
    }
    // Access, change and birth times are left out: no restore can set the last two, and all
    // three change without the content changing, which would defeat dedup of the stream.
    archive_entry_unset_atime(entry);
    archive_entry_unset_ctime(entry);
    archive_entry_unset_birthtime(entry);
    archive_entry* spare = nullptr;
    archive_entry* original = entry;
    archive_entry_linkify(resolver_, &entry, &spare);
    absl::Status status;
    while (entry != nullptr && status.ok()) {
      if (archive_write_header(writer_, entry) < ARCHIVE_WARN) {
        status = WriterError(base::Cat("cannot store ", path));
      } else if (entry == original && archive_entry_size(entry) > 0 && fd >= 0) {
        status = CopyFile(fd, entry, writer_, path);
        if (!status.ok() && !ctx_->status.ok()) status = ctx_->status;
      }
      if (entry != original) archive_entry_free(entry);
      entry = spare;
      spare = nullptr;
    }
    archive_entry_free(original);
    return status;
  }

  absl::Status Children(const std::string& path, const std::string& name, int dir_fd) {
    int fd = dup(dir_fd);
    DIR* dir = fd >= 0 ? fdopendir(fd) : nullptr;
    if (dir == nullptr) {
      if (fd >= 0) close(fd);
      return absl::FailedPreconditionError(
          base::Cat("cannot list ", path, ": ", std::strerror(errno)));
    }
    std::vector<std::string> names;
    errno = 0;
    while (dirent* d = readdir(dir)) {
      std::string n = d->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    int list_errno = errno;
    closedir(dir);
    if (list_errno != 0) {
      return absl::FailedPreconditionError(
          base::Cat("cannot list ", path, ": ", std::strerror(list_errno)));
    }
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) {
      std::string child_path = path == "/" ? "/" + n : path + "/" + n;
      std::string child_name = name == "." ? n : name + "/" + n;
      if (absl::Status s = Walk(child_path, child_name, false); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  archive* disk_;
  archive* writer_;
  archive_entry_linkresolver* resolver_;
  const SinkContext* ctx_;
  const Warn* warn_;
};

}  // namespace

absl::Status WriteDirectoryAsTar(const std::string& dir_arg, const ByteSink& sink,
                                 const Warn& warn) {
  std::string dir = dir_arg;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();

  SinkContext ctx{&sink, absl::OkStatus()};
  ArchivePtr writer(archive_write_new());
  archive_write_set_format_pax(writer.get());
  // xattrs as SCHILY.xattr.* only (GNU tar and star read them; libarchive reads them too),
  // not also as LIBARCHIVE.xattr.*, which GNU tar warns about.
  archive_write_set_format_option(writer.get(), "pax", "xattrheader", "SCHILY");
  archive_write_add_filter_none(writer.get());
  if (archive_write_open(writer.get(), &ctx, nullptr, WriteCallback, nullptr) != ARCHIVE_OK) {
    if (!ctx.status.ok()) return ctx.status;
    return absl::InternalError(base::Cat("cannot start the archive: ", ErrorOf(writer.get())));
  }
  std::unique_ptr<archive_entry_linkresolver, void (*)(archive_entry_linkresolver*)> resolver(
      archive_entry_linkresolver_new(), archive_entry_linkresolver_free);
  archive_entry_linkresolver_set_strategy(resolver.get(), archive_format(writer.get()));

  ArchivePtr disk(archive_read_disk_new());
  archive_read_disk_set_symlink_physical(disk.get());
  archive_read_disk_set_standard_lookup(disk.get());
  archive_read_disk_set_behavior(disk.get(), 0);  // xattrs, ACLs and file flags included

  TreeWriter tree(disk.get(), writer.get(), resolver.get(), &ctx, &warn);
  if (absl::Status s = tree.Walk(dir, ".", true); !s.ok()) return s;
  if (archive_write_close(writer.get()) != ARCHIVE_OK) {
    if (!ctx.status.ok()) return ctx.status;
    return absl::InternalError(base::Cat("finishing the archive: ", ErrorOf(writer.get())));
  }
  return absl::OkStatus();
}

}  // namespace sealpool::tools::client
