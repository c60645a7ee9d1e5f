// PlanKmipStateRebuild (kms/kmip_backend.cc) without a KMS: which keys a lost KMIP state file
// is rebuilt from, the KMIP → sealpool state mapping, the choice of the active key among the
// Active ones, and the times. The same against PyKMIP: kmip_backend_test.cc and
// backend_router_test.cc.
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "kms/kmip_backend.h"
#include "kms/kmip_state_file.h"

namespace sealpool::kms {
namespace {

using kmip::ObjectState;

constexpr int64_t kNow = 1800000000;

// A sealpool key of `group` as the KMS describes it.
KmipFoundKey Key(const std::string& group, const std::string& uid, ObjectState state,
                 std::optional<int64_t> initial = std::nullopt,
                 std::optional<int64_t> activation = std::nullopt) {
  KmipFoundKey f{group, uid, absl::OkStatus(), {}};
  f.attributes.state = state;
  f.attributes.names = {"sealpool:" + group};
  f.attributes.object_groups = {group};
  f.attributes.algorithm = kmip::kAlgorithmAes;
  f.attributes.length = 256;
  f.attributes.initial_date = initial;
  f.attributes.activation_date = activation;
  return f;
}

const KmipRebuiltKey* Find(const KmipRebuildReport& r, const std::string& id) {
  for (const KmipRebuiltKey& k : r.keys) {
    if (k.id == id) return &k;
  }
  return nullptr;
}

std::optional<RootKeyState> Recorded(const KmipRebuildReport& r, const std::string& id) {
  auto it = r.contents.keys.find(id);
  if (it == r.contents.keys.end()) return std::nullopt;
  return it->second.state;
}

TEST_CASE("KMIP rebuild maps every KMIP state and records the KMS's times", "[kmip][rebuild]") {
  std::vector<KmipFoundKey> found = {Key("kg-a", "1", ObjectState::kPreActive, 1000),
                                     Key("kg-a", "2", ObjectState::kActive, 1100, 1150),
                                     Key("kg-a", "3", ObjectState::kDeactivated, 1200, 1250),
                                     Key("kg-a", "4", ObjectState::kCompromised, 1300),
                                     Key("kg-a", "5", ObjectState::kDestroyed, 1400),
                                     Key("kg-a", "6", ObjectState::kDestroyedCompromised, 1500)};
  found[2].attributes.deactivation_date = 1260;
  found[3].attributes.compromise_date = 1360;
  KmipFoundKey gone{
      "kg-a", "7", absl::NotFoundError("KMIP GetAttributes failed: Item Not Found"), {}};
  found.push_back(gone);
  auto r = PlanKmipStateRebuild({"kg-a", "kg-empty"}, found, kNow);

  CHECK(Recorded(r, "kmip-1") == RootKeyState::kPrelive);
  CHECK(Recorded(r, "kmip-2") == RootKeyState::kActive);
  CHECK(Recorded(r, "kmip-3") == RootKeyState::kDeprecated);
  CHECK(Recorded(r, "kmip-4") == RootKeyState::kCompromised);
  CHECK(r.contents.keys.size() == 4);  // destroyed and vanished keys are not recorded
  REQUIRE(r.keys.size() == 7);
  for (const char* id : {"kmip-5", "kmip-6", "kmip-7"}) {
    INFO(id);
    const KmipRebuiltKey* k = Find(r, id);
    REQUIRE(k != nullptr);
    CHECK(!k->state.has_value());
    CHECK_THAT(k->note, Catch::StartsWith("skipped"));
  }
  CHECK(Find(r, "kmip-5")->kms_state == "Destroyed");
  CHECK(Find(r, "kmip-7")->kms_state == "not found");
  CHECK(Find(r, "kmip-3")->kms_state == "Deactivated");

  const auto& k = r.contents.keys;
  CHECK(k.at("kmip-1").created_unix == 1000);
  CHECK(k.at("kmip-1").state_changed_unix == 1000);  // Pre-Active since its creation
  CHECK(k.at("kmip-2").state_changed_unix == 1150);  // Activation Date
  CHECK(k.at("kmip-3").state_changed_unix == 1260);  // Deactivation Date
  CHECK(k.at("kmip-4").state_changed_unix == 1360);  // Compromise Date
  for (const auto& [id, key] : k) {
    CHECK(key.group == "kg-a");
    CHECK(key.material == nullptr);
  }

  // Every configured group is recorded, created when its first key was; no usage.
  REQUIRE(r.contents.groups.size() == 2);
  CHECK(r.contents.groups.at("kg-a").created_unix == 1000);
  CHECK(r.contents.groups.at("kg-empty").created_unix == kNow);
  CHECK(r.contents.usage.empty());  // no pool was named
  CHECK(r.warnings.empty());

  // What the state file would hold reads back the same.
  auto back = KmipStateFile::Decode(KmipStateFile::Encode(r.contents));
  REQUIRE(back.ok());
  CHECK(back->keys.size() == 4);
  CHECK(back->groups.size() == 2);
}

TEST_CASE("KMIP rebuild stands in the rebuild time for dates the KMS does not give",
          "[kmip][rebuild]") {
  auto r = PlanKmipStateRebuild(
      {"kg-a"},
      {Key("kg-a", "1", ObjectState::kDeactivated), Key("kg-a", "2", ObjectState::kActive, 1100)},
      kNow);
  CHECK(r.contents.keys.at("kmip-1").created_unix == kNow);
  CHECK(r.contents.keys.at("kmip-1").state_changed_unix == kNow);
  CHECK(r.contents.keys.at("kmip-2").created_unix == 1100);
  CHECK(r.contents.keys.at("kmip-2").state_changed_unix == kNow);  // no Activation Date
  CHECK(r.contents.groups.at("kg-a").created_unix == 1100);
}

TEST_CASE("KMIP rebuild takes only sealpool's AES-256 keys of the group", "[kmip][rebuild]") {
  std::vector<KmipFoundKey> found;
  found.push_back(Key("kg-a", "1", ObjectState::kActive, 100));
  KmipFoundKey other_name = Key("kg-a", "2", ObjectState::kActive, 200);
  other_name.attributes.names = {"someone-else:kg-a"};
  found.push_back(other_name);
  KmipFoundKey no_name = Key("kg-a", "3", ObjectState::kActive, 300);
  no_name.attributes.names.clear();
  found.push_back(no_name);
  KmipFoundKey other_group_name = Key("kg-a", "4", ObjectState::kActive, 400);
  other_group_name.attributes.names = {"sealpool:kg-b"};
  found.push_back(other_group_name);
  KmipFoundKey no_object_group = Key("kg-a", "5", ObjectState::kActive, 500);
  no_object_group.attributes.object_groups = {"kg-b"};
  found.push_back(no_object_group);
  KmipFoundKey aes128 = Key("kg-a", "6", ObjectState::kActive, 600);
  aes128.attributes.length = 128;
  found.push_back(aes128);
  KmipFoundKey not_aes = Key("kg-a", "7", ObjectState::kActive, 700);
  not_aes.attributes.algorithm = 2;  // 3DES
  found.push_back(not_aes);
  KmipFoundKey no_algorithm = Key("kg-a", "8", ObjectState::kActive, 800);
  no_algorithm.attributes.algorithm.reset();
  found.push_back(no_algorithm);
  KmipFoundKey no_state = Key("kg-a", "9", ObjectState::kActive, 900);
  no_state.attributes.state.reset();
  found.push_back(no_state);
  found.push_back(Key("kg-a", "bad uid", ObjectState::kActive, 1000));
  found.push_back(Key("kg-a", std::string(70, '1'), ObjectState::kActive, 1100));
  KmipFoundKey not_ours{"kg-a", "12", absl::PermissionDeniedError("KMIP: Permission Denied"), {}};
  found.push_back(not_ours);
  // A key listed under two configured groups is taken once.
  KmipFoundKey both = Key("kg-b", "13", ObjectState::kPreActive, 1300);
  both.attributes.names = {"sealpool:kg-a", "sealpool:kg-b"};
  both.attributes.object_groups = {"kg-a", "kg-b"};
  found.push_back(both);
  KmipFoundKey both_again = both;
  both_again.group = "kg-a";
  found.push_back(both_again);
  // A group not configured (cannot come from RebuildState; refused all the same).
  found.push_back(Key("kg-z", "15", ObjectState::kActive, 1500));

  auto r = PlanKmipStateRebuild({"kg-a", "kg-b"}, found, kNow);
  REQUIRE(r.keys.size() == found.size());
  CHECK(r.contents.keys.size() == 2);
  CHECK(Recorded(r, "kmip-1") == RootKeyState::kActive);
  CHECK(Recorded(r, "kmip-13") == RootKeyState::kPrelive);
  CHECK(r.contents.keys.at("kmip-13").group == "kg-b");
  CHECK(r.contents.groups.size() == 2);
  CHECK(r.warnings.empty());  // the only Active key taken
  for (const KmipRebuiltKey& k : r.keys) {
    INFO(k.group << " " << k.id << ": " << k.note);
    if (k.id == "kmip-1" || (k.id == "kmip-13" && k.group == "kg-b")) {
      CHECK(k.state.has_value());
      continue;
    }
    CHECK(!k.state.has_value());
    CHECK_THAT(k.note, Catch::StartsWith("skipped: "));
    // Ids from the KMS are shown printable only.
    for (char ch : k.id) CHECK((ch != ' ' && ch >= 0x21 && ch < 0x7f));
  }
  CHECK_THAT(Find(r, "kmip-2")->note, Catch::Contains("sealpool:kg-a"));
  CHECK_THAT(Find(r, "kmip-5")->note, Catch::Contains("Object Group"));
  CHECK_THAT(Find(r, "kmip-6")->note, Catch::Contains("AES-256"));
  CHECK_THAT(Find(r, "kmip-9")->note, Catch::Contains("no State"));
  CHECK(Find(r, "kmip-bad?uid") != nullptr);
  CHECK(Find(r, "kmip-12")->kms_state == "unreadable");
  CHECK_THAT(Find(r, "kmip-15")->note, Catch::Contains("not a KMIP key group"));
  CHECK_THAT(r.keys[r.keys.size() - 2].note, Catch::Contains("already taken for key group"));
}

TEST_CASE("KMIP rebuild: the latest activated Active key is active, the others inactive",
          "[kmip][rebuild]") {
  SECTION("by Activation Date, even against a later Initial Date") {
    auto r = PlanKmipStateRebuild({"kg-a"},
                                  {Key("kg-a", "1", ObjectState::kActive, 100, 900),
                                   Key("kg-a", "2", ObjectState::kActive, 200, 300),
                                   Key("kg-a", "3", ObjectState::kPreActive, 400)},
                                  kNow);
    CHECK(Recorded(r, "kmip-1") == RootKeyState::kActive);
    CHECK(Recorded(r, "kmip-2") == RootKeyState::kInactive);
    CHECK(Recorded(r, "kmip-3") == RootKeyState::kPrelive);
    CHECK(Find(r, "kmip-1")->note == "the latest Activation Date");
    CHECK_THAT(Find(r, "kmip-2")->note, Catch::Contains("inactive (still unwraps)"));
    CHECK(Find(r, "kmip-2")->kms_state == "Active");
    CHECK(r.warnings.empty());
  }
  SECTION("equal Activation Dates: the later Initial Date") {
    auto r = PlanKmipStateRebuild({"kg-a"},
                                  {Key("kg-a", "2", ObjectState::kActive, 200, 500),
                                   Key("kg-a", "1", ObjectState::kActive, 100, 500)},
                                  kNow);
    CHECK(Recorded(r, "kmip-2") == RootKeyState::kActive);
    CHECK(Recorded(r, "kmip-1") == RootKeyState::kInactive);
    CHECK(Find(r, "kmip-2")->note == "the latest Initial Date");
    REQUIRE(r.warnings.size() == 1);
  }
  SECTION("no Activation Date (PyKMIP): the later Initial Date, with a warning") {
    auto r = PlanKmipStateRebuild(
        {"kg-a"},
        {Key("kg-a", "1", ObjectState::kActive, 300), Key("kg-a", "2", ObjectState::kActive, 200)},
        kNow);
    CHECK(Recorded(r, "kmip-1") == RootKeyState::kActive);
    CHECK(Recorded(r, "kmip-2") == RootKeyState::kInactive);
    REQUIRE(r.warnings.size() == 1);
    CHECK_THAT(r.warnings[0], Catch::Contains("no Activation Date"));
    CHECK_THAT(r.warnings[0], Catch::Contains("kmip-1"));
    CHECK_THAT(r.warnings[0], Catch::Contains("kmscmd key activate"));
  }
  SECTION("dates tie: the highest Unique Identifier, numerically, with a warning") {
    auto r = PlanKmipStateRebuild(
        {"kg-a", "kg-b"},
        {Key("kg-a", "9", ObjectState::kActive, 300), Key("kg-a", "10", ObjectState::kActive, 300),
         Key("kg-a", "011", ObjectState::kDeactivated, 300),
         Key("kg-b", "b-1", ObjectState::kActive), Key("kg-b", "a-2", ObjectState::kActive)},
        kNow);
    CHECK(Recorded(r, "kmip-10") == RootKeyState::kActive);
    CHECK(Recorded(r, "kmip-9") == RootKeyState::kInactive);
    CHECK(Recorded(r, "kmip-b-1") == RootKeyState::kActive);
    CHECK(Recorded(r, "kmip-a-2") == RootKeyState::kInactive);
    CHECK_THAT(Find(r, "kmip-10")->note, Catch::Contains("guessed"));
    REQUIRE(r.warnings.size() == 2);
    CHECK_THAT(r.warnings[0], Catch::Contains("do not tell which"));
  }
  SECTION("one Active key per group, never more") {
    std::vector<KmipFoundKey> found;
    for (int i = 1; i <= 20; ++i) {
      found.push_back(Key("kg-a", std::to_string(i), ObjectState::kActive, 1000 + (i * 7) % 5,
                          i % 3 == 0 ? std::optional<int64_t>(2000 + i % 4) : std::nullopt));
    }
    auto r = PlanKmipStateRebuild({"kg-a"}, found, kNow);
    int n_active = 0;
    for (const auto& [id, k] : r.contents.keys) n_active += k.state == RootKeyState::kActive;
    CHECK(n_active == 1);
    // kmip-3 and kmip-15 were activated last (2003); kmip-3 was created later.
    CHECK(Recorded(r, "kmip-3") == RootKeyState::kActive);
  }
}


TEST_CASE("KMIP rebuild holds each allowed pool's keys with placeholders until it reconciles",
          "[kmip][rebuild]") {
  std::vector<KmipFoundKey> found = {Key("kg-a", "1", ObjectState::kPreActive, 1000),
                                     Key("kg-a", "2", ObjectState::kActive, 1100),
                                     Key("kg-a", "3", ObjectState::kActive, 1200),
                                     Key("kg-a", "4", ObjectState::kDeactivated, 1300),
                                     Key("kg-a", "5", ObjectState::kCompromised, 1400),
                                     Key("kg-b", "6", ObjectState::kActive, 1500)};
  const std::map<std::string, std::set<std::string>> pools = {
      {"kg-a", {"pool-1", "pool-2"}},
      {"kg-b", {"pool-2"}},
      {"kg-other", {"pool-3"}},      // not a group being rebuilt
      {"kg-empty", {"pool-1"}}};     // rebuilt, no key
  auto r = PlanKmipStateRebuild({"kg-a", "kg-b", "kg-empty"}, found, kNow, pools);
  std::map<std::pair<std::string, std::string>, std::set<std::string>> held;  // (pool, group)
  for (const auto& [usage, root] : r.contents.usage) {
    const auto& [pool, group, kek] = usage;
    CHECK_THAT(kek, Catch::StartsWith("rebuilt:"));
    held[{pool, group}].insert(root);
  }
  const std::set<std::string> kg_a = {"kmip-2", "kmip-3", "kmip-4", "kmip-5"};  // not prelive
  CHECK(held.size() == 3);
  CHECK(held[{"pool-1", "kg-a"}] == kg_a);
  CHECK(held[{"pool-2", "kg-a"}] == kg_a);
  CHECK(held[{"pool-2", "kg-b"}] == std::set<std::string>{"kmip-6"});
  CHECK(r.contents.usage.size() == 9);
  // The state file keeps them.
  auto back = KmipStateFile::Decode(KmipStateFile::Encode(r.contents));
  REQUIRE(back.ok());
  CHECK(back->usage == r.contents.usage);
}

}  // namespace
}  // namespace sealpool::kms
