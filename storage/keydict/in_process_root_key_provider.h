// A real RootKeyProvider that keeps its root keys in this process, for tests and benchmarks
// (never for a pool in production: its root keys die with the process). It behaves like the
// key service on the points the store depends on: root key states, the binding of a wrap to
// (pool, group, key id), compromised keys unwrapping only to re-wrap, and an outage switch.
//
// Root keys are crypto::RootKey (locked, wiped memory). A wrapped blob has sealkmsd's layout
// (docs/kms.md "Wrapped key format", docs/format.md "Wrapped-key blobs") with its own backend
// byte, all integers single bytes:
//
//   +--------+---------+----------+-------+-------------+-------+-------+-------+------------+
//   | magic  | version | backend  | idlen | root key id | nonce |  tag  | ctlen | ciphertext |
//   | "SPWK" |  u8 = 1 | u8 0x80  |  u8   |  idlen B    |  12 B |  16 B |  u8   |  ctlen B   |
//   +--------+---------+----------+-------+-------------+-------+-------+-------+------------+
//
// 72 bytes for root key "rk-1" and a 32-byte secret. The ciphertext is AES-256-GCM under the
// root key with associated data "sealpool.inproc-root-key.wrap.v2" ‖ u16 len ‖ pool id ‖ u16
// len ‖ group ‖ u16 len ‖ key id ‖ the blob's bytes before the nonce. Secrets are 16..64 bytes
// (like sealkmsd's). The magic-less layout earlier versions wrote (u8 version 1 ‖ idlen ‖ id ‖
// nonce ‖ tag ‖ ctlen ‖ ct) is refused (FailedPrecondition), not migrated: no pool of it was
// deployed.
//
// Root key states: prelive (AddRootKey) → active (Activate; the group's previous active key
// turns inactive) ⇄ inactive; any → compromised (SetCompromised); any → destroyed (Destroy:
// the material is wiped). Only the active key wraps. Active and inactive keys unwrap;
// compromised keys unwrap only through UnwrapForRewrap (Unwrap: FailedPrecondition); prelive
// keys never (FailedPrecondition); destroyed or unknown keys: NotFound. A tampered blob or one
// bound to another pool, group or key id: DataLoss.
//
// Outage: SetAvailable(false) makes every RootKeyProvider call fail with Unavailable (the
// admin calls keep working); FailAfter(n) lets n more calls succeed first. Counters count every
// call that reached the provider, failed or not.
//
// Thread-safe.
#ifndef SEALPOOL_STORAGE_KEYDICT_IN_PROCESS_ROOT_KEY_PROVIDER_H_
#define SEALPOOL_STORAGE_KEYDICT_IN_PROCESS_ROOT_KEY_PROVIDER_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "crypto/keys.h"
#include "crypto/secure_memory.h"
#include "storage/keydict/root_key_provider.h"

namespace sealpool::storage {

enum class InProcessRootKeyState : uint8_t { kPrelive, kActive, kInactive, kCompromised, kDestroyed };
std::string_view InProcessRootKeyStateName(InProcessRootKeyState state);

class InProcessRootKeyProvider final : public RootKeyProvider {
 public:
  // Do not edit: part of the format (docs/format.md "Wrapped-key blobs").
  inline static constexpr std::array<uint8_t, 4> kBlobMagic = {'S', 'P', 'W', 'K'};
  inline static constexpr uint8_t kBlobVersion = 1;
  // sealkmsd's backends are 1 (built-in) and 2 (KMIP); 0x80 marks this test provider's blobs.
  inline static constexpr uint8_t kBlobBackend = 0x80;
  inline static constexpr size_t kMinSecretSize = 16;
  inline static constexpr size_t kMaxSecretSize = 64;

  // Wraps bound to `pool_id`.
  explicit InProcessRootKeyProvider(std::string pool_id);

  // RootKeyProvider.
  absl::StatusOr<WrappedKey> Wrap(std::string_view key_group, std::string_view key_id,
                                  std::span<const uint8_t> secret) override;
  absl::StatusOr<crypto::SecretBytes> Unwrap(std::string_view key_group, std::string_view key_id,
                                             const WrappedKey& wrapped) override;
  absl::StatusOr<crypto::SecretBytes> UnwrapForRewrap(std::string_view key_group,
                                                      std::string_view key_id,
                                                      const WrappedKey& wrapped) override;
  absl::StatusOr<std::string> ActiveRootKeyId(std::string_view key_group) override;

  // Admin calls (never affected by the outage switch).
  // A new prelive root key of `group` (the group is created on first use); returns its id
  // ("rk-<n>", unique in this provider). Aborts the process if no key can be generated (a
  // test fixture cannot go on without it).
  std::string AddRootKey(std::string_view group);
  // prelive or inactive → active; the group's previous active key turns inactive.
  // NotFound for an unknown or destroyed key, FailedPrecondition for a compromised one.
  absl::Status Activate(std::string_view root_key_id);
  // Any state but destroyed → compromised (NotFound otherwise).
  absl::Status SetCompromised(std::string_view root_key_id);
  // Wipes the key's material; it unwraps nothing any more (NotFound). NotFound if unknown.
  absl::Status Destroy(std::string_view root_key_id);
  // The key's state; NotFound if unknown.
  absl::StatusOr<InProcessRootKeyState> State(std::string_view root_key_id) const;

  // false: every RootKeyProvider call fails with Unavailable ("KMS down"). true also clears
  // FailAfter.
  void SetAvailable(bool available);
  // The next `calls` RootKeyProvider calls behave normally, every later one fails with
  // Unavailable until SetAvailable(true).
  void FailAfter(uint64_t calls);

  uint64_t wrap_calls() const { return wrap_calls_.load(); }
  uint64_t unwrap_calls() const { return unwrap_calls_.load(); }  // Unwrap only
  uint64_t rewrap_unwrap_calls() const { return rewrap_unwrap_calls_.load(); }
  uint64_t active_root_key_calls() const { return active_calls_.load(); }

 private:
  struct RootKeyEntry {
    std::string group;
    InProcessRootKeyState state = InProcessRootKeyState::kPrelive;
    std::optional<crypto::RootKey> key;  // empty once destroyed
  };

  // Unavailable while the provider is switched off (consumes one FailAfter call otherwise).
  absl::Status CheckAvailable(std::string_view what) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<crypto::SecretBytes> DoUnwrap(std::string_view key_group,
                                               std::string_view key_id, const WrappedKey& wrapped,
                                               bool for_rewrap) ABSL_LOCKS_EXCLUDED(mu_);

  const std::string pool_id_;

  mutable absl::Mutex mu_;
  std::map<std::string, RootKeyEntry, std::less<>> keys_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string, std::less<>> active_ ABSL_GUARDED_BY(mu_);  // group → id
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool available_ ABSL_GUARDED_BY(mu_) = true;
  std::optional<uint64_t> calls_left_ ABSL_GUARDED_BY(mu_);

  std::atomic<uint64_t> wrap_calls_{0};
  std::atomic<uint64_t> unwrap_calls_{0};
  std::atomic<uint64_t> rewrap_unwrap_calls_{0};
  std::atomic<uint64_t> active_calls_{0};
};

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_KEYDICT_IN_PROCESS_ROOT_KEY_PROVIDER_H_
