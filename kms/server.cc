#include "kms/server.h"

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include "kms/status_util.h"

namespace sealpool::kms {

KmsServer::KmsServer(KeyBackend* backend, const AccessPolicy* policy, AuditLog* audit)
    : key_service_(backend, policy, audit), admin_service_(backend, policy, audit) {}

KmsServer::~KmsServer() { Shutdown(std::chrono::milliseconds(0)); }

absl::StatusOr<std::unique_ptr<KmsServer>> KmsServer::Start(const ServerOptions& options,
                                                            KeyBackend* backend,
                                                            const AccessPolicy* policy,
                                                            AuditLog* audit) {
  if (options.ca_pem.empty() || options.cert_pem.empty() || options.key_pem.empty()) {
    return absl::InvalidArgumentError("sealkmsd needs a CA, a certificate and a key (mTLS only)");
  }
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  ssl.pem_root_certs = options.ca_pem;
  ssl.pem_key_cert_pairs.push_back({options.key_pem, options.cert_pem});

  std::unique_ptr<KmsServer> server(new KmsServer(backend, policy, audit));
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen_address, grpc::SslServerCredentials(ssl), &server->port_);
  builder.RegisterService(&server->key_service_);
  builder.RegisterService(&server->admin_service_);
  builder.SetMaxReceiveMessageSize(options.max_message_bytes);
  builder.SetMaxSendMessageSize(options.max_message_bytes);
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    return absl::UnavailableError(
        Cat("cannot listen on ", options.listen_address,
            " (address in use, or the TLS certificate and key do not load)"));
  }
  return server;
}

void KmsServer::Shutdown(std::chrono::milliseconds grace) {
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + grace);
}

void KmsServer::Wait() {
  if (server_) server_->Wait();
}

}  // namespace sealpool::kms
