#include "kms/root_key_state.h"

#include <array>
#include <utility>

#include "kms/status_util.h"

namespace sealpool::kms {
namespace {

using S = RootKeyState;

// Every allowed move; anything else is refused.
constexpr std::array<std::pair<S, S>, 10> kMoves = {{
    {S::kPrelive, S::kActive},
    {S::kActive, S::kInactive},
    {S::kInactive, S::kActive},
    {S::kInactive, S::kDeprecated},
    {S::kDeprecated, S::kTerminated},
    {S::kPrelive, S::kCompromised},
    {S::kActive, S::kCompromised},
    {S::kInactive, S::kCompromised},
    {S::kDeprecated, S::kCompromised},
    {S::kCompromised, S::kTerminated},
}};

}  // namespace

std::string_view RootKeyStateName(RootKeyState state) {
  switch (state) {
    case S::kPrelive:
      return "prelive";
    case S::kActive:
      return "active";
    case S::kInactive:
      return "inactive";
    case S::kDeprecated:
      return "deprecated";
    case S::kTerminated:
      return "terminated";
    case S::kCompromised:
      return "compromised";
  }
  return "unknown";
}

std::optional<RootKeyState> ParseRootKeyState(std::string_view name) {
  for (uint8_t v = 1; v <= 6; ++v) {
    auto s = static_cast<RootKeyState>(v);
    if (RootKeyStateName(s) == name) return s;
  }
  return std::nullopt;
}

bool IsValidRootKeyState(uint8_t value) { return value >= 1 && value <= 6; }

absl::Status CheckTransition(RootKeyState from, RootKeyState to) {
  for (const auto& [f, t] : kMoves) {
    if (f == from && t == to) return absl::OkStatus();
  }
  if (from == to) {
    return absl::FailedPreconditionError(Cat("root key is already ", RootKeyStateName(from)));
  }
  return absl::FailedPreconditionError(Cat("a root key cannot move from ", RootKeyStateName(from),
                                           " to ", RootKeyStateName(to),
                                           " (only adjacent moves are allowed)"));
}

absl::Status CheckCanWrap(RootKeyState state) {
  if (state == S::kActive) return absl::OkStatus();
  return absl::FailedPreconditionError(
      Cat("root key is ", RootKeyStateName(state), "; only an active key wraps"));
}

absl::Status CheckCanUnwrap(RootKeyState state, bool for_rewrap) {
  switch (state) {
    case S::kActive:
    case S::kInactive:
      return absl::OkStatus();
    case S::kCompromised:
      if (for_rewrap) return absl::OkStatus();
      return absl::FailedPreconditionError(
          "root key is compromised; it unwraps only to re-wrap under the active key "
          "(purpose REWRAP)");
    case S::kPrelive:
    case S::kDeprecated:
    case S::kTerminated:
      break;
  }
  return absl::FailedPreconditionError(
      Cat("root key is ", RootKeyStateName(state), "; only active or inactive keys unwrap"));
}

absl::Status CheckCanDelete(RootKeyState state) {
  if (state == S::kPrelive || state == S::kTerminated) return absl::OkStatus();
  return absl::FailedPreconditionError(Cat("root key is ", RootKeyStateName(state),
                                           "; only prelive or terminated keys are deleted"));
}

bool RequiresNoUsage(RootKeyState to) { return to == S::kDeprecated || to == S::kTerminated; }

}  // namespace sealpool::kms
