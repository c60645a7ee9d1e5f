#include "kms/key_cache.h"

#include <algorithm>
#include <utility>

#include "kms/status_util.h"

namespace sealpool::kms {
namespace {

absl::StatusOr<crypto::SecretBytes> Copy(std::span<const uint8_t> bytes) {
  SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes out, crypto::SecretBytes::Allocate(bytes.size()));
  std::copy(bytes.begin(), bytes.end(), out.mutable_span().begin());
  return out;
}

}  // namespace

KeyCache::Key KeyCache::MakeKey(std::string_view group, std::string_view kek_id,
                                std::span<const uint8_t> blob) {
  Key key;
  key.reserve(group.size() + kek_id.size() + blob.size() + 2);
  key.append(group);
  key.push_back('\0');
  key.append(kek_id);
  key.push_back('\0');
  key.append(reinterpret_cast<const char*>(blob.data()), blob.size());
  return key;
}

absl::StatusOr<std::optional<crypto::SecretBytes>> KeyCache::Find(std::string_view group,
                                                                  std::string_view kek_id,
                                                                  std::span<const uint8_t> blob) {
  Key key = MakeKey(group, kek_id, blob);
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::optional<crypto::SecretBytes>();
  SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes copy, Copy(it->second.span()));
  return std::optional<crypto::SecretBytes>(std::move(copy));
}

absl::Status KeyCache::Insert(std::string_view group, std::string_view kek_id,
                              std::span<const uint8_t> blob, std::span<const uint8_t> secret) {
  if (capacity_ == 0) return absl::OkStatus();
  Key key = MakeKey(group, kek_id, blob);
  SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes copy, Copy(secret));
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = entries_.insert_or_assign(key, std::move(copy));
  if (inserted) order_.push_back(std::move(key));
  while (entries_.size() > capacity_) {
    entries_.erase(order_.front());
    order_.pop_front();
  }
  return absl::OkStatus();
}

void KeyCache::ForgetGroup(std::string_view group) {
  absl::MutexLock lock(&mu_);
  auto belongs = [&](const Key& k) {
    return k.size() > group.size() && k.compare(0, group.size(), group) == 0 &&
           k[group.size()] == '\0';
  };
  std::erase_if(entries_, [&](const auto& kv) { return belongs(kv.first); });
  order_.remove_if(belongs);
}

size_t KeyCache::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace sealpool::kms
