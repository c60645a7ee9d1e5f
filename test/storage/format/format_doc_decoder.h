// An independent reader of a closed pool directory, written from docs/format.md (with
// docs/chunking.md and docs/crypto.md) alone: it includes no storage/ header, and every
// constant it uses (magics, versions, sizes, family names, key prefixes, record layouts) is
// stated in format_doc_decoder.cc next to the section of docs/format.md it is copied from.
// It links RocksDB directly (the catalog, opened read-only, with its own implementation of the
// documented merge operator `sealpool.add_int64.v1`) and xxHash (the container checksums).
//
// DecodePool produces a canonical text dump of everything it decoded (every family, key and
// value; container file headers and record headers; every check it made) and the problems it
// found. A change to the bytes the code writes makes the dump of a fresh pool differ from the
// golden one (test/data/golden-pool.dump), so the doc, this decoder, the golden pool and its
// dump change in the same commit (docs/testing.md, "The format golden pool").
//
// It never trusts a length it read: a truncated or corrupted pool gives problems, never a
// crash or an unbounded allocation.
#ifndef SEALPOOL_TEST_STORAGE_FORMAT_FORMAT_DOC_DECODER_H_
#define SEALPOOL_TEST_STORAGE_FORMAT_FORMAT_DOC_DECODER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sealpool::formatdoc {

struct DumpOptions {
  // Optional: the key service. Given (key group number, key group name, KMS key id "fpk" or
  // "kek-<n>", root key id, wrapped blob) it returns the 32-byte secret, or nullopt. With it
  // the decoder also checks what needs keys, from docs/format.md and docs/crypto.md alone:
  // every segment's DEK unwraps (RFC 5649) under its KEK, its record opens (AES-256-GCM with
  // the documented associated data), decompresses to plaintext_length and has the recorded
  // HMAC-SHA-256 fingerprint; every image's recipe and content digests (HKDF-SHA-256 keys)
  // match. The checks' counts go to the dump's "keyed checks" section.
  std::function<std::optional<std::string>(uint32_t group_no, const std::string& group_name,
                                           const std::string& key_id,
                                           const std::string& root_key_id,
                                           const std::string& blob)>
      unwrap;
  // Replace the values that differ between two runs of the same deterministic generator
  // (random ids, keys, nonces, tags, checksums over them, fingerprints, digests, wall-clock
  // times) by "*", and sort the lines of each section (their order follows random
  // fingerprints). Two pools written by the same program then dump the same.
  bool masked = false;
};

struct ImageFigure {
  std::string lsu, owner, name;
  uint64_t image_id = 0;
  uint64_t size = 0;
  uint64_t extent_count = 0;
  uint32_t group_no = 0;
};

// Figures counted from the bytes (not from the counters), for comparison with the Pool API.
struct Figures {
  std::map<std::string, int64_t> pool_counters;  // "P" + name → value
  uint64_t segments = 0;                         // segment records
  uint64_t stored_bytes = 0;                     // sum of their record lengths
  uint64_t logical_bytes = 0;                    // sum of image sizes
  uint64_t delete_jobs = 0;                      // delete_queue entries
  uint64_t containers = 0;                       // container records
  uint64_t container_file_bytes = 0;             // sum of container file sizes
  uint64_t live_record_bytes = 0;                // bytes of records segment records point at
  uint64_t container_records_scanned = 0;        // record headers found in container files
  uint64_t segments_opened = 0;                  // keyed checks passed (DumpOptions::unwrap)
  uint64_t image_digests_checked = 0;            // images whose two digests matched
  std::vector<ImageFigure> images;               // committed images, by image id
};

struct DecodeResult {
  std::string dump;
  std::vector<std::string> problems;  // empty: every check passed
  Figures figures;
  bool ok() const { return problems.empty(); }
};

// Decodes the closed pool in `pool_dir`. Never throws or aborts on bad input.
DecodeResult DecodePool(const std::string& pool_dir, const DumpOptions& options = {});

}  // namespace sealpool::formatdoc

#endif  // SEALPOOL_TEST_STORAGE_FORMAT_FORMAT_DOC_DECODER_H_
