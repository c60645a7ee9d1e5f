// The key store file of sealkmsd's built-in backend. Byte layout (docs/kms.md, "Key store
// format"), integers little-endian:
//
//   offset size  field
//   0      8     magic "SPKSTORE"
//   8      4     format version (2; version 1 is read too)
//   12     1     KDF (1 = scrypt)
//   13     3     zero
//   16     8     scrypt N          ┐
//   24     4     scrypt r          │ KDF parameters, stored so the store opens with the
//   28     4     scrypt p          │ parameters it was written with
//   32     32    salt              ┘
//   64     4     payload ciphertext length L
//   68     4     zero
//   72     12    check nonce       ┐ AES-256-GCM of 16 zero bytes under the store key:
//   84     16    check ciphertext  │ tells a wrong passphrase from a damaged payload
//   100    16    check tag         ┘
//   116    12    payload nonce
//   128    16    payload tag
//   144    L     payload ciphertext (AES-256-GCM under the store key)
//
// Associated data: bytes [0, 72) followed by "check" or "payload". The store key is
// scrypt(passphrase, salt, N, r, p). The payload (plaintext) is:
//
//   u64 generation
//   u32 group count,  per group:  str name, i64 created
//   u32 key count,    per key:    str id, str group, u8 state, i64 created, i64 changed,
//                                 u8 has material, [32 bytes material]
//   u32 usage count,  per entry:  str pool id, str group, str KEK id, str root key id
//   u32 pin count,    per pin:    str pool id, str group, str KEK id,        (version 2 on)
//                                 32 bytes SHA-256 of the KEK pair's public half
//
// Version 2 adds the pins (kek_mode "public": a KEK pair's public-key hash pinned at its
// registration, key_backend.h KekUsageEntry); a version-1 payload has no pin section and reads
// as a store without pins. Every save writes version 2. A pin names a (pool, group, KEK id)
// that has a usage entry.
// where str is a u16 length and that many bytes.
#ifndef SEALPOOL_KMS_KEY_STORE_FORMAT_H_
#define SEALPOOL_KMS_KEY_STORE_FORMAT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/passphrase_kdf.h"
#include "crypto/secure_memory.h"
#include "kms/key_store_contents.h"

namespace sealpool::kms {

// Do not edit: part of the format.
inline constexpr std::array<uint8_t, 8> kKeyStoreMagic = {'S', 'P', 'K', 'S', 'T', 'O', 'R', 'E'};
inline constexpr uint32_t kKeyStoreVersion = 2;
inline constexpr uint32_t kKeyStoreVersionWithoutPins = 1;
inline constexpr uint8_t kKdfScrypt = 1;
inline constexpr size_t kKeyStoreSaltSize = 32;
inline constexpr size_t kKeyStoreAadSize = 72;
inline constexpr size_t kKeyStoreHeaderSize = 144;
inline constexpr size_t kRootKeySize = 32;
// A store larger than this is refused as corrupt (far beyond any real deployment).
inline constexpr uint32_t kMaxKeyStorePayload = 64u << 20;

// The cleartext header of a key store file.
struct KeyStoreHeader {
  uint32_t version = kKeyStoreVersion;
  crypto::ScryptParams scrypt{};
  std::array<uint8_t, kKeyStoreSaltSize> salt{};
  uint32_t payload_size = 0;
  std::array<uint8_t, 12> check_nonce{};
  std::array<uint8_t, 16> check_ciphertext{};
  std::array<uint8_t, 16> check_tag{};
  std::array<uint8_t, 12> payload_nonce{};
  std::array<uint8_t, 16> payload_tag{};

  std::array<uint8_t, kKeyStoreHeaderSize> Encode() const;
  // The associated data for the check block or the payload.
  std::vector<uint8_t> AssociatedData(bool payload) const;
  // DataLoss for a file that is not a key store or is truncated; FailedPrecondition for a
  // newer format version. `file_size` is the whole file's size.
  static absl::StatusOr<KeyStoreHeader> Decode(std::span<const uint8_t> bytes);
};

// The payload plaintext, in locked memory.
absl::StatusOr<crypto::SecretBytes> EncodeKeyStorePayload(const KeyStoreContents& contents);
// DataLoss for a payload that does not parse (it was authenticated, so this means a bug or a
// forged store written with the right passphrase).
absl::StatusOr<KeyStoreContents> DecodeKeyStorePayload(std::span<const uint8_t> payload,
                                                       uint32_t version = kKeyStoreVersion);

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_KEY_STORE_FORMAT_H_
