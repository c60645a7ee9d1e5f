// sealpoold's audit log: one JSON object per line, appended with one write(2) and synced
// (fdatasync) before Record returns, for every key operation, delete, retention and owner
// change, mode change, purge and catalog backup. Like sealkmsd's (kms/audit_log.h) it has no
// field a secret could go into: names, ids, results.
//
//   {"time":"2026-12-04T11:02:03.120Z","actor":"backup-host-1","role":"client","op":"delete",
//    "lsu":"lsu1","owner":"backup-host-1","image":"db-2026-12-04","key_group":"",
//    "detail":"","result":"OK"}
//
// Thread-safe.
#ifndef SEALPOOL_DAEMON_SEALPOOLD_POOL_AUDIT_H_
#define SEALPOOL_DAEMON_SEALPOOLD_POOL_AUDIT_H_

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sealpool::daemon {

struct PoolAuditEvent {
  std::string_view actor;  // client CN, "admin-socket" for an admin, "scheduler", "sealpoold"
  std::string_view role;   // "client", "admin", "scheduler", "daemon"
  std::string_view op;     // "delete", "reassign-owner", "extend-retention", "set-mode", ...
  std::string_view lsu;
  std::string_view owner;
  std::string_view image;
  std::string_view key_group;
  std::string_view detail;  // e.g. "new_owner=b", "mode=read-only"
  absl::Status result;
  // An intent line, written (and synced) before a key operation (rotate-kek, rewrap-keys,
  // purge): "result":"STARTED", and `result` is ignored. The operation is refused, with nothing
  // done, when it cannot be written (docs/security.md, "Key hygiene").
  bool intent = false;
};

std::string FormatPoolAuditLine(const PoolAuditEvent& event, absl::Time time);

class PoolAuditLog {
 public:
  // Opens (creating with mode 0600, and its folder) `path` for appending.
  static absl::StatusOr<std::unique_ptr<PoolAuditLog>> Open(const std::filesystem::path& path);
  ~PoolAuditLog();
  PoolAuditLog(const PoolAuditLog&) = delete;
  PoolAuditLog& operator=(const PoolAuditLog&) = delete;

  // Appends and syncs the line. An error (disk full) is returned for the caller to report.
  absl::Status Record(const PoolAuditEvent& event) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  PoolAuditLog(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}
  const std::filesystem::path path_;
  absl::Mutex mu_;
  const int fd_;
};

}  // namespace sealpool::daemon

#endif  // SEALPOOL_DAEMON_SEALPOOLD_POOL_AUDIT_H_
