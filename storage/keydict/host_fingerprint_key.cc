#include "storage/keydict/host_fingerprint_key.h"

#include <algorithm>
#include <array>
#include <span>

#include "base/status_macros.h"
#include "base/strings.h"
#include "crypto/secure_memory.h"

namespace sealpool::storage {
namespace {

void PutU32LE(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t GetU32LE(std::string_view in) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(in[i])} << (8 * i);
  return v;
}

std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

absl::StatusOr<std::string> AssociatedData(std::string_view header, std::string_view pool_id) {
  if (pool_id.empty() || pool_id.size() > kMaxHostSealPoolIdSize) {
    return absl::InvalidArgumentError(base::Cat(
        "host-sealed fingerprint key: a pool id must be 1..", kMaxHostSealPoolIdSize, " bytes"));
  }
  std::string aad(kHostSealedFpkLabel);
  aad.push_back('\0');
  aad.append(header);
  aad.push_back(static_cast<char>((pool_id.size() >> 8) & 0xff));
  aad.push_back(static_cast<char>(pool_id.size() & 0xff));
  aad.append(pool_id);
  return aad;
}

std::string Where(uint32_t group_no) {
  return base::Cat("host-sealed fingerprint key record of key group ", group_no);
}

}  // namespace

std::string HostSealedFpkRecordKey(uint32_t group_no) {
  std::string key;
  for (int i = 3; i >= 0; --i) key.push_back(static_cast<char>((group_no >> (8 * i)) & 0xff));
  key.push_back(kHostSealedFpkRecordTag);
  return key;
}

bool IsHostSealedFpkRecordKey(std::string_view key) {
  return key.size() == kHostSealedFpkRecordKeySize && key[4] == kHostSealedFpkRecordTag;
}

absl::StatusOr<std::string> SealHostFingerprintKey(const crypto::HostKey& host_key,
                                                   std::string_view pool_id, uint32_t group_no,
                                                   const crypto::FingerprintKey& fpk) {
  std::string header;
  header.push_back(static_cast<char>(kHostSealedFpkVersion1));
  header.push_back(static_cast<char>(kHostSealedFpkKind));
  PutU32LE(&header, group_no);
  SEALPOOL_ASSIGN_OR_RETURN(std::string aad, AssociatedData(header, pool_id));
  if (fpk.RevealSecret().size() != crypto::FingerprintKey::kSize) {
    return absl::InvalidArgumentError("host-sealed fingerprint key: a moved-from fingerprint key");
  }
  std::array<uint8_t, crypto::FingerprintKey::kSize> sealed{};
  crypto::GcmNonce nonce{};
  crypto::GcmTag tag{};
  SEALPOOL_RETURN_IF_ERROR(
      crypto::Seal(host_key, Bytes(aad), fpk.RevealSecret(), sealed, &nonce, &tag));
  std::string value = header;
  value.append(reinterpret_cast<const char*>(nonce.data()), nonce.size());
  value.append(reinterpret_cast<const char*>(sealed.data()), sealed.size());
  value.append(reinterpret_cast<const char*>(tag.data()), tag.size());
  return value;
}

absl::StatusOr<crypto::FingerprintKey> OpenHostFingerprintKey(const crypto::HostKey& host_key,
                                                              std::string_view pool_id,
                                                              uint32_t group_no,
                                                              std::string_view value) {
  if (!value.empty() && static_cast<uint8_t>(value[0]) > kHostSealedFpkVersion1) {
    return absl::FailedPreconditionError(
        base::Cat(Where(group_no), " has version ",
                  static_cast<int>(static_cast<uint8_t>(value[0])), ": written by a newer sealpool"));
  }
  if (value.size() != kHostSealedFpkValueSize) {
    return absl::DataLossError(
        base::Cat(Where(group_no), " is ", value.size(), " bytes, not ", kHostSealedFpkValueSize));
  }
  if (static_cast<uint8_t>(value[0]) != kHostSealedFpkVersion1 ||
      static_cast<uint8_t>(value[1]) != kHostSealedFpkKind) {
    return absl::DataLossError(base::Cat(Where(group_no), " has a bad version or kind byte"));
  }
  const uint32_t recorded = GetU32LE(value.substr(2));
  if (recorded != group_no) {
    return absl::DataLossError(base::Cat(Where(group_no), " names key group ", recorded));
  }
  SEALPOOL_ASSIGN_OR_RETURN(std::string aad,
                            AssociatedData(value.substr(0, kHostSealedFpkHeaderSize), pool_id));
  crypto::GcmNonce nonce{};
  crypto::GcmTag tag{};
  size_t at = kHostSealedFpkHeaderSize;
  std::copy_n(value.data() + at, nonce.size(), reinterpret_cast<char*>(nonce.data()));
  at += nonce.size();
  const std::string_view sealed = value.substr(at, crypto::FingerprintKey::kSize);
  at += crypto::FingerprintKey::kSize;
  std::copy_n(value.data() + at, tag.size(), reinterpret_cast<char*>(tag.data()));
  SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes plain,
                            crypto::SecretBytes::Allocate(crypto::FingerprintKey::kSize));
  absl::Status opened =
      crypto::Open(host_key, nonce, Bytes(aad), Bytes(sealed), tag, plain.mutable_span());
  if (!opened.ok()) {
    if (opened.code() != absl::StatusCode::kDataLoss) return opened;
    return absl::DataLossError(base::Cat(
        Where(group_no),
        " does not open under the configured host key (another host key, another pool, or the "
        "record was altered)"));
  }
  return crypto::FingerprintKey::FromBytes(plain.span());
}

}  // namespace sealpool::storage
