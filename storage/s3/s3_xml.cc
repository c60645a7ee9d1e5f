#include "storage/s3/s3_xml.h"

#include <charconv>
#include <string>
#include <system_error>

#include <pugixml.hpp>

#include "absl/status/status.h"
#include "base/strings.h"

namespace sealpool::storage::s3 {
namespace {

using base::Cat;

absl::Status Garbage(std::string_view what, std::string_view why) {
  return absl::UnavailableError(Cat("S3 ", what, " reply is malformed: ", why));
}

// Parses `body` into `doc`; the root element must be `root`.
absl::StatusOr<pugi::xml_node> Load(pugi::xml_document& doc, std::string_view body,
                                    std::string_view what, const char* root) {
  if (body.size() > kMaxXmlReplyBytes) {
    return Garbage(what, Cat(body.size(), " bytes, more than the ", kMaxXmlReplyBytes,
                             " accepted"));
  }
  if (body.empty()) return Garbage(what, "empty body");
  pugi::xml_parse_result result =
      doc.load_buffer(body.data(), body.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!result) {
    return Garbage(what, Cat("XML error at byte ", result.offset, ": ", result.description()));
  }
  pugi::xml_node node = doc.document_element();
  if (std::string_view(node.name()) != root) {
    return Garbage(what, Cat("root element is <", Sanitize(node.name(), 64), ">, not <", root,
                             ">"));
  }
  return node;
}

// The text of the only child element `name`, nullopt when absent.
std::optional<std::string_view> ChildText(pugi::xml_node node, const char* name) {
  pugi::xml_node child = node.child(name);
  if (!child) return std::nullopt;
  if (child.next_sibling(name)) return std::nullopt;  // ambiguous: treated as absent
  return std::string_view(child.child_value());
}

std::optional<uint64_t> ParseU64(std::string_view text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

std::string Sanitize(std::string_view text, size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max));
  for (char c : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  return out;
}

absl::StatusOr<ListPage> ParseListObjectsV2(std::string_view body,
                                            std::string_view expected_prefix) {
  constexpr std::string_view kWhat = "ListObjectsV2";
  pugi::xml_document doc;
  auto root = Load(doc, body, kWhat, "ListBucketResult");
  if (!root.ok()) return root.status();
  ListPage page;
  for (pugi::xml_node c = root->child("Contents"); c; c = c.next_sibling("Contents")) {
    std::optional<std::string_view> key = ChildText(c, "Key");
    if (!key || key->empty()) return Garbage(kWhat, "an entry without a Key");
    if (key->size() > kMaxKeyBytes) {
      return Garbage(kWhat, Cat("a key of ", key->size(), " bytes"));
    }
    if (!key->starts_with(expected_prefix)) {
      return Garbage(kWhat, Cat("key '", Sanitize(*key, 120), "' is not under the prefix '",
                                Sanitize(expected_prefix, 120), "'"));
    }
    std::optional<std::string_view> size_text = ChildText(c, "Size");
    if (!size_text) return Garbage(kWhat, Cat("key '", Sanitize(*key, 120), "' has no Size"));
    std::optional<uint64_t> size = ParseU64(*size_text);
    if (!size) {
      return Garbage(kWhat, Cat("key '", Sanitize(*key, 120), "' has Size '",
                                Sanitize(*size_text, 40), "'"));
    }
    ObjectInfo info;
    info.key = std::string(*key);
    info.size = *size;
    info.etag = std::string(ChildText(c, "ETag").value_or(""));
    page.objects.push_back(std::move(info));
  }
  std::optional<std::string_view> truncated = ChildText(*root, "IsTruncated");
  if (!truncated) return Garbage(kWhat, "no IsTruncated");
  if (*truncated == "true") {
    std::optional<std::string_view> token = ChildText(*root, "NextContinuationToken");
    if (!token || token->empty() || token->size() > 4096) {
      return Garbage(kWhat, "IsTruncated without a usable NextContinuationToken");
    }
    page.next_continuation_token = std::string(*token);
  } else if (*truncated != "false") {
    return Garbage(kWhat, Cat("IsTruncated is '", Sanitize(*truncated, 40), "'"));
  }
  return page;
}

S3Error ParseError(std::string_view body) {
  S3Error error;
  if (body.empty() || body.size() > kMaxXmlReplyBytes) return error;
  pugi::xml_document doc;
  if (!doc.load_buffer(body.data(), body.size(), pugi::parse_default, pugi::encoding_utf8)) {
    return error;
  }
  pugi::xml_node root = doc.document_element();
  if (std::string_view(root.name()) != "Error") return error;
  error.code = Sanitize(ChildText(root, "Code").value_or(""));
  error.message = Sanitize(ChildText(root, "Message").value_or(""));
  error.request_id = Sanitize(ChildText(root, "RequestId").value_or(""), 100);
  return error;
}

absl::StatusOr<std::string> ParseInitiateMultipartUpload(std::string_view body) {
  constexpr std::string_view kWhat = "InitiateMultipartUpload";
  pugi::xml_document doc;
  auto root = Load(doc, body, kWhat, "InitiateMultipartUploadResult");
  if (!root.ok()) return root.status();
  std::optional<std::string_view> id = ChildText(*root, "UploadId");
  if (!id || id->empty() || id->size() > 1024) return Garbage(kWhat, "no usable UploadId");
  return std::string(*id);
}

absl::StatusOr<std::string> ParseCompleteMultipartUpload(std::string_view body) {
  constexpr std::string_view kWhat = "CompleteMultipartUpload";
  S3Error error = ParseError(body);
  if (!error.code.empty()) {
    std::string text = Cat("S3 CompleteMultipartUpload failed: ", error.code, ": ", error.message,
                           " (request ", error.request_id, ")");
    if (error.code == "InternalError" || error.code == "SlowDown" ||
        error.code == "ServiceUnavailable") {
      return absl::UnavailableError(text);
    }
    return absl::FailedPreconditionError(text);
  }
  pugi::xml_document doc;
  auto root = Load(doc, body, kWhat, "CompleteMultipartUploadResult");
  if (!root.ok()) return root.status();
  return std::string(ChildText(*root, "ETag").value_or(""));
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

}  // namespace sealpool::storage::s3
