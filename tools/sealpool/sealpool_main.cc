// sealpool: the backup client. Backs up stdin, a file or a directory (as a pax tar stream)
// into an LSU of sealpoold, restores, lists, stats, deletes and verifies images, over TLS with
// a client certificate. Human output by default, --json for scripts; exit codes in
// exit_codes.h; everything in docs/cli.md, "sealpool".
#include <fcntl.h>
#include <grpc/support/log.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <clocale>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "sealpool/pool/v1/pool.grpc.pb.h"
#include "tools/sealpool/arguments.h"
#include "tools/sealpool/client_config.h"
#include "tools/sealpool/exit_codes.h"
#include "tools/sealpool/json_writer.h"
#include "tools/sealpool/output.h"
#include "tools/sealpool/progress.h"
#include "tools/sealpool/tar_extractor.h"
#include "tools/sealpool/tar_writer.h"

namespace sealpool::tools::client {
namespace {

namespace v1 = pool::v1;

constexpr size_t kMessageBytes = 1 << 20;  // data bytes per backup message

// ---- Interruption: SIGINT/SIGTERM cancel the running call ----
//
// Both signals are blocked in every thread (set before gRPC starts its own) and taken by one
// thread with sigwait, which cancels the registered call; the command then fails, sees
// Interrupted() and exits 130. If the main thread is stuck (a read of an idle stdin), the
// signal thread ends the process itself after 2 s: the cancellation is sent, and the closed
// connection would abort the stream on the server anyway.
std::atomic<bool> g_interrupted{false};
std::atomic<bool> g_reported{false};
std::mutex g_call_mu;
grpc::ClientContext* g_call = nullptr;  // guarded by g_call_mu

bool Interrupted() { return g_interrupted.load(); }

class RegisteredCall {
 public:
  explicit RegisteredCall(grpc::ClientContext* c) {
    std::lock_guard<std::mutex> lock(g_call_mu);
    g_call = c;
    if (Interrupted()) c->TryCancel();
  }
  ~RegisteredCall() {
    std::lock_guard<std::mutex> lock(g_call_mu);
    g_call = nullptr;
  }
  RegisteredCall(const RegisteredCall&) = delete;
  RegisteredCall& operator=(const RegisteredCall&) = delete;
};

const char* g_interrupt_message = "sealpool: interrupted\n";

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
    if (!g_reported.exchange(true)) std::fputs(g_interrupt_message, stderr);
    std::fflush(stdout);
    _exit(kExitInterrupted);
  }).detach();
}

// ---- Options and connection ----

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

// Every failure goes through here: one line on stderr and, with --json, an error document on
// stdout. Returns `code`.
int Fail(const Options& o, int code, const std::string& message, const char* status = nullptr) {
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
    std::fprintf(stderr, "sealpool: gRPC status %s: %s\n", CodeName(s.error_code()),
                 s.error_message().c_str());
  }
  if (Interrupted()) return Fail(o, kExitInterrupted, what + ": interrupted", "CANCELLED");
  return Fail(o, ExitCodeFor(s.error_code()), what + ": " + DescribeFailure(s, o.config.server),
              CodeName(s.error_code()));
}

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

class Connection {
 public:
  explicit Connection(Options& o) : o_(o) {}

  int Open() {
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
    stub_ = v1::PoolService::NewStub(
        grpc::CreateCustomChannel(o_.config.server, grpc::SslCredentials(ssl), args));
    std::fill(ssl.pem_private_key.begin(), ssl.pem_private_key.end(), '\0');
    return kExitOk;
  }

  void SetDeadline(grpc::ClientContext* c) const {
    c->set_deadline(
        std::chrono::system_clock::now() +
        std::chrono::milliseconds(static_cast<int64_t>(o_.config.timeout_seconds * 1000)));
  }

  v1::PoolService::Stub* stub() { return stub_.get(); }

 private:
  Options& o_;
  std::unique_ptr<v1::PoolService::Stub> stub_;
};

bool ShowProgress(const Options& o) { return !o.quiet && (o.progress || isatty(2) == 1); }

std::string Ref(const std::string& lsu, const std::string& name) { return lsu + "/" + name; }

// ---- backup ----

struct BackupArgs {
  std::string lsu, name, path;
  std::vector<std::string> labels;
  std::string retain_until;
};

// Sends data messages on a backup stream, 1 MiB at a time.
class BackupSender {
 public:
  BackupSender(grpc::ClientWriter<v1::BackupRequest>* writer, Progress* progress)
      : writer_(writer), progress_(progress) {
    pending_.mutable_data()->reserve(kMessageBytes);
  }

  absl::Status Add(std::string_view bytes) {
    while (!bytes.empty()) {
      std::string* data = pending_.mutable_data();
      size_t n = std::min(bytes.size(), kMessageBytes - data->size());
      data->append(bytes.data(), n);
      bytes.remove_prefix(n);
      if (data->size() == kMessageBytes) {
        if (absl::Status s = Flush(); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }

  absl::Status Flush() {
    if (Interrupted()) return absl::CancelledError("interrupted");
    size_t n = pending_.data().size();
    if (n == 0) return absl::OkStatus();
    if (!writer_->Write(pending_)) return absl::UnavailableError("the stream broke");
    sent_ += n;
    progress_->Add(n);
    pending_.mutable_data()->clear();
    return absl::OkStatus();
  }

  uint64_t sent() const { return sent_; }

 private:
  grpc::ClientWriter<v1::BackupRequest>* writer_;
  Progress* progress_;
  v1::BackupRequest pending_;
  uint64_t sent_ = 0;
};

// Reads `fd` to its end into `sender`. Waits for input in 200 ms slices so that an interruption
// is seen even while a pipe stays idle.
absl::Status SendFd(int fd, const std::string& what, BackupSender& sender) {
  std::string buf(kMessageBytes, '\0');
  while (true) {
    if (Interrupted()) return absl::CancelledError("interrupted");
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, 200);
    if (ready < 0 && errno != EINTR) {
      return absl::FailedPreconditionError("cannot read " + what + ": " + std::strerror(errno));
    }
    if (ready <= 0) continue;
    ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return absl::FailedPreconditionError("cannot read " + what + ": " + std::strerror(errno));
    }
    if (n == 0) return absl::OkStatus();
    if (absl::Status s = sender.Add(std::string_view(buf.data(), static_cast<size_t>(n)));
        !s.ok()) {
      return s;
    }
  }
}

int Backup(Options& o, Connection& conn, const BackupArgs& a) {
  v1::BackupRequest header_msg;
  v1::BackupHeader* header = header_msg.mutable_header();
  header->set_lsu(a.lsu);
  header->set_name(a.name);
  for (const std::string& l : a.labels) {
    absl::StatusOr<std::pair<std::string, std::string>> kv = ParseLabel(l);
    if (!kv.ok()) return Fail(o, kExitUsage, std::string(kv.status().message()));
    (*header->mutable_labels())[kv->first] = kv->second;
  }
  if (!a.retain_until.empty()) {
    int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    absl::StatusOr<int64_t> until = ParseRetainUntil(a.retain_until, now);
    if (!until.ok()) return Fail(o, kExitUsage, std::string(until.status().message()));
    header->set_retain_until_unix_micros(*until);
  }
  // The source: stdin, a file, or a directory.
  enum class Kind { kStdin, kFile, kDirectory } kind = Kind::kStdin;
  int fd = 0;
  std::optional<uint64_t> total;
  if (!a.path.empty() && a.path != "-") {
    struct stat st {};
    if (stat(a.path.c_str(), &st) != 0) {
      return Fail(o, kExitNotFound, "cannot back up " + a.path + ": " + std::strerror(errno));
    }
    if (S_ISDIR(st.st_mode)) {
      kind = Kind::kDirectory;
    } else {
      kind = Kind::kFile;
      fd = open(a.path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        return Fail(o, kExitError, "cannot open " + a.path + ": " + std::strerror(errno));
      }
      if (S_ISREG(st.st_mode)) total = static_cast<uint64_t>(st.st_size);
    }
  }
  if (int rc = conn.Open(); rc != kExitOk) return rc;

  const std::string ref = Ref(a.lsu, a.name);
  grpc::ClientContext context;
  RegisteredCall registered(&context);
  v1::BackupResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::BackupRequest>> writer =
      conn.stub()->Backup(&context, &response);
  Progress progress(ShowProgress(o), "backup " + ref, total);
  BackupSender sender(writer.get(), &progress);
  absl::Status local;  // a failure on this side (the source, or the stream breaking)
  if (!writer->Write(header_msg)) {
    local = absl::UnavailableError("the stream broke");
  } else if (kind == Kind::kDirectory) {
    local = WriteDirectoryAsTar(
        a.path, [&](std::string_view bytes) { return sender.Add(bytes); },
        [&](const std::string& warning) {
          progress.Finish();
          if (!o.quiet) std::fprintf(stderr, "sealpool: warning: %s\n", warning.c_str());
        });
  } else {
    local = SendFd(fd, kind == Kind::kStdin ? std::string("stdin") : a.path, sender);
  }
  if (fd > 0) close(fd);
  if (local.ok()) local = sender.Flush();
  if (local.ok()) {
    v1::BackupRequest commit;
    commit.mutable_commit()->set_size(sender.sent());
    if (!writer->Write(commit)) local = absl::UnavailableError("the stream broke");
  }
  bool source_failed = !local.ok() && local.code() != absl::StatusCode::kUnavailable &&
                       local.code() != absl::StatusCode::kCancelled;
  if (source_failed || Interrupted()) {
    // Abort the stream: the server stores nothing for a cancelled backup.
    context.TryCancel();
  } else if (local.ok()) {
    writer->WritesDone();
  }
  grpc::Status status = writer->Finish();
  progress.Finish();
  if (Interrupted()) {
    return Fail(o, kExitInterrupted,
                "backup " + ref + " interrupted: the stream was cancelled and nothing was stored",
                "CANCELLED");
  }
  if (source_failed) {
    return Fail(o, local.code() == absl::StatusCode::kNotFound ? kExitNotFound : kExitError,
                "backup " + ref + " aborted, nothing was stored: " + std::string(local.message()));
  }
  if (!status.ok()) {
    if (o.verbose) {
      std::fprintf(stderr, "sealpool: gRPC status %s: %s\n", CodeName(status.error_code()),
                   status.error_message().c_str());
    }
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::CANCELLED) {
      grpc::Status described = status;
      return Fail(o, kExitUnavailable,
                  "backup " + ref + ": " + DescribeFailure(described, o.config.server) +
                      "; nothing was stored",
                  CodeName(status.error_code()));
    }
    return FailRpc(o, status, "backup " + ref);
  }
  const char* source = kind == Kind::kDirectory ? "directory"
                       : kind == Kind::kFile    ? "file"
                                                : "stdin";
  if (o.json) {
    JsonWriter j;
    j.BeginObject();
    j.Key("image");
    ImageJson(response.image(), j);
    j.Key("source").String(source);
    j.Key("bytes_sent").Uint(sender.sent());
    j.Key("bytes_not_sent").Uint(0);
    j.Key("segments").Uint(response.segments());
    j.Key("elapsed_seconds").Double(response.elapsed_seconds());
    j.EndObject();
    std::printf("%s\n", j.str().c_str());
  } else if (!o.quiet) {
    double secs = response.elapsed_seconds();
    std::printf("backed up %s: %s (%llu bytes) from %s, %llu segments, %.1f s (%s/s)\n",
                ref.c_str(), HumanBytes(response.image().size()).c_str(),
                static_cast<unsigned long long>(response.image().size()), source,
                static_cast<unsigned long long>(response.segments()), secs,
                HumanBytes(secs > 0 ? static_cast<uint64_t>(
                                          static_cast<double>(response.image().size()) / secs)
                                    : 0)
                    .c_str());
    if (response.image().retain_until_unix_micros() != 0) {
      std::printf("retained until %s\n",
                  FormatMicros(response.image().retain_until_unix_micros()).c_str());
    }
  }
  return kExitOk;
}

// ---- restore and verify: reading an image stream ----

// Reads a Restore stream: the header first, then data. The caller checks Finish() at the end.
class RestoreReader {
 public:
  RestoreReader(Connection& conn, const std::string& lsu, const std::string& name,
                const ByteRange& range) {
    v1::RestoreRequest request;
    request.set_lsu(lsu);
    request.set_name(name);
    request.set_offset(range.offset);
    if (range.length.has_value()) request.set_length(*range.length);
    registered_ = std::make_unique<RegisteredCall>(&context_);
    reader_ = conn.stub()->Restore(&context_, request);
  }

  // Reads the header; false when the stream ended first (then see Finish()).
  bool ReadHeader() {
    if (!reader_->Read(&msg_) || msg_.msg_case() != v1::RestoreResponse::kHeader) {
      got_header_ = false;
      return false;
    }
    header_ = msg_.header();
    got_header_ = true;
    return true;
  }

  // The next data bytes; empty at the end of the stream.
  std::string_view Next() {
    while (reader_->Read(&msg_)) {
      if (msg_.msg_case() != v1::RestoreResponse::kData) continue;
      received_ += msg_.data().size();
      return msg_.data();
    }
    done_ = true;
    return {};
  }

  // Reads what is left (after an extraction stopped at the archive's end) and finishes.
  grpc::Status Finish() {
    if (!done_) {
      while (!Next().empty()) {
      }
    }
    return reader_->Finish();
  }
  void Cancel() { context_.TryCancel(); }

  const v1::RestoreHeader& header() const { return header_; }
  uint64_t received() const { return received_; }

 private:
  grpc::ClientContext context_;
  std::unique_ptr<RegisteredCall> registered_;
  std::unique_ptr<grpc::ClientReader<v1::RestoreResponse>> reader_;
  v1::RestoreResponse msg_;
  v1::RestoreHeader header_;
  bool got_header_ = false;
  bool done_ = false;
  uint64_t received_ = 0;
};

struct RestoreArgs {
  std::string lsu, name, output, range, extract;
};

bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

int Restore(Options& o, Connection& conn, const RestoreArgs& a) {
  ByteRange range;
  if (!a.range.empty()) {
    absl::StatusOr<ByteRange> r = ParseRange(a.range);
    if (!r.ok()) return Fail(o, kExitUsage, std::string(r.status().message()));
    range = *r;
  }
  if (!a.extract.empty() && (!a.output.empty() || !a.range.empty())) {
    return Fail(o, kExitUsage, "--extract takes the whole image: not with -o or --range");
  }
  const bool to_stdout = a.extract.empty() && (a.output.empty() || a.output == "-");
  if (to_stdout && a.output.empty() && isatty(1) == 1) {
    return Fail(o, kExitUsage,
                "refusing to write an image to a terminal: use -o FILE, -o - or a pipe");
  }
  o.data_on_stdout = to_stdout;
  if (int rc = conn.Open(); rc != kExitOk) return rc;
  const std::string ref = Ref(a.lsu, a.name);

  // A file is written as FILE.sealpool-partial and renamed over FILE once the stream is OK.
  std::string partial;
  int fd = 1;
  if (!to_stdout && a.extract.empty()) {
    partial = a.output + ".sealpool-partial";
    fd = open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
      return Fail(o, kExitError, "cannot create " + partial + ": " + std::strerror(errno));
    }
  }
  auto drop_partial = [&] {
    if (!partial.empty()) {
      close(fd);
      unlink(partial.c_str());
    }
  };

  RestoreReader reader(conn, a.lsu, a.name, range);
  if (!reader.ReadHeader()) {
    grpc::Status s = reader.Finish();
    drop_partial();
    if (s.ok()) return Fail(o, kExitError, "restore " + ref + ": the stream had no header");
    return FailRpc(o, s, "restore " + ref);
  }
  const uint64_t length = reader.header().length();
  Progress progress(ShowProgress(o), "restore " + ref, length);
  std::optional<ExtractResult> extracted;
  std::string local_error;
  if (!a.extract.empty()) {
    absl::StatusOr<ExtractResult> r = ExtractTar(
        [&]() -> absl::StatusOr<std::string_view> {
          std::string_view bytes = reader.Next();
          progress.Add(bytes.size());
          return bytes;
        },
        a.extract,
        [&](const std::string& warning) {
          progress.Finish();
          std::fprintf(stderr, "sealpool: %s\n", warning.c_str());
        });
    if (r.ok()) {
      extracted = *r;
    } else {
      local_error = std::string(r.status().message());
      reader.Cancel();
    }
  } else {
    while (true) {
      std::string_view bytes = reader.Next();
      if (bytes.empty()) break;
      if (!WriteAll(fd, bytes)) {
        local_error = std::string("cannot write ") + (to_stdout ? "stdout" : partial) + ": " +
                      std::strerror(errno);
        reader.Cancel();
        break;
      }
      progress.Add(bytes.size());
    }
  }
  grpc::Status status = reader.Finish();
  progress.Finish();
  if (!status.ok() && local_error.empty()) {
    drop_partial();
    return FailRpc(o, status, "restore " + ref);
  }
  if (!local_error.empty()) {
    drop_partial();
    if (Interrupted()) return Fail(o, kExitInterrupted, "restore " + ref + ": interrupted");
    return Fail(o, kExitError, "restore " + ref + ": " + local_error);
  }
  if (reader.received() != length) {
    drop_partial();
    return Fail(o, kExitDataLoss,
                "restore " + ref + ": sealpoold announced " + std::to_string(length) +
                    " bytes but sent " + std::to_string(reader.received()),
                "DATA_LOSS");
  }
  if (!partial.empty()) {
    if (fsync(fd) != 0 || close(fd) != 0 || rename(partial.c_str(), a.output.c_str()) != 0) {
      int e = errno;
      unlink(partial.c_str());
      return Fail(o, kExitError, "cannot write " + a.output + ": " + std::strerror(e));
    }
  }
  if (extracted.has_value() && extracted->refused > 0) {
    return Fail(o, kExitError,
                "restore " + ref + ": extracted " + std::to_string(extracted->entries) +
                    " entries into " + a.extract + ", refused " +
                    std::to_string(extracted->refused) + " (listed above)");
  }
  // With the data on stdout, the summary (and the JSON document) goes to stderr.
  FILE* out = to_stdout ? stderr : stdout;
  if (o.json) {
    JsonWriter j;
    j.BeginObject();
    j.Key("image");
    ImageJson(reader.header().image(), j);
    j.Key("offset").Uint(reader.header().offset());
    j.Key("length").Uint(length);
    j.Key("output").String(!a.extract.empty() ? a.extract : to_stdout ? "-" : a.output);
    j.Key("extracted_entries");
    if (extracted.has_value()) {
      j.Uint(extracted->entries);
    } else {
      j.Null();
    }
    j.EndObject();
    std::fprintf(out, "%s\n", j.str().c_str());
  } else if (!o.quiet) {
    if (extracted.has_value()) {
      std::fprintf(out, "restored %s: %llu entries extracted into %s\n", ref.c_str(),
                   static_cast<unsigned long long>(extracted->entries), a.extract.c_str());
    } else {
      std::fprintf(out, "restored %s: %llu bytes at offset %llu to %s\n", ref.c_str(),
                   static_cast<unsigned long long>(length),
                   static_cast<unsigned long long>(reader.header().offset()),
                   to_stdout ? "stdout" : a.output.c_str());
    }
  }
  return kExitOk;
}

struct VerifyArgs {
  std::string lsu, name, compare;
};

int Verify(Options& o, Connection& conn, const VerifyArgs& a) {
  int local_fd = -1;
  if (!a.compare.empty()) {
    local_fd = open(a.compare.c_str(), O_RDONLY | O_CLOEXEC);
    if (local_fd < 0) {
      return Fail(o, kExitNotFound, "cannot open " + a.compare + ": " + std::strerror(errno));
    }
  }
  if (int rc = conn.Open(); rc != kExitOk) return rc;
  const std::string ref = Ref(a.lsu, a.name);
  RestoreReader reader(conn, a.lsu, a.name, ByteRange{});
  if (!reader.ReadHeader()) return FailRpc(o, reader.Finish(), "verify " + ref);
  const uint64_t length = reader.header().length();
  Progress progress(ShowProgress(o), "verify " + ref, length);
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> sha(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(sha.get(), EVP_sha256(), nullptr);
  std::optional<uint64_t> first_difference;
  std::string local(kMessageBytes, '\0');
  uint64_t offset = 0;
  while (true) {
    std::string_view bytes = reader.Next();
    if (bytes.empty()) break;
    EVP_DigestUpdate(sha.get(), bytes.data(), bytes.size());
    if (local_fd >= 0 && !first_difference.has_value()) {
      size_t have = 0;
      while (have < bytes.size()) {
        ssize_t n = read(local_fd, local.data() + have, bytes.size() - have);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        have += static_cast<size_t>(n);
      }
      for (size_t i = 0; i < bytes.size(); ++i) {
        if (i >= have || local[i] != bytes[i]) {
          first_difference = offset + i;
          break;
        }
      }
    }
    offset += bytes.size();
    progress.Add(bytes.size());
  }
  grpc::Status status = reader.Finish();
  progress.Finish();
  if (!status.ok()) return FailRpc(o, status, "verify " + ref);
  if (reader.received() != length) {
    return Fail(o, kExitDataLoss,
                "verify " + ref + ": sealpoold announced " + std::to_string(length) +
                    " bytes but sent " + std::to_string(reader.received()),
                "DATA_LOSS");
  }
  if (local_fd >= 0 && !first_difference.has_value()) {
    char extra = 0;
    if (read(local_fd, &extra, 1) == 1) first_difference = length;  // the file is longer
  }
  if (local_fd >= 0) close(local_fd);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_DigestFinal_ex(sha.get(), digest, &digest_len);
  std::string hex;
  for (unsigned int i = 0; i < digest_len; ++i) {
    char b[3];
    std::snprintf(b, sizeof(b), "%02x", digest[i]);
    hex += b;
  }
  if (o.json) {
    JsonWriter j;
    j.BeginObject();
    j.Key("image");
    ImageJson(reader.header().image(), j);
    j.Key("bytes").Uint(length);
    j.Key("sha256").String(hex);
    j.Key("compared_with");
    if (a.compare.empty()) {
      j.Null();
    } else {
      j.String(a.compare);
    }
    j.Key("match");
    if (a.compare.empty()) {
      j.Null();
    } else {
      j.Bool(!first_difference.has_value());
    }
    j.Key("first_difference");
    if (first_difference.has_value()) {
      j.Uint(*first_difference);
    } else {
      j.Null();
    }
    j.EndObject();
    std::printf("%s\n", j.str().c_str());
  } else if (!o.quiet) {
    std::printf(
        "verified %s: %llu bytes read back, every segment and the image digests "
        "authenticated by sealpoold\nsha256 %s\n",
        ref.c_str(), static_cast<unsigned long long>(length), hex.c_str());
    if (!a.compare.empty() && !first_difference.has_value()) {
      std::printf("identical to %s\n", a.compare.c_str());
    }
  }
  if (first_difference.has_value()) {
    std::fflush(stdout);
    std::fprintf(stderr, "sealpool: verify %s: differs from %s at byte %llu\n", ref.c_str(),
                 a.compare.c_str(), static_cast<unsigned long long>(*first_difference));
    return kExitDataLoss;
  }
  return kExitOk;
}

// ---- ls, stat, rm ----

int List(Options& o, Connection& conn, const std::string& lsu_arg) {
  if (int rc = conn.Open(); rc != kExitOk) return rc;
  std::vector<std::string> lsus;
  if (!lsu_arg.empty()) {
    lsus.push_back(lsu_arg);
  } else {
    lsus = o.config.lsus;
  }
  if (lsus.empty()) {
    return Fail(o, kExitUsage,
                "ls: name an LSU (sealpool ls LSU), or list yours in the config file "
                "(lsus = [\"...\"])");
  }
  std::vector<v1::Image> images;
  for (const std::string& lsu : lsus) {
    std::string token;
    do {
      grpc::ClientContext context;
      RegisteredCall registered(&context);
      conn.SetDeadline(&context);
      v1::ListImagesRequest request;
      request.set_lsu(lsu);
      request.set_page_token(token);
      v1::ListImagesResponse response;
      grpc::Status s = conn.stub()->ListImages(&context, request, &response);
      if (!s.ok()) return FailRpc(o, s, "ls " + lsu);
      for (const v1::Image& i : response.images()) images.push_back(i);
      token = response.next_page_token();
    } while (!token.empty());
  }
  if (o.json) {
    JsonWriter j;
    j.BeginObject().Key("images").BeginArray();
    for (const v1::Image& i : images) ImageJson(i, j);
    j.EndArray().EndObject();
    std::printf("%s\n", j.str().c_str());
  } else if (!o.quiet) {
    std::fputs(FormatImageTable(images).c_str(), stdout);
  }
  return kExitOk;
}

int Stat(Options& o, Connection& conn, const std::string& lsu, const std::string& name) {
  if (int rc = conn.Open(); rc != kExitOk) return rc;
  grpc::ClientContext context;
  RegisteredCall registered(&context);
  conn.SetDeadline(&context);
  v1::ImageRef ref;
  ref.set_lsu(lsu);
  ref.set_name(name);
  v1::Image image;
  grpc::Status s = conn.stub()->StatImage(&context, ref, &image);
  if (!s.ok()) return FailRpc(o, s, "stat " + Ref(lsu, name));
  if (o.json) {
    JsonWriter j;
    ImageJson(image, j);
    std::printf("%s\n", j.str().c_str());
  } else {
    std::fputs(FormatImage(image).c_str(), stdout);
  }
  return kExitOk;
}

int Remove(Options& o, Connection& conn, const std::string& lsu, const std::string& name) {
  if (int rc = conn.Open(); rc != kExitOk) return rc;
  grpc::ClientContext context;
  RegisteredCall registered(&context);
  conn.SetDeadline(&context);
  v1::ImageRef ref;
  ref.set_lsu(lsu);
  ref.set_name(name);
  v1::DeleteImageResponse response;
  grpc::Status s = conn.stub()->DeleteImage(&context, ref, &response);
  if (!s.ok()) return FailRpc(o, s, "rm " + Ref(lsu, name));
  if (o.json) {
    JsonWriter j;
    j.BeginObject().Key("deleted").BeginObject();
    j.Key("lsu").String(lsu).Key("name").String(name);
    j.EndObject().EndObject();
    std::printf("%s\n", j.str().c_str());
  } else if (!o.quiet) {
    std::printf("deleted %s\n", Ref(lsu, name).c_str());
  }
  return kExitOk;
}

void SilenceGrpcLog(gpr_log_func_args*) {}

int Main(int argc, char** argv) {
  StartSignalThread();
  // File names are bytes, and nearly always UTF-8: with this locale libarchive stores them in
  // pax headers as UTF-8 (what POSIX asks) whatever the user's locale, instead of marking them
  // hdrcharset=BINARY, which GNU tar warns about.
  if (setlocale(LC_CTYPE, "C.UTF-8") == nullptr) setlocale(LC_CTYPE, "");
  gpr_set_log_function(SilenceGrpcLog);  // failures are reported in one line of our own
  ::signal(SIGPIPE, SIG_IGN);

  CLI::App app{
      "sealpool: back up to, restore from and manage images in a sealpool pool (sealpoold),\n"
      "over TLS with a client certificate.\n\n"
      "Server, CA, certificate and key come from the config file (--config, $SEALPOOL_CONFIG,\n"
      "or ~/.config/sealpool/client.toml) or the flags below; the key is a file of mode 0600.\n"
      "Exit codes: 0 ok, 1 other error, 2 usage, config or invalid argument, 3 not found,\n"
      "4 refused by a pool rule (retention, exists, read-only), 5 permission denied,\n"
      "6 sealpoold unreachable or the connection broke, 7 data did not check out,\n"
      "130 interrupted (SIGINT/SIGTERM). The options below may also follow the subcommand.\n"
      "See docs/cli.md."};
  app.require_subcommand(1);
  app.fallthrough();
  Options o;
  app.add_option("--config", o.config_path, "the config file (TOML)");
  app.add_option("-s,--server", o.flags.server, "sealpoold's client address host:port");
  app.add_option("--server-name", o.flags.server_name,
                 "name to verify in sealpoold's certificate (default: the host of --server)");
  app.add_option("--ca", o.flags.ca, "CA certificate that signed sealpoold's (PEM file)");
  app.add_option("--cert", o.flags.cert, "this client's certificate (PEM file)");
  app.add_option("--key", o.flags.key, "its private key (PEM file, mode 0600 or 0400)");
  app.add_option("--timeout", o.timeout, "seconds to wait for ls, stat and rm (default 30)")
      ->check(CLI::Range(0.1, 3600.0));
  app.add_flag("--json", o.json, "print one JSON document on stdout");
  app.add_flag("-q,--quiet", o.quiet, "print nothing but errors (and the data)");
  app.add_flag("-v,--verbose", o.verbose,
               "when a call fails, also print gRPC's own status message (for debugging)");
  app.add_flag("--progress", o.progress,
               "draw the progress line on stderr even when it is not a terminal");

  BackupArgs backup_args;
  auto* backup = app.add_subcommand(
      "backup",
      "back up stdin (PATH - or none), a file, or a directory (as a POSIX pax tar archive) as "
      "image NAME in LSU");
  backup->add_option("lsu", backup_args.lsu, "the LSU")->required();
  backup->add_option("name", backup_args.name, "the image name")->required();
  backup->add_option("path", backup_args.path, "a file or directory; - or none: stdin");
  backup->add_option("--label", backup_args.labels, "a label KEY=VALUE (repeatable)");
  backup->add_option("--retain-until", backup_args.retain_until,
                     "nobody deletes the image before: a UTC date/time (2027-01-31, "
                     "2027-01-31T12:00:00Z) or a duration from now (30d, 12h, 2w, 1y)");

  RestoreArgs restore_args;
  auto* restore =
      app.add_subcommand("restore", "write an image, or a byte range of it, or extract it");
  restore->add_option("lsu", restore_args.lsu, "the LSU")->required();
  restore->add_option("name", restore_args.name, "the image name")->required();
  restore->add_option("-o,--output", restore_args.output,
                      "write to FILE (atomically: FILE.sealpool-partial, renamed when "
                      "complete); - or none: stdout");
  restore->add_option("--range", restore_args.range,
                      "only LENGTH bytes from OFFSET: OFFSET:LENGTH (K, M, G suffixes; "
                      "OFFSET: to the end)");
  restore->add_option("--extract", restore_args.extract,
                      "unpack the image (a directory backup) into DIR; never writes outside it");

  std::string lsu, name;
  auto* ls = app.add_subcommand("ls", "list your images in LSU (or in the config's lsus)");
  ls->add_option("lsu", lsu, "the LSU");
  auto* stat = app.add_subcommand("stat", "show one image");
  stat->add_option("lsu", lsu, "the LSU")->required();
  stat->add_option("name", name, "the image name")->required();
  auto* rm = app.add_subcommand("rm",
                                "delete an image (if the LSU allows client deletes and "
                                "its retention has passed)");
  rm->add_option("lsu", lsu, "the LSU")->required();
  rm->add_option("name", name, "the image name")->required();
  VerifyArgs verify_args;
  auto* verify = app.add_subcommand(
      "verify",
      "read the whole image back through sealpoold, which authenticates every segment and the "
      "image's recipe and content digests; print its SHA-256; optionally compare with a file");
  verify->add_option("lsu", verify_args.lsu, "the LSU")->required();
  verify->add_option("name", verify_args.name, "the image name")->required();
  verify->add_option("--compare", verify_args.compare,
                     "a local file that must be byte for byte the image");

  for (CLI::App* sub : {backup, restore, ls, stat, rm, verify}) {
    sub->footer(
        "Global options (--config, --server, --server-name, --ca, --cert, --key, --timeout,\n"
        "--json, --quiet, --progress) may follow the subcommand; see sealpool --help.");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  Connection conn(o);
  if (backup->parsed()) return Backup(o, conn, backup_args);
  if (restore->parsed()) return Restore(o, conn, restore_args);
  if (ls->parsed()) return List(o, conn, lsu);
  if (stat->parsed()) return Stat(o, conn, lsu, name);
  if (rm->parsed()) return Remove(o, conn, lsu, name);
  if (verify->parsed()) return Verify(o, conn, verify_args);
  return kExitUsage;
}

}  // namespace
}  // namespace sealpool::tools::client

int main(int argc, char** argv) { return sealpool::tools::client::Main(argc, argv); }
