// Compressing and sealing one segment, and the reverse: the step of the data path between the
// chunker/fingerprint and the container store (DESIGN.md "Data path", step 5).
//
//   SEALPOOL_ASSIGN_OR_RETURN(EncodedSegment e,
//                             EncodeSegment(key_group_id, segment_id, fingerprint, plaintext));
//   SEALPOOL_ASSIGN_OR_RETURN(StoredLocation where,
//                             containers->Append(key_group_id, e.AsSealedSegment()));
//   ...wrap e.dek under the key group's active KEK, store it with the segment record...
//
//   SEALPOOL_RETURN_IF_ERROR(DecodeSegment(dek, key_group_id, header, stored, &plaintext));
//
// Encoding: zstd at options.zstd_level (stored raw when the frame would not be shorter than the
// segment, or when options.compress is off), then AES-256-GCM under a fresh random 256-bit DEK
// and a fresh random 96-bit nonce: one encryption per DEK. The associated data binds the
// ciphertext to its place in the pool (docs/format.md "Segment sealing: associated data
// (version 1)"): AAD version, key group id, segment id, fingerprint, compression, plaintext
// length and stored length, as a fixed 67-byte little-endian string (EncodeSegmentAad).
//
// Decoding authenticates before anything is decompressed or returned: a segment moved to another
// id or key group, a changed header field, a flipped stored byte, a wrong DEK all fail the tag.
//
// Errors:
//   EncodeSegment  InvalidArgument: empty plaintext or more than kMaxPlaintextLength bytes.
//                  Internal: zstd or OpenSSL failed. ResourceExhausted: no secret memory for the DEK.
//   DecodeSegment  DataLoss naming the segment id for every mismatch: a header inconsistent with
//                  `stored` or outside the format's limits, a tag that does not authenticate
//                  (wrong DEK, wrong key group, tampered bytes, nonce, tag or header field), a
//                  zstd frame that does not decode or decodes to another length than
//                  plaintext_length. InvalidArgument: a moved-from DEK. On every error
//                  `*plaintext_out` is wiped and cleared.
//
// Secrets: plaintext segments are secret. The codec's own temporary buffers (the compressed
// plaintext before encryption, the decrypted frame before decompression) are wiped
// (OPENSSL_cleanse via crypto::Wipe) after every call. Limit: the per-thread zstd contexts keep
// internal work buffers (hash tables, literal buffers) that may hold fragments of the thread's
// most recent segment until the next call overwrites them or the thread exits; zstd's public API
// offers no way to wipe them.
//
// Thread safety: both functions may run on any number of threads at once. Each thread reuses its
// own zstd compression and decompression contexts (thread_local), created on first use.
#ifndef SEALPOOL_STORAGE_STORE_SEGMENT_CODEC_H_
#define SEALPOOL_STORAGE_STORE_SEGMENT_CODEC_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/keys.h"
#include "crypto/types.h"
#include "storage/store/container_format.h"
#include "storage/store/container_writer.h"
#include "storage/store/format_magic.h"

namespace sealpool::storage {

// The associated-data version this binary writes (and the only one it reads).
inline constexpr uint16_t kSegmentAadVersion = magic::kSegmentAadNewest;
// Length of the version-1 associated-data string.
inline constexpr size_t kSegmentAadSize = 67;

struct SegmentCodecOptions {
  // Level 1: on the two-generation tar corpus it stores 3% more than level 3 and ingests 1.2x
  // faster, restores 1.5x faster (docs/perf.md "Compression level"). Any level reads back.
  int zstd_level = 1;
  bool compress = true;
};

// What is sealed for one new segment: the container record fields plus the fresh DEK.
struct EncodedSegment {
  Compression compression = Compression::kRaw;
  uint32_t plaintext_length = 0;
  GcmNonce nonce{};
  GcmTag tag{};
  std::vector<uint8_t> stored;  // ciphertext as stored
  crypto::Dek dek;              // fresh random 256-bit DEK, used for this one encryption only
  // Added: the identity the segment was sealed under, so that AsSealedSegment is complete.
  crypto::SegmentId segment_id;
  crypto::Fingerprint fingerprint;

  // What ContainerStore::Append / ContainerWriter::Append take; views `stored` (keep *this alive).
  SealedSegment AsSealedSegment() const;
};

// The fields bound into a sealed segment's associated data.
struct SegmentAadFields {
  uint16_t version = kSegmentAadVersion;
  Id128 key_group_id{};
  crypto::SegmentId segment_id;
  crypto::Fingerprint fingerprint;
  Compression compression = Compression::kRaw;
  uint32_t plaintext_length = 0;
  uint32_t stored_length = 0;
};

// The associated-data string (docs/format.md): version u16, key_group_id 16 B, segment_id u64,
// fingerprint 32 B, compression u8, plaintext_length u32, stored_length u32, little-endian, no
// padding. Pinned by a golden-bytes test.
std::array<uint8_t, kSegmentAadSize> EncodeSegmentAad(const SegmentAadFields& fields);

// zstd-compress `plaintext` (stored raw when it does not shrink), generate a fresh DEK, AES-256-GCM
// seal with the associated data above. InvalidArgument for empty or > kMaxPlaintextLength input.
[[nodiscard]] absl::StatusOr<EncodedSegment> EncodeSegment(
    const Id128& key_group_id, crypto::SegmentId id, const crypto::Fingerprint& fingerprint,
    std::span<const uint8_t> plaintext, const SegmentCodecOptions& options = {});

// The reverse: authenticate (GCM tag over the same AAD rebuilt from `header`, with
// key_group_id), decrypt, decompress into `plaintext_out` (resized to header.plaintext_length).
// Any mismatch is DataLoss naming the segment id, and `plaintext_out` is wiped and cleared.
[[nodiscard]] absl::Status DecodeSegment(const crypto::Dek& dek, const Id128& key_group_id,
                                         const RecordHeader& header,
                                         std::span<const uint8_t> stored,
                                         std::vector<uint8_t>* plaintext_out);

namespace internal {
// Seals `payload` as it is, claiming fields.compression and fields.plaintext_length, under a fresh
// DEK; fields.segment_id, key_group_id and version go into the AAD, fields.stored_length is
// taken from payload.size(). No check that the payload matches its claims: EncodeSegment uses it
// after compressing, and tests use it to build records that authenticate but lie (a zstd frame
// of the wrong length, a corrupt frame, another AAD version), which only a DEK holder can make.
[[nodiscard]] absl::StatusOr<EncodedSegment> SealPayload(const SegmentAadFields& fields,
                                                         std::span<const uint8_t> payload);
}  // namespace internal

}  // namespace sealpool::storage

#endif  // SEALPOOL_STORAGE_STORE_SEGMENT_CODEC_H_
