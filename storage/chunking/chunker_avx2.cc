// internal::ScanAvx2: the gear-hash scan of chunker format version 1 with AVX2.
//
// The positions to test are taken in blocks. A block of 8 * lane positions is split into 8
// contiguous lanes, one per 32-bit element of a ymm register; each lane first hashes the 32
// bytes before its first position (so its hash is exactly the windowed H(i) of
// chunker_internal.h, as if hashing had started anywhere earlier), then advances 4 positions per
// step: one gather loads 4 data bytes per lane, four gathers look the bytes up in the gear
// table. Every position is tested against mask_l, which every cut must satisfy (mask_l is a
// subset of mask_s); the rare candidates are verified against the mask of their own position,
// and the first verified one in position order is the answer. A block is finished before its
// result is used, which costs at most one block past the cut; the last positions that do not
// fill a block go to the portable scan. Nothing outside data[begin - 32, end) is read.
//
// This file alone is compiled with -mavx2, so it defines no inline function or template with
// external linkage (the linker could pick its AVX2 copy for a portable caller): raw pointers,
// intrinsics and helpers in an anonymous namespace only.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "storage/chunking/chunker_internal.h"

namespace sealpool::storage::internal {
namespace {

constexpr size_t kLanes = 8;
constexpr size_t kWarmup = 32;  // kGearWindowSize; a multiple of the 4-byte step
constexpr size_t kNone = ~size_t{0};
// Positions per lane and block. Longer lanes amortize the 32-byte warm-up; shorter ones waste
// less work past a cut. Cuts are rarer before switch_pos (mask_s) than after it (mask_l).
constexpr size_t kLaneBeforeSwitch = 1024;
constexpr size_t kLaneAfterSwitch = 512;
constexpr size_t kMinLane = 64;

inline __m256i GearStep(__m256i h, __m256i bytes, const int* table) {
  return _mm256_add_epi32(_mm256_slli_epi32(h, 1), _mm256_i32gather_epi32(table, bytes, 4));
}

unsigned LaneBits(__m256i hits) {
  return static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(hits)));
}

// Tests positions [first, first + 8 * lane); returns the first cut or kNone. lane % 4 == 0.
size_t ScanBlock(const ScanArgs& args, size_t first, size_t lane) {
  const int* base = reinterpret_cast<const int*>(args.data + (first - kWarmup));
  const int* table = reinterpret_cast<const int*>(args.table);
  const int lane_i = static_cast<int>(lane);
  __m256i idx =
      _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(lane_i));
  const __m256i four = _mm256_set1_epi32(4);
  const __m256i low_byte = _mm256_set1_epi32(0xff);
  const __m256i mask_l = _mm256_set1_epi32(static_cast<int>(args.mask_l));
  const __m256i zero = _mm256_setzero_si256();

  __m256i h = zero;
  for (size_t t = 0; t < kWarmup; t += 4) {
    const __m256i d = _mm256_i32gather_epi32(base, idx, 1);
    idx = _mm256_add_epi32(idx, four);
    h = GearStep(h, _mm256_and_si256(d, low_byte), table);
    h = GearStep(h, _mm256_and_si256(_mm256_srli_epi32(d, 8), low_byte), table);
    h = GearStep(h, _mm256_and_si256(_mm256_srli_epi32(d, 16), low_byte), table);
    h = GearStep(h, _mm256_srli_epi32(d, 24), table);
  }

  size_t best = kNone;
  for (size_t t = 0; t < lane; t += 4) {
    const __m256i d = _mm256_i32gather_epi32(base, idx, 1);
    idx = _mm256_add_epi32(idx, four);
    h = GearStep(h, _mm256_and_si256(d, low_byte), table);
    const __m256i c0 = _mm256_cmpeq_epi32(_mm256_and_si256(h, mask_l), zero);
    h = GearStep(h, _mm256_and_si256(_mm256_srli_epi32(d, 8), low_byte), table);
    const __m256i c1 = _mm256_cmpeq_epi32(_mm256_and_si256(h, mask_l), zero);
    h = GearStep(h, _mm256_and_si256(_mm256_srli_epi32(d, 16), low_byte), table);
    const __m256i c2 = _mm256_cmpeq_epi32(_mm256_and_si256(h, mask_l), zero);
    h = GearStep(h, _mm256_srli_epi32(d, 24), table);
    const __m256i c3 = _mm256_cmpeq_epi32(_mm256_and_si256(h, mask_l), zero);
    const __m256i any = _mm256_or_si256(_mm256_or_si256(c0, c1), _mm256_or_si256(c2, c3));
    if (!_mm256_testz_si256(any, any)) {
      best = VerifyCandidates(args, first, lane, t + 0, LaneBits(c0), best);
      best = VerifyCandidates(args, first, lane, t + 1, LaneBits(c1), best);
      best = VerifyCandidates(args, first, lane, t + 2, LaneBits(c2), best);
      best = VerifyCandidates(args, first, lane, t + 3, LaneBits(c3), best);
    }
  }
  return best;
}

}  // namespace

size_t ScanAvx2(const ScanArgs& args) {
  size_t pos = args.begin;
  while (pos < args.end) {
    size_t lane =
        pos + kLanes * kLaneBeforeSwitch <= args.switch_pos ? kLaneBeforeSwitch : kLaneAfterSwitch;
    const size_t remaining = args.end - pos;
    if (remaining < kLanes * lane) lane = remaining / kLanes / 4 * 4;
    if (lane < kMinLane) break;
    const size_t found = ScanBlock(args, pos, lane);
    if (found != kNone) return found;
    pos += kLanes * lane;
  }
  ScanArgs tail = args;
  tail.begin = pos;
  return ScanPortable(tail);
}

}  // namespace sealpool::storage::internal
