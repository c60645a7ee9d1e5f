// The progress line sealpool draws on stderr while it moves data: bytes so far, rate, and the
// percentage and ETA when the total is known; for a backup also the bytes this client did not
// need to send, shown only when not zero (always zero until client-side dedup exists).
// Redrawn in place ("\r", clear to end of line) at most every 250 ms, and erased by Finish().
// Not thread-safe: one thread calls Add() and Finish().
#ifndef SEALPOOL_TOOLS_SEALPOOL_PROGRESS_H_
#define SEALPOOL_TOOLS_SEALPOOL_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

namespace sealpool::tools::client {

// "0 B", "512 B", "1.5 KiB", "12.3 MiB", "4.0 GiB".
std::string HumanBytes(uint64_t bytes);
// "0:07", "1:02:03".
std::string HumanDuration(double seconds);

class Progress {
 public:
  // `enabled` false makes every call a no-op. `label` is e.g. "backup lsu1/home".
  Progress(bool enabled, std::string label, std::optional<uint64_t> total, FILE* out = stderr);

  void Add(uint64_t bytes);
  void AddNotSent(uint64_t bytes) { not_sent_ += bytes; }
  // Erases the line (the final summary is printed by the caller).
  void Finish();

  // The line for the current figures (exposed for tests).
  std::string Line(double elapsed_seconds) const;

 private:
  bool enabled_;
  std::string label_;
  std::optional<uint64_t> total_;
  FILE* out_;
  uint64_t bytes_ = 0;
  uint64_t not_sent_ = 0;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace sealpool::tools::client

#endif  // SEALPOOL_TOOLS_SEALPOOL_PROGRESS_H_
