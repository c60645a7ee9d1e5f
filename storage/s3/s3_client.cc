#include "storage/s3/s3_client.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <utility>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "base/status_macros.h"
#include "base/strings.h"

namespace sealpool::storage::s3 {
namespace {

using base::Cat;

// SHA-256 of the empty string: x-amz-content-sha256 of a request without a body.
constexpr const char* kEmptySha256 =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr uint64_t kMinPartSize = 5ull << 20;
constexpr uint64_t kMaxParts = 10000;
constexpr uint64_t kMaxErrorReplyBytes = 64u << 10;

absl::StatusOr<std::string> Sha256Hex(std::span<const uint8_t> data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("SHA-256 of a request body failed (OpenSSL)");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * len, '0');
  for (unsigned int i = 0; i < len; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 15];
  }
  return out;
}

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool RetryableCurlCode(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

absl::StatusCode CodeOfHttp(long http) {
  if (http >= 500) return absl::StatusCode::kUnavailable;
  switch (http) {
    case 400: return absl::StatusCode::kInvalidArgument;
    case 403: return absl::StatusCode::kPermissionDenied;
    case 404: return absl::StatusCode::kNotFound;
    case 409: return absl::StatusCode::kAlreadyExists;
    case 416: return absl::StatusCode::kOutOfRange;
    default: return absl::StatusCode::kFailedPrecondition;
  }
}

bool ValidBucket(std::string_view b) {
  if (b.size() < 3 || b.size() > 63) return false;
  for (char c : b) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-')) return false;
  }
  return b.front() != '.' && b.front() != '-' && b.back() != '.' && b.back() != '-';
}

bool ValidRegion(std::string_view r) {
  if (r.empty() || r.size() > 64) return false;
  for (char c : r) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::StatusOr<crypto::SecretBytes> ReadSecretKeyFile(const std::string& path) {
  constexpr size_t kMax = 256;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    std::string text = Cat("cannot open the S3 secret key file ", path, ": ", std::strerror(e));
    if (e == ENOENT) return absl::NotFoundError(text);
    if (e == EACCES || e == EPERM) return absl::PermissionDeniedError(text);
    return absl::UnavailableError(text);
  }
  SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes buffer, crypto::SecretBytes::Allocate(kMax + 2));
  size_t got = 0;
  while (got < buffer.size()) {
    ssize_t n = ::read(fd, buffer.mutable_span().data() + got, buffer.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return absl::UnavailableError(
          Cat("cannot read the S3 secret key file ", path, ": ", std::strerror(e)));
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  std::span<const uint8_t> bytes = buffer.span().first(got);
  if (!bytes.empty() && bytes.back() == '\n') bytes = bytes.first(bytes.size() - 1);
  if (!bytes.empty() && bytes.back() == '\r') bytes = bytes.first(bytes.size() - 1);
  if (bytes.empty()) {
    return absl::InvalidArgumentError(Cat("the S3 secret key file ", path, " is empty"));
  }
  if (got > kMax + 1 || bytes.size() > kMax) {
    return absl::InvalidArgumentError(
        Cat("the S3 secret key file ", path, " is longer than ", kMax, " bytes"));
  }
  for (uint8_t c : bytes) {
    if (c < 0x21 || c >= 0x7f) {
      return absl::InvalidArgumentError(Cat("the S3 secret key file ", path,
                                            " holds a space, control or non-ASCII character"));
    }
  }
  SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes secret,
                            crypto::SecretBytes::Allocate(bytes.size()));
  std::copy(bytes.begin(), bytes.end(), secret.mutable_span().begin());
  return secret;
}

absl::Status ValidateKey(std::string_view key) {
  if (key.empty() || key.size() > kMaxKeyBytes) {
    return absl::InvalidArgumentError(Cat("S3 key of ", key.size(), " bytes (1..1024)"));
  }
  for (char c : key) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
          c == '-' || c == '/')) {
      return absl::InvalidArgumentError(
          Cat("S3 key '", Sanitize(key, 120), "' has a character outside [A-Za-z0-9._/-]"));
    }
  }
  if (key.front() == '/' || absl::StrContains(base::AbslView(key), "//")) {
    return absl::InvalidArgumentError(Cat("S3 key '", key, "' has an empty path segment"));
  }
  for (std::string_view seg : {std::string_view("."), std::string_view("..")}) {
    if (key == seg || key.starts_with(Cat(seg, "/")) || key.ends_with(Cat("/", seg)) ||
        absl::StrContains(base::AbslView(key), Cat("/", seg, "/"))) {
      return absl::InvalidArgumentError(Cat("S3 key '", key, "' has a '.' or '..' segment"));
    }
  }
  return absl::OkStatus();
}

std::string UriEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

// ---- requests -------------------------------------------------------------------------------

struct S3Client::Request {
  std::string op;                        // "PUT", "GET", ... for messages
  S3RequestKind kind = S3RequestKind::kGet;
  const char* method = "GET";
  std::string key;                       // empty: the bucket itself
  std::string query;                     // already encoded, parameters sorted by name
  std::span<const uint8_t> body;
  std::string content_type;
  std::optional<std::pair<uint64_t, uint64_t>> range;  // first, last (inclusive)
  uint64_t max_reply = kMaxXmlReplyBytes;
  std::vector<long> ok_codes = {200};
};

struct S3Client::Reply {
  long http = 0;
  std::vector<uint8_t> body;
  std::string etag;
  std::optional<uint64_t> content_length;
};

struct S3Client::Handle {
  CURL* curl = nullptr;
  ~Handle() {
    if (curl != nullptr) curl_easy_cleanup(curl);
  }
};

namespace {

struct Transfer {
  CURL* curl = nullptr;
  std::span<const uint8_t> upload;
  size_t uploaded = 0;
  std::vector<uint8_t>* body = nullptr;
  uint64_t max_reply = 0;
  bool overflow = false;
  std::string etag;
  std::optional<uint64_t> content_length;
};

size_t WriteCallback(char* data, size_t size, size_t nmemb, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nmemb;
  // An error reply's body (XML) has a limit of its own: a ranged GET's limit is its length.
  long http = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &http);
  uint64_t limit = http >= 200 && http < 300 ? t->max_reply : kMaxErrorReplyBytes;
  if (t->body->size() + n > limit) {
    t->overflow = true;
    return 0;  // aborts the transfer (CURLE_WRITE_ERROR)
  }
  t->body->insert(t->body->end(), data, data + n);
  return n;
}

size_t ReadCallback(char* buffer, size_t size, size_t nitems, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = std::min(size * nitems, t->upload.size() - t->uploaded);
  if (n > 0) std::memcpy(buffer, t->upload.data() + t->uploaded, n);
  t->uploaded += n;
  return n;
}

int SeekCallback(void* user, curl_off_t offset, int origin) {
  auto* t = static_cast<Transfer*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > t->upload.size()) {
    return CURL_SEEKFUNC_FAIL;
  }
  t->uploaded = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t HeaderCallback(char* data, size_t size, size_t nitems, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t n = size * nitems;
  std::string_view line(data, n);
  size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string name = absl::AsciiStrToLower(base::AbslView(line.substr(0, colon)));
  std::string_view value = base::StdView(
      absl::StripAsciiWhitespace(base::AbslView(line.substr(colon + 1))));
  if (name == "etag") t->etag = Sanitize(value, 200);
  if (name == "content-length") {
    uint64_t v = 0;
    if (absl::SimpleAtoi(base::AbslView(value), &v)) t->content_length = v;
  }
  return n;
}

}  // namespace

S3Client::S3Client(S3Target target, crypto::SecretBytes secret_key, S3ClientOptions options)
    : target_(std::move(target)), secret_(std::move(secret_key)), options_(options) {
  sigv4_ = Cat("aws:amz:", target_.region, ":s3");
}

S3Client::~S3Client() = default;

absl::StatusOr<std::unique_ptr<S3Client>> S3Client::Create(S3Target target,
                                                           crypto::SecretBytes secret_key,
                                                           S3ClientOptions options) {
  GlobalInit();
  std::string_view ep = target.endpoint;
  std::string_view rest;
  if (ep.starts_with("http://")) {
    rest = ep.substr(7);
  } else if (ep.starts_with("https://")) {
    rest = ep.substr(8);
  } else {
    return absl::InvalidArgumentError(
        Cat("S3 endpoint '", Sanitize(ep, 120), "' must start with http:// or https://"));
  }
  if (rest.ends_with("/")) rest.remove_suffix(1);
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos) {
    return absl::InvalidArgumentError(Cat("S3 endpoint '", Sanitize(ep, 120),
                                          "' must be scheme://host[:port] without a path, "
                                          "query or user"));
  }
  if (target.endpoint.back() == '/') target.endpoint.pop_back();
  if (!ValidBucket(target.bucket)) {
    return absl::InvalidArgumentError(Cat("S3 bucket name '", Sanitize(target.bucket, 80),
                                          "' is not 3-63 characters of [a-z0-9.-]"));
  }
  if (!ValidRegion(target.region)) {
    return absl::InvalidArgumentError(
        Cat("S3 region '", Sanitize(target.region, 80), "' is not [A-Za-z0-9_-]{1,64}"));
  }
  if (target.access_key_id.empty() || target.access_key_id.size() > 128 ||
      target.access_key_id.find_first_of(": \t\r\n") != std::string::npos) {
    return absl::InvalidArgumentError(
        "S3 access key id is empty, longer than 128 bytes, or holds ':' or whitespace");
  }
  if (secret_key.empty()) return absl::InvalidArgumentError("S3 secret key is empty");
  if (options.part_size < kMinPartSize || options.multipart_threshold < options.part_size) {
    return absl::InvalidArgumentError(
        "S3 part_size must be >= 5 MiB and multipart_threshold >= part_size");
  }
  if (options.max_list_keys < 1 || options.max_list_keys > 1000) {
    return absl::InvalidArgumentError("S3 max_list_keys must be in 1..1000");
  }
  if (options.deadline <= absl::ZeroDuration() || options.attempt_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("S3 deadline and attempt_timeout must be positive");
  }
  // NUL-terminated copy for CURLOPT_PASSWORD.
  SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes password,
                            crypto::SecretBytes::Allocate(secret_key.size() + 1));
  std::copy(secret_key.span().begin(), secret_key.span().end(),
            password.mutable_span().begin());
  return std::unique_ptr<S3Client>(
      new S3Client(std::move(target), std::move(password), options));
}

std::unique_ptr<S3Client::Handle> S3Client::TakeHandle() {
  {
    absl::MutexLock lock(&handles_mu_);
    if (!idle_handles_.empty()) {
      std::unique_ptr<Handle> h = std::move(idle_handles_.back());
      idle_handles_.pop_back();
      return h;
    }
  }
  auto h = std::make_unique<Handle>();
  h->curl = curl_easy_init();
  return h;
}

void S3Client::ReturnHandle(std::unique_ptr<Handle> handle) {
  absl::MutexLock lock(&handles_mu_);
  if (idle_handles_.size() < 64) idle_handles_.push_back(std::move(handle));
}

std::string S3Client::UrlOf(std::string_view key, std::string_view query) const {
  std::string url;
  if (target_.path_style) {
    // The bucket itself is "/bucket", not "/bucket/" (which radosgw signs differently).
    url = key.empty() ? Cat(target_.endpoint, "/", target_.bucket)
                      : Cat(target_.endpoint, "/", target_.bucket, "/", key);
  } else {
    size_t scheme_end = target_.endpoint.find("://") + 3;
    url = Cat(target_.endpoint.substr(0, scheme_end), target_.bucket, ".",
              target_.endpoint.substr(scheme_end), "/", key);
  }
  if (!query.empty()) url = Cat(url, "?", query);
  return url;
}

std::string S3Client::Describe(const Request& request) const {
  return Cat("S3 ", request.op, " ", target_.bucket, "/", request.key);
}

absl::StatusOr<S3Client::Reply> S3Client::Attempt(const Request& request, absl::Time deadline,
                                                  bool* retryable) {
  *retryable = false;
  std::unique_ptr<Handle> handle = TakeHandle();
  if (handle->curl == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  CURL* c = handle->curl;
  curl_easy_reset(c);

  Reply reply;
  Transfer t;
  t.curl = c;
  t.upload = request.body;
  t.body = &reply.body;
  t.max_reply = request.max_reply;

  std::string hash = kEmptySha256;
  if (!request.body.empty()) {
    SEALPOOL_ASSIGN_OR_RETURN(hash, Sha256Hex(request.body));
  }
  curl_slist* headers = nullptr;
  auto add = [&headers](const std::string& h) { headers = curl_slist_append(headers, h.c_str()); };
  add(Cat("x-amz-content-sha256: ", hash));
  // (No "Expect:" to suppress 100-continue: curl 7.88 would sign the empty header and not send
  // it, and the signature would not match.)
  if (!request.content_type.empty()) add(Cat("Content-Type: ", request.content_type));
  if (request.range) {
    add(Cat("Range: bytes=", request.range->first, "-", request.range->second));
  }

  const std::string url = UrlOf(request.key, request.query);
  absl::Duration left = deadline - absl::Now();
  long timeout_ms = static_cast<long>(
      absl::ToInt64Milliseconds(std::min(left, options_.attempt_timeout)));
  if (timeout_ms < 1) timeout_ms = 1;

  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4_.c_str());
  curl_easy_setopt(c, CURLOPT_USERNAME, target_.access_key_id.c_str());
  curl_easy_setopt(c, CURLOPT_PASSWORD, reinterpret_cast<const char*>(secret_.span().data()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   std::min(timeout_ms, static_cast<long>(absl::ToInt64Milliseconds(
                                            options_.connect_timeout))));
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  if (!target_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, target_.ca_file.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &WriteCallback);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &HeaderCallback);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);

  std::string_view method = request.method;
  if (method == "PUT") {
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, &ReadCallback);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, &SeekCallback);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, &t);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (method == "POST") {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                     request.body.empty() ? ""
                                          : reinterpret_cast<const char*>(request.body.data()));
  } else if (method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (method == "DELETE") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
  }

  requests_.fetch_add(1, std::memory_order_relaxed);
  by_kind_[static_cast<int>(request.kind)].fetch_add(1, std::memory_order_relaxed);
  CURLcode rc = curl_easy_perform(c);
  long http = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &http);
  long connects = 0;
  if (curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects) == CURLE_OK && connects > 0) {
    connections_.fetch_add(static_cast<uint64_t>(connects), std::memory_order_relaxed);
  }
  curl_slist_free_all(headers);
  // The handle keeps the password until reset: drop it now, keep the connection.
  curl_easy_reset(c);
  ReturnHandle(std::move(handle));

  bytes_sent_.fetch_add(t.uploaded + (method == "POST" ? request.body.size() : 0),
                        std::memory_order_relaxed);
  bytes_received_.fetch_add(reply.body.size(), std::memory_order_relaxed);

  if (t.overflow) {
    return absl::UnavailableError(Cat(Describe(request), ": reply longer than the ",
                                      request.max_reply, " bytes expected"));
  }
  if (rc != CURLE_OK) {
    *retryable = RetryableCurlCode(rc);
    return absl::UnavailableError(Cat(Describe(request), ": ", curl_easy_strerror(rc)));
  }
  reply.http = http;
  reply.etag = std::move(t.etag);
  reply.content_length = t.content_length;
  if (std::find(request.ok_codes.begin(), request.ok_codes.end(), http) !=
      request.ok_codes.end()) {
    return reply;
  }
  *retryable = http >= 500;
  S3Error error = ParseError(
      std::string_view(reinterpret_cast<const char*>(reply.body.data()), reply.body.size()));
  std::string text = Cat(Describe(request), ": HTTP ", http);
  if (!error.code.empty()) text = Cat(text, " ", error.code);
  if (!error.message.empty()) text = Cat(text, ": ", error.message);
  if (!error.request_id.empty()) text = Cat(text, " (request ", error.request_id, ")");
  return absl::Status(CodeOfHttp(http), text);
}

absl::StatusOr<S3Client::Reply> S3Client::Call(const Request& request, absl::Time deadline) {
  absl::Duration backoff = options_.initial_backoff;
  thread_local std::minstd_rand jitter(std::random_device{}());
  for (int attempt = 1;; ++attempt) {
    bool retryable = false;
    absl::StatusOr<Reply> reply = Attempt(request, deadline, &retryable);
    if (reply.ok() || !retryable) return reply;
    // Full jitter: a random wait in [backoff/2, backoff].
    auto half = static_cast<int64_t>(absl::ToInt64Microseconds(backoff) / 2);
    absl::Duration wait =
        absl::Microseconds(half + static_cast<int64_t>(jitter() % static_cast<uint64_t>(half + 1)));
    if (absl::Now() + wait >= deadline) {
      return absl::UnavailableError(Cat(reply.status().message(), " (gave up after ", attempt,
                                        attempt == 1 ? " attempt" : " attempts",
                                        " within the deadline)"));
    }
    retries_.fetch_add(1, std::memory_order_relaxed);
    absl::SleepFor(wait);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

absl::Status S3Client::CreateBucket() {
  Request r;
  r.op = "CreateBucket";
  r.kind = S3RequestKind::kCreateBucket;
  r.method = "PUT";
  r.ok_codes = {200};
  absl::StatusOr<Reply> reply = Call(r, absl::Now() + options_.deadline);
  if (reply.ok()) return absl::OkStatus();
  if (absl::IsAlreadyExists(reply.status()) &&
      absl::StrContains(reply.status().message(), "BucketAlreadyOwnedByYou")) {
    return absl::OkStatus();
  }
  return reply.status();
}

absl::Status S3Client::Put(std::string_view key, std::span<const uint8_t> data) {
  SEALPOOL_RETURN_IF_ERROR(ValidateKey(key));
  absl::Time deadline = absl::Now() + options_.deadline;
  if (data.size() > options_.multipart_threshold) return PutMultipart(key, data, deadline);
  Request r;
  r.op = "PUT";
  r.kind = S3RequestKind::kPut;
  r.method = "PUT";
  r.key = std::string(key);
  r.body = data;
  return Call(r, deadline).status();
}

absl::StatusOr<std::string> S3Client::Initiate(std::string_view key, absl::Time deadline) {
  Request init;
  init.op = "InitiateMultipartUpload";
  init.kind = S3RequestKind::kMultipartInitiate;
  init.method = "POST";
  init.key = std::string(key);
  init.query = "uploads=";
  SEALPOOL_ASSIGN_OR_RETURN(Reply init_reply, Call(init, deadline));
  absl::StatusOr<std::string> upload_id = ParseInitiateMultipartUpload(std::string_view(
      reinterpret_cast<const char*>(init_reply.body.data()), init_reply.body.size()));
  if (!upload_id.ok()) return base::Annotate(upload_id.status(), Describe(init));
  return upload_id;
}

absl::StatusOr<std::string> S3Client::Part(std::string_view key, const std::string& upload_id,
                                           int part_number, std::span<const uint8_t> data,
                                           absl::Time deadline) {
  if (part_number < 1 || static_cast<uint64_t>(part_number) > kMaxParts) {
    return absl::InvalidArgumentError(Cat("S3 UploadPart ", target_.bucket, "/", key, ": part ",
                                          part_number, " is outside 1..", kMaxParts));
  }
  Request part;
  part.op = Cat("UploadPart ", part_number);
  part.kind = S3RequestKind::kMultipartPart;
  part.method = "PUT";
  part.key = std::string(key);
  part.query = Cat("partNumber=", part_number, "&uploadId=", UriEncode(upload_id));
  part.body = data;
  SEALPOOL_ASSIGN_OR_RETURN(Reply reply, Call(part, deadline));
  if (reply.etag.empty()) {
    return absl::UnavailableError(Cat(Describe(part), ": reply without an ETag"));
  }
  return std::move(reply.etag);
}

absl::Status S3Client::Complete(std::string_view key, const std::string& upload_id,
                                const std::vector<std::string>& etags, uint64_t total_size,
                                absl::Time deadline) {
  std::string complete = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < etags.size(); ++i) {
    complete = Cat(complete, "<Part><PartNumber>", i + 1, "</PartNumber><ETag>",
                   XmlEscape(etags[i]), "</ETag></Part>");
  }
  complete += "</CompleteMultipartUpload>";
  Request done;
  done.op = "CompleteMultipartUpload";
  done.kind = S3RequestKind::kMultipartComplete;
  done.method = "POST";
  done.key = std::string(key);
  done.query = Cat("uploadId=", UriEncode(upload_id));
  done.content_type = "application/xml";
  done.body = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(complete.data()),
                                       complete.size());
  absl::StatusOr<Reply> reply = Call(done, deadline);
  if (!reply.ok()) {
    if (absl::IsNotFound(reply.status())) {
      // A retried complete whose first try went through finds its upload gone: the object
      // is there if its size is ours.
      absl::StatusOr<ObjectInfo> info = Head(key);
      if (info.ok() && info->size == total_size) return absl::OkStatus();
    }
    return reply.status();
  }
  absl::StatusOr<std::string> etag = ParseCompleteMultipartUpload(
      std::string_view(reinterpret_cast<const char*>(reply->body.data()), reply->body.size()));
  if (!etag.ok()) return base::Annotate(etag.status(), Describe(done));
  return absl::OkStatus();
}

void S3Client::AbortMultipart(std::string_view key, const std::string& upload_id) {
  Request abort;
  abort.op = "AbortMultipartUpload";
  abort.kind = S3RequestKind::kMultipartAbort;
  abort.method = "DELETE";
  abort.key = std::string(key);
  abort.query = Cat("uploadId=", UriEncode(upload_id));
  abort.ok_codes = {204, 200, 404};
  // Best effort, with a deadline of its own: the upload's deadline may be spent.
  (void)Call(abort, absl::Now() + std::min(options_.deadline, absl::Seconds(10)));
}

absl::StatusOr<std::string> S3Client::InitiateMultipart(std::string_view key) {
  SEALPOOL_RETURN_IF_ERROR(ValidateKey(key));
  return Initiate(key, absl::Now() + options_.deadline);
}

absl::StatusOr<std::string> S3Client::UploadPart(std::string_view key,
                                                 const std::string& upload_id, int part_number,
                                                 std::span<const uint8_t> data) {
  SEALPOOL_RETURN_IF_ERROR(ValidateKey(key));
  return Part(key, upload_id, part_number, data, absl::Now() + options_.deadline);
}

absl::Status S3Client::CompleteMultipart(std::string_view key, const std::string& upload_id,
                                         const std::vector<std::string>& etags,
                                         uint64_t total_size) {
  SEALPOOL_RETURN_IF_ERROR(ValidateKey(key));
  return Complete(key, upload_id, etags, total_size, absl::Now() + options_.deadline);
}

absl::Status S3Client::PutMultipart(std::string_view key, std::span<const uint8_t> data,
                                    absl::Time deadline) {
  uint64_t parts = (data.size() + options_.part_size - 1) / options_.part_size;
  if (parts > kMaxParts) {
    return absl::InvalidArgumentError(Cat("S3 PUT ", target_.bucket, "/", key, ": ", data.size(),
                                          " bytes need more than ", kMaxParts, " parts"));
  }
  SEALPOOL_ASSIGN_OR_RETURN(std::string upload_id, Initiate(key, deadline));
  std::vector<std::string> etags;
  for (uint64_t i = 0; i < parts; ++i) {
    uint64_t begin = i * options_.part_size;
    uint64_t n = std::min<uint64_t>(options_.part_size, data.size() - begin);
    absl::StatusOr<std::string> etag =
        Part(key, upload_id, static_cast<int>(i + 1), data.subspan(begin, n), deadline);
    if (!etag.ok()) {
      AbortMultipart(key, upload_id);
      return etag.status();
    }
    etags.push_back(std::move(*etag));
  }
  absl::Status done = Complete(key, upload_id, etags, data.size(), deadline);
  if (!done.ok()) AbortMultipart(key, upload_id);
  return done;
}

absl::StatusOr<std::vector<uint8_t>> S3Client::Get(std::string_view key, uint64_t offset,
                                                   uint64_t length) {
  SEALPOOL_RETURN_IF_ERROR(ValidateKey(key));
  if (length == 0) return std::vector<uint8_t>();
  if (offset > UINT64_MAX - length) {
    return absl::InvalidArgumentError(Cat("S3 GET ", key, ": range overflows"));
  }
  Request r;
  r.op = "GET";
  r.key = std::string(key);
  r.range = std::make_pair(offset, offset + length - 1);
  r.max_reply = length;
  r.ok_codes = {206, 200};
  SEALPOOL_ASSIGN_OR_RETURN(Reply reply, Call(r, absl::Now() + options_.deadline));
  if (reply.http == 200 && offset != 0) {
    return absl::UnavailableError(
        Cat(Describe(r), ": the store ignored the range (HTTP 200 for bytes from ", offset, ")"));
  }
  return std::move(reply.body);
}

absl::StatusOr<std::vector<uint8_t>> S3Client::GetObject(std::string_view key,
                                                         uint64_t max_size) {
  SEALPOOL_RETURN_IF_ERROR(ValidateKey(key));
  Request r;
  r.op = "GET";
  r.key = std::string(key);
  r.max_reply = max_size;
  SEALPOOL_ASSIGN_OR_RETURN(Reply reply, Call(r, absl::Now() + options_.deadline));
  return std::move(reply.body);
}

absl::StatusOr<ObjectInfo> S3Client::Head(std::string_view key) {
  SEALPOOL_RETURN_IF_ERROR(ValidateKey(key));
  Request r;
  r.op = "HEAD";
  r.kind = S3RequestKind::kHead;
  r.method = "HEAD";
  r.key = std::string(key);
  SEALPOOL_ASSIGN_OR_RETURN(Reply reply, Call(r, absl::Now() + options_.deadline));
  if (!reply.content_length) {
    return absl::UnavailableError(Cat(Describe(r), ": reply without a Content-Length"));
  }
  return ObjectInfo{std::string(key), *reply.content_length, reply.etag};
}

absl::Status S3Client::Delete(std::string_view key) {
  SEALPOOL_RETURN_IF_ERROR(ValidateKey(key));
  Request r;
  r.op = "DELETE";
  r.kind = S3RequestKind::kDelete;
  r.method = "DELETE";
  r.key = std::string(key);
  r.ok_codes = {204, 200, 404};
  return Call(r, absl::Now() + options_.deadline).status();
}

absl::StatusOr<ListPage> S3Client::ListPageOf(std::string_view prefix,
                                              const std::optional<std::string>& token) {
  if (!prefix.empty()) {
    // A prefix is a key's start: the same characters (a trailing '/' is fine).
    std::string probe(prefix);
    if (probe.back() == '/') probe += "x";
    SEALPOOL_RETURN_IF_ERROR(ValidateKey(probe));
  }
  Request r;
  r.op = "ListObjectsV2";
  r.kind = S3RequestKind::kList;
  std::string query;
  if (token) query = Cat("continuation-token=", UriEncode(*token), "&");
  r.query = Cat(query, "list-type=2&max-keys=", options_.max_list_keys, "&prefix=",
                UriEncode(prefix));
  SEALPOOL_ASSIGN_OR_RETURN(Reply reply, Call(r, absl::Now() + options_.deadline));
  absl::StatusOr<ListPage> page = ParseListObjectsV2(
      std::string_view(reinterpret_cast<const char*>(reply.body.data()), reply.body.size()),
      prefix);
  if (!page.ok()) return base::Annotate(page.status(), Describe(r));
  if (page->next_continuation_token && token && *page->next_continuation_token == *token) {
    return absl::UnavailableError(Cat(Describe(r), ": the continuation token did not advance"));
  }
  return page;
}

absl::StatusOr<std::vector<ObjectInfo>> S3Client::List(std::string_view prefix) {
  std::vector<ObjectInfo> all;
  std::optional<std::string> token;
  do {
    SEALPOOL_ASSIGN_OR_RETURN(ListPage page, ListPageOf(prefix, token));
    for (ObjectInfo& o : page.objects) all.push_back(std::move(o));
    token = std::move(page.next_continuation_token);
  } while (token);
  return all;
}

const char* S3RequestKindName(S3RequestKind kind) {
  static constexpr const char* kNames[kS3RequestKinds] = {
      "put",  "get",           "head",           "delete",           "list",
      "create_bucket", "multipart_initiate", "multipart_part", "multipart_complete",
      "multipart_abort"};
  const int i = static_cast<int>(kind);
  return i >= 0 && i < kS3RequestKinds ? kNames[i] : "unknown";
}

uint64_t S3ClientCounters::put_class() const {
  return of(S3RequestKind::kPut) + of(S3RequestKind::kMultipartInitiate) +
         of(S3RequestKind::kMultipartPart) + of(S3RequestKind::kMultipartComplete) +
         of(S3RequestKind::kCreateBucket) + of(S3RequestKind::kList);
}

uint64_t S3ClientCounters::get_class() const {
  return of(S3RequestKind::kGet) + of(S3RequestKind::kHead);
}

S3ClientCounters S3Client::counters() const {
  S3ClientCounters c;
  c.requests = requests_.load();
  c.retries = retries_.load();
  c.bytes_sent = bytes_sent_.load();
  c.bytes_received = bytes_received_.load();
  c.connections = connections_.load();
  for (int i = 0; i < kS3RequestKinds; ++i) c.by_kind[i] = by_kind_[i].load();
  return c;
}

}  // namespace sealpool::storage::s3
