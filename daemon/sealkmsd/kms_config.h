// sealkmsd's configuration file (TOML). Example and every key: packaging/sealkmsd.toml and
// docs/kms.md, "Configuration".
#ifndef SEALPOOL_DAEMON_SEALKMSD_KMS_CONFIG_H_
#define SEALPOOL_DAEMON_SEALKMSD_KMS_CONFIG_H_

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kms/access_policy.h"

namespace sealpool::daemon {

// [kmip]: an external KMS spoken to over KMIP, for the key groups listed (docs/kms.md, "KMIP
// backend"). Absent: every group is in the built-in store.
struct KmipConfig {
  bool enabled = false;
  std::string host;  // from server = "host:port"
  int port = 5696;
  std::string server_name;  // the name the KMS certificate must carry; host when empty
  std::filesystem::path ca_file;
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  std::filesystem::path state_path;  // local state: groups, sealpool key states, usage registry
  uint32_t timeout_seconds = 10;     // per KMIP call
  bool allow_export = false;         // wrap/unwrap by Get + local AES-GCM instead of Encrypt/Decrypt
  std::set<std::string> key_groups;
};

struct KmsConfig {
  // [server]
  std::string listen = "127.0.0.1:7443";
  std::filesystem::path ca_file;
  std::filesystem::path cert_file;
  std::filesystem::path key_file;
  std::filesystem::path port_file;  // optional: the bound port is written here once listening
  // [store]
  std::filesystem::path store_path;
  std::filesystem::path passphrase_file;  // one of these two
  std::string passphrase_credential;      // a systemd credential name ($CREDENTIALS_DIRECTORY)
  uint32_t scrypt_log2_n = 15;            // used by --init-store only
  std::filesystem::path audit_log;
  // [log]
  std::string log_level = "info";
  // [[storage_server]] and [admins]
  std::vector<kms::StorageClient> storage_servers;
  std::set<std::string> admins;
  // [kmip]
  KmipConfig kmip;
};

// Parses the config in `text`; relative paths are resolved against `base_dir`.
// InvalidArgument naming the key and the problem (unknown keys included: a typo is an error).
absl::StatusOr<KmsConfig> ParseKmsConfig(std::string_view text,
                                         const std::filesystem::path& base_dir);
// Reads and parses the file at `path`.
absl::StatusOr<KmsConfig> LoadKmsConfig(const std::filesystem::path& path);

}  // namespace sealpool::daemon

#endif  // SEALPOOL_DAEMON_SEALKMSD_KMS_CONFIG_H_
