// LocalContainerStore: naming, rollover, one container per key group, concurrency, group-commit
// durability under injected faults, removal, the reader cache and corruption reports.
#include "storage/store/local_container_store.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "test/storage/store/store_test_util.h"

namespace sealpool::storage {
namespace {

using testing::FileSizeOf;
using testing::MakeSegment;
using testing::ReadWholeFile;
using testing::TestSegment;
using testing::WriteWholeFile;
using Op = FaultInjectionFileSystem::Op;

Id128 Group(uint8_t n) {
  Id128 id;
  id.fill(static_cast<uint8_t>(0x20 + n));
  return id;
}

bool Mentions(const absl::Status& status, std::string_view text) {
  return std::string_view(status.message().data(), status.message().size()).find(text) !=
         std::string_view::npos;
}

class StoreFixture {
 public:
  StoreFixture() : dir_(tmp_.File("containers")) { pool_id_.fill(0x11); }

  void Open(ContainerStoreOptions options = {}) {
    store_.reset();
    auto store = LocalContainerStore::Open(&fs_, dir_, pool_id_, options,
                                      [this]() -> absl::StatusOr<uint64_t> { return next_id_++; });
    INFO(store.status().ToString());
    REQUIRE(store.ok());
    store_ = *std::move(store);
  }

  // Appends segment `id` of `size` bytes to `group` (REQUIREs success).
  StoredLocation Write(const Id128& group, uint64_t id, size_t size) {
    TestSegment s = MakeSegment(id, size);
    auto where = store_->Append(group, s.view());
    INFO(where.status().ToString());
    REQUIRE(where.ok());
    segments_[id] = std::move(s);
    return *where;
  }

  absl::Status ReadBack(const StoredLocation& where, uint64_t id) {
    std::vector<uint8_t> stored;
    auto header = store_->Read(where, &stored, crypto::SegmentId(id));
    if (!header.ok()) return header.status();
    if (stored != segments_.at(id).bytes) return absl::InternalError("wrong bytes");
    if (header->fingerprint != segments_.at(id).meta.fingerprint) {
      return absl::InternalError("wrong fingerprint");
    }
    return absl::OkStatus();
  }

  void CheckReads(const StoredLocation& where, uint64_t id) {
    absl::Status status = ReadBack(where, id);
    INFO("segment " << id << " at container " << where.container_id << " offset "
                    << where.location.offset << ": " << status.ToString());
    CHECK(status.ok());
  }

  void RequireSync() {
    absl::Status status = store_->Sync();
    INFO(status.ToString());
    REQUIRE(status.ok());
  }

  // The process dies and the machine loses power: unsynced data is gone. Reopens the store.
  void PowerCutAndReopen(ContainerStoreOptions options = {}) {
    store_.reset();
    REQUIRE(fs_.DropUnsyncedData().ok());
    Open(options);
  }

  testing::TempDir tmp_;
  FaultInjectionFileSystem fs_{DefaultFileSystem()};
  std::string dir_;
  Id128 pool_id_;
  std::atomic<uint64_t> next_id_{1};
  std::unique_ptr<LocalContainerStore> store_;
  std::map<uint64_t, TestSegment> segments_;
};

TEST_CASE_METHOD(StoreFixture, "appended records read back from the returned locations",
                 "[storage][container_store]") {
  Open();
  StoredLocation a = Write(Group(1), 1, 1000);
  StoredLocation b = Write(Group(1), 2, 1);
  StoredLocation c = Write(Group(1), 3, 70000);
  RequireSync();
  CHECK(a.container_id == 1);
  CHECK(b.container_id == 1);
  CHECK(c.container_id == 1);
  CHECK(a.location.offset == kContainerHeaderSize);
  CHECK(b.location.offset == a.location.end());
  CheckReads(a, 1);
  CheckReads(b, 2);
  CheckReads(c, 3);

  CHECK(store_->PathOf(1) == dir_ + "/0000000000000001.spc");
  CHECK(store_->PathOf(0xABCDEF) == dir_ + "/0000000000abcdef.spc");
  CHECK(std::filesystem::exists(store_->PathOf(1)));
  CHECK(*store_->List() == std::vector<uint64_t>{1});
  CHECK(store_->IsOpenForAppend(1));
  CHECK(*store_->FileSize(1) == c.location.end());

  auto reader = store_->OpenReader(1);
  REQUIRE(reader.ok());
  CHECK((*reader)->header().container_id == 1);
  CHECK((*reader)->header().pool_id == pool_id_);
  CHECK((*reader)->header().key_group_id == Group(1));

  std::vector<uint8_t> stored;
  auto wrong = store_->Read(b, &stored, crypto::SegmentId(99));
  CHECK(absl::IsDataLoss(wrong.status()));
  CHECK(stored.empty());
  auto any = store_->Read(b, &stored, std::nullopt);
  REQUIRE(any.ok());
  CHECK(any->segment_id == crypto::SegmentId(2));
}

TEST_CASE_METHOD(StoreFixture, "a full container rolls over to a new one",
                 "[storage][container_store]") {
  const uint64_t record = kRecordHeaderSize + 1000;
  Open({.target_size = kContainerHeaderSize + 3 * record, .max_open_readers = 256});
  std::vector<StoredLocation> where;
  for (uint64_t id = 1; id <= 7; ++id) where.push_back(Write(Group(1), id, 1000));
  RequireSync();
  for (size_t i = 0; i < where.size(); ++i) {
    CHECK(where[i].container_id == 1 + i / 3);
    CheckReads(where[i], i + 1);
  }
  CHECK(*store_->List() == std::vector<uint64_t>{1, 2, 3});
  CHECK_FALSE(store_->IsOpenForAppend(1));
  CHECK_FALSE(store_->IsOpenForAppend(2));
  CHECK(store_->IsOpenForAppend(3));
  CHECK(*store_->FileSize(1) == kContainerHeaderSize + 3 * record);
  CHECK(*store_->FileSize(3) == kContainerHeaderSize + record);

  // A record larger than the target still fits in a container of its own.
  StoredLocation big = Write(Group(1), 8, 5000);
  CHECK(big.container_id == 4);
  CHECK(big.location.offset == kContainerHeaderSize);
}

TEST_CASE_METHOD(StoreFixture, "each key group appends to a container of its own",
                 "[storage][container_store]") {
  Open();
  StoredLocation a = Write(Group(1), 1, 100);
  StoredLocation b = Write(Group(2), 2, 100);
  StoredLocation c = Write(Group(1), 3, 100);
  StoredLocation d = Write(Group(2), 4, 100);
  RequireSync();
  CHECK(a.container_id == c.container_id);
  CHECK(b.container_id == d.container_id);
  CHECK(a.container_id != b.container_id);
  for (auto [where, group] : {std::pair{a, Group(1)}, std::pair{b, Group(2)}}) {
    auto reader = store_->OpenReader(where.container_id);
    REQUIRE(reader.ok());
    CHECK((*reader)->header().key_group_id == group);
  }
  CheckReads(a, 1);
  CheckReads(b, 2);
  CheckReads(c, 3);
  CheckReads(d, 4);
}

TEST_CASE_METHOD(StoreFixture, "many threads append, sync and read back across a power cut",
                 "[storage][container_store]") {
  size_t groups = 0;
  SECTION("one key group") { groups = 1; }
  SECTION("two key groups") { groups = 2; }
  // Small containers, so that rollovers happen while threads append and sync.
  Open({.target_size = 64 << 10, .max_open_readers = 4});
  constexpr uint64_t kThreads = 4;
  constexpr uint64_t kPerThread = 150;
  std::vector<std::vector<StoredLocation>> where(kThreads);
  std::vector<TestSegment> made(kThreads * kPerThread);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (uint64_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<StoredLocation> unsynced;
      for (uint64_t i = 0; i < kPerThread; ++i) {
        const uint64_t id = t * kPerThread + i;
        TestSegment s = MakeSegment(id, 1 + (id * 37) % 900);
        auto loc = store_->Append(Group(static_cast<uint8_t>(1 + id % groups)), s.view());
        if (!loc.ok()) {
          ++failures;
          return;
        }
        made[id] = std::move(s);
        where[t].push_back(*loc);
        unsynced.push_back(*loc);
        if (i % 25 == 24) {  // acknowledge a batch, as the pool does
          if (!store_->Sync(unsynced).ok()) ++failures;
          unsynced.clear();
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  REQUIRE(failures == 0);
  RequireSync();
  for (uint64_t id = 0; id < made.size(); ++id) segments_[id] = made[id];

  PowerCutAndReopen();
  size_t checked = 0;
  for (uint64_t t = 0; t < kThreads; ++t) {
    for (uint64_t i = 0; i < kPerThread; ++i) {
      CheckReads(where[t][i], t * kPerThread + i);
      ++checked;
    }
  }
  CHECK(checked == kThreads * kPerThread);
  CHECK(store_->List()->size() > groups);  // rolled over
}

TEST_CASE_METHOD(StoreFixture, "records appended before Sync survive a power cut, later ones do not",
                 "[storage][container_store]") {
  Open();
  StoredLocation a = Write(Group(1), 1, 500);
  StoredLocation b = Write(Group(2), 2, 500);
  RequireSync();
  StoredLocation c = Write(Group(1), 3, 500);
  StoredLocation d = Write(Group(3), 4, 500);  // a container created after the sync
  PowerCutAndReopen();
  CheckReads(a, 1);
  CheckReads(b, 2);
  std::vector<uint8_t> stored;
  CHECK(absl::IsDataLoss(store_->Read(c, &stored, crypto::SegmentId(3)).status()));
  // The new container's creation was durable; the record in it was not.
  CHECK(*store_->FileSize(d.container_id) == kContainerHeaderSize);
  CHECK(absl::IsDataLoss(store_->Read(d, &stored, crypto::SegmentId(4)).status()));
  // Containers of the earlier store are read-only: appends go to new containers.
  StoredLocation e = Write(Group(1), 5, 500);
  CHECK(e.container_id > d.container_id);
}

TEST_CASE_METHOD(StoreFixture, "after a failed write the group moves to a new container",
                 "[storage][container_store]") {
  Open();
  StoredLocation a = Write(Group(1), 1, 300);
  RequireSync();
  fs_.FailNth(Op::kAppend, 1);
  auto failed = store_->Append(Group(1), MakeSegment(2, 300).view());
  INFO(failed.status().ToString());
  CHECK(absl::IsInternal(failed.status()));
  CHECK(Mentions(failed.status(), "injected"));
  CHECK(Mentions(failed.status(), "container 1"));
  CHECK_FALSE(store_->IsOpenForAppend(1));

  StoredLocation c = Write(Group(1), 3, 300);
  CHECK(c.container_id == 2);
  // Nothing acknowledged was lost: record 1 was synced, record 2 never got a location.
  CHECK(store_->Sync().ok());
  CHECK(store_->Sync(std::vector<StoredLocation>{a, c}).ok());
  CheckReads(a, 1);
  CheckReads(c, 3);
  PowerCutAndReopen();
  CheckReads(a, 1);
  CheckReads(c, 3);
}

TEST_CASE_METHOD(StoreFixture, "a failed sync is reported, also to callers asking later",
                 "[storage][container_store]") {
  Open();
  StoredLocation a = Write(Group(1), 1, 300);
  RequireSync();
  StoredLocation b = Write(Group(1), 2, 300);
  StoredLocation other = Write(Group(2), 3, 300);
  fs_.FailNth(Op::kSync, 1);
  absl::Status round = store_->Sync();
  INFO(round.ToString());
  CHECK(absl::IsInternal(round));
  CHECK(Mentions(round, "injected"));

  // A caller that asks about its own records after the failure still learns of it...
  absl::Status late = store_->Sync(std::vector<StoredLocation>{b});
  INFO(late.ToString());
  CHECK_FALSE(late.ok());
  CHECK(Mentions(late, absl::StrCat("container ", b.container_id, " offset ",
                                    b.location.offset)));
  // ...while records that did become durable are confirmed, even those of the failed round.
  CHECK(store_->Sync(std::vector<StoredLocation>{a, other}).ok());
  // The group continues in a new container, and plain Sync works again.
  StoredLocation c = Write(Group(1), 4, 300);
  CHECK(c.container_id != a.container_id);
  CHECK(store_->Sync().ok());
  CHECK(store_->Sync(std::vector<StoredLocation>{c}).ok());
  PowerCutAndReopen();
  CheckReads(a, 1);
  CheckReads(other, 3);
  CheckReads(c, 4);
}

TEST_CASE_METHOD(StoreFixture, "sealed containers are synced and never appended to again",
                 "[storage][container_store]") {
  Open();
  StoredLocation a = Write(Group(1), 1, 100);
  StoredLocation b = Write(Group(2), 2, 100);
  REQUIRE(store_->SealOpenContainers().ok());
  CHECK_FALSE(store_->IsOpenForAppend(a.container_id));
  CHECK_FALSE(store_->IsOpenForAppend(b.container_id));
  StoredLocation c = Write(Group(1), 3, 100);
  CHECK(c.container_id != a.container_id);
  CHECK(c.container_id != b.container_id);
  PowerCutAndReopen();  // no Sync: sealing synced them
  CheckReads(a, 1);
  CheckReads(b, 2);
}

TEST_CASE_METHOD(StoreFixture, "Remove deletes sealed containers only",
                 "[storage][container_store]") {
  Open();
  StoredLocation a = Write(Group(1), 1, 100);
  REQUIRE(store_->SealOpenContainers().ok());
  StoredLocation b = Write(Group(1), 2, 100);
  RequireSync();
  CheckReads(a, 1);  // caches a reader of container 1
  absl::Status refused = store_->Remove(b.container_id);
  CHECK(absl::IsFailedPrecondition(refused));
  CHECK(std::filesystem::exists(store_->PathOf(b.container_id)));

  REQUIRE(store_->Remove(a.container_id).ok());
  CHECK(*store_->List() == std::vector<uint64_t>{b.container_id});
  CHECK(store_->CachedReaderIds().empty());
  std::vector<uint8_t> stored;
  auto gone = store_->Read(a, &stored, crypto::SegmentId(1));
  CHECK(absl::IsNotFound(gone.status()));
  CHECK(Mentions(gone.status(), "container 1"));
  CHECK(absl::IsNotFound(store_->Remove(a.container_id)));
  CHECK(absl::IsNotFound(store_->FileSize(a.container_id).status()));
  CHECK(absl::IsNotFound(store_->OpenReader(a.container_id).status()));
  PowerCutAndReopen();  // the removal is durable (the model keeps removes anyway; no resurrection)
  CHECK(*store_->List() == std::vector<uint64_t>{b.container_id});
  CheckReads(b, 2);
}

TEST_CASE_METHOD(StoreFixture, "the reader cache keeps the most recently used readers",
                 "[storage][container_store]") {
  Open({.target_size = 64ull << 20, .max_open_readers = 2});
  std::vector<StoredLocation> where;
  for (uint64_t id = 1; id <= 3; ++id) {
    where.push_back(Write(Group(1), id, 200));
    REQUIRE(store_->SealOpenContainers().ok());
  }
  CHECK(store_->CachedReaderIds().empty());
  CheckReads(where[0], 1);
  CheckReads(where[1], 2);
  CheckReads(where[2], 3);
  CHECK(store_->CachedReaderIds() == std::vector<uint64_t>{3, 2});
  CheckReads(where[1], 2);
  CHECK(store_->CachedReaderIds() == std::vector<uint64_t>{2, 3});
  CheckReads(where[0], 1);  // evicts 3, the least recently used
  CHECK(store_->CachedReaderIds() == std::vector<uint64_t>{1, 2});
  CheckReads(where[2], 3);
  CHECK(store_->CachedReaderIds() == std::vector<uint64_t>{3, 1});
}

TEST_CASE_METHOD(StoreFixture, "corrupt or truncated containers read as DataLoss with the place",
                 "[storage][container_store]") {
  Open();
  StoredLocation a = Write(Group(1), 1, 400);
  StoredLocation b = Write(Group(1), 2, 400);
  RequireSync();
  REQUIRE(store_->SealOpenContainers().ok());
  const std::string path = store_->PathOf(1);
  const std::string where_b = absl::StrCat("container 1 (", path, ") offset ", b.location.offset);
  std::vector<uint8_t> stored;

  SECTION("a flipped payload byte") {
    std::vector<uint8_t> bytes = ReadWholeFile(path);
    bytes[b.location.offset + kRecordHeaderSize + 10] ^= 0x04;
    WriteWholeFile(path, bytes);
    auto read = store_->Read(b, &stored, crypto::SegmentId(2));
    INFO(read.status().ToString());
    CHECK(absl::IsDataLoss(read.status()));
    CHECK(Mentions(read.status(), where_b));
    CHECK(stored.empty());
    CheckReads(a, 1);
  }
  SECTION("a flipped record header byte") {
    std::vector<uint8_t> bytes = ReadWholeFile(path);
    bytes[b.location.offset + 30] ^= 0x01;
    WriteWholeFile(path, bytes);
    auto read = store_->Read(b, &stored, crypto::SegmentId(2));
    CHECK(absl::IsDataLoss(read.status()));
    CHECK(Mentions(read.status(), where_b));
  }
  SECTION("a truncated file") {
    std::filesystem::resize_file(path, b.location.offset + 50);
    auto read = store_->Read(b, &stored, crypto::SegmentId(2));
    INFO(read.status().ToString());
    CHECK(absl::IsDataLoss(read.status()));
    CHECK(Mentions(read.status(), where_b));
    CheckReads(a, 1);
  }
  SECTION("a corrupt file header") {
    std::vector<uint8_t> bytes = ReadWholeFile(path);
    bytes[30] ^= 0x01;  // inside container_id
    WriteWholeFile(path, bytes);
    auto read = store_->Read(a, &stored, crypto::SegmentId(1));
    INFO(read.status().ToString());
    CHECK(absl::IsDataLoss(read.status()));
    CHECK(Mentions(read.status(), "container 1"));
    CHECK(Mentions(read.status(), path));
    CHECK(store_->CachedReaderIds().empty());  // a failed open is not cached
  }
}

TEST_CASE_METHOD(StoreFixture, "List returns container files only, ascending",
                 "[storage][container_store]") {
  Open();
  Write(Group(1), 1, 10);
  REQUIRE(store_->SealOpenContainers().ok());
  for (const char* name : {"README", "0000000000000002.spc.tmp", "00000000000000AB.spc",
                           "000000000000003.spc", "x000000000000004.spc", "0000000000000005.SPC",
                           "0000000000000006", ".0000000000000007.spc"}) {
    WriteWholeFile(dir_ + "/" + name, {1, 2, 3});
  }
  WriteWholeFile(dir_ + "/00000000000000ff.spc", {});  // a container name, any state
  WriteWholeFile(dir_ + "/ffffffffffffffff.spc", {});
  auto ids = store_->List();
  REQUIRE(ids.ok());
  CHECK(*ids == std::vector<uint64_t>{1, 0xff, 0xffffffffffffffff});
  CHECK(ParseContainerFileName("0000000000000001.spc") == 1u);
  CHECK(ParseContainerFileName("00000000000000AB.spc") == std::nullopt);
  CHECK(ContainerFileName(0xab) == "00000000000000ab.spc");
}

TEST_CASE_METHOD(StoreFixture, "Open creates the directory, or says why it cannot",
                 "[storage][container_store]") {
  SECTION("created when missing") {
    Open();
    CHECK(std::filesystem::is_directory(dir_));
    CHECK(store_->List()->empty());
  }
  SECTION("the parent does not exist") {
    auto store = LocalContainerStore::Open(&fs_, tmp_.File("no/such/containers"), pool_id_, {},
                                      [] { return absl::StatusOr<uint64_t>(1); });
    INFO(store.status().ToString());
    CHECK(absl::IsNotFound(store.status()));
    CHECK(Mentions(store.status(), "no/such/containers"));
  }
  SECTION("the path is a file") {
    WriteWholeFile(dir_, {1});
    auto store = LocalContainerStore::Open(&fs_, dir_, pool_id_, {},
                                      [] { return absl::StatusOr<uint64_t>(1); });
    INFO(store.status().ToString());
    CHECK_FALSE(store.ok());
  }
  SECTION("bad options") {
    auto store = LocalContainerStore::Open(&fs_, dir_, pool_id_, {.max_open_readers = 0},
                                      [] { return absl::StatusOr<uint64_t>(1); });
    CHECK(absl::IsInvalidArgument(store.status()));
    auto no_allocator = LocalContainerStore::Open(&fs_, dir_, pool_id_, {}, nullptr);
    CHECK(absl::IsInvalidArgument(no_allocator.status()));
  }
  SECTION("an unwritable directory") {
    if (::geteuid() == 0) {
      WARN("running as root: permission bits are not enforced, not checked here");
      return;
    }
    std::filesystem::create_directory(tmp_.File("ro"));
    ::chmod(tmp_.File("ro").c_str(), 0500);
    auto store = LocalContainerStore::Open(&fs_, tmp_.File("ro/containers"), pool_id_, {},
                                      [] { return absl::StatusOr<uint64_t>(1); });
    CHECK(absl::IsPermissionDenied(store.status()));
    // An existing directory that cannot be written: opens (for reading), refuses appends.
    std::filesystem::create_directory(dir_);
    ::chmod(dir_.c_str(), 0500);
    Open();
    auto append = store_->Append(Group(1), MakeSegment(1, 10).view());
    CHECK(absl::IsPermissionDenied(append.status()));
    CHECK(Mentions(append.status(), "container 1"));
    CHECK_FALSE(store_->IsOpenForAppend(1));
    ::chmod(tmp_.File("ro").c_str(), 0700);
    ::chmod(dir_.c_str(), 0700);
  }
}

TEST_CASE_METHOD(StoreFixture, "allocator errors and reused ids are refused",
                 "[storage][container_store]") {
  SECTION("the allocator fails") {
    auto store = LocalContainerStore::Open(&fs_, dir_, pool_id_, {}, [] {
      return absl::StatusOr<uint64_t>(absl::UnavailableError("catalog is down"));
    });
    REQUIRE(store.ok());
    auto append = (*store)->Append(Group(1), MakeSegment(1, 10).view());
    CHECK(absl::IsUnavailable(append.status()));
    CHECK(Mentions(append.status(), "catalog is down"));
    CHECK((*store)->List()->empty());
  }
  SECTION("the allocator returns the id of an existing container") {
    Open();
    StoredLocation a = Write(Group(1), 1, 10);
    RequireSync();
    const std::vector<uint8_t> before = ReadWholeFile(store_->PathOf(1));
    next_id_ = 1;  // a catalog counter that went back, while container 1 is open
    auto open = store_->Append(Group(2), MakeSegment(2, 10).view());
    INFO(open.status().ToString());
    CHECK_FALSE(open.ok());
    CHECK(Mentions(open.status(), "container id 1"));
    REQUIRE(store_->SealOpenContainers().ok());
    next_id_ = 1;  // and again once it is sealed: the file is there
    auto sealed = store_->Append(Group(2), MakeSegment(2, 10).view());
    INFO(sealed.status().ToString());
    CHECK(absl::IsAlreadyExists(sealed.status()));
    CHECK(Mentions(sealed.status(), "new container 1"));
    CHECK(ReadWholeFile(store_->PathOf(1)) == before);
    CheckReads(a, 1);
  }
}

}  // namespace
}  // namespace sealpool::storage
