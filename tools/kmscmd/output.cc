#include "tools/kmscmd/output.h"

#include <algorithm>
#include <ctime>

namespace sealpool::tools {

std::string_view KeyStateName(kms::v1::KeyState state) {
  switch (state) {
    case kms::v1::KEY_STATE_PRELIVE:
      return "prelive";
    case kms::v1::KEY_STATE_ACTIVE:
      return "active";
    case kms::v1::KEY_STATE_INACTIVE:
      return "inactive";
    case kms::v1::KEY_STATE_DEPRECATED:
      return "deprecated";
    case kms::v1::KEY_STATE_TERMINATED:
      return "terminated";
    case kms::v1::KEY_STATE_COMPROMISED:
      return "compromised";
    default:
      return "unknown";
  }
}

kms::v1::KeyState ParseKeyState(std::string_view name) {
  for (int v = 1; v <= 6; ++v) {
    auto s = static_cast<kms::v1::KeyState>(v);
    if (KeyStateName(s) == name) return s;
  }
  return kms::v1::KEY_STATE_UNSPECIFIED;
}

std::string FormatUnixTime(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%SZ", &tm);
  return std::string(buf, n);
}

std::string FormatTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string l;
    for (size_t i = 0; i < cells.size() && i < width.size(); ++i) {
      l += cells[i];
      if (i + 1 < cells.size()) l.append(width[i] - cells[i].size() + 2, ' ');
    }
    out += l + "\n";
  };
  line(header);
  for (const auto& row : rows) line(row);
  return out;
}

std::string FormatGroups(const kms::v1::ListGroupsResponse& groups) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& g : groups.groups()) {
    rows.push_back({g.name(), g.state() == kms::v1::GROUP_STATE_READY ? "ready" : "no-active-key",
                    g.active_root_key_id().empty() ? "-" : g.active_root_key_id(),
                    std::to_string(g.key_count()), std::to_string(g.registered_keks()),
                    FormatUnixTime(g.created_unix())});
  }
  return FormatTable({"GROUP", "STATE", "ACTIVE KEY", "KEYS", "KEKS", "CREATED"}, rows);
}

std::string FormatKeys(const kms::v1::ListKeysResponse& keys) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& k : keys.keys()) {
    rows.push_back({k.id(), k.key_group(), std::string(KeyStateName(k.state())),
                    std::to_string(k.registered_keks()), FormatUnixTime(k.created_unix()),
                    FormatUnixTime(k.state_changed_unix())});
  }
  return FormatTable({"KEY", "GROUP", "STATE", "KEKS", "CREATED", "CHANGED"}, rows);
}

std::string FormatKey(const kms::v1::RootKeyInfo& key) {
  kms::v1::ListKeysResponse one;
  *one.add_keys() = key;
  return FormatKeys(one);
}

std::string FormatUsage(const kms::v1::ListUsageResponse& usage) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : usage.entries()) {
    rows.push_back({e.pool_id(), e.key_group(), e.kek_id(), e.root_key_id()});
  }
  return FormatTable({"POOL", "GROUP", "KEK", "ROOT KEY"}, rows);
}

}  // namespace sealpool::tools
