// sealpoold end to end, operations: the CRL and SIGHUP, metrics, many concurrent streams, a
// full file system, the KMS going away mid-backup, expiry by the scheduler.
#include <grpcpp/grpcpp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>
#include <sys/mount.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <regex>
#include <thread>

#include "test/daemon/sealpoold/sealpoold_test_env.h"

namespace sealpool::test {
namespace {

namespace v1 = pool::v1;
using absl::StatusCode;

// Writes a CRL signed by the CA in `dir` that revokes the certificates named.
void WriteCrl(const std::filesystem::path& dir, const std::vector<std::string>& revoked,
              const std::filesystem::path& out) {
  auto read = [&](const std::string& file, bool key) -> void* {
    FILE* f = std::fopen((dir / file).c_str(), "r");
    REQUIRE(f != nullptr);
    void* p = key ? static_cast<void*>(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr))
                  : static_cast<void*>(PEM_read_X509(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    REQUIRE(p != nullptr);
    return p;
  };
  auto* ca_key = static_cast<EVP_PKEY*>(read("ca.key", true));
  auto* ca = static_cast<X509*>(read("ca.crt", false));
  X509_CRL* crl = X509_CRL_new();
  X509_CRL_set_version(crl, 1);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
  ASN1_TIME* now = ASN1_TIME_adj(nullptr, time(nullptr), -1, 0);
  ASN1_TIME* next = ASN1_TIME_adj(nullptr, time(nullptr), 30, 0);
  X509_CRL_set1_lastUpdate(crl, now);
  X509_CRL_set1_nextUpdate(crl, next);
  for (const std::string& name : revoked) {
    auto* cert = static_cast<X509*>(read(name + ".crt", false));
    X509_REVOKED* r = X509_REVOKED_new();
    X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(cert));
    X509_REVOKED_set_revocationDate(r, now);
    X509_CRL_add0_revoked(crl, r);
    X509_free(cert);
  }
  X509_CRL_sort(crl);
  REQUIRE(X509_CRL_sign(crl, ca_key, EVP_sha256()) > 0);
  FILE* f = std::fopen(out.c_str(), "w");
  REQUIRE(f != nullptr);
  PEM_write_X509_CRL(f, crl);
  std::fclose(f);
  ASN1_TIME_free(now);
  ASN1_TIME_free(next);
  X509_CRL_free(crl);
  X509_free(ca);
  EVP_PKEY_free(ca_key);
}

// Polls `check` every 50 ms for up to `limit`; whether it became true.
template <typename F>
bool Eventually(F check, std::chrono::milliseconds limit = std::chrono::seconds(15)) {
  auto give_up = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < give_up) {
    if (check()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return check();
}

TEST_CASE("sealpoold: a revoked certificate is refused after SIGHUP reloads the CRL",
          "[e2e][sealpoold]") {
  TempDir dir;
  Sealkmsd kms(dir.path() / "kms");
  kms.Start();
  kms.CreateActiveGroup("kg-a");
  Sealpoold pool(dir.path() / "poold", &kms);
  const std::filesystem::path crl = dir.path() / "clients.crl";
  WriteCrl(kms.dir(), {}, crl);
  pool.SetServerExtra("crl = \"" + crl.string() + "\"\n");
  pool.Start();
  auto alice = pool.Client("alice");
  auto bob = pool.Client("bob");
  REQUIRE(Backup(*alice, "lsu1", "a1", "alpha").ok());

  WriteCrl(kms.dir(), {"alice"}, crl);
  pool.Signal(SIGHUP);
  CHECK(Eventually([&] {
    return Backup(*alice, "lsu1", "a2", "alpha").status().code() == StatusCode::kUnauthenticated;
  }));
  CHECK(Restore(*alice, "lsu1", "a1").status().code() == StatusCode::kUnauthenticated);
  CHECK(Backup(*bob, "lsu1", "b1", "beta").ok());

  // A config that no longer loads keeps the old one (and its CRL) in force.
  WriteFileOrDie(pool.config_path(), "not toml [[[", 0644);
  pool.Signal(SIGHUP);
  CHECK(Eventually([&] { return pool.Log().find("keeping the old one") != std::string::npos; }));
  CHECK(Backup(*bob, "lsu1", "b2", "beta").ok());
  CHECK(Backup(*alice, "lsu1", "a3", "alpha").status().code() == StatusCode::kUnauthenticated);

  // A CRL signed by another CA is refused at start, naming the key.
  TempDir other;
  MakeCerts(other.path(), {}, {});
  WriteCrl(other.path(), {}, crl);
  REQUIRE(pool.Stop() == 0);
  std::string log;
  CHECK(pool.RunToExit(&log) == 2);
  CHECK(log.find("not signed by the configured CA") != std::string::npos);
}

TEST_CASE_METHOD(PoolFixture, "sealpoold: 16 backups and 16 restores run at once",
                 "[e2e][sealpoold]") {
  auto admin = pool().Admin();
  std::vector<std::string> data(16);
  for (size_t i = 0; i < data.size(); ++i) {
    auto bytes = PseudoRandomBytes((1 << 20) + i * 4099, 100 + i);
    data[i].assign(bytes.begin(), bytes.end());
    if (i % 2 == 1) data[i] = data[i - 1];  // pairs of identical content on two streams
  }
  // Warm images to restore while the backups run.
  auto alice = pool().Client("alice");
  for (size_t i = 0; i < 16; ++i) {
    REQUIRE(Backup(*alice, "lsu2", "warm" + std::to_string(i), data[i]).ok());
  }
  grpc::ClientContext sctx;
  v1::GetStatsResponse before;
  REQUIRE(admin->GetStats(&sctx, {}, &before).ok());

  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (size_t i = 0; i < 16; ++i) {
    threads.emplace_back([&, i] {
      auto stub = pool().Client(i % 2 == 0 ? "alice" : "bob");
      // Small messages so that the streams interleave.
      if (!Backup(*stub, "lsu1", "par" + std::to_string(i), data[i], 64 << 10).ok()) ++failures;
    });
    threads.emplace_back([&, i] {
      auto stub = pool().Client("alice");
      auto back = Restore(*stub, "lsu2", "warm" + std::to_string(i));
      if (!back.ok() || *back != data[i]) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  for (size_t i = 0; i < 16; ++i) {
    auto stub = pool().Client(i % 2 == 0 ? "alice" : "bob");
    auto back = Restore(*stub, "lsu1", "par" + std::to_string(i));
    REQUIRE(back.ok());
    CHECK(*back == data[i]);
  }
  // Every backup repeated content already stored: nothing new was stored.
  grpc::ClientContext sctx2;
  v1::GetStatsResponse after;
  REQUIRE(admin->GetStats(&sctx2, {}, &after).ok());
  CHECK(after.segments() == before.segments());
}

// The daemon's resident memory in bytes (VmRSS).
uint64_t Rss(pid_t pid) {
  std::string status = ReadFileOrDie("/proc/" + std::to_string(pid) + "/status");
  size_t at = status.find("VmRSS:");
  REQUIRE(at != std::string::npos);
  return std::stoull(status.substr(at + 6)) * 1024;
}

TEST_CASE_METHOD(PoolFixture, "sealpoold: 16 slow readers do not make the server buffer",
                 "[e2e][sealpoold]") {
  auto alice = pool().Client("alice");
  auto bytes = PseudoRandomBytes(32 << 20, 4242);
  const std::string data(bytes.begin(), bytes.end());
  REQUIRE(Backup(*alice, "lsu1", "big", data).ok());
  const uint64_t base = Rss(pool().pid());
  struct Slow {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::RestoreResponse>> reader;
  };
  std::vector<std::unique_ptr<Slow>> slow;
  for (int i = 0; i < 16; ++i) {
    auto s = std::make_unique<Slow>();
    v1::RestoreRequest req;
    req.set_lsu("lsu1");
    req.set_name("big");
    s->reader = alice->Restore(&s->ctx, req);
    v1::RestoreResponse first;
    REQUIRE(s->reader->Read(&first));  // the header; then the reader stops reading
    slow.push_back(std::move(s));
  }
  // Give the server time to push everything it would buffer, then look at its memory.
  uint64_t peak = 0;
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    peak = std::max(peak, Rss(pool().pid()));
  }
  const uint64_t grown = peak > base ? peak - base : 0;
  INFO("RSS grew by " << (grown >> 20) << " MiB for 16 stalled readers of a 32 MiB image");
  // 16 x 32 MiB = 512 MiB would be pending if the server buffered the streams; the documented
  // bound is about 6 MiB per restore stream (docs/server.md, "Limits").
  CHECK(grown < 16 * (6u << 20));
  // They all finish, in full, once they read again.
  for (auto& s : slow) {
    v1::RestoreResponse msg;
    size_t n = 0;
    while (s->reader->Read(&msg)) n += msg.data().size();
    CHECK(s->reader->Finish().ok());
    CHECK(n == data.size());
  }
}

TEST_CASE("sealpoold: metrics are served on loopback", "[e2e][sealpoold]") {
  TempDir dir;
  Sealkmsd kms(dir.path() / "kms");
  kms.Start();
  kms.CreateActiveGroup("kg-a");
  Sealpoold pool(dir.path() / "poold", &kms);
  pool.SetMetricsListen("127.0.0.1:0");
  pool.Start();
  auto alice = pool.Client("alice");
  REQUIRE(Backup(*alice, "lsu1", "m1", std::string(100000, 'm')).ok());
  REQUIRE(Restore(*alice, "lsu1", "m1").ok());
  std::smatch m;
  const std::string log = pool.Log();
  REQUIRE(std::regex_search(log, m, std::regex("metrics on http://127.0.0.1:([0-9]+)/metrics")));
  std::string out;
  REQUIRE(RunCommand({"/usr/bin/curl", "-sf", "http://127.0.0.1:" + m[1].str() + "/metrics"},
                     &out) == 0);
  CHECK(out.find("sealpool_images_written_total 1") != std::string::npos);
  CHECK(out.find("sealpool_images_restored_total 1") != std::string::npos);
  CHECK(out.find("sealpool_bytes_received_total 100000") != std::string::npos);
  CHECK(out.find("sealpool_requests_total{method=\"Backup\",code=\"OK\"} 1") != std::string::npos);
  CHECK(out.find("sealpool_pool_images 1") != std::string::npos);
  CHECK(out.find("sealpool_kms_reachable 2") != std::string::npos);
}

TEST_CASE("sealpoold: a full file system refuses ingest and keeps reads and deletes",
          "[e2e][sealpoold]") {
  TempDir dir;
  Sealkmsd kms(dir.path() / "kms");
  kms.Start();
  kms.CreateActiveGroup("kg-a");
  Sealpoold pool(dir.path() / "poold", &kms);
  std::filesystem::create_directories(pool.pool_dir());
  if (::mount("tmpfs", pool.pool_dir().c_str(), "tmpfs", 0, "size=96m") != 0) {
    WARN("cannot mount a tmpfs here (needs root): skipped");
    std::exit(SEALPOOL_SKIP_RETURN_CODE);
  }
  struct Unmount {
    std::filesystem::path p;
    ~Unmount() { ::umount2(p.c_str(), MNT_DETACH); }
  } unmount{pool.pool_dir()};
  pool.SetExtra("[storage]\ncontainer_size_mib = 16\nhigh_water_percent = 60\n");
  pool.Start();
  auto alice = pool.Client("alice");
  auto admin = pool.Admin();
  // Incompressible images until ingest is refused.
  absl::Status last;
  int written = 0;
  for (int i = 0; i < 40; ++i) {
    auto bytes = PseudoRandomBytes(4 << 20, 500 + static_cast<uint64_t>(i));
    last = Backup(*alice, "lsu2", "fill" + std::to_string(i), std::string(bytes.begin(), bytes.end()))
               .status();
    if (!last.ok()) break;
    ++written;
  }
  INFO(last.ToString());
  REQUIRE(last.code() == StatusCode::kResourceExhausted);
  CHECK(std::string(last.message()).find("high-water mark") != std::string::npos);
  REQUIRE(written > 2);
  {
    grpc::ClientContext ctx;
    v1::GetModeResponse mode;
    REQUIRE(admin->GetMode(&ctx, {}, &mode).ok());
    CHECK(mode.space_high_water());
    CHECK_FALSE(mode.ingest_allowed());
    CHECK(mode.restore_allowed());
  }
  // Reads and deletes go on.
  CHECK(Restore(*alice, "lsu2", "fill0").ok());
  for (int i = 0; i < written; ++i) {
    grpc::ClientContext ctx;
    v1::ImageRef ref;
    ref.set_lsu("lsu2");
    ref.set_name("fill" + std::to_string(i));
    v1::DeleteImageResponse out;
    REQUIRE(alice->DeleteImage(&ctx, ref, &out).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::ProcessQueueResponse out;
    REQUIRE(admin->ProcessQueue(&ctx, {}, &out).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::StartCompactionRequest req;
    req.set_live_threshold(0.99);
    v1::JobStatus st;
    REQUIRE(admin->StartCompaction(&ctx, req, &st).ok());
  }
  // Once space is back under the mark, ingest resumes.
  CHECK(Eventually(
      [&] { return Backup(*alice, "lsu2", "after", "small").ok(); }, std::chrono::seconds(30)));
  REQUIRE(pool.Stop() == 0);
}

TEST_CASE_METHOD(PoolFixture, "sealpoold: a backup completes on the cached KEK with the KMS gone",
                 "[e2e][sealpoold]") {
  auto alice = pool().Client("alice");
  REQUIRE(Backup(*alice, "lsu1", "warm", "warm up the key group's keys").ok());
  auto bytes = PseudoRandomBytes(6 << 20, 77);
  const std::string data(bytes.begin(), bytes.end());
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(60)));
  v1::BackupResponse resp;
  auto s = alice->Backup(&ctx, &resp);
  v1::BackupRequest m;
  m.mutable_header()->set_lsu("lsu1");
  m.mutable_header()->set_name("outage");
  REQUIRE(s->Write(m));
  const size_t half = data.size() / 2;
  v1::BackupRequest d;
  d.set_data(data.substr(0, half));
  REQUIRE(s->Write(d));
  kms().Stop();
  d.set_data(data.substr(half));
  REQUIRE(s->Write(d));
  v1::BackupRequest c;
  c.mutable_commit()->set_size(data.size());
  REQUIRE(s->Write(c));
  s->WritesDone();
  const auto t0 = std::chrono::steady_clock::now();
  grpc::Status fin = s->Finish();
  INFO(fin.error_message());
  CHECK(fin.ok());
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20));
  auto back = Restore(*alice, "lsu1", "outage");
  REQUIRE(back.ok());
  CHECK(*back == data);
  // The mode shows the KMS as failing once the pool has needed it... and answers at once.
  auto admin = pool().Admin();
  grpc::ClientContext mctx;
  mctx.set_deadline(DeadlineIn(std::chrono::seconds(2)));
  v1::GetModeResponse mode;
  REQUIRE(admin->GetMode(&mctx, {}, &mode).ok());
  kms().Start();
}

TEST_CASE("sealpoold: the scheduler keeps the newest images of a series", "[e2e][sealpoold]") {
  TempDir dir;
  Sealkmsd kms(dir.path() / "kms");
  kms.Start();
  kms.CreateActiveGroup("kg-a");
  Sealpoold pool(dir.path() / "poold", &kms);
  pool.SetExtra("[scheduler]\ninterval_seconds = 1\n");
  std::string tables = DefaultPoolTables();
  tables.replace(tables.find("client_delete = true\n"), std::string("client_delete = true\n").size(),
                 "client_delete = true\nkeep_last = 2\n");
  pool.SetTables(tables);
  pool.Start();
  auto alice = pool.Client("alice");
  auto backup = [&](const std::string& name, const std::string& series) {
    grpc::ClientContext ctx;
    v1::BackupResponse resp;
    auto s = alice->Backup(&ctx, &resp);
    v1::BackupRequest m;
    m.mutable_header()->set_lsu("lsu2");
    m.mutable_header()->set_name(name);
    if (!series.empty()) (*m.mutable_header()->mutable_labels())["series"] = series;
    s->Write(m);
    v1::BackupRequest d;
    d.set_data(name);
    s->Write(d);
    v1::BackupRequest c;
    c.mutable_commit()->set_size(name.size());
    s->Write(c);
    s->WritesDone();
    REQUIRE(s->Finish().ok());
  };
  backup("db-1", "db");
  backup("db-2", "db");
  backup("db-3", "db");
  backup("loose", "");
  CHECK(Eventually([&] {
    return Restore(*alice, "lsu2", "db-1").status().code() == StatusCode::kNotFound;
  }));
  CHECK(Restore(*alice, "lsu2", "db-2").ok());
  CHECK(Restore(*alice, "lsu2", "db-3").ok());
  CHECK(Restore(*alice, "lsu2", "loose").ok());
  // The audit line follows the delete: wait for it too.
  CHECK(Eventually([&] {
    return ReadFileOrDie(pool.audit_path()).find("\"op\":\"expire\"") != std::string::npos;
  }));
}

}  // namespace
}  // namespace sealpool::test
