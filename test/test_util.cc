#include "test/test_util.h"

#include <cstdio>
#include <cstdlib>
#include <system_error>

#include <catch2/catch.hpp>

namespace sealpool::test {

void SkipTest(std::string_view why) {
  std::fprintf(stderr, "SKIPPED: %.*s\n", static_cast<int>(why.size()), why.data());
  std::fflush(stderr);
  std::exit(SEALPOOL_SKIP_RETURN_CODE);
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::vector<uint8_t> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    std::fprintf(stderr, "FromHex: odd length %zu\n", hex.size());
    std::abort();
  }
  std::vector<uint8_t> out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      std::fprintf(stderr, "FromHex: bad digit at %zu\n", 2 * i);
      std::abort();
    }
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return out;
}

std::string ToHex(const std::vector<uint8_t>& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

std::vector<uint8_t> PseudoRandomBytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> out(n);
  uint64_t state = seed;
  size_t i = 0;
  while (i < n) {
    state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    for (int k = 0; k < 8 && i < n; ++k, ++i) out[i] = static_cast<uint8_t>(z >> (8 * k));
  }
  return out;
}

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/sealpool-test-XXXXXX";
  REQUIRE(::mkdtemp(pattern.data()) != nullptr);
  path_ = pattern;
}

TempDir::~TempDir() {
  if (std::getenv("SEALPOOL_KEEP_TEST_DIRS") != nullptr) return;
  std::error_code ignored;  // Cleanup failure must not fail the test.
  std::filesystem::remove_all(path_, ignored);
}

std::filesystem::path TestDataDir() { return SEALPOOL_TEST_DATA_DIR; }

}  // namespace sealpool::test
