// Parsers of sealpool's argument values: --retain-until, --range, --label. Pure functions,
// thread-safe; each error is INVALID_ARGUMENT with a message that names the value and the
// accepted forms.
#ifndef SEALPOOL_TOOLS_SEALPOOL_ARGUMENTS_H_
#define SEALPOOL_TOOLS_SEALPOOL_ARGUMENTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace sealpool::tools::client {

// --retain-until: a duration from `now_micros` ("30d", "12h", "2w", "1y" = 365 days; units
// s m h d w y, one number and one unit), or a UTC date or time ("2027-01-31",
// "2027-01-31T12:00:00Z", "2027-01-31 12:00", a trailing "Z" optional). Returns Unix
// microseconds. A time not after `now_micros` is an error.
absl::StatusOr<int64_t> ParseRetainUntil(std::string_view text, int64_t now_micros);

// A byte count: digits with an optional binary suffix K, M, G, T (or KiB, MiB, GiB, TiB).
absl::StatusOr<uint64_t> ParseByteCount(std::string_view text);

struct ByteRange {
  uint64_t offset = 0;
  std::optional<uint64_t> length;  // unset: to the end of the image
};
// --range OFF:LEN ("OFF:" or "OFF" alone: to the end); each a ParseByteCount.
absl::StatusOr<ByteRange> ParseRange(std::string_view text);

// --label k=v: the key is what precedes the first '=', and must not be empty.
absl::StatusOr<std::pair<std::string, std::string>> ParseLabel(std::string_view text);

}  // namespace sealpool::tools::client

#endif  // SEALPOOL_TOOLS_SEALPOOL_ARGUMENTS_H_
