// sealpool's exit codes (docs/cli.md, "Exit codes"). Scripts may rely on them. They follow
// kmscmd's scheme (tools/kmscmd/exit_codes.h) code for code, and add 7 for data that does not
// check out and 130 for an interrupted command.
#ifndef SEALPOOL_TOOLS_SEALPOOL_EXIT_CODES_H_
#define SEALPOOL_TOOLS_SEALPOOL_EXIT_CODES_H_

#include <grpcpp/support/status.h>

namespace sealpool::tools::client {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;        // anything not listed below (INTERNAL, local I/O, ...)
inline constexpr int kExitUsage = 2;        // bad command line or config, or INVALID_ARGUMENT
inline constexpr int kExitNotFound = 3;     // NOT_FOUND: no such image (or another client's)
inline constexpr int kExitRefused = 4;      // FAILED_PRECONDITION / ALREADY_EXISTS: a pool rule
inline constexpr int kExitDenied = 5;       // PERMISSION_DENIED / UNAUTHENTICATED
inline constexpr int kExitUnavailable = 6;  // UNAVAILABLE / DEADLINE_EXCEEDED: unreachable, broken
// DATA_LOSS from sealpoold (a segment or digest did not authenticate), a restore that delivered
// fewer bytes than announced, or `verify --compare` finding a difference.
inline constexpr int kExitDataLoss = 7;
inline constexpr int kExitInterrupted = 130;  // SIGINT or SIGTERM (128 + 2, as a shell reports)

inline int ExitCodeFor(grpc::StatusCode code) {
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
      return kExitDataLoss;
    default:
      return kExitError;
  }
}

}  // namespace sealpool::tools::client

#endif  // SEALPOOL_TOOLS_SEALPOOL_EXIT_CODES_H_
