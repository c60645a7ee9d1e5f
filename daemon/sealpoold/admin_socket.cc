#include "daemon/sealpoold/admin_socket.h"

#include <grp.h>
#include <grpcpp/server.h>
#include <grpcpp/server_posix.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/strings.h"
#include "spdlog/spdlog.h"

namespace sealpool::daemon {

using base::Cat;

bool AdminPeerAllowed(uid_t uid, gid_t gid, const std::string& admin_group) {
  if (uid == 0 || uid == ::geteuid()) return true;
  if (admin_group.empty()) return false;
  std::vector<char> buf(16384);
  struct group grp {};
  struct group* found = nullptr;
  if (::getgrnam_r(admin_group.c_str(), &grp, buf.data(), buf.size(), &found) != 0 ||
      found == nullptr) {
    return false;
  }
  if (gid == grp.gr_gid) return true;
  std::vector<char> pbuf(16384);
  struct passwd pw {};
  struct passwd* user = nullptr;
  if (::getpwuid_r(uid, &pw, pbuf.data(), pbuf.size(), &user) != 0 || user == nullptr) {
    return false;
  }
  if (user->pw_gid == grp.gr_gid) return true;
  for (char** m = grp.gr_mem; m != nullptr && *m != nullptr; ++m) {
    if (std::strcmp(*m, user->pw_name) == 0) return true;
  }
  return false;
}

absl::StatusOr<std::unique_ptr<AdminSocket>> AdminSocket::Start(
    const std::filesystem::path& path, const std::string& admin_group, grpc::Server* server) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.native().size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(Cat("admin socket path ", path.string(), " is longer than ",
                                          sizeof(addr.sun_path) - 1, " bytes"));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.native().size());
  std::error_code ec;
  if (path.has_parent_path() && !std::filesystem::exists(path.parent_path())) {
    std::filesystem::create_directories(path.parent_path(), ec);
    if (ec) {
      return absl::PermissionDeniedError(
          Cat("cannot create the admin socket's folder ", path.parent_path().string(), ": ",
              ec.message()));
    }
    ::chmod(path.parent_path().c_str(), 0750);
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(Cat("socket: ", std::strerror(errno)));
  // A socket file that answers belongs to a running sealpoold; one that does not is stale.
  if (std::filesystem::exists(path)) {
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live =
        ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(probe);
    if (live) {
      ::close(fd);
      return absl::FailedPreconditionError(
          Cat("another process listens on the admin socket ", path.string(),
              " (is a second sealpoold running?)"));
    }
    std::filesystem::remove(path, ec);
  }
  const mode_t old_mask = ::umask(0117);
  const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  ::umask(old_mask);
  if (rc != 0 || ::listen(fd, 64) != 0) {
    const int err = errno;
    ::close(fd);
    return absl::PermissionDeniedError(
        Cat("cannot listen on the admin socket ", path.string(), ": ", std::strerror(err)));
  }
  if (!admin_group.empty()) {
    std::vector<char> buf(16384);
    struct group grp {};
    struct group* found = nullptr;
    if (::getgrnam_r(admin_group.c_str(), &grp, buf.data(), buf.size(), &found) == 0 &&
        found != nullptr) {
      if (::chown(path.c_str(), static_cast<uid_t>(-1), grp.gr_gid) != 0) {
        spdlog::warn("cannot give the admin socket to group {}: {}", admin_group,
                     std::strerror(errno));
      }
    } else {
      spdlog::warn("admin group {} ([admin].group) does not exist: only root may administer",
                   admin_group);
    }
  }
  return std::unique_ptr<AdminSocket>(new AdminSocket(path, admin_group, fd, server));
}

AdminSocket::AdminSocket(std::filesystem::path path, std::string group, int fd,
                         grpc::Server* server)
    : path_(std::move(path)), group_(std::move(group)), fd_(fd), server_(server) {
  thread_ = std::thread([this] { AcceptLoop(); });
}

AdminSocket::~AdminSocket() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
  std::error_code ec;
  std::filesystem::remove(path_, ec);
}

void AdminSocket::AcceptLoop() {
  while (!stop_.load()) {
    pollfd p{fd_, POLLIN, 0};
    int n = ::poll(&p, 1, 200);
    if (n <= 0) continue;
    int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);  // gRPC polls it
    if (conn < 0) continue;
    ucred cred{};
    socklen_t len = sizeof(cred);
    if (::getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        !AdminPeerAllowed(cred.uid, cred.gid, group_)) {
      spdlog::warn("admin socket: refused a connection from uid {} pid {} (not root, not "
                   "sealpoold's user, not in admin group \"{}\")",
                   cred.uid, cred.pid, group_);
      ::close(conn);
      continue;
    }
    grpc::AddInsecureChannelFromFd(server_, conn);
  }
}

}  // namespace sealpool::daemon
