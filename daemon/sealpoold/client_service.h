// sealpoold's client API (proto/sealpool/pool/v1/pool.proto) on gRPC's synchronous server.
// Each handler reads: authenticate (certificate CN, CRL) → authorize (the config's access map)
// → validate at the edge → call storage::Pool → convert once. A client sees only its own
// images: the pool looks images up by (LSU, owner, name), so another client's image is
// NOT_FOUND. Statuses: docs/protocol.md.
#ifndef SEALPOOL_DAEMON_SEALPOOLD_CLIENT_SERVICE_H_
#define SEALPOOL_DAEMON_SEALPOOLD_CLIENT_SERVICE_H_

#include "daemon/sealpoold/pool_runtime.h"
#include "sealpool/pool/v1/pool.grpc.pb.h"

namespace sealpool::daemon {

// Bounds checked on every backup header.
inline constexpr size_t kMaxLabels = 32;
inline constexpr size_t kMaxNameBytes = 255;  // LSU and image names (the pool's own limit)
inline constexpr size_t kMaxLabelKey = 64;
inline constexpr size_t kMaxLabelValue = 256;
// DedupBackup: the protocol version this sealpoold speaks, and its batch bound.
inline constexpr uint32_t kDedupProtocolVersion = 1;
inline constexpr uint32_t kMaxDigestBatch = 1024;

class ClientService final : public pool::v1::PoolService::Service {
 public:
  explicit ClientService(PoolRuntime* runtime) : runtime_(runtime) {}

  grpc::Status Backup(grpc::ServerContext* context,
                      grpc::ServerReader<pool::v1::BackupRequest>* reader,
                      pool::v1::BackupResponse* response) override;
  grpc::Status DedupBackup(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<pool::v1::DedupBackupResponse, pool::v1::DedupBackupRequest>*
          stream) override;
  grpc::Status Restore(grpc::ServerContext* context, const pool::v1::RestoreRequest* request,
                       grpc::ServerWriter<pool::v1::RestoreResponse>* writer) override;
  grpc::Status ListImages(grpc::ServerContext* context,
                          const pool::v1::ListImagesRequest* request,
                          pool::v1::ListImagesResponse* response) override;
  grpc::Status StatImage(grpc::ServerContext* context, const pool::v1::ImageRef* request,
                         pool::v1::Image* response) override;
  grpc::Status DeleteImage(grpc::ServerContext* context, const pool::v1::ImageRef* request,
                           pool::v1::DeleteImageResponse* response) override;

 private:
  struct Caller {
    std::string cn;
    std::shared_ptr<const AccessMap> access;
    const ClientConfig* client = nullptr;
  };
  absl::StatusOr<Caller> Authenticate(grpc::ServerContext* context) const;
  // PERMISSION_DENIED unless the caller holds `right` on `lsu`.
  absl::Status Authorize(const Caller& caller, std::string_view lsu, ClientRight right) const;
  absl::Status DoBackup(grpc::ServerContext* context,
                        grpc::ServerReader<pool::v1::BackupRequest>* reader,
                        pool::v1::BackupResponse* response);
  absl::Status DoDedupBackup(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<pool::v1::DedupBackupResponse, pool::v1::DedupBackupRequest>*
          stream);
  // The checks both backup modes make after the header: the LSU right, the header, the mode
  // and free space, the quota. Sets *owner_bytes (0 without a quota) and fills *request.
  absl::Status PrepareBackup(const Caller& caller, const pool::v1::BackupHeader& header,
                             absl::Time start, uint64_t* owner_bytes,
                             storage::ImageRequest* request) const;
  absl::Status DoRestore(grpc::ServerContext* context, const pool::v1::RestoreRequest& request,
                         grpc::ServerWriter<pool::v1::RestoreResponse>* writer);
  absl::StatusOr<storage::ImageInfo> OwnImage(const Caller& caller, std::string_view lsu,
                                              std::string_view name) const;

  PoolRuntime* const runtime_;
};

// Validates a backup header's labels and retention against the LSU; InvalidArgument naming
// the field.
absl::Status ValidateBackupHeader(const pool::v1::BackupHeader& header, const LsuConfig& lsu,
                                  absl::Time now);

}  // namespace sealpool::daemon

#endif  // SEALPOOL_DAEMON_SEALPOOLD_CLIENT_SERVICE_H_
