// Parsers of the few XML replies the S3 client reads (pugixml): ListObjectsV2, error bodies,
// InitiateMultipartUpload and CompleteMultipartUpload. Every reply is untrusted input: a
// malformed, truncated or hostile body is a clear error (Unavailable: the store answered
// garbage), never a crash, never a half-filled result.
#ifndef SEALPOOL_STORAGE_S3_S3_XML_H_
#define SEALPOOL_STORAGE_S3_S3_XML_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace sealpool::storage::s3 {

// Replies larger than this are refused before parsing (a listing page of 1000 keys is ~300 KB).
inline constexpr size_t kMaxXmlReplyBytes = 8u << 20;
// Keys longer than S3's limit are refused in replies.
inline constexpr size_t kMaxKeyBytes = 1024;

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  std::string etag;  // as sent, quotes included

  friend bool operator==(const ObjectInfo&, const ObjectInfo&) = default;
};

struct ListPage {
  std::vector<ObjectInfo> objects;
  // Set iff the listing is truncated: pass it as the next request's continuation-token.
  std::optional<std::string> next_continuation_token;
};

struct S3Error {
  std::string code;        // e.g. "NoSuchKey"; empty when the body was not an S3 error
  std::string message;
  std::string request_id;
};

// ListBucketResult of ListObjectsV2. Unavailable for malformed XML, a missing or non-numeric
// Size, a key that is empty or longer than kMaxKeyBytes, IsTruncated true without a
// NextContinuationToken, or a key not under `expected_prefix` (S3 only returns keys under the
// prefix asked for).
[[nodiscard]] absl::StatusOr<ListPage> ParseListObjectsV2(std::string_view body,
                                                         std::string_view expected_prefix);

// An <Error> body. Never fails: whatever cannot be read is left empty (the caller reports the
// HTTP status). Code and message are cut to 200 characters and stripped of control characters,
// so a hostile reply cannot flood or forge log lines.
S3Error ParseError(std::string_view body);

// InitiateMultipartUploadResult: the UploadId. Unavailable when missing, empty or malformed.
[[nodiscard]] absl::StatusOr<std::string> ParseInitiateMultipartUpload(std::string_view body);

// CompleteMultipartUpload answers 200 and may still carry an <Error> (the failure is reported in
// the body): OK with the ETag for a CompleteMultipartUploadResult, the S3 error otherwise
// (Unavailable for InternalError/SlowDown, which may be retried; FailedPrecondition for others),
// Unavailable for malformed XML.
[[nodiscard]] absl::StatusOr<std::string> ParseCompleteMultipartUpload(std::string_view body);

// Escapes text for an XML element (the CompleteMultipartUpload request body).
std::string XmlEscape(std::string_view text);

// Cuts `text` to `max` characters and replaces control characters with '?': for echoing
// anything a server sent into a status message.
std::string Sanitize(std::string_view text, size_t max = 200);

}  // namespace sealpool::storage::s3

#endif  // SEALPOOL_STORAGE_S3_S3_XML_H_
