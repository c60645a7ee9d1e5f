#include "kms/key_service.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_cat.h"
#include "crypto/secure_memory.h"
#include "kms/grpc_status.h"
#include "kms/names.h"
#include "kms/peer_identity.h"
#include "kms/proto_convert.h"
#include "kms/status_util.h"

namespace sealpool::kms {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

absl::StatusOr<std::vector<KekUsageEntry>> UsagesFromProto(
    const google::protobuf::RepeatedPtrField<v1::KekUsage>& in) {
  if (in.size() > kMaxUsagesPerCall) {
    return absl::InvalidArgumentError(
        Cat("a call lists at most ", kMaxUsagesPerCall, " KEKs, not ", in.size()));
  }
  std::vector<KekUsageEntry> out;
  out.reserve(static_cast<size_t>(in.size()));
  for (const v1::KekUsage& u : in) out.push_back(KekUsageEntry{u.kek_id(), u.root_key_id(), u.public_key_sha256()});
  return out;
}

// OutcomeNote: an operation with a lasting effect (usage registration, purge steps) writes an
// intent line before it is done and is refused, with nothing changed, when that line cannot be
// written and synced (RecordIntent). Its outcome line is then best effort: the effect has
// happened and cannot be undone, the intent line records it, and the failure reaches sealkmsd's
// log through the audit log's failure hook. Reads of public state (purge-check) are audited best
// effort too.

}  // namespace

absl::StatusOr<const StorageClient*> KeyServiceImpl::Authorize(
    grpc::ServerContext* context, const google::protobuf::Message& request,
    std::string_view pool_id, std::string_view key_group, std::string* cn) {
  SEALPOOL_ASSIGN_OR_RETURN(PeerIdentity peer, PeerIdentityFromAuthContext(*context->auth_context()));
  *cn = peer.common_name;
  SEALPOOL_ASSIGN_OR_RETURN(const StorageClient* client, policy_->AuthorizeStorage(peer));
  SEALPOOL_RETURN_IF_ERROR(RejectUnknownFields(request));
  SEALPOOL_RETURN_IF_ERROR(ValidateName("pool id", pool_id));
  SEALPOOL_RETURN_IF_ERROR(ValidateName("key group", key_group));
  SEALPOOL_RETURN_IF_ERROR(policy_->AuthorizeGroup(*client, pool_id, key_group));
  return client;
}

grpc::Status KeyServiceImpl::WrapKey(grpc::ServerContext* context,
                                     const v1::WrapKeyRequest* request,
                                     v1::WrapKeyResponse* response) {
  std::string cn;
  std::string root_key_id;
  absl::Status s = [&]() -> absl::Status {
    SEALPOOL_RETURN_IF_ERROR(
        Authorize(context, *request, request->pool_id(), request->key_group(), &cn).status());
    SEALPOOL_ASSIGN_OR_RETURN(
        WrapResult r, backend_->Wrap({request->pool_id(), request->key_group(), request->kek_id()},
                                     Bytes(request->secret())));
    root_key_id = r.root_key_id;
    response->set_root_key_id(r.root_key_id);
    response->set_wrapped(r.wrapped.data(), r.wrapped.size());
    return absl::OkStatus();
  }();
  // Fail-closed: a wrap whose audit line cannot be written and synced is refused, and the
  // wrapped key is not handed out (a wrap changes nothing, so nothing has to be undone).
  s = RecordOrRefuse(*audit_, {cn, kRoleStorageServer, "wrap", request->pool_id(),
                               request->key_group(), root_key_id, request->kek_id(), s});
  if (!s.ok()) response->Clear();
  return ToGrpcStatus(s);
}

grpc::Status KeyServiceImpl::UnwrapKey(grpc::ServerContext* context,
                                       const v1::UnwrapKeyRequest* request,
                                       v1::UnwrapKeyResponse* response) {
  std::string cn;
  std::string root_key_id;
  bool rewrap = request->purpose() == v1::UNWRAP_PURPOSE_REWRAP;
  absl::Status s = [&]() -> absl::Status {
    SEALPOOL_RETURN_IF_ERROR(
        Authorize(context, *request, request->pool_id(), request->key_group(), &cn).status());
    if (request->purpose() != v1::UNWRAP_PURPOSE_UNSPECIFIED && !rewrap) {
      return absl::InvalidArgumentError(
          Cat("unknown unwrap purpose ", static_cast<int>(request->purpose())));
    }
    SEALPOOL_ASSIGN_OR_RETURN(UnwrapResult r, backend_->Unwrap({request->pool_id(), request->key_group(),
                                                           request->kek_id()},
                                                          Bytes(request->wrapped()), rewrap));
    root_key_id = r.root_key_id;
    // The secret leaves locked memory here: protobuf and gRPC buffers are out of our reach.
    response->set_secret(r.secret.span().data(), r.secret.size());
    response->set_root_key_id(r.root_key_id);
    response->set_root_key_state(ToProto(r.root_key_state));
    return absl::OkStatus();
  }();
  // Fail-closed like WrapKey: the unwrapped secret is wiped and not handed out.
  s = RecordOrRefuse(*audit_,
                     {cn, kRoleStorageServer, rewrap ? "unwrap-for-rewrap" : "unwrap",
                      request->pool_id(), request->key_group(), root_key_id, request->kek_id(), s});
  if (!s.ok()) {
    std::string* secret = response->mutable_secret();
    crypto::Wipe({reinterpret_cast<uint8_t*>(secret->data()), secret->size()});
    response->Clear();
  }
  return ToGrpcStatus(s);
}

grpc::Status KeyServiceImpl::GetActiveKey(grpc::ServerContext* context,
                                          const v1::GetActiveKeyRequest* request,
                                          v1::GetActiveKeyResponse* response) {
  std::string cn;
  absl::Status s = [&]() -> absl::Status {
    SEALPOOL_RETURN_IF_ERROR(
        Authorize(context, *request, request->pool_id(), request->key_group(), &cn).status());
    SEALPOOL_ASSIGN_OR_RETURN(GroupView g, backend_->GetGroup(request->key_group()));
    response->set_root_key_id(g.active_root_key_id);
    response->set_state(g.active_root_key_id.empty() ? v1::GROUP_STATE_NO_ACTIVE_KEY
                                                     : v1::GROUP_STATE_READY);
    return absl::OkStatus();
  }();
  return ToGrpcStatus(s);  // A read of public state: not audited.
}

grpc::Status KeyServiceImpl::RegisterUsage(grpc::ServerContext* context,
                                           const v1::RegisterUsageRequest* request,
                                           v1::RegisterUsageResponse* /*response*/) {
  std::string cn;
  absl::Status s = [&]() -> absl::Status {
    SEALPOOL_RETURN_IF_ERROR(
        Authorize(context, *request, request->pool_id(), request->key_group(), &cn).status());
    SEALPOOL_ASSIGN_OR_RETURN(std::vector<KekUsageEntry> usages, UsagesFromProto(request->usages()));
    SEALPOOL_RETURN_IF_ERROR(RecordIntent(
        *audit_, {cn, kRoleStorageServer, Cat("register-usage:", request->usages_size()),
                  request->pool_id(), request->key_group(), "", "", {}}));
    return backend_->RegisterUsage(request->pool_id(), request->key_group(), usages);
  }();
  audit_
      ->Record({cn, kRoleStorageServer, Cat("register-usage:", request->usages_size()),
                request->pool_id(), request->key_group(), "", "", s})
      .IgnoreError();  // See OutcomeNote.
  return ToGrpcStatus(s);
}

grpc::Status KeyServiceImpl::ReconcileUsage(grpc::ServerContext* context,
                                            const v1::ReconcileUsageRequest* request,
                                            v1::ReconcileUsageResponse* response) {
  std::string cn;
  absl::Status s = [&]() -> absl::Status {
    SEALPOOL_RETURN_IF_ERROR(
        Authorize(context, *request, request->pool_id(), request->key_group(), &cn).status());
    SEALPOOL_ASSIGN_OR_RETURN(std::vector<KekUsageEntry> usages, UsagesFromProto(request->usages()));
    SEALPOOL_RETURN_IF_ERROR(RecordIntent(
        *audit_, {cn, kRoleStorageServer, Cat("reconcile-usage:", request->usages_size()),
                  request->pool_id(), request->key_group(), "", "", {}}));
    SEALPOOL_ASSIGN_OR_RETURN(ReconcileResult r, backend_->ReconcileUsage(request->pool_id(),
                                                                     request->key_group(), usages));
    for (const KekUsageStatus& u : r.usages) {
      v1::KekUsageStatus* out = response->add_usages();
      out->set_kek_id(u.kek_id);
      out->set_root_key_id(u.root_key_id);
      out->set_root_key_state(ToProto(u.root_key_state));
      out->set_rewrap_needed(u.rewrap_needed);
      out->set_public_key_sha256(u.public_key_sha256);
    }
    response->set_added(r.added);
    response->set_removed(r.removed);
    return absl::OkStatus();
  }();
  audit_
      ->Record({cn, kRoleStorageServer, Cat("reconcile-usage:", request->usages_size()),
                request->pool_id(), request->key_group(), "", "", s})
      .IgnoreError();  // See OutcomeNote.
  return ToGrpcStatus(s);
}

std::vector<std::string> KeyServiceImpl::OtherPools(std::string_view pool_id,
                                                   std::string_view group,
                                                   std::string_view root_key_id) {
  std::set<std::string> pools;
  for (const UsageView& u : backend_->ListUsage(group, root_key_id)) {
    if (u.pool_id != pool_id) pools.insert(u.pool_id);
  }
  return {pools.begin(), pools.end()};
}

grpc::Status KeyServiceImpl::CheckPurge(grpc::ServerContext* context,
                                        const v1::CheckPurgeRequest* request,
                                        v1::CheckPurgeResponse* response) {
  std::string cn;
  absl::Status s = [&]() -> absl::Status {
    SEALPOOL_RETURN_IF_ERROR(
        Authorize(context, *request, request->pool_id(), request->key_group(), &cn).status());
    SEALPOOL_RETURN_IF_ERROR(backend_->GetGroup(request->key_group()).status());
    for (std::string& p : OtherPools(request->pool_id(), request->key_group())) {
      response->add_other_pools(std::move(p));
    }
    SEALPOOL_ASSIGN_OR_RETURN(std::string store_key, backend_->StoreKeyId(request->key_group()));
    response->set_store_key_id(store_key);
    return absl::OkStatus();
  }();
  audit_
      ->Record({cn, kRoleStorageServer, "purge-check", request->pool_id(), request->key_group(),
                "", "", s})
      .IgnoreError();  // See OutcomeNote.
  return ToGrpcStatus(s);
}

grpc::Status KeyServiceImpl::ActivateNewRootKey(grpc::ServerContext* context,
                                                const v1::ActivateNewRootKeyRequest* request,
                                                v1::ActivateNewRootKeyResponse* response) {
  std::string cn;
  std::string id;
  absl::Status s = [&]() -> absl::Status {
    SEALPOOL_RETURN_IF_ERROR(
        Authorize(context, *request, request->pool_id(), request->key_group(), &cn).status());
    SEALPOOL_ASSIGN_OR_RETURN(GroupView g, backend_->GetGroup(request->key_group()));
    if (!g.active_root_key_id.empty() && g.active_root_key_id != request->replaces()) {
      id = g.active_root_key_id;  // done before (a resumed purge)
    } else {
      if (g.active_root_key_id.empty()) {
        return absl::FailedPreconditionError(
            Cat("key group \"", request->key_group(), "\" has no active root key"));
      }
      SEALPOOL_RETURN_IF_ERROR(RecordIntent(
          *audit_, {cn, kRoleStorageServer, "purge-activate-new-root-key", request->pool_id(),
                    request->key_group(), "", "", {}}));
      SEALPOOL_ASSIGN_OR_RETURN(RootKeyView k, backend_->CreateKey(request->key_group()));
      SEALPOOL_RETURN_IF_ERROR(backend_->SetKeyState(k.id, RootKeyState::kActive).status());
      id = k.id;
    }
    response->set_root_key_id(id);
    return absl::OkStatus();
  }();
  audit_
      ->Record({cn, kRoleStorageServer, "purge-activate-new-root-key", request->pool_id(),
                request->key_group(), id, "", s})
      .IgnoreError();  // See OutcomeNote.
  return ToGrpcStatus(s);
}

grpc::Status KeyServiceImpl::DestroyRootKeys(grpc::ServerContext* context,
                                             const v1::DestroyRootKeysRequest* request,
                                             v1::DestroyRootKeysResponse* response) {
  std::string cn;
  absl::Status s = [&]() -> absl::Status {
    SEALPOOL_RETURN_IF_ERROR(
        Authorize(context, *request, request->pool_id(), request->key_group(), &cn).status());
    SEALPOOL_ASSIGN_OR_RETURN(GroupView g, backend_->GetGroup(request->key_group()));
    if (request->keep().empty() || g.active_root_key_id != request->keep()) {
      return absl::FailedPreconditionError(
          Cat("key group \"", request->key_group(), "\": the key to keep (\"", request->keep(),
              "\") is not its active root key (\"", g.active_root_key_id, "\")"));
    }
    SEALPOOL_ASSIGN_OR_RETURN(std::vector<RootKeyView> keys, backend_->ListKeys(request->key_group()));
    // Check every key first: nothing is destroyed if one is still in use.
    std::vector<std::string> blocked;
    for (const RootKeyView& k : keys) {
      if (k.id == request->keep() || k.state == RootKeyState::kTerminated) continue;
      for (const UsageView& u : backend_->ListUsage(request->key_group(), k.id)) {
        blocked.push_back(Cat("pool ", u.pool_id, " (", u.kek_id, " under ", k.id, ")"));
      }
    }
    if (!blocked.empty()) {
      return absl::FailedPreconditionError(
          Cat("key group \"", request->key_group(), "\": root keys to destroy still wrap ",
              "registered keys: ", absl::StrJoin(blocked, ", "), "; nothing was destroyed"));
    }
    for (const RootKeyView& k : keys) {
      if (k.id == request->keep() || k.state == RootKeyState::kTerminated) continue;
      // Fail-closed: each key's destruction is audited (intent) before it is done.
      SEALPOOL_RETURN_IF_ERROR(RecordIntent(
          *audit_, {cn, kRoleStorageServer, "purge-destroy-root-key", request->pool_id(),
                    request->key_group(), k.id, "", {}}));
      if (k.state == RootKeyState::kPrelive) {
        SEALPOOL_RETURN_IF_ERROR(backend_->DeleteKey(k.id));  // never wrapped anything
      } else {
        // The adjacent moves to terminated (docs/kms.md): inactive → deprecated → terminated;
        // deprecated or compromised → terminated.
        if (k.state == RootKeyState::kInactive) {
          SEALPOOL_RETURN_IF_ERROR(backend_->SetKeyState(k.id, RootKeyState::kDeprecated).status());
        }
        SEALPOOL_RETURN_IF_ERROR(backend_->SetKeyState(k.id, RootKeyState::kTerminated).status());
      }
      response->add_destroyed(k.id);
      audit_
          ->Record({cn, kRoleStorageServer, "purge-destroy-root-key", request->pool_id(),
                    request->key_group(), k.id, "", absl::OkStatus()})
          .IgnoreError();  // Done, and covered by its intent line; sealkmsd logs the failure.
    }
    return absl::OkStatus();
  }();
  audit_
      ->Record({cn, kRoleStorageServer, Cat("purge-destroy-root-keys:", response->destroyed_size()),
                request->pool_id(), request->key_group(), request->keep(), "", s})
      .IgnoreError();  // See OutcomeNote.
  return ToGrpcStatus(s);
}

}  // namespace sealpool::kms
