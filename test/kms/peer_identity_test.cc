#include "kms/peer_identity.h"

#include <catch2/catch.hpp>

#include "test/kms/kms_test_env.h"

namespace sealpool::kms {
namespace {

TEST_CASE("roles and usages are read from make-certs.sh certificates", "[kms][access]") {
  test::TempDir dir;
  test::MakeCerts(dir.path(), {"pool-a"}, {"ops"});
  auto pool = PeerIdentityFromPem(test::ReadFileOrDie(dir.path() / "pool-a.crt"));
  REQUIRE(pool.ok());
  CHECK(pool->common_name == "pool-a");
  CHECK(pool->organizational_unit == "storage-server");
  CHECK(pool->client_auth);
  auto admin = PeerIdentityFromPem(test::ReadFileOrDie(dir.path() / "ops.crt"));
  REQUIRE(admin.ok());
  CHECK(admin->organizational_unit == "admin");
  auto server = PeerIdentityFromPem(test::ReadFileOrDie(dir.path() / "server.crt"));
  REQUIRE(server.ok());
  CHECK_FALSE(server->client_auth);
  CHECK(PeerIdentityFromPem("garbage").status().code() == absl::StatusCode::kInvalidArgument);
}

// A self-signed client certificate with `subject`, made by the openssl CLI (the identity is read
// from the leaf; gRPC verifies the chain before).
std::string CertWithSubject(const std::filesystem::path& dir, const std::string& subject) {
  std::string out;
  REQUIRE(test::RunCommand({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", subject,
                            "-addext", "extendedKeyUsage=clientAuth", "-keyout",
                            (dir / "k.pem").string(), "-out", (dir / "c.pem").string()},
                           &out) == 0);
  return test::ReadFileOrDie(dir / "c.pem");
}

TEST_CASE("a certificate with two CNs or two OUs is an ambiguous identity", "[kms][access]") {
  test::TempDir dir;
  auto one = PeerIdentityFromPem(CertWithSubject(dir.path(), "/OU=storage-server/CN=pool-a"));
  REQUIRE(one.ok());
  CHECK(one->common_name == "pool-a");
  CHECK(one->organizational_unit == "storage-server");
  CHECK(one->client_auth);

  auto two_cn = PeerIdentityFromPem(
      CertWithSubject(dir.path(), "/OU=storage-server/CN=pool-a/CN=pool-b"));
  CHECK(two_cn.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(two_cn.status().message() ==
        "peer certificate has more than one CN (\"pool-a\", \"pool-b\"): an ambiguous identity "
        "is refused");
  auto two_ou =
      PeerIdentityFromPem(CertWithSubject(dir.path(), "/OU=storage-server/OU=admin/CN=ops"));
  CHECK(two_ou.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(two_ou.status().message() ==
        "peer certificate has more than one OU (\"storage-server\", \"admin\"): an ambiguous "
        "identity is refused");
}

}  // namespace
}  // namespace sealpool::kms
