// What crcontrol and keydictutil print: the human text (MSDP-shaped where the MSDP tools had
// the command) and the --json document of each answer of sealpoold's admin API. Every field
// and its unit is documented in docs/cli.md; changing one is a documented change.
// Pure functions of their arguments (times are formatted in UTC), so they are unit tested.
#ifndef SEALPOOL_TOOLS_ADMIN_ADMIN_OUTPUT_H_
#define SEALPOOL_TOOLS_ADMIN_ADMIN_OUTPUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sealpool/pool/v1/admin.pb.h"

namespace sealpool::tools::admin {

namespace v1 = pool::v1;

// ---- units ----
// "241.71 MiB", "512 bytes" (binary units, two decimals).
std::string HumanBytes(uint64_t bytes);
// "253456821 bytes (241.71 MiB)": exact, then readable.
std::string ExactBytes(uint64_t bytes);
// "2026-12-04 13:02:11Z" ("-" for 0: no time).
std::string HumanTime(int64_t unix_micros);
// "2026-12-04T13:02:11Z" (RFC 3339, UTC, seconds).
std::string JsonTime(int64_t unix_micros);
// "2h03m", "45s".
std::string HumanDuration(int64_t seconds);
// A table with a header row; columns padded to their widest cell.
std::string FormatTable(const std::vector<std::string>& header,
                        const std::vector<std::vector<std::string>>& rows);

// ---- names ----
// "read-write", "read-only", "maintenance" ("unknown" otherwise).
std::string_view PoolModeName(v1::PoolMode mode);
// POOL_MODE_UNSPECIFIED for anything else.
v1::PoolMode ParsePoolMode(std::string_view name);
// "reachable", "degraded", "unreachable" ("unknown": no key service configured).
std::string_view KmsStateName(v1::KmsReachability kms);
// "idle", "running", "done", "stopped", "failed".
std::string_view JobStateName(v1::JobState state);

// ---- crcontrol ----
// `now_micros` dates "for how long" in the KMS line.
std::string ModeHuman(const v1::GetModeResponse& mode, int64_t now_micros);
std::string ModeJson(const v1::GetModeResponse& mode);
std::string StatsHuman(const v1::GetStatsResponse& stats);
std::string StatsJson(const v1::GetStatsResponse& stats);
std::string JobHuman(const v1::JobStatus& job);
std::string JobJson(const v1::JobStatus& job);
std::string ProcessQueueHuman(const v1::ProcessQueueResponse& r);
std::string ProcessQueueJson(const v1::ProcessQueueResponse& r);
std::string QueueInfoHuman(const v1::QueueInfo& q);
std::string QueueInfoJson(const v1::QueueInfo& q);
// `what`: "verify" or "scrub"; `lsu` ("" = every LSU) only for verify. `last` is the final
// message (finished set).
std::string CheckHuman(std::string_view what, const v1::CheckProgress& last);
std::string CheckJson(std::string_view what, std::string_view lsu, const v1::CheckProgress& last);
// The one-line progress shown on a terminal while a verify or scrub runs.
std::string CheckProgressLine(std::string_view what, const v1::CheckProgress& p);

// ---- keydictutil ----
std::string KeysHuman(const v1::ListKeysResponse& keys);
std::string KeysJson(const v1::ListKeysResponse& keys);

}  // namespace sealpool::tools::admin

#endif  // SEALPOOL_TOOLS_ADMIN_ADMIN_OUTPUT_H_
