#include "daemon/sealkmsd/passphrase_source.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "test/kms/kms_test_env.h"

namespace sealpool::daemon {
namespace {

std::string Str(const crypto::SecretBytes& s) {
  return std::string(reinterpret_cast<const char*>(s.span().data()), s.size());
}

TEST_CASE("a passphrase file is read without its trailing newline", "[daemon][passphrase]") {
  test::TempDir dir;
  auto path = dir.path() / "p";
  test::WriteFileOrDie(path, "correct horse\n", 0600);
  auto p = ReadPassphraseFile(path);
  REQUIRE(p.ok());
  CHECK(Str(*p) == "correct horse");
  CHECK(p->locked());
  test::WriteFileOrDie(path, "with\r\n", 0400);
  CHECK(Str(*ReadPassphraseFile(path)) == "with");
  test::WriteFileOrDie(path, "two\n\n", 0600);
  CHECK(Str(*ReadPassphraseFile(path)) == "two\n");  // only one newline is dropped
}

TEST_CASE("unsafe or unusable passphrase files are refused", "[daemon][passphrase]") {
  test::TempDir dir;
  auto path = dir.path() / "p";
  CHECK(ReadPassphraseFile(path).status().code() == absl::StatusCode::kNotFound);
  test::WriteFileOrDie(path, "secret\n", 0644);
  auto r = ReadPassphraseFile(path);
  CHECK(r.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("chmod 600"));
  test::WriteFileOrDie(path, "\n", 0600);
  CHECK(ReadPassphraseFile(path).status().code() == absl::StatusCode::kFailedPrecondition);
  test::WriteFileOrDie(path, std::string(kMaxPassphraseBytes + 1, 'x'), 0600);
  CHECK(ReadPassphraseFile(path).status().code() == absl::StatusCode::kFailedPrecondition);
  test::WriteFileOrDie(path, std::string(kMaxPassphraseBytes, 'x'), 0600);
  CHECK(ReadPassphraseFile(path).ok());
  CHECK(ReadPassphraseFile(dir.path()).status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("a systemd credential is read from $CREDENTIALS_DIRECTORY", "[daemon][passphrase]") {
  test::TempDir dir;
  test::WriteFileOrDie(dir.path() / "sealkmsd-passphrase", "from systemd\n", 0400);
  ::unsetenv("CREDENTIALS_DIRECTORY");
  CHECK(ReadPassphraseCredential("sealkmsd-passphrase").status().code() ==
        absl::StatusCode::kFailedPrecondition);
  ::setenv("CREDENTIALS_DIRECTORY", dir.path().c_str(), 1);
  auto p = ReadPassphraseCredential("sealkmsd-passphrase");
  REQUIRE(p.ok());
  CHECK(Str(*p) == "from systemd");
  CHECK(ReadPassphraseCredential("../etc/passwd").status().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(ReadPassphraseCredential("missing").status().code() == absl::StatusCode::kNotFound);
  ::unsetenv("CREDENTIALS_DIRECTORY");
}

}  // namespace
}  // namespace sealpool::daemon
