// Tests of image names per (LSU, owner), the owner checked by the pool, LSU options and
// retention (storage/pool/pool.h: ImageKey, DeleteBy, LsuOptions, UpdateLsu, ExtendRetention,
// ReassignOwner, OwnerLogicalBytes) and the catalog format check of Pool::Open.
#include <optional>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "absl/strings/str_cat.h"
#include "storage/catalog/catalog.h"
#include "storage/catalog/catalog_records.h"
#include "storage/pool/pool.h"
#include "test/storage/pool/pool_test_util.h"

namespace sealpool::storage {
namespace {

using testing::kTestKeyGroup;
using testing::kTestLsu;
using testing::PoolFixture;
using testing::SmallPoolOptions;
using C = absl::StatusCode;

constexpr char kAlice[] = "alice";
constexpr char kBob[] = "bob";

ImageKey Key(std::string owner, std::string name, std::string lsu = kTestLsu) {
  return ImageKey{std::move(lsu), std::move(owner), std::move(name)};
}

std::vector<uint8_t> Bytes(uint64_t seed, size_t size) { return test::PseudoRandomBytes(size, seed); }

// A pool whose clock the test moves.
struct ClockFixture {
  absl::Time now = absl::FromUnixSeconds(1'800'000'000);
  PoolFixture f{[this] {
    PoolOptions options = SmallPoolOptions();
    options.clock = [this] { return now; };
    return options;
  }()};
};

absl::StatusOr<ImageInfo> Write(Pool& pool, const ImageKey& key, const std::vector<uint8_t>& bytes,
                                absl::Time retain_until = absl::InfinitePast()) {
  ImageRequest r;
  r.lsu = key.lsu;
  r.owner = key.owner;
  r.name = key.name;
  r.retain_until = retain_until;
  auto w = pool.BeginImage(r);
  if (!w.ok()) return w.status();
  if (absl::Status s = (*w)->Write(bytes); !s.ok()) return s;
  return (*w)->Commit();
}

absl::StatusOr<std::vector<uint8_t>> Read(const Pool& pool, const ImageKey& key) {
  auto info = pool.StatImage(key);
  if (!info.ok()) return info.status();
  std::vector<uint8_t> out;
  absl::Status s = pool.ReadImage(key, 0, info->size, [&](std::span<const uint8_t> d) {
    out.insert(out.end(), d.begin(), d.end());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

std::vector<std::string> Names(const absl::StatusOr<std::vector<ImageInfo>>& list) {
  std::vector<std::string> out;
  if (!list.ok()) return {std::string(list.status().ToString())};
  for (const ImageInfo& info : *list) out.push_back(info.owner + "/" + info.name);
  return out;
}

C Code(const absl::Status& s) { return s.code(); }

TEST_CASE("owners: two owners with the same name in one LSU each write and read their own bytes",
          "[storage][pool][owner]") {
  PoolFixture f;
  const auto a = Bytes(1, 300'000);
  const auto b = Bytes(2, 200'000);
  REQUIRE(Write(f.pool(), Key(kAlice, "nightly"), a).ok());
  REQUIRE(Write(f.pool(), Key(kBob, "nightly"), b).ok());
  auto got_a = Read(f.pool(), Key(kAlice, "nightly"));
  auto got_b = Read(f.pool(), Key(kBob, "nightly"));
  REQUIRE(got_a.ok());
  REQUIRE(got_b.ok());
  CHECK(*got_a == a);
  CHECK(*got_b == b);
  // The same owner again: the name is taken.
  CHECK(Code(Write(f.pool(), Key(kAlice, "nightly"), b).status()) == C::kAlreadyExists);
  CHECK(f.pool().StatImage(Key(kAlice, "nightly"))->owner == kAlice);
  CHECK(f.pool().VerifyImage(Key(kBob, "nightly"))->ok());
  f.Reopen();
  CHECK(*Read(f.pool(), Key(kAlice, "nightly")) == a);
  CHECK(*Read(f.pool(), Key(kBob, "nightly")) == b);
}

TEST_CASE("owners: one owner cannot stat, read, verify, delete or list another owner's images",
          "[storage][pool][owner]") {
  PoolFixture f;
  REQUIRE(f.pool().CreateLsu("shared", kTestKeyGroup, LsuOptions{.allow_client_delete = true}).ok());
  REQUIRE(Write(f.pool(), Key(kAlice, "a1", "shared"), Bytes(3, 50'000)).ok());
  REQUIRE(Write(f.pool(), Key(kAlice, "a2", "shared"), Bytes(4, 50'000)).ok());
  REQUIRE(Write(f.pool(), Key(kBob, "b1", "shared"), Bytes(5, 50'000)).ok());
  auto sink = [](std::span<const uint8_t>) { return absl::OkStatus(); };
  for (const std::string& other : {std::string(kBob), std::string("")}) {
    const ImageKey theirs = Key(other, "a1", "shared");
    // NotFound, never PermissionDenied: no existence oracle.
    CHECK(Code(f.pool().StatImage(theirs).status()) == C::kNotFound);
    CHECK(Code(f.pool().ReadImage(theirs, 0, 1, sink)) == C::kNotFound);
    CHECK(Code(f.pool().VerifyImage(theirs).status()) == C::kNotFound);
    CHECK(Code(f.pool().DeleteImage(theirs, DeleteBy::kClient)) == C::kNotFound);
    CHECK(Code(f.pool().DeleteImage(theirs, DeleteBy::kAdmin)) == C::kNotFound);
    CHECK(Code(f.pool().ExtendRetention(theirs, absl::Now())) == C::kNotFound);
    CHECK(Code(f.pool().ReassignOwner(theirs, other)) == C::kNotFound);
  }
  CHECK(Names(f.pool().ListImages("shared", kAlice)) ==
        std::vector<std::string>{"alice/a1", "alice/a2"});
  CHECK(Names(f.pool().ListImages("shared", kBob)) == std::vector<std::string>{"bob/b1"});
  CHECK(Names(f.pool().ListImages("shared", "al")).empty());  // a prefix of an owner is not it
  CHECK(Names(f.pool().ListImages("shared", "")).empty());
  CHECK(Names(f.pool().ListImages("shared", std::nullopt)) ==
        std::vector<std::string>{"alice/a1", "alice/a2", "bob/b1"});
  CHECK(Code(f.pool().ListImages("nolsu", kAlice).status()) == C::kNotFound);
  // Alice's image is untouched by everything bob tried.
  CHECK(f.pool().StatImage(Key(kAlice, "a1", "shared")).ok());
  // Her own client delete works on an LSU that allows it.
  CHECK(f.pool().DeleteImage(Key(kAlice, "a1", "shared"), DeleteBy::kClient).ok());
  CHECK(Code(f.pool().StatImage(Key(kAlice, "a1", "shared")).status()) == C::kNotFound);
}

TEST_CASE("owners: an image being written is NotFound to everyone", "[storage][pool][owner]") {
  PoolFixture f;
  ImageRequest r;
  r.lsu = kTestLsu;
  r.owner = kAlice;
  r.name = "busy";
  auto w = f.pool().BeginImage(r);
  REQUIRE(w.ok());
  const auto bytes = Bytes(6, 400'000);
  REQUIRE((*w)->Write(bytes).ok());
  auto sink = [](std::span<const uint8_t>) { return absl::OkStatus(); };
  for (const std::string& who : {std::string(kAlice), std::string(kBob), std::string("")}) {
    const ImageKey key = Key(who, "busy");
    CHECK(Code(f.pool().StatImage(key).status()) == C::kNotFound);
    CHECK(Code(f.pool().ReadImage(key, 0, 0, sink)) == C::kNotFound);
    CHECK(Code(f.pool().DeleteImage(key, DeleteBy::kAdmin)) == C::kNotFound);
  }
  CHECK(Names(f.pool().ListImages(kTestLsu, std::nullopt)).empty());
  // Only the same owner learns the name is busy; another owner may use it.
  CHECK(Code(f.pool().BeginImage(r).status()) == C::kAlreadyExists);
  CHECK(Write(f.pool(), Key(kBob, "busy"), Bytes(7, 1000)).ok());
  REQUIRE((*w)->Commit().ok());
  CHECK(*Read(f.pool(), Key(kAlice, "busy")) == bytes);
}

TEST_CASE("LSU options: created, reported, updated and kept across a reopen",
          "[storage][pool][lsu]") {
  PoolFixture f;
  CHECK(Code(f.pool().CreateLsu("bad", kTestKeyGroup, {.max_retention = absl::ZeroDuration()})) ==
        C::kInvalidArgument);
  CHECK(Code(f.pool().CreateLsu("bad", kTestKeyGroup,
                                {.max_retention = absl::InfiniteDuration()})) == C::kInvalidArgument);
  REQUIRE(f.pool().CreateLsu("l2", kTestKeyGroup,
                             {.allow_client_delete = true, .max_retention = absl::Hours(48)})
              .ok());
  auto find = [&](std::string_view name) -> std::optional<LsuInfo> {
    auto lsus = f.pool().ListLsus();
    REQUIRE(lsus.ok());
    for (const LsuInfo& info : *lsus) {
      if (info.name == name) return info;
    }
    return std::nullopt;
  };
  CHECK_FALSE(find("bad").has_value());
  auto l2 = find("l2");
  REQUIRE(l2.has_value());
  CHECK(l2->key_group == kTestKeyGroup);
  CHECK(l2->allow_client_delete);
  CHECK(l2->max_retention == absl::Hours(48));
  REQUIRE(f.pool().UpdateLsu("l2", {.allow_client_delete = false, .max_retention = absl::Hours(1)})
              .ok());
  CHECK(Code(f.pool().UpdateLsu("nolsu", {})) == C::kNotFound);
  CHECK(Code(f.pool().UpdateLsu("l2", {.max_retention = -absl::Hours(1)})) == C::kInvalidArgument);
  f.Reopen();
  l2 = find("l2");
  REQUIRE(l2.has_value());
  CHECK_FALSE(l2->allow_client_delete);
  CHECK(l2->max_retention == absl::Hours(1));
  CHECK(l2->key_group == kTestKeyGroup);
}

TEST_CASE("retention: refused past the LSU's longest, only lengthened, respected by admins",
          "[storage][pool][lsu]") {
  ClockFixture c;
  Pool& pool = c.f.pool();
  REQUIRE(pool.CreateLsu("r", kTestKeyGroup,
                         {.allow_client_delete = true, .max_retention = absl::Hours(24)})
              .ok());
  const absl::Time t0 = c.now;
  // Past now + max_retention: InvalidArgument, and nothing is written.
  auto refused = Write(pool, Key(kAlice, "too-long", "r"), Bytes(8, 10'000), t0 + absl::Hours(25));
  CHECK(Code(refused.status()) == C::kInvalidArgument);
  CHECK(Code(pool.StatImage(Key(kAlice, "too-long", "r")).status()) == C::kNotFound);
  CHECK(*pool.OwnerLogicalBytes("r", kAlice) == 0);
  CHECK(pool.Stats()->images == 0);

  REQUIRE(Write(pool, Key(kAlice, "img", "r"), Bytes(9, 10'000), t0 + absl::Hours(2)).ok());
  const ImageKey key = Key(kAlice, "img", "r");
  // Shortening: FailedPrecondition; past the longest: InvalidArgument; neither changes it.
  CHECK(Code(pool.ExtendRetention(key, t0 + absl::Hours(1))) == C::kFailedPrecondition);
  CHECK(Code(pool.ExtendRetention(key, absl::InfinitePast())) == C::kFailedPrecondition);
  CHECK(Code(pool.ExtendRetention(key, t0 + absl::Hours(25))) == C::kInvalidArgument);
  CHECK(pool.StatImage(key)->retain_until == t0 + absl::Hours(2));
  CHECK(pool.ExtendRetention(key, t0 + absl::Hours(2)).ok());  // equal: nothing to do
  CHECK(pool.ExtendRetention(key, t0 + absl::Hours(24)).ok());
  CHECK(pool.StatImage(key)->retain_until == t0 + absl::Hours(24));

  // Retained: neither a client nor an admin deletes it.
  c.now = t0 + absl::Hours(3);
  CHECK(Code(pool.DeleteImage(key, DeleteBy::kClient)) == C::kFailedPrecondition);
  CHECK(Code(pool.DeleteImage(key, DeleteBy::kAdmin)) == C::kFailedPrecondition);
  CHECK(pool.StatImage(key).ok());
  CHECK(*pool.OwnerLogicalBytes("r", kAlice) == 10'000);
  // The limit moves with the clock.
  CHECK(pool.ExtendRetention(key, t0 + absl::Hours(27)).ok());
  // A client delete on an LSU that forbids it, after the retention.
  c.now = t0 + absl::Hours(28);
  REQUIRE(pool.UpdateLsu("r", {.allow_client_delete = false, .max_retention = absl::Hours(24)}).ok());
  CHECK(Code(pool.DeleteImage(key, DeleteBy::kClient)) == C::kFailedPrecondition);
  CHECK(pool.StatImage(key).ok());
  CHECK(pool.DeleteImage(key, DeleteBy::kAdmin).ok());
  CHECK(Code(pool.StatImage(key).status()) == C::kNotFound);
}

TEST_CASE("owners: ReassignOwner moves an image atomically and refuses a taken name",
          "[storage][pool][owner]") {
  PoolFixture f;
  Pool& pool = f.pool();
  const auto a = Bytes(10, 120'000);
  REQUIRE(Write(pool, Key(kAlice, "x"), a).ok());
  REQUIRE(Write(pool, Key(kBob, "x"), Bytes(11, 70'000)).ok());
  // Bob has an "x": AlreadyExists, and nothing changed.
  CHECK(Code(pool.ReassignOwner(Key(kAlice, "x"), kBob)) == C::kAlreadyExists);
  CHECK(*Read(pool, Key(kAlice, "x")) == a);
  CHECK(*pool.OwnerLogicalBytes(kTestLsu, kAlice) == 120'000);
  CHECK(*pool.OwnerLogicalBytes(kTestLsu, kBob) == 70'000);
  // A name being written is taken too.
  ImageRequest r;
  r.lsu = kTestLsu;
  r.owner = "carol";
  // Not `= "x"`: GCC 12 at -O3 reports a bogus -Wrestrict for assigning a one-character literal
  // to a std::string (GCC PR 105329).
  r.name = std::string("x");
  auto w = pool.BeginImage(r);
  REQUIRE(w.ok());
  CHECK(Code(pool.ReassignOwner(Key(kAlice, "x"), "carol")) == C::kAlreadyExists);
  (*w)->Abort();
  CHECK(Code(pool.ReassignOwner(Key(kAlice, "x"), std::string("c\0d", 3))) ==
        C::kInvalidArgument);
  // To carol: alice's name is free, carol's holds the bytes, the counters moved.
  REQUIRE(pool.ReassignOwner(Key(kAlice, "x"), "carol").ok());
  CHECK(Code(pool.StatImage(Key(kAlice, "x")).status()) == C::kNotFound);
  CHECK(*Read(pool, Key("carol", "x")) == a);
  CHECK(pool.StatImage(Key("carol", "x"))->owner == "carol");
  CHECK(pool.VerifyImage(Key("carol", "x"))->ok());
  CHECK(*pool.OwnerLogicalBytes(kTestLsu, kAlice) == 0);
  CHECK(*pool.OwnerLogicalBytes(kTestLsu, "carol") == 120'000);
  CHECK(Names(pool.ListImages(kTestLsu, kAlice)).empty());
  CHECK(pool.ReassignOwner(Key("carol", "x"), "carol").ok());  // same owner: nothing to do
  // Alice may use the name again.
  CHECK(Write(pool, Key(kAlice, "x"), Bytes(12, 5'000)).ok());
  f.Reopen();
  CHECK(*Read(f.pool(), Key("carol", "x")) == a);
  CHECK(f.pool().Verify()->ok());
}

TEST_CASE("owners: logical bytes per owner follow writes, deletes and reassignments",
          "[storage][pool][owner]") {
  PoolFixture f;
  Pool& pool = f.pool();
  REQUIRE(pool.CreateLsu("l2", kTestKeyGroup, {}).ok());
  auto bytes = [&](std::string_view lsu, std::string_view owner) {
    auto b = pool.OwnerLogicalBytes(lsu, owner);
    REQUIRE(b.ok());
    return *b;
  };
  CHECK(bytes(kTestLsu, kAlice) == 0);
  CHECK(Code(pool.OwnerLogicalBytes("nolsu", kAlice).status()) == C::kNotFound);
  REQUIRE(Write(pool, Key(kAlice, "a"), Bytes(13, 100'000)).ok());
  REQUIRE(Write(pool, Key(kAlice, "b"), Bytes(13, 100'000)).ok());  // dedups: still logical bytes
  REQUIRE(Write(pool, Key(kAlice, "a", "l2"), Bytes(14, 30'000)).ok());
  REQUIRE(Write(pool, Key("", "a"), Bytes(15, 7'000)).ok());
  CHECK(bytes(kTestLsu, kAlice) == 200'000);
  CHECK(bytes("l2", kAlice) == 30'000);
  CHECK(bytes(kTestLsu, "") == 7'000);
  CHECK(bytes(kTestLsu, kBob) == 0);
  // An aborted write counts nothing.
  {
    ImageRequest r;
    r.lsu = kTestLsu;
    r.owner = kAlice;
    r.name = "aborted";
    auto w = pool.BeginImage(r);
    REQUIRE(w.ok());
    REQUIRE((*w)->Write(Bytes(16, 50'000)).ok());
  }
  CHECK(bytes(kTestLsu, kAlice) == 200'000);
  REQUIRE(pool.DeleteImage(Key(kAlice, "a"), DeleteBy::kAdmin).ok());
  CHECK(bytes(kTestLsu, kAlice) == 100'000);
  REQUIRE(pool.ReassignOwner(Key(kAlice, "b"), kBob).ok());
  CHECK(bytes(kTestLsu, kAlice) == 0);
  CHECK(bytes(kTestLsu, kBob) == 100'000);
  REQUIRE(pool.ProcessDeleteQueue().ok());
  f.Reopen();
  CHECK(*f.pool().OwnerLogicalBytes(kTestLsu, kBob) == 100'000);
  CHECK(*f.pool().OwnerLogicalBytes("l2", kAlice) == 30'000);
}

TEST_CASE("catalog format: a pool of an older catalog format is refused, naming both versions",
          "[storage][pool]") {
  // Version 1 (names per LSU), version 2 (no identity digest in image records), version 3 (no
  // DEK batches).
  for (uint16_t old : {kCatalogFormatV1, kCatalogFormatV2, kCatalogFormatV3}) {
    DYNAMIC_SECTION("catalog format " << old) {
      PoolFixture f;
      f.Close();
      {
        auto catalog = Catalog::Open(f.catalog_dir(), CatalogOptions{});
        REQUIRE(catalog.ok());
        auto value = (*catalog)->Get(Cf::kMeta, PoolMetaKey());
        REQUIRE(value.ok());
        REQUIRE(value->has_value());
        auto meta = DecodePoolMeta(**value);
        REQUIRE(meta.ok());
        CHECK(meta->catalog_format_version == kCatalogFormatV4);
        meta->catalog_format_version = old;
        Catalog::Batch batch;
        batch.Put(Cf::kMeta, PoolMetaKey(), EncodePoolMeta(*meta));
        REQUIRE((*catalog)->Write(batch).ok());
      }
      absl::Status s = f.TryOpen();
      INFO(s);
      CHECK(Code(s) == C::kFailedPrecondition);
      CHECK(s.message().find(absl::StrCat("catalog format ", old)) != std::string_view::npos);
      CHECK(s.message().find("format 4") != std::string_view::npos);
    }
  }
}

}  // namespace
}  // namespace sealpool::storage
