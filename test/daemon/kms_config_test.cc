#include "daemon/kms_config.h"

#include <catch2/catch.hpp>
#include <string>

namespace sealpool::daemon {
namespace {

const char* kValid = R"(
[server]
listen = "0.0.0.0:7443"
ca = "certs/ca.crt"
cert = "/etc/sealpool/kms/server.crt"
key = "certs/server.key"

[store]
path = "keystore"
passphrase_credential = "sealkmsd-passphrase"
audit_log = "/var/log/sealpool/kms-audit.jsonl"
scrypt_log2_n = 16

[log]
level = "warn"

[admins]
cns = ["ops-1", "ops-2"]

[[storage_server]]
cn = "msdp-1.example.com"
pool_id = "pool-1"
key_groups = ["kg-1", "kg-shared"]
)";

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

absl::StatusCode CodeOf(const std::string& text) {
  return ParseKmsConfig(text, "/etc/sealpool").status().code();
}

TEST_CASE("a complete config parses, relative paths against its folder", "[daemon][config]") {
  auto c = ParseKmsConfig(kValid, "/etc/sealpool");
  REQUIRE(c.ok());
  CHECK(c->listen == "0.0.0.0:7443");
  CHECK(c->ca_file == "/etc/sealpool/certs/ca.crt");
  CHECK(c->cert_file == "/etc/sealpool/kms/server.crt");
  CHECK(c->store_path == "/etc/sealpool/keystore");
  CHECK(c->passphrase_credential == "sealkmsd-passphrase");
  CHECK(c->passphrase_file.empty());
  CHECK(c->scrypt_log2_n == 16);
  CHECK(c->log_level == "warn");
  CHECK(c->admins.size() == 2);
  REQUIRE(c->storage_servers.size() == 1);
  CHECK(c->storage_servers[0].pool_id == "pool-1");
  CHECK(c->storage_servers[0].key_groups.contains("kg-shared"));
}

TEST_CASE("config mistakes are named", "[daemon][config]") {
  auto r = ParseKmsConfig(Replace(kValid, "[log]", "[log]\nlevle = \"x\""), "/");
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("log.levle"));
  CHECK(CodeOf(Replace(kValid, "level = \"warn\"", "level = \"loud\"")) ==
        absl::StatusCode::kInvalidArgument);
  CHECK(CodeOf(Replace(kValid, "ca = \"certs/ca.crt\"", "")) == absl::StatusCode::kInvalidArgument);
  CHECK(CodeOf(Replace(kValid, "passphrase_credential = \"sealkmsd-passphrase\"",
                       "passphrase_credential = \"c\"\npassphrase_file = \"f\"")) ==
        absl::StatusCode::kInvalidArgument);
  CHECK(CodeOf(Replace(kValid, "passphrase_credential = \"sealkmsd-passphrase\"", "")) ==
        absl::StatusCode::kInvalidArgument);
  CHECK(CodeOf(Replace(kValid, "scrypt_log2_n = 16", "scrypt_log2_n = 40")) ==
        absl::StatusCode::kInvalidArgument);
  CHECK(CodeOf(Replace(kValid, "pool_id = \"pool-1\"", "pool_id = \"pool 1\"")) ==
        absl::StatusCode::kInvalidArgument);
  CHECK(CodeOf(Replace(kValid, "cns = [\"ops-1\", \"ops-2\"]", "cns = [\"msdp-1.example.com\"]")) ==
        absl::StatusCode::kInvalidArgument);
  CHECK(CodeOf(Replace(kValid, "key_groups = [\"kg-1\", \"kg-shared\"]", "key_groups = 3")) ==
        absl::StatusCode::kInvalidArgument);
  r = ParseKmsConfig("[server\nlisten=", "/");
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("line"));
}

TEST_CASE("a missing config file is not found", "[daemon][config]") {
  CHECK(LoadKmsConfig("/nonexistent/sealkmsd.toml").status().code() == absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sealpool::daemon
