// Pool::SweepOrphans: the container store's orphan sweep (S3: storage/s3/s3_orphans.h) with the
// pool's notion of "referenced": a container is referenced when the catalog holds its container
// record (written in the batch that commits its first record; kept while it is retired), or
// when records appended to it are still on their way to the catalog (pending_records). Pending
// is checked before the catalog: a container's records become pending before its object can be
// uploaded, and a record stops being pending only once its batch committed (record present) or
// its write gave up (an orphan indeed).
#include "base/status_macros.h"
#include "storage/pool/pool.h"
#include "storage/pool/pool_internal.h"

namespace sealpool::storage {

absl::StatusOr<OrphanSweepReport> Pool::SweepOrphans(const OrphanSweepOptions& options) {
  Impl& p = *impl_;
  absl::MutexLock maintenance(&p.maintenance_mu);
  auto referenced = [&p](uint64_t id) -> absl::StatusOr<bool> {
    {
      absl::MutexLock lock(&p.pending_mu);
      if (p.pending_records.contains(id)) return true;
    }
    SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> value,
                              p.catalog->Get(Cf::kContainers, ContainerKey(id)));
    return value.has_value();
  };
  return p.containers->SweepOrphans(options, referenced);
}

}  // namespace sealpool::storage
