// sealkmsd's KeyService (proto/sealpool/kms/v1/key_service.proto) for storage servers. Each
// handler: authenticate the certificate → authorize the pool and group → validate sizes →
// call the backend → audit → answer. Thread-safe; borrows the backend, policy and audit log,
// which must outlive it.
#ifndef SEALPOOL_KMS_KEY_SERVICE_H_
#define SEALPOOL_KMS_KEY_SERVICE_H_

#include "kms/access_policy.h"
#include "kms/audit_log.h"
#include "kms/key_backend.h"
#include "sealpool/kms/v1/key_service.grpc.pb.h"

namespace sealpool::kms {

// The most KEKs one RegisterUsage or ReconcileUsage call may list.
inline constexpr int kMaxUsagesPerCall = 100000;

class KeyServiceImpl final : public v1::KeyService::Service {
 public:
  KeyServiceImpl(KeyBackend* backend, const AccessPolicy* policy, AuditLog* audit)
      : backend_(backend), policy_(policy), audit_(audit) {}

  grpc::Status WrapKey(grpc::ServerContext* context, const v1::WrapKeyRequest* request,
                       v1::WrapKeyResponse* response) override;
  grpc::Status UnwrapKey(grpc::ServerContext* context, const v1::UnwrapKeyRequest* request,
                         v1::UnwrapKeyResponse* response) override;
  grpc::Status GetActiveKey(grpc::ServerContext* context, const v1::GetActiveKeyRequest* request,
                            v1::GetActiveKeyResponse* response) override;
  grpc::Status RegisterUsage(grpc::ServerContext* context, const v1::RegisterUsageRequest* request,
                             v1::RegisterUsageResponse* response) override;
  grpc::Status ReconcileUsage(grpc::ServerContext* context,
                              const v1::ReconcileUsageRequest* request,
                              v1::ReconcileUsageResponse* response) override;
  grpc::Status CheckPurge(grpc::ServerContext* context, const v1::CheckPurgeRequest* request,
                          v1::CheckPurgeResponse* response) override;
  grpc::Status ActivateNewRootKey(grpc::ServerContext* context,
                                  const v1::ActivateNewRootKeyRequest* request,
                                  v1::ActivateNewRootKeyResponse* response) override;
  grpc::Status DestroyRootKeys(grpc::ServerContext* context,
                               const v1::DestroyRootKeysRequest* request,
                               v1::DestroyRootKeysResponse* response) override;

 private:
  // Every pool id other than `pool_id` with a KEK registered under a key of `group` (or under
  // `root_key_id` when it is not empty), sorted.
  std::vector<std::string> OtherPools(std::string_view pool_id, std::string_view group,
                                      std::string_view root_key_id = {});
  // Authenticates the peer and authorizes (pool_id, key_group); fills `cn` for the audit.
  absl::StatusOr<const StorageClient*> Authorize(grpc::ServerContext* context,
                                                 const google::protobuf::Message& request,
                                                 std::string_view pool_id,
                                                 std::string_view key_group, std::string* cn);

  KeyBackend* const backend_;
  const AccessPolicy* const policy_;
  AuditLog* const audit_;
};

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_KEY_SERVICE_H_
