#include "storage/keydict/in_process_root_key_provider.h"

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <utility>
#include <vector>

#include "base/status_macros.h"
#include "base/strings.h"
#include "crypto/aead.h"

namespace sealpool::storage {
namespace {

constexpr std::string_view kAadLabel = "sealpool.inproc-root-key.wrap.v2";
constexpr size_t kMaxIdSize = 255;

void PutString16(std::vector<uint8_t>* out, std::string_view s) {
  out->push_back(static_cast<uint8_t>(s.size() & 0xFF));
  out->push_back(static_cast<uint8_t>((s.size() >> 8) & 0xFF));
  out->insert(out->end(), s.begin(), s.end());
}

// The blob's bytes before the nonce: magic, version, backend, id length, id.
std::vector<uint8_t> BlobHeader(std::string_view root_key_id) {
  // Written by index into a vector sized up front: GCC 12 at -O3 reports a bogus
  // -Wstringop-overflow for inserts into a small vector here.
  const auto& magic = InProcessRootKeyProvider::kBlobMagic;
  std::vector<uint8_t> header(magic.size() + 3 + root_key_id.size());
  size_t at = 0;
  for (uint8_t c : magic) header[at++] = c;
  header[at++] = InProcessRootKeyProvider::kBlobVersion;
  header[at++] = InProcessRootKeyProvider::kBlobBackend;
  header[at++] = static_cast<uint8_t>(root_key_id.size());
  for (char c : root_key_id) header[at++] = static_cast<uint8_t>(c);
  return header;
}

std::vector<uint8_t> AssociatedData(std::string_view pool_id, std::string_view group,
                                    std::string_view key_id, std::string_view root_key_id) {
  std::vector<uint8_t> aad(kAadLabel.begin(), kAadLabel.end());
  PutString16(&aad, pool_id);
  PutString16(&aad, group);
  PutString16(&aad, key_id);
  const std::vector<uint8_t> header = BlobHeader(root_key_id);
  aad.insert(aad.end(), header.begin(), header.end());
  return aad;
}

struct ParsedBlob {
  std::string root_key_id;
  crypto::GcmNonce nonce{};
  crypto::GcmTag tag{};
  std::span<const uint8_t> ciphertext;
};

absl::StatusOr<ParsedBlob> ParseBlob(std::span<const uint8_t> blob) {
  auto bad = [](std::string_view why) {
    return absl::DataLossError(base::Cat("in-process wrapped key blob is damaged: ", why));
  };
  if (blob.empty()) return bad("empty");
  // The magic-less layout of earlier versions: u8 version 1 | idlen | id | nonce | tag | ctlen |
  // ct. No pool of it was deployed: refused, not migrated.
  if (blob[0] == 1 && blob.size() >= 2) {
    const size_t ct_at = 2 + size_t{blob[1]} + crypto::kGcmNonceSize + crypto::kGcmTagSize;
    if (blob.size() > ct_at && blob.size() == ct_at + 1 + blob[ct_at]) {
      return absl::FailedPreconditionError(
          "in-process wrapped key blob has no \"SPWK\" magic: it is the magic-less layout of "
          "an older sealpool, which this one neither opens nor migrates (create a new pool)");
    }
  }
  const auto& magic = InProcessRootKeyProvider::kBlobMagic;
  if (blob.size() < magic.size() || !std::equal(magic.begin(), magic.end(), blob.begin())) {
    return bad("no \"SPWK\" magic");
  }
  size_t pos = magic.size();
  if (blob.size() < pos + 3) return bad("truncated");
  if (blob[pos] != InProcessRootKeyProvider::kBlobVersion) {
    return bad(base::Cat("unknown version ", static_cast<int>(blob[pos])));
  }
  ++pos;
  if (blob[pos] != InProcessRootKeyProvider::kBlobBackend) {
    return bad(base::Cat("backend ", static_cast<int>(blob[pos]),
                         " is not the in-process provider's (", 
                         static_cast<int>(InProcessRootKeyProvider::kBlobBackend), ")"));
  }
  ++pos;
  const size_t id_len = blob[pos++];
  if (id_len == 0) return bad("empty root key id");
  if (blob.size() < pos + id_len + crypto::kGcmNonceSize + crypto::kGcmTagSize + 1) {
    return bad("truncated");
  }
  ParsedBlob parsed;
  parsed.root_key_id.assign(blob.begin() + static_cast<std::ptrdiff_t>(pos),
                            blob.begin() + static_cast<std::ptrdiff_t>(pos + id_len));
  pos += id_len;
  std::copy_n(blob.begin() + static_cast<std::ptrdiff_t>(pos), crypto::kGcmNonceSize,
              parsed.nonce.begin());
  pos += crypto::kGcmNonceSize;
  std::copy_n(blob.begin() + static_cast<std::ptrdiff_t>(pos), crypto::kGcmTagSize,
              parsed.tag.begin());
  pos += crypto::kGcmTagSize;
  const size_t ct_len = blob[pos++];
  if (blob.size() != pos + ct_len) return bad("length does not match");
  if (ct_len < InProcessRootKeyProvider::kMinSecretSize ||
      ct_len > InProcessRootKeyProvider::kMaxSecretSize) {
    return bad("secret length out of range");
  }
  parsed.ciphertext = blob.subspan(pos, ct_len);
  return parsed;
}

}  // namespace

std::string_view InProcessRootKeyStateName(InProcessRootKeyState state) {
  switch (state) {
    case InProcessRootKeyState::kPrelive:
      return "prelive";
    case InProcessRootKeyState::kActive:
      return "active";
    case InProcessRootKeyState::kInactive:
      return "inactive";
    case InProcessRootKeyState::kCompromised:
      return "compromised";
    case InProcessRootKeyState::kDestroyed:
      return "destroyed";
  }
  return "unknown";
}

InProcessRootKeyProvider::InProcessRootKeyProvider(std::string pool_id)
    : pool_id_(std::move(pool_id)) {}

absl::Status InProcessRootKeyProvider::CheckAvailable(std::string_view what) {
  absl::MutexLock lock(&mu_);
  bool ok = available_;
  if (ok && calls_left_.has_value()) {
    if (*calls_left_ == 0) {
      ok = false;
    } else {
      --*calls_left_;
    }
  }
  if (ok) return absl::OkStatus();
  return absl::UnavailableError(
      base::Cat("in-process key service is switched off (simulated outage): ", what));
}

absl::StatusOr<WrappedKey> InProcessRootKeyProvider::Wrap(std::string_view key_group,
                                                          std::string_view key_id,
                                                          std::span<const uint8_t> secret) {
  wrap_calls_.fetch_add(1);
  SEALPOOL_RETURN_IF_ERROR(CheckAvailable(base::Cat("wrap ", key_group, "/", key_id)));
  if (secret.size() < kMinSecretSize || secret.size() > kMaxSecretSize) {
    return absl::InvalidArgumentError(
        base::Cat("a wrapped secret must be ", kMinSecretSize, "..", kMaxSecretSize,
                  " bytes, got ", secret.size()));
  }
  absl::ReaderMutexLock lock(&mu_);
  auto active = active_.find(key_group);
  if (active == active_.end()) {
    return absl::FailedPreconditionError(
        base::Cat("key group '", key_group, "' has no active root key: it wraps nothing"));
  }
  const std::string& root_key_id = active->second;
  const RootKeyEntry& entry = keys_.find(root_key_id)->second;
  if (root_key_id.size() > kMaxIdSize || !entry.key.has_value()) {
    return absl::InternalError("in-process key service: active root key unusable");
  }
  const std::vector<uint8_t> aad = AssociatedData(pool_id_, key_group, key_id, root_key_id);
  std::vector<uint8_t> ciphertext(secret.size());
  crypto::GcmNonce nonce;
  crypto::GcmTag tag;
  SEALPOOL_RETURN_IF_ERROR(crypto::Seal(*entry.key, aad, secret, ciphertext, &nonce, &tag));
  WrappedKey wrapped;
  wrapped.root_key_id = root_key_id;
  std::vector<uint8_t>& blob = wrapped.blob;
  blob = BlobHeader(root_key_id);
  blob.insert(blob.end(), nonce.begin(), nonce.end());
  blob.insert(blob.end(), tag.begin(), tag.end());
  blob.push_back(static_cast<uint8_t>(ciphertext.size()));
  blob.insert(blob.end(), ciphertext.begin(), ciphertext.end());
  return wrapped;
}

absl::StatusOr<crypto::SecretBytes> InProcessRootKeyProvider::Unwrap(std::string_view key_group,
                                                                     std::string_view key_id,
                                                                     const WrappedKey& wrapped) {
  unwrap_calls_.fetch_add(1);
  return DoUnwrap(key_group, key_id, wrapped, /*for_rewrap=*/false);
}

absl::StatusOr<crypto::SecretBytes> InProcessRootKeyProvider::UnwrapForRewrap(
    std::string_view key_group, std::string_view key_id, const WrappedKey& wrapped) {
  rewrap_unwrap_calls_.fetch_add(1);
  return DoUnwrap(key_group, key_id, wrapped, /*for_rewrap=*/true);
}

absl::StatusOr<crypto::SecretBytes> InProcessRootKeyProvider::DoUnwrap(std::string_view key_group,
                                                                       std::string_view key_id,
                                                                       const WrappedKey& wrapped,
                                                                       bool for_rewrap) {
  SEALPOOL_RETURN_IF_ERROR(CheckAvailable(base::Cat("unwrap ", key_group, "/", key_id)));
  SEALPOOL_ASSIGN_OR_RETURN(ParsedBlob parsed, ParseBlob(wrapped.blob));
  if (parsed.root_key_id != wrapped.root_key_id) {
    return absl::DataLossError(base::Cat("wrapped key ", key_group, "/", key_id,
                                         ": the blob names root key '", parsed.root_key_id,
                                         "', the record '", wrapped.root_key_id, "'"));
  }
  absl::ReaderMutexLock lock(&mu_);
  auto it = keys_.find(parsed.root_key_id);
  if (it == keys_.end() || it->second.state == InProcessRootKeyState::kDestroyed ||
      !it->second.key.has_value()) {
    return absl::NotFoundError(
        base::Cat("root key '", parsed.root_key_id, "' is unknown or destroyed"));
  }
  const RootKeyEntry& entry = it->second;
  switch (entry.state) {
    case InProcessRootKeyState::kActive:
    case InProcessRootKeyState::kInactive:
      break;
    case InProcessRootKeyState::kCompromised:
      if (for_rewrap) break;
      return absl::FailedPreconditionError(
          base::Cat("root key '", parsed.root_key_id,
                    "' is compromised: it unwraps only to re-wrap under the active key"));
    default:
      return absl::FailedPreconditionError(
          base::Cat("root key '", parsed.root_key_id, "' is ",
                    InProcessRootKeyStateName(entry.state), " and unwraps nothing"));
  }
  const std::vector<uint8_t> aad =
      AssociatedData(pool_id_, key_group, key_id, parsed.root_key_id);
  SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes secret,
                            crypto::SecretBytes::Allocate(parsed.ciphertext.size()));
  absl::Status opened = crypto::Open(*entry.key, parsed.nonce, aad, parsed.ciphertext,
                                     parsed.tag, secret.mutable_span());
  if (!opened.ok()) {
    return absl::DataLossError(base::Cat("wrapped key ", key_group, "/", key_id,
                                         " does not open under root key '", parsed.root_key_id,
                                         "' for pool '", pool_id_,
                                         "' (damaged, or bound to another pool, group or key id): ",
                                         opened.message()));
  }
  return secret;
}

absl::StatusOr<std::string> InProcessRootKeyProvider::ActiveRootKeyId(std::string_view key_group) {
  active_calls_.fetch_add(1);
  SEALPOOL_RETURN_IF_ERROR(CheckAvailable(base::Cat("active root key of ", key_group)));
  absl::ReaderMutexLock lock(&mu_);
  auto it = active_.find(key_group);
  if (it == active_.end()) return std::string();
  return it->second;
}

std::string InProcessRootKeyProvider::AddRootKey(std::string_view group) {
  absl::StatusOr<crypto::RootKey> key = crypto::RootKey::Generate();
  if (!key.ok()) {
    std::fprintf(stderr, "InProcessRootKeyProvider: cannot generate a root key: %s\n",
                 std::string(key.status().message()).c_str());
    std::abort();
  }
  absl::MutexLock lock(&mu_);
  std::string id = base::Cat("rk-", next_id_++);
  RootKeyEntry entry;
  entry.group = std::string(group);
  entry.key = *std::move(key);
  keys_.emplace(id, std::move(entry));
  return id;
}

absl::Status InProcessRootKeyProvider::Activate(std::string_view root_key_id) {
  absl::MutexLock lock(&mu_);
  auto it = keys_.find(root_key_id);
  if (it == keys_.end() || it->second.state == InProcessRootKeyState::kDestroyed) {
    return absl::NotFoundError(base::Cat("root key '", root_key_id, "' is unknown or destroyed"));
  }
  RootKeyEntry& entry = it->second;
  if (entry.state == InProcessRootKeyState::kActive) return absl::OkStatus();
  if (entry.state == InProcessRootKeyState::kCompromised) {
    return absl::FailedPreconditionError(
        base::Cat("root key '", root_key_id, "' is compromised and cannot become active"));
  }
  auto previous = active_.find(entry.group);
  if (previous != active_.end()) {
    keys_.find(previous->second)->second.state = InProcessRootKeyState::kInactive;
  }
  entry.state = InProcessRootKeyState::kActive;
  active_[entry.group] = std::string(root_key_id);
  return absl::OkStatus();
}

absl::Status InProcessRootKeyProvider::SetCompromised(std::string_view root_key_id) {
  absl::MutexLock lock(&mu_);
  auto it = keys_.find(root_key_id);
  if (it == keys_.end() || it->second.state == InProcessRootKeyState::kDestroyed) {
    return absl::NotFoundError(base::Cat("root key '", root_key_id, "' is unknown or destroyed"));
  }
  if (it->second.state == InProcessRootKeyState::kActive) active_.erase(it->second.group);
  it->second.state = InProcessRootKeyState::kCompromised;
  return absl::OkStatus();
}

absl::Status InProcessRootKeyProvider::Destroy(std::string_view root_key_id) {
  absl::MutexLock lock(&mu_);
  auto it = keys_.find(root_key_id);
  if (it == keys_.end()) {
    return absl::NotFoundError(base::Cat("root key '", root_key_id, "' is unknown"));
  }
  if (it->second.state == InProcessRootKeyState::kActive) active_.erase(it->second.group);
  it->second.state = InProcessRootKeyState::kDestroyed;
  it->second.key.reset();  // wiped by SecretBytes
  return absl::OkStatus();
}

absl::StatusOr<InProcessRootKeyState> InProcessRootKeyProvider::State(
    std::string_view root_key_id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = keys_.find(root_key_id);
  if (it == keys_.end()) {
    return absl::NotFoundError(base::Cat("root key '", root_key_id, "' is unknown"));
  }
  return it->second.state;
}

void InProcessRootKeyProvider::SetAvailable(bool available) {
  absl::MutexLock lock(&mu_);
  available_ = available;
  if (available) calls_left_.reset();
}

void InProcessRootKeyProvider::FailAfter(uint64_t calls) {
  absl::MutexLock lock(&mu_);
  calls_left_ = calls;
}

}  // namespace sealpool::storage
