// kmscmd's exit codes (documented in docs/kms.md, "kmscmd"). Scripts may rely on them.
#ifndef SEALPOOL_TOOLS_KMSCMD_EXIT_CODES_H_
#define SEALPOOL_TOOLS_KMSCMD_EXIT_CODES_H_

#include <grpcpp/support/status.h>

namespace sealpool::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;        // anything not listed below (INTERNAL, DATA_LOSS, ...)
inline constexpr int kExitUsage = 2;        // bad command line, or sealkmsd said INVALID_ARGUMENT
inline constexpr int kExitNotFound = 3;     // NOT_FOUND: no such group or key
inline constexpr int kExitRefused = 4;      // FAILED_PRECONDITION / ALREADY_EXISTS: a state rule
inline constexpr int kExitDenied = 5;       // PERMISSION_DENIED / UNAUTHENTICATED
inline constexpr int kExitUnavailable = 6;  // UNAVAILABLE / DEADLINE_EXCEEDED: sealkmsd unreachable
// Any failure sealkmsd reports as its KMS's (the KMIP server behind it failed, refused, or
// could not be reached; trailing metadata "sealpool-failed-component: kms"), whatever the code.
inline constexpr int kExitKms = 7;

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
    default:
      return kExitError;
  }
}

}  // namespace sealpool::tools

#endif  // SEALPOOL_TOOLS_KMSCMD_EXIT_CODES_H_
