// A purge of one key group (DESIGN.md "Shredding", docs/security.md "Purge"): after it, no
// segment deleted before it decrypts from any copy of the pool, of its catalog backups or of
// the key service's store, because every key that ever wrapped such a segment's DEK is gone.
//
// It is one resumable operation of the pool and the key service together, in steps:
//
//   drain-delete-queue  run the delete queue to the end (a queued segment would otherwise be
//                       re-wrapped and survive)
//   rotate-kek          a new active KEK: from here new seals go under it
//   fence-writers       wait (bounded by PurgeOptions::writer_wait) until every record sealed
//                       before the rotation is committed or given up; fails if any is left
//   rewrap-deks         every live DEK under an older KEK re-wrapped under the new one
//   drop-keks           the older KEKs deleted from the key dictionary (fails if one still
//                       wraps a DEK) and their registrations removed in the key service
//   new-root-key        a new root key created and activated in the key service
//   rewrap-group-keys   the fingerprint key and the KEKs re-wrapped under it; the key
//                       service's registry replaced with what the pool holds
//   destroy-root-keys   every other root key of the group destroyed (KMIP: Revoke, Destroy);
//                       refused, naming them, if another pool still has keys under one
//   forget-caches       every unwrapped copy dropped (key dictionary, key-service client)
//   compact-catalog     best effort: memtables flushed, the segment and key families rewritten
//                       so that files and log holding old wrapped DEKs go
//   rekey-store         only for a key service whose store is passphrase-encrypted (sealkmsd's
//                       built-in store): waits for a passphrase change made after the destroy
//                       (fails with FailedPrecondition until it is done; then run it again)
//
// The step reached is persisted in the catalog (docs/format.md "Purge record") before each
// step starts its work, every step is idempotent, so a crash or a failure at any step is
// resumed by calling Purge again. A step that cannot be done fails the purge with its status;
// it never reports a shred it did not do.
#ifndef SEALPOOL_STORAGE_POOL_PURGE_H_
#define SEALPOOL_STORAGE_POOL_PURGE_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/keydict/key_dictionary.h"

namespace sealpool::storage {

// Values are stored in the purge record (docs/format.md): never renumber.
enum class PurgeStep : uint8_t {
  kDrainDeleteQueue = 1,
  kRotateKek = 2,
  kFenceWriters = 3,
  kRewrapDeks = 4,
  kDropKeks = 5,
  kNewRootKey = 6,
  kRewrapGroupKeys = 7,
  kDestroyRootKeys = 8,
  kForgetCaches = 9,
  kCompactCatalog = 10,
  kRekeyStore = 11,
  kDone = 12,
};
std::string_view PurgeStepName(PurgeStep step);

// What the key service tells a purge about a key group.
struct PurgeKeyCheck {
  // Pool ids, other than this pool's, with keys registered under the group's root keys: a
  // purge would destroy what they need, so it is refused.
  std::vector<std::string> other_pools;
  // An id of the key the service's store is encrypted under now (a digest of its salt), for a
  // store protected by a passphrase; empty when there is none (KMIP, in-process).
  std::string store_key_id;
};

// The key-service side of a purge (sealkmsd through the daemon, or the in-process provider).
// Every call is idempotent. Thread-safe.
class PurgeKeyService {
 public:
  virtual ~PurgeKeyService() = default;
  virtual absl::StatusOr<PurgeKeyCheck> CheckPurge(std::string_view key_group) = 0;
  // Creates and activates a new root key, unless the active key is no longer `replaces` (done
  // before): returns the active key's id either way.
  virtual absl::StatusOr<std::string> ActivateNewRootKey(std::string_view key_group,
                                                         std::string_view replaces) = 0;
  // Replaces the service's registry of this pool's keys in the group with `keys`.
  virtual absl::Status ReplaceRegistrations(std::string_view key_group,
                                            std::span<const WrappedKeyRef> keys) = 0;
  // Destroys every root key of the group but `keep` (those destroyed before count as done);
  // returns the ids destroyed by this call. FailedPrecondition naming the pools when another
  // pool still has keys registered under one of them.
  virtual absl::StatusOr<std::vector<std::string>> DestroyRootKeysExcept(
      std::string_view key_group, std::string_view keep) = 0;
  // Drops every cached unwrapped secret of the group (a client-side cache).
  virtual void ForgetCached(std::string_view key_group) = 0;
};

struct PurgeStepReport {
  PurgeStep step;
  absl::Duration took;
  std::string detail;  // what it did ("re-wrapped 1200 DEKs under KEK 4")
  bool done_before = false;  // done by an earlier, interrupted run
};

struct PurgeReport {
  std::string key_group;
  bool resumed = false;  // an earlier run was interrupted and this one finished it
  std::vector<PurgeStepReport> steps;
  uint64_t delete_jobs_done = 0;
  uint64_t segments_erased = 0;
  uint32_t new_kek_id = 0;
  int64_t writers_waited_for = 0;  // records of writers the fence waited for
  uint64_t deks_rewrapped = 0;     // this run and the interrupted ones
  std::vector<uint32_t> keks_dropped;
  std::string old_root_key_id;
  std::string new_root_key_id;
  std::vector<std::string> root_keys_destroyed;
  bool catalog_compacted = false;
  bool store_rekeyed = false;  // a passphrase-protected store was re-keyed after the destroy
  absl::Duration total;
  std::vector<std::string> warnings;
};

struct PurgeOptions {
  // How long the fence waits for records sealed before the rotation (fence-writers).
  absl::Duration writer_wait = absl::Minutes(2);
  // Called after each step, done or failed (the daemon audits it). May be empty.
  std::function<void(const PurgeStepReport&, const absl::Status&)> on_step;
  // Tests: called before each step starts (return non-OK to stop there, as a crash would).
  std::function<absl::Status(PurgeStep)> before_step;
};

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_POOL_PURGE_H_
