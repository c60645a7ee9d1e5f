// sealkmsd's audit log: one JSON object per line for every key operation (who, what, which
// group, key and KEK, result, when), appended to a file opened O_APPEND. Never holds key
// material: events carry names and ids only, and there is no field a secret could go into.
//
//   {"time":"2026-11-23T09:12:03.120Z","peer":"pool-a","role":"storage-server","op":"wrap",
//    "pool":"pool-a","group":"g1","root_key":"rk-…","kek":"kek-7","result":"OK","detail":""}
//
// Thread-safe: each line is written with one write(2) and synced (fdatasync) under a mutex.
//
// Fail-closed (docs/security.md, "Key hygiene"): the key service refuses a key operation whose
// line cannot be written and synced. An operation with a lasting effect (a state change) first
// writes an intent line (result "STARTED") and is refused, with nothing done, when that fails.
#ifndef SEALPOOL_KMS_AUDIT_LOG_H_
#define SEALPOOL_KMS_AUDIT_LOG_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace sealpool::kms {

struct AuditEvent {
  std::string_view peer;  // certificate CN
  std::string_view role;  // "storage-server", "admin", or "unknown"
  std::string_view op;    // "wrap", "unwrap", "create-key", "set-state:active", ...
  std::string_view pool;
  std::string_view group;
  std::string_view root_key;
  std::string_view kek;
  absl::Status result;
  // An intent line, written before an operation with a lasting effect: "result":"STARTED" (and
  // `result` is ignored).
  bool intent = false;
};

// Quotes and escapes `s` as a JSON string (control characters as \u00XX; invalid UTF-8 bytes
// too, so the line stays valid JSON).
std::string JsonString(std::string_view s);

// The JSON line (without the newline) for `event` at `time`.
std::string FormatAuditLine(const AuditEvent& event, absl::Time time);

class AuditLog {
 public:
  // Opens (creating with mode 0600) `path` for appending.
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::filesystem::path& path);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends the event's line and syncs it (fdatasync). An error (disk full, I/O error) is an
  // INTERNAL status naming the file and the errno; the caller refuses the key operation.
  absl::Status Record(const AuditEvent& event);

  // Called with the error when a Record fails after the previous one succeeded (or the first
  // time), and with OK when one succeeds again after failures: sealkmsd logs both, so its log
  // says once why key operations are refused and when they are served again.
  void SetFailureHook(std::function<void(const absl::Status&)> hook);

  // The last `n` lines, oldest first.
  absl::StatusOr<std::vector<std::string>> Tail(size_t n);

 private:
  AuditLog(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}

  const std::filesystem::path path_;
  absl::Mutex mu_;
  const int fd_ ABSL_GUARDED_BY(mu_);
  std::function<void(const absl::Status&)> hook_ ABSL_GUARDED_BY(mu_);
  uint64_t failed_in_a_row_ ABSL_GUARDED_BY(mu_) = 0;
};

// Records the outcome line of an operation whose effect is handing something out (a wrap, an
// unwrap): returns `event.result`, or, when the line cannot be written and synced and the
// operation had succeeded, an INTERNAL error "sealkmsd refused <op>: <why>" (the caller then
// drops what it would have handed out).
absl::Status RecordOrRefuse(AuditLog& audit, const AuditEvent& event);

// Records the intent line of an operation with a lasting effect, before it is done: OK, or an
// INTERNAL error "sealkmsd refused <op>: <why>; nothing was changed".
absl::Status RecordIntent(AuditLog& audit, const AuditEvent& event);

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_AUDIT_LOG_H_
