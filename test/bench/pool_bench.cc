// pool_bench: in-process ingest and restore of the pool (storage/pool/pool.h) on a two-generation
// backup corpus, each stage of the data path measured alone on the same bytes, and the peers
// measured in the same run on the same tar streams: OpenSSL SHA-256 (the house baseline),
// restic and BorgBackup when installed ("skipped: not installed" otherwise; never a made-up
// figure). Prints markdown tables and writes every figure to --json_out.
//
//   pool_bench --help   (every flag, its default and range; docs/perf.md has the same text)
//
// Corpus: test/bench/bench_corpus.h (the builder of dedup_ratio). Every restore (ours and the
// peers') is compared with the input byte for byte while it streams; a mismatch is an error
// (exit 1), so the benchmark cannot measure a broken pipeline.
#include <CLI/CLI.hpp>
#include <openssl/evp.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table_properties.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>

#include <sys/resource.h>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "crypto/keys.h"
#include "storage/chunking/chunk_stream.h"
#include "storage/chunking/chunker_format.h"
#include "storage/store/container_format.h"
#include "storage/keydict/in_process_root_key_provider.h"
#include "storage/pool/pool.h"
#include "storage/store/segment_codec.h"
#include "test/bench/bench_corpus.h"

namespace {

namespace fs = std::filesystem;
using sealpool::bench::Bytes;
using sealpool::storage::ChunkerParams;
using sealpool::storage::ImageRequest;
using sealpool::storage::InProcessRootKeyProvider;
using sealpool::storage::KekMode;
using sealpool::storage::LsuOptions;
using sealpool::storage::Pool;
using sealpool::storage::PoolOptions;
using sealpool::storage::PoolStats;
using sealpool::storage::WriteStats;

constexpr char kGroup[] = "kg";
constexpr char kLsu[] = "lsu";
constexpr size_t kPiece = size_t{1} << 20;  // Write() / pipe granularity

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "pool_bench: %s\n", what.c_str());
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

double Gbps(uint64_t bytes, double seconds) {
  return seconds <= 0 ? 0.0 : static_cast<double>(bytes) / seconds / 1e9;
}
double MiB(uint64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

// Apparent bytes of every regular file under `dir` (du --apparent-size -sb).
uint64_t DirBytes(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file(ec) && !it->is_symlink(ec)) total += it->file_size(ec);
  }
  return total;
}

// ---- JSON (flat) ----
class Json {
 public:
  void Num(const std::string& key, double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.6g", v);
    fields_.emplace_back(key, buf);
  }
  void Str(const std::string& key, const std::string& v) {
    std::string q = "\"";
    for (char c : v) {
      if (c == '"' || c == '\\') q += '\\';
      q += c;
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

// ---- the pool ----
struct PoolHandle {
  std::unique_ptr<InProcessRootKeyProvider> kms;
  std::unique_ptr<Pool> pool;
  std::string dir;
  PoolOptions options;
};

PoolHandle MakePool(const std::string& dir, const PoolOptions& options,
                    KekMode kek_mode = KekMode::kSymmetric) {
  PoolHandle h;
  h.kms = std::make_unique<InProcessRootKeyProvider>("pool-bench");
  h.dir = dir;
  h.options = options;
  const std::string rk = h.kms->AddRootKey(kGroup);
  Check(h.kms->Activate(rk), "activate root key");
  h.pool = Take(Pool::Create(dir, h.kms.get(), options), "Pool::Create " + dir);
  Check(h.pool->CreateKeyGroup(kGroup, "builtin", kek_mode), "CreateKeyGroup");
  Check(h.pool->CreateLsu(kLsu, kGroup, LsuOptions{.allow_client_delete = true}), "CreateLsu");
  return h;
}

// Close and open again: RocksDB replays its WAL into memtables and flushes them to L0 on open,
// so this is the flush Pool does not expose.
void Reopen(PoolHandle& h) {
  h.pool.reset();
  h.pool = Take(Pool::Open(h.dir, h.kms.get(), h.options), "Pool::Open " + h.dir);
}

WriteStats Ingest(Pool& pool, const std::string& name, std::span<const uint8_t> data) {
  ImageRequest req;
  req.lsu = kLsu;
  req.name = name;
  auto writer = Take(pool.BeginImage(req), "BeginImage " + name);
  for (size_t off = 0; off < data.size(); off += kPiece) {
    Check(writer->Write(data.subspan(off, std::min(kPiece, data.size() - off))), "Write " + name);
  }
  Take(writer->Commit(), "Commit " + name);
  return writer->stats();
}

// Reads the whole image, comparing it with `expected` as it streams. Dies on a mismatch.
void RestoreAndCompare(const Pool& pool, const std::string& name,
                       std::span<const uint8_t> expected) {
  uint64_t at = 0;
  absl::Status s = pool.ReadImage({kLsu, "", name}, 0, expected.size(), [&](std::span<const uint8_t> d) {
    if (at + d.size() > expected.size() ||
        std::memcmp(d.data(), expected.data() + at, d.size()) != 0) {
      return absl::DataLossError("restored bytes differ from the input near offset " +
                                 std::to_string(at));
    }
    at += d.size();
    return absl::OkStatus();
  });
  Check(s, "restore " + name);
  if (at != expected.size()) Die("restore " + name + ": short read");
}

// ---- stages in isolation ----
struct Segment {
  size_t offset;
  size_t length;
  sealpool::crypto::Fingerprint fingerprint;
};

struct Stages {
  double sha256_s = 0;
  double chunk_fp_s = 0;
  double zstd_s = 0;
  double seal_s = 0;    // EncodeSegment with compression off: DEK, nonce, AES-256-GCM
  double encode_s = 0;  // EncodeSegment as the pool runs it: zstd, then seal
  double decode_s = 0;  // DecodeSegment of those: authenticate, decrypt, decompress
  uint64_t segments = 0;
  uint64_t zstd_out = 0;
};

Stages MeasureStages(std::span<const uint8_t> data, const ChunkerParams& params,
                     const sealpool::storage::SegmentCodecOptions& codec) {
  Stages st;
  {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    Stopwatch t;
    if (EVP_Digest(data.data(), data.size(), digest, &n, EVP_sha256(), nullptr) != 1) {
      Die("EVP_Digest");
    }
    st.sha256_s = t.Seconds();
  }
  auto key = Take(sealpool::crypto::FingerprintKey::Generate(), "fingerprint key");
  auto stream = Take(sealpool::storage::SegmentStream::Create(params, key), "SegmentStream");
  std::vector<Segment> segs;
  segs.reserve(data.size() / 32768);
  auto sink = [&](const sealpool::storage::StreamSegment& s) {
    segs.push_back({static_cast<size_t>(s.offset), s.data.size(), s.fingerprint});
    return absl::OkStatus();
  };
  {
    Stopwatch t;
    for (size_t off = 0; off < data.size(); off += kPiece) {
      Check(stream.Update(data.subspan(off, std::min(kPiece, data.size() - off)), sink),
            "SegmentStream::Update");
    }
    Check(stream.Finish(sink), "SegmentStream::Finish");
    st.chunk_fp_s = t.Seconds();
  }
  st.segments = segs.size();
  {
    std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
    Bytes out(ZSTD_compressBound(params.max_size));
    Stopwatch t;
    for (const Segment& s : segs) {
      const size_t n = ZSTD_compressCCtx(cctx.get(), out.data(), out.size(), data.data() + s.offset,
                                         s.length, codec.zstd_level);
      if (ZSTD_isError(n)) Die("zstd");
      st.zstd_out += std::min(n, s.length);
    }
    st.zstd_s = t.Seconds();
  }
  sealpool::storage::Id128 group{};
  group[0] = 1;
  {
    sealpool::storage::SegmentCodecOptions raw = codec;
    raw.compress = false;
    Stopwatch t;
    uint64_t id = 1;
    for (const Segment& s : segs) {
      auto e = sealpool::storage::EncodeSegment(group, sealpool::crypto::SegmentId(id++),
                                                s.fingerprint, data.subspan(s.offset, s.length),
                                                raw);
      Check(e.status(), "EncodeSegment (raw)");
    }
    st.seal_s = t.Seconds();
  }
  {
    // Timed as ingest runs it: each result dropped after use (its buffer reused by malloc).
    Stopwatch t;
    uint64_t id = 1;
    for (const Segment& s : segs) {
      Check(sealpool::storage::EncodeSegment(group, sealpool::crypto::SegmentId(id++),
                                             s.fingerprint, data.subspan(s.offset, s.length),
                                             codec)
                .status(),
            "EncodeSegment");
    }
    st.encode_s = t.Seconds();
  }
  // Untimed: what DecodeSegment then reads.
  std::vector<sealpool::storage::EncodedSegment> encoded;
  encoded.reserve(segs.size());
  uint64_t next_id = 1;
  for (const Segment& s : segs) {
    encoded.push_back(Take(sealpool::storage::EncodeSegment(
                               group, sealpool::crypto::SegmentId(next_id++), s.fingerprint,
                               data.subspan(s.offset, s.length), codec),
                           "EncodeSegment"));
  }
  {
    Bytes plain;
    Stopwatch t;
    for (size_t i = 0; i < encoded.size(); ++i) {
      const sealpool::storage::EncodedSegment& e = encoded[i];
      sealpool::storage::RecordHeader h;
      h.compression = e.compression;
      h.segment_id = e.segment_id;
      h.plaintext_length = e.plaintext_length;
      h.stored_length = static_cast<uint32_t>(e.stored.size());
      h.fingerprint = e.fingerprint;
      h.nonce = e.nonce;
      h.tag = e.tag;
      Check(sealpool::storage::DecodeSegment(e.dek, group, h, e.stored, &plain), "DecodeSegment");
      if (plain.size() != segs[i].length ||
          std::memcmp(plain.data(), data.data() + segs[i].offset, plain.size()) != 0) {
        Die("DecodeSegment returned other bytes than were encoded");
      }
    }
    st.decode_s = t.Seconds();
  }
  return st;
}

// ---- peers ----
struct PeerResult {
  std::string name;
  std::string skipped;  // non-empty: why there are no figures
  double open_s = 0;    // fixed cost of one command (open the repository, derive the key)
  double ingest1_s = 0;
  double ingest2_s = 0;
  double restore_s = 0;
  uint64_t stored_bytes = 0;
  std::string settings;
};

int ExitCode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128; }

bool Run(const std::string& cmd, const std::string& log) {
  return ExitCode(std::system((cmd + " >>" + log + " 2>&1").c_str())) == 0;
}

bool PipeIn(const std::string& cmd, const std::string& log, std::span<const uint8_t> data) {
  FILE* p = popen((cmd + " >>" + log + " 2>&1").c_str(), "w");
  if (p == nullptr) return false;
  bool ok = true;
  for (size_t off = 0; ok && off < data.size(); off += kPiece) {
    const size_t n = std::min(kPiece, data.size() - off);
    ok = std::fwrite(data.data() + off, 1, n, p) == n;
  }
  return ExitCode(pclose(p)) == 0 && ok;
}

// Runs `cmd` and compares what it writes to stdout with `expected`.
bool PipeOutCompare(const std::string& cmd, const std::string& log,
                    std::span<const uint8_t> expected) {
  FILE* p = popen((cmd + " 2>>" + log).c_str(), "r");
  if (p == nullptr) return false;
  Bytes buf(kPiece);
  size_t at = 0;
  bool same = true;
  while (true) {
    const size_t n = std::fread(buf.data(), 1, buf.size(), p);
    if (n == 0) break;
    if (at + n > expected.size() || std::memcmp(buf.data(), expected.data() + at, n) != 0) {
      same = false;
    }
    at += n;
  }
  return ExitCode(pclose(p)) == 0 && same && at == expected.size();
}

std::string Quote(const std::string& s) { return "'" + s + "'"; }

PeerResult RunRestic(const fs::path& root, std::span<const uint8_t> gen1,
                     std::span<const uint8_t> gen2) {
  PeerResult r;
  r.name = "restic";
  const char* bin = "/usr/bin/restic";
  if (access(bin, X_OK) != 0) {
    r.skipped = "skipped: not installed";
    return r;
  }
  const fs::path repo = root / "restic-repo";
  const std::string log = Quote((root / "restic.log").string());
  setenv("RESTIC_REPOSITORY", repo.c_str(), 1);
  setenv("RESTIC_PASSWORD", "pool-bench-password", 1);
  setenv("RESTIC_CACHE_DIR", (root / "restic-cache").c_str(), 1);
  const std::string restic = bin;
  if (!Run(restic + " init -q", log)) {
    r.skipped = "failed: restic init (see " + log + ")";
    return r;
  }
  {
    Stopwatch t;
    if (!Run(restic + " cat config -q", log)) r.skipped = "failed: restic cat config";
    r.open_s = t.Seconds();
  }
  const std::string backup = restic + " backup -q --stdin --stdin-filename corpus.tar --tag ";
  {
    Stopwatch t;
    if (!PipeIn(backup + "gen1", log, gen1)) r.skipped = "failed: restic backup gen1";
    r.ingest1_s = t.Seconds();
  }
  {
    Stopwatch t;
    if (!PipeIn(backup + "gen2", log, gen2)) r.skipped = "failed: restic backup gen2";
    r.ingest2_s = t.Seconds();
  }
  r.stored_bytes = DirBytes(repo);
  {
    Stopwatch t;
    if (!PipeOutCompare(restic + " dump -q --tag gen2 latest /corpus.tar", log, gen2)) {
      r.skipped = "failed: restic dump of gen2 is not the input";
    }
    r.restore_s = t.Seconds();
  }
  std::string version;
  if (FILE* p = popen((restic + " version").c_str(), "r")) {
    char line[256] = {};
    if (std::fgets(line, sizeof line, p) != nullptr) version = line;
    pclose(p);
  }
  if (!version.empty() && version.back() == '\n') version.pop_back();
  r.settings = version + "; repository v2, default compression (auto), AES-256 + Poly1305, "
                         "all cores";
  return r;
}

PeerResult RunBorg(const fs::path& root, std::span<const uint8_t> gen1,
                   std::span<const uint8_t> gen2) {
  PeerResult r;
  r.name = "borg";
  const char* bin = "/usr/bin/borg";
  if (access(bin, X_OK) != 0) {
    r.skipped = "skipped: not installed";
    return r;
  }
  const fs::path repo = root / "borg-repo";
  const std::string log = Quote((root / "borg.log").string());
  setenv("BORG_REPO", repo.c_str(), 1);
  setenv("BORG_PASSPHRASE", "pool-bench-password", 1);
  setenv("BORG_BASE_DIR", (root / "borg-base").c_str(), 1);
  setenv("BORG_DISPLAY_PASSPHRASE", "no", 1);
  const std::string borg = bin;
  if (!Run(borg + " init --encryption=repokey-blake2", log)) {
    r.skipped = "failed: borg init (see " + log + ")";
    return r;
  }
  {
    Stopwatch t;
    if (!Run(borg + " list", log)) r.skipped = "failed: borg list";
    r.open_s = t.Seconds();
  }
  // `borg create ARCHIVE -` stores stdin as one file named by --stdin-name.
  {
    Stopwatch t;
    if (!PipeIn(borg + " create --stdin-name corpus.tar ::gen1 -", log, gen1)) {
      r.skipped = "failed: borg create gen1";
    }
    r.ingest1_s = t.Seconds();
  }
  {
    Stopwatch t;
    if (!PipeIn(borg + " create --stdin-name corpus.tar ::gen2 -", log, gen2)) {
      r.skipped = "failed: borg create gen2";
    }
    r.ingest2_s = t.Seconds();
  }
  r.stored_bytes = DirBytes(repo);
  {
    Stopwatch t;
    if (!PipeOutCompare(borg + " extract --stdout ::gen2", log, gen2)) {
      r.skipped = "failed: borg extract of gen2 is not the input";
    }
    r.restore_s = t.Seconds();
  }
  std::string version;
  if (FILE* p = popen((borg + " --version").c_str(), "r")) {
    char line[256] = {};
    if (std::fgets(line, sizeof line, p) != nullptr) version = line;
    pclose(p);
  }
  if (!version.empty() && version.back() == '\n') version.pop_back();
  r.settings = version + "; repokey-blake2 (AES-256-CTR + BLAKE2b), default compression (lz4), "
                         "one thread";
  return r;
}

// ---- memory per segment ----
struct CfTables {
  uint64_t entries = 0;
  uint64_t filter = 0;
  uint64_t index = 0;
  uint64_t data = 0;
  uint64_t files = 0;
};

// Per column family of the closed catalog: what its SST files hold (read-only open).
std::map<std::string, CfTables> CatalogTables(const std::string& catalog_dir) {
  std::map<std::string, CfTables> out;
  std::vector<std::string> names;
  rocksdb::DBOptions dbo;
  if (!rocksdb::DB::ListColumnFamilies(dbo, catalog_dir, &names).ok()) return out;
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(dbo, catalog_dir, cfs, &handles, &db);
  if (!s.ok()) {
    std::fprintf(stderr, "pool_bench: read-only catalog open: %s\n", s.ToString().c_str());
    return out;
  }
  for (size_t i = 0; i < handles.size(); ++i) {
    rocksdb::TablePropertiesCollection props;
    if (!db->GetPropertiesOfAllTables(handles[i], &props).ok()) continue;
    CfTables& t = out[names[i]];
    for (const auto& [file, p] : props) {
      ++t.files;
      t.entries += p->num_entries;
      t.filter += p->filter_size;
      t.index += p->index_size;
      t.data += p->data_size;
    }
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
  return out;
}

// Unique bytes, 8 per PRNG step.
Bytes UniqueBytes(sealpool::bench::CorpusRng& rng, size_t n) {
  Bytes out(n);
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t v = rng.Next();
    std::memcpy(out.data() + i, &v, std::min<size_t>(8, n - i));
  }
  return out;
}

void RunMemory(const fs::path& root, uint64_t target_segments, Json& json) {
  PoolOptions options;
  options.chunker.min_size = sealpool::storage::kChunkerMinMinSize;
  options.chunker.avg_size = sealpool::storage::kChunkerMinAvgSize;
  options.chunker.max_size = 4 * sealpool::storage::kChunkerMinAvgSize;
  Check(options.chunker.Validate(), "small chunker params");
  options.codec.compress = false;  // random bytes: zstd would only give up
  PoolHandle h = MakePool((root / "pool-memory").string(), options);
  sealpool::bench::CorpusRng rng(42);
  const Bytes probe_dup = UniqueBytes(rng, size_t{2} << 20);  // re-sent at every checkpoint
  Ingest(*h.pool, "probe-dup", probe_dup);
  std::printf("\n## Memory per stored segment\n\nchunker %s, unique data, no compression; "
              "catalog: %zu MiB block cache, %d filter bits per key; measured after a reopen "
              "(RocksDB flushes the replayed WAL to L0), then a probe of 1 MiB of new segments "
              "(lookups miss), then of 2 MiB of duplicate segments (lookups hit).\n\n",
              options.chunker.ToString().c_str(), options.catalog.block_cache_bytes >> 20,
              options.catalog.fingerprint_filter_bits_per_key);
  std::printf("| segments | ingest (k segments/s) | block cache after misses, B/segment | "
              "block cache after hits | memtables | table readers | total | total B/segment | "
              "before reopen B/segment | growth since last row, cache + readers, B/segment |\n"
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  const size_t image_bytes = size_t{4} << 20;
  uint64_t checkpoint = std::max<uint64_t>(target_segments / 4, 1);
  int image = 0;
  int round = 0;
  uint64_t last_segments = 0;
  uint64_t last_bounded = 0;
  double ingest_s = 0;
  uint64_t ingested = 0;
  while (true) {
    PoolStats stats = Take(h.pool->Stats(), "Stats");
    while (stats.segments < checkpoint) {
      const Bytes data = UniqueBytes(rng, image_bytes);
      Stopwatch t;
      const WriteStats w = Ingest(*h.pool, absl::StrCat("m", image++), data);
      ingest_s += t.Seconds();
      ingested += w.new_segments;
      stats = Take(h.pool->Stats(), "Stats");
    }
    const auto before = stats.catalog_memory;
    Reopen(h);
    // New segments only: every lookup misses, so the cache gets the filter blocks it probes
    // (index and data blocks are not read on a filter miss). Then duplicates: hits read index
    // and data blocks of the fingerprint index too.
    Ingest(*h.pool, "probe-new-" + std::to_string(round), UniqueBytes(rng, size_t{1} << 20));
    const auto after_miss = Take(h.pool->Stats(), "Stats").catalog_memory;
    Ingest(*h.pool, "probe-dup-" + std::to_string(round), probe_dup);
    ++round;
    stats = Take(h.pool->Stats(), "Stats");
    const auto m = stats.catalog_memory;
    const double miss_per = static_cast<double>(after_miss.block_cache_usage) /
                            static_cast<double>(stats.segments);
    const double per = static_cast<double>(m.total()) / static_cast<double>(stats.segments);
    // Memtables are bounded by write_buffer_bytes per family whatever the pool size; the block
    // cache by its capacity. What grows with the pool until the cache is full: cache + readers.
    const uint64_t bounded = m.block_cache_usage + m.table_readers;
    const double growth =
        last_segments == 0 ? 0.0
                           : (static_cast<double>(bounded) - static_cast<double>(last_bounded)) /
                                 static_cast<double>(stats.segments - last_segments);
    std::printf("| %llu | %.0f | %.2f | %.2f MiB | %.2f MiB | %.2f MiB | %.2f MiB | %.2f | %.1f "
                "| %s |\n",
                static_cast<unsigned long long>(stats.segments),
                ingest_s > 0 ? static_cast<double>(ingested) / ingest_s / 1e3 : 0.0, miss_per,
                MiB(m.block_cache_usage), MiB(m.memtables), MiB(m.table_readers), MiB(m.total()),
                per, static_cast<double>(before.total()) / static_cast<double>(stats.segments),
                last_segments == 0 ? "" : std::to_string(growth).substr(0, 5).c_str());
    json.Num("memory." + std::to_string(stats.segments) + ".growth_bytes_per_segment", growth);
    last_segments = stats.segments;
    last_bounded = bounded;
    const std::string k = "memory." + std::to_string(stats.segments) + ".";
    json.Num(k + "block_cache_bytes", static_cast<double>(m.block_cache_usage));
    json.Num(k + "block_cache_after_misses_bytes_per_segment", miss_per);
    json.Num(k + "block_cache_pinned_bytes", static_cast<double>(m.block_cache_pinned));
    json.Num(k + "memtable_bytes", static_cast<double>(m.memtables));
    json.Num(k + "table_reader_bytes", static_cast<double>(m.table_readers));
    json.Num(k + "bytes_per_segment", per);
    json.Num(k + "bytes_per_segment_before_flush",
             static_cast<double>(before.total()) / static_cast<double>(stats.segments));
    if (checkpoint >= target_segments) break;
    checkpoint = std::min(checkpoint * 2, target_segments);
  }
  const uint64_t segments = Take(h.pool->Stats(), "Stats").segments;
  h.pool.reset();
  // What each family's SST files hold: the filter and index blocks are what the block cache
  // holds for the lookups (bounded by its capacity); data blocks are read on demand.
  const auto tables = CatalogTables(h.dir + "/catalog");
  std::printf("\nCatalog SST files per column family at %llu segments (bytes per segment):\n\n"
              "| family | entries | files | filter | index | data |\n|---|---:|---:|---:|---:|---:|\n",
              static_cast<unsigned long long>(segments));
  const double n = static_cast<double>(segments);
  for (const auto& [name, t] : tables) {
    std::printf("| %s | %llu | %llu | %.2f | %.2f | %.1f |\n", name.c_str(),
                static_cast<unsigned long long>(t.entries),
                static_cast<unsigned long long>(t.files), static_cast<double>(t.filter) / n,
                static_cast<double>(t.index) / n, static_cast<double>(t.data) / n);
    json.Num("memory.sst." + name + ".filter_bytes_per_segment", static_cast<double>(t.filter) / n);
    json.Num("memory.sst." + name + ".index_bytes_per_segment", static_cast<double>(t.index) / n);
    json.Num("memory.sst." + name + ".data_bytes_per_segment", static_cast<double>(t.data) / n);
  }
}

struct Config {
  std::vector<fs::path> trees;
  size_t corpus_mib = 256;
  fs::path dir = "/tmp";
  std::string json_out;
  bool peers = true;
  bool keep = false;
  bool smoke = false;
  bool memory_only = false;
  uint64_t memory_segments = uint64_t{1} << 18;
  int zstd_level = 0;  // 0: the pool's default
  std::string kek_mode = "symmetric";  // the main run's key group
  int compare_kek_modes = 0;           // > 0: only the public-vs-symmetric ingest comparison
};

Config ParseArgs(int argc, char** argv) {
  Config c;
  std::vector<std::string> trees;
  std::string dir = c.dir.string();
  CLI::App app{
      "pool_bench: in-process ingest and restore of the pool (storage/pool/pool.h) on a\n"
      "two-generation backup corpus (a real file tree as tar, then a few percent of its files\n"
      "edited, shifted, removed and added), every stage of the data path measured alone on the\n"
      "same bytes, and the peers measured in the same run on the same tar streams: OpenSSL\n"
      "SHA-256, restic and BorgBackup when installed (\"skipped: not installed\" otherwise).\n"
      "Every restore is compared with the input byte for byte; a mismatch exits 1.\n"
      "Prints markdown tables (figures as ratios to the peers) and writes every figure to\n"
      "--json_out. Exit codes: 0 done, 1 a failure or a restore that is not bit-exact,\n"
      "2 usage error. See docs/perf.md."};
  app.add_option("--tree", trees,
                 "a file tree for the corpus (repeatable; default /usr/include then "
                 "/usr/share/doc), read in order until generation 1 reaches --corpus_mib")
      ->check(CLI::ExistingDirectory);
  app.add_option("--corpus_mib", c.corpus_mib, "size cap of generation 1, MiB")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  app.add_option("--dir", dir,
                 "where the pool and the peers' repositories go (a fresh subdirectory, removed "
                 "at the end unless --keep)")
      ->capture_default_str()
      ->check(CLI::ExistingDirectory);
  app.add_option("--json_out", c.json_out, "write every figure as JSON to this file");
  app.add_flag("--no_peers", [&c](int64_t) { c.peers = false; }, "do not run restic / borg");
  app.add_flag("--keep", c.keep, "keep the pool and repositories after the run");
  app.add_flag("--smoke", c.smoke,
               "a tiny corpus (4 MiB of /usr/include), no peers, a tiny memory run: checks "
               "that every restore is bit-exact in a few seconds (ctest pool_bench_smoke)");
  app.add_flag("--memory", c.memory_only,
               "only the memory-per-segment figure: --memory_segments unique segments with the "
               "smallest chunker params Validate allows");
  app.add_option("--memory_segments", c.memory_segments, "segments for --memory")
      ->capture_default_str()
      ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 32));
  app.add_option("--zstd_level", c.zstd_level,
                 "the pool's zstd level (0: the pool's default; negative: zstd's fast levels)")
      ->capture_default_str()
      ->check(CLI::Range(-131072, 22));
  app.add_option("--kek_mode", c.kek_mode,
                 "kek_mode of the main run's key group: symmetric, or public (KEK pairs and DEK "
                 "batches, issue 17)")
      ->capture_default_str()
      ->check(CLI::IsMember({"symmetric", "public"}));
  app.add_option("--compare_kek_modes", c.compare_kek_modes,
                 "only compare ingest (gen 1 then gen 2, fresh pool each time) of a symmetric and "
                 "a public key group on the same corpus, alternating, this many rounds each; "
                 "prints the ratio public / symmetric")
      ->check(CLI::Range(1, 100));
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
    c.peers = false;
    c.memory_segments = 4096;
  }
  if (c.trees.empty()) c.trees = {"/usr/include", "/usr/share/doc"};
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  const Config cfg = ParseArgs(argc, argv);
  Json json;
  json.Str("load_before", LoadAverage());
  std::printf("pool_bench: load average before: %s (%u cores)\n", LoadAverage().c_str(),
              std::thread::hardware_concurrency());

  std::string tmpl = (cfg.dir / "pool_bench.XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp under " + cfg.dir.string());
  const fs::path root = tmpl;
  struct Cleanup {
    fs::path root;
    bool keep;
    ~Cleanup() {
      std::error_code ec;
      if (!keep) fs::remove_all(root, ec);
    }
  } cleanup{root, cfg.keep};

  if (cfg.memory_only) {
    RunMemory(root, cfg.memory_segments, json);
    json.Str("load_after", LoadAverage());
    std::printf("\npool_bench: load average after: %s\n", LoadAverage().c_str());
    if (!cfg.json_out.empty() && !json.WriteTo(cfg.json_out)) Die("cannot write " + cfg.json_out);
    return 0;
  }

  // ---- corpus ----
  std::vector<sealpool::bench::CorpusFile> files;
  if (!sealpool::bench::ReadCorpusTrees(cfg.trees, cfg.corpus_mib << 20, &files) ||
      files.empty()) {
    Die("no corpus files");
  }
  sealpool::bench::EditCounts edits;
  const Bytes gen1 = sealpool::bench::CorpusTarStream(files);
  const Bytes gen2 =
      sealpool::bench::CorpusTarStream(sealpool::bench::EditCorpusGeneration(files, &edits));
  std::string trees;
  for (const auto& t : cfg.trees) trees += (trees.empty() ? "" : " + ") + t.string();
  std::printf("corpus: %s, %zu files, gen 1 %.1f MiB, gen 2 %.1f MiB (%d overwritten, %d with an "
              "insertion, %d with a deletion, %d removed, %d added)\n",
              trees.c_str(), files.size(), MiB(gen1.size()), MiB(gen2.size()), edits.overwritten,
              edits.inserted, edits.deleted, edits.removed, edits.added);
  files.clear();
  files.shrink_to_fit();
  json.Str("corpus", trees);
  json.Num("corpus.gen1_bytes", static_cast<double>(gen1.size()));
  json.Num("corpus.gen2_bytes", static_cast<double>(gen2.size()));

  PoolOptions options;  // the defaults (what sealpoold runs with), but for --zstd_level
  if (cfg.zstd_level != 0) options.codec.zstd_level = cfg.zstd_level;
  std::printf("pool: %s, zstd level %d, %zu MiB catalog block cache, in %s\n",
              options.chunker.ToString().c_str(), options.codec.zstd_level,
              options.catalog.block_cache_bytes >> 20, root.c_str());

  const KekMode main_mode = cfg.kek_mode == "public" ? KekMode::kPublic : KekMode::kSymmetric;
  if (cfg.compare_kek_modes > 0) {
    // Same corpus, same options; rounds alternate the modes so drift hits both alike.
    // Wall time and the process's CPU time (all threads, user + system): on a shared machine
    // the CPU time is the steadier figure.
    auto cpu_seconds = [] {
      rusage u{};
      getrusage(RUSAGE_SELF, &u);
      return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
             static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
    };
    double total[2] = {0, 0};
    double best[2] = {1e300, 1e300};
    double cpu_total[2] = {0, 0};
    for (int round = 0; round < cfg.compare_kek_modes; ++round) {
      for (int m = 0; m < 2; ++m) {
        const KekMode mode = m == 0 ? KekMode::kSymmetric : KekMode::kPublic;
        const fs::path dir = root / ("cmp-" + std::to_string(round) + "-" + std::to_string(m));
        PoolHandle h = MakePool(dir.string(), options, mode);
        const double cpu0 = cpu_seconds();
        Stopwatch t;
        Ingest(*h.pool, "gen1", gen1);
        Ingest(*h.pool, "gen2", gen2);
        const double s = t.Seconds();
        const double cpu = cpu_seconds() - cpu0;
        cpu_total[m] += cpu;
        RestoreAndCompare(*h.pool, "gen2", gen2);
        h.pool.reset();
        std::error_code ec;
        fs::remove_all(dir, ec);
        total[m] += s;
        best[m] = std::min(best[m], s);
        std::printf("round %d %-9s ingest gen1+gen2: %.3f s wall, %.3f s CPU\n", round,
                    m == 0 ? "symmetric" : "public", s, cpu);
      }
    }
    std::printf("\n| kek_mode | mean s | best s |\n|---|---:|---:|\n");
    std::printf("| symmetric | %.3f | %.3f |\n", total[0] / cfg.compare_kek_modes, best[0]);
    std::printf("| public | %.3f | %.3f |\n", total[1] / cfg.compare_kek_modes, best[1]);
    std::printf("\ningest cost public / symmetric: wall %.3f (mean), %.3f (best); CPU %.3f "
                "(total); goal <= 1.05\n",
                total[1] / total[0], best[1] / best[0], cpu_total[1] / cpu_total[0]);
    json.Num("kek_modes.ingest_cpu_ratio", cpu_total[1] / cpu_total[0]);
    json.Num("kek_modes.ingest_ratio_mean", total[1] / total[0]);
    json.Num("kek_modes.ingest_ratio_best", best[1] / best[0]);
    if (!cfg.json_out.empty() && !json.WriteTo(cfg.json_out)) Die("cannot write " + cfg.json_out);
    return 0;
  }

  // ---- stages alone, on gen 1 ----
  const Stages st = MeasureStages(gen1, options.chunker, options.codec);

  // ---- the pool, one stream ----
  PoolHandle one = MakePool((root / "pool-1").string(), options, main_mode);
  Stopwatch t1;
  const WriteStats w1 = Ingest(*one.pool, "gen1", gen1);
  const double ingest1_s = t1.Seconds();
  const PoolStats after1 = Take(one.pool->Stats(), "Stats");
  Stopwatch t2;
  const WriteStats w2 = Ingest(*one.pool, "gen2", gen2);
  const double ingest2_s = t2.Seconds();
  const PoolStats after2 = Take(one.pool->Stats(), "Stats");
  Stopwatch t3;
  RestoreAndCompare(*one.pool, "gen2", gen2);
  const double restore_s = t3.Seconds();
  RestoreAndCompare(*one.pool, "gen1", gen1);
  const uint64_t pool_dir_bytes = DirBytes(one.dir);
  one.pool.reset();

  // ---- the pool, two streams: gen 1 in two halves written at once ----
  PoolHandle two = MakePool((root / "pool-2").string(), options);
  const size_t half = gen1.size() / 2;
  const std::span<const uint8_t> halves[2] = {std::span(gen1).first(half),
                                              std::span(gen1).subspan(half)};
  Stopwatch t4;
  {
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
      threads.emplace_back([&, i] { Ingest(*two.pool, "half" + std::to_string(i), halves[i]); });
    }
    for (auto& t : threads) t.join();
  }
  const double ingest_two_s = t4.Seconds();
  for (int i = 0; i < 2; ++i) RestoreAndCompare(*two.pool, "half" + std::to_string(i), halves[i]);
  two.pool.reset();
  std::printf("round trip: bit-exact (gen 1, gen 2, both halves of the two-stream write)\n");

  // ---- peers ----
  std::vector<PeerResult> peers;
  if (cfg.peers) {
    peers.push_back(RunRestic(root, gen1, gen2));
    peers.push_back(RunBorg(root, gen1, gen2));
  } else {
    for (const char* name : {"restic", "borg"}) {
      PeerResult p;
      p.name = name;
      p.skipped = "skipped: --no_peers";
      peers.push_back(p);
    }
  }

  // ---- tables ----
  const uint64_t n1 = gen1.size();
  const uint64_t n2 = gen2.size();
  const double sha = Gbps(n1, st.sha256_s);
  const double dedup_pct =
      100.0 * static_cast<double>(w2.logical_bytes - w2.new_plain_bytes) /
      static_cast<double>(w2.logical_bytes);
  struct Line {
    std::string what;
    double gbps;
    std::string key;
  };
  const std::vector<Line> lines = {
      {"OpenSSL SHA-256 (baseline)", sha, "sha256"},
      {"chunk + fingerprint (SegmentStream)", Gbps(n1, st.chunk_fp_s), "stage.chunk_fingerprint"},
      {"zstd level " + std::to_string(options.codec.zstd_level) + " per segment",
       Gbps(n1, st.zstd_s), "stage.zstd"},
      {"seal: EncodeSegment, compression off (DEK + AES-256-GCM)", Gbps(n1, st.seal_s),
       "stage.seal"},
      {"EncodeSegment as ingest runs it (zstd + seal)", Gbps(n1, st.encode_s), "stage.encode"},
      {"DecodeSegment (open + unzstd)", Gbps(n1, st.decode_s), "stage.decode"},
      {"pool ingest gen 1, 1 stream", Gbps(n1, ingest1_s), "pool.ingest_gen1"},
      {"pool ingest gen 1, 2 streams (halves at once)", Gbps(n1, ingest_two_s),
       "pool.ingest_gen1_2streams"},
      {"pool ingest gen 2, 1 stream", Gbps(n2, ingest2_s), "pool.ingest_gen2"},
      {"pool restore gen 2", Gbps(n2, restore_s), "pool.restore_gen2"},
  };
  std::printf("\n## Stages and pool, same bytes, same run\n\n"
              "| figure | GB/s | ratio to SHA-256 |\n|---|---:|---:|\n");
  for (const Line& l : lines) {
    std::printf("| %s | %.2f | %.2f |\n", l.what.c_str(), l.gbps, l.gbps / sha);
    json.Num(l.key + "_gbps", l.gbps);
    json.Num(l.key + "_ratio_sha256", l.gbps / sha);
  }
  std::printf("\nsegments of gen 1: %llu (mean %.1f KiB); zstd keeps %.1f%% of the bytes\n",
              static_cast<unsigned long long>(st.segments),
              static_cast<double>(n1) / static_cast<double>(st.segments) / 1024,
              100.0 * static_cast<double>(st.zstd_out) / static_cast<double>(n1));

  // Where gen 1's single-stream ingest time goes. The writer's thread chunks and fingerprints;
  // EncodeSegment (zstd + seal) runs on the pool's sealing threads (one per core by default),
  // in parallel with it. So each stage's time alone on the same bytes is divided by the threads
  // it runs on, and the stage with the largest result bounds the pipeline; the rest (lookups,
  // DEK wrap, container appends and fsync, catalog batches) is what ingest takes beyond it.
  const double seal_threads = std::max(1u, std::thread::hardware_concurrency());
  const double rest_s = ingest1_s - std::max(st.chunk_fp_s, st.encode_s / seal_threads);
  const std::vector<std::pair<std::string, double>> shares = {
      {"chunk + fingerprint (writer thread)", st.chunk_fp_s},
      {"EncodeSegment: zstd + seal (sealing threads, time alone / threads)",
       st.encode_s / seal_threads},
      {"  of which zstd alone (/ threads)", st.zstd_s / seal_threads},
      {"  of which seal alone (/ threads)", st.seal_s / seal_threads},
      {"pool beyond the slowest stage: lookup, DEK wrap, append + fsync, catalog", rest_s},
  };
  std::printf("\nGen-1 ingest, 1 stream: %.2f s (%.0f sealing threads); per stage, on the "
              "threads it runs on:\n\n"
              "| stage | seconds | share of ingest time |\n|---|---:|---:|\n",
              ingest1_s, seal_threads);
  std::string limiting;
  double limiting_s = -1;
  for (const auto& [what, s] : shares) {
    std::printf("| %s | %.2f | %.0f%% |\n", what.c_str(), s, 100.0 * s / ingest1_s);
    if (what.rfind("  ", 0) == 0) continue;  // parts of a stage
    if (s > limiting_s) {
      limiting_s = s;
      limiting = what;
    }
  }
  std::printf("\nlimiting stage of ingest: %s (%.0f%% of the time)\n", limiting.c_str(),
              100.0 * limiting_s / ingest1_s);
  json.Str("limiting_stage", limiting);
  json.Num("stage.rest_seconds", rest_s);
  json.Num("pool.gen1_seconds", ingest1_s);

  std::printf("\ngen 2: %.1f%% of its bytes already stored; %llu new segments, %.1f MiB new "
              "plaintext, %.1f MiB new stored; pool stored after gen 1 %.1f MiB, after gen 2 "
              "%.1f MiB (container files %.1f MiB, whole pool dir %.1f MiB)\n",
              dedup_pct, static_cast<unsigned long long>(w2.new_segments),
              MiB(w2.new_plain_bytes), MiB(w2.new_stored_bytes), MiB(after1.stored_bytes),
              MiB(after2.stored_bytes), MiB(after2.space_allocated), MiB(pool_dir_bytes));
  json.Num("pool.gen2_dedup_pct", dedup_pct);
  json.Num("pool.gen2_new_stored_bytes", static_cast<double>(w2.new_stored_bytes));
  json.Num("pool.gen1_new_stored_bytes", static_cast<double>(w1.new_stored_bytes));
  json.Num("pool.container_bytes", static_cast<double>(after2.space_allocated));
  json.Num("pool.dir_bytes", static_cast<double>(pool_dir_bytes));

  // sealpool / peer, same streams. Goals: DESIGN.md "Performance".
  std::printf("\n## sealpool vs peers, same tar streams, same run\n\n");
  for (const PeerResult& p : peers) {
    if (!p.skipped.empty()) {
      std::printf("%s: %s\n", p.name.c_str(), p.skipped.c_str());
      json.Str("peer." + p.name, p.skipped);
      continue;
    }
    const double pi1 = Gbps(n1, p.ingest1_s);
    const double pi2 = Gbps(n2, p.ingest2_s);
    const double pr = Gbps(n2, p.restore_s);
    std::printf("%s (%s); one command's fixed cost (open repo, derive key): %.2f s\n\n",
                p.name.c_str(), p.settings.c_str(), p.open_s);
    std::printf("| figure | sealpool | %s | ratio | goal |\n|---|---:|---:|---:|---:|\n",
                p.name.c_str());
    auto row = [&](const char* what, double ours, double theirs, const char* unit, double goal,
                   bool lower_is_better, const std::string& key) {
      const double ratio = theirs > 0 ? ours / theirs : 0;
      std::string g;
      if (goal > 0) {
        char buf[64];
        const bool met = lower_is_better ? ratio <= goal : ratio >= goal;
        std::snprintf(buf, sizeof buf, "%s %.2g %s", lower_is_better ? "≤" : "≥", goal,
                      met ? "met" : "not met");
        g = buf;
      }
      std::printf("| %s | %.3g %s | %.3g %s | %.2f | %s |\n", what, ours, unit, theirs, unit,
                  ratio, g.c_str());
      json.Num("peer." + p.name + "." + key + "_ratio", ratio);
      json.Num("peer." + p.name + "." + key, theirs);
    };
    row("ingest gen 1 (new data), 1 stream", Gbps(n1, ingest1_s), pi1, "GB/s", 3, false,
        "ingest_gen1");
    row("ingest gen 1, sealpool 2 streams", Gbps(n1, ingest_two_s), pi1, "GB/s", 3, false,
        "ingest_gen1_2streams");
    row("ingest gen 2 (mostly duplicate)", Gbps(n2, ingest2_s), pi2, "GB/s", 5, false,
        "ingest_gen2");
    row("restore gen 2", Gbps(n2, restore_s), pr, "GB/s", 3, false, "restore_gen2");
    row("stored bytes after gen 1 + 2 (containers vs repo)",
        MiB(after2.space_allocated), MiB(p.stored_bytes), "MiB", 1, true, "stored_mib");
    row("stored bytes (whole pool dir vs repo)", MiB(pool_dir_bytes), MiB(p.stored_bytes), "MiB",
        1, true, "stored_dir_mib");
    std::printf("\n");
  }

  if (cfg.smoke) RunMemory(root, cfg.memory_segments, json);

  json.Str("load_after", LoadAverage());
  std::printf("pool_bench: load average after: %s\n", LoadAverage().c_str());
  if (!cfg.json_out.empty() && !json.WriteTo(cfg.json_out)) Die("cannot write " + cfg.json_out);
  return 0;
}
