// Chunker format version 1, "sealpool gear32 normalized CDC": the parameters that decide where
// a byte stream is cut into chunks, their bounds, and the fixed record that keeps them in pool
// metadata (one record per key group).
//
// The cut positions are part of the on-disk format: the server and every backup client must
// cut a stream identically, years apart, or deduplication silently stops working. Everything
// that influences a cut is therefore either a field of ChunkerParams or a constant in this
// header. docs/chunking.md is the prose description; it and this header agree.
//
// DO NOT EDIT the constants below. Any change to them, to the gear table derivation
// (storage/gear_table.cc), or to the cut rule (storage/chunker.cc) is a new format version with
// a new number; the golden tests in test/storage/ fail loudly if version 1 changes.
//
// Params record, little-endian, fixed size (kChunkerParamsEncodedSize = 24 bytes):
//
//   0        4        8        12       16                 24
//   +--------+--------+--------+--------+------------------+
//   |version |min_size|avg_size|max_size|       seed       |
//   |  u32   |  u32   |  u32   |  u32   |       u64        |
//   +--------+--------+--------+--------+------------------+
//
// The version comes first so that a reader can tell a record of a future version (which may have
// another size) from a damaged one.
#ifndef SEALPOOL_STORAGE_CHUNKING_CHUNKER_FORMAT_H_
#define SEALPOOL_STORAGE_CHUNKING_CHUNKER_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace sealpool::storage {

// ---- Format constants (do not edit; see the header comment). ----

inline constexpr uint32_t kChunkerFormatVersion = 1;

// The gear hash of a position depends on exactly this many bytes ending at it.
inline constexpr size_t kGearWindowSize = 32;

// Gear table derivation: SplitMix64 seeded with (seed ^ kGearSeedSalt); entry i is the high 32
// bits of the (i+1)-th output. kGearSeedSalt is the ASCII bytes "sealpool" read big-endian.
inline constexpr uint64_t kGearSeedSalt = 0x7365616c706f6f6cULL;
inline constexpr uint64_t kSplitMix64Gamma = 0x9e3779b97f4a7c15ULL;
inline constexpr uint64_t kSplitMix64Mul1 = 0xbf58476d1ce4e5b9ULL;
inline constexpr uint64_t kSplitMix64Mul2 = 0x94d049bb133111ebULL;

// Bounds enforced by ChunkerParams::Validate (docs/chunking.md, "Parameters", says why).
inline constexpr uint32_t kChunkerMinMinSize = 64;                  // > kGearWindowSize
inline constexpr uint32_t kChunkerMinAvgSize = 256;                 // 2^8
inline constexpr uint32_t kChunkerMaxAvgSize = uint32_t{8} << 20;   // 2^23
inline constexpr uint32_t kChunkerMaxMaxSize = uint32_t{16} << 20;  // 16 MiB

// Defaults of format version 1.
inline constexpr uint32_t kChunkerDefaultMinSize = uint32_t{16} << 10;   // 16 KiB
inline constexpr uint32_t kChunkerDefaultAvgSize = uint32_t{64} << 10;   // 64 KiB
inline constexpr uint32_t kChunkerDefaultMaxSize = uint32_t{256} << 10;  // 256 KiB

inline constexpr size_t kChunkerParamsEncodedSize = 24;

// ---- Parameters. ----

// What decides the cuts of a stream. A plain value; copy it freely. Only params that pass
// Validate() may be given to the chunker (Chunker::Create and FindChunkEnd check).
//
// The cut rule (docs/chunking.md has it in full): with s the first byte of the current chunk,
// n a candidate chunk length and H(i) the windowed gear hash of byte position i, the chunk is
// the shortest n such that
//   min_size <= n < avg_size  and  (H(s + n - 1) & mask_s()) == 0, or
//   avg_size <= n < max_size  and  (H(s + n - 1) & mask_l()) == 0, or
//   n == max_size;
// at the end of the stream the remainder (1 .. max_size bytes) is the last chunk.
struct ChunkerParams {
  uint32_t version = kChunkerFormatVersion;
  uint32_t min_size = kChunkerDefaultMinSize;  // bytes; no chunk but the last is shorter
  uint32_t avg_size = kChunkerDefaultAvgSize;  // bytes, a power of two; where the masks switch
  uint32_t max_size = kChunkerDefaultMaxSize;  // bytes; no chunk is longer
  uint64_t seed = 0;                           // selects the gear table

  // OK when these params can be used to chunk. Unimplemented for a version newer than this
  // build knows (kChunkerFormatVersion); InvalidArgument for everything else:
  //   version == 0; min_size < kChunkerMinMinSize; avg_size not a power of two or outside
  //   [kChunkerMinAvgSize, kChunkerMaxAvgSize]; max_size > kChunkerMaxMaxSize; unless
  //   min_size < avg_size < max_size.
  [[nodiscard]] absl::Status Validate() const;

  // log2(avg_size). Requires Validate().ok().
  int avg_bits() const;
  // The mask for chunk lengths in [min_size, avg_size): the top avg_bits() + 2 bits of a
  // 32-bit word (a cut there is 4x less likely than 1/avg_size). Requires Validate().ok().
  uint32_t mask_s() const;
  // The mask for chunk lengths in [avg_size, max_size): the top avg_bits() - 2 bits (a cut is
  // 4x more likely than 1/avg_size). mask_l() is a subset of mask_s(). Requires Validate().ok().
  uint32_t mask_l() const;

  // Appends the kChunkerParamsEncodedSize-byte record (layout in the header comment). Encodes
  // the fields as they are; call Validate() first if they may be invalid.
  void EncodeTo(std::vector<uint8_t>* dst) const;

  // Decodes exactly one record: `record` must be the whole record, nothing more. Errors:
  //   InvalidArgument: shorter than the version field, truncated or oversized for its version,
  //     version 0, or field values that fail Validate();
  //   Unimplemented: a version newer than this build knows.
  // A caller that read the record from disk reports InvalidArgument as DataLoss.
  [[nodiscard]] static absl::StatusOr<ChunkerParams> DecodeFrom(std::span<const uint8_t> record);

  // "v1 min=16384 avg=65536 max=262144 seed=0", for messages.
  std::string ToString() const;

  friend bool operator==(const ChunkerParams&, const ChunkerParams&) = default;
};

static_assert(sizeof(uint32_t) * 4 + sizeof(uint64_t) == kChunkerParamsEncodedSize,
              "the v1 params record is four u32 and one u64");

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_CHUNKING_CHUNKER_FORMAT_H_
