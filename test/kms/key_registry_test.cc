// The usage registry's public-key pins (kek_mode "public", issue 17): the first registration
// of a KEK pair's public-key hash pins it; a later one with another hash is refused and
// changes nothing; reconcile reports the pin and drops it with the KEK; the pins survive the
// key store payload (version 2; version 1 reads without pins) and the KMIP state file
// (version 3).
#include "kms/key_registry.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "crypto/keys.h"
#include "kms/key_store_format.h"
#include "kms/kmip_state_file.h"

namespace sealpool::kms {
namespace {

const std::string kHashA(64, 'a');
const std::string kHashB = std::string(63, 'a') + "b";

KeyStoreContents Contents() {
  KeyStoreContents c;
  REQUIRE(AddGroup(c, "kg").ok());
  c.keys["rk-1"] = StoredRootKey{"rk-1", "kg", RootKeyState::kActive, 1, 1, nullptr};
  return c;
}

TEST_CASE("a KEK pair's public-key hash is pinned at its first registration", "[kms][pin]") {
  KeyStoreContents c = Contents();
  const std::vector<KekUsageEntry> first = {{"fpk", "rk-1", ""}, {"kek-1", "rk-1", kHashA}};
  REQUIRE(AddUsages(c, "pool-a", "kg", first).ok());
  CHECK(c.pins.at(UsageKey("pool-a", "kg", "kek-1")) == kHashA);
  CHECK_FALSE(c.pins.contains(UsageKey("pool-a", "kg", "fpk")));
  // The same hash again, or none: fine, the pin stays.
  REQUIRE(AddUsages(c, "pool-a", "kg", first).ok());
  REQUIRE(AddUsages(c, "pool-a", "kg", std::vector<KekUsageEntry>{{"kek-1", "rk-1", ""}}).ok());
  CHECK(c.pins.at(UsageKey("pool-a", "kg", "kek-1")) == kHashA);

  // Another hash: refused, nothing changes.
  const KeyStoreContents before = c;
  absl::Status s =
      AddUsages(c, "pool-a", "kg", std::vector<KekUsageEntry>{{"kek-1", "rk-1", kHashB}});
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(s.message().find("substituted") != std::string_view::npos);
  CHECK(c.pins == before.pins);
  CHECK(c.usage == before.usage);
  absl::StatusOr<ReconcileResult> r =
      ReconcileUsages(c, "pool-a", "kg", std::vector<KekUsageEntry>{{"kek-1", "rk-1", kHashB}});
  CHECK(r.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(c.usage == before.usage);  // fpk still registered: the reconcile did nothing

  // Pins are per pool: another pool's kek-1 has its own.
  REQUIRE(AddUsages(c, "pool-b", "kg", std::vector<KekUsageEntry>{{"kek-1", "rk-1", kHashB}}).ok());
  CHECK(c.pins.at(UsageKey("pool-b", "kg", "kek-1")) == kHashB);

  // Listing shows the pin.
  bool listed = false;
  for (const UsageView& u : ListUsages(c, "kg", "")) {
    if (u.pool_id == "pool-a" && u.kek_id == "kek-1") {
      CHECK(u.public_key_sha256 == kHashA);
      listed = true;
    }
  }
  CHECK(listed);
}

TEST_CASE("reconcile reports the pin and drops it with its KEK", "[kms][pin]") {
  KeyStoreContents c = Contents();
  auto r = ReconcileUsages(c, "pool-a", "kg",
                           std::vector<KekUsageEntry>{{"kek-1", "rk-1", kHashA},
                                                      {"kek-2", "rk-1", kHashB}});
  REQUIRE(r.ok());
  REQUIRE(r->usages.size() == 2);
  CHECK(r->usages[0].public_key_sha256 == kHashA);
  CHECK(r->usages[1].public_key_sha256 == kHashB);
  // A reconcile without the hash still reports the pin (the pool compares it).
  r = ReconcileUsages(c, "pool-a", "kg",
                      std::vector<KekUsageEntry>{{"kek-1", "rk-1", ""}, {"kek-2", "rk-1", ""}});
  REQUIRE(r.ok());
  CHECK(r->usages[0].public_key_sha256 == kHashA);
  // kek-1 purged: its pin goes; a new kek-1 later could pin anew.
  r = ReconcileUsages(c, "pool-a", "kg", std::vector<KekUsageEntry>{{"kek-2", "rk-1", kHashB}});
  REQUIRE(r.ok());
  CHECK(r->removed == 1);
  CHECK_FALSE(c.pins.contains(UsageKey("pool-a", "kg", "kek-1")));
  CHECK(c.pins.contains(UsageKey("pool-a", "kg", "kek-2")));
  // Orphans (after registrations were dropped some other way) go too.
  c.usage.clear();
  DropOrphanPins(c);
  CHECK(c.pins.empty());
}

TEST_CASE("public-key hashes must be empty or 64 lower-case hex digits", "[kms][pin]") {
  CHECK(ValidatePublicKeyHash("").ok());
  CHECK(ValidatePublicKeyHash(kHashA).ok());
  for (const std::string& bad : {std::string(63, 'a'), std::string(65, 'a'), std::string(64, 'A'),
                                 std::string(64, 'g'), std::string(63, 'a') + " "}) {
    CHECK(ValidatePublicKeyHash(bad).code() == absl::StatusCode::kInvalidArgument);
  }
  KeyStoreContents c = Contents();
  CHECK(AddUsages(c, "pool-a", "kg", std::vector<KekUsageEntry>{{"kek-1", "rk-1", "xyz"}})
            .code() == absl::StatusCode::kInvalidArgument);
  CHECK(c.usage.empty());
}

TEST_CASE("pins survive the key store payload, version 1 payloads read without them",
          "[kms][pin]") {
  KeyStoreContents c = Contents();
  auto material = crypto::RootKey::Generate();  // the built-in store keeps live keys' material
  REQUIRE(material.ok());
  c.keys["rk-1"].material = std::make_shared<const crypto::RootKey>(*std::move(material));
  REQUIRE(AddUsages(c, "pool-a", "kg", std::vector<KekUsageEntry>{{"kek-1", "rk-1", kHashB}}).ok());
  auto payload = EncodeKeyStorePayload(c);
  REQUIRE(payload.ok());
  auto back = DecodeKeyStorePayload(payload->span());
  REQUIRE(back.ok());
  CHECK(back->pins == c.pins);
  // The pin section is the last 4 + (2+6 + 2+2 + 2+5) + 32 bytes; without it, it reads as v1.
  const size_t pin_section = 4 + 8 + 4 + 7 + 32;
  auto v1 = DecodeKeyStorePayload(payload->span().first(payload->size() - pin_section),
                                  kKeyStoreVersionWithoutPins);
  REQUIRE(v1.ok());
  CHECK(v1->pins.empty());
  CHECK(v1->usage == c.usage);
  // ...but as version 2 it is truncated.
  CHECK(DecodeKeyStorePayload(payload->span().first(payload->size() - pin_section)).status().code() ==
        absl::StatusCode::kDataLoss);
  // A pin without its usage entry is corrupt.
  KeyStoreContents orphan = c;
  orphan.pins[UsageKey("pool-z", "kg", "kek-9")] = kHashA;
  auto bad = EncodeKeyStorePayload(orphan);
  REQUIRE(bad.ok());
  auto decoded = DecodeKeyStorePayload(bad->span());
  CHECK(decoded.status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("pins survive the KMIP state file (version 3)", "[kms][pin][kmip]") {
  KeyStoreContents c = Contents();
  REQUIRE(AddUsages(c, "pool-a", "kg", std::vector<KekUsageEntry>{{"kek-1", "rk-1", kHashA}}).ok());
  const std::string text = KmipStateFile::Encode(c);
  CHECK(text.starts_with("sealpool-kmip-state 3\n"));
  CHECK(text.find("pin pool-a kg kek-1 " + kHashA + "\n") != std::string::npos);
  auto back = KmipStateFile::Decode(text);
  REQUIRE(back.ok());
  CHECK(back->pins == c.pins);
  KeyStoreContents orphan = c;
  orphan.pins[UsageKey("pool-z", "kg", "kek-9")] = kHashA;
  CHECK(KmipStateFile::Decode(KmipStateFile::Encode(orphan)).status().code() ==
        absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace sealpool::kms
