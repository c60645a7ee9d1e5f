// The KMIP backend in process against a real PyKMIP server started by the test: the state
// mapping (checked in the KMS with GetAttributes), the rules of key_backend.h, wrap/unwrap by
// Encrypt/Decrypt, the opt-in export mode, another owner's key, and the state file.
#include "kms/kmip_backend.h"

#include <catch2/catch.hpp>

#include "kms/wrapped_key_format.h"
#include "test/kms/kmip/pykmip_server.h"
#include "test/kms/kms_test_env.h"

namespace sealpool::kms {
namespace {

using kmip::ObjectState;
using test::PyKmipServer;
using test::Vec;

class KmipFixture {
 public:
  KmipFixture() {
    test::RequirePyKmip();
    server_ = std::make_unique<PyKmipServer>();
    server_->Start();
    REQUIRE(KmipBackend::CreateState(state_path()).ok());
  }
  std::filesystem::path state_path() const { return state_dir_.path() / "kmip-state"; }
  std::unique_ptr<KmipBackend> Open(const std::string& cert = "sealkmsd",
                                    bool allow_export = false) {
    auto b = KmipBackend::Open({state_path(), allow_export}, server_->Client(cert));
    INFO(b.status().ToString());
    REQUIRE(b.ok());
    return *std::move(b);
  }
  // The state of root key `id` in the KMS, seen by its owner.
  std::optional<ObjectState> KmsState(const std::string& id) {
    auto attrs = server_->Client()->GetAttributes(KmipUidOf(id));
    if (!attrs.ok()) return std::nullopt;
    return attrs->state;
  }

 protected:
  test::TempDir state_dir_;
  std::unique_ptr<PyKmipServer> server_;
};

const std::vector<uint8_t> kSecret = test::PseudoRandomBytes(32, 99);
const WrapContext kCtx{"pool-a", "kg-a", "kek-1"};

TEST_CASE_METHOD(KmipFixture, "KMIP backend maps every sealpool state onto KMIP",
                 "[kmip][pykmip]") {
  auto b = Open();
  REQUIRE(b->CreateGroup("kg-a").ok());
  auto k1 = b->CreateKey("kg-a");
  REQUIRE(k1.ok());
  CHECK(k1->id.rfind("kmip-", 0) == 0);
  CHECK(k1->state == RootKeyState::kPrelive);
  CHECK(KmsState(k1->id) == ObjectState::kPreActive);
  CHECK(b->Wrap(kCtx, kSecret).status().code() == absl::StatusCode::kFailedPrecondition);

  REQUIRE(b->SetKeyState(k1->id, RootKeyState::kActive).ok());
  CHECK(KmsState(k1->id) == ObjectState::kActive);
  auto w1 = b->Wrap(kCtx, kSecret);
  REQUIRE(w1.ok());
  CHECK(w1->root_key_id == k1->id);
  auto blob = WrappedKey::Decode(w1->wrapped);
  REQUIRE(blob.ok());
  CHECK(blob->backend == kBackendKmip);
  auto u1 = b->Unwrap(kCtx, w1->wrapped, false);
  REQUIRE(u1.ok());
  CHECK(Vec(u1->secret) == kSecret);

  // Another KEK id, pool or group: the AAD differs, the KMS refuses the tag.
  auto moved = b->Unwrap({"pool-a", "kg-a", "kek-2"}, w1->wrapped, false);
  CHECK(moved.status().code() == absl::StatusCode::kDataLoss);

  // A second key activated: the first turns inactive and stays Active in the KMS.
  auto k2 = b->CreateKey("kg-a");
  REQUIRE(k2.ok());
  REQUIRE(b->SetKeyState(k2->id, RootKeyState::kActive).ok());
  auto keys = b->ListKeys("kg-a");
  REQUIRE(keys.ok());
  for (const auto& k : *keys)
    CHECK(k.state == (k.id == k2->id ? RootKeyState::kActive : RootKeyState::kInactive));
  CHECK(KmsState(k1->id) == ObjectState::kActive);
  auto still = b->Unwrap(kCtx, w1->wrapped, false);
  REQUIRE(still.ok());
  CHECK(still->root_key_state == RootKeyState::kInactive);

  // k1 still wraps kek-1: no deprecation until it is re-wrapped.
  CHECK(b->SetKeyState(k1->id, RootKeyState::kDeprecated).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  auto w2 = b->Wrap(kCtx, kSecret);  // re-wrap under k2
  REQUIRE(w2.ok());
  REQUIRE(b->SetKeyState(k1->id, RootKeyState::kDeprecated).ok());
  CHECK(KmsState(k1->id) == ObjectState::kDeactivated);
  CHECK(b->Unwrap(kCtx, w1->wrapped, false).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  REQUIRE(b->SetKeyState(k1->id, RootKeyState::kTerminated).ok());
  CHECK(server_->Client()->Get(KmipUidOf(k1->id)).status().code() == absl::StatusCode::kNotFound);
  REQUIRE(b->DeleteKey(k1->id).ok());

  REQUIRE(b->SetKeyState(k2->id, RootKeyState::kCompromised).ok());
  CHECK(KmsState(k2->id) == ObjectState::kCompromised);
  CHECK(b->Wrap(kCtx, kSecret).status().code() == absl::StatusCode::kFailedPrecondition);
  // PyKMIP refuses Decrypt with a Compromised key: a re-wrap must happen before compromising
  // (or with allow_export). The refusal is a clear status, not a crash.
  CHECK(b->Unwrap(kCtx, w2->wrapped, false).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  auto rewrap = b->Unwrap(kCtx, w2->wrapped, true);
  CHECK(rewrap.status().code() == absl::StatusCode::kPermissionDenied);

  // A prelive key deleted is destroyed in the KMS too.
  auto k3 = b->CreateKey("kg-a");
  REQUIRE(k3.ok());
  REQUIRE(b->DeleteKey(k3->id).ok());
  CHECK(!KmsState(k3->id).has_value());
  CHECK(b->ChangePassphrase(test::Bytes("x")).code() == absl::StatusCode::kUnimplemented);
}

TEST_CASE_METHOD(KmipFixture,
                 "KMIP backend state survives a reopen, and a second opener is refused",
                 "[kmip][pykmip]") {
  std::vector<uint8_t> wrapped;
  std::string id;
  {
    auto b = Open();
    REQUIRE(b->CreateGroup("kg-a").ok());
    id = b->CreateKey("kg-a")->id;
    REQUIRE(b->SetKeyState(id, RootKeyState::kActive).ok());
    wrapped = b->Wrap(kCtx, kSecret)->wrapped;
    auto second = KmipBackend::Open({state_path(), false}, server_->Client());
    CHECK(second.status().code() == absl::StatusCode::kFailedPrecondition);
  }
  auto b = Open();
  auto g = b->GetGroup("kg-a");
  REQUIRE(g.ok());
  CHECK(g->active_root_key_id == id);
  CHECK(g->registered_keks == 1);
  auto u = b->Unwrap(kCtx, wrapped, false);
  REQUIRE(u.ok());
  CHECK(Vec(u->secret) == kSecret);
}

TEST_CASE_METHOD(KmipFixture, "KMIP backend export mode (opt-in) makes and opens the same blobs",
                 "[kmip][pykmip]") {
  std::vector<uint8_t> by_kms;
  {
    auto b = Open();
    REQUIRE(b->CreateGroup("kg-a").ok());
    std::string id = b->CreateKey("kg-a")->id;
    REQUIRE(b->SetKeyState(id, RootKeyState::kActive).ok());
    by_kms = b->Wrap(kCtx, kSecret)->wrapped;
  }
  auto exporting = Open("sealkmsd", /*allow_export=*/true);
  auto u = exporting->Unwrap(kCtx, by_kms, false);  // Get + local AES-GCM opens a KMS Encrypt
  REQUIRE(u.ok());
  CHECK(Vec(u->secret) == kSecret);
  auto local = exporting->Wrap({"pool-a", "kg-a", "kek-2"}, kSecret);
  REQUIRE(local.ok());
  CHECK(exporting->Unwrap({"pool-a", "kg-a", "kek-1"}, local->wrapped, false).status().code() ==
        absl::StatusCode::kDataLoss);
  exporting.reset();
  auto b = Open();  // and the KMS Decrypt opens what export mode sealed
  auto back = b->Unwrap({"pool-a", "kg-a", "kek-2"}, local->wrapped, false);
  REQUIRE(back.ok());
  CHECK(Vec(back->secret) == kSecret);
}

TEST_CASE_METHOD(KmipFixture, "KMIP backend: a key of another owner is refused and nothing changes",
                 "[kmip][pykmip]") {
  std::vector<uint8_t> wrapped;
  std::string id;
  {
    auto b = Open("sealkmsd");
    REQUIRE(b->CreateGroup("kg-a").ok());
    id = b->CreateKey("kg-a")->id;
    REQUIRE(b->SetKeyState(id, RootKeyState::kActive).ok());
    wrapped = b->Wrap(kCtx, kSecret)->wrapped;
  }
  auto other = Open("other-owner");
  auto u = other->Unwrap(kCtx, wrapped, false);
  CHECK(u.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(other->Wrap({"pool-a", "kg-a", "kek-9"}, kSecret).status().code() ==
        absl::StatusCode::kPermissionDenied);
  auto c = other->SetKeyState(id, RootKeyState::kCompromised);
  CHECK(c.status().code() == absl::StatusCode::kPermissionDenied);
  auto keys = other->ListKeys("kg-a");
  REQUIRE(keys.ok());
  REQUIRE(keys->size() == 1);
  CHECK((*keys)[0].state == RootKeyState::kActive);  // the refused change was not recorded
  CHECK(other->ListUsage("kg-a", "").size() == 1);   // nor the refused wrap
  CHECK(KmsState(id) == ObjectState::kActive);
}

}  // namespace
}  // namespace sealpool::kms
