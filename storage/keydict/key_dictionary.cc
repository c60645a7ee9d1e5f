#include "storage/keydict/key_dictionary.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "base/status_macros.h"
#include "base/strings.h"
#include "storage/keydict/host_fingerprint_key.h"

namespace sealpool::storage {
namespace {

constexpr std::string_view kFingerprintKeyId = "fpk";
constexpr size_t kMaxGroupNameLength = 64;

std::string KekKeyId(uint32_t kek_id) { return base::Cat("kek-", kek_id); }

}  // namespace

std::string_view KekModeName(KekMode mode) {
  switch (mode) {
    case KekMode::kSymmetric:
      return "symmetric";
    case KekMode::kPublic:
      return "public";
  }
  return "unknown";
}

absl::Status KeyDictionary::ValidateGroupName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= kMaxGroupNameLength;
  for (char c : name) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == ':' || c == '-';
    if (!allowed) ok = false;
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      "key group name must be 1..64 characters of [A-Za-z0-9._:-]");
}

namespace {

bool Transient(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
}

absl::Time FromMicros(int64_t micros) { return absl::FromUnixMicros(micros); }

}  // namespace

struct KeyDictionary::KekEntry {
  KekState state = KekState::kActive;
  int64_t created_unix_micros = 0;
  uint64_t dek_count = 0;  // DEKs wrapped (or reserved before a restart)
  uint64_t reserved = 0;   // the dek_count persisted in the record: an upper bound
  WrappedKey wrapped;
  std::shared_ptr<const crypto::Kek> kek;  // null until unwrapped; always null for a pair
  std::optional<crypto::KekPublicKey> public_key;  // set exactly for a KEK pair

  // The persisted fields (what a record write needs), without the key.
  KekEntry Snapshot() const {
    KekEntry out;
    out.state = state;
    out.created_unix_micros = created_unix_micros;
    out.reserved = reserved;
    out.wrapped = wrapped;
    out.public_key = public_key;
    return out;
  }

  absl::StatusOr<std::string> EncodeRecord(uint32_t kek_id) const {
    if (!public_key.has_value()) return Record(kek_id).Encode();
    KekPairRecord rec;
    rec.kek_id = kek_id;
    rec.state = state;
    rec.created_unix_micros = created_unix_micros;
    rec.dek_count = reserved;
    rec.public_key = *public_key;
    rec.wrapped = wrapped;
    return rec.Encode();
  }

  KekRecord Record(uint32_t kek_id) const {
    KekRecord rec;
    rec.kek_id = kek_id;
    rec.state = state;
    rec.created_unix_micros = created_unix_micros;
    rec.dek_count = reserved;
    rec.wrapped = wrapped;
    return rec;
  }
};

struct KeyDictionary::Group {
  Group(uint32_t group_no, std::string group_name)
      : no(group_no),
        name(std::move(group_name)),
        label(base::Cat("key group '", name, "' (", no, ")")) {}

  const uint32_t no;
  const std::string name;
  const std::string label;  // for messages
  KekMode mode = KekMode::kSymmetric;  // set before the group is published, then constant

  // Held for every record write of the group, and across the KMS calls of rotation and
  // re-wrap, so records are written one at a time from a consistent state. Persisted fields
  // (state, created, reserved, wrapped, the fingerprint key record) change only with both
  // mutexes held.
  absl::Mutex write_mu ABSL_ACQUIRED_BEFORE(mu);
  mutable absl::Mutex mu;
  FingerprintKeyRecord fpk_record ABSL_GUARDED_BY(mu);
  std::shared_ptr<const crypto::FingerprintKey> fpk ABSL_GUARDED_BY(mu);
  // Public groups: the host-sealed fingerprint key record's value, or empty (issue 17).
  std::string host_fpk_value ABSL_GUARDED_BY(mu);
  std::map<uint32_t, KekEntry> keks ABSL_GUARDED_BY(mu);
  uint32_t active ABSL_GUARDED_BY(mu) = 0;
  // Set when a due rotation failed because the KMS was unreachable.
  absl::Time rotation_retry_after ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  // kek_mode "public": the batch id allocator (next_batch_id changes only under write_mu).
  uint64_t next_batch_id ABSL_GUARDED_BY(mu) = 1;
  uint64_t batch_reserved_end ABSL_GUARDED_BY(mu) = 1;
  // Reads of batched DEKs: private halves and opened batch keys, each until `expires`.
  struct CachedPrivate {
    std::shared_ptr<const crypto::KekPrivateKey> key;
    absl::Time expires;
  };
  struct CachedBatch {
    std::shared_ptr<const crypto::BatchKey> key;
    uint32_t kek_id = 0;
    absl::Time expires;
  };
  std::map<uint32_t, CachedPrivate> private_cache ABSL_GUARDED_BY(mu);
  std::map<uint64_t, CachedBatch> batch_cache ABSL_GUARDED_BY(mu);
  // The batch slots of live DekBatchers (HeldKeyMaterial, the sweeper); dead ones pruned.
  std::vector<std::weak_ptr<OpenBatchSlot>> open_slots ABSL_GUARDED_BY(mu);
};

struct KeyDictionary::OpenBatchSlot {
  absl::Mutex mu;
  std::shared_ptr<const crypto::BatchKey> key ABSL_GUARDED_BY(mu);  // null: no batch open
  absl::Time opened ABSL_GUARDED_BY(mu);
};

absl::StatusOr<std::unique_ptr<KeyDictionary>> KeyDictionary::Create(
    RootKeyProvider* provider, std::string pool_id, KeyRecordWriter writer,
    KeyRecordDeleter deleter, KeyDictionaryOptions options) {
  if (provider == nullptr) return absl::InvalidArgumentError("key dictionary: no root key provider");
  if (pool_id.empty()) return absl::InvalidArgumentError("key dictionary: empty pool id");
  if (!writer || !deleter) {
    return absl::InvalidArgumentError("key dictionary: a record writer and deleter are required");
  }
  if (!options.clock) return absl::InvalidArgumentError("key dictionary: no clock");
  if (options.kek_max_deks == 0 || options.dek_count_checkpoint == 0 ||
      options.kek_max_age <= absl::ZeroDuration() ||
      options.rotation_retry_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "key dictionary: kek_max_deks, dek_count_checkpoint, kek_max_age and "
        "rotation_retry_interval must be positive");
  }
  return std::unique_ptr<KeyDictionary>(new KeyDictionary(
      provider, std::move(pool_id), std::move(writer), std::move(deleter), std::move(options)));
}

KeyDictionary::KeyDictionary(RootKeyProvider* provider, std::string pool_id,
                             KeyRecordWriter writer, KeyRecordDeleter deleter,
                             KeyDictionaryOptions options)
    : provider_(provider),
      pool_id_(std::move(pool_id)),
      writer_(std::move(writer)),
      deleter_(std::move(deleter)),
      options_(std::move(options)) {}

KeyDictionary::~KeyDictionary() {
  {
    absl::MutexLock lock(&sweeper_mu_);
    sweeper_stop_ = true;
  }
  if (sweeper_.joinable()) sweeper_.join();
}

void KeyDictionary::SetRecordReader(KeyRecordReader reader) { reader_ = std::move(reader); }

void KeyDictionary::StartSweeper() {
  absl::MutexLock lock(&sweeper_mu_);
  if (sweeper_started_ || sweeper_stop_) return;
  sweeper_started_ = true;
  const absl::Duration period =
      std::clamp(std::min(options_.private_key_cache_ttl, options_.batch_max_age) / 4,
                 absl::Milliseconds(10), absl::Seconds(30));
  sweeper_ = std::thread([this, period] {
    absl::MutexLock l(&sweeper_mu_);
    while (!sweeper_stop_) {
      sweeper_mu_.AwaitWithTimeout(absl::Condition(&sweeper_stop_), period);
      if (sweeper_stop_) break;
      sweeper_mu_.Unlock();
      ExpireCachedKeys();
      sweeper_mu_.Lock();
    }
  });
}

void KeyDictionary::ExpireCachedKeys() {
  std::vector<std::shared_ptr<Group>> groups;
  {
    absl::ReaderMutexLock lock(&groups_mu_);
    for (const auto& [no, g] : groups_) groups.push_back(g);
  }
  const absl::Time now = options_.clock();
  for (const auto& g : groups) {
    std::vector<std::shared_ptr<OpenBatchSlot>> slots;
    {
      absl::MutexLock lock(&g->mu);
      std::erase_if(g->private_cache, [now](const auto& kv) { return kv.second.expires <= now; });
      std::erase_if(g->batch_cache, [now](const auto& kv) { return kv.second.expires <= now; });
      std::erase_if(g->open_slots, [](const auto& w) { return w.expired(); });
      for (const auto& w : g->open_slots) {
        if (auto slot = w.lock()) slots.push_back(std::move(slot));
      }
    }
    // A batch open longer than batch_max_age closes even when its writer idles.
    for (const auto& slot : slots) {
      absl::MutexLock lock(&slot->mu);
      if (slot->key != nullptr && now - slot->opened >= options_.batch_max_age) slot->key.reset();
    }
  }
}

KeyDictionary::CachedKeyCounts KeyDictionary::CachedKeys(uint32_t group_no) const {
  absl::StatusOr<std::shared_ptr<Group>> group = FindGroup(group_no);
  if (!group.ok()) return {};
  absl::ReaderMutexLock lock(&(*group)->mu);
  return {(*group)->private_cache.size(), (*group)->batch_cache.size()};
}

absl::StatusOr<std::shared_ptr<KeyDictionary::Group>> KeyDictionary::FindGroup(
    uint32_t group_no) const {
  absl::ReaderMutexLock lock(&groups_mu_);
  auto it = groups_.find(group_no);
  if (it == groups_.end()) {
    return absl::NotFoundError(base::Cat("key group ", group_no, " is not in the key dictionary"));
  }
  return it->second;
}

bool KeyDictionary::HasGroup(uint32_t group_no) const {
  absl::ReaderMutexLock lock(&groups_mu_);
  return groups_.contains(group_no);
}

absl::Status KeyDictionary::CreateGroup(uint32_t group_no, std::string group_name,
                                        KekMode mode) {
  SEALPOOL_RETURN_IF_ERROR(ValidateGroupName(group_name));
  absl::MutexLock create_lock(&create_mu_);
  {
    absl::ReaderMutexLock lock(&groups_mu_);
    if (groups_.contains(group_no)) {
      return absl::AlreadyExistsError(base::Cat("key group ", group_no, " already exists"));
    }
    for (const auto& [no, g] : groups_) {
      if (g->name == group_name) {
        return absl::AlreadyExistsError(
            base::Cat("key group name '", group_name, "' is already used by key group ", no));
      }
    }
  }
  auto group = std::make_shared<Group>(group_no, std::move(group_name));
  group->mode = mode;
  const int64_t now = absl::ToUnixMicros(options_.clock());

  SEALPOOL_ASSIGN_OR_RETURN(crypto::FingerprintKey fpk, crypto::FingerprintKey::Generate());
  absl::StatusOr<WrappedKey> fpk_wrapped =
      provider_->Wrap(group->name, kFingerprintKeyId, fpk.RevealSecret());
  if (!fpk_wrapped.ok()) {
    return base::Annotate(fpk_wrapped.status(),
                          base::Cat(group->label, ": cannot wrap the new fingerprint key"));
  }
  std::optional<crypto::Kek> kek;
  KekEntry entry;
  if (mode == KekMode::kPublic) {
    SEALPOOL_ASSIGN_OR_RETURN(entry, NewKekPair(*group, 1, now));
  } else {
    SEALPOOL_ASSIGN_OR_RETURN(kek, crypto::Kek::Generate());
    absl::StatusOr<WrappedKey> kek_wrapped =
        provider_->Wrap(group->name, KekKeyId(1), kek->RevealSecret());
    if (!kek_wrapped.ok()) {
      return base::Annotate(kek_wrapped.status(), base::Cat(group->label, ": cannot wrap KEK 1"));
    }
    entry.state = KekState::kActive;
    entry.created_unix_micros = now;
    entry.reserved = options_.dek_count_checkpoint;
    entry.wrapped = *std::move(kek_wrapped);
  }

  FingerprintKeyRecord fpk_record;
  fpk_record.created_unix_micros = now;
  fpk_record.wrapped = *std::move(fpk_wrapped);
  SEALPOOL_ASSIGN_OR_RETURN(std::string fpk_value, fpk_record.Encode());
  SEALPOOL_ASSIGN_OR_RETURN(std::string kek_value, entry.EncodeRecord(1));

  std::string host_value;
  if (mode == KekMode::kPublic && options_.host_key != nullptr) {
    SEALPOOL_ASSIGN_OR_RETURN(host_value,
                              SealHostFingerprintKey(*options_.host_key, pool_id_, group_no, fpk));
  }

  const std::string fpk_key = FingerprintKeyRecordKey(group_no);
  SEALPOOL_RETURN_IF_ERROR(base::Annotate(
      writer_(fpk_key, fpk_value), base::Cat(group->label, ": writing the fingerprint key record")));
  if (!host_value.empty()) {
    absl::Status host_written = writer_(HostSealedFpkRecordKey(group_no), host_value);
    if (!host_written.ok()) {
      (void)deleter_(fpk_key);  // best effort: the caller sees the write error
      return base::Annotate(host_written,
                            base::Cat(group->label, ": writing the host-sealed fingerprint key"));
    }
  }
  absl::Status written = writer_(KekRecordKey(group_no, 1), kek_value);
  if (!written.ok()) {
    (void)deleter_(fpk_key);  // best effort: the caller sees the write error
    if (!host_value.empty()) (void)deleter_(HostSealedFpkRecordKey(group_no));
    return base::Annotate(written, base::Cat(group->label, ": writing the record of KEK 1"));
  }

  if (kek.has_value()) entry.kek = std::make_shared<const crypto::Kek>(*std::move(kek));
  {
    absl::MutexLock lock(&group->mu);
    group->fpk_record = std::move(fpk_record);
    group->fpk = std::make_shared<const crypto::FingerprintKey>(std::move(fpk));
    group->host_fpk_value = std::move(host_value);
    group->keks.emplace(1, std::move(entry));
    group->active = 1;
  }
  absl::MutexLock lock(&groups_mu_);
  groups_.emplace(group_no, std::move(group));
  return absl::OkStatus();
}

absl::Status KeyDictionary::LoadGroup(
    uint32_t group_no, std::string group_name,
    std::span<const std::pair<std::string, std::string>> records) {
  SEALPOOL_RETURN_IF_ERROR(ValidateGroupName(group_name));
  absl::MutexLock create_lock(&create_mu_);
  {
    absl::ReaderMutexLock lock(&groups_mu_);
    if (groups_.contains(group_no)) {
      return absl::AlreadyExistsError(base::Cat("key group ", group_no, " is already loaded"));
    }
    for (const auto& [no, g] : groups_) {
      if (g->name == group_name) {
        return absl::AlreadyExistsError(
            base::Cat("key group name '", group_name, "' is already used by key group ", no));
      }
    }
  }
  auto group = std::make_shared<Group>(group_no, std::move(group_name));
  const std::string& label = group->label;

  std::optional<FingerprintKeyRecord> fpk_record;
  std::optional<std::string> host_fpk_value;
  std::optional<BatchAllocatorRecord> allocator;
  std::map<uint32_t, KekEntry> keks;
  bool saw_pair = false;
  for (const auto& [key, value] : records) {
    if (IsHostSealedFpkRecordKey(key)) {  // issue 17; opened on first use
      if (key != HostSealedFpkRecordKey(group_no) || host_fpk_value.has_value()) {
        return absl::DataLossError(base::Cat(
            label, ": a host-sealed fingerprint key record of another group, or a second one"));
      }
      host_fpk_value = value;
      continue;
    }
    const std::string what = base::Cat(label, ": record ", DescribeKeyRecordKey(key));
    absl::StatusOr<KeyRecordKey> parsed = DecodeKeyRecordKey(key);
    if (!parsed.ok()) return base::Annotate(parsed.status(), label);
    if (parsed->group_no != group_no) {
      return absl::InvalidArgumentError(
          base::Cat(what, " belongs to key group ", parsed->group_no));
    }
    if (parsed->kind == KeyRecordKind::kFingerprintKey) {
      if (fpk_record.has_value()) return absl::DataLossError(base::Cat(what, " appears twice"));
      absl::StatusOr<FingerprintKeyRecord> rec = FingerprintKeyRecord::Decode(value);
      if (!rec.ok()) return base::Annotate(rec.status(), what);
      fpk_record = *std::move(rec);
      continue;
    }
    // Batch records are read on demand (the read path), not held: skipped here.
    if (parsed->kind == KeyRecordKind::kBatch) continue;
    if (parsed->kind == KeyRecordKind::kBatchAllocator) {
      if (allocator.has_value()) return absl::DataLossError(base::Cat(what, " appears twice"));
      absl::StatusOr<BatchAllocatorRecord> rec = BatchAllocatorRecord::Decode(value);
      if (!rec.ok()) return base::Annotate(rec.status(), what);
      allocator = *rec;
      continue;
    }
    absl::StatusOr<uint8_t> kind = PeekKeyRecordKind(value);
    if (!kind.ok()) return base::Annotate(kind.status(), what);
    const bool pair = *kind == kKeyRecordKindKekPair;
    if (!keks.empty() && pair != saw_pair) {
      return absl::DataLossError(base::Cat(
          what, pair ? " is a KEK pair in a group of symmetric KEKs"
                     : " is a symmetric KEK in a group of KEK pairs (kek_mode \"public\")"));
    }
    saw_pair = pair;
    KekEntry entry;
    uint32_t kek_id = 0;
    if (pair) {
      absl::StatusOr<KekPairRecord> rec = KekPairRecord::Decode(value);
      if (!rec.ok()) return base::Annotate(rec.status(), what);
      kek_id = rec->kek_id;
      entry.state = rec->state;
      entry.created_unix_micros = rec->created_unix_micros;
      entry.dek_count = rec->dek_count;
      entry.reserved = rec->dek_count;
      entry.wrapped = std::move(rec->wrapped);
      entry.public_key = rec->public_key;
    } else {
      absl::StatusOr<KekRecord> rec = KekRecord::Decode(value);
      if (!rec.ok()) return base::Annotate(rec.status(), what);
      kek_id = rec->kek_id;
      entry.state = rec->state;
      entry.created_unix_micros = rec->created_unix_micros;
      entry.dek_count = rec->dek_count;
      entry.reserved = rec->dek_count;
      entry.wrapped = std::move(rec->wrapped);
    }
    if (kek_id != parsed->kek_id) {
      return absl::DataLossError(base::Cat(what, " holds the record of KEK ", kek_id));
    }
    if (keks.contains(kek_id)) return absl::DataLossError(base::Cat(what, " appears twice"));
    keks.emplace(kek_id, std::move(entry));
  }
  if (!fpk_record.has_value()) {
    return absl::DataLossError(base::Cat(label, ": the fingerprint key record is missing"));
  }
  // The active KEK: the highest active id. A crash during rotation can leave the previous one
  // marked active too; it is inactive from now on (and written so with its next record write).
  uint32_t active = 0;
  bool have_active = false;
  for (auto it = keks.rbegin(); it != keks.rend(); ++it) {
    if (it->second.state != KekState::kActive) continue;
    if (!have_active) {
      active = it->first;
      have_active = true;
    } else {
      it->second.state = KekState::kInactive;
    }
  }
  if (!have_active) {
    return absl::DataLossError(base::Cat(label, keks.empty() ? ": no KEK record"
                                                             : ": no KEK record is active"));
  }
  group->mode = saw_pair ? KekMode::kPublic : KekMode::kSymmetric;
  if (host_fpk_value.has_value() && group->mode != KekMode::kPublic) {
    return absl::DataLossError(base::Cat(
        label, ": a host-sealed fingerprint key record in a group of symmetric KEKs"));
  }
  {
    absl::MutexLock lock(&group->mu);
    if (allocator.has_value()) {
      // Ids below reserved_end may have been handed out before the restart: never again.
      group->next_batch_id = allocator->reserved_end;
      group->batch_reserved_end = allocator->reserved_end;
    }
    group->fpk_record = *std::move(fpk_record);
    group->host_fpk_value = host_fpk_value.value_or("");
    group->keks = std::move(keks);
    group->active = active;
  }
  absl::MutexLock lock(&groups_mu_);
  groups_.emplace(group_no, std::move(group));
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const crypto::Kek>> KeyDictionary::GetKek(Group& group,
                                                                         uint32_t kek_id) {
  WrappedKey wrapped;
  {
    absl::ReaderMutexLock lock(&group.mu);
    auto it = group.keks.find(kek_id);
    if (it == group.keks.end()) {
      return absl::NotFoundError(base::Cat(group.label, ": no KEK ", kek_id));
    }
    if (it->second.kek) return it->second.kek;
    if (it->second.public_key.has_value()) {
      return absl::FailedPreconditionError(base::Cat(
          group.label, ": KEK ", kek_id,
          " is a KEK pair (kek_mode \"public\"): DEKs under it are wrapped by batch keys "
          "(UnwrapDek with a batch id)"));
    }
    wrapped = it->second.wrapped;
  }
  // The KMS call runs without a lock: other keys of the group stay usable meanwhile.
  absl::StatusOr<crypto::SecretBytes> secret =
      provider_->Unwrap(group.name, KekKeyId(kek_id), wrapped);
  if (!secret.ok()) {
    return base::Annotate(secret.status(),
                          base::Cat(group.label, ": KEK ", kek_id,
                                    " is not in memory and cannot be unwrapped (root key '",
                                    wrapped.root_key_id, "')"));
  }
  absl::StatusOr<crypto::Kek> kek = crypto::Kek::FromBytes(secret->span());
  if (!kek.ok()) {
    return absl::DataLossError(
        base::Cat(group.label, ": KEK ", kek_id, " unwraps to a secret of the wrong size"));
  }
  absl::MutexLock lock(&group.mu);
  auto it = group.keks.find(kek_id);
  if (it == group.keks.end()) {
    return absl::NotFoundError(base::Cat(group.label, ": no KEK ", kek_id));
  }
  if (!it->second.kek) it->second.kek = std::make_shared<const crypto::Kek>(*std::move(kek));
  return it->second.kek;
}

absl::StatusOr<std::shared_ptr<const crypto::FingerprintKey>> KeyDictionary::GetFingerprintKey(
    Group& group) {
  WrappedKey wrapped;
  std::string host_value;
  {
    absl::ReaderMutexLock lock(&group.mu);
    if (group.fpk) return group.fpk;
    wrapped = group.fpk_record.wrapped;
    host_value = group.host_fpk_value;
  }
  // Issue 17: a public group opens its host-sealed copy, with no KMS call.
  const bool host_copy = group.mode == KekMode::kPublic && options_.host_key != nullptr;
  absl::Status host_error = absl::OkStatus();
  if (host_copy && !host_value.empty()) {
    absl::StatusOr<crypto::FingerprintKey> fpk =
        OpenHostFingerprintKey(*options_.host_key, pool_id_, group.no, host_value);
    if (fpk.ok()) {
      absl::MutexLock lock(&group.mu);
      if (!group.fpk) group.fpk = std::make_shared<const crypto::FingerprintKey>(*std::move(fpk));
      return group.fpk;
    }
    host_error = fpk.status();
  }
  absl::StatusOr<crypto::SecretBytes> secret =
      provider_->Unwrap(group.name, kFingerprintKeyId, wrapped);
  if (!secret.ok()) {
    std::string why = base::Cat(group.label,
                                ": the fingerprint key is not in memory and cannot be unwrapped ",
                                "(root key '", wrapped.root_key_id, "')");
    if (!host_error.ok()) why = base::Cat(why, "; its host-sealed copy: ", host_error.message());
    return base::Annotate(secret.status(), why);
  }
  absl::StatusOr<crypto::FingerprintKey> fpk = crypto::FingerprintKey::FromBytes(secret->span());
  if (!fpk.ok()) {
    return absl::DataLossError(
        base::Cat(group.label, ": the fingerprint key unwraps to a secret of the wrong size"));
  }
  if (host_copy && (host_value.empty() || !host_error.ok())) {
    // The first unwrap through the KMS (or a new host key): seal the host copy now.
    absl::StatusOr<std::string> sealed =
        SealHostFingerprintKey(*options_.host_key, pool_id_, group.no, *fpk);
    if (!sealed.ok()) return base::Annotate(sealed.status(), group.label);
    absl::MutexLock write_lock(&group.write_mu);
    SEALPOOL_RETURN_IF_ERROR(
        base::Annotate(writer_(HostSealedFpkRecordKey(group.no), *sealed),
                       base::Cat(group.label, ": writing the host-sealed fingerprint key")));
    absl::MutexLock lock(&group.mu);
    group.host_fpk_value = *std::move(sealed);
  }
  absl::MutexLock lock(&group.mu);
  if (!group.fpk) group.fpk = std::make_shared<const crypto::FingerprintKey>(*std::move(fpk));
  return group.fpk;
}

absl::StatusOr<bool> KeyDictionary::FingerprintKeyWithoutKms(uint32_t group_no) const {
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(group_no));
  absl::ReaderMutexLock lock(&group->mu);
  if (group->fpk) return true;
  return group->mode == KekMode::kPublic && options_.host_key != nullptr &&
         !group->host_fpk_value.empty();
}

absl::StatusOr<crypto::FingerprintKey> KeyDictionary::FingerprintKey(uint32_t group_no) {
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(group_no));
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<const crypto::FingerprintKey> fpk,
                            GetFingerprintKey(*group));
  return fpk->Clone();
}

bool KeyDictionary::RotationDue(const KekEntry& entry, absl::Time now) const {
  return entry.dek_count >= options_.kek_max_deks ||
         now - FromMicros(entry.created_unix_micros) >= options_.kek_max_age;
}

absl::Status KeyDictionary::PersistKek(const Group& group, uint32_t kek_id,
                                       const KekEntry& entry) {
  SEALPOOL_ASSIGN_OR_RETURN(std::string value, entry.EncodeRecord(kek_id));
  return base::Annotate(writer_(KekRecordKey(group.no, kek_id), value),
                        base::Cat(group.label, ": writing the record of KEK ", kek_id));
}

absl::Status KeyDictionary::Checkpoint(Group& group, uint32_t kek_id) {
  absl::MutexLock write_lock(&group.write_mu);
  KekEntry snapshot;
  {
    absl::ReaderMutexLock lock(&group.mu);
    auto it = group.keks.find(kek_id);
    if (it == group.keks.end()) {
      return absl::NotFoundError(base::Cat(group.label, ": no KEK ", kek_id));
    }
    if (it->second.dek_count < it->second.reserved) return absl::OkStatus();  // done meanwhile
    snapshot = it->second.Snapshot();
    // Nobody counts past `reserved`, so dek_count cannot move until `reserved` does.
    snapshot.reserved = it->second.dek_count + options_.dek_count_checkpoint;
  }
  SEALPOOL_RETURN_IF_ERROR(PersistKek(group, kek_id, snapshot));
  absl::MutexLock lock(&group.mu);
  group.keks.at(kek_id).reserved = snapshot.reserved;  // DropKek needs write_mu: still there
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> KeyDictionary::Rotate(Group& group, bool only_if_due) {
  absl::MutexLock write_lock(&group.write_mu);
  const absl::Time now = options_.clock();
  uint32_t old_id = 0;
  uint32_t new_id = 0;
  KekEntry old_snapshot;
  {
    absl::ReaderMutexLock lock(&group.mu);
    old_id = group.active;
    const KekEntry& old = group.keks.at(old_id);
    // Not due any more (another thread rotated), or a failed attempt's retry time not reached.
    if (only_if_due && (!RotationDue(old, now) || now < group.rotation_retry_after)) {
      return old_id;
    }
    const uint32_t newest = group.keks.rbegin()->first;
    if (newest == std::numeric_limits<uint32_t>::max()) {
      return absl::ResourceExhaustedError(base::Cat(group.label, ": KEK ids exhausted"));
    }
    new_id = newest + 1;
    old_snapshot = old.Snapshot();
    old_snapshot.state = KekState::kInactive;
  }
  std::optional<crypto::Kek> kek;
  absl::StatusOr<KekEntry> created;
  if (group.mode == KekMode::kPublic) {
    created = NewKekPair(group, new_id, absl::ToUnixMicros(now));
  } else {
    absl::StatusOr<crypto::Kek> generated = crypto::Kek::Generate();
    if (!generated.ok()) return generated.status();
    kek = *std::move(generated);
    absl::StatusOr<WrappedKey> wrapped =
        provider_->Wrap(group.name, KekKeyId(new_id), kek->RevealSecret());
    if (wrapped.ok()) {
      KekEntry e;
      e.state = KekState::kActive;
      e.created_unix_micros = absl::ToUnixMicros(now);
      e.reserved = options_.dek_count_checkpoint;
      e.wrapped = *std::move(wrapped);
      created = std::move(e);
    } else {
      created = base::Annotate(wrapped.status(),
                               base::Cat(group.label, ": cannot wrap the new KEK ", new_id));
    }
  }
  if (!created.ok()) {
    if (only_if_due && Transient(created.status())) {
      // The KMS is unreachable: WrapDek goes on under the current KEK until the retry time.
      absl::MutexLock lock(&group.mu);
      group.rotation_retry_after = now + options_.rotation_retry_interval;
    }
    return created.status();
  }
  KekEntry entry = *std::move(created);
  SEALPOOL_RETURN_IF_ERROR(PersistKek(group, new_id, entry));
  // From here the new KEK is the active one on disk (the highest active id wins at load), so
  // memory follows even if marking the old record inactive fails.
  const absl::Status old_written = PersistKek(group, old_id, old_snapshot);
  if (kek.has_value()) entry.kek = std::make_shared<const crypto::Kek>(*std::move(kek));
  {
    absl::MutexLock lock(&group.mu);
    group.keks.at(old_id).state = KekState::kInactive;
    group.keks.emplace(new_id, std::move(entry));
    group.active = new_id;
    group.rotation_retry_after = absl::InfinitePast();
  }
  SEALPOOL_RETURN_IF_ERROR(old_written);
  return new_id;
}

absl::StatusOr<uint32_t> KeyDictionary::Reserve(Group& group, bool rotate, uint32_t kek_id,
                                                std::shared_ptr<const crypto::Kek>* kek) {
  enum class Need { kRotate, kUnwrap, kCheckpoint };
  for (;;) {
    const absl::Time now = options_.clock();
    Need need = Need::kCheckpoint;
    uint32_t id = kek_id;
    {
      absl::MutexLock lock(&group.mu);
      if (rotate) id = group.active;
      auto it = group.keks.find(id);
      if (it == group.keks.end()) {
        return absl::NotFoundError(base::Cat(group.label, ": no KEK ", id));
      }
      KekEntry& entry = it->second;
      const bool pair = entry.public_key.has_value();
      if (rotate && now >= group.rotation_retry_after && RotationDue(entry, now)) {
        need = Need::kRotate;
      } else if (!pair && !entry.kek) {
        need = Need::kUnwrap;
      } else if (entry.dek_count >= entry.reserved) {
        need = Need::kCheckpoint;
      } else {
        ++entry.dek_count;
        if (kek != nullptr) *kek = entry.kek;
        return id;
      }
    }
    switch (need) {
      case Need::kRotate: {
        absl::StatusOr<uint32_t> rotated = Rotate(group, /*only_if_due=*/true);
        if (!rotated.ok()) {
          if (!Transient(rotated.status())) return rotated.status();
          // Unreachable KMS: Rotate set a retry time and the next round uses the current KEK.
          // Any other transient failure (the catalog) is returned rather than retried.
          absl::MutexLock lock(&group.mu);
          if (group.rotation_retry_after <= now) return rotated.status();
        }
        break;
      }
      case Need::kUnwrap:
        SEALPOOL_RETURN_IF_ERROR(GetKek(group, id).status());
        break;
      case Need::kCheckpoint:
        SEALPOOL_RETURN_IF_ERROR(Checkpoint(group, id));
        break;
    }
  }
}

absl::StatusOr<KeyDictionary::WrappedDekResult> KeyDictionary::WrapUnder(Group& group,
                                                                         bool rotate,
                                                                         uint32_t kek_id,
                                                                         const crypto::Dek& dek) {
  if (group.mode == KekMode::kPublic) {
    return absl::FailedPreconditionError(base::Cat(
        group.label, " has kek_mode \"public\": its DEKs are wrapped by batch keys sealed to "
        "its KEK pair (KeyDictionary::DekBatcher), not by the KEK"));
  }
  std::shared_ptr<const crypto::Kek> kek;
  SEALPOOL_ASSIGN_OR_RETURN(uint32_t id, Reserve(group, rotate, kek_id, &kek));
  absl::StatusOr<crypto::WrappedDek> wrapped = crypto::WrapDek(*kek, dek);
  if (!wrapped.ok()) {
    return base::Annotate(wrapped.status(),
                          base::Cat(group.label, ": wrapping a DEK under KEK ", id));
  }
  return WrappedDekResult{id, *wrapped};
}

absl::StatusOr<KeyDictionary::WrappedDekResult> KeyDictionary::WrapDek(uint32_t group_no,
                                                                       const crypto::Dek& dek) {
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(group_no));
  return WrapUnder(*group, /*rotate=*/true, 0, dek);
}

absl::StatusOr<crypto::WrappedDek> KeyDictionary::WrapDekUnder(uint32_t group_no, uint32_t kek_id,
                                                               const crypto::Dek& dek) {
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(group_no));
  SEALPOOL_ASSIGN_OR_RETURN(WrappedDekResult result,
                            WrapUnder(*group, /*rotate=*/false, kek_id, dek));
  return result.wrapped;
}

absl::StatusOr<crypto::Dek> KeyDictionary::UnwrapDek(uint32_t group_no, uint32_t kek_id,
                                                     std::span<const uint8_t> wrapped) {
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(group_no));
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<const crypto::Kek> kek, GetKek(*group, kek_id));
  absl::StatusOr<crypto::Dek> dek = crypto::UnwrapDek(*kek, wrapped);
  if (!dek.ok()) {
    return base::Annotate(dek.status(),
                          base::Cat(group->label, ": unwrapping a DEK under KEK ", kek_id));
  }
  return dek;
}

absl::StatusOr<uint32_t> KeyDictionary::RotateKek(uint32_t group_no) {
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(group_no));
  return Rotate(*group, /*only_if_due=*/false);
}

absl::StatusOr<uint32_t> KeyDictionary::RewrapGroupKeys(uint32_t group_no) {
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(group_no));
  Group& g = *group;
  absl::MutexLock write_lock(&g.write_mu);
  absl::StatusOr<std::string> active_root = provider_->ActiveRootKeyId(g.name);
  if (!active_root.ok()) {
    return base::Annotate(active_root.status(),
                          base::Cat(g.label, ": asking for the active root key"));
  }
  if (active_root->empty()) {
    return absl::FailedPreconditionError(
        base::Cat(g.label, ": the key group has no active root key to re-wrap under"));
  }

  // Wraps `key_id`'s secret (from memory, or else UnwrapForRewrap of `old`) anew.
  // For a KEK pair (`public_key` set) the unwrapped private half must give the record's public
  // half, so a re-wrap never blesses a substituted public key.
  auto rewrap = [&](std::string_view key_id, std::span<const uint8_t> in_memory,
                    const WrappedKey& old,
                    const std::optional<crypto::KekPublicKey>& public_key =
                        std::nullopt) -> absl::StatusOr<WrappedKey> {
    crypto::SecretBytes unwrapped;
    std::span<const uint8_t> secret = in_memory;
    if (secret.empty()) {
      absl::StatusOr<crypto::SecretBytes> s = provider_->UnwrapForRewrap(g.name, key_id, old);
      if (!s.ok()) {
        return base::Annotate(s.status(), base::Cat(g.label, ": cannot unwrap ", key_id,
                                                    " (root key '", old.root_key_id,
                                                    "') to re-wrap it"));
      }
      if (s->size() != crypto::Kek::kSize) {
        return absl::DataLossError(
            base::Cat(g.label, ": ", key_id, " unwraps to a secret of the wrong size"));
      }
      unwrapped = *std::move(s);
      secret = unwrapped.span();
    }
    if (public_key.has_value()) {
      SEALPOOL_ASSIGN_OR_RETURN(crypto::KekPrivateKey private_key,
                                crypto::KekPrivateKey::FromBytes(secret));
      SEALPOOL_ASSIGN_OR_RETURN(crypto::KekPublicKey derived,
                                crypto::DeriveKekPublicKey(private_key));
      if (derived != *public_key) {
        return absl::DataLossError(base::Cat(
            g.label, ": the public half of KEK pair ", key_id,
            " does not match its private half in the key service (substituted or damaged); "
            "not re-wrapped"));
      }
    }
    absl::StatusOr<WrappedKey> wrapped = provider_->Wrap(g.name, key_id, secret);
    if (!wrapped.ok()) {
      return base::Annotate(wrapped.status(), base::Cat(g.label, ": cannot re-wrap ", key_id));
    }
    return wrapped;
  };

  uint32_t rewrapped = 0;
  // The fingerprint key.
  {
    FingerprintKeyRecord rec;
    std::shared_ptr<const crypto::FingerprintKey> fpk;
    {
      absl::ReaderMutexLock lock(&g.mu);
      rec = g.fpk_record;
      fpk = g.fpk;
    }
    if (rec.wrapped.root_key_id != *active_root) {
      SEALPOOL_ASSIGN_OR_RETURN(
          rec.wrapped, rewrap(kFingerprintKeyId,
                              fpk ? fpk->RevealSecret() : std::span<const uint8_t>(), rec.wrapped));
      SEALPOOL_ASSIGN_OR_RETURN(std::string value, rec.Encode());
      SEALPOOL_RETURN_IF_ERROR(
          base::Annotate(writer_(FingerprintKeyRecordKey(g.no), value),
                         base::Cat(g.label, ": writing the fingerprint key record")));
      absl::MutexLock lock(&g.mu);
      g.fpk_record = std::move(rec);
      ++rewrapped;
    }
  }
  // Every KEK, oldest first.
  std::vector<uint32_t> ids;
  {
    absl::ReaderMutexLock lock(&g.mu);
    for (const auto& [id, entry] : g.keks) ids.push_back(id);
  }
  for (uint32_t id : ids) {
    KekEntry snapshot;
    {
      absl::ReaderMutexLock lock(&g.mu);
      const KekEntry& entry = g.keks.at(id);  // DropKek needs write_mu: still there
      if (entry.wrapped.root_key_id == *active_root) continue;
      snapshot = entry.Snapshot();
      snapshot.kek = entry.kek;
    }
    SEALPOOL_ASSIGN_OR_RETURN(
        snapshot.wrapped,
        rewrap(KekKeyId(id), snapshot.kek ? snapshot.kek->RevealSecret() : std::span<const uint8_t>(),
               snapshot.wrapped, snapshot.public_key));
    SEALPOOL_RETURN_IF_ERROR(PersistKek(g, id, snapshot));
    absl::MutexLock lock(&g.mu);
    g.keks.at(id).wrapped = std::move(snapshot.wrapped);
    ++rewrapped;
  }
  return rewrapped;
}

absl::Status KeyDictionary::DropKek(uint32_t group_no, uint32_t kek_id) {
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(group_no));
  absl::MutexLock write_lock(&group->write_mu);
  {
    absl::ReaderMutexLock lock(&group->mu);
    if (!group->keks.contains(kek_id)) {
      return absl::NotFoundError(base::Cat(group->label, ": no KEK ", kek_id));
    }
    if (group->active == kek_id) {
      return absl::FailedPreconditionError(
          base::Cat(group->label, ": KEK ", kek_id, " is the active KEK and cannot be dropped"));
    }
  }
  SEALPOOL_RETURN_IF_ERROR(
      base::Annotate(deleter_(KekRecordKey(group_no, kek_id)),
                     base::Cat(group->label, ": deleting the record of KEK ", kek_id)));
  absl::MutexLock lock(&group->mu);
  group->keks.erase(kek_id);
  group->private_cache.erase(kek_id);
  std::erase_if(group->batch_cache, [kek_id](const auto& kv) { return kv.second.kek_id == kek_id; });
  return absl::OkStatus();
}

absl::StatusOr<std::vector<KekInfo>> KeyDictionary::ListKeks(uint32_t group_no) const {
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(group_no));
  absl::ReaderMutexLock lock(&group->mu);
  std::vector<KekInfo> out;
  out.reserve(group->keks.size());
  for (const auto& [id, entry] : group->keks) {
    KekInfo info;
    info.kek_id = id;
    info.state = entry.state;
    info.root_key_id = entry.wrapped.root_key_id;
    info.created = FromMicros(entry.created_unix_micros);
    info.dek_count = entry.dek_count;
    info.unwrapped = entry.kek != nullptr;
    info.pair = entry.public_key.has_value();
    info.public_key = entry.public_key;
    out.push_back(std::move(info));
  }
  return out;
}

absl::StatusOr<std::vector<WrappedKeyRef>> KeyDictionary::ListWrappedKeys(
    uint32_t group_no) const {
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(group_no));
  absl::ReaderMutexLock lock(&group->mu);
  std::vector<WrappedKeyRef> out;
  out.reserve(group->keks.size() + 1);
  out.push_back({std::string(kFingerprintKeyId), group->fpk_record.wrapped.root_key_id});
  for (const auto& [id, entry] : group->keks) {
    std::string hash;
    if (entry.public_key.has_value()) {
      SEALPOOL_ASSIGN_OR_RETURN(hash, crypto::KekPublicKeySha256Hex(*entry.public_key));
    }
    out.push_back({KekKeyId(id), entry.wrapped.root_key_id, std::move(hash)});
  }
  return out;
}

absl::StatusOr<KekMode> KeyDictionary::GroupKekMode(uint32_t group_no) const {
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(group_no));
  return group->mode;
}

absl::StatusOr<KeyDictionary::ActivePublicKek> KeyDictionary::ActiveKekPublicKey(
    uint32_t group_no) const {
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(group_no));
  absl::ReaderMutexLock lock(&group->mu);
  const KekEntry& entry = group->keks.at(group->active);
  if (!entry.public_key.has_value()) {
    return absl::FailedPreconditionError(
        base::Cat(group->label, " has kek_mode \"symmetric\": no KEK pair"));
  }
  return ActivePublicKek{group->active, *entry.public_key};
}

absl::Status KeyDictionary::CheckPairThroughKms(const Group& group, uint32_t kek_id,
                                                const WrappedKey& wrapped,
                                                const crypto::KekPublicKey& public_key) {
  absl::StatusOr<crypto::SecretBytes> secret =
      provider_->Unwrap(group.name, KekKeyId(kek_id), wrapped);
  if (!secret.ok()) {
    return base::Annotate(secret.status(),
                          base::Cat(group.label, ": cannot unwrap the private half of KEK pair ",
                                    kek_id, " to check it (root key '", wrapped.root_key_id,
                                    "')"));
  }
  absl::StatusOr<crypto::KekPrivateKey> private_key =
      crypto::KekPrivateKey::FromBytes(secret->span());
  if (!private_key.ok()) {
    return absl::DataLossError(base::Cat(group.label, ": the private half of KEK pair ", kek_id,
                                         " unwraps to a secret of the wrong size"));
  }
  absl::StatusOr<crypto::KekPublicKey> derived = crypto::DeriveKekPublicKey(*private_key);
  if (!derived.ok()) return derived.status();
  if (*derived != public_key) {
    return absl::DataLossError(base::Cat(
        group.label, ": the public half of KEK pair ", kek_id,
        " does not match its private half in the key service (the public key in the catalog "
        "was substituted or damaged; do not write under it)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<KeyDictionary::KekEntry> KeyDictionary::NewKekPair(const Group& group,
                                                                  uint32_t kek_id,
                                                                  int64_t now_micros) {
  absl::StatusOr<crypto::KekPair> pair = crypto::GenerateKekPair();
  if (!pair.ok()) return pair.status();
  absl::StatusOr<WrappedKey> wrapped =
      provider_->Wrap(group.name, KekKeyId(kek_id), pair->private_key.RevealSecret());
  if (!wrapped.ok()) {
    return base::Annotate(wrapped.status(), base::Cat(group.label,
                                                      ": cannot wrap the private half of the "
                                                      "new KEK pair ", kek_id));
  }
  // The check of pair creation: what the key service hands back gives this public key.
  SEALPOOL_RETURN_IF_ERROR(CheckPairThroughKms(group, kek_id, *wrapped, pair->public_key));
  KekEntry entry;
  entry.state = KekState::kActive;
  entry.created_unix_micros = now_micros;
  entry.reserved = options_.dek_count_checkpoint;
  entry.wrapped = *std::move(wrapped);
  entry.public_key = pair->public_key;
  return entry;  // pair->private_key is wiped here
}

absl::Status KeyDictionary::VerifyKekPair(uint32_t group_no, uint32_t kek_id) {
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(group_no));
  WrappedKey wrapped;
  crypto::KekPublicKey public_key;
  {
    absl::ReaderMutexLock lock(&group->mu);
    auto it = group->keks.find(kek_id);
    if (it == group->keks.end()) {
      return absl::NotFoundError(base::Cat(group->label, ": no KEK ", kek_id));
    }
    if (!it->second.public_key.has_value()) {
      return absl::FailedPreconditionError(
          base::Cat(group->label, ": KEK ", kek_id, " is symmetric, not a KEK pair"));
    }
    wrapped = it->second.wrapped;
    public_key = *it->second.public_key;
  }
  return CheckPairThroughKms(*group, kek_id, wrapped, public_key);
}

void KeyDictionary::ForgetUnwrapped(uint32_t group_no) {
  absl::StatusOr<std::shared_ptr<Group>> group = FindGroup(group_no);
  if (!group.ok()) return;
  absl::MutexLock lock(&(*group)->mu);
  (*group)->fpk.reset();
  for (auto& [id, entry] : (*group)->keks) entry.kek.reset();
  (*group)->private_cache.clear();
  (*group)->batch_cache.clear();
}

// ---- DEK batches (kek_mode "public") ------------------------------------------------------

absl::StatusOr<std::vector<crypto::SecretBytes>> KeyDictionary::HeldKeyMaterial(
    uint32_t group_no) const {
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(group_no));
  std::vector<crypto::SecretBytes> out;
  auto add = [&out](std::span<const uint8_t> secret) -> absl::Status {
    SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes copy, crypto::SecretBytes::Allocate(secret.size()));
    std::copy(secret.begin(), secret.end(), copy.mutable_span().begin());
    out.push_back(std::move(copy));
    return absl::OkStatus();
  };
  absl::ReaderMutexLock lock(&group->mu);
  if (group->fpk) SEALPOOL_RETURN_IF_ERROR(add(group->fpk->RevealSecret()));
  for (const auto& [id, entry] : group->keks) {
    if (entry.kek) SEALPOOL_RETURN_IF_ERROR(add(entry.kek->RevealSecret()));
  }
  for (const auto& [id, c] : group->private_cache) SEALPOOL_RETURN_IF_ERROR(add(c.key->RevealSecret()));
  for (const auto& [id, c] : group->batch_cache) SEALPOOL_RETURN_IF_ERROR(add(c.key->RevealSecret()));
  for (const auto& weak : group->open_slots) {
    std::shared_ptr<OpenBatchSlot> slot = weak.lock();
    if (slot == nullptr) continue;
    absl::MutexLock slot_lock(&slot->mu);
    if (slot->key != nullptr) SEALPOOL_RETURN_IF_ERROR(add(slot->key->RevealSecret()));
  }
  return out;
}

absl::StatusOr<uint64_t> KeyDictionary::NextBatchId(Group& group) {
  absl::MutexLock write_lock(&group.write_mu);
  uint64_t next = 0;
  uint64_t end = 0;
  {
    absl::ReaderMutexLock lock(&group.mu);
    next = group.next_batch_id;
    end = group.batch_reserved_end;
  }
  if (next >= end) {
    if (next > std::numeric_limits<uint64_t>::max() - options_.batch_id_block) {
      return absl::ResourceExhaustedError(base::Cat(group.label, ": DEK batch ids exhausted"));
    }
    BatchAllocatorRecord rec;
    rec.reserved_end = next + options_.batch_id_block;
    SEALPOOL_ASSIGN_OR_RETURN(std::string value, rec.Encode());
    SEALPOOL_RETURN_IF_ERROR(
        base::Annotate(writer_(BatchAllocatorRecordKey(group.no), value),
                       base::Cat(group.label, ": writing the batch id allocator record")));
    absl::MutexLock lock(&group.mu);
    group.batch_reserved_end = rec.reserved_end;
  }
  absl::MutexLock lock(&group.mu);
  return group.next_batch_id++;
}

absl::StatusOr<std::unique_ptr<KeyDictionary::DekBatcher>> KeyDictionary::NewDekBatcher(
    uint32_t group_no, std::optional<uint32_t> kek_id) {
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(group_no));
  if (kek_id.has_value()) {
    absl::ReaderMutexLock lock(&group->mu);
    if (!group->keks.contains(*kek_id)) {
      return absl::NotFoundError(base::Cat(group->label, ": no KEK ", *kek_id));
    }
  }
  auto batcher = std::unique_ptr<DekBatcher>(new DekBatcher(this, group, kek_id));
  if (group->mode == KekMode::kPublic) {
    absl::MutexLock lock(&group->mu);
    std::erase_if(group->open_slots, [](const auto& w) { return w.expired(); });
    group->open_slots.push_back(batcher->slot_);
  }
  return batcher;
}

KeyDictionary::DekBatcher::DekBatcher(KeyDictionary* dict, std::shared_ptr<Group> group,
                                      std::optional<uint32_t> kek)
    : dict_(dict),
      group_(std::move(group)),
      fixed_kek_(kek),
      slot_(std::make_shared<OpenBatchSlot>()) {}

KeyDictionary::DekBatcher::~DekBatcher() { Close(); }

void KeyDictionary::DekBatcher::Close() {
  absl::MutexLock lock(&mu_);
  absl::MutexLock slot_lock(&slot_->mu);
  slot_->key.reset();  // the BatchKey's SecretBytes wipes it (after a wrap still using it)
}

std::vector<uint64_t> KeyDictionary::DekBatcher::batches_opened() const {
  absl::MutexLock lock(&mu_);
  return opened_ids_;
}

absl::StatusOr<KeyDictionary::WrappedDekResult> KeyDictionary::DekBatcher::Wrap(
    const crypto::Dek& dek) {
  Group& g = *group_;
  if (g.mode != KekMode::kPublic) {
    return dict_->WrapUnder(g, /*rotate=*/!fixed_kek_.has_value(), fixed_kek_.value_or(0), dek);
  }
  absl::MutexLock lock(&mu_);
  const KeyDictionaryOptions& options = dict_->options_;
  const absl::Time now = options.clock();
  std::shared_ptr<const crypto::BatchKey> key_in_use;
  {
    absl::MutexLock slot_lock(&slot_->mu);
    if (slot_->key != nullptr &&
        (count_ >= options.batch_max_deks || now - slot_->opened >= options.batch_max_age)) {
      slot_->key.reset();
    }
    key_in_use = slot_->key;  // null also when the sweeper closed it
  }
  if (key_in_use == nullptr) {
    // Open a batch: the KEK pair (rotated first if due), a fresh id, a fresh key sealed to the
    // pair's public half, its record persisted before any DEK is wrapped under it.
    SEALPOOL_ASSIGN_OR_RETURN(
        uint32_t kek_id,
        dict_->Reserve(g, /*rotate=*/!fixed_kek_.has_value(), fixed_kek_.value_or(0), nullptr));
    crypto::KekPublicKey public_key{};
    {
      absl::ReaderMutexLock glock(&g.mu);
      auto it = g.keks.find(kek_id);
      if (it == g.keks.end() || !it->second.public_key.has_value()) {
        return absl::NotFoundError(base::Cat(g.label, ": no KEK pair ", kek_id));
      }
      public_key = *it->second.public_key;
    }
    SEALPOOL_ASSIGN_OR_RETURN(uint64_t batch_id, dict_->NextBatchId(g));
    SEALPOOL_ASSIGN_OR_RETURN(crypto::BatchKey key, crypto::BatchKey::Generate());
    const crypto::BatchBinding binding{dict_->pool_id_, g.no, kek_id, batch_id};
    absl::StatusOr<crypto::SealedBatchKey> sealed = crypto::SealBatchKey(public_key, key, binding);
    if (!sealed.ok()) {
      return base::Annotate(sealed.status(), base::Cat(g.label, ": sealing DEK batch ", batch_id,
                                                       " to KEK pair ", kek_id));
    }
    BatchRecord rec;
    rec.batch_id = batch_id;
    rec.kek_id = kek_id;
    rec.created_unix_micros = absl::ToUnixMicros(now);
    rec.sealed = *sealed;
    SEALPOOL_ASSIGN_OR_RETURN(std::string value, rec.Encode());
    {
      absl::MutexLock write_lock(&g.write_mu);  // the writer sees one group at a time
      SEALPOOL_RETURN_IF_ERROR(
          base::Annotate(dict_->writer_(BatchRecordKey(g.no, batch_id), value),
                         base::Cat(g.label, ": writing the record of DEK batch ", batch_id)));
    }
    key_in_use = std::make_shared<const crypto::BatchKey>(std::move(key));
    {
      absl::MutexLock slot_lock(&slot_->mu);
      slot_->key = key_in_use;
      slot_->opened = now;
    }
    batch_id_ = batch_id;
    kek_id_ = kek_id;
    count_ = 1;
    opened_ids_.push_back(batch_id);
    dict_->StartSweeper();  // closes the batch after batch_max_age if the writer idles
  } else {
    SEALPOOL_RETURN_IF_ERROR(dict_->Reserve(g, /*rotate=*/false, kek_id_, nullptr).status());
    ++count_;
  }
  absl::StatusOr<crypto::WrappedDek> wrapped = crypto::WrapDek(*key_in_use, dek);
  if (!wrapped.ok()) {
    return base::Annotate(wrapped.status(),
                          base::Cat(g.label, ": wrapping a DEK in DEK batch ", batch_id_));
  }
  return WrappedDekResult{kek_id_, *wrapped, batch_id_};
}

absl::StatusOr<std::shared_ptr<const crypto::BatchKey>> KeyDictionary::GetBatchKey(
    Group& g, uint32_t kek_id, uint64_t batch_id) {
  const absl::Time now = options_.clock();
  {
    absl::MutexLock lock(&g.mu);
    auto it = g.batch_cache.find(batch_id);
    if (it != g.batch_cache.end()) {
      if (it->second.expires > now && it->second.kek_id == kek_id) return it->second.key;
      if (it->second.expires <= now) g.batch_cache.erase(it);
    }
  }
  {
    // An unknown KEK first (NotFound): a reader racing a re-wrap that dropped it retries.
    absl::ReaderMutexLock lock(&g.mu);
    if (!g.keks.contains(kek_id)) {
      return absl::NotFoundError(base::Cat(g.label, ": no KEK ", kek_id));
    }
  }
  const std::string what = base::Cat(g.label, ": DEK batch ", batch_id);
  if (!reader_) return absl::FailedPreconditionError(base::Cat(what, ": no record reader"));
  absl::StatusOr<std::optional<std::string>> value = reader_(BatchRecordKey(g.no, batch_id));
  if (!value.ok()) return base::Annotate(value.status(), base::Cat(what, ": reading its record"));
  if (!value->has_value()) {
    return absl::DataLossError(base::Cat(what, ": its batch record is missing"));
  }
  absl::StatusOr<BatchRecord> rec = BatchRecord::Decode(**value);
  if (!rec.ok()) return base::Annotate(rec.status(), what);
  if (rec->batch_id != batch_id) {
    return absl::DataLossError(base::Cat(what, ": its record holds batch ", rec->batch_id));
  }
  if (rec->kek_id != kek_id) {
    return absl::DataLossError(base::Cat(what, " is sealed to KEK pair ", rec->kek_id,
                                         ", but the segment record names KEK ", kek_id));
  }
  std::shared_ptr<const crypto::KekPrivateKey> private_key;
  WrappedKey wrapped;
  crypto::KekPublicKey public_key{};
  {
    absl::MutexLock lock(&g.mu);
    auto it = g.keks.find(kek_id);
    if (it == g.keks.end()) return absl::NotFoundError(base::Cat(g.label, ": no KEK ", kek_id));
    if (!it->second.public_key.has_value()) {
      return absl::DataLossError(base::Cat(what, ": KEK ", kek_id, " is not a KEK pair"));
    }
    wrapped = it->second.wrapped;
    public_key = *it->second.public_key;
    auto pc = g.private_cache.find(kek_id);
    if (pc != g.private_cache.end()) {
      if (pc->second.expires > now) {
        private_key = pc->second.key;
      } else {
        g.private_cache.erase(pc);
      }
    }
  }
  if (private_key == nullptr) {
    absl::StatusOr<crypto::SecretBytes> secret =
        provider_->Unwrap(g.name, KekKeyId(kek_id), wrapped);
    if (!secret.ok()) {
      return base::Annotate(
          secret.status(),
          base::Cat(g.label, " has kek_mode \"public\": reading its data needs the KMS, to "
                    "unwrap the private half of KEK pair ", kek_id, " (root key '",
                    wrapped.root_key_id, "'); restores need the KMS reachable"));
    }
    absl::StatusOr<crypto::KekPrivateKey> key = crypto::KekPrivateKey::FromBytes(secret->span());
    if (!key.ok()) {
      return absl::DataLossError(base::Cat(g.label, ": the private half of KEK pair ", kek_id,
                                           " unwraps to a secret of the wrong size"));
    }
    SEALPOOL_ASSIGN_OR_RETURN(crypto::KekPublicKey derived, crypto::DeriveKekPublicKey(*key));
    if (derived != public_key) {
      return absl::DataLossError(base::Cat(
          g.label, ": the public half of KEK pair ", kek_id,
          " does not match its private half in the key service (substituted or damaged)"));
    }
    private_key = std::make_shared<const crypto::KekPrivateKey>(*std::move(key));
    {
      absl::MutexLock lock(&g.mu);
      g.private_cache[kek_id] = {private_key, now + options_.private_key_cache_ttl};
    }
    StartSweeper();
  }
  const crypto::BatchBinding binding{pool_id_, g.no, kek_id, batch_id};
  absl::StatusOr<crypto::BatchKey> opened = crypto::OpenBatchKey(*private_key, rec->sealed, binding);
  if (!opened.ok()) return base::Annotate(opened.status(), base::Cat(what, ": opening its key"));
  auto key = std::make_shared<const crypto::BatchKey>(*std::move(opened));
  absl::MutexLock lock(&g.mu);
  if (g.batch_cache.size() >= options_.batch_key_cache_entries && !g.batch_cache.empty()) {
    auto soonest = std::min_element(
        g.batch_cache.begin(), g.batch_cache.end(),
        [](const auto& a, const auto& b) { return a.second.expires < b.second.expires; });
    g.batch_cache.erase(soonest);
  }
  if (options_.batch_key_cache_entries > 0) {
    g.batch_cache[batch_id] = {key, kek_id, now + options_.private_key_cache_ttl};
  }
  return key;
}

absl::StatusOr<crypto::Dek> KeyDictionary::UnwrapDek(uint32_t group_no, uint32_t kek_id,
                                                     uint64_t batch_id,
                                                     std::span<const uint8_t> wrapped) {
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<Group> group, FindGroup(group_no));
  if (group->mode == KekMode::kSymmetric) {
    if (batch_id != 0) {
      return absl::DataLossError(base::Cat(group->label, ": a segment record names DEK batch ",
                                           batch_id, ", but the group's KEKs are symmetric"));
    }
    return UnwrapDek(group_no, kek_id, wrapped);
  }
  if (batch_id == 0) {
    return absl::DataLossError(base::Cat(group->label, " has kek_mode \"public\", but a "
                                         "segment record names no DEK batch"));
  }
  SEALPOOL_ASSIGN_OR_RETURN(std::shared_ptr<const crypto::BatchKey> key,
                            GetBatchKey(*group, kek_id, batch_id));
  absl::StatusOr<crypto::Dek> dek = crypto::UnwrapDek(*key, wrapped);
  if (!dek.ok()) {
    return base::Annotate(dek.status(), base::Cat(group->label, ": unwrapping a DEK in DEK batch ",
                                                  batch_id, " (KEK pair ", kek_id, ")"));
  }
  return dek;
}

}  // namespace sealpool::storage
