// The key store file on disk: opening it with the passphrase, saving contents atomically, and
// changing the passphrase. Format in key_store_format.h.
//
// Durability: every Save writes `<path>.tmp` (mode 0600), fsyncs it, renames it over `<path>`
// and fsyncs the directory, so a crash at any point leaves either the old or the new store.
// A failed Save or Open never modifies `<path>`.
//
// Exclusion: the object holds an exclusive flock on `<path>.lock` for its lifetime, so a second
// sealkmsd on the same store fails to open it (FailedPrecondition) instead of racing.
//
// Not thread-safe: KeyStore serializes calls.
#ifndef SEALPOOL_KMS_KEY_STORE_FILE_H_
#define SEALPOOL_KMS_KEY_STORE_FILE_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <utility>

#include "absl/status/statusor.h"
#include "crypto/keys.h"
#include "crypto/passphrase_kdf.h"
#include "kms/key_store_contents.h"
#include "kms/key_store_format.h"

namespace sealpool::kms {

// scrypt N=2^15, r=8, p=1: about 32 MiB and a fraction of a second per derivation.
inline constexpr crypto::ScryptParams kDefaultScryptParams{1u << 15, 8, 1};

class KeyStoreFile {
 public:
  KeyStoreFile(const KeyStoreFile&) = delete;
  KeyStoreFile& operator=(const KeyStoreFile&) = delete;
  ~KeyStoreFile();

  // Creates an empty store at `path`. AlreadyExists if a file is there (a key store is never
  // overwritten by creation); InvalidArgument for an empty passphrase or bad parameters.
  static absl::StatusOr<std::unique_ptr<KeyStoreFile>> Create(const std::filesystem::path& path,
                                                              std::span<const uint8_t> passphrase,
                                                              const crypto::ScryptParams& params);

  // Opens the store at `path` and decrypts it. Errors, each leaving the file untouched:
  // NotFound (no file), DataLoss (not a key store, truncated, damaged), FailedPrecondition
  // (newer format version, readable by others, locked by another process), PermissionDenied
  // (wrong passphrase).
  static absl::StatusOr<std::pair<std::unique_ptr<KeyStoreFile>, KeyStoreContents>> Open(
      const std::filesystem::path& path, std::span<const uint8_t> passphrase);

  // Atomically replaces the store with `contents`.
  absl::Status Save(const KeyStoreContents& contents);

  // Derives a new store key from `new_passphrase` with a fresh salt and atomically rewrites the
  // store under it. On error the store and this object keep the old passphrase.
  // FailedPrecondition if `new_passphrase` is the passphrase in use (a purge needs the old one
  // to stop opening anything).
  absl::Status ChangePassphrase(std::span<const uint8_t> new_passphrase,
                                const KeyStoreContents& contents);

  const std::filesystem::path& path() const { return path_; }
  // Hex of the salt the store key is derived with now (changes with every passphrase change).
  std::string KeyId() const;

 private:
  KeyStoreFile(std::filesystem::path path, int lock_fd, crypto::StoreKey key,
               KeyStoreHeader header);

  static absl::StatusOr<int> Lock(const std::filesystem::path& path);
  // Seals `contents` under `key` and replaces the file; fills in `header`'s nonces, tags and
  // size. `replaced` tells whether the rename happened (even if the directory fsync failed).
  absl::Status Write(const crypto::StoreKey& key, KeyStoreHeader* header,
                     const KeyStoreContents& contents, bool* replaced);

  const std::filesystem::path path_;
  const int lock_fd_;
  crypto::StoreKey key_;
  KeyStoreHeader header_;  // salt and KDF parameters of key_
};

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_KEY_STORE_FILE_H_
