// The admin API's local unix socket. sealpoold accepts connections itself so that it can read
// each peer's credentials (SO_PEERCRED) before gRPC sees a byte: root, the daemon's own user
// and members of the configured admin group are handed to the admin gRPC server
// (grpc::AddInsecureChannelFromFd); anyone else is logged and disconnected. The socket file is
// created with mode 0660 (group: the admin group, when set) in a folder sealpoold creates with
// mode 0750 if missing; a stale socket file from a crash is replaced.
#ifndef SEALPOOL_DAEMON_SEALPOOLD_ADMIN_SOCKET_H_
#define SEALPOOL_DAEMON_SEALPOOLD_ADMIN_SOCKET_H_

#include <sys/types.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace grpc {
class Server;
}  // namespace grpc

namespace sealpool::daemon {

// Whether the peer with these credentials may use the admin API.
bool AdminPeerAllowed(uid_t uid, gid_t gid, const std::string& admin_group);

class AdminSocket {
 public:
  // Binds `path` and starts accepting for `server` (which must outlive this object).
  // FailedPrecondition when another process listens there (a second sealpoold); InvalidArgument
  // for a path too long for a unix socket.
  static absl::StatusOr<std::unique_ptr<AdminSocket>> Start(const std::filesystem::path& path,
                                                           const std::string& admin_group,
                                                           grpc::Server* server);
  ~AdminSocket();  // stops accepting and removes the socket file

 private:
  AdminSocket(std::filesystem::path path, std::string group, int fd, grpc::Server* server);
  void AcceptLoop();

  const std::filesystem::path path_;
  const std::string group_;
  const int fd_;
  grpc::Server* const server_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace sealpool::daemon

#endif  // SEALPOOL_DAEMON_SEALPOOLD_ADMIN_SOCKET_H_
