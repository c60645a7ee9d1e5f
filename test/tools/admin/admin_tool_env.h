// Test environment of crcontrol and keydictutil: the real binaries run as child processes
// against a real sealpoold and sealkmsd (test/daemon/sealpoold/sealpoold_test_env.h), with
// stdout and stderr apart, stdin from /dev/null (or a pseudo-terminal), optionally as another
// user; and their --json output parsed (protobuf's JSON parser into google.protobuf.Value).
#ifndef SEALPOOL_TEST_TOOLS_ADMIN_ADMIN_TOOL_ENV_H_
#define SEALPOOL_TEST_TOOLS_ADMIN_ADMIN_TOOL_ENV_H_

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "google/protobuf/struct.pb.h"
#include "test/daemon/sealpoold/sealpoold_test_env.h"

namespace sealpool::test {

struct ToolRun {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr (on a terminal: everything the terminal showed)
  std::chrono::milliseconds took{0};
};

struct ToolOptions {
  std::optional<uid_t> uid;  // run as this user (and its group, the same number)
  std::string cwd;           // "" = the test's
  // Extra environment (NAME=value); the rest is inherited.
  std::vector<std::string> env;
};

inline ToolOptions AsUser(uid_t uid) {
  ToolOptions o;
  o.uid = uid;
  return o;
}
inline ToolOptions InFolder(std::string cwd) {
  ToolOptions o;
  o.cwd = std::move(cwd);
  return o;
}
inline ToolOptions WithEnv(std::string name_value) {
  ToolOptions o;
  o.env.push_back(std::move(name_value));
  return o;
}

// Runs `argv` with stdin from /dev/null.
ToolRun RunTool(const std::vector<std::string>& argv, const ToolOptions& options = {});
// Runs `argv` on a pseudo-terminal (stdin, stdout and stderr all on it); once the terminal shows
// `wait_for`, types `input`. Output (both streams) lands in `err`.
ToolRun RunOnTerminal(const std::vector<std::string>& argv, const std::string& wait_for,
                      const std::string& input);

// Parses a JSON document; fails the test if it is not one.
google::protobuf::Value ParseJson(const std::string& json);
// The member at a dotted path ("kms.state", "lsus.0.name"); fails the test if absent.
const google::protobuf::Value& At(const google::protobuf::Value& v, const std::string& path);
std::string Str(const google::protobuf::Value& v, const std::string& path);
double Num(const google::protobuf::Value& v, const std::string& path);
bool Bool(const google::protobuf::Value& v, const std::string& path);

// Polls `check` every 20 ms until it holds or `limit` passes.
bool WaitFor(const std::function<bool()>& check,
             std::chrono::milliseconds limit = std::chrono::seconds(30));

// A started sealkmsd and sealpoold; runs the tools against its admin socket.
class AdminToolFixture : public PoolFixture {
 public:
  AdminToolFixture() = default;
  explicit AdminToolFixture(const std::string& extra_config) : PoolFixture(extra_config) {}

  // crcontrol / keydictutil with --socket <the pool's admin socket> and `args`.
  ToolRun Crcontrol(std::vector<std::string> args, const ToolOptions& options = {});
  ToolRun Keydictutil(std::vector<std::string> args, const ToolOptions& options = {});
  // The same with --json; requires exit 0 and parses stdout.
  google::protobuf::Value CrcontrolJson(std::vector<std::string> args);
  google::protobuf::Value KeydictutilJson(std::vector<std::string> args);

  std::string socket() const { return pool_.admin_socket().string(); }
  // Backs `data` up as alice into `lsu`/`name`; fails the test on error.
  void BackUp(const std::string& lsu, const std::string& name, const std::string& data);
  // Deletes alice's image as an admin; fails the test on error.
  void AdminDelete(const std::string& lsu, const std::string& name);
};

}  // namespace sealpool::test

#endif  // SEALPOOL_TEST_TOOLS_ADMIN_ADMIN_TOOL_ENV_H_
