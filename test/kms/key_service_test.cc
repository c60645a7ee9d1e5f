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

// Fail-closed audit (docs/kms.md, "Audit log"): with store.audit_log on /dev/full every write
// fails with ENOSPC. Reads are still answered (the fixture's start-up waits on one).
TEST_CASE_METHOD(KmsFixture, "a key operation whose audit line cannot be written is refused",
                 "[kms][e2e][audit]") {
  std::string root = kms().CreateActiveGroup("kg-a");
  auto client = kms().Client("pool-a", "pool-a");
  auto wrapped = client->Wrap("kg-a", "kek-1", kKek);
  REQUIRE(wrapped.ok());
  // An intent line came before the admin's key changes.
  CHECK_THAT(ReadFileOrDie(kms().audit_path()),
             Catch::Contains("\"op\":\"create-key\",\"pool\":\"\",\"group\":\"kg-a\","
                             "\"root_key\":\"\",\"kek\":\"\",\"result\":\"STARTED\""));
  REQUIRE(kms().Stop() == 0);
  kms().SetAuditLog("/dev/full");
  kms().Start();

  const std::string why = "audit log /dev/full: No space left on device";
  auto stub = kms().KeyStub("pool-a");
  {
    grpc::ClientContext ctx;
    v1::WrapKeyRequest req;
    req.set_pool_id("pool-a");
    req.set_key_group("kg-a");
    req.set_kek_id("kek-2");
    req.set_secret(std::string(32, 'k'));
    v1::WrapKeyResponse resp;
    grpc::Status s = stub->WrapKey(&ctx, req, &resp);
    CHECK(s.error_code() == grpc::StatusCode::INTERNAL);
    CHECK_THAT(s.error_message(), Catch::Contains("sealkmsd refused wrap: cannot append to " + why));
    CHECK(resp.wrapped().empty());
    CHECK(resp.root_key_id().empty());
  }
  {
    grpc::ClientContext ctx;
    v1::UnwrapKeyRequest req;
    req.set_pool_id("pool-a");
    req.set_key_group("kg-a");
    req.set_kek_id("kek-1");
    req.set_wrapped(std::string(wrapped->blob.begin(), wrapped->blob.end()));
    v1::UnwrapKeyResponse resp;
    grpc::Status s = stub->UnwrapKey(&ctx, req, &resp);
    CHECK(s.error_code() == grpc::StatusCode::INTERNAL);
    CHECK_THAT(s.error_message(), Catch::Contains("sealkmsd refused unwrap: cannot append to " + why));
    CHECK(resp.secret().empty());
  }
  {
    grpc::ClientContext ctx;
    v1::RegisterUsageRequest req;
    req.set_pool_id("pool-a");
    req.set_key_group("kg-a");
    v1::KekUsage* u = req.add_usages();
    u->set_kek_id("kek-9");
    u->set_root_key_id(root);
    v1::RegisterUsageResponse resp;
    grpc::Status s = stub->RegisterUsage(&ctx, req, &resp);
    CHECK(s.error_code() == grpc::StatusCode::INTERNAL);
    CHECK_THAT(s.error_message(), Catch::Contains("sealkmsd refused register-usage:1: cannot append "
                                                  "to " + why + "; nothing was changed"));
  }
  auto admin = kms().AdminStub();
  {
    grpc::ClientContext ctx;
    v1::CreateKeyRequest req;
    req.set_key_group("kg-a");
    v1::RootKeyInfo resp;
    grpc::Status s = admin->CreateKey(&ctx, req, &resp);
    CHECK(s.error_code() == grpc::StatusCode::INTERNAL);
    CHECK_THAT(s.error_message(),
               Catch::Contains("sealkmsd refused create-key: cannot append to " + why +
                               "; nothing was changed"));
  }
  // Nothing was changed: still one key, no usage of kek-9 (reads are answered).
  {
    grpc::ClientContext ctx;
    v1::ListKeysRequest req;
    req.set_key_group("kg-a");
    v1::ListKeysResponse resp;
    REQUIRE(admin->ListKeys(&ctx, req, &resp).ok());
    CHECK(resp.keys_size() == 1);
  }
  {
    grpc::ClientContext ctx;
    v1::ListUsageRequest req;
    req.set_key_group("kg-a");
    v1::ListUsageResponse resp;
    REQUIRE(admin->ListUsage(&ctx, req, &resp).ok());
    for (const auto& e : resp.entries()) CHECK(e.kek_id() != "kek-9");
  }
  // sealkmsd says why, once, not once per refused call.
  std::string log = ReadFileOrDie(kms().dir() / "sealkmsd.log");
  const std::string line = "cannot append to " + why + "; key operations are refused until";
  size_t first = log.find(line);
  CHECK(first != std::string::npos);
  CHECK(log.find(line, first + 1) == std::string::npos);

  // Served again once the log can be written.
  REQUIRE(kms().Stop() == 0);
  kms().SetAuditLog("audit.jsonl");
  kms().Start();
  CHECK(kms().Client("pool-a", "pool-a")->Unwrap("kg-a", "kek-1", wrapped->blob).ok());
}

}  // namespace
}  // namespace sealpool::test
