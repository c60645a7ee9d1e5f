#include "daemon/sealpoold/host_key.h"

#include <array>
#include <span>
#include <utility>

#include "base/private_file.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "crypto/secure_memory.h"

namespace sealpool::daemon {
namespace {

using base::Cat;

int HexValue(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

void WipeString(std::string& s) {
  crypto::Wipe(std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size()));
}

}  // namespace

absl::StatusOr<crypto::HostKey> ParseHostKey(std::string_view contents, std::string_view source) {
  constexpr size_t kSize = crypto::HostKey::kSize;
  if (contents.size() == kSize) {
    return crypto::HostKey::FromBytes(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(contents.data()), kSize));
  }
  std::string_view hex = contents;
  if (!hex.empty() && hex.back() == '\n') hex.remove_suffix(1);
  if (hex.size() == 2 * kSize) {
    std::array<uint8_t, kSize> bytes{};
    bool ok = true;
    for (size_t i = 0; i < kSize && ok; ++i) {
      const int hi = HexValue(hex[2 * i]);
      const int lo = HexValue(hex[2 * i + 1]);
      ok = hi >= 0 && lo >= 0;
      if (ok) bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
    absl::StatusOr<crypto::HostKey> key =
        ok ? crypto::HostKey::FromBytes(bytes) : absl::InvalidArgumentError("");
    crypto::Wipe(bytes);
    if (key.ok()) return key;
  }
  return absl::InvalidArgumentError(
      Cat("host key ", source, " holds ", contents.size(),
          " bytes: it must be 32 raw bytes or 64 hex digits (make one with "
          "`openssl rand -hex 32`)"));
}

absl::StatusOr<std::shared_ptr<const crypto::HostKey>> LoadHostKey(
    const PoolConfig& config, const std::optional<std::string>& credentials_dir) {
  std::string path;
  if (!config.host_key_file.empty()) {
    path = config.host_key_file.string();
  } else if (!config.host_key_credential.empty()) {
    if (!credentials_dir.has_value() || credentials_dir->empty()) {
      return absl::FailedPreconditionError(
          Cat("[keys] host_key_credential = \"", config.host_key_credential,
              "\" but $CREDENTIALS_DIRECTORY is not set: run sealpoold under systemd with "
              "LoadCredential= or LoadCredentialEncrypted=, or use host_key_file"));
    }
    path = Cat(*credentials_dir, "/", config.host_key_credential);
  } else {
    return std::shared_ptr<const crypto::HostKey>();
  }
  absl::StatusOr<std::string> text = base::ReadPrivateFile("host key file", path);
  if (!text.ok()) return text.status();
  if (text->size() > 4096) {
    WipeString(*text);
    return absl::InvalidArgumentError(Cat("host key ", path, " is over 4096 bytes: not a key"));
  }
  absl::StatusOr<crypto::HostKey> key = ParseHostKey(*text, path);
  WipeString(*text);
  if (!key.ok()) return key.status();
  return std::make_shared<const crypto::HostKey>(*std::move(key));
}

}  // namespace sealpool::daemon
