// The states of a root key and the moves between them (docs/kms.md, "States and rules").
//
//   prelive ──activate──▶ active ──▶ inactive ──▶ deprecated ──▶ terminated
//                           ▲            │
//                           └─reactivate─┘
//   prelive, active, inactive, deprecated ──▶ compromised ──▶ terminated
//
// What each state allows is answered here, once; KeyStore applies it.
#ifndef SEALPOOL_KMS_ROOT_KEY_STATE_H_
#define SEALPOOL_KMS_ROOT_KEY_STATE_H_

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/status.h"

namespace sealpool::kms {

// Values are part of the key store format: never renumber.
enum class RootKeyState : uint8_t {
  kPrelive = 1,
  kActive = 2,
  kInactive = 3,
  kDeprecated = 4,
  kTerminated = 5,
  kCompromised = 6,
};

// "prelive", "active", ...
std::string_view RootKeyStateName(RootKeyState state);
// The inverse of RootKeyStateName; nullopt for an unknown name.
std::optional<RootKeyState> ParseRootKeyState(std::string_view name);
// Whether `value` is one of the enumerators (for decoding untrusted bytes).
bool IsValidRootKeyState(uint8_t value);

// OK if `from` → `to` is one of the allowed moves, else FailedPrecondition naming both.
// Usage (a key still wrapping a registered KEK) is checked by the caller.
absl::Status CheckTransition(RootKeyState from, RootKeyState to);

// Whether a key in `state` may wrap (only active).
absl::Status CheckCanWrap(RootKeyState state);
// Whether a key in `state` may unwrap; compromised keys only when `for_rewrap`.
absl::Status CheckCanUnwrap(RootKeyState state, bool for_rewrap);
// Whether a key in `state` may be deleted (prelive or terminated).
absl::Status CheckCanDelete(RootKeyState state);
// Whether moving into `to` requires that no registered KEK uses the key.
bool RequiresNoUsage(RootKeyState to);

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_ROOT_KEY_STATE_H_
