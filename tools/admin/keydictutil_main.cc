// keydictutil: the pool's key dictionary over sealpoold's admin socket, named after the MSDP
// tool: --list LSUs, key groups and KEKs; --rotate a group's KEK; --rewrap its keys under its
// current root key; --purge a group (confirmed); --addgroup. Human output by default, --json
// for scripts; every field and the exit codes in docs/cli.md.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>

#include "tools/admin/admin_connection.h"
#include "tools/admin/admin_output.h"
#include "tools/admin/common_options.h"
#include "tools/admin/exit_codes.h"
#include "tools/common/json_writer.h"

namespace sealpool::tools::admin {
namespace {

// "1.25 s" / "830 ms" for a step's duration.
std::string FormatSeconds(int64_t micros) {
  char buf[32];
  if (micros >= 1000000) {
    std::snprintf(buf, sizeof(buf), "%.2f s", static_cast<double>(micros) / 1e6);
  } else {
    std::snprintf(buf, sizeof(buf), "%lld ms", static_cast<long long>(micros / 1000));
  }
  return buf;
}

// Asks on the terminal for the group's name; true if typed exactly.
bool ConfirmOnTerminal(const std::string& group) {
  std::fprintf(stderr,
               "Purging key group %s makes the data deleted from its LSUs unrecoverable "
               "everywhere (new KEK and root key, every live key re-wrapped, the old keys "
               "destroyed). It cannot be undone.\nType the key group's name to confirm: ",
               group.c_str());
  std::fflush(stderr);
  std::string typed;
  if (!std::getline(std::cin, typed)) return false;
  while (!typed.empty() && (typed.back() == '\r' || typed.back() == ' ')) typed.pop_back();
  return typed == group;
}

int Main(int argc, char** argv) {
  CLI::App app{
      "keydictutil: the pool's key dictionary through sealpoold's admin socket: every LSU with\n"
      "its key group and KMS mode, each group's KEKs; KEK rotation, re-wrap after a root-key\n"
      "rotation, purge, new key groups. Give exactly one command option, e.g. keydictutil "
      "--list.\n"};
  app.set_version_flag("--version", "keydictutil " SEALPOOL_VERSION);
  app.footer(kExitCodesHelp);
  ConnectionOptions options;
  options.program = "keydictutil";
  AddConnectionOptions(app, options);

  bool list = false, yes = false;
  std::string rotate, rewrap, purge, addgroup, backend = "builtin", kek_mode = "symmetric";
  const char* kCommands = "Commands (exactly one)";
  app.add_flag("--list", list,
               "every LSU with its key group and KMS mode, and each key group's kek_mode and "
               "KEKs or KEK pairs (id, state, root key id, created, DEKs wrapped, public key "
               "SHA-256 prefix)")
      ->group(kCommands);
  auto* rotate_opt = app.add_option("--rotate", rotate,
                                    "start a new active KEK in GROUP (the old one stays to "
                                    "unwrap; no segment is touched); needs the KMS")
                         ->type_name("GROUP")
                         ->group(kCommands);
  auto* rewrap_opt = app.add_option("--rewrap", rewrap,
                                    "after a root-key rotation in sealkmsd: re-wrap GROUP's "
                                    "KEKs and fingerprint key under its active root key")
                         ->type_name("GROUP")
                         ->group(kCommands);
  auto* purge_opt = app.add_option("--purge", purge,
                                   "make data deleted from GROUP unrecoverable everywhere (asks "
                                   "you to type the group's name; --yes when not on a terminal)")
                        ->type_name("GROUP")
                        ->group(kCommands);
  auto* addgroup_opt = app.add_option("--addgroup", addgroup,
                                      "create key group GROUP in the pool (sealkmsd must have "
                                      "the group with an active root key, granted to this pool)")
                           ->type_name("GROUP")
                           ->group(kCommands);
  const char* kModifiers = "Options of a command";
  app.add_flag("--yes", yes, "--purge: confirmed, do not ask (for scripts)")->group(kModifiers);
  auto* backend_opt =
      app.add_option("--kms-backend", backend, "--addgroup: which sealkmsd backend wraps its keys")
          ->check(CLI::IsMember({"builtin", "kmip"}))
          ->capture_default_str()
          ->group(kModifiers);
  auto* kek_mode_opt =
      app.add_option("--kek-mode", kek_mode,
                     "--addgroup: \"public\" for KEK pairs (write-only ingest: backups need no "
                     "KMS, restores do; needs a host key in sealpoold's config), fixed at creation")
          ->check(CLI::IsMember({"symmetric", "public"}))
          ->capture_default_str()
          ->group(kModifiers);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return ParseErrorExit(app, e, argc, argv);
  }
  AdminConnection conn(options);
  const int given = list + (rotate_opt->count() > 0) + (rewrap_opt->count() > 0) +
                    (purge_opt->count() > 0) + (addgroup_opt->count() > 0);
  if (given != 1) {
    return conn.Fail(kExitUsage, "INVALID_ARGUMENT",
                     given == 0 ? "give one command, e.g. --list (see --help)"
                                : "give one command at a time (see --help)");
  }
  if (yes && purge_opt->count() == 0) {
    return conn.Fail(kExitUsage, "INVALID_ARGUMENT", "--yes goes with --purge");
  }
  if (backend_opt->count() > 0 && addgroup_opt->count() == 0) {
    return conn.Fail(kExitUsage, "INVALID_ARGUMENT", "--kms-backend goes with --addgroup");
  }
  if (kek_mode_opt->count() > 0 && addgroup_opt->count() == 0) {
    return conn.Fail(kExitUsage, "INVALID_ARGUMENT", "--kek-mode goes with --addgroup");
  }
  if (purge_opt->count() > 0 && !yes) {
    // Confirmation comes before any connection: nothing is asked of sealpoold unconfirmed.
    if (::isatty(STDIN_FILENO) != 1) {
      return conn.Fail(kExitUsage, "INVALID_ARGUMENT",
                       "--purge " + purge +
                           " asks for confirmation on a terminal, and stdin is not one: add "
                           "--yes to confirm (nothing was done)");
    }
    if (!ConfirmOnTerminal(purge)) {
      return conn.Fail(kExitRefused, "CANCELLED",
                       "the name typed is not " + purge + ": purge cancelled, nothing was done");
    }
  }
  if (int rc = conn.Connect(); rc != kExitOk) return rc;
  auto& stub = conn.stub();

  if (list) {
    auto ctx = conn.Context();
    v1::ListKeysResponse r;
    grpc::Status s = stub.ListKeys(ctx.get(), {}, &r);
    if (!s.ok()) return conn.FailCall(s, *ctx);
    return Print(conn.json(), KeysJson(r), KeysHuman(r));
  }
  if (rotate_opt->count() > 0) {
    auto ctx = conn.Context();
    v1::RotateKekRequest q;
    q.set_key_group(rotate);
    v1::RotateKekResponse r;
    grpc::Status s = stub.RotateKek(ctx.get(), q, &r);
    if (!s.ok()) return conn.FailCall(s, *ctx);
    JsonWriter w;
    w.BeginObject().Key("key_group").String(rotate).Key("kek_id").Uint(r.kek_id()).EndObject();
    return Print(conn.json(), w.str(),
                 "Key group " + rotate + ": KEK " + std::to_string(r.kek_id()) +
                     " is the active KEK now; older KEKs stay inactive and still unwrap\n");
  }
  if (rewrap_opt->count() > 0) {
    auto ctx = conn.Context(/*long_call=*/true);
    v1::RewrapKeysRequest q;
    q.set_key_group(rewrap);
    v1::RewrapKeysResponse r;
    grpc::Status s = stub.RewrapKeys(ctx.get(), q, &r);
    if (!s.ok()) return conn.FailCall(s, *ctx);
    JsonWriter w;
    w.BeginObject()
        .Key("key_group")
        .String(rewrap)
        .Key("rewrapped")
        .Uint(r.rewrapped())
        .Key("root_key_id")
        .String(r.root_key_id())
        .EndObject();
    return Print(conn.json(), w.str(),
                 "Key group " + rewrap + ": " + std::to_string(r.rewrapped()) +
                     " key(s) re-wrapped; the group's keys are under root key " +
                     (r.root_key_id().empty() ? "-" : r.root_key_id()) + "\n");
  }
  if (purge_opt->count() > 0) {
    auto ctx = conn.Context(/*long_call=*/true);
    v1::PurgeRequest q;
    q.set_key_group(purge);
    q.set_confirm(true);
    v1::PurgeResponse r;
    grpc::Status s = stub.Purge(ctx.get(), q, &r);
    if (!s.ok()) return conn.FailCall(s, *ctx);
    JsonWriter w;
    w.BeginObject().Key("key_group").String(purge).Key("purged").Bool(true);
    w.Key("resumed").Bool(r.resumed()).Key("steps").BeginArray();
    std::ostringstream human;
    human << "Key group " << purge << " purged" << (r.resumed() ? " (resumed)" : "") << " in "
          << FormatSeconds(r.total_micros()) << "\n";
    human << "STEP                 TIME      DETAIL\n";
    for (const auto& step : r.steps()) {
      w.BeginObject()
          .Key("step")
          .String(step.step())
          .Key("micros")
          .Int(step.micros())
          .Key("done_before")
          .Bool(step.done_before())
          .Key("detail")
          .String(step.detail())
          .EndObject();
      char line[64];
      std::snprintf(line, sizeof(line), "%-20s %-9s ", step.step().c_str(),
                    step.done_before() ? "earlier" : FormatSeconds(step.micros()).c_str());
      human << line << (step.detail().empty() ? "-" : step.detail()) << "\n";
    }
    w.EndArray();
    w.Key("segments_erased").Uint(r.segments_erased());
    w.Key("new_kek_id").Uint(r.new_kek_id());
    w.Key("writers_waited_for").Int(r.writers_waited_for());
    w.Key("deks_rewrapped").Uint(r.deks_rewrapped());
    w.Key("keks_dropped").BeginArray();
    for (uint32_t id : r.keks_dropped()) w.Uint(id);
    w.EndArray();
    w.Key("old_root_key_id").String(r.old_root_key_id());
    w.Key("new_root_key_id").String(r.new_root_key_id());
    w.Key("root_keys_destroyed").BeginArray();
    for (const auto& id : r.root_keys_destroyed()) w.String(id);
    w.EndArray();
    w.Key("catalog_compacted").Bool(r.catalog_compacted());
    w.Key("store_rekeyed").Bool(r.store_rekeyed());
    w.Key("total_micros").Int(r.total_micros());
    w.Key("warnings").BeginArray();
    for (const auto& warning : r.warnings()) w.String(warning);
    w.EndArray().EndObject();
    human << "DEKs re-wrapped: " << r.deks_rewrapped() << ", KEKs dropped: " << r.keks_dropped_size()
          << ", new KEK: " << r.new_kek_id() << ", segments erased first: " << r.segments_erased()
          << "\n";
    human << "Root key now: " << (r.new_root_key_id().empty() ? "-" : r.new_root_key_id())
          << "; destroyed:";
    if (r.root_keys_destroyed_size() == 0) human << " none";
    for (const auto& id : r.root_keys_destroyed()) human << " " << id;
    human << "\n";
    for (const auto& warning : r.warnings()) human << "WARNING: " << warning << "\n";
    return Print(conn.json(), w.str(), human.str());
  }
  // --addgroup
  auto ctx = conn.Context();
  v1::CreateKeyGroupRequest q;
  q.set_name(addgroup);
  q.set_kms_backend(backend);
  q.set_kek_mode(kek_mode);
  v1::CreateKeyGroupResponse r;
  grpc::Status s = stub.CreateKeyGroup(ctx.get(), q, &r);
  if (!s.ok()) return conn.FailCall(s, *ctx);
  JsonWriter w;
  w.BeginObject()
      .Key("key_group")
      .String(addgroup)
      .Key("kms_backend")
      .String(backend)
      .Key("kek_mode")
      .String(kek_mode)
      .EndObject();
  return Print(conn.json(), w.str(),
               "Key group " + addgroup + " created (KMS backend " + backend + ", kek_mode " +
                   kek_mode + "); add LSUs to it with crcontrol --addlsu LSU --keygroup " + addgroup + "\n");
}

}  // namespace
}  // namespace sealpool::tools::admin

int main(int argc, char** argv) { return sealpool::tools::admin::Main(argc, argv); }
