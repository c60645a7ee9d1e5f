// Peer identities from certificates, the access policy, and the client's key cache.
#include <catch2/catch.hpp>

#include "kms/access_policy.h"
#include "kms/key_cache.h"
#include "kms/peer_identity.h"
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

TEST_CASE("the access policy maps CNs to pools, groups and the admin role", "[kms][access]") {
  auto policy = AccessPolicy::Create({{"pool-a", "pa", {"g1", "g2"}}}, {"ops"});
  REQUIRE(policy.ok());
  PeerIdentity pool{"pool-a", "storage-server", true};
  auto client = policy->AuthorizeStorage(pool);
  REQUIRE(client.ok());
  CHECK(policy->AuthorizeGroup(**client, "pa", "g1").ok());
  CHECK(policy->AuthorizeGroup(**client, "pa", "g3").code() == absl::StatusCode::kPermissionDenied);
  CHECK(policy->AuthorizeGroup(**client, "pb", "g1").code() == absl::StatusCode::kPermissionDenied);
  CHECK(policy->AuthorizeAdmin(pool).code() == absl::StatusCode::kPermissionDenied);
  PeerIdentity no_eku{"pool-a", "storage-server", false};
  CHECK(policy->AuthorizeStorage(no_eku).status().code() == absl::StatusCode::kPermissionDenied);
  PeerIdentity wrong_ou{"pool-a", "admin", true};
  CHECK(policy->AuthorizeStorage(wrong_ou).status().code() == absl::StatusCode::kPermissionDenied);
  PeerIdentity unknown{"pool-z", "storage-server", true};
  CHECK(policy->AuthorizeStorage(unknown).status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(policy->AuthorizeAdmin({"ops", "admin", true}).ok());
  CHECK(policy->AuthorizeAdmin({"ops", "storage-server", true}).code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(policy->AuthorizeAdmin({"eve", "admin", true}).code() ==
        absl::StatusCode::kPermissionDenied);

  CHECK(AccessPolicy::Create({{"x", "p", {}}, {"x", "q", {}}}, {}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(AccessPolicy::Create({{"x", "p", {}}}, {"x"}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(AccessPolicy::Create({{"x", "bad pool", {}}}, {}).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("the key cache finds exact blobs, evicts the oldest, forgets groups", "[kms][cache]") {
  KeyCache cache(2);
  std::vector<uint8_t> blob1 = {1, 2, 3}, blob2 = {4, 5}, blob3 = {6};
  std::vector<uint8_t> secret(32, 9);
  REQUIRE(cache.Insert("g", "k1", blob1, secret).ok());
  auto hit = cache.Find("g", "k1", blob1);
  REQUIRE(hit.ok());
  REQUIRE(hit->has_value());
  CHECK(std::vector<uint8_t>((*hit)->span().begin(), (*hit)->span().end()) == secret);
  CHECK_FALSE(cache.Find("g", "k1", blob2)->has_value());
  CHECK_FALSE(cache.Find("h", "k1", blob1)->has_value());
  REQUIRE(cache.Insert("g", "k2", blob2, secret).ok());
  REQUIRE(cache.Insert("h", "k3", blob3, secret).ok());
  CHECK(cache.size() == 2);
  CHECK_FALSE(cache.Find("g", "k1", blob1)->has_value());
  cache.ForgetGroup("g");
  CHECK(cache.size() == 1);
  CHECK(cache.Find("h", "k3", blob3)->has_value());
}

}  // namespace
}  // namespace sealpool::kms
