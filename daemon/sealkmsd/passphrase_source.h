// Where sealkmsd's key-store passphrase comes from: a file, or a systemd credential
// (LoadCredential=/LoadCredentialEncrypted= in the unit; the file $CREDENTIALS_DIRECTORY/<name>).
// Never the command line or the environment (both are visible to other users in /proc).
#ifndef SEALPOOL_DAEMON_SEALKMSD_PASSPHRASE_SOURCE_H_
#define SEALPOOL_DAEMON_SEALKMSD_PASSPHRASE_SOURCE_H_

#include <filesystem>
#include <string_view>

#include "absl/status/statusor.h"
#include "crypto/secure_memory.h"

namespace sealpool::daemon {

inline constexpr size_t kMaxPassphraseBytes = 1024;

// Reads the passphrase in `path` into locked memory; one trailing newline ("\n" or "\r\n") is
// not part of it. NotFound, PermissionDenied (unreadable), FailedPrecondition (readable by group
// or others, empty, or longer than kMaxPassphraseBytes).
absl::StatusOr<crypto::SecretBytes> ReadPassphraseFile(const std::filesystem::path& path);

// Reads the systemd credential `name`. FailedPrecondition if $CREDENTIALS_DIRECTORY is unset
// (not started by systemd with LoadCredential=) or `name` is not a plain file name.
absl::StatusOr<crypto::SecretBytes> ReadPassphraseCredential(std::string_view name);

}  // namespace sealpool::daemon

#endif  // SEALPOOL_DAEMON_SEALKMSD_PASSPHRASE_SOURCE_H_
