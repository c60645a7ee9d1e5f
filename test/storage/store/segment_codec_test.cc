// Segment codec: compress + seal one segment, and the reverse (storage/store/segment_codec.h).
#include "storage/store/segment_codec.h"

#include <catch2/catch.hpp>
#include <thread>

#include "absl/strings/str_cat.h"
#include "crypto/aead.h"

#include "test/test_util.h"

namespace sealpool::storage {
namespace {

const crypto::SegmentId kId(42);

Id128 KeyGroup(uint8_t fill = 0x22) {
  Id128 id;
  id.fill(fill);
  return id;
}

crypto::Fingerprint Fp(uint8_t seed = 1) {
  std::array<uint8_t, 32> bytes;
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(seed + i);
  return crypto::Fingerprint::FromArray(bytes);
}

// Text-like bytes that zstd shrinks a lot.
std::vector<uint8_t> Compressible(size_t n) {
  std::vector<uint8_t> bytes(n);
  const std::string_view text = "sealpool keeps every byte, bit-exact, years later. ";
  for (size_t i = 0; i < n; ++i) {
    bytes[i] = static_cast<uint8_t>(static_cast<size_t>(text[i % text.size()]) + (i / 4096) % 3);
  }
  return bytes;
}

EncodedSegment Encode(std::span<const uint8_t> plaintext, SegmentCodecOptions options = {},
                      const Id128& key_group = KeyGroup()) {
  auto encoded = EncodeSegment(key_group, kId, Fp(), plaintext, options);
  INFO(encoded.status().ToString());
  REQUIRE(encoded.ok());
  return *std::move(encoded);
}

// The record header a container would hold for `e`.
RecordHeader HeaderOf(const EncodedSegment& e) {
  RecordHeader h;
  h.compression = e.compression;
  h.segment_id = e.segment_id;
  h.plaintext_length = e.plaintext_length;
  h.stored_length = static_cast<uint32_t>(e.stored.size());
  h.fingerprint = e.fingerprint;
  h.nonce = e.nonce;
  h.tag = e.tag;
  h.payload_checksum = PayloadChecksum(e.stored);
  return h;
}

absl::Status Decode(const EncodedSegment& e, const RecordHeader& header,
                    std::span<const uint8_t> stored, std::vector<uint8_t>* out,
                    const Id128& key_group = KeyGroup()) {
  return DecodeSegment(e.dek, key_group, header, stored, out);
}

bool Mentions(const absl::Status& status, std::string_view text) {
  return std::string_view(status.message().data(), status.message().size()).find(text) !=
         std::string_view::npos;
}

// Decoding must fail with DataLoss naming the segment and leave nothing in the output.
void CheckDataLoss(const EncodedSegment& e, const RecordHeader& header,
                   std::span<const uint8_t> stored, const Id128& key_group = KeyGroup()) {
  std::vector<uint8_t> out(100, 0xAA);
  absl::Status status = DecodeSegment(e.dek, key_group, header, stored, &out);
  INFO(status.ToString());
  CHECK(absl::IsDataLoss(status));
  CHECK(Mentions(status, absl::StrCat("segment ", header.segment_id.value())));
  CHECK(out.empty());
}

TEST_CASE("compressible segments are stored as zstd and round-trip", "[storage][segment_codec]") {
  for (size_t n : {size_t{200}, size_t{64} << 10, size_t{256} << 10}) {
    INFO("plaintext " << n << " bytes");
    const std::vector<uint8_t> plaintext = Compressible(n);
    EncodedSegment e = Encode(plaintext);
    CHECK(e.compression == Compression::kZstd);
    CHECK(e.stored.size() < (n >= 4096 ? n / 4 : n));
    CHECK(e.plaintext_length == n);
    CHECK(e.segment_id == kId);
    CHECK(e.fingerprint == Fp());
    CHECK(HeaderOf(e).Validate().ok());
    std::vector<uint8_t> out;
    REQUIRE(Decode(e, HeaderOf(e), e.stored, &out).ok());
    CHECK(out == plaintext);
  }
}

TEST_CASE("incompressible segments are stored raw, encrypted, and round-trip",
          "[storage][segment_codec]") {
  for (size_t n : {size_t{1}, size_t{13}, size_t{64} << 10}) {
    INFO("plaintext " << n << " bytes");
    const std::vector<uint8_t> plaintext = test::PseudoRandomBytes(n, n);
    EncodedSegment e = Encode(plaintext);
    CHECK(e.compression == Compression::kRaw);
    CHECK(e.stored.size() == n);
    if (n > 8) CHECK(e.stored != plaintext);
    std::vector<uint8_t> out;
    REQUIRE(Decode(e, HeaderOf(e), e.stored, &out).ok());
    CHECK(out == plaintext);
  }
}

TEST_CASE("with compression off every segment is stored raw", "[storage][segment_codec]") {
  const std::vector<uint8_t> plaintext = Compressible(10000);
  EncodedSegment e = Encode(plaintext, {.zstd_level = 3, .compress = false});
  CHECK(e.compression == Compression::kRaw);
  CHECK(e.stored.size() == plaintext.size());
  std::vector<uint8_t> out;
  REQUIRE(Decode(e, HeaderOf(e), e.stored, &out).ok());
  CHECK(out == plaintext);
}

TEST_CASE("the largest segment round-trips, empty and oversized ones are refused",
          "[storage][segment_codec]") {
  const std::vector<uint8_t> largest = Compressible(kMaxPlaintextLength);
  EncodedSegment e = Encode(largest, {.zstd_level = 1, .compress = true});
  std::vector<uint8_t> out;
  REQUIRE(Decode(e, HeaderOf(e), e.stored, &out).ok());
  CHECK(out == largest);

  const std::vector<uint8_t> oversized(size_t{kMaxPlaintextLength} + 1, 0x5A);
  auto too_big = EncodeSegment(KeyGroup(), kId, Fp(), oversized);
  CHECK(absl::IsInvalidArgument(too_big.status()));
  CHECK(Mentions(too_big.status(), "segment 42"));
  auto empty = EncodeSegment(KeyGroup(), kId, Fp(), std::span<const uint8_t>());
  CHECK(absl::IsInvalidArgument(empty.status()));
}

TEST_CASE("every segment gets a fresh DEK and nonce", "[storage][segment_codec]") {
  const std::vector<uint8_t> plaintext = Compressible(5000);
  EncodedSegment a = Encode(plaintext);
  EncodedSegment b = Encode(plaintext);
  CHECK(a.dek.RevealSecret().size() == crypto::Dek::kSize);
  CHECK(!std::equal(a.dek.RevealSecret().begin(), a.dek.RevealSecret().end(),
                    b.dek.RevealSecret().begin()));
  CHECK(a.nonce != b.nonce);
  CHECK(a.stored != b.stored);
  // One's DEK does not open the other.
  std::vector<uint8_t> out;
  CHECK(absl::IsDataLoss(DecodeSegment(a.dek, KeyGroup(), HeaderOf(b), b.stored, &out)));
}

TEST_CASE("the associated data has the documented version-1 layout", "[storage][segment_codec]") {
  SegmentAadFields fields;
  for (size_t i = 0; i < fields.key_group_id.size(); ++i) {
    fields.key_group_id[i] = static_cast<uint8_t>(0x10 + i);
  }
  fields.segment_id = crypto::SegmentId(0x0102030405060708);
  fields.fingerprint = Fp(0xE0);
  fields.compression = Compression::kZstd;
  fields.plaintext_length = 0x00010000;
  fields.stored_length = 0x00001234;
  const auto aad = EncodeSegmentAad(fields);
  CHECK(test::ToHex(std::vector<uint8_t>(aad.begin(), aad.end())) ==
        "0100"                                                              // version 1
        "101112131415161718191a1b1c1d1e1f"                                  // key group
        "0807060504030201"                                                  // segment id
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"  // fingerprint
        "01"                                                                // zstd
        "00000100"                                                          // plaintext length
        "34120000");                                                        // stored length
  CHECK(kSegmentAadVersion == 1);
  CHECK(aad.size() == 67);

  // Every field changes the bytes.
  auto differs = [&](auto mutate) {
    SegmentAadFields other = fields;
    mutate(other);
    return EncodeSegmentAad(other) != aad;
  };
  CHECK(differs([](SegmentAadFields& f) { f.version = 2; }));
  CHECK(differs([](SegmentAadFields& f) { f.key_group_id[15] ^= 1; }));
  CHECK(differs([](SegmentAadFields& f) { f.segment_id = crypto::SegmentId(9); }));
  CHECK(differs([](SegmentAadFields& f) { f.fingerprint = Fp(0xE1); }));
  CHECK(differs([](SegmentAadFields& f) { f.compression = Compression::kRaw; }));
  CHECK(differs([](SegmentAadFields& f) { f.plaintext_length += 1; }));
  CHECK(differs([](SegmentAadFields& f) { f.stored_length += 1; }));
}

TEST_CASE("changing any field bound into the associated data is DataLoss",
          "[storage][segment_codec]") {
  const std::vector<uint8_t> plaintext = Compressible(20000);
  EncodedSegment e = Encode(plaintext);
  REQUIRE(e.compression == Compression::kZstd);
  const RecordHeader good = HeaderOf(e);
  RecordHeader h = good;

  SECTION("segment id") { h.segment_id = crypto::SegmentId(43); }
  SECTION("fingerprint") { h.fingerprint = Fp(2); }
  SECTION("plaintext length") { h.plaintext_length += 1; }
  SECTION("compression") {
    // zstd -> raw also breaks the raw rule stored == plaintext; refused either way.
    h.compression = Compression::kRaw;
  }
  SECTION("stored length (with the stored bytes cut to match)") {
    h.stored_length -= 1;
    std::vector<uint8_t> shorter(e.stored.begin(), e.stored.end() - 1);
    CheckDataLoss(e, h, shorter);
    return;
  }
  SECTION("stored length disagreeing with the stored bytes") { h.stored_length -= 1; }
  CheckDataLoss(e, h, e.stored);
}

TEST_CASE("a segment moved to another key group does not decode", "[storage][segment_codec]") {
  EncodedSegment e = Encode(Compressible(3000));
  CheckDataLoss(e, HeaderOf(e), e.stored, KeyGroup(0x23));
  EncodedSegment raw = Encode(test::PseudoRandomBytes(3000, 1));
  CheckDataLoss(raw, HeaderOf(raw), raw.stored, KeyGroup(0x23));
}

TEST_CASE("a segment sealed under another AAD version does not decode",
          "[storage][segment_codec]") {
  const std::vector<uint8_t> plaintext = test::PseudoRandomBytes(500, 7);
  SegmentAadFields fields{.version = 2,
                          .key_group_id = KeyGroup(),
                          .segment_id = kId,
                          .fingerprint = Fp(),
                          .compression = Compression::kRaw,
                          .plaintext_length = 500,
                          .stored_length = 0};
  auto sealed = internal::SealPayload(fields, plaintext);
  REQUIRE(sealed.ok());
  CheckDataLoss(*sealed, HeaderOf(*sealed), sealed->stored);
  // The same under version 1 decodes: the version is the only difference.
  fields.version = kSegmentAadVersion;
  auto v1 = internal::SealPayload(fields, plaintext);
  REQUIRE(v1.ok());
  std::vector<uint8_t> out;
  REQUIRE(Decode(*v1, HeaderOf(*v1), v1->stored, &out).ok());
  CHECK(out == plaintext);
}

TEST_CASE("flipped stored, tag or nonce bytes are DataLoss", "[storage][segment_codec]") {
  for (bool compressible : {true, false}) {
    INFO((compressible ? "zstd" : "raw"));
    const std::vector<uint8_t> plaintext =
        compressible ? Compressible(10000) : test::PseudoRandomBytes(10000, 3);
    EncodedSegment e = Encode(plaintext);
    const RecordHeader good = HeaderOf(e);
    for (size_t at : {size_t{0}, e.stored.size() / 2, e.stored.size() - 1}) {
      std::vector<uint8_t> stored = e.stored;
      stored[at] ^= 0x80;
      CheckDataLoss(e, good, stored);
    }
    for (size_t at : {size_t{0}, size_t{15}}) {
      RecordHeader h = good;
      h.tag[at] ^= 0x01;
      CheckDataLoss(e, h, e.stored);
    }
    for (size_t at : {size_t{0}, size_t{11}}) {
      RecordHeader h = good;
      h.nonce[at] ^= 0x01;
      CheckDataLoss(e, h, e.stored);
    }
    std::vector<uint8_t> out;
    REQUIRE(Decode(e, good, e.stored, &out).ok());  // the untouched record still decodes
    CHECK(out == plaintext);
  }
}

TEST_CASE("a wrong DEK is DataLoss, a moved-from DEK is InvalidArgument",
          "[storage][segment_codec]") {
  EncodedSegment e = Encode(Compressible(4000));
  auto other = crypto::Dek::Generate();
  REQUIRE(other.ok());
  std::vector<uint8_t> out(10, 1);
  absl::Status wrong = DecodeSegment(*other, KeyGroup(), HeaderOf(e), e.stored, &out);
  CHECK(absl::IsDataLoss(wrong));
  CHECK(Mentions(wrong, "segment 42"));
  CHECK(out.empty());

  crypto::Dek moved = std::move(*other);
  out.assign(10, 1);
  absl::Status empty_key = DecodeSegment(*other, KeyGroup(), HeaderOf(e), e.stored, &out);
  CHECK(absl::IsInvalidArgument(empty_key));
  CHECK(out.empty());
}

// A zstd frame that is corrupt, or of another length than the header says, cannot reach the
// decompressor from a container: the GCM tag covers the frame and the plaintext length, and only
// the holder of the segment's DEK could seal a bad one, i.e. the encoder itself. These tests use
// internal::SealPayload to play such a broken encoder and check the decompression checks.
TEST_CASE("authentic frames that decompress to another length are DataLoss",
          "[storage][segment_codec]") {
  const std::vector<uint8_t> plaintext = Compressible(1000);
  EncodedSegment honest = Encode(plaintext);
  REQUIRE(honest.compression == Compression::kZstd);
  for (int64_t delta : {-1, +1, +500}) {
    INFO("claimed length off by " << delta);
    // The honest zstd frame itself, decrypted with the honest DEK...
    std::vector<uint8_t> frame_bytes(honest.stored.size());
    const auto aad = EncodeSegmentAad({.version = kSegmentAadVersion,
                                       .key_group_id = KeyGroup(),
                                       .segment_id = kId,
                                       .fingerprint = Fp(),
                                       .compression = Compression::kZstd,
                                       .plaintext_length = 1000,
                                       .stored_length =
                                           static_cast<uint32_t>(honest.stored.size())});
    REQUIRE(crypto::Open(honest.dek, honest.nonce, aad, honest.stored, honest.tag, frame_bytes)
                .ok());
    // ...sealed again by a "broken encoder" that claims another plaintext length.
    SegmentAadFields lie{.version = kSegmentAadVersion,
                         .key_group_id = KeyGroup(),
                         .segment_id = kId,
                         .fingerprint = Fp(),
                         .compression = Compression::kZstd,
                         .plaintext_length = static_cast<uint32_t>(1000 + delta),
                         .stored_length = 0};
    auto sealed = internal::SealPayload(lie, frame_bytes);
    REQUIRE(sealed.ok());
    std::vector<uint8_t> out(7, 7);
    absl::Status status = Decode(*sealed, HeaderOf(*sealed), sealed->stored, &out);
    INFO(status.ToString());
    CHECK(absl::IsDataLoss(status));
    CHECK(Mentions(status, "segment 42"));
    CHECK(out.empty());
  }
}

TEST_CASE("an authentic but corrupt zstd frame is DataLoss", "[storage][segment_codec]") {
  std::vector<uint8_t> garbage = test::PseudoRandomBytes(300, 11);
  SegmentAadFields fields{.version = kSegmentAadVersion,
                          .key_group_id = KeyGroup(),
                          .segment_id = kId,
                          .fingerprint = Fp(),
                          .compression = Compression::kZstd,
                          .plaintext_length = 1000,
                          .stored_length = 0};
  auto sealed = internal::SealPayload(fields, garbage);
  REQUIRE(sealed.ok());
  std::vector<uint8_t> out;
  absl::Status status = Decode(*sealed, HeaderOf(*sealed), sealed->stored, &out);
  INFO(status.ToString());
  CHECK(absl::IsDataLoss(status));
  CHECK(Mentions(status, "zstd"));
  CHECK(out.empty());
}

TEST_CASE("the output buffer is replaced, whatever it held", "[storage][segment_codec]") {
  const std::vector<uint8_t> plaintext = Compressible(3000);
  EncodedSegment e = Encode(plaintext);
  std::vector<uint8_t> out(100000, 0xEE);
  REQUIRE(Decode(e, HeaderOf(e), e.stored, &out).ok());
  CHECK(out == plaintext);
  std::vector<uint8_t> small(3, 0xEE);
  REQUIRE(Decode(e, HeaderOf(e), e.stored, &small).ok());
  CHECK(small == plaintext);
}

TEST_CASE("threads encode and decode at once with their own zstd contexts",
          "[storage][segment_codec]") {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 40;
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &failures] {
      for (int i = 0; i < kPerThread; ++i) {
        const size_t n = 1000 + static_cast<size_t>(i * 997 + t * 31);
        const std::vector<uint8_t> plaintext =
            (i % 2 == 0) ? Compressible(n) : test::PseudoRandomBytes(n, static_cast<uint64_t>(i));
        auto e = EncodeSegment(KeyGroup(), crypto::SegmentId(static_cast<uint64_t>(i)), Fp(),
                               plaintext, {.zstd_level = 1 + i % 5, .compress = true});
        if (!e.ok()) {
          ++failures[static_cast<size_t>(t)];
          continue;
        }
        std::vector<uint8_t> out;
        if (!DecodeSegment(e->dek, KeyGroup(), HeaderOf(*e), e->stored, &out).ok() ||
            out != plaintext) {
          ++failures[static_cast<size_t>(t)];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(failures == std::vector<int>(kThreads, 0));
}

}  // namespace
}  // namespace sealpool::storage
