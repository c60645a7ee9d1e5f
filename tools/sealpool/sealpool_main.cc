// sealpool: the backup client. Backs up stdin, a file or a directory (as a pax tar stream)
// into an LSU of sealpoold, restores, lists, stats, deletes and verifies images, over TLS with
// a client certificate. Human output by default, --json for scripts; exit codes in
// exit_codes.h; everything in docs/cli.md, "sealpool".
#include <grpc/support/log.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <clocale>
#include <string>

#include "base/malloc_tuning.h"
#include "tools/sealpool/commands.h"
#include "tools/sealpool/exit_codes.h"
#include "tools/sealpool/session.h"

namespace sealpool::tools::client {
namespace {

void SilenceGrpcLog(gpr_log_func_args*) {}

int Main(int argc, char** argv) {
  base::TuneMallocForStreaming();
  StartSignalThread();
  // File names are bytes, and nearly always UTF-8: with this locale libarchive stores them in
  // pax headers as UTF-8 (what POSIX asks) whatever the user's locale, instead of marking them
  // hdrcharset=BINARY, which GNU tar warns about.
  if (setlocale(LC_CTYPE, "C.UTF-8") == nullptr) setlocale(LC_CTYPE, "");
  gpr_set_log_function(SilenceGrpcLog);  // failures are reported in one line of our own
  ::signal(SIGPIPE, SIG_IGN);

  CLI::App app{
      "sealpool: back up to, restore from and manage images in a sealpool pool (sealpoold),\n"
      "over TLS with a client certificate.\n\n"
      "Server, CA, certificate and key come from the config file (--config, $SEALPOOL_CONFIG,\n"
      "or ~/.config/sealpool/client.toml) or the flags below; the key is a file of mode 0600.\n"
      "Exit codes: 0 ok, 1 other error, 2 usage, config or invalid argument, 3 not found,\n"
      "4 refused by a pool rule (retention, exists, read-only), 5 permission denied,\n"
      "6 sealpoold unreachable or the connection broke, 7 data did not check out,\n"
      "130 interrupted (SIGINT/SIGTERM). The options below may also follow the subcommand.\n"
      "See docs/cli.md."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "sealpool " SEALPOOL_VERSION);
  app.fallthrough();
  Options o;
  app.add_option("--config", o.config_path, "the config file (TOML)");
  app.add_option("-s,--server", o.flags.server, "sealpoold's client address host:port");
  app.add_option("--server-name", o.flags.server_name,
                 "name to verify in sealpoold's certificate (default: the host of --server)");
  app.add_option("--ca", o.flags.ca, "CA certificate that signed sealpoold's (PEM file)");
  app.add_option("--cert", o.flags.cert, "this client's certificate (PEM file)");
  app.add_option("--key", o.flags.key, "its private key (PEM file, mode 0600 or 0400)");
  app.add_option("--timeout", o.timeout, "seconds to wait for ls, stat and rm (default 30)")
      ->check(CLI::Range(0.1, 3600.0));
  app.add_flag("--json", o.json, "print one JSON document on stdout");
  app.add_flag("-q,--quiet", o.quiet, "print nothing but errors (and the data)");
  app.add_flag("-v,--verbose", o.verbose,
               "when a call fails, also print gRPC's own status message (for debugging)");
  app.add_flag("--progress", o.progress,
               "draw the progress line on stderr even when it is not a terminal");

  BackupArgs backup_args;
  auto* backup = app.add_subcommand(
      "backup",
      "back up stdin (PATH - or none), a file, or a directory (as a POSIX pax tar archive) as "
      "image NAME in LSU");
  backup->add_option("lsu", backup_args.lsu, "the LSU")->required();
  backup->add_option("name", backup_args.name, "the image name")->required();
  backup->add_option("path", backup_args.path, "a file or directory; - or none: stdin");
  backup->add_option("--label", backup_args.labels, "a label KEY=VALUE (repeatable)");
  backup->add_option("--retain-until", backup_args.retain_until,
                     "nobody deletes the image before: a UTC date/time (2027-01-31, "
                     "2027-01-31T12:00:00Z) or a duration from now (30d, 12h, 2w, 1y)");
  backup->add_flag("--client-dedup", backup_args.client_dedup,
                   "client-side dedup: cut and digest here and send only the segments the "
                   "base image lacks (the server must allow it: [[client]] client_dedup)");
  auto* base_opt = backup->add_option(
      "--base", backup_args.base,
      "with --client-dedup: the base image (one of yours in the LSU); default: your newest "
      "image whose name, trailing digits and -_.: removed, equals NAME's");
  backup->add_flag("--no-base", backup_args.no_base,
                   "with --client-dedup: no base image (every segment is sent)")
      ->excludes(base_opt);

  RestoreArgs restore_args;
  auto* restore =
      app.add_subcommand("restore", "write an image, or a byte range of it, or extract it");
  restore->add_option("lsu", restore_args.lsu, "the LSU")->required();
  restore->add_option("name", restore_args.name, "the image name")->required();
  restore->add_option("-o,--output", restore_args.output,
                      "write to FILE (atomically: FILE.sealpool-partial, renamed when "
                      "complete); - or none: stdout");
  restore->add_option("--range", restore_args.range,
                      "only LENGTH bytes from OFFSET: OFFSET:LENGTH (K, M, G suffixes; "
                      "OFFSET: to the end)");
  restore->add_option("--extract", restore_args.extract,
                      "unpack the image (a directory backup) into DIR; never writes outside it");

  std::string lsu, name;
  auto* ls = app.add_subcommand("ls", "list your images in LSU (or in the config's lsus)");
  ls->add_option("lsu", lsu, "the LSU");
  auto* stat = app.add_subcommand("stat", "show one image");
  stat->add_option("lsu", lsu, "the LSU")->required();
  stat->add_option("name", name, "the image name")->required();
  auto* rm = app.add_subcommand("rm",
                                "delete an image (if the LSU allows client deletes and "
                                "its retention has passed)");
  rm->add_option("lsu", lsu, "the LSU")->required();
  rm->add_option("name", name, "the image name")->required();
  VerifyArgs verify_args;
  auto* verify = app.add_subcommand(
      "verify",
      "read the whole image back through sealpoold, which authenticates every segment and the "
      "image's recipe and content digests; print its SHA-256; optionally compare with a file");
  verify->add_option("lsu", verify_args.lsu, "the LSU")->required();
  verify->add_option("name", verify_args.name, "the image name")->required();
  verify->add_option("--compare", verify_args.compare,
                     "a local file that must be byte for byte the image");

  for (CLI::App* sub : {backup, restore, ls, stat, rm, verify}) {
    sub->footer(
        "Global options (--config, --server, --server-name, --ca, --cert, --key, --timeout,\n"
        "--json, --quiet, --progress) may follow the subcommand; see sealpool --help.");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  Connection conn(o);
  if (backup->parsed()) return Backup(o, conn, backup_args);
  if (restore->parsed()) return Restore(o, conn, restore_args);
  if (ls->parsed()) return List(o, conn, lsu);
  if (stat->parsed()) return Stat(o, conn, lsu, name);
  if (rm->parsed()) return Remove(o, conn, lsu, name);
  if (verify->parsed()) return Verify(o, conn, verify_args);
  return kExitUsage;
}

}  // namespace
}  // namespace sealpool::tools::client

int main(int argc, char** argv) { return sealpool::tools::client::Main(argc, argv); }
