// The interface sealkmsd's services call: key groups, root keys and their states, wrapping and
// unwrapping, and the usage registry. The built-in backend (KeyStore, key_store.h) implements
// it over an encrypted file; a KMIP backend implements the same interface over a KMIP server.
//
// Every implementation enforces the state rules of root_key_state.h and these, with the status
// named:
//   - a group wraps only under its one active key          FailedPrecondition
//   - a key that wraps a registered KEK is not deprecated,
//     terminated or deleted                                 FailedPrecondition
//   - unknown group or key                                  NotFound
//   - a blob that does not authenticate for (pool, group,
//     KEK id), or names a key of another group             DataLoss / InvalidArgument
// A backend in front of an external KMS marks the failures of the KMS, or of reaching it, with
// MarkKmsFailure, so the services can tell the operator which component failed.
// Implementations are thread-safe.
#ifndef SEALPOOL_KMS_KEY_BACKEND_H_
#define SEALPOOL_KMS_KEY_BACKEND_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "crypto/secure_memory.h"
#include "kms/root_key_state.h"

namespace sealpool::kms {

// The status payload that marks a failure of the external KMS (value: "kmip").
inline constexpr absl::string_view kKmsFailureUrl = "type.sealpool.dev/sealpool.kms.KmsFailure";
inline absl::Status MarkKmsFailure(absl::Status s) {
  if (!s.ok()) s.SetPayload(kKmsFailureUrl, absl::Cord("kmip"));
  return s;
}
inline bool IsKmsFailure(const absl::Status& s) {
  return !s.ok() && s.GetPayload(kKmsFailureUrl).has_value();
}

// What a wrapped key is bound to (its associated data).
struct WrapContext {
  std::string_view pool_id;
  std::string_view key_group;
  std::string_view kek_id;
};

struct WrapResult {
  std::string root_key_id;
  std::vector<uint8_t> wrapped;  // wrapped_key_format.h
};

struct UnwrapResult {
  crypto::SecretBytes secret;
  std::string root_key_id;
  RootKeyState root_key_state;
};

struct RootKeyView {
  std::string id;
  std::string group;
  RootKeyState state;
  int64_t created_unix;
  int64_t state_changed_unix;
  uint32_t registered_keks;
};

struct GroupView {
  std::string name;
  int64_t created_unix;
  std::string active_root_key_id;  // empty: the group wraps nothing
  uint32_t key_count;
  uint32_t registered_keks;
};

// The SHA-256 of a KEK pair's public half (kek_mode "public"), 64 lower-case hex digits; empty
// for a symmetric KEK or the fingerprint key. The first registration of a (pool, group, KEK id)
// with a hash pins it: a later registration or reconcile with another hash for it is refused
// (FailedPrecondition), so a public key substituted in the pool's catalog is found the next
// time the pool reaches sealkmsd.
struct KekUsageEntry {
  std::string kek_id;
  std::string root_key_id;
  std::string public_key_sha256 = {};
};

struct UsageView {
  std::string pool_id;
  std::string group;
  std::string kek_id;
  std::string root_key_id;
  std::string public_key_sha256 = {};  // pinned, or empty
};

struct KekUsageStatus {
  std::string kek_id;
  std::string root_key_id;
  RootKeyState root_key_state;
  bool rewrap_needed;  // not wrapped under the group's active key
  std::string public_key_sha256 = {};  // pinned, or empty
};

struct ReconcileResult {
  std::vector<KekUsageStatus> usages;
  uint32_t added = 0;
  uint32_t removed = 0;
};

struct ShredResult {
  uint32_t destroyed_keys = 0;
  uint32_t dropped_registrations = 0;
};

class KeyBackend {
 public:
  virtual ~KeyBackend() = default;

  virtual absl::StatusOr<GroupView> CreateGroup(std::string_view name) = 0;
  virtual std::vector<GroupView> ListGroups() = 0;
  virtual absl::StatusOr<GroupView> GetGroup(std::string_view name) = 0;
  // Shreds a group in use: destroys all its root keys and drops its registrations.
  virtual absl::StatusOr<ShredResult> ShredGroup(std::string_view name) = 0;

  // A new prelive key in `group`.
  virtual absl::StatusOr<RootKeyView> CreateKey(std::string_view group) = 0;
  // Keys of `group`, or of every group when empty.
  virtual absl::StatusOr<std::vector<RootKeyView>> ListKeys(std::string_view group) = 0;
  virtual absl::StatusOr<RootKeyView> SetKeyState(std::string_view id, RootKeyState state) = 0;
  virtual absl::Status DeleteKey(std::string_view id) = 0;

  // Wraps under the group's active key and registers ctx.kek_id as wrapped under it.
  virtual absl::StatusOr<WrapResult> Wrap(const WrapContext& ctx,
                                          std::span<const uint8_t> secret) = 0;
  virtual absl::StatusOr<UnwrapResult> Unwrap(const WrapContext& ctx,
                                              std::span<const uint8_t> wrapped,
                                              bool for_rewrap) = 0;

  virtual absl::Status RegisterUsage(std::string_view pool_id, std::string_view group,
                                     std::span<const KekUsageEntry> usages) = 0;
  // Replaces the registry of (pool_id, group) with `usages`.
  virtual absl::StatusOr<ReconcileResult> ReconcileUsage(std::string_view pool_id,
                                                         std::string_view group,
                                                         std::span<const KekUsageEntry> usages) = 0;
  // Filtered by group and root key id when they are not empty.
  virtual std::vector<UsageView> ListUsage(std::string_view group,
                                           std::string_view root_key_id) = 0;

  // Unimplemented for a backend without a passphrase.
  virtual absl::Status ChangePassphrase(std::span<const uint8_t> new_passphrase) = 0;
  // An id of the key the store holding `group` is encrypted under now (hex of the store's
  // salt), which changes with every passphrase change; empty for a backend without a
  // passphrase-encrypted store (a purge waits for it to change after its destroy step).
  virtual absl::StatusOr<std::string> StoreKeyId(std::string_view /*group*/) {
    return std::string();
  }
};

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_KEY_BACKEND_H_
