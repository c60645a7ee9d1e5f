// Test environment of the kms tests. For the in-process key store tests: a fresh key store in a
// temp dir (StoreFixture). For end-to-end tests of sealkmsd: a temp dir with certificates made
// by packaging/make-certs.sh, a config, an initialized key store, and a real sealkmsd process
// on a loopback port chosen by the kernel (port 0, read back from the port file).
#ifndef SEALPOOL_TEST_KMS_KMS_TEST_ENV_H_
#define SEALPOOL_TEST_KMS_KMS_TEST_ENV_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/passphrase_kdf.h"
#include "crypto/secure_memory.h"
#include "kms/client.h"
#include "kms/key_store.h"
#include "kms/root_key_state.h"
#include "test/test_util.h"
#include "sealpool/kms/v1/admin.grpc.pb.h"
#include "sealpool/kms/v1/key_service.grpc.pb.h"

namespace sealpool::test {

std::string ReadFileOrDie(const std::filesystem::path& path);
void WriteFileOrDie(const std::filesystem::path& path, const std::string& text, int mode = 0600);


// Runs `argv` and returns its exit code (stdout/stderr into `output` when not null).
int RunCommand(const std::vector<std::string>& argv, std::string* output = nullptr);

// Runs packaging/make-certs.sh into `dir` for the given storage and admin CNs.
void MakeCerts(const std::filesystem::path& dir, const std::vector<std::string>& storage,
               const std::vector<std::string>& admins);

// Writes `dir`/<name>.crt/.key: a client certificate (clientAuth, OU=`ou`) signed by the CA in
// `dir` that expired yesterday.
void MakeExpiredCert(const std::filesystem::path& dir, const std::string& name,
                     const std::string& ou);

// A sealkmsd child process.
class Sealkmsd {
 public:
  // Sets up certs (storage servers "pool-a" → groups kg-a, kg-shared; "pool-b" → kg-b,
  // kg-shared; admin "admin"), the config, the passphrase file and an empty key store in
  // `dir`.
  explicit Sealkmsd(std::filesystem::path dir);
  ~Sealkmsd();

  // Starts the daemon and waits (polling, up to 20 s) until it answers an admin call.
  void Start();
  // Appends `text` (TOML tables, e.g. [kmip]) to the config, now and on every Start.
  void SetExtraConfig(std::string text);
  // store.audit_log on the next Start (default "audit.jsonl" in dir(); "/dev/full" makes every
  // audit write fail with ENOSPC).
  void SetAuditLog(std::string path);
  // SIGTERM and wait; returns the exit status.
  int Stop();
  // SIGKILL and wait.
  void Kill();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path store_path() const { return dir_ / "keystore"; }
  std::filesystem::path passphrase_path() const { return dir_ / "passphrase"; }
  std::filesystem::path audit_path() const { return dir_ / "audit.jsonl"; }
  std::filesystem::path config_path() const { return dir_ / "sealkmsd.toml"; }

  // An admin stub for `cert_name` ("admin" by default) with this env's CA.
  std::unique_ptr<kms::v1::KeyAdmin::Stub> AdminStub(const std::string& cert_name = "admin",
                                                     const std::string& ca = "ca.crt") const;
  // A raw key-service stub as `cert_name`.
  std::unique_ptr<kms::v1::KeyService::Stub> KeyStub(const std::string& cert_name,
                                                     const std::string& ca = "ca.crt") const;
  // A client library instance as storage server `cert_name` claiming `pool_id`.
  std::unique_ptr<kms::KmsClient> Client(const std::string& cert_name, const std::string& pool_id,
                                         absl::Duration deadline = absl::Seconds(2)) const;

  // Admin helpers (fail the test on error): create a group with an active key; returns its id.
  std::string CreateActiveGroup(const std::string& group) const;
  std::string CreateKey(const std::string& group) const;
  absl::Status SetState(const std::string& key_id, kms::v1::KeyState state) const;

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string extra_config_;
  std::string audit_log_ = "audit.jsonl";
};

// A deadline `d` from now, for ClientContext::set_deadline.
std::chrono::system_clock::time_point DeadlineIn(std::chrono::milliseconds d);

// A started sealkmsd in a fresh temp dir, for end-to-end test cases.
class KmsFixture {
 public:
  KmsFixture() : kms_(dir_.path()) { kms_.Start(); }
  Sealkmsd& kms() { return kms_; }

 protected:
  TempDir dir_;
  Sealkmsd kms_;
};

// The bytes of an unwrapped secret, to compare with what was wrapped.
std::vector<uint8_t> Vec(const crypto::SecretBytes& s);

// scrypt parameters cheap enough for tests that create many stores.
inline constexpr crypto::ScryptParams kFastScrypt{1u << 10, 8, 1};

// The bytes of `s` (a passphrase).
std::span<const uint8_t> Bytes(std::string_view s);

// A key store created in a fresh temp dir with the passphrase "old passphrase", opened in
// process (no sealkmsd).
class StoreFixture {
 public:
  StoreFixture();

  kms::KeyStore& store() { return *store_; }
  const std::filesystem::path& path() const { return path_; }

  // A group with one active key; returns the key id.
  std::string ActiveGroup(const std::string& group);
  // Moves `id` along `states`, requiring each move to succeed.
  void Walk(const std::string& id, std::initializer_list<kms::RootKeyState> states);
  kms::RootKeyState StateOf(const std::string& id);
  void Close() { store_.reset(); }
  absl::StatusOr<std::unique_ptr<kms::KeyStore>> Reopen(std::string_view passphrase);
  void ReopenOrDie(std::string_view passphrase);

 private:
  TempDir dir_;
  std::filesystem::path path_;
  std::unique_ptr<kms::KeyStore> store_;
};

}  // namespace sealpool::test

#endif  // SEALPOOL_TEST_KMS_KMS_TEST_ENV_H_
