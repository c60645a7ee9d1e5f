// DEK batches in the key dictionary (kek_mode "public", issue 17): the batch record and the
// batch id allocator record (key record format 3) pinned and refused when malformed, truncated,
// oversized or hostile; DekBatcher opens, closes (commit, N DEKs, T seconds) and persists each
// batch record before wrapping; ingest calls no KMS; reads open a batch through the KMS and
// fail Unavailable naming the group when it is down; private halves and batch keys are cached
// for a bounded time; batch ids are never reused across restarts.
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "crypto/batch_key_seal.h"
#include "crypto/key_wrap.h"
#include "storage/keydict/in_process_root_key_provider.h"
#include "storage/keydict/key_dictionary.h"
#include "storage/keydict/key_dictionary_format.h"

namespace sealpool::storage {
namespace {

#define REQUIRE_OK(expr)                 \
  do {                                   \
    const absl::Status status_ = (expr); \
    INFO(status_.ToString());            \
    REQUIRE(status_.ok());               \
  } while (false)

bool MessageHas(const absl::Status& status, std::string_view what) {
  return std::string(status.message()).find(what) != std::string::npos;
}

std::string ToHex(std::string_view s) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    out.push_back(digits[static_cast<uint8_t>(c) >> 4]);
    out.push_back(digits[static_cast<uint8_t>(c) & 15]);
  }
  return out;
}

std::string FromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// --- The record formats. ---

BatchRecord GoldenBatch() {
  BatchRecord r;
  r.batch_id = 0x0102030405060708;
  r.kek_id = 3;
  r.created_unix_micros = 0x1122334455667788 & 0x7fffffffffffffff;
  for (size_t i = 0; i < r.sealed.size(); ++i) r.sealed[i] = static_cast<uint8_t>(i);
  return r;
}

std::string SealedHex() {
  std::string out;
  for (size_t i = 0; i < kSealedBatchKeyRecordSize; ++i) out += ToHex(std::string(1, static_cast<char>(i)));
  return out;
}

// Version 3 on disk. If this fails, the format changed: that needs a new version.
const std::string kGoldenBatchHex = std::string("03") +  // version 3
                                    "04" +                // kind: batch
                                    "0807060504030201" +  // batch id
                                    "03000000" +          // KEK id 3
                                    "8877665544332211" +  // created
                                    SealedHex();          // sealed batch key (73 bytes)

TEST_CASE("batch record: pinned encoding, key layout and round trip", "[batch]") {
  static_assert(kSealedBatchKeyRecordSize == crypto::kSealedBatchKeySize);
  auto encoded = GoldenBatch().Encode();
  REQUIRE(encoded.ok());
  CHECK(ToHex(*encoded) == kGoldenBatchHex);
  CHECK(encoded->size() == 2 + 8 + 4 + 8 + 73);
  auto decoded = BatchRecord::Decode(FromHex(kGoldenBatchHex));
  REQUIRE(decoded.ok());
  CHECK(*decoded == GoldenBatch());
  CHECK(*PeekKeyRecordKind(*encoded) == kKeyRecordKindBatch);

  const std::string key = BatchRecordKey(7, 0x0102030405060708);
  CHECK(ToHex(key) == "0000000742" "0102030405060708");
  CHECK(key.starts_with(BatchRecordPrefix(7)));
  CHECK(key.starts_with(KeyGroupRecordPrefix(7)));
  auto k = DecodeKeyRecordKey(key);
  REQUIRE(k.ok());
  CHECK(k->group_no == 7);
  CHECK(k->kind == KeyRecordKind::kBatch);
  CHECK(k->batch_id == 0x0102030405060708);
  CHECK(DescribeKeyRecordKey(key) == "batch 72623859790382856");
  // Batch keys sort by id within the group (big-endian).
  CHECK(BatchRecordKey(1, 255) < BatchRecordKey(1, 256));
  CHECK(BatchRecordKey(1, ~uint64_t{0}) < BatchRecordKey(2, 1));

  BatchAllocatorRecord alloc{.reserved_end = 2048};
  auto a = alloc.Encode();
  REQUIRE(a.ok());
  CHECK(ToHex(*a) == "0305" "0008000000000000");
  CHECK(*BatchAllocatorRecord::Decode(*a) == alloc);
  CHECK(ToHex(BatchAllocatorRecordKey(7)) == "0000000741");
  CHECK(DecodeKeyRecordKey(BatchAllocatorRecordKey(7))->kind == KeyRecordKind::kBatchAllocator);
  CHECK(DescribeKeyRecordKey(BatchAllocatorRecordKey(7)) == "batch id allocator");
}

TEST_CASE("batch record: malformed, truncated, oversized and hostile values are refused",
          "[batch]") {
  const std::string good = FromHex(kGoldenBatchHex);
  for (size_t n = 0; n < good.size(); ++n) {
    INFO("truncated to " << n);
    auto status = BatchRecord::Decode(good.substr(0, n)).status();
    CHECK(absl::IsDataLoss(status));
    CHECK(MessageHas(status, "batch record"));
  }
  // Oversized: trailing bytes, and a huge value.
  CHECK(MessageHas(BatchRecord::Decode(good + "x").status(), "trailing"));
  CHECK(absl::IsDataLoss(BatchRecord::Decode(good + std::string(1 << 16, '\0')).status()));
  std::string v = good;
  v[0] = 2;  // kind 4 does not exist in version 2
  CHECK(absl::IsDataLoss(BatchRecord::Decode(v).status()));
  CHECK(MessageHas(BatchRecord::Decode(v).status(), "version 2"));
  v[0] = 4;  // a newer sealpool
  CHECK(absl::IsFailedPrecondition(BatchRecord::Decode(v).status()));
  v = good;
  v[1] = kKeyRecordKindKekPair;  // another kind
  CHECK(absl::IsDataLoss(BatchRecord::Decode(v).status()));
  v = good;
  for (int i = 2; i < 10; ++i) v[static_cast<size_t>(i)] = 0;  // batch id 0
  CHECK(MessageHas(BatchRecord::Decode(v).status(), "batch id 0"));
  v = good;
  for (int i = 10; i < 14; ++i) v[static_cast<size_t>(i)] = 0;  // KEK id 0
  CHECK(MessageHas(BatchRecord::Decode(v).status(), "KEK id 0"));
  v = good;
  v[21] = static_cast<char>(0x80);  // negative creation time
  CHECK(MessageHas(BatchRecord::Decode(v).status(), "negative"));
  // Other records are not batch records, nor the other way round.
  KekRecord kek;
  kek.kek_id = 1;
  kek.wrapped.root_key_id = "rk";
  kek.wrapped.blob = {1};
  CHECK(absl::IsDataLoss(BatchRecord::Decode(*kek.Encode()).status()));
  CHECK(absl::IsDataLoss(KekRecord::Decode(good).status()));
  CHECK(absl::IsDataLoss(BatchAllocatorRecord::Decode(good).status()));
  // Encoding refuses what could not be decoded.
  BatchRecord bad = GoldenBatch();
  bad.batch_id = 0;
  CHECK(absl::IsInvalidArgument(bad.Encode().status()));
  bad = GoldenBatch();
  bad.kek_id = 0;
  CHECK(absl::IsInvalidArgument(bad.Encode().status()));
  bad = GoldenBatch();
  bad.created_unix_micros = -5;
  CHECK(absl::IsInvalidArgument(bad.Encode().status()));

  // The allocator record.
  const std::string alloc = FromHex("0305" "0008000000000000");
  for (size_t n = 0; n < alloc.size(); ++n) {
    CHECK(absl::IsDataLoss(BatchAllocatorRecord::Decode(alloc.substr(0, n)).status()));
  }
  CHECK(absl::IsDataLoss(BatchAllocatorRecord::Decode(alloc + "\x01").status()));
  CHECK(absl::IsDataLoss(BatchAllocatorRecord::Decode(FromHex("0305" "0000000000000000")).status()));
  CHECK(absl::IsInvalidArgument(BatchAllocatorRecord{.reserved_end = 0}.Encode().status()));
  // Keys: a batch key of the wrong length is no batch key.
  CHECK(absl::IsDataLoss(DecodeKeyRecordKey(BatchRecordKey(1, 2).substr(0, 12)).status()));
  CHECK(absl::IsDataLoss(DecodeKeyRecordKey(BatchRecordKey(1, 2) + "x").status()));
  CHECK(absl::IsDataLoss(DecodeKeyRecordKey(BatchAllocatorRecordKey(1) + "x").status()));
}

// --- The dictionary. ---

class MemoryCatalog {
 public:
  KeyRecordWriter Writer() {
    return [this](std::string_view key, std::string_view value) -> absl::Status {
      absl::MutexLock lock(&mu_);
      if (!fail_writes_.ok()) return fail_writes_;
      records_[std::string(key)] = std::string(value);
      return absl::OkStatus();
    };
  }
  KeyRecordDeleter Deleter() {
    return [this](std::string_view key) -> absl::Status {
      absl::MutexLock lock(&mu_);
      records_.erase(std::string(key));
      return absl::OkStatus();
    };
  }
  KeyRecordReader Reader() {
    return [this](std::string_view key) -> absl::StatusOr<std::optional<std::string>> {
      absl::MutexLock lock(&mu_);
      auto it = records_.find(std::string(key));
      if (it == records_.end()) return std::nullopt;
      return it->second;
    };
  }
  // What LoadGroup gets from the pool: the group's records without the batch records.
  std::vector<std::pair<std::string, std::string>> Group(uint32_t group_no) const {
    absl::MutexLock lock(&mu_);
    const std::string prefix = KeyGroupRecordPrefix(group_no);
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [k, v] : records_) {
      if (k.starts_with(prefix)) out.emplace_back(k, v);
    }
    return out;
  }
  std::map<uint64_t, BatchRecord> Batches(uint32_t group_no) const {
    absl::MutexLock lock(&mu_);
    std::map<uint64_t, BatchRecord> out;
    for (const auto& [k, v] : records_) {
      if (!k.starts_with(BatchRecordPrefix(group_no))) continue;
      auto rec = BatchRecord::Decode(v);
      REQUIRE(rec.ok());
      out[rec->batch_id] = *rec;
    }
    return out;
  }
  void Put(const std::string& key, std::string value) {
    absl::MutexLock lock(&mu_);
    records_[key] = std::move(value);
  }
  void Erase(const std::string& key) {
    absl::MutexLock lock(&mu_);
    records_.erase(key);
  }
  void FailWrites(absl::Status s) {
    absl::MutexLock lock(&mu_);
    fail_writes_ = std::move(s);
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::string> records_ ABSL_GUARDED_BY(mu_);
  absl::Status fail_writes_ ABSL_GUARDED_BY(mu_);
};

struct Fixture {
  Fixture() : provider("pool-A") {
    REQUIRE(provider.Activate(provider.AddRootKey("pub")).ok());
    REQUIRE(provider.Activate(provider.AddRootKey("sym")).ok());
    options.clock = [this] { return now; };
    options.batch_max_deks = 4;
    options.batch_max_age = absl::Seconds(60);
    options.batch_id_block = 3;
    options.private_key_cache_ttl = absl::Minutes(5);
  }
  std::unique_ptr<KeyDictionary> Open() {
    auto dict = KeyDictionary::Create(&provider, "pool-A", catalog.Writer(), catalog.Deleter(),
                                      options);
    REQUIRE(dict.ok());
    (*dict)->SetRecordReader(catalog.Reader());
    return *std::move(dict);
  }
  crypto::Dek NewDek() {
    auto dek = crypto::Dek::Generate();
    REQUIRE(dek.ok());
    return *std::move(dek);
  }

  absl::Time now = absl::FromUnixSeconds(1'700'000'000);
  InProcessRootKeyProvider provider;
  KeyDictionaryOptions options;
  MemoryCatalog catalog;
};

bool SameDek(const crypto::Dek& a, const crypto::Dek& b) {
  return std::equal(a.RevealSecret().begin(), a.RevealSecret().end(), b.RevealSecret().begin(),
                    b.RevealSecret().end());
}

TEST_CASE("DEK batches: open, wrap, close at commit, N DEKs and T seconds, and read back",
          "[batch]") {
  Fixture f;
  auto dict = f.Open();
  REQUIRE_OK(dict->CreateGroup(1, "pub", KekMode::kPublic));
  const uint64_t wraps = f.provider.wrap_calls();
  const uint64_t unwraps = f.provider.unwrap_calls();
  auto batcher = dict->NewDekBatcher(1);
  REQUIRE(batcher.ok());

  std::vector<crypto::Dek> deks;
  std::vector<KeyDictionary::WrappedDekResult> wrapped;
  auto wrap = [&] {
    deks.push_back(f.NewDek());
    auto w = (*batcher)->Wrap(deks.back());
    INFO(w.status());
    REQUIRE(w.ok());
    wrapped.push_back(*w);
  };
  for (int i = 0; i < 4; ++i) wrap();  // batch 1 holds N = 4
  wrap();                              // batch 2
  (*batcher)->Close();                 // the writer's commit
  wrap();                              // batch 3
  f.now += absl::Seconds(61);
  wrap();                              // batch 4 (batch 3 too old)
  // Ingest called no KMS.
  CHECK(f.provider.wrap_calls() == wraps);
  CHECK(f.provider.unwrap_calls() == unwraps);

  std::vector<uint64_t> ids;
  for (const auto& w : wrapped) ids.push_back(w.batch_id);
  CHECK(ids == std::vector<uint64_t>{1, 1, 1, 1, 2, 3, 4});
  CHECK((*batcher)->batches_opened() == std::vector<uint64_t>{1, 2, 3, 4});
  // Every batch has its record, sealed to KEK pair 1, and opens only with that pair's private
  // half and binding.
  const auto batches = f.catalog.Batches(1);
  REQUIRE(batches.size() == 4);
  for (const auto& [id, rec] : batches) {
    CHECK(rec.kek_id == 1);
    CHECK(rec.batch_id == id);
  }
  for (const auto& w : wrapped) CHECK(w.kek_id == 1);
  // The dictionary holds no key that opens a batch: nothing cached.
  CHECK(dict->CachedKeys(1).private_halves == 0);
  CHECK(dict->CachedKeys(1).batch_keys == 0);
  auto keks = dict->ListKeks(1);
  REQUIRE(keks.ok());
  CHECK((*keks)[0].dek_count == 7);  // DEKs count per KEK pair
  CHECK_FALSE((*keks)[0].unwrapped);

  // Read back: one unwrap of the private half, then cached.
  for (size_t i = 0; i < deks.size(); ++i) {
    auto dek = dict->UnwrapDek(1, wrapped[i].kek_id, wrapped[i].batch_id, wrapped[i].wrapped);
    INFO(dek.status());
    REQUIRE(dek.ok());
    CHECK(SameDek(*dek, deks[i]));
  }
  CHECK(f.provider.unwrap_calls() == unwraps + 1);
  CHECK(dict->CachedKeys(1).private_halves == 1);
  CHECK(dict->CachedKeys(1).batch_keys == 4);
  // Bounded: after the TTL the cache is wiped (the sweeper calls ExpireCachedKeys).
  f.now += absl::Minutes(5);
  dict->ExpireCachedKeys();
  CHECK(dict->CachedKeys(1).private_halves == 0);
  CHECK(dict->CachedKeys(1).batch_keys == 0);
  REQUIRE(dict->UnwrapDek(1, 1, wrapped[0].batch_id, wrapped[0].wrapped).ok());
  CHECK(f.provider.unwrap_calls() == unwraps + 2);
  dict->ForgetUnwrapped(1);
  CHECK(dict->CachedKeys(1).private_halves == 0);
  CHECK(dict->CachedKeys(1).batch_keys == 0);

  // Mismatches are DataLoss: wrong batch, no batch, a batch in a symmetric group.
  CHECK(absl::IsDataLoss(dict->UnwrapDek(1, 1, wrapped[4].batch_id, wrapped[0].wrapped).status()));
  CHECK(absl::IsDataLoss(dict->UnwrapDek(1, 1, 0, wrapped[0].wrapped).status()));
  CHECK(absl::IsDataLoss(dict->UnwrapDek(1, 1, 99, wrapped[0].wrapped).status()));  // no record
  CHECK(absl::IsNotFound(dict->UnwrapDek(1, 9, 1, wrapped[0].wrapped).status()));   // no KEK 9
  // The plain paths still refuse a public group.
  CHECK(absl::IsFailedPrecondition(dict->WrapDek(1, deks[0]).status()));
}

TEST_CASE("DEK batches: an idle writer's batch closes after batch_max_age (the sweeper)",
          "[batch]") {
  Fixture f;
  auto dict = f.Open();
  REQUIRE_OK(dict->CreateGroup(1, "pub", KekMode::kPublic));
  auto batcher = dict->NewDekBatcher(1);
  REQUIRE(batcher.ok());
  const size_t before = dict->HeldKeyMaterial(1)->size();  // the fingerprint key
  auto w1 = (*batcher)->Wrap(f.NewDek());
  REQUIRE(w1.ok());
  CHECK(dict->HeldKeyMaterial(1)->size() == before + 1);  // the open batch's key
  f.now += absl::Seconds(59);
  dict->ExpireCachedKeys();
  CHECK(dict->HeldKeyMaterial(1)->size() == before + 1);
  f.now += absl::Seconds(1);
  dict->ExpireCachedKeys();  // what the sweeper thread does every quarter of the age limit
  CHECK(dict->HeldKeyMaterial(1)->size() == before);
  auto w2 = (*batcher)->Wrap(f.NewDek());
  REQUIRE(w2.ok());
  CHECK(w2->batch_id == w1->batch_id + 1);
  (*batcher)->Close();
  CHECK(dict->HeldKeyMaterial(1)->size() == before);
  // Unknown group.
  CHECK(absl::IsNotFound(dict->HeldKeyMaterial(9).status()));
}

TEST_CASE("DEK batches: ingest works with the KMS down, reads fail Unavailable naming the group",
          "[batch]") {
  Fixture f;
  REQUIRE_OK(f.Open()->CreateGroup(1, "pub", KekMode::kPublic));
  f.provider.SetAvailable(false);  // from process start
  auto dict = f.Open();
  REQUIRE_OK(dict->LoadGroup(1, "pub", f.catalog.Group(1)));
  auto batcher = dict->NewDekBatcher(1);
  REQUIRE(batcher.ok());
  const crypto::Dek dek = f.NewDek();
  auto w = (*batcher)->Wrap(dek);
  INFO(w.status());
  REQUIRE(w.ok());
  (*batcher)->Close();
  auto read = dict->UnwrapDek(1, w->kek_id, w->batch_id, w->wrapped);
  REQUIRE(absl::IsUnavailable(read.status()));
  CHECK(MessageHas(read.status(), "key group 'pub' (1)"));
  CHECK(MessageHas(read.status(), "needs the KMS"));
  // A rotation that comes due while the KMS is down keeps sealing to the current pair.
  f.now += absl::Hours(24 * 31);
  auto later = (*batcher)->Wrap(f.NewDek());
  REQUIRE(later.ok());
  CHECK(later->kek_id == 1);
  f.provider.SetAvailable(true);
  auto back = dict->UnwrapDek(1, w->kek_id, w->batch_id, w->wrapped);
  REQUIRE(back.ok());
  CHECK(SameDek(*back, dek));
  // With the KMS back and the retry time passed, the next batch goes to a new pair.
  f.now += absl::Minutes(2);
  (*batcher)->Close();
  auto rotated = (*batcher)->Wrap(f.NewDek());
  REQUIRE(rotated.ok());
  CHECK(rotated->kek_id == 2);
}

TEST_CASE("DEK batches: ids are never reused across restarts, a failed record write wraps nothing",
          "[batch]") {
  Fixture f;
  uint64_t last = 0;
  {
    auto dict = f.Open();
    REQUIRE_OK(dict->CreateGroup(1, "pub", KekMode::kPublic));
    auto b = dict->NewDekBatcher(1);
    REQUIRE(b.ok());
    for (int i = 0; i < 2; ++i) {
      auto w = (*b)->Wrap(f.NewDek());
      REQUIRE(w.ok());
      last = w->batch_id;
      (*b)->Close();
    }
  }
  CHECK(last == 2);
  auto dict = f.Open();
  REQUIRE_OK(dict->LoadGroup(1, "pub", f.catalog.Group(1)));  // batch records are skipped
  auto b = dict->NewDekBatcher(1);
  REQUIRE(b.ok());
  auto w = (*b)->Wrap(f.NewDek());
  REQUIRE(w.ok());
  CHECK(w->batch_id == 4);  // block of 3 reserved (ids 1..3 may have been used): starts at 4
  (*b)->Close();
  f.catalog.FailWrites(absl::UnavailableError("catalog down"));
  auto failed = (*b)->Wrap(f.NewDek());
  CHECK(absl::IsUnavailable(failed.status()));
  CHECK(MessageHas(failed.status(), "DEK batch"));
  f.catalog.FailWrites(absl::OkStatus());
  auto ok = (*b)->Wrap(f.NewDek());
  REQUIRE(ok.ok());
  CHECK(ok->batch_id > w->batch_id);
  // A hostile allocator record (id 0) does not load.
  f.catalog.Put(BatchAllocatorRecordKey(1), FromHex("0305" "0000000000000000"));
  auto again = f.Open();
  CHECK(absl::IsDataLoss(again->LoadGroup(1, "pub", f.catalog.Group(1))));
}

TEST_CASE("DEK batches: a moved or substituted batch record does not open", "[batch]") {
  Fixture f;
  auto dict = f.Open();
  REQUIRE_OK(dict->CreateGroup(1, "pub", KekMode::kPublic));
  auto b = dict->NewDekBatcher(1);
  REQUIRE(b.ok());
  auto w1 = (*b)->Wrap(f.NewDek());
  REQUIRE(w1.ok());
  (*b)->Close();
  auto w2 = (*b)->Wrap(f.NewDek());
  REQUIRE(w2.ok());
  (*b)->Close();
  // Batch 1's sealed key copied into batch 2's record: bound to batch 1, it does not open.
  BatchRecord moved = f.catalog.Batches(1).at(1);
  moved.batch_id = 2;
  f.catalog.Put(BatchRecordKey(1, 2), *moved.Encode());
  auto read = dict->UnwrapDek(1, 1, 2, w2->wrapped);
  CHECK(absl::IsDataLoss(read.status()));
  // A record whose id disagrees with its key, a record naming another KEK, a garbled record.
  BatchRecord other = f.catalog.Batches(1).at(1);
  f.catalog.Put(BatchRecordKey(1, 5), *other.Encode());
  CHECK(absl::IsDataLoss(dict->UnwrapDek(1, 1, 5, w1->wrapped).status()));
  other.kek_id = 2;
  f.catalog.Put(BatchRecordKey(1, 1), *other.Encode());
  CHECK(absl::IsDataLoss(dict->UnwrapDek(1, 1, 1, w1->wrapped).status()));
  f.catalog.Put(BatchRecordKey(1, 1), "\x03\x04garbage");
  CHECK(absl::IsDataLoss(dict->UnwrapDek(1, 1, 1, w1->wrapped).status()));
}

TEST_CASE("DEK batches: a symmetric group's batcher wraps under its KEK with no batch", "[batch]") {
  Fixture f;
  auto dict = f.Open();
  REQUIRE_OK(dict->CreateGroup(2, "sym"));
  auto b = dict->NewDekBatcher(2);
  REQUIRE(b.ok());
  const crypto::Dek dek = f.NewDek();
  auto w = (*b)->Wrap(dek);
  REQUIRE(w.ok());
  CHECK(w->batch_id == 0);
  CHECK(w->kek_id == 1);
  auto back = dict->UnwrapDek(2, 1, 0, w->wrapped);
  REQUIRE(back.ok());
  CHECK(SameDek(*back, dek));
  CHECK(absl::IsDataLoss(dict->UnwrapDek(2, 1, 7, w->wrapped).status()));
  CHECK(f.catalog.Batches(2).empty());
  CHECK(absl::IsNotFound(dict->NewDekBatcher(2, 9).status()));
  CHECK(absl::IsNotFound(dict->NewDekBatcher(3).status()));
}

TEST_CASE("DEK batches: a re-wrap batcher seals new batches to the named pair", "[batch]") {
  Fixture f;
  auto dict = f.Open();
  REQUIRE_OK(dict->CreateGroup(1, "pub", KekMode::kPublic));
  auto w_old = (*dict->NewDekBatcher(1))->Wrap(f.NewDek());
  REQUIRE(w_old.ok());
  REQUIRE(*dict->RotateKek(1) == 2);
  auto b = dict->NewDekBatcher(1, 2);
  REQUIRE(b.ok());
  auto w = (*b)->Wrap(f.NewDek());
  REQUIRE(w.ok());
  CHECK(w->kek_id == 2);
  CHECK(w->batch_id != w_old->batch_id);
  CHECK(f.catalog.Batches(1).at(w->batch_id).kek_id == 2);
  CHECK(dict->UnwrapDek(1, 2, w->batch_id, w->wrapped).ok());
  // Dropping a pair drops its cached keys.
  REQUIRE(dict->UnwrapDek(1, 1, w_old->batch_id, w_old->wrapped).ok());
  REQUIRE_OK(dict->DropKek(1, 1));
  CHECK(dict->CachedKeys(1).private_halves == 1);  // pair 2's
  CHECK(dict->CachedKeys(1).batch_keys == 1);
}

}  // namespace
}  // namespace sealpool::storage
