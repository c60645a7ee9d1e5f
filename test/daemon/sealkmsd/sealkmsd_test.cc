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
  CHECK_THAT(ReadFileOrDie(kms.dir() / "sealkmsd.log"), Catch::Contains("sealkmsd stopped"));
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
