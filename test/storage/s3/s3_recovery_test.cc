// Disaster recovery from the bucket alone, against a real radosgw (docs/s3.md "Disaster
// recovery"): every catalog batch of an S3 pool goes to the bucket as a commit record before it
// is applied, catalog backups go there too, and a machine with only the bucket (and the KMS)
// gets the pool back with every acknowledged image.
#include <filesystem>
#include <map>
#include <set>
#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/escaping.h"
#include "storage/pool/pool.h"
#include "storage/s3/s3_commit_log.h"
#include "storage/s3/s3_container_store.h"
#include "storage/s3/s3_lease.h"
#include "test/storage/pool/pool_test_util.h"
#include "test/storage/s3/ceph_fixture.h"

namespace sealpool::storage {
namespace {

using s3::S3Client;
using s3::S3ContainerStore;
using test::CephS3;
using testing::ImageContent;
using testing::kTestLsu;
using testing::PoolFixture;
using testing::SmallPoolOptions;

constexpr char kPrefix[] = "dr/";

PoolOptions S3Options(S3Client* client) {
  PoolOptions options = SmallPoolOptions();
  options.catalog_backup_every_records = 0;  // backups only when a test asks
  options.container_store = [client](const Id128& pool_id,
                                     std::function<absl::StatusOr<uint64_t>()> allocate)
      -> absl::StatusOr<std::unique_ptr<ContainerStore>> {
    s3::S3ContainerStoreOptions o;
    o.containers.target_size = 256 << 10;
    auto store = S3ContainerStore::Open(client, kPrefix, pool_id, o, std::move(allocate));
    if (!store.ok()) return store.status();
    return std::unique_ptr<ContainerStore>(std::move(*store));
  };
  return options;
}

Id128 PoolId(PoolFixture& f) {
  std::string bytes = absl::HexStringToBytes(f.pool().pool_id_hex());
  Id128 id{};
  REQUIRE(bytes.size() == id.size());
  std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(id.data()));
  return id;
}

std::vector<uint64_t> Numbers(S3Client& client, const std::string& folder) {
  auto listed = client.List(folder);
  REQUIRE(listed.ok());
  std::vector<uint64_t> out;
  for (const auto& o : *listed) {
    out.push_back(std::stoull(o.key.substr(folder.size(), 16), nullptr, 16));
  }
  return out;
}

// The local disk is gone: the pool folder, catalog and all.
void DestroyLocalDisk(PoolFixture& f) {
  f.Close();
  std::filesystem::remove_all(f.dir());
  REQUIRE_FALSE(std::filesystem::exists(f.dir()));
}

void CheckImage(PoolFixture& f, const std::string& name, const std::vector<uint8_t>& content) {
  INFO("image " << name);
  auto read = f.ReadAll(name);
  REQUIRE(read.ok());
  CHECK(*read == content);
}

// The real S3 store, with a switch that makes the bucket refuse commit records (what a store
// that is away or full does to them): to show that an image's commit waits for its record.
class RefusingLog final : public CatalogLog {
 public:
  explicit RefusingLog(CatalogLog* inner) : inner_(inner) {}
  std::atomic<bool> refuse{false};
  absl::Status PutCommitRecord(uint64_t seq, std::string_view batch) override {
    if (refuse.load()) return absl::UnavailableError("test: the bucket refuses commit records");
    return inner_->PutCommitRecord(seq, batch);
  }
  absl::StatusOr<std::vector<uint64_t>> ListCommitRecords() override {
    return inner_->ListCommitRecords();
  }
  absl::StatusOr<std::string> GetCommitRecord(uint64_t seq) override {
    return inner_->GetCommitRecord(seq);
  }
  absl::Status DeleteCommitRecord(uint64_t seq) override { return inner_->DeleteCommitRecord(seq); }
  absl::Status PutCatalogBackup(uint64_t seq, const std::string& dir) override {
    return inner_->PutCatalogBackup(seq, dir);
  }
  absl::StatusOr<std::vector<uint64_t>> ListCatalogBackups() override {
    return inner_->ListCatalogBackups();
  }
  absl::Status RestoreCatalogBackup(uint64_t seq, const std::string& dir) override {
    return inner_->RestoreCatalogBackup(seq, dir);
  }
  absl::Status DeleteCatalogBackup(uint64_t seq) override { return inner_->DeleteCatalogBackup(seq); }

 private:
  CatalogLog* inner_;
};

class StoreWithRefusingLog final : public ContainerStore {
 public:
  StoreWithRefusingLog(std::unique_ptr<ContainerStore> inner, std::atomic<bool>** refuse)
      : inner_(std::move(inner)), log_(inner_->catalog_log()) {
    *refuse = &log_.refuse;
  }
  absl::StatusOr<StoredLocation> Append(const Id128& g, const SealedSegment& s) override {
    return inner_->Append(g, s);
  }
  absl::Status Sync() override { return inner_->Sync(); }
  absl::Status Sync(std::span<const StoredLocation> l) override { return inner_->Sync(l); }
  absl::StatusOr<RecordHeader> Read(const StoredLocation& w, std::vector<uint8_t>* stored,
                                    std::optional<crypto::SegmentId> e) const override {
    return inner_->Read(w, stored, e);
  }
  absl::Status SealOpenContainers() override { return inner_->SealOpenContainers(); }
  absl::StatusOr<std::vector<uint64_t>> List() const override { return inner_->List(); }
  bool IsOpenForAppend(uint64_t id) const override { return inner_->IsOpenForAppend(id); }
  absl::Status Remove(uint64_t id) override { return inner_->Remove(id); }
  absl::StatusOr<uint64_t> FileSize(uint64_t id) const override { return inner_->FileSize(id); }
  absl::StatusOr<std::unique_ptr<ContainerReader>> OpenReader(uint64_t id) const override {
    return inner_->OpenReader(id);
  }
  CatalogLog* catalog_log() override { return &log_; }

 private:
  std::unique_ptr<ContainerStore> inner_;
  RefusingLog log_;
};

TEST_CASE("S3 DR: the local disk lost, the pool is recovered from the bucket and restores every acknowledged image bit-exact",
          "[s3][dr]") {
  CephS3& ceph = CephS3::Get();
  std::unique_ptr<S3Client> client = ceph.Client(CephS3::NewBucketName());
  PoolOptions options = S3Options(client.get());
  PoolFixture f(options);
  const Id128 pool_id = PoolId(f);

  const std::vector<uint8_t> gen1 = ImageContent({1, 2'000'000});
  const std::vector<uint8_t> gen2 = ImageContent({2, 2'000'000});
  const std::vector<uint8_t> gen3 = ImageContent({3, 1'500'000});
  REQUIRE(f.WriteImage("gen1", gen1).ok());
  REQUIRE(f.WriteImage("gen2", gen2).ok());
  REQUIRE(f.WriteImage("gen3", gen3).ok());
  // Deletes, the delete queue and compaction are catalog changes a recovery must replay too.
  REQUIRE(f.pool().DeleteImage({kTestLsu, "", "gen2"}, DeleteBy::kAdmin).ok());
  REQUIRE(f.pool().ProcessDeleteQueue().ok());
  CompactOptions compact;
  compact.live_threshold = 1.0;
  REQUIRE(f.pool().Compact(compact).ok());
  auto stats_before = f.pool().Stats();
  REQUIRE(stats_before.ok());

  // Only the backup Create took (sequence 0) and commit records after it are in the bucket.
  CHECK(Numbers(*client, s3::CatalogBackupPrefix(kPrefix, pool_id)) == std::vector<uint64_t>{0});
  const std::vector<uint64_t> records =
      Numbers(*client, s3::CommitRecordPrefix(kPrefix, pool_id));
  REQUIRE(!records.empty());
  CHECK(records.front() == 1);
  CHECK(records.back() == records.size());

  DestroyLocalDisk(f);
  CHECK(absl::IsNotFound(f.TryOpen()));  // no pool folder at all

  auto report = Pool::RecoverFromBucket(f.dir(), pool_id, options);
  REQUIRE(report.ok());
  CHECK(report->backup_seq == 0);
  CHECK(report->records_replayed == records.size());
  CHECK(report->last_seq == records.back());
  CHECK(report->backups_skipped.empty());
  // A second recovery into the recovered folder is refused: it holds a pool.
  CHECK(absl::IsAlreadyExists(Pool::RecoverFromBucket(f.dir(), pool_id, options).status()));

  REQUIRE(f.TryOpen().ok());
  CheckImage(f, "gen1", gen1);
  CheckImage(f, "gen3", gen3);
  CHECK(absl::IsNotFound(f.ReadAll("gen2").status()));
  auto stats_after = f.pool().Stats();
  REQUIRE(stats_after.ok());
  CHECK(stats_after->images == stats_before->images);
  CHECK(stats_after->segments == stats_before->segments);
  CHECK(stats_after->containers == stats_before->containers);
  CHECK(stats_after->logical_bytes == stats_before->logical_bytes);
  auto verify = f.pool().Verify();
  REQUIRE(verify.ok());
  CHECK(verify->ok());
  auto scrub = f.pool().Scrub();
  REQUIRE(scrub.ok());
  CHECK(scrub->ok());

  // The recovered pool goes on: a new image, then the disk lost again, recovered again.
  const std::vector<uint8_t> gen4 = ImageContent({4, 1'000'000});
  REQUIRE(f.WriteImage("gen4", gen4).ok());
  DestroyLocalDisk(f);
  auto again = Pool::RecoverFromBucket(f.dir(), pool_id, options);
  REQUIRE(again.ok());
  CHECK(again->last_seq > report->last_seq);
  REQUIRE(f.TryOpen().ok());
  CheckImage(f, "gen1", gen1);
  CheckImage(f, "gen3", gen3);
  CheckImage(f, "gen4", gen4);

  // Another pool id finds nothing in the bucket.
  Id128 other = pool_id;
  other[0] ^= 1;
  const std::string elsewhere = f.dir() + "-other";
  CHECK(absl::IsNotFound(Pool::RecoverFromBucket(elsewhere, other, options).status()));
  std::filesystem::remove_all(elsewhere);
}

TEST_CASE("S3 DR: a catalog backup followed by more commits, old records pruned, a damaged newest backup falls back to the older one",
          "[s3][dr]") {
  CephS3& ceph = CephS3::Get();
  std::unique_ptr<S3Client> client = ceph.Client(CephS3::NewBucketName());
  PoolOptions options = S3Options(client.get());
  PoolFixture f(options);
  const Id128 pool_id = PoolId(f);
  const std::string backups_folder = s3::CatalogBackupPrefix(kPrefix, pool_id);
  const std::string records_folder = s3::CommitRecordPrefix(kPrefix, pool_id);

  std::vector<std::vector<uint8_t>> gens;
  for (uint64_t i = 0; i < 4; ++i) gens.push_back(ImageContent({10 + i, 1'000'000}));
  REQUIRE(f.WriteImage("gen0", gens[0]).ok());
  // A copy of the catalog now: by the end, the records after it are pruned.
  f.Close();
  const std::string stale = f.dir() + "-stale-catalog";
  std::filesystem::copy(f.catalog_dir(), stale, std::filesystem::copy_options::recursive);
  REQUIRE(f.TryOpen().ok());
  auto b1 = f.pool().BackupCatalogToBucket();
  REQUIRE(b1.ok());
  REQUIRE(f.WriteImage("gen1", gens[1]).ok());
  auto b2 = f.pool().BackupCatalogToBucket();
  REQUIRE(b2.ok());
  REQUIRE(f.WriteImage("gen2", gens[2]).ok());
  auto b3 = f.pool().BackupCatalogToBucket();
  REQUIRE(b3.ok());
  CHECK(*b1 < *b2);
  CHECK(*b2 < *b3);
  // Two backups kept; the commit records the older kept one covers are gone.
  CHECK(Numbers(*client, backups_folder) == std::vector<uint64_t>{*b2, *b3});
  std::vector<uint64_t> records = Numbers(*client, records_folder);
  REQUIRE(!records.empty());
  CHECK(records.front() == *b2 + 1);
  REQUIRE(f.WriteImage("gen3", gens[3]).ok());  // after the newest backup: records only
  records = Numbers(*client, records_folder);
  const uint64_t last = records.back();
  CHECK(last > *b3);

  // The old copy cannot catch up (records it needs were pruned): refused, nothing written.
  f.Close();
  std::filesystem::rename(f.catalog_dir(), f.dir() + "-current-catalog");
  std::filesystem::rename(stale, f.catalog_dir());
  const absl::Status refused = f.TryOpen();
  CHECK(absl::IsFailedPrecondition(refused));
  CHECK_THAT(std::string(refused.message()), Catch::Contains("older than the bucket"));
  CHECK(Numbers(*client, records_folder).back() == last);
  std::filesystem::remove_all(f.catalog_dir());
  std::filesystem::rename(f.dir() + "-current-catalog", f.catalog_dir());
  REQUIRE(f.TryOpen().ok());

  DestroyLocalDisk(f);
  auto report = Pool::RecoverFromBucket(f.dir(), pool_id, options);
  REQUIRE(report.ok());
  CHECK(report->backup_seq == *b3);
  CHECK(report->records_replayed == last - *b3);
  CHECK(report->last_seq == last);
  REQUIRE(f.TryOpen().ok());
  for (size_t i = 0; i < gens.size(); ++i) CheckImage(f, "gen" + std::to_string(i), gens[i]);

  // The newest backup damaged behind the pool's back: recovery says so and uses the older one
  // with the records after it.
  DestroyLocalDisk(f);
  const std::string newest = s3::CatalogBackupKey(kPrefix, pool_id, *b3);
  auto object = client->GetObject(newest, 1 << 30);
  REQUIRE(object.ok());
  (*object)[object->size() / 2] ^= 0x10;
  REQUIRE(client->Put(newest, *object).ok());
  auto fallback = Pool::RecoverFromBucket(f.dir(), pool_id, options);
  REQUIRE(fallback.ok());
  CHECK(fallback->backup_seq == *b2);
  REQUIRE(fallback->backups_skipped.size() == 1);
  CHECK_THAT(fallback->backups_skipped[0], Catch::Contains(newest));
  CHECK(fallback->last_seq == last);
  REQUIRE(f.TryOpen().ok());
  for (size_t i = 0; i < gens.size(); ++i) CheckImage(f, "gen" + std::to_string(i), gens[i]);
}

TEST_CASE("S3 DR: a damaged, truncated or missing commit record is DataLoss naming it, and a stale local catalog catches up at open",
          "[s3][dr]") {
  CephS3& ceph = CephS3::Get();
  std::unique_ptr<S3Client> client = ceph.Client(CephS3::NewBucketName());
  PoolOptions options = S3Options(client.get());
  PoolFixture f(options);
  const Id128 pool_id = PoolId(f);
  const std::vector<uint8_t> gen1 = ImageContent({21, 1'000'000});
  const std::vector<uint8_t> gen2 = ImageContent({22, 1'000'000});
  REQUIRE(f.WriteImage("gen1", gen1).ok());

  // A copy of the catalog as it is now, to put back later (a disk restored from an old
  // snapshot, or a second host): the bucket will be ahead of it.
  f.Close();
  const std::string stale = f.dir() + "-stale-catalog";
  std::filesystem::copy(f.catalog_dir(), stale, std::filesystem::copy_options::recursive);
  REQUIRE(f.TryOpen().ok());
  REQUIRE(f.WriteImage("gen2", gen2).ok());
  f.Close();
  std::filesystem::remove_all(f.catalog_dir());
  std::filesystem::rename(stale, f.catalog_dir());
  // The bucket is ahead: the open applies the records the copy lacks (as after a crash that
  // lost the catalog's unsynced tail), and gen2 is there.
  { absl::Status opened = f.TryOpen(); INFO(opened); REQUIRE(opened.ok()); }
  CheckImage(f, "gen1", gen1);
  CheckImage(f, "gen2", gen2);
  // Ids go on past the caught-up history (the allocators are reloaded): a new image does not
  // take gen2's image or segment ids.
  const std::vector<uint8_t> gen2b = ImageContent({24, 600'000});
  REQUIRE(f.WriteImage("gen2b", gen2b).ok());
  CheckImage(f, "gen2", gen2);
  CheckImage(f, "gen2b", gen2b);
  auto verify = f.pool().Verify();
  REQUIRE(verify.ok());
  CHECK(verify->ok());
  f.Close();
  std::filesystem::remove_all(f.dir());

  const std::vector<uint64_t> records =
      Numbers(*client, s3::CommitRecordPrefix(kPrefix, pool_id));
  REQUIRE(records.size() >= 3);
  const uint64_t victim = records[records.size() / 2];
  const std::string key = s3::CommitRecordKey(kPrefix, pool_id, victim);
  auto original = client->GetObject(key, 1 << 30);
  REQUIRE(original.ok());

  auto expect_loss = [&](std::string_view what, std::string_view says) {
    INFO(what);
    auto r = Pool::RecoverFromBucket(f.dir(), pool_id, options);
    REQUIRE(absl::IsDataLoss(r.status()));
    const std::string message(r.status().message());
    INFO(message);
    CHECK_THAT(message, Catch::Contains("commit record " + std::to_string(victim)));
    CHECK_THAT(message, Catch::Contains(std::string(says)));
    // Nothing half-made is left: the folder is empty and a pool does not open there.
    CHECK_FALSE(std::filesystem::exists(f.catalog_dir()));
    CHECK(std::filesystem::is_empty(f.dir()));
  };

  std::vector<uint8_t> flipped = *original;
  flipped[s3::kCommitRecordHeaderSize + 3] ^= 0x01;
  REQUIRE(client->Put(key, flipped).ok());
  expect_loss("one batch byte flipped", key);

  std::vector<uint8_t> truncated(original->begin(), original->begin() + static_cast<std::ptrdiff_t>(original->size() / 2));
  REQUIRE(client->Put(key, truncated).ok());
  expect_loss("truncated to half", key);

  // A valid record, under another record's name.
  auto neighbour = client->GetObject(s3::CommitRecordKey(kPrefix, pool_id, victim + 1), 1 << 30);
  REQUIRE(neighbour.ok());
  REQUIRE(client->Put(key, *neighbour).ok());
  expect_loss("another record's bytes", "holds sequence number");

  REQUIRE(client->Delete(key).ok());
  expect_loss("deleted", "is missing");

  // Put back: recovery works, everything acknowledged is there.
  REQUIRE(client->Put(key, *original).ok());
  std::filesystem::remove_all(f.dir());
  auto report = Pool::RecoverFromBucket(f.dir(), pool_id, options);
  REQUIRE(report.ok());
  CHECK(report->last_seq == records.back());
  REQUIRE(f.TryOpen().ok());
  CheckImage(f, "gen1", gen1);
  CheckImage(f, "gen2", gen2);
  CheckImage(f, "gen2b", gen2b);

  // The background backup: once catalog_backup_every_records records were written since the
  // last backup, one covering them appears in the bucket (polled, no fixed sleep).
  f.Close();
  f.options().catalog_backup_every_records = 5;
  REQUIRE(f.TryOpen().ok());
  const std::string backups_folder = s3::CatalogBackupPrefix(kPrefix, pool_id);
  const uint64_t newest_before = Numbers(*client, backups_folder).back();
  REQUIRE(f.WriteImage("gen3", ImageContent({23, 500'000})).ok());
  const uint64_t written = Numbers(*client, s3::CommitRecordPrefix(kPrefix, pool_id)).back();
  REQUIRE(written >= newest_before + 5);
  uint64_t newest = newest_before;
  for (int i = 0; i < 600 && newest < newest_before + 5; ++i) {
    newest = Numbers(*client, backups_folder).back();
    if (newest < newest_before + 5) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(newest >= newest_before + 5);
}

}  // namespace
}  // namespace sealpool::storage

namespace sealpool::storage {
namespace {

TEST_CASE("S3 DR: an image commit waits for its commit record: a refused record fails the commit and nothing of it is visible or recovered",
          "[s3][dr]") {
  CephS3& ceph = CephS3::Get();
  std::unique_ptr<S3Client> client = ceph.Client(CephS3::NewBucketName());
  PoolOptions options = S3Options(client.get());
  std::atomic<bool>* refuse = nullptr;
  PoolOptions refusing = options;
  refusing.container_store = [&options, &refuse](const Id128& pool_id,
                                                std::function<absl::StatusOr<uint64_t>()> alloc)
      -> absl::StatusOr<std::unique_ptr<ContainerStore>> {
    auto inner = options.container_store(pool_id, std::move(alloc));
    if (!inner.ok()) return inner.status();
    return std::unique_ptr<ContainerStore>(
        std::make_unique<StoreWithRefusingLog>(std::move(*inner), &refuse));
  };
  PoolFixture f(refusing);
  REQUIRE(refuse != nullptr);
  const Id128 pool_id = PoolId(f);
  const std::vector<uint8_t> kept = ImageContent({31, 800'000});
  const std::vector<uint8_t> refused = ImageContent({32, 800'000});
  REQUIRE(f.WriteImage("kept", kept).ok());

  refuse->store(true);
  auto write = f.WriteImage("refused", refused);
  CHECK(absl::IsUnavailable(write.status()));
  CHECK_THAT(std::string(write.status().message()), Catch::Contains("refuses commit records"));
  refuse->store(false);
  CHECK(absl::IsNotFound(f.ReadAll("refused").status()));
  CheckImage(f, "kept", kept);

  DestroyLocalDisk(f);
  auto report = Pool::RecoverFromBucket(f.dir(), pool_id, options);
  REQUIRE(report.ok());
  f.options() = options;
  REQUIRE(f.TryOpen().ok());
  CheckImage(f, "kept", kept);
  CHECK(absl::IsNotFound(f.ReadAll("refused").status()));
  auto verify = f.pool().Verify();
  REQUIRE(verify.ok());
  CHECK(verify->ok());
}


// ---- a pool whose only S3 stores are its key groups' (sealpoold's way; docs/s3.md "Which
// folder holds the catalog") ----

// Opens each S3 group's store on its own client, as sealpoold's OpenS3GroupStore does.
struct GroupStoreFactory {
  CephS3& ceph = CephS3::Get();
  std::string bucket = CephS3::NewBucketName();
  std::unique_ptr<S3Client> admin = ceph.Client(bucket);  // creates the bucket

  ContainerTarget Target(std::string prefix) const { return {ceph.endpoint(), bucket, prefix}; }

  absl::StatusOr<std::unique_ptr<ContainerStore>> Open(const std::string& prefix,
                                                       const Id128& pool_id,
                                                       std::function<absl::StatusOr<uint64_t>()> ids,
                                                       const std::map<uint64_t, uint64_t>* sizes) {
    auto secret = s3::ReadSecretKeyFile(ceph.secret_key_file());
    if (!secret.ok()) return secret.status();
    auto client = S3Client::Create(ceph.Target(bucket), *std::move(secret), {});
    if (!client.ok()) return client.status();
    s3::S3ContainerStoreOptions o;
    o.containers.target_size = 256 << 10;
    // As sealpoold does, for the recovery too (which reads only the catalog log).
    const std::map<uint64_t, uint64_t> none;
    auto store = S3ContainerStore::OpenWithSizes(*std::move(client), prefix, pool_id, o,
                                                 std::move(ids), sizes != nullptr ? *sizes : none);
    if (!store.ok()) return store.status();
    return std::unique_ptr<ContainerStore>(std::move(*store));
  }
  PoolOptions Options() {
    PoolOptions options = SmallPoolOptions();
    options.catalog_backup_every_records = 0;
    options.group_container_store =
        [this](const GroupStoreRequest& r) -> absl::StatusOr<std::unique_ptr<ContainerStore>> {
      return Open(r.target.s3_prefix, r.pool_id, r.allocate_id, &r.container_sizes);
    };
    return options;
  }
  // What a recovery opens: the folder of the group that holds the catalog.
  PoolOptions RecoveryOptions(const std::string& prefix) {
    PoolOptions options = Options();
    options.container_store = [this, prefix](const Id128& pool_id,
                                             std::function<absl::StatusOr<uint64_t>()> ids) {
      return Open(prefix, pool_id, std::move(ids), nullptr);
    };
    return options;
  }
};

TEST_CASE("S3 DR per key group: a pool with only group stores logs its catalog in the lowest S3 group's folder and is recovered from it",
          "[s3][dr]") {
  GroupStoreFactory stores;
  PoolFixture f(stores.Options());  // kg1 / lsu1: local files; no catalog log yet
  const Id128 pool_id = PoolId(f);
  S3Client& admin = *stores.admin;
  const std::string a_commits = s3::CommitRecordPrefix("ga/", pool_id);
  const std::string a_backups = s3::CatalogBackupPrefix("ga/", pool_id);
  CHECK(Numbers(admin, a_commits).empty());
  CHECK(absl::IsFailedPrecondition(f.pool().BackupCatalogToBucket().status()));

  for (const char* g : {"kg-a", "kg-b"}) {
    const std::string rk = f.kms().AddRootKey(g);
    REQUIRE(f.kms().Activate(rk).ok());
  }
  REQUIRE(f.pool().CreateKeyGroup("kg-a", "builtin", stores.Target("ga/")).ok());
  // The first S3 group took a backup at once (the base of a recovery) and logs from then on.
  CHECK(Numbers(admin, a_backups) == std::vector<uint64_t>{0});
  REQUIRE(f.pool().CreateKeyGroup("kg-b", "builtin", stores.Target("gb/")).ok());
  REQUIRE(f.pool().CreateLsu("lsu-a", "kg-a", LsuOptions{}).ok());
  REQUIRE(f.pool().CreateLsu("lsu-b", "kg-b", LsuOptions{}).ok());
  const std::vector<uint8_t> image_a = ImageContent({41, 1'200'000});
  const std::vector<uint8_t> image_b = ImageContent({42, 900'000});
  REQUIRE(f.WriteImage("img-a", image_a, "lsu-a").ok());
  REQUIRE(f.WriteImage("img-b", image_b, "lsu-b").ok());

  // Every catalog batch since the first S3 group is a commit record in kg-a's folder (the
  // lowest-numbered S3 group), none in kg-b's.
  std::vector<uint64_t> records = Numbers(admin, a_commits);
  REQUIRE(!records.empty());
  CHECK(records.front() == 1);
  CHECK(records.back() == records.size());
  CHECK(Numbers(admin, s3::CommitRecordPrefix("gb/", pool_id)).empty());
  CHECK(Numbers(admin, s3::CatalogBackupPrefix("gb/", pool_id)).empty());

  // Reopened: the log goes on in the same folder (the open catches up nothing, writes on).
  f.Reopen();
  const std::vector<uint8_t> image_a2 = ImageContent({43, 700'000});
  REQUIRE(f.WriteImage("img-a2", image_a2, "lsu-a").ok());
  CHECK(Numbers(admin, a_commits).size() > records.size());

  DestroyLocalDisk(f);
  // The folder of a group that holds no catalog: nothing to recover from.
  CHECK(absl::IsNotFound(
      Pool::RecoverFromBucket(f.dir(), pool_id, stores.RecoveryOptions("gb/")).status()));
  std::filesystem::remove_all(f.dir());
  auto report = Pool::RecoverFromBucket(f.dir(), pool_id, stores.RecoveryOptions("ga/"));
  REQUIRE(report.ok());
  CHECK(report->backup_seq == 0);
  CHECK(report->last_seq == Numbers(admin, a_commits).back());
  REQUIRE(f.TryOpen().ok());
  auto a = f.ReadAll("img-a", "lsu-a");
  REQUIRE(a.ok());
  CHECK(*a == image_a);
  auto b = f.ReadAll("img-b", "lsu-b");
  REQUIRE(b.ok());
  CHECK(*b == image_b);
  auto a2 = f.ReadAll("img-a2", "lsu-a");
  REQUIRE(a2.ok());
  CHECK(*a2 == image_a2);
  auto verify = f.pool().Verify();
  REQUIRE(verify.ok());
  CHECK(verify->ok());

  // A takeover of kg-a's folder by another host fences this pool's commit records: an image
  // of the local group (no S3 upload at all) is refused at its commit record, not committed.
  {
    auto secret = s3::ReadSecretKeyFile(stores.ceph.secret_key_file());
    REQUIRE(secret.ok());
    auto client = S3Client::Create(stores.ceph.Target(stores.bucket), *std::move(secret), {});
    REQUIRE(client.ok());
    s3::S3LeaseOptions takeover;
    takeover.takeover = true;
    takeover.takeover_quiet = absl::ZeroDuration();
    s3::LeaseRecord other = s3::S3Lease::Self();
    other.host = "host-b";
    other.machine_id = "";
    other.pid = 1;
    takeover.self = other;
    auto lease = s3::S3Lease::Acquire(client->get(), "ga/", pool_id, takeover);
    REQUIRE(lease.ok());
    const std::vector<uint8_t> local = ImageContent({44, 300'000});
    auto write = f.WriteImage("fenced", local);
    INFO(write.status());
    CHECK(absl::IsFailedPrecondition(write.status()));
    CHECK_THAT(std::string(write.status().message()), Catch::Contains("fenced"));
    CHECK(absl::IsNotFound(f.ReadAll("fenced").status()));
    f.Close();
    lease->reset();
  }
}

}  // namespace
}  // namespace sealpool::storage
