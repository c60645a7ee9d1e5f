// The content-defined chunker: cuts a byte stream into chunks at positions chosen by the
// stream's content (chunker format version 1, storage/chunking/chunker_format.h, docs/chunking.md), so
// that an insertion or deletion moves only the boundaries near it and unchanged data keeps
// deduplicating. The server (segment store) and the backup client link this same library and
// cut identical boundaries.
//
// Streaming:
//
//   SEALPOOL_ASSIGN_OR_RETURN(Chunker chunker, Chunker::Create(params));
//   SEALPOOL_RETURN_IF_ERROR(chunker.Update(bytes, sink));   // any number of times
//   SEALPOOL_RETURN_IF_ERROR(chunker.Finish(sink));          // the last, possibly short, chunk
//
// Whole buffer in memory:
//
//   size_t n = chunker.FindChunkEnd(data, /*at_end=*/true);  // length of the first chunk
//
// Implementations: portable scalar, AVX2 and AVX-512 (VBMI), chosen at run time (kAuto) or
// explicitly. They cut bit-for-bit identical boundaries; the choice is about speed only.
//
// Thread safety: a Chunker is one stream; do not share one between threads without external
// locking. Its const methods (FindChunkEnd, params, impl) may be called concurrently.
// Create is cheap (no allocation beyond the carry buffer's first use); make one per stream or
// per thread. The free functions below are thread-safe.
#ifndef SEALPOOL_STORAGE_CHUNKING_CHUNKER_H_
#define SEALPOOL_STORAGE_CHUNKING_CHUNKER_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/chunking/chunker_format.h"
#include "storage/chunking/gear_table.h"

namespace sealpool::storage {

namespace internal {
struct ScanArgs;  // storage/chunking/chunker_internal.h
}  // namespace internal

// Which code computes the cuts. All cut identical boundaries; the choice is about speed only.
enum class ChunkerImpl {
  kAuto,      // kAvx512 when CpuHasAvx512Vbmi(), else kPortable (kAvx2 is slower than kPortable)
  kPortable,  // scalar C++, any CPU
  kAvx2,      // x86-64 AVX2, table lookups by gathers
  kAvx512,    // x86-64 AVX-512 F+BW+VBMI, table lookups by byte permutes; the fastest
};

// True when this build has the AVX2 path and the CPU (and OS) support AVX2.
bool CpuHasAvx2();
// True when this build has the AVX-512 path and the CPU (and OS) support AVX-512 F, BW and VBMI.
bool CpuHasAvx512Vbmi();

// "portable", "avx2" or "avx512" (kAuto resolved first).
const char* ChunkerImplName(ChunkerImpl impl);

class Chunker {
 public:
  // Receives one complete chunk; `chunk` is valid only during the call. A non-OK status stops
  // the Update/Finish that called it and is returned unchanged.
  using ChunkSink = absl::FunctionRef<absl::Status(std::span<const uint8_t> chunk)>;

  // Errors: InvalidArgument or Unimplemented when params.Validate() fails (see there);
  // FailedPrecondition for kAvx2 when !CpuHasAvx2() and for kAvx512 when !CpuHasAvx512Vbmi().
  [[nodiscard]] static absl::StatusOr<Chunker> Create(const ChunkerParams& params,
                                                      ChunkerImpl impl = ChunkerImpl::kAuto);

  Chunker(Chunker&&) noexcept = default;
  Chunker& operator=(Chunker&&) noexcept = default;
  Chunker(const Chunker&) = delete;
  Chunker& operator=(const Chunker&) = delete;

  // Feeds the next bytes of the stream and calls `sink` once for every chunk they complete, in
  // stream order. `data` need only live for the call. How the stream is split into Update calls
  // never changes the chunks. Chunks that lie wholly inside `data` are passed to the sink
  // without copying; the bytes after the last cut (fewer than max_size) are kept in an
  // internal carry buffer until the next Update or Finish.
  //
  // On a non-OK sink status the stream is abandoned: the Chunker is Reset() and the status is
  // returned unchanged.
  [[nodiscard]] absl::Status Update(std::span<const uint8_t> data, ChunkSink sink);

  // Ends the stream: emits the remaining bytes as the last chunk (1 .. max_size bytes, possibly
  // shorter than min_size; nothing for an empty remainder), then Reset()s, so the Chunker can
  // start a new stream. Returns the sink's status.
  [[nodiscard]] absl::Status Finish(ChunkSink sink);

  // Drops any carried bytes and starts a new stream.
  void Reset();

  // Bytes given to Update since the stream began (Create, Finish or Reset).
  uint64_t bytes_consumed() const { return bytes_consumed_; }

  // Stateless: the length of the first chunk of `data`, which starts at a chunk boundary.
  // Returns a length in [1, max_size] when the first cut is known: a content cut, max_size
  // when data.size() >= max_size, or data.size() when at_end and no cut was found (the last
  // chunk). Returns 0 when more data is needed (no cut in data, data.size() < max_size, and
  // !at_end) and for empty data. Does not touch the stream state.
  size_t FindChunkEnd(std::span<const uint8_t> data, bool at_end) const;

  const ChunkerParams& params() const { return params_; }
  // The implementation in use (never kAuto).
  ChunkerImpl impl() const { return impl_; }

 private:
  Chunker(const ChunkerParams& params, ChunkerImpl impl, const GearTable& table);

  // FindChunkEnd, knowing that positions below `resume` were already tested without a cut.
  size_t FindEnd(const uint8_t* data, size_t size, size_t resume, bool at_end) const;
  absl::Status Fail(absl::Status status);

  // Constant after construction.
  ChunkerParams params_;
  ChunkerImpl impl_;
  size_t (*scan_)(const internal::ScanArgs& args);
  GearTable table_;
  std::array<uint8_t, 1024> planes_;  // table_ byte-sliced, for kAvx512
  uint32_t mask_s_;
  uint32_t mask_l_;

  // Stream state. Invariant between calls: carry_ holds the bytes after the last cut,
  // carry_.size() < max_size, and every position in carry_ was tested without a cut.
  std::vector<uint8_t> carry_;
  uint64_t bytes_consumed_ = 0;
};

// The same as Chunker::FindChunkEnd without keeping a Chunker: validates `params` and builds
// the gear table on each call (a cached table for seed 0), so prefer a Chunker in loops.
// Errors as for Chunker::Create.
[[nodiscard]] absl::StatusOr<size_t> FindChunkEnd(const ChunkerParams& params,
                                                  std::span<const uint8_t> data, bool at_end,
                                                  ChunkerImpl impl = ChunkerImpl::kAuto);

// The lengths of all chunks of `data` taken as a whole stream (they sum to data.size(); empty
// data gives none). For tests and tools. Errors as for Chunker::Create.
[[nodiscard]] absl::StatusOr<std::vector<size_t>> ChunkLengths(
    const ChunkerParams& params, std::span<const uint8_t> data,
    ChunkerImpl impl = ChunkerImpl::kAuto);

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_CHUNKING_CHUNKER_H_
