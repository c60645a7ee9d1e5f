#include "storage/store/container_format.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace sealpool::storage {

namespace {

// Field offsets of the file header, version 1 (see the diagram in the header).
constexpr size_t kHdrMagic = 0;
constexpr size_t kHdrVersion = 8;
constexpr size_t kHdrHeaderSize = 10;
constexpr size_t kHdrFlags = 12;
constexpr size_t kHdrChecksum = kContainerHeaderChecksumOffset;
constexpr size_t kHdrContainerId = 24;
constexpr size_t kHdrCreated = 32;
constexpr size_t kHdrPoolId = 40;
constexpr size_t kHdrKeyGroupId = 56;
constexpr size_t kHdrEnd = 72;
// The part every version shares: magic, version, header_size, flags, checksum.
constexpr size_t kHdrCommonPrefix = 24;

// Field offsets of a record header.
constexpr size_t kRecMagic = 0;
constexpr size_t kRecType = 4;
constexpr size_t kRecCompression = 5;
constexpr size_t kRecReserved = 6;
constexpr size_t kRecHeaderChecksum = kRecordHeaderChecksumOffset;
constexpr size_t kRecPayloadChecksum = 16;
constexpr size_t kRecSegmentId = 24;
constexpr size_t kRecPlaintextLength = 32;
constexpr size_t kRecStoredLength = 36;
constexpr size_t kRecFingerprint = 40;
constexpr size_t kRecNonce = 72;
constexpr size_t kRecTag = 84;
constexpr size_t kRecEnd = 100;

static_assert(kHdrMagic + magic::kContainerFileMagic.size() == kHdrVersion);
static_assert(kHdrKeyGroupId + sizeof(Id128) == kHdrEnd);
static_assert(kHdrEnd == kContainerHeaderSize, "file header v1 is 72 bytes");
static_assert(kContainerHeaderSize <= kMaxContainerHeaderSize);
static_assert(kRecordHeaderSize <= kMaxContainerHeaderSize, "HeaderChecksum copies it");
static_assert(crypto::Fingerprint::kSize == 32);
static_assert(kRecFingerprint + crypto::Fingerprint::kSize == kRecNonce);
static_assert(kRecNonce + sizeof(GcmNonce) == kRecTag);
static_assert(kRecTag + sizeof(GcmTag) == kRecEnd);
static_assert(kRecEnd == kRecordHeaderSize, "record header v1 is 100 bytes");
static_assert(kMaxRecordSize <= UINT32_MAX, "a record fits in a u32 length");

// Little-endian fixed-width coding, written out byte by byte (no host byte order anywhere).
void PutU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint16_t GetU16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (static_cast<uint16_t>(p[1]) << 8));
}
uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
template <size_t N>
void PutBytes(uint8_t* p, const std::array<uint8_t, N>& a) {
  std::memcpy(p, a.data(), N);
}
template <size_t N>
void GetBytes(const uint8_t* p, std::array<uint8_t, N>* a) {
  std::memcpy(a->data(), p, N);
}

// XXH3-64 of `bytes` (at most kMaxContainerHeaderSize) with the 8 bytes at `checksum_offset`
// taken as zero.
uint64_t HeaderChecksum(std::span<const uint8_t> bytes, size_t checksum_offset) {
  std::array<uint8_t, kMaxContainerHeaderSize> copy;
  std::memcpy(copy.data(), bytes.data(), bytes.size());
  std::memset(copy.data() + checksum_offset, 0, 8);
  return XXH3_64bits(copy.data(), bytes.size());
}

}  // namespace

void ContainerHeader::EncodeTo(std::vector<uint8_t>* dst) const {
  size_t start = dst->size();
  dst->resize(start + kContainerHeaderSize, 0);
  uint8_t* p = dst->data() + start;
  std::memcpy(p + kHdrMagic, magic::kContainerFileMagic.data(), magic::kContainerFileMagic.size());
  PutU16(p + kHdrVersion, format_version);
  PutU16(p + kHdrHeaderSize, static_cast<uint16_t>(kContainerHeaderSize));
  PutU32(p + kHdrFlags, 0);
  PutU64(p + kHdrContainerId, container_id);
  PutU64(p + kHdrCreated, created_unix_micros);
  PutBytes(p + kHdrPoolId, pool_id);
  PutBytes(p + kHdrKeyGroupId, key_group_id);
  PutU64(p + kHdrChecksum, HeaderChecksum({p, kContainerHeaderSize}, kHdrChecksum));
}

absl::Status ContainerHeader::DecodeFrom(std::span<const uint8_t> src) {
  if (src.size() < kHdrCommonPrefix) {
    return absl::DataLossError(absl::StrCat("container header truncated: ", src.size(),
                                            " bytes, need at least ", kHdrCommonPrefix));
  }
  const uint8_t* p = src.data();
  if (!std::equal(magic::kContainerFileMagic.begin(), magic::kContainerFileMagic.end(), p)) {
    return absl::DataLossError("not a sealpool container file: bad magic");
  }
  uint16_t version = GetU16(p + kHdrVersion);
  uint16_t header_size = GetU16(p + kHdrHeaderSize);
  if (header_size < kHdrCommonPrefix || header_size > kMaxContainerHeaderSize) {
    return absl::DataLossError(
        absl::StrCat("container header corrupt: header_size ", header_size, " is impossible"));
  }
  if (src.size() < header_size) {
    return absl::DataLossError(
        absl::StrCat("container header truncated: ", src.size(), " bytes of ", header_size));
  }
  uint64_t stored = GetU64(p + kHdrChecksum);
  uint64_t computed = HeaderChecksum(src.first(header_size), kHdrChecksum);
  if (stored != computed) {
    return absl::DataLossError(absl::StrCat("container header corrupt: checksum mismatch (stored ",
                                            absl::Hex(stored, absl::kZeroPad16), ", computed ",
                                            absl::Hex(computed, absl::kZeroPad16), ")"));
  }
  if (version == 0) return absl::DataLossError("container header corrupt: format version 0");
  if (version > magic::kContainerFormatNewest) {
    return absl::FailedPreconditionError(
        absl::StrCat("container format version ", version, " is newer than this binary reads (",
                     magic::kContainerFormatNewest, "); upgrade sealpool"));
  }
  if (header_size != kContainerHeaderSize) {
    return absl::DataLossError(absl::StrCat("container header corrupt: header_size ", header_size,
                                            " for version ", version));
  }
  if (uint32_t flags = GetU32(p + kHdrFlags); flags != 0) {
    return absl::DataLossError(
        absl::StrCat("container header corrupt: unknown flags ", absl::Hex(flags)));
  }
  format_version = version;
  container_id = GetU64(p + kHdrContainerId);
  created_unix_micros = GetU64(p + kHdrCreated);
  GetBytes(p + kHdrPoolId, &pool_id);
  GetBytes(p + kHdrKeyGroupId, &key_group_id);
  return absl::OkStatus();
}

absl::Status RecordHeader::Validate() const {
  if (type != RecordType::kSealedSegment) {
    return absl::InvalidArgumentError(absl::StrCat("unknown record type ", static_cast<int>(type)));
  }
  if (compression != Compression::kRaw && compression != Compression::kZstd) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown compression ", static_cast<int>(compression)));
  }
  if (plaintext_length == 0 || plaintext_length > kMaxPlaintextLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("plaintext length ", plaintext_length, " outside 1..", kMaxPlaintextLength));
  }
  if (stored_length > kMaxStoredLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("stored length ", stored_length, " over the limit ", kMaxStoredLength));
  }
  if (compression == Compression::kRaw && stored_length != plaintext_length) {
    return absl::InvalidArgumentError(absl::StrCat("raw segment with stored length ", stored_length,
                                                   " != plaintext length ", plaintext_length));
  }
  if (compression == Compression::kZstd && stored_length >= plaintext_length) {
    return absl::InvalidArgumentError(absl::StrCat("zstd segment that does not shrink (stored ",
                                                   stored_length, ", plaintext ", plaintext_length,
                                                   "): it must be stored raw"));
  }
  return absl::OkStatus();
}

void RecordHeader::EncodeTo(std::vector<uint8_t>* dst) const {
  size_t start = dst->size();
  dst->resize(start + kRecordHeaderSize, 0);
  uint8_t* p = dst->data() + start;
  PutU32(p + kRecMagic, magic::kContainerRecordMagic);
  p[kRecType] = static_cast<uint8_t>(type);
  p[kRecCompression] = static_cast<uint8_t>(compression);
  PutU16(p + kRecReserved, 0);
  PutU64(p + kRecPayloadChecksum, payload_checksum.value());
  PutU64(p + kRecSegmentId, segment_id.value());
  PutU32(p + kRecPlaintextLength, plaintext_length);
  PutU32(p + kRecStoredLength, stored_length);
  PutBytes(p + kRecFingerprint, fingerprint.bytes());
  PutBytes(p + kRecNonce, nonce);
  PutBytes(p + kRecTag, tag);
  PutU64(p + kRecHeaderChecksum, HeaderChecksum({p, kRecordHeaderSize}, kRecHeaderChecksum));
}

absl::Status RecordHeader::DecodeFrom(std::span<const uint8_t> src) {
  if (src.size() < kRecordHeaderSize) {
    return absl::DataLossError(
        absl::StrCat("record header truncated: ", src.size(), " bytes of ", kRecordHeaderSize));
  }
  const uint8_t* p = src.data();
  if (uint32_t m = GetU32(p + kRecMagic); m != magic::kContainerRecordMagic) {
    return absl::DataLossError(
        absl::StrCat("record header corrupt: bad magic ", absl::Hex(m, absl::kZeroPad8)));
  }
  uint64_t stored = GetU64(p + kRecHeaderChecksum);
  uint64_t computed = HeaderChecksum(src.first(kRecordHeaderSize), kRecHeaderChecksum);
  if (stored != computed) {
    return absl::DataLossError(absl::StrCat("record header corrupt: checksum mismatch (stored ",
                                            absl::Hex(stored, absl::kZeroPad16), ", computed ",
                                            absl::Hex(computed, absl::kZeroPad16), ")"));
  }
  if (uint16_t reserved = GetU16(p + kRecReserved); reserved != 0) {
    return absl::DataLossError(
        absl::StrCat("record header corrupt: reserved field ", reserved, " is not zero"));
  }
  RecordHeader h;
  h.type = static_cast<RecordType>(p[kRecType]);
  h.compression = static_cast<Compression>(p[kRecCompression]);
  h.payload_checksum = crypto::Checksum(GetU64(p + kRecPayloadChecksum));
  h.segment_id = crypto::SegmentId(GetU64(p + kRecSegmentId));
  h.plaintext_length = GetU32(p + kRecPlaintextLength);
  h.stored_length = GetU32(p + kRecStoredLength);
  std::array<uint8_t, crypto::Fingerprint::kSize> fingerprint_bytes;
  GetBytes(p + kRecFingerprint, &fingerprint_bytes);
  h.fingerprint = crypto::Fingerprint::FromArray(fingerprint_bytes);
  GetBytes(p + kRecNonce, &h.nonce);
  GetBytes(p + kRecTag, &h.tag);
  if (absl::Status status = h.Validate(); !status.ok()) {
    return absl::DataLossError(absl::StrCat("record header corrupt (segment ", h.segment_id.value(),
                                            "): ", status.message()));
  }
  *this = h;
  return absl::OkStatus();
}

crypto::Checksum PayloadChecksum(std::span<const uint8_t> stored) {
  return crypto::Checksum(XXH3_64bits(stored.data(), stored.size()));
}

bool StartsWithRecordMagic(std::span<const uint8_t> src) {
  return src.size() >= 4 && GetU32(src.data()) == magic::kContainerRecordMagic;
}

std::string CompressionName(Compression compression) {
  switch (compression) {
    case Compression::kRaw:
      return "raw";
    case Compression::kZstd:
      return "zstd";
  }
  return absl::StrCat("unknown(", static_cast<int>(compression), ")");
}

}  // namespace sealpool::storage
