// s3_pool_bench: the S3 LSU against the local LSU (issue 16, "Performance"), in one run on the
// same corpus and machine: ingest of a two-generation backup corpus and its restore into a pool
// over local container files and into a pool over an S3ContainerStore on a throw-away
// single-node Ceph (test/storage/s3/ceph-up.sh, started and stopped by this program unless
// --s3_env names a running one), ratios S3 / local, and the S3 requests each phase sent per
// GiB (the client's counters by request kind: what a cloud bills).
//
//   s3_pool_bench --help   (every flag; docs/perf.md "S3 LSU against the local LSU (issue 16)")
//
// Every restore is compared with the input byte for byte while it streams; a mismatch exits 1.
// Exit codes: 0 done, 1 a failure, 2 usage error, 77 Ceph not installed (no figures).
#include <CLI/CLI.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "storage/keydict/in_process_root_key_provider.h"
#include "storage/pool/pool.h"
#include "storage/s3/s3_client.h"
#include "storage/s3/s3_container_store.h"
#include "test/bench/bench_corpus.h"

namespace {

namespace fs = std::filesystem;
using sealpool::bench::Bytes;
using sealpool::storage::ContainerStore;
using sealpool::storage::Id128;
using sealpool::storage::ImageRequest;
using sealpool::storage::InProcessRootKeyProvider;
using sealpool::storage::LsuOptions;
using sealpool::storage::Pool;
using sealpool::storage::PoolOptions;
using sealpool::storage::s3::S3Client;
using sealpool::storage::s3::S3ClientCounters;
using sealpool::storage::s3::S3ContainerStore;
using sealpool::storage::s3::S3ContainerStoreOptions;
using sealpool::storage::s3::S3RequestKind;

constexpr char kGroup[] = "kg";
constexpr char kLsu[] = "lsu";
constexpr size_t kPiece = size_t{1} << 20;
constexpr char kPrefix[] = "bench/";

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "s3_pool_bench: %s\n", what.c_str());
  std::exit(1);
}
void Check(const absl::Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + std::string(s.ToString()));
}
template <typename T>
T Take(absl::StatusOr<T> v, const std::string& what) {
  Check(v.status(), what);
  return *std::move(v);
}

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

double MBps(uint64_t bytes, double s) { return s <= 0 ? 0 : static_cast<double>(bytes) / s / 1e6; }
double GiB(uint64_t bytes) { return static_cast<double>(bytes) / static_cast<double>(1ull << 30); }

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// CPU seconds (user + system) of a process from /proc/PID/stat; 0 if it is gone.
double CpuSeconds(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream rest(stat.substr(paren + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(field);  // utime, stime
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// ---- Ceph ----
struct Ceph {
  std::string dir;  // empty: --s3_env, not ours
  std::string state_dir;  // where the pid files are (ours or the --s3_env's folder)
  // CPU seconds of the cluster's daemons (monitor, OSD, radosgw) so far.
  double Cpu() const {
    double total = 0;
    for (const char* n : {"mon", "osd", "rgw"}) {
      std::ifstream f(state_dir + "/" + n + ".spid");
      std::string pid;
      if (f >> pid) total += CpuSeconds(pid);
    }
    return total;
  }
  std::string endpoint, access_key_id, secret_key_file;
  ~Ceph() {
    if (dir.empty()) return;
    std::system((std::string(SEALPOOL_CEPH_SCRIPTS_DIR) + "/ceph-down.sh " + dir +
                 " >/dev/null 2>&1").c_str());
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
};

void ReadEnv(const std::string& path, Ceph* c) {
  std::ifstream env(path);
  if (!env) Die("cannot read " + path);
  std::string line;
  while (std::getline(env, line)) {
    auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    std::string k = line.substr(0, eq), v = line.substr(eq + 1);
    if (k == "S3_ENDPOINT") c->endpoint = v;
    if (k == "S3_ACCESS_KEY_ID") c->access_key_id = v;
    if (k == "S3_SECRET_KEY_FILE") c->secret_key_file = v;
  }
  if (c->endpoint.empty() || c->access_key_id.empty() || c->secret_key_file.empty()) {
    Die(path + " lacks S3_ENDPOINT, S3_ACCESS_KEY_ID or S3_SECRET_KEY_FILE");
  }
}

void StartCeph(Ceph* c) {
  char templ[] = "/tmp/spbench.XXXXXX";  // short: admin sockets are AF_UNIX paths under it
  if (::mkdtemp(templ) == nullptr) Die("mkdtemp");
  const std::string cmd = std::string(SEALPOOL_CEPH_SCRIPTS_DIR) + "/ceph-up.sh " + templ +
                          " 120 " + std::to_string(::getpid()) + " >/dev/null 2>&1";
  const int status = std::system(cmd.c_str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  if (code == 77) {
    std::printf("s3_pool_bench: skipped: Ceph is not installed (packaging/install-deps.sh)\n");
    std::exit(77);
  }
  c->dir = templ;
  c->state_dir = templ;
  if (code != 0) Die("ceph-up.sh failed (" + std::to_string(code) + "); logs in " + c->dir);
  ReadEnv(c->dir + "/s3.env", c);
}

// ---- the pools ----
struct Result {
  double ingest1_s = 0, ingest2_s = 0, restore2_s = 0, restore1_s = 0;
  uint64_t stored_bytes = 0;  // container bytes after gen 1 + gen 2 (files or objects)
  uint64_t containers = 0;
  S3ClientCounters ingest, restore;  // requests of each phase (S3 only)
  // CPU seconds of this process and of Ceph's daemons in each phase (the machine is shared).
  double ingest_cpu = 0, ingest_ceph_cpu = 0, restore_cpu = 0, restore_ceph_cpu = 0;
};

S3ClientCounters Minus(const S3ClientCounters& a, const S3ClientCounters& b) {
  S3ClientCounters d;
  d.requests = a.requests - b.requests;
  d.retries = a.retries - b.retries;
  d.bytes_sent = a.bytes_sent - b.bytes_sent;
  d.bytes_received = a.bytes_received - b.bytes_received;
  d.connections = a.connections - b.connections;
  for (int i = 0; i < sealpool::storage::s3::kS3RequestKinds; ++i) {
    d.by_kind[i] = a.by_kind[i] - b.by_kind[i];
  }
  return d;
}

void Ingest(Pool& pool, const std::string& name, std::span<const uint8_t> data) {
  ImageRequest req;
  req.lsu = kLsu;
  req.name = name;
  auto writer = Take(pool.BeginImage(req), "BeginImage " + name);
  for (size_t off = 0; off < data.size(); off += kPiece) {
    Check(writer->Write(data.subspan(off, std::min(kPiece, data.size() - off))), "Write " + name);
  }
  Take(writer->Commit(), "Commit " + name);
}

void RestoreAndCompare(const Pool& pool, const std::string& name,
                       std::span<const uint8_t> expected) {
  uint64_t at = 0;
  absl::Status s = pool.ReadImage({kLsu, "", name}, 0, expected.size(),
                                  [&](std::span<const uint8_t> d) {
                                    if (at + d.size() > expected.size() ||
                                        std::memcmp(d.data(), expected.data() + at, d.size()) !=
                                            0) {
                                      return absl::DataLossError(
                                          "restored bytes differ near offset " +
                                          std::to_string(at));
                                    }
                                    at += d.size();
                                    return absl::OkStatus();
                                  });
  Check(s, "restore " + name);
  if (at != expected.size()) Die("restore " + name + ": short read");
}

struct Corpus {
  Bytes gen1, gen2;
};

// Ingest gen 1 and gen 2, reopen (cold caches of the pool and of the S3 store; the local
// files stay in the page cache: this program cannot drop it), restore gen 2 then gen 1.
Result Measure(const fs::path& dir, PoolOptions options, S3Client* client, const Corpus& c,
               const Ceph& ceph) {
  Result r;
  auto self_cpu = [] { return CpuSeconds(std::to_string(::getpid())); };
  InProcessRootKeyProvider kms("s3-pool-bench");
  const std::string rk = kms.AddRootKey(kGroup);
  Check(kms.Activate(rk), "activate root key");
  auto counters = [client] { return client ? client->counters() : S3ClientCounters{}; };
  std::unique_ptr<Pool> pool = Take(Pool::Create(dir.string(), &kms, options), "Pool::Create");
  Check(pool->CreateKeyGroup(kGroup), "CreateKeyGroup");
  Check(pool->CreateLsu(kLsu, kGroup, LsuOptions{.allow_client_delete = true}), "CreateLsu");
  const S3ClientCounters c0 = counters();
  const double cpu0 = self_cpu(), ceph0 = ceph.Cpu();
  {
    Stopwatch t;
    Ingest(*pool, "gen1", c.gen1);
    r.ingest1_s = t.Seconds();
  }
  {
    Stopwatch t;
    Ingest(*pool, "gen2", c.gen2);
    r.ingest2_s = t.Seconds();
  }
  r.ingest = Minus(counters(), c0);
  r.ingest_cpu = self_cpu() - cpu0;
  r.ingest_ceph_cpu = ceph.Cpu() - ceph0;
  const auto stats = Take(pool->Stats(), "Stats");
  r.stored_bytes = stats.space_allocated;
  r.containers = stats.containers;
  pool.reset();
  pool = Take(Pool::Open(dir.string(), &kms, options), "Pool::Open");
  const S3ClientCounters c1 = counters();
  const double cpu1 = self_cpu(), ceph1 = ceph.Cpu();
  {
    Stopwatch t;
    RestoreAndCompare(*pool, "gen2", c.gen2);
    r.restore2_s = t.Seconds();
  }
  {
    Stopwatch t;
    RestoreAndCompare(*pool, "gen1", c.gen1);
    r.restore1_s = t.Seconds();
  }
  r.restore = Minus(counters(), c1);
  r.restore_cpu = self_cpu() - cpu1;
  r.restore_ceph_cpu = ceph.Cpu() - ceph1;
  return r;
}

struct Config {
  std::vector<fs::path> trees;
  size_t corpus_mib = 128;
  fs::path dir = "/tmp";
  std::string s3_env;
  std::string json_out;
  int rounds = 1;
  bool smoke = false;
  uint64_t block_kib = 0;  // 0: the store's default
  uint64_t cache_mib = 0;
  int read_ahead_blocks = -1;
  int read_ahead_threads = 0;
  int64_t stream_part_mib = -1;
};

Config ParseArgs(int argc, char** argv) {
  Config c;
  std::vector<std::string> trees;
  std::string dir = c.dir.string();
  CLI::App app{
      "s3_pool_bench: the S3 LSU against the local LSU in one run (issue 16). Ingests a\n"
      "two-generation corpus (a real file tree as tar, then a few percent of its files edited)\n"
      "into a pool over local container files and into a pool over an S3 container store on a\n"
      "throw-away single-node Ceph (ceph-up.sh; radosgw on 127.0.0.1), restores both from a\n"
      "reopened pool, compares every restore with the input byte for byte, and prints each\n"
      "figure as a ratio S3 / local with the goals (>= 0.7), and the S3 requests per GiB by\n"
      "kind. Rounds alternate local and S3; the best round of each is reported.\n"
      "Exit codes: 0 done, 1 a failure or a restore that is not bit-exact, 2 usage error,\n"
      "77 Ceph not installed. See docs/perf.md."};
  app.add_option("--tree", trees, "a file tree for the corpus (repeatable; default /usr/include "
                                  "then /usr/share/doc)")
      ->check(CLI::ExistingDirectory);
  app.add_option("--corpus_mib", c.corpus_mib, "size cap of generation 1, MiB")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 14));
  app.add_option("--dir", dir, "where the pools' folders go (removed at the end)")
      ->capture_default_str()
      ->check(CLI::ExistingDirectory);
  app.add_option("--s3_env", c.s3_env,
                 "an s3.env of a running Ceph (ceph-up.sh's); default: start one for this run");
  app.add_option("--rounds", c.rounds, "rounds (local then S3 each)")
      ->capture_default_str()
      ->check(CLI::Range(1, 20));
  app.add_option("--json_out", c.json_out, "write every figure as JSON to this file");
  app.add_option("--s3_block_kib", c.block_kib,
                 "the S3 store's read cache block (one ranged GET), KiB (0: its default)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 20));
  app.add_option("--s3_cache_mib", c.cache_mib, "the S3 store's read cache, MiB (0: default)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{1} << 16));
  app.add_option("--s3_read_ahead_blocks", c.read_ahead_blocks,
                 "blocks the S3 store reads ahead of a reader (0: none; -1: its default)")
      ->check(CLI::Range(-1, 64));
  app.add_option("--s3_read_ahead_threads", c.read_ahead_threads,
                 "the S3 store's read-ahead threads (0: its default)")
      ->check(CLI::Range(0, 64));
  app.add_option("--s3_stream_part_mib", c.stream_part_mib,
                 "the S3 store's streamed upload: parts of this many MiB sent while a container "
                 "grows (0: off, one PUT per container; else >= 5; -1: its default)")
      ->check(CLI::Range(int64_t{-1}, int64_t{1024}));
  app.add_flag("--smoke", c.smoke, "a 4 MiB corpus of /usr/include, one round");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    std::exit(rc == 0 ? 0 : 2);
  }
  c.trees.assign(trees.begin(), trees.end());
  c.dir = dir;
  if (c.smoke) {
    if (c.trees.empty()) c.trees = {"/usr/include"};
    c.corpus_mib = 4;
    c.rounds = 1;
  }
  if (c.trees.empty()) c.trees = {"/usr/include", "/usr/share/doc"};
  return c;
}

class Json {
 public:
  void Num(const std::string& key, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    fields_.emplace_back(key, buf);
  }
  void Str(const std::string& key, const std::string& v) {
    std::string q = "\"";
    for (char ch : v) {
      if (ch == '"' || ch == '\\') q += '\\';
      q += ch;
    }
    fields_.emplace_back(key, q + "\"");
  }
  bool WriteTo(const std::string& path) const {
    std::ofstream out(path);
    out << "{\n";
    for (size_t i = 0; i < fields_.size(); ++i) {
      out << "  \"" << fields_[i].first << "\": " << fields_[i].second
          << (i + 1 < fields_.size() ? ",\n" : "\n");
    }
    out << "}\n";
    return static_cast<bool>(out);
  }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

}  // namespace

int main(int argc, char** argv) {
  const Config cfg = ParseArgs(argc, argv);
  Json json;
  std::printf("s3_pool_bench: load average before: %s (%u cores)\n", LoadAverage().c_str(),
              std::thread::hardware_concurrency());
  json.Str("load_before", LoadAverage());

  Ceph ceph;
  if (cfg.s3_env.empty()) {
    StartCeph(&ceph);
  } else {
    ReadEnv(cfg.s3_env, &ceph);
    ceph.state_dir = fs::path(cfg.s3_env).parent_path().string();
  }
  std::printf("ceph: radosgw at %s (%s)\n", ceph.endpoint.c_str(),
              ceph.dir.empty() ? cfg.s3_env.c_str() : "started for this run, memstore OSD");

  std::string tmpl = (cfg.dir / "s3_pool_bench.XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp under " + cfg.dir.string());
  const fs::path root = tmpl;
  struct Cleanup {
    fs::path root;
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(root, ec);
    }
  } cleanup{root};

  Corpus corpus;
  {
    std::vector<sealpool::bench::CorpusFile> files;
    if (!sealpool::bench::ReadCorpusTrees(cfg.trees, cfg.corpus_mib << 20, &files) ||
        files.empty()) {
      Die("no corpus files");
    }
    sealpool::bench::EditCounts edits;
    corpus.gen1 = sealpool::bench::CorpusTarStream(files);
    corpus.gen2 =
        sealpool::bench::CorpusTarStream(sealpool::bench::EditCorpusGeneration(files, &edits));
  }
  std::printf("corpus: gen 1 %.1f MiB, gen 2 %.1f MiB\n",
              static_cast<double>(corpus.gen1.size()) / (1 << 20),
              static_cast<double>(corpus.gen2.size()) / (1 << 20));
  json.Num("corpus.gen1_bytes", static_cast<double>(corpus.gen1.size()));
  json.Num("corpus.gen2_bytes", static_cast<double>(corpus.gen2.size()));

  auto secret = Take(sealpool::storage::s3::ReadSecretKeyFile(ceph.secret_key_file),
                     "the S3 secret key file");
  sealpool::storage::s3::S3Target target;
  target.endpoint = ceph.endpoint;
  target.access_key_id = ceph.access_key_id;
  target.bucket = "s3-pool-bench-" + std::to_string(::getpid());
  std::unique_ptr<S3Client> client =
      Take(S3Client::Create(target, std::move(secret), {}), "S3Client::Create");
  Check(client->CreateBucket(), "CreateBucket");

  S3ContainerStoreOptions store_options;
  if (cfg.block_kib > 0) store_options.cache_block_bytes = cfg.block_kib << 10;
  if (cfg.cache_mib > 0) store_options.read_cache_bytes = cfg.cache_mib << 20;
  if (cfg.read_ahead_blocks >= 0) store_options.read_ahead_blocks = cfg.read_ahead_blocks;
  if (cfg.read_ahead_threads > 0) store_options.read_ahead_threads = cfg.read_ahead_threads;
  if (cfg.stream_part_mib >= 0) {
    store_options.stream_part_bytes = static_cast<uint64_t>(cfg.stream_part_mib) << 20;
  }
  std::printf("S3 store: read cache %llu MiB in blocks of %llu KiB, read-ahead %d blocks on %d "
              "threads, streamed parts %llu MiB (0: off); client part size %llu MiB above %llu "
              "MiB\n",
              static_cast<unsigned long long>(store_options.read_cache_bytes >> 20),
              static_cast<unsigned long long>(store_options.cache_block_bytes >> 10),
              store_options.read_ahead_blocks, store_options.read_ahead_threads,
              static_cast<unsigned long long>(store_options.stream_part_bytes >> 20),
              static_cast<unsigned long long>(
                  sealpool::storage::s3::S3ClientOptions{}.part_size >> 20),
              static_cast<unsigned long long>(
                  sealpool::storage::s3::S3ClientOptions{}.multipart_threshold >> 20));

  const PoolOptions local_options;  // the defaults (what sealpoold runs with)
  int run = 0;
  auto s3_options = [&](const std::string& prefix) {
    PoolOptions o;
    o.container_store = [&client, store_options, prefix](
                            const Id128& pool_id,
                            std::function<absl::StatusOr<uint64_t>()> allocate)
        -> absl::StatusOr<std::unique_ptr<ContainerStore>> {
      S3ContainerStoreOptions so = store_options;
      so.containers.target_size = PoolOptions{}.containers.target_size;
      auto store = S3ContainerStore::Open(client.get(), prefix, pool_id, so, std::move(allocate));
      if (!store.ok()) return store.status();
      return std::unique_ptr<ContainerStore>(std::move(*store));
    };
    return o;
  };

  std::vector<Result> local, s3;
  std::string last_prefix;
  for (int i = 0; i < cfg.rounds; ++i) {
    local.push_back(Measure(root / ("local-" + std::to_string(i)), local_options, nullptr, corpus,
                            ceph));
    fs::remove_all(root / ("local-" + std::to_string(i)));
    const std::string prefix = std::string(kPrefix) + std::to_string(run++) + "/";
    last_prefix = prefix;
    s3.push_back(Measure(root / ("s3-" + std::to_string(i)), s3_options(prefix), client.get(),
                         corpus, ceph));
    fs::remove_all(root / ("s3-" + std::to_string(i)));
    std::printf("round %d: local ingest %.2f + %.2f s, restore %.2f + %.2f s; S3 ingest %.2f + "
                "%.2f s, restore %.2f + %.2f s\n",
                i + 1, local.back().ingest1_s, local.back().ingest2_s, local.back().restore2_s,
                local.back().restore1_s, s3.back().ingest1_s, s3.back().ingest2_s,
                s3.back().restore2_s, s3.back().restore1_s);
  }
  std::printf("round trip: bit-exact (gen 2 and gen 1 restored from both LSUs in every round)\n");

  auto best = [](const std::vector<Result>& rs, double Result::*field) {
    double b = rs[0].*field;
    for (const Result& r : rs) b = std::min(b, r.*field);
    return b;
  };
  const uint64_t n1 = corpus.gen1.size(), n2 = corpus.gen2.size();
  struct Row {
    const char* what;
    const char* key;
    uint64_t bytes;
    double Result::*field;
    double goal;
  };
  const Row rows[] = {
      {"ingest gen 1 (new data), 1 stream", "ingest_gen1", n1, &Result::ingest1_s, 0.7},
      {"ingest gen 2 (mostly duplicate)", "ingest_gen2", n2, &Result::ingest2_s, 0.7},
      {"restore gen 2 (cold pool)", "restore_gen2", n2, &Result::restore2_s, 0.7},
      {"restore gen 1", "restore_gen1", n1, &Result::restore1_s, 0.7},
  };
  std::printf("\n## S3 LSU (radosgw on loopback) vs local LSU, same corpus, same run\n\n"
              "| figure | local MB/s | S3 MB/s | ratio S3 / local | goal |\n"
              "|---|---:|---:|---:|---:|\n");
  for (const Row& row : rows) {
    const double l = MBps(row.bytes, best(local, row.field));
    const double s = MBps(row.bytes, best(s3, row.field));
    const double ratio = l > 0 ? s / l : 0;
    std::printf("| %s | %.0f | %.0f | %.2f | ≥ %.1f %s |\n", row.what, l, s, ratio, row.goal,
                ratio >= row.goal ? "met" : "not met");
    json.Num(std::string("local.") + row.key + "_mbps", l);
    json.Num(std::string("s3.") + row.key + "_mbps", s);
    json.Num(std::string("ratio.") + row.key, ratio);
  }

  const Result& last = s3.back();
  const double stored_gib = GiB(last.stored_bytes);
  std::printf("\nS3 objects after gen 1 + 2: %llu containers, %.1f MiB (local: %llu containers, "
              "%.1f MiB)\n",
              static_cast<unsigned long long>(last.containers),
              static_cast<double>(last.stored_bytes) / (1 << 20),
              static_cast<unsigned long long>(local.back().containers),
              static_cast<double>(local.back().stored_bytes) / (1 << 20));
  std::printf("\n## S3 requests (last round), by kind\n\n"
              "| phase | requests | per stored GiB | per GiB of the stream | retries | new "
              "connections | by kind |\n|---|---:|---:|---:|---:|---:|---|\n");
  auto kinds = [](const S3ClientCounters& c) {
    std::string out;
    for (int i = 0; i < sealpool::storage::s3::kS3RequestKinds; ++i) {
      if (c.by_kind[i] == 0) continue;
      out += absl::StrCat(out.empty() ? "" : ", ",
                          sealpool::storage::s3::S3RequestKindName(static_cast<S3RequestKind>(i)),
                          " ", c.by_kind[i]);
    }
    return out;
  };
  const double in_gib = GiB(n1 + n2);
  for (const auto& [what, c] : {std::pair{"ingest gen 1 + 2", &last.ingest},
                                std::pair{"restore gen 2 + 1", &last.restore}}) {
    std::printf("| %s | %llu | %.0f | %.0f | %llu | %llu | %s |\n", what,
                static_cast<unsigned long long>(c->requests),
                static_cast<double>(c->requests) / stored_gib,
                static_cast<double>(c->requests) / in_gib,
                static_cast<unsigned long long>(c->retries),
                static_cast<unsigned long long>(c->connections), kinds(*c).c_str());
  }
  std::printf("\n## CPU seconds (last round): this process / Ceph's daemons\n\n"
              "| phase | local LSU | S3 LSU: pool process | S3 LSU: mon + OSD + radosgw |\n"
              "|---|---:|---:|---:|\n"
              "| ingest gen 1 + 2 | %.2f | %.2f | %.2f |\n"
              "| restore gen 2 + 1 | %.2f | %.2f | %.2f |\n",
              local.back().ingest_cpu, last.ingest_cpu, last.ingest_ceph_cpu,
              local.back().restore_cpu, last.restore_cpu, last.restore_ceph_cpu);
  json.Num("cpu.local_ingest_s", local.back().ingest_cpu);
  json.Num("cpu.s3_ingest_s", last.ingest_cpu);
  json.Num("cpu.ceph_ingest_s", last.ingest_ceph_cpu);
  json.Num("cpu.local_restore_s", local.back().restore_cpu);
  json.Num("cpu.s3_restore_s", last.restore_cpu);
  json.Num("cpu.ceph_restore_s", last.restore_ceph_cpu);
  std::printf("\n(bytes sent %.1f MiB during ingest, received %.1f MiB during restore)\n",
              static_cast<double>(last.ingest.bytes_sent) / (1 << 20),
              static_cast<double>(last.restore.bytes_received) / (1 << 20));
  json.Num("s3.stored_bytes", static_cast<double>(last.stored_bytes));
  json.Num("s3.ingest_requests", static_cast<double>(last.ingest.requests));
  json.Num("s3.ingest_requests_per_stored_gib",
           static_cast<double>(last.ingest.requests) / stored_gib);
  json.Num("s3.restore_requests", static_cast<double>(last.restore.requests));
  json.Num("s3.restore_requests_per_stored_gib",
           static_cast<double>(last.restore.requests) / stored_gib);

  // The store's own ceiling: the last round's objects read back by ranged GETs of one cache
  // block, by 1 and by 4 threads, no decoding. If a cold restore is near the 1-thread figure
  // (scaled by logical / stored bytes), radosgw (sharing the machine) is what limits it.
  {
    const auto objects = Take(client->List(last_prefix), "List " + last_prefix);
    const uint64_t bs = store_options.cache_block_bytes;
    std::vector<std::pair<std::string, uint64_t>> ranges;
    uint64_t total = 0;
    for (const auto& o : objects) {
      for (uint64_t at = 0; at < o.size; at += bs) ranges.emplace_back(o.key, at);
      total += o.size;
    }
    std::printf("\n## radosgw alone: the last round's %zu objects (%.1f MiB) read by ranged GETs "
                "of %llu KiB, nothing decoded\n\n| threads | MB/s stored | as restore MB/s "
                "(x logical / stored) |\n|---:|---:|---:|\n",
                objects.size(), static_cast<double>(total) / (1 << 20),
                static_cast<unsigned long long>(bs >> 10));
    const double scale = static_cast<double>(n1 + n2) / static_cast<double>(last.stored_bytes);
    for (int threads : {1, 4}) {
      std::atomic<size_t> next{0};
      std::atomic<bool> failed{false};
      Stopwatch t;
      std::vector<std::thread> pool;
      for (int i = 0; i < threads; ++i) {
        pool.emplace_back([&] {
          for (size_t k = next++; k < ranges.size(); k = next++) {
            if (!client->Get(ranges[k].first, ranges[k].second, bs).ok()) failed = true;
          }
        });
      }
      for (auto& th : pool) th.join();
      const double secs = t.Seconds();
      if (failed) Die("GET of the bench's objects failed");
      std::printf("| %d | %.0f | %.0f |\n", threads, MBps(total, secs), MBps(total, secs) * scale);
      json.Num("radosgw.get_mbps_" + std::to_string(threads) + "_threads", MBps(total, secs));
    }
  }

  json.Str("load_after", LoadAverage());
  std::printf("\ns3_pool_bench: load average after: %s\n", LoadAverage().c_str());
  if (!cfg.json_out.empty() && !json.WriteTo(cfg.json_out)) Die("cannot write " + cfg.json_out);
  return 0;
}
