// What both key backends (the built-in KeyStore and the KMIP backend) do alike on the same
// plain contents (key_store_contents.h): views, lookups, the rules for names and usage
// entries, adding a group, and the usage registry (register, reconcile, list). Where root keys
// live and how a state change reaches them stays with each backend. Callers hold their own
// lock and save the contents after a change (each backend's Mutate).
#ifndef SEALPOOL_KMS_KEY_REGISTRY_H_
#define SEALPOOL_KMS_KEY_REGISTRY_H_

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kms/key_backend.h"
#include "kms/key_store_contents.h"

namespace sealpool::kms {

int64_t NowUnix();

// Registered KEKs wrapped under `root_key_id`.
uint32_t CountUsage(const KeyStoreContents& c, std::string_view root_key_id);
// The group's active root key, or null.
const StoredRootKey* ActiveKey(const KeyStoreContents& c, std::string_view group);
RootKeyView ToView(const KeyStoreContents& c, const StoredRootKey& k);
GroupView ToView(const KeyStoreContents& c, const StoredGroup& g);

// InvalidArgument for a bad name; NotFound for an unknown group or key.
absl::StatusOr<const StoredGroup*> FindGroup(const KeyStoreContents& c, std::string_view name);
absl::StatusOr<StoredRootKey*> FindKey(KeyStoreContents& c, std::string_view id);

absl::Status ValidateContext(const WrapContext& ctx);
// Drops the pins whose (pool, group, KEK id) has no usage entry any more (after registrations
// were removed with a group or a root key).
void DropOrphanPins(KeyStoreContents& c);
// OK for "" or 64 lower-case hex digits; else InvalidArgument.
absl::Status ValidatePublicKeyHash(std::string_view hash);
// Usage entries for `group`: valid names, no KEK twice, root keys of the group that may wrap
// (not prelive or terminated).
absl::Status ValidateUsages(const KeyStoreContents& c, std::string_view group,
                            std::span<const KekUsageEntry> usages);

// The bodies of KeyBackend's calls of the same names, on `c`.
absl::StatusOr<GroupView> AddGroup(KeyStoreContents& c, std::string_view name);
absl::Status AddUsages(KeyStoreContents& c, std::string_view pool_id, std::string_view group,
                       std::span<const KekUsageEntry> usages);
absl::StatusOr<ReconcileResult> ReconcileUsages(KeyStoreContents& c, std::string_view pool_id,
                                                std::string_view group,
                                                std::span<const KekUsageEntry> usages);
std::vector<UsageView> ListUsages(const KeyStoreContents& c, std::string_view group,
                                  std::string_view root_key_id);

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_KEY_REGISTRY_H_
