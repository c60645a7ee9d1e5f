#include "daemon/sealpoold/scheduler.h"

#include <algorithm>
#include <map>

#include "base/strings.h"
#include "daemon/sealpoold/metrics.h"
#include "spdlog/spdlog.h"

namespace sealpool::daemon {

using base::Cat;
using base::StdView;

bool InQuietHours(int minutes, std::pair<int, int> window) {
  const auto [begin, end] = window;
  if (begin <= end) return minutes >= begin && minutes < end;
  return minutes >= begin || minutes < end;  // wraps midnight
}

Scheduler::Scheduler(PoolRuntime* runtime, CompactionJob* compaction, bool start_thread)
    : runtime_(runtime), compaction_(compaction) {
  if (start_thread) thread_ = std::thread([this] { Loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::Loop() {
  const auto interval = absl::ToChronoMilliseconds(runtime_->config().scheduler_interval);
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, interval, [this] { return stop_; })) {
    lock.unlock();
    SchedulerTick t = RunOnce(absl::Now());
    if (t.images_expired + t.queue_jobs_done > 0 || t.compaction_started || t.catalog_backed_up) {
      spdlog::info("scheduler: {} image(s) expired, {} delete job(s) done{}{}", t.images_expired,
                   t.queue_jobs_done, t.compaction_started ? ", compaction started" : "",
                   t.catalog_backed_up ? ", catalog backed up" : "");
    }
    lock.lock();
  }
}

uint64_t Scheduler::ExpireImages(absl::Time now) {
  storage::Pool& pool = runtime_->pool();
  if (!runtime_->CheckDeleteAllowed().ok()) return 0;
  uint64_t expired = 0;
  for (const LsuConfig& lsu : runtime_->config().lsus) {
    if (!lsu.expire_after.has_value() && !lsu.keep_last.has_value()) continue;
    absl::StatusOr<std::vector<storage::ImageInfo>> images = pool.ListImages(lsu.name, std::nullopt);
    if (!images.ok()) {
      spdlog::warn("scheduler: cannot list LSU {}: {}", lsu.name, images.status().ToString());
      continue;
    }
    // Each doomed image with the rule that chose it (expire_after wins when both do).
    std::map<const storage::ImageInfo*, std::string_view> doomed;
    if (lsu.expire_after.has_value()) {
      for (const storage::ImageInfo& i : *images) {
        if (i.created + *lsu.expire_after < now) doomed.emplace(&i, "expire_after_days");
      }
    }
    if (lsu.keep_last.has_value()) {
      std::map<std::pair<std::string, std::string>, std::vector<const storage::ImageInfo*>> series;
      for (const storage::ImageInfo& i : *images) {
        auto it = i.labels.find("series");
        if (it != i.labels.end()) series[{i.owner, it->second}].push_back(&i);
      }
      for (auto& [key, list] : series) {
        std::sort(list.begin(), list.end(),
                  [](auto* a, auto* b) { return a->created > b->created; });
        for (size_t k = *lsu.keep_last; k < list.size(); ++k) doomed.emplace(list[k], "keep_last");
      }
    }
    for (const auto& [i, rule] : doomed) {
      if (i->retain_until > now) continue;  // governance retention: not before its time
      absl::Status s = pool.DeleteImage({i->lsu, i->owner, i->name}, storage::DeleteBy::kAdmin);
      (void)runtime_->Audit(
          {"scheduler", "scheduler", "expire", i->lsu, i->owner, i->name, "", rule, s});
      if (s.ok()) {
        ++expired;
        if (PoolMetrics* m = runtime_->metrics(); m != nullptr) m->images_deleted->Inc();
      } else if (s.code() != absl::StatusCode::kNotFound) {
        spdlog::warn("scheduler: cannot expire image {}/{}: {}", i->lsu, i->name, s.ToString());
      }
    }
  }
  return expired;
}

SchedulerTick Scheduler::RunOnce(absl::Time now) {
  SchedulerTick tick;
  storage::Pool& pool = runtime_->pool();
  tick.images_expired = ExpireImages(now);

  absl::StatusOr<storage::DeleteQueueReport> q = pool.ProcessDeleteQueue(256);
  if (q.ok()) {
    tick.queue_jobs_done = q->jobs_done;
  } else {
    spdlog::warn("scheduler: delete queue: {}", q.status().ToString());
  }

  const PoolConfig& config = runtime_->config();
  bool quiet = true;
  if (config.quiet_hours.has_value()) {
    const absl::CivilMinute m = absl::ToCivilMinute(now, absl::LocalTimeZone());
    quiet = InQuietHours(m.hour() * 60 + m.minute(), *config.quiet_hours);
  }
  if (quiet && !compaction_->running()) {
    absl::StatusOr<storage::PoolStats> stats = pool.Stats();
    if (stats.ok() && stats->containers_to_compact > 0) {
      tick.compaction_started = compaction_->Start(std::nullopt).ok();
    }
  }

  if (!config.catalog_backup_dir.empty() &&
      now - last_catalog_backup_ >= config.catalog_backup_interval) {
    absl::StatusOr<uint32_t> id =
        pool.BackupCatalog(config.catalog_backup_dir.string(), config.catalog_backup_keep);
    (void)runtime_->Audit({"scheduler", "scheduler", "backup-catalog", "", "", "", "",
                           Cat("dir=", config.catalog_backup_dir.string()), id.status()});
    if (id.ok()) {
      last_catalog_backup_ = now;
      tick.catalog_backed_up = true;
    } else {
      spdlog::error("scheduler: catalog backup to {} failed: {}",
                    config.catalog_backup_dir.string(), id.status().ToString());
    }
  }
  if (now - last_orphan_sweep_ >= config.orphan_sweep_interval) {
    storage::OrphanSweepOptions options;
    options.grace = config.orphan_grace;
    absl::StatusOr<storage::OrphanSweepReport> r = pool.SweepOrphans(options);
    if (absl::IsUnimplemented(r.status())) {
      last_orphan_sweep_ = now;  // no S3 key group: nothing to sweep
    } else {
      (void)runtime_->Audit({"scheduler", "scheduler", "sweep-orphans", "", "", "", "",
                             Cat("grace_hours=", absl::ToInt64Hours(config.orphan_grace)),
                             r.status()});
      if (r.ok()) {
        last_orphan_sweep_ = now;
        tick.orphans_swept = true;
        spdlog::info("scheduler: orphan sweep: {} orphan object(s) found, {} removed ({} bytes), "
                     "{} kept (younger than {} h), {} intent(s) removed, {} malformed, {} "
                     "unreadable",
                     r->orphans_found, r->orphans_removed, r->bytes_removed,
                     r->orphans_kept_young, absl::ToInt64Hours(config.orphan_grace),
                     r->intents_removed, r->intents_malformed, r->objects_unreadable);
      } else {
        spdlog::error("scheduler: orphan sweep failed: {}", r.status().ToString());
      }
    }
  }
  return tick;
}

}  // namespace sealpool::daemon
