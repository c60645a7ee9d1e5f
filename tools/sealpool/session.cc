#include "tools/sealpool/session.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "tools/sealpool/exit_codes.h"
#include "tools/common/json_writer.h"
#include "tools/sealpool/output.h"

namespace sealpool::tools::client {

// ---- Interruption: SIGINT/SIGTERM cancel the running call ----
//
// Both signals are blocked in every thread (set before gRPC starts its own) and taken by one
// thread with sigwait, which cancels the registered call; the command then fails, sees
// Interrupted() and exits 130. If the main thread is stuck (a read of an idle stdin), the
// signal thread ends the process itself after 2 s: the cancellation is sent, and the closed
// connection would abort the stream on the server anyway.
namespace {

std::atomic<bool> g_interrupted{false};
std::atomic<bool> g_reported{false};
std::mutex g_call_mu;
grpc::ClientContext* g_call = nullptr;  // guarded by g_call_mu
const char* const kInterruptMessage = "sealpool: interrupted\n";

}  // namespace

bool Interrupted() { return g_interrupted.load(); }

RegisteredCall::RegisteredCall(grpc::ClientContext* c) {
  std::lock_guard<std::mutex> lock(g_call_mu);
  g_call = c;
  if (Interrupted()) c->TryCancel();
}

RegisteredCall::~RegisteredCall() {
  std::lock_guard<std::mutex> lock(g_call_mu);
  g_call = nullptr;
}

void StartSignalThread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([set] {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) return;
    g_interrupted = true;
    {
      std::lock_guard<std::mutex> lock(g_call_mu);
      if (g_call != nullptr) g_call->TryCancel();
    }
    std::this_thread::sleep_for(std::chrono::seconds(2));
    if (!g_reported.exchange(true)) std::fputs(kInterruptMessage, stderr);
    std::fflush(stdout);
    _exit(kExitInterrupted);
  }).detach();
}

// ---- Options and connection ----

int Fail(const Options& o, int code, const std::string& message, const char* status) {
  if (code == kExitInterrupted) {
    if (g_reported.exchange(true)) return code;
  }
  std::fprintf(stderr, "sealpool: %s\n", message.c_str());
  if (o.json) {
    JsonWriter j;
    j.BeginObject().Key("error").BeginObject();
    j.Key("exit_code").Int(code);
    j.Key("status");
    if (status != nullptr) {
      j.String(status);
    } else {
      j.Null();
    }
    j.Key("message").String(message);
    j.EndObject().EndObject();
    std::fprintf(o.data_on_stdout ? stderr : stdout, "%s\n", j.str().c_str());
  }
  std::fflush(stdout);
  return code;
}

// The command's failed call: the interruption, a connection failure, or sealpoold's status.
int FailRpc(const Options& o, const grpc::Status& s, const std::string& what) {
  if (o.verbose) {
    std::fprintf(stderr, "sealpool: gRPC status %s: %s\n", StatusCodeName(s.error_code()),
                 s.error_message().c_str());
  }
  if (Interrupted()) return Fail(o, kExitInterrupted, what + ": interrupted", "CANCELLED");
  return Fail(o, ExitCodeFor(s.error_code()), what + ": " + DescribeFailure(s, o.config.server),
              StatusCodeName(s.error_code()));
}

namespace {

bool ReadWholeFile(const std::string& path, std::string* out, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot read " + path + ": " + std::strerror(errno);
    return false;
  }
  std::stringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

// Loads the config file and merges the flags over it; returns an exit code.
int ResolveConfig(Options& o) {
  std::optional<std::string> path = ConfigPath(o.config_path);
  if (path.has_value()) {
    absl::Status s = LoadConfigFile(*path, &o.config);
    if (!s.ok()) return Fail(o, kExitUsage, std::string(s.message()));
  }
  auto over = [](const std::string& flag, std::string& value) {
    if (!flag.empty()) value = flag;
  };
  over(o.flags.server, o.config.server);
  over(o.flags.server_name, o.config.server_name);
  over(o.flags.ca, o.config.ca);
  over(o.flags.cert, o.config.cert);
  over(o.flags.key, o.config.key);
  if (o.timeout.has_value()) o.config.timeout_seconds = *o.timeout;
  absl::Status s = CheckConfig(o.config);
  if (!s.ok()) return Fail(o, kExitUsage, std::string(s.message()));
  return kExitOk;
}

}  // namespace

int Connection::Open() {
  if (int rc = ResolveConfig(o_); rc != kExitOk) return rc;
  grpc::SslCredentialsOptions ssl;
  std::string error;
  if (!ReadWholeFile(o_.config.ca, &ssl.pem_root_certs, &error) ||
      !ReadWholeFile(o_.config.cert, &ssl.pem_cert_chain, &error) ||
      !ReadWholeFile(o_.config.key, &ssl.pem_private_key, &error)) {
    return Fail(o_, kExitUsage, error + " (set ca, cert and key in the config or by flags)");
  }
  grpc::ChannelArguments args;
  if (!o_.config.server_name.empty()) args.SetSslTargetNameOverride(o_.config.server_name);
  args.SetMaxReceiveMessageSize(16 << 20);
  args.SetMaxSendMessageSize(16 << 20);
  stub_ = pool::v1::PoolService::NewStub(
      grpc::CreateCustomChannel(o_.config.server, grpc::SslCredentials(ssl), args));
  std::fill(ssl.pem_private_key.begin(), ssl.pem_private_key.end(), '\0');
  return kExitOk;
}

void Connection::SetDeadline(grpc::ClientContext* c) const {
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(static_cast<int64_t>(
                                                         o_.config.timeout_seconds * 1000)));
}

bool ShowProgress(const Options& o) { return !o.quiet && (o.progress || isatty(2) == 1); }

std::string Ref(const std::string& lsu, const std::string& name) { return lsu + "/" + name; }

}  // namespace sealpool::tools::client
