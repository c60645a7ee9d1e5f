// The KMIP backend: root keys created in, and never leaving, an external KMS spoken to over
// KMIP (kmip/kmip_client.h). Same interface and rules as the built-in store (key_backend.h).
//
//   - A root key is an AES-256 Symmetric Key created with Create (usage Encrypt|Decrypt, Name
//     "sealpool:<group>", Object Group "<group>"); its sealpool id is "kmip-<Unique Identifier>".
//   - Wrap is KMIP Encrypt and unwrap KMIP Decrypt, AES-256-GCM (KMIP >= 1.4) with a 12-byte
//     nonce drawn here, the associated data of wrapped_key_format.h and a 16-byte tag; the blob
//     is the built-in format with backend = kBackendKmip.
//   - allow_export (off by default): wrap and unwrap fetch the key with Get and run AES-GCM in
//     sealkmsd (for KMS that lack Encrypt/Decrypt); the blobs are the same.
//   - States (docs/kms.md "KMIP backend"): prelive = Pre-Active; active and inactive = Active
//     (an inactive key must still decrypt; which key of a group wraps is sealkmsd's record);
//     deprecated = Revoke (Cessation of Operation) → Deactivated; compromised = Revoke (Key
//     Compromise) → Compromised; terminated = Revoke (if still Active) then Destroy.
//   - The groups, sealpool states and the usage registry are kept in a local state file
//     (kmip_state_file.h); a change calls the KMS first and saves after, so a refused KMS call
//     changes nothing. A lost state file is rebuilt from the KMS by RebuildState (Locate by
//     Object Group, GetAttributes), all but the usage registry.
//   - A KMS change (Create, Activate, Revoke, Destroy) whose answer never comes (deadline,
//     dropped connection) may still be carried out by the KMS. So each one is recorded in the
//     state file as pending, with a request id of its own, before it is sent, and dropped when
//     the answer is recorded. When the connection dropped, the backend looks at once (on a new
//     connection) and sends once more if the KMS shows nothing happened. Otherwise the call
//     fails (DeadlineExceeded / Unavailable) and the change stays pending; before the next key
//     change (CreateKey, SetKeyState, DeleteKey, ShredGroup), and at start (ReconcilePending),
//     the backend reconciles: a Create is found by its request id (Application Specific
//     Information, namespace kmip::kRequestIdNamespace; Name and Object Group are unchanged)
//     and, as its caller was told it failed, destroyed if still Pre-Active (adopted otherwise);
//     for Activate, Revoke and Destroy the key's state is read back (GetAttributes) and the
//     KMS's state recorded, as the KMS cannot undo them. A change the KMS does not show done
//     is concluded not done only once it is older than twice the call deadline (a resumed
//     KMS may carry it out just after answering a newer connection). Until every pending
//     change is reconciled, no further key change is sent. Wraps, unwraps and listings go on.
//
// Thread-safe. `mu_` is held exclusively by every change, KMS call included (the KMIP client
// has one connection anyway), and shared by Unwrap (with its KMS Decrypt) and the listings.
// Lock order: KmipBackend::mu_, then KmipClient's connection mutex; nothing else is taken
// while either is held, and the client never calls back. A KMS that hangs holds mu_ for at
// most one call deadline ([kmip].timeout_seconds).
#ifndef SEALPOOL_KMS_KMIP_BACKEND_H_
#define SEALPOOL_KMS_KMIP_BACKEND_H_

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "kms/key_backend.h"
#include "kms/key_store_contents.h"
#include "kms/kmip/kmip_client.h"
#include "kms/kmip_state_file.h"

namespace sealpool::kms {

inline constexpr std::string_view kKmipKeyIdPrefix = "kmip-";

struct KmipBackendOptions {
  std::filesystem::path state_path;
  bool allow_export = false;
  // Told every failure of the KMS (marked IsKmsFailure) a call returns, for the daemon's log;
  // called with the backend's mutex held (it must not call the backend).
  std::function<void(const absl::Status&)> on_kms_failure;
};

// ---- Rebuilding a lost state file from the KMS (sealkmsd --rebuild-kmip-state). ----

// A key found by Locate in a group, with what GetAttributes said of it.
struct KmipFoundKey {
  std::string group;  // the group whose Object Group Locate found it under
  std::string uid;    // its KMIP Unique Identifier
  // OK, or why its attributes could not be read (NotFound: destroyed since the Locate;
  // PermissionDenied: another owner's).
  absl::Status status;
  kmip::KeyAttributes attributes;
};

// One key of the rebuild, taken or skipped.
struct KmipRebuiltKey {
  std::string group;
  std::string id;         // "kmip-<uid>"
  std::string kms_state;  // the KMIP state name, or "not found" / "unreadable" / "no State"
  std::optional<RootKeyState> state;  // the sealpool state recorded; nullopt: skipped
  std::string note;                   // why skipped, or how an Active key was classed
};

struct KmipRebuildReport {
  KeyStoreContents contents;          // what the state file holds (usage: placeholders only)
  std::vector<KmipRebuiltKey> keys;   // by group, then as the KMS listed them
  std::vector<std::string> warnings;  // for the operator (a guessed active key, ...)
};

// The state rebuilt from `found` for the key groups `groups` (docs/kms.md, "Rebuilding a lost
// state file"); `now_unix` stands in for times the KMS does not give. Pure, for tests:
//   - taken: Name "sealpool:<group>" and Object Group "<group>", AES, length 256, a valid id,
//     not taken for another group already; everything else is listed as skipped;
//   - Pre-Active → prelive, Deactivated → deprecated, Compromised → compromised, Destroyed (or
//     not found) → not recorded;
//   - Active: the key with the latest Activation Date is active (ties and missing dates:
//     the latest Initial Date, then the highest Unique Identifier, with a warning), every
//     other Active key inactive;
//   - every group of `groups` is recorded, with or without keys;
//   - the usage registry cannot be read back from the KMS. So that nothing may deprecate,
//     terminate or delete a key that still wraps a KEK before the pools have told, it holds a
//     placeholder per (pool allowed the group in `pools_by_group`, recorded key other than
//     prelive): KEK id "rebuilt:<n>" → that key. A pool's next Reconcile of the group replaces
//     its placeholders with its real KEKs.
KmipRebuildReport PlanKmipStateRebuild(
    const std::set<std::string>& groups, const std::vector<KmipFoundKey>& found, int64_t now_unix,
    const std::map<std::string, std::set<std::string>>& pools_by_group = {});

class KmipBackend final : public KeyBackend {
 public:
  // Opens the state file (errors of KmipStateFile::Open). Does not contact the KMS.
  static absl::StatusOr<std::unique_ptr<KmipBackend>> Open(
      const KmipBackendOptions& options, std::unique_ptr<kmip::KmipClient> client);
  // Creates an empty state file (AlreadyExists if there is one).
  static absl::Status CreateState(const std::filesystem::path& path);
  // Rebuilds a lost state file from the KMS: Locate by Object Group and GetAttributes for
  // each group of `groups`, PlanKmipStateRebuild, then saves into `reserved` (from
  // KmipStateFile::Reserve, so no file is overwritten and no sealkmsd runs meanwhile). A KMS
  // error (unreachable, refused) returns it and writes nothing. A group with more keys than
  // one Locate lists (`max_keys_per_group`) is refused: some could be missed.
  // `pools_by_group`: the pools allowed each group (sealkmsd's [[storage_server]] tables),
  // for the placeholders of PlanKmipStateRebuild.
  static absl::StatusOr<KmipRebuildReport> RebuildState(
      KmipStateFile& reserved, kmip::KmipClient& client, const std::set<std::string>& groups,
      const std::map<std::string, std::set<std::string>>& pools_by_group,
      int32_t max_keys_per_group = 10000);

  absl::StatusOr<GroupView> CreateGroup(std::string_view name) override;
  std::vector<GroupView> ListGroups() override;
  absl::StatusOr<GroupView> GetGroup(std::string_view name) override;
  absl::StatusOr<ShredResult> ShredGroup(std::string_view name) override;
  absl::StatusOr<RootKeyView> CreateKey(std::string_view group) override;
  absl::StatusOr<std::vector<RootKeyView>> ListKeys(std::string_view group) override;
  absl::StatusOr<RootKeyView> SetKeyState(std::string_view id, RootKeyState state) override;
  absl::Status DeleteKey(std::string_view id) override;
  absl::StatusOr<WrapResult> Wrap(const WrapContext& ctx, std::span<const uint8_t> secret) override;
  absl::StatusOr<UnwrapResult> Unwrap(const WrapContext& ctx, std::span<const uint8_t> wrapped,
                                      bool for_rewrap) override;
  absl::Status RegisterUsage(std::string_view pool_id, std::string_view group,
                             std::span<const KekUsageEntry> usages) override;
  absl::StatusOr<ReconcileResult> ReconcileUsage(std::string_view pool_id, std::string_view group,
                                                 std::span<const KekUsageEntry> usages) override;
  std::vector<UsageView> ListUsage(std::string_view group, std::string_view root_key_id) override;
  // Unimplemented: the KMIP backend holds no passphrase-protected secret.
  absl::Status ChangePassphrase(std::span<const uint8_t> new_passphrase) override;

  // Reconciles the KMS changes whose outcome is unknown (sealkmsd calls it at start; every
  // key change does it first). OK when none is left; else the KMS error that stopped it.
  absl::Status ReconcilePending() ABSL_LOCKS_EXCLUDED(mu_);
  // The KMS changes whose outcome is not known yet, oldest first.
  std::vector<PendingKmsChange> PendingChanges() ABSL_LOCKS_EXCLUDED(mu_);

  kmip::KmipClient& client() { return *client_; }

 private:
  KmipBackend(const KmipBackendOptions& options, std::unique_ptr<kmip::KmipClient> client,
              std::unique_ptr<KmipStateFile> file, KeyStoreContents contents);

  // Applies `change` to a copy of the contents and saves it; with `reconcile_first`, pending
  // KMS changes are reconciled first (and the change refused while one cannot be).
  absl::Status Mutate(const std::function<absl::Status(KeyStoreContents&)>& change,
                      bool reconcile_first = false) ABSL_LOCKS_EXCLUDED(mu_);
  // Saves `c` (generation + 1) and makes it the current contents.
  absl::Status SaveLocked(KeyStoreContents& c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends one KMS change (`send`, given the request id) under a pending record saved first
  // in `c`; see the class comment. Returns what `send` returned (a Create's Unique
  // Identifier).
  absl::StatusOr<std::string> SendChange(
      KeyStoreContents& c, PendingKmsChange p,
      const std::function<absl::StatusOr<std::string>(const std::string&)>& send)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The KMS state of root key `id`; nullopt when the KMS no longer has it.
  absl::StatusOr<std::optional<kmip::ObjectState>> KmsStateOf(std::string_view id);
  // Whether the KMS shows `p` done: nullopt if not; else the created key's Unique Identifier
  // (Create) or "".
  absl::StatusOr<std::optional<std::string>> Landed(const PendingKmsChange& p);
  // Reconciles the pending changes of `c` with the KMS, oldest first, dropping each one
  // settled; stops at the first KMS error.
  absl::Status ReconcileIn(KeyStoreContents& c);
  absl::Status ReconcileLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // `s` marked as the KMS's failure in `what` (a key group, a root key), told to
  // on_kms_failure.
  absl::Status Failed(const absl::Status& s, std::string_view what) const;
  // The KMS side of moving `key` from its state to `to`.
  absl::Status KmsTransition(KeyStoreContents& c, const StoredRootKey& key, RootKeyState to)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Destroys `key` in the KMS whatever its state (Revoke first if it is Active there);
  // `erase`: a deletion (the record goes when the KMS shows it gone).
  absl::Status KmsDestroy(KeyStoreContents& c, const StoredRootKey& key, bool erase)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const KmipBackendOptions options_;
  const std::unique_ptr<kmip::KmipClient> client_;
  absl::Mutex mu_;
  const std::unique_ptr<KmipStateFile> file_ ABSL_PT_GUARDED_BY(mu_);
  KeyStoreContents contents_ ABSL_GUARDED_BY(mu_);
};

// The KMIP Unique Identifier of sealpool root key id `id` ("kmip-<uid>"), or empty.
std::string_view KmipUidOf(std::string_view id);

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_KMIP_BACKEND_H_
