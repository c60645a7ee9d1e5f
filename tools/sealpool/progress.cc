#include "tools/sealpool/progress.h"

#include <cinttypes>

namespace sealpool::tools::client {

std::string HumanBytes(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes);
  size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f %s", v, kUnits[unit]);
  return buf;
}

std::string HumanDuration(double seconds) {
  if (seconds < 0) seconds = 0;
  auto s = static_cast<uint64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600, (s / 60) % 60,
                  s % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%" PRIu64 ":%02" PRIu64, s / 60, s % 60);
  }
  return buf;
}

Progress::Progress(bool enabled, std::string label, std::optional<uint64_t> total, FILE* out)
    : enabled_(enabled),
      label_(std::move(label)),
      total_(total),
      out_(out),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

std::string Progress::Line(double elapsed) const {
  std::string line = label_ + ": " + HumanBytes(bytes_);
  if (total_.has_value()) line += " of " + HumanBytes(*total_);
  double rate = elapsed > 0 ? static_cast<double>(bytes_) / elapsed : 0;
  line += ", " + HumanBytes(static_cast<uint64_t>(rate)) + "/s";
  if (total_.has_value() && *total_ > 0) {
    char pct[16];
    std::snprintf(
        pct, sizeof(pct), " (%d%%)",
        static_cast<int>(100.0 * static_cast<double>(bytes_) / static_cast<double>(*total_)));
    line += pct;
    if (rate > 0 && *total_ >= bytes_) {
      line += ", ETA " + HumanDuration(static_cast<double>(*total_ - bytes_) / rate);
    }
  }
  if (not_sent_ > 0) line += ", " + HumanBytes(not_sent_) + " not sent";
  return line;
}

void Progress::Add(uint64_t bytes) {
  bytes_ += bytes;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(250)) return;
  last_draw_ = now;
  drawn_ = true;
  double elapsed = std::chrono::duration<double>(now - start_).count();
  std::fprintf(out_, "\r%s\033[K", Line(elapsed).c_str());
  std::fflush(out_);
}

void Progress::Finish() {
  if (!enabled_ || !drawn_) return;
  std::fputs("\r\033[K", out_);
  std::fflush(out_);
  drawn_ = false;
}

}  // namespace sealpool::tools::client
