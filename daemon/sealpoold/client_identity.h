// Who a client of sealpoold's client API is: the CN of its verified TLS certificate, refused
// when the subject carries more than one CN (which one would count?) and when the certificate's
// serial is on the configured CRL. gRPC has already verified the chain against the configured CA
// and the validity period; this reads the leaf and applies the revocation list.
//
// The CRL is read from a PEM file, its signature checked against the CA, and swapped in whole
// (SIGHUP reloads it): RevocationList is immutable once built and shared by pointer.
#ifndef SEALPOOL_DAEMON_SEALPOOLD_CLIENT_IDENTITY_H_
#define SEALPOOL_DAEMON_SEALPOOLD_CLIENT_IDENTITY_H_

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace grpc {
class AuthContext;
}  // namespace grpc

namespace sealpool::daemon {

class RevocationList {
 public:
  // Loads the PEM CRL at `crl_path` and checks it was signed by the CA in `ca_pem`.
  // InvalidArgument (naming the file) for a CRL that does not parse or is not signed by the CA.
  static absl::StatusOr<std::shared_ptr<const RevocationList>> Load(
      const std::filesystem::path& crl_path, std::string_view ca_pem);
  ~RevocationList();
  RevocationList(const RevocationList&) = delete;
  RevocationList& operator=(const RevocationList&) = delete;

  // Whether the certificate in `cert_pem` is on the list. InvalidArgument if it does not parse.
  absl::StatusOr<bool> IsRevoked(std::string_view cert_pem) const;
  size_t size() const;

 private:
  struct Impl;
  explicit RevocationList(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The client's CN from a PEM certificate. InvalidArgument if it does not parse, has no CN, or
// has more than one.
absl::StatusOr<std::string> ClientCommonName(std::string_view cert_pem);

// The identity of the peer of a client-API call: Unauthenticated without a verified client
// certificate, with a certificate of several CNs, or one the CRL (may be null) revokes.
absl::StatusOr<std::string> ClientIdentityFromAuthContext(const grpc::AuthContext& context,
                                                          const RevocationList* crl);

}  // namespace sealpool::daemon

#endif  // SEALPOOL_DAEMON_SEALPOOLD_CLIENT_IDENTITY_H_
