// sealkmsd's audit log: one JSON object per line for every key operation (who, what, which
// group, key and KEK, result, when), appended to a file opened O_APPEND. Never holds key
// material: events carry names and ids only, and there is no field a secret could go into.
//
//   {"time":"2026-11-23T09:12:03.120Z","peer":"pool-a","role":"storage-server","op":"wrap",
//    "pool":"pool-a","group":"g1","root_key":"rk-…","kek":"kek-7","result":"OK","detail":""}
//
// Thread-safe: each line is written with one write(2) under a mutex.
#ifndef SEALPOOL_KMS_AUDIT_LOG_H_
#define SEALPOOL_KMS_AUDIT_LOG_H_

#include <cstdint>
#include <filesystem>
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

  // Appends the event. An error (disk full) is returned so the caller can log it; the key
  // operation itself has already happened.
  absl::Status Record(const AuditEvent& event);

  // The last `n` lines, oldest first.
  absl::StatusOr<std::vector<std::string>> Tail(size_t n);

 private:
  AuditLog(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}

  const std::filesystem::path path_;
  absl::Mutex mu_;
  const int fd_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_AUDIT_LOG_H_
