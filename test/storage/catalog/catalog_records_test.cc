// Catalog records v1: round trips, pinned golden bytes, strict decoding, key order and names.
#include "storage/catalog/catalog_records.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "test/test_util.h"

namespace sealpool::storage {
namespace {

std::string Hex(std::string_view s) {
  return test::ToHex(std::vector<uint8_t>(s.begin(), s.end()));
}

std::string FromHex(std::string_view hex) {
  std::vector<uint8_t> bytes = test::FromHex(hex);
  return std::string(bytes.begin(), bytes.end());
}

template <size_t N>
std::array<uint8_t, N> Counting(uint8_t first) {
  std::array<uint8_t, N> a;
  for (size_t i = 0; i < N; ++i) a[i] = static_cast<uint8_t>(first + i);
  return a;
}

crypto::Fingerprint CountingFingerprint(uint8_t first) {
  return crypto::Fingerprint::FromArray(Counting<crypto::Fingerprint::kSize>(first));
}

// ---- The records whose encodings are pinned or round-tripped ---------------------------------

SegmentRecord GoldenSegment() {
  SegmentRecord r;
  r.container_id = 0x0102030405060708;
  r.offset = 0x1112131415161718;
  r.stored_length = 4096;
  r.record_length = static_cast<uint32_t>(kRecordHeaderSize) + r.stored_length;
  r.plaintext_length = 65536;
  r.compression = Compression::kZstd;
  r.kek_id = 0x21222324;
  r.wrapped_dek = Counting<crypto::kWrappedDekSize>(0x30);
  r.fingerprint = CountingFingerprint(0x60);
  return r;
}

ImageRecord GoldenImage() {
  ImageRecord r;
  r.image_id = 0x0102030405060708;
  r.lsu = "lsu1";
  r.name = "img";
  r.group_no = 2;
  r.size = 1 << 20;
  r.extent_count = 16;
  r.created_unix_micros = 1700000000123456;
  r.retain_until_unix_micros = 0;
  r.owner = "cn";
  r.labels = {{"a", "1"}, {"b", ""}};
  r.recipe_digest = Counting<kDigestSize>(0xA0);
  r.content_digest = Counting<kDigestSize>(0xC0);
  r.identity_digest = Counting<kDigestSize>(0xE0);
  return r;
}

PoolMeta SomePoolMeta() {
  PoolMeta m;
  m.pool_id = Counting<16>(0x10);
  m.created_unix_micros = 1700000000123456;
  return m;
}

KeyGroupRecord SomeKeyGroup() {
  KeyGroupRecord r;
  r.group_no = 3;
  r.name = "finance";
  r.group_id = Counting<16>(0x40);
  r.chunker_params = std::string(24, '\x07');
  r.kms_backend = "builtin";
  r.created_unix_micros = 42;
  return r;
}

LsuRecord SomeLsu() {
  LsuRecord r;
  r.name = "nightly";
  r.group_no = 3;
  r.allow_client_delete = false;
  r.created_unix_micros = 43;
  r.max_retention_micros = 86'400'000'000;
  return r;
}

DeleteJob SomeDeleteJob() {
  DeleteJob j;
  j.kind = DeleteJob::Kind::kReclaimSegment;
  j.group_no = 9;
  j.image_id = 10;
  j.next_offset = 11;
  j.segment_id = crypto::SegmentId(12);
  return j;
}

ContainerRecord SomeContainer() {
  ContainerRecord r;
  r.group_no = 5;
  r.state = ContainerRecord::State::kRetired;
  r.created_unix_micros = 44;
  return r;
}

// One encoded value of every record kind, with a decoder that reports only the status.
struct Kind {
  std::string name;
  std::string encoded;
  std::function<absl::Status(std::string_view)> decode;
};

template <typename T>
std::function<absl::Status(std::string_view)> StatusOf(absl::StatusOr<T> (*decode)(std::string_view)) {
  return [decode](std::string_view v) { return decode(v).status(); };
}

std::vector<Kind> AllKinds() {
  return {
      {"pool meta", EncodePoolMeta(SomePoolMeta()), StatusOf(&DecodePoolMeta)},
      {"key group", EncodeKeyGroup(SomeKeyGroup()), StatusOf(&DecodeKeyGroup)},
      {"lsu", EncodeLsu(SomeLsu()), StatusOf(&DecodeLsu)},
      {"segment", EncodeSegmentRecord(GoldenSegment()), StatusOf(&DecodeSegmentRecord)},
      {"image", EncodeImage(GoldenImage()), StatusOf(&DecodeImage)},
      {"recipe extent", EncodeRecipeExtent({crypto::SegmentId(77), 65536}),
       StatusOf(&DecodeRecipeExtent)},
      {"delete job", EncodeDeleteJob(SomeDeleteJob()), StatusOf(&DecodeDeleteJob)},
      {"container", EncodeContainer(SomeContainer()), StatusOf(&DecodeContainer)},
  };
}

// Version 1 on disk. If one of these fails, the format changed: that needs a new record
// version, not a new golden value.
constexpr char kGoldenSegmentHex[] =
    "01"                                                                // record version 1
    "0807060504030201"                                                  // container id
    "1817161514131211"                                                  // offset
    "64100000"                                                          // record length 4196
    "00000100"                                                          // plaintext length 65536
    "00100000"                                                          // stored length 4096
    "01"                                                                // compression: zstd
    "24232221"                                                          // KEK id
    "303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f"  // wrapped DEK (40)
    "5051525354555657"                                                  //
    "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f";  // fingerprint
constexpr char kGoldenImageHex[] =
    "01"                                                                // record version 1
    "0807060504030201"                                                  // image id
    "0400" "6c737531"                                                   // LSU "lsu1"
    "0300" "696d67"                                                     // name "img"
    "02000000"                                                          // group 2
    "0000100000000000"                                                  // size 1 MiB
    "1000000000000000"                                                  // 16 extents
    "40222018240a0600"                                                  // created
    "0000000000000000"                                                  // no retention
    "0200" "636e"                                                       // owner "cn"
    "0200"                                                              // 2 labels
    "0100" "61" "0100" "31"                                             // "a" = "1"
    "0100" "62" "0000"                                                  // "b" = ""
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"  // recipe digest
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"   // content digest
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";  // identity digest

// What the identity digest is computed over (docs/format.md "Image digests (version 2)").
constexpr char kGoldenImageIdentityHex[] =
    "0200000000000000"                                                  // digest version 2
    "0807060504030201"                                                  // image id
    "0400000000000000" "6c737531"                                       // LSU "lsu1"
    "0300000000000000" "696d67"                                         // name "img"
    "0200000000000000" "636e"                                           // owner "cn"
    "0200000000000000"                                                  // group 2
    "0000100000000000"                                                  // size 1 MiB
    "1000000000000000"                                                  // 16 extents
    "40222018240a0600"                                                  // created
    "0000000000000000"                                                  // no retention
    "0200000000000000"                                                  // 2 labels
    "0100000000000000" "61" "0100000000000000" "31"                     // "a" = "1"
    "0100000000000000" "62" "0000000000000000"                          // "b" = ""
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"  // recipe digest
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf";  // content digest

TEST_CASE("a batched segment record (catalog format 4) encodes to the pinned version 2 bytes",
          "[storage][catalog_records]") {
  SegmentRecord batched = GoldenSegment();
  batched.batch_id = 0x4142434445464748;
  const std::string golden = std::string("02") + (kGoldenSegmentHex + 2) + "4847464544434241";
  const std::string bytes = EncodeSegmentRecord(batched);
  CHECK(bytes.size() == 114);
  CHECK(Hex(bytes) == golden);
  auto decoded = DecodeSegmentRecord(FromHex(golden));
  REQUIRE(decoded.ok());
  CHECK(*decoded == batched);
  // batch_id 0 keeps the version-1 bytes: symmetric records are unchanged.
  CHECK(Hex(EncodeSegmentRecord(GoldenSegment())) == kGoldenSegmentHex);
  // Malformed, truncated, oversized, hostile.
  const std::string good = FromHex(golden);
  for (size_t n = 0; n < good.size(); ++n) {
    INFO("truncated to " << n);
    CHECK(absl::IsDataLoss(DecodeSegmentRecord(good.substr(0, n)).status()));
  }
  CHECK(absl::IsDataLoss(DecodeSegmentRecord(good + '\0').status()));
  std::string zero = good;
  for (size_t i = 106; i < 114; ++i) zero[i] = '\0';  // version 2 naming batch 0
  auto status = DecodeSegmentRecord(zero).status();
  CHECK(absl::IsDataLoss(status));
  CHECK(std::string(status.message()).find("batch id 0") != std::string::npos);
  std::string v1_with_batch = good;
  v1_with_batch[0] = 1;  // a version-1 record with 8 extra bytes
  CHECK(absl::IsDataLoss(DecodeSegmentRecord(v1_with_batch).status()));
  std::string newer = good;
  newer[0] = 3;
  CHECK(absl::IsFailedPrecondition(DecodeSegmentRecord(newer).status()));
}

TEST_CASE("a segment record encodes to the pinned version 1 bytes", "[storage][catalog_records]") {
  std::string bytes = EncodeSegmentRecord(GoldenSegment());
  CHECK(bytes.size() == 106);
  CHECK(Hex(bytes) == kGoldenSegmentHex);
  auto decoded = DecodeSegmentRecord(FromHex(kGoldenSegmentHex));
  REQUIRE(decoded.ok());
  CHECK(*decoded == GoldenSegment());
}

TEST_CASE("an image record encodes to the pinned version 1 bytes", "[storage][catalog_records]") {
  CHECK(Hex(EncodeImage(GoldenImage())) == kGoldenImageHex);
  auto decoded = DecodeImage(FromHex(kGoldenImageHex));
  REQUIRE(decoded.ok());
  CHECK(*decoded == GoldenImage());
}

TEST_CASE("the identity digest's input is the pinned bytes, and every field changes it",
          "[storage][catalog_records]") {
  const ImageRecord golden = GoldenImage();
  CHECK(Hex(EncodeImageIdentity(golden)) == kGoldenImageIdentityHex);
  // The identity digest itself is not part of its input.
  ImageRecord other_digest = golden;
  other_digest.identity_digest[0] ^= 1;
  CHECK(EncodeImageIdentity(other_digest) == EncodeImageIdentity(golden));
  // Each change gives other bytes, including the ones a plain concatenation would confuse
  // (a byte moved from one string to the next, a label split differently).
  std::vector<ImageRecord> changed(13, golden);
  changed[0].image_id += 1;
  changed[1].lsu = "lsu";
  changed[1].name = "1img";
  changed[2].name = "im";
  changed[2].owner = "gcn";
  changed[3].owner = "";
  changed[4].group_no = 3;
  changed[5].size += 1;
  changed[6].extent_count += 1;
  changed[7].created_unix_micros += 1;
  changed[8].retain_until_unix_micros = 1;
  changed[9].labels = {{"a", "1b"}};
  changed[10].labels = {{"a", "1"}, {"b", "x"}};
  changed[11].recipe_digest[31] ^= 1;
  changed[12].content_digest[0] ^= 1;
  std::set<std::string> seen{EncodeImageIdentity(golden)};
  for (size_t i = 0; i < changed.size(); ++i) {
    INFO("change " << i);
    CHECK(seen.insert(EncodeImageIdentity(changed[i])).second);
  }
}

TEST_CASE("every record round trips", "[storage][catalog_records]") {
  auto meta = DecodePoolMeta(EncodePoolMeta(SomePoolMeta()));
  REQUIRE(meta.ok());
  CHECK(*meta == SomePoolMeta());
  auto group = DecodeKeyGroup(EncodeKeyGroup(SomeKeyGroup()));
  REQUIRE(group.ok());
  CHECK(*group == SomeKeyGroup());
  for (bool allow : {false, true}) {
    LsuRecord lsu = SomeLsu();
    lsu.allow_client_delete = allow;
    auto decoded = DecodeLsu(EncodeLsu(lsu));
    REQUIRE(decoded.ok());
    CHECK(*decoded == lsu);
  }
  SegmentRecord raw = GoldenSegment();
  raw.compression = Compression::kRaw;
  raw.stored_length = raw.plaintext_length;
  raw.record_length = static_cast<uint32_t>(kRecordHeaderSize) + raw.stored_length;
  for (const SegmentRecord& segment : {GoldenSegment(), raw}) {
    auto decoded = DecodeSegmentRecord(EncodeSegmentRecord(segment));
    REQUIRE(decoded.ok());
    CHECK(*decoded == segment);
  }
  ImageRecord image = GoldenImage();
  image.owner.clear();
  image.retain_until_unix_micros = 1800000000000000;
  for (size_t i = 0; i < kMaxLabels; ++i) {
    image.labels[std::to_string(1000 + i)] = std::string(kMaxLabelLength, 'v');
  }
  image.labels.erase("a");
  image.labels.erase("b");
  REQUIRE(image.labels.size() == kMaxLabels);
  image.lsu = std::string(kMaxNameLength, 'l');
  for (const ImageRecord& r : {GoldenImage(), image, ImageRecord{}}) {
    auto decoded = DecodeImage(EncodeImage(r));
    REQUIRE(decoded.ok());
    CHECK(*decoded == r);
  }
  RecipeExtent extent{crypto::SegmentId(~uint64_t{0}), kMaxPlaintextLength};
  auto decoded_extent = DecodeRecipeExtent(EncodeRecipeExtent(extent));
  REQUIRE(decoded_extent.ok());
  CHECK(*decoded_extent == extent);
  for (DeleteJob::Kind kind : {DeleteJob::Kind::kImageReferences, DeleteJob::Kind::kReclaimSegment}) {
    DeleteJob job = SomeDeleteJob();
    job.kind = kind;
    auto decoded = DecodeDeleteJob(EncodeDeleteJob(job));
    REQUIRE(decoded.ok());
    CHECK(*decoded == job);
  }
  for (auto state : {ContainerRecord::State::kActive, ContainerRecord::State::kRetired}) {
    ContainerRecord container = SomeContainer();
    container.state = state;
    auto decoded = DecodeContainer(EncodeContainer(container));
    REQUIRE(decoded.ok());
    CHECK(*decoded == container);
  }
  auto u64 = DecodeU64(EncodeU64(0x8877665544332211), "allocator");
  REQUIRE(u64.ok());
  CHECK(*u64 == 0x8877665544332211);
  CHECK(Hex(EncodeU64(0x8877665544332211)) == "1122334455667788");
}

TEST_CASE("every key round trips", "[storage][catalog_records]") {
  uint32_t group = 0;
  auto fp = DecodeFingerprintIndexKey(FingerprintIndexKey(0xDEADBEEF, CountingFingerprint(1)),
                                      &group);
  REQUIRE(fp.ok());
  CHECK(*fp == CountingFingerprint(1));
  CHECK(group == 0xDEADBEEF);
  CHECK(FingerprintIndexKey(7, CountingFingerprint(1)).starts_with(FingerprintIndexPrefix(7)));

  auto segment = DecodeSegmentKey(SegmentKey(4, crypto::SegmentId(99)), &group);
  REQUIRE(segment.ok());
  CHECK(*segment == crypto::SegmentId(99));
  CHECK(group == 4);
  CHECK(Hex(SegmentKey(0x01020304, crypto::SegmentId(0x05060708090a0b0c))) ==
        "01020304" "05060708090a0b0c");

  auto offset = DecodeRecipeKeyOffset(RecipeKey(5, 123456), 5);
  REQUIRE(offset.ok());
  CHECK(*offset == 123456);
  CHECK(absl::IsDataLoss(DecodeRecipeKeyOffset(RecipeKey(5, 1), 6).status()));

  auto sequence = DecodeDeleteQueueKey(DeleteQueueKey(77));
  REQUIRE(sequence.ok());
  CHECK(*sequence == 77);
  auto container = DecodeContainerKey(ContainerKey(78));
  REQUIRE(container.ok());
  CHECK(*container == 78);

  uint64_t session = 0;
  crypto::SegmentId id;
  REQUIRE(DecodeSessionSegmentKey(SessionSegmentKey(1, 2, crypto::SegmentId(3)), &session, &group,
                                  &id)
              .ok());
  CHECK(session == 1);
  CHECK(group == 2);
  CHECK(id == crypto::SegmentId(3));

  CHECK(PoolMetaKey() == "pool");
  CHECK(KeyGroupKey(1) == std::string("kg/\0\0\0\1", 7));
  CHECK(LsuKey("x") == "lsu/x");
  CHECK(AllocatorKey("segment") == "alloc/segment");
  CHECK(ImageRecordKey(1) == std::string("I\0\0\0\0\0\0\0\1", 9));
  // Catalog format 2: 'N' + LSU + NUL + owner + NUL + name.
  CHECK(ImageNameKey("lsu", "bob", "img") == std::string("Nlsu\0bob\0img", 12));
  CHECK(ImageNameKey("lsu", "", "img") == std::string("Nlsu\0\0img", 9));
  CHECK(ImageNameKey("lsu", "bob", "img").starts_with(ImageNamePrefix("lsu")));
  CHECK(ImageNameKey("lsu", "bob", "img").starts_with(ImageOwnerPrefix("lsu", "bob")));
  CHECK(!ImageNameKey("lsu", "bobby", "img").starts_with(ImageOwnerPrefix("lsu", "bob")));
  CHECK(!ImageNameKey("lsu", "", "img").starts_with(ImageOwnerPrefix("lsu", "bob")));
  CHECK(!ImageNameKey("lsu2", "", "img").starts_with(ImageNamePrefix("lsu")));
  CHECK(OwnerBytesKey("lsu", "bob") == std::string("Olsu\0bob", 8));
  CHECK(ValidateOwner("").ok());
  CHECK(absl::IsInvalidArgument(ValidateOwner(std::string("a\0b", 3))));
  CHECK(absl::IsInvalidArgument(ValidateOwner(std::string(kMaxNameLength + 1, 'o'))));
  CHECK(RefcountKey(1, crypto::SegmentId(2)) == std::string("R\0\0\0\1\0\0\0\0\0\0\0\2", 13));
  CHECK(ContainerCounterKey(3, ContainerField::kLiveBytes) ==
        std::string("C\0\0\0\0\0\0\0\3L", 10));
  CHECK(ContainerCounterKey(3, ContainerField::kWrittenBytes)
            .starts_with(ContainerCounterPrefix(3)));
  CHECK(PoolCounterKey("images") == "Pimages");
  CHECK(KekDekCountKey(1, 2) == std::string("K\0\0\0\1\0\0\0\2", 9));
}

TEST_CASE("a key of the wrong length is data loss", "[storage][catalog_records]") {
  uint32_t group = 0;
  uint64_t session = 0;
  crypto::SegmentId id;
  std::string fp_key = FingerprintIndexKey(1, CountingFingerprint(0));
  std::string session_key = SessionSegmentKey(1, 2, crypto::SegmentId(3));
  for (int delta : {-1, 1}) {
    auto resize = [delta](std::string s) {
      s.resize(static_cast<size_t>(static_cast<int>(s.size()) + delta), 'x');
      return s;
    };
    CHECK(absl::IsDataLoss(DecodeFingerprintIndexKey(resize(fp_key), &group).status()));
    CHECK(absl::IsDataLoss(DecodeSegmentKey(resize(SegmentKey(1, id)), &group).status()));
    CHECK(absl::IsDataLoss(DecodeRecipeKeyOffset(resize(RecipeKey(1, 2)), 1).status()));
    CHECK(absl::IsDataLoss(DecodeDeleteQueueKey(resize(DeleteQueueKey(1))).status()));
    CHECK(absl::IsDataLoss(DecodeContainerKey(resize(ContainerKey(1))).status()));
    CHECK(absl::IsDataLoss(DecodeSessionSegmentKey(resize(session_key), &session, &group, &id)));
  }
  CHECK(absl::IsDataLoss(DecodeU64("1234567", "allocator").status()));
  CHECK(absl::IsDataLoss(DecodeU64("123456789", "allocator").status()));
}

TEST_CASE("every truncation of every record is refused", "[storage][catalog_records]") {
  for (const Kind& kind : AllKinds()) {
    REQUIRE(kind.decode(kind.encoded).ok());
    for (size_t length = 0; length < kind.encoded.size(); ++length) {
      INFO(kind.name << " truncated to " << length << " of " << kind.encoded.size());
      CHECK(absl::IsDataLoss(kind.decode(std::string_view(kind.encoded).substr(0, length))));
    }
  }
}

TEST_CASE("a trailing byte is refused", "[storage][catalog_records]") {
  for (const Kind& kind : AllKinds()) {
    INFO(kind.name);
    CHECK(absl::IsDataLoss(kind.decode(kind.encoded + '\0')));
  }
}

TEST_CASE("every flip of the version byte is refused", "[storage][catalog_records]") {
  for (const Kind& kind : AllKinds()) {
    for (int mask = 1; mask < 256; ++mask) {
      std::string bad = kind.encoded;
      bad[0] = static_cast<char>(static_cast<uint8_t>(bad[0]) ^ mask);
      INFO(kind.name << " version " << int{static_cast<uint8_t>(bad[0])});
      absl::Status status = kind.decode(bad);
      if (static_cast<uint8_t>(bad[0]) == 0) {
        CHECK(absl::IsDataLoss(status));
      } else if (kind.name == "segment" && static_cast<uint8_t>(bad[0]) == 2) {
        // Version 2 is the batched segment record (catalog format 4): 8 bytes longer.
        CHECK(absl::IsDataLoss(status));
      } else {
        CHECK(absl::IsFailedPrecondition(status));
      }
    }
  }
}

TEST_CASE("a newer record version asks for an upgrade", "[storage][catalog_records]") {
  for (const Kind& kind : AllKinds()) {
    std::string newer = kind.encoded;
    newer[0] = static_cast<char>(kind.name == "segment" ? kSegmentRecordVersionBatched + 1
                                                        : kCatalogRecordVersion + 1);
    newer += "more fields of version 2";
    absl::Status status = kind.decode(newer);
    INFO(kind.name << ": " << status.ToString());
    CHECK(absl::IsFailedPrecondition(status));
    CHECK(std::string(status.message()).find("newer sealpool") != std::string::npos);
  }
  PoolMeta meta = SomePoolMeta();
  meta.catalog_format_version = kCatalogFormatNewest + 1;
  CHECK(absl::IsFailedPrecondition(DecodePoolMeta(EncodePoolMeta(meta)).status()));
  meta.catalog_format_version = 0;
  CHECK(absl::IsDataLoss(DecodePoolMeta(EncodePoolMeta(meta)).status()));
}

// Every value of an enum byte decodes to that enum value if it is one, and is refused otherwise.
void CheckEnumByte(const std::string& encoded, size_t offset,
                   const std::function<absl::Status(std::string_view)>& decode,
                   const std::vector<uint8_t>& valid) {
  for (int mask = 1; mask < 256; ++mask) {
    std::string bad = encoded;
    uint8_t value = static_cast<uint8_t>(static_cast<uint8_t>(bad[offset]) ^ mask);
    bad[offset] = static_cast<char>(value);
    INFO("offset " << offset << " value " << int{value});
    if (std::find(valid.begin(), valid.end(), value) != valid.end()) {
      CHECK(decode(bad).ok());
    } else {
      CHECK(absl::IsDataLoss(decode(bad)));
    }
  }
}

TEST_CASE("every flip of an enum byte to an unknown value is refused",
          "[storage][catalog_records]") {
  constexpr size_t kCompressionOffset = 29;
  std::string segment = EncodeSegmentRecord(GoldenSegment());
  REQUIRE(static_cast<uint8_t>(segment[kCompressionOffset]) == 1);
  CheckEnumByte(segment, kCompressionOffset, StatusOf(&DecodeSegmentRecord), {0, 1});
  CheckEnumByte(EncodeDeleteJob(SomeDeleteJob()), 1, StatusOf(&DecodeDeleteJob), {1, 2});
  CheckEnumByte(EncodeContainer(SomeContainer()), 5, StatusOf(&DecodeContainer), {1, 2});
  LsuRecord lsu = SomeLsu();
  size_t allow_offset = 1 + 2 + lsu.name.size() + 4;
  CheckEnumByte(EncodeLsu(lsu), allow_offset, StatusOf(&DecodeLsu), {0, 1});
}

TEST_CASE("out-of-bound lengths and counts are refused", "[storage][catalog_records]") {
  ImageRecord image = GoldenImage();
  image.name = std::string(kMaxNameLength + 1, 'n');
  CHECK(absl::IsDataLoss(DecodeImage(EncodeImage(image)).status()));
  image = GoldenImage();
  image.lsu = std::string("a\0b", 3);
  CHECK(absl::IsDataLoss(DecodeImage(EncodeImage(image)).status()));
  image = GoldenImage();
  for (size_t i = 0; i <= kMaxLabels; ++i) image.labels[std::to_string(100 + i)] = "";
  CHECK(absl::IsDataLoss(DecodeImage(EncodeImage(image)).status()));
  image = GoldenImage();
  image.labels["long"] = std::string(kMaxLabelLength + 1, 'v');
  CHECK(absl::IsDataLoss(DecodeImage(EncodeImage(image)).status()));
  image = GoldenImage();
  image.labels[std::string(kMaxLabelLength + 1, 'k')] = "v";
  CHECK(absl::IsDataLoss(DecodeImage(EncodeImage(image)).status()));

  // Label keys must be strictly increasing: make "b" into a second "a".
  std::string repeated = EncodeImage(GoldenImage());
  size_t b = repeated.find(std::string("\x01\x00" "b", 3));
  REQUIRE(b != std::string::npos);
  repeated[b + 2] = 'a';
  CHECK(absl::IsDataLoss(DecodeImage(repeated).status()));

  LsuRecord lsu = SomeLsu();
  lsu.name = std::string(kMaxNameLength + 1, 'l');
  CHECK(absl::IsDataLoss(DecodeLsu(EncodeLsu(lsu)).status()));
  for (uint64_t bad : {uint64_t{0}, uint64_t{1} << 63}) {
    lsu = SomeLsu();
    lsu.max_retention_micros = bad;
    CHECK(absl::IsDataLoss(DecodeLsu(EncodeLsu(lsu)).status()));
  }
  KeyGroupRecord group = SomeKeyGroup();
  group.name = std::string("fin\0ance", 8);
  CHECK(absl::IsDataLoss(DecodeKeyGroup(EncodeKeyGroup(group)).status()));

  SegmentRecord segment = GoldenSegment();
  segment.plaintext_length = 0;
  CHECK(absl::IsDataLoss(DecodeSegmentRecord(EncodeSegmentRecord(segment)).status()));
  segment = GoldenSegment();
  segment.plaintext_length = kMaxPlaintextLength + 1;
  CHECK(absl::IsDataLoss(DecodeSegmentRecord(EncodeSegmentRecord(segment)).status()));
  segment = GoldenSegment();
  segment.stored_length = kMaxStoredLength + 1;
  segment.record_length = static_cast<uint32_t>(kRecordHeaderSize) + segment.stored_length;
  CHECK(absl::IsDataLoss(DecodeSegmentRecord(EncodeSegmentRecord(segment)).status()));
  segment = GoldenSegment();
  segment.record_length += 1;
  CHECK(absl::IsDataLoss(DecodeSegmentRecord(EncodeSegmentRecord(segment)).status()));

  CHECK(absl::IsDataLoss(DecodeRecipeExtent(EncodeRecipeExtent({crypto::SegmentId(1), 0})).status()));
  CHECK(absl::IsDataLoss(
      DecodeRecipeExtent(EncodeRecipeExtent({crypto::SegmentId(1), kMaxPlaintextLength + 1}))
          .status()));
}

TEST_CASE("keys sort in numeric order", "[storage][catalog_records]") {
  std::vector<uint64_t> values = {0, 1, 255, 256, 65535, 65536, 0x00FFFFFFFFFFFFFF,
                                  0x0100000000000000, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000,
                                  ~uint64_t{0}};
  for (size_t i = 0; i + 1 < values.size(); ++i) {
    uint64_t a = values[i];
    uint64_t b = values[i + 1];
    INFO(a << " < " << b);
    CHECK(SegmentKey(1, crypto::SegmentId(a)) < SegmentKey(1, crypto::SegmentId(b)));
    CHECK(RecipeKey(1, a) < RecipeKey(1, b));
    CHECK(RecipeKey(a, ~uint64_t{0}) < RecipeKey(b, 0));
    CHECK(DeleteQueueKey(a) < DeleteQueueKey(b));
    CHECK(ContainerKey(a) < ContainerKey(b));
    CHECK(ImageRecordKey(a) < ImageRecordKey(b));
    CHECK(SessionSegmentKey(a, 9, crypto::SegmentId(9)) < SessionSegmentKey(b, 0, crypto::SegmentId(0)));
    CHECK(RefcountKey(1, crypto::SegmentId(a)) < RefcountKey(1, crypto::SegmentId(b)));
    if (b <= UINT32_MAX) {
      auto a32 = static_cast<uint32_t>(a);
      auto b32 = static_cast<uint32_t>(b);
      CHECK(KeyGroupKey(a32) < KeyGroupKey(b32));
      CHECK(SegmentKey(a32, crypto::SegmentId(~uint64_t{0})) < SegmentKey(b32, crypto::SegmentId(0)));
      CHECK(FingerprintIndexKey(a32, CountingFingerprint(0xF0)) <
            FingerprintIndexKey(b32, CountingFingerprint(0)));
      CHECK(KekDekCountKey(1, a32) < KekDekCountKey(1, b32));
    }
  }
  // Big-endian round trip of the shared helpers.
  std::string s;
  AppendU32BE(&s, 0x01020304);
  AppendU64BE(&s, 0x05060708090a0b0c);
  CHECK(Hex(s) == "0102030405060708090a0b0c");
  CHECK(LoadU32BE(s.data()) == 0x01020304);
  CHECK(LoadU64BE(s.data() + 4) == 0x05060708090a0b0c);
}

TEST_CASE("valid names are accepted", "[storage][catalog_records]") {
  for (std::string_view name : {"a", "nightly-backups", "db 01.full", "finance/2024",
                                "caf\xc3\xa9", "\xe6\x97\xa5\xe6\x9c\xac", "\xf0\x9f\x92\xbe",
                                "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf"}) {
    INFO(name);
    CHECK(ValidateName("LSU", name).ok());
  }
  CHECK(ValidateName("LSU", std::string(kMaxNameLength, 'x')).ok());
}

TEST_CASE("hostile names are refused", "[storage][catalog_records]") {
  std::vector<std::string> hostile = {
      "",
      std::string(kMaxNameLength + 1, 'x'),
      "/etc",
      "/",
      std::string("a\0b", 3),
      std::string(1, '\0'),
      "tab\there",
      "new\nline",
      "esc\x1b[0m",
      "del\x7f",
      "\x80",                  // lone continuation byte
      "caf\xc3",               // truncated sequence
      "\xc3\x28",              // bad continuation
      "\xc0\xaf",              // overlong '/'
      "\xe0\x80\xaf",          // overlong, 3 bytes
      "\xf0\x80\x80\xaf",      // overlong, 4 bytes
      "\xed\xa0\x80",          // UTF-16 surrogate
      "\xf4\x90\x80\x80",      // above U+10FFFF
      "\xf8\x88\x80\x80\x80",  // 5-byte form
      "\xff",
  };
  for (const std::string& name : hostile) {
    INFO(Hex(name));
    absl::Status status = ValidateName("image", name);
    CHECK(absl::IsInvalidArgument(status));
    CHECK(std::string(status.message()).find("image") != std::string::npos);
  }
}

}  // namespace
}  // namespace sealpool::storage
