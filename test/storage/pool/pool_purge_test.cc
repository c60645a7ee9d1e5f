// Pool::Purge (storage/pool/purge.h) against the in-process root keys, through a key-service
// fake that keeps a registry and can refuse or time out. The end-to-end proof with the real
// sealkmsd is test/daemon/sealpoold/sealpoold_purge_test.cc.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "catch2/catch.hpp"

#include "crypto/batch_key_seal.h"
#include "crypto/key_wrap.h"
#include "storage/catalog/catalog.h"
#include "storage/catalog/catalog_records.h"
#include "storage/keydict/key_dictionary_format.h"
#include "storage/pool/purge_record.h"
#include "storage/store/file_system.h"
#include "test/storage/pool/pool_test_util.h"
#include "test/test_util.h"

namespace sealpool::storage {
namespace {
using namespace ::sealpool::storage::testing;  // NOLINT

ImageRequest Req(std::string_view lsu, std::string_view name) {
  ImageRequest r;
  r.lsu = std::string(lsu);
  r.name = std::string(name);
  return r;
}

// The key-service side of a purge over the fixture's InProcessRootKeyProvider.
class FakePurgeKeys final : public PurgeKeyService {
 public:
  explicit FakePurgeKeys(InProcessRootKeyProvider* kms) : kms_(kms) {
    auto active = kms_->ActiveRootKeyId(kTestKeyGroup);
    if (active.ok() && !active->empty()) known_.insert(*active);
  }
  absl::StatusOr<PurgeKeyCheck> CheckPurge(std::string_view) override {
    return PurgeKeyCheck{other_pools, store_key_id};
  }
  absl::StatusOr<std::string> ActivateNewRootKey(std::string_view group,
                                                 std::string_view replaces) override {
    absl::StatusOr<std::string> active = kms_->ActiveRootKeyId(group);
    if (!active.ok()) return active.status();
    if (*active != replaces) return *active;
    const std::string id = kms_->AddRootKey(group);
    absl::Status s = kms_->Activate(id);
    if (!s.ok()) return s;
    known_.insert(id);
    return id;
  }
  absl::Status ReplaceRegistrations(std::string_view, std::span<const WrappedKeyRef> keys) override {
    registered.assign(keys.begin(), keys.end());
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<std::string>> DestroyRootKeysExcept(std::string_view,
                                                                 std::string_view keep) override {
    if (destroy_failures > 0) {
      --destroy_failures;
      return absl::DeadlineExceededError("KMS Destroy timed out (fake)");
    }
    std::vector<std::string> out;
    for (const std::string& id : known_) {
      if (id == keep) continue;
      auto state = kms_->State(id);
      if (!state.ok() || *state == InProcessRootKeyState::kDestroyed) continue;
      absl::Status s = kms_->Destroy(id);
      if (!s.ok()) return s;
      out.push_back(id);
    }
    return out;
  }
  void ForgetCached(std::string_view) override { ++forgets; }

  // A root key left from an earlier rotation.
  void Know(const std::string& id) { known_.insert(id); }

  std::vector<std::string> other_pools;
  std::string store_key_id;
  int destroy_failures = 0;
  int forgets = 0;
  std::vector<WrappedKeyRef> registered;

 private:
  InProcessRootKeyProvider* const kms_;
  std::set<std::string> known_;
};

struct CatalogKeys {
  std::map<uint64_t, SegmentRecord> segments;  // segment id -> record (group kg1 = 1)
  std::map<uint32_t, KekRecord> keks;
  // kek_mode "public": KEK pairs and DEK batches.
  std::map<uint32_t, KekPairRecord> pairs;
  std::map<uint64_t, BatchRecord> batches;
  std::string pool_id_hex;
};

CatalogKeys ReadCatalogKeys(const std::string& pool_dir) {
  CatalogKeys out;
  auto catalog = Catalog::Open(pool_dir + "/catalog", CatalogOptions{});
  REQUIRE(catalog.ok());
  REQUIRE((*catalog)
              ->Scan(Cf::kSegments, "",
                     [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
                       uint32_t group = 0;
                       auto id = DecodeSegmentKey(key, &group);
                       REQUIRE(id.ok());
                       auto record = DecodeSegmentRecord(value);
                       REQUIRE(record.ok());
                       out.segments[id->value()] = *record;
                       return true;
                     })
              .ok());
  REQUIRE((*catalog)
              ->Scan(Cf::kKeys, "",
                     [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
                       auto k = DecodeKeyRecordKey(key);
                       REQUIRE(k.ok());
                       if (k->kind == KeyRecordKind::kBatch) {
                         auto batch = BatchRecord::Decode(value);
                         REQUIRE(batch.ok());
                         out.batches[k->batch_id] = *batch;
                         return true;
                       }
                       if (k->kind != KeyRecordKind::kKek) return true;
                       if (*PeekKeyRecordKind(value) == kKeyRecordKindKekPair) {
                         auto pair = KekPairRecord::Decode(value);
                         REQUIRE(pair.ok());
                         out.pairs[k->kek_id] = *pair;
                         return true;
                       }
                       auto record = KekRecord::Decode(value);
                       REQUIRE(record.ok());
                       out.keks[k->kek_id] = *record;
                       return true;
                     })
              .ok());
  auto meta = (*catalog)->Get(Cf::kMeta, PoolMetaKey());
  REQUIRE(meta.ok());
  REQUIRE(meta->has_value());
  auto pm = DecodePoolMeta(**meta);
  REQUIRE(pm.ok());
  static const char* digits = "0123456789abcdef";
  for (uint8_t b : pm->pool_id) {
    out.pool_id_hex.push_back(digits[b >> 4]);
    out.pool_id_hex.push_back(digits[b & 15]);
  }
  return out;
}

std::string KekId(uint32_t id) { return "kek-" + std::to_string(id); }

std::string ModeName(KekMode mode) { return std::string(KekModeName(mode)); }

// The purge fixture: images A and B sharing some segments, a raw copy of the pool taken with
// both present, then A deleted.
struct PurgeFixture {
  explicit PurgeFixture(KekMode mode = KekMode::kSymmetric)
      : kek_mode(mode), f(SmallPoolOptions(), mode), keys(&f.kms()) {
    shared = ImageContent({21, 1u << 20});
    a_only = ImageContent({22, 1u << 20});
    b_only = ImageContent({23, 1u << 20});
    a = shared;
    a.insert(a.end(), a_only.begin(), a_only.end());
    b = shared;
    b.insert(b.end(), b_only.begin(), b_only.end());
    REQUIRE(f.WriteImage("A", a).ok());
    REQUIRE(f.WriteImage("B", b).ok());
    f.Close();
    copy = f.dir() + "-copy";
    std::filesystem::remove_all(copy);
    std::filesystem::copy(f.dir(), copy, std::filesystem::copy_options::recursive);
    f.Reopen();
    REQUIRE(f.pool().DeleteImage({kTestLsu, "", "A"}, DeleteBy::kAdmin).ok());
  }
  ~PurgeFixture() { std::filesystem::remove_all(copy); }

  // Every promise of the purge, checked against the raw copy with exact statuses.
  void CheckShredded() {
    const CatalogKeys before = ReadCatalogKeys(copy);
    f.Close();
    const CatalogKeys after = ReadCatalogKeys(f.dir());
    f.Reopen();
    REQUIRE_FALSE(before.segments.empty());
    if (kek_mode == KekMode::kPublic) {
      CheckPairsShredded(before, after);
    } else {
      CheckKeksShredded(before, after);
    }
    // 3. Segment by segment id: what the copy holds and the live pool does not (A's own) has no
    // live wrapped DEK; what is live (shared with B) is B's and decrypts by design.
    size_t gone = 0;
    for (const auto& [seg, rec] : before.segments) {
      if (!after.segments.contains(seg)) ++gone;
    }
    CHECK(gone > 0);
    // 4. The deleted image does not read from the copy (its KEKs are unwrapped through a
    // destroyed root key), B reads bit-exact from the live pool.
    auto old_pool = Pool::Open(copy, &f.kms(), f.options());
    REQUIRE(old_pool.ok());
    std::vector<uint8_t> leaked;
    absl::Status s = (*old_pool)->ReadImage({kTestLsu, "", "A"}, 0, a.size(),
                                            [&](std::span<const uint8_t> d) {
                                              leaked.insert(leaked.end(), d.begin(), d.end());
                                              return absl::OkStatus();
                                            });
    INFO(s);
    CHECK(s.code() == absl::StatusCode::kNotFound);
    CHECK(leaked.empty());
    old_pool->reset();
    auto got = f.ReadAll("B");
    REQUIRE(got.ok());
    CHECK(DescribeMismatch(*got, b).empty());
  }

  // kek_mode "public": the same promises for KEK pairs and DEK batches.
  void CheckPairsShredded(const CatalogKeys& before, const CatalogKeys& after) {
    REQUIRE(before.keks.empty());
    REQUIRE_FALSE(before.pairs.empty());
    REQUIRE_FALSE(before.batches.empty());
    // The live pairs' private halves, through the live root key.
    std::map<uint32_t, crypto::KekPrivateKey> live;
    for (const auto& [id, rec] : after.pairs) {
      auto secret = f.kms().Unwrap(kTestKeyGroup, KekId(id), rec.wrapped);
      INFO("live KEK pair " << id << ": " << secret.status());
      REQUIRE(secret.ok());
      auto key = crypto::KekPrivateKey::FromBytes(secret->span());
      REQUIRE(key.ok());
      live.emplace(id, *std::move(key));
      CHECK_FALSE(before.pairs.contains(id));  // no live pair existed before the purge
    }
    // Every live batch, opened: the batch keys the live pool can reach.
    std::vector<crypto::BatchKey> live_batch_keys;
    for (const auto& [id, batch] : after.batches) {
      REQUIRE(live.contains(batch.kek_id));
      const crypto::BatchBinding binding{after.pool_id_hex, 1, batch.kek_id, batch.batch_id};
      auto key = crypto::OpenBatchKey(live.at(batch.kek_id), batch.sealed, binding);
      REQUIRE(key.ok());
      live_batch_keys.push_back(*std::move(key));
      CHECK_FALSE(before.batches.contains(id));  // only new batches are live
    }
    for (const auto& [seg, rec] : after.segments) {
      CHECK(after.batches.contains(rec.batch_id));
      CHECK_FALSE(before.batches.contains(rec.batch_id));
    }
    // 1. Every batch of the copy against every live private half (under its own binding and
    // under the live pair's): the RFC 5649 check refuses; every wrapped DEK of the copy
    // against every live batch key: refused too (no old batch key was re-sealed).
    for (const auto& [id, batch] : before.batches) {
      for (const auto& [kek_id, priv] : live) {
        for (uint32_t bound : {batch.kek_id, kek_id}) {
          const crypto::BatchBinding binding{before.pool_id_hex, 1, bound, batch.batch_id};
          auto opened = crypto::OpenBatchKey(priv, batch.sealed, binding);
          INFO("copy's batch " << id << " under live pair " << kek_id << ": " << opened.status());
          CHECK(opened.status().code() == absl::StatusCode::kDataLoss);
        }
      }
    }
    for (const auto& [seg, rec] : before.segments) {
      for (const crypto::BatchKey& key : live_batch_keys) {
        auto dek = crypto::UnwrapDek(key, rec.wrapped_dek);
        INFO("copy's segment " << seg << " under a live batch key: " << dek.status());
        CHECK(dek.status().code() == absl::StatusCode::kDataLoss);
      }
    }
    // 2. Every KEK pair of the copy: its root key is destroyed (NotFound).
    for (const auto& [id, rec] : before.pairs) {
      auto s = f.kms().Unwrap(kTestKeyGroup, KekId(id), rec.wrapped);
      INFO("copy's KEK pair " << id << ": " << s.status());
      CHECK(s.status().code() == absl::StatusCode::kNotFound);
      CHECK(f.kms().UnwrapForRewrap(kTestKeyGroup, KekId(id), rec.wrapped).status().code() ==
            absl::StatusCode::kNotFound);
    }
  }

  void CheckKeksShredded(const CatalogKeys& before, const CatalogKeys& after) {
    // The live KEKs, unwrapped through the live root key.
    std::vector<crypto::Kek> live;
    for (const auto& [id, rec] : after.keks) {
      auto secret = f.kms().Unwrap(kTestKeyGroup, KekId(id), rec.wrapped);
      INFO("live KEK " << id << ": " << secret.status());
      REQUIRE(secret.ok());
      auto kek = crypto::Kek::FromBytes(secret->span());
      REQUIRE(kek.ok());
      live.push_back(*std::move(kek));
      // No live KEK existed before the purge.
      CHECK_FALSE(before.keks.contains(id));
    }
    // 1. Every wrapped DEK of the copy against every live KEK: RFC 5649's check refuses.
    for (const auto& [seg, rec] : before.segments) {
      for (const crypto::Kek& kek : live) {
        auto dek = crypto::UnwrapDek(kek, rec.wrapped_dek);
        INFO("copy's segment " << seg << " under a live KEK: " << dek.status());
        CHECK(dek.status().code() == absl::StatusCode::kDataLoss);
      }
    }
    // 2. Every KEK record of the copy: its root key is destroyed (NotFound), for use and for
    // re-wrap alike.
    for (const auto& [id, rec] : before.keks) {
      auto s = f.kms().Unwrap(kTestKeyGroup, KekId(id), rec.wrapped);
      INFO("copy's KEK " << id << ": " << s.status());
      CHECK(s.status().code() == absl::StatusCode::kNotFound);
      CHECK(f.kms().UnwrapForRewrap(kTestKeyGroup, KekId(id), rec.wrapped).status().code() ==
            absl::StatusCode::kNotFound);
    }
  }

  const KekMode kek_mode;
  PoolFixture f;
  FakePurgeKeys keys;
  std::vector<uint8_t> shared, a_only, b_only, a, b;
  std::string copy;
};

TEST_CASE("purge: no deleted segment decrypts from a raw copy taken before it") {
  const KekMode mode = GENERATE(KekMode::kSymmetric, KekMode::kPublic);
  INFO("kek_mode " << ModeName(mode));
  PurgeFixture t(mode);
  // A root key left from an earlier rotation still wraps nothing live but may wrap KEKs in an
  // old copy: the purge destroys it too.
  auto first = t.f.kms().ActiveRootKeyId(kTestKeyGroup);
  REQUIRE(first.ok());
  auto report = t.f.pool().Purge(kTestKeyGroup, &t.keys);
  INFO(report.status());
  REQUIRE(report.ok());
  CHECK_FALSE(report->resumed);
  CHECK(report->steps.size() == 11);
  CHECK(report->segments_erased > 0);
  CHECK(report->deks_rewrapped > 0);
  CHECK_FALSE(report->keks_dropped.empty());
  CHECK(report->old_root_key_id == *first);
  CHECK(report->root_keys_destroyed == std::vector<std::string>{*first});
  CHECK(report->catalog_compacted);
  CHECK(t.keys.forgets == 1);
  // The key service's registry names only the new root key.
  for (const WrappedKeyRef& r : t.keys.registered) CHECK(r.root_key_id == report->new_root_key_id);
  auto groups = t.f.pool().ListKeyGroups();
  REQUIRE(groups.ok());
  REQUIRE((*groups)[0].keks.size() == 1);
  CHECK((*groups)[0].keks[0].kek_id == report->new_kek_id);
  CHECK_FALSE((*groups)[0].keks[0].unwrapped);  // every cached copy dropped
  CHECK_FALSE(*t.f.pool().PurgeUnfinished(kTestKeyGroup));
  t.CheckShredded();
}

TEST_CASE("purge: refused, naming the pool, when another pool shares the group, and changes nothing") {
  PurgeFixture t;
  t.keys.other_pools = {"0123456789abcdef0123456789abcdef"};
  auto before = t.f.pool().ListKeyGroups();
  REQUIRE(before.ok());
  auto report = t.f.pool().Purge(kTestKeyGroup, &t.keys);
  REQUIRE(report.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(report.status().message().find("0123456789abcdef0123456789abcdef") != std::string::npos);
  auto after = t.f.pool().ListKeyGroups();
  REQUIRE(after.ok());
  CHECK((*after)[0].keks.size() == (*before)[0].keks.size());
  CHECK_FALSE(*t.f.pool().PurgeUnfinished(kTestKeyGroup));
  // The pool still reads everything with its old keys.
  CHECK(t.f.ReadAll("B").ok());
}

TEST_CASE("purge: a KMS Destroy that times out fails the purge, which resumes to completion") {
  const KekMode mode = GENERATE(KekMode::kSymmetric, KekMode::kPublic);
  INFO("kek_mode " << ModeName(mode));
  PurgeFixture t(mode);
  t.keys.destroy_failures = 1;
  auto failed = t.f.pool().Purge(kTestKeyGroup, &t.keys);
  REQUIRE(failed.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(failed.status().message().find("destroy-root-keys") != std::string::npos);
  CHECK(*t.f.pool().PurgeUnfinished(kTestKeyGroup));
  auto report = t.f.pool().Purge(kTestKeyGroup, &t.keys);
  INFO(report.status());
  REQUIRE(report.ok());
  CHECK(report->resumed);
  CHECK(report->root_keys_destroyed.size() == 1);
  t.CheckShredded();
}

TEST_CASE("purge: a passphrase-protected store must be re-keyed after the destroy") {
  PurgeFixture t;
  t.keys.store_key_id = "salt-1";
  auto waiting = t.f.pool().Purge(kTestKeyGroup, &t.keys);
  REQUIRE(waiting.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(waiting.status().message().find("rekey-store") != std::string::npos);
  // Run again without the change: still refused.
  CHECK(t.f.pool().Purge(kTestKeyGroup, &t.keys).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  t.keys.store_key_id = "salt-2";  // kmscmd changed the passphrase
  auto report = t.f.pool().Purge(kTestKeyGroup, &t.keys);
  INFO(report.status());
  REQUIRE(report.ok());
  CHECK(report->store_rekeyed);
  bool warned = false;
  for (const std::string& w : report->warnings) {
    warned |= w.find("key-store backups taken before this purge") != std::string::npos;
  }
  CHECK(warned);
  t.CheckShredded();
}

TEST_CASE("purge: stopped before any step (a crash there), reopened, it resumes to completion") {
  for (uint8_t stop = static_cast<uint8_t>(PurgeStep::kDrainDeleteQueue);
       stop < static_cast<uint8_t>(PurgeStep::kDone); ++stop) {
    for (KekMode mode : {KekMode::kSymmetric, KekMode::kPublic}) {
    DYNAMIC_SECTION("stopped before " << PurgeStepName(static_cast<PurgeStep>(stop)) << ", kek_mode "
                                      << ModeName(mode)) {
      PurgeFixture t(mode);
      PurgeOptions crash;
      crash.before_step = [stop](PurgeStep s) {
        return static_cast<uint8_t>(s) == stop ? absl::AbortedError("crash") : absl::OkStatus();
      };
      REQUIRE(t.f.pool().Purge(kTestKeyGroup, &t.keys, crash).status().code() ==
              absl::StatusCode::kAborted);
      t.f.Reopen();
      CHECK(*t.f.pool().PurgeUnfinished(kTestKeyGroup));
      auto report = t.f.pool().Purge(kTestKeyGroup, &t.keys);
      INFO(report.status());
      REQUIRE(report.ok());
      CHECK(report->resumed);
      t.CheckShredded();
    }
    }
  }
}

TEST_CASE("purge: with writers running, every record ends under the new KEK") {
  const KekMode mode = GENERATE(KekMode::kSymmetric, KekMode::kPublic);
  INFO("kek_mode " << ModeName(mode));
  PurgeFixture t(mode);
  std::atomic<bool> stop{false};
  std::atomic<int> committed{0};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      auto w = t.f.pool().BeginImage(Req(kTestLsu, absl::StrCat("w", i)));
      if (!w.ok()) continue;
      const std::vector<uint8_t> data = ImageContent({static_cast<uint64_t>(100 + i), 256u << 10});
      if ((*w)->Write(data).ok() && (*w)->Commit().ok()) ++committed;
    }
  });
  while (committed.load() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto report = t.f.pool().Purge(kTestKeyGroup, &t.keys);
  stop = true;
  writer.join();
  INFO(report.status());
  REQUIRE(report.ok());
  t.f.Close();
  const CatalogKeys after = ReadCatalogKeys(t.f.dir());
  t.f.Reopen();
  for (const auto& [seg, rec] : after.segments) CHECK(rec.kek_id >= report->new_kek_id);
  for (const auto& [id, rec] : after.keks) CHECK(id >= report->new_kek_id);
  for (int i = 0; i < committed.load(); ++i) {
    auto v = t.f.pool().VerifyImage({kTestLsu, "", absl::StrCat("w", i)});
    INFO(v.status());
    REQUIRE(v.ok());
    CHECK(v->ok());
  }
  t.CheckShredded();
}

TEST_CASE("purge: fences a write sealed before the rotation, bounded and reported, then resumes") {
  const KekMode mode = GENERATE(KekMode::kSymmetric, KekMode::kPublic);
  INFO("kek_mode " << ModeName(mode));
  PurgeFixture t(mode);
  auto w = t.f.pool().BeginImage(Req(kTestLsu, "open"));
  REQUIRE(w.ok());
  const std::vector<uint8_t> data = ImageContent({32, 512u << 10});
  REQUIRE((*w)->Write(data).ok());  // sealed under the old KEK, not committed
  PurgeOptions options;
  options.writer_wait = absl::Milliseconds(200);
  auto waited = t.f.pool().Purge(kTestKeyGroup, &t.keys, options);
  INFO(waited.status());
  REQUIRE(waited.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(waited.status().message().find("fence-writers") != std::string::npos);
  REQUIRE((*w)->Commit().ok());
  auto report = t.f.pool().Purge(kTestKeyGroup, &t.keys, options);
  INFO(report.status());
  REQUIRE(report.ok());
  CHECK(report->resumed);
  auto got = t.f.ReadAll("open");
  INFO(got.status());
  REQUIRE(got.ok());
  CHECK(*got == data);
  t.CheckShredded();
}

TEST_CASE("purge: RewrapDeks fails rather than skip a KEK a running write still uses") {
  PoolOptions options = SmallPoolOptions();
  options.rewrap_writer_wait = absl::Milliseconds(100);
  PoolFixture f(options);
  auto w = f.pool().BeginImage(Req(kTestLsu, "open"));
  REQUIRE(w.ok());
  REQUIRE((*w)->Write(ImageContent({31, 512u << 10})).ok());  // sealed under KEK 1, uncommitted
  REQUIRE(f.pool().RotateKek(kTestKeyGroup).ok());
  auto busy = f.pool().RewrapDeks(kTestKeyGroup);
  INFO(busy.status());
  CHECK(busy.status().code() == absl::StatusCode::kUnavailable);
  REQUIRE((*w)->Commit().ok());
  auto r = f.pool().RewrapDeks(kTestKeyGroup);
  INFO(r.status());
  REQUIRE(r.ok());
  CHECK(r->keks_dropped == 1);
  CHECK(f.ReadAll("open").ok());
}

// A FileSystem that forwards to the default one, and can stop one thread's next container read
// until released: a deterministic sync point between ReadSegment's catalog read of a segment
// record and its unwrap of the DEK (the container read comes between the two).
class ReadGateFileSystem final : public FileSystem {
 public:
  // The next Read of a container file, by whichever thread makes it (the reader's own, or a
  // pool worker reading ahead for it), waits until Release().
  void Arm() {
    absl::MutexLock lock(&mu_);
    armed_ = true;
    waiting_ = false;
    released_ = false;
  }
  void AwaitWaiting() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&waiting_));
  }
  void Release() {
    absl::MutexLock lock(&mu_);
    released_ = true;
  }
  void Gate() const {
    absl::MutexLock lock(&mu_);
    if (!armed_) return;
    armed_ = false;
    waiting_ = true;
    mu_.Await(absl::Condition(&released_));
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                                OpenMode mode) override {
    return base_->NewWritableFile(path, mode);
  }
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    absl::StatusOr<std::unique_ptr<RandomAccessFile>> file = base_->NewRandomAccessFile(path);
    if (!file.ok()) return file.status();
    return std::unique_ptr<RandomAccessFile>(new GatedFile(this, *std::move(file)));
  }
  absl::Status RenameFile(const std::string& from, const std::string& to) override {
    return base_->RenameFile(from, to);
  }
  absl::Status RemoveFile(const std::string& path) override { return base_->RemoveFile(path); }
  absl::StatusOr<bool> FileExists(const std::string& path) override {
    return base_->FileExists(path);
  }
  absl::StatusOr<uint64_t> GetFileSize(const std::string& path) override {
    return base_->GetFileSize(path);
  }
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override {
    return base_->ListDir(dir);
  }
  absl::Status CreateDir(const std::string& dir) override { return base_->CreateDir(dir); }
  absl::Status SyncDir(const std::string& dir) override { return base_->SyncDir(dir); }
  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    return base_->LockFile(path);
  }

 private:
  class GatedFile final : public RandomAccessFile {
   public:
    GatedFile(const ReadGateFileSystem* fs, std::unique_ptr<RandomAccessFile> base)
        : fs_(fs), base_(std::move(base)) {}
    absl::StatusOr<size_t> Read(uint64_t offset, std::span<uint8_t> out) const override {
      fs_->Gate();
      return base_->Read(offset, out);
    }
    absl::StatusOr<uint64_t> Size() const override { return base_->Size(); }
    const std::string& path() const override { return base_->path(); }

   private:
    const ReadGateFileSystem* const fs_;
    std::unique_ptr<RandomAccessFile> base_;
  };

  FileSystem* const base_ = DefaultFileSystem();
  mutable absl::Mutex mu_;
  mutable bool armed_ ABSL_GUARDED_BY(mu_) = false;
  mutable bool waiting_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

// The race behind "a restore racing drop-keks can fail once": a read takes a segment record
// (DEK wrapped under the old KEK), the purge re-wraps that DEK and drops the old KEK, then the
// read unwraps. It must read the record again and go on (before the fix: NOT_FOUND "no KEK 1",
// which a client takes for "no such image").
TEST_CASE("purge: a read that took a segment record before the re-wrap finishes bit-exact") {
  ReadGateFileSystem gate;
  PoolFixture f(SmallPoolOptions(&gate));
  FakePurgeKeys keys(&f.kms());
  const std::vector<uint8_t> data = ImageContent({31, 1u << 20});
  REQUIRE(f.WriteImage("B", data).ok());
  f.Reopen();  // nothing cached: the reader's first container read is of its first segment
  std::vector<uint8_t> got;
  absl::Status read_status;
  std::thread reader([&] {
    gate.Arm();
    read_status = f.pool().ReadImage({kTestLsu, "", "B"}, 0, data.size(),
                                     [&](std::span<const uint8_t> d) {
                                       got.insert(got.end(), d.begin(), d.end());
                                       return absl::OkStatus();
                                     });
  });
  gate.AwaitWaiting();  // the reader holds segment 1's record, wrapped under KEK 1
  auto report = f.pool().Purge(kTestKeyGroup, &keys);
  gate.Release();
  reader.join();
  INFO(report.status());
  REQUIRE(report.ok());
  REQUIRE(std::find(report->keks_dropped.begin(), report->keks_dropped.end(), 1u) !=
          report->keks_dropped.end());
  INFO(read_status);
  CHECK(read_status.ok());
  CHECK(DescribeMismatch(got, data).empty());
}

TEST_CASE("purge record: encodes, decodes, and refuses another version or a damaged record") {
  PurgeRecord r;
  r.next = PurgeStep::kDestroyRootKeys;
  r.new_kek_id = 7;
  r.started_unix_micros = 1'800'000'000'000'000;
  r.deks_rewrapped = 12345;
  r.old_root_key_id = "rk-1";
  r.new_root_key_id = "rk-2";
  r.store_key_id = "abcd";
  r.keks_dropped = {1, 2, 3};
  r.root_keys_destroyed = {"rk-0", "rk-1"};
  auto enc = EncodePurgeRecord(r);
  REQUIRE(enc.ok());
  auto dec = DecodePurgeRecord(*enc);
  REQUIRE(dec.ok());
  CHECK(*dec == r);
  std::string other = *enc;
  other[0] = 2;
  CHECK(DecodePurgeRecord(other).status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(DecodePurgeRecord(enc->substr(0, enc->size() - 1)).status().code() ==
        absl::StatusCode::kDataLoss);
  CHECK(DecodePurgeRecord(*enc + "x").status().code() == absl::StatusCode::kDataLoss);
  std::string bad_step = *enc;
  bad_step[1] = 99;
  CHECK(DecodePurgeRecord(bad_step).status().code() == absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace sealpool::storage

namespace sealpool::storage {
namespace {
using namespace ::sealpool::storage::testing;  // NOLINT

// The step timings of docs/security.md: SEALPOOL_PURGE_BENCH_MIB of unique data (default 256)
// in images of 4 MiB, with the default chunker (64 KiB average), half the images deleted, then
// the purge. Run: pool_purge_test "[.bench]" -s.
TEST_CASE("purge: step timings on a pool of stated size", "[.bench]") {
  PoolOptions options = SmallPoolOptions();
  options.chunker = PoolOptions{}.chunker;
  options.containers.target_size = 64 << 20;
  options.commit_every_extents = 1024;
  options.delete_batch = 4096;
  PoolFixture f(options);
  const char* env = std::getenv("SEALPOOL_PURGE_BENCH_MIB");
  const size_t mib = env ? std::strtoul(env, nullptr, 10) : 256;
  const size_t images = mib / 4;
  for (size_t i = 0; i < images; ++i) {
    REQUIRE(f.WriteImage("img" + std::to_string(i), ImageContent({1000 + i, 4u << 20})).ok());
  }
  for (size_t i = 0; i < images; i += 2) {
    REQUIRE(f.pool().DeleteImage({kTestLsu, "", "img" + std::to_string(i)}, DeleteBy::kAdmin).ok());
  }
  auto stats = f.pool().Stats();
  REQUIRE(stats.ok());
  FakePurgeKeys keys(&f.kms());
  auto report = f.pool().Purge(kTestKeyGroup, &keys);
  REQUIRE(report.ok());
  std::printf("pool: %zu MiB written in %zu images, %zu deleted; %llu segments before the drain\n",
              mib, images, (images + 1) / 2, static_cast<unsigned long long>(stats->segments));
  for (const PurgeStepReport& s : report->steps) {
    std::printf("  %-20s %10.3f ms  %s\n", std::string(PurgeStepName(s.step)).c_str(),
                absl::ToDoubleMilliseconds(s.took), s.detail.c_str());
  }
  std::printf("  total %.3f s\n", absl::ToDoubleSeconds(report->total));
}

}  // namespace
}  // namespace sealpool::storage
