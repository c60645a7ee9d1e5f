// Issue 17 end to end, the parts that need no DEK batches (the whole flow, backup and restore of
// a public group with sealkmsd down: sealpoold_write_only_flow_test.cc): a public group is
// created with the KMS and sealpoold starts with sealkmsd down, reporting the group's mode and
// that its ingest needs no KMS; a restore whose keys are not in memory fails at once with
// UNAVAILABLE "restore needs the KMS"; a config naming another kek_mode for an existing group,
// or a host key file others may read, stops the start.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "test/daemon/sealpoold/sealpoold_test_env.h"
#include "test/test_util.h"

namespace sealpool::test {
namespace {

namespace v1 = ::sealpool::pool::v1;

std::string PublicTables() {
  std::string tables = DefaultPoolTables();
  const std::string group = "[[key_group]]\nname = \"kg-a\"\n";
  REQUIRE(tables.find(group) == 0);
  return "[[key_group]]\nname = \"kg-a\"\nkek_mode = \"public\"\n" + tables.substr(group.size());
}

v1::GetModeResponse Mode(v1::PoolAdmin::Stub& admin) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(5)));
  v1::GetModeResponse mode;
  grpc::Status s = admin.GetMode(&ctx, {}, &mode);
  INFO(s.error_message());
  REQUIRE(s.ok());
  return mode;
}

const v1::KeyGroupMode* GroupMode(const v1::GetModeResponse& m, const std::string& name) {
  for (const v1::KeyGroupMode& g : m.key_groups()) {
    if (g.name() == name) return &g;
  }
  return nullptr;
}

TEST_CASE("sealpoold: a public group starts with sealkmsd down, and a restore says it needs the KMS",
          "[e2e][sealpoold][write_only]") {
  TempDir dir;
  Sealkmsd kms(dir.path() / "kms");
  kms.Start();
  kms.CreateActiveGroup("kg-a");
  kms.CreateActiveGroup("kg-shared");
  Sealpoold pool(dir.path() / "poold", &kms);
  const std::string host_key = (dir.path() / "host.key").string();
  { std::ofstream(host_key) << std::string(32, 'h'); }
  REQUIRE(::chmod(host_key.c_str(), 0600) == 0);
  pool.SetExtra("[keys]\nhost_key_file = \"" + host_key + "\"\n");
  // kg-a public; lsu2 in the symmetric group kg-shared.
  std::string tables = PublicTables();
  tables.replace(tables.find("name = \"lsu2\"\nkey_group = \"kg-a\""),
                 std::string("name = \"lsu2\"\nkey_group = \"kg-a\"").size(),
                 "name = \"lsu2\"\nkey_group = \"kg-shared\"");
  pool.SetTables("[[key_group]]\nname = \"kg-shared\"\n" + tables);
  pool.Start();
  {
    auto alice = pool.Client("alice");
    REQUIRE(Backup(*alice, "lsu2", "sym", std::string(1 << 20, 's') + "end").ok());
  }
  REQUIRE(pool.Stop() == 0);
  REQUIRE(kms.Stop() == 0);

  pool.Start();  // nothing at start waits for sealkmsd
  auto admin = pool.Admin();
  const v1::GetModeResponse m = Mode(*admin);
  CHECK(m.kms() != v1::KMS_REACHABILITY_REACHABLE);
  const v1::KeyGroupMode* pub = GroupMode(m, "kg-a");
  const v1::KeyGroupMode* sym = GroupMode(m, "kg-shared");
  REQUIRE(pub != nullptr);
  REQUIRE(sym != nullptr);
  CHECK(pub->kek_mode() == "public");
  CHECK_FALSE(pub->ingest_needs_kms());  // the fingerprint key rests under the host key
  CHECK_FALSE(pub->confirmed());
  CHECK(sym->kek_mode() == "symmetric");
  CHECK(sym->ingest_needs_kms());
  // The symmetric group's KEK is not in memory after the restart: the restore needs the KMS.
  auto alice = pool.Client("alice");
  const absl::Time start = absl::Now();
  auto down = Restore(*alice, "lsu2", "sym");
  REQUIRE_FALSE(down.ok());
  CHECK(down.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(down.status().message()),
             Catch::StartsWith("restore needs the KMS: sealkmsd at " + kms.address()));
  CHECK(absl::Now() - start < absl::Seconds(10));  // the call deadline is 3 s: no hang
  kms.Start();
  auto back = Restore(*alice, "lsu2", "sym");
  INFO(back.status().ToString());
  REQUIRE(back.ok());
  CHECK(*back == std::string(1 << 20, 's') + "end");
  CHECK(pool.Stop() == 0);
}

TEST_CASE("sealpoold: a config naming another kek_mode for an existing group is refused",
          "[e2e][sealpoold][write_only]") {
  TempDir dir;
  Sealkmsd kms(dir.path() / "kms");
  kms.Start();
  kms.CreateActiveGroup("kg-a");
  Sealpoold pool(dir.path() / "poold", &kms);
  const std::string host_key = (dir.path() / "host.key").string();
  { std::ofstream(host_key) << std::string(32, 'h'); }
  REQUIRE(::chmod(host_key.c_str(), 0600) == 0);
  pool.SetExtra("[keys]\nhost_key_file = \"" + host_key + "\"\n");
  pool.Start();  // kg-a created symmetric
  REQUIRE(pool.Stop() == 0);
  pool.SetTables(PublicTables());
  std::string log;
  CHECK(pool.RunToExit(&log) == 2);
  CHECK_THAT(log, Catch::Contains("key group \"kg-a\" has kek_mode \"symmetric\" in the pool, "
                                  "but the config says \"public\""));
  // A host key file others may read stops the start before the pool opens.
  REQUIRE(::chmod(host_key.c_str(), 0644) == 0);
  std::string log2;
  CHECK(pool.RunToExit(&log2) == 2);
  CHECK_THAT(log2, Catch::Contains("has mode 0644"));
}

}  // namespace
}  // namespace sealpool::test
