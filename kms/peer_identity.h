// Who is calling: the subject and key usages of the verified client certificate of an mTLS
// call. gRPC has already verified the chain against sealkmsd's CA and the validity period;
// this reads what authorization needs from the leaf certificate.
#ifndef SEALPOOL_KMS_PEER_IDENTITY_H_
#define SEALPOOL_KMS_PEER_IDENTITY_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace grpc {
class AuthContext;
}  // namespace grpc

namespace sealpool::kms {

// Certificate OU values that name a role (packaging/make-certs.sh writes them).
inline constexpr std::string_view kRoleStorageServer = "storage-server";
inline constexpr std::string_view kRoleAdmin = "admin";

struct PeerIdentity {
  std::string common_name;          // subject CN
  std::string organizational_unit;  // subject OU: the role
  bool client_auth = false;         // extendedKeyUsage includes clientAuth
};

// Parses a PEM certificate. InvalidArgument if it does not parse, has no CN, or has more than
// one CN or more than one OU (an ambiguous identity).
absl::StatusOr<PeerIdentity> PeerIdentityFromPem(std::string_view pem);

// The identity of the peer of a call. Unauthenticated if the call carries no verified client
// certificate.
absl::StatusOr<PeerIdentity> PeerIdentityFromAuthContext(const grpc::AuthContext& context);

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_PEER_IDENTITY_H_
