// A pool whose key group has kek_mode "public" (issue 17): DEK batches at the storage level,
// over InProcessRootKeyProvider as the KMS. Two generations restore bit-exact and dedup; with
// the KMS unreachable ingest and commit still work and reads fail Unavailable saying they need
// the KMS; and the raw-copy promise: after ingest, nothing the pool holds (catalog folder,
// containers, every key the key dictionary holds in memory) opens any segment's DEK without
// the KMS, while with it every one opens.
#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "catch2/catch.hpp"

#include "crypto/batch_key_seal.h"
#include "crypto/key_wrap.h"
#include "storage/catalog/catalog.h"
#include "storage/catalog/catalog_records.h"
#include "storage/keydict/key_dictionary_format.h"
#include "test/storage/pool/pool_test_util.h"

namespace sealpool::storage {
namespace {
using namespace ::sealpool::storage::testing;  // NOLINT

bool MessageHas(const absl::Status& status, std::string_view what) {
  return std::string(status.message()).find(what) != std::string::npos;
}

ImageRequest Req(std::string_view name) {
  ImageRequest r;
  r.lsu = kTestLsu;
  r.name = std::string(name);
  return r;
}

// Writes through Pool::WriteImage to get the WriteStats.
WriteStats Write(Pool& pool, std::string_view name, const std::vector<uint8_t>& data) {
  size_t pos = 0;
  WriteStats stats;
  auto info = pool.WriteImage(
      Req(name),
      [&](std::span<uint8_t> buf) -> absl::StatusOr<size_t> {
        const size_t n = std::min(buf.size(), data.size() - pos);
        std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(pos), n, buf.begin());
        pos += n;
        return n;
      },
      &stats);
  INFO(name << ": " << info.status());
  REQUIRE(info.ok());
  return stats;
}

// What a raw copy of the catalog holds for group 1.
struct RawCatalog {
  std::map<uint64_t, SegmentRecord> segments;
  std::map<uint32_t, KekPairRecord> pairs;
  std::map<uint64_t, BatchRecord> batches;
  std::string pool_id_hex;
};

RawCatalog ReadRaw(const std::string& pool_dir) {
  RawCatalog out;
  auto catalog = Catalog::Open(pool_dir + "/catalog", CatalogOptions{});
  REQUIRE(catalog.ok());
  auto meta = (*catalog)->Get(Cf::kMeta, PoolMetaKey());
  REQUIRE(meta.ok());
  REQUIRE(meta->has_value());
  auto pm = DecodePoolMeta(**meta);
  REQUIRE(pm.ok());
  CHECK(pm->catalog_format_version == kCatalogFormatV4);
  static const char* digits = "0123456789abcdef";
  for (uint8_t b : pm->pool_id) {
    out.pool_id_hex.push_back(digits[b >> 4]);
    out.pool_id_hex.push_back(digits[b & 15]);
  }
  REQUIRE((*catalog)
              ->Scan(Cf::kSegments, SegmentPrefix(1),
                     [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
                       uint32_t group = 0;
                       auto id = DecodeSegmentKey(key, &group);
                       REQUIRE(id.ok());
                       auto record = DecodeSegmentRecord(value);
                       REQUIRE(record.ok());
                       out.segments[id->value()] = *record;
                       return true;
                     })
              .ok());
  REQUIRE((*catalog)
              ->Scan(Cf::kKeys, KeyGroupRecordPrefix(1),
                     [&](std::string_view key, std::string_view value) -> absl::StatusOr<bool> {
                       auto k = DecodeKeyRecordKey(key);
                       REQUIRE(k.ok());
                       if (k->kind == KeyRecordKind::kKek) {
                         auto r = KekPairRecord::Decode(value);
                         REQUIRE(r.ok());
                         out.pairs[k->kek_id] = *r;
                       } else if (k->kind == KeyRecordKind::kBatch) {
                         auto r = BatchRecord::Decode(value);
                         REQUIRE(r.ok());
                         out.batches[k->batch_id] = *r;
                       }
                       return true;
                     })
              .ok());
  return out;
}

TEST_CASE("public key group: two generations restore bit-exact, dedup, and name their batches",
          "[public]") {
  PoolFixture f(SmallPoolOptions(), KekMode::kPublic);
  const std::vector<uint8_t> gen1 = ImageContent({41, 3u << 20});
  std::vector<uint8_t> gen2 = gen1;
  const std::vector<uint8_t> changed = ImageContent({42, 256u << 10});
  std::copy(changed.begin(), changed.end(), gen2.begin() + (1 << 20));
  const WriteStats s1 = Write(f.pool(), "gen1", gen1);
  const WriteStats s2 = Write(f.pool(), "gen2", gen2);
  CHECK(s1.new_segments > 0);
  CHECK(s2.duplicate_segments > s2.segments / 2);  // dedup across batches and writers
  CHECK(s2.new_segments < s1.new_segments / 2);
  for (int round = 0; round < 2; ++round) {
    auto g1 = f.ReadAll("gen1");
    auto g2 = f.ReadAll("gen2");
    INFO(g1.status() << " " << g2.status());
    REQUIRE(g1.ok());
    REQUIRE(g2.ok());
    CHECK(DescribeMismatch(*g1, gen1).empty());
    CHECK(DescribeMismatch(*g2, gen2).empty());
    auto v = f.pool().VerifyImage({kTestLsu, "", "gen2"});
    REQUIRE(v.ok());
    CHECK(v->ok());
    f.Reopen();
  }
  f.Close();
  const RawCatalog raw = ReadRaw(f.dir());
  REQUIRE_FALSE(raw.segments.empty());
  for (const auto& [id, rec] : raw.segments) {
    INFO("segment " << id);
    CHECK(rec.batch_id != 0);
    REQUIRE(raw.batches.contains(rec.batch_id));
    CHECK(raw.batches.at(rec.batch_id).kek_id == rec.kek_id);
  }
  // Each writer's commit closed its batch: at least one batch per generation.
  CHECK(raw.batches.size() >= 2);
  // Every symmetric pool check still holds (refcounts, counters, indexes).
  std::vector<std::string> problems = CheckCatalogInvariants(f.dir());
  for (const auto& p : problems) UNSCOPED_INFO(p);
  CHECK(problems.empty());
  f.Reopen();
}

TEST_CASE("public key group: with the KMS down ingest and commit work, reads fail Unavailable",
          "[public]") {
  PoolFixture f(SmallPoolOptions(), KekMode::kPublic);
  const std::vector<uint8_t> gen1 = ImageContent({51, 2u << 20});
  std::vector<uint8_t> gen2 = gen1;
  const std::vector<uint8_t> changed = ImageContent({52, 128u << 10});
  std::copy(changed.begin(), changed.end(), gen2.begin());
  Write(f.pool(), "gen1", gen1);
  f.kms().SetAvailable(false);
  const uint64_t wraps = f.kms().wrap_calls();
  const uint64_t unwraps = f.kms().unwrap_calls();
  const WriteStats s2 = Write(f.pool(), "gen2", gen2);
  CHECK(s2.duplicate_segments > 0);
  CHECK(s2.new_segments > 0);
  // Ingest asked the KMS nothing.
  CHECK(f.kms().wrap_calls() == wraps);
  CHECK(f.kms().unwrap_calls() == unwraps);
  for (const char* name : {"gen1", "gen2"}) {
    auto got = f.ReadAll(name);
    INFO(got.status());
    REQUIRE(got.status().code() == absl::StatusCode::kUnavailable);
    CHECK(MessageHas(got.status(), "key group 'kg1' (1) has kek_mode \"public\": reading its "
                                   "data needs the KMS"));
  }
  f.kms().SetAvailable(true);
  auto g1 = f.ReadAll("gen1");
  auto g2 = f.ReadAll("gen2");
  REQUIRE(g1.ok());
  REQUIRE(g2.ok());
  CHECK(*g1 == gen1);
  CHECK(*g2 == gen2);
}

TEST_CASE("public key group: a raw copy of everything the pool holds opens no DEK without the KMS",
          "[public]") {
  PoolFixture f(SmallPoolOptions(), KekMode::kPublic);
  const std::vector<uint8_t> gen1 = ImageContent({61, 2u << 20});
  const std::vector<uint8_t> gen2 = ImageContent({62, 1u << 20});
  Write(f.pool(), "gen1", gen1);
  Write(f.pool(), "gen2", gen2);
  // Everything the key dictionary holds in memory for the group after ingest.
  auto held = f.pool().HeldKeyMaterial(kTestKeyGroup);
  REQUIRE(held.ok());
  REQUIRE_FALSE(held->empty());  // at least the fingerprint key (ingest needs it)
  f.Close();
  const std::string copy = f.dir() + "-copy";
  std::filesystem::remove_all(copy);
  std::filesystem::copy(f.dir(), copy, std::filesystem::copy_options::recursive);
  const RawCatalog raw = ReadRaw(copy);
  REQUIRE(raw.segments.size() > 20);

  // 1. Without the KMS: no held key opens any batch (as a KEK private half), nor any DEK (as a
  // batch key or a KEK).
  size_t tries = 0;
  for (const auto& [id, seg] : raw.segments) {
    const BatchRecord& batch = raw.batches.at(seg.batch_id);
    const crypto::BatchBinding binding{raw.pool_id_hex, 1, batch.kek_id, batch.batch_id};
    for (const crypto::SecretBytes& k : *held) {
      if (auto as_private = crypto::KekPrivateKey::FromBytes(k.span()); as_private.ok()) {
        auto opened = crypto::OpenBatchKey(*as_private, batch.sealed, binding);
        INFO("segment " << id << ", batch " << batch.batch_id << ": " << opened.status());
        CHECK(opened.status().code() == absl::StatusCode::kDataLoss);
        ++tries;
      }
      if (auto as_batch = crypto::BatchKey::FromBytes(k.span()); as_batch.ok()) {
        auto dek = crypto::UnwrapDek(*as_batch, seg.wrapped_dek);
        INFO("segment " << id << " under a held key as a batch key: " << dek.status());
        CHECK(dek.status().code() == absl::StatusCode::kDataLoss);
        ++tries;
      }
      if (auto as_kek = crypto::Kek::FromBytes(k.span()); as_kek.ok()) {
        auto dek = crypto::UnwrapDek(*as_kek, seg.wrapped_dek);
        CHECK(dek.status().code() == absl::StatusCode::kDataLoss);
      }
    }
  }
  CHECK(tries > 0);
  // The pool opened on the copy with the KMS unreachable reads nothing: Unavailable.
  f.kms().SetAvailable(false);
  {
    auto pool = Pool::Open(copy, &f.kms(), f.options());
    REQUIRE(pool.ok());
    std::vector<uint8_t> leaked;
    absl::Status s = (*pool)->ReadImage({kTestLsu, "", "gen1"}, 0, gen1.size(),
                                        [&](std::span<const uint8_t> d) {
                                          leaked.insert(leaked.end(), d.begin(), d.end());
                                          return absl::OkStatus();
                                        });
    CHECK(s.code() == absl::StatusCode::kUnavailable);
    CHECK(leaked.empty());
  }
  f.kms().SetAvailable(true);

  // 2. With the KMS: every segment's DEK opens (private half from the KMS, batch, DEK), and the
  // copy reads bit-exact.
  std::map<uint32_t, crypto::KekPrivateKey> privates;
  for (const auto& [kek_id, pair] : raw.pairs) {
    auto secret = f.kms().Unwrap(kTestKeyGroup, absl::StrCat("kek-", kek_id), pair.wrapped);
    REQUIRE(secret.ok());
    auto key = crypto::KekPrivateKey::FromBytes(secret->span());
    REQUIRE(key.ok());
    privates.emplace(kek_id, *std::move(key));
  }
  for (const auto& [id, seg] : raw.segments) {
    const BatchRecord& batch = raw.batches.at(seg.batch_id);
    const crypto::BatchBinding binding{raw.pool_id_hex, 1, batch.kek_id, batch.batch_id};
    auto opened = crypto::OpenBatchKey(privates.at(batch.kek_id), batch.sealed, binding);
    INFO("segment " << id << ": " << opened.status());
    REQUIRE(opened.ok());
    CHECK(crypto::UnwrapDek(*opened, seg.wrapped_dek).ok());
  }
  {
    auto pool = Pool::Open(copy, &f.kms(), f.options());
    REQUIRE(pool.ok());
    std::vector<uint8_t> got;
    REQUIRE((*pool)
                ->ReadImage({kTestLsu, "", "gen1"}, 0, gen1.size(),
                            [&](std::span<const uint8_t> d) {
                              got.insert(got.end(), d.begin(), d.end());
                              return absl::OkStatus();
                            })
                .ok());
    CHECK(got == gen1);
  }
  std::filesystem::remove_all(copy);
  f.Reopen();
}

TEST_CASE("public key group: re-wrap moves every DEK into new batches and drops the old ones",
          "[public]") {
  PoolFixture f(SmallPoolOptions(), KekMode::kPublic);
  const std::vector<uint8_t> data = ImageContent({71, 2u << 20});
  Write(f.pool(), "img", data);
  f.Close();
  const RawCatalog before = ReadRaw(f.dir());
  f.Reopen();
  auto rotated = f.pool().RotateKek(kTestKeyGroup);
  REQUIRE(rotated.ok());
  auto report = f.pool().RewrapDeks(kTestKeyGroup);
  INFO(report.status());
  REQUIRE(report.ok());
  CHECK(report->deks_rewrapped == before.segments.size());
  CHECK(report->keks_dropped == 1);
  f.Close();
  const RawCatalog after = ReadRaw(f.dir());
  REQUIRE(after.segments.size() == before.segments.size());
  for (const auto& [id, seg] : after.segments) {
    CHECK(seg.kek_id == *rotated);
    CHECK_FALSE(before.batches.contains(seg.batch_id));  // a new batch, not an old one re-sealed
    REQUIRE(after.batches.contains(seg.batch_id));
    CHECK(after.batches.at(seg.batch_id).kek_id == *rotated);
  }
  // The old pair's batch records are gone with it.
  for (const auto& [id, batch] : after.batches) CHECK(batch.kek_id == *rotated);
  CHECK(after.pairs.size() == 1);
  f.Reopen();
  auto got = f.ReadAll("img");
  REQUIRE(got.ok());
  CHECK(*got == data);
}

}  // namespace
}  // namespace sealpool::storage
