// Streams a directory tree as a POSIX pax tar archive (libarchive), so that a restored image
// unpacks with plain `tar -x`. What is kept: docs/cli.md, "What a directory backup keeps".
//
// Entry names are relative to the directory: "." for the directory itself, then "a",
// "a/b", ... depth-first, each folder's entries sorted by name (GNU tar's own order, which its
// extraction needs to restore folder mtimes; and the same tree gives the same order). Symlinks are
// stored, not followed; a file with several links in the tree is stored once and then as hard
// links; sparse files are stored with their holes (pax GNU.sparse 1.0); xattrs and POSIX ACLs as
// pax extended headers; owners as numeric ids and names. Sockets are skipped with a warning (tar
// has no type for them). Any file or folder that cannot be read fails the whole stream: a backup is
// never silently partial.
#ifndef SEALPOOL_TOOLS_SEALPOOL_TAR_WRITER_H_
#define SEALPOOL_TOOLS_SEALPOOL_TAR_WRITER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace sealpool::tools::client {

// Receives the archive's bytes in order; a non-OK status stops the walk and is returned.
using ByteSink = std::function<absl::Status(std::string_view bytes)>;
// Called with the path of each skipped entry and why (may be empty).
using Warn = std::function<void(const std::string& message)>;

// Walks `dir` and writes the archive into `sink`. Errors: the sink's status, or
// FAILED_PRECONDITION / NOT_FOUND naming the path libarchive could not read.
absl::Status WriteDirectoryAsTar(const std::string& dir, const ByteSink& sink, const Warn& warn);

}  // namespace sealpool::tools::client

#endif  // SEALPOOL_TOOLS_SEALPOOL_TAR_WRITER_H_
