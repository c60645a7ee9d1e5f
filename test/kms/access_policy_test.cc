#include "kms/access_policy.h"

#include <catch2/catch.hpp>

#include "kms/peer_identity.h"

namespace sealpool::kms {
namespace {

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

}  // namespace
}  // namespace sealpool::kms
