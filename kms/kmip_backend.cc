#include "kms/kmip_backend.h"

#include <algorithm>
#include <array>
#include <map>
#include <set>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "crypto/aead.h"
#include "crypto/keys.h"
#include "crypto/random.h"
#include "kms/key_registry.h"
#include "kms/names.h"
#include "kms/status_util.h"
#include "kms/wrapped_key_format.h"

namespace sealpool::kms {
namespace {

using kmip::RevocationReason;

// A failure of the KMS (or of reaching it), marked so that the admin service can tell the
// operator the KMS, not sealkmsd, failed (IsKmsFailure). `what` is sealpool's context (the
// key group or root key); the client's message already names the KMIP operation and server.
absl::Status KmsError(const absl::Status& s, std::string_view what) {
  if (s.ok()) return s;
  return MarkKmsFailure(Annotate(s, Cat("KMS (KMIP), ", what)));
}

// A fresh request id: "r" and 24 hex digits (96 random bits).
absl::StatusOr<std::string> NewRequestId() {
  std::array<uint8_t, 12> r{};
  SEALPOOL_RETURN_IF_ERROR(crypto::RandomBytes(r));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "r";
  for (uint8_t b : r) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string_view OpName(PendingKmsChange::Op op) {
  switch (op) {
    case PendingKmsChange::Op::kCreate:
      return "Create";
    case PendingKmsChange::Op::kActivate:
      return "Activate";
    case PendingKmsChange::Op::kRevoke:
      return "Revoke";
    case PendingKmsChange::Op::kDestroy:
      return "Destroy";
  }
  return "?";
}

std::string Describe(const PendingKmsChange& p) {
  return Cat("KMIP ", OpName(p.op), p.key_id.empty() ? Cat(" in key group ", p.group)
                                                     : Cat(" of root key ", p.key_id),
             " (request ", p.request_id, ")");
}

// Records the KMS's state `kms` (nullopt: the object is gone) of root key `id` in `c`, where
// it differs from sealkmsd's record: the KMS is right about what it did.
void RecordKmsState(KeyStoreContents& c, const std::string& id, std::optional<kmip::ObjectState> kms,
                    bool erase) {
  auto it = c.keys.find(id);
  if (it == c.keys.end()) return;
  StoredRootKey& k = it->second;
  const int64_t now = NowUnix();
  auto set = [&](RootKeyState s) {
    if (k.state == s) return;
    k.state = s;
    k.state_changed_unix = now;
  };
  if (!kms.has_value() || *kms == kmip::ObjectState::kDestroyed ||
      *kms == kmip::ObjectState::kDestroyedCompromised) {
    if (erase) {
      std::erase_if(c.usage, [&](const auto& kv) { return kv.second == id; });
      DropOrphanPins(c);
      c.keys.erase(it);
    } else {
      set(RootKeyState::kTerminated);
    }
    return;
  }
  switch (*kms) {
    case kmip::ObjectState::kActive:
      if (k.state == RootKeyState::kPrelive) {
        for (auto& [other_id, other] : c.keys) {
          if (other.group == k.group && other.state == RootKeyState::kActive) {
            other.state = RootKeyState::kInactive;
            other.state_changed_unix = now;
          }
        }
        set(RootKeyState::kActive);
      }
      break;
    case kmip::ObjectState::kDeactivated:
      set(RootKeyState::kDeprecated);
      break;
    case kmip::ObjectState::kCompromised:
      set(RootKeyState::kCompromised);
      break;
    default:
      break;
  }
}

// KEK ids of the usage placeholders a rebuild records ("rebuilt:1", ...).
constexpr std::string_view kRebuiltKekPrefix = "rebuilt:";

// `s` with every character outside [A-Za-z0-9._:-] shown as '?', for the rebuild report
// (Unique Identifiers and names come from the KMS).
std::string Printable(std::string_view s) {
  std::string out(s.substr(0, 200));
  for (char& ch : out) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == ':' || ch == '-';
    if (!ok) ch = '?';
  }
  if (s.size() > out.size()) out += "...";
  return out;
}

// Orders Unique Identifiers: as numbers when both are decimal (PyKMIP counts 1, 2, ...), else
// as text.
bool UidLess(std::string_view a, std::string_view b) {
  auto decimal = [](std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
  };
  if (decimal(a) && decimal(b)) {
    a.remove_prefix(std::min(a.find_first_not_of('0'), a.size()));
    b.remove_prefix(std::min(b.find_first_not_of('0'), b.size()));
    if (a.size() != b.size()) return a.size() < b.size();
  }
  return a < b;
}

// A mutation's status as SendChange's result type.
absl::StatusOr<std::string> ToUid(const absl::Status& s) {
  if (!s.ok()) return s;
  return std::string();
}

}  // namespace

KmipRebuildReport PlanKmipStateRebuild(
    const std::set<std::string>& groups, const std::vector<KmipFoundKey>& found, int64_t now_unix,
    const std::map<std::string, std::set<std::string>>& pools_by_group) {
  KmipRebuildReport r;
  KeyStoreContents& c = r.contents;
  c.generation = 1;
  for (const std::string& g : groups) c.groups.emplace(g, StoredGroup{g, now_unix});
  // The Active keys of each group: (index in r.keys, the key).
  std::map<std::string, std::vector<std::pair<size_t, const KmipFoundKey*>>> active;
  std::map<std::string, int64_t> first_created;
  for (const KmipFoundKey& f : found) {
    const kmip::KeyAttributes& a = f.attributes;
    KmipRebuiltKey k{f.group, Cat(kKmipKeyIdPrefix, Printable(f.uid)), "", std::nullopt, ""};
    auto skip = [&](std::string_view why) {
      k.note = Cat("skipped: ", why);
      r.keys.push_back(std::move(k));
    };
    if (!f.status.ok()) {
      bool gone = f.status.code() == absl::StatusCode::kNotFound;
      k.kms_state = gone ? "not found" : "unreadable";
      skip(gone ? "gone from the KMS (destroyed)"
                : Cat("its attributes cannot be read (",
                      StdView(absl::CHexEscape(f.status.message())), ")"));
      continue;
    }
    k.kms_state = a.state.has_value() ? std::string(kmip::ObjectStateName(*a.state)) : "no State";
    const std::string id = Cat(kKmipKeyIdPrefix, f.uid);
    const std::string name = Cat("sealpool:", f.group);
    if (!groups.contains(f.group)) {
      skip("not a KMIP key group of this sealkmsd");
    } else if (!ValidateName("root key id", id).ok()) {
      skip("its Unique Identifier does not make a valid root key id");
    } else if (std::find(a.names.begin(), a.names.end(), name) == a.names.end()) {
      skip(Cat("no Name \"", name, "\" (not sealpool's)"));
    } else if (std::find(a.object_groups.begin(), a.object_groups.end(), f.group) ==
               a.object_groups.end()) {
      skip(Cat("no Object Group \"", f.group, "\""));
    } else if (a.algorithm != kmip::kAlgorithmAes || a.length != 256) {
      skip("not an AES-256 key");
    } else if (auto taken = c.keys.find(id); taken != c.keys.end()) {
      skip(Cat("already taken for key group \"", taken->second.group, "\""));
    } else if (!a.state.has_value()) {
      skip("the KMS sent no State");
    } else {
      StoredRootKey stored;
      stored.id = id;
      stored.group = f.group;
      stored.created_unix = a.initial_date.value_or(now_unix);
      std::optional<int64_t> changed;
      switch (*a.state) {
        case kmip::ObjectState::kPreActive:
          stored.state = RootKeyState::kPrelive;
          changed = a.initial_date;
          break;
        case kmip::ObjectState::kActive:
          stored.state = RootKeyState::kInactive;  // until one Active key is chosen below
          changed = a.activation_date;
          active[f.group].emplace_back(r.keys.size(), &f);
          break;
        case kmip::ObjectState::kDeactivated:
          stored.state = RootKeyState::kDeprecated;
          changed = a.deactivation_date;
          break;
        case kmip::ObjectState::kCompromised:
          stored.state = RootKeyState::kCompromised;
          changed = a.compromise_date;
          break;
        case kmip::ObjectState::kDestroyed:
        case kmip::ObjectState::kDestroyedCompromised:
          skip("destroyed in the KMS (a terminated key is not recorded)");
          continue;
      }
      stored.state_changed_unix = changed.value_or(now_unix);
      k.state = stored.state;
      auto [first, inserted] = first_created.emplace(f.group, stored.created_unix);
      if (!inserted) first->second = std::min(first->second, stored.created_unix);
      c.keys.emplace(id, std::move(stored));
      r.keys.push_back(std::move(k));
    }
  }
  for (const auto& [g, created] : first_created) c.groups.at(g).created_unix = created;

  // One Active key per group wraps: the latest activated, else the latest created.
  for (auto& [g, candidates] : active) {
    auto rank = [](const KmipFoundKey* f) {
      return std::make_tuple(f->attributes.activation_date.value_or(-1),
                             f->attributes.initial_date.value_or(-1));
    };
    std::sort(candidates.begin(), candidates.end(), [&](const auto& x, const auto& y) {
      if (rank(x.second) != rank(y.second)) return rank(x.second) > rank(y.second);
      return UidLess(y.second->uid, x.second->uid);
    });
    const KmipFoundKey* best = candidates[0].second;
    KmipRebuiltKey& chosen = r.keys[candidates[0].first];
    c.keys.at(chosen.id).state = RootKeyState::kActive;
    chosen.state = RootKeyState::kActive;
    const bool tie = candidates.size() > 1 && rank(candidates[1].second) == rank(best);
    const bool by_activation = best->attributes.activation_date.has_value() &&
                               (candidates.size() == 1 ||
                                std::get<0>(rank(candidates[1].second)) != std::get<0>(rank(best)));
    if (candidates.size() == 1) {
      chosen.note = "the only Active key";
    } else if (tie) {
      chosen.note = "guessed: the dates tie, highest Unique Identifier";
      r.warnings.push_back(
          Cat("key group \"", g, "\": ", candidates.size(),
              " Active keys and their dates do not tell which was activated last; ", chosen.id,
              " (the highest Unique Identifier) is recorded as active. Check it and activate the "
              "right one with kmscmd key activate if needed"));
    } else if (by_activation) {
      chosen.note = "the latest Activation Date";
    } else {
      chosen.note = "the latest Initial Date";
      r.warnings.push_back(
          Cat("key group \"", g, "\": the KMS gives no Activation Date that tells its ",
              candidates.size(), " Active keys apart; ", chosen.id,
              " (created last) is recorded as active. Wrong if an older key was re-activated: "
              "check it and activate the right one with kmscmd key activate if needed"));
    }
    for (size_t i = 1; i < candidates.size(); ++i) {
      r.keys[candidates[i].first].note = "Active but not the latest: inactive (still unwraps)";
    }
  }

  // Placeholders for the usage the KMS cannot tell: every pool allowed a group may have KEKs
  // under any of its keys but a prelive one, until its next Reconcile says which.
  for (const auto& [group, pools] : pools_by_group) {
    if (!groups.contains(group)) continue;
    size_t n = 0;
    for (const auto& [id, key] : c.keys) {
      if (key.group != group || key.state == RootKeyState::kPrelive) continue;
      ++n;
      for (const std::string& pool : pools) {
        if (!ValidateName("pool id", pool).ok()) continue;
        c.usage[UsageKey(pool, group, Cat(kRebuiltKekPrefix, n))] = id;
      }
    }
  }
  return r;
}

absl::StatusOr<KmipRebuildReport> KmipBackend::RebuildState(
    KmipStateFile& reserved, kmip::KmipClient& client, const std::set<std::string>& groups,
    const std::map<std::string, std::set<std::string>>& pools_by_group,
    int32_t max_keys_per_group) {
  std::vector<KmipFoundKey> found;
  for (const std::string& g : groups) {
    SEALPOOL_RETURN_IF_ERROR(ValidateName("key group", g));
    absl::StatusOr<std::vector<std::string>> uids = client.Locate(g, max_keys_per_group);
    if (!uids.ok()) return KmsError(uids.status(), Cat("key group ", g));
    if (uids->size() >= static_cast<size_t>(max_keys_per_group)) {
      return absl::FailedPreconditionError(
          Cat("KMS (KMIP) Locate of key group \"", g, "\" listed ", uids->size(),
              " keys, as many as one Locate returns: some could be missing"));
    }
    for (const std::string& uid : *uids) {
      KmipFoundKey f{g, uid, absl::OkStatus(), {}};
      absl::StatusOr<kmip::KeyAttributes> attrs = client.GetAttributes(uid);
      if (attrs.ok()) {
        f.attributes = *std::move(attrs);
      } else if (attrs.status().code() == absl::StatusCode::kNotFound ||
                 attrs.status().code() == absl::StatusCode::kPermissionDenied) {
        f.status = attrs.status();
      } else {
        return KmsError(attrs.status(), Cat("key group ", g, ", KMIP key ", Printable(uid)));
      }
      found.push_back(std::move(f));
    }
  }
  KmipRebuildReport report = PlanKmipStateRebuild(groups, found, NowUnix(), pools_by_group);
  SEALPOOL_RETURN_IF_ERROR(reserved.Save(report.contents));
  return report;
}

std::string_view KmipUidOf(std::string_view id) {
  if (id.size() <= kKmipKeyIdPrefix.size() ||
      id.substr(0, kKmipKeyIdPrefix.size()) != kKmipKeyIdPrefix) {
    return {};
  }
  return id.substr(kKmipKeyIdPrefix.size());
}

KmipBackend::KmipBackend(const KmipBackendOptions& options,
                         std::unique_ptr<kmip::KmipClient> client,
                         std::unique_ptr<KmipStateFile> file, KeyStoreContents contents)
    : options_(options),
      client_(std::move(client)),
      file_(std::move(file)),
      contents_(std::move(contents)) {}

absl::StatusOr<std::unique_ptr<KmipBackend>> KmipBackend::Open(
    const KmipBackendOptions& options, std::unique_ptr<kmip::KmipClient> client) {
  if (client == nullptr) return absl::InvalidArgumentError("KMIP backend without a client");
  SEALPOOL_ASSIGN_OR_RETURN(auto opened, KmipStateFile::Open(options.state_path));
  return std::unique_ptr<KmipBackend>(new KmipBackend(
      options, std::move(client), std::move(opened.first), std::move(opened.second)));
}

absl::Status KmipBackend::CreateState(const std::filesystem::path& path) {
  return KmipStateFile::Create(path).status();
}

absl::Status KmipBackend::SaveLocked(KeyStoreContents& c) {
  ++c.generation;
  SEALPOOL_RETURN_IF_ERROR(file_->Save(c));
  contents_ = c;
  return absl::OkStatus();
}

absl::Status KmipBackend::Mutate(const std::function<absl::Status(KeyStoreContents&)>& change,
                                 bool reconcile_first) {
  absl::MutexLock lock(&mu_);
  if (reconcile_first) SEALPOOL_RETURN_IF_ERROR(ReconcileLocked());
  KeyStoreContents next = contents_;
  SEALPOOL_RETURN_IF_ERROR(change(next));
  return SaveLocked(next);
}

namespace {

// Whether a KMS state (nullopt: the object is gone) shows change `op` carried out.
bool StateShowsLanded(PendingKmsChange::Op op, std::optional<kmip::ObjectState> state) {
  const bool gone = !state.has_value() || *state == kmip::ObjectState::kDestroyed ||
                    *state == kmip::ObjectState::kDestroyedCompromised;
  switch (op) {
    case PendingKmsChange::Op::kActivate:
      return !gone && *state != kmip::ObjectState::kPreActive;
    case PendingKmsChange::Op::kRevoke:
      return gone || *state == kmip::ObjectState::kDeactivated ||
             *state == kmip::ObjectState::kCompromised;
    case PendingKmsChange::Op::kDestroy:
      return gone;
    case PendingKmsChange::Op::kCreate:
      break;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::optional<kmip::ObjectState>> KmipBackend::KmsStateOf(std::string_view id) {
  absl::StatusOr<kmip::KeyAttributes> a = client_->GetAttributes(KmipUidOf(id));
  if (a.ok()) {
    if (!a->state.has_value()) {
      return absl::InternalError(Cat("the KMS sent no State for root key ", id));
    }
    return a->state;
  }
  if (a.status().code() == absl::StatusCode::kNotFound) return std::nullopt;
  return a.status();
}

absl::StatusOr<std::optional<std::string>> KmipBackend::Landed(const PendingKmsChange& p) {
  if (p.op == PendingKmsChange::Op::kCreate) {
    SEALPOOL_ASSIGN_OR_RETURN(std::vector<std::string> uids,
                              client_->LocateByRequestId(p.group, p.request_id));
    if (uids.empty()) return std::nullopt;
    return uids.front();
  }
  SEALPOOL_ASSIGN_OR_RETURN(std::optional<kmip::ObjectState> state, KmsStateOf(p.key_id));
  if (!StateShowsLanded(p.op, state)) return std::nullopt;
  return std::string();
}

absl::StatusOr<std::string> KmipBackend::SendChange(
    KeyStoreContents& c, PendingKmsChange p,
    const std::function<absl::StatusOr<std::string>(const std::string&)>& send) {
  SEALPOOL_ASSIGN_OR_RETURN(p.request_id, NewRequestId());
  p.created_unix = NowUnix();
  c.pending.push_back(p);
  // Recorded before the request leaves: if the answer never comes, the next change (or the
  // next start) finds out what the KMS did.
  if (absl::Status s = SaveLocked(c); !s.ok()) {
    c.pending.pop_back();
    return Annotate(s, Cat("recording ", Describe(p), " before sending it; nothing was sent"));
  }
  auto settle = [&]() {
    std::erase_if(c.pending,
                  [&](const PendingKmsChange& q) { return q.request_id == p.request_id; });
  };
  absl::StatusOr<std::string> r = send(p.request_id);
  if (r.ok()) {
    settle();  // the caller's save records the change and drops the pending record
    return r;
  }
  if (!kmip::IsOutcomeUnknown(r.status())) {
    settle();
    // A refusal changed nothing; if this save fails, reconciling will find that out again.
    SaveLocked(c).IgnoreError();
    return r.status();
  }
  absl::Status unknown = r.status();
  if (unknown.code() == absl::StatusCode::kUnavailable) {
    // The connection dropped (a KMS restart): look now on a new connection, and send once
    // more if the KMS shows that nothing happened.
    absl::StatusOr<std::optional<std::string>> landed = Landed(p);
    if (landed.ok() && landed->has_value()) {
      settle();
      return **landed;
    }
    if (landed.ok()) {
      r = send(p.request_id);
      if (r.ok() || !kmip::IsOutcomeUnknown(r.status())) {
        settle();
        if (!r.ok()) SaveLocked(c).IgnoreError();
        return r;
      }
      unknown = r.status();
    }
  }
  return Annotate(unknown, Cat("sealkmsd keeps ", Describe(p),
                               " pending and reconciles it with the KMS before its next key "
                               "change, or at its next start"));
}

absl::Status KmipBackend::ReconcileIn(KeyStoreContents& c) {
  // A request that reached a hung KMS is carried out when the KMS resumes, possibly just after
  // it answers a newer connection. So "not done" is concluded only once a change is older than
  // twice the call deadline; before that the reconcile waits.
  const int64_t settle =
      2 * std::max<int64_t>(1, absl::ToInt64Seconds(client_->call_deadline() + absl::Seconds(1)));
  auto unsettled = [&](const PendingKmsChange& p) -> absl::Status {
    const int64_t age = NowUnix() - p.created_unix;
    if (age >= settle) return absl::OkStatus();
    return absl::UnavailableError(
        Cat(Describe(p), " was sent ", age, " s ago and the KMS does not show it done yet; it "
            "may still carry it out, so sealkmsd concludes it was not only ", settle,
            " s after sending it (twice the call deadline); try again then"));
  };
  while (!c.pending.empty()) {
    const PendingKmsChange p = c.pending.front();
    if (p.op == PendingKmsChange::Op::kCreate) {
      // The Create failed for its caller: a key it left behind is destroyed (still
      // Pre-Active, carrying the request id, unknown to sealkmsd); one already changed is
      // adopted so that nothing the KMS holds is lost.
      SEALPOOL_ASSIGN_OR_RETURN(std::vector<std::string> uids,
                                client_->LocateByRequestId(p.group, p.request_id));
      if (uids.empty()) SEALPOOL_RETURN_IF_ERROR(unsettled(p));
      for (const std::string& uid : uids) {
        const std::string id = Cat(kKmipKeyIdPrefix, uid);
        if (c.keys.contains(id) || !ValidateName("root key id", id).ok()) continue;
        absl::StatusOr<kmip::KeyAttributes> a = client_->GetAttributes(uid);
        if (!a.ok() && a.status().code() == absl::StatusCode::kNotFound) continue;
        SEALPOOL_RETURN_IF_ERROR(a.status());
        if (std::find(a->request_ids.begin(), a->request_ids.end(), p.request_id) ==
            a->request_ids.end()) {
          continue;
        }
        if (a->state == kmip::ObjectState::kPreActive) {
          absl::Status d = client_->Destroy(uid);
          if (!d.ok() && d.code() != absl::StatusCode::kNotFound) return d;
          continue;
        }
        const int64_t now = NowUnix();
        c.keys.emplace(id, StoredRootKey{id, p.group, RootKeyState::kPrelive,
                                         a->initial_date.value_or(now), now, nullptr});
        RecordKmsState(c, id, a->state, false);
        if (c.keys.at(id).state == RootKeyState::kActive) {
          c.keys.at(id).state = RootKeyState::kInactive;  // sealkmsd did not choose it
        }
      }
    } else {
      SEALPOOL_ASSIGN_OR_RETURN(std::optional<kmip::ObjectState> state, KmsStateOf(p.key_id));
      if (!StateShowsLanded(p.op, state)) SEALPOOL_RETURN_IF_ERROR(unsettled(p));
      RecordKmsState(c, p.key_id, state, p.erase);
    }
    c.pending.erase(c.pending.begin());
  }
  return absl::OkStatus();
}

absl::Status KmipBackend::Failed(const absl::Status& s, std::string_view what) const {
  absl::Status out = KmsError(s, what);
  if (!out.ok() && options_.on_kms_failure) options_.on_kms_failure(out);
  return out;
}

absl::Status KmipBackend::ReconcileLocked() {
  if (contents_.pending.empty()) return absl::OkStatus();
  KeyStoreContents c = contents_;
  const size_t before = c.pending.size();
  absl::Status s = ReconcileIn(c);
  if (c.pending.size() != before) SEALPOOL_RETURN_IF_ERROR(SaveLocked(c));
  if (!s.ok()) {
    return Failed(s, Cat("reconciling ", Describe(c.pending.front()),
                           ", sent earlier with no answer; nothing more is sent to the KMS "
                           "until it is reconciled"));
  }
  return absl::OkStatus();
}

absl::Status KmipBackend::ReconcilePending() {
  absl::MutexLock lock(&mu_);
  return ReconcileLocked();
}

std::vector<PendingKmsChange> KmipBackend::PendingChanges() {
  absl::ReaderMutexLock lock(&mu_);
  return contents_.pending;
}

absl::StatusOr<GroupView> KmipBackend::CreateGroup(std::string_view name) {
  GroupView view;
  SEALPOOL_RETURN_IF_ERROR(Mutate([&](KeyStoreContents& c) -> absl::Status {
    SEALPOOL_ASSIGN_OR_RETURN(view, AddGroup(c, name));
    return absl::OkStatus();
  }));
  return view;
}

std::vector<GroupView> KmipBackend::ListGroups() {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<GroupView> out;
  for (const auto& [name, g] : contents_.groups) out.push_back(ToView(contents_, g));
  return out;
}

absl::StatusOr<GroupView> KmipBackend::GetGroup(std::string_view name) {
  absl::ReaderMutexLock lock(&mu_);
  SEALPOOL_ASSIGN_OR_RETURN(const StoredGroup* g, FindGroup(contents_, name));
  return ToView(contents_, *g);
}

absl::Status KmipBackend::KmsDestroy(KeyStoreContents& c, const StoredRootKey& key,
                                     bool erase) {
  const std::string uid(KmipUidOf(key.id));
  auto gone_is_done = [](absl::StatusOr<std::string> r) -> absl::StatusOr<std::string> {
    if (!r.ok() && r.status().code() == absl::StatusCode::kNotFound) return std::string();
    return r;
  };
  switch (key.state) {
    case RootKeyState::kTerminated:
      return absl::OkStatus();
    case RootKeyState::kActive:
    case RootKeyState::kInactive: {
      PendingKmsChange p{"", PendingKmsChange::Op::kRevoke, key.group, key.id, false, 0};
      absl::StatusOr<std::string> r = SendChange(c, p, [&](const std::string&) {
        return gone_is_done(
            ToUid(client_->Revoke(uid, RevocationReason::kCessationOfOperation)));
      });
      if (!r.ok()) return Failed(r.status(), Cat("root key ", key.id));
      break;
    }
    default:
      break;
  }
  PendingKmsChange p{"", PendingKmsChange::Op::kDestroy, key.group, key.id, erase, 0};
  absl::StatusOr<std::string> r = SendChange(
      c, p, [&](const std::string&) { return gone_is_done(ToUid(client_->Destroy(uid))); });
  if (!r.ok()) return Failed(r.status(), Cat("root key ", key.id));
  return absl::OkStatus();
}

absl::StatusOr<ShredResult> KmipBackend::ShredGroup(std::string_view name) {
  ShredResult result;
  absl::Status kms_failure;
  absl::Status s = Mutate([&](KeyStoreContents& c) {
    SEALPOOL_RETURN_IF_ERROR(FindGroup(c, name).status());
    // Destroy in the KMS key by key; a failure keeps the keys destroyed so far recorded as
    // terminated (saved), and the group, so the shred can be repeated.
    for (auto& [id, k] : c.keys) {
      if (k.group != name) continue;
      kms_failure = KmsDestroy(c, k, /*erase=*/false);
      if (!kms_failure.ok()) return absl::OkStatus();
      k.state = RootKeyState::kTerminated;
      k.state_changed_unix = NowUnix();
    }
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
  }, /*reconcile_first=*/true);
  SEALPOOL_RETURN_IF_ERROR(s);
  SEALPOOL_RETURN_IF_ERROR(kms_failure);
  return result;
}

absl::StatusOr<RootKeyView> KmipBackend::CreateKey(std::string_view group) {
  RootKeyView view;
  SEALPOOL_RETURN_IF_ERROR(Mutate([&](KeyStoreContents& c) {
    SEALPOOL_RETURN_IF_ERROR(FindGroup(c, group).status());
    PendingKmsChange p{"", PendingKmsChange::Op::kCreate, std::string(group), "", false, 0};
    absl::StatusOr<std::string> uid = SendChange(c, p, [&](const std::string& request_id) {
      return client_->CreateAesKey(Cat("sealpool:", group), group, request_id);
    });
    if (!uid.ok()) return Failed(uid.status(), Cat("key group ", group));
    std::string id = Cat(kKmipKeyIdPrefix, *uid);
    if (absl::Status s = ValidateName("root key id", id); !s.ok()) {
      return absl::InternalError(Cat("the KMS named its new key \"", *uid,
                                     "\", which does not make a usable root key id (", s.message(),
                                     ")"));
    }
    if (c.keys.contains(id)) {
      return absl::InternalError(Cat("the KMS reused Unique Identifier \"", *uid, "\""));
    }
    int64_t now = NowUnix();
    StoredRootKey k{id, std::string(group), RootKeyState::kPrelive, now, now, nullptr};
    view = ToView(c, k);
    c.keys.emplace(id, std::move(k));
    return absl::OkStatus();
  }, /*reconcile_first=*/true));
  return view;
}

absl::StatusOr<std::vector<RootKeyView>> KmipBackend::ListKeys(std::string_view group) {
  absl::ReaderMutexLock lock(&mu_);
  if (!group.empty()) SEALPOOL_RETURN_IF_ERROR(FindGroup(contents_, group).status());
  std::vector<RootKeyView> out;
  for (const auto& [id, k] : contents_.keys) {
    if (group.empty() || k.group == group) out.push_back(ToView(contents_, k));
  }
  return out;
}

absl::Status KmipBackend::KmsTransition(KeyStoreContents& c, const StoredRootKey& key,
                                        RootKeyState to) {
  const std::string uid(KmipUidOf(key.id));
  auto change = [&](PendingKmsChange::Op op, const std::function<absl::Status()>& call) {
    PendingKmsChange p{"", op, key.group, key.id, false, 0};
    absl::StatusOr<std::string> r =
        SendChange(c, p, [&](const std::string&) { return ToUid(call()); });
    return Failed(r.status(), Cat("root key ", key.id));
  };
  switch (to) {
    case RootKeyState::kActive:
      if (key.state == RootKeyState::kPrelive) {
        return change(PendingKmsChange::Op::kActivate, [&] { return client_->Activate(uid); });
      }
      return absl::OkStatus();  // inactive → active: still Active in the KMS
    case RootKeyState::kInactive:
      return absl::OkStatus();  // stays Active in the KMS so that it still decrypts
    case RootKeyState::kDeprecated:
      return change(PendingKmsChange::Op::kRevoke, [&] {
        return client_->Revoke(uid, RevocationReason::kCessationOfOperation);
      });
    case RootKeyState::kCompromised:
      return change(PendingKmsChange::Op::kRevoke, [&] {
        return client_->Revoke(uid, RevocationReason::kKeyCompromise, NowUnix());
      });
    case RootKeyState::kTerminated:
      return KmsDestroy(c, key, /*erase=*/false);
    case RootKeyState::kPrelive:
      break;
  }
  return absl::InternalError("no KMS transition into prelive");
}

absl::StatusOr<RootKeyView> KmipBackend::SetKeyState(std::string_view id, RootKeyState state) {
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
    SEALPOOL_RETURN_IF_ERROR(KmsTransition(c, *k, state));
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
    view = ToView(c, *k);
    return absl::OkStatus();
  }, /*reconcile_first=*/true));
  return view;
}

absl::Status KmipBackend::DeleteKey(std::string_view id) {
  return Mutate([&](KeyStoreContents& c) {
    SEALPOOL_ASSIGN_OR_RETURN(StoredRootKey * k, FindKey(c, id));
    SEALPOOL_RETURN_IF_ERROR(CheckCanDelete(k->state));
    if (uint32_t n = CountUsage(c, k->id); n != 0) {
      return absl::FailedPreconditionError(
          Cat("root key \"", id, "\" still wraps ", n, " registered KEK(s)"));
    }
    // A prelive key is destroyed in the KMS too.
    SEALPOOL_RETURN_IF_ERROR(KmsDestroy(c, *k, /*erase=*/true));
    c.keys.erase(std::string(id));
    return absl::OkStatus();
  }, /*reconcile_first=*/true);
}

absl::StatusOr<WrapResult> KmipBackend::Wrap(const WrapContext& ctx,
                                             std::span<const uint8_t> secret) {
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
    blob.backend = kBackendKmip;
    blob.root_key_id = active->id;
    std::vector<uint8_t> aad = WrapAssociatedData(ctx.pool_id, ctx.key_group, ctx.kek_id, blob);
    std::string_view uid = KmipUidOf(active->id);
    if (options_.allow_export) {
      absl::StatusOr<crypto::SecretBytes> raw = client_->Get(uid);
      if (!raw.ok()) return Failed(raw.status(), Cat("root key ", active->id, " (export)"));
      SEALPOOL_ASSIGN_OR_RETURN(crypto::RootKey key, crypto::RootKey::FromBytes(raw->span()));
      blob.ciphertext.resize(secret.size());
      crypto::GcmNonce nonce{};
      crypto::GcmTag tag{};
      SEALPOOL_RETURN_IF_ERROR(crypto::Seal(key, aad, secret, blob.ciphertext, &nonce, &tag));
      blob.nonce = nonce;
      blob.tag = tag;
    } else {
      SEALPOOL_RETURN_IF_ERROR(crypto::RandomBytes(blob.nonce));
      absl::StatusOr<kmip::EncryptResult> e = client_->Encrypt(uid, secret, blob.nonce, aad);
      if (!e.ok()) return Failed(e.status(), Cat("root key ", active->id));
      if (e->ciphertext.size() != secret.size() || e->tag.size() != kWrapTagSize) {
        return absl::InternalError("the KMS returned a ciphertext or tag of the wrong size");
      }
      blob.ciphertext = std::move(e->ciphertext);
      std::copy(e->tag.begin(), e->tag.end(), blob.tag.begin());
    }
    result.root_key_id = active->id;
    result.wrapped = blob.Encode();
    c.usage[UsageKey(std::string(ctx.pool_id), std::string(ctx.key_group),
                     std::string(ctx.kek_id))] = active->id;
    return absl::OkStatus();
  }));
  return result;
}

absl::StatusOr<UnwrapResult> KmipBackend::Unwrap(const WrapContext& ctx,
                                                 std::span<const uint8_t> wrapped,
                                                 bool for_rewrap) {
  SEALPOOL_RETURN_IF_ERROR(ValidateContext(ctx));
  SEALPOOL_ASSIGN_OR_RETURN(WrappedKey blob, WrappedKey::Decode(wrapped));
  if (blob.backend != kBackendKmip) {
    return absl::InvalidArgumentError("the wrapped key was not made by the KMIP backend");
  }
  SEALPOOL_RETURN_IF_ERROR(ValidateName("root key id in the wrapped key", blob.root_key_id));
  // The KMS call runs under the shared lock: a concurrent state change waits for it.
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
  std::vector<uint8_t> aad = WrapAssociatedData(ctx.pool_id, ctx.key_group, ctx.kek_id, blob);
  std::string_view uid = KmipUidOf(key.id);
  const std::string refused = Cat("wrapped key for KEK \"", ctx.kek_id, "\" of pool \"",
                                  ctx.pool_id, "\", key group \"", ctx.key_group,
                                  "\" does not authenticate (altered, or wrapped for another pool, "
                                  "group or KEK)");
  if (options_.allow_export) {
    absl::StatusOr<crypto::SecretBytes> raw = client_->Get(uid);
    if (!raw.ok()) return Failed(raw.status(), Cat("root key ", key.id, " (export)"));
    SEALPOOL_ASSIGN_OR_RETURN(crypto::RootKey root, crypto::RootKey::FromBytes(raw->span()));
    SEALPOOL_ASSIGN_OR_RETURN(crypto::SecretBytes secret,
                              crypto::SecretBytes::Allocate(blob.ciphertext.size()));
    if (!crypto::Open(root, blob.nonce, aad, blob.ciphertext, blob.tag, secret.mutable_span())
             .ok()) {
      return absl::DataLossError(refused);
    }
    return UnwrapResult{std::move(secret), key.id, key.state};
  }
  absl::StatusOr<crypto::SecretBytes> secret =
      client_->Decrypt(uid, blob.ciphertext, blob.nonce, aad, blob.tag);
  if (!secret.ok()) {
    if (secret.status().code() == absl::StatusCode::kDataLoss) {
      return absl::DataLossError(Cat(refused, "; ", secret.status().message()));
    }
    return Failed(secret.status(), Cat("root key ", key.id));
  }
  return UnwrapResult{*std::move(secret), key.id, key.state};
}

absl::Status KmipBackend::RegisterUsage(std::string_view pool_id, std::string_view group,
                                        std::span<const KekUsageEntry> usages) {
  return Mutate([&](KeyStoreContents& c) { return AddUsages(c, pool_id, group, usages); });
}

absl::StatusOr<ReconcileResult> KmipBackend::ReconcileUsage(std::string_view pool_id,
                                                            std::string_view group,
                                                            std::span<const KekUsageEntry> usages) {
  ReconcileResult result;
  SEALPOOL_RETURN_IF_ERROR(Mutate([&](KeyStoreContents& c) -> absl::Status {
    SEALPOOL_ASSIGN_OR_RETURN(result, ReconcileUsages(c, pool_id, group, usages));
    return absl::OkStatus();
  }));
  return result;
}

std::vector<UsageView> KmipBackend::ListUsage(std::string_view group,
                                              std::string_view root_key_id) {
  absl::ReaderMutexLock lock(&mu_);
  return ListUsages(contents_, group, root_key_id);
}

absl::Status KmipBackend::ChangePassphrase(std::span<const uint8_t>) {
  return absl::UnimplementedError(
      "the KMIP backend has no passphrase (its root keys are in the KMS)");
}

}  // namespace sealpool::kms
