// What every sealpool command shares: the options, the connection to sealpoold, the one-line
// failure report (with its JSON document), and the interruption by SIGINT/SIGTERM.
// Single-threaded use, except the interruption, which the signal thread triggers.
#ifndef SEALPOOL_TOOLS_SEALPOOL_SESSION_H_
#define SEALPOOL_TOOLS_SEALPOOL_SESSION_H_

#include <grpcpp/grpcpp.h>

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "sealpool/pool/v1/pool.grpc.pb.h"
#include "tools/sealpool/client_config.h"

namespace sealpool::tools::client {

inline constexpr size_t kMessageBytes = 1 << 20;  // data bytes per backup message

// Blocks SIGINT and SIGTERM in this thread (call it first in main, before gRPC starts threads,
// which inherit the mask) and starts the thread that takes them: it cancels the registered
// call, and ends the process with exit 130 if the command has not within 2 s.
void StartSignalThread();
// Whether SIGINT or SIGTERM arrived.
bool Interrupted();

// Registers the call that a signal cancels, for its scope. `c` must outlive it.
class RegisteredCall {
 public:
  explicit RegisteredCall(grpc::ClientContext* c);
  ~RegisteredCall();
  RegisteredCall(const RegisteredCall&) = delete;
  RegisteredCall& operator=(const RegisteredCall&) = delete;
};

struct Options {
  std::string config_path;
  ClientConfig flags;
  std::optional<double> timeout;
  bool json = false;
  bool quiet = false;
  bool progress = false;        // draw the progress line even when stderr is not a terminal
  bool verbose = false;         // on a failed call, also print gRPC's own message
  bool data_on_stdout = false;  // restore to stdout: JSON documents go to stderr
  ClientConfig config;          // the merged result
};

// Every failure goes through here: one line "sealpool: MESSAGE" on stderr and, with --json, an
// error document on stdout (stderr when the data was for stdout). `status` is sealpoold's
// code name, or null for a local failure. Returns `code`.
int Fail(const Options& o, int code, const std::string& message, const char* status = nullptr);
// A failed call: the interruption (130), a connection failure, or sealpoold's status, as
// "WHAT: explanation", with the exit code of exit_codes.h.
int FailRpc(const Options& o, const grpc::Status& s, const std::string& what);

// The channel to sealpoold, made by Open() from the config file and the flags.
class Connection {
 public:
  explicit Connection(Options& o) : o_(o) {}

  // Resolves the config (file and flags), reads the CA, certificate and key, and makes the
  // channel (it connects at the first call). Returns an exit code, after reporting a failure.
  int Open();
  // The --timeout deadline, for calls that are not streams.
  void SetDeadline(grpc::ClientContext* c) const;
  pool::v1::PoolService::Stub* stub() { return stub_.get(); }

 private:
  Options& o_;
  std::unique_ptr<pool::v1::PoolService::Stub> stub_;
};

// Whether to draw the progress line: not --quiet, and stderr a terminal or --progress.
bool ShowProgress(const Options& o);
// "LSU/NAME".
std::string Ref(const std::string& lsu, const std::string& name);

}  // namespace sealpool::tools::client

#endif  // SEALPOOL_TOOLS_SEALPOOL_SESSION_H_
