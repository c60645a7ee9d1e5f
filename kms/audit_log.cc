#include "kms/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>

#include "absl/strings/str_format.h"
#include "kms/status_util.h"

namespace sealpool::kms {

std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        // Non-ASCII bytes are escaped one by one so that invalid UTF-8 from a peer cannot
        // break the line.
        if (c < 0x20 || c >= 0x7f) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out.push_back(ch);
        }
    }
  }
  out += "\"";
  return out;
}

std::string FormatAuditLine(const AuditEvent& e, absl::Time time) {
  return Cat(
      "{\"time\":", JsonString(absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone())),
      ",\"peer\":", JsonString(e.peer), ",\"role\":", JsonString(e.role),
      ",\"op\":", JsonString(e.op), ",\"pool\":", JsonString(e.pool),
      ",\"group\":", JsonString(e.group), ",\"root_key\":", JsonString(e.root_key),
      ",\"kek\":", JsonString(e.kek),
      ",\"result\":",
      JsonString(e.intent ? std::string("STARTED") : absl::StatusCodeToString(e.result.code())),
      ",\"detail\":", JsonString(e.intent ? std::string_view() : StdView(e.result.message())),
      "}");
}

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return absl::InternalError(
        Cat("cannot open audit log ", path.string(), ": ", std::strerror(errno)));
  }
  return std::unique_ptr<AuditLog>(new AuditLog(path, fd));
}

AuditLog::~AuditLog() {
  absl::MutexLock lock(&mu_);
  ::close(fd_);
}

void AuditLog::SetFailureHook(std::function<void(const absl::Status&)> hook) {
  absl::MutexLock lock(&mu_);
  hook_ = std::move(hook);
}

absl::Status AuditLog::Record(const AuditEvent& event) {
  std::string line = FormatAuditLine(event, absl::Now());
  line.push_back('\n');
  absl::MutexLock lock(&mu_);
  absl::Status s = [&]() -> absl::Status {
    ssize_t n;
    do {
      n = ::write(fd_, line.data(), line.size());
    } while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(line.size())) {
      return absl::InternalError(Cat("cannot append to audit log ", path_.string(), ": ",
                                     n < 0 ? std::strerror(errno) : "short write"));
    }
    if (::fdatasync(fd_) != 0) {
      return absl::InternalError(
          Cat("cannot sync audit log ", path_.string(), ": ", std::strerror(errno)));
    }
    return absl::OkStatus();
  }();
  if (!s.ok()) {
    if (failed_in_a_row_++ == 0 && hook_) hook_(s);
  } else if (failed_in_a_row_ != 0) {
    failed_in_a_row_ = 0;
    if (hook_) hook_(s);
  }
  return s;
}

absl::Status RecordOrRefuse(AuditLog& audit, const AuditEvent& event) {
  absl::Status r = audit.Record(event);
  if (r.ok() || !event.result.ok()) return event.result;
  return absl::InternalError(Cat("sealkmsd refused ", event.op, ": ", r.message(),
                                 " (a key operation whose audit line cannot be written and "
                                 "synced is refused)"));
}

absl::Status RecordIntent(AuditLog& audit, const AuditEvent& event) {
  AuditEvent e = event;
  e.intent = true;
  absl::Status r = audit.Record(e);
  if (r.ok()) return r;
  return absl::InternalError(Cat("sealkmsd refused ", event.op, ": ", r.message(),
                                 "; nothing was changed (a key operation whose audit line "
                                 "cannot be written and synced is refused)"));
}

absl::StatusOr<std::vector<std::string>> AuditLog::Tail(size_t n) {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return absl::InternalError(Cat("cannot read audit log ", path_.string()));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  // Read a window from the end, doubling it until it holds n + 1 line breaks or the whole file
  // (so a long log is not read from its beginning).
  std::streamoff window = static_cast<std::streamoff>(std::min<size_t>(n + 1, 1u << 20)) * 512;
  std::string text;
  for (;;) {
    std::streamoff start = std::max<std::streamoff>(0, size - window);
    text.assign(static_cast<size_t>(size - start), '\0');
    in.seekg(start);
    if (!in.read(text.data(), static_cast<std::streamsize>(text.size()))) {
      return absl::InternalError(Cat("cannot read audit log ", path_.string()));
    }
    size_t breaks = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
    if (start == 0) break;
    if (breaks > n) {
      text.erase(0, text.find('\n') + 1);  // drop the partial first line
      break;
    }
    window *= 2;
  }
  std::deque<std::string> last;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    last.push_back(std::move(line));
    if (last.size() > n) last.pop_front();
  }
  return std::vector<std::string>(last.begin(), last.end());
}

}  // namespace sealpool::kms
