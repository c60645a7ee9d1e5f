// Helpers shared by the test binaries.
#ifndef SEALPOOL_TEST_TEST_UTIL_H_
#define SEALPOOL_TEST_TEST_UTIL_H_

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace sealpool::test {

// Ends the test binary with CTest's skip code after printing why. Use only where the test
// cannot run on this machine (an optional package is missing), never to hide a failure.
[[noreturn]] void SkipTest(std::string_view why);

// Decodes a hex string ("0a1B..."); aborts the test on malformed input.
std::vector<uint8_t> FromHex(std::string_view hex);
std::string ToHex(const std::vector<uint8_t>& bytes);

// Deterministic pseudo-random bytes (SplitMix64 stream from `seed`), for reproducible inputs.
std::vector<uint8_t> PseudoRandomBytes(size_t n, uint64_t seed);

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction,
// unless SEALPOOL_KEEP_TEST_DIRS is set (to look at a failed test's files and logs).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // path()/name as a string.
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The folder of checked-in test data (test/data).
std::filesystem::path TestDataDir();

}  // namespace sealpool::test

#endif  // SEALPOOL_TEST_TEST_UTIL_H_
