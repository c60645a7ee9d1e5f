// kmscmd's exit codes (documented in docs/kms.md, "kmscmd"). Scripts may rely on them.
#ifndef SEALPOOL_TOOLS_KMSCMD_EXIT_CODES_H_
#define SEALPOOL_TOOLS_KMSCMD_EXIT_CODES_H_

#include <grpcpp/support/status.h>

#include "tools/common/grpc_status.h"

namespace sealpool::tools {

// 0..6: the codes all tools share (tools/common/grpc_status.h).
using common::kExitOk;
using common::kExitError;
using common::kExitUsage;
using common::kExitNotFound;
using common::kExitRefused;
using common::kExitDenied;
using common::kExitUnavailable;
// Any failure sealkmsd reports as its KMS's (the KMIP server behind it failed, refused, or
// could not be reached; trailing metadata "sealpool-failed-component: kms"), whatever the code.
inline constexpr int kExitKms = 7;

// DATA_LOSS is kExitError here: kmscmd's 7 means the KMS backend failed.
inline int ExitCodeFor(grpc::StatusCode code) { return common::ExitCodeFor(code); }

using common::StatusCodeName;

}  // namespace sealpool::tools

#endif  // SEALPOOL_TOOLS_KMSCMD_EXIT_CODES_H_
