// Issue 17 (write-only ingest) in sealpoold's configuration and start-up: kek_mode per key
// group and the [keys] host key settings (bad values refused naming the key), the host key
// file checks (missing, mode 0644, wrong size, a systemd credential outside systemd), a config
// that names another kek_mode than the pool's group, and the KEK pair watch behind
// crcontrol --getmode (unconfirmed ingest warned after the threshold and not after a
// confirmation; a failed check stops ingest; a root key shredded while ingest ran unconfirmed).
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "daemon/sealpoold/host_key.h"
#include "daemon/sealpoold/kek_pair_watch.h"
#include "daemon/sealpoold/pool_config.h"
#include "daemon/sealpoold/pool_setup.h"
#include "test/test_util.h"

namespace sealpool::daemon {
namespace {

using ::sealpool::test::TempDir;

const char* kBase = R"(
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

absl::StatusOr<PoolConfig> Parse(const std::string& keys, const std::string& group) {
  return ParsePoolConfig(
      std::string(kBase) + "[keys]\n" + keys + "\n[[key_group]]\nname = \"g\"\n" + group, "/etc/sp");
}

std::string ErrorOf(const std::string& keys, const std::string& group) {
  absl::StatusOr<PoolConfig> c = Parse(keys, group);
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(c.status().message());
}

TEST_CASE("kek_mode and the host key settings parse, with their defaults", "[daemon][config][write_only]") {
  absl::StatusOr<PoolConfig> plain = Parse("", "");
  REQUIRE(plain.ok());
  CHECK(plain->key_groups[0].kek_mode == "symmetric");
  CHECK(plain->host_key_file.empty());
  CHECK(plain->host_key_credential.empty());
  CHECK(plain->unconfirmed_warn_after == absl::Hours(24));
  CHECK(plain->private_key_cache_ttl == absl::Minutes(5));
  CHECK(PoolOptionsFromConfig(*plain).keys.private_key_cache_ttl == absl::Minutes(5));

  absl::StatusOr<PoolConfig> file =
      Parse("host_key_file = \"keys/host.key\"\nunconfirmed_warn_seconds = 5\n"
            "private_key_cache_seconds = 30",
            "kek_mode = \"public\"\n");
  INFO(file.status().ToString());
  REQUIRE(file.ok());
  CHECK(file->key_groups[0].kek_mode == "public");
  CHECK(file->host_key_file == "/etc/sp/keys/host.key");  // relative to the config's folder
  CHECK(file->unconfirmed_warn_after == absl::Seconds(5));
  CHECK(file->private_key_cache_ttl == absl::Seconds(30));
  CHECK(PoolOptionsFromConfig(*file).keys.private_key_cache_ttl == absl::Seconds(30));

  absl::StatusOr<PoolConfig> cred =
      Parse("host_key_credential = \"sealpool-host-key\"", "kek_mode = \"public\"\n");
  REQUIRE(cred.ok());
  CHECK(cred->host_key_credential == "sealpool-host-key");
}

TEST_CASE("bad kek_mode and host key settings are refused naming the key", "[daemon][config][write_only]") {
  CHECK_THAT(ErrorOf("", "kek_mode = \"asymmetric\"\n"),
             Catch::Contains("key_group[0].kek_mode") &&
                 Catch::Contains("is not \"symmetric\" or \"public\""));
  CHECK_THAT(ErrorOf("", "kek_mode = 1\n"), Catch::Contains("key_group[0].kek_mode"));
  CHECK_THAT(ErrorOf("", "kek_mode = \"\"\n"), Catch::Contains("key_group[0].kek_mode"));
  // "public" without a host key: ingest would need the KMS for the fingerprint key.
  CHECK_THAT(ErrorOf("", "kek_mode = \"public\"\n"),
             Catch::Contains("needs a host key") && Catch::Contains("host_key_file"));
  CHECK_THAT(ErrorOf("host_key_file = \"/k\"\nhost_key_credential = \"c\"", ""),
             Catch::Contains("keys.host_key_credential") && Catch::Contains("both set"));
  CHECK_THAT(ErrorOf("host_key_file = \"\"", ""), Catch::Contains("keys.host_key_file"));
  CHECK_THAT(ErrorOf("host_key_file = 7", ""), Catch::Contains("keys.host_key_file"));
  for (const char* bad : {"\"\"", "\"../x\"", "\"a/b\"", "\"..\"", "\"a b\""}) {
    INFO(bad);
    CHECK_THAT(ErrorOf(std::string("host_key_credential = ") + bad, ""),
               Catch::Contains("keys.host_key_credential") &&
                   Catch::Contains("not a credential name"));
  }
  CHECK_THAT(ErrorOf("host_key_credential = \"" + std::string(256, 'c') + "\"", ""),
             Catch::Contains("keys.host_key_credential"));
  for (const char* bad : {"0", "-1", "31536001", "\"60\"", "1.5"}) {
    INFO(bad);
    CHECK_THAT(ErrorOf(std::string("unconfirmed_warn_seconds = ") + bad, ""),
               Catch::Contains("keys.unconfirmed_warn_seconds"));
  }
  for (const char* bad : {"0", "-1", "86401", "\"300\"", "1.5"}) {
    INFO(bad);
    CHECK_THAT(ErrorOf(std::string("private_key_cache_seconds = ") + bad, ""),
               Catch::Contains("keys.private_key_cache_seconds"));
  }
  CHECK_THAT(ErrorOf("host_key = \"/k\"", ""), Catch::Contains("unknown key"));
}

void WriteFile(const std::string& path, const std::string& bytes, mode_t mode) {
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes; }
  REQUIRE(::chmod(path.c_str(), mode) == 0);
}

PoolConfig WithHostKeyFile(const std::string& path) {
  PoolConfig c;
  c.host_key_file = path;
  return c;
}

TEST_CASE("the host key file is read only when private and well formed", "[daemon][write_only]") {
  TempDir dir;
  const std::string path = dir.File("host.key");
  SECTION("none configured") {
    auto k = LoadHostKey(PoolConfig{}, std::nullopt);
    REQUIRE(k.ok());
    CHECK(*k == nullptr);
  }
  SECTION("missing") {
    auto k = LoadHostKey(WithHostKeyFile(path), std::nullopt);
    CHECK(k.status().code() == absl::StatusCode::kNotFound);
    CHECK_THAT(std::string(k.status().message()), Catch::Contains(path));
  }
  SECTION("mode 0644 is refused, 0600 and 0400 are read") {
    const std::string raw(32, '\x5a');
    WriteFile(path, raw, 0644);
    auto k = LoadHostKey(WithHostKeyFile(path), std::nullopt);
    CHECK(k.status().code() == absl::StatusCode::kPermissionDenied);
    CHECK_THAT(std::string(k.status().message()),
               Catch::Contains("has mode 0644") && Catch::Contains("chmod 600"));
    for (mode_t mode : {mode_t{0600}, mode_t{0400}}) {
      REQUIRE(::chmod(path.c_str(), mode) == 0);
      auto ok = LoadHostKey(WithHostKeyFile(path), std::nullopt);
      INFO(ok.status().ToString());
      REQUIRE(ok.ok());
      REQUIRE(*ok != nullptr);
      CHECK(std::string((*ok)->RevealSecret().begin(), (*ok)->RevealSecret().end()) == raw);
    }
  }
  SECTION("64 hex digits, with or without a newline, are the same key as 32 raw bytes") {
    const std::string hex = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";
    for (const std::string& text : {hex, hex + "\n"}) {
      WriteFile(path, text, 0600);
      auto k = LoadHostKey(WithHostKeyFile(path), std::nullopt);
      REQUIRE(k.ok());
      for (size_t i = 0; i < 32; ++i) CHECK((*k)->RevealSecret()[i] == i);
    }
  }
  SECTION("contents of another size or not hex are refused without showing them") {
    for (const std::string& text :
         {std::string(), std::string(31, 'k'), std::string(33, 'k'), std::string(64, 'g'),
          std::string(63, 'a') + "\n", std::string(64, 'a') + "\n\n", std::string(1 << 20, 'a')}) {
      WriteFile(path, text, 0600);
      auto k = LoadHostKey(WithHostKeyFile(path), std::nullopt);
      INFO(text.size());
      CHECK(k.status().code() == absl::StatusCode::kInvalidArgument);
      CHECK_THAT(std::string(k.status().message()), !Catch::Contains("kkkk") &&
                                                        !Catch::Contains("aaaa"));
    }
  }
  SECTION("a systemd credential is read from $CREDENTIALS_DIRECTORY") {
    PoolConfig c;
    c.host_key_credential = "sealpool-host-key";
    auto outside = LoadHostKey(c, std::nullopt);
    CHECK(outside.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(std::string(outside.status().message()), Catch::Contains("CREDENTIALS_DIRECTORY"));
    CHECK(LoadHostKey(c, dir.path().string()).status().code() == absl::StatusCode::kNotFound);
    WriteFile(dir.File("sealpool-host-key"), std::string(32, 'c'), 0400);
    auto inside = LoadHostKey(c, dir.path().string());
    INFO(inside.status().ToString());
    REQUIRE(inside.ok());
    CHECK(*inside != nullptr);
  }
}

storage::KeyGroupInfo Group(const std::string& name, bool pairs) {
  storage::KeyGroupInfo g;
  g.name = name;
  storage::KekInfo k;
  k.kek_id = 1;
  k.pair = pairs;
  g.keks.push_back(k);
  return g;
}

TEST_CASE("a config naming another kek_mode than an existing group's is refused",
          "[daemon][config][write_only]") {
  PoolConfig c;
  c.key_groups.push_back({.name = "sym", .kms_backend = "builtin", .s3 = std::nullopt, .kek_mode = "public"});
  c.key_groups.push_back({.name = "pub", .kms_backend = "builtin", .s3 = std::nullopt, .kek_mode = "public"});
  const std::vector<storage::KeyGroupInfo> groups = {Group("sym", false), Group("pub", true)};
  absl::Status s = CheckKekModes(groups, c);
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(s.message()),
             Catch::Contains("key group \"sym\" has kek_mode \"symmetric\" in the pool") &&
                 Catch::Contains("the config says \"public\"") && Catch::Contains("fixed"));
  c.key_groups[0].kek_mode = "symmetric";
  CHECK(CheckKekModes(groups, c).ok());
  c.key_groups[1].kek_mode = "symmetric";
  CHECK(CheckKekModes(groups, c).code() == absl::StatusCode::kFailedPrecondition);
  // A group the pool does not have yet is created in the config's mode: no contradiction.
  c.key_groups[1].kek_mode = "public";
  c.key_groups.push_back({.name = "new", .kms_backend = "builtin", .s3 = std::nullopt, .kek_mode = "public"});
  CHECK(CheckKekModes(groups, c).ok());
  CHECK(KekModeOf(c.key_groups[2]) == storage::KekMode::kPublic);
  CHECK(KekModeOf(c.key_groups[0]) == storage::KekMode::kSymmetric);
}

TEST_CASE("the KEK pair watch warns of unconfirmed ingest after the threshold only",
          "[daemon][write_only]") {
  absl::Time now = absl::FromUnixSeconds(1000000);
  KekPairWatch watch(absl::Seconds(60), [&] { return now; });
  watch.Track("pub");
  CHECK(watch.NoteIngest("sym").ok());  // not tracked: ignored
  CHECK(watch.Get("sym").status().code() == absl::StatusCode::kNotFound);

  auto state = [&] {
    auto s = watch.Get("pub");
    REQUIRE(s.ok());
    return *s;
  };
  CHECK(state().warnings.empty());  // no ingest yet
  REQUIRE(watch.NoteIngest("pub").ok());
  CHECK(state().unconfirmed_since == now);
  now += absl::Seconds(59);
  REQUIRE(watch.NoteIngest("pub").ok());
  CHECK(state().warnings.empty());
  now += absl::Seconds(1);
  REQUIRE(state().warnings.size() == 1);
  CHECK_THAT(state().warnings[0], Catch::Contains("without its KEK pair confirmed") &&
                                      Catch::Contains("60 s"));
  watch.Confirmed("pub");
  CHECK(state().confirmed);
  CHECK(state().warnings.empty());
  now += absl::Hours(100);
  REQUIRE(watch.NoteIngest("pub").ok());
  CHECK(state().warnings.empty());
  CHECK(state().unconfirmed_since == absl::InfinitePast());
}

TEST_CASE("a failed pair check stops ingest, and a shredded root key is warned of",
          "[daemon][write_only]") {
  absl::Time now = absl::FromUnixSeconds(1000000);
  KekPairWatch watch(absl::Hours(24), [&] { return now; });
  watch.Track("pub");
  watch.Track("other");
  REQUIRE(watch.NoteIngest("pub").ok());
  watch.RootKeyProblem("pub", "root key rk-1 is terminated");
  auto s = watch.Get("pub");
  REQUIRE(s.ok());
  REQUIRE(s->warnings.size() == 1);
  CHECK_THAT(s->warnings[0], Catch::Contains("root key rk-1 is terminated") &&
                                 Catch::Contains("ingest ran without the KMS"));
  // No ingest, no such warning.
  watch.RootKeyProblem("other", "root key rk-2 is compromised");
  CHECK(watch.Get("other")->warnings.empty());

  watch.CheckFailed("pub", "the public key of KEK pair \"kek-1\" ... is not the one pinned");
  absl::Status refused = watch.NoteIngest("pub");
  CHECK(refused.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(refused.message()), Catch::Contains("ingest into key group \"pub\" is stopped"));
  watch.Confirmed("pub");  // a later pass does not lift the stop
  CHECK(watch.NoteIngest("pub").code() == absl::StatusCode::kFailedPrecondition);
  CHECK_FALSE(watch.Get("pub")->confirmed);
  CHECK(watch.NoteIngest("other").ok());
}

TEST_CASE("sealkmsd's pin refusal is told from its other refusals", "[daemon][write_only]") {
  // The message of kms/key_registry.cc CheckPins, as sealkmsd sends it.
  CHECK(IsPinMismatch(absl::FailedPreconditionError(
      "the public key of KEK pair \"kek-1\" of pool \"pool-a\" in key group \"kg-a\" is not the "
      "one pinned at its registration (sha256 aa, now bb): the pool's catalog holds a "
      "substituted public key")));
  CHECK_FALSE(IsPinMismatch(absl::FailedPreconditionError("root key rk-1 is compromised")));
  CHECK_FALSE(IsPinMismatch(absl::NotFoundError("is not the one pinned")));
}

TEST_CASE("an operation that failed for want of sealkmsd says it needs the KMS",
          "[daemon][write_only]") {
  absl::Status s = NeedsKms(absl::UnavailableError("connection refused"), "restore", "127.0.0.1:1");
  CHECK(s.code() == absl::StatusCode::kUnavailable);
  CHECK(s.message() ==
        "restore needs the KMS: sealkmsd at 127.0.0.1:1 cannot be reached (connection refused)");
  CHECK(NeedsKms(absl::DeadlineExceededError("slow"), "purge", "k:1").code() ==
        absl::StatusCode::kUnavailable);
  CHECK(NeedsKms(absl::DataLossError("bad"), "restore", "k:1") == absl::DataLossError("bad"));
  CHECK(NeedsKms(absl::OkStatus(), "restore", "k:1").ok());
}

}  // namespace
}  // namespace sealpool::daemon
