// A minimal JSON writer for sealpool's --json output: one document, keys in the order written,
// numbers as JSON numbers (uint64 exact), strings escaped per RFC 8259 (bytes >= 0x80 pass
// through, so valid UTF-8 stays valid; other bytes are \u-escaped when below 0x20).
// Not thread-safe; cheap to copy.
#ifndef SEALPOOL_TOOLS_SEALPOOL_JSON_WRITER_H_
#define SEALPOOL_TOOLS_SEALPOOL_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sealpool::tools::client {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // The next value's key (inside an object).
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // A value written as is (another writer's document).
  JsonWriter& Raw(std::string_view json);

  const std::string& str() const { return out_; }

  static std::string Quote(std::string_view s);

 private:
  void Separate();

  std::string out_;
  // One entry per open container: whether a value was written in it yet.
  std::vector<bool> has_value_;
  bool after_key_ = false;
};

}  // namespace sealpool::tools::client

#endif  // SEALPOOL_TOOLS_SEALPOOL_JSON_WRITER_H_
