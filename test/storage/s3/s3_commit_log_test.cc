// The commit-record and catalog-backup encodings of the S3 LSU (storage/s3/s3_commit_log.h) and
// the catalog's commit log (Catalog::SetCommitLog, ApplyCommitRecord, EncodeBatch/DecodeBatch)
// against well-formed, truncated, damaged and hostile input. No Ceph needed.
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/catalog/catalog.h"
#include "storage/pool/pool.h"
#include "storage/s3/s3_commit_log.h"
#include "storage/store/file_system.h"
#include "storage/store/local_container_store.h"
#include "test/storage/pool/pool_test_util.h"
#include "test/test_util.h"

namespace sealpool::storage {
namespace {

using test::TempDir;

Id128 PoolA() {
  Id128 id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(i + 1);
  return id;
}

CatalogOptions Options() {
  CatalogOptions o;
  o.create_if_missing = true;
  o.block_cache_bytes = size_t{8} << 20;
  o.write_buffer_bytes = size_t{1} << 20;
  return o;
}

Catalog::Batch SampleBatch() {
  Catalog::Batch b;
  b.Put(Cf::kImages, "img", std::string("v\0x", 3));
  b.Delete(Cf::kSegments, "seg");
  b.Add("refs", -7);
  b.Put(Cf::kMeta, "", "");
  return b;
}

TEST_CASE("catalog batch encoding round trips and refuses malformed bytes", "[s3][commitlog]") {
  const std::string bytes = Catalog::EncodeBatch(SampleBatch());
  auto decoded = Catalog::DecodeBatch(bytes);
  REQUIRE(decoded.ok());
  CHECK(Catalog::EncodeBatch(*decoded) == bytes);
  CHECK(decoded->count() == 4);

  // Every truncation is DataLoss, never a shorter batch.
  for (size_t n = 0; n < bytes.size(); ++n) {
    INFO("truncated to " << n);
    CHECK(absl::IsDataLoss(Catalog::DecodeBatch(bytes.substr(0, n)).status()));
  }
  CHECK(absl::IsDataLoss(Catalog::DecodeBatch(bytes + "x").status()));  // trailing byte
  std::string bad_cf = bytes;
  bad_cf[4] = static_cast<char>(kCfCount);
  CHECK(absl::IsDataLoss(Catalog::DecodeBatch(bad_cf).status()));
  std::string bad_kind = bytes;
  bad_kind[5] = 3;
  CHECK(absl::IsDataLoss(Catalog::DecodeBatch(bad_kind).status()));
  // A huge operation count in a few bytes is refused before anything is allocated.
  CHECK(absl::IsDataLoss(Catalog::DecodeBatch(std::string("\xff\xff\xff\x7f", 4)).status()));
  // An addition outside counters or of another size than 8.
  Catalog::Batch add_elsewhere;
  add_elsewhere.Put(Cf::kImages, "k", "12345678");
  std::string forged = Catalog::EncodeBatch(add_elsewhere);
  forged[5] = 2;  // kind: add, in the images family
  CHECK(absl::IsDataLoss(Catalog::DecodeBatch(forged).status()));
  // A key length past the end.
  std::string long_key = bytes;
  long_key[6] = '\x7f';
  CHECK(absl::IsDataLoss(Catalog::DecodeBatch(long_key).status()));
}

TEST_CASE("commit record objects: round trip, and damage, truncation, other pool or sequence are DataLoss",
          "[s3][commitlog]") {
  const Id128 pool = PoolA();
  const std::string batch = Catalog::EncodeBatch(SampleBatch());
  const std::string object = s3::EncodeCommitRecord(pool, 42, batch);
  CHECK(object.size() == s3::kCommitRecordHeaderSize + batch.size() + 8);
  CHECK(object.substr(0, 8) == "SPCOMMIT");
  auto back = s3::DecodeCommitRecord(object, pool, 42);
  REQUIRE(back.ok());
  CHECK(*back == batch);

  for (size_t n = 0; n < object.size(); ++n) {
    INFO("truncated to " << n);
    CHECK(absl::IsDataLoss(s3::DecodeCommitRecord(object.substr(0, n), pool, 42).status()));
  }
  for (size_t at = 0; at < object.size(); ++at) {
    if (at == 8 || at == 9) continue;  // the version: checked below
    std::string damaged = object;
    damaged[at] = static_cast<char>(damaged[at] ^ 0x20);
    INFO("byte " << at << " flipped");
    CHECK(absl::IsDataLoss(s3::DecodeCommitRecord(damaged, pool, 42).status()));
  }
  Id128 other = pool;
  other[3] ^= 1;
  auto wrong_pool = s3::DecodeCommitRecord(object, other, 42);
  CHECK(absl::IsDataLoss(wrong_pool.status()));
  CHECK_THAT(std::string(wrong_pool.status().message()), Catch::Contains("belongs to pool"));
  auto wrong_seq = s3::DecodeCommitRecord(object, pool, 43);
  CHECK(absl::IsDataLoss(wrong_seq.status()));
  CHECK_THAT(std::string(wrong_seq.status().message()), Catch::Contains("commit record 43"));

  std::string newer = object;
  newer[8] = 2;
  CHECK(absl::IsFailedPrecondition(s3::DecodeCommitRecord(newer, pool, 42).status()));
  std::string zero = object;
  zero[8] = 0;
  CHECK(absl::IsDataLoss(s3::DecodeCommitRecord(zero, pool, 42).status()));

  CHECK(s3::CommitRecordKey("p/", pool, 42) ==
        "p/sealpool-0102030405060708090a0b0c0d0e0f10/commits/000000000000002a.spk");
  CHECK(s3::CatalogBackupKey("", pool, 7) ==
        "sealpool-0102030405060708090a0b0c0d0e0f10/catalog-backups/0000000000000007.spb");
}

TEST_CASE("catalog backup objects: round trip, and hostile names, damage and truncation are refused",
          "[s3][commitlog]") {
  const Id128 pool = PoolA();
  s3::BackupFiles files = {{"CURRENT", "MANIFEST-000005\n"}, {"000007.sst", std::string(1000, 'a')},
                           {"empty.log", ""}};
  auto object = s3::EncodeCatalogBackup(pool, 9, files);
  REQUIRE(object.ok());
  auto back = s3::DecodeCatalogBackup(*object, pool, 9);
  REQUIRE(back.ok());
  CHECK(*back == files);
  for (const std::string& name : {std::string(""), std::string("../x"), std::string("a/b"),
                                  std::string(".."), std::string(256, 'n'), std::string("a\nb")}) {
    INFO("name " << name);
    CHECK(absl::IsInvalidArgument(s3::EncodeCatalogBackup(pool, 9, {{name, "x"}}).status()));
  }
  for (size_t n = 0; n < object->size(); n += 7) {
    CHECK(absl::IsDataLoss(s3::DecodeCatalogBackup(object->substr(0, n), pool, 9).status()));
  }
  std::string damaged = *object;
  damaged[damaged.size() / 2] ^= 1;
  CHECK(absl::IsDataLoss(s3::DecodeCatalogBackup(damaged, pool, 9).status()));
  CHECK(absl::IsDataLoss(s3::DecodeCatalogBackup(*object, pool, 10).status()));
}

TEST_CASE("catalog commit log: every write goes to the log first, replay is idempotent and refuses gaps",
          "[s3][commitlog]") {
  TempDir tmp;
  std::map<uint64_t, std::string> log;
  bool refuse = false;
  {
    auto catalog = Catalog::Open(tmp.File("a"), Options());
    REQUIRE(catalog.ok());
    REQUIRE((*catalog)->SetCommitLog([&](uint64_t seq, std::string_view batch) -> absl::Status {
      if (refuse) return absl::UnavailableError("the bucket is away");
      log[seq] = std::string(batch);
      return absl::OkStatus();
    }).ok());
    for (int i = 0; i < 5; ++i) {
      Catalog::Batch b;
      std::string key(1, 'k');
      key += std::to_string(i);  // (not "k" + ...: GCC 12 -O3's -Wrestrict false positive)
      b.Put(Cf::kImages, key, "v");
      b.Add("n", 1);
      REQUIRE((*catalog)->Write(b, /*sync=*/i % 2 == 0).ok());
    }
    CHECK(log.size() == 5);
    CHECK(log.begin()->first == 1);
    auto seq = (*catalog)->CommitSeq();
    REQUIRE(seq.ok());
    CHECK(*seq == 5);
    // A refused log entry: nothing written here, the sequence does not move.
    refuse = true;
    Catalog::Batch lost;
    lost.Put(Cf::kImages, "lost", "v");
    CHECK(absl::IsUnavailable((*catalog)->Write(lost)));
    auto absent = (*catalog)->Get(Cf::kImages, "lost");
    REQUIRE(absent.ok());
    CHECK_FALSE(absent->has_value());
    CHECK(*(*catalog)->CommitSeq() == 5);
    refuse = false;
  }
  {  // The sequence survives a reopen (it is in the catalog).
    auto catalog = Catalog::Open(tmp.File("a"), Options());
    REQUIRE(catalog.ok());
    CHECK(*(*catalog)->CommitSeq() == 5);
  }
  // Replayed into an empty catalog: the same content; twice is the same as once; gaps refused.
  auto replica = Catalog::Open(tmp.File("b"), Options());
  REQUIRE(replica.ok());
  CHECK(absl::IsFailedPrecondition((*replica)->ApplyCommitRecord(2, log[2])));
  for (int round = 0; round < 2; ++round) {
    for (const auto& [seq, batch] : log) REQUIRE((*replica)->ApplyCommitRecord(seq, batch).ok());
  }
  CHECK(*(*replica)->CommitSeq() == 5);
  auto n = (*replica)->GetCounter("n");
  REQUIRE(n.ok());
  CHECK(*n == 5);  // not 10: the second round changed nothing
  auto k4 = (*replica)->Get(Cf::kImages, "k4");
  REQUIRE(k4.ok());
  CHECK(k4->value_or("") == "v");
  CHECK(absl::IsDataLoss((*replica)->ApplyCommitRecord(6, "garbage")));
  CHECK(*(*replica)->CommitSeq() == 5);
  // A checkpoint says which commit it holds.
  auto at = (*replica)->CreateCheckpointAtCommit(tmp.File("cp"));
  REQUIRE(at.ok());
  CHECK(*at == 5);
}

}  // namespace
}  // namespace sealpool::storage

namespace sealpool::storage {
namespace {

TEST_CASE("RecoverFromBucket and BackupCatalogToBucket refuse pools whose containers are not in a bucket",
          "[s3][commitlog]") {
  testing::PoolFixture f;  // local containers
  auto backup = f.pool().BackupCatalogToBucket();
  CHECK(absl::IsFailedPrecondition(backup.status()));
  const Id128 pool_id{};
  TempDir tmp;

  // No container store in the options.
  auto none = Pool::RecoverFromBucket(tmp.File("a"), pool_id, PoolOptions{});
  CHECK(absl::IsInvalidArgument(none.status()));
  // A store that keeps no catalog log (local files).
  PoolOptions local = testing::SmallPoolOptions();
  PosixFileSystem fs;
  local.container_store = [&](const Id128& id, std::function<absl::StatusOr<uint64_t>()> alloc)
      -> absl::StatusOr<std::unique_ptr<ContainerStore>> {
    auto store = LocalContainerStore::Open(&fs, tmp.File("containers"), id, {}, std::move(alloc));
    if (!store.ok()) return store.status();
    return std::unique_ptr<ContainerStore>(std::move(*store));
  };
  REQUIRE(fs.CreateDir(tmp.File("containers")).ok());
  auto not_bucket = Pool::RecoverFromBucket(tmp.File("b"), pool_id, local);
  CHECK(absl::IsInvalidArgument(not_bucket.status()));
  CHECK_THAT(std::string(not_bucket.status().message()), Catch::Contains("no catalog log"));
  // An empty folder name; a folder that holds something (the fixture's pool).
  CHECK(absl::IsInvalidArgument(Pool::RecoverFromBucket("", pool_id, local).status()));
  CHECK(absl::IsAlreadyExists(Pool::RecoverFromBucket(f.dir(), pool_id, local).status()));

  // The backup interval must be positive and finite (a zero one would spin).
  f.Close();
  for (absl::Duration bad : {absl::ZeroDuration(), absl::Seconds(-1), absl::InfiniteDuration()}) {
    f.options().catalog_backup_interval = bad;
    CHECK(absl::IsInvalidArgument(f.TryOpen()));
  }
  f.options().catalog_backup_interval = absl::Hours(1);
  CHECK(f.TryOpen().ok());
}

}  // namespace
}  // namespace sealpool::storage
