// sealpoold: the sealpool storage server. Backup clients stream images to it over gRPC/TLS;
// admins drive it over a local unix socket; its key groups' KEKs are wrapped by sealkmsd.
// Runs in the foreground (systemd Type=notify), logs to stderr with spdlog, stops cleanly on
// SIGTERM or SIGINT, reloads the client map, CRL and log level on SIGHUP. See docs/server.md.
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "base/malloc_tuning.h"
#include "base/strings.h"
#include "daemon/sealpoold/image_stream.h"
#include "daemon/sealpoold/admin_service.h"
#include "daemon/sealpoold/admin_socket.h"
#include "daemon/sealpoold/client_service.h"
#include "daemon/sealpoold/kms_root_key_provider.h"
#include "daemon/sealpoold/maintenance.h"
#include "daemon/sealpoold/metrics.h"
#include "daemon/sealpoold/scheduler.h"
#include "base/private_file.h"
#include "crypto/secure_memory.h"
#include "daemon/sealpoold/pool_audit.h"
#include "daemon/sealpoold/pool_config.h"
#include "daemon/sealpoold/pool_runtime.h"
#include "daemon/sealpoold/host_key.h"
#include "daemon/sealpoold/pool_setup.h"
#include "kms/client.h"
#include "spdlog/spdlog.h"

namespace sealpool::daemon {
namespace {

using base::Cat;

// Exit codes (docs/server.md, "Exit codes").
constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;  // the pool, the network or TLS failed
constexpr int kExitConfig = 2;   // bad command line or config, or a config the pool contradicts

absl::StatusOr<std::string> ReadTextFile(const std::filesystem::path& path, std::string_view what,
                                         bool secret) {
  if (secret) return base::ReadPrivateFile(what, path.string());  // mode and owner checked
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(Cat("cannot read ", what, " ", path.string(), ": no such file"));
  }
  std::ifstream in(path);
  if (!in) return absl::PermissionDeniedError(Cat("cannot read ", what, " ", path.string()));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::Status WritePortFile(const std::filesystem::path& path, int port) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << "\n";
    if (!out.flush()) return absl::InternalError(Cat("cannot write ", tmp.string()));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::InternalError(Cat("cannot rename ", tmp.string(), ": ", ec.message()));
  return absl::OkStatus();
}

// Housekeeping every second: idle streams, free space, the systemd watchdog.
class Housekeeper {
 public:
  explicit Housekeeper(PoolRuntime* runtime) : runtime_(runtime) {
    uint64_t usec = 0;
    watchdog_ = sd_watchdog_enabled(0, &usec) > 0;
    thread_ = std::thread([this] { Loop(); });
  }
  ~Housekeeper() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stop_; })) {
      size_t idle = runtime_->streams().CancelIdle(runtime_->config().idle_timeout);
      if (idle > 0) {
        spdlog::warn("cancelled {} stream(s) idle for over {}s ([limits].idle_timeout_seconds)",
                     idle, absl::ToInt64Seconds(runtime_->config().idle_timeout));
      }
      runtime_->RefreshSpace();
      if (watchdog_) sd_notify(0, "WATCHDOG=1");
    }
  }

  PoolRuntime* const runtime_;
  bool watchdog_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// The client API's TLS credentials: TLS 1.2 or later (gRPC's floor), client certificates
// required and verified against [server].ca.
std::shared_ptr<grpc::ServerCredentials> ClientCredentials(const std::string& ca,
                                                           const std::string& cert,
                                                           const std::string& key) {
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = ca;
  ssl.pem_key_cert_pairs.push_back({key, cert});
  return grpc::SslServerCredentials(ssl);
}

int Serve(const std::filesystem::path& config_path, PoolConfig config, bool s3_takeover) {
  // No core dumps: they would hold unwrapped keys. One warning for a failed mlock; OpenSSL's
  // secure heap for the HMAC key copies and the TLS private keys (docs/security.md).
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0) {
    spdlog::info("not dumpable (PR_SET_DUMPABLE 0): no core dumps, no ptrace by other users");
  } else {
    spdlog::warn("PR_SET_DUMPABLE 0 failed: a core dump could hold key material");
  }
  crypto::SetMlockFailureHandler([](const std::string& m) { spdlog::warn("{}", m); });
  if (crypto::SecureHeapStart heap = crypto::StartOpenSslSecureHeap();
      heap.started && heap.locked) {
    spdlog::info("{}", heap.message);
  } else {
    spdlog::warn("{}", heap.message);
  }

  // Signals are taken synchronously by this thread (sigwait below), so they are blocked here,
  // before the first thread starts (RocksDB, gRPC, the pool's workers all inherit the mask): a
  // SIGTERM delivered to a thread that had them unblocked would kill the process outright
  // (a flaky "stopped at start-up" in sealpoold_test). A signal during start-up stays pending
  // and stops the daemon cleanly once it serves.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::string server_ca, server_cert, server_key, kms_ca, kms_cert, kms_key;
  for (auto [path, out, what, secret] :
       {std::tuple{&config.ca_file, &server_ca, "[server].ca", false},
        std::tuple{&config.cert_file, &server_cert, "[server].cert", false},
        std::tuple{&config.key_file, &server_key, "[server].key", true},
        std::tuple{&config.kms_ca_file, &kms_ca, "[kms].ca", false},
        std::tuple{&config.kms_cert_file, &kms_cert, "[kms].cert", false},
        std::tuple{&config.kms_key_file, &kms_key, "[kms].key", true}}) {
    absl::StatusOr<std::string> text = ReadTextFile(*path, what, secret);
    if (!text.ok()) {
      spdlog::error("{}", base::StdView(text.status().message()));
      return kExitConfig;
    }
    *out = *std::move(text);
  }

  kms::KmsClientOptions ko;
  ko.target = config.kms_address;
  ko.server_name = config.kms_server_name;
  ko.ca_pem = kms_ca;
  ko.cert_pem = kms_cert;
  ko.key_pem = kms_key;
  ko.pool_id = config.kms_pool_id;
  ko.call_deadline = config.kms_call_deadline;
  absl::StatusOr<std::unique_ptr<kms::KmsClient>> kms_client = kms::KmsClient::Create(ko);
  if (!kms_client.ok()) {
    spdlog::error("[kms]: {}", base::StdView(kms_client.status().message()));
    return kExitConfig;
  }
  MetricsRegistry registry;
  absl::StatusOr<PoolMetrics> metrics = PoolMetrics::Register(registry);
  if (!metrics.ok()) {
    spdlog::error("metrics: {}", metrics.status().ToString());
    return kExitRuntime;
  }
  KmsRootKeyProvider root_keys(kms_client->get());
  root_keys.set_observer(
      [m = &*metrics](std::string_view op, absl::StatusCode code, absl::Duration elapsed) {
        m->RecordKmsCall(code, elapsed);
        // The key dictionary asks for an unwrap only when it does not hold the key.
        if (op.rfind("unwrap", 0) == 0) m->kek_cache_misses->Inc();
      });

  // Issue 17: the host key of kek_mode "public" groups (read before the pool opens, so a bad
  // file stops the start with a clear error rather than the first backup).
  const char* credentials_dir = std::getenv("CREDENTIALS_DIRECTORY");
  absl::StatusOr<std::shared_ptr<const crypto::HostKey>> host_key = LoadHostKey(
      config, credentials_dir != nullptr ? std::optional<std::string>(credentials_dir)
                                         : std::nullopt);
  if (!host_key.ok()) {
    spdlog::error("[keys] host key: {}", base::StdView(host_key.status().message()));
    return kExitConfig;
  }
  absl::StatusOr<std::unique_ptr<storage::Pool>> pool =
      OpenOrCreatePool(config, &root_keys, *host_key, s3_takeover);
  if (!pool.ok()) {
    spdlog::error("cannot open the pool in {}: {}", config.pool_dir.string(),
                  pool.status().ToString());
    if (pool.status().code() == absl::StatusCode::kFailedPrecondition &&
        absl::StrContains(pool.status().message(), "already open")) {
      spdlog::error("is another sealpoold running on this pool folder?");
    }
    return kExitRuntime;
  }
  spdlog::info("pool {} open in {}", (*pool)->pool_id_hex(), config.pool_dir.string());
  absl::StatusOr<PendingSetup> pending = ApplyConfig(**pool, config);
  if (!pending.ok()) {
    if (pending.status().code() == absl::StatusCode::kFailedPrecondition) {
      spdlog::error("the config contradicts the pool: {}",
                    base::StdView(pending.status().message()));
      return kExitConfig;
    }
    spdlog::error("cannot set the pool up as configured: {}", pending.status().ToString());
    return kExitRuntime;
  }
  absl::StatusOr<std::unique_ptr<PoolAuditLog>> audit = PoolAuditLog::Open(config.audit_log);
  if (!audit.ok()) {
    spdlog::error("{}", base::StdView(audit.status().message()));
    return kExitRuntime;
  }
  absl::StatusOr<std::shared_ptr<const AccessMap>> access = BuildAccessMap(config, server_ca);
  if (!access.ok()) {
    spdlog::error("{}", base::StdView(access.status().message()));
    return kExitConfig;
  }

  PoolRuntime runtime(config, pool->get(), kms_client->get(), audit->get(), &*metrics, *access);
  CompactionJob compaction(pool->get(), config.compact_live_threshold,
                           [m = &*metrics](const CompactionStatus& s) {
                             m->compaction_bytes_reclaimed->Inc(s.bytes_reclaimed);
                           });
  // Gauges computed at scrape time.
  registry.AddCollector([&runtime, &compaction, m = &*metrics](MetricsSnapshotWriter&) {
    m->active_backup_streams->Set(
        static_cast<double>(runtime.streams().Count(StreamKind::kBackup)));
    m->active_restore_streams->Set(
        static_cast<double>(runtime.streams().Count(StreamKind::kRestore)));
    switch (runtime.kms()->State().reachability) {
      case kms::KmsReachability::kReachable: m->kms_reachable->Set(PoolMetrics::kKmsReachable); break;
      case kms::KmsReachability::kDegraded: m->kms_reachable->Set(PoolMetrics::kKmsDegraded); break;
      case kms::KmsReachability::kUnreachable:
        m->kms_reachable->Set(PoolMetrics::kKmsUnreachable);
        break;
    }
    m->space_high_water->Set(runtime.high_water() ? 1 : 0);
    const CompactionStatus c = compaction.Status();
    m->compaction_running->Set(c.state == JobState::kRunning ? 1 : 0);
    m->compaction_containers_done->Set(static_cast<double>(c.containers_done));
    absl::StatusOr<storage::PoolStats> stats = runtime.pool().Stats();
    if (stats.ok()) {
      m->delete_queue_jobs->Set(static_cast<double>(stats->pending_delete_jobs));
      m->pool_logical_bytes->Set(static_cast<double>(stats->logical_bytes));
      m->pool_stored_bytes->Set(static_cast<double>(stats->stored_bytes));
      m->pool_containers->Set(static_cast<double>(stats->containers));
      m->pool_images->Set(static_cast<double>(stats->images));
    }
  });
  std::unique_ptr<MetricsServer> metrics_server;
  if (!config.metrics_listen.empty()) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> started =
        MetricsServer::Start(config.metrics_listen, &registry);
    if (!started.ok()) {
      spdlog::error("[metrics].listen: {}", started.status().ToString());
      return kExitConfig;
    }
    metrics_server = *std::move(started);
    std::string host = config.metrics_listen.substr(0, config.metrics_listen.rfind(':'));
    spdlog::info("metrics on http://{}:{}/metrics", host, metrics_server->port());
  }
  ClientService client_service(&runtime);
  AdminService admin_service(&runtime, &compaction);

  grpc::EnableDefaultHealthCheckService(true);
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, ClientCredentials(server_ca, server_cert, server_key),
                           &port);
  builder.RegisterService(&client_service);
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_message_bytes) + 4096);
  builder.SetMaxSendMessageSize(static_cast<int>(kRestoreMessageBytes) + 4096);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    spdlog::error("cannot listen on {} ([server].listen): address in use, or the TLS "
                  "certificate and key ([server].cert, [server].key) do not load",
                  config.listen);
    return kExitRuntime;
  }
  grpc::ServerBuilder admin_builder;
  admin_builder.RegisterService(&admin_service);
  std::unique_ptr<grpc::Server> admin_server = admin_builder.BuildAndStart();
  absl::StatusOr<std::unique_ptr<AdminSocket>> admin_socket =
      AdminSocket::Start(config.admin_socket, config.admin_group, admin_server.get());
  if (!admin_socket.ok()) {
    spdlog::error("[admin].socket: {}", base::StdView(admin_socket.status().message()));
    server->Shutdown();
    return kExitRuntime;
  }
  if (!config.port_file.empty()) {
    if (absl::Status s = WritePortFile(config.port_file, port); !s.ok()) {
      spdlog::error("{}", base::StdView(s.message()));
      return kExitRuntime;
    }
  }
  auto housekeeper = std::make_unique<Housekeeper>(&runtime);
  auto reconciler = std::make_unique<Reconciler>(&runtime, *std::move(pending));
  auto scheduler = std::make_unique<Scheduler>(&runtime, &compaction);
  spdlog::info("sealpoold listening on {} (port {}), admin socket {}, {} client(s), {} LSU(s)",
               config.listen, port, config.admin_socket.string(), config.clients.size(),
               config.lsus.size());
  sd_notifyf(0, "READY=1\nSTATUS=serving on port %d, mode %s", port,
             std::string(PoolModeName(runtime.mode())).c_str());

  while (true) {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGHUP) {
      sd_notify(0, "RELOADING=1");
      absl::StatusOr<PoolConfig> fresh = LoadPoolConfig(config_path);
      absl::StatusOr<std::shared_ptr<const AccessMap>> map =
          fresh.ok() ? BuildAccessMap(*fresh, server_ca)
                     : absl::StatusOr<std::shared_ptr<const AccessMap>>(fresh.status());
      if (map.ok()) {
        runtime.SetAccess(*std::move(map));
        spdlog::set_level(spdlog::level::from_str(fresh->log_level));
        spdlog::info("SIGHUP: reloaded the client map ({} client(s)), CRL and log level {}",
                     fresh->clients.size(), fresh->log_level);
      } else {
        spdlog::error("SIGHUP: the config does not load, keeping the old one: {}",
                      base::StdView(map.status().message()));
      }
      sd_notify(0, "READY=1");
      continue;
    }
    spdlog::info("received {}, stopping: in-flight streams get {}s to finish",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT",
                 absl::ToInt64Seconds(config.shutdown_grace));
    break;
  }
  sd_notify(0, "STOPPING=1");
  runtime.streams().Close();
  compaction.Close();
  // gRPC waits for running calls until the deadline, then cancels them (their images roll back).
  server->Shutdown(absl::ToChronoTime(absl::Now() + config.shutdown_grace));
  server->Wait();
  admin_socket->reset();
  admin_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  admin_server->Wait();
  // Everything that reaches into the pool stops before it closes.
  scheduler.reset();
  reconciler.reset();
  housekeeper.reset();
  metrics_server.reset();
  compaction.Join();
  pool->reset();
  spdlog::info("sealpoold stopped");
  return kExitOk;
}

int Main(int argc, char** argv) {
  base::TuneMallocForStreaming();
  CLI::App app{
      "sealpoold: the sealpool storage server. Backup clients stream images to it over gRPC\n"
      "with TLS (client certificates required); admins use crcontrol and keydictutil over a\n"
      "local unix socket; key groups' KEKs are wrapped by sealkmsd. Runs in the foreground.\n\n"
      "Signals: SIGTERM/SIGINT stop (streams get [limits].shutdown_grace_seconds to finish),\n"
      "SIGHUP reloads the client map, the CRL and the log level.\n"
      "Exit codes: 0 clean stop (or config valid), 1 runtime failure (pool, TLS, network),\n"
      "2 usage or config error, or a config the pool contradicts.\n"
      "See docs/server.md."};
  std::string config_path;
  bool check_config = false;
  std::string restore_catalog;
  app.add_option("-c,--config", config_path, "TOML config file (see packaging/sealpoold.toml)")
      ->required();
  CLI::Option* check =
      app.add_flag("--check-config", check_config, "parse and validate the config, then exit");
  app.add_option("--restore-catalog", restore_catalog,
                 "with sealpoold stopped: replace the pool's catalog with the newest backup in "
                 "this folder (made by BackupCatalog or the scheduler), then exit. Images "
                 "committed after that backup are lost; their space is reclaimed. Refused while "
                 "a sealpoold has the pool open")
      ->excludes(check);
  std::string recover_pool_id;
  bool takeover = false;
  CLI::Option* recover =
      app.add_option("--recover-from-bucket", recover_pool_id,
                     "disaster recovery (docs/server.md): rebuild the pool with this id (32 hex "
                     "digits) into the config's empty pool folder from the catalog backup and "
                     "commit records in the folder of the configured S3 key group that holds "
                     "them, then exit; start sealpoold normally afterwards")
          ->excludes(check);
  app.add_flag("--takeover", takeover,
               "take over the pool's S3 folders from another host (their lease; docs/s3.md "
               "\"Fencing\"): only when that host is gone for good; waits 60 s after taking "
               "over");
  recover->excludes(app.get_option("--restore-catalog"));
  app.set_version_flag("--version", Cat("sealpoold ", kSealpooldVersion));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitConfig;
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ sealpoold: %v");
  absl::StatusOr<PoolConfig> config = LoadPoolConfig(config_path);
  if (!config.ok()) {
    spdlog::error("{}", base::StdView(config.status().message()));
    return kExitConfig;
  }
  spdlog::set_level(spdlog::level::from_str(config->log_level));
  if (check_config) {
    std::printf("config %s is valid\n", config_path.c_str());
    return kExitOk;
  }
  if (!restore_catalog.empty()) {
    absl::Status s = storage::Pool::RestoreCatalog(restore_catalog, config->pool_dir.string());
    if (!s.ok()) {
      spdlog::error("cannot restore the catalog of {} from {}: {}", config->pool_dir.string(),
                    restore_catalog, s.ToString());
      return s.code() == absl::StatusCode::kFailedPrecondition ? kExitConfig : kExitRuntime;
    }
    std::printf("restored the catalog of %s from the newest backup in %s; start sealpoold\n",
                config->pool_dir.c_str(), restore_catalog.c_str());
    return kExitOk;
  }
  if (!recover_pool_id.empty()) {
    storage::Id128 pool_id{};
    const bool hex = recover_pool_id.size() == 2 * pool_id.size() &&
                     recover_pool_id.find_first_not_of("0123456789abcdef") == std::string::npos;
    if (!hex) {
      spdlog::error("--recover-from-bucket: the pool id must be 32 lower-case hex digits (as "
                    "sealpoold logs it at start and as the bucket's folder sealpool-<id> names "
                    "it)");
      return kExitConfig;
    }
    const std::string bytes = absl::HexStringToBytes(recover_pool_id);
    std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(pool_id.data()));
    std::string summary;
    absl::StatusOr<storage::BucketRecoveryReport> report =
        RecoverPoolFromBucket(*config, pool_id, takeover, &summary);
    if (!report.ok()) {
      spdlog::error("cannot recover pool {} from the bucket: {}", recover_pool_id,
                    report.status().ToString());
      const absl::StatusCode code = report.status().code();
      return code == absl::StatusCode::kAlreadyExists ||
                     code == absl::StatusCode::kInvalidArgument ||
                     code == absl::StatusCode::kNotFound
                 ? kExitConfig
                 : kExitRuntime;
    }
    std::printf("%s; start sealpoold\n", summary.c_str());
    return kExitOk;
  }
  return Serve(config_path, *std::move(config), takeover);
}

}  // namespace
}  // namespace sealpool::daemon

int main(int argc, char** argv) { return sealpool::daemon::Main(argc, argv); }
