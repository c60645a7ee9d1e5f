#include "kms/client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "kms/grpc_status.h"
#include "kms/names.h"
#include "kms/proto_convert.h"
#include "kms/status_util.h"
#include "kms/wrapped_key_format.h"

namespace sealpool::kms {
namespace {

std::span<uint8_t> MutableBytes(std::string* s) {
  return {reinterpret_cast<uint8_t*>(s->data()), s->size()};
}

// Wipes a secret that passed through a protobuf string we own.
void WipeString(std::string* s) { crypto::Wipe(MutableBytes(s)); }

absl::StatusOr<crypto::SecretBytes> SecretFromString(const std::string& s) {
  SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes out, crypto::SecretBytes::Allocate(s.size()));
  std::copy(s.begin(), s.end(), out.mutable_span().begin());
  return out;
}

void FillUsages(std::span<const KekUsageEntry> usages,
                google::protobuf::RepeatedPtrField<v1::KekUsage>* out) {
  out->Reserve(static_cast<int>(usages.size()));
  for (const KekUsageEntry& u : usages) {
    v1::KekUsage* p = out->Add();
    p->set_kek_id(u.kek_id);
    p->set_root_key_id(u.root_key_id);
    p->set_public_key_sha256(u.public_key_sha256);
  }
}

std::string_view ChannelStateName(grpc_connectivity_state state) {
  switch (state) {
    case GRPC_CHANNEL_IDLE:
      return "idle";
    case GRPC_CHANNEL_CONNECTING:
      return "connecting";
    case GRPC_CHANNEL_READY:
      return "ready";
    case GRPC_CHANNEL_TRANSIENT_FAILURE:
      return "failing (sealkmsd down, or a TLS handshake failure: check the certificates)";
    case GRPC_CHANNEL_SHUTDOWN:
      return "shut down";
  }
  return "unknown";
}

}  // namespace

std::string_view KmsReachabilityName(KmsReachability r) {
  switch (r) {
    case KmsReachability::kReachable:
      return "reachable";
    case KmsReachability::kDegraded:
      return "degraded";
    case KmsReachability::kUnreachable:
      return "unreachable";
  }
  return "unknown";
}

KmsClient::KmsClient(const KmsClientOptions& options)
    : options_(options), cache_(options.cache_capacity), since_(absl::Now()) {
  last_error_ = "not contacted yet";
}

absl::StatusOr<std::unique_ptr<KmsClient>> KmsClient::Create(const KmsClientOptions& options) {
  if (options.target.empty()) return absl::InvalidArgumentError("no sealkmsd address given");
  if (options.ca_pem.empty() || options.cert_pem.empty() || options.key_pem.empty()) {
    return absl::InvalidArgumentError(
        "the key-service client needs a CA, a client certificate and its key (mTLS only)");
  }
  SEALPOOL_RETURN_IF_ERROR(ValidateName("pool id", options.pool_id));
  if (options.call_deadline <= absl::ZeroDuration() ||
      options.initial_backoff <= absl::ZeroDuration() ||
      options.max_backoff < options.initial_backoff) {
    return absl::InvalidArgumentError("bad key-service client deadline or backoff");
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = options.ca_pem;
  ssl.pem_cert_chain = options.cert_pem;
  ssl.pem_private_key = options.key_pem;
  grpc::ChannelArguments args;
  if (!options.server_name.empty()) {
    args.SetSslTargetNameOverride(options.server_name);
  }
  // Reconnect quickly after sealkmsd restarts; the call deadline bounds the waiting anyway.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);  // Retries are ours, bounded by the deadline.
  args.SetMaxReceiveMessageSize(1 << 20);
  std::unique_ptr<KmsClient> client(new KmsClient(options));
  client->channel_ = grpc::CreateCustomChannel(options.target, grpc::SslCredentials(ssl), args);
  client->stub_ = v1::KeyService::NewStub(client->channel_);
  return client;
}

void KmsClient::RecordSuccess() {
  absl::MutexLock lock(&mu_);
  if (reachability_ != KmsReachability::kReachable) {
    reachability_ = KmsReachability::kReachable;
    since_ = absl::Now();
  }
  failing_since_ = absl::InfinitePast();
}

void KmsClient::RecordFailure(const absl::Status& status) {
  absl::MutexLock lock(&mu_);
  absl::Time now = absl::Now();
  last_error_ = std::string(status.message());
  if (reachability_ == KmsReachability::kReachable) {
    reachability_ = KmsReachability::kDegraded;
    since_ = now;
    failing_since_ = now;
  }
}

KmsClientState KmsClient::State() const {
  absl::MutexLock lock(&mu_);
  KmsClientState state{reachability_, since_, last_error_, cache_.size()};
  if (reachability_ == KmsReachability::kDegraded &&
      absl::Now() - failing_since_ >= options_.unreachable_after) {
    state.reachability = KmsReachability::kUnreachable;
    state.since = failing_since_ + options_.unreachable_after;
  }
  return state;
}

absl::Status KmsClient::Call(std::string_view what,
                             const std::function<grpc::Status(grpc::ClientContext*)>& attempt) {
  const absl::Time deadline = absl::Now() + options_.call_deadline;
  absl::Duration backoff = options_.initial_backoff;
  thread_local std::minstd_rand jitter(std::random_device{}());
  for (int n = 1;; ++n) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline));
    // Wait for the channel to (re)connect, within the deadline, rather than failing at once
    // while it is in reconnect backoff after sealkmsd restarted.
    context.set_wait_for_ready(true);
    absl::Status status = FromGrpcStatus(attempt(&context));
    bool transport = status.code() == absl::StatusCode::kUnavailable ||
                     status.code() == absl::StatusCode::kDeadlineExceeded;
    if (!transport) {
      RecordSuccess();  // sealkmsd answered, whatever it said.
      return status;
    }
    RecordFailure(status);
    absl::Duration left = deadline - absl::Now();
    if (status.code() == absl::StatusCode::kDeadlineExceeded || left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          Cat(what, ": sealkmsd at ", options_.target, " did not answer within ",
              absl::FormatDuration(options_.call_deadline), " (", n, " attempt(s); connection ",
              ChannelStateName(channel_->GetState(false)), "): ", status.message()));
    }
    // Full jitter in [backoff/2, backoff].
    std::uniform_real_distribution<double> dist(0.5, 1.0);
    absl::Duration sleep = std::min(backoff * dist(jitter), left);
    if (sleep >= left) {
      return absl::UnavailableError(Cat(
          what, ": sealkmsd at ", options_.target, " is unreachable (gave up after ",
          absl::FormatDuration(options_.call_deadline), ", ", n, " attempts): ", status.message()));
    }
    absl::SleepFor(sleep);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

absl::StatusOr<WrappedSecret> KmsClient::Wrap(std::string_view key_group, std::string_view kek_id,
                                              std::span<const uint8_t> secret) {
  v1::WrapKeyRequest request;
  request.set_pool_id(options_.pool_id);
  request.set_key_group(std::string(key_group));
  request.set_kek_id(std::string(kek_id));
  request.set_secret(secret.data(), secret.size());
  v1::WrapKeyResponse response;
  absl::Status s =
      Call(Cat("wrapping KEK ", kek_id, " of key group ", key_group),
           [&](grpc::ClientContext* c) { return stub_->WrapKey(c, request, &response); });
  WipeString(request.mutable_secret());
  SEALPOOL_RETURN_IF_ERROR(s);
  WrappedSecret out{response.root_key_id(),
                    std::vector<uint8_t>(response.wrapped().begin(), response.wrapped().end())};
  if (out.blob.empty() || out.blob.size() > kMaxWrappedKeySize) {
    return absl::InternalError("sealkmsd returned a wrapped key of impossible size");
  }
  // The pool will ask for this KEK soon; keep it.
  SEALPOOL_RETURN_IF_ERROR(cache_.Insert(key_group, kek_id, out.blob, secret));
  return out;
}

absl::StatusOr<crypto::SecretBytes> KmsClient::Unwrap(std::string_view key_group,
                                                      std::string_view kek_id,
                                                      std::span<const uint8_t> blob) {
  SEALPOOL_ASSIGN_OR_RETURN(std::optional<crypto::SecretBytes> cached,
                       cache_.Find(key_group, kek_id, blob));
  if (cached) return *std::move(cached);
  SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes secret,
                       DoUnwrap(key_group, kek_id, blob, /*for_rewrap=*/false));
  SEALPOOL_RETURN_IF_ERROR(cache_.Insert(key_group, kek_id, blob, secret.span()));
  return secret;
}

absl::StatusOr<crypto::SecretBytes> KmsClient::UnwrapForRewrap(std::string_view key_group,
                                                               std::string_view kek_id,
                                                               std::span<const uint8_t> blob) {
  return DoUnwrap(key_group, kek_id, blob, /*for_rewrap=*/true);
}

absl::StatusOr<crypto::SecretBytes> KmsClient::DoUnwrap(std::string_view key_group,
                                                        std::string_view kek_id,
                                                        std::span<const uint8_t> blob,
                                                        bool for_rewrap) {
  if (blob.empty() || blob.size() > kMaxWrappedKeySize) {
    return absl::InvalidArgumentError(
        Cat("wrapped KEK ", kek_id, " is ", blob.size(), " bytes; not a wrapped key"));
  }
  v1::UnwrapKeyRequest request;
  request.set_pool_id(options_.pool_id);
  request.set_key_group(std::string(key_group));
  request.set_kek_id(std::string(kek_id));
  request.set_wrapped(blob.data(), blob.size());
  if (for_rewrap) request.set_purpose(v1::UNWRAP_PURPOSE_REWRAP);
  v1::UnwrapKeyResponse response;
  absl::Status s = Call(
      Cat("unwrapping KEK ", kek_id, " of key group ", key_group, " (not in the client's cache)"),
      [&](grpc::ClientContext* c) { return stub_->UnwrapKey(c, request, &response); });
  absl::StatusOr<crypto::SecretBytes> secret =
      s.ok() ? SecretFromString(response.secret()) : absl::StatusOr<crypto::SecretBytes>(s);
  WipeString(response.mutable_secret());
  return secret;
}

absl::StatusOr<ActiveRootKey> KmsClient::GetActiveRootKey(std::string_view key_group) {
  v1::GetActiveKeyRequest request;
  request.set_pool_id(options_.pool_id);
  request.set_key_group(std::string(key_group));
  v1::GetActiveKeyResponse response;
  SEALPOOL_RETURN_IF_ERROR(
      Call(Cat("reading the active root key of key group ", key_group),
           [&](grpc::ClientContext* c) { return stub_->GetActiveKey(c, request, &response); }));
  return ActiveRootKey{response.root_key_id()};
}

absl::Status KmsClient::RegisterUsage(std::string_view key_group,
                                      std::span<const KekUsageEntry> usages) {
  v1::RegisterUsageRequest request;
  request.set_pool_id(options_.pool_id);
  request.set_key_group(std::string(key_group));
  FillUsages(usages, request.mutable_usages());
  v1::RegisterUsageResponse response;
  return Call(Cat("registering ", usages.size(), " KEK(s) of key group ", key_group),
              [&](grpc::ClientContext* c) { return stub_->RegisterUsage(c, request, &response); });
}

absl::StatusOr<ReconcileResult> KmsClient::Reconcile(std::string_view key_group,
                                                     std::span<const KekUsageEntry> usages) {
  v1::ReconcileUsageRequest request;
  request.set_pool_id(options_.pool_id);
  request.set_key_group(std::string(key_group));
  FillUsages(usages, request.mutable_usages());
  v1::ReconcileUsageResponse response;
  SEALPOOL_RETURN_IF_ERROR(
      Call(Cat("reconciling the KEKs of key group ", key_group),
           [&](grpc::ClientContext* c) { return stub_->ReconcileUsage(c, request, &response); }));
  ReconcileResult out;
  out.added = response.added();
  out.removed = response.removed();
  for (const v1::KekUsageStatus& u : response.usages()) {
    std::optional<RootKeyState> state = FromProto(u.root_key_state());
    if (!state) return absl::InternalError("sealkmsd returned an unknown root key state");
    out.usages.push_back(KekUsageStatus{u.kek_id(), u.root_key_id(), *state, u.rewrap_needed(),
                                            u.public_key_sha256()});
  }
  return out;
}

absl::StatusOr<KmsClient::PurgeCheck> KmsClient::CheckPurge(std::string_view key_group) {
  v1::CheckPurgeRequest request;
  request.set_pool_id(options_.pool_id);
  request.set_key_group(std::string(key_group));
  v1::CheckPurgeResponse response;
  SEALPOOL_RETURN_IF_ERROR(
      Call(Cat("checking key group ", key_group, " for a purge"),
           [&](grpc::ClientContext* c) { return stub_->CheckPurge(c, request, &response); }));
  return PurgeCheck{{response.other_pools().begin(), response.other_pools().end()},
                    response.store_key_id()};
}

absl::StatusOr<std::string> KmsClient::ActivateNewRootKey(std::string_view key_group,
                                                          std::string_view replaces) {
  v1::ActivateNewRootKeyRequest request;
  request.set_pool_id(options_.pool_id);
  request.set_key_group(std::string(key_group));
  request.set_replaces(std::string(replaces));
  v1::ActivateNewRootKeyResponse response;
  SEALPOOL_RETURN_IF_ERROR(Call(
      Cat("activating a new root key in key group ", key_group),
      [&](grpc::ClientContext* c) { return stub_->ActivateNewRootKey(c, request, &response); }));
  return response.root_key_id();
}

absl::StatusOr<std::vector<std::string>> KmsClient::DestroyRootKeys(std::string_view key_group,
                                                                    std::string_view keep) {
  v1::DestroyRootKeysRequest request;
  request.set_pool_id(options_.pool_id);
  request.set_key_group(std::string(key_group));
  request.set_keep(std::string(keep));
  v1::DestroyRootKeysResponse response;
  SEALPOOL_RETURN_IF_ERROR(Call(
      Cat("destroying the root keys of key group ", key_group, " but ", keep),
      [&](grpc::ClientContext* c) { return stub_->DestroyRootKeys(c, request, &response); }));
  return std::vector<std::string>(response.destroyed().begin(), response.destroyed().end());
}

}  // namespace sealpool::kms
