#include "tools/sealpool/arguments.h"

#include <ctime>
#include <limits>

#include "base/strings.h"

namespace sealpool::tools::client {
namespace {

constexpr int64_t kMicrosPerSecond = 1000000;

bool ParseDigits(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 19) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = v;
  return true;
}

absl::Status BadRetention(std::string_view text) {
  return absl::InvalidArgumentError(base::Cat(
      "--retain-until \"", text,
      "\" is neither a duration (a number and one of s m h d w y, e.g. 30d) nor a UTC date or "
      "time (2027-01-31, 2027-01-31T12:00:00Z)"));
}

// "2027-01-31", "2027-01-31T12:00", "2027-01-31 12:00:00Z" → seconds (UTC).
std::optional<int64_t> ParseUtcTime(std::string_view text) {
  std::string s(text);
  if (!s.empty() && (s.back() == 'Z' || s.back() == 'z')) s.pop_back();
  for (const char* format :
       {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"}) {
    std::tm tm{};
    const char* end = strptime(s.c_str(), format, &tm);
    if (end != nullptr && *end == '\0') return static_cast<int64_t>(timegm(&tm));
  }
  return std::nullopt;
}

}  // namespace

absl::StatusOr<int64_t> ParseRetainUntil(std::string_view text, int64_t now_micros) {
  if (text.empty()) return BadRetention(text);
  char unit = text.back();
  uint64_t count = 0;
  if (ParseDigits(text.substr(0, text.size() - 1), &count)) {
    int64_t seconds_per_unit = 0;
    switch (unit) {
      case 's':
        seconds_per_unit = 1;
        break;
      case 'm':
        seconds_per_unit = 60;
        break;
      case 'h':
        seconds_per_unit = 3600;
        break;
      case 'd':
        seconds_per_unit = 86400;
        break;
      case 'w':
        seconds_per_unit = 7 * 86400;
        break;
      case 'y':
        seconds_per_unit = 365 * 86400;
        break;
      default:
        return BadRetention(text);
    }
    if (count == 0) {
      return absl::InvalidArgumentError(
          base::Cat("--retain-until \"", text, "\" is not in the future"));
    }
    // 1000 years is far above any LSU's max_retention_days, and keeps the sum in range.
    if (count > static_cast<uint64_t>(1000LL * 365 * 86400 / seconds_per_unit)) {
      return absl::InvalidArgumentError(base::Cat("--retain-until \"", text, "\" is too long"));
    }
    return now_micros + static_cast<int64_t>(count) * seconds_per_unit * kMicrosPerSecond;
  }
  std::optional<int64_t> seconds = ParseUtcTime(text);
  if (!seconds.has_value()) return BadRetention(text);
  int64_t micros = *seconds * kMicrosPerSecond;
  if (micros <= now_micros) {
    return absl::InvalidArgumentError(
        base::Cat("--retain-until \"", text, "\" is not in the future"));
  }
  return micros;
}

absl::StatusOr<uint64_t> ParseByteCount(std::string_view text) {
  std::string_view digits = text;
  uint64_t multiplier = 1;
  struct Suffix {
    const char* text;
    uint64_t multiplier;
  };
  for (const Suffix& s :
       {Suffix{"KiB", 1ULL << 10}, Suffix{"MiB", 1ULL << 20}, Suffix{"GiB", 1ULL << 30},
        Suffix{"TiB", 1ULL << 40}, Suffix{"K", 1ULL << 10}, Suffix{"M", 1ULL << 20},
        Suffix{"G", 1ULL << 30}, Suffix{"T", 1ULL << 40}}) {
    std::string_view suffix(s.text);
    if (text.size() > suffix.size() && text.ends_with(suffix)) {
      digits = text.substr(0, text.size() - suffix.size());
      multiplier = s.multiplier;
      break;
    }
  }
  uint64_t value = 0;
  if (!ParseDigits(digits, &value) || value > std::numeric_limits<uint64_t>::max() / multiplier) {
    return absl::InvalidArgumentError(
        base::Cat("\"", text, "\" is not a byte count (digits, optionally K, M, G or T)"));
  }
  return value * multiplier;
}

absl::StatusOr<ByteRange> ParseRange(std::string_view text) {
  ByteRange range;
  size_t colon = text.find(':');
  std::string_view offset = text.substr(0, colon);
  auto bad = [&](const absl::Status& why) {
    return absl::InvalidArgumentError(
        base::Cat("--range \"", text, "\": ", why.message(), "; the form is OFFSET:LENGTH"));
  };
  absl::StatusOr<uint64_t> off = ParseByteCount(offset);
  if (!off.ok()) return bad(off.status());
  range.offset = *off;
  if (colon != std::string_view::npos && colon + 1 < text.size()) {
    absl::StatusOr<uint64_t> len = ParseByteCount(text.substr(colon + 1));
    if (!len.ok()) return bad(len.status());
    range.length = *len;
  }
  return range;
}

absl::StatusOr<std::pair<std::string, std::string>> ParseLabel(std::string_view text) {
  size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return absl::InvalidArgumentError(
        base::Cat("--label \"", text, "\" is not KEY=VALUE with a non-empty KEY"));
  }
  return std::make_pair(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
}

}  // namespace sealpool::tools::client
