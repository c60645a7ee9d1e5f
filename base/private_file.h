// Private files (TLS private keys): one check for every binary that reads one (sealkmsd's
// server and KMIP client keys, sealpoold's, kmscmd's, sealpool's). Like ssh, a private key file
// its group or others may access (mode & 077), or owned by another user than the process's (or
// root), is refused with an error naming the file and its mode or owner.
#ifndef SEALPOOL_BASE_PRIVATE_FILE_H_
#define SEALPOOL_BASE_PRIVATE_FILE_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/strings.h"

namespace sealpool::base {

// OK if `st` (of `path`) is a regular file only its owner may access, owned by this process's
// effective user or root; else PermissionDenied "<what> <path> has mode 0644: its group or
// others may access it; refusing to use it (chmod 600 <path>)" or "... is owned by uid N ...".
inline absl::Status CheckPrivateFileStat(const struct stat& st, std::string_view what,
                                         const std::string& path) {
  if (!S_ISREG(st.st_mode)) {
    return absl::PermissionDeniedError(Cat(what, " ", path, " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return absl::PermissionDeniedError(Cat(what, " ", path, " has mode ", std::string_view(mode),
                                           ": its group or others may access it; refusing to "
                                           "use it (chmod 600 ",
                                           path, ")"));
  }
  const uid_t me = ::geteuid();
  if (st.st_uid != me && st.st_uid != 0) {
    return absl::PermissionDeniedError(Cat(what, " ", path, " is owned by uid ", st.st_uid,
                                           ", not by this process's user (uid ", me,
                                           ") or root; refusing to use it (chown it)"));
  }
  return absl::OkStatus();
}

// CheckPrivateFileStat on stat(path); NotFound if it cannot be stat'ed.
inline absl::Status CheckPrivateFile(std::string_view what, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(Cat("cannot read ", what, " ", path, ": ", std::strerror(errno)));
  }
  return CheckPrivateFileStat(st, what, path);
}

// Opens `path`, checks the opened file (fstat: no window between the check and the read) and
// returns its contents.
inline absl::StatusOr<std::string> ReadPrivateFile(std::string_view what, const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::string why = Cat("cannot read ", what, " ", path, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(why) : absl::PermissionDeniedError(why);
  }
  struct stat st {};
  absl::Status s = ::fstat(fd, &st) == 0
                       ? CheckPrivateFileStat(st, what, path)
                       : absl::PermissionDeniedError(Cat("cannot stat ", what, " ", path));
  std::string text;
  if (s.ok()) {
    char buf[4096];
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        s = absl::PermissionDeniedError(
            Cat("cannot read ", what, " ", path, ": ", std::strerror(errno)));
        break;
      }
      if (n == 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  if (!s.ok()) return s;
  return text;
}

}  // namespace sealpool::base

#endif  // SEALPOOL_BASE_PRIVATE_FILE_H_
