// The pool (storage::Pool) with its root keys in a real sealkmsd on loopback, through
// daemon::KmsRootKeyProvider over kms::KmsClient: the whole envelope of DESIGN.md, segment DEK
// → KEK (pool) → root key (sealkmsd), end to end.
#include "daemon/sealpoold/kms_root_key_provider.h"

#include <catch2/catch.hpp>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "kms/wrapped_key_format.h"
#include "test/kms/kmip/pykmip_server.h"
#include "storage/pool/pool.h"
#include "test/kms/kms_test_env.h"
#include "test/test_util.h"

namespace sealpool::test {
namespace {

using absl::StatusCode;
using storage::Pool;

constexpr char kGroup[] = "kg-a";      // sealkmsd allows it to pool-a only (kms_test_env.h)
constexpr char kShared[] = "kg-shared";  // allowed to pool-a and pool-b
constexpr char kLsu[] = "lsu1";

storage::PoolOptions Options() {
  storage::PoolOptions o;
  o.catalog.block_cache_bytes = 8 << 20;
  return o;
}

absl::Status Write(Pool& pool, const std::string& lsu, const std::string& name,
                   const std::vector<uint8_t>& content) {
  storage::ImageRequest request;
  request.lsu = lsu;
  request.name = name;
  auto writer = pool.BeginImage(request);
  if (!writer.ok()) return writer.status();
  for (size_t pos = 0; pos < content.size(); pos += 100000) {
    const size_t n = std::min<size_t>(100000, content.size() - pos);
    if (absl::Status s = (*writer)->Write(std::span(content).subspan(pos, n)); !s.ok()) return s;
  }
  return (*writer)->Commit().status();
}

// The image's bytes, or the status of the read; bytes a failed read passed on are returned
// too (there must be none).
struct Read {
  absl::Status status;
  std::vector<uint8_t> bytes;
};
Read ReadAll(const Pool& pool, const std::string& lsu, const std::string& name) {
  Read r;
  auto info = pool.StatImage({std::string(lsu), "", std::string(name)});
  if (!info.ok()) {
    r.status = info.status();
    return r;
  }
  r.status = pool.ReadImage({std::string(lsu), "", std::string(name)}, 0, info->size, [&](std::span<const uint8_t> d) {
    r.bytes.insert(r.bytes.end(), d.begin(), d.end());
    return absl::OkStatus();
  });
  return r;
}

// The root key ids the pool's KEKs of `group` are wrapped under.
std::set<std::string> KekRootKeys(const Pool& pool, const std::string& group) {
  std::set<std::string> out;
  auto groups = pool.ListKeyGroups();
  REQUIRE(groups.ok());
  for (const auto& g : *groups) {
    if (g.name != group) continue;
    for (const auto& k : g.keks) out.insert(k.root_key_id);
  }
  return out;
}

class PoolKeysFixture : public KmsFixture {
 protected:
  // A key-service client and provider as pool-a (a fresh cache each time).
  struct Keys {
    std::unique_ptr<kms::KmsClient> client;
    std::unique_ptr<daemon::KmsRootKeyProvider> provider;
  };
  Keys KeysOf(const std::string& pool_id) {
    Keys k;
    k.client = kms_.Client(pool_id, pool_id, absl::Seconds(3));
    k.provider = std::make_unique<daemon::KmsRootKeyProvider>(k.client.get());
    return k;
  }
  std::string pool_dir() const { return (dir_.path() / "pool").string(); }

  // A new pool in pool_dir() on `keys`, with key group kGroup, LSU kLsu and `img1` in it.
  std::unique_ptr<Pool> NewPool(const Keys& keys, const std::vector<uint8_t>& img1) {
    auto pool = Pool::Create(pool_dir(), keys.provider.get(), Options());
    INFO(pool.status());
    REQUIRE(pool.ok());
    REQUIRE((*pool)->CreateKeyGroup(kGroup).ok());
    REQUIRE((*pool)->CreateLsu(kLsu, kGroup, storage::LsuOptions{.allow_client_delete = true}).ok());
    REQUIRE(Write(**pool, kLsu, "img1", img1).ok());
    return *std::move(pool);
  }
};

TEST_CASE_METHOD(PoolKeysFixture,
                 "a pool with its root keys in sealkmsd writes, reopens and reads back exactly",
                 "[daemon][pool_keys][e2e]") {
  const std::string rk1 = kms_.CreateActiveGroup(kGroup);
  const std::vector<uint8_t> img1 = PseudoRandomBytes(3 << 20, 1);
  {
    Keys keys = KeysOf("pool-a");
    auto pool = NewPool(keys, img1);
    CHECK(KekRootKeys(*pool, kGroup) == std::set<std::string>{rk1});
  }
  // sealkmsd registered the pool's KEK under the group's root key.
  std::string out;
  REQUIRE(RunCommand({KMSCMD_PATH, "--server", kms_.address(), "--ca",
                      (kms_.dir() / "ca.crt").string(), "--cert",
                      (kms_.dir() / "admin.crt").string(), "--key",
                      (kms_.dir() / "admin.key").string(), "usage", "--group", kGroup},
                     &out) == 0);
  CHECK_THAT(out, Catch::Contains("pool-a"));
  CHECK_THAT(out, Catch::Contains(rk1));

  Keys keys = KeysOf("pool-a");  // nothing cached: every key comes from sealkmsd
  auto pool = Pool::Open(pool_dir(), keys.provider.get(), Options());
  REQUIRE(pool.ok());
  const Read back = ReadAll(**pool, kLsu, "img1");
  INFO(back.status);
  REQUIRE(back.status.ok());
  CHECK(back.bytes == img1);
  auto verify = (*pool)->Verify();
  REQUIRE(verify.ok());
  CHECK(verify->ok());
}

TEST_CASE_METHOD(PoolKeysFixture,
                 "with sealkmsd down a pool reads and writes on keys it holds and fails cleanly "
                 "on keys it does not",
                 "[daemon][pool_keys][e2e]") {
  kms_.CreateActiveGroup(kGroup);
  const std::vector<uint8_t> img1 = PseudoRandomBytes(2 << 20, 2);
  const std::vector<uint8_t> img2 = PseudoRandomBytes(1 << 20, 3);
  {
    Keys keys = KeysOf("pool-a");
    NewPool(keys, img1);
  }
  Keys keys = KeysOf("pool-a");
  auto pool = Pool::Open(pool_dir(), keys.provider.get(), Options());
  REQUIRE(pool.ok());
  REQUIRE(ReadAll(**pool, kLsu, "img1").bytes == img1);  // the keys are unwrapped now

  REQUIRE(kms_.Stop() == 0);
  const Read cached = ReadAll(**pool, kLsu, "img1");
  INFO(cached.status);
  CHECK(cached.status.ok());
  CHECK(cached.bytes == img1);
  const absl::Status wrote = Write(**pool, kLsu, "img2", img2);  // new DEKs under a held KEK
  INFO(wrote);
  REQUIRE(wrote.ok());
  CHECK(ReadAll(**pool, kLsu, "img2").bytes == img2);

  // Another process of the same pool, with nothing unwrapped: it opens (keys are unwrapped on
  // first use), and a read is a clear Unavailable with no byte handed out.
  pool->reset();
  Keys cold = KeysOf("pool-a");
  auto reopened = Pool::Open(pool_dir(), cold.provider.get(), Options());
  INFO(reopened.status());
  REQUIRE(reopened.ok());
  const Read down = ReadAll(**reopened, kLsu, "img2");
  INFO(down.status);
  CHECK((down.status.code() == StatusCode::kUnavailable ||
         down.status.code() == StatusCode::kDeadlineExceeded));
  CHECK(down.bytes.empty());

  kms_.Start();  // the same key store: the same root keys
  const Read up = ReadAll(**reopened, kLsu, "img2");
  INFO(up.status);
  REQUIRE(up.status.ok());
  CHECK(up.bytes == img2);
  CHECK(ReadAll(**reopened, kLsu, "img1").bytes == img1);
}

TEST_CASE_METHOD(PoolKeysFixture,
                 "a root key rotated in sealkmsd: the pool re-wraps its keys and no longer needs "
                 "the old one",
                 "[daemon][pool_keys][e2e]") {
  const std::string rk1 = kms_.CreateActiveGroup(kGroup);
  const std::vector<uint8_t> img1 = PseudoRandomBytes(2 << 20, 4);
  Keys keys = KeysOf("pool-a");
  std::unique_ptr<Pool> pool = NewPool(keys, img1);

  const std::string rk2 = kms_.CreateKey(kGroup);
  REQUIRE(kms_.SetState(rk2, kms::v1::KEY_STATE_ACTIVE).ok());  // rk1 turns inactive
  // sealkmsd has the pool's fingerprint key and KEK registered under rk1: it stays.
  CHECK(kms_.SetState(rk1, kms::v1::KEY_STATE_DEPRECATED).code() ==
        StatusCode::kFailedPrecondition);
  auto rewrapped = pool->RewrapGroupKeys(kGroup);
  INFO(rewrapped.status());
  REQUIRE(rewrapped.ok());
  CHECK(*rewrapped > 0);
  CHECK(KekRootKeys(*pool, kGroup) == std::set<std::string>{rk2});

  // The pool's Reconcile (what sealpoold does at start and after a re-wrap) agrees: every key
  // it holds is under rk2, nothing needs re-wrapping.
  auto held = pool->ListWrappedKeys(kGroup);
  REQUIRE(held.ok());
  std::vector<kms::KekUsageEntry> usage;
  for (const storage::WrappedKeyRef& ref : *held) {
    CHECK(ref.root_key_id == rk2);
    usage.push_back({ref.key_id, ref.root_key_id});
  }
  CHECK(usage.front().kek_id == "fpk");
  auto reconciled = keys.client->Reconcile(kGroup, usage);
  INFO(reconciled.status());
  REQUIRE(reconciled.ok());
  CHECK(reconciled->usages.size() == usage.size());
  for (const auto& u : reconciled->usages) CHECK(!u.rewrap_needed);
  // Each re-wrap registered its key under rk2 in sealkmsd, so rk1 wraps nothing registered
  // any more and may be deprecated (before the re-wrap it was refused, above).
  const absl::Status deprecated = kms_.SetState(rk1, kms::v1::KEY_STATE_DEPRECATED);
  INFO(deprecated);
  REQUIRE(deprecated.ok());
  pool.reset();

  // rk1 leaked: compromised, it unwraps nothing for the pool any more. The pool needs only rk2.
  REQUIRE(kms_.SetState(rk1, kms::v1::KEY_STATE_COMPROMISED).ok());
  Keys fresh = KeysOf("pool-a");
  auto reopened = Pool::Open(pool_dir(), fresh.provider.get(), Options());
  REQUIRE(reopened.ok());
  const Read back = ReadAll(**reopened, kLsu, "img1");
  INFO(back.status);
  REQUIRE(back.status.ok());
  CHECK(back.bytes == img1);
  auto verify = (*reopened)->Verify();
  REQUIRE(verify.ok());
  CHECK(verify->ok());
}

TEST_CASE_METHOD(PoolKeysFixture,
                 "another pool's identity, or a blob under another root key than recorded, "
                 "unwraps nothing",
                 "[daemon][pool_keys][e2e]") {
  kms_.CreateActiveGroup(kGroup);
  kms_.CreateActiveGroup(kShared);
  const std::vector<uint8_t> img1 = PseudoRandomBytes(1 << 20, 5);
  {
    Keys keys = KeysOf("pool-a");
    auto pool = NewPool(keys, img1);
    REQUIRE(pool->CreateKeyGroup(kShared).ok());
    REQUIRE(pool->CreateLsu("lsu-shared", kShared, storage::LsuOptions{.allow_client_delete = true}).ok());
    REQUIRE(Write(*pool, "lsu-shared", "img1", img1).ok());
  }
  // pool-b's identity opening pool-a's directory: kg-a is not pool-b's, and kg-shared's keys
  // are bound to pool-a. No byte comes out either way.
  Keys other = KeysOf("pool-b");
  {
    auto pool = Pool::Open(pool_dir(), other.provider.get(), Options());
    REQUIRE(pool.ok());
    const Read a = ReadAll(**pool, kLsu, "img1");
    INFO("kg-a: " << a.status);
    CHECK(a.status.code() == StatusCode::kPermissionDenied);
    CHECK(a.bytes.empty());
    const Read shared = ReadAll(**pool, "lsu-shared", "img1");
    INFO("kg-shared: " << shared.status);
    CHECK(shared.status.code() == StatusCode::kDataLoss);
    CHECK(shared.bytes.empty());
  }

  // A blob whose recorded root key id was altered: refused before any call to sealkmsd.
  Keys keys = KeysOf("pool-a");
  const std::vector<uint8_t> secret = PseudoRandomBytes(32, 6);
  auto wrapped = keys.provider->Wrap(kGroup, "kek-test", secret);
  REQUIRE(wrapped.ok());
  REQUIRE(kms::WrappedKey::Decode(wrapped->blob)->root_key_id == wrapped->root_key_id);
  auto good = keys.provider->Unwrap(kGroup, "kek-test", *wrapped);
  REQUIRE(good.ok());
  CHECK(Vec(*good) == secret);
  storage::WrappedKey altered = *wrapped;
  altered.root_key_id = "rk-someone-else";
  auto bad = keys.provider->Unwrap(kGroup, "kek-test", altered);
  CHECK(bad.status().code() == StatusCode::kDataLoss);
  CHECK_THAT(std::string(bad.status().message()), Catch::Contains("rk-someone-else"));
  CHECK(keys.provider->UnwrapForRewrap(kGroup, "kek-test", altered).status().code() ==
        StatusCode::kDataLoss);
  // A blob cut short, emptied or grown: refused, and the good one still opens.
  for (size_t keep : {size_t{0}, size_t{1}, wrapped->blob.size() / 2, wrapped->blob.size() - 1}) {
    storage::WrappedKey cut = *wrapped;
    cut.blob.resize(keep);
    INFO("blob cut to " << keep << " bytes");
    const absl::StatusCode got = keys.provider->Unwrap(kGroup, "kek-test", cut).status().code();
    CHECK((got == StatusCode::kDataLoss || got == StatusCode::kInvalidArgument));
  }
  storage::WrappedKey grown = *wrapped;
  grown.blob.push_back(0);
  const absl::StatusCode got = keys.provider->Unwrap(kGroup, "kek-test", grown).status().code();
  CHECK((got == StatusCode::kDataLoss || got == StatusCode::kInvalidArgument));
  CHECK(keys.provider->Unwrap(kGroup, "kek-test", *wrapped).ok());
  auto active = keys.provider->ActiveRootKeyId(kGroup);
  REQUIRE(active.ok());
  CHECK(*active == wrapped->root_key_id);
}

TEST_CASE_METHOD(PoolKeysFixture,
                 "a pool's key group moves from the built-in store to KMIP: the pool re-wraps "
                 "and reads everything without the old key",
                 "[daemon][pool_keys][kmip][pykmip][e2e]") {
  RequirePyKmip();
  PyKmipServer kmip;
  kmip.Start();
  const std::string builtin_key = kms_.CreateActiveGroup(kGroup);
  const std::vector<uint8_t> img1 = PseudoRandomBytes(2 << 20, 7);
  {
    Keys keys = KeysOf("pool-a");
    NewPool(keys, img1);
  }

  // The move (docs/kms.md "Moving a key group from the built-in store to KMIP"): kg-a listed
  // under [kmip], its KMIP side created, a KMIP root key activated.
  REQUIRE(kms_.Stop() == 0);
  std::ostringstream c;
  c << "[kmip]\nserver = \"127.0.0.1:" << kmip.port() << "\"\n"
    << "ca = \"" << (kmip.dir() / "ca.crt").string() << "\"\n"
    << "cert = \"" << (kmip.dir() / "sealkmsd.crt").string() << "\"\n"
    << "key = \"" << (kmip.dir() / "sealkmsd.key").string() << "\"\n"
    << "state = \"kmip-state\"\ntimeout_seconds = 5\nkey_groups = [\"" << kGroup << "\"]\n";
  kms_.SetExtraConfig(c.str());
  std::string out;
  const int init =
      RunCommand({SEALKMSD_PATH, "--config", kms_.config_path().string(), "--init-store"}, &out);
  INFO(out);
  REQUIRE(init == 0);
  kms_.Start();
  const std::string kmip_key = kms_.CreateActiveGroup(kGroup);
  REQUIRE(kmip_key.rfind("kmip-", 0) == 0);

  Keys keys = KeysOf("pool-a");
  auto pool = Pool::Open(pool_dir(), keys.provider.get(), Options());
  REQUIRE(pool.ok());
  CHECK(KekRootKeys(**pool, kGroup) == std::set<std::string>{builtin_key});
  CHECK(ReadAll(**pool, kLsu, "img1").bytes == img1);  // the built-in key, inactive, unwraps
  auto rewrapped = (*pool)->RewrapGroupKeys(kGroup);
  INFO(rewrapped.status());
  REQUIRE(rewrapped.ok());
  CHECK(*rewrapped > 0);
  CHECK(KekRootKeys(**pool, kGroup) == std::set<std::string>{kmip_key});
  const std::vector<uint8_t> img2 = PseudoRandomBytes(1 << 20, 8);
  REQUIRE(Write(**pool, kLsu, "img2", img2).ok());
  pool->reset();

  // The built-in key leaked: compromised, it unwraps nothing for the pool, which needs only
  // the KMIP key now (every unwrap below is a KMIP Decrypt: the cache is empty).
  REQUIRE(kms_.SetState(builtin_key, kms::v1::KEY_STATE_COMPROMISED).ok());
  Keys fresh = KeysOf("pool-a");
  auto reopened = Pool::Open(pool_dir(), fresh.provider.get(), Options());
  REQUIRE(reopened.ok());
  for (auto [name, bytes] : {std::pair{"img1", &img1}, std::pair{"img2", &img2}}) {
    const Read back = ReadAll(**reopened, kLsu, name);
    INFO(name << ": " << back.status);
    REQUIRE(back.status.ok());
    CHECK(back.bytes == *bytes);
  }
  auto verify = (*reopened)->Verify();
  REQUIRE(verify.ok());
  CHECK(verify->ok());
  reopened->reset();
  fresh = {};
  keys = {};
  REQUIRE(kms_.Stop() == 0);  // before PyKMIP, which waits for connected clients
}

}  // namespace
}  // namespace sealpool::test
