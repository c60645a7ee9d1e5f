// Client-side dedup through the real daemons (DedupBackup, docs/protocol.md): the key only for
// clients the config allows, "have" only from the caller's own base image, a lying client
// refused with nothing stored, malformed batches, and the same image as the server-side path.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "crypto/keys.h"
#include "storage/chunking/chunk_stream.h"
#include "storage/chunking/chunker_format.h"
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

// alice and bob may use client-side dedup; carol may back up but not client-side.
class DedupFixture {
 public:
  DedupFixture() : kms_(dir_.path() / "kms"), pool_(dir_.path() / "poold", &kms_) {
    pool_.SetTables(
        "[[key_group]]\nname = \"kg-a\"\n"
        "[[lsu]]\nname = \"lsu1\"\nkey_group = \"kg-a\"\n"
        "[[client]]\ncn = \"alice\"\nclient_dedup = true\n"
        "[[client.access]]\nlsu = \"lsu1\"\nallow = [\"backup\", \"restore\", \"delete\"]\n"
        "[[client]]\ncn = \"bob\"\nclient_dedup = true\nclient_dedup_epoch = 3\n"
        "[[client.access]]\nlsu = \"lsu1\"\nallow = [\"backup\", \"restore\", \"delete\"]\n"
        "[[client]]\ncn = \"carol\"\n"
        "[[client.access]]\nlsu = \"lsu1\"\nallow = [\"backup\", \"restore\"]\n");
    kms_.Start();
    kms_.CreateActiveGroup("kg-a");
    pool_.Start();
  }
  Sealpoold& pool() { return pool_; }

 private:
  TempDir dir_;
  Sealkmsd kms_;
  Sealpoold pool_;
};

struct DedupOptions {
  std::string base{};
  uint32_t protocol_version = 1;
  bool lie = false;             // flip a byte of the first segment sent
  size_t batch = 256;
  bool oversized_batch = false; // one batch of 1025 entries
  bool short_digest = false;    // a 31-byte digest
};

struct DedupResult {
  absl::Status status;
  bool got_start = false;
  std::string digest_key;
  uint32_t epoch = 0;
  uint64_t segments_asked = 0;
  uint64_t segments_offered = 0;
  v1::BackupResponse done;
};

// A whole DedupBackup of `data`, as a client does it: cut and digest with what the start
// answer gives, offer in batches, send what is asked for.
DedupResult DedupBackup(v1::PoolService::Stub& stub, const std::string& name,
                        const std::string& data, const DedupOptions& o = {}) {
  DedupResult r;
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(120)));
  auto stream = stub.DedupBackup(&ctx);
  v1::DedupBackupRequest msg;
  msg.mutable_header()->set_protocol_version(o.protocol_version);
  msg.mutable_header()->mutable_backup()->set_lsu("lsu1");
  msg.mutable_header()->mutable_backup()->set_name(name);
  msg.mutable_header()->set_base_image(o.base);
  stream->Write(msg);
  auto finish = [&] {
    stream->WritesDone();
    r.status = ToAbsl(stream->Finish());
    return r;
  };
  v1::DedupBackupResponse in;
  if (!stream->Read(&in) || !in.has_start()) return finish();
  r.got_start = true;
  r.digest_key = in.start().digest_key();
  r.epoch = in.start().digest_key_epoch();
  const std::string& rec = in.start().chunker_params();
  auto params = storage::ChunkerParams::DecodeFrom(
      {reinterpret_cast<const uint8_t*>(rec.data()), rec.size()});
  REQUIRE(params.ok());
  auto key = crypto::ClientDigestKey::FromBytes(
      {reinterpret_cast<const uint8_t*>(r.digest_key.data()), r.digest_key.size()});
  REQUIRE(key.ok());
  auto chunker = storage::SegmentStream::Create(*params, *key);
  REQUIRE(chunker.ok());
  struct Seg {
    std::string digest;
    std::string bytes;
  };
  std::vector<Seg> segs;
  auto sink = [&](const storage::StreamSegment& s) {
    segs.push_back({std::string(reinterpret_cast<const char*>(s.fingerprint.bytes().data()), 32),
                    std::string(reinterpret_cast<const char*>(s.data.data()), s.data.size())});
    return absl::OkStatus();
  };
  const auto* bytes = reinterpret_cast<const uint8_t*>(data.data());
  REQUIRE(chunker->Update({bytes, data.size()}, sink).ok());
  REQUIRE(chunker->Finish(sink).ok());
  bool lied = false;
  const size_t batch = o.oversized_batch ? 1025 : o.batch;
  for (size_t i = 0; i < segs.size() || (o.oversized_batch && i == 0); i += batch) {
    v1::DedupBackupRequest b;
    const size_t n = o.oversized_batch ? 1025 : std::min(batch, segs.size() - i);
    for (size_t k = 0; k < n; ++k) {
      const Seg& s = segs[std::min(i + k, segs.size() - 1)];
      v1::SegmentDigest* d = b.mutable_digests()->add_segments();
      d->set_digest(o.short_digest ? s.digest.substr(1) : s.digest);
      d->set_length(static_cast<uint32_t>(s.bytes.size()));
    }
    r.segments_offered += n;
    if (!stream->Write(b) || !stream->Read(&in) || !in.has_reply()) return finish();
    v1::DedupBackupRequest d;
    size_t packed = 0;
    for (uint32_t k : in.reply().send()) {
      ++r.segments_asked;
      std::string bytes_out = segs[i + k].bytes;
      if (o.lie && !lied) {
        bytes_out[bytes_out.size() / 2] ^= 1;
        lied = true;
      }
      packed += bytes_out.size();
      d.mutable_data()->add_segments(std::move(bytes_out));
      if (packed >= (1 << 20)) {
        if (!stream->Write(d)) return finish();
        d.Clear();
        packed = 0;
      }
    }
    if (d.has_data() && !stream->Write(d)) return finish();
  }
  v1::DedupBackupRequest commit;
  commit.mutable_commit()->set_size(data.size());
  stream->Write(commit);
  stream->WritesDone();
  if (stream->Read(&in) && in.has_done()) r.done = in.done();
  r.status = ToAbsl(stream->Finish());
  return r;
}

TEST_CASE("sealpoold client-side dedup: the key only where the config allows it, 'have' only "
          "from the caller's own image, a lying client stores nothing",
          "[e2e][sealpoold][client_dedup]") {
  DedupFixture f;
  auto alice = f.pool().Client("alice");
  auto bob = f.pool().Client("bob");
  auto carol = f.pool().Client("carol");
  auto admin = f.pool().Admin();
  auto [gen1, gen2] = TwoGenerations(6 << 20, 17);

  // A client the config does not allow: refused before any key is handed out.
  DedupResult refused = DedupBackup(*carol, "c1", gen1);
  CHECK(refused.status.code() == StatusCode::kPermissionDenied);
  CHECK(refused.status.message().find("may not use client-side dedup") != std::string::npos);
  CHECK(!refused.got_start);

  // A client-side image restores bit-exact; with no base everything is sent.
  DedupResult a1 = DedupBackup(*alice, "a1", gen1);
  INFO(a1.status.message());
  REQUIRE(a1.status.ok());
  CHECK(a1.digest_key.size() == 32);
  CHECK(a1.done.image().size() == gen1.size());
  CHECK(a1.done.bytes_received() == gen1.size());
  CHECK(a1.done.bytes_not_sent() == 0);
  auto back = Restore(*alice, "lsu1", "a1");
  REQUIRE(back.ok());
  CHECK(*back == gen1);
  // The same bytes server-side make the same recipe.
  auto ss = Backup(*carol, "lsu1", "c-server-side", gen1);
  REQUIRE(ss.ok());
  CHECK(ss->segments() == a1.done.segments());

  // The next generation sends only what the base lacks.
  DedupResult a2 = DedupBackup(*alice, "a2", gen2, {.base = "a1"});
  REQUIRE(a2.status.ok());
  CHECK(a2.done.bytes_not_sent() > gen2.size() / 2);
  CHECK(a2.done.bytes_received() + a2.done.bytes_not_sent() == gen2.size());
  back = Restore(*alice, "lsu1", "a2");
  REQUIRE(back.ok());
  CHECK(*back == gen2);

  // bob: his own key (another owner, another epoch), and nothing is "have" from alice's
  // image, even though the pool holds this exact content; the answer for her image equals the
  // answer for a missing one.
  const uint64_t stored = Stats(*admin).stored_bytes();
  DedupResult b_other = DedupBackup(*bob, "b1", gen1, {.base = "a1"});
  REQUIRE(b_other.status.ok());
  CHECK(b_other.epoch == 3);
  CHECK(b_other.digest_key != a1.digest_key);
  CHECK(b_other.segments_asked == b_other.segments_offered);
  CHECK(b_other.done.bytes_not_sent() == 0);
  DedupResult b_missing = DedupBackup(*bob, "b2", gen1, {.base = "no-such-image"});
  REQUIRE(b_missing.status.ok());
  CHECK(b_missing.segments_asked == b_other.segments_asked);
  // ... and deduplicated server-side, silently.
  CHECK(Stats(*admin).stored_bytes() == stored);
  // bob's own base image does give "have" (gen2 shares most of gen1).
  DedupResult b_own = DedupBackup(*bob, "b3", gen2, {.base = "b1"});
  REQUIRE(b_own.status.ok());
  CHECK(b_own.done.bytes_not_sent() > 0);  // what gen2 shares with gen1, from his own b1

  // A lying client: the bytes of a segment do not match its digest.
  const uint64_t images_before = Stats(*admin).images();
  DedupResult liar = DedupBackup(*bob, "liar", gen2 + "tail", {.lie = true});
  CHECK(liar.status.code() == StatusCode::kInvalidArgument);
  CHECK(liar.status.message().find("does not match the client digest sent for it; nothing was "
                                   "stored") != std::string::npos);
  {
    grpc::ClientContext ctx;
    v1::ImageRef ref;
    ref.set_lsu("lsu1");
    ref.set_name("liar");
    v1::Image img;
    CHECK(bob->StatImage(&ctx, ref, &img).error_code() == grpc::StatusCode::NOT_FOUND);
  }
  CHECK(Stats(*admin).images() == images_before);

  // Malformed batches and versions.
  DedupResult big = DedupBackup(*alice, "big", gen1, {.oversized_batch = true});
  CHECK(big.status.code() == StatusCode::kInvalidArgument);
  CHECK(big.status.message().find("it must hold 1..1024") != std::string::npos);
  DedupResult shortd = DedupBackup(*alice, "short", gen1, {.short_digest = true});
  CHECK(shortd.status.code() == StatusCode::kInvalidArgument);
  CHECK(shortd.status.message().find("a digest of 31 bytes, expected 32") != std::string::npos);
  DedupResult v2 = DedupBackup(*alice, "v2", gen1, {.protocol_version = 2});
  CHECK(v2.status.code() == StatusCode::kUnimplemented);
  CHECK(!v2.got_start);
  CHECK(Stats(*admin).images() == images_before);
}

}  // namespace
}  // namespace sealpool::test
