// Key dictionary records v1: pinned key and value bytes, round trips, and every way a record can
// be bad (truncation, trailing bytes, newer or zero version, bad kind or state, lengths out of
// bounds).
#include "storage/keydict/key_dictionary_format.h"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "test/test_util.h"

namespace sealpool::storage {
namespace {

std::string FromHex(std::string_view hex) {
  const std::vector<uint8_t> bytes = test::FromHex(hex);
  return std::string(bytes.begin(), bytes.end());
}

std::string ToHex(std::string_view s) {
  return test::ToHex(std::vector<uint8_t>(s.begin(), s.end()));
}

bool MessageHas(const absl::Status& status, std::string_view what) {
  return std::string(status.message()).find(what) != std::string::npos;
}

KekRecord GoldenKek() {
  KekRecord r;
  r.kek_id = 2;
  r.state = KekState::kInactive;
  r.created_unix_micros = 0x0102030405060708;
  r.dek_count = 4096;
  r.wrapped.root_key_id = "rk-1";
  r.wrapped.blob = {0xAA, 0xBB, 0xCC};
  return r;
}

FingerprintKeyRecord GoldenFpk() {
  FingerprintKeyRecord r;
  r.created_unix_micros = 1700000000123456;
  r.wrapped.root_key_id = "rk-1";
  r.wrapped.blob = {0x01, 0x02};
  return r;
}

// Version 1 on disk. If these fail, the format changed: that needs a new version, not a new
// golden value.
constexpr char kGoldenKekHex[] =
    "01"                // version 1
    "01"                // kind: KEK
    "02000000"          // KEK id 2
    "02"                // state: inactive
    "0807060504030201"  // created, unix microseconds
    "0010000000000000"  // dek_count 4096
    "0400" "726b2d31"   // root key id "rk-1"
    "0300" "aabbcc";    // wrapped blob
constexpr char kGoldenFpkHex[] =
    "01"                // version 1
    "02"                // kind: fingerprint key
    "40222018240a0600"  // created 1700000000123456
    "0400" "726b2d31"   // root key id "rk-1"
    "0200" "0102";      // wrapped blob

TEST_CASE("key dictionary format: record keys are pinned and sort by group, then KEK id") {
  CHECK(ToHex(KeyGroupRecordPrefix(0x01020304)) == "01020304");
  CHECK(ToHex(KekRecordKey(1, 2)) == "000000014b00000002");
  CHECK(ToHex(FingerprintKeyRecordKey(1)) == "0000000146");
  CHECK(KekRecordKey(1, 2) < KekRecordKey(1, 256));
  CHECK(KekRecordKey(1, 0xFFFFFFFF) < KekRecordKey(2, 0));
  CHECK(FingerprintKeyRecordKey(1) < KekRecordKey(1, 0));  // 'F' < 'K'
  CHECK(KekRecordKey(7, 9).starts_with(KeyGroupRecordPrefix(7)));
  CHECK(FingerprintKeyRecordKey(7).starts_with(KeyGroupRecordPrefix(7)));

  auto kek = DecodeKeyRecordKey(KekRecordKey(0xA0B0C0D0, 0x01020304));
  REQUIRE(kek.ok());
  CHECK(kek->group_no == 0xA0B0C0D0);
  CHECK(kek->kind == KeyRecordKind::kKek);
  CHECK(kek->kek_id == 0x01020304);
  auto fpk = DecodeKeyRecordKey(FingerprintKeyRecordKey(5));
  REQUIRE(fpk.ok());
  CHECK(fpk->group_no == 5);
  CHECK(fpk->kind == KeyRecordKind::kFingerprintKey);

  CHECK(DescribeKeyRecordKey(KekRecordKey(1, 7)) == "KEK 7");
  CHECK(DescribeKeyRecordKey(FingerprintKeyRecordKey(1)) == "fingerprint key");
  CHECK(DescribeKeyRecordKey(FromHex("0000000158")) == "0x0000000158");
}

TEST_CASE("key dictionary format: malformed record keys are DataLoss") {
  for (const char* hex : {"", "00000001", "000000014b", "000000014b000000", "000000014b0000000200",
                          "000000014600", "0000000158", "0000000146000000"}) {
    INFO(hex);
    CHECK(absl::IsDataLoss(DecodeKeyRecordKey(FromHex(hex)).status()));
  }
}

TEST_CASE("key dictionary format: KEK record golden bytes and round trip") {
  auto encoded = GoldenKek().Encode();
  REQUIRE(encoded.ok());
  CHECK(ToHex(*encoded) == kGoldenKekHex);
  auto decoded = KekRecord::Decode(*encoded);
  REQUIRE(decoded.ok());
  CHECK(*decoded == GoldenKek());

  KekRecord big = GoldenKek();
  big.state = KekState::kActive;
  big.kek_id = 0xFFFFFFFF;
  big.dek_count = ~uint64_t{0};
  big.created_unix_micros = 0;
  big.wrapped.root_key_id = std::string(kMaxRootKeyIdLength, 'r');
  big.wrapped.blob.assign(kMaxWrappedBlobLength, 0x5A);
  auto big_encoded = big.Encode();
  REQUIRE(big_encoded.ok());
  auto big_decoded = KekRecord::Decode(*big_encoded);
  REQUIRE(big_decoded.ok());
  CHECK(*big_decoded == big);
}

TEST_CASE("key dictionary format: fingerprint key record golden bytes and round trip") {
  auto encoded = GoldenFpk().Encode();
  REQUIRE(encoded.ok());
  CHECK(ToHex(*encoded) == kGoldenFpkHex);
  auto decoded = FingerprintKeyRecord::Decode(*encoded);
  REQUIRE(decoded.ok());
  CHECK(*decoded == GoldenFpk());
}

TEST_CASE("key dictionary format: every truncation and any trailing byte is DataLoss") {
  const std::string kek = FromHex(kGoldenKekHex);
  const std::string fpk = FromHex(kGoldenFpkHex);
  for (size_t n = 0; n < kek.size(); ++n) {
    INFO("KEK record truncated to " << n);
    auto status = KekRecord::Decode(kek.substr(0, n)).status();
    CHECK(absl::IsDataLoss(status));
    CHECK(MessageHas(status, "KEK record"));
  }
  for (size_t n = 0; n < fpk.size(); ++n) {
    INFO("fingerprint key record truncated to " << n);
    auto status = FingerprintKeyRecord::Decode(fpk.substr(0, n)).status();
    CHECK(absl::IsDataLoss(status));
    CHECK(MessageHas(status, "fingerprint key record"));
  }
  auto status = KekRecord::Decode(kek + '\0').status();
  CHECK(absl::IsDataLoss(status));
  CHECK(MessageHas(status, "trailing"));
  CHECK(absl::IsDataLoss(FingerprintKeyRecord::Decode(fpk + "xy").status()));
}

TEST_CASE("key dictionary format: versions") {
  std::string kek = FromHex(kGoldenKekHex);
  std::string fpk = FromHex(kGoldenFpkHex);
  SECTION("a newer version is FailedPrecondition") {
    kek[0] = 4;  // versions 2 (KEK pair records) and 3 (batch records) exist; 4 does not yet
    fpk[0] = static_cast<char>(0xFF);
    auto status = KekRecord::Decode(kek).status();
    CHECK(absl::IsFailedPrecondition(status));
    CHECK(MessageHas(status, "newer sealpool"));
    CHECK(absl::IsFailedPrecondition(FingerprintKeyRecord::Decode(fpk).status()));
    // Even when the rest would not parse as version 1.
    CHECK(absl::IsFailedPrecondition(KekRecord::Decode(kek.substr(0, 1)).status()));
  }
  SECTION("version 0 is DataLoss") {
    kek[0] = 0;
    fpk[0] = 0;
    CHECK(absl::IsDataLoss(KekRecord::Decode(kek).status()));
    CHECK(absl::IsDataLoss(FingerprintKeyRecord::Decode(fpk).status()));
  }
}

TEST_CASE("key dictionary format: bad kinds, states and fields are DataLoss") {
  const std::string kek = FromHex(kGoldenKekHex);
  const std::string fpk = FromHex(kGoldenFpkHex);
  // A value of one kind decoded as the other.
  CHECK(absl::IsDataLoss(KekRecord::Decode(fpk).status()));
  CHECK(absl::IsDataLoss(FingerprintKeyRecord::Decode(kek).status()));
  for (int kind : {0, 3, 0xFF}) {
    std::string bad = kek;
    bad[1] = static_cast<char>(kind);
    CHECK(absl::IsDataLoss(KekRecord::Decode(bad).status()));
  }
  for (int state : {0, 3, 0xFF}) {
    INFO("state " << state);
    std::string bad = kek;
    bad[6] = static_cast<char>(state);
    auto status = KekRecord::Decode(bad).status();
    CHECK(absl::IsDataLoss(status));
    CHECK(MessageHas(status, "state"));
  }
  {  // negative creation time
    std::string bad = kek;
    bad[14] = static_cast<char>(0x80);
    CHECK(absl::IsDataLoss(KekRecord::Decode(bad).status()));
  }
}

TEST_CASE("key dictionary format: lengths out of bounds are DataLoss") {
  // KEK record: root key id length at offset 23, blob length after the id.
  auto with_lengths = [](uint16_t id_len, std::string id, uint16_t blob_len, std::string blob) {
    std::string v = FromHex("0101020000000208070605040302010010000000000000");
    v.push_back(static_cast<char>(id_len & 0xFF));
    v.push_back(static_cast<char>(id_len >> 8));
    v += id;
    v.push_back(static_cast<char>(blob_len & 0xFF));
    v.push_back(static_cast<char>(blob_len >> 8));
    v += blob;
    return v;
  };
  REQUIRE(KekRecord::Decode(with_lengths(4, "rk-1", 3, "abc")).ok());
  CHECK(absl::IsDataLoss(KekRecord::Decode(with_lengths(0, "", 3, "abc")).status()));
  CHECK(absl::IsDataLoss(KekRecord::Decode(with_lengths(4, "rk-1", 0, "")).status()));
  const std::string long_id(kMaxRootKeyIdLength + 1, 'r');
  auto status = KekRecord::Decode(with_lengths(static_cast<uint16_t>(long_id.size()), long_id, 3,
                                               "abc"))
                    .status();
  CHECK(absl::IsDataLoss(status));
  CHECK(MessageHas(status, "root key id length"));
  const std::string long_blob(kMaxWrappedBlobLength + 1, 'b');
  status = KekRecord::Decode(with_lengths(4, "rk-1", static_cast<uint16_t>(long_blob.size()),
                                          long_blob))
               .status();
  CHECK(absl::IsDataLoss(status));
  CHECK(MessageHas(status, "wrapped blob length"));
  // A length claiming more than there is.
  CHECK(absl::IsDataLoss(KekRecord::Decode(with_lengths(0xFFFF, "rk-1", 3, "abc")).status()));
  // A NUL inside the root key id.
  CHECK(absl::IsDataLoss(
      KekRecord::Decode(with_lengths(4, std::string("rk\0x", 4), 3, "abc")).status()));
}

TEST_CASE("key dictionary format: encoding refuses what it could not decode") {
  KekRecord kek = GoldenKek();
  kek.wrapped.root_key_id.clear();
  CHECK(absl::IsInvalidArgument(kek.Encode().status()));
  kek = GoldenKek();
  kek.wrapped.root_key_id = std::string(kMaxRootKeyIdLength + 1, 'r');
  CHECK(absl::IsInvalidArgument(kek.Encode().status()));
  kek = GoldenKek();
  kek.wrapped.blob.clear();
  CHECK(absl::IsInvalidArgument(kek.Encode().status()));
  kek = GoldenKek();
  kek.wrapped.blob.assign(kMaxWrappedBlobLength + 1, 0);
  CHECK(absl::IsInvalidArgument(kek.Encode().status()));
  kek = GoldenKek();
  kek.state = static_cast<KekState>(9);
  CHECK(absl::IsInvalidArgument(kek.Encode().status()));
  kek = GoldenKek();
  kek.created_unix_micros = -1;
  CHECK(absl::IsInvalidArgument(kek.Encode().status()));
  FingerprintKeyRecord fpk = GoldenFpk();
  fpk.wrapped.root_key_id = std::string("a\0b", 3);
  CHECK(absl::IsInvalidArgument(fpk.Encode().status()));
  fpk = GoldenFpk();
  fpk.created_unix_micros = -5;
  CHECK(absl::IsInvalidArgument(fpk.Encode().status()));
}

TEST_CASE("key dictionary format: state names") {
  CHECK(KekStateName(KekState::kActive) == "active");
  CHECK(KekStateName(KekState::kInactive) == "inactive");
}

}  // namespace
}  // namespace sealpool::storage
