// docs/format.md against the bytes: pools written by storage::Pool, decoded by the independent
// decoder (format_doc_decoder.h, constants from the doc only), every figure cross-checked with
// the Pool API; the checked-in golden pool (test/data/golden-pool) and its dump
// (test/data/golden-pool.dump); damaged copies that must give errors, never crashes.
//
// Regenerating the golden pool after an intended format change (docs/testing.md):
//   rm -rf test/data/golden-pool test/data/golden-pool.dump
//   SEALPOOL_GOLDEN_OUT=$PWD/test/data build/test/storage/format/format_doc_test "[.generate]"
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "storage/chunking/chunk_stream.h"
#include "rocksdb/db.h"
#include "storage/keydict/in_process_root_key_provider.h"
#include "storage/pool/pool.h"
#include "test/storage/format/format_doc_decoder.h"
#include "test/test_util.h"

namespace sealpool::storage {
namespace {

namespace fs = std::filesystem;
using formatdoc::DecodePool;
using formatdoc::DecodeResult;
using formatdoc::DumpOptions;

constexpr char kGroup[] = "kg1";
constexpr char kLsu[] = "lsu1";

std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

// Deterministic content: 4 KiB blocks, about half from 8 shared blocks (dedup across images),
// a quarter compressible text, the rest unique to (seed, block).
std::vector<uint8_t> Content(uint64_t seed, size_t size) {
  std::vector<uint8_t> out;
  out.reserve(size);
  for (uint64_t j = 0; out.size() < size; ++j) {
    uint64_t h = (seed * 0x9E3779B97F4A7C15ULL) ^ (j * 0xC2B2AE3D27D4EB4FULL);
    h ^= h >> 29;
    std::mt19937_64 rng;
    const uint64_t kind = h % 4;
    rng.seed(kind <= 1 ? 1000 + (h >> 8) % 8 : h);
    const size_t n = std::min<size_t>(4096, size - out.size());
    for (size_t i = 0; i < n; ++i) {
      out.push_back(kind == 2 ? static_cast<uint8_t>("sealpool golden "[i % 16])
                              : static_cast<uint8_t>(rng()));
    }
  }
  return out;
}

PoolOptions GoldenOptions() {
  PoolOptions o;
  o.containers.target_size = uint64_t{48} << 10;  // several containers from little data
  o.chunker.min_size = 2 << 10;
  o.chunker.avg_size = 4 << 10;
  o.chunker.max_size = 16 << 10;
  o.chunker.seed = 0;
  o.catalog.block_cache_bytes = 1 << 20;
  o.catalog.write_buffer_bytes = 1 << 20;
  o.seal_threads = 1;  // records land in a deterministic order
  const absl::Time t = absl::FromUnixSeconds(1'800'000'000);
  o.clock = [t] { return t; };
  o.keys.clock = [t] { return t; };
  return o;
}

absl::Status WriteImage(Pool& pool, const ImageRequest& request, const std::vector<uint8_t>& data) {
  auto writer = pool.BeginImage(request);
  if (!writer.ok()) return writer.status();
  for (size_t at = 0; at < data.size(); at += 5000) {
    const size_t n = std::min<size_t>(5000, data.size() - at);
    if (absl::Status s = (*writer)->Write(std::span(data).subspan(at, n)); !s.ok()) return s;
  }
  return (*writer)->Commit().status();
}

ImageRequest Request(std::string name, std::string owner = "") {
  ImageRequest r;
  r.lsu = kLsu;
  r.name = std::move(name);
  r.owner = std::move(owner);
  return r;
}

// The golden pool: key group kg1 (built-in backend, in-process root key rk-1), LSU lsu1; images
// "a" (48 KiB), "a-copy" (the same bytes: whole dedup), "b" (shares blocks with "a"), bob's "a"
// (another owner, same name; labels; retention), "gone" (written, deleted, reclaimed), then a
// KEK rotation and "after-rotation" (DEKs under KEK 2), carol's "client-side" (written
// client-side: client digests, catalog format 3). Deterministic except for random ids,
// keys, nonces and the container headers' wall-clock time.
void WriteGoldenPool(const std::string& dir, InProcessRootKeyProvider& kms) {
  REQUIRE(kms.Activate(kms.AddRootKey(kGroup)).ok());
  PoolOptions options = GoldenOptions();
  auto pool = Pool::Create(dir, &kms, options);
  REQUIRE(pool.ok());
  Pool& p = **pool;
  REQUIRE(p.CreateKeyGroup(kGroup).ok());
  REQUIRE(p.CreateLsu(kLsu, kGroup, LsuOptions{.allow_client_delete = true,
                                               .max_retention = absl::Hours(24 * 30)})
              .ok());
  const std::vector<uint8_t> a = Content(1, 48 << 10);
  REQUIRE(WriteImage(p, Request("a"), a).ok());
  REQUIRE(WriteImage(p, Request("a-copy"), a).ok());
  REQUIRE(WriteImage(p, Request("b"), Content(2, 40 << 10)).ok());
  ImageRequest bob = Request("a", "bob");
  bob.labels = {{"host", "db1"}, {"kind", "full"}};
  bob.retain_until = options.clock() + absl::Hours(24);
  REQUIRE(WriteImage(p, bob, Content(3, 24 << 10)).ok());
  REQUIRE(WriteImage(p, Request("gone"), Content(4, 16 << 10)).ok());
  REQUIRE(p.DeleteImage({kLsu, "", "gone"}, DeleteBy::kAdmin).ok());
  auto done = p.ProcessDeleteQueue();
  REQUIRE(done.ok());
  REQUIRE(done->jobs_left == 0);
  REQUIRE(p.RotateKek(kGroup).ok());
  REQUIRE(WriteImage(p, Request("after-rotation"), Content(5, 20 << 10)).ok());
  // A client-side image (catalog format 3: its client digests), carol's, with "b" as content.
  {
    ImageRequest carol = Request("client-side", "carol");
    auto w = p.BeginClientDedupImage(carol, {});
    REQUIRE(w.ok());
    auto key = p.ClientDigestKey(kLsu, "carol", 0);
    REQUIRE(key.ok());
    auto stream = SegmentStream::Create((*w)->chunker(), *key);
    REQUIRE(stream.ok());
    std::vector<std::vector<uint8_t>> segs;
    std::vector<OfferedSegment> offer;
    auto sink = [&](const StreamSegment& seg) {
      OfferedSegment o;
      std::copy(seg.fingerprint.bytes().begin(), seg.fingerprint.bytes().end(), o.digest.begin());
      o.length = static_cast<uint32_t>(seg.data.size());
      offer.push_back(o);
      segs.emplace_back(seg.data.begin(), seg.data.end());
      return absl::OkStatus();
    };
    const std::vector<uint8_t> b = Content(2, 40 << 10);
    REQUIRE(stream->Update(b, sink).ok());
    REQUIRE(stream->Finish(sink).ok());
    auto send = (*w)->Offer(offer);
    REQUIRE(send.ok());
    for (uint32_t i : *send) REQUIRE((*w)->WriteSegment(segs[i]).ok());
    REQUIRE((*w)->Commit().ok());
  }
  auto verify = p.Verify();
  REQUIRE(verify.ok());
  REQUIRE(verify->ok());
  pool->reset();
  // RocksDB's info logs are not part of the format, and only the newest OPTIONS file is read
  // (smaller golden pool).
  std::vector<fs::path> options_files;
  for (const auto& e : fs::directory_iterator(fs::path(dir) / "catalog")) {
    const std::string name = e.path().filename().string();
    if (name.rfind("LOG", 0) == 0) fs::remove(e.path());
    if (name.rfind("OPTIONS-", 0) == 0) options_files.push_back(e.path());
  }
  std::sort(options_files.begin(), options_files.end());
  for (size_t i = 0; i + 1 < options_files.size(); ++i) fs::remove(options_files[i]);
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  std::string out;
  const std::streamoff size = in ? static_cast<std::streamoff>(in.tellg()) : 0;
  if (size > 0) {
    out.resize(static_cast<size_t>(size));
    in.seekg(0);
    in.read(out.data(), size);
  }
  return out;
}

// A private copy (RocksDB may add files to a directory it opens).
std::string CopyPool(const fs::path& from, const test::TempDir& tmp, const std::string& name) {
  const fs::path to = tmp.path() / name;
  fs::copy(from, to, fs::copy_options::recursive);
  return to.string();
}

// The decoder's key service: the provider that wrapped the pool's keys.
DumpOptions WithKeys(InProcessRootKeyProvider& kms) {
  DumpOptions o;
  o.unwrap = [&kms](uint32_t, const std::string& group, const std::string& key_id,
                    const std::string& root_key_id,
                    const std::string& blob) -> std::optional<std::string> {
    WrappedKey w;
    w.root_key_id = root_key_id;
    w.blob.assign(blob.begin(), blob.end());
    auto secret = kms.Unwrap(group, key_id, w);
    if (!secret.ok()) return std::nullopt;
    return std::string(secret->span().begin(), secret->span().end());
  };
  return o;
}

// Every figure the decoder counted from the bytes equals what the Pool API says.
void CheckAgainstPool(const std::string& dir, const DecodeResult& d) {
  InProcessRootKeyProvider kms("other");  // opening and counting needs no key
  auto pool = Pool::Open(dir, &kms, GoldenOptions());
  REQUIRE(pool.ok());
  const formatdoc::Figures& f = d.figures;
  for (bool recount : {false, true}) {
    auto s = recount ? (*pool)->RecountStats() : (*pool)->Stats();
    REQUIRE(s.ok());
    INFO("recount " << recount);
    CHECK(s->images == f.images.size());
    CHECK(s->logical_bytes == f.logical_bytes);
    CHECK(s->segments == f.segments);
    CHECK(s->stored_bytes == f.stored_bytes);
    CHECK(s->containers == f.containers);
    CHECK(s->space_allocated == f.container_file_bytes);
    CHECK(s->space_used == f.live_record_bytes);
    CHECK(s->pending_delete_jobs == f.delete_jobs);
    CHECK(static_cast<int64_t>(s->images) == f.pool_counters.at("images"));
    CHECK(static_cast<int64_t>(s->segments) == f.pool_counters.at("segments"));
    CHECK(static_cast<int64_t>(s->stored_bytes) == f.pool_counters.at("stored_bytes"));
    CHECK(static_cast<int64_t>(s->logical_bytes) == f.pool_counters.at("logical_bytes"));
  }
  std::vector<std::string> api, decoded;
  auto lsus = (*pool)->ListLsus();
  REQUIRE(lsus.ok());
  for (const auto& lsu : *lsus) {
    auto images = (*pool)->ListImages(lsu.name, std::nullopt);
    REQUIRE(images.ok());
    for (const auto& i : *images) {
      api.push_back(i.lsu + "/" + i.owner + "/" + i.name + " id=" + std::to_string(i.image_id) +
                    " size=" + std::to_string(i.size) + " extents=" + std::to_string(i.extents));
    }
  }
  for (const auto& i : f.images) {
    decoded.push_back(i.lsu + "/" + i.owner + "/" + i.name + " id=" + std::to_string(i.image_id) +
                      " size=" + std::to_string(i.size) +
                      " extents=" + std::to_string(i.extent_count));
  }
  std::sort(api.begin(), api.end());
  std::sort(decoded.begin(), decoded.end());
  CHECK(Joined(decoded) == Joined(api));
  auto scrub = (*pool)->Scrub();
  REQUIRE(scrub.ok());
  CHECK(scrub->ok());
  CHECK(scrub->records_checked == f.container_records_scanned);
}

TEST_CASE("format doc: a fresh pool decodes from docs/format.md alone and agrees with the Pool API",
          "[format]") {
  test::TempDir tmp;
  const std::string dir = tmp.File("pool");
  InProcessRootKeyProvider kms("golden-pool");
  WriteGoldenPool(dir, kms);
  DecodeResult d = DecodePool(dir, WithKeys(kms));
  INFO(d.dump);
  CHECK(Joined(d.problems).empty());
  CHECK(d.figures.images.size() == 6);
  // With the keys: every segment opened and every digest recomputed from the docs alone.
  CHECK(d.figures.segments_opened == d.figures.segments);
  CHECK(d.figures.image_digests_checked == 6);
  // Without them the dump is the same but for the keyed section.
  DecodeResult plain = DecodePool(dir);
  CHECK(plain.ok());
  CHECK(d.dump.find("[keyed checks] 2") != std::string::npos);
  CHECK(plain.dump.find("[keyed checks]") == std::string::npos);
  // Wrong keys open nothing (the keyed checks are not vacuous).
  DumpOptions wrong;
  wrong.unwrap = [](uint32_t, const std::string&, const std::string&, const std::string&,
                    const std::string&) { return std::optional<std::string>(std::string(32, 'k')); };
  DecodeResult bad = DecodePool(dir, wrong);
  CHECK_FALSE(bad.ok());
  CHECK(bad.figures.segments_opened == 0);
  CHECK(bad.figures.image_digests_checked == 0);
  CHECK(d.figures.pool_counters.at("delete_jobs") == 0);
  CheckAgainstPool(dir, d);
}

TEST_CASE("format doc: a larger pool with two key groups and queued deletes agrees with the Pool API",
          "[format]") {
  test::TempDir tmp;
  const std::string dir = tmp.File("pool");
  InProcessRootKeyProvider kms("big");
  REQUIRE(kms.Activate(kms.AddRootKey(kGroup)).ok());
  REQUIRE(kms.Activate(kms.AddRootKey("kg2")).ok());
  PoolOptions options = GoldenOptions();
  options.seal_threads = 2;
  options.containers.target_size = uint64_t{512} << 10;
  {
    auto pool = Pool::Create(dir, &kms, options);
    REQUIRE(pool.ok());
    REQUIRE((*pool)->CreateKeyGroup(kGroup).ok());
    REQUIRE((*pool)->CreateKeyGroup("kg2").ok());
    REQUIRE((*pool)->CreateLsu(kLsu, kGroup, LsuOptions{.allow_client_delete = true}).ok());
    REQUIRE((*pool)->CreateLsu("lsu2", "kg2", LsuOptions{.allow_client_delete = true}).ok());
    for (int i = 0; i < 4; ++i) {
      REQUIRE(WriteImage(**pool, Request("img" + std::to_string(i)), Content(static_cast<uint64_t>(10 + i % 2), 600 << 10))
                  .ok());
    }
    ImageRequest other = Request("img0", "carol");
    other.lsu = "lsu2";
    REQUIRE(WriteImage(**pool, other, Content(10, 300 << 10)).ok());
    REQUIRE((*pool)->DeleteImage({kLsu, "", "img1"}, DeleteBy::kAdmin).ok());
    REQUIRE((*pool)->DeleteImage({kLsu, "", "img3"}, DeleteBy::kAdmin).ok());
    // One job left queued: the decoder sees it and its recipe rows.
    REQUIRE((*pool)->ProcessDeleteQueue(1).ok());
  }
  DecodeResult d = DecodePool(dir, WithKeys(kms));
  INFO(d.dump);
  CHECK(Joined(d.problems).empty());
  CHECK(d.figures.images.size() == 3);
  CHECK(d.figures.segments_opened == d.figures.segments);
  CHECK(d.figures.image_digests_checked == 3);
  CheckAgainstPool(dir, d);
  // The rest of a pool's life: the queue run dry, a catalog backup (backup/last; retired
  // containers then wait for the next backup), compaction (dead records, retired containers,
  // records copied into new containers), a KEK rotation and DEK re-wrap (K counters move, the
  // old KEK record is dropped).
  {
    auto pool = Pool::Open(dir, &kms, options);
    REQUIRE(pool.ok());
    REQUIRE((*pool)->ProcessDeleteQueue().ok());
    REQUIRE((*pool)->BackupCatalog(tmp.File("backup")).ok());
    CompactOptions compact;
    compact.live_threshold = 0.95;
    auto compacted = (*pool)->Compact(compact);
    REQUIRE(compacted.ok());
    CHECK(compacted->containers_compacted > 0);
    REQUIRE((*pool)->RotateKek(kGroup).ok());
    auto rewrapped = (*pool)->RewrapDeks(kGroup);
    REQUIRE(rewrapped.ok());
    CHECK(rewrapped->deks_rewrapped > 0);
  }
  d = DecodePool(dir, WithKeys(kms));
  INFO(d.dump);
  CHECK(Joined(d.problems).empty());
  CHECK(d.figures.delete_jobs == 0);
  CHECK(d.figures.segments_opened == d.figures.segments);
  CHECK(d.figures.image_digests_checked == 3);
  CHECK(d.dump.find("backup/last: unix_us=") != std::string::npos);
  CHECK(d.dump.find("state=retired") != std::string::npos);
  CheckAgainstPool(dir, d);
}

const fs::path kGoldenPool = test::TestDataDir() / "golden-pool";
const fs::path kGoldenDump = test::TestDataDir() / "golden-pool.dump";

TEST_CASE("format doc: the golden pool dumps to test/data/golden-pool.dump byte for byte",
          "[format][golden]") {
  REQUIRE(fs::is_directory(kGoldenPool));
  test::TempDir tmp;
  const std::string dir = CopyPool(kGoldenPool, tmp, "golden");
  DecodeResult d = DecodePool(dir);
  CHECK(Joined(d.problems).empty());
  const std::string want = ReadFile(kGoldenDump);
  if (d.dump != want) {
    FAIL("the dump of test/data/golden-pool differs from test/data/golden-pool.dump:\n"
         << d.dump << "\n(docs/testing.md: regenerate both when the format changes on purpose)");
  }
  CheckAgainstPool(dir, d);
}

TEST_CASE("format doc: this build writes the golden pool's format (masked dumps agree)",
          "[format][golden]") {
  REQUIRE(fs::is_directory(kGoldenPool));
  test::TempDir tmp;
  const std::string golden = CopyPool(kGoldenPool, tmp, "golden");
  const std::string fresh = tmp.File("fresh");
  InProcessRootKeyProvider kms("golden-pool");
  WriteGoldenPool(fresh, kms);
  DumpOptions masked;
  masked.masked = true;
  const std::string want = DecodePool(golden, masked).dump;
  const std::string got = DecodePool(fresh, masked).dump;
  INFO("a format change: update docs/format.md, the decoder, and regenerate the golden pool "
       "(docs/testing.md)");
  CHECK(got == want);
}

// ---- hostile input ----

void CheckDamaged(const std::string& dir, const std::string& what) {
  INFO(what);
  DecodeResult d = DecodePool(dir);
  CHECK_FALSE(d.ok());
  // The real pool: an error or a report, never a crash.
  InProcessRootKeyProvider kms("other");
  auto pool = Pool::Open(dir, &kms, GoldenOptions());
  if (pool.ok()) {
    auto scrub = (*pool)->Scrub();
    auto stats = (*pool)->RecountStats();
    (void)stats;
    if (scrub.ok()) (void)scrub->ok();
  }
}

std::vector<fs::path> Files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST_CASE("format doc: damaged copies of the golden pool give problems and never a crash",
          "[format][hostile]") {
  REQUIRE(fs::is_directory(kGoldenPool));
  test::TempDir tmp;
  const std::vector<fs::path> containers = Files(kGoldenPool / "containers");
  REQUIRE(!containers.empty());
  int n = 0;
  // Container files truncated at many points, and with bytes flipped.
  std::mt19937_64 rng(12);
  for (const fs::path& c : containers) {
    const uint64_t size = fs::file_size(c);
    for (uint64_t cut : {uint64_t{0}, uint64_t{10}, uint64_t{71}, uint64_t{72}, uint64_t{150},
                         size / 2, size - 1}) {
      const std::string dir = CopyPool(kGoldenPool, tmp, absl::StrCat("t", n++));
      fs::resize_file(fs::path(dir) / "containers" / c.filename(), cut);
      CheckDamaged(dir, c.filename().string() + " truncated to " + std::to_string(cut));
    }
    for (int i = 0; i < 6; ++i) {
      const std::string dir = CopyPool(kGoldenPool, tmp, absl::StrCat("f", n++));
      const fs::path f = fs::path(dir) / "containers" / c.filename();
      std::string bytes = ReadFile(f);
      const size_t at = i == 0 ? 8 : rng() % bytes.size();  // 8: the version byte
      bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
      std::ofstream(f, std::ios::binary | std::ios::trunc) << bytes;
      CheckDamaged(dir, c.filename().string() + " byte " + std::to_string(at) + " flipped");
    }
  }
  // Catalog files truncated or garbled.
  for (const fs::path& file : Files(kGoldenPool / "catalog")) {
    const std::string name = file.filename().string();
    if (name == "LOCK" || name == "IDENTITY" || name.rfind("OPTIONS", 0) == 0) continue;
    if (fs::file_size(file) == 0) continue;
    for (int mode = 0; mode < 2; ++mode) {
      const std::string dir = CopyPool(kGoldenPool, tmp, absl::StrCat("c", n++));
      const fs::path f = fs::path(dir) / "catalog" / name;
      if (mode == 0) {
        fs::resize_file(f, fs::file_size(f) / 2);
      } else {
        std::string bytes = ReadFile(f);
        for (size_t i = bytes.size() / 3; i < bytes.size() && i < bytes.size() / 3 + 64; ++i) {
          bytes[i] = static_cast<char>(~bytes[i]);
        }
        std::ofstream(f, std::ios::binary | std::ios::trunc) << bytes;
      }
      // A torn WAL tail is not corruption to RocksDB (it replays up to it); then the decoder
      // still finds the lost records missing from the cross-references, or decodes what
      // survived. Either way: a result, no crash.
      INFO(name << (mode == 0 ? " truncated" : " garbled"));
      DecodeResult d = DecodePool(dir);
      InProcessRootKeyProvider kms("other");
      auto pool = Pool::Open(dir, &kms, GoldenOptions());
      if (name.rfind("MANIFEST", 0) == 0) {
        CHECK_FALSE(d.ok());
        CHECK_FALSE(pool.ok());
      }
    }
  }
  // Values that do not decode, written with RocksDB directly.
  struct Bad {
    const char* family;
    std::string key, value;
  };
  const std::vector<Bad> bad = {
      {"default", "pool", std::string("\x01\x02", 2)},
      {"default", "kg/\x00\x00\x00\x01", std::string("\x01", 1)},
      {"default", "alloc/segment", "short"},
      {"default", "alloc/session", std::string(8, '\x01')},
      {"default", "surprise", "x"},
      {"keys", std::string("\x00\x00\x00\x01K\x00\x00\x00\x01", 9), std::string("\x01\x01", 2)},
      {"keys", std::string("\x00\x00\x00\x01Z", 5), "x"},
      {"segments", std::string(12, '\0'), std::string(106, '\x01')},
      {"images", "Nlsu1-no-separators", std::string(8, '\0')},
      {"images", std::string("I\0\0\0\0\0\0\0\x01", 9), std::string("\x01\xff\xff", 3)},
      {"recipes", std::string(16, '\0'), std::string("\x01", 1)},
      {"delete_queue", std::string(8, '\0'), std::string(30, '\x07')},
      {"sessions", std::string(20, '\0'), ""},
      {"containers", std::string(8, '\x7f'), std::string(14, '\x09')},
      {"counters", "Pbogus", std::string(8, '\0')},
      {"counters", "Rshort", std::string(3, '\0')},
  };
  for (const Bad& b : bad) {
    const std::string dir = CopyPool(kGoldenPool, tmp, absl::StrCat("v", n++));
    {
      rocksdb::DBOptions dbo;
      std::vector<std::string> names;
      REQUIRE(rocksdb::DB::ListColumnFamilies(dbo, dir + "/catalog", &names).ok());
      std::vector<rocksdb::ColumnFamilyDescriptor> descs;
      for (const auto& name : names) descs.emplace_back(name, rocksdb::ColumnFamilyOptions());
      rocksdb::DB* db = nullptr;
      std::vector<rocksdb::ColumnFamilyHandle*> handles;
      REQUIRE(rocksdb::DB::Open(rocksdb::Options(dbo, rocksdb::ColumnFamilyOptions()),
                                dir + "/catalog", descs, &handles, &db)
                  .ok());
      for (size_t i = 0; i < names.size(); ++i) {
        if (names[i] == b.family) REQUIRE(db->Put({}, handles[i], b.key, b.value).ok());
      }
      for (auto* h : handles) REQUIRE(db->DestroyColumnFamilyHandle(h).ok());
      delete db;
    }
    DecodeResult d = DecodePool(dir);
    INFO(b.family << " key " << b.key);
    CHECK_FALSE(d.ok());
  }
}

// Not a test: writes test/data/golden-pool and test/data/golden-pool.dump (docs/testing.md).
TEST_CASE("format doc: generate the golden pool", "[.generate]") {
  const char* out = std::getenv("SEALPOOL_GOLDEN_OUT");
  REQUIRE(out != nullptr);
  const fs::path dir = fs::path(out) / "golden-pool";
  REQUIRE_FALSE(fs::exists(dir));
  InProcessRootKeyProvider kms("golden-pool");
  WriteGoldenPool(dir.string(), kms);
  // Decode a copy so that nothing RocksDB adds on open lands in the checked-in directory.
  test::TempDir tmp;
  DecodeResult d = DecodePool(CopyPool(dir, tmp, "copy"));
  INFO(d.dump);
  REQUIRE(d.ok());
  std::ofstream(fs::path(out) / "golden-pool.dump", std::ios::binary) << d.dump;
}

}  // namespace
}  // namespace sealpool::storage
