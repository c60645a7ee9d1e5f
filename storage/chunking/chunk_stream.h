// Chunk and fingerprint in one pass over a byte stream: the one call that the segment store
// (server-side dedup) and the backup client (client-side dedup) share, so both cut and
// fingerprint a stream identically.
//
//   SEALPOOL_ASSIGN_OR_RETURN(auto stream, SegmentStream::Create(params, fingerprint_key));
//   SEALPOOL_RETURN_IF_ERROR(stream.Update(bytes, sink));   // any number of times
//   SEALPOOL_RETURN_IF_ERROR(stream.Finish(sink));
//
// The sink sees each segment once, in stream order, with its offset in the stream, its bytes
// (valid only during the call) and its keyed fingerprint (HMAC-SHA-256 under the key group's
// fingerprint key). A non-OK status from the sink stops the stream and is returned as is.
//
// Thread safety: a SegmentStream is one stream; use one per thread. Create is cheap.
#ifndef SEALPOOL_STORAGE_CHUNKING_CHUNK_STREAM_H_
#define SEALPOOL_STORAGE_CHUNKING_CHUNK_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/fingerprint.h"
#include "crypto/keys.h"
#include "crypto/types.h"
#include "storage/chunking/chunker.h"
#include "storage/chunking/chunker_format.h"

namespace sealpool::storage {

// One content-defined segment of a stream.
struct StreamSegment {
  uint64_t offset = 0;                // of the segment's first byte in the stream
  std::span<const uint8_t> data;      // valid only during the sink call
  crypto::Fingerprint fingerprint;    // HMAC-SHA-256(fingerprint key, data)
};

using SegmentSink = absl::FunctionRef<absl::Status(const StreamSegment& segment)>;

// Reads up to out.size() bytes into `out`; returns how many, 0 at end of stream.
using ReadFn = absl::FunctionRef<absl::StatusOr<size_t>(std::span<uint8_t> out)>;

class SegmentStream {
 public:
  // InvalidArgument for invalid params; FailedPrecondition for kAvx2 on a CPU without AVX2.
  static absl::StatusOr<SegmentStream> Create(const ChunkerParams& params,
                                              const crypto::FingerprintKey& key,
                                              ChunkerImpl impl = ChunkerImpl::kAuto);
  // The same with a client's digest key (client-side dedup, crypto/client_digest_key.h): the
  // segments' `fingerprint` is then the client digest, HMAC-SHA-256(client digest key, data).
  static absl::StatusOr<SegmentStream> Create(const ChunkerParams& params,
                                              const crypto::ClientDigestKey& key,
                                              ChunkerImpl impl = ChunkerImpl::kAuto);

  SegmentStream(SegmentStream&&) noexcept = default;
  SegmentStream& operator=(SegmentStream&&) noexcept = default;

  // Feeds bytes; emits every segment completed by them.
  [[nodiscard]] absl::Status Update(std::span<const uint8_t> data, SegmentSink sink);
  // Emits the last segment (possibly shorter than the minimum). The stream can then be reused.
  [[nodiscard]] absl::Status Finish(SegmentSink sink);

  uint64_t bytes_consumed() const { return chunker_.bytes_consumed(); }

 private:
  SegmentStream(Chunker chunker, crypto::Fingerprinter fingerprinter)
      : chunker_(std::move(chunker)), fingerprinter_(std::move(fingerprinter)) {}

  absl::Status Emit(std::span<const uint8_t> chunk, SegmentSink sink);

  Chunker chunker_;
  crypto::Fingerprinter fingerprinter_;
  uint64_t next_offset_ = 0;
};

// Reads `read` to its end in blocks of `block_size` bytes and emits every segment: the whole
// chunk-and-fingerprint pass over a stream in one call.
[[nodiscard]] absl::Status ChunkAndFingerprint(SegmentStream& stream, ReadFn read, SegmentSink sink,
                                               size_t block_size = size_t{1} << 20);

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_CHUNKING_CHUNK_STREAM_H_
