// Validation of the names that cross kms's edges: pool ids, key groups, KEK ids, root key ids.
#ifndef SEALPOOL_KMS_NAMES_H_
#define SEALPOOL_KMS_NAMES_H_

#include <cstddef>
#include <string_view>

#include "absl/status/status.h"

namespace sealpool::kms {

inline constexpr size_t kMaxNameLength = 64;

// OK if `name` is 1..64 characters of [A-Za-z0-9._:-] and does not start with '.' or '-';
// else InvalidArgument naming `what` ("key group", "pool id", ...).
absl::Status ValidateName(std::string_view what, std::string_view name);

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_NAMES_H_
