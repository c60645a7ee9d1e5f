// Streaming an image out over gRPC, shared by the client and admin Restore calls: a
// RestoreHeader, then the bytes in data messages of at most 1 MiB, each segment authenticated
// by the pool before a byte of it is copied out. The writer's Write blocks under gRPC flow
// control, so a slow reader holds the pool read (and at most one message buffer), never an
// unbounded queue.
#ifndef SEALPOOL_DAEMON_SEALPOOLD_IMAGE_STREAM_H_
#define SEALPOOL_DAEMON_SEALPOOLD_IMAGE_STREAM_H_

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/sync_stream.h>

#include <optional>

#include "absl/status/status.h"
#include "sealpool/pool/v1/types.pb.h"
#include "storage/pool/pool.h"

namespace sealpool::daemon {

inline constexpr size_t kRestoreMessageBytes = 1u << 20;

// Fills `out` from `info`.
void ImageToProto(const storage::ImageInfo& info, pool::v1::Image* out);

// Microseconds since the Unix epoch (0 for InfinitePast) and back.
int64_t UnixMicros(absl::Time t);
absl::Time FromUnixMicrosOrNone(int64_t micros);

// Streams [offset, offset + length) of `image` (length unset: to the end). InvalidArgument for
// a range past the end; Cancelled when the client went away; the pool's status otherwise.
// `on_bytes` (may be null) is told of every data message sent (activity for the idle timer).
absl::Status StreamImage(const storage::Pool& pool, const storage::ImageInfo& image,
                         uint64_t offset, std::optional<uint64_t> length,
                         grpc::ServerWriter<pool::v1::RestoreResponse>* writer,
                         const std::function<void(size_t)>& on_bytes);

}  // namespace sealpool::daemon

#endif  // SEALPOOL_DAEMON_SEALPOOLD_IMAGE_STREAM_H_
