// sealpoold's host key (issue 17): the 32-byte credential under which kek_mode "public" key
// groups keep a second copy of their fingerprint key (storage/keydict/host_fingerprint_key.h),
// so that a cold start ingests with no KMS. Configured as [keys] host_key_file (a file of mode
// 0600 or stricter, owned by the daemon's user or root: base/private_file.h) or
// host_key_credential (a systemd credential: $CREDENTIALS_DIRECTORY/<name>, which systemd may
// seal to the TPM with LoadCredentialEncrypted=). docs/server.md "Host key".
//
// The file holds the key as exactly 32 raw bytes, or as 64 hex digits with an optional final
// newline (so `head -c 32 /dev/urandom` and `openssl rand -hex 32` both make one).
//
// Errors: NotFound for a missing file; PermissionDenied for a file its group or others may
// read or another user owns (the message names the mode and says chmod 600);
// FailedPrecondition for host_key_credential outside systemd ($CREDENTIALS_DIRECTORY unset);
// InvalidArgument for contents that are neither form (the size is named, never the bytes).
// Every copy of the key bytes but the returned key is wiped.
#ifndef SEALPOOL_DAEMON_SEALPOOLD_HOST_KEY_H_
#define SEALPOOL_DAEMON_SEALPOOLD_HOST_KEY_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "crypto/keys.h"
#include "daemon/sealpoold/pool_config.h"

namespace sealpool::daemon {

// The configured host key, or nullptr when neither setting is present. `credentials_dir` is
// $CREDENTIALS_DIRECTORY (nullopt: unset).
absl::StatusOr<std::shared_ptr<const crypto::HostKey>> LoadHostKey(
    const PoolConfig& config, const std::optional<std::string>& credentials_dir);

// Parses the contents of a host key file; `source` names it in errors.
absl::StatusOr<crypto::HostKey> ParseHostKey(std::string_view contents, std::string_view source);

}  // namespace sealpool::daemon

#endif  // SEALPOOL_DAEMON_SEALPOOLD_HOST_KEY_H_
