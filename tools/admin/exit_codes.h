// Exit codes of crcontrol and keydictutil (documented in docs/cli.md, "Exit codes"): the shared
// 0..6 of every tool (tools/common/grpc_status.h) and 7, the admin tools' own. Scripts may rely
// on them.
#ifndef SEALPOOL_TOOLS_ADMIN_EXIT_CODES_H_
#define SEALPOOL_TOOLS_ADMIN_EXIT_CODES_H_

#include <grpcpp/support/status.h>

#include "tools/common/grpc_status.h"

namespace sealpool::tools::admin {

// 0..6: the codes all tools share (tools/common/grpc_status.h).
using common::kExitOk;
using common::kExitError;
using common::kExitUsage;
using common::kExitNotFound;
using common::kExitRefused;
using common::kExitDenied;
using common::kExitUnavailable;
// --verify or --scrub ran and found problems (damaged images or containers), or sealpoold
// answered DATA_LOSS.
inline constexpr int kExitDamage = 7;

inline int ExitCodeFor(grpc::StatusCode code) {
  return common::ExitCodeFor(code, /*data_loss_exit=*/kExitDamage);
}

using common::StatusCodeName;

}  // namespace sealpool::tools::admin

#endif  // SEALPOOL_TOOLS_ADMIN_EXIT_CODES_H_
