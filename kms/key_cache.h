// The client's cache of unwrapped KEKs and fingerprint keys, in locked, wiped memory
// (crypto::SecretBytes). An entry is found by (key group, KEK id, wrapped blob): the exact blob
// the pool holds, so a changed blob is never answered from the cache.
//
// Bounded: beyond `capacity` entries the oldest inserted is dropped (and wiped). Thread-safe.
#ifndef SEALPOOL_KMS_KEY_CACHE_H_
#define SEALPOOL_KMS_KEY_CACHE_H_

#include <cstddef>
#include <list>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "crypto/secure_memory.h"

namespace sealpool::kms {

class KeyCache {
 public:
  explicit KeyCache(size_t capacity) : capacity_(capacity) {}

  // A copy (in new locked memory) of the cached secret, nullopt on a miss, or the allocation
  // error.
  absl::StatusOr<std::optional<crypto::SecretBytes>> Find(std::string_view group,
                                                          std::string_view kek_id,
                                                          std::span<const uint8_t> blob)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Caches a copy of `secret`.
  absl::Status Insert(std::string_view group, std::string_view kek_id,
                      std::span<const uint8_t> blob, std::span<const uint8_t> secret)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Drops every entry of `group` (after a shred or a purge).
  void ForgetGroup(std::string_view group) ABSL_LOCKS_EXCLUDED(mu_);
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  using Key = std::string;  // group \0 kek id \0 blob
  static Key MakeKey(std::string_view group, std::string_view kek_id,
                     std::span<const uint8_t> blob);

  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::map<Key, crypto::SecretBytes> entries_ ABSL_GUARDED_BY(mu_);
  std::list<Key> order_ ABSL_GUARDED_BY(mu_);  // insertion order, oldest first
};

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_KEY_CACHE_H_
