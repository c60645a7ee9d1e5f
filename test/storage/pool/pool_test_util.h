// Test helpers for the pool's tests (test/storage/pool_*_test.cc): a pool in a temporary
// directory with small containers and small chunks, deterministic image contents that share
// blocks between images, a model of which images must / may be visible, a full consistency
// check of a closed pool (public API and catalog invariants), and a power-cut stack for both
// halves of the store (containers through storage::FileSystem, the catalog through RocksDB's
// FileSystem).
#ifndef SEALPOOL_TEST_STORAGE_POOL_POOL_TEST_UTIL_H_
#define SEALPOOL_TEST_STORAGE_POOL_POOL_TEST_UTIL_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/store/fault_injection_file_system.h"
#include "storage/store/file_system.h"
#include "storage/keydict/in_process_root_key_provider.h"
#include "storage/pool/pool.h"
#include "test/test_util.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace sealpool::storage::testing {

using TempDir = ::sealpool::test::TempDir;

inline constexpr char kTestKeyGroup[] = "kg1";
inline constexpr char kTestLsu[] = "lsu1";

// Small containers (1 MiB) and small chunks (2 / 8 / 32 KiB) so that a few MiB of images span
// many containers and segments. `fs` nullptr: POSIX.
PoolOptions SmallPoolOptions(FileSystem* fs = nullptr);
ChunkerParams SmallChunkerParams();

// ---- image contents ----
// What an image holds: deterministic from (seed, size). Built of 16 KiB blocks: about half
// are taken from a set of 32 shared blocks (so images dedup against each other), ~15 % are
// compressible text, the rest unique to (seed, block).
struct ImageSpec {
  uint64_t seed = 0;
  uint64_t size = 0;
  friend bool operator==(const ImageSpec&, const ImageSpec&) = default;
};
std::vector<uint8_t> ImageContent(const ImageSpec& spec);
// FNV-1a 64 of bytes, for messages.
uint64_t ContentHash(std::span<const uint8_t> bytes);
// Writes `content` as image `name` of `lsu`, feeding Write() in pieces of varying size
// (deterministic from `piece_seed`).
absl::StatusOr<ImageInfo> WriteImageBytes(Pool& pool, std::string_view lsu, std::string_view name,
                                          std::span<const uint8_t> content,
                                          uint64_t piece_seed = 1);
// Reads the whole image into a vector.
absl::StatusOr<std::vector<uint8_t>> ReadAllBytes(const Pool& pool, std::string_view lsu,
                                                  std::string_view name);
// "" when `got` == `want`; else where they first differ.
std::string DescribeMismatch(std::span<const uint8_t> got, std::span<const uint8_t> want);

// ---- a pool in a temporary directory ----
class PoolFixture {
 public:
  // Creates the pool (in tmp/pool), key group kg1 with an active root key, LSU lsu1. REQUIREs.
  // With kek_mode kPublic the group has KEK pairs and DEK batches (issue 17).
  explicit PoolFixture(PoolOptions options = SmallPoolOptions(),
                       KekMode kek_mode = KekMode::kSymmetric);
  ~PoolFixture();
  PoolFixture(const PoolFixture&) = delete;
  PoolFixture& operator=(const PoolFixture&) = delete;

  Pool& pool() { return *pool_; }
  bool is_open() const { return pool_ != nullptr; }
  const std::string& dir() const { return dir_; }
  std::string catalog_dir() const { return dir_ + "/catalog"; }
  InProcessRootKeyProvider& kms() { return kms_; }
  PoolOptions& options() { return options_; }

  absl::StatusOr<ImageInfo> WriteImage(std::string_view name, std::span<const uint8_t> content,
                                       std::string_view lsu = kTestLsu);
  absl::StatusOr<std::vector<uint8_t>> ReadAll(std::string_view name,
                                               std::string_view lsu = kTestLsu) const;
  // Closes the pool (destroys it: what a clean stop does).
  void Close();
  // Close, then Pool::Open with options() (REQUIREs success).
  void Reopen();
  absl::Status TryOpen();

  // Every *.spc file under the pool directory (container files), sorted.
  std::vector<std::string> ContainerFiles() const;

 private:
  TempDir tmp_;
  std::string dir_;
  InProcessRootKeyProvider kms_;
  PoolOptions options_;
  std::unique_ptr<Pool> pool_;
};

// ---- what must and may be visible ----
struct ImageModel {
  // Acknowledged (Commit returned OK) and not deleted: must be visible and read back exactly.
  std::map<std::string, ImageSpec> live;
  // Being written (Commit called, not acknowledged) or being deleted: may be visible; if it
  // is, it must read back exactly.
  std::map<std::string, ImageSpec> maybe;
  // Deleted (DeleteImage returned OK): must not be visible.
  std::set<std::string> deleted;
};

struct CheckResult {
  std::vector<std::string> problems;
  std::map<std::string, ImageSpec> visible;  // what ListImages showed (live + resolved maybe)
  PoolStats stats;                           // after the delete queue ran dry
  // ScrubReport::dead_regions: damage no live segment points into (the torn tail of an append
  // a crash interrupted). Not problems: no data is lost.
  std::vector<std::string> dead_copies;
};

// Opens the (closed) pool in `dir`, then: visible images == live + a subset of maybe; each
// visible image reads back bit-exact; Verify() and Scrub() are ok; ProcessDeleteQueue() runs dry;
// Stats() agree with the catalog. Closes the pool and checks the catalog directly
// (CheckCatalogInvariants). Never uses Catch2 (also called in forked children).
// With `keep_open`, the pool is handed out open instead (and the catalog invariants, which need
// it closed, are skipped).
CheckResult CheckPool(const std::string& dir, RootKeyProvider* kms, const PoolOptions& options,
                      const ImageModel& model, std::string_view lsu = kTestLsu,
                      std::unique_ptr<Pool>* keep_open = nullptr);

// Opens the catalog of the closed pool in `dir` directly and checks, with nothing running and
// the delete queue empty: every recipe of a committed image is contiguous, sums to the image
// size and references existing segments; every segment is referenced (else it should have been
// reclaimed) and its refcount counter equals its references; no recipe rows of images that do
// not exist, no session rows, no queued jobs; every fingerprint index entry points at a
// segment with that fingerprint; container usage counters equal the live records in them;
// `stats` (if given) agrees. Returns the problems.
std::vector<std::string> CheckCatalogInvariants(const std::string& dir,
                                                const PoolStats* stats = nullptr);

// ---- power cut ----
// A shared switch: after `ops` more mutating file operations (on either stack) every further
// mutating operation fails with an injected error, as if the machine lost power there.
class PowerCut {
 public:
  // Disarmed: nothing fails.
  void Disarm() { left_.store(INT64_MAX); }
  void ArmAfter(int64_t ops) { left_.store(ops); }
  // Counts one mutating op; false when it must fail.
  bool Allow() { return left_.fetch_sub(1) > 0; }
  bool cut() const { return left_.load() <= 0; }
  int64_t left() const { return left_.load(); }

 private:
  std::atomic<int64_t> left_{INT64_MAX};
};

// storage::FileSystem decorator that consults a PowerCut on every mutating call (create,
// append, sync, truncate, rename, remove, mkdir, dir sync).
class PowerCutFileSystem final : public FileSystem {
 public:
  PowerCutFileSystem(FileSystem* base, PowerCut* cut) : base_(base), cut_(cut) {}
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path,
                                                                OpenMode mode) override;
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override;
  absl::Status RenameFile(const std::string& from, const std::string& to) override;
  absl::Status RemoveFile(const std::string& path) override;
  absl::StatusOr<bool> FileExists(const std::string& path) override;
  absl::StatusOr<uint64_t> GetFileSize(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) override;
  absl::Status CreateDir(const std::string& dir) override;
  absl::Status SyncDir(const std::string& dir) override;
  absl::StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path) override;

  absl::Status Check(const char* op, const std::string& path);

 private:
  FileSystem* const base_;
  PowerCut* const cut_;
};

// A RocksDB Env for the catalog (CatalogOptions::env) that remembers, per file written through
// it, how many bytes were synced, fails every mutating call once `cut` is cut, and
// DropUnsyncedData() cuts every tracked file back to its synced size and removes every tracked
// file never synced (model: a file's creation is durable with its first sync; RocksDB fsyncs
// its directories anyway). Renames move the record; removes forget it.
class CatalogPowerCutEnv {
 public:
  explicit CatalogPowerCutEnv(PowerCut* cut);
  ~CatalogPowerCutEnv();
  rocksdb::Env* env();
  // Call with the catalog closed.
  absl::Status DropUnsyncedData();
  uint64_t tracked_files() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Short text of a status for messages (code + message, one line).
std::string StatusLine(const absl::Status& status);

}  // namespace sealpool::storage::testing

#endif  // SEALPOOL_TEST_STORAGE_POOL_POOL_TEST_UTIL_H_
