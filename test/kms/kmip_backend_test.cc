// The KMIP backend in process against a real PyKMIP server started by the test: the state
// mapping (checked in the KMS with GetAttributes), the rules of key_backend.h, wrap/unwrap by
// Encrypt/Decrypt, the opt-in export mode, another owner's key, the state file, and its
// rebuild from the KMS when lost.
#include "kms/kmip_backend.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <map>
#include <set>

#include "absl/time/clock.h"
#include "kms/kmip_state_file.h"
#include "kms/status_util.h"
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
                                    bool allow_export = false,
                                    absl::Duration deadline = absl::Seconds(5)) {
    auto b = KmipBackend::Open({state_path(), allow_export, nullptr},
                                  server_->Client(cert, "", deadline));
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
    auto second = KmipBackend::Open({state_path(), false, nullptr}, server_->Client());
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

TEST_CASE_METHOD(KmipFixture,
                 "KMIP backend: a lost state file is rebuilt from the KMS, states and active key "
                 "kept",
                 "[kmip][pykmip][rebuild]") {
  const std::vector<uint8_t> kOldSecret = test::PseudoRandomBytes(32, 7);
  const WrapContext kOldCtx{"pool-a", "kg-a", "kek-old"};
  std::vector<uint8_t> old_blob, new_blob;
  std::string prelive, deprecated, old_key, new_key, compromised, terminated, kg_b_key, kg_c_key;
  std::map<std::string, RootKeyState> before;
  {
    auto b = Open();
    for (const char* g : {"kg-a", "kg-b", "kg-c"}) REQUIRE(b->CreateGroup(g).ok());
    auto create = [&](const std::string& group) {
      auto k = b->CreateKey(group);
      REQUIRE(k.ok());
      return k->id;
    };
    auto set = [&](const std::string& id, RootKeyState state) {
      auto k = b->SetKeyState(id, state);
      INFO(id << " → " << RootKeyStateName(state) << ": " << k.status().ToString());
      REQUIRE(k.ok());
    };
    deprecated = create("kg-a");
    set(deprecated, RootKeyState::kActive);
    old_key = create("kg-a");
    set(old_key, RootKeyState::kActive);  // `deprecated` turns inactive
    set(deprecated, RootKeyState::kDeprecated);
    auto w_old = b->Wrap(kOldCtx, kOldSecret);
    REQUIRE(w_old.ok());
    REQUIRE(w_old->root_key_id == old_key);
    old_blob = w_old->wrapped;
    prelive = create("kg-a");
    compromised = create("kg-a");
    set(compromised, RootKeyState::kCompromised);
    terminated = create("kg-a");
    set(terminated, RootKeyState::kCompromised);
    set(terminated, RootKeyState::kTerminated);
    new_key = create("kg-a");
    set(new_key, RootKeyState::kActive);  // `old_key` turns inactive, still Active in the KMS
    auto w_new = b->Wrap(kCtx, kSecret);
    REQUIRE(w_new.ok());
    REQUIRE(w_new->root_key_id == new_key);
    new_blob = w_new->wrapped;
    kg_b_key = create("kg-b");
    set(kg_b_key, RootKeyState::kActive);
    kg_c_key = create("kg-c");  // a group the rebuild is not asked for
    auto keys = b->ListKeys("");
    REQUIRE(keys.ok());
    for (const RootKeyView& k : *keys) before[k.id] = k.state;
    REQUIRE(before.at(old_key) == RootKeyState::kInactive);
    REQUIRE(before.at(deprecated) == RootKeyState::kDeprecated);
    CHECK(KmsState(old_key) == ObjectState::kActive);
  }
  // PyKMIP gives each key's Initial Date (and no Activation Date, so the tie between old_key
  // and new_key, made in the same second or not, ends with the higher Unique Identifier).
  auto attrs = server_->Client()->GetAttributes(KmipUidOf(new_key));
  REQUIRE(attrs.ok());
  REQUIRE(attrs->initial_date.has_value());
  CHECK(std::abs(*attrs->initial_date - absl::ToUnixSeconds(absl::Now())) < 120);
  // Keys the rebuild must not take: another owner's (same Name and Object Group, invisible
  // to sealkmsd's Locate) and one of sealkmsd's own with a foreign Name.
  auto other = server_->Client("other-owner")->CreateAesKey("sealpool:kg-a", "kg-a");
  REQUIRE(other.ok());
  auto foreign = server_->Client()->CreateAesKey("backup-app:kg-a", "kg-a");
  REQUIRE(foreign.ok());

  std::filesystem::remove(state_path());
  std::string saved_state;
  {
    auto reserved = KmipStateFile::Reserve(state_path());
    REQUIRE(reserved.ok());
    auto client = server_->Client();
    // pool-a may use kg-a (and kg-c, not rebuilt); no pool is allowed kg-b.
    auto report = KmipBackend::RebuildState(**reserved, *client, {"kg-a", "kg-b"},
                                            {{"kg-a", {"pool-a"}}, {"kg-c", {"pool-a"}}});
    INFO(report.status().ToString());
    REQUIRE(report.ok());
    std::map<std::string, const KmipRebuiltKey*> by_id;
    for (const KmipRebuiltKey& k : report->keys) by_id[k.id] = &k;
    REQUIRE(by_id.contains(Cat("kmip-", *foreign)));
    CHECK(!by_id.at(Cat("kmip-", *foreign))->state.has_value());
    CHECK_THAT(by_id.at(Cat("kmip-", *foreign))->note, Catch::Contains("skipped"));
    CHECK(!by_id.contains(Cat("kmip-", *other)));
    CHECK(!by_id.contains(kg_c_key));
    CHECK(!by_id.contains(terminated));  // PyKMIP forgets destroyed objects
    CHECK(by_id.at(old_key)->kms_state == "Active");
    CHECK(by_id.at(new_key)->state == RootKeyState::kActive);
    CHECK(by_id.at(kg_b_key)->group == "kg-b");
    // Placeholders: pool-a may have KEKs under every kg-a key but the prelive one.
    std::set<std::string> held;
    for (const auto& [usage, root] : report->contents.usage) {
      CHECK(std::get<0>(usage) == "pool-a");
      CHECK(std::get<1>(usage) == "kg-a");
      CHECK_THAT(std::get<2>(usage), Catch::StartsWith("rebuilt:"));
      held.insert(root);
    }
    CHECK(held == std::set<std::string>{deprecated, old_key, compromised, new_key});
    for (const std::string& w : report->warnings) UNSCOPED_INFO("warning: " << w);
  }
  struct stat st {};
  REQUIRE(stat(state_path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  auto b = Open();
  auto keys = b->ListKeys("");
  REQUIRE(keys.ok());
  std::map<std::string, RootKeyState> after;
  for (const RootKeyView& k : *keys) {
    after[k.id] = k.state;
    CHECK(k.group == (k.id == kg_b_key ? "kg-b" : "kg-a"));
  }
  std::map<std::string, RootKeyState> expected = before;
  expected.erase(terminated);
  expected.erase(kg_c_key);
  CHECK(after == expected);
  std::vector<std::string> groups;
  for (const GroupView& g : b->ListGroups()) groups.push_back(g.name);
  CHECK(groups == std::vector<std::string>{"kg-a", "kg-b"});
  CHECK(b->GetGroup("kg-a")->active_root_key_id == new_key);
  CHECK(b->GetGroup("kg-b")->active_root_key_id == kg_b_key);
  CHECK(b->ListUsage("", "").size() == 4);

  // Until pool-a reconciles, no key it may still use can be deprecated, terminated or deleted.
  CHECK(b->SetKeyState(old_key, RootKeyState::kDeprecated).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(b->SetKeyState(compromised, RootKeyState::kTerminated).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(b->SetKeyState(deprecated, RootKeyState::kTerminated).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  // pool-a's Reconcile replaces its placeholders with its real KEKs: old_key still wraps
  // kek-old (refused), the deprecated and compromised keys wrap nothing of pool-a's any more.
  const std::vector<KekUsageEntry> real = {{std::string(kOldCtx.kek_id), old_key},
                                           {std::string(kCtx.kek_id), new_key}};
  auto reconciled = b->ReconcileUsage("pool-a", "kg-a", real);
  INFO(reconciled.status().ToString());
  REQUIRE(reconciled.ok());
  CHECK(b->ListUsage("", "").size() == 2);
  CHECK(b->SetKeyState(old_key, RootKeyState::kDeprecated).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(b->SetKeyState(deprecated, RootKeyState::kTerminated).ok());

  // The inactive key still opens what it wrapped; new wraps go to the same active key.
  auto u_old = b->Unwrap(kOldCtx, old_blob, false);
  INFO(u_old.status().ToString());
  REQUIRE(u_old.ok());
  CHECK(Vec(u_old->secret) == kOldSecret);
  CHECK(u_old->root_key_state == RootKeyState::kInactive);
  auto u_new = b->Unwrap(kCtx, new_blob, false);
  REQUIRE(u_new.ok());
  CHECK(Vec(u_new->secret) == kSecret);
  auto w = b->Wrap({"pool-a", "kg-a", "kek-2"}, kSecret);
  REQUIRE(w.ok());
  CHECK(w->root_key_id == new_key);
  // The rebuilt states keep their rules: the prelive key activates (in the KMS too), the
  // deprecated one stays out of reach.
  REQUIRE(b->SetKeyState(prelive, RootKeyState::kActive).ok());
  CHECK(KmsState(prelive) == ObjectState::kActive);
  CHECK(b->GetGroup("kg-a")->active_root_key_id == prelive);
  CHECK(b->SetKeyState(deprecated, RootKeyState::kActive).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  b.reset();

  // Rebuilding again over the new file is refused and changes nothing.
  std::string text = test::ReadFileOrDie(state_path());
  CHECK(KmipStateFile::Reserve(state_path()).status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(test::ReadFileOrDie(state_path()) == text);
}

TEST_CASE_METHOD(KmipFixture, "KMIP backend: a rebuild with the KMS down fails and writes nothing",
                 "[kmip][pykmip][rebuild]") {
  {
    auto b = Open();
    REQUIRE(b->CreateGroup("kg-a").ok());
    REQUIRE(b->CreateKey("kg-a").ok());
  }
  std::filesystem::remove(state_path());
  server_->Stop();
  auto reserved = KmipStateFile::Reserve(state_path());
  REQUIRE(reserved.ok());
  auto client = server_->Client("sealkmsd", "", absl::Seconds(2));
  auto report = KmipBackend::RebuildState(**reserved, *client, {"kg-a"}, {});
  INFO(report.status().ToString());
  CHECK(report.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(report.status().message()), Catch::Contains("Locate"));
  CHECK(!std::filesystem::exists(state_path()));
  CHECK(!std::filesystem::exists(state_path().string() + ".tmp"));
}

// ---- KMS changes whose answer never comes (issue 12, bugs 1 and 2). ----

// The KMIP call deadline of these tests: what a frozen KMS costs, and ample for PyKMIP on a
// loaded machine (2 s was not).
constexpr absl::Duration kCallDeadline = absl::Seconds(5);

// What the KMS holds in key group `group`, seen by sealkmsd's identity on a connection of
// its own.
std::vector<std::string> KmsKeys(PyKmipServer& server, const std::string& group) {
  auto located = server.Client()->Locate(group);
  INFO(located.status().ToString());
  REQUIRE(located.ok());
  return *located;
}

RootKeyState RecordedState(KmipBackend& b, const std::string& id) {
  auto keys = b.ListKeys("");
  REQUIRE(keys.ok());
  for (const RootKeyView& k : *keys) {
    if (k.id == id) return k.state;
  }
  FAIL("no root key " << id << " recorded");
  return RootKeyState::kPrelive;
}

// The call ran into the deadline with the KMS frozen, and says what happens next.
void CheckTimedOut(const absl::Status& s, std::string_view op) {
  INFO(s.ToString());
  CHECK(s.code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(IsKmsFailure(s));
  CHECK_THAT(std::string(s.message()),
             Catch::StartsWith("KMS (KMIP), ") &&
                 Catch::Contains(Cat("KMIP ", op, ": KMIP server 127.0.0.1:")) &&
                 Catch::Contains("deadline passed while waiting for the response") &&
                 Catch::Contains("the KMS may have carried it out or may still do so") &&
                 Catch::Contains("pending and reconciles it with the KMS before its next key "
                                 "change, or at its next start"));
}

TEST_CASE_METHOD(KmipFixture,
                 "KMIP backend: a Create the KMS carries out after the deadline leaves no key "
                 "behind",
                 "[kmip][pykmip][pending]") {
  auto b = Open("sealkmsd", false, kCallDeadline);
  REQUIRE(b->CreateGroup("kg-a").ok());
  REQUIRE(b->CreateGroup("kg-b").ok());
  REQUIRE(b->CreateKey("kg-b").ok());  // the connection is up
  server_->Freeze();
  auto created = b->CreateKey("kg-a");
  CheckTimedOut(created.status(), "Create");
  CHECK(b->ListKeys("kg-a")->empty());
  REQUIRE(b->PendingChanges().size() == 1);
  CHECK(b->PendingChanges()[0].op == PendingKmsChange::Op::kCreate);
  server_->Thaw();
  // The KMS carries out the Create it read before it froze.
  REQUIRE(test::Eventually([&] { return KmsKeys(*server_, "kg-a").size() == 1; }));
  const std::string orphan = KmsKeys(*server_, "kg-a")[0];
  auto attrs = server_->Client()->GetAttributes(orphan);
  REQUIRE(attrs.ok());
  CHECK(attrs->state == ObjectState::kPreActive);
  CHECK(attrs->names == std::vector<std::string>{"sealpool:kg-a"});  // rebuild still matches
  CHECK(attrs->request_ids == std::vector<std::string>{b->PendingChanges()[0].request_id});

  // The next key change reconciles first: the orphan is destroyed, then the key is created.
  auto again = b->CreateKey("kg-a");
  INFO(again.status().ToString());
  REQUIRE(again.ok());
  CHECK(b->PendingChanges().empty());
  CHECK(KmsKeys(*server_, "kg-a") == std::vector<std::string>{std::string(KmipUidOf(again->id))});
  CHECK(server_->Client()->GetAttributes(orphan).status().code() == absl::StatusCode::kNotFound);
  auto keys = b->ListKeys("kg-a");
  REQUIRE(keys.ok());
  CHECK(keys->size() == 1);
}

TEST_CASE_METHOD(KmipFixture,
                 "KMIP backend: Activate, Revoke and Destroy the KMS carries out after the "
                 "deadline are recorded as the KMS did them",
                 "[kmip][pykmip][pending]") {
  auto b = Open("sealkmsd", false, kCallDeadline);
  REQUIRE(b->CreateGroup("kg-a").ok());
  auto k1 = b->CreateKey("kg-a");
  INFO(k1.status().ToString());
  REQUIRE(k1.ok());
  auto k2 = b->CreateKey("kg-a");
  INFO(k2.status().ToString());
  REQUIRE(k2.ok());
  REQUIRE(b->SetKeyState(k1->id, RootKeyState::kActive).ok());
  auto kms_state = [&](const std::string& id) -> std::optional<ObjectState> {
    auto a = server_->Client()->GetAttributes(KmipUidOf(id));
    if (!a.ok()) return std::nullopt;
    return a->state;
  };
  // Freezes the KMS, runs `change` into the deadline, thaws it, waits until the KMS shows
  // `landed`, and runs the next key change (a harmless Create in kg-b).
  REQUIRE(b->CreateGroup("kg-b").ok());
  auto timed_out = [&](std::string_view op, const std::function<absl::Status()>& change,
                       const std::function<bool()>& landed) {
    server_->Freeze();
    CheckTimedOut(change(), op);
    CHECK(b->PendingChanges().size() == 1);
    server_->Thaw();
    REQUIRE(test::Eventually(landed));
    auto next = b->CreateKey("kg-b");
    INFO(next.status().ToString());
    REQUIRE(next.ok());
    CHECK(b->PendingChanges().empty());
  };

  SECTION("Activate") {
    timed_out(
        "Activate", [&] { return b->SetKeyState(k2->id, RootKeyState::kActive).status(); },
        [&] { return kms_state(k2->id) == ObjectState::kActive; });
    CHECK(RecordedState(*b, k2->id) == RootKeyState::kActive);
    CHECK(RecordedState(*b, k1->id) == RootKeyState::kInactive);
    CHECK(b->GetGroup("kg-a")->active_root_key_id == k2->id);
  }
  SECTION("Revoke") {
    REQUIRE(b->SetKeyState(k2->id, RootKeyState::kActive).ok());  // k1 inactive
    timed_out(
        "Revoke", [&] { return b->SetKeyState(k1->id, RootKeyState::kDeprecated).status(); },
        [&] { return kms_state(k1->id) == ObjectState::kDeactivated; });
    CHECK(RecordedState(*b, k1->id) == RootKeyState::kDeprecated);
  }
  SECTION("Revoke for a compromise") {
    timed_out(
        "Revoke", [&] { return b->SetKeyState(k1->id, RootKeyState::kCompromised).status(); },
        [&] { return kms_state(k1->id) == ObjectState::kCompromised; });
    CHECK(RecordedState(*b, k1->id) == RootKeyState::kCompromised);
    CHECK(b->GetGroup("kg-a")->active_root_key_id.empty());
  }
  SECTION("Destroy") {
    REQUIRE(b->SetKeyState(k1->id, RootKeyState::kCompromised).ok());
    timed_out(
        "Destroy", [&] { return b->SetKeyState(k1->id, RootKeyState::kTerminated).status(); },
        [&] { return !kms_state(k1->id).has_value(); });
    CHECK(RecordedState(*b, k1->id) == RootKeyState::kTerminated);
    REQUIRE(b->DeleteKey(k1->id).ok());
  }
  SECTION("Destroy of a deleted prelive key") {
    timed_out(
        "Destroy", [&] { return b->DeleteKey(k2->id); },
        [&] { return !kms_state(k2->id).has_value(); });
    auto keys = b->ListKeys("kg-a");
    REQUIRE(keys.ok());
    CHECK(keys->size() == 1);
  }
}

TEST_CASE_METHOD(KmipFixture,
                 "KMIP backend: a pending change is reconciled at the next start, and blocks "
                 "key changes while the KMS stays away",
                 "[kmip][pykmip][pending]") {
  std::string id;
  {
    auto b = Open("sealkmsd", false, kCallDeadline);
    REQUIRE(b->CreateGroup("kg-a").ok());
    id = b->CreateKey("kg-a")->id;
    server_->Freeze();
    CheckTimedOut(b->SetKeyState(id, RootKeyState::kActive).status(), "Activate");
    // While the KMS does not answer, the next key change cannot reconcile and is refused.
    auto refused = b->CreateKey("kg-a");
    INFO(refused.status().ToString());
    CHECK(refused.status().code() == absl::StatusCode::kDeadlineExceeded);
    CHECK_THAT(std::string(refused.status().message()),
               Catch::Contains("reconciling KMIP Activate of root key " + id) &&
                   Catch::Contains("nothing more is sent to the KMS until it is reconciled"));
    CHECK(b->PendingChanges().size() == 1);
    CHECK(b->ListKeys("kg-a")->size() == 1);  // listings still answer
  }
  server_->Thaw();
  REQUIRE(test::Eventually([&] { return KmsState(id) == ObjectState::kActive; }));
  auto b = Open();
  REQUIRE(b->PendingChanges().size() == 1);  // kept in the state file
  REQUIRE(b->ReconcilePending().ok());        // what sealkmsd does at start
  CHECK(b->PendingChanges().empty());
  CHECK(RecordedState(*b, id) == RootKeyState::kActive);  // the KMS did activate it
  CHECK(KmsState(id) == ObjectState::kActive);
}

TEST_CASE_METHOD(KmipFixture,
                 "KMIP backend: a change the KMS never carried out is concluded not done only "
                 "after twice the deadline",
                 "[kmip][pykmip][pending]") {
  auto b = Open("sealkmsd", false, kCallDeadline);
  REQUIRE(b->CreateGroup("kg-a").ok());
  auto k = b->CreateKey("kg-a");
  REQUIRE(k.ok());
  server_->Freeze();
  CheckTimedOut(b->SetKeyState(k->id, RootKeyState::kActive).status(), "Activate");
  const auto sent = std::chrono::steady_clock::now();
  server_->Kill();  // the request it held is lost with it
  server_->Start();
  auto early = b->CreateKey("kg-a");
  INFO(early.status().ToString());
  if (std::chrono::steady_clock::now() - sent < std::chrono::seconds(11)) {
    CHECK(early.status().code() == absl::StatusCode::kUnavailable);
    CHECK_THAT(std::string(early.status().message()),
               Catch::Contains("the KMS does not show it done yet; it may still carry it out, "
                               "so sealkmsd concludes it was not only 12 s after sending it"));
    CHECK(b->PendingChanges().size() == 1);
  }
  std::optional<RootKeyView> later;
  REQUIRE(test::Eventually(
      [&] {
        auto r = b->CreateKey("kg-a");
        if (r.ok()) later = *r;
        return r.ok();
      },
      std::chrono::seconds(40)));
  CHECK(b->PendingChanges().empty());
  CHECK(RecordedState(*b, k->id) == RootKeyState::kPrelive);  // never activated, by either
  CHECK(KmsState(k->id) == ObjectState::kPreActive);
  REQUIRE(b->SetKeyState(k->id, RootKeyState::kActive).ok());
}

TEST_CASE_METHOD(KmipFixture,
                 "KMIP backend: after a KMS restart the first wrap and the first key change "
                 "succeed",
                 "[kmip][pykmip][pending]") {
  auto b = Open();
  REQUIRE(b->CreateGroup("kg-a").ok());
  auto k = b->CreateKey("kg-a");
  REQUIRE(k.ok());
  REQUIRE(b->SetKeyState(k->id, RootKeyState::kActive).ok());
  REQUIRE(b->Wrap(kCtx, kSecret).ok());
  server_->Kill();
  server_->Start();
  auto w = b->Wrap(kCtx, kSecret);
  INFO(w.status().ToString());
  REQUIRE(w.ok());
  REQUIRE(b->Unwrap(kCtx, w->wrapped, false).ok());
  server_->Kill();
  server_->Start();
  // A Create on the dead connection: the backend looks (by its request id), finds nothing,
  // and sends it once more.
  auto created = b->CreateKey("kg-a");
  INFO(created.status().ToString());
  REQUIRE(created.ok());
  CHECK(b->PendingChanges().empty());
  CHECK(KmsKeys(*server_, "kg-a").size() == 2);
  server_->Kill();
  server_->Start();
  REQUIRE(b->SetKeyState(created->id, RootKeyState::kActive).ok());
  CHECK(KmsState(created->id) == ObjectState::kActive);
  CHECK(b->client().connections_made() == 4);
}

}  // namespace
}  // namespace sealpool::kms
