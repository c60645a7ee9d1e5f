// The S3 client against a hostile HTTP server on loopback (cpp-httplib): retries only on 5xx and
// broken connections, within the deadline; replies that break the rules are refused; what a
// request carries (payload hash, signature, never the secret). Input checks of the client's
// entry points. The real store: s3_radosgw_test.cc.
#include "storage/s3/s3_client.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <openssl/evp.h>

#include "test/test_util.h"

namespace sealpool::storage::s3 {
namespace {

constexpr const char* kSecret = "SeCrEtKeY0123456789abcdefghijklmnopqrstu";

crypto::SecretBytes Secret(std::string_view s = kSecret) {
  auto b = crypto::SecretBytes::Allocate(s.size());
  REQUIRE(b.ok());
  std::copy(s.begin(), s.end(), b->mutable_span().begin());
  return std::move(*b);
}

// An HTTP server on a free loopback port; `handler` answers every request.
class HostileServer {
 public:
  explicit HostileServer(
      std::function<void(const httplib::Request&, httplib::Response&)> handler) {
    auto h = [this, handler](const httplib::Request& req, httplib::Response& res) {
      ++requests;
      handler(req, res);
    };
    server_.Get(".*", h);
    server_.Put(".*", h);
    server_.Post(".*", h);
    server_.Delete(".*", h);
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // bind_to_any_port also listens: connections wait in the backlog until the loop runs.
  }
  ~HostileServer() {
    server_.stop();
    thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::atomic<int> requests{0};

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

std::unique_ptr<S3Client> ClientFor(const std::string& endpoint, S3ClientOptions options = {}) {
  S3Target t;
  t.endpoint = endpoint;
  t.bucket = "bucket";
  t.access_key_id = "AKIDTEST";
  auto c = S3Client::Create(t, Secret(), options);
  REQUIRE(c.ok());
  return std::move(*c);
}

S3ClientOptions Fast() {
  S3ClientOptions o;
  o.deadline = absl::Seconds(5);
  o.initial_backoff = absl::Milliseconds(1);
  o.max_backoff = absl::Milliseconds(20);
  return o;
}

std::string Sha256Hex(const std::string& s) {
  unsigned char d[32];
  unsigned int n = 0;
  REQUIRE(EVP_Digest(s.data(), s.size(), d, &n, EVP_sha256(), nullptr) == 1);
  return test::ToHex(std::vector<uint8_t>(d, d + n));
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST_CASE("a PUT carries the body's SHA-256 and a SigV4 signature but never the secret",
          "[s3][client]") {
  std::string seen_hash, seen_auth, seen_all_headers, seen_body, seen_path;
  HostileServer server([&](const httplib::Request& req, httplib::Response& res) {
    seen_hash = req.get_header_value("x-amz-content-sha256");
    seen_auth = req.get_header_value("Authorization");
    for (const auto& [k, v] : req.headers) seen_all_headers += k + ": " + v + "\n";
    seen_body = req.body;
    seen_path = req.path;
    res.status = 200;
  });
  auto client = ClientFor(server.endpoint(), Fast());
  const std::string body = "container bytes";
  REQUIRE(client->Put("pool/obj", Bytes(body)).ok());
  CHECK(seen_path == "/bucket/pool/obj");
  CHECK(seen_body == body);
  CHECK(seen_hash == Sha256Hex(body));
  CHECK_THAT(seen_auth, Catch::StartsWith("AWS4-HMAC-SHA256 Credential=AKIDTEST/"));
  CHECK_THAT(seen_auth, Catch::Contains("/us-east-1/s3/aws4_request"));
  CHECK_THAT(seen_auth, Catch::Contains("x-amz-content-sha256"));
  CHECK(seen_all_headers.find(kSecret) == std::string::npos);
}

TEST_CASE("5xx is retried until it succeeds and a 4xx is returned at once", "[s3][client]") {
  std::atomic<int> failures_left{2};
  HostileServer server([&](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/bucket/forbidden") {
      res.status = 403;
      res.set_content("<Error><Code>AccessDenied</Code><RequestId>tx9</RequestId></Error>",
                      "application/xml");
      return;
    }
    if (failures_left-- > 0) {
      res.status = 503;
      res.set_content("<Error><Code>SlowDown</Code></Error>", "application/xml");
      return;
    }
    res.status = 200;
  });
  auto client = ClientFor(server.endpoint(), Fast());
  REQUIRE(client->Put("k", Bytes("x")).ok());
  CHECK(server.requests == 3);
  CHECK(client->counters().retries == 2);
  CHECK(client->counters().of(S3RequestKind::kPut) == 3);  // every attempt counted by kind

  absl::Status denied = client->Put("forbidden", Bytes("x"));
  CHECK(absl::IsPermissionDenied(denied));
  CHECK_THAT(std::string(denied.message()),
             Catch::Contains("S3 PUT bucket/forbidden: HTTP 403 AccessDenied (request tx9)"));
  CHECK(server.requests == 4);  // not retried
}

TEST_CASE("a store that keeps failing: Unavailable once the deadline is spent", "[s3][client]") {
  HostileServer server([&](const httplib::Request&, httplib::Response& res) { res.status = 500; });
  S3ClientOptions o = Fast();
  o.deadline = absl::Milliseconds(300);
  auto client = ClientFor(server.endpoint(), o);
  auto start = std::chrono::steady_clock::now();
  absl::Status s = client->Delete("k");
  auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(absl::IsUnavailable(s));
  CHECK_THAT(std::string(s.message()), Catch::Contains("HTTP 500"));
  CHECK_THAT(std::string(s.message()), Catch::Contains("within the deadline"));
  CHECK(server.requests > 2);
  CHECK(elapsed < std::chrono::seconds(3));
}

TEST_CASE("connection refused is retried within the deadline and then Unavailable",
          "[s3][client]") {
  // A port nobody listens on: bind, read it back, close.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  S3ClientOptions o = Fast();
  o.deadline = absl::Milliseconds(200);
  auto client = ClientFor("http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)), o);
  absl::Status s = client->Put("k", Bytes("x"));
  CHECK(absl::IsUnavailable(s));
  CHECK_THAT(std::string(s.message()), Catch::Contains("Couldn't connect"));
  CHECK(client->counters().retries >= 1);
}

TEST_CASE("hostile replies are refused: too long / range ignored / listing that does not advance",
          "[s3][client]") {
  HostileServer server([&](const httplib::Request& req, httplib::Response& res) {
    if (req.path == "/bucket/long") {
      res.status = 206;
      res.set_content(std::string(100, 'x'), "application/octet-stream");
    } else if (req.path == "/bucket/norange") {
      res.status = 200;
      res.set_content(std::string(10, 'y'), "application/octet-stream");
    } else if (req.path == "/bucket/" || req.path == "/bucket") {
      res.status = 200;
      res.set_content(
          "<ListBucketResult><IsTruncated>true</IsTruncated>"
          "<NextContinuationToken>same</NextContinuationToken></ListBucketResult>",
          "application/xml");
    } else if (req.path == "/bucket/garbage-error") {
      res.status = 404;
      res.set_content("not xml \x01\x02", "text/plain");
    }
  });
  auto client = ClientFor(server.endpoint(), Fast());
  // (httplib cuts a 206 body to the Range asked, so the overflow is shown without one.)
  auto long_reply = client->GetObject("long", 10);
  CHECK(absl::IsUnavailable(long_reply.status()));
  CHECK_THAT(std::string(long_reply.status().message()), Catch::Contains("longer than the 10"));

  auto ignored = client->Get("norange", 4, 2);
  CHECK(absl::IsUnavailable(ignored.status()));
  CHECK_THAT(std::string(ignored.status().message()), Catch::Contains("ignored the range"));
  auto from_zero = client->Get("norange", 0, 20);  // 200 for a range from 0: the whole object
  REQUIRE(from_zero.ok());
  CHECK(from_zero->size() == 10);

  auto listing = client->List("");
  CHECK(absl::IsUnavailable(listing.status()));
  CHECK_THAT(std::string(listing.status().message()), Catch::Contains("did not advance"));

  auto missing = client->Head("garbage-error");
  CHECK(absl::IsNotFound(missing.status()));
}

TEST_CASE("bad targets / keys / options are InvalidArgument", "[s3][client]") {
  auto make = [](S3Target t, S3ClientOptions o = {}) {
    return S3Client::Create(std::move(t), Secret(), o).status();
  };
  S3Target good{"http://127.0.0.1:1", "bucket", "us-east-1", true, "", "AKID"};
  CHECK(make(good).ok());
  for (const char* ep : {"127.0.0.1:80", "ftp://x", "http://", "http://h/path", "http://u@h",
                         "http://h?x"}) {
    S3Target t = good;
    t.endpoint = ep;
    INFO(ep);
    CHECK(absl::IsInvalidArgument(make(t)));
  }
  for (const char* b : {"ab", "UPPER", "a_b", "-ab", std::string(64, 'a').c_str()}) {
    S3Target t = good;
    t.bucket = b;
    INFO(b);
    CHECK(absl::IsInvalidArgument(make(t)));
  }
  S3Target t = good;
  t.region = "us east";
  CHECK(absl::IsInvalidArgument(make(t)));
  t = good;
  t.access_key_id = "";
  CHECK(absl::IsInvalidArgument(make(t)));
  t.access_key_id = "a:b";
  CHECK(absl::IsInvalidArgument(make(t)));
  CHECK(absl::IsInvalidArgument(S3Client::Create(good, crypto::SecretBytes(), {}).status()));
  S3ClientOptions o;
  o.part_size = 1 << 20;
  CHECK(absl::IsInvalidArgument(make(good, o)));

  for (const char* k : {"", "/a", "a//b", "a/../b", "..", "a/.", "a b", "a?b", "a%2F", "é"}) {
    INFO(k);
    CHECK(absl::IsInvalidArgument(ValidateKey(k)));
  }
  CHECK(absl::IsInvalidArgument(ValidateKey(std::string(1025, 'a'))));
  CHECK(ValidateKey("pool-1/c/00000001.spc").ok());
  CHECK(UriEncode("a/b+c=~") == "a%2Fb%2Bc%3D~");
}

TEST_CASE("the secret key file is trimmed / bounded / checked and never echoed", "[s3][client]") {
  test::TempDir dir;
  auto write = [&](const std::string& name, const std::string& content) {
    std::ofstream(dir.File(name), std::ios::binary) << content;
    return dir.File(name);
  };
  auto ok = ReadSecretKeyFile(write("ok", "abc123\n"));
  REQUIRE(ok.ok());
  CHECK(std::string(ok->span().begin(), ok->span().end()) == "abc123");
  auto crlf = ReadSecretKeyFile(write("crlf", "abc123\r\n"));
  REQUIRE(crlf.ok());
  CHECK(crlf->size() == 6);

  CHECK(absl::IsNotFound(ReadSecretKeyFile(dir.File("absent")).status()));
  auto empty = ReadSecretKeyFile(write("empty", "\n"));
  CHECK(absl::IsInvalidArgument(empty.status()));
  CHECK_THAT(std::string(empty.status().message()), Catch::Contains("is empty"));
  auto long_one = ReadSecretKeyFile(write("long", std::string(300, 'k')));
  CHECK(absl::IsInvalidArgument(long_one.status()));
  CHECK_THAT(std::string(long_one.status().message()), Catch::Contains("longer than 256"));
  auto spaced = ReadSecretKeyFile(write("spaced", "SECRETPART1 SECRETPART2"));
  CHECK(absl::IsInvalidArgument(spaced.status()));
  CHECK_THAT(std::string(spaced.status().message()), !Catch::Contains("SECRETPART"));
  CHECK(absl::IsInvalidArgument(ReadSecretKeyFile(write("nl", "a\nb")).status()));
}

}  // namespace
}  // namespace sealpool::storage::s3
