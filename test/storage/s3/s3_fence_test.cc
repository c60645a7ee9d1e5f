// Fencing and the orphan sweep of the S3 container store against a real radosgw
// (docs/s3.md "Fencing", "Orphans and the sweep"): a second pool on the same folder is refused
// naming the holder; a takeover fences the old holder before it uploads, removes or sweeps; a
// dead holder of this machine is replaced without asking; hostile lease and intent objects are
// refused or left alone; the sweep removes only unreferenced objects older than the grace.
#include <atomic>
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "storage/s3/s3_container_store.h"
#include "storage/s3/s3_lease.h"
#include "storage/s3/s3_orphans.h"
#include "test/storage/s3/ceph_fixture.h"
#include "test/storage/store/store_test_util.h"

namespace sealpool::storage::s3 {
namespace {

using test::CephS3;
using testing::MakeSegment;

Id128 Filled(uint8_t v) {
  Id128 id;
  id.fill(v);
  return id;
}

struct Ids {
  std::atomic<uint64_t> next{1};
  std::function<absl::StatusOr<uint64_t>()> fn() {
    return [this]() -> absl::StatusOr<uint64_t> { return next++; };
  }
};

std::string Str(const absl::Status& s) { return std::string(s.message()); }

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Another machine, as a lease record describes it.
LeaseRecord OtherHost(const std::string& host) {
  LeaseRecord r;
  r.host = host;
  r.machine_id = std::string(32, 'e');
  r.boot_id = std::string(1, 'b');  // not = "b": GCC 12 -O3 -Wrestrict false positive
  r.pid = 77;
  r.start_ticks = 5;
  return r;
}

S3ContainerStoreOptions As(std::optional<LeaseRecord> self, bool takeover = false) {
  S3ContainerStoreOptions o;
  o.lease.self = std::move(self);
  o.lease.takeover = takeover;
  o.lease.takeover_quiet = absl::ZeroDuration();
  return o;
}

std::set<std::string> Keys(S3Client& client, const std::string& prefix) {
  auto listed = client.List(prefix);
  REQUIRE(listed.ok());
  std::set<std::string> keys;
  for (const auto& o : *listed) keys.insert(o.key);
  return keys;
}

TEST_CASE(
    "S3 fencing: a second pool on the folder is refused naming the holder / same process shares / "
    "released folder opens",
    "[s3][fence]") {
  CephS3& ceph = CephS3::Get();
  auto client = ceph.Client(CephS3::NewBucketName());
  const Id128 pool = Filled(0x31);
  Ids ids;
  auto a = S3ContainerStore::Open(client.get(), "p/", pool, {}, ids.fn());
  REQUIRE(a.ok());
  REQUIRE((*a)->lease() != nullptr);
  CHECK((*a)->lease()->record().generation == 1);
  const LeaseRecord self = S3Lease::Self();

  auto b = S3ContainerStore::Open(client.get(), "p/", pool, As(OtherHost("host-b")), ids.fn());
  REQUIRE(absl::IsFailedPrecondition(b.status()));
  CHECK_THAT(Str(b.status()), Catch::Contains("is held by host " + self.host + " pid " +
                                              std::to_string(self.pid) + " (generation 1"));
  CHECK_THAT(Str(b.status()), Catch::Contains("a second pool on the same prefix is refused"));

  // The same process (another key group's store) shares the lease.
  auto a2 = S3ContainerStore::Open(client.get(), "p/", pool, {}, ids.fn());
  REQUIRE(a2.ok());
  CHECK((*a2)->lease() == (*a)->lease());
  // Another pool's folder in the same bucket is independent.
  auto other_pool =
      S3ContainerStore::Open(client.get(), "p/", Filled(0x32), As(OtherHost("host-b")), ids.fn());
  REQUIRE(other_pool.ok());

  // Closed cleanly: released; another host opens it without a takeover.
  a->reset();
  a2->reset();
  const std::string folder = PoolFolder("p/", pool);
  bool released = false;
  for (const std::string& k : Keys(*client, folder + "lease/"))
    released |= k.ends_with(".released");
  CHECK(released);
  auto c = S3ContainerStore::Open(client.get(), "p/", pool, As(OtherHost("host-c")), ids.fn());
  REQUIRE(c.ok());
  CHECK((*c)->lease()->record().generation == 2);
  CHECK_FALSE((*c)->lease()->record().takeover);
}

TEST_CASE(
    "S3 fencing: after a takeover the old holder fails its next upload, remove and sweep before "
    "touching anything",
    "[s3][fence]") {
  CephS3& ceph = CephS3::Get();
  auto client = ceph.Client(CephS3::NewBucketName());
  const Id128 pool = Filled(0x41), group = Filled(0x51);
  Ids ids;
  auto a = S3ContainerStore::Open(client.get(), "", pool, As(OtherHost("host-a")), ids.fn());
  REQUIRE(a.ok());
  auto first = (*a)->Append(group, MakeSegment(1, 5000).view());
  REQUIRE(first.ok());
  REQUIRE((*a)->Sync({&*first, 1}).ok());
  auto second = (*a)->Append(group, MakeSegment(2, 5000).view());
  REQUIRE(second.ok());

  auto refused = S3ContainerStore::Open(client.get(), "", pool, As(OtherHost("host-b")), ids.fn());
  REQUIRE(absl::IsFailedPrecondition(refused.status()));
  CHECK_THAT(Str(refused.status()), Catch::Contains("held by host host-a pid 77 (generation 1"));
  auto b = S3ContainerStore::Open(client.get(), "", pool, As(OtherHost("host-b"), true), ids.fn());
  REQUIRE(b.ok());
  CHECK((*b)->lease()->record().generation == 2);
  CHECK((*b)->lease()->record().takeover);

  const std::string containers = ContainerObjectPrefix("", pool);
  const std::string intents = IntentPrefix("", pool);
  const std::set<std::string> objects_before = Keys(*client, containers);
  const std::set<std::string> intents_before = Keys(*client, intents);
  // Upload: refused before its intent or object is written.
  absl::Status sync = (*a)->Sync({&*second, 1});
  REQUIRE(absl::IsFailedPrecondition(sync));
  CHECK_THAT(Str(sync), Catch::Contains("fenced: generation 1"));
  CHECK_THAT(Str(sync), Catch::Contains("taken over by host host-b pid 77 (generation 2"));
  CHECK((*a)->lease()->fenced());
  // Compaction's delete and the sweep: refused, nothing removed.
  absl::Status remove = (*a)->Remove(first->container_id);
  REQUIRE(absl::IsFailedPrecondition(remove));
  CHECK_THAT(Str(remove), Catch::Contains("fenced: generation 1"));
  auto sweep = (*a)->SweepOrphans({.grace = absl::ZeroDuration()},
                                  [](uint64_t) -> absl::StatusOr<bool> { return false; });
  REQUIRE(absl::IsFailedPrecondition(sweep.status()));
  CHECK_THAT(Str(sweep.status()), Catch::Contains("fenced"));
  CHECK(Keys(*client, containers) == objects_before);
  CHECK(Keys(*client, intents) == intents_before);
  CHECK(objects_before.size() == 1);

  // The new holder writes and reads.
  auto mine = (*b)->Append(group, MakeSegment(3, 5000).view());
  REQUIRE(mine.ok());
  REQUIRE((*b)->Sync({&*mine, 1}).ok());
  std::vector<uint8_t> stored;
  REQUIRE((*b)->Read(*mine, &stored, crypto::SegmentId(3)).ok());
  // The fenced store does not release (its marker would lie): B's generation stays the owner.
  a->reset();
  for (const std::string& k : Keys(*client, PoolFolder("", pool) + "lease/")) {
    CHECK_FALSE(k.ends_with(".released"));
  }
  CHECK((*b)->lease()->Check().ok());
}

TEST_CASE(
    "S3 fencing: a dead holder of this machine is replaced without a takeover, a deleted claim "
    "fences",
    "[s3][fence]") {
  CephS3& ceph = CephS3::Get();
  auto client = ceph.Client(CephS3::NewBucketName());
  const Id128 pool = Filled(0x61);
  LeaseRecord dead = S3Lease::Self();
  dead.pool_id = pool;
  dead.generation = 4;
  dead.pid = 0x7ffffff0;  // above any pid_max: no such process
  const std::string folder = PoolFolder("", pool);
  REQUIRE(client
              ->Put(folder + "lease/00000000000000000004-00000000000000aa",
                    Bytes(EncodeLeaseRecord(dead)))
              .ok());
  Ids ids;
  auto a = S3ContainerStore::Open(client.get(), "", pool, {}, ids.fn());
  REQUIRE(a.ok());
  CHECK((*a)->lease()->record().generation == 5);
  CHECK_FALSE((*a)->lease()->record().takeover);

  // The same record, but of a live process on another machine: refused.
  const Id128 pool2 = Filled(0x62);
  LeaseRecord alive = OtherHost("host-x");
  alive.pool_id = pool2;
  alive.generation = 1;
  REQUIRE(client
              ->Put(PoolFolder("", pool2) + "lease/00000000000000000001-00000000000000bb",
                    Bytes(EncodeLeaseRecord(alive)))
              .ok());
  auto b = S3ContainerStore::Open(client.get(), "", pool2, {}, ids.fn());
  REQUIRE(absl::IsFailedPrecondition(b.status()));
  CHECK_THAT(Str(b.status()), Catch::Contains("held by host host-x"));

  // Someone deletes the holder's claim behind its back: it stops writing.
  REQUIRE(client->Delete((*a)->lease()->claim_key()).ok());
  auto seg = (*a)->Append(Filled(1), MakeSegment(1, 100).view());
  REQUIRE(seg.ok());
  absl::Status s = (*a)->Sync({&*seg, 1});
  REQUIRE(absl::IsFailedPrecondition(s));
  CHECK_THAT(Str(s), Catch::Contains("its lease object"));
  CHECK_THAT(Str(s), Catch::Contains("is gone"));
}

TEST_CASE(
    "S3 fencing: hostile generation objects are refused with a clear error, a takeover replaces "
    "them, junk names are ignored",
    "[s3][fence]") {
  CephS3& ceph = CephS3::Get();
  auto client = ceph.Client(CephS3::NewBucketName());
  LeaseRecord good = OtherHost("host-h");
  good.generation = 1;
  const std::string truncated = EncodeLeaseRecord(good).substr(0, 40);
  LeaseRecord foreign = good;
  foreign.pool_id = Filled(0xee);
  const std::vector<std::pair<std::string, std::string>> bodies = {
      {"truncated", truncated},
      {"garbage", std::string("\x89PNG\r\n\x1a\n\0\0\0", 11)},
      {"oversized", std::string(5000, 'a')},
      {"empty", ""},
      {"another pool's", EncodeLeaseRecord(foreign)},
  };
  uint8_t n = 0x70;
  Ids ids;
  for (const auto& [what, body] : bodies) {
    INFO(what);
    const Id128 pool = Filled(++n);
    const std::string key = PoolFolder("", pool) + "lease/00000000000000000001-0123456789abcdef";
    REQUIRE(client->Put(key, Bytes(body)).ok());
    auto refused = S3ContainerStore::Open(client.get(), "", pool, {}, ids.fn());
    REQUIRE(absl::IsFailedPrecondition(refused.status()));
    CHECK_THAT(Str(refused.status()), Catch::Contains("is malformed"));
    CHECK_THAT(Str(refused.status()), Catch::Contains("take over only for disaster recovery"));
    auto taken = S3ContainerStore::Open(client.get(), "", pool, As(std::nullopt, true), ids.fn());
    REQUIRE(taken.ok());
    CHECK((*taken)->lease()->record().generation == 2);
    CHECK((*taken)->lease()->record().takeover);
  }
  // Keys under lease/ that are not claims cannot hold the folder.
  const Id128 pool = Filled(0x7f);
  for (const char* junk : {"README", "1-2", "00000000000000000009-XYZ", "99999999999999999999"}) {
    REQUIRE(client->Put(PoolFolder("", pool) + "lease/" + junk, Bytes("junk\n")).ok());
  }
  auto open = S3ContainerStore::Open(client.get(), "", pool, {}, ids.fn());
  REQUIRE(open.ok());
  CHECK((*open)->lease()->record().generation == 1);
}

TEST_CASE(
    "S3 sweep: unreferenced objects older than the grace go, young and referenced ones stay, "
    "hostile intents are left alone",
    "[s3][sweep]") {
  CephS3& ceph = CephS3::Get();
  auto client = ceph.Client(CephS3::NewBucketName());
  const Id128 pool = Filled(0x81);
  Ids ids;
  auto store = S3ContainerStore::Open(client.get(), "s/", pool, {}, ids.fn());
  REQUIRE(store.ok());
  // Containers 1..4, one per group and sync.
  std::vector<StoredLocation> where;
  for (uint8_t i = 1; i <= 4; ++i) {
    auto loc = (*store)->Append(Filled(i), MakeSegment(i, 2000).view());
    REQUIRE(loc.ok());
    REQUIRE((*store)->Sync({&*loc, 1}).ok());
    where.push_back(*loc);
  }
  const std::string containers = ContainerObjectPrefix("s/", pool);
  const std::string intents = IntentPrefix("s/", pool);
  REQUIRE(Keys(*client, intents).size() == 4);  // one intent before each PUT
  // Container 4 lost its intent (as if swept earlier): its age comes from its header.
  REQUIRE(client->Delete(IntentKey("s/", pool, 4)).ok());
  // An intent whose PUT never happened (container 9), dated long ago.
  IntentRecord never;
  never.pool_id = pool;
  never.container_id = 9;
  never.unix_micros = 1'000'000;
  REQUIRE(client->Put(IntentKey("s/", pool, 9), Bytes(EncodeIntentRecord(never))).ok());
  // Hostile intents: garbage, another pool's, naming another container, oversized, a bad name.
  IntentRecord foreign = never;
  foreign.pool_id = Filled(0x99);
  foreign.container_id = 10;
  IntentRecord mismatch = never;
  mismatch.container_id = 1;
  REQUIRE(client->Put(IntentKey("s/", pool, 10), Bytes(EncodeIntentRecord(foreign))).ok());
  REQUIRE(client->Put(IntentKey("s/", pool, 11), Bytes(EncodeIntentRecord(mismatch))).ok());
  REQUIRE(client->Put(IntentKey("s/", pool, 12), Bytes(std::string("\xff\xfe garbage", 10))).ok());
  REQUIRE(client->Put(IntentKey("s/", pool, 13), Bytes(std::string(4096, 'x'))).ok());
  REQUIRE(client->Put(intents + "not-an-id", Bytes(EncodeIntentRecord(never))).ok());

  std::set<uint64_t> referenced = {1, 3};
  auto is_referenced = [&](uint64_t id) -> absl::StatusOr<bool> { return referenced.contains(id); };
  // Within the grace: nothing unreferenced goes; committed intents (1, 3) are cleaned up.
  auto young = (*store)->SweepOrphans({.grace = absl::Hours(1)}, is_referenced);
  REQUIRE(young.ok());
  CHECK(young->intents_found == 9);
  CHECK(young->intents_malformed == 5);
  CHECK(young->orphans_found == 3);       // 2, 4 and the never-written 9
  CHECK(young->orphans_kept_young == 2);  // 2, 4
  CHECK(young->orphans_removed == 1);     // 9: an intent without an object, long ago
  CHECK(young->intents_removed == 3);     // 1, 3 (committed) and 9
  CHECK(Keys(*client, containers).size() == 4);

  // Two hours later: 2 and 4 go; 1 and 3 (referenced) stay and read back; hostile intents stay.
  OrphanSweepOptions later;
  later.grace = absl::Hours(1);
  later.clock = [] { return absl::Now() + absl::Hours(2); };
  auto old = (*store)->SweepOrphans(later, is_referenced);
  REQUIRE(old.ok());
  CHECK(old->orphans_found == 2);
  CHECK(old->orphans_removed == 2);
  CHECK(old->bytes_removed > 0);
  CHECK(old->intents_malformed == 5);
  CHECK(Keys(*client, containers) == std::set<std::string>{ContainerObjectKey("s/", pool, 1),
                                                           ContainerObjectKey("s/", pool, 3)});
  CHECK(Keys(*client, intents).size() == 5);  // the hostile ones, untouched
  for (size_t i : {size_t{0}, size_t{2}}) {
    std::vector<uint8_t> stored;
    CHECK((*store)->Read(where[i], &stored, crypto::SegmentId(i + 1)).ok());
  }
  CHECK(*(*store)->List() == std::vector<uint64_t>{1, 3});
  // An object dated in the future is young, whatever the grace.
  auto future = (*store)->Append(Filled(7), MakeSegment(7, 100).view());
  REQUIRE(future.ok());
  REQUIRE((*store)->Sync({&*future, 1}).ok());
  OrphanSweepOptions earlier;
  earlier.grace = absl::ZeroDuration();
  earlier.clock = [] { return absl::Now() - absl::Hours(2); };
  auto f = (*store)->SweepOrphans(earlier, is_referenced);
  REQUIRE(f.ok());
  CHECK(f->orphans_kept_young == 1);
  CHECK(f->orphans_removed == 0);
  // Bad options.
  CHECK(absl::IsInvalidArgument(
      (*store)->SweepOrphans({.grace = absl::Seconds(-1)}, is_referenced).status()));
  CHECK(absl::IsInvalidArgument((*store)->SweepOrphans({}, nullptr).status()));
}

}  // namespace
}  // namespace sealpool::storage::s3
