#include "storage/store/segment_codec.h"

#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_createCCtx_advanced: a custom allocator
#include <zstd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"
#include "crypto/aead.h"
#include "crypto/secure_memory.h"

namespace sealpool::storage {

namespace {

// A thread's scratch buffer for secret intermediate bytes (compressed plaintext before
// encryption, decrypted frame before decompression). Reused across calls to spare an allocation
// on the hot path; wiped whenever a use ends, so between calls it holds only zeros. It is
// released (after the wipe) when it grew past kKeepCapacity, so that one huge segment does not
// pin memory for the thread's lifetime.
class ScopedScratch {
 public:
  explicit ScopedScratch(size_t n) : buffer_(ThreadBuffer()) {
    if (buffer_.capacity() < n) {
      // The old allocation holds only wiped bytes: let it go before the larger one is made.
      std::vector<uint8_t>().swap(buffer_);
      buffer_.reserve(n);
    }
    buffer_.resize(n);
  }
  ~ScopedScratch() {
    crypto::Wipe(buffer_);
    buffer_.clear();
    if (buffer_.capacity() > kKeepCapacity) std::vector<uint8_t>().swap(buffer_);
  }
  ScopedScratch(const ScopedScratch&) = delete;
  ScopedScratch& operator=(const ScopedScratch&) = delete;

  std::span<uint8_t> span() { return buffer_; }

 private:
  static constexpr size_t kKeepCapacity = size_t{1} << 20;

  static std::vector<uint8_t>& ThreadBuffer() {
    thread_local std::vector<uint8_t> buffer;
    return buffer;
  }

  std::vector<uint8_t>& buffer_;
};

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* ctx) const { ZSTD_freeCCtx(ctx); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* ctx) const { ZSTD_freeDCtx(ctx); }
};

// zstd's allocator for the contexts, whose windows and tables hold plaintext: every block
// carries its size in a 16-byte header (keeping malloc's alignment) so that it is wiped with
// OPENSSL_cleanse before it is freed (docs/security.md, "Key hygiene").
constexpr size_t kZstdHeader = 16;
void* WipingAlloc(void* /*opaque*/, size_t size) {
  if (size > SIZE_MAX - kZstdHeader) return nullptr;
  auto* p = static_cast<uint8_t*>(std::malloc(size + kZstdHeader));
  if (p == nullptr) return nullptr;
  std::memcpy(p, &size, sizeof size);
  return p + kZstdHeader;
}
void WipingFree(void* /*opaque*/, void* address) {
  if (address == nullptr) return;
  uint8_t* p = static_cast<uint8_t*>(address) - kZstdHeader;
  size_t size = 0;
  std::memcpy(&size, p, sizeof size);
  crypto::Wipe({static_cast<uint8_t*>(address), size});
  std::free(p);
}
constexpr ZSTD_customMem kWipingMem = {WipingAlloc, WipingFree, nullptr};

// The calling thread's zstd contexts, created on first use (null if zstd cannot allocate).
// ZSTD_compressCCtx / ZSTD_decompressDCtx start a fresh frame on every call, so a context left
// in an error state by one call does not affect the next.
ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxDeleter> ctx(ZSTD_createCCtx_advanced(kWipingMem));
  return ctx.get();
}
ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxDeleter> ctx(ZSTD_createDCtx_advanced(kWipingMem));
  return ctx.get();
}

void PutU16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
}
void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

void WipeAndClear(std::vector<uint8_t>* bytes) {
  crypto::Wipe(*bytes);
  bytes->clear();
}

}  // namespace

SealedSegment EncodedSegment::AsSealedSegment() const {
  SealedSegment s;
  s.segment_id = segment_id;
  s.fingerprint = fingerprint;
  s.compression = compression;
  s.plaintext_length = plaintext_length;
  s.nonce = nonce;
  s.tag = tag;
  s.stored = stored;
  return s;
}

std::array<uint8_t, kSegmentAadSize> EncodeSegmentAad(const SegmentAadFields& fields) {
  std::array<uint8_t, kSegmentAadSize> aad{};
  uint8_t* p = aad.data();
  PutU16(p + 0, fields.version);
  std::copy(fields.key_group_id.begin(), fields.key_group_id.end(), p + 2);
  PutU64(p + 18, fields.segment_id.value());
  std::copy(fields.fingerprint.bytes().begin(), fields.fingerprint.bytes().end(), p + 26);
  p[58] = static_cast<uint8_t>(fields.compression);
  PutU32(p + 59, fields.plaintext_length);
  PutU32(p + 63, fields.stored_length);
  return aad;
}

namespace internal {

absl::StatusOr<EncodedSegment> SealPayload(const SegmentAadFields& fields,
                                           std::span<const uint8_t> payload) {
  if (payload.size() > kMaxStoredLength) {
    return absl::InvalidArgumentError(absl::StrCat("segment ", fields.segment_id.value(),
                                                   ": stored length ", payload.size(),
                                                   " over the limit ", kMaxStoredLength));
  }
  SegmentAadFields bound = fields;
  bound.stored_length = static_cast<uint32_t>(payload.size());
  const std::array<uint8_t, kSegmentAadSize> aad = EncodeSegmentAad(bound);

  absl::StatusOr<crypto::Dek> dek = crypto::Dek::Generate();
  if (!dek.ok()) {
    return base::Annotate(dek.status(),
                          absl::StrCat("segment ", fields.segment_id.value(), ": generate DEK"));
  }
  EncodedSegment out{.compression = fields.compression,
                     .plaintext_length = fields.plaintext_length,
                     .nonce = {},
                     .tag = {},
                     .stored = std::vector<uint8_t>(payload.size()),
                     .dek = *std::move(dek),
                     .segment_id = fields.segment_id,
                     .fingerprint = fields.fingerprint};
  if (absl::Status status = crypto::Seal(out.dek, aad, payload, out.stored, &out.nonce, &out.tag);
      !status.ok()) {
    crypto::Wipe(out.stored);  // after an Internal error it may hold partly encrypted bytes
    return base::Annotate(status, absl::StrCat("segment ", fields.segment_id.value(), ": seal"));
  }
  return out;
}

}  // namespace internal

absl::StatusOr<EncodedSegment> EncodeSegment(const Id128& key_group_id, crypto::SegmentId id,
                                             const crypto::Fingerprint& fingerprint,
                                             std::span<const uint8_t> plaintext,
                                             const SegmentCodecOptions& options) {
  if (plaintext.empty() || plaintext.size() > kMaxPlaintextLength) {
    return absl::InvalidArgumentError(absl::StrCat("segment ", id.value(), ": plaintext length ",
                                                   plaintext.size(), " outside 1..",
                                                   kMaxPlaintextLength));
  }
  SegmentAadFields fields;
  fields.key_group_id = key_group_id;
  fields.segment_id = id;
  fields.fingerprint = fingerprint;
  fields.plaintext_length = static_cast<uint32_t>(plaintext.size());

  if (!options.compress) {
    fields.compression = Compression::kRaw;
    return internal::SealPayload(fields, plaintext);
  }
  ZSTD_CCtx* cctx = ThreadCCtx();
  if (cctx == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("segment ", id.value(), ": cannot allocate a zstd compression context"));
  }
  ScopedScratch compressed(ZSTD_compressBound(plaintext.size()));
  const size_t n = ZSTD_compressCCtx(cctx, compressed.span().data(), compressed.span().size(),
                                     plaintext.data(), plaintext.size(), options.zstd_level);
  if (ZSTD_isError(n)) {
    return absl::InternalError(
        absl::StrCat("segment ", id.value(), ": zstd compression failed: ", ZSTD_getErrorName(n)));
  }
  if (n >= plaintext.size()) {
    fields.compression = Compression::kRaw;  // does not shrink: stored raw
    return internal::SealPayload(fields, plaintext);
  }
  fields.compression = Compression::kZstd;
  return internal::SealPayload(fields, compressed.span().first(n));
}

absl::Status DecodeSegment(const crypto::Dek& dek, const Id128& key_group_id,
                           const RecordHeader& header, std::span<const uint8_t> stored,
                           std::vector<uint8_t>* plaintext_out) {
  const uint64_t id = header.segment_id.value();
  auto fail = [&](absl::StatusCode code, absl::string_view what) {
    WipeAndClear(plaintext_out);
    return absl::Status(code, absl::StrCat("segment ", id, ": ", what));
  };
  if (stored.size() != header.stored_length) {
    return fail(absl::StatusCode::kDataLoss,
                absl::StrCat(stored.size(), " stored bytes, the record header says ",
                             header.stored_length));
  }
  if (absl::Status status = header.Validate(); !status.ok()) {
    return fail(absl::StatusCode::kDataLoss,
                absl::StrCat("record header inconsistent: ", status.message()));
  }
  SegmentAadFields fields;
  fields.key_group_id = key_group_id;
  fields.segment_id = header.segment_id;
  fields.fingerprint = header.fingerprint;
  fields.compression = header.compression;
  fields.plaintext_length = header.plaintext_length;
  fields.stored_length = header.stored_length;
  const std::array<uint8_t, kSegmentAadSize> aad = EncodeSegmentAad(fields);

  // Wipe what the caller's buffer held before it may be reallocated (the old block would be
  // freed as it is).
  if (plaintext_out->capacity() < header.plaintext_length) {
    WipeAndClear(plaintext_out);
    std::vector<uint8_t>().swap(*plaintext_out);
  }
  plaintext_out->resize(header.plaintext_length);

  auto open_failed = [&](const absl::Status& status) {
    if (absl::IsDataLoss(status)) {
      return fail(absl::StatusCode::kDataLoss,
                  absl::StrCat("does not authenticate (wrong DEK or key group, or tampered "
                               "bytes, nonce, tag or header): ",
                               status.message()));
    }
    return fail(status.code(), status.message());
  };

  if (header.compression == Compression::kRaw) {
    absl::Status status =
        crypto::Open(dek, header.nonce, aad, stored, header.tag, *plaintext_out);
    if (!status.ok()) return open_failed(status);
    return absl::OkStatus();
  }

  // zstd: authenticate and decrypt the frame into scratch, then decompress into the output.
  ZSTD_DCtx* dctx = ThreadDCtx();
  if (dctx == nullptr) {
    return fail(absl::StatusCode::kResourceExhausted,
                "cannot allocate a zstd decompression context");
  }
  ScopedScratch frame(stored.size());
  if (absl::Status status = crypto::Open(dek, header.nonce, aad, stored, header.tag, frame.span());
      !status.ok()) {
    return open_failed(status);
  }
  const size_t n = ZSTD_decompressDCtx(dctx, plaintext_out->data(), plaintext_out->size(),
                                       frame.span().data(), frame.span().size());
  if (ZSTD_isError(n)) {
    return fail(absl::StatusCode::kDataLoss,
                absl::StrCat("authenticated zstd frame does not decompress to ",
                             header.plaintext_length, " bytes: ", ZSTD_getErrorName(n)));
  }
  if (n != header.plaintext_length) {
    return fail(absl::StatusCode::kDataLoss,
                absl::StrCat("decompressed length ", n, " != plaintext length ",
                             header.plaintext_length));
  }
  return absl::OkStatus();
}

}  // namespace sealpool::storage
