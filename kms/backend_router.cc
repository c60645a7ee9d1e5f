#include "kms/backend_router.h"

#include <map>
#include <utility>

#include "absl/status/status.h"
#include "kms/kmip_backend.h"
#include "kms/status_util.h"
#include "kms/wrapped_key_format.h"

namespace sealpool::kms {
namespace {

bool IsKmipKeyId(std::string_view id) { return !KmipUidOf(id).empty(); }

}  // namespace

BackendRouter::BackendRouter(KeyBackend* builtin, KeyBackend* kmip,
                             std::set<std::string> kmip_groups)
    : builtin_(builtin),
      kmip_(kmip),
      kmip_groups_(kmip == nullptr ? std::set<std::string, std::less<>>()
                                   : std::set<std::string, std::less<>>(kmip_groups.begin(),
                                                                        kmip_groups.end())) {}

bool BackendRouter::IsKmipGroup(std::string_view group) const {
  return kmip_groups_.contains(group);
}

KeyBackend* BackendRouter::ForGroup(std::string_view group) const {
  return IsKmipGroup(group) ? kmip_ : builtin_;
}

absl::StatusOr<KeyBackend*> BackendRouter::ForKeyId(std::string_view id) const {
  if (!IsKmipKeyId(id)) return builtin_;
  if (kmip_ == nullptr) {
    return absl::FailedPreconditionError(Cat(
        "root key \"", id, "\" is a KMIP key, and this sealkmsd has no [kmip] backend configured"));
  }
  return kmip_;
}

absl::StatusOr<GroupView> BackendRouter::CreateGroup(std::string_view name) {
  return ForGroup(name)->CreateGroup(name);
}

absl::StatusOr<GroupView> BackendRouter::GetGroup(std::string_view name) {
  KeyBackend* primary = ForGroup(name);
  absl::StatusOr<GroupView> mine = primary->GetGroup(name);
  if (!mine.ok() && mine.status().code() != absl::StatusCode::kNotFound) return mine;
  absl::StatusOr<GroupView> other = absl::NotFoundError("");
  if (KeyBackend* o = Other(primary); o != nullptr) other = o->GetGroup(name);
  if (!other.ok() && other.status().code() != absl::StatusCode::kNotFound) return other;
  if (!mine.ok() && !other.ok()) return mine.status();
  if (!other.ok()) return mine;
  // The group is (also) in the backend it is moving away from: its keys still count, but only
  // the configured backend's active key wraps.
  GroupView v = mine.ok() ? *mine : *other;
  if (!mine.ok()) {
    v.active_root_key_id.clear();
    return v;
  }
  v.created_unix = std::min(mine->created_unix, other->created_unix);
  v.key_count += other->key_count;
  v.registered_keks += other->registered_keks;
  return v;
}

std::vector<GroupView> BackendRouter::ListGroups() {
  std::set<std::string> names;
  for (KeyBackend* b : {builtin_, kmip_}) {
    if (b == nullptr) continue;
    for (const GroupView& g : b->ListGroups()) names.insert(g.name);
  }
  std::vector<GroupView> out;
  for (const std::string& n : names) {
    if (absl::StatusOr<GroupView> g = GetGroup(n); g.ok()) out.push_back(*std::move(g));
  }
  return out;
}

absl::StatusOr<ShredResult> BackendRouter::ShredGroup(std::string_view name) {
  ShredResult total;
  bool found = false;
  for (KeyBackend* b : {ForGroup(name), Other(ForGroup(name))}) {
    if (b == nullptr) continue;
    absl::StatusOr<ShredResult> r = b->ShredGroup(name);
    if (!r.ok() && r.status().code() == absl::StatusCode::kNotFound) continue;
    if (!r.ok()) return r;
    found = true;
    total.destroyed_keys += r->destroyed_keys;
    total.dropped_registrations += r->dropped_registrations;
  }
  if (!found) return absl::NotFoundError(Cat("key group \"", name, "\" does not exist"));
  return total;
}

absl::StatusOr<RootKeyView> BackendRouter::CreateKey(std::string_view group) {
  return ForGroup(group)->CreateKey(group);
}

absl::StatusOr<std::vector<RootKeyView>> BackendRouter::ListKeys(std::string_view group) {
  std::vector<RootKeyView> out;
  bool found = group.empty();
  for (KeyBackend* b : {builtin_, kmip_}) {
    if (b == nullptr) continue;
    absl::StatusOr<std::vector<RootKeyView>> keys = b->ListKeys(group);
    if (!keys.ok()) {
      if (keys.status().code() != absl::StatusCode::kNotFound) return keys.status();
      continue;
    }
    found = true;
    out.insert(out.end(), keys->begin(), keys->end());
  }
  if (!found) return absl::NotFoundError(Cat("key group \"", group, "\" does not exist"));
  return out;
}

absl::StatusOr<RootKeyView> BackendRouter::SetKeyState(std::string_view id, RootKeyState state) {
  SEALPOOL_ASSIGN_OR_RETURN(KeyBackend * b, ForKeyId(id));
  if (state == RootKeyState::kActive && kmip_ != nullptr) {
    // Only the group's configured backend may hold its active key.
    absl::StatusOr<std::vector<RootKeyView>> keys = b->ListKeys("");
    if (!keys.ok()) return keys.status();
    std::string group;
    for (const RootKeyView& k : *keys) {
      if (k.id == id) group = k.group;
    }
    if (!group.empty() && ForGroup(group) != b) {
      return absl::FailedPreconditionError(Cat(
          "key group \"", group, "\" is served by the ", IsKmipGroup(group) ? "KMIP" : "built-in",
          " backend now; activate one of its keys there (kmscmd key create ", group, ")"));
    }
    SEALPOOL_ASSIGN_OR_RETURN(RootKeyView view, b->SetKeyState(id, state));
    // Activating the KMIP key of a group that is moving makes the built-in active key inactive.
    if (KeyBackend* o = Other(b); o != nullptr) {
      absl::StatusOr<GroupView> og = o->GetGroup(view.group);
      if (og.ok() && !og->active_root_key_id.empty()) {
        SEALPOOL_RETURN_IF_ERROR(
            o->SetKeyState(og->active_root_key_id, RootKeyState::kInactive).status());
      }
    }
    return view;
  }
  return b->SetKeyState(id, state);
}

absl::Status BackendRouter::DeleteKey(std::string_view id) {
  SEALPOOL_ASSIGN_OR_RETURN(KeyBackend * b, ForKeyId(id));
  return b->DeleteKey(id);
}

absl::StatusOr<WrapResult> BackendRouter::Wrap(const WrapContext& ctx,
                                               std::span<const uint8_t> secret) {
  return ForGroup(ctx.key_group)->Wrap(ctx, secret);
}

absl::StatusOr<UnwrapResult> BackendRouter::Unwrap(const WrapContext& ctx,
                                                   std::span<const uint8_t> wrapped,
                                                   bool for_rewrap) {
  SEALPOOL_ASSIGN_OR_RETURN(WrappedKey blob, WrappedKey::Decode(wrapped));
  if (blob.backend == kBackendKmip) {
    if (kmip_ == nullptr) {
      return absl::FailedPreconditionError(
          "the wrapped key was made by a KMIP backend, and this sealkmsd has no [kmip] configured");
    }
    return kmip_->Unwrap(ctx, wrapped, for_rewrap);
  }
  return builtin_->Unwrap(ctx, wrapped, for_rewrap);
}

absl::Status BackendRouter::RegisterUsage(std::string_view pool_id, std::string_view group,
                                          std::span<const KekUsageEntry> usages) {
  std::vector<KekUsageEntry> builtin;
  std::vector<KekUsageEntry> kmip;
  for (const KekUsageEntry& u : usages) (IsKmipKeyId(u.root_key_id) ? kmip : builtin).push_back(u);
  if (!kmip.empty() && kmip_ == nullptr) {
    return absl::FailedPreconditionError("KMIP root keys named, and no [kmip] backend configured");
  }
  if (!builtin.empty() || !IsKmipGroup(group)) {
    SEALPOOL_RETURN_IF_ERROR(builtin_->RegisterUsage(pool_id, group, builtin));
  }
  if (!kmip.empty() || (builtin.empty() && IsKmipGroup(group))) {
    SEALPOOL_RETURN_IF_ERROR(kmip_->RegisterUsage(pool_id, group, kmip));
  }
  return absl::OkStatus();
}

absl::StatusOr<ReconcileResult> BackendRouter::ReconcileUsage(
    std::string_view pool_id, std::string_view group, std::span<const KekUsageEntry> usages) {
  if (kmip_ == nullptr) return builtin_->ReconcileUsage(pool_id, group, usages);
  std::vector<KekUsageEntry> split[2];
  for (const KekUsageEntry& u : usages) split[IsKmipKeyId(u.root_key_id) ? 1 : 0].push_back(u);
  ReconcileResult total;
  bool found = false;
  KeyBackend* backends[2] = {builtin_, kmip_};
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<ReconcileResult> r = backends[i]->ReconcileUsage(pool_id, group, split[i]);
    if (!r.ok()) {
      // A backend without the group: fine when nothing is wrapped under its keys.
      if (r.status().code() == absl::StatusCode::kNotFound && split[i].empty()) continue;
      return r.status();
    }
    found = true;
    const bool other_backend = backends[i] != ForGroup(group);
    for (KekUsageStatus& s : r->usages) {
      if (other_backend) s.rewrap_needed = true;  // the group has moved away from this backend
      total.usages.push_back(std::move(s));
    }
    total.added += r->added;
    total.removed += r->removed;
  }
  if (!found) return absl::NotFoundError(Cat("key group \"", group, "\" does not exist"));
  return total;
}

std::vector<UsageView> BackendRouter::ListUsage(std::string_view group,
                                                std::string_view root_key_id) {
  std::vector<UsageView> out;
  for (KeyBackend* b : {builtin_, kmip_}) {
    if (b == nullptr) continue;
    std::vector<UsageView> u = b->ListUsage(group, root_key_id);
    out.insert(out.end(), u.begin(), u.end());
  }
  return out;
}

absl::Status BackendRouter::ChangePassphrase(std::span<const uint8_t> new_passphrase) {
  return builtin_->ChangePassphrase(new_passphrase);
}

absl::StatusOr<std::string> BackendRouter::StoreKeyId(std::string_view group) {
  KeyBackend* b = ForGroup(group);
  if (b == nullptr) return std::string();
  return b->StoreKeyId(group);
}

}  // namespace sealpool::kms
