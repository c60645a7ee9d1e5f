// The sealkmsd gRPC server: the key service and the admin service behind mTLS. The server
// requires and verifies a client certificate against the configured CA on every connection;
// authorization by role happens in the services (access_policy.h).
#ifndef SEALPOOL_KMS_SERVER_H_
#define SEALPOOL_KMS_SERVER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "kms/access_policy.h"
#include "kms/admin_service.h"
#include "kms/audit_log.h"
#include "kms/key_backend.h"
#include "kms/key_service.h"

namespace sealpool::kms {

struct ServerOptions {
  std::string listen_address;  // "127.0.0.1:7443"; port 0 picks a free port
  std::string ca_pem;          // the CA client certificates must chain to
  std::string cert_pem;        // the server certificate (serverAuth)
  std::string key_pem;         // its private key
  int max_message_bytes = 1 << 20;
};

class KmsServer {
 public:
  // Starts listening. Borrows backend, policy and audit, which must outlive the server.
  // Unavailable if the address cannot be bound; InvalidArgument for unusable TLS material.
  static absl::StatusOr<std::unique_ptr<KmsServer>> Start(const ServerOptions& options,
                                                          KeyBackend* backend,
                                                          const AccessPolicy* policy,
                                                          AuditLog* audit);
  ~KmsServer();

  int port() const { return port_; }
  // Stops accepting calls and waits up to `grace` for running ones. Idempotent.
  void Shutdown(std::chrono::milliseconds grace);
  void Wait();

 private:
  KmsServer(KeyBackend* backend, const AccessPolicy* policy, AuditLog* audit);

  KeyServiceImpl key_service_;
  KeyAdminImpl admin_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_SERVER_H_
