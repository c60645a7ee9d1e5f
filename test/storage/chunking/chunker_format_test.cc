// ChunkerParams: chunker format version 1's parameters, their bounds and their record.
#include "storage/chunking/chunker_format.h"

#include <catch2/catch.hpp>
#include <cstdint>
#include <vector>

#include "test/test_util.h"

namespace sealpool::storage {
namespace {

ChunkerParams Params(uint32_t min, uint32_t avg, uint32_t max, uint64_t seed = 0) {
  ChunkerParams params;
  params.min_size = min;
  params.avg_size = avg;
  params.max_size = max;
  params.seed = seed;
  return params;
}

std::vector<uint8_t> Encode(const ChunkerParams& params) {
  std::vector<uint8_t> out;
  params.EncodeTo(&out);
  return out;
}

absl::StatusCode DecodeCode(const std::vector<uint8_t>& record) {
  return ChunkerParams::DecodeFrom(record).status().code();
}

TEST_CASE("the default params are format version 1 with 16/64/256 KiB and seed 0",
          "[storage][chunker_format]") {
  ChunkerParams params;
  CHECK(params.version == 1);
  CHECK(kChunkerFormatVersion == 1);
  CHECK(params.min_size == 16384);
  CHECK(params.avg_size == 65536);
  CHECK(params.max_size == 262144);
  CHECK(params.seed == 0);
  CHECK(params.Validate().ok());
}

TEST_CASE("the masks are the top avg_bits+2 and avg_bits-2 bits", "[storage][chunker_format]") {
  ChunkerParams params;  // avg 2^16
  CHECK(params.avg_bits() == 16);
  CHECK(params.mask_s() == 0xffffc000u);  // 18 bits
  CHECK(params.mask_l() == 0xfffc0000u);  // 14 bits
  ChunkerParams smallest = Params(64, 256, 1024);
  CHECK(smallest.mask_s() == 0xffc00000u);  // 10 bits
  CHECK(smallest.mask_l() == 0xfc000000u);  // 6 bits
  ChunkerParams largest = Params(1 << 20, 8 << 20, 16 << 20);
  CHECK(largest.mask_s() == 0xffffff80u);  // 25 bits
  CHECK(largest.mask_l() == 0xfffff800u);  // 21 bits
  for (const ChunkerParams& p : {params, smallest, largest}) {
    CHECK((p.mask_l() & p.mask_s()) == p.mask_l());  // a mask_s hit is always a mask_l hit
  }
}

TEST_CASE("params at the edges of every bound are accepted", "[storage][chunker_format]") {
  CHECK(Params(64, 256, 257).Validate().ok());
  CHECK(Params(255, 256, 16 << 20).Validate().ok());
  CHECK(Params((8 << 20) - 1, 8 << 20, 16 << 20).Validate().ok());
  CHECK(Params(64, 256, 1024, ~uint64_t{0}).Validate().ok());  // any seed
}

TEST_CASE("every out-of-bounds param is refused with InvalidArgument",
          "[storage][chunker_format]") {
  struct Case {
    const char* what;
    ChunkerParams params;
  };
  ChunkerParams version0;
  version0.version = 0;
  const Case cases[] = {
      {"version 0", version0},
      {"min below 64", Params(63, 256, 1024)},
      {"min 0", Params(0, 256, 1024)},
      {"avg not a power of two", Params(1024, 65535, 262144)},
      {"avg 3 * 2^14", Params(1024, 3 << 14, 262144)},
      {"avg below 256", Params(64, 128, 1024)},
      {"avg above 8 MiB", Params(1 << 20, 16 << 20, 16 << 20)},
      {"max above 16 MiB", Params(1 << 20, 4 << 20, (16 << 20) + 1)},
      {"min equal to avg", Params(65536, 65536, 262144)},
      {"min above avg", Params(70000, 65536, 262144)},
      {"avg equal to max", Params(16384, 65536, 65536)},
      {"max below avg", Params(16384, 65536, 32768)},
  };
  for (const Case& c : cases) {
    INFO(c.what << ": " << c.params.ToString());
    absl::Status status = c.params.Validate();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK_FALSE(status.message().empty());
  }
}

TEST_CASE("a version newer than this build is refused as Unimplemented",
          "[storage][chunker_format]") {
  ChunkerParams params;
  params.version = 2;
  absl::Status status = params.Validate();
  CHECK(status.code() == absl::StatusCode::kUnimplemented);
  CHECK(std::string(status.message()).find("version 2") != std::string::npos);
}

TEST_CASE("the params record is 24 little-endian bytes, version first (golden)",
          "[storage][chunker_format]") {
  CHECK(test::ToHex(Encode(ChunkerParams{})) ==
        "01000000"            // version 1
        "00400000"            // min 16384
        "00000100"            // avg 65536
        "00000400"            // max 262144
        "0000000000000000");  // seed 0
  CHECK(test::ToHex(Encode(Params(0x11223344, 0x55667788, 0x99aabbcc, 0x0102030405060708))) ==
        "01000000"
        "44332211"
        "88776655"
        "ccbbaa99"
        "0807060504030201");
}

TEST_CASE("EncodeTo appends to what the buffer already holds", "[storage][chunker_format]") {
  std::vector<uint8_t> out = {0xaa, 0xbb};
  ChunkerParams{}.EncodeTo(&out);
  REQUIRE(out.size() == 2 + kChunkerParamsEncodedSize);
  CHECK(out[0] == 0xaa);
  CHECK(out[1] == 0xbb);
  CHECK(out[2] == 0x01);
}

TEST_CASE("valid params survive an encode/decode round trip", "[storage][chunker_format]") {
  for (const ChunkerParams& params :
       {ChunkerParams{}, Params(64, 256, 257), Params(256, 1024, 4096, 1),
        Params((8 << 20) - 1, 8 << 20, 16 << 20, ~uint64_t{0})}) {
    auto decoded = ChunkerParams::DecodeFrom(Encode(params));
    REQUIRE(decoded.ok());
    CHECK(*decoded == params);
  }
}

TEST_CASE("a record shorter than its version field is refused", "[storage][chunker_format]") {
  CHECK(DecodeCode({}) == absl::StatusCode::kInvalidArgument);
  CHECK(DecodeCode({0x01, 0x00, 0x00}) == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a truncated or oversized version 1 record is refused", "[storage][chunker_format]") {
  std::vector<uint8_t> record = Encode(ChunkerParams{});
  for (size_t size : {size_t{4}, size_t{12}, kChunkerParamsEncodedSize - 1}) {
    INFO("size " << size);
    CHECK(DecodeCode({record.begin(), record.begin() + static_cast<std::ptrdiff_t>(size)}) ==
          absl::StatusCode::kInvalidArgument);
  }
  std::vector<uint8_t> longer = record;
  longer.push_back(0);
  CHECK(DecodeCode(longer) == absl::StatusCode::kInvalidArgument);
  longer.resize(1000);
  CHECK(DecodeCode(longer) == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a record of a future version is refused as Unimplemented whatever its size",
          "[storage][chunker_format]") {
  std::vector<uint8_t> record = Encode(ChunkerParams{});
  record[0] = 2;
  CHECK(DecodeCode(record) == absl::StatusCode::kUnimplemented);
  record.resize(40);  // a v2 record may be longer
  CHECK(DecodeCode(record) == absl::StatusCode::kUnimplemented);
  record = {0xff, 0xff, 0xff, 0xff};
  CHECK(DecodeCode(record) == absl::StatusCode::kUnimplemented);
}

TEST_CASE("a record with version 0 or invalid sizes is refused as InvalidArgument",
          "[storage][chunker_format]") {
  std::vector<uint8_t> zero_version = Encode(ChunkerParams{});
  zero_version[0] = 0;
  CHECK(DecodeCode(zero_version) == absl::StatusCode::kInvalidArgument);

  auto bad_sizes = ChunkerParams::DecodeFrom(Encode(Params(65536, 65536, 262144)));
  CHECK(bad_sizes.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(bad_sizes.status().message()).find("min_size < avg_size") != std::string::npos);

  std::vector<uint8_t> flipped = Encode(ChunkerParams{});
  flipped[9] ^= 0x01;  // avg 65536 -> 65792, not a power of two
  CHECK(DecodeCode(flipped) == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("ToString names every field", "[storage][chunker_format]") {
  CHECK(Params(256, 1024, 4096, 7).ToString() == "v1 min=256 avg=1024 max=4096 seed=7");
}

}  // namespace
}  // namespace sealpool::storage
