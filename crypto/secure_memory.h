// Memory for secrets: SecretBytes, a fixed-size buffer of key material that is
//   - page-locked with mlock (best effort: if the RLIMIT_MEMLOCK budget is spent the buffer
//     still works and locked() says false),
//   - excluded from core dumps (madvise MADV_DONTDUMP on its pages),
//   - wiped with OPENSSL_cleanse before its memory is released or reused,
//   - never copied: SecretBytes is move-only, and a move hands over the buffer itself.
//
// Small buffers (up to internal::kSecretSlotSize bytes: every key, every wrapped key) are
// carved out of locked, dump-excluded 64 KiB arenas that are never returned to the system, so
// creating a DEK costs no system call; larger buffers get pages of their own.
//
//   SEALPOOL_ASSIGN_OR_RETURN(SecretBytes secret, SecretBytes::Allocate(32));
//   SEALPOOL_RETURN_IF_ERROR(PrivateRandomBytes(secret.mutable_span()));
//
// Thread safety: Allocate and destruction may run on any threads at once. One SecretBytes is
// like a std::vector: concurrent const access is safe, mutation needs external locking.
#ifndef SEALPOOL_CRYPTO_SECURE_MEMORY_H_
#define SEALPOOL_CRYPTO_SECURE_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "absl/status/statusor.h"

namespace sealpool::crypto {

// A failed mlock (SecretBytes, and the secure heap below) is reported once per process, not per
// allocation: to `handler` if one is set (the daemons pass a function that logs a warning),
// else as one line on stderr. The message names the errno and the RLIMIT_MEMLOCK soft limit.
// Set it at start, before the first secret is allocated; not thread-safe against Allocate.
void SetMlockFailureHandler(void (*handler)(const std::string& message));

// OpenSSL's secure heap (CRYPTO_secure_malloc_init), for what OpenSSL itself keeps in "secure"
// memory: the copy of the key an HMAC context holds (the fingerprint and image-digest keys) and
// private-key BIGNUMs (the TLS keys). 1 MiB in blocks of at least 32 bytes, mlocked and
// excluded from core dumps by OpenSSL; once started, OpenSSL fails a secure allocation when it
// is full rather than falling back, hence the generous size (docs/security.md, "Key hygiene").
inline constexpr size_t kOpenSslSecureHeapSize = size_t{1} << 20;
inline constexpr size_t kOpenSslSecureHeapMinSize = 32;

struct SecureHeapStart {
  bool started = false;  // false: OpenSSL keeps using the ordinary heap (the process goes on)
  bool locked = false;   // the heap's pages are mlocked
  std::string message;   // one line for the daemon's log
};
// Starts it, once per process (later calls return the first result). Called by the daemons
// first thing in main.
SecureHeapStart StartOpenSslSecureHeap();

// Overwrites `bytes` with zeros in a way the compiler cannot optimise away (OPENSSL_cleanse).
void Wipe(std::span<uint8_t> bytes);

class SecretBytes {
 public:
  // An empty buffer (size 0), also the state of a moved-from SecretBytes.
  SecretBytes() = default;

  // A zero-filled buffer of `n` bytes (n may be 0). ResourceExhausted if the system refuses
  // the memory. A failed mlock is not an error: see locked().
  [[nodiscard]] static absl::StatusOr<SecretBytes> Allocate(size_t n);

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;  // wipes and releases this buffer first
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();  // wipes, then releases

  std::span<uint8_t> mutable_span() { return {data_, size_}; }
  std::span<const uint8_t> span() const { return {data_, size_}; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Whether the pages holding this buffer are locked in RAM (mlock succeeded). An empty
  // buffer reports true: it holds nothing that could be swapped out.
  bool locked() const { return locked_; }

 private:
  SecretBytes(uint8_t* data, size_t size, size_t capacity, bool locked, bool pooled)
      : data_(data), size_(size), capacity_(capacity), locked_(locked), pooled_(pooled) {}

  void Release();

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;  // bytes actually reserved (slot or whole pages); all wiped on release
  bool locked_ = true;
  bool pooled_ = false;  // from the small-secret arenas rather than pages of its own
};

}  // namespace sealpool::crypto

#endif  // SEALPOOL_CRYPTO_SECURE_MEMORY_H_
