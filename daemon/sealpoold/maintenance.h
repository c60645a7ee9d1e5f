// Background maintenance jobs of sealpoold, started by the admin API or the scheduler:
// compaction on a thread of its own with progress and cancellation. At most one compaction
// runs; starting a second one while one runs is FAILED_PRECONDITION.
//
// Thread-safe.
#ifndef SEALPOOL_DAEMON_SEALPOOLD_MAINTENANCE_H_
#define SEALPOOL_DAEMON_SEALPOOLD_MAINTENANCE_H_

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/pool/pool.h"

namespace sealpool::daemon {

enum class JobState { kIdle, kRunning, kDone, kStopped, kFailed };

struct CompactionStatus {
  JobState state = JobState::kIdle;
  uint64_t containers_total = 0;
  uint64_t containers_done = 0;
  uint64_t bytes_moved = 0;
  uint64_t bytes_reclaimed = 0;
  absl::Time started = absl::InfinitePast();
  absl::Time finished = absl::InfinitePast();
  std::string error;
};

class CompactionJob {
 public:
  // `on_done` (may be empty) is called with the final status of each run that did not fail.
  CompactionJob(storage::Pool* pool, double default_threshold,
                std::function<void(const CompactionStatus&)> on_done = {})
      : pool_(pool), default_threshold_(default_threshold), on_done_(std::move(on_done)) {}
  ~CompactionJob();  // stops a running compaction and joins it

  // FAILED_PRECONDITION while one runs.
  absl::Status Start(std::optional<double> live_threshold) ABSL_LOCKS_EXCLUDED(mu_);
  // Asks a running compaction to stop after its current container; returns at once.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);
  // Stops a running compaction and refuses every later Start (UNAVAILABLE): shutdown.
  void Close() ABSL_LOCKS_EXCLUDED(mu_);
  // Waits for the running compaction (if any) to end.
  void Join() ABSL_LOCKS_EXCLUDED(mu_);
  CompactionStatus Status() const ABSL_LOCKS_EXCLUDED(mu_);
  bool running() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run(std::optional<double> live_threshold);

  storage::Pool* const pool_;
  const double default_threshold_;
  const std::function<void(const CompactionStatus&)> on_done_;
  std::atomic<bool> cancel_{false};
  mutable absl::Mutex mu_;
  CompactionStatus status_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_ ABSL_GUARDED_BY(mu_);
};

std::string_view JobStateName(JobState state);

}  // namespace sealpool::daemon

#endif  // SEALPOOL_DAEMON_SEALPOOLD_MAINTENANCE_H_
