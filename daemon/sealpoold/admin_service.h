// sealpoold's admin API (proto/sealpool/pool/v1/admin.proto), served on the local admin socket
// (admin_socket.h checks the peer's credentials before gRPC sees the connection). Admins see
// the images of every owner. Each handler: validate → call storage::Pool (or the maintenance
// jobs) → convert once; key operations, deletes, owner and retention changes and mode changes
// are audited. Statuses: docs/protocol.md.
#ifndef SEALPOOL_DAEMON_SEALPOOLD_ADMIN_SERVICE_H_
#define SEALPOOL_DAEMON_SEALPOOLD_ADMIN_SERVICE_H_

#include "daemon/sealpoold/maintenance.h"
#include "daemon/sealpoold/pool_runtime.h"
#include "sealpool/pool/v1/admin.grpc.pb.h"

namespace sealpool::daemon {

// CreateKeyGroup's kek_mode: InvalidArgument for another value than "symmetric" / "public";
// FailedPrecondition for "public" without a host key configured (issue 17).
absl::Status CheckKekModeRequest(std::string_view mode, const PoolConfig& config);

class AdminService final : public pool::v1::PoolAdmin::Service {
 public:
  AdminService(PoolRuntime* runtime, CompactionJob* compaction)
      : runtime_(runtime), compaction_(compaction) {}

  using Ctx = grpc::ServerContext;
  grpc::Status ListImages(Ctx*, const pool::v1::AdminListImagesRequest*,
                          pool::v1::ListImagesResponse*) override;
  grpc::Status StatImage(Ctx*, const pool::v1::AdminImageRef*, pool::v1::Image*) override;
  grpc::Status Restore(Ctx*, const pool::v1::AdminRestoreRequest*,
                       grpc::ServerWriter<pool::v1::RestoreResponse>*) override;
  grpc::Status DeleteImage(Ctx*, const pool::v1::AdminImageRef*,
                           pool::v1::DeleteImageResponse*) override;
  grpc::Status ReassignOwner(Ctx*, const pool::v1::ReassignOwnerRequest*,
                             pool::v1::Image*) override;
  grpc::Status ExtendRetention(Ctx*, const pool::v1::ExtendRetentionRequest*,
                               pool::v1::Image*) override;
  grpc::Status GetMode(Ctx*, const pool::v1::GetModeRequest*,
                       pool::v1::GetModeResponse*) override;
  grpc::Status SetMode(Ctx*, const pool::v1::SetModeRequest*,
                       pool::v1::GetModeResponse*) override;
  grpc::Status SetEncryption(Ctx*, const pool::v1::SetEncryptionRequest*,
                             pool::v1::GetModeResponse*) override;
  grpc::Status GetStats(Ctx*, const pool::v1::GetStatsRequest*,
                        pool::v1::GetStatsResponse*) override;
  grpc::Status StartCompaction(Ctx*, const pool::v1::StartCompactionRequest*,
                               pool::v1::JobStatus*) override;
  grpc::Status GetCompaction(Ctx*, const pool::v1::GetCompactionRequest*,
                             pool::v1::JobStatus*) override;
  grpc::Status StopCompaction(Ctx*, const pool::v1::StopCompactionRequest*,
                              pool::v1::JobStatus*) override;
  grpc::Status ProcessQueue(Ctx*, const pool::v1::ProcessQueueRequest*,
                            pool::v1::ProcessQueueResponse*) override;
  grpc::Status GetQueueInfo(Ctx*, const pool::v1::GetQueueInfoRequest*,
                            pool::v1::QueueInfo*) override;
  grpc::Status Verify(Ctx*, const pool::v1::VerifyRequest*,
                      grpc::ServerWriter<pool::v1::CheckProgress>*) override;
  grpc::Status Scrub(Ctx*, const pool::v1::ScrubRequest*,
                     grpc::ServerWriter<pool::v1::CheckProgress>*) override;
  grpc::Status BackupCatalog(Ctx*, const pool::v1::BackupCatalogRequest*,
                             pool::v1::BackupCatalogResponse*) override;
  grpc::Status CreateKeyGroup(Ctx*, const pool::v1::CreateKeyGroupRequest*,
                              pool::v1::CreateKeyGroupResponse*) override;
  grpc::Status CreateLsu(Ctx*, const pool::v1::CreateLsuRequest*,
                         pool::v1::CreateLsuResponse*) override;
  grpc::Status ListKeys(Ctx*, const pool::v1::ListKeysRequest*,
                        pool::v1::ListKeysResponse*) override;
  grpc::Status RotateKek(Ctx*, const pool::v1::RotateKekRequest*,
                         pool::v1::RotateKekResponse*) override;
  grpc::Status RewrapKeys(Ctx*, const pool::v1::RewrapKeysRequest*,
                          pool::v1::RewrapKeysResponse*) override;
  grpc::Status Purge(Ctx*, const pool::v1::PurgeRequest*, pool::v1::PurgeResponse*) override;

  // The mode answer, also used by SetMode and SetEncryption. Never calls the KMS.
  void FillMode(pool::v1::GetModeResponse* out) const;

 private:
  // Issue 17: GetMode's key_groups (kek_mode, whether ingest needs the KMS, pair checks).
  void FillKeyGroupModes(const std::vector<storage::KeyGroupInfo>& groups,
                         pool::v1::GetModeResponse* out) const;
  // Writes and syncs the intent line of a key operation (rotate-kek, rewrap-keys, purge) before
  // it is done: OK, or INTERNAL "sealpoold refused <op>: <why>; nothing was changed".
  grpc::Status AuditIntent(std::string_view op, std::string_view key_group);
  grpc::Status Audited(std::string_view op, std::string_view lsu, std::string_view owner,
                       std::string_view image, std::string_view key_group,
                       std::string_view detail, const absl::Status& result);

  PoolRuntime* const runtime_;
  CompactionJob* const compaction_;
};

}  // namespace sealpool::daemon

#endif  // SEALPOOL_DAEMON_SEALPOOLD_ADMIN_SERVICE_H_
