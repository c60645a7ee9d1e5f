#include "crypto/client_digest_key.h"

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "crypto/image_digest_internal.h"
#include "crypto/secure_memory.h"

namespace sealpool::crypto {

absl::StatusOr<ClientDigestKey> DeriveClientDigestKey(const FingerprintKey& fingerprint_key,
                                                      std::span<const uint8_t, 16> group_id,
                                                      std::string_view owner, uint32_t epoch) {
  std::span<const uint8_t> ikm = fingerprint_key.RevealSecret();
  if (ikm.size() != FingerprintKey::kSize) {
    return absl::InvalidArgumentError(
        "client digest key: the fingerprint key is empty (moved-from?)");
  }
  if (owner.size() > kClientDigestMaxOwner) {
    return absl::InvalidArgumentError(
        absl::StrCat("client digest key: owner longer than ", kClientDigestMaxOwner, " bytes"));
  }
  std::string info;
  info.reserve(16 + 4 + owner.size());
  info.append(reinterpret_cast<const char*>(group_id.data()), group_id.size());
  for (int shift = 24; shift >= 0; shift -= 8) {
    info.push_back(static_cast<char>(static_cast<uint8_t>(epoch >> shift)));
  }
  info.append(owner);
  absl::StatusOr<SecretBytes> out = SecretBytes::Allocate(ClientDigestKey::kSize);
  if (!out.ok()) return out.status();
  const std::string_view salt = kClientDigestKeySalt;
  absl::Status s = internal::HkdfSha256(
      ikm, {reinterpret_cast<const uint8_t*>(salt.data()), salt.size()},
      {reinterpret_cast<const uint8_t*>(info.data()), info.size()}, out->mutable_span());
  if (!s.ok()) return s;
  return ClientDigestKey::FromBytes(out->span());  // `out` is wiped when it goes
}

}  // namespace sealpool::crypto
