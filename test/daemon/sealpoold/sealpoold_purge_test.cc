// The purge end to end (issue 14 "The proof"): a real sealkmsd with its built-in store and a
// real sealpoold. Back up A and B sharing segments; take a raw copy of the pool folder and of
// sealkmsd's store (a key-store backup is a copy of that file); delete A; purge (with the
// passphrase change the built-in store needs). Then, with exact statuses: every wrapped DEK of
// the copy against every live KEK; every KEK of the copy against the key service; the copied
// store against the new passphrase; B restored bit-exact. Also: SIGKILL before each step and
// resume; a purge refused because another pool shares the group, naming it.
#include <atomic>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "catch2/catch.hpp"
#include "crypto/key_wrap.h"
#include "crypto/keys.h"
#include "kms/key_store.h"
#include "kms/kmip_backend.h"
#include "storage/catalog/catalog.h"
#include "storage/catalog/catalog_records.h"
#include "storage/keydict/key_dictionary_format.h"
#include "test/daemon/sealpoold/sealpoold_test_env.h"
#include "test/kms/kmip/pykmip_server.h"
#include "test/test_util.h"

namespace sealpool::test {
namespace {

namespace v1 = ::sealpool::pool::v1;
namespace kv1 = ::sealpool::kms::v1;

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

struct CatalogKeys {
  std::map<uint64_t, storage::SegmentRecord> segments;
  std::map<uint32_t, storage::KekRecord> keks;
};

CatalogKeys ReadCatalogKeys(const std::filesystem::path& pool_dir) {
  CatalogKeys out;
  auto catalog = storage::Catalog::Open((pool_dir / "catalog").string(), storage::CatalogOptions{});
  INFO(catalog.status());
  REQUIRE(catalog.ok());
  REQUIRE((*catalog)
              ->Scan(storage::Cf::kSegments, "",
                     [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
                       uint32_t group = 0;
                       auto id = storage::DecodeSegmentKey(key, &group);
                       REQUIRE(id.ok());
                       auto record = storage::DecodeSegmentRecord(value);
                       REQUIRE(record.ok());
                       out.segments[id->value()] = *record;
                       return true;
                     })
              .ok());
  REQUIRE((*catalog)
              ->Scan(storage::Cf::kKeys, "",
                     [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
                       auto k = storage::DecodeKeyRecordKey(key);
                       REQUIRE(k.ok());
                       if (k->kind != storage::KeyRecordKind::kKek) return true;
                       auto record = storage::KekRecord::Decode(value);
                       REQUIRE(record.ok());
                       out.keks[k->kek_id] = *record;
                       return true;
                     })
              .ok());
  return out;
}

std::string PseudoRandomString(size_t n, uint64_t seed) {
  std::vector<uint8_t> v = PseudoRandomBytes(n, seed);
  return std::string(v.begin(), v.end());
}

std::string KekId(uint32_t id) { return "kek-" + std::to_string(id); }

absl::StatusOr<v1::PurgeResponse> Purge(Sealpoold& pool, const std::string& group) {
  auto admin = pool.Admin();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  v1::PurgeRequest q;
  q.set_key_group(group);
  q.set_confirm(true);
  v1::PurgeResponse r;
  grpc::Status s = admin->Purge(&ctx, q, &r);
  if (!s.ok()) return ToAbsl(s);
  return r;
}

absl::Status ChangePassphrase(Sealkmsd& kms, const std::string& passphrase) {
  auto admin = kms.AdminStub();
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  kv1::ChangePassphraseRequest q;
  q.set_new_passphrase(passphrase);
  kv1::ChangePassphraseResponse r;
  absl::Status s = ToAbsl(admin->ChangePassphrase(&ctx, q, &r));
  // sealkmsd reads its passphrase file at start: keep it current for a restart.
  if (s.ok()) WriteFileOrDie(kms.passphrase_path(), passphrase + "\n", 0600);
  return s;
}

std::vector<kv1::RootKeyInfo> RootKeys(Sealkmsd& kms, const std::string& group) {
  auto admin = kms.AdminStub();
  grpc::ClientContext ctx;
  kv1::ListKeysRequest q;
  q.set_key_group(group);
  kv1::ListKeysResponse r;
  grpc::Status s = admin->ListKeys(&ctx, q, &r);
  REQUIRE(s.ok());
  return {r.keys().begin(), r.keys().end()};
}

// sealkmsd and sealpoold; A (alice) and B (bob) share a third of their bytes.
struct PurgeE2e : PoolFixture {
  PurgeE2e() {
    auto alice = pool().Client("alice");
    auto bob = pool().Client("bob");
    const std::string shared = PseudoRandomString(3u << 20, 41);
    a = shared + PseudoRandomString(3u << 20, 42);
    b = shared + PseudoRandomString(3u << 20, 43);
    REQUIRE(Backup(*alice, "lsu1", "A", a).ok());
    REQUIRE(Backup(*bob, "lsu1", "B", b).ok());
    // The raw copies, taken with both images present: the pool folder (sealpoold stopped so
    // that the copy is consistent) and sealkmsd's store, which is what a key-store backup is.
    REQUIRE(pool().Stop() == 0);
    copy = dir_.path() / "pool-copy";
    std::filesystem::copy(pool().pool_dir(), copy, std::filesystem::copy_options::recursive);
    store_copy = dir_.path() / "keystore-copy";
    std::filesystem::copy_file(kms().store_path(), store_copy);
    pool().Start();
    before_roots = RootKeys(kms(), "kg-a");
    auto admin = pool().Admin();
    grpc::ClientContext ctx;
    v1::AdminImageRef ref;
    ref.set_lsu("lsu1");
    ref.set_owner("alice");
    ref.set_name("A");
    v1::DeleteImageResponse deleted;
    REQUIRE(admin->DeleteImage(&ctx, ref, &deleted).ok());
  }

  // Runs the purge to its end: the first run stops at rekey-store (FAILED_PRECONDITION); the
  // passphrase change; the second run finishes.
  v1::PurgeResponse PurgeWithPassphraseChange() {
    auto first = Purge(pool(), "kg-a");
    INFO(first.status());
    REQUIRE(first.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(first.status().message().find("rekey-store") != std::string::npos);
    REQUIRE(ChangePassphrase(kms(), kNewPassphrase).ok());
    auto done = Purge(pool(), "kg-a");
    INFO(done.status());
    REQUIRE(done.ok());
    return *done;
  }

  void CheckShredded(const v1::PurgeResponse& report) {
    CHECK(report.store_rekeyed());
    CHECK(report.resumed());
    CHECK(report.deks_rewrapped() > 0);
    CHECK(report.keks_dropped_size() >= 1);
    // The resumed run finds the earlier steps done (the drain's erasures are in the first
    // run's report; the catalog comparison below checks they happened).
    REQUIRE(report.steps_size() == 11);
    CHECK(report.steps(0).done_before());
    CHECK(report.steps(10).step() == "rekey-store");
    CHECK_FALSE(report.steps(10).done_before());
    bool warned = false;
    for (const std::string& w : report.warnings()) {
      warned |= w.find("old passphrase") != std::string::npos;
    }
    CHECK(warned);

    // B restores bit-exact while sealpoold runs.
    auto bob = pool().Client("bob");
    auto got = Restore(*bob, "lsu1", "B");
    INFO(got.status());
    REQUIRE(got.ok());
    CHECK(*got == b);

    REQUIRE(pool().Stop() == 0);
    const CatalogKeys before = ReadCatalogKeys(copy);
    const CatalogKeys after = ReadCatalogKeys(pool().pool_dir());
    auto client = kms().Client("pool-a", "pool-a");
    auto key_stub = kms().KeyStub("pool-a");
    // The live KEKs, through the key service.
    std::vector<crypto::Kek> live;
    for (const auto& [id, rec] : after.keks) {
      CHECK_FALSE(before.keks.contains(id));
      CHECK(rec.wrapped.root_key_id == report.new_root_key_id());
      auto secret = client->Unwrap("kg-a", KekId(id), rec.wrapped.blob);
      INFO("live KEK " << id << ": " << secret.status());
      REQUIRE(secret.ok());
      auto kek = crypto::Kek::FromBytes(secret->span());
      REQUIRE(kek.ok());
      live.push_back(*std::move(kek));
    }
    REQUIRE_FALSE(live.empty());
    // Every wrapped DEK of the copy against every live KEK: refused (DataLoss), each time.
    for (const auto& [seg, rec] : before.segments) {
      for (const crypto::Kek& kek : live) {
        auto dek = crypto::UnwrapDek(kek, rec.wrapped_dek);
        INFO("copy's segment " << seg << ": " << dek.status());
        CHECK(dek.status().code() == absl::StatusCode::kDataLoss);
      }
    }
    // Segment by segment id: those only A used have no live wrapped DEK any more.
    size_t gone = 0;
    for (const auto& [seg, rec] : before.segments) if (!after.segments.contains(seg)) ++gone;
    CHECK(gone > 0);
    // Every KEK of the copy: its root key is terminated in sealkmsd, for use and for re-wrap.
    for (const auto& [id, rec] : before.keks) {
      for (auto purpose : {kv1::UNWRAP_PURPOSE_UNSPECIFIED, kv1::UNWRAP_PURPOSE_REWRAP}) {
        grpc::ClientContext ctx;
        kv1::UnwrapKeyRequest q;
        q.set_pool_id("pool-a");
        q.set_key_group("kg-a");
        q.set_kek_id(KekId(id));
        q.set_wrapped(rec.wrapped.blob.data(), rec.wrapped.blob.size());
        q.set_purpose(purpose);
        kv1::UnwrapKeyResponse r;
        grpc::Status s = key_stub->UnwrapKey(&ctx, q, &r);
        INFO("copy's KEK " << id << ": " << s.error_message());
        CHECK(s.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
        CHECK(r.secret().empty());
      }
    }
    // Every root key of the group but the new one: terminated (material wiped).
    for (const kv1::RootKeyInfo& k : RootKeys(kms(), "kg-a")) {
      if (k.id() == report.new_root_key_id()) {
        CHECK(k.state() == kv1::KEY_STATE_ACTIVE);
      } else {
        CHECK(k.state() == kv1::KEY_STATE_TERMINATED);
      }
    }
    // The copied store (a pre-purge key-store backup) does not open with the new passphrase;
    // with the old one it does, which is why the report says to destroy both (docs/kms.md).
    auto with_new = kms::KeyStore::Open(store_copy, Bytes(kNewPassphrase));
    CHECK(with_new.status().code() == absl::StatusCode::kPermissionDenied);
    // The live store no longer opens with the old passphrase (a copy of it: sealkmsd holds
    // the lock on the live file).
    const auto live_copy = dir_.path() / "keystore-live-copy";
    std::filesystem::copy_file(kms().store_path(), live_copy,
                               std::filesystem::copy_options::overwrite_existing);
    auto live_old = kms::KeyStore::Open(live_copy, Bytes(kOldPassphrase));
    CHECK(live_old.status().code() == absl::StatusCode::kPermissionDenied);
    pool().Start();
  }

  static constexpr char kOldPassphrase[] = "test passphrase";
  static constexpr char kNewPassphrase[] = "a new passphrase after the purge";
  std::string a, b;
  std::filesystem::path copy, store_copy;
  std::vector<kv1::RootKeyInfo> before_roots;
};

TEST_CASE("sealpoold purge: nothing only A used decrypts from raw copies and B restores bit-exact") {
  PurgeE2e t;
  const v1::PurgeResponse report = t.PurgeWithPassphraseChange();
  CHECK(report.steps_size() == 11);
  std::set<std::string> destroyed(report.root_keys_destroyed().begin(),
                                  report.root_keys_destroyed().end());
  for (const kv1::RootKeyInfo& k : t.before_roots) CHECK(destroyed.contains(k.id()));
  t.CheckShredded(report);
  // Every step is audited.
  const std::string audit = ReadFileOrDie(t.pool().audit_path());
  for (const char* step : {"drain-delete-queue", "rotate-kek", "fence-writers", "rewrap-deks",
                           "drop-keks", "new-root-key", "rewrap-group-keys", "destroy-root-keys",
                           "forget-caches", "compact-catalog", "rekey-store"}) {
    CHECK(audit.find(std::string("purge-step:") + step) != std::string::npos);
  }
}

TEST_CASE("sealpoold purge: SIGKILL before each step, restart, the purge resumes to the end") {
  for (const char* step : {"drain-delete-queue", "rotate-kek", "fence-writers", "rewrap-deks",
                           "drop-keks", "new-root-key", "rewrap-group-keys", "destroy-root-keys",
                           "forget-caches", "compact-catalog"}) {
    DYNAMIC_SECTION("killed before " << step) {
      PurgeE2e t;
      ::setenv("SEALPOOLD_TEST_KILL_BEFORE_PURGE_STEP", step, 1);
      REQUIRE(t.pool().Stop() == 0);
      t.pool().Start();
      ::unsetenv("SEALPOOLD_TEST_KILL_BEFORE_PURGE_STEP");
      auto killed = Purge(t.pool(), "kg-a");
      CHECK(killed.status().code() == absl::StatusCode::kUnavailable);
      t.pool().Kill();  // reaps it
      t.pool().Start();
      const v1::PurgeResponse report = t.PurgeWithPassphraseChange();
      t.CheckShredded(report);
    }
  }
}

// Backups stream through the client API (bob, LSU lsu1, so in the purged group) from before
// the purge starts until after it ends, and B is restored over and over meanwhile. Every
// backup that committed restores bit-exact after the purge; no other image is visible (nothing
// half-written); every restore during the purge is bit-exact (a read racing the re-wrap and the
// KEK drop re-reads its segment record: storage/pool/image_reader.cc); the raw-copy checks hold
// as in the first case.
TEST_CASE("sealpoold purge: with backups streaming during it, the shred holds and every "
          "committed backup restores bit-exact") {
  PurgeE2e t;
  std::atomic<bool> stop{false};
  std::atomic<int> committed{0};
  absl::Mutex mu;
  std::map<std::string, std::string> written;  // committed: name -> bytes
  std::vector<std::string> failures;
  std::thread writer([&] {
    auto bob = t.pool().Client("bob");
    for (int i = 0; !stop.load(); ++i) {
      // Appended, not "w" + to_string(i): GCC 12 -O3 -Wrestrict false positive on that form.
      std::string name = "w";
      name += std::to_string(i);
      // Half shared with B (dedup hits on segments the purge re-wraps), half new.
      const std::string data = t.b.substr(0, 256u << 10) +
                               PseudoRandomString(768u << 10, 1000 + static_cast<uint64_t>(i));
      auto r = Backup(*bob, "lsu1", name, data, 64u << 10);
      absl::MutexLock lock(&mu);
      if (r.ok()) {
        written[name] = data;
        ++committed;
      } else {
        failures.push_back(name + ": " + r.status().ToString());
      }
    }
  });
  std::atomic<int> restores{0};
  std::vector<std::string> restore_failures;
  std::thread reader([&] {
    auto bob = t.pool().Client("bob");
    while (!stop.load()) {
      auto got = Restore(*bob, "lsu1", "B");
      absl::MutexLock lock(&mu);
      if (!got.ok()) {
        restore_failures.push_back(got.status().ToString());
      } else if (*got != t.b) {
        restore_failures.push_back("B restored with other bytes");
      } else {
        ++restores;
      }
    }
  });
  while (committed.load() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const int before = committed.load();
  const v1::PurgeResponse report = t.PurgeWithPassphraseChange();
  const int after = committed.load();
  // One more backup that starts after the purge, under the new keys.
  while (committed.load() < after + 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  stop = true;
  writer.join();
  reader.join();
  INFO("backups committed before the purge: " << before << ", by its end: " << after
                                                << "; restores of B: " << restores.load());
  CHECK(after > before);  // backups committed while the purge ran
  {
    absl::MutexLock lock(&mu);
    for (const std::string& f : failures) {
      INFO(f);
      CHECK(f.empty());  // no backup failed: the purge fences writers, it does not fail them
    }
    for (const std::string& f : restore_failures) {
      INFO(f);
      CHECK(f.empty());  // no restore failed, none gave other bytes
    }
    CHECK(restores.load() > 0);
  }
  t.CheckShredded(report);
  auto bob = t.pool().Client("bob");
  for (const auto& [name, data] : written) {
    auto got = Restore(*bob, "lsu1", name);
    INFO(name << ": " << got.status());
    REQUIRE(got.ok());
    CHECK(*got == data);
  }
  // Nothing but the committed backups and B in bob's view of the LSU.
  auto admin = t.pool().Admin();
  grpc::ClientContext ctx;
  v1::AdminListImagesRequest q;
  q.set_lsu("lsu1");
  v1::ListImagesResponse listed;
  REQUIRE(admin->ListImages(&ctx, q, &listed).ok());
  CHECK(listed.next_page_token().empty());
  for (const auto& image : listed.images()) {
    INFO(image.owner() << "/" << image.name());
    CHECK(image.owner() == "bob");
    CHECK((image.name() == "B" || written.contains(image.name())));
  }
  CHECK(static_cast<size_t>(listed.images_size()) == written.size() + 1);
}

TEST_CASE("sealpoold purge: refused, naming the pool, when another pool shares the group") {
  TempDir dir;
  Sealkmsd kms(dir.path() / "kms");
  kms.Start();
  kms.CreateActiveGroup("kg-a");
  kms.CreateActiveGroup("kg-shared");
  Sealpoold pool(dir.path() / "poold", &kms);
  pool.SetTables(DefaultPoolTables() +
                 "[[key_group]]\nname = \"kg-shared\"\n"
                 "[[lsu]]\nname = \"lsu-shared\"\nkey_group = \"kg-shared\"\n");
  pool.Start();
  // pool-b wraps a KEK of its own in kg-shared (sealkmsd registers it).
  auto b = kms.Client("pool-b", "pool-b");
  const std::string secret(32, 'k');
  REQUIRE(b->Wrap("kg-shared", "kek-1", Bytes(secret)).ok());
  auto refused = Purge(pool, "kg-shared");
  INFO(refused.status());
  REQUIRE(refused.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(refused.status().message().find("pool-b") != std::string::npos);
  // Nothing changed: kg-shared keeps its one active root key.
  auto keys = RootKeys(kms, "kg-shared");
  REQUIRE(keys.size() == 1);
  CHECK(keys[0].state() == kv1::KEY_STATE_ACTIVE);
}

// A PyKMIP server, sealkmsd keeping kg-shared's root keys in it, and sealpoold with LSU lsuk
// of that group. A and B (alice's) share a third of their bytes; a raw copy of the pool is
// taken with both present; then A is deleted.
struct KmipPurgeE2e {
  KmipPurgeE2e() : kms(dir.path() / "kms"), pool(dir.path() / "poold", &kms) {
    kmip.Start();
    std::ostringstream c;
    c << "[kmip]\nserver = \"127.0.0.1:" << kmip.port() << "\"\n"
      << "ca = \"" << (kmip.dir() / "ca.crt").string() << "\"\n"
      << "cert = \"" << (kmip.dir() / "sealkmsd.crt").string() << "\"\n"
      << "key = \"" << (kmip.dir() / "sealkmsd.key").string() << "\"\n"
      << "state = \"kmip-state\"\ntimeout_seconds = 5\nkey_groups = [\"kg-shared\"]\n";
    kms.SetExtraConfig(c.str());
    std::string out;
    REQUIRE(RunCommand({SEALKMSD_PATH, "--config", kms.config_path().string(), "--init-store"},
                       &out) == 0);
    kms.Start();
    old_root = kms.CreateActiveGroup("kg-shared");
    REQUIRE(old_root.rfind("kmip-", 0) == 0);
    pool.SetTables(
        "[[key_group]]\nname = \"kg-shared\"\nbackend = \"kmip\"\n"
        "[[lsu]]\nname = \"lsuk\"\nkey_group = \"kg-shared\"\n"
        "[[client]]\ncn = \"alice\"\n"
        "[[client.access]]\nlsu = \"lsuk\"\nallow = [\"backup\", \"restore\", \"delete\"]\n");
    pool.Start();
    auto alice = pool.Client("alice");
    const std::string shared = PseudoRandomString(2u << 20, 61);
    a = shared + PseudoRandomString(2u << 20, 62);
    b = shared + PseudoRandomString(2u << 20, 63);
    REQUIRE(Backup(*alice, "lsuk", "A", a).ok());
    REQUIRE(Backup(*alice, "lsuk", "B", b).ok());
    REQUIRE(pool.Stop() == 0);
    copy = dir.path() / "pool-copy";
    std::filesystem::copy(pool.pool_dir(), copy, std::filesystem::copy_options::recursive);
    pool.Start();
    auto admin = pool.Admin();
    grpc::ClientContext ctx;
    v1::AdminImageRef ref;
    ref.set_lsu("lsuk");
    ref.set_owner("alice");
    ref.set_name("A");
    v1::DeleteImageResponse deleted;
    REQUIRE(admin->DeleteImage(&ctx, ref, &deleted).ok());
  }

  // With exact statuses: B restores bit-exact; every wrapped DEK of the copy is refused by
  // every live KEK; every KEK of the copy by sealkmsd; every old root key terminated in sealkmsd
  // and gone from the KMIP server, asked directly.
  void CheckShredded(const v1::PurgeResponse& report) {
    CHECK_FALSE(report.store_rekeyed());
    CHECK(std::vector<std::string>(report.root_keys_destroyed().begin(),
                                   report.root_keys_destroyed().end()) ==
          std::vector<std::string>{old_root});
    auto alice = pool.Client("alice");
    auto got = Restore(*alice, "lsuk", "B");
    INFO(got.status());
    REQUIRE(got.ok());
    CHECK(*got == b);
    REQUIRE(pool.Stop() == 0);
    const CatalogKeys before = ReadCatalogKeys(copy);
    const CatalogKeys after = ReadCatalogKeys(pool.pool_dir());
    auto client = kms.Client("pool-a", "pool-a");
    std::vector<crypto::Kek> live;
    for (const auto& [id, rec] : after.keks) {
      CHECK(rec.wrapped.root_key_id == report.new_root_key_id());
      auto secret = client->Unwrap("kg-shared", KekId(id), rec.wrapped.blob);
      INFO("live KEK " << id << ": " << secret.status());
      REQUIRE(secret.ok());
      auto kek = crypto::Kek::FromBytes(secret->span());
      REQUIRE(kek.ok());
      live.push_back(*std::move(kek));
    }
    REQUIRE_FALSE(live.empty());
    for (const auto& [seg, rec] : before.segments) {
      for (const crypto::Kek& kek : live) {
        CHECK(crypto::UnwrapDek(kek, rec.wrapped_dek).status().code() ==
              absl::StatusCode::kDataLoss);
      }
    }
    for (const auto& [id, rec] : before.keks) {
      auto s = client->UnwrapForRewrap("kg-shared", KekId(id), rec.wrapped.blob);
      INFO(s.status());
      CHECK(s.status().code() == absl::StatusCode::kFailedPrecondition);
    }
    for (const kv1::RootKeyInfo& k : RootKeys(kms, "kg-shared")) {
      CHECK(k.state() == (k.id() == report.new_root_key_id() ? kv1::KEY_STATE_ACTIVE
                                                             : kv1::KEY_STATE_TERMINATED));
    }
    const std::string audit = ReadFileOrDie(kms.audit_path());
    CHECK(audit.find("purge-destroy-root-key") != std::string::npos);
    // Gone from the KMIP server: asked directly, it no longer has the old key's material.
    auto direct = kmip.Client();
    auto material = direct->Get(kms::KmipUidOf(old_root));
    CHECK(material.status().code() == absl::StatusCode::kNotFound);  // PyKMIP: Item Not Found
    CHECK(direct->GetAttributes(kms::KmipUidOf(old_root)).status().code() ==
          absl::StatusCode::kNotFound);
    CHECK(direct->GetAttributes(kms::KmipUidOf(report.new_root_key_id())).ok());  // contrast
  }

  PyKmipServer kmip;
  TempDir dir;
  Sealkmsd kms;
  Sealpoold pool;
  std::string old_root, a, b;
  std::filesystem::path copy;
};

TEST_CASE("sealpoold purge with the root keys in a KMIP server: old keys revoked and destroyed",
          "[kmip][pykmip]") {
  RequirePyKmip();
  KmipPurgeE2e t;
  auto report = Purge(t.pool, "kg-shared");  // no store passphrase with KMIP: done in one run
  INFO(report.status());
  REQUIRE(report.ok());
  t.CheckShredded(*report);
}

// The steps that call the KMIP server (through sealkmsd): new-root-key (Create, Activate: a
// resume must not create a second key), destroy-root-keys (Revoke, Destroy: a resume must
// finish what a kill left) and forget-caches (killed right after the destroy: the resume finds
// it done and the old key gone). The other eight steps touch only the pool or sealkmsd's own
// registry, which the built-in SIGKILL case above covers; three restarts instead of eleven keep
// the PyKMIP time small.
TEST_CASE("sealpoold purge with KMIP: SIGKILL before the KMS-touching steps, restart, resume",
          "[kmip][pykmip]") {
  RequirePyKmip();
  for (const char* step : {"new-root-key", "destroy-root-keys", "forget-caches"}) {
    DYNAMIC_SECTION("killed before " << step) {
      KmipPurgeE2e t;
      ::setenv("SEALPOOLD_TEST_KILL_BEFORE_PURGE_STEP", step, 1);
      REQUIRE(t.pool.Stop() == 0);
      t.pool.Start();
      ::unsetenv("SEALPOOLD_TEST_KILL_BEFORE_PURGE_STEP");
      auto killed = Purge(t.pool, "kg-shared");
      CHECK(killed.status().code() == absl::StatusCode::kUnavailable);
      t.pool.Kill();  // reaps it
      t.pool.Start();
      auto report = Purge(t.pool, "kg-shared");
      INFO(report.status());
      REQUIRE(report.ok());
      CHECK(report->resumed());
      // Exactly one new root key: the group has the old (terminated) and the new (active).
      CHECK(RootKeys(t.kms, "kg-shared").size() == 2);
      t.CheckShredded(*report);
    }
  }
}

TEST_CASE_METHOD(PoolFixture,
                 "sealpoold: a compromised root key stops serving cached keys within the poll") {
  auto alice = pool().Client("alice");
  const std::string data = PseudoRandomString(2u << 20, 51);
  REQUIRE(Backup(*alice, "lsu1", "img", data).ok());
  REQUIRE(Restore(*alice, "lsu1", "img").ok());  // every key it needs is cached now
  const std::vector<kv1::RootKeyInfo> keys = RootKeys(kms(), "kg-a");
  REQUIRE(keys.size() == 1);
  REQUIRE(kms().SetState(keys[0].id(), kv1::KEY_STATE_COMPROMISED).ok());
  // The poll runs every 60 s (docs/kms.md): within 60 s plus a loop turn, restores fail.
  absl::Status last = absl::OkStatus();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(80);
  while (std::chrono::steady_clock::now() < deadline) {
    last = Restore(*alice, "lsu1", "img").status();
    if (!last.ok()) break;
    std::this_thread::sleep_for(std::chrono::seconds(2));
  }
  INFO(last);
  CHECK(last.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(pool().Log().find("every unwrapped key of the group was dropped") != std::string::npos);
}

}  // namespace
}  // namespace sealpool::test
