#include "storage/s3/s3_record_text.h"

#include "absl/strings/numbers.h"
#include "base/strings.h"
#include "storage/s3/s3_xml.h"

namespace sealpool::storage::s3 {

using base::Cat;

absl::StatusOr<std::vector<std::string_view>> ParseRecordText(
    std::string_view text, size_t max_bytes, std::string_view magic,
    std::initializer_list<std::string_view> fields) {
  if (text.empty()) return absl::InvalidArgumentError(Cat(magic, ": empty record"));
  if (text.size() > max_bytes) {
    return absl::InvalidArgumentError(
        Cat(magic, ": record of ", text.size(), " bytes is over ", max_bytes));
  }
  if (text.back() != '\n') {
    return absl::InvalidArgumentError(Cat(magic, ": record does not end in a newline (cut?)"));
  }
  text.remove_suffix(1);
  std::vector<std::string_view> lines;
  for (size_t at = 0;;) {
    size_t nl = text.find('\n', at);
    lines.push_back(text.substr(at, nl == std::string_view::npos ? text.npos : nl - at));
    if (nl == std::string_view::npos) break;
    at = nl + 1;
  }
  if (lines[0] != magic) {
    return absl::InvalidArgumentError(
        Cat("not a '", magic, "' record (first line '", Sanitize(lines[0], 40), "')"));
  }
  if (lines.size() != fields.size() + 1) {
    return absl::InvalidArgumentError(
        Cat(magic, ": ", lines.size() - 1, " fields, expected ", fields.size()));
  }
  std::vector<std::string_view> values;
  size_t i = 1;
  for (std::string_view field : fields) {
    std::string_view line = lines[i++];
    if (line.size() < field.size() + 1 || line.substr(0, field.size()) != field ||
        line[field.size()] != ' ') {
      return absl::InvalidArgumentError(
          Cat(magic, ": line ", i, " is '", Sanitize(line, 40), "', expected field '", field, "'"));
    }
    values.push_back(line.substr(field.size() + 1));
  }
  return values;
}

absl::StatusOr<uint64_t> ParseNumberField(std::string_view field, std::string_view value) {
  uint64_t v = 0;
  if (value.empty() || value.size() > 19 ||
      value.find_first_not_of("0123456789") != std::string_view::npos ||
      (value.size() > 1 && value[0] == '0') || !absl::SimpleAtoi(base::AbslView(value), &v)) {
    return absl::InvalidArgumentError(
        Cat("field '", field, "': '", Sanitize(value, 40), "' is not a number"));
  }
  return v;
}

absl::StatusOr<Id128> ParseIdField(std::string_view field, std::string_view value) {
  if (value.size() != 32 || value.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return absl::InvalidArgumentError(
        Cat("field '", field, "': '", Sanitize(value, 40), "' is not 32 hex digits"));
  }
  Id128 id{};
  for (size_t i = 0; i < 16; ++i) {
    auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    id[i] = static_cast<uint8_t>(nib(value[2 * i]) * 16 + nib(value[2 * i + 1]));
  }
  return id;
}

absl::StatusOr<std::string> ParseTextField(std::string_view field, std::string_view value,
                                           std::string_view allowed, size_t min, size_t max) {
  if (value.size() < min || value.size() > max ||
      value.find_first_not_of(allowed) != std::string_view::npos) {
    return absl::InvalidArgumentError(Cat("field '", field, "': '", Sanitize(value, 40),
                                          "' is not ", min, "..", max, " allowed characters"));
  }
  return std::string(value);
}

}  // namespace sealpool::storage::s3
