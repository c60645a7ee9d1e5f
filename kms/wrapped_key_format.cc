#include "kms/wrapped_key_format.h"

#include "absl/status/status.h"
#include "kms/internal/byte_io.h"
#include "kms/status_util.h"

namespace sealpool::kms {

using internal::AsBytes;
using internal::ByteReader;
using internal::ByteWriter;

std::vector<uint8_t> WrappedKey::HeaderBytes() const {
  std::vector<uint8_t> out(4 + 3 + root_key_id.size());
  ByteWriter w(out);
  w.Bytes(kWrappedKeyMagic);
  w.U8(kWrappedKeyVersion);
  w.U8(backend);
  w.U8(static_cast<uint8_t>(root_key_id.size()));
  w.Bytes(AsBytes(root_key_id));
  return out;
}

std::vector<uint8_t> WrappedKey::Encode() const {
  std::vector<uint8_t> out = HeaderBytes();
  size_t header = out.size();
  out.resize(header + kWrapNonceSize + kWrapTagSize + 1 + ciphertext.size());
  ByteWriter w(std::span<uint8_t>(out).subspan(header));
  w.Bytes(nonce);
  w.Bytes(tag);
  w.U8(static_cast<uint8_t>(ciphertext.size()));
  w.Bytes(ciphertext);
  return out;
}

absl::StatusOr<WrappedKey> WrappedKey::Decode(std::span<const uint8_t> blob) {
  if (blob.size() > kMaxWrappedKeySize) {
    return absl::InvalidArgumentError(Cat("wrapped key is ", blob.size(),
                                          " bytes; the largest valid one is ", kMaxWrappedKeySize));
  }
  // The magic-less layout storage's in-process root-key provider wrote before it had a magic
  // (version 1 | id length | id | nonce | tag | ct length | ct): not sealkmsd's, never migrated.
  const size_t ct_at = blob.size() >= 2 ? 2 + size_t{blob[1]} + kWrapNonceSize + kWrapTagSize : 0;
  if (blob.size() >= 2 && blob[0] == 1 && blob.size() > ct_at &&
      blob.size() == ct_at + 1 + blob[ct_at]) {
    return absl::FailedPreconditionError(
        "not a sealkmsd wrapped key: it has no \"SPWK\" magic; its layout (version 1, id "
        "length, id, nonce, tag, length, ciphertext) is that of the in-process root-key "
        "provider, which sealkmsd neither opens nor migrates");
  }
  ByteReader r(blob);
  std::array<uint8_t, 4> magic{};
  uint8_t version = 0;
  if (!r.Bytes(magic) || magic != kWrappedKeyMagic) {
    return absl::InvalidArgumentError("not a sealpool wrapped key (bad magic)");
  }
  if (!r.U8(&version)) return absl::InvalidArgumentError("wrapped key truncated in its header");
  if (version > kWrappedKeyVersion) {
    return absl::FailedPreconditionError(Cat("wrapped key format version ", version,
                                             " is newer than this binary's (", kWrappedKeyVersion,
                                             ")"));
  }
  if (version == 0) return absl::InvalidArgumentError("wrapped key has format version 0");
  WrappedKey key;
  uint8_t id_len = 0;
  uint8_t ct_len = 0;
  std::span<const uint8_t> id;
  std::span<const uint8_t> ct;
  if (!r.U8(&key.backend) || !r.U8(&id_len) || !r.View(id_len, &id) || !r.Bytes(key.nonce) ||
      !r.Bytes(key.tag) || !r.U8(&ct_len) || !r.View(ct_len, &ct)) {
    return absl::InvalidArgumentError("wrapped key is truncated");
  }
  if (r.remaining() != 0) {
    return absl::InvalidArgumentError(Cat("wrapped key has ", r.remaining(), " trailing bytes"));
  }
  if (key.backend == kBackendInProcessTest) {
    return absl::FailedPreconditionError(
        "not a sealkmsd wrapped key: backend 0x80 is storage's in-process root-key provider "
        "(tests only), whose root keys sealkmsd does not hold");
  }
  if (key.backend != kBackendBuiltin && key.backend != kBackendKmip) {
    return absl::InvalidArgumentError(Cat("wrapped key names unknown backend ", key.backend));
  }
  if (id_len == 0) return absl::InvalidArgumentError("wrapped key has an empty root key id");
  if (ct_len < kMinSecretSize || ct_len > kMaxSecretSize) {
    return absl::InvalidArgumentError(Cat("wrapped key holds ", ct_len, " bytes; a secret is ",
                                          kMinSecretSize, "..", kMaxSecretSize));
  }
  key.root_key_id.assign(reinterpret_cast<const char*>(id.data()), id.size());
  key.ciphertext.assign(ct.begin(), ct.end());
  return key;
}

std::vector<uint8_t> WrapAssociatedData(std::string_view pool_id, std::string_view key_group,
                                        std::string_view kek_id, const WrappedKey& key) {
  std::vector<uint8_t> header = key.HeaderBytes();
  std::vector<uint8_t> out(kWrapAadLabel.size() + 3 * 2 + pool_id.size() + key_group.size() +
                           kek_id.size() + header.size());
  ByteWriter w(out);
  w.Bytes(AsBytes(kWrapAadLabel));
  w.Str16(pool_id);
  w.Str16(key_group);
  w.Str16(kek_id);
  w.Bytes(header);
  return out;
}

}  // namespace sealpool::kms
