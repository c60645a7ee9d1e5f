#include "test/kms/kms_test_env.h"

#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace sealpool::test {

namespace v1 = kms::v1;

std::string ReadFileOrDie(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) FAIL("cannot read " << path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFileOrDie(const std::filesystem::path& path, const std::string& text, int mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) FAIL("cannot write " << path);
  }
  std::filesystem::permissions(path, static_cast<std::filesystem::perms>(mode));
}

int RunCommand(const std::vector<std::string>& argv, std::string* output) {
  int pipefd[2] = {-1, -1};
  if (output != nullptr && pipe(pipefd) != 0) FAIL("pipe failed");
  pid_t pid = fork();
  if (pid < 0) FAIL("fork failed");
  if (pid == 0) {
    if (output != nullptr) {
      dup2(pipefd[1], 1);
      dup2(pipefd[1], 2);
      close(pipefd[0]);
      close(pipefd[1]);
    } else {
      int null = open("/dev/null", O_WRONLY);
      dup2(null, 1);
    }
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  if (output != nullptr) {
    close(pipefd[1]);
    char buf[4096];
    ssize_t n;
    output->clear();
    while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) output->append(buf, static_cast<size_t>(n));
    close(pipefd[0]);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void MakeCerts(const std::filesystem::path& dir, const std::vector<std::string>& storage,
               const std::vector<std::string>& admins) {
  std::vector<std::string> argv = {"/bin/bash", MAKE_CERTS_PATH};
  for (const std::string& s : storage) {
    argv.push_back("--storage");
    argv.push_back(s);
  }
  for (const std::string& a : admins) {
    argv.push_back("--admin");
    argv.push_back(a);
  }
  argv.push_back(dir.string());
  std::string out;
  int rc = RunCommand(argv, &out);
  if (rc != 0) FAIL("make-certs.sh failed (" << rc << "): " << out);
}

void MakeExpiredCert(const std::filesystem::path& dir, const std::string& name,
                     const std::string& ou) {
  auto read_pem = [&](const std::string& file, bool key) -> void* {
    FILE* f = std::fopen((dir / file).c_str(), "r");
    if (f == nullptr) FAIL("cannot open " << file);
    void* out = key ? static_cast<void*>(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr))
                    : static_cast<void*>(PEM_read_X509(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    if (out == nullptr) FAIL("cannot parse " << file);
    return out;
  };
  auto* ca_key = static_cast<EVP_PKEY*>(read_pem("ca.key", true));
  auto* ca_cert = static_cast<X509*>(read_pem("ca.crt", false));
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 4242);
  X509_gmtime_adj(X509_getm_notBefore(cert), -2 * 86400);
  X509_gmtime_adj(X509_getm_notAfter(cert), -1 * 86400);
  X509_set_pubkey(cert, key);
  X509_NAME* subject = X509_get_subject_name(cert);
  auto add = [&](const char* field, const std::string& v) {
    X509_NAME_add_entry_by_txt(subject, field, MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(v.c_str()), -1, -1, 0);
  };
  add("O", "sealpool");
  add("OU", ou);
  add("CN", name);
  X509_set_issuer_name(cert, X509_get_subject_name(ca_cert));
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca_cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* eku = X509V3_EXT_conf_nid(nullptr, &ctx, NID_ext_key_usage, "clientAuth");
  X509_add_ext(cert, eku, -1);
  X509_EXTENSION_free(eku);
  if (X509_sign(cert, ca_key, EVP_sha256()) == 0) FAIL("X509_sign failed");
  FILE* f = std::fopen((dir / (name + ".crt")).c_str(), "w");
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen((dir / (name + ".key")).c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
  X509_free(ca_cert);
  EVP_PKEY_free(ca_key);
}

std::chrono::system_clock::time_point DeadlineIn(std::chrono::milliseconds d) {
  return std::chrono::system_clock::now() + d;
}

namespace {

void WriteConfig(const std::filesystem::path& dir, int port, const std::string& extra = "",
                 const std::string& audit_log = "audit.jsonl") {
  std::ostringstream c;
  c << "[server]\n"
    << "listen = \"127.0.0.1:" << port << "\"\n"
    << "ca = \"ca.crt\"\ncert = \"server.crt\"\nkey = \"server.key\"\nport_file = \"port\"\n"
    << "[store]\npath = \"keystore\"\npassphrase_file = \"passphrase\"\n"
    << "scrypt_log2_n = 10\naudit_log = \"" << audit_log << "\"\n"
    << "[log]\nlevel = \"debug\"\n"
    << "[admins]\ncns = [\"admin\"]\n"
    << "[[storage_server]]\ncn = \"pool-a\"\npool_id = \"pool-a\"\n"
    << "key_groups = [\"kg-a\", \"kg-shared\"]\n"
    << "[[storage_server]]\ncn = \"pool-b\"\npool_id = \"pool-b\"\n"
    << "key_groups = [\"kg-b\", \"kg-shared\"]\n"
    << "[[storage_server]]\ncn = \"expired\"\npool_id = \"pool-x\"\nkey_groups = [\"kg-a\"]\n"
    << extra;
  WriteFileOrDie(dir / "sealkmsd.toml", c.str(), 0644);
}

}  // namespace

Sealkmsd::Sealkmsd(std::filesystem::path dir) : dir_(std::move(dir)) {
  MakeCerts(dir_, {"pool-a", "pool-b"}, {"admin"});
  WriteFileOrDie(passphrase_path(), "test passphrase\n", 0600);
  WriteConfig(dir_, 0);
  std::string out;
  int rc = RunCommand({SEALKMSD_PATH, "--config", config_path().string(), "--init-store"}, &out);
  if (rc != 0) FAIL("sealkmsd --init-store failed (" << rc << "): " << out);
}

Sealkmsd::~Sealkmsd() {
  if (running()) Kill();
}

void Sealkmsd::Start() {
  REQUIRE(!running());
  WriteConfig(dir_, port_, extra_config_, audit_log_);  // the same port again after a restart
  std::filesystem::remove(dir_ / "port");
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int log = open((dir_ / "sealkmsd.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(log, 2);
    dup2(log, 1);
    execl(SEALKMSD_PATH, SEALKMSD_PATH, "--config", config_path().c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  pid_ = pid;
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < give_up) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL("sealkmsd exited during start-up: " << ReadFileOrDie(dir_ / "sealkmsd.log"));
    }
    if (std::filesystem::exists(dir_ / "port")) {
      port_ = std::stoi(ReadFileOrDie(dir_ / "port"));
      auto stub = AdminStub();
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(std::chrono::milliseconds(500)));
      v1::ListGroupsResponse r;
      if (stub->ListGroups(&ctx, v1::ListGroupsRequest(), &r).ok()) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("sealkmsd did not become ready: " << ReadFileOrDie(dir_ / "sealkmsd.log"));
}

void Sealkmsd::SetAuditLog(std::string path) { audit_log_ = std::move(path); }

void Sealkmsd::SetExtraConfig(std::string text) {
  extra_config_ = std::move(text);
  WriteConfig(dir_, port_, extra_config_);
}

int Sealkmsd::Stop() {
  REQUIRE(running());
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void Sealkmsd::Kill() {
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

namespace {
grpc::SslCredentialsOptions Ssl(const std::filesystem::path& dir, const std::string& cert,
                                const std::string& ca) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadFileOrDie(dir / ca);
  ssl.pem_cert_chain = ReadFileOrDie(dir / (cert + ".crt"));
  ssl.pem_private_key = ReadFileOrDie(dir / (cert + ".key"));
  return ssl;
}
}  // namespace

std::unique_ptr<v1::KeyAdmin::Stub> Sealkmsd::AdminStub(const std::string& cert_name,
                                                        const std::string& ca) const {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a fresh connection per stub
  return v1::KeyAdmin::NewStub(
      grpc::CreateCustomChannel(address(), grpc::SslCredentials(Ssl(dir_, cert_name, ca)), args));
}

std::unique_ptr<v1::KeyService::Stub> Sealkmsd::KeyStub(const std::string& cert_name,
                                                        const std::string& ca) const {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return v1::KeyService::NewStub(
      grpc::CreateCustomChannel(address(), grpc::SslCredentials(Ssl(dir_, cert_name, ca)), args));
}

std::unique_ptr<kms::KmsClient> Sealkmsd::Client(const std::string& cert_name,
                                                 const std::string& pool_id,
                                                 absl::Duration deadline) const {
  kms::KmsClientOptions o;
  o.target = address();
  o.ca_pem = ReadFileOrDie(dir_ / "ca.crt");
  o.cert_pem = ReadFileOrDie(dir_ / (cert_name + ".crt"));
  o.key_pem = ReadFileOrDie(dir_ / (cert_name + ".key"));
  o.pool_id = pool_id;
  o.call_deadline = deadline;
  o.unreachable_after = absl::Seconds(1);
  auto client = kms::KmsClient::Create(o);
  REQUIRE(client.ok());
  return *std::move(client);
}

std::string Sealkmsd::CreateKey(const std::string& group) const {
  auto stub = AdminStub();
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(5)));
  v1::CreateKeyRequest q;
  q.set_key_group(group);
  v1::RootKeyInfo key;
  grpc::Status s = stub->CreateKey(&ctx, q, &key);
  if (!s.ok()) FAIL("CreateKey: " << s.error_message());
  return key.id();
}

absl::Status Sealkmsd::SetState(const std::string& key_id, v1::KeyState state) const {
  auto stub = AdminStub();
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(5)));
  v1::SetKeyStateRequest q;
  q.set_root_key_id(key_id);
  q.set_state(state);
  v1::RootKeyInfo key;
  grpc::Status s = stub->SetKeyState(&ctx, q, &key);
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
}

std::string Sealkmsd::CreateActiveGroup(const std::string& group) const {
  auto stub = AdminStub();
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(5)));
  v1::CreateGroupRequest q;
  q.set_name(group);
  v1::KeyGroupInfo info;
  grpc::Status s = stub->CreateGroup(&ctx, q, &info);
  if (!s.ok()) FAIL("CreateGroup: " << s.error_message());
  std::string id = CreateKey(group);
  absl::Status st = SetState(id, v1::KEY_STATE_ACTIVE);
  if (!st.ok()) FAIL("activate: " << st.ToString());
  return id;
}

std::vector<uint8_t> Vec(const crypto::SecretBytes& s) {
  return std::vector<uint8_t>(s.span().begin(), s.span().end());
}

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

StoreFixture::StoreFixture() : path_(dir_.path() / "keystore") {
  auto store = kms::KeyStore::Create(path_, Bytes("old passphrase"), kFastScrypt);
  REQUIRE(store.ok());
  store_ = *std::move(store);
}

std::string StoreFixture::ActiveGroup(const std::string& group) {
  REQUIRE(store_->CreateGroup(group).ok());
  auto key = store_->CreateKey(group);
  REQUIRE(key.ok());
  REQUIRE(store_->SetKeyState(key->id, kms::RootKeyState::kActive).ok());
  return key->id;
}

void StoreFixture::Walk(const std::string& id, std::initializer_list<kms::RootKeyState> states) {
  for (kms::RootKeyState s : states) {
    auto r = store_->SetKeyState(id, s);
    INFO(kms::RootKeyStateName(s) << ": " << r.status().ToString());
    REQUIRE(r.ok());
  }
}

kms::RootKeyState StoreFixture::StateOf(const std::string& id) {
  auto keys = store_->ListKeys("");
  REQUIRE(keys.ok());
  for (const auto& k : *keys) {
    if (k.id == id) return k.state;
  }
  FAIL("no key " << id);
  return kms::RootKeyState::kPrelive;
}

absl::StatusOr<std::unique_ptr<kms::KeyStore>> StoreFixture::Reopen(std::string_view passphrase) {
  store_.reset();
  return kms::KeyStore::Open(path_, Bytes(passphrase));
}

void StoreFixture::ReopenOrDie(std::string_view passphrase) {
  auto s = Reopen(passphrase);
  REQUIRE(s.ok());
  store_ = *std::move(s);
}

}  // namespace sealpool::test
