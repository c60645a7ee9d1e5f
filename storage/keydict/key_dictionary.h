// The key dictionary of the segment store: per key group, the fingerprint key and the KEKs
// (one active, any number inactive) that wrap the segments' DEKs (DESIGN.md "Keys"). It holds
// the keys unwrapped in locked memory and their wrapped records in the pool catalog (`keys`
// column family, layout in storage/keydict/key_dictionary_format.h); the root keys that wrap them stay
// in the key service, reached through a RootKeyProvider.
//
//   SEALPOOL_ASSIGN_OR_RETURN(auto dict, KeyDictionary::Create(provider, pool_id, writer, deleter));
//   SEALPOOL_RETURN_IF_ERROR(dict->CreateGroup(1, "finance"));     // or LoadGroup at start
//   SEALPOOL_ASSIGN_OR_RETURN(auto w, dict->WrapDek(1, dek));      // store w.kek_id + w.wrapped
//   SEALPOOL_ASSIGN_OR_RETURN(Dek d, dict->UnwrapDek(1, w.kek_id, w.wrapped));
//
// Key ids at the key service: "fpk" for the fingerprint key, "kek-<n>" for KEK n; the KMS key
// group is the group's name, which must be unique within the dictionary (so no two pool key
// groups share a binding).
//
// KMS use. LoadGroup never calls the KMS: a key is unwrapped on first use and then kept, so a
// pool restarted while the KMS is down opens, and keeps working for every key it can already
// use. WrapDek, UnwrapDek and FingerprintKey call the KMS only to unwrap a key not yet in memory
// and (WrapDek) to rotate. A rotation that is due while the KMS is unreachable (Unavailable or
// DeadlineExceeded) does not stop ingest: WrapDek goes on under the current KEK, and tries to
// rotate again after `rotation_retry_interval`; any other rotation error is returned.
//
// Persistence. Every record change goes through `writer` (the pool writes it to the catalog
// with sync) before it takes effect in memory; the writer and deleter are called for one group
// at a time, but for different groups concurrently. A KEK's dek_count is persisted as a
// reservation ahead of use (key_dictionary_format.h), so the count limit holds across crashes;
// after a restart counting resumes from the reservation. Rotation writes the new active KEK,
// then the old one as inactive; if a crash leaves two active records, LoadGroup takes the
// highest id as active (new KEK ids are always above every existing one).
//
// Errors: NotFound for an unknown group or KEK; AlreadyExists for a group number or name in
// use; InvalidArgument for a bad name; FailedPrecondition when the group has no active root key
// (from the provider) or DropKek names the active KEK; Unavailable/DeadlineExceeded when a key
// must be unwrapped or created and the KMS cannot be reached; DataLoss when a wrapped DEK does
// not unwrap or a record is corrupt; the writer's status when persisting fails. Messages name
// the key group (number and name) and the KEK; they never contain key material.
//
// KEK modes. A group is created with kek_mode "symmetric" (the KEKs above) or "public": its
// KEKs are X25519 KEK pairs (crypto/batch_key_seal.h). The public half is kept in the catalog
// record (KekPairRecord); the private half is wrapped by the root key through the provider
// under the same key id "kek-<n>", is never kept in memory by the dictionary, and is unwrapped
// only to check the pair (creation, rotation, VerifyKekPair) and to re-wrap. Creating a pair
// checks through the KMS that the halves match: it unwraps the private half it just had
// wrapped, derives its public key and compares. DEK wrapping for public groups goes through
// batch keys, which the dictionary does not do yet: WrapDek, WrapDekUnder and UnwrapDek refuse
// a public group with FailedPrecondition: its DEKs go through a DekBatcher (below) and come
// back through the UnwrapDek overload with a batch id. Rotation, re-wrap, DropKek, ListKeks and
// ListWrappedKeys work for pairs as for KEKs.
//
// DEK batches (kek_mode "public", docs/crypto.md "Batch lifetime"). A DekBatcher belongs to one
// writer. Its first Wrap opens a batch: it takes the active KEK pair (rotating first when due;
// with the KMS unreachable it keeps the current pair, as WrapDek does), draws a batch id from
// the group's persisted allocator (ids are reserved in blocks of batch_id_block ahead of use
// and never reused), draws a random BatchKey, seals it to the pair's public half
// (SealBatchKey bound to pool id, group, KEK id, batch id) and persists the batch record
// through the writer before any DEK is wrapped under it, so every segment record naming the
// batch is written after its batch record. Then it wraps DEKs under the batch key until the
// batch holds batch_max_deks DEKs, is batch_max_age old (a sweeper thread closes the batch of
// a writer that idles), or Close() (the writer's commit); the batch key is then wiped, and
// nothing the pool holds opens the batch without the KMS. Opening
// a batch calls the KMS only for a due rotation.
//
// Reading a batched DEK (UnwrapDek with a batch id): the batch record comes through the record
// reader (SetRecordReader), the private half of its KEK pair from the KMS (checked against the
// record's public half), then OpenBatchKey. Private halves and opened batch keys are cached for
// private_key_cache_ttl (then wiped by a sweeper thread, or at the next call that finds them
// expired; ForgetUnwrapped drops them at once). With the KMS unreachable the read fails with the
// provider's status (Unavailable / DeadlineExceeded), its message naming the group and saying
// that the read needs the KMS.
//
// Thread safety: thread-safe. Hot path (WrapDek / UnwrapDek with the key in memory): a short
// per-group lock, then RFC 5649 outside it.
#ifndef SEALPOOL_STORAGE_KEYDICT_KEY_DICTIONARY_H_
#define SEALPOOL_STORAGE_KEYDICT_KEY_DICTIONARY_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "crypto/batch_key_seal.h"
#include "crypto/key_wrap.h"
#include "crypto/keys.h"
#include "storage/keydict/key_dictionary_format.h"
#include "storage/keydict/root_key_provider.h"

namespace sealpool::storage {

struct KeyDictionaryOptions {
  uint64_t kek_max_deks = uint64_t{1} << 24;          // rotate after this many DEKs wrapped...
  absl::Duration kek_max_age = absl::Hours(24 * 30);  // ...or this age, whichever comes first
  uint64_t dek_count_checkpoint = 4096;               // persist the KEK's dek_count every N wraps
  // After a rotation failed because the KMS was unreachable, WrapDek tries again after this.
  absl::Duration rotation_retry_interval = absl::Minutes(1);
  std::function<absl::Time()> clock = absl::Now;  // tests inject time
  // Issue 17, kek_mode "public" groups: a host credential under which the dictionary keeps a
  // second copy of the fingerprint key (storage/keydict/host_fingerprint_key.h), so that
  // ingest needs no KMS from a cold start. nullptr: no host copy; the fingerprint key is
  // unwrapped through the KMS as for symmetric groups.
  std::shared_ptr<const crypto::HostKey> host_key;
  // DEK batches (kek_mode "public"): a batch closes after this many DEKs or this age.
  uint64_t batch_max_deks = 4096;
  absl::Duration batch_max_age = absl::Seconds(60);
  // Batch ids are reserved (persisted) this many at a time.
  uint64_t batch_id_block = 1024;
  // Private halves of KEK pairs and opened batch keys (reads) are kept this long, then wiped.
  absl::Duration private_key_cache_ttl = absl::Minutes(5);
  // At most this many opened batch keys are cached per group (the soonest to expire go first).
  size_t batch_key_cache_entries = 4096;
};

// Persists one key-dictionary record durably (the pool writes it to the catalog with sync).
using KeyRecordWriter = std::function<absl::Status(std::string_view key, std::string_view value)>;
// Deletes one key-dictionary record durably.
using KeyRecordDeleter = std::function<absl::Status(std::string_view key)>;
// Reads one key-dictionary record (nullopt if absent): batch records on the read path.
using KeyRecordReader =
    std::function<absl::StatusOr<std::optional<std::string>>(std::string_view key)>;

enum class KekMode : uint8_t { kSymmetric, kPublic };
// "symmetric" / "public" (the configuration's kek_mode values).
std::string_view KekModeName(KekMode mode);

struct KekInfo {
  uint32_t kek_id = 0;
  bool pair = false;                             // a KEK pair (kek_mode "public")
  std::optional<crypto::KekPublicKey> public_key;  // pairs only: the public half
  KekState state = KekState::kActive;
  std::string root_key_id;
  absl::Time created;
  uint64_t dek_count = 0;  // DEKs wrapped (after a restart: counted from the reservation)
  bool unwrapped = false;  // held in memory now
};

// A secret the key service wraps for a group: its key id there ("fpk", "kek-<n>") and the root
// key that wraps it now. The list a pool reconciles with the key service.
struct WrappedKeyRef {
  std::string key_id;
  std::string root_key_id;
  // KEK pairs: SHA-256 of the public half (64 hex digits), for sealkmsd to pin; else empty.
  std::string public_key_sha256 = {};
  friend bool operator==(const WrappedKeyRef&, const WrappedKeyRef&) = default;
};

class KeyDictionary {
 private:
  struct Group;
  struct OpenBatchSlot;

 public:
  // InvalidArgument for a null provider, writer, deleter or clock, an empty pool id, or a zero
  // limit.
  static absl::StatusOr<std::unique_ptr<KeyDictionary>> Create(RootKeyProvider* provider,
                                                                std::string pool_id,
                                                                KeyRecordWriter writer,
                                                                KeyRecordDeleter deleter,
                                                                KeyDictionaryOptions options = {});
  ~KeyDictionary();
  KeyDictionary(const KeyDictionary&) = delete;

  // The key service's name rule (docs/kms.md): 1..64 characters of [A-Za-z0-9._:-];
  // InvalidArgument otherwise. CreateGroup and LoadGroup apply it; callers check first.
  static absl::Status ValidateGroupName(std::string_view name);
  KeyDictionary& operator=(const KeyDictionary&) = delete;

  // A new key group: generates its fingerprint key and KEK 1, wraps both via the provider,
  // persists the fingerprint key record, then the KEK record, and keeps both unwrapped. Both
  // wraps happen before anything is written, so a KMS failure persists nothing; if the second
  // write fails the first record is deleted (best effort).
  // With KekMode::kPublic, KEK 1 is a KEK pair, checked through the KMS before anything is
  // written (DataLoss if the unwrapped private half does not give the public half).
  absl::Status CreateGroup(uint32_t group_no, std::string group_name,
                           KekMode mode = KekMode::kSymmetric);
  // Loads a group's records as read from the catalog (key, value pairs with the group's
  // prefix, any order). Does not call the KMS. Needs the fingerprint key record and at least
  // one active KEK; errors name the group and the record.
  absl::Status LoadGroup(uint32_t group_no, std::string group_name,
                         std::span<const std::pair<std::string, std::string>> records);
  bool HasGroup(uint32_t group_no) const;
  // NotFound for an unknown group.
  absl::StatusOr<KekMode> GroupKekMode(uint32_t group_no) const;

  // Public groups: the active KEK pair's id and public half (no KMS call). FailedPrecondition
  // for a symmetric group.
  struct ActivePublicKek {
    uint32_t kek_id = 0;
    crypto::KekPublicKey public_key{};
  };
  absl::StatusOr<ActivePublicKek> ActiveKekPublicKey(uint32_t group_no) const;
  // Re-checks a KEK pair through the KMS: unwraps its private half, derives the public key and
  // compares it with the record's. DataLoss if they differ (a substituted public key),
  // FailedPrecondition for a symmetric KEK, the provider's status when the KMS cannot unwrap.
  absl::Status VerifyKekPair(uint32_t group_no, uint32_t kek_id);

  // A copy of the group's fingerprint key (unwrapped on first use). Public groups with a host
  // key (KeyDictionaryOptions::host_key) open the host-sealed copy first and call no KMS; a
  // host copy that is missing or does not open is replaced after the next unwrap through the
  // KMS (so a new host key takes effect then). CreateGroup writes the host copy of a public
  // group; symmetric groups never have one.
  absl::StatusOr<crypto::FingerprintKey> FingerprintKey(uint32_t group_no);
  // Whether the group's fingerprint key can be had without the KMS: it is in memory, or the
  // group is public, a host key is configured and the group has a host-sealed copy (not yet
  // opened: a copy under another host key counts until it fails). NotFound for an unknown group.
  absl::StatusOr<bool> FingerprintKeyWithoutKms(uint32_t group_no) const;

  struct WrappedDekResult {
    uint32_t kek_id;
    crypto::WrappedDek wrapped;
    uint64_t batch_id = 0;  // kek_mode "public": the DEK batch; 0 for a symmetric KEK
  };
  // Wraps a segment's DEK under the group's active KEK; first rotates when the active KEK
  // reached kek_max_deks or kek_max_age (see "KMS use" above for an unreachable KMS).
  absl::StatusOr<WrappedDekResult> WrapDek(uint32_t group_no, const crypto::Dek& dek);
  // Wraps under a named KEK, active or inactive (re-wrap jobs); counts toward its dek_count,
  // never rotates.
  absl::StatusOr<crypto::WrappedDek> WrapDekUnder(uint32_t group_no, uint32_t kek_id,
                                                  const crypto::Dek& dek);
  // Any known KEK of the group unwraps. DataLoss if the wrapped DEK does not unwrap; NotFound
  // for an unknown KEK id.
  absl::StatusOr<crypto::Dek> UnwrapDek(uint32_t group_no, uint32_t kek_id,
                                        std::span<const uint8_t> wrapped);
  // A DEK of a group of either mode: batch_id 0 is a symmetric KEK's DEK (the overload above),
  // otherwise the DEK batch `batch_id` sealed to KEK pair `kek_id` (see "DEK batches").
  // DataLoss when the batch id does not fit the group's mode, the batch record is missing,
  // corrupt or names another KEK, or a key does not open; the provider's status (annotated:
  // "reading ... needs the KMS") when the private half must be unwrapped and cannot be.
  absl::StatusOr<crypto::Dek> UnwrapDek(uint32_t group_no, uint32_t kek_id, uint64_t batch_id,
                                        std::span<const uint8_t> wrapped);

  // One writer's DEK batches (see "DEK batches"); for a symmetric group it wraps like WrapDek
  // (or WrapDekUnder with a fixed KEK). Thread-safe (one writer's seal workers share it).
  class DekBatcher {
   public:
    ~DekBatcher();
    DekBatcher(const DekBatcher&) = delete;
    DekBatcher& operator=(const DekBatcher&) = delete;
    absl::StatusOr<WrappedDekResult> Wrap(const crypto::Dek& dek);
    // Closes the open batch (if any): its key is wiped. The next Wrap opens a new batch.
    void Close();
    // The ids of the batches this batcher opened, oldest first (tests, reports).
    std::vector<uint64_t> batches_opened() const;

   private:
    friend class KeyDictionary;
    DekBatcher(KeyDictionary* dict, std::shared_ptr<Group> group, std::optional<uint32_t> kek);
    KeyDictionary* const dict_;
    const std::shared_ptr<Group> group_;
    const std::optional<uint32_t> fixed_kek_;  // re-wrap: this KEK (pair), never rotate
    mutable absl::Mutex mu_;  // serializes Wrap and Close
    // The open batch's key (null: none) and when it opened; shared with the dictionary's
    // sweeper, which closes a batch open longer than batch_max_age even if the writer idles.
    const std::shared_ptr<OpenBatchSlot> slot_;
    uint64_t batch_id_ ABSL_GUARDED_BY(mu_) = 0;
    uint32_t kek_id_ ABSL_GUARDED_BY(mu_) = 0;
    uint64_t count_ ABSL_GUARDED_BY(mu_) = 0;
    std::vector<uint64_t> opened_ids_ ABSL_GUARDED_BY(mu_);
  };
  // NotFound for an unknown group; NotFound for an unknown `kek_id`.
  absl::StatusOr<std::unique_ptr<DekBatcher>> NewDekBatcher(
      uint32_t group_no, std::optional<uint32_t> kek_id = std::nullopt);
  // Where batch records are read from (the pool sets it to a catalog read of the keys
  // family). Call once, before any read of a batched DEK.
  void SetRecordReader(KeyRecordReader reader);
  // Wipes cached private halves and batch keys whose time is up (the sweeper calls it too).
  void ExpireCachedKeys();
  // Counts of what is cached now for the group (tests; docs/security.md): private halves of
  // KEK pairs, opened batch keys.
  struct CachedKeyCounts {
    size_t private_halves = 0;
    size_t batch_keys = 0;
  };
  CachedKeyCounts CachedKeys(uint32_t group_no) const;
  // Copies of every secret the dictionary holds in memory for the group now: the fingerprint
  // key, unwrapped KEKs, cached private halves, cached batch keys and the keys of batches open
  // in live DekBatchers. What a host compromise finds (docs/security.md); the raw-copy test
  // proves none of it opens a closed batch. NotFound for an unknown group.
  absl::StatusOr<std::vector<crypto::SecretBytes>> HeldKeyMaterial(uint32_t group_no) const;

  // Forces a new active KEK now; returns its id.
  absl::StatusOr<uint32_t> RotateKek(uint32_t group_no);
  // Re-wraps every KEK and the fingerprint key of the group under the group's current active
  // root key, persisting each record as it goes; records already under the active root key are
  // skipped, so a failed run is simply run again. The secret comes from memory when the key is
  // unwrapped, otherwise from UnwrapForRewrap (allowed under a compromised root key). Returns
  // how many records were re-wrapped. FailedPrecondition if the group has no active root key.
  absl::StatusOr<uint32_t> RewrapGroupKeys(uint32_t group_no);
  // Forgets an inactive KEK (purge, after every DEK under it was re-wrapped): deletes its
  // record through the deleter, then drops it from memory. FailedPrecondition for the active
  // KEK, NotFound for an unknown one.
  absl::Status DropKek(uint32_t group_no, uint32_t kek_id);
  absl::StatusOr<std::vector<KekInfo>> ListKeks(uint32_t group_no) const;
  // The fingerprint key, then every KEK (inactive ones included), as the key service knows
  // them. NotFound for an unknown group.
  absl::StatusOr<std::vector<WrappedKeyRef>> ListWrappedKeys(uint32_t group_no) const;
  // Drops the group's unwrapped keys from memory (wiped once no call uses them any more).
  void ForgetUnwrapped(uint32_t group_no);

  const std::string& pool_id() const { return pool_id_; }

 private:
  struct KekEntry;

  KeyDictionary(RootKeyProvider* provider, std::string pool_id, KeyRecordWriter writer,
                KeyRecordDeleter deleter, KeyDictionaryOptions options);

  absl::StatusOr<std::shared_ptr<Group>> FindGroup(uint32_t group_no) const
      ABSL_LOCKS_EXCLUDED(groups_mu_);
  // The KEK in memory, unwrapping it first if needed (no lock held during the KMS call).
  absl::StatusOr<std::shared_ptr<const crypto::Kek>> GetKek(Group& group, uint32_t kek_id);
  absl::StatusOr<std::shared_ptr<const crypto::FingerprintKey>> GetFingerprintKey(Group& group);
  // Counts one DEK under `kek_id` (with `rotate`: the active KEK, rotated first if due),
  // persisting a new reservation if needed; returns the KEK id. For a symmetric KEK also
  // unwraps it and returns it in `*kek`.
  absl::StatusOr<uint32_t> Reserve(Group& group, bool rotate, uint32_t kek_id,
                                   std::shared_ptr<const crypto::Kek>* kek);
  // The next batch id of the group (persisting a new allocator block when needed).
  absl::StatusOr<uint64_t> NextBatchId(Group& group);
  // The opened batch key of `batch_id` (cache, else batch record + KMS + OpenBatchKey).
  absl::StatusOr<std::shared_ptr<const crypto::BatchKey>> GetBatchKey(Group& group,
                                                                      uint32_t kek_id,
                                                                      uint64_t batch_id);
  void StartSweeper();
  // Wraps under `kek_id` after reserving a count (persisting a new reservation if needed).
  // With `rotate`, kek_id is ignored: the active KEK, rotated first if due.
  absl::StatusOr<WrappedDekResult> WrapUnder(Group& group, bool rotate, uint32_t kek_id,
                                             const crypto::Dek& dek);
  // Persists a reservation of `dek_count_checkpoint` more DEKs for `kek_id`.
  absl::Status Checkpoint(Group& group, uint32_t kek_id);
  // Creates, persists and activates a new KEK. `only_if_due` (WrapDek): do nothing if the
  // active KEK is no longer due (another thread rotated) or a failed attempt's retry time has
  // not come; if the KMS is unreachable, set the retry time.
  absl::StatusOr<uint32_t> Rotate(Group& group, bool only_if_due);
  bool RotationDue(const KekEntry& entry, absl::Time now) const;
  absl::Status PersistKek(const Group& group, uint32_t kek_id, const KekEntry& entry);
  // A new KEK pair for `kek_id`: generated, its private half wrapped through the provider and
  // checked by unwrapping it again. Returns the persisted fields (state active, reserved set).
  absl::StatusOr<KekEntry> NewKekPair(const Group& group, uint32_t kek_id, int64_t now_micros);
  // Unwraps `wrapped` (the private half of `kek_id`) and compares its public key with
  // `public_key`.
  absl::Status CheckPairThroughKms(const Group& group, uint32_t kek_id, const WrappedKey& wrapped,
                                   const crypto::KekPublicKey& public_key);

  RootKeyProvider* const provider_;
  const std::string pool_id_;
  const KeyRecordWriter writer_;
  const KeyRecordDeleter deleter_;
  const KeyDictionaryOptions options_;

  // Serializes CreateGroup and LoadGroup (number and name uniqueness across KMS calls).
  absl::Mutex create_mu_;
  KeyRecordReader reader_;  // set once before use
  // The cache sweeper (started with the first cached private half).
  absl::Mutex sweeper_mu_;
  bool sweeper_stop_ ABSL_GUARDED_BY(sweeper_mu_) = false;
  bool sweeper_started_ ABSL_GUARDED_BY(sweeper_mu_) = false;
  std::thread sweeper_;
  mutable absl::Mutex groups_mu_;
  std::map<uint32_t, std::shared_ptr<Group>> groups_ ABSL_GUARDED_BY(groups_mu_);
};

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_KEYDICT_KEY_DICTIONARY_H_
