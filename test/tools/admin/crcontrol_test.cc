// crcontrol against a real sealpoold and sealkmsd: every command's human and --json output
// (the JSON checked against what was backed up), exit codes, bad flags, a daemon that is not
// running, sockets the caller may not use, --getmode with sealkmsd down, compaction.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "test/tools/admin/admin_tool_env.h"
#include "tools/admin/admin_output.h"
#include "tools/admin/exit_codes.h"
#include "tools/common/json_writer.h"

namespace sealpool::test {
namespace {

using Catch::Contains;
using Catch::StartsWith;
namespace admin = tools::admin;

constexpr uid_t kNobody = 65534;

std::string Random(size_t n, uint64_t seed) {
  std::vector<uint8_t> b = PseudoRandomBytes(n, seed);
  return std::string(b.begin(), b.end());
}

TEST_CASE_METHOD(AdminToolFixture, "crcontrol --getmode shows the mode, each LSU and the KMS",
                 "[tools][crcontrol]") {
  BackUp("lsu1", "warm", "wake the key group's keys up");
  ToolRun r = Crcontrol({"--getmode"});
  INFO(r.err);
  REQUIRE(r.exit_code == admin::kExitOk);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, StartsWith("Mode        : GET=Yes PUT=Yes DEREF=Yes (read-write)\n"));
  CHECK_THAT(r.out, Contains("KMS         : reachable since "));
  CHECK_THAT(r.out, Contains("LSU lsu1    : Encryption=Yes KMS=Yes key group kg-a, KEK-based KMS "
                             "(builtin), client deletes No, max retention 3650 days\n"));
  CHECK_THAT(r.out, Contains("LSU lsu2    : Encryption=Yes KMS=Yes key group kg-a, KEK-based KMS "
                             "(builtin), client deletes Yes, max retention 3650 days\n"));
  CHECK_THAT(r.out, Contains("Version     : sealpoold "));

  auto j = CrcontrolJson({"--getmode"});
  CHECK(Str(j, "mode") == "read-write");
  CHECK(Bool(j, "restore_allowed"));
  CHECK(Bool(j, "ingest_allowed"));
  CHECK(Bool(j, "delete_allowed"));
  CHECK(At(j, "reasons").list_value().values_size() == 0);
  CHECK(Str(j, "kms.state") == "reachable");
  CHECK_THAT(Str(j, "kms.since"), Catch::Matches(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"));
  CHECK(Num(j, "kms.cached_keys") >= 1);
  REQUIRE(At(j, "lsus").list_value().values_size() == 2);
  CHECK(Str(j, "lsus.0.name") == "lsu1");
  CHECK(Str(j, "lsus.0.key_group") == "kg-a");
  CHECK(Bool(j, "lsus.0.encrypted"));
  CHECK(Str(j, "lsus.0.kms_mode") == "KEK-based KMS (builtin)");
  CHECK_FALSE(Bool(j, "lsus.0.client_delete"));
  CHECK(Num(j, "lsus.0.max_retention_seconds") == 3650.0 * 86400);
  CHECK(Bool(j, "lsus.1.client_delete"));
  CHECK(Str(j, "pool_id").size() == 32);
  CHECK(Num(j, "space.used_fraction") > 0);
  CHECK_FALSE(Bool(j, "space.high_water"));
}

TEST_CASE_METHOD(AdminToolFixture, "crcontrol --setmode changes what the pool allows",
                 "[tools][crcontrol]") {
  ToolRun r = Crcontrol({"--setmode", "read-only"});
  INFO(r.err);
  REQUIRE(r.exit_code == admin::kExitOk);
  CHECK_THAT(r.out, StartsWith("Pool mode set to read-only\nMode        : GET=Yes PUT=No "
                               "DEREF=No (read-only)\nRefused     : "));
  auto j = CrcontrolJson({"--getmode"});
  CHECK(Str(j, "mode") == "read-only");
  CHECK(Bool(j, "restore_allowed"));
  CHECK_FALSE(Bool(j, "ingest_allowed"));
  CHECK_FALSE(Bool(j, "delete_allowed"));
  CHECK(At(j, "reasons").list_value().values_size() >= 1);
  auto alice = pool().Client("alice");
  CHECK(Backup(*alice, "lsu1", "refused", "x").status().code() ==
        absl::StatusCode::kFailedPrecondition);

  j = CrcontrolJson({"--setmode", "maintenance"});
  CHECK(Str(j, "mode") == "maintenance");
  CHECK_FALSE(Bool(j, "restore_allowed"));
  j = CrcontrolJson({"--setmode", "read-write"});
  CHECK(Str(j, "mode") == "read-write");
  CHECK(Bool(j, "ingest_allowed"));
  CHECK(Backup(*alice, "lsu1", "allowed", "x").ok());

  r = Crcontrol({"--setmode", "sideways"});
  CHECK(r.exit_code == admin::kExitUsage);
  CHECK_THAT(r.err, Contains("--setmode"));
  // The audit log has the two changes that were made through the socket.
  CHECK_THAT(ReadFileOrDie(pool().audit_path()), Contains("\"detail\":\"mode=read-only\""));
}

TEST_CASE_METHOD(AdminToolFixture, "crcontrol --dsstat reports what was backed up",
                 "[tools][crcontrol]") {
  auto [gen1, gen2] = TwoGenerations(3 << 20, 42);
  BackUp("lsu1", "gen1", gen1);
  BackUp("lsu1", "gen2", gen2);
  auto j = CrcontrolJson({"--dsstat"});
  CHECK(Num(j, "images") == 2);
  CHECK(Num(j, "logical_bytes") == static_cast<double>(gen1.size() + gen2.size()));
  const double stored = Num(j, "stored_bytes");
  CHECK(stored > 0);
  CHECK(stored < Num(j, "logical_bytes") / 1.5);  // gen2 mostly deduplicated, text compressed
  CHECK(std::abs(Num(j, "dedup_ratio") - Num(j, "logical_bytes") / stored) < 1e-6);
  CHECK(Num(j, "active_records") > 0);
  CHECK(At(j, "total_records").kind_case() == google::protobuf::Value::kNullValue);
  CHECK(Num(j, "containers") >= 1);
  CHECK(Num(j, "space_allocated_bytes") >= Num(j, "space_used_bytes"));
  CHECK(Num(j, "space_used_bytes") == stored);
  CHECK(Num(j, "space_available_bytes") ==
        Num(j, "space_allocated_bytes") - Num(j, "space_used_bytes"));
  CHECK(Num(j, "average_container_bytes") ==
        std::floor(Num(j, "space_allocated_bytes") / Num(j, "containers")));
  CHECK(Num(j, "pending_delete_jobs") == 0);
  CHECK(Num(j, "data_storage.size_bytes") > 0);
  CHECK(Num(j, "data_storage.used_bytes") + Num(j, "data_storage.available_bytes") ==
        Num(j, "data_storage.size_bytes"));

  ToolRun r = Crcontrol({"--dsstat"});
  REQUIRE(r.exit_code == admin::kExitOk);
  CHECK_THAT(r.out, StartsWith("************ Data Store statistics ************\n"
                               "Data storage  Raw"));
  const auto n = [&](const char* key) {
    return std::to_string(static_cast<uint64_t>(Num(j, key)));
  };
  CHECK_THAT(r.out, Contains("\nNumber of containers             : " + n("containers") + "\n"));
  CHECK_THAT(r.out, Contains("\nSpace used within containers     : " + n("space_used_bytes") +
                             " bytes ("));
  CHECK_THAT(r.out, Contains("\nActive records                   : " + n("active_records") + "\n"));
  CHECK_THAT(r.out, Contains("\nTotal records                    : n/a"));
  CHECK_THAT(r.out, Contains("\nImages                           : 2\n"));
  CHECK_THAT(r.out, Contains("\nLogical size                     : " + n("logical_bytes") +
                             " bytes (" + admin::HumanBytes(gen1.size() + gen2.size()) + ")\n"));
  CHECK_THAT(r.out, Contains("\nDedup ratio                      : "));
}

TEST_CASE_METHOD(AdminToolFixture, "crcontrol --queueinfo and --processqueue drain deletes",
                 "[tools][crcontrol]") {
  BackUp("lsu1", "a", Random(300000, 1));
  BackUp("lsu1", "b", Random(300000, 2));
  AdminDelete("lsu1", "a");
  AdminDelete("lsu1", "b");
  auto j = CrcontrolJson({"--queueinfo"});
  CHECK(Num(j, "pending_jobs") == 2);
  ToolRun r = Crcontrol({"--queueinfo"});
  REQUIRE(r.exit_code == admin::kExitOk);
  CHECK(r.out == "Delete jobs pending : 2\n");
  const double before = Num(CrcontrolJson({"--dsstat"}), "active_records");
  // A job drops its references in bounded batches: the queue may hold more jobs then.
  j = CrcontrolJson({"--processqueue", "--max-jobs", "1"});
  CHECK(Num(j, "jobs_done") == 1);
  CHECK(Num(j, "jobs_left") >= 1);
  r = Crcontrol({"--processqueue"});
  REQUIRE(r.exit_code == admin::kExitOk);
  CHECK_THAT(r.out, StartsWith("Jobs done           : "));
  CHECK_THAT(r.out, Contains("\nReferences dropped  : "));
  CHECK_THAT(r.out, Contains("\nSegments erased     : "));
  CHECK_THAT(r.out, Contains("\nJobs left           : 0\n"));
  auto s = CrcontrolJson({"--dsstat"});
  CHECK(Num(s, "active_records") == 0);
  CHECK(before > 0);
  CHECK(Num(s, "pending_delete_jobs") == 0);
  CHECK(Num(CrcontrolJson({"--queueinfo"}), "pending_jobs") == 0);
}

class CompactionFixture : public AdminToolFixture {
 public:
  CompactionFixture() : AdminToolFixture("[storage]\ncontainer_size_mib = 16\n") {}
};

TEST_CASE_METHOD(CompactionFixture, "crcontrol starts, follows and stops a compaction",
                 "[tools][crcontrol]") {
  ToolRun r = Crcontrol({"--compactstate"});
  REQUIRE(r.exit_code == admin::kExitOk);
  CHECK(r.out == "Compaction state    : idle\n");
  // Three images over three containers; two deleted leave containers mostly dead.
  for (int i = 0; i < 3; ++i) {
    BackUp("lsu1", "img" + std::to_string(i), Random(12 << 20, 100 + static_cast<uint64_t>(i)));
  }
  AdminDelete("lsu1", "img0");
  AdminDelete("lsu1", "img1");
  REQUIRE(Crcontrol({"--processqueue"}).exit_code == admin::kExitOk);
  auto before = CrcontrolJson({"--dsstat"});
  REQUIRE(Num(before, "containers") >= 2);
  REQUIRE(Num(before, "space_needs_compaction_bytes") > 0);

  CHECK(Crcontrol({"--compactstart", "--threshold", "1.5"}).exit_code == admin::kExitUsage);
  r = Crcontrol({"--compactstart", "--threshold", "0.9"});
  INFO(r.err);
  REQUIRE(r.exit_code == admin::kExitOk);
  CHECK_THAT(r.out, StartsWith("Compaction started\nCompaction state    : "));
  google::protobuf::Value state;
  REQUIRE(WaitFor([&] {
    state = CrcontrolJson({"--compactstate"});
    return Str(state, "state") != "running";
  }));
  CHECK(Str(state, "state") == "done");
  CHECK(Num(state, "containers_total") >= 1);
  CHECK(Num(state, "containers_done") == Num(state, "containers_total"));
  CHECK(Num(state, "bytes_reclaimed") > 0);
  CHECK(At(state, "started").kind_case() == google::protobuf::Value::kStringValue);
  CHECK(At(state, "finished").kind_case() == google::protobuf::Value::kStringValue);
  CHECK(Str(state, "error").empty());
  auto after = CrcontrolJson({"--dsstat"});
  CHECK(Num(after, "space_allocated_bytes") < Num(before, "space_allocated_bytes"));
  r = Crcontrol({"--compactstate"});
  CHECK_THAT(r.out, StartsWith("Compaction state    : done\nContainers          : "));
  CHECK_THAT(r.out, Contains("\nBytes reclaimed     : "));

  // Nothing runs: --compactstop says so, and exits 0.
  r = Crcontrol({"--compactstop"});
  REQUIRE(r.exit_code == admin::kExitOk);
  CHECK_THAT(r.out, StartsWith("No compaction is running\nCompaction state    : done\n"));
  // A compaction asked to stop at once ends stopped (or done, if it was quicker).
  REQUIRE(Crcontrol({"--compactstart", "--threshold", "0.99"}).exit_code == admin::kExitOk);
  auto stop = CrcontrolJson({"--compactstop"});
  CHECK(Str(stop, "state") != "idle");
  REQUIRE(WaitFor([&] {
    state = CrcontrolJson({"--compactstate"});
    return Str(state, "state") != "running";
  }));
  CHECK_THAT(Str(state, "state"), Catch::Equals("stopped") || Catch::Equals("done"));
  // The pool is whole afterwards.
  CHECK(Crcontrol({"--verify"}).exit_code == admin::kExitOk);
}

TEST_CASE_METHOD(AdminToolFixture, "crcontrol --verify and --scrub check the pool",
                 "[tools][crcontrol]") {
  BackUp("lsu1", "one", Random(200000, 7));
  BackUp("lsu2", "two", Random(200000, 8));
  BackUp("lsu2", "three", Random(200000, 9));
  ToolRun r = Crcontrol({"--verify"});
  INFO(r.err);
  REQUIRE(r.exit_code == admin::kExitOk);
  CHECK_THAT(r.out, StartsWith("Verify: 3 image(s), "));
  CHECK_THAT(r.out, Contains(" checked, no problems found\n"));
  CHECK(r.err.empty());  // no progress lines when stderr is not a terminal
  // On a terminal the verdict is the same (progress lines, if any, are erased before it).
  r = RunOnTerminal({CRCONTROL_PATH, "--socket", socket(), "--verify"}, "", "");
  CHECK(r.exit_code == admin::kExitOk);
  CHECK_THAT(r.err, Contains("Verify: 3 image(s), "));
  auto j = CrcontrolJson({"--verify", "lsu2"});
  CHECK(Str(j, "check") == "verify");
  CHECK(Str(j, "lsu") == "lsu2");
  CHECK(Num(j, "images_checked") == 2);
  CHECK(Num(j, "bytes_checked") >= 400000);
  CHECK(Bool(j, "ok"));
  r = Crcontrol({"--verify", "nope"});
  CHECK(r.exit_code == admin::kExitNotFound);
  CHECK_THAT(r.err, StartsWith("crcontrol: NOT_FOUND: "));

  j = CrcontrolJson({"--scrub"});
  CHECK(Str(j, "check") == "scrub");
  CHECK(Num(j, "containers_checked") >= 1);
  CHECK(Bool(j, "ok"));
  CHECK(At(j, "dead_regions").list_value().values_size() == 0);
  r = Crcontrol({"--scrub"});
  REQUIRE(r.exit_code == admin::kExitOk);
  CHECK_THAT(r.out, StartsWith("Scrub: "));
  CHECK_THAT(r.out, Contains(" container(s), "));

  // A flipped byte in a container: scrub finds it without a key, and exits 7.
  std::vector<std::filesystem::path> containers;
  for (const auto& e : std::filesystem::recursive_directory_iterator(pool().pool_dir())) {
    if (e.path().extension() == ".spc") containers.push_back(e.path());
  }
  REQUIRE_FALSE(containers.empty());
  {
    std::fstream f(containers.front(), std::ios::in | std::ios::out | std::ios::binary);
    const auto size = std::filesystem::file_size(containers.front());
    f.seekg(static_cast<std::streamoff>(size / 2));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x40);
    f.seekp(static_cast<std::streamoff>(size / 2));
    f.write(&c, 1);
  }
  r = Crcontrol({"--scrub", "--json"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == admin::kExitDamage);
  j = ParseJson(r.out);
  CHECK_FALSE(Bool(j, "ok"));
  CHECK(At(j, "problems").list_value().values_size() +
            At(j, "dead_regions").list_value().values_size() >=
        1);
  r = Crcontrol({"--verify"});
  CHECK(r.exit_code == admin::kExitDamage);
  CHECK_THAT(r.out, Contains("problem(s) found:\n  "));
}

TEST_CASE_METHOD(AdminToolFixture, "crcontrol --backup-catalog writes a catalog backup",
                 "[tools][crcontrol]") {
  BackUp("lsu1", "one", "catalogued");
  const std::filesystem::path dir = pool().dir() / "catalog-backups";
  auto j = CrcontrolJson({"--backup-catalog", dir.string()});
  CHECK(Num(j, "backup_id") == 1);
  CHECK(Str(j, "dir") == dir.string());
  CHECK(std::filesystem::exists(dir));
  // A relative folder is the caller's, not sealpoold's.
  ToolRun r = RunTool({CRCONTROL_PATH, "--socket", socket(), "--backup-catalog", "catalog-backups"},
                      InFolder(pool().dir().string()));
  INFO(r.err);
  REQUIRE(r.exit_code == admin::kExitOk);
  CHECK(r.out == "Catalog backup 2 written to " + dir.string() + "\n");
  // No folder given and none configured.
  r = Crcontrol({"--backup-catalog"});
  CHECK(r.exit_code == admin::kExitUsage);
  CHECK_THAT(r.err, Contains("no folder given and no [scheduler].catalog_backup_dir configured"));
}

TEST_CASE_METHOD(AdminToolFixture, "crcontrol --addlsu creates an LSU in a new key group",
                 "[tools][crcontrol][keydictutil]") {
  ToolRun r = Keydictutil({"--addgroup", "kg-shared"});
  INFO(r.err);
  REQUIRE(r.exit_code == admin::kExitOk);
  CHECK_THAT(r.out, StartsWith("Key group kg-shared created (KMS backend builtin, kek_mode symmetric)"));
  CHECK(Keydictutil({"--addgroup", "kg-shared"}).exit_code == admin::kExitRefused);
  r = Crcontrol({"--addlsu", "lsu3", "--keygroup", "kg-shared", "--client-delete",
                 "--max-retention-days", "30", "--json"});
  INFO(r.err);
  REQUIRE(r.exit_code == admin::kExitOk);
  auto j = ParseJson(r.out);
  CHECK(Str(j, "lsu") == "lsu3");
  CHECK(Num(j, "max_retention_days") == 30);
  auto mode = CrcontrolJson({"--getmode"});
  REQUIRE(At(mode, "lsus").list_value().values_size() == 3);
  CHECK(Str(mode, "lsus.2.name") == "lsu3");
  CHECK(Str(mode, "lsus.2.key_group") == "kg-shared");
  CHECK(Bool(mode, "lsus.2.client_delete"));
  CHECK(Num(mode, "lsus.2.max_retention_seconds") == 30.0 * 86400);
  r = Crcontrol({"--addlsu", "lsu3", "--keygroup", "kg-shared"});
  CHECK(r.exit_code == admin::kExitRefused);
  CHECK_THAT(r.err, StartsWith("crcontrol: ALREADY_EXISTS: "));
  CHECK(Crcontrol({"--addlsu", "lsu4", "--keygroup", "nope"}).exit_code == admin::kExitNotFound);
  r = Crcontrol({"--addlsu", "lsu4"});
  CHECK(r.exit_code == admin::kExitUsage);
  CHECK(r.err == "crcontrol: --addlsu needs --keygroup GROUP\n");
  CHECK(Crcontrol({"--addlsu", "bad name", "--keygroup", "kg-a"}).exit_code == admin::kExitUsage);
}

TEST_CASE_METHOD(AdminToolFixture, "crcontrol refuses bad command lines with exit 2",
                 "[tools][crcontrol]") {
  ToolRun r = Crcontrol({});
  CHECK(r.exit_code == admin::kExitUsage);
  CHECK(r.err == "crcontrol: give one command, e.g. --getmode or --dsstat (see --help)\n");
  r = Crcontrol({"--getmode", "--dsstat"});
  CHECK(r.exit_code == admin::kExitUsage);
  CHECK(r.err == "crcontrol: give one command at a time (see --help)\n");
  r = Crcontrol({"--getmode", "--json", "--dsstat"});
  CHECK(r.exit_code == admin::kExitUsage);
  auto j = ParseJson(r.out);
  CHECK(Str(j, "error.code") == "INVALID_ARGUMENT");
  CHECK(Num(j, "error.exit_code") == admin::kExitUsage);
  CHECK(Crcontrol({"--frobnicate"}).exit_code == admin::kExitUsage);
  r = Crcontrol({"--frobnicate", "--json"});
  CHECK(r.exit_code == admin::kExitUsage);
  CHECK_THAT(r.err, Contains("--frobnicate"));
  CHECK(Str(ParseJson(r.out), "error.code") == "INVALID_ARGUMENT");
  CHECK(Crcontrol({"--getmode", "--timeout", "0"}).exit_code == admin::kExitUsage);
  CHECK(Crcontrol({"--dsstat", "--threshold", "0.5"}).exit_code == admin::kExitUsage);
  r = RunTool({CRCONTROL_PATH, "--help"});
  CHECK(r.exit_code == admin::kExitOk);
  for (const char* s : {"--getmode", "--dsstat", "--compactstart", "--compactstate",
                        "--compactstop", "--processqueue", "--queueinfo", "--verify [LSU]",
                        "--scrub", "--setmode MODE", "--backup-catalog [DIR]", "--addlsu LSU",
                        "--socket", "SEALPOOL_ADMIN_SOCKET", "Exit codes", "docs/cli.md"}) {
    CHECK_THAT(r.out, Contains(s));
  }
}

TEST_CASE_METHOD(AdminToolFixture, "crcontrol says when no sealpoold is listening",
                 "[tools][crcontrol]") {
  // $SEALPOOL_ADMIN_SOCKET names the socket when --socket does not.
  ToolRun r = RunTool({CRCONTROL_PATH, "--getmode", "--json"},
                      WithEnv("SEALPOOL_ADMIN_SOCKET=" + socket()));
  REQUIRE(r.exit_code == admin::kExitOk);
  // A socket file left behind by a killed daemon, then no file at all.
  pool().Kill();
  REQUIRE(std::filesystem::exists(socket()));
  const std::string expected = "crcontrol: no sealpoold is listening on " + socket() +
                               ": is it running? (systemctl status sealpoold)\n";
  r = Crcontrol({"--getmode"});
  CHECK(r.exit_code == admin::kExitUnavailable);
  CHECK(r.err == expected);
  CHECK(r.out.empty());
  std::filesystem::remove(socket());
  r = Crcontrol({"--dsstat", "--json"});
  CHECK(r.exit_code == admin::kExitUnavailable);
  CHECK(r.err == expected);
  auto j = ParseJson(r.out);
  CHECK(Str(j, "error.code") == "UNAVAILABLE");
  CHECK(Num(j, "error.exit_code") == admin::kExitUnavailable);
  r = RunTool({KEYDICTUTIL_PATH, "--socket", socket(), "--list"});
  CHECK(r.exit_code == admin::kExitUnavailable);
  CHECK(r.err == "keydictutil: no sealpoold is listening on " + socket() +
                     ": is it running? (systemctl status sealpoold)\n");
}

TEST_CASE_METHOD(AdminToolFixture, "crcontrol names what keeps a user off the admin socket",
                 "[tools][crcontrol]") {
  if (::geteuid() != 0) SkipTest("needs root to run crcontrol as another user");
  // A path that is not a socket.
  ToolRun r = RunTool({CRCONTROL_PATH, "--socket", pool().config_path().string(), "--getmode"});
  CHECK(r.exit_code == admin::kExitUnavailable);
  CHECK(r.err == "crcontrol: " + pool().config_path().string() +
                     " is not a socket but a regular file: point --socket (or "
                     "$SEALPOOL_ADMIN_SOCKET) at sealpoold's [admin].socket\n");
  r = RunTool({CRCONTROL_PATH, "--socket", pool().dir().string(), "--getmode"});
  CHECK(r.exit_code == admin::kExitUnavailable);
  CHECK_THAT(r.err, Contains(" is not a socket but a directory"));

  // As nobody: the test's temp folder (mode 0700) is closed.
  const std::filesystem::path top = dir_.path();
  r = Crcontrol({"--getmode"}, AsUser(kNobody));
  CHECK(r.exit_code == admin::kExitDenied);
  CHECK(r.err == "crcontrol: permission denied on " + socket() + ": its folder " + top.string() +
                     " (owner root, group root, mode 0700) is closed to this user; sealpoold "
                     "has no [admin].group, so only root and sealpoold's own user may use it: "
                     "run as root, or set [admin].group in sealpoold's config and join that "
                     "group\n");
  // Folders open to search: the socket's own mode (0660, root's group) refuses.
  std::filesystem::permissions(top, std::filesystem::perms(0711));
  std::filesystem::permissions(pool().dir(), std::filesystem::perms(0711));
  r = Crcontrol({"--getmode", "--json"}, AsUser(kNobody));
  CHECK(r.exit_code == admin::kExitDenied);
  CHECK(r.err == "crcontrol: permission denied on " + socket() +
                     " (owner root, group root, mode 0660); sealpoold has no [admin].group, so "
                     "only root and sealpoold's own user may use it: run as root, or set "
                     "[admin].group in sealpoold's config and join that group\n");
  CHECK(Str(ParseJson(r.out), "error.code") == "PERMISSION_DENIED");
  // The socket given to a group nobody is not in: join that group.
  REQUIRE(::chown(socket().c_str(), 0, 1) == 0);  // group 1: daemon
  r = Crcontrol({"--getmode"}, AsUser(kNobody));
  CHECK(r.exit_code == admin::kExitDenied);
  CHECK(r.err == "crcontrol: permission denied on " + socket() +
                     " (owner root, group daemon, mode 0660); run as root or as a member of "
                     "group daemon (sealpoold's [admin].group): usermod -aG daemon nobody, then "
                     "log in again\n");
  // A socket anyone may open: sealpoold's own peer check (SO_PEERCRED) closes the connection.
  REQUIRE(::chmod(socket().c_str(), 0666) == 0);
  r = Crcontrol({"--getmode"}, AsUser(kNobody));
  CHECK(r.exit_code == admin::kExitDenied);
  CHECK(r.err == "crcontrol: sealpoold on " + socket() +
                     " closed the connection: it serves only root, its own user and members of "
                     "its [admin].group, and this user (nobody) is none of these; run as root or "
                     "as a member of group daemon (sealpoold's [admin].group): usermod -aG "
                     "daemon nobody, then log in again\n");
  CHECK(WaitFor([&] {
    return pool().Log().find(
               "admin socket: refused a connection from uid "
               "65534") != std::string::npos;
  }));
  // Root still gets in.
  CHECK(Crcontrol({"--getmode"}).exit_code == admin::kExitOk);
}

TEST_CASE_METHOD(AdminToolFixture, "crcontrol --getmode answers at once with sealkmsd down",
                 "[tools][crcontrol]") {
  BackUp("lsu1", "warm", "keys in the cache");
  REQUIRE(kms().Stop() == 0);
  // The KMS state changes when a call fails: a KEK rotation needs sealkmsd.
  ToolRun r = Keydictutil({"--rotate", "kg-a"});
  INFO(r.err);
  CHECK(r.exit_code == admin::kExitUnavailable);
  CHECK_THAT(r.err, StartsWith("keydictutil: UNAVAILABLE: ") ||
                        StartsWith("keydictutil: DEADLINE_EXCEEDED: "));
  r = Crcontrol({"--getmode"});
  INFO(r.err);
  REQUIRE(r.exit_code == admin::kExitOk);
  CHECK(r.took < std::chrono::seconds(2));
  CHECK_THAT(r.out, Contains("KMS         : degraded since "));
  CHECK_THAT(r.out, Contains("; calls are retried, work goes on with "));
  r = Crcontrol({"--getmode", "--json"});
  REQUIRE(r.exit_code == admin::kExitOk);
  CHECK(r.took < std::chrono::seconds(2));
  auto j = ParseJson(r.out);
  CHECK(Str(j, "kms.state") == "degraded");
  CHECK_FALSE(Str(j, "kms.last_error").empty());
  CHECK(Num(j, "kms.cached_keys") >= 1);
  // Reads go on from cached keys meanwhile.
  CHECK(Crcontrol({"--verify", "lsu1"}).exit_code == admin::kExitOk);
}

TEST_CASE("crcontrol's output helpers", "[tools][crcontrol][unit]") {
  CHECK(admin::HumanBytes(0) == "0 bytes");
  CHECK(admin::HumanBytes(1) == "1 byte");
  CHECK(admin::HumanBytes(1536) == "1.50 KiB");
  CHECK(admin::ExactBytes(253456821) == "253456821 bytes (241.72 MiB)");
  CHECK(admin::ExactBytes(100) == "100 bytes");
  CHECK(admin::HumanTime(0) == "-");
  CHECK(admin::HumanTime(1764853331000000) == "2025-12-04 13:02:11Z");
  CHECK(admin::JsonTime(1764853331000000) == "2025-12-04T13:02:11Z");
  CHECK(admin::HumanDuration(45) == "45s");
  CHECK(admin::HumanDuration(125) == "2m05s");
  CHECK(admin::HumanDuration(7380) == "2h03m");
  CHECK(admin::ParsePoolMode("read-only") == pool::v1::POOL_MODE_READ_ONLY);
  CHECK(admin::ParsePoolMode("ro") == pool::v1::POOL_MODE_UNSPECIFIED);
  tools::JsonWriter w;
  w.BeginObject()
      .Key("a")
      .String("q\"\n\x01")
      .Key("b")
      .BeginArray()
      .Int(-1)
      .Uint(2)
      .Double(0.5)
      .Bool(true)
      .Null()
      .EndArray()
      .Key("c")
      .BeginObject()
      .EndObject()
      .EndObject();
  CHECK(w.str() == R"({"a":"q\"\n\u0001","b":[-1,2,0.5,true,null],"c":{}})");
  pool::v1::GetModeResponse m;
  m.set_mode(pool::v1::POOL_MODE_READ_WRITE);
  m.set_kms(pool::v1::KMS_REACHABILITY_UNREACHABLE);
  m.set_kms_since_unix_micros(1764853331000000);
  m.set_kms_last_error("connection refused");
  m.set_kms_cached_keys(2);
  CHECK_THAT(admin::ModeHuman(m, 1764853331000000 + 125000000),
             Contains("KMS         : unreachable since 2025-12-04 13:02:11Z (for 2m05s): "
                      "connection refused; work goes on with 2 key(s) cached\n"));
  pool::v1::GetStatsResponse stats;
  stats.set_segments(5);
  CHECK_THAT(admin::StatsJson(stats), Contains("\"active_records\":5,\"total_records\":null,"));
  stats.set_total_records(7);
  CHECK_THAT(admin::StatsJson(stats), Contains("\"active_records\":5,\"total_records\":7,"));
  CHECK_THAT(admin::StatsHuman(stats), Contains("\nTotal records                    : 7\n"));
  m.set_kms_since_unix_micros(0);
  CHECK_THAT(admin::ModeHuman(m, 0),
             Contains("KMS         : unreachable: not reached since sealpoold started: "));
  // Issue 17: each key group's kek_mode and pair checks, with their warnings.
  pool::v1::KeyGroupMode* sym = m.add_key_groups();
  sym->set_name("kg-a");
  sym->set_kek_mode("symmetric");
  sym->set_ingest_needs_kms(true);
  pool::v1::KeyGroupMode* pub = m.add_key_groups();
  pub->set_name("kg-w");
  pub->set_kek_mode("public");
  pub->set_unconfirmed_since_unix_micros(1764853331000000);
  pub->add_warnings("key group kg-w: ingest has run for 125 s without ...");
  const std::string human = admin::ModeHuman(m, 1764853331000000 + 125000000);
  CHECK_THAT(human, Contains("Key group kg-a: kek_mode symmetric, ingest needs the KMS\n"));
  CHECK_THAT(human, Contains("Key group kg-w: kek_mode public, ingest does not need the KMS, KEK "
                             "pairs unconfirmed, ingest unconfirmed for 2m05s\n"
                             "WARNING     : key group kg-w: ingest has run for 125 s without ...\n"));
  pub->set_confirmed(true);
  pub->set_last_confirmed_unix_micros(1764853331000000);
  pub->clear_warnings();
  CHECK_THAT(admin::ModeHuman(m, 0),
             Contains("Key group kg-w: kek_mode public, ingest does not need the KMS, KEK pairs "
                      "confirmed 2025-12-04 13:02:11Z\n"));
  CHECK_THAT(admin::ModeJson(m),
             Contains("\"key_groups\":[{\"name\":\"kg-a\",\"kek_mode\":\"symmetric\","
                      "\"ingest_needs_kms\":true,\"warnings\":[]},{\"name\":\"kg-w\","
                      "\"kek_mode\":\"public\",\"ingest_needs_kms\":false,\"confirmed\":true,"
                      "\"last_confirmed\":\"2025-12-04T13:02:11Z\",\"last_ingest\":null,"
                      "\"unconfirmed_since\":\"2025-12-04T13:02:11Z\",\"ingest_stopped\":false,"
                      "\"warnings\":[]}]"));
}

}  // namespace
}  // namespace sealpool::test
