#include "daemon/sealkmsd/kms_config.h"

#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <tuple>

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

TEST_CASE("two storage servers with the same pool id are refused, naming both",
          "[daemon][config]") {
  auto r = ParseKmsConfig(std::string(kValid) +
                              "[[storage_server]]\ncn = \"msdp-2.example.com\"\n"
                              "pool_id = \"pool-1\"\nkey_groups = [\"kg-2\"]\n",
                          "/");
  CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(r.status().message() ==
        "storage servers \"msdp-1.example.com\" and \"msdp-2.example.com\" both have pool id "
        "\"pool-1\"; a pool id belongs to one storage server");
  // The same CN twice is named too.
  r = ParseKmsConfig(std::string(kValid) +
                         "[[storage_server]]\ncn = \"msdp-1.example.com\"\n"
                         "pool_id = \"pool-2\"\nkey_groups = [\"kg-2\"]\n",
                     "/");
  CHECK(r.status().message() == "storage server CN \"msdp-1.example.com\" is listed twice");
  // Distinct pool ids are fine.
  CHECK(ParseKmsConfig(std::string(kValid) +
                           "[[storage_server]]\ncn = \"msdp-2.example.com\"\n"
                           "pool_id = \"pool-2\"\nkey_groups = [\"kg-shared\"]\n",
                       "/")
            .ok());
}

const char* kKmip = R"(
[kmip]
server = "kmip.example.com:5696"
server_name = "kmip.example.com"
ca = "kmip/ca.crt"
cert = "kmip/sealkmsd.crt"
key = "kmip/sealkmsd.key"
state = "kmip-state"
timeout_seconds = 5
allow_export = true
key_groups = ["kg-1"]
)";

TEST_CASE("a [kmip] table chooses the KMIP backend for its key groups", "[daemon][config]") {
  auto plain = ParseKmsConfig(kValid, "/etc/sealpool");
  REQUIRE(plain.ok());
  CHECK(!plain->kmip.enabled);
  CHECK(!plain->kmip.allow_export);
  auto c = ParseKmsConfig(std::string(kValid) + kKmip, "/etc/sealpool");
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  CHECK(c->kmip.enabled);
  CHECK(c->kmip.host == "kmip.example.com");
  CHECK(c->kmip.port == 5696);
  CHECK(c->kmip.ca_file == "/etc/sealpool/kmip/ca.crt");
  CHECK(c->kmip.state_path == "/etc/sealpool/kmip-state");
  CHECK(c->kmip.timeout_seconds == 5);
  CHECK(c->kmip.allow_export);
  CHECK(c->kmip.key_groups == std::set<std::string>{"kg-1"});
  auto v6 = ParseKmsConfig(Replace(std::string(kValid) + kKmip, "kmip.example.com:5696", "[::1]:5696"), "/");
  REQUIRE(v6.ok());
  CHECK(v6->kmip.host == "::1");
}

TEST_CASE("[kmip] mistakes are named", "[daemon][config]") {
  const std::string all = std::string(kValid) + kKmip;
  for (auto [from, to, key] : {
           std::tuple{"server = \"kmip.example.com:5696\"", "server = \"kmip.example.com\"", "kmip.server"},
           std::tuple{"server = \"kmip.example.com:5696\"", "server = \"h:99999\"", "kmip.server"},
           std::tuple{"state = \"kmip-state\"", "", "kmip.state"},
           std::tuple{"cert = \"kmip/sealkmsd.crt\"", "", "kmip.ca/cert/key"},
           std::tuple{"timeout_seconds = 5", "timeout_seconds = 0", "kmip.timeout_seconds"},
           std::tuple{"allow_export = true", "allow_export = \"yes\"", "kmip.allow_export"},
           std::tuple{"key_groups = [\"kg-1\"]", "key_groups = [\"kg 1\"]", "kmip.key_groups"},
           std::tuple{"allow_export = true", "allow_exprot = true", "kmip.allow_exprot"},
       }) {
    auto r = ParseKmsConfig(Replace(all, from, to), "/");
    INFO(to);
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(r.status().message()), Catch::Contains(key));
  }
}

TEST_CASE("a missing config file is not found", "[daemon][config]") {
  CHECK(LoadKmsConfig("/nonexistent/sealkmsd.toml").status().code() == absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sealpool::daemon
