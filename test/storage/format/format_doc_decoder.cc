#include "test/storage/format/format_doc_decoder.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>
#include <tuple>
#include <utility>

#include "openssl/evp.h"
#include "openssl/hmac.h"
#include "openssl/kdf.h"
#include "openssl/core_names.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/merge_operator.h"
#include "rocksdb/options.h"
#include "xxhash.h"
#include "zstd.h"

namespace sealpool::formatdoc {
namespace {

// ==== Constants, copied from docs/format.md (section named on each group) ====================

// "Pool directory"
constexpr char kCatalogDir[] = "catalog";
constexpr char kContainersDir[] = "containers";
constexpr char kContainerSuffix[] = ".spc";  // after 16 lower-case hex digits

// "Container files" / "File header (72 bytes)"
constexpr unsigned char kContainerMagic[8] = {0x53, 0x50, 0x43, 0x4e, 0x54, 0x52, 0x0d, 0x0a};
constexpr uint16_t kContainerFormatVersion = 1;
constexpr uint16_t kContainerHeaderSize = 72;
constexpr size_t kHeaderChecksumOffset = 16;  // in every version
// "Checksums": XXH3-64 with seed 0, file header and record header alike.
constexpr uint64_t kChecksumSeed = 0;

// "Record (100-byte header + payload)"
constexpr uint32_t kRecordMagic = 0x31525053;  // "SPR1" little-endian
constexpr size_t kRecordHeaderSize = 100;
constexpr uint8_t kRecordTypeSealedSegment = 1;
constexpr uint8_t kCompressionRaw = 0;
constexpr uint8_t kCompressionZstd = 1;
// "Limits"
constexpr uint32_t kMaxPlaintextLength = 16u << 20;
constexpr uint32_t kMaxStoredLength = 16u << 20;

// "Catalog (version 3)" / "Families and keys"
constexpr const char* kFamilies[] = {"default",  "keys",         "fingerprints",
                                     "segments", "images",       "recipes",
                                     "delete_queue", "sessions", "containers", "counters",
                                     "client_digests"};
constexpr uint16_t kCatalogFormatVersion = 4;
// "Client digests": key 8 + 32 bytes, value 13 bytes.
constexpr size_t kClientDigestKeySize = 40;
constexpr uint8_t kRecordVersion = 1;
constexpr size_t kMaxName = 255;
constexpr size_t kMaxOwner = 1024;
constexpr size_t kMaxLabels = 64;
constexpr size_t kMaxLabel = 1024;
constexpr size_t kMaxChunkerParams = 256;
constexpr size_t kIdSize = 16;       // pool id, key group id
constexpr size_t kFingerprintSize = 32;
constexpr size_t kWrappedDekSize = 40;
constexpr size_t kDigestSize = 32;
// Meta keys.
constexpr char kPoolKey[] = "pool";
constexpr char kKeyGroupPrefix[] = "kg/";
constexpr char kLsuPrefix[] = "lsu/";
constexpr char kAllocPrefix[] = "alloc/";
constexpr char kBackupKey[] = "backup/last";
// "Counters"
constexpr char kMergeOperatorName[] = "sealpool.add_int64.v1";
constexpr char kCorruptCounter[] = "sealpool:corrupt-counter";

// "Key dictionary records (version 1)"
constexpr uint8_t kKeyRecordVersion = 1;
constexpr uint8_t kKindKek = 1;
constexpr uint8_t kKindFingerprintKey = 2;
constexpr size_t kMaxRootKeyId = 128;
constexpr size_t kMaxBlob = 1024;

// "Wrapped-key blobs"
constexpr unsigned char kBlobMagic[4] = {'S', 'P', 'W', 'K'};
constexpr uint8_t kBlobVersion = 1;
constexpr size_t kBlobNonce = 12;
constexpr size_t kBlobTag = 16;

// "Segment sealing: associated data (version 1)"
constexpr uint16_t kSegmentAadVersion = 1;
constexpr size_t kSegmentAadSize = 67;
constexpr size_t kDekSize = 32;
// "Image digests (version 2)" and docs/crypto.md "Image digests"
constexpr char kDigestSalt[] = "sealpool image digest v1";
constexpr uint64_t kImageDigestVersion = 2;  // the identity input's first field
// "Key dictionary records": the KMS key ids.
constexpr char kFingerprintKeyId[] = "fpk";
constexpr char kKekIdPrefix[] = "kek-";

// docs/chunking.md "The params record"
constexpr uint32_t kChunkerParamsVersion = 1;
constexpr size_t kChunkerParamsSize = 24;

// ==== Helpers ==================================================================================

std::string Hex(std::string_view b) {
  static const char* d = "0123456789abcdef";
  std::string out;
  out.reserve(b.size() * 2);
  for (char ch : b) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

// A name for the dump: printable ASCII as is (quoted), anything else as \xNN.
std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out + "\"";
}

uint64_t LoadLE(const unsigned char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
uint64_t LoadBE(std::string_view s, size_t at, int n) {
  uint64_t v = 0;
  for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
    v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  }
  return v;
}

void PutLE(std::string* out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

const unsigned char* U(const std::string& s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// RFC 5649 (AES key wrap with padding) unwrap; nullopt if it does not authenticate.
std::optional<std::string> UnwrapKwp(const std::string& kek, const std::string& wrapped) {
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                      EVP_CIPHER_CTX_free);
  if (!ctx || kek.size() != 32) return std::nullopt;
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  std::string out(wrapped.size() + 16, '\0');
  int n = 0, m = 0;
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_wrap_pad(), nullptr, U(kek), nullptr) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &n, U(wrapped),
                        static_cast<int>(wrapped.size())) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + n, &m) != 1) {
    return std::nullopt;
  }
  out.resize(static_cast<size_t>(n + m));
  return out;
}

std::optional<std::string> OpenGcm(const std::string& key, const std::string& nonce,
                                   const std::string& aad, const std::string& ct,
                                   const std::string& tag) {
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(),
                                                                      EVP_CIPHER_CTX_free);
  if (!ctx || key.size() != 32 || nonce.size() != 12 || tag.size() != 16) return std::nullopt;
  std::string out(ct.size() + 16, '\0');
  int n = 0, m = 0;
  std::string tag_copy = tag;
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, 12, nullptr) != 1 ||
      EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, U(key), U(nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &n, U(aad), static_cast<int>(aad.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(out.data()), &n, U(ct),
                        static_cast<int>(ct.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, tag_copy.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(out.data()) + n, &m) != 1) {
    return std::nullopt;
  }
  out.resize(static_cast<size_t>(n + m));
  return out;
}

std::string HmacSha256(const std::string& key, const std::string& data) {
  unsigned char out[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), U(data), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::optional<std::string> HkdfSha256(const std::string& ikm, const std::string& salt,
                                      const std::string& info) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) return std::nullopt;
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (ctx == nullptr) return std::nullopt;
  std::string digest = "SHA256";
  std::string k = ikm, sa = salt, in = info;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest.data(), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, k.data(), k.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, sa.data(), sa.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, in.data(), in.size()),
      OSSL_PARAM_construct_end()};
  std::string out(32, '\0');
  const int ok = EVP_KDF_derive(ctx, reinterpret_cast<unsigned char*>(out.data()), out.size(),
                                params);
  EVP_KDF_CTX_free(ctx);
  if (ok != 1) return std::nullopt;
  return out;
}

// Reads a value front to back; any read past the end sets `bad` and returns zeros.
class Cur {
 public:
  explicit Cur(std::string_view s) : s_(s) {}
  uint64_t Int(int n) {
    if (bad_ || s_.size() - p_ < static_cast<size_t>(n)) {
      bad_ = true;
      return 0;
    }
    uint64_t v = LoadLE(reinterpret_cast<const unsigned char*>(s_.data() + p_), n);
    p_ += static_cast<size_t>(n);
    return v;
  }
  uint8_t U8() { return static_cast<uint8_t>(Int(1)); }
  uint16_t U16() { return static_cast<uint16_t>(Int(2)); }
  uint32_t U32() { return static_cast<uint32_t>(Int(4)); }
  uint64_t U64() { return Int(8); }
  std::string Bytes(size_t n) {
    if (bad_ || s_.size() - p_ < n) {
      bad_ = true;
      return {};
    }
    std::string out(s_.substr(p_, n));
    p_ += n;
    return out;
  }
  // "strings as u16 LE length + bytes"
  std::string Str16(size_t max, std::string_view what) {
    uint16_t n = U16();
    if (bad_) return {};
    if (n > max) {
      why_ = std::string(what) + " length " + std::to_string(n) + " over " + std::to_string(max);
      bad_ = true;
      return {};
    }
    return Bytes(n);
  }
  bool bad() const { return bad_; }
  // "" if every byte was read and nothing failed; else why not.
  std::string Finish() const {
    if (!why_.empty()) return why_;
    if (bad_) return "truncated (" + std::to_string(s_.size()) + " bytes)";
    if (p_ != s_.size()) return std::to_string(s_.size() - p_) + " trailing bytes";
    return "";
  }

 private:
  std::string_view s_;
  size_t p_ = 0;
  bool bad_ = false;
  std::string why_;
};

// The documented merge operator: i64 LE two's-complement add; anything not 8 bytes → marker.
class AddInt64 final : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice&, const rocksdb::Slice* existing, const rocksdb::Slice& value,
             std::string* out, rocksdb::Logger*) const override {
    if ((existing != nullptr && existing->size() != 8) || value.size() != 8) {
      out->assign(kCorruptCounter);
      return true;
    }
    uint64_t a = existing == nullptr
                     ? 0
                     : LoadLE(reinterpret_cast<const unsigned char*>(existing->data()), 8);
    uint64_t b = LoadLE(reinterpret_cast<const unsigned char*>(value.data()), 8);
    uint64_t sum = a + b;
    out->resize(8);
    for (int i = 0; i < 8; ++i) (*out)[static_cast<size_t>(i)] = static_cast<char>(sum >> (8 * i));
    return true;
  }
  const char* Name() const override { return kMergeOperatorName; }
};

// Keeps RocksDB from writing an info LOG into the pool directory.
class QuietLogger final : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char*, va_list) override {}
};

using KV = std::vector<std::pair<std::string, std::string>>;

struct RecordInfo {  // a record header found in a container file
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t segment_id = 0;
  uint8_t compression = 0;
  uint32_t plaintext_length = 0;
  uint32_t stored_length = 0;
  std::string fingerprint;
  bool payload_ok = false;
};

struct SegmentInfo {
  uint64_t container_id = 0, offset = 0;
  uint32_t record_length = 0, plaintext_length = 0, stored_length = 0, kek_id = 0;
  uint8_t compression = 0;
  std::string fingerprint;
  std::string wrapped_dek;
};

struct GroupInfo {
  std::string name;
  std::string group_id;
};

class Decoder {
 public:
  Decoder(std::string dir, DumpOptions options) : dir_(std::move(dir)), opt_(options) {}

  DecodeResult Run() {
    Line("pool", "directory layout: docs/format.md");
    ReadCatalog();
    if (catalog_ok_) {
      DecodeMeta();
      DecodeKeys();
      DecodeContainersFamily();
      DecodeSegments();
      DecodeFingerprints();
      DecodeImages();
      DecodeRecipes();
      DecodeDeleteQueue();
      DecodeSessions();
      DecodeClientDigests();
      DecodeCounters();
    }
    ReadContainerFiles();
    if (catalog_ok_) CrossCheck();
    if (catalog_ok_ && opt_.unwrap) KeyedChecks();
    return Finish();
  }

 private:
  // ---- output ----
  void Line(const std::string& section, std::string text) {
    sections_[SectionIndex(section)].second.push_back(std::move(text));
  }
  size_t SectionIndex(const std::string& section) {
    for (size_t i = 0; i < sections_.size(); ++i) {
      if (sections_[i].first == section) return i;
    }
    sections_.push_back({section, {}});
    return sections_.size() - 1;
  }
  void Problem(std::string text) { result_.problems.push_back(std::move(text)); }
  // A value that differs between runs of one deterministic generator.
  std::string R(const std::string& text) const { return opt_.masked ? "*" : text; }
  std::string RHex(std::string_view bytes) const { return R(Hex(bytes)); }

  DecodeResult Finish() {
    std::ostringstream out;
    out << "# sealpool pool dump, decoded from docs/format.md"
        << (opt_.masked ? " (masked)" : "") << "\n";
    for (auto& [name, lines] : sections_) {
      if (opt_.masked) std::sort(lines.begin(), lines.end());
      out << "[" << name << "] " << lines.size() << "\n";
      for (const std::string& l : lines) out << "  " << l << "\n";
    }
    std::vector<std::string> problems = result_.problems;
    std::sort(problems.begin(), problems.end());
    out << "[problems] " << problems.size() << "\n";
    for (const std::string& p : problems) out << "  " << p << "\n";
    result_.dump = out.str();
    return std::move(result_);
  }

  // ---- catalog ----
  void ReadCatalog() {
    const std::string cdir = dir_ + "/" + kCatalogDir;
    rocksdb::DBOptions dbo;
    dbo.info_log = std::make_shared<QuietLogger>();
    std::vector<std::string> names;
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(dbo, cdir, &names);
    if (!s.ok()) {
      Problem("catalog: cannot list column families: " + s.ToString());
      return;
    }
    std::set<std::string> want(std::begin(kFamilies), std::end(kFamilies));
    std::set<std::string> have(names.begin(), names.end());
    if (want != have) {
      std::string got;
      for (const auto& n : names) got += " " + n;
      Problem("catalog: families are" + got + "; docs/format.md lists ten");
    }
    std::vector<rocksdb::ColumnFamilyDescriptor> descs;
    for (const std::string& n : names) {
      rocksdb::ColumnFamilyOptions cfo;
      if (n == "counters") cfo.merge_operator = std::make_shared<AddInt64>();
      descs.emplace_back(n, cfo);
    }
    rocksdb::DB* raw = nullptr;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    s = rocksdb::DB::OpenForReadOnly(rocksdb::Options(dbo, rocksdb::ColumnFamilyOptions()), cdir,
                                     descs, &handles, &raw);
    if (!s.ok()) {
      Problem("catalog: cannot open read-only: " + s.ToString());
      return;
    }
    std::unique_ptr<rocksdb::DB> db(raw);
    bool ok = true;
    for (size_t i = 0; i < handles.size(); ++i) {
      KV& kv = families_[names[i]];
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[i]));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        kv.emplace_back(it->key().ToString(), it->value().ToString());
      }
      if (!it->status().ok()) {
        Problem("catalog: reading family " + names[i] + ": " + it->status().ToString());
        ok = false;
      }
    }
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    catalog_ok_ = ok;
    std::string fams;
    for (const char* f : kFamilies) {
      fams += std::string(" ") + f + "=" +
              std::to_string(families_.count(f) != 0 ? families_[f].size() : 0);
    }
    Line("catalog", "families (entries):" + fams);
  }

  const KV& Family(const char* name) { return families_[name]; }

  void DecodeMeta() {
    const std::string sec = "default";
    bool have_pool = false;
    for (const auto& [k, v] : Family("default")) {
      if (k == kPoolKey) {
        Cur c(v);
        uint8_t ver = c.U8();
        uint16_t fmt = c.U16();
        pool_id_ = c.Bytes(kIdSize);
        uint64_t created = c.U64();
        std::string why = c.Finish();
        if (!why.empty() || ver != kRecordVersion) {
          Problem("pool meta: " + (why.empty() ? "version " + std::to_string(ver) : why));
          continue;
        }
        if (fmt != kCatalogFormatVersion) {
          Problem("pool meta: catalog format " + std::to_string(fmt) + ", docs/format.md says " +
                  std::to_string(kCatalogFormatVersion));
        }
        have_pool = true;
        Line(sec, "pool: version=1 catalog_format=" + std::to_string(fmt) +
                      " pool_id=" + RHex(pool_id_) + " created_us=" + R(std::to_string(created)));
      } else if (k.rfind(kKeyGroupPrefix, 0) == 0) {
        if (k.size() != 3 + 4) {
          Problem("meta key " + Hex(k) + ": kg/ key is not kg/ + u32");
          continue;
        }
        uint32_t no = static_cast<uint32_t>(LoadBE(k, 3, 4));
        Cur c(v);
        uint8_t ver = c.U8();
        uint32_t group_no = c.U32();
        std::string name = c.Str16(kMaxName, "name");
        std::string gid = c.Bytes(kIdSize);
        std::string params = c.Str16(kMaxChunkerParams, "chunker params");
        std::string backend = c.Str16(kMaxName, "kms backend");
        uint64_t created = c.U64();
        std::string why = c.Finish();
        if (!why.empty() || ver != kRecordVersion || group_no != no) {
          Problem("key group " + std::to_string(no) + ": " +
                  (why.empty() ? "version or group number mismatch" : why));
          continue;
        }
        groups_[no] = GroupInfo{name, gid};
        Line(sec, "kg/" + std::to_string(no) + ": version=1 group_no=" + std::to_string(no) +
                      " name=" + Quote(name) + " group_id=" + RHex(gid) +
                      " chunker={" + DecodeChunkerParams(params, no) + "} kms_backend=" +
                      Quote(backend) + " created_us=" + R(std::to_string(created)));
      } else if (k.rfind(kLsuPrefix, 0) == 0) {
        std::string key_name = k.substr(4);
        Cur c(v);
        uint8_t ver = c.U8();
        std::string name = c.Str16(kMaxName, "name");
        uint32_t group_no = c.U32();
        uint8_t allow = c.U8();
        uint64_t created = c.U64();
        uint64_t max_ret = c.U64();
        std::string why = c.Finish();
        if (!why.empty() || ver != kRecordVersion || name != key_name || allow > 1 ||
            max_ret == 0 || max_ret > static_cast<uint64_t>(INT64_MAX)) {
          Problem("LSU " + Quote(key_name) + ": " + (why.empty() ? "bad field" : why));
          continue;
        }
        lsu_group_[name] = group_no;
        Line(sec, "lsu/" + name + ": version=1 name=" + Quote(name) +
                      " group_no=" + std::to_string(group_no) +
                      " allow_client_delete=" + std::to_string(allow) + " created_us=" +
                      R(std::to_string(created)) + " max_retention_us=" + std::to_string(max_ret));
      } else if (k.rfind(kAllocPrefix, 0) == 0) {
        if (v.size() != 8) {
          Problem("allocator " + k + ": value is " + std::to_string(v.size()) + " bytes");
          continue;
        }
        uint64_t mark = LoadLE(reinterpret_cast<const unsigned char*>(v.data()), 8);
        alloc_[k.substr(6)] = mark;
        Line(sec, k + ": " + std::to_string(mark));
      } else if (k == kBackupKey) {
        if (v.size() != 8) {
          Problem("backup/last: value is " + std::to_string(v.size()) + " bytes");
          continue;
        }
        Line(sec, k + ": unix_us=" +
                      R(std::to_string(LoadLE(reinterpret_cast<const unsigned char*>(v.data()), 8))));
      } else {
        Problem("default family: undocumented key " + Hex(k));
      }
    }
    if (!have_pool) Problem("default family: no pool record");
    for (const auto& [what, mark] : alloc_) {
      if (what != "segment" && what != "container" && what != "image" && what != "delete" &&
          what != "group") {
        Problem("allocator alloc/" + what + " is not documented");
      }
    }
    for (const auto& [lsu, g] : lsu_group_) {
      if (!groups_.contains(g)) Problem("LSU " + Quote(lsu) + ": no key group " + std::to_string(g));
    }
  }

  std::string DecodeChunkerParams(const std::string& p, uint32_t group) {
    Cur c(p);
    uint32_t ver = c.U32();
    uint32_t min = c.U32(), avg = c.U32(), max = c.U32();
    uint64_t seed = c.U64();
    std::string why = c.Finish();
    if (!why.empty() || ver != kChunkerParamsVersion || p.size() != kChunkerParamsSize ||
        !(min <= avg && avg <= max)) {
      Problem("key group " + std::to_string(group) + ": chunker params " + Hex(p) + " " + why);
      return "bad";
    }
    return "version=1 min=" + std::to_string(min) + " avg=" + std::to_string(avg) +
           " max=" + std::to_string(max) + " seed=" + std::to_string(seed);
  }

  // "Wrapped-key blobs": "SPWK" | version | backend | idlen | id | nonce | tag | ctlen | ct.
  std::string DecodeBlob(const std::string& blob, const std::string& root_key_id,
                         const std::string& where) {
    Cur c(blob);
    std::string magic = c.Bytes(4);
    uint8_t ver = c.U8();
    uint8_t backend = c.U8();
    uint8_t idlen = c.U8();
    std::string id = c.Bytes(idlen);
    std::string nonce = c.Bytes(kBlobNonce);
    std::string tag = c.Bytes(kBlobTag);
    uint8_t ctlen = c.U8();
    std::string ct = c.Bytes(ctlen);
    std::string why = c.Finish();
    if (why.empty() && std::memcmp(magic.data(), kBlobMagic, 4) != 0) why = "no SPWK magic";
    if (why.empty() && ver != kBlobVersion) why = "version " + std::to_string(ver);
    if (why.empty() && backend != 1 && backend != 2 && backend != 0x80) {
      why = "backend " + std::to_string(backend);
    }
    if (why.empty() && id != root_key_id) why = "root key id differs from the record's";
    if (why.empty() && (ctlen < 16 || ctlen > 64)) why = "ciphertext length " + std::to_string(ctlen);
    if (!why.empty()) {
      Problem(where + ": wrapped blob: " + why);
      return "blob=bad";
    }
    char b[8];
    std::snprintf(b, sizeof b, "0x%02x", backend);
    return "blob={bytes=" + std::to_string(blob.size()) + " magic=SPWK version=1 backend=" + b +
           " root_key_id=" + Quote(id) + " nonce=" + RHex(nonce) + " tag=" + RHex(tag) +
           " ct_len=" + std::to_string(ctlen) + " ct=" + RHex(ct) + "}";
  }

  void DecodeKeys() {
    for (const auto& [k, v] : Family("keys")) {
      if (k.size() < 5) {
        Problem("keys: key " + Hex(k) + " is neither layout");
        continue;
      }
      uint32_t group = static_cast<uint32_t>(LoadBE(k, 0, 4));
      if (k.size() == 9 && k[4] == 'K') {
        uint32_t kek = static_cast<uint32_t>(LoadBE(k, 5, 4));
        Cur c(v);
        uint8_t ver = c.U8(), kind = c.U8();
        uint32_t id = c.U32();
        uint8_t state = c.U8();
        int64_t created = static_cast<int64_t>(c.U64());
        uint64_t deks = c.U64();
        std::string rk = c.Str16(kMaxRootKeyId, "root key id");
        std::string blob = c.Str16(kMaxBlob, "blob");
        std::string why = c.Finish();
        std::string where = "keys: group " + std::to_string(group) + " KEK " + std::to_string(kek);
        if (!why.empty() || ver != kKeyRecordVersion || kind != kKindKek || id != kek ||
            (state != 1 && state != 2) || created < 0 || rk.empty() || blob.empty()) {
          Problem(where + ": " + (why.empty() ? "bad field" : why));
          continue;
        }
        keks_.insert({group, kek});
        kek_blobs_[{group, kek}] = {rk, blob};
        Line("keys", Hex(k.substr(0, 4)) + " K " + Hex(k.substr(5)) + ": version=1 kind=1 kek_id=" +
                         std::to_string(id) + " state=" + (state == 1 ? "active" : "inactive") +
                         " created_us=" + R(std::to_string(created)) +
                         " dek_count_reserved=" + std::to_string(deks) +
                         " root_key_id=" + Quote(rk) + " " + DecodeBlob(blob, rk, where));
      } else if (k.size() == 5 && k[4] == 'F') {
        Cur c(v);
        uint8_t ver = c.U8(), kind = c.U8();
        int64_t created = static_cast<int64_t>(c.U64());
        std::string rk = c.Str16(kMaxRootKeyId, "root key id");
        std::string blob = c.Str16(kMaxBlob, "blob");
        std::string why = c.Finish();
        std::string where = "keys: group " + std::to_string(group) + " fingerprint key";
        if (!why.empty() || ver != kKeyRecordVersion || kind != kKindFingerprintKey ||
            created < 0 || rk.empty() || blob.empty()) {
          Problem(where + ": " + (why.empty() ? "bad field" : why));
          continue;
        }
        fpk_groups_.insert(group);
        fpk_blobs_[group] = {rk, blob};
        Line("keys", Hex(k.substr(0, 4)) + " F: version=1 kind=2 created_us=" +
                         R(std::to_string(created)) + " root_key_id=" + Quote(rk) + " " +
                         DecodeBlob(blob, rk, where));
      } else if (k.size() == 13 && k[4] == 'B') {
        // Batch record (key record version 3, kind 4): batch id, KEK pair id, created, the
        // 73-byte sealed batch key (docs/format.md "Catalog format 4: DEK batches (issue 17)").
        uint64_t batch = LoadBE(k, 5, 8);
        Cur c(v);
        uint8_t ver = c.U8(), kind = c.U8();
        uint64_t id = c.U64();
        uint32_t kek = c.U32();
        int64_t created = static_cast<int64_t>(c.U64());
        std::string sealed = c.Bytes(73);
        std::string why = c.Finish();
        if (!why.empty() || ver != 3 || kind != 4 || id != batch || kek == 0 || created < 0) {
          Problem("keys: group " + std::to_string(group) + " batch " + std::to_string(batch) +
                  ": " + (why.empty() ? "bad field" : why));
          continue;
        }
        batches_[{group, batch}] = kek;
        Line("keys", Hex(k.substr(0, 4)) + " B " + Hex(k.substr(5)) + ": version=3 kind=4 kek_pair=" +
                         std::to_string(kek) + " created_us=" + R(std::to_string(created)) +
                         " sealed=" + RHex(sealed));
      } else if (k.size() == 5 && k[4] == 'A') {
        Cur c(v);
        uint8_t ver = c.U8(), kind = c.U8();
        uint64_t end = c.U64();
        std::string why = c.Finish();
        if (!why.empty() || ver != 3 || kind != 5 || end == 0) {
          Problem("keys: group " + std::to_string(group) + " batch id allocator: " +
                  (why.empty() ? "bad field" : why));
          continue;
        }
        Line("keys", Hex(k.substr(0, 4)) + " A: version=3 kind=5 reserved_end=" + std::to_string(end));
      } else {
        Problem("keys: key " + Hex(k) + " is neither layout");
      }
    }
  }

  void DecodeContainersFamily() {
    for (const auto& [k, v] : Family("containers")) {
      if (k.size() != 8) {
        Problem("containers: key " + Hex(k) + " is not u64");
        continue;
      }
      uint64_t id = LoadBE(k, 0, 8);
      Cur c(v);
      uint8_t ver = c.U8();
      uint32_t group = c.U32();
      uint8_t state = c.U8();
      uint64_t created = c.U64();
      std::string why = c.Finish();
      if (!why.empty() || ver != kRecordVersion || (state != 1 && state != 2)) {
        Problem("container record " + std::to_string(id) + ": " + (why.empty() ? "bad field" : why));
        continue;
      }
      container_records_[id] = {group, state};
      Line("containers", Hex(k) + ": version=1 group_no=" + std::to_string(group) +
                             " state=" + (state == 1 ? "active" : "retired") +
                             " created_us=" + R(std::to_string(created)));
    }
    result_.figures.containers = container_records_.size();
  }

  void DecodeSegments() {
    for (const auto& [k, v] : Family("segments")) {
      if (k.size() != 12) {
        Problem("segments: key " + Hex(k) + " is not u32 + u64");
        continue;
      }
      uint32_t group = static_cast<uint32_t>(LoadBE(k, 0, 4));
      uint64_t id = LoadBE(k, 4, 8);
      Cur c(v);
      uint8_t ver = c.U8();
      SegmentInfo s;
      s.container_id = c.U64();
      s.offset = c.U64();
      s.record_length = c.U32();
      s.plaintext_length = c.U32();
      s.stored_length = c.U32();
      s.compression = c.U8();
      s.kek_id = c.U32();
      std::string dek = c.Bytes(kWrappedDekSize);
      s.wrapped_dek = dek;
      s.fingerprint = c.Bytes(kFingerprintSize);
      // Version 2 (catalog format 4, kek_mode "public"): u64 batch id >= 1 follows.
      uint64_t batch_id = 0;
      if (ver == 2) batch_id = c.U64();
      std::string why = c.Finish();
      std::string where = "segment " + std::to_string(group) + "/" + std::to_string(id);
      if (!why.empty() || (ver == kRecordVersion && v.size() != 106) ||
          (ver == 2 && (v.size() != 114 || batch_id == 0)) || (ver != kRecordVersion && ver != 2)) {
        Problem(where + ": " + (why.empty() ? "version" : why));
        continue;
      }
      if (ver == 2) {
        batched_segments_[{group, id}] = batch_id;
        ++result_.figures.segments;
        result_.figures.stored_bytes += s.record_length;
        Line("segments", Hex(k) + ": version=2 container=" + std::to_string(s.container_id) +
                             " offset=" + std::to_string(s.offset) + " record_length=" +
                             std::to_string(s.record_length) + " kek_pair=" +
                             std::to_string(s.kek_id) + " batch_id=" + std::to_string(batch_id) +
                             " wrapped_dek=" + RHex(dek) + " fingerprint=" + RHex(s.fingerprint));
        segments_[{group, id}] = s;
        continue;
      }
      if (s.compression > kCompressionZstd || s.plaintext_length == 0 ||
          s.plaintext_length > kMaxPlaintextLength || s.stored_length > kMaxStoredLength ||
          s.record_length != kRecordHeaderSize + s.stored_length) {
        Problem(where + ": field out of range");
      }
      segments_[{group, id}] = s;
      ++result_.figures.segments;
      result_.figures.stored_bytes += s.record_length;
      Line("segments", Hex(k) + ": version=1 container=" + std::to_string(s.container_id) +
                           " offset=" + std::to_string(s.offset) + " record_length=" +
                           std::to_string(s.record_length) + " plaintext_length=" +
                           std::to_string(s.plaintext_length) + " stored_length=" +
                           std::to_string(s.stored_length) + " compression=" +
                           (s.compression == kCompressionRaw ? "raw" : "zstd") +
                           " kek_id=" + std::to_string(s.kek_id) + " wrapped_dek=" + RHex(dek) +
                           " fingerprint=" + RHex(s.fingerprint));
    }
  }

  void DecodeFingerprints() {
    for (const auto& [k, v] : Family("fingerprints")) {
      if (k.size() != 4 + kFingerprintSize || v.size() != 8) {
        Problem("fingerprints: entry " + Hex(k) + " has the wrong size");
        continue;
      }
      uint32_t group = static_cast<uint32_t>(LoadBE(k, 0, 4));
      uint64_t id = LoadLE(reinterpret_cast<const unsigned char*>(v.data()), 8);
      fp_index_[{group, k.substr(4)}] = id;
      Line("fingerprints", Hex(k.substr(0, 4)) + " " + RHex(k.substr(4)) + ": segment " +
                               std::to_string(id));
    }
  }

  void DecodeImages() {
    for (const auto& [k, v] : Family("images")) {
      if (!k.empty() && k[0] == 'I' && k.size() == 9) {
        uint64_t id = LoadBE(k, 1, 8);
        Cur c(v);
        uint8_t ver = c.U8();
        ImageFigure f;
        f.image_id = c.U64();
        f.lsu = c.Str16(kMaxName, "LSU");
        f.name = c.Str16(kMaxName, "name");
        f.group_no = c.U32();
        f.size = c.U64();
        f.extent_count = c.U64();
        uint64_t created = c.U64();
        uint64_t retain = c.U64();
        f.owner = c.Str16(kMaxOwner, "owner");
        uint16_t nlabels = c.U16();
        std::string labels;
        std::string last;
        bool order_ok = true;
        // "Image digests (version 2)": the identity input, str = u64 LE length + bytes.
        std::string identity;
        auto put_str = [&identity](const std::string& str) {
          PutLE(&identity, str.size(), 8);
          identity += str;
        };
        PutLE(&identity, kImageDigestVersion, 8);
        PutLE(&identity, f.image_id, 8);
        put_str(f.lsu);
        put_str(f.name);
        put_str(f.owner);
        for (uint64_t x : {uint64_t{f.group_no}, f.size, f.extent_count, created, retain,
                           uint64_t{nlabels}}) {
          PutLE(&identity, x, 8);
        }
        for (uint16_t i = 0; i < nlabels && i <= kMaxLabels && !c.bad(); ++i) {
          std::string lk = c.Str16(kMaxLabel, "label key");
          std::string lv = c.Str16(kMaxLabel, "label value");
          if (i > 0 && lk <= last) order_ok = false;
          last = lk;
          labels += " " + Quote(lk) + "=" + Quote(lv);
          put_str(lk);
          put_str(lv);
        }
        std::string rd = c.Bytes(kDigestSize);
        std::string cd = c.Bytes(kDigestSize);
        std::string idd = c.Bytes(kDigestSize);  // catalog format 3
        identity += rd;
        identity += cd;
        std::string why = c.Finish();
        if (!why.empty() || ver != kRecordVersion || f.image_id != id || nlabels > kMaxLabels ||
            !order_ok) {
          Problem("image " + std::to_string(id) + ": " + (why.empty() ? "bad field" : why));
          continue;
        }
        images_[id] = f;
        image_digests_[id] = {rd, cd, idd, identity};
        result_.figures.images.push_back(f);
        result_.figures.logical_bytes += f.size;
        Line("images", "I " + Hex(k.substr(1)) + ": version=1 image_id=" + std::to_string(id) +
                           " lsu=" + Quote(f.lsu) + " name=" + Quote(f.name) +
                           " group_no=" + std::to_string(f.group_no) + " size=" +
                           std::to_string(f.size) + " extent_count=" +
                           std::to_string(f.extent_count) + " created_us=" +
                           R(std::to_string(created)) + " retain_until_us=" +
                           (retain == 0 ? std::string("0") : R(std::to_string(retain))) +
                           " owner=" + Quote(f.owner) + " labels=" + std::to_string(nlabels) +
                           labels + " recipe_digest=" + RHex(rd) + " content_digest=" + RHex(cd) +
                           " identity_digest=" + RHex(idd));
      } else if (!k.empty() && k[0] == 'N') {
        // 'N' + LSU + 00 + owner + 00 + name
        size_t a = k.find('\0', 1);
        size_t b = a == std::string::npos ? a : k.find('\0', a + 1);
        if (b == std::string::npos || k.find('\0', b + 1) != std::string::npos || v.size() != 8) {
          Problem("images: name key " + Hex(k) + " is not N + LSU + 00 + owner + 00 + name");
          continue;
        }
        std::string lsu = k.substr(1, a - 1), owner = k.substr(a + 1, b - a - 1),
                    name = k.substr(b + 1);
        uint64_t id = LoadLE(reinterpret_cast<const unsigned char*>(v.data()), 8);
        names_[{lsu, owner, name}] = id;
        Line("images", "N " + Quote(lsu) + " 00 " + Quote(owner) + " 00 " + Quote(name) +
                           ": image " + std::to_string(id));
      } else {
        Problem("images: key " + Hex(k) + " is neither I nor N");
      }
    }
  }

  void DecodeRecipes() {
    for (const auto& [k, v] : Family("recipes")) {
      Cur c(v);
      uint8_t ver = c.U8();
      uint64_t seg = c.U64();
      uint32_t len = c.U32();
      std::string why = c.Finish();
      if (k.size() != 16 || !why.empty() || ver != kRecordVersion || len == 0 ||
          len > kMaxPlaintextLength) {
        Problem("recipes: entry " + Hex(k) + " " + why);
        continue;
      }
      uint64_t image = LoadBE(k, 0, 8), off = LoadBE(k, 8, 8);
      recipes_[image].push_back({off, seg, len});
      Line("recipes", Hex(k.substr(0, 8)) + " " + Hex(k.substr(8)) + ": version=1 segment=" +
                          std::to_string(seg) + " length=" + std::to_string(len));
    }
  }

  void DecodeDeleteQueue() {
    for (const auto& [k, v] : Family("delete_queue")) {
      Cur c(v);
      uint8_t ver = c.U8(), kind = c.U8();
      uint32_t group = c.U32();
      uint64_t image = c.U64(), next = c.U64(), seg = c.U64();
      std::string why = c.Finish();
      if (k.size() != 8 || !why.empty() || ver != kRecordVersion || (kind != 1 && kind != 2)) {
        Problem("delete_queue: entry " + Hex(k) + " " + why);
        continue;
      }
      if (kind == 1) job_image_group_[image] = group;
      ++result_.figures.delete_jobs;
      delete_seqs_.push_back(LoadBE(k, 0, 8));
      Line("delete_queue", Hex(k) + ": version=1 kind=" +
                               (kind == 1 ? "image_references" : "reclaim_segment") +
                               " group_no=" + std::to_string(group) + " image_id=" +
                               std::to_string(image) + " next_offset=" + std::to_string(next) +
                               " segment_id=" + std::to_string(seg));
    }
  }

  void DecodeClientDigests() {
    for (const auto& [k, v] : Family("client_digests")) {
      Cur c(v);
      uint8_t ver = c.U8();
      uint64_t seg = c.U64();
      uint32_t len = c.U32();
      std::string why = c.Finish();
      if (k.size() != kClientDigestKeySize || !why.empty() || ver != kRecordVersion || len == 0 ||
          len > kMaxPlaintextLength) {
        Problem("client_digests: entry " + Hex(k) + " " + why);
        continue;
      }
      client_digests_.push_back({LoadBE(k, 0, 8), seg, len});
      Line("client_digests", Hex(k.substr(0, 8)) + " " + RHex(k.substr(8)) +
                                 ": version=1 segment=" + std::to_string(seg) +
                                 " length=" + std::to_string(len));
    }
  }

  void DecodeSessions() {
    for (const auto& [k, v] : Family("sessions")) {
      Problem("sessions: entry " + Hex(k) + " in a family docs/format.md says is always empty");
    }
  }

  void DecodeCounters() {
    for (const auto& [k, v] : Family("counters")) {
      if (v.size() != 8) {
        Problem("counter " + Hex(k) + ": value is " + Quote(v));
        continue;
      }
      int64_t n = static_cast<int64_t>(LoadLE(reinterpret_cast<const unsigned char*>(v.data()), 8));
      std::string text;
      if (k.size() == 13 && k[0] == 'R') {
        refcounts_[{static_cast<uint32_t>(LoadBE(k, 1, 4)), LoadBE(k, 5, 8)}] = n;
        text = "R " + Hex(k.substr(1, 4)) + " " + Hex(k.substr(5));
      } else if (k.size() == 10 && k[0] == 'C' && (k[9] == 'W' || k[9] == 'L' || k[9] == 'N')) {
        container_counters_[{LoadBE(k, 1, 8), k[9]}] = n;
        text = "C " + Hex(k.substr(1, 8)) + " " + k[9];
      } else if (k.size() == 9 && k[0] == 'K') {
        kek_counters_[{static_cast<uint32_t>(LoadBE(k, 1, 4)),
                       static_cast<uint32_t>(LoadBE(k, 5, 4))}] = n;
        text = "K " + Hex(k.substr(1, 4)) + " " + Hex(k.substr(5));
      } else if (!k.empty() && k[0] == 'P') {
        std::string name = k.substr(1);
        if (name != "logical_bytes" && name != "images" && name != "segments" &&
            name != "stored_bytes" && name != "delete_jobs") {
          Problem("pool counter " + Quote(name) + " is not documented");
        }
        result_.figures.pool_counters[name] = n;
        text = "P " + Quote(name);
      } else if (!k.empty() && k[0] == 'O' && k.find('\0') != std::string::npos) {
        size_t a = k.find('\0');
        owner_counters_[{k.substr(1, a - 1), k.substr(a + 1)}] = n;
        text = "O " + Quote(k.substr(1, a - 1)) + " 00 " + Quote(k.substr(a + 1));
      } else {
        Problem("counters: undocumented key " + Hex(k));
        continue;
      }
      Line("counters", text + ": " + std::to_string(n));
    }
  }

  // ---- container files ----
  bool ValidRecordHeader(const std::string& f, size_t at, RecordInfo* out) {
    if (f.size() - at < kRecordHeaderSize) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(f.data() + at);
    if (LoadLE(p, 4) != kRecordMagic) return false;
    std::string copy(f.substr(at, kRecordHeaderSize));
    std::memset(copy.data() + 8, 0, 8);
    if (XXH3_64bits_withSeed(copy.data(), copy.size(), kChecksumSeed) != LoadLE(p + 8, 8)) {
      return false;
    }
    uint8_t type = p[4], comp = p[5];
    uint32_t plain = static_cast<uint32_t>(LoadLE(p + 32, 4));
    uint32_t stored = static_cast<uint32_t>(LoadLE(p + 36, 4));
    if (type != kRecordTypeSealedSegment || comp > kCompressionZstd || LoadLE(p + 6, 2) != 0 ||
        plain == 0 || plain > kMaxPlaintextLength || stored > kMaxStoredLength ||
        (comp == kCompressionRaw && stored != plain) || (comp == kCompressionZstd && stored >= plain)) {
      return false;
    }
    out->offset = at;
    out->length = kRecordHeaderSize + stored;
    out->segment_id = LoadLE(p + 24, 8);
    out->compression = comp;
    out->plaintext_length = plain;
    out->stored_length = stored;
    out->fingerprint = f.substr(at + 40, kFingerprintSize);
    return true;
  }

  void ReadContainerFiles() {
    namespace fs = std::filesystem;
    const fs::path cdir = fs::path(dir_) / kContainersDir;
    std::error_code ec;
    std::vector<std::pair<uint64_t, fs::path>> files;
    for (const auto& e : fs::directory_iterator(cdir, ec)) {
      std::string n = e.path().filename().string();
      if (n.size() != 16 + 4 || n.substr(16) != kContainerSuffix ||
          n.find_first_not_of("0123456789abcdef") < 16) {
        Line("container files", "ignored " + Quote(n));
        continue;
      }
      files.emplace_back(std::stoull(n.substr(0, 16), nullptr, 16), e.path());
    }
    if (ec) Problem("containers directory: " + ec.message());
    std::sort(files.begin(), files.end());
    for (const auto& [id, path] : files) ReadContainerFile(id, path.string());
  }

  void ReadContainerFile(uint64_t id, const std::string& path) {
    std::string f;
    {
      std::ifstream in(path, std::ios::binary | std::ios::ate);
      const std::streamoff size = in ? static_cast<std::streamoff>(in.tellg()) : 0;
      if (size > 0 && size < (std::streamoff{1} << 31)) {
        f.resize(static_cast<size_t>(size));
        in.seekg(0);
        in.read(f.data(), size);
        if (!in) f.clear();
      }
    }
    const std::string sec = "container files";
    char name[40];
    std::snprintf(name, sizeof name, "%016llx.spc", static_cast<unsigned long long>(id));
    result_.figures.container_file_bytes += f.size();
    file_sizes_[id] = f.size();
    if (f.size() < kContainerHeaderSize || std::memcmp(f.data(), kContainerMagic, 8) != 0) {
      Problem(std::string(name) + ": no container file header");
      return;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(f.data());
    uint16_t version = static_cast<uint16_t>(LoadLE(p + 8, 2));
    uint16_t hsize = static_cast<uint16_t>(LoadLE(p + 10, 2));
    uint32_t flags = static_cast<uint32_t>(LoadLE(p + 12, 4));
    uint64_t checksum = LoadLE(p + 16, 8);
    std::string copy = f.substr(0, std::min<size_t>(hsize, f.size()));
    if (copy.size() >= kHeaderChecksumOffset + 8) std::memset(copy.data() + kHeaderChecksumOffset, 0, 8);
    bool sum_ok = hsize <= f.size() &&
                  XXH3_64bits_withSeed(copy.data(), copy.size(), kChecksumSeed) == checksum;
    uint64_t cid = LoadLE(p + 24, 8);
    uint64_t created = LoadLE(p + 32, 8);
    std::string pool_id = f.substr(40, kIdSize), group_id = f.substr(56, kIdSize);
    if (!sum_ok || version != kContainerFormatVersion || hsize != kContainerHeaderSize ||
        flags != 0 || cid != id) {
      Problem(std::string(name) + ": file header: " +
              (!sum_ok ? "checksum mismatch" : "version, size, flags or id not as documented"));
      return;
    }
    container_header_group_[id] = group_id;
    if (opt_.unwrap) files_[id] = f;
    if (catalog_ok_ && pool_id != pool_id_) Problem(std::string(name) + ": pool id is not the pool's");
    Line(sec, std::string(name) + ": bytes=" + std::to_string(f.size()) +
                  " header={magic=SPCNTR\\r\\n version=1 header_size=72 flags=0 checksum=" +
                  RHex(f.substr(16, 8)) + "(ok) container_id=" + std::to_string(cid) +
                  " created_us=" + R(std::to_string(created)) + " pool_id=" + RHex(pool_id) +
                  " key_group_id=" + RHex(group_id) + "}");
    size_t at = kContainerHeaderSize;
    while (at < f.size()) {
      RecordInfo r;
      if (!ValidRecordHeader(f, at, &r) || f.size() - at < r.length) {
        size_t next = at + 1;
        RecordInfo ignored;
        while (next < f.size() && !ValidRecordHeader(f, next, &ignored)) ++next;
        Problem(std::string(name) + ": damaged region [" + std::to_string(at) + ", " +
                std::to_string(next) + ")");
        Line(sec, std::string(name) + " damaged [" + std::to_string(at) + ", " + std::to_string(next) + ")");
        at = next;
        continue;
      }
      const auto* h = reinterpret_cast<const unsigned char*>(f.data() + at);
      r.payload_ok = XXH3_64bits_withSeed(f.data() + at + kRecordHeaderSize, r.stored_length,
                                          kChecksumSeed) == LoadLE(h + 16, 8);
      if (!r.payload_ok) {
        Problem(std::string(name) + ": record at " + std::to_string(at) + " (segment " +
                std::to_string(r.segment_id) + "): payload checksum mismatch");
      }
      ++result_.figures.container_records_scanned;
      records_[id][at] = r;
      Line(sec, std::string(name) + " record @" + std::to_string(at) + ": magic=SPR1 type=1 compression=" +
                    (r.compression == kCompressionRaw ? "raw" : "zstd") + " header_checksum=" +
                    RHex(f.substr(at + 8, 8)) + "(ok) payload_checksum=" +
                    RHex(f.substr(at + 16, 8)) + (r.payload_ok ? "(ok)" : "(BAD)") +
                    " segment_id=" + std::to_string(r.segment_id) + " plaintext_length=" +
                    std::to_string(r.plaintext_length) + " stored_length=" +
                    std::to_string(r.stored_length) + " fingerprint=" + RHex(r.fingerprint) +
                    " nonce=" + RHex(f.substr(at + 72, 12)) + " tag=" +
                    RHex(f.substr(at + 84, 16)));
      at += r.length;
    }
  }

  // ---- cross-references ----
  void CrossCheck() {
    const std::string sec = "cross-checks";
    // Allocators: high-water marks above every id handed out.
    auto below = [&](const std::string& what, uint64_t id) {
      auto it = alloc_.find(what);
      if (it == alloc_.end() || id >= it->second) {
        Problem("id " + std::to_string(id) + " is not below alloc/" + what);
      }
    };
    for (const auto& [key, s] : segments_) below("segment", key.second);
    for (const auto& [id, c] : container_records_) below("container", id);
    for (const auto& [id, im] : images_) below("image", id);
    for (uint64_t seq : delete_seqs_) below("delete", seq);
    for (const auto& [no, g] : groups_) below("group", no);

    // Key groups have their fingerprint key and an active KEK.
    for (const auto& [no, g] : groups_) {
      if (!fpk_groups_.contains(no)) Problem("key group " + std::to_string(no) + ": no fingerprint key");
    }

    // segments ↔ containers ↔ fingerprint index.
    std::map<uint64_t, std::tuple<int64_t, int64_t>> live;  // container → (bytes, records)
    std::map<std::pair<uint32_t, uint32_t>, int64_t> per_kek;
    for (const auto& [key, s] : segments_) {
      const std::string where = "segment " + std::to_string(key.first) + "/" + std::to_string(key.second);
      auto c = container_records_.find(s.container_id);
      if (c == container_records_.end()) {
        Problem(where + ": no container record " + std::to_string(s.container_id));
      } else if (c->second.first != key.first) {
        Problem(where + ": its container belongs to group " + std::to_string(c->second.first));
      }
      auto recs = records_.find(s.container_id);
      const RecordInfo* r = nullptr;
      if (recs != records_.end()) {
        auto it = recs->second.find(s.offset);
        if (it != recs->second.end()) r = &it->second;
      }
      if (r == nullptr) {
        Problem(where + ": no record at offset " + std::to_string(s.offset) + " of container " +
                std::to_string(s.container_id));
      } else if (r->segment_id != key.second || r->length != s.record_length ||
                 r->plaintext_length != s.plaintext_length ||
                 r->stored_length != s.stored_length || r->compression != s.compression ||
                 r->fingerprint != s.fingerprint) {
        Problem(where + ": the container record header disagrees with the segment record");
      }
      auto fp = fp_index_.find({key.first, s.fingerprint});
      if (fp == fp_index_.end() || fp->second != key.second) {
        Problem(where + ": the fingerprint index does not point at it");
      }
      if (!keks_.contains({key.first, s.kek_id})) {
        Problem(where + ": KEK " + std::to_string(s.kek_id) + " has no record");
      }
      auto& [bytes, n] = live[s.container_id];
      bytes += s.record_length;
      ++n;
      ++per_kek[{key.first, s.kek_id}];
      result_.figures.live_record_bytes += s.record_length;
    }
    for (const auto& [key, id] : fp_index_) {
      auto s = segments_.find({key.first, id});
      if (s == segments_.end() || s->second.fingerprint != key.second) {
        Problem("fingerprint index entry of group " + std::to_string(key.first) +
                " points at segment " + std::to_string(id) + ", which does not have it");
      }
    }
    // Container headers carry the 16-byte id of their record's group.
    for (const auto& [id, c] : container_records_) {
      auto h = container_header_group_.find(id);
      if (h == container_header_group_.end()) {
        if (c.second == 1) Problem("container " + std::to_string(id) + ": no (valid) file");
        continue;
      }
      auto g = groups_.find(c.first);
      if (g == groups_.end() || g->second.group_id != h->second) {
        Problem("container " + std::to_string(id) + ": header key_group_id is not group " +
                std::to_string(c.first) + "'s group_id");
      }
    }
    for (const auto& [id, size] : file_sizes_) {
      if (!container_records_.contains(id)) {
        Problem("container file " + std::to_string(id) + " has no container record");
      }
    }
    // Container counters.
    for (const auto& [id, c] : container_records_) {
      auto get = [&](char f) {
        auto it = container_counters_.find({id, f});
        return it == container_counters_.end() ? int64_t{0} : it->second;
      };
      auto [bytes, n] = live[id];
      if (get('L') != bytes || get('N') != n) {
        Problem("container " + std::to_string(id) + ": live counters L=" + std::to_string(get('L')) +
                " N=" + std::to_string(get('N')) + ", segment records say " +
                std::to_string(bytes) + " and " + std::to_string(n));
      }
      uint64_t in_file = 0;
      for (const auto& [off, r] : records_[id]) in_file += r.length;
      if (get('W') < bytes || static_cast<uint64_t>(get('W')) > in_file) {
        Problem("container " + std::to_string(id) + ": W=" + std::to_string(get('W')) +
                " outside [live " + std::to_string(bytes) + ", records in file " +
                std::to_string(in_file) + "]");
      }
    }
    // Recipes: contiguous from 0, sum to the size, extent lengths match segments; refcounts.
    std::map<std::pair<uint32_t, uint64_t>, int64_t> refs;
    for (auto& [image, extents] : recipes_) {
      std::optional<uint32_t> group;
      if (auto im = images_.find(image); im != images_.end()) group = im->second.group_no;
      if (auto j = job_image_group_.find(image); j != job_image_group_.end()) group = j->second;
      if (!group) {
        Problem("recipe rows of image " + std::to_string(image) +
                ", which has neither a record nor a delete job");
        continue;
      }
      uint64_t expect = 0;
      bool contiguous = true;
      for (const auto& [off, seg, len] : extents) {
        if (off != expect) contiguous = false;
        expect = off + len;
        ++refs[{*group, seg}];
        auto s = segments_.find({*group, seg});
        if (s == segments_.end() || s->second.plaintext_length != len) {
          Problem("image " + std::to_string(image) + " offset " + std::to_string(off) +
                  ": segment " + std::to_string(seg) + " missing or of another length");
        }
      }
      if (auto im = images_.find(image); im != images_.end()) {
        if (!contiguous || expect != im->second.size || extents.size() != im->second.extent_count) {
          Problem("image " + std::to_string(image) + ": recipe is not contiguous or does not sum "
                  "to its size and extent count");
        }
      }
    }
    for (const auto& [id, im] : images_) {
      if (im.size > 0 && !recipes_.contains(id)) Problem("image " + std::to_string(id) + ": no recipe");
      auto n = names_.find({im.lsu, im.owner, im.name});
      if (n == names_.end() || n->second != id) {
        Problem("image " + std::to_string(id) + ": no name key pointing at it");
      }
      if (!lsu_group_.contains(im.lsu) || lsu_group_[im.lsu] != im.group_no) {
        Problem("image " + std::to_string(id) + ": LSU unknown or of another group");
      }
    }
    // Client digests: each names an extent (segment and length) of its image's recipe.
    for (const auto& [image, seg, len] : client_digests_) {
      auto r = recipes_.find(image);
      bool found = false;
      if (r != recipes_.end()) {
        for (const auto& [off, s, l] : r->second) found = found || (s == seg && l == len);
      }
      if (!found) {
        Problem("client digest of image " + std::to_string(image) + " names segment " +
                std::to_string(seg) + " (length " + std::to_string(len) +
                "), which is not in its recipe");
      }
    }
    for (const auto& [key, id] : names_) {
      if (!images_.contains(id)) Problem("name key points at image " + std::to_string(id) + " without a record");
    }
    for (const auto& [key, s] : segments_) {
      auto it = refcounts_.find(key);
      int64_t have = it == refcounts_.end() ? 0 : it->second;
      if (have != refs[key]) {
        Problem("segment " + std::to_string(key.first) + "/" + std::to_string(key.second) +
                ": refcount " + std::to_string(have) + ", recipes hold " + std::to_string(refs[key]));
      }
    }
    for (const auto& [key, n] : refcounts_) {
      if (!segments_.contains(key)) {
        Problem("refcount of a segment without a record: " + std::to_string(key.first) + "/" +
                std::to_string(key.second));
      }
    }
    // KEK counters.
    for (const auto& [key, n] : per_kek) {
      auto it = kek_counters_.find(key);
      if (it == kek_counters_.end() || it->second != n) {
        Problem("K counter of group " + std::to_string(key.first) + " KEK " +
                std::to_string(key.second) + " is not its " + std::to_string(n) + " DEKs");
      }
    }
    for (const auto& [key, n] : kek_counters_) {
      if (n != 0 && !per_kek.contains(key)) Problem("K counter for a KEK no segment uses");
    }
    // Pool counters.
    auto pool = [&](const char* name) {
      auto it = result_.figures.pool_counters.find(name);
      return it == result_.figures.pool_counters.end() ? int64_t{0} : it->second;
    };
    const Figures& f = result_.figures;
    auto expect = [&](const char* name, uint64_t counted) {
      if (pool(name) != static_cast<int64_t>(counted)) {
        Problem(std::string("pool counter ") + name + "=" + std::to_string(pool(name)) +
                ", counted " + std::to_string(counted));
      }
    };
    expect("segments", f.segments);
    expect("stored_bytes", f.stored_bytes);
    expect("images", images_.size());
    expect("logical_bytes", f.logical_bytes);
    expect("delete_jobs", f.delete_jobs);
    // Owner counters.
    std::map<std::pair<std::string, std::string>, int64_t> owners;
    for (const auto& [id, im] : images_) owners[{im.lsu, im.owner}] += static_cast<int64_t>(im.size);
    for (const auto& [key, n] : owner_counters_) {
      if (n != owners[key]) Problem("O counter of " + Quote(key.first) + "/" + Quote(key.second) + " is wrong");
    }
    for (const auto& [key, n] : owners) {
      if (n != 0 && !owner_counters_.contains(key)) Problem("no O counter for " + Quote(key.first));
    }
    Line(sec, "segments=" + std::to_string(f.segments) + " stored_bytes=" +
                  std::to_string(f.stored_bytes) + " images=" + std::to_string(images_.size()) +
                  " logical_bytes=" + std::to_string(f.logical_bytes) + " delete_jobs=" +
                  std::to_string(f.delete_jobs) + " containers=" + std::to_string(f.containers) +
                  " container_file_bytes=" + std::to_string(f.container_file_bytes) +
                  " live_record_bytes=" + std::to_string(f.live_record_bytes) +
                  " records_in_files=" + std::to_string(f.container_records_scanned));
  }

  // ---- what needs keys (DumpOptions::unwrap) ----
  void KeyedChecks() {
    std::map<uint32_t, std::string> fpk;
    std::map<std::pair<uint32_t, uint32_t>, std::string> kek;
    for (const auto& [g, kb] : fpk_blobs_) {
      auto gi = groups_.find(g);
      if (gi == groups_.end()) continue;
      auto secret = opt_.unwrap(g, gi->second.name, kFingerprintKeyId, kb.first, kb.second);
      if (!secret || secret->size() != 32) {
        Problem("group " + std::to_string(g) + ": the fingerprint key does not unwrap");
        continue;
      }
      fpk[g] = *secret;
    }
    for (const auto& [key, kb] : kek_blobs_) {
      auto gi = groups_.find(key.first);
      if (gi == groups_.end()) continue;
      auto secret = opt_.unwrap(key.first, gi->second.name,
                                kKekIdPrefix + std::to_string(key.second), kb.first, kb.second);
      if (!secret || secret->size() != 32) {
        Problem("group " + std::to_string(key.first) + " KEK " + std::to_string(key.second) +
                ": does not unwrap");
        continue;
      }
      kek[key] = *secret;
    }
    uint64_t opened = 0;
    for (const auto& [key, seg] : segments_) {
      const std::string where =
          "segment " + std::to_string(key.first) + "/" + std::to_string(key.second);
      auto k = kek.find({key.first, seg.kek_id});
      auto f = fpk.find(key.first);
      auto file = files_.find(seg.container_id);
      auto g = groups_.find(key.first);
      if (k == kek.end() || f == fpk.end() || file == files_.end() || g == groups_.end() ||
          seg.offset + seg.record_length > file->second.size()) {
        Problem(where + ": keys or record missing, not opened");
        continue;
      }
      std::optional<std::string> dek = UnwrapKwp(k->second, seg.wrapped_dek);
      if (!dek || dek->size() != kDekSize) {
        Problem(where + ": the wrapped DEK does not unwrap under its KEK");
        continue;
      }
      std::string aad;
      PutLE(&aad, kSegmentAadVersion, 2);
      aad += g->second.group_id;
      PutLE(&aad, key.second, 8);
      aad += seg.fingerprint;
      PutLE(&aad, seg.compression, 1);
      PutLE(&aad, seg.plaintext_length, 4);
      PutLE(&aad, seg.stored_length, 4);
      const std::string& bytes = file->second;
      std::optional<std::string> stored =
          aad.size() != kSegmentAadSize
              ? std::nullopt
              : OpenGcm(*dek, bytes.substr(seg.offset + 72, 12), aad,
                        bytes.substr(seg.offset + kRecordHeaderSize, seg.stored_length),
                        bytes.substr(seg.offset + 84, 16));
      if (!stored) {
        Problem(where + ": AES-256-GCM does not open with the documented associated data");
        continue;
      }
      std::string plain;
      if (seg.compression == kCompressionZstd) {
        plain.resize(seg.plaintext_length);
        const size_t n = ZSTD_decompress(plain.data(), plain.size(), stored->data(), stored->size());
        if (ZSTD_isError(n) != 0 || n != seg.plaintext_length) {
          Problem(where + ": the zstd frame does not give plaintext_length bytes");
          continue;
        }
      } else {
        plain = *stored;
      }
      if (plain.size() != seg.plaintext_length || HmacSha256(f->second, plain) != seg.fingerprint) {
        Problem(where + ": the plaintext's HMAC-SHA-256 is not the recorded fingerprint");
        continue;
      }
      ++opened;
    }
    uint64_t digests = 0;
    for (const auto& [id, im] : images_) {
      auto f = fpk.find(im.group_no);
      if (f == fpk.end()) continue;
      auto rk = HkdfSha256(f->second, kDigestSalt, "recipe");
      auto ck = HkdfSha256(f->second, kDigestSalt, "content");
      auto ik = HkdfSha256(f->second, kDigestSalt, "identity");
      if (!rk || !ck || !ik) {
        Problem("image " + std::to_string(id) + ": HKDF failed");
        continue;
      }
      std::string recipe, content;
      PutLE(&recipe, id, 8);
      const auto& extents = recipes_[id];
      for (const auto& [off, seg, len] : extents) {
        PutLE(&recipe, off, 8);
        PutLE(&recipe, seg, 8);
        PutLE(&recipe, len, 8);
        PutLE(&content, len, 8);
        auto s = segments_.find({im.group_no, seg});
        content += s == segments_.end() ? std::string(kFingerprintSize, '\0') : s->second.fingerprint;
      }
      PutLE(&recipe, extents.size(), 8);
      PutLE(&recipe, im.size, 8);
      const auto& [rd, cd, idd, identity] = image_digests_[id];
      const bool recipe_ok = HmacSha256(*rk, recipe) == rd;
      const bool content_ok = HmacSha256(*ck, content) == cd;
      const bool identity_ok = HmacSha256(*ik, identity) == idd;
      if (!recipe_ok) Problem("image " + std::to_string(id) + ": recipe digest differs");
      if (!content_ok) Problem("image " + std::to_string(id) + ": content digest differs");
      if (!identity_ok) Problem("image " + std::to_string(id) + ": identity digest differs");
      if (recipe_ok && content_ok && identity_ok) ++digests;
    }
    result_.figures.segments_opened = opened;
    result_.figures.image_digests_checked = digests;
    Line("keyed checks", "segments opened (DEK unwrapped, GCM tag, zstd, fingerprint): " +
                             std::to_string(opened) + " of " + std::to_string(segments_.size()));
    Line("keyed checks", "images with all three digests matching: " + std::to_string(digests) + " of " +
                             std::to_string(images_.size()));
  }

  const std::string dir_;
  const DumpOptions opt_;
  DecodeResult result_;
  std::vector<std::pair<std::string, std::vector<std::string>>> sections_;
  bool catalog_ok_ = false;
  std::map<std::string, KV> families_;
  std::string pool_id_;
  std::map<uint32_t, GroupInfo> groups_;
  std::map<std::string, uint32_t> lsu_group_;
  std::map<std::string, uint64_t> alloc_;
  std::set<std::pair<uint32_t, uint32_t>> keks_;
  std::set<uint32_t> fpk_groups_;
  std::map<uint64_t, std::pair<uint32_t, uint8_t>> container_records_;  // id → (group, state)
  std::map<std::pair<uint32_t, uint64_t>, SegmentInfo> segments_;
  // Catalog format 4 (kek_mode "public"): batched segments -> batch id; batch records -> KEK pair.
  std::map<std::pair<uint32_t, uint64_t>, uint64_t> batched_segments_;
  std::map<std::pair<uint32_t, uint64_t>, uint32_t> batches_;
  std::map<std::pair<uint32_t, std::string>, uint64_t> fp_index_;
  std::map<uint64_t, ImageFigure> images_;
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> names_;
  std::map<uint64_t, std::vector<std::tuple<uint64_t, uint64_t, uint32_t>>> recipes_;
  std::vector<std::tuple<uint64_t, uint64_t, uint32_t>> client_digests_;  // image, segment, length
  std::map<uint64_t, uint32_t> job_image_group_;
  std::vector<uint64_t> delete_seqs_;
  std::map<std::pair<uint32_t, uint64_t>, int64_t> refcounts_;
  std::map<std::pair<uint64_t, char>, int64_t> container_counters_;
  std::map<std::pair<uint32_t, uint32_t>, int64_t> kek_counters_;
  std::map<std::pair<std::string, std::string>, int64_t> owner_counters_;
  std::map<uint64_t, std::map<uint64_t, RecordInfo>> records_;
  std::map<uint64_t, std::string> container_header_group_;
  std::map<uint64_t, uint64_t> file_sizes_;
  std::map<uint32_t, std::pair<std::string, std::string>> fpk_blobs_;  // (root key id, blob)
  std::map<std::pair<uint32_t, uint32_t>, std::pair<std::string, std::string>> kek_blobs_;
  // image id -> recipe, content and identity digest, and the identity digest's input.
  std::map<uint64_t, std::tuple<std::string, std::string, std::string, std::string>>
      image_digests_;
  std::map<uint64_t, std::string> files_;  // container bytes, kept for the keyed checks
};

}  // namespace

DecodeResult DecodePool(const std::string& pool_dir, const DumpOptions& options) {
  return Decoder(pool_dir, options).Run();
}

}  // namespace sealpool::formatdoc
