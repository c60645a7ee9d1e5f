// Issue 17 end to end, with the real sealkmsd and sealpoold: a key group with kek_mode =
// "public" ingests with sealkmsd unreachable from sealpoold's start (its fingerprint key from
// the host-sealed copy, its DEKs under batch keys sealed to the KEK pair's public half), dedup
// works across two generations, a restore fails with UNAVAILABLE "restore needs the KMS", and
// crcontrol's GetMode warns of unconfirmed ingest (threshold 1 s). Once sealkmsd is back the
// reconciler confirms the pair (pin + VerifyKekPair), the warning goes, and the restore is
// bit-exact.
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

bool HasUnconfirmedWarning(const v1::KeyGroupMode& g) {
  for (const std::string& w : g.warnings()) {
    if (w.find("without its KEK pair confirmed") != std::string::npos) return true;
  }
  return false;
}

uint64_t StoredBytes(v1::PoolAdmin::Stub& admin) {
  grpc::ClientContext ctx;
  v1::GetStatsResponse stats;
  REQUIRE(admin.GetStats(&ctx, {}, &stats).ok());
  return stats.stored_bytes();
}

// Polls GetMode until `done` holds for kg-a or `timeout` passes.
template <typename Pred>
bool WaitForGroup(v1::PoolAdmin::Stub& admin, absl::Duration timeout, Pred done) {
  const absl::Time until = absl::Now() + timeout;
  while (absl::Now() < until) {
    const v1::GetModeResponse m = Mode(admin);
    const v1::KeyGroupMode* g = GroupMode(m, "kg-a");
    if (g != nullptr && done(*g)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

TEST_CASE("sealpoold: a public key group backs up with sealkmsd down and restores once it is up",
          "[e2e][sealpoold][write_only]") {
  TempDir dir;
  Sealkmsd kms(dir.path() / "kms");
  kms.Start();
  kms.CreateActiveGroup("kg-a");
  Sealpoold pool(dir.path() / "poold", &kms);
  const std::string host_key = (dir.path() / "host.key").string();
  { std::ofstream(host_key) << "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n"; }
  REQUIRE(::chmod(host_key.c_str(), 0600) == 0);
  pool.SetExtra("[keys]\nhost_key_file = \"" + host_key + "\"\nunconfirmed_warn_seconds = 1\n");
  pool.SetTables(PublicTables());

  // First start, with the KMS: the group is created (KEK pair checked, fingerprint key sealed
  // under the host key too).
  pool.Start();
  {
    auto admin = pool.Admin();
    const v1::GetModeResponse m = Mode(*admin);
    const v1::KeyGroupMode* g = GroupMode(m, "kg-a");
    REQUIRE(g != nullptr);
    CHECK(g->kek_mode() == "public");
    CHECK_FALSE(g->ingest_needs_kms());
  }
  REQUIRE(pool.Stop() == 0);
  REQUIRE(kms.Stop() == 0);

  // Cold start with sealkmsd down.
  pool.Start();
  auto admin = pool.Admin();
  auto alice = pool.Client("alice");
  {
    const v1::GetModeResponse m = Mode(*admin);
    CHECK(m.kms() != v1::KMS_REACHABILITY_REACHABLE);
    const v1::KeyGroupMode* g = GroupMode(m, "kg-a");
    REQUIRE(g != nullptr);
    CHECK(g->kek_mode() == "public");
    CHECK_FALSE(g->ingest_needs_kms());
    CHECK_FALSE(g->confirmed());
    CHECK(g->warnings_size() == 0);  // no ingest yet
  }
  auto [gen1, gen2] = TwoGenerations(8 << 20, 1717);
  const uint64_t before = StoredBytes(*admin);
  auto r1 = Backup(*alice, "lsu1", "gen1", gen1);
  INFO(r1.status().ToString());
  REQUIRE(r1.ok());
  const uint64_t after1 = StoredBytes(*admin);
  auto r2 = Backup(*alice, "lsu1", "gen2", gen2);
  INFO(r2.status().ToString());
  REQUIRE(r2.ok());
  const uint64_t after2 = StoredBytes(*admin);
  // Dedup: the second generation stores far less than the first.
  INFO("stored: gen1 " << after1 - before << ", gen2 " << after2 - after1);
  CHECK(after1 - before > 0);
  CHECK((after2 - after1) * 4 < after1 - before);

  // Restore needs the private half, hence the KMS.
  auto down = Restore(*alice, "lsu1", "gen1");
  REQUIRE_FALSE(down.ok());
  CHECK(down.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(down.status().message()),
             Catch::Contains("restore needs the KMS") && Catch::Contains("sealkmsd"));

  // Unconfirmed ingest is warned of after the (1 s) threshold.
  CHECK(WaitForGroup(*admin, absl::Seconds(10), [](const v1::KeyGroupMode& g) {
    return HasUnconfirmedWarning(g);
  }));

  // sealkmsd comes back: the reconciler pins and checks the pair, the warning goes.
  kms.Start();
  CHECK(WaitForGroup(*admin, absl::Seconds(60), [](const v1::KeyGroupMode& g) {
    return g.confirmed() && !HasUnconfirmedWarning(g);
  }));
  auto back1 = Restore(*alice, "lsu1", "gen1");
  INFO(back1.status().ToString());
  REQUIRE(back1.ok());
  CHECK(*back1 == gen1);
  auto back2 = Restore(*alice, "lsu1", "gen2");
  REQUIRE(back2.ok());
  CHECK(*back2 == gen2);
  CHECK(pool.Stop() == 0);
}

}  // namespace
}  // namespace sealpool::test
