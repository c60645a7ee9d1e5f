// Crash campaign of sealpoold, end to end: one sealkmsd for the whole run, and a real sealpoold
// SIGKILLed at a random moment (SEALPOOL_POOLD_KILLS times, default 200) while 4 client threads
// back up, restore and delete (client deletes on lsu2, admin deletes on lsu1), and one of them
// also runs the delete queue and starts compactions, so kills land inside those too.
//
// The client records every step in a model, and after each restart the model is checked:
//  - acknowledged backups (the Backup reply came back OK) are listed with their size and
//    restore bit-exact;
//  - a backup whose commit was never sent is not visible;
//  - a backup whose commit was sent but whose reply was lost may be visible, and then restores
//    bit-exact (and counts as acknowledged from then on);
//  - an acknowledged delete is not visible; a delete whose reply was lost may go either way;
//  - no other image is visible (every listed name must be in the model);
//  - admin Verify and Scrub report no problem (Scrub's dead_regions are crash-torn space no
//    live segment points into: counted, not a problem).
// CI budget: the listing (visibility and size) covers every image after every kill, but only
// images acknowledged in the last kRecentRounds rounds, the lost-reply ones and a rotating
// sample of kOlderSample older ones are restored; Verify and Scrub run after every
// SEALPOOL_POOLD_VERIFY_EVERY-th kill (default 10). After the last kill a final check restores
// every image, runs Verify and Scrub, and stops sealpoold with SIGTERM (exit code 0).
//
// Image content is a function of (seed, image name), so it is re-derived for every check.
// SEALPOOL_CRASH_SEED replays a run's images, operations and kill delays (the kill delays are
// wall-clock, so where exactly a kill lands still varies); every failure prints it.
// Files go to /dev/shm (a kill loses no page cache, so fsync does not matter and tmpfs is
// faster); SEALPOOL_CRASH_TMPDIR overrides ("" keeps TMPDIR).
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "test/daemon/sealpoold/sealpoold_test_env.h"

namespace sealpool::test {
namespace {

namespace v1 = pool::v1;
using Clock = std::chrono::steady_clock;

constexpr int kWorkers = 4;
constexpr uint64_t kRecentRounds = 1;  // images acknowledged this recently are all restored
constexpr size_t kOlderSample = 6;     // plus this many older ones, rotating
constexpr size_t kPiece = 256 << 10;   // content is made of pieces this large
constexpr uint64_t kSharedPieces = 16; // a third of the pieces come from this many shared ones
constexpr auto kCallDeadline = std::chrono::seconds(60);

uint64_t EnvU64(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  uint64_t out = 0;
  if (v != nullptr && absl::SimpleAtoi(v, &out)) return out;
  return fallback;
}

uint64_t RandomSeed() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd();
}

uint64_t Mix64(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9e3779b97f4a7c15ULL + b + 0x2545f4914f6cdd1dULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// FNV-1a: stable across builds (std::hash is not), so a seed replays the same content.
uint64_t NameHash(const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : name) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ULL;
  return h;
}

// Sizes from a few KiB to a few MiB: tiny (below the minimum chunk), small, medium, large.
uint64_t PickSize(uint64_t r) {
  switch (r % 20) {
    case 0: case 1: case 2: case 3: case 4: return 1 + (r >> 8) % (16 << 10);
    case 5: case 6: case 7: case 8: case 9: case 10: case 11:
      return (16 << 10) + (r >> 8) % (240 << 10);
    case 12: case 13: case 14: case 15: case 16: case 17:
      return (256 << 10) + (r >> 8) % (1280 << 10);
    default: return (1536 << 10) + (r >> 8) % (2560 << 10);
  }
}

// The bytes of image `name`: pieces of kPiece bytes, a third of them one of kSharedPieces
// shared by all images (so images dedup against each other and deletes leave shared segments).
std::string ImageContent(uint64_t seed, const std::string& name, uint64_t size) {
  std::string out;
  out.reserve(size);
  const uint64_t h = Mix64(seed, NameHash(name));
  for (uint64_t piece = 0; out.size() < size; ++piece) {
    const uint64_t r = Mix64(h, piece);
    const size_t n = std::min<uint64_t>(kPiece, size - out.size());
    const uint64_t piece_seed = r % 3 == 0 ? Mix64(seed, 1000 + (r >> 8) % kSharedPieces) : r;
    std::vector<uint8_t> bytes = PseudoRandomBytes(n, piece_seed);
    out.append(bytes.begin(), bytes.end());
  }
  return out;
}

std::string StatusLine(const grpc::Status& s) {
  return absl::StrCat("code ", static_cast<int>(s.error_code()), ": ", s.error_message());
}

// What the client knows of one image.
enum class State {
  kWriting,     // header and data sent, no commit: must not be visible
  kCommitSent,  // commit sent, no reply: may be visible (then bit-exact)
  kAcked,       // the reply came back OK: must be visible and bit-exact
  kDeleteSent,  // acknowledged, delete sent without a reply: may be visible (then bit-exact)
  kDeleted,     // the delete came back OK: must not be visible
};

struct ImageRecord {
  std::string lsu;
  std::string owner;
  uint64_t size = 0;
  int worker = 0;
  State state = State::kWriting;
  uint64_t round = 0;        // the round that wrote it
  uint64_t acked_round = 0;  // the round it became kAcked (written, or found after a lost reply)
};

// Who each worker is. lsu1 forbids client deletes (the admin deletes there); lsu2 allows them.
struct WorkerRole {
  const char* cert;
  const char* lsu;
  bool client_delete;
  bool maintenance;  // also runs the delete queue and starts compactions
};
constexpr WorkerRole kRoles[kWorkers] = {{"alice", "lsu1", false, true},
                                         {"alice", "lsu2", true, false},
                                         {"bob", "lsu1", false, false},
                                         {"alice", "lsu2", true, false}};

struct Totals {
  uint64_t backups_started = 0, acks = 0, commit_lost = 0, commit_lost_visible = 0;
  uint64_t deletes = 0, delete_lost = 0, delete_lost_visible = 0;
  uint64_t restores_in_workload = 0, restores_checked = 0, queue_runs = 0, compactions = 0;
  uint64_t verifies = 0, dead_regions = 0, max_live = 0;
};

// The campaign's shared state. Workers touch only their own images (by `worker`), the main
// thread everything while no worker runs; `mu_` guards the model and the problem list.
class Campaign {
 public:
  Campaign(Sealpoold* poold, uint64_t seed) : poold_(poold), seed_(seed) {}

  // One round of client work: 4 threads until `Kill` (set killed_, then SIGKILL).
  void RunWorkload(uint64_t round, std::chrono::microseconds kill_after);
  // After a restart: the model against the listing, restores, and (when `deep`) Verify and
  // Scrub. `full` restores every image. Resolves lost replies.
  void Check(uint64_t round, bool full, bool deep);
  // Runs the delete queue to the end (not killed: must succeed).
  void ProcessQueue();

  std::vector<std::string> TakeProblems() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(problems_, {});
  }
  const Totals& totals() const { return totals_; }

 private:
  void Worker(uint64_t round, int id);
  void Backup(v1::PoolService::Stub& stub, uint64_t round, int id, uint64_t n,
              std::mt19937_64& rng);
  void RestoreOne(v1::PoolService::Stub& stub, int id, std::mt19937_64& rng);
  void DeleteOne(v1::PoolService::Stub& stub, v1::PoolAdmin::Stub& admin, int id,
                 std::mt19937_64& rng);
  void Maintain(v1::PoolAdmin::Stub& admin, std::mt19937_64& rng);
  // A failed call: fine once the kill is under way, a problem before.
  void Failed(const std::string& what, const grpc::Status& s);
  void Problem(std::string p) {
    std::lock_guard<std::mutex> lock(mu_);
    problems_.push_back(std::move(p));
  }
  std::vector<std::string> OwnNames(int id, State state);
  void RestoreAndCompare(v1::PoolAdmin::Stub& admin, const std::string& name,
                         const ImageRecord& rec, const char* why);
  void RunCheck(v1::PoolAdmin::Stub& admin, bool verify);

  Sealpoold* const poold_;
  const uint64_t seed_;
  std::atomic<bool> killed_{false};

  std::mutex mu_;
  std::map<std::string, ImageRecord> images_;  // guarded by mu_
  std::vector<std::string> problems_;          // guarded by mu_
  Totals totals_;                              // guarded by mu_ while workers run
  // Main thread only: names no longer in `images_`, and why they must stay invisible.
  std::map<std::string, std::string> retired_;
  size_t sample_cursor_ = 0;
};

void Campaign::Failed(const std::string& what, const grpc::Status& s) {
  if (killed_.load()) return;
  Problem(absl::StrCat(what, " failed before any kill: ", StatusLine(s)));
}

std::vector<std::string> Campaign::OwnNames(int id, State state) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [name, rec] : images_) {
    if (rec.worker == id && rec.state == state) out.push_back(name);
  }
  return out;
}

void Campaign::RunWorkload(uint64_t round, std::chrono::microseconds kill_after) {
  killed_.store(false);
  std::vector<std::thread> threads;
  for (int id = 0; id < kWorkers; ++id) threads.emplace_back([this, round, id] { Worker(round, id); });
  std::this_thread::sleep_for(kill_after);
  killed_.store(true);  // before the signal: every failure it causes is seen after this
  poold_->Kill();
  for (auto& t : threads) t.join();
}

void Campaign::Worker(uint64_t round, int id) {
  const WorkerRole& role = kRoles[id];
  auto stub = poold_->Client(role.cert);
  auto admin = poold_->Admin();
  std::mt19937_64 rng(Mix64(seed_, round * 16 + static_cast<uint64_t>(id)));
  for (uint64_t n = 0; !killed_.load(); ++n) {
    const uint64_t op = rng() % 100;
    const size_t live = OwnNames(id, State::kAcked).size();
    const uint64_t delete_share = live > 10 ? 45 : 15;
    if (role.maintenance && op < 8) {
      Maintain(*admin, rng);
    } else if (op < 20) {
      RestoreOne(*stub, id, rng);
    } else if (op < 20 + delete_share) {
      DeleteOne(*stub, *admin, id, rng);
    } else {
      Backup(*stub, round, id, n, rng);
    }
  }
}

void Campaign::Backup(v1::PoolService::Stub& stub, uint64_t round, int id, uint64_t n,
                      std::mt19937_64& rng) {
  const WorkerRole& role = kRoles[id];
  const std::string name = absl::StrCat("r", round, "-t", id, "-", n);
  const uint64_t size = PickSize(rng());
  const size_t chunk = size_t{64 << 10} << (rng() % 5);  // 64 KiB .. 1 MiB messages
  const std::string data = ImageContent(seed_, name, size);
  {
    std::lock_guard<std::mutex> lock(mu_);
    images_[name] = ImageRecord{.lsu = role.lsu, .owner = role.cert, .size = size, .worker = id,
                                .state = State::kWriting, .round = round};
    ++totals_.backups_started;
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(kCallDeadline));
  v1::BackupResponse response;
  auto stream = stub.Backup(&ctx, &response);
  v1::BackupRequest header;
  header.mutable_header()->set_lsu(role.lsu);
  header.mutable_header()->set_name(name);
  bool sent = stream->Write(header);
  for (size_t off = 0; sent && off < data.size(); off += chunk) {
    v1::BackupRequest d;
    d.set_data(data.substr(off, chunk));
    sent = stream->Write(d);
  }
  if (sent) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      images_[name].state = State::kCommitSent;
    }
    v1::BackupRequest commit;
    commit.mutable_commit()->set_size(size);
    stream->Write(commit);
    stream->WritesDone();
  }
  const grpc::Status s = stream->Finish();
  if (!s.ok()) return Failed(absl::StrCat("Backup of ", role.lsu, "/", name), s);
  if (!sent) {
    return Problem(absl::StrCat("Backup of ", name, " returned OK though its data was not sent"));
  }
  if (response.image().size() != size || response.image().name() != name ||
      response.image().owner() != role.cert) {
    Problem(absl::StrCat("Backup of ", name, " acknowledged ", response.image().ShortDebugString(),
                         ", sent ", size, " bytes as ", role.cert));
  }
  std::lock_guard<std::mutex> lock(mu_);
  images_[name].state = State::kAcked;
  images_[name].acked_round = round;
  ++totals_.acks;
}

void Campaign::RestoreOne(v1::PoolService::Stub& stub, int id, std::mt19937_64& rng) {
  const std::vector<std::string> names = OwnNames(id, State::kAcked);
  if (names.empty()) return;
  const std::string& name = names[rng() % names.size()];
  uint64_t size = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    size = images_[name].size;
  }
  absl::StatusOr<std::string> back = Restore(stub, kRoles[id].lsu, name);
  if (!back.ok()) {
    if (killed_.load()) return;
    return Problem(absl::StrCat("Restore of acknowledged ", name, " before any kill: ",
                                back.status().ToString()));
  }
  // A complete, OK stream must be right, killed or not.
  if (*back != ImageContent(seed_, name, size)) {
    return Problem(absl::StrCat("Restore of ", name, " returned ", back->size(),
                                " bytes that differ from the ", size, " backed up"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++totals_.restores_in_workload;
}

void Campaign::DeleteOne(v1::PoolService::Stub& stub, v1::PoolAdmin::Stub& admin, int id,
                         std::mt19937_64& rng) {
  const WorkerRole& role = kRoles[id];
  const std::vector<std::string> names = OwnNames(id, State::kAcked);
  if (names.empty()) return;
  const std::string name = names[rng() % names.size()];
  {
    std::lock_guard<std::mutex> lock(mu_);
    images_[name].state = State::kDeleteSent;
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(kCallDeadline));
  v1::DeleteImageResponse out;
  grpc::Status s;
  if (role.client_delete) {
    v1::ImageRef ref;
    ref.set_lsu(role.lsu);
    ref.set_name(name);
    s = stub.DeleteImage(&ctx, ref, &out);
  } else {
    v1::AdminImageRef ref;
    ref.set_lsu(role.lsu);
    ref.set_owner(role.cert);
    ref.set_name(name);
    s = admin.DeleteImage(&ctx, ref, &out);
  }
  if (!s.ok()) return Failed(absl::StrCat("DeleteImage of ", role.lsu, "/", name), s);
  std::lock_guard<std::mutex> lock(mu_);
  images_[name].state = State::kDeleted;
  ++totals_.deletes;
}

void Campaign::Maintain(v1::PoolAdmin::Stub& admin, std::mt19937_64& rng) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(kCallDeadline));
  if (rng() % 3 != 0) {
    v1::ProcessQueueRequest req;
    req.set_max_jobs(rng() % 2 == 0 ? 0 : 1 + rng() % 3);
    v1::ProcessQueueResponse out;
    const grpc::Status s = admin.ProcessQueue(&ctx, req, &out);
    if (!s.ok()) return Failed("ProcessQueue", s);
    std::lock_guard<std::mutex> lock(mu_);
    ++totals_.queue_runs;
    return;
  }
  // Started, not awaited: the compaction runs on while the workers go on, until the kill.
  v1::StartCompactionRequest req;
  req.set_live_threshold(0.95);
  v1::JobStatus out;
  const grpc::Status s = admin.StartCompaction(&ctx, req, &out);
  if (s.error_code() == grpc::FAILED_PRECONDITION) return;  // one is running
  if (!s.ok()) return Failed("StartCompaction", s);
  std::lock_guard<std::mutex> lock(mu_);
  ++totals_.compactions;
}

void Campaign::ProcessQueue() {
  auto admin = poold_->Admin();
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(kCallDeadline));
  v1::ProcessQueueResponse out;
  const grpc::Status s = admin->ProcessQueue(&ctx, {}, &out);
  if (!s.ok()) Problem("ProcessQueue after a restart: " + StatusLine(s));
}

void Campaign::RestoreAndCompare(v1::PoolAdmin::Stub& admin, const std::string& name,
                                 const ImageRecord& rec, const char* why) {
  ++totals_.restores_checked;
  absl::StatusOr<std::string> back = AdminRestore(admin, rec.lsu, rec.owner, name);
  if (!back.ok()) {
    return Problem(absl::StrCat(why, " image ", rec.lsu, "/", rec.owner, "/", name,
                                " (written in round ", rec.round, ") does not restore: ",
                                back.status().ToString()));
  }
  if (*back != ImageContent(seed_, name, rec.size)) {
    std::string expected = ImageContent(seed_, name, rec.size);
    size_t at = 0;
    while (at < back->size() && at < expected.size() && (*back)[at] == expected[at]) ++at;
    Problem(absl::StrCat(why, " image ", rec.lsu, "/", rec.owner, "/", name, " (written in round ",
                         rec.round, ") restores ", back->size(), " bytes, expected ", rec.size,
                         "; first difference at byte ", at));
  }
}

void Campaign::RunCheck(v1::PoolAdmin::Stub& admin, bool verify) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(std::chrono::seconds(300)));
  auto reader = verify ? admin.Verify(&ctx, {}) : admin.Scrub(&ctx, {});
  const char* what = verify ? "Verify" : "Scrub";
  v1::CheckProgress p, last;
  while (reader->Read(&p)) last = p;
  const grpc::Status s = reader->Finish();
  if (!s.ok()) return Problem(absl::StrCat(what, " failed: ", StatusLine(s)));
  if (!last.finished()) Problem(absl::StrCat(what, ": the last message is not `finished`"));
  for (const std::string& problem : last.problems()) {
    Problem(absl::StrCat(what, " reports: ", problem));
  }
  totals_.dead_regions += static_cast<uint64_t>(last.dead_regions_size());
}

void Campaign::Check(uint64_t round, bool full, bool deep) {
  auto admin = poold_->Admin();
  // Everything listed, every owner and LSU.
  std::map<std::string, v1::Image> listed;
  std::string token;
  do {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(kCallDeadline));
    v1::AdminListImagesRequest req;
    req.set_page_size(1000);
    req.set_page_token(token);
    v1::ListImagesResponse out;
    const grpc::Status s = admin->ListImages(&ctx, req, &out);
    if (!s.ok()) return Problem("admin ListImages: " + StatusLine(s));
    for (const v1::Image& image : out.images()) listed[image.name()] = image;
    token = out.next_page_token();
  } while (!token.empty());

  for (const auto& [name, image] : listed) {
    if (images_.count(name) != 0) continue;
    auto why = retired_.find(name);
    Problem(absl::StrCat("visible image ", image.lsu(), "/", image.owner(), "/", name,
                         " must not be: ",
                         why != retired_.end() ? why->second : "the client never wrote it"));
  }
  std::vector<std::string> older;
  for (auto it = images_.begin(); it != images_.end();) {
    const std::string& name = it->first;
    ImageRecord& rec = it->second;
    auto seen = listed.find(name);
    const bool visible = seen != listed.end();
    if (visible && (seen->second.lsu() != rec.lsu || seen->second.owner() != rec.owner ||
                    seen->second.size() != rec.size)) {
      Problem(absl::StrCat("image ", name, " is listed as ", seen->second.ShortDebugString(),
                           ", backed up as ", rec.lsu, "/", rec.owner, " with ", rec.size,
                           " bytes"));
    }
    std::string retire;
    switch (rec.state) {
      case State::kWriting:
        if (visible) Problem(absl::StrCat("image ", name, " is visible; its commit was never sent"));
        retire = absl::StrCat("no commit was sent (round ", rec.round, ")");
        break;
      case State::kCommitSent:
        ++totals_.commit_lost;
        if (visible) {
          ++totals_.commit_lost_visible;
          RestoreAndCompare(*admin, name, rec, "a lost-reply");
          rec.state = State::kAcked;
          rec.acked_round = round;
        } else {
          retire = absl::StrCat("its commit reply was lost and it was not visible after round ",
                                round);
        }
        break;
      case State::kDeleteSent:
        ++totals_.delete_lost;
        if (visible) {
          ++totals_.delete_lost_visible;
          RestoreAndCompare(*admin, name, rec, "a lost-delete-reply");
          rec.state = State::kAcked;
        } else {
          retire = absl::StrCat("its delete reply was lost and it was gone after round ", round);
        }
        break;
      case State::kDeleted:
        if (visible) Problem(absl::StrCat("image ", name, " is visible after an acknowledged delete"));
        retire = absl::StrCat("its delete was acknowledged (round ", rec.round, " or later)");
        break;
      case State::kAcked:
        if (!visible) {
          Problem(absl::StrCat("acknowledged image ", rec.lsu, "/", rec.owner, "/", name,
                               " (round ", rec.round, ") is not listed"));
        } else if (full || rec.acked_round + kRecentRounds >= round) {
          RestoreAndCompare(*admin, name, rec, "an acknowledged");
        } else {
          older.push_back(name);
        }
        break;
    }
    if (retire.empty()) {
      ++it;
    } else {
      retired_[name] = std::move(retire);
      it = images_.erase(it);
    }
  }
  for (size_t i = 0; i < std::min(kOlderSample, older.size()); ++i) {
    const std::string& name = older[(sample_cursor_ + i) % older.size()];
    RestoreAndCompare(*admin, name, images_[name], "an acknowledged (older)");
  }
  sample_cursor_ += kOlderSample;
  totals_.max_live = std::max<uint64_t>(totals_.max_live, images_.size());
  if (deep) {
    ++totals_.verifies;
    RunCheck(*admin, true);
    RunCheck(*admin, false);
  }
}

// Restarts sealpoold and waits until the admin API answers (the client API is up by then:
// the port file is written after both servers started).
void StartAndWait(Sealpoold& poold) {
  poold.Start();
  auto admin = poold.Admin();
  const auto give_up = Clock::now() + std::chrono::seconds(30);
  while (true) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(std::chrono::seconds(2)));
    v1::GetModeResponse out;
    const grpc::Status s = admin->GetMode(&ctx, {}, &out);
    if (s.ok()) return;
    if (Clock::now() >= give_up) {
      const std::string log = poold.Log();
      FAIL("sealpoold does not answer GetMode 30 s after its start: "
           << StatusLine(s) << "\nthe end of its log:\n"
           << log.substr(log.size() > 8000 ? log.size() - 8000 : 0));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// Kill delays: a third short (inside the first backups, right after the restart), the rest
// spread over 0.1 to 0.7 s.
std::chrono::microseconds PickDelay(std::mt19937_64& rng) {
  const uint64_t r = rng();
  if (r % 3 == 0) return std::chrono::microseconds(2'000 + (r >> 8) % 98'000);
  return std::chrono::microseconds(100'000 + (r >> 8) % 600'000);
}

std::string Joined(const std::vector<std::string>& problems) {
  std::string all;
  for (size_t i = 0; i < problems.size() && i < 40; ++i) all += "\n  " + problems[i];
  if (problems.size() > 40) all += absl::StrCat("\n  ... and ", problems.size() - 40, " more");
  return all;
}

TEST_CASE("acknowledged images survive SIGKILLs of sealpoold during backups and deletes",
          "[crash][e2e][sealpoold]") {
  const uint64_t kills = EnvU64("SEALPOOL_POOLD_KILLS", 200);
  const uint64_t verify_every = std::max<uint64_t>(1, EnvU64("SEALPOOL_POOLD_VERIFY_EVERY", 10));
  const uint64_t seed = EnvU64("SEALPOOL_CRASH_SEED", RandomSeed());
  INFO("SEALPOOL_CRASH_SEED=" << seed << " SEALPOOL_POOLD_KILLS=" << kills);
  std::mt19937_64 rng(seed);

  const char* crash_tmp = std::getenv("SEALPOOL_CRASH_TMPDIR");
  const std::string tmp_root = crash_tmp != nullptr ? crash_tmp : "/dev/shm";
  if (!tmp_root.empty() && ::access(tmp_root.c_str(), W_OK) == 0) {
    ::setenv("TMPDIR", tmp_root.c_str(), 1);
  }
  TempDir dir;
  INFO("test directory " << dir.path() << " (SEALPOOL_KEEP_TEST_DIRS=1 keeps it)");
  Sealkmsd kms(dir.path() / "kms");
  kms.Start();
  kms.CreateActiveGroup("kg-a");
  Sealpoold poold(dir.path() / "poold", &kms);
  // Small containers, so compaction has whole containers to work on; no scheduled maintenance
  // (the workers run it, at random points).
  poold.SetExtra(
      "[storage]\ncontainer_size_mib = 16\n"
      "[scheduler]\ninterval_seconds = 86400\n");

  Campaign campaign(&poold, seed);
  const auto started = Clock::now();
  for (uint64_t round = 0; round <= kills; ++round) {
    const bool last = round == kills;
    INFO("round " << round << " (the check after kill " << round << ")");
    const auto t0 = Clock::now();
    StartAndWait(poold);
    const auto t1 = Clock::now();
    campaign.Check(round, /*full=*/last, /*deep=*/last || round % verify_every == 0);
    if (round % 7 == 3) campaign.ProcessQueue();
    std::vector<std::string> problems = campaign.TakeProblems();
    if (!problems.empty()) FAIL("problems after kill " << round << ":" << Joined(problems));
    if (last) break;

    const auto t2 = Clock::now();
    const std::chrono::microseconds delay = PickDelay(rng);
    INFO("kill " << round + 1 << " after " << delay.count() << " us");
    campaign.RunWorkload(round, delay);
    problems = campaign.TakeProblems();
    if (!problems.empty()) FAIL("problems in round " << round << ":" << Joined(problems));
    if (std::getenv("SEALPOOL_CRASH_VERBOSE") != nullptr) {
      const Totals& t = campaign.totals();
      std::fprintf(stderr,
                   "round %llu: start %.3f s, check %.3f s, kill after %.0f ms, acks %llu, "
                   "deletes %llu, %.1f s\n",
                   static_cast<unsigned long long>(round),
                   std::chrono::duration<double>(t1 - t0).count(),
                   std::chrono::duration<double>(t2 - t1).count(),
                   static_cast<double>(delay.count()) / 1000.0,
                   static_cast<unsigned long long>(t.acks),
                   static_cast<unsigned long long>(t.deletes),
                   std::chrono::duration<double>(Clock::now() - started).count());
    }
  }
  CHECK(poold.Stop() == 0);
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  const Totals& t = campaign.totals();
  const std::string summary = absl::StrCat(
      kills, " kills in ", static_cast<int>(seconds), " s: ", t.backups_started, " backups started, ",
      t.acks, " acknowledged, ", t.commit_lost, " commit replies lost (", t.commit_lost_visible,
      " of them visible after the restart), ", t.deletes, " deletes acknowledged, ", t.delete_lost,
      " delete replies lost (", t.delete_lost_visible, " still visible), ",
      t.restores_in_workload, " restores during the workload, ", t.restores_checked,
      " after restarts, ", t.queue_runs, " delete-queue runs, ", t.compactions,
      " compactions started, ", t.verifies, " Verify+Scrub passes (", t.dead_regions,
      " dead regions), at most ", t.max_live, " images; seed ", seed);
  INFO(summary);
  // The campaign proves something only if the daemon got work done before dying.
  CHECK(t.acks >= kills / 2);
  CHECK(t.deletes >= kills / 20);
  CHECK(t.queue_runs + t.compactions >= kills / 20);
  WARN("sealpoold crash campaign: " << summary);
}

}  // namespace
}  // namespace sealpool::test
