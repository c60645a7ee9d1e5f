// The pool catalog: open/create/refuse, batches, counters, scans, backup and restore.
#include "storage/catalog/catalog.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "storage/catalog/catalog_records.h"
#include "test/test_util.h"

namespace sealpool::storage {
namespace {

using test::TempDir;

CatalogOptions SmallOptions(bool create = true) {
  CatalogOptions options;
  options.create_if_missing = create;
  options.block_cache_bytes = size_t{8} << 20;
  options.write_buffer_bytes = size_t{1} << 20;
  return options;
}

std::unique_ptr<Catalog> OpenOk(const std::string& dir, bool create = true) {
  auto catalog = Catalog::Open(dir, SmallOptions(create));
  INFO(catalog.status().ToString());
  REQUIRE(catalog.ok());
  return std::move(*catalog);
}

std::optional<std::string> GetOk(const Catalog& catalog, Cf cf, std::string_view key) {
  auto value = catalog.Get(cf, key);
  INFO(value.status().ToString());
  REQUIRE(value.ok());
  return *value;
}

int64_t CounterOk(const Catalog& catalog, std::string_view key) {
  auto value = catalog.GetCounter(key);
  INFO(value.status().ToString());
  REQUIRE(value.ok());
  return *value;
}

void WriteOk(Catalog& catalog, const Catalog::Batch& batch, bool sync = true) {
  absl::Status status = catalog.Write(batch, sync);
  INFO(status.ToString());
  REQUIRE(status.ok());
}

void PutOk(Catalog& catalog, Cf cf, std::string_view key, std::string_view value) {
  Catalog::Batch batch;
  batch.Put(cf, key, value);
  WriteOk(catalog, batch);
}

// Every (key, value) of a family under `prefix`, in scan order.
std::vector<std::pair<std::string, std::string>> ScanAll(const Catalog& catalog, Cf cf,
                                                         std::string_view prefix,
                                                         std::string_view start_after = {}) {
  std::vector<std::pair<std::string, std::string>> out;
  absl::Status status = catalog.Scan(
      cf, prefix,
      [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
        out.emplace_back(std::string(key), std::string(value));
        return true;
      },
      start_after);
  INFO(status.ToString());
  REQUIRE(status.ok());
  return out;
}

std::vector<std::string> Keys(const std::vector<std::pair<std::string, std::string>>& entries) {
  std::vector<std::string> keys;
  for (const auto& entry : entries) keys.push_back(entry.first);
  return keys;
}

constexpr std::array<Cf, kCfCount> kAllCfs = {
    Cf::kMeta,      Cf::kKeys,     Cf::kFingerprints, Cf::kSegments,   Cf::kImages,
    Cf::kRecipes,   Cf::kDeleteQueue, Cf::kSessions,  Cf::kContainers, Cf::kCounters,
    Cf::kClientDigests};

TEST_CASE("a new catalog has every family and keeps its data across a reopen",
          "[storage][catalog]") {
  TempDir tmp;
  std::string dir = tmp.File("catalog");
  {
    auto catalog = OpenOk(dir);
    Catalog::Batch batch;
    for (Cf cf : kAllCfs) batch.Put(cf, "key", CfName(cf));
    batch.Add(PoolCounterKey("images"), 3);
    WriteOk(*catalog, batch);
    CHECK(catalog->dir() == dir);
  }
  auto catalog = OpenOk(dir, /*create=*/false);
  for (Cf cf : kAllCfs) {
    INFO(CfName(cf));
    CHECK(GetOk(*catalog, cf, "key") == std::string(CfName(cf)));
  }
  CHECK(CounterOk(*catalog, PoolCounterKey("images")) == 3);
  CHECK(GetOk(*catalog, Cf::kMeta, "absent") == std::nullopt);
  CHECK(CfName(Cf::kMeta) == "default");
  CHECK(CfName(Cf::kFingerprints) == "fingerprints");
  CHECK(CfName(Cf::kDeleteQueue) == "delete_queue");
}

TEST_CASE("opening a missing catalog without create_if_missing is not found",
          "[storage][catalog]") {
  TempDir tmp;
  CHECK(absl::IsNotFound(Catalog::Open(tmp.File("absent"), SmallOptions(false)).status()));
  CHECK(absl::IsNotFound(Catalog::Open(tmp.path().string(), SmallOptions(false)).status()));
  CHECK(!std::filesystem::exists(tmp.File("absent")));
}

TEST_CASE("a second open of the same directory is refused as already open",
          "[storage][catalog]") {
  TempDir tmp;
  std::string dir = tmp.File("catalog");
  auto first = OpenOk(dir);
  for (bool create : {false, true}) {
    auto second = Catalog::Open(dir, SmallOptions(create));
    INFO(second.status().ToString());
    CHECK(absl::IsFailedPrecondition(second.status()));
    CHECK(std::string(second.status().message()).find("already open") != std::string::npos);
  }
  PutOk(*first, Cf::kMeta, "still", "works");
  first.reset();
  auto again = OpenOk(dir, false);
  CHECK(GetOk(*again, Cf::kMeta, "still") == "works");
}

TEST_CASE("a directory that holds something else than a catalog is refused",
          "[storage][catalog]") {
  TempDir tmp;
  SECTION("other files") {
    std::filesystem::create_directory(tmp.File("other"));
    std::ofstream(tmp.File("other/notes.txt")) << "not a catalog";
    for (bool create : {false, true}) {
      auto opened = Catalog::Open(tmp.File("other"), SmallOptions(create));
      INFO(opened.status().ToString());
      CHECK(absl::IsFailedPrecondition(opened.status()));
    }
    CHECK(!std::filesystem::exists(tmp.File("other/CURRENT")));
  }
  SECTION("a RocksDB database without the catalog's families") {
    rocksdb::Options options;
    options.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    REQUIRE(rocksdb::DB::Open(options, tmp.File("plain"), &db).ok());
    REQUIRE(db->Put(rocksdb::WriteOptions(), "k", "v").ok());
    delete db;
    for (bool create : {false, true}) {
      auto opened = Catalog::Open(tmp.File("plain"), SmallOptions(create));
      INFO(opened.status().ToString());
      CHECK(absl::IsFailedPrecondition(opened.status()));
      CHECK(std::string(opened.status().message()).find("missing") != std::string::npos);
    }
  }
  SECTION("a catalog with a family this binary does not know") {
    OpenOk(tmp.File("newer")).reset();
    rocksdb::DBOptions db_options;
    std::vector<std::string> names;
    REQUIRE(rocksdb::DB::ListColumnFamilies(db_options, tmp.File("newer"), &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const std::string& name : names) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    // The counters' merge operator is not needed to add a family.
    REQUIRE(rocksdb::DB::Open(db_options, tmp.File("newer"), descriptors, &handles, &db).ok());
    rocksdb::ColumnFamilyHandle* extra = nullptr;
    REQUIRE(db->CreateColumnFamily(rocksdb::ColumnFamilyOptions(), "from_the_future", &extra).ok());
    handles.push_back(extra);
    for (auto* handle : handles) REQUIRE(db->DestroyColumnFamilyHandle(handle).ok());
    delete db;
    auto opened = Catalog::Open(tmp.File("newer"), SmallOptions(false));
    INFO(opened.status().ToString());
    CHECK(absl::IsFailedPrecondition(opened.status()));
    CHECK(std::string(opened.status().message()).find("from_the_future") != std::string::npos);
  }
}

TEST_CASE("bad options are refused", "[storage][catalog]") {
  TempDir tmp;
  CatalogOptions options = SmallOptions();
  options.fingerprint_filter_bits_per_key = 0;
  CHECK(absl::IsInvalidArgument(Catalog::Open(tmp.File("c"), options).status()));
}

TEST_CASE("a batch applies every put, delete and add, and readers see all of it or none",
          "[storage][catalog]") {
  TempDir tmp;
  auto catalog = OpenOk(tmp.File("catalog"));
  PutOk(*catalog, Cf::kImages, "doomed", "x");

  Catalog::Batch batch;
  CHECK(batch.empty());
  batch.Put(Cf::kImages, "a", "1");
  batch.Delete(Cf::kImages, "doomed");
  Catalog::Batch more;
  more.Add("n", 2);
  more.Put(Cf::kSegments, "s", "2");
  batch.Append(more);
  CHECK(batch.count() == 4);
  CHECK(batch.byte_size() == 2 + 6 + 9 + 2);
  WriteOk(*catalog, batch);
  CHECK(batch.count() == 4);  // unchanged by Write
  CHECK(GetOk(*catalog, Cf::kImages, "a") == "1");
  CHECK(GetOk(*catalog, Cf::kImages, "doomed") == std::nullopt);
  CHECK(GetOk(*catalog, Cf::kSegments, "s") == "2");
  CHECK(CounterOk(*catalog, "n") == 2);
  batch.Clear();
  CHECK(batch.empty());
  CHECK(batch.byte_size() == 0);
  WriteOk(*catalog, batch);  // an empty batch is fine

  // A writer puts two keys per batch; a scan (one snapshot) must never see half a batch.
  constexpr uint64_t kBatches = 3000;
  std::atomic<bool> finished{false};
  std::atomic<bool> failed{false};
  std::thread writer([&] {
    for (uint64_t i = 0; i < kBatches; ++i) {
      Catalog::Batch pair;
      pair.Put(Cf::kRecipes, RecipeKey(1, 2 * i), "a");
      pair.Put(Cf::kRecipes, RecipeKey(1, 2 * i + 1), "b");
      if (!catalog->Write(pair, /*sync=*/false).ok()) {
        failed = true;
        break;
      }
    }
    finished = true;
  });
  size_t scans = 0;
  bool last = false;
  while (!last) {
    last = finished.load();  // one more scan after the writer is done
    size_t seen = ScanAll(*catalog, Cf::kRecipes, RecipePrefix(1)).size();
    CHECK(seen % 2 == 0);
    ++scans;
    if (last) CHECK(seen == 2 * kBatches);
  }
  writer.join();
  CHECK(!failed.load());
}

TEST_CASE("counters add, including negative deltas, and absent counters are zero",
          "[storage][catalog]") {
  TempDir tmp;
  std::string dir = tmp.File("catalog");
  auto catalog = OpenOk(dir);
  CHECK(CounterOk(*catalog, "absent") == 0);
  Catalog::Batch batch;
  batch.Add("c", 5);
  batch.Add("c", -7);
  WriteOk(*catalog, batch);
  CHECK(CounterOk(*catalog, "c") == -2);
  batch.Clear();
  batch.Add("c", INT64_MAX);
  batch.Add("big", INT64_MIN);
  WriteOk(*catalog, batch);
  CHECK(CounterOk(*catalog, "c") == INT64_MAX - 2);
  CHECK(CounterOk(*catalog, "big") == INT64_MIN);
  // Survives a flush (merged in the files) and a reopen.
  REQUIRE(catalog->Flush().ok());
  batch.Clear();
  batch.Add("c", 2);
  WriteOk(*catalog, batch);
  REQUIRE(catalog->CompactFamily(Cf::kCounters).ok());
  catalog.reset();
  catalog = OpenOk(dir, false);
  CHECK(CounterOk(*catalog, "c") == INT64_MAX);
}

TEST_CASE("counters added from four threads at once lose nothing", "[storage][catalog]") {
  TempDir tmp;
  auto catalog = OpenOk(tmp.File("catalog"));
  constexpr int kThreads = 4;
  constexpr int kAdds = 500;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kAdds; ++i) {
        Catalog::Batch batch;
        batch.Add("shared", 3);
        batch.Add("shared", -1);
        batch.Add(PoolCounterKey(std::to_string(t)), 1);
        if (!catalog->Write(batch, /*sync=*/i % 50 == 0).ok()) failures++;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(failures == 0);
  CHECK(CounterOk(*catalog, "shared") == int64_t{2} * kThreads * kAdds);
  for (int t = 0; t < kThreads; ++t) {
    CHECK(CounterOk(*catalog, PoolCounterKey(std::to_string(t))) == kAdds);
  }
}

TEST_CASE("a counter value of the wrong size is data loss naming the key", "[storage][catalog]") {
  TempDir tmp;
  auto catalog = OpenOk(tmp.File("catalog"));
  PutOk(*catalog, Cf::kCounters, "bad", "abc");
  auto read = catalog->GetCounter("bad");
  INFO(read.status().ToString());
  CHECK(absl::IsDataLoss(read.status()));
  CHECK(std::string(read.status().message()).find("626164") != std::string::npos);  // "bad"
  // Adding to it gives the corrupt-counter marker: the read is data loss too, never a made-up
  // number.
  Catalog::Batch batch;
  batch.Add("bad", 1);
  WriteOk(*catalog, batch);
  read = catalog->GetCounter("bad");
  INFO(read.status().ToString());
  CHECK(absl::IsDataLoss(read.status()));
  CHECK(std::string(read.status().message()).find("626164") != std::string::npos);
  // Other counters are unaffected.
  batch.Clear();
  batch.Add("good", 1);
  WriteOk(*catalog, batch);
  CHECK(CounterOk(*catalog, "good") == 1);
  // Flush and compaction merge the operands in the background: a bad value must not stop the
  // catalog (RocksDB turns a failed merge there into a background error that refuses every
  // later write). The bad counter stays data loss, through a reopen too.
  batch.Clear();
  batch.Add("bad", 5);
  batch.Add("good", 1);
  WriteOk(*catalog, batch);
  for (int round = 0; round < 2; ++round) {
    INFO("round " << round);
    const absl::Status flushed = catalog->Flush();
    INFO(flushed.ToString());
    REQUIRE(flushed.ok());
    const absl::Status compacted = catalog->CompactFamily(Cf::kCounters);
    INFO(compacted.ToString());
    REQUIRE(compacted.ok());
    batch.Clear();
    batch.Add("good", 1);
    WriteOk(*catalog, batch);
    read = catalog->GetCounter("bad");
    INFO(read.status().ToString());
    CHECK(absl::IsDataLoss(read.status()));
    CHECK(std::string(read.status().message()).find("626164") != std::string::npos);
    if (round == 0) {
      catalog.reset();
      catalog = OpenOk(tmp.File("catalog"));
    }
  }
  CHECK(CounterOk(*catalog, "good") == 4);
}

TEST_CASE("scan visits a prefix in key order, after start_after, until told to stop",
          "[storage][catalog]") {
  TempDir tmp;
  auto catalog = OpenOk(tmp.File("catalog"));
  Catalog::Batch batch;
  for (const std::string& key :
       std::vector<std::string>{"a", "b/1", "b/2", "b/3", "b0", "b/", "c", "b/\xff",
                                "\xff\xff" "a", "\xff\xff"}) {
    batch.Put(Cf::kImages, key, "v" + key);
  }
  WriteOk(*catalog, batch);

  CHECK(Keys(ScanAll(*catalog, Cf::kImages, "b/")) ==
        std::vector<std::string>{"b/", "b/1", "b/2", "b/3", "b/\xff"});
  CHECK(ScanAll(*catalog, Cf::kImages, "b/")[1].second == "vb/1");
  CHECK(Keys(ScanAll(*catalog, Cf::kImages, "b/", "b/1")) ==
        std::vector<std::string>{"b/2", "b/3", "b/\xff"});
  CHECK(Keys(ScanAll(*catalog, Cf::kImages, "b/", "b/15")) ==
        std::vector<std::string>{"b/2", "b/3", "b/\xff"});
  CHECK(Keys(ScanAll(*catalog, Cf::kImages, "b/", "a")) ==
        std::vector<std::string>{"b/", "b/1", "b/2", "b/3", "b/\xff"});
  CHECK(ScanAll(*catalog, Cf::kImages, "b/", "b/\xff").empty());
  CHECK(ScanAll(*catalog, Cf::kImages, "d").empty());
  CHECK(Keys(ScanAll(*catalog, Cf::kImages, "\xff\xff")) ==
        std::vector<std::string>{"\xff\xff", "\xff\xff" "a"});
  CHECK(ScanAll(*catalog, Cf::kImages, "").size() == 10);
  CHECK(ScanAll(*catalog, Cf::kSegments, "").empty());

  std::vector<std::string> seen;
  absl::Status status = catalog->Scan(
      Cf::kImages, "b/", [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
        seen.emplace_back(key);
        return seen.size() < 2;
      });
  CHECK(status.ok());
  CHECK(seen == std::vector<std::string>{"b/", "b/1"});

  seen.clear();
  status = catalog->Scan(Cf::kImages, "b/",
                         [&](std::string_view key, std::string_view) -> absl::StatusOr<bool> {
                           seen.emplace_back(key);
                           if (key == "b/2") return absl::AbortedError("visitor says no");
                           return true;
                         });
  CHECK(absl::IsAborted(status));
  CHECK(status.message() == "visitor says no");
  CHECK(seen.size() == 3);
}

TEST_CASE("scan reads one snapshot while writes go on", "[storage][catalog]") {
  TempDir tmp;
  auto catalog = OpenOk(tmp.File("catalog"));
  for (uint64_t i = 0; i < 10; ++i) PutOk(*catalog, Cf::kRecipes, RecipeKey(1, i), "old");
  size_t visited = 0;
  absl::Status status = catalog->Scan(
      Cf::kRecipes, RecipePrefix(1),
      [&](std::string_view, std::string_view value) -> absl::StatusOr<bool> {
        CHECK(value == "old");
        ++visited;
        if (visited == 1) {
          Catalog::Batch batch;
          for (uint64_t i = 0; i < 20; ++i) batch.Put(Cf::kRecipes, RecipeKey(1, i), "new");
          if (absl::Status s = catalog->Write(batch); !s.ok()) return s;
        }
        return true;
      });
  CHECK(status.ok());
  CHECK(visited == 10);
  CHECK(ScanAll(*catalog, Cf::kRecipes, RecipePrefix(1)).size() == 20);
}

TEST_CASE("seek for prev finds the last key at or before a key within a prefix",
          "[storage][catalog]") {
  TempDir tmp;
  auto catalog = OpenOk(tmp.File("catalog"));
  Catalog::Batch batch;
  for (uint64_t offset : {uint64_t{100}, uint64_t{200}, uint64_t{300}}) {
    batch.Put(Cf::kRecipes, RecipeKey(5, offset), std::to_string(offset));
  }
  batch.Put(Cf::kRecipes, RecipeKey(4, 1000), "image 4");
  batch.Put(Cf::kRecipes, RecipeKey(6, 0), "image 6");
  WriteOk(*catalog, batch);

  auto seek = [&](uint64_t image, uint64_t offset) -> std::optional<std::string> {
    auto found = catalog->SeekForPrev(Cf::kRecipes, RecipePrefix(image), RecipeKey(image, offset));
    INFO(found.status().ToString());
    REQUIRE(found.ok());
    if (!found->has_value()) return std::nullopt;
    REQUIRE((*found)->first.starts_with(RecipePrefix(image)));
    return (*found)->second;
  };
  CHECK(seek(5, 150) == "100");
  CHECK(seek(5, 100) == "100");
  CHECK(seek(5, 299) == "200");
  CHECK(seek(5, 300) == "300");
  CHECK(seek(5, ~uint64_t{0}) == "300");
  CHECK(seek(5, 99) == std::nullopt);  // not image 4's record
  CHECK(seek(6, 0) == "image 6");
  CHECK(seek(7, 500) == std::nullopt);  // not image 6's record
  // A key past the prefix: the prefix's last key.
  auto past = catalog->SeekForPrev(Cf::kRecipes, RecipePrefix(5), RecipeKey(6, 0));
  REQUIRE(past.ok());
  REQUIRE(past->has_value());
  CHECK((*past)->second == "300");
  // A key before the prefix: nothing.
  auto before = catalog->SeekForPrev(Cf::kRecipes, RecipePrefix(5), RecipeKey(4, 9999));
  REQUIRE(before.ok());
  CHECK(!before->has_value());
}

TEST_CASE("multiget returns each key's value or nothing, in order", "[storage][catalog]") {
  TempDir tmp;
  auto catalog = OpenOk(tmp.File("catalog"));
  Catalog::Batch batch;
  for (int i = 0; i < 100; i += 2) {
    batch.Put(Cf::kFingerprints, "fp" + std::to_string(i), "id" + std::to_string(i));
  }
  WriteOk(*catalog, batch);
  REQUIRE(catalog->Flush().ok());  // half from files, half from the memtable
  PutOk(*catalog, Cf::kFingerprints, "fp1", "id1");

  std::vector<std::string> keys;
  for (int i = 99; i >= 0; --i) keys.push_back("fp" + std::to_string(i));
  auto values = catalog->MultiGet(Cf::kFingerprints, keys);
  REQUIRE(values.ok());
  REQUIRE(values->size() == keys.size());
  for (size_t k = 0; k < keys.size(); ++k) {
    int i = 99 - static_cast<int>(k);
    INFO(keys[k]);
    if (i % 2 == 0 || i == 1) {
      CHECK((*values)[k] == "id" + std::to_string(i));
    } else {
      CHECK((*values)[k] == std::nullopt);
    }
  }
  auto none = catalog->MultiGet(Cf::kFingerprints, {});
  REQUIRE(none.ok());
  CHECK(none->empty());
}

// Writes record i (RecipeKey(1, i)) and adds 1 to counter "n" in one batch, i = 0, 1, ...,
// until stopped. `started` counts batches handed to Write, `done` those it returned OK for.
class BackgroundWriter {
 public:
  explicit BackgroundWriter(Catalog* catalog)
      : thread_([this, catalog] {
          for (uint64_t i = 0; !stop_.load(); ++i) {
            Catalog::Batch batch;
            batch.Put(Cf::kRecipes, RecipeKey(1, i), std::to_string(i));
            batch.Add(PoolCounterKey("n"), 1);
            started_.store(i + 1);
            if (!catalog->Write(batch, /*sync=*/i % 64 == 0).ok()) {
              failed_ = true;
              return;
            }
            done_.store(i + 1);
          }
        }) {}
  ~BackgroundWriter() { Stop(); }

  // Returns once at least `n` batches are written (no sleeping: the writer never waits).
  void WaitForDone(uint64_t n) {
    while (done_.load() < n && !failed_.load()) std::this_thread::yield();
  }
  uint64_t started() const { return started_.load(); }
  uint64_t done() const { return done_.load(); }
  bool failed() const { return failed_.load(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::atomic<uint64_t> started_{0};
  std::atomic<uint64_t> done_{0};
  std::thread thread_;
};

// The catalog in `dir` holds exactly records 0..m-1 of a BackgroundWriter, the counter says m,
// and lo <= m <= hi. Returns m.
uint64_t CheckWriterPrefix(const std::string& dir, uint64_t lo, uint64_t hi) {
  auto copy = OpenOk(dir, /*create=*/false);
  auto entries = ScanAll(*copy, Cf::kRecipes, RecipePrefix(1));
  uint64_t m = entries.size();
  for (uint64_t i = 0; i < m; ++i) {
    auto offset = DecodeRecipeKeyOffset(entries[i].first, 1);
    REQUIRE(offset.ok());
    REQUIRE(*offset == i);
    REQUIRE(entries[i].second == std::to_string(i));
  }
  CHECK(CounterOk(*copy, PoolCounterKey("n")) == static_cast<int64_t>(m));
  CHECK(lo <= m);
  CHECK(m <= hi);
  return m;
}

TEST_CASE("a checkpoint taken while another thread writes is a consistent copy",
          "[storage][catalog]") {
  TempDir tmp;
  auto catalog = OpenOk(tmp.File("catalog"));
  BackgroundWriter writer(catalog.get());
  writer.WaitForDone(200);
  uint64_t before = writer.done();
  absl::Status status = catalog->CreateCheckpoint(tmp.File("checkpoint"));
  uint64_t after = writer.started();
  INFO(status.ToString());
  REQUIRE(status.ok());
  writer.WaitForDone(after + 50);  // the original goes on after the copy
  writer.Stop();
  REQUIRE(!writer.failed());
  uint64_t m = CheckWriterPrefix(tmp.File("checkpoint"), before, after);
  CHECK(m < writer.done());
  CHECK(absl::IsAlreadyExists(catalog->CreateCheckpoint(tmp.File("checkpoint"))));
}

TEST_CASE("a backup taken while another thread writes restores the content at backup time",
          "[storage][catalog]") {
  TempDir tmp;
  std::string backups = tmp.File("backups");
  auto catalog = OpenOk(tmp.File("catalog"));
  BackgroundWriter writer(catalog.get());

  writer.WaitForDone(200);
  uint64_t before1 = writer.done();
  auto id1 = catalog->Backup(backups);
  uint64_t after1 = writer.started();
  INFO(id1.status().ToString());
  REQUIRE(id1.ok());

  // The first backup alone restores the content at its time.
  REQUIRE(Catalog::RestoreLatest(backups, tmp.File("restored1")).ok());
  CheckWriterPrefix(tmp.File("restored1"), before1, after1);

  writer.WaitForDone(after1 + 200);
  uint64_t before2 = writer.done();
  auto id2 = catalog->Backup(backups);  // incremental: shares the first one's table files
  uint64_t after2 = writer.started();
  INFO(id2.status().ToString());
  REQUIRE(id2.ok());
  CHECK(*id2 > *id1);
  writer.WaitForDone(after2 + 50);
  writer.Stop();
  REQUIRE(!writer.failed());

  // Restoring under the open catalog is refused and leaves it alone.
  absl::Status refused = Catalog::RestoreLatest(backups, tmp.File("catalog"));
  INFO(refused.ToString());
  CHECK(absl::IsFailedPrecondition(refused));
  CHECK(CounterOk(*catalog, PoolCounterKey("n")) == static_cast<int64_t>(writer.done()));

  absl::Status restored = Catalog::RestoreLatest(backups, tmp.File("restored"));
  INFO(restored.ToString());
  REQUIRE(restored.ok());
  uint64_t m = CheckWriterPrefix(tmp.File("restored"), before2, after2);
  CHECK(m > after1);  // the latest backup, not the first
  CHECK(m < writer.done());

  // Restoring into a closed catalog replaces its content with the backup's.
  catalog.reset();
  REQUIRE(Catalog::RestoreLatest(backups, tmp.File("catalog")).ok());
  CHECK(CheckWriterPrefix(tmp.File("catalog"), m, m) == m);

  CHECK(absl::IsNotFound(Catalog::RestoreLatest(tmp.File("no-backups"), tmp.File("x"))));
}

TEST_CASE("memory figures are non-zero after writes and reads", "[storage][catalog]") {
  TempDir tmp;
  auto catalog = OpenOk(tmp.File("catalog"));
  Catalog::Batch batch;
  for (uint32_t i = 0; i < 2000; ++i) {
    std::array<uint8_t, 32> fp{};
    for (size_t b = 0; b < 4; ++b) fp[b] = static_cast<uint8_t>(i >> (8 * b));
    batch.Put(Cf::kFingerprints,
              FingerprintIndexKey(1, crypto::Fingerprint::FromArray(fp)), EncodeU64(i));
  }
  WriteOk(*catalog, batch);
  CatalogMemory memory = catalog->Memory();
  CHECK(memory.memtables > 0);
  CHECK(memory.total() >= memory.memtables);

  REQUIRE(catalog->Flush().ok());
  CHECK(catalog->EstimateKeys(Cf::kFingerprints) >= 1000);
  CHECK(GetOk(*catalog, Cf::kFingerprints, FingerprintIndexKey(1, crypto::Fingerprint())) ==
        EncodeU64(0));
  memory = catalog->Memory();
  CHECK(memory.block_cache_usage > 0);  // data, index and filter blocks live in the cache
  CHECK(memory.block_cache_pinned > 0);  // L0 index and filter blocks are pinned
}

TEST_CASE("a backup with keep leaves only the newest backups, and the newest restores",
          "[storage][catalog]") {
  TempDir tmp;
  std::string backups = tmp.File("backups");
  auto catalog = OpenOk(tmp.File("catalog"));
  auto ids = [&] {
    std::set<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(backups + "/meta")) {
      out.insert(e.path().filename().string());
    }
    return out;
  };
  for (int i = 1; i <= 4; ++i) {
    Catalog::Batch batch;
    batch.Put(Cf::kMeta, "round", std::to_string(i));
    REQUIRE(catalog->Write(batch, true).ok());
    auto id = catalog->Backup(backups, /*keep=*/2);
    INFO(id.status().ToString());
    REQUIRE(id.ok());
  }
  CHECK(ids() == std::set<std::string>{"3", "4"});
  catalog.reset();
  REQUIRE(Catalog::RestoreLatest(backups, tmp.File("restored")).ok());
  auto restored = OpenOk(tmp.File("restored"));
  auto round = restored->Get(Cf::kMeta, "round");
  REQUIRE(round.ok());
  REQUIRE(round->has_value());
  CHECK(**round == "4");
}

}  // namespace
}  // namespace sealpool::storage
