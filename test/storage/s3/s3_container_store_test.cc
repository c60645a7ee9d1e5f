// The S3 container store against a real radosgw (ceph_fixture.h): objects per key group and
// sync, their names and headers, reads through ranged GETs, reopening from one listing, rollover,
// removal (the bucket listed: the object is gone), damage behind the store's back, and a failed
// upload losing exactly its records.
#include "storage/s3/s3_container_store.h"

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <httplib.h>

#include "test/storage/s3/ceph_fixture.h"
#include "test/storage/store/store_test_util.h"
#include "test/test_util.h"

namespace sealpool::storage::s3 {
namespace {

using test::CephS3;
using testing::MakeSegment;
using testing::TestSegment;

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

TEST_CASE("S3 store: one object per key group and sync / reads / reopen from a listing / rollover / remove",
          "[s3][store]") {
  CephS3& ceph = CephS3::Get();
  auto client = ceph.Client(CephS3::NewBucketName());
  const Id128 pool = Filled(0x11), g1 = Filled(0x21), g2 = Filled(0x22);
  Ids ids;
  S3ContainerStoreOptions options;
  options.containers.target_size = 64 << 10;
  options.cache_block_bytes = 8192;
  options.read_cache_bytes = 65536;
  auto store = S3ContainerStore::Open(client.get(), "pre/", pool, options, ids.fn());
  REQUIRE(store.ok());

  std::vector<TestSegment> segs;
  std::vector<StoredLocation> where;
  for (uint64_t i = 1; i <= 6; ++i) {
    segs.push_back(MakeSegment(i, 3000 + i * 100));
    auto loc = (*store)->Append(i % 2 ? g1 : g2, segs.back().view());
    REQUIRE(loc.ok());
    where.push_back(*loc);
  }
  // Before the sync nothing is in the bucket and the containers are open.
  const std::string folder = "pre/sealpool-" + std::string(32, '1') + "/containers/";
  CHECK(client->List(folder)->empty());
  CHECK((*store)->IsOpenForAppend(where[0].container_id));
  REQUIRE((*store)->Sync(where).ok());
  CHECK_FALSE((*store)->IsOpenForAppend(where[0].container_id));

  // One object per group, named by pool and container id, holding a container header.
  auto listed = client->List(folder);
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].key == folder + "0000000000000001.spc");
  CHECK((*listed)[1].key == folder + "0000000000000002.spc");
  auto head = client->Get((*listed)[0].key, 0, kContainerHeaderSize);
  REQUIRE(head.ok());
  ContainerHeader h;
  REQUIRE(h.DecodeFrom(*head).ok());
  CHECK(h.pool_id == pool);
  CHECK(h.container_id == 1);
  CHECK(h.key_group_id == g1);

  for (size_t i = 0; i < segs.size(); ++i) {
    std::vector<uint8_t> stored;
    auto rh = (*store)->Read(where[i], &stored, segs[i].meta.segment_id);
    REQUIRE(rh.ok());
    CHECK(stored == segs[i].bytes);
  }

  // Rollover: 40 records of ~3 KB in 64 KiB containers.
  std::vector<StoredLocation> more;
  for (uint64_t i = 100; i < 140; ++i) {
    auto loc = (*store)->Append(g1, MakeSegment(i, 3000).view());
    REQUIRE(loc.ok());
    more.push_back(*loc);
  }
  REQUIRE((*store)->Sync(more).ok());
  auto ids_now = (*store)->List();
  REQUIRE(ids_now.ok());
  CHECK(ids_now->size() >= 4);
  for (uint64_t id : *ids_now) CHECK(*(*store)->FileSize(id) <= 64u << 10);

  // A second store on the same prefix: one LIST, no HEAD, and the same sizes.
  const uint64_t before = client->counters().requests;
  auto again = S3ContainerStore::Open(client.get(), "pre/", pool, options, ids.fn());
  REQUIRE(again.ok());
  CHECK(client->counters().requests - before == 1);
  CHECK(*(*again)->List() == *ids_now);
  for (uint64_t id : *ids_now) CHECK(*(*again)->FileSize(id) == *(*store)->FileSize(id));
  std::vector<uint8_t> stored;
  REQUIRE((*again)->Read(more.back(), &stored, crypto::SegmentId(139)).ok());
  CHECK(stored == MakeSegment(139, 3000).bytes);
  // A scan of a whole container through the reader.
  auto reader = (*again)->OpenReader(where[0].container_id);
  REQUIRE(reader.ok());
  auto scanner = ContainerScanner::Create(reader->get());
  REQUIRE(scanner.ok());
  int records = 0;
  while (true) {
    auto item = scanner->Next();
    REQUIRE(item.ok());
    if (!item->has_value()) break;
    CHECK((*item)->kind == ScanItem::Kind::kRecord);
    ++records;
  }
  CHECK(records == 3);
  // Another pool's store on the same prefix sees none of these.
  auto other = S3ContainerStore::Open(client.get(), "pre/", Filled(0x99), options, ids.fn());
  REQUIRE(other.ok());
  CHECK((*other)->List()->empty());

  // Remove: the object is really gone from the bucket.
  REQUIRE((*again)->Remove(where[0].container_id).ok());
  CHECK(absl::IsNotFound((*again)->Remove(where[0].container_id)));
  CHECK(absl::IsNotFound(client->Head(folder + "0000000000000001.spc").status()));
  auto after = client->List(folder);
  REQUIRE(after.ok());
  CHECK(after->size() == ids_now->size() - 1);
  CHECK(absl::IsNotFound((*again)->Read(where[0], &stored, std::nullopt).status()));
}

TEST_CASE("S3 store: an object altered / truncated / deleted / swapped behind the store's back is DataLoss",
          "[s3][store]") {
  CephS3& ceph = CephS3::Get();
  auto client = ceph.Client(CephS3::NewBucketName());
  const Id128 pool = Filled(0x11), group = Filled(0x21);
  Ids ids;
  S3ContainerStoreOptions options;
  options.containers.target_size = 10000;  // one record per container
  auto store = S3ContainerStore::Open(client.get(), "", pool, options, ids.fn());
  REQUIRE(store.ok());
  std::vector<StoredLocation> where;
  for (uint64_t i = 1; i <= 4; ++i) {
    auto loc = (*store)->Append(group, MakeSegment(i, 6000).view());
    REQUIRE(loc.ok());
    where.push_back(*loc);
  }
  REQUIRE((*store)->Sync(where).ok());
  REQUIRE(where[3].container_id == 4);

  auto key = [&](int i) { return (*store)->KeyOf(where[static_cast<size_t>(i)].container_id); };
  auto object = client->GetObject(key(0), 1 << 20);
  REQUIRE(object.ok());
  std::vector<uint8_t> altered = *object;
  altered[where[0].location.offset + kRecordHeaderSize + 10] ^= 1;  // one payload bit
  REQUIRE(client->Put(key(0), altered).ok());
  std::vector<uint8_t> truncated = *client->GetObject(key(1), 1 << 20);
  truncated.resize(truncated.size() - 100);
  REQUIRE(client->Put(key(1), truncated).ok());
  REQUIRE(client->Delete(key(2)).ok());
  // Container 4's object replaced by container 3's bytes (a valid container, the wrong one).
  REQUIRE(client->Put(key(3), *object).ok());

  // A fresh store (no cache): each read is DataLoss naming the container and offset.
  auto fresh = S3ContainerStore::Open(client.get(), "", pool, options, ids.fn());
  REQUIRE(fresh.ok());
  for (int i = 0; i < 4; ++i) {
    std::vector<uint8_t> stored;
    auto r = (*fresh)->Read(where[static_cast<size_t>(i)], &stored,
                            crypto::SegmentId(static_cast<uint64_t>(i + 1)));
    INFO(i << ": " << r.status());
    if (i == 2) {
      // Deleted: the listing no longer has it, so the store does not know it (the catalog's
      // sizes, once kept there, will make this DataLoss too).
      CHECK(absl::IsNotFound(r.status()));
      continue;
    }
    CHECK(absl::IsDataLoss(r.status()));
    CHECK(stored.empty());
    if (i != 3) CHECK_THAT(Str(r.status()), Catch::Contains("offset " +
                                                             std::to_string(where[static_cast<size_t>(i)].location.offset)));
    CHECK_THAT(Str(r.status()), Catch::Contains("container " + std::to_string(i + 1)));
  }
  // The deleted object, known to a store that listed it before: DataLoss.
  std::vector<uint8_t> stored;
  auto gone = (*store)->Read(where[2], &stored, crypto::SegmentId(3));
  CHECK(absl::IsDataLoss(gone.status()));
  CHECK_THAT(Str(gone.status()), Catch::Contains("the object is gone"));
}

TEST_CASE("S3 store: an upload that fails loses exactly its records and says so to every caller",
          "[s3][store]") {
  // A store that lists an empty bucket and refuses every PUT of container 1 (HTTP 500).
  httplib::Server server;
  std::atomic<int> puts{0};
  server.Get(".*", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
                    "application/xml");
  });
  server.Put(".*", [&](const httplib::Request& req, httplib::Response& res) {
    ++puts;
    res.status = req.path.ends_with("0000000000000001.spc") ? 500 : 200;
  });
  int port = server.bind_to_any_port("127.0.0.1");
  REQUIRE(port > 0);
  std::thread loop([&] { server.listen_after_bind(); });
  struct Stop {
    httplib::Server& s;
    std::thread& t;
    ~Stop() {
      s.stop();
      t.join();
    }
  } stop{server, loop};

  S3Target t;
  t.endpoint = "http://127.0.0.1:" + std::to_string(port);
  t.bucket = "bucket";
  t.access_key_id = "AKID";
  auto secret = crypto::SecretBytes::Allocate(4);
  REQUIRE(secret.ok());
  S3ClientOptions co;
  co.deadline = absl::Milliseconds(200);
  co.initial_backoff = absl::Milliseconds(5);
  auto client = S3Client::Create(t, std::move(*secret), co);
  REQUIRE(client.ok());
  Ids ids;
  S3ContainerStoreOptions no_fencing;  // the fake server keeps no objects: no lease on it
  no_fencing.fencing = false;
  auto store = S3ContainerStore::Open(client->get(), "", Filled(1), no_fencing, ids.fn());
  REQUIRE(store.ok());
  auto a = (*store)->Append(Filled(0x21), MakeSegment(1, 100).view());
  auto b = (*store)->Append(Filled(0x22), MakeSegment(2, 100).view());
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  REQUIRE(a->container_id == 1);
  REQUIRE(b->container_id == 2);
  std::vector<StoredLocation> both{*a, *b};
  absl::Status s = (*store)->Sync(both);
  CHECK(absl::IsUnavailable(s));
  CHECK_THAT(Str(s), Catch::Contains("container 1 (1 records) was not stored"));
  CHECK_THAT(Str(s), Catch::Contains("HTTP 500"));
  CHECK(puts > 2);  // retried within the deadline
  // Group 2's record is durable; group 1's is lost, and stays reported as lost.
  CHECK((*store)->Sync({&*b, 1}).ok());
  CHECK(absl::IsUnavailable((*store)->Sync({&*a, 1})));
  CHECK_FALSE((*store)->IsOpenForAppend(1));
  CHECK(*(*store)->List() == std::vector<uint64_t>{2});
  // The group's next record goes to a new container.
  auto c = (*store)->Append(Filled(0x21), MakeSegment(3, 100).view());
  REQUIRE(c.ok());
  CHECK(c->container_id == 3);
  REQUIRE((*store)->Sync({&*c, 1}).ok());
  CHECK(*(*store)->FileSize(3) == kContainerHeaderSize + kRecordHeaderSize + 100);
}

TEST_CASE("S3 store: bad prefixes and options are refused", "[s3][store]") {
  S3Target t{"http://127.0.0.1:1", "bucket", "us-east-1", true, "", "AKID"};
  auto secret = crypto::SecretBytes::Allocate(4);
  REQUIRE(secret.ok());
  auto client = S3Client::Create(t, std::move(*secret), {});
  REQUIRE(client.ok());
  Ids ids;
  for (const char* prefix : {"noslash", "/abs/", "a//", "a b/"}) {
    INFO(prefix);
    CHECK(absl::IsInvalidArgument(
        S3ContainerStore::Open(client->get(), prefix, Filled(1), {}, ids.fn()).status()));
  }
  S3ContainerStoreOptions o;
  o.cache_block_bytes = 100;
  CHECK(absl::IsInvalidArgument(
      S3ContainerStore::Open(client->get(), "", Filled(1), o, ids.fn()).status()));
  CHECK(absl::IsInvalidArgument(
      S3ContainerStore::Open(client->get(), "", Filled(1), {}, nullptr).status()));
  for (int bad : {-1, 65}) {
    S3ContainerStoreOptions ra;
    ra.read_ahead_blocks = bad;
    CHECK(absl::IsInvalidArgument(
        S3ContainerStore::Open(client->get(), "", Filled(1), ra, ids.fn()).status()));
    S3ContainerStoreOptions rt;
    rt.read_ahead_threads = bad == -1 ? 0 : bad;
    CHECK(absl::IsInvalidArgument(
        S3ContainerStore::Open(client->get(), "", Filled(1), rt, ids.fn()).status()));
  }
  S3ContainerStoreOptions small;  // a cache that cannot hold the read-ahead
  small.cache_block_bytes = 1 << 20;
  small.read_cache_bytes = 2 << 20;
  small.read_ahead_blocks = 2;
  CHECK(absl::IsInvalidArgument(
      S3ContainerStore::Open(client->get(), "", Filled(1), small, ids.fn()).status()));
}

TEST_CASE("S3 store: a streamed container goes out in parts while it grows and appears whole at its sync",
          "[s3][store]") {
  CephS3& ceph = CephS3::Get();
  auto client = ceph.Client(CephS3::NewBucketName());
  const Id128 pool = Filled(0x51), g = Filled(0x61);
  Ids ids;
  S3ContainerStoreOptions options;
  options.containers.target_size = 64 << 20;
  options.stream_part_bytes = 5 << 20;
  auto store = S3ContainerStore::Open(client.get(), "st/", pool, options, ids.fn());
  REQUIRE(store.ok());
  std::vector<TestSegment> segs;
  std::vector<StoredLocation> where;
  const auto before = client->counters();
  // About 12.5 MiB: full parts stream out while appending, the tail goes at the sync.
  for (uint64_t i = 1; i <= 200; ++i) {
    segs.push_back(MakeSegment(i, 64 << 10));
    auto loc = (*store)->Append(g, segs.back().view());
    REQUIRE(loc.ok());
    where.push_back(*loc);
  }
  // No container object before the sync: an upload in progress is no object. (The folder
  // also holds the lease's claim and, from the first upload, the container's intent.)
  const std::string containers = ContainerObjectPrefix("st/", pool);
  CHECK(client->List(containers)->empty());
  REQUIRE((*store)->Sync(where).ok());
  const auto after = client->counters();
  CHECK(after.of(S3RequestKind::kMultipartInitiate) -
            before.of(S3RequestKind::kMultipartInitiate) == 1);
  // The first part leaves as soon as 5 MiB are there; a second one only if the first is back
  // before the appends end (one part on its way per group); the tail is the last part.
  CHECK(after.of(S3RequestKind::kMultipartPart) - before.of(S3RequestKind::kMultipartPart) >= 2);
  CHECK(after.of(S3RequestKind::kMultipartPart) - before.of(S3RequestKind::kMultipartPart) <= 3);
  CHECK(after.of(S3RequestKind::kMultipartComplete) -
            before.of(S3RequestKind::kMultipartComplete) == 1);
  // One plain PUT: the intent written before the upload began (docs/s3.md "Orphans").
  CHECK(after.of(S3RequestKind::kPut) - before.of(S3RequestKind::kPut) == 1);
  auto listed = client->List(containers);
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].size == *(*store)->FileSize(where[0].container_id));
  // Read back by a store that knows nothing but the listing.
  auto reader = S3ContainerStore::Open(client.get(), "st/", pool, options, ids.fn());
  REQUIRE(reader.ok());
  for (size_t i = 0; i < segs.size(); ++i) {
    std::vector<uint8_t> stored;
    auto rh = (*reader)->Read(where[i], &stored, segs[i].meta.segment_id);
    REQUIRE(rh.ok());
    CHECK(stored == segs[i].bytes);
  }
  // A small container (below one part) is one PUT, as without streaming.
  auto small = (*store)->Append(g, MakeSegment(1000, 3000).view());
  REQUIRE(small.ok());
  const auto before_small = client->counters();
  REQUIRE((*store)->Sync({&*small, 1}).ok());
  // Its PUT, beside the lease check (a LIST) and the intent (a PUT) every upload has.
  CHECK(client->counters().of(S3RequestKind::kPut) - before_small.of(S3RequestKind::kPut) == 2);
  CHECK(client->counters().of(S3RequestKind::kList) - before_small.of(S3RequestKind::kList) == 1);
  CHECK(client->counters().requests - before_small.requests == 3);
  CHECK(client->counters().of(S3RequestKind::kMultipartInitiate) ==
        before_small.of(S3RequestKind::kMultipartInitiate));

  // A store closed with a streamed container open aborts its upload (counted): no object.
  {
    auto dropped = S3ContainerStore::Open(client.get(), "st/", pool, options, ids.fn());
    REQUIRE(dropped.ok());
    for (uint64_t i = 0; i < 100; ++i) {
      REQUIRE((*dropped)->Append(g, MakeSegment(2000 + i, 64 << 10).view()).ok());
    }
    const auto before_close = client->counters();
    dropped->reset();
    CHECK(client->counters().of(S3RequestKind::kMultipartAbort) -
              before_close.of(S3RequestKind::kMultipartAbort) == 1);
  }
  CHECK(client->List(containers)->size() == 2);
  S3ContainerStoreOptions bad = options;
  bad.stream_part_bytes = 1 << 20;
  CHECK(absl::IsInvalidArgument(
      S3ContainerStore::Open(client.get(), "st/", pool, bad, ids.fn()).status()));
}

TEST_CASE("S3 store: a block is fetched once however many readers miss it / read-ahead fetches the next blocks",
          "[s3][store]") {
  CephS3& ceph = CephS3::Get();
  auto client = ceph.Client(CephS3::NewBucketName());
  const Id128 pool = Filled(0x31), g = Filled(0x41);
  Ids ids;
  constexpr uint64_t kBlock = 16 << 10;
  S3ContainerStoreOptions options;
  options.containers.target_size = 1 << 20;
  options.cache_block_bytes = kBlock;
  options.read_cache_bytes = 1 << 20;
  std::vector<TestSegment> segs;
  std::vector<StoredLocation> where;
  {
    auto writer = S3ContainerStore::Open(client.get(), "ra/", pool, options, ids.fn());
    REQUIRE(writer.ok());
    for (uint64_t i = 1; i <= 60; ++i) {
      segs.push_back(MakeSegment(i, 3000));
      auto loc = (*writer)->Append(g, segs.back().view());
      REQUIRE(loc.ok());
      where.push_back(*loc);
    }
    REQUIRE((*writer)->Sync(where).ok());
  }
  const uint64_t id = where[0].container_id;
  auto gets = [&client] { return client->counters().of(S3RequestKind::kGet); };
  auto read = [&](S3ContainerStore& store, size_t i) {
    std::vector<uint8_t> stored;
    auto rh = store.Read(where[i], &stored, segs[i].meta.segment_id);
    REQUIRE(rh.ok());
    REQUIRE(stored == segs[i].bytes);
  };

  // Eight threads read every record at once, no read-ahead: each block is fetched exactly once.
  {
    S3ContainerStoreOptions o = options;
    o.read_ahead_blocks = 0;
    auto store = S3ContainerStore::Open(client.get(), "ra/", pool, o, ids.fn());
    REQUIRE(store.ok());
    const uint64_t size = *(*store)->FileSize(id);
    const uint64_t blocks = (size + kBlock - 1) / kBlock;
    const uint64_t before = gets();
    const uint64_t received = client->counters().bytes_received;
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        for (size_t i = 0; i < segs.size(); ++i) {
          std::vector<uint8_t> stored;
          auto rh = (*store)->Read(where[i], &stored, segs[i].meta.segment_id);
          if (!rh.ok() || stored != segs[i].bytes) ++failures;
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(failures == 0);
    CHECK(gets() - before == blocks);
    CHECK(client->counters().bytes_received - received == size);
  }

  // Read-ahead of 3: reading the first record fetches blocks 0..3; the reads of blocks 1..3
  // then cost no request of their own.
  {
    S3ContainerStoreOptions o = options;
    o.read_ahead_blocks = 3;
    auto store = S3ContainerStore::Open(client.get(), "ra/", pool, o, ids.fn());
    REQUIRE(store.ok());
    const uint64_t before = gets();
    read(**store, 0);
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (gets() - before < 4) {  // the read-ahead threads fetch blocks 1..3
      REQUIRE(std::chrono::steady_clock::now() < limit);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    CHECK(gets() - before == 4);
    // Records wholly inside blocks 1..3 read now come from the cache. Their reads queue the
    // read-ahead of blocks 4..6, which the store's threads may fetch meanwhile: so a read costs
    // at most those 3 GETs, never one of its own block.
    size_t checked = 0;
    for (size_t i = 1; i < segs.size(); ++i) {
      const uint64_t begin = where[i].location.offset, end = where[i].location.end();
      if (begin / kBlock < 1 || (end - 1) / kBlock > 3) continue;
      std::vector<uint8_t> stored;
      const uint64_t at = gets();
      auto rh = (*store)->Read(where[i], &stored, segs[i].meta.segment_id);
      REQUIRE(rh.ok());
      CHECK(stored == segs[i].bytes);
      CHECK(gets() - at <= 3);  // at most the queued read-ahead of blocks 4..6, never block 1..3
      ++checked;
    }
    CHECK(checked >= 10);
    // Every block of the object fetched exactly once in the end.
    for (size_t i = 0; i < segs.size(); ++i) read(**store, i);
    const uint64_t size = *(*store)->FileSize(id);
    const auto limit2 = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    const uint64_t blocks = (size + kBlock - 1) / kBlock;
    while (gets() - before < blocks) {
      REQUIRE(std::chrono::steady_clock::now() < limit2);
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    CHECK(gets() - before == blocks);
  }
}

}  // namespace
}  // namespace sealpool::storage::s3
