// The sealkmsd binary's command line and lifecycle.
#include <signal.h>

#include <catch2/catch.hpp>
#include <string>

#include "test/kms/kms_test_env.h"

namespace sealpool::test {
namespace {

TEST_CASE("sealkmsd --help explains itself and exits 0", "[daemon][sealkmsd]") {
  std::string out;
  CHECK(RunCommand({SEALKMSD_PATH, "--help"}, &out) == 0);
  CHECK_THAT(out, Catch::Contains("--config"));
  CHECK_THAT(out, Catch::Contains("--init-store"));
  CHECK_THAT(out, Catch::Contains("--rebuild-kmip-state"));
  CHECK_THAT(out, Catch::Contains("never from the command line"));
  CHECK_THAT(out, Catch::Contains("Exit codes"));
}

TEST_CASE("sealkmsd refuses a bad command line or config with exit code 2", "[daemon][sealkmsd]") {
  std::string out;
  CHECK(RunCommand({SEALKMSD_PATH}, &out) == 2);
  CHECK(RunCommand({SEALKMSD_PATH, "--config", "/nonexistent.toml"}, &out) == 2);
  CHECK_THAT(out, Catch::Contains("/nonexistent.toml"));
  CHECK(RunCommand({SEALKMSD_PATH, "--config", "x", "--passphrase", "p"}, &out) == 2);
}

TEST_CASE("sealkmsd stops cleanly on SIGTERM and --init-store never overwrites",
          "[daemon][sealkmsd]") {
  TempDir dir;
  Sealkmsd kms(dir.path());
  std::string before = ReadFileOrDie(kms.store_path());
  std::string out;
  CHECK(RunCommand({SEALKMSD_PATH, "--config", kms.config_path().string(), "--init-store"}, &out) ==
        1);
  CHECK_THAT(out, Catch::Contains("already exists"));
  CHECK(ReadFileOrDie(kms.store_path()) == before);
  CHECK(RunCommand({SEALKMSD_PATH, "--config", kms.config_path().string(), "--check-config"},
                   &out) == 0);
  kms.Start();
  CHECK(kms.Stop() == 0);
  const std::string log = ReadFileOrDie(kms.dir() / "sealkmsd.log");
  CHECK_THAT(log, Catch::Contains("sealkmsd stopped"));
  // Key hygiene, said once at start (docs/security.md, "Key hygiene").
  CHECK_THAT(log, Catch::Contains("not dumpable (PR_SET_DUMPABLE 0)"));
  CHECK_THAT(log, Catch::Contains("OpenSSL secure heap started: 1024 KiB, blocks of 32 bytes or more"));
}

TEST_CASE("sealkmsd refuses a private key file its group or others may read",
          "[daemon][sealkmsd]") {
  TempDir dir;
  Sealkmsd kms(dir.path());
  const std::filesystem::path key = dir.path() / "server.key";
  std::filesystem::permissions(key, std::filesystem::perms(0640));
  std::string out;
  CHECK(RunCommand({SEALKMSD_PATH, "--config", kms.config_path().string()}, &out) == 2);
  CHECK_THAT(out, Catch::Contains("private key ([server].key) " + key.string() +
                                  " has mode 0640: its group or others may access it; refusing "
                                  "to use it (chmod 600 " + key.string() + ")"));
}

TEST_CASE("sealkmsd --rebuild-kmip-state without [kmip] is refused with exit code 2",
          "[daemon][sealkmsd]") {
  TempDir dir;
  Sealkmsd kms(dir.path());
  std::string out;
  CHECK(RunCommand({SEALKMSD_PATH, "--config", kms.config_path().string(), "--rebuild-kmip-state"},
                   &out) == 2);
  CHECK_THAT(out, Catch::Contains("no [kmip] section"));
  // One step at a time.
  CHECK(RunCommand({SEALKMSD_PATH, "--config", kms.config_path().string(), "--init-store",
                    "--rebuild-kmip-state"},
                   &out) == 2);
  CHECK_THAT(out, Catch::Contains("excludes"));
  CHECK(!std::filesystem::exists(dir.path() / "kmip-state"));
}

}  // namespace
}  // namespace sealpool::test
