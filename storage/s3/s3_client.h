// A small S3 client: the requests the S3 LSU needs, signed with AWS signature V4 by libcurl
// (CURLOPT_AWS_SIGV4), replies parsed with pugixml (s3_xml.h). Tested against Ceph's RADOS
// Gateway (test/storage/s3/). docs/s3.md describes how the LSU uses it.
//
//   SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes secret, ReadSecretKeyFile(path));
//   SEALPOOL_ASSIGN_OR_RETURN(auto client, S3Client::Create(target, std::move(secret), {}));
//   SEALPOOL_RETURN_IF_ERROR(client->Put("pool/abc", bytes));
//   SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint8_t> part, client->Get("pool/abc", 4096, 512));
//
// Requests: PUT (one request up to multipart_threshold, multipart above it: initiate, parts of
// part_size, complete; an upload that fails is aborted), ranged GET, HEAD, DELETE, ListObjectsV2
// (prefix, continuation), bucket create. Every PUT carries the hex SHA-256 of its body in
// x-amz-content-sha256 (S3 requires the header; Debian's curl 7.88 does not add it), so the store
// checks the bytes it received; other requests send the empty body's hash.
//
// Retries: each operation has a deadline (options.deadline). An attempt that fails with an HTTP
// 5xx, a timeout, or a broken connection (refused, reset, closed early, short body) is retried
// after an exponential backoff with jitter, while the deadline allows; every other failure
// (4xx, a malformed reply) is returned at once. All requests are idempotent (a retried PUT
// writes the same bytes again; a retried multipart complete that finds its upload gone checks
// the object's size instead).
//
// Errors: NotFound (404), PermissionDenied (403), OutOfRange (416), AlreadyExists (409),
// FailedPrecondition (412 and other refusals), InvalidArgument (400, or a bad key or target),
// Unavailable (5xx, transport failures, malformed replies, deadline exceeded), each naming the
// operation, bucket, key, HTTP status and the store's error code and request id, never the
// credentials.
//
// Credentials: the secret key comes from a file (ReadSecretKeyFile) or a systemd credential,
// never argv or a config file; it is held in SecretBytes (wiped on destruction). libcurl copies
// it into its own heap while it signs a request (freed, not wiped, by libcurl). Nothing here
// logs; curl's verbose mode is never turned on.
//
// Thread safety: thread-safe; concurrent calls use separate curl handles from a pool (their
// connections are kept alive and reused).
#ifndef SEALPOOL_STORAGE_S3_S3_CLIENT_H_
#define SEALPOOL_STORAGE_S3_S3_CLIENT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "crypto/secure_memory.h"
#include "storage/s3/s3_xml.h"

namespace sealpool::storage::s3 {

// Where the objects go: everything but the secret key.
struct S3Target {
  std::string endpoint;           // "http://127.0.0.1:7480" or "https://s3.example.net" (no path)
  std::string bucket;             // 3-63 of [a-z0-9.-]
  std::string region = "us-east-1";
  bool path_style = true;         // endpoint/bucket/key; false: bucket.endpoint-host/key
  std::string ca_file;            // PEM bundle for https; empty: the system's CAs
  std::string access_key_id;
};

struct S3ClientOptions {
  absl::Duration deadline = absl::Seconds(60);         // per operation, retries included
  absl::Duration attempt_timeout = absl::Seconds(30);  // per request
  absl::Duration connect_timeout = absl::Seconds(5);
  absl::Duration initial_backoff = absl::Milliseconds(20);
  absl::Duration max_backoff = absl::Seconds(2);
  uint64_t multipart_threshold = 64ull << 20;  // a Put above this goes multipart
  uint64_t part_size = 16ull << 20;            // >= 5 MiB (S3's minimum for all but the last)
  size_t max_list_keys = 1000;                 // keys per ListObjectsV2 page (1..1000)
};

// What a request is, for the counters (what a cloud bills per request).
enum class S3RequestKind : int {
  kPut = 0,           // PUT of a whole object
  kGet,               // GET (ranged or whole)
  kHead,
  kDelete,
  kList,              // ListObjectsV2 page
  kCreateBucket,
  kMultipartInitiate,
  kMultipartPart,     // UploadPart
  kMultipartComplete,
  kMultipartAbort,
};
inline constexpr int kS3RequestKinds = 10;
// "put", "get", "head", "delete", "list", "create_bucket", "multipart_initiate",
// "multipart_part", "multipart_complete", "multipart_abort" (metric label values).
const char* S3RequestKindName(S3RequestKind kind);

// Request counters since Create (for "requests per stored GiB"; docs/s3.md "Requests").
struct S3ClientCounters {
  uint64_t requests = 0;  // attempts sent, retries included
  uint64_t retries = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  // New TCP (or TLS) connections opened (curl's CURLINFO_NUM_CONNECTS); the rest of the
  // requests reused a kept-alive connection of the client's handle pool.
  uint64_t connections = 0;
  // Attempts sent, by kind (retries included; they sum to `requests`).
  uint64_t by_kind[kS3RequestKinds] = {};
  uint64_t of(S3RequestKind kind) const { return by_kind[static_cast<int>(kind)]; }
  // PUT-class (put, multipart initiate/part/complete, create bucket, list: what S3 bills as
  // "PUT, COPY, POST, LIST") and GET-class (get, head) requests.
  uint64_t put_class() const;
  uint64_t get_class() const;
};

// Reads a secret key file: the whole file, one trailing newline removed. InvalidArgument when it
// is empty, longer than 256 bytes, or holds control characters; NotFound / PermissionDenied
// when it cannot be read. The error names the path, never the content.
[[nodiscard]] absl::StatusOr<crypto::SecretBytes> ReadSecretKeyFile(const std::string& path);

// Checks an object key: 1..1024 bytes of [A-Za-z0-9._/-], no leading '/', no "//", no "." or
// ".." segment (the keys the LSU makes; anything else would need encoding rules the signer and
// the store might disagree on).
[[nodiscard]] absl::Status ValidateKey(std::string_view key);
// "%2F"-style encoding of every byte but the unreserved A-Za-z0-9-_.~ (SigV4's rule).
std::string UriEncode(std::string_view text);

class S3Client {
 public:
  // InvalidArgument for a malformed endpoint, bucket name, region, empty access key or secret,
  // or options out of range.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<S3Client>> Create(
      S3Target target, crypto::SecretBytes secret_key, S3ClientOptions options);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // Creates the bucket; OK if it exists and is ours.
  [[nodiscard]] absl::Status CreateBucket();
  // Stores `data` under `key` (replacing any object there).
  [[nodiscard]] absl::Status Put(std::string_view key, std::span<const uint8_t> data);
  // `length` bytes from `offset` (fewer at the end of the object). OutOfRange when offset is at
  // or past the end of a non-empty object.
  // A multipart upload in steps (the S3 store streams a container's parts while it grows):
  // initiate (the upload id), parts numbered from 1 (each >= 5 MiB but the last; the part's
  // ETag), complete (the object appears whole, `total_size` bytes; a retried complete that finds
  // the upload gone accepts an object of that size), abort (best effort, its own short
  // deadline). Each call has the client's deadline; every request is counted by its kind.
  [[nodiscard]] absl::StatusOr<std::string> InitiateMultipart(std::string_view key);
  [[nodiscard]] absl::StatusOr<std::string> UploadPart(std::string_view key,
                                                       const std::string& upload_id,
                                                       int part_number,
                                                       std::span<const uint8_t> data);
  [[nodiscard]] absl::Status CompleteMultipart(std::string_view key, const std::string& upload_id,
                                               const std::vector<std::string>& etags,
                                               uint64_t total_size);
  void AbortMultipart(std::string_view key, const std::string& upload_id);

  [[nodiscard]] absl::StatusOr<std::vector<uint8_t>> Get(std::string_view key, uint64_t offset,
                                                         uint64_t length);
  // The whole object (at most max_size bytes: Unavailable if it is larger).
  [[nodiscard]] absl::StatusOr<std::vector<uint8_t>> GetObject(std::string_view key,
                                                               uint64_t max_size);
  [[nodiscard]] absl::StatusOr<ObjectInfo> Head(std::string_view key);
  // OK also when there is no such object (S3's DELETE is idempotent).
  [[nodiscard]] absl::Status Delete(std::string_view key);
  // One ListObjectsV2 page of keys under `prefix` (may be empty), after `continuation_token`.
  [[nodiscard]] absl::StatusOr<ListPage> ListPageOf(std::string_view prefix,
                                                    const std::optional<std::string>& token);
  // Every key under `prefix`, in the store's order (UTF-8 binary order on S3 and radosgw).
  [[nodiscard]] absl::StatusOr<std::vector<ObjectInfo>> List(std::string_view prefix);

  S3ClientCounters counters() const;
  const S3Target& target() const { return target_; }

 private:
  struct Request;
  struct Reply;
  struct Handle;

  S3Client(S3Target target, crypto::SecretBytes secret_key, S3ClientOptions options);

  std::string UrlOf(std::string_view key, std::string_view query) const;
  std::string Describe(const Request& request) const;
  // One attempt. `retryable` says whether a failure may be retried.
  absl::StatusOr<Reply> Attempt(const Request& request, absl::Time deadline, bool* retryable);
  // Attempts with backoff until success, a final failure or the deadline.
  absl::StatusOr<Reply> Call(const Request& request, absl::Time deadline);
  absl::Status PutMultipart(std::string_view key, std::span<const uint8_t> data,
                            absl::Time deadline);
  absl::StatusOr<std::string> Initiate(std::string_view key, absl::Time deadline);
  absl::StatusOr<std::string> Part(std::string_view key, const std::string& upload_id,
                                   int part_number, std::span<const uint8_t> data,
                                   absl::Time deadline);
  absl::Status Complete(std::string_view key, const std::string& upload_id,
                        const std::vector<std::string>& etags, uint64_t total_size,
                        absl::Time deadline);

  std::unique_ptr<Handle> TakeHandle();
  void ReturnHandle(std::unique_ptr<Handle> handle);

  const S3Target target_;
  const crypto::SecretBytes secret_;  // NUL-terminated, for CURLOPT_PASSWORD
  const S3ClientOptions options_;
  std::string sigv4_;                 // "aws:amz:REGION:s3"

  absl::Mutex handles_mu_;
  std::vector<std::unique_ptr<Handle>> idle_handles_ ABSL_GUARDED_BY(handles_mu_);

  std::atomic<uint64_t> requests_{0};
  std::atomic<uint64_t> retries_{0};
  std::atomic<uint64_t> bytes_sent_{0};
  std::atomic<uint64_t> bytes_received_{0};
  std::atomic<uint64_t> connections_{0};
  std::atomic<uint64_t> by_kind_[kS3RequestKinds] = {};
};

}  // namespace sealpool::storage::s3

#endif  // SEALPOOL_STORAGE_S3_S3_CLIENT_H_
