// internal::ScanAvx512: the gear-hash scan of chunker format version 1 with AVX-512 VBMI.
//
// Same plan as chunker_avx2.cc (contiguous lanes, 32-byte warm-up per lane, candidates tested
// against mask_l and verified against their own position's mask, first verified candidate in
// position order wins), with 16 lanes and without gathers, which are what limit the AVX2 path:
//
//   * Data: each lane's next 64 bytes are loaded as one row (16 plain loads), and a 16x16
//     transpose of 32-bit words turns the rows into 16 vectors, each holding 4 consecutive bytes
//     of every lane. Rows two ahead are prefetched.
//   * Table lookups: the gear table is kept byte-sliced (MakeGearPlanes) in 16 zmm registers;
//     two vpermi2b and a blend on bit 7 look up one byte plane of 64 bytes at once, and byte
//     unpacks reassemble the 32-bit entries, one vector per step.
//
// Blocks are sized to about half the mean gap between cuts in their region (2^bits of the mask),
// so that little work is wasted past a cut; where that is too short to pay for the warm-up
// (small avg_size) the portable scan does the work. Nothing outside data[begin - 32, end) is
// read.
//
// This file alone is compiled with -mavx512f -mavx512bw -mavx512vbmi, so it defines no inline
// function or template with external linkage: raw pointers, intrinsics and helpers in an
// anonymous namespace only.
// GCC 12's AVX-512 intrinsics initialize their "undefined" pass-through operands from
// themselves, which -Wmaybe-uninitialized reports at every use (GCC bug 105593, fixed in 13).
// The warning is silenced for the intrinsic headers only; it stays on for the code below.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstddef>
#include <cstdint>

#include "storage/chunking/chunker_internal.h"

namespace sealpool::storage::internal {
namespace {

constexpr size_t kLanes = 16;
constexpr size_t kRow = 64;     // bytes per lane per row
constexpr size_t kWarmup = 32;  // kGearWindowSize
constexpr size_t kNone = ~size_t{0};
// Lane lengths are 32 (mod 64): warm-up plus tested positions fill whole rows.
constexpr size_t kMinLane = 224;
constexpr size_t kMaxLane = 2016;
constexpr size_t kPrefetchRows = 2;

struct Tables {
  __m512i plane[4][4];  // plane[p][q]: byte p of table[64 q .. 64 q + 63]
  __m512i to_step_major;
  __m512i mask_l;
};

// Byte plane p of the table entries for the 64 byte indices in `idx`; `high` has bit 7 of each.
inline __m512i LookupPlane(const Tables& t, __m512i idx, __mmask64 high, int p) {
  const __m512i low_half = _mm512_permutex2var_epi8(t.plane[p][0], idx, t.plane[p][1]);
  const __m512i high_half = _mm512_permutex2var_epi8(t.plane[p][2], idx, t.plane[p][3]);
  return _mm512_mask_blend_epi8(high, low_half, high_half);
}

// `bytes` holds 4 consecutive data bytes of each lane (32-bit element L = lane L, byte k =
// step k). Writes the table entries of step k for all 16 lanes to g[k].
inline void LookupSteps(const Tables& t, __m512i bytes, __m512i* g) {
  // Within each 128-bit block (4 lanes), reorder [lane][step] -> [step][lane] so that the
  // byte unpacks below yield one vector per step.
  const __m512i idx = _mm512_shuffle_epi8(bytes, t.to_step_major);
  const __mmask64 high = _mm512_movepi8_mask(idx);
  const __m512i p0 = LookupPlane(t, idx, high, 0);
  const __m512i p1 = LookupPlane(t, idx, high, 1);
  const __m512i p2 = LookupPlane(t, idx, high, 2);
  const __m512i p3 = LookupPlane(t, idx, high, 3);
  const __m512i p01_lo = _mm512_unpacklo_epi8(p0, p1);
  const __m512i p01_hi = _mm512_unpackhi_epi8(p0, p1);
  const __m512i p23_lo = _mm512_unpacklo_epi8(p2, p3);
  const __m512i p23_hi = _mm512_unpackhi_epi8(p2, p3);
  g[0] = _mm512_unpacklo_epi16(p01_lo, p23_lo);
  g[1] = _mm512_unpackhi_epi16(p01_lo, p23_lo);
  g[2] = _mm512_unpacklo_epi16(p01_hi, p23_hi);
  g[3] = _mm512_unpackhi_epi16(p01_hi, p23_hi);
}

// rows[L] = 64 bytes of lane L; out[j] gets 32-bit word j of every row (element L = row L).
inline void Transpose16x16(const __m512i* rows, __m512i* out) {
  __m512i pairs[16];
  for (int i = 0; i < 16; i += 2) {
    pairs[i] = _mm512_unpacklo_epi32(rows[i], rows[i + 1]);
    pairs[i + 1] = _mm512_unpackhi_epi32(rows[i], rows[i + 1]);
  }
  // quads[4 G + c], 128-bit block q: word 4 q + c of rows 4 G .. 4 G + 3.
  __m512i quads[16];
  for (int g = 0; g < 4; ++g) {
    quads[4 * g + 0] = _mm512_unpacklo_epi64(pairs[4 * g], pairs[4 * g + 2]);
    quads[4 * g + 1] = _mm512_unpackhi_epi64(pairs[4 * g], pairs[4 * g + 2]);
    quads[4 * g + 2] = _mm512_unpacklo_epi64(pairs[4 * g + 1], pairs[4 * g + 3]);
    quads[4 * g + 3] = _mm512_unpackhi_epi64(pairs[4 * g + 1], pairs[4 * g + 3]);
  }
  // Transpose the 4x4 grid of 128-bit blocks.
  for (int c = 0; c < 4; ++c) {
    const __m512i e0 = _mm512_shuffle_i32x4(quads[c], quads[4 + c], 0x44);
    const __m512i e1 = _mm512_shuffle_i32x4(quads[c], quads[4 + c], 0xee);
    const __m512i e2 = _mm512_shuffle_i32x4(quads[8 + c], quads[12 + c], 0x44);
    const __m512i e3 = _mm512_shuffle_i32x4(quads[8 + c], quads[12 + c], 0xee);
    out[c] = _mm512_shuffle_i32x4(e0, e2, 0x88);
    out[4 + c] = _mm512_shuffle_i32x4(e0, e2, 0xdd);
    out[8 + c] = _mm512_shuffle_i32x4(e1, e3, 0x88);
    out[12 + c] = _mm512_shuffle_i32x4(e1, e3, 0xdd);
  }
}

inline __m512i GearStep(__m512i h, __m512i g) {
  return _mm512_add_epi32(_mm512_slli_epi32(h, 1), g);
}

// Tests positions [first, first + 16 * lane); returns the first cut or kNone.
// lane % 64 == 32.
size_t ScanBlock(const ScanArgs& args, const Tables& t, size_t first, size_t lane) {
  const uint8_t* base = args.data + (first - kWarmup);
  const size_t rows = (lane + kWarmup) / kRow;
  __m512i h = _mm512_setzero_si512();
  size_t best = kNone;
  for (size_t r = 0; r < rows; ++r) {
    alignas(64) __m512i steps[16];
    {
      __m512i in[16];
      __m512i out[16];
      for (size_t l = 0; l < kLanes; ++l) {
        in[l] = _mm512_loadu_si512(base + l * lane + kRow * r);
      }
      if (r + kPrefetchRows < rows) {
        for (size_t l = 0; l < kLanes; ++l) {
          _mm_prefetch(reinterpret_cast<const char*>(base + l * lane + kRow * (r + kPrefetchRows)),
                       _MM_HINT_T0);
        }
      }
      Transpose16x16(in, out);
      for (size_t j = 0; j < 16; ++j) _mm512_store_si512(&steps[j], out[j]);
    }
    size_t j = 0;
    if (r == 0) {  // the first 32 bytes of each lane are warm-up only
      for (; j < kWarmup / 4; ++j) {
        __m512i g[4];
        LookupSteps(t, _mm512_load_si512(&steps[j]), g);
        h = GearStep(GearStep(GearStep(GearStep(h, g[0]), g[1]), g[2]), g[3]);
      }
    }
    for (; j < 16; ++j) {
      __m512i g[4];
      LookupSteps(t, _mm512_load_si512(&steps[j]), g);
      h = GearStep(h, g[0]);
      const __mmask16 c0 = _mm512_testn_epi32_mask(h, t.mask_l);
      h = GearStep(h, g[1]);
      const __mmask16 c1 = _mm512_testn_epi32_mask(h, t.mask_l);
      h = GearStep(h, g[2]);
      const __mmask16 c2 = _mm512_testn_epi32_mask(h, t.mask_l);
      h = GearStep(h, g[3]);
      const __mmask16 c3 = _mm512_testn_epi32_mask(h, t.mask_l);
      if (__builtin_expect((c0 | c1 | c2 | c3) != 0, 0)) {
        const size_t offset = kRow * r + 4 * j - kWarmup;
        best = VerifyCandidates(args, first, lane, offset + 0, c0, best);
        best = VerifyCandidates(args, first, lane, offset + 1, c1, best);
        best = VerifyCandidates(args, first, lane, offset + 2, c2, best);
        best = VerifyCandidates(args, first, lane, offset + 3, c3, best);
      }
    }
  }
  return best;
}

// The lane length for a region whose cut mask has `mask` bits: a block of about half the mean
// gap between cuts (2^bits positions), or 0 when that is below kMinLane.
size_t LaneFor(uint32_t mask) {
  const size_t half_gap = (size_t{1} << __builtin_popcount(mask)) / 2;
  size_t lane = half_gap / kLanes;
  if (lane > kMaxLane) lane = kMaxLane;
  if (lane < kMinLane) return 0;
  return (lane - kWarmup) / kRow * kRow + kWarmup;
}

}  // namespace

size_t ScanAvx512(const ScanArgs& args) {
  const size_t lane_before_switch = LaneFor(args.mask_s);
  const size_t lane_after_switch = LaneFor(args.mask_l);
  size_t pos = args.begin;
  if (lane_before_switch != 0 && args.end - args.begin >= kLanes * kMinLane) {
    Tables t;
    for (int p = 0; p < 4; ++p) {
      for (int q = 0; q < 4; ++q) {
        t.plane[p][q] = _mm512_loadu_si512(args.planes + 256 * p + 64 * q);
      }
    }
    t.to_step_major =
        _mm512_broadcast_i32x4(_mm_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15));
    t.mask_l = _mm512_set1_epi32(static_cast<int>(args.mask_l));
    while (pos < args.end) {
      size_t lane = pos + kLanes * lane_before_switch <= args.switch_pos ? lane_before_switch
                                                                         : lane_after_switch;
      if (lane == 0) break;
      const size_t remaining = args.end - pos;
      if (remaining < kLanes * lane) {
        if (remaining < kLanes * kMinLane) break;
        lane = (remaining / kLanes - kWarmup) / kRow * kRow + kWarmup;
      }
      const size_t found = ScanBlock(args, t, pos, lane);
      if (found != kNone) return found;
      pos += kLanes * lane;
    }
  }
  ScanArgs tail = args;
  tail.begin = pos;
  return ScanPortable(tail);
}

}  // namespace sealpool::storage::internal
