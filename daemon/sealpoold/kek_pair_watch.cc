#include "daemon/sealpoold/kek_pair_watch.h"

#include <utility>

#include "absl/status/statusor.h"
#include "base/strings.h"

namespace sealpool::daemon {

using base::Cat;

KekPairWatch::KekPairWatch(absl::Duration warn_after, std::function<absl::Time()> clock)
    : warn_after_(warn_after), clock_(std::move(clock)) {}

void KekPairWatch::Track(std::string_view group) {
  absl::MutexLock lock(&mu_);
  groups_.try_emplace(std::string(group));
}

bool KekPairWatch::Tracked(std::string_view group) const {
  absl::MutexLock lock(&mu_);
  return groups_.find(group) != groups_.end();
}

absl::Status KekPairWatch::NoteIngest(std::string_view group) {
  const absl::Time now = clock_();
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return absl::OkStatus();
  State& s = it->second;
  if (!s.check_failed.empty()) {
    return absl::FailedPreconditionError(
        Cat("ingest into key group \"", group, "\" is stopped: its KEK pair failed its check (",
            s.check_failed, "); repair the catalog's public key, then restart sealpoold"));
  }
  s.last_ingest = now;
  if (!s.confirmed && s.unconfirmed_since == absl::InfinitePast()) s.unconfirmed_since = now;
  return absl::OkStatus();
}

void KekPairWatch::Confirmed(std::string_view group) {
  const absl::Time now = clock_();
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(group);
  if (it == groups_.end() || !it->second.check_failed.empty()) return;
  it->second.confirmed = true;
  it->second.last_confirmed = now;
  it->second.unconfirmed_since = absl::InfinitePast();
}

void KekPairWatch::CheckFailed(std::string_view group, std::string why) {
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return;
  it->second.confirmed = false;
  it->second.check_failed = std::move(why);
}

void KekPairWatch::RootKeyProblem(std::string_view group, std::string why) {
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) return;
  it->second.root_key_problem = std::move(why);
}

absl::StatusOr<KekPairWatch::State> KekPairWatch::Get(std::string_view group) const {
  const absl::Time now = clock_();
  absl::MutexLock lock(&mu_);
  auto it = groups_.find(group);
  if (it == groups_.end()) {
    return absl::NotFoundError(Cat("key group \"", group, "\" is not a kek_mode \"public\" group"));
  }
  State s = it->second;
  if (!s.check_failed.empty()) {
    s.warnings.push_back(Cat("key group ", group, ": ingest STOPPED: ", s.check_failed));
  }
  if (!s.confirmed && s.unconfirmed_since != absl::InfinitePast() &&
      now - s.unconfirmed_since >= warn_after_) {
    s.warnings.push_back(Cat(
        "key group ", group, ": ingest has run for ",
        absl::ToInt64Seconds(now - s.unconfirmed_since),
        " s without its KEK pair confirmed through sealkmsd (threshold ",
        absl::ToInt64Seconds(warn_after_),
        " s): a substituted public key would not be noticed until sealkmsd is reachable"));
  }
  if (!s.root_key_problem.empty() && s.last_ingest != absl::InfinitePast() &&
      (s.last_confirmed == absl::InfinitePast() || s.last_ingest >= s.last_confirmed)) {
    s.warnings.push_back(Cat("key group ", group, ": ", s.root_key_problem,
                             ", and ingest ran without the KMS: data written since may not be "
                             "readable (re-wrap or purge the group; docs/operations.md)"));
  }
  return s;
}

absl::Status NeedsKms(const absl::Status& status, std::string_view what,
                      std::string_view kms_address) {
  if (status.code() != absl::StatusCode::kUnavailable &&
      status.code() != absl::StatusCode::kDeadlineExceeded) {
    return status;
  }
  return absl::UnavailableError(Cat(what, " needs the KMS: sealkmsd at ", kms_address,
                                    " cannot be reached (", status.message(), ")"));
}

}  // namespace sealpool::daemon
