// sealpool_bench: runs the registered micro-benchmarks and then prints a table of each of
// sealpool's figures as a ratio to its peer measured in the same run (the machines are noisy:
// only same-run ratios are comparable across machines).
//
//   sealpool_bench [google benchmark flags] [--ratio_out=FILE]
//
// The peers are OpenSSL's own primitives on the same buffers (see docs/perf.md).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

// Keeps the console output and remembers each benchmark's rate.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred || run.run_type != Run::RT_Iteration) continue;
      std::string name = run.benchmark_name();
      // "BM_Seal/65536" -> "BM_Seal": one size per benchmark in this suite.
      if (auto slash = name.find('/'); slash != std::string::npos) name.resize(slash);
      if (auto it = run.counters.find("bytes_per_second"); it != run.counters.end()) {
        bytes_per_second_[name] = it->second.value;
      }
      if (auto it = run.counters.find("items_per_second"); it != run.counters.end()) {
        items_per_second_[name] = it->second.value;
      }
    }
  }

  // One row: our figure, its peer, the ratio and the goal from DESIGN.md.
  struct Row {
    const char* what;
    const char* ours;
    const char* peer;
    double goal;  // minimum ratio ours/peer; 0 = no goal
  };

  std::string Table(const std::vector<Row>& rows) const {
    std::string out =
        "| figure | ours (GB/s) | peer | peer (GB/s) | ratio | goal |\n"
        "|---|---:|---|---:|---:|---:|\n";
    char line[512];
    for (const Row& row : rows) {
      auto ours = bytes_per_second_.find(row.ours);
      auto peer = bytes_per_second_.find(row.peer);
      if (ours == bytes_per_second_.end() || peer == bytes_per_second_.end() ||
          peer->second <= 0) {
        continue;
      }
      double ratio = ours->second / peer->second;
      std::snprintf(line, sizeof line, "| %s | %.2f | %s | %.2f | %.2f | %s |\n", row.what,
                    ours->second / 1e9, row.peer, peer->second / 1e9, ratio,
                    row.goal > 0 ? (std::string("≥ ") + std::to_string(row.goal).substr(0, 4) +
                                    (ratio >= row.goal ? " met" : " not met"))
                                       .c_str()
                                 : "");
      out += line;
    }
    for (const auto& [name, rate] : items_per_second_) {
      std::snprintf(line, sizeof line, "| %s | %.0f ops/s | | | | |\n", name.c_str(), rate);
      out += line;
    }
    return out;
  }

 private:
  std::map<std::string, double> bytes_per_second_;
  std::map<std::string, double> items_per_second_;
};

}  // namespace

int main(int argc, char** argv) {
  // Take our own flag out before Google Benchmark sees the rest.
  std::string ratio_out;
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    constexpr const char kFlag[] = "--ratio_out=";
    if (std::strncmp(argv[i], kFlag, sizeof kFlag - 1) == 0) {
      ratio_out = argv[i] + sizeof kFlag - 1;
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 2;

  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();

  // DESIGN.md goals: chunker ≥ 4 GB/s ≈ 2.3× SHA-256; fingerprint and seal ≥ 80% of OpenSSL.
  std::string table = reporter.Table({
      {"chunker, AVX-512 path (kAuto here)", "BM_Chunker_Avx512", "BM_OpenSSL_SHA256", 2.3},
      {"chunker, portable path", "BM_Chunker_Portable", "BM_OpenSSL_SHA256", 2.3},
      {"chunker, AVX2 path (gathers)", "BM_Chunker_Avx2", "BM_OpenSSL_SHA256", 0},
      {"fingerprint (HMAC-SHA-256)", "BM_Fingerprint", "BM_OpenSSL_HMAC_SHA256", 0.8},
      {"seal (AES-256-GCM)", "BM_Seal", "BM_OpenSSL_AES256GCM_Encrypt", 0.8},
      {"open (AES-256-GCM)", "BM_Open", "BM_OpenSSL_AES256GCM_Encrypt", 0.8},
  });
  std::printf("\n%s", table.c_str());
  if (!ratio_out.empty()) {
    if (FILE* f = std::fopen(ratio_out.c_str(), "w")) {
      std::fputs(table.c_str(), f);
      std::fclose(f);
    } else {
      std::fprintf(stderr, "sealpool_bench: cannot write %s\n", ratio_out.c_str());
      return 1;
    }
  }
  return 0;
}
