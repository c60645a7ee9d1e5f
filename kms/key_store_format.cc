#include "kms/key_store_format.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kms/internal/byte_io.h"
#include "kms/names.h"
#include "kms/status_util.h"

namespace sealpool::kms {

using internal::AsBytes;
using internal::ByteReader;
using internal::ByteWriter;

std::array<uint8_t, kKeyStoreHeaderSize> KeyStoreHeader::Encode() const {
  std::array<uint8_t, kKeyStoreHeaderSize> out{};
  ByteWriter w(out);
  w.Bytes(kKeyStoreMagic);
  w.U32(version);
  w.U8(kKdfScrypt);
  w.Zeros(3);
  w.U64(scrypt.n);
  w.U32(scrypt.r);
  w.U32(scrypt.p);
  w.Bytes(salt);
  w.U32(payload_size);
  w.Zeros(4);
  w.Bytes(check_nonce);
  w.Bytes(check_ciphertext);
  w.Bytes(check_tag);
  w.Bytes(payload_nonce);
  w.Bytes(payload_tag);
  return out;
}

std::vector<uint8_t> KeyStoreHeader::AssociatedData(bool payload) const {
  std::array<uint8_t, kKeyStoreHeaderSize> header = Encode();
  std::string_view label = payload ? "payload" : "check";
  std::vector<uint8_t> aad(kKeyStoreAadSize + label.size());
  std::copy_n(header.begin(), kKeyStoreAadSize, aad.begin());
  std::copy(label.begin(), label.end(), aad.begin() + kKeyStoreAadSize);
  return aad;
}

absl::StatusOr<KeyStoreHeader> KeyStoreHeader::Decode(std::span<const uint8_t> bytes) {
  ByteReader r(bytes);
  std::array<uint8_t, 8> magic{};
  if (!r.Bytes(magic) || magic != kKeyStoreMagic) {
    return absl::DataLossError("not a sealkmsd key store (bad magic)");
  }
  KeyStoreHeader h;
  if (!r.U32(&h.version)) return absl::DataLossError("key store is truncated in its header");
  if (h.version > kKeyStoreVersion) {
    return absl::FailedPreconditionError(Cat("key store has format version ", h.version,
                                             ", written by a newer sealkmsd; this "
                                             "binary reads up to version ",
                                             kKeyStoreVersion,
                                             " (upgrade sealkmsd; the file is "
                                             "left untouched)"));
  }
  if (h.version == 0) return absl::DataLossError("key store has format version 0");
  uint8_t kdf = 0;
  std::array<uint8_t, 3> zero3{};
  std::array<uint8_t, 4> zero4{};
  if (!r.U8(&kdf) || !r.Bytes(zero3) || !r.U64(&h.scrypt.n) || !r.U32(&h.scrypt.r) ||
      !r.U32(&h.scrypt.p) || !r.Bytes(h.salt) || !r.U32(&h.payload_size) || !r.Bytes(zero4) ||
      !r.Bytes(h.check_nonce) || !r.Bytes(h.check_ciphertext) || !r.Bytes(h.check_tag) ||
      !r.Bytes(h.payload_nonce) || !r.Bytes(h.payload_tag)) {
    return absl::DataLossError("key store is truncated in its header");
  }
  if (kdf != kKdfScrypt) {
    return absl::DataLossError(Cat("key store names unknown KDF ", kdf));
  }
  if (absl::Status s = crypto::ValidateScryptParams(h.scrypt); !s.ok()) {
    return absl::DataLossError(Cat("key store header is damaged: ", s.message()));
  }
  if (h.payload_size > kMaxKeyStorePayload) {
    return absl::DataLossError(Cat("key store header claims a ", h.payload_size, "-byte payload"));
  }
  if (r.remaining() != h.payload_size) {
    return absl::DataLossError(Cat("key store is ", bytes.size(),
                                   " bytes; its header "
                                   "says ",
                                   kKeyStoreHeaderSize + h.payload_size,
                                   " (truncated or extended)"));
  }
  return h;
}

namespace {

size_t PayloadSize(const KeyStoreContents& c) {
  size_t n = 8 + 4 + 4 + 4;
  for (const auto& [name, g] : c.groups) n += 2 + g.name.size() + 8;
  for (const auto& [id, k] : c.keys) {
    n += 2 + k.id.size() + 2 + k.group.size() + 1 + 8 + 8 + 1;
    if (k.material) n += kRootKeySize;
  }
  for (const auto& [key, root] : c.usage) {
    n += 2 + std::get<0>(key).size() + 2 + std::get<1>(key).size() + 2 + std::get<2>(key).size() +
         2 + root.size();
  }
  n += 4;
  for (const auto& [key, hash] : c.pins) {
    n += 2 + std::get<0>(key).size() + 2 + std::get<1>(key).size() + 2 + std::get<2>(key).size() +
         32;
  }
  return n;
}

bool HashFromHex(std::string_view hex, std::array<uint8_t, 32>& out) {
  if (hex.size() != 64) return false;
  auto nibble = [](char ch) -> int {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}

std::string HashToHex(std::span<const uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 15]);
  }
  return out;
}

absl::Status Corrupt(std::string_view what) {
  return absl::DataLossError(Cat("key store payload is malformed: ", what));
}

}  // namespace

absl::StatusOr<crypto::SecretBytes> EncodeKeyStorePayload(const KeyStoreContents& c) {
  SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes out, crypto::SecretBytes::Allocate(PayloadSize(c)));
  ByteWriter w(out.mutable_span());
  w.U64(c.generation);
  w.U32(static_cast<uint32_t>(c.groups.size()));
  for (const auto& [name, g] : c.groups) {
    w.Str16(g.name);
    w.I64(g.created_unix);
  }
  w.U32(static_cast<uint32_t>(c.keys.size()));
  for (const auto& [id, k] : c.keys) {
    w.Str16(k.id);
    w.Str16(k.group);
    w.U8(static_cast<uint8_t>(k.state));
    w.I64(k.created_unix);
    w.I64(k.state_changed_unix);
    w.U8(k.material ? 1 : 0);
    if (k.material) w.Bytes(k.material->RevealSecret());
  }
  w.U32(static_cast<uint32_t>(c.usage.size()));
  for (const auto& [key, root] : c.usage) {
    w.Str16(std::get<0>(key));
    w.Str16(std::get<1>(key));
    w.Str16(std::get<2>(key));
    w.Str16(root);
  }
  w.U32(static_cast<uint32_t>(c.pins.size()));
  for (const auto& [key, hash] : c.pins) {
    std::array<uint8_t, 32> raw{};
    if (!HashFromHex(hash, raw)) {
      return absl::InternalError("key store: a pinned public key hash is not 64 hex digits");
    }
    w.Str16(std::get<0>(key));
    w.Str16(std::get<1>(key));
    w.Str16(std::get<2>(key));
    w.Bytes(raw);
  }
  if (!w.ok() || w.position() != out.size()) {
    return absl::InternalError("key store payload size mismatch while encoding");
  }
  return out;
}

absl::StatusOr<KeyStoreContents> DecodeKeyStorePayload(std::span<const uint8_t> payload,
                                                       uint32_t version) {
  ByteReader r(payload);
  KeyStoreContents c;
  uint32_t count = 0;
  if (!r.U64(&c.generation) || !r.U32(&count)) return Corrupt("truncated");
  for (uint32_t i = 0; i < count; ++i) {
    StoredGroup g;
    if (!r.Str16(&g.name) || !r.I64(&g.created_unix)) return Corrupt("truncated group");
    if (!ValidateName("key group", g.name).ok()) return Corrupt("bad group name");
    std::string name = g.name;
    if (!c.groups.emplace(std::move(name), std::move(g)).second) {
      return Corrupt("duplicate group");
    }
  }
  if (!r.U32(&count)) return Corrupt("truncated");
  for (uint32_t i = 0; i < count; ++i) {
    StoredRootKey k;
    uint8_t state = 0;
    uint8_t has_material = 0;
    if (!r.Str16(&k.id) || !r.Str16(&k.group) || !r.U8(&state) || !r.I64(&k.created_unix) ||
        !r.I64(&k.state_changed_unix) || !r.U8(&has_material)) {
      return Corrupt("truncated root key");
    }
    if (!IsValidRootKeyState(state)) return Corrupt("unknown root key state");
    k.state = static_cast<RootKeyState>(state);
    if (!c.groups.contains(k.group)) return Corrupt("root key of an unknown group");
    if (has_material > 1) return Corrupt("bad material flag");
    if ((has_material == 1) == (k.state == RootKeyState::kTerminated)) {
      return Corrupt("material present for a terminated key or missing for a live one");
    }
    if (has_material == 1) {
      std::span<const uint8_t> material;
      if (!r.View(kRootKeySize, &material)) return Corrupt("truncated root key material");
      SEALPOOL_ASSIGN_OR_RETURN(crypto::RootKey key, crypto::RootKey::FromBytes(material));
      k.material = std::make_shared<const crypto::RootKey>(std::move(key));
    }
    std::string id = k.id;
    if (!c.keys.emplace(std::move(id), std::move(k)).second) return Corrupt("duplicate key id");
  }
  if (!r.U32(&count)) return Corrupt("truncated");
  for (uint32_t i = 0; i < count; ++i) {
    std::string pool, group, kek, root;
    if (!r.Str16(&pool) || !r.Str16(&group) || !r.Str16(&kek) || !r.Str16(&root)) {
      return Corrupt("truncated usage entry");
    }
    auto it = c.keys.find(root);
    if (it == c.keys.end() || it->second.group != group) {
      return Corrupt("usage entry names an unknown root key");
    }
    c.usage[UsageKey(std::move(pool), std::move(group), std::move(kek))] = std::move(root);
  }
  if (version >= kKeyStoreVersion) {
    if (!r.U32(&count)) return Corrupt("truncated");
    for (uint32_t i = 0; i < count; ++i) {
      std::string pool, group, kek;
      std::span<const uint8_t> hash;
      if (!r.Str16(&pool) || !r.Str16(&group) || !r.Str16(&kek) || !r.View(32, &hash)) {
        return Corrupt("truncated pin");
      }
      UsageKey key(std::move(pool), std::move(group), std::move(kek));
      if (!c.usage.contains(key)) return Corrupt("a pin without a usage entry");
      std::string hex = HashToHex(hash);
      if (!c.pins.emplace(std::move(key), std::move(hex)).second) return Corrupt("duplicate pin");
    }
  }
  if (r.remaining() != 0) return Corrupt("trailing bytes");
  return c;
}

}  // namespace sealpool::kms
