// The two-generation backup corpus of test/bench, shared by dedup_ratio (128 MiB of one tree,
// paths relative to it) and pool_bench (several trees in one stream, absolute paths).
//
// Generation 1: the regular files of each tree (in order; within a tree in sorted path order) as
// one tar-like stream, each file behind a 512-byte header (path, size, mtime) and padded to 512
// bytes, until the stream would pass the cap. Generation 2: the same files after deterministic
// edits (SplitMix64, fixed seed): 2% overwritten in place (1..64 bytes), 1% with 1..100 bytes
// inserted (shifted), 1% with 1..100 bytes deleted, 0.5% removed, 0.5% new files of random bytes
// added; edited files get a new mtime in their header, as tar would.
#ifndef SEALPOOL_TEST_BENCH_BENCH_CORPUS_H_
#define SEALPOOL_TEST_BENCH_BENCH_CORPUS_H_

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace sealpool::bench {

using Bytes = std::vector<uint8_t>;

inline constexpr size_t kTarBlock = 512;

struct CorpusFile {
  std::string path;
  Bytes data;
  uint64_t mtime = 1'700'000'000;
};

struct EditCounts {
  int overwritten = 0;
  int inserted = 0;
  int deleted = 0;
  int removed = 0;
  int added = 0;
};

// SplitMix64: the edits are the same on every run and machine.
class CorpusRng {
 public:
  explicit CorpusRng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    state_ += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }
  Bytes RandomBytes(size_t n) {
    Bytes out(n);
    for (uint8_t& b : out) b = static_cast<uint8_t>(Next());
    return out;
  }

 private:
  uint64_t state_;
};

inline bool ReadWholeFile(const std::filesystem::path& path, Bytes* out) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return false;
  const std::streamoff size = in.tellg();
  if (size < 0) return false;
  out->resize(static_cast<size_t>(size));
  in.seekg(0);
  return static_cast<bool>(in.read(reinterpret_cast<char*>(out->data()), size));
}

// Appends the regular files under each of `roots` (paths absolute, or relative to their root
// with `relative_paths`) until their tar stream would pass `cap` bytes. Unreadable files are
// left out. False if no root can be walked.
inline bool ReadCorpusTrees(const std::vector<std::filesystem::path>& roots, size_t cap,
                            std::vector<CorpusFile>* files, bool relative_paths = false) {
  size_t stream = 0;
  bool any = false;
  for (const auto& root : roots) {
    std::error_code ec;
    std::vector<std::filesystem::path> paths;
    for (auto it = std::filesystem::recursive_directory_iterator(
             root, std::filesystem::directory_options::skip_permission_denied, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec) && !it->is_symlink(ec)) paths.push_back(it->path());
    }
    if (ec) {
      std::fprintf(stderr, "corpus: cannot walk %s: %s\n", root.c_str(), ec.message().c_str());
      continue;
    }
    any = true;
    std::sort(paths.begin(), paths.end());
    for (const auto& path : paths) {
      CorpusFile file;
      if (!ReadWholeFile(path, &file.data)) continue;
      file.path = relative_paths ? path.lexically_relative(root).string() : path.string();
      const size_t padded = (file.data.size() + kTarBlock - 1) / kTarBlock * kTarBlock;
      if (stream + kTarBlock + padded > cap) return true;
      stream += kTarBlock + padded;
      files->push_back(std::move(file));
    }
  }
  return any;
}

inline Bytes CorpusTarStream(const std::vector<CorpusFile>& files) {
  size_t total = 0;
  for (const CorpusFile& file : files) {
    total += kTarBlock + (file.data.size() + kTarBlock - 1) / kTarBlock * kTarBlock;
  }
  Bytes out;
  out.reserve(total);
  for (const CorpusFile& file : files) {
    char header[kTarBlock] = {};
    std::snprintf(header, sizeof header, "%.400s", file.path.c_str());
    std::snprintf(header + 400, 100, "size=%zu mtime=%llu mode=0644", file.data.size(),
                  static_cast<unsigned long long>(file.mtime));
    out.insert(out.end(), header, header + kTarBlock);
    out.insert(out.end(), file.data.begin(), file.data.end());
    out.resize((out.size() + kTarBlock - 1) / kTarBlock * kTarBlock, 0);
  }
  return out;
}

inline std::vector<CorpusFile> EditCorpusGeneration(const std::vector<CorpusFile>& gen1,
                                                    EditCounts* counts) {
  CorpusRng rng(20240601);
  std::vector<CorpusFile> gen2;
  for (const CorpusFile& original : gen1) {
    const size_t r = rng.Below(1000);
    CorpusFile file = original;
    if (r < 20 && !file.data.empty()) {  // overwrite up to 64 bytes in place
      const size_t at = rng.Below(file.data.size());
      const size_t n = std::min<size_t>(1 + rng.Below(64), file.data.size() - at);
      Bytes fresh = rng.RandomBytes(n);
      std::copy(fresh.begin(), fresh.end(), file.data.begin() + static_cast<ptrdiff_t>(at));
      ++file.mtime;
      ++counts->overwritten;
    } else if (r < 30) {  // insert 1..100 bytes
      const size_t at = rng.Below(file.data.size() + 1);
      Bytes fresh = rng.RandomBytes(1 + rng.Below(100));
      file.data.insert(file.data.begin() + static_cast<ptrdiff_t>(at), fresh.begin(), fresh.end());
      ++file.mtime;
      ++counts->inserted;
    } else if (r < 40 && !file.data.empty()) {  // delete 1..100 bytes
      const size_t at = rng.Below(file.data.size());
      const size_t n = std::min<size_t>(1 + rng.Below(100), file.data.size() - at);
      file.data.erase(file.data.begin() + static_cast<ptrdiff_t>(at),
                      file.data.begin() + static_cast<ptrdiff_t>(at + n));
      ++file.mtime;
      ++counts->deleted;
    } else if (r < 45) {
      ++counts->removed;
      continue;
    }
    gen2.push_back(std::move(file));
    if (rng.Below(1000) < 5) {  // a new file next to this one, as large as a random other one
      CorpusFile added;
      added.path = original.path + ".new";
      added.data = rng.RandomBytes(gen1[rng.Below(gen1.size())].data.size());
      gen2.push_back(std::move(added));
      ++counts->added;
    }
  }
  return gen2;
}

}  // namespace sealpool::bench

#endif  // SEALPOOL_TEST_BENCH_BENCH_CORPUS_H_
