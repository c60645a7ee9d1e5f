// What every command-line tool does with a gRPC status: its exit code and its name.
//
// kmscmd, sealpool, crcontrol and keydictutil share exit codes 0..6 (docs/cli.md, "Exit codes");
// code 7 is each tool's own (kmscmd: the KMS backend failed; sealpool: DATA_LOSS; the admin
// tools: damage found or DATA_LOSS), so the caller says what DATA_LOSS maps to.
#ifndef SEALPOOL_TOOLS_COMMON_GRPC_STATUS_H_
#define SEALPOOL_TOOLS_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

namespace sealpool::tools::common {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;        // anything not listed below (INTERNAL, ...)
inline constexpr int kExitUsage = 2;        // bad command line or config, or INVALID_ARGUMENT
inline constexpr int kExitNotFound = 3;     // NOT_FOUND
inline constexpr int kExitRefused = 4;      // FAILED_PRECONDITION / ALREADY_EXISTS: a state rule
inline constexpr int kExitDenied = 5;       // PERMISSION_DENIED / UNAUTHENTICATED
inline constexpr int kExitUnavailable = 6;  // UNAVAILABLE / DEADLINE_EXCEEDED: unreachable

// The shared mapping; DATA_LOSS becomes `data_loss_exit` (kExitError where a tool has no code
// of its own for it).
constexpr int ExitCodeFor(grpc::StatusCode code, int data_loss_exit = kExitError) {
  switch (code) {
    case grpc::StatusCode::OK:
      return kExitOk;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      return kExitUsage;
    case grpc::StatusCode::NOT_FOUND:
      return kExitNotFound;
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ALREADY_EXISTS:
      return kExitRefused;
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return kExitDenied;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return kExitUnavailable;
    case grpc::StatusCode::DATA_LOSS:
      return data_loss_exit;
    default:
      return kExitError;
  }
}

// "NOT_FOUND", "FAILED_PRECONDITION", ... as messages and --json error objects name them;
// "UNKNOWN" for a value outside gRPC's list.
const char* StatusCodeName(grpc::StatusCode code);

}  // namespace sealpool::tools::common

#endif  // SEALPOOL_TOOLS_COMMON_GRPC_STATUS_H_
