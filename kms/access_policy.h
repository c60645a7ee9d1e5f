// Who may do what in sealkmsd. A storage server is a certificate with OU "storage-server" and
// the clientAuth usage whose CN the config maps to one pool id and the key groups that pool may
// use; an admin is a certificate with OU "admin" and clientAuth whose CN the config lists.
// Anything else is refused with PermissionDenied. Immutable after construction; thread-safe.
#ifndef SEALPOOL_KMS_ACCESS_POLICY_H_
#define SEALPOOL_KMS_ACCESS_POLICY_H_

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "kms/peer_identity.h"

namespace sealpool::kms {

struct StorageClient {
  std::string common_name;
  std::string pool_id;
  std::set<std::string> key_groups;
};

class AccessPolicy {
 public:
  // InvalidArgument for a duplicate CN, a CN both admin and storage server, or a bad name.
  static absl::StatusOr<AccessPolicy> Create(std::vector<StorageClient> storage_clients,
                                             std::set<std::string> admins);

  // The storage client `peer` is, or PermissionDenied.
  absl::StatusOr<const StorageClient*> AuthorizeStorage(const PeerIdentity& peer) const;
  // OK if `client` may use `key_group` as `pool_id`, else PermissionDenied.
  absl::Status AuthorizeGroup(const StorageClient& client, std::string_view pool_id,
                              std::string_view key_group) const;
  // OK if `peer` is an admin, else PermissionDenied.
  absl::Status AuthorizeAdmin(const PeerIdentity& peer) const;

 private:
  std::map<std::string, StorageClient, std::less<>> storage_;
  std::set<std::string, std::less<>> admins_;
};

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_ACCESS_POLICY_H_
