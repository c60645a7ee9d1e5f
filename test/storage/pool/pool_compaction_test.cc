// Tests of Pool::Compact(CompactOptions): progress after each container, a cancel seen between
// containers that leaves a consistent pool, bounded slices, and the maintenance lock taken per
// container so that the delete queue runs in between.
#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "storage/pool/pool.h"
#include "test/storage/pool/pool_test_util.h"

namespace sealpool::storage {
namespace {

using testing::ImageContent;
using testing::kTestLsu;
using testing::PoolFixture;
using testing::SmallPoolOptions;

// A pool with small containers, eight images of shared and unique blocks, every other one
// deleted and its space given back: many closed containers with dead records in them.
struct CompactionFixture {
  PoolFixture f{[] {
    PoolOptions options = SmallPoolOptions();
    options.containers.target_size = 128 << 10;
    return options;
  }()};
  std::map<std::string, std::vector<uint8_t>> live;

  CompactionFixture() {
    for (uint64_t i = 0; i < 8; ++i) {
      const std::string name = "img" + std::to_string(i);
      std::vector<uint8_t> content = ImageContent({i + 1, 400'000});
      REQUIRE(f.WriteImage(name, content).ok());
      if (i % 2 == 0) {
        REQUIRE(f.pool().DeleteImage({kTestLsu, "", name}, DeleteBy::kAdmin).ok());
      } else {
        live[name] = std::move(content);
      }
    }
    REQUIRE(f.pool().ProcessDeleteQueue().ok());
  }

  // Every live image reads back exactly, Verify and Scrub are clean, Stats agree with a recount.
  void CheckConsistent(std::string_view when) {
    INFO(when);
    for (const auto& [name, content] : live) {
      auto got = f.ReadAll(name);
      REQUIRE(got.ok());
      CHECK(*got == content);
    }
    auto verify = f.pool().Verify();
    REQUIRE(verify.ok());
    CHECK(verify->ok());
    CHECK(verify->images_checked == live.size());
    auto scrub = f.pool().Scrub();
    REQUIRE(scrub.ok());
    CHECK(scrub->ok());
    auto fast = f.pool().Stats();
    auto slow = f.pool().RecountStats();
    REQUIRE(fast.ok());
    REQUIRE(slow.ok());
    CHECK(fast->containers == slow->containers);
    CHECK(fast->space_allocated == slow->space_allocated);
    CHECK(fast->space_used == slow->space_used);
    CHECK(fast->containers_to_compact == slow->containers_to_compact);
  }
};

TEST_CASE("compaction: a cancel after the first container stops there and leaves a consistent "
          "pool, and the next run finishes",
          "[storage][pool][compaction]") {
  CompactionFixture c;
  std::atomic<bool> cancel{false};
  std::vector<CompactionProgress> seen;
  CompactOptions options;
  options.live_threshold = 1.0;  // every closed container
  options.cancel = &cancel;
  options.progress = [&](const CompactionProgress& p) {
    seen.push_back(p);
    if (p.containers_done == 1) cancel.store(true);
  };
  auto first = c.f.pool().Compact(options);
  REQUIRE(first.ok());
  CHECK(first->cancelled);
  CHECK(first->containers_compacted == 1);
  REQUIRE(seen.size() == 1);
  const uint64_t total = seen[0].containers_total;
  CHECK(total >= 5);
  CHECK(seen[0].containers_done == 1);
  CHECK(seen[0].bytes_moved == first->bytes_moved);
  CHECK(seen[0].bytes_reclaimed == first->bytes_reclaimed);
  CHECK(first->bytes_reclaimed > 0);
  c.CheckConsistent("after the cancelled run");

  // Again, to the end: the rest of the containers of the first run's list.
  cancel.store(false);
  seen.clear();
  options.progress = [&](const CompactionProgress& p) { seen.push_back(p); };
  auto second = c.f.pool().Compact(options);
  REQUIRE(second.ok());
  CHECK_FALSE(second->cancelled);
  CHECK(second->containers_compacted >= total - 1);
  REQUIRE(!seen.empty());
  for (size_t i = 0; i < seen.size(); ++i) {
    CHECK(seen[i].containers_done == i + 1);
    CHECK(seen[i].containers_total == seen.size());
  }
  CHECK(seen.back().bytes_moved == second->bytes_moved);
  CHECK(seen.back().bytes_reclaimed == second->bytes_reclaimed);
  c.CheckConsistent("after the second run");
  c.f.Reopen();
  c.CheckConsistent("after a reopen");
}

TEST_CASE("compaction: a cancel before the first container compacts nothing",
          "[storage][pool][compaction]") {
  CompactionFixture c;
  const std::vector<std::string> files = c.f.ContainerFiles();
  std::atomic<bool> cancel{true};
  int calls = 0;
  auto report = c.f.pool().Compact(
      {.live_threshold = 1.0, .cancel = &cancel, .progress = [&](const CompactionProgress&) {
         ++calls;
       }});
  REQUIRE(report.ok());
  CHECK(report->cancelled);
  CHECK(report->containers_compacted == 0);
  CHECK(calls == 0);
  CHECK(c.f.ContainerFiles() == files);
  c.CheckConsistent("after a run cancelled at once");
}

TEST_CASE("compaction: max_containers bounds a slice, and slices add up to a whole run",
          "[storage][pool][compaction]") {
  CompactionFixture c;
  auto before = c.f.pool().Stats();
  REQUIRE(before.ok());
  const uint64_t todo = before->containers_to_compact;
  REQUIRE(todo >= 3);
  uint64_t done = 0;
  for (int slice = 0; slice < 2; ++slice) {
    auto report = c.f.pool().Compact({.max_containers = 1});
    REQUIRE(report.ok());
    CHECK_FALSE(report->cancelled);
    CHECK(report->containers_compacted == 1);
    done += report->containers_compacted;
    c.CheckConsistent("after a slice");
  }
  auto rest = c.f.pool().Compact();
  REQUIRE(rest.ok());
  done += rest->containers_compacted;
  CHECK(done >= todo);
  CHECK(c.f.pool().Stats()->containers_to_compact < todo);
  c.CheckConsistent("after the rest");
}

TEST_CASE("compaction: the delete queue runs between two containers of one compaction",
          "[storage][pool][compaction]") {
  CompactionFixture c;
  // Called between containers, on the compacting thread: were the maintenance lock held for the
  // whole run, ProcessDeleteQueue would wait for it forever.
  bool deleted = false;
  DeleteQueueReport queue;
  auto report = c.f.pool().Compact(
      {.live_threshold = 1.0, .progress = [&](const CompactionProgress& p) {
         if (p.containers_done != 1) return;
         REQUIRE(c.f.pool().DeleteImage({kTestLsu, "", "img1"}, DeleteBy::kAdmin).ok());
         auto q = c.f.pool().ProcessDeleteQueue();
         REQUIRE(q.ok());
         queue = *q;
         deleted = true;
       }});
  REQUIRE(report.ok());
  REQUIRE(deleted);
  CHECK(queue.jobs_done >= 1);
  CHECK(queue.jobs_left == 0);
  c.live.erase("img1");
  c.CheckConsistent("after deletes interleaved with compaction");
  auto again = c.f.pool().Compact({.live_threshold = 1.0});
  REQUIRE(again.ok());
  c.CheckConsistent("after compacting again");
}

}  // namespace
}  // namespace sealpool::storage
