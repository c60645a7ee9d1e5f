#include "storage/catalog/catalog.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/backup_engine.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/strings.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "base/status_macros.h"

namespace sealpool::storage {

namespace {

constexpr std::array<std::string_view, kCfCount> kCfNames = {
    "default",  "keys",         "fingerprints", "segments",   "images",
    "recipes",  "delete_queue", "sessions",     "containers", "counters",
    "client_digests",
};
static_assert(static_cast<size_t>(Cf::kClientDigests) + 1 == kCfCount);

constexpr size_t CfIndex(Cf cf) { return static_cast<size_t>(cf); }

// Families looked up by whole key on the hot path: whole-key Bloom filter.
bool HasBloomFilter(Cf cf) {
  return cf == Cf::kFingerprints || cf == Cf::kSegments || cf == Cf::kCounters ||
         cf == Cf::kClientDigests;
}

// ---- Counters ----------------------------------------------------------------------------------

void EncodeI64(int64_t value, std::string* out) {
  uint64_t u = static_cast<uint64_t>(value);
  out->resize(8);
  for (size_t i = 0; i < 8; ++i) (*out)[i] = static_cast<char>(static_cast<uint8_t>(u >> (8 * i)));
}

bool DecodeI64(std::string_view in, int64_t* value) {
  if (in.size() != 8) return false;
  uint64_t u = 0;
  for (size_t i = 8; i-- > 0;) u = (u << 8) | static_cast<uint8_t>(in[i]);
  *value = static_cast<int64_t>(u);
  return true;
}

// Adds int64 LE operands (two's complement, wrapping). A value or operand that is not exactly
// 8 bytes fails the merge, which RocksDB reports to the reader as Corruption.
// What a counter becomes when a merge meets a value that is not 8 bytes: never a number (it is
// not 8 bytes long), and sticky (merging into it gives it again). GetCounter reports it as
// DataLoss naming the key. The merge itself must not fail: RocksDB runs merges in flushes and
// compactions too, where a failed merge is a background error that stops every later write of
// the whole catalog (tested: "a counter value of the wrong size is data loss naming the key").
constexpr std::string_view kCorruptCounter = "sealpool:corrupt-counter";
static_assert(kCorruptCounter.size() != 8);

class AddInt64Operator final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing_value,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    int64_t base = 0;
    int64_t delta = 0;
    if ((existing_value != nullptr &&
         !DecodeI64(std::string_view(existing_value->data(), existing_value->size()), &base)) ||
        !DecodeI64(std::string_view(value.data(), value.size()), &delta)) {
      new_value->assign(kCorruptCounter);
      return true;
    }
    EncodeI64(static_cast<int64_t>(static_cast<uint64_t>(base) + static_cast<uint64_t>(delta)),
              new_value);
    return true;
  }
  const char* Name() const override { return "sealpool.add_int64.v1"; }
};

// ---- Errors ------------------------------------------------------------------------------------

absl::Status FromRocks(const rocksdb::Status& s, std::string_view dir, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  std::string message = base::Cat("catalog ", dir, ": ", what, ": ", s.ToString());
  switch (s.code()) {
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(message);
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(message);
    case rocksdb::Status::kNotSupported:
      return absl::UnimplementedError(message);
    case rocksdb::Status::kInvalidArgument:
      return absl::InvalidArgumentError(message);
    case rocksdb::Status::kIOError:
      if (s.IsNoSpace()) return absl::ResourceExhaustedError(message);
      if (s.IsPathNotFound()) return absl::NotFoundError(message);
      return absl::InternalError(message);
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTimedOut:
    case rocksdb::Status::kTryAgain:
    case rocksdb::Status::kShutdownInProgress:
      return absl::UnavailableError(message);
    case rocksdb::Status::kAborted:
      return absl::AbortedError(message);
    case rocksdb::Status::kIncomplete:
    case rocksdb::Status::kMergeInProgress:
    case rocksdb::Status::kColumnFamilyDropped:
      return absl::InternalError(message);
    default:
      return absl::UnknownError(message);
  }
}

absl::Status FromRocks(const rocksdb::IOStatus& s, std::string_view dir, std::string_view what) {
  if (!s.ok() && s.GetRetryable() && !s.IsNoSpace()) {
    return absl::UnavailableError(base::Cat("catalog ", dir, ": ", what, ": ", s.ToString()));
  }
  return FromRocks(static_cast<const rocksdb::Status&>(s), dir, what);
}

// RocksDB's LOCK conflict: "While lock file: <dir>/LOCK: Resource temporarily unavailable"
// (another process) or "lock hold by current process ... <dir>/LOCK: No locks available".
bool IsLockConflict(const rocksdb::Status& s) {
  return s.IsIOError() && absl::StrContains(s.ToString(), "/LOCK");
}

// Files RocksDB writes into a database directory before CURRENT exists (an interrupted create).
bool IsRocksDbFile(const std::string& name) {
  return name == "LOCK" || name == "IDENTITY" || absl::StartsWith(name, "LOG") ||
         absl::StartsWith(name, "MANIFEST-") || absl::StartsWith(name, "OPTIONS-") ||
         absl::EndsWith(name, ".log") || absl::EndsWith(name, ".dbtmp");
}

// The smallest string greater than every string starting with `prefix`; empty if none (the
// prefix is empty or all 0xff).
std::string PrefixSuccessor(std::string_view prefix) {
  std::string s(prefix);
  while (!s.empty()) {
    if (static_cast<uint8_t>(s.back()) != 0xff) {
      s.back() = static_cast<char>(static_cast<uint8_t>(s.back()) + 1);
      return s;
    }
    s.pop_back();
  }
  return s;
}

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

// The commit sequence's value: u64 LE.
std::string EncodeSeq(uint64_t seq) {
  std::string out(8, '\0');
  for (size_t i = 0; i < 8; ++i) out[i] = static_cast<char>(static_cast<uint8_t>(seq >> (8 * i)));
  return out;
}
std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

}  // namespace

std::string_view CfName(Cf cf) {
  size_t i = CfIndex(cf);
  return i < kCfCount ? kCfNames[i] : std::string_view("unknown");
}

// ---- Batch -------------------------------------------------------------------------------------

void Catalog::Batch::Put(Cf cf, std::string_view key, std::string_view value) {
  ops_.push_back(Op{cf, Kind::kPut, std::string(key), std::string(value)});
  byte_size_ += key.size() + value.size();
}

void Catalog::Batch::Delete(Cf cf, std::string_view key) {
  ops_.push_back(Op{cf, Kind::kDelete, std::string(key), {}});
  byte_size_ += key.size();
}

void Catalog::Batch::Add(std::string_view key, int64_t delta) {
  Op op{Cf::kCounters, Kind::kAdd, std::string(key), {}};
  EncodeI64(delta, &op.value);
  byte_size_ += op.key.size() + op.value.size();
  ops_.push_back(std::move(op));
}

void Catalog::Batch::Append(const Batch& other) {
  ops_.insert(ops_.end(), other.ops_.begin(), other.ops_.end());
  byte_size_ += other.byte_size_;
}

// ---- Catalog -----------------------------------------------------------------------------------

struct Catalog::Impl {
  rocksdb::Env* env = nullptr;
  std::shared_ptr<rocksdb::Cache> block_cache;
  rocksdb::DB* db = nullptr;  // owned; closed and deleted by ~Catalog
  std::array<rocksdb::ColumnFamilyHandle*, kCfCount> handles{};
  // BackupEngine instances on one backup directory must not run at once.
  absl::Mutex backup_mu;
  // The commit log (SetCommitLog): writes serialise on commit_mu while `logging`.
  std::atomic<bool> logging{false};
  mutable absl::Mutex commit_mu;
  Catalog::CommitLogFn commit_log ABSL_GUARDED_BY(commit_mu);
  std::optional<uint64_t> commit_seq ABSL_GUARDED_BY(commit_mu);  // loaded on first use

  rocksdb::ColumnFamilyHandle* handle(Cf cf) const { return handles[CfIndex(cf)]; }
};

Catalog::Catalog(std::string dir, CatalogOptions options)
    : dir_(std::move(dir)), options_(options), impl_(std::make_unique<Impl>()) {}

Catalog::~Catalog() {
  if (impl_->db == nullptr) return;
  for (rocksdb::ColumnFamilyHandle* handle : impl_->handles) {
    if (handle != nullptr) {
      // Destroying a handle of an open DB cannot fail in a way that matters here.
      impl_->db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    }
  }
  // Deliberately ignored: every acknowledged Write was synced to the WAL, so what Close could
  // still fail to do (a final flush) is redone from the WAL at the next open.
  impl_->db->Close().PermitUncheckedError();
  delete impl_->db;
}

absl::StatusOr<std::unique_ptr<Catalog>> Catalog::Open(const std::string& dir,
                                                       const CatalogOptions& options) {
  if (options.fingerprint_filter_bits_per_key < 1 || options.fingerprint_filter_bits_per_key > 64) {
    return absl::InvalidArgumentError(base::Cat(
        "catalog ", dir, ": fingerprint_filter_bits_per_key ",
        options.fingerprint_filter_bits_per_key, " outside 1..64"));
  }
  if (options.block_cache_bytes == 0 || options.write_buffer_bytes == 0) {
    return absl::InvalidArgumentError(
        base::Cat("catalog ", dir, ": block_cache_bytes and write_buffer_bytes must be > 0"));
  }
  std::unique_ptr<Catalog> catalog(new Catalog(dir, options));
  Impl& impl = *catalog->impl_;
  impl.env = options.env != nullptr ? options.env : rocksdb::Env::Default();
  impl.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);

  rocksdb::DBOptions db_options;
  db_options.env = impl.env;
  db_options.create_if_missing = false;
  db_options.create_missing_column_families = false;
  db_options.paranoid_checks = true;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 5;

  // Is there a catalog here, something else, or nothing?
  bool exists = impl.env->FileExists(dir + "/CURRENT").ok();
  if (exists) {
    std::vector<std::string> names;
    SEALPOOL_RETURN_IF_ERROR(FromRocks(rocksdb::DB::ListColumnFamilies(db_options, dir, &names),
                                       dir, "listing column families"));
    std::set<std::string, std::less<>> found(names.begin(), names.end());
    for (const std::string& name : names) {
      if (std::find(kCfNames.begin(), kCfNames.end(), name) == kCfNames.end()) {
        return absl::FailedPreconditionError(base::Cat(
            "catalog ", dir, ": unknown column family \"", absl::CEscape(name),
            "\": not a sealpool catalog, or one written by a newer sealpool"));
      }
    }
    std::vector<std::string> missing;
    for (std::string_view name : kCfNames) {
      if (!found.contains(name)) missing.emplace_back(name);
    }
    if (!missing.empty()) {
      return absl::FailedPreconditionError(
          base::Cat("catalog ", dir, ": column families missing (",
                       absl::StrJoin(missing, ", "), "): not a sealpool catalog, or damaged"));
    }
  } else {
    std::vector<std::string> children;
    rocksdb::Status listed = impl.env->GetChildren(dir, &children);
    bool dir_exists = listed.ok();
    for (const std::string& child : children) {
      if (child == "." || child == "..") continue;
      if (!IsRocksDbFile(child)) {
        return absl::FailedPreconditionError(
            base::Cat("catalog ", dir, ": the directory holds something else than a catalog (",
                         absl::CEscape(child), ")"));
      }
    }
    if (!options.create_if_missing) {
      return absl::NotFoundError(base::Cat(
          "catalog ", dir, ": no catalog ", dir_exists ? "in the directory" : "(no directory)",
          " and create_if_missing is off"));
    }
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
  }

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  auto merge_operator = std::make_shared<AddInt64Operator>();
  for (size_t i = 0; i < kCfCount; ++i) {
    Cf cf = static_cast<Cf>(i);
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = impl.block_cache;
    table.cache_index_and_filter_blocks = true;
    table.pin_l0_filter_and_index_blocks_in_cache = true;
    table.format_version = 5;
    if (HasBloomFilter(cf)) {
      table.filter_policy.reset(
          rocksdb::NewBloomFilterPolicy(options.fingerprint_filter_bits_per_key));
      table.whole_key_filtering = true;
    }
    rocksdb::ColumnFamilyOptions cf_options;
    cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    cf_options.write_buffer_size = options.write_buffer_bytes;
    // The fingerprint index answers misses (new data) from its filter at every level. Segment
    // records and counters are looked up by keys that exist (recipes, refcounts): their
    // bottommost level, ~90% of the keys, needs no filter (RocksDB's optimize_filters_for_hits).
    cf_options.optimize_filters_for_hits = cf != Cf::kFingerprints;
    if (cf == Cf::kCounters) cf_options.merge_operator = merge_operator;
    descriptors.emplace_back(std::string(kCfNames[i]), cf_options);
  }

  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status opened = rocksdb::DB::Open(db_options, dir, descriptors, &handles, &impl.db);
  if (!opened.ok()) {
    if (IsLockConflict(opened)) {
      return absl::FailedPreconditionError(base::Cat(
          "catalog ", dir, ": already open (by this or another process): ", opened.ToString()));
    }
    return FromRocks(opened, dir, "open");
  }
  for (size_t i = 0; i < kCfCount; ++i) impl.handles[i] = handles[i];
  return catalog;
}

absl::StatusOr<std::optional<std::string>> Catalog::Get(Cf cf, std::string_view key) const {
  std::string value;
  rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->handle(cf), ToSlice(key), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) {
    return FromRocks(s, dir_,
                     base::Cat("get ", CfName(cf), " key ", absl::BytesToHexString(base::AbslView(key))));
  }
  return value;
}

absl::StatusOr<std::vector<std::optional<std::string>>> Catalog::MultiGet(
    Cf cf, const std::vector<std::string>& keys) const {
  std::vector<rocksdb::Slice> slices;
  slices.reserve(keys.size());
  for (const std::string& key : keys) slices.emplace_back(key);
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  if (!keys.empty()) {
    impl_->db->MultiGet(rocksdb::ReadOptions(), impl_->handle(cf), keys.size(), slices.data(),
                        values.data(), statuses.data());
  }
  std::vector<std::optional<std::string>> out(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    if (!statuses[i].ok()) {
      return FromRocks(statuses[i], dir_,
                       base::Cat("multiget ", CfName(cf), " key ",
                                    absl::BytesToHexString(keys[i])));
    }
    out[i] = values[i].ToString();
  }
  return out;
}

absl::StatusOr<int64_t> Catalog::GetCounter(std::string_view key) const {
  SEALPOOL_ASSIGN_OR_RETURN(std::optional<std::string> value, Get(Cf::kCounters, key));
  if (!value.has_value()) return int64_t{0};
  int64_t counter = 0;
  if (!DecodeI64(*value, &counter)) {
    const std::string what = *value == kCorruptCounter
                                 ? std::string("an addition met a value of the wrong size")
                                 : base::Cat(value->size(), " bytes, expected 8");
    return absl::DataLossError(base::Cat("catalog ", dir_, ": counter ",
                                         absl::BytesToHexString(base::AbslView(key)),
                                         " corrupt: ", what));
  }
  return counter;
}

absl::Status Catalog::Write(const Batch& batch, bool sync) {
  if (batch.empty()) return absl::OkStatus();
  rocksdb::WriteBatch write_batch;
  for (const Batch::Op& op : batch.ops_) {
    rocksdb::ColumnFamilyHandle* handle = impl_->handle(op.cf);
    rocksdb::Status s;
    switch (op.kind) {
      case Batch::Kind::kPut:
        s = write_batch.Put(handle, op.key, op.value);
        break;
      case Batch::Kind::kDelete:
        s = write_batch.Delete(handle, op.key);
        break;
      case Batch::Kind::kAdd:
        s = write_batch.Merge(handle, op.key, op.value);
        break;
    }
    SEALPOOL_RETURN_IF_ERROR(FromRocks(s, dir_, "building a write batch"));
  }
  rocksdb::WriteOptions write_options;
  write_options.sync = sync;
  if (!impl_->logging.load(std::memory_order_acquire)) {
    return FromRocks(impl_->db->Write(write_options, &write_batch), dir_,
                     base::Cat("write of ", batch.count(), " operations"));
  }
  // The commit log: the batch is accepted by the log before it is applied here.
  absl::MutexLock lock(&impl_->commit_mu);
  SEALPOOL_ASSIGN_OR_RETURN(uint64_t last, LoadCommitSeqLocked());
  const uint64_t seq = last + 1;
  SEALPOOL_RETURN_IF_ERROR(impl_->commit_log(seq, EncodeBatch(batch)));
  SEALPOOL_RETURN_IF_ERROR(FromRocks(
      write_batch.Put(impl_->handle(Cf::kMeta), ToSlice(kCommitSeqKey), EncodeSeq(seq)), dir_,
      "building a write batch"));
  SEALPOOL_RETURN_IF_ERROR(FromRocks(impl_->db->Write(write_options, &write_batch), dir_,
                                     base::Cat("write of ", batch.count(), " operations")));
  impl_->commit_seq = seq;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Catalog::LoadCommitSeqLocked() const {
  if (impl_->commit_seq.has_value()) return *impl_->commit_seq;
  std::string value;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->handle(Cf::kMeta),
                                     ToSlice(kCommitSeqKey), &value);
  uint64_t seq = 0;
  if (!s.IsNotFound()) {
    SEALPOOL_RETURN_IF_ERROR(FromRocks(s, dir_, "get the commit sequence"));
    if (value.size() != 8) {
      return absl::DataLossError(base::Cat("catalog ", dir_, ": ", kCommitSeqKey, " has ",
                                           value.size(), " bytes, expected 8"));
    }
    for (size_t i = 8; i-- > 0;) seq = (seq << 8) | static_cast<uint8_t>(value[i]);
  }
  impl_->commit_seq = seq;
  return seq;
}

absl::Status Catalog::SetCommitLog(CommitLogFn log) {
  if (!log) return absl::InvalidArgumentError("catalog: SetCommitLog without a log");
  absl::MutexLock lock(&impl_->commit_mu);
  SEALPOOL_RETURN_IF_ERROR(LoadCommitSeqLocked().status());
  impl_->commit_log = std::move(log);
  impl_->logging.store(true, std::memory_order_release);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Catalog::CommitSeq() const {
  absl::MutexLock lock(&impl_->commit_mu);
  return LoadCommitSeqLocked();
}

absl::Status Catalog::ApplyCommitRecord(uint64_t seq, std::string_view batch) {
  absl::MutexLock lock(&impl_->commit_mu);
  SEALPOOL_ASSIGN_OR_RETURN(uint64_t last, LoadCommitSeqLocked());
  if (seq <= last) return absl::OkStatus();
  if (seq != last + 1) {
    return absl::FailedPreconditionError(base::Cat("catalog ", dir_, ": commit record ", seq,
                                                   " cannot follow ", last, " (a gap)"));
  }
  SEALPOOL_ASSIGN_OR_RETURN(Batch decoded, DecodeBatch(batch));
  decoded.Put(Cf::kMeta, kCommitSeqKey, EncodeSeq(seq));
  rocksdb::WriteBatch write_batch;
  for (const Batch::Op& op : decoded.ops_) {
    rocksdb::ColumnFamilyHandle* handle = impl_->handle(op.cf);
    rocksdb::Status s;
    switch (op.kind) {
      case Batch::Kind::kPut:
        s = write_batch.Put(handle, op.key, op.value);
        break;
      case Batch::Kind::kDelete:
        s = write_batch.Delete(handle, op.key);
        break;
      case Batch::Kind::kAdd:
        s = write_batch.Merge(handle, op.key, op.value);
        break;
    }
    SEALPOOL_RETURN_IF_ERROR(FromRocks(s, dir_, "building a write batch"));
  }
  SEALPOOL_RETURN_IF_ERROR(FromRocks(impl_->db->Write(rocksdb::WriteOptions(), &write_batch),
                                     dir_, base::Cat("replay of commit record ", seq)));
  impl_->commit_seq = seq;
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> Catalog::CreateCheckpointAtCommit(const std::string& dir) const {
  absl::MutexLock lock(&impl_->commit_mu);
  SEALPOOL_ASSIGN_OR_RETURN(uint64_t seq, LoadCommitSeqLocked());
  SEALPOOL_RETURN_IF_ERROR(CreateCheckpoint(dir));
  return seq;
}

absl::Status Catalog::Scan(Cf cf, std::string_view prefix, Visitor visit,
                           std::string_view start_after) const {
  rocksdb::ManagedSnapshot snapshot(impl_->db);
  std::string upper = PrefixSuccessor(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read_options;
  read_options.snapshot = snapshot.snapshot();
  if (!upper.empty()) read_options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(read_options, impl_->handle(cf)));
  if (!start_after.empty() && start_after >= prefix) {
    it->Seek(ToSlice(start_after));
    if (it->Valid() && ToView(it->key()) == start_after) it->Next();
  } else {
    it->Seek(ToSlice(prefix));
  }
  for (; it->Valid(); it->Next()) {
    std::string_view key = ToView(it->key());
    if (!key.starts_with(prefix)) break;
    SEALPOOL_ASSIGN_OR_RETURN(bool go_on, visit(key, ToView(it->value())));
    if (!go_on) return absl::OkStatus();
  }
  return FromRocks(it->status(), dir_, base::Cat("scan of ", CfName(cf)));
}

absl::StatusOr<std::optional<std::pair<std::string, std::string>>> Catalog::SeekForPrev(
    Cf cf, std::string_view prefix, std::string_view key) const {
  if (key < prefix) return std::nullopt;  // every key with the prefix is >= prefix > key
  std::string upper = PrefixSuccessor(prefix);
  rocksdb::Slice upper_slice(upper);
  rocksdb::Slice lower_slice = ToSlice(prefix);
  rocksdb::ReadOptions read_options;
  read_options.iterate_lower_bound = &lower_slice;
  if (!upper.empty()) read_options.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(read_options, impl_->handle(cf)));
  if (!upper.empty() && key >= std::string_view(upper)) {
    it->SeekToLast();  // past the prefix: the last key of the prefix
  } else {
    it->SeekForPrev(ToSlice(key));
  }
  if (it->Valid() && ToView(it->key()).starts_with(prefix)) {
    return std::make_pair(it->key().ToString(), it->value().ToString());
  }
  SEALPOOL_RETURN_IF_ERROR(FromRocks(it->status(), dir_, base::Cat("seek in ", CfName(cf))));
  return std::nullopt;
}

absl::Status Catalog::CreateCheckpoint(const std::string& dir) const {
  if (impl_->env->FileExists(dir).ok()) {
    return absl::AlreadyExistsError(
        base::Cat("catalog ", dir_, ": checkpoint directory ", dir, " already exists"));
  }
  rocksdb::Checkpoint* raw = nullptr;
  SEALPOOL_RETURN_IF_ERROR(
      FromRocks(rocksdb::Checkpoint::Create(impl_->db, &raw), dir_, "checkpoint"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  return FromRocks(checkpoint->CreateCheckpoint(dir), dir_,
                   base::Cat("checkpoint into ", dir));
}

absl::StatusOr<uint32_t> Catalog::Backup(const std::string& backup_dir, uint32_t keep) const {
  absl::MutexLock lock(&impl_->backup_mu);
  rocksdb::BackupEngineOptions backup_options(backup_dir);
  backup_options.share_table_files = true;
  backup_options.sync = true;
  rocksdb::BackupEngine* raw = nullptr;
  SEALPOOL_RETURN_IF_ERROR(FromRocks(rocksdb::BackupEngine::Open(backup_options, impl_->env, &raw),
                                     dir_, base::Cat("opening backup directory ", backup_dir)));
  std::unique_ptr<rocksdb::BackupEngine> engine(raw);
  rocksdb::CreateBackupOptions create_options;
  create_options.flush_before_backup = true;
  rocksdb::BackupID id = 0;
  SEALPOOL_RETURN_IF_ERROR(FromRocks(engine->CreateNewBackup(create_options, impl_->db, &id),
                                     dir_, base::Cat("backup into ", backup_dir)));
  if (keep > 0) {
    SEALPOOL_RETURN_IF_ERROR(FromRocks(engine->PurgeOldBackups(keep), dir_,
                                       base::Cat("removing old backups from ", backup_dir)));
  }
  return id;
}

absl::Status Catalog::RestoreLatest(const std::string& backup_dir, const std::string& db_dir) {
  rocksdb::Env* env = rocksdb::Env::Default();
  // Refuse to restore under an open catalog: take its LOCK the way DB::Open does.
  if (env->FileExists(db_dir).ok()) {
    rocksdb::FileLock* lock = nullptr;
    rocksdb::Status locked = env->LockFile(db_dir + "/LOCK", &lock);
    if (!locked.ok()) {
      if (IsLockConflict(locked)) {
        return absl::FailedPreconditionError(base::Cat(
            "catalog ", db_dir, ": cannot restore into an open catalog: ", locked.ToString()));
      }
      return FromRocks(locked, db_dir, "locking for restore");
    }
    SEALPOOL_RETURN_IF_ERROR(FromRocks(env->UnlockFile(lock), db_dir, "unlocking for restore"));
  }
  rocksdb::BackupEngineOptions backup_options(backup_dir);
  backup_options.sync = true;
  rocksdb::BackupEngineReadOnly* raw = nullptr;
  SEALPOOL_RETURN_IF_ERROR(
      FromRocks(rocksdb::BackupEngineReadOnly::Open(backup_options, env, &raw), db_dir,
                base::Cat("opening backup directory ", backup_dir)));
  std::unique_ptr<rocksdb::BackupEngineReadOnly> engine(raw);
  std::vector<rocksdb::BackupInfo> infos;
  engine->GetBackupInfo(&infos);
  if (infos.empty()) {
    return absl::NotFoundError(
        base::Cat("catalog ", db_dir, ": no backup in ", backup_dir));
  }
  return FromRocks(engine->RestoreDBFromLatestBackup(rocksdb::RestoreOptions(), db_dir, db_dir),
                   db_dir, base::Cat("restore from ", backup_dir));
}

absl::Status Catalog::Flush() {
  std::vector<rocksdb::ColumnFamilyHandle*> handles(impl_->handles.begin(), impl_->handles.end());
  return FromRocks(impl_->db->Flush(rocksdb::FlushOptions(), handles), dir_, "flush");
}

absl::Status Catalog::CompactFamily(Cf cf) {
  rocksdb::CompactRangeOptions compact_options;
  compact_options.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  return FromRocks(impl_->db->CompactRange(compact_options, impl_->handle(cf), nullptr, nullptr),
                   dir_, base::Cat("compaction of ", CfName(cf)));
}

CatalogMemory Catalog::Memory() const {
  CatalogMemory memory;
  memory.block_cache_usage = impl_->block_cache->GetUsage();
  memory.block_cache_pinned = impl_->block_cache->GetPinnedUsage();
  for (rocksdb::ColumnFamilyHandle* handle : impl_->handles) {
    uint64_t value = 0;
    if (impl_->db->GetIntProperty(handle, "rocksdb.cur-size-all-mem-tables", &value)) {
      memory.memtables += value;
    }
    if (impl_->db->GetIntProperty(handle, "rocksdb.estimate-table-readers-mem", &value)) {
      memory.table_readers += value;
    }
  }
  return memory;
}

uint64_t Catalog::EstimateKeys(Cf cf) const {
  uint64_t value = 0;
  if (!impl_->db->GetIntProperty(impl_->handle(cf), "rocksdb.estimate-num-keys", &value)) {
    return 0;
  }
  return value;
}

}  // namespace sealpool::storage
