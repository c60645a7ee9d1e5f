// Chunker throughput: a 64 MiB pseudo-random buffer cut with the default (format version 1)
// params, once per implementation. Bytes processed are input bytes, including the min_size
// prefix of each chunk that the cut rule never hashes. Registered into sealpool_bench (no main).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "storage/chunking/chunker.h"
#include "storage/chunking/chunker_format.h"

namespace sealpool::storage {
namespace {

constexpr size_t kBufferSize = size_t{64} << 20;

// SplitMix64 bytes, the same stream as test::PseudoRandomBytes (not linked into the bench).
const std::vector<uint8_t>& Buffer() {
  static const std::vector<uint8_t> buffer = [] {
    std::vector<uint8_t> out(kBufferSize);
    uint64_t state = 1;
    for (size_t i = 0; i < out.size(); i += 8) {
      state += 0x9e3779b97f4a7c15ULL;
      uint64_t z = state;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      z ^= z >> 31;
      for (size_t k = 0; k < 8 && i + k < out.size(); ++k) {
        out[i + k] = static_cast<uint8_t>(z >> (8 * k));
      }
    }
    return out;
  }();
  return buffer;
}

void ChunkBuffer(benchmark::State& state, ChunkerImpl impl) {
  auto chunker = Chunker::Create(ChunkerParams{}, impl);
  if (!chunker.ok()) {
    state.SkipWithError(std::string(chunker.status().message()).c_str());
    return;
  }
  const std::vector<uint8_t>& buffer = Buffer();
  size_t chunks = 0;
  for (auto _ : state) {
    std::span<const uint8_t> rest(buffer);
    while (!rest.empty()) {
      const size_t n = chunker->FindChunkEnd(rest, /*at_end=*/true);
      rest = rest.subspan(n);
      ++chunks;
    }
    benchmark::DoNotOptimize(chunks);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(buffer.size()));
  state.counters["mean_chunk"] = static_cast<double>(buffer.size()) *
                                 static_cast<double>(state.iterations()) /
                                 static_cast<double>(chunks);
}

void BM_Chunker_Portable(benchmark::State& state) { ChunkBuffer(state, ChunkerImpl::kPortable); }

void BM_Chunker_Avx2(benchmark::State& state) {
  if (!CpuHasAvx2()) {
    state.SkipWithError("this CPU (or build) has no AVX2");
    return;
  }
  ChunkBuffer(state, ChunkerImpl::kAvx2);
}

void BM_Chunker_Avx512(benchmark::State& state) {
  if (!CpuHasAvx512Vbmi()) {
    state.SkipWithError("this CPU (or build) has no AVX-512 VBMI");
    return;
  }
  ChunkBuffer(state, ChunkerImpl::kAvx512);
}

BENCHMARK(BM_Chunker_Portable)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Chunker_Avx2)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Chunker_Avx512)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sealpool::storage
