#include "storage/chunking/chunk_stream.h"

#include <utility>
#include <vector>

#include "base/status_macros.h"

namespace sealpool::storage {

absl::StatusOr<SegmentStream> SegmentStream::Create(const ChunkerParams& params,
                                                    const crypto::FingerprintKey& key,
                                                    ChunkerImpl impl) {
  SEALPOOL_ASSIGN_OR_RETURN(Chunker chunker, Chunker::Create(params, impl));
  SEALPOOL_ASSIGN_OR_RETURN(crypto::Fingerprinter fingerprinter,
                            crypto::Fingerprinter::Create(key));
  return SegmentStream(std::move(chunker), std::move(fingerprinter));
}

absl::StatusOr<SegmentStream> SegmentStream::Create(const ChunkerParams& params,
                                                    const crypto::ClientDigestKey& key,
                                                    ChunkerImpl impl) {
  SEALPOOL_ASSIGN_OR_RETURN(Chunker chunker, Chunker::Create(params, impl));
  SEALPOOL_ASSIGN_OR_RETURN(crypto::Fingerprinter fingerprinter,
                            crypto::Fingerprinter::Create(key));
  return SegmentStream(std::move(chunker), std::move(fingerprinter));
}

absl::Status SegmentStream::Emit(std::span<const uint8_t> chunk, SegmentSink sink) {
  SEALPOOL_ASSIGN_OR_RETURN(crypto::Fingerprint fingerprint, fingerprinter_.Compute(chunk));
  StreamSegment segment{next_offset_, chunk, fingerprint};
  next_offset_ += chunk.size();
  return sink(segment);
}

absl::Status SegmentStream::Update(std::span<const uint8_t> data, SegmentSink sink) {
  return chunker_.Update(data, [&](std::span<const uint8_t> chunk) { return Emit(chunk, sink); });
}

absl::Status SegmentStream::Finish(SegmentSink sink) {
  absl::Status status =
      chunker_.Finish([&](std::span<const uint8_t> chunk) { return Emit(chunk, sink); });
  next_offset_ = 0;
  return status;
}

absl::Status ChunkAndFingerprint(SegmentStream& stream, ReadFn read, SegmentSink sink,
                                 size_t block_size) {
  if (block_size == 0) return absl::InvalidArgumentError("ChunkAndFingerprint: block_size is 0");
  std::vector<uint8_t> block(block_size);
  for (;;) {
    SEALPOOL_ASSIGN_OR_RETURN(size_t n, read(block));
    if (n > block.size()) {
      return absl::InternalError("ChunkAndFingerprint: reader returned more bytes than asked");
    }
    if (n == 0) break;
    SEALPOOL_RETURN_IF_ERROR(stream.Update(std::span<const uint8_t>(block.data(), n), sink));
  }
  return stream.Finish(sink);
}

}  // namespace sealpool::storage
