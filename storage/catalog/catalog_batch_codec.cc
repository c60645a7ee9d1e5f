// Catalog::EncodeBatch / DecodeBatch: a batch's operations as bytes, for the commit records of
// the S3 LSU (docs/format.md "S3 commit records and catalog backups (issue 16)").
//
//   u32 LE operation count, then per operation:
//     u8 family (Cf), u8 kind (0 put, 1 delete, 2 add), u32 LE key length, key,
//     u32 LE value length, value (empty for delete; the 8-byte int64 LE delta for add)
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/strings.h"
#include "storage/catalog/catalog.h"

namespace sealpool::storage {

namespace {

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(static_cast<uint8_t>(v >> (8 * i))));
}

bool TakeU32(std::string_view* in, uint32_t* v) {
  if (in->size() < 4) return false;
  *v = 0;
  for (size_t i = 4; i-- > 0;) *v = (*v << 8) | static_cast<uint8_t>((*in)[i]);
  in->remove_prefix(4);
  return true;
}

bool TakeBytes(std::string_view* in, std::string_view* bytes) {
  uint32_t n = 0;
  if (!TakeU32(in, &n) || in->size() < n) return false;
  *bytes = in->substr(0, n);
  in->remove_prefix(n);
  return true;
}

// The most operations a decoded batch may claim (each takes at least 10 bytes, so a count
// beyond the bytes is refused first anyway).
constexpr uint32_t kMaxOps = 1u << 28;

}  // namespace

std::string Catalog::EncodeBatch(const Batch& batch) {
  std::string out;
  out.reserve(4 + batch.byte_size() + 10 * batch.count());
  PutU32(&out, static_cast<uint32_t>(batch.ops_.size()));
  for (const Batch::Op& op : batch.ops_) {
    out.push_back(static_cast<char>(static_cast<uint8_t>(op.cf)));
    out.push_back(static_cast<char>(static_cast<uint8_t>(op.kind)));
    PutU32(&out, static_cast<uint32_t>(op.key.size()));
    out.append(op.key);
    PutU32(&out, static_cast<uint32_t>(op.value.size()));
    out.append(op.value);
  }
  return out;
}

absl::StatusOr<Catalog::Batch> Catalog::DecodeBatch(std::string_view bytes) {
  auto bad = [](std::string_view what) {
    return absl::DataLossError(base::Cat("catalog batch record: ", what));
  };
  std::string_view in = bytes;
  uint32_t count = 0;
  if (!TakeU32(&in, &count)) return bad("shorter than its operation count");
  if (count > kMaxOps || count > in.size() / 10) {
    return bad(base::Cat("claims ", count, " operations in ", in.size(), " bytes"));
  }
  Batch batch;
  for (uint32_t i = 0; i < count; ++i) {
    if (in.size() < 2) return bad(base::Cat("operation ", i, " truncated"));
    const auto cf = static_cast<uint8_t>(in[0]);
    const auto kind = static_cast<uint8_t>(in[1]);
    in.remove_prefix(2);
    if (cf >= kCfCount) return bad(base::Cat("operation ", i, ": unknown family ", static_cast<int>(cf)));
    std::string_view key;
    std::string_view value;
    if (!TakeBytes(&in, &key) || !TakeBytes(&in, &value)) {
      return bad(base::Cat("operation ", i, " truncated"));
    }
    switch (kind) {
      case 0:
        batch.Put(static_cast<Cf>(cf), key, value);
        break;
      case 1:
        if (!value.empty()) return bad(base::Cat("operation ", i, ": a delete with a value"));
        batch.Delete(static_cast<Cf>(cf), key);
        break;
      case 2: {
        if (static_cast<Cf>(cf) != Cf::kCounters || value.size() != 8) {
          return bad(base::Cat("operation ", i, ": an addition outside counters or not 8 bytes"));
        }
        uint64_t u = 0;
        for (size_t j = 8; j-- > 0;) u = (u << 8) | static_cast<uint8_t>(value[j]);
        batch.Add(key, static_cast<int64_t>(u));
        break;
      }
      default:
        return bad(base::Cat("operation ", i, ": unknown kind ", static_cast<int>(kind)));
    }
  }
  if (!in.empty()) return bad(base::Cat(in.size(), " trailing bytes"));
  return batch;
}

}  // namespace sealpool::storage
