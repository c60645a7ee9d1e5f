// sealpoold with a key group whose containers are in an S3 bucket (issue 16), end to end: real
// sealkmsd and sealpoold processes, a real single-node Ceph started by the test
// (test/storage/s3/ceph_fixture.h, one per test process). docs/s3.md "Tests".
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/s3/s3_client.h"
#include "test/daemon/sealpoold/sealpoold_test_env.h"
#include "test/storage/s3/ceph_fixture.h"

namespace sealpool::test {
namespace {

namespace v1 = sealpool::pool::v1;
using absl::StatusCode;
using storage::s3::S3Client;

constexpr char kPrefix[] = "e2e/";

// The default tables with kg-a's containers in `bucket` under `prefix` (`s3_extra` appended to
// its [key_group.s3] table).
std::string S3Tables(const CephS3& ceph, const std::string& bucket, const std::string& prefix,
                     const std::string& secret_file, const std::string& s3_extra = "") {
  std::string tables = DefaultPoolTables();
  const std::string first = "[[key_group]]\nname = \"kg-a\"\n";
  REQUIRE(tables.starts_with(first));
  return first + "[key_group.s3]\nendpoint = \"" + ceph.endpoint() + "\"\nbucket = \"" + bucket +
         "\"\nprefix = \"" + prefix + "\"\naccess_key_id = \"" + ceph.access_key_id() +
         "\"\nsecret_key_file = \"" + secret_file + "\"\n" + s3_extra +
         tables.substr(first.size());
}

std::map<std::string, uint64_t> Objects(S3Client& client, const std::string& prefix) {
  auto listed = client.List(prefix);
  REQUIRE(listed.ok());
  std::map<std::string, uint64_t> out;
  for (const auto& o : *listed) out[o.key] = o.size;
  return out;
}

v1::GetStatsResponse Stats(v1::PoolAdmin::Stub& admin) {
  grpc::ClientContext ctx;
  v1::GetStatsResponse out;
  grpc::Status s = admin.GetStats(&ctx, {}, &out);
  REQUIRE(s.ok());
  return out;
}

v1::CheckProgress Scrub(v1::PoolAdmin::Stub& admin) {
  grpc::ClientContext ctx;
  auto reader = admin.Scrub(&ctx, {});
  v1::CheckProgress p, last;
  while (reader->Read(&p)) last = p;
  const grpc::Status s = reader->Finish();
  INFO(s.error_code() << " " << s.error_message());
  REQUIRE(s.ok());
  CHECK(last.finished());
  return last;
}

// No 48-byte window of `corpus` (sampled every `step` bytes) in `object`.
bool HasPlaintext(const std::vector<uint8_t>& object, const std::string& corpus, size_t step) {
  for (size_t at = 0; at + 48 <= corpus.size(); at += step) {
    const std::string_view window(corpus.data() + at, 48);
    if (std::search(object.begin(), object.end(), window.begin(), window.end()) != object.end()) {
      return true;
    }
  }
  return false;
}

// The pool id sealpoold logs at start ("pool <32 hex> open in ...").
std::string PoolIdFromLog(const std::string& log) {
  size_t pos = 0;
  while ((pos = log.find("pool ", pos)) != std::string::npos) {
    if (log.compare(pos + 37, 9, " open in ") == 0) return log.substr(pos + 5, 32);
    ++pos;
  }
  FAIL("no pool id in sealpoold's log");
  return "";
}

struct S3PoolFixture {
  CephS3& ceph = CephS3::Get();
  const std::string bucket = CephS3::NewBucketName();
  std::unique_ptr<S3Client> bucket_client = ceph.Client(bucket);  // creates the bucket
  TempDir dir;
  Sealkmsd kms{dir.path() / "kms"};
  Sealpoold pool{dir.path() / "poold", &kms};
  std::string secret;
  std::filesystem::path secret_file = dir.path() / "s3-secret";

  S3PoolFixture() {
    secret = ReadFileOrDie(ceph.secret_key_file());
    while (!secret.empty() && secret.back() == '\n') secret.pop_back();
    REQUIRE(secret.size() >= 8);
    WriteFileOrDie(secret_file, secret + "\n", 0600);
    kms.Start();
    kms.CreateActiveGroup("kg-a");
    pool.SetTables(S3Tables(ceph, bucket, kPrefix, secret_file.string()));
  }
};

TEST_CASE_METHOD(S3PoolFixture,
                 "sealpoold S3: two generations round trip, delete, compact (bucket listed), restore again, damage is DATA_LOSS, no secret in logs, no plaintext in objects",
                 "[e2e][sealpoold][s3]") {
  pool.Start();
  // The pool's container objects (its folder also holds the lease, intents, commit records
  // and catalog backups).
  const std::string containers =
      std::string(kPrefix) + "sealpool-" + PoolIdFromLog(pool.Log()) + "/containers/";
  auto alice = pool.Client("alice");
  auto admin = pool.Admin();
  auto [gen1, gen2] = TwoGenerations(3'000'000, 16);
  REQUIRE(Backup(*alice, "lsu1", "gen1", gen1).ok());
  REQUIRE(Backup(*alice, "lsu1", "gen2", gen2).ok());
  auto back1 = Restore(*alice, "lsu1", "gen1");
  auto back2 = Restore(*alice, "lsu1", "gen2");
  REQUIRE(back1.ok());
  REQUIRE(back2.ok());
  CHECK(*back1 == gen1);
  CHECK(*back2 == gen2);
  // Nothing of kg-a is local.
  size_t local_files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(pool.pool_dir())) {
    local_files += e.path().extension() == ".spc" ? 1u : 0u;
  }
  CHECK(local_files == 0);

  const std::map<std::string, uint64_t> before = Objects(*bucket_client, containers);
  REQUIRE(!before.empty());
  CHECK(Stats(*admin).containers() == before.size());
  // No plaintext in the bucket: 48-byte windows of both generations in every object (commit
  // records and catalog backups included).
  const std::map<std::string, uint64_t> everything = Objects(*bucket_client, kPrefix);
  CHECK(everything.size() > before.size());
  for (const auto& [key, size] : everything) {
    auto object = bucket_client->GetObject(key, 256 << 20);
    REQUIRE(object.ok());
    CHECK(object->size() == size);
    INFO(key);
    CHECK_FALSE(HasPlaintext(*object, gen1, 4099));
    CHECK_FALSE(HasPlaintext(*object, gen2, 4099));
  }

  // Delete gen1, run the delete queue, compact everything: objects really leave the bucket.
  {
    grpc::ClientContext ctx;
    v1::AdminImageRef ref;
    ref.set_lsu("lsu1");
    ref.set_owner("alice");
    ref.set_name("gen1");
    v1::DeleteImageResponse out;
    REQUIRE(admin->DeleteImage(&ctx, ref, &out).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::ProcessQueueResponse out;
    REQUIRE(admin->ProcessQueue(&ctx, {}, &out).ok());
    CHECK(out.jobs_done() >= 1);
    CHECK(out.segments_erased() > 0);
    CHECK(out.jobs_left() == 0);
  }
  {
    grpc::ClientContext ctx;
    v1::StartCompactionRequest req;
    req.set_live_threshold(0.99);
    v1::JobStatus out;
    REQUIRE(admin->StartCompaction(&ctx, req, &out).ok());
    for (int i = 0; i < 1200 && out.state() == v1::JOB_STATE_RUNNING; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      grpc::ClientContext c2;
      REQUIRE(admin->GetCompaction(&c2, {}, &out).ok());
    }
    CHECK(out.state() == v1::JOB_STATE_DONE);
    CHECK(out.containers_done() == out.containers_total());
  }
  const std::map<std::string, uint64_t> after = Objects(*bucket_client, containers);
  size_t gone = 0;
  for (const auto& [key, size] : before) gone += after.contains(key) ? 0u : 1u;
  INFO("objects before " << before.size() << ", after " << after.size() << ", gone " << gone);
  CHECK(gone > 0);
  CHECK(Stats(*admin).containers() == after.size());
  CHECK(Restore(*alice, "lsu1", "gen1").status().code() == StatusCode::kNotFound);
  auto again = Restore(*alice, "lsu1", "gen2");
  REQUIRE(again.ok());
  CHECK(*again == gen2);
  CHECK(Scrub(*admin).problems_size() == 0);

  // Restarted: the store knows its objects from the catalog; gen2 reads back exactly.
  REQUIRE(pool.Stop() == 0);
  pool.Start();
  alice = pool.Client("alice");
  admin = pool.Admin();
  auto restarted = Restore(*alice, "lsu1", "gen2");
  REQUIRE(restarted.ok());
  CHECK(*restarted == gen2);
  CHECK(Stats(*admin).containers() == after.size());

  // The secret key is in no log (sealpoold's log, the audit log).
  CHECK(pool.Log().find(secret) == std::string::npos);
  CHECK(ReadFileOrDie(pool.audit_path()).find(secret) == std::string::npos);
  CHECK(pool.Log().find("containers in S3 bucket") != std::string::npos);

  // A third image, in objects of its own (each commit uploads its own).
  const std::string extra = TwoGenerations(400'000, 99).first;
  REQUIRE(Backup(*alice, "lsu1", "extra", extra).ok());
  std::string extra_key;
  for (const auto& [key, size] : Objects(*bucket_client, containers)) {
    if (!after.contains(key)) extra_key = key;
  }
  REQUIRE(!extra_key.empty());

  // Behind the pool's back: the compacted objects altered and truncated, extra's deleted.
  REQUIRE(pool.Stop() == 0);
  std::vector<std::string> keys;
  for (const auto& [key, size] : after) keys.push_back(key);
  REQUIRE(keys.size() >= 1);
  if (keys.size() == 1) keys.push_back(keys[0]);  // altered and truncated, then
  keys.resize(2);
  keys.push_back(extra_key);
  {
    auto object = bucket_client->GetObject(keys[0], 256 << 20);
    REQUIRE(object.ok());
    (*object)[object->size() / 2] ^= 0x10;
    REQUIRE(bucket_client->Put(keys[0], *object).ok());
  }
  {
    auto object = bucket_client->GetObject(keys[1], 256 << 20);
    REQUIRE(object.ok());
    object->resize(object->size() / 2);
    REQUIRE(bucket_client->Put(keys[1], *object).ok());
  }
  REQUIRE(bucket_client->Delete(keys[2]).ok());
  pool.Start();
  alice = pool.Client("alice");
  admin = pool.Admin();
  auto damaged = Restore(*alice, "lsu1", "gen2");
  INFO(damaged.status());
  REQUIRE(damaged.status().code() == StatusCode::kDataLoss);
  CHECK_THAT(std::string(damaged.status().message()), Catch::Contains("gen2"));
  CHECK_THAT(std::string(damaged.status().message()), Catch::Contains("segment"));
  auto vanished = Restore(*alice, "lsu1", "extra");
  INFO(vanished.status());
  REQUIRE(vanished.status().code() == StatusCode::kDataLoss);
  CHECK_THAT(std::string(vanished.status().message()), Catch::Contains("extra"));
  CHECK_THAT(std::string(vanished.status().message()), Catch::Contains("segment"));
  const v1::CheckProgress scrub = Scrub(*admin);
  std::string problems;
  for (const auto& p : scrub.problems()) problems += p + "\n";
  INFO(problems);
  CHECK(scrub.problems_size() >= 2);
  for (size_t i = 0; i < keys.size(); ++i) {
    // The object name's 16 hex digits are the container id; scrub names it in decimal.
    const std::string hex = keys[i].substr(keys[i].rfind('/') + 1, 16);
    const std::string id = std::to_string(std::stoull(hex, nullptr, 16));
    CHECK_THAT(problems, Catch::Contains("container " + id));
  }
  CHECK(pool.Log().find(secret) == std::string::npos);
  CHECK(ReadFileOrDie(pool.audit_path()).find(secret) == std::string::npos);
}

TEST_CASE_METHOD(S3PoolFixture,
                 "sealpoold S3: a config that moves a key group or leaks the secret is refused naming it",
                 "[e2e][sealpoold][s3]") {
  std::string log;
  // The secret in the config itself.
  pool.SetTables(S3Tables(ceph, bucket, kPrefix, secret_file.string(),
                          "secret_key = \"" + secret + "\"\n"));
  CHECK(pool.RunToExit(&log) != 0);
  CHECK_THAT(log, Catch::Contains("secret key is never taken from the config"));
  // A secret file others may read.
  ::chmod(secret_file.c_str(), 0644);
  pool.SetTables(S3Tables(ceph, bucket, kPrefix, secret_file.string()));
  CHECK(pool.RunToExit(&log) != 0);
  CHECK_THAT(log, Catch::Contains("S3 secret key file of key group kg-a"));
  CHECK_THAT(log, Catch::Contains("chmod 600"));
  CHECK(log.find(secret) == std::string::npos);
  ::chmod(secret_file.c_str(), 0600);
  // A systemd credential without $CREDENTIALS_DIRECTORY.
  {
    std::string tables = S3Tables(ceph, bucket, kPrefix, secret_file.string());
    const std::string line = "secret_key_file = \"" + secret_file.string() + "\"\n";
    tables.replace(tables.find(line), line.size(), "secret_key_credential = \"s3-secret\"\n");
    pool.SetTables(tables);
    CHECK(pool.RunToExit(&log) != 0);
    CHECK_THAT(log, Catch::Contains("CREDENTIALS_DIRECTORY"));
  }

  // A pool with kg-a in the bucket, then configs that move it.
  pool.SetTables(S3Tables(ceph, bucket, kPrefix, secret_file.string()));
  pool.Start();
  {
    auto alice = pool.Client("alice");
    REQUIRE(Backup(*alice, "lsu1", "img", std::string(200000, 'q')).ok());
  }
  REQUIRE(pool.Stop() == 0);
  pool.SetTables(S3Tables(ceph, bucket, "elsewhere/", secret_file.string()));
  CHECK(pool.RunToExit(&log) != 0);
  CHECK_THAT(log, Catch::Contains("kg-a"));
  CHECK_THAT(log, Catch::Contains("never move"));
  pool.SetTables(DefaultPoolTables());  // kg-a local
  CHECK(pool.RunToExit(&log) != 0);
  CHECK_THAT(log, Catch::Contains("kg-a"));
  CHECK_THAT(log, Catch::Contains("all local or all in its bucket"));
  // Back as created: it starts and the image reads back.
  pool.SetTables(S3Tables(ceph, bucket, kPrefix, secret_file.string()));
  pool.Start();
  auto alice = pool.Client("alice");
  auto back = Restore(*alice, "lsu1", "img");
  REQUIRE(back.ok());
  CHECK(*back == std::string(200000, 'q'));
}


TEST_CASE_METHOD(S3PoolFixture,
                 "sealpoold S3: the local pool folder lost, --recover-from-bucket rebuilds it from the bucket and both images restore bit-exact",
                 "[e2e][sealpoold][s3]") {
  pool.Start();
  const std::string pool_id = PoolIdFromLog(pool.Log());
  auto [gen1, gen2] = TwoGenerations(2'000'000, 23);
  {
    auto alice = pool.Client("alice");
    REQUIRE(Backup(*alice, "lsu1", "gen1", gen1).ok());
    REQUIRE(Backup(*alice, "lsu1", "gen2", gen2).ok());
  }
  REQUIRE(pool.Stop() == 0);
  // Acknowledged means in the bucket, catalog included: kg-a's folder (the only, so the lowest,
  // S3 group) holds the commit records and the base backup.
  const std::string folder = std::string(kPrefix) + "sealpool-" + pool_id + "/";
  CHECK(!Objects(*bucket_client, folder + "commits/").empty());
  CHECK(!Objects(*bucket_client, folder + "catalog-backups/").empty());

  // The disk is gone.
  std::filesystem::remove_all(pool.pool_dir());
  std::string log;
  // Bad and wrong pool ids are refused (exit 2) and create nothing.
  CHECK(pool.RunToExit(&log, {"--recover-from-bucket", "not-hex"}) == 2);
  CHECK_THAT(log, Catch::Contains("32 lower-case hex digits"));
  CHECK(pool.RunToExit(&log, {"--recover-from-bucket", pool_id.substr(0, 31)}) == 2);
  std::string other = pool_id;
  other[0] = other[0] == '0' ? '1' : '0';
  CHECK(pool.RunToExit(&log, {"--recover-from-bucket", other}) == 2);
  CHECK_THAT(log, Catch::Contains("holds a catalog backup of pool " + other));
  // A config without any S3 key group has no bucket to recover from.
  pool.SetTables(DefaultPoolTables());
  CHECK(pool.RunToExit(&log, {"--recover-from-bucket", pool_id}) == 2);
  CHECK_THAT(log, Catch::Contains("declares no key group with an S3 target"));
  // With another mode at once: a usage error.
  pool.SetTables(S3Tables(ceph, bucket, kPrefix, secret_file.string()));
  CHECK(pool.RunToExit(&log, {"--recover-from-bucket", pool_id, "--check-config"}) == 2);
  CHECK_FALSE(std::filesystem::exists(pool.pool_dir() / "catalog"));

  REQUIRE(pool.RunToExit(&log, {"--recover-from-bucket", pool_id}) == 0);
  INFO(log);
  CHECK_THAT(log, Catch::Contains("recovered pool " + pool_id));
  CHECK_THAT(log, Catch::Contains("key group kg-a"));
  CHECK(log.find(secret) == std::string::npos);
  // A folder that holds a pool is never overwritten.
  CHECK(pool.RunToExit(&log, {"--recover-from-bucket", pool_id}) == 2);
  CHECK_THAT(log, Catch::Contains("not empty"));

  pool.Start();
  CHECK(PoolIdFromLog(pool.Log()) == pool_id);
  auto alice = pool.Client("alice");
  auto back1 = Restore(*alice, "lsu1", "gen1");
  auto back2 = Restore(*alice, "lsu1", "gen2");
  REQUIRE(back1.ok());
  REQUIRE(back2.ok());
  CHECK(*back1 == gen1);
  CHECK(*back2 == gen2);
  // And it goes on writing its log in the same folder.
  const size_t records = Objects(*bucket_client, folder + "commits/").size();
  REQUIRE(Backup(*alice, "lsu1", "gen3", TwoGenerations(300'000, 24).first).ok());
  CHECK(Objects(*bucket_client, folder + "commits/").size() > records);
}

}  // namespace
}  // namespace sealpool::test
