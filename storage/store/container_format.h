// Container file format, version 1: the bytes of an append-only container file of sealed
// segments. Prose, reasons and the recovery rule: docs/format.md "Container files (version 1)".
// Magic numbers and versions: storage/store/format_magic.h. Writer: container_writer.h; reader and
// scanner: container_reader.h.
//
// A container file is a file header followed by records, back to back, no padding:
//
//   +----------------+----------+----------+-----+----------+
//   | file header 72 | record 1 | record 2 | ... | record N |
//   +----------------+----------+----------+-----+----------+
//
// File header (72 bytes, every integer little-endian):
//
//   0        8          10            12       16                24             32
//   +--------+----------+-------------+--------+-----------------+--------------+
//   | magic  | version  | header_size | flags  | header_checksum | container_id |
//   | 8 B    | u16 = 1  | u16 = 72    | u32 =0 | u64             | u64          |
//   +--------+----------+-------------+--------+-----------------+--------------+
//   32                   40            56            72
//   +--------------------+-------------+-------------+
//   | created_unix_micros| pool_id     | key_group_id|
//   | u64                | 16 B        | 16 B        |
//   +--------------------+-------------+-------------+
//
// Record (100-byte header, then stored_length bytes of payload):
//
//   0        4      5       6         8                 16                24
//   +--------+------+-------+---------+-----------------+-----------------+------------+
//   | magic  | type | compr | reserved| header_checksum | payload_checksum| segment_id |
//   | u32    | u8=1 | u8    | u16 = 0 | u64             | u64             | u64        |
//   +--------+------+-------+---------+-----------------+-----------------+------------+
//   32                 36              40            72         84         100
//   +------------------+---------------+-------------+----------+----------+---------------+
//   | plaintext_length | stored_length | fingerprint | nonce    | tag      | payload ...   |
//   | u32              | u32           | 32 B        | 12 B     | 16 B     | stored_length |
//   +------------------+---------------+-------------+----------+----------+---------------+
//
// Checksums (XXH3-64, seed 0): header_checksum of the file header = XXH3 over its header_size
// bytes with the checksum field zeroed; the same for a record header over its 100 bytes.
// payload_checksum = XXH3 over the stored bytes (the AES-GCM ciphertext as stored). The header
// checksum sits at the same offset in every version, so corruption is told apart from a newer
// version before the version is believed. No key material is ever written.
//
// Thread safety: plain values and pure functions.
#ifndef SEALPOOL_STORAGE_STORE_CONTAINER_FORMAT_H_
#define SEALPOOL_STORAGE_STORE_CONTAINER_FORMAT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "crypto/types.h"
#include "storage/store/format_magic.h"

namespace sealpool::storage {

// Segment ids, fingerprints and checksums are crypto/types.h's strong types. The nonce and tag
// are the same std::array types as crypto/aead.h's GcmNonce and GcmTag (not included here, so
// that the format does not pull in the AEAD).
using Id128 = std::array<uint8_t, 16>;  // pool id, key group id
using GcmNonce = std::array<uint8_t, 12>;
using GcmTag = std::array<uint8_t, 16>;

enum class Compression : uint8_t {
  kRaw = magic::kCompressionRaw,
  kZstd = magic::kCompressionZstd,
};

enum class RecordType : uint8_t {
  kSealedSegment = magic::kContainerRecordTypeSealedSegment,
};

// Sizes and limits of version 1.
inline constexpr size_t kContainerHeaderSize = 72;
inline constexpr size_t kContainerHeaderChecksumOffset = 16;
// A decoder reads at most this much to find a header of any version.
inline constexpr size_t kMaxContainerHeaderSize = 4096;
inline constexpr size_t kRecordHeaderSize = 100;
inline constexpr size_t kRecordHeaderChecksumOffset = 8;
inline constexpr uint32_t kMaxPlaintextLength = 16u << 20;  // 16 MiB
inline constexpr uint32_t kMaxStoredLength = 16u << 20;     // 16 MiB
inline constexpr uint64_t kMaxRecordSize = kRecordHeaderSize + kMaxStoredLength;

// The file header. EncodeTo writes whatever it holds (tests rely on that to build bad headers).
struct ContainerHeader {
  uint16_t format_version = magic::kContainerFormatNewest;
  uint64_t container_id = 0;
  uint64_t created_unix_micros = 0;
  Id128 pool_id{};
  Id128 key_group_id{};

  // Appends kContainerHeaderSize bytes to `dst`.
  void EncodeTo(std::vector<uint8_t>* dst) const;
  // Decodes the header at the start of `src` (which may hold more). DataLoss: too short, bad
  // magic, bad checksum, bad header_size or flags; FailedPrecondition: a checksum-valid header
  // of a version newer than this binary reads. On error *this is unchanged.
  [[nodiscard]] absl::Status DecodeFrom(std::span<const uint8_t> src);

  friend bool operator==(const ContainerHeader&, const ContainerHeader&) = default;
};

// The header of one record.
struct RecordHeader {
  RecordType type = RecordType::kSealedSegment;
  Compression compression = Compression::kRaw;
  crypto::SegmentId segment_id;
  uint32_t plaintext_length = 0;
  uint32_t stored_length = 0;
  crypto::Fingerprint fingerprint;
  GcmNonce nonce{};
  GcmTag tag{};
  crypto::Checksum payload_checksum;

  // Header plus payload.
  uint64_t record_size() const { return kRecordHeaderSize + stored_length; }

  // The limits a writer must keep: 0 < plaintext_length <= kMaxPlaintextLength, stored_length
  // <= kMaxStoredLength, raw: stored == plaintext, zstd: stored < plaintext. InvalidArgument.
  [[nodiscard]] absl::Status Validate() const;

  // Appends kRecordHeaderSize bytes to `dst` (no validation).
  void EncodeTo(std::vector<uint8_t>* dst) const;
  // Decodes the record header at the start of `src`. DataLoss for a short input, a bad magic,
  // a bad header checksum, an unknown type or compression, a non-zero reserved field or fields
  // that break Validate(). Does not check the payload. On error *this is unchanged.
  [[nodiscard]] absl::Status DecodeFrom(std::span<const uint8_t> src);

  friend bool operator==(const RecordHeader&, const RecordHeader&) = default;
};

// XXH3-64 (seed 0) of stored bytes: a checksum against bit rot, never an identity.
crypto::Checksum PayloadChecksum(std::span<const uint8_t> stored);

// Whether `src` starts with the record magic (cheap pre-check for resynchronising).
bool StartsWithRecordMagic(std::span<const uint8_t> src);

// "raw" / "zstd" / "unknown(N)", for messages.
std::string CompressionName(Compression compression);

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_STORE_CONTAINER_FORMAT_H_
