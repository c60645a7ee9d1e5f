// The pool over the S3 container store against a real radosgw: what issue 16's round trip asks,
// at the pool level (sealpoold's end-to-end test: test/daemon/sealpoold/sealpoold_s3_test.cc),
// and S3 as a property of a key group (a store per group, sizes in the catalog, mixing refused).
#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/pool/pool.h"
#include "storage/s3/s3_container_store.h"
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

std::set<std::string> Keys(S3Client& client) {
  auto listed = client.List("lsu/");
  REQUIRE(listed.ok());
  std::set<std::string> keys;
  for (const auto& o : *listed) {
    // Containers only: commit records, catalog backups, lease generations and upload intents
    // live beside them (docs/s3.md).
    if (o.key.find("/containers/") != std::string::npos) keys.insert(o.key);
  }
  return keys;
}

TEST_CASE("S3 pool: two generations round trip / delete / compact (bucket listed) / restore again / damage is DataLoss",
          "[s3][pool]") {
  CephS3& ceph = CephS3::Get();
  std::unique_ptr<S3Client> client = ceph.Client(CephS3::NewBucketName());
  PoolOptions options = SmallPoolOptions();
  options.containers.target_size = 256 << 10;
  options.container_store = [&client](const Id128& pool_id,
                                      std::function<absl::StatusOr<uint64_t>()> allocate)
      -> absl::StatusOr<std::unique_ptr<ContainerStore>> {
    s3::S3ContainerStoreOptions o;
    o.containers.target_size = 256 << 10;
    auto store = S3ContainerStore::Open(client.get(), "lsu/", pool_id, o, std::move(allocate));
    if (!store.ok()) return store.status();
    return std::unique_ptr<ContainerStore>(std::move(*store));
  };
  PoolFixture f(options);

  const std::vector<uint8_t> gen1 = ImageContent({1, 3'000'000});
  const std::vector<uint8_t> gen2 = ImageContent({2, 3'000'000});
  REQUIRE(f.WriteImage("gen1", gen1).ok());
  REQUIRE(f.WriteImage("gen2", gen2).ok());
  CHECK(f.ContainerFiles().empty());  // nothing local: every container is in the bucket
  auto r1 = f.ReadAll("gen1");
  auto r2 = f.ReadAll("gen2");
  REQUIRE(r1.ok());
  REQUIRE(r2.ok());
  CHECK(*r1 == gen1);
  CHECK(*r2 == gen2);
  const std::set<std::string> before = Keys(*client);
  REQUIRE(!before.empty());

  // No plaintext in the bucket: 48-byte windows of both images, searched in every object.
  for (const std::string& key : before) {
    auto object = client->GetObject(key, 64 << 20);
    REQUIRE(object.ok());
    for (const std::vector<uint8_t>* corpus : {&gen1, &gen2}) {
      for (size_t at = 0; at + 48 <= corpus->size(); at += 100'003) {
        auto begin = corpus->begin() + static_cast<std::ptrdiff_t>(at);
        CHECK(std::search(object->begin(), object->end(), begin, begin + 48) == object->end());
      }
    }
  }

  // No key material in the bucket: every key the pool holds in memory for the group (the
  // fingerprint key and the KEKs, unwrapped), searched in every object of the pool's folder,
  // commit records and catalog backups included (they hold only wrapped keys).
  {
    auto held = f.pool().HeldKeyMaterial(testing::kTestKeyGroup);
    REQUIRE(held.ok());
    REQUIRE(held->size() >= 2);  // the fingerprint key and KEK 1, both used by the writes
    auto everything = client->List("lsu/");
    REQUIRE(everything.ok());
    bool saw_commit_record = false;
    for (const auto& o : *everything) {
      if (o.key.find("/commits/") != std::string::npos) saw_commit_record = true;
      auto object = client->GetObject(o.key, 64 << 20);
      REQUIRE(object.ok());
      for (const crypto::SecretBytes& key : *held) {
        INFO(o.key);
        CHECK(std::search(object->begin(), object->end(), key.span().begin(),
                          key.span().end()) == object->end());
      }
    }
    CHECK(saw_commit_record);
  }

  // Delete gen1, give its space back, compact everything: objects really leave the bucket.
  REQUIRE(f.pool().DeleteImage({kTestLsu, "", "gen1"}, DeleteBy::kAdmin).ok());
  REQUIRE(f.pool().ProcessDeleteQueue().ok());
  CompactOptions compact;
  compact.live_threshold = 1.0;
  auto report = f.pool().Compact(compact);
  REQUIRE(report.ok());
  const std::set<std::string> after = Keys(*client);
  size_t gone = 0;
  for (const std::string& key : before) gone += after.contains(key) ? 0u : 1u;
  INFO("objects before " << before.size() << ", after " << after.size() << ", gone " << gone);
  CHECK(gone > 0);
  auto stats = f.pool().Stats();
  REQUIRE(stats.ok());
  CHECK(stats->containers == after.size());
  CHECK(absl::IsNotFound(f.ReadAll("gen1").status()));
  auto again = f.ReadAll("gen2");
  REQUIRE(again.ok());
  CHECK(*again == gen2);
  auto verify = f.pool().Verify();
  REQUIRE(verify.ok());
  CHECK(verify->ok());
  auto scrub = f.pool().Scrub();
  REQUIRE(scrub.ok());
  CHECK(scrub->ok());

  // Reopened (a new store, from one listing): gen2 still reads back exactly.
  f.Reopen();
  auto reopened = f.ReadAll("gen2");
  REQUIRE(reopened.ok());
  CHECK(*reopened == gen2);

  // One payload byte of the first record of every object flipped behind the pool's back: reads
  // fail with DataLoss naming the image and a segment, never wrong bytes; scrub finds it.
  for (const std::string& key : after) {
    auto object = client->GetObject(key, 64 << 20);
    REQUIRE(object.ok());
    (*object)[kContainerHeaderSize + kRecordHeaderSize + 5] ^= 0x40;
    REQUIRE(client->Put(key, *object).ok());
  }
  f.Reopen();  // no cached blocks
  auto damaged = f.ReadAll("gen2");
  REQUIRE(absl::IsDataLoss(damaged.status()));
  CHECK_THAT(std::string(damaged.status().message()), Catch::Contains("gen2"));
  CHECK_THAT(std::string(damaged.status().message()), Catch::Contains("segment"));
  auto scrub2 = f.pool().Scrub();
  REQUIRE(scrub2.ok());
  CHECK_FALSE(scrub2->ok());
}

// ---- a store per key group (docs/s3.md "Per key group") ----

// Opens each S3 group's store on its own client (counted, so a test sees what the open cost).
struct GroupStores {
  CephS3& ceph = CephS3::Get();
  std::string bucket = CephS3::NewBucketName();
  std::unique_ptr<S3Client> admin = ceph.Client(bucket);  // creates the bucket
  std::vector<S3Client*> clients;  // every client handed to a store (owned by the store)
  int opened = 0;

  ContainerTarget Target(std::string prefix) const { return {ceph.endpoint(), bucket, prefix}; }

  std::function<absl::StatusOr<std::unique_ptr<ContainerStore>>(const GroupStoreRequest&)>
  Factory() {
    return [this](const GroupStoreRequest& r) -> absl::StatusOr<std::unique_ptr<ContainerStore>> {
      auto secret = s3::ReadSecretKeyFile(ceph.secret_key_file());
      if (!secret.ok()) return secret.status();
      s3::S3Target target = ceph.Target(r.target.s3_bucket);
      auto client = S3Client::Create(target, *std::move(secret), {});
      if (!client.ok()) return client.status();
      clients.push_back(client->get());
      ++opened;
      s3::S3ContainerStoreOptions o;
      o.containers.target_size = 256 << 10;
      auto store = S3ContainerStore::OpenWithSizes(*std::move(client), r.target.s3_prefix,
                                                   r.pool_id, o, r.allocate_id, r.container_sizes);
      if (!store.ok()) return store.status();
      return std::unique_ptr<ContainerStore>(std::move(*store));
    };
  }
  uint64_t Requests() const {
    uint64_t n = 0;
    for (S3Client* c : clients) n += c->counters().requests;
    return n;
  }
};

TEST_CASE("S3 per key group: one group local and one in a bucket in one pool, sizes from the catalog, a vanished object is DataLoss",
          "[s3][pool]") {
  GroupStores stores;
  PoolOptions options = SmallPoolOptions();
  options.group_container_store = stores.Factory();
  PoolFixture f(options);  // kg1 / lsu1: local
  const std::string rk = f.kms().AddRootKey("kg-s3");
  REQUIRE(f.kms().Activate(rk).ok());
  REQUIRE(f.pool().CreateKeyGroup("kg-s3", "builtin", stores.Target("grp/")).ok());
  REQUIRE(f.pool().CreateLsu("lsu-s3", "kg-s3", LsuOptions{.allow_client_delete = true}).ok());
  auto groups = f.pool().ListKeyGroups();
  REQUIRE(groups.ok());
  REQUIRE(groups->size() == 2);
  CHECK(groups->at(1).target == stores.Target("grp/"));
  CHECK(!groups->at(0).target.is_s3());

  const std::vector<uint8_t> local = ImageContent({7, 600'000});
  const std::vector<uint8_t> remote = ImageContent({8, 1'500'000});
  REQUIRE(f.WriteImage("local", local).ok());
  const std::vector<std::string> local_files = f.ContainerFiles();
  REQUIRE(f.WriteImage("remote", remote, "lsu-s3").ok());
  CHECK(f.ContainerFiles() == local_files);  // nothing of kg-s3 is local
  // The pool's container objects (its folder also holds the lease, intents, commit records and
  // catalog backups: kg-s3 is the pool's only S3 group, so its folder keeps the catalog log).
  auto listed = stores.admin->List("grp/sealpool-" + f.pool().pool_id_hex() + "/containers/");
  REQUIRE(listed.ok());
  REQUIRE(!listed->empty());
  uint64_t object_bytes = 0;
  for (const auto& o : *listed) object_bytes += o.size;

  // Reopened: the S3 group's store gets its sizes from the catalog and sends no request at open
  // (the catalog log's store, opened first on the same folder, lists commits/ and
  // catalog-backups/ and takes the lease, which the group's store shares).
  f.Reopen();
  CHECK(stores.opened == 1 + 2);  // at create: the group's; at the reopen: the log's, the group's
  const uint64_t at_open = stores.clients.back()->counters().requests;
  CHECK(at_open == 0);
  auto stats = f.pool().Stats();
  REQUIRE(stats.ok());
  CHECK(stats->containers == local_files.size() + listed->size());
  CHECK(stores.clients.back()->counters().requests == 0);  // Stats: no HEAD, no LIST
  auto recount = f.pool().RecountStats();
  REQUIRE(recount.ok());
  CHECK(recount->space_allocated == stats->space_allocated);
  auto back = f.ReadAll("remote", "lsu-s3");
  REQUIRE(back.ok());
  CHECK(*back == remote);
  auto back_local = f.ReadAll("local");
  REQUIRE(back_local.ok());
  CHECK(*back_local == local);
  (void)object_bytes;

  // An object deleted behind the pool's back: DataLoss naming the image, to a store opened
  // after the deletion too (the catalog knows the container; no listing hides it).
  REQUIRE(stores.admin->Delete(listed->front().key).ok());
  f.Reopen();
  auto gone = f.ReadAll("remote", "lsu-s3");
  INFO(gone.status());
  REQUIRE(absl::IsDataLoss(gone.status()));
  CHECK_THAT(std::string(gone.status().message()), Catch::Contains("remote"));
  CHECK_THAT(std::string(gone.status().message()), Catch::Contains("segment"));
  auto scrub = f.pool().Scrub();
  REQUIRE(scrub.ok());
  CHECK_FALSE(scrub->ok());
}

TEST_CASE("S3 per key group: mixing local and S3 in one group is refused naming the group",
          "[s3][pool]") {
  GroupStores stores;
  PoolOptions options = SmallPoolOptions();
  options.group_container_store = stores.Factory();
  PoolFixture f(options);
  const std::string rk = f.kms().AddRootKey("kg-s3");
  REQUIRE(f.kms().Activate(rk).ok());

  // Incomplete or malformed targets are refused and create nothing.
  for (const ContainerTarget& bad :
       {ContainerTarget{"", "b", ""}, ContainerTarget{"http://x", "", "p/"},
        ContainerTarget{"http://x", "b", "no-slash"}, ContainerTarget{"http://x", "b c", ""},
        ContainerTarget{"http://x", std::string(300, 'b'), ""}}) {
    absl::Status s = f.pool().CreateKeyGroup("kg-s3", "builtin", bad);
    INFO(s);
    CHECK(absl::IsInvalidArgument(s));
  }
  // Without a factory an S3 group cannot be created.
  {
    PoolOptions plain = SmallPoolOptions();
    PoolFixture g(plain);
    const std::string rk2 = g.kms().AddRootKey("kg-s3");
    REQUIRE(g.kms().Activate(rk2).ok());
    absl::Status s = g.pool().CreateKeyGroup("kg-s3", "builtin", stores.Target("x/"));
    CHECK(absl::IsFailedPrecondition(s));
    CHECK_THAT(std::string(s.message()), Catch::Contains("kg-s3"));
  }
  REQUIRE(f.pool().CreateKeyGroup("kg-s3", "builtin", stores.Target("mix/")).ok());
  REQUIRE(f.pool().CreateLsu("lsu-s3", "kg-s3", LsuOptions{}).ok());
  REQUIRE(f.WriteImage("remote", ImageContent({9, 400'000}), "lsu-s3").ok());
  REQUIRE(f.WriteImage("local", ImageContent({10, 400'000})).ok());
  auto listed = stores.admin->List("mix/sealpool-" + f.pool().pool_id_hex() + "/containers/");
  REQUIRE(listed.ok());
  REQUIRE(!listed->empty());

  // Opened without S3 support: the S3 group is named.
  f.Close();
  f.options().group_container_store = nullptr;
  absl::Status s = f.TryOpen();
  CHECK(absl::IsFailedPrecondition(s));
  CHECK_THAT(std::string(s.message()), Catch::Contains("kg-s3"));

  // One of the group's objects copied into the local folder: refused naming the group.
  f.options().group_container_store = stores.Factory();
  const std::string key = listed->front().key;
  auto object = stores.admin->GetObject(key, 64 << 20);
  REQUIRE(object.ok());
  const std::string name = key.substr(key.rfind('/') + 1);
  {
    std::FILE* out = std::fopen((f.dir() + "/containers/" + name).c_str(), "wb");
    REQUIRE(out != nullptr);
    REQUIRE(std::fwrite(object->data(), 1, object->size(), out) == object->size());
    std::fclose(out);
  }
  s = f.TryOpen();
  INFO(s);
  CHECK(absl::IsFailedPrecondition(s));
  CHECK_THAT(std::string(s.message()), Catch::Contains("kg-s3"));
  CHECK_THAT(std::string(s.message()), Catch::Contains("all local or all in its bucket"));
  std::remove((f.dir() + "/containers/" + name).c_str());
  f.Reopen();
  auto back = f.ReadAll("remote", "lsu-s3");
  CHECK(back.ok());
}

}  // namespace
}  // namespace sealpool::storage
