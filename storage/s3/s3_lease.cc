#include "storage/s3/s3_lease.h"

#include <openssl/rand.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "base/status_macros.h"
#include "base/strings.h"
#include "storage/s3/s3_record_text.h"

namespace sealpool::storage::s3 {
namespace {

using base::Cat;

std::string Hex(const Id128& id) {
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
}

constexpr std::string_view kLeaseMagic = "sealpool-lease 1";
constexpr std::string_view kHostChars =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
constexpr std::string_view kHexChars = "0123456789abcdef";
constexpr std::string_view kBootChars = "0123456789abcdef-";

std::string Digits20(uint64_t v) {
  std::string s = std::to_string(v);
  return std::string(20 - s.size(), '0') + s;
}

struct Claim {
  uint64_t generation = 0;
  std::string key;
  bool released = false;
};

// Claims under lease/ by generation (a generation may hold several claims of a race). Keys that
// are not claims or markers are ignored (they cannot be claims).
std::multimap<uint64_t, Claim> ParseClaims(const std::string& lease_dir,
                                           const std::vector<ObjectInfo>& objects) {
  std::map<std::string, Claim> by_key;
  std::vector<std::string> markers;
  for (const ObjectInfo& o : objects) {
    std::string_view name = std::string_view(o.key).substr(lease_dir.size());
    bool marker = false;
    if (name.ends_with(".released")) {
      marker = true;
      name.remove_suffix(9);
    }
    if (name.size() != 37 || name[20] != '-') continue;
    uint64_t gen = 0;
    if (name.substr(0, 20).find_first_not_of("0123456789") != std::string_view::npos ||
        !absl::SimpleAtoi(base::AbslView(name.substr(0, 20)), &gen) ||
        name.substr(21).find_first_not_of(kHexChars) != std::string_view::npos) {
      continue;
    }
    std::string key = Cat(lease_dir, name);
    if (marker) {
      markers.push_back(key);
    } else {
      by_key[key] = Claim{gen, key, false};
    }
  }
  for (const std::string& m : markers) {
    auto it = by_key.find(m);
    if (it != by_key.end()) it->second.released = true;
  }
  std::multimap<uint64_t, Claim> out;
  for (auto& [k, c] : by_key) out.emplace(c.generation, c);
  return out;
}

std::string ReadSmallFile(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::optional<uint64_t> StartTicksOf(const std::string& stat_path) {
  std::string stat = ReadSmallFile(stat_path.c_str());
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  if (close + 2 > stat.size()) return std::nullopt;
  std::vector<std::string_view> f;
  std::string_view rest = std::string_view(stat).substr(close + 2);
  for (size_t at = 0; at <= rest.size();) {
    size_t sp = rest.find(' ', at);
    if (sp == std::string_view::npos) sp = rest.size();
    f.push_back(rest.substr(at, sp - at));
    at = sp + 1;
  }
  // Field 3 (state) is f[0]; field 22 (starttime) is f[19]. A zombie (Z) or dead (X) process
  // has ended: no start time.
  uint64_t v = 0;
  if (f.size() < 20 || f[0] == "Z" || f[0] == "X" || !absl::SimpleAtoi(base::AbslView(f[19]), &v)) {
    return std::nullopt;
  }
  return v;
}

// Whether the record's holder is a process of this machine and boot that has ended.
bool HolderIsDeadHere(const LeaseRecord& holder, const LeaseRecord& self) {
  if (holder.machine_id.empty() || holder.machine_id != self.machine_id ||
      holder.host != self.host) {
    return false;  // another machine (or unknown): only a takeover may claim it
  }
  if (holder.boot_id != self.boot_id) return true;  // rebooted since
  if (holder.pid == self.pid && holder.start_ticks == self.start_ticks) return false;  // us
  std::optional<uint64_t> ticks = StartTicksOf(Cat("/proc/", holder.pid, "/stat"));
  return !ticks.has_value() || *ticks != holder.start_ticks;
}

struct Registry {
  absl::Mutex mu;
  std::map<std::string, std::weak_ptr<S3Lease>> leases ABSL_GUARDED_BY(mu);
};
Registry& GetRegistry() {
  static Registry* r = new Registry;
  return *r;
}

}  // namespace

std::string PoolFolder(std::string_view prefix, const Id128& pool_id) {
  return Cat(prefix, "sealpool-", Hex(pool_id), "/");
}

std::string EncodeLeaseRecord(const LeaseRecord& r) {
  return Cat(kLeaseMagic, "\npool ", Hex(r.pool_id), "\ngeneration ", r.generation, "\nhost ",
             r.host, "\nmachine ", r.machine_id, "\nboot ", r.boot_id, "\npid ", r.pid, "\nstart ",
             r.start_ticks, "\ntime ", r.unix_micros, "\ntakeover ", r.takeover ? 1 : 0, "\n");
}

absl::StatusOr<LeaseRecord> DecodeLeaseRecord(std::string_view text) {
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<std::string_view> v,
                            ParseRecordText(text, kMaxLeaseRecordBytes, kLeaseMagic,
                                            {"pool", "generation", "host", "machine", "boot", "pid",
                                             "start", "time", "takeover"}));
  LeaseRecord r;
  SEALPOOL_ASSIGN_OR_RETURN(r.pool_id, ParseIdField("pool", v[0]));
  SEALPOOL_ASSIGN_OR_RETURN(r.generation, ParseNumberField("generation", v[1]));
  if (r.generation == 0) return absl::InvalidArgumentError("lease record: generation 0");
  SEALPOOL_ASSIGN_OR_RETURN(r.host, ParseTextField("host", v[2], kHostChars, 1, 253));
  SEALPOOL_ASSIGN_OR_RETURN(r.machine_id, ParseTextField("machine", v[3], kHexChars, 0, 64));
  SEALPOOL_ASSIGN_OR_RETURN(r.boot_id, ParseTextField("boot", v[4], kBootChars, 0, 64));
  SEALPOOL_ASSIGN_OR_RETURN(r.pid, ParseNumberField("pid", v[5]));
  SEALPOOL_ASSIGN_OR_RETURN(r.start_ticks, ParseNumberField("start", v[6]));
  SEALPOOL_ASSIGN_OR_RETURN(r.unix_micros, ParseNumberField("time", v[7]));
  if (v[8] != "0" && v[8] != "1") {
    return absl::InvalidArgumentError("lease record: takeover is neither 0 nor 1");
  }
  r.takeover = v[8] == "1";
  return r;
}

std::string DescribeHolder(const LeaseRecord& r) {
  return Cat("host ", r.host, " pid ", r.pid, " (generation ", r.generation, ", since ",
             absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                              absl::FromUnixMicros(static_cast<int64_t>(r.unix_micros)),
                              absl::UTCTimeZone()),
             r.takeover ? ", by takeover)" : ")");
}

LeaseRecord S3Lease::Self() {
  LeaseRecord r;
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = 0;
  for (char c : std::string_view(host)) {
    r.host.push_back(kHostChars.find(c) == std::string_view::npos ? '-' : c);
  }
  if (r.host.size() > 253) r.host.resize(253);
  if (r.host.empty()) r.host = "unknown";
  r.machine_id = ReadSmallFile("/etc/machine-id");
  if (r.machine_id.size() > 64 || r.machine_id.find_first_not_of(kHexChars) != std::string::npos) {
    r.machine_id.clear();
  }
  r.boot_id = ReadSmallFile("/proc/sys/kernel/random/boot_id");
  if (r.boot_id.size() > 64 || r.boot_id.find_first_not_of(kBootChars) != std::string::npos) {
    r.boot_id.clear();
  }
  r.pid = static_cast<uint64_t>(getpid());
  r.start_ticks = StartTicksOf("/proc/self/stat").value_or(0);
  return r;
}

S3Lease::S3Lease(S3Client* client, std::string folder, LeaseRecord record, std::string claim_key)
    : client_(client),
      folder_(std::move(folder)),
      record_(std::move(record)),
      claim_key_(std::move(claim_key)) {}

S3Lease::~S3Lease() {
  if (fenced()) return;
  const std::string body = "released\n";
  client_
      ->Put(claim_key_ + ".released",
            std::span(reinterpret_cast<const uint8_t*>(body.data()), body.size()))
      .IgnoreError();
}

bool S3Lease::fenced() const {
  absl::MutexLock lock(&mu_);
  return !fenced_.ok();
}

absl::StatusOr<std::shared_ptr<S3Lease>> S3Lease::Acquire(S3Client* client, std::string_view prefix,
                                                          const Id128& pool_id,
                                                          S3LeaseOptions options) {
  const std::string folder = PoolFolder(prefix, pool_id);
  const std::string lease_dir = folder + "lease/";
  LeaseRecord self = options.self.value_or(Self());
  const std::string registry_key =
      Cat(client->target().endpoint, "\n", client->target().bucket, "\n", folder, "\n", self.host,
          "\n", self.machine_id, "\n", self.pid, "\n", self.start_ticks);
  Registry& registry = GetRegistry();
  absl::MutexLock registry_lock(&registry.mu);
  if (auto it = registry.leases.find(registry_key); it != registry.leases.end()) {
    // The same process already holds it (another key group's store): share it. Its next
    // upload, delete or sweep checks it.
    if (std::shared_ptr<S3Lease> held = it->second.lock(); held != nullptr) return held;
  }

  SEALPOOL_ASSIGN_OR_RETURN(std::vector<ObjectInfo> listed, client->List(lease_dir));
  std::multimap<uint64_t, Claim> claims = ParseClaims(lease_dir, listed);
  uint64_t highest = claims.empty() ? 0 : claims.rbegin()->first;
  if (highest >= (uint64_t{1} << 62)) {
    return absl::FailedPreconditionError(
        Cat("S3 lease of ", folder, ": generation ", highest, " is out of range"));
  }
  bool took_over = false;
  auto [first, last] = claims.equal_range(highest);
  for (auto it = first; it != last; ++it) {
    const Claim& c = it->second;
    if (c.released) continue;
    absl::StatusOr<std::vector<uint8_t>> body = client->GetObject(c.key, kMaxLeaseRecordBytes);
    if (absl::IsNotFound(body.status())) continue;  // withdrawn meanwhile
    absl::Status problem;
    std::optional<LeaseRecord> holder;
    if (absl::IsUnavailable(body.status()) &&
        absl::StrContains(body.status().message(), "longer")) {
      problem = absl::InvalidArgumentError("longer than 1024 bytes");
    } else if (!body.ok()) {
      return base::Annotate(body.status(), Cat("S3 lease of ", folder));
    } else {
      absl::StatusOr<LeaseRecord> decoded = DecodeLeaseRecord(
          std::string_view(reinterpret_cast<const char*>(body->data()), body->size()));
      if (!decoded.ok()) {
        problem = decoded.status();
      } else if (decoded->pool_id != pool_id || decoded->generation != c.generation) {
        problem = absl::InvalidArgumentError(
            Cat("it names generation ", decoded->generation, " of pool ", Hex(decoded->pool_id)));
      } else {
        holder = *decoded;
      }
    }
    if (!holder.has_value()) {
      if (options.takeover) {
        took_over = true;
        continue;
      }
      return absl::FailedPreconditionError(
          Cat("S3 lease of ", folder, ": the generation object ", c.key, " is malformed (",
              Sanitize(base::StdView(problem.message()), 200),
              "); its holder is unknown: take over only for disaster recovery"));
    }
    if (HolderIsDeadHere(*holder, self)) continue;
    if (options.takeover) {
      took_over = true;
      continue;
    }
    return absl::FailedPreconditionError(
        Cat("S3 pool folder ", client->target().bucket, "/", folder, " is held by ",
            DescribeHolder(*holder),
            ": a second pool on the same prefix is refused (take over only for disaster "
            "recovery, when that host is gone)"));
  }

  // Claim the next generation.
  uint8_t nonce_bytes[8];
  if (RAND_bytes(nonce_bytes, sizeof(nonce_bytes)) != 1) {
    return absl::InternalError("S3 lease: RAND_bytes failed");
  }
  const std::string nonce =
      absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(nonce_bytes), 8));
  LeaseRecord mine = self;
  mine.pool_id = pool_id;
  mine.generation = highest + 1;
  mine.takeover = took_over;
  mine.unix_micros = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()));
  const std::string claim_key = Cat(lease_dir, Digits20(mine.generation), "-", nonce);
  const std::string body = EncodeLeaseRecord(mine);
  SEALPOOL_RETURN_IF_ERROR(client->Put(
      claim_key, std::span(reinterpret_cast<const uint8_t*>(body.data()), body.size())));

  // Did anybody else claim the same or a later generation meanwhile?
  absl::StatusOr<std::vector<ObjectInfo>> again = client->List(lease_dir);
  if (!again.ok()) {
    client->Delete(claim_key).IgnoreError();
    return base::Annotate(again.status(), Cat("S3 lease of ", folder));
  }
  bool seen_mine = false;
  for (const auto& [gen, c] : ParseClaims(lease_dir, *again)) {
    if (c.key == claim_key) {
      seen_mine = true;
    } else if (gen >= mine.generation) {
      client->Delete(claim_key).IgnoreError();
      return absl::FailedPreconditionError(Cat("S3 pool folder ", client->target().bucket, "/",
                                               folder, ": another process claimed generation ", gen,
                                               " at the same time (", c.key,
                                               "); this one withdrew: try again"));
    }
  }
  if (!seen_mine) {
    return absl::FailedPreconditionError(
        Cat("S3 lease of ", folder, ": the claim ", claim_key,
            " is not listed after it was written (the store is not read-after-write "
            "consistent; fencing cannot work on it)"));
  }
  if (took_over && options.takeover_quiet > absl::ZeroDuration()) {
    absl::SleepFor(options.takeover_quiet);
  }
  // Older generations are history now: drop them (best effort) so each Check lists a few keys.
  for (const auto& [gen, c] : claims) {
    if (gen + 1 < mine.generation) {
      client->Delete(c.key).IgnoreError();
      if (c.released) client->Delete(c.key + ".released").IgnoreError();
    }
  }
  auto lease = std::shared_ptr<S3Lease>(new S3Lease(client, folder, mine, claim_key));
  registry.leases[registry_key] = lease;
  return lease;
}

absl::Status S3Lease::Check() {
  {
    absl::MutexLock lock(&mu_);
    if (!fenced_.ok()) return fenced_;
  }
  const std::string lease_dir = folder_ + "lease/";
  SEALPOOL_ASSIGN_OR_RETURN(std::vector<ObjectInfo> listed, client_->List(lease_dir));
  std::multimap<uint64_t, Claim> claims = ParseClaims(lease_dir, listed);
  absl::Status fenced;
  bool seen_mine = false;
  for (const auto& [gen, c] : claims) {
    if (c.key == claim_key_) seen_mine = true;
  }
  if (!claims.empty() && claims.rbegin()->first > record_.generation) {
    const Claim& top = claims.rbegin()->second;
    std::string by = top.key;
    absl::StatusOr<std::vector<uint8_t>> body = client_->GetObject(top.key, kMaxLeaseRecordBytes);
    if (body.ok()) {
      absl::StatusOr<LeaseRecord> r = DecodeLeaseRecord(
          std::string_view(reinterpret_cast<const char*>(body->data()), body->size()));
      if (r.ok()) by = DescribeHolder(*r);
    }
    fenced = absl::FailedPreconditionError(
        Cat("fenced: generation ", record_.generation, " of ", folder_, " taken over by ", by,
            "; this process must not write, compact or sweep there any more"));
  } else if (!seen_mine) {
    fenced = absl::FailedPreconditionError(
        Cat("fenced: generation ", record_.generation, " of ", folder_, ": its lease object ",
            claim_key_, " is gone; this process must not write, compact or sweep there any more"));
  }
  absl::MutexLock lock(&mu_);
  if (!fenced.ok() && fenced_.ok()) fenced_ = fenced;
  return fenced_;
}

}  // namespace sealpool::storage::s3
