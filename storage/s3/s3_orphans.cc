#include "storage/s3/s3_orphans.h"

#include <map>
#include <optional>
#include <set>
#include <vector>

#include "absl/strings/escaping.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "storage/s3/s3_container_store.h"
#include "storage/s3/s3_lease.h"
#include "storage/s3/s3_record_text.h"

namespace sealpool::storage::s3 {
namespace {

using base::Cat;

constexpr std::string_view kIntentMagic = "sealpool-intent 1";

std::string Hex(const Id128& id) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

std::string Hex16(uint64_t id) {
  std::string name(16, '0');
  for (int i = 15; i >= 0; --i) {
    name[static_cast<size_t>(i)] = "0123456789abcdef"[id & 15];
    id >>= 4;
  }
  return name;
}

std::optional<uint64_t> ParseHex16(std::string_view name) {
  if (name.size() != 16) return std::nullopt;
  uint64_t v = 0;
  for (char c : name) {
    int d;
    if (c >= '0' && c <= '9') {
      d = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      d = c - 'a' + 10;
    } else {
      return std::nullopt;
    }
    v = (v << 4) | static_cast<uint64_t>(d);
  }
  return v;
}

}  // namespace

std::string EncodeIntentRecord(const IntentRecord& r) {
  return Cat(kIntentMagic, "\npool ", Hex(r.pool_id), "\ncontainer ", r.container_id,
             "\ngeneration ", r.generation, "\ntime ", r.unix_micros, "\n");
}

absl::StatusOr<IntentRecord> DecodeIntentRecord(std::string_view text) {
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<std::string_view> v,
                            ParseRecordText(text, kMaxIntentRecordBytes, kIntentMagic,
                                            {"pool", "container", "generation", "time"}));
  IntentRecord r;
  SEALPOOL_ASSIGN_OR_RETURN(r.pool_id, ParseIdField("pool", v[0]));
  SEALPOOL_ASSIGN_OR_RETURN(r.container_id, ParseNumberField("container", v[1]));
  SEALPOOL_ASSIGN_OR_RETURN(r.generation, ParseNumberField("generation", v[2]));
  SEALPOOL_ASSIGN_OR_RETURN(r.unix_micros, ParseNumberField("time", v[3]));
  return r;
}

std::string IntentPrefix(std::string_view prefix, const Id128& pool_id) {
  return PoolFolder(prefix, pool_id) + "intents/";
}

std::string IntentKey(std::string_view prefix, const Id128& pool_id, uint64_t container_id) {
  return IntentPrefix(prefix, pool_id) + Hex16(container_id);
}

// ---- the store's side ------------------------------------------------------------------------

absl::Status S3ContainerStore::BeforeUpload(uint64_t id) {
  if (lease_ != nullptr) SEALPOOL_RETURN_IF_ERROR(lease_->Check());
  if (!options_.intents) return absl::OkStatus();
  IntentRecord intent;
  intent.pool_id = pool_id_;
  intent.container_id = id;
  intent.generation = generation_;
  intent.unix_micros = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  const std::string body = EncodeIntentRecord(intent);
  return base::Annotate(
      client_->Put(IntentKey(prefix_, pool_id_, id),
                   std::span(reinterpret_cast<const uint8_t*>(body.data()), body.size())),
      Cat("the upload intent of container ", id));
}

absl::StatusOr<OrphanSweepReport> S3ContainerStore::SweepOrphans(
    const OrphanSweepOptions& options,
    const std::function<absl::StatusOr<bool>(uint64_t)>& referenced) {
  if (!referenced) return absl::InvalidArgumentError("orphan sweep: no `referenced` callback");
  if (options.grace < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("orphan sweep: negative grace period");
  }
  // A fenced process sweeps nothing: the new owner's objects are not its business.
  if (lease_ != nullptr) SEALPOOL_RETURN_IF_ERROR(lease_->Check());
  OrphanSweepReport report;
  const std::string intent_dir = IntentPrefix(prefix_, pool_id_);
  const std::string container_dir = ContainerObjectPrefix(prefix_, pool_id_);

  struct Found {
    std::optional<IntentRecord> intent;  // a readable intent of this pool and id
    bool intent_present = false;
    std::optional<uint64_t> object_size;
  };
  std::map<uint64_t, Found> found;
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<ObjectInfo> intents, client_->List(intent_dir));
  for (const ObjectInfo& o : intents) {
    ++report.intents_found;
    std::optional<uint64_t> id = ParseHex16(std::string_view(o.key).substr(intent_dir.size()));
    if (!id.has_value() || o.size > kMaxIntentRecordBytes) {
      ++report.intents_malformed;
      continue;
    }
    absl::StatusOr<std::vector<uint8_t>> body = client_->GetObject(o.key, kMaxIntentRecordBytes);
    if (absl::IsNotFound(body.status())) continue;  // removed meanwhile
    absl::StatusOr<IntentRecord> record =
        body.ok() ? DecodeIntentRecord(
                        std::string_view(reinterpret_cast<const char*>(body->data()), body->size()))
                  : absl::StatusOr<IntentRecord>(body.status());
    if (!body.ok() && !absl::IsUnavailable(body.status())) return body.status();
    if (!record.ok() || record->pool_id != pool_id_ || record->container_id != *id) {
      ++report.intents_malformed;
      continue;
    }
    found[*id].intent = *record;
    found[*id].intent_present = true;
  }
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<ObjectInfo> objects, client_->List(container_dir));
  for (const ObjectInfo& o : objects) {
    std::string_view name = std::string_view(o.key).substr(container_dir.size());
    if (!name.ends_with(".spc")) continue;
    std::optional<uint64_t> id = ParseHex16(name.substr(0, name.size() - 4));
    if (id.has_value()) found[*id].object_size = o.size;
  }

  const absl::Time now = options.clock();
  for (auto& [id, f] : found) {
    if (IsOpenForAppend(id)) continue;  // being written by this store
    SEALPOOL_ASSIGN_OR_RETURN(bool is_referenced, referenced(id));
    if (is_referenced) {
      if (f.intent_present) {
        SEALPOOL_RETURN_IF_ERROR(client_->Delete(IntentKey(prefix_, pool_id_, id)));
        ++report.intents_removed;
      }
      continue;
    }
    ++report.orphans_found;
    std::optional<absl::Time> born;
    if (f.intent.has_value()) {
      born = absl::FromUnixMicros(static_cast<int64_t>(f.intent->unix_micros));
    } else if (f.object_size.has_value()) {
      // No readable intent: the header's creation time, if the header is this pool's.
      absl::StatusOr<std::vector<uint8_t>> head = client_->Get(KeyOf(id), 0, kContainerHeaderSize);
      ContainerHeader h;
      if (head.ok() && h.DecodeFrom(*head).ok() && h.pool_id == pool_id_ && h.container_id == id) {
        born = absl::FromUnixMicros(static_cast<int64_t>(h.created_unix_micros));
      } else if (!head.ok() && !absl::IsNotFound(head.status()) &&
                 !absl::IsOutOfRange(head.status())) {
        return head.status();
      }
    }
    if (!born.has_value()) {
      if (f.object_size.has_value()) ++report.objects_unreadable;
      continue;
    }
    if (*born > now || now - *born < options.grace) {
      ++report.orphans_kept_young;
      continue;
    }
    // Destructive from here: check the lease right before (a takeover stops us here).
    if (lease_ != nullptr) SEALPOOL_RETURN_IF_ERROR(lease_->Check());
    if (f.object_size.has_value()) {
      SEALPOOL_RETURN_IF_ERROR(client_->Delete(KeyOf(id)));
      report.bytes_removed += *f.object_size;
      ForgetObject(id);
    }
    ++report.orphans_removed;
    if (f.intent_present) {
      SEALPOOL_RETURN_IF_ERROR(client_->Delete(IntentKey(prefix_, pool_id_, id)));
      ++report.intents_removed;
    }
  }
  return report;
}

}  // namespace sealpool::storage::s3
