// The admin service over a real sealkmsd: the root-key state rules and shredding a group.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "test/kms/kms_test_env.h"
#include "test/test_util.h"

namespace sealpool::test {
namespace {

namespace v1 = kms::v1;

const std::vector<uint8_t> kKek = PseudoRandomBytes(32, 42);

TEST_CASE_METHOD(KmsFixture, "state rules are enforced over the admin API", "[kms][e2e]") {
  std::string first = kms().CreateActiveGroup("kg-a");
  auto client = kms().Client("pool-a", "pool-a");
  auto wrapped = client->Wrap("kg-a", "kek-1", kKek);
  REQUIRE(wrapped.ok());
  std::string second = kms().CreateKey("kg-a");
  CHECK(kms().SetState(second, v1::KEY_STATE_INACTIVE).code() ==
        absl::StatusCode::kFailedPrecondition);
  REQUIRE(kms().SetState(second, v1::KEY_STATE_ACTIVE).ok());
  // first is now inactive, still wraps kek-1: it cannot be deprecated.
  absl::Status s = kms().SetState(first, v1::KEY_STATE_DEPRECATED);
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(s.message()), Catch::Contains("registered KEK"));
  CHECK(kms().SetState(first, v1::KEY_STATE_UNSPECIFIED).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(kms().SetState(first, static_cast<v1::KeyState>(99)).code() ==
        absl::StatusCode::kInvalidArgument);
  // Unwrap under the inactive key still works; the pool re-wraps and reconciles.
  auto fresh = kms().Client("pool-a", "pool-a");
  auto secret = fresh->Unwrap("kg-a", "kek-1", wrapped->blob);
  REQUIRE(secret.ok());
  auto rewrapped = fresh->Wrap("kg-a", "kek-1", secret->span());
  REQUIRE(rewrapped.ok());
  CHECK(rewrapped->root_key_id == second);
  std::vector<kms::KekUsageEntry> held = {{"kek-1", second}};
  auto rec = fresh->Reconcile("kg-a", held);
  REQUIRE(rec.ok());
  REQUIRE(rec->usages.size() == 1);
  CHECK_FALSE(rec->usages[0].rewrap_needed);
  REQUIRE(kms().SetState(first, v1::KEY_STATE_DEPRECATED).ok());
  // (`fresh` has kek-1 cached; a new client asks sealkmsd.)
  CHECK(kms().Client("pool-a", "pool-a")->Unwrap("kg-a", "kek-1", wrapped->blob).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  REQUIRE(kms().SetState(first, v1::KEY_STATE_TERMINATED).ok());
  auto admin = kms().AdminStub();
  grpc::ClientContext ctx;
  v1::DeleteKeyRequest del;
  del.set_root_key_id(second);
  v1::DeleteKeyResponse dr;
  CHECK(admin->DeleteKey(&ctx, del, &dr).error_code() == grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_CASE_METHOD(KmsFixture, "shredding a group needs confirmation and is audited", "[kms][e2e]") {
  kms().CreateActiveGroup("kg-a");
  auto client = kms().Client("pool-a", "pool-a");
  auto wrapped = client->Wrap("kg-a", "kek-1", kKek);
  REQUIRE(wrapped.ok());
  auto admin = kms().AdminStub();
  {
    grpc::ClientContext ctx;
    v1::ShredGroupRequest q;
    q.set_key_group("kg-a");
    q.set_confirm("kg-b");
    v1::ShredGroupResponse r;
    CHECK(admin->ShredGroup(&ctx, q, &r).error_code() == grpc::StatusCode::FAILED_PRECONDITION);
  }
  grpc::ClientContext ctx;
  v1::ShredGroupRequest q;
  q.set_key_group("kg-a");
  q.set_confirm("kg-a");
  v1::ShredGroupResponse r;
  REQUIRE(admin->ShredGroup(&ctx, q, &r).ok());
  CHECK(r.destroyed_keys() == 1);
  CHECK(r.dropped_registrations() == 1);
  auto fresh = kms().Client("pool-a", "pool-a");
  CHECK(fresh->Unwrap("kg-a", "kek-1", wrapped->blob).status().code() ==
        absl::StatusCode::kNotFound);
  CHECK_THAT(ReadFileOrDie(kms().audit_path()),
             Catch::Contains("\"op\":\"shred-group\",\"pool\":\"\",\"group\":\"kg-a\""));
}

}  // namespace
}  // namespace sealpool::test
