// sealpool restore and verify: reading an image stream back from sealpoold.
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include "tools/sealpool/arguments.h"
#include "tools/sealpool/commands.h"
#include "tools/sealpool/exit_codes.h"
#include "tools/common/json_writer.h"
#include "tools/sealpool/output.h"
#include "tools/sealpool/progress.h"
#include "tools/sealpool/tar_extractor.h"

namespace sealpool::tools::client {

namespace v1 = pool::v1;

namespace {

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

bool WriteAll(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

}  // namespace

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
  bool cancelled = false;  // this side cancelled the stream (local_error says why)
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
      cancelled = true;
    }
  } else {
    while (true) {
      std::string_view bytes = reader.Next();
      if (bytes.empty()) break;
      if (!WriteAll(fd, bytes)) {
        local_error = std::string("cannot write ") + (to_stdout ? "stdout" : partial) + ": " +
                      std::strerror(errno);
        reader.Cancel();
        cancelled = true;
        break;
      }
      progress.Add(bytes.size());
    }
  }
  grpc::Status status = reader.Finish();
  progress.Finish();
  // sealpoold's failure first (a stream that broke or did not authenticate also leaves the
  // extraction with a truncated archive), unless it is the cancellation this side asked for.
  if (!status.ok() && !(cancelled && status.error_code() == grpc::StatusCode::CANCELLED)) {
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

}  // namespace sealpool::tools::client
