#include "crypto/secure_memory.h"

#include <openssl/crypto.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "crypto/secure_memory_internal.h"

namespace sealpool::crypto {
namespace {

using internal::kSecretArenaSize;
using internal::kSecretSlotSize;

std::string ErrnoText(int err) {
  char buf[128];
  // GNU strerror_r: returns a pointer to the message, which may or may not be `buf`.
  return strerror_r(err, buf, sizeof buf);
}

size_t PageSize() {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

std::atomic<void (*)(const std::string&)> mlock_handler{nullptr};
std::atomic<bool> mlock_reported{false};

// Reports the first failed mlock of the process (see SetMlockFailureHandler).
void ReportMlockFailure(int err, size_t size, const char* what) {
  if (mlock_reported.exchange(true)) return;
  rlimit limit{};
  std::string budget = "unknown";
  if (getrlimit(RLIMIT_MEMLOCK, &limit) == 0) {
    budget = limit.rlim_cur == RLIM_INFINITY ? "unlimited"
                                             : absl::StrCat(limit.rlim_cur, " bytes");
  }
  std::string message = absl::StrCat(
      "mlock of ", size, " bytes of ", what, " failed (", ErrnoText(err), "; RLIMIT_MEMLOCK ",
      budget, "): secrets may be swapped out to disk; raise the limit (systemd LimitMEMLOCK=, "
      "ulimit -l). Reported once per process, not per allocation");
  if (auto* handler = mlock_handler.load(); handler != nullptr) {
    handler(message);
  } else {
    std::fprintf(stderr, "warning: %s\n", message.c_str());
  }
}

struct Pages {
  uint8_t* data;
  bool locked;
};

// Maps `size` bytes (a multiple of the page size), excluded from core dumps and locked if the
// memlock budget allows.
absl::StatusOr<Pages> MapSecretPages(size_t size) {
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrCat("mmap of ", size, " bytes for secret memory failed: ", ErrnoText(errno)));
  }
  if (madvise(p, size, MADV_DONTDUMP) != 0) {
    int err = errno;
    munmap(p, size);
    return absl::InternalError(
        absl::StrCat("madvise(MADV_DONTDUMP) on secret memory failed: ", ErrnoText(err)));
  }
  // Best effort by contract: an unlocked buffer still works and reports locked() == false.
  bool locked = mlock(p, size) == 0;
  if (!locked) ReportMlockFailure(errno, size, "secret memory");
  return Pages{static_cast<uint8_t*>(p), locked};
}

void UnmapSecretPages(uint8_t* data, size_t size, bool locked) {
  if (locked) munlock(data, size);
  munmap(data, size);
}

// Hands out kSecretSlotSize-byte slots of locked, dump-excluded arenas. Arenas are never
// unmapped (the pool lives as long as the process), so slots can be released from static
// destructors too.
//
// Invariants: every slot in free_ is all zeros; free_.capacity() covers every slot of every
// arena, so Give never allocates.
class SecretPool {
 public:
  struct Slot {
    uint8_t* data;
    bool locked;
  };

  static SecretPool& Get() {
    static SecretPool* const pool = new SecretPool();  // never destroyed, on purpose
    return *pool;
  }

  absl::StatusOr<Slot> Take() {
    absl::MutexLock lock(&mu_);
    if (free_.empty()) {
      absl::StatusOr<Pages> pages = MapSecretPages(kSecretArenaSize);
      if (!pages.ok()) return pages.status();
      constexpr size_t kSlots = kSecretArenaSize / kSecretSlotSize;
      ++arenas_;
      if (!pages->locked) ++unlocked_arenas_;
      free_.reserve(arenas_ * kSlots);
      for (size_t i = kSlots; i > 0; --i) {
        free_.push_back({pages->data + (i - 1) * kSecretSlotSize, pages->locked});
      }
    }
    Slot slot = free_.back();
    free_.pop_back();
    ++in_use_;
    return slot;
  }

  // `slot` must be wiped already.
  void Give(Slot slot) {
    absl::MutexLock lock(&mu_);
    free_.push_back(slot);
    --in_use_;
  }

  internal::SecretPoolStats Stats() {
    absl::MutexLock lock(&mu_);
    return {arenas_, unlocked_arenas_, in_use_};
  }

 private:
  SecretPool() = default;

  absl::Mutex mu_;
  std::vector<Slot> free_ ABSL_GUARDED_BY(mu_);
  size_t arenas_ ABSL_GUARDED_BY(mu_) = 0;
  size_t unlocked_arenas_ ABSL_GUARDED_BY(mu_) = 0;
  size_t in_use_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

void SetMlockFailureHandler(void (*handler)(const std::string& message)) {
  mlock_handler.store(handler);
}

SecureHeapStart StartOpenSslSecureHeap() {
  static const SecureHeapStart result = [] {
    SecureHeapStart r;
    const int rc = CRYPTO_secure_malloc_init(kOpenSslSecureHeapSize,
                                             static_cast<int>(kOpenSslSecureHeapMinSize));
    const std::string sizes = absl::StrCat(kOpenSslSecureHeapSize / 1024, " KiB, blocks of ",
                                           kOpenSslSecureHeapMinSize, " bytes or more");
    if (rc == 0) {
      r.message = absl::StrCat(
          "OpenSSL secure heap (", sizes,
          ") could not be started; OpenSSL keeps HMAC key copies and TLS private keys in "
          "ordinary memory (sealpool's own keys stay in locked memory)");
    } else {
      r.started = true;
      r.locked = rc == 1;
      r.message = absl::StrCat("OpenSSL secure heap started: ", sizes,
                               rc == 1 ? ", locked and excluded from core dumps"
                                       : ", but mlock failed: its pages may be swapped out");
    }
    return r;
  }();
  return result;
}

void Wipe(std::span<uint8_t> bytes) {
  if (!bytes.empty()) OPENSSL_cleanse(bytes.data(), bytes.size());
}

absl::StatusOr<SecretBytes> SecretBytes::Allocate(size_t n) {
  if (n == 0) return SecretBytes();
  if (n <= kSecretSlotSize) {
    absl::StatusOr<SecretPool::Slot> slot = SecretPool::Get().Take();
    if (!slot.ok()) return slot.status();
    return SecretBytes(slot->data, n, kSecretSlotSize, slot->locked, /*pooled=*/true);
  }
  const size_t page = PageSize();
  if (n > SIZE_MAX - page) {
    return absl::InvalidArgumentError(absl::StrCat("secret buffer of ", n, " bytes is too large"));
  }
  const size_t capacity = (n + page - 1) / page * page;
  absl::StatusOr<Pages> pages = MapSecretPages(capacity);
  if (!pages.ok()) return pages.status();
  return SecretBytes(pages->data, n, capacity, pages->locked, /*pooled=*/false);
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(other.data_),
      size_(other.size_),
      capacity_(other.capacity_),
      locked_(other.locked_),
      pooled_(other.pooled_) {
  other.data_ = nullptr;
  other.size_ = 0;
  other.capacity_ = 0;
  other.locked_ = true;
  other.pooled_ = false;
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = other.data_;
    size_ = other.size_;
    capacity_ = other.capacity_;
    locked_ = other.locked_;
    pooled_ = other.pooled_;
    other.data_ = nullptr;
    other.size_ = 0;
    other.capacity_ = 0;
    other.locked_ = true;
    other.pooled_ = false;
  }
  return *this;
}

SecretBytes::~SecretBytes() { Release(); }

void SecretBytes::Release() {
  if (data_ == nullptr) return;
  OPENSSL_cleanse(data_, capacity_);
  if (pooled_) {
    SecretPool::Get().Give({data_, locked_});
  } else {
    UnmapSecretPages(data_, capacity_, locked_);
  }
  data_ = nullptr;
  size_ = 0;
  capacity_ = 0;
  locked_ = true;
  pooled_ = false;
}

namespace internal {
SecretPoolStats GetSecretPoolStats() { return SecretPool::Get().Stats(); }
void ResetMlockReportForTest() { mlock_reported.store(false); }
}  // namespace internal

}  // namespace sealpool::crypto
