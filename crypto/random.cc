#include "crypto/random.h"

#include <openssl/rand.h>
#include <pthread.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>

#include "absl/strings/str_cat.h"
#include "crypto/openssl_util_internal.h"
#include "crypto/random_internal.h"

namespace sealpool::crypto {
namespace {

// RAND_*bytes take an int count; larger requests are served in pieces.
constexpr size_t kMaxPiece = size_t{1} << 30;

template <int (*Fill)(unsigned char*, int)>
absl::Status FillFromDrbg(std::span<uint8_t> out, const char* what) {
  while (!out.empty()) {
    const size_t n = std::min(out.size(), kMaxPiece);
    if (Fill(out.data(), static_cast<int>(n)) != 1) return internal::OpenSslError(what);
    out = out.subspan(n);
  }
  return absl::OkStatus();
}

// Bumped in the child after every fork(); a buffer filled under another value is stale.
std::atomic<uint64_t> fork_generation{0};

void OnForkChild() { fork_generation.fetch_add(1, std::memory_order_relaxed); }

// Whether fork_generation is maintained; without it the buffer is bypassed.
bool ForkTracked() {
  static const bool registered = pthread_atfork(nullptr, nullptr, &OnForkChild) == 0;
  return registered;
}

struct RandomBuffer {
  std::array<uint8_t, internal::kRandomBufferSize> bytes{};
  size_t next = internal::kRandomBufferSize;  // bytes[next..] not handed out yet
  uint64_t generation = 0;
};

thread_local RandomBuffer random_buffer;

}  // namespace

absl::Status RandomBytes(std::span<uint8_t> out) {
  return FillFromDrbg<RAND_bytes>(out, "RAND_bytes");
}

absl::Status PrivateRandomBytes(std::span<uint8_t> out) {
  return FillFromDrbg<RAND_priv_bytes>(out, "RAND_priv_bytes");
}

namespace internal {

absl::Status BufferedRandomBytes(std::span<uint8_t> out) {
  if (out.size() > kRandomBufferSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "BufferedRandomBytes: ", out.size(), " bytes requested, at most ", kRandomBufferSize));
  }
  if (!ForkTracked()) return RandomBytes(out);
  RandomBuffer& buffer = random_buffer;
  const uint64_t generation = fork_generation.load(std::memory_order_relaxed);
  if (buffer.generation != generation || buffer.bytes.size() - buffer.next < out.size()) {
    buffer.next = buffer.bytes.size();  // nothing usable until the refill succeeds
    if (absl::Status s = RandomBytes(buffer.bytes); !s.ok()) return s;
    buffer.next = 0;
    buffer.generation = generation;
  }
  std::span<uint8_t> take = std::span<uint8_t>(buffer.bytes).subspan(buffer.next, out.size());
  std::copy(take.begin(), take.end(), out.begin());
  std::fill(take.begin(), take.end(), uint8_t{0});
  buffer.next += out.size();
  return absl::OkStatus();
}

}  // namespace internal
}  // namespace sealpool::crypto
