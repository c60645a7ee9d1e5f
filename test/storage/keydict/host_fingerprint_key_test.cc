// The host-sealed fingerprint key (issue 17): the record seals and opens; malformed, truncated,
// oversized, newer, moved (another group, another pool) and wrongly keyed records are refused
// with the documented codes; a public group's key dictionary writes the copy at creation and
// opens it with no KMS call after a restart; a missing or stale copy is (re)written after the
// next unwrap through the KMS; symmetric groups never get one.
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "storage/keydict/host_fingerprint_key.h"
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

crypto::HostKey NewHostKey() {
  auto k = crypto::HostKey::Generate();
  REQUIRE(k.ok());
  return *std::move(k);
}

crypto::FingerprintKey NewFpk() {
  auto k = crypto::FingerprintKey::Generate();
  REQUIRE(k.ok());
  return *std::move(k);
}

bool SameKey(const crypto::FingerprintKey& a, const crypto::FingerprintKey& b) {
  return std::equal(a.RevealSecret().begin(), a.RevealSecret().end(), b.RevealSecret().begin(),
                    b.RevealSecret().end());
}

TEST_CASE("a host-sealed fingerprint key opens under its host key, pool and group",
          "[host_fpk]") {
  const crypto::HostKey host = NewHostKey();
  const crypto::FingerprintKey fpk = NewFpk();
  auto value = SealHostFingerprintKey(host, "pool-A", 7, fpk);
  REQUIRE(value.ok());
  REQUIRE(value->size() == kHostSealedFpkValueSize);
  CHECK(static_cast<uint8_t>((*value)[0]) == 1);
  CHECK(static_cast<uint8_t>((*value)[1]) == 4);
  CHECK(value->substr(2, 4) == std::string("\x07\x00\x00\x00", 4));
  auto opened = OpenHostFingerprintKey(host, "pool-A", 7, *value);
  REQUIRE(opened.ok());
  CHECK(SameKey(*opened, fpk));
  // Two seals of one key differ (fresh nonce).
  auto again = SealHostFingerprintKey(host, "pool-A", 7, fpk);
  REQUIRE(again.ok());
  CHECK(*again != *value);
  CHECK(HostSealedFpkRecordKey(7) == std::string("\x00\x00\x00\x07H", 5));
  CHECK(IsHostSealedFpkRecordKey(HostSealedFpkRecordKey(7)));
  CHECK_FALSE(IsHostSealedFpkRecordKey(FingerprintKeyRecordKey(7)));
}

TEST_CASE("a damaged or moved host-sealed fingerprint key record is refused", "[host_fpk]") {
  const crypto::HostKey host = NewHostKey();
  auto value = SealHostFingerprintKey(host, "pool-A", 7, NewFpk());
  REQUIRE(value.ok());
  auto open = [&](std::string_view v, std::string_view pool = "pool-A", uint32_t group = 7) {
    return OpenHostFingerprintKey(host, pool, group, v).status();
  };
  SECTION("empty, truncated and oversized values are data loss") {
    CHECK(absl::IsDataLoss(open("")));
    CHECK(absl::IsDataLoss(open(value->substr(0, value->size() - 1))));
    CHECK(absl::IsDataLoss(open(value->substr(0, 6))));
    CHECK(absl::IsDataLoss(open(*value + std::string(1, '\0'))));
    CHECK(absl::IsDataLoss(open(std::string(4096, '\x01'))));
  }
  SECTION("a newer version is refused as written by a newer sealpool") {
    std::string v = *value;
    v[0] = 2;
    absl::Status s = open(v);
    CHECK(absl::IsFailedPrecondition(s));
    CHECK(MessageHas(s, "newer sealpool"));
  }
  SECTION("version 0 and another kind are data loss") {
    std::string v = *value;
    v[0] = 0;
    CHECK(absl::IsDataLoss(open(v)));
    v = *value;
    v[1] = 2;
    CHECK(absl::IsDataLoss(open(v)));
  }
  SECTION("the record of another group is refused, whether moved or relabelled") {
    absl::Status moved = open(*value, "pool-A", 8);
    CHECK(absl::IsDataLoss(moved));
    CHECK(MessageHas(moved, "names key group 7"));
    std::string relabelled = *value;
    relabelled[2] = 8;
    CHECK(absl::IsDataLoss(open(relabelled, "pool-A", 8)));
  }
  SECTION("another pool or another host key does not open it") {
    absl::Status other_pool = open(*value, "pool-B");
    CHECK(absl::IsDataLoss(other_pool));
    CHECK(MessageHas(other_pool, "does not open under the configured host key"));
    const crypto::HostKey other = NewHostKey();
    CHECK(absl::IsDataLoss(OpenHostFingerprintKey(other, "pool-A", 7, *value).status()));
  }
  SECTION("every flipped byte of nonce, sealed key or tag is data loss") {
    for (size_t i = kHostSealedFpkHeaderSize; i < value->size(); ++i) {
      std::string v = *value;
      v[i] = static_cast<char>(v[i] ^ 0x01);
      INFO("byte " << i);
      CHECK(absl::IsDataLoss(open(v)));
    }
  }
  SECTION("a bad pool id is refused before any crypto") {
    CHECK(absl::IsInvalidArgument(open(*value, "")));
    CHECK(absl::IsInvalidArgument(open(*value, std::string(kMaxHostSealPoolIdSize + 1, 'p'))));
  }
}

class MemoryCatalog {
 public:
  KeyRecordWriter Writer() {
    return [this](std::string_view key, std::string_view value) -> absl::Status {
      absl::MutexLock lock(&mu_);
      ++writes_;
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
  bool Has(const std::string& key) const {
    absl::MutexLock lock(&mu_);
    return records_.contains(key);
  }
  std::string Get(const std::string& key) const {
    absl::MutexLock lock(&mu_);
    auto it = records_.find(key);
    return it == records_.end() ? std::string() : it->second;
  }
  void Put(const std::string& key, std::string value) {
    absl::MutexLock lock(&mu_);
    records_[key] = std::move(value);
  }
  void Erase(const std::string& key) {
    absl::MutexLock lock(&mu_);
    records_.erase(key);
  }

 private:
  mutable absl::Mutex mu_;
  int writes_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<std::string, std::string> records_ ABSL_GUARDED_BY(mu_);
};

struct Fixture {
  Fixture() : provider("pool-A") {
    REQUIRE(provider.Activate(provider.AddRootKey("pub")).ok());
    REQUIRE(provider.Activate(provider.AddRootKey("sym")).ok());
    auto k = crypto::HostKey::Generate();
    REQUIRE(k.ok());
    host = std::make_shared<const crypto::HostKey>(*std::move(k));
  }
  std::unique_ptr<KeyDictionary> Open(std::shared_ptr<const crypto::HostKey> key) {
    KeyDictionaryOptions options;
    options.host_key = std::move(key);
    auto dict = KeyDictionary::Create(&provider, "pool-A", catalog.Writer(), catalog.Deleter(),
                                      options);
    REQUIRE(dict.ok());
    return *std::move(dict);
  }
  crypto::FingerprintKey Fpk(KeyDictionary& dict, uint32_t group_no) {
    auto k = dict.FingerprintKey(group_no);
    INFO(k.status().ToString());
    REQUIRE(k.ok());
    return *std::move(k);
  }

  InProcessRootKeyProvider provider;
  std::shared_ptr<const crypto::HostKey> host;
  MemoryCatalog catalog;
};

TEST_CASE("a public group's fingerprint key opens from its host copy with the KMS down",
          "[host_fpk]") {
  Fixture f;
  crypto::FingerprintKey created = NewFpk();
  {
    auto dict = f.Open(f.host);
    REQUIRE_OK(dict->CreateGroup(1, "pub", KekMode::kPublic));
    REQUIRE_OK(dict->CreateGroup(2, "sym", KekMode::kSymmetric));
    created = f.Fpk(*dict, 1);
  }
  REQUIRE(f.catalog.Has(HostSealedFpkRecordKey(1)));
  CHECK_FALSE(f.catalog.Has(HostSealedFpkRecordKey(2)));  // symmetric groups never

  f.provider.SetAvailable(false);
  auto dict = f.Open(f.host);
  REQUIRE_OK(dict->LoadGroup(1, "pub", f.catalog.Group(1)));
  REQUIRE_OK(dict->LoadGroup(2, "sym", f.catalog.Group(2)));
  CHECK(*dict->FingerprintKeyWithoutKms(1));
  CHECK_FALSE(*dict->FingerprintKeyWithoutKms(2));
  const uint64_t unwraps = f.provider.unwrap_calls();
  CHECK(SameKey(f.Fpk(*dict, 1), created));
  CHECK(f.provider.unwrap_calls() == unwraps);  // no KMS call
  // The symmetric group still needs the KMS.
  CHECK(absl::IsUnavailable(dict->FingerprintKey(2).status()));
}

TEST_CASE("without a host key, or with another one, the fingerprint key needs the KMS",
          "[host_fpk]") {
  Fixture f;
  {
    auto dict = f.Open(f.host);
    REQUIRE_OK(dict->CreateGroup(1, "pub", KekMode::kPublic));
  }
  const std::string first_copy = f.catalog.Get(HostSealedFpkRecordKey(1));
  SECTION("no host key configured") {
    f.provider.SetAvailable(false);
    auto dict = f.Open(nullptr);
    REQUIRE_OK(dict->LoadGroup(1, "pub", f.catalog.Group(1)));
    CHECK_FALSE(*dict->FingerprintKeyWithoutKms(1));
    CHECK(absl::IsUnavailable(dict->FingerprintKey(1).status()));
  }
  SECTION("another host key: refused while the KMS is down, re-sealed once it answers") {
    auto other = std::make_shared<const crypto::HostKey>(NewHostKey());
    f.provider.SetAvailable(false);
    auto dict = f.Open(other);
    REQUIRE_OK(dict->LoadGroup(1, "pub", f.catalog.Group(1)));
    absl::Status s = dict->FingerprintKey(1).status();
    CHECK(absl::IsUnavailable(s));
    CHECK(MessageHas(s, "host-sealed copy"));
    CHECK(MessageHas(s, "does not open under the configured host key"));
    f.provider.SetAvailable(true);
    const crypto::FingerprintKey k = f.Fpk(*dict, 1);
    const std::string resealed = f.catalog.Get(HostSealedFpkRecordKey(1));
    CHECK(resealed != first_copy);
    auto opened = OpenHostFingerprintKey(*other, "pool-A", 1, resealed);
    REQUIRE(opened.ok());
    CHECK(SameKey(*opened, k));
  }
  SECTION("a missing copy is written after the first unwrap through the KMS") {
    f.catalog.Erase(HostSealedFpkRecordKey(1));
    auto dict = f.Open(f.host);
    REQUIRE_OK(dict->LoadGroup(1, "pub", f.catalog.Group(1)));
    CHECK_FALSE(*dict->FingerprintKeyWithoutKms(1));
    const crypto::FingerprintKey k = f.Fpk(*dict, 1);
    REQUIRE(f.catalog.Has(HostSealedFpkRecordKey(1)));
    auto opened = OpenHostFingerprintKey(*f.host, "pool-A", 1, f.catalog.Get(HostSealedFpkRecordKey(1)));
    REQUIRE(opened.ok());
    CHECK(SameKey(*opened, k));
  }
}

TEST_CASE("a host-sealed fingerprint key record in the wrong place fails the group's load",
          "[host_fpk]") {
  Fixture f;
  {
    auto dict = f.Open(f.host);
    REQUIRE_OK(dict->CreateGroup(1, "pub", KekMode::kPublic));
    REQUIRE_OK(dict->CreateGroup(2, "sym", KekMode::kSymmetric));
  }
  SECTION("in a symmetric group") {
    f.catalog.Put(HostSealedFpkRecordKey(2), f.catalog.Get(HostSealedFpkRecordKey(1)));
    auto dict = f.Open(f.host);
    CHECK(absl::IsDataLoss(dict->LoadGroup(2, "sym", f.catalog.Group(2))));
  }
  SECTION("another group's record handed to a load") {
    auto records = f.catalog.Group(1);
    records.emplace_back(HostSealedFpkRecordKey(3), f.catalog.Get(HostSealedFpkRecordKey(1)));
    auto dict = f.Open(f.host);
    CHECK(absl::IsDataLoss(dict->LoadGroup(1, "pub", records)));
  }
  SECTION("a damaged copy loads (it is opened on use) and falls back to the KMS") {
    std::string v = f.catalog.Get(HostSealedFpkRecordKey(1));
    v[20] = static_cast<char>(v[20] ^ 0x40);
    f.catalog.Put(HostSealedFpkRecordKey(1), v);
    auto dict = f.Open(f.host);
    REQUIRE_OK(dict->LoadGroup(1, "pub", f.catalog.Group(1)));
    f.provider.SetAvailable(false);
    CHECK(absl::IsUnavailable(dict->FingerprintKey(1).status()));
    f.provider.SetAvailable(true);
    f.Fpk(*dict, 1);
    CHECK(f.catalog.Get(HostSealedFpkRecordKey(1)) != v);  // replaced
  }
}

}  // namespace
}  // namespace sealpool::storage
