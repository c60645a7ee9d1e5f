#include "test/daemon/sealpoold/sealpoold_test_env.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

namespace sealpool::test {

namespace v1 = pool::v1;

std::string DefaultPoolTables() {
  return "[[key_group]]\nname = \"kg-a\"\n"
         "[[lsu]]\nname = \"lsu1\"\nkey_group = \"kg-a\"\n"
         "[[lsu]]\nname = \"lsu2\"\nkey_group = \"kg-a\"\nclient_delete = true\n"
         "[[client]]\ncn = \"alice\"\n"
         "[[client.access]]\nlsu = \"lsu1\"\nallow = [\"backup\", \"restore\", \"delete\"]\n"
         "[[client.access]]\nlsu = \"lsu2\"\nallow = [\"backup\", \"restore\", \"delete\"]\n"
         "[[client]]\ncn = \"bob\"\n"
         "[[client.access]]\nlsu = \"lsu1\"\nallow = [\"backup\", \"restore\", \"delete\"]\n";
}

Sealpoold::Sealpoold(std::filesystem::path dir, Sealkmsd* kms)
    : dir_(std::move(dir)), kms_(kms), tables_(DefaultPoolTables()) {
  std::filesystem::create_directories(dir_);
  std::string out;
  int rc = RunCommand({"/bin/bash", MAKE_CERTS_PATH, "--server-file", "poold", "--client", "alice",
                       "--client", "bob", "--client", "carol", kms_->dir().string()},
                      &out);
  if (rc != 0) FAIL("make-certs.sh failed (" << rc << "): " << out);
}

Sealpoold::~Sealpoold() {
  if (running()) Kill();
}

void Sealpoold::WriteConfig() {
  const std::filesystem::path k = kms_->dir();
  std::ostringstream c;
  c << "[pool]\npath = \"" << pool_dir().string() << "\"\naudit_log = \""
    << audit_path().string() << "\"\n"
    << "[server]\nlisten = \"127.0.0.1:" << port_ << "\"\n"
    << "ca = \"" << (k / "ca.crt").string() << "\"\ncert = \"" << (k / "poold.crt").string()
    << "\"\nkey = \"" << (k / "poold.key").string() << "\"\nport_file = \""
    << (dir_ / "port").string() << "\"\n"
    << server_extra_ << "[admin]\nsocket = \"" << admin_socket().string() << "\"\n"
    << "[metrics]\nlisten = \"" << metrics_listen_ << "\"\n"
    << "[kms]\naddress = \"" << kms_->address() << "\"\nca = \"" << (k / "ca.crt").string()
    << "\"\ncert = \"" << (k / "pool-a.crt").string() << "\"\nkey = \""
    << (k / "pool-a.key").string() << "\"\npool_id = \"pool-a\"\ncall_deadline_seconds = 3\n"
    << "[log]\nlevel = \"debug\"\n"
    << extra_ << tables_;
  WriteFileOrDie(config_path(), c.str(), 0644);
}

void Sealpoold::Start() {
  REQUIRE(!running());
  WriteConfig();
  std::filesystem::remove(dir_ / "port");
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int log = open((dir_ / "sealpoold.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(log, 2);
    dup2(log, 1);
    execl(SEALPOOLD_PATH, SEALPOOLD_PATH, "--config", config_path().c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  pid_ = pid;
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < give_up) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL("sealpoold exited during start (" << status << "):\n" << Log());
    }
    if (std::filesystem::exists(dir_ / "port") && std::filesystem::exists(admin_socket())) {
      std::ifstream in(dir_ / "port");
      int port = 0;
      if (in >> port && port > 0) {
        port_ = port;
        return;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("sealpoold did not start within 30 s:\n" << Log());
}

int Sealpoold::RunToExit(std::string* log, const std::vector<std::string>& extra_args) {
  WriteConfig();
  std::vector<std::string> argv{SEALPOOLD_PATH, "--config", config_path().string()};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  int rc = RunCommand(argv, log);
  return rc;
}

void Sealpoold::Signal(int sig) {
  REQUIRE(running());
  ::kill(pid_, sig);
}

int Sealpoold::Stop() {
  REQUIRE(running());
  ::kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void Sealpoold::Kill() {
  if (!running()) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string Sealpoold::Log() const {
  std::ifstream in(dir_ / "sealpoold.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::unique_ptr<v1::PoolService::Stub> Sealpoold::Client(const std::string& cert_name,
                                                         const std::string& ca) const {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFileOrDie(kms_->dir() / ca);
  if (!cert_name.empty()) {
    ssl.pem_cert_chain = ReadFileOrDie(kms_->dir() / (cert_name + ".crt"));
    ssl.pem_private_key = ReadFileOrDie(kms_->dir() / (cert_name + ".key"));
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  auto channel = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port_),
                                           grpc::SslCredentials(ssl), args);
  return v1::PoolService::NewStub(channel);
}

std::unique_ptr<v1::PoolAdmin::Stub> Sealpoold::Admin() const {
  auto channel = grpc::CreateChannel("unix:" + admin_socket().string(),
                                     grpc::InsecureChannelCredentials());
  return v1::PoolAdmin::NewStub(channel);
}

std::shared_ptr<grpc::Channel> Sealpoold::ClientChannel(const std::string& cert_name,
                                                       int port) const {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFileOrDie(kms_->dir() / "ca.crt");
  if (!cert_name.empty()) {
    ssl.pem_cert_chain = ReadFileOrDie(kms_->dir() / (cert_name + ".crt"));
    ssl.pem_private_key = ReadFileOrDie(kms_->dir() / (cert_name + ".key"));
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  return grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port == 0 ? port_ : port),
                                   grpc::SslCredentials(ssl), args);
}

bool Sealpoold::Alive() {
  if (!running()) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

PoolFixture::PoolFixture(const std::string& extra_config)
    : kms_(dir_.path() / "kms"), pool_(dir_.path() / "poold", &kms_) {
  pool_.SetExtra(extra_config);
  kms_.Start();
  kms_.CreateActiveGroup("kg-a");
  kms_.CreateActiveGroup("kg-shared");
  pool_.Start();
}

PoolFixture::PoolFixture() : kms_(dir_.path() / "kms"), pool_(dir_.path() / "poold", &kms_) {
  kms_.Start();
  kms_.CreateActiveGroup("kg-a");
  kms_.CreateActiveGroup("kg-shared");
  pool_.Start();
}

absl::Status ToAbsl(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

absl::StatusOr<v1::BackupResponse> Backup(v1::PoolService::Stub& stub, const std::string& lsu,
                                          const std::string& name, const std::string& data,
                                          size_t chunk, int64_t retain_until_micros) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(120)));
  v1::BackupResponse response;
  auto stream = stub.Backup(&ctx, &response);
  v1::BackupRequest msg;
  msg.mutable_header()->set_lsu(lsu);
  msg.mutable_header()->set_name(name);
  msg.mutable_header()->set_retain_until_unix_micros(retain_until_micros);
  stream->Write(msg);
  for (size_t off = 0; off < data.size(); off += chunk) {
    v1::BackupRequest d;
    d.set_data(data.substr(off, chunk));
    if (!stream->Write(d)) break;
  }
  v1::BackupRequest commit;
  commit.mutable_commit()->set_size(data.size());
  stream->Write(commit);
  stream->WritesDone();
  grpc::Status s = stream->Finish();
  if (!s.ok()) return ToAbsl(s);
  return response;
}

namespace {
template <typename Reader>
absl::StatusOr<std::string> Drain(Reader& stream) {
  std::string out;
  v1::RestoreResponse msg;
  bool header = false;
  uint64_t length = 0;
  while (stream->Read(&msg)) {
    if (msg.has_header()) {
      if (header) return absl::InternalError("two headers");
      header = true;
      length = msg.header().length();
    } else {
      if (!header) return absl::InternalError("data before the header");
      out += msg.data();
    }
  }
  absl::Status s = ToAbsl(stream->Finish());
  if (!s.ok()) return s;
  if (!header) return absl::InternalError("no header");
  if (out.size() != length) return absl::InternalError("length differs from the header");
  return out;
}
}  // namespace

absl::StatusOr<std::string> Restore(v1::PoolService::Stub& stub, const std::string& lsu,
                                    const std::string& name, uint64_t offset,
                                    std::optional<uint64_t> length) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(120)));
  v1::RestoreRequest req;
  req.set_lsu(lsu);
  req.set_name(name);
  req.set_offset(offset);
  if (length.has_value()) req.set_length(*length);
  auto stream = stub.Restore(&ctx, req);
  return Drain(stream);
}

absl::StatusOr<std::string> AdminRestore(v1::PoolAdmin::Stub& stub, const std::string& lsu,
                                         const std::string& owner, const std::string& name) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(120)));
  v1::AdminRestoreRequest req;
  req.mutable_image()->set_lsu(lsu);
  req.mutable_image()->set_owner(owner);
  req.mutable_image()->set_name(name);
  auto stream = stub.Restore(&ctx, req);
  return Drain(stream);
}

std::pair<std::string, std::string> TwoGenerations(size_t size, uint64_t seed) {
  // Half random (incompressible), half text-like (compressible), in 8 KiB runs.
  std::string gen1;
  gen1.reserve(size);
  std::vector<uint8_t> rnd = PseudoRandomBytes(size, seed);
  for (size_t i = 0; i < size; ++i) {
    gen1.push_back((i / 8192) % 2 == 0 ? static_cast<char>(rnd[i])
                                       : static_cast<char>('a' + (rnd[i] % 7)));
  }
  std::string gen2 = gen1;
  std::vector<uint8_t> edits = PseudoRandomBytes(64, seed + 1);
  // A few in-place edits, one insertion, one removal.
  for (size_t k = 0; k < 4; ++k) {
    size_t at = (size / 5) * k + edits[k] * 97;
    for (size_t j = 0; j < 300 && at + j < gen2.size(); ++j) gen2[at + j] ^= 0x5a;
  }
  std::vector<uint8_t> ins = PseudoRandomBytes(20000, seed + 2);
  gen2.insert(size / 3, std::string(ins.begin(), ins.end()));
  gen2.erase(2 * size / 3, 15000);
  return {gen1, gen2};
}

}  // namespace sealpool::test
