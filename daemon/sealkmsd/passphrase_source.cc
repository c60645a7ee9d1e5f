#include "daemon/sealkmsd/passphrase_source.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kms/status_util.h"

namespace sealpool::daemon {

using kms::Annotate;
using kms::Cat;

absl::StatusOr<crypto::SecretBytes> ReadPassphraseFile(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    auto code = e == ENOENT ? absl::StatusCode::kNotFound : absl::StatusCode::kPermissionDenied;
    return absl::Status(code,
                        Cat("cannot open passphrase file ", path.string(), ": ", std::strerror(e)));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(
        Cat("passphrase file ", path.string(), " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return absl::FailedPreconditionError(absl::StrFormat(
        "passphrase file %s is accessible by group or others (mode %o); run chmod 600 on it",
        path.string(), st.st_mode & 0777));
  }
  // Read into locked memory directly: one byte more than allowed tells "too long".
  absl::StatusOr<crypto::SecretBytes> buffer =
      crypto::SecretBytes::Allocate(kMaxPassphraseBytes + 2);
  if (!buffer.ok()) {
    ::close(fd);
    return buffer.status();
  }
  std::span<uint8_t> out = buffer->mutable_span();
  size_t n = 0;
  while (n < out.size()) {
    ssize_t r = ::read(fd, out.data() + n, out.size() - n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      ::close(fd);
      return absl::PermissionDeniedError(
          Cat("cannot read passphrase file ", path.string(), ": ", std::strerror(e)));
    }
    if (r == 0) break;
    n += static_cast<size_t>(r);
  }
  ::close(fd);
  if (n > 0 && out[n - 1] == '\n') --n;
  if (n > 0 && out[n - 1] == '\r') --n;
  if (n == 0) {
    return absl::FailedPreconditionError(Cat("passphrase file ", path.string(), " is empty"));
  }
  if (n > kMaxPassphraseBytes) {
    return absl::FailedPreconditionError(
        Cat("passphrase in ", path.string(), " is longer than ", kMaxPassphraseBytes, " bytes"));
  }
  SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes passphrase, crypto::SecretBytes::Allocate(n));
  std::memcpy(passphrase.mutable_span().data(), out.data(), n);
  return passphrase;  // `buffer` is wiped by its destructor.
}

absl::StatusOr<crypto::SecretBytes> ReadPassphraseCredential(std::string_view name) {
  const char* dir = std::getenv("CREDENTIALS_DIRECTORY");
  if (dir == nullptr || *dir == '\0') {
    return absl::FailedPreconditionError(
        Cat("store.passphrase_credential is \"", name,
            "\" but $CREDENTIALS_DIRECTORY is not set "
            "(start sealkmsd from its systemd unit with LoadCredential=",
            name, ":...)"));
  }
  if (name.empty() || name.find('/') != std::string_view::npos || name == "." || name == "..") {
    return absl::FailedPreconditionError(
        Cat("credential name \"", name, "\" is not a plain file name"));
  }
  return ReadPassphraseFile(std::filesystem::path(dir) / std::string(name));
}

}  // namespace sealpool::daemon
