// KMIP's TTLV encoding (KMIP 1.4, section 9.1): every item is a 3-byte tag, a 1-byte type, a
// 4-byte big-endian length and the value, padded with zero bytes to a multiple of 8.
//
//   +-----------+------+------------+-----------------------+---------+
//   | tag (3 B) | type | length (4) | value (length bytes)  | padding |
//   +-----------+------+------------+-----------------------+---------+
//
// Decoding is strict, because the bytes come from the network: fixed-size types must have
// their length (Integer/Enumeration/Interval 4, Long Integer/Boolean/Date-Time 8), Big Integers
// a multiple of 8; padding must be zero; a Boolean is 0 or 1; a Text String is UTF-8; a
// Structure's children fill it exactly; tags are in KMIP's ranges (0x42xxxx, extensions
// 0x54xxxx); nesting is limited in depth and the whole message in size; nothing may trail the
// top item. Every violation is InvalidArgument naming the item and the offset.
//
// Values of Text and Byte Strings are wiped when an Item is destroyed (a Decrypt response
// carries a plaintext KEK).
#ifndef SEALPOOL_KMS_KMIP_TTLV_H_
#define SEALPOOL_KMS_KMIP_TTLV_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace sealpool::kms::kmip {

enum class Type : uint8_t {
  kStructure = 0x01,
  kInteger = 0x02,
  kLongInteger = 0x03,
  kBigInteger = 0x04,
  kEnumeration = 0x05,
  kBoolean = 0x06,
  kTextString = 0x07,
  kByteString = 0x08,
  kDateTime = 0x09,
  kInterval = 0x0A,
};

std::string_view TypeName(Type type);

// One TTLV item. For Integer, Enumeration, Interval, Long Integer, Boolean and Date-Time the
// value is `number`; for Text String, Byte String and Big Integer it is `bytes`; a Structure has
// `children`.
struct Item {
  uint32_t tag = 0;
  Type type = Type::kStructure;
  int64_t number = 0;
  std::vector<uint8_t> bytes;
  std::vector<Item> children;

  Item() = default;
  Item(const Item&) = default;
  Item(Item&&) noexcept = default;
  Item& operator=(const Item&) = default;
  Item& operator=(Item&&) noexcept = default;
  ~Item();  // wipes `bytes`

  static Item Struct(uint32_t tag, std::vector<Item> children);
  static Item Int(uint32_t tag, int32_t v);
  static Item Long(uint32_t tag, int64_t v);
  static Item Enum(uint32_t tag, uint32_t v);
  static Item Bool(uint32_t tag, bool v);
  static Item DateTime(uint32_t tag, int64_t unix_seconds);
  static Item Text(uint32_t tag, std::string_view v);
  static Item Bytes(uint32_t tag, std::span<const uint8_t> v);

  std::string_view text() const {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
  // The first child with `tag`, or null.
  const Item* Find(uint32_t tag) const;
  // Every child with `tag`, in order.
  std::vector<const Item*> FindAll(uint32_t tag) const;
};

struct DecodeLimits {
  size_t max_message_size = size_t{1} << 20;  // bytes, header included
  int max_depth = 16;                         // the top item is depth 1
};

// The encoded bytes of `item`. InvalidArgument if a value is too long for TTLV, a structure is
// nested deeper than 64 or a tag is outside 0x000000..0xFFFFFF.
absl::StatusOr<std::vector<uint8_t>> Encode(const Item& item);

// Decodes exactly one item filling all of `bytes` (see the checks above).
absl::StatusOr<Item> Decode(std::span<const uint8_t> bytes, const DecodeLimits& limits = {});

// From the first 8 bytes of a message: its total size (header, value and padding), checked
// against `limits` and against the type of a top-level item (a Structure). For reading a
// message off a stream before decoding it.
absl::StatusOr<size_t> MessageSize(std::span<const uint8_t> header,
                                   const DecodeLimits& limits = {});

inline constexpr size_t kHeaderSize = 8;

}  // namespace sealpool::kms::kmip

#endif  // SEALPOOL_KMS_KMIP_TTLV_H_
