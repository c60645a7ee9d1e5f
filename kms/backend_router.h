// Chooses the backend per key group: groups listed for KMIP (sealkmsd config [kmip].key_groups)
// are served by the KMIP backend, every other group by the built-in store. The services see
// one KeyBackend.
//
// Routing:
//   - by group: CreateGroup, CreateKey, Wrap (the group's configured backend);
//   - by root key id: SetKeyState, DeleteKey ("kmip-…" ids are KMIP keys);
//   - by the wrapped blob's backend byte: Unwrap (so KEKs wrapped before a move still open);
//   - both, merged: GetGroup, ListGroups, ListKeys, ListUsage, ShredGroup; Register/Reconcile
//     split the entries by root key id.
//
// Moving a group from the built-in store to KMIP (docs/kms.md "Moving a key group to KMIP"):
// list it under [kmip].key_groups and restart; `kmscmd group create G` creates its KMIP side;
// `kmscmd key create G` + `key activate` make a KMIP key active, which turns the built-in
// active key of G inactive (it still unwraps). Reconcile then reports every KEK still under a
// built-in key as needing a re-wrap, and each pool re-wraps (UnwrapForRewrap/Unwrap + Wrap)
// at its own pace: the move is resumable KEK by KEK, and no segment is touched. When
// `kmscmd usage --key OLD` is empty, the old key can be deprecated, terminated and deleted.
#ifndef SEALPOOL_KMS_BACKEND_ROUTER_H_
#define SEALPOOL_KMS_BACKEND_ROUTER_H_

#include <set>
#include <string>

#include "kms/key_backend.h"

namespace sealpool::kms {

class BackendRouter final : public KeyBackend {
 public:
  // Borrows both backends; `kmip` may be null (then every group is built-in).
  BackendRouter(KeyBackend* builtin, KeyBackend* kmip, std::set<std::string> kmip_groups);

  absl::StatusOr<GroupView> CreateGroup(std::string_view name) override;
  std::vector<GroupView> ListGroups() override;
  absl::StatusOr<GroupView> GetGroup(std::string_view name) override;
  absl::StatusOr<ShredResult> ShredGroup(std::string_view name) override;
  absl::StatusOr<RootKeyView> CreateKey(std::string_view group) override;
  absl::StatusOr<std::vector<RootKeyView>> ListKeys(std::string_view group) override;
  absl::StatusOr<RootKeyView> SetKeyState(std::string_view id, RootKeyState state) override;
  absl::Status DeleteKey(std::string_view id) override;
  absl::StatusOr<WrapResult> Wrap(const WrapContext& ctx, std::span<const uint8_t> secret) override;
  absl::StatusOr<UnwrapResult> Unwrap(const WrapContext& ctx, std::span<const uint8_t> wrapped,
                                      bool for_rewrap) override;
  absl::Status RegisterUsage(std::string_view pool_id, std::string_view group,
                             std::span<const KekUsageEntry> usages) override;
  absl::StatusOr<ReconcileResult> ReconcileUsage(std::string_view pool_id, std::string_view group,
                                                 std::span<const KekUsageEntry> usages) override;
  std::vector<UsageView> ListUsage(std::string_view group, std::string_view root_key_id) override;
  absl::Status ChangePassphrase(std::span<const uint8_t> new_passphrase) override;
  absl::StatusOr<std::string> StoreKeyId(std::string_view group) override;

  bool IsKmipGroup(std::string_view group) const;

 private:
  KeyBackend* ForGroup(std::string_view group) const;
  KeyBackend* Other(KeyBackend* b) const { return b == builtin_ ? kmip_ : builtin_; }
  absl::StatusOr<KeyBackend*> ForKeyId(std::string_view id) const;

  KeyBackend* const builtin_;
  KeyBackend* const kmip_;
  const std::set<std::string, std::less<>> kmip_groups_;
};

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_BACKEND_ROUTER_H_
