// InProcessRootKeyProvider, and through it the RootKeyProvider contract (root_key_provider.h is
// header-only): wrap/unwrap, binding to (pool, group, key id), root key states, tampering,
// the outage switch and the counters.
#include "storage/keydict/in_process_root_key_provider.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "storage/keydict/root_key_provider.h"

namespace sealpool::storage {
namespace {

#define REQUIRE_OK(expr)                        \
  do {                                          \
    const absl::Status status_ = (expr);        \
    INFO(status_.ToString());                   \
    REQUIRE(status_.ok());                      \
  } while (false)

std::vector<uint8_t> Secret(uint8_t seed, size_t n = 32) {
  std::vector<uint8_t> s(n);
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<uint8_t>(seed + i);
  return s;
}

bool SameBytes(const crypto::SecretBytes& a, const std::vector<uint8_t>& b) {
  return std::ranges::equal(a.span(), b);
}

// Exercised through the interface, as the store uses it.
absl::StatusOr<WrappedKey> WrapVia(RootKeyProvider& p, std::string_view group,
                                   std::string_view id, const std::vector<uint8_t>& secret) {
  return p.Wrap(group, id, secret);
}

TEST_CASE("in-process provider: wrap and unwrap round trip under the active root key") {
  InProcessRootKeyProvider provider("pool-1");
  const std::string rk = provider.AddRootKey("g");
  REQUIRE_OK(provider.Activate(rk));
  auto active = provider.ActiveRootKeyId("g");
  REQUIRE(active.ok());
  CHECK(*active == rk);

  for (size_t n : {size_t{16}, size_t{32}, size_t{64}}) {
    const std::vector<uint8_t> secret = Secret(7, n);
    auto wrapped = WrapVia(provider, "g", "kek-1", secret);
    REQUIRE(wrapped.ok());
    CHECK(wrapped->root_key_id == rk);
    // "SPWK", version, backend, idlen, id, nonce, tag, ctlen, ciphertext
    CHECK(wrapped->blob.size() == 4 + 1 + 1 + 1 + rk.size() + 12 + 16 + 1 + n);
    const std::vector<uint8_t> head(wrapped->blob.begin(), wrapped->blob.begin() + 7);
    CHECK(head == std::vector<uint8_t>{0x53, 0x50, 0x57, 0x4b, 0x01, 0x80,
                                       static_cast<uint8_t>(rk.size())});
    CHECK(std::string(wrapped->blob.begin() + 7, wrapped->blob.begin() + 7 +
                      static_cast<std::ptrdiff_t>(rk.size())) == rk);
    CHECK(wrapped->blob[7 + rk.size() + 12 + 16] == n);
    CHECK_FALSE(std::search(wrapped->blob.begin(), wrapped->blob.end(), secret.begin(),
                            secret.end()) != wrapped->blob.end());
    auto unwrapped = provider.Unwrap("g", "kek-1", *wrapped);
    REQUIRE(unwrapped.ok());
    CHECK(SameBytes(*unwrapped, secret));
    auto for_rewrap = provider.UnwrapForRewrap("g", "kek-1", *wrapped);
    REQUIRE(for_rewrap.ok());
    CHECK(SameBytes(*for_rewrap, secret));
  }
  // Two wraps of one secret differ (fresh nonce).
  auto a = provider.Wrap("g", "k", Secret(1));
  auto b = provider.Wrap("g", "k", Secret(1));
  REQUIRE((a.ok() && b.ok()));
  CHECK(a->blob != b->blob);
}

TEST_CASE("in-process provider: secrets outside 16..64 bytes are refused") {
  InProcessRootKeyProvider provider("pool-1");
  REQUIRE_OK(provider.Activate(provider.AddRootKey("g")));
  CHECK(absl::IsInvalidArgument(provider.Wrap("g", "k", Secret(1, 15)).status()));
  CHECK(absl::IsInvalidArgument(provider.Wrap("g", "k", Secret(1, 65)).status()));
  CHECK(absl::IsInvalidArgument(provider.Wrap("g", "k", {}).status()));
}

TEST_CASE("in-process provider: a group without an active root key wraps nothing") {
  InProcessRootKeyProvider provider("pool-1");
  CHECK(absl::IsFailedPrecondition(provider.Wrap("none", "k", Secret(1)).status()));
  provider.AddRootKey("g");  // prelive only
  auto status = provider.Wrap("g", "k", Secret(1)).status();
  CHECK(absl::IsFailedPrecondition(status));
  CHECK(std::string(status.message()).find("no active root key") != std::string::npos);
  auto active = provider.ActiveRootKeyId("g");
  REQUIRE(active.ok());
  CHECK(active->empty());
}

TEST_CASE("in-process provider: a wrap is bound to its pool, group and key id") {
  InProcessRootKeyProvider provider("pool-1");
  REQUIRE_OK(provider.Activate(provider.AddRootKey("g")));
  REQUIRE_OK(provider.Activate(provider.AddRootKey("h")));
  auto wrapped = provider.Wrap("g", "kek-1", Secret(3));
  REQUIRE(wrapped.ok());
  CHECK(absl::IsDataLoss(provider.Unwrap("g", "kek-2", *wrapped).status()));
  CHECK(absl::IsDataLoss(provider.Unwrap("g", "fpk", *wrapped).status()));
  CHECK(absl::IsDataLoss(provider.Unwrap("h", "kek-1", *wrapped).status()));
  CHECK(absl::IsDataLoss(provider.UnwrapForRewrap("h", "kek-1", *wrapped).status()));
  // Another provider (another pool) does not know the root key.
  InProcessRootKeyProvider other("pool-2");
  CHECK(absl::IsNotFound(other.Unwrap("g", "kek-1", *wrapped).status()));
  // The record's root key id must match the blob's.
  WrappedKey relabelled = *wrapped;
  relabelled.root_key_id = "rk-99";
  CHECK(absl::IsDataLoss(provider.Unwrap("g", "kek-1", relabelled).status()));
}

TEST_CASE("in-process provider: every damaged blob is DataLoss") {
  InProcessRootKeyProvider provider("pool-1");
  REQUIRE_OK(provider.Activate(provider.AddRootKey("g")));
  auto wrapped = provider.Wrap("g", "kek-1", Secret(9));
  REQUIRE(wrapped.ok());
  for (size_t i = 0; i < wrapped->blob.size(); ++i) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}}) {
      WrappedKey bad = *wrapped;
      bad.blob[i] = static_cast<uint8_t>(bad.blob[i] ^ mask);
      INFO("byte " << i << " mask " << int{mask});
      CHECK(absl::IsDataLoss(provider.Unwrap("g", "kek-1", bad).status()));
    }
  }
  for (size_t n = 0; n < wrapped->blob.size(); ++n) {
    WrappedKey bad = *wrapped;
    bad.blob.resize(n);
    INFO("truncated to " << n);
    CHECK(absl::IsDataLoss(provider.Unwrap("g", "kek-1", bad).status()));
  }
  WrappedKey longer = *wrapped;
  longer.blob.push_back(0);
  CHECK(absl::IsDataLoss(provider.Unwrap("g", "kek-1", longer).status()));
}

TEST_CASE("in-process provider: the magic-less blob of earlier versions is refused, not migrated") {
  InProcessRootKeyProvider provider("pool-1");
  const std::string rk = provider.AddRootKey("g");
  REQUIRE_OK(provider.Activate(rk));
  REQUIRE(rk == "rk-1");
  // 01 | 04 | "rk-1" | nonce 12 | tag 16 | 0x20 | ct 32: the 67-byte layout without magic.
  WrappedKey old;
  old.root_key_id = rk;
  old.blob = {0x01, 0x04, 'r', 'k', '-', '1'};
  old.blob.resize(old.blob.size() + 12 + 16, 0xAB);
  old.blob.push_back(0x20);
  old.blob.resize(old.blob.size() + 32, 0xCD);
  REQUIRE(old.blob.size() == 67);
  const absl::Status s = provider.Unwrap("g", "kek-1", old).status();
  CHECK(absl::IsFailedPrecondition(s));
  CHECK(std::string(s.message()).find("SPWK") != std::string::npos);
  CHECK(absl::IsFailedPrecondition(provider.UnwrapForRewrap("g", "kek-1", old).status()));
}

TEST_CASE("in-process provider: root key states") {
  InProcessRootKeyProvider provider("pool-1");
  const std::string rk1 = provider.AddRootKey("g");
  const std::string rk2 = provider.AddRootKey("g");
  CHECK(rk1 != rk2);
  CHECK(*provider.State(rk1) == InProcessRootKeyState::kPrelive);
  REQUIRE_OK(provider.Activate(rk1));
  auto under1 = provider.Wrap("g", "kek-1", Secret(1));
  REQUIRE(under1.ok());

  SECTION("activating another key makes the previous one inactive; it still unwraps") {
    REQUIRE_OK(provider.Activate(rk2));
    CHECK(*provider.State(rk1) == InProcessRootKeyState::kInactive);
    CHECK(*provider.ActiveRootKeyId("g") == rk2);
    auto under2 = provider.Wrap("g", "kek-2", Secret(2));
    REQUIRE(under2.ok());
    CHECK(under2->root_key_id == rk2);
    CHECK(provider.Unwrap("g", "kek-1", *under1).ok());
    // Reactivation.
    REQUIRE_OK(provider.Activate(rk1));
    CHECK(*provider.State(rk2) == InProcessRootKeyState::kInactive);
  }
  SECTION("a compromised key unwraps only to re-wrap, and is no longer active") {
    REQUIRE_OK(provider.SetCompromised(rk1));
    auto status = provider.Unwrap("g", "kek-1", *under1).status();
    CHECK(absl::IsFailedPrecondition(status));
    CHECK(std::string(status.message()).find("compromised") != std::string::npos);
    auto rewrap = provider.UnwrapForRewrap("g", "kek-1", *under1);
    REQUIRE(rewrap.ok());
    CHECK(SameBytes(*rewrap, Secret(1)));
    CHECK(provider.ActiveRootKeyId("g")->empty());
    CHECK(absl::IsFailedPrecondition(provider.Wrap("g", "k", Secret(1)).status()));
    CHECK(absl::IsFailedPrecondition(provider.Activate(rk1)));
  }
  SECTION("a destroyed key unwraps nothing, not even to re-wrap") {
    REQUIRE_OK(provider.Destroy(rk1));
    CHECK(absl::IsNotFound(provider.Unwrap("g", "kek-1", *under1).status()));
    CHECK(absl::IsNotFound(provider.UnwrapForRewrap("g", "kek-1", *under1).status()));
    CHECK(provider.ActiveRootKeyId("g")->empty());
    CHECK(absl::IsNotFound(provider.Activate(rk1)));
    CHECK(absl::IsNotFound(provider.SetCompromised(rk1)));
  }
  SECTION("unknown ids") {
    CHECK(absl::IsNotFound(provider.Activate("rk-404")));
    CHECK(absl::IsNotFound(provider.SetCompromised("rk-404")));
    CHECK(absl::IsNotFound(provider.Destroy("rk-404")));
    CHECK(absl::IsNotFound(provider.State("rk-404").status()));
  }
}

TEST_CASE("in-process provider: outage switch, FailAfter and call counters") {
  InProcessRootKeyProvider provider("pool-1");
  REQUIRE_OK(provider.Activate(provider.AddRootKey("g")));
  auto wrapped = provider.Wrap("g", "kek-1", Secret(1));
  REQUIRE(wrapped.ok());
  CHECK(provider.wrap_calls() == 1);

  provider.SetAvailable(false);
  CHECK(absl::IsUnavailable(provider.Wrap("g", "k", Secret(1)).status()));
  CHECK(absl::IsUnavailable(provider.Unwrap("g", "kek-1", *wrapped).status()));
  CHECK(absl::IsUnavailable(provider.UnwrapForRewrap("g", "kek-1", *wrapped).status()));
  CHECK(absl::IsUnavailable(provider.ActiveRootKeyId("g").status()));
  // Admin calls still work.
  const std::string rk2 = provider.AddRootKey("g");
  REQUIRE_OK(provider.Activate(rk2));
  CHECK(provider.wrap_calls() == 2);
  CHECK(provider.unwrap_calls() == 1);
  CHECK(provider.rewrap_unwrap_calls() == 1);
  CHECK(provider.active_root_key_calls() == 1);

  provider.SetAvailable(true);
  CHECK(provider.Unwrap("g", "kek-1", *wrapped).ok());
  provider.FailAfter(2);
  CHECK(provider.Unwrap("g", "kek-1", *wrapped).ok());
  CHECK(provider.ActiveRootKeyId("g").ok());
  CHECK(absl::IsUnavailable(provider.Unwrap("g", "kek-1", *wrapped).status()));
  CHECK(absl::IsUnavailable(provider.Wrap("g", "k", Secret(1)).status()));
  provider.SetAvailable(true);
  CHECK(provider.Wrap("g", "k", Secret(1)).ok());
}

TEST_CASE("in-process provider: concurrent wraps, unwraps and activations") {
  InProcessRootKeyProvider provider("pool-1");
  REQUIRE_OK(provider.Activate(provider.AddRootKey("g")));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::vector<uint8_t> secret = Secret(static_cast<uint8_t>(t * 16 + i));
        auto w = provider.Wrap("g", "kek-1", secret);
        if (!w.ok()) {
          ++failures;
          continue;
        }
        auto u = provider.Unwrap("g", "kek-1", *w);
        if (!u.ok() || !SameBytes(*u, secret)) ++failures;
        if (t == 0 && i % 50 == 0) {
          if (!provider.Activate(provider.AddRootKey("g")).ok()) ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures.load() == 0);
  CHECK(provider.wrap_calls() == 800);
}

}  // namespace
}  // namespace sealpool::storage
