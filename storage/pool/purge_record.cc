#include "storage/pool/purge_record.h"

#include <limits>

#include "base/status_macros.h"
#include "base/strings.h"
#include "storage/catalog/catalog_records.h"

namespace sealpool::storage {
namespace {

void PutU16(std::string* out, uint16_t v) {
  out->push_back(static_cast<char>(v & 0xff));
  out->push_back(static_cast<char>(v >> 8));
}
void PutLe(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
absl::Status PutString(std::string* out, std::string_view s) {
  if (s.size() > std::numeric_limits<uint16_t>::max()) {
    return absl::InvalidArgumentError("purge record: a string longer than 65535 bytes");
  }
  PutU16(out, static_cast<uint16_t>(s.size()));
  out->append(s);
  return absl::OkStatus();
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool Le(size_t bytes, uint64_t* v) {
    if (in_.size() < bytes) return false;
    *v = 0;
    for (size_t i = 0; i < bytes; ++i) *v |= uint64_t{static_cast<uint8_t>(in_[i])} << (8 * i);
    in_.remove_prefix(bytes);
    return true;
  }
  bool String(std::string* s) {
    uint64_t n;
    if (!Le(2, &n) || in_.size() < n) return false;
    s->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }
  bool empty() const { return in_.empty(); }

 private:
  std::string_view in_;
};

}  // namespace

std::string PurgeRecordKey(uint32_t group_no) {
  std::string key = "purge/";
  AppendU32BE(&key, group_no);
  return key;
}

absl::StatusOr<std::string> EncodePurgeRecord(const PurgeRecord& r) {
  std::string out;
  out.push_back(static_cast<char>(kPurgeRecordVersion));
  out.push_back(static_cast<char>(r.next));
  PutLe(&out, r.new_kek_id, 4);
  PutLe(&out, r.started_unix_micros, 8);
  PutLe(&out, r.deks_rewrapped, 8);
  SEALPOOL_RETURN_IF_ERROR(PutString(&out, r.old_root_key_id));
  SEALPOOL_RETURN_IF_ERROR(PutString(&out, r.new_root_key_id));
  SEALPOOL_RETURN_IF_ERROR(PutString(&out, r.store_key_id));
  if (r.keks_dropped.size() > std::numeric_limits<uint16_t>::max() ||
      r.root_keys_destroyed.size() > std::numeric_limits<uint16_t>::max()) {
    return absl::InvalidArgumentError("purge record: a list longer than 65535 items");
  }
  PutU16(&out, static_cast<uint16_t>(r.keks_dropped.size()));
  for (uint32_t id : r.keks_dropped) PutLe(&out, id, 4);
  PutU16(&out, static_cast<uint16_t>(r.root_keys_destroyed.size()));
  for (const std::string& id : r.root_keys_destroyed) SEALPOOL_RETURN_IF_ERROR(PutString(&out, id));
  return out;
}

absl::StatusOr<PurgeRecord> DecodePurgeRecord(std::string_view value) {
  auto bad = [](std::string_view why) {
    return absl::DataLossError(base::Cat("purge record: ", why));
  };
  Reader in(value);
  uint64_t version, step, kek, started, deks, n;
  if (!in.Le(1, &version)) return bad("empty");
  if (version != kPurgeRecordVersion) {
    return absl::FailedPreconditionError(
        base::Cat("purge record version ", version, " is not ", kPurgeRecordVersion,
                  ": it was written by another release of sealpool; finish that purge with it"));
  }
  PurgeRecord r;
  if (!in.Le(1, &step) || !in.Le(4, &kek) || !in.Le(8, &started) || !in.Le(8, &deks)) {
    return bad("truncated header");
  }
  if (step < static_cast<uint64_t>(PurgeStep::kDrainDeleteQueue) ||
      step > static_cast<uint64_t>(PurgeStep::kDone)) {
    return bad(base::Cat("unknown step ", step));
  }
  r.next = static_cast<PurgeStep>(step);
  r.new_kek_id = static_cast<uint32_t>(kek);
  r.started_unix_micros = started;
  r.deks_rewrapped = deks;
  if (!in.String(&r.old_root_key_id) || !in.String(&r.new_root_key_id) ||
      !in.String(&r.store_key_id)) {
    return bad("truncated root key ids");
  }
  if (!in.Le(2, &n)) return bad("truncated KEK list");
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t id;
    if (!in.Le(4, &id)) return bad("truncated KEK list");
    r.keks_dropped.push_back(static_cast<uint32_t>(id));
  }
  if (!in.Le(2, &n)) return bad("truncated root key list");
  for (uint64_t i = 0; i < n; ++i) {
    std::string id;
    if (!in.String(&id)) return bad("truncated root key list");
    r.root_keys_destroyed.push_back(std::move(id));
  }
  if (!in.empty()) return bad("trailing bytes");
  return r;
}

}  // namespace sealpool::storage
