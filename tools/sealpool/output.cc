#include "tools/sealpool/output.h"

#include <algorithm>
#include <ctime>
#include <map>

#include "tools/sealpool/progress.h"

namespace sealpool::tools::client {

std::string FormatMicros(int64_t unix_micros) {
  if (unix_micros == 0) return "";
  std::time_t t = static_cast<std::time_t>(unix_micros / 1000000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

void ImageJson(const pool::v1::Image& image, JsonWriter& json) {
  json.BeginObject();
  json.Key("lsu").String(image.lsu());
  json.Key("owner").String(image.owner());
  json.Key("name").String(image.name());
  json.Key("image_id").Uint(image.image_id());
  json.Key("size").Uint(image.size());
  json.Key("created").String(FormatMicros(image.created_unix_micros()));
  json.Key("created_unix_micros").Int(image.created_unix_micros());
  json.Key("retain_until");
  if (image.retain_until_unix_micros() == 0) {
    json.Null();
  } else {
    json.String(FormatMicros(image.retain_until_unix_micros()));
  }
  json.Key("retain_until_unix_micros").Int(image.retain_until_unix_micros());
  json.Key("key_group").String(image.key_group());
  json.Key("labels").BeginObject();
  // Sorted, so that the output is stable (a protobuf map has no order).
  std::map<std::string, std::string> labels(image.labels().begin(), image.labels().end());
  for (const auto& [k, v] : labels) json.Key(k).String(v);
  json.EndObject();
  json.EndObject();
}

namespace {

std::string Labels(const pool::v1::Image& image) {
  std::map<std::string, std::string> labels(image.labels().begin(), image.labels().end());
  std::string out;
  for (const auto& [k, v] : labels) {
    if (!out.empty()) out += ",";
    out += k + "=" + v;
  }
  return out.empty() ? "-" : out;
}

}  // namespace

std::string FormatImage(const pool::v1::Image& image) {
  std::string out;
  auto line = [&](const char* key, const std::string& value) {
    out += key;
    out.append(15 - std::string_view(key).size(), ' ');
    out += value + "\n";
  };
  line("lsu:", image.lsu());
  line("name:", image.name());
  line("owner:", image.owner());
  line("image id:", std::to_string(image.image_id()));
  line("size:", std::to_string(image.size()) + " bytes (" + HumanBytes(image.size()) + ")");
  line("created:", FormatMicros(image.created_unix_micros()));
  line("retain until:", image.retain_until_unix_micros() == 0
                            ? "-"
                            : FormatMicros(image.retain_until_unix_micros()));
  line("key group:", image.key_group());
  line("labels:", Labels(image));
  return out;
}

std::string FormatImageTable(const std::vector<pool::v1::Image>& images) {
  std::vector<std::vector<std::string>> rows = {
      {"LSU", "NAME", "SIZE", "CREATED", "RETAIN UNTIL", "LABELS"}};
  for (const auto& i : images) {
    rows.push_back(
        {i.lsu(), i.name(), std::to_string(i.size()), FormatMicros(i.created_unix_micros()),
         i.retain_until_unix_micros() == 0 ? "-" : FormatMicros(i.retain_until_unix_micros()),
         Labels(i)});
  }
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& r : rows) {
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string l;
    for (size_t c = 0; c < r.size(); ++c) {
      l += r[c];
      if (c + 1 < r.size()) l.append(width[c] - r[c].size() + 2, ' ');
    }
    out += l + "\n";
  }
  return out;
}

std::string DescribeFailure(const grpc::Status& status, const std::string& server) {
  const std::string& m = status.error_message();
  auto has = [&](const char* s) { return m.find(s) != std::string::npos; };
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE) {
    if (has("andshake") || has("SSL") || has("ssl") || has("certificate") || has("TLS")) {
      return "the TLS handshake with sealpoold at " + server +
             " failed: check that --ca (ca) is the CA that signed sealpoold's certificate and "
             "that --cert/--key (cert, key) are a client certificate of sealpoold's CA";
    }
    if (has("failed to connect") && (has("Socket closed") || has("onnection reset"))) {
      return "sealpoold at " + server +
             " closed the connection during the TLS handshake: it did not accept this "
             "client's certificate (--cert/--key, or cert and key in the config: a client "
             "certificate signed by sealpoold's CA?)";
    }
    if (has("onnection refused") || has("failed to connect") || has("Failed to connect") ||
        has("DNS resolution failed") || has("No address")) {
      std::string why = has("onnection refused") ? "connection refused" : "no connection";
      return "cannot reach sealpoold at " + server + ": " + why +
             " (is sealpoold running, and is --server (server) its client address?)";
    }
    if (has("Socket closed") || has("Connection reset") || has("Broken pipe") || has("GOAWAY") ||
        has("EOF") || has("closed")) {
      return "the connection to sealpoold at " + server + " broke";
    }
    if (m.empty()) return "sealpoold at " + server + " is unavailable";
    return "sealpoold at " + server + " is unavailable: " + m.substr(0, m.find('\n'));
  }
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return "sealpoold at " + server + " did not answer in time (--timeout)";
  }
  return std::string(StatusCodeName(status.error_code())) + ": " + m.substr(0, m.find('\n'));
}

}  // namespace sealpool::tools::client
