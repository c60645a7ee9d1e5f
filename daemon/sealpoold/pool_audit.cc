#include "daemon/sealpoold/pool_audit.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/strings.h"
#include "kms/audit_log.h"

namespace sealpool::daemon {

using base::Cat;

std::string FormatPoolAuditLine(const PoolAuditEvent& e, absl::Time time) {
  using kms::JsonString;
  std::string result =
      e.intent      ? std::string("STARTED")
      : e.result.ok() ? "OK"
                    : Cat(absl::StatusCodeToString(e.result.code()), ": ", e.result.message());
  return Cat("{\"time\":", JsonString(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time,
                                                        absl::UTCTimeZone())),
             ",\"actor\":", JsonString(e.actor), ",\"role\":", JsonString(e.role),
             ",\"op\":", JsonString(e.op), ",\"lsu\":", JsonString(e.lsu),
             ",\"owner\":", JsonString(e.owner), ",\"image\":", JsonString(e.image),
             ",\"key_group\":", JsonString(e.key_group), ",\"detail\":", JsonString(e.detail),
             ",\"result\":", JsonString(result), "}");
}

absl::StatusOr<std::unique_ptr<PoolAuditLog>> PoolAuditLog::Open(
    const std::filesystem::path& path) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::PermissionDeniedError(
        Cat("cannot open the audit log ", path.string(), ": ", std::strerror(errno)));
  }
  return std::unique_ptr<PoolAuditLog>(new PoolAuditLog(path, fd));
}

PoolAuditLog::~PoolAuditLog() { ::close(fd_); }

absl::Status PoolAuditLog::Record(const PoolAuditEvent& event) {
  std::string line = FormatPoolAuditLine(event, absl::Now());
  line += '\n';
  absl::MutexLock lock(&mu_);
  size_t done = 0;
  while (done < line.size()) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return absl::InternalError(
          Cat("cannot write the audit log ", path_.string(), ": ", std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fdatasync(fd_) != 0) {
    return absl::InternalError(
        Cat("cannot sync the audit log ", path_.string(), ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace sealpool::daemon
