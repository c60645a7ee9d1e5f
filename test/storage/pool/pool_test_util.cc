#include "test/storage/pool/pool_test_util.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <utility>

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "storage/catalog/catalog.h"
#include "storage/catalog/catalog_records.h"

namespace sealpool::storage::testing {

namespace {

constexpr size_t kBlock = 16 << 10;
constexpr uint64_t kSharedBlocks = 32;
constexpr uint64_t kSharedSeedBase = 0x5eed'b10c'0000ULL;

uint64_t Mix(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9e3779b97f4a7c15ULL + b + 0x632be59bd9b4e019ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

const std::vector<uint8_t>& SharedBlock(uint64_t index) {
  static const std::array<std::vector<uint8_t>, kSharedBlocks> blocks = [] {
    std::array<std::vector<uint8_t>, kSharedBlocks> b;
    for (uint64_t i = 0; i < kSharedBlocks; ++i) {
      b[i] = test::PseudoRandomBytes(kBlock, kSharedSeedBase + i);
    }
    return b;
  }();
  return blocks[index % kSharedBlocks];
}

std::string OneLine(std::string s) {
  return absl::StrReplaceAll(s, {{"\n", " | "}, {"\r", " "}});
}

}  // namespace

std::string StatusLine(const absl::Status& status) { return OneLine(status.ToString()); }

ChunkerParams SmallChunkerParams() {
  ChunkerParams p;
  p.min_size = 2 << 10;
  p.avg_size = 8 << 10;
  p.max_size = 32 << 10;
  p.seed = 0;
  return p;
}

PoolOptions SmallPoolOptions(FileSystem* fs) {
  PoolOptions o;
  o.containers.target_size = 1 << 20;
  o.chunker = SmallChunkerParams();
  o.fs = fs;
  o.catalog.block_cache_bytes = 8 << 20;
  o.catalog.write_buffer_bytes = 1 << 20;
  o.commit_every_extents = 16;  // partial commits happen inside one image, so crashes hit them
  o.delete_batch = 64;
  return o;
}

std::vector<uint8_t> ImageContent(const ImageSpec& spec) {
  std::vector<uint8_t> out;
  out.reserve(spec.size);
  for (uint64_t j = 0; out.size() < spec.size; ++j) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kBlock, spec.size - out.size()));
    const uint64_t h = Mix(spec.seed, j);
    const uint64_t kind = h % 100;
    if (kind < 50) {
      const auto& b = SharedBlock(h >> 8);
      out.insert(out.end(), b.begin(), b.begin() + static_cast<std::ptrdiff_t>(n));
    } else if (kind < 65) {
      // Compressible: words from a small alphabet, varied by (seed, block).
      static constexpr std::string_view kWords[] = {"segment ", "container ", "recipe ",
                                                     "extent ", "sealed ", "pool "};
      std::string text;
      text.reserve(n + 16);
      uint64_t r = h;
      while (text.size() < n) {
        r = Mix(r, 7);
        text += kWords[r % 6];
      }
      out.insert(out.end(), text.begin(), text.begin() + static_cast<std::ptrdiff_t>(n));
    } else {
      auto b = test::PseudoRandomBytes(n, Mix(h, spec.seed));
      out.insert(out.end(), b.begin(), b.end());
    }
  }
  return out;
}

uint64_t ContentHash(std::span<const uint8_t> bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (uint8_t b : bytes) {
    h ^= b;
    h *= 0x100000001b3ULL;
  }
  return h;
}

absl::StatusOr<ImageInfo> WriteImageBytes(Pool& pool, std::string_view lsu, std::string_view name,
                                          std::span<const uint8_t> content, uint64_t piece_seed) {
  ImageRequest request;
  request.lsu = std::string(lsu);
  request.name = std::string(name);
  auto writer = pool.BeginImage(request);
  if (!writer.ok()) return writer.status();
  size_t pos = 0;
  uint64_t r = piece_seed;
  while (pos < content.size()) {
    r = Mix(r, pos);
    const size_t piece = std::min<size_t>(content.size() - pos, 1 + r % (96 << 10));
    absl::Status s = (*writer)->Write(content.subspan(pos, piece));
    if (!s.ok()) return s;
    pos += piece;
  }
  return (*writer)->Commit();
}

absl::StatusOr<std::vector<uint8_t>> ReadAllBytes(const Pool& pool, std::string_view lsu,
                                                  std::string_view name) {
  auto info = pool.StatImage({std::string(lsu), "", std::string(name)});
  if (!info.ok()) return info.status();
  std::vector<uint8_t> out;
  out.reserve(info->size);
  absl::Status s = pool.ReadImage({std::string(lsu), "", std::string(name)}, 0, info->size, [&](std::span<const uint8_t> d) {
    out.insert(out.end(), d.begin(), d.end());
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return out;
}

std::string DescribeMismatch(std::span<const uint8_t> got, std::span<const uint8_t> want) {
  const size_t n = std::min(got.size(), want.size());
  for (size_t i = 0; i < n; ++i) {
    if (got[i] != want[i]) {
      return absl::StrCat("first difference at offset ", i, " (got ", got[i], ", want ", want[i],
                          "); sizes ", got.size(), " / ", want.size());
    }
  }
  if (got.size() != want.size()) {
    return absl::StrCat("size ", got.size(), ", want ", want.size());
  }
  return "";
}

// ---- PoolFixture ----

PoolFixture::PoolFixture(PoolOptions options, KekMode kek_mode)
    : dir_(tmp_.File("pool")), kms_("test-pool"), options_(std::move(options)) {
  const std::string rk = kms_.AddRootKey(kTestKeyGroup);
  REQUIRE(kms_.Activate(rk).ok());
  auto pool = Pool::Create(dir_, &kms_, options_);
  INFO(pool.status());
  REQUIRE(pool.ok());
  pool_ = *std::move(pool);
  absl::Status s = pool_->CreateKeyGroup(kTestKeyGroup, "builtin", kek_mode);
  INFO(s);
  REQUIRE(s.ok());
  s = pool_->CreateLsu(kTestLsu, kTestKeyGroup, LsuOptions{.allow_client_delete = true});
  INFO(s);
  REQUIRE(s.ok());
}

PoolFixture::~PoolFixture() { pool_.reset(); }

absl::StatusOr<ImageInfo> PoolFixture::WriteImage(std::string_view name,
                                                  std::span<const uint8_t> content,
                                                  std::string_view lsu) {
  return WriteImageBytes(*pool_, lsu, name, content, ContentHash(content));
}

absl::StatusOr<std::vector<uint8_t>> PoolFixture::ReadAll(std::string_view name,
                                                          std::string_view lsu) const {
  return ReadAllBytes(*pool_, lsu, name);
}

void PoolFixture::Close() { pool_.reset(); }

absl::Status PoolFixture::TryOpen() {
  pool_.reset();
  auto pool = Pool::Open(dir_, &kms_, options_);
  if (!pool.ok()) return pool.status();
  pool_ = *std::move(pool);
  return absl::OkStatus();
}

void PoolFixture::Reopen() {
  absl::Status s = TryOpen();
  INFO(s);
  REQUIRE(s.ok());
}

std::vector<std::string> PoolFixture::ContainerFiles() const {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_)) {
    if (e.is_regular_file() && e.path().extension() == ".spc") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// ---- consistency checks ----

CheckResult CheckPool(const std::string& dir, RootKeyProvider* kms, const PoolOptions& options,
                      const ImageModel& model, std::string_view lsu,
                      std::unique_ptr<Pool>* keep_open) {
  CheckResult r;
  auto& problems = r.problems;
  const bool verbose = std::getenv("SEALPOOL_CHECK_VERBOSE") != nullptr;
  auto t0 = std::chrono::steady_clock::now();
  auto lap = [&](const char* what) {
    if (!verbose) return;
    auto now = std::chrono::steady_clock::now();
    std::fprintf(stderr, "  check %s: %.3f s\n", what,
                 std::chrono::duration<double>(now - t0).count());
    t0 = now;
  };
  {
    auto opened = Pool::Open(dir, kms, options);
    lap("open");
    if (!opened.ok()) {
      problems.push_back("Pool::Open after the crash: " + StatusLine(opened.status()));
      return r;
    }
    std::unique_ptr<Pool> pool = *std::move(opened);

    auto listed = pool->ListImages(lsu, std::nullopt);
    if (!listed.ok()) {
      problems.push_back("ListImages: " + StatusLine(listed.status()));
      return r;
    }
    std::set<std::string> visible;
    for (const ImageInfo& info : *listed) {
      if (!visible.insert(info.name).second) {
        problems.push_back("ListImages lists '" + info.name + "' twice");
      }
    }
    for (const auto& [name, spec] : model.live) {
      if (visible.count(name) == 0 && model.maybe.count(name) == 0) {
        problems.push_back("acknowledged image '" + name + "' (seed " +
                           std::to_string(spec.seed) + ", " + std::to_string(spec.size) +
                           " bytes) is not visible after reopen");
      }
    }
    for (const ImageInfo& info : *listed) {
      const ImageSpec* spec = nullptr;
      if (auto it = model.live.find(info.name); it != model.live.end()) spec = &it->second;
      if (auto it = model.maybe.find(info.name); it != model.maybe.end()) spec = &it->second;
      if (spec == nullptr && model.deleted.count(info.name) != 0) {
        problems.push_back("image '" + info.name + "' was deleted (DeleteImage returned OK) " +
                           "but is visible again");
        continue;
      }
      if (spec == nullptr) {
        problems.push_back("image '" + info.name + "' is visible but was never acknowledged " +
                           "nor being written");
        continue;
      }
      r.visible[info.name] = *spec;
      if (info.size != spec->size) {
        problems.push_back(absl::StrCat("image '", info.name, "' has size ", info.size,
                                        ", written ", spec->size));
      }
      const std::vector<uint8_t> want = ImageContent(*spec);
      std::vector<uint8_t> got;
      absl::Status s = pool->ReadImage({std::string(lsu), "", info.name}, 0, info.size,
                                       [&](std::span<const uint8_t> d) {
                                         got.insert(got.end(), d.begin(), d.end());
                                         return absl::OkStatus();
                                       });
      if (!s.ok()) {
        problems.push_back("reading image '" + info.name + "': " + StatusLine(s));
      } else if (std::string m = DescribeMismatch(got, want); !m.empty()) {
        problems.push_back("image '" + info.name + "' reads back wrong: " + m);
      }
    }
    lap("list+read");
    auto verify = pool->Verify();
    lap("verify");
    if (!verify.ok()) {
      problems.push_back("Verify: " + StatusLine(verify.status()));
    } else {
      for (const auto& p : verify->problems) problems.push_back("Verify: " + OneLine(p));
      if (verify->images_checked != visible.size()) {
        problems.push_back(absl::StrCat("Verify checked ", verify->images_checked,
                                        " images, ", visible.size(), " are visible"));
      }
    }
    auto scrub = pool->Scrub();
    lap("scrub");
    if (!scrub.ok()) {
      problems.push_back("Scrub: " + StatusLine(scrub.status()));
    } else {
      for (const auto& p : scrub->problems) problems.push_back("Scrub: " + OneLine(p));
      for (const auto& p : scrub->dead_regions) r.dead_copies.push_back(OneLine(p));
    }
    auto queue = pool->ProcessDeleteQueue();
    lap("queue");
    if (!queue.ok()) {
      problems.push_back("ProcessDeleteQueue: " + StatusLine(queue.status()));
    } else if (queue->jobs_left != 0) {
      problems.push_back(absl::StrCat("ProcessDeleteQueue left ", queue->jobs_left, " jobs"));
    }
    auto stats = pool->Stats();
    if (!stats.ok()) {
      problems.push_back("Stats: " + StatusLine(stats.status()));
    } else {
      r.stats = *stats;
      uint64_t logical = 0;
      for (const auto& [name, spec] : r.visible) logical += spec.size;
      if (stats->images != visible.size()) {
        problems.push_back(absl::StrCat("Stats.images ", stats->images, ", visible ",
                                        visible.size()));
      }
      if (stats->logical_bytes != logical) {
        problems.push_back(absl::StrCat("Stats.logical_bytes ", stats->logical_bytes,
                                        ", visible images hold ", logical));
      }
      if (stats->pending_delete_jobs != 0) {
        problems.push_back(absl::StrCat("Stats.pending_delete_jobs ", stats->pending_delete_jobs,
                                        " after the queue ran dry"));
      }
      if (stats->space_used > stats->space_allocated) {
        problems.push_back(absl::StrCat("Stats.space_used ", stats->space_used,
                                        " > space_allocated ", stats->space_allocated));
      }
    }
    lap("stats");
    if (keep_open != nullptr) {
      *keep_open = std::move(pool);
      return r;
    }
  }  // pool closed
  lap("close");
  if (r.problems.empty()) {
    auto more = CheckCatalogInvariants(dir, &r.stats);
    problems.insert(problems.end(), more.begin(), more.end());
  }
  lap("catalog");
  return r;
}

std::vector<std::string> CheckCatalogInvariants(const std::string& dir, const PoolStats* stats) {
  std::vector<std::string> problems;
  auto opened = Catalog::Open(dir + "/catalog", CatalogOptions{});
  if (!opened.ok()) {
    problems.push_back("Catalog::Open: " + StatusLine(opened.status()));
    return problems;
  }
  std::unique_ptr<Catalog> catalog = *std::move(opened);
  auto add = [&](std::string p) {
    if (problems.size() < 50) problems.push_back(std::move(p));
  };

  // Images and their recipes.
  std::map<uint64_t, ImageRecord> images;
  absl::Status s = catalog->Scan(Cf::kImages, ImagePrefix(), [&](std::string_view, std::string_view v)
                                     -> absl::StatusOr<bool> {
    auto rec = DecodeImage(v);
    if (!rec.ok()) return rec.status();
    images[rec->image_id] = *rec;
    return true;
  });
  if (!s.ok()) add("scan images: " + StatusLine(s));
  using SegKey = std::pair<uint32_t, uint64_t>;
  std::map<SegKey, int64_t> refs;
  uint64_t logical = 0;
  for (const auto& [id, img] : images) {
    logical += img.size;
    uint64_t expect_offset = 0;
    uint64_t extents = 0;
    s = catalog->Scan(Cf::kRecipes, RecipePrefix(id), [&](std::string_view k, std::string_view v)
                          -> absl::StatusOr<bool> {
      auto off = DecodeRecipeKeyOffset(k, id);
      if (!off.ok()) return off.status();
      auto ext = DecodeRecipeExtent(v);
      if (!ext.ok()) return ext.status();
      if (*off != expect_offset) {
        add(absl::StrCat("image ", img.lsu, "/", img.name, ": recipe extent at ", *off,
                         ", expected ", expect_offset));
      }
      expect_offset = *off + ext->length;
      ++extents;
      refs[{img.group_no, ext->segment_id.value()}]++;
      return true;
    });
    if (!s.ok()) add("scan recipe of " + img.name + ": " + StatusLine(s));
    if (expect_offset != img.size || extents != img.extent_count) {
      add(absl::StrCat("image ", img.lsu, "/", img.name, ": recipe covers ", expect_offset,
                       " bytes in ", extents, " extents; record says ", img.size, " in ",
                       img.extent_count));
    }
  }
  // Recipe rows of images that do not exist (leaked by an unfinished or deleted write).
  std::map<uint64_t, uint64_t> orphan_rows;
  s = catalog->Scan(Cf::kRecipes, "", [&](std::string_view k, std::string_view)
                        -> absl::StatusOr<bool> {
    if (k.size() < 8) return absl::DataLossError("short recipe key");
    const uint64_t id = LoadU64BE(k.data());
    if (images.count(id) == 0) orphan_rows[id]++;
    return true;
  });
  if (!s.ok()) add("scan recipes: " + StatusLine(s));
  for (const auto& [id, n] : orphan_rows) {
    add(absl::StrCat("recipe rows of image id ", id, " that has no image record: ", n,
                     " rows left after the delete queue ran dry"));
  }

  // Segments.
  std::map<SegKey, SegmentRecord> segments;
  s = catalog->Scan(Cf::kSegments, "", [&](std::string_view k, std::string_view v)
                        -> absl::StatusOr<bool> {
    uint32_t group = 0;
    auto id = DecodeSegmentKey(k, &group);
    if (!id.ok()) return id.status();
    auto rec = DecodeSegmentRecord(v);
    if (!rec.ok()) return rec.status();
    segments[{group, id->value()}] = *rec;
    return true;
  });
  if (!s.ok()) add("scan segments: " + StatusLine(s));
  for (const auto& [key, n] : refs) {
    if (segments.count(key) == 0) {
      add(absl::StrCat("segment ", key.second, " (group ", key.first, ") is referenced ", n,
                       " times by recipes but has no segment record"));
    }
  }
  uint64_t stored = 0;
  std::map<uint64_t, std::pair<int64_t, int64_t>> container_live;  // bytes, records
  for (const auto& [key, rec] : segments) {
    stored += rec.record_length;
    auto& cl = container_live[rec.container_id];
    cl.first += rec.record_length;
    cl.second += 1;
    const int64_t want = refs.count(key) ? refs[key] : 0;
    auto counter = catalog->GetCounter(RefcountKey(key.first, crypto::SegmentId(key.second)));
    if (!counter.ok()) {
      add("refcount of segment " + std::to_string(key.second) + ": " +
          StatusLine(counter.status()));
    } else if (*counter != want) {
      add(absl::StrCat("segment ", key.second, ": refcount counter ", *counter, ", recipes hold ",
                       want, " references"));
    }
    if (want == 0) {
      add(absl::StrCat("segment ", key.second, " (container ", rec.container_id,
                       ") is referenced by nothing but was not reclaimed"));
    }
    auto fp = catalog->Get(Cf::kFingerprints, FingerprintIndexKey(key.first, rec.fingerprint));
    if (!fp.ok()) {
      add("fingerprint index: " + StatusLine(fp.status()));
    } else if (!fp->has_value()) {
      add(absl::StrCat("segment ", key.second, " has no fingerprint index entry"));
    }
    auto container = catalog->Get(Cf::kContainers, ContainerKey(rec.container_id));
    if (!container.ok() || !container->has_value()) {
      add(absl::StrCat("segment ", key.second, " lives in container ", rec.container_id,
                       " which has no container record"));
    } else {
      auto crec = DecodeContainer(**container);
      if (!crec.ok() || crec->state != ContainerRecord::State::kActive) {
        add(absl::StrCat("segment ", key.second, " lives in container ", rec.container_id,
                         " which is retired or undecodable"));
      }
    }
    char name[32];
    std::snprintf(name, sizeof(name), "%016llx.spc",
                  static_cast<unsigned long long>(rec.container_id));
    if (!std::filesystem::exists(dir + "/containers/" + name)) {
      add(absl::StrCat("segment ", key.second, " lives in container file ", name,
                       " which does not exist"));
    }
  }
  // Every fingerprint index entry points at a segment with that fingerprint.
  s = catalog->Scan(Cf::kFingerprints, "", [&](std::string_view k, std::string_view v)
                        -> absl::StatusOr<bool> {
    uint32_t group = 0;
    auto fp = DecodeFingerprintIndexKey(k, &group);
    if (!fp.ok()) return fp.status();
    auto id = DecodeU64(v, "fingerprint index value");
    if (!id.ok()) return id.status();
    auto it = segments.find({group, *id});
    if (it == segments.end()) {
      add(absl::StrCat("fingerprint index entry points at segment ", *id,
                       " which does not exist (a later write would dedup against nothing)"));
    } else if (!(it->second.fingerprint == *fp)) {
      add(absl::StrCat("fingerprint index entry points at segment ", *id,
                       " whose fingerprint differs"));
    }
    return true;
  });
  if (!s.ok()) add("scan fingerprints: " + StatusLine(s));
  // Container usage counters.
  s = catalog->Scan(Cf::kContainers, "", [&](std::string_view k, std::string_view v)
                        -> absl::StatusOr<bool> {
    auto id = DecodeContainerKey(k);
    if (!id.ok()) return id.status();
    auto rec = DecodeContainer(v);
    if (!rec.ok()) return rec.status();
    if (rec->state != ContainerRecord::State::kActive) return true;
    auto live_bytes = catalog->GetCounter(ContainerCounterKey(*id, ContainerField::kLiveBytes));
    auto live_records =
        catalog->GetCounter(ContainerCounterKey(*id, ContainerField::kLiveRecords));
    if (!live_bytes.ok() || !live_records.ok()) return true;
    const auto want = container_live[*id];
    if (*live_bytes != want.first || *live_records != want.second) {
      add(absl::StrCat("container ", *id, ": live counters ", *live_bytes, " bytes / ",
                       *live_records, " records; segment records say ", want.first, " / ",
                       want.second));
    }
    return true;
  });
  if (!s.ok()) add("scan containers: " + StatusLine(s));
  uint64_t session_rows = 0, queue_rows = 0;
  s = catalog->Scan(Cf::kSessions, "", [&](std::string_view, std::string_view)
                        -> absl::StatusOr<bool> { ++session_rows; return true; });
  if (!s.ok()) add("scan sessions: " + StatusLine(s));
  s = catalog->Scan(Cf::kDeleteQueue, "", [&](std::string_view, std::string_view)
                        -> absl::StatusOr<bool> { ++queue_rows; return true; });
  if (!s.ok()) add("scan delete queue: " + StatusLine(s));
  if (session_rows != 0) {
    add(absl::StrCat(session_rows, " session rows left with no write running"));
  }
  if (queue_rows != 0) add(absl::StrCat(queue_rows, " delete jobs left after the queue ran dry"));
  if (stats != nullptr) {
    if (stats->segments != segments.size()) {
      add(absl::StrCat("Stats.segments ", stats->segments, ", segment records ",
                       segments.size()));
    }
    if (stats->images != images.size()) {
      add(absl::StrCat("Stats.images ", stats->images, ", image records ", images.size()));
    }
    if (stats->logical_bytes != logical) {
      add(absl::StrCat("Stats.logical_bytes ", stats->logical_bytes, ", image records ",
                       logical));
    }
    if (stats->stored_bytes != stored) {
      add(absl::StrCat("Stats.stored_bytes ", stats->stored_bytes,
                       ", segment records' lengths sum to ", stored));
    }
  }
  return problems;
}

// ---- power cut: containers ----

namespace {

absl::Status CutError(const char* op, const std::string& path) {
  return absl::InternalError(absl::StrCat(op, " ", path, ": injected power cut (test)"));
}

class PowerCutWritableFile final : public WritableFile {
 public:
  PowerCutWritableFile(std::unique_ptr<WritableFile> base, PowerCutFileSystem* fs)
      : base_(std::move(base)), fs_(fs) {}
  absl::Status Append(std::span<const uint8_t> data) override {
    if (auto s = fs_->Check("append", path()); !s.ok()) return s;
    return base_->Append(data);
  }
  absl::Status Sync() override {
    if (auto s = fs_->Check("sync", path()); !s.ok()) return s;
    return base_->Sync();
  }
  absl::Status Truncate(uint64_t size) override {
    if (auto s = fs_->Check("truncate", path()); !s.ok()) return s;
    return base_->Truncate(size);
  }
  absl::Status Close() override { return base_->Close(); }
  uint64_t Size() const override { return base_->Size(); }
  const std::string& path() const override { return base_->path(); }

 private:
  std::unique_ptr<WritableFile> base_;
  PowerCutFileSystem* fs_;
};

}  // namespace

absl::Status PowerCutFileSystem::Check(const char* op, const std::string& path) {
  if (cut_->Allow()) return absl::OkStatus();
  return CutError(op, path);
}

absl::StatusOr<std::unique_ptr<WritableFile>> PowerCutFileSystem::NewWritableFile(
    const std::string& path, OpenMode mode) {
  if (auto s = Check("create", path); !s.ok()) return s;
  auto f = base_->NewWritableFile(path, mode);
  if (!f.ok()) return f.status();
  return std::unique_ptr<WritableFile>(new PowerCutWritableFile(*std::move(f), this));
}
absl::StatusOr<std::unique_ptr<RandomAccessFile>> PowerCutFileSystem::NewRandomAccessFile(
    const std::string& path) {
  return base_->NewRandomAccessFile(path);
}
absl::Status PowerCutFileSystem::RenameFile(const std::string& from, const std::string& to) {
  if (auto s = Check("rename", from); !s.ok()) return s;
  return base_->RenameFile(from, to);
}
absl::Status PowerCutFileSystem::RemoveFile(const std::string& path) {
  if (auto s = Check("remove", path); !s.ok()) return s;
  return base_->RemoveFile(path);
}
absl::StatusOr<bool> PowerCutFileSystem::FileExists(const std::string& path) {
  return base_->FileExists(path);
}
absl::StatusOr<uint64_t> PowerCutFileSystem::GetFileSize(const std::string& path) {
  return base_->GetFileSize(path);
}
absl::StatusOr<std::vector<std::string>> PowerCutFileSystem::ListDir(const std::string& dir) {
  return base_->ListDir(dir);
}
absl::Status PowerCutFileSystem::CreateDir(const std::string& dir) {
  if (auto s = Check("mkdir", dir); !s.ok()) return s;
  return base_->CreateDir(dir);
}
absl::Status PowerCutFileSystem::SyncDir(const std::string& dir) {
  if (auto s = Check("syncdir", dir); !s.ok()) return s;
  return base_->SyncDir(dir);
}
absl::StatusOr<std::unique_ptr<FileLock>> PowerCutFileSystem::LockFile(const std::string& path) {
  return base_->LockFile(path);
}

// ---- power cut: catalog (RocksDB) ----

namespace {

rocksdb::IOStatus RocksCutError(const std::string& path) {
  return rocksdb::IOStatus::IOError("injected power cut", path);
}

struct TrackedFile {
  uint64_t size = 0;
  uint64_t synced = 0;
  bool ever_synced = false;
};

class TrackingFs;

class TrackingWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  TrackingWritableFile(std::string path, std::unique_ptr<rocksdb::FSWritableFile> base,
                       TrackingFs* fs)
      : rocksdb::FSWritableFileOwnerWrapper(std::move(base)), path_(std::move(path)), fs_(fs) {}
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice&, uint64_t, const rocksdb::IOOptions&,
                                     rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::NotSupported("PositionedAppend in the power-cut env");
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice&, uint64_t, const rocksdb::IOOptions&,
                                     const rocksdb::DataVerificationInfo&,
                                     rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::NotSupported("PositionedAppend in the power-cut env");
  }
  rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& o,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RangeSync(uint64_t, uint64_t, const rocksdb::IOOptions&,
                              rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::OK();  // not a durability point; the next Sync is
  }
  bool use_direct_io() const override { return false; }

 private:
  rocksdb::IOStatus AfterSync(rocksdb::IOStatus s);
  std::string path_;
  TrackingFs* fs_;
};

class TrackingFs final : public rocksdb::FileSystemWrapper {
 public:
  TrackingFs(const std::shared_ptr<rocksdb::FileSystem>& base, PowerCut* cut)
      : rocksdb::FileSystemWrapper(base), cut_(cut) {}
  static const char* kClassName() { return "SealpoolPowerCutFs"; }
  const char* Name() const override { return kClassName(); }

  bool Allow() { return cut_->Allow(); }

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override {
    if (!Allow()) return RocksCutError(f);
    std::unique_ptr<rocksdb::FSWritableFile> base;
    rocksdb::IOStatus s = target()->NewWritableFile(f, o, &base, dbg);
    if (!s.ok()) return s;
    {
      std::lock_guard<std::mutex> lock(mu_);
      files_[f] = TrackedFile{};
    }
    r->reset(new TrackingWritableFile(f, std::move(base), this));
    return s;
  }
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override {
    if (!Allow()) return RocksCutError(f);
    std::unique_ptr<rocksdb::FSWritableFile> base;
    rocksdb::IOStatus s = target()->ReopenWritableFile(f, o, &base, dbg);
    if (!s.ok()) return s;
    uint64_t size = 0;
    (void)target()->GetFileSize(f, rocksdb::IOOptions(), &size, dbg);
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = files_.find(f);
      if (it == files_.end()) files_[f] = TrackedFile{size, size, true};
    }
    r->reset(new TrackingWritableFile(f, std::move(base), this));
    return s;
  }
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old,
                                      const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* dbg) override {
    if (!Allow()) return RocksCutError(f);
    std::unique_ptr<rocksdb::FSWritableFile> base;
    rocksdb::IOStatus s = target()->ReuseWritableFile(f, old, o, &base, dbg);
    if (!s.ok()) return s;
    {
      std::lock_guard<std::mutex> lock(mu_);
      files_.erase(old);
      files_[f] = TrackedFile{};
    }
    r->reset(new TrackingWritableFile(f, std::move(base), this));
    return s;
  }
  rocksdb::IOStatus DeleteFile(const std::string& f, const rocksdb::IOOptions& o,
                               rocksdb::IODebugContext* dbg) override {
    if (!Allow()) return RocksCutError(f);
    rocksdb::IOStatus s = target()->DeleteFile(f, o, dbg);
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      files_.erase(f);
    }
    return s;
  }
  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    if (!Allow()) return RocksCutError(from);
    rocksdb::IOStatus s = target()->RenameFile(from, to, o, dbg);
    if (s.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = files_.find(from);
      if (it != files_.end()) {
        files_[to] = it->second;
        files_.erase(from);
      } else {
        files_.erase(to);
      }
    }
    return s;
  }
  rocksdb::IOStatus LinkFile(const std::string& from, const std::string& to,
                             const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    if (!Allow()) return RocksCutError(from);
    return target()->LinkFile(from, to, o, dbg);
  }
  rocksdb::IOStatus CreateDir(const std::string& d, const rocksdb::IOOptions& o,
                              rocksdb::IODebugContext* dbg) override {
    if (!Allow()) return RocksCutError(d);
    return target()->CreateDir(d, o, dbg);
  }
  rocksdb::IOStatus CreateDirIfMissing(const std::string& d, const rocksdb::IOOptions& o,
                                       rocksdb::IODebugContext* dbg) override {
    if (!Allow()) return RocksCutError(d);
    return target()->CreateDirIfMissing(d, o, dbg);
  }

  void OnAppend(const std::string& f, uint64_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(f);
    if (it != files_.end()) it->second.size += n;
  }
  void OnTruncate(const std::string& f, uint64_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(f);
    if (it != files_.end()) {
      it->second.size = size;
      it->second.synced = std::min(it->second.synced, size);
    }
  }
  void OnSync(const std::string& f) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = files_.find(f);
    if (it != files_.end()) {
      it->second.synced = it->second.size;
      it->second.ever_synced = true;
    }
  }

  absl::Status Drop() {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [path, st] : files_) {
      std::error_code ec;
      if (!std::filesystem::exists(path, ec)) continue;
      if (!st.ever_synced) {
        std::filesystem::remove(path, ec);
      } else if (std::filesystem::file_size(path, ec) > st.synced) {
        std::filesystem::resize_file(path, st.synced, ec);
      }
      if (ec) return absl::InternalError("drop unsynced " + path + ": " + ec.message());
    }
    files_.clear();
    return absl::OkStatus();
  }
  uint64_t tracked() const {
    std::lock_guard<std::mutex> lock(mu_);
    return files_.size();
  }

 private:
  PowerCut* cut_;
  mutable std::mutex mu_;
  std::map<std::string, TrackedFile> files_;
};

rocksdb::IOStatus TrackingWritableFile::Append(const rocksdb::Slice& data,
                                               const rocksdb::IOOptions& o,
                                               rocksdb::IODebugContext* dbg) {
  if (!fs_->Allow()) return RocksCutError(path_);
  rocksdb::IOStatus s = target()->Append(data, o, dbg);
  if (s.ok()) fs_->OnAppend(path_, data.size());
  return s;
}
rocksdb::IOStatus TrackingWritableFile::Append(const rocksdb::Slice& data,
                                               const rocksdb::IOOptions& o,
                                               const rocksdb::DataVerificationInfo& info,
                                               rocksdb::IODebugContext* dbg) {
  if (!fs_->Allow()) return RocksCutError(path_);
  rocksdb::IOStatus s = target()->Append(data, o, info, dbg);
  if (s.ok()) fs_->OnAppend(path_, data.size());
  return s;
}
rocksdb::IOStatus TrackingWritableFile::Truncate(uint64_t size, const rocksdb::IOOptions& o,
                                                 rocksdb::IODebugContext* dbg) {
  if (!fs_->Allow()) return RocksCutError(path_);
  rocksdb::IOStatus s = target()->Truncate(size, o, dbg);
  if (s.ok()) fs_->OnTruncate(path_, size);
  return s;
}
rocksdb::IOStatus TrackingWritableFile::Sync(const rocksdb::IOOptions& o,
                                             rocksdb::IODebugContext* dbg) {
  if (!fs_->Allow()) return RocksCutError(path_);
  rocksdb::IOStatus s = target()->Sync(o, dbg);
  if (s.ok()) fs_->OnSync(path_);
  return s;
}
rocksdb::IOStatus TrackingWritableFile::Fsync(const rocksdb::IOOptions& o,
                                              rocksdb::IODebugContext* dbg) {
  if (!fs_->Allow()) return RocksCutError(path_);
  rocksdb::IOStatus s = target()->Fsync(o, dbg);
  if (s.ok()) fs_->OnSync(path_);
  return s;
}

}  // namespace

struct CatalogPowerCutEnv::Impl {
  std::shared_ptr<TrackingFs> fs;
  std::unique_ptr<rocksdb::Env> env;
};

CatalogPowerCutEnv::CatalogPowerCutEnv(PowerCut* cut) : impl_(std::make_unique<Impl>()) {
  impl_->fs = std::make_shared<TrackingFs>(rocksdb::FileSystem::Default(), cut);
  impl_->env = rocksdb::NewCompositeEnv(impl_->fs);
}
CatalogPowerCutEnv::~CatalogPowerCutEnv() = default;
rocksdb::Env* CatalogPowerCutEnv::env() { return impl_->env.get(); }
absl::Status CatalogPowerCutEnv::DropUnsyncedData() { return impl_->fs->Drop(); }
uint64_t CatalogPowerCutEnv::tracked_files() const { return impl_->fs->tracked(); }

}  // namespace sealpool::storage::testing
