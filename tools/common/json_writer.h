// The JSON writer of every tool's --json output (sealpool, crcontrol, keydictutil): objects and arrays in the order
// written, integers as JSON numbers (not the strings protobuf's JSON mapping makes of 64-bit
// fields), strings escaped per RFC 8259. Not thread-safe; one document per writer.
//
//   JsonWriter w;
//   w.BeginObject().Key("images").Int(3).Key("lsus").BeginArray().String("lsu1").EndArray()
//    .EndObject();
//   w.str();  // {"images":3,"lsus":["lsu1"]}
#ifndef SEALPOOL_TOOLS_COMMON_JSON_WRITER_H_
#define SEALPOOL_TOOLS_COMMON_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sealpool::tools {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // The key of the next value; only inside an object.
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Uint(uint64_t value);
  // Finite values as the shortest text that reads back the same; NaN and infinities as null.
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // A list of strings as an array.
  JsonWriter& Strings(const std::vector<std::string>& values);
  // A number with exactly `decimals` digits after the point (NaN and infinities as null).
  JsonWriter& Fixed(double value, int decimals);
  // A value written as is (another writer's document).
  JsonWriter& Raw(std::string_view json);
  static std::string Quote(std::string_view s);

  // The document so far.
  const std::string& str() const { return out_; }

 private:
  void BeforeValue();

  std::string out_;
  // One entry per open object or array: whether it has a member yet.
  std::vector<bool> has_member_;
  bool after_key_ = false;
};

// `s` as a JSON string literal, quotes included.
std::string JsonQuote(std::string_view s);

}  // namespace sealpool::tools

#endif  // SEALPOOL_TOOLS_COMMON_JSON_WRITER_H_
