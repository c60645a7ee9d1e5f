// The built-in backend's state rules, wrapping, usage registry and persistence, in process
// (the same rules are exercised over gRPC by kms_e2e_test.cc).
#include "kms/key_store.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kms/wrapped_key_format.h"
#include "test/kms/kms_test_env.h"
#include "test/test_util.h"

namespace sealpool::kms {
namespace {

using test::ReadFileOrDie;
using S = RootKeyState;

constexpr crypto::ScryptParams kFastScrypt{1u << 10, 8, 1};

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

class StoreFixture {
 public:
  StoreFixture() : path_(dir_.path() / "keystore") {
    auto store = KeyStore::Create(path_, Bytes("old passphrase"), kFastScrypt);
    REQUIRE(store.ok());
    store_ = *std::move(store);
  }

  KeyStore& store() { return *store_; }
  const std::filesystem::path& path() const { return path_; }

  // A group with one active key; returns the key id.
  std::string ActiveGroup(const std::string& group) {
    REQUIRE(store_->CreateGroup(group).ok());
    auto key = store_->CreateKey(group);
    REQUIRE(key.ok());
    REQUIRE(store_->SetKeyState(key->id, S::kActive).ok());
    return key->id;
  }
  // Moves `id` along `states`, requiring each move to succeed.
  void Walk(const std::string& id, std::initializer_list<S> states) {
    for (S s : states) {
      auto r = store_->SetKeyState(id, s);
      INFO(RootKeyStateName(s) << ": " << r.status().ToString());
      REQUIRE(r.ok());
    }
  }
  S StateOf(const std::string& id) {
    auto keys = store_->ListKeys("");
    REQUIRE(keys.ok());
    for (const auto& k : *keys) {
      if (k.id == id) return k.state;
    }
    FAIL("no key " << id);
    return S::kPrelive;
  }
  void Close() { store_.reset(); }
  absl::StatusOr<std::unique_ptr<KeyStore>> Reopen(std::string_view passphrase) {
    store_.reset();
    return KeyStore::Open(path_, Bytes(passphrase));
  }
  void ReopenOrDie(std::string_view passphrase) {
    auto s = Reopen(passphrase);
    REQUIRE(s.ok());
    store_ = *std::move(s);
  }

 private:
  test::TempDir dir_;
  std::filesystem::path path_;
  std::unique_ptr<KeyStore> store_;
};

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

TEST_CASE_METHOD(StoreFixture, "names and sizes are validated", "[kms][key_store]") {
  CHECK(store().CreateGroup("").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(store().CreateGroup(std::string(65, 'a')).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(store().CreateGroup("a/b").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(store().CreateGroup(std::string("a\0b", 3)).status().code() ==
        absl::StatusCode::kInvalidArgument);
  ActiveGroup("g");
  CHECK(store().CreateGroup("g").status().code() == absl::StatusCode::kAlreadyExists);
  std::vector<uint8_t> small(15), big(65);
  CHECK(store().Wrap(kCtx, small).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(store().Wrap(kCtx, big).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(store().Wrap({"pool a", "g", "k"}, kKek).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(store().CreateKey("missing").status().code() == absl::StatusCode::kNotFound);
  CHECK(store().SetKeyState("rk-missing", S::kActive).status().code() ==
        absl::StatusCode::kNotFound);
}

TEST_CASE_METHOD(StoreFixture, "the store persists across reopen and wraps the same",
                 "[kms][key_store]") {
  std::string id = ActiveGroup("g");
  auto wrapped = store().Wrap(kCtx, kKek);
  REQUIRE(wrapped.ok());
  ReopenOrDie("old passphrase");
  auto r = store().Unwrap(kCtx, wrapped->wrapped, false);
  REQUIRE(r.ok());
  CHECK(r->root_key_id == id);
  CHECK(store().ListUsage("", "").size() == 1);
  struct stat st {};
  REQUIRE(::stat(path().c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE_METHOD(StoreFixture, "a wrong passphrase is refused and the file is untouched",
                 "[kms][key_store]") {
  ActiveGroup("g");
  Close();
  std::string before = ReadFileOrDie(path());
  auto r = Reopen("wrong passphrase");
  CHECK(r.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK_THAT(std::string(r.status().message()), Catch::Contains("wrong passphrase"));
  CHECK(ReadFileOrDie(path()) == before);
}

TEST_CASE_METHOD(StoreFixture, "a truncated or corrupt store is data loss, untouched",
                 "[kms][key_store]") {
  ActiveGroup("g");
  Close();
  std::string good = ReadFileOrDie(path());
  auto expect = [&](const std::string& content, absl::StatusCode code, const char* what) {
    test::WriteFileOrDie(path(), content, 0600);
    auto r = Reopen("old passphrase");
    INFO(what << ": " << r.status().ToString());
    CHECK(r.status().code() == code);
    CHECK(ReadFileOrDie(path()) == content);
  };
  expect(good.substr(0, good.size() - 1), absl::StatusCode::kDataLoss, "truncated by one");
  expect(good.substr(0, 100), absl::StatusCode::kDataLoss, "truncated in the header");
  expect("", absl::StatusCode::kDataLoss, "empty");
  expect(good + "x", absl::StatusCode::kDataLoss, "extended");
  std::string flipped = good;
  flipped[good.size() - 5] ^= 0x40;
  expect(flipped, absl::StatusCode::kDataLoss, "flipped payload byte");
  std::string magic = good;
  magic[0] = 'X';
  expect(magic, absl::StatusCode::kDataLoss, "bad magic");
  std::string newer = good;
  newer[8] = 2;  // format version 2
  expect(newer, absl::StatusCode::kFailedPrecondition, "newer version");
  test::WriteFileOrDie(path(), good, 0600);
  ReopenOrDie("old passphrase");
}

TEST_CASE_METHOD(StoreFixture, "a store readable by others or already open is refused",
                 "[kms][key_store]") {
  CHECK(KeyStore::Open(path(), Bytes("old passphrase")).status().code() ==
        absl::StatusCode::kFailedPrecondition);  // locked by this fixture's store
  Close();
  std::filesystem::permissions(path(), std::filesystem::perms::owner_read |
                                           std::filesystem::perms::owner_write |
                                           std::filesystem::perms::others_read);
  CHECK(Reopen("old passphrase").status().code() == absl::StatusCode::kFailedPrecondition);
  std::filesystem::permissions(
      path(), std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  ReopenOrDie("old passphrase");
  CHECK(KeyStore::Create(path(), Bytes("x"), kFastScrypt).status().code() ==
        absl::StatusCode::kFailedPrecondition);  // locked
}

TEST_CASE_METHOD(StoreFixture, "changing the passphrase re-encrypts the store",
                 "[kms][key_store]") {
  std::string id = ActiveGroup("g");
  REQUIRE(store().ChangePassphrase(Bytes("new passphrase")).ok());
  CHECK(store().CreateKey("g").ok());  // later saves use the new passphrase too
  CHECK(Reopen("old passphrase").status().code() == absl::StatusCode::kPermissionDenied);
  ReopenOrDie("new passphrase");
  CHECK(store().ListKeys("g")->size() == 2);
  CHECK(store().ChangePassphrase(Bytes("")).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("creating a store never overwrites one", "[kms][key_store]") {
  test::TempDir dir;
  auto path = dir.path() / "keystore";
  test::WriteFileOrDie(path, "precious", 0600);
  CHECK(KeyStore::Create(path, Bytes("p"), kFastScrypt).status().code() ==
        absl::StatusCode::kAlreadyExists);
  CHECK(ReadFileOrDie(path) == "precious");
  CHECK(KeyStore::Open(dir.path() / "missing", Bytes("p")).status().code() ==
        absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace sealpool::kms
