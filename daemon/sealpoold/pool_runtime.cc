#include "daemon/sealpoold/pool_runtime.h"

#include <grpcpp/server_context.h>
#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <fstream>

#include "base/status_macros.h"
#include "base/strings.h"
#include "spdlog/spdlog.h"

namespace sealpool::daemon {

using base::Cat;

std::string_view PoolModeName(PoolMode mode) {
  switch (mode) {
    case PoolMode::kReadWrite: return "read-write";
    case PoolMode::kReadOnly: return "read-only";
    case PoolMode::kMaintenance: return "maintenance";
  }
  return "unknown";
}

// ---- StreamRegistry ----

absl::StatusOr<StreamRegistry::Slot> StreamRegistry::Acquire(StreamKind kind,
                                                             grpc::ServerContextBase* context) {
  absl::MutexLock lock(&mu_);
  if (closed_) return absl::UnavailableError("sealpoold is shutting down");
  if (entries_.size() >= max_streams_) {
    return absl::ResourceExhaustedError(Cat("sealpoold runs its limit of ", max_streams_,
                                            " streams ([limits].max_streams); try again later"));
  }
  uint64_t id = next_id_++;
  entries_[id] = Entry{kind, context, absl::Now()};
  return Slot(this, id);
}

void StreamRegistry::Release(uint64_t id) {
  absl::MutexLock lock(&mu_);
  entries_.erase(id);
}

void StreamRegistry::Touch(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it != entries_.end()) it->second.last_activity = absl::Now();
}

size_t StreamRegistry::CancelIdle(absl::Duration idle) {
  absl::MutexLock lock(&mu_);
  const absl::Time cutoff = absl::Now() - idle;
  size_t n = 0;
  for (auto& [id, e] : entries_) {
    if (e.last_activity < cutoff && e.context != nullptr) {
      e.context->TryCancel();
      e.last_activity = absl::InfiniteFuture();  // cancel once
      ++n;
    }
  }
  return n;
}

void StreamRegistry::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

bool StreamRegistry::WaitIdle(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto empty = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return entries_.empty(); };
  return mu_.AwaitWithDeadline(absl::Condition(&empty), deadline);
}

void StreamRegistry::CancelAll() {
  absl::MutexLock lock(&mu_);
  for (auto& [id, e] : entries_) {
    if (e.context != nullptr) e.context->TryCancel();
  }
}

size_t StreamRegistry::Count(StreamKind kind) const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [id, e] : entries_) n += e.kind == kind ? 1 : 0;
  return n;
}

// ---- PoolRuntime ----

PoolRuntime::PoolRuntime(PoolConfig config, storage::Pool* pool, kms::KmsClient* kms,
                         PoolAuditLog* audit, PoolMetrics* metrics,
                         std::shared_ptr<const AccessMap> access)
    : config_(std::move(config)),
      pool_(pool),
      kms_(kms),
      audit_(audit),
      metrics_(metrics),
      streams_(config_.max_streams),
      kek_pairs_(config_.unconfirmed_warn_after),
      mode_(LoadMode(config_.pool_dir)),
      access_(std::move(access)) {
  RefreshSpace();
  if (pool_ != nullptr) {
    absl::StatusOr<std::vector<storage::KeyGroupInfo>> groups = pool_->ListKeyGroups();
    if (groups.ok()) {
      for (const storage::KeyGroupInfo& g : *groups) {
        if (!g.keks.empty() && g.keks.front().pair) kek_pairs_.Track(g.name);
      }
    }
  }
}

absl::Status PoolRuntime::Audit(const PoolAuditEvent& event) {
  if (audit_ == nullptr) return absl::OkStatus();
  absl::Status s = audit_->Record(event);
  if (!s.ok()) spdlog::error("audit log: {}", s.ToString());
  return s;
}

std::shared_ptr<const AccessMap> PoolRuntime::access() const {
  absl::MutexLock lock(&mu_);
  return access_;
}

void PoolRuntime::SetAccess(std::shared_ptr<const AccessMap> access) {
  absl::MutexLock lock(&mu_);
  access_ = std::move(access);
}

namespace {
std::filesystem::path ModeFile(const std::filesystem::path& pool_dir) {
  return pool_dir / "sealpoold.mode";
}
}  // namespace

PoolMode PoolRuntime::LoadMode(const std::filesystem::path& pool_dir) {
  std::ifstream in(ModeFile(pool_dir));
  if (!in) return PoolMode::kReadWrite;  // never set
  std::string word;
  in >> word;
  if (word == "read-only") return PoolMode::kReadOnly;
  if (word == "maintenance") return PoolMode::kMaintenance;
  if (word == "read-write") return PoolMode::kReadWrite;
  // A damaged mode file must not silently open a pool an admin closed: stay read-only.
  spdlog::error("{} holds \"{}\", not a pool mode: starting read-only; set the mode again "
                "with SetMode", ModeFile(pool_dir).string(), word);
  return PoolMode::kReadOnly;
}

absl::Status PoolRuntime::SetMode(PoolMode mode) {
  const std::filesystem::path path = ModeFile(config_.pool_dir);
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  // Written, synced, renamed over the old one and the folder synced: a crash leaves the old
  // mode or the new one.
  const std::string text = Cat(PoolModeName(mode), "\n");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(Cat("cannot write ", tmp.string()));
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                       ::fsync(fd) == 0;
  ::close(fd);
  if (!written) return absl::InternalError(Cat("cannot write ", tmp.string()));
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::InternalError(Cat("cannot rename ", tmp.string(), ": ", ec.message()));
  if (int dir = ::open(config_.pool_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  mode_.store(mode);
  return absl::OkStatus();
}

void PoolRuntime::RefreshSpace() {
  struct statvfs st {};
  if (::statvfs(config_.pool_dir.c_str(), &st) != 0 || st.f_blocks == 0) return;
  const uint64_t total = uint64_t{st.f_blocks} * st.f_frsize;
  const uint64_t avail = uint64_t{st.f_bavail} * st.f_frsize;
  const double used = 1.0 - static_cast<double>(avail) / static_cast<double>(total);
  fs_total_.store(total);
  fs_available_.store(avail);
  used_fraction_.store(used);
  const bool was = high_water_.load();
  const bool now = used >= config_.high_water;
  if (now != was) {
    high_water_.store(now);
    if (now) {
      spdlog::warn("pool file system {:.1f}% full, at or above the high-water mark {:.0f}%: "
                   "ingest refused until space is freed (delete images, process the queue, "
                   "compact)",
                   used * 100, config_.high_water * 100);
    } else {
      spdlog::info("pool file system {:.1f}% full, below the high-water mark: ingest resumes",
                   used * 100);
    }
  }
}

void PoolRuntime::SetDeferred(std::string key, std::string text) {
  absl::MutexLock lock(&mu_);
  deferred_[std::move(key)] = std::move(text);
}

void PoolRuntime::ClearDeferred(std::string_view key) {
  absl::MutexLock lock(&mu_);
  auto it = deferred_.find(key);
  if (it != deferred_.end()) deferred_.erase(it);
}

std::vector<std::string> PoolRuntime::Deferred() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [k, v] : deferred_) out.push_back(v);
  return out;
}

void PoolRuntime::RequestReconcile(std::string key_group) {
  absl::MutexLock lock(&mu_);
  reconcile_requests_.push_back(std::move(key_group));
}

std::vector<std::string> PoolRuntime::TakeReconcileRequests() {
  absl::MutexLock lock(&mu_);
  return std::exchange(reconcile_requests_, {});
}

absl::Status PoolRuntime::CheckIngestAllowed() const {
  switch (mode()) {
    case PoolMode::kMaintenance:
      return absl::UnavailableError("the pool is in maintenance mode; backups are refused");
    case PoolMode::kReadOnly:
      return absl::FailedPreconditionError("the pool is read-only; backups are refused");
    case PoolMode::kReadWrite:
      break;
  }
  if (high_water()) {
    return absl::ResourceExhaustedError(
        Cat("the pool's file system is ", static_cast<int>(used_fraction() * 100),
            "% full, at or above the high-water mark ([storage].high_water_percent = ",
            static_cast<int>(config_.high_water * 100 + 0.5),
            "): backups are refused until space is freed"));
  }
  return absl::OkStatus();
}

absl::Status PoolRuntime::CheckRestoreAllowed() const {
  if (mode() == PoolMode::kMaintenance) {
    return absl::UnavailableError("the pool is in maintenance mode; restores are refused");
  }
  return absl::OkStatus();
}

absl::Status PoolRuntime::CheckDeleteAllowed() const {
  switch (mode()) {
    case PoolMode::kMaintenance:
      return absl::UnavailableError("the pool is in maintenance mode; deletes are refused");
    case PoolMode::kReadOnly:
      return absl::FailedPreconditionError("the pool is read-only; deletes are refused");
    case PoolMode::kReadWrite:
      break;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const AccessMap>> BuildAccessMap(const PoolConfig& config,
                                                                std::string_view ca_pem) {
  auto map = std::make_shared<AccessMap>();
  for (const ClientConfig& c : config.clients) map->clients.emplace(c.cn, c);
  if (!config.crl_file.empty()) {
    auto crl = RevocationList::Load(config.crl_file, ca_pem);
    if (!crl.ok()) return crl.status();
    map->crl = *std::move(crl);
  }
  return std::shared_ptr<const AccessMap>(std::move(map));
}

}  // namespace sealpool::daemon
