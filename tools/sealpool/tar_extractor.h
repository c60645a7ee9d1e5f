// Unpacks a tar stream (as WriteDirectoryAsTar writes it, or any tar/pax archive) into a
// folder, never writing outside it: libarchive's write-disk with SECURE_NODOTDOT (no ".."
// component), SECURE_NOABSOLUTEPATHS (no absolute name or hard-link target) and
// SECURE_SYMLINKS (never through a symlink), also for hard-link targets. Restores modes,
// mtimes, xattrs, ACLs, sparse holes, and owners when run as root. An entry libarchive refuses
// is skipped and reported through `warn`; the rest of the archive is still unpacked.
//
// Changes the process's working directory to `dir` for the extraction and back after it, so
// it is not thread-safe with respect to other users of relative paths.
#ifndef SEALPOOL_TOOLS_SEALPOOL_TAR_EXTRACTOR_H_
#define SEALPOOL_TOOLS_SEALPOOL_TAR_EXTRACTOR_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace sealpool::tools::client {

// Yields the archive's next bytes; an empty view at the end. A non-OK status stops the
// extraction and is returned as is.
using ByteSource = std::function<absl::StatusOr<std::string_view>()>;

struct ExtractResult {
  uint64_t entries = 0;  // entries written
  uint64_t refused = 0;  // entries skipped (each reported through `warn`)
};

// Creates `dir` if missing. Errors: the source's status; DATA_LOSS for an archive that is not
// a readable tar stream; INTERNAL for a failed write on disk.
absl::StatusOr<ExtractResult> ExtractTar(const ByteSource& source, const std::string& dir,
                                         const std::function<void(const std::string&)>& warn);

}  // namespace sealpool::tools::client

#endif  // SEALPOOL_TOOLS_SEALPOOL_TAR_EXTRACTOR_H_
