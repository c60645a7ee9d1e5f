// Container format v1: round trips, pinned golden bytes, and every way a header can be bad.
#include "storage/store/container_format.h"

#include <catch2/catch.hpp>

#include "test/test_util.h"

namespace sealpool::storage {
namespace {

// The file header whose encoding is pinned below.
ContainerHeader GoldenHeader() {
  ContainerHeader h;
  h.container_id = 0x0102030405060708;
  h.created_unix_micros = 1700000000123456;
  for (size_t i = 0; i < 16; ++i) {
    h.pool_id[i] = static_cast<uint8_t>(0x10 + i);
    h.key_group_id[i] = static_cast<uint8_t>(0x20 + i);
  }
  return h;
}

// The record header whose encoding is pinned below.
RecordHeader GoldenRecord() {
  RecordHeader r;
  r.compression = Compression::kZstd;
  r.segment_id = crypto::SegmentId(0x1122334455667788);
  r.plaintext_length = 65536;
  r.stored_length = 4096;
  std::array<uint8_t, 32> fp;
  for (size_t i = 0; i < fp.size(); ++i) fp[i] = static_cast<uint8_t>(0x40 + i);
  r.fingerprint = crypto::Fingerprint::FromArray(fp);
  for (size_t i = 0; i < r.nonce.size(); ++i) r.nonce[i] = static_cast<uint8_t>(0x60 + i);
  for (size_t i = 0; i < r.tag.size(); ++i) r.tag[i] = static_cast<uint8_t>(0x70 + i);
  r.payload_checksum = crypto::Checksum(0xCAFEF00DDEADBEEF);
  return r;
}

std::vector<uint8_t> Encode(const ContainerHeader& h) {
  std::vector<uint8_t> out;
  h.EncodeTo(&out);
  return out;
}

std::vector<uint8_t> Encode(const RecordHeader& r) {
  std::vector<uint8_t> out;
  r.EncodeTo(&out);
  return out;
}

// Single-bit flips at both ends of a byte and a whole-byte flip.
constexpr std::array<uint8_t, 3> kMasks = {0x01, 0x80, 0xFF};

absl::Status DecodeHeader(const std::vector<uint8_t>& bytes) {
  ContainerHeader h;
  return h.DecodeFrom(bytes);
}

absl::Status DecodeRecord(const std::vector<uint8_t>& bytes) {
  RecordHeader r;
  return r.DecodeFrom(bytes);
}

// Version 1 on disk. If this fails, the format changed: that needs a new version, not a new
// golden value.
constexpr char kGoldenHeaderHex[] =
    "5350434e54520d0a"                   // magic "SPCNTR\r\n"
    "0100"                               // format version 1
    "4800"                               // header size 72
    "00000000"                           // flags
    "1676b73c304ff862"                   // header checksum
    "0807060504030201"                   // container id
    "40222018240a0600"                   // created, unix microseconds
    "101112131415161718191a1b1c1d1e1f"   // pool id
    "202122232425262728292a2b2c2d2e2f";  // key group id
constexpr char kGoldenRecordHex[] =
    "53505231"                                                          // magic "SPR1"
    "01"                                                                // type: sealed segment
    "01"                                                                // compression: zstd
    "0000"                                                              // reserved
    "c7a5cefe54b340a3"                                                  // header checksum
    "efbeadde0df0feca"                                                  // payload checksum
    "8877665544332211"                                                  // segment id
    "00000100"                                                          // plaintext length 65536
    "00100000"                                                          // stored length 4096
    "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"  // fingerprint
    "606162636465666768696a6b"                                          // nonce
    "707172737475767778797a7b7c7d7e7f";                                 // tag

TEST_CASE("a file header encodes to the pinned version 1 bytes", "[storage][container_format]") {
  std::vector<uint8_t> bytes = Encode(GoldenHeader());
  REQUIRE(bytes.size() == kContainerHeaderSize);
  CHECK(test::ToHex(bytes) == kGoldenHeaderHex);
}

TEST_CASE("a record header encodes to the pinned version 1 bytes", "[storage][container_format]") {
  std::vector<uint8_t> bytes = Encode(GoldenRecord());
  REQUIRE(bytes.size() == kRecordHeaderSize);
  CHECK(test::ToHex(bytes) == kGoldenRecordHex);
}

TEST_CASE("the payload checksum is XXH3-64 with seed 0", "[storage][container_format]") {
  std::vector<uint8_t> abc = {'a', 'b', 'c'};
  CHECK(PayloadChecksum({}).value() == 0x2D06800538D394C2);
  CHECK(PayloadChecksum(abc).value() == 0x78AF5F94892F3950);
}

TEST_CASE("a file header round trips", "[storage][container_format]") {
  std::vector<uint8_t> bytes = Encode(GoldenHeader());
  bytes.push_back(0xEE);  // more input than the header is fine
  ContainerHeader decoded;
  REQUIRE(decoded.DecodeFrom(bytes).ok());
  CHECK(decoded == GoldenHeader());
}

TEST_CASE("a record header round trips", "[storage][container_format]") {
  RecordHeader raw = GoldenRecord();
  raw.compression = Compression::kRaw;
  raw.stored_length = raw.plaintext_length;
  for (const RecordHeader& r : {GoldenRecord(), raw}) {
    RecordHeader decoded;
    REQUIRE(decoded.DecodeFrom(Encode(r)).ok());
    CHECK(decoded == r);
    CHECK(decoded.record_size() == kRecordHeaderSize + r.stored_length);
  }
}

TEST_CASE("flipping any byte of a file header is data loss", "[storage][container_format]") {
  const std::vector<uint8_t> good = Encode(GoldenHeader());
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t mask : kMasks) {
      std::vector<uint8_t> bad = good;
      bad[i] = static_cast<uint8_t>(bad[i] ^ mask);
      INFO("byte " << i << " mask " << int{mask});
      CHECK(absl::IsDataLoss(DecodeHeader(bad)));
    }
  }
}

TEST_CASE("flipping any byte of a record header is data loss", "[storage][container_format]") {
  const std::vector<uint8_t> good = Encode(GoldenRecord());
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t mask : kMasks) {
      std::vector<uint8_t> bad = good;
      bad[i] = static_cast<uint8_t>(bad[i] ^ mask);
      INFO("byte " << i << " mask " << int{mask});
      CHECK(absl::IsDataLoss(DecodeRecord(bad)));
    }
  }
}

TEST_CASE("a header cut at any length is data loss", "[storage][container_format]") {
  const std::vector<uint8_t> header = Encode(GoldenHeader());
  for (size_t n = 0; n < header.size(); ++n) {
    INFO("length " << n);
    CHECK(absl::IsDataLoss(DecodeHeader({header.begin(), header.begin() + static_cast<long>(n)})));
  }
  const std::vector<uint8_t> record = Encode(GoldenRecord());
  for (size_t n = 0; n < record.size(); ++n) {
    INFO("length " << n);
    CHECK(absl::IsDataLoss(DecodeRecord({record.begin(), record.begin() + static_cast<long>(n)})));
  }
}

TEST_CASE("a decode failure leaves the destination unchanged", "[storage][container_format]") {
  std::vector<uint8_t> bad = Encode(GoldenRecord());
  bad[30] = static_cast<uint8_t>(bad[30] ^ 1);
  RecordHeader r = GoldenRecord();
  r.segment_id = crypto::SegmentId(5);
  RecordHeader before = r;
  CHECK(absl::IsDataLoss(r.DecodeFrom(bad)));
  CHECK(r == before);
}

TEST_CASE("a zeroed header is data loss", "[storage][container_format]") {
  CHECK(absl::IsDataLoss(DecodeHeader(std::vector<uint8_t>(kContainerHeaderSize, 0))));
  CHECK(absl::IsDataLoss(DecodeRecord(std::vector<uint8_t>(kRecordHeaderSize, 0))));
}

TEST_CASE("a file that is not a container is data loss naming the bad magic",
          "[storage][container_format]") {
  std::vector<uint8_t> record_not_file = Encode(GoldenRecord());
  absl::Status status = DecodeHeader(record_not_file);
  CHECK(absl::IsDataLoss(status));
  CHECK(status.message().find("magic") != absl::string_view::npos);
  std::vector<uint8_t> file_not_record = Encode(GoldenHeader());
  file_not_record.resize(kRecordHeaderSize + 10, 0);
  absl::Status record_status = DecodeRecord(file_not_record);
  CHECK(absl::IsDataLoss(record_status));
  CHECK(record_status.message().find("magic") != absl::string_view::npos);
}

TEST_CASE("a newer format version with a valid checksum is refused as a failed precondition",
          "[storage][container_format]") {
  ContainerHeader newer = GoldenHeader();
  newer.format_version = magic::kContainerFormatNewest + 1;
  absl::Status status = DecodeHeader(Encode(newer));
  CHECK(absl::IsFailedPrecondition(status));
  CHECK(status.message().find("newer") != absl::string_view::npos);
}

TEST_CASE("format version 0 is data loss", "[storage][container_format]") {
  ContainerHeader zero = GoldenHeader();
  zero.format_version = 0;
  CHECK(absl::IsDataLoss(DecodeHeader(Encode(zero))));
}

TEST_CASE("an oversized length field is data loss even with a valid header checksum",
          "[storage][container_format]") {
  RecordHeader big = GoldenRecord();
  big.compression = Compression::kRaw;
  big.plaintext_length = kMaxPlaintextLength + 1;
  big.stored_length = kMaxStoredLength + 1;
  CHECK(absl::IsDataLoss(DecodeRecord(Encode(big))));
  big.stored_length = 0xFFFFFFFF;
  CHECK(absl::IsDataLoss(DecodeRecord(Encode(big))));
}

TEST_CASE("an unknown record type or compression is data loss", "[storage][container_format]") {
  RecordHeader type = GoldenRecord();
  type.type = static_cast<RecordType>(9);
  CHECK(absl::IsDataLoss(DecodeRecord(Encode(type))));
  RecordHeader compression = GoldenRecord();
  compression.compression = static_cast<Compression>(2);
  CHECK(absl::IsDataLoss(DecodeRecord(Encode(compression))));
}

TEST_CASE("records outside the format's limits are invalid arguments to a writer",
          "[storage][container_format]") {
  CHECK(GoldenRecord().Validate().ok());
  RecordHeader empty = GoldenRecord();
  empty.compression = Compression::kRaw;
  empty.plaintext_length = empty.stored_length = 0;
  CHECK(absl::IsInvalidArgument(empty.Validate()));
  RecordHeader raw_mismatch = GoldenRecord();
  raw_mismatch.compression = Compression::kRaw;
  CHECK(absl::IsInvalidArgument(raw_mismatch.Validate()));
  RecordHeader zstd_grows = GoldenRecord();
  zstd_grows.stored_length = zstd_grows.plaintext_length;
  CHECK(absl::IsInvalidArgument(zstd_grows.Validate()));
  RecordHeader huge = GoldenRecord();
  huge.plaintext_length = kMaxPlaintextLength + 1;
  CHECK(absl::IsInvalidArgument(huge.Validate()));
  // And a checksum-valid header with such fields is data loss to a reader.
  CHECK(absl::IsDataLoss(DecodeRecord(Encode(raw_mismatch))));
  CHECK(absl::IsDataLoss(DecodeRecord(Encode(zstd_grows))));
}

TEST_CASE("compression algorithms have names for messages", "[storage][container_format]") {
  CHECK(CompressionName(Compression::kRaw) == "raw");
  CHECK(CompressionName(Compression::kZstd) == "zstd");
  CHECK(CompressionName(static_cast<Compression>(7)) == "unknown(7)");
}

}  // namespace
}  // namespace sealpool::storage
