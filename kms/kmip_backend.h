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
//     changes nothing.
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
#include <memory>

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
};

class KmipBackend final : public KeyBackend {
 public:
  // Opens the state file (errors of KmipStateFile::Open). Does not contact the KMS.
  static absl::StatusOr<std::unique_ptr<KmipBackend>> Open(
      const KmipBackendOptions& options, std::unique_ptr<kmip::KmipClient> client);
  // Creates an empty state file (AlreadyExists if there is one).
  static absl::Status CreateState(const std::filesystem::path& path);

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

  kmip::KmipClient& client() { return *client_; }

 private:
  KmipBackend(const KmipBackendOptions& options, std::unique_ptr<kmip::KmipClient> client,
              std::unique_ptr<KmipStateFile> file, KeyStoreContents contents);

  absl::Status Mutate(const std::function<absl::Status(KeyStoreContents&)>& change)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The KMS side of moving `key` from its state to `to`.
  absl::Status KmsTransition(const StoredRootKey& key, RootKeyState to);
  // Destroys `key` in the KMS whatever its state (Revoke first if it is Active there).
  absl::Status KmsDestroy(const StoredRootKey& key);

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
