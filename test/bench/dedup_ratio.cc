// dedup_ratio: how well a second backup generation deduplicates against the first, with the
// content-defined chunker (format version 1, default params) and with fixed 128 KiB blocks
// (what the source system does by default). Prints a markdown table.
//
//   dedup_ratio [--tree DIR] [--generations-out PREFIX]
//
//   --tree DIR               files to build the corpus from (default /usr/include)
//   --generations-out PREFIX also write the two generations to PREFIX.gen1 and PREFIX.gen2
//
// Generation 1 is the tree as one tar-like stream: the regular files in sorted path order, each
// behind a 512-byte header (path, size, mtime) and padded to 512 bytes, capped at 128 MiB.
// Generation 2 is the same tree after a deterministic few-percent of edits (a fixed PRNG): 2% of
// the files overwritten in place, 1% with bytes inserted, 1% with bytes deleted, 0.5% removed,
// 0.5% new files added; edited files get a new mtime in their header, as tar would.
// Chunks are identified by SHA-256.
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "storage/chunking/chunker.h"
#include "test/bench/bench_corpus.h"
#include "storage/chunking/chunker_format.h"

namespace {

using sealpool::bench::Bytes;
using Digest = std::array<uint8_t, 32>;

constexpr size_t kCorpusCap = size_t{128} << 20;
constexpr size_t kFixedBlock = size_t{128} << 10;

using sealpool::bench::CorpusFile;
using sealpool::bench::EditCounts;

Digest Sha256(std::span<const uint8_t> data) {
  Digest digest;
  unsigned int size = 0;
  if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1 ||
      size != digest.size()) {
    std::fprintf(stderr, "dedup_ratio: SHA-256 failed\n");
    std::exit(1);
  }
  return digest;
}

struct Chunked {
  std::vector<std::pair<Digest, size_t>> chunks;  // digest, length
  double seconds = 0;                             // cutting only, not hashing
};

Chunked CutCdc(const sealpool::storage::Chunker& chunker, std::span<const uint8_t> data) {
  Chunked out;
  std::vector<size_t> lengths;
  const auto start = std::chrono::steady_clock::now();
  for (std::span<const uint8_t> rest = data; !rest.empty();) {
    const size_t n = chunker.FindChunkEnd(rest, /*at_end=*/true);
    lengths.push_back(n);
    rest = rest.subspan(n);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  size_t offset = 0;
  for (size_t n : lengths) {
    out.chunks.emplace_back(Sha256(data.subspan(offset, n)), n);
    offset += n;
  }
  return out;
}

Chunked CutFixed(std::span<const uint8_t> data) {
  Chunked out;
  for (size_t offset = 0; offset < data.size(); offset += kFixedBlock) {
    const size_t n = std::min(kFixedBlock, data.size() - offset);
    out.chunks.emplace_back(Sha256(data.subspan(offset, n)), n);
  }
  return out;
}

struct Row {
  size_t chunks1 = 0;
  size_t chunks2 = 0;
  size_t stored1 = 0;     // unique bytes after generation 1
  size_t stored2 = 0;     // unique bytes after generations 1 and 2
  size_t found_in_1 = 0;  // generation-2 bytes whose chunk generation 1 already stored
};

Row Measure(const Chunked& gen1, const Chunked& gen2) {
  Row row;
  row.chunks1 = gen1.chunks.size();
  row.chunks2 = gen2.chunks.size();
  std::set<Digest> store;
  for (const auto& [digest, n] : gen1.chunks) {
    if (store.insert(digest).second) row.stored1 += n;
  }
  const std::set<Digest> after_gen1 = store;
  row.stored2 = row.stored1;
  for (const auto& [digest, n] : gen2.chunks) {
    if (after_gen1.count(digest) != 0) row.found_in_1 += n;
    if (store.insert(digest).second) row.stored2 += n;
  }
  return row;
}

double MiB(size_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path tree = "/usr/include";
  std::string generations_out;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--tree" && i + 1 < argc) {
      tree = argv[++i];
    } else if (arg == "--generations-out" && i + 1 < argc) {
      generations_out = argv[++i];
    } else {
      std::fprintf(stderr, "usage: dedup_ratio [--tree DIR] [--generations-out PREFIX]\n");
      return 2;
    }
  }

  std::vector<CorpusFile> files;
  if (!sealpool::bench::ReadCorpusTrees({tree}, kCorpusCap, &files, /*relative_paths=*/true)) {
    return 1;
  }
  if (files.empty()) {
    std::fprintf(stderr, "dedup_ratio: no regular files under %s\n", tree.c_str());
    return 1;
  }
  EditCounts edits;
  const Bytes gen1 = sealpool::bench::CorpusTarStream(files);
  const Bytes gen2 =
      sealpool::bench::CorpusTarStream(sealpool::bench::EditCorpusGeneration(files, &edits));
  if (!generations_out.empty()) {
    for (const auto& [suffix, data] : {std::pair{".gen1", &gen1}, std::pair{".gen2", &gen2}}) {
      std::ofstream out(generations_out + suffix, std::ios::binary);
      out.write(reinterpret_cast<const char*>(data->data()),
                static_cast<std::streamsize>(data->size()));
      if (!out) {
        std::fprintf(stderr, "dedup_ratio: cannot write %s%s\n", generations_out.c_str(), suffix);
        return 1;
      }
    }
  }

  const sealpool::storage::ChunkerParams params;
  auto chunker = sealpool::storage::Chunker::Create(params);
  if (!chunker.ok()) {
    std::fprintf(stderr, "dedup_ratio: %s\n", std::string(chunker.status().message()).c_str());
    return 1;
  }
  const Chunked cdc1 = CutCdc(*chunker, gen1);
  const Chunked cdc2 = CutCdc(*chunker, gen2);
  const Row cdc = Measure(cdc1, cdc2);
  const Row fixed = Measure(CutFixed(gen1), CutFixed(gen2));

  std::printf(
      "corpus: %s, %zu files; generation 2: %d overwritten, %d with an insertion, "
      "%d with a deletion, %d removed, %d added\n",
      tree.c_str(), files.size(), edits.overwritten, edits.inserted, edits.deleted, edits.removed,
      edits.added);
  std::printf(
      "CDC: chunker format v%u (%s), min %u / avg %u / max %u, implementation %s, "
      "%.2f GB/s cutting\n\n",
      params.version, "gear32 normalized", params.min_size, params.avg_size, params.max_size,
      sealpool::storage::ChunkerImplName(chunker->impl()),
      static_cast<double>(gen1.size() + gen2.size()) / (cdc1.seconds + cdc2.seconds) / 1e9);
  std::printf("| | CDC (v1 defaults) | fixed 128 KiB |\n|---|---:|---:|\n");
  std::printf("| generation 1 bytes | %.1f MiB | %.1f MiB |\n", MiB(gen1.size()), MiB(gen1.size()));
  std::printf("| generation 2 bytes | %.1f MiB | %.1f MiB |\n", MiB(gen2.size()), MiB(gen2.size()));
  std::printf("| chunks (gen 1 / gen 2) | %zu / %zu | %zu / %zu |\n", cdc.chunks1, cdc.chunks2,
              fixed.chunks1, fixed.chunks2);
  std::printf("| mean chunk size (gen 1) | %.1f KiB | %.1f KiB |\n",
              static_cast<double>(gen1.size()) / static_cast<double>(cdc.chunks1) / 1024,
              static_cast<double>(gen1.size()) / static_cast<double>(fixed.chunks1) / 1024);
  std::printf("| stored after gen 1 | %.1f MiB | %.1f MiB |\n", MiB(cdc.stored1),
              MiB(fixed.stored1));
  std::printf("| stored after gen 2 | %.1f MiB | %.1f MiB |\n", MiB(cdc.stored2),
              MiB(fixed.stored2));
  std::printf("| new bytes stored by gen 2 | %.1f MiB | %.1f MiB |\n",
              MiB(cdc.stored2 - cdc.stored1), MiB(fixed.stored2 - fixed.stored1));
  std::printf("| gen 2 bytes already stored by gen 1 | %.1f%% | %.1f%% |\n",
              100.0 * static_cast<double>(cdc.found_in_1) / static_cast<double>(gen2.size()),
              100.0 * static_cast<double>(fixed.found_in_1) / static_cast<double>(gen2.size()));
  return 0;
}
