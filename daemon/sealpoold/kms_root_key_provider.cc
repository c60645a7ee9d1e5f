#include "daemon/sealpoold/kms_root_key_provider.h"

#include <utility>

#include "absl/status/status.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "kms/wrapped_key_format.h"

namespace sealpool::daemon {
namespace {

// The catalog keeps the root key id beside each blob (what rotation and re-wrap go by); the
// blob names its root key too. They must agree, else one of them was altered.
absl::Status CheckRootKeyId(std::string_view key_group, std::string_view key_id,
                            const storage::WrappedKey& wrapped) {
  SEALPOOL_ASSIGN_OR_RETURN(kms::WrappedKey parsed, kms::WrappedKey::Decode(wrapped.blob));
  if (parsed.root_key_id != wrapped.root_key_id) {
    return absl::DataLossError(base::Cat("wrapped ", key_id, " of key group ", key_group,
                                         ": the pool records root key \"", wrapped.root_key_id,
                                         "\", the blob names \"", parsed.root_key_id, "\""));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<storage::WrappedKey> KmsRootKeyProvider::Wrap(std::string_view key_group,
                                                             std::string_view key_id,
                                                             std::span<const uint8_t> secret) {
  const absl::Time start = absl::Now();
  SEALPOOL_ASSIGN_OR_RETURN(kms::WrappedSecret w,
                            Observed("wrap", start, client_->Wrap(key_group, key_id, secret)));
  return storage::WrappedKey{std::move(w.root_key_id), std::move(w.blob)};
}

absl::StatusOr<crypto::SecretBytes> KmsRootKeyProvider::Unwrap(
    std::string_view key_group, std::string_view key_id, const storage::WrappedKey& wrapped) {
  SEALPOOL_RETURN_IF_ERROR(CheckRootKeyId(key_group, key_id, wrapped));
  const absl::Time start = absl::Now();
  return Observed("unwrap", start, client_->Unwrap(key_group, key_id, wrapped.blob));
}

absl::StatusOr<crypto::SecretBytes> KmsRootKeyProvider::UnwrapForRewrap(
    std::string_view key_group, std::string_view key_id, const storage::WrappedKey& wrapped) {
  SEALPOOL_RETURN_IF_ERROR(CheckRootKeyId(key_group, key_id, wrapped));
  const absl::Time start = absl::Now();
  return Observed("unwrap-for-rewrap", start, client_->UnwrapForRewrap(key_group, key_id, wrapped.blob));
}

std::vector<kms::KekUsageEntry> KekUsageOf(std::span<const storage::WrappedKeyRef> refs) {
  std::vector<kms::KekUsageEntry> usage;
  usage.reserve(refs.size());
  for (const storage::WrappedKeyRef& r : refs) {
    usage.push_back({r.key_id, r.root_key_id, r.public_key_sha256});
  }
  return usage;
}

absl::StatusOr<std::string> KmsRootKeyProvider::ActiveRootKeyId(std::string_view key_group) {
  const absl::Time start = absl::Now();
  SEALPOOL_ASSIGN_OR_RETURN(kms::ActiveRootKey active,
                            Observed("active-root-key", start, client_->GetActiveRootKey(key_group)));
  return std::move(active.root_key_id);
}

absl::StatusOr<storage::PurgeKeyCheck> KmsRootKeyProvider::CheckPurge(
    std::string_view key_group) {
  absl::StatusOr<kms::KmsClient::PurgeCheck> c = client_->CheckPurge(key_group);
  if (!c.ok()) return c.status();
  return storage::PurgeKeyCheck{std::move(c->other_pools), std::move(c->store_key_id)};
}

absl::StatusOr<std::string> KmsRootKeyProvider::ActivateNewRootKey(std::string_view key_group,
                                                                   std::string_view replaces) {
  return client_->ActivateNewRootKey(key_group, replaces);
}

absl::Status KmsRootKeyProvider::ReplaceRegistrations(
    std::string_view key_group, std::span<const storage::WrappedKeyRef> keys) {
  return client_->Reconcile(key_group, KekUsageOf(keys)).status();
}

absl::StatusOr<std::vector<std::string>> KmsRootKeyProvider::DestroyRootKeysExcept(
    std::string_view key_group, std::string_view keep) {
  return client_->DestroyRootKeys(key_group, keep);
}

void KmsRootKeyProvider::ForgetCached(std::string_view key_group) {
  client_->ForgetGroup(key_group);
}

}  // namespace sealpool::daemon
