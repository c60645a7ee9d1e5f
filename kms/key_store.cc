#include "kms/key_store.h"

#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "crypto/aead.h"
#include "crypto/random.h"
#include "kms/key_registry.h"
#include "kms/names.h"
#include "kms/status_util.h"
#include "kms/wrapped_key_format.h"

namespace sealpool::kms {
namespace {

absl::StatusOr<std::string> NewKeyId(const KeyStoreContents& c) {
  for (int attempt = 0; attempt < 8; ++attempt) {
    std::array<uint8_t, 8> raw{};
    SEALPOOL_RETURN_IF_ERROR(crypto::RandomBytes(raw));
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id = "rk-";
    for (uint8_t b : raw) {
      id.push_back(kHex[b >> 4]);
      id.push_back(kHex[b & 15]);
    }
    if (!c.keys.contains(id)) return id;
  }
  return absl::InternalError("could not draw an unused root key id");
}

}  // namespace

KeyStore::KeyStore(std::unique_ptr<KeyStoreFile> file, KeyStoreContents contents)
    : file_(std::move(file)), contents_(std::move(contents)) {}

absl::StatusOr<std::unique_ptr<KeyStore>> KeyStore::Open(const std::filesystem::path& path,
                                                         std::span<const uint8_t> passphrase) {
  SEALPOOL_ASSIGN_OR_RETURN(auto opened, KeyStoreFile::Open(path, passphrase));
  return std::unique_ptr<KeyStore>(new KeyStore(std::move(opened.first), std::move(opened.second)));
}

absl::StatusOr<std::unique_ptr<KeyStore>> KeyStore::Create(const std::filesystem::path& path,
                                                           std::span<const uint8_t> passphrase,
                                                           const crypto::ScryptParams& params) {
  SEALPOOL_ASSIGN_OR_RETURN(auto file, KeyStoreFile::Create(path, passphrase, params));
  return std::unique_ptr<KeyStore>(new KeyStore(std::move(file), KeyStoreContents{}));
}

absl::Status KeyStore::Mutate(const std::function<absl::Status(KeyStoreContents&)>& change) {
  absl::MutexLock lock(&mu_);
  KeyStoreContents next = contents_;
  SEALPOOL_RETURN_IF_ERROR(change(next));
  ++next.generation;
  SEALPOOL_RETURN_IF_ERROR(file_->Save(next));
  contents_ = std::move(next);
  return absl::OkStatus();
}

absl::StatusOr<GroupView> KeyStore::CreateGroup(std::string_view name) {
  GroupView view;
  SEALPOOL_RETURN_IF_ERROR(Mutate([&](KeyStoreContents& c) -> absl::Status {
    SEALPOOL_ASSIGN_OR_RETURN(view, AddGroup(c, name));
    return absl::OkStatus();
  }));
  return view;
}

std::vector<GroupView> KeyStore::ListGroups() {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<GroupView> out;
  for (const auto& [name, g] : contents_.groups) out.push_back(ToView(contents_, g));
  return out;
}

absl::StatusOr<GroupView> KeyStore::GetGroup(std::string_view name) {
  absl::ReaderMutexLock lock(&mu_);
  SEALPOOL_ASSIGN_OR_RETURN(const StoredGroup* g, FindGroup(contents_, name));
  return ToView(contents_, *g);
}

absl::StatusOr<ShredResult> KeyStore::ShredGroup(std::string_view name) {
  ShredResult result;
  SEALPOOL_RETURN_IF_ERROR(Mutate([&](KeyStoreContents& c) {
    SEALPOOL_RETURN_IF_ERROR(FindGroup(c, name).status());
    std::erase_if(c.keys, [&](const auto& kv) {
      if (kv.second.group != name) return false;
      ++result.destroyed_keys;
      return true;
    });
    std::erase_if(c.usage, [&](const auto& kv) {
      if (std::get<1>(kv.first) != name) return false;
      ++result.dropped_registrations;
      return true;
    });
    DropOrphanPins(c);
    c.groups.erase(std::string(name));
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<RootKeyView> KeyStore::CreateKey(std::string_view group) {
  SEALPOOL_ASSIGN_OR_RETURN(crypto::RootKey material, crypto::RootKey::Generate());
  auto shared = std::make_shared<const crypto::RootKey>(std::move(material));
  RootKeyView view;
  SEALPOOL_RETURN_IF_ERROR(Mutate([&](KeyStoreContents& c) {
    SEALPOOL_RETURN_IF_ERROR(FindGroup(c, group).status());
    SEALPOOL_ASSIGN_OR_RETURN(std::string id, NewKeyId(c));
    int64_t now = NowUnix();
    StoredRootKey k{id, std::string(group), RootKeyState::kPrelive, now, now, shared};
    view = ToView(c, k);
    c.keys.emplace(id, std::move(k));
    return absl::OkStatus();
  }));
  return view;
}

absl::StatusOr<std::vector<RootKeyView>> KeyStore::ListKeys(std::string_view group) {
  absl::ReaderMutexLock lock(&mu_);
  if (!group.empty()) SEALPOOL_RETURN_IF_ERROR(FindGroup(contents_, group).status());
  std::vector<RootKeyView> out;
  for (const auto& [id, k] : contents_.keys) {
    if (group.empty() || k.group == group) out.push_back(ToView(contents_, k));
  }
  return out;
}

absl::StatusOr<RootKeyView> KeyStore::SetKeyState(std::string_view id, RootKeyState state) {
  RootKeyView view;
  SEALPOOL_RETURN_IF_ERROR(Mutate([&](KeyStoreContents& c) {
    SEALPOOL_ASSIGN_OR_RETURN(StoredRootKey * k, FindKey(c, id));
    SEALPOOL_RETURN_IF_ERROR(CheckTransition(k->state, state));
    if (RequiresNoUsage(state)) {
      if (uint32_t n = CountUsage(c, k->id); n != 0) {
        return absl::FailedPreconditionError(
            Cat("root key \"", id, "\" still wraps ", n,
                " registered KEK(s); re-wrap them under the active key first (Pool::"
                "RewrapGroupKeys in each pool's sealpoold; keydictutil --rewrap does not exist "
                "yet) before making it ",
                RootKeyStateName(state)));
      }
    }
    int64_t now = NowUnix();
    if (state == RootKeyState::kActive) {
      for (auto& [other_id, other] : c.keys) {
        if (other.group == k->group && other.state == RootKeyState::kActive) {
          other.state = RootKeyState::kInactive;
          other.state_changed_unix = now;
        }
      }
    }
    k->state = state;
    k->state_changed_unix = now;
    if (state == RootKeyState::kTerminated) k->material.reset();
    view = ToView(c, *k);
    return absl::OkStatus();
  }));
  return view;
}

absl::Status KeyStore::DeleteKey(std::string_view id) {
  return Mutate([&](KeyStoreContents& c) {
    SEALPOOL_ASSIGN_OR_RETURN(StoredRootKey * k, FindKey(c, id));
    SEALPOOL_RETURN_IF_ERROR(CheckCanDelete(k->state));
    if (uint32_t n = CountUsage(c, k->id); n != 0) {
      return absl::FailedPreconditionError(
          Cat("root key \"", id, "\" still wraps ", n, " registered KEK(s)"));
    }
    c.keys.erase(std::string(id));
    return absl::OkStatus();
  });
}

absl::StatusOr<WrapResult> KeyStore::Wrap(const WrapContext& ctx, std::span<const uint8_t> secret) {
  SEALPOOL_RETURN_IF_ERROR(ValidateContext(ctx));
  if (secret.size() < kMinSecretSize || secret.size() > kMaxSecretSize) {
    return absl::InvalidArgumentError(Cat("a secret to wrap is ", kMinSecretSize, "..",
                                          kMaxSecretSize, " bytes, not ", secret.size()));
  }
  WrapResult result;
  SEALPOOL_RETURN_IF_ERROR(Mutate([&](KeyStoreContents& c) {
    SEALPOOL_RETURN_IF_ERROR(FindGroup(c, ctx.key_group).status());
    const StoredRootKey* active = ActiveKey(c, ctx.key_group);
    if (active == nullptr) {
      return absl::FailedPreconditionError(Cat("key group \"", ctx.key_group,
                                               "\" has no active root key; it wraps nothing until "
                                               "one is activated (kmscmd key activate)"));
    }
    WrappedKey blob;
    blob.root_key_id = active->id;
    blob.ciphertext.resize(secret.size());
    crypto::GcmNonce nonce{};
    crypto::GcmTag tag{};
    SEALPOOL_RETURN_IF_ERROR(crypto::Seal(
        *active->material, WrapAssociatedData(ctx.pool_id, ctx.key_group, ctx.kek_id, blob), secret,
        blob.ciphertext, &nonce, &tag));
    blob.nonce = nonce;
    blob.tag = tag;
    result.root_key_id = active->id;
    result.wrapped = blob.Encode();
    c.usage[UsageKey(std::string(ctx.pool_id), std::string(ctx.key_group),
                     std::string(ctx.kek_id))] = active->id;
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<UnwrapResult> KeyStore::Unwrap(const WrapContext& ctx,
                                              std::span<const uint8_t> wrapped, bool for_rewrap) {
  SEALPOOL_RETURN_IF_ERROR(ValidateContext(ctx));
  SEALPOOL_ASSIGN_OR_RETURN(WrappedKey blob, WrappedKey::Decode(wrapped));
  SEALPOOL_RETURN_IF_ERROR(ValidateName("root key id in the wrapped key", blob.root_key_id));
  absl::ReaderMutexLock lock(&mu_);
  SEALPOOL_RETURN_IF_ERROR(FindGroup(contents_, ctx.key_group).status());
  auto it = contents_.keys.find(blob.root_key_id);
  if (it == contents_.keys.end() || it->second.group != ctx.key_group) {
    return absl::NotFoundError(Cat("the wrapped key names root key \"", blob.root_key_id,
                                   "\", which is not in key group \"", ctx.key_group, "\""));
  }
  const StoredRootKey& key = it->second;
  SEALPOOL_RETURN_IF_ERROR(
      Annotate(CheckCanUnwrap(key.state, for_rewrap), Cat("root key \"", key.id, "\"")));
  SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes secret,
                       crypto::SecretBytes::Allocate(blob.ciphertext.size()));
  absl::Status s = crypto::Open(*key.material, blob.nonce,
                                WrapAssociatedData(ctx.pool_id, ctx.key_group, ctx.kek_id, blob),
                                blob.ciphertext, blob.tag, secret.mutable_span());
  if (!s.ok()) {
    return absl::DataLossError(
        Cat("wrapped key for KEK \"", ctx.kek_id, "\" of pool \"", ctx.pool_id, "\", key group \"",
            ctx.key_group,
            "\" does not authenticate (altered, or wrapped for another pool, group "
            "or KEK)"));
  }
  return UnwrapResult{std::move(secret), key.id, key.state};
}

absl::Status KeyStore::RegisterUsage(std::string_view pool_id, std::string_view group,
                                     std::span<const KekUsageEntry> usages) {
  return Mutate([&](KeyStoreContents& c) { return AddUsages(c, pool_id, group, usages); });
}

absl::StatusOr<ReconcileResult> KeyStore::ReconcileUsage(std::string_view pool_id,
                                                         std::string_view group,
                                                         std::span<const KekUsageEntry> usages) {
  ReconcileResult result;
  SEALPOOL_RETURN_IF_ERROR(Mutate([&](KeyStoreContents& c) -> absl::Status {
    SEALPOOL_ASSIGN_OR_RETURN(result, ReconcileUsages(c, pool_id, group, usages));
    return absl::OkStatus();
  }));
  return result;
}

std::vector<UsageView> KeyStore::ListUsage(std::string_view group, std::string_view root_key_id) {
  absl::ReaderMutexLock lock(&mu_);
  return ListUsages(contents_, group, root_key_id);
}

absl::Status KeyStore::ChangePassphrase(std::span<const uint8_t> new_passphrase) {
  absl::MutexLock lock(&mu_);
  return file_->ChangePassphrase(new_passphrase, contents_);
}

absl::StatusOr<std::string> KeyStore::StoreKeyId(std::string_view /*group*/) {
  absl::ReaderMutexLock lock(&mu_);
  return file_->KeyId();
}

}  // namespace sealpool::kms
