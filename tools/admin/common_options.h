// The options crcontrol and keydictutil share (--socket, --timeout, --json) and the text their
// --help ends with. Header-only: the tools include CLI11, the library does not.
#ifndef SEALPOOL_TOOLS_ADMIN_COMMON_OPTIONS_H_
#define SEALPOOL_TOOLS_ADMIN_COMMON_OPTIONS_H_

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <string_view>

#include "tools/admin/admin_connection.h"
#include "tools/admin/exit_codes.h"
#include "tools/common/json_writer.h"

namespace sealpool::tools::admin {

inline constexpr char kExitCodesHelp[] =
    "Exit codes: 0 ok; 1 other error; 2 usage, or sealpoold said the request is invalid;\n"
    "3 not found; 4 refused by a rule of the pool (or a purge not confirmed); 5 permission\n"
    "denied (the admin socket is root's and [admin].group's); 6 no sealpoold on the socket,\n"
    "or it could not reach sealkmsd for this call; 7 --verify/--scrub found damage.\n"
    "With --json, a failure also prints {\"error\":{\"code\",\"message\",\"exit_code\"}} on\n"
    "stdout. Reference: docs/cli.md.\n";

inline void AddConnectionOptions(CLI::App& app, ConnectionOptions& options) {
  app.add_option("--socket", options.socket,
                 "sealpoold's admin socket ([admin].socket in its config)")
      ->envname(kAdminSocketEnv)
      ->capture_default_str();
  app.add_option_function<double>(
         "--timeout",
         [&options](double seconds) {
           options.timeout_seconds = seconds;
           options.timeout_given = true;
         },
         "seconds to wait for an answer (default 30; --verify, --scrub, --processqueue, "
         "--backup-catalog, --rewrap and --purge wait as long as they run unless this is given)")
      ->check(CLI::Range(0.1, 86400.0));
  app.add_flag("--json", options.json, "print the answer as one JSON object on stdout");
}

// Reports a command line CLI11 refused (or --help): CLI11's text, and with --json anywhere on
// the command line also the {"error": ...} object on stdout. Returns the exit code.
inline int ParseErrorExit(CLI::App& app, const CLI::ParseError& e, int argc, char** argv) {
  const int code = app.exit(e);
  if (code == 0) return kExitOk;
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--json") {
      JsonWriter w;
      w.BeginObject()
          .Key("error")
          .BeginObject()
          .Key("code")
          .String("INVALID_ARGUMENT")
          .Key("message")
          .String(e.what())
          .Key("exit_code")
          .Int(kExitUsage)
          .EndObject()
          .EndObject();
      std::printf("%s\n", w.str().c_str());
      break;
    }
  }
  return kExitUsage;
}

}  // namespace sealpool::tools::admin

#endif  // SEALPOOL_TOOLS_ADMIN_COMMON_OPTIONS_H_
