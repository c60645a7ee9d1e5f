// Client-side dedup in the pool (storage/pool/pool.h, ClientDedupWriter): "have" only from the
// owner's own base image, re-checked digests, refused cuts, a delete racing a write told
// "have", and the same stored result as the server-side path.
#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "crypto/client_digest_key.h"
#include "crypto/fingerprint.h"
#include "storage/catalog/catalog.h"
#include "storage/catalog/catalog_records.h"
#include "storage/chunking/chunk_stream.h"
#include "storage/pool/pool.h"
#include "test/storage/pool/pool_test_util.h"

namespace sealpool::storage {
namespace {

using testing::ImageContent;
using testing::ImageSpec;
using testing::kTestLsu;
using testing::PoolFixture;
using C = absl::StatusCode;

constexpr char kAlice[] = "alice";
constexpr char kBob[] = "bob";

// One segment as a client cuts and digests it.
struct ClientSegment {
  OfferedSegment offered;
  std::vector<uint8_t> bytes;
};

// What a client does before talking to the pool: cut with the group's params, digest with its
// own key.
std::vector<ClientSegment> Cut(const Pool& pool, const ChunkerParams& params, std::string_view owner,
                               uint32_t epoch, std::span<const uint8_t> content) {
  auto key = pool.ClientDigestKey(kTestLsu, owner, epoch);
  REQUIRE(key.ok());
  auto stream = SegmentStream::Create(params, *key);
  REQUIRE(stream.ok());
  std::vector<ClientSegment> out;
  auto sink = [&](const StreamSegment& seg) {
    ClientSegment c;
    std::copy(seg.fingerprint.bytes().begin(), seg.fingerprint.bytes().end(),
              c.offered.digest.begin());
    c.offered.length = static_cast<uint32_t>(seg.data.size());
    c.bytes.assign(seg.data.begin(), seg.data.end());
    out.push_back(std::move(c));
    return absl::OkStatus();
  };
  REQUIRE(stream->Update(content, sink).ok());
  REQUIRE(stream->Finish(sink).ok());
  return out;
}

struct ClientResult {
  absl::StatusOr<ImageInfo> info = absl::UnknownError("not run");
  uint64_t bytes_sent = 0;
  uint64_t segments_sent = 0;
  WriteStats stats;
};

ImageRequest Request(std::string owner, std::string name) {
  ImageRequest r;
  r.lsu = kTestLsu;
  r.owner = std::move(owner);
  r.name = std::move(name);
  return r;
}

// A whole client-side backup of `content`.
ClientResult BackUpClientSide(Pool& pool, std::string owner, std::string name,
                              std::span<const uint8_t> content, std::string base = "",
                              uint32_t epoch = 0, size_t batch = 64) {
  ClientResult r;
  auto writer = pool.BeginClientDedupImage(Request(owner, name), {epoch, base});
  REQUIRE(writer.ok());
  std::vector<ClientSegment> segs = Cut(pool, (*writer)->chunker(), owner, epoch, content);
  for (size_t i = 0; i < segs.size(); i += batch) {
    const size_t n = std::min(batch, segs.size() - i);
    std::vector<OfferedSegment> offer;
    for (size_t k = 0; k < n; ++k) offer.push_back(segs[i + k].offered);
    auto send = (*writer)->Offer(offer);
    if (!send.ok()) {
      r.info = send.status();
      return r;
    }
    for (uint32_t k : *send) {
      r.bytes_sent += segs[i + k].bytes.size();
      ++r.segments_sent;
      if (absl::Status s = (*writer)->WriteSegment(segs[i + k].bytes); !s.ok()) {
        r.info = s;
        return r;
      }
    }
  }
  r.info = (*writer)->Commit();
  r.stats = (*writer)->stats();
  return r;
}

std::vector<uint8_t> ReadImage(Pool& pool, std::string owner, std::string name) {
  std::vector<uint8_t> out;
  absl::StatusOr<ImageInfo> info = pool.StatImage({kTestLsu, owner, name});
  REQUIRE(info.ok());
  REQUIRE(pool.ReadImage({kTestLsu, owner, name}, 0, info->size, [&](std::span<const uint8_t> d) {
                out.insert(out.end(), d.begin(), d.end());
                return absl::OkStatus();
              }).ok());
  return out;
}

PoolStats Settled(Pool& pool) {
  REQUIRE(pool.ProcessDeleteQueue().ok());
  auto stats = pool.Stats();
  REQUIRE(stats.ok());
  return *stats;
}

TEST_CASE("client-side: an image restores bit-exact and stores what the server-side path stores",
          "[storage][pool][client_dedup]") {
  const std::vector<uint8_t> content = ImageContent({.seed = 7, .size = 3 << 20});
  PoolFixture server_side;
  auto ss = testing::WriteImageBytes(server_side.pool(), kTestLsu, "img", content);
  REQUIRE(ss.ok());
  PoolFixture client_side;
  ClientResult cs = BackUpClientSide(client_side.pool(), "", "img", content);
  REQUIRE(cs.info.ok());
  CHECK(cs.info->size == content.size());
  CHECK(cs.info->extents == ss->extents);
  CHECK(ReadImage(client_side.pool(), "", "img") == content);
  const PoolStats a = Settled(server_side.pool());
  const PoolStats b = Settled(client_side.pool());
  CHECK(a.segments == b.segments);
  CHECK(a.stored_bytes == b.stored_bytes);
  CHECK(a.logical_bytes == b.logical_bytes);
  // No base image: everything was sent.
  CHECK(cs.bytes_sent == content.size());
  CHECK(cs.stats.bytes_not_sent == 0);
}

TEST_CASE("client-side: the next generation sends only what its base image lacks",
          "[storage][pool][client_dedup]") {
  PoolFixture f;
  std::vector<uint8_t> gen1 = ImageContent({.seed = 11, .size = 2 << 20});
  std::vector<uint8_t> gen2 = gen1;
  // Change 64 KiB in the middle.
  for (size_t i = 1 << 20; i < (1 << 20) + (64 << 10); ++i) gen2[i] ^= 0x5a;
  ClientResult g1 = BackUpClientSide(f.pool(), kAlice, "gen1", gen1);
  REQUIRE(g1.info.ok());
  ClientResult g2 = BackUpClientSide(f.pool(), kAlice, "gen2", gen2, "gen1");
  REQUIRE(g2.info.ok());
  CHECK(ReadImage(f.pool(), kAlice, "gen2") == gen2);
  CHECK(g2.bytes_sent < gen2.size() / 4);
  CHECK(g2.bytes_sent + g2.stats.bytes_not_sent == gen2.size());
  CHECK(g2.bytes_sent > 0);
}

TEST_CASE("client-side: no 'have' from another owner's image or for a digest not in the base, "
          "even when another client stored that content",
          "[storage][pool][client_dedup]") {
  PoolFixture f;
  // Unrelated contents (ImageContent shares blocks between seeds).
  const std::vector<uint8_t> secret = test::PseudoRandomBytes(1 << 20, 21);
  const std::vector<uint8_t> own = test::PseudoRandomBytes(1 << 20, 22);
  ClientResult a = BackUpClientSide(f.pool(), kAlice, "a1", secret);
  REQUIRE(a.info.ok());
  ClientResult b0 = BackUpClientSide(f.pool(), kBob, "b0", own);
  REQUIRE(b0.info.ok());
  const PoolStats before = Settled(f.pool());

  SECTION("naming another owner's image: the same answer as a missing image") {
    ClientResult other = BackUpClientSide(f.pool(), kBob, "b1", secret, "a1");
    REQUIRE(other.info.ok());
    ClientResult missing = BackUpClientSide(f.pool(), kBob, "b2", secret, "no-such-image");
    REQUIRE(missing.info.ok());
    CHECK(other.bytes_sent == secret.size());
    CHECK(other.stats.bytes_not_sent == 0);
    CHECK(missing.bytes_sent == secret.size());
    CHECK(other.segments_sent == missing.segments_sent);
    // Deduplicated server-side all the same, silently: nothing new stored.
    const PoolStats after = Settled(f.pool());
    CHECK(after.segments == before.segments);
    CHECK(after.stored_bytes == before.stored_bytes);
  }
  SECTION("naming its own image that lacks the content") {
    ClientResult r = BackUpClientSide(f.pool(), kBob, "b1", secret, "b0");
    REQUIRE(r.info.ok());
    CHECK(r.bytes_sent == secret.size());
    CHECK(r.stats.bytes_not_sent == 0);
  }
  SECTION("offering alice's own digests (her key), naming her image, as bob") {
    auto writer = f.pool().BeginClientDedupImage(Request(kBob, "b1"), {0, "a1"});
    REQUIRE(writer.ok());
    std::vector<ClientSegment> segs = Cut(f.pool(), (*writer)->chunker(), kAlice, 0, secret);
    std::vector<OfferedSegment> offer;
    for (const auto& s : segs) offer.push_back(s.offered);
    auto send = (*writer)->Offer(offer);
    REQUIRE(send.ok());
    CHECK(send->size() == segs.size());
  }
  SECTION("a different epoch is a different key: no 'have' from the old epoch's image") {
    ClientResult r = BackUpClientSide(f.pool(), kAlice, "a2", secret, "a1", /*epoch=*/1);
    REQUIRE(r.info.ok());
    CHECK(r.bytes_sent == secret.size());
    auto k0 = f.pool().ClientDigestKey(kTestLsu, kAlice, 0);
    auto k1 = f.pool().ClientDigestKey(kTestLsu, kAlice, 1);
    auto kb = f.pool().ClientDigestKey(kTestLsu, kBob, 0);
    REQUIRE((k0.ok() && k1.ok() && kb.ok()));
    CHECK(!std::equal(k0->RevealSecret().begin(), k0->RevealSecret().end(),
                      k1->RevealSecret().begin()));
    CHECK(!std::equal(k0->RevealSecret().begin(), k0->RevealSecret().end(),
                      kb->RevealSecret().begin()));
  }
}

TEST_CASE("client-side: a segment whose bytes do not match its digest is refused, nothing stored",
          "[storage][pool][client_dedup]") {
  PoolFixture f;
  const PoolStats before = Settled(f.pool());
  const std::vector<uint8_t> claimed = ImageContent({.seed = 31, .size = 256 << 10});
  std::vector<uint8_t> actual = claimed;
  actual[100] ^= 1;
  auto writer = f.pool().BeginClientDedupImage(Request(kAlice, "liar"), {});
  REQUIRE(writer.ok());
  std::vector<ClientSegment> segs = Cut(f.pool(), (*writer)->chunker(), kAlice, 0, claimed);
  std::vector<OfferedSegment> offer;
  for (const auto& s : segs) offer.push_back(s.offered);
  auto send = (*writer)->Offer(offer);
  REQUIRE(send.ok());
  REQUIRE(send->size() == segs.size());
  std::vector<uint8_t> first(actual.begin(),
                            actual.begin() + static_cast<std::ptrdiff_t>(segs[0].bytes.size()));
  absl::Status s = (*writer)->WriteSegment(first);
  CHECK(s.code() == C::kInvalidArgument);
  CHECK(s.message().find("does not match the client digest sent for it; nothing was stored") !=
        std::string_view::npos);
  // The write is over: the commit returns the same error.
  CHECK((*writer)->Commit().status().code() == C::kInvalidArgument);
  writer->reset();
  CHECK(f.pool().StatImage({kTestLsu, kAlice, "liar"}).status().code() == C::kNotFound);
  const PoolStats after = Settled(f.pool());
  CHECK(after.segments == before.segments);
  CHECK(after.stored_bytes == before.stored_bytes);
  CHECK(after.images == before.images);
}

TEST_CASE("client-side: bad cuts and batches are refused", "[storage][pool][client_dedup]") {
  PoolFixture f;
  auto writer = f.pool().BeginClientDedupImage(Request(kAlice, "bad"), {});
  REQUIRE(writer.ok());
  const ChunkerParams p = (*writer)->chunker();
  auto refused = [&](std::vector<OfferedSegment> offer, const char* why) {
    auto w = f.pool().BeginClientDedupImage(Request(kAlice, "bad2"), {});
    REQUIRE(w.ok());
    auto r = (*w)->Offer(offer);
    CHECK(r.status().code() == C::kInvalidArgument);
    CHECK(r.status().message().find(why) != std::string_view::npos);
  };
  refused({}, "it must hold 1..");
  refused(std::vector<OfferedSegment>(kMaxOfferSegments + 1, {{}, p.min_size}), "it must hold 1..");
  refused({{{}, 0}}, "a segment of 0 bytes");
  refused({{{}, p.max_size + 1}}, "the key group cuts 1..");
  refused({{{}, p.min_size - 1}, {{}, p.min_size}}, "follows one shorter than");
  // A short segment as the last is fine; the wrong length of bytes is not.
  auto send = (*writer)->Offer(std::vector<OfferedSegment>{{{}, p.min_size}, {{}, 10}});
  REQUIRE(send.ok());
  CHECK(send->size() == 2);
  // A second batch while segments are owed.
  CHECK((*writer)->Offer(std::vector<OfferedSegment>{{{}, p.min_size}}).status().code() ==
        C::kInvalidArgument);
  auto w3 = f.pool().BeginClientDedupImage(Request(kAlice, "bad3"), {});
  REQUIRE(w3.ok());
  REQUIRE((*w3)->Offer(std::vector<OfferedSegment>{{{}, p.min_size}}).ok());
  absl::Status s = (*w3)->WriteSegment(std::vector<uint8_t>(p.min_size + 1));
  CHECK(s.code() == C::kInvalidArgument);
  CHECK(s.message().find("its digest batch said") != std::string_view::npos);
  auto w4 = f.pool().BeginClientDedupImage(Request(kAlice, "bad4"), {});
  REQUIRE(w4.ok());
  REQUIRE((*w4)->Offer(std::vector<OfferedSegment>{{{}, p.min_size}}).ok());
  CHECK((*w4)->Commit().status().code() == C::kInvalidArgument);
  auto w5 = f.pool().BeginClientDedupImage(Request(kAlice, "bad5"), {});
  REQUIRE(w5.ok());
  CHECK((*w5)->WriteSegment(std::vector<uint8_t>(10)).code() == C::kInvalidArgument);
}

TEST_CASE("client-side: a delete racing a write told 'have' loses nothing",
          "[storage][pool][client_dedup]") {
  PoolFixture f;
  const std::vector<uint8_t> content = ImageContent({.seed = 41, .size = 1 << 20});
  ClientResult g1 = BackUpClientSide(f.pool(), kAlice, "g1", content);
  REQUIRE(g1.info.ok());
  auto writer = f.pool().BeginClientDedupImage(Request(kAlice, "g2"), {0, "g1"});
  REQUIRE(writer.ok());
  std::vector<ClientSegment> segs = Cut(f.pool(), (*writer)->chunker(), kAlice, 0, content);
  std::vector<OfferedSegment> offer;
  for (const auto& s : segs) offer.push_back(s.offered);
  auto send = (*writer)->Offer(offer);
  REQUIRE(send.ok());
  REQUIRE(send->empty());  // every segment is "have"
  // The base image goes, and the delete queue runs to its end, before g2 commits.
  REQUIRE(f.pool().DeleteImage({kTestLsu, kAlice, "g1"}, DeleteBy::kAdmin).ok());
  auto report = f.pool().ProcessDeleteQueue();
  REQUIRE(report.ok());
  CHECK(report->segments_erased == 0);
  CHECK(report->segments_kept_busy > 0);
  auto info = (*writer)->Commit();
  REQUIRE(info.ok());
  writer->reset();
  Settled(f.pool());
  CHECK(ReadImage(f.pool(), kAlice, "g2") == content);
  auto verify = f.pool().VerifyImage({kTestLsu, kAlice, "g2"});
  REQUIRE(verify.ok());
  CHECK(verify->ok());
}

TEST_CASE("client-side: deleting an image removes its client digests",
          "[storage][pool][client_dedup]") {
  PoolFixture f;
  const std::vector<uint8_t> content = ImageContent({.seed = 51, .size = 512 << 10});
  REQUIRE(BackUpClientSide(f.pool(), kAlice, "d1", content).info.ok());
  // An aborted write leaves none either.
  {
    auto w = f.pool().BeginClientDedupImage(Request(kAlice, "d2"), {0, "d1"});
    REQUIRE(w.ok());
    std::vector<ClientSegment> segs = Cut(f.pool(), (*w)->chunker(), kAlice, 0, content);
    std::vector<OfferedSegment> offer;
    for (const auto& s : segs) offer.push_back(s.offered);
    REQUIRE((*w)->Offer(offer).ok());
  }
  auto count = [&] {
    f.Close();
    auto catalog = Catalog::Open(f.catalog_dir(), CatalogOptions{});
    REQUIRE(catalog.ok());
    size_t n = 0;
    REQUIRE((*catalog)
                ->Scan(Cf::kClientDigests, "",
                       [&](std::string_view, std::string_view) -> absl::StatusOr<bool> {
                         ++n;
                         return true;
                       })
                .ok());
    catalog->reset();
    f.Reopen();
    return n;
  };
  Settled(f.pool());
  CHECK(count() > 0);
  REQUIRE(f.pool().DeleteImage({kTestLsu, kAlice, "d1"}, DeleteBy::kAdmin).ok());
  Settled(f.pool());
  CHECK(count() == 0);
}

}  // namespace
}  // namespace sealpool::storage

namespace sealpool::storage {
namespace {

// Figures for docs/perf.md "Client-side dedup" (not run by the suite):
//   build/test/storage/pool/pool_client_dedup_test "[.bench]" -s
// 1. What checking the client digest of each received segment costs beside the pool's own
//    fingerprint: both HMAC-SHA-256 over the same 64 KiB segments, timed alone and together.
// 2. Catalog bytes of the stored client digests per GiB of client-side image, default chunker.
TEST_CASE("client-side: cost of the digest check and catalog bytes per GiB", "[.bench]") {
  const size_t kSegment = 64 << 10;
  const size_t kSegments = 4096;  // 256 MiB
  const double n_segments = 4096.0;
  std::vector<uint8_t> data = test::PseudoRandomBytes(kSegment * 16, 5);
  auto fpk = crypto::FingerprintKey::Generate();
  REQUIRE(fpk.ok());
  std::array<uint8_t, 16> group_id{};
  auto ck = crypto::DeriveClientDigestKey(*fpk, group_id, "alice", 0);
  REQUIRE(ck.ok());
  auto fp = crypto::Fingerprinter::Create(*fpk);
  auto cd = crypto::Fingerprinter::Create(*ck);
  REQUIRE((fp.ok() && cd.ok()));
  // Best of 7 rounds, the two variants interleaved (the build host is shared); no assertion in
  // the loop (Catch's bookkeeping would dominate).
  size_t failures = 0;
  auto round = [&](bool digest) {
    const absl::Time start = absl::Now();
    for (size_t i = 0; i < kSegments; ++i) {
      std::span<const uint8_t> seg(data.data() + (i % 16) * kSegment, kSegment);
      absl::StatusOr<crypto::Fingerprint> f = fp->Compute(seg);
      if (!f.ok()) ++failures;
      if (digest) {
        absl::StatusOr<crypto::Fingerprint> d = cd->Compute(seg);
        ClientDigest claimed{};  // what the client sent: compared byte for byte
        if (!d.ok() || std::equal(claimed.begin(), claimed.end(), d->bytes().begin())) ++failures;
      }
    }
    return absl::ToDoubleSeconds(absl::Now() - start);
  };
  double best_fp = 1e9, best_both = 1e9;
  for (int r = 0; r < 7; ++r) {
    best_fp = std::min(best_fp, round(false));
    best_both = std::min(best_both, round(true));
  }
  REQUIRE(failures == 0);
  auto time = [&](bool, bool digest) { return digest ? best_both : best_fp; };
  const double t_fp = time(true, false);
  const double t_both = time(true, true);
  const double bytes = static_cast<double>(kSegment) * n_segments;
  std::printf("fingerprint only:            %.0f MB/s (%.2f us per 64 KiB segment)\n",
              bytes / t_fp / 1e6, t_fp / n_segments * 1e6);
  std::printf("fingerprint + digest check:  %.0f MB/s (%.2f us per 64 KiB segment), %.2fx the time\n",
              bytes / t_both / 1e6, t_both / n_segments * 1e6, t_both / t_fp);

  // Catalog bytes: a 64 MiB client-side image with the default chunker.
  PoolOptions options = testing::SmallPoolOptions();
  options.chunker = ChunkerParams{};
  options.containers.target_size = 64 << 20;
  PoolFixture f(options);
  const std::vector<uint8_t> content = test::PseudoRandomBytes(64 << 20, 9);
  ClientResult r = BackUpClientSide(f.pool(), kAlice, "big", content, "", 0, 1024);
  REQUIRE(r.info.ok());
  f.Close();
  auto catalog = Catalog::Open(f.catalog_dir(), CatalogOptions{});
  REQUIRE(catalog.ok());
  size_t entries = 0, raw = 0;
  REQUIRE((*catalog)
              ->Scan(Cf::kClientDigests, "",
                     [&](std::string_view k, std::string_view v) -> absl::StatusOr<bool> {
                       ++entries;
                       raw += k.size() + v.size();
                       return true;
                     })
              .ok());
  const double gib = static_cast<double>(content.size()) / (1 << 30);
  std::printf("client digests: %zu entries for %zu extents, %zu raw bytes; %.0f KiB per GiB "
              "(%.1f entries per MiB)\n",
              entries, static_cast<size_t>(r.info->extents), raw,
              static_cast<double>(raw) / gib / 1024, static_cast<double>(entries) / (gib * 1024));
  catalog->reset();
  f.Reopen();
}

}  // namespace
}  // namespace sealpool::storage
