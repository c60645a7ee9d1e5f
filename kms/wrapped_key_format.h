// The wrapped-key blob sealkmsd returns for a KEK or fingerprint key, and the associated data
// that binds it to one pool, key group and KEK id. Byte layout (docs/kms.md, "Wrapped key
// format"), all integers little-endian:
//
//   +--------+---------+---------+-------+------------+-------+-------+-------+------------+
//   | magic  | version | backend | idlen | root key id| nonce |  tag  | ctlen | ciphertext |
//   | "SPWK" |   u8=1  | u8: 1/2 |  u8   |  idlen B   |  12 B |  16 B |  u8   |   ctlen B  |
//   +--------+---------+---------+-------+------------+-------+-------+-------+------------+
//
// Size: 36 + idlen + ctlen bytes (72 for root key "rk-1" and a 32-byte KEK). Both backends
// write it (backend 1 built-in, 2 KMIP); golden bytes in test/kms/wrapped_key_format_test.cc.
//
// The ciphertext is AES-256-GCM under the root key; its associated data is
// kAadLabel ‖ len‖pool id ‖ len‖key group ‖ len‖KEK id ‖ the header bytes up to the nonce, so a
// blob moved to another pool, group or KEK id, or with an edited header, does not open.
#ifndef SEALPOOL_KMS_WRAPPED_KEY_FORMAT_H_
#define SEALPOOL_KMS_WRAPPED_KEY_FORMAT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace sealpool::kms {

// Do not edit: part of the format.
inline constexpr std::array<uint8_t, 4> kWrappedKeyMagic = {'S', 'P', 'W', 'K'};
inline constexpr uint8_t kWrappedKeyVersion = 1;
inline constexpr uint8_t kBackendBuiltin = 1;
// Wrapped by a KMIP server's Encrypt (AES-256-GCM, same nonce/tag/AAD layout); the root key id
// is "kmip-<KMIP unique identifier>" (kms/kmip_backend.h).
inline constexpr uint8_t kBackendKmip = 2;
// Written by storage's in-process root-key provider (tests and benchmarks only), same layout;
// sealkmsd refuses it (FailedPrecondition).
inline constexpr uint8_t kBackendInProcessTest = 0x80;
inline constexpr std::string_view kWrapAadLabel = "sealpool.kms.wrap.v1";
inline constexpr size_t kWrapNonceSize = 12;
inline constexpr size_t kWrapTagSize = 16;
inline constexpr size_t kMinSecretSize = 16;
inline constexpr size_t kMaxSecretSize = 64;
// Largest possible blob: header with a 64-byte id and a 64-byte secret.
inline constexpr size_t kMaxWrappedKeySize = 4 + 1 + 1 + 1 + 64 + 12 + 16 + 1 + kMaxSecretSize;

// A parsed blob. Plain data; does not own key material (the ciphertext is not secret).
struct WrappedKey {
  uint8_t backend = kBackendBuiltin;
  std::string root_key_id;
  std::array<uint8_t, kWrapNonceSize> nonce{};
  std::array<uint8_t, kWrapTagSize> tag{};
  std::vector<uint8_t> ciphertext;

  // The blob bytes.
  std::vector<uint8_t> Encode() const;
  // The header bytes up to the nonce (part of the associated data).
  std::vector<uint8_t> HeaderBytes() const;
  // InvalidArgument for a blob that is not a well-formed version-1 wrapped key (wrong magic,
  // lengths, trailing bytes); FailedPrecondition for a newer version, for a blob of storage's
  // in-process root-key provider (backend 0x80), and for the magic-less layout that provider
  // wrote before it had a magic (refused, not migrated).
  static absl::StatusOr<WrappedKey> Decode(std::span<const uint8_t> blob);
};

// The associated data for `key` bound to (pool_id, key_group, kek_id).
std::vector<uint8_t> WrapAssociatedData(std::string_view pool_id, std::string_view key_group,
                                        std::string_view kek_id, const WrappedKey& key);

}  // namespace sealpool::kms

#endif  // SEALPOOL_KMS_WRAPPED_KEY_FORMAT_H_
