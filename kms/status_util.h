// The base/ string and status helpers under kms's namespace, so kms/ and sealkmsd code can
// write Cat(...), Annotate(...) unqualified. kms's Annotate keeps the status's payloads (the
// KMIP client marks a mutation whose outcome is unknown, the KMIP backend marks failures of
// the KMS; base::Annotate would drop those marks).
#ifndef SEALPOOL_KMS_STATUS_UTIL_H_
#define SEALPOOL_KMS_STATUS_UTIL_H_

#include <string_view>

#include "absl/status/status.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace sealpool::kms {

using base::AbslView;
using base::Cat;
using base::StdView;

// `status` with "context: " put before its message, payloads kept; OK stays OK.
inline absl::Status Annotate(const absl::Status& status, std::string_view context) {
  if (status.ok()) return status;
  absl::Status out(status.code(), Cat(context, ": ", status.message()));
  status.ForEachPayload(
      [&](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  return out;
}

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_STATUS_UTIL_H_
