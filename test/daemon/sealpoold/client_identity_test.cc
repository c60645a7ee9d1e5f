// Unit tests of daemon/sealpoold/client_identity.cc (the rest of sealpoold is tested end to end).
#include <catch2/catch.hpp>

#include "daemon/sealpoold/client_identity.h"
#include "test/kms/kms_test_env.h"

namespace sealpool::test {
namespace {

using daemon::ClientCommonName;

TEST_CASE("client_identity: a certificate's single CN is the client", "[unit][sealpoold]") {
  TempDir dir;
  MakeCerts(dir.path(), {"pool-x"}, {});
  auto cn = ClientCommonName(ReadFileOrDie(dir.path() / "pool-x.crt"));
  REQUIRE(cn.ok());
  CHECK(*cn == "pool-x");
}

TEST_CASE("client_identity: garbage, cut and empty certificates are refused",
          "[unit][sealpoold]") {
  TempDir dir;
  MakeCerts(dir.path(), {"pool-x"}, {});
  const std::string pem = ReadFileOrDie(dir.path() / "pool-x.crt");
  for (const std::string& bad :
       {std::string(), std::string("not a certificate"), pem.substr(0, pem.size() / 2),
        std::string(1 << 20, 'A')}) {
    CHECK(ClientCommonName(bad).status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("client_identity: a CRL that does not parse, or is missing, is refused",
          "[unit][sealpoold]") {
  TempDir dir;
  MakeCerts(dir.path(), {}, {});
  const std::string ca = ReadFileOrDie(dir.path() / "ca.crt");
  WriteFileOrDie(dir.path() / "bad.crl", "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
  CHECK(daemon::RevocationList::Load(dir.path() / "bad.crl", ca).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(daemon::RevocationList::Load(dir.path() / "missing.crl", ca).status().code() ==
        absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sealpool::test
