// What sealpoold knows about its kek_mode "public" key groups' KEK pairs (issue 17, layer 5):
// whether each group's pairs were confirmed since this process started (every pair re-derived
// from its private half in the KMS: KeyDictionary::VerifyKekPair, and its public key's hash
// accepted by sealkmsd's pin: Reconcile), since when ingest has run unconfirmed, and whether a
// check failed (a substituted public key: ingest into the group is stopped) or the group's root
// key was found compromised, deprecated, terminated or gone. crcontrol --getmode shows it
// (GetMode's key_groups), with the warnings of Warnings().
//
// Confirmation is per process: after a restart every public group is unconfirmed until the
// reconciler reaches sealkmsd (the public keys in memory were read from the catalog, which the
// check is about). Once confirmed a group stays confirmed: the dictionary never re-reads a
// public key, and a rotation checks its new pair through the KMS before using it.
//
// Thread-safe.
#ifndef SEALPOOL_DAEMON_SEALPOOLD_KEK_PAIR_WATCH_H_
#define SEALPOOL_DAEMON_SEALPOOLD_KEK_PAIR_WATCH_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace sealpool::daemon {

class KekPairWatch {
 public:
  // `warn_after`: [keys] unconfirmed_warn_seconds.
  explicit KekPairWatch(absl::Duration warn_after,
                        std::function<absl::Time()> clock = absl::Now);

  // A public group to watch (others are ignored by every call below).
  void Track(std::string_view group) ABSL_LOCKS_EXCLUDED(mu_);
  bool Tracked(std::string_view group) const ABSL_LOCKS_EXCLUDED(mu_);

  // A backup into `group` starts. FailedPrecondition naming the failed check if the group's
  // pair failed it (ingest stopped); otherwise records the ingest (and, when unconfirmed, the
  // start of unconfirmed ingest).
  absl::Status NoteIngest(std::string_view group) ABSL_LOCKS_EXCLUDED(mu_);

  // Every pair verified and the pins accepted.
  void Confirmed(std::string_view group) ABSL_LOCKS_EXCLUDED(mu_);
  // A pair does not match its private half, or sealkmsd's pin refused its public key: stops
  // ingest into the group until sealpoold restarts (the catalog must be repaired first).
  void CheckFailed(std::string_view group, std::string why) ABSL_LOCKS_EXCLUDED(mu_);
  // The group's root key is compromised/deprecated/terminated/gone (PollRootKeyStates).
  void RootKeyProblem(std::string_view group, std::string why) ABSL_LOCKS_EXCLUDED(mu_);

  struct State {
    bool confirmed = false;
    absl::Time last_confirmed = absl::InfinitePast();   // InfinitePast: never
    absl::Time last_ingest = absl::InfinitePast();      // InfinitePast: none since start
    absl::Time unconfirmed_since = absl::InfinitePast();  // first unconfirmed ingest, or never
    std::string check_failed;      // non-empty: ingest stopped
    std::string root_key_problem;  // non-empty: see RootKeyProblem
    std::vector<std::string> warnings;
  };
  // NotFound for a group not tracked.
  absl::StatusOr<State> Get(std::string_view group) const ABSL_LOCKS_EXCLUDED(mu_);

  absl::Duration warn_after() const { return warn_after_; }

 private:
  const absl::Duration warn_after_;
  const std::function<absl::Time()> clock_;
  mutable absl::Mutex mu_;
  std::map<std::string, State, std::less<>> groups_ ABSL_GUARDED_BY(mu_);
};

// For an operation that needs the KMS (restore, verify with keys, re-wrap, purge) and failed
// because sealkmsd could not be reached (Unavailable or DeadlineExceeded): Unavailable
// "<what> needs the KMS: sealkmsd at <address> cannot be reached (<cause>)". Any other status
// is returned unchanged.
absl::Status NeedsKms(const absl::Status& status, std::string_view what,
                      std::string_view kms_address);

}  // namespace sealpool::daemon

#endif  // SEALPOOL_DAEMON_SEALPOOLD_KEK_PAIR_WATCH_H_
