// The key service over a real sealkmsd: wrap and unwrap over mTLS as storage servers, group and
// pool authorization, tampered blobs, and the audit of key operations.
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

TEST_CASE_METHOD(KmsFixture, "wrap and unwrap round trip over mTLS", "[kms][e2e]") {
  std::string root = kms().CreateActiveGroup("kg-a");
  auto client = kms().Client("pool-a", "pool-a");
  auto wrapped = client->Wrap("kg-a", "kek-1", kKek);
  REQUIRE(wrapped.ok());
  CHECK(wrapped->root_key_id == root);
  auto active = client->GetActiveRootKey("kg-a");
  REQUIRE(active.ok());
  CHECK(active->root_key_id == root);

  // A fresh client has nothing cached: this goes to sealkmsd.
  auto fresh = kms().Client("pool-a", "pool-a");
  auto secret = fresh->Unwrap("kg-a", "kek-1", wrapped->blob);
  REQUIRE(secret.ok());
  CHECK(Vec(*secret) == kKek);
  CHECK(secret->locked());
  CHECK(fresh->State().reachability == kms::KmsReachability::kReachable);
}

TEST_CASE_METHOD(KmsFixture, "a group without an active key refuses to wrap", "[kms][e2e]") {
  kms().CreateActiveGroup("kg-a");
  auto admin = kms().AdminStub();
  grpc::ClientContext ctx;
  v1::CreateGroupRequest q;
  q.set_name("kg-shared");
  v1::KeyGroupInfo g;
  REQUIRE(admin->CreateGroup(&ctx, q, &g).ok());
  CHECK(g.state() == v1::GROUP_STATE_NO_ACTIVE_KEY);
  auto client = kms().Client("pool-a", "pool-a");
  auto r = client->Wrap("kg-shared", "kek-1", kKek);
  CHECK(r.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("no active root key"));
}

TEST_CASE_METHOD(KmsFixture, "a pool cannot touch another pool's groups", "[kms][e2e]") {
  kms().CreateActiveGroup("kg-a");
  kms().CreateActiveGroup("kg-b");
  auto pool_b = kms().Client("pool-b", "pool-b");
  CHECK(pool_b->Wrap("kg-a", "kek-1", kKek).status().code() == absl::StatusCode::kPermissionDenied);
  auto a = kms().Client("pool-a", "pool-a");
  auto wrapped = a->Wrap("kg-a", "kek-1", kKek);
  REQUIRE(wrapped.ok());
  CHECK(pool_b->Unwrap("kg-a", "kek-1", wrapped->blob).status().code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(pool_b->GetActiveRootKey("kg-a").status().code() == absl::StatusCode::kPermissionDenied);
  // pool-b's certificate claiming to be pool-a is refused as well.
  auto impostor = kms().Client("pool-b", "pool-a");
  CHECK(impostor->Unwrap("kg-a", "kek-1", wrapped->blob).status().code() ==
        absl::StatusCode::kPermissionDenied);
}

TEST_CASE_METHOD(KmsFixture,
                 "a blob wrapped for one pool does not open for another in a "
                 "shared group",
                 "[kms][e2e]") {
  kms().CreateActiveGroup("kg-shared");
  auto a = kms().Client("pool-a", "pool-a");
  auto b = kms().Client("pool-b", "pool-b");
  auto wrapped = a->Wrap("kg-shared", "kek-1", kKek);
  REQUIRE(wrapped.ok());
  CHECK(b->Unwrap("kg-shared", "kek-1", wrapped->blob).status().code() ==
        absl::StatusCode::kDataLoss);
}

TEST_CASE_METHOD(KmsFixture, "a tampered wrapped blob is refused", "[kms][e2e]") {
  kms().CreateActiveGroup("kg-a");
  auto a = kms().Client("pool-a", "pool-a");
  auto wrapped = a->Wrap("kg-a", "kek-1", kKek);
  REQUIRE(wrapped.ok());
  auto fresh = kms().Client("pool-a", "pool-a");
  std::vector<uint8_t> bad = wrapped->blob;
  bad[bad.size() - 3] ^= 0x10;  // ciphertext
  CHECK(fresh->Unwrap("kg-a", "kek-1", bad).status().code() == absl::StatusCode::kDataLoss);
  bad = wrapped->blob;
  bad[0] = 'X';  // magic
  CHECK(fresh->Unwrap("kg-a", "kek-1", bad).status().code() == absl::StatusCode::kInvalidArgument);
  // The client's cache is keyed by the exact blob: the tampered blob is not served from it.
  bad = wrapped->blob;
  bad[bad.size() - 1] ^= 1;
  CHECK(a->Unwrap("kg-a", "kek-1", bad).status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE_METHOD(KmsFixture, "the audit log records key operations without key material",
                 "[kms][e2e]") {
  std::string root = kms().CreateActiveGroup("kg-a");
  auto client = kms().Client("pool-a", "pool-a");
  std::string secret = "0123456789abcdef0123456789ABCDEF";
  auto wrapped =
      client->Wrap("kg-a", "kek-audit", std::vector<uint8_t>(secret.begin(), secret.end()));
  REQUIRE(wrapped.ok());
  auto fresh = kms().Client("pool-a", "pool-a");
  REQUIRE(fresh->Unwrap("kg-a", "kek-audit", wrapped->blob).ok());
  auto b = kms().Client("pool-b", "pool-b");
  CHECK_FALSE(b->Unwrap("kg-a", "kek-audit", wrapped->blob).ok());
  std::string audit = ReadFileOrDie(kms().audit_path());
  CHECK(audit.find(secret) == std::string::npos);
  CHECK(audit.find(ToHex(std::vector<uint8_t>(secret.begin(), secret.end()))) == std::string::npos);
  CHECK_THAT(audit, Catch::Contains("\"op\":\"wrap\",\"pool\":\"pool-a\",\"group\":\"kg-a\","
                                    "\"root_key\":\"" +
                                    root +
                                    "\",\"kek\":\"kek-audit\","
                                    "\"result\":\"OK\""));
  CHECK_THAT(audit, Catch::Contains("\"peer\":\"pool-b\""));
  CHECK_THAT(audit, Catch::Contains("\"result\":\"PERMISSION_DENIED\""));
  CHECK_THAT(audit, Catch::Contains("\"op\":\"create-key\""));
}

}  // namespace
}  // namespace sealpool::test
