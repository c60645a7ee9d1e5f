#include "daemon/sealpoold/client_service.h"

#include <algorithm>
#include <cstring>
#include <span>

#include "base/status_macros.h"
#include "base/strings.h"
#include "crypto/secure_memory.h"
#include "daemon/sealpoold/image_stream.h"
#include "daemon/sealpoold/metrics.h"
#include "kms/grpc_status.h"
#include "spdlog/spdlog.h"

namespace sealpool::daemon {

using base::Cat;
using kms::ToGrpcStatus;
namespace v1 = pool::v1;

namespace {

constexpr uint32_t kDefaultPageSize = 1000;

// Records one finished RPC in the metrics (requests_total, request_duration_seconds).
grpc::Status Finish(PoolRuntime* runtime, std::string_view method, absl::Time start,
                    const absl::Status& status) {
  if (PoolMetrics* m = runtime->metrics(); m != nullptr) {
    m->RecordRequest(method, status.code(), absl::Now() - start);
  }
  return ToGrpcStatus(status);
}
constexpr uint32_t kMaxPageSize = 10000;

bool Printable(std::string_view s) {
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
}

}  // namespace

absl::Status ValidateBackupHeader(const v1::BackupHeader& header, const LsuConfig& lsu,
                                  absl::Time now) {
  if (header.labels_size() > static_cast<int>(kMaxLabels)) {
    return absl::InvalidArgumentError(
        Cat("header.labels: ", header.labels_size(), " labels, at most ", kMaxLabels));
  }
  for (const auto& [k, v] : header.labels()) {
    if (k.empty() || k.size() > kMaxLabelKey || !Printable(k)) {
      return absl::InvalidArgumentError(
          Cat("header.labels: a key must be 1..", kMaxLabelKey, " printable bytes"));
    }
    if (v.size() > kMaxLabelValue || !Printable(v)) {
      return absl::InvalidArgumentError(Cat("header.labels[", k, "]: a value must be at most ",
                                            kMaxLabelValue, " printable bytes"));
    }
  }
  const int64_t retain = header.retain_until_unix_micros();
  if (retain < 0) {
    return absl::InvalidArgumentError("header.retain_until_unix_micros: negative");
  }
  if (retain > 0) {
    const absl::Time until = absl::FromUnixMicros(retain);
    if (until > now + lsu.max_retention) {
      return absl::InvalidArgumentError(
          Cat("header.retain_until: ", absl::FormatTime(until, absl::UTCTimeZone()),
              " is beyond LSU ", lsu.name, "'s max_retention (",
              absl::ToInt64Hours(lsu.max_retention) / 24, " days from now)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ClientService::Caller> ClientService::Authenticate(
    grpc::ServerContext* context) const {
  Caller caller;
  caller.access = runtime_->access();
  absl::StatusOr<std::string> cn =
      ClientIdentityFromAuthContext(*context->auth_context(), caller.access->crl.get());
  if (!cn.ok()) return cn.status();
  caller.cn = *std::move(cn);
  auto it = caller.access->clients.find(caller.cn);
  if (it == caller.access->clients.end()) {
    return absl::PermissionDeniedError(Cat("client certificate CN \"", caller.cn,
                                           "\" is not in sealpoold's client map ([[client]])"));
  }
  caller.client = &it->second;
  return caller;
}

absl::Status ClientService::Authorize(const Caller& caller, std::string_view lsu,
                                      ClientRight right) const {
  if (lsu.empty()) return absl::InvalidArgumentError("lsu: empty");
  // Bounded before anything echoes it into a status message.
  if (lsu.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(Cat("lsu: longer than ", kMaxNameBytes, " bytes"));
  }
  auto it = caller.client->access.find(std::string(lsu));
  if (it == caller.client->access.end() || !it->second.contains(right)) {
    return absl::PermissionDeniedError(Cat("client \"", caller.cn, "\" may not ",
                                           ClientRightName(right), " in LSU \"", lsu, "\""));
  }
  if (runtime_->config().FindLsu(lsu) == nullptr) {
    // Granted by a config SIGHUP reloaded, but LSUs are created only at start.
    return absl::NotFoundError(Cat("no LSU \"", lsu, "\" in the running configuration (",
                                   "new LSUs take effect when sealpoold restarts)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<storage::ImageInfo> ClientService::OwnImage(const Caller& caller,
                                                          std::string_view lsu,
                                                          std::string_view name) const {
  if (name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(Cat("name: longer than ", kMaxNameBytes, " bytes"));
  }
  // The pool looks the image up under the caller's own name: another owner's image is
  // reported exactly like a missing one.
  return runtime_->pool().StatImage({std::string(lsu), caller.cn, std::string(name)});
}

// ---- Backup ----

absl::Status ClientService::PrepareBackup(const Caller& caller, const v1::BackupHeader& header,
                                          absl::Time start, uint64_t* owner_bytes_out,
                                          storage::ImageRequest* request) const {
  SEALPOOL_RETURN_IF_ERROR(Authorize(caller, header.lsu(), ClientRight::kBackup));
  const LsuConfig& lsu = *runtime_->config().FindLsu(header.lsu());
  SEALPOOL_RETURN_IF_ERROR(ValidateBackupHeader(header, lsu, start));
  runtime_->RefreshSpace();
  SEALPOOL_RETURN_IF_ERROR(runtime_->CheckIngestAllowed());
  // Issue 17: a public group whose KEK pair failed its check takes no backup.
  SEALPOOL_RETURN_IF_ERROR(runtime_->kek_pairs().NoteIngest(lsu.key_group));

  uint64_t owner_bytes = 0;
  if (lsu.owner_quota_bytes > 0) {
    SEALPOOL_ASSIGN_OR_RETURN(owner_bytes, runtime_->pool().OwnerLogicalBytes(lsu.name, caller.cn));
    if (owner_bytes >= lsu.owner_quota_bytes) {
      return absl::ResourceExhaustedError(
          Cat("client \"", caller.cn, "\" is at its quota in LSU ", lsu.name, " (",
              owner_bytes, " of ", lsu.owner_quota_bytes, " logical bytes)"));
    }
  }

  request->lsu = header.lsu();
  request->name = header.name();
  request->owner = caller.cn;
  request->labels.insert(header.labels().begin(), header.labels().end());
  request->retain_until = FromUnixMicrosOrNone(header.retain_until_unix_micros());
  *owner_bytes_out = owner_bytes;
  return absl::OkStatus();
}

grpc::Status ClientService::Backup(grpc::ServerContext* context,
                                   grpc::ServerReader<v1::BackupRequest>* reader,
                                   v1::BackupResponse* response) {
  const absl::Time start = absl::Now();
  return Finish(runtime_, "Backup", start, DoBackup(context, reader, response));
}

absl::Status ClientService::DoBackup(grpc::ServerContext* context,
                                     grpc::ServerReader<v1::BackupRequest>* reader,
                                     v1::BackupResponse* response) {
  const absl::Time start = absl::Now();
  SEALPOOL_ASSIGN_OR_RETURN(Caller caller, Authenticate(context));
  SEALPOOL_ASSIGN_OR_RETURN(StreamRegistry::Slot slot,
                            runtime_->streams().Acquire(StreamKind::kBackup, context));
  v1::BackupRequest msg;
  if (!reader->Read(&msg)) {
    return absl::InvalidArgumentError("the backup stream ended before its header");
  }
  slot.Touch();
  if (!msg.has_header()) {
    return absl::InvalidArgumentError("the first message of a backup must be its header");
  }
  const v1::BackupHeader header = msg.header();
  uint64_t owner_bytes = 0;
  storage::ImageRequest request;
  SEALPOOL_RETURN_IF_ERROR(PrepareBackup(caller, header, start, &owner_bytes, &request));
  const LsuConfig& lsu = *runtime_->config().FindLsu(header.lsu());
  SEALPOOL_ASSIGN_OR_RETURN(std::unique_ptr<storage::ImageWriter> writer,
                            runtime_->pool().BeginImage(request));

  uint64_t received = 0;
  while (true) {
    if (!reader->Read(&msg)) {
      writer->Abort();
      if (context->IsCancelled()) {
        return absl::CancelledError("the backup stream was cancelled; nothing was stored");
      }
      return absl::InvalidArgumentError(
          "the backup stream ended without a commit; nothing was stored");
    }
    slot.Touch();
    switch (msg.msg_case()) {
      case v1::BackupRequest::kData: {
        const std::string& data = msg.data();
        // The free space is looked at again every 64 MiB, so one long backup cannot fill the
        // file system past the high-water mark by more than that.
        if ((received >> 26) != ((received + data.size()) >> 26)) {
          runtime_->RefreshSpace();
          if (runtime_->high_water()) {
            writer->Abort();
            return runtime_->CheckIngestAllowed();
          }
        }
        received += data.size();
        if (PoolMetrics* m = runtime_->metrics(); m != nullptr) m->bytes_received->Inc(data.size());
        if (lsu.owner_quota_bytes > 0 && owner_bytes + received > lsu.owner_quota_bytes) {
          writer->Abort();
          return absl::ResourceExhaustedError(
              Cat("client \"", caller.cn, "\" would exceed its quota in LSU ", lsu.name, " (",
                  lsu.owner_quota_bytes, " logical bytes); nothing was stored"));
        }
        absl::Status s = writer->Write(std::span<const uint8_t>(
            reinterpret_cast<const uint8_t*>(data.data()), data.size()));
        if (!s.ok()) {
          writer->Abort();
          return s;
        }
        break;
      }
      case v1::BackupRequest::kHeader:
        writer->Abort();
        return absl::InvalidArgumentError("a backup stream carries exactly one header");
      case v1::BackupRequest::kCommit: {
        if (msg.commit().size() != received) {
          writer->Abort();
          return absl::InvalidArgumentError(Cat("the commit says ", msg.commit().size(),
                                                " bytes but ", received,
                                                " arrived; nothing was stored"));
        }
        // Nothing may follow the commit: the client half-closes, then the image commits.
        if (reader->Read(&msg)) {
          writer->Abort();
          return absl::InvalidArgumentError(
              "a message followed the commit; nothing was stored");
        }
        if (context->IsCancelled()) {
          writer->Abort();
          return absl::CancelledError("the backup stream was cancelled; nothing was stored");
        }
        SEALPOOL_ASSIGN_OR_RETURN(storage::ImageInfo info, writer->Commit());
        if (PoolMetrics* m = runtime_->metrics(); m != nullptr) {
          const storage::WriteStats& ws = writer->stats();
          m->images_written->Inc();
          m->segments_new->Inc(ws.new_segments);
          m->segments_shared->Inc(ws.duplicate_segments);
          m->bytes_stored->Inc(ws.new_stored_bytes);
        }
        ImageToProto(info, response->mutable_image());
        response->set_bytes_received(received);
        response->set_segments(writer->stats().segments);
        response->set_elapsed_seconds(absl::ToDoubleSeconds(absl::Now() - start));
        return absl::OkStatus();
      }
      case v1::BackupRequest::MSG_NOT_SET:
        writer->Abort();
        return absl::InvalidArgumentError("an empty backup message (no header, data or commit)");
    }
  }
}

// ---- DedupBackup ----

grpc::Status ClientService::DedupBackup(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::DedupBackupResponse, v1::DedupBackupRequest>* stream) {
  const absl::Time start = absl::Now();
  return Finish(runtime_, "DedupBackup", start, DoDedupBackup(context, stream));
}

namespace {

// Overwrites a protobuf string that held key material (best effort: gRPC's own buffers are out
// of reach, docs/security.md).
void WipeString(std::string* s) {
  if (s->empty()) return;
  crypto::Wipe(std::span<uint8_t>(reinterpret_cast<uint8_t*>(s->data()), s->size()));
  s->clear();
}

}  // namespace

absl::Status ClientService::DoDedupBackup(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::DedupBackupResponse, v1::DedupBackupRequest>* stream) {
  const absl::Time start = absl::Now();
  SEALPOOL_ASSIGN_OR_RETURN(Caller caller, Authenticate(context));
  SEALPOOL_ASSIGN_OR_RETURN(StreamRegistry::Slot slot,
                            runtime_->streams().Acquire(StreamKind::kBackup, context));
  v1::DedupBackupRequest msg;
  if (!stream->Read(&msg)) {
    return absl::InvalidArgumentError("the backup stream ended before its header");
  }
  slot.Touch();
  if (!msg.has_header()) {
    return absl::InvalidArgumentError("the first message of a backup must be its header");
  }
  const v1::DedupBackupHeader dheader = msg.header();
  if (dheader.protocol_version() != kDedupProtocolVersion) {
    return absl::UnimplementedError(Cat("DedupBackup protocol version ",
                                        dheader.protocol_version(), ": this sealpoold speaks ",
                                        kDedupProtocolVersion));
  }
  if (!caller.client->client_dedup) {
    return absl::PermissionDeniedError(
        Cat("client \"", caller.cn, "\" may not use client-side dedup (its [[client]] entry in "
            "sealpoold's config does not set client_dedup = true); back up with Backup instead"));
  }
  const v1::BackupHeader& header = dheader.backup();
  if (dheader.base_image().size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(
        Cat("header.base_image: longer than ", kMaxNameBytes, " bytes"));
  }
  uint64_t owner_bytes = 0;
  storage::ImageRequest request;
  SEALPOOL_RETURN_IF_ERROR(PrepareBackup(caller, header, start, &owner_bytes, &request));
  const LsuConfig& lsu = *runtime_->config().FindLsu(header.lsu());
  const uint32_t epoch = caller.client->client_dedup_epoch;
  SEALPOOL_ASSIGN_OR_RETURN(std::unique_ptr<storage::ClientDedupWriter> writer,
                            runtime_->pool().BeginClientDedupImage(
                                request, {.epoch = epoch, .base_name = dheader.base_image()}));
  {
    absl::StatusOr<crypto::ClientDigestKey> key =
        runtime_->pool().ClientDigestKey(header.lsu(), caller.cn, epoch);
    if (!key.ok()) {
      writer->Abort();
      return key.status();
    }
    v1::DedupBackupResponse reply;
    v1::DedupStart* st = reply.mutable_start();
    st->set_protocol_version(kDedupProtocolVersion);
    std::vector<uint8_t> params;
    writer->chunker().EncodeTo(&params);
    st->set_chunker_params(params.data(), params.size());
    st->set_digest_key(key->RevealSecret().data(), key->RevealSecret().size());
    st->set_digest_key_epoch(epoch);
    st->set_max_batch_segments(kMaxDigestBatch);
    const bool sent = stream->Write(reply);
    WipeString(st->mutable_digest_key());
    if (!sent) {
      writer->Abort();
      return absl::CancelledError("the client went away before the backup began; nothing was stored");
    }
  }

  uint64_t offered = 0;   // logical bytes of every offered segment
  uint64_t received = 0;  // segment bytes sent
  std::vector<storage::OfferedSegment> batch;
  while (true) {
    if (!stream->Read(&msg)) {
      writer->Abort();
      if (context->IsCancelled()) {
        return absl::CancelledError("the backup stream was cancelled; nothing was stored");
      }
      return absl::InvalidArgumentError(
          "the backup stream ended without a commit; nothing was stored");
    }
    slot.Touch();
    switch (msg.msg_case()) {
      case v1::DedupBackupRequest::kDigests: {
        const auto& segments = msg.digests().segments();
        if (segments.empty() || segments.size() > static_cast<int>(kMaxDigestBatch)) {
          writer->Abort();
          return absl::InvalidArgumentError(Cat("a digest batch of ", segments.size(),
                                                " segments; it must hold 1..", kMaxDigestBatch,
                                                "; nothing was stored"));
        }
        batch.clear();
        uint64_t bytes = 0;
        for (int i = 0; i < segments.size(); ++i) {
          const v1::SegmentDigest& d = segments[i];
          if (d.digest().size() != storage::ClientDigest().size()) {
            writer->Abort();
            return absl::InvalidArgumentError(
                Cat("digest batch entry ", i, ": a digest of ", d.digest().size(),
                    " bytes, expected ", storage::ClientDigest().size(), "; nothing was stored"));
          }
          storage::OfferedSegment o;
          std::memcpy(o.digest.data(), d.digest().data(), o.digest.size());
          o.length = d.length();
          bytes += d.length();
          batch.push_back(o);
        }
        if (lsu.owner_quota_bytes > 0 && owner_bytes + offered + bytes > lsu.owner_quota_bytes) {
          writer->Abort();
          return absl::ResourceExhaustedError(
              Cat("client \"", caller.cn, "\" would exceed its quota in LSU ", lsu.name, " (",
                  lsu.owner_quota_bytes, " logical bytes); nothing was stored"));
        }
        offered += bytes;
        SEALPOOL_ASSIGN_OR_RETURN(std::vector<uint32_t> send, writer->Offer(batch));
        v1::DedupBackupResponse reply;
        reply.mutable_reply()->mutable_send()->Add(send.begin(), send.end());
        if (!stream->Write(reply)) {
          writer->Abort();
          return absl::CancelledError("the backup stream was cancelled; nothing was stored");
        }
        break;
      }
      case v1::DedupBackupRequest::kData: {
        for (const std::string& data : msg.data().segments()) {
          if ((received >> 26) != ((received + data.size()) >> 26)) {
            runtime_->RefreshSpace();
            if (runtime_->high_water()) {
              writer->Abort();
              return runtime_->CheckIngestAllowed();
            }
          }
          received += data.size();
          if (PoolMetrics* m = runtime_->metrics(); m != nullptr) {
            m->bytes_received->Inc(data.size());
          }
          SEALPOOL_RETURN_IF_ERROR(writer->WriteSegment(std::span<const uint8_t>(
              reinterpret_cast<const uint8_t*>(data.data()), data.size())));
        }
        break;
      }
      case v1::DedupBackupRequest::kHeader:
        writer->Abort();
        return absl::InvalidArgumentError("a backup stream carries exactly one header");
      case v1::DedupBackupRequest::kCommit: {
        if (msg.commit().size() != offered) {
          writer->Abort();
          return absl::InvalidArgumentError(Cat("the commit says ", msg.commit().size(),
                                                " bytes but the digest batches offered ",
                                                offered, "; nothing was stored"));
        }
        if (stream->Read(&msg)) {
          writer->Abort();
          return absl::InvalidArgumentError("a message followed the commit; nothing was stored");
        }
        if (context->IsCancelled()) {
          writer->Abort();
          return absl::CancelledError("the backup stream was cancelled; nothing was stored");
        }
        SEALPOOL_ASSIGN_OR_RETURN(storage::ImageInfo info, writer->Commit());
        const storage::WriteStats& ws = writer->stats();
        if (PoolMetrics* m = runtime_->metrics(); m != nullptr) {
          m->images_written->Inc();
          m->segments_new->Inc(ws.new_segments);
          m->segments_shared->Inc(ws.duplicate_segments);
          m->bytes_stored->Inc(ws.new_stored_bytes);
        }
        v1::DedupBackupResponse reply;
        v1::BackupResponse* done = reply.mutable_done();
        ImageToProto(info, done->mutable_image());
        done->set_bytes_received(received);
        done->set_segments(ws.segments);
        done->set_bytes_not_sent(ws.bytes_not_sent);
        done->set_elapsed_seconds(absl::ToDoubleSeconds(absl::Now() - start));
        // The image is committed: a client that went away meanwhile can see it with StatImage.
        stream->Write(reply);
        return absl::OkStatus();
      }
      case v1::DedupBackupRequest::MSG_NOT_SET:
        writer->Abort();
        return absl::InvalidArgumentError(
            "an empty backup message (no header, digests, data or commit)");
    }
  }
}

// ---- Restore ----

grpc::Status ClientService::Restore(grpc::ServerContext* context,
                                    const v1::RestoreRequest* request,
                                    grpc::ServerWriter<v1::RestoreResponse>* writer) {
  const absl::Time start = absl::Now();
  return Finish(runtime_, "Restore", start, DoRestore(context, *request, writer));
}

absl::Status ClientService::DoRestore(grpc::ServerContext* context,
                                      const v1::RestoreRequest& request,
                                      grpc::ServerWriter<v1::RestoreResponse>* writer) {
  SEALPOOL_ASSIGN_OR_RETURN(Caller caller, Authenticate(context));
  SEALPOOL_RETURN_IF_ERROR(Authorize(caller, request.lsu(), ClientRight::kRestore));
  SEALPOOL_RETURN_IF_ERROR(runtime_->CheckRestoreAllowed());
  SEALPOOL_ASSIGN_OR_RETURN(StreamRegistry::Slot slot,
                            runtime_->streams().Acquire(StreamKind::kRestore, context));
  absl::StatusOr<storage::ImageInfo> own = OwnImage(caller, request.lsu(), request.name());
  if (!own.ok()) return NeedsKms(own.status(), "restore", runtime_->config().kms_address);
  const storage::ImageInfo& info = *own;
  std::optional<uint64_t> length;
  if (request.has_length()) length = request.length();
  PoolMetrics* m = runtime_->metrics();
  SEALPOOL_RETURN_IF_ERROR(NeedsKms(
      StreamImage(runtime_->pool(), info, request.offset(), length, writer,
                  [&slot, m](size_t n) {
                    slot.Touch();
                    if (m != nullptr) m->bytes_restored->Inc(n);
                  }),
      "restore", runtime_->config().kms_address));
  if (m != nullptr) m->images_restored->Inc();
  return absl::OkStatus();
}

// ---- List / Stat / Delete ----

grpc::Status ClientService::ListImages(grpc::ServerContext* context,
                                       const v1::ListImagesRequest* request,
                                       v1::ListImagesResponse* response) {
  const absl::Time start = absl::Now();
  absl::StatusOr<Caller> caller = Authenticate(context);
  if (!caller.ok()) return Finish(runtime_, "ListImages", start, caller.status());
  // Listing needs any right on the LSU.
  absl::Status allowed = Authorize(*caller, request->lsu(), ClientRight::kRestore);
  if (!allowed.ok()) allowed = Authorize(*caller, request->lsu(), ClientRight::kBackup);
  if (allowed.ok()) allowed = runtime_->CheckRestoreAllowed();
  if (!allowed.ok()) return Finish(runtime_, "ListImages", start, allowed);
  if (request->page_size() > kMaxPageSize) {
    return Finish(runtime_, "ListImages", start, absl::InvalidArgumentError(
        Cat("page_size: at most ", kMaxPageSize)));
  }
  const uint32_t page = request->page_size() == 0 ? kDefaultPageSize : request->page_size();
  absl::StatusOr<std::vector<storage::ImageInfo>> images =
      runtime_->pool().ListImages(request->lsu(), caller->cn);
  if (!images.ok()) return Finish(runtime_, "ListImages", start, images.status());
  // In name order (the pool lists by (owner, name)); the token is the last name returned.
  std::vector<const storage::ImageInfo*> own;
  for (const storage::ImageInfo& i : *images) {
    if (i.name > request->page_token()) own.push_back(&i);
  }
  for (size_t i = 0; i < own.size() && i < page; ++i) {
    ImageToProto(*own[i], response->add_images());
  }
  if (own.size() > page) response->set_next_page_token(own[page - 1]->name);
  return Finish(runtime_, "ListImages", start, absl::OkStatus());
}

grpc::Status ClientService::StatImage(grpc::ServerContext* context, const v1::ImageRef* request,
                                      v1::Image* response) {
  const absl::Time start = absl::Now();
  absl::StatusOr<Caller> caller = Authenticate(context);
  if (!caller.ok()) return Finish(runtime_, "StatImage", start, caller.status());
  absl::Status allowed = Authorize(*caller, request->lsu(), ClientRight::kRestore);
  if (!allowed.ok()) allowed = Authorize(*caller, request->lsu(), ClientRight::kBackup);
  if (allowed.ok()) allowed = runtime_->CheckRestoreAllowed();
  if (!allowed.ok()) return Finish(runtime_, "StatImage", start, allowed);
  absl::StatusOr<storage::ImageInfo> info = OwnImage(*caller, request->lsu(), request->name());
  if (!info.ok()) return Finish(runtime_, "StatImage", start, info.status());
  ImageToProto(*info, response);
  return Finish(runtime_, "StatImage", start, absl::OkStatus());
}

grpc::Status ClientService::DeleteImage(grpc::ServerContext* context,
                                        const v1::ImageRef* request,
                                        v1::DeleteImageResponse* /*response*/) {
  const absl::Time start = absl::Now();
  absl::StatusOr<Caller> caller = Authenticate(context);
  if (!caller.ok()) return Finish(runtime_, "DeleteImage", start, caller.status());
  absl::Status s = Authorize(*caller, request->lsu(), ClientRight::kDelete);
  if (s.ok()) s = runtime_->CheckDeleteAllowed();
  if (s.ok()) {
    s = runtime_->pool().DeleteImage({request->lsu(), caller->cn, request->name()},
                                     storage::DeleteBy::kClient);
  }
  if (s.ok()) {
    if (PoolMetrics* m = runtime_->metrics(); m != nullptr) m->images_deleted->Inc();
  }
  if (s.code() != absl::StatusCode::kNotFound && s.code() != absl::StatusCode::kPermissionDenied &&
      s.code() != absl::StatusCode::kUnauthenticated) {
    (void)runtime_->Audit({caller->cn, "client", "delete", request->lsu(), caller->cn,
                           request->name(), "", "", s});
  }
  return Finish(runtime_, "DeleteImage", start, s);
}

}  // namespace sealpool::daemon
