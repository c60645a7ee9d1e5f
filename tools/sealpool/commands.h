// sealpool's commands, one function each: they report their own failures (session.h, Fail)
// and return the exit code (exit_codes.h). Behaviour and output: docs/cli.md, "sealpool".
#ifndef SEALPOOL_TOOLS_SEALPOOL_COMMANDS_H_
#define SEALPOOL_TOOLS_SEALPOOL_COMMANDS_H_

#include <string>
#include <vector>

#include "tools/sealpool/session.h"

namespace sealpool::tools::client {

struct BackupArgs {
  std::string lsu, name, path;  // path "" or "-": stdin
  std::vector<std::string> labels;
  std::string retain_until;
  // --client-dedup: DedupBackup (client-side dedup); --base NAME, --no-base.
  bool client_dedup = false;
  std::string base;
  bool no_base = false;
};
// backup_command.cc
int Backup(Options& o, Connection& conn, const BackupArgs& a);

struct RestoreArgs {
  std::string lsu, name, output, range, extract;
};
struct VerifyArgs {
  std::string lsu, name, compare;
};
// restore_command.cc
int Restore(Options& o, Connection& conn, const RestoreArgs& a);
int Verify(Options& o, Connection& conn, const VerifyArgs& a);

// catalog_commands.cc
int List(Options& o, Connection& conn, const std::string& lsu);
int Stat(Options& o, Connection& conn, const std::string& lsu, const std::string& name);
int Remove(Options& o, Connection& conn, const std::string& lsu, const std::string& name);

}  // namespace sealpool::tools::client

#endif  // SEALPOOL_TOOLS_SEALPOOL_COMMANDS_H_
