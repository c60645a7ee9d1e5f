// sealkmsd: the key service of a sealpool primary server. Holds root keys in key groups (the
// built-in encrypted key store) and wraps and unwraps storage servers' KEKs over mTLS gRPC.
// Runs in the foreground (systemd Type=notify), logs to stderr with spdlog, stops cleanly on
// SIGTERM or SIGINT. See docs/kms.md.
#include <signal.h>
#include <sys/prctl.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/private_file.h"
#include "crypto/secure_memory.h"
#include "daemon/sealkmsd/kms_config.h"
#include "daemon/sealkmsd/passphrase_source.h"
#include "kms/access_policy.h"
#include "kms/audit_log.h"
#include "kms/backend_router.h"
#include "kms/key_store.h"
#include "kms/kmip/kmip_client.h"
#include "kms/kmip_backend.h"
#include "kms/kmip_state_file.h"
#include "kms/server.h"
#include "kms/status_util.h"
#include "spdlog/spdlog.h"

namespace sealpool::daemon {

using kms::Annotate;
using kms::Cat;
namespace {

// Exit codes (docs/kms.md, "sealkmsd").
constexpr int kExitOk = 0;
constexpr int kExitRuntime = 1;  // the store, the network or TLS failed
constexpr int kExitConfig = 2;   // bad command line or config

absl::StatusOr<std::string> ReadTextFile(const std::filesystem::path& path, std::string_view what) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(Cat("cannot read ", what, " ", path.string()));
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

absl::StatusOr<crypto::SecretBytes> ReadPassphrase(const KmsConfig& config) {
  if (!config.passphrase_file.empty()) return ReadPassphraseFile(config.passphrase_file);
  return ReadPassphraseCredential(config.passphrase_credential);
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

// "a, b", or "(none)".
std::string JoinGroups(const std::set<std::string>& groups) {
  std::string out;
  for (const std::string& g : groups) out += (out.empty() ? "" : ", ") + g;
  return out.empty() ? "(none)" : out;
}

// Creates the KMIP state file if [kmip] is configured and it is missing; whether it did.
absl::StatusOr<bool> InitKmipState(const KmsConfig& config) {
  if (!config.kmip.enabled || std::filesystem::exists(config.kmip.state_path)) return false;
  SEALPOOL_RETURN_IF_ERROR(kms::KmipBackend::CreateState(config.kmip.state_path));
  spdlog::info("created empty KMIP state file {}; back it up with the key store",
               config.kmip.state_path.string());
  return true;
}

// The KMIP client of [kmip] (certificates read; does not connect).
absl::StatusOr<std::unique_ptr<kms::kmip::KmipClient>> MakeKmipClient(const KmipConfig& kmip) {
  kms::kmip::KmipClientOptions ko;
  ko.host = kmip.host;
  ko.port = kmip.port;
  ko.server_name = kmip.server_name;
  ko.call_deadline = absl::Seconds(kmip.timeout_seconds);
  ko.ca_label = Cat("[kmip].ca (", kmip.ca_file.string(), ")");
  ko.cert_label = Cat("[kmip].cert (", kmip.cert_file.string(), ")");
  ko.server_label = kmip.server_name.empty()
                        ? Cat("[kmip].server_name (unset: the host of [kmip].server, \"",
                              kmip.host, "\")")
                        : Cat("[kmip].server_name (\"", kmip.server_name, "\")");
  ko.deadline_label = "[kmip].timeout_seconds";
  ko.on_connect = [](const kms::kmip::KmipConnectionInfo& c) {
    spdlog::info("KMIP server {}: connected, {} with cipher {}, KMIP {}", c.peer, c.tls_version,
                 c.cipher, kms::kmip::VersionString(c.kmip));
  };
  for (auto [path, out, what] :
       {std::tuple{&kmip.ca_file, &ko.ca_pem, "KMIP CA certificate"},
        std::tuple{&kmip.cert_file, &ko.cert_pem, "KMIP client certificate"}}) {
    SEALPOOL_ASSIGN_OR_RETURN(*out, ReadTextFile(*path, what));
  }
  SEALPOOL_ASSIGN_OR_RETURN(ko.key_pem,
                            base::ReadPrivateFile("KMIP client key ([kmip].key)",
                                                  kmip.key_file.string()));
  return kms::kmip::KmipClient::Create(ko);
}

// --rebuild-kmip-state: a lost KMIP state file rebuilt from the KMS (docs/kms.md, "The state
// file"). Offline: the state file's lock keeps a running sealkmsd out, and it never overwrites.
int RebuildKmipState(const KmsConfig& config) {
  if (!config.kmip.enabled) {
    spdlog::error(
        "--rebuild-kmip-state: the config has no [kmip] section; there is nothing to "
        "rebuild");
    return kExitConfig;
  }
  const std::string path = config.kmip.state_path.string();
  absl::StatusOr<std::unique_ptr<kms::KmipStateFile>> reserved =
      kms::KmipStateFile::Reserve(config.kmip.state_path);
  if (!reserved.ok()) {
    const absl::StatusCode code = reserved.status().code();
    if (code != absl::StatusCode::kAlreadyExists && code != absl::StatusCode::kFailedPrecondition) {
      spdlog::error("--rebuild-kmip-state: {}", reserved.status().ToString());
      return kExitRuntime;
    }
    spdlog::error("--rebuild-kmip-state refused: {}", reserved.status().ToString());
    if (code == absl::StatusCode::kAlreadyExists) {
      spdlog::error(
          "it never overwrites a state file. If you really mean to replace {} with one rebuilt "
          "from the KMS, stop sealkmsd and move the file away first (mv {} {}.old)",
          path, path, path);
    } else {
      spdlog::error(
          "another process holds the KMIP state file: is sealkmsd running with this config? "
          "Stop it first (systemctl stop sealkmsd)");
    }
    return kExitConfig;
  }
  absl::StatusOr<std::unique_ptr<kms::kmip::KmipClient>> client = MakeKmipClient(config.kmip);
  if (!client.ok()) {
    spdlog::error("{}", client.status().ToString());
    return kExitConfig;
  }
  absl::StatusOr<std::unique_ptr<kms::AuditLog>> audit = kms::AuditLog::Open(config.audit_log);
  if (!audit.ok()) {
    spdlog::error("{}", audit.status().ToString());
    return kExitRuntime;
  }
  // Audited like an admin call: names, ids and the result only.
  auto record = [&](std::string_view group, std::string_view root_key, const absl::Status& result) {
    absl::Status s =
        (*audit)->Record({"local", "admin", "rebuild-kmip-state", "", group, root_key, "", result});
    if (!s.ok()) spdlog::error("cannot write the audit log: {}", s.ToString());
  };
  spdlog::info("rebuilding KMIP state {} from KMIP server {}:{} for key group(s): {}", path,
               config.kmip.host, config.kmip.port, JoinGroups(config.kmip.key_groups));
  std::map<std::string, std::set<std::string>> pools_by_group;
  for (const kms::StorageClient& s : config.storage_servers) {
    for (const std::string& g : s.key_groups) pools_by_group[g].insert(s.pool_id);
  }
  absl::StatusOr<kms::KmipRebuildReport> report = kms::KmipBackend::RebuildState(
      **reserved, **client, config.kmip.key_groups, pools_by_group);
  if (!report.ok()) {
    spdlog::error("cannot rebuild the KMIP state from the KMS: {}", report.status().ToString());
    record("", "", report.status());
    spdlog::error("nothing was written; {} still does not exist", path);
    return kExitRuntime;
  }

  std::vector<std::array<std::string, 5>> rows = {
      {"GROUP", "KEY ID", "KMIP STATE", "SEALPOOL STATE", "NOTE"}};
  size_t taken = 0;
  for (const kms::KmipRebuiltKey& k : report->keys) {
    if (k.state.has_value()) ++taken;
    rows.push_back(
        {k.group, k.id, k.kms_state,
         k.state.has_value() ? std::string(kms::RootKeyStateName(*k.state)) : "(not recorded)",
         k.note});
  }
  std::array<size_t, 4> width{};
  for (const auto& row : rows) {
    for (size_t i = 0; i < width.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::printf(
      "Rebuilt KMIP state file %s (mode 0600) from the KMS: %zu key group(s), %zu key(s) "
      "recorded, %zu skipped.\n\n",
      path.c_str(), report->contents.groups.size(), taken, report->keys.size() - taken);
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i < width.size()) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    std::printf("%s\n", line.c_str());
  }
  if (report->keys.empty()) std::printf("(the KMS lists no key in these groups)\n");
  std::printf("\n");
  for (const std::string& w : report->warnings) std::printf("WARNING: %s.\n", w.c_str());
  std::set<std::string> waiting;
  for (const auto& [usage, root] : report->contents.usage) waiting.insert(std::get<0>(usage));
  std::printf(
      "The KMS cannot tell which KEKs each key wraps. Until a pool's next Reconcile (when its "
      "sealpoold starts) replaces them with its real KEKs, the usage registry holds a "
      "placeholder (KEK \"rebuilt:N\") for each pool allowed a group and each of the group's "
      "keys but prelive ones, so deprecating, terminating or deleting those keys is refused "
      "(`kmscmd usage` shows what is left). Pools to reconcile: %s.\n",
      waiting.empty() ? "none" : absl::StrJoin(waiting, ", ").c_str());
  std::printf(
      "Check which key of each group is active with `kmscmd key list` (activate the right one "
      "with `kmscmd key activate` if needed), then take a backup of %s with the key store.\n",
      path.c_str());
  std::fflush(stdout);
  for (const auto& [name, group] : report->contents.groups) {
    std::string active = "(none)";
    for (const auto& [id, key] : report->contents.keys) {
      if (key.group == name && key.state == kms::RootKeyState::kActive) active = id;
    }
    spdlog::info("KMIP state rebuilt: key group {}, active root key {}", name, active);
    record(name, active == "(none)" ? "" : active, absl::OkStatus());
  }
  return kExitOk;
}

// --check-kms: connects to the KMIP server of [kmip], negotiates, and checks that it answers
// sealkmsd's identity and offers the operations sealpool uses; read-only (Query, Locate).
int CheckKms(const KmsConfig& config) {
  if (!config.kmip.enabled) {
    std::printf("--check-kms: the config has no [kmip] section; every key group is in the "
                "built-in store\n");
    return kExitOk;
  }
  absl::StatusOr<std::unique_ptr<kms::kmip::KmipClient>> client = MakeKmipClient(config.kmip);
  if (!client.ok()) {
    std::printf("KMS check failed: %s\n", std::string(client.status().message()).c_str());
    return kExitConfig;
  }
  const std::string peer = Cat(config.kmip.host, ":", config.kmip.port);
  auto fail = [&](const absl::Status& s) {
    std::printf("KMS check of KMIP server %s failed (%s): %s\n", peer.c_str(),
                absl::StatusCodeToString(s.code()).c_str(), std::string(s.message()).c_str());
    // A setup error (certificates, names, versions) is the config's; anything else the KMS's
    // or the network's.
    return s.code() == absl::StatusCode::kFailedPrecondition ||
                   s.code() == absl::StatusCode::kPermissionDenied
               ? kExitConfig
               : kExitRuntime;
  };
  absl::StatusOr<kms::kmip::QueryResult> query = (*client)->Query();
  if (!query.ok()) return fail(query.status());
  absl::StatusOr<kms::kmip::ProtocolVersion> version = (*client)->Version();
  if (!version.ok()) return fail(version.status());
  std::vector<std::pair<uint32_t, const char*>> needed = {
      {0x01, "Create"},  {0x08, "Locate"}, {0x0B, "Get Attributes"}, {0x12, "Activate"},
      {0x13, "Revoke"},  {0x14, "Destroy"}, {0x1F, "Encrypt"},      {0x20, "Decrypt"}};
  if (config.kmip.allow_export) needed.push_back({0x0A, "Get"});
  std::vector<std::string> missing;
  for (const auto& [op, name] : needed) {
    if (std::find(query->operations.begin(), query->operations.end(), op) ==
        query->operations.end()) {
      missing.push_back(name);
    }
  }
  for (const std::string& g : config.kmip.key_groups) {
    absl::StatusOr<std::vector<std::string>> keys = (*client)->Locate(g);
    if (!keys.ok()) return fail(keys.status());
    std::printf("key group %s: %zu key(s) in the KMS\n", g.c_str(), keys->size());
  }
  if (!missing.empty()) {
    return fail(absl::FailedPreconditionError(
        Cat("the KMS does not offer ", absl::StrJoin(missing, ", "),
            ", which sealpool uses (docs/kms.md, \"KMIP operations used\")")));
  }
  std::printf("KMIP server %s: OK (KMIP %s, vendor \"%s\"); nothing was changed in the KMS\n",
              peer.c_str(), kms::kmip::VersionString(*version).c_str(), query->vendor.c_str());
  return kExitOk;
}

// Logs once what the process does to keep keys out of core dumps and swap (set up in Main).
void LogKeyHygiene() {
  if (::prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0) {
    spdlog::info("not dumpable (PR_SET_DUMPABLE 0): no core dumps, no ptrace by other users");
  } else {
    spdlog::warn("PR_SET_DUMPABLE 0 failed: a core dump could hold key material");
  }
  crypto::SecureHeapStart heap = crypto::StartOpenSslSecureHeap();
  if (heap.started && heap.locked) {
    spdlog::info("{}", heap.message);
  } else {
    spdlog::warn("{}", heap.message);
  }
}

int InitStore(const KmsConfig& config) {
  // With a store already there, --init-store only adds a missing KMIP state file.
  if (std::filesystem::exists(config.store_path)) {
    absl::StatusOr<bool> created = InitKmipState(config);
    if (!created.ok()) {
      spdlog::error("cannot create the KMIP state file: {}", created.status().ToString());
      return kExitRuntime;
    }
    if (*created) return kExitOk;
  }
  if (absl::StatusOr<bool> created = InitKmipState(config); !created.ok()) {
    spdlog::error("cannot create the KMIP state file: {}", created.status().ToString());
    return kExitRuntime;
  }
  absl::StatusOr<crypto::SecretBytes> passphrase = ReadPassphrase(config);
  if (!passphrase.ok()) {
    spdlog::error("{}", passphrase.status().ToString());
    return kExitConfig;
  }
  crypto::ScryptParams params{uint64_t{1} << config.scrypt_log2_n, 8, 1};
  absl::StatusOr<std::unique_ptr<kms::KeyStore>> store =
      kms::KeyStore::Create(config.store_path, passphrase->span(), params);
  if (!store.ok()) {
    spdlog::error("cannot create key store: {}", store.status().ToString());
    return kExitRuntime;
  }
  spdlog::info(
      "created empty key store {} (scrypt N=2^{}, r=8, p=1); back it up together with "
      "its passphrase",
      config.store_path.string(), config.scrypt_log2_n);
  return kExitOk;
}

int Serve(const KmsConfig& config) {
  // Signals are taken synchronously by this thread (sigwait below), so they are blocked before
  // the first thread starts (the KMIP pool, gRPC): every thread inherits the mask, and a SIGTERM
  // can never reach a thread that would let it kill the process outright.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  LogKeyHygiene();
  absl::StatusOr<std::unique_ptr<kms::KeyStore>> store;
  {
    absl::StatusOr<crypto::SecretBytes> passphrase = ReadPassphrase(config);
    if (!passphrase.ok()) {
      spdlog::error("{}", passphrase.status().ToString());
      return kExitConfig;
    }
    store = kms::KeyStore::Open(config.store_path, passphrase->span());
  }  // The passphrase is wiped here; only the derived store key stays, in locked memory.
  if (!store.ok()) {
    spdlog::error("cannot open key store: {}", store.status().ToString());
    if (store.status().code() == absl::StatusCode::kNotFound) {
      spdlog::error("create a new, empty one with: sealkmsd --config <file> --init-store");
    }
    return kExitRuntime;
  }
  absl::StatusOr<std::unique_ptr<kms::AuditLog>> audit = kms::AuditLog::Open(config.audit_log);
  if (!audit.ok()) {
    spdlog::error("{}", audit.status().ToString());
    return kExitRuntime;
  }
  (*audit)->SetFailureHook([path = config.audit_log.string()](const absl::Status& s) {
    if (!s.ok()) {
      spdlog::error("{}; key operations are refused until their audit lines can be written "
                    "and synced (docs/kms.md, \"Audit log\")",
                    std::string(s.message()));
    } else {
      spdlog::info("audit log {} is written again; key operations are served", path);
    }
  });
  absl::StatusOr<kms::AccessPolicy> policy =
      kms::AccessPolicy::Create(config.storage_servers, config.admins);
  if (!policy.ok()) {
    spdlog::error("{}", policy.status().ToString());
    return kExitConfig;
  }
  // [kmip]: the second backend, for the groups listed.
  std::unique_ptr<kms::KmipBackend> kmip;
  if (config.kmip.enabled) {
    absl::StatusOr<std::unique_ptr<kms::kmip::KmipClient>> client = MakeKmipClient(config.kmip);
    if (!client.ok()) {
      spdlog::error("{}", client.status().ToString());
      return kExitConfig;
    }
    absl::StatusOr<kms::kmip::ProtocolVersion> version = (*client)->Version();
    if (version.ok()) {
      spdlog::info("KMIP server {}:{} reachable, KMIP {}", config.kmip.host, config.kmip.port,
                   kms::kmip::VersionString(*version));
    } else {
      // Built-in groups keep working; KMIP calls fail (bounded) until the KMS answers.
      spdlog::warn("KMIP server {}:{} not usable now: {}", config.kmip.host, config.kmip.port,
                   version.status().ToString());
    }
    kms::KmipBackendOptions bo;
    bo.state_path = config.kmip.state_path;
    bo.allow_export = config.kmip.allow_export;
    bo.on_kms_failure = [](const absl::Status& s) {
      spdlog::warn("KMIP call failed: {}", s.ToString(absl::StatusToStringMode::kWithNoExtraData));
    };
    absl::StatusOr<std::unique_ptr<kms::KmipBackend>> backend =
        kms::KmipBackend::Open(bo, *std::move(client));
    if (!backend.ok()) {
      spdlog::error("cannot open the KMIP state: {}", backend.status().ToString());
      if (backend.status().code() == absl::StatusCode::kNotFound) {
        spdlog::error("create it with: sealkmsd --config <file> --init-store");
      }
      return kExitRuntime;
    }
    kmip = *std::move(backend);
    spdlog::info("KMIP backend for key group(s): {}", JoinGroups(config.kmip.key_groups));
    if (size_t n = kmip->PendingChanges().size(); n != 0) {
      absl::Status r = kmip->ReconcilePending();
      if (r.ok()) {
        spdlog::info("reconciled {} KMIP change(s) whose outcome was unknown", n);
      } else {
        spdlog::warn(
            "{} KMIP change(s) whose outcome is unknown are still pending; key changes of KMIP "
            "groups wait until the KMS answers", kmip->PendingChanges().size());
      }
    }
    if (config.kmip.allow_export)
      spdlog::warn("kmip.allow_export is on: root keys are fetched with Get");
  }
  kms::BackendRouter router(store->get(), kmip.get(), config.kmip.key_groups);

  kms::ServerOptions options;
  options.listen_address = config.listen;
  for (auto [path, out, what] : {std::tuple{&config.ca_file, &options.ca_pem, "CA certificate"},
                                 std::tuple{&config.cert_file, &options.cert_pem, "certificate"},
                                 std::tuple{&config.key_file, &options.key_pem, "private key"}}) {
    absl::StatusOr<std::string> text =
        path == &config.key_file
            ? base::ReadPrivateFile("private key ([server].key)", path->string())
            : ReadTextFile(*path, what);
    if (!text.ok()) {
      spdlog::error("{}", text.status().ToString());
      return kExitConfig;
    }
    *out = *std::move(text);
  }

  absl::StatusOr<std::unique_ptr<kms::KmsServer>> server =
      kms::KmsServer::Start(options, &router, &*policy, audit->get());
  if (!server.ok()) {
    spdlog::error("{}", server.status().ToString());
    return kExitRuntime;
  }
  int port = (*server)->port();
  if (!config.port_file.empty()) {
    if (absl::Status s = WritePortFile(config.port_file, port); !s.ok()) {
      spdlog::error("{}", s.ToString());
      return kExitRuntime;
    }
  }
  spdlog::info(
      "sealkmsd listening on {} (port {}), key store {}, {} storage server(s), {} "
      "admin(s)",
      config.listen, port, config.store_path.string(), config.storage_servers.size(),
      config.admins.size());
  sd_notifyf(0, "READY=1\nSTATUS=serving on port %d", port);

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  sd_notify(0, "STOPPING=1");
  // Key operations take milliseconds; a second is ample for running calls to finish (gRPC
  // waits out the grace period while idle clients stay connected, so keep it short).
  (*server)->Shutdown(std::chrono::seconds(1));
  (*server)->Wait();
  spdlog::info("sealkmsd stopped");
  return kExitOk;
}

int Main(int argc, char** argv) {
  CLI::App app{
      "sealkmsd: the sealpool key service. Holds root keys in key groups in an encrypted key\n"
      "store and wraps/unwraps storage servers' KEKs over mTLS gRPC. Runs in the foreground.\n"
      "The key-store passphrase comes from store.passphrase_file or the systemd credential\n"
      "store.passphrase_credential, never from the command line.\n\n"
      "Exit codes: 0 clean stop (or done), 1 runtime failure (store, TLS, network, KMS),\n"
      "2 usage/config error, or --rebuild-kmip-state refused (no [kmip], the state file\n"
      "exists, or a running sealkmsd holds it).\n"
      "See docs/kms.md."};
  std::string config_path;
  bool init_store = false;
  bool check_config = false;
  bool rebuild_kmip_state = false;
  app.add_option("-c,--config", config_path, "TOML config file (see packaging/sealkmsd.toml)")
      ->required();
  CLI::Option* init_opt =
      app.add_flag("--init-store", init_store,
                   "create a new, empty key store at store.path with the configured passphrase, "
                   "then exit (refuses to overwrite an existing store)");
  app.add_flag("--check-config", check_config,
               "parse the config, report problems, and exit (the KMS is not contacted: see "
               "--check-kms)");
  bool check_kms = false;
  app.add_flag("--check-kms", check_kms,
               "connect to the KMIP server of [kmip] (TLS, version negotiation, Query, Locate of "
               "each KMIP group), report certificate and setup problems naming the config key to "
               "fix, and exit without changing anything in the KMS");
  app.add_flag("--rebuild-kmip-state", rebuild_kmip_state,
               "recovery of a lost [kmip].state file, with sealkmsd stopped: find the keys of "
               "kmip.key_groups in the KMS (Locate by Object Group, Get Attributes), write a new "
               "state file (usage: a placeholder per allowed pool until it reconciles) and print "
               "the keys found, then exit. Refuses "
               "if the state file exists (never overwrites) or a sealkmsd is running")
      ->excludes(init_opt);
  app.set_version_flag("--version", "sealkmsd 0.1.0");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitConfig;
  }
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ sealkmsd: %v");
  // Key hygiene first (docs/security.md): no core dumps (the store key, unwrapped root keys and
  // the passphrase live in this process), one warning for a failed mlock, OpenSSL's secure heap.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  crypto::SetMlockFailureHandler([](const std::string& m) { spdlog::warn("{}", m); });
  crypto::StartOpenSslSecureHeap();
  absl::StatusOr<KmsConfig> config = LoadKmsConfig(config_path);
  if (!config.ok()) {
    spdlog::error("{}", config.status().ToString());
    return kExitConfig;
  }
  spdlog::set_level(spdlog::level::from_str(config->log_level));
  if (check_config) {
    std::printf("config %s is valid%s\n", config_path.c_str(),
                config->kmip.enabled ? " (the KMIP server was not contacted: --check-kms does)"
                                     : "");
    return kExitOk;
  }
  if (check_kms) {
    spdlog::set_level(spdlog::level::info);  // the connection's TLS version and cipher
    return CheckKms(*config);
  }
  if (init_store) return InitStore(*config);
  if (rebuild_kmip_state) return RebuildKmipState(*config);
  return Serve(*config);
}

}  // namespace
}  // namespace sealpool::daemon

int main(int argc, char** argv) { return sealpool::daemon::Main(argc, argv); }
