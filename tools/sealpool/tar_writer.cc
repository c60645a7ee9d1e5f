#include "tools/sealpool/tar_writer.h"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

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

// The entry's name in the archive: `path` without the `root` prefix ("." for the root).
std::string RelativeName(const std::string& root, const std::string& path) {
  if (path == root) return ".";
  std::string prefix = root == "/" ? root : root + "/";
  if (path.compare(0, prefix.size(), prefix) == 0) return path.substr(prefix.size());
  return path;
}

// Copies the current disk entry's data blocks into the writer; holes become zeros, which the
// pax writer drops again where the entry's sparse map says there is a hole.
absl::Status CopyData(archive* disk, archive* writer, const std::string& path) {
  const void* block = nullptr;
  size_t size = 0;
  la_int64_t offset = 0;
  la_int64_t progress = 0;
  static const std::vector<char> kZeros(64 * 1024, 0);
  while (true) {
    int r = archive_read_data_block(disk, &block, &size, &offset);
    if (r == ARCHIVE_EOF) break;
    if (r != ARCHIVE_OK) {
      return absl::FailedPreconditionError(
          base::Cat("cannot read ", path, ": ", ErrorOf(disk)));
    }
    while (offset > progress) {
      size_t n = static_cast<size_t>(
          std::min<la_int64_t>(offset - progress, static_cast<la_int64_t>(kZeros.size())));
      la_ssize_t w = archive_write_data(writer, kZeros.data(), n);
      if (w < 0) return absl::InternalError(base::Cat("writing ", path, ": ", ErrorOf(writer)));
      progress += static_cast<la_int64_t>(n);
    }
    la_ssize_t w = archive_write_data(writer, block, size);
    if (w < 0) return absl::InternalError(base::Cat("writing ", path, ": ", ErrorOf(writer)));
    progress += static_cast<la_int64_t>(size);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteDirectoryAsTar(const std::string& dir_arg, const ByteSink& sink,
                                 const Warn& warn) {
  std::string dir = dir_arg;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();

  SinkContext ctx{&sink, absl::OkStatus()};
  ArchivePtr writer(archive_write_new());
  archive_write_set_format_pax(writer.get());
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
  if (archive_read_disk_open(disk.get(), dir.c_str()) != ARCHIVE_OK) {
    return absl::NotFoundError(base::Cat("cannot read ", dir, ": ", ErrorOf(disk.get())));
  }

  // The writer's status, preferring the sink's (a cancelled stream) over libarchive's text.
  auto writer_error = [&](const std::string& what) {
    if (!ctx.status.ok()) return ctx.status;
    return absl::InternalError(base::Cat(what, ": ", ErrorOf(writer.get())));
  };

  while (true) {
    archive_entry* entry = archive_entry_new();
    int r = archive_read_next_header2(disk.get(), entry);
    if (r == ARCHIVE_EOF) {
      archive_entry_free(entry);
      break;
    }
    if (r != ARCHIVE_OK) {
      const char* p = archive_entry_pathname(entry);
      std::string path = p != nullptr ? p : dir;
      std::string why = ErrorOf(disk.get());
      archive_entry_free(entry);
      return absl::FailedPreconditionError(base::Cat("cannot read ", path, ": ", why));
    }
    std::string path = archive_entry_pathname(entry);
    archive_read_disk_descend(disk.get());
    if (archive_entry_filetype(entry) == AE_IFSOCK) {
      warn(base::Cat("skipped ", path, ": a socket (tar cannot store it)"));
      archive_entry_free(entry);
      continue;
    }
    archive_entry_copy_pathname(entry, RelativeName(dir, path).c_str());

    archive_entry* spare = nullptr;
    archive_entry* original = entry;
    archive_entry_linkify(resolver.get(), &entry, &spare);
    absl::Status status;
    while (entry != nullptr && status.ok()) {
      r = archive_write_header(writer.get(), entry);
      if (r < ARCHIVE_WARN) {
        status = writer_error(base::Cat("cannot store ", path));
      } else if (archive_entry_size(entry) > 0 && entry == original) {
        status = CopyData(disk.get(), writer.get(), path);
        if (!status.ok() && !ctx.status.ok()) status = ctx.status;
      }
      if (entry != original) archive_entry_free(entry);
      entry = spare;
      spare = nullptr;
    }
    archive_entry_free(original);
    if (!status.ok()) return status;
  }
  if (archive_write_close(writer.get()) != ARCHIVE_OK) return writer_error("finishing the archive");
  return absl::OkStatus();
}

}  // namespace sealpool::tools::client
