#include "tools/admin/admin_connection.h"

#include <grp.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "tools/admin/exit_codes.h"
#include "tools/common/json_writer.h"

namespace sealpool::tools::admin {

namespace {

std::string UserName(uid_t uid) {
  std::vector<char> buf(16384);
  struct passwd pw {};
  struct passwd* found = nullptr;
  if (::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return found->pw_name;
  }
  return std::to_string(uid);
}

std::string GroupName(gid_t gid) {
  std::vector<char> buf(16384);
  struct group gr {};
  struct group* found = nullptr;
  if (::getgrgid_r(gid, &gr, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return found->gr_name;
  }
  return std::to_string(gid);
}

const char* FileType(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a socket";
}

// What to do about a socket (or folder) owned by group `group`.
std::string JoinAdvice(const std::string& group) {
  if (group == "root" || group == "0") {
    return "sealpoold has no [admin].group, so only root and sealpoold's own user may use it: "
           "run as root, or set [admin].group in sealpoold's config and join that group";
  }
  return "run as root or as a member of group " + group +
         " (sealpoold's [admin].group): usermod -aG " + group + " " + UserName(::geteuid()) +
         ", then log in again";
}

// Whether `message` is gRPC's own account of a connection that failed or broke, rather than
// an UNAVAILABLE that sealpoold answered (e.g. because sealkmsd is down: sealpoold's messages
// start with its own words, even when they quote a transport error of the KMS call).
bool IsTransportFailure(std::string_view message) {
  for (std::string_view prefix :
       {"failed to connect to all addresses", "Socket closed", "Connection reset", "Broken pipe",
        "Connection refused", "Endpoint read failed", "GOAWAY",
        "connections to all backends failing"}) {
    if (message.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

SocketProblem NotListening(const std::string& path) {
  return {kExitUnavailable,
          "no sealpoold is listening on " + path + ": is it running? (systemctl status sealpoold)"};
}

}  // namespace

std::string DescribeOwnership(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  char mode[8];
  std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
  return "owner " + UserName(st.st_uid) + ", group " + GroupName(st.st_gid) + ", mode " + mode;
}

std::optional<SocketProblem> CheckAdminSocket(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return SocketProblem{kExitUsage, "the admin socket path " + path + " is longer than " +
                                         std::to_string(sizeof(addr.sun_path) - 1) + " bytes"};
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err == EACCES) {
      // A folder on the way may not be searched by this user: name the first such one.
      std::filesystem::path blocked;
      std::filesystem::path walk;
      for (const auto& part : std::filesystem::path(path).parent_path()) {
        walk /= part;
        if (::access(walk.c_str(), X_OK) != 0) {
          blocked = walk;
          break;
        }
      }
      if (blocked.empty()) blocked = std::filesystem::path(path).parent_path();
      struct stat dir {};
      std::string group = ::stat(blocked.c_str(), &dir) == 0 ? GroupName(dir.st_gid) : "root";
      return SocketProblem{kExitDenied, "permission denied on " + path + ": its folder " +
                                            blocked.string() + " (" +
                                            DescribeOwnership(blocked.string()) +
                                            ") is closed to this user; " + JoinAdvice(group)};
    }
    if (err == ENOENT || err == ENOTDIR) return NotListening(path);
    return SocketProblem{kExitUnavailable,
                         "cannot reach the admin socket " + path + ": " + std::strerror(err)};
  }
  if (!S_ISSOCK(st.st_mode)) {
    return SocketProblem{kExitUnavailable,
                         path + " is not a socket but " + FileType(st.st_mode) +
                             ": point --socket (or $SEALPOOL_ADMIN_SOCKET) at sealpoold's "
                             "[admin].socket"};
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return SocketProblem{kExitError, std::string("socket: ") + std::strerror(errno)};
  }
  const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  const int err = errno;
  ::close(fd);
  if (rc == 0) return std::nullopt;
  if (err == ECONNREFUSED) return NotListening(path);
  if (err == EACCES || err == EPERM) {
    return SocketProblem{kExitDenied, "permission denied on " + path + " (" +
                                          DescribeOwnership(path) + "); " +
                                          JoinAdvice(GroupName(st.st_gid))};
  }
  return SocketProblem{kExitUnavailable, "cannot connect to " + path + ": " + std::strerror(err)};
}

AdminConnection::AdminConnection(ConnectionOptions options) : options_(std::move(options)) {}

int AdminConnection::Connect() {
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(options_.socket, ec);
  if (!ec) options_.socket = abs.lexically_normal().string();
  if (std::optional<SocketProblem> p = CheckAdminSocket(options_.socket); p.has_value()) {
    return Fail(p->exit_code, p->exit_code == kExitDenied ? "PERMISSION_DENIED" : "UNAVAILABLE",
                p->message);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  stub_ = pool::v1::PoolAdmin::NewStub(grpc::CreateCustomChannel(
      "unix:" + options_.socket, grpc::InsecureChannelCredentials(), args));
  return kExitOk;
}

std::unique_ptr<grpc::ClientContext> AdminConnection::Context(bool long_call) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!long_call || options_.timeout_given) {
    context->set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(static_cast<int64_t>(options_.timeout_seconds * 1000)));
  }
  return context;
}

int AdminConnection::Fail(int exit_code, const std::string& code_name, const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", options_.program.c_str(), message.c_str());
  if (options_.json) {
    JsonWriter w;
    w.BeginObject()
        .Key("error")
        .BeginObject()
        .Key("code")
        .String(code_name)
        .Key("message")
        .String(message)
        .Key("exit_code")
        .Int(exit_code)
        .EndObject()
        .EndObject();
    std::printf("%s\n", w.str().c_str());
  }
  return exit_code;
}

int AdminConnection::FailCall(const grpc::Status& status, const grpc::ClientContext& context) {
  const grpc::StatusCode code = status.error_code();
  if (code == grpc::StatusCode::UNAVAILABLE &&
      (context.peer().empty() || IsTransportFailure(status.error_message()))) {
    // The socket answered a plain connect a moment ago. A daemon that closes the connection
    // at once refuses this user (its SO_PEERCRED check); root is never refused.
    if (::geteuid() != 0 && CheckAdminSocket(options_.socket) == std::nullopt) {
      struct stat st {};
      std::string group = ::stat(options_.socket.c_str(), &st) == 0 ? GroupName(st.st_gid) : "";
      return Fail(kExitDenied, "PERMISSION_DENIED",
                  "sealpoold on " + options_.socket + " closed the connection: it serves only " +
                      "root, its own user and members of its [admin].group, and this user (" +
                      UserName(::geteuid()) + ") is none of these; " + JoinAdvice(group));
    }
    if (std::optional<SocketProblem> p = CheckAdminSocket(options_.socket); p.has_value()) {
      return Fail(p->exit_code, "UNAVAILABLE", p->message);
    }
    return Fail(
        kExitUnavailable, "UNAVAILABLE",
        "sealpoold on " + options_.socket + " broke the connection: " + status.error_message());
  }
  if (code == grpc::StatusCode::DEADLINE_EXCEEDED &&
      status.error_message() == "Deadline Exceeded") {
    char secs[32];
    std::snprintf(secs, sizeof(secs), "%g", options_.timeout_seconds);
    return Fail(kExitUnavailable, "DEADLINE_EXCEEDED",
                "sealpoold on " + options_.socket + " did not answer within " + secs +
                    " s (--timeout): " + status.error_message());
  }
  return Fail(ExitCodeFor(code), StatusCodeName(code),
              std::string(StatusCodeName(code)) + ": " + status.error_message());
}

int Print(bool json_mode, const std::string& json, const std::string& human) {
  if (json_mode) {
    std::printf("%s\n", json.c_str());
  } else {
    std::fputs(human.c_str(), stdout);
  }
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace sealpool::tools::admin
