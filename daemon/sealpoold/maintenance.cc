#include "daemon/sealpoold/maintenance.h"

#include "absl/cleanup/cleanup.h"
#include "spdlog/spdlog.h"

namespace sealpool::daemon {

std::string_view JobStateName(JobState state) {
  switch (state) {
    case JobState::kIdle: return "idle";
    case JobState::kRunning: return "running";
    case JobState::kDone: return "done";
    case JobState::kStopped: return "stopped";
    case JobState::kFailed: return "failed";
  }
  return "unknown";
}

CompactionJob::~CompactionJob() {
  Stop();
  Join();
}

absl::Status CompactionJob::Start(std::optional<double> live_threshold) {
  if (live_threshold.has_value() && !(*live_threshold > 0.0 && *live_threshold < 1.0)) {
    return absl::InvalidArgumentError("live_threshold must lie strictly between 0 and 1");
  }
  absl::MutexLock lock(&mu_);
  if (closed_) return absl::UnavailableError("sealpoold is shutting down");
  if (status_.state == JobState::kRunning) {
    return absl::FailedPreconditionError("a compaction is already running");
  }
  if (thread_.joinable()) thread_.join();
  cancel_.store(false);
  status_ = CompactionStatus{};
  status_.state = JobState::kRunning;
  status_.started = absl::Now();
  thread_ = std::thread([this, live_threshold] { Run(live_threshold); });
  return absl::OkStatus();
}

void CompactionJob::Run(std::optional<double> live_threshold) {
  spdlog::info("compaction started (live threshold {:.2f})",
               live_threshold.value_or(default_threshold_));
  storage::CompactOptions options;
  options.live_threshold = live_threshold.value_or(default_threshold_);
  options.cancel = &cancel_;
  options.progress = [this](const storage::CompactionProgress& p) {
    absl::MutexLock lock(&mu_);
    status_.containers_total = p.containers_total;
    status_.containers_done = p.containers_done;
    status_.bytes_moved = p.bytes_moved;
    status_.bytes_reclaimed = p.bytes_reclaimed;
  };
  absl::StatusOr<storage::CompactionReport> report = pool_->Compact(options);
  CompactionStatus done;
  absl::Cleanup notify = [&] {
    if (on_done_ && report.ok()) on_done_(done);
  };
  absl::MutexLock lock(&mu_);
  status_.finished = absl::Now();
  if (!report.ok()) {
    status_.state = JobState::kFailed;
    status_.error = report.status().ToString();
    spdlog::error("compaction failed: {}", status_.error);
    return;
  }
  status_.bytes_moved = report->bytes_moved;
  status_.bytes_reclaimed = report->bytes_reclaimed;
  status_.state = report->cancelled ? JobState::kStopped : JobState::kDone;
  done = status_;
  spdlog::info("compaction {}: {} container(s), {} bytes moved, {} bytes reclaimed",
               JobStateName(status_.state), status_.containers_done, status_.bytes_moved,
               status_.bytes_reclaimed);
}

void CompactionJob::Stop() { cancel_.store(true); }

void CompactionJob::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  cancel_.store(true);
}

void CompactionJob::Join() {
  std::thread t;
  {
    absl::MutexLock lock(&mu_);
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();
}

CompactionStatus CompactionJob::Status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

bool CompactionJob::running() const {
  absl::MutexLock lock(&mu_);
  return status_.state == JobState::kRunning;
}

}  // namespace sealpool::daemon
