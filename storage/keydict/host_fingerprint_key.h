// The host-sealed fingerprint key (issue 17, docs/format.md "Host-sealed fingerprint key (issue
// 17)"): a second copy of a kek_mode "public" key group's fingerprint key, sealed with
// AES-256-GCM under a host credential of sealpoold (a 32-byte key from a file of mode 0600 or a
// systemd credential), so that a cold start ingests with no KMS. The first copy stays wrapped
// by the group's root key in the key service (FingerprintKeyRecord).
//
// Record (in the catalog's `keys` column family, beside the group's other key records):
//
//   key    u32be key group number ‖ 'H'                                          (5 bytes)
//   value  u8 version = 1 ‖ u8 kind = 4 ‖ u32le key group number ‖
//          12-byte GCM nonce ‖ 32-byte sealed fingerprint key ‖ 16-byte GCM tag  (66 bytes)
//
//   associated data = "sealpool host-sealed fingerprint key" ‖ 0x00 ‖ value[0..6) ‖
//                     u16be(len(pool id)) ‖ pool id
//
// So a record moved to another group (its key names another number, or its value was edited)
// or to another pool does not open, and neither does one sealed under another host key.
//
// Errors: Open: FailedPrecondition for a version newer than this binary reads ("written by a
// newer sealpool"); DataLoss for a value of another size, version 0, another kind, a group
// number that disagrees with the record's key, or a tag that does not authenticate (another
// host key, another pool, tampering); InvalidArgument for a pool id of 0 or over
// kMaxHostSealPoolIdSize bytes or a moved-from key. The key bytes never appear in a message.
//
// Thread safety: pure functions.
#ifndef SEALPOOL_STORAGE_KEYDICT_HOST_FINGERPRINT_KEY_H_
#define SEALPOOL_STORAGE_KEYDICT_HOST_FINGERPRINT_KEY_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "crypto/aead.h"
#include "crypto/keys.h"

namespace sealpool::storage {

// Do not edit: part of the format.
inline constexpr uint8_t kHostSealedFpkVersion1 = 1;
inline constexpr uint8_t kHostSealedFpkKind = 4;
inline constexpr char kHostSealedFpkRecordTag = 'H';
inline constexpr size_t kHostSealedFpkRecordKeySize = 5;
inline constexpr size_t kHostSealedFpkHeaderSize = 6;  // version, kind, group number
inline constexpr size_t kHostSealedFpkValueSize = kHostSealedFpkHeaderSize + crypto::kGcmNonceSize +
                                                  crypto::FingerprintKey::kSize +
                                                  crypto::kGcmTagSize;
static_assert(kHostSealedFpkValueSize == 66);
inline constexpr std::string_view kHostSealedFpkLabel = "sealpool host-sealed fingerprint key";
inline constexpr size_t kMaxHostSealPoolIdSize = 256;

std::string HostSealedFpkRecordKey(uint32_t group_no);
// Whether `key` is a host-sealed fingerprint key record's key (of any group).
bool IsHostSealedFpkRecordKey(std::string_view key);

// Seals `fpk` of group `group_no` of pool `pool_id` under `host_key`: the record value.
absl::StatusOr<std::string> SealHostFingerprintKey(const crypto::HostKey& host_key,
                                                   std::string_view pool_id, uint32_t group_no,
                                                   const crypto::FingerprintKey& fpk);

// Checks the layout of `value` (the record of `group_no`) and opens it.
absl::StatusOr<crypto::FingerprintKey> OpenHostFingerprintKey(const crypto::HostKey& host_key,
                                                              std::string_view pool_id,
                                                              uint32_t group_no,
                                                              std::string_view value);

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_KEYDICT_HOST_FINGERPRINT_KEY_H_
