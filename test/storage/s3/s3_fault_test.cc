// Faults of the S3 LSU at the pool level, against a real radosgw (issue 16, "Faults"): radosgw
// stopped in the middle of a backup (the commit fails with Unavailable once the client's
// deadline is spent, or completes when radosgw comes back in time), radosgw restarted during a
// backup and during a restore, and a slow store (a delaying TCP proxy between the client and
// radosgw). After each: every committed image restores bit-exact, also from a pool reopened
// from a fresh listing of the bucket.
//
// The deadlines here are short (a few seconds) so that a failure costs seconds; waits are on
// conditions (the client's retry counter, radosgw answering), never fixed sleeps. The proxy's
// delay is the fault injected, not a wait.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/synchronization/mutex.h"
#include "storage/pool/pool.h"
#include "storage/s3/s3_container_store.h"
#include "test/storage/pool/pool_test_util.h"
#include "test/storage/s3/ceph_fixture.h"

namespace sealpool::storage {
namespace {

using s3::S3Client;
using s3::S3ClientOptions;
using s3::S3ContainerStore;
using test::CephS3;
using testing::ImageContent;
using testing::kTestLsu;
using testing::PoolFixture;
using testing::SmallPoolOptions;

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Short deadlines: a stopped radosgw costs a few seconds, not the production minute.
S3ClientOptions ShortDeadlines(absl::Duration deadline) {
  S3ClientOptions o;
  o.deadline = deadline;
  o.attempt_timeout = std::min(deadline, absl::Seconds(2));
  o.connect_timeout = absl::Milliseconds(500);
  o.initial_backoff = absl::Milliseconds(10);
  o.max_backoff = absl::Milliseconds(200);
  return o;
}

std::unique_ptr<S3Client> ClientAt(const CephS3& ceph, const std::string& endpoint,
                                   const std::string& bucket, S3ClientOptions options) {
  auto secret = s3::ReadSecretKeyFile(ceph.secret_key_file());
  REQUIRE(secret.ok());
  s3::S3Target target = ceph.Target(bucket);
  target.endpoint = endpoint;
  auto client = S3Client::Create(target, std::move(*secret), options);
  REQUIRE(client.ok());
  return std::move(*client);
}

// Pool options whose container store is an S3ContainerStore over `*client` (the pointer is read
// at each open, so a test can swap the client between opens).
PoolOptions S3PoolOptions(std::unique_ptr<S3Client>* client) {
  PoolOptions options = SmallPoolOptions();
  options.containers.target_size = 256 << 10;
  options.container_store = [client](const Id128& pool_id,
                                     std::function<absl::StatusOr<uint64_t>()> allocate)
      -> absl::StatusOr<std::unique_ptr<ContainerStore>> {
    s3::S3ContainerStoreOptions o;
    o.containers.target_size = 256 << 10;
    o.cache_block_bytes = 64 << 10;
    o.read_cache_bytes = 1 << 20;  // small: restores really read the bucket
    auto store = S3ContainerStore::Open(client->get(), "lsu/", pool_id, o, std::move(allocate));
    if (!store.ok()) return store.status();
    return std::unique_ptr<ContainerStore>(std::move(*store));
  };
  return options;
}

void RequireRestores(PoolFixture& f, const std::string& name, const std::vector<uint8_t>& want) {
  auto got = f.ReadAll(name);
  INFO(name << ": " << got.status());
  REQUIRE(got.ok());
  INFO(testing::DescribeMismatch(*got, want));
  CHECK(*got == want);
}

// Waits (polling a condition, bounded by 60 s) until the client has retried `n` more times
// than `since`: the operation in flight met the fault. No Catch macros (also run on a thread
// of the test's own): false on timeout.
bool WaitForRetries(const S3Client& client, uint64_t since, uint64_t n) {
  const auto limit = Clock::now() + std::chrono::seconds(60);
  while (client.counters().retries < since + n) {
    if (Clock::now() >= limit) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// ceph-rgw.sh DIR start, without Catch macros (for a thread of the test's own): its exit code.
int StartRgwNoAssert(const CephS3& ceph) {
  const std::string cmd = std::string(SEALPOOL_CEPH_SCRIPTS_DIR) + "/ceph-rgw.sh " + ceph.dir() +
                          " start 60 >/dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

// A TCP proxy on 127.0.0.1 between the client and radosgw that holds every chunk it forwards
// (either way) for `delay` before passing it on: a slow store or a slow network.
class SlowProxy {
 public:
  explicit SlowProxy(uint16_t upstream_port) : upstream_port_(upstream_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(listen_fd_ >= 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(listen_fd_, 64) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }
  ~SlowProxy() {
    stop_ = true;
    ::shutdown(listen_fd_, SHUT_RDWR);
    acceptor_.join();
    {
      absl::MutexLock lock(&mu_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : pumps_) t.join();
    for (int fd : fds_) ::close(fd);
    ::close(listen_fd_);
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void set_delay(std::chrono::milliseconds d) { delay_ms_ = d.count(); }
  uint64_t chunks() const { return chunks_; }

 private:
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      int upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(upstream_port_);
      if (upstream < 0 || ::connect(upstream, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(client);
        if (upstream >= 0) ::close(upstream);
        continue;
      }
      absl::MutexLock lock(&mu_);
      fds_.push_back(client);
      fds_.push_back(upstream);
      pumps_.emplace_back([this, client, upstream] { Pump(client, upstream); });
      pumps_.emplace_back([this, client, upstream] { Pump(upstream, client); });
    }
  }
  void Pump(int from, int to) {
    std::vector<char> buffer(16 << 10);
    while (true) {
      ssize_t n = ::read(from, buffer.data(), buffer.size());
      if (n <= 0) break;
      ++chunks_;
      const int64_t d = delay_ms_;
      if (d > 0) std::this_thread::sleep_for(std::chrono::milliseconds(d));  // the fault
      ssize_t done = 0;
      while (done < n) {
        ssize_t w = ::send(to, buffer.data() + done, static_cast<size_t>(n - done), MSG_NOSIGNAL);
        if (w <= 0) break;
        done += w;
      }
      if (done < n) break;
    }
    ::shutdown(to, SHUT_WR);
    ::shutdown(from, SHUT_RD);
  }

  const uint16_t upstream_port_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> delay_ms_{0};
  std::atomic<uint64_t> chunks_{0};
  std::thread acceptor_;
  absl::Mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> pumps_;
};

ImageRequest Request(const std::string& name) {
  ImageRequest r;
  r.lsu = kTestLsu;
  r.name = name;
  return r;
}

uint16_t PortOf(const std::string& endpoint) {
  return static_cast<uint16_t>(std::stoi(endpoint.substr(endpoint.rfind(':') + 1)));
}

TEST_CASE("S3 faults: radosgw stopped mid-backup - the commit fails Unavailable after the deadline and nothing committed is lost",
          "[s3][pool][fault]") {
  CephS3& ceph = CephS3::Get();
  const std::string bucket = CephS3::NewBucketName();
  ceph.Client(bucket);  // creates it
  const absl::Duration deadline = absl::Seconds(3);
  std::unique_ptr<S3Client> client = ClientAt(ceph, ceph.endpoint(), bucket,
                                              ShortDeadlines(deadline));
  PoolFixture f(S3PoolOptions(&client));

  const std::vector<uint8_t> gen1 = ImageContent({11, 2'000'000});
  const std::vector<uint8_t> gen2 = ImageContent({12, 2'000'000});
  REQUIRE(f.WriteImage("gen1", gen1).ok());

  // gen2: most of it written (several containers uploaded on the way), then radosgw stops.
  auto writer = f.pool().BeginImage(Request("gen2"));
  REQUIRE(writer.ok());
  const size_t cut = gen2.size() * 3 / 4;
  REQUIRE((*writer)->Write(std::span(gen2).first(cut)).ok());
  const uint64_t puts_before_stop = client->counters().of(s3::S3RequestKind::kPut);
  CHECK(puts_before_stop > 1);  // containers of gen1 and of gen2's first part are in the bucket
  ceph.StopRgw();
  const auto start = Clock::now();
  absl::Status wrote = (*writer)->Write(std::span(gen2).subspan(cut));
  absl::Status committed = wrote.ok() ? (*writer)->Commit().status() : wrote;
  const double took = SecondsSince(start);
  INFO(committed << " after " << took << " s");
  // Exactly: Unavailable, the client gave up within its deadline, the container named lost.
  REQUIRE(absl::IsUnavailable(committed));
  CHECK_THAT(std::string(committed.message()), Catch::Contains("within the deadline"));
  CHECK_THAT(std::string(committed.message()), Catch::Contains("was not stored"));
  // Not before the deadline (refused connections are retried until it is spent) and not much
  // after it: at most the uploads of this writer's open containers, one deadline each (a full
  // container sealed while writing and the one the commit seals), plus the last backoff.
  CHECK(took >= absl::ToDoubleSeconds(deadline) - 0.3);
  CHECK(took <= 2 * absl::ToDoubleSeconds(deadline) + 2.0);
  (*writer)->Abort();
  writer->reset();

  // Nothing acknowledged lost; gen2 does not exist; radosgw back: gen2 written again.
  ceph.StartRgw();
  RequireRestores(f, "gen1", gen1);
  CHECK(absl::IsNotFound(f.ReadAll("gen2").status()));
  auto again = f.WriteImage("gen2", gen2);
  INFO(again.status());
  REQUIRE(again.ok());
  RequireRestores(f, "gen2", gen2);

  // A pool reopened from a fresh listing of the bucket reads both; Verify sees no damage.
  f.Reopen();
  RequireRestores(f, "gen1", gen1);
  RequireRestores(f, "gen2", gen2);
  auto verify = f.pool().Verify();
  REQUIRE(verify.ok());
  CHECK(verify->ok());
}

TEST_CASE("S3 faults: radosgw stopped mid-backup and back within the deadline - the commit completes",
          "[s3][pool][fault]") {
  CephS3& ceph = CephS3::Get();
  const std::string bucket = CephS3::NewBucketName();
  ceph.Client(bucket);
  std::unique_ptr<S3Client> client = ClientAt(ceph, ceph.endpoint(), bucket,
                                              ShortDeadlines(absl::Seconds(60)));
  PoolFixture f(S3PoolOptions(&client));

  const std::vector<uint8_t> gen1 = ImageContent({21, 1'500'000});
  const std::vector<uint8_t> gen2 = ImageContent({22, 1'500'000});
  REQUIRE(f.WriteImage("gen1", gen1).ok());
  auto writer = f.pool().BeginImage(Request("gen2"));
  REQUIRE(writer.ok());
  REQUIRE((*writer)->Write(std::span(gen2).first(gen2.size() / 2)).ok());
  ceph.StopRgw();
  // radosgw comes back once the commit has met the stopped store (the client retried twice).
  const uint64_t retries = client->counters().retries;
  std::atomic<bool> met_fault{false};
  std::atomic<int> started{-1};
  std::thread restarter([&] {
    met_fault = WaitForRetries(*client, retries, 2);
    started = StartRgwNoAssert(ceph);
  });
  absl::Status wrote = (*writer)->Write(std::span(gen2).subspan(gen2.size() / 2));
  auto info = wrote.ok() ? (*writer)->Commit() : absl::StatusOr<ImageInfo>(wrote);
  restarter.join();
  CHECK(met_fault);
  REQUIRE(started == 0);
  INFO(info.status());
  REQUIRE(info.ok());
  CHECK(client->counters().retries >= retries + 2);
  writer->reset();
  RequireRestores(f, "gen1", gen1);
  RequireRestores(f, "gen2", gen2);
  f.Reopen();
  RequireRestores(f, "gen1", gen1);
  RequireRestores(f, "gen2", gen2);
}

TEST_CASE("S3 faults: radosgw stopped while a streamed container sends its parts - the commit fails Unavailable and the container never appears",
          "[s3][pool][fault]") {
  CephS3& ceph = CephS3::Get();
  const std::string bucket = CephS3::NewBucketName();
  auto lister = ceph.Client(bucket);
  const absl::Duration deadline = absl::Seconds(3);
  std::unique_ptr<S3Client> client = ClientAt(ceph, ceph.endpoint(), bucket,
                                              ShortDeadlines(deadline));
  // Big containers, streamed in 5 MiB parts: an image of 14 MiB sends parts while it is
  // written.
  PoolOptions options = SmallPoolOptions();
  options.containers.target_size = 64 << 20;
  options.commit_every_extents = 1 << 20;  // one batch: the commit is the only sync
  options.container_store = [&client](const Id128& pool_id,
                                      std::function<absl::StatusOr<uint64_t>()> allocate)
      -> absl::StatusOr<std::unique_ptr<ContainerStore>> {
    s3::S3ContainerStoreOptions o;
    o.containers.target_size = 64 << 20;
    o.stream_part_bytes = 5 << 20;
    auto store = S3ContainerStore::Open(client.get(), "lsu/", pool_id, o, std::move(allocate));
    if (!store.ok()) return store.status();
    return std::unique_ptr<ContainerStore>(std::move(*store));
  };
  PoolFixture f(options);
  const std::vector<uint8_t> gen1 = ImageContent({51, 3'000'000});
  REQUIRE(f.WriteImage("gen1", gen1).ok());
  // Container objects only: the lost container's intent (written before its upload began) and
  // the commit records are objects of the pool's folder too.
  const std::string containers = "lsu/sealpool-" + f.pool().pool_id_hex() + "/containers/";
  const auto objects_before = lister->List(containers);
  REQUIRE(objects_before.ok());

  // gen2: random bytes (incompressible), so its container passes 5 MiB and a part leaves
  // before radosgw stops.
  const std::vector<uint8_t> gen2 = ::sealpool::test::PseudoRandomBytes(14 << 20, 52);
  auto writer = f.pool().BeginImage(Request("gen2"));
  REQUIRE(writer.ok());
  // Written until the first part's thread has sent its first request (the initiate).
  const auto initiated0 = client->counters().of(s3::S3RequestKind::kMultipartInitiate);
  size_t at = 0;
  const auto limit = Clock::now() + std::chrono::seconds(60);
  while (client->counters().of(s3::S3RequestKind::kMultipartInitiate) == initiated0) {
    REQUIRE(at < gen2.size() * 3 / 4);
    REQUIRE(Clock::now() < limit);
    REQUIRE((*writer)->Write(std::span(gen2).subspan(at, 256 << 10)).ok());
    at += 256 << 10;
  }
  ceph.StopRgw();
  const auto start = Clock::now();
  absl::Status wrote = (*writer)->Write(std::span(gen2).subspan(at));
  absl::Status committed = wrote.ok() ? (*writer)->Commit().status() : wrote;
  const double took = SecondsSince(start);
  INFO(committed << " after " << took << " s");
  REQUIRE(absl::IsUnavailable(committed));
  CHECK_THAT(std::string(committed.message()), Catch::Contains("within the deadline"));
  CHECK_THAT(std::string(committed.message()), Catch::Contains("was not stored"));
  // The part on its way, then the tail or the complete: each within one deadline.
  CHECK(took <= 3 * absl::ToDoubleSeconds(deadline) + 3.0);
  (*writer)->Abort();
  writer->reset();
  ceph.StartRgw();

  // The lost container never became an object; gen1 intact; gen2 written again.
  auto objects_after = lister->List(containers);
  REQUIRE(objects_after.ok());
  CHECK(objects_after->size() == objects_before->size());
  RequireRestores(f, "gen1", gen1);
  CHECK(absl::IsNotFound(f.ReadAll("gen2").status()));
  auto again = f.WriteImage("gen2", gen2);
  INFO(again.status());
  REQUIRE(again.ok());
  f.Reopen();
  RequireRestores(f, "gen1", gen1);
  RequireRestores(f, "gen2", gen2);
}

TEST_CASE("S3 faults: radosgw restarted during a backup and during a restore - both complete bit-exact",
          "[s3][pool][fault]") {
  CephS3& ceph = CephS3::Get();
  const std::string bucket = CephS3::NewBucketName();
  ceph.Client(bucket);
  std::unique_ptr<S3Client> client = ClientAt(ceph, ceph.endpoint(), bucket,
                                              ShortDeadlines(absl::Seconds(60)));
  PoolFixture f(S3PoolOptions(&client));
  const std::vector<uint8_t> gen1 = ImageContent({31, 2'000'000});

  // A backup: half written (its connections to radosgw kept alive), radosgw restarted, the
  // rest written and committed.
  {
    auto writer = f.pool().BeginImage(Request("gen1"));
    REQUIRE(writer.ok());
    REQUIRE((*writer)->Write(std::span(gen1).first(gen1.size() / 2)).ok());
    ceph.StopRgw();
    ceph.StartRgw();
    REQUIRE((*writer)->Write(std::span(gen1).subspan(gen1.size() / 2)).ok());
    auto info = (*writer)->Commit();
    INFO(info.status());
    REQUIRE(info.ok());
  }
  RequireRestores(f, "gen1", gen1);

  // A restore from a freshly opened pool (nothing cached): radosgw restarted after its first
  // bytes arrived; the restore goes on and returns every byte exactly.
  f.Reopen();
  std::vector<uint8_t> got;
  bool restarted = false;
  absl::Status read = f.pool().ReadImage(
      {kTestLsu, "", "gen1"}, 0, gen1.size(), [&](std::span<const uint8_t> d) {
        got.insert(got.end(), d.begin(), d.end());
        if (!restarted) {
          restarted = true;
          ceph.StopRgw();
          ceph.StartRgw();
        }
        return absl::OkStatus();
      });
  INFO(read);
  REQUIRE(read.ok());
  CHECK(restarted);
  CHECK(got.size() == gen1.size());
  CHECK(got == gen1);
}

TEST_CASE("S3 faults: a slow store - backup and restore correct through a delaying proxy, deadlines respected",
          "[s3][pool][fault]") {
  CephS3& ceph = CephS3::Get();
  const std::string bucket = CephS3::NewBucketName();
  ceph.Client(bucket);
  SlowProxy proxy(PortOf(ceph.endpoint()));
  const absl::Duration deadline = absl::Seconds(2);
  S3ClientOptions options = ShortDeadlines(deadline);
  options.attempt_timeout = absl::Seconds(1);
  std::unique_ptr<S3Client> client = ClientAt(ceph, proxy.endpoint(), bucket, options);
  PoolFixture f(S3PoolOptions(&client));

  // 2 ms per 16 KiB chunk each way: slow, well within the deadlines.
  proxy.set_delay(std::chrono::milliseconds(2));
  const std::vector<uint8_t> gen1 = ImageContent({41, 1'000'000});
  auto wrote = f.WriteImage("gen1", gen1);
  INFO(wrote.status());
  REQUIRE(wrote.ok());
  CHECK(proxy.chunks() > 10);  // the traffic went through the proxy
  f.Reopen();
  RequireRestores(f, "gen1", gen1);

  // Slower than any attempt may take (a 64 KiB reply or a 256 KiB upload needs several chunks,
  // each held 1.5 s > attempt_timeout): the commit fails Unavailable within its deadlines.
  proxy.set_delay(std::chrono::milliseconds(1500));
  const std::vector<uint8_t> gen2 = ImageContent({42, 600'000});
  const auto start = Clock::now();
  auto slow = f.WriteImage("gen2", gen2);
  const double took = SecondsSince(start);
  INFO(slow.status() << " after " << took << " s");
  REQUIRE(absl::IsUnavailable(slow.status()));
  CHECK_THAT(std::string(slow.status().message()), Catch::Contains("within the deadline"));
  // Each upload gives up at its 2 s deadline; gen2 fills at most 3 containers of 256 KiB.
  CHECK(took <= 3 * absl::ToDoubleSeconds(deadline) + 3.0);

  // A restore with a store this slow fails the same way, in bounded time, never wrong bytes
  // (the pool reopened while the store is fast: nothing cached, the listing done).
  proxy.set_delay(std::chrono::milliseconds(0));
  f.Reopen();
  proxy.set_delay(std::chrono::milliseconds(1500));
  const auto read_start = Clock::now();
  auto slow_read = f.ReadAll("gen1");
  const double read_took = SecondsSince(read_start);
  INFO(slow_read.status() << " after " << read_took << " s");
  REQUIRE(absl::IsUnavailable(slow_read.status()));
  CHECK_THAT(std::string(slow_read.status().message()), Catch::Contains("within the deadline"));
  // Each GET gives up at its deadline; the restore has no deadline of its own, and the pool's
  // read-ahead has queued a few reads that each spend theirs before the error is returned
  // (measured: 4 deadlines). Bounded, not hung.
  CHECK(read_took >= absl::ToDoubleSeconds(deadline) - 0.3);
  CHECK(read_took <= 6 * absl::ToDoubleSeconds(deadline) + 2.0);

  // The store fast again: everything committed is there, gen2 can be written.
  proxy.set_delay(std::chrono::milliseconds(0));
  f.Reopen();
  RequireRestores(f, "gen1", gen1);
  CHECK(absl::IsNotFound(f.ReadAll("gen2").status()));
  REQUIRE(f.WriteImage("gen2", gen2).ok());
  RequireRestores(f, "gen2", gen2);
}

}  // namespace
}  // namespace sealpool::storage
