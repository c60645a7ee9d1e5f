// sealpool's exit codes (docs/cli.md, "Exit codes"). Scripts may rely on them. They follow
// kmscmd's scheme (tools/kmscmd/exit_codes.h) code for code, and add 7 for data that does not
// check out and 130 for an interrupted command.
#ifndef SEALPOOL_TOOLS_SEALPOOL_EXIT_CODES_H_
#define SEALPOOL_TOOLS_SEALPOOL_EXIT_CODES_H_

#include <grpcpp/support/status.h>

#include "tools/common/grpc_status.h"

namespace sealpool::tools::client {

// 0..6: the codes all tools share (tools/common/grpc_status.h).
using common::kExitOk;
using common::kExitError;
using common::kExitUsage;
using common::kExitNotFound;
using common::kExitRefused;
using common::kExitDenied;
using common::kExitUnavailable;
// DATA_LOSS from sealpoold (a segment or digest did not authenticate), a restore that delivered
// fewer bytes than announced, or `verify --compare` finding a difference.
inline constexpr int kExitDataLoss = 7;
inline constexpr int kExitInterrupted = 130;  // SIGINT or SIGTERM (128 + 2, as a shell reports)

inline int ExitCodeFor(grpc::StatusCode code) {
  return common::ExitCodeFor(code, /*data_loss_exit=*/kExitDataLoss);
}

}  // namespace sealpool::tools::client

#endif  // SEALPOOL_TOOLS_SEALPOOL_EXIT_CODES_H_
