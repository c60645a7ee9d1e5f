// kmscmd's human-readable output: aligned tables of groups, keys and usage.
#ifndef SEALPOOL_TOOLS_KMSCMD_OUTPUT_H_
#define SEALPOOL_TOOLS_KMSCMD_OUTPUT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sealpool/kms/v1/admin.pb.h"

namespace sealpool::tools {

// "active", "prelive", ... as kmscmd prints and parses them.
std::string_view KeyStateName(kms::v1::KeyState state);
// KEY_STATE_UNSPECIFIED for an unknown name.
kms::v1::KeyState ParseKeyState(std::string_view name);

// "2026-11-23 09:12:03Z".
std::string FormatUnixTime(int64_t unix_seconds);

// A table with a header row; columns padded to their widest cell.
std::string FormatTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

std::string FormatGroups(const kms::v1::ListGroupsResponse& groups);
std::string FormatKeys(const kms::v1::ListKeysResponse& keys);
std::string FormatKey(const kms::v1::RootKeyInfo& key);
std::string FormatUsage(const kms::v1::ListUsageResponse& usage);

}  // namespace sealpool::tools

#endif  // SEALPOOL_TOOLS_KMSCMD_OUTPUT_H_
