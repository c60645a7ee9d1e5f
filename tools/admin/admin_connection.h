// The admin tools' connection to sealpoold's admin socket (a unix socket; docs/protocol.md,
// "Who may connect"), and how a failure is told to the operator: one line on stderr that says
// what is wrong and what to do, an exit code of exit_codes.h, and with --json also an
// {"error": ...} object on stdout.
//
// Before gRPC is involved the socket path is checked by hand (stat, then a plain connect), so
// that "no daemon", "not a socket" and "not allowed" get their own messages instead of gRPC's
// transport text. Not thread-safe; one per process.
#ifndef SEALPOOL_TOOLS_ADMIN_ADMIN_CONNECTION_H_
#define SEALPOOL_TOOLS_ADMIN_ADMIN_CONNECTION_H_

#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <memory>
#include <optional>
#include <string>

#include "sealpool/pool/v1/admin.grpc.pb.h"

namespace sealpool::tools::admin {

// sealpoold's default [admin].socket.
inline constexpr char kDefaultAdminSocket[] = "/run/sealpool/admin.sock";
// The environment variable that overrides it (a --socket flag overrides both).
inline constexpr char kAdminSocketEnv[] = "SEALPOOL_ADMIN_SOCKET";

// Why a socket path cannot be used: an exit code and the one-line message (without the
// program name).
struct SocketProblem {
  int exit_code;
  std::string message;
};

// Checks that `path` is a unix socket this process may connect to and that something listens
// on it. nullopt if so. Messages:
//  - nothing there, or a socket nobody listens on (a stale file after a crash):
//    "no sealpoold is listening on P: is it running? (systemctl status sealpoold)"  (6)
//  - something else than a socket: "P is not a socket but a regular file: ..."        (6)
//  - the socket or its folder not usable by this user: "permission denied on P (owner U,
//    group G, mode 0660): ..." naming the group to join ([admin].group)              (5)
std::optional<SocketProblem> CheckAdminSocket(const std::string& path);

// Owner, group and mode of `path` as "owner root, group sealpool-admin, mode 0660" (numbers
// where a name is unknown); "" if it cannot be stat'ed.
std::string DescribeOwnership(const std::string& path);

struct ConnectionOptions {
  std::string program;  // "crcontrol" / "keydictutil", the prefix of every message
  std::string socket = kDefaultAdminSocket;
  // Deadline of quick calls, seconds; long calls (verify, scrub, ...) get none unless set.
  double timeout_seconds = 30;
  bool timeout_given = false;
  bool json = false;
};

class AdminConnection {
 public:
  explicit AdminConnection(ConnectionOptions options);

  // Checks the socket and makes the stub. On failure prints why (Fail) and returns the exit
  // code; kExitOk otherwise.
  int Connect();
  pool::v1::PoolAdmin::Stub& stub() { return *stub_; }

  // A context for one call: the --timeout deadline for a quick call; for a long one only when
  // --timeout was given.
  std::unique_ptr<grpc::ClientContext> Context(bool long_call = false) const;

  // Reports a failed call made with `context`: prints "<program>: <message>" on stderr (and
  // the JSON error with --json) and returns its exit code. A call that never reached sealpoold
  // (the connection was refused or closed, in gRPC's words) is told apart from an UNAVAILABLE
  // that sealpoold answered (e.g. sealkmsd is down).
  int FailCall(const grpc::Status& status, const grpc::ClientContext& context);
  // Reports a failure found by the tool itself (usage, a socket problem, a refused prompt).
  int Fail(int exit_code, const std::string& code_name, const std::string& message);

  const ConnectionOptions& options() const { return options_; }
  bool json() const { return options_.json; }

 private:
  ConnectionOptions options_;
  std::unique_ptr<pool::v1::PoolAdmin::Stub> stub_;
};

// Prints `json` (one line) or `human` on stdout; returns kExitOk.
int Print(bool json_mode, const std::string& json, const std::string& human);

}  // namespace sealpool::tools::admin

#endif  // SEALPOOL_TOOLS_ADMIN_ADMIN_CONNECTION_H_
