// The KMIP backend's local state: its key groups, the sealpool state of each root key (KMIP
// cannot tell `active` from `inactive`: both are Active in the KMS), and its usage registry.
// No key material: root keys live in the KMS. Reuses KeyStoreContents with null material.
//
// Text file, mode 0600, one record per line, names validated ([A-Za-z0-9._:-]), ending with a
// SHA-256 of the lines before it, so a damaged or hand-edited file is refused (DataLoss):
//
//   sealpool-kmip-state 3
//   generation <n>
//   group <name> <created unix>
//   key <id> <group> <state number> <created unix> <changed unix>
//   usage <pool> <group> <KEK id> <root key id>
//   pin <pool> <group> <KEK id> <64 hex digits: SHA-256 of the KEK pair's public half>
//   pending <request id> <op: 1 create, 2 activate, 3 revoke, 4 destroy> <group> <key id | ->
//           <erase 0|1> <created unix>
//   sha256 <hex>
//
// Version 2 added `pending` (a KMS change sent whose outcome is not known yet, see
// kmip_backend.h); version 1 files are read as version 2 without pending changes. Version 3
// added `pin` (kek_mode "public", key_backend.h KekUsageEntry; every pin has its usage line);
// older files are read without pins.
//
// Saved like the key store: <path>.tmp written and fsynced, renamed, directory fsynced; an
// exclusive flock on <path>.lock for the object's lifetime (a second sealkmsd is refused).
// Not thread-safe: KmipBackend serializes calls.
#ifndef SEALPOOL_KMS_KMIP_STATE_FILE_H_
#define SEALPOOL_KMS_KMIP_STATE_FILE_H_

#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "kms/key_store_contents.h"

namespace sealpool::kms {

class KmipStateFile {
 public:
  ~KmipStateFile();
  KmipStateFile(const KmipStateFile&) = delete;
  KmipStateFile& operator=(const KmipStateFile&) = delete;

  // A new empty state file; AlreadyExists if one is there.
  static absl::StatusOr<std::unique_ptr<KmipStateFile>> Create(const std::filesystem::path& path);
  // Takes the lock of a state file that does not exist yet and writes nothing: the first Save
  // creates it (--rebuild-kmip-state fills it from the KMS). FailedPrecondition if another
  // process holds the lock (a running sealkmsd), then AlreadyExists if the file is there.
  static absl::StatusOr<std::unique_ptr<KmipStateFile>> Reserve(const std::filesystem::path& path);
  // NotFound (no file), DataLoss (damaged), FailedPrecondition (locked, newer version, mode).
  static absl::StatusOr<std::pair<std::unique_ptr<KmipStateFile>, KeyStoreContents>> Open(
      const std::filesystem::path& path);
  absl::Status Save(const KeyStoreContents& contents);
  const std::filesystem::path& path() const { return path_; }

  // The text of `contents` (for tests) and its parser.
  static std::string Encode(const KeyStoreContents& contents);
  static absl::StatusOr<KeyStoreContents> Decode(std::string_view text);

 private:
  KmipStateFile(std::filesystem::path path, int lock_fd)
      : path_(std::move(path)), lock_fd_(lock_fd) {}

  const std::filesystem::path path_;
  const int lock_fd_;
};

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_KMIP_STATE_FILE_H_
