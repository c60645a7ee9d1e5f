#include "daemon/sealpoold/pool_config.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "test/test_util.h"

namespace sealpool::daemon {
namespace {

using ::sealpool::test::PseudoRandomBytes;
using ::sealpool::test::TempDir;

// Every key set, none to its default.
const char* kFull = R"toml(
[pool]
path = "pool"
audit_log = "/var/log/sealpool/audit.jsonl"

[server]
listen = "[::]:8444"
ca = "certs/ca.crt"
cert = "/etc/sealpool/server.crt"
key = "certs/server.key"
crl = "certs/clients.crl"
port_file = "/run/sealpool/port"

[admin]
socket = "/run/sp/admin.sock"
group = "sealpool-admin"

[metrics]
listen = "0.0.0.0:9500"

[kms]
address = "kms.example.com:7443"
server_name = "sealkmsd.example.com"
ca = "kms/ca.crt"
cert = "kms/pool.crt"
key = "kms/pool.key"
pool_id = "pool-1"
call_deadline_seconds = 20

[chunking]
min_size = 8192
avg_size = 32768
max_size = 131072

[keys]
kek_max_deks = 1000000
kek_max_age_days = 7

[storage]
container_size_mib = 128
zstd_level = -3
seal_threads = 6
high_water_percent = 85

[limits]
max_streams = 16
max_message_mib = 8
idle_timeout_seconds = 600
shutdown_grace_seconds = 0

[scheduler]
interval_seconds = 60
compact_live_threshold = 0.25
quiet_hours = "22:30-05:15"
catalog_backup_dir = "catalog-backups"
catalog_backup_interval_hours = 6
catalog_backup_keep = 14
orphan_sweep_interval_hours = 12
orphan_grace_hours = 2

[log]
level = "debug"

[[key_group]]
name = "kg-1"

[[key_group]]
name = "kg:vault.2"
backend = "kmip"

[[lsu]]
name = "daily"
key_group = "kg-1"

[[lsu]]
name = "monthly_2"
key_group = "kg:vault.2"
client_delete = true
max_retention_days = 36500
expire_after_days = 400
keep_last = 12
owner_quota_gib = 500

[[client]]
cn = "host-1.example.com"
client_dedup = true
client_dedup_epoch = 7

[[client.access]]
lsu = "daily"
allow = ["backup", "restore"]

[[client.access]]
lsu = "monthly_2"
allow = ["delete", "restore", "backup"]

[[client]]
cn = "Restore Robot (DR site)"

[[client.access]]
lsu = "daily"
allow = ["restore"]
)toml";

// The required keys only.
const char* kMinimal = R"(
[pool]
path = "/srv/pool"
audit_log = "/var/log/sealpool/audit.jsonl"

[server]
ca = "/etc/sealpool/ca.crt"
cert = "/etc/sealpool/server.crt"
key = "/etc/sealpool/server.key"

[kms]
ca = "/etc/sealpool/kms-ca.crt"
cert = "/etc/sealpool/kms.crt"
key = "/etc/sealpool/kms.key"
pool_id = "pool-1"
)";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

// Parses `text`, which must fail with InvalidArgument; returns the message.
std::string ErrorOf(const std::string& text) {
  absl::StatusOr<PoolConfig> config = ParsePoolConfig(text, "/etc/sealpool");
  REQUIRE_FALSE(config.ok());
  CHECK(config.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(config.status().message());
}

using Case = std::tuple<std::string, std::string, std::string>;  // from, to, message fragment

// Each case: kFull with `from` replaced by `to` fails naming the key and the problem.
void ExpectErrors(const std::vector<Case>& cases) {
  for (const auto& [from, to, fragment] : cases) {
    INFO("replacing " << from << " by " << to);
    CHECK_THAT(ErrorOf(Replace(kFull, from, to)), Catch::Contains(fragment));
  }
}

// The tables as TOML, [[key_group]] before [[lsu]].
std::string Cat(const std::map<std::string, std::string>& tables) {
  std::string text;
  for (const auto& [name, body] : tables) {
    if (!name.starts_with("[[")) text += name + "\n" + body;
  }
  return text + "[[key_group]]\n" + tables.at("[[key_group]]") + "[[lsu]]\n" + tables.at("[[lsu]]");
}

bool Printable(const std::string& text) {
  for (char ch : text) {
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) return false;
  }
  return true;
}

TEST_CASE("a full config round-trips every field, relative paths against its folder",
          "[daemon][config]") {
  absl::StatusOr<PoolConfig> c = ParsePoolConfig(kFull, "/etc/sealpool");
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  CHECK(c->pool_dir == "/etc/sealpool/pool");
  CHECK(c->audit_log == "/var/log/sealpool/audit.jsonl");
  CHECK(c->listen == "[::]:8444");
  CHECK(c->ca_file == "/etc/sealpool/certs/ca.crt");
  CHECK(c->cert_file == "/etc/sealpool/server.crt");
  CHECK(c->key_file == "/etc/sealpool/certs/server.key");
  CHECK(c->crl_file == "/etc/sealpool/certs/clients.crl");
  CHECK(c->port_file == "/run/sealpool/port");
  CHECK(c->admin_socket == "/run/sp/admin.sock");
  CHECK(c->admin_group == "sealpool-admin");
  CHECK(c->metrics_listen == "0.0.0.0:9500");
  CHECK(c->kms_address == "kms.example.com:7443");
  CHECK(c->kms_server_name == "sealkmsd.example.com");
  CHECK(c->kms_ca_file == "/etc/sealpool/kms/ca.crt");
  CHECK(c->kms_cert_file == "/etc/sealpool/kms/pool.crt");
  CHECK(c->kms_key_file == "/etc/sealpool/kms/pool.key");
  CHECK(c->kms_pool_id == "pool-1");
  CHECK(c->kms_call_deadline == absl::Seconds(20));
  CHECK(c->chunk_min_size == 8192);
  CHECK(c->chunk_avg_size == 32768);
  CHECK(c->chunk_max_size == 131072);
  CHECK(c->kek_max_deks == 1000000);
  CHECK(c->kek_max_age == absl::Hours(24 * 7));
  CHECK(c->container_size == 128ull << 20);
  CHECK(c->zstd_level == -3);
  CHECK(c->seal_threads == 6);
  CHECK(c->high_water == Approx(0.85));
  CHECK(c->max_streams == 16);
  CHECK(c->max_message_bytes == 8u << 20);
  CHECK(c->idle_timeout == absl::Seconds(600));
  CHECK(c->shutdown_grace == absl::ZeroDuration());
  CHECK(c->scheduler_interval == absl::Seconds(60));
  CHECK(c->compact_live_threshold == 0.25);
  REQUIRE(c->quiet_hours.has_value());
  CHECK(c->quiet_hours->first == 22 * 60 + 30);
  CHECK(c->quiet_hours->second == 5 * 60 + 15);
  CHECK(c->catalog_backup_dir == "/etc/sealpool/catalog-backups");
  CHECK(c->catalog_backup_interval == absl::Hours(6));
  CHECK(c->catalog_backup_keep == 14);
  CHECK(c->orphan_sweep_interval == absl::Hours(12));
  CHECK(c->orphan_grace == absl::Hours(2));
  CHECK(c->log_level == "debug");

  REQUIRE(c->key_groups.size() == 2);
  CHECK(c->key_groups[0].name == "kg-1");
  CHECK(c->key_groups[0].kms_backend == "builtin");
  CHECK(c->key_groups[1].name == "kg:vault.2");
  CHECK(c->key_groups[1].kms_backend == "kmip");

  REQUIRE(c->lsus.size() == 2);
  const LsuConfig& daily = c->lsus[0];
  CHECK(daily.name == "daily");
  CHECK(daily.key_group == "kg-1");
  CHECK_FALSE(daily.client_delete);
  CHECK(daily.max_retention == absl::Hours(24 * 3650));
  CHECK_FALSE(daily.expire_after.has_value());
  CHECK_FALSE(daily.keep_last.has_value());
  CHECK(daily.owner_quota_bytes == 0);
  const LsuConfig* monthly = c->FindLsu("monthly_2");
  REQUIRE(monthly == &c->lsus[1]);
  CHECK(monthly->key_group == "kg:vault.2");
  CHECK(monthly->client_delete);
  CHECK(monthly->max_retention == absl::Hours(24 * 36500));
  CHECK(monthly->expire_after == absl::Hours(24 * 400));
  CHECK(monthly->keep_last == 12u);
  CHECK(monthly->owner_quota_bytes == 500ull << 30);
  CHECK(c->FindLsu("weekly") == nullptr);

  REQUIRE(c->clients.size() == 2);
  const ClientConfig* host = c->FindClient("host-1.example.com");
  REQUIRE(host == &c->clients[0]);
  CHECK(host->access.size() == 2);
  CHECK(host->access.at("daily") == std::set{ClientRight::kBackup, ClientRight::kRestore});
  CHECK(host->access.at("monthly_2") ==
        std::set{ClientRight::kBackup, ClientRight::kRestore, ClientRight::kDelete});
  const ClientConfig* robot = c->FindClient("Restore Robot (DR site)");
  REQUIRE(robot == &c->clients[1]);
  CHECK(robot->access ==
        std::map<std::string, std::set<ClientRight>>{{"daily", {ClientRight::kRestore}}});
  CHECK(c->FindClient("host-1") == nullptr);
}

TEST_CASE("a minimal config gets every default", "[daemon][config]") {
  absl::StatusOr<PoolConfig> c = ParsePoolConfig(kMinimal, "/etc/sealpool");
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  CHECK(c->pool_dir == "/srv/pool");
  CHECK(c->kms_pool_id == "pool-1");
  CHECK(c->listen == "127.0.0.1:7444");
  CHECK(c->crl_file.empty());
  CHECK(c->port_file.empty());
  CHECK(c->admin_socket == "/run/sealpool/admin.sock");
  CHECK(c->admin_group.empty());
  CHECK(c->metrics_listen == "127.0.0.1:9464");
  CHECK(c->kms_address == "127.0.0.1:7443");
  CHECK(c->kms_server_name.empty());
  CHECK(c->kms_call_deadline == absl::Seconds(15));
  CHECK(c->chunk_min_size == 16384);
  CHECK(c->chunk_avg_size == 65536);
  CHECK(c->chunk_max_size == 262144);
  CHECK(c->kek_max_deks == 16777216);
  CHECK(c->kek_max_age == absl::Hours(24 * 30));
  CHECK(c->container_size == 64ull << 20);
  CHECK(c->zstd_level == 1);
  CHECK(c->seal_threads == 0);
  CHECK(c->high_water == 0.90);
  CHECK(c->max_streams == 64);
  CHECK(c->max_message_bytes == 4u << 20);
  CHECK(c->idle_timeout == absl::Seconds(300));
  CHECK(c->shutdown_grace == absl::Seconds(30));
  CHECK(c->scheduler_interval == absl::Minutes(5));
  CHECK(c->compact_live_threshold == 0.5);
  CHECK_FALSE(c->quiet_hours.has_value());
  CHECK(c->catalog_backup_dir.empty());
  CHECK(c->catalog_backup_interval == absl::Hours(24));
  CHECK(c->catalog_backup_keep == 7);
  CHECK(c->orphan_sweep_interval == absl::Hours(24));
  CHECK(c->orphan_grace == absl::Hours(1));
  CHECK(c->log_level == "info");
  CHECK(c->key_groups.empty());
  CHECK(c->lsus.empty());
  CHECK(c->clients.empty());
}

TEST_CASE("each required key is named when missing", "[daemon][config]") {
  for (const auto& [line, key] : std::vector<std::pair<std::string, std::string>>{
           {"path = \"/srv/pool\"", "pool.path: is required"},
           {"audit_log = \"/var/log/sealpool/audit.jsonl\"", "pool.audit_log: is required"},
           {"ca = \"/etc/sealpool/ca.crt\"", "server.ca: is required"},
           {"cert = \"/etc/sealpool/server.crt\"", "server.cert: is required"},
           {"key = \"/etc/sealpool/server.key\"", "server.key: is required"},
           {"ca = \"/etc/sealpool/kms-ca.crt\"", "kms.ca: is required"},
           {"cert = \"/etc/sealpool/kms.crt\"", "kms.cert: is required"},
           {"key = \"/etc/sealpool/kms.key\"", "kms.key: is required"},
           {"pool_id = \"pool-1\"", "kms.pool_id: is required"},
       }) {
    INFO(line);
    CHECK_THAT(ErrorOf(Replace(kMinimal, line, "")), Catch::Contains(key));
  }
  CHECK_THAT(ErrorOf(""), Catch::Contains("pool.path: is required"));
  CHECK_THAT(ErrorOf(Replace(kMinimal, "/srv/pool", "")),
             Catch::Contains("pool.path: is required"));
}

TEST_CASE("an unknown table or key is an error, with a suggestion", "[daemon][config]") {
  ExpectErrors({
      {"[log]", "[logging]", "config key logging: unknown table (known here: pool, server"},
      {"[log]", "[log]\nlevle = \"x\"", "log.levle: unknown key; did you mean \"level\"?"},
      {"zstd_level = -3", "zstd_levle = -3",
       "storage.zstd_levle: unknown key; did you mean \"zstd_level\""},
      {"keep_last = 12", "keep_last = 12\nretention = 3",
       "lsu[1].retention: unknown key (known here: name,"},
      {"allow = [\"restore\"]", "allow = [\"restore\"]\nalow = []",
       "client[1].access[0].alow: unknown key"},
      {"cn = \"host-1.example.com\"", "cn = \"host-1.example.com\"\nname = \"x\"",
       "client[0].name: unknown key"},
      {"backend = \"kmip\"", "backend = \"kmip\"\nbakend = \"kmip\"",
       "key_group[1].bakend: unknown key"},
  });
  CHECK_THAT(ErrorOf(std::string(kFull) + "\n[[extra]]\nx = 1\n"),
             Catch::Contains("config key extra: unknown table") && Catch::Contains("line"));
  CHECK_THAT(ErrorOf("verbose = true\n" + std::string(kMinimal)),
             Catch::Contains("config key verbose: unknown key"));
  const std::string odd = ErrorOf("\"bell\\u0007\" = true\n" + std::string(kMinimal));
  CHECK_THAT(odd, Catch::Contains("config key bell\\x07: unknown key (known here: pool,"));
  CHECK(Printable(odd));
}

TEST_CASE("a value of the wrong type is named with its type", "[daemon][config]") {
  ExpectErrors({
      {"path = \"pool\"", "path = 7", "pool.path: must be a string, not an integer"},
      {"zstd_level = -3", "zstd_level = \"3\"",
       "storage.zstd_level: must be an integer in [-7, 19], not a string"},
      {"zstd_level = -3", "zstd_level = 3.0", "not a floating-point number"},
      {"client_delete = true", "client_delete = \"yes\"",
       "lsu[1].client_delete: must be true or false, not a string"},
      {"compact_live_threshold = 0.25", "compact_live_threshold = \"low\"",
       "scheduler.compact_live_threshold: must be a number"},
      {"allow = [\"restore\"]", "allow = \"restore\"",
       "client[1].access[0].allow: must be an array"},
      {"allow = [\"restore\"]", "allow = [\"restore\", 2]",
       "client[1].access[0].allow: must be an array of \"backup\""},
      {"max_streams = 16", "max_streams = 1979-05-27",
       "limits.max_streams: must be an integer in [1, 10000], not a date"},
  });
  CHECK_THAT(ErrorOf("log = \"debug\"\n" + std::string(kMinimal)),
             Catch::Contains("config key log: must be a table ([log]), not a string (line 1)"));
  // A single [table] where [[table]] is meant.
  CHECK_THAT(ErrorOf(std::string(kMinimal) + "[lsu]\nname = \"x\"\n"),
             Catch::Contains("config key lsu: must be an array of tables ([[lsu]]), not a table"));
  CHECK_THAT(
      ErrorOf(std::string(kMinimal) + "[[client]]\ncn = \"c\"\n[client.access]\nlsu = \"x\"\n"),
      Catch::Contains("client[0].access: must be an array of tables ([[client.access]])"));
}

TEST_CASE("numbers out of range are named with their range", "[daemon][config]") {
  ExpectErrors({
      {"call_deadline_seconds = 20", "call_deadline_seconds = 0",
       "kms.call_deadline_seconds: must be an integer in [1, 600] (got 0)"},
      {"kek_max_deks = 1000000", "kek_max_deks = -1",
       "keys.kek_max_deks: must be an integer in [1, 4294967296] (got -1)"},
      {"kek_max_age_days = 7", "kek_max_age_days = 0",
       "keys.kek_max_age_days: must be an integer in [1, 3650]"},
      {"container_size_mib = 128", "container_size_mib = 8",
       "storage.container_size_mib: must be an integer in [16, 4096]"},
      {"seal_threads = 6", "seal_threads = -1",
       "storage.seal_threads: must be an integer in [0, 1024]"},
      {"max_streams = 16", "max_streams = 0",
       "limits.max_streams: must be an integer in [1, 10000]"},
      {"max_message_mib = 8", "max_message_mib = 65",
       "limits.max_message_mib: must be an integer in [1, 64]"},
      {"idle_timeout_seconds = 600", "idle_timeout_seconds = 0",
       "limits.idle_timeout_seconds: must be an integer in [1, 86400]"},
      {"shutdown_grace_seconds = 0", "shutdown_grace_seconds = -5",
       "limits.shutdown_grace_seconds: must be an integer in [0, 3600]"},
      {"interval_seconds = 60", "interval_seconds = 0",
       "scheduler.interval_seconds: must be an integer in [1, 86400]"},
      {"catalog_backup_interval_hours = 6", "catalog_backup_interval_hours = 0",
       "scheduler.catalog_backup_interval_hours: must be an integer in [1, 8760]"},
      {"catalog_backup_keep = 14", "catalog_backup_keep = 0",
       "scheduler.catalog_backup_keep: must be an integer in [1, 1000]"},
      {"orphan_sweep_interval_hours = 12", "orphan_sweep_interval_hours = 0",
       "scheduler.orphan_sweep_interval_hours: must be an integer in [1, 8760]"},
      {"orphan_grace_hours = 2", "orphan_grace_hours = -1",
       "scheduler.orphan_grace_hours: must be an integer in [1, 8760]"},
      {"orphan_grace_hours = 2", "orphan_grace_hours = \"1h\"",
       "scheduler.orphan_grace_hours: must be an integer in [1, 8760]"},
      {"expire_after_days = 400", "expire_after_days = 0",
       "lsu[1].expire_after_days: must be an integer in [1, 36500]"},
      {"owner_quota_gib = 500", "owner_quota_gib = -1",
       "lsu[1].owner_quota_gib: must be an integer in [0, 16777216]"},
      {"max_streams = 16", "max_streams = 9223372036854775807", "(got 9223372036854775807)"},
  });
}

TEST_CASE("client-side dedup is per client, off by default, with an epoch", "[daemon][config]") {
  absl::StatusOr<PoolConfig> c = ParsePoolConfig(kFull, "/");
  REQUIRE(c.ok());
  const ClientConfig* host = c->FindClient("host-1.example.com");
  const ClientConfig* robot = c->FindClient("Restore Robot (DR site)");
  REQUIRE((host != nullptr && robot != nullptr));
  CHECK(host->client_dedup);
  CHECK(host->client_dedup_epoch == 7);
  CHECK_FALSE(robot->client_dedup);
  CHECK(robot->client_dedup_epoch == 0);
  ExpectErrors({
      {"client_dedup = true", "client_dedup = \"yes\"",
       "client[0].client_dedup: must be true or false, not a string"},
      {"client_dedup_epoch = 7", "client_dedup_epoch = -1",
       "client[0].client_dedup_epoch: must be an integer in [0, 4294967295]"},
      {"client_dedup_epoch = 7", "client_dedup_epoch = 4294967296",
       "client[0].client_dedup_epoch: must be an integer in [0, 4294967295]"},
  });
}

TEST_CASE("zstd level is -7..19 and the high-water mark 50..99 percent", "[daemon][config]") {
  ExpectErrors({
      {"zstd_level = -3", "zstd_level = 20",
       "storage.zstd_level: must be an integer in [-7, 19] (got 20)"},
      {"zstd_level = -3", "zstd_level = -8",
       "storage.zstd_level: must be an integer in [-7, 19] (got -8)"},
      {"high_water_percent = 85", "high_water_percent = 49",
       "storage.high_water_percent: must be an integer in [50, 99] (got 49)"},
      {"high_water_percent = 85", "high_water_percent = 100",
       "storage.high_water_percent: must be an integer in [50, 99] (got 100)"},
  });
  for (const char* ok : {"zstd_level = -7", "zstd_level = 19"}) {
    INFO(ok);
    CHECK(ParsePoolConfig(Replace(kFull, "zstd_level = -3", ok), "/").ok());
  }
  absl::StatusOr<PoolConfig> c =
      ParsePoolConfig(Replace(kFull, "high_water_percent = 85", "high_water_percent = 99"), "/");
  REQUIRE(c.ok());
  CHECK(c->high_water == Approx(0.99));
}

TEST_CASE("the compaction threshold lies strictly between 0 and 1", "[daemon][config]") {
  for (const char* bad : {"0", "1", "0.0", "1.0", "-0.1", "1.5", "nan", "inf"}) {
    INFO(bad);
    CHECK_THAT(ErrorOf(Replace(kFull, "0.25", bad)),
               Catch::Contains("scheduler.compact_live_threshold: must be a number in (0, 1), both "
                               "ends excluded"));
  }
  for (const char* good : {"0.01", "0.99"}) {
    INFO(good);
    CHECK(ParsePoolConfig(Replace(kFull, "0.25", good), "/").ok());
  }
}

TEST_CASE("listen addresses are host:port with a port in 0..65535", "[daemon][config]") {
  ExpectErrors({
      {"[::]:8444", "8444", "server.listen: \"8444\" is not \"host:port\""},
      {"[::]:8444", ":8444", "server.listen: \":8444\" is not \"host:port\": the host is empty"},
      {"[::]:8444", "::1:8444", "an IPv6 address goes in brackets"},
      {"[::]:8444", "localhost:65536",
       "server.listen: \"localhost:65536\" has a bad port (0..65535)"},
      {"[::]:8444", "localhost:-1", "server.listen: \"localhost:-1\" has a bad port"},
      {"[::]:8444", "localhost:", "has a bad port"},
      {"[::]:8444", "localhost:99999999999999999999", "has a bad port"},
      {"[::]:8444", "", "server.listen: \"\" is not \"host:port\""},
      {"[::]:8444", "my host:80", "the host has a space"},
      {"0.0.0.0:9500", "0.0.0.0:http", "metrics.listen: \"0.0.0.0:http\" has a bad port"},
      {"kms.example.com:7443", "kms.example.com:0",
       "kms.address: \"kms.example.com:0\" has a bad port (1..65535)"},
      {"kms.example.com:7443", "", "kms.address: \"\" is not \"host:port\""},
  });
  for (const char* ok : {"127.0.0.1:0", "[::1]:65535", "host.example.com:7444"}) {
    INFO(ok);
    CHECK(ParsePoolConfig(Replace(kFull, "[::]:8444", ok), "/").ok());
  }
  absl::StatusOr<PoolConfig> off = ParsePoolConfig(Replace(kFull, "0.0.0.0:9500", ""), "/");
  REQUIRE(off.ok());
  CHECK(off->metrics_listen.empty());
}

TEST_CASE("chunk sizes: 4 KiB <= min < avg < max <= 4 MiB, avg a power of two",
          "[daemon][config]") {
  ExpectErrors({
      {"min_size = 8192", "min_size = 4095",
       "chunking.min_size: must be an integer in [4096, 4194304] (got 4095)"},
      {"max_size = 131072", "max_size = 4194305",
       "chunking.max_size: must be an integer in [4096, 4194304]"},
      {"avg_size = 32768", "avg_size = 40000", "chunking.avg_size: 40000 is not a power of two"},
      {"min_size = 8192", "min_size = 32768",
       "chunking.min_size: must be less than avg_size (32768 >= 32768)"},
      {"max_size = 131072", "max_size = 32768",
       "chunking.max_size: must be greater than avg_size (32768 <= 32768)"},
      {"max_size = 131072", "max_size = 16384", "chunking.max_size: must be greater than avg_size"},
  });
  // Against the defaults: min 16 KiB, avg 64 KiB, max 256 KiB.
  CHECK_THAT(ErrorOf(std::string(kMinimal) + "[chunking]\nmin_size = 65536\n"),
             Catch::Contains("chunking.min_size: must be less than avg_size (65536 >= 65536)"));
  absl::StatusOr<PoolConfig> edges = ParsePoolConfig(
      std::string(kMinimal) + "[chunking]\nmin_size = 4096\navg_size = 8192\nmax_size = 4194304\n",
      "/");
  INFO(edges.status().ToString());
  CHECK(edges.ok());
}

TEST_CASE("quiet hours are HH:MM-HH:MM, begin != end, and may wrap midnight", "[daemon][config]") {
  for (const char* bad : {"22-05", "22:30 - 05:15", "2:30-05:15", "24:00-05:00", "22:60-05:00",
                          "22:30-05:1x", "", "22:30-05:15-06:00"}) {
    INFO(bad);
    CHECK_THAT(
        ErrorOf(Replace(kFull, "22:30-05:15", bad)),
        Catch::Contains("scheduler.quiet_hours: \"") && Catch::Contains("is not \"HH:MM-HH:MM\""));
  }
  CHECK_THAT(ErrorOf(Replace(kFull, "22:30-05:15", "03:00-03:00")),
             Catch::Contains("scheduler.quiet_hours: \"03:00-03:00\" begins where it ends"));
  absl::StatusOr<PoolConfig> day =
      ParsePoolConfig(Replace(kFull, "22:30-05:15", "00:00-23:59"), "/");
  REQUIRE(day.ok());
  CHECK(*day->quiet_hours == std::pair{0, 23 * 60 + 59});
}

TEST_CASE("duplicate key groups, LSUs, clients and access entries are errors", "[daemon][config]") {
  ExpectErrors({
      {"name = \"kg:vault.2\"", "name = \"kg-1\"", "key_group[1].name: \"kg-1\" is declared twice"},
      {"name = \"monthly_2\"\nkey_group = \"kg:vault.2\"",
       "name = \"daily\"\nkey_group = \"kg:vault.2\"", "lsu[1].name: \"daily\" is declared twice"},
      {"cn = \"Restore Robot (DR site)\"", "cn = \"host-1.example.com\"",
       "client[1].cn: \"host-1.example.com\" is declared twice"},
      {"lsu = \"monthly_2\"", "lsu = \"daily\"",
       "client[0].access[1].lsu: \"daily\" is granted twice to this client"},
      {"allow = [\"restore\"]", "allow = [\"restore\", \"restore\"]",
       "client[1].access[0].allow: \"restore\" is listed twice"},
  });
}

TEST_CASE("names follow their rules", "[daemon][config]") {
  ExpectErrors({
      {"name = \"kg-1\"", "name = \"kg 1\"",
       "key_group[0].name: \"kg 1\" has a character outside [A-Za-z0-9._:-]"},
      {"name = \"kg-1\"", "name = \"\"", "key_group[0].name: must not be empty"},
      {"name = \"kg-1\"", "name = \"-kg\"", "key_group[0].name: \"-kg\" starts with '.' or '-'"},
      {"name = \"kg-1\"", "name = \"" + std::string(65, 'k') + "\"",
       "is 65 characters long; the limit is 64"},
      {"name = \"daily\"", "name = \"da:ily\"",
       "lsu[0].name: \"da:ily\" has a character outside [A-Za-z0-9._-]"},
      {"name = \"daily\"", "name = \"d\\u00e4ily\"",
       "lsu[0].name: \"d\\xc3\\xa4ily\" has a character outside"},
      {"name = \"daily\"", "name = \".daily\"", "lsu[0].name: \".daily\" starts with '.' or '-'"},
      {"name = \"daily\"", "name = \"" + std::string(65, 'd') + "\"", "lsu[0].name: \"ddd"},
      {"cn = \"host-1.example.com\"", "cn = \"\"", "client[0].cn: must not be empty"},
      {"cn = \"host-1.example.com\"", "cn = \"" + std::string(65, 'h') + "\"",
       "client[0].cn: \"hhh"},
      {"cn = \"host-1.example.com\"", "cn = \"host\\u0001\"",
       "client[0].cn: \"host\\x01\" has a control character"},
      {"cn = \"host-1.example.com\"", "cn = \"host\\u0085\"", "has a control character"},
      {"cn = \"host-1.example.com\"", "cn = \" host\"",
       "client[0].cn: \" host\" starts or ends with a space"},
      {"pool_id = \"pool-1\"", "pool_id = \"pool 1\"",
       "kms.pool_id: \"pool 1\" has a character outside"},
      {"pool_id = \"pool-1\"", "pool_id = \"\"", "kms.pool_id: must not be empty"},
      {"group = \"sealpool-admin\"", "group = \"sealpool admin\"",
       "admin.group: is not a group name"},
      {"group = \"sealpool-admin\"", "group = \"" + std::string(33, 'g') + "\"",
       "is longer than 32 characters"},
      {"server_name = \"sealkmsd.example.com\"", "server_name = \"a b\"",
       "kms.server_name: \"a b\" has a space"},
  });
  // A CN may hold UTF-8 and spaces inside; 64 bytes is the limit.
  for (const std::string& cn : {std::string("Bäckup Host 1"), std::string(64, 'c')}) {
    INFO(cn);
    CHECK(ParsePoolConfig(Replace(kFull, "Restore Robot (DR site)", cn), "/").ok());
  }
}

TEST_CASE("an LSU must name a declared key group", "[daemon][config]") {
  ExpectErrors({
      {"key_group = \"kg-1\"", "key_group = \"kg9\"",
       "lsu[0].key_group: \"kg9\" is not a declared [[key_group]]"},
      {"key_group = \"kg-1\"", "", "lsu[0].key_group: is required"},
      {"name = \"daily\"", "", "lsu[0].name: is required"},
      {"name = \"kg-1\"", "", "key_group[0].name: is required"},
  });
  // Declared after the LSU in the file is still declared.
  const std::string moved =
      Replace(kFull, "[[key_group]]\nname = \"kg-1\"\n", "") + "\n[[key_group]]\nname = \"kg-1\"\n";
  absl::StatusOr<PoolConfig> c = ParsePoolConfig(moved, "/");
  INFO(c.status().ToString());
  CHECK(c.ok());
}

TEST_CASE("a client may only be granted declared LSUs and known rights", "[daemon][config]") {
  ExpectErrors({
      {"lsu = \"monthly_2\"", "lsu = \"weekly\"",
       "client[0].access[1].lsu: \"weekly\" is not a declared [[lsu]]"},
      {"lsu = \"monthly_2\"", "", "client[0].access[1].lsu: is required"},
      {"allow = [\"restore\"]", "allow = [\"read\"]",
       "client[1].access[0].allow: \"read\" is not a right (backup, restore, delete)"},
      {"allow = [\"restore\"]", "allow = [\"Restore\"]", "\"Restore\" is not a right"},
      {"allow = [\"restore\"]", "allow = []", "client[1].access[0].allow: is empty"},
      {"allow = [\"restore\"]", "", "client[1].access[0].allow: is required"},
      {"cn = \"host-1.example.com\"", "", "client[0].cn: is required"},
  });
  // A client with no access entry is allowed (and may do nothing).
  absl::StatusOr<PoolConfig> c =
      ParsePoolConfig(std::string(kMinimal) + "[[client]]\ncn = \"idle\"\n", "/");
  REQUIRE(c.ok());
  CHECK(c->clients[0].access.empty());
}

TEST_CASE("key group backends, retention and keep_last are checked", "[daemon][config]") {
  ExpectErrors({
      {"backend = \"kmip\"", "backend = \"vault\"",
       "key_group[1].backend: \"vault\" is not \"builtin\" or \"kmip\""},
      {"backend = \"kmip\"", "backend = \"KMIP\"", "key_group[1].backend: \"KMIP\" is not"},
      {"max_retention_days = 36500", "max_retention_days = 0",
       "lsu[1].max_retention_days: must be an integer in [1, 36500] (got 0)"},
      {"max_retention_days = 36500", "max_retention_days = 36501",
       "lsu[1].max_retention_days: must be an integer in [1, 36500] (got 36501)"},
      {"keep_last = 12", "keep_last = 0",
       "lsu[1].keep_last: must be an integer in [1, 1000000] (got 0)"},
  });
}

// ---- [key_group.s3] (issue 16) ----

const char* kS3Group = R"(
[[key_group]]
name = "offsite"
[key_group.s3]
endpoint = "https://s3.example.net:8443"
bucket = "backups-1"
prefix = "pools/a/"
region = "eu-west-3"
addressing = "virtual-host"
ca = "s3-ca.pem"
access_key_id = "AKIDEXAMPLE"
secret_key_file = "/etc/sealpool/s3-secret"
)";

std::string S3Config(const std::string& from = "", const std::string& to = "") {
  std::string group = kS3Group;
  if (!from.empty()) group = Replace(group, from, to);
  return std::string(kMinimal) + group;
}

TEST_CASE("an S3 target of a key group is parsed with its defaults", "[daemon][config]") {
  absl::StatusOr<PoolConfig> c = ParsePoolConfig(S3Config(), "/etc/sealpool");
  INFO(c.status());
  REQUIRE(c.ok());
  REQUIRE(c->key_groups.size() == 1);
  REQUIRE(c->key_groups[0].s3.has_value());
  const S3TargetConfig& t = *c->key_groups[0].s3;
  CHECK(t.endpoint == "https://s3.example.net:8443");
  CHECK(t.bucket == "backups-1");
  CHECK(t.prefix == "pools/a/");
  CHECK(t.region == "eu-west-3");
  CHECK_FALSE(t.path_style);
  CHECK(t.ca_file == "/etc/sealpool/s3-ca.pem");
  CHECK(t.access_key_id == "AKIDEXAMPLE");
  CHECK(t.secret_key_file == "/etc/sealpool/s3-secret");
  CHECK(t.secret_key_credential.empty());

  // Only the required keys: defaults.
  absl::StatusOr<PoolConfig> d = ParsePoolConfig(
      std::string(kMinimal) +
          "[[key_group]]\nname = \"g\"\n[key_group.s3]\nendpoint = \"http://127.0.0.1:7480\"\n"
          "bucket = \"b12\"\naccess_key_id = \"k\"\nsecret_key_credential = \"s3.secret\"\n",
      "/");
  INFO(d.status());
  REQUIRE(d.ok());
  const S3TargetConfig& u = *d->key_groups[0].s3;
  CHECK(u.prefix.empty());
  CHECK(u.region == "us-east-1");
  CHECK(u.path_style);
  CHECK(u.ca_file.empty());
  CHECK(u.secret_key_file.empty());
  CHECK(u.secret_key_credential == "s3.secret");
  // A group without the table is local.
  absl::StatusOr<PoolConfig> local =
      ParsePoolConfig(std::string(kMinimal) + "[[key_group]]\nname = \"g\"\n", "/");
  REQUIRE(local.ok());
  CHECK_FALSE(local->key_groups[0].s3.has_value());
}

TEST_CASE("a secret key in the config itself is refused, saying where to put it",
          "[daemon][config]") {
  for (const std::string key : {"secret_key", "secret_access_key", "secret"}) {
    const std::string error = ErrorOf(S3Config("access_key_id", key + " = \"hunter2\"\naccess_key_id"));
    CHECK_THAT(error, Catch::Contains("key_group[0].s3." + key));
    CHECK_THAT(error, Catch::Contains("secret_key_file"));
    CHECK_THAT(error, Catch::Contains("secret_key_credential"));
    CHECK(error.find("hunter2") == std::string::npos);
  }
}

TEST_CASE("every S3 target key is checked, named in the error", "[daemon][config]") {
  const std::vector<std::tuple<std::string, std::string, std::string>> cases = {
      {"endpoint = \"https://s3.example.net:8443\"", "", "key_group[0].s3.endpoint: is required"},
      {"bucket = \"backups-1\"", "", "key_group[0].s3.bucket: is required"},
      {"access_key_id = \"AKIDEXAMPLE\"", "", "key_group[0].s3.access_key_id: is required"},
      {"https://s3.example.net:8443", "ftp://s3.example.net", "does not start with http://"},
      {"https://s3.example.net:8443", "https://s3.example.net/path", "is not http(s)://host"},
      {"https://s3.example.net:8443", "https://user@host", "is not http(s)://host"},
      {"https://s3.example.net:8443", "https://", "is not http(s)://host"},
      {"https://s3.example.net:8443", "https://a b", "is not http(s)://host"},
      {"bucket = \"backups-1\"", "bucket = \"Backups\"", "key_group[0].s3.bucket: \"Backups\""},
      {"bucket = \"backups-1\"", "bucket = \"ab\"", "is not an S3 bucket name"},
      {"bucket = \"backups-1\"", "bucket = \"-abc\"", "is not an S3 bucket name"},
      {"bucket = \"backups-1\"", "bucket = \"" + std::string(64, 'a') + "\"",
       "is not an S3 bucket name"},
      {"bucket = \"backups-1\"", "bucket = 7", "key_group[0].s3.bucket: must be a string"},
      {"prefix = \"pools/a/\"", "prefix = \"pools/a\"", "key_group[0].s3.prefix"},
      {"prefix = \"pools/a/\"", "prefix = \"/pools/\"", "no leading '/'"},
      {"prefix = \"pools/a/\"", "prefix = \"a//b/\"", "key_group[0].s3.prefix"},
      {"prefix = \"pools/a/\"", "prefix = \"a/../b/\"", "key_group[0].s3.prefix"},
      {"prefix = \"pools/a/\"", "prefix = \"./\"", "key_group[0].s3.prefix"},
      {"prefix = \"pools/a/\"", "prefix = \"a b/\"", "key_group[0].s3.prefix"},
      {"prefix = \"pools/a/\"", "prefix = \"" + std::string(201, 'a') + "/\"",
       "key_group[0].s3.prefix"},
      {"region = \"eu-west-3\"", "region = \"\"", "key_group[0].s3.region"},
      {"region = \"eu-west-3\"", "region = \"EU\"", "is not a region name"},
      {"addressing = \"virtual-host\"", "addressing = \"vhost\"",
       "key_group[0].s3.addressing: \"vhost\" is not \"path\" or \"virtual-host\""},
      {"access_key_id = \"AKIDEXAMPLE\"", "access_key_id = \"\"",
       "key_group[0].s3.access_key_id: must be 1..128 printable"},
      {"access_key_id = \"AKIDEXAMPLE\"", "access_key_id = \"a b\"", "must be 1..128 printable"},
      {"access_key_id = \"AKIDEXAMPLE\"", "access_key_id = \"a\\u0007\"",
       "must be 1..128 printable"},
      {"secret_key_file = \"/etc/sealpool/s3-secret\"", "",
       "needs exactly one of secret_key_file"},
      {"secret_key_file = \"/etc/sealpool/s3-secret\"",
       "secret_key_file = \"/x\"\nsecret_key_credential = \"c\"",
       "needs exactly one of secret_key_file"},
      {"secret_key_file = \"/etc/sealpool/s3-secret\"", "secret_key_file = \"\"",
       "key_group[0].s3.secret_key_file: is empty"},
      {"secret_key_file = \"/etc/sealpool/s3-secret\"", "secret_key_credential = \"../x\"",
       "key_group[0].s3.secret_key_credential"},
      {"secret_key_file = \"/etc/sealpool/s3-secret\"", "secret_key_credential = \"a/b\"",
       "key_group[0].s3.secret_key_credential"},
      {"region = \"eu-west-3\"", "regoin = \"eu-west-3\"", "did you mean \"region\""},
  };
  for (const auto& [from, to, fragment] : cases) {
    INFO("replacing " << from << " by " << to);
    CHECK_THAT(ErrorOf(S3Config(from, to)), Catch::Contains(fragment));
  }
  CHECK_THAT(ErrorOf(std::string(kMinimal) + "[[key_group]]\nname = \"g\"\ns3 = \"https://x\"\n"),
             Catch::Contains("key_group[0].s3: must be a table ([key_group.s3]), not a string"));
}

TEST_CASE("the admin socket must fit a unix socket address", "[daemon][config]") {
  ExpectErrors({
      {"socket = \"/run/sp/admin.sock\"", "socket = \"\"", "admin.socket: must not be empty"},
      {"socket = \"/run/sp/admin.sock\"", "socket = \"/" + std::string(107, 's') + "\"",
       "admin.socket: is 108 bytes long; a unix socket path holds at most 107"},
  });
}

TEST_CASE("errors carry the line of the offending value", "[daemon][config]") {
  const std::string text = Replace(kFull, "zstd_level = -3", "zstd_level = 42");
  size_t line = 1;
  for (char ch : text.substr(0, text.find("zstd_level = 42"))) line += ch == '\n' ? 1 : 0;
  CHECK_THAT(ErrorOf(text), Catch::EndsWith(absl::StrCat("(got 42) (line ", line, ")")));
}

TEST_CASE("malformed TOML is a clear error, never a crash", "[daemon][config]") {
  SECTION("a broken table header names its line") {
    const std::string message = ErrorOf("[pool]\npath = \"/p\"\n[server\nlisten = 1\n");
    CHECK_THAT(message, Catch::StartsWith("config line 3, column"));
    CHECK_THAT(message, Catch::Contains("not valid TOML"));
  }
  SECTION("every truncation of a valid config") {
    const std::string full = kFull;
    for (size_t n = 0; n < full.size(); ++n) {
      absl::StatusOr<PoolConfig> c = ParsePoolConfig(full.substr(0, n), "/");
      INFO("first " << n << " bytes: " << c.status().ToString());
      if (c.ok()) continue;  // cut between two complete entries
      REQUIRE(c.status().code() == absl::StatusCode::kInvalidArgument);
      REQUIRE_THAT(std::string(c.status().message()), Catch::StartsWith("config "));
    }
  }
  SECTION("binary garbage") {
    for (uint64_t seed = 1; seed <= 64; ++seed) {
      const std::vector<uint8_t> bytes = PseudoRandomBytes(4096, seed);
      const std::string message = ErrorOf(std::string(bytes.begin(), bytes.end()));
      INFO(message);
      CHECK_THAT(message, Catch::StartsWith("config line "));
      CHECK(Printable(message));
    }
    CHECK_THAT(ErrorOf(std::string("[pool]\npath = \"a\0b\"\n", 20)), Catch::Contains("line 2"));
  }
  SECTION("deep nesting") {
    CHECK_THAT(ErrorOf("x = " + std::string(100000, '[')), Catch::StartsWith("config line 1"));
    CHECK_THAT(ErrorOf("x = " + std::string(100000, '{')), Catch::StartsWith("config line 1"));
  }
  SECTION("a 10 MB file") {
    const std::string big = std::string(kFull) + "# " + std::string(10 << 20, 'x') + "\n";
    CHECK_THAT(ErrorOf(big), Catch::Contains("bytes; the limit is 4194304"));
    TempDir dir;
    std::ofstream(dir.File("big.toml"), std::ios::binary) << big;
    absl::StatusOr<PoolConfig> c = LoadPoolConfig(dir.File("big.toml"));
    CHECK(c.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(c.status().message()),
               Catch::Contains(dir.File("big.toml")) && Catch::Contains("4194304 bytes"));
  }
}

TEST_CASE("LoadPoolConfig reads a file and resolves paths against its folder", "[daemon][config]") {
  TempDir dir;
  std::ofstream(dir.File("sealpoold.toml")) << kFull;
  absl::StatusOr<PoolConfig> c = LoadPoolConfig(dir.File("sealpoold.toml"));
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  CHECK(c->pool_dir == dir.path() / "pool");
  CHECK(c->kms_key_file == dir.path() / "kms/pool.key");
  CHECK(c->cert_file == "/etc/sealpool/server.crt");

  std::ofstream(dir.File("typo.toml")) << Replace(kFull, "[log]", "[lgo]");
  absl::StatusOr<PoolConfig> typo = LoadPoolConfig(dir.File("typo.toml"));
  CHECK(typo.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(typo.status().message()),
             Catch::StartsWith("config file " + dir.File("typo.toml") +
                               ": config key lgo: unknown table"));
}

TEST_CASE("LoadPoolConfig of a missing file is NotFound naming the path", "[daemon][config]") {
  absl::StatusOr<PoolConfig> c = LoadPoolConfig("/nonexistent/sealpoold.toml");
  CHECK(c.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(c.status().message()), Catch::Contains("/nonexistent/sealpoold.toml"));
  TempDir dir;
  c = LoadPoolConfig(dir.path());
  CHECK(c.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(c.status().message()), Catch::Contains("is a directory"));
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST_CASE("the example config in packaging/ parses", "[daemon][config]") {
  absl::StatusOr<PoolConfig> c = LoadPoolConfig(SEALPOOL_EXAMPLE_POOL_CONFIG);
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  CHECK(!c->key_groups.empty());
  CHECK(!c->lsus.empty());
  CHECK(!c->clients.empty());
}

TEST_CASE("the example's commented-out keys show the defaults", "[daemon][config]") {
  // "# key = value" is a default unless the comment above it says "Optional".
  const std::vector<std::string> lines = Lines(ReadFile(SEALPOOL_EXAMPLE_POOL_CONFIG));
  std::string uncommented;
  int defaults = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    const bool key_line = line.starts_with("# ") && line.size() > 2 && line[2] >= 'a' &&
                          line[2] <= 'z' && line.find(" = ") != std::string::npos &&
                          line.find(' ', 2) == line.find(" = ");
    const bool optional = i > 0 && lines[i - 1].starts_with("# Optional");
    if (key_line && !optional) {
      uncommented += line.substr(2) + "\n";
      ++defaults;
    } else {
      uncommented += line + "\n";
    }
  }
  CHECK(defaults >= 20);
  absl::StatusOr<PoolConfig> plain = LoadPoolConfig(SEALPOOL_EXAMPLE_POOL_CONFIG);
  absl::StatusOr<PoolConfig> spelled = ParsePoolConfig(
      uncommented, std::filesystem::path(SEALPOOL_EXAMPLE_POOL_CONFIG).parent_path());
  INFO(spelled.status().ToString());
  REQUIRE(plain.ok());
  REQUIRE(spelled.ok());
  CHECK(*plain == *spelled);
}

// One row of a key table in docs/server.md.
struct DocumentedKey {
  std::string table;          // "[server]", "[[lsu]]", "[[client]]"
  std::string key;            // "listen"; "client.access.lsu" in the client table
  std::string default_value;  // the TOML literal of the default column; "" when none
};

std::vector<DocumentedKey> DocumentedKeys() {
  std::vector<DocumentedKey> keys;
  std::string table;
  for (const std::string& line : Lines(ReadFile(SEALPOOL_SERVER_DOC))) {
    if (line.starts_with("### `")) {
      table = line.substr(5, line.find('`', 5) - 5);
    } else if (line.starts_with("| `") && !table.empty()) {
      std::vector<std::string> cells;
      std::stringstream row(line.substr(1));
      for (std::string cell; std::getline(row, cell, '|');) cells.push_back(cell);
      REQUIRE(cells.size() >= 4);
      DocumentedKey key{table, cells[0].substr(2, cells[0].find('`', 2) - 2), ""};
      if (cells[2].starts_with(" `"))
        key.default_value = cells[2].substr(2, cells[2].find('`', 2) - 2);
      keys.push_back(key);
    }
  }
  return keys;
}

TEST_CASE("docs/server.md documents every key, and its defaults are the parser's",
          "[daemon][config]") {
  const std::vector<DocumentedKey> documented = DocumentedKeys();
  REQUIRE(documented.size() >= 50);
  // Every key the full config sets (it sets them all) has a row.
  std::string table;
  bool in_access = false;  // [[client.access]] keys are documented as client.access.KEY
  for (const std::string& line : Lines(kFull)) {
    if (line.starts_with("[")) {
      in_access = line == "[[client.access]]";
      table = in_access ? "[[client]]" : line;
    } else if (size_t eq = line.find(" = "); eq != std::string::npos) {
      std::string key = line.substr(0, eq);
      if (in_access) key = "access." + key;
      if (table == "[[client]]") key = "client." + key;
      INFO(table << " " << key);
      CHECK(std::any_of(documented.begin(), documented.end(),
                        [&](const DocumentedKey& d) { return d.table == table && d.key == key; }));
    }
  }
  // Spelling out every documented default changes nothing; documenting a key the parser does
  // not know fails here too.
  std::map<std::string, std::string> tables = {
      {"[pool]", "path = \"/srv/pool\"\naudit_log = \"/var/log/sealpool/audit.jsonl\"\n"},
      {"[server]",
       "ca = \"/etc/sealpool/ca.crt\"\ncert = \"/etc/sealpool/server.crt\"\n"
       "key = \"/etc/sealpool/server.key\"\n"},
      {"[kms]",
       "ca = \"/etc/sealpool/kms-ca.crt\"\ncert = \"/etc/sealpool/kms.crt\"\n"
       "key = \"/etc/sealpool/kms.key\"\npool_id = \"pool-1\"\n"},
      {"[[key_group]]", "name = \"g\"\n"},
      {"[[lsu]]", "name = \"l\"\nkey_group = \"g\"\n"},
      {"[[client]]", "cn = \"c\"\n"},
  };
  const std::string bare = Cat(tables);
  int defaults = 0;
  for (const DocumentedKey& d : documented) {
    if (d.default_value.empty()) continue;
    // [[client]] rows are named client.KEY (client.access.KEY rows have no default).
    const std::string key =
        d.table == "[[client]]" && d.key.starts_with("client.") ? d.key.substr(7) : d.key;
    tables[d.table] += key + " = " + d.default_value + "\n";
    ++defaults;
  }
  CHECK(defaults >= 27);
  absl::StatusOr<PoolConfig> expected = ParsePoolConfig(bare, "/");
  absl::StatusOr<PoolConfig> spelled = ParsePoolConfig(Cat(tables), "/");
  INFO(Cat(tables) << "\n" << spelled.status().ToString());
  REQUIRE(expected.ok());
  REQUIRE(spelled.ok());
  CHECK(*expected == *spelled);
}

TEST_CASE("right names", "[daemon][config]") {
  CHECK(ClientRightName(ClientRight::kBackup) == "backup");
  CHECK(ClientRightName(ClientRight::kRestore) == "restore");
  CHECK(ClientRightName(ClientRight::kDelete) == "delete");
}

}  // namespace
}  // namespace sealpool::daemon
