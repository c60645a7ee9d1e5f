#include "storage/keydict/key_dictionary_format.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace sealpool::storage {
namespace {

void PutU32BE(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xFF));
  }
}

uint32_t GetU32BE(std::string_view s) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return v;
}

void PutLE(std::string* out, uint64_t v, size_t bytes) {
  for (size_t i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

absl::Status CheckWrapped(const WrappedKey& wrapped, std::string_view what) {
  if (wrapped.root_key_id.empty() || wrapped.root_key_id.size() > kMaxRootKeyIdLength ||
      wrapped.root_key_id.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(base::Cat(what, ": root key id must be 1..",
                                                kMaxRootKeyIdLength, " bytes without NUL"));
  }
  if (wrapped.blob.empty() || wrapped.blob.size() > kMaxWrappedBlobLength) {
    return absl::InvalidArgumentError(base::Cat(what, ": wrapped blob must be 1..",
                                                kMaxWrappedBlobLength, " bytes, got ",
                                                wrapped.blob.size()));
  }
  return absl::OkStatus();
}

void PutWrapped(std::string* out, const WrappedKey& wrapped) {
  PutLE(out, wrapped.root_key_id.size(), 2);
  out->append(wrapped.root_key_id);
  PutLE(out, wrapped.blob.size(), 2);
  out->append(wrapped.blob.begin(), wrapped.blob.end());
}

// A strict little-endian reader over one record value; every failure is DataLoss naming the
// record kind.
class Reader {
 public:
  Reader(std::string_view data, std::string_view what) : data_(data), what_(what) {}

  absl::Status Corrupt(std::string_view why) const {
    return absl::DataLossError(base::Cat(what_, " is corrupt: ", why));
  }

  absl::StatusOr<uint64_t> Int(size_t bytes, std::string_view field) {
    if (data_.size() - pos_ < bytes) return Corrupt(base::Cat("truncated in ", field));
    uint64_t v = 0;
    for (size_t i = 0; i < bytes; ++i) {
      v |= uint64_t{static_cast<uint8_t>(data_[pos_ + i])} << (8 * i);
    }
    pos_ += bytes;
    return v;
  }

  absl::StatusOr<std::string_view> Str16(size_t max, std::string_view field) {
    SEALPOOL_ASSIGN_OR_RETURN(uint64_t len, Int(2, field));
    if (len == 0 || len > max) {
      return Corrupt(base::Cat(field, " length ", len, " is outside 1..", max));
    }
    if (data_.size() - pos_ < len) return Corrupt(base::Cat("truncated in ", field));
    std::string_view s = data_.substr(pos_, static_cast<size_t>(len));
    pos_ += static_cast<size_t>(len);
    return s;
  }

  absl::StatusOr<WrappedKey> Wrapped() {
    WrappedKey wrapped;
    SEALPOOL_ASSIGN_OR_RETURN(std::string_view id, Str16(kMaxRootKeyIdLength, "root key id"));
    if (id.find('\0') != std::string_view::npos) return Corrupt("root key id holds a NUL");
    wrapped.root_key_id = std::string(id);
    SEALPOOL_ASSIGN_OR_RETURN(std::string_view blob, Str16(kMaxWrappedBlobLength, "wrapped blob"));
    wrapped.blob.assign(blob.begin(), blob.end());
    return wrapped;
  }

  // Version and kind, the first two bytes of every value; `kind` exists from `min_version` on.
  absl::Status Header(uint8_t kind, uint8_t min_version = kKeyRecordVersion1) {
    SEALPOOL_ASSIGN_OR_RETURN(uint64_t version, Int(1, "version"));
    if (version > kKeyRecordVersionNewest) {
      return absl::FailedPreconditionError(
          base::Cat(what_, " has format version ", version, ", written by a newer sealpool (this ",
                    "one reads up to ", static_cast<int>(kKeyRecordVersionNewest), ")"));
    }
    if (version == 0) return Corrupt("format version 0");
    SEALPOOL_ASSIGN_OR_RETURN(uint64_t got_kind, Int(1, "kind"));
    if (got_kind != kind) {
      return Corrupt(base::Cat("record kind ", got_kind, ", expected ", static_cast<int>(kind)));
    }
    if (version < min_version) {
      return Corrupt(base::Cat("record kind ", got_kind, " under format version ", version,
                               " (it exists from version ", static_cast<int>(min_version), ")"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string_view> Fixed(size_t bytes, std::string_view field) {
    if (data_.size() - pos_ < bytes) return Corrupt(base::Cat("truncated in ", field));
    std::string_view out = data_.substr(pos_, bytes);
    pos_ += bytes;
    return out;
  }

  absl::Status End() const {
    if (pos_ != data_.size()) {
      return Corrupt(base::Cat(data_.size() - pos_, " trailing bytes"));
    }
    return absl::OkStatus();
  }

 private:
  std::string_view data_;
  std::string_view what_;
  size_t pos_ = 0;
};

absl::StatusOr<int64_t> Created(Reader& r) {
  SEALPOOL_ASSIGN_OR_RETURN(uint64_t raw, r.Int(8, "created"));
  const auto created = static_cast<int64_t>(raw);
  if (created < 0) return r.Corrupt("negative creation time");
  return created;
}

}  // namespace

std::string_view KekStateName(KekState state) {
  switch (state) {
    case KekState::kActive:
      return "active";
    case KekState::kInactive:
      return "inactive";
  }
  return "unknown";
}

std::string KeyGroupRecordPrefix(uint32_t group_no) {
  std::string key;
  PutU32BE(&key, group_no);
  return key;
}

std::string KekRecordKey(uint32_t group_no, uint32_t kek_id) {
  std::string key = KeyGroupRecordPrefix(group_no);
  key.push_back(kKekRecordTag);
  PutU32BE(&key, kek_id);
  return key;
}

std::string BatchRecordPrefix(uint32_t group_no) {
  std::string key = KeyGroupRecordPrefix(group_no);
  key.push_back(kBatchRecordTag);
  return key;
}

std::string BatchRecordKey(uint32_t group_no, uint64_t batch_id) {
  std::string key = BatchRecordPrefix(group_no);
  PutU32BE(&key, static_cast<uint32_t>(batch_id >> 32));
  PutU32BE(&key, static_cast<uint32_t>(batch_id));
  return key;
}

std::string BatchAllocatorRecordKey(uint32_t group_no) {
  std::string key = KeyGroupRecordPrefix(group_no);
  key.push_back(kBatchAllocatorRecordTag);
  return key;
}

std::string FingerprintKeyRecordKey(uint32_t group_no) {
  std::string key = KeyGroupRecordPrefix(group_no);
  key.push_back(kFingerprintKeyRecordTag);
  return key;
}

absl::StatusOr<KeyRecordKey> DecodeKeyRecordKey(std::string_view key) {
  KeyRecordKey out;
  if (key.size() == kKekRecordKeySize && key[kKeyGroupPrefixSize] == kKekRecordTag) {
    out.group_no = GetU32BE(key);
    out.kind = KeyRecordKind::kKek;
    out.kek_id = GetU32BE(key.substr(kKeyGroupPrefixSize + 1));
    return out;
  }
  if (key.size() == kFingerprintKeyRecordKeySize &&
      key[kKeyGroupPrefixSize] == kFingerprintKeyRecordTag) {
    out.group_no = GetU32BE(key);
    out.kind = KeyRecordKind::kFingerprintKey;
    return out;
  }
  if (key.size() == kBatchRecordKeySize && key[kKeyGroupPrefixSize] == kBatchRecordTag) {
    out.group_no = GetU32BE(key);
    out.kind = KeyRecordKind::kBatch;
    out.batch_id = (uint64_t{GetU32BE(key.substr(kKeyGroupPrefixSize + 1))} << 32) |
                   GetU32BE(key.substr(kKeyGroupPrefixSize + 5));
    return out;
  }
  if (key.size() == kBatchAllocatorRecordKeySize &&
      key[kKeyGroupPrefixSize] == kBatchAllocatorRecordTag) {
    out.group_no = GetU32BE(key);
    out.kind = KeyRecordKind::kBatchAllocator;
    return out;
  }
  return absl::DataLossError(
      base::Cat("key dictionary record key ", DescribeKeyRecordKey(key), " is malformed"));
}

std::string DescribeKeyRecordKey(std::string_view key) {
  if (key.size() == kKekRecordKeySize && key[kKeyGroupPrefixSize] == kKekRecordTag) {
    return base::Cat("KEK ", GetU32BE(key.substr(kKeyGroupPrefixSize + 1)));
  }
  if (key.size() == kFingerprintKeyRecordKeySize &&
      key[kKeyGroupPrefixSize] == kFingerprintKeyRecordTag) {
    return "fingerprint key";
  }
  if (key.size() == kBatchRecordKeySize && key[kKeyGroupPrefixSize] == kBatchRecordTag) {
    return base::Cat("batch ", (uint64_t{GetU32BE(key.substr(kKeyGroupPrefixSize + 1))} << 32) |
                                   GetU32BE(key.substr(kKeyGroupPrefixSize + 5)));
  }
  if (key.size() == kBatchAllocatorRecordKeySize &&
      key[kKeyGroupPrefixSize] == kBatchAllocatorRecordTag) {
    return "batch id allocator";
  }
  return base::Cat("0x", absl::BytesToHexString(base::AbslView(key)));
}

absl::StatusOr<std::string> KekRecord::Encode() const {
  SEALPOOL_RETURN_IF_ERROR(CheckWrapped(wrapped, "KEK record"));
  if (state != KekState::kActive && state != KekState::kInactive) {
    return absl::InvalidArgumentError("KEK record: bad state");
  }
  if (created_unix_micros < 0) {
    return absl::InvalidArgumentError("KEK record: negative creation time");
  }
  std::string out;
  out.push_back(static_cast<char>(kKeyRecordVersion1));
  out.push_back(static_cast<char>(kKeyRecordKindKek));
  PutLE(&out, kek_id, 4);
  out.push_back(static_cast<char>(state));
  PutLE(&out, static_cast<uint64_t>(created_unix_micros), 8);
  PutLE(&out, dek_count, 8);
  PutWrapped(&out, wrapped);
  return out;
}

absl::StatusOr<KekRecord> KekRecord::Decode(std::string_view value) {
  Reader r(value, "KEK record");
  SEALPOOL_RETURN_IF_ERROR(r.Header(kKeyRecordKindKek));
  KekRecord rec;
  SEALPOOL_ASSIGN_OR_RETURN(uint64_t kek_id, r.Int(4, "KEK id"));
  rec.kek_id = static_cast<uint32_t>(kek_id);
  SEALPOOL_ASSIGN_OR_RETURN(uint64_t state, r.Int(1, "state"));
  if (state != static_cast<uint8_t>(KekState::kActive) &&
      state != static_cast<uint8_t>(KekState::kInactive)) {
    return r.Corrupt(base::Cat("unknown KEK state ", state));
  }
  rec.state = static_cast<KekState>(state);
  SEALPOOL_ASSIGN_OR_RETURN(rec.created_unix_micros, Created(r));
  SEALPOOL_ASSIGN_OR_RETURN(rec.dek_count, r.Int(8, "dek_count"));
  SEALPOOL_ASSIGN_OR_RETURN(rec.wrapped, r.Wrapped());
  SEALPOOL_RETURN_IF_ERROR(r.End());
  return rec;
}

absl::StatusOr<std::string> KekPairRecord::Encode() const {
  SEALPOOL_RETURN_IF_ERROR(CheckWrapped(wrapped, "KEK pair record"));
  if (state != KekState::kActive && state != KekState::kInactive) {
    return absl::InvalidArgumentError("KEK pair record: bad state");
  }
  if (created_unix_micros < 0) {
    return absl::InvalidArgumentError("KEK pair record: negative creation time");
  }
  std::string out;
  out.push_back(static_cast<char>(kKeyRecordVersion2));
  out.push_back(static_cast<char>(kKeyRecordKindKekPair));
  PutLE(&out, kek_id, 4);
  out.push_back(static_cast<char>(state));
  PutLE(&out, static_cast<uint64_t>(created_unix_micros), 8);
  PutLE(&out, dek_count, 8);
  for (uint8_t b : public_key) out.push_back(static_cast<char>(b));
  PutWrapped(&out, wrapped);
  return out;
}

absl::StatusOr<KekPairRecord> KekPairRecord::Decode(std::string_view value) {
  Reader r(value, "KEK pair record");
  SEALPOOL_RETURN_IF_ERROR(r.Header(kKeyRecordKindKekPair, kKeyRecordVersion2));
  KekPairRecord rec;
  SEALPOOL_ASSIGN_OR_RETURN(uint64_t kek_id, r.Int(4, "KEK id"));
  rec.kek_id = static_cast<uint32_t>(kek_id);
  SEALPOOL_ASSIGN_OR_RETURN(uint64_t state, r.Int(1, "state"));
  if (state != static_cast<uint8_t>(KekState::kActive) &&
      state != static_cast<uint8_t>(KekState::kInactive)) {
    return r.Corrupt(base::Cat("unknown KEK state ", state));
  }
  rec.state = static_cast<KekState>(state);
  SEALPOOL_ASSIGN_OR_RETURN(rec.created_unix_micros, Created(r));
  SEALPOOL_ASSIGN_OR_RETURN(rec.dek_count, r.Int(8, "dek_count"));
  SEALPOOL_ASSIGN_OR_RETURN(std::string_view pub, r.Fixed(kKekPublicKeySize, "public key"));
  for (size_t i = 0; i < kKekPublicKeySize; ++i) rec.public_key[i] = static_cast<uint8_t>(pub[i]);
  SEALPOOL_ASSIGN_OR_RETURN(rec.wrapped, r.Wrapped());
  SEALPOOL_RETURN_IF_ERROR(r.End());
  return rec;
}

absl::StatusOr<std::string> BatchRecord::Encode() const {
  if (batch_id == 0 || kek_id == 0) {
    return absl::InvalidArgumentError("batch record: batch id and KEK id must be >= 1");
  }
  if (created_unix_micros < 0) {
    return absl::InvalidArgumentError("batch record: negative creation time");
  }
  std::string out;
  out.push_back(static_cast<char>(kKeyRecordVersion3));
  out.push_back(static_cast<char>(kKeyRecordKindBatch));
  PutLE(&out, batch_id, 8);
  PutLE(&out, kek_id, 4);
  PutLE(&out, static_cast<uint64_t>(created_unix_micros), 8);
  for (uint8_t b : sealed) out.push_back(static_cast<char>(b));
  return out;
}

absl::StatusOr<BatchRecord> BatchRecord::Decode(std::string_view value) {
  Reader r(value, "batch record");
  SEALPOOL_RETURN_IF_ERROR(r.Header(kKeyRecordKindBatch, kKeyRecordVersion3));
  BatchRecord rec;
  SEALPOOL_ASSIGN_OR_RETURN(rec.batch_id, r.Int(8, "batch id"));
  if (rec.batch_id == 0) return r.Corrupt("batch id 0");
  SEALPOOL_ASSIGN_OR_RETURN(uint64_t kek_id, r.Int(4, "KEK id"));
  if (kek_id == 0) return r.Corrupt("KEK id 0");
  rec.kek_id = static_cast<uint32_t>(kek_id);
  SEALPOOL_ASSIGN_OR_RETURN(rec.created_unix_micros, Created(r));
  SEALPOOL_ASSIGN_OR_RETURN(std::string_view sealed,
                            r.Fixed(kSealedBatchKeyRecordSize, "sealed batch key"));
  for (size_t i = 0; i < kSealedBatchKeyRecordSize; ++i) {
    rec.sealed[i] = static_cast<uint8_t>(sealed[i]);
  }
  SEALPOOL_RETURN_IF_ERROR(r.End());
  return rec;
}

absl::StatusOr<std::string> BatchAllocatorRecord::Encode() const {
  if (reserved_end == 0) {
    return absl::InvalidArgumentError("batch id allocator record: reserved_end must be >= 1");
  }
  std::string out;
  out.push_back(static_cast<char>(kKeyRecordVersion3));
  out.push_back(static_cast<char>(kKeyRecordKindBatchAllocator));
  PutLE(&out, reserved_end, 8);
  return out;
}

absl::StatusOr<BatchAllocatorRecord> BatchAllocatorRecord::Decode(std::string_view value) {
  Reader r(value, "batch id allocator record");
  SEALPOOL_RETURN_IF_ERROR(r.Header(kKeyRecordKindBatchAllocator, kKeyRecordVersion3));
  BatchAllocatorRecord rec;
  SEALPOOL_ASSIGN_OR_RETURN(rec.reserved_end, r.Int(8, "reserved_end"));
  if (rec.reserved_end == 0) return r.Corrupt("reserved_end 0");
  SEALPOOL_RETURN_IF_ERROR(r.End());
  return rec;
}

absl::StatusOr<uint8_t> PeekKeyRecordKind(std::string_view value) {
  if (value.size() < 2) {
    return absl::DataLossError(
        base::Cat("key dictionary record is corrupt: ", value.size(), " bytes, no kind byte"));
  }
  return static_cast<uint8_t>(value[1]);
}

absl::StatusOr<std::string> FingerprintKeyRecord::Encode() const {
  SEALPOOL_RETURN_IF_ERROR(CheckWrapped(wrapped, "fingerprint key record"));
  if (created_unix_micros < 0) {
    return absl::InvalidArgumentError("fingerprint key record: negative creation time");
  }
  std::string out;
  out.push_back(static_cast<char>(kKeyRecordVersion1));
  out.push_back(static_cast<char>(kKeyRecordKindFingerprintKey));
  PutLE(&out, static_cast<uint64_t>(created_unix_micros), 8);
  PutWrapped(&out, wrapped);
  return out;
}

absl::StatusOr<FingerprintKeyRecord> FingerprintKeyRecord::Decode(std::string_view value) {
  Reader r(value, "fingerprint key record");
  SEALPOOL_RETURN_IF_ERROR(r.Header(kKeyRecordKindFingerprintKey));
  FingerprintKeyRecord rec;
  SEALPOOL_ASSIGN_OR_RETURN(rec.created_unix_micros, Created(r));
  SEALPOOL_ASSIGN_OR_RETURN(rec.wrapped, r.Wrapped());
  SEALPOOL_RETURN_IF_ERROR(r.End());
  return rec;
}

}  // namespace sealpool::storage
