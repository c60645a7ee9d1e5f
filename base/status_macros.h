// Status propagation helpers used by every layer.
//
//   SEALPOOL_RETURN_IF_ERROR(expr);          // expr yields absl::Status
//   SEALPOOL_ASSIGN_OR_RETURN(auto x, expr); // expr yields absl::StatusOr<T>
//
// Both return the failing status unchanged; callers add context with base::Annotate. The
// temporaries are named by line, so a macro inside a lambda inside another never shadows.
#ifndef SEALPOOL_BASE_STATUS_MACROS_H_
#define SEALPOOL_BASE_STATUS_MACROS_H_

#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/strings.h"

namespace sealpool::base {

// Returns `status` with "context: " put before its message; OK stays OK.
inline absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), Cat(context, ": ", status.message()));
}

}  // namespace sealpool::base

#define SEALPOOL_STATUS_CONCAT_INNER_(a, b) a##b
#define SEALPOOL_STATUS_CONCAT_(a, b) SEALPOOL_STATUS_CONCAT_INNER_(a, b)

#define SEALPOOL_RETURN_IF_ERROR(expr) \
  SEALPOOL_RETURN_IF_ERROR_IMPL_(SEALPOOL_STATUS_CONCAT_(sealpool_status_, __LINE__), expr)
#define SEALPOOL_RETURN_IF_ERROR_IMPL_(tmp, expr) \
  do {                                            \
    ::absl::Status tmp = (expr);                  \
    if (!tmp.ok()) return tmp;                    \
  } while (false)

#define SEALPOOL_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                    \
  if (!tmp.ok()) return std::move(tmp).status();        \
  lhs = std::move(*tmp)

#define SEALPOOL_ASSIGN_OR_RETURN(lhs, expr) \
  SEALPOOL_ASSIGN_OR_RETURN_IMPL_(           \
      SEALPOOL_STATUS_CONCAT_(sealpool_statusor_, __LINE__), lhs, expr)

#endif  // SEALPOOL_BASE_STATUS_MACROS_H_
