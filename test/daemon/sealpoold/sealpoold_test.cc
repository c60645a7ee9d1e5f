// sealpoold end to end: a real sealkmsd and a real sealpoold on loopback, driven through the
// generated gRPC stubs as the backup client and crcontrol will drive them.
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <thread>

#include "test/daemon/sealpoold/sealpoold_test_env.h"

namespace sealpool::test {
namespace {

namespace v1 = pool::v1;
using absl::StatusCode;

v1::GetStatsResponse Stats(v1::PoolAdmin::Stub& admin) {
  grpc::ClientContext ctx;
  v1::GetStatsResponse out;
  grpc::Status s = admin.GetStats(&ctx, {}, &out);
  INFO(s.error_message());
  REQUIRE(s.ok());
  return out;
}

TEST_CASE_METHOD(PoolFixture, "sealpoold: two generations back up, restore bit-exact and dedup",
                 "[e2e][sealpoold]") {
  auto alice = pool().Client("alice");
  auto admin = pool().Admin();
  auto [gen1, gen2] = TwoGenerations(12 << 20, 7);
  auto r1 = Backup(*alice, "lsu1", "gen1", gen1);
  REQUIRE(r1.ok());
  CHECK(r1->image().size() == gen1.size());
  CHECK(r1->image().owner() == "alice");
  CHECK(r1->bytes_received() == gen1.size());
  const uint64_t stored_after_gen1 = Stats(*admin).stored_bytes();
  auto r2 = Backup(*alice, "lsu1", "gen2", gen2, 300000);
  REQUIRE(r2.ok());
  const uint64_t stored_by_gen2 = Stats(*admin).stored_bytes() - stored_after_gen1;
  // The second generation stores a small fraction of its size.
  CHECK(stored_by_gen2 < gen2.size() / 5);

  auto back1 = Restore(*alice, "lsu1", "gen1");
  REQUIRE(back1.ok());
  CHECK(*back1 == gen1);
  auto back2 = Restore(*alice, "lsu1", "gen2");
  REQUIRE(back2.ok());
  CHECK(*back2 == gen2);
  // A byte range.
  auto part = Restore(*alice, "lsu1", "gen2", 1000003, 77777);
  REQUIRE(part.ok());
  CHECK(*part == gen2.substr(1000003, 77777));

  // Delete the first (lsu1 forbids client deletes: the admin deletes), process, compact.
  {
    grpc::ClientContext ctx;
    v1::ImageRef ref;
    ref.set_lsu("lsu1");
    ref.set_name("gen1");
    v1::DeleteImageResponse out;
    CHECK(alice->DeleteImage(&ctx, ref, &out).error_code() == grpc::FAILED_PRECONDITION);
  }
  {
    grpc::ClientContext ctx;
    v1::AdminImageRef ref;
    ref.set_lsu("lsu1");
    ref.set_owner("alice");
    ref.set_name("gen1");
    v1::DeleteImageResponse out;
    REQUIRE(admin->DeleteImage(&ctx, ref, &out).ok());
  }
  {
    grpc::ClientContext ctx;
    v1::ProcessQueueResponse out;
    REQUIRE(admin->ProcessQueue(&ctx, {}, &out).ok());
    CHECK(out.jobs_done() >= 1);
    CHECK(out.segments_erased() > 0);
    CHECK(out.jobs_left() == 0);
  }
  {
    grpc::ClientContext ctx;
    v1::StartCompactionRequest req;
    req.set_live_threshold(0.99);
    v1::JobStatus out;
    REQUIRE(admin->StartCompaction(&ctx, req, &out).ok());
    for (int i = 0; i < 600; ++i) {
      grpc::ClientContext c2;
      REQUIRE(admin->GetCompaction(&c2, {}, &out).ok());
      if (out.state() != v1::JOB_STATE_RUNNING) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(out.state() == v1::JOB_STATE_DONE);
    CHECK(out.containers_done() == out.containers_total());
  }
  CHECK(Restore(*alice, "lsu1", "gen1").status().code() == StatusCode::kNotFound);
  auto again = Restore(*alice, "lsu1", "gen2");
  REQUIRE(again.ok());
  CHECK(*again == gen2);
  {
    grpc::ClientContext ctx;
    auto reader = admin->Verify(&ctx, {});
    v1::CheckProgress p, last;
    while (reader->Read(&p)) last = p;
    REQUIRE(reader->Finish().ok());
    CHECK(last.finished());
    CHECK(last.problems_size() == 0);
  }
  // The delete is in the audit log.
  CHECK(ReadFileOrDie(pool().audit_path()).find("\"op\":\"delete\"") != std::string::npos);
}

TEST_CASE_METHOD(PoolFixture, "sealpoold: a client sees only its own images",
                 "[e2e][sealpoold]") {
  auto alice = pool().Client("alice");
  auto bob = pool().Client("bob");
  const std::string data(300000, 'x');
  REQUIRE(Backup(*alice, "lsu1", "secret", data).ok());
  CHECK(Restore(*bob, "lsu1", "secret").status().code() == StatusCode::kNotFound);
  {
    grpc::ClientContext ctx;
    v1::ImageRef ref;
    ref.set_lsu("lsu1");
    ref.set_name("secret");
    v1::Image out;
    CHECK(bob->StatImage(&ctx, ref, &out).error_code() == grpc::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    v1::ListImagesRequest req;
    req.set_lsu("lsu1");
    v1::ListImagesResponse out;
    REQUIRE(bob->ListImages(&ctx, req, &out).ok());
    CHECK(out.images_size() == 0);
  }
  {
    grpc::ClientContext ctx;
    v1::ListImagesRequest req;
    req.set_lsu("lsu1");
    v1::ListImagesResponse out;
    REQUIRE(alice->ListImages(&ctx, req, &out).ok());
    REQUIRE(out.images_size() == 1);
    CHECK(out.images(0).name() == "secret");
  }
  // Names are per owner: bob's own "secret" is another image, and each reads back their own.
  REQUIRE(Backup(*bob, "lsu1", "secret", "bob's bytes").ok());
  auto mine = Restore(*bob, "lsu1", "secret");
  REQUIRE(mine.ok());
  CHECK(*mine == "bob's bytes");
  auto hers = Restore(*alice, "lsu1", "secret");
  REQUIRE(hers.ok());
  CHECK(*hers == data);
  // bob has no right on lsu2 at all.
  CHECK(Backup(*bob, "lsu2", "x", data).status().code() == StatusCode::kPermissionDenied);
  // carol's certificate is valid but not in the client map.
  auto carol = pool().Client("carol");
  CHECK(Backup(*carol, "lsu1", "x", data).status().code() == StatusCode::kPermissionDenied);
}

TEST_CASE_METHOD(PoolFixture, "sealpoold: a backup without a proper commit leaves nothing",
                 "[e2e][sealpoold]") {
  auto alice = pool().Client("alice");
  auto admin = pool().Admin();
  const std::string data(500000, 'q');
  auto not_visible = [&](const std::string& name) {
    CHECK(Restore(*alice, "lsu1", name).status().code() == StatusCode::kNotFound);
  };
  SECTION("a commit without a header") {
    grpc::ClientContext ctx;
    v1::BackupResponse resp;
    auto s = alice->Backup(&ctx, &resp);
    v1::BackupRequest commit;
    commit.mutable_commit()->set_size(0);
    s->Write(commit);
    s->WritesDone();
    CHECK(s->Finish().error_code() == grpc::INVALID_ARGUMENT);
  }
  SECTION("data after the commit") {
    grpc::ClientContext ctx;
    v1::BackupResponse resp;
    auto s = alice->Backup(&ctx, &resp);
    v1::BackupRequest m;
    m.mutable_header()->set_lsu("lsu1");
    m.mutable_header()->set_name("late");
    s->Write(m);
    v1::BackupRequest d;
    d.set_data(data);
    s->Write(d);
    v1::BackupRequest c;
    c.mutable_commit()->set_size(data.size());
    s->Write(c);
    s->Write(d);
    s->WritesDone();
    CHECK(s->Finish().error_code() == grpc::INVALID_ARGUMENT);
    not_visible("late");
  }
  SECTION("a size that disagrees") {
    grpc::ClientContext ctx;
    v1::BackupResponse resp;
    auto s = alice->Backup(&ctx, &resp);
    v1::BackupRequest m;
    m.mutable_header()->set_lsu("lsu1");
    m.mutable_header()->set_name("short");
    s->Write(m);
    v1::BackupRequest d;
    d.set_data(data);
    s->Write(d);
    v1::BackupRequest c;
    c.mutable_commit()->set_size(data.size() + 1);
    s->Write(c);
    s->WritesDone();
    CHECK(s->Finish().error_code() == grpc::INVALID_ARGUMENT);
    not_visible("short");
  }
  SECTION("a stream that ends without a commit") {
    grpc::ClientContext ctx;
    v1::BackupResponse resp;
    auto s = alice->Backup(&ctx, &resp);
    v1::BackupRequest m;
    m.mutable_header()->set_lsu("lsu1");
    m.mutable_header()->set_name("nocommit");
    s->Write(m);
    v1::BackupRequest d;
    d.set_data(data);
    s->Write(d);
    s->WritesDone();
    CHECK(s->Finish().error_code() == grpc::INVALID_ARGUMENT);
    not_visible("nocommit");
  }
  SECTION("a stream the client cancels") {
    grpc::ClientContext ctx;
    v1::BackupResponse resp;
    auto s = alice->Backup(&ctx, &resp);
    v1::BackupRequest m;
    m.mutable_header()->set_lsu("lsu1");
    m.mutable_header()->set_name("cancelled");
    s->Write(m);
    v1::BackupRequest d;
    d.set_data(data);
    s->Write(d);
    ctx.TryCancel();
    CHECK(s->Finish().error_code() == grpc::CANCELLED);
    not_visible("cancelled");
  }
  SECTION("a message larger than the limit") {
    auto r = Backup(*alice, "lsu1", "big", std::string(6 << 20, 'b'), 6 << 20);
    CHECK(r.status().code() == StatusCode::kResourceExhausted);
    not_visible("big");
  }
  // Whatever was refused gave its references back: the queue empties (once the server has
  // seen the stream end: a cancelled handler may still be unwinding) and nothing is stored.
  uint64_t left = 1;
  for (int i = 0; i < 200 && left > 0; ++i) {
    grpc::ClientContext ctx;
    v1::ProcessQueueResponse out;
    REQUIRE(admin->ProcessQueue(&ctx, {}, &out).ok());
    left = out.jobs_left();
    if (left > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  CHECK(left == 0);
  CHECK(Stats(*admin).images() == 0);
}

TEST_CASE_METHOD(PoolFixture, "sealpoold: certificates that are not a client's are refused",
                 "[e2e][sealpoold]") {
  const std::string data(1000, 'z');
  SECTION("no client certificate") {
    auto none = pool().Client("");
    CHECK(Backup(*none, "lsu1", "x", data).status().code() == StatusCode::kUnavailable);
  }
  SECTION("a certificate from another CA") {
    TempDir other;
    MakeCerts(other.path(), {}, {"alice"});
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFileOrDie(kms().dir() / "ca.crt");
    ssl.pem_cert_chain = ReadFileOrDie(other.path() / "alice.crt");
    ssl.pem_private_key = ReadFileOrDie(other.path() / "alice.key");
    auto stub = v1::PoolService::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(pool().port()), grpc::SslCredentials(ssl)));
    CHECK(Backup(*stub, "lsu1", "x", data).status().code() == StatusCode::kUnavailable);
  }
  SECTION("an expired certificate") {
    MakeExpiredCert(kms().dir(), "old-alice", "backup-client");
    auto stub = pool().Client("old-alice");
    CHECK(Backup(*stub, "lsu1", "x", data).status().code() == StatusCode::kUnavailable);
  }
  // The server is still up and well.
  auto alice = pool().Client("alice");
  CHECK(Backup(*alice, "lsu1", "after", data).ok());
}

TEST_CASE_METHOD(PoolFixture, "sealpoold: the pool mode gates the client API",
                 "[e2e][sealpoold]") {
  auto alice = pool().Client("alice");
  auto admin = pool().Admin();
  REQUIRE(Backup(*alice, "lsu2", "before", std::string(1000, 'm')).ok());
  auto set_mode = [&](v1::PoolMode mode) {
    grpc::ClientContext ctx;
    v1::SetModeRequest req;
    req.set_mode(mode);
    v1::GetModeResponse out;
    return admin->SetMode(&ctx, req, &out);
  };
  REQUIRE(set_mode(v1::POOL_MODE_READ_ONLY).ok());
  CHECK(Backup(*alice, "lsu2", "x", "abc").status().code() == StatusCode::kFailedPrecondition);
  CHECK(Restore(*alice, "lsu2", "before").ok());
  {
    grpc::ClientContext ctx;
    v1::ImageRef ref;
    ref.set_lsu("lsu2");
    ref.set_name("before");
    v1::DeleteImageResponse out;
    CHECK(alice->DeleteImage(&ctx, ref, &out).error_code() == grpc::FAILED_PRECONDITION);
  }
  {
    grpc::ClientContext ctx;
    v1::AdminImageRef ref;
    ref.set_lsu("lsu2");
    ref.set_owner("alice");
    ref.set_name("before");
    v1::DeleteImageResponse out;
    CHECK(admin->DeleteImage(&ctx, ref, &out).error_code() == grpc::FAILED_PRECONDITION);
  }
  REQUIRE(set_mode(v1::POOL_MODE_MAINTENANCE).ok());
  CHECK(Restore(*alice, "lsu2", "before").status().code() == StatusCode::kUnavailable);
  {
    grpc::ClientContext ctx;
    v1::ListImagesRequest req;
    req.set_lsu("lsu2");
    v1::ListImagesResponse out;
    CHECK(alice->ListImages(&ctx, req, &out).error_code() == grpc::UNAVAILABLE);
  }
  {
    grpc::ClientContext ctx;
    v1::GetModeResponse out;
    REQUIRE(admin->GetMode(&ctx, {}, &out).ok());
    CHECK(out.mode() == v1::POOL_MODE_MAINTENANCE);
    CHECK_FALSE(out.ingest_allowed());
    CHECK_FALSE(out.restore_allowed());
    REQUIRE(out.lsus_size() == 2);
    CHECK(out.lsus(0).encrypted());
  }
  // The mode survives a restart.
  REQUIRE(pool().Stop() == 0);
  pool().Start();
  alice = pool().Client("alice");
  admin = pool().Admin();
  CHECK(Restore(*alice, "lsu2", "before").status().code() == StatusCode::kUnavailable);
  CHECK(set_mode(static_cast<v1::PoolMode>(42)).error_code() == grpc::INVALID_ARGUMENT);
  // A damaged mode file does not open the pool: it starts read-only.
  REQUIRE(pool().Stop() == 0);
  WriteFileOrDie(pool().pool_dir() / "sealpoold.mode", "garbage\n", 0600);
  pool().Start();
  alice = pool().Client("alice");
  admin = pool().Admin();
  CHECK(Backup(*alice, "lsu2", "y", "abc").status().code() == StatusCode::kFailedPrecondition);
  CHECK(pool().Log().find("not a pool mode") != std::string::npos);
  REQUIRE(set_mode(v1::POOL_MODE_READ_WRITE).ok());
  CHECK(Restore(*alice, "lsu2", "before").ok());
  // Encryption cannot be switched off; a purge without confirm is refused and changes nothing
  // (the purge itself: sealpoold_purge_test.cc).
  {
    grpc::ClientContext ctx;
    v1::SetEncryptionRequest req;
    req.set_lsu("lsu2");
    req.set_enabled(false);
    v1::GetModeResponse out;
    CHECK(admin->SetEncryption(&ctx, req, &out).error_code() == grpc::FAILED_PRECONDITION);
  }
  {
    grpc::ClientContext ctx;
    v1::PurgeRequest req;
    req.set_key_group("kg-a");
    req.set_confirm(false);
    v1::PurgeResponse out;
    CHECK(admin->Purge(&ctx, req, &out).error_code() == grpc::FAILED_PRECONDITION);
  }
  CHECK(Restore(*alice, "lsu2", "before").ok());
}

TEST_CASE_METHOD(PoolFixture, "sealpoold: the mode answers and cached keys serve with the KMS down",
                 "[e2e][sealpoold]") {
  auto alice = pool().Client("alice");
  auto admin = pool().Admin();
  const std::string data = std::string(2 << 20, 'k') + "tail";
  REQUIRE(Backup(*alice, "lsu1", "warm", data).ok());
  kms().Stop();
  // Writes and reads go on with the keys the pool holds.
  auto r = Backup(*alice, "lsu1", "while-down", data + "2");
  REQUIRE(r.ok());
  auto back = Restore(*alice, "lsu1", "while-down");
  REQUIRE(back.ok());
  CHECK(*back == data + "2");
  // GetMode answers at once.
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(2)));
  v1::GetModeResponse mode;
  REQUIRE(admin->GetMode(&ctx, {}, &mode).ok());
  kms().Start();
}

TEST_CASE_METHOD(PoolFixture, "sealpoold: SIGTERM lets streams finish and exits 0",
                 "[e2e][sealpoold]") {
  auto alice = pool().Client("alice");
  const std::string data(4 << 20, 's');
  // A stream in flight when SIGTERM arrives commits within the grace period.
  grpc::ClientContext ctx;
  v1::BackupResponse resp;
  auto s = alice->Backup(&ctx, &resp);
  v1::BackupRequest m;
  m.mutable_header()->set_lsu("lsu1");
  m.mutable_header()->set_name("inflight");
  REQUIRE(s->Write(m));
  v1::BackupRequest d;
  d.set_data(data);
  REQUIRE(s->Write(d));
  pool().Signal(SIGTERM);
  // New streams are refused meanwhile; this one finishes.
  v1::BackupRequest c;
  c.mutable_commit()->set_size(data.size());
  s->Write(c);
  s->WritesDone();
  grpc::Status fin = s->Finish();
  CHECK(fin.ok());
  int status = 0;
  waitpid(pool().pid(), &status, 0);
  // (Stop would signal again; the child has already been reaped here.)
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE_METHOD(PoolFixture, "sealpoold: admins reassign owners and extend retention, audited",
                 "[e2e][sealpoold]") {
  auto alice = pool().Client("alice");
  auto bob = pool().Client("bob");
  auto admin = pool().Admin();
  const int64_t now = absl::ToUnixMicros(absl::Now());
  REQUIRE(Backup(*alice, "lsu1", "img", "alice's image", 1 << 20, now + 3600 * 1000000LL).ok());
  auto ref = [](const std::string& owner) {
    v1::AdminImageRef r;
    r.set_lsu("lsu1");
    r.set_owner(owner);
    r.set_name("img");
    return r;
  };
  // Retention holds against admins too, and cannot be shortened.
  {
    grpc::ClientContext ctx;
    v1::DeleteImageResponse out;
    CHECK(admin->DeleteImage(&ctx, ref("alice"), &out).error_code() ==
          grpc::FAILED_PRECONDITION);
  }
  {
    grpc::ClientContext ctx;
    v1::ExtendRetentionRequest req;
    *req.mutable_image() = ref("alice");
    req.set_retain_until_unix_micros(now + 60 * 1000000LL);
    v1::Image out;
    CHECK(admin->ExtendRetention(&ctx, req, &out).error_code() == grpc::FAILED_PRECONDITION);
  }
  {
    grpc::ClientContext ctx;
    v1::ExtendRetentionRequest req;
    *req.mutable_image() = ref("alice");
    req.set_retain_until_unix_micros(now + 7200 * 1000000LL);
    v1::Image out;
    REQUIRE(admin->ExtendRetention(&ctx, req, &out).ok());
    CHECK(out.retain_until_unix_micros() == now + 7200 * 1000000LL);
  }
  // Past the LSU's max_retention (ten years by default).
  {
    grpc::ClientContext ctx;
    v1::ExtendRetentionRequest req;
    *req.mutable_image() = ref("alice");
    req.set_retain_until_unix_micros(now + 3700LL * 24 * 3600 * 1000000LL);
    v1::Image out;
    CHECK(admin->ExtendRetention(&ctx, req, &out).error_code() == grpc::INVALID_ARGUMENT);
  }
  // The image moves to bob: alice no longer sees it, bob does.
  {
    grpc::ClientContext ctx;
    v1::ReassignOwnerRequest req;
    *req.mutable_image() = ref("alice");
    req.set_new_owner("bob");
    v1::Image out;
    REQUIRE(admin->ReassignOwner(&ctx, req, &out).ok());
    CHECK(out.owner() == "bob");
  }
  CHECK(Restore(*alice, "lsu1", "img").status().code() == StatusCode::kNotFound);
  auto back = Restore(*bob, "lsu1", "img");
  REQUIRE(back.ok());
  CHECK(*back == "alice's image");
  // Into a name the new owner has: refused.
  REQUIRE(Backup(*alice, "lsu1", "img", "another").ok());
  {
    grpc::ClientContext ctx;
    v1::ReassignOwnerRequest req;
    *req.mutable_image() = ref("alice");
    req.set_new_owner("bob");
    v1::Image out;
    CHECK(admin->ReassignOwner(&ctx, req, &out).error_code() == grpc::ALREADY_EXISTS);
  }
  const std::string audit = ReadFileOrDie(pool().audit_path());
  CHECK(audit.find("\"op\":\"reassign-owner\"") != std::string::npos);
  CHECK(audit.find("\"op\":\"extend-retention\"") != std::string::npos);
  CHECK(audit.find("new_owner=bob") != std::string::npos);
}

TEST_CASE_METHOD(PoolFixture, "sealpoold: a certificate with two CNs is refused",
                 "[e2e][sealpoold]") {
  const std::filesystem::path d = kms().dir();
  const std::string key = (d / "twocn.key").string();
  const std::string csr = (d / "twocn.csr").string();
  const std::string ext = (d / "twocn.ext").string();
  WriteFileOrDie(ext, "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                      "extendedKeyUsage=clientAuth\n", 0644);
  std::string out;
  REQUIRE(RunCommand({"/usr/bin/openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                      "ec_paramgen_curve:P-256", "-out", key}, &out) == 0);
  REQUIRE(RunCommand({"/usr/bin/openssl", "req", "-new", "-key", key, "-subj", "/CN=alice/CN=bob", "-out",
                      csr}, &out) == 0);
  REQUIRE(RunCommand({"/usr/bin/openssl", "x509", "-req", "-in", csr, "-CA", (d / "ca.crt").string(),
                      "-CAkey", (d / "ca.key").string(), "-CAcreateserial", "-days", "2",
                      "-extfile", ext, "-out", (d / "twocn.crt").string()}, &out) == 0);
  auto two = pool().Client("twocn");
  absl::Status s = Backup(*two, "lsu1", "x", "abc").status();
  CHECK(s.code() == StatusCode::kUnauthenticated);
  CHECK(std::string(s.message()).find("more than one CN") != std::string::npos);
}

TEST_CASE_METHOD(PoolFixture, "sealpoold: admins rotate a KEK and re-wrap under a new root key",
                 "[e2e][sealpoold]") {
  auto alice = pool().Client("alice");
  auto admin = pool().Admin();
  REQUIRE(Backup(*alice, "lsu1", "before", "sealed under the first KEK").ok());
  auto list = [&] {
    grpc::ClientContext ctx;
    v1::ListKeysResponse keys;
    REQUIRE(admin->ListKeys(&ctx, {}, &keys).ok());
    REQUIRE(keys.key_groups_size() >= 1);
    return keys.key_groups(0);
  };
  const v1::KeyGroupInfo first = list();
  REQUIRE(first.keks_size() == 1);
  const std::string old_root = first.keks(0).root_key_id();
  {
    grpc::ClientContext ctx;
    v1::RotateKekRequest req;
    req.set_key_group("kg-a");
    v1::RotateKekResponse out;
    REQUIRE(admin->RotateKek(&ctx, req, &out).ok());
    CHECK(out.kek_id() > first.keks(0).id());
  }
  const v1::KeyGroupInfo rotated = list();
  REQUIRE(rotated.keks_size() == 2);
  int active = 0;
  for (const auto& k : rotated.keks()) active += k.state() == "active" ? 1 : 0;
  CHECK(active == 1);
  REQUIRE(Backup(*alice, "lsu1", "after", "sealed under the second KEK").ok());

  // A new root key in sealkmsd; the old one still wraps the pool's keys until the re-wrap.
  const std::string new_root = kms().CreateKey("kg-a");
  REQUIRE(kms().SetState(new_root, kms::v1::KEY_STATE_ACTIVE).ok());
  CHECK(kms().SetState(old_root, kms::v1::KEY_STATE_DEPRECATED).code() ==
        StatusCode::kFailedPrecondition);
  {
    grpc::ClientContext ctx;
    v1::RewrapKeysRequest req;
    req.set_key_group("kg-a");
    v1::RewrapKeysResponse out;
    REQUIRE(admin->RewrapKeys(&ctx, req, &out).ok());
    CHECK(out.rewrapped() == 3);  // two KEKs and the fingerprint key
    CHECK(out.root_key_id() == new_root);
  }
  const v1::KeyGroupInfo rewrapped = list();
  for (const auto& k : rewrapped.keks()) CHECK(k.root_key_id() == new_root);
  CHECK(rewrapped.fingerprint_key_root_key_id() == new_root);
  // sealkmsd was told: the old root key wraps nothing now and may be deprecated.
  CHECK(kms().SetState(old_root, kms::v1::KEY_STATE_DEPRECATED).ok());
  // A fresh process (no cached key) reads both images through the new root key.
  REQUIRE(pool().Stop() == 0);
  pool().Start();
  alice = pool().Client("alice");
  CHECK(Restore(*alice, "lsu1", "before").value_or("") == "sealed under the first KEK");
  CHECK(Restore(*alice, "lsu1", "after").value_or("") == "sealed under the second KEK");
  const std::string audit = ReadFileOrDie(pool().audit_path());
  CHECK(audit.find("\"op\":\"rotate-kek\"") != std::string::npos);
  CHECK(audit.find("\"op\":\"rewrap-keys\"") != std::string::npos);
}

// Fail-closed audit: with the audit log on /dev/full (a symlink: every write fails with ENOSPC)
// the key operations are refused before anything is done.
TEST_CASE_METHOD(PoolFixture, "sealpoold: a key operation whose audit line cannot be written is "
                              "refused", "[e2e][sealpoold][audit]") {
  auto admin = pool().Admin();
  auto kek_ids = [&] {
    grpc::ClientContext ctx;
    v1::ListKeysResponse keys;
    REQUIRE(admin->ListKeys(&ctx, {}, &keys).ok());
    REQUIRE(keys.key_groups_size() >= 1);
    std::string ids;
    for (const auto& k : keys.key_groups(0).keks()) {
      ids += std::to_string(k.id()) + ":" + k.root_key_id() + " ";
    }
    return ids;
  };
  const std::string before = kek_ids();
  REQUIRE(pool().Stop() == 0);
  std::filesystem::remove(pool().audit_path());
  std::filesystem::create_symlink("/dev/full", pool().audit_path());
  pool().Start();
  admin = pool().Admin();
  const std::string why = "cannot write the audit log " + pool().audit_path().string() +
                          ": No space left on device; nothing was changed";
  {
    grpc::ClientContext ctx;
    v1::RotateKekRequest req;
    req.set_key_group("kg-a");
    v1::RotateKekResponse out;
    grpc::Status s = admin->RotateKek(&ctx, req, &out);
    CHECK(s.error_code() == grpc::StatusCode::INTERNAL);
    CHECK_THAT(s.error_message(), Catch::Contains("sealpoold refused rotate-kek: " + why));
  }
  {
    grpc::ClientContext ctx;
    v1::RewrapKeysRequest req;
    req.set_key_group("kg-a");
    v1::RewrapKeysResponse out;
    grpc::Status s = admin->RewrapKeys(&ctx, req, &out);
    CHECK(s.error_code() == grpc::StatusCode::INTERNAL);
    CHECK_THAT(s.error_message(), Catch::Contains("sealpoold refused rewrap-keys: " + why));
  }
  {
    grpc::ClientContext ctx;
    v1::PurgeRequest req;
    req.set_key_group("kg-a");
    req.set_confirm(true);
    v1::PurgeResponse out;
    grpc::Status s = admin->Purge(&ctx, req, &out);
    CHECK(s.error_code() == grpc::StatusCode::INTERNAL);
    CHECK_THAT(s.error_message(), Catch::Contains("sealpoold refused purge: " + why));
  }
  CHECK(kek_ids() == before);  // no KEK rotated, nothing re-wrapped
}

TEST_CASE_METHOD(PoolFixture, "sealpoold: a catalog backup restores with sealpoold stopped",
                 "[e2e][sealpoold]") {
  auto alice = pool().Client("alice");
  auto admin = pool().Admin();
  const std::string backups = (pool().dir() / "catalog-backups").string();
  REQUIRE(Backup(*alice, "lsu1", "before", std::string(200000, 'b')).ok());
  {
    grpc::ClientContext ctx;
    v1::BackupCatalogRequest req;
    req.set_dir(backups);
    v1::BackupCatalogResponse out;
    REQUIRE(admin->BackupCatalog(&ctx, req, &out).ok());
    CHECK(out.dir() == backups);
  }
  {
    grpc::ClientContext ctx;
    v1::BackupCatalogRequest req;
    req.set_dir("relative/dir");
    v1::BackupCatalogResponse out;
    CHECK(admin->BackupCatalog(&ctx, req, &out).error_code() == grpc::INVALID_ARGUMENT);
  }
  REQUIRE(Backup(*alice, "lsu1", "after", std::string(300000, 'a')).ok());
  // Refused while the pool is open.
  std::string out;
  CHECK(RunCommand({SEALPOOLD_PATH, "--config", pool().config_path().string(),
                    "--restore-catalog", backups}, &out) == 2);
  CHECK(out.find("while the pool is open") != std::string::npos);
  REQUIRE(pool().Stop() == 0);
  REQUIRE(RunCommand({SEALPOOLD_PATH, "--config", pool().config_path().string(),
                      "--restore-catalog", backups}, &out) == 0);
  pool().Start();
  alice = pool().Client("alice");
  admin = pool().Admin();
  CHECK(Restore(*alice, "lsu1", "before").value_or("") == std::string(200000, 'b'));
  CHECK(Restore(*alice, "lsu1", "after").status().code() == StatusCode::kNotFound);
  grpc::ClientContext ctx;
  auto reader = admin->Verify(&ctx, {});
  v1::CheckProgress p, last;
  while (reader->Read(&p)) last = p;
  REQUIRE(reader->Finish().ok());
  CHECK(last.finished());
  CHECK(last.problems_size() == 0);
  // The image written after the backup can be written again: its name is free.
  CHECK(Backup(*alice, "lsu1", "after", "again").ok());
}

TEST_CASE("sealpoold: a config that contradicts the pool is refused", "[e2e][sealpoold]") {
  TempDir dir;
  Sealkmsd kms(dir.path() / "kms");
  kms.Start();
  kms.CreateActiveGroup("kg-a");
  kms.CreateActiveGroup("kg-shared");
  Sealpoold pool(dir.path() / "poold", &kms);
  pool.Start();
  REQUIRE(pool.Stop() == 0);
  // lsu1 moved to another key group.
  std::string tables = DefaultPoolTables();
  tables.replace(tables.find("name = \"lsu1\"\nkey_group = \"kg-a\""),
                 std::string("name = \"lsu1\"\nkey_group = \"kg-a\"").size(),
                 "name = \"lsu1\"\nkey_group = \"kg-shared\"");
  tables = "[[key_group]]\nname = \"kg-shared\"\n" + tables;
  pool.SetTables(tables);
  std::string log;
  CHECK(pool.RunToExit(&log) == 2);
  CHECK(log.find("LSU \"lsu1\" belongs to key group \"kg-a\"") != std::string::npos);
  // A second instance on the same pool is refused while the first runs.
  pool.SetTables(DefaultPoolTables());
  pool.Start();
  std::string log2;
  CHECK(pool.RunToExit(&log2) != 0);
  CHECK(pool.Stop() == 0);
}

}  // namespace
}  // namespace sealpool::test
