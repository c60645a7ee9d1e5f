// kmscmd against a real sealkmsd: every admin command, human and JSON output, exit codes.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "test/kms/kms_test_env.h"
#include "tools/kmscmd/exit_codes.h"
#include "tools/kmscmd/output.h"

namespace sealpool::test {
namespace {

class KmscmdFixture {
 public:
  KmscmdFixture() : kms_(dir_.path()) { kms_.Start(); }

  // Runs kmscmd as `cert` with `args`; output (stdout+stderr) in out_.
  int Run(std::vector<std::string> args, const std::string& cert = "admin") {
    std::vector<std::string> argv = {KMSCMD_PATH,
                                     "--server",
                                     kms_.address(),
                                     "--ca",
                                     (kms_.dir() / "ca.crt").string(),
                                     "--cert",
                                     (kms_.dir() / (cert + ".crt")).string(),
                                     "--key",
                                     (kms_.dir() / (cert + ".key")).string(),
                                     "--timeout",
                                     "2"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, &out_);
  }
  const std::string& out() const { return out_; }
  // The "id" of the first key in `kmscmd --json key list`.
  std::string FirstKeyId() {
    REQUIRE(Run({"--json", "key", "list"}) == 0);
    size_t at = out_.find("\"id\":\"");
    REQUIRE(at != std::string::npos);
    return out_.substr(at + 6, out_.find('"', at + 6) - at - 6);
  }

 protected:
  TempDir dir_;
  Sealkmsd kms_;
  std::string out_;
};

TEST_CASE_METHOD(KmscmdFixture, "kmscmd manages groups and keys through their life cycle",
                 "[tools][kmscmd]") {
  REQUIRE(Run({"group", "create", "kg-a"}) == tools::kExitOk);
  CHECK_THAT(out(), Catch::Contains("created key group kg-a"));
  CHECK(Run({"group", "create", "kg-a"}) == tools::kExitRefused);
  CHECK_THAT(out(), Catch::Contains("ALREADY_EXISTS"));
  REQUIRE(Run({"key", "create", "kg-a"}) == tools::kExitOk);
  CHECK_THAT(out(), Catch::Contains("prelive"));
  std::string id = FirstKeyId();
  CHECK(Run({"key", "deprecate", id}) == tools::kExitRefused);
  CHECK_THAT(out(), Catch::Contains("only adjacent moves"));
  REQUIRE(Run({"key", "activate", id}) == tools::kExitOk);
  REQUIRE(Run({"group", "list"}) == tools::kExitOk);
  CHECK_THAT(out(), Catch::Contains("GROUP"));
  CHECK_THAT(out(), Catch::Contains("ready"));
  CHECK_THAT(out(), Catch::Contains(id));
  REQUIRE(Run({"--json", "group", "list"}) == tools::kExitOk);
  CHECK_THAT(out(), Catch::StartsWith("{\"groups\":[{\"name\":\"kg-a\""));
  CHECK(Run({"key", "delete", id}) == tools::kExitRefused);
  REQUIRE(Run({"key", "deactivate", id}) == tools::kExitOk);
  REQUIRE(Run({"key", "set-state", id, "deprecated"}) == tools::kExitOk);
  REQUIRE(Run({"key", "terminate", id}) == tools::kExitOk);
  REQUIRE(Run({"key", "list", "--group", "kg-a"}) == tools::kExitOk);
  CHECK_THAT(out(), Catch::Contains("terminated"));
  REQUIRE(Run({"key", "delete", id}) == tools::kExitOk);
  CHECK(Run({"key", "delete", id}) == tools::kExitNotFound);
  CHECK(Run({"key", "list", "--group", "nope"}) == tools::kExitNotFound);
  // Audit lines of state moves and deletions name the key's group.
  std::string audit = ReadFileOrDie(kms_.audit_path());
  for (const char* op : {"set-state:deprecated", "set-state:terminated", "delete-key"}) {
    INFO(op);
    CHECK_THAT(audit, Catch::Contains(std::string("\"op\":\"") + op +
                                      "\",\"pool\":\"\",\"group\":\"kg-a\",\"root_key\":\"" +
                                      id + "\""));
  }
}

TEST_CASE_METHOD(KmscmdFixture, "kmscmd takes its global options after the subcommand too",
                 "[tools][kmscmd]") {
  kms_.CreateActiveGroup("kg-a");
  REQUIRE(Run({"key", "list", "--json"}) == tools::kExitOk);
  CHECK_THAT(out(), Catch::StartsWith("{\"keys\":[{\"id\":"));
  REQUIRE(Run({"key", "list", "--group", "kg-a", "--json"}) == tools::kExitOk);
  CHECK_THAT(out(), Catch::StartsWith("{\"keys\":["));
  REQUIRE(Run({"group", "list", "--json"}) == tools::kExitOk);
  CHECK_THAT(out(), Catch::StartsWith("{\"groups\":[{\"name\":\"kg-a\""));
  std::string help;
  CHECK(RunCommand({KMSCMD_PATH, "--help"}, &help) == 0);
  CHECK_THAT(help, Catch::Contains("--timeout") && Catch::Contains("30"));
}

TEST_CASE_METHOD(KmscmdFixture, "kmscmd shows usage, shreds with confirmation, tails the audit",
                 "[tools][kmscmd]") {
  std::string root = kms_.CreateActiveGroup("kg-a");
  auto client = kms_.Client("pool-a", "pool-a");
  REQUIRE(client->Wrap("kg-a", "kek-7", std::vector<uint8_t>(32, 1)).ok());
  REQUIRE(Run({"usage", "--group", "kg-a"}) == tools::kExitOk);
  CHECK_THAT(out(), Catch::Contains("pool-a"));
  CHECK_THAT(out(), Catch::Contains("kek-7"));
  CHECK_THAT(out(), Catch::Contains(root));
  CHECK(Run({"group", "shred", "kg-a", "--confirm", "kg-b"}) == tools::kExitRefused);
  CHECK(Run({"group", "shred", "kg-a"}) == tools::kExitUsage);  // --confirm is required
  REQUIRE(Run({"group", "shred", "kg-a", "--confirm", "kg-a"}) == tools::kExitOk);
  CHECK_THAT(out(), Catch::Contains("destroyed 1 root key(s), dropped 1 KEK registration(s)"));
  REQUIRE(Run({"audit", "tail", "-n", "3"}) == tools::kExitOk);
  CHECK_THAT(out(), Catch::Contains("\"op\":\"shred-group\""));
  REQUIRE(Run({"--json", "audit", "tail", "-n", "1"}) == tools::kExitOk);
  CHECK_THAT(out(), Catch::StartsWith("{\"lines\":["));
}

TEST_CASE_METHOD(KmscmdFixture, "kmscmd changes the passphrase", "[tools][kmscmd]") {
  kms_.CreateActiveGroup("kg-a");
  WriteFileOrDie(kms_.dir() / "new-pass", "brand new passphrase\n", 0600);
  REQUIRE(Run({"passphrase", "change", "--new-passphrase-file",
               (kms_.dir() / "new-pass").string()}) == tools::kExitOk);
  CHECK_THAT(out(), Catch::Contains("update sealkmsd's passphrase file"));
  REQUIRE(kms_.Stop() == 0);
  std::string log;
  CHECK(RunCommand({SEALKMSD_PATH, "--config", kms_.config_path().string()}, &log) == 1);
  CHECK_THAT(log, Catch::Contains("wrong passphrase"));
  WriteFileOrDie(kms_.passphrase_path(), "brand new passphrase\n", 0600);
  kms_.Start();
  REQUIRE(Run({"key", "list"}) == tools::kExitOk);
  CHECK_THAT(out(), Catch::Contains("active"));
}

// Runs `argv` on a pseudo-terminal (Debian's python3 pty module): answers the two passphrase
// prompts with `first` and `second`, returns everything the terminal showed plus "EXIT=<code>".
std::string RunOnPty(const std::vector<std::string>& argv, const std::string& first,
                     const std::string& second) {
  static const char* kScript = R"(
import os, pty, select, sys, time
first, second, argv = sys.argv[1].encode(), sys.argv[2].encode(), sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
out = b''
def read_some(deadline):
    global out
    r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.time()))
    if not r:
        return False
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        return False
    out += chunk
    return bool(chunk)
def until(token):
    deadline = time.time() + 20
    while token not in out:
        if not read_some(deadline):
            return
until(b'New key-store passphrase: ')
os.write(fd, first + b'\n')
until(b'Repeat the new passphrase: ')
os.write(fd, second + b'\n')
deadline = time.time() + 20
while read_some(deadline):
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode('utf-8', 'replace') + 'EXIT=%d' % os.waitstatus_to_exitcode(status))
)";
  std::vector<std::string> full = {"/usr/bin/python3", "-c", kScript, first, second};
  full.insert(full.end(), argv.begin(), argv.end());
  std::string out;
  REQUIRE(RunCommand(full, &out) == 0);
  return out;
}

TEST_CASE_METHOD(KmscmdFixture,
                 "kmscmd asks for a new passphrase twice on a terminal, without echo",
                 "[tools][kmscmd]") {
  kms_.CreateActiveGroup("kg-a");
  const std::vector<std::string> argv = {KMSCMD_PATH,
                                         "--server",
                                         kms_.address(),
                                         "--ca",
                                         (kms_.dir() / "ca.crt").string(),
                                         "--cert",
                                         (kms_.dir() / "admin.crt").string(),
                                         "--key",
                                         (kms_.dir() / "admin.key").string(),
                                         "--timeout",
                                         "5",
                                         "passphrase",
                                         "change",
                                         "--new-passphrase-file",
                                         "-"};
  std::string shown = RunOnPty(argv, "typed on a pty", "typed on a ptY");
  CHECK_THAT(shown, Catch::Contains("kmscmd: the two entries differ; nothing was changed"));
  CHECK_THAT(shown, Catch::EndsWith("EXIT=" + std::to_string(tools::kExitUsage)));
  CHECK(shown.find("typed on a pt") == std::string::npos);

  shown = RunOnPty(argv, "typed on a pty", "typed on a pty");
  CHECK(shown.find("typed on a pty") == std::string::npos);  // never echoed
  CHECK_THAT(shown, Catch::Contains("New key-store passphrase: "));
  CHECK_THAT(shown, Catch::Contains("key store re-encrypted under the new passphrase"));
  CHECK_THAT(shown, Catch::EndsWith("EXIT=0"));
  // Exactly the typed bytes (no line end) became the passphrase.
  REQUIRE(kms_.Stop() == 0);
  WriteFileOrDie(kms_.passphrase_path(), "typed on a pty\n", 0600);
  kms_.Start();
  REQUIRE(Run({"key", "list"}) == tools::kExitOk);
}

TEST_CASE_METHOD(KmscmdFixture, "kmscmd refuses a private key or passphrase file others may read",
                 "[tools][kmscmd]") {
  const std::filesystem::path key = kms_.dir() / "open.key";
  std::filesystem::copy_file(kms_.dir() / "admin.key", key);
  std::filesystem::permissions(key, std::filesystem::perms(0640));
  std::string said;
  CHECK(RunCommand({KMSCMD_PATH, "--server", kms_.address(), "--ca",
                    (kms_.dir() / "ca.crt").string(), "--cert",
                    (kms_.dir() / "admin.crt").string(), "--key", key.string(), "group", "list"},
                   &said) == tools::kExitUsage);
  CHECK(said == "kmscmd: the private key " + key.string() +
                   " has mode 0640: its group or others may access it; refusing to use it "
                   "(chmod 600 " + key.string() + ")\n");
  WriteFileOrDie(kms_.dir() / "new-pass", "open passphrase\n", 0644);
  CHECK(Run({"passphrase", "change", "--new-passphrase-file",
             (kms_.dir() / "new-pass").string()}) == tools::kExitUsage);
  CHECK_THAT(out(), Catch::Contains("the new passphrase file " +
                                    (kms_.dir() / "new-pass").string() + " has mode 0644"));
}

TEST_CASE_METHOD(KmscmdFixture, "kmscmd exit codes tell denied, unreachable and usage apart",
                 "[tools][kmscmd]") {
  CHECK(Run({"group", "list"}, "pool-a") == tools::kExitDenied);
  CHECK_THAT(out(), Catch::Contains("PERMISSION_DENIED"));
  CHECK(Run({"frobnicate"}) == tools::kExitUsage);
  CHECK(Run({"key", "set-state", "rk-x", "sideways"}) == tools::kExitUsage);
  CHECK(Run({"group", "create", "bad name"}) == tools::kExitUsage);
  REQUIRE(kms_.Stop() == 0);
  CHECK(Run({"group", "list"}) == tools::kExitUnavailable);
  CHECK_THAT(out(), Catch::Contains("is sealkmsd running"));
  std::string help;
  CHECK(RunCommand({KMSCMD_PATH, "--help"}, &help) == 0);
  CHECK_THAT(help, Catch::Contains("Exit codes"));
}

TEST_CASE("kmscmd tables align their columns", "[tools][kmscmd]") {
  CHECK(tools::FormatTable({"A", "BB"}, {{"long", "x"}, {"s", "yy"}}) ==
        "A     BB\nlong  x\ns     yy\n");
  CHECK(tools::FormatUnixTime(0) == "1970-01-01 00:00:00Z");
  CHECK(tools::ParseKeyState("compromised") == kms::v1::KEY_STATE_COMPROMISED);
  CHECK(tools::ParseKeyState("nope") == kms::v1::KEY_STATE_UNSPECIFIED);
}

}  // namespace
}  // namespace sealpool::test
