#include "kms/access_policy.h"

#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kms/names.h"
#include "kms/status_util.h"

namespace sealpool::kms {

absl::StatusOr<AccessPolicy> AccessPolicy::Create(std::vector<StorageClient> storage_clients,
                                                  std::set<std::string> admins) {
  AccessPolicy policy;
  std::map<std::string, std::string> cn_of_pool;
  for (StorageClient& c : storage_clients) {
    if (c.common_name.empty()) return absl::InvalidArgumentError("a client has an empty CN");
    SEALPOOL_RETURN_IF_ERROR(
        Annotate(ValidateName("pool id", c.pool_id), Cat("client ", c.common_name)));
    for (const std::string& g : c.key_groups) {
      SEALPOOL_RETURN_IF_ERROR(Annotate(ValidateName("key group", g), Cat("client ", c.common_name)));
    }
    // A pool id names one pool: two CNs with the same one would share its usage registrations
    // (and a purge of one would be checked against the other's keys).
    if (auto [it, added] = cn_of_pool.emplace(c.pool_id, c.common_name); !added) {
      return absl::InvalidArgumentError(
          Cat("storage servers \"", it->second, "\" and \"", c.common_name,
              "\" both have pool id \"", c.pool_id, "\"; a pool id belongs to one storage server"));
    }
    std::string cn = c.common_name;
    if (!policy.storage_.emplace(cn, std::move(c)).second) {
      return absl::InvalidArgumentError(
          Cat("storage server CN \"", cn, "\" is listed twice"));
    }
  }
  for (const std::string& a : admins) {
    if (a.empty()) return absl::InvalidArgumentError("an admin has an empty CN");
    if (policy.storage_.contains(a)) {
      return absl::InvalidArgumentError(
          Cat("CN \"", a, "\" is both an admin and a storage server"));
    }
    policy.admins_.insert(a);
  }
  return policy;
}

absl::StatusOr<const StorageClient*> AccessPolicy::AuthorizeStorage(
    const PeerIdentity& peer) const {
  if (peer.organizational_unit != kRoleStorageServer || !peer.client_auth) {
    return absl::PermissionDeniedError(Cat("certificate \"", peer.common_name,
                                           "\" is not a storage-server client certificate "
                                           "(needs OU=storage-server and the clientAuth usage)"));
  }
  auto it = storage_.find(peer.common_name);
  if (it == storage_.end()) {
    return absl::PermissionDeniedError(
        Cat("storage server \"", peer.common_name, "\" is not configured in sealkmsd"));
  }
  return &it->second;
}

absl::Status AccessPolicy::AuthorizeGroup(const StorageClient& client, std::string_view pool_id,
                                          std::string_view key_group) const {
  if (pool_id != client.pool_id) {
    return absl::PermissionDeniedError(Cat("storage server \"", client.common_name, "\" is pool \"",
                                           client.pool_id, "\" and may not act as pool \"", pool_id,
                                           "\""));
  }
  if (!client.key_groups.contains(std::string(key_group))) {
    return absl::PermissionDeniedError(
        Cat("pool \"", client.pool_id, "\" may not use key group \"", key_group, "\""));
  }
  return absl::OkStatus();
}

absl::Status AccessPolicy::AuthorizeAdmin(const PeerIdentity& peer) const {
  if (peer.organizational_unit != kRoleAdmin || !peer.client_auth ||
      !admins_.contains(peer.common_name)) {
    return absl::PermissionDeniedError(
        Cat("certificate \"", peer.common_name,
            "\" is not an admin of this sealkmsd (needs "
            "OU=admin, the clientAuth usage, and its CN in the config's admins)"));
  }
  return absl::OkStatus();
}

}  // namespace sealpool::kms
