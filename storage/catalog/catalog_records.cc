#include "storage/catalog/catalog_records.h"

#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "base/strings.h"

namespace sealpool::storage {

namespace {

// Bounds of value fields that catalog_records.h does not name (docs/format.md, "Catalog").
constexpr size_t kMaxChunkerParamsLength = 256;  // ChunkerParams v1 is 24 bytes
constexpr size_t kMaxOwnerLength = 1024;         // a client certificate's identity

// ---- Little-endian value coding ------------------------------------------------------------

void PutU8(std::string* dst, uint8_t v) { dst->push_back(static_cast<char>(v)); }
void PutU16(std::string* dst, uint16_t v) {
  for (int i = 0; i < 2; ++i) dst->push_back(static_cast<char>(static_cast<uint8_t>(v >> (8 * i))));
}
void PutU32(std::string* dst, uint32_t v) {
  for (int i = 0; i < 4; ++i) dst->push_back(static_cast<char>(static_cast<uint8_t>(v >> (8 * i))));
}
void PutU64(std::string* dst, uint64_t v) {
  for (int i = 0; i < 8; ++i) dst->push_back(static_cast<char>(static_cast<uint8_t>(v >> (8 * i))));
}
template <size_t N>
void PutArray(std::string* dst, const std::array<uint8_t, N>& a) {
  dst->append(reinterpret_cast<const char*>(a.data()), N);
}
// u16 length, then the bytes. Callers keep every string far below 64 KiB (the bounds above).
void PutString(std::string* dst, std::string_view s) {
  PutU16(dst, static_cast<uint16_t>(s.size()));
  dst->append(s);
}

// Reads one value front to back; the first failure sticks and names the record kind.
class Reader {
 public:
  Reader(std::string_view src, std::string_view kind) : src_(src), kind_(kind) {}

  // The version byte: DataLoss if missing or 0, FailedPrecondition if newer than this binary.
  absl::Status Version(uint8_t newest = kCatalogRecordVersion) {
    if (src_.empty()) return absl::DataLossError(base::Cat(kind_, " record is empty"));
    uint8_t version = static_cast<uint8_t>(src_[0]);
    if (version == 0) {
      return absl::DataLossError(base::Cat(kind_, " record corrupt: version 0"));
    }
    if (version > newest) {
      return absl::FailedPreconditionError(
          base::Cat(kind_, " record version ", version, " was written by a newer sealpool (",
                       "this binary reads up to ", newest, "); upgrade sealpool"));
    }
    pos_ = 1;
    return absl::OkStatus();
  }

  uint8_t U8() {
    const char* p = Take(1);
    return p == nullptr ? 0 : static_cast<uint8_t>(p[0]);
  }
  uint16_t U16() {
    const char* p = Take(2);
    if (p == nullptr) return 0;
    return static_cast<uint16_t>(static_cast<uint8_t>(p[0]) |
                                 (static_cast<uint16_t>(static_cast<uint8_t>(p[1])) << 8));
  }
  uint32_t U32() {
    const char* p = Take(4);
    uint32_t v = 0;
    if (p != nullptr) {
      for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
    }
    return v;
  }
  uint64_t U64() {
    const char* p = Take(8);
    uint64_t v = 0;
    if (p != nullptr) {
      for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
    }
    return v;
  }
  template <size_t N>
  void Array(std::array<uint8_t, N>* out) {
    const char* p = Take(N);
    if (p != nullptr) std::memcpy(out->data(), p, N);
  }
  // A u16-length string of at most `max` bytes; with `no_nul`, a NUL byte is corruption.
  std::string String(std::string_view field, size_t max, bool no_nul) {
    uint16_t length = U16();
    if (!status_.ok()) return {};
    if (length > max) {
      Fail(base::Cat(field, " length ", length, " over the limit ", max));
      return {};
    }
    const char* p = Take(length);
    if (p == nullptr) return {};
    std::string_view s(p, length);
    if (no_nul && s.find('\0') != std::string_view::npos) {
      Fail(base::Cat(field, " contains a NUL byte"));
      return {};
    }
    return std::string(s);
  }

  bool ok() const { return status_.ok(); }

  void Fail(std::string_view why) {
    if (status_.ok()) status_ = absl::DataLossError(base::Cat(kind_, " record corrupt: ", why));
  }

  // OK if every byte was read and nothing failed.
  absl::Status Finish() {
    if (status_.ok() && pos_ != src_.size()) {
      Fail(base::Cat(src_.size() - pos_, " trailing bytes"));
    }
    return status_;
  }

 private:
  const char* Take(size_t n) {
    if (!status_.ok()) return nullptr;
    if (src_.size() - pos_ < n) {
      status_ = absl::DataLossError(base::Cat(kind_, " record truncated: ", src_.size(),
                                                 " bytes"));
      return nullptr;
    }
    const char* p = src_.data() + pos_;
    pos_ += n;
    return p;
  }

  std::string_view src_;
  std::string_view kind_;
  size_t pos_ = 0;
  absl::Status status_;
};

std::string HexKey(std::string_view key) { return absl::BytesToHexString(base::AbslView(key)); }

absl::Status BadKey(std::string_view kind, std::string_view key, std::string_view why) {
  return absl::DataLossError(base::Cat(kind, " key ", HexKey(key), " corrupt: ", why));
}

std::string Prefixed(char tag, std::string_view rest) {
  std::string key(1, tag);
  key.append(rest);
  return key;
}

}  // namespace

// ---- Big-endian key helpers ------------------------------------------------------------------

void AppendU32BE(std::string* dst, uint32_t value) {
  for (int i = 3; i >= 0; --i) dst->push_back(static_cast<char>(static_cast<uint8_t>(value >> (8 * i))));
}
void AppendU64BE(std::string* dst, uint64_t value) {
  for (int i = 7; i >= 0; --i) dst->push_back(static_cast<char>(static_cast<uint8_t>(value >> (8 * i))));
}
uint32_t LoadU32BE(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t LoadU64BE(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// ---- Cf::kMeta ---------------------------------------------------------------------------------

std::string PoolMetaKey() { return "pool"; }

std::string EncodePoolMeta(const PoolMeta& meta) {
  std::string out;
  PutU8(&out, kCatalogRecordVersion);
  PutU16(&out, meta.catalog_format_version);
  PutArray(&out, meta.pool_id);
  PutU64(&out, meta.created_unix_micros);
  return out;
}

absl::StatusOr<PoolMeta> DecodePoolMeta(std::string_view value) {
  Reader r(value, "pool meta");
  if (absl::Status s = r.Version(); !s.ok()) return s;
  PoolMeta meta;
  meta.catalog_format_version = r.U16();
  r.Array(&meta.pool_id);
  meta.created_unix_micros = r.U64();
  if (absl::Status s = r.Finish(); !s.ok()) return s;
  if (meta.catalog_format_version == 0) {
    return absl::DataLossError("pool meta record corrupt: catalog format version 0");
  }
  if (meta.catalog_format_version > kCatalogFormatNewest) {
    return absl::FailedPreconditionError(base::Cat(
        "catalog format version ", meta.catalog_format_version,
        " was written by a newer sealpool (this binary reads up to ", kCatalogFormatNewest,
        "); upgrade sealpool"));
  }
  return meta;
}

std::string KeyGroupKey(uint32_t group_no) {
  std::string key = KeyGroupPrefix();
  AppendU32BE(&key, group_no);
  return key;
}
std::string KeyGroupPrefix() { return "kg/"; }

std::string EncodeKeyGroup(const KeyGroupRecord& record) {
  std::string out;
  PutU8(&out, kCatalogRecordVersion);
  PutU32(&out, record.group_no);
  PutString(&out, record.name);
  PutArray(&out, record.group_id);
  PutString(&out, record.chunker_params);
  PutString(&out, record.kms_backend);
  PutU64(&out, record.created_unix_micros);
  return out;
}

absl::StatusOr<KeyGroupRecord> DecodeKeyGroup(std::string_view value) {
  Reader r(value, "key group");
  if (absl::Status s = r.Version(); !s.ok()) return s;
  KeyGroupRecord record;
  record.group_no = r.U32();
  record.name = r.String("name", kMaxNameLength, /*no_nul=*/true);
  r.Array(&record.group_id);
  record.chunker_params = r.String("chunker params", kMaxChunkerParamsLength, /*no_nul=*/false);
  record.kms_backend = r.String("kms backend", kMaxNameLength, /*no_nul=*/true);
  record.created_unix_micros = r.U64();
  if (absl::Status s = r.Finish(); !s.ok()) return s;
  return record;
}

std::string LsuKey(std::string_view name) { return base::Cat(LsuPrefix(), name); }
std::string LsuPrefix() { return "lsu/"; }

std::string EncodeLsu(const LsuRecord& record) {
  std::string out;
  PutU8(&out, kCatalogRecordVersion);
  PutString(&out, record.name);
  PutU32(&out, record.group_no);
  PutU8(&out, record.allow_client_delete ? 1 : 0);
  PutU64(&out, record.created_unix_micros);
  PutU64(&out, record.max_retention_micros);
  return out;
}

absl::StatusOr<LsuRecord> DecodeLsu(std::string_view value) {
  Reader r(value, "LSU");
  if (absl::Status s = r.Version(); !s.ok()) return s;
  LsuRecord record;
  record.name = r.String("name", kMaxNameLength, /*no_nul=*/true);
  record.group_no = r.U32();
  uint8_t allow = r.U8();
  record.created_unix_micros = r.U64();
  record.max_retention_micros = r.U64();
  if (absl::Status s = r.Finish(); !s.ok()) return s;
  if (allow > 1) {
    return absl::DataLossError(
        base::Cat("LSU record corrupt: allow_client_delete ", allow, " is not 0 or 1"));
  }
  if (record.max_retention_micros == 0 ||
      record.max_retention_micros > static_cast<uint64_t>(INT64_MAX)) {
    return absl::DataLossError(base::Cat("LSU record corrupt: max_retention ",
                                         record.max_retention_micros, " us is out of range"));
  }
  record.allow_client_delete = allow == 1;
  return record;
}

std::string AllocatorKey(std::string_view what) { return base::Cat("alloc/", what); }

std::string EncodeU64(uint64_t value) {
  std::string out;
  PutU64(&out, value);
  return out;
}

absl::StatusOr<uint64_t> DecodeU64(std::string_view value, std::string_view what) {
  if (value.size() != 8) {
    return absl::DataLossError(
        base::Cat(what, " value corrupt: ", value.size(), " bytes, expected 8"));
  }
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(value[static_cast<size_t>(i)]);
  return v;
}

// ---- Cf::kFingerprints -------------------------------------------------------------------------

std::string FingerprintIndexKey(uint32_t group_no, const crypto::Fingerprint& fingerprint) {
  std::string key = FingerprintIndexPrefix(group_no);
  PutArray(&key, fingerprint.bytes());
  return key;
}

std::string FingerprintIndexPrefix(uint32_t group_no) {
  std::string key;
  AppendU32BE(&key, group_no);
  return key;
}

absl::StatusOr<crypto::Fingerprint> DecodeFingerprintIndexKey(std::string_view key,
                                                             uint32_t* group_no) {
  if (key.size() != 4 + crypto::Fingerprint::kSize) {
    return BadKey("fingerprint index", key, base::Cat(key.size(), " bytes, expected 36"));
  }
  std::array<uint8_t, crypto::Fingerprint::kSize> bytes;
  std::memcpy(bytes.data(), key.data() + 4, bytes.size());
  *group_no = LoadU32BE(key.data());
  return crypto::Fingerprint::FromArray(bytes);
}

// ---- Cf::kSegments -----------------------------------------------------------------------------

std::string SegmentKey(uint32_t group_no, crypto::SegmentId id) {
  std::string key = SegmentPrefix(group_no);
  AppendU64BE(&key, id.value());
  return key;
}

std::string SegmentPrefix(uint32_t group_no) {
  std::string key;
  AppendU32BE(&key, group_no);
  return key;
}

absl::StatusOr<crypto::SegmentId> DecodeSegmentKey(std::string_view key, uint32_t* group_no) {
  if (key.size() != 12) {
    return BadKey("segment", key, base::Cat(key.size(), " bytes, expected 12"));
  }
  *group_no = LoadU32BE(key.data());
  return crypto::SegmentId(LoadU64BE(key.data() + 4));
}

std::string EncodeSegmentRecord(const SegmentRecord& record) {
  std::string out;
  out.reserve(114);
  PutU8(&out, record.batch_id == 0 ? kCatalogRecordVersion : kSegmentRecordVersionBatched);
  PutU64(&out, record.container_id);
  PutU64(&out, record.offset);
  PutU32(&out, record.record_length);
  PutU32(&out, record.plaintext_length);
  PutU32(&out, record.stored_length);
  PutU8(&out, static_cast<uint8_t>(record.compression));
  PutU32(&out, record.kek_id);
  PutArray(&out, record.wrapped_dek);
  PutArray(&out, record.fingerprint.bytes());
  if (record.batch_id != 0) PutU64(&out, record.batch_id);
  return out;
}

absl::StatusOr<SegmentRecord> DecodeSegmentRecord(std::string_view value) {
  // Version 2 (a batched DEK) is version 1 plus a trailing batch id.
  Reader r(value, "segment");
  if (absl::Status s = r.Version(kSegmentRecordVersionBatched); !s.ok()) return s;
  const bool batched = static_cast<uint8_t>(value[0]) == kSegmentRecordVersionBatched;
  SegmentRecord record;
  record.container_id = r.U64();
  record.offset = r.U64();
  record.record_length = r.U32();
  record.plaintext_length = r.U32();
  record.stored_length = r.U32();
  uint8_t compression = r.U8();
  record.kek_id = r.U32();
  r.Array(&record.wrapped_dek);
  std::array<uint8_t, crypto::Fingerprint::kSize> fingerprint{};
  r.Array(&fingerprint);
  if (batched) {
    record.batch_id = r.U64();
  }
  if (absl::Status s = r.Finish(); !s.ok()) return s;
  if (batched && record.batch_id == 0) {
    return absl::DataLossError("segment record corrupt: version 2 with batch id 0");
  }
  if (compression != static_cast<uint8_t>(Compression::kRaw) &&
      compression != static_cast<uint8_t>(Compression::kZstd)) {
    return absl::DataLossError(
        base::Cat("segment record corrupt: unknown compression ", compression));
  }
  if (record.plaintext_length == 0 || record.plaintext_length > kMaxPlaintextLength) {
    return absl::DataLossError(base::Cat("segment record corrupt: plaintext length ",
                                            record.plaintext_length, " outside 1..",
                                            kMaxPlaintextLength));
  }
  if (record.stored_length > kMaxStoredLength) {
    return absl::DataLossError(base::Cat("segment record corrupt: stored length ",
                                            record.stored_length, " over ", kMaxStoredLength));
  }
  if (record.record_length != kRecordHeaderSize + record.stored_length) {
    return absl::DataLossError(base::Cat("segment record corrupt: record length ",
                                            record.record_length, " != ", kRecordHeaderSize,
                                            " + stored length ", record.stored_length));
  }
  record.compression = static_cast<Compression>(compression);
  record.fingerprint = crypto::Fingerprint::FromArray(fingerprint);
  return record;
}

// ---- Cf::kImages -------------------------------------------------------------------------------

std::string ImageRecordKey(uint64_t image_id) {
  std::string key = ImagePrefix();
  AppendU64BE(&key, image_id);
  return key;
}
std::string ImagePrefix() { return "I"; }

std::string ImageNameKey(std::string_view lsu, std::string_view owner, std::string_view name) {
  std::string key = ImageOwnerPrefix(lsu, owner);
  key.append(name);
  return key;
}

std::string ImageOwnerPrefix(std::string_view lsu, std::string_view owner) {
  std::string key = ImageNamePrefix(lsu);
  key.append(owner);
  key.push_back('\0');
  return key;
}

std::string ImageNamePrefix(std::string_view lsu) {
  std::string key = Prefixed('N', lsu);
  key.push_back('\0');
  return key;
}

std::string EncodeImage(const ImageRecord& record) {
  std::string out;
  PutU8(&out, kCatalogRecordVersion);
  PutU64(&out, record.image_id);
  PutString(&out, record.lsu);
  PutString(&out, record.name);
  PutU32(&out, record.group_no);
  PutU64(&out, record.size);
  PutU64(&out, record.extent_count);
  PutU64(&out, record.created_unix_micros);
  PutU64(&out, record.retain_until_unix_micros);
  PutString(&out, record.owner);
  PutU16(&out, static_cast<uint16_t>(record.labels.size()));
  for (const auto& [key, value] : record.labels) {
    PutString(&out, key);
    PutString(&out, value);
  }
  PutArray(&out, record.recipe_digest);
  PutArray(&out, record.content_digest);
  PutArray(&out, record.identity_digest);
  return out;
}

std::string EncodeImageIdentity(const ImageRecord& record) {
  std::string out;
  auto put_str = [&out](std::string_view s) {
    PutU64(&out, s.size());
    out.append(s);
  };
  PutU64(&out, kImageDigestVersion);
  PutU64(&out, record.image_id);
  put_str(record.lsu);
  put_str(record.name);
  put_str(record.owner);
  PutU64(&out, record.group_no);
  PutU64(&out, record.size);
  PutU64(&out, record.extent_count);
  PutU64(&out, record.created_unix_micros);
  PutU64(&out, record.retain_until_unix_micros);
  PutU64(&out, record.labels.size());
  for (const auto& [key, value] : record.labels) {  // std::map: bytewise key order
    put_str(key);
    put_str(value);
  }
  PutArray(&out, record.recipe_digest);
  PutArray(&out, record.content_digest);
  return out;
}

absl::StatusOr<ImageRecord> DecodeImage(std::string_view value) {
  Reader r(value, "image");
  if (absl::Status s = r.Version(); !s.ok()) return s;
  ImageRecord record;
  record.image_id = r.U64();
  record.lsu = r.String("LSU name", kMaxNameLength, /*no_nul=*/true);
  record.name = r.String("image name", kMaxNameLength, /*no_nul=*/true);
  record.group_no = r.U32();
  record.size = r.U64();
  record.extent_count = r.U64();
  record.created_unix_micros = r.U64();
  record.retain_until_unix_micros = r.U64();
  record.owner = r.String("owner", kMaxOwnerLength, /*no_nul=*/true);
  uint16_t label_count = r.U16();
  if (label_count > kMaxLabels) {
    r.Fail(base::Cat(label_count, " labels, over the limit ", kMaxLabels));
  }
  for (uint16_t i = 0; i < label_count && r.ok(); ++i) {
    std::string key = r.String("label key", kMaxLabelLength, /*no_nul=*/false);
    std::string label = r.String("label value", kMaxLabelLength, /*no_nul=*/false);
    if (!r.ok()) break;
    // Keys are written in strictly increasing order (std::map): anything else is corruption,
    // and the encoding of a record is unique.
    if (!record.labels.empty() && key <= record.labels.rbegin()->first) {
      r.Fail("label keys out of order or repeated");
      break;
    }
    record.labels.emplace_hint(record.labels.end(), std::move(key), std::move(label));
  }
  r.Array(&record.recipe_digest);
  r.Array(&record.content_digest);
  r.Array(&record.identity_digest);
  if (absl::Status s = r.Finish(); !s.ok()) return s;
  return record;
}

// ---- Cf::kRecipes ------------------------------------------------------------------------------

std::string RecipeKey(uint64_t image_id, uint64_t offset) {
  std::string key = RecipePrefix(image_id);
  AppendU64BE(&key, offset);
  return key;
}

std::string RecipePrefix(uint64_t image_id) {
  std::string key;
  AppendU64BE(&key, image_id);
  return key;
}

absl::StatusOr<uint64_t> DecodeRecipeKeyOffset(std::string_view key, uint64_t image_id) {
  if (key.size() != 16) {
    return BadKey("recipe", key, base::Cat(key.size(), " bytes, expected 16"));
  }
  if (LoadU64BE(key.data()) != image_id) {
    return BadKey("recipe", key, base::Cat("not of image ", image_id));
  }
  return LoadU64BE(key.data() + 8);
}

std::string EncodeRecipeExtent(const RecipeExtent& extent) {
  std::string out;
  PutU8(&out, kCatalogRecordVersion);
  PutU64(&out, extent.segment_id.value());
  PutU32(&out, extent.length);
  return out;
}

absl::StatusOr<RecipeExtent> DecodeRecipeExtent(std::string_view value) {
  Reader r(value, "recipe extent");
  if (absl::Status s = r.Version(); !s.ok()) return s;
  RecipeExtent extent;
  extent.segment_id = crypto::SegmentId(r.U64());
  extent.length = r.U32();
  if (absl::Status s = r.Finish(); !s.ok()) return s;
  if (extent.length == 0 || extent.length > kMaxPlaintextLength) {
    return absl::DataLossError(base::Cat("recipe extent record corrupt: length ",
                                            extent.length, " outside 1..", kMaxPlaintextLength));
  }
  return extent;
}

// ---- Cf::kClientDigests -----------------------------------------------------------------------

std::string ClientDigestIndexKey(uint64_t image_id,
                            std::span<const uint8_t, kClientDigestSize> digest) {
  std::string key = ClientDigestPrefix(image_id);
  key.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return key;
}

std::string ClientDigestPrefix(uint64_t image_id) {
  std::string key;
  AppendU64BE(&key, image_id);
  return key;
}

std::string EncodeClientDigestEntry(const ClientDigestEntry& entry) {
  std::string out;
  PutU8(&out, kCatalogRecordVersion);
  PutU64(&out, entry.segment_id.value());
  PutU32(&out, entry.length);
  return out;
}

absl::StatusOr<ClientDigestEntry> DecodeClientDigestEntry(std::string_view value) {
  Reader r(value, "client digest entry");
  if (absl::Status s = r.Version(); !s.ok()) return s;
  ClientDigestEntry entry;
  entry.segment_id = crypto::SegmentId(r.U64());
  entry.length = r.U32();
  if (absl::Status s = r.Finish(); !s.ok()) return s;
  if (entry.length == 0 || entry.length > kMaxPlaintextLength) {
    return absl::DataLossError(base::Cat("client digest entry corrupt: length ", entry.length,
                                         " outside 1..", kMaxPlaintextLength));
  }
  return entry;
}

// ---- Cf::kDeleteQueue --------------------------------------------------------------------------

std::string DeleteQueueKey(uint64_t sequence) {
  std::string key;
  AppendU64BE(&key, sequence);
  return key;
}

absl::StatusOr<uint64_t> DecodeDeleteQueueKey(std::string_view key) {
  if (key.size() != 8) {
    return BadKey("delete queue", key, base::Cat(key.size(), " bytes, expected 8"));
  }
  return LoadU64BE(key.data());
}

std::string EncodeDeleteJob(const DeleteJob& job) {
  std::string out;
  PutU8(&out, kCatalogRecordVersion);
  PutU8(&out, static_cast<uint8_t>(job.kind));
  PutU32(&out, job.group_no);
  PutU64(&out, job.image_id);
  PutU64(&out, job.next_offset);
  PutU64(&out, job.segment_id.value());
  return out;
}

absl::StatusOr<DeleteJob> DecodeDeleteJob(std::string_view value) {
  Reader r(value, "delete job");
  if (absl::Status s = r.Version(); !s.ok()) return s;
  DeleteJob job;
  uint8_t kind = r.U8();
  job.group_no = r.U32();
  job.image_id = r.U64();
  job.next_offset = r.U64();
  job.segment_id = crypto::SegmentId(r.U64());
  if (absl::Status s = r.Finish(); !s.ok()) return s;
  if (kind != static_cast<uint8_t>(DeleteJob::Kind::kImageReferences) &&
      kind != static_cast<uint8_t>(DeleteJob::Kind::kReclaimSegment)) {
    return absl::DataLossError(base::Cat("delete job record corrupt: unknown kind ", kind));
  }
  job.kind = static_cast<DeleteJob::Kind>(kind);
  return job;
}

// ---- Cf::kSessions -----------------------------------------------------------------------------

std::string SessionSegmentKey(uint64_t session_id, uint32_t group_no, crypto::SegmentId id) {
  std::string key = SessionPrefix(session_id);
  AppendU32BE(&key, group_no);
  AppendU64BE(&key, id.value());
  return key;
}

std::string SessionPrefix(uint64_t session_id) {
  std::string key;
  AppendU64BE(&key, session_id);
  return key;
}

absl::Status DecodeSessionSegmentKey(std::string_view key, uint64_t* session_id,
                                     uint32_t* group_no, crypto::SegmentId* id) {
  if (key.size() != 20) {
    return BadKey("session segment", key, base::Cat(key.size(), " bytes, expected 20"));
  }
  *session_id = LoadU64BE(key.data());
  *group_no = LoadU32BE(key.data() + 8);
  *id = crypto::SegmentId(LoadU64BE(key.data() + 12));
  return absl::OkStatus();
}

// ---- Cf::kContainers ---------------------------------------------------------------------------

std::string ContainerKey(uint64_t container_id) {
  std::string key;
  AppendU64BE(&key, container_id);
  return key;
}

absl::StatusOr<uint64_t> DecodeContainerKey(std::string_view key) {
  if (key.size() != 8) {
    return BadKey("container", key, base::Cat(key.size(), " bytes, expected 8"));
  }
  return LoadU64BE(key.data());
}

std::string EncodeContainer(const ContainerRecord& record) {
  std::string out;
  PutU8(&out, kCatalogRecordVersion);
  PutU32(&out, record.group_no);
  PutU8(&out, static_cast<uint8_t>(record.state));
  PutU64(&out, record.created_unix_micros);
  return out;
}

absl::StatusOr<ContainerRecord> DecodeContainer(std::string_view value) {
  Reader r(value, "container");
  if (absl::Status s = r.Version(); !s.ok()) return s;
  ContainerRecord record;
  record.group_no = r.U32();
  uint8_t state = r.U8();
  record.created_unix_micros = r.U64();
  if (absl::Status s = r.Finish(); !s.ok()) return s;
  if (state != static_cast<uint8_t>(ContainerRecord::State::kActive) &&
      state != static_cast<uint8_t>(ContainerRecord::State::kRetired)) {
    return absl::DataLossError(base::Cat("container record corrupt: unknown state ", state));
  }
  record.state = static_cast<ContainerRecord::State>(state);
  return record;
}

// ---- Cf::kCounters -----------------------------------------------------------------------------

std::string RefcountKey(uint32_t group_no, crypto::SegmentId id) {
  std::string key(1, 'R');
  AppendU32BE(&key, group_no);
  AppendU64BE(&key, id.value());
  return key;
}

std::string ContainerCounterKey(uint64_t container_id, ContainerField field) {
  std::string key = ContainerCounterPrefix(container_id);
  key.push_back(static_cast<char>(field));
  return key;
}

std::string ContainerCounterPrefix(uint64_t container_id) {
  std::string key(1, 'C');
  AppendU64BE(&key, container_id);
  return key;
}

std::string PoolCounterKey(std::string_view name) { return Prefixed('P', name); }

std::string OwnerBytesKey(std::string_view lsu, std::string_view owner) {
  std::string key = Prefixed('O', lsu);
  key.push_back('\0');
  key.append(owner);
  return key;
}

std::string KekDekCountKey(uint32_t group_no, uint32_t kek_id) {
  std::string key(1, 'K');
  AppendU32BE(&key, group_no);
  AppendU32BE(&key, kek_id);
  return key;
}

// ---- Names -------------------------------------------------------------------------------------

namespace {

// The length of the well-formed UTF-8 sequence at s[i] (RFC 3629: no overlongs, no surrogates,
// nothing above U+10FFFF), or 0 if there is none.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  auto continuation = [&](size_t k) { return k < s.size() && (byte(k) & 0xC0) == 0x80; };
  uint8_t b0 = byte(i);
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) return continuation(i + 1) ? 2 : 0;
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    if (!continuation(i + 1) || !continuation(i + 2)) return 0;
    uint8_t b1 = byte(i + 1);
    if (b0 == 0xE0 && b1 < 0xA0) return 0;  // overlong
    if (b0 == 0xED && b1 > 0x9F) return 0;  // UTF-16 surrogate
    return 3;
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    if (!continuation(i + 1) || !continuation(i + 2) || !continuation(i + 3)) return 0;
    uint8_t b1 = byte(i + 1);
    if (b0 == 0xF0 && b1 < 0x90) return 0;  // overlong
    if (b0 == 0xF4 && b1 > 0x8F) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;  // a continuation byte, C0/C1 (overlong) or F5..FF
}

}  // namespace

absl::Status ValidateName(std::string_view what, std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError(base::Cat(what, " name is empty"));
  if (name.size() > kMaxNameLength) {
    return absl::InvalidArgumentError(base::Cat(what, " name is ", name.size(),
                                                   " bytes, over the limit ", kMaxNameLength));
  }
  if (name.front() == '/') {
    return absl::InvalidArgumentError(base::Cat(what, " name may not start with '/'"));
  }
  for (size_t i = 0; i < name.size();) {
    uint8_t b = static_cast<uint8_t>(name[i]);
    if (b == 0) {
      return absl::InvalidArgumentError(
          base::Cat(what, " name has a NUL byte at offset ", i));
    }
    if (b < 0x20 || b == 0x7F) {
      return absl::InvalidArgumentError(base::Cat(
          what, " name has a control character (0x", absl::Hex(b, absl::kZeroPad2),
          ") at offset ", i));
    }
    size_t length = Utf8SequenceLength(name, i);
    if (length == 0) {
      return absl::InvalidArgumentError(
          base::Cat(what, " name is not valid UTF-8 at offset ", i));
    }
    i += length;
  }
  return absl::OkStatus();
}

absl::Status ValidateOwner(std::string_view owner) {
  if (owner.size() > kMaxNameLength) {
    return absl::InvalidArgumentError(
        base::Cat("owner identity is ", owner.size(), " bytes, over the limit ", kMaxNameLength));
  }
  if (size_t at = owner.find('\0'); at != std::string_view::npos) {
    return absl::InvalidArgumentError(base::Cat("owner identity has a NUL byte at offset ", at));
  }
  return absl::OkStatus();
}

}  // namespace sealpool::storage
