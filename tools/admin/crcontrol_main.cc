// crcontrol: control of a sealpool pool over sealpoold's admin socket, named and shaped after
// the MSDP tool of the same name: one command flag per call (--getmode, --dsstat, ...). Human
// output by default, --json for scripts; every field and the exit codes in docs/cli.md.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "tools/admin/admin_connection.h"
#include "tools/admin/admin_output.h"
#include "tools/admin/common_options.h"
#include "tools/admin/exit_codes.h"
#include "tools/common/json_writer.h"

namespace sealpool::tools::admin {
namespace {

int64_t NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Runs a Verify or Scrub stream to its end: progress on a terminal (stderr), then the verdict.
template <typename Reader>
int RunCheck(AdminConnection& conn, std::string_view what, std::string_view lsu,
             const grpc::ClientContext& context, Reader reader) {
  const bool progress = !conn.json() && ::isatty(STDERR_FILENO) == 1;
  v1::CheckProgress msg;
  v1::CheckProgress last;
  bool finished = false;
  bool shown = false;  // a progress line is on the terminal
  while (reader->Read(&msg)) {
    if (msg.finished()) {
      last = msg;
      finished = true;
    } else if (progress) {
      std::fprintf(stderr, "\r%s\x1b[K", CheckProgressLine(what, msg).c_str());
      shown = true;
    }
  }
  if (shown) std::fprintf(stderr, "\r\x1b[K");
  grpc::Status status = reader->Finish();
  if (!status.ok()) return conn.FailCall(status, context);
  if (!finished) {
    return conn.Fail(kExitError, "INTERNAL", std::string(what) + " ended without its final report");
  }
  Print(conn.json(), CheckJson(what, lsu, last), CheckHuman(what, last));
  return last.problems().empty() ? kExitOk : kExitDamage;
}

int Main(int argc, char** argv) {
  CLI::App app{
      "crcontrol: control a sealpool pool through sealpoold's admin socket: mode, data store\n"
      "statistics, compaction, the delete queue, verify and scrub, catalog backups, LSUs.\n"
      "Give exactly one command option (the MSDP tool's names), e.g. crcontrol --dsstat.\n"};
  app.footer(kExitCodesHelp);
  app.set_version_flag("--version", "crcontrol " SEALPOOL_VERSION);
  ConnectionOptions options;
  options.program = "crcontrol";
  AddConnectionOptions(app, options);

  bool getmode = false, dsstat = false, compactstart = false, compactstate = false,
       compactstop = false, processqueue = false, queueinfo = false, scrub = false;
  std::string verify_lsu, setmode, catalog_dir, addlsu, keygroup;
  double threshold = 0;
  uint64_t max_jobs = 0;
  bool client_delete = false;
  uint32_t max_retention_days = 0;

  const char* kCommands = "Commands (exactly one)";
  app.add_flag("--getmode", getmode,
               "pool mode (which operations are allowed), each LSU's encryption and KMS mode, "
               "and the KMS state; answers at once with sealkmsd down")
      ->group(kCommands);
  app.add_flag("--dsstat", dsstat,
               "data store statistics: containers, space, records, logical and stored size, "
               "dedup ratio")
      ->group(kCommands);
  app.add_flag("--compactstart", compactstart,
               "start a compaction of the containers whose live share is under the threshold; "
               "returns at once")
      ->group(kCommands);
  app.add_flag("--compactstate", compactstate, "progress of the current or last compaction")
      ->group(kCommands);
  app.add_flag("--compactstop", compactstop,
               "ask the running compaction to stop after its current container")
      ->group(kCommands);
  app.add_flag("--processqueue", processqueue,
               "run the delete queue now: drop deleted images' references, erase the keys of "
               "segments left without one")
      ->group(kCommands);
  app.add_flag("--queueinfo", queueinfo, "how many delete jobs are pending")->group(kCommands);
  auto* verify = app.add_option("--verify", verify_lsu,
                                "read and authenticate every image of LSU (none: of every LSU) "
                                "and check their digests; needs the KMS")
                     ->expected(0, 1)
                     ->type_name("[LSU]")
                     ->group(kCommands);
  app.add_flag("--scrub", scrub,
               "checksum every container (no key needed) and name the images damage touches")
      ->group(kCommands);
  auto* setmode_opt = app.add_option("--setmode", setmode,
                                     "set the pool mode: read-write, read-only (restores only) "
                                     "or maintenance (clients refused)")
                          ->check(CLI::IsMember({"read-write", "read-only", "maintenance"}))
                          ->type_name("MODE")
                          ->group(kCommands);
  auto* catalog = app.add_option("--backup-catalog", catalog_dir,
                                 "back the catalog up (incremental, while the pool runs) into DIR "
                                 "(none: [scheduler].catalog_backup_dir); a relative DIR is taken "
                                 "from the current folder")
                      ->expected(0, 1)
                      ->type_name("[DIR]")
                      ->group(kCommands);
  auto* addlsu_opt = app.add_option("--addlsu", addlsu,
                                    "create an LSU in the key group of --keygroup (clients use "
                                    "it once the config grants it)")
                         ->type_name("LSU")
                         ->group(kCommands);

  const char* kModifiers = "Options of a command";
  auto* threshold_opt =
      app.add_option("--threshold", threshold,
                     "--compactstart: compact containers whose live share is under this "
                     "(0 < x < 1; default: [scheduler].compact_live_threshold)")
          ->group(kModifiers);
  app.add_option("--max-jobs", max_jobs, "--processqueue: stop after this many jobs (0: all)")
      ->group(kModifiers);
  auto* keygroup_opt =
      app.add_option("--keygroup", keygroup, "--addlsu: the LSU's key group (it must exist)")
          ->group(kModifiers);
  app.add_flag("--client-delete", client_delete,
               "--addlsu: clients granted \"delete\" may delete their own images")
      ->group(kModifiers);
  app.add_option("--max-retention-days", max_retention_days,
                 "--addlsu: upper bound of an image's retention (default 3650)")
      ->check(CLI::Range(1u, 36500u))
      ->group(kModifiers);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return ParseErrorExit(app, e, argc, argv);
  }
  AdminConnection conn(options);
  const int given = getmode + dsstat + compactstart + compactstate + compactstop + processqueue +
                    queueinfo + scrub + (verify->count() > 0) + (setmode_opt->count() > 0) +
                    (catalog->count() > 0) + (addlsu_opt->count() > 0);
  if (given != 1) {
    return conn.Fail(kExitUsage, "INVALID_ARGUMENT",
                     given == 0 ? "give one command, e.g. --getmode or --dsstat (see --help)"
                                : "give one command at a time (see --help)");
  }
  if (addlsu_opt->count() > 0 && keygroup_opt->count() == 0) {
    return conn.Fail(kExitUsage, "INVALID_ARGUMENT", "--addlsu needs --keygroup GROUP");
  }
  if (threshold_opt->count() > 0 && !compactstart) {
    return conn.Fail(kExitUsage, "INVALID_ARGUMENT", "--threshold goes with --compactstart");
  }
  if (int rc = conn.Connect(); rc != kExitOk) return rc;
  auto& stub = conn.stub();

  if (getmode) {
    auto ctx = conn.Context();
    v1::GetModeResponse r;
    grpc::Status s = stub.GetMode(ctx.get(), {}, &r);
    if (!s.ok()) return conn.FailCall(s, *ctx);
    return Print(conn.json(), ModeJson(r), ModeHuman(r, NowMicros()));
  }
  if (setmode_opt->count() > 0) {
    auto ctx = conn.Context();
    v1::SetModeRequest q;
    q.set_mode(ParsePoolMode(setmode));
    v1::GetModeResponse r;
    grpc::Status s = stub.SetMode(ctx.get(), q, &r);
    if (!s.ok()) return conn.FailCall(s, *ctx);
    return Print(conn.json(), ModeJson(r),
                 "Pool mode set to " + setmode + "\n" + ModeHuman(r, NowMicros()));
  }
  if (dsstat) {
    auto ctx = conn.Context();
    v1::GetStatsResponse r;
    grpc::Status s = stub.GetStats(ctx.get(), {}, &r);
    if (!s.ok()) return conn.FailCall(s, *ctx);
    return Print(conn.json(), StatsJson(r), StatsHuman(r));
  }
  if (compactstart || compactstate || compactstop) {
    auto ctx = conn.Context();
    v1::JobStatus r;
    grpc::Status s;
    std::string headline;
    if (compactstart) {
      v1::StartCompactionRequest q;
      if (threshold_opt->count() > 0) q.set_live_threshold(threshold);
      s = stub.StartCompaction(ctx.get(), q, &r);
      headline = "Compaction started\n";
    } else if (compactstop) {
      s = stub.StopCompaction(ctx.get(), {}, &r);
    } else {
      s = stub.GetCompaction(ctx.get(), {}, &r);
    }
    if (!s.ok()) return conn.FailCall(s, *ctx);
    if (compactstop) {
      headline = r.state() == v1::JOB_STATE_RUNNING
                     ? "Compaction asked to stop after its current container\n"
                     : "No compaction is running\n";
    }
    return Print(conn.json(), JobJson(r), headline + JobHuman(r));
  }
  if (processqueue) {
    auto ctx = conn.Context(/*long_call=*/true);
    v1::ProcessQueueRequest q;
    q.set_max_jobs(max_jobs);
    v1::ProcessQueueResponse r;
    grpc::Status s = stub.ProcessQueue(ctx.get(), q, &r);
    if (!s.ok()) return conn.FailCall(s, *ctx);
    return Print(conn.json(), ProcessQueueJson(r), ProcessQueueHuman(r));
  }
  if (queueinfo) {
    auto ctx = conn.Context();
    v1::QueueInfo r;
    grpc::Status s = stub.GetQueueInfo(ctx.get(), {}, &r);
    if (!s.ok()) return conn.FailCall(s, *ctx);
    return Print(conn.json(), QueueInfoJson(r), QueueInfoHuman(r));
  }
  if (verify->count() > 0) {
    auto ctx = conn.Context(/*long_call=*/true);
    v1::VerifyRequest q;
    q.set_lsu(verify_lsu);
    return RunCheck(conn, "verify", verify_lsu, *ctx, stub.Verify(ctx.get(), q));
  }
  if (scrub) {
    auto ctx = conn.Context(/*long_call=*/true);
    return RunCheck(conn, "scrub", "", *ctx, stub.Scrub(ctx.get(), {}));
  }
  if (catalog->count() > 0) {
    auto ctx = conn.Context(/*long_call=*/true);
    v1::BackupCatalogRequest q;
    if (!catalog_dir.empty()) {
      std::error_code ec;
      std::filesystem::path abs = std::filesystem::absolute(catalog_dir, ec);
      q.set_dir(ec ? catalog_dir : abs.lexically_normal().string());
    }
    v1::BackupCatalogResponse r;
    grpc::Status s = stub.BackupCatalog(ctx.get(), q, &r);
    if (!s.ok()) return conn.FailCall(s, *ctx);
    JsonWriter w;
    w.BeginObject().Key("backup_id").Uint(r.backup_id()).Key("dir").String(r.dir()).EndObject();
    return Print(
        conn.json(), w.str(),
        "Catalog backup " + std::to_string(r.backup_id()) + " written to " + r.dir() + "\n");
  }
  // --addlsu
  auto ctx = conn.Context();
  v1::CreateLsuRequest q;
  q.set_name(addlsu);
  q.set_key_group(keygroup);
  q.set_client_delete(client_delete);
  q.set_max_retention_seconds(int64_t{max_retention_days} * 86400);
  v1::CreateLsuResponse r;
  grpc::Status s = stub.CreateLsu(ctx.get(), q, &r);
  if (!s.ok()) return conn.FailCall(s, *ctx);
  const uint32_t days = max_retention_days == 0 ? 3650 : max_retention_days;
  JsonWriter w;
  w.BeginObject()
      .Key("lsu")
      .String(addlsu)
      .Key("key_group")
      .String(keygroup)
      .Key("client_delete")
      .Bool(client_delete)
      .Key("max_retention_days")
      .Uint(days)
      .EndObject();
  return Print(conn.json(), w.str(),
               "LSU " + addlsu + " created in key group " + keygroup + " (client deletes " +
                   (client_delete ? "allowed" : "refused") + ", max retention " +
                   std::to_string(days) +
                   " days); clients may use it once sealpoold's config grants it "
                   "([[lsu]] and [[client.access]])\n");
}

}  // namespace
}  // namespace sealpool::tools::admin

int main(int argc, char** argv) { return sealpool::tools::admin::Main(argc, argv); }
