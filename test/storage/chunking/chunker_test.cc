// Chunker: the cut rule of chunker format version 1 (against a plain re-statement of it and a
// pinned golden), streaming, size rules, locality, and every vector path against the portable
// one, bit for bit: storage/chunker_avx2.cc ("avx2: ..." cases) and storage/chunker_avx512.cc
// ("avx512: ..." cases), each skipped where the CPU lacks the instructions.
#include "storage/chunking/chunker.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "storage/chunking/chunker_format.h"
#include "storage/chunking/chunker_internal.h"
#include "storage/chunking/gear_table.h"
#include "test/test_util.h"

namespace sealpool::storage {
namespace {

using Bytes = std::vector<uint8_t>;
using Lengths = std::vector<size_t>;

ChunkerParams Params(uint32_t min, uint32_t avg, uint32_t max, uint64_t seed = 0) {
  ChunkerParams params;
  params.min_size = min;
  params.avg_size = avg;
  params.max_size = max;
  params.seed = seed;
  return params;
}

ChunkerParams SmallParams() { return Params(256, 1024, 4096); }
// Cut candidates every few hundred bytes: stresses the order in which candidates are taken.
ChunkerParams DenseParams() { return Params(64, 256, 1024); }
ChunkerParams LargeParams() { return Params(256 << 10, 1 << 20, 4 << 20); }

// The cut rule as docs/chunking.md states it, as plainly as possible: the hash of a position is
// the 32-term sum over its window, computed afresh for every position. Shares nothing with the
// chunker but the gear table (pinned by gear_table_test).
Lengths ReferenceLengths(const ChunkerParams& p, std::span<const uint8_t> data) {
  const GearTable table = MakeGearTable(p.seed);
  const int bits = std::countr_zero(p.avg_size);
  const uint32_t mask_s = ~uint32_t{0} << (32 - (bits + 2));
  const uint32_t mask_l = ~uint32_t{0} << (32 - (bits - 2));
  auto hash = [&](size_t i) {
    uint32_t h = 0;
    for (uint32_t k = 0; k < 32; ++k) h += table[data[i - k]] << k;
    return h;
  };
  Lengths out;
  size_t start = 0;
  while (start < data.size()) {
    const size_t left = data.size() - start;
    size_t n = std::min<size_t>(p.max_size, left);
    for (size_t len = p.min_size; len < p.max_size && len <= left; ++len) {
      const uint32_t mask = len < p.avg_size ? mask_s : mask_l;
      if ((hash(start + len - 1) & mask) == 0) {
        n = len;
        break;
      }
    }
    out.push_back(n);
    start += n;
  }
  return out;
}

Lengths LengthsOf(const ChunkerParams& params, std::span<const uint8_t> data,
                  ChunkerImpl impl = ChunkerImpl::kPortable) {
  auto lengths = ChunkLengths(params, data, impl);
  REQUIRE(lengths.ok());
  return *std::move(lengths);
}

// Feeds `data` to `chunker` in pieces of the sizes next_piece() returns (0 allowed) and returns
// the chunk lengths. Checks that the chunks tile the input and that bytes_consumed follows.
template <typename NextPiece>
Lengths StreamLengths(Chunker& chunker, std::span<const uint8_t> data, NextPiece next_piece) {
  Lengths lengths;
  size_t emitted = 0;
  bool tiles = true;
  auto sink = [&](std::span<const uint8_t> chunk) {
    tiles = tiles && emitted + chunk.size() <= data.size() &&
            std::equal(chunk.begin(), chunk.end(), data.begin() + static_cast<ptrdiff_t>(emitted));
    emitted += chunk.size();
    lengths.push_back(chunk.size());
    return absl::OkStatus();
  };
  size_t pos = 0;
  bool consumed_ok = true;
  while (pos < data.size()) {
    const size_t n = std::min(next_piece(), data.size() - pos);
    absl::Status status = chunker.Update(data.subspan(pos, n), sink);
    if (!status.ok()) FAIL("Update: " << status);
    pos += n;
    consumed_ok = consumed_ok && chunker.bytes_consumed() == pos;
  }
  REQUIRE(chunker.Finish(sink).ok());
  CHECK(consumed_ok);
  CHECK(tiles);
  CHECK(emitted == data.size());
  CHECK(chunker.bytes_consumed() == 0);  // Finish starts a new stream
  return lengths;
}

Chunker MakeChunker(const ChunkerParams& params, ChunkerImpl impl) {
  auto chunker = Chunker::Create(params, impl);
  REQUIRE(chunker.ok());
  return *std::move(chunker);
}

void RequireImpl(ChunkerImpl impl) {
  if (impl == ChunkerImpl::kAvx2 && !CpuHasAvx2()) test::SkipTest("this CPU has no AVX2");
  if (impl == ChunkerImpl::kAvx512 && !CpuHasAvx512Vbmi()) {
    test::SkipTest("this CPU has no AVX-512 F/BW/VBMI");
  }
}

Bytes Repeat(std::initializer_list<uint8_t> pattern, size_t size) {
  Bytes out(size);
  for (size_t i = 0; i < size; ++i) out[i] = std::data(pattern)[i % pattern.size()];
  return out;
}

// Regular files under `roots`, in sorted path order, concatenated up to `cap` bytes.
Bytes RealFiles(size_t cap) {
  Bytes out;
  for (const char* root : {"/usr/share/common-licenses", "/usr/include"}) {
    std::vector<std::filesystem::path> paths;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
      if (entry.is_regular_file() && !entry.is_symlink()) paths.push_back(entry.path());
    }
    std::sort(paths.begin(), paths.end());
    for (const auto& path : paths) {
      std::ifstream in(path, std::ios::binary);
      out.insert(out.end(), std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
      if (out.size() >= cap) {
        out.resize(cap);
        return out;
      }
    }
  }
  FAIL("only " << out.size()
               << " bytes of files under /usr/share/common-licenses and "
                  "/usr/include; the test wants "
               << cap);
  return out;
}

// Sizes around every boundary of `p`, and a few large ones.
std::vector<size_t> InterestingSizes(const ChunkerParams& p) {
  std::vector<size_t> sizes = {0, 1, 31, 32, 33, 63, 64, 65, 1000};
  for (size_t s : {size_t{p.min_size}, size_t{p.avg_size}, size_t{p.max_size}}) {
    sizes.insert(sizes.end(), {s - 1, s, s + 1});
  }
  sizes.insert(sizes.end(), {size_t{p.min_size} + p.max_size, 3 * size_t{p.max_size} + 17});
  return sizes;
}

// ---- The cut rule (portable path) ----

TEST_CASE("the portable path cuts exactly where the written rule says", "[storage][chunker]") {
  for (const ChunkerParams& params : {SmallParams(), DenseParams(), Params(256, 1024, 4096, 1)}) {
    INFO(params.ToString());
    Bytes data = test::PseudoRandomBytes(1 << 20, params.seed + 11);
    CHECK(LengthsOf(params, data) == ReferenceLengths(params, data));
  }
  Bytes data = test::PseudoRandomBytes(3 << 20, 12);
  CHECK(LengthsOf(ChunkerParams{}, data) == ReferenceLengths(ChunkerParams{}, data));
}

TEST_CASE("the portable path follows the written rule on real files and patterns",
          "[storage][chunker]") {
  Bytes files = RealFiles(2 << 20);
  CHECK(LengthsOf(ChunkerParams{}, files) == ReferenceLengths(ChunkerParams{}, files));
  CHECK(LengthsOf(SmallParams(), files) == ReferenceLengths(SmallParams(), files));
  for (const Bytes& pattern : {Repeat({0x00}, 300'000), Repeat({0xff}, 300'000),
                               Repeat({'a', 'b'}, 300'000), Repeat({1, 2, 3}, 300'000)}) {
    CHECK(LengthsOf(DenseParams(), pattern) == ReferenceLengths(DenseParams(), pattern));
    CHECK(LengthsOf(SmallParams(), pattern) == ReferenceLengths(SmallParams(), pattern));
  }
}

// PseudoRandomBytes(4 MiB, 42) with the default params, and (64 KiB, 7) with min 256, avg 1024,
// max 4096 and gear seed 1; computed independently from docs/chunking.md (Python).
TEST_CASE("the cuts of a fixed input are pinned (golden)", "[storage][chunker][golden]") {
  const Lengths kDefaultGolden = {
      72783,  78726, 96623,  66842, 85905,  73335,  69142, 66632, 84788, 76504,  67600,
      100897, 76990, 53153,  70734, 104625, 114544, 98133, 67429, 69730, 107556, 82932,
      68552,  69163, 45517,  73273, 98442,  121436, 69949, 94820, 83934, 77545,  98325,
      76112,  85967, 125129, 70718, 105142, 84271,  97761, 76703, 83036, 69097,  78663,
      104329, 65592, 74459,  72063, 47052,  73623,  82779, 35249};
  const Lengths kSmallSeed1Golden = {
      1041, 1213, 1237, 1412, 1229, 582,  1317, 1229, 1421, 690,  1272, 899,  1344, 1643,
      1101, 1039, 1256, 1046, 1200, 1145, 1553, 1041, 1306, 1469, 303,  1147, 1442, 1046,
      1149, 1237, 1995, 1319, 2406, 1153, 1042, 1142, 1132, 1508, 1375, 1089, 1593, 1658,
      1496, 301,  1320, 1464, 1077, 383,  1082, 1148, 1203, 1199, 1067, 1068, 307};
  Bytes big = test::PseudoRandomBytes(4 << 20, 42);
  Bytes small = test::PseudoRandomBytes(64 << 10, 7);
  for (ChunkerImpl impl : {ChunkerImpl::kAuto, ChunkerImpl::kPortable}) {
    INFO("impl " << ChunkerImplName(impl));
    INFO("if this fails, chunker format version 1 changed: cuts differ from the pinned ones");
    CHECK(LengthsOf(ChunkerParams{}, big, impl) == kDefaultGolden);
    CHECK(LengthsOf(Params(256, 1024, 4096, 1), small, impl) == kSmallSeed1Golden);
  }
}

TEST_CASE("no input gives no chunk", "[storage][chunker]") {
  Chunker chunker = MakeChunker(ChunkerParams{}, ChunkerImpl::kPortable);
  CHECK(chunker.FindChunkEnd({}, /*at_end=*/true) == 0);
  CHECK(chunker.FindChunkEnd({}, /*at_end=*/false) == 0);
  CHECK(LengthsOf(ChunkerParams{}, {}).empty());
  int calls = 0;
  auto sink = [&](std::span<const uint8_t>) {
    ++calls;
    return absl::OkStatus();
  };
  REQUIRE(chunker.Update({}, sink).ok());
  REQUIRE(chunker.Finish(sink).ok());
  CHECK(calls == 0);
}

TEST_CASE("FindChunkEnd asks for more data until a cut, max_size or the end",
          "[storage][chunker]") {
  const ChunkerParams params = SmallParams();
  Chunker chunker = MakeChunker(params, ChunkerImpl::kPortable);
  Bytes data = test::PseudoRandomBytes(1 << 16, 13);
  const size_t first = ReferenceLengths(params, data).front();
  REQUIRE(first < params.max_size);
  std::span<const uint8_t> all(data);
  // Shorter than the first cut: need more, unless at the end.
  CHECK(chunker.FindChunkEnd(all.first(first - 1), false) == 0);
  CHECK(chunker.FindChunkEnd(all.first(first - 1), true) == first - 1);
  CHECK(chunker.FindChunkEnd(all.first(100), false) == 0);
  CHECK(chunker.FindChunkEnd(all.first(100), true) == 100);
  // The cut is known as soon as its last byte is there.
  CHECK(chunker.FindChunkEnd(all.first(first), false) == first);
  CHECK(chunker.FindChunkEnd(all, false) == first);
  // Zeros never cut with the default table: max_size is known once max_size bytes are there.
  Bytes zeros(params.max_size, 0);
  CHECK(chunker.FindChunkEnd(std::span(zeros).first(params.max_size - 1), false) == 0);
  CHECK(chunker.FindChunkEnd(zeros, false) == params.max_size);
}

TEST_CASE("inputs up to min_size bytes are one chunk", "[storage][chunker]") {
  for (const ChunkerParams& params : {ChunkerParams{}, SmallParams(), DenseParams()}) {
    for (size_t size :
         {size_t{1}, size_t{63}, size_t{params.min_size} - 1, size_t{params.min_size}}) {
      Bytes data = test::PseudoRandomBytes(size, size);
      CHECK(LengthsOf(params, data) == Lengths{size});
    }
  }
}

// H over a run of one byte value c is -G[c] (mod 2^32) at every position: the whole window
// is c, and sum_k G[c] << k = G[c] * (2^32 - 1). So a run cuts every min_size bytes if that
// value passes mask_s, every avg_size bytes if it passes only mask_l, else every max_size bytes.
TEST_CASE("runs of one byte value cut at min, avg or max exactly as the rule predicts",
          "[storage][chunker]") {
  SECTION("zeros and 0xff with the default params give max_size chunks") {
    Bytes zeros(4 * 262144 + 5, 0x00);
    CHECK(LengthsOf(ChunkerParams{}, zeros) == Lengths{262144, 262144, 262144, 262144, 5});
    Bytes ones(4 * 262144 + 5, 0xff);
    CHECK(LengthsOf(ChunkerParams{}, ones) == Lengths{262144, 262144, 262144, 262144, 5});
  }
  SECTION("every byte value, with params where some values cut") {
    const ChunkerParams params = DenseParams();
    const GearTable& table = DefaultGearTable();
    int at_min = 0;
    int at_avg = 0;
    int at_max = 0;
    for (int c = 0; c < 256; ++c) {
      const uint32_t h = 0u - table[static_cast<size_t>(c)];
      size_t expected = params.max_size;
      if ((h & params.mask_s()) == 0) {
        expected = params.min_size;
        ++at_min;
      } else if ((h & params.mask_l()) == 0) {
        expected = params.avg_size;
        ++at_avg;
      } else {
        ++at_max;
      }
      Bytes run(10 * params.max_size, static_cast<uint8_t>(c));
      Lengths lengths = LengthsOf(params, run);
      INFO("byte " << c);
      CHECK(std::all_of(lengths.begin(), lengths.end(), [&](size_t n) { return n == expected; }));
    }
    // With the default table: 115, 185 and 242 pass the 6-bit mask_l, none the 10-bit mask_s.
    CHECK(at_min == 0);
    CHECK(at_avg == 3);
    CHECK(at_max == 253);
    for (int c : {115, 185, 242}) {
      CHECK(
          LengthsOf(params, Bytes(4096, static_cast<uint8_t>(c))) ==
          Lengths{256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256, 256});
    }
  }
}

TEST_CASE("a two-byte pattern cuts where the rule says", "[storage][chunker]") {
  // The hash alternates between two values, G[b] * 0x55555555 + G[a] * 0xaaaaaaaa and the
  // same with a and b swapped; neither passes the default masks for "ab".
  const GearTable& t = DefaultGearTable();
  const size_t a = 'a';
  const size_t b = 'b';
  const uint32_t h_ab = t[b] * 0x55555555u + t[a] * 0xaaaaaaaau;
  const uint32_t h_ba = t[a] * 0x55555555u + t[b] * 0xaaaaaaaau;
  Bytes ab = Repeat({'a', 'b'}, 1 << 20);
  CHECK(internal::WindowHash(t.data(), ab.data(), 1001) == h_ab);
  CHECK(internal::WindowHash(t.data(), ab.data(), 1000) == h_ba);
  ChunkerParams params;
  REQUIRE((h_ab & params.mask_l()) != 0);
  REQUIRE((h_ba & params.mask_l()) != 0);
  CHECK(LengthsOf(params, ab) == Lengths{262144, 262144, 262144, 262144});
}

// ---- Size rules ----

// The expected mean chunk length and its standard deviation on random data: a chunk passes
// length n (min <= n < max) with probability 1 - 2^-(bits of the mask for n).
std::pair<double, double> PredictedMeanAndSd(const ChunkerParams& p) {
  const double ps = std::ldexp(1.0, -(p.avg_bits() + 2));
  const double pl = std::ldexp(1.0, -(p.avg_bits() - 2));
  double survive = 1.0;  // P(length > n)
  double mean = 0;
  double second = 0;  // E[length^2] = sum (2n + 1) P(length > n)
  for (size_t n = 0; n < p.max_size; ++n) {
    if (n >= p.min_size) survive *= n < p.avg_size ? 1 - ps : 1 - pl;
    mean += survive;
    second += static_cast<double>(2 * n + 1) * survive;
  }
  return {mean, std::sqrt(second - mean * mean)};
}

TEST_CASE("64 MiB of random data: chunks within bounds, mean as predicted", "[storage][chunker]") {
  const ChunkerParams params;
  Bytes data = test::PseudoRandomBytes(64 << 20, 3);
  Lengths lengths = LengthsOf(params, data, ChunkerImpl::kAuto);
  REQUIRE(lengths.size() > 2);
  CHECK(*std::max_element(lengths.begin(), lengths.end()) <= params.max_size);
  CHECK(*std::min_element(lengths.begin(), lengths.end() - 1) >= params.min_size);

  auto [predicted, sd] = PredictedMeanAndSd(params);
  CHECK(predicted == Approx(74785).epsilon(0.001));  // docs/chunking.md
  const double mean = static_cast<double>(data.size()) / static_cast<double>(lengths.size());
  const double standard_error = sd / std::sqrt(static_cast<double>(lengths.size()));
  INFO("mean " << mean << ", predicted " << predicted << " +- " << standard_error);
  CHECK(std::abs(mean - predicted) <= 4 * standard_error);
}

TEST_CASE("every chunk but the last is at least min_size and none exceeds max_size",
          "[storage][chunker]") {
  Bytes files = RealFiles(4 << 20);
  for (const ChunkerParams& params :
       {ChunkerParams{}, SmallParams(), DenseParams(), LargeParams()}) {
    for (const Bytes* data : {&files}) {
      Lengths lengths = LengthsOf(params, *data, ChunkerImpl::kAuto);
      INFO(params.ToString());
      for (size_t i = 0; i < lengths.size(); ++i) {
        if (lengths[i] > params.max_size ||
            (i + 1 < lengths.size() && lengths[i] < params.min_size)) {
          FAIL("chunk " << i << " of " << lengths.size() << " has " << lengths[i] << " bytes");
        }
      }
    }
  }
}

// ---- Locality ----

size_t CommonPrefix(const Lengths& a, const Lengths& b) {
  return static_cast<size_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first -
                             a.begin());
}

// Equal lengths at the ends of a and b, not counting their first `skip` chunks.
size_t CommonSuffix(const Lengths& a, const Lengths& b, size_t skip) {
  const auto a_end = a.rend() - static_cast<ptrdiff_t>(std::min(skip, a.size()));
  const auto b_end = b.rend() - static_cast<ptrdiff_t>(std::min(skip, b.size()));
  return static_cast<size_t>(std::mismatch(a.rbegin(), a_end, b.rbegin(), b_end).first -
                             a.rbegin());
}

// Observed over 1,116 edits of random data (docs/chunking.md, "Locality"): 0-2 chunks change in
// 82% of cases; an edit that moves a cut can cascade over a few more before the two cut chains
// meet again (at most 9 seen).
TEST_CASE("an edit changes only the chunks around it", "[storage][chunker]") {
  const ChunkerParams params;
  Bytes original = test::PseudoRandomBytes(6 << 20, 21);
  const Lengths before = LengthsOf(params, original, ChunkerImpl::kAuto);
  REQUIRE(before.size() > 70);
  Bytes inserted = test::PseudoRandomBytes(7, 22);

  int edits = 0;
  int within_two = 0;
  size_t most_changed = 0;
  size_t end = 0;
  for (size_t k = 0; k < 60; k += 3) {
    end += before[k] + before[k + 1] + before[k + 2];
    // Just before a cut (the edit moves it), at a cut, and in the middle of a chunk.
    for (size_t at : {end - 10, end, end + before[k + 3] / 2}) {
      Bytes overwrite = original;
      for (size_t i = 0; i < 7; ++i) overwrite[at + i] ^= 0x5a;
      Bytes insert = original;
      insert.insert(insert.begin() + static_cast<ptrdiff_t>(at), inserted.begin(), inserted.end());
      Bytes erase = original;
      erase.erase(erase.begin() + static_cast<ptrdiff_t>(at),
                  erase.begin() + static_cast<ptrdiff_t>(at + 5));
      for (const Bytes* edited : {&overwrite, &insert, &erase}) {
        const Lengths after = LengthsOf(params, *edited, ChunkerImpl::kAuto);
        const size_t prefix = CommonPrefix(before, after);
        const size_t suffix = CommonSuffix(before, after, prefix);
        // Every chunk that ends before the edit is unchanged.
        size_t ends_before_edit = 0;
        for (size_t e = before[0]; e <= at; e += before[++ends_before_edit]) {
        }
        if (prefix < ends_before_edit) FAIL("a chunk before the edit at " << at << " changed");
        const size_t changed = std::max(before.size(), after.size()) - prefix - suffix;
        if (edited->size() != original.size() && changed == 0) FAIL("no chunk changed");
        most_changed = std::max(most_changed, changed);
        within_two += changed <= 2 ? 1 : 0;
        ++edits;
      }
    }
  }
  CHECK(edits == 180);
  CHECK(most_changed <= 10);
  CHECK(within_two >= edits * 3 / 4);
  INFO("edits " << edits << ", within two chunks " << within_two << ", most " << most_changed);
  CHECK(most_changed >= 1);
}

// ---- Streaming ----

TEST_CASE("a chunk wholly inside one Update is passed without copying", "[storage][chunker]") {
  Bytes data = test::PseudoRandomBytes(2 << 20, 31);
  Chunker chunker = MakeChunker(ChunkerParams{}, ChunkerImpl::kAuto);
  size_t in_place = 0;
  size_t total = 0;
  auto sink = [&](std::span<const uint8_t> chunk) {
    ++total;
    if (chunk.data() >= data.data() && chunk.data() + chunk.size() <= data.data() + data.size()) {
      ++in_place;
    }
    return absl::OkStatus();
  };
  REQUIRE(chunker.Update(data, sink).ok());
  CHECK(in_place == total);  // all but the tail, which Finish emits from the carry buffer
  REQUIRE(chunker.Finish(sink).ok());
  CHECK(in_place == total - 1);
}

TEST_CASE("Finish ends the stream and the Chunker cuts the next stream afresh",
          "[storage][chunker]") {
  Bytes a = test::PseudoRandomBytes(300'000, 32);
  Bytes b = test::PseudoRandomBytes(200'000, 33);
  Chunker chunker = MakeChunker(SmallParams(), ChunkerImpl::kPortable);
  CHECK(StreamLengths(chunker, a, [] { return size_t{1000}; }) == LengthsOf(SmallParams(), a));
  CHECK(StreamLengths(chunker, b, [] { return size_t{777}; }) == LengthsOf(SmallParams(), b));
}

TEST_CASE("Reset drops the carried bytes", "[storage][chunker]") {
  Bytes data = test::PseudoRandomBytes(100'000, 34);
  Chunker chunker = MakeChunker(SmallParams(), ChunkerImpl::kPortable);
  auto ignore = [](std::span<const uint8_t>) { return absl::OkStatus(); };
  REQUIRE(chunker.Update(std::span(data).first(100), ignore).ok());
  CHECK(chunker.bytes_consumed() == 100);
  chunker.Reset();
  CHECK(chunker.bytes_consumed() == 0);
  CHECK(StreamLengths(chunker, data, [] { return size_t{4096}; }) ==
        LengthsOf(SmallParams(), data));
}

TEST_CASE("a sink error stops Update, is returned unchanged and resets the stream",
          "[storage][chunker]") {
  Bytes data = test::PseudoRandomBytes(100'000, 35);
  Chunker chunker = MakeChunker(SmallParams(), ChunkerImpl::kPortable);
  int calls = 0;
  auto failing = [&](std::span<const uint8_t>) {
    ++calls;
    return calls == 3 ? absl::ResourceExhaustedError("pool full") : absl::OkStatus();
  };
  absl::Status status = chunker.Update(data, failing);
  CHECK(status.code() == absl::StatusCode::kResourceExhausted);
  CHECK(status.message() == "pool full");
  CHECK(calls == 3);
  CHECK(chunker.bytes_consumed() == 0);
  CHECK(StreamLengths(chunker, data, [] { return size_t{5000}; }) ==
        LengthsOf(SmallParams(), data));

  // The same from Finish, and from completing a carried chunk.
  auto always_fail = [](std::span<const uint8_t>) { return absl::DataLossError("disk"); };
  auto ok = [](std::span<const uint8_t>) { return absl::OkStatus(); };
  REQUIRE(chunker.Update(std::span(data).first(10), ok).ok());
  CHECK(chunker.Finish(always_fail).code() == absl::StatusCode::kDataLoss);
  CHECK(chunker.bytes_consumed() == 0);
  REQUIRE(chunker.Update(std::span(data).first(10), ok).ok());
  CHECK(chunker.Update(data, always_fail).code() == absl::StatusCode::kDataLoss);
  CHECK(chunker.bytes_consumed() == 0);
}

void CheckEverySplitGivesTheSameChunks(ChunkerImpl impl) {
  {
    const ChunkerParams params = SmallParams();
    Bytes data = test::PseudoRandomBytes(256 << 10, 41);
    const Lengths expected = LengthsOf(params, data);
    Chunker chunker = MakeChunker(params, impl);
    for (size_t piece = 1; piece <= 2048; ++piece) {
      if (StreamLengths(chunker, data, [piece] { return piece; }) != expected) {
        FAIL("pieces of " << piece << " bytes change the chunks");
      }
    }
  }
  std::mt19937_64 rng(42);
  for (const ChunkerParams& params : {SmallParams(), DenseParams(), ChunkerParams{}}) {
    INFO(params.ToString());
    Bytes data = test::PseudoRandomBytes(params.max_size >= (256 << 10) ? 12 << 20 : 2 << 20, 43);
    const Lengths expected = LengthsOf(params, data);
    Chunker chunker = MakeChunker(params, impl);
    const size_t max = params.max_size;
    // Random pieces (empty ones too) up to 3 * max_size; then fixed sizes around max_size.
    CHECK(StreamLengths(chunker, data, [&] { return static_cast<size_t>(rng() % (3 * max)); }) ==
          expected);
    CHECK(StreamLengths(chunker, data, [&] { return static_cast<size_t>(rng() % 100); }) ==
          expected);
    for (size_t piece : {max - 1, max, max + 1, size_t{1} << 20}) {
      CHECK(StreamLengths(chunker, data, [piece] { return piece; }) == expected);
    }
  }
}

TEST_CASE("portable: any split of the input into Updates gives the same chunks",
          "[storage][chunker][streaming]") {
  CheckEverySplitGivesTheSameChunks(ChunkerImpl::kPortable);
}

TEST_CASE("avx2: any split of the input into Updates gives the same chunks",
          "[storage][chunker][streaming][avx2]") {
  RequireImpl(ChunkerImpl::kAvx2);
  CheckEverySplitGivesTheSameChunks(ChunkerImpl::kAvx2);
}

TEST_CASE("avx512: any split of the input into Updates gives the same chunks",
          "[storage][chunker][streaming][avx512]") {
  RequireImpl(ChunkerImpl::kAvx512);
  CheckEverySplitGivesTheSameChunks(ChunkerImpl::kAvx512);
}

// ---- Vector paths against the portable path ----

void CheckRandomInputs(ChunkerImpl impl) {
  for (const ChunkerParams& params :
       {ChunkerParams{}, SmallParams(), DenseParams(), Params(256, 1024, 4096, 1),
        Params(2048, 8192, 65536), LargeParams()}) {
    for (uint64_t seed : {uint64_t{1}, uint64_t{2}}) {
      std::vector<size_t> sizes = InterestingSizes(params);
      sizes.push_back(params.max_size >= (1 << 20) ? 24 << 20 : 6 << 20);
      for (size_t size : sizes) {
        Bytes data = test::PseudoRandomBytes(size, seed * 1000 + size);
        INFO(params.ToString() << ", " << size << " random bytes, seed " << seed);
        CHECK(LengthsOf(params, data, impl) == LengthsOf(params, data));
      }
    }
  }
}

void CheckPrefixes(ChunkerImpl impl) {
  // FindChunkEnd on every prefix length of interest, not at the end: 0 or the same cut.
  for (const ChunkerParams& params : {ChunkerParams{}, SmallParams()}) {
    Chunker vector = MakeChunker(params, impl);
    Chunker portable = MakeChunker(params, ChunkerImpl::kPortable);
    Bytes data = test::PseudoRandomBytes(params.max_size + 100, 51);
    std::span<const uint8_t> all(data);
    bool same = true;
    for (size_t size = 0; size <= data.size(); size += size < 2 * params.min_size ? 61 : 997) {
      for (bool at_end : {false, true}) {
        same = same && vector.FindChunkEnd(all.first(size), at_end) ==
                           portable.FindChunkEnd(all.first(size), at_end);
      }
    }
    CHECK(same);
  }
}

void CheckPatternsAndFiles(ChunkerImpl impl) {
  Bytes files = RealFiles(8 << 20);
  std::vector<Bytes> inputs = {files, Repeat({0x00}, 3 << 20), Repeat({0xff}, 3 << 20),
                               Repeat({'a', 'b'}, 3 << 20),
                               Repeat({0x00, 0x00, 0x00, 0x01}, 3 << 20)};
  Bytes sparse(3 << 20, 0);
  for (size_t i = 0; i < sparse.size(); i += 997) sparse[i] = static_cast<uint8_t>(i * 31);
  inputs.push_back(std::move(sparse));
  for (int c = 1; c < 256; c += 17) inputs.push_back(Repeat({static_cast<uint8_t>(c)}, 1 << 20));
  for (const ChunkerParams& params :
       {ChunkerParams{}, SmallParams(), DenseParams(), Params(2048, 8192, 65536)}) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      INFO(params.ToString() << ", input " << i);
      CHECK(LengthsOf(params, inputs[i], impl) == LengthsOf(params, inputs[i]));
    }
  }
}

// White box: the scan entry point with masks chosen so that candidates (mask_l hits) are
// dense while blocks stay long (mask_s sets the block size), for many begin/end/switch points.
void CheckDenseCandidates(ChunkerImpl impl) {
  const internal::ScanFn scan =
      impl == ChunkerImpl::kAvx2 ? &internal::ScanAvx2 : &internal::ScanAvx512;
  const GearTable& table = DefaultGearTable();
  std::array<uint8_t, internal::kGearPlanesSize> planes;
  internal::MakeGearPlanes(table.data(), planes.data());
  Bytes data = test::PseudoRandomBytes(1 << 20, 61);
  std::mt19937_64 rng(7);
  int compared = 0;
  bool same = true;
  for (int mask_l_bits : {4, 6, 8, 10, 12, 14}) {
    for (int mask_s_bits : {mask_l_bits, mask_l_bits + 4, 20, 24}) {
      for (int trial = 0; trial < 12; ++trial) {
        internal::ScanArgs args;
        args.table = table.data();
        args.planes = planes.data();
        args.data = data.data();
        args.mask_s = ~uint32_t{0} << (32 - mask_s_bits);
        args.mask_l = ~uint32_t{0} << (32 - mask_l_bits);
        args.begin = 32 + rng() % 5000;
        args.end = std::min<size_t>(data.size(), args.begin + rng() % (600 << 10));
        args.switch_pos = args.begin + rng() % (400 << 10);
        const size_t expected = internal::ScanPortable(args);
        same = same && scan(args) == expected;
        ++compared;
      }
    }
  }
  CHECK(same);
  CHECK(compared == 288);
}

// The vector scan reads nothing outside data[begin - 32, end): buffers end (and start) at an
// inaccessible page, so a stray read crashes the test.
void CheckReadsStayInBounds(ChunkerImpl impl) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t span = 2 << 20;  // multiple of the page size
  const size_t total = span + 2 * page;
  void* mem = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(mem != MAP_FAILED);
  uint8_t* base = static_cast<uint8_t*>(mem);
  REQUIRE(mprotect(base, page, PROT_NONE) == 0);
  REQUIRE(mprotect(base + page + span, page, PROT_NONE) == 0);
  uint8_t* data = base + page;
  Bytes random = test::PseudoRandomBytes(span, 71);
  std::copy(random.begin(), random.end(), data);
  for (const ChunkerParams& params : {ChunkerParams{}, SmallParams(), LargeParams()}) {
    for (size_t size :
         {span, span - 1, span - 4095, size_t{params.max_size} - 1, size_t{params.max_size} + 3}) {
      if (size > span) continue;
      std::span<const uint8_t> tail(data + span - size, size);  // ends at the guard page
      std::span<const uint8_t> head(data, size);                // starts at the guard page
      CHECK(LengthsOf(params, tail, impl) == LengthsOf(params, tail));
      CHECK(LengthsOf(params, head, impl) == LengthsOf(params, head));
    }
  }
  REQUIRE(munmap(mem, total) == 0);
}

TEST_CASE("avx2: random inputs of every size around the bounds cut as the portable path",
          "[storage][chunker][avx2]") {
  RequireImpl(ChunkerImpl::kAvx2);
  CheckRandomInputs(ChunkerImpl::kAvx2);
  CheckPrefixes(ChunkerImpl::kAvx2);
}

TEST_CASE("avx2: real files and degenerate patterns cut as the portable path",
          "[storage][chunker][avx2]") {
  RequireImpl(ChunkerImpl::kAvx2);
  CheckPatternsAndFiles(ChunkerImpl::kAvx2);
}

TEST_CASE("avx2: the first candidate in position order wins when candidates are dense",
          "[storage][chunker][avx2]") {
  RequireImpl(ChunkerImpl::kAvx2);
  CheckDenseCandidates(ChunkerImpl::kAvx2);
}

TEST_CASE("avx2: the scan never reads outside the buffer", "[storage][chunker][avx2]") {
  RequireImpl(ChunkerImpl::kAvx2);
  CheckReadsStayInBounds(ChunkerImpl::kAvx2);
}

TEST_CASE("avx512: random inputs of every size around the bounds cut as the portable path",
          "[storage][chunker][avx512]") {
  RequireImpl(ChunkerImpl::kAvx512);
  CheckRandomInputs(ChunkerImpl::kAvx512);
  CheckPrefixes(ChunkerImpl::kAvx512);
}

TEST_CASE("avx512: real files and degenerate patterns cut as the portable path",
          "[storage][chunker][avx512]") {
  RequireImpl(ChunkerImpl::kAvx512);
  CheckPatternsAndFiles(ChunkerImpl::kAvx512);
}

TEST_CASE("avx512: the first candidate in position order wins when candidates are dense",
          "[storage][chunker][avx512]") {
  RequireImpl(ChunkerImpl::kAvx512);
  CheckDenseCandidates(ChunkerImpl::kAvx512);
}

TEST_CASE("avx512: the scan never reads outside the buffer", "[storage][chunker][avx512]") {
  RequireImpl(ChunkerImpl::kAvx512);
  CheckReadsStayInBounds(ChunkerImpl::kAvx512);
}

// ---- Creation ----

TEST_CASE("invalid params are refused by Create, FindChunkEnd and ChunkLengths",
          "[storage][chunker]") {
  ChunkerParams bad = SmallParams();
  bad.min_size = bad.max_size;
  Bytes data(10);
  CHECK(Chunker::Create(bad).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(FindChunkEnd(bad, data, true).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ChunkLengths(bad, data).status().code() == absl::StatusCode::kInvalidArgument);
  ChunkerParams future;
  future.version = 2;
  CHECK(Chunker::Create(future).status().code() == absl::StatusCode::kUnimplemented);
  CHECK(Chunker::Create(SmallParams(), static_cast<ChunkerImpl>(99)).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a vector path the CPU lacks is refused as FailedPrecondition", "[storage][chunker]") {
  auto avx2 = Chunker::Create(ChunkerParams{}, ChunkerImpl::kAvx2);
  CHECK(avx2.status().code() ==
        (CpuHasAvx2() ? absl::StatusCode::kOk : absl::StatusCode::kFailedPrecondition));
  auto avx512 = Chunker::Create(ChunkerParams{}, ChunkerImpl::kAvx512);
  CHECK(avx512.status().code() ==
        (CpuHasAvx512Vbmi() ? absl::StatusCode::kOk : absl::StatusCode::kFailedPrecondition));
}

TEST_CASE("kAuto picks AVX-512 when the CPU has it, else the portable path", "[storage][chunker]") {
  Chunker chunker = MakeChunker(ChunkerParams{}, ChunkerImpl::kAuto);
  CHECK(chunker.impl() == (CpuHasAvx512Vbmi() ? ChunkerImpl::kAvx512 : ChunkerImpl::kPortable));
  CHECK(std::string(ChunkerImplName(ChunkerImpl::kAuto)) == ChunkerImplName(chunker.impl()));
  CHECK(chunker.params() == ChunkerParams{});
}

TEST_CASE("the free FindChunkEnd agrees with a Chunker for any seed", "[storage][chunker]") {
  Bytes data = test::PseudoRandomBytes(1 << 20, 81);
  for (uint64_t seed : {uint64_t{0}, uint64_t{5}}) {
    ChunkerParams params = Params(256, 1024, 4096, seed);
    Chunker chunker = MakeChunker(params, ChunkerImpl::kAuto);
    auto free_end = FindChunkEnd(params, data, false);
    REQUIRE(free_end.ok());
    CHECK(*free_end == chunker.FindChunkEnd(data, false));
  }
  CHECK(LengthsOf(Params(256, 1024, 4096, 5), data) != LengthsOf(SmallParams(), data));
}

}  // namespace
}  // namespace sealpool::storage
