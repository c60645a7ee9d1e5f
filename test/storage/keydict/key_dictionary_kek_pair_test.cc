// KEK pairs in the key dictionary (kek_mode "public", issue 17): the KEK pair record (format
// version 2, kind 3) pinned and refused when damaged; a public group's creation checks the
// pair through the key service and keeps no private half; load, rotation, re-wrap and drop
// work for pairs; a substituted public key is found by VerifyKekPair and by re-wrap; DEK
// wrapping refuses a public group until batches exist.
#include <atomic>
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "crypto/batch_key_seal.h"
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

// --- The record format. ---

KekPairRecord GoldenPair() {
  KekPairRecord r;
  r.kek_id = 2;
  r.state = KekState::kInactive;
  r.created_unix_micros = 0x0102030405060708;
  r.dek_count = 4096;
  for (size_t i = 0; i < r.public_key.size(); ++i) r.public_key[i] = static_cast<uint8_t>(0xa0 + i);
  r.wrapped.root_key_id = "rk-1";
  r.wrapped.blob = {0xaa, 0xbb, 0xcc};
  return r;
}

// Version 2 on disk. If this fails, the format changed: that needs a new version.
constexpr char kGoldenPairHex[] =
    "02"                // version 2
    "03"                // kind: KEK pair
    "02000000"          // KEK id 2
    "02"                // state: inactive
    "0807060504030201"  // created, unix microseconds
    "0010000000000000"  // dek_count 4096
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"  // public key
    "0400" "726b2d31"   // root key id "rk-1"
    "0300" "aabbcc";    // wrapped blob (the private half)

TEST_CASE("KEK pair record: pinned encoding and round trip", "[kek_pair]") {
  auto encoded = GoldenPair().Encode();
  REQUIRE(encoded.ok());
  CHECK(ToHex(*encoded) == kGoldenPairHex);
  auto decoded = KekPairRecord::Decode(FromHex(kGoldenPairHex));
  REQUIRE(decoded.ok());
  CHECK(*decoded == GoldenPair());
  auto kind = PeekKeyRecordKind(*encoded);
  REQUIRE(kind.ok());
  CHECK(*kind == kKeyRecordKindKekPair);
  CHECK(absl::IsDataLoss(PeekKeyRecordKind("\x02").status()));
}

TEST_CASE("KEK pair record: damaged values are refused", "[kek_pair]") {
  const std::string good = FromHex(kGoldenPairHex);
  for (size_t n = 0; n < good.size(); ++n) {
    INFO("truncated to " << n);
    auto status = KekPairRecord::Decode(good.substr(0, n)).status();
    CHECK(absl::IsDataLoss(status));
    CHECK(MessageHas(status, "KEK pair record"));
  }
  CHECK(MessageHas(KekPairRecord::Decode(good + "x").status(), "trailing"));
  std::string v = good;
  v[0] = 1;  // kind 3 does not exist in version 1
  auto status = KekPairRecord::Decode(v).status();
  CHECK(absl::IsDataLoss(status));
  CHECK(MessageHas(status, "version 1"));
  v = good;
  v[0] = static_cast<char>(kKeyRecordVersionNewest + 1);
  CHECK(absl::IsFailedPrecondition(KekPairRecord::Decode(v).status()));
  v = good;
  v[0] = 0;
  CHECK(absl::IsDataLoss(KekPairRecord::Decode(v).status()));
  v = good;
  v[6] = 9;  // state
  CHECK(absl::IsDataLoss(KekPairRecord::Decode(v).status()));
  v = good;
  v[1] = 1;  // a KEK record's kind
  CHECK(absl::IsDataLoss(KekPairRecord::Decode(v).status()));
  // A pair record is not a KEK record, nor the other way round.
  CHECK(absl::IsDataLoss(KekRecord::Decode(good).status()));
  KekRecord kek;
  kek.kek_id = 1;
  kek.wrapped = GoldenPair().wrapped;
  auto kek_value = kek.Encode();
  REQUIRE(kek_value.ok());
  CHECK(absl::IsDataLoss(KekPairRecord::Decode(*kek_value).status()));
  // Encoding refuses what could not be decoded.
  KekPairRecord bad = GoldenPair();
  bad.wrapped.blob.clear();
  CHECK(absl::IsInvalidArgument(bad.Encode().status()));
  bad = GoldenPair();
  bad.created_unix_micros = -1;
  CHECK(absl::IsInvalidArgument(bad.Encode().status()));
}

// --- The dictionary. ---

class MemoryCatalog {
 public:
  KeyRecordWriter Writer() {
    return [this](std::string_view key, std::string_view value) -> absl::Status {
      absl::MutexLock lock(&mu_);
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
  std::vector<std::pair<std::string, std::string>> Group(uint32_t group_no) const {
    absl::MutexLock lock(&mu_);
    const std::string prefix = KeyGroupRecordPrefix(group_no);
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& [k, v] : records_) {
      if (k.starts_with(prefix)) out.emplace_back(k, v);
    }
    return out;
  }
  size_t size() const {
    absl::MutexLock lock(&mu_);
    return records_.size();
  }
  std::string Get(const std::string& key) const {
    absl::MutexLock lock(&mu_);
    auto it = records_.find(key);
    REQUIRE(it != records_.end());
    return it->second;
  }
  void Put(const std::string& key, std::string value) {
    absl::MutexLock lock(&mu_);
    records_[key] = std::move(value);
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::string> records_ ABSL_GUARDED_BY(mu_);
};

// Hands back another secret than was wrapped: the key service (or the path to it) lies.
class LyingProvider final : public RootKeyProvider {
 public:
  explicit LyingProvider(RootKeyProvider* real) : real_(real) {}
  absl::StatusOr<WrappedKey> Wrap(std::string_view g, std::string_view id,
                                  std::span<const uint8_t> secret) override {
    return real_->Wrap(g, id, secret);
  }
  absl::StatusOr<crypto::SecretBytes> Unwrap(std::string_view, std::string_view,
                                             const WrappedKey&) override {
    auto other = crypto::KekPrivateKey::Generate();
    if (!other.ok()) return other.status();
    auto out = crypto::SecretBytes::Allocate(32);
    if (!out.ok()) return out.status();
    std::copy(other->RevealSecret().begin(), other->RevealSecret().end(),
              out->mutable_span().begin());
    return out;
  }
  absl::StatusOr<crypto::SecretBytes> UnwrapForRewrap(std::string_view g, std::string_view id,
                                                      const WrappedKey& w) override {
    return Unwrap(g, id, w);
  }
  absl::StatusOr<std::string> ActiveRootKeyId(std::string_view g) override {
    return real_->ActiveRootKeyId(g);
  }

 private:
  RootKeyProvider* real_;
};

struct Fixture {
  Fixture() : provider("pool-A") {
    root_key = provider.AddRootKey("pub");
    REQUIRE(provider.Activate(root_key).ok());
    REQUIRE(provider.Activate(provider.AddRootKey("sym")).ok());
  }
  std::unique_ptr<KeyDictionary> Open(RootKeyProvider* p = nullptr) {
    auto dict = KeyDictionary::Create(p != nullptr ? p : &provider, "pool-A", catalog.Writer(),
                                      catalog.Deleter());
    REQUIRE(dict.ok());
    return *std::move(dict);
  }
  KekPairRecord Pair(uint32_t group_no, uint32_t kek_id) const {
    auto rec = KekPairRecord::Decode(catalog.Get(KekRecordKey(group_no, kek_id)));
    REQUIRE(rec.ok());
    return *rec;
  }
  crypto::KekPublicKey PublicFromKms(uint32_t group_no, uint32_t kek_id) {
    const KekPairRecord rec = Pair(group_no, kek_id);
    auto secret = provider.Unwrap("pub", "kek-" + std::to_string(kek_id), rec.wrapped);
    REQUIRE(secret.ok());
    auto key = crypto::KekPrivateKey::FromBytes(secret->span());
    REQUIRE(key.ok());
    auto pub = crypto::DeriveKekPublicKey(*key);
    REQUIRE(pub.ok());
    return *pub;
  }

  InProcessRootKeyProvider provider;
  std::string root_key;
  MemoryCatalog catalog;
};

TEST_CASE("a public group's KEK 1 is a pair checked through the KMS and no private half is kept",
          "[kek_pair]") {
  Fixture f;
  auto dict = f.Open();
  const uint64_t unwraps = f.provider.unwrap_calls();
  REQUIRE_OK(dict->CreateGroup(1, "pub", KekMode::kPublic));
  CHECK(f.provider.unwrap_calls() == unwraps + 1);  // the pair check
  REQUIRE_OK(dict->CreateGroup(2, "sym"));
  CHECK(*dict->GroupKekMode(1) == KekMode::kPublic);
  CHECK(*dict->GroupKekMode(2) == KekMode::kSymmetric);
  CHECK(KekModeName(KekMode::kPublic) == "public");
  CHECK(absl::IsNotFound(dict->GroupKekMode(3).status()));

  // The record: version 2, kind 3, the public half; the blob's private half gives it.
  const std::string value = f.catalog.Get(KekRecordKey(1, 1));
  CHECK(value[0] == kKeyRecordVersion2);
  CHECK(value[1] == kKeyRecordKindKekPair);
  const KekPairRecord rec = f.Pair(1, 1);
  CHECK(rec.state == KekState::kActive);
  CHECK(rec.wrapped.root_key_id == f.root_key);
  CHECK(f.PublicFromKms(1, 1) == rec.public_key);
  // A symmetric group's records stay version 1.
  CHECK(f.catalog.Get(KekRecordKey(2, 1))[0] == kKeyRecordVersion1);
  CHECK(f.catalog.Get(FingerprintKeyRecordKey(1))[0] == kKeyRecordVersion1);

  auto active = dict->ActiveKekPublicKey(1);
  REQUIRE(active.ok());
  CHECK(active->kek_id == 1);
  CHECK(active->public_key == rec.public_key);
  CHECK(absl::IsFailedPrecondition(dict->ActiveKekPublicKey(2).status()));

  auto keks = dict->ListKeks(1);
  REQUIRE(keks.ok());
  REQUIRE(keks->size() == 1);
  CHECK((*keks)[0].pair);
  CHECK((*keks)[0].public_key == rec.public_key);
  CHECK_FALSE((*keks)[0].unwrapped);
  auto sym = dict->ListKeks(2);
  REQUIRE(sym.ok());
  CHECK_FALSE((*sym)[0].pair);
  CHECK_FALSE((*sym)[0].public_key.has_value());

  // DEK wrapping under a pair goes through batches (DekBatcher): the plain calls refuse it.
  auto dek = crypto::Dek::Generate();
  REQUIRE(dek.ok());
  auto wrapped = dict->WrapDek(1, *dek);
  CHECK(absl::IsFailedPrecondition(wrapped.status()));
  CHECK(MessageHas(wrapped.status(), "public"));
  CHECK(absl::IsFailedPrecondition(dict->WrapDekUnder(1, 1, *dek).status()));
  CHECK(absl::IsFailedPrecondition(dict->UnwrapDek(1, 1, crypto::WrappedDek{}).status()));
  // The fingerprint key works as in a symmetric group (ingest needs it).
  CHECK(dict->FingerprintKey(1).ok());
}

TEST_CASE("creating a pair fails and writes nothing when the KMS is down or lies", "[kek_pair]") {
  Fixture f;
  {
    auto dict = f.Open();
    f.provider.SetAvailable(false);
    CHECK(absl::IsUnavailable(dict->CreateGroup(1, "pub", KekMode::kPublic)));
    f.provider.SetAvailable(true);
    // The wrap succeeds but the unwrap fails: still nothing written.
    f.provider.FailAfter(2);  // fingerprint key wrap, private half wrap
    CHECK(absl::IsUnavailable(dict->CreateGroup(1, "pub", KekMode::kPublic)));
    f.provider.SetAvailable(true);
    CHECK(f.catalog.size() == 0);
  }
  LyingProvider liar(&f.provider);
  auto dict = f.Open(&liar);
  const absl::Status status = dict->CreateGroup(1, "pub", KekMode::kPublic);
  CHECK(absl::IsDataLoss(status));
  CHECK(MessageHas(status, "does not match"));
  CHECK(f.catalog.size() == 0);
  CHECK_FALSE(dict->HasGroup(1));
}

TEST_CASE("a public group loads without the KMS and a pair re-checks when it is back",
          "[kek_pair]") {
  Fixture f;
  REQUIRE_OK(f.Open()->CreateGroup(1, "pub", KekMode::kPublic));
  f.provider.SetAvailable(false);
  auto dict = f.Open();
  REQUIRE_OK(dict->LoadGroup(1, "pub", f.catalog.Group(1)));
  CHECK(*dict->GroupKekMode(1) == KekMode::kPublic);
  CHECK(dict->ActiveKekPublicKey(1)->public_key == f.Pair(1, 1).public_key);
  CHECK(absl::IsUnavailable(dict->VerifyKekPair(1, 1)));
  f.provider.SetAvailable(true);
  REQUIRE_OK(dict->VerifyKekPair(1, 1));
  CHECK(absl::IsNotFound(dict->VerifyKekPair(1, 7)));
}

TEST_CASE("a substituted public key is found by VerifyKekPair and by re-wrap", "[kek_pair]") {
  Fixture f;
  REQUIRE_OK(f.Open()->CreateGroup(1, "pub", KekMode::kPublic));
  // Someone who can write the catalog puts their own public key in the record.
  auto attacker = crypto::GenerateKekPair();
  REQUIRE(attacker.ok());
  KekPairRecord rec = f.Pair(1, 1);
  rec.public_key = attacker->public_key;
  f.catalog.Put(KekRecordKey(1, 1), *rec.Encode());

  auto dict = f.Open();
  REQUIRE_OK(dict->LoadGroup(1, "pub", f.catalog.Group(1)));  // the catalog alone cannot tell
  const absl::Status verify = dict->VerifyKekPair(1, 1);
  CHECK(absl::IsDataLoss(verify));
  CHECK(MessageHas(verify, "substituted"));

  // A root-key rotation's re-wrap refuses to carry the substituted key over.
  const std::string rk2 = f.provider.AddRootKey("pub");
  REQUIRE_OK(f.provider.Activate(rk2));
  auto rewrapped = dict->RewrapGroupKeys(1);
  CHECK(absl::IsDataLoss(rewrapped.status()));
  CHECK(f.Pair(1, 1).wrapped.root_key_id == f.root_key);  // not re-wrapped
}

TEST_CASE("KEK pairs rotate, re-wrap, reload and drop like KEKs", "[kek_pair]") {
  Fixture f;
  auto dict = f.Open();
  REQUIRE_OK(dict->CreateGroup(1, "pub", KekMode::kPublic));
  auto rotated = dict->RotateKek(1);
  REQUIRE(rotated.ok());
  CHECK(*rotated == 2);
  CHECK(f.Pair(1, 1).state == KekState::kInactive);
  CHECK(f.Pair(1, 2).state == KekState::kActive);
  CHECK(f.Pair(1, 1).public_key != f.Pair(1, 2).public_key);
  CHECK(f.PublicFromKms(1, 2) == f.Pair(1, 2).public_key);
  CHECK(dict->ActiveKekPublicKey(1)->kek_id == 2);

  // Root-key rotation: the fingerprint key and both pairs are re-wrapped, the pairs still match.
  const std::string rk2 = f.provider.AddRootKey("pub");
  REQUIRE_OK(f.provider.Activate(rk2));
  auto n = dict->RewrapGroupKeys(1);
  REQUIRE(n.ok());
  CHECK(*n == 3);
  CHECK(f.Pair(1, 1).wrapped.root_key_id == rk2);
  CHECK(f.Pair(1, 2).wrapped.root_key_id == rk2);
  REQUIRE_OK(f.provider.Destroy(f.root_key));  // the old root key is gone: still readable
  REQUIRE_OK(dict->VerifyKekPair(1, 1));
  REQUIRE_OK(dict->VerifyKekPair(1, 2));
  CHECK(*dict->RewrapGroupKeys(1) == 0);  // resumable: nothing left

  auto refs = dict->ListWrappedKeys(1);
  REQUIRE(refs.ok());
  REQUIRE(refs->size() == 3);
  // The hashes sealkmsd pins: none for the fingerprint key, SHA-256 of each public half.
  CHECK((*refs)[0].key_id == "fpk");
  CHECK((*refs)[0].public_key_sha256.empty());
  CHECK((*refs)[1].public_key_sha256 == *crypto::KekPublicKeySha256Hex(f.Pair(1, 1).public_key));
  CHECK((*refs)[2].public_key_sha256 == *crypto::KekPublicKeySha256Hex(f.Pair(1, 2).public_key));
  CHECK((*refs)[1].public_key_sha256.size() == 64);
  CHECK((*refs)[1].public_key_sha256 != (*refs)[2].public_key_sha256);

  // Reload, then purge the inactive pair.
  auto again = f.Open();
  REQUIRE_OK(again->LoadGroup(1, "pub", f.catalog.Group(1)));
  CHECK(again->ActiveKekPublicKey(1)->kek_id == 2);
  CHECK(absl::IsFailedPrecondition(again->DropKek(1, 2)));
  REQUIRE_OK(again->DropKek(1, 1));
  CHECK(f.catalog.Group(1).size() == 2);
  auto keks = again->ListKeks(1);
  REQUIRE(keks.ok());
  REQUIRE(keks->size() == 1);
  CHECK((*keks)[0].kek_id == 2);
  CHECK((*keks)[0].pair);
}

TEST_CASE("a group mixing KEK pairs and symmetric KEKs does not load", "[kek_pair]") {
  Fixture f;
  auto dict = f.Open();
  REQUIRE_OK(dict->CreateGroup(1, "pub", KekMode::kPublic));
  REQUIRE_OK(dict->CreateGroup(2, "sym"));
  // KEK 2 of the public group as a symmetric record (e.g. a downgrade by catalog write).
  KekRecord sym;
  sym.kek_id = 2;
  sym.wrapped = f.Pair(1, 1).wrapped;
  f.catalog.Put(KekRecordKey(1, 2), *sym.Encode());
  auto again = f.Open();
  const absl::Status status = again->LoadGroup(1, "pub", f.catalog.Group(1));
  CHECK(absl::IsDataLoss(status));
  CHECK(MessageHas(status, "symmetric KEK in a group of KEK pairs"));
  // And a pair record in a symmetric group.
  KekPairRecord pair = f.Pair(1, 1);
  pair.kek_id = 2;
  f.catalog.Put(KekRecordKey(2, 2), *pair.Encode());
  const absl::Status status2 = again->LoadGroup(2, "sym", f.catalog.Group(2));
  CHECK(absl::IsDataLoss(status2));
  CHECK(MessageHas(status2, "KEK pair in a group of symmetric KEKs"));
}

}  // namespace
}  // namespace sealpool::storage
