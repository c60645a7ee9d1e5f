#include "kms/kmip/ttlv.h"

#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "crypto/secure_memory.h"
#include "kms/status_util.h"

namespace sealpool::kms::kmip {
namespace {

constexpr int kMaxEncodeDepth = 64;
constexpr size_t kMaxValueLength = 0xFFFFFFF0u;

size_t Padded(size_t n) { return (n + 7) & ~size_t{7}; }

// The fixed value length of `type`, or 0 for variable-length types.
size_t FixedLength(Type t) {
  switch (t) {
    case Type::kInteger:
    case Type::kEnumeration:
    case Type::kInterval:
      return 4;
    case Type::kLongInteger:
    case Type::kBoolean:
    case Type::kDateTime:
      return 8;
    default:
      return 0;
  }
}

bool KnownType(uint8_t t) { return t >= 0x01 && t <= 0x0A; }

// KMIP tags are 0x42xxxx (defined by the spec) or 0x54xxxx (extensions); 0x420000 is reserved.
bool ValidTag(uint32_t tag) {
  uint32_t high = tag >> 16;
  return (high == 0x42 && tag != 0x420000) || high == 0x54;
}

std::string TagHex(uint32_t tag) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string s = "0x";
  for (int shift = 20; shift >= 0; shift -= 4) s.push_back(kHex[(tag >> shift) & 15]);
  return s;
}

bool ValidUtf8(std::span<const uint8_t> s) {
  size_t i = 0;
  while (i < s.size()) {
    uint8_t c = s[i];
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i - 1 < n) return false;
    for (size_t k = 1; k <= n; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    // Overlong forms, surrogates and values past U+10FFFF.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

void PutBe(std::vector<uint8_t>& out, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

uint64_t GetBe(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

absl::Status EncodeInto(const Item& item, int depth, std::vector<uint8_t>& out) {
  if (depth > kMaxEncodeDepth) return absl::InvalidArgumentError("TTLV nested too deeply");
  if (item.tag > 0xFFFFFF) {
    return absl::InvalidArgumentError(Cat("TTLV tag ", item.tag, " does not fit in 3 bytes"));
  }
  if (!KnownType(static_cast<uint8_t>(item.type))) {
    return absl::InvalidArgumentError("TTLV item of unknown type");
  }
  PutBe(out, item.tag, 3);
  out.push_back(static_cast<uint8_t>(item.type));
  size_t length_at = out.size();
  PutBe(out, 0, 4);
  size_t length = 0;
  switch (item.type) {
    case Type::kStructure: {
      size_t start = out.size();
      for (const Item& child : item.children) {
        SEALPOOL_RETURN_IF_ERROR(EncodeInto(child, depth + 1, out));
      }
      length = out.size() - start;
      break;
    }
    case Type::kInteger:
    case Type::kEnumeration:
    case Type::kInterval:
      PutBe(out, static_cast<uint64_t>(item.number), 4);
      PutBe(out, 0, 4);
      length = 4;
      break;
    case Type::kLongInteger:
    case Type::kDateTime:
      PutBe(out, static_cast<uint64_t>(item.number), 8);
      length = 8;
      break;
    case Type::kBoolean:
      PutBe(out, item.number != 0 ? 1 : 0, 8);
      length = 8;
      break;
    case Type::kBigInteger:
      if (item.bytes.size() % 8 != 0) {
        return absl::InvalidArgumentError("a TTLV Big Integer is a multiple of 8 bytes");
      }
      [[fallthrough]];
    case Type::kTextString:
    case Type::kByteString:
      if (item.bytes.size() > kMaxValueLength) {
        return absl::InvalidArgumentError("TTLV value too long");
      }
      out.insert(out.end(), item.bytes.begin(), item.bytes.end());
      out.resize(out.size() + Padded(item.bytes.size()) - item.bytes.size(), 0);
      length = item.bytes.size();
      break;
  }
  if (length > kMaxValueLength) return absl::InvalidArgumentError("TTLV structure too long");
  for (int i = 0; i < 4; ++i) {
    out[length_at + static_cast<size_t>(i)] = static_cast<uint8_t>(length >> (8 * (3 - i)));
  }
  return absl::OkStatus();
}

class Decoder {
 public:
  Decoder(std::span<const uint8_t> in, const DecodeLimits& limits) : in_(in), limits_(limits) {}

  // Decodes the item at `pos` (which must lie within [pos, end)); advances pos past it.
  absl::Status DecodeItem(size_t& pos, size_t end, int depth, Item& out) {
    if (depth > limits_.max_depth) {
      return Bad(pos, Cat("TTLV nested deeper than ", limits_.max_depth, " levels"));
    }
    if (end - pos < kHeaderSize) {
      return Bad(pos, Cat("TTLV truncated: ", end - pos, " bytes left, an item header is 8"));
    }
    const uint8_t* p = in_.data() + pos;
    uint32_t tag = static_cast<uint32_t>(GetBe(p, 3));
    uint8_t type = p[3];
    uint64_t length = GetBe(p + 4, 4);
    if (!ValidTag(tag)) return Bad(pos, Cat("TTLV tag ", TagHex(tag), " is not a KMIP tag"));
    if (!KnownType(type)) {
      return Bad(pos, Cat("TTLV item ", TagHex(tag), " has unknown type ", int{type}));
    }
    out.tag = tag;
    out.type = static_cast<Type>(type);
    size_t fixed = FixedLength(out.type);
    if (fixed != 0 && length != fixed) {
      return Bad(pos, Cat("TTLV ", TypeName(out.type), " ", TagHex(tag), " has length ", length,
                          ", not ", fixed));
    }
    if (out.type == Type::kBigInteger && length % 8 != 0) {
      return Bad(pos, Cat("TTLV Big Integer ", TagHex(tag), " has length ", length,
                          ", not a multiple of 8"));
    }
    if (out.type == Type::kStructure && length % 8 != 0) {
      return Bad(pos, Cat("TTLV Structure ", TagHex(tag), " has length ", length,
                          ", not a multiple of 8"));
    }
    size_t value_at = pos + kHeaderSize;
    size_t available = end - value_at;
    if (length > available || Padded(static_cast<size_t>(length)) > available) {
      return Bad(pos, Cat("TTLV item ", TagHex(tag), " claims ", length, " bytes; only ", available,
                          " remain"));
    }
    size_t len = static_cast<size_t>(length);
    size_t padded = Padded(len);
    const uint8_t* v = in_.data() + value_at;
    for (size_t i = len; i < padded; ++i) {
      if (v[i] != 0)
        return Bad(value_at + i, Cat("TTLV item ", TagHex(tag), " has non-zero padding"));
    }
    switch (out.type) {
      case Type::kStructure: {
        size_t child_pos = value_at;
        size_t child_end = value_at + len;
        while (child_pos < child_end) {
          Item child;
          SEALPOOL_RETURN_IF_ERROR(DecodeItem(child_pos, child_end, depth + 1, child));
          out.children.push_back(std::move(child));
        }
        break;
      }
      case Type::kInteger:
      case Type::kEnumeration:
      case Type::kInterval: {
        uint32_t u = static_cast<uint32_t>(GetBe(v, 4));
        out.number = out.type == Type::kInteger ? static_cast<int64_t>(static_cast<int32_t>(u))
                                                : static_cast<int64_t>(u);
        for (size_t i = 4; i < 8; ++i) {
          if (v[i] != 0)
            return Bad(value_at + i, Cat("TTLV item ", TagHex(tag), " has non-zero padding"));
        }
        break;
      }
      case Type::kLongInteger:
      case Type::kDateTime:
        out.number = static_cast<int64_t>(GetBe(v, 8));
        break;
      case Type::kBoolean: {
        uint64_t b = GetBe(v, 8);
        if (b > 1) return Bad(pos, Cat("TTLV Boolean ", TagHex(tag), " is neither 0 nor 1"));
        out.number = static_cast<int64_t>(b);
        break;
      }
      case Type::kTextString:
        if (!ValidUtf8(std::span<const uint8_t>(v, len))) {
          return Bad(pos, Cat("TTLV Text String ", TagHex(tag), " is not UTF-8"));
        }
        [[fallthrough]];
      case Type::kByteString:
      case Type::kBigInteger:
        out.bytes.assign(v, v + len);
        break;
    }
    pos = value_at + padded;
    return absl::OkStatus();
  }

 private:
  absl::Status Bad(size_t offset, std::string_view what) const {
    return absl::InvalidArgumentError(Cat(what, " (at byte ", offset, ")"));
  }

  std::span<const uint8_t> in_;
  const DecodeLimits& limits_;
};

}  // namespace

std::string_view TypeName(Type type) {
  switch (type) {
    case Type::kStructure:
      return "Structure";
    case Type::kInteger:
      return "Integer";
    case Type::kLongInteger:
      return "Long Integer";
    case Type::kBigInteger:
      return "Big Integer";
    case Type::kEnumeration:
      return "Enumeration";
    case Type::kBoolean:
      return "Boolean";
    case Type::kTextString:
      return "Text String";
    case Type::kByteString:
      return "Byte String";
    case Type::kDateTime:
      return "Date-Time";
    case Type::kInterval:
      return "Interval";
  }
  return "unknown type";
}

Item::~Item() {
  if (!bytes.empty()) crypto::Wipe(bytes);
}

Item Item::Struct(uint32_t tag, std::vector<Item> children) {
  Item i;
  i.tag = tag;
  i.type = Type::kStructure;
  i.children = std::move(children);
  return i;
}

Item Item::Int(uint32_t tag, int32_t v) {
  Item i;
  i.tag = tag;
  i.type = Type::kInteger;
  i.number = v;
  return i;
}

Item Item::Long(uint32_t tag, int64_t v) {
  Item i;
  i.tag = tag;
  i.type = Type::kLongInteger;
  i.number = v;
  return i;
}

Item Item::Enum(uint32_t tag, uint32_t v) {
  Item i;
  i.tag = tag;
  i.type = Type::kEnumeration;
  i.number = v;
  return i;
}

Item Item::Bool(uint32_t tag, bool v) {
  Item i;
  i.tag = tag;
  i.type = Type::kBoolean;
  i.number = v ? 1 : 0;
  return i;
}

Item Item::DateTime(uint32_t tag, int64_t unix_seconds) {
  Item i;
  i.tag = tag;
  i.type = Type::kDateTime;
  i.number = unix_seconds;
  return i;
}

Item Item::Text(uint32_t tag, std::string_view v) {
  Item i;
  i.tag = tag;
  i.type = Type::kTextString;
  i.bytes.assign(v.begin(), v.end());
  return i;
}

Item Item::Bytes(uint32_t tag, std::span<const uint8_t> v) {
  Item i;
  i.tag = tag;
  i.type = Type::kByteString;
  i.bytes.assign(v.begin(), v.end());
  return i;
}

const Item* Item::Find(uint32_t t) const {
  for (const Item& c : children) {
    if (c.tag == t) return &c;
  }
  return nullptr;
}

std::vector<const Item*> Item::FindAll(uint32_t t) const {
  std::vector<const Item*> out;
  for (const Item& c : children) {
    if (c.tag == t) out.push_back(&c);
  }
  return out;
}

absl::StatusOr<std::vector<uint8_t>> Encode(const Item& item) {
  std::vector<uint8_t> out;
  absl::Status s = EncodeInto(item, 1, out);
  if (!s.ok()) {
    crypto::Wipe(out);
    return s;
  }
  return out;
}

absl::StatusOr<Item> Decode(std::span<const uint8_t> bytes, const DecodeLimits& limits) {
  if (bytes.size() > limits.max_message_size) {
    return absl::InvalidArgumentError(Cat("TTLV message of ", bytes.size(),
                                          " bytes exceeds the limit of ", limits.max_message_size));
  }
  Decoder d(bytes, limits);
  Item item;
  size_t pos = 0;
  SEALPOOL_RETURN_IF_ERROR(d.DecodeItem(pos, bytes.size(), 1, item));
  if (pos != bytes.size()) {
    return absl::InvalidArgumentError(
        Cat("TTLV message has ", bytes.size() - pos, " trailing bytes after its item"));
  }
  return item;
}

absl::StatusOr<size_t> MessageSize(std::span<const uint8_t> header, const DecodeLimits& limits) {
  if (header.size() < kHeaderSize) {
    return absl::InvalidArgumentError("TTLV header truncated");
  }
  uint32_t tag = static_cast<uint32_t>(GetBe(header.data(), 3));
  if (!ValidTag(tag)) {
    return absl::InvalidArgumentError(Cat("TTLV tag ", TagHex(tag), " is not a KMIP tag"));
  }
  if (header[3] != static_cast<uint8_t>(Type::kStructure)) {
    return absl::InvalidArgumentError(
        Cat("a KMIP message is a Structure; this one starts with type ", int{header[3]}));
  }
  uint64_t length = GetBe(header.data() + 4, 4);
  if (length % 8 != 0) {
    return absl::InvalidArgumentError(
        Cat("TTLV Structure length ", length, " is not a multiple of 8"));
  }
  if (length > limits.max_message_size - kHeaderSize) {
    return absl::InvalidArgumentError(Cat("KMIP message of ", length + kHeaderSize,
                                          " bytes exceeds the limit of ", limits.max_message_size));
  }
  return static_cast<size_t>(length) + kHeaderSize;
}

}  // namespace sealpool::kms::kmip
