// sealpoold's background maintenance, since the pool has none of its own. Every
// [scheduler].interval_seconds it:
//   1. expires images by each LSU's policy (expire_after_days, keep_last), never one under
//      retention; deletes are audited with actor "scheduler";
//   2. runs the delete queue (bounded per tick, so one tick never runs for long);
//   3. starts a compaction when containers fall under the live threshold and the time is
//      inside [scheduler].quiet_hours (any time when unset), unless one runs;
//   4. backs up the catalog to [scheduler].catalog_backup_dir when the last backup is older
//      than catalog_backup_interval_hours.
// A failing step is logged and retried next tick; it never stops the others.
//
// keep_last groups an owner's images by their "series" label (images without one are not
// grouped, so keep_last leaves them alone) and keeps the newest N of each series.
#ifndef SEALPOOL_DAEMON_SEALPOOLD_SCHEDULER_H_
#define SEALPOOL_DAEMON_SEALPOOLD_SCHEDULER_H_

#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/time/time.h"
#include "daemon/sealpoold/maintenance.h"
#include "daemon/sealpoold/pool_runtime.h"

namespace sealpool::daemon {

// What one tick did.
struct SchedulerTick {
  uint64_t images_expired = 0;
  uint64_t queue_jobs_done = 0;
  bool compaction_started = false;
  bool catalog_backed_up = false;
  bool orphans_swept = false;  // S3 key groups: the orphan sweep ran (docs/s3.md)
};

// Whether local time `minutes` (after midnight) falls in [begin, end), which may wrap midnight.
bool InQuietHours(int minutes, std::pair<int, int> window);

class Scheduler {
 public:
  // `start_thread` false: only RunOnce (tests).
  Scheduler(PoolRuntime* runtime, CompactionJob* compaction, bool start_thread = true);
  ~Scheduler();  // stops and joins

  SchedulerTick RunOnce(absl::Time now);

 private:
  void Loop();
  uint64_t ExpireImages(absl::Time now);

  PoolRuntime* const runtime_;
  CompactionJob* const compaction_;
  absl::Time last_catalog_backup_ = absl::InfinitePast();
  // The first sweep waits one orphan_sweep_interval after the start: anything a crash left is
  // then older than the grace period anyway, and a start is not slowed by a bucket listing.
  absl::Time last_orphan_sweep_ = absl::Now();
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace sealpool::daemon

#endif  // SEALPOOL_DAEMON_SEALPOOLD_SCHEDULER_H_
