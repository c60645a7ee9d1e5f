// sealkmsd's server end to end: roles and trust from certificates, malformed and oversized
// requests, SIGKILL during writes, backup and restore of the key store, and startup refusals.
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kms/key_store.h"
#include "test/kms/kms_test_env.h"
#include "test/test_util.h"

namespace sealpool::test {
namespace {

namespace v1 = kms::v1;
using std::chrono::milliseconds;

grpc::Status Wrap(v1::KeyService::Stub* stub, const std::string& pool, const std::string& group,
                  const std::string& kek, const std::string& secret,
                  v1::WrapKeyResponse* out = nullptr) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(milliseconds(3000)));
  v1::WrapKeyRequest q;
  q.set_pool_id(pool);
  q.set_key_group(group);
  q.set_kek_id(kek);
  q.set_secret(secret);
  v1::WrapKeyResponse r;
  return stub->WrapKey(&ctx, q, out ? out : &r);
}

const std::vector<uint8_t> kKek = PseudoRandomBytes(32, 42);

TEST_CASE_METHOD(KmsFixture, "roles come from certificates", "[kms][e2e]") {
  kms().CreateActiveGroup("kg-a");
  // An admin certificate gets no key service.
  auto as_admin = kms().KeyStub("admin");
  CHECK(Wrap(as_admin.get(), "pool-a", "kg-a", "k", std::string(32, 'k')).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
  // A storage server gets no admin service.
  auto as_pool = kms().AdminStub("pool-a");
  grpc::ClientContext ctx;
  v1::ListGroupsResponse r;
  CHECK(as_pool->ListGroups(&ctx, v1::ListGroupsRequest(), &r).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
  // The server's own certificate (serverAuth only) is not a client certificate.
  auto as_server = kms().KeyStub("server");
  grpc::Status s = Wrap(as_server.get(), "pool-a", "kg-a", "k", std::string(32, 'k'));
  CHECK_FALSE(s.ok());
  CHECK((s.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
         s.error_code() == grpc::StatusCode::UNAVAILABLE));
}

TEST_CASE_METHOD(KmsFixture, "a client certificate from another CA is refused", "[kms][e2e]") {
  kms().CreateActiveGroup("kg-a");
  TempDir other;
  MakeCerts(other.path(), {"pool-a"}, {"admin"});
  for (const char* f : {"pool-a.crt", "pool-a.key"}) {
    std::filesystem::copy_file(other.path() / f, kms().dir() / (std::string("evil-") + f));
  }
  auto stub = kms().KeyStub("evil-pool-a");
  grpc::Status s = Wrap(stub.get(), "pool-a", "kg-a", "k", std::string(32, 'k'));
  CHECK(s.error_code() == grpc::StatusCode::UNAVAILABLE);  // the handshake fails
  // And a client that trusts another CA does not talk to this sealkmsd.
  std::filesystem::copy_file(other.path() / "ca.crt", kms().dir() / "other-ca.crt");
  auto wrong_ca = kms().KeyStub("pool-a", "other-ca.crt");
  CHECK(Wrap(wrong_ca.get(), "pool-a", "kg-a", "k", std::string(32, 'k')).error_code() ==
        grpc::StatusCode::UNAVAILABLE);
}

TEST_CASE_METHOD(KmsFixture, "an expired client certificate is refused", "[kms][e2e]") {
  kms().CreateActiveGroup("kg-a");
  MakeExpiredCert(kms().dir(), "expired", "storage-server");
  auto stub = kms().KeyStub("expired");
  grpc::Status s = Wrap(stub.get(), "pool-x", "kg-a", "k", std::string(32, 'k'));
  CHECK(s.error_code() == grpc::StatusCode::UNAVAILABLE);
}

TEST_CASE_METHOD(KmsFixture, "malformed and oversized requests get a status, not a crash",
                 "[kms][e2e]") {
  kms().CreateActiveGroup("kg-a");
  auto stub = kms().KeyStub("pool-a");
  CHECK(Wrap(stub.get(), "pool-a", "kg-a", "k", std::string(65, 'k')).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(Wrap(stub.get(), "pool-a", "kg-a", "k", "").error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(Wrap(stub.get(), "pool-a", "kg-a", std::string("k\n\x01", 3), std::string(32, 'k'))
            .error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(Wrap(stub.get(), "pool-a", "kg-a", std::string(200, 'k'), std::string(32, 'k'))
            .error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(Wrap(stub.get(), "pool-a", "", "k", std::string(32, 'k')).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  // Larger than the server's 1 MiB message limit.
  CHECK(Wrap(stub.get(), "pool-a", "kg-a", "k", std::string(2 << 20, 'k')).error_code() ==
        grpc::StatusCode::RESOURCE_EXHAUSTED);
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(milliseconds(3000)));
    v1::UnwrapKeyRequest q;
    q.set_pool_id("pool-a");
    q.set_key_group("kg-a");
    q.set_kek_id("k");
    q.set_wrapped(std::string(5000, '\xff'));
    v1::UnwrapKeyResponse r;
    CHECK(stub->UnwrapKey(&ctx, q, &r).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(milliseconds(3000)));
    v1::UnwrapKeyRequest q;
    q.set_pool_id("pool-a");
    q.set_key_group("kg-a");
    q.set_kek_id("k");
    q.set_wrapped("SPWK\x01");
    q.set_purpose(static_cast<v1::UnwrapPurpose>(7));
    v1::UnwrapKeyResponse r;
    CHECK(stub->UnwrapKey(&ctx, q, &r).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(milliseconds(3000)));
    v1::RegisterUsageRequest q;
    q.set_pool_id("pool-a");
    q.set_key_group("kg-a");
    auto* u = q.add_usages();
    u->set_kek_id("k");
    u->set_root_key_id("rk-does-not-exist");
    v1::RegisterUsageResponse r;
    CHECK(stub->RegisterUsage(&ctx, q, &r).error_code() == grpc::StatusCode::NOT_FOUND);
  }
  {
    // A field this sealkmsd does not know (a newer or broken client) is answered, not ignored.
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(milliseconds(3000)));
    v1::GetActiveKeyRequest q;
    q.set_pool_id("pool-a");
    q.set_key_group("kg-a");
    q.GetReflection()->MutableUnknownFields(&q)->AddVarint(99, 1);
    v1::GetActiveKeyResponse r;
    grpc::Status s = stub->GetActiveKey(&ctx, q, &r);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK_THAT(s.error_message(), Catch::Contains("field 99"));
    grpc::ClientContext actx;
    v1::ListGroupsRequest lq;
    lq.GetReflection()->MutableUnknownFields(&lq)->AddLengthDelimited(7, "x");
    v1::ListGroupsResponse lr;
    CHECK(kms().AdminStub()->ListGroups(&actx, lq, &lr).error_code() ==
          grpc::StatusCode::INVALID_ARGUMENT);
  }
  // Still serving.
  auto client = kms().Client("pool-a", "pool-a");
  CHECK(client->Wrap("kg-a", "kek-1", kKek).ok());
}

// Opens the key store in process with whichever passphrase works.
void ExpectUsableStore(const Sealkmsd& kms, const std::vector<std::string>& passphrases,
                       size_t min_keys) {
  for (const std::string& p : passphrases) {
    auto store = kms::KeyStore::Open(
        kms.store_path(),
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(p.data()), p.size()));
    if (store.status().code() == absl::StatusCode::kPermissionDenied) continue;
    REQUIRE(store.ok());
    auto keys = (*store)->ListKeys("kg-a");
    REQUIRE(keys.ok());
    CHECK(keys->size() >= min_keys);
    return;
  }
  FAIL("the key store opens with none of the passphrases");
}

TEST_CASE_METHOD(KmsFixture, "SIGKILL during passphrase changes leaves a usable key store",
                 "[kms][e2e][crash]") {
  kms().CreateActiveGroup("kg-a");
  std::mt19937 rng(1);
  std::vector<std::string> passphrases = {"test passphrase"};
  for (int round = 0; round < 4; ++round) {
    std::string next = "passphrase " + std::to_string(round);
    passphrases.push_back(next);
    std::thread changer([&] {
      auto admin = kms().AdminStub();
      for (int i = 0; i < 50; ++i) {
        grpc::ClientContext ctx;
        ctx.set_deadline(DeadlineIn(milliseconds(2000)));
        v1::ChangePassphraseRequest q;
        q.set_new_passphrase(i % 2 == 0 ? next : passphrases[passphrases.size() - 2]);
        v1::ChangePassphraseResponse r;
        if (!admin->ChangePassphrase(&ctx, q, &r).ok()) break;
      }
    });
    std::this_thread::sleep_for(milliseconds(std::uniform_int_distribution<int>(20, 200)(rng)));
    kms().Kill();
    changer.join();
    ExpectUsableStore(kms(), passphrases, 1);
    // Continue from whatever passphrase the store has now.
    for (const std::string& p : passphrases) {
      auto store = kms::KeyStore::Open(
          kms().store_path(),
          std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(p.data()), p.size()));
      if (store.ok()) {
        WriteFileOrDie(kms().passphrase_path(), p, 0600);
        break;
      }
    }
    kms().Start();
  }
}

TEST_CASE_METHOD(KmsFixture, "SIGKILL during key creation leaves a usable key store",
                 "[kms][e2e][crash]") {
  kms().CreateActiveGroup("kg-a");
  std::mt19937 rng(2);
  for (int round = 0; round < 4; ++round) {
    std::thread creator([&] {
      auto admin = kms().AdminStub();
      for (int i = 0; i < 200; ++i) {
        grpc::ClientContext ctx;
        ctx.set_deadline(DeadlineIn(milliseconds(2000)));
        v1::CreateKeyRequest q;
        q.set_key_group("kg-a");
        v1::RootKeyInfo r;
        if (!admin->CreateKey(&ctx, q, &r).ok()) break;
      }
    });
    std::this_thread::sleep_for(milliseconds(std::uniform_int_distribution<int>(20, 200)(rng)));
    kms().Kill();
    creator.join();
    ExpectUsableStore(kms(), {"test passphrase"}, 1);
    kms().Start();
  }
}

TEST_CASE_METHOD(KmsFixture, "a key store backup restores the keys, and a lost store loses them",
                 "[kms][e2e]") {
  kms().CreateActiveGroup("kg-a");
  auto client = kms().Client("pool-a", "pool-a");
  auto wrapped = client->Wrap("kg-a", "kek-1", kKek);
  REQUIRE(wrapped.ok());
  // Backup: a copy of the file while sealkmsd runs (every save is an atomic rename).
  std::filesystem::copy_file(kms().store_path(), kms().dir() / "keystore.backup");
  REQUIRE(kms().Stop() == 0);

  // Lose the store: a new, empty store cannot unwrap anything.
  std::filesystem::remove(kms().store_path());
  std::string out;
  REQUIRE(RunCommand({SEALKMSD_PATH, "--config", kms().config_path().string(), "--init-store"},
                     &out) == 0);
  kms().Start();
  auto lost = kms().Client("pool-a", "pool-a");
  CHECK(lost->Unwrap("kg-a", "kek-1", wrapped->blob).status().code() ==
        absl::StatusCode::kNotFound);
  REQUIRE(kms().Stop() == 0);

  // Restore the backup (owner-only, as the backup procedure in docs/kms.md says).
  std::filesystem::copy_file(kms().dir() / "keystore.backup", kms().store_path(),
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::permissions(
      kms().store_path(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  kms().Start();
  auto restored = kms().Client("pool-a", "pool-a");
  auto secret = restored->Unwrap("kg-a", "kek-1", wrapped->blob);
  REQUIRE(secret.ok());
  CHECK(Vec(*secret) == kKek);
}

TEST_CASE("sealkmsd refuses to start with a wrong passphrase or a damaged store", "[kms][e2e]") {
  TempDir dir;
  Sealkmsd kms(dir.path());
  std::string out;
  WriteFileOrDie(kms.passphrase_path(), "not it", 0600);
  CHECK(RunCommand({SEALKMSD_PATH, "--config", kms.config_path().string()}, &out) == 1);
  CHECK_THAT(out, Catch::Contains("wrong passphrase"));
  WriteFileOrDie(kms.passphrase_path(), "test passphrase\n", 0644);
  CHECK(RunCommand({SEALKMSD_PATH, "--config", kms.config_path().string()}, &out) == 2);
  CHECK_THAT(out, Catch::Contains("chmod 600"));
  WriteFileOrDie(kms.passphrase_path(), "test passphrase\n", 0600);
  std::string store = ReadFileOrDie(kms.store_path());
  WriteFileOrDie(kms.store_path(), store.substr(0, store.size() - 7), 0600);
  CHECK(RunCommand({SEALKMSD_PATH, "--config", kms.config_path().string()}, &out) == 1);
  CHECK_THAT(out, Catch::Contains("DATA_LOSS"));
}

}  // namespace
}  // namespace sealpool::test
