// sealpoold against hostile clients, end to end: garbage on the TLS port, connections cut and
// streams gone idle half way, more streams than allowed, header fields out of bounds, ranges
// past the end, another client's image names, and thousands of seeded random mutations of valid
// messages, sent typed when they still parse and raw (grpc::GenericStub) when they do not.
// Each call gets a status within a deadline, the daemon stays up, nothing unfinished becomes
// visible, Verify is clean afterwards and earlier images restore bit-exact. Every test case
// ends by stopping both daemons (exit 0, no sanitizer report in their logs) and reading their
// logs and audit logs for plaintext, the passphrase and key material.
//
// The certificate cases (none, another CA, expired, CN not in the map), a commit without a
// header, data after the commit, a size mismatch, a cancelled stream and an oversized message
// are in sealpoold_test.cc.
//
// Environment: SEALPOOL_FUZZ_SEED replays a fuzz run; SEALPOOL_FUZZ_COUNT (default 2000) and
// SEALPOOL_FUZZ_SECONDS (default 40) bound it. The ASan job runs this binary under
// AddressSanitizer (packaging/asan-test.sh, docs/testing.md).
#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/logging.h"
#include "test/daemon/sealpoold/sealpoold_test_env.h"

namespace sealpool::test {
namespace {

namespace v1 = pool::v1;
using absl::StatusCode;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

// In the data of every image the tests back up; never in a log.
constexpr std::string_view kMarker = "SEALPOOL-TEST-PLAINTEXT-MARKER-7f3a9c";

std::string MarkedData(size_t size, uint64_t seed) {
  std::vector<uint8_t> r = PseudoRandomBytes(size, seed);
  std::string out(r.begin(), r.end());
  for (size_t at = 0; at + kMarker.size() <= size; at += 4096) {
    out.replace(at, kMarker.size(), kMarker);
  }
  return out;
}

int64_t NowMicros() { return absl::ToUnixMicros(absl::Now()); }

grpc::StatusCode ToGrpcCode(const absl::Status& s) {
  return static_cast<grpc::StatusCode>(s.code());
}

// ---- raw TCP ----

int ConnectLoopback(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

// Closes `fd` with a TCP reset instead of a FIN.
void ResetAndClose(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

// Sends `bytes` on a fresh connection and reads until the server closes it (true) or
// `timeout` passes (false). What the server sent back goes to `reply`.
bool SendRawUntilClosed(int port, std::string_view bytes, milliseconds timeout,
                        std::string* reply) {
  int fd = ConnectLoopback(port);
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may close before it has read everything
    sent += static_cast<size_t>(n);
  }
  const auto give_up = Clock::now() + timeout;
  bool closed = false;
  char buf[4096];
  while (!closed && Clock::now() < give_up) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      closed = true;
    } else {
      reply->append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return closed;
}

// A TLS 1.2 ClientHello record offering one cipher suite and no extensions.
std::string ClientHello(uint64_t seed) {
  std::string body;
  body += "\x03\x03";  // client_version TLS 1.2
  std::vector<uint8_t> random = PseudoRandomBytes(32, seed);
  body.append(random.begin(), random.end());
  body += std::string("\x00", 1);                  // session id: empty
  body += std::string("\x00\x02\xc0\x2f", 4);      // ECDHE-RSA-AES128-GCM-SHA256
  body += std::string("\x01\x00", 2);              // compression: null
  body += std::string("\x00\x00", 2);              // extensions: none
  std::string hs = "\x01";                          // ClientHello
  hs += static_cast<char>(0);
  hs += static_cast<char>((body.size() >> 8) & 0xff);
  hs += static_cast<char>(body.size() & 0xff);
  hs += body;
  std::string rec = "\x16\x03\x01";
  rec += static_cast<char>((hs.size() >> 8) & 0xff);
  rec += static_cast<char>(hs.size() & 0xff);
  return rec + hs;
}

// A TCP proxy on loopback in front of the daemon's port whose connections the test can cut
// (a reset both ways, as when a client host dies or the network drops).
class CutProxy {
 public:
  explicit CutProxy(int target_port) : target_port_(target_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listen_fd_, 16) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Loop(); });
  }
  ~CutProxy() {
    stop_ = true;
    thread_.join();
    for (auto [a, b] : conns_) {
      ::close(a);
      ::close(b);
    }
    ::close(listen_fd_);
  }
  int port() const { return port_; }
  // Resets every connection through the proxy, both sides; returns how many there were.
  size_t Cut() {
    cut_requested_ = true;
    while (cut_requested_) std::this_thread::sleep_for(milliseconds(5));
    return cut_count_;
  }

 private:
  void Loop() {
    char buf[1 << 16];
    while (!stop_) {
      if (cut_requested_) {
        cut_count_ = conns_.size();
        for (auto [a, b] : conns_) {
          ResetAndClose(a);
          ResetAndClose(b);
        }
        conns_.clear();
        cut_requested_ = false;
      }
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (auto [a, b] : conns_) {
        fds.push_back({a, POLLIN, 0});
        fds.push_back({b, POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      // Only the connections polled above have entries in `fds`; a new one joins after them.
      const size_t polled = conns_.size();
      std::vector<std::pair<int, int>> keep;
      for (size_t i = 0; i < polled; ++i) {
        auto [a, b] = conns_[i];
        bool open = true;
        for (auto [from, to, ev] : {std::tuple{a, b, fds[1 + 2 * i].revents},
                                    std::tuple{b, a, fds[2 + 2 * i].revents}}) {
          if (!open || (ev & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
          ssize_t n = ::recv(from, buf, sizeof buf, 0);
          if (n <= 0) {
            open = false;
            break;
          }
          for (ssize_t off = 0; off < n;) {
            ssize_t w = ::send(to, buf + off, static_cast<size_t>(n - off), MSG_NOSIGNAL);
            if (w <= 0) {
              open = false;
              break;
            }
            off += w;
          }
        }
        if (open) {
          keep.emplace_back(a, b);
        } else {
          ::close(a);
          ::close(b);
        }
      }
      if (fds[0].revents & POLLIN) {
        int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client >= 0) keep.emplace_back(client, ConnectLoopback(target_port_));
      }
      conns_ = std::move(keep);
    }
  }

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> cut_requested_{false};
  std::atomic<size_t> cut_count_{0};
  std::vector<std::pair<int, int>> conns_;  // (client, server); only the loop thread uses it
  std::thread thread_;
};

// ---- raw gRPC calls (the server's deserializer sees exactly these bytes) ----

struct RawResult {
  grpc::Status status;
  int responses = 0;
  bool hung = false;  // no event within the deadline plus 10 s
};

RawResult RawCall(grpc::GenericStub& stub, const std::string& method,
                  const std::vector<std::string>& messages, seconds deadline) {
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(deadline));
  RawResult r;
  const auto hard = std::chrono::system_clock::now() + deadline + seconds(10);
  // Waits for the one pending operation; false when it failed (or never completed).
  auto wait = [&]() {
    void* tag = nullptr;
    bool ok = false;
    if (cq.AsyncNext(&tag, &ok, hard) != grpc::CompletionQueue::GOT_EVENT) {
      r.hung = true;
      ctx.TryCancel();
      cq.Next(&tag, &ok);  // the cancelled operation completes now
      return false;
    }
    return ok;
  };
  void* const tag = &r;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call = stub.PrepareCall(&ctx, method, &cq);
  call->StartCall(tag);
  bool open = wait();
  for (const std::string& m : messages) {
    if (!open) break;
    grpc::Slice slice(m.data(), m.size());
    grpc::ByteBuffer buffer(&slice, 1);
    call->Write(buffer, tag);
    open = wait();
  }
  if (open) {
    call->WritesDone(tag);
    wait();
  }
  while (true) {
    grpc::ByteBuffer in;
    call->Read(&in, tag);
    if (!wait()) break;
    ++r.responses;
  }
  call->Finish(&r.status, tag);
  wait();
  cq.Shutdown();
  void* t = nullptr;
  bool ok = false;
  while (cq.Next(&t, &ok)) {
  }
  return r;
}

// ---- the fixture ----

// Admin helpers.
v1::GetStatsResponse Stats(v1::PoolAdmin::Stub& admin) {
  grpc::ClientContext ctx;
  v1::GetStatsResponse out;
  grpc::Status s = admin.GetStats(&ctx, {}, &out);
  INFO(s.error_message());
  REQUIRE(s.ok());
  return out;
}

v1::CheckProgress VerifyAll(v1::PoolAdmin::Stub& admin) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(seconds(120)));
  auto reader = admin.Verify(&ctx, {});
  v1::CheckProgress p, last;
  while (reader->Read(&p)) last = p;
  grpc::Status s = reader->Finish();
  INFO(s.error_message());
  REQUIRE(s.ok());
  return last;
}

v1::ProcessQueueResponse ProcessQueue(v1::PoolAdmin::Stub& admin) {
  grpc::ClientContext ctx;
  v1::ProcessQueueResponse out;
  grpc::Status s = admin.ProcessQueue(&ctx, {}, &out);
  INFO(s.error_message());
  REQUIRE(s.ok());
  return out;
}

// About 200 bytes of `text` around position `at`, for a failure message.
std::string Around(const std::string& text, size_t at) {
  const size_t from = at > 80 ? at - 80 : 0;
  return text.substr(from, 200);
}

// The first run of at least 64 hex digits in `text`, or npos.
size_t FindHexRun(const std::string& text) {
  size_t run = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    run = std::isxdigit(static_cast<unsigned char>(text[i])) ? run + 1 : 0;
    if (run == 64) return i + 1 - 64;
  }
  return std::string::npos;
}

// The first base64 rendering of 32 bytes (43 alphabet characters, then '=') in `text`, or npos.
size_t FindBase64Key(const std::string& text) {
  size_t run = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '=' && run >= 43) return i - run;
    run = (std::isalnum(c) || c == '+' || c == '/' || c == '-' || c == '_') ? run + 1 : 0;
  }
  return std::string::npos;
}

class HostileFixture : public PoolFixture {
 public:
  // idle_timeout_seconds = 2: a stream silent for 2 s is cancelled (also a backstop for the fuzz).
  explicit HostileFixture(const std::string& extra = "[limits]\nidle_timeout_seconds = 2\n")
      : PoolFixture(extra) {}

  // The daemon still runs and serves a backup and a bit-exact restore.
  void RequireServes() {
    REQUIRE(pool().Alive());
    auto alice = pool().Client("alice");
    const std::string name = "probe-" + std::to_string(probes_++);
    const std::string data = MarkedData(50000, 1000 + probes_);
    auto r = Backup(*alice, "lsu1", name, data);
    INFO(r.status());
    REQUIRE(r.ok());
    auto back = Restore(*alice, "lsu1", name);
    REQUIRE(back.ok());
    REQUIRE(*back == data);
    ++images_;
  }

  // Retries a backup of `name` until it succeeds (the server noticed the broken stream and
  // let the name go) or 10 s pass.
  void RequireNameFreed(const std::string& name) {
    auto alice = pool().Client("alice");
    const auto give_up = Clock::now() + seconds(10);
    absl::Status last;
    while (Clock::now() < give_up) {
      last = Backup(*alice, "lsu1", name, "reused").status();
      if (last.ok()) break;
      std::this_thread::sleep_for(milliseconds(100));
    }
    INFO(last);
    REQUIRE(last.ok());
    ++images_;
  }

  // Stops both daemons (each must exit 0 with no sanitizer report) and checks that their logs
  // and audit logs hold no test plaintext, passphrase or key material.
  void StopAndCheckLogs() {
    REQUIRE(pool().Alive());
    CHECK(pool().Stop() == 0);
    CHECK(kms().Stop() == 0);
    std::vector<std::pair<std::string, std::string>> logs = {
        {"sealpoold log", ReadFileOrDie(pool().log_path())},
        {"sealpoold audit log", ReadFileOrDie(pool().audit_path())},
        {"sealkmsd log", ReadFileOrDie(kms().dir() / "sealkmsd.log")},
        {"sealkmsd audit log", ReadFileOrDie(kms().audit_path())}};
    // Key material the test can see: the TLS private keys' base64 lines.
    std::vector<std::string> key_lines;
    for (const auto& entry : std::filesystem::directory_iterator(kms().dir())) {
      if (entry.path().extension() != ".key") continue;
      std::istringstream in(ReadFileOrDie(entry.path()));
      for (std::string line; std::getline(in, line);) {
        if (line.size() >= 32 && line.find("-----") == std::string::npos) key_lines.push_back(line);
      }
    }
    REQUIRE(!key_lines.empty());
    CHECK(!logs[0].second.empty());
    CHECK(!logs[2].second.empty());
    for (const auto& [what, text] : logs) {
      INFO(what);
      for (std::string_view bad :
           {std::string_view("ERROR: AddressSanitizer"), std::string_view("LeakSanitizer"),
            std::string_view("runtime error:"), kMarker, std::string_view("test passphrase"),
            std::string_view("PRIVATE KEY")}) {
        const size_t at = text.find(bad);
        INFO("found \"" << bad << "\": " << (at == std::string::npos ? "" : Around(text, at)));
        CHECK(at == std::string::npos);
      }
      const size_t hex = FindHexRun(text);
      INFO("64 hex digits: " << (hex == std::string::npos ? "" : Around(text, hex)));
      CHECK(hex == std::string::npos);
      const size_t b64 = FindBase64Key(text);
      INFO("base64 of 32 bytes: " << (b64 == std::string::npos ? "" : Around(text, b64)));
      CHECK(b64 == std::string::npos);
      size_t key_hits = 0;
      for (const std::string& line : key_lines) key_hits += text.find(line) != std::string::npos;
      CHECK(key_hits == 0);
    }
  }

 protected:
  uint64_t probes_ = 0;
  uint64_t images_ = 0;  // images this fixture's helpers committed
};

// ---- garbage on the port ----

TEST_CASE_METHOD(HostileFixture, "sealpoold: garbage on the TLS port is dropped and it serves on",
                 "[e2e][sealpoold][hostile]") {
  const int port = pool().port();
  std::string reply;
  // Random bytes (the first is no TLS record type, so the server cannot wait for more).
  std::vector<uint8_t> noise = PseudoRandomBytes(64 << 10, 11);
  noise[0] = 0xff;
  CHECK(SendRawUntilClosed(port, std::string(noise.begin(), noise.end()), seconds(10), &reply));
  // A TLS ClientHello, then garbage where the handshake should go on.
  std::vector<uint8_t> tail = PseudoRandomBytes(4096, 12);
  CHECK(SendRawUntilClosed(port, ClientHello(13) + std::string(tail.begin(), tail.end()),
                           seconds(10), &reply));
  // Plain HTTP/1.1 and a cleartext HTTP/2 preface on the TLS port.
  reply.clear();
  CHECK(SendRawUntilClosed(port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", seconds(10),
                           &reply));
  CHECK(reply.find("HTTP/1") == std::string::npos);  // no HTTP server answers there
  CHECK(SendRawUntilClosed(port,
                           std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
                               std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9),
                           seconds(10), &reply));
  // A ClientHello cut short, and a pile of silent connections, left open while a client works.
  std::vector<int> stalled;
  {
    int fd = ConnectLoopback(port);
    std::string hello = ClientHello(14);
    REQUIRE(::send(fd, hello.data(), hello.size() / 2, MSG_NOSIGNAL) > 0);
    stalled.push_back(fd);
  }
  for (int i = 0; i < 100; ++i) stalled.push_back(ConnectLoopback(port));
  // Connections reset at once.
  for (int i = 0; i < 20; ++i) ResetAndClose(ConnectLoopback(port));
  RequireServes();
  for (int fd : stalled) ::close(fd);

  // The admin API is not served on the client port, whatever the client certificate.
  grpc::GenericStub generic(pool().ClientChannel("alice"));
  for (const char* method : {"/sealpool.pool.v1.PoolAdmin/GetStats",
                             "/sealpool.pool.v1.PoolAdmin/Purge",
                             "/sealpool.pool.v1.PoolService/NoSuchMethod"}) {
    INFO(method);
    RawResult r = RawCall(generic, method, {std::string()}, seconds(10));
    CHECK_FALSE(r.hung);
    CHECK(r.status.error_code() == grpc::UNIMPLEMENTED);
  }
  RequireServes();
  StopAndCheckLogs();
}

// ---- streams that stop half way ----

TEST_CASE_METHOD(HostileFixture, "sealpoold: a connection cut half way through a backup leaves nothing",
                 "[e2e][sealpoold][hostile]") {
  auto admin = pool().Admin();
  CutProxy proxy(pool().port());
  auto via_proxy = v1::PoolService::NewStub(pool().ClientChannel("alice", proxy.port()));
  const std::string data = MarkedData(1 << 20, 21);
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(seconds(30)));
  v1::BackupResponse resp;
  auto stream = via_proxy->Backup(&ctx, &resp);
  v1::BackupRequest m;
  m.mutable_header()->set_lsu("lsu1");
  m.mutable_header()->set_name("cut");
  REQUIRE(stream->Write(m));
  v1::BackupRequest d;
  d.set_data(data);
  for (int i = 0; i < 3; ++i) REQUIRE(stream->Write(d));
  std::this_thread::sleep_for(milliseconds(300));  // let the server take them
  CHECK(proxy.Cut() == 1);
  const grpc::Status fin = stream->Finish();
  INFO(fin.error_message());
  CHECK_FALSE(fin.ok());
  // The name is free again once the server has noticed, and nothing of the cut stream shows.
  RequireNameFreed("cut");
  auto alice = pool().Client("alice");
  auto back = Restore(*alice, "lsu1", "cut");
  REQUIRE(back.ok());
  CHECK(*back == "reused");
  CHECK(ProcessQueue(*admin).jobs_left() == 0);
  CHECK(Stats(*admin).images() == images_);
  RequireServes();
  StopAndCheckLogs();
}

TEST_CASE_METHOD(HostileFixture, "sealpoold: an idle stream is cancelled and leaves nothing visible",
                 "[e2e][sealpoold][hostile]") {
  auto alice = pool().Client("alice");
  auto admin = pool().Admin();
  const auto start = Clock::now();
  SECTION("a backup that never sends its header") {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(seconds(30)));
    v1::BackupResponse resp;
    auto stream = alice->Backup(&ctx, &resp);
    const grpc::Status fin = stream->Finish();
    INFO(fin.error_message());
    CHECK(fin.error_code() == grpc::CANCELLED);
  }
  SECTION("a backup that stops half way") {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(seconds(30)));
    v1::BackupResponse resp;
    auto stream = alice->Backup(&ctx, &resp);
    v1::BackupRequest m;
    m.mutable_header()->set_lsu("lsu1");
    m.mutable_header()->set_name("idle");
    REQUIRE(stream->Write(m));
    v1::BackupRequest d;
    d.set_data(MarkedData(300000, 31));
    REQUIRE(stream->Write(d));
    const grpc::Status fin = stream->Finish();
    INFO(fin.error_message());
    CHECK(fin.error_code() == grpc::CANCELLED);
    CHECK(Restore(*alice, "lsu1", "idle").status().code() == StatusCode::kNotFound);
    RequireNameFreed("idle");
  }
  SECTION("a restore whose reader stops reading") {
    // Large enough that flow control and socket buffers cannot hold it all.
    const std::string block = MarkedData(1 << 20, 32);
    std::string data;
    for (int i = 0; i < 32; ++i) data += block;
    REQUIRE(Backup(*alice, "lsu1", "big", data).ok());
    ++images_;
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(seconds(60)));
    v1::RestoreRequest req;
    req.set_lsu("lsu1");
    req.set_name("big");
    auto reader = alice->Restore(&ctx, req);
    v1::RestoreResponse msg;
    REQUIRE(reader->Read(&msg));
    REQUIRE(msg.has_header());
    std::this_thread::sleep_for(seconds(5));  // silent: idle timeout 2 s, checked every second
    uint64_t received = 0;
    while (reader->Read(&msg)) received += msg.data().size();
    const grpc::Status fin = reader->Finish();
    INFO(fin.error_message());
    CHECK(fin.error_code() == grpc::CANCELLED);
    CHECK(received < data.size());
  }
  CHECK(Clock::now() - start < seconds(30));
  // The housekeeper logs the cancel right after it: the client may see CANCELLED first.
  bool logged = false;
  for (int i = 0; i < 100 && !logged; ++i) {
    logged = pool().Log().find("idle for over 2s") != std::string::npos;
    if (!logged) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(logged);
  CHECK(ProcessQueue(*admin).jobs_left() == 0);
  CHECK(Stats(*admin).images() == images_);
  RequireServes();
  StopAndCheckLogs();
}

// ---- admission ----

class TwoStreamsFixture : public HostileFixture {
 public:
  TwoStreamsFixture() : HostileFixture("[limits]\nmax_streams = 2\nidle_timeout_seconds = 60\n") {}
};

// The status a backup to an LSU alice may not use gets: PERMISSION_DENIED once it has a stream
// slot, RESOURCE_EXHAUSTED when none is free. Nothing is stored either way.
grpc::StatusCode ProbeSlot(v1::PoolService::Stub& stub) {
  return ToGrpcCode(Backup(stub, "lsu-nope", "probe", "x").status());
}

TEST_CASE_METHOD(TwoStreamsFixture,
                 "sealpoold: streams beyond max_streams are refused with RESOURCE_EXHAUSTED",
                 "[e2e][sealpoold][hostile]") {
  auto alice = pool().Client("alice");
  auto bob = pool().Client("bob");
  const std::string data = MarkedData(200000, 41);
  REQUIRE(Backup(*alice, "lsu1", "before", data).ok());
  ++images_;
  CHECK(ProbeSlot(*alice) == grpc::PERMISSION_DENIED);

  // Two backups hold both slots.
  struct Held {
    grpc::ClientContext ctx;
    v1::BackupResponse resp;
    std::unique_ptr<grpc::ClientWriter<v1::BackupRequest>> stream;
  };
  std::vector<std::unique_ptr<Held>> held;
  for (const char* name : {"held-1", "held-2"}) {
    auto h = std::make_unique<Held>();
    h->ctx.set_deadline(DeadlineIn(seconds(60)));
    h->stream = alice->Backup(&h->ctx, &h->resp);
    v1::BackupRequest m;
    m.mutable_header()->set_lsu("lsu1");
    m.mutable_header()->set_name(name);
    REQUIRE(h->stream->Write(m));
    v1::BackupRequest d;
    d.set_data(data);
    REQUIRE(h->stream->Write(d));
    held.push_back(std::move(h));
  }
  // The server registers them as their first messages arrive.
  grpc::StatusCode probe = grpc::OK;
  for (int i = 0; i < 100 && probe != grpc::RESOURCE_EXHAUSTED; ++i) {
    probe = ProbeSlot(*bob);
    if (probe != grpc::RESOURCE_EXHAUSTED) std::this_thread::sleep_for(milliseconds(100));
  }
  REQUIRE(probe == grpc::RESOURCE_EXHAUSTED);
  // Every further stream, backup or restore, of any client, is refused; unary calls go on.
  CHECK(Backup(*alice, "lsu1", "third", data).status().code() == StatusCode::kResourceExhausted);
  CHECK(Backup(*bob, "lsu1", "third", data).status().code() == StatusCode::kResourceExhausted);
  CHECK(Restore(*alice, "lsu1", "before").status().code() == StatusCode::kResourceExhausted);
  {
    grpc::ClientContext ctx;
    v1::ListImagesRequest req;
    req.set_lsu("lsu1");
    v1::ListImagesResponse out;
    CHECK(alice->ListImages(&ctx, req, &out).ok());
  }
  // The held streams finish normally; then the slots are free again.
  for (auto& h : held) {
    v1::BackupRequest c;
    c.mutable_commit()->set_size(data.size());
    REQUIRE(h->stream->Write(c));
    h->stream->WritesDone();
    const grpc::Status fin = h->stream->Finish();
    INFO(fin.error_message());
    CHECK(fin.ok());
    ++images_;
  }
  CHECK(ProbeSlot(*bob) == grpc::PERMISSION_DENIED);
  for (const char* name : {"before", "held-1", "held-2"}) {
    auto back = Restore(*alice, "lsu1", name);
    REQUIRE(back.ok());
    CHECK(*back == data);
  }
  CHECK(Backup(*alice, "lsu1", "third", data).ok());
  ++images_;
  auto admin = pool().Admin();
  CHECK(Stats(*admin).images() == images_);
  StopAndCheckLogs();
}

// ---- header fields ----

// Sends `messages` as one backup stream; the call's status.
grpc::Status SendBackup(v1::PoolService::Stub& stub, const std::vector<v1::BackupRequest>& messages,
                        seconds deadline = seconds(30)) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(deadline));
  v1::BackupResponse resp;
  auto stream = stub.Backup(&ctx, &resp);
  for (const v1::BackupRequest& m : messages) {
    if (!stream->Write(m)) break;
  }
  stream->WritesDone();
  return stream->Finish();
}

// A header, one data message and the commit.
std::vector<v1::BackupRequest> BackupMessages(const v1::BackupHeader& header,
                                              const std::string& data) {
  std::vector<v1::BackupRequest> out(3);
  *out[0].mutable_header() = header;
  out[1].set_data(data);
  out[2].mutable_commit()->set_size(data.size());
  return out;
}

TEST_CASE_METHOD(HostileFixture, "sealpoold: header fields out of bounds are refused and store nothing",
                 "[e2e][sealpoold][hostile]") {
  auto alice = pool().Client("alice");
  auto admin = pool().Admin();
  const std::string data = MarkedData(20000, 51);
  const int64_t day = int64_t{86400} * 1000000;
  struct Case {
    const char* what;
    std::function<void(v1::BackupHeader&)> edit;
    grpc::StatusCode want;
  };
  auto labels = [](int n) {
    return [n](v1::BackupHeader& h) {
      // std::string("v"), not "v": GCC 12 -O3 -Wrestrict false positive on assign(const char*).
      for (int i = 0; i < n; ++i) (*h.mutable_labels())[absl::StrCat("k", i)] = std::string("v");
    };
  };
  auto label = [](std::string k, std::string v) {
    return [k, v](v1::BackupHeader& h) { (*h.mutable_labels())[k] = v; };
  };
  auto name = [](std::string n) { return [n](v1::BackupHeader& h) { h.set_name(n); }; };
  auto lsu = [](std::string l) { return [l](v1::BackupHeader& h) { h.set_lsu(l); }; };
  auto retain = [](int64_t r) {
    return [r](v1::BackupHeader& h) { h.set_retain_until_unix_micros(r); };
  };
  const std::vector<Case> cases = {
      {"an empty name", name(""), grpc::INVALID_ARGUMENT},
      {"a name of 256 bytes", name(std::string(256, 'n')), grpc::INVALID_ARGUMENT},
      {"a name of 1 MiB", name(std::string(1 << 20, 'n')), grpc::INVALID_ARGUMENT},
      {"a name of 255 bytes", name(std::string(255, 'n')), grpc::OK},
      {"a NUL in the name", name(std::string("a\0b", 3)), grpc::INVALID_ARGUMENT},
      {"a newline in the name", name("a\nb"), grpc::INVALID_ARGUMENT},
      {"an escape sequence in the name", name("\x1b[31mred"), grpc::INVALID_ARGUMENT},
      {"DEL in the name", name("a\x7f"), grpc::INVALID_ARGUMENT},
      {"a name starting with '/'", name("/abs"), grpc::INVALID_ARGUMENT},
      {"an empty LSU", lsu(""), grpc::INVALID_ARGUMENT},
      {"an unknown LSU", lsu("lsu9"), grpc::PERMISSION_DENIED},
      {"an LSU with a NUL", lsu(std::string("lsu1\0", 5)), grpc::PERMISSION_DENIED},
      {"an LSU with '..'", lsu("../lsu1"), grpc::PERMISSION_DENIED},
      {"33 labels", labels(33), grpc::INVALID_ARGUMENT},
      {"32 labels", labels(32), grpc::OK},
      {"an empty label key", label("", "v"), grpc::INVALID_ARGUMENT},
      {"a label key of 65 bytes", label(std::string(65, 'k'), "v"), grpc::INVALID_ARGUMENT},
      {"a label key of 64 bytes", label(std::string(64, 'k'), "v"), grpc::OK},
      {"a NUL in a label key", label(std::string("k\0", 2), "v"), grpc::INVALID_ARGUMENT},
      {"a newline in a label key", label("k\n", "v"), grpc::INVALID_ARGUMENT},
      {"a label value of 257 bytes", label("k", std::string(257, 'v')), grpc::INVALID_ARGUMENT},
      {"a label value of 1 MiB", label("k", std::string(1 << 20, 'v')), grpc::INVALID_ARGUMENT},
      {"a label value of 256 bytes", label("k", std::string(256, 'v')), grpc::OK},
      {"an empty label value", label("k", ""), grpc::OK},
      {"a control character in a label value", label("k", "v\r\n"), grpc::INVALID_ARGUMENT},
      {"a negative retention", retain(-1), grpc::INVALID_ARGUMENT},
      {"the smallest retention", retain(std::numeric_limits<int64_t>::min()),
       grpc::INVALID_ARGUMENT},
      {"the largest retention", retain(std::numeric_limits<int64_t>::max()),
       grpc::INVALID_ARGUMENT},
      {"a retention past max_retention", retain(NowMicros() + 3651 * day),
       grpc::INVALID_ARGUMENT},
      {"a retention of one day", retain(NowMicros() + day), grpc::OK},
  };
  uint64_t stored = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& c = cases[i];
    INFO(c.what);
    v1::BackupHeader header;
    header.set_lsu("lsu1");
    header.set_name("h-" + std::to_string(i));
    c.edit(header);
    const grpc::Status s = SendBackup(*alice, BackupMessages(header, data));
    INFO(s.error_message().substr(0, 300));
    CHECK(s.error_code() == c.want);
    CHECK(s.error_message().size() < 2000);  // a refusal does not echo megabytes back
    if (s.ok()) {
      ++stored;
      auto back = Restore(*alice, header.lsu(), header.name());
      REQUIRE(back.ok());
      CHECK(*back == data);
    } else if (header.lsu() == "lsu1" && !header.name().empty()) {
      CHECK(Restore(*alice, "lsu1", header.name()).status().code() != StatusCode::kOk);
    }
  }
  // Stream shape: a second header, and a message with nothing set.
  {
    v1::BackupHeader header;
    header.set_lsu("lsu1");
    header.set_name("two-headers");
    auto msgs = BackupMessages(header, data);
    msgs.insert(msgs.begin() + 2, msgs[0]);
    CHECK(SendBackup(*alice, msgs).error_code() == grpc::INVALID_ARGUMENT);
    header.set_name("empty-message");
    msgs = BackupMessages(header, data);
    msgs.insert(msgs.begin() + 1, v1::BackupRequest());
    CHECK(SendBackup(*alice, msgs).error_code() == grpc::INVALID_ARGUMENT);
    CHECK(Restore(*alice, "lsu1", "two-headers").status().code() == StatusCode::kNotFound);
    CHECK(Restore(*alice, "lsu1", "empty-message").status().code() == StatusCode::kNotFound);
  }
  // Names are catalog keys, not paths: '..' is an ordinary name and nothing lands outside.
  for (const char* dots : {"..", "../../../etc/passwd", "a/../../b", "./."}) {
    INFO(dots);
    v1::BackupHeader header;
    header.set_lsu("lsu1");
    header.set_name(dots);
    const grpc::Status s = SendBackup(*alice, BackupMessages(header, data));
    INFO(s.error_message());
    REQUIRE((s.ok() || s.error_code() == grpc::INVALID_ARGUMENT));
    if (s.ok()) {
      ++stored;
      auto back = Restore(*alice, "lsu1", dots);
      REQUIRE(back.ok());
      CHECK(*back == data);
    }
  }
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_.path())) {
    CHECK(e.path().filename() != "passwd");
    CHECK(e.path().filename() != "b");
  }
  CHECK(ProcessQueue(*admin).jobs_left() == 0);
  CHECK(Stats(*admin).images() == stored);
  CHECK(VerifyAll(*admin).problems_size() == 0);
  RequireServes();
  StopAndCheckLogs();
}

// ---- ranges and pages ----

TEST_CASE_METHOD(HostileFixture, "sealpoold: restore ranges past the end and oversized pages are refused",
                 "[e2e][sealpoold][hostile]") {
  auto alice = pool().Client("alice");
  const std::string data = MarkedData(100000, 61);
  for (const char* n : {"r1", "r2", "r3"}) REQUIRE(Backup(*alice, "lsu1", n, data).ok());
  const uint64_t size = data.size();
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  struct Range {
    uint64_t offset;
    std::optional<uint64_t> length;
    grpc::StatusCode want;
  };
  for (const Range& r : std::vector<Range>{{size, std::nullopt, grpc::OK},
                                           {size, 0, grpc::OK},
                                           {0, 0, grpc::OK},
                                           {size - 1, 1, grpc::OK},
                                           {size + 1, std::nullopt, grpc::INVALID_ARGUMENT},
                                           {size, 1, grpc::INVALID_ARGUMENT},
                                           {0, size + 1, grpc::INVALID_ARGUMENT},
                                           {1, kMax, grpc::INVALID_ARGUMENT},
                                           {kMax, std::nullopt, grpc::INVALID_ARGUMENT},
                                           {kMax, 2, grpc::INVALID_ARGUMENT},
                                           {size / 2, kMax - size / 2 + 1, grpc::INVALID_ARGUMENT}}) {
    INFO("offset " << r.offset << " length " << (r.length ? std::to_string(*r.length) : "unset"));
    auto got = Restore(*alice, "lsu1", "r1", r.offset, r.length);
    INFO(got.status());
    CHECK(ToGrpcCode(got.status()) == r.want);
    if (got.ok()) {
      const uint64_t len = r.length.value_or(size - r.offset);
      CHECK(*got == data.substr(r.offset, len));
    }
  }
  CHECK(Restore(*alice, "", "r1").status().code() == StatusCode::kInvalidArgument);
  CHECK(Restore(*alice, "lsu1", "").status().code() != StatusCode::kOk);
  CHECK(Restore(*alice, "lsu1", "r9").status().code() == StatusCode::kNotFound);

  auto list = [&](uint32_t page_size, const std::string& token, v1::ListImagesResponse* out) {
    grpc::ClientContext ctx;
    v1::ListImagesRequest req;
    req.set_lsu("lsu1");
    req.set_page_size(page_size);
    req.set_page_token(token);
    return alice->ListImages(&ctx, req, out).error_code();
  };
  v1::ListImagesResponse out;
  CHECK(list(10001, "", &out) == grpc::INVALID_ARGUMENT);
  CHECK(list(std::numeric_limits<uint32_t>::max(), "", &out) == grpc::INVALID_ARGUMENT);
  out.Clear();
  CHECK(list(10000, "", &out) == grpc::OK);
  CHECK(out.images_size() == 3);
  // Pages of one walk every image once.
  std::vector<std::string> names;
  std::string token;
  for (int i = 0; i < 5; ++i) {
    out.Clear();
    REQUIRE(list(1, token, &out) == grpc::OK);
    for (const auto& img : out.images()) names.push_back(img.name());
    token = out.next_page_token();
    if (token.empty()) break;
  }
  CHECK(names == std::vector<std::string>{"r1", "r2", "r3"});
  out.Clear();
  CHECK(list(5, std::string(200, '\x7e'), &out) == grpc::OK);
  CHECK(out.images_size() == 0);
  RequireServes();
  StopAndCheckLogs();
}

// ---- another client's image names ----

TEST_CASE_METHOD(HostileFixture, "sealpoold: another client's image names give nothing away",
                 "[e2e][sealpoold][hostile]") {
  auto alice = pool().Client("alice");
  auto bob = pool().Client("bob");
  const std::string data = MarkedData(150000, 71);
  REQUIRE(Backup(*alice, "lsu1", "db-alpha", data).ok());
  REQUIRE(Backup(*alice, "lsu2", "db-alpha", data).ok());
  auto not_found = [](const absl::Status& s) {
    INFO(s);
    CHECK(s.code() == StatusCode::kNotFound);
    CHECK(s.message().find("alice") == std::string_view::npos);
  };
  // Reads, whole or a range (a range past the end must not reveal the size).
  not_found(Restore(*bob, "lsu1", "db-alpha").status());
  not_found(Restore(*bob, "lsu1", "db-alpha", 0, 10).status());
  not_found(Restore(*bob, "lsu1", "db-alpha", uint64_t{1} << 40).status());
  v1::ImageRef ref;
  ref.set_lsu("lsu1");
  ref.set_name("db-alpha");
  {
    grpc::ClientContext ctx;
    v1::Image out;
    not_found(ToAbsl(bob->StatImage(&ctx, ref, &out)));
  }
  // lsu1 forbids client deletes: the refusal is the LSU's policy, the same for a name nobody
  // uses, so it tells nothing about alice's image.
  {
    grpc::ClientContext ctx;
    v1::DeleteImageResponse out;
    absl::Status s = ToAbsl(bob->DeleteImage(&ctx, ref, &out));
    CHECK(s.code() == StatusCode::kFailedPrecondition);
    CHECK(s.message().find("alice") == std::string_view::npos);
    v1::ImageRef nobody = ref;
    nobody.set_name("no-such-image");
    grpc::ClientContext ctx2;
    CHECK(ToAbsl(bob->DeleteImage(&ctx2, nobody, &out)).code() == StatusCode::kFailedPrecondition);
  }
  // lsu2 is not bob's at all: refused before any image is looked at.
  ref.set_lsu("lsu2");
  {
    grpc::ClientContext ctx;
    v1::DeleteImageResponse out;
    CHECK(bob->DeleteImage(&ctx, ref, &out).error_code() == grpc::PERMISSION_DENIED);
  }
  CHECK(Restore(*bob, "lsu2", "db-alpha").status().code() == StatusCode::kPermissionDenied);
  // Listing with page tokens around alice's name shows bob nothing.
  for (const char* token : {"", "db-alph", "db-alpha", "a"}) {
    grpc::ClientContext ctx;
    v1::ListImagesRequest req;
    req.set_lsu("lsu1");
    req.set_page_token(token);
    v1::ListImagesResponse out;
    REQUIRE(bob->ListImages(&ctx, req, &out).ok());
    CHECK(out.images_size() == 0);
    CHECK(out.next_page_token().empty());
  }
  // Alice's images are untouched.
  for (const char* l : {"lsu1", "lsu2"}) {
    auto back = Restore(*alice, l, "db-alpha");
    REQUIRE(back.ok());
    CHECK(*back == data);
  }
  RequireServes();
  StopAndCheckLogs();
}

// Names are per (LSU, owner): a backup under a name another client uses is an image of its own.
TEST_CASE_METHOD(HostileFixture,
                 "sealpoold: a backup under another client's image name does not reveal it",
                 "[e2e][sealpoold][hostile]") {
  auto alice = pool().Client("alice");
  auto bob = pool().Client("bob");
  const std::string a = MarkedData(50000, 81);
  const std::string b = MarkedData(50000, 82);
  REQUIRE(Backup(*alice, "lsu1", "db-alpha", a).ok());
  // Bob's backup is answered as for a name nobody uses, and both images stay their owners'.
  auto r = Backup(*bob, "lsu1", "db-alpha", b);
  INFO(r.status());
  CHECK(r.ok());
  auto back_a = Restore(*alice, "lsu1", "db-alpha");
  REQUIRE(back_a.ok());
  CHECK(*back_a == a);
  auto back_b = Restore(*bob, "lsu1", "db-alpha");
  CHECK((back_b.ok() && *back_b == b));
}

// A refusal must not echo a huge name into the status trailer (over the client's metadata
// limit it would turn into RESOURCE_EXHAUSTED): names are bounded at the edge first.
TEST_CASE_METHOD(HostileFixture, "sealpoold: a refusal of a huge name keeps its status",
                 "[e2e][sealpoold][hostile]") {
  auto alice = pool().Client("alice");
  const std::string huge(100 << 10, 'l');
  auto refused = [](const absl::Status& s) {
    INFO(s.ToString().substr(0, 300));
    CHECK((s.code() == StatusCode::kPermissionDenied || s.code() == StatusCode::kInvalidArgument ||
           s.code() == StatusCode::kNotFound));
  };
  refused(Backup(*alice, huge, "x", "data").status());
  refused(Restore(*alice, "lsu1", huge).status());
  v1::ImageRef ref;
  ref.set_lsu("lsu1");
  ref.set_name(huge);
  grpc::ClientContext ctx;
  v1::Image out;
  refused(ToAbsl(alice->StatImage(&ctx, ref, &out)));
}

// PARKED (daemon bug, reported to the lead): on gRPC's synchronous server a message that does
// not deserialize makes Read return false, exactly like the client's half-close. So bytes that
// are no BackupRequest after the commit are taken for the end of the stream and the image is
// committed, where "a message followed the commit" (INVALID_ARGUMENT, nothing stored) is due
// (ClientService::DoBackup, the Read after kCommit). Found by the fuzz below.
TEST_CASE_METHOD(HostileFixture, "sealpoold: undecodable bytes after the commit store nothing",
                 "[e2e][sealpoold][hostile][.parked][!shouldfail]") {
  v1::BackupHeader header;
  header.set_lsu("lsu1");
  header.set_name("garbage-after-commit");
  std::vector<std::string> bytes;
  for (const v1::BackupRequest& m : BackupMessages(header, MarkedData(10000, 101))) {
    bytes.push_back(m.SerializeAsString());
  }
  bytes.push_back(std::string("\xff\xff\xff", 3));
  grpc::GenericStub raw(pool().ClientChannel("alice"));
  RawResult r = RawCall(raw, "/sealpool.pool.v1.PoolService/Backup", bytes, seconds(10));
  CHECK_FALSE(r.hung);
  CHECK(r.status.error_code() == grpc::INVALID_ARGUMENT);
  auto alice = pool().Client("alice");
  CHECK(Restore(*alice, "lsu1", "garbage-after-commit").status().code() ==
        StatusCode::kNotFound);
}

// PARKED (daemon issue, reported to the lead): with a client's channel still connected (idle,
// no call in flight) SIGTERM takes 5 to 10 s to stop sealpoold, the main thread waiting in
// grpc::Server::ShutdownInternal (sealpoold_main.cc, server->Shutdown); with no client
// connected it takes about 150 ms. It is also why each case here takes up to 10 s longer.
TEST_CASE_METHOD(HostileFixture, "sealpoold: SIGTERM with an idle client connected stops at once",
                 "[e2e][sealpoold][hostile][.parked][!shouldfail]") {
  auto alice = pool().Client("alice");
  REQUIRE(Backup(*alice, "lsu1", "x", "data").ok());
  const auto start = Clock::now();
  CHECK(pool().Stop() == 0);
  CHECK(Clock::now() - start < seconds(3));
}

// ---- seeded mutations of valid messages ----

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

// Byte-level mutations of serialized messages, from one seeded generator.
class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}
  uint64_t Below(uint64_t n) { return n == 0 ? 0 : rng_() % n; }
  bool Percent(uint64_t p) { return Below(100) < p; }
  char Byte() { return static_cast<char>(rng_() & 0xff); }

  std::string Mutate(std::string b) {
    static const std::vector<std::string> kInteresting = {
        std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 10),  // the largest varint
        std::string("\x12\xff\xff\xff\xff\x0f", 6),   // field 2, length 4 GiB
        std::string("\x0a\x80\x80\x80\x80\x08", 6),   // field 1, length 2 GiB
        std::string("\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 12),  // overlong varint
        std::string("\xf8\xff\xff\xff\x0f\x00", 6),   // the largest field number
        std::string("\x0b\x0c", 2),                   // an empty group
        std::string("\x1a\x00", 2),                   // empty field 3
        std::string("\x00", 1)};
    const uint64_t ops = 1 + Below(3);
    for (uint64_t op = 0; op < ops; ++op) {
      const size_t at = Below(b.size() + 1);
      switch (Below(8)) {
        case 0:
          if (!b.empty()) b[at % b.size()] ^= static_cast<char>(1 << Below(8));
          break;
        case 1:
          if (!b.empty()) b[at % b.size()] = Byte();
          break;
        case 2:
          for (uint64_t n = 1 + Below(8); n > 0; --n) b.insert(b.begin() + static_cast<ptrdiff_t>(at), Byte());
          break;
        case 3:
          b.erase(at, 1 + Below(8));
          break;
        case 4:
          b.resize(at);
          break;
        case 5:
          if (!b.empty()) b.insert(at, b.substr(Below(b.size()), 1 + Below(16)));
          break;
        case 6:
          b.insert(at, kInteresting[Below(kInteresting.size())]);
          break;
        default: {
          static constexpr char kValues[] = {'\x00', '\x01', '\x7f', '\x80', '\xff'};
          if (!b.empty()) b[at % b.size()] = kValues[Below(sizeof kValues)];
          break;
        }
      }
    }
    return b;
  }

 private:
  std::mt19937_64 rng_;
};

// What one fuzz call got.
struct FuzzOutcome {
  grpc::Status status;
  bool hung = false;
};

template <typename Message>
bool ParseAll(const std::vector<std::string>& bytes, std::vector<Message>* out) {
  out->clear();
  for (const std::string& b : bytes) {
    Message m;
    if (!m.ParseFromString(b)) return false;
    out->push_back(std::move(m));
  }
  return true;
}

TEST_CASE_METHOD(HostileFixture,
                 "sealpoold: thousands of seeded mutations of valid messages each get a status",
                 "[e2e][sealpoold][hostile][fuzz]") {
  const uint64_t seed = EnvOr("SEALPOOL_FUZZ_SEED", std::random_device()());
  const uint64_t count = EnvOr("SEALPOOL_FUZZ_COUNT", 2000);
  const auto budget = seconds(EnvOr("SEALPOOL_FUZZ_SECONDS", 40));
  std::printf("sealpoold fuzz: seed %llu (replay: SEALPOOL_FUZZ_SEED=%llu), up to %llu "
              "mutations in %llds\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(count), static_cast<long long>(budget.count()));
  std::fflush(stdout);
  INFO("SEALPOOL_FUZZ_SEED=" << seed);

  auto alice = pool().Client("alice");
  auto bob = pool().Client("bob");
  auto admin = pool().Admin();
  // Images that must come through unchanged: in lsu1, which forbids client deletes (the fuzz
  // deletes in lsu2, where they are allowed).
  const std::map<std::pair<std::string, std::string>, std::string> refs = {
      {{"lsu1", "ref-a"}, MarkedData(1500000, 91)},
      {{"lsu1", "ref-b"}, MarkedData(300000, 92)},
      {{"lsu1", "ref-c"}, MarkedData(100000, 93)}};
  for (const auto& [key, data] : refs) REQUIRE(Backup(*alice, key.first, key.second, data).ok());
  REQUIRE(Backup(*bob, "lsu1", "ref-bob", refs.begin()->second).ok());

  grpc::GenericStub raw(pool().ClientChannel("alice"));
  Mutator mut(seed);
  std::map<std::string, int> histogram;  // "<call> <typed|raw> <code>"
  std::vector<std::string> failures;
  const std::set<grpc::StatusCode> allowed = {
      grpc::OK,          grpc::INVALID_ARGUMENT,   grpc::NOT_FOUND,
      grpc::PERMISSION_DENIED, grpc::ALREADY_EXISTS, grpc::FAILED_PRECONDITION,
      grpc::RESOURCE_EXHAUSTED, grpc::OUT_OF_RANGE};
  // gRPC's own answer to a unary or server-streaming request that does not deserialize is
  // INTERNAL with an empty message (grpcpp/impl/codegen/proto_utils.h); a backup stream sees its
  // Read fail and answers INVALID_ARGUMENT. INTERNAL is allowed only for bytes that do not parse.
  const std::vector<std::string> names = {"ref-a", "ref-b", "ref-c", "ref-bob", "fz-1", "fz-2"};
  const auto start = Clock::now();
  google::protobuf::LogSilencer silence;  // invalid UTF-8 in a string field is logged otherwise
  uint64_t done = 0;
  for (uint64_t i = 0; i < count && Clock::now() - start < budget; ++i, ++done) {
    const uint64_t kind = mut.Below(100);
    const std::string lsu = mut.Percent(70) ? "lsu1" : "lsu2";
    std::string call;
    std::vector<std::string> bytes;
    if (kind < 50) {
      call = "Backup";
      v1::BackupRequest h;
      h.mutable_header()->set_lsu(lsu);
      h.mutable_header()->set_name("fz-" + std::to_string(i));
      if (mut.Percent(50)) (*h.mutable_header()->mutable_labels())["host"] = "db1";
      if (mut.Percent(20)) h.mutable_header()->set_retain_until_unix_micros(NowMicros() + 3600000000);
      bytes.push_back(h.SerializeAsString());
      uint64_t size = 0;
      for (uint64_t n = 1 + mut.Below(3); n > 0; --n) {
        v1::BackupRequest d;
        d.set_data(MarkedData(64 + mut.Below(4000), i * 7 + n));
        size += d.data().size();
        bytes.push_back(d.SerializeAsString());
      }
      v1::BackupRequest c;
      c.mutable_commit()->set_size(size);
      bytes.push_back(c.SerializeAsString());
      // Stream shape: a message dropped, repeated or moved.
      if (mut.Percent(10)) bytes.erase(bytes.begin() + static_cast<ptrdiff_t>(mut.Below(bytes.size())));
      if (mut.Percent(10)) {
        const std::string again = bytes[mut.Below(bytes.size())];
        bytes.insert(bytes.begin() + static_cast<ptrdiff_t>(mut.Below(bytes.size() + 1)), again);
      }
    } else if (kind < 75) {
      call = "Restore";
      v1::RestoreRequest r;
      r.set_lsu(lsu);
      r.set_name(names[mut.Below(names.size())]);
      r.set_offset(mut.Below(2000));
      if (mut.Percent(80)) r.set_length(mut.Below(5000));
      bytes.push_back(r.SerializeAsString());
    } else if (kind < 95) {
      call = mut.Percent(60) ? "StatImage" : "DeleteImage";
      v1::ImageRef r;
      r.set_lsu(mut.Percent(80) ? "lsu2" : lsu);
      r.set_name(mut.Percent(50) ? names[mut.Below(names.size())]
                                 : "fz-" + std::to_string(mut.Below(i + 1)));
      bytes.push_back(r.SerializeAsString());
    } else {
      call = "ListImages";
      v1::ListImagesRequest r;
      r.set_lsu(lsu);
      r.set_page_size(static_cast<uint32_t>(mut.Below(20)));
      r.set_page_token("fz-" + std::to_string(mut.Below(i + 1)));
      bytes.push_back(r.SerializeAsString());
    }
    // Mutate one message, sometimes two.
    for (uint64_t n = mut.Percent(20) ? 2 : 1; n > 0; --n) {
      std::string& victim = bytes[mut.Below(bytes.size())];
      victim = mut.Mutate(victim);
    }

    // Typed when every message still parses (and mostly then), raw otherwise.
    FuzzOutcome out;
    bool typed = false;
    bool parses = true;
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(seconds(10)));
    if (call == "Backup") {
      std::vector<v1::BackupRequest> msgs;
      parses = ParseAll(bytes, &msgs);
      if (parses && mut.Percent(70)) {
        typed = true;
        out.status = SendBackup(*alice, msgs, seconds(10));
      }
    } else if (call == "Restore") {
      std::vector<v1::RestoreRequest> msgs;
      parses = ParseAll(bytes, &msgs);
      if (parses && mut.Percent(70)) {
        typed = true;
        auto reader = alice->Restore(&ctx, msgs[0]);
        v1::RestoreResponse m;
        while (reader->Read(&m)) {
        }
        out.status = reader->Finish();
      }
    } else if (call == "StatImage" || call == "DeleteImage") {
      std::vector<v1::ImageRef> msgs;
      parses = ParseAll(bytes, &msgs);
      if (parses && mut.Percent(70)) {
        typed = true;
        v1::Image img;
        v1::DeleteImageResponse del;
        out.status = call == "StatImage" ? alice->StatImage(&ctx, msgs[0], &img)
                                         : alice->DeleteImage(&ctx, msgs[0], &del);
      }
    } else {
      std::vector<v1::ListImagesRequest> msgs;
      parses = ParseAll(bytes, &msgs);
      if (parses && mut.Percent(70)) {
        typed = true;
        v1::ListImagesResponse lr;
        out.status = alice->ListImages(&ctx, msgs[0], &lr);
      }
    }
    if (!typed) {
      RawResult r = RawCall(raw, "/sealpool.pool.v1.PoolService/" + call, bytes, seconds(10));
      out.status = r.status;
      out.hung = r.hung;
    }
    const grpc::StatusCode code = out.status.error_code();
    const char* how = typed ? " typed " : parses ? " raw " : " unparsable ";
    ++histogram[call + how + std::to_string(static_cast<int>(code))];
    const bool ok = !out.hung && (allowed.contains(code) ||
                                  (!parses && code == grpc::INTERNAL && out.status.error_message().empty()));
    if (!ok && failures.size() < 20) {
      failures.push_back("mutation " + std::to_string(i) + " (" + call + how +
                         "): " + (out.hung ? "no status within the deadline; " : "") + "code " +
                         std::to_string(static_cast<int>(code)) + " " + out.status.error_message());
    }
    if (i % 100 == 99) {
      INFO("after mutation " << i);
      REQUIRE(pool().Alive());
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("sealpoold fuzz: %llu mutations in %.1fs (seed %llu)\n",
              static_cast<unsigned long long>(done), elapsed, static_cast<unsigned long long>(seed));
  for (const auto& [k, n] : histogram) std::printf("  %-28s %d\n", k.c_str(), n);
  std::fflush(stdout);
  for (const std::string& f : failures) {
    INFO(f);
    CHECK(false);
  }
  REQUIRE(pool().Alive());
  CHECK(done >= std::min<uint64_t>(count, 200));

  // Afterwards: a clean Verify, an empty queue, and every earlier image bit-exact.
  const v1::CheckProgress verify = VerifyAll(*admin);
  CHECK(verify.finished());
  for (const std::string& p : verify.problems()) {
    INFO(p);
    CHECK(false);
  }
  CHECK(ProcessQueue(*admin).jobs_left() == 0);
  for (const auto& [key, data] : refs) {
    auto back = Restore(*alice, key.first, key.second);
    INFO(key.first << "/" << key.second << ": " << back.status());
    REQUIRE(back.ok());
    CHECK(*back == data);
  }
  auto back_bob = Restore(*bob, "lsu1", "ref-bob");
  REQUIRE(back_bob.ok());
  CHECK(*back_bob == refs.begin()->second);
  RequireServes();
  StopAndCheckLogs();
}

}  // namespace
}  // namespace sealpool::test
