// sealkmsd's KeyAdmin service (proto/sealpool/kms/v1/admin.proto), used by kmscmd. Every
// handler authenticates an admin certificate first and every call is audited. Thread-safe;
// borrows the backend, policy and audit log, which must outlive it.
#ifndef SEALPOOL_KMS_ADMIN_SERVICE_H_
#define SEALPOOL_KMS_ADMIN_SERVICE_H_

#include "kms/access_policy.h"
#include "kms/audit_log.h"
#include "kms/key_backend.h"
#include "sealpool/kms/v1/admin.grpc.pb.h"

namespace sealpool::kms {

inline constexpr size_t kMaxPassphraseSize = 1024;
// Trailing metadata of a failed call that the external KMS behind sealkmsd (the KMIP server)
// failed or refused, rather than sealkmsd itself (IsKmsFailure): kFailedComponentKey =
// kFailedComponentKms. kmscmd gives such failures their own exit code and hint.
inline constexpr char kFailedComponentKey[] = "sealpool-failed-component";
inline constexpr char kFailedComponentKms[] = "kms";
inline constexpr uint32_t kMaxAuditTailLines = 1000;

class KeyAdminImpl final : public v1::KeyAdmin::Service {
 public:
  KeyAdminImpl(KeyBackend* backend, const AccessPolicy* policy, AuditLog* audit)
      : backend_(backend), policy_(policy), audit_(audit) {}

  grpc::Status CreateGroup(grpc::ServerContext* context, const v1::CreateGroupRequest* request,
                           v1::KeyGroupInfo* response) override;
  grpc::Status ListGroups(grpc::ServerContext* context, const v1::ListGroupsRequest* request,
                          v1::ListGroupsResponse* response) override;
  grpc::Status CreateKey(grpc::ServerContext* context, const v1::CreateKeyRequest* request,
                         v1::RootKeyInfo* response) override;
  grpc::Status ListKeys(grpc::ServerContext* context, const v1::ListKeysRequest* request,
                        v1::ListKeysResponse* response) override;
  grpc::Status SetKeyState(grpc::ServerContext* context, const v1::SetKeyStateRequest* request,
                           v1::RootKeyInfo* response) override;
  grpc::Status DeleteKey(grpc::ServerContext* context, const v1::DeleteKeyRequest* request,
                         v1::DeleteKeyResponse* response) override;
  grpc::Status ShredGroup(grpc::ServerContext* context, const v1::ShredGroupRequest* request,
                          v1::ShredGroupResponse* response) override;
  grpc::Status ChangePassphrase(grpc::ServerContext* context,
                                const v1::ChangePassphraseRequest* request,
                                v1::ChangePassphraseResponse* response) override;
  grpc::Status ListUsage(grpc::ServerContext* context, const v1::ListUsageRequest* request,
                         v1::ListUsageResponse* response) override;
  grpc::Status TailAudit(grpc::ServerContext* context, const v1::TailAuditRequest* request,
                         v1::TailAuditResponse* response) override;

 private:
  // What an audit line names; `body` may fill in a key id it created.
  struct Target {
    std::string group;
    std::string root_key;
  };
  // Authenticates an admin, runs `body`, audits `op` on `target` with its result.
  grpc::Status Run(grpc::ServerContext* context, const google::protobuf::Message& request,
                   std::string_view op, const Target& target,
                   const std::function<absl::Status()>& body);
  // The group of root key `id` ("" if unknown), for audit lines.
  std::string GroupOfKey(std::string_view id);

  KeyBackend* const backend_;
  const AccessPolicy* const policy_;
  AuditLog* const audit_;
};

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_ADMIN_SERVICE_H_
