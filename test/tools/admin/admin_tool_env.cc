#include "test/tools/admin/admin_tool_env.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <thread>

#include "google/protobuf/util/json_util.h"

namespace sealpool::test {

namespace {

[[noreturn]] void Exec(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  for (const std::string& e : env) ::putenv(const_cast<char*>(e.c_str()));
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(args[0], args.data());
  _exit(127);
}

int Reap(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

ToolRun RunTool(const std::vector<std::string>& argv, const ToolOptions& options) {
  int out[2], err[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDONLY);
    ::dup2(null, 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    if (!options.cwd.empty() && ::chdir(options.cwd.c_str()) != 0) _exit(126);
    if (options.uid.has_value()) {
      const gid_t gid = static_cast<gid_t>(*options.uid);
      if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(*options.uid) != 0) {
        _exit(125);
      }
    }
    Exec(argv, options.env);
  }
  ::close(out[1]);
  ::close(err[1]);
  ToolRun run;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&run.out, &run.err};
  int open_fds = 2;
  while (open_fds > 0) {
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      FAIL("poll failed");
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  run.exit_code = Reap(pid);
  run.took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  return run;
}

ToolRun RunOnTerminal(const std::vector<std::string>& argv, const std::string& wait_for,
                      const std::string& input) {
  int master = -1;
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  REQUIRE(pid >= 0);
  if (pid == 0) Exec(argv, {});
  ToolRun run;
  bool typed = false;
  const auto give_up = t0 + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < give_up) {
    pollfd p{master, POLLIN, 0};
    int n = ::poll(&p, 1, 200);
    if (n < 0 && errno != EINTR) break;
    if (n > 0) {
      char buf[4096];
      ssize_t got = ::read(master, buf, sizeof(buf));
      if (got <= 0) break;  // EIO: the child closed the terminal
      run.err.append(buf, static_cast<size_t>(got));
    }
    if (!typed && run.err.find(wait_for) != std::string::npos) {
      REQUIRE(::write(master, input.data(), input.size()) == static_cast<ssize_t>(input.size()));
      typed = true;
    }
  }
  ::close(master);
  run.exit_code = Reap(pid);
  run.took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  return run;
}

google::protobuf::Value ParseJson(const std::string& json) {
  google::protobuf::Value v;
  auto s = google::protobuf::util::JsonStringToMessage(json, &v);
  INFO(json);
  REQUIRE(s.ok());
  return v;
}

const google::protobuf::Value& At(const google::protobuf::Value& v, const std::string& path) {
  const google::protobuf::Value* cur = &v;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    INFO("path " << path << " at " << part);
    if (cur->has_list_value()) {
      size_t i = std::stoul(part);
      REQUIRE(i < static_cast<size_t>(cur->list_value().values_size()));
      cur = &cur->list_value().values(static_cast<int>(i));
    } else {
      REQUIRE(cur->has_struct_value());
      auto it = cur->struct_value().fields().find(part);
      REQUIRE(it != cur->struct_value().fields().end());
      cur = &it->second;
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return *cur;
}

std::string Str(const google::protobuf::Value& v, const std::string& path) {
  const auto& x = At(v, path);
  INFO(path);
  REQUIRE(x.kind_case() == google::protobuf::Value::kStringValue);
  return x.string_value();
}

double Num(const google::protobuf::Value& v, const std::string& path) {
  const auto& x = At(v, path);
  INFO(path);
  REQUIRE(x.kind_case() == google::protobuf::Value::kNumberValue);
  return x.number_value();
}

bool Bool(const google::protobuf::Value& v, const std::string& path) {
  const auto& x = At(v, path);
  INFO(path);
  REQUIRE(x.kind_case() == google::protobuf::Value::kBoolValue);
  return x.bool_value();
}

bool WaitFor(const std::function<bool()>& check, std::chrono::milliseconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < give_up) {
    if (check()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return check();
}

ToolRun AdminToolFixture::Crcontrol(std::vector<std::string> args, const ToolOptions& options) {
  args.insert(args.begin(), {CRCONTROL_PATH, "--socket", socket()});
  return RunTool(args, options);
}

ToolRun AdminToolFixture::Keydictutil(std::vector<std::string> args, const ToolOptions& options) {
  args.insert(args.begin(), {KEYDICTUTIL_PATH, "--socket", socket()});
  return RunTool(args, options);
}

google::protobuf::Value AdminToolFixture::CrcontrolJson(std::vector<std::string> args) {
  args.push_back("--json");
  ToolRun r = Crcontrol(args);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return ParseJson(r.out);
}

google::protobuf::Value AdminToolFixture::KeydictutilJson(std::vector<std::string> args) {
  args.push_back("--json");
  ToolRun r = Keydictutil(args);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  return ParseJson(r.out);
}

void AdminToolFixture::BackUp(const std::string& lsu, const std::string& name,
                              const std::string& data) {
  auto alice = pool_.Client("alice");
  auto r = Backup(*alice, lsu, name, data);
  INFO(r.status().ToString());
  REQUIRE(r.ok());
}

void AdminToolFixture::AdminDelete(const std::string& lsu, const std::string& name) {
  auto admin = pool_.Admin();
  grpc::ClientContext ctx;
  pool::v1::AdminImageRef ref;
  ref.set_lsu(lsu);
  ref.set_owner("alice");
  ref.set_name(name);
  pool::v1::DeleteImageResponse out;
  grpc::Status s = admin->DeleteImage(&ctx, ref, &out);
  INFO(s.error_message());
  REQUIRE(s.ok());
}

}  // namespace sealpool::test
