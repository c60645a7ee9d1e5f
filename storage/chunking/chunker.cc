#include "storage/chunking/chunker.h"

#include <algorithm>
#include <utility>

#include "base/status_macros.h"
#include "storage/chunking/chunker_internal.h"

namespace sealpool::storage {

namespace internal {

void MakeGearPlanes(const uint32_t* table, uint8_t* planes) {
  for (size_t p = 0; p < 4; ++p) {
    for (size_t b = 0; b < 256; ++b)
      planes[256 * p + b] = static_cast<uint8_t>(table[b] >> (8 * p));
  }
}

uint32_t WindowHash(const uint32_t* table, const uint8_t* data, size_t i) {
  uint32_t h = 0;
  for (size_t k = i + 1 - kGearWindowSize; k <= i; ++k) h = (h << 1) + table[data[k]];
  return h;
}

size_t VerifyCandidates(const ScanArgs& args, size_t first, size_t lane, size_t offset,
                        unsigned lane_bits, size_t best) {
  while (lane_bits != 0) {
    const size_t l = static_cast<size_t>(__builtin_ctz(lane_bits));
    lane_bits &= lane_bits - 1;
    const size_t pos = first + l * lane + offset;
    if (pos >= best) continue;
    const uint32_t mask = pos < args.switch_pos ? args.mask_s : args.mask_l;
    if ((WindowHash(args.table, args.data, pos) & mask) == 0) best = pos;
  }
  return best;
}

size_t ScanPortable(const ScanArgs& args) {
  if (args.begin >= args.end) return args.end;
  const uint32_t* g = args.table;
  const uint8_t* p = args.data;
  // Warm up over the 31 bytes before `begin`: from h = 0 the hash at `begin` then covers exactly
  // its 32-byte window, wherever the scan starts.
  uint32_t h = 0;
  for (size_t i = args.begin - (kGearWindowSize - 1); i < args.begin; ++i) h = (h << 1) + g[p[i]];
  const size_t mid = std::clamp(args.switch_pos, args.begin, args.end);
  size_t i = args.begin;
  for (; i < mid; ++i) {
    h = (h << 1) + g[p[i]];
    if ((h & args.mask_s) == 0) return i;
  }
  for (; i < args.end; ++i) {
    h = (h << 1) + g[p[i]];
    if ((h & args.mask_l) == 0) return i;
  }
  return args.end;
}

}  // namespace internal

namespace {

// kAuto never picks kAvx2: its gathers make it slower than the portable scan on the CPUs we
// measured (docs/chunking.md, "Implementations").
ChunkerImpl AutoImpl() {
  return CpuHasAvx512Vbmi() ? ChunkerImpl::kAvx512 : ChunkerImpl::kPortable;
}

absl::StatusOr<ChunkerImpl> Resolve(ChunkerImpl impl) {
  switch (impl) {
    case ChunkerImpl::kAuto:
      return AutoImpl();
    case ChunkerImpl::kPortable:
      return impl;
    case ChunkerImpl::kAvx2:
      if (!CpuHasAvx2()) {
        return absl::FailedPreconditionError(
            "chunker: the AVX2 implementation was requested but this CPU or build lacks AVX2");
      }
      return impl;
    case ChunkerImpl::kAvx512:
      if (!CpuHasAvx512Vbmi()) {
        return absl::FailedPreconditionError(
            "chunker: the AVX-512 implementation was requested but this CPU or build lacks "
            "AVX-512 F/BW/VBMI");
      }
      return impl;
  }
  return absl::InvalidArgumentError("chunker: unknown ChunkerImpl value");
}

}  // namespace

bool CpuHasAvx2() {
#if defined(SEALPOOL_CHUNKER_HAVE_X86_VECTOR)
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") != 0;
  }();
  return has;
#else
  return false;
#endif
}

bool CpuHasAvx512Vbmi() {
#if defined(SEALPOOL_CHUNKER_HAVE_X86_VECTOR)
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") != 0 && __builtin_cpu_supports("avx512bw") != 0 &&
           __builtin_cpu_supports("avx512vbmi") != 0;
  }();
  return has;
#else
  return false;
#endif
}

const char* ChunkerImplName(ChunkerImpl impl) {
  switch (impl == ChunkerImpl::kAuto ? AutoImpl() : impl) {
    case ChunkerImpl::kAvx2:
      return "avx2";
    case ChunkerImpl::kAvx512:
      return "avx512";
    default:
      return "portable";
  }
}

absl::StatusOr<Chunker> Chunker::Create(const ChunkerParams& params, ChunkerImpl impl) {
  SEALPOOL_RETURN_IF_ERROR(params.Validate());
  SEALPOOL_ASSIGN_OR_RETURN(ChunkerImpl resolved, Resolve(impl));
  if (params.seed == 0) return Chunker(params, resolved, DefaultGearTable());
  return Chunker(params, resolved, MakeGearTable(params.seed));
}

Chunker::Chunker(const ChunkerParams& params, ChunkerImpl impl, const GearTable& table)
    : params_(params),
      impl_(impl),
      scan_(&internal::ScanPortable),
      table_(table),
      mask_s_(params.mask_s()),
      mask_l_(params.mask_l()) {
#if defined(SEALPOOL_CHUNKER_HAVE_X86_VECTOR)
  if (impl_ == ChunkerImpl::kAvx2) scan_ = &internal::ScanAvx2;
  if (impl_ == ChunkerImpl::kAvx512) scan_ = &internal::ScanAvx512;
#endif
  internal::MakeGearPlanes(table_.data(), planes_.data());
}

size_t Chunker::FindEnd(const uint8_t* data, size_t size, size_t resume, bool at_end) const {
  if (size == 0) return 0;
  const size_t max = params_.max_size;
  // A chunk of length n ends at position n - 1. Lengths [min, max) are content cuts, tested at
  // positions [min - 1, max - 1); length max is a forced cut and needs no test.
  const size_t begin = std::max(resume, size_t{params_.min_size} - 1);
  const size_t end = std::min(size, max - 1);
  if (begin < end) {
    internal::ScanArgs args;
    args.table = table_.data();
    args.planes = planes_.data();
    args.data = data;
    args.begin = begin;
    args.end = end;
    args.switch_pos = size_t{params_.avg_size} - 1;
    args.mask_s = mask_s_;
    args.mask_l = mask_l_;
    const size_t cut = scan_(args);
    if (cut < end) return cut + 1;
  }
  if (size >= max) return max;
  return at_end ? size : 0;
}

size_t Chunker::FindChunkEnd(std::span<const uint8_t> data, bool at_end) const {
  return FindEnd(data.data(), data.size(), 0, at_end);
}

absl::Status Chunker::Update(std::span<const uint8_t> data, ChunkSink sink) {
  bytes_consumed_ += data.size();
  if (data.empty()) return absl::OkStatus();
  if (!carry_.empty()) {
    // Complete the carried chunk. Every carried position was tested already, so the scan
    // resumes at old_size and a cut, if any, falls inside the bytes taken from `data`.
    const size_t old_size = carry_.size();
    const size_t take = std::min(data.size(), size_t{params_.max_size} - old_size);
    carry_.insert(carry_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
    const size_t n = FindEnd(carry_.data(), carry_.size(), old_size, /*at_end=*/false);
    if (n == 0) return absl::OkStatus();  // carry_.size() < max_size, so take == data.size()
    if (absl::Status status = sink(std::span<const uint8_t>(carry_.data(), n)); !status.ok()) {
      return Fail(std::move(status));
    }
    data = data.subspan(n - old_size);
    carry_.clear();
  }
  // Cut in the caller's buffer; copy only the tail.
  for (;;) {
    const size_t n = FindEnd(data.data(), data.size(), 0, /*at_end=*/false);
    if (n == 0) break;
    if (absl::Status status = sink(data.first(n)); !status.ok()) return Fail(std::move(status));
    data = data.subspan(n);
  }
  if (!data.empty()) {
    if (carry_.capacity() < params_.max_size) carry_.reserve(params_.max_size);
    carry_.assign(data.begin(), data.end());
  }
  return absl::OkStatus();
}

absl::Status Chunker::Finish(ChunkSink sink) {
  absl::Status status = absl::OkStatus();
  if (!carry_.empty()) status = sink(std::span<const uint8_t>(carry_.data(), carry_.size()));
  Reset();
  return status;
}

void Chunker::Reset() {
  carry_.clear();
  bytes_consumed_ = 0;
}

absl::Status Chunker::Fail(absl::Status status) {
  Reset();
  return status;
}

absl::StatusOr<size_t> FindChunkEnd(const ChunkerParams& params, std::span<const uint8_t> data,
                                    bool at_end, ChunkerImpl impl) {
  SEALPOOL_ASSIGN_OR_RETURN(Chunker chunker, Chunker::Create(params, impl));
  return chunker.FindChunkEnd(data, at_end);
}

absl::StatusOr<std::vector<size_t>> ChunkLengths(const ChunkerParams& params,
                                                 std::span<const uint8_t> data, ChunkerImpl impl) {
  SEALPOOL_ASSIGN_OR_RETURN(Chunker chunker, Chunker::Create(params, impl));
  std::vector<size_t> lengths;
  while (!data.empty()) {
    const size_t n = chunker.FindChunkEnd(data, /*at_end=*/true);
    lengths.push_back(n);
    data = data.subspan(n);
  }
  return lengths;
}

}  // namespace sealpool::storage
