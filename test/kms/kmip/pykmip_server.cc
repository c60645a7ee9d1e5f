#include "test/kms/kmip/pykmip_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <sstream>
#include <thread>

#include "test/kms/kms_test_env.h"

namespace sealpool::test {

namespace {
constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kServerScript = "/usr/bin/pykmip-server";
}  // namespace

bool Eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
  auto give_up = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void RequirePyKmip() {
  if (access(kPython, X_OK) != 0 || access(kServerScript, R_OK) != 0) {
    SkipTest(
        "python3-pykmip is not installed (/usr/bin/pykmip-server missing); "
        "run packaging/install-deps.sh to run the KMIP integration tests");
  }
  std::string out;
  if (RunCommand({kPython, "-c", "import kmip.services.server"}, &out) != 0) {
    SkipTest("/usr/bin/python3 cannot import PyKMIP's server (python3-pykmip): " + out);
  }
}

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  close(fd);
  return ntohs(a.sin_port);
}

PyKmipServer::PyKmipServer() {
  MakeCerts(dir(), {"sealkmsd", "other-owner"}, {});
  std::filesystem::create_directories(dir() / "policies");
  std::filesystem::create_directories(dir() / "tmp");
}

void PyKmipServer::MakeForeignCerts() { MakeCerts(dir() / "foreign", {"sealkmsd"}, {}); }

void PyKmipServer::MakeCertWithoutEku(const std::string& name) {
  const std::string d = dir().string();
  std::string script =
      "set -e; cd '" + d + "'; printf 'basicConstraints=CA:FALSE\\nkeyUsage=digitalSignature\\n' > " +
      name + ".ext; openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + name +
      ".key 2>/dev/null; openssl req -new -key " + name + ".key -subj /O=sealpool/CN=" + name +
      " -out " + name + ".csr; openssl x509 -req -in " + name +
      ".csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 -sha256 -extfile " + name +
      ".ext -out " + name + ".crt 2>/dev/null";
  std::string out;
  int rc = RunCommand({"/bin/bash", "-c", script}, &out);
  INFO(out);
  REQUIRE(rc == 0);
}

PyKmipServer::~PyKmipServer() {
  if (running()) Stop();
}

std::string PyKmipServer::Log() const {
  std::error_code ec;
  if (!std::filesystem::exists(dir() / "server.log", ec)) return "(no server.log)";
  return ReadFileOrDie(dir() / "server.log");
}

bool PyKmipServer::TryStart() {
  std::ostringstream c;
  c << "[server]\n"
    << "hostname=127.0.0.1\n"
    << "port=" << port_ << "\n"
    << "certificate_path=" << (dir() / "server.crt").string() << "\n"
    << "key_path=" << (dir() / "server.key").string() << "\n"
    << "ca_path=" << (dir() / "ca.crt").string() << "\n"
    << "auth_suite=TLS1.2\n"
    << "enable_tls_client_auth=True\n"
    << "policy_path=" << (dir() / "policies").string() << "\n"
    << "database_path=" << (dir() / "pykmip.db").string() << "\n"
    << "logging_level=DEBUG\n";
  WriteFileOrDie(dir() / "server.conf", c.str(), 0600);
  std::filesystem::remove(dir() / "server.log");
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    setpgid(0, 0);  // its own process group: PyKMIP forks helpers (the policy monitor)
    int out = open((dir() / "server.out").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(out, 1);
    dup2(out, 2);
    setenv("TMPDIR", (dir() / "tmp").c_str(), 1);
    setenv("PYTHONHASHSEED", "0", 1);
    std::string conf = (dir() / "server.conf").string();
    std::string log = (dir() / "server.log").string();
    execl(kPython, kPython, kServerScript, "-f", conf.c_str(), "-l", log.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);  // also here, so that the group exists before Stop could signal it
  pid_ = pid;
  auto client = Client("sealkmsd", "", absl::Milliseconds(500));
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < give_up) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    if (client->DiscoverVersions().ok()) return true;
    if (Log().find("Address already in use") != std::string::npos) {
      Stop();
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  FAIL("PyKMIP did not become ready in 30 s: " << Log());
  return false;
}

void PyKmipServer::Start() {
  REQUIRE(!running());
  const bool fixed_port = port_ != 0;  // a restart keeps its port
  for (int attempt = 0; attempt < 5; ++attempt) {
    if (!fixed_port) port_ = FreeLoopbackPort();
    if (TryStart()) return;
  }
  FAIL("PyKMIP failed to start: " << Log() << ReadFileOrDie(dir() / "server.out"));
}

void PyKmipServer::Stop() {
  REQUIRE(running());
  kill(-pid_, SIGCONT);  // a frozen server cannot stop
  kill(-pid_, SIGINT);
  int status = 0;
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > give_up) {
      kill(-pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(-pid_, SIGKILL);  // helpers the server left behind, if any (ESRCH when none)
  pid_ = -1;
}

void PyKmipServer::Kill() {
  REQUIRE(running());
  kill(-pid_, SIGKILL);  // the server and its helpers, as a crash would
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

void PyKmipServer::Freeze() {
  REQUIRE(running());
  REQUIRE(kill(-pid_, SIGSTOP) == 0);
  // kill() returns before every thread has stopped: wait until each thread of the server
  // shows state T (stopped) in /proc, so nothing it does races the caller's next request.
  const std::filesystem::path tasks = "/proc/" + std::to_string(pid_) + "/task";
  REQUIRE(Eventually([&] {
    std::error_code ec;
    for (const auto& t : std::filesystem::directory_iterator(tasks, ec)) {
      std::string stat = ReadFileOrDie(t.path() / "stat");
      size_t close = stat.rfind(')');  // "pid (comm) S ..."
      if (close == std::string::npos || close + 2 >= stat.size() || stat[close + 2] != 'T') {
        return false;
      }
    }
    return !ec;
  }));
}

void PyKmipServer::Thaw() {
  REQUIRE(running());
  REQUIRE(kill(-pid_, SIGCONT) == 0);
}

kms::kmip::KmipClientOptions PyKmipServer::Options(const std::string& cert, const std::string& sub,
                                                   absl::Duration deadline) const {
  std::filesystem::path d = sub.empty() ? dir() : dir() / sub;
  kms::kmip::KmipClientOptions o;
  o.host = "127.0.0.1";
  o.port = port_;
  o.ca_pem = ReadFileOrDie(dir() / "ca.crt");
  o.cert_pem = ReadFileOrDie(d / (cert + ".crt"));
  o.key_pem = ReadFileOrDie(d / (cert + ".key"));
  o.call_deadline = deadline;
  return o;
}

std::unique_ptr<kms::kmip::KmipClient> PyKmipServer::Client(const std::string& cert,
                                                            const std::string& sub,
                                                            absl::Duration deadline) const {
  auto c = kms::kmip::KmipClient::Create(Options(cert, sub, deadline));
  INFO(c.status().ToString());
  REQUIRE(c.ok());
  return *std::move(c);
}

}  // namespace sealpool::test
