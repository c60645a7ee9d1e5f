// The built-in backend: root keys in sealkmsd's own encrypted key store file
// (key_store_file.h), with the state rules of key_backend.h.
//
// Thread-safe. One mutex guards the contents; a change builds a new copy of the contents,
// saves it (atomically, see KeyStoreFile) and only then publishes it, so a failed save leaves
// memory and disk as they were. Unwrap, GetActiveKey and the listings take the lock shared.
// See kms/README.md for the locking table.
#ifndef SEALPOOL_KMS_KEY_STORE_H_
#define SEALPOOL_KMS_KEY_STORE_H_

#include <filesystem>
#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "kms/key_backend.h"
#include "kms/key_store_contents.h"
#include "kms/key_store_file.h"

namespace sealpool::kms {

class KeyStore final : public KeyBackend {
 public:
  // Opens an existing store (errors of KeyStoreFile::Open).
  static absl::StatusOr<std::unique_ptr<KeyStore>> Open(const std::filesystem::path& path,
                                                        std::span<const uint8_t> passphrase);
  // Creates a new empty store and opens it (errors of KeyStoreFile::Create).
  static absl::StatusOr<std::unique_ptr<KeyStore>> Create(const std::filesystem::path& path,
                                                          std::span<const uint8_t> passphrase,
                                                          const crypto::ScryptParams& params);

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
  absl::Status ChangePassphrase(std::span<const uint8_t> new_passphrase) override;
  absl::StatusOr<std::string> StoreKeyId(std::string_view group) override;

 private:
  KeyStore(std::unique_ptr<KeyStoreFile> file, KeyStoreContents contents);

  // Applies `change` to a copy of the contents, saves the copy and publishes it. Nothing
  // changes if `change` or the save fails.
  absl::Status Mutate(const std::function<absl::Status(KeyStoreContents&)>& change)
      ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex mu_;
  const std::unique_ptr<KeyStoreFile> file_ ABSL_PT_GUARDED_BY(mu_);
  KeyStoreContents contents_ ABSL_GUARDED_BY(mu_);
};

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_KEY_STORE_H_
