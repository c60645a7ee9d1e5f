// The `sealpool` backup client as a child process against a real sealkmsd and sealpoold: every
// command's human and JSON output, exit codes, bad flags and config files, daemon down, wrong
// certificates, another client's image, SIGINT and a broken connection mid-backup, directory
// backups through plain `tar -x` and through --extract (with a hostile archive), ranges, and
// a 64 MiB stream through stdin and stdout.
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "test/daemon/sealpoold/sealpoold_test_env.h"
#include "tools/sealpool/arguments.h"
#include "tools/sealpool/exit_codes.h"
#include "tools/common/json_writer.h"
#include "tools/sealpool/progress.h"
#include "tools/sealpool/tar_writer.h"

namespace sealpool::test {
namespace {

namespace fs = std::filesystem;
namespace c = tools::client;
namespace v1 = pool::v1;

// Sets environment variables for the scope of a test (the children inherit them).
class ScopedEnv {
 public:
  ScopedEnv() {
    for (const char* name : {"HOME", "XDG_CONFIG_HOME", "SEALPOOL_CONFIG"}) {
      const char* v = std::getenv(name);
      saved_.emplace_back(
          name, v == nullptr ? std::optional<std::string>() : std::optional<std::string>(v));
    }
  }
  ~ScopedEnv() {
    for (const auto& [name, value] : saved_) {
      if (value.has_value()) {
        setenv(name.c_str(), value->c_str(), 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

struct Result {
  int code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs argv with stdin from `stdin_path` ("" = /dev/null), stdout and stderr into files.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const fs::path& dir, const std::string& stdin_path,
        int stdin_fd = -1)
      : out_(dir / ("child-out-" + std::to_string(++counter_))),
        err_(dir / ("child-err-" + std::to_string(counter_))) {
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      int in = stdin_fd >= 0
                   ? stdin_fd
                   : open(stdin_path.empty() ? "/dev/null" : stdin_path.c_str(), O_RDONLY);
      int out = open(out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int err = open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      dup2(in, 0);
      dup2(out, 1);
      dup2(err, 2);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  }
  pid_t pid() const { return pid_; }
  std::string Err() const { return ReadFileOrDie(err_); }
  Result Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    Result r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = ReadFileOrDie(out_);
    r.err = ReadFileOrDie(err_);
    fs::remove(out_);
    fs::remove(err_);
    return r;
  }

 private:
  static inline int counter_ = 0;
  fs::path out_, err_;
  pid_t pid_ = -1;
};

// Waits up to `limit` for `condition`, polling.
template <typename F>
bool WaitUntil(F condition, std::chrono::seconds limit = std::chrono::seconds(20)) {
  auto give_up = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < give_up) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> b = PseudoRandomBytes(n, seed);
  return std::string(b.begin(), b.end());
}

class CliFixture : public PoolFixture {
 public:
  CliFixture() : work_(dir_.path() / "work") { fs::create_directories(work_); }

  fs::path Cert(const std::string& file) const { return kms_.dir() / file; }

  // The connection flags as `cert` ("alice" by default).
  std::vector<std::string> Flags(const std::string& cert = "alice") const {
    return {"--server", "127.0.0.1:" + std::to_string(port_ != 0 ? port_ : pool_.port()),
            "--ca",     Cert("ca.crt").string(),
            "--cert",   Cert(cert + ".crt").string(),
            "--key",    Cert(cert + ".key").string()};
  }
  std::vector<std::string> Argv(const std::vector<std::string>& args,
                                const std::string& cert = "alice") const {
    std::vector<std::string> argv = {SEALPOOL_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    for (const std::string& f : Flags(cert)) argv.push_back(f);
    return argv;
  }
  // Runs sealpool with `args` then the connection flags (global flags after the subcommand).
  Result Run(const std::vector<std::string>& args, const std::string& stdin_path = "",
             const std::string& cert = "alice") {
    Child child(Argv(args, cert), work_, stdin_path);
    return child.Wait();
  }
  // Runs sealpool with exactly `argv` after the binary (no connection flags).
  Result RunBare(const std::vector<std::string>& args, const std::string& stdin_path = "") {
    std::vector<std::string> argv = {SEALPOOL_PATH};
    argv.insert(argv.end(), args.begin(), args.end());
    Child child(argv, work_, stdin_path);
    return child.Wait();
  }
  fs::path Write(const std::string& name, const std::string& data) {
    fs::path p = work_ / name;
    WriteFileOrDie(p, data, 0644);
    return p;
  }
  std::vector<v1::Image> AdminList() {
    auto admin = pool_.Admin();
    grpc::ClientContext ctx;
    v1::AdminListImagesRequest req;
    v1::ListImagesResponse resp;
    REQUIRE(admin->ListImages(&ctx, req, &resp).ok());
    return {resp.images().begin(), resp.images().end()};
  }

 protected:
  fs::path work_;
  int port_ = 0;  // a port other than the daemon's (0: the daemon's)
};

// ---- pure parts ----

TEST_CASE("sealpool parses retention times, ranges and labels", "[tools][sealpool]") {
  const int64_t now = 1'800'000'000'000'000;
  CHECK(*c::ParseRetainUntil("30d", now) == now + 30LL * 86400 * 1'000'000);
  CHECK(*c::ParseRetainUntil("12h", now) == now + 12LL * 3600 * 1'000'000);
  CHECK(*c::ParseRetainUntil("2w", now) == now + 14LL * 86400 * 1'000'000);
  CHECK(*c::ParseRetainUntil("2027-01-31", 0) == 1801353600LL * 1'000'000);
  CHECK(*c::ParseRetainUntil("2027-01-31T12:00:00Z", 0) == (1801353600LL + 43200) * 1'000'000);
  CHECK(*c::ParseRetainUntil("2027-01-31 12:00", 0) == (1801353600LL + 43200) * 1'000'000);
  CHECK(c::ParseRetainUntil("2020-01-01", now).status().message() ==
        "--retain-until \"2020-01-01\" is not in the future");
  CHECK(c::ParseRetainUntil("30x", now).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(c::ParseRetainUntil("soon", now).status().code() == absl::StatusCode::kInvalidArgument);
  auto r = c::ParseRange("1M:4K");
  REQUIRE(r.ok());
  CHECK(r->offset == (1u << 20));
  CHECK(*r->length == 4096);
  r = c::ParseRange("100:");
  REQUIRE(r.ok());
  CHECK(r->offset == 100);
  CHECK(!r->length.has_value());
  CHECK(c::ParseRange("x:1").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(c::ParseLabel("a=b=c")->second == "b=c");
  CHECK(!c::ParseLabel("=b").ok());
  CHECK(tools::JsonWriter::Quote("a\"\\\n\x01") == "\"a\\\"\\\\\\n\\u0001\"");
  CHECK(c::HumanBytes(1536) == "1.5 KiB");
  c::Progress p(false, "backup l/n", 4 << 20);
  p.Add(1 << 20);
  CHECK(p.Line(1.0) == "backup l/n: 1.0 MiB of 4.0 MiB, 1.0 MiB/s (25%), ETA 0:03");
  p.AddNotSent(2 << 20);
  CHECK(p.Line(1.0) ==
        "backup l/n: 1.0 MiB of 4.0 MiB, 1.0 MiB/s (25%), ETA 0:03, 2.0 MiB not sent");
}

// ---- the commands ----

TEST_CASE_METHOD(CliFixture, "sealpool backs up, lists, stats, verifies and deletes an image",
                 "[tools][sealpool]") {
  fs::path data = Write("data", RandomBytes(3 << 20, 7));
  Result r = Run({"backup", "lsu2", "img1", "-", "--label", "host=web1", "--label", "kind=db"},
                 data.string());
  REQUIRE(r.code == c::kExitOk);
  CHECK_THAT(r.out, Catch::StartsWith("backed up lsu2/img1: 3.0 MiB (3145728 bytes) from stdin, "));
  CHECK(r.err.empty());

  r = Run({"backup", "lsu2", "img2", data.string(), "--json"});
  REQUIRE(r.code == c::kExitOk);
  CHECK_THAT(r.out, Catch::StartsWith("{\"image\":{\"lsu\":\"lsu2\",\"owner\":\"alice\","
                                      "\"name\":\"img2\",\"image_id\":"));
  CHECK_THAT(r.out, Catch::Contains("\"size\":3145728,"));
  CHECK_THAT(r.out, Catch::Contains("\"retain_until\":null,\"retain_until_unix_micros\":0,"
                                    "\"key_group\":\"kg-a\",\"labels\":{}},\"source\":\"file\","
                                    "\"bytes_sent\":3145728,\"bytes_not_sent\":0,\"segments\":"));
  CHECK_THAT(r.out, Catch::EndsWith("}\n"));

  r = Run({"ls", "lsu2"});
  REQUIRE(r.code == c::kExitOk);
  CHECK_THAT(r.out, Catch::StartsWith("LSU   NAME  SIZE     CREATED               RETAIN UNTIL  "
                                      "LABELS\nlsu2  img1  3145728  "));
  CHECK_THAT(r.out, Catch::Contains("  -             host=web1,kind=db\nlsu2  img2  3145728  "));
  r = Run({"ls", "lsu2", "--json"});
  REQUIRE(r.code == c::kExitOk);
  CHECK_THAT(r.out, Catch::StartsWith("{\"images\":[{\"lsu\":\"lsu2\",\"owner\":\"alice\","
                                      "\"name\":\"img1\""));
  CHECK_THAT(r.out, Catch::Contains("\"labels\":{\"host\":\"web1\",\"kind\":\"db\"}}"));
  r = Run({"ls", "lsu1", "--json"});
  CHECK(r.code == c::kExitOk);
  CHECK(r.out == "{\"images\":[]}\n");

  r = Run({"stat", "lsu2", "img1"});
  REQUIRE(r.code == c::kExitOk);
  CHECK_THAT(r.out, Catch::StartsWith("lsu:           lsu2\nname:          img1\n"
                                      "owner:         alice\nimage id:      "));
  CHECK_THAT(r.out, Catch::Contains("size:          3145728 bytes (3.0 MiB)\n"));
  CHECK_THAT(r.out, Catch::Contains("retain until:  -\nkey group:     kg-a\n"
                                    "labels:        host=web1,kind=db\n"));
  r = Run({"stat", "lsu2", "img1", "--json"});
  REQUIRE(r.code == c::kExitOk);
  CHECK_THAT(r.out, Catch::StartsWith("{\"lsu\":\"lsu2\",\"owner\":\"alice\",\"name\":\"img1\""));

  r = Run({"verify", "lsu2", "img1", "--compare", data.string()});
  REQUIRE(r.code == c::kExitOk);
  CHECK_THAT(r.out, Catch::StartsWith("verified lsu2/img1: 3145728 bytes read back, every "
                                      "segment and the image digests authenticated by "
                                      "sealpoold\nsha256 "));
  CHECK_THAT(r.out, Catch::EndsWith("identical to " + data.string() + "\n"));
  r = Run({"verify", "lsu2", "img1", "--json"});
  REQUIRE(r.code == c::kExitOk);
  CHECK_THAT(r.out, Catch::Contains("},\"bytes\":3145728,\"sha256\":\""));
  CHECK_THAT(r.out, Catch::EndsWith("\",\"compared_with\":null,\"match\":null,"
                                    "\"first_difference\":null}\n"));
  // A local file that differs: exit 7, the first differing byte named.
  std::string changed = ReadFileOrDie(data);
  changed[1000000] ^= 1;
  fs::path other = Write("changed", changed);
  r = Run({"verify", "lsu2", "img1", "--compare", other.string(), "--json"});
  CHECK(r.code == c::kExitDataLoss);
  CHECK_THAT(r.out, Catch::Contains("\"match\":false,\"first_difference\":1000000}"));
  CHECK(r.err ==
        "sealpool: verify lsu2/img1: differs from " + other.string() + " at byte 1000000\n");

  r = Run({"rm", "lsu2", "img1"});
  REQUIRE(r.code == c::kExitOk);
  CHECK(r.out == "deleted lsu2/img1\n");
  r = Run({"rm", "lsu2", "img2", "--json"});
  REQUIRE(r.code == c::kExitOk);
  CHECK(r.out == "{\"deleted\":{\"lsu\":\"lsu2\",\"name\":\"img2\"}}\n");
  r = Run({"rm", "lsu2", "img2"});
  CHECK(r.code == c::kExitNotFound);
  CHECK(r.err == "sealpool: rm lsu2/img2: NOT_FOUND: no image lsu2/img2 of owner \"alice\"\n");
  r = Run({"stat", "lsu2", "img2", "--json"});
  CHECK(r.code == c::kExitNotFound);
  CHECK(r.out ==
        "{\"error\":{\"exit_code\":3,\"status\":\"NOT_FOUND\",\"message\":\"stat lsu2/img2: "
        "NOT_FOUND: no image lsu2/img2 of owner \\\"alice\\\"\"}}\n");
}

TEST_CASE_METHOD(CliFixture, "sealpool keeps labels and retention, and the pool's rules hold",
                 "[tools][sealpool]") {
  fs::path data = Write("data", "hello\n");
  Result r = Run({"backup", "lsu2", "kept", data.string(), "--retain-until", "30d"});
  REQUIRE(r.code == c::kExitOk);
  CHECK_THAT(r.out, Catch::Contains("\nretained until 20"));
  r = Run({"rm", "lsu2", "kept"});
  CHECK(r.code == c::kExitRefused);
  CHECK_THAT(r.err, Catch::StartsWith("sealpool: rm lsu2/kept: FAILED_PRECONDITION: "));
  CHECK_THAT(r.err, Catch::Contains("retained until"));
  REQUIRE(Run({"backup", "lsu1", "x", data.string()}).code == c::kExitOk);
  r = Run({"rm", "lsu1", "x"});
  CHECK(r.code == c::kExitRefused);
  CHECK_THAT(r.err, Catch::Contains("does not allow clients to delete images"));
  r = Run({"backup", "lsu1", "x", data.string()});
  CHECK(r.code == c::kExitRefused);
  CHECK_THAT(r.err, Catch::StartsWith("sealpool: backup lsu1/x: ALREADY_EXISTS: "));
  r = Run({"backup", "lsu1", "y", data.string(), "--retain-until", "yesterday"});
  CHECK(r.code == c::kExitUsage);
  CHECK_THAT(r.err, Catch::StartsWith("sealpool: --retain-until \"yesterday\" is neither"));
  r = Run({"backup", "lsu1", "y", data.string(), "--label", "novalue"});
  CHECK(r.code == c::kExitUsage);
  CHECK(r.err == "sealpool: --label \"novalue\" is not KEY=VALUE with a non-empty KEY\n");
  r = Run({"backup", "lsu1", "y", data.string(), "--retain-until", "100y"});
  CHECK(r.code == c::kExitUsage);  // past the LSU's max retention: sealpoold's INVALID_ARGUMENT
  CHECK_THAT(r.err, Catch::StartsWith("sealpool: backup lsu1/y: INVALID_ARGUMENT: "));
  r = Run({"backup", "lsu1", "y", (work_ / "missing").string()});
  CHECK(r.code == c::kExitNotFound);
  CHECK(r.err == "sealpool: cannot back up " + (work_ / "missing").string() +
                     ": No such file or directory\n");
  CHECK(Run({"ls", "lsu1", "--json"}).out.find("\"name\":\"y\"") == std::string::npos);
}

TEST_CASE_METHOD(CliFixture, "a 64 MiB stream goes through stdin and stdout bit-exact",
                 "[tools][sealpool]") {
  std::string big = RandomBytes(64 << 20, 64);
  fs::path in = Write("big", big);
  Result r = Run({"backup", "lsu1", "big", "-", "--quiet"}, in.string());
  REQUIRE(r.code == c::kExitOk);
  CHECK(r.out.empty());
  CHECK(r.err.empty());
  r = Run({"restore", "lsu1", "big"});
  REQUIRE(r.code == c::kExitOk);
  CHECK(r.out.size() == big.size());
  CHECK(r.out == big);
  CHECK(r.err == "restored lsu1/big: 67108864 bytes at offset 0 to stdout\n");
  // To a file, atomically (no partial file left behind).
  fs::path out = work_ / "big.out";
  r = Run({"restore", "lsu1", "big", "-o", out.string(), "--json"});
  REQUIRE(r.code == c::kExitOk);
  CHECK(ReadFileOrDie(out) == big);
  CHECK(!fs::exists(out.string() + ".sealpool-partial"));
  CHECK_THAT(r.out, Catch::Contains("\"offset\":0,\"length\":67108864,\"output\":\"" +
                                    out.string() + "\",\"extracted_entries\":null}"));
}

TEST_CASE_METHOD(CliFixture, "sealpool backup --client-dedup sends only what the base lacks",
                 "[tools][sealpool]") {
  // alice may use client-side dedup, bob may not. (Stop's exit code is not this test's
  // business: a SIGTERM right after the start can end sealpoold with 143.)
  pool_.Stop();
  std::string tables = DefaultPoolTables();
  const std::string alice = "[[client]]\ncn = \"alice\"\n";
  REQUIRE(tables.find(alice) != std::string::npos);
  tables.replace(tables.find(alice), alice.size(), alice + "client_dedup = true\n");
  pool_.SetTables(tables);
  pool_.Start();
  auto [gen1, gen2] = TwoGenerations(8 << 20, 5);
  const fs::path f1 = Write("gen1", gen1), f2 = Write("gen2", gen2);

  Result r = Run({"backup", "lsu1", "b1", f1.string(), "--client-dedup"}, "", "bob");
  CHECK(r.code == c::kExitDenied);
  CHECK_THAT(r.err, Catch::Contains("may not use client-side dedup"));
  CHECK(Run({"backup", "lsu1", "x", f1.string(), "--base", "b1"}).code == c::kExitUsage);

  r = Run({"backup", "lsu1", "gen-1", f1.string(), "--client-dedup", "--json"});
  REQUIRE(r.code == c::kExitOk);
  CHECK_THAT(r.out, Catch::Contains("\"bytes_sent\":" + std::to_string(gen1.size()) +
                                    ",\"bytes_not_sent\":0,\"client_dedup\":true,\"base\":\"\""));
  // The default base: the newest of alice's images with the same stem ("gen").
  r = Run({"backup", "lsu1", "gen-2", f2.string(), "--client-dedup", "--json"});
  REQUIRE(r.code == c::kExitOk);
  CHECK_THAT(r.out, Catch::Contains("\"base\":\"gen-1\""));
  CHECK_THAT(r.out, Catch::Contains("\"bytes_not_sent\":"));
  CHECK(r.out.find("\"bytes_not_sent\":0,") == std::string::npos);
  r = Run({"restore", "lsu1", "gen-2"});
  REQUIRE(r.code == c::kExitOk);
  CHECK(r.out == gen2);
  // --no-base sends everything; a human summary says so.
  r = Run({"backup", "lsu1", "gen-3", f2.string(), "--client-dedup", "--no-base"});
  REQUIRE(r.code == c::kExitOk);
  CHECK_THAT(r.out, Catch::Contains("client-side dedup: sent "));
  CHECK_THAT(r.out, Catch::Contains("(in base image (none))"));
}

TEST_CASE_METHOD(CliFixture, "sealpool restore --range returns exactly the bytes asked for",
                 "[tools][sealpool]") {
  std::string data = RandomBytes(5 << 20, 9);
  REQUIRE(Run({"backup", "lsu1", "r", Write("r", data).string()}).code == c::kExitOk);
  Result r = Run({"restore", "lsu1", "r", "--range", "1M:4K", "-o", "-"});
  REQUIRE(r.code == c::kExitOk);
  CHECK(r.out == data.substr(1 << 20, 4096));
  CHECK(r.err == "restored lsu1/r: 4096 bytes at offset 1048576 to stdout\n");
  r = Run({"restore", "lsu1", "r", "--range", "5000000:"});
  REQUIRE(r.code == c::kExitOk);
  CHECK(r.out == data.substr(5000000));
  r = Run({"restore", "lsu1", "r", "--range", "5M:1"});
  CHECK(r.code == c::kExitUsage);
  CHECK_THAT(r.err, Catch::StartsWith("sealpool: restore lsu1/r: INVALID_ARGUMENT: "));
  r = Run({"restore", "lsu1", "r", "--range", "a:b"});
  CHECK(r.code == c::kExitUsage);
  CHECK(r.err ==
        "sealpool: --range \"a:b\": \"a\" is not a byte count (digits, optionally K, M, G or "
        "T); the form is OFFSET:LENGTH\n");
  r = Run({"restore", "lsu1", "r", "--range", "1:1", "--extract", (work_ / "x").string()});
  CHECK(r.code == c::kExitUsage);
  CHECK(r.err == "sealpool: --extract takes the whole image: not with -o or --range\n");
}

// ---- directory backups ----

struct Node {
  char type = '?';
  mode_t mode = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  int64_t mtime = 0;
  std::string content;  // file bytes or symlink target
  ino_t ino = 0;
  blkcnt_t blocks = 0;
  std::string xattr;
  std::string acl;  // the raw system.posix_acl_access value
};

// name → node, for everything under `root` (the root itself as ".").
std::map<std::string, Node> Snapshot(const fs::path& root) {
  std::map<std::string, Node> nodes;
  auto add = [&](const fs::path& p, const std::string& name) {
    struct stat st {};
    REQUIRE(lstat(p.c_str(), &st) == 0);
    Node n;
    n.mode = st.st_mode & 07777;
    n.uid = st.st_uid;
    n.gid = st.st_gid;
    n.mtime = st.st_mtime;
    n.ino = st.st_ino;
    n.blocks = st.st_blocks;
    if (S_ISSOCK(st.st_mode)) return;  // tar cannot store sockets: skipped by design
    if (S_ISDIR(st.st_mode)) {
      n.type = 'd';
    } else if (S_ISFIFO(st.st_mode)) {
      n.type = 'p';
    } else if (S_ISLNK(st.st_mode)) {
      n.type = 'l';
      n.content = fs::read_symlink(p).string();
    } else if (S_ISREG(st.st_mode)) {
      n.type = 'f';
      n.content = ReadFileOrDie(p);
      char buf[256];
      ssize_t len = lgetxattr(p.c_str(), "user.sealpool", buf, sizeof(buf));
      if (len > 0) n.xattr.assign(buf, static_cast<size_t>(len));
      len = lgetxattr(p.c_str(), "system.posix_acl_access", buf, sizeof(buf));
      if (len > 0) n.acl.assign(buf, static_cast<size_t>(len));
    }
    nodes[name] = n;
  };
  add(root, ".");
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    add(it->path(), fs::relative(it->path(), root).string());
  }
  return nodes;
}

void SetMtime(const fs::path& p, int64_t seconds) {
  struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
  REQUIRE(utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
}

// The raw value of a POSIX access ACL (the kernel's xattr format, version 2): the owner rwx,
// user 1234 r-x, the group r-x, mask r-x, others r-x.
std::string AccessAcl() {
  std::string v;
  auto u32 = [&](uint32_t x) {
    for (int i = 0; i < 4; ++i) v.push_back(static_cast<char>((x >> (8 * i)) & 0xff));
  };
  auto entry = [&](uint16_t tag, uint16_t perm, uint32_t id) {
    v.push_back(static_cast<char>(tag & 0xff));
    v.push_back(static_cast<char>(tag >> 8));
    v.push_back(static_cast<char>(perm & 0xff));
    v.push_back(static_cast<char>(perm >> 8));
    u32(id);
  };
  u32(2);
  entry(0x01, 7, 0xffffffff);  // ACL_USER_OBJ
  entry(0x02, 5, 1234);        // ACL_USER
  entry(0x04, 5, 0xffffffff);  // ACL_GROUP_OBJ
  entry(0x10, 5, 0xffffffff);  // ACL_MASK
  entry(0x20, 5, 0xffffffff);  // ACL_OTHER
  return v;
}

// A tree with modes, owners, mtimes, a symlink, a hard link, a sparse file, a FIFO, a socket
// (which is skipped), an xattr and an ACL.
fs::path MakeTree(const fs::path& root, bool* have_xattr) {
  fs::create_directories(root / "sub" / "deep");
  WriteFileOrDie(root / "a.txt", "alpha\n", 0644);
  WriteFileOrDie(root / "sub" / "exec.sh", "#!/bin/sh\necho hi\n", 0755);
  WriteFileOrDie(root / "sub" / "deep" / "secret", "s3cret", 0600);
  WriteFileOrDie(root / "odd name ü.txt", RandomBytes(100000, 3), 0640);
  REQUIRE(chown((root / "sub" / "deep" / "secret").c_str(), 1234, 5678) == 0);
  fs::create_symlink("sub/exec.sh", root / "link");
  fs::create_symlink("/nonexistent/target", root / "dangling");
  fs::create_hard_link(root / "a.txt", root / "sub" / "hard");
  {
    int fd = open((root / "sparse").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(pwrite(fd, "head", 4, 0) == 4);
    REQUIRE(pwrite(fd, "tail", 4, 64 << 20) == 4);
    close(fd);
  }
  REQUIRE(mkfifo((root / "fifo").c_str(), 0620) == 0);
  {
    int sock = socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = (root / "sock").string();
    REQUIRE(path.size() < sizeof(addr.sun_path));
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    REQUIRE(bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    close(sock);
  }
  std::string acl = AccessAcl();
  *have_xattr = lsetxattr((root / "a.txt").c_str(), "user.sealpool", "kept", 4, 0) == 0 &&
                setxattr((root / "sub" / "exec.sh").c_str(), "system.posix_acl_access", acl.data(),
                         acl.size(), 0) == 0;
  fs::permissions(root / "sub", fs::perms(0750));
  int64_t t = 1'600'000'000;
  for (const char* p : {"a.txt", "sub/exec.sh", "sub/deep/secret", "odd name ü.txt", "link",
                        "dangling", "sparse", "fifo", "sub/deep", "sub", "."}) {
    SetMtime(root / p, t += 1000);
  }
  return root;
}

void CompareTrees(const fs::path& a, const fs::path& b, bool xattr) {
  std::map<std::string, Node> x = Snapshot(a), y = Snapshot(b);
  std::vector<std::string> names_x, names_y;
  for (const auto& [k, v] : x) names_x.push_back(k);
  for (const auto& [k, v] : y) names_y.push_back(k);
  REQUIRE(names_x == names_y);
  for (const auto& [name, n] : x) {
    INFO(name);
    const Node& m = y[name];
    CHECK(m.type == n.type);
    if (n.type != 'l') CHECK(m.mode == n.mode);
    CHECK(m.uid == n.uid);
    CHECK(m.gid == n.gid);
    CHECK(m.mtime == n.mtime);
    CHECK(m.content == n.content);
    if (xattr) {
      CHECK(m.xattr == n.xattr);
      CHECK(m.acl == n.acl);
    }
  }
  if (xattr) CHECK(y["sub/exec.sh"].acl == AccessAcl());
  // The hard link is one file, the sparse file kept its hole.
  CHECK(y["a.txt"].ino == y["sub/hard"].ino);
  CHECK(y["sparse"].blocks < 1024);  // 64 MiB of hole: far fewer than 131072 512-byte blocks
}

TEST_CASE_METHOD(CliFixture, "a directory backup restored through plain tar -x is the same tree",
                 "[tools][sealpool]") {
  bool xattr = false;
  fs::path src = MakeTree(work_ / "src", &xattr);
  if (!xattr) WARN("this file system takes no user xattrs or ACLs: they are not compared");
  Result r = Run({"backup", "lsu1", "tree", src.string()});
  REQUIRE(r.code == c::kExitOk);
  CHECK_THAT(r.out, Catch::Contains(" from directory, "));
  CHECK(r.err == "sealpool: warning: skipped " + (src / "sock").string() +
                     ": a socket (tar cannot store it)\n");
  fs::path out = work_ / "out";
  fs::create_directories(out);
  std::vector<std::string> argv = Argv({"restore", "lsu1", "tree", "--quiet"});
  std::string cmd = "set -o pipefail; ";
  for (const std::string& a : argv) cmd += "'" + a + "' ";
  cmd += "| tar --xattrs --xattrs-include='user.*' --acls -xpf - -C '" + out.string() + "' 2>&1";
  std::string output;
  int rc = RunCommand({"/bin/bash", "-c", cmd}, &output);
  INFO(output);
  REQUIRE(rc == 0);
  CHECK(output.empty());  // no warning from GNU tar about the archive
  CompareTrees(src, out, xattr);

  // The same through sealpool's own extraction.
  fs::path ext = work_ / "ext";
  r = Run({"restore", "lsu1", "tree", "--extract", ext.string()});
  INFO(r.err);
  REQUIRE(r.code == c::kExitOk);
  CHECK(r.out == "restored lsu1/tree: 12 entries extracted into " + ext.string() + "\n");
  CompareTrees(src, ext, xattr);
  r = Run({"restore", "lsu1", "tree", "--extract", (work_ / "ext2").string(), "--json"});
  REQUIRE(r.code == c::kExitOk);
  CHECK_THAT(r.out, Catch::EndsWith(",\"output\":\"" + (work_ / "ext2").string() +
                                    "\",\"extracted_entries\":12}\n"));
}

TEST_CASE("the same tree gives the same archive bytes", "[tools][sealpool]") {
  TempDir dir;
  bool xattr = false;
  fs::path src = MakeTree(dir.path() / "src", &xattr);
  auto archive = [&] {
    std::string bytes;
    absl::Status s = c::WriteDirectoryAsTar(
        src.string(),
        [&](std::string_view b) {
          bytes.append(b);
          return absl::OkStatus();
        },
        [](const std::string&) {});
    REQUIRE(s.ok());
    return bytes;
  };
  std::string first = archive();
  // Reading changed access times; the archive does not hold them.
  std::string second = archive();
  CHECK(first.size() == second.size());
  CHECK(first == second);
  CHECK(first.find("atime=") == std::string::npos);
  CHECK(first.find("ctime=") == std::string::npos);
  CHECK(first.find("GNU.sparse") != std::string::npos);
  CHECK(first.find("SCHILY.xattr.user.sealpool") != std::string::npos);
}

// A pax archive with entries that try to write outside the extraction folder.
std::string HostileArchive(const fs::path& outside) {
  std::string bytes;
  archive* a = archive_write_new();
  archive_write_set_format_pax(a);
  archive_write_add_filter_none(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(
      a, &bytes, nullptr,
      [](archive*, void* ctx, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(ctx)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  auto add = [&](const std::string& name, mode_t type, const std::string& data,
                 const std::string& link = "", bool hardlink = false) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
    if (hardlink) {
      archive_entry_set_hardlink(e, link.c_str());
    } else if (!link.empty()) {
      archive_entry_set_symlink(e, link.c_str());
    }
    archive_entry_set_size(e, static_cast<la_int64_t>(data.size()));
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    if (!data.empty()) archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
  };
  add("ok.txt", AE_IFREG, "fine\n");
  add("../dotdot-escape", AE_IFREG, "pwned\n");
  add("sub/../../dotdot-escape2", AE_IFREG, "pwned\n");
  add((outside / "absolute-escape").string(), AE_IFREG, "pwned\n");
  add("link", AE_IFLNK, "", outside.string());
  add("link/through-symlink", AE_IFREG, "pwned\n");
  add("hard", AE_IFREG, "pwned\n", (outside / "victim").string(), true);
  add("ok2.txt", AE_IFREG, "also fine\n");
  archive_write_close(a);
  archive_write_free(a);
  return bytes;
}

TEST_CASE_METHOD(CliFixture, "restore --extract never writes outside its folder",
                 "[tools][sealpool]") {
  fs::path outside = work_ / "outside";
  fs::create_directories(outside);
  WriteFileOrDie(outside / "victim", "original\n", 0644);
  fs::path archive = Write("hostile.tar", HostileArchive(outside));
  REQUIRE(Run({"backup", "lsu1", "hostile", archive.string()}).code == c::kExitOk);
  fs::path dest = work_ / "dest";
  Result r = Run({"restore", "lsu1", "hostile", "--extract", dest.string()});
  CHECK(r.code == c::kExitError);
  INFO(r.err);
  CHECK_THAT(r.err, Catch::Contains("sealpool: refused archive entry \"../dotdot-escape\": "));
  CHECK_THAT(r.err, Catch::Contains("refused archive entry \"sub/../../dotdot-escape2\""));
  CHECK_THAT(r.err, Catch::Contains("refused archive entry \"" +
                                    (outside / "absolute-escape").string() + "\""));
  CHECK_THAT(r.err, Catch::Contains("refused archive entry \"link/through-symlink\""));
  CHECK_THAT(r.err, Catch::Contains("refused archive entry \"hard\""));
  CHECK_THAT(r.err, Catch::EndsWith("entries into " + dest.string() +
                                    ", refused 5 (listed "
                                    "above)\n"));
  // Nothing outside changed; the harmless entries are there.
  CHECK(!fs::exists(work_ / "dotdot-escape"));
  CHECK(!fs::exists(work_ / "dotdot-escape2"));
  CHECK(!fs::exists(outside / "absolute-escape"));
  CHECK(!fs::exists(outside / "through-symlink"));
  CHECK(ReadFileOrDie(outside / "victim") == "original\n");
  std::vector<std::string> in_outside;
  for (const auto& e : fs::directory_iterator(outside)) in_outside.push_back(e.path().string());
  CHECK(in_outside == std::vector<std::string>{(outside / "victim").string()});
  CHECK(ReadFileOrDie(dest / "ok.txt") == "fine\n");
  CHECK(ReadFileOrDie(dest / "ok2.txt") == "also fine\n");
}

// ---- errors ----

TEST_CASE_METHOD(CliFixture, "sealpool rejects bad flags and explains every command's --help",
                 "[tools][sealpool]") {
  Result r = RunBare({});
  CHECK(r.code == c::kExitUsage);
  r = RunBare({"frobnicate"});
  CHECK(r.code == c::kExitUsage);
  r = RunBare({"backup"});
  CHECK(r.code == c::kExitUsage);
  CHECK_THAT(r.err, Catch::Contains("lsu is required"));
  r = Run({"ls", "lsu1", "--no-such-flag"});
  CHECK(r.code == c::kExitUsage);
  CHECK_THAT(r.err, Catch::Contains("--no-such-flag"));
  r = RunBare({"--help"});
  CHECK(r.code == c::kExitOk);
  CHECK_THAT(r.out, Catch::Contains("Exit codes: 0 ok"));
  for (const char* cmd : {"backup", "restore", "ls", "stat", "rm", "verify"}) {
    INFO(cmd);
    r = RunBare({cmd, "--help"});
    CHECK(r.code == c::kExitOk);
    CHECK_THAT(r.out, Catch::Contains(std::string("Usage: ") + SEALPOOL_PATH + " " + cmd));
    CHECK_THAT(r.out, Catch::Contains("Global options (--config, --server"));
  }
  // Nothing configured: one line naming what is missing.
  ScopedEnv env;
  fs::path empty_home = work_ / "home";
  fs::create_directories(empty_home);
  setenv("HOME", empty_home.c_str(), 1);
  unsetenv("XDG_CONFIG_HOME");
  unsetenv("SEALPOOL_CONFIG");
  r = RunBare({"ls", "lsu1"});
  CHECK(r.code == c::kExitUsage);
  CHECK(r.err ==
        "sealpool: no server, ca, cert, key: set them in the config file "
        "(~/.config/sealpool/client.toml, $SEALPOOL_CONFIG or --config) or with --server, "
        "--ca, --cert, --key\n");
}

TEST_CASE_METHOD(CliFixture, "sealpool reads its config file strictly", "[tools][sealpool]") {
  std::string good = "server = \"127.0.0.1:" + std::to_string(pool_.port()) + "\"\n" + "ca = \"" +
                     Cert("ca.crt").string() + "\"\ncert = \"" + Cert("alice.crt").string() +
                     "\"\nkey = \"" + Cert("alice.key").string() +
                     "\"\nlsus = [\"lsu1\", \"lsu2\"]\ntimeout_seconds = 5\n";
  fs::path config = Write("client.toml", good);
  ScopedEnv env;
  REQUIRE(Run({"backup", "lsu2", "c", Write("c", "c").string()}).code == c::kExitOk);
  Result r = RunBare({"ls", "--config", config.string()});
  REQUIRE(r.code == c::kExitOk);
  CHECK_THAT(r.out, Catch::Contains("\nlsu2  c     1     "));
  // $SEALPOOL_CONFIG, then ~/.config/sealpool/client.toml.
  setenv("SEALPOOL_CONFIG", config.c_str(), 1);
  CHECK(RunBare({"ls", "lsu2"}).code == c::kExitOk);
  unsetenv("SEALPOOL_CONFIG");
  fs::path home = work_ / "home";
  fs::create_directories(home / ".config" / "sealpool");
  fs::copy_file(config, home / ".config" / "sealpool" / "client.toml");
  setenv("HOME", home.c_str(), 1);
  unsetenv("XDG_CONFIG_HOME");
  CHECK(RunBare({"stat", "lsu2", "c"}).code == c::kExitOk);
  // Relative paths in the file are relative to the file's folder.
  fs::path relative = kms_.dir() / "relative.toml";
  WriteFileOrDie(relative,
                 "server = \"127.0.0.1:" + std::to_string(pool_.port()) +
                     "\"\nca = \"ca.crt\"\ncert = \"alice.crt\"\nkey = \"alice.key\"\n",
                 0644);
  r = RunBare({"stat", "lsu2", "c", "--config", relative.string()});
  CHECK(r.code == c::kExitOk);
  CHECK_THAT(r.out, Catch::StartsWith("lsu:           lsu2\nname:          c\n"));
  // A flag overrides the file: the wrong port fails.
  r = RunBare({"stat", "lsu2", "c", "--server", "127.0.0.1:1"});
  CHECK(r.code == c::kExitUnavailable);

  fs::path bad = Write("bad.toml", good + "colour = \"blue\"\n");
  r = RunBare({"ls", "--config", bad.string()});
  CHECK(r.code == c::kExitUsage);
  CHECK(r.err == "sealpool: " + bad.string() +
                     ": unknown key \"colour\" (known: server, server_name, ca, cert, key, "
                     "timeout_seconds, lsus)\n");
  bad = Write("bad2.toml", "server = 7444\n");
  r = RunBare({"ls", "--config", bad.string()});
  CHECK(r.code == c::kExitUsage);
  CHECK(r.err == "sealpool: " + bad.string() + ": server must be a string\n");
  bad = Write("bad3.toml", "server = \n");
  r = RunBare({"ls", "--config", bad.string()});
  CHECK(r.code == c::kExitUsage);
  CHECK_THAT(r.err, Catch::StartsWith("sealpool: " + bad.string() + ":1:"));
  r = RunBare({"ls", "--config", (work_ / "nope.toml").string()});
  CHECK(r.code == c::kExitUsage);
  CHECK(r.err == "sealpool: cannot read the config file " + (work_ / "nope.toml").string() +
                     ": No such file or directory\n");
  // A private key others may read is refused.
  fs::path key = work_ / "open.key";
  fs::copy_file(Cert("alice.key"), key);
  chmod(key.c_str(), 0644);
  r = RunBare({"ls", "lsu1", "--config", config.string(), "--key", key.string()});
  CHECK(r.code == c::kExitUsage);
  CHECK(r.err == "sealpool: the private key " + key.string() +
                     " has mode 0644: its group or others may access it; refusing to use it "
                     "(chmod 600 " +
                     key.string() + ")\n");
}

TEST_CASE_METHOD(CliFixture,
                 "sealpool explains daemon down, wrong certificates and other clients' images",
                 "[tools][sealpool]") {
  REQUIRE(Run({"backup", "lsu1", "mine", Write("m", "mine").string()}).code == c::kExitOk);
  // bob shares lsu1 but does not see alice's image.
  Result r = Run({"stat", "lsu1", "mine"}, "", "bob");
  CHECK(r.code == c::kExitNotFound);
  CHECK(r.err == "sealpool: stat lsu1/mine: NOT_FOUND: no image lsu1/mine of owner \"bob\"\n");
  r = Run({"restore", "lsu1", "mine", "-o", (work_ / "stolen").string()}, "", "bob");
  CHECK(r.code == c::kExitNotFound);
  CHECK(!fs::exists(work_ / "stolen"));
  CHECK(!fs::exists(work_ / "stolen.sealpool-partial"));
  CHECK(Run({"ls", "lsu1", "--json"}, "", "bob").out == "{\"images\":[]}\n");
  // With the data meant for stdout, the JSON error document goes to stderr.
  r = Run({"restore", "lsu1", "mine", "--json"}, "", "bob");
  CHECK(r.code == c::kExitNotFound);
  CHECK(r.out.empty());
  CHECK_THAT(r.err, Catch::EndsWith("\n{\"error\":{\"exit_code\":3,\"status\":\"NOT_FOUND\","
                                    "\"message\":\"restore lsu1/mine: NOT_FOUND: no image "
                                    "lsu1/mine of owner \\\"bob\\\"\"}}\n"));
  // carol's certificate is of the right CA but she is not a client of this pool.
  r = Run({"ls", "lsu1"}, "", "carol");
  CHECK(r.code == c::kExitDenied);
  CHECK_THAT(r.err, Catch::StartsWith("sealpool: ls lsu1: PERMISSION_DENIED: client certificate "
                                      "CN"));
  // alice has no right on an LSU she is not given.
  r = Run({"ls", "lsu9"});
  CHECK(r.code == c::kExitDenied);
  // A certificate from another CA: the handshake fails, one line, no gRPC dump.
  fs::path other = work_ / "other-ca";
  std::string out;
  REQUIRE(RunCommand({"/bin/bash", MAKE_CERTS_PATH, "--client", "mallory", other.string()}, &out) ==
          0);
  std::vector<std::string> argv = {SEALPOOL_PATH,
                                   "ls",
                                   "lsu1",
                                   "--server",
                                   "127.0.0.1:" + std::to_string(pool_.port()),
                                   "--ca",
                                   Cert("ca.crt").string(),
                                   "--cert",
                                   (other / "mallory.crt").string(),
                                   "--key",
                                   (other / "mallory.key").string()};
  r = Child(argv, work_, "").Wait();
  CHECK(r.code == c::kExitUnavailable);
  CHECK(r.err == "sealpool: ls lsu1: sealpoold at 127.0.0.1:" + std::to_string(pool_.port()) +
                     " closed the connection during the TLS handshake: it did not accept this "
                     "client's certificate (--cert/--key, or cert and key in the config: a "
                     "client certificate signed by sealpoold's CA?)\n");
  // Trusting another CA for the server: the same.
  argv[6] = (other / "ca.crt").string();
  argv[8] = Cert("alice.crt").string();
  argv[10] = Cert("alice.key").string();
  r = Child(argv, work_, "").Wait();
  CHECK(r.code == c::kExitUnavailable);
  CHECK(r.err == "sealpool: ls lsu1: the TLS handshake with sealpoold at 127.0.0.1:" +
                     std::to_string(pool_.port()) +
                     " failed: check that --ca (ca) is the CA that signed sealpoold's "
                     "certificate and that --cert/--key (cert, key) are a client certificate "
                     "of sealpoold's CA\n");
  // The daemon down.
  REQUIRE(pool_.Stop() == 0);
  r = Run({"ls", "lsu1", "--json"});
  CHECK(r.code == c::kExitUnavailable);
  CHECK(r.err ==
        "sealpool: ls lsu1: cannot reach sealpoold at 127.0.0.1:" + std::to_string(pool_.port()) +
            ": connection refused (is sealpoold running, and is --server (server) its "
            "client address?)\n");
  CHECK_THAT(r.out, Catch::StartsWith("{\"error\":{\"exit_code\":6,\"status\":\"UNAVAILABLE\","));
  r = Run({"backup", "lsu1", "down", Write("d", "d").string()});
  CHECK(r.code == c::kExitUnavailable);
  CHECK_THAT(r.err, Catch::StartsWith("sealpool: backup lsu1/down: cannot reach sealpoold at"));
  CHECK_THAT(r.err, Catch::EndsWith("; nothing was stored\n"));
}

// Starts a backup from a pipe and writes `mib` MiB into it; returns the child and the pipe's
// write end (still open).
struct RunningBackup {
  std::unique_ptr<Child> child;
  int pipe_write = -1;
};

RunningBackup StartPipedBackup(CliFixture& f, const std::vector<std::string>& argv,
                               const fs::path& dir, size_t mib) {
  int fds[2];
  REQUIRE(pipe2(fds, O_CLOEXEC) == 0);  // else the child holds a write end: no EOF
  RunningBackup b;
  b.child = std::make_unique<Child>(argv, dir, "", fds[0]);
  close(fds[0]);
  b.pipe_write = fds[1];
  std::string chunk = RandomBytes(1 << 20, 5);
  for (size_t i = 0; i < mib; ++i) {
    REQUIRE(write(b.pipe_write, chunk.data(), chunk.size()) == static_cast<ssize_t>(chunk.size()));
  }
  (void)f;
  return b;
}

TEST_CASE_METHOD(CliFixture,
                 "SIGINT or SIGTERM during a backup cancels it and leaves nothing visible",
                 "[tools][sealpool]") {
  const int sig = GENERATE(SIGINT, SIGTERM);
  INFO("signal " << sig);
  RunningBackup b =
      StartPipedBackup(*this, Argv({"backup", "lsu1", "interrupted", "-", "--progress"}), work_, 8);
  // The client has sent data once its progress line shows a few MiB.
  REQUIRE(WaitUntil([&] { return b.child->Err().find(" MiB, ") != std::string::npos; }));
  REQUIRE(kill(b.child->pid(), sig) == 0);
  Result r = b.child->Wait();
  close(b.pipe_write);
  CHECK(r.code == c::kExitInterrupted);
  CHECK_THAT(r.err, Catch::EndsWith("sealpool: backup lsu1/interrupted interrupted: the stream "
                                    "was cancelled and nothing was stored\n"));
  CHECK(Run({"ls", "lsu1", "--json"}).out == "{\"images\":[]}\n");
  CHECK(AdminList().empty());
  // The server rolled the stream back: the name is free again once it has seen the cancel.
  fs::path small = Write("small", "small");
  Result again;
  REQUIRE(WaitUntil([&] {
    again = Run({"backup", "lsu1", "interrupted", small.string()});
    return again.code != c::kExitRefused;  // "is being written by another stream" until then
  }));
  CHECK(again.code == c::kExitOk);
  CHECK(AdminList().size() == 1);
  CHECK(Run({"restore", "lsu1", "interrupted"}).out == "small");
  CHECK(pool_.Alive());
}

TEST_CASE_METHOD(CliFixture, "a broken connection mid-backup is one line and exit 6",
                 "[tools][sealpool]") {
  RunningBackup b =
      StartPipedBackup(*this, Argv({"backup", "lsu1", "broken", "-", "--progress"}), work_, 8);
  REQUIRE(WaitUntil([&] { return b.child->Err().find(" MiB, ") != std::string::npos; }));
  pool_.Kill();
  close(b.pipe_write);  // the client finishes reading, then learns the stream broke
  Result r = b.child->Wait();
  CHECK(r.code == c::kExitUnavailable);
  size_t erased = r.err.rfind("\033[K");
  std::string last = r.err.substr(erased == std::string::npos ? 0 : erased + 3);
  INFO(r.err);
  CHECK_THAT(r.err, Catch::Contains("sealpool: backup lsu1/broken: "));
  CHECK_THAT(r.err, Catch::EndsWith("; nothing was stored\n"));
  CHECK(std::count(last.begin(), last.end(), '\n') == 1);
  pool_.Start();
  CHECK(Run({"ls", "lsu1", "--json"}).out == "{\"images\":[]}\n");
}

TEST_CASE_METHOD(CliFixture, "the progress line shows bytes, rate, percentage and ETA",
                 "[tools][sealpool]") {
  fs::path data = Write("p", RandomBytes(4 << 20, 11));
  Result r = Run({"backup", "lsu1", "p", data.string(), "--progress"});
  REQUIRE(r.code == c::kExitOk);
  CHECK_THAT(r.err, Catch::StartsWith("\rbackup lsu1/p: 1.0 MiB of 4.0 MiB, "));
  CHECK_THAT(r.err, Catch::Contains("/s (25%)"));
  CHECK_THAT(r.err, Catch::EndsWith("\r\033[K"));
  CHECK(r.err.find("not sent") == std::string::npos);  // 0 until client-side dedup
  r = Run({"backup", "lsu1", "q", data.string(), "--progress", "--quiet"});
  REQUIRE(r.code == c::kExitOk);
  CHECK(r.err.empty());
  CHECK(r.out.empty());
}

TEST_CASE_METHOD(CliFixture, "on a terminal sealpool draws progress and keeps image bytes off it",
                 "[tools][sealpool]") {
  // script(1) runs the command on a pseudo-terminal and copies what it draws to stdout.
  fs::path data = Write("t", RandomBytes(3 << 20, 13));
  auto on_terminal = [&](const std::vector<std::string>& args, std::string* shown) {
    std::string cmd;
    for (const std::string& a : Argv(args)) cmd += "'" + a + "' ";
    return RunCommand({"/usr/bin/script", "-qefc", cmd, "/dev/null"}, shown);
  };
  std::string shown;
  REQUIRE(on_terminal({"backup", "lsu1", "t", data.string()}, &shown) == c::kExitOk);
  CHECK_THAT(shown, Catch::StartsWith("\rbackup lsu1/t: 1.0 MiB of 3.0 MiB, "));
  CHECK_THAT(shown, Catch::Contains("\r\033[Kbacked up lsu1/t: 3.0 MiB (3145728 bytes) from file"));
  REQUIRE(on_terminal({"backup", "lsu1", "t2", data.string(), "--quiet"}, &shown) == c::kExitOk);
  CHECK(shown.empty());
  CHECK(on_terminal({"restore", "lsu1", "t"}, &shown) == c::kExitUsage);
  CHECK(shown ==
        "sealpool: refusing to write an image to a terminal: use -o FILE, -o - or a pipe\r\n");
}

}  // namespace
}  // namespace sealpool::test
