// The S3 client's reply parsers against well-formed, malformed and hostile XML.
#include "storage/s3/s3_xml.h"

#include <string>

#include <catch2/catch.hpp>

namespace sealpool::storage::s3 {
namespace {

constexpr const char* kHead =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>";

std::string Contents(const std::string& key, const std::string& size) {
  return "<Contents><Key>" + key + "</Key><Size>" + size +
         "</Size><ETag>&quot;abc&quot;</ETag></Contents>";
}

TEST_CASE("ListObjectsV2: keys / sizes / etags and the continuation token", "[s3][xml]") {
  std::string body = std::string(kHead) + Contents("p/a", "0") +
                     Contents("p/b", "18446744073709551615") +
                     "<IsTruncated>true</IsTruncated>"
                     "<NextContinuationToken>tok+/=</NextContinuationToken></ListBucketResult>";
  auto page = ParseListObjectsV2(body, "p/");
  REQUIRE(page.ok());
  REQUIRE(page->objects.size() == 2);
  CHECK(page->objects[0] == ObjectInfo{"p/a", 0, "\"abc\""});
  CHECK(page->objects[1].size == UINT64_MAX);
  CHECK(page->next_continuation_token == "tok+/=");

  auto last = ParseListObjectsV2(std::string(kHead) + "<IsTruncated>false</IsTruncated>"
                                                      "</ListBucketResult>",
                                 "p/");
  REQUIRE(last.ok());
  CHECK(last->objects.empty());
  CHECK_FALSE(last->next_continuation_token.has_value());
}

TEST_CASE("ListObjectsV2: malformed and hostile replies are Unavailable and never half-read",
          "[s3][xml]") {
  const std::string tail = "<IsTruncated>false</IsTruncated></ListBucketResult>";
  struct Case {
    const char* what;
    std::string body;
    const char* message;
  };
  const Case cases[] = {
      {"empty", "", "empty body"},
      {"not XML", "HTTP/1.1 200 OK", "XML error"},
      {"truncated", std::string(kHead) + Contents("p/a", "1").substr(0, 20), "XML error"},
      {"wrong root", "<Error><Code>x</Code></Error>", "root element is <Error>"},
      {"negative size", std::string(kHead) + Contents("p/a", "-1") + tail, "has Size '-1'"},
      {"size overflow", std::string(kHead) + Contents("p/a", "18446744073709551616") + tail,
       "has Size"},
      {"size not a number", std::string(kHead) + Contents("p/a", "12abc") + tail, "has Size"},
      {"size missing",
       std::string(kHead) + "<Contents><Key>p/a</Key></Contents>" + tail, "has no Size"},
      {"key missing", std::string(kHead) + "<Contents><Size>1</Size></Contents>" + tail,
       "without a Key"},
      {"key outside the prefix", std::string(kHead) + Contents("q/a", "1") + tail,
       "not under the prefix"},
      {"key too long", std::string(kHead) + Contents("p/" + std::string(2000, 'a'), "1") + tail,
       "a key of 2002 bytes"},
      {"truncated without token",
       std::string(kHead) + "<IsTruncated>true</IsTruncated></ListBucketResult>",
       "without a usable NextContinuationToken"},
      {"IsTruncated garbage",
       std::string(kHead) + "<IsTruncated>yes</IsTruncated></ListBucketResult>",
       "IsTruncated is 'yes'"},
      {"IsTruncated missing", std::string(kHead) + "</ListBucketResult>", "no IsTruncated"},
      {"two Size elements",
       std::string(kHead) + "<Contents><Key>p/a</Key><Size>1</Size><Size>2</Size></Contents>" +
           tail,
       "has no Size"},
      {"oversized", std::string(kHead) + std::string(kMaxXmlReplyBytes, ' ') + tail,
       "more than the"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    auto page = ParseListObjectsV2(c.body, "p/");
    REQUIRE(absl::IsUnavailable(page.status()));
    CHECK_THAT(std::string(page.status().message()), Catch::Contains(c.message));
  }
}

TEST_CASE("ListObjectsV2: entities are never expanded (no billion laughs)", "[s3][xml]") {
  auto page = ParseListObjectsV2(
      "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b "
      "\"&a;&a;&a;&a;&a;&a;&a;&a;\">]><ListBucketResult>" +
          Contents("p/&b;", "1") + "<IsTruncated>false</IsTruncated></ListBucketResult>",
      "p/");
  REQUIRE(page.ok());
  REQUIRE(page->objects.size() == 1);
  CHECK(page->objects[0].key == "p/&b;");
}

TEST_CASE("error bodies: code / message / request id sanitized", "[s3][xml]") {
  S3Error e = ParseError(
      "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>gone\r\nFAKE LOG "
      "LINE</Message><RequestId>tx1</RequestId></Error>");
  CHECK(e.code == "NoSuchKey");
  CHECK(e.message == "gone?FAKE LOG LINE");  // XML folds CR LF to LF
  CHECK(e.request_id == "tx1");
  CHECK(ParseError(std::string(100000, 'x')).code.empty());
  CHECK(ParseError("<Error><Code>" + std::string(5000, 'A') + "</Code></Error>").code.size() ==
        203);
  CHECK(ParseError("<NotError/>").code.empty());
  CHECK(ParseError("").code.empty());
  CHECK(ParseError("<Error><Code>x").code.empty());
}

TEST_CASE("multipart replies: upload id and errors inside a 200 complete", "[s3][xml]") {
  auto id = ParseInitiateMultipartUpload(
      "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>2~abc</UploadId>"
      "</InitiateMultipartUploadResult>");
  REQUIRE(id.ok());
  CHECK(*id == "2~abc");
  CHECK(absl::IsUnavailable(
      ParseInitiateMultipartUpload("<InitiateMultipartUploadResult><UploadId></UploadId>"
                                   "</InitiateMultipartUploadResult>")
          .status()));
  CHECK(absl::IsUnavailable(ParseInitiateMultipartUpload("<x/>").status()));

  auto ok = ParseCompleteMultipartUpload(
      "<CompleteMultipartUploadResult><ETag>\"e-2\"</ETag></CompleteMultipartUploadResult>");
  REQUIRE(ok.ok());
  CHECK(*ok == "\"e-2\"");
  auto internal = ParseCompleteMultipartUpload(
      "<Error><Code>InternalError</Code><Message>try again</Message></Error>");
  CHECK(absl::IsUnavailable(internal.status()));
  auto refused = ParseCompleteMultipartUpload(
      "<Error><Code>InvalidPart</Code><Message>bad etag</Message></Error>");
  CHECK(absl::IsFailedPrecondition(refused.status()));
  CHECK_THAT(std::string(refused.status().message()), Catch::Contains("InvalidPart: bad etag"));
  CHECK(absl::IsUnavailable(ParseCompleteMultipartUpload("<<<").status()));
}

TEST_CASE("XmlEscape and Sanitize", "[s3][xml]") {
  CHECK(XmlEscape("a<b>&\"'") == "a&lt;b&gt;&amp;&quot;&apos;");
  CHECK(Sanitize("ab\x01\x7f", 10) == "ab??");
  CHECK(Sanitize("abcdef", 3) == "abc...");
}

}  // namespace
}  // namespace sealpool::storage::s3
