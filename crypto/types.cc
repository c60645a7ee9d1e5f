#include "crypto/types.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace sealpool::crypto {

absl::StatusOr<Fingerprint> Fingerprint::FromBytes(std::span<const uint8_t> bytes) {
  if (bytes.size() != kSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("a fingerprint is ", kSize, " bytes, got ", bytes.size()));
  }
  std::array<uint8_t, kSize> array;
  std::copy(bytes.begin(), bytes.end(), array.begin());
  return Fingerprint(array);
}

std::string Fingerprint::ToHex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * kSize, '0');
  for (size_t i = 0; i < kSize; ++i) {
    out[2 * i] = kDigits[bytes_[i] >> 4];
    out[2 * i + 1] = kDigits[bytes_[i] & 0x0f];
  }
  return out;
}

}  // namespace sealpool::crypto
