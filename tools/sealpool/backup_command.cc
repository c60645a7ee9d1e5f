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
#include <functional>
#include <optional>
#include <vector>

#include "crypto/keys.h"
#include "crypto/secure_memory.h"
#include "storage/chunking/chunk_stream.h"
#include "storage/chunking/chunker_format.h"

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

// Client-side dedup (DedupBackup, docs/protocol.md): cuts and digests what it is given with
// the group's chunker and this client's digest key (both from the server's start answer; the
// key in locked memory), offers the digests in batches and sends the segments asked for.
class DedupSender {
 public:
  using Stream = grpc::ClientReaderWriter<v1::DedupBackupRequest, v1::DedupBackupResponse>;
  DedupSender(Stream* stream, Progress* progress) : stream_(stream), progress_(progress) {}

  // Takes the start answer: the chunker and the key (whose protobuf copy is overwritten).
  absl::Status Start(v1::DedupStart* start) {
    std::string* key_bytes = start->mutable_digest_key();
    absl::StatusOr<crypto::ClientDigestKey> key = crypto::ClientDigestKey::FromBytes(
        {reinterpret_cast<const uint8_t*>(key_bytes->data()), key_bytes->size()});
    crypto::Wipe({reinterpret_cast<uint8_t*>(key_bytes->data()), key_bytes->size()});
    key_bytes->clear();
    if (!key.ok()) {
      return absl::InternalError("the server sent no valid client digest key: " +
                                 std::string(key.status().message()));
    }
    const std::string& rec = start->chunker_params();
    absl::StatusOr<storage::ChunkerParams> params = storage::ChunkerParams::DecodeFrom(
        {reinterpret_cast<const uint8_t*>(rec.data()), rec.size()});
    if (!params.ok()) {
      return absl::InternalError("the server sent chunker parameters this sealpool cannot use: " +
                                 std::string(params.status().message()));
    }
    absl::StatusOr<storage::SegmentStream> stream = storage::SegmentStream::Create(*params, *key);
    if (!stream.ok()) return stream.status();  // the key is wiped here; the stream keeps HMAC state
    chunker_.emplace(*std::move(stream));
    max_batch_ = std::max<uint32_t>(1, std::min<uint32_t>(start->max_batch_segments(), 1024));
    return absl::OkStatus();
  }

  absl::Status Add(std::string_view bytes) {
    if (Interrupted()) return absl::CancelledError("interrupted");
    return chunker_->Update({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()},
                            [this](const storage::StreamSegment& s) { return OnSegment(s); });
  }

  absl::Status Finish() {
    absl::Status s =
        chunker_->Finish([this](const storage::StreamSegment& seg) { return OnSegment(seg); });
    if (s.ok() && !pending_.empty()) s = SendBatch();
    return s;
  }

  uint64_t offered() const { return offered_; }
  uint64_t sent() const { return sent_; }

 private:
  // A batch goes when it holds max_batch_ segments or 8 MiB of them.
  static constexpr size_t kBatchBytes = size_t{8} << 20;

  absl::Status OnSegment(const storage::StreamSegment& seg) {
    v1::SegmentDigest* d = batch_.mutable_digests()->add_segments();
    d->set_digest(reinterpret_cast<const char*>(seg.fingerprint.bytes().data()),
                  seg.fingerprint.bytes().size());
    d->set_length(static_cast<uint32_t>(seg.data.size()));
    pending_.emplace_back(reinterpret_cast<const char*>(seg.data.data()), seg.data.size());
    pending_bytes_ += seg.data.size();
    if (pending_.size() >= max_batch_ || pending_bytes_ >= kBatchBytes) return SendBatch();
    return absl::OkStatus();
  }

  absl::Status SendBatch() {
    if (Interrupted()) return absl::CancelledError("interrupted");
    if (!stream_->Write(batch_)) return absl::UnavailableError("the stream broke");
    v1::DedupBackupResponse reply;
    if (!stream_->Read(&reply) || !reply.has_reply()) {
      return absl::UnavailableError("the stream broke");
    }
    v1::DedupBackupRequest data;
    size_t packed = 0;
    for (uint32_t i : reply.reply().send()) {
      if (i >= pending_.size()) return absl::InternalError("the server asked for a segment it was not offered");
      packed += pending_[i].size();
      sent_ += pending_[i].size();
      data.mutable_data()->add_segments(std::move(pending_[i]));
      if (packed >= kMessageBytes) {
        if (!stream_->Write(data)) return absl::UnavailableError("the stream broke");
        data.Clear();
        packed = 0;
      }
    }
    if (data.has_data() && !stream_->Write(data)) return absl::UnavailableError("the stream broke");
    offered_ += pending_bytes_;
    progress_->Add(pending_bytes_);
    pending_.clear();
    pending_bytes_ = 0;
    batch_.Clear();
    return absl::OkStatus();
  }

  Stream* stream_;
  Progress* progress_;
  std::optional<storage::SegmentStream> chunker_;
  uint32_t max_batch_ = 256;
  v1::DedupBackupRequest batch_;
  std::vector<std::string> pending_;
  size_t pending_bytes_ = 0;
  uint64_t offered_ = 0;
  uint64_t sent_ = 0;
};

// "host-2026-12-04" -> "host": the name without its trailing digits and -_.: (the default
// base image is the newest of the caller's images with the same stem).
std::string NameStem(std::string_view name) {
  size_t n = name.size();
  while (n > 0 && std::string_view("0123456789-_.:").find(name[n - 1]) != std::string_view::npos) --n;
  return std::string(name.substr(0, n));
}

// The default base image: the caller's newest image in the LSU with NAME's stem; "" if none.
absl::StatusOr<std::string> DefaultBase(Connection& conn, const std::string& lsu,
                                        const std::string& name) {
  const std::string stem = NameStem(name);
  std::string best;
  int64_t best_time = 0;
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
    if (!s.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                          "looking for the base image: " + s.error_message());
    }
    for (const v1::Image& i : response.images()) {
      if (i.name() == name || NameStem(i.name()) != stem) continue;
      if (best.empty() || i.created_unix_micros() > best_time) {
        best = i.name();
        best_time = i.created_unix_micros();
      }
    }
    token = response.next_page_token();
  } while (!token.empty());
  return best;
}

using AddFn = std::function<absl::Status(std::string_view)>;

// Reads `fd` to its end into `sender`. Waits for input in 200 ms slices so that an interruption
// is seen even while a pipe stays idle.
absl::Status SendFd(int fd, const std::string& what, const AddFn& add) {
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
    if (absl::Status s = add(std::string_view(buf.data(), static_cast<size_t>(n))); !s.ok()) {
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
  if (!a.client_dedup && (!a.base.empty() || a.no_base)) {
    if (fd > 0) close(fd);
    return Fail(o, kExitUsage, "--base and --no-base go with --client-dedup");
  }
  std::string base;
  if (a.client_dedup && !a.no_base) {
    if (!a.base.empty()) {
      base = a.base;
    } else {
      absl::StatusOr<std::string> found = DefaultBase(conn, a.lsu, a.name);
      if (!found.ok()) {
        if (fd > 0) close(fd);
        return Fail(o, kExitError, "backup " + ref + ": " + std::string(found.status().message()));
      }
      base = *found;
    }
  }
  grpc::ClientContext context;
  RegisteredCall registered(&context);
  v1::BackupResponse response;
  Progress progress(ShowProgress(o), "backup " + ref, total);
  // One of the two modes: a plain stream (server-side dedup) or DedupBackup.
  std::unique_ptr<grpc::ClientWriter<v1::BackupRequest>> writer;
  std::unique_ptr<DedupSender::Stream> dstream;
  std::optional<BackupSender> sender;
  std::optional<DedupSender> dsender;
  AddFn add;
  absl::Status local;  // a failure on this side (the source, or the stream breaking)
  if (a.client_dedup) {
    dstream = conn.stub()->DedupBackup(&context);
    dsender.emplace(dstream.get(), &progress);
    add = [&](std::string_view bytes) { return dsender->Add(bytes); };
    v1::DedupBackupRequest h;
    h.mutable_header()->set_protocol_version(1);
    *h.mutable_header()->mutable_backup() = *header;
    h.mutable_header()->set_base_image(base);
    v1::DedupBackupResponse start;
    if (!dstream->Write(h) || !dstream->Read(&start) || !start.has_start()) {
      local = absl::UnavailableError("the stream broke");
    } else {
      local = dsender->Start(start.mutable_start());
    }
  } else {
    writer = conn.stub()->Backup(&context, &response);
    sender.emplace(writer.get(), &progress);
    add = [&](std::string_view bytes) { return sender->Add(bytes); };
    if (!writer->Write(header_msg)) local = absl::UnavailableError("the stream broke");
  }
  if (!local.ok()) {
    // nothing read
  } else if (kind == Kind::kDirectory) {
    local = WriteDirectoryAsTar(
        a.path, add,
        [&](const std::string& warning) {
          progress.Finish();
          if (!o.quiet) std::fprintf(stderr, "sealpool: warning: %s\n", warning.c_str());
        });
  } else {
    local = SendFd(fd, kind == Kind::kStdin ? std::string("stdin") : a.path, add);
  }
  if (fd > 0) close(fd);
  if (local.ok()) local = a.client_dedup ? dsender->Finish() : sender->Flush();
  if (local.ok()) {
    if (a.client_dedup) {
      v1::DedupBackupRequest commit;
      commit.mutable_commit()->set_size(dsender->offered());
      if (!dstream->Write(commit)) local = absl::UnavailableError("the stream broke");
    } else {
      v1::BackupRequest commit;
      commit.mutable_commit()->set_size(sender->sent());
      if (!writer->Write(commit)) local = absl::UnavailableError("the stream broke");
    }
  }
  bool source_failed = !local.ok() && local.code() != absl::StatusCode::kUnavailable &&
                       local.code() != absl::StatusCode::kCancelled;
  if (source_failed || Interrupted()) {
    // Abort the stream: the server stores nothing for a cancelled backup.
    context.TryCancel();
  } else if (local.ok()) {
    if (a.client_dedup) {
      dstream->WritesDone();
      v1::DedupBackupResponse done;
      if (dstream->Read(&done) && done.has_done()) response = done.done();
    } else {
      writer->WritesDone();
    }
  }
  grpc::Status status = a.client_dedup ? dstream->Finish() : writer->Finish();
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
    j.Key("bytes_sent").Uint(a.client_dedup ? dsender->sent() : sender->sent());
    j.Key("bytes_not_sent").Uint(response.bytes_not_sent());
    if (a.client_dedup) {
      j.Key("client_dedup").Bool(true);
      j.Key("base").String(base);
    }
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
    if (a.client_dedup) {
      std::printf("client-side dedup: sent %s, not sent %s (in base image %s)\n",
                  HumanBytes(dsender->sent()).c_str(),
                  HumanBytes(response.bytes_not_sent()).c_str(),
                  base.empty() ? "(none)" : base.c_str());
    }
    if (response.image().retain_until_unix_micros() != 0) {
      std::printf("retained until %s\n",
                  FormatMicros(response.image().retain_until_unix_micros()).c_str());
    }
  }
  return kExitOk;
}

}  // namespace sealpool::tools::client
