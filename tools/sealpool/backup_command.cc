// sealpool backup: stdin, a file or a directory (a pax tar stream) as one image.
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>

#include "tools/sealpool/arguments.h"
#include "tools/sealpool/commands.h"
#include "tools/sealpool/exit_codes.h"
#include "tools/common/json_writer.h"
#include "tools/sealpool/output.h"
#include "tools/sealpool/progress.h"
#include "tools/sealpool/tar_writer.h"

namespace sealpool::tools::client {

namespace v1 = pool::v1;

namespace {

// ---- backup ----

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

}  // namespace

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
      std::fprintf(stderr, "sealpool: gRPC status %s: %s\n", StatusCodeName(status.error_code()),
                   status.error_message().c_str());
    }
    if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
        status.error_code() == grpc::StatusCode::CANCELLED) {
      grpc::Status described = status;
      return Fail(o, kExitUnavailable,
                  "backup " + ref + ": " + DescribeFailure(described, o.config.server) +
                      "; nothing was stored",
                  StatusCodeName(status.error_code()));
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
    j.Key("elapsed_seconds").Fixed(response.elapsed_seconds(), 3);
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

}  // namespace sealpool::tools::client
