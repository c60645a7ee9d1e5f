#include "kms/key_registry.h"

#include <map>
#include <set>
#include <string>

#include "absl/time/clock.h"
#include "base/status_macros.h"
#include "kms/names.h"
#include "kms/status_util.h"

namespace sealpool::kms {

int64_t NowUnix() { return absl::ToUnixSeconds(absl::Now()); }

uint32_t CountUsage(const KeyStoreContents& c, std::string_view root_key_id) {
  uint32_t n = 0;
  for (const auto& [key, root] : c.usage) {
    if (root == root_key_id) ++n;
  }
  return n;
}

const StoredRootKey* ActiveKey(const KeyStoreContents& c, std::string_view group) {
  for (const auto& [id, k] : c.keys) {
    if (k.group == group && k.state == RootKeyState::kActive) return &k;
  }
  return nullptr;
}

RootKeyView ToView(const KeyStoreContents& c, const StoredRootKey& k) {
  return RootKeyView{
      k.id, k.group, k.state, k.created_unix, k.state_changed_unix, CountUsage(c, k.id)};
}

GroupView ToView(const KeyStoreContents& c, const StoredGroup& g) {
  GroupView v{g.name, g.created_unix, "", 0, 0};
  for (const auto& [id, k] : c.keys) {
    if (k.group != g.name) continue;
    ++v.key_count;
    if (k.state == RootKeyState::kActive) v.active_root_key_id = k.id;
  }
  for (const auto& [key, root] : c.usage) {
    if (std::get<1>(key) == g.name) ++v.registered_keks;
  }
  return v;
}

absl::StatusOr<const StoredGroup*> FindGroup(const KeyStoreContents& c, std::string_view name) {
  SEALPOOL_RETURN_IF_ERROR(ValidateName("key group", name));
  auto it = c.groups.find(std::string(name));
  if (it == c.groups.end()) {
    return absl::NotFoundError(Cat("key group \"", name, "\" does not exist"));
  }
  return &it->second;
}

absl::StatusOr<StoredRootKey*> FindKey(KeyStoreContents& c, std::string_view id) {
  SEALPOOL_RETURN_IF_ERROR(ValidateName("root key id", id));
  auto it = c.keys.find(std::string(id));
  if (it == c.keys.end()) {
    return absl::NotFoundError(Cat("root key \"", id, "\" does not exist"));
  }
  return &it->second;
}

absl::Status ValidateContext(const WrapContext& ctx) {
  SEALPOOL_RETURN_IF_ERROR(ValidateName("pool id", ctx.pool_id));
  SEALPOOL_RETURN_IF_ERROR(ValidateName("key group", ctx.key_group));
  return ValidateName("KEK id", ctx.kek_id);
}

void DropOrphanPins(KeyStoreContents& c) {
  std::erase_if(c.pins, [&](const auto& kv) { return !c.usage.contains(kv.first); });
}

absl::Status ValidatePublicKeyHash(std::string_view hash) {
  bool ok = hash.empty() || hash.size() == 64;
  for (char ch : hash) {
    if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) ok = false;
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "a public key hash must be empty or 64 lower-case hex digits (SHA-256)");
}

namespace {

// FailedPrecondition if any entry carries a hash other than the one pinned for it.
absl::Status CheckPins(const KeyStoreContents& c, std::string_view pool_id,
                       std::string_view group, std::span<const KekUsageEntry> usages) {
  for (const KekUsageEntry& u : usages) {
    if (u.public_key_sha256.empty()) continue;
    auto it = c.pins.find(UsageKey(std::string(pool_id), std::string(group), u.kek_id));
    if (it != c.pins.end() && it->second != u.public_key_sha256) {
      return absl::FailedPreconditionError(
          Cat("the public key of KEK pair \"", u.kek_id, "\" of pool \"", pool_id,
              "\" in key group \"", group, "\" is not the one pinned at its registration (sha256 ",
              it->second, ", now ", u.public_key_sha256,
              "): the pool's catalog holds a substituted public key"));
    }
  }
  return absl::OkStatus();
}

void SetPins(KeyStoreContents& c, std::string_view pool_id, std::string_view group,
             std::span<const KekUsageEntry> usages) {
  for (const KekUsageEntry& u : usages) {
    if (u.public_key_sha256.empty()) continue;
    c.pins.emplace(UsageKey(std::string(pool_id), std::string(group), u.kek_id),
                   u.public_key_sha256);
  }
}

std::string PinOf(const KeyStoreContents& c, const UsageKey& key) {
  auto it = c.pins.find(key);
  return it == c.pins.end() ? std::string() : it->second;
}

}  // namespace

absl::Status ValidateUsages(const KeyStoreContents& c, std::string_view group,
                            std::span<const KekUsageEntry> usages) {
  std::set<std::string_view> seen;
  for (const KekUsageEntry& u : usages) {
    SEALPOOL_RETURN_IF_ERROR(ValidateName("KEK id", u.kek_id));
    SEALPOOL_RETURN_IF_ERROR(ValidatePublicKeyHash(u.public_key_sha256));
    SEALPOOL_RETURN_IF_ERROR(ValidateName("root key id", u.root_key_id));
    if (!seen.insert(u.kek_id).second) {
      return absl::InvalidArgumentError(Cat("KEK \"", u.kek_id, "\" is listed twice"));
    }
    auto it = c.keys.find(u.root_key_id);
    if (it == c.keys.end() || it->second.group != group) {
      return absl::NotFoundError(
          Cat("root key \"", u.root_key_id, "\" does not exist in key group \"", group, "\""));
    }
    if (it->second.state == RootKeyState::kTerminated ||
        it->second.state == RootKeyState::kPrelive) {
      return absl::FailedPreconditionError(
          Cat("KEK \"", u.kek_id, "\" cannot be wrapped under root key \"", u.root_key_id,
              "\", which is ", RootKeyStateName(it->second.state)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<GroupView> AddGroup(KeyStoreContents& c, std::string_view name) {
  SEALPOOL_RETURN_IF_ERROR(ValidateName("key group", name));
  if (c.groups.contains(std::string(name))) {
    return absl::AlreadyExistsError(Cat("key group \"", name, "\" already exists"));
  }
  StoredGroup g{std::string(name), NowUnix()};
  GroupView view = ToView(c, g);
  c.groups.emplace(g.name, g);
  return view;
}

absl::Status AddUsages(KeyStoreContents& c, std::string_view pool_id, std::string_view group,
                       std::span<const KekUsageEntry> usages) {
  SEALPOOL_RETURN_IF_ERROR(ValidateName("pool id", pool_id));
  SEALPOOL_RETURN_IF_ERROR(FindGroup(c, group).status());
  SEALPOOL_RETURN_IF_ERROR(ValidateUsages(c, group, usages));
  SEALPOOL_RETURN_IF_ERROR(CheckPins(c, pool_id, group, usages));
  for (const KekUsageEntry& u : usages) {
    c.usage[UsageKey(std::string(pool_id), std::string(group), u.kek_id)] = u.root_key_id;
  }
  SetPins(c, pool_id, group, usages);
  return absl::OkStatus();
}

absl::StatusOr<ReconcileResult> ReconcileUsages(KeyStoreContents& c, std::string_view pool_id,
                                                std::string_view group,
                                                std::span<const KekUsageEntry> usages) {
  SEALPOOL_RETURN_IF_ERROR(ValidateName("pool id", pool_id));
  SEALPOOL_RETURN_IF_ERROR(FindGroup(c, group).status());
  SEALPOOL_RETURN_IF_ERROR(ValidateUsages(c, group, usages));
  SEALPOOL_RETURN_IF_ERROR(CheckPins(c, pool_id, group, usages));
  ReconcileResult result;
  std::map<std::string, std::string> wanted;
  for (const KekUsageEntry& u : usages) wanted[u.kek_id] = u.root_key_id;
  std::erase_if(c.usage, [&](const auto& kv) {
    const auto& [p, g, kek] = kv.first;
    if (p != pool_id || g != group) return false;
    auto it = wanted.find(kek);
    if (it != wanted.end() && it->second == kv.second) return false;
    if (it == wanted.end()) ++result.removed;
    return true;
  });
  // A pin goes with its KEK's last registration (a purged KEK pair).
  std::erase_if(c.pins, [&](const auto& kv) {
    const auto& [p, g, kek] = kv.first;
    return p == pool_id && g == group && !wanted.contains(kek);
  });
  SetPins(c, pool_id, group, usages);
  const StoredRootKey* active = ActiveKey(c, group);
  for (const auto& [kek, root] : wanted) {
    auto [it, inserted] =
        c.usage.emplace(UsageKey(std::string(pool_id), std::string(group), kek), root);
    if (inserted) ++result.added;
    const StoredRootKey& k = c.keys.at(root);
    result.usages.push_back(
        KekUsageStatus{kek, root, k.state, active == nullptr || active->id != root,
                       PinOf(c, UsageKey(std::string(pool_id), std::string(group), kek))});
  }
  return result;
}

std::vector<UsageView> ListUsages(const KeyStoreContents& c, std::string_view group,
                                  std::string_view root_key_id) {
  std::vector<UsageView> out;
  for (const auto& [key, root] : c.usage) {
    const auto& [pool, g, kek] = key;
    if (!group.empty() && g != group) continue;
    if (!root_key_id.empty() && root != root_key_id) continue;
    out.push_back(UsageView{pool, g, kek, root, PinOf(c, key)});
  }
  return out;
}

}  // namespace sealpool::kms
