#include "daemon/sealpoold/admin_service.h"

#include <algorithm>
#include <csignal>
#include <cstdlib>

#include "base/status_macros.h"
#include "base/strings.h"
#include "absl/strings/str_join.h"
#include "crypto/batch_key_seal.h"
#include "daemon/sealpoold/image_stream.h"
#include "daemon/sealpoold/kek_pair_watch.h"
#include "daemon/sealpoold/kms_root_key_provider.h"
#include "daemon/sealpoold/metrics.h"
#include "daemon/sealpoold/pool_setup.h"
#include "kms/grpc_status.h"
#include "spdlog/spdlog.h"

namespace sealpool::daemon {

using base::Cat;
using kms::ToGrpcStatus;
namespace v1 = pool::v1;

namespace {

constexpr std::string_view kAdminActor = "admin-socket";

void FillJob(const CompactionStatus& s, v1::JobStatus* out) {
  switch (s.state) {
    case JobState::kIdle: out->set_state(v1::JOB_STATE_IDLE); break;
    case JobState::kRunning: out->set_state(v1::JOB_STATE_RUNNING); break;
    case JobState::kDone: out->set_state(v1::JOB_STATE_DONE); break;
    case JobState::kStopped: out->set_state(v1::JOB_STATE_STOPPED); break;
    case JobState::kFailed: out->set_state(v1::JOB_STATE_FAILED); break;
  }
  out->set_containers_total(s.containers_total);
  out->set_containers_done(s.containers_done);
  out->set_bytes_moved(s.bytes_moved);
  out->set_bytes_reclaimed(s.bytes_reclaimed);
  out->set_started_unix_micros(UnixMicros(s.started));
  out->set_finished_unix_micros(UnixMicros(s.finished));
  out->set_error(s.error);
}

storage::ImageKey Key(const v1::AdminImageRef& ref) {
  return {ref.lsu(), ref.owner(), ref.name()};
}

absl::StatusOr<storage::ImageInfo> AdminImage(const storage::Pool& pool,
                                              const v1::AdminImageRef& ref) {
  return pool.StatImage(Key(ref));
}

}  // namespace

grpc::Status AdminService::Audited(std::string_view op, std::string_view lsu,
                                   std::string_view owner, std::string_view image,
                                   std::string_view key_group, std::string_view detail,
                                   const absl::Status& result) {
  absl::Status audit =
      runtime_->Audit({kAdminActor, "admin", op, lsu, owner, image, key_group, detail, result});
  if (result.ok() && !audit.ok()) {
    return ToGrpcStatus(absl::InternalError(
        Cat(op, " was done but its audit line could not be written: ", audit.message())));
  }
  return ToGrpcStatus(result);
}

grpc::Status AdminService::AuditIntent(std::string_view op, std::string_view key_group) {
  PoolAuditEvent e{kAdminActor, "admin", op, "", "", "", key_group, "", absl::OkStatus()};
  e.intent = true;
  absl::Status audit = runtime_->Audit(e);
  if (audit.ok()) return grpc::Status::OK;
  return ToGrpcStatus(absl::InternalError(
      Cat("sealpoold refused ", op, ": ", audit.message(),
          "; nothing was changed (a key operation whose audit line cannot be written and synced "
          "is refused)")));
}

// ---- images ----

grpc::Status AdminService::ListImages(Ctx*, const v1::AdminListImagesRequest* request,
                                      v1::ListImagesResponse* response) {
  if (request->page_size() > 10000) {
    return ToGrpcStatus(absl::InvalidArgumentError("page_size: at most 10000"));
  }
  const uint32_t page = request->page_size() == 0 ? 1000 : request->page_size();
  std::vector<std::string> lsus;
  if (!request->lsu().empty()) {
    lsus.push_back(request->lsu());
  } else {
    absl::StatusOr<std::vector<storage::LsuInfo>> all = runtime_->pool().ListLsus();
    if (!all.ok()) return ToGrpcStatus(all.status());
    for (const auto& l : *all) lsus.push_back(l.name);
  }
  // Pages are ordered by (lsu, owner, name); the token is those three joined by NUL bytes.
  std::vector<storage::ImageInfo> images;
  for (const std::string& lsu : lsus) {
    std::optional<std::string_view> owner;
    if (request->has_owner()) owner = request->owner();
    absl::StatusOr<std::vector<storage::ImageInfo>> some =
        runtime_->pool().ListImages(lsu, owner);
    if (!some.ok()) return ToGrpcStatus(some.status());
    for (storage::ImageInfo& i : *some) images.push_back(std::move(i));
  }
  auto key = [](const storage::ImageInfo& i) {
    return Cat(i.lsu, std::string_view("\0", 1), i.owner, std::string_view("\0", 1), i.name);
  };
  std::sort(images.begin(), images.end(),
            [&](const auto& a, const auto& b) { return key(a) < key(b); });
  size_t added = 0;
  for (const storage::ImageInfo& i : images) {
    if (!request->page_token().empty() && key(i) <= request->page_token()) continue;
    if (added == page) {
      // More follow: the token is the last image returned.
      const v1::Image& last = response->images(response->images_size() - 1);
      response->set_next_page_token(Cat(last.lsu(), std::string_view("\0", 1), last.owner(),
                                        std::string_view("\0", 1), last.name()));
      break;
    }
    ImageToProto(i, response->add_images());
    ++added;
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::StatImage(Ctx*, const v1::AdminImageRef* request,
                                     v1::Image* response) {
  absl::StatusOr<storage::ImageInfo> info = AdminImage(runtime_->pool(), *request);
  if (!info.ok()) return ToGrpcStatus(info.status());
  ImageToProto(*info, response);
  return grpc::Status::OK;
}

grpc::Status AdminService::Restore(Ctx*, const v1::AdminRestoreRequest* request,
                                   grpc::ServerWriter<v1::RestoreResponse>* writer) {
  absl::StatusOr<storage::ImageInfo> info = AdminImage(runtime_->pool(), request->image());
  if (!info.ok()) {
    return ToGrpcStatus(NeedsKms(info.status(), "restore", runtime_->config().kms_address));
  }
  std::optional<uint64_t> length;
  if (request->has_length()) length = request->length();
  return ToGrpcStatus(
      NeedsKms(StreamImage(runtime_->pool(), *info, request->offset(), length, writer, nullptr),
               "restore", runtime_->config().kms_address));
}

grpc::Status AdminService::DeleteImage(Ctx*, const v1::AdminImageRef* request,
                                       v1::DeleteImageResponse*) {
  // Read-only refuses deletes from everyone; maintenance is for admins' work.
  absl::Status s = runtime_->mode() == PoolMode::kReadOnly
                       ? absl::FailedPreconditionError("the pool is read-only; deletes are refused")
                       : runtime_->pool().DeleteImage(Key(*request), storage::DeleteBy::kAdmin);
  if (s.ok()) {
    if (PoolMetrics* m = runtime_->metrics(); m != nullptr) m->images_deleted->Inc();
  }
  return Audited("delete", request->lsu(), request->owner(), request->name(), "", "", s);
}

grpc::Status AdminService::ReassignOwner(Ctx*, const v1::ReassignOwnerRequest* request,
                                         v1::Image* out) {
  absl::Status s = runtime_->pool().ReassignOwner(Key(request->image()), request->new_owner());
  grpc::Status g = Audited("reassign-owner", request->image().lsu(), request->image().owner(),
                           request->image().name(), "",
                           Cat("new_owner=", request->new_owner()), s);
  if (!g.ok()) return g;
  absl::StatusOr<storage::ImageInfo> info = runtime_->pool().StatImage(
      {request->image().lsu(), request->new_owner(), request->image().name()});
  if (!info.ok()) return ToGrpcStatus(info.status());
  ImageToProto(*info, out);
  return grpc::Status::OK;
}

grpc::Status AdminService::ExtendRetention(Ctx*, const v1::ExtendRetentionRequest* request,
                                           v1::Image* out) {
  absl::Status s = request->retain_until_unix_micros() <= 0
                       ? absl::InvalidArgumentError("retain_until_unix_micros: not a time")
                       : runtime_->pool().ExtendRetention(
                             Key(request->image()),
                             absl::FromUnixMicros(request->retain_until_unix_micros()));
  grpc::Status g = Audited(
      "extend-retention", request->image().lsu(), request->image().owner(),
      request->image().name(), "",
      Cat("retain_until=", absl::FormatTime(absl::FromUnixMicros(std::max<int64_t>(
                                                 request->retain_until_unix_micros(), 0)),
                                             absl::UTCTimeZone())),
      s);
  if (!g.ok()) return g;
  absl::StatusOr<storage::ImageInfo> info = runtime_->pool().StatImage(Key(request->image()));
  if (!info.ok()) return ToGrpcStatus(info.status());
  ImageToProto(*info, out);
  return grpc::Status::OK;
}

// ---- mode and statistics ----

absl::Status CheckKekModeRequest(std::string_view mode, const PoolConfig& config) {
  if (mode != "symmetric" && mode != "public") {
    return absl::InvalidArgumentError(
        Cat("kek_mode: \"", mode, "\" is not \"symmetric\" or \"public\""));
  }
  if (mode == "public" && config.host_key_file.empty() && config.host_key_credential.empty()) {
    return absl::FailedPreconditionError(
        "kek_mode \"public\" needs a host key so that ingest needs no KMS: set [keys] "
        "host_key_file or host_key_credential in sealpoold's config and restart it");
  }
  return absl::OkStatus();
}

void AdminService::FillKeyGroupModes(const std::vector<storage::KeyGroupInfo>& groups,
                                     v1::GetModeResponse* out) const {
  for (const storage::KeyGroupInfo& g : groups) {
    v1::KeyGroupMode* m = out->add_key_groups();
    m->set_name(g.name);
    const bool pub = !g.keks.empty() && g.keks.front().pair;
    m->set_kek_mode(pub ? "public" : "symmetric");
    absl::StatusOr<bool> without = runtime_->pool().FingerprintKeyWithoutKms(g.name);
    // A symmetric group wraps each new DEK under a KEK it must unwrap through the KMS once.
    m->set_ingest_needs_kms(!pub || !without.ok() || !*without);
    if (!pub) continue;
    absl::StatusOr<KekPairWatch::State> st = runtime_->kek_pairs().Get(g.name);
    if (!st.ok()) continue;
    auto micros = [](absl::Time t) {
      return t == absl::InfinitePast() ? int64_t{0} : absl::ToUnixMicros(t);
    };
    m->set_confirmed(st->confirmed);
    m->set_last_confirmed_unix_micros(micros(st->last_confirmed));
    m->set_last_ingest_unix_micros(micros(st->last_ingest));
    m->set_unconfirmed_since_unix_micros(micros(st->unconfirmed_since));
    m->set_ingest_stopped(!st->check_failed.empty());
    for (const std::string& w : st->warnings) m->add_warnings(w);
  }
}

void AdminService::FillMode(v1::GetModeResponse* out) const {
  const PoolMode mode = runtime_->mode();
  out->set_mode(mode == PoolMode::kReadWrite  ? v1::POOL_MODE_READ_WRITE
                : mode == PoolMode::kReadOnly ? v1::POOL_MODE_READ_ONLY
                                              : v1::POOL_MODE_MAINTENANCE);
  absl::Status ingest = runtime_->CheckIngestAllowed();
  absl::Status restore = runtime_->CheckRestoreAllowed();
  absl::Status del = runtime_->CheckDeleteAllowed();
  out->set_ingest_allowed(ingest.ok());
  out->set_restore_allowed(restore.ok());
  out->set_delete_allowed(del.ok());
  for (const absl::Status* s : {&ingest, &restore, &del}) {
    if (!s->ok()) {
      std::string reason(s->message());
      if (std::find(out->reasons().begin(), out->reasons().end(), reason) == out->reasons().end())
        out->add_reasons(reason);
    }
  }
  out->set_space_high_water(runtime_->high_water());
  out->set_space_used_fraction(runtime_->used_fraction());
  if (kms::KmsClient* kms = runtime_->kms(); kms != nullptr) {
    kms::KmsClientState st = kms->State();
    switch (st.reachability) {
      case kms::KmsReachability::kReachable:
        out->set_kms(v1::KMS_REACHABILITY_REACHABLE);
        break;
      case kms::KmsReachability::kDegraded:
        out->set_kms(v1::KMS_REACHABILITY_DEGRADED);
        break;
      case kms::KmsReachability::kUnreachable:
        out->set_kms(v1::KMS_REACHABILITY_UNREACHABLE);
        break;
    }
    out->set_kms_since_unix_micros(UnixMicros(st.since));
    out->set_kms_last_error(st.last_error);
    out->set_kms_cached_keys(static_cast<uint32_t>(st.cached_keys));
  }
  absl::StatusOr<std::vector<storage::LsuInfo>> lsus = runtime_->pool().ListLsus();
  absl::StatusOr<std::vector<storage::KeyGroupInfo>> groups = runtime_->pool().ListKeyGroups();
  if (lsus.ok()) {
    for (const storage::LsuInfo& l : *lsus) {
      v1::LsuMode* m = out->add_lsus();
      m->set_name(l.name);
      m->set_key_group(l.key_group);
      m->set_encrypted(true);
      std::string backend = "builtin";
      if (groups.ok()) {
        for (const auto& g : *groups) {
          if (g.name == l.key_group) backend = g.kms_backend;
        }
      }
      m->set_kms_mode(Cat("KEK-based KMS (", backend, ")"));
      m->set_client_delete(l.allow_client_delete);
      m->set_max_retention_seconds(absl::ToInt64Seconds(l.max_retention));
    }
  }
  for (std::string& d : runtime_->Deferred()) out->add_deferred(std::move(d));
  if (groups.ok()) FillKeyGroupModes(*groups, out);
  // A KEK rotation that is due but has not happened waits for the KMS (the key dictionary
  // retries it; meanwhile new DEKs go under the current KEK).
  if (groups.ok()) {
    const absl::Time now = absl::Now();
    for (const storage::KeyGroupInfo& g : *groups) {
      for (const storage::KekInfo& k : g.keks) {
        if (k.state != storage::KekState::kActive) continue;
        if (k.dek_count >= runtime_->config().kek_max_deks ||
            now - k.created >= runtime_->config().kek_max_age) {
          out->add_deferred(Cat("key group ", g.name, ": KEK ", k.kek_id,
                                " is due for rotation (", k.dek_count,
                                " DEKs wrapped); it rotates at its next seal once the key service "
                                "answers"));
        }
      }
    }
  }
  out->set_pool_id(runtime_->pool().pool_id_hex());
  out->set_version(std::string(kSealpooldVersion));
}

grpc::Status AdminService::GetMode(Ctx*, const v1::GetModeRequest*, v1::GetModeResponse* out) {
  FillMode(out);
  return grpc::Status::OK;
}

grpc::Status AdminService::SetMode(Ctx*, const v1::SetModeRequest* request,
                                   v1::GetModeResponse* out) {
  PoolMode mode;
  switch (request->mode()) {
    case v1::POOL_MODE_READ_WRITE: mode = PoolMode::kReadWrite; break;
    case v1::POOL_MODE_READ_ONLY: mode = PoolMode::kReadOnly; break;
    case v1::POOL_MODE_MAINTENANCE: mode = PoolMode::kMaintenance; break;
    default:
      return ToGrpcStatus(absl::InvalidArgumentError(
          Cat("mode: ", static_cast<int>(request->mode()),
              " is not one of read-write (1), read-only (2), maintenance (3)")));
  }
  absl::Status s = runtime_->SetMode(mode);
  grpc::Status g = Audited("set-mode", "", "", "", "", Cat("mode=", PoolModeName(mode)), s);
  if (g.ok()) {
    spdlog::info("pool mode set to {}", PoolModeName(mode));
    FillMode(out);
  }
  return g;
}

grpc::Status AdminService::SetEncryption(Ctx*, const v1::SetEncryptionRequest* request,
                                         v1::GetModeResponse* out) {
  if (!request->enabled()) {
    absl::Status refused = absl::FailedPreconditionError(
        "encryption cannot be switched off: every LSU is encrypted from creation, and KMS mode "
        "cannot be disabled");
    return Audited("set-encryption", request->lsu(), "", "", "", "enabled=false", refused);
  }
  FillMode(out);
  return grpc::Status::OK;
}

grpc::Status AdminService::GetStats(Ctx*, const v1::GetStatsRequest*,
                                    v1::GetStatsResponse* out) {
  absl::StatusOr<storage::PoolStats> s = runtime_->pool().Stats();
  if (!s.ok()) return ToGrpcStatus(s.status());
  out->set_images(s->images);
  out->set_logical_bytes(s->logical_bytes);
  out->set_segments(s->segments);
  out->set_stored_bytes(s->stored_bytes);
  out->set_containers(s->containers);
  out->set_space_allocated(s->space_allocated);
  out->set_space_used(s->space_used);
  out->set_space_reclaimable(s->space_reclaimable);
  out->set_containers_to_compact(s->containers_to_compact);
  out->set_records_to_compact(s->records_to_compact);
  out->set_pending_delete_jobs(s->pending_delete_jobs);
  out->set_dedup_ratio(s->dedup_ratio());
  runtime_->RefreshSpace();
  out->set_fs_total_bytes(runtime_->fs_total());
  out->set_fs_available_bytes(runtime_->fs_available());
  return grpc::Status::OK;
}

// ---- maintenance ----

grpc::Status AdminService::StartCompaction(Ctx*, const v1::StartCompactionRequest* request,
                                           v1::JobStatus* out) {
  std::optional<double> threshold;
  if (request->has_live_threshold()) threshold = request->live_threshold();
  absl::Status s = compaction_->Start(threshold);
  if (!s.ok()) return ToGrpcStatus(s);
  FillJob(compaction_->Status(), out);
  return grpc::Status::OK;
}

grpc::Status AdminService::GetCompaction(Ctx*, const v1::GetCompactionRequest*,
                                         v1::JobStatus* out) {
  FillJob(compaction_->Status(), out);
  return grpc::Status::OK;
}

grpc::Status AdminService::StopCompaction(Ctx*, const v1::StopCompactionRequest*,
                                          v1::JobStatus* out) {
  compaction_->Stop();
  FillJob(compaction_->Status(), out);
  return grpc::Status::OK;
}

grpc::Status AdminService::ProcessQueue(Ctx*, const v1::ProcessQueueRequest* request,
                                        v1::ProcessQueueResponse* out) {
  absl::StatusOr<storage::DeleteQueueReport> r = runtime_->pool().ProcessDeleteQueue(
      request->max_jobs() == 0 ? UINT64_MAX : request->max_jobs());
  if (!r.ok()) return ToGrpcStatus(r.status());
  out->set_jobs_done(r->jobs_done);
  out->set_references_dropped(r->references_dropped);
  out->set_segments_erased(r->segments_erased);
  out->set_segments_kept_busy(r->segments_kept_busy);
  out->set_jobs_left(r->jobs_left);
  return grpc::Status::OK;
}

grpc::Status AdminService::GetQueueInfo(Ctx*, const v1::GetQueueInfoRequest*,
                                        v1::QueueInfo* out) {
  absl::StatusOr<storage::PoolStats> s = runtime_->pool().Stats();
  if (!s.ok()) return ToGrpcStatus(s.status());
  out->set_pending_jobs(s->pending_delete_jobs);
  return grpc::Status::OK;
}

grpc::Status AdminService::Verify(Ctx*, const v1::VerifyRequest* request,
                                  grpc::ServerWriter<v1::CheckProgress>* writer) {
  // Progress goes out at most every 500 ms; the last message carries the verdict.
  absl::Time next = absl::Now() + absl::Milliseconds(500);
  storage::VerifyProgressFn progress = [&](const storage::VerifyProgress& p) {
    if (absl::Now() < next) return;
    next = absl::Now() + absl::Milliseconds(500);
    v1::CheckProgress msg;
    msg.set_done(p.images_done);
    msg.set_total(p.images_total);
    msg.set_bytes(p.bytes_checked);
    writer->Write(msg);
  };
  absl::StatusOr<storage::VerifyReport> r =
      request->has_image() && !request->image().name().empty()
          ? runtime_->pool().VerifyImage(Key(request->image()))
          : runtime_->pool().Verify(request->lsu(), progress);
  if (!r.ok()) {
    return ToGrpcStatus(NeedsKms(r.status(), "verify", runtime_->config().kms_address));
  }
  v1::CheckProgress last;
  last.set_done(r->images_checked);
  last.set_total(r->images_checked);
  last.set_bytes(r->bytes_checked);
  last.set_finished(true);
  for (const std::string& p : r->problems) last.add_problems(p);
  writer->Write(last);
  return grpc::Status::OK;
}

grpc::Status AdminService::Scrub(Ctx*, const v1::ScrubRequest*,
                                 grpc::ServerWriter<v1::CheckProgress>* writer) {
  absl::Time next = absl::Now() + absl::Milliseconds(500);
  absl::StatusOr<storage::ScrubReport> r =
      runtime_->pool().Scrub([&](const storage::ScrubProgress& p) {
        if (absl::Now() < next) return;
        next = absl::Now() + absl::Milliseconds(500);
        v1::CheckProgress msg;
        msg.set_done(p.containers_done);
        msg.set_total(p.containers_total);
        msg.set_bytes(p.bytes_scanned);
        writer->Write(msg);
      });
  if (!r.ok()) return ToGrpcStatus(r.status());
  v1::CheckProgress last;
  last.set_done(r->containers_scanned);
  last.set_total(r->containers_scanned);
  last.set_bytes(r->bytes_scanned);
  last.set_finished(true);
  for (const std::string& p : r->problems) last.add_problems(p);
  for (const std::string& p : r->dead_regions) last.add_dead_regions(p);
  writer->Write(last);
  return grpc::Status::OK;
}

grpc::Status AdminService::BackupCatalog(Ctx*, const v1::BackupCatalogRequest* request,
                                         v1::BackupCatalogResponse* out) {
  std::string dir = request->dir().empty() ? runtime_->config().catalog_backup_dir.string()
                                           : request->dir();
  if (dir.empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        "no folder given and no [scheduler].catalog_backup_dir configured"));
  }
  if (!std::filesystem::path(dir).is_absolute()) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        Cat("dir: \"", dir, "\" is not an absolute path (sealpoold's working folder is not "
                            "the caller's)")));
  }
  absl::StatusOr<uint32_t> id = runtime_->pool().BackupCatalog(dir);
  grpc::Status g = Audited("backup-catalog", "", "", "", "", Cat("dir=", dir), id.status());
  if (g.ok()) {
    out->set_backup_id(*id);
    out->set_dir(dir);
  }
  return g;
}

// ---- key groups, LSUs and keys ----

grpc::Status AdminService::CreateKeyGroup(Ctx*, const v1::CreateKeyGroupRequest* request,
                                          v1::CreateKeyGroupResponse*) {
  std::string backend = request->kms_backend().empty() ? "builtin" : request->kms_backend();
  // A group the config declares gets the config's S3 target (docs/server.md: S3 targets are
  // configuration only, since the secret key's file is named there).
  storage::ContainerTarget target;
  for (const KeyGroupConfig& g : runtime_->config().key_groups) {
    if (g.name == request->name()) target = ContainerTargetOf(g);
  }
  const std::string mode = request->kek_mode().empty() ? "symmetric" : request->kek_mode();
  absl::Status s = (backend == "builtin" || backend == "kmip")
                       ? CheckKekModeRequest(mode, runtime_->config())
                       : absl::InvalidArgumentError(Cat("kms_backend: \"", backend,
                                                        "\" is not builtin or kmip"));
  if (s.ok()) {
    const storage::KekMode kek_mode =
        mode == "public" ? storage::KekMode::kPublic : storage::KekMode::kSymmetric;
    s = runtime_->pool().CreateKeyGroup(request->name(), backend, target, kek_mode);
    if (s.ok() && kek_mode == storage::KekMode::kPublic) {
      runtime_->kek_pairs().Track(request->name());
      runtime_->RequestReconcile(request->name());  // pins the new pair in sealkmsd
    }
  }
  return Audited("create-key-group", "", "", "", request->name(),
                 Cat("backend=", backend, " kek_mode=", mode), s);
}

grpc::Status AdminService::CreateLsu(Ctx*, const v1::CreateLsuRequest* request,
                                     v1::CreateLsuResponse*) {
  storage::LsuOptions options;
  options.allow_client_delete = request->client_delete();
  if (request->max_retention_seconds() < 0) {
    return ToGrpcStatus(absl::InvalidArgumentError("max_retention_seconds: negative"));
  }
  if (request->max_retention_seconds() > 0) {
    options.max_retention = absl::Seconds(request->max_retention_seconds());
  }
  // The config's rule for LSU names: an LSU created here must be nameable in [[lsu]] and
  // [[client.access]] before any client can use it.
  const std::string why = LsuNameProblem(request->name());
  absl::Status s = why.empty()
                       ? runtime_->pool().CreateLsu(request->name(), request->key_group(), options)
                       : absl::InvalidArgumentError(Cat("name: ", why));
  return Audited("create-lsu", request->name(), "", "", request->key_group(), "", s);
}

grpc::Status AdminService::ListKeys(Ctx*, const v1::ListKeysRequest*,
                                    v1::ListKeysResponse* out) {
  v1::GetModeResponse mode;
  FillMode(&mode);
  *out->mutable_lsus() = mode.lsus();
  absl::StatusOr<std::vector<storage::KeyGroupInfo>> groups = runtime_->pool().ListKeyGroups();
  if (!groups.ok()) return ToGrpcStatus(groups.status());
  for (const storage::KeyGroupInfo& g : *groups) {
    v1::KeyGroupInfo* gi = out->add_key_groups();
    gi->set_name(g.name);
    gi->set_kms_backend(g.kms_backend);
    gi->set_chunk_min_size(g.chunker.min_size);
    gi->set_chunk_avg_size(g.chunker.avg_size);
    gi->set_chunk_max_size(g.chunker.max_size);
    gi->set_kek_mode(!g.keks.empty() && g.keks.front().pair ? "public" : "symmetric");
    for (const storage::KekInfo& k : g.keks) {
      v1::KekInfo* ki = gi->add_keks();
      ki->set_pair(k.pair);
      if (k.public_key.has_value()) {
        absl::StatusOr<std::string> sha = crypto::KekPublicKeySha256Hex(*k.public_key);
        if (sha.ok()) ki->set_public_key_sha256(*sha);
      }
      ki->set_id(k.kek_id);
      ki->set_state(k.state == storage::KekState::kActive ? "active" : "inactive");
      ki->set_root_key_id(k.root_key_id);
      ki->set_created_unix_micros(UnixMicros(k.created));
      ki->set_deks_wrapped(k.dek_count);
    }
    absl::StatusOr<std::vector<storage::WrappedKeyRef>> refs =
        runtime_->pool().ListWrappedKeys(g.name);
    if (refs.ok()) {
      for (const auto& r : *refs) {
        if (r.key_id == "fpk") gi->set_fingerprint_key_root_key_id(r.root_key_id);
      }
    }
  }
  return grpc::Status::OK;
}

grpc::Status AdminService::RotateKek(Ctx*, const v1::RotateKekRequest* request,
                                     v1::RotateKekResponse* out) {
  if (grpc::Status i = AuditIntent("rotate-kek", request->key_group()); !i.ok()) return i;
  absl::StatusOr<uint32_t> id = runtime_->pool().RotateKek(request->key_group());
  grpc::Status g = Audited("rotate-kek", "", "", "", request->key_group(),
                           id.ok() ? Cat("kek=", *id) : "", id.status());
  if (g.ok()) out->set_kek_id(*id);
  return g;
}

grpc::Status AdminService::RewrapKeys(Ctx*, const v1::RewrapKeysRequest* request,
                                      v1::RewrapKeysResponse* out) {
  if (grpc::Status i = AuditIntent("rewrap-keys", request->key_group()); !i.ok()) return i;
  absl::StatusOr<uint32_t> n = runtime_->pool().RewrapGroupKeys(request->key_group());
  if (!n.ok()) n = NeedsKms(n.status(), "re-wrap", runtime_->config().kms_address);
  std::string root;
  if (n.ok()) {
    absl::StatusOr<std::vector<storage::WrappedKeyRef>> refs =
        runtime_->pool().ListWrappedKeys(request->key_group());
    if (refs.ok()) {
      for (const auto& r : *refs) {
        if (r.key_id == "fpk") root = r.root_key_id;
      }
      // Tell sealkmsd what the group's keys are wrapped under now, so old root keys can go.
      if (kms::KmsClient* kms = runtime_->kms(); kms != nullptr) {
        absl::StatusOr<kms::ReconcileResult> rec =
            kms->Reconcile(request->key_group(), KekUsageOf(*refs));
        if (!rec.ok()) {
          spdlog::warn("key group {}: re-wrapped, but the reconcile with sealkmsd failed ({}); "
                       "retrying in the background",
                       request->key_group(), rec.status().ToString());
          runtime_->SetDeferred(Cat("reconcile:", request->key_group()),
                                Cat("key group ", request->key_group(),
                                    ": reconcile with sealkmsd pending after a re-wrap"));
          runtime_->RequestReconcile(request->key_group());
        }
      }
    }
  }
  grpc::Status g = Audited("rewrap-keys", "", "", "", request->key_group(),
                           n.ok() ? Cat("rewrapped=", *n, " root_key=", root) : "", n.status());
  if (g.ok()) {
    out->set_rewrapped(*n);
    out->set_root_key_id(root);
  }
  return g;
}

grpc::Status AdminService::Purge(Ctx*, const v1::PurgeRequest* request,
                                 v1::PurgeResponse* out) {
  const std::string& group = request->key_group();
  if (!request->confirm()) {
    return Audited("purge", "", "", "", group, "",
                   absl::FailedPreconditionError(
                       "a purge destroys root keys and is not undone: set confirm (keydictutil "
                       "--purge asks for it); nothing was changed"));
  }
  kms::KmsClient* client = runtime_->kms();
  if (client == nullptr) {
    return Audited("purge", "", "", "", group, "",
                   absl::FailedPreconditionError("this sealpoold has no key service configured"));
  }
  if (grpc::Status i = AuditIntent("purge", group); !i.ok()) return i;
  KmsRootKeyProvider keys(client);
  storage::PurgeOptions options;
  // Every step is audited as it ends, done or failed.
  options.on_step = [&](const storage::PurgeStepReport& r, const absl::Status& s) {
    absl::Status a = runtime_->Audit({kAdminActor, "admin",
                                      Cat("purge-step:", storage::PurgeStepName(r.step)), "", "",
                                      "", group,
                                      Cat(r.detail, " (", absl::FormatDuration(r.took), ")"), s});
    if (!a.ok()) spdlog::error("purge of key group {}: audit line lost: {}", group, a.ToString());
  };
  // Test hook of the e2e crash test (test/daemon/sealpoold/sealpoold_purge_test.cc): SIGKILL
  // this process just before the named step. Documented in docs/testing.md.
  if (const char* at = std::getenv("SEALPOOLD_TEST_KILL_BEFORE_PURGE_STEP"); at != nullptr) {
    options.before_step = [name = std::string(at)](storage::PurgeStep step) {
      if (storage::PurgeStepName(step) == name) raise(SIGKILL);
      return absl::OkStatus();
    };
  }
  spdlog::info("key group {}: purge starting (or resuming)", group);
  absl::StatusOr<storage::PurgeReport> r = runtime_->pool().Purge(group, &keys, options);
  if (!r.ok()) r = NeedsKms(r.status(), "purge", runtime_->config().kms_address);
  if (!r.ok()) {
    spdlog::warn("key group {}: purge stopped: {}", group, r.status().ToString());
  } else {
    spdlog::info("key group {}: purge done in {}: {} DEK(s) re-wrapped, {} KEK(s) dropped, {} "
                 "root key(s) destroyed",
                 group, absl::FormatDuration(r->total), r->deks_rewrapped, r->keks_dropped.size(),
                 r->root_keys_destroyed.size());
  }
  grpc::Status g =
      Audited("purge", "", "", "", group,
              r.ok() ? Cat("new_root_key=", r->new_root_key_id, " destroyed=",
                           absl::StrJoin(r->root_keys_destroyed, ","), " deks_rewrapped=",
                           r->deks_rewrapped, " keks_dropped=", r->keks_dropped.size())
                     : "",
              r.status());
  if (!g.ok()) return g;
  for (const storage::PurgeStepReport& step : r->steps) {
    v1::PurgeStepInfo* si = out->add_steps();
    si->set_step(std::string(storage::PurgeStepName(step.step)));
    si->set_micros(absl::ToInt64Microseconds(step.took));
    si->set_detail(step.detail);
    si->set_done_before(step.done_before);
  }
  out->set_resumed(r->resumed);
  out->set_segments_erased(r->segments_erased);
  out->set_new_kek_id(r->new_kek_id);
  out->set_writers_waited_for(r->writers_waited_for);
  out->set_deks_rewrapped(r->deks_rewrapped);
  for (uint32_t id : r->keks_dropped) out->add_keks_dropped(id);
  out->set_old_root_key_id(r->old_root_key_id);
  out->set_new_root_key_id(r->new_root_key_id);
  for (const std::string& id : r->root_keys_destroyed) out->add_root_keys_destroyed(id);
  out->set_catalog_compacted(r->catalog_compacted);
  out->set_store_rekeyed(r->store_rekeyed);
  out->set_total_micros(absl::ToInt64Microseconds(r->total));
  for (const std::string& w : r->warnings) out->add_warnings(w);
  return g;
}

}  // namespace sealpool::daemon
