// RandomBytes / PrivateRandomBytes: fill every byte, never repeat.
#include "crypto/random.h"

#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <catch2/catch.hpp>
#include <cstdint>
#include <set>
#include <vector>

#include "crypto/random_internal.h"

namespace sealpool::crypto {
namespace {

using Fill = absl::Status (*)(std::span<uint8_t>);

TEST_CASE("random bytes differ between draws and cover the whole buffer", "[crypto][random]") {
  for (Fill fill : {&RandomBytes, &PrivateRandomBytes}) {
    std::vector<uint8_t> a(64, 0), b(64, 0);
    REQUIRE(fill(a).ok());
    REQUIRE(fill(b).ok());
    CHECK(a != b);
    // The last 16 bytes are filled too (all-zero by chance: 2^-128).
    CHECK(std::vector<uint8_t>(a.end() - 16, a.end()) != std::vector<uint8_t>(16, 0));
  }
}

TEST_CASE("a large random buffer has about half of its bits set", "[crypto][random]") {
  for (Fill fill : {&RandomBytes, &PrivateRandomBytes}) {
    std::vector<uint8_t> bytes(1 << 20);
    REQUIRE(fill(bytes).ok());
    uint64_t ones = 0;
    for (uint8_t b : bytes) ones += static_cast<uint64_t>(std::popcount(b));
    const double fraction = static_cast<double>(ones) / (8.0 * static_cast<double>(bytes.size()));
    // 8 Mi bits: the standard deviation of the fraction is 0.00017; 0.005 is ~29 sigma.
    CHECK(fraction > 0.495);
    CHECK(fraction < 0.505);
  }
}

TEST_CASE("an empty random request succeeds", "[crypto][random]") {
  CHECK(RandomBytes({}).ok());
  CHECK(PrivateRandomBytes({}).ok());
}

TEST_CASE("buffered random bytes never repeat, across refills", "[crypto][random]") {
  std::set<std::vector<uint8_t>> seen;
  const size_t draws = 3 * internal::kRandomBufferSize / 12 + 5;
  for (size_t i = 0; i < draws; ++i) {
    std::vector<uint8_t> nonce(12);
    REQUIRE(internal::BufferedRandomBytes(nonce).ok());
    seen.insert(nonce);
  }
  CHECK(seen.size() == draws);
  std::vector<uint8_t> too_big(internal::kRandomBufferSize + 1);
  CHECK(internal::BufferedRandomBytes(too_big).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("a forked child never draws the parent's buffered random bytes", "[crypto][random]") {
  std::vector<uint8_t> warm(12);
  REQUIRE(internal::BufferedRandomBytes(warm).ok());  // the buffer now holds unused bytes
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::vector<uint8_t> child(12);
    const bool ok = internal::BufferedRandomBytes(child).ok() &&
                    write(fds[1], child.data(), child.size()) == 12;
    _exit(ok ? 0 : 1);
  }
  close(fds[1]);
  std::vector<uint8_t> parent(12), child(12);
  REQUIRE(internal::BufferedRandomBytes(parent).ok());
  REQUIRE(read(fds[0], child.data(), child.size()) == 12);
  close(fds[0]);
  int wstatus = 0;
  REQUIRE(waitpid(pid, &wstatus, 0) == pid);
  REQUIRE((WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0));
  CHECK(parent != child);
}

}  // namespace
}  // namespace sealpool::crypto
