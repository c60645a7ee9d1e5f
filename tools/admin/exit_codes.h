// Exit codes of crcontrol and keydictutil (documented in docs/cli.md, "Exit codes"). They follow
// kmscmd's scheme (tools/kmscmd/exit_codes.h) for 0..6; 7 is the admin tools' own. Scripts may
// rely on them.
#ifndef SEALPOOL_TOOLS_ADMIN_EXIT_CODES_H_
#define SEALPOOL_TOOLS_ADMIN_EXIT_CODES_H_

#include <grpcpp/support/status.h>

namespace sealpool::tools::admin {

inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;     // anything not listed below (INTERNAL, UNIMPLEMENTED, ...)
inline constexpr int kExitUsage = 2;     // bad command line, or sealpoold said INVALID_ARGUMENT
inline constexpr int kExitNotFound = 3;  // NOT_FOUND: no such LSU, key group or image
// FAILED_PRECONDITION / ALREADY_EXISTS: a rule of the pool refused it (a compaction already
// runs, the LSU exists, ...); also a purge whose typed confirmation did not match.
inline constexpr int kExitRefused = 4;
// PERMISSION_DENIED / UNAUTHENTICATED, and an admin socket this user may not use (file mode, or
// sealpoold's peer check).
inline constexpr int kExitDenied = 5;
// UNAVAILABLE / DEADLINE_EXCEEDED: no sealpoold listens on the socket (or the path is not a
// socket), it stopped answering, or it could not reach sealkmsd for a call that needs it.
inline constexpr int kExitUnavailable = 6;
// --verify or --scrub ran and found problems (damaged images or containers), or sealpoold
// answered DATA_LOSS.
inline constexpr int kExitDamage = 7;

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
      return kExitDamage;
    default:
      return kExitError;
  }
}

// "NOT_FOUND", "FAILED_PRECONDITION", ... as the JSON error object and messages name them.
const char* StatusCodeName(grpc::StatusCode code);

}  // namespace sealpool::tools::admin

#endif  // SEALPOOL_TOOLS_ADMIN_EXIT_CODES_H_
