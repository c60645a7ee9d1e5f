// Tests of Pool::Stats (maintained counters and the in-memory container summary) against
// Pool::RecountStats (every container file listed, every image and segment record scanned, the
// delete queue scanned), and the measurement of both on a pool of >= 2,000 containers
// ("[.bench]": run it by name, it prints its figures).
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "storage/pool/pool.h"
#include "test/storage/pool/pool_test_util.h"

namespace sealpool::storage {
namespace {

using testing::kTestLsu;
using testing::PoolFixture;
using testing::SmallPoolOptions;

std::vector<uint8_t> Bytes(uint64_t seed, size_t size) { return test::PseudoRandomBytes(size, seed); }

// Every figure but the catalog's memory (which is not a count).
void CheckStatsEqualRecount(const Pool& pool, std::string_view when) {
  INFO(when);
  auto fast = pool.Stats();
  auto slow = pool.RecountStats();
  REQUIRE(fast.ok());
  REQUIRE(slow.ok());
  CHECK(fast->images == slow->images);
  CHECK(fast->logical_bytes == slow->logical_bytes);
  CHECK(fast->segments == slow->segments);
  CHECK(fast->stored_bytes == slow->stored_bytes);
  CHECK(fast->containers == slow->containers);
  CHECK(fast->space_allocated == slow->space_allocated);
  CHECK(fast->space_used == slow->space_used);
  CHECK(fast->space_reclaimable == slow->space_reclaimable);
  CHECK(fast->containers_to_compact == slow->containers_to_compact);
  CHECK(fast->records_to_compact == slow->records_to_compact);
  CHECK(fast->pending_delete_jobs == slow->pending_delete_jobs);
}

PoolOptions ManyContainersOptions(uint64_t target_size) {
  PoolOptions options = SmallPoolOptions();
  options.containers.target_size = target_size;
  return options;
}

TEST_CASE("stats: Stats equals a full recount after writes, deletes, queue runs and compaction",
          "[storage][pool][stats]") {
  PoolFixture f(ManyContainersOptions(64 << 10));
  CheckStatsEqualRecount(f.pool(), "empty pool");
  for (int i = 0; i < 6; ++i) {
    REQUIRE(f.WriteImage("img" + std::to_string(i), Bytes(100 + static_cast<uint64_t>(i % 4), 300'000)).ok());
  }
  CheckStatsEqualRecount(f.pool(), "after writes");
  auto stats = f.pool().Stats();
  REQUIRE(stats.ok());
  CHECK(stats->images == 6);
  CHECK(stats->containers > 10);

  // A write in progress: its held job is not a pending delete. (Its seals still run on the
  // pool's workers, so the container figures move under the two calls: not compared here.)
  ImageRequest r;
  r.lsu = kTestLsu;
  r.name = "busy";
  auto w = f.pool().BeginImage(r);
  REQUIRE(w.ok());
  REQUIRE((*w)->Write(Bytes(200, 200'000)).ok());
  CHECK(f.pool().Stats()->pending_delete_jobs == 0);
  CHECK(f.pool().RecountStats()->pending_delete_jobs == 0);
  (*w)->Abort();  // waits for its seals: nothing runs from here on
  CheckStatsEqualRecount(f.pool(), "after an abort");
  CHECK(f.pool().Stats()->pending_delete_jobs == 1);

  for (int i : {0, 1, 2, 4}) {
    REQUIRE(f.pool().DeleteImage({kTestLsu, "", "img" + std::to_string(i)}, DeleteBy::kAdmin).ok());
  }
  CheckStatsEqualRecount(f.pool(), "after deletes");
  CHECK(f.pool().Stats()->pending_delete_jobs == 5);
  REQUIRE(f.pool().ProcessDeleteQueue(2).ok());
  CheckStatsEqualRecount(f.pool(), "after part of the queue");
  REQUIRE(f.pool().ProcessDeleteQueue().ok());
  CheckStatsEqualRecount(f.pool(), "after the queue ran dry");
  CHECK(f.pool().Stats()->pending_delete_jobs == 0);
  CHECK(f.pool().Stats()->containers_to_compact > 0);

  auto compacted = f.pool().Compact({.live_threshold = 0.9});
  REQUIRE(compacted.ok());
  CHECK(compacted->containers_compacted > 0);
  CheckStatsEqualRecount(f.pool(), "after compaction");

  // Retired containers kept until the next backup are still files, and counted.
  REQUIRE(f.pool().BackupCatalog(f.dir() + "-backups").ok());
  REQUIRE(f.pool().DeleteImage({kTestLsu, "", "img3"}, DeleteBy::kAdmin).ok());
  REQUIRE(f.pool().ProcessDeleteQueue().ok());
  REQUIRE(f.pool().Compact({.live_threshold = 1.0}).ok());
  CheckStatsEqualRecount(f.pool(), "after compaction with retired containers kept");
  REQUIRE(f.pool().BackupCatalog(f.dir() + "-backups").ok());
  CheckStatsEqualRecount(f.pool(), "after the backup removed them");

  f.Reopen();
  CheckStatsEqualRecount(f.pool(), "after a reopen");
  REQUIRE(f.WriteImage("after", Bytes(300, 100'000)).ok());
  CheckStatsEqualRecount(f.pool(), "after a write on the reopened pool");
}

TEST_CASE("stats: Stats and RecountStats on a pool of >= 2,000 containers", "[.bench][stats]") {
  // One segment per container: the target is smaller than any segment, and a container takes
  // a record that passes it only while it is empty.
  PoolFixture f(ManyContainersOptions(4096));
  const auto content = Bytes(7, 20 << 20);
  REQUIRE(f.WriteImage("big", content).ok());
  auto stats = f.pool().Stats();
  REQUIRE(stats.ok());
  REQUIRE(stats->containers >= 2000);
  CheckStatsEqualRecount(f.pool(), "2,000+ containers");
  auto time = [&](auto&& call) {
    constexpr int kRounds = 20;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kRounds; ++i) REQUIRE(call().ok());
    const auto t1 = std::chrono::steady_clock::now();
    return std::chrono::duration<double, std::micro>(t1 - t0).count() / kRounds;
  };
  const double fast_us = time([&] { return f.pool().Stats(); });
  const double slow_us = time([&] { return f.pool().RecountStats(); });
  std::printf("containers %llu: Stats %.1f us, RecountStats %.1f us, ratio %.1f\n",
              static_cast<unsigned long long>(stats->containers), fast_us, slow_us,
              slow_us / fast_us);
}

}  // namespace
}  // namespace sealpool::storage
