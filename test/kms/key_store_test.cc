// The built-in backend's state rules, wrapping and usage registry, in process (the same rules
// are exercised over gRPC by key_service_test.cc and admin_service_test.cc). The store file
// itself is tested by key_store_file_test.cc.
#include "kms/key_store.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "test/kms/kms_test_env.h"
#include "test/test_util.h"

namespace sealpool::kms {
namespace {

using test::StoreFixture;
using S = RootKeyState;

const std::vector<uint8_t> kKek = test::PseudoRandomBytes(32, 7);
const WrapContext kCtx{"pool-a", "g", "kek-1"};

TEST_CASE_METHOD(StoreFixture, "a group wraps nothing until a key is active", "[kms][key_store]") {
  REQUIRE(store().CreateGroup("g").ok());
  auto wrap = store().Wrap(kCtx, kKek);
  CHECK(wrap.status().code() == absl::StatusCode::kFailedPrecondition);
  auto key = store().CreateKey("g");
  REQUIRE(key.ok());
  CHECK(key->state == S::kPrelive);
  CHECK(store().Wrap(kCtx, kKek).status().code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(store().SetKeyState(key->id, S::kActive).ok());
  CHECK(store().Wrap(kCtx, kKek).ok());
}

TEST_CASE_METHOD(StoreFixture, "wrap and unwrap round trip, bound to pool, group and KEK",
                 "[kms][key_store]") {
  std::string key = ActiveGroup("g");
  REQUIRE(store().CreateGroup("h").ok());
  auto wrapped = store().Wrap(kCtx, kKek);
  REQUIRE(wrapped.ok());
  CHECK(wrapped->root_key_id == key);
  auto secret = store().Unwrap(kCtx, wrapped->wrapped, false);
  REQUIRE(secret.ok());
  CHECK(std::vector<uint8_t>(secret->secret.span().begin(), secret->secret.span().end()) == kKek);
  CHECK(secret->root_key_state == S::kActive);

  CHECK(store().Unwrap({"pool-b", "g", "kek-1"}, wrapped->wrapped, false).status().code() ==
        absl::StatusCode::kDataLoss);
  CHECK(store().Unwrap({"pool-a", "g", "kek-2"}, wrapped->wrapped, false).status().code() ==
        absl::StatusCode::kDataLoss);
  // Another group does not hold the root key the blob names.
  CHECK(store().Unwrap({"pool-a", "h", "kek-1"}, wrapped->wrapped, false).status().code() ==
        absl::StatusCode::kNotFound);
}

TEST_CASE_METHOD(StoreFixture, "every flipped bit of a wrapped key is refused",
                 "[kms][key_store]") {
  ActiveGroup("g");
  auto wrapped = store().Wrap(kCtx, kKek);
  REQUIRE(wrapped.ok());
  for (size_t i = 0; i < wrapped->wrapped.size(); ++i) {
    std::vector<uint8_t> bad = wrapped->wrapped;
    bad[i] ^= 0x01;
    auto r = store().Unwrap(kCtx, bad, false);
    INFO("byte " << i);
    CHECK_FALSE(r.ok());
  }
  std::vector<uint8_t> truncated(wrapped->wrapped.begin(), wrapped->wrapped.end() - 1);
  CHECK(store().Unwrap(kCtx, truncated, false).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE_METHOD(StoreFixture, "activating a key makes the previous active key inactive",
                 "[kms][key_store]") {
  std::string first = ActiveGroup("g");
  auto second = store().CreateKey("g");
  REQUIRE(second.ok());
  Walk(second->id, {S::kActive});
  CHECK(StateOf(first) == S::kInactive);
  CHECK(StateOf(second->id) == S::kActive);
  auto groups = store().ListGroups();
  REQUIRE(groups.size() == 1);
  CHECK(groups[0].active_root_key_id == second->id);
}

TEST_CASE_METHOD(StoreFixture, "only adjacent moves are allowed", "[kms][key_store]") {
  std::string id = ActiveGroup("g");
  auto prelive = store().CreateKey("g");
  REQUIRE(prelive.ok());
  for (S to : {S::kInactive, S::kDeprecated, S::kTerminated, S::kPrelive}) {
    CHECK(store().SetKeyState(prelive->id, to).status().code() ==
          absl::StatusCode::kFailedPrecondition);
  }
  CHECK(store().SetKeyState(id, S::kDeprecated).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(store().SetKeyState(id, S::kTerminated).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(store().SetKeyState(id, S::kPrelive).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  Walk(id, {S::kInactive, S::kActive, S::kInactive, S::kDeprecated, S::kTerminated});
  CHECK(store().SetKeyState(id, S::kActive).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(store().SetKeyState(id, S::kCompromised).status().code() ==
        absl::StatusCode::kFailedPrecondition);
}

TEST_CASE_METHOD(StoreFixture, "unwrap works under active and inactive keys only",
                 "[kms][key_store]") {
  std::string id = ActiveGroup("g");
  auto wrapped = store().Wrap(kCtx, kKek);
  REQUIRE(wrapped.ok());
  REQUIRE(store().ReconcileUsage("pool-a", "g", {}).ok());  // the pool re-wrapped elsewhere
  Walk(id, {S::kInactive});
  CHECK(store().Unwrap(kCtx, wrapped->wrapped, false).ok());
  CHECK(store().Wrap(kCtx, kKek).status().code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(store().ReconcileUsage("pool-a", "g", {}).ok());
  Walk(id, {S::kDeprecated});
  auto r = store().Unwrap(kCtx, wrapped->wrapped, false);
  CHECK(r.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("deprecated"));
  Walk(id, {S::kTerminated});
  r = store().Unwrap(kCtx, wrapped->wrapped, true);
  CHECK(r.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("terminated"));
}

TEST_CASE_METHOD(StoreFixture, "a compromised key unwraps only to re-wrap", "[kms][key_store]") {
  std::string id = ActiveGroup("g");
  auto wrapped = store().Wrap(kCtx, kKek);
  REQUIRE(wrapped.ok());
  Walk(id, {S::kCompromised});
  CHECK(store().Unwrap(kCtx, wrapped->wrapped, false).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  auto r = store().Unwrap(kCtx, wrapped->wrapped, true);
  REQUIRE(r.ok());
  CHECK(r->root_key_state == S::kCompromised);
  CHECK(store().Wrap(kCtx, kKek).status().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE_METHOD(StoreFixture,
                 "a key wrapping a registered KEK is not deprecated, terminated "
                 "or deleted",
                 "[kms][key_store]") {
  std::string old_key = ActiveGroup("g");
  REQUIRE(store().Wrap(kCtx, kKek).ok());  // registers kek-1 under old_key
  auto next = store().CreateKey("g");
  REQUIRE(next.ok());
  Walk(next->id, {S::kActive});
  auto r = store().SetKeyState(old_key, S::kDeprecated);
  CHECK(r.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("registered KEK"));
  Walk(old_key, {S::kCompromised});
  CHECK(store().SetKeyState(old_key, S::kTerminated).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  // Re-wrapping under the new key moves the registration; then the old key can go.
  auto rewrapped = store().Wrap(kCtx, kKek);
  REQUIRE(rewrapped.ok());
  CHECK(rewrapped->root_key_id == next->id);
  Walk(old_key, {S::kTerminated});
  CHECK(store().DeleteKey(old_key).ok());
  CHECK(store().DeleteKey(next->id).code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE_METHOD(StoreFixture, "delete only prelive or terminated keys", "[kms][key_store]") {
  std::string active = ActiveGroup("g");
  auto prelive = store().CreateKey("g");
  REQUIRE(prelive.ok());
  CHECK(store().DeleteKey(active).code() == absl::StatusCode::kFailedPrecondition);
  Walk(active, {S::kInactive});
  CHECK(store().DeleteKey(active).code() == absl::StatusCode::kFailedPrecondition);
  Walk(active, {S::kDeprecated});
  CHECK(store().DeleteKey(active).code() == absl::StatusCode::kFailedPrecondition);
  CHECK(store().DeleteKey(prelive->id).ok());
  CHECK(store().DeleteKey(prelive->id).code() == absl::StatusCode::kNotFound);
  Walk(active, {S::kTerminated});
  CHECK(store().DeleteKey(active).ok());
}

TEST_CASE_METHOD(StoreFixture, "reconcile replaces a pool's registry and names keys to re-wrap",
                 "[kms][key_store]") {
  std::string k1 = ActiveGroup("g");
  REQUIRE(store().Wrap({"pool-a", "g", "kek-1"}, kKek).ok());
  REQUIRE(store().Wrap({"pool-a", "g", "kek-2"}, kKek).ok());
  REQUIRE(store().Wrap({"pool-b", "g", "kek-9"}, kKek).ok());
  auto k2 = store().CreateKey("g");
  REQUIRE(k2.ok());
  Walk(k2->id, {S::kActive});
  std::vector<KekUsageEntry> held = {{"kek-2", k1}, {"kek-3", k2->id}};
  auto r = store().ReconcileUsage("pool-a", "g", held);
  REQUIRE(r.ok());
  CHECK(r->added == 1);
  CHECK(r->removed == 1);
  REQUIRE(r->usages.size() == 2);
  CHECK(r->usages[0].kek_id == "kek-2");
  CHECK(r->usages[0].rewrap_needed);
  CHECK(r->usages[0].root_key_state == S::kInactive);
  CHECK_FALSE(r->usages[1].rewrap_needed);
  CHECK(store().ListUsage("g", "").size() == 3);  // pool-b's entry untouched
  // A key of another group, or an unknown key, is refused and changes nothing.
  REQUIRE(store().CreateGroup("h").ok());
  auto other = store().CreateKey("h");
  REQUIRE(other.ok());
  std::vector<KekUsageEntry> wrong = {{"kek-2", other->id}};
  CHECK(store().ReconcileUsage("pool-a", "g", wrong).status().code() ==
        absl::StatusCode::kNotFound);
  std::vector<KekUsageEntry> dup = {{"kek-2", k1}, {"kek-2", k1}};
  CHECK(store().RegisterUsage("pool-a", "g", dup).code() == absl::StatusCode::kInvalidArgument);
  CHECK(store().ListUsage("g", "").size() == 3);
}

TEST_CASE_METHOD(StoreFixture, "shredding a group in use destroys its keys and registrations",
                 "[kms][key_store]") {
  ActiveGroup("g");
  ActiveGroup("other");
  auto wrapped = store().Wrap(kCtx, kKek);
  REQUIRE(wrapped.ok());
  auto r = store().ShredGroup("g");
  REQUIRE(r.ok());
  CHECK(r->destroyed_keys == 1);
  CHECK(r->dropped_registrations == 1);
  CHECK(store().Unwrap(kCtx, wrapped->wrapped, false).status().code() ==
        absl::StatusCode::kNotFound);
  CHECK(store().ListGroups().size() == 1);
  ReopenOrDie("old passphrase");
  CHECK(store().ListGroups().size() == 1);
  CHECK(store().ShredGroup("g").status().code() == absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sealpool::kms
