// SegmentStream: chunk + fingerprint in one pass, identical however the stream is read.
#include "storage/chunking/chunk_stream.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

#include "crypto/fingerprint.h"
#include "crypto/keys.h"
#include "test/test_util.h"

namespace sealpool::storage {
namespace {

struct Seen {
  uint64_t offset;
  std::vector<uint8_t> data;
  crypto::Fingerprint fingerprint;
};

ChunkerParams SmallParams() {
  ChunkerParams params;
  params.min_size = 256;
  params.avg_size = 1024;
  params.max_size = 4096;
  return params;
}

crypto::FingerprintKey KeyFromSeed(uint64_t seed) {
  auto bytes = test::PseudoRandomBytes(crypto::FingerprintKey::kSize, seed);
  auto key = crypto::FingerprintKey::FromBytes(bytes);
  REQUIRE(key.ok());
  return std::move(*key);
}

// Reads `input` through ChunkAndFingerprint in blocks of `block` bytes.
std::vector<Seen> Segments(const std::vector<uint8_t>& input, const crypto::FingerprintKey& key,
                           size_t block, const ChunkerParams& params = SmallParams()) {
  auto stream = SegmentStream::Create(params, key);
  REQUIRE(stream.ok());
  size_t pos = 0;
  auto read = [&](std::span<uint8_t> out) -> absl::StatusOr<size_t> {
    size_t n = std::min(out.size(), input.size() - pos);
    std::copy_n(input.begin() + static_cast<std::ptrdiff_t>(pos), n, out.begin());
    pos += n;
    return n;
  };
  std::vector<Seen> seen;
  auto sink = [&](const StreamSegment& s) {
    seen.push_back({s.offset, {s.data.begin(), s.data.end()}, s.fingerprint});
    return absl::OkStatus();
  };
  REQUIRE(ChunkAndFingerprint(*stream, read, sink, block).ok());
  return seen;
}

TEST_CASE("segments tile the stream in order and carry the keyed fingerprint of their bytes",
          "[storage][chunk_stream]") {
  auto input = test::PseudoRandomBytes(200'000, 7);
  auto key = KeyFromSeed(1);
  auto seen = Segments(input, key, 4096);
  REQUIRE(seen.size() > 10);

  auto fingerprinter = crypto::Fingerprinter::Create(key);
  REQUIRE(fingerprinter.ok());
  uint64_t offset = 0;
  std::vector<uint8_t> joined;
  for (const Seen& s : seen) {
    CHECK(s.offset == offset);
    offset += s.data.size();
    joined.insert(joined.end(), s.data.begin(), s.data.end());
    auto expected = fingerprinter->Compute(s.data);
    REQUIRE(expected.ok());
    CHECK(s.fingerprint == *expected);
  }
  CHECK(joined == input);
}

TEST_CASE("segments match the chunker's own cuts", "[storage][chunk_stream]") {
  auto input = test::PseudoRandomBytes(300'000, 8);
  auto seen = Segments(input, KeyFromSeed(1), 65536);
  auto chunker = Chunker::Create(SmallParams());
  REQUIRE(chunker.ok());
  std::vector<size_t> lengths;
  auto collect = [&](std::span<const uint8_t> c) {
    lengths.push_back(c.size());
    return absl::OkStatus();
  };
  REQUIRE(chunker->Update(input, collect).ok());
  REQUIRE(chunker->Finish(collect).ok());
  REQUIRE(lengths.size() == seen.size());
  for (size_t i = 0; i < lengths.size(); ++i) CHECK(lengths[i] == seen[i].data.size());
}

TEST_CASE("the read block size never changes segments or fingerprints",
          "[storage][chunk_stream]") {
  auto input = test::PseudoRandomBytes(120'000, 9);
  auto key = KeyFromSeed(2);
  auto reference = Segments(input, key, input.size());
  for (size_t block : {size_t{1}, size_t{7}, size_t{255}, size_t{4096}, size_t{5000}}) {
    auto seen = Segments(input, key, block);
    REQUIRE(seen.size() == reference.size());
    for (size_t i = 0; i < seen.size(); ++i) {
      CHECK(seen[i].offset == reference[i].offset);
      CHECK(seen[i].fingerprint == reference[i].fingerprint);
    }
  }
}

TEST_CASE("another fingerprint key keeps the cuts and changes every fingerprint",
          "[storage][chunk_stream]") {
  auto input = test::PseudoRandomBytes(100'000, 10);
  auto a = Segments(input, KeyFromSeed(3), 8192);
  auto b = Segments(input, KeyFromSeed(4), 8192);
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].data == b[i].data);
    CHECK_FALSE(a[i].fingerprint == b[i].fingerprint);
  }
}

TEST_CASE("an empty stream yields no segment", "[storage][chunk_stream]") {
  CHECK(Segments({}, KeyFromSeed(5), 1024).empty());
}

TEST_CASE("a sink error stops the stream and is returned unchanged", "[storage][chunk_stream]") {
  auto input = test::PseudoRandomBytes(100'000, 11);
  auto stream = SegmentStream::Create(SmallParams(), KeyFromSeed(6));
  REQUIRE(stream.ok());
  int calls = 0;
  auto sink = [&](const StreamSegment&) {
    ++calls;
    return calls == 3 ? absl::ResourceExhaustedError("pool full") : absl::OkStatus();
  };
  absl::Status status = stream->Update(input, sink);
  CHECK(status.code() == absl::StatusCode::kResourceExhausted);
  CHECK(status.message() == "pool full");
  CHECK(calls == 3);
}

TEST_CASE("a reader error is returned and a reader overrun is refused", "[storage][chunk_stream]") {
  auto stream = SegmentStream::Create(SmallParams(), KeyFromSeed(7));
  REQUIRE(stream.ok());
  auto sink = [](const StreamSegment&) { return absl::OkStatus(); };
  auto failing = [](std::span<uint8_t>) -> absl::StatusOr<size_t> {
    return absl::DataLossError("client stream broken");
  };
  CHECK(ChunkAndFingerprint(*stream, failing, sink).code() == absl::StatusCode::kDataLoss);

  auto stream2 = SegmentStream::Create(SmallParams(), KeyFromSeed(7));
  REQUIRE(stream2.ok());
  auto overrun = [](std::span<uint8_t> out) -> absl::StatusOr<size_t> { return out.size() + 1; };
  CHECK(ChunkAndFingerprint(*stream2, overrun, sink).code() == absl::StatusCode::kInternal);
  CHECK(ChunkAndFingerprint(*stream2, overrun, sink, 0).code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("invalid chunking parameters are refused at creation", "[storage][chunk_stream]") {
  ChunkerParams params = SmallParams();
  params.min_size = params.max_size;
  CHECK(SegmentStream::Create(params, KeyFromSeed(8)).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace sealpool::storage
