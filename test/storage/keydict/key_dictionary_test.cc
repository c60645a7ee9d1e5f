// KeyDictionary against the in-process root key provider and an in-memory catalog: DEK round
// trips, KEK rotation by count and age, restart from persisted records, KMS outages, root-key
// rotation with resumable re-wrap, DropKek, corrupt records and concurrency.
#include "storage/keydict/key_dictionary.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "crypto/fingerprint.h"
#include "storage/keydict/in_process_root_key_provider.h"
#include "storage/keydict/key_dictionary_format.h"

namespace sealpool::storage {
namespace {

#define REQUIRE_OK(expr)                 \
  do {                                   \
    const absl::Status status_ = (expr); \
    INFO(status_.ToString());            \
    REQUIRE(status_.ok());               \
  } while (false)

bool MessageHas(const absl::Status& status, std::string_view what) {
  return std::string(status.message()).find(what) != std::string::npos;
}

// The pool catalog's `keys` family, in memory.
class MemoryCatalog {
 public:
  KeyRecordWriter Writer() {
    return [this](std::string_view key, std::string_view value) -> absl::Status {
      absl::MutexLock lock(&mu_);
      if (!fail_writes_.ok()) {
        if (writes_before_failing_ == 0) return fail_writes_;
        --writes_before_failing_;
      }
      records_[std::string(key)] = std::string(value);
      ++writes_;
      return absl::OkStatus();
    };
  }
  KeyRecordDeleter Deleter() {
    return [this](std::string_view key) -> absl::Status {
      absl::MutexLock lock(&mu_);
      if (!fail_deletes_.ok()) return fail_deletes_;
      records_.erase(std::string(key));
      return absl::OkStatus();
    };
  }
  std::vector<std::pair<std::string, std::string>> Group(uint32_t group_no) const {
    absl::MutexLock lock(&mu_);
    const std::string prefix = KeyGroupRecordPrefix(group_no);
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [k, v] : records_) {
      if (k.starts_with(prefix)) out.emplace_back(k, v);
    }
    return out;
  }
  std::map<std::string, std::string> All() const {
    absl::MutexLock lock(&mu_);
    return records_;
  }
  size_t size() const {
    absl::MutexLock lock(&mu_);
    return records_.size();
  }
  uint64_t writes() const {
    absl::MutexLock lock(&mu_);
    return writes_;
  }
  // Writes fail with `s` after `after` more successful ones (until FailWrites(OkStatus())).
  void FailWrites(absl::Status s, uint64_t after = 0) {
    absl::MutexLock lock(&mu_);
    fail_writes_ = std::move(s);
    writes_before_failing_ = after;
  }
  void FailDeletes(absl::Status s) {
    absl::MutexLock lock(&mu_);
    fail_deletes_ = std::move(s);
  }
  KekRecord Kek(uint32_t group_no, uint32_t kek_id) const {
    absl::MutexLock lock(&mu_);
    auto it = records_.find(KekRecordKey(group_no, kek_id));
    REQUIRE(it != records_.end());
    auto rec = KekRecord::Decode(it->second);
    REQUIRE(rec.ok());
    return *rec;
  }
  FingerprintKeyRecord Fpk(uint32_t group_no) const {
    absl::MutexLock lock(&mu_);
    auto it = records_.find(FingerprintKeyRecordKey(group_no));
    REQUIRE(it != records_.end());
    auto rec = FingerprintKeyRecord::Decode(it->second);
    REQUIRE(rec.ok());
    return *rec;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::string> records_ ABSL_GUARDED_BY(mu_);
  uint64_t writes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fail_writes_ ABSL_GUARDED_BY(mu_);
  uint64_t writes_before_failing_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fail_deletes_ ABSL_GUARDED_BY(mu_);
};

class FakeClock {
 public:
  absl::Time Now() const { return absl::FromUnixMicros(micros_.load()); }
  void Advance(absl::Duration d) { micros_ += absl::ToInt64Microseconds(d); }
  std::function<absl::Time()> Fn() {
    return [this] { return Now(); };
  }

 private:
  std::atomic<int64_t> micros_{1'700'000'000'000'000};
};

// One pool: a provider with an active root key for groups "g1".."g3", a catalog, a clock.
struct Fixture {
  Fixture() : provider("pool-A") {
    for (const char* g : {"g1", "g2", "g3"}) {
      root_keys[g] = provider.AddRootKey(g);
      REQUIRE(provider.Activate(root_keys[g]).ok());
    }
    options.clock = clock.Fn();
  }

  std::unique_ptr<KeyDictionary> Open() {
    auto dict = KeyDictionary::Create(&provider, "pool-A", catalog.Writer(), catalog.Deleter(),
                                      options);
    REQUIRE(dict.ok());
    return *std::move(dict);
  }

  InProcessRootKeyProvider provider;
  std::map<std::string, std::string> root_keys;
  MemoryCatalog catalog;
  FakeClock clock;
  KeyDictionaryOptions options;
};

crypto::Dek NewDek() {
  auto dek = crypto::Dek::Generate();
  REQUIRE(dek.ok());
  return *std::move(dek);
}

bool SameKey(const crypto::Dek& a, const crypto::Dek& b) {
  return std::ranges::equal(a.RevealSecret(), b.RevealSecret());
}

struct Wrapped {
  crypto::Dek dek;
  uint32_t kek_id;
  crypto::WrappedDek wrapped;
};

Wrapped WrapNew(KeyDictionary& dict, uint32_t group_no) {
  crypto::Dek dek = NewDek();
  auto w = dict.WrapDek(group_no, dek);
  INFO(w.status().ToString());
  REQUIRE(w.ok());
  return Wrapped{std::move(dek), w->kek_id, w->wrapped};
}

void RequireUnwraps(KeyDictionary& dict, uint32_t group_no, const Wrapped& w) {
  auto dek = dict.UnwrapDek(group_no, w.kek_id, w.wrapped);
  INFO(dek.status().ToString());
  REQUIRE(dek.ok());
  CHECK(SameKey(*dek, w.dek));
}

TEST_CASE("key dictionary: create a group, wrap and unwrap DEKs") {
  Fixture f;
  auto dict = f.Open();
  REQUIRE_OK(dict->CreateGroup(1, "g1"));
  CHECK(dict->HasGroup(1));
  CHECK_FALSE(dict->HasGroup(2));
  CHECK(f.provider.wrap_calls() == 2);  // fingerprint key and KEK 1
  CHECK(f.catalog.size() == 2);
  CHECK(f.catalog.Fpk(1).wrapped.root_key_id == f.root_keys["g1"]);
  const KekRecord kek1 = f.catalog.Kek(1, 1);
  CHECK(kek1.state == KekState::kActive);
  CHECK(kek1.wrapped.root_key_id == f.root_keys["g1"]);
  CHECK(kek1.created_unix_micros == absl::ToUnixMicros(f.clock.Now()));

  std::vector<Wrapped> wrapped;
  for (int i = 0; i < 20; ++i) wrapped.push_back(WrapNew(*dict, 1));
  for (const Wrapped& w : wrapped) {
    CHECK(w.kek_id == 1);
    RequireUnwraps(*dict, 1, w);
  }
  // Hot path: no KMS call after creation.
  CHECK(f.provider.wrap_calls() == 2);
  CHECK(f.provider.unwrap_calls() == 0);

  auto fpk = dict->FingerprintKey(1);
  REQUIRE(fpk.ok());
  auto fingerprinter = crypto::Fingerprinter::Create(*fpk);
  REQUIRE(fingerprinter.ok());
  auto again = dict->FingerprintKey(1);
  REQUIRE(again.ok());
  CHECK(std::ranges::equal(fpk->RevealSecret(), again->RevealSecret()));

  auto kek_list = dict->ListKeks(1);
  REQUIRE(kek_list.ok());
  REQUIRE(kek_list->size() == 1);
  CHECK((*kek_list)[0].kek_id == 1);
  CHECK((*kek_list)[0].state == KekState::kActive);
  CHECK((*kek_list)[0].dek_count == 20);
  CHECK((*kek_list)[0].root_key_id == f.root_keys["g1"]);
  CHECK((*kek_list)[0].unwrapped);

  SECTION("errors") {
    CHECK(absl::IsNotFound(dict->WrapDek(9, NewDek()).status()));
    CHECK(absl::IsNotFound(dict->UnwrapDek(9, 1, wrapped[0].wrapped).status()));
    CHECK(absl::IsNotFound(dict->FingerprintKey(9).status()));
    CHECK(absl::IsNotFound(dict->UnwrapDek(1, 2, wrapped[0].wrapped).status()));
    CHECK(absl::IsNotFound(dict->WrapDekUnder(1, 2, NewDek()).status()));
    CHECK(absl::IsNotFound(dict->ListKeks(9).status()));
    crypto::WrappedDek damaged = wrapped[0].wrapped;
    damaged[5] ^= 0x01;
    auto status = dict->UnwrapDek(1, 1, damaged).status();
    CHECK(absl::IsDataLoss(status));
    CHECK(MessageHas(status, "key group 'g1' (1)"));
    CHECK(MessageHas(status, "KEK 1"));
    CHECK(absl::IsAlreadyExists(dict->CreateGroup(1, "g2")));
    CHECK(absl::IsAlreadyExists(dict->CreateGroup(2, "g1")));
    CHECK(absl::IsInvalidArgument(dict->CreateGroup(2, "")));
    CHECK(absl::IsInvalidArgument(dict->CreateGroup(2, "has space")));
    CHECK(absl::IsInvalidArgument(dict->CreateGroup(2, std::string(65, 'a'))));
    CHECK(f.catalog.size() == 2);
  }
  SECTION("WrapDekUnder wraps under the named KEK") {
    auto w = dict->WrapDekUnder(1, 1, wrapped[3].dek);
    REQUIRE(w.ok());
    CHECK(*w == wrapped[3].wrapped);  // RFC 5649 is deterministic
  }
}

TEST_CASE("key dictionary: Create validates its arguments") {
  Fixture f;
  auto make = [&](RootKeyProvider* p, std::string pool, KeyRecordWriter w, KeyRecordDeleter d,
                  KeyDictionaryOptions o) {
    return KeyDictionary::Create(p, std::move(pool), std::move(w), std::move(d), std::move(o))
        .status();
  };
  CHECK(make(&f.provider, "p", f.catalog.Writer(), f.catalog.Deleter(), {}).ok());
  CHECK(absl::IsInvalidArgument(make(nullptr, "p", f.catalog.Writer(), f.catalog.Deleter(), {})));
  CHECK(absl::IsInvalidArgument(make(&f.provider, "", f.catalog.Writer(), f.catalog.Deleter(), {})));
  CHECK(absl::IsInvalidArgument(make(&f.provider, "p", nullptr, f.catalog.Deleter(), {})));
  CHECK(absl::IsInvalidArgument(make(&f.provider, "p", f.catalog.Writer(), nullptr, {})));
  KeyDictionaryOptions o;
  o.kek_max_deks = 0;
  CHECK(absl::IsInvalidArgument(make(&f.provider, "p", f.catalog.Writer(), f.catalog.Deleter(), o)));
  o = {};
  o.dek_count_checkpoint = 0;
  CHECK(absl::IsInvalidArgument(make(&f.provider, "p", f.catalog.Writer(), f.catalog.Deleter(), o)));
  o = {};
  o.kek_max_age = absl::ZeroDuration();
  CHECK(absl::IsInvalidArgument(make(&f.provider, "p", f.catalog.Writer(), f.catalog.Deleter(), o)));
  o = {};
  o.clock = nullptr;
  CHECK(absl::IsInvalidArgument(make(&f.provider, "p", f.catalog.Writer(), f.catalog.Deleter(), o)));
}

TEST_CASE("key dictionary: rotation by count, and inactive KEKs still unwrap") {
  Fixture f;
  f.options.kek_max_deks = 10;
  f.options.dek_count_checkpoint = 4;
  auto dict = f.Open();
  REQUIRE_OK(dict->CreateGroup(1, "g1"));
  std::vector<Wrapped> wrapped;
  for (int i = 0; i < 25; ++i) wrapped.push_back(WrapNew(*dict, 1));
  for (size_t i = 0; i < wrapped.size(); ++i) {
    INFO("DEK " << i);
    CHECK(wrapped[i].kek_id == 1 + i / 10);
  }
  CHECK(f.provider.wrap_calls() == 4);  // fpk, KEK 1, 2, 3

  auto keks = dict->ListKeks(1);
  REQUIRE(keks.ok());
  REQUIRE(keks->size() == 3);
  CHECK((*keks)[0].state == KekState::kInactive);
  CHECK((*keks)[0].dek_count == 10);
  CHECK((*keks)[1].state == KekState::kInactive);
  CHECK((*keks)[1].dek_count == 10);
  CHECK((*keks)[2].state == KekState::kActive);
  CHECK((*keks)[2].dek_count == 5);
  // On disk: the states, and a dek_count reservation never below the real count.
  CHECK(f.catalog.Kek(1, 1).state == KekState::kInactive);
  CHECK(f.catalog.Kek(1, 1).dek_count >= 10);
  CHECK(f.catalog.Kek(1, 2).state == KekState::kInactive);
  CHECK(f.catalog.Kek(1, 3).state == KekState::kActive);
  CHECK(f.catalog.Kek(1, 3).dek_count >= 5);
  CHECK(f.catalog.Kek(1, 3).dek_count <= 5 + 4);

  // Inactive KEKs still unwrap, also after the keys were dropped from memory.
  dict->ForgetUnwrapped(1);
  auto after_forget = dict->ListKeks(1);
  REQUIRE(after_forget.ok());
  for (const KekInfo& info : *after_forget) CHECK_FALSE(info.unwrapped);
  for (const Wrapped& w : wrapped) RequireUnwraps(*dict, 1, w);
  CHECK(f.provider.unwrap_calls() == 3);  // once per KEK, then kept

  // Explicit rotation.
  auto rotated = dict->RotateKek(1);
  REQUIRE(rotated.ok());
  CHECK(*rotated == 4);
  CHECK(WrapNew(*dict, 1).kek_id == 4);
  // Re-wrapping under an inactive KEK (re-wrap jobs) does not rotate.
  auto under1 = dict->WrapDekUnder(1, 1, wrapped[0].dek);
  REQUIRE(under1.ok());
  CHECK(*under1 == wrapped[0].wrapped);
}

TEST_CASE("key dictionary: rotation by age with an injected clock") {
  Fixture f;
  f.options.kek_max_age = absl::Hours(24 * 30);
  auto dict = f.Open();
  REQUIRE_OK(dict->CreateGroup(1, "g1"));
  const Wrapped first = WrapNew(*dict, 1);
  CHECK(first.kek_id == 1);
  f.clock.Advance(absl::Hours(24 * 30) - absl::Seconds(1));
  CHECK(WrapNew(*dict, 1).kek_id == 1);
  f.clock.Advance(absl::Seconds(1));
  const Wrapped second = WrapNew(*dict, 1);
  CHECK(second.kek_id == 2);
  CHECK(f.catalog.Kek(1, 2).created_unix_micros == absl::ToUnixMicros(f.clock.Now()));
  f.clock.Advance(absl::Hours(24 * 29));
  CHECK(WrapNew(*dict, 1).kek_id == 2);
  f.clock.Advance(absl::Hours(24 * 2));
  CHECK(WrapNew(*dict, 1).kek_id == 3);
  RequireUnwraps(*dict, 1, first);
  RequireUnwraps(*dict, 1, second);
}

TEST_CASE("key dictionary: a restart loads the persisted records and unwraps old DEKs") {
  Fixture f;
  f.options.kek_max_deks = 8;
  f.options.dek_count_checkpoint = 3;
  std::vector<Wrapped> wrapped;
  std::vector<uint8_t> fpk_bytes;
  {
    auto dict = f.Open();
    REQUIRE_OK(dict->CreateGroup(1, "g1"));
    REQUIRE_OK(dict->CreateGroup(2, "g2"));
    for (int i = 0; i < 13; ++i) wrapped.push_back(WrapNew(*dict, 1));
    auto fpk = dict->FingerprintKey(1);
    REQUIRE(fpk.ok());
    fpk_bytes.assign(fpk->RevealSecret().begin(), fpk->RevealSecret().end());
  }
  const uint64_t wraps_before = f.provider.wrap_calls();
  const uint64_t reserved_kek2 = f.catalog.Kek(1, 2).dek_count;
  CHECK(reserved_kek2 >= 5);

  auto dict = f.Open();
  REQUIRE_OK(dict->LoadGroup(1, "g1", f.catalog.Group(1)));
  REQUIRE_OK(dict->LoadGroup(2, "g2", f.catalog.Group(2)));
  // LoadGroup does not call the KMS.
  CHECK(f.provider.unwrap_calls() == 0);
  CHECK(f.provider.wrap_calls() == wraps_before);
  auto keks = dict->ListKeks(1);
  REQUIRE(keks.ok());
  REQUIRE(keks->size() == 2);
  CHECK((*keks)[0].state == KekState::kInactive);
  CHECK((*keks)[1].state == KekState::kActive);
  CHECK((*keks)[1].dek_count == reserved_kek2);  // counting resumes from the reservation
  CHECK_FALSE((*keks)[1].unwrapped);

  for (const Wrapped& w : wrapped) RequireUnwraps(*dict, 1, w);
  auto fpk = dict->FingerprintKey(1);
  REQUIRE(fpk.ok());
  CHECK(std::ranges::equal(fpk->RevealSecret(), fpk_bytes));
  // New DEKs go on under KEK 2 until its (reserved) count reaches the limit.
  const Wrapped next = WrapNew(*dict, 1);
  CHECK(next.kek_id == (reserved_kek2 < 8 ? 2u : 3u));
  RequireUnwraps(*dict, 1, next);
  CHECK(absl::IsAlreadyExists(dict->LoadGroup(1, "g1", f.catalog.Group(1))));
}

TEST_CASE("key dictionary: KMS down") {
  Fixture f;
  f.options.dek_count_checkpoint = 2;  // checkpoints (catalog writes) happen while it is down
  std::vector<Wrapped> old1;
  std::vector<Wrapped> old2;
  {
    auto dict = f.Open();
    REQUIRE_OK(dict->CreateGroup(1, "g1"));
    REQUIRE_OK(dict->CreateGroup(2, "g2"));
    for (int i = 0; i < 3; ++i) old1.push_back(WrapNew(*dict, 1));
    for (int i = 0; i < 3; ++i) old2.push_back(WrapNew(*dict, 2));
  }
  // Restart; group 1 is used before the KMS goes down, group 2 is not.
  auto dict = f.Open();
  REQUIRE_OK(dict->LoadGroup(1, "g1", f.catalog.Group(1)));
  REQUIRE_OK(dict->LoadGroup(2, "g2", f.catalog.Group(2)));
  RequireUnwraps(*dict, 1, old1[0]);
  REQUIRE(dict->FingerprintKey(1).ok());

  f.provider.SetAvailable(false);
  const size_t records_before = f.catalog.size();

  // The loaded-and-used group keeps working.
  std::vector<Wrapped> fresh;
  for (int i = 0; i < 10; ++i) fresh.push_back(WrapNew(*dict, 1));
  for (const Wrapped& w : old1) RequireUnwraps(*dict, 1, w);
  for (const Wrapped& w : fresh) RequireUnwraps(*dict, 1, w);
  CHECK(dict->FingerprintKey(1).ok());

  // The unused one fails clearly.
  auto wrap_status = dict->WrapDek(2, NewDek()).status();
  CHECK(absl::IsUnavailable(wrap_status));
  CHECK(MessageHas(wrap_status, "key group 'g2' (2)"));
  CHECK(MessageHas(wrap_status, "KEK 1 is not in memory"));
  auto unwrap_status = dict->UnwrapDek(2, old2[0].kek_id, old2[0].wrapped).status();
  CHECK(absl::IsUnavailable(unwrap_status));
  CHECK(MessageHas(unwrap_status, "key group 'g2' (2)"));
  auto fpk_status = dict->FingerprintKey(2).status();
  CHECK(absl::IsUnavailable(fpk_status));
  CHECK(MessageHas(fpk_status, "fingerprint key"));

  // A new group cannot be created, and nothing is persisted.
  auto create_status = dict->CreateGroup(3, "g3");
  CHECK(absl::IsUnavailable(create_status));
  CHECK(MessageHas(create_status, "key group 'g3' (3)"));
  CHECK_FALSE(dict->HasGroup(3));
  CHECK(f.catalog.Group(3).empty());
  CHECK(f.catalog.size() == records_before);

  // Back up: everything works.
  f.provider.SetAvailable(true);
  for (const Wrapped& w : old2) RequireUnwraps(*dict, 2, w);
  CHECK(WrapNew(*dict, 2).kek_id == 1);
  REQUIRE_OK(dict->CreateGroup(3, "g3"));
}

TEST_CASE("key dictionary: a rotation due while the KMS is down does not stop ingest") {
  Fixture f;
  f.options.kek_max_deks = 5;
  f.options.rotation_retry_interval = absl::Minutes(1);
  auto dict = f.Open();
  REQUIRE_OK(dict->CreateGroup(1, "g1"));
  for (int i = 0; i < 5; ++i) CHECK(WrapNew(*dict, 1).kek_id == 1);
  f.provider.SetAvailable(false);
  const uint64_t wraps = f.provider.wrap_calls();
  // Four threads find the rotation due at once: one KMS attempt, then all wrap under KEK 1.
  std::vector<std::vector<Wrapped>> per_thread(4);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (size_t t = 0; t < per_thread.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        absl::StatusOr<crypto::Dek> dek = crypto::Dek::Generate();
        if (!dek.ok()) {
          ++failures;
          continue;
        }
        auto w = dict->WrapDek(1, *dek);
        if (!w.ok()) {
          ++failures;
          continue;
        }
        per_thread[t].push_back(Wrapped{*std::move(dek), w->kek_id, w->wrapped});
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(failures.load() == 0);
  std::vector<Wrapped> during;
  for (auto& v : per_thread) {
    for (auto& w : v) during.push_back(std::move(w));
  }
  REQUIRE(during.size() == 20);
  for (const Wrapped& w : during) CHECK(w.kek_id == 1);
  CHECK(f.provider.wrap_calls() == wraps + 1);  // one attempt, then the retry interval
  f.clock.Advance(absl::Minutes(1));
  CHECK(WrapNew(*dict, 1).kek_id == 1);
  CHECK(f.provider.wrap_calls() == wraps + 2);
  f.provider.SetAvailable(true);
  CHECK(WrapNew(*dict, 1).kek_id == 1);  // still inside the retry interval
  f.clock.Advance(absl::Minutes(1));
  CHECK(WrapNew(*dict, 1).kek_id == 2);
  for (const Wrapped& w : during) RequireUnwraps(*dict, 1, w);
  // An explicit rotation does not wait: it fails at once while the KMS is down.
  f.provider.SetAvailable(false);
  CHECK(absl::IsUnavailable(dict->RotateKek(1).status()));
}

TEST_CASE("key dictionary: no active root key is FailedPrecondition") {
  Fixture f;
  f.provider.AddRootKey("prelive-only");
  auto dict = f.Open();
  auto status = dict->CreateGroup(5, "prelive-only");
  CHECK(absl::IsFailedPrecondition(status));
  CHECK(MessageHas(status, "no active root key"));
  CHECK_FALSE(dict->HasGroup(5));
  CHECK(f.catalog.size() == 0);

  REQUIRE_OK(dict->CreateGroup(1, "g1"));
  // The active root key is destroyed: no new KEK and no re-wrap, old KEKs in memory still work.
  const Wrapped w = WrapNew(*dict, 1);
  REQUIRE_OK(f.provider.Destroy(f.root_keys["g1"]));
  CHECK(absl::IsFailedPrecondition(dict->RotateKek(1).status()));
  CHECK(absl::IsFailedPrecondition(dict->RewrapGroupKeys(1).status()));
  RequireUnwraps(*dict, 1, w);
}

TEST_CASE("key dictionary: root-key rotation and resumable RewrapGroupKeys") {
  Fixture f;
  const std::string old_root = f.root_keys["g1"];
  std::vector<Wrapped> wrapped;
  auto dict = f.Open();
  REQUIRE_OK(dict->CreateGroup(1, "g1"));
  for (int k = 0; k < 3; ++k) {
    if (k > 0) REQUIRE(dict->RotateKek(1).ok());
    for (int i = 0; i < 4; ++i) wrapped.push_back(WrapNew(*dict, 1));
  }
  // Re-wrap with nothing to do.
  auto none = dict->RewrapGroupKeys(1);
  REQUIRE(none.ok());
  CHECK(*none == 0);

  const std::string new_root = f.provider.AddRootKey("g1");
  REQUIRE_OK(f.provider.Activate(new_root));
  dict->ForgetUnwrapped(1);  // the secrets come from UnwrapForRewrap
  // Fail midway: ActiveRootKeyId, then fingerprint key (unwrap + wrap), then KEK 1's unwrap.
  f.provider.FailAfter(4);
  auto failed = dict->RewrapGroupKeys(1);
  CHECK(absl::IsUnavailable(failed.status()));
  CHECK((MessageHas(failed.status(), "KEK 1") || MessageHas(failed.status(), "kek-1")));
  CHECK(f.catalog.Fpk(1).wrapped.root_key_id == new_root);
  CHECK(f.catalog.Kek(1, 1).wrapped.root_key_id == old_root);
  CHECK(f.catalog.Kek(1, 3).wrapped.root_key_id == old_root);
  // What the pool would reconcile with the key service now: the half-way state exactly.
  auto half = dict->ListWrappedKeys(1);
  REQUIRE(half.ok());
  CHECK(*half == std::vector<WrappedKeyRef>{{"fpk", new_root},
                                            {"kek-1", old_root},
                                            {"kek-2", old_root},
                                            {"kek-3", old_root}});
  CHECK(dict->ListWrappedKeys(2).status().code() == absl::StatusCode::kNotFound);

  f.provider.SetAvailable(true);
  auto resumed = dict->RewrapGroupKeys(1);
  INFO(resumed.status().ToString());
  REQUIRE(resumed.ok());
  CHECK(*resumed == 3);
  CHECK(f.catalog.Fpk(1).wrapped.root_key_id == new_root);
  for (uint32_t id = 1; id <= 3; ++id) {
    CHECK(f.catalog.Kek(1, id).wrapped.root_key_id == new_root);
  }
  CHECK(f.catalog.Kek(1, 3).state == KekState::kActive);
  CHECK(f.catalog.Kek(1, 1).state == KekState::kInactive);
  auto again = dict->RewrapGroupKeys(1);
  REQUIRE(again.ok());
  CHECK(*again == 0);
  auto keks = dict->ListKeks(1);
  REQUIRE(keks.ok());
  for (const KekInfo& info : *keks) CHECK(info.root_key_id == new_root);
  auto all = dict->ListWrappedKeys(1);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 4);
  for (const WrappedKeyRef& ref : *all) CHECK(ref.root_key_id == new_root);

  // The old root key is gone for good: every DEK still unwraps, here and after a restart.
  REQUIRE_OK(f.provider.Destroy(old_root));
  dict->ForgetUnwrapped(1);
  for (const Wrapped& w : wrapped) RequireUnwraps(*dict, 1, w);
  auto restarted = f.Open();
  REQUIRE_OK(restarted->LoadGroup(1, "g1", f.catalog.Group(1)));
  for (const Wrapped& w : wrapped) RequireUnwraps(*restarted, 1, w);
  REQUIRE(restarted->FingerprintKey(1).ok());
}

TEST_CASE("key dictionary: re-wrap uses the keys in memory when it has them") {
  Fixture f;
  auto dict = f.Open();
  REQUIRE_OK(dict->CreateGroup(1, "g1"));
  const Wrapped w = WrapNew(*dict, 1);
  REQUIRE_OK(f.provider.Activate(f.provider.AddRootKey("g1")));
  auto n = dict->RewrapGroupKeys(1);
  REQUIRE(n.ok());
  CHECK(*n == 2);
  CHECK(f.provider.rewrap_unwrap_calls() == 0);
  RequireUnwraps(*dict, 1, w);
}

TEST_CASE("key dictionary: a compromised old root key still allows re-wrap") {
  Fixture f;
  const std::string old_root = f.root_keys["g1"];
  auto dict = f.Open();
  REQUIRE_OK(dict->CreateGroup(1, "g1"));
  std::vector<Wrapped> wrapped;
  for (int i = 0; i < 3; ++i) wrapped.push_back(WrapNew(*dict, 1));
  REQUIRE(dict->RotateKek(1).ok());
  wrapped.push_back(WrapNew(*dict, 1));

  const std::string new_root = f.provider.AddRootKey("g1");
  REQUIRE_OK(f.provider.Activate(new_root));
  REQUIRE_OK(f.provider.SetCompromised(old_root));
  dict->ForgetUnwrapped(1);
  // Ordinary unwraps are refused under a compromised root key...
  auto refused = dict->UnwrapDek(1, wrapped[0].kek_id, wrapped[0].wrapped).status();
  CHECK(absl::IsFailedPrecondition(refused));
  CHECK(MessageHas(refused, "compromised"));
  // ...re-wrap is not.
  auto n = dict->RewrapGroupKeys(1);
  INFO(n.status().ToString());
  REQUIRE(n.ok());
  CHECK(*n == 3);  // fingerprint key, KEK 1, KEK 2
  CHECK(f.provider.rewrap_unwrap_calls() == 3);
  for (const Wrapped& w : wrapped) RequireUnwraps(*dict, 1, w);
  REQUIRE(dict->FingerprintKey(1).ok());
}

TEST_CASE("key dictionary: DropKek") {
  Fixture f;
  auto dict = f.Open();
  REQUIRE_OK(dict->CreateGroup(1, "g1"));
  const Wrapped under1 = WrapNew(*dict, 1);
  REQUIRE(dict->RotateKek(1).ok());
  const Wrapped under2 = WrapNew(*dict, 1);

  auto active = dict->DropKek(1, 2);
  CHECK(absl::IsFailedPrecondition(active));
  CHECK(MessageHas(active, "active"));
  CHECK(absl::IsNotFound(dict->DropKek(1, 7)));
  CHECK(absl::IsNotFound(dict->DropKek(9, 1)));

  f.catalog.FailDeletes(absl::InternalError("disk on fire"));
  CHECK(absl::IsInternal(dict->DropKek(1, 1)));
  RequireUnwraps(*dict, 1, under1);  // still there
  f.catalog.FailDeletes(absl::OkStatus());

  REQUIRE_OK(dict->DropKek(1, 1));
  CHECK(f.catalog.All().count(KekRecordKey(1, 1)) == 0);
  CHECK(absl::IsNotFound(dict->UnwrapDek(1, 1, under1.wrapped).status()));
  RequireUnwraps(*dict, 1, under2);
  auto keks = dict->ListKeks(1);
  REQUIRE(keks.ok());
  REQUIRE(keks->size() == 1);
  CHECK((*keks)[0].kek_id == 2);
  // KEK ids are never reused.
  auto rotated = dict->RotateKek(1);
  REQUIRE(rotated.ok());
  CHECK(*rotated == 3);
  // After a restart the dropped KEK stays gone.
  auto restarted = f.Open();
  REQUIRE_OK(restarted->LoadGroup(1, "g1", f.catalog.Group(1)));
  CHECK(absl::IsNotFound(restarted->UnwrapDek(1, 1, under1.wrapped).status()));
  RequireUnwraps(*restarted, 1, under2);
}

TEST_CASE("key dictionary: persisting failures") {
  Fixture f;
  auto dict = f.Open();
  SECTION("CreateGroup persists nothing when a write fails") {
    f.catalog.FailWrites(absl::InternalError("catalog write failed"));
    auto status = dict->CreateGroup(1, "g1");
    CHECK(absl::IsInternal(status));
    CHECK(MessageHas(status, "key group 'g1' (1)"));
    CHECK_FALSE(dict->HasGroup(1));
    CHECK(f.catalog.size() == 0);
  }
  SECTION("CreateGroup deletes the fingerprint key record when the KEK record fails") {
    f.catalog.FailWrites(absl::InternalError("catalog write failed"), 1);
    auto status = dict->CreateGroup(1, "g1");
    CHECK(absl::IsInternal(status));
    CHECK(MessageHas(status, "KEK 1"));
    CHECK_FALSE(dict->HasGroup(1));
    CHECK(f.catalog.writes() == 1);
    CHECK(f.catalog.size() == 0);
    f.catalog.FailWrites(absl::OkStatus());
    REQUIRE_OK(dict->CreateGroup(1, "g1"));
  }
  SECTION("a failed checkpoint fails the wrap") {
    f.options.dek_count_checkpoint = 2;
    dict = f.Open();
    REQUIRE_OK(dict->CreateGroup(1, "g1"));
    WrapNew(*dict, 1);
    WrapNew(*dict, 1);
    f.catalog.FailWrites(absl::InternalError("catalog write failed"));
    CHECK(absl::IsInternal(dict->WrapDek(1, NewDek()).status()));
    f.catalog.FailWrites(absl::OkStatus());
    CHECK(WrapNew(*dict, 1).kek_id == 1);
    CHECK(f.catalog.Kek(1, 1).dek_count == 4);
  }
  SECTION("a failed rotation leaves the old KEK active") {
    REQUIRE_OK(dict->CreateGroup(1, "g1"));
    f.catalog.FailWrites(absl::InternalError("catalog write failed"));
    CHECK(absl::IsInternal(dict->RotateKek(1).status()));
    f.catalog.FailWrites(absl::OkStatus());
    CHECK(WrapNew(*dict, 1).kek_id == 1);
    CHECK(f.catalog.All().count(KekRecordKey(1, 2)) == 0);
  }
}

TEST_CASE("key dictionary: corrupt records make LoadGroup fail naming the group and record") {
  Fixture f;
  {
    auto dict = f.Open();
    REQUIRE_OK(dict->CreateGroup(1, "g1"));
    REQUIRE(dict->RotateKek(1).ok());
  }
  auto records = f.catalog.Group(1);
  REQUIRE(records.size() == 3);  // F, K1, K2 in key order
  REQUIRE(records[0].first == FingerprintKeyRecordKey(1));
  REQUIRE(records[2].first == KekRecordKey(1, 2));
  auto dict = f.Open();

  auto load = [&](const std::vector<std::pair<std::string, std::string>>& r) {
    absl::Status s = dict->LoadGroup(1, "g1", r);
    CHECK_FALSE(dict->HasGroup(1));
    return s;
  };

  SECTION("a truncated KEK record") {
    auto bad = records;
    bad[2].second.pop_back();
    auto status = load(bad);
    CHECK(absl::IsDataLoss(status));
    CHECK(MessageHas(status, "key group 'g1' (1)"));
    CHECK(MessageHas(status, "KEK 2"));
  }
  SECTION("a fingerprint key record with a trailing byte") {
    auto bad = records;
    bad[0].second.push_back('x');
    auto status = load(bad);
    CHECK(absl::IsDataLoss(status));
    CHECK(MessageHas(status, "key group 'g1' (1)"));
    CHECK(MessageHas(status, "fingerprint key"));
  }
  SECTION("a record of a newer format") {
    auto bad = records;
    bad[1].second[0] = 4;  // versions 2 (KEK pairs) and 3 (batches) exist
    auto status = load(bad);
    CHECK(absl::IsFailedPrecondition(status));
    CHECK(MessageHas(status, "KEK 1"));
    CHECK(MessageHas(status, "newer"));
  }
  SECTION("a KEK record under another KEK id's key") {
    auto bad = records;
    bad[1].second = records[2].second;
    auto status = load(bad);
    CHECK(absl::IsDataLoss(status));
    CHECK(MessageHas(status, "KEK 1"));
  }
  SECTION("a malformed key") {
    auto bad = records;
    bad.emplace_back(KeyGroupRecordPrefix(1) + "Z", "x");
    auto status = load(bad);
    CHECK(absl::IsDataLoss(status));
    CHECK(MessageHas(status, "key group 'g1' (1)"));
  }
  SECTION("a record of another group") {
    auto bad = records;
    bad.emplace_back(KekRecordKey(2, 1), records[1].second);
    CHECK(absl::IsInvalidArgument(load(bad)));
  }
  SECTION("a duplicate record") {
    auto bad = records;
    bad.push_back(records[1]);
    CHECK(absl::IsDataLoss(load(bad)));
  }
  SECTION("the fingerprint key record is missing") {
    auto bad = records;
    bad.erase(bad.begin());
    auto status = load(bad);
    CHECK(absl::IsDataLoss(status));
    CHECK(MessageHas(status, "fingerprint key record is missing"));
  }
  SECTION("no KEK record, or none active") {
    auto status = load({records[0]});
    CHECK(absl::IsDataLoss(status));
    CHECK(MessageHas(status, "no KEK record"));
    auto rec = KekRecord::Decode(records[2].second);
    REQUIRE(rec.ok());
    rec->state = KekState::kInactive;
    auto bad = records;
    bad[2].second = *rec->Encode();
    CHECK(absl::IsDataLoss(load(bad)));
  }
  SECTION("a bad group name") { CHECK(absl::IsInvalidArgument(dict->LoadGroup(1, "a/b", records))); }
  SECTION("two active KEKs (crash during rotation): the newest is active") {
    auto rec = KekRecord::Decode(records[1].second);
    REQUIRE(rec.ok());
    rec->state = KekState::kActive;
    auto crashed = records;
    crashed[1].second = *rec->Encode();
    REQUIRE_OK(dict->LoadGroup(1, "g1", crashed));
    auto keks = dict->ListKeks(1);
    REQUIRE(keks.ok());
    CHECK((*keks)[0].state == KekState::kInactive);
    CHECK((*keks)[1].state == KekState::kActive);
    CHECK(WrapNew(*dict, 1).kek_id == 2);
  }
}

TEST_CASE("key dictionary: concurrent wrapping while rotation by count happens") {
  Fixture f;
  f.options.kek_max_deks = 100;
  f.options.dek_count_checkpoint = 7;
  auto dict = f.Open();
  REQUIRE_OK(dict->CreateGroup(1, "g1"));
  REQUIRE_OK(dict->CreateGroup(2, "g2"));

  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::vector<std::vector<Wrapped>> results(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const uint32_t group_no = t == 3 ? 2 : 1;  // one thread on another group
      for (int i = 0; i < kPerThread; ++i) {
        absl::StatusOr<crypto::Dek> dek = crypto::Dek::Generate();
        if (!dek.ok()) {
          ++failures;
          continue;
        }
        auto w = dict->WrapDek(group_no, *dek);
        if (!w.ok()) {
          ++failures;
          continue;
        }
        results[static_cast<size_t>(t)].push_back(Wrapped{*std::move(dek), w->kek_id, w->wrapped});
        if (i % 50 == 0) {  // readers at the same time
          auto back = dict->UnwrapDek(group_no, w->kek_id, w->wrapped);
          if (!back.ok()) ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(failures.load() == 0);

  std::map<uint32_t, int> per_kek;
  for (int t = 0; t < kThreads; ++t) {
    const uint32_t group_no = t == 3 ? 2 : 1;
    for (const Wrapped& w : results[static_cast<size_t>(t)]) {
      if (group_no == 1) ++per_kek[w.kek_id];
      RequireUnwraps(*dict, group_no, w);
    }
  }
  // 1500 DEKs in group 1, at most 100 per KEK: exactly 15 KEKs, each full.
  CHECK(per_kek.size() == 15);
  for (const auto& [id, n] : per_kek) {
    INFO("KEK " << id);
    CHECK(n == 100);
  }
  auto keks = dict->ListKeks(1);
  REQUIRE(keks.ok());
  CHECK(keks->size() == 15);
  CHECK(std::count_if(keks->begin(), keks->end(),
                      [](const KekInfo& k) { return k.state == KekState::kActive; }) == 1);
  // Restart: every DEK unwraps from the persisted records.
  auto restarted = f.Open();
  REQUIRE_OK(restarted->LoadGroup(1, "g1", f.catalog.Group(1)));
  REQUIRE_OK(restarted->LoadGroup(2, "g2", f.catalog.Group(2)));
  for (int t = 0; t < kThreads; ++t) {
    for (const Wrapped& w : results[static_cast<size_t>(t)]) {
      RequireUnwraps(*restarted, t == 3 ? 2 : 1, w);
    }
  }
}

}  // namespace
}  // namespace sealpool::storage
