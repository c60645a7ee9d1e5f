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

}  // namespace
}  // namespace sealpool::kms
