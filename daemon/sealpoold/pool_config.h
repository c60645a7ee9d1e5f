// sealpoold's configuration file (TOML). Every key, its default and its meaning: docs/server.md,
// "Configuration"; a commented example: packaging/sealpoold.toml.
//
// Parsing is strict: an unknown key or table is an error (a typo must not silently fall back
// to a default), so is a value of the wrong type or out of range, a duplicate LSU, key group or
// client CN, an LSU naming a key group that is not declared, or a client granted an LSU that
// is not declared. Each error is InvalidArgument and names the key (`lsu[2].key_group`; arrays
// of tables are counted from 0 in file order) and the problem. Relative paths are resolved
// against the folder of the config file. No secret is ever taken from the config itself: TLS
// private keys are files (checked for mode 0600 or stricter when the daemon starts, not here).
#ifndef SEALPOOL_DAEMON_SEALPOOLD_POOL_CONFIG_H_
#define SEALPOOL_DAEMON_SEALPOOLD_POOL_CONFIG_H_

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace sealpool::daemon {

// What a client may do in one LSU.
enum class ClientRight { kBackup, kRestore, kDelete };

// [key_group.s3]: the key group keeps its containers in an S3 bucket (docs/s3.md). endpoint,
// bucket and prefix are where the containers are, kept in the pool's catalog at the group's
// creation and never changed (a config that moves a group is refused at start); region,
// addressing, CA and credentials may change. The secret key is never in the config: a file only
// its owner may read (secret_key_file, mode 0600 checked at start) or a systemd credential
// (secret_key_credential: $CREDENTIALS_DIRECTORY/<name>); exactly one of them.
struct S3TargetConfig {
  std::string endpoint;              // "http(s)://host[:port]", no path
  std::string bucket;                // 3..63 of [a-z0-9.-]
  std::string prefix;                // "" or ending in '/', of [A-Za-z0-9._/-]
  std::string region = "us-east-1";  // 1..64 of [a-z0-9-]
  bool path_style = true;            // addressing = "path" (default) or "virtual-host"
  std::filesystem::path ca_file;     // ca: PEM bundle for https; "" = the system's CAs
  std::string access_key_id;         // required; 1..128 printable, no spaces
  std::filesystem::path secret_key_file;
  std::string secret_key_credential;

  bool operator==(const S3TargetConfig&) const = default;
};

// [[key_group]]: created at first start if the pool lacks it.
struct KeyGroupConfig {
  std::string name;                   // the key service's rule: 1..64 of [A-Za-z0-9._:-]
  std::string kms_backend = "builtin";  // "builtin" or "kmip": which sealkmsd backend wraps it
  std::optional<S3TargetConfig> s3;   // [key_group.s3]; unset: containers in local files
  // kek_mode (issue 17): "symmetric" (default) or "public" (KEK pairs: write-only ingest, no
  // KMS needed to back up). Fixed at creation: a pool refuses a config that names another mode
  // for an existing group. "public" needs [keys] host_key_file or host_key_credential.
  std::string kek_mode = "symmetric";

  bool operator==(const KeyGroupConfig&) const = default;
};

// [[lsu]]: created at first start if the pool lacks it. Its key group may not change later.
struct LsuConfig {
  std::string name;       // 1..64 of [A-Za-z0-9._-]
  std::string key_group;  // a declared [[key_group]]
  // Clients granted "delete" may delete their own images only when this is true; admins always
  // may. Default false: a stolen client certificate cannot erase history.
  bool client_delete = false;
  // Upper bound of an image's retain-until, counted from its backup (days; default 3650).
  absl::Duration max_retention = absl::Hours(24 * 3650);
  // Expiry policy run by the scheduler (both optional; both may be set: an image expires when
  // either says so). Images under retention never expire early.
  std::optional<absl::Duration> expire_after;  // expire_after_days: images older than this
  std::optional<uint32_t> keep_last;           // keep_last: newest N per (owner, "series" label)
  // Quota per owner in logical bytes (sum of image sizes); 0 = none.
  uint64_t owner_quota_bytes = 0;

  bool operator==(const LsuConfig&) const = default;
};

// [[client]]: one client certificate CN and what it may do where.
struct ClientConfig {
  std::string cn;
  // LSU name -> rights ([[client.access]] lsu = "...", allow = ["backup", "restore", "delete"]).
  std::map<std::string, std::set<ClientRight>> access;
  // client_dedup: may use DedupBackup (client-side dedup) and receive its client digest key.
  bool client_dedup = false;
  // client_dedup_epoch: the epoch of its client digest key; raising it revokes the old key.
  uint32_t client_dedup_epoch = 0;

  bool operator==(const ClientConfig&) const = default;
};

struct PoolConfig {
  // [pool]
  std::filesystem::path pool_dir;   // path: the pool folder (created at first start)
  std::filesystem::path audit_log;  // audit_log: JSON lines, synced

  // [server]: the client API (gRPC over TLS, client certificates required)
  std::string listen = "127.0.0.1:7444";
  std::filesystem::path ca_file;    // ca: the CA client certificates must chain to
  std::filesystem::path cert_file;  // cert: this server's certificate (serverAuth)
  std::filesystem::path key_file;   // key
  std::filesystem::path crl_file;   // crl: optional; revoked client certificates (SIGHUP reloads)
  std::filesystem::path port_file;  // port_file: optional; the bound port, once listening

  // [admin]: the admin API on a local unix socket
  std::filesystem::path admin_socket = "/run/sealpool/admin.sock";  // socket
  std::string admin_group;  // group: members (and root) may use the socket; "" = root only

  // [metrics]
  std::string metrics_listen = "127.0.0.1:9464";  // listen: Prometheus text; "" = off

  // [kms]: sealkmsd
  std::string kms_address = "127.0.0.1:7443";  // address
  std::string kms_server_name;                 // server_name: the name in sealkmsd's cert
  std::filesystem::path kms_ca_file;           // ca
  std::filesystem::path kms_cert_file;         // cert: OU=storage-server identity
  std::filesystem::path kms_key_file;          // key
  std::string kms_pool_id;                     // pool_id: as sealkmsd's config maps this cert
  // call_deadline_seconds: longer than sealkmsd's own KMIP deadline (10 s by default), so that its
  // more specific error arrives first.
  absl::Duration kms_call_deadline = absl::Seconds(15);

  // [chunking]: parameters of new key groups (fixed per group at creation)
  uint32_t chunk_min_size = 16 * 1024;   // min_size
  uint32_t chunk_avg_size = 64 * 1024;   // avg_size (a power of two)
  uint32_t chunk_max_size = 256 * 1024;  // max_size

  // [keys]
  uint64_t kek_max_deks = uint64_t{1} << 24;          // kek_max_deks
  absl::Duration kek_max_age = absl::Hours(24 * 30);  // kek_max_age_days
  // Issue 17: the host credential under which kek_mode "public" groups keep a copy of their
  // fingerprint key, so a cold start ingests with no KMS (at most one of the two; the file is
  // checked for mode 0600 and 32 bytes when the daemon starts: host_key.h).
  std::filesystem::path host_key_file;  // host_key_file
  std::string host_key_credential;      // host_key_credential: $CREDENTIALS_DIRECTORY/<name>
  // unconfirmed_warn_seconds: crcontrol --getmode warns when a public group has ingested this
  // long without its KEK pair confirmed through the KMS (or with its root key shredded).
  absl::Duration unconfirmed_warn_after = absl::Hours(24);  // default 86400
  // private_key_cache_seconds: how long a public group's unwrapped KEK private halves and
  // opened batch keys stay in memory after a read used them (then wiped).
  absl::Duration private_key_cache_ttl = absl::Minutes(5);  // default 300

  // [storage]
  uint64_t container_size = 64ull << 20;  // container_size_mib
  int zstd_level = 1;                     // zstd_level (-7..19)
  int seal_threads = 0;                   // seal_threads: 0 = one per core
  // Ingest is refused (RESOURCE_EXHAUSTED) once the pool's file system is this full; reads,
  // deletes, the delete queue and compaction go on.
  double high_water = 0.90;  // high_water_percent / 100

  // [limits]
  uint32_t max_streams = 64;                  // max_streams: concurrent backup + restore streams
  uint32_t max_message_bytes = 4u << 20;      // max_message_mib: one gRPC message
  absl::Duration idle_timeout = absl::Seconds(300);   // idle_timeout_seconds: a silent stream
  absl::Duration shutdown_grace = absl::Seconds(30);  // shutdown_grace_seconds: SIGTERM

  // [scheduler]: background maintenance
  absl::Duration scheduler_interval = absl::Minutes(5);  // interval_seconds
  double compact_live_threshold = 0.5;                   // compact_live_threshold (0..1)
  // quiet_hours = "HH:MM-HH:MM" (local time): compaction only runs inside; unset = any time.
  std::optional<std::pair<int, int>> quiet_hours;  // minutes after midnight: [begin, end)
  std::filesystem::path catalog_backup_dir;        // catalog_backup_dir: "" = no scheduled backup
  absl::Duration catalog_backup_interval = absl::Hours(24);  // catalog_backup_interval_hours
  uint32_t catalog_backup_keep = 7;                          // catalog_backup_keep
  // S3 key groups (issue 16): how often the scheduler sweeps orphan objects, and how old an
  // unreferenced object must be before the sweep removes it (docs/s3.md "Orphans and the sweep").
  absl::Duration orphan_sweep_interval = absl::Hours(24);  // orphan_sweep_interval_hours
  absl::Duration orphan_grace = absl::Hours(1);            // orphan_grace_hours

  // [log]
  std::string log_level = "info";  // level: trace, debug, info, warn, error

  std::vector<KeyGroupConfig> key_groups;
  std::vector<LsuConfig> lsus;
  std::vector<ClientConfig> clients;

  const LsuConfig* FindLsu(std::string_view name) const;
  const ClientConfig* FindClient(std::string_view cn) const;

  // Field by field (a reload can tell whether anything changed).
  bool operator==(const PoolConfig&) const = default;
};

// A config longer than this is refused unread (InvalidArgument): it is not a config file.
inline constexpr size_t kMaxPoolConfigBytes = size_t{4} << 20;

// Parses the config in `text`; relative paths are resolved against `base_dir`.
absl::StatusOr<PoolConfig> ParsePoolConfig(std::string_view text,
                                           const std::filesystem::path& base_dir);
// Reads and parses the file at `path` (NotFound naming the path when it cannot be read);
// relative paths are resolved against the file's folder, made absolute.
absl::StatusOr<PoolConfig> LoadPoolConfig(const std::filesystem::path& path);

std::string_view ClientRightName(ClientRight right);

// "" if `name` may name an [[lsu]] (1..64 of [A-Za-z0-9._-], not starting with '.' or '-');
// otherwise why not. The admin CreateLsu applies it too, so that every LSU can be configured.
std::string LsuNameProblem(std::string_view name);

}  // namespace sealpool::daemon

#endif  // SEALPOOL_DAEMON_SEALPOOLD_POOL_CONFIG_H_
