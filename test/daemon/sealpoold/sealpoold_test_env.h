// End-to-end test environment of sealpoold: a real sealkmsd (test/kms/kms_test_env.h) with
// active root keys for the pool's key groups, and a real sealpoold child process on a loopback
// port chosen by the kernel, with its admin socket in the test's temp dir. Backup clients
// "alice" and "bob" share LSU "lsu1"; "carol" has a certificate of the same CA but is not in
// the client map; "alice" may also use "lsu2" (client deletes allowed there).
#ifndef SEALPOOL_TEST_DAEMON_SEALPOOLD_SEALPOOLD_TEST_ENV_H_
#define SEALPOOL_TEST_DAEMON_SEALPOOLD_SEALPOOLD_TEST_ENV_H_

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "sealpool/pool/v1/admin.grpc.pb.h"
#include "sealpool/pool/v1/pool.grpc.pb.h"
#include "test/kms/kms_test_env.h"

namespace sealpool::test {

// The default [[key_group]], [[lsu]] and [[client]] tables of the test pool.
std::string DefaultPoolTables();

class Sealpoold {
 public:
  // Certificates in kms.dir() (the same CA): "poold" (server), "alice", "bob", "carol".
  Sealpoold(std::filesystem::path dir, Sealkmsd* kms);
  ~Sealpoold();

  // Replaces the [[key_group]]/[[lsu]]/[[client]] tables (and anything else appended).
  void SetTables(std::string tables) { tables_ = std::move(tables); }
  // Extra top-level keys per table, e.g. "[limits]\nmax_streams = 2\n".
  void SetExtra(std::string extra) { extra_ = std::move(extra); }
  // Extra keys inside [server] (e.g. crl = "...") and the [metrics] listen address.
  void SetServerExtra(std::string extra) { server_extra_ = std::move(extra); }
  void SetMetricsListen(std::string listen) { metrics_listen_ = std::move(listen); }
  void WriteConfig();
  // Starts the daemon and waits (up to 30 s) for its port file and admin socket.
  void Start();
  // Starts it and returns its exit code (for configs that must be refused), output in `log`.
  int RunToExit(std::string* log, const std::vector<std::string>& extra_args = {});
  int Stop();          // SIGTERM and wait; the exit status
  void Kill();         // SIGKILL and wait
  void Signal(int sig);
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  int port() const { return port_; }

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path pool_dir() const { return dir_ / "pool"; }
  std::filesystem::path config_path() const { return dir_ / "sealpoold.toml"; }
  std::filesystem::path admin_socket() const { return dir_ / "admin.sock"; }
  std::filesystem::path audit_path() const { return dir_ / "audit.jsonl"; }
  std::string Log() const;

  // A client-API stub with `cert_name`'s certificate ("" = none) trusting `ca`.
  std::unique_ptr<pool::v1::PoolService::Stub> Client(const std::string& cert_name,
                                                      const std::string& ca = "ca.crt") const;
  std::unique_ptr<pool::v1::PoolAdmin::Stub> Admin() const;
  // A client-API channel as `cert_name` ("" = no certificate) to 127.0.0.1:`port` (0: the
  // daemon's port), e.g. for grpc::GenericStub or through a proxy on another port.
  std::shared_ptr<grpc::Channel> ClientChannel(const std::string& cert_name, int port = 0) const;
  // Whether the child still runs; reaps it (and running() turns false) if it has exited.
  bool Alive();
  std::filesystem::path log_path() const { return dir_ / "sealpoold.log"; }

 private:
  std::filesystem::path dir_;
  Sealkmsd* kms_;
  std::string tables_;
  std::string extra_;
  std::string server_extra_;
  std::string metrics_listen_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// A started sealkmsd with active keys for kg-a and kg-shared, and a started sealpoold.
class PoolFixture {
 public:
  PoolFixture();
  // Starts sealpoold with `extra_config` (Sealpoold::SetExtra), e.g. "[limits]\nmax_streams = 2\n".
  explicit PoolFixture(const std::string& extra_config);
  Sealkmsd& kms() { return kms_; }
  Sealpoold& pool() { return pool_; }

 protected:
  TempDir dir_;
  Sealkmsd kms_;
  Sealpoold pool_;
};

// Client helpers. Backup sends `data` in messages of `chunk` bytes and commits.
absl::StatusOr<pool::v1::BackupResponse> Backup(pool::v1::PoolService::Stub& stub,
                                                const std::string& lsu, const std::string& name,
                                                const std::string& data, size_t chunk = 1 << 20,
                                                int64_t retain_until_micros = 0);
absl::StatusOr<std::string> Restore(pool::v1::PoolService::Stub& stub, const std::string& lsu,
                                    const std::string& name, uint64_t offset = 0,
                                    std::optional<uint64_t> length = std::nullopt);
absl::StatusOr<std::string> AdminRestore(pool::v1::PoolAdmin::Stub& stub, const std::string& lsu,
                                         const std::string& owner, const std::string& name);
absl::Status ToAbsl(const grpc::Status& s);

// Two generations of a compressible, partly random corpus: gen2 edits, inserts into and
// drops parts of gen1.
std::pair<std::string, std::string> TwoGenerations(size_t size, uint64_t seed);

}  // namespace sealpool::test

#endif  // SEALPOOL_TEST_DAEMON_SEALPOOLD_SEALPOOLD_TEST_ENV_H_
