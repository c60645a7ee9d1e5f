#include "kms/admin_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "crypto/secure_memory.h"
#include "kms/grpc_status.h"
#include "kms/names.h"
#include "kms/peer_identity.h"
#include "kms/proto_convert.h"
#include "kms/status_util.h"

namespace sealpool::kms {

grpc::Status KeyAdminImpl::Run(grpc::ServerContext* context,
                               const google::protobuf::Message& request, std::string_view op,
                               const Target& target, const std::function<absl::Status()>& body) {
  const bool read_only =
      op == "list-groups" || op == "list-keys" || op == "list-usage" || op == "tail-audit";
  std::string cn;
  absl::Status s = [&]() -> absl::Status {
    SEALPOOL_ASSIGN_OR_RETURN(PeerIdentity peer, PeerIdentityFromAuthContext(*context->auth_context()));
    cn = peer.common_name;
    SEALPOOL_RETURN_IF_ERROR(policy_->AuthorizeAdmin(peer));
    SEALPOOL_RETURN_IF_ERROR(RejectUnknownFields(request));
    // Fail-closed: a call that changes keys writes an intent line first and is refused, with
    // nothing changed, when it cannot be written and synced. Its outcome line is best effort
    // (the change is done and covered by the intent line; sealkmsd logs the failure), like
    // every line of the reads, which change and hand out nothing.
    if (!read_only) {
      SEALPOOL_RETURN_IF_ERROR(
          RecordIntent(*audit_, {cn, kRoleAdmin, op, "", target.group, target.root_key, "", {}}));
    }
    return body();
  }();
  audit_->Record({cn, kRoleAdmin, op, "", target.group, target.root_key, "", s})
      .IgnoreError();  // See above.
  if (IsKmsFailure(s)) context->AddTrailingMetadata(kFailedComponentKey, kFailedComponentKms);
  return ToGrpcStatus(s);
}

std::string KeyAdminImpl::GroupOfKey(std::string_view id) {
  if (!ValidateName("root key id", id).ok()) return "";
  absl::StatusOr<std::vector<RootKeyView>> keys = backend_->ListKeys("");
  if (!keys.ok()) return "";
  for (const RootKeyView& k : *keys) {
    if (k.id == id) return k.group;
  }
  return "";
}

grpc::Status KeyAdminImpl::CreateGroup(grpc::ServerContext* context,
                                       const v1::CreateGroupRequest* request,
                                       v1::KeyGroupInfo* response) {
  return Run(context, *request, "create-group", {request->name(), ""}, [&]() -> absl::Status {
    SEALPOOL_ASSIGN_OR_RETURN(GroupView g, backend_->CreateGroup(request->name()));
    ToProto(g, response);
    return absl::OkStatus();
  });
}

grpc::Status KeyAdminImpl::ListGroups(grpc::ServerContext* context,
                                      const v1::ListGroupsRequest* request,
                                      v1::ListGroupsResponse* response) {
  return Run(context, *request, "list-groups", {}, [&]() -> absl::Status {
    for (const GroupView& g : backend_->ListGroups()) ToProto(g, response->add_groups());
    return absl::OkStatus();
  });
}

grpc::Status KeyAdminImpl::CreateKey(grpc::ServerContext* context,
                                     const v1::CreateKeyRequest* request,
                                     v1::RootKeyInfo* response) {
  Target target{request->key_group(), ""};
  return Run(context, *request, "create-key", target, [&]() -> absl::Status {
    SEALPOOL_ASSIGN_OR_RETURN(RootKeyView k, backend_->CreateKey(request->key_group()));
    target.root_key = k.id;
    ToProto(k, response);
    return absl::OkStatus();
  });
}

grpc::Status KeyAdminImpl::ListKeys(grpc::ServerContext* context,
                                    const v1::ListKeysRequest* request,
                                    v1::ListKeysResponse* response) {
  return Run(context, *request, "list-keys", {request->key_group(), ""}, [&]() -> absl::Status {
    SEALPOOL_ASSIGN_OR_RETURN(std::vector<RootKeyView> keys, backend_->ListKeys(request->key_group()));
    for (const RootKeyView& k : keys) ToProto(k, response->add_keys());
    return absl::OkStatus();
  });
}

grpc::Status KeyAdminImpl::SetKeyState(grpc::ServerContext* context,
                                       const v1::SetKeyStateRequest* request,
                                       v1::RootKeyInfo* response) {
  std::optional<RootKeyState> state = FromProtoValue(static_cast<int>(request->state()));
  std::string op = Cat("set-state:", state ? RootKeyStateName(*state) : std::string_view("?"));
  return Run(context, *request, op, {GroupOfKey(request->root_key_id()), request->root_key_id()},
             [&]() -> absl::Status {
    if (!state) {
      return absl::InvalidArgumentError(
          Cat("unknown key state ", static_cast<int>(request->state())));
    }
    SEALPOOL_ASSIGN_OR_RETURN(RootKeyView k, backend_->SetKeyState(request->root_key_id(), *state));
    ToProto(k, response);
    return absl::OkStatus();
  });
}

grpc::Status KeyAdminImpl::DeleteKey(grpc::ServerContext* context,
                                     const v1::DeleteKeyRequest* request,
                                     v1::DeleteKeyResponse* /*response*/) {
  return Run(context, *request, "delete-key",
             {GroupOfKey(request->root_key_id()), request->root_key_id()},
             [&]() { return backend_->DeleteKey(request->root_key_id()); });
}

grpc::Status KeyAdminImpl::ShredGroup(grpc::ServerContext* context,
                                      const v1::ShredGroupRequest* request,
                                      v1::ShredGroupResponse* response) {
  return Run(context, *request, "shred-group", {request->key_group(), ""}, [&]() -> absl::Status {
    SEALPOOL_RETURN_IF_ERROR(ValidateName("key group", request->key_group()));
    if (request->confirm() != request->key_group()) {
      return absl::FailedPreconditionError(
          Cat("shredding key group \"", request->key_group(),
              "\" destroys every root key in it "
              "and makes all data of every pool using it unreadable; confirm by repeating the "
              "group name"));
    }
    SEALPOOL_ASSIGN_OR_RETURN(ShredResult r, backend_->ShredGroup(request->key_group()));
    response->set_destroyed_keys(r.destroyed_keys);
    response->set_dropped_registrations(r.dropped_registrations);
    return absl::OkStatus();
  });
}

grpc::Status KeyAdminImpl::ChangePassphrase(grpc::ServerContext* context,
                                            const v1::ChangePassphraseRequest* request,
                                            v1::ChangePassphraseResponse* /*response*/) {
  grpc::Status status = Run(context, *request, "change-passphrase", {}, [&]() -> absl::Status {
    const std::string& p = request->new_passphrase();
    if (p.empty() || p.size() > kMaxPassphraseSize) {
      return absl::InvalidArgumentError(
          Cat("a passphrase is 1..", kMaxPassphraseSize, " bytes, not ", p.size()));
    }
    return backend_->ChangePassphrase(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(p.data()), p.size()));
  });
  // The passphrase is wiped in the request before gRPC frees it. The request is gRPC's, handed
  // over const; it is not read after this handler. (gRPC's receive buffers are out of reach.)
  std::string* p = const_cast<v1::ChangePassphraseRequest*>(request)->mutable_new_passphrase();
  crypto::Wipe({reinterpret_cast<uint8_t*>(p->data()), p->size()});
  return status;
}

grpc::Status KeyAdminImpl::ListUsage(grpc::ServerContext* context,
                                     const v1::ListUsageRequest* request,
                                     v1::ListUsageResponse* response) {
  return Run(context, *request, "list-usage", {request->key_group(), request->root_key_id()},
             [&]() -> absl::Status {
               for (const UsageView& u :
                    backend_->ListUsage(request->key_group(), request->root_key_id())) {
                 v1::UsageEntry* e = response->add_entries();
                 e->set_pool_id(u.pool_id);
                 e->set_key_group(u.group);
                 e->set_kek_id(u.kek_id);
                 e->set_root_key_id(u.root_key_id);
                 e->set_public_key_sha256(u.public_key_sha256);
               }
               return absl::OkStatus();
             });
}

grpc::Status KeyAdminImpl::TailAudit(grpc::ServerContext* context,
                                     const v1::TailAuditRequest* request,
                                     v1::TailAuditResponse* response) {
  return Run(context, *request, "tail-audit", {}, [&]() -> absl::Status {
    uint32_t n = request->lines() == 0 ? 20 : request->lines();
    if (n > kMaxAuditTailLines) {
      return absl::InvalidArgumentError(
          Cat("at most ", kMaxAuditTailLines, " audit lines per call, not ", n));
    }
    SEALPOOL_ASSIGN_OR_RETURN(std::vector<std::string> lines, audit_->Tail(n));
    for (std::string& l : lines) response->add_lines(std::move(l));
    return absl::OkStatus();
  });
}

}  // namespace sealpool::kms
