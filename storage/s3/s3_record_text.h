// The small text records the S3 LSU keeps beside its containers (lease generations, upload
// intents: docs/s3.md "Fencing", "Orphans and the sweep"): a magic line, then exactly the
// expected "<field> <value>" lines in order, each ending in '\n'. Strict: whatever else is
// refused (InvalidArgument naming the problem), so a truncated, padded or foreign object is
// never half-read.
#ifndef SEALPOOL_STORAGE_S3_S3_RECORD_TEXT_H_
#define SEALPOOL_STORAGE_S3_S3_RECORD_TEXT_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/store/container_format.h"

namespace sealpool::storage::s3 {

// The values of `fields`, in order. Views into `text`.
[[nodiscard]] absl::StatusOr<std::vector<std::string_view>> ParseRecordText(
    std::string_view text, size_t max_bytes, std::string_view magic,
    std::initializer_list<std::string_view> fields);
// A decimal number without sign or leading zeros (but "0"), at most 19 digits.
[[nodiscard]] absl::StatusOr<uint64_t> ParseNumberField(std::string_view field,
                                                        std::string_view value);
// 32 lower-case hex digits.
[[nodiscard]] absl::StatusOr<Id128> ParseIdField(std::string_view field, std::string_view value);
// min..max characters, each in `allowed`.
[[nodiscard]] absl::StatusOr<std::string> ParseTextField(std::string_view field,
                                                         std::string_view value,
                                                         std::string_view allowed, size_t min,
                                                         size_t max);

}  // namespace sealpool::storage::s3

#endif  // SEALPOOL_STORAGE_S3_S3_RECORD_TEXT_H_
