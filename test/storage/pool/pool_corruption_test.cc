// Proof tests of the pool against damage and bad input (issue 4):
//  - container damage (flip a byte, zero a range, truncate) in every region kind (file header,
//    record header, payload): reads fail with DataLoss naming the image and the segment and never
//    hand out a wrong byte; Scrub (with the KMS switched off: no key needed) and Verify find it;
//  - catalog damage through a Catalog opened on the closed pool's catalog: segment record
//    (wrapped DEK, location pointed at another segment's record), recipe extents swapped or
//    pointed at a missing segment, image record digests and size: DataLoss naming the image,
//    Verify finds it;
//  - bad input to every public call: the documented code, and Stats() unchanged.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "storage/catalog/catalog.h"
#include "storage/catalog/catalog_records.h"
#include "storage/keydict/key_dictionary_format.h"
#include "storage/store/container_format.h"
#include "storage/pool/pool.h"
#include "test/storage/pool/pool_test_util.h"
#include "test/storage/store/store_test_util.h"

namespace sealpool::storage::testing {
namespace {

// ---- helpers ----

ImageRequest Req(std::string lsu, std::string name) {
  ImageRequest r;
  r.lsu = std::move(lsu);
  r.name = std::move(name);
  return r;
}

struct Extent {
  uint64_t logical_offset = 0;
  RecipeExtent extent;
  SegmentRecord segment;
  std::string recipe_key;
  std::string segment_key;
};

struct ImageLayout {
  ImageRecord record;
  std::vector<Extent> extents;
};

// Reads an image's record, recipe and segment records from the closed pool's catalog.
ImageLayout LayoutOf(const std::string& pool_dir, const std::string& name) {
  auto catalog = Catalog::Open(pool_dir + "/catalog", CatalogOptions{});
  INFO(catalog.status());
  REQUIRE(catalog.ok());
  auto id_value = (*catalog)->Get(Cf::kImages, ImageNameKey(kTestLsu, "", name));
  REQUIRE(id_value.ok());
  REQUIRE(id_value->has_value());
  auto id = DecodeU64(**id_value, "image id");
  REQUIRE(id.ok());
  auto rec_value = (*catalog)->Get(Cf::kImages, ImageRecordKey(*id));
  REQUIRE(rec_value.ok());
  REQUIRE(rec_value->has_value());
  auto rec = DecodeImage(**rec_value);
  REQUIRE(rec.ok());
  ImageLayout layout;
  layout.record = *rec;
  absl::Status s = (*catalog)->Scan(
      Cf::kRecipes, RecipePrefix(*id),
      [&](std::string_view k, std::string_view v) -> absl::StatusOr<bool> {
        Extent e;
        auto off = DecodeRecipeKeyOffset(k, *id);
        if (!off.ok()) return off.status();
        auto ext = DecodeRecipeExtent(v);
        if (!ext.ok()) return ext.status();
        e.logical_offset = *off;
        e.extent = *ext;
        e.recipe_key = std::string(k);
        e.segment_key = SegmentKey(rec->group_no, ext->segment_id);
        layout.extents.push_back(e);
        return true;
      });
  REQUIRE(s.ok());
  for (Extent& e : layout.extents) {
    auto v = (*catalog)->Get(Cf::kSegments, e.segment_key);
    REQUIRE(v.ok());
    REQUIRE(v->has_value());
    auto seg = DecodeSegmentRecord(**v);
    REQUIRE(seg.ok());
    e.segment = *seg;
  }
  return layout;
}

// Applies puts to the closed pool's catalog.
void CatalogPut(const std::string& pool_dir, Cf cf, const std::string& key,
                const std::string& value) {
  auto catalog = Catalog::Open(pool_dir + "/catalog", CatalogOptions{});
  INFO(catalog.status());
  REQUIRE(catalog.ok());
  Catalog::Batch batch;
  batch.Put(cf, key, value);
  REQUIRE((*catalog)->Write(batch).ok());
}

std::string ContainerPath(const std::string& pool_dir, uint64_t container_id) {
  char name[40];
  std::snprintf(name, sizeof(name), "%016llx.spc", static_cast<unsigned long long>(container_id));
  return pool_dir + "/containers/" + name;
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

bool MentionsId(const std::string& message, uint64_t id) {
  char hex[32], hex16[32];
  std::snprintf(hex, sizeof(hex), "%llx", static_cast<unsigned long long>(id));
  std::snprintf(hex16, sizeof(hex16), "%016llx", static_cast<unsigned long long>(id));
  return Contains(message, std::to_string(id)) || Contains(message, hex16) ||
         Contains(message, std::string("0x") + hex);
}

struct ReadOutcome {
  absl::Status status;
  uint64_t received = 0;
  std::string wrong;  // non-empty: the sink got a byte that differs from the original
};

// Reads [offset, offset + length) and compares every byte the sink gets with `original`.
ReadOutcome ReadChecked(const Pool& pool, std::string_view name, uint64_t offset, uint64_t length,
                        const std::vector<uint8_t>& original) {
  ReadOutcome out;
  out.status = pool.ReadImage({kTestLsu, "", std::string(name)}, offset, length, [&](std::span<const uint8_t> d) {
    for (size_t i = 0; i < d.size(); ++i) {
      const uint64_t at = offset + out.received + i;
      if (at >= original.size() || original[at] != d[i]) {
        if (out.wrong.empty()) out.wrong = absl::StrCat("wrong byte at offset ", at);
        break;
      }
    }
    out.received += d.size();
    return absl::OkStatus();
  });
  if (out.status.ok() && out.received != length) {
    out.wrong = absl::StrCat("read OK but delivered ", out.received, " of ", length, " bytes");
  }
  return out;
}

using StatsKey = std::tuple<uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, uint64_t,
                            uint64_t>;
StatsKey KeyOf(const PoolStats& s) {
  return {s.images, s.logical_bytes, s.segments, s.stored_bytes, s.containers, s.space_allocated,
          s.space_used, s.pending_delete_jobs};
}
std::string Describe(const StatsKey& k) {
  return absl::StrCat("images ", std::get<0>(k), " logical ", std::get<1>(k), " segments ",
                      std::get<2>(k), " stored ", std::get<3>(k), " containers ", std::get<4>(k),
                      " allocated ", std::get<5>(k), " used ", std::get<6>(k), " pending ",
                      std::get<7>(k));
}

StatsKey StatsNow(const Pool& pool) {
  auto s = pool.Stats();
  INFO(s.status());
  REQUIRE(s.ok());
  return KeyOf(*s);
}

// A pool with three images: img1 (900 KiB), img2 (400 KiB, shares blocks with img1), img3.
struct CorruptionFixture {
  PoolFixture f;
  std::vector<uint8_t> img1, img2, img3;

  // kek_mode "public" (issue 17): the same damage, DEKs in batches sealed to a KEK pair.
  explicit CorruptionFixture(KekMode mode = KekMode::kSymmetric) : f(SmallPoolOptions(), mode) {
    img1 = ImageContent({.seed = 11, .size = 900 << 10});
    img2 = ImageContent({.seed = 12, .size = 400 << 10});
    img3 = ImageContent({.seed = 13, .size = 70 << 10});
    for (auto [name, bytes] : {std::pair{"img1", &img1}, std::pair{"img2", &img2},
                               std::pair{"img3", &img3}}) {
      auto info = f.WriteImage(name, *bytes);
      INFO(info.status());
      REQUIRE(info.ok());
    }
    f.Close();
  }
};

// After damage to segment `seg` of img1: reads fail with DataLoss naming img1 and the segment,
// no wrong byte, Verify finds it; Scrub too when `scrub_sees_it` (container damage), without
// the KMS.
void ExpectDamageFound(CorruptionFixture& c, uint64_t segment_id, uint64_t container_id,
                       bool scrub_sees_it, bool names_segment = true) {
  INFO("damaged segment " << segment_id << " in container " << container_id);
  c.f.Reopen();
  Pool& pool = c.f.pool();
  if (scrub_sees_it) {
    c.f.kms().SetAvailable(false);  // a scrub needs no key
    auto scrub = pool.Scrub();
    c.f.kms().SetAvailable(true);
    INFO(scrub.status());
    REQUIRE(scrub.ok());
    CHECK_FALSE(scrub->ok());
    bool named = false;
    for (const auto& p : scrub->problems) named |= MentionsId(p, container_id);
    INFO("scrub problems: " << (scrub->problems.empty() ? "" : scrub->problems[0]));
    CHECK(named);
  }
  const ReadOutcome r = ReadChecked(pool, "img1", 0, c.img1.size(), c.img1);
  INFO("read: " << r.status << " after " << r.received << " bytes");
  CHECK(r.wrong.empty());
  CHECK(r.status.code() == absl::StatusCode::kDataLoss);
  CHECK(Contains(std::string(r.status.message()), "img1"));
  if (names_segment) CHECK(MentionsId(std::string(r.status.message()), segment_id));

  auto verify = pool.Verify();
  INFO(verify.status());
  REQUIRE(verify.ok());
  CHECK_FALSE(verify->ok());
  bool named = false;
  for (const auto& p : verify->problems) named |= Contains(p, "img1");
  INFO("verify problems: " << (verify->problems.empty() ? "" : verify->problems[0]));
  CHECK(named);
  // img3 shares nothing with the damaged segment unless dedup put it there: it must either
  // read exactly or fail with DataLoss, never with wrong bytes.
  const ReadOutcome r3 = ReadChecked(pool, "img3", 0, c.img3.size(), c.img3);
  CHECK(r3.wrong.empty());
  CHECK((r3.status.ok() || r3.status.code() == absl::StatusCode::kDataLoss));
}

enum class Damage { kFlip, kZero, kTruncate };
enum class Region { kFileHeader, kRecordHeader, kPayload };

const char* Name(Damage d) {
  switch (d) {
    case Damage::kFlip: return "flip a byte";
    case Damage::kZero: return "zero a range";
    case Damage::kTruncate: return "truncate";
  }
  return "?";
}
const char* Name(Region r) {
  switch (r) {
    case Region::kFileHeader: return "file header";
    case Region::kRecordHeader: return "record header";
    case Region::kPayload: return "payload";
  }
  return "?";
}

void DamageFile(const std::string& path, Damage damage, uint64_t offset, uint64_t length) {
  std::vector<uint8_t> bytes = ReadWholeFile(path);
  REQUIRE(offset + length <= bytes.size());
  switch (damage) {
    case Damage::kFlip: bytes[offset] ^= 0x20; break;
    case Damage::kZero: std::fill_n(bytes.begin() + static_cast<std::ptrdiff_t>(offset),
                                    length, uint8_t{0}); break;
    case Damage::kTruncate: bytes.resize(offset); break;
  }
  WriteWholeFile(path, bytes);
}

// ---- container damage ----

TEST_CASE("Container damage: reads say DataLoss with image and segment and never give wrong bytes",
          "[corruption]") {
  const KekMode mode = GENERATE(KekMode::kSymmetric, KekMode::kPublic);
  for (Region region : {Region::kFileHeader, Region::kRecordHeader, Region::kPayload}) {
    for (Damage damage : {Damage::kFlip, Damage::kZero, Damage::kTruncate}) {
      DYNAMIC_SECTION(Name(damage) << " in the " << Name(region) << ", kek_mode "
                                   << KekModeName(mode)) {
        CorruptionFixture c(mode);
        const ImageLayout layout = LayoutOf(c.f.dir(), "img1");
        REQUIRE(layout.extents.size() > 4);
        // A segment in the middle of img1 that is not zero-length.
        const Extent& e = layout.extents[layout.extents.size() / 2];
        const SegmentRecord& seg = e.segment;
        const std::string path = ContainerPath(c.f.dir(), seg.container_id);
        INFO("container file " << path << ", record at " << seg.offset << " length "
                               << seg.record_length);
        REQUIRE(std::filesystem::exists(path));
        uint64_t at = 0, len = 1;
        switch (region) {
          case Region::kFileHeader: at = damage == Damage::kTruncate ? 40 : 0;
                                    len = damage == Damage::kZero ? kContainerHeaderSize : 1;
                                    break;
          case Region::kRecordHeader: at = seg.offset + (damage == Damage::kTruncate ? 50 : 36);
                                      len = damage == Damage::kZero ? 8 : 1;
                                      break;
          case Region::kPayload: at = seg.offset + kRecordHeaderSize + seg.stored_length / 2;
                                 len = damage == Damage::kZero
                                           ? std::min<uint64_t>(64, seg.stored_length / 2)
                                           : 1;
                                 break;
        }
        DamageFile(path, damage, at, len);
        // File-header damage and truncation hit every record after them: the read fails on
        // the first damaged segment of img1, which need not be `seg`.
        const bool single = region != Region::kFileHeader && damage != Damage::kTruncate;
        ExpectDamageFound(c, e.extent.segment_id.value(), seg.container_id, true, single);
        if (single) {
          // A range that does not touch the damaged segment still reads, exactly.
          for (const Extent& other : layout.extents) {
            if (other.extent.segment_id == e.extent.segment_id ||
                other.segment.container_id != seg.container_id) {
              continue;
            }
            const ReadOutcome r = ReadChecked(c.f.pool(), "img1", other.logical_offset,
                                              other.extent.length, c.img1);
            INFO("range read of an undamaged extent at " << other.logical_offset << ": "
                                                         << r.status);
            CHECK(r.status.ok());
            CHECK(r.wrong.empty());
            break;
          }
        }
      }
    }
  }
}

// ---- catalog damage ----

TEST_CASE("Catalog damage: segment records and recipes and image records", "[corruption]") {
  const KekMode mode = GENERATE(KekMode::kSymmetric, KekMode::kPublic);
  INFO("kek_mode " << KekModeName(mode));
  CorruptionFixture c(mode);
  const ImageLayout layout = LayoutOf(c.f.dir(), "img1");
  REQUIRE(layout.extents.size() > 4);
  const Extent& e = layout.extents[2];
  // Another extent of img1 with another segment (and, for the swap, another length or
  // content).
  const Extent* other = nullptr;
  for (const Extent& x : layout.extents) {
    if (x.extent.segment_id != e.extent.segment_id && x.logical_offset > e.logical_offset) {
      other = &x;
      break;
    }
  }
  REQUIRE(other != nullptr);
  const uint64_t seg_id = e.extent.segment_id.value();

  SECTION("segment record: wrapped DEK flipped") {
    SegmentRecord bad = e.segment;
    bad.wrapped_dek[5] ^= 0x01;
    CatalogPut(c.f.dir(), Cf::kSegments, e.segment_key, EncodeSegmentRecord(bad));
    ExpectDamageFound(c, seg_id, e.segment.container_id, false);
  }
  SECTION("segment record: pointed at another segment's record") {
    SegmentRecord bad = e.segment;
    bad.container_id = other->segment.container_id;
    bad.offset = other->segment.offset;
    bad.record_length = other->segment.record_length;
    bad.stored_length = other->segment.stored_length;
    bad.plaintext_length = other->segment.plaintext_length;
    bad.compression = other->segment.compression;
    CatalogPut(c.f.dir(), Cf::kSegments, e.segment_key, EncodeSegmentRecord(bad));
    ExpectDamageFound(c, seg_id, e.segment.container_id, false);
  }
  SECTION("segment record: batch id changed, or dropped (kek_mode public)") {
    SegmentRecord bad = e.segment;
    if (mode == KekMode::kPublic) {
      REQUIRE(bad.batch_id != 0);
      bad.batch_id += 1;  // another writer's batch, or none
    } else {
      REQUIRE(bad.batch_id == 0);
      bad.batch_id = 1;  // a symmetric group's record naming a batch
    }
    CatalogPut(c.f.dir(), Cf::kSegments, e.segment_key, EncodeSegmentRecord(bad));
    ExpectDamageFound(c, seg_id, e.segment.container_id, false);
  }
  if (mode == KekMode::kPublic) {
    SECTION("batch record: sealed key flipped (kek_mode public)") {
      const std::string key = BatchRecordKey(1, e.segment.batch_id);
      auto catalog = Catalog::Open(c.f.catalog_dir(), CatalogOptions{});
      REQUIRE(catalog.ok());
      auto value = (*catalog)->Get(Cf::kKeys, key);
      REQUIRE(value.ok());
      REQUIRE(value->has_value());
      auto rec = BatchRecord::Decode(**value);
      REQUIRE(rec.ok());
      rec->sealed[40] ^= 0x04;
      Catalog::Batch batch;
      batch.Put(Cf::kKeys, key, *rec->Encode());
      REQUIRE((*catalog)->Write(batch).ok());
      catalog->reset();
      // The batch holds img1's first segments too: the read stops at the first of them.
      ExpectDamageFound(c, seg_id, e.segment.container_id, false, /*names_segment=*/false);
    }
  }
  SECTION("segment record: value cut short") {
    std::string v = EncodeSegmentRecord(e.segment);
    v.resize(v.size() / 2);
    CatalogPut(c.f.dir(), Cf::kSegments, e.segment_key, v);
    ExpectDamageFound(c, seg_id, e.segment.container_id, false);
  }
  SECTION("recipe: two extents swapped") {
    // Swap the extents' segments, keeping offsets: the bytes would come out in another order.
    CatalogPut(c.f.dir(), Cf::kRecipes, e.recipe_key, EncodeRecipeExtent(other->extent));
    CatalogPut(c.f.dir(), Cf::kRecipes, other->recipe_key, EncodeRecipeExtent(e.extent));
    ExpectDamageFound(c, seg_id, e.segment.container_id, false, /*names_segment=*/false);
  }
  SECTION("recipe: extent pointed at a segment that does not exist") {
    RecipeExtent bad = e.extent;
    bad.segment_id = crypto::SegmentId(seg_id + 1000000);
    CatalogPut(c.f.dir(), Cf::kRecipes, e.recipe_key, EncodeRecipeExtent(bad));
    // The recipe digest catches it before any segment is looked up.
    ExpectDamageFound(c, seg_id + 1000000, e.segment.container_id, false,
                      /*names_segment=*/false);
  }
  SECTION("segment record missing") {
    {
      auto catalog = Catalog::Open(c.f.catalog_dir(), CatalogOptions{});
      REQUIRE(catalog.ok());
      Catalog::Batch batch;
      batch.Delete(Cf::kSegments, e.segment_key);
      REQUIRE((*catalog)->Write(batch).ok());
    }
    ExpectDamageFound(c, seg_id, e.segment.container_id, false);
  }
  SECTION("image record: recipe digest flipped") {
    ImageRecord bad = layout.record;
    bad.recipe_digest[0] ^= 0x80;
    CatalogPut(c.f.dir(), Cf::kImages, ImageRecordKey(bad.image_id), EncodeImage(bad));
    ExpectDamageFound(c, seg_id, e.segment.container_id, false, false);
  }
  SECTION("image record: content digest flipped") {
    ImageRecord bad = layout.record;
    bad.content_digest[31] ^= 0x01;
    CatalogPut(c.f.dir(), Cf::kImages, ImageRecordKey(bad.image_id), EncodeImage(bad));
    ExpectDamageFound(c, seg_id, e.segment.container_id, false, false);
  }
  SECTION("image record: value cut short") {
    std::string v = EncodeImage(layout.record);
    v.resize(v.size() - 7);
    CatalogPut(c.f.dir(), Cf::kImages, ImageRecordKey(layout.record.image_id), v);
    c.f.Reopen();
    const ReadOutcome r = ReadChecked(c.f.pool(), "img1", 0, c.img1.size(), c.img1);
    INFO(r.status);
    CHECK(r.received == 0);
    CHECK(r.status.code() == absl::StatusCode::kDataLoss);
    CHECK(Contains(std::string(r.status.message()), "img1"));
    auto verify = c.f.pool().Verify();
    CHECK((!verify.ok() || !verify->ok()));
  }
  SECTION("the other images still read exactly") {
    SegmentRecord bad = e.segment;
    bad.wrapped_dek[0] ^= 0xff;
    CatalogPut(c.f.dir(), Cf::kSegments, e.segment_key, EncodeSegmentRecord(bad));
    c.f.Reopen();
    const ReadOutcome r = ReadChecked(c.f.pool(), "img2", 0, c.img2.size(), c.img2);
    CHECK(r.wrong.empty());
    CHECK((r.status.ok() || r.status.code() == absl::StatusCode::kDataLoss));
  }
}

// Every record of the families a pool opens from and maintains itself, cut short one at a
// time: Open refuses with DataLoss, or the pool opens and the calls touching the record say
// DataLoss (never a wrong byte, never another code, no crash). Put back, the pool opens and
// loses nothing: every image reads back exactly and the waiting delete job still runs. The
// records are listed again before each round: compaction replaces containers, and the new
// ones' records get their turn too.
// ---- identity edits (issue 14, point 8) ----

// A pool with img1 (retained, labelled) and img2 (no retention, no label), closed. Each section
// edits the closed pool's catalog the way someone with write access to it could, keeping every
// record well-formed and the name index consistent, so only the identity digest can tell.
struct IdentityFixture {
  PoolFixture f;
  std::vector<uint8_t> img1 = ImageContent({.seed = 21, .size = 200 << 10});
  std::vector<uint8_t> img2 = ImageContent({.seed = 22, .size = 150 << 10});
  absl::Time retain_until;

  IdentityFixture() {
    retain_until = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now() + absl::Hours(24 * 30)));
    ImageRequest r = Req(kTestLsu, "img1");
    r.labels = {{"host", "db1"}, {"policy", "gold"}};
    r.retain_until = retain_until;
    auto w = f.pool().BeginImage(r);
    REQUIRE(w.ok());
    REQUIRE((*w)->Write(img1).ok());
    auto info = (*w)->Commit();
    INFO(info.status());
    REQUIRE(info.ok());
    REQUIRE(f.WriteImage("img2", img2).ok());
    f.Close();
  }

  ImageRecord Record(const std::string& name, const std::string& owner = "") {
    auto catalog = Catalog::Open(f.catalog_dir(), CatalogOptions{});
    REQUIRE(catalog.ok());
    auto id = (*catalog)->Get(Cf::kImages, ImageNameKey(kTestLsu, owner, name));
    REQUIRE(id.ok());
    REQUIRE(id->has_value());
    auto v = (*catalog)->Get(Cf::kImages, ImageRecordKey(*DecodeU64(**id, "id")));
    REQUIRE(v.ok());
    REQUIRE(v->has_value());
    auto rec = DecodeImage(**v);
    REQUIRE(rec.ok());
    return *rec;
  }

  // Writes the records back (and the name index entries of `renamed`: old key -> deleted).
  void Put(const std::vector<ImageRecord>& records,
           const std::vector<std::string>& stale_name_keys = {}) {
    auto catalog = Catalog::Open(f.catalog_dir(), CatalogOptions{});
    REQUIRE(catalog.ok());
    Catalog::Batch batch;
    for (const std::string& k : stale_name_keys) batch.Delete(Cf::kImages, k);
    for (const ImageRecord& r : records) {
      batch.Put(Cf::kImages, ImageRecordKey(r.image_id), EncodeImage(r));
      batch.Put(Cf::kImages, ImageNameKey(r.lsu, r.owner, r.name), EncodeU64(r.image_id));
    }
    REQUIRE((*catalog)->Write(batch).ok());
  }
};

// Reads, stat and Verify of the edited image: DataLoss naming it (name and id), nothing
// delivered; a delete is refused (DataLoss: the retention cannot be trusted); Verify reports it.
void ExpectIdentityRefused(IdentityFixture& c, const ImageKey& key, uint64_t image_id,
                           uint64_t size) {
  INFO("edited " << key.name << " of owner \"" << key.owner << "\" (#" << image_id << ")");
  c.f.Reopen();
  Pool& pool = c.f.pool();
  const std::string id_text = absl::StrCat("#", image_id);
  uint64_t received = 0;
  absl::Status read = pool.ReadImage(key, 0, size, [&](std::span<const uint8_t> d) {
    received += d.size();
    return absl::OkStatus();
  });
  INFO("read: " << read);
  CHECK(read.code() == absl::StatusCode::kDataLoss);
  CHECK(Contains(std::string(read.message()), key.name));
  CHECK(Contains(std::string(read.message()), id_text));
  CHECK(Contains(std::string(read.message()), "identity digest"));
  CHECK(received == 0);
  auto stat = pool.StatImage(key);
  CHECK(stat.status().code() == absl::StatusCode::kDataLoss);
  // A listing needs no key, so it shows the records as they are (docs/format.md, "Image
  // digests"); every operation on the image checks.
  CHECK(pool.ListImages(kTestLsu, std::nullopt).ok());
  auto one = pool.VerifyImage(key);
  CHECK(one.status().code() == absl::StatusCode::kDataLoss);
  auto verify = pool.Verify();
  INFO(verify.status());
  REQUIRE(verify.ok());
  CHECK_FALSE(verify->ok());
  bool named = false;
  for (const auto& p : verify->problems) named |= Contains(p, id_text) && Contains(p, key.name);
  INFO("verify problems: " << (verify->problems.empty() ? "" : verify->problems[0]));
  CHECK(named);
  CHECK(pool.DeleteImage(key, DeleteBy::kAdmin).code() == absl::StatusCode::kDataLoss);
  CHECK(pool.ExtendRetention(key, absl::Now() + absl::Hours(24 * 60)).code() ==
        absl::StatusCode::kDataLoss);
  CHECK(pool.ReassignOwner(key, "someone").code() == absl::StatusCode::kDataLoss);
  // Still refused: the refusals above did not re-sign the record.
  CHECK(pool.StatImage(key).status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("Catalog edits of an image's name, owner, retention or labels are DataLoss naming it",
          "[corruption]") {
  IdentityFixture c;
  ImageRecord one = c.Record("img1");
  ImageRecord two = c.Record("img2");
  REQUIRE(one.retain_until_unix_micros != 0);
  REQUIRE(one.labels.size() == 2);
  SECTION("two images' names swapped") {
    std::swap(one.name, two.name);
    c.Put({one, two});  // the name entries are overwritten crosswise
    ExpectIdentityRefused(c, {kTestLsu, "", "img2"}, one.image_id, one.size);
    uint64_t received = 0;
    absl::Status other = c.f.pool().ReadImage({kTestLsu, "", "img1"}, 0, two.size,
                                              [&](std::span<const uint8_t> d) {
                                                received += d.size();
                                                return absl::OkStatus();
                                              });
    CHECK(other.code() == absl::StatusCode::kDataLoss);
    CHECK(received == 0);
  }
  SECTION("owner changed (record and name index)") {
    const std::string old_key = ImageNameKey(one.lsu, one.owner, one.name);
    one.owner = "mallory";
    c.Put({one}, {old_key});
    ExpectIdentityRefused(c, {kTestLsu, "mallory", "img1"}, one.image_id, one.size);
  }
  SECTION("retention cleared") {
    one.retain_until_unix_micros = 0;
    c.Put({one});
    ExpectIdentityRefused(c, {kTestLsu, "", "img1"}, one.image_id, one.size);
  }
  SECTION("retention shortened by a second") {
    one.retain_until_unix_micros -= 1000000;
    c.Put({one});
    ExpectIdentityRefused(c, {kTestLsu, "", "img1"}, one.image_id, one.size);
  }
  SECTION("a label's value altered") {
    one.labels["policy"] = "bronze";
    c.Put({one});
    ExpectIdentityRefused(c, {kTestLsu, "", "img1"}, one.image_id, one.size);
  }
  SECTION("a label removed") {
    one.labels.erase("host");
    c.Put({one});
    ExpectIdentityRefused(c, {kTestLsu, "", "img1"}, one.image_id, one.size);
  }
  SECTION("created time changed") {
    one.created_unix_micros += 1;
    c.Put({one});
    ExpectIdentityRefused(c, {kTestLsu, "", "img1"}, one.image_id, one.size);
  }
  SECTION("identity digest of another image copied in") {
    one.identity_digest = two.identity_digest;
    c.Put({one});
    ExpectIdentityRefused(c, {kTestLsu, "", "img1"}, one.image_id, one.size);
  }
}

TEST_CASE("ReassignOwner and ExtendRetention re-sign the identity: the image reads and verifies",
          "[corruption]") {
  IdentityFixture c;
  c.f.Reopen();
  Pool& pool = c.f.pool();
  const absl::Time later = c.retain_until + absl::Hours(24);
  REQUIRE(pool.ExtendRetention({kTestLsu, "", "img1"}, later).ok());
  REQUIRE(pool.ReassignOwner({kTestLsu, "", "img1"}, "alice").ok());
  REQUIRE(pool.ReassignOwner({kTestLsu, "", "img2"}, "bob").ok());
  REQUIRE(pool.ExtendRetention({kTestLsu, "bob", "img2"}, later).ok());
  c.f.Reopen();  // from the catalog, not from anything cached
  for (auto [key, want] : {std::pair{ImageKey{kTestLsu, "alice", "img1"}, &c.img1},
                           std::pair{ImageKey{kTestLsu, "bob", "img2"}, &c.img2}}) {
    INFO(key.name);
    std::vector<uint8_t> got;
    absl::Status s = c.f.pool().ReadImage(key, 0, want->size(), [&](std::span<const uint8_t> d) {
      got.insert(got.end(), d.begin(), d.end());
      return absl::OkStatus();
    });
    INFO(s);
    REQUIRE(s.ok());
    CHECK(DescribeMismatch(got, *want).empty());
    auto stat = c.f.pool().StatImage(key);
    REQUIRE(stat.ok());
    CHECK(stat->owner == key.owner);
    CHECK(stat->retain_until == later);
  }
  auto verify = c.f.pool().Verify();
  REQUIRE(verify.ok());
  INFO("verify problems: " << (verify->problems.empty() ? "" : verify->problems[0]));
  CHECK(verify->ok());
  CHECK(verify->images_checked == 2);
  auto list = c.f.pool().ListImages(kTestLsu, std::nullopt);
  REQUIRE(list.ok());
  CHECK(list->size() == 2);
}

TEST_CASE("Catalog damage: pool, key group, LSU, key, container and delete-queue records",
          "[corruption]") {
  CorruptionFixture c;
  c.f.Reopen();
  REQUIRE(c.f.pool().DeleteImage({kTestLsu, "", "img3"}, DeleteBy::kAdmin).ok());  // a job waits in the queue
  c.f.Close();

  // In this order: the waiting job and the containers get damaged before a round's delete
  // queue run and compaction (which work only when undamaged) finish the job or replace them.
  const std::vector<Cf> families = {Cf::kDeleteQueue, Cf::kContainers, Cf::kKeys, Cf::kMeta};
  struct Record {
    Cf cf;
    std::string key, value;
  };
  auto list_records = [&] {
    std::vector<Record> out;
    auto catalog = Catalog::Open(c.f.catalog_dir(), CatalogOptions{});
    REQUIRE(catalog.ok());
    for (Cf cf : families) {
      REQUIRE((*catalog)
                  ->Scan(cf, "",
                         [&](std::string_view k, std::string_view v) -> absl::StatusOr<bool> {
                           out.push_back({cf, std::string(k), std::string(v)});
                           return true;
                         })
                  .ok());
    }
    return out;
  };
  {
    std::map<Cf, size_t> per_family;
    for (const Record& r : list_records()) ++per_family[r.cf];
    for (Cf cf : families) {
      INFO("family " << CfName(cf));
      CHECK(per_family[cf] > 0);
    }
  }

  using C = absl::StatusCode;
  auto data_loss_or_ok = [](const absl::Status& s) {
    return s.ok() || s.code() == C::kDataLoss;
  };
  std::set<std::pair<Cf, std::string>> done;
  size_t refused_at_open = 0, reported_later = 0, unnoticed = 0;
  for (int round = 0; round < 100; ++round) {
    std::optional<Record> next;
    for (Record& r : list_records()) {
      if (!r.value.empty() && !done.contains({r.cf, r.key})) {
        next = std::move(r);
        break;
      }
    }
    if (!next.has_value()) break;
    const Record& r = *next;
    done.insert({r.cf, r.key});
    const std::string hex_key = test::ToHex(std::vector<uint8_t>(r.key.begin(), r.key.end()));
    INFO("round " << round << ": family " << CfName(r.cf) << ", key (hex) " << hex_key);
    const std::string damaged = r.value.substr(0, r.value.size() / 2);
    CatalogPut(c.f.dir(), r.cf, r.key, damaged);
    const absl::Status opened = c.f.TryOpen();
    INFO("open: " << opened);
    if (!opened.ok()) {
      CHECK(opened.code() == C::kDataLoss);
      ++refused_at_open;
    } else {
      Pool& pool = c.f.pool();
      std::vector<absl::Status> results;
      for (auto [name, bytes] : {std::pair{"img1", &c.img1}, std::pair{"img2", &c.img2}}) {
        const ReadOutcome read = ReadChecked(pool, name, 0, bytes->size(), *bytes);
        INFO(name << ": " << read.status);
        CHECK(read.wrong.empty());
        results.push_back(read.status);
      }
      results.push_back(pool.Stats().status());
      results.push_back(pool.ListImages(kTestLsu, std::nullopt).status());
      const std::string group = absl::StrCat("kg-damage-", round);
      REQUIRE(c.f.kms().Activate(c.f.kms().AddRootKey(group)).ok());
      results.push_back(pool.CreateKeyGroup(group));
      results.push_back(pool.CreateLsu(absl::StrCat("lsu-damage-", round), kTestKeyGroup, LsuOptions{}));
      results.push_back(pool.RotateKek(kTestKeyGroup).status());
      results.push_back(pool.ProcessDeleteQueue().status());
      results.push_back(pool.Compact({.live_threshold = 1.0}).status());
      auto verify = pool.Verify();
      results.push_back(verify.status());
      bool any_loss = verify.ok() && !verify->ok();
      for (const absl::Status& st : results) {
        INFO(st);
        CHECK(data_loss_or_ok(st));
        any_loss |= !st.ok();
      }
      if (any_loss) {
        ++reported_later;
      } else {
        ++unnoticed;
        WARN("damage to " << CfName(r.cf) << " key " << hex_key << " went unnoticed");
      }
      c.f.Close();
    }
    // Put back (unless a call replaced or removed the record meanwhile): nothing was lost.
    {
      auto catalog = Catalog::Open(c.f.catalog_dir(), CatalogOptions{});
      REQUIRE(catalog.ok());
      auto now = (*catalog)->Get(r.cf, r.key);
      REQUIRE(now.ok());
      if (now->has_value() && **now == damaged) {
        Catalog::Batch batch;
        batch.Put(r.cf, r.key, r.value);
        REQUIRE((*catalog)->Write(batch).ok());
      }
    }
    c.f.Reopen();
    for (auto [name, bytes] : {std::pair{"img1", &c.img1}, std::pair{"img2", &c.img2}}) {
      auto back = c.f.ReadAll(name);
      INFO(name << ": " << back.status());
      REQUIRE(back.ok());
      CHECK(*back == *bytes);
    }
    auto verify = c.f.pool().Verify();
    REQUIRE(verify.ok());
    CHECK(verify->ok());
    c.f.Close();
  }
  INFO("records damaged " << done.size() << ", refused at open " << refused_at_open
                          << ", reported later " << reported_later);
  CHECK(done.size() > 10);
  for (Cf cf : families) {
    INFO("family " << CfName(cf));
    CHECK(std::any_of(done.begin(), done.end(), [cf](const auto& d) { return d.first == cf; }));
  }
  CHECK(unnoticed == 0);
  // The waiting job still runs once everything is back.
  c.f.Reopen();
  auto queue = c.f.pool().ProcessDeleteQueue();
  REQUIRE(queue.ok());
  CHECK(c.f.pool().StatImage({kTestLsu, "", "img3"}).status().code() == C::kNotFound);
  // No reference lost or leaked on the way: refcounts, usage counters, an empty queue.
  auto stats = c.f.pool().Stats();
  REQUIRE(stats.ok());
  c.f.Close();
  const std::vector<std::string> problems = CheckCatalogInvariants(c.f.dir(), &*stats);
  std::string all;
  for (const std::string& p : problems) all += "\n  " + p;
  INFO("catalog invariants:" << all);
  CHECK(problems.empty());
}

// ---- bad input ----

TEST_CASE("Bad input to every public call: the documented code and nothing changed",
          "[corruption][input]") {
  PoolFixture f;
  const std::vector<uint8_t> content = ImageContent({.seed = 5, .size = 100 << 10});
  REQUIRE(f.WriteImage("good", content).ok());
  Pool& pool = f.pool();
  REQUIRE(pool.CreateLsu("locked", kTestKeyGroup, LsuOptions{}).ok());
  const StatsKey before = StatsNow(pool);
  auto unchanged = [&] {
    const StatsKey now = StatsNow(pool);
    INFO("stats before: " << Describe(before) << "\nstats now:    " << Describe(now));
    CHECK(now == before);
  };
  auto code = [](const absl::Status& s) { return s.code(); };
  auto sink = [](std::span<const uint8_t>) { return absl::OkStatus(); };
  using C = absl::StatusCode;

  SECTION("unknown LSU, image, key group") {
    CHECK(code(pool.BeginImage(Req("nolsu", "x")).status()) == C::kNotFound);
    CHECK(code(pool.ReadImage({"nolsu", "", "good"}, 0, 1, sink)) == C::kNotFound);
    CHECK(code(pool.ReadImage({kTestLsu, "", "nothere"}, 0, 1, sink)) == C::kNotFound);
    CHECK(code(pool.StatImage({kTestLsu, "", "nothere"}).status()) == C::kNotFound);
    CHECK(code(pool.ListImages("nolsu", std::nullopt).status()) == C::kNotFound);
    CHECK(code(pool.DeleteImage({kTestLsu, "", "nothere"}, DeleteBy::kAdmin)) == C::kNotFound);
    CHECK(code(pool.DeleteImage({"nolsu", "", "good"}, DeleteBy::kAdmin)) == C::kNotFound);
    CHECK(code(pool.VerifyImage({kTestLsu, "", "nothere"}).status()) == C::kNotFound);
    CHECK(code(pool.Verify("nolsu").status()) == C::kNotFound);
    CHECK(code(pool.CreateLsu("lsu2", "nokg", LsuOptions{.allow_client_delete = true})) == C::kNotFound);
    CHECK(code(pool.RotateKek("nokg").status()) == C::kNotFound);
    CHECK(code(pool.RewrapDeks("nokg").status()) == C::kNotFound);
    CHECK(code(pool.RewrapGroupKeys("nokg").status()) == C::kNotFound);
    CHECK(code(pool.ListWrappedKeys("nokg").status()) == C::kNotFound);
    CHECK(code(pool.CreateKeyGroup(kTestKeyGroup)) == C::kAlreadyExists);
    CHECK(code(pool.CreateLsu(kTestLsu, kTestKeyGroup, LsuOptions{.allow_client_delete = true})) == C::kAlreadyExists);
    unchanged();
  }
  SECTION("ranges") {
    const uint64_t size = content.size();
    CHECK(code(pool.ReadImage({kTestLsu, "", "good"}, size + 1, 0, sink)) == C::kInvalidArgument);
    CHECK(code(pool.ReadImage({kTestLsu, "", "good"}, size, 1, sink)) == C::kInvalidArgument);
    CHECK(code(pool.ReadImage({kTestLsu, "", "good"}, 1, size, sink)) == C::kInvalidArgument);
    CHECK(code(pool.ReadImage({kTestLsu, "", "good"}, 10, UINT64_MAX, sink)) == C::kInvalidArgument);
    CHECK(code(pool.ReadImage({kTestLsu, "", "good"}, UINT64_MAX, 2, sink)) == C::kInvalidArgument);
    uint64_t got = 0;
    CHECK(pool.ReadImage({kTestLsu, "", "good"}, size, 0, [&](std::span<const uint8_t> d) {
      got += d.size();
      return absl::OkStatus();
    }).ok());
    CHECK(got == 0);
    // A sink error stops the read and comes back as is.
    CHECK(code(pool.ReadImage({kTestLsu, "", "good"}, 0, size, [](std::span<const uint8_t>) {
      return absl::CancelledError("stop");
    })) == C::kCancelled);
    // Every sub-range reads exactly.
    for (uint64_t off : {uint64_t{0}, uint64_t{1}, uint64_t{8191}, size / 2, size - 1}) {
      const ReadOutcome r = ReadChecked(pool, "good", off, size - off, content);
      INFO("offset " << off << ": " << r.status);
      CHECK(r.status.ok());
      CHECK(r.wrong.empty());
    }
    unchanged();
  }
  SECTION("names with odd bytes") {
    const std::vector<std::string> bad = {
        std::string(),
        std::string("a\0b", 3),
        "tab\there",
        "nl\nhere",
        std::string("del\x7f"),
        std::string("\xff\xfe"),
        std::string("\xc0\xaf"),       // overlong '/'
        std::string("\xed\xa0\x80"),   // a UTF-16 surrogate
        std::string("trunc\xe2\x82"),  // cut multi-byte sequence
        "/leading-slash",
        std::string(256, 'n'),
    };
    for (const std::string& name : bad) {
      INFO("name (hex) " << test::ToHex(std::vector<uint8_t>(name.begin(), name.end())));
      CHECK(code(pool.BeginImage(Req(kTestLsu, name)).status()) ==
            C::kInvalidArgument);
      CHECK(code(pool.CreateLsu(name, kTestKeyGroup, LsuOptions{.allow_client_delete = true})) == C::kInvalidArgument);
      CHECK(code(pool.CreateKeyGroup(name)) == C::kInvalidArgument);
      const auto read = code(pool.ReadImage({kTestLsu, "", name}, 0, 0, sink));
      CHECK((read == C::kInvalidArgument || read == C::kNotFound));
      const auto del = code(pool.DeleteImage({kTestLsu, "", name}, DeleteBy::kAdmin));
      CHECK((del == C::kInvalidArgument || del == C::kNotFound));
    }
    // Labels past their bounds.
    ImageRequest many = Req(kTestLsu, "labels");
    // emplace and StrCat: GCC 12 -O3 reports a bogus -Wrestrict for `"k" + std::string` and for
    // assigning "v" to a std::string (GCC PR 105329).
    for (size_t i = 0; i <= kMaxLabels; ++i) many.labels.emplace(absl::StrCat("k", i), "v");
    CHECK(code(pool.BeginImage(many).status()) == C::kInvalidArgument);
    ImageRequest longlabel = Req(kTestLsu, "labels");
    longlabel.labels["k"] = std::string(kMaxLabelLength + 1, 'v');
    CHECK(code(pool.BeginImage(longlabel).status()) == C::kInvalidArgument);
    unchanged();
    // Names the pool takes but the key service does not (docs/kms.md) are refused before a
    // key group number is used up: the next group gets the number it would have had.
    auto groups_before = pool.ListKeyGroups();
    REQUIRE(groups_before.ok());
    uint32_t last_no = 0;
    for (const auto& g : *groups_before) last_no = std::max(last_no, g.group_no);
    for (const std::string& name : {std::string("kg with space"), std::string("kg/slash"),
                                    std::string(65, 'g'), std::string("k\xc3\xa9")}) {
      INFO("key group name " << name);
      CHECK(code(pool.CreateKeyGroup(name)) == C::kInvalidArgument);
    }
    REQUIRE(f.kms().Activate(f.kms().AddRootKey("kg-after-refusals")).ok());
    const absl::Status created = pool.CreateKeyGroup("kg-after-refusals");
    INFO(created);
    REQUIRE(created.ok());
    auto groups_after = pool.ListKeyGroups();
    REQUIRE(groups_after.ok());
    REQUIRE(groups_after->size() == groups_before->size() + 1);
    for (const auto& g : *groups_after) {
      if (g.name == "kg-after-refusals") CHECK(g.group_no == last_no + 1);
    }
    // The boundary: 255 bytes of multi-byte UTF-8 is a good name.
    std::string longest;
    while (longest.size() + 2 <= kMaxNameLength) longest += "\xc3\xa9";
    longest += "e";
    REQUIRE(longest.size() == kMaxNameLength);
    auto info = f.WriteImage(longest, content);
    INFO(info.status());
    CHECK(info.ok());
  }
  SECTION("names taken, writes aborted, deletes refused") {
    CHECK(code(pool.BeginImage(Req(kTestLsu, "good")).status()) ==
          C::kAlreadyExists);
    {
      auto w1 = pool.BeginImage(Req(kTestLsu, "busy"));
      REQUIRE(w1.ok());
      CHECK(code(pool.BeginImage(Req(kTestLsu, "busy")).status()) ==
            C::kAlreadyExists);
      const auto other = ImageContent({.seed = 77, .size = 300 << 10});
      REQUIRE((*w1)->Write(other).ok());
      // destroyed without Commit: aborted
    }
    CHECK(code(pool.StatImage({kTestLsu, "", "busy"}).status()) == C::kNotFound);
    auto q = pool.ProcessDeleteQueue();
    INFO(q.status());
    REQUIRE(q.ok());
    {
      // What the aborted write stored is given back: the same segments and live bytes; its
      // dead records still take container space until compaction.
      StatsKey now = StatsNow(pool);
      INFO("stats before: " << Describe(before) << "\nstats now:    " << Describe(now));
      const uint64_t allocated_with_dead = std::get<5>(now);
      std::get<4>(now) = std::get<4>(before);
      std::get<5>(now) = std::get<5>(before);
      CHECK(now == before);
      // Compaction skips the container open for append (compactor.cc); after a reopen the old
      // one is read-only and compaction takes the dead records out.
      f.Reopen();
      auto compacted = f.pool().Compact({.live_threshold = 0.9});
      INFO(compacted.status());
      REQUIRE(compacted.ok());
      const StatsKey after = StatsNow(f.pool());
      INFO("after compaction: " << Describe(after));
      CHECK(std::get<5>(after) < allocated_with_dead);
      CHECK(std::get<2>(after) == std::get<2>(before));
      const ReadOutcome r = ReadChecked(f.pool(), "good", 0, content.size(), content);
      CHECK(r.status.ok());
      CHECK(r.wrong.empty());
    }
    // Client delete on an LSU that forbids it; retention.
    Pool& reopened = f.pool();
    REQUIRE(WriteImageBytes(reopened, "locked", "kept", content).ok());
    const StatsKey with_kept = StatsNow(reopened);
    CHECK(code(reopened.DeleteImage({"locked", "", "kept"}, DeleteBy::kClient)) ==
          C::kFailedPrecondition);
    ImageRequest retained = Req(kTestLsu, "retained");
    retained.retain_until = absl::Now() + absl::Hours(1);
    auto w = reopened.BeginImage(retained);
    REQUIRE(w.ok());
    REQUIRE((*w)->Write(content).ok());
    REQUIRE((*w)->Commit().ok());
    const StatsKey with_retained = StatsNow(reopened);
    CHECK(code(reopened.DeleteImage({kTestLsu, "", "retained"}, DeleteBy::kAdmin)) == C::kFailedPrecondition);
    CHECK(StatsNow(reopened) == with_retained);
    CHECK(with_kept != before);
  }
  SECTION("empty image: committed as an empty image or refused, consistently") {
    auto w = pool.BeginImage(Req(kTestLsu, "empty"));
    REQUIRE(w.ok());
    auto info = (*w)->Commit();
    if (info.ok()) {
      CHECK(info->size == 0);
      uint64_t got = 0;
      CHECK(pool.ReadImage({kTestLsu, "", "empty"}, 0, 0, [&](std::span<const uint8_t> d) {
        got += d.size();
        return absl::OkStatus();
      }).ok());
      CHECK(got == 0);
      auto verify = pool.VerifyImage({kTestLsu, "", "empty"});
      CHECK((verify.ok() && verify->ok()));
    } else {
      CHECK(code(info.status()) == C::kInvalidArgument);
      CHECK(code(pool.StatImage({kTestLsu, "", "empty"}).status()) == C::kNotFound);
      unchanged();
    }
  }
  SECTION("second open of the same directory") {
    auto second = Pool::Open(f.dir(), &f.kms(), f.options());
    CHECK(code(second.status()) == C::kFailedPrecondition);
    auto create = Pool::Create(f.dir(), &f.kms(), f.options());
    CHECK_FALSE(create.ok());
    unchanged();
    TempDir other;
    CHECK_FALSE(Pool::Open(other.File("absent"), &f.kms(), f.options()).ok());
  }
}

}  // namespace
}  // namespace sealpool::storage::testing
